package ui

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/test/harness"
)

// TestLiveEvents: a change on a real hub reaches an open event stream, and
// the matrix then shows it.
func TestLiveEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a control plane")
	}
	t.Logf("%s start", time.Now().Format(time.TimeOnly))
	e := harness.NewHub(t, "east")
	t.Logf("%s hub", time.Now().Format(time.TimeOnly))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := New(ctx, e.CP.Config, logr.Discard(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s synced", time.Now().Format(time.TimeOnly))
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewReader(resp.Body)
	if l, err := lines.ReadString('\n'); err != nil || !strings.HasPrefix(l, ": connected") {
		t.Fatalf("first line %q, %v", l, err)
	}
	sub := harness.GitSubscription("hello", "repo", "east")
	e.Create(t, sub)
	sub.Status.LastAppliedRevision = "main@sha1:0123456789abcdef0123456789abcdef01234567"
	sub.Status.Summary = appsv1.ClusterSummary{Selected: 1, Drifted: 1}
	sub.Status.Clusters = []appsv1.ClusterStatus{{Name: "east", State: appsv1.ClusterDrifted}}
	sub.Status.ObservedGeneration = 1
	sub.Status.Conditions = []metav1.Condition{{Type: appsv1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Succeeded", LastTransitionTime: metav1.Now()}}
	if err := e.C.Status().Update(ctx, sub); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		for {
			l, err := lines.ReadString('\n')
			if err != nil || strings.HasPrefix(l, "event: change") {
				got <- l
				return
			}
		}
	}()
	select {
	case l := <-got:
		if !strings.HasPrefix(l, "event: change") {
			t.Fatalf("stream ended: %q", l)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no change event within 30s of a Subscription's update")
	}
	t.Logf("%s event", time.Now().Format(time.TimeOnly))
	r, err := http.Get(srv.URL + "/?partial=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	for _, want := range []string{`data-sub="fleet/hello"`, `data-cluster="east" data-class="drifted"`, "main@0123456"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("matrix lacks %q:\n%s", want, body)
		}
	}
}
