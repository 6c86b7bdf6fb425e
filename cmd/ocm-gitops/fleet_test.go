package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	workv1 "open-cluster-management.io/api/work/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/test/harness"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// fleetEnv is a real hub (control plane and controllers) deploying a Git
// fleet to two clusters whose agents the test plays.
type fleetEnv struct {
	*harness.Hub
	fleet      *harness.Fleet
	kubeconfig string
}

// helloFiles is the fleet's first commit: one ConfigMap and one Deployment.
var helloFiles = map[string]string{
	"apps/hello/config.yaml": harness.ConfigMapYAML("hello-config", "v1"),
	"apps/hello/deploy.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: hello
  namespace: default
spec:
  selector: {matchLabels: {app: hello}}
  template:
    metadata: {labels: {app: hello}}
    spec: {containers: [{name: hello, image: nginx}]}
`,
}

// newFleetEnv starts the hub with fleet/hello on east and west, applied on
// both; the caller's commands reach it through kubeconfig.
func newFleetEnv(t *testing.T) *fleetEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a control plane")
	}
	e := &fleetEnv{Hub: harness.NewHub(t, "east", "west"), fleet: harness.NewFleet(t, helloFiles)}
	e.kubeconfig = filepath.Join(t.TempDir(), "hub.kubeconfig")
	if err := e.CP.WriteKubeconfig(e.kubeconfig); err != nil {
		t.Fatal(err)
	}
	harness.RunHub(t, e.CP.Config, nil)
	e.Create(t,
		&appsv1.Channel{ObjectMeta: harness.Meta("fleet", "repo"), Spec: appsv1.ChannelSpec{Type: appsv1.ChannelTypeGit, Pathname: e.fleet.URL}},
		harness.GitSubscription("hello", "repo", "east", "west"))
	e.reportAll(t, "hello", nil)
	return e
}

// reportAll waits for the Subscription's works on both clusters at the
// fleet's head, reports them applied (mutate may change a report), and waits
// for the Subscription to say so.
func (e *fleetEnv) reportAll(t *testing.T, sub string, mutate func(*workv1.ManifestWork)) {
	t.Helper()
	head := e.fleet.Head(t)
	var works map[string]*workv1.ManifestWork
	poll.Eventually(t, 3*time.Minute, "works of "+sub+" at "+head[:7]+" on east and west", func() error {
		works = e.Works(t, sub)
		for _, c := range []string{"east", "west"} {
			if w := works[c]; w == nil || !strings.Contains(w.Annotations[appsv1.AnnotationRevision], head) {
				return fmt.Errorf("%s: %d works, want one at %s", c, len(works), head)
			}
		}
		return nil
	})
	for _, w := range works {
		e.reportWork(t, w, mutate)
	}
	poll.Eventually(t, 3*time.Minute, sub+" reported on both clusters", func() error {
		s := e.Subscription(t, sub)
		if sum := s.Status.Summary; sum.Selected != 2 || sum.Progressing+sum.Pending != 0 {
			return fmt.Errorf("summary %+v", sum)
		}
		return nil
	})
}

// reportWork reports a work applied and available with every manifest's
// conditions, as an agent would; mutate may change the report.
func (e *fleetEnv) reportWork(t *testing.T, w *workv1.ManifestWork, mutate func(*workv1.ManifestWork)) {
	t.Helper()
	fresh := &workv1.ManifestWork{}
	if err := e.C.Get(e.Ctx, client.ObjectKeyFromObject(w), fresh); err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	ok := func(typ, reason string) metav1.Condition {
		return metav1.Condition{Type: typ, Status: metav1.ConditionTrue, Reason: reason, ObservedGeneration: fresh.Generation, LastTransitionTime: now}
	}
	fresh.Status.Conditions = []metav1.Condition{ok(workv1.WorkApplied, "Applied"), ok(workv1.WorkAvailable, "Available")}
	fresh.Status.ResourceStatus.Manifests = nil
	for i, m := range fresh.Spec.Workload.Manifests {
		u, err := decodeManifest(m.Raw)
		if err != nil {
			t.Fatal(err)
		}
		gvk := u.GroupVersionKind()
		res := strings.ToLower(gvk.Kind) + "s"
		fresh.Status.ResourceStatus.Manifests = append(fresh.Status.ResourceStatus.Manifests, workv1.ManifestCondition{
			ResourceMeta: workv1.ManifestResourceMeta{Ordinal: int32(i), Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind,
				Resource: res, Name: u.GetName(), Namespace: u.GetNamespace()},
			Conditions: []metav1.Condition{ok(workv1.ManifestApplied, "AppliedManifestComplete"), ok(workv1.ManifestAvailable, "ResourceAvailable")},
		})
	}
	if mutate != nil {
		mutate(fresh)
	}
	if err := e.C.Status().Update(e.Ctx, fresh); err != nil {
		t.Fatal(err)
	}
}

// run runs one ocm-gitops command line against the hub and returns its
// stdout; it fails the test when the exit code is not want.
func (e *fleetEnv) run(t *testing.T, want int, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args = append(args, "--hub-kubeconfig", e.kubeconfig)
	if code := run(ctx, args, &stdout, &stderr); code != want {
		t.Fatalf("ocm-gitops %s exited %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, stdout.String(), stderr.String())
	}
	return stdout.String() + stderr.String()
}
