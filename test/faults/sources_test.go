package faults_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	workv1 "open-cluster-management.io/api/work/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/test/harness"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// fault is how a faultyProxy answers.
type fault int

const (
	healthy  fault = iota
	failing        // HTTP 500 to everything
	truncate       // Git pack responses cut in half
	garbage        // 200 with garbage instead of an S3 listing
)

// faultyProxy sits between the hub and a source server.
type faultyProxy struct {
	*httptest.Server
	mu   sync.Mutex
	mode fault
}

func newFaultyProxy(t *testing.T, target string) *faultyProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	p := &faultyProxy{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		mode := p.mode
		p.mu.Unlock()
		switch {
		case mode == failing:
			http.Error(w, "upstream exploded", http.StatusInternalServerError)
		case mode == truncate && strings.HasSuffix(r.URL.Path, "/git-upload-pack") && r.Method == http.MethodPost:
			rec := httptest.NewRecorder()
			rp.ServeHTTP(rec, r)
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.Header().Del("Content-Length")
			w.WriteHeader(rec.Code)
			body := rec.Body.Bytes()
			_, _ = w.Write(body[:len(body)/2])
		case mode == garbage && r.Method == http.MethodGet && (r.URL.Query().Has("list-type") || strings.Count(strings.Trim(r.URL.Path, "/"), "/") == 0):
			w.Header().Set("Content-Type", "application/xml")
			_, _ = w.Write([]byte("\x00\x01<ListBucketResult><Contents><Key>../../etc/passwd</Key><Size>-7</Size></Contents" + strings.Repeat("<", 1000)))
		default:
			rp.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *faultyProxy) set(mode fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = mode
}

// chartRepo serves index.yaml and chart archives from memory.
type chartRepo struct {
	*httptest.Server
	mu    sync.Mutex
	files map[string][]byte
}

func newChartRepo(t *testing.T) *chartRepo {
	r := &chartRepo{files: map[string][]byte{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		body, ok := r.files[req.URL.Path]
		r.mu.Unlock()
		if !ok {
			http.NotFound(w, req)
			return
		}
		_, _ = w.Write(body)
	}))
	t.Cleanup(r.Close)
	return r
}

// publish serves archive as the only version of chart demo.
func (r *chartRepo) publish(version string, archive []byte) {
	sum := sha256.Sum256(archive)
	index := fmt.Sprintf("apiVersion: v1\nentries:\n  demo:\n  - name: demo\n    version: %s\n    apiVersion: v2\n    digest: %s\n    urls: [%s/demo-%s.tgz]\n",
		version, hex.EncodeToString(sum[:]), r.URL, version)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.files["/demo-"+version+".tgz"] = archive
	r.files["/index.yaml"] = []byte(index)
}

func (r *chartRepo) setIndex(body string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.files["/index.yaml"] = []byte(body)
}

// tarGz builds a chart archive from name -> content; a content of the form
// "zeros:N" is N zero bytes.
func tarGz(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	tw := tar.NewWriter(zw)
	for name, content := range files {
		var data []byte
		var n int
		if _, err := fmt.Sscanf(content, "zeros:%d", &n); err == nil {
			data = make([]byte, n)
		} else {
			data = []byte(content)
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
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

func demoChart(t *testing.T, version string) []byte {
	return tarGz(t, map[string]string{
		"demo/Chart.yaml":        "apiVersion: v2\nname: demo\nversion: " + version + "\n",
		"demo/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\ndata:\n  version: \"" + version + "\"\n",
	})
}

// s3Bucket is gofakes3 with a client to fill the bucket.
type s3Bucket struct {
	*httptest.Server
	client *minio.Client
}

func newS3Bucket(t *testing.T, bucket string) *s3Bucket {
	t.Helper()
	faker := gofakes3.New(s3mem.New(), gofakes3.WithLogger(gofakes3.DiscardLog()))
	b := &s3Bucket{Server: httptest.NewServer(faker.Server())}
	t.Cleanup(b.Close)
	var err error
	b.client, err = minio.New(strings.TrimPrefix(b.URL, "http://"), &minio.Options{Creds: credentials.NewStaticV4("id", "secret", ""), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.client.MakeBucket(context.Background(), bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	return b
}

func (b *s3Bucket) put(t *testing.T, bucket, key, content string) {
	t.Helper()
	if _, err := b.client.PutObject(context.Background(), bucket, key, strings.NewReader(content), int64(len(content)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestSourcesDownOrGarbage breaks a Git server, a Helm repository and an S3
// bucket in the ways sources break (HTTP 500, a pack cut short, an index
// that is not YAML, a chart that unpacks to 80 MiB, a listing that is not
// XML): the ManifestWorks keep the last good content, SourceReady says why
// and that the last good revision is still deployed, and once each source
// heals its newest content goes out.
func TestSourcesDownOrGarbage(t *testing.T) {
	e := harness.NewHub(t, "c1")

	repo := harness.NewFleet(t, map[string]string{"apps/git/cm.yaml": harness.ConfigMapYAML("git", "one")})
	gitProxy := newFaultyProxy(t, repo.Server.URL)
	charts := newChartRepo(t)
	charts.publish("1.0.0", demoChart(t, "1.0.0"))
	bucket := newS3Bucket(t, "fleet")
	bucket.put(t, "fleet", "apps/cm.yaml", harness.ConfigMapYAML("s3", "one"))
	s3Proxy := newFaultyProxy(t, bucket.URL)

	helmSub := &appsv1.Subscription{ObjectMeta: harness.Meta("fleet", "helm"),
		Spec: appsv1.SubscriptionSpec{Channel: "fleet/charts", Package: "demo",
			Placement: &appsv1.Placement{Clusters: []appsv1.GenericClusterReference{{Name: "c1"}}}}}
	s3Sub := &appsv1.Subscription{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "s3",
		Annotations: map[string]string{appsv1.AnnotationBucketPath: "apps"}},
		Spec: appsv1.SubscriptionSpec{Channel: "fleet/bucket",
			Placement: &appsv1.Placement{Clusters: []appsv1.GenericClusterReference{{Name: "c1"}}}}}
	e.Create(t,
		&corev1.Secret{ObjectMeta: harness.Meta("fleet", "s3-keys"), StringData: map[string]string{"AccessKeyID": "id", "SecretAccessKey": "secret"}},
		&appsv1.Channel{ObjectMeta: harness.Meta("fleet", "git"), Spec: appsv1.ChannelSpec{Type: "Git", Pathname: gitProxy.URL + "/fleet.git"}},
		&appsv1.Channel{ObjectMeta: harness.Meta("fleet", "charts"), Spec: appsv1.ChannelSpec{Type: "HelmRepo", Pathname: charts.URL}},
		&appsv1.Channel{ObjectMeta: harness.Meta("fleet", "bucket"), Spec: appsv1.ChannelSpec{Type: "ObjectBucket", Pathname: s3Proxy.URL + "/fleet",
			SecretRef: &corev1.ObjectReference{Name: "s3-keys"}}},
		harness.GitSubscription("git", "git", "c1"), helmSub, s3Sub)
	harness.RunHub(t, e.CP.Config, nil)

	deployed := func(sub, content string) *workv1.ManifestWork {
		t.Helper()
		var w *workv1.ManifestWork
		poll.Eventually(t, 30*time.Second, sub+" deploys "+content, func() error {
			w = e.Works(t, sub)["c1"]
			if w == nil || !harness.ManifestsContain(w, content) {
				return fmt.Errorf("work %v", w != nil)
			}
			if c := harness.ConditionOf(e.Subscription(t, sub), appsv1.ConditionSourceReady); c.Status != metav1.ConditionTrue {
				return fmt.Errorf("SourceReady %s: %s", c.Status, c.Message)
			}
			return nil
		})
		return w
	}
	// broken asks the hub to look at channel again and waits until sub's
	// SourceReady says why the source is broken; the work stays as good was.
	broken := func(sub, channel string, good *workv1.ManifestWork, says string) {
		t.Helper()
		e.RequestReconcile(t, "fleet", channel)
		poll.Eventually(t, 30*time.Second, sub+": source failure reported", func() error {
			c := harness.ConditionOf(e.Subscription(t, sub), appsv1.ConditionSourceReady)
			if c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, says) || !strings.Contains(c.Message, "still deploying the last good revision") {
				return fmt.Errorf("SourceReady %s/%s: %s", c.Status, c.Reason, c.Message)
			}
			return nil
		})
		t.Logf("%s: SourceReady: %s", sub, harness.ConditionOf(e.Subscription(t, sub), appsv1.ConditionSourceReady).Message)
		w := e.Works(t, sub)["c1"]
		if w == nil || w.UID != good.UID || w.Generation != good.Generation {
			t.Fatalf("%s: a broken source changed the work", sub)
		}
		if s := e.Subscription(t, sub); s.Status.LastAppliedRevision != good.Annotations[appsv1.AnnotationRevision] {
			t.Fatalf("%s: lastAppliedRevision %s, want %s", sub, s.Status.LastAppliedRevision, good.Annotations[appsv1.AnnotationRevision])
		}
	}

	gitGood := deployed("git", `"value":"one"`)
	helmGood := deployed("helm", `"version":"1.0.0"`)
	s3Good := deployed("s3", `"value":"one"`)

	// Git: the server fails, then sends packs cut in half.
	repo.Commit(t, "two", map[string]string{"apps/git/cm.yaml": harness.ConfigMapYAML("git", "two")})
	gitProxy.set(failing)
	broken("git", "git", gitGood, "server error")
	gitProxy.set(truncate)
	before := harness.ConditionOf(e.Subscription(t, "git"), appsv1.ConditionSourceReady).Message
	e.RequestReconcile(t, "fleet", "git")
	poll.Eventually(t, 30*time.Second, "truncated pack reported", func() error {
		if c := harness.ConditionOf(e.Subscription(t, "git"), appsv1.ConditionSourceReady); c.Status != metav1.ConditionFalse || c.Message == before {
			return fmt.Errorf("SourceReady %s: %s", c.Status, c.Message)
		}
		return nil
	})
	broken("git", "git", gitGood, "")

	// Helm: an index that is not one, then a zip bomb as the newest chart.
	charts.setIndex("\x00<html>{{{ not an index")
	broken("helm", "charts", helmGood, "not a valid Helm repository index")
	charts.publish("1.1.0", tarGz(t, func() map[string]string {
		files := map[string]string{"demo/Chart.yaml": "apiVersion: v2\nname: demo\nversion: 1.1.0\n"}
		for i := range 20 {
			files[fmt.Sprintf("demo/files/blob%d", i)] = fmt.Sprintf("zeros:%d", 4<<20)
		}
		return files
	}()))
	broken("helm", "charts", helmGood, "unpacks to more than 64 MiB")

	// S3: a listing that is not XML.
	bucket.put(t, "fleet", "apps/cm.yaml", harness.ConfigMapYAML("s3", "two"))
	s3Proxy.set(garbage)
	broken("s3", "bucket", s3Good, "")

	// Every source heals: the newest content goes out, with an event.
	gitProxy.set(healthy)
	charts.publish("1.2.0", demoChart(t, "1.2.0"))
	s3Proxy.set(healthy)
	for _, ch := range []string{"git", "charts", "bucket"} {
		e.RequestReconcile(t, "fleet", ch)
	}
	deployed("git", `"value":"two"`)
	deployed("helm", `"version":"1.2.0"`)
	deployed("s3", `"value":"two"`)
	poll.Eventually(t, 10*time.Second, "recovery events", func() error {
		var events corev1.EventList
		if err := e.C.List(e.Ctx, &events, client.InNamespace("fleet")); err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, ev := range events.Items {
			if ev.Reason == "SourceRecovered" {
				seen[ev.InvolvedObject.Name] = true
			}
		}
		if !seen["git"] || !seen["helm"] || !seen["s3"] {
			return fmt.Errorf("SourceRecovered events for %v", seen)
		}
		return nil
	})
}
