package klusterlet_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	clusterclientset "open-cluster-management.io/api/client/cluster/clientset/versioned"
	workclientset "open-cluster-management.io/api/client/work/clientset/versioned"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1alpha1 "open-cluster-management.io/api/cluster/v1alpha1"
	workv1 "open-cluster-management.io/api/work/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/ocm-gitops/ocm-gitops/pkg/apis/scheme"
	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet"
	"github.com/ocm-gitops/ocm-gitops/pkg/lab"
	"github.com/ocm-gitops/ocm-gitops/pkg/registration"
	regagent "github.com/ocm-gitops/ocm-gitops/pkg/registration/agent"
	reghub "github.com/ocm-gitops/ocm-gitops/pkg/registration/hub"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

const (
	autoUser   = "system:bootstrap:auto"
	manualUser = "system:bootstrap:manual"
	// certValidity is short so that rotation happens within a test.
	certValidity = 15 * time.Second
)

var (
	hubCP, managedCP *lab.ControlPlane
	hubC, spokeC     client.Client
)

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

// needControlPlanes skips a test in -short mode, where TestMain starts none.
func needControlPlanes(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs control planes; skipped in -short mode")
	}
}

func runMain(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		// Every test here needs control planes: each skips (needControlPlanes).
		return m.Run()
	}
	ctrllog.SetLogger(logr.Discard())
	assets, err := lab.FindAssets("")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hub, clusters, err := lab.StartControlPlanes(ctx, assets, 1)
	if err != nil {
		fmt.Fprintln(os.Stderr, "start control planes:", err)
		return 1
	}
	hubCP, managedCP = hub, clusters[0]
	defer func() { _ = hubCP.Stop(); _ = managedCP.Stop() }()
	s := scheme.New()
	hubC, _ = client.New(hubCP.Config, client.Options{Scheme: s})
	spokeC, _ = client.New(managedCP.Config, client.Options{Scheme: s})

	// The hub side of registration, as the hub runs it.
	mgr, err := ctrl.NewManager(hubCP.Config, ctrl.Options{
		Scheme: s, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := reghub.SetupHubWithManager(mgr, reghub.Options{
		CACertPEM: hubCP.ClientCA.CertPEM, CAKeyPEM: hubCP.ClientCA.KeyPEM,
		CertValidity: certValidity, AutoApproveUsers: []string{autoUser},
	}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	mgrDone := make(chan struct{})
	go func() {
		defer close(mgrDone)
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "hub manager:", err)
		}
	}()
	code := m.Run()
	cancel()
	<-mgrDone
	return code
}

func testLogger(t *testing.T) logr.Logger {
	if os.Getenv("KLUSTERLET_TEST_LOG") != "" {
		return testr.NewWithOptions(t, testr.Options{Verbosity: 1})
	}
	return logr.Discard()
}

// runKlusterlet runs a klusterlet until the test ends or stop is called.
func runKlusterlet(t *testing.T, opts klusterlet.Options) (stop func()) {
	t.Helper()
	opts.Managed = managedCP.Config
	opts.Logger = testLogger(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- klusterlet.Run(ctx, opts) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("klusterlet %s: %v", opts.ClusterName, err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("klusterlet %s did not stop within 30s", opts.ClusterName)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// clusterConditionIs checks that the cluster's condition typ has status
// (and reason, when given).
func clusterConditionIs(t *testing.T, cluster, typ string, status metav1.ConditionStatus, reason string) func() error {
	return func() error {
		c := clusterCondition(t, cluster, typ)
		if c == nil || c.Status != status || reason != "" && c.Reason != reason {
			return fmt.Errorf("%s = %+v, want %s %s", typ, c, status, reason)
		}
		return nil
	}
}

func managedCluster(t *testing.T, name string) *clusterv1.ManagedCluster {
	t.Helper()
	mc := &clusterv1.ManagedCluster{}
	if err := hubC.Get(context.Background(), client.ObjectKey{Name: name}, mc); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		t.Fatal(err)
	}
	return mc
}

func clusterCondition(t *testing.T, name, typ string) *metav1.Condition {
	mc := managedCluster(t, name)
	if mc == nil {
		return nil
	}
	return meta.FindStatusCondition(mc.Status.Conditions, typ)
}

func bootstrapConfig(t *testing.T, user string) *rest.Config {
	t.Helper()
	cfg, err := hubCP.UserConfig(user, registration.DefaultBootstrapGroup)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func storedCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("hub kubeconfig: %v", err)
	}
	creds, err := regagent.ParseKubeconfig(data)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(creds.CertData)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// configMapWork is a work of one ConfigMap that carries its namespace (the
// agent creates none), kept when the work goes.
func configMapWork(cluster, name, ns string) *workv1.ManifestWork {
	raw := fmt.Sprintf(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":%q,"namespace":%q},"data":{"k":"v"}}`, name, ns)
	nsRaw := fmt.Sprintf(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":%q}}`, ns)
	return &workv1.ManifestWork{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: cluster},
		Spec: workv1.ManifestWorkSpec{
			Workload: workv1.ManifestsTemplate{Manifests: []workv1.Manifest{
				{RawExtension: runtime.RawExtension{Raw: []byte(raw)}},
				{RawExtension: runtime.RawExtension{Raw: []byte(nsRaw)}},
			}},
			DeleteOption: &workv1.DeleteOption{PropagationPolicy: workv1.DeletePropagationPolicyTypeSelectivelyOrphan,
				SelectivelyOrphan: &workv1.SelectivelyOrphan{OrphaningRules: []workv1.OrphaningRule{{Resource: "namespaces", Name: ns}}}},
		},
	}
}

func waitApplied(t *testing.T, cluster, name string, timeout time.Duration) {
	t.Helper()
	poll.Eventually(t, timeout, "ManifestWork "+name+" applied", func() error {
		w := &workv1.ManifestWork{}
		if err := hubC.Get(context.Background(), client.ObjectKey{Namespace: cluster, Name: name}, w); err != nil {
			return err
		}
		if c := meta.FindStatusCondition(w.Status.Conditions, workv1.WorkApplied); c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != w.Generation {
			return fmt.Errorf("Applied = %+v", c)
		}
		return nil
	})
}

// Registration end to end: bootstrap identity on the auto-approve list →
// ManagedCluster created and accepted → CSR approved and signed → the agent
// works with its own identity, which reaches its namespace only; status,
// claims and lease are reported; the certificate rotates before it expires.
func TestRegistrationEndToEnd(t *testing.T) {
	needControlPlanes(t)
	ctx := context.Background()
	const cluster = "joined"
	if err := spokeC.Create(ctx, &clusterv1alpha1.ClusterClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "region.example.com"}, Spec: clusterv1alpha1.ClusterClaimSpec{Value: "eu-west"},
	}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "hub.kubeconfig")
	start := time.Now()
	runKlusterlet(t, klusterlet.Options{ClusterName: cluster, Bootstrap: bootstrapConfig(t, autoUser), HubKubeconfigPath: path, LeaseInterval: time.Second})

	poll.Eventually(t, 30*time.Second, "cluster joined and available", clusterConditionIs(t, cluster, clusterv1.ManagedClusterConditionAvailable, metav1.ConditionTrue, ""))
	t.Logf("joined in %s", time.Since(start).Round(time.Millisecond))
	mc := managedCluster(t, cluster)
	if !mc.Spec.HubAcceptsClient {
		t.Error("auto-approved cluster not accepted")
	}
	for _, typ := range []string{clusterv1.ManagedClusterConditionHubAccepted, clusterv1.ManagedClusterConditionJoined} {
		if c := meta.FindStatusCondition(mc.Status.Conditions, typ); c == nil || c.Status != metav1.ConditionTrue {
			t.Errorf("condition %s = %+v", typ, c)
		}
	}
	if mc.Status.Version.Kubernetes == "" {
		t.Error("no Kubernetes version reported")
	}
	if _, ok := mc.Status.Capacity[clusterv1.ResourceCPU]; !ok {
		t.Errorf("capacity = %v, want cpu and memory", mc.Status.Capacity)
	}
	claims := map[string]string{}
	for _, c := range mc.Status.ClusterClaims {
		claims[c.Name] = c.Value
	}
	if claims["region.example.com"] != "eu-west" || claims[regagent.ClaimKubeVersion] == "" {
		t.Errorf("claims = %v", claims)
	}
	if len(mc.Spec.ManagedClusterClientConfigs) != 1 || mc.Spec.ManagedClusterClientConfigs[0].URL != managedCP.Config.Host {
		t.Errorf("client configs = %+v", mc.Spec.ManagedClusterClientConfigs)
	}

	// The CSR was approved by the hub and signed with the apiserver's client CA.
	var csrs certificatesv1.CertificateSigningRequestList
	if err := hubC.List(ctx, &csrs, client.MatchingLabels{registration.LabelClusterName: cluster}); err != nil || len(csrs.Items) == 0 {
		t.Fatalf("no CSR for the cluster: %v", err)
	}
	first := storedCert(t, path)
	if first.Subject.CommonName != registration.AgentUser(cluster, "klusterlet") {
		t.Errorf("certificate CN = %q", first.Subject.CommonName)
	}

	// The agent applies works with its own identity.
	if err := hubC.Create(ctx, configMapWork(cluster, "w1", "joined-apps")); err != nil {
		t.Fatal(err)
	}
	waitApplied(t, cluster, "w1", 20*time.Second)

	// Its identity reaches its own namespace and ManagedCluster only.
	data, _ := os.ReadFile(path)
	creds, _ := regagent.ParseKubeconfig(data)
	own := regagent.StaticConfig(creds)
	works, _ := workclientset.NewForConfig(own)
	if _, err := works.WorkV1().ManifestWorks(cluster).List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("own namespace: %v", err)
	}
	if err := hubC.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "someone-else"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := works.WorkV1().ManifestWorks("someone-else").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("another namespace: err = %v, want Forbidden", err)
	}
	clusters, _ := clusterclientset.NewForConfig(own)
	if _, err := clusters.ClusterV1().ManagedClusters().Get(ctx, "other-cluster", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("another ManagedCluster: err = %v, want Forbidden", err)
	}
	kube, _ := kubernetes.NewForConfig(own)
	if _, err := kube.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("Secrets: err = %v, want Forbidden", err)
	}

	// The certificate rotates before it expires, and the agent keeps working
	// after the first one is dead.
	poll.Eventually(t, certValidity+10*time.Second, "certificate rotated", func() error {
		if storedCert(t, path).SerialNumber.Cmp(first.SerialNumber) == 0 {
			return errors.New("same certificate")
		}
		return nil
	})
	if wait := time.Until(first.NotAfter) + time.Second; wait > 0 {
		time.Sleep(wait)
	}
	if err := hubC.Create(ctx, configMapWork(cluster, "w2", "joined-apps")); err != nil {
		t.Fatal(err)
	}
	waitApplied(t, cluster, "w2", 20*time.Second)
	if c := clusterCondition(t, cluster, clusterv1.ManagedClusterConditionAvailable); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("Available after rotation = %+v", c)
	}
}

// Without auto-approval the request waits for an administrator, who
// approves it and accepts the cluster (what OCM's clusteradm accept does);
// a stopped agent turns the cluster Unknown; a restarted one reuses its
// stored credentials (a Secret here) without a new request.
func TestManualAcceptanceLeaseAndRestart(t *testing.T) {
	needControlPlanes(t)
	ctx := context.Background()
	const cluster = "manual"
	secret := "open-cluster-management-agent/hub-kubeconfig"
	stop := runKlusterlet(t, klusterlet.Options{ClusterName: cluster, Bootstrap: bootstrapConfig(t, manualUser), HubKubeconfigSecret: secret})

	poll.Eventually(t, 20*time.Second, "pending CSR", func() error {
		var l certificatesv1.CertificateSigningRequestList
		_ = hubC.List(ctx, &l, client.MatchingLabels{registration.LabelClusterName: cluster})
		if len(l.Items) != 1 {
			return fmt.Errorf("%d CSRs", len(l.Items))
		}
		return nil
	})
	time.Sleep(2 * time.Second)
	var l certificatesv1.CertificateSigningRequestList
	_ = hubC.List(ctx, &l, client.MatchingLabels{registration.LabelClusterName: cluster})
	if len(l.Items) != 1 || len(l.Items[0].Status.Conditions) != 0 {
		t.Fatalf("the request was decided without the hub accepting the cluster: %+v", l.Items)
	}
	if c := clusterCondition(t, cluster, clusterv1.ManagedClusterConditionHubAccepted); c == nil || c.Status != metav1.ConditionFalse {
		t.Errorf("HubAccepted = %+v, want False", c)
	}

	// Accepting the cluster alone approves nothing: anyone who can create a
	// ManagedCluster might have set spec.hubAcceptsClient.
	mc := managedCluster(t, cluster)
	patch := client.MergeFrom(mc.DeepCopy())
	mc.Spec.HubAcceptsClient, mc.Spec.LeaseDurationSeconds = true, 1
	if err := hubC.Patch(ctx, mc, patch); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 20*time.Second, "cluster accepted", clusterConditionIs(t, cluster, clusterv1.ManagedClusterConditionHubAccepted, metav1.ConditionTrue, ""))
	_ = hubC.List(ctx, &l, client.MatchingLabels{registration.LabelClusterName: cluster})
	if len(l.Items) != 1 || len(l.Items[0].Status.Conditions) != 0 {
		t.Fatalf("the request was decided because the cluster was accepted: %+v", l.Items[0].Status.Conditions)
	}
	// The hub administrator approves the request (kubectl certificate approve).
	csr := l.Items[0].DeepCopy()
	csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "ApprovedByAdmin", Message: "test"})
	kube, err := kubernetes.NewForConfig(hubCP.Config)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kube.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, csr.Name, csr, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 30*time.Second, "accepted cluster available", clusterConditionIs(t, cluster, clusterv1.ManagedClusterConditionAvailable, metav1.ConditionTrue, ""))
	sec := &corev1.Secret{}
	if err := spokeC.Get(ctx, client.ObjectKey{Namespace: "open-cluster-management-agent", Name: "hub-kubeconfig"}, sec); err != nil || len(sec.Data["kubeconfig"]) == 0 || len(sec.Data["tls.crt"]) == 0 {
		t.Fatalf("hub kubeconfig Secret: %v", err)
	}

	// The agent stops: after 5 lease durations the hub marks it unknown.
	stop()
	poll.Eventually(t, 20*time.Second, "cluster unknown",
		clusterConditionIs(t, cluster, clusterv1.ManagedClusterConditionAvailable, metav1.ConditionUnknown, reghub.ReasonLeaseUpdateStopped))

	// Restarted, it uses the stored credentials: no new request.
	runKlusterlet(t, klusterlet.Options{ClusterName: cluster, Bootstrap: bootstrapConfig(t, manualUser), HubKubeconfigSecret: secret})
	poll.Eventually(t, 20*time.Second, "cluster available again", clusterConditionIs(t, cluster, clusterv1.ManagedClusterConditionAvailable, metav1.ConditionTrue, ""))
	_ = hubC.List(ctx, &l, client.MatchingLabels{registration.LabelClusterName: cluster})
	byBootstrap := 0
	for _, c := range l.Items {
		if c.Spec.Username == manualUser {
			byBootstrap++
		}
	}
	if byBootstrap != 1 {
		t.Errorf("%d certificate requests by the bootstrap identity after the restart, want the first one only", byBootstrap)
	}
}

// A request for more than a cluster identity (an extra group) is denied.
func TestRequestForMoreThanAClusterIsDenied(t *testing.T) {
	needControlPlanes(t)
	ctx := context.Background()
	bootstrap := bootstrapConfig(t, autoUser)
	kube, err := kubernetes.NewForConfig(bootstrap)
	if err != nil {
		t.Fatal(err)
	}
	clusters, _ := clusterclientset.NewForConfig(bootstrap)
	if _, err := clusters.ClusterV1().ManagedClusters().Create(ctx, &clusterv1.ManagedCluster{ObjectMeta: metav1.ObjectMeta{Name: "greedy"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	csrPEM := evilRequest(t, "greedy")
	csr, err := kube.CertificatesV1().CertificateSigningRequests().Create(ctx, &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "greedy-1", Labels: map[string]string{registration.LabelClusterName: "greedy"}},
		Spec: certificatesv1.CertificateSigningRequestSpec{Request: csrPEM, SignerName: registration.SignerName,
			Usages: []certificatesv1.KeyUsage{certificatesv1.UsageClientAuth}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 10*time.Second, "request denied", func() error {
		cur := &certificatesv1.CertificateSigningRequest{}
		_ = hubC.Get(ctx, client.ObjectKey{Name: csr.Name}, cur)
		for _, c := range cur.Status.Conditions {
			if c.Type == certificatesv1.CertificateDenied && len(cur.Status.Certificate) == 0 {
				return nil
			}
		}
		return fmt.Errorf("%+v", cur.Status)
	})
}

func evilRequest(t *testing.T, cluster string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{
		CommonName:   registration.AgentUser(cluster, "klusterlet"),
		Organization: []string{registration.ClusterGroup(cluster), registration.GroupManagedClusters, "platform-admins"},
	}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

// A stopped klusterlet (registration, status and work agent) leaves no
// goroutines behind, so a lab can run and stop many in one process.
func TestKlusterletStopsCleanly(t *testing.T) {
	needControlPlanes(t)
	before := stableGoroutines()
	path := filepath.Join(t.TempDir(), "hub.kubeconfig")
	stop := runKlusterlet(t, klusterlet.Options{ClusterName: "stopclean", Bootstrap: bootstrapConfig(t, autoUser), HubKubeconfigPath: path, LeaseInterval: time.Second})
	poll.Eventually(t, 30*time.Second, "cluster available", clusterConditionIs(t, "stopclean", clusterv1.ManagedClusterConditionAvailable, metav1.ConditionTrue, ""))
	stop()
	poll.Eventually(t, 10*time.Second, "goroutines gone", func() error {
		if n := goruntime.NumGoroutine(); n > before+5 {
			return fmt.Errorf("%d goroutines, %d before", n, before)
		}
		return nil
	})
}

// stableGoroutines waits until the goroutine count stops changing (the
// hub's controllers start in the background) and returns it.
func stableGoroutines() int {
	n := goruntime.NumGoroutine()
	for i := 0; i < 50; i++ {
		time.Sleep(200 * time.Millisecond)
		m := goruntime.NumGoroutine()
		if m == n {
			return n
		}
		n = m
	}
	return n
}
