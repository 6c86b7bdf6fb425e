package hub_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	workv1 "open-cluster-management.io/api/work/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/apis/scheme"
	"github.com/ocm-gitops/ocm-gitops/pkg/lab"
	"github.com/ocm-gitops/ocm-gitops/pkg/tenancy"
	"github.com/ocm-gitops/ocm-gitops/test/harness"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// TestDeletionOnRealClusters runs the hub with the work agents of two managed
// clusters: an object marked do-not-delete survives leaving Git and the
// Subscription's deletion (held by the budget until confirmed), which removes
// everything else; an orphaning Subscription's deletion leaves its objects.
func TestDeletionOnRealClusters(t *testing.T) {
	ctx := context.Background()
	l := harness.StartLab(t, 2, filepath.Join(t.TempDir(), "lab"))
	hubClient, err := client.New(l.Hub.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{&harness.Hub{C: hubClient, Ctx: ctx}}
	spokes := map[string]client.Client{}
	for _, cp := range l.Clusters {
		c, err := client.New(cp.Config, client.Options{Scheme: scheme.New()})
		if err != nil {
			t.Fatal(err)
		}
		spokes[cp.Name] = c
		// Not from Git: there is no namespace controller to finish deleting it.
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "apps"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := hubClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "fleet", Labels: map[string]string{tenancy.LabelTenant: "false"}}}); err != nil {
		t.Fatal(err)
	}
	keep := "  annotations:\n    apps.open-cluster-management.io/do-not-delete: \"true\"\n"
	cm := func(name, annotations, value string) string {
		return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: apps\n%sdata:\n  value: %q\n", name, annotations, value)
	}
	repo := harness.NewFleet(t, map[string]string{
		"apps/cleanup/a1.yaml": cm("a1", "", "one"),
		"apps/cleanup/a2.yaml": cm("a2", keep, "one"),
		"apps/cleanup/a3.yaml": cm("a3", keep, "one"),
		"apps/keep/b1.yaml":    cm("b1", "", "one"),
	})
	clusters := []string{lab.ClusterName(1), lab.ClusterName(2)}
	appSubscription(e, t, repo.URL, "cleanup", "apps/cleanup", clusters, nil)
	appSubscription(e, t, repo.URL, "keep", "apps/keep", clusters, func(s *appsv1.Subscription) {
		s.Spec.DeleteOption = &workv1.DeleteOption{PropagationPolicy: workv1.DeletePropagationPolicyTypeOrphan}
	})

	value := func(c client.Client, name string) (string, error) {
		got := &corev1.ConfigMap{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: "apps", Name: name}, got); err != nil {
			return "", err
		}
		return got.Data["value"], nil
	}
	expect := func(what string, check func(cluster string, c client.Client) error) {
		t.Helper()
		for cluster, c := range spokes {
			poll.Eventually(t, 60*time.Second, cluster+": "+what, func() error { return check(cluster, c) })
		}
	}
	present := func(names ...string) func(string, client.Client) error {
		return func(_ string, c client.Client) error {
			for _, n := range names {
				if _, err := value(c, n); err != nil {
					return err
				}
			}
			return nil
		}
	}
	absent := func(name string) func(string, client.Client) error {
		return func(_ string, c client.Client) error {
			if _, err := value(c, name); !apierrors.IsNotFound(err) {
				return fmt.Errorf("%s still there (%v)", name, err)
			}
			return nil
		}
	}
	// applied lists what the agent records as applied for a Subscription.
	applied := func(c client.Client, sub string) ([]string, bool, error) {
		var list workv1.AppliedManifestWorkList
		if err := c.List(ctx, &list); err != nil {
			return nil, false, err
		}
		for _, amw := range list.Items {
			if strings.HasSuffix(amw.Name, "-fleet."+sub) {
				var names []string
				for _, r := range amw.Status.AppliedResources {
					if r.Resource == "configmaps" { // not the namespace the work carries
						names = append(names, r.Name)
					}
				}
				return names, true, nil
			}
		}
		return nil, false, nil
	}
	expect("everything applied", present("a1", "a2", "a3", "b1"))

	// a3 leaves Git: the agent stops tracking it and leaves it in place.
	repo.Commit(t, "drop a3", map[string]string{"apps/cleanup/a3.yaml": "", "apps/cleanup/a1.yaml": cm("a1", "", "two")})
	requestReconcile(t, e, &appsv1.Channel{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "repo"}})
	expect("a3 no longer applied", func(_ string, c client.Client) error {
		names, _, err := applied(c, "cleanup")
		if err != nil || len(names) != 2 || strings.Contains(strings.Join(names, ","), "a3") {
			return fmt.Errorf("applied %v (%v)", names, err)
		}
		if v, err := value(c, "a1"); v != "two" {
			return fmt.Errorf("a1 = %q (%v)", v, err)
		}
		return nil
	})
	expect("a3 kept", present("a3"))

	// Deleting "cleanup" takes its objects off both clusters: the budget holds
	// it until confirmed, then a1 goes and the do-not-delete objects stay.
	if err := hubClient.Delete(ctx, e.Subscription(t, "cleanup")); err != nil {
		t.Fatal(err)
	}
	e.confirmDeletion(t, "cleanup", 2)
	expect("a1 removed", absent("a1"))
	expect("cleanup's AppliedManifestWork gone", func(_ string, c client.Client) error {
		if _, found, err := applied(c, "cleanup"); found || err != nil {
			return fmt.Errorf("still there (%v)", err)
		}
		return nil
	})
	expect("a2 and a3 kept", present("a2", "a3"))

	// Deleting "keep" orphans: nothing waits and b1 stays.
	if err := hubClient.Delete(ctx, e.Subscription(t, "keep")); err != nil {
		t.Fatal(err)
	}
	expect("keep's AppliedManifestWork gone", func(_ string, c client.Client) error {
		if _, found, err := applied(c, "keep"); found || err != nil {
			return fmt.Errorf("still there (%v)", err)
		}
		return nil
	})
	expect("b1 kept", present("b1"))
	poll.Eventually(t, 20*time.Second, "Subscriptions gone", func() error {
		var subs appsv1.SubscriptionList
		if err := hubClient.List(ctx, &subs, client.InNamespace("fleet")); err != nil || len(subs.Items) != 0 {
			return fmt.Errorf("%d left (%v)", len(subs.Items), err)
		}
		return nil
	})
}

// TestConflictOnRealCluster: two Subscriptions apply one object with
// different content on a cluster. The agent lets the older work write it
// and the other leave it alone; the hub reports the loser's cluster as
// Failed with a conflict that names the object and the Subscription that
// won, and the winner's as Applied with an Overrides warning naming the
// loser, in its status and every view, until the loser goes (issue 15
// item 2).
func TestConflictOnRealCluster(t *testing.T) {
	ctx := context.Background()
	l := harness.StartLab(t, 1, filepath.Join(t.TempDir(), "lab"))
	hubClient, err := client.New(l.Hub.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	spoke, err := client.New(l.Clusters[0].Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{&harness.Hub{C: hubClient, Ctx: ctx}}
	if err := hubClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "fleet", Labels: map[string]string{tenancy.LabelTenant: "false"}}}); err != nil {
		t.Fatal(err)
	}
	repo := harness.NewFleet(t, map[string]string{
		"apps/first/cm.yaml":  harness.ConfigMapYAML("shared", "first"),
		"apps/second/cm.yaml": harness.ConfigMapYAML("shared", "second"),
	})
	cluster := lab.ClusterName(1)
	value := func() (string, error) {
		var list corev1.ConfigMapList
		if err := spoke.List(ctx, &list); err != nil {
			return "", err
		}
		for _, cm := range list.Items {
			if cm.Name == "shared" {
				return cm.Data["value"], nil
			}
		}
		return "", fmt.Errorf("no ConfigMap shared")
	}
	appSubscription(e, t, repo.URL, "first", "apps/first", []string{cluster}, nil)
	poll.Eventually(t, 60*time.Second, "first applied", func() error {
		if v, err := value(); v != "first" {
			return fmt.Errorf("value %q (%v)", v, err)
		}
		return nil
	})

	appSubscription(e, t, repo.URL, "second", "apps/second", []string{cluster}, nil)
	e.expectStatus(t, "second", "the conflict reported", func(s *appsv1.Subscription) error {
		if len(s.Status.Clusters) != 1 || s.Status.Summary.Failed != 1 {
			return fmt.Errorf("status %+v", s.Status.Clusters)
		}
		cs := s.Status.Clusters[0]
		if cs.State != appsv1.ClusterFailed || !strings.HasPrefix(cs.Message, "conflict: ConfigMap ") ||
			!strings.Contains(cs.Message, "of Subscription fleet/first") {
			return fmt.Errorf("%s: %s", cs.State, cs.Message)
		}
		return nil
	})
	poll.Consistently(t, 2*time.Second, "the winner's content stays", func() error {
		if v, err := value(); v != "first" {
			return fmt.Errorf("value %q (%v)", v, err)
		}
		return nil
	})

	// The winner's cluster stays Applied and Ready stays True (its app
	// runs), but the Subscription warns and every view marks the cluster.
	e.expectStatus(t, "first", "the winner reports it overrides the loser", func(s *appsv1.Subscription) error {
		c := conditionOf(s, appsv1.ConditionOverrides)
		if c.Status != metav1.ConditionTrue || c.Reason != appsv1.ReasonTakesPrecedence ||
			!strings.Contains(c.Message, cluster+": overrides fleet/second on ConfigMap ") {
			return fmt.Errorf("Overrides = %s/%s: %s", c.Status, c.Reason, c.Message)
		}
		if r := conditionOf(s, appsv1.ConditionReady); r.Status != metav1.ConditionTrue || !strings.Contains(r.Message, "overrides fleet/second") {
			return fmt.Errorf("Ready = %s: %s", r.Status, r.Message)
		}
		if len(s.Status.Clusters) != 1 {
			return fmt.Errorf("clusters %+v", s.Status.Clusters)
		}
		cs := s.Status.Clusters[0]
		if cs.State != appsv1.ClusterApplied || strings.Join(cs.Overrides, ",") != "fleet/second" || !strings.HasPrefix(cs.Message, "overrides fleet/second on ConfigMap ") {
			return fmt.Errorf("%s %v: %s", cs.State, cs.Overrides, cs.Message)
		}
		return nil
	})
	table, overview, _, commit := e.views(t, "first")
	if r := row(table, "first"); !strings.Contains(r, " ok, overrides fleet/second ") || !strings.HasSuffix(r, "ready; overrides fleet/second on "+cluster) {
		t.Errorf("lab table row %q", r)
	}
	if r := row(overview, "first"); !strings.Contains(r, "overrides fleet/second on ConfigMap ") {
		t.Errorf("status overview row %q", r)
	}
	if !strings.HasPrefix(commit, "success ") || !strings.HasSuffix(commit, "; "+cluster+" overrides fleet/second") {
		t.Errorf("commit status %q", commit)
	}

	// The loser goes: the contest ends and the mark with it.
	if err := hubClient.Delete(ctx, e.Subscription(t, "second")); err != nil {
		t.Fatal(err)
	}
	e.confirmDeletion(t, "second", 1)
	e.expectStatus(t, "first", "the mark gone with the loser", func(s *appsv1.Subscription) error {
		if c := conditionOf(s, appsv1.ConditionOverrides); c.Type != "" {
			return fmt.Errorf("Overrides = %s: %s", c.Status, c.Message)
		}
		if len(s.Status.Clusters) != 1 || len(s.Status.Clusters[0].Overrides) != 0 || s.Status.Clusters[0].Message != "" {
			return fmt.Errorf("clusters %+v", s.Status.Clusters)
		}
		if r := conditionOf(s, appsv1.ConditionReady); r.Status != metav1.ConditionTrue || strings.Contains(r.Message, "overrides") {
			return fmt.Errorf("Ready = %s: %s", r.Status, r.Message)
		}
		return nil
	})
	if v, err := value(); v != "first" {
		t.Fatalf("after the loser left, value %q (%v)", v, err)
	}
}
