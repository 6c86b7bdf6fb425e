package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

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

func TestReceiverStampsExactlyTheMatchingObjects(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	assets, err := lab.FindAssets("")
	if err != nil {
		t.Fatalf("control plane binaries: %v", err)
	}
	cp, err := lab.StartControlPlane(ctx, "hub", lab.RoleHub, assets)
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Stop()
	mgr, err := ctrl.NewManager(cp.Config, ctrl.Options{Scheme: scheme.New(), Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := index.Add(ctx, mgr.GetFieldIndexer(), index.SubscriptionChannel); err != nil {
		t.Fatal(err)
	}
	if err := webhook.SetupWithManager(mgr, "", webhook.WithListener(l), webhook.WithMaxBodyBytes(64<<10)); err != nil {
		t.Fatal(err)
	}
	mctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mctx) }()
	defer func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("manager: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("manager did not stop")
		}
	}()

	c, err := client.New(cp.Config, client.Options{Scheme: scheme.New()})
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
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	// Wait (bounded) until the manager's cache holds them.
	deadline := time.Now().Add(30 * time.Second)
	for {
		subs := &appsv1.SubscriptionList{}
		if err := mgr.GetClient().List(ctx, subs, client.MatchingFields{index.SubscriptionChannel: "fleet/other"}); err == nil && len(subs.Items) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the cache never showed the Subscriptions")
		}
		time.Sleep(100 * time.Millisecond)
	}
	e := &hookEnv{t: t, url: "http://" + l.Addr().String(), c: c, ctx: ctx, seen: map[string]string{}}

	githubPush := func(ref, repo string) string {
		return fmt.Sprintf(`{"ref":%q,"repository":{"clone_url":"https://git.example.com/org/%s.git","ssh_url":"git@git.example.com:org/%s.git","html_url":"https://git.example.com/org/%s","default_branch":"main"}}`, ref, repo, repo, repo)
	}

	// A signed GitHub push to main: both Channels of the repository and the
	// Subscriptions following main (by name or as default branch).
	body := githubPush("refs/heads/main", "fleet")
	status, resp := e.post("/webhook", map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + hmac256("s3cr3t", body)}, body)
	if status != http.StatusOK {
		t.Fatalf("signed push: %d %s", status, resp)
	}
	want := []string{"channel/https", "channel/scp", "sub/default", "sub/main", "sub/scp-main"}
	if got := e.stamped(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("stamped %v, want %v", got, want)
	}
	var res struct{ Channels, Subscriptions []string }
	if err := json.Unmarshal([]byte(resp), &res); err != nil || len(res.Subscriptions) != 3 {
		t.Fatalf("response %s", resp)
	}

	// A wrong signature: the Channel with a secret refuses it; the one
	// without a secret (as in OCM) still accepts the push.
	status, _ = e.post("/webhook", map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + hmac256("guess", body)}, body)
	if got := e.stamped(); status != http.StatusOK || strings.Join(got, " ") != "channel/scp sub/scp-main" {
		t.Fatalf("bad signature: status %d, stamped %v", status, got)
	}
	// Where every Channel has a secret, a bad signature is 401 and touches nothing.
	other := githubPush("refs/heads/main", "other")
	status, _ = e.post("/webhook", map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + hmac256("guess", other)}, other)
	if got := e.stamped(); status != http.StatusUnauthorized || len(got) != 0 {
		t.Fatalf("bad signature on other: status %d, stamped %v", status, got)
	}

	// GitLab tag push with the token.
	gl := `{"object_kind":"tag_push","ref":"refs/tags/v1","project":{"git_http_url":"https://git.example.com/org/other.git","web_url":"https://git.example.com/org/other","default_branch":"main"}}`
	status, _ = e.post("/webhook", map[string]string{"X-Gitlab-Event": "Tag Push Hook", "X-Gitlab-Token": "s3cr3t"}, gl)
	if got := e.stamped(); status != http.StatusOK || strings.Join(got, " ") != "channel/other" {
		t.Fatalf("gitlab tag push: status %d, stamped %v", status, got)
	}
	gl = strings.ReplaceAll(gl, "/other", "/fleet")
	status, _ = e.post("/webhook", map[string]string{"X-Gitlab-Event": "Tag Push Hook", "X-Gitlab-Token": "s3cr3t"}, gl)
	if got := e.stamped(); status != http.StatusOK || strings.Join(got, " ") != "channel/https channel/scp sub/tag" {
		t.Fatalf("gitlab tag push on fleet: status %d, stamped %v", status, got)
	}

	// Gitea push to dev, signed its way.
	gitea := githubPush("refs/heads/dev", "other")
	status, _ = e.post("/webhook", map[string]string{"X-Gitea-Event": "push", "X-GitHub-Event": "push", "X-Gitea-Signature": hmac256("s3cr3t", gitea)}, gitea)
	if got := e.stamped(); status != http.StatusOK || strings.Join(got, " ") != "channel/other" {
		t.Fatalf("gitea push: status %d, stamped %v", status, got)
	}

	// Bitbucket Cloud with the secret as a URL token.
	bb := `{"push":{"changes":[{"new":{"type":"branch","name":"main"}}]},"repository":{"full_name":"org/other","links":{"html":{"href":"https://git.example.com/org/other"}}}}`
	status, _ = e.post("/webhook?token=s3cr3t", map[string]string{"X-Event-Key": "repo:push"}, bb)
	if got := e.stamped(); status != http.StatusOK || strings.Join(got, " ") != "channel/other sub/other-main" {
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
	if status, _ := e.post("/webhook", map[string]string{"X-GitHub-Event": "push"}, githubPush("refs/heads/main", "unknown")); status != http.StatusAccepted {
		t.Errorf("unknown repository: %d", status)
	}
	resp2, err := http.Get(e.url + "/webhook")
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", resp2.StatusCode)
	}
	if got := e.stamped(); len(got) != 0 {
		t.Errorf("refused requests stamped %v", got)
	}
}
