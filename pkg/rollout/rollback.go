package rollout

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	workv1 "open-cluster-management.io/api/work/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

// Automatic rollback (spec.onRolloutFailure: Rollback), as pure functions.
// What a rollback needs survives a hub restart in two places:
//
//   - every ManifestWork carries, from the moment its content is written,
//     the last revision whose content was healthy on its cluster before
//     (appsv1.AnnotationRollbackRevision, see RollbackRevision);
//   - the Subscription's status.rollback records the revision that failed
//     and the content hashes that failed (StartRollback).
//
// The hub restores a cluster by rendering its rollback revision again from
// the source and writing that content, marked appsv1.AnnotationRolledBackFrom.
// While status.rollback is set, nothing new is sent (Holds) until the
// source gives content that did not fail.

// RollbackRevision is the revision to record on a cluster's new works
// (appsv1.AnnotationRollbackRevision): the revision of the works it holds
// now when they succeeded (healthy, or applied and available when the
// Subscription waits for Applied), else what they recorded themselves.
// Empty when the cluster never held healthy content.
func RollbackRevision(works []*workv1.ManifestWork, waitForHealth bool) string {
	live := slices.DeleteFunc(slices.Clone(works), func(w *workv1.ManifestWork) bool { return w.DeletionTimestamp != nil })
	if len(live) == 0 {
		return ""
	}
	healthy := true
	for _, w := range live {
		if s, _ := ReadWork(w).State(waitForHealth); s != Succeeded {
			healthy = false
		}
	}
	if rev := live[0].Annotations[appsv1.AnnotationRevision]; healthy && rev != "" {
		return rev
	}
	return live[0].Annotations[appsv1.AnnotationRollbackRevision]
}

// RollbackCluster is one cluster as a rollback sees it: what its live
// works carry.
type RollbackCluster struct {
	Name string
	// Hash, Revision, RollbackRevision and RolledBackFrom are the works'
	// annotations (content hash, the revision that produced the content,
	// the last revision healthy before it, the revision a restore undid).
	Hash             string
	Revision         string
	RollbackRevision string
	RolledBackFrom   string
	// Failing: the rollout counted the cluster as failed or timed out.
	Failing bool
	// Message says why it fails (its status message), for the cause.
	Message string
}

// ClusterFromWorks reads a RollbackCluster from a cluster's works; ok is
// false when it holds no live work.
func ClusterFromWorks(name string, works []*workv1.ManifestWork) (RollbackCluster, bool) {
	for _, w := range works {
		if w.DeletionTimestamp == nil {
			a := w.Annotations
			return RollbackCluster{
				Name: name, Hash: a[appsv1.AnnotationContentHash], Revision: a[appsv1.AnnotationRevision],
				RollbackRevision: a[appsv1.AnnotationRollbackRevision], RolledBackFrom: a[appsv1.AnnotationRolledBackFrom],
			}, true
		}
	}
	return RollbackCluster{}, false
}

// maxCauseClusters bounds the failing clusters a cause names.
const maxCauseClusters = 3

// StartRollback records a failed rollout. The revision that failed is the
// one that produced the failing clusters' content (when they hold content
// of several, the one most of them hold, then the first by name): a commit
// that changed nothing on them is not to blame. Every cluster holding
// content of that revision is to be restored. ok is false when no failing
// cluster holds content (nothing to roll back).
func StartRollback(clusters []RollbackCluster, now time.Time) (*appsv1.RollbackStatus, bool) {
	sorted := slices.SortedFunc(slices.Values(clusters), func(a, b RollbackCluster) int { return strings.Compare(a.Name, b.Name) })
	votes := map[string]int{}
	var first []string
	var causes []string
	for _, c := range sorted {
		if !c.Failing || c.Revision == "" {
			continue
		}
		if votes[c.Revision] == 0 {
			first = append(first, c.Revision)
		}
		votes[c.Revision]++
		if len(causes) < maxCauseClusters {
			causes = append(causes, c.Name+": "+cmp.Or(c.Message, "failed"))
		}
	}
	if len(first) == 0 {
		return nil, false
	}
	revision := first[0]
	for _, r := range first[1:] {
		if votes[r] > votes[revision] {
			revision = r
		}
	}
	failing := 0
	for _, v := range votes {
		failing += v
	}
	cause := strings.Join(causes, "; ")
	if failing > len(causes) {
		cause += fmt.Sprintf("; and %d more", failing-len(causes))
	}
	st := &appsv1.RollbackStatus{Revision: revision, Phase: appsv1.RollbackInProgress, Cause: cause, StartedAt: &metav1.Time{Time: now}}
	hashes := map[string]bool{}
	for _, c := range sorted {
		if c.Revision == revision {
			st.Clusters++
			if c.Hash != "" {
				hashes[c.Hash] = true
			}
		}
	}
	st.FailedContent = slices.Sorted(maps.Keys(hashes))
	if len(st.FailedContent) > appsv1.MaxFailedContent {
		// Renders that differ per cluster: the revision holds the rest.
		st.FailedContent = st.FailedContent[:appsv1.MaxFailedContent]
	}
	return st, true
}

// Holds reports whether a rollback still holds the Subscription: the
// source is still at the revision that failed, or gives some selected
// cluster content that failed (desired are the content hashes the latest
// revision gives the selected clusters). A commit or a spec change that
// gives other content everywhere releases it.
func Holds(st *appsv1.RollbackStatus, revision string, desired []string) bool {
	if st == nil {
		return false
	}
	if revision == st.Revision {
		return true
	}
	for _, h := range desired {
		if slices.Contains(st.FailedContent, h) {
			return true
		}
	}
	return false
}

// RollbackPlan is what to do next for a rollback.
type RollbackPlan struct {
	// Restore maps each revision to restore to the clusters that get it
	// back, sorted.
	Restore map[string][]string
	// Unrestorable names, sorted, the clusters that keep the failed
	// content, and refusals says why, for the message.
	Unrestorable []string
	refusals     []refusal
	// Status is status.rollback after the restores are written.
	Status appsv1.RollbackStatus
}

// refusal is why some clusters cannot be restored.
type refusal struct {
	why      string
	clusters []string
}

// noHealthyRevision is why a cluster with no recorded healthy revision
// keeps the failed content.
const noHealthyRevision = "no earlier revision was healthy there"

// PlanRollback decides which clusters still hold the failed revision's
// content and what each gets back: the revision its works recorded as last
// healthy. A cluster the hub already restored (its works name the failed
// revision as rolled back from) counts as restored.
func PlanRollback(st appsv1.RollbackStatus, clusters []RollbackCluster) RollbackPlan {
	p := RollbackPlan{Restore: map[string][]string{}, Status: st}
	p.Status.Restored = 0
	var none []string
	for _, c := range clusters {
		switch {
		case c.RolledBackFrom == st.Revision && c.Revision != st.Revision:
			p.Status.Restored++
		case c.Revision != st.Revision:
		case c.RollbackRevision == "" || c.RollbackRevision == st.Revision:
			none = append(none, c.Name)
		default:
			p.Restore[c.RollbackRevision] = append(p.Restore[c.RollbackRevision], c.Name)
		}
	}
	for _, names := range p.Restore {
		slices.Sort(names)
	}
	p.restoredRevisions(clusters)
	p.Refuse(none, noHealthyRevision)
	return p
}

// Refuse keeps clusters on the failed content, for why (e.g. the revision
// to restore renders that very content): they leave Restore and join
// Unrestorable, and the status says so.
func (p *RollbackPlan) Refuse(clusters []string, why string) {
	if len(clusters) > 0 {
		refused := slices.Sorted(slices.Values(clusters))
		p.refusals = append(p.refusals, refusal{why: why, clusters: refused})
		p.Unrestorable = slices.Compact(slices.Sorted(slices.Values(append(p.Unrestorable, refused...))))
		for rev, names := range p.Restore {
			names = slices.DeleteFunc(names, func(n string) bool { return slices.Contains(refused, n) })
			if len(names) == 0 {
				delete(p.Restore, rev)
			} else {
				p.Restore[rev] = names
			}
		}
	}
	p.Status.Unrestorable = int32(len(p.Unrestorable))
	p.Status.Phase = appsv1.RollbackDone
	if len(p.Restore) > 0 {
		p.Status.Phase = appsv1.RollbackInProgress
	}
	p.Status.Message = p.message()
}

// restoredRevisions lists the revisions restored or being restored.
func (p *RollbackPlan) restoredRevisions(clusters []RollbackCluster) {
	set := map[string]bool{}
	for _, c := range clusters {
		if c.RolledBackFrom == p.Status.Revision && c.Revision != p.Status.Revision {
			set[c.Revision] = true
		}
	}
	for rev := range p.Restore {
		set[rev] = true
	}
	p.Status.RestoredRevisions = mostFive(set)
}

// message says where the rollback stands in a sentence.
func (p RollbackPlan) message() string {
	st := p.Status
	pending := 0
	for _, names := range p.Restore {
		pending += len(names)
	}
	var msg string
	switch {
	case pending > 0:
		msg = fmt.Sprintf("rolling back %s: %d of %d clusters restored, %d being restored", st.Revision, st.Restored, st.Clusters, pending)
	case st.Restored > 0:
		msg = fmt.Sprintf("rolled back %s on %d of %d clusters to %s", st.Revision, st.Restored, st.Clusters, strings.Join(st.RestoredRevisions, ", "))
	default:
		msg = fmt.Sprintf("%s failed; no cluster could be rolled back", st.Revision)
	}
	for _, r := range p.refusals {
		msg += fmt.Sprintf("; %d keep the failed content, %s (%s)", len(r.clusters), r.why, listSome(r.clusters))
	}
	return msg
}

// mostFive lists up to five revisions, sorted.
func mostFive(set map[string]bool) []string {
	out := slices.Sorted(maps.Keys(set))
	if len(out) > 5 {
		out = out[:5]
	}
	return out
}
