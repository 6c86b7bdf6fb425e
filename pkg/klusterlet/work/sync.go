package work

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/fluxcd/pkg/ssa"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	workv1 "open-cluster-management.io/api/work/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

const annotationDriftPolicy = appsv1.AnnotationDriftPolicy

// cacheSyncWait bounds the wait for a new informer's first list.
const cacheSyncWait = 5 * time.Second

// hubTimeout bounds a write to the hub, so an unreachable hub (packets
// dropped, not refused) cannot hold a worker that could be correcting drift.
const hubTimeout = 30 * time.Second

// workState is the agent's memory of one work.
type workState struct {
	amw     *workv1.AppliedManifestWork
	objects map[objKey]*objState
	// keys are the objects the work's manifests map to.
	keys map[objKey]bool

	// resolved caches the decoded manifests of one generation of the work.
	resolved    []*manifest
	resolvedFor resolvedKey
}

// resolvedKey says which work and owner the cached manifests were made for.
type resolvedKey struct {
	work       types.UID
	generation int64
	owner      types.UID
}

// manifests decodes the work's manifests, or reuses those of the same
// generation (they are never modified once resolved).
func (st *workState) manifests(work *workv1.ManifestWork, owner types.UID, mapper meta.RESTMapper) []*manifest {
	key := resolvedKey{work: work.UID, generation: work.Generation, owner: owner}
	if st.resolved != nil && st.resolvedFor == key {
		return append([]*manifest(nil), st.resolved...)
	}
	ms := resolveManifests(work, mapper, owner)
	st.resolved, st.resolvedFor = nil, resolvedKey{}
	for _, m := range ms {
		if m.mappingErr {
			return ms
		}
	}
	st.resolved, st.resolvedFor = ms, key
	return append([]*manifest(nil), ms...)
}

// objState is what the agent applied to one object and how it went since.
type objState struct {
	// hash of the manifest last applied; "" when unknown (after a restart).
	hash string
	// rv is the resource version last written or accepted as drift-free.
	rv string
	// base is what was applied; nil when drift has to be checked with a
	// server-side dry run (report-only works after a restart).
	base *baseline
	// created is set once a CreateOnly object was created by the agent.
	created bool
	// drift is the uncorrected drift found at resource version rv
	// (report-only works).
	drift Drift

	corrected      *correction
	corrections    int
	lastCorrection time.Time
	nextCorrection time.Time
	// reported is the drift last announced in an event.
	reported string
}

// errManifestsFailed makes the queue retry a work with backoff.
var errManifestsFailed = errors.New("some manifests failed to apply")

// sync brings one ManifestWork's objects and status up to date. It returns
// when to look again without events.
func (a *Agent) sync(ctx context.Context, name string) (time.Duration, error) {
	item, exists, err := a.workInformer.GetIndexer().GetByKey(a.opts.ClusterName + "/" + name)
	if err != nil {
		return 0, err
	}
	if !exists {
		// Gone from the hub: objects stay until the AppliedManifestWork is
		// evicted after the grace period (see evictionLoop).
		a.forget(name)
		return 0, nil
	}
	work := item.(*workv1.ManifestWork).DeepCopy()
	if work.DeletionTimestamp != nil {
		return a.finalize(ctx, work)
	}
	// The hub and the managed cluster are written in parallel: the finalizer
	// here, the AppliedManifestWork there; both are needed before applying.
	var (
		wg     sync.WaitGroup
		finErr error
	)
	if !hasString(work.Finalizers, workv1.ManifestWorkFinalizer) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			finErr = a.addWorkFinalizer(ctx, work)
		}()
	}
	st := a.state(name)
	amw, err := a.ensureAMW(ctx, work, st)
	wg.Wait()
	if finErr != nil {
		return 0, finErr
	}
	if err != nil {
		return 0, err
	}
	ms := st.manifests(work, amw.UID, a.mapper)
	a.setRefs(name, manifestKeys(ms))
	a.watchManifests(ms)

	outcomes := a.applyAll(ctx, work, ms, st, amw)

	var statusErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		statusErr = a.writeStatus(ctx, work, outcomes)
	}()
	pending, err := a.syncAppliedResources(ctx, work, st, ms, outcomes)
	wg.Wait()
	if statusErr != nil {
		return 0, fmt.Errorf("write status of ManifestWork %s/%s: %w", work.Namespace, work.Name, statusErr)
	}
	if err != nil {
		return 0, err
	}

	after := a.resync()
	retry := false
	for i, o := range outcomes {
		if o.err != nil && ms[i].retryable() {
			retry = true
		}
		if rec := st.objects[ms[i].key()]; o.backingOff && rec != nil {
			if d := time.Until(rec.nextCorrection); d > 0 && d < after {
				after = d
			}
		}
	}
	if pending && after > time.Second {
		after = time.Second
	}
	if retry {
		return 0, errManifestsFailed
	}
	return after, nil
}

// watchManifests makes sure the objects the agent writes are watched.
func (a *Agent) watchManifests(ms []*manifest) {
	for _, m := range ms {
		if m.obj != nil && m.strategy.Type != workv1.UpdateStrategyTypeReadOnly {
			a.tracker.informer(m.gvr)
		}
	}
}

func manifestKeys(ms []*manifest) []objKey {
	keys := make([]objKey, 0, len(ms))
	for _, m := range ms {
		if m.obj != nil {
			keys = append(keys, m.key())
		}
	}
	return keys
}

// retryable says whether a failed manifest may succeed without a spec change.
func (m *manifest) retryable() bool { return m.obj != nil || m.mappingErr }

// driftPolicy reads the work's drift policy; anything but ReportOnly corrects.
func driftPolicy(work *workv1.ManifestWork) appsv1.DriftPolicy {
	if appsv1.DriftPolicy(work.Annotations[annotationDriftPolicy]) == appsv1.DriftReportOnly {
		return appsv1.DriftReportOnly
	}
	return appsv1.DriftCorrect
}

// applyAll processes a work's manifests stage by stage: CRDs (then waits for
// them to be served and maps the manifests that need them), namespaces, the
// rest in parallel, admission webhooks last.
func (a *Agent) applyAll(ctx context.Context, work *workv1.ManifestWork, ms []*manifest, st *workState, amw *workv1.AppliedManifestWork) []*outcome {
	outcomes := make([]*outcome, len(ms))
	policy := driftPolicy(work)
	dyn, execErr := a.dynFor(work.Spec.Executor)
	owner := metav1.OwnerReference{APIVersion: workv1.GroupVersion.String(), Kind: "AppliedManifestWork", Name: amw.Name, UID: amw.UID}
	var stMu sync.Mutex
	run := func(m *manifest) {
		if execErr != nil {
			outcomes[m.ordinal] = &outcome{meta: m.meta, err: execErr}
			return
		}
		select {
		case a.applySem <- struct{}{}:
		case <-ctx.Done():
			outcomes[m.ordinal] = &outcome{meta: m.meta, err: ctx.Err()}
			return
		}
		defer func() { <-a.applySem }()
		stMu.Lock()
		rec := st.objects[m.key()]
		if rec == nil {
			rec = &objState{}
			st.objects[m.key()] = rec
		}
		stMu.Unlock()
		outcomes[m.ordinal] = a.processManifest(ctx, work, m, rec, dyn, owner, policy)
	}
	parallel := func(list []*manifest) {
		var wg sync.WaitGroup
		for _, m := range list {
			wg.Add(1)
			go func() {
				defer wg.Done()
				run(m)
			}()
		}
		wg.Wait()
	}

	stages := applyStages(ms)
	for _, m := range stages[stageCRDs] {
		run(m)
	}
	if len(stages[stageCRDs]) > 0 {
		a.waitEstablished(ctx, stages[stageCRDs], outcomes)
		remapped := false
		for i, m := range ms {
			if m.mappingErr {
				ms[i] = resolveManifest(work, i, a.mapper, amw.UID)
				remapped = true
			}
		}
		if remapped {
			a.setRefs(work.Name, manifestKeys(ms))
			a.watchManifests(ms)
			stages = applyStages(ms)
		}
	}
	for _, m := range stages[stageNamespaces] {
		run(m)
	}
	parallel(stages[stageObjects])
	parallel(stages[stageLast])

	for i, m := range ms {
		if outcomes[i] == nil {
			outcomes[i] = &outcome{meta: m.meta, err: m.err}
		}
	}
	return outcomes
}

// processManifest applies one manifest as its strategy says, or checks it
// for drift when it was applied before, and reports what it found.
func (a *Agent) processManifest(ctx context.Context, work *workv1.ManifestWork, m *manifest, rec *objState,
	dyn dynamic.Interface, owner metav1.OwnerReference, policy appsv1.DriftPolicy) *outcome {
	o := &outcome{meta: m.meta}
	if m.config != nil && len(m.config.FeedbackRules) > 0 {
		o.hasRules = true
		defer func() {
			if o.live != nil {
				o.feedback, o.feedbackErr = feedbackValues(o.live, m.config.FeedbackRules)
			}
		}()
	}
	key := m.key()
	switch m.strategy.Type {
	case workv1.UpdateStrategyTypeReadOnly:
		o.live, o.fetchErr = a.get(ctx, key)
		return o
	case workv1.UpdateStrategyTypeCreateOnly:
		return a.processCreateOnly(ctx, work, m, rec, dyn, owner, policy, o)
	}

	if rec.hash == m.hash {
		// Applied before with this very content: only drift can need work.
		live, err := a.observe(ctx, key, rec)
		if err != nil {
			o.fetchErr = err
			return o
		}
		o.corrected = rec.corrected
		if live != nil && live.GetResourceVersion() == rec.rv {
			o.live, o.drift = live, rec.drift
			return o
		}
		d, err := a.driftOf(ctx, m, rec, live, owner)
		if err != nil {
			o.live, o.fetchErr = live, err
			return o
		}
		if !d.Drifted() {
			rec.rv, rec.drift = live.GetResourceVersion(), Drift{}
			a.setWritten(key, rec.rv)
			o.live = live
			return o
		}
		return a.handleDrift(ctx, work, m, rec, dyn, owner, policy, live, d, o)
	}

	restart := rec.hash == "" && previouslyApplied(work, m)
	var before *unstructured.Unstructured
	beforeKnown := false
	if restart || m.strategy.Type == workv1.UpdateStrategyTypeUpdate {
		cached, synced := a.tracker.get(ctx, key, cacheSyncWait)
		if synced && cached != nil {
			before, beforeKnown = cached, true
		} else if restart {
			live, err := a.get(ctx, key)
			if err == nil {
				before, beforeKnown = live, true
			}
		}
	}
	if restart && policy == appsv1.DriftReportOnly && beforeKnown {
		// Known to be applied at this generation, and drift must not be undone:
		// learn the baseline from a dry run instead of applying.
		rec.hash, rec.base = m.hash, nil
		o.live = before
		if before == nil {
			o.drift = Drift{Deleted: true}
			a.announceDrift(ctx, work, m, rec, o.drift)
			return o
		}
		d, err := a.dryRunDrift(ctx, m, before, owner)
		if err != nil {
			o.fetchErr = err
			return o
		}
		rec.rv, rec.drift = before.GetResourceVersion(), d
		a.setWritten(key, rec.rv)
		o.drift = d
		if d.Drifted() {
			a.announceDrift(ctx, work, m, rec, d)
		}
		return o
	}

	a.beginWrite(key)
	applied, base, err := a.write(ctx, dyn, m, before, beforeKnown, owner)
	a.endWrite(key, rvOf(applied))
	if err != nil {
		o.err = err
		o.live = before
		return o
	}
	if restart && beforeKnown {
		// The agent was away: whatever differs now was drift it just undid.
		d := Drift{Deleted: before == nil}
		if before != nil {
			d = base.compare(before)
		}
		if d.Drifted() {
			rec.corrected = &correction{at: time.Now(), what: d}
			a.event(ctx, work, corev1.EventTypeNormal, "DriftCorrected", fmt.Sprintf("%s: %s (found after the agent restarted)", describe(m.meta), d))
		}
	}
	a.recordApplied(m, rec, applied, base)
	o.live = applied
	o.corrected = rec.corrected
	return o
}

// handleDrift corrects drift or, for report-only works, reports it.
func (a *Agent) handleDrift(ctx context.Context, work *workv1.ManifestWork, m *manifest, rec *objState, dyn dynamic.Interface,
	owner metav1.OwnerReference, policy appsv1.DriftPolicy, live *unstructured.Unstructured, d Drift, o *outcome) *outcome {
	o.live = live
	if policy == appsv1.DriftReportOnly {
		o.drift = d
		if live != nil {
			// Remember the verdict for this version: no need to compare again.
			rec.rv, rec.drift = live.GetResourceVersion(), d
			a.setWritten(m.key(), rec.rv)
		}
		a.announceDrift(ctx, work, m, rec, d)
		return o
	}
	now := time.Now()
	if now.Sub(rec.lastCorrection) > time.Minute {
		rec.corrections = 0
	}
	if rec.corrections >= 3 && now.Before(rec.nextCorrection) {
		// Something keeps undoing the correction: do not fight it at watch speed.
		o.drift, o.backingOff = d, true
		return o
	}
	a.beginWrite(m.key())
	applied, base, err := a.write(ctx, dyn, m, live, true, owner)
	a.endWrite(m.key(), rvOf(applied))
	if err != nil {
		o.err, o.drift = err, d
		return o
	}
	rec.corrections++
	rec.lastCorrection = now
	if rec.corrections >= 3 {
		rec.nextCorrection = now.Add(min(time.Duration(1<<min(rec.corrections-3, 8))*time.Second, 5*time.Minute))
	}
	rec.corrected = &correction{at: now, what: d}
	rec.reported = ""
	a.recordApplied(m, rec, applied, base)
	a.event(ctx, work, corev1.EventTypeNormal, "DriftCorrected", describe(m.meta)+": "+d.String())
	o.live = applied
	o.corrected = rec.corrected
	return o
}

// announceDrift emits an event the first time a drift is seen.
func (a *Agent) announceDrift(ctx context.Context, work *workv1.ManifestWork, m *manifest, rec *objState, d Drift) {
	msg := describe(m.meta) + ": " + d.String()
	if rec.reported == msg {
		return
	}
	rec.reported = msg
	a.event(ctx, work, corev1.EventTypeWarning, "DriftDetected", msg+" (report-only: not corrected)")
}

// processCreateOnly creates the object when it is missing and never updates it.
func (a *Agent) processCreateOnly(ctx context.Context, work *workv1.ManifestWork, m *manifest, rec *objState,
	dyn dynamic.Interface, owner metav1.OwnerReference, policy appsv1.DriftPolicy, o *outcome) *outcome {
	live, err := a.observe(ctx, m.key(), rec)
	if err != nil {
		o.fetchErr = err
		return o
	}
	o.corrected = rec.corrected
	if live != nil {
		if rec.hash == "" && previouslyApplied(work, m) {
			rec.created = true
		}
		rec.hash = m.hash
		o.live = live
		return o
	}
	recreate := rec.created || rec.hash == "" && previouslyApplied(work, m)
	if recreate && policy == appsv1.DriftReportOnly {
		o.drift = Drift{Deleted: true}
		a.announceDrift(ctx, work, m, rec, o.drift)
		return o
	}
	obj := m.obj.DeepCopy()
	setLabel(obj, LabelManaged, "true")
	if m.owned {
		obj.SetOwnerReferences(append(obj.GetOwnerReferences(), owner))
	}
	a.beginWrite(m.key())
	created, err := a.create(ctx, dyn, m, obj)
	a.endWrite(m.key(), rvOf(created))
	if apierrors.IsAlreadyExists(err) {
		created, err = a.get(ctx, m.key())
	}
	if err != nil {
		o.err = err
		return o
	}
	if recreate && created != nil {
		rec.corrected = &correction{at: time.Now(), what: Drift{Deleted: true}}
		a.event(ctx, work, corev1.EventTypeNormal, "DriftCorrected", describe(m.meta)+": object was deleted; created it again")
	}
	rec.created, rec.hash = true, m.hash
	if created != nil {
		rec.rv = created.GetResourceVersion()
		a.setWritten(m.key(), rec.rv)
	}
	o.live = created
	o.corrected = rec.corrected
	return o
}

func rvOf(obj *unstructured.Unstructured) string {
	if obj == nil {
		return ""
	}
	return obj.GetResourceVersion()
}

// recordApplied remembers a successful write.
func (a *Agent) recordApplied(m *manifest, rec *objState, applied *unstructured.Unstructured, base *baseline) {
	rec.hash, rec.drift = m.hash, Drift{}
	rec.base = base
	rec.rv = applied.GetResourceVersion()
	a.setWritten(m.key(), rec.rv)
}

// previouslyApplied says the work's status shows this manifest applied at
// the work's current generation: after a restart, its objects are expected.
func previouslyApplied(work *workv1.ManifestWork, m *manifest) bool {
	for _, mc := range work.Status.ResourceStatus.Manifests {
		rm := mc.ResourceMeta
		if rm.Ordinal != m.meta.Ordinal || rm.Group != m.meta.Group || rm.Kind != m.meta.Kind ||
			rm.Name != m.meta.Name || rm.Namespace != m.meta.Namespace {
			continue
		}
		c := meta.FindStatusCondition(mc.Conditions, workv1.ManifestApplied)
		return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == work.Generation
	}
	return false
}

// driftOf compares a live object with what was applied.
func (a *Agent) driftOf(ctx context.Context, m *manifest, rec *objState, live *unstructured.Unstructured, owner metav1.OwnerReference) (Drift, error) {
	if live == nil {
		return Drift{Deleted: true}, nil
	}
	if rec.base != nil {
		return rec.base.compare(live), nil
	}
	return a.dryRunDrift(ctx, m, live, owner)
}

// dryRunDrift asks the server what applying the manifest would change, with
// Flux's server-side dry-run diff, when the agent has no baseline of its own.
func (a *Agent) dryRunDrift(ctx context.Context, m *manifest, live *unstructured.Unstructured, owner metav1.OwnerReference) (Drift, error) {
	fm, _ := a.fieldManager(m)
	desired := m.obj.DeepCopy()
	setLabel(desired, LabelManaged, "true")
	if m.owned {
		desired.SetOwnerReferences(append(desired.GetOwnerReferences(), owner))
	}
	var ignore []string
	if m.strategy.ServerSideApply != nil {
		onPresent, onChange := ignoredPaths(m.strategy.ServerSideApply)
		ignore = append(onPresent, onChange...)
		adoptPaths(desired.Object, live.Object, ignore)
	}
	rm := ssa.NewResourceManager(a.crClient, nil, ssa.Owner{Field: fm, Group: "work.ocm-gitops.io"})
	_, existing, dryRun, err := rm.Diff(ctx, desired, ssa.DefaultDiffOptions())
	if err != nil {
		return Drift{}, fmt.Errorf("dry-run %s: %w", describe(m.meta), err)
	}
	if existing == nil || dryRun == nil {
		return Drift{}, nil
	}
	shape := any(manifestShape(m.obj.Object))
	want, have := dryRun.Object, existing.Object
	if len(ignore) > 0 {
		shape = withoutPaths(shape.(map[string]any), ignore)
		want, have = withoutPaths(want, ignore), withoutPaths(have, ignore)
	}
	var fields []string
	diffShape(project(shape, want), project(shape, have), "", &fields)
	return Drift{Fields: dedupe(fields)}, nil
}

// observe returns the live object: from the watch cache when it is at least
// as new as the agent's last write, else from the API server.
func (a *Agent) observe(ctx context.Context, key objKey, rec *objState) (*unstructured.Unstructured, error) {
	cached, synced := a.tracker.get(ctx, key, cacheSyncWait)
	if synced && cached != nil && (rec == nil || rec.rv == "" || !newerRV(rec.rv, cached.GetResourceVersion())) {
		return cached, nil
	}
	return a.get(ctx, key)
}

// get reads an object from the API server; nil when it does not exist.
func (a *Agent) get(ctx context.Context, key objKey) (*unstructured.Unstructured, error) {
	obj, err := a.dyn.Resource(key.gvr).Namespace(key.namespace).Get(ctx, key.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	obj.SetManagedFields(nil)
	return obj, nil
}

// writeStatus patches the work's status when it changed.
func (a *Agent) writeStatus(ctx context.Context, work *workv1.ManifestWork, outcomes []*outcome) error {
	status := buildStatus(work, outcomes)
	if equality.Semantic.DeepEqual(work.Status, status) {
		return nil
	}
	manifests := status.ResourceStatus.Manifests
	if manifests == nil {
		manifests = []workv1.ManifestCondition{}
	}
	patch, err := json.Marshal(map[string]any{"status": map[string]any{
		"conditions":     status.Conditions,
		"resourceStatus": map[string]any{"manifests": manifests},
	}})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, hubTimeout)
	defer cancel()
	_, err = a.works.Patch(ctx, work.Name, types.MergePatchType, patch, metav1.PatchOptions{}, "status")
	return err
}

// buildStatus computes the work's status from the outcomes, keeping the
// transition times of conditions that did not change.
func buildStatus(work *workv1.ManifestWork, outcomes []*outcome) workv1.ManifestWorkStatus {
	gen := work.Generation
	old := work.Status.ResourceStatus.Manifests
	out := workv1.ManifestWorkStatus{}
	for _, o := range outcomes {
		var prev []metav1.Condition
		for _, mc := range old {
			if mc.ResourceMeta == o.meta {
				prev = mc.Conditions
				break
			}
		}
		out.ResourceStatus.Manifests = append(out.ResourceStatus.Manifests, workv1.ManifestCondition{
			ResourceMeta:    o.meta,
			StatusFeedbacks: workv1.StatusFeedbackResult{Values: o.feedback},
			Conditions:      manifestConditions(prev, o, gen),
		})
	}
	out.Conditions = workConditions(work.Status.Conditions, outcomes, gen)
	return out
}

// event records an Event about the work on the hub; failures only log.
func (a *Agent) event(ctx context.Context, work *workv1.ManifestWork, typ, reason, msg string) {
	now := metav1.Now()
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{GenerateName: work.Name + ".", Namespace: work.Namespace},
		InvolvedObject: corev1.ObjectReference{
			APIVersion: workv1.GroupVersion.String(), Kind: "ManifestWork",
			Namespace: work.Namespace, Name: work.Name, UID: work.UID,
		},
		Reason: reason, Message: msg, Type: typ, Count: 1,
		FirstTimestamp: now, LastTimestamp: now,
		Source:              corev1.EventSource{Component: "ocm-gitops-work-agent", Host: a.opts.ClusterName},
		ReportingController: "ocm-gitops.io/work-agent", ReportingInstance: a.opts.ClusterName,
	}
	ctx, cancel := context.WithTimeout(ctx, hubTimeout)
	defer cancel()
	if _, err := a.hubKube.CoreV1().Events(work.Namespace).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		a.log.V(1).Info("could not record event", "work", work.Name, "reason", reason, "error", err.Error())
	}
	a.log.Info(msg, "work", work.Name, "reason", reason)
}
