package conformance_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/lab"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// exampleCase is one of OCM's examples (testdata/ocm-examples/hub/<dir>),
// applied unchanged but for its URLs, which point at local servers.
type exampleCase struct {
	dir string
	// sub is the Subscription "namespace/name" that deploys.
	sub string
	// clusters it reaches, and objects ("Kind namespace/name") each holds.
	clusters []string
	objects  []string
	// absent are objects no cluster may hold (e.g. .kubernetesignore'd).
	absent []string
	// failing names an object that fails on every cluster as it does with
	// OCM (an API Kubernetes no longer serves); "" when all apply.
	failing string
	// patch adjusts what the example cannot say, explained where set.
	patch func(u *unstructured.Unstructured)
	check func(t *testing.T, f *fleet)
	// gaps are known failures of this example: a message part that shows
	// it, and why (issue and owner). The case skips saying so.
	gaps map[string]string
}

// testOCMExamples applies OCM's example Subscriptions (remote-git-sub,
// github-channel, helmrepo-hub-channel, object_bucket_e2e, the PlacementRule
// e2e case, and application-samples' helloworld as RHACM's console writes
// it) with Git, Helm and S3 sources served locally, and checks that they
// deploy on both clusters (OCM's agent and ours).
func (f *fleet) testOCMExamples(t *testing.T) {
	urls := f.serveExamples(t)
	f.prepareExampleHub(t)
	both := []string{ocmCluster, ourCluster}
	cases := []exampleCase{
		{dir: "remote-git-sub", sub: "default/nginx-app-sub", clusters: both,
			objects: []string{"Deployment default/nginx-placement", "Service default/placement-nginx-service"},
			failing: "nginx-virtual-host-ingress-placement"}, // networking.k8s.io/v1beta1 Ingress, gone since Kubernetes 1.22
		{dir: "github-channel", sub: "default/sample-kube-resources-subscription", clusters: both,
			objects: []string{"Deployment default/sample-nginx-deployment"},
			absent:  []string{"Namespace /ibmcharts", "Namespace /kuberesources"}, // .kubernetesignore keeps only sample-deployment.yaml
			// Its placement says only local: false, which chooses no cluster
			// (OCM's hub sends it nowhere either): name the clusters.
			patch: func(u *unstructured.Unstructured) {
				if u.GetKind() == "Subscription" {
					_ = unstructured.SetNestedSlice(u.Object, []any{map[string]any{"name": ocmCluster}, map[string]any{"name": ourCluster}}, "spec", "placement", "clusters")
				}
			}},
		{dir: "helmrepo-hub-channel", sub: "default/nginx-sub", clusters: both,
			objects: []string{"Deployment default/ingress-nginx-simple-defaultbackend"},
			check:   func(t *testing.T, f *fleet) { f.expectReplicas(t, "default", "ingress-nginx-simple-defaultbackend", 3) }},
		{dir: "object-bucket", sub: "default/obj-sub", clusters: []string{ocmCluster}, // environment=Dev, numberOfClusters 1
			objects: []string{"ConfigMap default/from-bucket"}},
		{dir: "placementrule", sub: "default/ingress", clusters: both,
			objects: []string{"Deployment default/ingress"}},
		{dir: "helloworld", sub: "helloworld/helloworld-subscription-1", clusters: both,
			objects: []string{"Deployment helloworld/helloworld-app-deploy", "Service helloworld/helloworld-app-svc", "Route helloworld/helloworld-app-route"},
			gaps: map[string]string{
				"resources.request: field not declared in schema": "known gap (hub and agent): the sample's Deployment has a misspelt field (resources.request); " +
					"server-side apply (our hub's strategy, on both agents) refuses it where OCM's application agent dropped it",
			}},
	}
	for _, tc := range cases {
		t.Run(tc.dir, func(t *testing.T) {
			f.applyExample(t, tc, urls)
			f.waitExample(t, tc)
			if tc.check != nil {
				tc.check(t, f)
			}
		})
	}
}

// serveExamples starts the Git, Helm and S3 servers and returns the
// upstream URLs of the examples mapped to them.
func (f *fleet) serveExamples(t *testing.T) map[string]string {
	t.Helper()
	ctx := context.Background()
	root := filepath.Join("testdata", "ocm-examples")
	srv, err := lab.StartGitServer(t.TempDir(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	subs, err := srv.CreateRepo(ctx, "multicloud-operators-subscription.git", filepath.Join(root, "repos", "multicloud-operators-subscription"))
	if err != nil {
		t.Fatal(err)
	}
	samples, err := srv.CreateRepo(ctx, "application-samples.git", filepath.Join(root, "repos", "application-samples"))
	if err != nil {
		t.Fatal(err)
	}
	if err := lab.Git(ctx, filepath.Join(srv.Root, "application-samples.git"), "branch", "master", "main"); err != nil {
		t.Fatal(err)
	}
	ocmCharts := httptest.NewServer(http.FileServer(http.Dir(filepath.Join(root, "helmrepo"))))
	t.Cleanup(ocmCharts.Close)
	standin, err := lab.StartHelmRepo(filepath.Join(root, "standin"), t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = standin.Close() })
	return map[string]string{
		"https://github.com/open-cluster-management-io/multicloud-operators-subscription.git":                             subs,
		"https://github.com/open-cluster-management/multicloud-operators-subscription.git":                                subs,
		"https://github.com/open-cluster-management/application-samples.git":                                              samples,
		"https://kubernetes.github.io/ingress-nginx/":                                                                     standin.URL + "/",
		"https://raw.githubusercontent.com/open-cluster-management-io/multicloud-operators-subscription/main/testhr/e2e/": ocmCharts.URL + "/",
		"http://ec2-100-26-232-156.compute-1.amazonaws.com:9000/deva":                                                     serveBucket(t, filepath.Join(root, "bucket")) + "/deva",
	}
}

// serveBucket serves an S3 store with bucket deva holding the files of dir,
// for the example's credentials (admin / passwordadmin).
func serveBucket(t *testing.T, dir string) string {
	t.Helper()
	srv := httptest.NewServer(gofakes3.New(s3mem.New(), gofakes3.WithLogger(gofakes3.DiscardLog())).Server())
	t.Cleanup(srv.Close)
	mc, err := minio.New(strings.TrimPrefix(srv.URL, "http://"), &minio.Options{Creds: credentials.NewStaticV4("admin", "passwordadmin", ""), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := mc.MakeBucket(ctx, "deva", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := mc.PutObject(ctx, "deva", e.Name(), bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return srv.URL
}

// prepareExampleHub gives the hub what an OCM hub has and the examples
// assume: the ManagedClusterSet default holding the clusters, and cluster
// labels the examples select by (usage=development for helloworld,
// environment=Dev on one cluster for object_bucket_e2e). The clusters get
// OpenShift's Route API, as RHACM's managed clusters have.
func (f *fleet) prepareExampleHub(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	if err := f.hub.C.Create(ctx, &clusterv1beta2.ManagedClusterSet{ObjectMeta: metav1.ObjectMeta{Name: "default"}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	for _, name := range []string{ocmCluster, ourCluster} {
		labels := map[string]string{clusterv1beta2.ClusterSetLabel: "default", "usage": "development"}
		if name == ocmCluster {
			labels["environment"] = "Dev"
		}
		f.labelCluster(t, name, labels)
		if err := f.spokes[name].C.Create(ctx, routeCRD()); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
}

func routeCRD() *apiextensionsv1.CustomResourceDefinition {
	keep := true
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "routes.route.openshift.io"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "route.openshift.io", Scope: apiextensionsv1.NamespaceScoped,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "routes", Singular: "route", Kind: "Route", ListKind: "RouteList"},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object", XPreserveUnknownFields: &keep}}}},
		},
	}
}

// applyExample creates the example's objects on the hub, URLs replaced.
// Objects of kinds the hub does not serve (app.k8s.io Application, a
// console grouping) are left out, as are objects that already exist (the
// examples share the binding default/default).
func (f *fleet) applyExample(t *testing.T, tc exampleCase, urls map[string]string) {
	t.Helper()
	dir := filepath.Join("testdata", "ocm-examples", "hub", tc.dir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		text := string(data)
		for from, to := range urls {
			text = strings.ReplaceAll(text, from, to)
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(text), 4096)
		for {
			u := &unstructured.Unstructured{}
			if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", e.Name(), err)
			}
			if len(u.Object) == 0 || u.GetAPIVersion() == "app.k8s.io/v1beta1" {
				continue
			}
			if tc.patch != nil {
				tc.patch(u)
			}
			f.createExampleObject(t, u)
		}
	}
}

func (f *fleet) createExampleObject(t *testing.T, u *unstructured.Unstructured) {
	t.Helper()
	mapping, err := f.hub.C.RESTMapper().RESTMapping(u.GroupVersionKind().GroupKind(), u.GroupVersionKind().Version)
	if err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace && u.GetNamespace() == "" {
		u.SetNamespace("default") // as kubectl apply in the default namespace
	}
	if err := f.hub.C.Create(context.Background(), u); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create %s %s/%s: %v", u.GetKind(), u.GetNamespace(), u.GetName(), err)
	}
}

// waitExample waits until the Subscription reports its clusters and every
// cluster holds the example's objects. A known gap of the case skips,
// saying so.
func (f *fleet) waitExample(t *testing.T, tc exampleCase) {
	t.Helper()
	ns, name, _ := strings.Cut(tc.sub, "/")
	poll.Eventually(t, 90*time.Second, "example "+tc.dir+" deployed", func() error {
		f.agent.alive(t)
		sub := &appsv1.Subscription{}
		if err := f.hub.C.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, sub); err != nil {
			return err
		}
		skipOnGap(t, tc, sub)
		states := map[string]appsv1.ClusterStatus{}
		for _, c := range sub.Status.Clusters {
			states[c.Name] = c
		}
		for _, cluster := range tc.clusters {
			st := states[cluster]
			switch {
			case tc.failing == "" && st.State != appsv1.ClusterApplied:
				return fmt.Errorf("cluster %s is %q: %s (all clusters: %+v)", cluster, st.State, st.Message, sub.Status.Clusters)
			case tc.failing != "" && (st.State != appsv1.ClusterFailed || !strings.Contains(st.Message, tc.failing)):
				return fmt.Errorf("cluster %s is %q (%s), want Failed naming %s", cluster, st.State, st.Message, tc.failing)
			}
			for _, obj := range tc.objects {
				if err := f.present(cluster, obj); err != nil {
					return err
				}
			}
			for _, obj := range tc.absent {
				if err := f.present(cluster, obj); err == nil {
					return fmt.Errorf("%s on %s, which the example leaves out", obj, cluster)
				}
			}
		}
		if int(sub.Status.Summary.Selected) != len(tc.clusters) {
			return fmt.Errorf("the Subscription selected %d clusters, want %v", sub.Status.Summary.Selected, tc.clusters)
		}
		return nil
	})
}

// skipOnGap skips when the Subscription's conditions or cluster messages
// show a known gap.
func skipOnGap(t *testing.T, tc exampleCase, sub *appsv1.Subscription) {
	t.Helper()
	var said []string
	for _, c := range sub.Status.Conditions {
		said = append(said, c.Message)
	}
	for _, c := range sub.Status.Clusters {
		said = append(said, c.Message)
	}
	text := strings.Join(said, "\n")
	var why []string
	for part, w := range tc.gaps {
		if strings.Contains(text, part) {
			why = append(why, w)
		}
	}
	if len(why) > 0 {
		sort.Strings(why)
		t.Skipf("%s:\n%s", strings.Join(why, "; "), text)
	}
}

// present reports whether "Kind namespace/name" exists on a cluster.
func (f *fleet) present(cluster, ref string) error {
	kind, nsName, _ := strings.Cut(ref, " ")
	ns, name, _ := strings.Cut(nsName, "/")
	gvk := map[string][2]string{
		"Deployment": {"apps/v1", "Deployment"}, "Service": {"v1", "Service"}, "ConfigMap": {"v1", "ConfigMap"},
		"Namespace": {"v1", "Namespace"}, "Route": {"route.openshift.io/v1", "Route"},
	}[kind]
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(gvk[0])
	u.SetKind(gvk[1])
	if err := f.spokes[cluster].C.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, u); err != nil {
		return fmt.Errorf("%s on %s: %w", ref, cluster, err)
	}
	return nil
}

func (f *fleet) expectReplicas(t *testing.T, ns, name string, want int64) {
	t.Helper()
	for cluster, s := range f.spokes {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("apps/v1")
		u.SetKind("Deployment")
		if err := s.C.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, u); err != nil {
			t.Fatal(err)
		}
		if got, _, _ := unstructured.NestedInt64(u.Object, "spec", "replicas"); got != want {
			t.Errorf("%s/%s on %s has %d replicas, want %d (the example's packageOverrides)", ns, name, cluster, got, want)
		}
	}
}
