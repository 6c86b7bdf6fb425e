package hub_test

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1alpha1 "open-cluster-management.io/api/cluster/v1alpha1"
	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"
	workv1 "open-cluster-management.io/api/work/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/gitprovider"
	"github.com/ocm-gitops/ocm-gitops/pkg/hub"
	"github.com/ocm-gitops/ocm-gitops/pkg/hub/commitstatus"
	"github.com/ocm-gitops/ocm-gitops/test/harness"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// shiftedClock is the real clock moved by an offset: the hub's time keeps
// running, so real timestamps (creation, writes) stay in order with it, while
// the test jumps minutes, hours or days ahead. Simulated agent reports that
// start a timer are stamped with its Now.
type shiftedClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *shiftedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *shiftedClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

func (c *shiftedClock) Step(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

func (c *shiftedClock) SetTo(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset = time.Until(t)
}

// startHubAt starts a hub on clusters named by names, with a clock the test moves.
func startHubAt(t *testing.T, clk *shiftedClock, controllers []string, clusters ...string) *env {
	t.Helper()
	return startHubWith(t, func(o *hub.Options) {
		o.Clock = clk
		if controllers != nil {
			o.Controllers = controllers
		}
	}, clusters...)
}

// appSubscription deploys apps/<path> of the fleet's repo to the listed clusters.
func appSubscription(e *env, t *testing.T, url, name, path string, clusters []string, configure func(*appsv1.Subscription)) {
	t.Helper()
	if err := e.C.Get(e.Ctx, client.ObjectKey{Namespace: "fleet", Name: "repo"}, &appsv1.Channel{}); err != nil {
		ch := &appsv1.Channel{ObjectMeta: metav1.ObjectMeta{Name: "repo", Namespace: "fleet"}, Spec: appsv1.ChannelSpec{Type: "Git", Pathname: url}}
		if err := e.C.Create(e.Ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	sub := &appsv1.Subscription{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "fleet", Annotations: map[string]string{
			appsv1.AnnotationGitPath: path, appsv1.AnnotationGitBranch: "main",
		}},
		Spec: appsv1.SubscriptionSpec{Channel: "fleet/repo", Placement: &appsv1.Placement{}},
	}
	for _, c := range clusters {
		sub.Spec.Placement.Clusters = append(sub.Spec.Placement.Clusters, appsv1.GenericClusterReference{Name: c})
	}
	if configure != nil {
		configure(sub)
	}
	if err := e.C.Create(e.Ctx, sub); err != nil {
		t.Fatal(err)
	}
}

// update changes a Subscription with a merge patch.
func (e *env) update(t *testing.T, name string, change func(*appsv1.Subscription)) {
	t.Helper()
	sub := e.Subscription(t, name)
	patch := client.MergeFrom(sub.DeepCopy())
	change(sub)
	if err := e.C.Patch(e.Ctx, sub, patch); err != nil {
		t.Fatal(err)
	}
}

// nudge makes the hub reconcile a Subscription now, as a timer would: the
// test clock jumps, the controller's own timers do not.
func (e *env) nudge(t *testing.T, name string) {
	t.Helper()
	e.update(t, name, func(s *appsv1.Subscription) {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations["test.ocm-gitops.io/nudge"] = time.Now().Format(time.RFC3339Nano)
	})
}

// reportAt reports a work applied and available since at, on the test's clock.
func (e *env) reportAt(t *testing.T, w *workv1.ManifestWork, at time.Time) {
	t.Helper()
	fresh := &workv1.ManifestWork{}
	if err := e.C.Get(e.Ctx, client.ObjectKeyFromObject(w), fresh); err != nil {
		t.Fatal(err)
	}
	fresh.Status.Conditions = []metav1.Condition{
		{Type: workv1.WorkApplied, Status: metav1.ConditionTrue, Reason: "Applied", ObservedGeneration: fresh.Generation, LastTransitionTime: metav1.NewTime(at)},
		{Type: workv1.WorkAvailable, Status: metav1.ConditionTrue, Reason: "Available", ObservedGeneration: fresh.Generation, LastTransitionTime: metav1.NewTime(at)},
	}
	if err := e.C.Status().Update(e.Ctx, fresh); err != nil {
		t.Fatal(err)
	}
}

// fail reports a work as an agent whose apply failed.
func (e *env) fail(t *testing.T, w *workv1.ManifestWork, msg string) {
	t.Helper()
	fresh := &workv1.ManifestWork{}
	if err := e.C.Get(e.Ctx, client.ObjectKeyFromObject(w), fresh); err != nil {
		t.Fatal(err)
	}
	fresh.Status.Conditions = []metav1.Condition{{Type: workv1.WorkApplied, Status: metav1.ConditionFalse, Reason: "AppliedManifestWorkFailed",
		Message: msg, ObservedGeneration: fresh.Generation, LastTransitionTime: metav1.Now()}}
	if err := e.C.Status().Update(e.Ctx, fresh); err != nil {
		t.Fatal(err)
	}
}

// expectWorks waits until exactly the named clusters hold a work of sub.
func (e *env) expectWorks(t *testing.T, sub string, clusters ...string) map[string]*workv1.ManifestWork {
	t.Helper()
	slices.Sort(clusters)
	var ws map[string]*workv1.ManifestWork
	poll.Eventually(t, 20*time.Second, fmt.Sprintf("works of %s in %v", sub, clusters), func() error {
		ws = e.Works(t, sub)
		if got := sortedKeys(ws); !slices.Equal(got, clusters) {
			return fmt.Errorf("works in %v", got)
		}
		return nil
	})
	return ws
}

// expectStatus waits until check accepts the Subscription.
func (e *env) expectStatus(t *testing.T, name, what string, check func(*appsv1.Subscription) error) *appsv1.Subscription {
	t.Helper()
	var sub *appsv1.Subscription
	poll.Eventually(t, 20*time.Second, what, func() error {
		sub = e.Subscription(t, name)
		return check(sub)
	})
	return sub
}

var confirmation = regexp.MustCompile(regexp.QuoteMeta(appsv1.AnnotationConfirmDeletion) + `=([0-9a-f]+)`)

// confirmDeletion waits for the deletion budget to hold a removal from n
// clusters, then gives the confirmation its condition asks for.
func (e *env) confirmDeletion(t *testing.T, name string, n int) {
	t.Helper()
	var token string
	e.expectStatus(t, name, "removal held by the deletion budget", func(s *appsv1.Subscription) error {
		c := conditionOf(s, appsv1.ConditionDeletionHeld)
		m := confirmation.FindStringSubmatch(c.Message)
		if c.Status != metav1.ConditionTrue || c.Reason != appsv1.ReasonDeletionHeld || m == nil ||
			!strings.Contains(c.Message, fmt.Sprintf("from %d of", n)) {
			return fmt.Errorf("DeletionHeld = %s/%s: %s", c.Status, c.Reason, c.Message)
		}
		token = m[1]
		return nil
	})
	e.update(t, name, func(s *appsv1.Subscription) {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations[appsv1.AnnotationConfirmDeletion] = token
	})
}

func sortedKeys[V any](m map[string]V) []string {
	out := keys(m)
	slices.Sort(out)
	return out
}

func hashes(ws map[string]*workv1.ManifestWork) map[string]string {
	out := map[string]string{}
	for c, w := range ws {
		out[c] = w.Annotations[appsv1.AnnotationContentHash]
	}
	return out
}

// TestProgressiveRolloutStopsBeyondMaxFailures sends a revision to two
// clusters at a time and stops once more clusters failed than maxFailures
// allows; a second Subscription stops on a cluster that never answers within
// progressDeadline. Both failures show in the status the commit status is
// made from.
func TestProgressiveRolloutStopsBeyondMaxFailures(t *testing.T) {
	clk := &shiftedClock{}
	e := startHubAt(t, clk, nil, "c1", "c2", "c3", "c4", "c5")
	repo := harness.NewFleet(t, map[string]string{"apps/app/cm.yaml": harness.ConfigMapYAML("app", "one")})
	appSubscription(e, t, repo.URL, "app", "apps/app", []string{"c1", "c2", "c3", "c4", "c5"}, func(s *appsv1.Subscription) {
		s.Spec.RolloutStrategy = &clusterv1alpha1.RolloutStrategy{Type: clusterv1alpha1.Progressive, Progressive: &clusterv1alpha1.RolloutProgressive{
			RolloutConfig:  clusterv1alpha1.RolloutConfig{MaxFailures: intstr.FromInt32(1), ProgressDeadline: "None"},
			MaxConcurrency: intstr.FromInt32(2),
		}}
	})

	ws := e.expectWorks(t, "app", "c1", "c2")
	e.expectStatus(t, "app", "three clusters wait their turn", func(s *appsv1.Subscription) error {
		if s.Status.Summary.Pending != 3 || s.Status.Rollout == nil || s.Status.Rollout.Phase != appsv1.RolloutProgressing || s.Status.Rollout.Updated != 2 {
			return fmt.Errorf("summary %+v rollout %+v", s.Status.Summary, s.Status.Rollout)
		}
		for _, c := range s.Status.Clusters {
			if c.State == appsv1.ClusterPending && !strings.Contains(c.Message, "waiting for its turn in the rollout") {
				return fmt.Errorf("pending cluster entry %+v", c)
			}
		}
		return nil
	})

	// One failure is tolerated: c3 goes out when c2 succeeds.
	e.fail(t, ws["c1"], "ConfigMap apps/app: exceeded quota")
	e.report(t, ws["c2"], "")
	ws = e.expectWorks(t, "app", "c1", "c2", "c3")

	// A second failure is one too many: the rollout stops and says why.
	e.fail(t, ws["c3"], "ConfigMap apps/app: admission webhook denied the request")
	sub := e.expectStatus(t, "app", "rollout failed", func(s *appsv1.Subscription) error {
		r := s.Status.Rollout
		if r == nil || r.Phase != appsv1.RolloutFailed {
			return fmt.Errorf("rollout %+v", r)
		}
		return nil
	})
	msg := sub.Status.Rollout.Message
	if !strings.Contains(msg, "2 failed (c1, c3)") || !strings.Contains(msg, "maxFailures") || sub.Status.Rollout.Revision != sub.Status.LastAppliedRevision {
		t.Fatalf("rollout status %+v (applied revision %s)", sub.Status.Rollout, sub.Status.LastAppliedRevision)
	}
	if c := conditionOf(sub, appsv1.ConditionReady); c.Reason != appsv1.ReasonRolloutFailed || c.Message != msg {
		t.Fatalf("Ready = %s/%s: %s", c.Status, c.Reason, c.Message)
	}
	if c := conditionOf(sub, appsv1.ConditionRolloutProgressing); c.Status != metav1.ConditionFalse || c.Reason != appsv1.ReasonRolloutFailed {
		t.Fatalf("RolloutProgressing = %s/%s", c.Status, c.Reason)
	}
	if got := sortedKeys(e.Works(t, "app")); !slices.Equal(got, []string{"c1", "c2", "c3"}) {
		t.Fatalf("a failed rollout went on to %v", got)
	}
	if state, desc := commitstatus.Aggregate(sub); state != gitprovider.StateFailure || !strings.Contains(desc, "apply failed on 2/5") {
		t.Fatalf("commit status %s %q", state, desc)
	}

	// A cluster that never reports runs into progressDeadline; with no
	// failure tolerated that stops the rollout, and with no failed apply to
	// show, the commit status carries the rollout's own message.
	appSubscription(e, t, repo.URL, "slow", "apps/app", []string{"c4", "c5"}, func(s *appsv1.Subscription) {
		s.Spec.RolloutStrategy = &clusterv1alpha1.RolloutStrategy{Type: clusterv1alpha1.Progressive, Progressive: &clusterv1alpha1.RolloutProgressive{
			RolloutConfig: clusterv1alpha1.RolloutConfig{ProgressDeadline: "10m"}, MaxConcurrency: intstr.FromInt32(1),
		}}
	})
	e.expectWorks(t, "slow", "c4")
	e.expectStatus(t, "slow", "c4 in flight", func(s *appsv1.Subscription) error {
		if s.Status.Rollout == nil || s.Status.Rollout.Phase != appsv1.RolloutProgressing {
			return fmt.Errorf("rollout %+v", s.Status.Rollout)
		}
		return nil
	})
	clk.Step(11 * time.Minute)
	e.nudge(t, "slow")
	sub = e.expectStatus(t, "slow", "deadline passed", func(s *appsv1.Subscription) error {
		if r := s.Status.Rollout; r == nil || r.Phase != appsv1.RolloutFailed || !strings.Contains(r.Message, "1 timed out after progressDeadline 10m0s (c4)") {
			return fmt.Errorf("rollout %+v", r)
		}
		return nil
	})
	if state, desc := commitstatus.Aggregate(sub); state != gitprovider.StateFailure || !strings.HasPrefix(desc, "rollout failed: stopped: 1 timed out") {
		t.Fatalf("commit status %s %q", state, desc)
	}
	e.expectWorks(t, "slow", "c4")
}

// TestProgressivePerGroupSoaksAndPauses rolls out over a Placement's decision
// groups, waiting minSuccessTime after each, and holds a new revision while the
// subscription-pause label is set.
func TestProgressivePerGroupSoaksAndPauses(t *testing.T) {
	clk := &shiftedClock{}
	e := startHubAt(t, clk, []string{"placement", "channel", "subscription"}, "c1", "c2", "c3", "c4")
	for _, c := range []string{"c1", "c2", "c3", "c4"} {
		mc := &clusterv1.ManagedCluster{}
		if err := e.C.Get(e.Ctx, client.ObjectKey{Name: c}, mc); err != nil {
			t.Fatal(err)
		}
		patch := client.MergeFrom(mc.DeepCopy())
		mc.Labels["cluster.open-cluster-management.io/clusterset"] = "fleetset"
		if c == "c1" {
			mc.Labels["tier"] = "canary"
		}
		if err := e.C.Patch(e.Ctx, mc, patch); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range placementObjects() {
		if err := e.C.Create(e.Ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	// The Subscription comes once the groups are settled, so the rollout
	// starts from them.
	poll.Eventually(t, 20*time.Second, "decision groups", func() error {
		var list clusterv1beta1.PlacementDecisionList
		if err := e.C.List(e.Ctx, &list, client.InNamespace("fleet"), client.MatchingLabels{clusterv1beta1.PlacementLabel: "groups"}); err != nil {
			return err
		}
		var got []string
		for _, d := range list.Items {
			for _, dec := range d.Status.Decisions {
				got = append(got, d.Labels[clusterv1beta1.DecisionGroupIndexLabel]+":"+dec.ClusterName)
			}
		}
		slices.Sort(got)
		if want := []string{"0:c1", "1:c2", "1:c3", "2:c4"}; !slices.Equal(got, want) {
			return fmt.Errorf("decisions %v, want %v", got, want)
		}
		return nil
	})
	repo := harness.NewFleet(t, map[string]string{"apps/app/cm.yaml": harness.ConfigMapYAML("app", "one")})
	appSubscription(e, t, repo.URL, "app", "apps/app", nil, func(s *appsv1.Subscription) {
		s.Spec.Placement = &appsv1.Placement{PlacementRef: placementRef("groups")}
		s.Spec.RolloutStrategy = &clusterv1alpha1.RolloutStrategy{Type: clusterv1alpha1.ProgressivePerGroup, ProgressivePerGroup: &clusterv1alpha1.RolloutProgressivePerGroup{
			RolloutConfig: clusterv1alpha1.RolloutConfig{MinSuccessTime: metav1.Duration{Duration: 5 * time.Minute}},
		}}
	})

	// Group 0 (canary: c1), then group 1 (c2, c3), then group 2 (c4), each
	// after the previous one stayed available for five minutes.
	groups := [][]string{{"c1"}, {"c1", "c2", "c3"}, {"c1", "c2", "c3", "c4"}}
	for i, want := range groups {
		ws := e.expectWorks(t, "app", want...)
		for _, c := range want {
			if i == 0 || !slices.Contains(groups[i-1], c) {
				e.reportAt(t, ws[c], clk.Now())
			}
		}
		e.expectStatus(t, "app", fmt.Sprintf("group %d soaking", i), func(s *appsv1.Subscription) error {
			r := s.Status.Rollout
			if r == nil || r.Succeeded != int32(len(want)) {
				return fmt.Errorf("rollout %+v", r)
			}
			if i < 2 && (r.Phase != appsv1.RolloutWaiting || !strings.Contains(r.Message, "minSuccessTime")) {
				return fmt.Errorf("rollout %+v", r)
			}
			return nil
		})
		// Soaking sends nothing further.
		if got := sortedKeys(e.Works(t, "app")); !slices.Equal(got, want) {
			t.Fatalf("group %d: works in %v while soaking", i, got)
		}
		clk.Step(6 * time.Minute)
		e.nudge(t, "app")
	}
	e.expectStatus(t, "app", "rollout succeeded", func(s *appsv1.Subscription) error {
		if r := s.Status.Rollout; r == nil || r.Phase != appsv1.RolloutSucceeded {
			return fmt.Errorf("rollout %+v", r)
		}
		if c := conditionOf(s, appsv1.ConditionReady); c.Status != metav1.ConditionTrue {
			return fmt.Errorf("Ready = %s/%s: %s", c.Status, c.Reason, c.Message)
		}
		return nil
	})

	// Paused: a new revision is fetched and rendered, nothing is sent.
	before := hashes(e.Works(t, "app"))
	e.update(t, "app", func(s *appsv1.Subscription) { s.Labels = map[string]string{appsv1.LabelSubscriptionPause: "true"} })
	repo.Commit(t, "two", map[string]string{"apps/app/cm.yaml": harness.ConfigMapYAML("app", "two")})
	requestReconcile(t, e, &appsv1.Channel{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "repo"}})
	e.expectStatus(t, "app", "paused", func(s *appsv1.Subscription) error {
		r := s.Status.Rollout
		if !strings.HasSuffix(s.Status.LastAttemptedRevision, repo.Head(t)) || r == nil || r.Phase != appsv1.RolloutPaused ||
			r.Revision != s.Status.LastAttemptedRevision {
			return fmt.Errorf("attempted %s, rollout %+v", s.Status.LastAttemptedRevision, r)
		}
		if c := conditionOf(s, appsv1.ConditionReady); c.Status != metav1.ConditionFalse || c.Reason != appsv1.ReasonPaused {
			return fmt.Errorf("Ready = %s/%s", c.Status, c.Reason)
		}
		if s.Status.Summary.Pending != 4 || !strings.Contains(s.Status.Clusters[0].Message, "paused") {
			return fmt.Errorf("summary %+v, first %+v", s.Status.Summary, s.Status.Clusters[0])
		}
		return nil
	})
	if after := hashes(e.Works(t, "app")); !equalMaps(before, after) {
		t.Fatalf("a paused Subscription changed works: %v -> %v", before, after)
	}

	// Resumed: the canary group gets the new revision first.
	e.update(t, "app", func(s *appsv1.Subscription) { delete(s.Labels, appsv1.LabelSubscriptionPause) })
	poll.Eventually(t, 20*time.Second, "canary updated alone", func() error {
		now := hashes(e.Works(t, "app"))
		for c, h := range now {
			if (c == "c1") == (h == before[c]) {
				return fmt.Errorf("hashes %v (before %v)", now, before)
			}
		}
		return nil
	})
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestTimeWindowDefersThenReleases holds a first deployment, a change and a
// removal outside an active window in another time zone, and sends them when
// the window opens.
func TestTimeWindowDefersThenReleases(t *testing.T) {
	clk := &shiftedClock{}
	// Monday 2030-01-07 10:00 UTC is 05:00 in Toronto.
	clk.SetTo(time.Date(2030, time.January, 7, 10, 0, 0, 0, time.UTC))
	e := startHubAt(t, clk, nil, "c1", "c2")
	repo := harness.NewFleet(t, map[string]string{"apps/app/cm.yaml": harness.ConfigMapYAML("app", "one")})
	window := &appsv1.TimeWindow{WindowType: "active", Location: "America/Toronto", Daysofweek: []string{"Monday"},
		Hours: []appsv1.HourRange{{Start: "12:00PM", End: "1:00PM"}}}
	appSubscription(e, t, repo.URL, "app", "apps/app", []string{"c1", "c2"}, func(s *appsv1.Subscription) { s.Spec.TimeWindow = window })
	appSubscription(e, t, repo.URL, "nightly", "apps/app", []string{"c1"}, func(s *appsv1.Subscription) {
		s.Spec.MaintenanceWindows = []appsv1.MaintenanceWindow{{Schedule: "30 2 * * *", Duration: metav1.Duration{Duration: time.Hour}}}
	})

	noonToronto := time.Date(2030, time.January, 7, 17, 0, 0, 0, time.UTC)
	expectClosed := func(name string, next time.Time) {
		t.Helper()
		e.expectStatus(t, name, "window closed until "+next.String(), func(s *appsv1.Subscription) error {
			c := conditionOf(s, appsv1.ConditionWindowOpen)
			if c.Status != metav1.ConditionFalse || c.Reason != appsv1.ReasonWindowClosed || s.Status.NextWindow == nil || !s.Status.NextWindow.Time.Equal(next) {
				return fmt.Errorf("WindowOpen = %s/%s: %s; nextWindow %v", c.Status, c.Reason, c.Message, s.Status.NextWindow)
			}
			if !strings.HasSuffix(s.Status.LastAttemptedRevision, repo.Head(t)) {
				return fmt.Errorf("attempted %s", s.Status.LastAttemptedRevision)
			}
			return nil
		})
	}
	expectClosed("app", noonToronto)
	expectClosed("nightly", time.Date(2030, time.January, 8, 2, 30, 0, 0, time.UTC))
	sub := e.Subscription(t, "app")
	if c := conditionOf(sub, appsv1.ConditionReady); c.Reason != appsv1.ReasonWindowClosed {
		t.Fatalf("Ready = %s/%s", c.Status, c.Reason)
	}
	if sub.Status.Summary.Pending != 2 || !strings.Contains(sub.Status.Clusters[0].Message, "opens at 2030-01-07T17:00:00Z") {
		t.Fatalf("summary %+v, first %+v", sub.Status.Summary, sub.Status.Clusters[0])
	}
	if ws := e.Works(t, "app"); len(ws) != 0 {
		t.Fatalf("works sent outside the window: %v", keys(ws))
	}

	// Noon in Toronto: the first deployment goes out.
	clk.SetTo(noonToronto.Add(30 * time.Second))
	e.nudge(t, "app")
	ws := e.expectWorks(t, "app", "c1", "c2")
	e.expectStatus(t, "app", "window open", func(s *appsv1.Subscription) error {
		if c := conditionOf(s, appsv1.ConditionWindowOpen); c.Status != metav1.ConditionTrue || s.Status.NextWindow != nil {
			return fmt.Errorf("WindowOpen = %s: %s; nextWindow %v", c.Status, c.Message, s.Status.NextWindow)
		}
		return nil
	})
	for _, w := range ws {
		e.report(t, w, "")
	}
	first := hashes(ws)

	// After the window: a change and a removal both wait a week.
	clk.SetTo(noonToronto.Add(90 * time.Minute))
	repo.Commit(t, "two", map[string]string{"apps/app/cm.yaml": harness.ConfigMapYAML("app", "two")})
	e.update(t, "app", func(s *appsv1.Subscription) { s.Spec.Placement.Clusters = s.Spec.Placement.Clusters[:1] })
	requestReconcile(t, e, &appsv1.Channel{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "repo"}})
	nextMonday := noonToronto.Add(7 * 24 * time.Hour)
	expectClosed("app", nextMonday)
	sub = e.expectStatus(t, "app", "removal waits for the window", func(s *appsv1.Subscription) error {
		c := conditionOf(s, appsv1.ConditionDeletionHeld)
		if c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, "waits because the deployment window is closed") {
			return fmt.Errorf("DeletionHeld = %s: %s", c.Status, c.Message)
		}
		return nil
	})
	if got := hashes(e.Works(t, "app")); !equalMaps(got, first) {
		t.Fatalf("works changed outside the window: %v -> %v", first, got)
	}
	if r := sub.Status.Rollout; r == nil || r.Phase != appsv1.RolloutWaiting || !strings.Contains(r.Message, "waiting for the deployment window") {
		t.Fatalf("rollout %+v", r)
	}

	// The next Monday's window releases both.
	clk.SetTo(nextMonday.Add(10 * time.Second))
	e.nudge(t, "app")
	poll.Eventually(t, 20*time.Second, "change sent and c2 removed", func() error {
		got := hashes(e.Works(t, "app"))
		if len(got) != 1 || got["c1"] == "" || got["c1"] == first["c1"] {
			return fmt.Errorf("works %v (first %v)", got, first)
		}
		return nil
	})
}

// TestDeletionBudgetHoldsMassRemoval holds a placement edit that would take
// the objects off three of four clusters, and a Subscription deletion, until
// the confirm-deletion annotation carries the token the condition names.
func TestDeletionBudgetHoldsMassRemoval(t *testing.T) {
	e := startHub(t, "c1", "c2", "c3", "c4")
	repo := harness.NewFleet(t, map[string]string{"apps/app/cm.yaml": harness.ConfigMapYAML("app", "one")})
	all := []string{"c1", "c2", "c3", "c4"}
	appSubscription(e, t, repo.URL, "app", "apps/app", all, nil)
	appSubscription(e, t, repo.URL, "free", "apps/app", all, func(s *appsv1.Subscription) {
		s.Spec.DeletionBudgetPercent = ptr.To[int32](100)
	})
	appSubscription(e, t, repo.URL, "kept", "apps/app", all, func(s *appsv1.Subscription) {
		s.Spec.DeleteOption = &workv1.DeleteOption{PropagationPolicy: workv1.DeletePropagationPolicyTypeOrphan}
	})
	for _, name := range []string{"app", "free", "kept"} {
		e.expectWorks(t, name, all...)
	}

	// Three of four clusters would lose the objects: held.
	for _, name := range []string{"app", "free"} {
		e.update(t, name, func(s *appsv1.Subscription) { s.Spec.Placement.Clusters = s.Spec.Placement.Clusters[:1] })
	}
	e.expectWorks(t, "free", "c1") // a budget of 100% holds nothing
	sub := e.expectStatus(t, "app", "removal held", func(s *appsv1.Subscription) error {
		if c := conditionOf(s, appsv1.ConditionDeletionHeld); c.Status != metav1.ConditionTrue {
			return fmt.Errorf("DeletionHeld = %s: %s", c.Status, c.Message)
		}
		return nil
	})
	held := conditionOf(sub, appsv1.ConditionDeletionHeld)
	if !strings.Contains(held.Message, "from 3 of 4 clusters (75%: c2, c3, c4) exceeds the deletion budget of 50%") {
		t.Fatalf("DeletionHeld message %q", held.Message)
	}
	if c := conditionOf(sub, appsv1.ConditionReady); c.Reason != appsv1.ReasonDeletionHeld {
		t.Fatalf("Ready = %s/%s", c.Status, c.Reason)
	}
	if got := sortedKeys(e.Works(t, "app")); !slices.Equal(got, all) {
		t.Fatalf("held removal deleted works: %v", got)
	}
	if state, desc := commitstatus.Aggregate(sub); state != gitprovider.StatePending || !strings.HasPrefix(desc, "held by the deletion budget") {
		t.Fatalf("commit status while held: %s %q", state, desc)
	}

	// A confirmation for another removal does not release it.
	e.update(t, "app", func(s *appsv1.Subscription) { s.Annotations[appsv1.AnnotationConfirmDeletion] = "0123456789abcdef" })
	e.expectStatus(t, "app", "wrong confirmation named", func(s *appsv1.Subscription) error {
		if c := conditionOf(s, appsv1.ConditionDeletionHeld); c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, "given for a different removal") {
			return fmt.Errorf("DeletionHeld = %s: %s", c.Status, c.Message)
		}
		return nil
	})
	if got := sortedKeys(e.Works(t, "app")); !slices.Equal(got, all) {
		t.Fatalf("a wrong confirmation released the removal: %v", got)
	}

	// The right one does.
	e.confirmDeletion(t, "app", 3)
	e.expectWorks(t, "app", "c1")
	e.expectStatus(t, "app", "hold lifted", func(s *appsv1.Subscription) error {
		if c := conditionOf(s, appsv1.ConditionDeletionHeld); c.Status != metav1.ConditionFalse {
			return fmt.Errorf("DeletionHeld = %s: %s", c.Status, c.Message)
		}
		return nil
	})

	// Deleting the Subscription removes from one of one cluster: held too,
	// under a token of its own.
	if err := e.C.Delete(e.Ctx, e.Subscription(t, "app")); err != nil {
		t.Fatal(err)
	}
	e.expectStatus(t, "app", "deletion held", func(s *appsv1.Subscription) error {
		c := conditionOf(s, appsv1.ConditionDeletionHeld)
		if s.DeletionTimestamp == nil || c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, "being deleted") {
			return fmt.Errorf("DeletionHeld = %s: %s", c.Status, c.Message)
		}
		return nil
	})
	e.expectWorks(t, "app", "c1")
	e.confirmDeletion(t, "app", 1)
	poll.Eventually(t, 20*time.Second, "Subscription and works gone", func() error {
		if ws := e.Works(t, "app"); len(ws) != 0 {
			return fmt.Errorf("works left in %v", keys(ws))
		}
		if err := e.C.Get(e.Ctx, client.ObjectKey{Namespace: "fleet", Name: "app"}, &appsv1.Subscription{}); client.IgnoreNotFound(err) != nil || err == nil {
			return fmt.Errorf("subscription still there (%v)", err)
		}
		return nil
	})

	// Orphaning removes nothing from the clusters, so nothing waits.
	if err := e.C.Delete(e.Ctx, e.Subscription(t, "kept")); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 20*time.Second, "orphaning Subscription gone", func() error {
		if ws := e.Works(t, "kept"); len(ws) != 0 {
			return fmt.Errorf("works left in %v", keys(ws))
		}
		return client.IgnoreNotFound(e.C.Get(e.Ctx, client.ObjectKey{Namespace: "fleet", Name: "kept"}, &appsv1.Subscription{}))
	})
}

// TestReconcileOptionsShapeWorks checks the update strategy of each manifest
// follows the Subscription's and the resources' reconcile options, and that
// objects marked do-not-delete are orphaned, also after they leave Git.
func TestReconcileOptionsShapeWorks(t *testing.T) {
	e := startHub(t, "c1")
	cm := func(name, annotations string) string {
		return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: apps\n%sdata:\n  k: v\n", name, annotations)
	}
	repo := harness.NewFleet(t, map[string]string{
		"apps/app/plain.yaml":  cm("plain", ""),
		"apps/app/merged.yaml": cm("merged", "  annotations:\n    apps.open-cluster-management.io/reconcile-option: merge\n"),
		"apps/app/keep.yaml":   cm("keep", "  annotations:\n    apps.open-cluster-management.io/do-not-delete: \"true\"\n"),
		"apps/app/svc.yaml":    "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: apps\nspec:\n  ports:\n  - port: 80\n",
	})
	appSubscription(e, t, repo.URL, "app", "apps/app", []string{"c1"}, func(s *appsv1.Subscription) {
		s.Annotations[appsv1.AnnotationReconcileOption] = "replace"
	})
	strategies := func(w *workv1.ManifestWork) map[string]string {
		out := map[string]string{}
		for _, c := range w.Spec.ManifestConfigs {
			s := string(c.UpdateStrategy.Type)
			if ssa := c.UpdateStrategy.ServerSideApply; ssa != nil {
				s += fmt.Sprintf("(force=%v,%s)", ssa.Force, ssa.FieldManager)
			}
			out[c.ResourceIdentifier.Resource+"/"+c.ResourceIdentifier.Name] = s
		}
		return out
	}
	ssa := "ServerSideApply(force=true," + hub.FieldManager + ")"
	w := e.expectWorks(t, "app", "c1")["c1"]
	want := map[string]string{"configmaps/plain": "Update", "configmaps/merged": ssa, "configmaps/keep": "Update", "services/web": ssa,
		"namespaces/apps": "CreateOnly"} // undeclared: made sure to exist, never changed
	nsRule := workv1.OrphaningRule{Resource: "namespaces", Name: "apps"}
	if got := strategies(w); !equalMaps(got, want) {
		t.Fatalf("update strategies %v, want %v", got, want)
	}
	keepRule := workv1.OrphaningRule{Resource: "configmaps", Namespace: "apps", Name: "keep"}
	if d := w.Spec.DeleteOption; d == nil || d.PropagationPolicy != workv1.DeletePropagationPolicyTypeSelectivelyOrphan ||
		d.SelectivelyOrphan == nil || !slices.Equal(d.SelectivelyOrphan.OrphaningRules, []workv1.OrphaningRule{keepRule, nsRule}) {
		t.Fatalf("delete option %+v", d)
	}

	// Dropped from Git, the object stays orphaned as it leaves the work.
	repo.Commit(t, "drop keep", map[string]string{"apps/app/keep.yaml": ""})
	ch := &appsv1.Channel{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "repo"}}
	requestReconcile(t, e, ch)
	poll.Eventually(t, 20*time.Second, "keep left the work", func() error {
		w = e.Works(t, "app")["c1"]
		if len(w.Spec.Workload.Manifests) != 4 { // with the Namespace
			return fmt.Errorf("%d manifests", len(w.Spec.Workload.Manifests))
		}
		return nil
	})
	if d := w.Spec.DeleteOption; d == nil || d.SelectivelyOrphan == nil || !slices.Equal(d.SelectivelyOrphan.OrphaningRules, []workv1.OrphaningRule{keepRule, nsRule}) {
		t.Fatalf("orphaning rule lost when the object left Git: %+v", d)
	}

	// mergeAndOwn on the Subscription: every manifest is applied server-side.
	e.update(t, "app", func(s *appsv1.Subscription) { s.Annotations[appsv1.AnnotationReconcileOption] = "mergeAndOwn" })
	poll.Eventually(t, 20*time.Second, "server-side apply everywhere", func() error {
		got := strategies(e.Works(t, "app")["c1"])
		for k, v := range got {
			if v != ssa && k != "namespaces/apps" { // the undeclared namespace stays CreateOnly
				return fmt.Errorf("%s: %s", k, v)
			}
		}
		return nil
	})

	// A misspelt option is reported on the object and changes nothing.
	good := e.Works(t, "app")["c1"].Annotations[appsv1.AnnotationContentHash]
	e.update(t, "app", func(s *appsv1.Subscription) { s.Annotations[appsv1.AnnotationReconcileOption] = "overwrite" })
	e.expectStatus(t, "app", "bad option reported", func(s *appsv1.Subscription) error {
		c := conditionOf(s, appsv1.ConditionRendered)
		if c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, `"overwrite" is not a reconcile option; use merge, mergeAndOwn or replace`) ||
			!strings.Contains(c.Message, "ConfigMap apps/") {
			return fmt.Errorf("Rendered = %s: %s", c.Status, c.Message)
		}
		return nil
	})
	if got := e.Works(t, "app")["c1"].Annotations[appsv1.AnnotationContentHash]; got != good {
		t.Fatal("a bad reconcile option changed the work")
	}
}

// placementObjects are a cluster set of every cluster, bound to the fleet
// namespace, and a Placement "groups" with a canary group (tier=canary) and
// groups of two for the rest.
func placementObjects() []client.Object {
	return []client.Object{
		&clusterv1beta2.ManagedClusterSet{ObjectMeta: metav1.ObjectMeta{Name: "fleetset"}},
		&clusterv1beta2.ManagedClusterSetBinding{ObjectMeta: metav1.ObjectMeta{Name: "fleetset", Namespace: "fleet"},
			Spec: clusterv1beta2.ManagedClusterSetBindingSpec{ClusterSet: "fleetset"}},
		&clusterv1beta1.Placement{ObjectMeta: metav1.ObjectMeta{Name: "groups", Namespace: "fleet"}, Spec: clusterv1beta1.PlacementSpec{
			ClusterSets: []string{"fleetset"},
			DecisionStrategy: clusterv1beta1.DecisionStrategy{GroupStrategy: clusterv1beta1.GroupStrategy{
				DecisionGroups: []clusterv1beta1.DecisionGroup{{GroupName: "canary", ClusterSelector: clusterv1beta1.GroupClusterSelector{
					LabelSelector: metav1.LabelSelector{MatchLabels: map[string]string{"tier": "canary"}}}}},
				ClustersPerDecisionGroup: intstr.FromInt32(2),
			}},
		}},
	}
}

func placementRef(name string) *corev1.ObjectReference {
	return &corev1.ObjectReference{Kind: "Placement", Name: name}
}
