package commitstatus_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/apis/scheme"
	"github.com/ocm-gitops/ocm-gitops/pkg/hub/commitstatus"
	"github.com/ocm-gitops/ocm-gitops/pkg/lab"
	"github.com/ocm-gitops/ocm-gitops/pkg/tenancy"
	"github.com/ocm-gitops/ocm-gitops/test/harness"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// TestDriftOnALabClusterFlipsTheCommitStatus runs a hub, two managed clusters
// with their work agents and a Git server: the deployed commit turns green,
// red when a live object on cluster1 is edited, and green again when the edit
// is undone.
func TestDriftOnALabClusterFlipsTheCommitStatus(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	seed := filepath.Join(dir, "seed")
	writeFile(t, seed, "apps/demo/namespace.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n")
	writeFile(t, seed, "apps/demo/configmap.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: greeting\n  namespace: demo\ndata:\n  value: hello\n")

	l := harness.StartLab(t, 2, filepath.Join(dir, "lab"))
	url := harness.ServeRepo(t, filepath.Join(dir, "git"), seed)

	forge := newFakeGitHub(t)
	hub, err := client.New(l.Hub.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	cluster1, err := client.New(l.Clusters[0].Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "fleet", Labels: map[string]string{tenancy.LabelTenant: "false"}}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "forge"}, Data: map[string][]byte{"token": []byte(token)}},
		&appsv1.Channel{ObjectMeta: metav1.ObjectMeta{Name: "repo", Namespace: "fleet"}, Spec: appsv1.ChannelSpec{
			Type: "Git", Pathname: url,
			CommitStatus: &appsv1.CommitStatusSpec{Provider: appsv1.GitProviderGitHub, APIURL: forge.URL, Repository: "acme/fleet",
				SecretRef: corev1.LocalObjectReference{Name: "forge"}},
		}},
		&appsv1.Subscription{
			ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: "fleet", Annotations: map[string]string{
				appsv1.AnnotationGitPath: "apps/demo", appsv1.AnnotationGitBranch: "main",
			}},
			Spec: appsv1.SubscriptionSpec{Channel: "fleet/repo", DriftPolicy: appsv1.DriftReportOnly, Placement: &appsv1.Placement{
				Clusters: []appsv1.GenericClusterReference{{Name: lab.ClusterName(1)}, {Name: lab.ClusterName(2)}},
			}},
		},
	} {
		if err := hub.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	// Its own hub ID keeps this controller's statuses apart from any the lab's
	// hub posts itself.
	startController(t, l.Hub.Config, commitstatus.Options{HubID: "e2e", BackoffBase: 200 * time.Millisecond, BackoffMax: 2 * time.Second, ProgressInterval: time.Millisecond})
	const ctxDemo = "ocm-gitops/e2e/fleet/demo"

	var sha string
	poll.Eventually(t, 90*time.Second, "the subscription deploys a commit", func() error {
		sub := &appsv1.Subscription{}
		if err := hub.Get(ctx, client.ObjectKey{Namespace: "fleet", Name: "demo"}, sub); err != nil {
			return err
		}
		_, commit, ok := strings.Cut(sub.Status.LastAppliedRevision, "@sha1:")
		if !ok {
			return fmt.Errorf("lastAppliedRevision %q", sub.Status.LastAppliedRevision)
		}
		sha = commit
		return nil
	})
	// ours returns the statuses under our context, as "state description".
	ours := func() []string {
		var out []string
		for _, p := range forge.posts() {
			if p.Context == ctxDemo {
				if p.SHA != sha {
					t.Fatalf("status on %s, want only the deployed commit %s", p.SHA, sha)
				}
				out = append(out, p.State+" "+p.Description)
			}
		}
		return out
	}
	last := func(want string) func() error {
		return func() error {
			got := ours()
			if len(got) == 0 || !strings.HasPrefix(got[len(got)-1], want) {
				return fmt.Errorf("statuses %q; want the last to start with %q", got, want)
			}
			return nil
		}
	}

	poll.Eventually(t, 60*time.Second, "green once healthy on both clusters", last("success healthy on 2/2"))
	n := len(ours())

	edit := func(value string) {
		t.Helper()
		cm := &corev1.ConfigMap{}
		if err := cluster1.Get(ctx, client.ObjectKey{Namespace: "demo", Name: "greeting"}, cm); err != nil {
			t.Fatal(err)
		}
		cm.Data["value"] = value
		if err := cluster1.Update(ctx, cm); err != nil {
			t.Fatal(err)
		}
	}
	edit("tampered")
	poll.Eventually(t, 60*time.Second, "red on drift", last("failure drift on 1/2: cluster1 ConfigMap/greeting"))
	edit("hello")
	poll.Eventually(t, 60*time.Second, "green again once corrected", last("success healthy on 2/2"))

	got := ours()[n-1:]
	if len(got) != 3 {
		t.Fatalf("expected exactly success, failure, success after the first green; got %q", got)
	}
	t.Logf("statuses posted on %s: %q", sha[:12], ours())
}

func writeFile(t *testing.T, root, name, content string) {
	t.Helper()
	p := filepath.Join(root, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
