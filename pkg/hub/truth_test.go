package hub_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/fleetstatus"
	"github.com/ocm-gitops/ocm-gitops/pkg/hub/commitstatus"
	"github.com/ocm-gitops/ocm-gitops/pkg/lab"
	"github.com/ocm-gitops/ocm-gitops/test/harness"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// channelReady reads fleet/<name>'s Ready condition and fetched refs.
func (e *env) channelReady(t *testing.T, name string) (metav1.Condition, []string) {
	t.Helper()
	ch := &appsv1.Channel{}
	if err := e.C.Get(e.Ctx, client.ObjectKey{Namespace: "fleet", Name: name}, ch); err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, a := range ch.Status.Artifacts {
		refs = append(refs, a.Ref)
	}
	c := meta.FindStatusCondition(ch.Status.Conditions, appsv1.ConditionReady)
	if c == nil {
		return metav1.Condition{}, refs
	}
	return *c, refs
}

// TestChannelReportsTheRefsInUse: a Channel's status is about the refs its
// Subscriptions ask for now. A bad branch stops being reported once the
// Subscription asking for it is fixed, and once the one asking for it is
// deleted.
func TestChannelReportsTheRefsInUse(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a control plane")
	}
	e := startHub(t, "east")
	repo := harness.NewFleet(t, map[string]string{"apps/web/cm.yaml": harness.ConfigMapYAML("web", "one")})
	e.Create(t, &appsv1.Channel{ObjectMeta: harness.Meta("fleet", "repo"), Spec: appsv1.ChannelSpec{Type: "Git", Pathname: repo.URL}})
	typo := func(name string) *appsv1.Subscription {
		s := harness.GitSubscription(name, "repo", "east")
		s.Annotations[appsv1.AnnotationGitPath] = "apps/web"
		s.Annotations[appsv1.AnnotationGitBranch] = "mian"
		return s
	}
	e.Create(t, typo("web"))
	failing := func(what string, quoting ...string) {
		t.Helper()
		quoting = append(quoting, "mian")
		poll.Eventually(t, 20*time.Second, what, func() error {
			if c, _ := e.channelReady(t, "repo"); c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, quoting[0]) {
				return fmt.Errorf("Ready %s: %s", c.Status, c.Message)
			}
			return nil
		})
	}
	healthy := func(what string) {
		t.Helper()
		poll.Eventually(t, 20*time.Second, what, func() error {
			c, refs := e.channelReady(t, "repo")
			if c.Status != metav1.ConditionTrue || strings.Contains(c.Message, "mian") || strings.Contains(strings.Join(refs, ","), "mian") ||
				strings.Contains(c.Message, "git-clone-depth") || strings.Contains(strings.Join(refs, ","), "depth:") {
				return fmt.Errorf("Ready %s: %s; refs %v", c.Status, c.Message, refs)
			}
			return nil
		})
	}
	failing("the bad branch reported")

	first := repo.Head(t)

	// Fixed: the Channel is Ready again, through pushes and forced fetches.
	e.update(t, "web", func(s *appsv1.Subscription) { s.Annotations[appsv1.AnnotationGitBranch] = "main" })
	healthy("the fixed branch alone reported")
	repo.Commit(t, "push", map[string]string{"apps/web/cm.yaml": harness.ConfigMapYAML("web", "two")})
	requestReconcile(t, e, &appsv1.Channel{ObjectMeta: harness.Meta("fleet", "repo")})
	healthy("still Ready after a forced fetch")

	// A second Subscription with the typo, deleted: the same.
	e.Create(t, typo("other"))
	failing("the other's bad branch reported")
	if err := e.C.Delete(e.Ctx, e.Subscription(t, "other")); err != nil {
		t.Fatal(err)
	}
	healthy("the deleted Subscription's branch no longer reported")

	// A depth failure: a pinned commit older than git-clone-depth reaches,
	// reported until the depth is fixed, then no more.
	deep := harness.GitSubscription("deep", "repo", "east")
	deep.Annotations[appsv1.AnnotationGitPath] = "apps/web"
	deep.Annotations[appsv1.AnnotationGitDesiredCommit] = first
	deep.Annotations[appsv1.AnnotationGitCloneDepth] = "1"
	e.Create(t, deep)
	failing("the depth failure reported", "git-clone-depth")
	e.update(t, "deep", func(s *appsv1.Subscription) { delete(s.Annotations, appsv1.AnnotationGitCloneDepth) })
	healthy("the old depth failure no longer reported")
	repo.Commit(t, "another push", map[string]string{"apps/web/cm.yaml": harness.ConfigMapYAML("web", "three")})
	requestReconcile(t, e, &appsv1.Channel{ObjectMeta: harness.Meta("fleet", "repo")})
	healthy("nor after a push and a forced fetch")
}

// views renders what every view shows of the hub: the lab table, the
// `ocm-gitops status` overview and JSON, and fleet/<sub>'s commit status on
// its deployed commit.
func (e *env) views(t *testing.T, sub string) (table, overview, js, commit string) {
	t.Helper()
	f, err := fleetstatus.Collect(e.Ctx, e.C)
	if err != nil {
		t.Fatal(err)
	}
	var a, b, c bytes.Buffer
	if err := lab.WriteFleetTable(&a, f); err != nil {
		t.Fatal(err)
	}
	if err := f.WriteOverview(&b, fleetstatus.OverviewOptions{MessageWidth: -1}); err != nil {
		t.Fatal(err)
	}
	if err := f.WriteJSON(&c); err != nil {
		t.Fatal(err)
	}
	state, desc := commitstatus.Aggregate(e.Subscription(t, sub))
	return a.String(), b.String(), c.String(), string(state) + " " + desc
}

// row is the line of fleet/<sub> in a table.
func row(table, sub string) string {
	for _, l := range strings.Split(table, "\n") {
		if strings.HasPrefix(l, "fleet/"+sub+" ") {
			return l
		}
	}
	return ""
}

// TestViewsShowFailingStaleAndHeld: a commit that does not render, a git-path
// that does not exist and a removal held by the deletion budget are shown as
// such, with the reason, in the Subscription's conditions and cluster
// entries, on the lab table's row and in its cells, in `ocm-gitops status`
// (table and JSON) and in the commit status, instead of "ok" everywhere or
// only "NoClustersSelected".
func TestViewsShowFailingStaleAndHeld(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a control plane")
	}
	e := startHub(t, "east", "west")
	repo := harness.NewFleet(t, map[string]string{"apps/web/cm.yaml": harness.ConfigMapYAML("web", "one")})
	e.Create(t, &appsv1.Channel{ObjectMeta: harness.Meta("fleet", "repo"), Spec: appsv1.ChannelSpec{Type: "Git", Pathname: repo.URL}})
	sub := harness.GitSubscription("web", "repo", "east", "west")
	sub.Annotations[appsv1.AnnotationGitPath] = "apps/web"
	e.Create(t, sub)
	poll.Eventually(t, 20*time.Second, "works written", func() error {
		if ws := e.Works(t, "web"); len(ws) != 2 {
			return fmt.Errorf("%d works", len(ws))
		}
		return nil
	})
	for _, w := range e.Works(t, "web") {
		e.report(t, w, "")
	}
	e.expectStatus(t, "web", "applied", func(s *appsv1.Subscription) error {
		if s.Status.Summary.Applied != 2 {
			return fmt.Errorf("summary %+v", s.Status.Summary)
		}
		return nil
	})

	stale := func(what, why string) {
		t.Helper()
		s := e.expectStatus(t, "web", what, func(s *appsv1.Subscription) error {
			if s.Status.Summary.Stale != 2 {
				return fmt.Errorf("summary %+v, clusters %+v", s.Status.Summary, s.Status.Clusters)
			}
			return nil
		})
		if c := conditionOf(s, appsv1.ConditionReady); c.Reason != appsv1.ReasonRenderFailed || !strings.Contains(c.Message, why) {
			t.Errorf("%s: Ready %s: %s", what, c.Reason, c.Message)
		}
		if c := conditionOf(s, appsv1.ConditionApplied); c.Reason != appsv1.ReasonStale {
			t.Errorf("%s: Applied %s: %s", what, c.Reason, c.Message)
		}
		// Plain YAML renders the same for every cluster: no cluster named.
		if c := conditionOf(s, appsv1.ConditionRendered); strings.Contains(c.Message, "cluster ") {
			t.Errorf("%s: the render error names a cluster it does not depend on: %s", what, c.Message)
		}
		table, overview, js, commit := e.views(t, "web")
		if r := row(table, "web"); strings.Count(r, "STALE") != 2 || !strings.Contains(r, "RenderFailed: ") || !strings.Contains(r, why) {
			t.Errorf("%s: lab table row %q", what, r)
		}
		if r := row(overview, "web"); !strings.Contains(r, "RenderFailed: ") || !strings.Contains(r, why) {
			t.Errorf("%s: status row %q", what, r)
		}
		if !strings.Contains(js, `"east": "Stale"`) || !strings.Contains(js, `"stale": 2`) {
			t.Errorf("%s: status JSON lacks the stale clusters:\n%s", what, js)
		}
		if !strings.Contains(commit, "stale: ") {
			t.Errorf("%s: commit status %q", what, commit)
		}
	}

	// The latest commit does not render.
	repo.Commit(t, "broken", map[string]string{"apps/web/bad.yaml": "kind: [unclosed\n"})
	requestReconcile(t, e, &appsv1.Channel{ObjectMeta: harness.Meta("fleet", "repo")})
	stale("a commit that does not render", "apps/web/bad.yaml")
	repo.Commit(t, "fixed", map[string]string{"apps/web/bad.yaml": ""})
	requestReconcile(t, e, &appsv1.Channel{ObjectMeta: harness.Meta("fleet", "repo")})
	e.expectStatus(t, "web", "fixed", func(s *appsv1.Subscription) error {
		if s.Status.Summary.Stale != 0 || conditionOf(s, appsv1.ConditionRendered).Status != metav1.ConditionTrue {
			return fmt.Errorf("summary %+v", s.Status.Summary)
		}
		return nil
	})

	// A git-path that does not exist: the old path stays deployed, stale.
	e.update(t, "web", func(s *appsv1.Subscription) { s.Annotations[appsv1.AnnotationGitPath] = "apps/wbe" })
	stale("a git-path that does not exist", "apps/wbe")
	e.update(t, "web", func(s *appsv1.Subscription) { s.Annotations[appsv1.AnnotationGitPath] = "apps/web" })

	// The placement drops both clusters: more than the deletion budget.
	e.update(t, "web", func(s *appsv1.Subscription) {
		s.Spec.Placement = &appsv1.Placement{ClusterSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "nowhere"}}}
	})
	s := e.expectStatus(t, "web", "the removal held", func(s *appsv1.Subscription) error {
		if s.Status.Summary.Held != 2 || conditionOf(s, appsv1.ConditionReady).Reason != appsv1.ReasonDeletionHeld {
			return fmt.Errorf("summary %+v, Ready %s", s.Status.Summary, conditionOf(s, appsv1.ConditionReady).Reason)
		}
		return nil
	})
	for _, c := range s.Status.Clusters {
		if c.State != appsv1.ClusterHeld || !strings.Contains(c.Message, "deletion budget") {
			t.Errorf("cluster entry %+v", c)
		}
	}
	table, overview, js, commit := e.views(t, "web")
	if r := row(table, "web"); strings.Count(r, "HELD") != 2 || !strings.Contains(r, "DeletionBudgetExceeded: ") || !strings.Contains(r, appsv1.AnnotationConfirmDeletion) {
		t.Errorf("lab table row %q", r)
	}
	if r := row(overview, "web"); !strings.Contains(r, "DeletionBudgetExceeded: ") || strings.Contains(r, appsv1.ReasonNoClusters) {
		t.Errorf("status row %q", r)
	}
	if !strings.Contains(js, `"west": "Held"`) {
		t.Errorf("status JSON lacks the held clusters:\n%s", js)
	}
	if !strings.HasPrefix(commit, "pending ") || !strings.Contains(commit, "held") {
		t.Errorf("commit status %q", commit)
	}
}
