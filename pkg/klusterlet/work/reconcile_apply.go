package work

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	workv1 "open-cluster-management.io/api/work/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/health"
	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet/work/apply"
	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet/work/drift"
)

// applyReconciler applies a work's manifests, stage by stage, and keeps
// what it applied free of drift: a manifest with new content is written; one
// applied before is only checked against its baseline, and corrected or
// reported as the work's drift policy says.
type applyReconciler struct {
	log       logr.Logger
	appliers  *apply.Appliers
	executors *executors
	objects   *objectReader
	writes    *ownWrites
	routes    *routes
	locks     *keyLocks
	events    *eventRecorder
	health    *health.Monitor
	noHealth  bool // see Options.noHealth
	mapper    meta.RESTMapper
	// requeue looks at the works of an object again.
	requeue func(objKey)
	// requeueSharing looks again at the works that share objects with a work.
	requeueSharing func(work string)
	// lookup returns a work from the hub's cache.
	lookup func(name string) (*workv1.ManifestWork, bool)
	// sem bounds the writes in flight to the managed cluster across works.
	sem chan struct{}
	// refuse, when set, vetoes a manifest before it is applied or read.
	refuse func(workv1.ManifestResourceMeta, *workv1.ManifestWorkExecutor) error
	// open decrypts a manifest just before it is applied (Options.Open).
	open func(*unstructured.Unstructured) (*unstructured.Unstructured, error)
}

// job is one manifest of one sync.
type job struct {
	work    *workv1.ManifestWork
	m       *manifest
	rec     *objState
	policy  appsv1.DriftPolicy
	applier apply.Applier
	req     apply.Request
	o       *outcome
}

// driftPolicy reads the work's drift policy; anything but ReportOnly corrects.
func driftPolicy(work *workv1.ManifestWork) appsv1.DriftPolicy {
	if appsv1.DriftPolicy(work.Annotations[appsv1.AnnotationDriftPolicy]) == appsv1.DriftReportOnly {
		return appsv1.DriftReportOnly
	}
	return appsv1.DriftCorrect
}

// reconcile processes a work's manifests stage by stage: CRDs (then waits for
// them to be served and maps the manifests that need them), namespaces, the
// rest in parallel, admission webhooks last. ms may be remapped in place.
func (r *applyReconciler) reconcile(ctx context.Context, work *workv1.ManifestWork, st *workState, ms []*manifest) []*outcome {
	outcomes := make([]*outcome, len(ms))
	owner := metav1.OwnerReference{APIVersion: workv1.GroupVersion.String(), Kind: "AppliedManifestWork", Name: st.amw.Name, UID: st.amw.UID}
	dyn, execErr := r.executors.client(work.Spec.Executor)
	run := func(m *manifest) {
		outcomes[m.ordinal] = r.run(ctx, work, st, m, dyn, execErr, owner)
	}
	stages := applyStages(ms)
	for _, m := range stages[stageCRDs] {
		run(m)
	}
	if len(stages[stageCRDs]) > 0 {
		r.waitEstablished(ctx, stages[stageCRDs], outcomes)
		if r.remap(work, st, ms) {
			stages = applyStages(ms)
		}
	}
	for _, m := range stages[stageNamespaces] {
		run(m)
	}
	parallel(stages[stageObjects], run)
	parallel(stages[stageLast], run)
	for i, m := range ms {
		if outcomes[i] == nil {
			outcomes[i] = &outcome{meta: m.meta, err: m.err}
		}
	}
	return outcomes
}

func parallel(list []*manifest, run func(*manifest)) {
	var wg sync.WaitGroup
	for _, m := range list {
		wg.Go(func() { run(m) })
	}
	wg.Wait()
}

// remap maps again the manifests whose kind was not served before their
// CRDs were applied; it reports whether any was.
func (r *applyReconciler) remap(work *workv1.ManifestWork, st *workState, ms []*manifest) bool {
	remapped := false
	for i, m := range ms {
		if m.mappingErr {
			ms[i] = resolveManifest(work, i, r.mapper, st.amw.UID)
			remapped = true
		}
	}
	if remapped {
		r.track(work.Name, ms)
	}
	return remapped
}

// track routes the watch events of the manifests' objects to the work and
// makes sure the objects the agent writes are watched.
func (r *applyReconciler) track(work string, ms []*manifest) {
	objects := make(map[objKey]string, len(ms))
	for _, m := range ms {
		if m.obj == nil {
			continue
		}
		objects[m.key()] = m.claim()
		if m.strategy.Type != workv1.UpdateStrategyTypeReadOnly {
			r.objects.watch(m.gvr)
		}
	}
	dropped, changed := r.routes.set(work, objects)
	r.writes.forget(dropped)
	if changed {
		// Works that share an object with this one may win or lose it now.
		r.requeueSharing(work)
	}
}

// run processes one manifest within the bound of concurrent writes.
func (r *applyReconciler) run(ctx context.Context, work *workv1.ManifestWork, st *workState, m *manifest,
	dyn dynamic.Interface, execErr error, owner metav1.OwnerReference) *outcome {
	if r.refuse != nil {
		if err := r.refuse(m.meta, work.Spec.Executor); err != nil {
			return &outcome{meta: m.meta, err: err}
		}
	}
	if execErr != nil {
		return &outcome{meta: m.meta, err: execErr}
	}
	obj, err := r.open(m.obj)
	if err != nil {
		return &outcome{meta: m.meta, err: err}
	}
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return &outcome{meta: m.meta, err: ctx.Err()}
	}
	defer func() { <-r.sem }()
	j := &job{
		work: work, m: m, rec: st.object(m.key()), policy: driftPolicy(work),
		applier: r.appliers.For(m.strategy.Type),
		req: apply.Request{Client: dyn, GVR: m.gvr, Object: obj, Owner: owner, Owned: m.owned,
			Strategy: m.strategy, OnPresent: m.onPresent, OnChange: m.onChange},
		o: &outcome{meta: m.meta},
	}
	r.process(ctx, j)
	var rules []workv1.ConditionRule
	if m.config != nil {
		rules = m.config.ConditionRules
		if obj != m.obj { // decrypted: no rule message may carry its values
			rules = nil
		}
		if len(m.config.FeedbackRules) > 0 {
			j.o.hasRules = true
			switch {
			case obj != m.obj:
				j.o.feedbackErr = errors.New("status feedback is off for objects decrypted on the cluster")
			case j.o.live != nil:
				j.o.feedback, j.o.feedbackErr = feedbackValues(j.o.live, m.config.FeedbackRules)
			}
		}
	}
	if !r.noHealth {
		j.o.verdict, j.o.ruleConds = r.health.Judge(ctx, work, m.meta, rules, j.o.live)
	}
	return j.o
}

// process applies one manifest as its strategy says, or checks it for drift
// when it was applied before with the same content.
func (r *applyReconciler) process(ctx context.Context, j *job) {
	switch {
	case j.m.strategy.Type == workv1.UpdateStrategyTypeReadOnly:
		j.o.live, j.o.fetchErr = r.objects.get(ctx, j.m.key())
	case manifestComplete(j.work, j.m):
		// As OCM: a manifest a rule marked Complete is left alone (a Job
		// that finished is neither updated nor created again).
		j.o.live, _ = r.objects.current(ctx, j.m.key())
	case r.lost(ctx, j):
	case j.rec.hash == j.m.hash:
		r.steady(ctx, j)
	case j.rec.hash == "" && previouslyApplied(j.work, j.m):
		r.resume(ctx, j)
	default:
		r.update(ctx, j)
	}
}

// lost says whether another work applies the object with different content
// and wins (see contest): then this work leaves it alone and reports it. A
// winner records the works it beats (its manifest's Overrides condition).
func (r *applyReconciler) lost(ctx context.Context, j *job) bool {
	var others []contender
	for name, digest := range r.routes.contenders(j.m.key(), j.work.Name) {
		if w, ok := r.lookup(name); ok && w.DeletionTimestamp == nil {
			others = append(others, contender{work: w, digest: digest})
		}
	}
	if len(others) == 0 {
		return false
	}
	winner, why, beaten := contest(j.work, j.m.claim(), others)
	if winner == nil {
		// Sorted, so that the same contest writes the same status.
		slices.Sort(beaten)
		j.o.beats = beaten
		return false
	}
	j.o.err = &conflictError{object: describe(j.m.meta), winner: workName(winner.work), why: why}
	j.o.live, _ = r.objects.cached(ctx, j.m.key())
	return true
}

// steady looks at an object applied before with this very content: only
// drift can need work.
func (r *applyReconciler) steady(ctx context.Context, j *job) {
	live, err := r.objects.observe(ctx, j.m.key(), j.rec.rv)
	if err != nil {
		j.o.fetchErr = err
		return
	}
	j.o.corrected = j.rec.corrected
	// The verdict taken of this very version holds, unless it is drift a
	// report-only policy left and the policy corrects now.
	if live != nil && live.GetResourceVersion() == j.rec.rv && (!j.rec.drift.Drifted() || j.policy == appsv1.DriftReportOnly) {
		j.o.live, j.o.drift = live, j.rec.drift
		return
	}
	d, err := r.driftOf(ctx, j, live)
	if err != nil {
		j.o.live, j.o.fetchErr = live, err
		return
	}
	if !d.Drifted() {
		r.accept(j, live, drift.Drift{})
		j.o.live = live
		return
	}
	r.onDrift(ctx, j, live, d)
}

// driftOf compares a live object with what was applied: against the
// baseline, or with a dry run when there is none.
func (r *applyReconciler) driftOf(ctx context.Context, j *job, live *unstructured.Unstructured) (drift.Drift, error) {
	if j.rec.base != nil {
		return j.rec.base.Compare(live)
	}
	j.req.Live, j.req.LiveKnown = live, true
	return j.applier.Preview(ctx, &j.req)
}

// accept remembers a live object's verdict, so the same version need not be
// compared again.
func (r *applyReconciler) accept(j *job, live *unstructured.Unstructured, d drift.Drift) {
	j.rec.rv, j.rec.drift = live.GetResourceVersion(), d
	r.writes.accept(j.m.key(), j.rec.rv)
}

// onDrift corrects drift or, for report-only works, reports it.
func (r *applyReconciler) onDrift(ctx context.Context, j *job, live *unstructured.Unstructured, d drift.Drift) {
	j.o.live = live
	if j.policy == appsv1.DriftReportOnly {
		j.o.drift = d
		if live != nil {
			r.accept(j, live, d)
		}
		r.announce(ctx, j, d)
		return
	}
	now := time.Now()
	if !j.rec.corrections.Allowed(now) {
		// Something keeps undoing the correction: do not fight it at watch speed.
		j.o.drift, j.o.backingOff = d, true
		return
	}
	applied, err := r.write(ctx, j, live, true)
	if err != nil {
		j.o.err, j.o.drift = err, d
		return
	}
	j.rec.corrections.Made(now)
	j.rec.corrected = &correction{at: now, what: d}
	j.rec.reported = ""
	r.events.record(ctx, j.work, corev1.EventTypeNormal, "DriftCorrected", describe(j.m.meta)+": "+d.String())
	j.o.live, j.o.corrected = applied, j.rec.corrected
}

// announce emits an event the first time a drift is seen.
func (r *applyReconciler) announce(ctx context.Context, j *job, d drift.Drift) {
	msg := describe(j.m.meta) + ": " + d.String()
	if j.rec.reported == msg {
		return
	}
	j.rec.reported = msg
	r.events.record(ctx, j.work, corev1.EventTypeWarning, "DriftDetected", msg+" (report-only: not corrected)")
}

// resume handles a manifest the work's status shows applied at this
// generation while the agent has no memory of it (it restarted): whatever
// differs now is drift that happened while the agent was away.
func (r *applyReconciler) resume(ctx context.Context, j *job) {
	before, known := r.objects.current(ctx, j.m.key())
	if j.policy == appsv1.DriftReportOnly && known {
		r.learn(ctx, j, before)
		return
	}
	applied, err := r.write(ctx, j, before, known)
	j.o.live, j.o.err, j.o.corrected = applied, err, j.rec.corrected
	if err != nil {
		j.o.live = before
		return
	}
	if !known {
		return
	}
	d, err := j.rec.base.Compare(before)
	if err == nil && d.Drifted() {
		j.rec.corrected = &correction{at: time.Now(), what: d}
		j.o.corrected = j.rec.corrected
		r.events.record(ctx, j.work, corev1.EventTypeNormal, "DriftCorrected", fmt.Sprintf("%s: %s (found after the agent restarted)", describe(j.m.meta), d))
	}
}

// learn takes the verdict of a report-only manifest after a restart from a
// dry run instead of applying: drift must not be undone.
func (r *applyReconciler) learn(ctx context.Context, j *job, live *unstructured.Unstructured) {
	j.rec.hash, j.rec.base = j.m.hash, nil
	j.o.live = live
	j.req.Live, j.req.LiveKnown = live, true
	d, err := j.applier.Preview(ctx, &j.req)
	if err != nil {
		j.o.fetchErr = err
		return
	}
	if live != nil {
		r.accept(j, live, d)
	}
	j.o.drift = d
	if d.Drifted() {
		r.announce(ctx, j, d)
	}
}

// update writes a manifest whose content is new to the agent.
func (r *applyReconciler) update(ctx context.Context, j *job) {
	var live *unstructured.Unstructured
	known := false
	if j.m.strategy.Type == workv1.UpdateStrategyTypeServerSideApply {
		// Only its owner references are taken from the live object: an
		// object absent from the synced cache has none.
		live, known = r.objects.fromCache(ctx, j.m.key())
	} else {
		live, known = r.objects.cached(ctx, j.m.key())
	}
	applied, err := r.write(ctx, j, live, known)
	j.o.live, j.o.err, j.o.corrected = applied, err, j.rec.corrected
	if err != nil {
		j.o.live = live
	}
}

// write applies the manifest, marking the write as the agent's own. An
// object other works apply too is written by one work at a time, from a
// fresh read, so no work's owner reference is lost to another's write.
func (r *applyReconciler) write(ctx context.Context, j *job, live *unstructured.Unstructured, known bool) (*unstructured.Unstructured, error) {
	key := j.m.key()
	if j.req.Shared = len(r.routes.worksOf(key)) > 1; j.req.Shared {
		defer r.locks.lock(key)()
		fresh, err := r.objects.get(ctx, key)
		if err != nil {
			return nil, err
		}
		live, known = fresh, true
	}
	j.req.Live, j.req.LiveKnown = live, known
	r.writes.begin(key)
	res, err := j.applier.Apply(ctx, &j.req)
	rv := ""
	if err == nil && res.Object != nil {
		rv = res.Object.GetResourceVersion()
	}
	if r.writes.end(key, rv) {
		r.requeue(key)
	}
	if err != nil {
		return nil, err
	}
	j.rec.hash, j.rec.drift, j.rec.base, j.rec.rv = j.m.hash, drift.Drift{}, res.Baseline, rv
	return res.Object, nil
}

// manifestComplete says the work's status shows the manifest Complete.
func manifestComplete(work *workv1.ManifestWork, m *manifest) bool {
	mc := statusOf(work, m)
	return mc != nil && health.ManifestComplete(mc.Conditions)
}

// statusOf finds a manifest's entry in the work's status.
func statusOf(work *workv1.ManifestWork, m *manifest) *workv1.ManifestCondition {
	for i, mc := range work.Status.ResourceStatus.Manifests {
		rm := mc.ResourceMeta
		if rm.Ordinal == m.meta.Ordinal && rm.Group == m.meta.Group && rm.Kind == m.meta.Kind &&
			rm.Name == m.meta.Name && rm.Namespace == m.meta.Namespace {
			return &work.Status.ResourceStatus.Manifests[i]
		}
	}
	return nil
}

// previouslyApplied says the work's status shows this manifest applied at
// the work's current generation: after a restart, its objects are expected.
func previouslyApplied(work *workv1.ManifestWork, m *manifest) bool {
	mc := statusOf(work, m)
	if mc == nil {
		return false
	}
	c := meta.FindStatusCondition(mc.Conditions, workv1.ManifestApplied)
	return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == work.Generation
}

// waitEstablished waits (bounded) until the CRDs just applied are served, so
// the objects that need them can be applied in the same pass.
func (r *applyReconciler) waitEstablished(ctx context.Context, crds []*manifest, outcomes []*outcome) {
	deadline := time.Now().Add(10 * time.Second)
	for _, m := range crds {
		o := outcomes[m.ordinal]
		if o == nil || o.err != nil || o.live == nil {
			continue
		}
		obj := o.live
		for !crdEstablished(obj) && time.Now().Before(deadline) {
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
			fresh, err := r.objects.get(ctx, m.key())
			if err != nil || fresh == nil {
				break
			}
			obj = fresh
		}
	}
}

func crdEstablished(crd *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, c := range conds {
		cm, ok := c.(map[string]any)
		if ok && cm["type"] == "Established" && cm["status"] == "True" {
			return true
		}
	}
	return false
}
