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
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/resourceversion"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	workclientset "open-cluster-management.io/api/client/work/clientset/versioned"
	workv1client "open-cluster-management.io/api/client/work/clientset/versioned/typed/work/v1"
	workinformers "open-cluster-management.io/api/client/work/informers/externalversions"
	workv1 "open-cluster-management.io/api/work/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/ocm-gitops/ocm-gitops/pkg/apis/scheme"
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
	// FieldManager is the field manager for writes that do not name one
	// (default "work-agent", as OCM).
	FieldManager string
	// Logger receives the agent's logs.
	Logger logr.Logger
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
// agents can run in one process.
type Agent struct {
	opts    Options
	log     logr.Logger
	hubHash string

	hubHTTP, managedHTTP *http.Client
	works                workv1client.ManifestWorkInterface
	hubKube              kubernetes.Interface
	amws                 workv1client.AppliedManifestWorkInterface
	dyn                  dynamic.Interface
	crClient             client.Client
	mapper               meta.RESTMapper

	workInformer cache.SharedIndexInformer
	amwInformer  cache.SharedIndexInformer
	hubFactory   workinformers.SharedInformerFactory
	amwFactory   workinformers.SharedInformerFactory
	tracker      *tracker
	queue        workqueue.TypedRateLimitingInterface[string]
	applySem     chan struct{}

	mu sync.Mutex
	// states holds per-work memory of what was applied.
	states map[string]*workState
	// refs maps an applied object to the works that apply it.
	refs map[objKey]map[string]struct{}
	// written is the resource version the agent last wrote or accepted per
	// object, so watch events of its own writes are not mistaken for drift.
	written map[objKey]string
	// inflight holds objects being written, with the newest resource version
	// a watch event showed meanwhile: events racing the write's response are
	// judged once the response is in.
	inflight map[objKey]string

	execMu      sync.Mutex
	execClients map[string]execClient
}

type execClient struct {
	dyn  dynamic.Interface
	http *http.Client
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
		opts:        opts,
		log:         opts.Logger.WithValues("cluster", opts.ClusterName),
		hubHash:     HubHash(opts.Hub.Host),
		states:      map[string]*workState{},
		refs:        map[objKey]map[string]struct{}{},
		written:     map[objKey]string{},
		inflight:    map[objKey]string{},
		execClients: map[string]execClient{},
		applySem:    make(chan struct{}, opts.ApplyConcurrency),
	}
	var err error
	if a.hubHTTP, err = rest.HTTPClientFor(hubCfg); err != nil {
		return nil, fmt.Errorf("hub client: %w", err)
	}
	if a.managedHTTP, err = rest.HTTPClientFor(managedCfg); err != nil {
		return nil, fmt.Errorf("managed cluster client: %w", err)
	}
	hubWork, err := workclientset.NewForConfigAndClient(hubCfg, a.hubHTTP)
	if err != nil {
		return nil, fmt.Errorf("hub client: %w", err)
	}
	a.works = hubWork.WorkV1().ManifestWorks(opts.ClusterName)
	if a.hubKube, err = kubernetes.NewForConfigAndClient(hubCfg, a.hubHTTP); err != nil {
		return nil, fmt.Errorf("hub client: %w", err)
	}
	managedWork, err := workclientset.NewForConfigAndClient(managedCfg, a.managedHTTP)
	if err != nil {
		return nil, fmt.Errorf("managed cluster client: %w", err)
	}
	a.amws = managedWork.WorkV1().AppliedManifestWorks()
	if a.dyn, err = dynamic.NewForConfigAndClient(managedCfg, a.managedHTTP); err != nil {
		return nil, fmt.Errorf("managed cluster client: %w", err)
	}
	if a.mapper, err = apiutil.NewDynamicRESTMapper(managedCfg, a.managedHTTP); err != nil {
		return nil, fmt.Errorf("managed cluster API discovery: %w", err)
	}
	if a.crClient, err = client.New(managedCfg, client.Options{Scheme: scheme.New(), Mapper: a.mapper, HTTPClient: a.managedHTTP}); err != nil {
		return nil, fmt.Errorf("managed cluster client: %w", err)
	}

	stripManagedFields := func(obj any) (any, error) {
		if m, ok := obj.(metav1.Object); ok {
			m.SetManagedFields(nil)
		}
		return obj, nil
	}
	a.hubFactory = workinformers.NewSharedInformerFactoryWithOptions(hubWork, 0, workinformers.WithNamespace(opts.ClusterName),
		workinformers.WithTransform(stripManagedFields))
	a.workInformer = a.hubFactory.Work().V1().ManifestWorks().Informer()
	a.amwFactory = workinformers.NewSharedInformerFactoryWithOptions(managedWork, 0, workinformers.WithTransform(stripManagedFields))
	a.amwInformer = a.amwFactory.Work().V1().AppliedManifestWorks().Informer()

	a.queue = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](100*time.Millisecond, 30*time.Second),
		workqueue.TypedRateLimitingQueueConfig[string]{})

	if _, err := a.workInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { a.enqueueWork(obj) },
		UpdateFunc: a.onWorkUpdate,
		DeleteFunc: func(obj any) { a.enqueueWork(obj) },
	}); err != nil {
		return nil, err
	}
	return a, nil
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
		if a.tracker != nil {
			a.tracker.wait()
		}
		a.hubHTTP.CloseIdleConnections()
		a.managedHTTP.CloseIdleConnections()
		a.execMu.Lock()
		for _, c := range a.execClients {
			c.http.CloseIdleConnections()
		}
		a.execMu.Unlock()
	}()
	a.tracker = newTracker(ctx, a.dyn, a.log, a.onObjectEvent)

	a.amwFactory.Start(ctx.Done())
	a.hubFactory.Start(ctx.Done())
	a.log.Info("work agent starting", "hubHash", a.hubHash[:12])
	// The managed cluster must be readable to know what was applied; the hub
	// may be down, in which case nothing changes on the cluster until it is back.
	if !cache.WaitForCacheSync(ctx.Done(), a.amwInformer.HasSynced) {
		return nil
	}
	if !cache.WaitForCacheSync(ctx.Done(), a.workInformer.HasSynced) {
		return nil
	}
	for i := 0; i < a.opts.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for a.processNext(ctx) {
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.evictionLoop(ctx)
	}()
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
		!hasString(n.Finalizers, workv1.ManifestWorkFinalizer),
		o.Annotations[annotationDriftPolicy] != n.Annotations[annotationDriftPolicy],
		!mapsEqual(o.Labels, n.Labels):
		a.queue.Add(n.Name)
	}
}

// onObjectEvent routes a watch event of an applied object to its works,
// skipping events of the agent's own writes.
func (a *Agent) onObjectEvent(key objKey, obj *unstructured.Unstructured, deleted bool) {
	a.mu.Lock()
	if seen, ok := a.inflight[key]; ok && !deleted {
		if seen == "" || newerRV(obj.GetResourceVersion(), seen) {
			a.inflight[key] = obj.GetResourceVersion()
		}
		a.mu.Unlock()
		return
	}
	works := a.refs[key]
	rv := a.written[key]
	names := make([]string, 0, len(works))
	for w := range works {
		names = append(names, w)
	}
	a.mu.Unlock()
	if len(names) == 0 {
		return
	}
	if !deleted && rv != "" {
		if c, err := resourceversion.CompareResourceVersion(obj.GetResourceVersion(), rv); err == nil && c <= 0 {
			return
		}
	}
	for _, w := range names {
		a.queue.Add(w)
	}
}

// beginWrite marks an object as being written by the agent.
func (a *Agent) beginWrite(key objKey) {
	a.mu.Lock()
	a.inflight[key] = ""
	a.mu.Unlock()
}

// endWrite records the write's resource version ("" when it failed) and
// looks again at the object if a newer change came in meanwhile.
func (a *Agent) endWrite(key objKey, rv string) {
	a.mu.Lock()
	seen := a.inflight[key]
	delete(a.inflight, key)
	var names []string
	if seen != "" && (rv == "" || newerRV(seen, rv)) {
		for w := range a.refs[key] {
			names = append(names, w)
		}
	}
	a.mu.Unlock()
	a.setWritten(key, rv)
	for _, w := range names {
		a.queue.Add(w)
	}
}

// setWritten records the resource version the agent wrote or accepted.
func (a *Agent) setWritten(key objKey, rv string) {
	if rv == "" {
		return
	}
	a.mu.Lock()
	if cur, ok := a.written[key]; !ok || newerRV(rv, cur) {
		a.written[key] = rv
	}
	a.mu.Unlock()
}

// newerRV reports whether a is a later resource version than b.
func newerRV(a, b string) bool {
	c, err := resourceversion.CompareResourceVersion(a, b)
	return err != nil || c > 0
}

// setRefs points the work's manifests at their objects, for event routing.
func (a *Agent) setRefs(work string, keys []objKey) {
	a.mu.Lock()
	defer a.mu.Unlock()
	want := make(map[objKey]bool, len(keys))
	for _, k := range keys {
		want[k] = true
		set := a.refs[k]
		if set == nil {
			set = map[string]struct{}{}
			a.refs[k] = set
		}
		set[work] = struct{}{}
	}
	if st := a.states[work]; st != nil {
		for k := range st.keys {
			if !want[k] {
				a.dropRefLocked(work, k)
			}
		}
		st.keys = want
	}
}

func (a *Agent) dropRefLocked(work string, k objKey) {
	if set := a.refs[k]; set != nil {
		delete(set, work)
		if len(set) == 0 {
			delete(a.refs, k)
			delete(a.written, k)
		}
	}
}

// state returns the memory of a work, creating it.
func (a *Agent) state(work string) *workState {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.states[work]
	if st == nil {
		st = &workState{objects: map[objKey]*objState{}, keys: map[objKey]bool{}}
		a.states[work] = st
	}
	return st
}

// forget drops the memory of a work that is gone.
func (a *Agent) forget(work string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if st := a.states[work]; st != nil {
		for k := range st.keys {
			a.dropRefLocked(work, k)
		}
	}
	delete(a.states, work)
}

// dynFor returns the client that applies a work: the agent's own, or one
// impersonating the work's executor so the cluster's RBAC bounds what it may do.
func (a *Agent) dynFor(exec *workv1.ManifestWorkExecutor) (dynamic.Interface, error) {
	if exec == nil {
		return a.dyn, nil
	}
	if exec.Subject.Type != workv1.ExecutorSubjectTypeServiceAccount || exec.Subject.ServiceAccount == nil {
		return nil, fmt.Errorf("executor subject type %q is not supported; use ServiceAccount with a namespace and name", exec.Subject.Type)
	}
	sa := exec.Subject.ServiceAccount
	user := "system:serviceaccount:" + sa.Namespace + ":" + sa.Name
	a.execMu.Lock()
	defer a.execMu.Unlock()
	if c, ok := a.execClients[user]; ok {
		return c.dyn, nil
	}
	cfg := ManagedConfigDefaults(a.opts.Managed)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("client for executor %s: %w", user, err)
	}
	dyn, err := dynamic.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, fmt.Errorf("client for executor %s: %w", user, err)
	}
	a.execClients[user] = execClient{dyn: dyn, http: hc}
	return dyn, nil
}

func hasString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}
