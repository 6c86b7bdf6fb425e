package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
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

// klusterletEnv is a hub and a managed cluster with deploy/klusterlet
// applied, and the agent running as its ServiceAccount with the flags its
// Deployment passes.
type klusterletEnv struct {
	ctx              context.Context
	hub, managed     client.Client
	hubCP, managedCP *lab.ControlPlane
}

func startDeployedKlusterlet(t *testing.T, logs *logCapture) *klusterletEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	assets, err := lab.FindAssets("")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	hubCP, err := lab.StartControlPlane(ctx, "hub", lab.RoleHub, assets)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hubCP.Stop() })
	// A plane without AppliedManifestWork: the base's CRDs must create it.
	managedCP, err := lab.StartControlPlane(ctx, "east", lab.RoleHub, assets)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = managedCP.Stop() })
	e := &klusterletEnv{ctx: ctx, hubCP: hubCP, managedCP: managedCP}
	if e.hub, err = client.New(hubCP.Config, client.Options{Scheme: scheme.New()}); err != nil {
		t.Fatal(err)
	}
	if e.managed, err = client.New(managedCP.Config, client.Options{Scheme: scheme.New()}); err != nil {
		t.Fatal(err)
	}
	if err := apply(ctx, e.managed, build(t, "klusterlet")); err != nil {
		t.Fatalf("apply deploy/klusterlet: %v", err)
	}
	if err := aggregateClusterRoles(ctx, e.managed); err != nil {
		t.Fatal(err)
	}
	createAll(t, ctx, e.hub, registration.ClusterNamespace("east"), &clusterv1.ManagedCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "east"}, Spec: clusterv1.ManagedClusterSpec{HubAcceptsClient: true}})

	ctrl.SetLogger(logs.logger(t))
	klog.SetLogger(logs.logger(t))
	// The agent authenticates with a token of its ServiceAccount, as in its
	// pod (not by impersonation, which its own impersonation of executors
	// would replace).
	tok, err := kubernetes.NewForConfigOrDie(managedCP.Config).CoreV1().ServiceAccounts(agentNamespace).CreateToken(ctx, agentSA,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("a token for the agent's ServiceAccount: %v", err)
	}
	agentCfg := rest.AnonymousClientConfig(managedCP.Config)
	agentCfg.BearerToken = tok.Status.Token
	actx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		// The Deployment keeps the hub credentials in a Secret of the
		// agent's namespace, which makes that namespace protected.
		done <- klusterlet.Run(actx, klusterlet.Options{ClusterName: "east", Managed: agentCfg, Hub: hubCP.Config, Logger: logs.logger(t),
			HubKubeconfigSecret: agentNamespace + "/ocm-gitops-hub-kubeconfig"})
	}()
	t.Cleanup(func() {
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
	})
	return e
}

// giveNamespace does what a cluster's administrator does to let the fleet
// deploy into namespace ns: admin there for the agent, and impersonating the
// namespace's ServiceAccounts.
func (e *klusterletEnv) giveNamespace(t *testing.T, ns string) {
	t.Helper()
	agent := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: agentNamespace, Name: agentSA}}
	createAll(t, e.ctx, e.managed, namespace(ns),
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ocm-gitops-klusterlet"},
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "admin"}, Subjects: agent},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ocm-gitops-klusterlet-impersonate"},
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "ocm-gitops-klusterlet-impersonate"}, Subjects: agent})
}

func configMapManifest(t *testing.T, namespace, name string) workv1.Manifest {
	return rawManifest(t, map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": name, "namespace": namespace}, "data": map[string]any{"value": "one"}})
}

// TestKlusterletRunsWithItsRBAC installs deploy/klusterlet on a managed
// cluster, gives the fleet the namespace apps as the README says, and runs
// the agent as its ServiceAccount: it applies a work that holds the
// Namespace and a ConfigMap, reports back, and prunes the ConfigMap when the
// work is deleted, all without being refused anything.
func TestKlusterletRunsWithItsRBAC(t *testing.T) {
	logs := &logCapture{}
	e := startDeployedKlusterlet(t, logs)
	ctx := e.ctx
	e.giveNamespace(t, "apps")
	w := &workv1.ManifestWork{
		ObjectMeta: metav1.ObjectMeta{Namespace: "east", Name: "settings"},
		Spec: workv1.ManifestWorkSpec{Workload: workv1.ManifestsTemplate{Manifests: []workv1.Manifest{
			rawManifest(t, map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "apps"}}),
			configMapManifest(t, "apps", "settings"),
		}}},
	}
	createAll(t, ctx, e.hub, w)
	poll.Eventually(t, 60*time.Second, "the work applied and reported", func() error {
		fresh := &workv1.ManifestWork{}
		if err := e.hub.Get(ctx, client.ObjectKeyFromObject(w), fresh); err != nil {
			return err
		}
		cm := &corev1.ConfigMap{}
		if err := e.managed.Get(ctx, client.ObjectKey{Namespace: "apps", Name: "settings"}, cm); err != nil {
			return fmt.Errorf("%w; the work reports %+v", err, fresh.Status.ResourceStatus.Manifests)
		}
		if !meta.IsStatusConditionTrue(fresh.Status.Conditions, workv1.WorkApplied) {
			return fmt.Errorf("work conditions %+v", fresh.Status.Conditions)
		}
		var amws workv1.AppliedManifestWorkList
		if err := e.managed.List(ctx, &amws); err != nil || len(amws.Items) != 1 {
			return fmt.Errorf("%d AppliedManifestWorks (%v)", len(amws.Items), err)
		}
		return nil
	})

	if err := e.hub.Delete(ctx, w); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 60*time.Second, "the ConfigMap pruned", func() error {
		cm := &corev1.ConfigMap{}
		err := e.managed.Get(ctx, client.ObjectKey{Namespace: "apps", Name: "settings"}, cm)
		if apierrors.IsNotFound(err) || (err == nil && cm.DeletionTimestamp != nil) {
			return nil
		}
		return fmt.Errorf("ConfigMap still there (%v)", err)
	})
	logs.check(t)
}

// TestClusterAdminConfinesTheFleet attacks a managed cluster through its
// ManifestWorks (issue 16 item 4), with deploy/klusterlet's RBAC and the
// agent's defaults: a work may not write into kube-system, read or replace
// the agent's hub credentials, run as kube-system's
// clusterrole-aggregation-controller (which holds escalate), nor reach a
// namespace or impersonate a ServiceAccount the cluster's administrator did
// not give the fleet; what was given works, executor included. The agent's
// ServiceAccount itself holds nothing in kube-system or its own namespace
// beyond its Secret.
func TestClusterAdminConfinesTheFleet(t *testing.T) {
	e := startDeployedKlusterlet(t, &logCapture{})
	ctx := e.ctx
	e.giveNamespace(t, "apps")
	createAll(t, ctx, e.managed, namespace("other"),
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "deployer"}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "deployer"}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "clusterrole-aggregation-controller"}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "deployer"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "edit"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "apps", Name: "deployer"}}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: agentNamespace, Name: "ocm-gitops-hub-kubeconfig"}, StringData: map[string]string{"kubeconfig": "the agent's hub identity"}})

	// RBAC: what the agent's ServiceAccount may do, asked of the API server.
	for _, c := range []struct {
		attr    authorizationv1.ResourceAttributes
		allowed bool
	}{
		{authorizationv1.ResourceAttributes{Verb: "create", Resource: "configmaps", Namespace: "apps"}, true},
		{authorizationv1.ResourceAttributes{Verb: "impersonate", Resource: "serviceaccounts", Namespace: "apps", Name: "deployer"}, true},
		{authorizationv1.ResourceAttributes{Verb: "create", Resource: "configmaps", Namespace: "other"}, false},
		{authorizationv1.ResourceAttributes{Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "rolebindings", Namespace: "kube-system"}, false},
		{authorizationv1.ResourceAttributes{Verb: "get", Resource: "secrets", Namespace: "kube-system"}, false},
		{authorizationv1.ResourceAttributes{Verb: "create", Resource: "pods", Namespace: agentNamespace}, false},
		{authorizationv1.ResourceAttributes{Verb: "watch", Resource: "secrets", Namespace: agentNamespace, Name: "ocm-gitops-age-identity"}, true},
		{authorizationv1.ResourceAttributes{Verb: "list", Resource: "secrets", Namespace: agentNamespace}, false},
		{authorizationv1.ResourceAttributes{Verb: "update", Group: "apps", Resource: "deployments", Namespace: agentNamespace, Name: "ocm-gitops-klusterlet"}, false},
		{authorizationv1.ResourceAttributes{Verb: "impersonate", Resource: "serviceaccounts", Namespace: "kube-system", Name: "clusterrole-aggregation-controller"}, false},
		{authorizationv1.ResourceAttributes{Verb: "impersonate", Resource: "serviceaccounts", Namespace: "other", Name: "deployer"}, false},
		{authorizationv1.ResourceAttributes{Verb: "impersonate", Resource: "serviceaccounts", Namespace: agentNamespace, Name: agentSA}, false},
	} {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: fmt.Sprintf("system:serviceaccount:%s:%s", agentNamespace, agentSA), ResourceAttributes: &c.attr}}
		if err := e.managed.Create(ctx, sar); err != nil {
			t.Fatal(err)
		}
		if sar.Status.Allowed != c.allowed {
			t.Errorf("the agent may %s %s in %s (%s): %t, want %t", c.attr.Verb, c.attr.Resource, c.attr.Namespace, c.attr.Name, sar.Status.Allowed, c.allowed)
		}
	}

	// Works: each attack is refused, and says why in the work's status.
	feedback := &workv1.ManifestConfigOption{
		ResourceIdentifier: workv1.ResourceIdentifier{Resource: "secrets", Namespace: agentNamespace, Name: "ocm-gitops-hub-kubeconfig"},
		UpdateStrategy:     &workv1.UpdateStrategy{Type: workv1.UpdateStrategyTypeReadOnly},
		FeedbackRules:      []workv1.FeedbackRule{{Type: workv1.JSONPathsType, JsonPaths: []workv1.JsonPath{{Name: "stolen", Path: ".data.kubeconfig"}}}},
	}
	secret := rawManifest(t, map[string]any{"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{"name": "ocm-gitops-hub-kubeconfig", "namespace": agentNamespace}, "stringData": map[string]any{"kubeconfig": "the attacker's hub"}})
	works := []struct {
		name      string
		manifests []workv1.Manifest
		configs   []workv1.ManifestConfigOption
		executor  *workv1.ManifestWorkExecutor
		says      string
	}{
		{"kube-system", []workv1.Manifest{configMapManifest(t, "kube-system", "planted")}, nil, nil, "protects from the fleet"},
		{"replace-credentials", []workv1.Manifest{secret}, nil, nil, "protects from the fleet"},
		{"read-credentials", []workv1.Manifest{secret}, []workv1.ManifestConfigOption{*feedback}, nil, "protects from the fleet"},
		{"escalate", []workv1.Manifest{configMapManifest(t, "apps", "escalated")}, nil, saExecutor("kube-system", "clusterrole-aggregation-controller"), "protects from the fleet"},
		{"other-namespace", []workv1.Manifest{configMapManifest(t, "other", "planted")}, nil, nil, "forbidden"},
		{"other-executor", []workv1.Manifest{configMapManifest(t, "other", "planted-as")}, nil, saExecutor("other", "deployer"), "cannot impersonate"},
		{"allowed-executor", []workv1.Manifest{configMapManifest(t, "apps", "by-deployer")}, nil, saExecutor("apps", "deployer"), ""},
	}
	for _, w := range works {
		createAll(t, ctx, e.hub, &workv1.ManifestWork{ObjectMeta: metav1.ObjectMeta{Namespace: "east", Name: w.name},
			Spec: workv1.ManifestWorkSpec{Workload: workv1.ManifestsTemplate{Manifests: w.manifests}, ManifestConfigs: w.configs, Executor: w.executor}})
	}
	for _, w := range works {
		poll.Eventually(t, 60*time.Second, "work "+w.name+" decided", func() error {
			fresh := &workv1.ManifestWork{}
			if err := e.hub.Get(ctx, client.ObjectKey{Namespace: "east", Name: w.name}, fresh); err != nil {
				return err
			}
			c := meta.FindStatusCondition(fresh.Status.Conditions, workv1.WorkApplied)
			switch {
			case c == nil:
				return fmt.Errorf("not applied yet")
			case w.says == "" && c.Status != metav1.ConditionTrue:
				return fmt.Errorf("Applied %s: %s", c.Status, c.Message)
			case w.says != "" && (c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, w.says)):
				return fmt.Errorf("Applied %s: %s (want False saying %q)", c.Status, c.Message, w.says)
			}
			for _, m := range fresh.Status.ResourceStatus.Manifests {
				for _, v := range m.StatusFeedbacks.Values {
					return fmt.Errorf("status feedback %s=%v reached the hub", v.Name, v.Value)
				}
			}
			return nil
		})
	}
	got := &corev1.Secret{}
	if err := e.managed.Get(ctx, client.ObjectKey{Namespace: agentNamespace, Name: "ocm-gitops-hub-kubeconfig"}, got); err != nil || string(got.Data["kubeconfig"]) != "the agent's hub identity" {
		t.Errorf("the agent's hub credentials were replaced (%v): %q", err, got.Data["kubeconfig"])
	}
	for _, key := range []client.ObjectKey{{Namespace: "kube-system", Name: "planted"}, {Namespace: "other", Name: "planted"}, {Namespace: "other", Name: "planted-as"}, {Namespace: "apps", Name: "escalated"}} {
		if err := e.managed.Get(ctx, key, &corev1.ConfigMap{}); !apierrors.IsNotFound(err) {
			t.Errorf("ConfigMap %s was created (%v)", key, err)
		}
	}
	cm := &corev1.ConfigMap{}
	if err := e.managed.Get(ctx, client.ObjectKey{Namespace: "apps", Name: "by-deployer"}, cm); err != nil {
		t.Fatalf("the allowed executor's ConfigMap: %v", err)
	}
}

func saExecutor(namespace, name string) *workv1.ManifestWorkExecutor {
	return &workv1.ManifestWorkExecutor{Subject: workv1.ManifestWorkExecutorSubject{Type: workv1.ExecutorSubjectTypeServiceAccount,
		ServiceAccount: &workv1.ManifestWorkSubjectServiceAccount{Namespace: namespace, Name: name}}}
}
