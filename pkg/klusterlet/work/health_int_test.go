package work_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	workv1 "open-cluster-management.io/api/work/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ocm-gitops/ocm-gitops/pkg/health"
	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet/work"
	"github.com/ocm-gitops/ocm-gitops/pkg/lab"
	"github.com/ocm-gitops/ocm-gitops/test/harness"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// healthTimeout bounds the waits for pods to be scheduled and reported.
const healthTimeout = 90 * time.Second

func deploymentJSON(ns, name, image string) string {
	return fmt.Sprintf(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":%q,"namespace":%q},
		"spec":{"replicas":1,"selector":{"matchLabels":{"app":%q}},
		"template":{"metadata":{"labels":{"app":%q}},"spec":{"containers":[{"name":"app","image":%q}]}}}}`, name, ns, name, name, image)
}

func jobJSON(ns, name, image string) string {
	return fmt.Sprintf(`{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":%q,"namespace":%q},
		"spec":{"backoffLimit":0,"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"run","image":%q}]}}}}`, name, ns, image)
}

func completeRule(ns, name string) workv1.ManifestConfigOption {
	return workv1.ManifestConfigOption{
		ResourceIdentifier: workv1.ResourceIdentifier{Group: "batch", Resource: "jobs", Namespace: ns, Name: name},
		ConditionRules:     []workv1.ConditionRule{{Condition: workv1.ManifestComplete, Type: workv1.WellKnownConditionsType}},
	}
}

// waitWork waits until check holds for the work at its current generation.
func waitWork(t *testing.T, cluster, name, what string, check func(w *workv1.ManifestWork) error) *workv1.ManifestWork {
	t.Helper()
	var w *workv1.ManifestWork
	poll.Eventually(t, healthTimeout, name+": "+what, func() error {
		w = getWork(t, cluster, name)
		if w == nil {
			return errors.New("no work")
		}
		return check(w)
	})
	return w
}

// condIs checks a condition at the work's generation.
func condIs(w *workv1.ManifestWork, c *metav1.Condition, typ string, status metav1.ConditionStatus, reason, msgPart string) error {
	if c == nil {
		return fmt.Errorf("no %s condition", typ)
	}
	if c.Status != status || c.Reason != reason || !strings.Contains(c.Message, msgPart) || c.ObservedGeneration != w.Generation {
		return fmt.Errorf("%s=%s %s %q (generation %d of %d)", c.Type, c.Status, c.Reason, c.Message, c.ObservedGeneration, w.Generation)
	}
	return nil
}

// TestHealthOnWorkloadCluster runs the agent against a cluster whose pods
// run (kube-controller-manager, kube-scheduler, kwok): what it reports is
// whether the objects it applied work, not only that they exist.
func TestHealthOnWorkloadCluster(t *testing.T) {
	cluster := newCluster(t, "health")
	spoke := harness.NewWorkloadSpoke(t, "workloads")
	startAgent(t, cluster, nil, func(o *work.Options) { o.Managed = spoke.CP.Config })
	newNS := func(t *testing.T, name string) string {
		createNS(t, spoke.C, name)
		return name
	}

	t.Run("a healthy Deployment is reported current", func(t *testing.T) {
		t.Parallel()
		ns := newNS(t, "h-good")
		createWork(t, manifestWork(cluster, "good", deploymentJSON(ns, "hello", "nginx:1.27")))
		waitWork(t, cluster, "good", "healthy", func(w *workv1.ManifestWork) error {
			if err := condIs(w, workCondition(w, workv1.WorkProgressing), workv1.WorkProgressing, metav1.ConditionFalse, workv1.WorkProgressingReasonCompleted, ""); err != nil {
				return err
			}
			return condIs(w, workCondition(w, workv1.WorkDegraded), workv1.WorkDegraded, metav1.ConditionFalse, health.ReasonAsExpected, "")
		})
		w := getWork(t, cluster, "good")
		for _, typ := range []string{workv1.ManifestApplied, workv1.ManifestAvailable, workv1.ManifestProgressing, workv1.ManifestDegraded} {
			if c := manifestCondition(w, 0, typ); c == nil || c.Message != "" {
				t.Errorf("healthy manifest's %s = %+v, want it without a message", typ, c)
			}
		}
		d := &unstructured.Unstructured{}
		d.SetAPIVersion("apps/v1")
		d.SetKind("Deployment")
		if err := spoke.C.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "hello"}, d); err != nil {
			t.Fatal(err)
		}
		if v := health.Of(d, nil); v.Status != health.Current {
			t.Errorf("the Deployment reported healthy is %+v on the cluster", v)
		}
	})

	t.Run("an image that cannot be pulled is degraded, naming the Deployment", func(t *testing.T) {
		t.Parallel()
		ns := newNS(t, "h-bad")
		createWork(t, manifestWork(cluster, "bad", deploymentJSON(ns, "hello", lab.UnpullableImagePrefix+"hello:1")))
		w := waitWork(t, cluster, "bad", "degraded", func(w *workv1.ManifestWork) error {
			if err := condIs(w, workCondition(w, workv1.WorkDegraded), workv1.WorkDegraded, metav1.ConditionTrue, health.ReasonHealthCheckFailed,
				"1 of 1 resources degraded: Deployment h-bad/hello: 0/1 ready: ImagePullBackOff"); err != nil {
				return err
			}
			// As OCM's rollouts read a failed work: progressing and degraded.
			return condIs(w, workCondition(w, workv1.WorkProgressing), workv1.WorkProgressing, metav1.ConditionTrue, workv1.WorkProgressingReasonApplying, "")
		})
		if c := manifestCondition(w, 0, workv1.ManifestDegraded); c == nil || c.Message != "0/1 ready: ImagePullBackOff" {
			t.Errorf("manifest Degraded = %+v", c)
		}

		// The fix rolls out, and the work says so.
		w.Spec.Workload.Manifests[0].Raw = []byte(deploymentJSON(ns, "hello", "nginx:1.27"))
		if err := hubC.Update(context.Background(), w); err != nil {
			t.Fatal(err)
		}
		waitWork(t, cluster, "bad", "healthy after the fix", func(w *workv1.ManifestWork) error {
			if err := condIs(w, workCondition(w, workv1.WorkDegraded), workv1.WorkDegraded, metav1.ConditionFalse, health.ReasonAsExpected, ""); err != nil {
				return err
			}
			return condIs(w, workCondition(w, workv1.WorkProgressing), workv1.WorkProgressing, metav1.ConditionFalse, workv1.WorkProgressingReasonCompleted, "")
		})
	})

	t.Run("a CEL rule that does not compile is reported and blocks nothing", func(t *testing.T) {
		t.Parallel()
		ns := newNS(t, "h-cel")
		w := manifestWork(cluster, "cel",
			configMap(ns, "a", map[string]string{"k": "v"}),
			configMap(ns, "b", map[string]string{"k": "v"}),
			deploymentJSON(ns, "web", "nginx:1.27"))
		rule := func(name string, exprs ...string) workv1.ManifestConfigOption {
			return workv1.ManifestConfigOption{
				ResourceIdentifier: workv1.ResourceIdentifier{Resource: "configmaps", Namespace: ns, Name: name},
				ConditionRules:     []workv1.ConditionRule{{Condition: "Ready", Type: workv1.CelConditionExpressionsType, CelExpressions: exprs}},
			}
		}
		w.Spec.ManifestConfigs = []workv1.ManifestConfigOption{rule("a", "object.data.("), rule("b", "object.data.k == 'v'")}
		createWork(t, w)
		w = waitWork(t, cluster, "cel", "rules evaluated, Deployment healthy", func(w *workv1.ManifestWork) error {
			if err := condIs(w, workCondition(w, workv1.WorkProgressing), workv1.WorkProgressing, metav1.ConditionFalse, workv1.WorkProgressingReasonCompleted, ""); err != nil {
				return err
			}
			if err := condIs(w, manifestCondition(w, 1, "Ready"), "Ready", metav1.ConditionTrue, workv1.ConditionRuleEvaluated, "Manifest is Ready"); err != nil {
				return err
			}
			return condIs(w, manifestCondition(w, 0, "Ready"), "Ready", metav1.ConditionFalse, workv1.ConditionRuleExpressionError,
				"work health/cel, manifest ConfigMap h-cel/a, conditionRule Ready: celExpressions[0]: ERROR: <input>:")
		})
		if err := condIs(w, workCondition(w, workv1.WorkApplied), workv1.WorkApplied, metav1.ConditionTrue, work.ReasonAppliedManifestWorkComplete, ""); err != nil {
			t.Errorf("the bad rule kept the work from applying: %v", err)
		}
		if err := condIs(w, workCondition(w, "Ready"), "Ready", metav1.ConditionFalse, health.ReasonConditionRulesAggregated, "Aggregated from 2 manifest conditions"); err != nil {
			t.Errorf("work Ready: %v", err)
		}
		if cm := getCMOn(t, spoke.C, ns, "a"); cm == nil {
			t.Error("the manifest with the bad rule was not applied")
		}
	})

	t.Run("a finished Job is Complete and left alone; an unfinished one keeps the work going", func(t *testing.T) {
		t.Parallel()
		ns := newNS(t, "h-jobs")
		w := manifestWork(cluster, "jobs", jobJSON(ns, "done", "busybox:1.36"), jobJSON(ns, "stuck", lab.UnpullableImagePrefix+"busybox:1"))
		w.Spec.ManifestConfigs = []workv1.ManifestConfigOption{completeRule(ns, "done"), completeRule(ns, "stuck")}
		ttl := int64(60)
		w.Spec.DeleteOption = &workv1.DeleteOption{PropagationPolicy: workv1.DeletePropagationPolicyTypeForeground, TTLSecondsAfterFinished: &ttl}
		createWork(t, w)
		w = waitWork(t, cluster, "jobs", "one Job complete, one stuck", func(w *workv1.ManifestWork) error {
			if err := condIs(w, manifestCondition(w, 0, workv1.ManifestComplete), workv1.ManifestComplete, metav1.ConditionTrue, workv1.ConditionRuleEvaluated, "Job is finished"); err != nil {
				return err
			}
			if err := condIs(w, manifestCondition(w, 1, workv1.ManifestComplete), workv1.ManifestComplete, metav1.ConditionFalse, workv1.ConditionRuleEvaluated, "Job is not finished"); err != nil {
				return err
			}
			if err := condIs(w, workCondition(w, workv1.WorkComplete), workv1.WorkComplete, metav1.ConditionFalse, health.ReasonConditionRulesAggregated, "Aggregated from 2 manifest conditions"); err != nil {
				return err
			}
			return condIs(w, workCondition(w, workv1.WorkDegraded), workv1.WorkDegraded, metav1.ConditionTrue, health.ReasonHealthCheckFailed, "Job h-jobs/stuck: 0/1 succeeded: ImagePullBackOff")
		})
		if _, ok := health.ExpiresAt(w); ok {
			t.Error("a work that is not Complete expires")
		}

		// The finished Job goes (as its own TTL would delete it): the agent
		// sees it gone and does not create it again.
		job := &unstructured.Unstructured{}
		job.SetAPIVersion("batch/v1")
		job.SetKind("Job")
		job.SetNamespace(ns)
		job.SetName("done")
		if err := spoke.C.Delete(context.Background(), job, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
			t.Fatal(err)
		}
		waitWork(t, cluster, "jobs", "deletion seen", func(w *workv1.ManifestWork) error {
			if c := manifestCondition(w, 0, workv1.ManifestAvailable); c == nil || c.Status != metav1.ConditionFalse {
				return fmt.Errorf("Available = %+v", c)
			}
			return nil
		})
		err := spoke.C.Get(context.Background(), client.ObjectKeyFromObject(job), job)
		if !apierrors.IsNotFound(err) {
			t.Errorf("the finished Job is back (or unreadable: %v)", err)
		}
		w = getWork(t, cluster, "jobs")
		if c := manifestCondition(w, 0, workv1.ManifestComplete); c == nil || c.Status != metav1.ConditionTrue {
			t.Errorf("Complete after the Job went = %+v, want still True", c)
		}
		if c := manifestCondition(w, 0, workv1.ManifestProgressing); c == nil || c.Status != metav1.ConditionFalse {
			t.Errorf("Progressing after the Job went = %+v, want still False", c)
		}
	})
}

// TestJobCompleteMatchesOCM applies the same Job with the conditionRule
// Complete through OCM's own work agent and through ours, on one cluster that
// runs pods, and compares the Complete conditions they write (the ones OCM's
// hub deletes a work by, ttlSecondsAfterFinished after); then OCM's hub
// deletes one of our works by them.
func TestJobCompleteMatchesOCM(t *testing.T) {
	cluster := newCluster(t, "job-ours")
	ocmCluster := newCluster(t, "job-ocm")
	spoke := harness.NewWorkloadSpoke(t, "workloads")
	startAgent(t, cluster, nil, func(o *work.Options) { o.Managed = spoke.CP.Config })
	runOCMWorkAgent(t, ocmCluster, spoke.CP)

	ttl := int64(3600)
	for _, c := range []string{cluster, ocmCluster} {
		createNS(t, spoke.C, c)
		w := manifestWork(c, "migrate-"+c, jobJSON(c, "migrate", "busybox:1.36"))
		w.Spec.ManifestConfigs = []workv1.ManifestConfigOption{completeRule(c, "migrate")}
		w.Spec.DeleteOption = &workv1.DeleteOption{PropagationPolicy: workv1.DeletePropagationPolicyTypeForeground, TTLSecondsAfterFinished: &ttl}
		createWork(t, w)
	}
	type conds struct{ manifest, work metav1.Condition }
	got := map[string]conds{}
	for _, c := range []string{cluster, ocmCluster} {
		w := waitWork(t, c, "migrate-"+c, "Complete", func(w *workv1.ManifestWork) error {
			if c := workCondition(w, workv1.WorkComplete); c == nil || c.Status != metav1.ConditionTrue {
				return fmt.Errorf("Complete = %+v", c)
			}
			return nil
		})
		got[c] = conds{*manifestCondition(w, 0, workv1.ManifestComplete), *workCondition(w, workv1.WorkComplete)}
		at, ok := health.ExpiresAt(w)
		if lt := workCondition(w, workv1.WorkComplete).LastTransitionTime; !ok || !at.Equal(lt.Add(time.Hour)) {
			t.Errorf("%s: ExpiresAt = %s, %t; want an hour after %s", c, at, ok, lt)
		}
	}
	same := func(a, b metav1.Condition) bool {
		return a.Type == b.Type && a.Status == b.Status && a.Reason == b.Reason && a.Message == b.Message && a.ObservedGeneration == b.ObservedGeneration
	}
	ours, theirs := got[cluster], got[ocmCluster]
	if !same(ours.manifest, theirs.manifest) {
		t.Errorf("manifest Complete: ours %+v, OCM's %+v", ours.manifest, theirs.manifest)
	}
	if !same(ours.work, theirs.work) {
		t.Errorf("work Complete: ours %+v, OCM's %+v", ours.work, theirs.work)
	}
	t.Logf("manifest: %s %s %q; work: %s %s %q", theirs.manifest.Status, theirs.manifest.Reason, theirs.manifest.Message,
		theirs.work.Status, theirs.work.Reason, theirs.work.Message)

	// OCM's hub deletes our Complete work once its ttlSecondsAfterFinished
	// passed, and our agent then deletes the Job; works whose TTL has not
	// passed stay.
	runOCMWorkHub(t)
	short := int64(1)
	w := manifestWork(cluster, "ttl", jobJSON(cluster, "ttl", "busybox:1.36"))
	w.Spec.ManifestConfigs = []workv1.ManifestConfigOption{completeRule(cluster, "ttl")}
	w.Spec.DeleteOption = &workv1.DeleteOption{PropagationPolicy: workv1.DeletePropagationPolicyTypeForeground, TTLSecondsAfterFinished: &short}
	createWork(t, w)
	job := &unstructured.Unstructured{}
	job.SetAPIVersion("batch/v1")
	job.SetKind("Job")
	poll.Eventually(t, healthTimeout, "the Complete work and its Job deleted after 1 s", func() error {
		err := hubC.Get(context.Background(), client.ObjectKey{Namespace: cluster, Name: "ttl"}, &workv1.ManifestWork{})
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("work still there (%v)", err)
		}
		err = spoke.C.Get(context.Background(), client.ObjectKey{Namespace: cluster, Name: "ttl"}, job)
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("Job still there (%v)", err)
		}
		return nil
	})
	for _, c := range []string{cluster, ocmCluster} {
		if w := getWork(t, c, "migrate-"+c); w.DeletionTimestamp != nil {
			t.Errorf("%s: a work an hour from its TTL is being deleted", c)
		}
	}
}

// runOCMWorkAgent runs OCM's work agent (bin/work, built by 'make
// tools-ocm') for cluster until the test ends.
func runOCMWorkAgent(t *testing.T, cluster string, spoke *lab.ControlPlane) {
	t.Helper()
	runOCMWork(t, spoke, "agent", "--spoke-cluster-name", cluster, "--agent-id", cluster, "--status-sync-interval", "1s")
}

// runOCMWorkHub runs OCM's work hub manager with the garbage collection of
// Complete works (ttlSecondsAfterFinished) until the test ends.
func runOCMWorkHub(t *testing.T) {
	t.Helper()
	runOCMWork(t, nil, "manager", "--feature-gates", "CleanUpCompletedManifestWork=true")
}

// runOCMWork runs a command of OCM's bin/work against the hub (and spoke,
// when given) until the test ends.
func runOCMWork(t *testing.T, spoke *lab.ControlPlane, command string, args ...string) {
	t.Helper()
	assets, err := lab.FindAssets("")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(assets, "..", "work")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("OCM's work binary is not built (%v): run 'make tools-ocm'", err)
	}
	dir := t.TempDir()
	hubKC := filepath.Join(dir, "hub.kubeconfig")
	if err := os.WriteFile(hubKC, hubCP.KubeConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	args = append([]string{command, "--listen", addr, "--disable-leader-election", "--namespace", "open-cluster-management-agent"}, args...)
	if spoke == nil {
		args = append(args, "--kubeconfig", hubKC)
	} else {
		spokeKC := filepath.Join(dir, "spoke.kubeconfig")
		if err := os.WriteFile(spokeKC, spoke.KubeConfig, 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--hub-kubeconfig", hubKC, "--workload-source-config", hubKC, "--spoke-kubeconfig", spokeKC, "--kubeconfig", spokeKC)
	}
	logf, err := os.Create(filepath.Join(dir, "work-"+command+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = logf.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logf.Name()); err == nil {
				t.Logf("OCM work %s log (last 4 KiB):\n%s", command, b[max(0, len(b)-4096):])
			}
		}
	})
}

func getCMOn(t *testing.T, c client.Client, ns, name string) *unstructured.Unstructured {
	t.Helper()
	cm := &unstructured.Unstructured{}
	cm.SetAPIVersion("v1")
	cm.SetKind("ConfigMap")
	err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, cm)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return cm
}
