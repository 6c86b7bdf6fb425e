package tenancy_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	workv1 "open-cluster-management.io/api/work/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/hub"
	"github.com/ocm-gitops/ocm-gitops/test/harness"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// basicAuthOnly answers 401 unless the request carries user and password.
func basicAuthOnly(user string, password *string, mu *sync.Mutex, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		want := *password
		mu.Unlock()
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != want {
			w.Header().Set("WWW-Authenticate", `Basic realm="fleet"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// TestCredentialsNeverLeak deploys from a Git server, a Helm repository and
// an S3 bucket that all require credentials, first with wrong ones (the
// fetches fail), then with the right ones. Neither the wrong nor the right
// secrets, nor their Basic-auth encodings, appear in any log line the hub
// writes (down to the debug level), in any Event, in the status of Channels and
// Subscriptions, or in any ManifestWork.
func TestCredentialsNeverLeak(t *testing.T) {
	logs := &harness.LogBuffer{}
	ctrl.SetLogger(logs.Logger(4))
	klog.SetLogger(logs.Logger(4))
	t.Cleanup(func() { ctrl.SetLogger(logr.Discard()); klog.SetLogger(logr.Discard()) })

	secrets := map[string]string{
		"gitWrong": "git-wrong-token-7d1e", "gitRight": "git-right-token-3a9c",
		"helmWrong": "helm-wrong-pass-51b0", "helmRight": "helm-right-pass-c2e4",
		"s3Wrong": "s3-wrong-secret-88f1", "s3Right": "s3-right-secret-0d6a",
		"urlPass": "url-userinfo-pass-4b7e",
	}
	var mu sync.Mutex
	gitPass, helmPass, s3Key := "git-right-token-3a9c", "helm-right-pass-c2e4", "right-key-id"

	e := harness.NewHub(t, "c1")
	repo := harness.NewFleet(t, map[string]string{"apps/git/cm.yaml": harness.ConfigMapYAML("git", "one")})
	target, _ := url.Parse(repo.Server.URL)
	gitSrv := httptest.NewServer(basicAuthOnly("bot", &gitPass, &mu, httputil.NewSingleHostReverseProxy(target)))
	t.Cleanup(gitSrv.Close)

	chart := chartArchive(t, map[string]string{
		"demo/Chart.yaml":        "apiVersion: v2\nname: demo\nversion: 1.0.0\n",
		"demo/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\ndata:\n  from: helm\n",
	})
	var helmURL string
	helmSrv := httptest.NewServer(basicAuthOnly("reader", &helmPass, &mu, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/index.yaml":
			sum := sha256.Sum256(chart)
			fmt.Fprintf(w, "apiVersion: v1\nentries:\n  demo:\n  - name: demo\n    version: 1.0.0\n    apiVersion: v2\n    digest: %s\n    urls: [%s/demo-1.0.0.tgz]\n", hex.EncodeToString(sum[:]), helmURL)
		case "/demo-1.0.0.tgz":
			_, _ = w.Write(chart)
		default:
			http.NotFound(w, r)
		}
	})))
	t.Cleanup(helmSrv.Close)
	helmURL = helmSrv.URL

	faker := gofakes3.New(s3mem.New(), gofakes3.WithLogger(gofakes3.DiscardLog()))
	inner := faker.Server()
	s3Srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		want := s3Key
		mu.Unlock()
		if !strings.Contains(r.Header.Get("Authorization"), "Credential="+want+"/") {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidAccessKeyId</Code><Message>The AWS Access Key Id you provided does not exist in our records.</Message></Error>`))
			return
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(s3Srv.Close)
	mc, err := minio.New(strings.TrimPrefix(s3Srv.URL, "http://"), &minio.Options{Creds: credentials.NewStaticV4(s3Key, "x", ""), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := mc.MakeBucket(context.Background(), "fleet", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	body := harness.ConfigMapYAML("s3", "one")
	if _, err := mc.PutObject(context.Background(), "fleet", "apps/cm.yaml", strings.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}

	// Wrong credentials first.
	place := &appsv1.Placement{Clusters: []appsv1.GenericClusterReference{{Name: "c1"}}}
	gitURLWithPassword := strings.Replace(gitSrv.URL, "http://", "http://bot:"+secrets["urlPass"]+"@", 1) + "/fleet.git"
	e.Create(t,
		&corev1.Secret{ObjectMeta: harness.Meta("fleet", "git"), StringData: map[string]string{"user": "bot", "accessToken": secrets["gitWrong"]}},
		&corev1.Secret{ObjectMeta: harness.Meta("fleet", "helm"), StringData: map[string]string{"user": "reader", "password": secrets["helmWrong"]}},
		&corev1.Secret{ObjectMeta: harness.Meta("fleet", "s3"), StringData: map[string]string{"AccessKeyID": "wrong-key-id", "SecretAccessKey": secrets["s3Wrong"]}},
		&appsv1.Channel{ObjectMeta: harness.Meta("fleet", "git"), Spec: appsv1.ChannelSpec{Type: "Git", Pathname: gitSrv.URL + "/fleet.git", SecretRef: &corev1.ObjectReference{Name: "git"}}},
		&appsv1.Channel{ObjectMeta: harness.Meta("fleet", "git-userinfo"), Spec: appsv1.ChannelSpec{Type: "Git", Pathname: gitURLWithPassword}},
		&appsv1.Channel{ObjectMeta: harness.Meta("fleet", "helm"), Spec: appsv1.ChannelSpec{Type: "HelmRepo", Pathname: helmSrv.URL, SecretRef: &corev1.ObjectReference{Name: "helm"}}},
		&appsv1.Channel{ObjectMeta: harness.Meta("fleet", "s3"), Spec: appsv1.ChannelSpec{Type: "ObjectBucket", Pathname: s3Srv.URL + "/fleet", SecretRef: &corev1.ObjectReference{Name: "s3"}}},
		harness.GitSubscription("git", "git", "c1"),
		harness.GitSubscription("userinfo", "git-userinfo", "c1"),
		&appsv1.Subscription{ObjectMeta: harness.Meta("fleet", "helm"), Spec: appsv1.SubscriptionSpec{Channel: "fleet/helm", Package: "demo", Placement: place}},
		&appsv1.Subscription{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "s3", Annotations: map[string]string{appsv1.AnnotationBucketPath: "apps"}},
			Spec: appsv1.SubscriptionSpec{Channel: "fleet/s3", Placement: place}},
	)
	harness.RunHub(t, e.CP.Config, func(o *hub.Options) { o.Logger = logs.Logger(4) })
	for _, sub := range []string{"git", "userinfo", "helm", "s3"} {
		poll.Eventually(t, 30*time.Second, sub+" fails to fetch", func() error {
			c := harness.ConditionOf(e.Subscription(t, sub), appsv1.ConditionSourceReady)
			if c.Status != metav1.ConditionFalse || c.Reason == "" {
				return fmt.Errorf("SourceReady %s/%s: %s", c.Status, c.Reason, c.Message)
			}
			return nil
		})
	}
	scan(t, e, logs, secrets, "after failing fetches")

	// The right credentials.
	for name, data := range map[string]map[string]string{
		"git":  {"user": "bot", "accessToken": secrets["gitRight"]},
		"helm": {"user": "reader", "password": secrets["helmRight"]},
		"s3":   {"AccessKeyID": "right-key-id", "SecretAccessKey": secrets["s3Right"]},
	} {
		sec := &corev1.Secret{}
		if err := e.C.Get(e.Ctx, client.ObjectKey{Namespace: "fleet", Name: name}, sec); err != nil {
			t.Fatal(err)
		}
		sec.Data, sec.StringData = nil, data
		if err := e.C.Update(e.Ctx, sec); err != nil {
			t.Fatal(err)
		}
		e.RequestReconcile(t, "fleet", name)
	}
	for _, sub := range []string{"git", "helm", "s3"} {
		poll.Eventually(t, 30*time.Second, sub+" deploys", func() error {
			if w := e.Works(t, sub)["c1"]; w == nil {
				return fmt.Errorf("no work")
			}
			return nil
		})
	}
	poll.Eventually(t, 10*time.Second, "recovery events", func() error {
		var events corev1.EventList
		if err := e.C.List(e.Ctx, &events, client.InNamespace("fleet")); err != nil {
			return err
		}
		for _, ev := range events.Items {
			if ev.Reason == "SourceRecovered" {
				return nil
			}
		}
		return fmt.Errorf("no SourceRecovered event among %d", len(events.Items))
	})
	scan(t, e, logs, secrets, "after successful fetches")
	if !strings.Contains(logs.String(), "fetched") {
		t.Fatal("the captured logs hold no fetch: the scan looked at nothing")
	}
}

// chartArchive is a gzipped tar of files.
func chartArchive(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, content := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// scan fails the test if any secret value, or its Basic-auth encoding with
// the users of this test, shows anywhere the hub writes.
func scan(t *testing.T, e *harness.Hub, logs *harness.LogBuffer, secrets map[string]string, when string) {
	t.Helper()
	needles := map[string]string{}
	for name, v := range secrets {
		needles[name] = v
		needles[name+" in base64"] = base64.StdEncoding.EncodeToString([]byte(v))
		for _, user := range []string{"bot", "reader"} {
			needles[name+" as Basic auth of "+user] = base64.StdEncoding.EncodeToString([]byte(user + ":" + v))
		}
	}
	haystacks := map[string]string{"logs": logs.String()}
	add := func(what string, v any) {
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		haystacks[what] = string(data)
	}
	var events corev1.EventList
	if err := e.C.List(e.Ctx, &events); err != nil {
		t.Fatal(err)
	}
	add("core Events", events.Items)
	var newEvents eventsv1.EventList
	if err := e.C.List(e.Ctx, &newEvents); err != nil {
		t.Fatal(err)
	}
	add("events.k8s.io Events", newEvents.Items)
	var subs appsv1.SubscriptionList
	if err := e.C.List(e.Ctx, &subs); err != nil {
		t.Fatal(err)
	}
	for _, s := range subs.Items {
		add("Subscription "+s.Name+" status and annotations", []any{s.Status, s.Annotations})
	}
	var channels appsv1.ChannelList
	if err := e.C.List(e.Ctx, &channels); err != nil {
		t.Fatal(err)
	}
	for _, c := range channels.Items {
		add("Channel "+c.Name+" status", c.Status)
	}
	var works workv1.ManifestWorkList
	if err := e.C.List(e.Ctx, &works); err != nil {
		t.Fatal(err)
	}
	add("ManifestWorks", works.Items)
	if len(haystacks["logs"]) == 0 || !strings.Contains(haystacks["Subscription git status and annotations"], "SourceReady") {
		t.Fatalf("%s: nothing to scan", when)
	}
	for where, text := range haystacks {
		for name, needle := range needles {
			if strings.Contains(text, needle) {
				i := strings.Index(text, needle)
				t.Errorf("%s: the %s secret shows in %s: ...%s...", when, name, where, text[max(0, i-300):min(len(text), i+len(needle)+40)])
			}
		}
	}
}
