package commitstatus_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/apis/scheme"
	"github.com/ocm-gitops/ocm-gitops/pkg/hub/commitstatus"
	"github.com/ocm-gitops/ocm-gitops/pkg/hub/index"
	"github.com/ocm-gitops/ocm-gitops/pkg/lab"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

const (
	shaA  = "1111111111111111111111111111111111111111"
	shaB  = "2222222222222222222222222222222222222222"
	token = "ghp-test-token-9d1f"
)

// posted is one status the fake forge accepted.
type posted struct {
	SHA, State, Context, Description string
}

func (p posted) String() string {
	return fmt.Sprintf("%s %s %s %q", p.SHA[:4], p.Context, p.State, p.Description)
}

// fakeGitHub is a GitHub statuses endpoint on 127.0.0.1 that records what it
// accepts and can fail the next requests with 500.
type fakeGitHub struct {
	*httptest.Server
	mu       sync.Mutex
	accepted []posted
	failed   int
	failNext int
	badAuth  int
}

func newFakeGitHub(t *testing.T) *fakeGitHub {
	f := &fakeGitHub{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		rest, ok := strings.CutPrefix(r.URL.Path, "/repos/acme/fleet/statuses/")
		if r.Method != http.MethodPost || !ok {
			http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+token {
			f.badAuth++
			http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
			return
		}
		if f.failNext > 0 {
			f.failNext--
			f.failed++
			http.Error(w, `{"message":"Server Error"}`, http.StatusInternalServerError)
			return
		}
		data, _ := io.ReadAll(r.Body)
		var body struct{ State, Context, Description string }
		if err := json.Unmarshal(data, &body); err != nil {
			http.Error(w, `{"message":"bad json"}`, http.StatusBadRequest)
			return
		}
		f.accepted = append(f.accepted, posted{SHA: rest, State: body.State, Context: body.Context, Description: body.Description})
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeGitHub) posts() []posted {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]posted(nil), f.accepted...)
}

func (f *fakeGitHub) failNextRequests(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNext = n
}

func (f *fakeGitHub) failures() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed
}

// startController runs the commit-status controller alone on cfg until the
// returned stop is called.
func startController(t *testing.T, cfg *rest.Config, opts commitstatus.Options) (stop func()) {
	t.Helper()
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme.New(),
		Logger:                 testr.NewWithOptions(t, testr.Options{Verbosity: 1}),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := index.Add(context.Background(), mgr.GetFieldIndexer(), index.SubscriptionChannel); err != nil {
		t.Fatal(err)
	}
	if err := commitstatus.SetupWithManager(mgr, opts); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("manager stopped with error: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("manager did not stop within 30s")
		}
	}
	t.Cleanup(stop)
	return stop
}

type env struct {
	t *testing.T
	c client.Client
}

// setStatus writes a Subscription status as the subscription controller would.
func (e *env) setStatus(name string, mutate func(st *appsv1.SubscriptionStatus)) {
	e.t.Helper()
	ctx := context.Background()
	sub := &appsv1.Subscription{}
	if err := e.c.Get(ctx, client.ObjectKey{Namespace: "apps", Name: name}, sub); err != nil {
		e.t.Fatal(err)
	}
	sub.Status.ObservedGeneration = sub.Generation
	now := metav1.Now()
	sub.Status.LastUpdateTime = &now
	mutate(&sub.Status)
	if err := e.c.Status().Update(ctx, sub); err != nil {
		e.t.Fatal(err)
	}
}

func summary(selected, applied, progressing, drifted int32) appsv1.ClusterSummary {
	return appsv1.ClusterSummary{Selected: selected, Applied: applied, Progressing: progressing, Drifted: drifted}
}

func clusters(states ...string) []appsv1.ClusterStatus {
	var out []appsv1.ClusterStatus
	for _, s := range states {
		name, state, _ := strings.Cut(s, "=")
		cs := appsv1.ClusterStatus{Name: name, State: appsv1.ClusterState(state)}
		if cs.State == appsv1.ClusterDrifted {
			cs.Message = "drift: Deployment default/web .spec.replicas"
			cs.Drift = []appsv1.DriftedObject{{ObjectReference: appsv1.ObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "default", Name: "web"}, Fields: []string{".spec.replicas"}}}
		}
		out = append(out, cs)
	}
	return out
}

// waitPosts waits until the forge holds exactly want (in order).
func waitPosts(t *testing.T, f *fakeGitHub, want ...string) {
	t.Helper()
	poll.Eventually(t, 20*time.Second, "posted statuses", func() error {
		var got []string
		for _, p := range f.posts() {
			got = append(got, p.String())
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			return fmt.Errorf("forge holds\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
		return nil
	})
}

// quiet asserts the forge receives nothing new for a while.
// postedAnnotation waits until the Subscription's posted-digest annotation
// differs from prev and returns it.
func postedAnnotation(t *testing.T, c client.Client, prev string) string {
	t.Helper()
	var got string
	poll.Eventually(t, 10*time.Second, "posted annotation changes from "+strconv.Quote(prev), func() error {
		sub := &appsv1.Subscription{}
		if err := c.Get(context.Background(), client.ObjectKey{Namespace: "apps", Name: "web"}, sub); err != nil {
			return err
		}
		if got = sub.Annotations[commitstatus.AnnotationPosted]; got == prev {
			return fmt.Errorf("annotation %s is still %q", commitstatus.AnnotationPosted, prev)
		}
		return nil
	})
	return got
}

func quiet(t *testing.T, f *fakeGitHub, d time.Duration) {
	t.Helper()
	before := len(f.posts())
	time.Sleep(d)
	if after := f.posts(); len(after) != before {
		t.Fatalf("expected no new statuses, got %v", after[before:])
	}
}

func TestCommitStatusesFollowRolloutAndDrift(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	assets, err := lab.FindAssets("")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cp, err := lab.StartControlPlane(ctx, "hub", lab.RoleHub, assets)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cp.Stop() })
	c, err := client.New(cp.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, c: c}
	forge := newFakeGitHub(t)

	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "apps"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "forge-token"}, Data: map[string][]byte{"token": []byte(token)}},
		&appsv1.Channel{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "fleet"}, Spec: appsv1.ChannelSpec{
			Type: "Git", Pathname: "https://github.com/acme/fleet.git",
			CommitStatus: &appsv1.CommitStatusSpec{Provider: appsv1.GitProviderGitHub, APIURL: forge.URL,
				SecretRef: corev1.LocalObjectReference{Name: "forge-token"}},
		}},
		&appsv1.Channel{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "fleet-per-cluster"}, Spec: appsv1.ChannelSpec{
			Type: "Git", Pathname: "git@github.com:acme/fleet.git",
			CommitStatus: &appsv1.CommitStatusSpec{Provider: appsv1.GitProviderGitHub, APIURL: forge.URL, ContextPrefix: "deploy",
				PerCluster: true, SecretRef: corev1.LocalObjectReference{Name: "forge-token"}},
		}},
		&appsv1.Subscription{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "web"}, Spec: appsv1.SubscriptionSpec{Channel: "apps/fleet"}},
	} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}

	opts := commitstatus.Options{BackoffBase: 200 * time.Millisecond, BackoffMax: 2 * time.Second, ProgressInterval: time.Millisecond}
	stop := startController(t, cp.Config, opts)

	const ctxWeb = "ocm-gitops/apps/web"
	revA := "main@sha1:" + shaA
	rollout := []string{
		"1111 " + ctxWeb + ` pending "rolling out: 1/3 applied"`,
		"1111 " + ctxWeb + ` success "applied on 3/3"`,
		"1111 " + ctxWeb + ` failure "drift on 1/3: east-1 Deployment/web .spec.replicas"`,
		"1111 " + ctxWeb + ` success "applied on 3/3"`,
	}

	// A Subscription with nothing deployed yet posts nothing.
	quiet(t, forge, 500*time.Millisecond)

	e.setStatus("web", func(st *appsv1.SubscriptionStatus) {
		st.LastAppliedRevision, st.Summary, st.Clusters = revA, summary(3, 1, 2, 0), clusters("east-1=Progressing", "east-2=Progressing", "west-1=Applied")
	})
	waitPosts(t, forge, rollout[:1]...)
	// Each set of posts is recorded in the annotation right after it went
	// out; following its values one step at a time keeps the restart below
	// from racing the last write.
	posted := postedAnnotation(t, c, "")

	e.setStatus("web", func(st *appsv1.SubscriptionStatus) {
		st.Summary, st.Clusters = summary(3, 3, 0, 0), clusters("east-1=Applied", "east-2=Applied", "west-1=Applied")
	})
	waitPosts(t, forge, rollout[:2]...)
	posted = postedAnnotation(t, c, posted)
	appliedDigest := posted

	// Status updates that change nothing the forge shows post nothing.
	e.setStatus("web", func(st *appsv1.SubscriptionStatus) {
		st.Conditions = []metav1.Condition{{Type: appsv1.ConditionReady, Status: metav1.ConditionTrue, Reason: appsv1.ReasonSucceeded,
			Message: "revision " + revA + " applied on 3/3 clusters", LastTransitionTime: metav1.Now()}}
	})
	e.setStatus("web", func(*appsv1.SubscriptionStatus) {})
	quiet(t, forge, time.Second)

	// Drift appears on one cluster, then the agent corrects it: the same
	// commit turns to failure and back to success.
	e.setStatus("web", func(st *appsv1.SubscriptionStatus) {
		st.Summary, st.Clusters = summary(3, 2, 0, 1), clusters("east-1=Drifted", "east-2=Applied", "west-1=Applied")
	})
	waitPosts(t, forge, rollout[:3]...)
	posted = postedAnnotation(t, c, posted)
	e.setStatus("web", func(st *appsv1.SubscriptionStatus) {
		st.Summary, st.Clusters = summary(3, 3, 0, 0), clusters("east-1=Applied", "east-2=Applied", "west-1=Applied")
	})
	waitPosts(t, forge, rollout...)

	// The posted digest is recorded so a restarted hub stays quiet: the
	// same statuses as after the rollout, so the same digest.
	if got := postedAnnotation(t, c, posted); got != appliedDigest {
		t.Fatalf("annotation %s = %q after drift was corrected, want %q as after the rollout", commitstatus.AnnotationPosted, got, appliedDigest)
	}
	stop()
	stop = startController(t, cp.Config, opts)
	quiet(t, forge, 1500*time.Millisecond)

	// A new commit while the forge fails: the post is retried with backoff,
	// the failure is reported in an event, and reconciliation goes on.
	forge.failNextRequests(2)
	revB := "main@sha1:" + shaB
	e.setStatus("web", func(st *appsv1.SubscriptionStatus) {
		st.LastAppliedRevision, st.Summary, st.Clusters = revB, summary(3, 0, 3, 0), clusters("east-1=Progressing", "east-2=Progressing", "west-1=Progressing")
	})
	withB := append(rollout, "2222 "+ctxWeb+` pending "rolling out: 0/3 applied"`)
	waitPosts(t, forge, withB...)
	if n := forge.failures(); n != 2 {
		t.Fatalf("forge failed %d requests, want 2 (then the retry succeeded)", n)
	}
	poll.Eventually(t, 10*time.Second, "failure event", func() error {
		var evs eventsv1.EventList
		if err := c.List(ctx, &evs, client.InNamespace("apps")); err != nil {
			return err
		}
		for _, ev := range evs.Items {
			if ev.Reason == commitstatus.ReasonPostFailed && ev.Regarding.Name == "web" {
				if strings.Contains(ev.Note, token) {
					return fmt.Errorf("event leaks the token: %s", ev.Note)
				}
				if !strings.Contains(ev.Note, "500") {
					return fmt.Errorf("event does not say what failed: %s", ev.Note)
				}
				return nil
			}
		}
		return fmt.Errorf("no %s event among %d", commitstatus.ReasonPostFailed, len(evs.Items))
	})

	// While the forge keeps failing, status updates do not bypass the backoff.
	forge.failNextRequests(1000)
	before := forge.failures()
	start := time.Now()
	for i := 0; i < 10; i++ {
		applied := int32((i + 1) % 3)
		e.setStatus("web", func(st *appsv1.SubscriptionStatus) { st.Summary = summary(3, applied, 3-applied, 0) })
	}
	time.Sleep(time.Second)
	attempts := forge.failures() - before
	elapsed := time.Since(start)
	// Backoff 200ms, 400ms, 800ms, 1.6s (+10%): at most 4 attempts in under 2.5s.
	if attempts < 1 || (attempts > 4 && elapsed < 2500*time.Millisecond) {
		t.Fatalf("%d attempts in %s during a forge outage; want 1..4 (backoff, not one per status update)", attempts, elapsed)
	}
	forge.failNextRequests(0)
	withB = append(withB, "2222 "+ctxWeb+` pending "rolling out: 1/3 applied"`)
	waitPosts(t, forge, withB...)

	// Per-cluster statuses, under the Channel's prefix.
	if err := c.Create(ctx, &appsv1.Subscription{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "api"},
		Spec: appsv1.SubscriptionSpec{Channel: "fleet-per-cluster"}}); err != nil {
		t.Fatal(err)
	}
	e.setStatus("api", func(st *appsv1.SubscriptionStatus) {
		st.LastAppliedRevision, st.Summary, st.Clusters = revA, summary(2, 1, 0, 1), clusters("east-1=Drifted", "west-1=Applied")
	})
	waitPosts(t, forge, append(withB,
		"1111 deploy/apps/api"+` failure "drift on 1/2: east-1 Deployment/web .spec.replicas"`,
		"1111 deploy/apps/api/east-1"+` failure "drift: Deployment/web .spec.replicas"`,
		"1111 deploy/apps/api/west-1"+` success "applied"`,
	)...)
	stop()
}
