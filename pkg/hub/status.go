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
	appsv1.ClusterDrifted:     1,
	appsv1.ClusterHeld:        2,
	appsv1.ClusterStale:       3,
	appsv1.ClusterOffline:     4,
	appsv1.ClusterProgressing: 5,
	appsv1.ClusterPending:     6,
	appsv1.ClusterApplied:     7,
}

// aggregate sums up the clusters' works into the Subscription's summary and its
// bounded per-cluster list.
func aggregate(views []clusterView, revision string) (appsv1.ClusterSummary, []appsv1.ClusterStatus, bool) {
	var sum appsv1.ClusterSummary
	statuses := make([]appsv1.ClusterStatus, 0, len(views))
	for _, v := range views {
		st := clusterStatus(v, revision)
		if st.State != appsv1.ClusterHeld {
			sum.Selected++
		}
		switch st.State {
		case appsv1.ClusterHeld:
			sum.Held++
		case appsv1.ClusterStale:
			sum.Stale++
		case appsv1.ClusterApplied:
			sum.Applied++
		case appsv1.ClusterProgressing:
			sum.Progressing++
		case appsv1.ClusterPending:
			sum.Pending++
		case appsv1.ClusterDrifted:
			sum.Drifted++
		case appsv1.ClusterFailed:
			sum.Failed++
		case appsv1.ClusterOffline:
			sum.Offline++
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
	truncated := len(statuses) > maxClusterEntries
	if truncated {
		statuses = statuses[:maxClusterEntries]
	}
	return sum, statuses, truncated
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
	st = fromWorks(st, v)
	if v.stale != "" && st.State == appsv1.ClusterApplied {
		st.State, st.Message = appsv1.ClusterStale, "holds "+source.ShortRevision(v.works[0].Annotations[appsv1.AnnotationRevision])+"; "+v.stale
	}
	return withRevision(st, v, revision)
}

// fromWorks is the worst state of a cluster's works, with their drift.
func fromWorks(st appsv1.ClusterStatus, v clusterView) appsv1.ClusterStatus {
	st.State = appsv1.ClusterApplied
	for _, w := range v.works {
		ws, msg, drift := workState(w, v.desiredHash)
		if severity[ws] < severity[st.State] {
			st.State, st.Message = ws, msg
		}
		st.Drift = append(st.Drift, drift...)
	}
	if len(st.Drift) > maxDriftEntries {
		st.Drift = st.Drift[:maxDriftEntries]
	}
	if st.State == appsv1.ClusterDrifted && st.Message == "" {
		st.Message = driftMessage(st.Drift)
	}
	return st
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

// workState reads the state of one ManifestWork.
func workState(w *workv1.ManifestWork, desiredHash string) (appsv1.ClusterState, string, []appsv1.DriftedObject) {
	if w.Annotations[appsv1.AnnotationContentHash] != desiredHash {
		return appsv1.ClusterProgressing, "ManifestWork is being updated", nil
	}
	conds := w.Status.Conditions
	applied := meta.FindStatusCondition(conds, workv1.WorkApplied)
	if applied == nil || applied.ObservedGeneration < w.Generation {
		return appsv1.ClusterProgressing, "waiting for the agent to apply", nil
	}
	if applied.Status == metav1.ConditionFalse {
		// Another work on the cluster applies an object with other content
		// and wins: the agent's message names it and its Subscription.
		if c := failedManifests(w, "", appsv1.ReasonManifestConflict); c != "" {
			return appsv1.ClusterFailed, "conflict: " + c, nil
		}
		return appsv1.ClusterFailed, "apply failed: " + failedManifests(w, applied.Message, ""), nil
	}
	if c := meta.FindStatusCondition(conds, workv1.WorkDegraded); c != nil && c.Status == metav1.ConditionTrue {
		return appsv1.ClusterFailed, "degraded: " + c.Message, nil
	}
	if c := meta.FindStatusCondition(conds, appsv1.WorkConditionDrifted); c != nil && c.Status == metav1.ConditionTrue {
		return appsv1.ClusterDrifted, "", driftedObjects(w)
	}
	if c := meta.FindStatusCondition(conds, workv1.WorkAvailable); c == nil || c.Status != metav1.ConditionTrue {
		return appsv1.ClusterProgressing, "applied, waiting for resources to become available", nil
	}
	return appsv1.ClusterApplied, "", nil
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
