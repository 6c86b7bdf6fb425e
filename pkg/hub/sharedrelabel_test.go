package hub_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	workv1 "open-cluster-management.io/api/work/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/apis/scheme"
	"github.com/ocm-gitops/ocm-gitops/pkg/lab"
	"github.com/ocm-gitops/ocm-gitops/pkg/tenancy"
	"github.com/ocm-gitops/ocm-gitops/test/harness"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// guestbookApp is one environment of an app sharing its Namespace, and a
// ConfigMap of different content, with the other environment.
func guestbookApp(env string) map[string]string {
	return map[string]string{
		"apps/" + env + "/ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: guestbook\n",
		"apps/" + env + "/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: guestbook\n  namespace: guestbook\ndata:\n  env: " + env + "\n",
	}
}

// TestRelabelHandsSharedObjectsOver is issue 15's story on a real hub and
// cluster: guestbook-dev and guestbook-prod both apply Namespace guestbook
// and a ConfigMap in it; relabelling the cluster between env=dev and
// env=prod moves the app from one Subscription's work to the other's. The
// objects are handed over, never deleted or recreated (same UIDs, no
// deletion started), both when the old work goes at once and when the
// deletion budget holds its removal (then the held work gives way and the
// new one's content is applied); confirming the held removal deletes the
// held work and nothing the other still applies.
func TestRelabelHandsSharedObjectsOver(t *testing.T) {
	if testing.Short() {
		t.Skip("needs control planes")
	}
	e, _, spokes := labHub(t, 1)
	ctx, spoke := e.Ctx, spokes[0]
	files := guestbookApp("dev")
	for k, v := range guestbookApp("prod") {
		files[k] = v
	}
	repo := harness.NewFleet(t, files)
	cluster := lab.ClusterName(1)
	label := func(env string) { t.Helper(); e.labelCluster(t, cluster, "env", env) }
	label("prod")
	for _, env := range []string{"dev", "prod"} {
		appSubscription(e, t, repo.URL, "guestbook-"+env, "apps/"+env, nil, func(s *appsv1.Subscription) {
			s.Spec.Placement.ClusterSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"env": env}}
			s.Spec.DeletionBudgetPercent = ptr.To[int32](100) // the old work goes at once
		})
	}

	// objects reads the shared objects' UIDs and the ConfigMap's content;
	// an object being deleted is an error.
	objects := func() (ns, cm types.UID, env string, err error) {
		n, m := &corev1.Namespace{}, &corev1.ConfigMap{}
		if err := spoke.Get(ctx, client.ObjectKey{Name: "guestbook"}, n); err != nil {
			return "", "", "", err
		}
		if err := spoke.Get(ctx, client.ObjectKey{Namespace: "guestbook", Name: "guestbook"}, m); err != nil {
			return "", "", "", err
		}
		if n.DeletionTimestamp != nil || m.DeletionTimestamp != nil {
			return "", "", "", fmt.Errorf("being deleted: Namespace %v, ConfigMap %v", n.DeletionTimestamp, m.DeletionTimestamp)
		}
		return n.UID, m.UID, m.Data["env"], nil
	}
	var nsUID, cmUID types.UID
	// runs waits until the cluster runs env's content, applied as env's
	// Subscription says, from the very objects first created.
	runs := func(what, env string) {
		t.Helper()
		poll.Eventually(t, 60*time.Second, what, func() error {
			ns, cm, got, err := objects()
			switch {
			case err != nil:
				return err
			case nsUID != "" && (ns != nsUID || cm != cmUID):
				return fmt.Errorf("recreated: Namespace %s (was %s), ConfigMap %s (was %s)", ns, nsUID, cm, cmUID)
			case got != env:
				return fmt.Errorf("the ConfigMap says env %q", got)
			}
			nsUID, cmUID = ns, cm
			s := e.Subscription(t, "guestbook-"+env)
			if len(s.Status.Clusters) != 1 || s.Status.Clusters[0].State != appsv1.ClusterApplied {
				return fmt.Errorf("guestbook-%s: %+v", env, s.Status.Clusters)
			}
			return nil
		})
	}
	runs("prod applied", "prod")

	// The old work is deleted at once: a hand-off.
	label("dev")
	runs("relabelled to dev: the objects handed to guestbook-dev", "dev")
	label("prod")
	runs("and back to guestbook-prod", "prod")

	// The deletion budget holds the old work's removal: the held work gives
	// way to the selected one.
	e.update(t, "guestbook-prod", func(s *appsv1.Subscription) { s.Spec.DeletionBudgetPercent = ptr.To[int32](50) })
	label("dev")
	runs("relabelled to dev with guestbook-prod's removal held", "dev")
	if ws := e.Works(t, "guestbook-prod"); ws[cluster] == nil || ws[cluster].Annotations[appsv1.AnnotationRemovalHeld] == "" {
		t.Fatalf("guestbook-prod's work on %s is not held: %v", cluster, ws)
	}
	e.confirmDeletion(t, "guestbook-prod", 1)
	poll.Eventually(t, 30*time.Second, "guestbook-prod's work removed", func() error {
		if w := e.Works(t, "guestbook-prod")[cluster]; w != nil {
			return fmt.Errorf("still there: %+v", w.Status.Conditions)
		}
		return nil
	})
	// The agent finalized the removal; what guestbook-dev applies stays.
	poll.Eventually(t, 30*time.Second, "guestbook-prod's AppliedManifestWork gone", func() error {
		var list workv1.AppliedManifestWorkList
		if err := spoke.List(ctx, &list); err != nil {
			return err
		}
		for _, a := range list.Items {
			if a.Spec.ManifestWorkName == "fleet.guestbook-prod" {
				return fmt.Errorf("still there: %s", a.Name)
			}
		}
		return nil
	})
	runs("guestbook-dev keeps the objects after guestbook-prod's removal", "dev")
	poll.Consistently(t, 2*time.Second, "nothing deleted", func() error {
		_, _, env, err := objects()
		if err == nil && env != "dev" {
			err = fmt.Errorf("env %q", env)
		}
		return err
	})
}

// labHub starts a lab of n managed clusters running the hub, with the fleet
// namespace open to direct placement (not a tenant's); it returns the
// clusters' clients too.
func labHub(t *testing.T, n int, configure ...func(*lab.Options)) (*env, *lab.Lab, []client.Client) {
	t.Helper()
	l := harness.StartLab(t, n, filepath.Join(t.TempDir(), "lab"), configure...)
	c, err := client.New(l.Hub.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{&harness.Hub{C: c, Ctx: context.Background()}}
	e.Create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "fleet", Labels: map[string]string{tenancy.LabelTenant: "false"}}})
	var spokes []client.Client
	for _, cp := range l.Clusters {
		sc, err := client.New(cp.Config, client.Options{Scheme: scheme.New()})
		if err != nil {
			t.Fatal(err)
		}
		spokes = append(spokes, sc)
	}
	return e, l, spokes
}

// labelCluster sets one label of a ManagedCluster.
func (e *env) labelCluster(t *testing.T, cluster, key, value string) {
	t.Helper()
	mc := &clusterv1.ManagedCluster{}
	if err := e.C.Get(e.Ctx, client.ObjectKey{Name: cluster}, mc); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(mc.DeepCopy())
	if mc.Labels == nil {
		mc.Labels = map[string]string{}
	}
	mc.Labels[key] = value
	if err := e.C.Patch(e.Ctx, mc, patch); err != nil {
		t.Fatal(err)
	}
}
