package hub

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	workv1 "open-cluster-management.io/api/work/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/rollout"
	"github.com/ocm-gitops/ocm-gitops/pkg/source"
)

// maxClusterEntries bounds status.clusters so the Subscription stays small at
// thousands of clusters; the summary still counts every cluster.
const maxClusterEntries = 100

// maxDriftEntries bounds the drifted objects listed per cluster.
const maxDriftEntries = 10

// clusterView is what the hub knows of one selected cluster.
type clusterView struct {
	name string
	// works are the Subscription's ManifestWorks in the cluster's namespace.
	works []*workv1.ManifestWork
	// desiredHash is the content the cluster should hold; "" when nothing is due
	// yet (held by a rollout, a window or the deletion budget).
	desiredHash string
	// offline is true when the cluster's agent stopped reporting.
	offline bool
	// waiting says why a cluster with no desiredHash waits, or, for a leaving
	// cluster, why the removal of its objects does.
	waiting string
	// stale says why the latest cannot be deployed; desiredHash is then the
	// content the cluster holds.
	stale string
	// leaving is true for a cluster the placement no longer selects whose
	// works are kept for now.
	leaving bool
}

// severity orders states from most to least in need of attention.
var severity = map[appsv1.ClusterState]int{
	appsv1.ClusterFailed:      0,
	appsv1.ClusterDegraded:    1,
	appsv1.ClusterDrifted:     2,
	appsv1.ClusterHeld:        3,
	appsv1.ClusterStale:       4,
	appsv1.ClusterOffline:     5,
	appsv1.ClusterProgressing: 6,
	appsv1.ClusterPending:     7,
	appsv1.ClusterApplied:     8,
}

// tally is what aggregate finds.
type tally struct {
	sum       appsv1.ClusterSummary
	clusters  []appsv1.ClusterStatus
	truncated bool
	// applied counts the selected clusters that applied the content they
	// should hold, healthy or not.
	applied int32
	// overriding counts the clusters where other Subscriptions lose objects
	// to this one (ClusterStatus.Overrides); overridingExample is the first,
	// as "name: message".
	overriding        int32
	overridingExample string
}

// aggregate sums up the clusters' works into the Subscription's summary and its
// bounded per-cluster list.
func aggregate(views []clusterView, revision string) tally {
	var t tally
	statuses := make([]appsv1.ClusterStatus, 0, len(views))
	for _, v := range views {
		st := clusterStatus(v, revision)
		t.count(st)
		if len(st.Overrides) > 0 {
			t.overriding++
			if t.overridingExample == "" {
				t.overridingExample = st.Name + ": " + st.Message
			}
		}
		statuses = append(statuses, st)
	}
	sort.Slice(statuses, func(i, j int) bool {
		si, sj := severity[statuses[i].State], severity[statuses[j].State]
		if si != sj {
			return si < sj
		}
		return statuses[i].Name < statuses[j].Name
	})
	t.truncated = len(statuses) > maxClusterEntries
	if t.truncated {
		statuses = statuses[:maxClusterEntries]
	}
	t.clusters = statuses
	return t
}

// count adds one cluster to the summary.
func (t *tally) count(st appsv1.ClusterStatus) {
	sum := &t.sum
	if st.State == appsv1.ClusterHeld {
		sum.Held++
		return
	}
	sum.Selected++
	if st.Health == appsv1.HealthHealthy {
		sum.Healthy++
	}
	switch st.State {
	case appsv1.ClusterStale:
		sum.Stale++
	case appsv1.ClusterApplied:
		sum.Applied++
		t.applied++
	case appsv1.ClusterProgressing:
		sum.Progressing++
		if st.Health != "" {
			t.applied++
		}
	case appsv1.ClusterPending:
		sum.Pending++
	case appsv1.ClusterDrifted:
		sum.Drifted++
		t.applied++
	case appsv1.ClusterDegraded:
		sum.Degraded++
		t.applied++
	case appsv1.ClusterFailed:
		sum.Failed++
	case appsv1.ClusterOffline:
		sum.Offline++
	}
}

// clusterStatus reads one cluster's state from its works.
func clusterStatus(v clusterView, revision string) appsv1.ClusterStatus {
	st := appsv1.ClusterStatus{Name: v.name}
	switch {
	case v.leaving:
		st.State, st.Message = appsv1.ClusterHeld, "no longer selected; removing the objects waits: "+v.waiting
		return withRevision(st, v, revision)
	case v.offline:
		st.State, st.Message = appsv1.ClusterOffline, "the cluster's agent has not reported recently"
		return withRevision(st, v, revision)
	case v.desiredHash == "" && v.stale != "":
		st.State, st.Message = appsv1.ClusterPending, "not deployed: "+v.stale
		return st
	case v.desiredHash == "":
		st.State, st.Message = appsv1.ClusterPending, "waiting to be sent the new revision"
		if v.waiting != "" {
			st.Message += ": " + v.waiting
		}
		return withRevision(st, v, revision)
	case len(v.works) == 0:
		st.State, st.Message = appsv1.ClusterProgressing, "ManifestWork is being created"
		return st
	}
	st, objects := fromWorks(st, v)
	if v.stale != "" && st.State == appsv1.ClusterApplied {
		st.State, st.Message = appsv1.ClusterStale, "holds "+source.ShortRevision(v.works[0].Annotations[appsv1.AnnotationRevision])+"; "+v.stale
	}
	return withRevision(withOverrides(st, objects), v, revision)
}

// fromWorks is the worst state and health of a cluster's works, with their
// drift, and the other Subscriptions that lose objects to them (with the
// objects).
func fromWorks(st appsv1.ClusterStatus, v clusterView) (appsv1.ClusterStatus, []string) {
	st.State = appsv1.ClusterApplied
	var objects []string
	for _, w := range v.works {
		ws := workState(w, v.desiredHash)
		if severity[ws.state] < severity[st.State] {
			st.State, st.Message = ws.state, ws.message
		}
		if rollout.WorseHealth(ws.health, st.Health) {
			st.Health = ws.health
		}
		st.Drift = append(st.Drift, ws.drift...)
		if w.Annotations[appsv1.AnnotationContentHash] == v.desiredHash {
			// A work being rewritten reports on content it no longer carries.
			others, objs := overridden(w)
			st.Overrides, objects = append(st.Overrides, others...), append(objects, objs...)
		}
	}
	st.Overrides, objects = bounded(st.Overrides), bounded(objects)
	if len(st.Drift) > maxDriftEntries {
		st.Drift = st.Drift[:maxDriftEntries]
	}
	if st.State == appsv1.ClusterDrifted && st.Message == "" {
		st.Message = driftMessage(st.Drift)
	}
	return st, objects
}

// withRevision records the revision the cluster holds: the desired one once
// every work carries the desired content.
func withRevision(st appsv1.ClusterStatus, v clusterView, revision string) appsv1.ClusterStatus {
	current := len(v.works) > 0 && v.desiredHash != "" && v.stale == "" && !v.leaving
	for _, w := range v.works {
		if w.Annotations[appsv1.AnnotationContentHash] != v.desiredHash {
			current = false
		}
	}
	switch {
	case current:
		st.Revision = revision
	case len(v.works) > 0:
		st.Revision = v.works[0].Annotations[appsv1.AnnotationRevision]
	}
	return st
}

// workStanding is one ManifestWork's part in its cluster's status.
type workStanding struct {
	state   appsv1.ClusterState
	message string
	// health is empty until the work is applied.
	health appsv1.WorkloadHealth
	drift  []appsv1.DriftedObject
}

// workState reads the state of one ManifestWork (rollout.ReadWork reads its
// conditions): failed to apply, degraded (naming the first failing object),
// drifted, progressing until healthy, or applied and healthy.
func workState(w *workv1.ManifestWork, desiredHash string) workStanding {
	if w.Annotations[appsv1.AnnotationContentHash] != desiredHash {
		return workStanding{state: appsv1.ClusterProgressing, message: "ManifestWork is being updated"}
	}
	rep := rollout.ReadWork(w)
	switch {
	case !rep.Reported:
		return workStanding{state: appsv1.ClusterProgressing, message: rep.Message}
	case rep.ApplyFailed:
		// Another work on the cluster applies an object with other content
		// and wins: the agent's message names it and its Subscription.
		if c := failedManifests(w, "", appsv1.ReasonManifestConflict); c != "" {
			return workStanding{state: appsv1.ClusterFailed, message: "conflict: " + c}
		}
		return workStanding{state: appsv1.ClusterFailed, message: "apply failed: " + failedManifests(w, rep.Message, "")}
	case rep.Health == appsv1.HealthDegraded:
		return workStanding{state: appsv1.ClusterDegraded, message: rep.Problem(w), health: rep.Health}
	}
	ws := workStanding{state: appsv1.ClusterApplied, health: rep.Health}
	if c := meta.FindStatusCondition(w.Status.Conditions, appsv1.WorkConditionDrifted); c != nil && c.Status == metav1.ConditionTrue {
		ws.state, ws.drift = appsv1.ClusterDrifted, driftedObjects(w)
	} else if rep.Health != appsv1.HealthHealthy {
		ws.state, ws.message = appsv1.ClusterProgressing, "applied, not healthy yet: "+rep.Problem(w)
	}
	return ws
}

// failedManifests names the manifests whose Applied condition is False
// (with reason, when not ""), or says fallback when there are none.
func failedManifests(w *workv1.ManifestWork, fallback, reason string) string {
	var parts []string
	for _, m := range w.Status.ResourceStatus.Manifests {
		if c := meta.FindStatusCondition(m.Conditions, workv1.ManifestApplied); c != nil && c.Status == metav1.ConditionFalse && (reason == "" || c.Reason == reason) {
			parts = append(parts, fmt.Sprintf("%s %s: %s", m.ResourceMeta.Kind, objectName(m.ResourceMeta.Namespace, m.ResourceMeta.Name), c.Message))
			if len(parts) == 3 {
				break
			}
		}
	}
	if len(parts) == 0 {
		return fallback
	}
	return strings.Join(parts, "; ")
}

var fieldPath = regexp.MustCompile(`\.[A-Za-z0-9_\-\[\]\.]+`)

// driftedObjects reads the Drifted conditions the agent puts on manifests.
func driftedObjects(w *workv1.ManifestWork) []appsv1.DriftedObject {
	var out []appsv1.DriftedObject
	for _, m := range w.Status.ResourceStatus.Manifests {
		c := meta.FindStatusCondition(m.Conditions, appsv1.WorkConditionDrifted)
		if c == nil || c.Status != metav1.ConditionTrue {
			continue
		}
		rm := m.ResourceMeta
		d := appsv1.DriftedObject{ObjectReference: appsv1.ObjectReference{
			APIVersion: schema.GroupVersion{Group: rm.Group, Version: rm.Version}.String(),
			Kind:       rm.Kind, Namespace: rm.Namespace, Name: rm.Name,
		}}
		if strings.Contains(strings.ToLower(c.Message), "deleted") {
			d.Deleted = true
		} else {
			d.Fields = fieldPath.FindAllString(c.Message, 20)
		}
		out = append(out, d)
	}
	return out
}

// driftMessage is a one-line summary such as "Deployment default/web .spec.replicas".
func driftMessage(drift []appsv1.DriftedObject) string {
	var parts []string
	for _, d := range drift {
		what := strings.Join(d.Fields, ",")
		if d.Deleted {
			what = "deleted"
		}
		parts = append(parts, strings.TrimSpace(fmt.Sprintf("%s %s %s", d.Kind, objectName(d.Namespace, d.Name), what)))
	}
	return "drift: " + strings.Join(parts, "; ")
}

func objectName(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}
