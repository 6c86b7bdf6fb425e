// Package e2e runs the whole system on local control planes: a hub, two
// managed clusters with their agents, and a Git server, driven only through
// git pushes and the hub's API.
package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/apis/scheme"
	"github.com/ocm-gitops/ocm-gitops/pkg/lab"
	"github.com/ocm-gitops/ocm-gitops/pkg/tenancy"
	"github.com/ocm-gitops/ocm-gitops/test/harness"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

func TestMain(m *testing.M) {
	ctrl.SetLogger(logr.Discard())
	os.Exit(m.Run())
}

func configMap(value string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: greeting\n  namespace: demo\ndata:\n  value: %q\n", value)
}

const namespace = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n"

// TestCommitReachesClustersAndRemovalPrunes is the foundation's promise: a
// pushed commit reaches every selected cluster, and a cluster leaving the
// placement loses the objects.
func TestCommitReachesClustersAndRemovalPrunes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	seed := filepath.Join(dir, "seed")
	write(t, seed, "apps/demo/namespace.yaml", namespace)
	write(t, seed, "apps/demo/configmap.yaml", configMap("v1"))
	write(t, seed, "apps/demo/extra.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n  namespace: demo\ndata: {a: b}\n")

	l := harness.StartLab(t, 2, filepath.Join(dir, "lab"))
	url := harness.ServeRepo(t, filepath.Join(dir, "git"), seed)
	clone := filepath.Join(dir, "clone")
	if err := lab.Git(ctx, "", "clone", "--quiet", url, clone); err != nil {
		t.Fatal(err)
	}

	hub := mustClient(t, l.Hub)
	clusters := map[string]client.Client{}
	for _, cp := range l.Clusters {
		clusters[cp.Name] = mustClient(t, cp)
	}
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "fleet", Labels: map[string]string{tenancy.LabelTenant: "false"}}},
		&appsv1.Channel{ObjectMeta: metav1.ObjectMeta{Name: "repo", Namespace: "fleet"},
			Spec: appsv1.ChannelSpec{Type: "Git", Pathname: url}},
		&appsv1.Subscription{
			ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: "fleet", Annotations: map[string]string{
				appsv1.AnnotationGitPath: "apps/demo", appsv1.AnnotationGitBranch: "main",
			}},
			Spec: appsv1.SubscriptionSpec{Channel: "fleet/repo", Placement: &appsv1.Placement{
				Clusters: []appsv1.GenericClusterReference{{Name: "cluster1"}, {Name: "cluster2"}},
			}},
		},
	} {
		if err := hub.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}

	start := time.Now()
	for name, c := range clusters {
		poll.Eventually(t, 60*time.Second, name+" gets v1", func() error { return hasValue(ctx, c, "v1") })
	}
	t.Logf("first deploy reached both clusters in %s", time.Since(start).Round(time.Millisecond))
	for name := range clusters {
		poll.Eventually(t, 30*time.Second, name+" joined and available", func() error {
			mc := &clusterv1.ManagedCluster{}
			if err := hub.Get(ctx, client.ObjectKey{Name: name}, mc); err != nil {
				return err
			}
			for _, typ := range []string{clusterv1.ManagedClusterConditionJoined, clusterv1.ManagedClusterConditionAvailable} {
				if !meta.IsStatusConditionTrue(mc.Status.Conditions, typ) {
					return fmt.Errorf("condition %s not True: %+v", typ, mc.Status.Conditions)
				}
			}
			return nil
		})
	}
	poll.Eventually(t, 30*time.Second, "subscription reports applied", func() error {
		sub := &appsv1.Subscription{}
		if err := hub.Get(ctx, client.ObjectKey{Namespace: "fleet", Name: "demo"}, sub); err != nil {
			return err
		}
		if sub.Status.Summary.Applied != 2 {
			return fmt.Errorf("summary %+v", sub.Status.Summary)
		}
		return nil
	})

	// A change and a removal in one commit.
	write(t, clone, "apps/demo/configmap.yaml", configMap("v2"))
	if err := os.Remove(filepath.Join(clone, "apps/demo/extra.yaml")); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"add", "--all"}, {"commit", "--quiet", "-m", "v2"}, {"push", "--quiet", "origin", "main"}} {
		if err := lab.Git(ctx, clone, args...); err != nil {
			t.Fatal(err)
		}
	}
	requestReconcile(t, hub)
	start = time.Now()
	for name, c := range clusters {
		poll.Eventually(t, 60*time.Second, name+" gets v2", func() error { return hasValue(ctx, c, "v2") })
		poll.Eventually(t, 30*time.Second, name+" drops extra", func() error { return gone(ctx, c, "extra") })
	}
	t.Logf("pushed change reached both clusters in %s", time.Since(start).Round(time.Millisecond))

	// cluster2 leaves the placement: its objects go, cluster1's stay.
	sub := &appsv1.Subscription{}
	if err := hub.Get(ctx, client.ObjectKey{Namespace: "fleet", Name: "demo"}, sub); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(sub.DeepCopy())
	sub.Spec.Placement.Clusters = []appsv1.GenericClusterReference{{Name: "cluster1"}}
	if err := hub.Patch(ctx, sub, patch); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 60*time.Second, "cluster2 pruned", func() error { return gone(ctx, clusters["cluster2"], "greeting") })
	if err := hasValue(ctx, clusters["cluster1"], "v2"); err != nil {
		t.Fatalf("cluster1 lost its objects: %v", err)
	}
}

func hasValue(ctx context.Context, c client.Client, want string) error {
	cm := &corev1.ConfigMap{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "demo", Name: "greeting"}, cm); err != nil {
		return err
	}
	if cm.Data["value"] != want {
		return fmt.Errorf("value = %q", cm.Data["value"])
	}
	return nil
}

func gone(ctx context.Context, c client.Client, name string) error {
	err := c.Get(ctx, client.ObjectKey{Namespace: "demo", Name: name}, &corev1.ConfigMap{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return fmt.Errorf("configmap %s still present (%v)", name, err)
}

func requestReconcile(t *testing.T, c client.Client) {
	t.Helper()
	ch := &appsv1.Channel{}
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "fleet", Name: "repo"}, ch); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(ch.DeepCopy())
	ch.Annotations = map[string]string{appsv1.AnnotationReconcileRequestedAt: time.Now().UTC().Format(time.RFC3339Nano)}
	if err := c.Patch(context.Background(), ch, patch); err != nil {
		t.Fatal(err)
	}
}

func mustClient(t *testing.T, cp *lab.ControlPlane) client.Client {
	t.Helper()
	c, err := client.New(cp.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func write(t *testing.T, root, name, content string) {
	t.Helper()
	p := filepath.Join(root, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
