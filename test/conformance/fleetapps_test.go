package conformance_test

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"
	workv1 "open-cluster-management.io/api/work/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/hub"
	"github.com/ocm-gitops/ocm-gitops/pkg/lab"
	"github.com/ocm-gitops/ocm-gitops/test/harness"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// fleetApp is one Subscription of the example fleet (fleet-repo-example/hub),
// with what every cluster it reaches must hold, whichever agent runs there.
type fleetApp struct {
	sub    string // "namespace/name" on the hub
	source string // what it renders, for the subtest's name
	// objects ("Kind namespace/name") each cluster holds; compared between
	// the agents as well.
	objects []string
	// values: parts of an object's normalized YAML that show the render's
	// values (overlays, packageOverrides, clusterValuesTemplate, the chosen
	// chart version) reached the cluster.
	values map[string][]string
	// encrypted: SOPS-encrypted Secrets ("namespace/name"), with a key and
	// its plaintext. OCM's agent has no SOPS: it fails these manifests,
	// creating no Secret (and so the work is neither Applied nor
	// Available), and applies the others, so they and the work's
	// conditions are left out of the comparison; ours holds the lab's demo
	// fleet key, as lab clusters do, and must hold the plaintext.
	encrypted map[string][2]string
}

// fleetApps are the example fleet's Subscriptions that reach a production
// cluster in region east: each way of rendering the fleet has one.
func fleetApps() []fleetApp {
	return []fleetApp{
		{sub: "hello/hello", source: "plain YAML",
			objects:   []string{"Namespace /hello", "ConfigMap hello/hello-config", "Deployment hello/hello"},
			encrypted: map[string][2]string{"hello/hello-db": {"password", "demo-password-1"}}}, // fleet-repo-example/README.md
		{sub: "guestbook/guestbook-prod", source: "Kustomize overlay",
			objects: []string{"Namespace /guestbook", "Deployment guestbook/guestbook", "Service guestbook/guestbook"},
			values:  map[string][]string{"Deployment guestbook/guestbook": {"replicas: 3", "cpu: 100m", "name: guestbook-config-"}}},
		{sub: "status-page/status-page", source: "Helm chart in Git",
			objects: []string{"Namespace /status-page", "ConfigMap status-page/status-page-config", "Deployment status-page/status-page", "Service status-page/status-page"},
			values: map[string][]string{
				"ConfigMap status-page/status-page-config": {"region: east", "environment: prod", `replicas: "3"`, "message: Operational; deployed from Git"},
				"Deployment status-page/status-page":       {"replicas: 3"},
			}},
		{sub: "node-probe/node-probe", source: "Helm repository",
			objects: []string{"Namespace /node-probe", "ConfigMap node-probe/node-probe", "DaemonSet node-probe/node-probe"},
			values:  map[string][]string{"ConfigMap node-probe/node-probe": {"chartVersion: 1.3.1"}}}, // newest in >=1.2.0 <2.0.0
	}
}

// workAgents are the two agents under comparison, by the cluster each runs.
var workAgents = []struct{ name, cluster string }{{"OCM's agent", ocmCluster}, {"our agent", ourCluster}}

// testExampleFleet serves the example fleet as the lab does (its Git
// repository, its Helm repository, channels/ and its hub/ objects applied
// unchanged but for addresses), with both clusters labelled as production
// clusters in region east. For each Subscription, each agent must be sent
// the work, apply every manifest, report Applied and Available per manifest
// and for the work, and the hub must read that back as the cluster applied
// at the deployed revision; then the two agents' reports and objects must
// be the same.
func (f *fleet) testExampleFleet(t *testing.T) {
	f.serveExampleFleet(t)
	for _, app := range fleetApps() {
		t.Run(app.source, func(t *testing.T) {
			states := map[string]workState{}
			for _, a := range workAgents {
				t.Run(a.name, func(t *testing.T) { states[a.cluster] = f.expectFleetApp(t, app, a.cluster) })
			}
			if len(states) < len(workAgents) {
				return // one skipped for a known gap, or failed
			}
			poll.Eventually(t, 30*time.Second, "both agents report the same and leave the same objects", func() error {
				ocm, ours := f.fleetAppState(t, app, ocmCluster).without(app), f.fleetAppState(t, app, ourCluster).without(app)
				if !equalState(ocm, ours) {
					return fmt.Errorf("OCM's: %s\nours:  %s", ocm, ours)
				}
				return nil
			})
		})
	}
}

// serveExampleFleet serves fleet-repo-example and its Helm repository,
// labels the clusters and applies channels/ and the fleet's hub/ folder.
func (f *fleet) serveExampleFleet(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	root := moduleRoot(t)
	example := filepath.Join(root, "fleet-repo-example")
	repo := harness.ServeRepo(t, t.TempDir(), example)
	charts, err := lab.StartHelmRepo(filepath.Join(example, "helm-repo-src"), t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = charts.Close() })
	for _, name := range []string{ocmCluster, ourCluster} {
		f.labelCluster(t, name, map[string]string{clusterv1beta2.ClusterSetLabel: "default", "env": "prod", "region": "east"})
	}
	rewrite := map[string]string{
		"http://" + lab.DefaultGitAddr + "/fleet.git": repo,
		"http://" + lab.DefaultHelmAddr + "/":         charts.URL + "/",
	}
	for _, dir := range []string{filepath.Join(root, "channels"), filepath.Join(example, "hub")} {
		if _, err := lab.ApplyDir(ctx, f.hub.C, dir, rewrite); err != nil {
			t.Fatal(err)
		}
	}
}

// expectFleetApp waits until one agent's cluster runs app as the hub sent
// it and the hub reads it back as applied, and returns the agent's state.
// A Helm work carries its release's Namespace (the hub adds the namespaces
// a render uses but does not declare), so OCM's agent, which creates no
// namespace, applies it (issue 17 item 2).
func (f *fleet) expectFleetApp(t *testing.T, app fleetApp, cluster string) workState {
	t.Helper()
	ns, name, _ := strings.Cut(app.sub, "/")
	var st workState
	poll.Eventually(t, 90*time.Second, fmt.Sprintf("%s applied on %s and read back", app.sub, cluster), func() error {
		f.agent.alive(t)
		sub := &appsv1.Subscription{}
		if err := f.hub.C.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, sub); err != nil {
			return err
		}
		var cs *appsv1.ClusterStatus
		for i := range sub.Status.Clusters {
			if sub.Status.Clusters[i].Name == cluster {
				cs = &sub.Status.Clusters[i]
			}
		}
		switch {
		case cs == nil:
			return fmt.Errorf("the Subscription reports no %s: %+v", cluster, sub.Status)
		case cs.State != wantState(app, cluster) || !namesFailing(cs.Message, app, cluster):
			return fmt.Errorf("%s is %s: %s", cluster, cs.State, cs.Message)
		case cs.Revision == "" || cs.Revision != sub.Status.LastAttemptedRevision:
			return fmt.Errorf("%s holds revision %q, the Subscription's is %q", cluster, cs.Revision, sub.Status.LastAttemptedRevision)
		}
		st = f.fleetAppState(t, app, cluster)
		return checkFleetApp(app, st, cluster == ocmCluster)
	})
	for ref, kv := range app.encrypted {
		f.checkEncrypted(t, cluster, ref, kv[0], kv[1])
	}
	return st
}

// isEncrypted says whether a manifest line of workState.Resources is one
// of app's encrypted Secrets.
func (app fleetApp) isEncrypted(resource string) bool {
	for ref := range app.encrypted {
		if strings.HasPrefix(resource, "Secret "+ref+":") {
			return true
		}
	}
	return false
}

// without is the state to compare between the agents for app: with
// encrypted manifests, neither they nor the work's conditions (OCM's agent
// has no SOPS, see fleetApp.encrypted).
func (s workState) without(app fleetApp) workState {
	if len(app.encrypted) == 0 {
		return s
	}
	s.Conditions = nil
	s.Resources = slices.DeleteFunc(slices.Clone(s.Resources), app.isEncrypted)
	return s
}

// checkEncrypted checks what an agent made of a SOPS-encrypted Secret: ours
// decrypted it; OCM's made none (it refuses the stanza, see namesFailing).
func (f *fleet) checkEncrypted(t *testing.T, cluster, ref, key, plaintext string) {
	t.Helper()
	ns, name, _ := strings.Cut(ref, "/")
	s := &corev1.Secret{}
	err := f.spokes[cluster].C.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, s)
	switch {
	case cluster == ourCluster && (err != nil || string(s.Data[key]) != plaintext):
		t.Errorf("our agent did not decrypt Secret %s: %s = %q (%v)", ref, key, s.Data[key], err)
	case cluster == ocmCluster && !apierrors.IsNotFound(err):
		t.Errorf("OCM's agent made Secret %s (%v), want none", ref, err)
	}
}

// wantState is the state the hub must read back for app on cluster: OCM's
// agent fails a work that holds an encrypted manifest.
func wantState(app fleetApp, cluster string) appsv1.ClusterState {
	if cluster == ocmCluster && len(app.encrypted) > 0 {
		return appsv1.ClusterFailed
	}
	return appsv1.ClusterApplied
}

// namesFailing says whether a Failed cluster's message names the encrypted
// manifests and why OCM's agent failed them: it applies the SOPS stanza as
// a field of the Secret, which the Secret's schema does not have.
func namesFailing(message string, app fleetApp, cluster string) bool {
	if wantState(app, cluster) != appsv1.ClusterFailed {
		return true
	}
	for ref := range app.encrypted {
		if !strings.Contains(message, "Secret "+ref) || !strings.Contains(message, ".sops: field not declared in schema") {
			return false
		}
	}
	return true
}

// checkFleetApp checks one agent's state of app: the work and every
// manifest Applied and Available, every object there with its values. On
// OCM's agent (ocm), app's encrypted manifests are neither, and so the work
// is neither.
func checkFleetApp(app fleetApp, st workState, ocm bool) error {
	want := "Applied=True Available=True"
	if ocm && len(app.encrypted) > 0 {
		want = "Applied=False Available=False"
	}
	if !st.observed || strings.Join(st.Conditions, " ") != want {
		return fmt.Errorf("work conditions %v (of the current generation: %t), want %s", st.Conditions, st.observed, want)
	}
	if len(st.Resources) < len(app.objects) {
		return fmt.Errorf("%d manifests reported, want at least %d: %v", len(st.Resources), len(app.objects), st.Resources)
	}
	for _, r := range st.Resources {
		applied := !(ocm && app.isEncrypted(r))
		if strings.Contains(r, "Applied=True") != applied || (applied && !strings.Contains(r, "Available=True")) {
			return fmt.Errorf("manifest not as wanted (applied and available: %t): %s", applied, r)
		}
	}
	for _, ref := range app.objects {
		if st.Objects[ref] == "absent" {
			return fmt.Errorf("%s is absent", ref)
		}
		for _, part := range app.values[ref] {
			if !strings.Contains(st.Objects[ref], part) {
				return fmt.Errorf("%s lacks %q:\n%s", ref, part, st.Objects[ref])
			}
		}
	}
	return nil
}

// fleetAppState is an agent's state of app's only work on cluster.
func (f *fleet) fleetAppState(t *testing.T, app fleetApp, cluster string) workState {
	t.Helper()
	w := f.fleetAppWork(t, app, cluster)
	if w == nil {
		return workState{Conditions: []string{"no work"}}
	}
	return f.workState(t, cluster, w.Name, app.objects)
}

// fleetAppWork is app's ManifestWork for cluster (nil before there is one);
// the example's apps are small enough for one work each.
func (f *fleet) fleetAppWork(t *testing.T, app fleetApp, cluster string) *workv1.ManifestWork {
	t.Helper()
	ns, name, _ := strings.Cut(app.sub, "/")
	var list workv1.ManifestWorkList
	if err := f.hub.C.List(context.Background(), &list, client.InNamespace(cluster),
		client.MatchingLabels{appsv1.LabelSubscription: hub.SubscriptionLabel(ns, name)}); err != nil {
		t.Fatal(err)
	}
	switch len(list.Items) {
	case 0:
		return nil
	case 1:
		return &list.Items[0]
	}
	t.Fatalf("%s has %d works on %s, want one", app.sub, len(list.Items), cluster)
	return nil
}

// labelCluster adds labels to a ManagedCluster on the hub.
func (f *fleet) labelCluster(t *testing.T, name string, labels map[string]string) {
	t.Helper()
	ctx := context.Background()
	mc := &clusterv1.ManagedCluster{}
	if err := f.hub.C.Get(ctx, client.ObjectKey{Name: name}, mc); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(mc.DeepCopy())
	if mc.Labels == nil {
		mc.Labels = map[string]string{}
	}
	maps.Copy(mc.Labels, labels)
	if err := f.hub.C.Patch(ctx, mc, patch); err != nil {
		t.Fatal(err)
	}
}
