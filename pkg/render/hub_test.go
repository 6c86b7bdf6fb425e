package render_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	corev1 "k8s.io/api/core/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/test/harness"
	"github.com/ocm-gitops/ocm-gitops/test/harness/ocireg"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// TestHubPullsOCIDependenciesWithTheChannelsCredentials: a HelmRepo
// Channel on a private OCI registry (user, password and CA in its Secret)
// serves a chart whose dependency lives in the same registry, as bitnami's
// charts are published; the hub fetches the chart and the render pulls the
// dependency with the same Channel's credentials.
func TestHubPullsOCIDependenciesWithTheChannelsCredentials(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a control plane")
	}
	reg := ocireg.Start(t, "robot", "s3cret")
	common := &chart.Chart{
		Metadata: &chart.Metadata{APIVersion: chart.APIVersionV2, Name: "common", Version: "2.3.1"},
		Templates: []*chart.File{{Name: "templates/cm.yaml", Data: []byte(
			"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-common\ndata:\n  from: dependency\n")}},
	}
	front := &chart.Chart{
		Metadata: &chart.Metadata{APIVersion: chart.APIVersionV2, Name: "front", Version: "1.0.0",
			Dependencies: []*chart.Dependency{{Name: "common", Version: "2.x.x", Repository: "oci://" + reg.Host + "/charts"}}},
		Templates: []*chart.File{{Name: "templates/svc.yaml", Data: []byte(
			"apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  ports: [{port: 80}]\n")}},
	}
	reg.Push(t, "charts", common, front)

	e := harness.NewHub(t, "east")
	harness.RunHub(t, e.CP.Config, nil)
	e.Create(t,
		&corev1.Secret{ObjectMeta: harness.Meta("fleet", "registry"), Data: map[string][]byte{
			"user": []byte("robot"), "password": []byte("s3cret"), "caCerts": reg.CAPEM()}},
		&appsv1.Channel{ObjectMeta: harness.Meta("fleet", "charts"), Spec: appsv1.ChannelSpec{
			Type: "HelmRepo", Pathname: "oci://" + reg.Host + "/charts",
			SecretRef: &corev1.ObjectReference{Name: "registry"}}},
		&appsv1.Subscription{ObjectMeta: harness.Meta("fleet", "front"), Spec: appsv1.SubscriptionSpec{
			Channel: "fleet/charts", Package: "front", PackageFilter: &appsv1.PackageFilter{Version: "1.x"},
			Placement: &appsv1.Placement{Clusters: []appsv1.GenericClusterReference{{Name: "east"}}}}},
	)
	poll.Eventually(t, 60*time.Second, "the work holds the dependency's ConfigMap", func() error {
		w := e.Works(t, "front")["east"]
		if w == nil {
			s := e.Subscription(t, "front")
			return fmt.Errorf("no work yet; conditions %+v", s.Status.Conditions)
		}
		var all strings.Builder
		for _, m := range w.Spec.Workload.Manifests {
			all.Write(m.Raw)
		}
		if !strings.Contains(all.String(), `"name":"front-common"`) || !strings.Contains(all.String(), `"kind":"Service"`) {
			return fmt.Errorf("manifests %s", all.String())
		}
		return nil
	})
}
