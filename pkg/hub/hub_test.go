package hub_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	workv1 "open-cluster-management.io/api/work/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/apis/scheme"
	"github.com/ocm-gitops/ocm-gitops/pkg/egress"
	"github.com/ocm-gitops/ocm-gitops/pkg/hub"
	"github.com/ocm-gitops/ocm-gitops/pkg/lab"
	"github.com/ocm-gitops/ocm-gitops/pkg/registration"
	"github.com/ocm-gitops/ocm-gitops/pkg/tenancy"
	"github.com/ocm-gitops/ocm-gitops/test/harness"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// env is the hub under test with the test harness's helpers.
type env struct {
	*harness.Hub
}

func startHub(t *testing.T, clusters ...string) *env {
	t.Helper()
	return startHubWith(t, nil, clusters...)
}

// startHubWith starts a hub whose options configure may change (nil keeps
// the defaults: channel and subscription controllers, real clock).
func startHubWith(t *testing.T, configure func(*hub.Options), clusters ...string) *env {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	assets, err := lab.FindAssets("")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cp, err := lab.StartControlPlane(ctx, "hub", lab.RoleHub, assets)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cp.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	// fleet is a platform namespace: its direct placement reaches any cluster.
	namespaces := []client.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "fleet", Labels: map[string]string{tenancy.LabelTenant: "false"}}}}
	for _, name := range clusters {
		namespaces = append(namespaces, registration.ClusterNamespace(name))
	}
	for _, ns := range namespaces {
		if err := c.Create(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range clusters {
		mc := &clusterv1.ManagedCluster{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"env": "test"}},
			Spec: clusterv1.ManagedClusterSpec{HubAcceptsClient: true}}
		if err := c.Create(ctx, mc); err != nil {
			t.Fatal(err)
		}
	}
	opts := hub.Options{
		Controllers: []string{"channel", "subscription"},
		CacheDir:    t.TempDir(),
		Logger:      testr.NewWithOptions(t, testr.Options{Verbosity: 0}),
		MetricsAddr: "0", HealthAddr: "0",
		AllowNetworks: egress.Loopback(),
	}
	if configure != nil {
		configure(&opts)
	}
	done := make(chan error, 1)
	go func() {
		done <- hub.Run(ctx, cp.Config, opts)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("hub stopped with error: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("hub did not stop within 30s")
		}
		_ = cp.Stop()
	})
	return &env{&harness.Hub{C: c, Ctx: ctx}}
}

// report sets a work's status as an agent would after applying it.
func (e *env) report(t *testing.T, w *workv1.ManifestWork, drifted string) {
	t.Helper()
	fresh := &workv1.ManifestWork{}
	if err := e.C.Get(e.Ctx, client.ObjectKeyFromObject(w), fresh); err != nil {
		t.Fatal(err)
	}
	cond := func(typ string, ok bool, reason, msg string) metav1.Condition {
		s := metav1.ConditionTrue
		if !ok {
			s = metav1.ConditionFalse
		}
		return metav1.Condition{Type: typ, Status: s, Reason: reason, Message: msg, ObservedGeneration: fresh.Generation, LastTransitionTime: metav1.Now()}
	}
	fresh.Status.Conditions = []metav1.Condition{
		cond(workv1.WorkApplied, true, "AppliedManifestWorkComplete", "applied"),
		cond(workv1.WorkAvailable, true, "ResourcesAvailable", "available"),
	}
	fresh.Status.ResourceStatus.Manifests = nil
	if drifted != "" {
		fresh.Status.Conditions = append(fresh.Status.Conditions, cond(appsv1.WorkConditionDrifted, true, "DriftDetected", "1 of 1 manifests drifted"))
		fresh.Status.ResourceStatus.Manifests = []workv1.ManifestCondition{{
			ResourceMeta: workv1.ManifestResourceMeta{Version: "v1", Kind: "ConfigMap", Resource: "configmaps", Namespace: "apps", Name: "settings"},
			Conditions:   []metav1.Condition{cond(appsv1.WorkConditionDrifted, true, "DriftDetected", drifted)},
		}}
	}
	if err := e.C.Status().Update(e.Ctx, fresh); err != nil {
		t.Fatal(err)
	}
}

func conditionOf(sub *appsv1.Subscription, typ string) metav1.Condition {
	if c := meta.FindStatusCondition(sub.Status.Conditions, typ); c != nil {
		return *c
	}
	return metav1.Condition{}
}

// TestSubscriptionLifecycle walks one Subscription through the whole hub loop
// on a real API server and a real Git server: first deploy, status from the
// agents, a pushed change, a broken commit, drift, a cluster leaving the
// placement, and deletion.
func TestSubscriptionLifecycle(t *testing.T) {
	e := startHub(t, "east", "west", "north")
	repo := harness.NewFleet(t, map[string]string{
		"apps/settings/cm.yaml": harness.ConfigMapYAML("settings", "one"),
		"README.md":             "not deployed",
	})
	ch := &appsv1.Channel{ObjectMeta: metav1.ObjectMeta{Name: "repo", Namespace: "fleet"},
		Spec: appsv1.ChannelSpec{Type: "Git", Pathname: repo.URL}}
	sub := &appsv1.Subscription{
		ObjectMeta: metav1.ObjectMeta{Name: "settings", Namespace: "fleet", Annotations: map[string]string{
			appsv1.AnnotationGitPath: "apps/settings", appsv1.AnnotationGitBranch: "main",
		}},
		Spec: appsv1.SubscriptionSpec{Channel: "fleet/repo", Placement: &appsv1.Placement{
			Clusters: []appsv1.GenericClusterReference{{Name: "east"}, {Name: "west"}},
		}},
	}
	for _, o := range []client.Object{ch, sub} {
		if err := e.C.Create(e.Ctx, o); err != nil {
			t.Fatal(err)
		}
	}

	// One work per selected cluster, none for the unselected one.
	poll.Eventually(t, 20*time.Second, "works for east and west", func() error {
		ws := e.Works(t, "settings")
		if len(ws) != 2 || ws["east"] == nil || ws["west"] == nil {
			return fmt.Errorf("works in %v", keys(ws))
		}
		return nil
	})
	first := e.Works(t, "settings")["east"]
	// The ConfigMap's namespace is not in Git: the work carries it first.
	if n := len(first.Spec.Workload.Manifests); n != 2 {
		t.Fatalf("work has %d manifests, want 2", n)
	}
	if !strings.Contains(string(first.Spec.Workload.Manifests[1].Raw), `"value":"one"`) {
		t.Fatalf("manifest lacks the committed value: %s", first.Spec.Workload.Manifests[1].Raw)
	}
	if first.Name != "fleet.settings" || !strings.HasPrefix(first.Annotations[appsv1.AnnotationRevision], "main@sha1:") {
		t.Fatalf("work name %q / revision %q", first.Name, first.Annotations[appsv1.AnnotationRevision])
	}
	poll.Eventually(t, 10*time.Second, "channel reports the fetched ref", func() error {
		got := &appsv1.Channel{}
		if err := e.C.Get(e.Ctx, client.ObjectKeyFromObject(ch), got); err != nil {
			return err
		}
		if len(got.Status.Artifacts) != 1 || got.Status.Artifacts[0].Ref != "branch:main" ||
			got.Status.Artifacts[0].Revision != first.Annotations[appsv1.AnnotationRevision] {
			return fmt.Errorf("artifacts %+v", got.Status.Artifacts)
		}
		if c := meta.FindStatusCondition(got.Status.Conditions, appsv1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("Ready %+v", c)
		}
		return nil
	})
	poll.Eventually(t, 10*time.Second, "progressing status", func() error {
		s := e.Subscription(t, "settings")
		if s.Status.Summary.Selected != 2 || s.Status.Summary.Progressing != 2 {
			return fmt.Errorf("summary %+v", s.Status.Summary)
		}
		if c := conditionOf(s, appsv1.ConditionReady); c.Status != metav1.ConditionFalse {
			return fmt.Errorf("Ready = %s", c.Status)
		}
		return nil
	})

	// Agents report: the Subscription becomes Ready and records the commit.
	for _, w := range e.Works(t, "settings") {
		e.report(t, w, "")
	}
	poll.Eventually(t, 10*time.Second, "applied status", func() error {
		s := e.Subscription(t, "settings")
		if s.Status.Summary.Applied != 2 {
			return fmt.Errorf("summary %+v", s.Status.Summary)
		}
		if c := conditionOf(s, appsv1.ConditionReady); c.Status != metav1.ConditionTrue {
			return fmt.Errorf("Ready = %s: %s", c.Status, c.Message)
		}
		if s.Annotations[appsv1.AnnotationGitCurrentCommit] == "" {
			return fmt.Errorf("git-current-commit not recorded")
		}
		return nil
	})

	// A pushed change reaches every work, once the channel is asked to refresh.
	repo.Commit(t, "change", map[string]string{"apps/settings/cm.yaml": harness.ConfigMapYAML("settings", "two")})
	requestReconcile(t, e, ch)
	poll.Eventually(t, 20*time.Second, "works carry the new value", func() error {
		for cluster, w := range e.Works(t, "settings") {
			if !harness.ManifestsContain(w, `"value":"two"`) {
				return fmt.Errorf("%s still has %s", cluster, w.Spec.Workload.Manifests[1].Raw)
			}
		}
		return nil
	})

	// A commit that changes nothing deployed does not rewrite the works.
	before := e.Works(t, "settings")["east"].ResourceVersion
	repo.Commit(t, "docs", map[string]string{"README.md": "still not deployed"})
	requestReconcile(t, e, ch)
	poll.Eventually(t, 20*time.Second, "new revision attempted", func() error {
		s := e.Subscription(t, "settings")
		if !strings.HasSuffix(s.Status.LastAttemptedRevision, repo.Head(t)) {
			return fmt.Errorf("last attempted %s", s.Status.LastAttemptedRevision)
		}
		return nil
	})
	if after := e.Works(t, "settings")["east"].ResourceVersion; after != before {
		t.Fatalf("an unchanged render rewrote the work (resourceVersion %s -> %s)", before, after)
	}

	// A broken commit is reported with its file and leaves the works alone.
	good := e.Works(t, "settings")["east"].Annotations[appsv1.AnnotationContentHash]
	repo.Commit(t, "broken", map[string]string{"apps/settings/bad.yaml": "kind: [unclosed\n"})
	requestReconcile(t, e, ch)
	poll.Eventually(t, 20*time.Second, "render failure reported", func() error {
		c := conditionOf(e.Subscription(t, "settings"), appsv1.ConditionRendered)
		if c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, "apps/settings/bad.yaml") {
			return fmt.Errorf("Rendered = %s: %s", c.Status, c.Message)
		}
		return nil
	})
	for cluster, w := range e.Works(t, "settings") {
		if w.Annotations[appsv1.AnnotationContentHash] != good {
			t.Fatalf("broken commit changed the work in %s", cluster)
		}
	}
	repo.Commit(t, "fix", map[string]string{"apps/settings/bad.yaml": ""})
	requestReconcile(t, e, ch)

	// Drift reported by an agent reaches the Subscription with its fields.
	poll.Eventually(t, 20*time.Second, "render recovered", func() error {
		if c := conditionOf(e.Subscription(t, "settings"), appsv1.ConditionRendered); c.Status != metav1.ConditionTrue {
			return fmt.Errorf("Rendered = %s: %s", c.Status, c.Message)
		}
		return nil
	})
	e.report(t, e.Works(t, "settings")["west"], ".data.value")
	poll.Eventually(t, 10*time.Second, "drift in status", func() error {
		s := e.Subscription(t, "settings")
		c := conditionOf(s, appsv1.ConditionDrifted)
		if c.Status != metav1.ConditionTrue || s.Status.Summary.Drifted != 1 {
			return fmt.Errorf("Drifted = %s, summary %+v", c.Status, s.Status.Summary)
		}
		if s.Status.Clusters[0].Name != "west" || len(s.Status.Clusters[0].Drift) != 1 ||
			s.Status.Clusters[0].Drift[0].Fields[0] != ".data.value" {
			return fmt.Errorf("cluster entries %+v", s.Status.Clusters)
		}
		return nil
	})
	poll.Eventually(t, 10*time.Second, "events for the broken commit and the drift", func() error {
		seen := e.eventCounts(t, "settings")
		if seen[appsv1.ReasonRenderFailed] != 1 || seen[appsv1.ReasonDriftDetected] != 1 {
			return fmt.Errorf("events by reason: %v", seen)
		}
		return nil
	})

	// A cluster leaving the placement loses its work.
	patch := client.MergeFrom(e.Subscription(t, "settings"))
	updated := e.Subscription(t, "settings")
	updated.Spec.Placement.Clusters = []appsv1.GenericClusterReference{{Name: "east"}}
	if err := e.C.Patch(e.Ctx, updated, patch); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 10*time.Second, "west's work removed", func() error {
		if ws := e.Works(t, "settings"); len(ws) != 1 || ws["east"] == nil {
			return fmt.Errorf("works in %v", keys(ws))
		}
		return nil
	})

	// Deleting the Subscription takes its objects off every cluster it still
	// holds (one of one), beyond the default budget: the hub waits for the
	// confirmation the condition asks for, then removes its works and lets
	// the Subscription go.
	if err := e.C.Delete(e.Ctx, e.Subscription(t, "settings")); err != nil {
		t.Fatal(err)
	}
	e.confirmDeletion(t, "settings", 1)
	poll.Eventually(t, 10*time.Second, "cleanup", func() error {
		if ws := e.Works(t, "settings"); len(ws) != 0 {
			return fmt.Errorf("works left in %v", keys(ws))
		}
		err := e.C.Get(e.Ctx, client.ObjectKey{Namespace: "fleet", Name: "settings"}, &appsv1.Subscription{})
		if client.IgnoreNotFound(err) != nil || err == nil {
			return fmt.Errorf("subscription still there (%v)", err)
		}
		return nil
	})
}

// TestPinnedCommitIsRecorded: a Subscription pinned with git-desired-commit
// deploys that commit, not the branch head, and gets OCM's
// git-current-commit annotation like any other.
func TestPinnedCommitIsRecorded(t *testing.T) {
	e := startHub(t, "east")
	repo := harness.NewFleet(t, map[string]string{"apps/settings/cm.yaml": harness.ConfigMapYAML("settings", "one")})
	pinned := repo.Head(t)
	repo.Commit(t, "later", map[string]string{"apps/settings/cm.yaml": harness.ConfigMapYAML("settings", "two")})
	e.Create(t, &appsv1.Channel{ObjectMeta: harness.Meta("fleet", "repo"), Spec: appsv1.ChannelSpec{Type: "Git", Pathname: repo.URL}})
	sub := harness.GitSubscription("settings", "repo", "east")
	delete(sub.Annotations, appsv1.AnnotationGitBranch)
	sub.Annotations[appsv1.AnnotationGitDesiredCommit] = pinned
	e.Create(t, sub)
	poll.Eventually(t, 20*time.Second, "the pinned commit deployed and recorded", func() error {
		w := e.Works(t, "settings")["east"]
		if w == nil || !harness.ManifestsContain(w, `"value":"one"`) {
			return fmt.Errorf("work %v", w)
		}
		s := e.Subscription(t, "settings")
		if s.Status.LastAppliedRevision != "sha1:"+pinned {
			return fmt.Errorf("lastAppliedRevision %q", s.Status.LastAppliedRevision)
		}
		if got := s.Annotations[appsv1.AnnotationGitCurrentCommit]; got != pinned {
			return fmt.Errorf("git-current-commit %q, want %s", got, pinned)
		}
		return nil
	})
}

// TestMissingChannelIsReported checks a Subscription naming no Channel gets a
// condition that says what to fix, and one event.
func TestMissingChannelIsReported(t *testing.T) {
	e := startHub(t, "east")
	sub := &appsv1.Subscription{
		ObjectMeta: metav1.ObjectMeta{Name: "orphan", Namespace: "fleet"},
		Spec: appsv1.SubscriptionSpec{Channel: "fleet/nowhere", Placement: &appsv1.Placement{
			Clusters: []appsv1.GenericClusterReference{{Name: "east"}},
		}},
	}
	if err := e.C.Create(e.Ctx, sub); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 10*time.Second, "SourceReady False", func() error {
		c := conditionOf(e.Subscription(t, "orphan"), appsv1.ConditionSourceReady)
		if c.Reason != appsv1.ReasonChannelNotFound || !strings.Contains(c.Message, "fleet/nowhere") {
			return fmt.Errorf("SourceReady %s/%s: %s", c.Status, c.Reason, c.Message)
		}
		return nil
	})
	if ws := e.Works(t, "orphan"); len(ws) != 0 {
		t.Fatalf("works written without a source: %v", keys(ws))
	}
	poll.Eventually(t, 10*time.Second, "a ChannelNotFound event", func() error {
		if n := e.eventCounts(t, "orphan")[appsv1.ReasonChannelNotFound]; n != 1 {
			return fmt.Errorf("%d ChannelNotFound events", n)
		}
		return nil
	})
}

// eventCounts counts the events about fleet/<name> by reason, a series as
// the times it happened.
func (e *env) eventCounts(t *testing.T, name string) map[string]int {
	t.Helper()
	var events eventsv1.EventList
	if err := e.C.List(e.Ctx, &events, client.InNamespace("fleet")); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, ev := range events.Items {
		if ev.Regarding.Name != name {
			continue
		}
		n := 1
		if ev.Series != nil {
			n = int(ev.Series.Count)
		}
		seen[ev.Reason] += n
	}
	return seen
}

func requestReconcile(t *testing.T, e *env, ch *appsv1.Channel) {
	t.Helper()
	fresh := &appsv1.Channel{}
	if err := e.C.Get(e.Ctx, client.ObjectKeyFromObject(ch), fresh); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(fresh.DeepCopy())
	if fresh.Annotations == nil {
		fresh.Annotations = map[string]string{}
	}
	fresh.Annotations[appsv1.AnnotationReconcileRequestedAt] = time.Now().UTC().Format(time.RFC3339Nano)
	if err := e.C.Patch(e.Ctx, fresh, patch); err != nil {
		t.Fatal(err)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestMain(m *testing.M) {
	// controller-runtime's caches log through its global logger.
	ctrl.SetLogger(logr.Discard())
	os.Exit(m.Run())
}

// TestLocalGitRefusedByDefault checks a Channel cannot make the hub read its
// own disk unless the hub was started with AllowLocalGit.
func TestLocalGitRefusedByDefault(t *testing.T) {
	e := startHub(t, "east")
	ch := &appsv1.Channel{ObjectMeta: metav1.ObjectMeta{Name: "disk", Namespace: "fleet"},
		Spec: appsv1.ChannelSpec{Type: "Git", Pathname: "file:///etc"}}
	sub := &appsv1.Subscription{
		ObjectMeta: metav1.ObjectMeta{Name: "snoop", Namespace: "fleet"},
		Spec: appsv1.SubscriptionSpec{Channel: "fleet/disk", Placement: &appsv1.Placement{
			Clusters: []appsv1.GenericClusterReference{{Name: "east"}},
		}},
	}
	for _, o := range []client.Object{ch, sub} {
		if err := e.C.Create(e.Ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	poll.Eventually(t, 10*time.Second, "SourceReady False", func() error {
		c := conditionOf(e.Subscription(t, "snoop"), appsv1.ConditionSourceReady)
		if c.Reason != appsv1.ReasonInvalidSpec || !strings.Contains(c.Message, "--allow-local-git") {
			return fmt.Errorf("SourceReady %s/%s: %s", c.Status, c.Reason, c.Message)
		}
		return nil
	})
	if ws := e.Works(t, "snoop"); len(ws) != 0 {
		t.Fatalf("works written from the hub's disk: %v", keys(ws))
	}
}
