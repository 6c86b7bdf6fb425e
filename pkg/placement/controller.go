package placement

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/ocm-gitops/ocm-gitops/pkg/writes"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1alpha1 "open-cluster-management.io/api/cluster/v1alpha1"
	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
)

// ControllerName is the name the hub knows this controller by.
const ControllerName = "placement"

// indexDecisionPlacement indexes PlacementDecisions by their placement label.
const indexDecisionPlacement = "placement.ocm-gitops.io/placement-label"

// Options tune the placement controller. The zero value is the default.
type Options struct {
	// MaxConcurrentReconciles is how many Placements are scheduled at once
	// (default 10).
	MaxConcurrentReconciles int
	// WriteConcurrency is how many writes of one Placement's
	// PlacementDecisions run at once (default 10).
	WriteConcurrency int
	// QPS and Burst limit the controller's own API client, which does all its
	// writes (default 2000 and 4000). A rest.Config that is already
	// unthrottled (QPS < 0) stays unthrottled.
	QPS   float32
	Burst int
	// Clock tells the time (default: the real clock).
	Clock clock.PassiveClock
	// SkipNameValidation lets several managers in one process register the
	// controller (tests).
	SkipNameValidation bool
}

// SetupWithManager registers the placement controller with default options.
func SetupWithManager(mgr ctrl.Manager) error { return Options{}.SetupWithManager(mgr) }

// SetupWithManager registers the placement controller: it schedules every
// Placement (cluster.open-cluster-management.io/v1beta1) and writes its
// PlacementDecisions and status, re-scheduling when a ManagedCluster,
// ManagedClusterSet, ManagedClusterSetBinding, AddOnPlacementScore, the
// Placement or one of its PlacementDecisions changes.
func (o Options) SetupWithManager(mgr ctrl.Manager) error {
	if o.MaxConcurrentReconciles <= 0 {
		o.MaxConcurrentReconciles = 10
	}
	if o.WriteConcurrency <= 0 {
		o.WriteConcurrency = 10
	}
	if o.QPS == 0 {
		o.QPS = 2000
	}
	if o.Burst <= 0 {
		o.Burst = 4000
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	cfg := rest.CopyConfig(mgr.GetConfig())
	if cfg.QPS >= 0 && cfg.QPS < o.QPS {
		cfg.QPS, cfg.Burst = o.QPS, max(o.Burst, cfg.Burst)
		cfg.RateLimiter = nil
	}
	writer, err := client.New(cfg, client.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper()})
	if err != nil {
		return fmt.Errorf("placement controller client: %w", err)
	}
	r := &reconciler{
		cache:    mgr.GetCache(),
		writer:   writer,
		opts:     o,
		clock:    o.Clock,
		compiled: map[types.NamespacedName]compiledEntry{},
	}
	r.sched, err = NewScheduler(r.lookupScore)
	if err != nil {
		return err
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &clusterv1beta1.PlacementDecision{}, indexDecisionPlacement,
		func(o client.Object) []string {
			if v, ok := o.GetLabels()[clusterv1beta1.PlacementLabel]; ok {
				return []string{v}
			}
			return nil
		}); err != nil {
		return fmt.Errorf("index PlacementDecisions by placement: %w", err)
	}
	copts := controller.Options{MaxConcurrentReconciles: o.MaxConcurrentReconciles}
	if o.SkipNameValidation {
		copts.SkipNameValidation = &o.SkipNameValidation
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named(ControllerName).
		For(&clusterv1beta1.Placement{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Watches(&clusterv1beta1.PlacementDecision{}, r.decisionHandler()).
		Watches(&clusterv1.ManagedCluster{}, r.clusterHandler()).
		Watches(&clusterv1beta2.ManagedClusterSet{}, r.setHandler()).
		Watches(&clusterv1beta2.ManagedClusterSetBinding{}, r.bindingHandler()).
		Watches(&clusterv1alpha1.AddOnPlacementScore{}, r.scoreHandler()).
		WithOptions(copts).
		Complete(r)
}

type reconciler struct {
	cache  client.Reader
	writer client.Client
	sched  *Scheduler
	opts   Options
	clock  clock.PassiveClock

	mu       sync.Mutex
	compiled map[types.NamespacedName]compiledEntry

	decisions  writes.Records // PlacementDecisions we wrote
	placements writes.Records // Placement statuses we wrote
	counts     decisionCounts
}

type compiledEntry struct {
	uid        types.UID
	generation int64
	c          *Compiled
	mis        *Misconfiguration
}

// compile returns the Placement's compiled spec, cached per generation.
func (r *reconciler) compile(p *clusterv1beta1.Placement) (*Compiled, *Misconfiguration) {
	key := types.NamespacedName{Namespace: p.Namespace, Name: p.Name}
	r.mu.Lock()
	e, ok := r.compiled[key]
	r.mu.Unlock()
	if ok && e.uid == p.UID && e.generation == p.Generation {
		return e.c, e.mis
	}
	c, mis := r.sched.Compile(p)
	r.mu.Lock()
	r.compiled[key] = compiledEntry{uid: p.UID, generation: p.Generation, c: c, mis: mis}
	r.mu.Unlock()
	return c, mis
}

func (r *reconciler) forget(key types.NamespacedName) {
	r.mu.Lock()
	delete(r.compiled, key)
	r.mu.Unlock()
	r.decisions.ForgetPrefix(key.Namespace + "/" + key.Name + "-decision-")
	r.placements.ForgetPrefix(key.Namespace + "/" + key.Name)
}

func (r *reconciler) lookupScore(cluster, name string) *clusterv1alpha1.AddOnPlacementScore {
	var s clusterv1alpha1.AddOnPlacementScore
	if err := r.cache.Get(context.Background(), types.NamespacedName{Namespace: cluster, Name: name}, &s, client.UnsafeDisableDeepCopy); err != nil {
		return nil
	}
	return &s
}

// Reconcile schedules one Placement and writes what changed.
func (r *reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	now := r.clock.Now()
	var p clusterv1beta1.Placement
	if err := r.cache.Get(ctx, req.NamespacedName, &p); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("get Placement %s: %w", req.NamespacedName, err)
	}
	if p.DeletionTimestamp != nil || p.Annotations[clusterv1beta1.PlacementDisableAnnotation] == "true" {
		return ctrl.Result{}, nil
	}
	current, err := r.currentDecisions(ctx, &p, now)
	if err != nil {
		return ctrl.Result{}, err
	}
	existing := map[string]bool{}
	for _, d := range current {
		for _, cd := range d.Status.Decisions {
			existing[cd.ClusterName] = true
		}
	}

	in, err := r.input(ctx, &p, existing, now)
	if err != nil {
		return ctrl.Result{}, err
	}
	latest := &p
	if n := r.placements.Newest(writes.Key(&p), &p, now); n != nil {
		latest = n.(*clusterv1beta1.Placement)
	}

	var (
		res           Result
		desired       []*clusterv1beta1.PlacementDecision
		groups        []clusterv1beta1.DecisionGroupStatus
		scoresChanged bool
	)
	c, mis := r.compile(&p)
	if mis != nil {
		// Bad input never removes clusters that were chosen: keep the
		// decisions, and only give a new Placement its empty decision.
		res = r.sched.Misconfigured(&p, mis, in)
		if len(current) == 0 {
			desired, groups = Layout(&p, []Group{{}})
		} else {
			groups, res.Selected = GroupStatus(slices.Collect(maps.Values(current)))
		}
		log.Info("placement misconfigured", "placement", req.NamespacedName, "reason", mis.Error())
	} else {
		res = r.sched.Schedule(c, in)
		desired, groups, scoresChanged = r.decide(latest, c, &res, in, current, now)
	}

	if desired != nil {
		if err := r.apply(ctx, &p, desired, current, now); err != nil {
			return ctrl.Result{}, err
		}
	}
	st := Status(latest.Status, res, groups, now)
	if scoresChanged {
		st.LastScoreUpdateTime = &metav1.Time{Time: now.Truncate(time.Second)}
	}
	if err := r.writeStatus(ctx, latest, st, now); err != nil {
		return ctrl.Result{}, err
	}
	if !res.RequeueAt.IsZero() {
		// A little late rather than early: at the instant itself the
		// toleration or score still holds.
		return ctrl.Result{RequeueAfter: max(res.RequeueAt.Sub(now), 0) + 100*time.Millisecond}, nil
	}
	return ctrl.Result{}, nil
}

// decide lays out the scheduled decisions with their scores. Scores are
// computed when the selection changes or spec.scoreRateLimit has passed
// since status.lastScoreUpdateTime; otherwise the scores already written
// stay, and a pending change of scores alone waits for the limit (a requeue).
// It reports whether the written scores change.
func (r *reconciler) decide(p *clusterv1beta1.Placement, c *Compiled, res *Result, in Input,
	current map[string]*clusterv1beta1.PlacementDecision, now time.Time) ([]*clusterv1beta1.PlacementDecision, []clusterv1beta1.DecisionGroupStatus, bool) {
	recorded := map[string]int64{}
	for _, d := range current {
		for _, cd := range d.Status.Decisions {
			recorded[cd.ClusterName] = cd.Score
		}
	}
	sameSet := maps.Equal(res.SelectedClusters(), in.Existing)
	var next time.Time
	if last := p.Status.LastScoreUpdateTime; last != nil {
		next = last.Add(c.ScoreRateLimit())
	}
	switch {
	case !sameSet || !now.Before(next):
		r.sched.Score(res, in)
	default:
		for name := range in.Existing {
			if v, ok := res.Scores[name]; ok && v != recorded[name] {
				res.RequeueAt = earliest(res.RequeueAt, next)
				break
			}
		}
		res.UseScores(recorded)
	}
	desired, groups := Layout(p, res.Groups)
	changed := false
	for _, d := range desired {
		for _, cd := range d.Status.Decisions {
			if v, ok := recorded[cd.ClusterName]; !ok || v != cd.Score {
				changed = true
			}
		}
	}
	return desired, groups, changed
}

// currentDecisions returns the Placement's PlacementDecisions by name, as
// last written (by us or anyone).
func (r *reconciler) currentDecisions(ctx context.Context, p *clusterv1beta1.Placement, now time.Time) (map[string]*clusterv1beta1.PlacementDecision, error) {
	var list clusterv1beta1.PlacementDecisionList
	if err := r.cache.List(ctx, &list, client.InNamespace(p.Namespace),
		client.MatchingFields{indexDecisionPlacement: p.Name}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("list PlacementDecisions of %s/%s: %w", p.Namespace, p.Name, err)
	}
	out := make(map[string]*clusterv1beta1.PlacementDecision, len(list.Items))
	for i := range list.Items {
		d := &list.Items[i]
		if n := r.decisions.Newest(writes.Key(d), d, now); n != nil {
			out[d.Name] = n.(*clusterv1beta1.PlacementDecision)
		}
	}
	// Ours, written but not in the cache yet.
	for _, key := range r.decisions.Keys(p.Namespace + "/" + p.Name + "-decision-") {
		name := key[len(p.Namespace)+1:]
		if _, ok := out[name]; ok {
			continue
		}
		if n := r.decisions.Newest(key, nil, now); n != nil && n.GetLabels()[clusterv1beta1.PlacementLabel] == p.Name {
			out[name] = n.(*clusterv1beta1.PlacementDecision)
		}
	}
	return out, nil
}

// input gathers the hub state from the informer caches, without copies.
func (r *reconciler) input(ctx context.Context, p *clusterv1beta1.Placement, existing map[string]bool, now time.Time) (Input, error) {
	in := Input{Existing: existing, Now: now}
	var bindings clusterv1beta2.ManagedClusterSetBindingList
	if err := r.cache.List(ctx, &bindings, client.InNamespace(p.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		return in, fmt.Errorf("list ManagedClusterSetBindings in %s: %w", p.Namespace, err)
	}
	for i := range bindings.Items {
		in.Bindings = append(in.Bindings, &bindings.Items[i])
	}
	if len(in.Bindings) == 0 {
		return in, nil
	}
	var sets clusterv1beta2.ManagedClusterSetList
	if err := r.cache.List(ctx, &sets, client.UnsafeDisableDeepCopy); err != nil {
		return in, fmt.Errorf("list ManagedClusterSets: %w", err)
	}
	for i := range sets.Items {
		in.ClusterSets = append(in.ClusterSets, &sets.Items[i])
	}
	var clusters clusterv1.ManagedClusterList
	if err := r.cache.List(ctx, &clusters, client.UnsafeDisableDeepCopy); err != nil {
		return in, fmt.Errorf("list ManagedClusters: %w", err)
	}
	in.Clusters = make([]*clusterv1.ManagedCluster, len(clusters.Items))
	for i := range clusters.Items {
		in.Clusters[i] = &clusters.Items[i]
	}
	in.OtherDecisions = func() map[string]int { return r.counts.others(p.Namespace, p.Name) }
	return in, nil
}

// apply creates, updates and deletes PlacementDecisions, in parallel, so
// that they hold desired; unchanged objects are not written.
func (r *reconciler) apply(ctx context.Context, p *clusterv1beta1.Placement, desired []*clusterv1beta1.PlacementDecision,
	current map[string]*clusterv1beta1.PlacementDecision, now time.Time) error {
	var ops []func(context.Context) error
	want := make(map[string]bool, len(desired))
	for _, d := range desired {
		want[d.Name] = true
		have := current[d.Name]
		switch {
		case have == nil:
			ops = append(ops, func(ctx context.Context) error { return r.create(ctx, d, now) })
		case !decisionsEqual(have, d):
			ops = append(ops, func(ctx context.Context) error { return r.update(ctx, have, d, now) })
		}
	}
	for name, have := range current {
		if want[name] {
			continue
		}
		ops = append(ops, func(ctx context.Context) error {
			if err := r.writer.Delete(ctx, have); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("delete PlacementDecision %s/%s: %w", have.Namespace, have.Name, err)
			}
			r.decisions.Deleted(writes.Key(have), have.ResourceVersion, now)
			return nil
		})
	}
	if len(ops) > 0 {
		ctrl.LoggerFrom(ctx).V(1).Info("writing PlacementDecisions", "placement", p.Namespace+"/"+p.Name, "writes", len(ops))
	}
	return runParallel(ctx, r.opts.WriteConcurrency, ops)
}

func (r *reconciler) create(ctx context.Context, d *clusterv1beta1.PlacementDecision, now time.Time) error {
	obj := d.DeepCopy()
	obj.Status = clusterv1beta1.PlacementDecisionStatus{}
	if err := r.writer.Create(ctx, obj); err != nil {
		if !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create PlacementDecision %s/%s: %w", d.Namespace, d.Name, err)
		}
		// The cache had not seen it yet: compare with the live object.
		live := &clusterv1beta1.PlacementDecision{}
		if err := r.writer.Get(ctx, client.ObjectKeyFromObject(d), live); err != nil {
			return fmt.Errorf("get PlacementDecision %s/%s: %w", d.Namespace, d.Name, err)
		}
		if decisionsEqual(live, d) {
			r.decisions.Wrote(live, now)
			return nil
		}
		return r.update(ctx, live, d, now)
	}
	createdRV := obj.ResourceVersion
	obj.Status = d.Status
	if err := r.writer.Status().Update(ctx, obj); err != nil {
		return fmt.Errorf("write decisions of PlacementDecision %s/%s: %w", d.Namespace, d.Name, err)
	}
	r.decisions.Wrote(obj, now, createdRV)
	return nil
}

func (r *reconciler) update(ctx context.Context, have, d *clusterv1beta1.PlacementDecision, now time.Time) error {
	obj := &clusterv1beta1.PlacementDecision{}
	obj.Namespace, obj.Name = d.Namespace, d.Name
	var rvs []string
	if !labelsEqual(have.Labels, d.Labels) {
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": d.Labels}})
		if err := r.writer.Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch)); err != nil {
			return fmt.Errorf("label PlacementDecision %s/%s: %w", d.Namespace, d.Name, err)
		}
		rvs = append(rvs, obj.ResourceVersion)
	}
	if !equality.Semantic.DeepEqual(have.Status.Decisions, d.Status.Decisions) || obj.ResourceVersion == "" {
		patch, _ := json.Marshal(map[string]any{"status": map[string]any{"decisions": d.Status.Decisions}})
		if err := r.writer.Status().Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch)); err != nil {
			return fmt.Errorf("write decisions of PlacementDecision %s/%s: %w", d.Namespace, d.Name, err)
		}
	}
	r.decisions.Wrote(obj, now, rvs...)
	return nil
}

// writeStatus patches the Placement's status (latest is the freshest known
// Placement) when it changed.
func (r *reconciler) writeStatus(ctx context.Context, latest *clusterv1beta1.Placement, st clusterv1beta1.PlacementStatus, now time.Time) error {
	if equality.Semantic.DeepEqual(st, latest.Status) {
		return nil
	}
	upd := &clusterv1beta1.Placement{}
	upd.Namespace, upd.Name = latest.Namespace, latest.Name
	patch, err := json.Marshal(map[string]any{"status": st})
	if err != nil {
		return err
	}
	if err := r.writer.Status().Patch(ctx, upd, client.RawPatch(types.MergePatchType, patch)); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("write status of Placement %s/%s: %w", latest.Namespace, latest.Name, err)
	}
	r.placements.Wrote(upd, now)
	return nil
}

// runParallel runs ops with at most n at a time and joins their errors.
func runParallel(ctx context.Context, n int, ops []func(context.Context) error) error {
	if len(ops) == 1 {
		return ops[0](ctx)
	}
	sem := make(chan struct{}, n)
	errs := make([]error, len(ops))
	var wg sync.WaitGroup
	for i, op := range ops {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = op(ctx)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
