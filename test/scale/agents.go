package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	workv1 "open-cluster-management.io/api/work/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/apis/scheme"
	"github.com/ocm-gitops/ocm-gitops/pkg/health"
)

// agents stand in for the work agents of many clusters in one process. They
// watch the hub-written ManifestWorks' metadata only (a real agent watches
// the ten or so works of its own cluster; one process watching every work in
// full would be the slowest watcher of the API server and get cut off), and
// workers report each new generation applied and available, with one status
// entry per manifest, in the shape pkg/klusterlet/work writes (a merge patch
// of the status). The manifests are known from the fleet's spec.
type agents struct {
	cache   cache.Cache
	client  client.Client
	queue   workqueue.TypedDelayingInterface[types.NamespacedName]
	delay   time.Duration
	workers int
	spec    fleetSpec

	// gate, while open is false, holds every report back (to measure the
	// hub's fan-out alone).
	gateMu sync.Mutex
	gate   chan struct{}

	// reported is the generation last reported per work.
	mu       sync.Mutex
	reported map[types.NamespacedName]int64

	reports atomic.Int64
	errors  atomic.Int64
	track   *tracker
}

// workMeta is the metadata-only form of a ManifestWork.
func workMeta() *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(schema.GroupVersion(workv1.GroupVersion).WithKind("ManifestWork"))
	return m
}

// newAgents builds the agents; reports wait delay after a generation is seen.
func newAgents(cfg *rest.Config, spec fleetSpec, delay time.Duration, workers int, track *tracker) (*agents, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = -1, -1 // each real agent has its own client and limits
	ours, _ := labels.NewRequirement(appsv1.LabelSubscription, selection.Exists, nil)
	c, err := cache.New(cfg, cache.Options{Scheme: scheme.New(), ByObject: map[client.Object]cache.ByObject{
		workMeta(): {Label: labels.NewSelector().Add(*ours)},
	}})
	if err != nil {
		return nil, err
	}
	cl, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return nil, err
	}
	gate := make(chan struct{})
	close(gate)
	return &agents{
		cache: c, client: cl, delay: delay, workers: workers, spec: spec, track: track, gate: gate,
		queue:    workqueue.NewTypedDelayingQueue[types.NamespacedName](),
		reported: map[types.NamespacedName]int64{},
	}, nil
}

// hold makes the agents wait with their reports until release.
func (a *agents) hold() {
	a.gateMu.Lock()
	a.gate = make(chan struct{})
	a.gateMu.Unlock()
}

func (a *agents) release() {
	a.gateMu.Lock()
	select {
	case <-a.gate:
	default:
		close(a.gate)
	}
	a.gateMu.Unlock()
}

func (a *agents) wait(ctx context.Context) error {
	a.gateMu.Lock()
	g := a.gate
	a.gateMu.Unlock()
	select {
	case <-g:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// start runs the informer and the workers until ctx ends.
func (a *agents) start(ctx context.Context) error {
	inf, err := a.cache.GetInformer(ctx, workMeta())
	if err != nil {
		return err
	}
	_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { a.observe(obj) },
		UpdateFunc: func(_, obj any) { a.observe(obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if w, ok := obj.(*metav1.PartialObjectMetadata); ok {
				key := types.NamespacedName{Namespace: w.Namespace, Name: w.Name}
				a.mu.Lock()
				delete(a.reported, key)
				a.mu.Unlock()
				a.track.forget(key)
			}
		},
	})
	if err != nil {
		return err
	}
	go func() { _ = a.cache.Start(ctx) }()
	if !a.cache.WaitForCacheSync(ctx) {
		return fmt.Errorf("agents: ManifestWork cache did not sync")
	}
	for range a.workers {
		go a.work(ctx)
	}
	go func() {
		<-ctx.Done()
		a.queue.ShutDown()
	}()
	return nil
}

func (a *agents) observe(obj any) {
	w, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return
	}
	key := types.NamespacedName{Namespace: w.Namespace, Name: w.Name}
	a.mu.Lock()
	done := a.reported[key] == w.Generation
	a.mu.Unlock()
	a.track.observe(key, w.Annotations[appsv1.AnnotationRevision], done)
	if !done {
		if a.delay > 0 {
			a.queue.AddAfter(key, a.delay)
		} else {
			a.queue.Add(key)
		}
	}
}

func (a *agents) work(ctx context.Context) {
	for {
		key, shutdown := a.queue.Get()
		if shutdown {
			return
		}
		if err := a.wait(ctx); err != nil {
			a.queue.Done(key)
			return
		}
		if err := a.report(ctx, key); err != nil && ctx.Err() == nil {
			a.errors.Add(1)
			a.queue.AddAfter(key, time.Second)
		}
		a.queue.Done(key)
	}
}

// report writes the status a work agent writes after applying every manifest.
func (a *agents) report(ctx context.Context, key types.NamespacedName) error {
	w := workMeta()
	if err := a.cache.Get(ctx, key, w); err != nil {
		return client.IgnoreNotFound(err)
	}
	a.mu.Lock()
	done := a.reported[key] == w.Generation
	a.mu.Unlock()
	if done || w.DeletionTimestamp != nil {
		return nil
	}
	st := appliedStatus(w.Generation, a.spec.Objects, time.Now())
	patch, err := json.Marshal(map[string]any{"status": map[string]any{
		"conditions":     st.Conditions,
		"resourceStatus": map[string]any{"manifests": st.ResourceStatus.Manifests},
	}})
	if err != nil {
		return err
	}
	target := &workv1.ManifestWork{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	if err := a.client.Status().Patch(ctx, target, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return client.IgnoreNotFound(err)
	}
	a.mu.Lock()
	a.reported[key] = w.Generation
	a.mu.Unlock()
	a.reports.Add(1)
	a.track.observe(key, w.Annotations[appsv1.AnnotationRevision], true)
	return nil
}

// appliedStatus is the status of a work of the fleet's objects (the
// ConfigMaps configMapYAML writes) once all applied and are available: the
// conditions and messages the klusterlet's work agent sets, health included.
func appliedStatus(gen int64, objects int, now time.Time) workv1.ManifestWorkStatus {
	t := metav1.NewTime(now.Truncate(time.Second))
	cond := func(typ string, s metav1.ConditionStatus, reason, msg string) metav1.Condition {
		return metav1.Condition{Type: typ, Status: s, Reason: reason, Message: msg, ObservedGeneration: gen, LastTransitionTime: t}
	}
	var st workv1.ManifestWorkStatus
	st.ResourceStatus.Manifests = []workv1.ManifestCondition{}
	for i := range objects {
		st.ResourceStatus.Manifests = append(st.ResourceStatus.Manifests, workv1.ManifestCondition{
			ResourceMeta: workv1.ManifestResourceMeta{
				Ordinal: int32(i), Version: "v1", Kind: "ConfigMap", Resource: "configmaps",
				Name: fmt.Sprintf("config-%02d", i), Namespace: "apps",
			},
			Conditions: []metav1.Condition{
				cond(workv1.ManifestApplied, metav1.ConditionTrue, "AppliedManifestComplete", ""),
				cond(workv1.ManifestAvailable, metav1.ConditionTrue, "ResourceAvailable", ""),
				cond("StatusFeedbackSynced", metav1.ConditionTrue, "NoStatusFeedbackSynced", ""),
				cond(appsv1.WorkConditionDrifted, metav1.ConditionFalse, appsv1.ReasonNoDrift, ""),
			},
		})
		m := &st.ResourceStatus.Manifests[i]
		health.SetManifestHealth(&m.Conditions, health.Verdict{Status: health.Current}, gen)
	}
	st.Conditions = []metav1.Condition{
		cond(workv1.WorkApplied, metav1.ConditionTrue, "AppliedManifestWorkComplete", "Apply manifest work complete"),
		cond(workv1.WorkAvailable, metav1.ConditionTrue, "ResourcesAvailable", "All resources are available"),
		cond(appsv1.WorkConditionDrifted, metav1.ConditionFalse, appsv1.ReasonNoDrift, "No drift"),
	}
	health.SetWorkHealth(&st.Conditions, st.ResourceStatus.Manifests, gen)
	// The health conditions carry the time they were set; use the report's.
	stamp := func(cs []metav1.Condition) {
		for i := range cs {
			cs[i].LastTransitionTime = t
		}
	}
	stamp(st.Conditions)
	for i := range st.ResourceStatus.Manifests {
		stamp(st.ResourceStatus.Manifests[i].Conditions)
	}
	return st
}

// tracker counts, per revision annotation, the hub's works that exist and
// those reported for their current generation, and remembers when each count
// first reached the target.
type tracker struct {
	mu      sync.Mutex
	target  int
	state   map[types.NamespacedName]workState
	written map[string]int
	acked   map[string]int
	// firstWrite and allWritten time the fan-out of a revision; allAcked its
	// reports.
	firstWrite, allWritten, allAcked map[string]time.Time
}

type workState struct {
	revision string
	acked    bool
}

func newTracker(target int) *tracker {
	return &tracker{
		target: target, state: map[types.NamespacedName]workState{},
		written: map[string]int{}, acked: map[string]int{},
		firstWrite: map[string]time.Time{}, allWritten: map[string]time.Time{}, allAcked: map[string]time.Time{},
	}
}

// observe records a work's revision and whether it was reported.
func (t *tracker) observe(key types.NamespacedName, revision string, acked bool) {
	now := time.Now()
	next := workState{revision: revision, acked: acked}
	t.mu.Lock()
	defer t.mu.Unlock()
	prev, seen := t.state[key]
	if seen && prev == next {
		return
	}
	if seen {
		t.written[prev.revision]--
		if prev.acked {
			t.acked[prev.revision]--
		}
	}
	t.state[key] = next
	r := next.revision
	if _, ok := t.firstWrite[r]; !ok {
		t.firstWrite[r] = now
	}
	t.written[r]++
	if t.written[r] == t.target && t.allWritten[r].IsZero() {
		t.allWritten[r] = now
	}
	if next.acked {
		t.acked[r]++
		if t.acked[r] == t.target && t.allAcked[r].IsZero() {
			t.allAcked[r] = now
		}
	}
}

func (t *tracker) forget(key types.NamespacedName) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if prev, ok := t.state[key]; ok {
		t.written[prev.revision]--
		if prev.acked {
			t.acked[prev.revision]--
		}
		delete(t.state, key)
	}
}

// times returns when the revision's first work appeared, when all were
// written and when all were reported (zero when not yet).
func (t *tracker) times(revision string) (first, written, acked time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.firstWrite[revision], t.allWritten[revision], t.allAcked[revision]
}

// counts returns how many works of the revision exist and are reported.
func (t *tracker) counts(revision string) (written, acked int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.written[revision], t.acked[revision]
}
