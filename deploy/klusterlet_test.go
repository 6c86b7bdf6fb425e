package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	workv1 "open-cluster-management.io/api/work/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ocm-gitops/ocm-gitops/pkg/apis/scheme"
	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet"
	"github.com/ocm-gitops/ocm-gitops/pkg/lab"
	"github.com/ocm-gitops/ocm-gitops/pkg/registration"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// aggregateClusterRoles does what kube-controller-manager's ClusterRole
// aggregation controller does (the lab runs no controller manager): each
// ClusterRole with an aggregationRule gets the rules of the ClusterRoles its
// selectors match, until nothing changes (admin aggregates edit, which is
// aggregated itself).
func aggregateClusterRoles(ctx context.Context, c client.Client) error {
	for pass := 0; pass < 5; pass++ {
		var roles rbacv1.ClusterRoleList
		if err := c.List(ctx, &roles); err != nil {
			return err
		}
		changed := false
		for i := range roles.Items {
			agg := &roles.Items[i]
			if agg.AggregationRule == nil {
				continue
			}
			var rules []rbacv1.PolicyRule
			for _, sel := range agg.AggregationRule.ClusterRoleSelectors {
				s, err := metav1.LabelSelectorAsSelector(&sel)
				if err != nil {
					return err
				}
				for _, r := range roles.Items {
					if r.Name == agg.Name || !s.Matches(labels.Set(r.Labels)) {
						continue
					}
					for _, rule := range r.Rules {
						if !slices.ContainsFunc(rules, func(have rbacv1.PolicyRule) bool { return fmt.Sprint(have) == fmt.Sprint(rule) }) {
							rules = append(rules, rule)
						}
					}
				}
			}
			if fmt.Sprint(rules) == fmt.Sprint(agg.Rules) {
				continue
			}
			agg.Rules, changed = rules, true
			if err := c.Update(ctx, agg); err != nil {
				return fmt.Errorf("aggregate ClusterRole %s: %w", agg.Name, err)
			}
		}
		if !changed {
			return nil
		}
	}
	return fmt.Errorf("ClusterRole aggregation did not settle after 5 passes")
}

func rawManifest(t *testing.T, obj map[string]any) workv1.Manifest {
	t.Helper()
	data, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return workv1.Manifest{RawExtension: runtime.RawExtension{Raw: data}}
}

// TestKlusterletRunsWithItsRBAC installs deploy/klusterlet on a managed
// cluster and runs the agent as its ServiceAccount: it applies a work that
// creates a Namespace and a ConfigMap, reports back, and prunes the
// ConfigMap when the work is deleted, all without being refused anything.
func TestKlusterletRunsWithItsRBAC(t *testing.T) {
	assets, err := lab.FindAssets("")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	hubCP, err := lab.StartControlPlane(ctx, "hub", lab.RoleHub, assets)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = hubCP.Stop() }()
	// A plane without AppliedManifestWork: the base's CRDs must create it.
	managedCP, err := lab.StartControlPlane(ctx, "east", lab.RoleHub, assets)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = managedCP.Stop() }()
	hubClient, err := client.New(hubCP.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	managed, err := client.New(managedCP.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	if err := apply(ctx, managed, build(t, "klusterlet")); err != nil {
		t.Fatalf("apply deploy/klusterlet: %v", err)
	}
	if err := aggregateClusterRoles(ctx, managed); err != nil {
		t.Fatal(err)
	}
	createAll(t, ctx, hubClient, registration.ClusterNamespace("east"), &clusterv1.ManagedCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "east"}, Spec: clusterv1.ManagedClusterSpec{HubAcceptsClient: true}})

	logs := &logCapture{}
	ctrl.SetLogger(logs.logger(t))
	klog.SetLogger(logs.logger(t))
	agentCfg := rest.CopyConfig(managedCP.Config)
	agentCfg.Impersonate = rest.ImpersonationConfig{UserName: fmt.Sprintf("system:serviceaccount:%s:%s", agentNamespace, agentSA)}
	actx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- klusterlet.Run(actx, klusterlet.Options{ClusterName: "east", Managed: agentCfg, Hub: hubCP.Config, Logger: logs.logger(t)})
	}()
	defer func() {
		stop()
		select {
		case err := <-done:
			if err != nil && !strings.Contains(err.Error(), "context canceled") {
				t.Errorf("klusterlet stopped with error: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("klusterlet did not stop within 30s")
		}
		klog.ClearLogger()
	}()

	w := &workv1.ManifestWork{
		ObjectMeta: metav1.ObjectMeta{Namespace: "east", Name: "settings"},
		Spec: workv1.ManifestWorkSpec{Workload: workv1.ManifestsTemplate{Manifests: []workv1.Manifest{
			rawManifest(t, map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "apps"}}),
			rawManifest(t, map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
				"metadata": map[string]any{"name": "settings", "namespace": "apps"}, "data": map[string]any{"value": "one"}}),
		}}},
	}
	createAll(t, ctx, hubClient, w)
	poll.Eventually(t, 60*time.Second, "the work applied and reported", func() error {
		fresh := &workv1.ManifestWork{}
		if err := hubClient.Get(ctx, client.ObjectKeyFromObject(w), fresh); err != nil {
			return err
		}
		cm := &corev1.ConfigMap{}
		if err := managed.Get(ctx, client.ObjectKey{Namespace: "apps", Name: "settings"}, cm); err != nil {
			return fmt.Errorf("%w; the work reports %+v", err, fresh.Status.ResourceStatus.Manifests)
		}
		if !meta.IsStatusConditionTrue(fresh.Status.Conditions, workv1.WorkApplied) {
			return fmt.Errorf("work conditions %+v", fresh.Status.Conditions)
		}
		var amws workv1.AppliedManifestWorkList
		if err := managed.List(ctx, &amws); err != nil || len(amws.Items) != 1 {
			return fmt.Errorf("%d AppliedManifestWorks (%v)", len(amws.Items), err)
		}
		return nil
	})

	if err := hubClient.Delete(ctx, w); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 60*time.Second, "the ConfigMap pruned", func() error {
		cm := &corev1.ConfigMap{}
		err := managed.Get(ctx, client.ObjectKey{Namespace: "apps", Name: "settings"}, cm)
		if apierrors.IsNotFound(err) || (err == nil && cm.DeletionTimestamp != nil) {
			return nil
		}
		return fmt.Errorf("ConfigMap still there (%v)", err)
	})
	logs.check(t)
}
