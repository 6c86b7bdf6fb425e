// Package work is the klusterlet's work agent: it pulls the ManifestWorks in
// its cluster's namespace on the hub, applies them to the managed cluster with
// OCM's update strategies and delete options, records what it applied in
// AppliedManifestWorks, watches the applied objects to notice drift within
// seconds, corrects or reports it, and writes the status back to the hub.
package work

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	workclientset "open-cluster-management.io/api/client/work/clientset/versioned"
	workinformers "open-cluster-management.io/api/client/work/informers/externalversions"
	workv1 "open-cluster-management.io/api/work/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/ocm-gitops/ocm-gitops/pkg/apis/scheme"
	"github.com/ocm-gitops/ocm-gitops/pkg/health"
	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet/work/apply"
	"github.com/ocm-gitops/ocm-gitops/pkg/secrets"
)

// Options configure a work agent.
type Options struct {
	// ClusterName is the managed cluster's name and its namespace on the hub.
	ClusterName string
	// AgentID identifies this agent in AppliedManifestWorks (default: ClusterName).
	AgentID string
	// Hub is a client configuration for the hub; it needs access to the
	// ManifestWorks (and their status) and Events of the cluster namespace only.
	Hub *rest.Config
	// Managed is a client configuration for the managed cluster.
	Managed *rest.Config
	// Workers is how many ManifestWorks sync at once (default 8).
	Workers int
	// ApplyConcurrency bounds the writes in flight to the managed cluster
	// across all works (default 32).
	ApplyConcurrency int
	// ResyncInterval is how often every work is re-checked even without
	// events: drift of objects the agent cannot watch, status feedback of
	// read-only objects (default 1m).
	ResyncInterval time.Duration
	// EvictionGracePeriod is how long the objects of an AppliedManifestWork
	// whose ManifestWork vanished from the hub are kept before removal
	// (default 1h, as OCM).
	EvictionGracePeriod time.Duration
	// HandOffWindow is how long the removal of an object that no other work
	// applies is held, so that a work taking it over meanwhile (a relabel
	// hands apps between works in any order) finds it in place (default
	// DefaultHandOffWindow; negative: no hold).
	HandOffWindow time.Duration
	// FieldManager is the field manager for writes that do not name one
	// (default "work-agent", as OCM).
	FieldManager string
	// Refuse, when set, is asked about every manifest before it is applied
	// or read, with the work's executor; an error refuses the manifest
	// (the managed cluster's own bound on the fleet, see pkg/klusterlet/confine).
	Refuse func(obj workv1.ManifestResourceMeta, exec *workv1.ManifestWorkExecutor) error
	// Open turns a manifest into the object to apply just before it is
	// applied: it decrypts SOPS-encrypted ones (see pkg/secrets). Default:
	// plain objects pass, encrypted ones fail for want of a key.
	Open func(obj *unstructured.Unstructured) (*unstructured.Unstructured, error)
	// Logger receives the agent's logs.
	Logger logr.Logger

	// noHealth leaves health out: no verdicts judged, no health conditions
	// written. Only the apply benchmark sets it (export_test.go), to
	// measure what health costs in the same run.
	noHealth bool
}

func (o *Options) defaults() error {
	if o.ClusterName == "" {
		return errors.New("work agent: the cluster name is required (--cluster-name)")
	}
	if o.Hub == nil || o.Managed == nil {
		return errors.New("work agent: both a hub and a managed cluster client configuration are required")
	}
	if o.AgentID == "" {
		o.AgentID = o.ClusterName
	}
	if o.Workers <= 0 {
		o.Workers = 8
	}
	if o.ApplyConcurrency <= 0 {
		o.ApplyConcurrency = 32
	}
	if o.ResyncInterval <= 0 {
		o.ResyncInterval = time.Minute
	}
	if o.EvictionGracePeriod <= 0 {
		o.EvictionGracePeriod = time.Hour
	}
	if o.HandOffWindow == 0 {
		o.HandOffWindow = DefaultHandOffWindow
	}
	if o.Open == nil {
		o.Open = secrets.NewOpener(nil).Open
	}
	if o.FieldManager == "" {
		o.FieldManager = workv1.DefaultFieldManager
	}
	return nil
}

// HubConfigDefaults and ManagedConfigDefaults fill a client configuration's
// unset rate limits: the hub is shared by the fleet, so its client is
// bounded; the managed cluster is the agent's own, and the agent bounds its
// writes by concurrency instead.
func HubConfigDefaults(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = 100, 200
	}
	return cfg
}

// ManagedConfigDefaults: see HubConfigDefaults.
func ManagedConfigDefaults(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = -1, -1
	}
	return cfg
}

// HubHash identifies a hub by its API server URL, as OCM computes it; it
// prefixes AppliedManifestWork names.
func HubHash(hubHost string) string {
	return fmt.Sprintf("%x", sha256.Sum256([]byte(hubHost)))
}

// Agent is a running work agent. Its state lives in the value, so many
// agents can run in one process. Its work is done by small reconcilers: apply
// (applyReconciler), status (statusWriter), applied resources (appliedWorks),
// finalize (finalizer) and eviction (evictor).
type Agent struct {
	opts    Options
	log     logr.Logger
	hubHash string

	hubHTTP, managedHTTP *http.Client
	mapper               meta.RESTMapper

	workInformer cache.SharedIndexInformer
	// worksHandled tells when every work listed at start reached the
	// handlers (and so is marked for routing).
	worksHandled cache.ResourceEventHandlerRegistration
	hubFactory   workinformers.SharedInformerFactory
	amwFactory   workinformers.SharedInformerFactory
	tracker      *tracker
	queue        workqueue.TypedRateLimitingInterface[string]

	states    *states
	routes    *routes
	unrouted  *unrouted
	writes    *ownWrites
	executors *executors

	applier   *applyReconciler
	health    *health.Monitor
	status    *statusWriter
	applied   *appliedWorks
	hubWorks  *hubWorks
	finalizer *finalizer
	evictor   *evictor
}

// New checks the options and builds the clients; Run starts the agent.
func New(opts Options) (*Agent, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	hubCfg := HubConfigDefaults(opts.Hub)
	managedCfg := ManagedConfigDefaults(opts.Managed)
	hubCfg.UserAgent = "ocm-gitops-work-agent/" + opts.ClusterName
	managedCfg.UserAgent = hubCfg.UserAgent

	a := &Agent{
		opts:     opts,
		log:      opts.Logger.WithValues("cluster", opts.ClusterName),
		hubHash:  HubHash(opts.Hub.Host),
		states:   newStates(),
		routes:   newRoutes(),
		unrouted: &unrouted{names: map[string]bool{}},
		writes:   newOwnWrites(),
	}
	c, err := a.clients(hubCfg, managedCfg)
	if err != nil {
		return nil, err
	}
	a.wire(c, managedCfg)
	// Health: verdicts from the applied objects' watches, explained from a
	// pods watch that brings a work back when its workloads' pods change.
	if a.health, err = health.NewMonitor(c.managedKube, a.log, a.queue.Add); err != nil {
		return nil, err
	}
	a.applier.health = a.health
	a.applier.noHealth, a.status.noHealth = opts.noHealth, opts.noHealth
	if a.worksHandled, err = a.workInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    a.enqueueWork,
		UpdateFunc: a.onWorkUpdate,
		DeleteFunc: a.enqueueWork,
	}); err != nil {
		return nil, err
	}
	return a, nil
}

// agentClients are the clients an agent talks through.
type agentClients struct {
	hubWork, managedWork *workclientset.Clientset
	hubKube, managedKube kubernetes.Interface
	dyn                  dynamic.Interface
	diff                 client.Client
}

func (a *Agent) clients(hubCfg, managedCfg *rest.Config) (*agentClients, error) {
	var (
		c   agentClients
		err error
	)
	if a.hubHTTP, err = rest.HTTPClientFor(hubCfg); err != nil {
		return nil, fmt.Errorf("hub client: %w", err)
	}
	if a.managedHTTP, err = rest.HTTPClientFor(managedCfg); err != nil {
		return nil, fmt.Errorf("managed cluster client: %w", err)
	}
	if c.hubWork, err = workclientset.NewForConfigAndClient(hubCfg, a.hubHTTP); err != nil {
		return nil, fmt.Errorf("hub client: %w", err)
	}
	if c.hubKube, err = kubernetes.NewForConfigAndClient(hubCfg, a.hubHTTP); err != nil {
		return nil, fmt.Errorf("hub client: %w", err)
	}
	if a.status, err = newStatusWriter(hubCfg, a.hubHTTP); err != nil {
		return nil, err
	}
	if c.managedWork, err = workclientset.NewForConfigAndClient(managedCfg, a.managedHTTP); err != nil {
		return nil, fmt.Errorf("managed cluster client: %w", err)
	}
	if c.managedKube, err = kubernetes.NewForConfigAndClient(managedCfg, a.managedHTTP); err != nil {
		return nil, fmt.Errorf("managed cluster client: %w", err)
	}
	if c.dyn, err = dynamic.NewForConfigAndClient(managedCfg, a.managedHTTP); err != nil {
		return nil, fmt.Errorf("managed cluster client: %w", err)
	}
	if a.mapper, err = apiutil.NewDynamicRESTMapper(managedCfg, a.managedHTTP); err != nil {
		return nil, fmt.Errorf("managed cluster API discovery: %w", err)
	}
	if c.diff, err = client.New(managedCfg, client.Options{Scheme: scheme.New(), Mapper: a.mapper, HTTPClient: a.managedHTTP}); err != nil {
		return nil, fmt.Errorf("managed cluster client: %w", err)
	}
	return &c, nil
}

// wire builds the informers and the reconcilers.
func (a *Agent) wire(c *agentClients, managedCfg *rest.Config) {
	stripManagedFields := func(obj any) (any, error) {
		if m, ok := obj.(metav1.Object); ok {
			m.SetManagedFields(nil)
		}
		return obj, nil
	}
	a.hubFactory = workinformers.NewSharedInformerFactoryWithOptions(c.hubWork, 0, workinformers.WithNamespace(a.opts.ClusterName),
		workinformers.WithTransform(stripManagedFields))
	a.workInformer = a.hubFactory.Work().V1().ManifestWorks().Informer()
	a.amwFactory = workinformers.NewSharedInformerFactoryWithOptions(c.managedWork, 0, workinformers.WithTransform(stripManagedFields))
	a.queue = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](100*time.Millisecond, 30*time.Second),
		workqueue.TypedRateLimitingQueueConfig[string]{})

	a.tracker = newTracker(c.dyn, a.log, a.onObjectEvent)
	a.executors = &executors{own: c.dyn, managed: managedCfg, clients: map[string]execClient{}}
	a.hubWorks = &hubWorks{client: c.hubWork.WorkV1().ManifestWorks(a.opts.ClusterName)}
	a.applied = &appliedWorks{
		client:   c.managedWork.WorkV1().AppliedManifestWorks(),
		informer: a.amwFactory.Work().V1().AppliedManifestWorks().Informer(),
		hubHash:  a.hubHash, agentID: a.opts.AgentID,
		remover: &remover{dyn: c.dyn, fieldManager: a.opts.FieldManager, log: a.log, handOff: newHandOff(a.opts.HandOffWindow)},
		claims:  &claims{works: a.workInformer, mapper: a.mapper},
	}
	a.applier = &applyReconciler{
		log:            a.log,
		appliers:       apply.New(apply.Config{Read: c.dyn, Diff: c.diff, FieldManager: a.opts.FieldManager}),
		executors:      a.executors,
		objects:        &objectReader{tracker: a.tracker, dyn: c.dyn},
		writes:         a.writes,
		routes:         a.routes,
		locks:          newKeyLocks(),
		events:         &eventRecorder{hub: c.hubKube, cluster: a.opts.ClusterName, log: a.log},
		mapper:         a.mapper,
		requeue:        a.requeueObject,
		requeueSharing: a.requeueSharing,
		lookup:         a.lookupWork,
		sem:            make(chan struct{}, a.opts.ApplyConcurrency),
		refuse:         a.opts.Refuse,
		open:           a.opts.Open,
	}
	a.finalizer = &finalizer{hub: a.hubWorks, applied: a.applied, events: a.applier.events, forget: a.forget, log: a.log}
	a.evictor = &evictor{applied: a.applied, works: a.workInformer, cluster: a.opts.ClusterName,
		gracePeriod: a.opts.EvictionGracePeriod, log: a.log}
}

// Run applies works until ctx ends, then stops every goroutine it started.
func (a *Agent) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		a.queue.ShutDown()
		wg.Wait()
		a.hubFactory.Shutdown()
		a.amwFactory.Shutdown()
		a.tracker.wait()
		a.health.Wait()
		a.hubHTTP.CloseIdleConnections()
		a.managedHTTP.CloseIdleConnections()
		a.executors.close()
	}()
	a.tracker.start(ctx)
	a.health.Start(ctx)
	a.amwFactory.Start(ctx.Done())
	a.hubFactory.Start(ctx.Done())
	a.log.Info("work agent starting", "hubHash", a.hubHash[:12])
	// The managed cluster must be readable to know what was applied; the hub
	// may be down, in which case nothing changes on the cluster until it is
	// back. Every work on the hub is known (and routed) before any applies.
	if !cache.WaitForCacheSync(ctx.Done(), a.applied.informer.HasSynced, a.workInformer.HasSynced, a.worksHandled.HasSynced) {
		return nil
	}
	for range a.opts.Workers {
		wg.Go(func() {
			for a.processNext(ctx) {
			}
		})
	}
	wg.Go(func() { a.evictor.run(ctx) })
	<-ctx.Done()
	a.log.Info("work agent stopping")
	return nil
}

func (a *Agent) processNext(ctx context.Context) bool {
	name, quit := a.queue.Get()
	if quit {
		return false
	}
	defer a.queue.Done(name)
	after, err := a.sync(ctx, name)
	if err != nil {
		if ctx.Err() == nil {
			a.log.Error(err, "sync ManifestWork", "work", name)
		}
		a.queue.AddRateLimited(name)
		return true
	}
	a.queue.Forget(name)
	if after > 0 {
		a.queue.AddAfter(name, after)
	}
	return true
}

// resync is the jittered delay before a work is checked again without events.
func (a *Agent) resync() time.Duration {
	d := a.opts.ResyncInterval
	return d + time.Duration(rand.Int64N(int64(d)/4+1))
}

func (a *Agent) enqueueWork(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if w, ok := obj.(*workv1.ManifestWork); ok {
		a.unrouted.add(w.Name)
		a.queue.Add(w.Name)
	}
}

// onWorkUpdate ignores the agent's own status and finalizer writes.
func (a *Agent) onWorkUpdate(oldObj, newObj any) {
	o, ok1 := oldObj.(*workv1.ManifestWork)
	n, ok2 := newObj.(*workv1.ManifestWork)
	if !ok1 || !ok2 {
		return
	}
	switch {
	case o.Generation != n.Generation,
		(o.DeletionTimestamp == nil) != (n.DeletionTimestamp == nil),
		!maps.Equal(o.Annotations, n.Annotations):
		// What the work applies, whether it goes, or whether its removal is
		// held changed: works sharing objects with it may win or lose them.
		a.unrouted.add(n.Name)
		a.requeueSharing(n.Name)
		a.queue.Add(n.Name)
	case !slices.Contains(n.Finalizers, workv1.ManifestWorkFinalizer),
		!maps.Equal(o.Labels, n.Labels):
		a.queue.Add(n.Name)
	}
}

// RequeueAll looks again at every work (the klusterlet calls it when the
// keys that decrypt manifests changed: works that failed may apply now).
func (a *Agent) RequeueAll() {
	for _, name := range a.workInformer.GetStore().ListKeys() {
		if _, n, err := cache.SplitMetaNamespaceKey(name); err == nil {
			a.queue.Add(n)
		}
	}
}

// requeueSharing looks again at the works that share objects with a work,
// and at those holding the removal of its objects for a hand-off.
func (a *Agent) requeueSharing(work string) {
	for _, w := range a.routes.sharing(work) {
		a.queue.Add(w)
	}
	for _, w := range a.applied.remover.handOff.holders(a.routes.keysOf(work), work) {
		a.queue.Add(w)
	}
}

// lookupWork returns a work from the hub's cache.
func (a *Agent) lookupWork(name string) (*workv1.ManifestWork, bool) {
	item, ok, _ := a.workInformer.GetIndexer().GetByKey(a.opts.ClusterName + "/" + name)
	if !ok {
		return nil, false
	}
	return item.(*workv1.ManifestWork), true
}

// onObjectEvent routes a watch event of an applied object to its works,
// skipping the echoes of the agent's own writes.
func (a *Agent) onObjectEvent(key objKey, obj *unstructured.Unstructured, deleted bool) {
	if a.writes.echo(key, obj.GetResourceVersion(), deleted) {
		return
	}
	a.requeueObject(key)
}

// requeueObject looks again at the works that apply an object.
func (a *Agent) requeueObject(key objKey) {
	for _, w := range a.routes.worksOf(key) {
		a.queue.Add(w)
	}
}
