package conformance_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	workv1 "open-cluster-management.io/api/work/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/test/harness"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// TestWithOCMsWorkAgent runs a hub and two managed clusters, one with OCM's
// work agent and one with ours, and checks on them that OCM's agent applies
// what our hub writes, that both agents treat OCM-written works alike, and
// that OCM's example Subscriptions deploy.
func TestWithOCMsWorkAgent(t *testing.T) {
	f := newFleet(t)
	t.Run("OCM's agent applies our hub's works", f.testHubWorksOnOCMsAgent)
	t.Run("both agents apply OCM-written works alike", f.testAgentsAlike)
	t.Run("OCM's example Subscriptions deploy", f.testOCMExamples)
}

// testHubWorksOnOCMsAgent: plain YAML, Kustomize and Helm apps from one
// fleet repo, placed on both clusters, are applied by both agents and the
// hub counts both clusters applied.
func (f *fleet) testHubWorksOnOCMsAgent(t *testing.T) {
	repo := harness.NewFleet(t, map[string]string{
		"apps/plain/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: conf-plain\n",
		"apps/plain/configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: greeting\n  namespace: conf-plain\ndata:\n  value: plain\n",
		"apps/kustomize/kustomization.yaml": "namespace: conf-kustomize\nresources:\n- namespace.yaml\n- service.yaml\n" +
			"configMapGenerator:\n- name: greeting\n  literals:\n  - value=kustomize\n",
		"apps/kustomize/namespace.yaml":      "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: conf-kustomize\n",
		"apps/kustomize/service.yaml":        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - port: 80\n",
		"apps/helm/Chart.yaml":               "apiVersion: v2\nname: greeter\nversion: 0.1.0\n",
		"apps/helm/values.yaml":              "value: helm\n",
		"apps/helm/templates/configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-greeting\ndata:\n  value: {{ .Values.value }}\n",
	})
	f.hub.Create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "conf-apps"}},
		&appsv1.Channel{ObjectMeta: harness.Meta("conf-apps", "repo"), Spec: appsv1.ChannelSpec{Type: "Git", Pathname: repo.URL}})
	both := &appsv1.Placement{Clusters: []appsv1.GenericClusterReference{{Name: ocmCluster}, {Name: ourCluster}}}
	for _, app := range []string{"plain", "kustomize", "helm"} {
		f.hub.Create(t, &appsv1.Subscription{
			ObjectMeta: metav1.ObjectMeta{Namespace: "conf-apps", Name: app, Annotations: map[string]string{
				appsv1.AnnotationGitPath: "apps/" + app, appsv1.AnnotationGitBranch: "main"}},
			Spec: appsv1.SubscriptionSpec{Channel: "conf-apps/repo", Placement: both.DeepCopy()},
		})
	}
	for _, tc := range []struct{ app, namespace, name, value string }{
		{"plain", "conf-plain", "greeting", "plain"},
		{"kustomize", "conf-kustomize", "", "kustomize"}, // the generated name has a hash suffix
		{"helm", "conf-apps", "helm-greeting", "helm"},
	} {
		t.Run(tc.app, func(t *testing.T) {
			if tc.app == "helm" {
				f.skipWithoutNamespaceInHelmWorks(t)
			}
			for cluster, s := range f.spokes {
				poll.Eventually(t, 60*time.Second, fmt.Sprintf("%s's ConfigMap on %s", tc.app, cluster), func() error {
					f.agent.alive(t)
					return hasConfigMap(s.C, tc.namespace, tc.name, tc.value)
				})
			}
			f.waitApplied(t, "conf-apps", tc.app, ocmCluster, ourCluster)
		})
	}
}

// skipWithoutNamespaceInHelmWorks skips while the hub writes Helm works
// without the release's Namespace (issue 17 item 2, owned by the hub): OCM's
// agent, unlike ours, does not create a missing namespace, so the work can
// only fail there.
func (f *fleet) skipWithoutNamespaceInHelmWorks(t *testing.T) {
	t.Helper()
	var w *workv1.ManifestWork
	poll.Eventually(t, 60*time.Second, "the helm Subscription's work on ocm-cluster", func() error {
		var list workv1.ManifestWorkList
		if err := f.hub.C.List(f.hub.Ctx, &list, client.InNamespace(ocmCluster)); err != nil {
			return err
		}
		for i := range list.Items {
			if list.Items[i].Annotations[appsv1.AnnotationHostingSubscription] == "conf-apps/helm" {
				w = &list.Items[i]
				return nil
			}
		}
		return fmt.Errorf("no work yet")
	})
	for _, m := range w.Spec.Workload.Manifests {
		if strings.Contains(string(m.Raw), `"kind":"Namespace"`) {
			return
		}
	}
	t.Skip("known gap (issue 17 item 2, hub): the Helm work carries no Namespace, so OCM's agent cannot apply it; this subtest runs once the hub adds one")
}

func hasConfigMap(c client.Client, namespace, name, value string) error {
	ctx := context.Background()
	if name != "" {
		cm := &corev1.ConfigMap{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, cm); err != nil {
			return err
		}
		if cm.Data["value"] != value {
			return fmt.Errorf("ConfigMap %s/%s holds %q, want %q", namespace, name, cm.Data["value"], value)
		}
		return nil
	}
	var list corev1.ConfigMapList
	if err := c.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return err
	}
	for _, cm := range list.Items {
		if cm.Data["value"] == value {
			return nil
		}
	}
	return apierrors.NewNotFound(corev1.Resource("configmaps"), namespace+"/*")
}
