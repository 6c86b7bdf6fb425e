package webhook_test

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/apis/scheme"
	"github.com/ocm-gitops/ocm-gitops/pkg/hub/index"
	"github.com/ocm-gitops/ocm-gitops/pkg/hub/webhook"
	"github.com/ocm-gitops/ocm-gitops/pkg/lab"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

type hookEnv struct {
	t    *testing.T
	url  string
	c    client.Client
	ctx  context.Context
	seen map[string]string // object -> last stamp
}

func gitChannel(name, pathname string, annotations map[string]string) *appsv1.Channel {
	return &appsv1.Channel{
		ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: name, Annotations: annotations},
		Spec:       appsv1.ChannelSpec{Type: "Git", Pathname: pathname},
	}
}

func subscription(name, channel string, annotations map[string]string) *appsv1.Subscription {
	return &appsv1.Subscription{
		ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: name, Annotations: annotations},
		Spec:       appsv1.SubscriptionSpec{Channel: channel},
	}
}

// stamped lists the objects whose reconcile-requested-at changed since the
// last call.
func (e *hookEnv) stamped() []string {
	e.t.Helper()
	var out []string
	chs := &appsv1.ChannelList{}
	subs := &appsv1.SubscriptionList{}
	if err := e.c.List(e.ctx, chs, client.InNamespace("fleet")); err != nil {
		e.t.Fatal(err)
	}
	if err := e.c.List(e.ctx, subs, client.InNamespace("fleet")); err != nil {
		e.t.Fatal(err)
	}
	check := func(kind, name string, a map[string]string) {
		v := a[appsv1.AnnotationReconcileRequestedAt]
		key := kind + "/" + name
		if v != "" && v != e.seen[key] {
			if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
				e.t.Errorf("%s stamped with %q, not RFC 3339", key, v)
			}
			out = append(out, key)
			e.seen[key] = v
		}
	}
	for _, ch := range chs.Items {
		check("channel", ch.Name, ch.Annotations)
	}
	for _, s := range subs.Items {
		check("sub", s.Name, s.Annotations)
	}
	sort.Strings(out)
	return out
}

func (e *hookEnv) post(path string, headers map[string]string, body string) (int, string) {
	e.t.Helper()
	req, err := http.NewRequestWithContext(e.ctx, http.MethodPost, e.url+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func hmac256(secret, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(body))
	return hex.EncodeToString(m.Sum(nil))
}

// countingReader counts Secret reads.
type countingReader struct {
	client.Reader
	gets atomic.Int64
}

func (c *countingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	c.gets.Add(1)
	return c.Reader.Get(ctx, key, obj, opts...)
}

// blockingClient holds every List until release is closed, to fill the
// receiver's places in flight.
type blockingClient struct {
	client.Client
	release chan struct{}
	entered chan struct{}
}

func (b *blockingClient) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	select {
	case b.entered <- struct{}{}:
	default:
	}
	<-b.release
	return b.Client.List(ctx, list, opts...)
}

// hubFixture is a hub control plane with the fleet namespace's Channels,
// Subscriptions and webhook Secret, and a manager whose cache serves the
// receivers under test.
type hubFixture struct {
	ctx   context.Context
	mgr   ctrl.Manager
	admin client.Client
}

func startHub(t *testing.T) *hubFixture {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	assets, err := lab.FindAssets("")
	if err != nil {
		t.Fatalf("control plane binaries: %v", err)
	}
	cp, err := lab.StartControlPlane(ctx, "hub", lab.RoleHub, assets)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cp.Stop() })
	mgr, err := ctrl.NewManager(cp.Config, ctrl.Options{Scheme: scheme.New(), Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := webhook.AddIndexes(ctx, mgr.GetFieldIndexer()); err != nil {
		t.Fatal(err)
	}
	if err := index.Add(ctx, mgr.GetFieldIndexer(), index.SubscriptionChannel); err != nil {
		t.Fatal(err)
	}
	mctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mctx) }()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("manager: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("manager did not stop")
		}
	})

	admin, err := client.New(cp.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	enabled := map[string]string{appsv1.AnnotationWebhookEnabled: "true"}
	withSecret := map[string]string{appsv1.AnnotationWebhookEnabled: "true", appsv1.AnnotationWebhookSecret: "hook"}
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "fleet"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "hook"}, Data: map[string][]byte{webhook.SecretKey: []byte("s3cr3t\n")}},
		gitChannel("https", "https://git.example.com/org/fleet.git", withSecret),
		gitChannel("scp", "git@git.example.com:org/Fleet", enabled),
		gitChannel("disabled", "https://git.example.com/org/fleet.git", nil),
		gitChannel("other", "https://git.example.com/org/other.git", withSecret),
		subscription("main", "fleet/https", map[string]string{appsv1.AnnotationGitBranch: "main"}),
		subscription("dev", "fleet/https", map[string]string{appsv1.AnnotationGitBranch: "dev"}),
		subscription("default", "https", nil),
		subscription("tag", "fleet/https", map[string]string{appsv1.AnnotationGitTag: "v1"}),
		subscription("pinned", "fleet/https", map[string]string{appsv1.AnnotationGitDesiredCommit: strings.Repeat("a", 40)}),
		subscription("scp-main", "fleet/scp", map[string]string{appsv1.AnnotationGitBranch: "main"}),
		subscription("off-channel", "fleet/disabled", map[string]string{appsv1.AnnotationGitBranch: "main"}),
		subscription("other-main", "fleet/other", map[string]string{appsv1.AnnotationGitBranch: "main"}),
	}
	for _, o := range objs {
		if err := admin.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	poll.Eventually(t, 30*time.Second, "the cache shows the Subscriptions", func() error {
		subs := &appsv1.SubscriptionList{}
		if err := mgr.GetClient().List(ctx, subs, client.MatchingFields{index.SubscriptionChannel: "fleet/other"}); err != nil || len(subs.Items) != 1 {
			return fmt.Errorf("%d Subscriptions of fleet/other, %v", len(subs.Items), err)
		}
		return nil
	})
	return &hubFixture{ctx: ctx, mgr: mgr, admin: admin}
}

// receiver serves a new receiver on 127.0.0.1 with the hub's cache; wrap
// may replace its client. Stamps made before it count as seen.
func (h *hubFixture) receiver(t *testing.T, wrap func(client.Client) client.Client, opts ...webhook.Option) (*hookEnv, *countingReader) {
	t.Helper()
	secrets := &countingReader{Reader: h.mgr.GetAPIReader()}
	var c client.Client = h.mgr.GetClient()
	if wrap != nil {
		c = wrap(c)
	}
	srv := httptest.NewServer(webhook.NewReceiver(c, secrets, testr.New(t), opts...))
	t.Cleanup(srv.Close)
	e := &hookEnv{t: t, url: srv.URL, c: h.admin, ctx: h.ctx, seen: map[string]string{}}
	e.stamped()
	return e, secrets
}

// TestReceiver runs the receiver's tests on one control plane.
func TestReceiver(t *testing.T) {
	h := startHub(t)
	t.Run("StampsExactlyTheMatchingObjects", func(t *testing.T) { testStampsExactlyTheMatchingObjects(t, h) })
	t.Run("AnswersUniformly", func(t *testing.T) { testAnswersUniformly(t, h) })
	t.Run("BoundsItsWork", func(t *testing.T) { testBoundsItsWork(t, h) })
	t.Run("LimitsRateAndConcurrency", func(t *testing.T) { testLimitsRateAndConcurrency(t, h) })
}

func githubPush(ref, repo string) string {
	return fmt.Sprintf(`{"ref":%q,"repository":{"clone_url":"https://git.example.com/org/%s.git","ssh_url":"git@git.example.com:org/%s.git","html_url":"https://git.example.com/org/%s","default_branch":"main"}}`, ref, repo, repo, repo)
}

func testStampsExactlyTheMatchingObjects(t *testing.T, h *hubFixture) {
	e, _ := h.receiver(t, nil, webhook.WithMaxBodyBytes(64<<10))

	// A signed GitHub push to main: both Channels of the repository and the
	// Subscriptions following main (by name or as default branch).
	body := githubPush("refs/heads/main", "fleet")
	status, _ := e.post("/webhook", map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + hmac256("s3cr3t", body)}, body)
	want := []string{"channel/https", "channel/scp", "sub/default", "sub/main", "sub/scp-main"}
	if got := e.stamped(); status != http.StatusAccepted || strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("signed push: status %d, stamped %v, want %v", status, got, want)
	}

	// A wrong signature: the Channel with a secret refuses it; the one
	// without a secret (as in OCM) still accepts the push.
	status, _ = e.post("/webhook", map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + hmac256("guess", body)}, body)
	if got := e.stamped(); status != http.StatusAccepted || strings.Join(got, " ") != "channel/scp sub/scp-main" {
		t.Fatalf("bad signature: status %d, stamped %v", status, got)
	}
	// Where every Channel has a secret, a bad signature touches nothing.
	other := githubPush("refs/heads/main", "other")
	status, _ = e.post("/webhook", map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + hmac256("guess", other)}, other)
	if got := e.stamped(); status != http.StatusAccepted || len(got) != 0 {
		t.Fatalf("bad signature on other: status %d, stamped %v", status, got)
	}

	// GitLab tag push with the token.
	gl := `{"object_kind":"tag_push","ref":"refs/tags/v1","project":{"git_http_url":"https://git.example.com/org/other.git","web_url":"https://git.example.com/org/other","default_branch":"main"}}`
	status, _ = e.post("/webhook", map[string]string{"X-Gitlab-Event": "Tag Push Hook", "X-Gitlab-Token": "s3cr3t"}, gl)
	if got := e.stamped(); status != http.StatusAccepted || strings.Join(got, " ") != "channel/other" {
		t.Fatalf("gitlab tag push: status %d, stamped %v", status, got)
	}
	gl = strings.ReplaceAll(gl, "/other", "/fleet")
	status, _ = e.post("/webhook", map[string]string{"X-Gitlab-Event": "Tag Push Hook", "X-Gitlab-Token": "s3cr3t"}, gl)
	if got := e.stamped(); status != http.StatusAccepted || strings.Join(got, " ") != "channel/https channel/scp sub/tag" {
		t.Fatalf("gitlab tag push on fleet: status %d, stamped %v", status, got)
	}

	// Gitea push to dev, signed its way.
	gitea := githubPush("refs/heads/dev", "other")
	status, _ = e.post("/webhook", map[string]string{"X-Gitea-Event": "push", "X-GitHub-Event": "push", "X-Gitea-Signature": hmac256("s3cr3t", gitea)}, gitea)
	if got := e.stamped(); status != http.StatusAccepted || strings.Join(got, " ") != "channel/other" {
		t.Fatalf("gitea push: status %d, stamped %v", status, got)
	}

	// Bitbucket Cloud with the secret as a URL token.
	bb := `{"push":{"changes":[{"new":{"type":"branch","name":"main"}}]},"repository":{"full_name":"org/other","links":{"html":{"href":"https://git.example.com/org/other"}}}}`
	status, _ = e.post("/webhook?token=s3cr3t", map[string]string{"X-Event-Key": "repo:push"}, bb)
	if got := e.stamped(); status != http.StatusAccepted || strings.Join(got, " ") != "channel/other sub/other-main" {
		t.Fatalf("bitbucket push: status %d, stamped %v", status, got)
	}

	// Protocol errors.
	if status, _ := e.post("/webhook", map[string]string{"X-GitHub-Event": "push"}, strings.Repeat("x", 65<<10)); status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d", status)
	}
	if status, _ := e.post("/webhook", nil, "{}"); status != http.StatusBadRequest {
		t.Errorf("unknown sender: %d", status)
	}
	if status, _ := e.post("/webhook", map[string]string{"X-GitHub-Event": "ping"}, "{}"); status != http.StatusOK {
		t.Errorf("ping: %d", status)
	}
	if status, _ := e.post("/webhook", map[string]string{"X-GitHub-Event": "issues"}, "{}"); status != http.StatusAccepted {
		t.Errorf("other event: %d", status)
	}
	resp, err := http.Get(e.url + "/webhook")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", resp.StatusCode)
	}
	if got := e.stamped(); len(got) != 0 {
		t.Errorf("refused requests stamped %v", got)
	}
}

// testAnswersUniformly: the answer to a push used to tell a
// tracked repository (401 on a bad signature, Channel and Subscription
// names on success) from an untracked one (202), and signed pushes could be
// replayed (issue 16 item 11). Every push gets the same answer now, and a
// delivery handled once is not acted on again.
func testAnswersUniformly(t *testing.T, h *hubFixture) {
	e, _ := h.receiver(t, nil)
	other := githubPush("refs/heads/main", "other")
	type answer struct {
		status int
		body   string
	}
	var answers []answer
	for _, c := range []struct {
		headers map[string]string
		body    string
	}{
		{map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + hmac256("s3cr3t", other), "X-GitHub-Delivery": "d-1"}, other},
		{map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + hmac256("guess", other)}, other},
		{map[string]string{"X-GitHub-Event": "push"}, githubPush("refs/heads/main", "untracked")},
		{map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + hmac256("s3cr3t", githubPush("refs/heads/main", "fleet"))}, githubPush("refs/heads/main", "fleet")},
	} {
		status, body := e.post("/webhook", c.headers, c.body)
		answers = append(answers, answer{status, body})
		for _, name := range []string{"https", "scp", "other", "main", "default", "fleet/"} {
			if strings.Contains(body, `"`+name) || strings.Contains(body, name+`"`) {
				t.Errorf("the answer names %q: %s", name, body)
			}
		}
	}
	for i, a := range answers[1:] {
		if a != answers[0] {
			t.Errorf("answer %d differs: %d %s, first %d %s", i+2, a.status, a.body, answers[0].status, answers[0].body)
		}
	}
	if got := e.stamped(); strings.Join(got, " ") != "channel/https channel/other channel/scp sub/default sub/main sub/other-main sub/scp-main" {
		t.Fatalf("stamped %v", got)
	}

	// The first, signed delivery sent again (a replay) changes nothing.
	e.post("/webhook", map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + hmac256("s3cr3t", other), "X-GitHub-Delivery": "d-1"}, other)
	if got := e.stamped(); len(got) != 0 {
		t.Errorf("a replayed delivery stamped %v", got)
	}
	e.post("/webhook", map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + hmac256("s3cr3t", other), "X-GitHub-Delivery": "d-2"}, other)
	if got := e.stamped(); strings.Join(got, " ") != "channel/other sub/other-main" {
		t.Errorf("a new delivery stamped %v", got)
	}
}

// testBoundsItsWork: Secret reads are cached (one per Secret, not
// one per request), a declared oversized body is refused before it is
// sent, and requests beyond the rate or the places in flight are answered
// 429 at once (issue 16 item 11).
func testBoundsItsWork(t *testing.T, h *hubFixture) {
	e, secrets := h.receiver(t, nil, webhook.WithMaxBodyBytes(64<<10), webhook.WithRateLimit(1000, 1000))
	other := githubPush("refs/heads/main", "other")
	for i := 0; i < 30; i++ {
		sig := hmac256("guess", other)
		if i%2 == 0 {
			sig = hmac256("s3cr3t", other)
		}
		e.post("/webhook", map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + sig}, other)
	}
	if n := secrets.gets.Load(); n > 2 {
		t.Errorf("30 pushes read the webhook Secret %d times, want at most 2", n)
	}

	// Headers declaring 10 MiB, and no body: the answer comes at once.
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /webhook HTTP/1.1\r\nHost: hub\r\nX-GitHub-Event: push\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", 10<<20)
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer before the body: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("declared 10 MiB: %d", resp.StatusCode)
	}
}

func testLimitsRateAndConcurrency(t *testing.T, h *hubFixture) {
	block := &blockingClient{release: make(chan struct{}), entered: make(chan struct{}, 8)}
	e, _ := h.receiver(t, func(c client.Client) client.Client { block.Client = c; return block },
		webhook.WithRateLimit(1000, 1000), webhook.WithMaxInFlight(2))
	body := githubPush("refs/heads/main", "fleet")
	results := make(chan int, 2)
	for i := 0; i < 2; i++ {
		go func() {
			status, _ := e.post("/webhook", map[string]string{"X-GitHub-Event": "push"}, body)
			results <- status
		}()
		<-block.entered
	}
	if status, _ := e.post("/webhook", map[string]string{"X-GitHub-Event": "push"}, body); status != http.StatusTooManyRequests {
		t.Errorf("a third request while two are in flight: %d, want 429", status)
	}
	close(block.release)
	for i := 0; i < 2; i++ {
		if s := <-results; s != http.StatusAccepted {
			t.Errorf("a request in flight ended with %d", s)
		}
	}

	// A burst of 3 at one request a minute: the fourth is refused.
	e2, _ := h.receiver(t, nil, webhook.WithRateLimit(1.0/60, 3))
	statuses := map[int]int{}
	for i := 0; i < 4; i++ {
		s, _ := e2.post("/webhook", map[string]string{"X-GitHub-Event": "push"}, body)
		statuses[s]++
	}
	if statuses[http.StatusAccepted] != 3 || statuses[http.StatusTooManyRequests] != 1 {
		t.Errorf("statuses %v, want 3 accepted and 1 refused", statuses)
	}
}
