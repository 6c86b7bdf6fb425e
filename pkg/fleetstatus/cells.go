package fleetstatus

import (
	"fmt"
	"net/url"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	workv1 "open-cluster-management.io/api/work/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/source"
)

// Class is what a view shows for one cluster of one Subscription: the few
// kinds of cell every view (get, trace, tree, the dashboard) colours alike.
// ClassOf is the one place that maps the hub's cluster states to them.
type Class string

// Classes of cells.
const (
	ClassHealthy     Class = "healthy"
	ClassProgressing Class = "progressing"
	ClassDegraded    Class = "degraded"
	ClassDrifted     Class = "drifted"
	ClassHeld        Class = "held"
	ClassStale       Class = "stale"
	ClassFailing     Class = "failing"
	ClassOffline     Class = "offline"
	// ClassUnknown: the hub's status does not say (a state this build does
	// not know, or a cluster left out of a long list).
	ClassUnknown Class = "unknown"
	// ClassNone: the Subscription does not go to the cluster.
	ClassNone Class = ""
)

// Classes lists the classes a cell can have, most in need of attention first.
func Classes() []Class {
	return []Class{ClassFailing, ClassDegraded, ClassOffline, ClassDrifted, ClassStale, ClassUnknown, ClassProgressing, ClassHeld, ClassHealthy}
}

// Rank orders classes by need of attention: lower is worse.
func (c Class) Rank() int {
	for i, x := range Classes() {
		if x == c {
			return i
		}
	}
	return len(Classes())
}

// ClassOf maps a cluster state of a Subscription's status to its class.
// States this build does not know yet show as unknown, never as healthy.
func ClassOf(s appsv1.ClusterState) Class {
	switch s {
	case appsv1.ClusterApplied:
		return ClassHealthy
	case appsv1.ClusterProgressing:
		return ClassProgressing
	case appsv1.ClusterPending:
		return ClassHeld
	case appsv1.ClusterDrifted:
		return ClassDrifted
	case appsv1.ClusterFailed:
		return ClassFailing
	case appsv1.ClusterOffline:
		return ClassOffline
	case appsv1.ClusterStale:
		return ClassStale
	case appsv1.ClusterHeld:
		return ClassHeld
	}
	// States the hub is growing (issue 14), by name until their constants
	// exist.
	switch s {
	case "Healthy":
		return ClassHealthy
	case "Degraded":
		return ClassDegraded
	}
	return ClassUnknown
}

// Counts sums a Subscription's summary by class.
func Counts(s appsv1.ClusterSummary) map[Class]int {
	m := map[Class]int{}
	add := func(c Class, n int32) {
		if n > 0 {
			m[c] += int(n)
		}
	}
	add(ClassHealthy, s.Applied)
	add(ClassProgressing, s.Progressing)
	add(ClassHeld, s.Pending)
	add(ClassDrifted, s.Drifted)
	add(ClassFailing, s.Failed)
	add(ClassOffline, s.Offline)
	add(ClassStale, s.Stale)
	add(ClassHeld, s.Held)
	return m
}

// CountsText lists the counts worst first, e.g. "1 failing, 2 healthy";
// "-" when there are none.
func CountsText(m map[Class]int) string {
	var parts []string
	for _, c := range Classes() {
		if m[c] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", m[c], c))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

// Cell is one cluster of one Subscription.
type Cell struct {
	Class Class `json:"class"`
	// State is the hub's own word for it; empty when implied (see At).
	State    appsv1.ClusterState    `json:"state,omitempty"`
	Revision string                 `json:"revision,omitempty"`
	Message  string                 `json:"message,omitempty"`
	Drift    []appsv1.DriftedObject `json:"drift,omitempty"`
	// Overrides are the other Subscriptions whose content for shared
	// objects loses to this one's there (the message says which objects).
	Overrides []string `json:"overrides,omitempty"`
}

// Label is the cell's short text: its class, or the hub's state when the
// class is unknown.
func (c Cell) Label() string {
	if c.Class == ClassUnknown && c.State != "" {
		return strings.ToLower(string(c.State))
	}
	return string(c.Class)
}

// WorkMeta is what a view knows of a cluster's ManifestWork of a
// Subscription from its metadata alone (no status).
type WorkMeta struct {
	// Exists says the cluster holds a work of the Subscription.
	Exists bool
	// RemovalHeld: the hub would remove the work but holds the removal.
	RemovalHeld bool
	// Revision is the revision the work carries.
	Revision string
}

// Cells reads the cells of one Subscription from its status. The status
// lists at most 100 clusters, those needing attention first; for the others
// the summary and the works tell: when every cluster that is not applied is
// listed, an unlisted cluster holding a work is applied.
type Cells struct {
	listed    map[string]appsv1.ClusterStatus
	truncated bool
	// complete: every selected cluster that is not applied is listed.
	complete bool
}

// NewCells indexes a Subscription's status.
func NewCells(st *appsv1.SubscriptionStatus) *Cells {
	c := &Cells{listed: make(map[string]appsv1.ClusterStatus, len(st.Clusters)), truncated: st.ClustersTruncated}
	notApplied := 0
	for _, cs := range st.Clusters {
		c.listed[cs.Name] = cs
		if cs.State != appsv1.ClusterApplied && cs.State != "Held" {
			notApplied++
		}
	}
	c.complete = int32(notApplied) >= st.Summary.Selected-st.Summary.Applied
	return c
}

// Listed reports whether the status names the cluster.
func (c *Cells) Listed(cluster string) bool {
	_, ok := c.listed[cluster]
	return ok
}

// At is the cell of one cluster, given what its work's metadata says.
func (c *Cells) At(cluster string, work WorkMeta) Cell {
	if cs, ok := c.listed[cluster]; ok {
		return cellOf(cs)
	}
	switch {
	case !work.Exists:
		return Cell{Class: ClassNone}
	case work.RemovalHeld:
		return Cell{Class: ClassHeld, Revision: work.Revision, Message: "no longer selected; the removal of its objects is held"}
	case c.truncated && c.complete:
		return Cell{Class: ClassHealthy, Revision: work.Revision}
	case c.truncated:
		return Cell{Class: ClassUnknown, Revision: work.Revision, Message: "not among the clusters the Subscription's status lists (it lists 100, those needing attention first)"}
	}
	return Cell{Class: ClassUnknown, Revision: work.Revision, Message: "holds a ManifestWork of the Subscription that its status does not list yet"}
}

// cellOf reads one status entry. The hub reports a work's Degraded
// condition as Failed with a "degraded: " message until it has a state of
// its own.
func cellOf(cs appsv1.ClusterStatus) Cell {
	cell := Cell{Class: ClassOf(cs.State), State: cs.State, Revision: cs.Revision, Message: cs.Message, Drift: cs.Drift, Overrides: cs.Overrides}
	if cs.State == appsv1.ClusterFailed && strings.HasPrefix(cs.Message, "degraded: ") {
		cell.Class = ClassDegraded
	}
	return cell
}

// ObjectCell is the cell of one object of a ManifestWork, from the
// conditions the agent reported for its manifest: apply, health
// (Progressing, Degraded, Available) and drift. No conditions: not reported.
func ObjectCell(conds []metav1.Condition) Cell {
	is := func(typ string, status metav1.ConditionStatus) (bool, string) {
		c := meta.FindStatusCondition(conds, typ)
		if c == nil || c.Status != status {
			return false, ""
		}
		return true, c.Message
	}
	for _, check := range []struct {
		typ    string
		status metav1.ConditionStatus
		class  Class
	}{
		{workv1.ManifestApplied, metav1.ConditionFalse, ClassFailing},
		{workv1.ManifestDegraded, metav1.ConditionTrue, ClassDegraded},
		{appsv1.WorkConditionDrifted, metav1.ConditionTrue, ClassDrifted},
		{workv1.ManifestProgressing, metav1.ConditionTrue, ClassProgressing},
		{workv1.ManifestAvailable, metav1.ConditionFalse, ClassProgressing},
	} {
		if ok, msg := is(check.typ, check.status); ok {
			return Cell{Class: check.class, Message: msg}
		}
	}
	if ok, _ := is(workv1.ManifestApplied, metav1.ConditionTrue); ok {
		return Cell{Class: ClassHealthy}
	}
	return Cell{Class: ClassProgressing, Message: "not reported by the cluster's agent yet"}
}

// CommitURL links a revision of a Git Channel to its commit on the forge:
// GitHub, GitLab, Gitea/Forgejo and Bitbucket, by spec.commitStatus.provider
// or the host name. "" when the revision is no commit or the forge unknown.
func CommitURL(ch *appsv1.Channel, revision string) string {
	sha, ok := source.CommitOf(revision)
	if !ok || ch == nil || ch.Spec.Type.Normalized() != appsv1.ChannelTypeGit {
		return ""
	}
	u, err := url.Parse(strings.TrimSpace(ch.Spec.Pathname))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), ".git")
	provider := ""
	if cs := ch.Spec.CommitStatus; cs != nil {
		provider = strings.ToLower(string(cs.Provider))
	}
	host := strings.ToLower(u.Hostname())
	switch {
	case provider == "github" || host == "github.com":
		return u.String() + "/commit/" + sha
	case provider == "gitlab" || host == "gitlab.com":
		return u.String() + "/-/commit/" + sha
	case provider == "bitbucket" || host == "bitbucket.org":
		return u.String() + "/commits/" + sha
	case provider == "gitea" || host == "codeberg.org":
		return u.String() + "/commit/" + sha
	}
	return ""
}
