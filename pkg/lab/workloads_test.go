package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// TestStagesParse checks the Stages kwok gets: each document is a named
// Stage, and the stage that makes pods Ready leaves unpullable images alone.
func TestStagesParse(t *testing.T) {
	data, err := Stages()
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	stages := map[string]map[string]any{}
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatal(err)
		}
		if doc == nil {
			continue
		}
		meta, _ := doc["metadata"].(map[string]any)
		name, _ := meta["name"].(string)
		if doc["kind"] != "Stage" || name == "" {
			t.Fatalf("not a named Stage: %v", doc)
		}
		if stages[name] != nil {
			t.Fatalf("two Stages named %s", name)
		}
		stages[name] = doc
	}
	for _, want := range []string{"node-initialize", "node-heartbeat-with-lease", "pod-ready", "pod-complete", "pod-delete", "pod-image-pull-error", "pod-image-pull-backoff"} {
		if stages[want] == nil {
			t.Errorf("no Stage %s among %d", want, len(stages))
		}
	}
	if ready := fmt.Sprint(stages["pod-ready"]["spec"]); !strings.Contains(ready, `startswith("`+UnpullableImagePrefix+`")`) {
		t.Errorf("pod-ready does not leave %s images alone: %s", UnpullableImagePrefix, ready)
	}
}

// TestWorkloads runs pods on one control plane with workloads: a Deployment
// becomes Available, a Job completes, and a Deployment whose image cannot be
// pulled stays unavailable with its pods waiting in ImagePullBackOff.
func TestWorkloads(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane with workloads")
	}
	assets, err := FindAssets("")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cp, err := StartControlPlane(ctx, "workloads", RoleManaged, assets)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cp.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	if err := cp.StartWorkloads(ctx, WorkloadOptions{Dir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	if pids := cp.WorkloadPIDs(); len(pids) != 3 {
		t.Fatalf("workload processes: %v, want kube-controller-manager, kube-scheduler and kwok", pids)
	}
	cs, err := kubernetes.NewForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"good", "job", "bad"} {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// The cases share the cluster and run side by side; the restart waits
	// for all of them.
	t.Run("pods", func(t *testing.T) { workloadCases(t, cs) })

	// kube-controller-manager, kube-scheduler and kwok outlive a restart of
	// their API server (fault tests restart clusters): a new Deployment
	// still rolls out.
	if err := cp.Restart(); err != nil {
		t.Fatal(err)
	}
	createDeployment(t, cs, "good", "after-restart", "nginx:1.27", 1)
	waitAvailable(t, cs, "good", "after-restart", 1)
}

// workloadTimeout bounds each wait for pods: generous, for a loaded machine.
const workloadTimeout = 2 * time.Minute

func workloadCases(t *testing.T, cs kubernetes.Interface) {
	ctx, timeout := context.Background(), workloadTimeout
	t.Run("deployment becomes available", func(t *testing.T) {
		t.Parallel()
		createDeployment(t, cs, "good", "web", "nginx:1.27", 2)
		d := waitAvailable(t, cs, "good", "web", 2)
		if !deploymentCondition(d, appsv1.DeploymentAvailable) {
			t.Errorf("Deployment good/web: %d available but conditions %v", d.Status.AvailableReplicas, d.Status.Conditions)
		}
		pods := podsOf(t, cs, "good", "app=web")
		for _, p := range pods {
			if p.Spec.NodeName == "" || !podReady(&p) || p.Status.Phase != corev1.PodRunning {
				t.Errorf("pod %s: node %q, phase %s, ready %v", p.Name, p.Spec.NodeName, p.Status.Phase, podReady(&p))
			}
		}
	})

	t.Run("job completes", func(t *testing.T) {
		t.Parallel()
		job := &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: "migrate", Namespace: "job"},
			Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers:    []corev1.Container{{Name: "migrate", Image: "busybox:1.36"}},
			}}},
		}
		if _, err := cs.BatchV1().Jobs("job").Create(ctx, job, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		poll.Eventually(t, timeout, "Job job/migrate complete", func() error {
			j, err := cs.BatchV1().Jobs("job").Get(ctx, "migrate", metav1.GetOptions{})
			if err != nil {
				return err
			}
			for _, c := range j.Status.Conditions {
				if c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue {
					if j.Status.Succeeded != 1 {
						return fmt.Errorf("complete with %d succeeded pods", j.Status.Succeeded)
					}
					return nil
				}
			}
			return fmt.Errorf("conditions %v, %d active", j.Status.Conditions, j.Status.Active)
		})
	})

	t.Run("unpullable image stays unavailable", func(t *testing.T) {
		t.Parallel()
		// A good Deployment next to it shows the cluster did run pods in the
		// meantime: the bad one is not merely slow.
		createDeployment(t, cs, "bad", "broken", UnpullableImagePrefix+"web:1.0", 2)
		createDeployment(t, cs, "bad", "control", "nginx:1.27", 1)
		poll.Eventually(t, timeout, "pods of bad/broken in ImagePullBackOff", func() error {
			pods, err := cs.CoreV1().Pods("bad").List(ctx, metav1.ListOptions{LabelSelector: "app=broken"})
			if err != nil {
				return err
			}
			if len(pods.Items) != 2 {
				return fmt.Errorf("%d pods", len(pods.Items))
			}
			for _, p := range pods.Items {
				if r := waitingReason(&p); r != "ImagePullBackOff" {
					return fmt.Errorf("pod %s waits with %q", p.Name, r)
				}
			}
			return nil
		})
		waitAvailable(t, cs, "bad", "control", 1)
		d, err := cs.AppsV1().Deployments("bad").Get(ctx, "broken", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d.Status.AvailableReplicas != 0 || d.Status.ReadyReplicas != 0 || deploymentCondition(d, appsv1.DeploymentAvailable) {
			t.Errorf("Deployment bad/broken: %d available, %d ready, conditions %v; want none available", d.Status.AvailableReplicas, d.Status.ReadyReplicas, d.Status.Conditions)
		}
		for _, p := range podsOf(t, cs, "bad", "app=broken") {
			if podReady(&p) || p.Status.Phase != corev1.PodPending {
				t.Errorf("pod %s: phase %s, ready %v; want Pending and not Ready", p.Name, p.Status.Phase, podReady(&p))
			}
			if msg := p.Status.ContainerStatuses[0].State.Waiting.Message; !strings.Contains(msg, UnpullableImagePrefix+"web:1.0") {
				t.Errorf("pod %s waits with message %q; want it to name the image", p.Name, msg)
			}
		}
	})
}

// waitAvailable waits until the Deployment has replicas available and
// returns it.
func waitAvailable(t testing.TB, cs kubernetes.Interface, ns, name string, replicas int32) *appsv1.Deployment {
	t.Helper()
	var d *appsv1.Deployment
	poll.Eventually(t, workloadTimeout, "Deployment "+ns+"/"+name+" available", func() (err error) {
		if d, err = cs.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{}); err != nil {
			return err
		}
		if d.Status.AvailableReplicas != replicas {
			return fmt.Errorf("%d/%d available", d.Status.AvailableReplicas, replicas)
		}
		return nil
	})
	return d
}

func createDeployment(t testing.TB, cs kubernetes.Interface, ns, name, image string, replicas int32) {
	t.Helper()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: image}}},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func podsOf(t testing.TB, cs kubernetes.Interface, ns, selector string) []corev1.Pod {
	t.Helper()
	pods, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) == 0 {
		t.Fatalf("no pods in %s with %s", ns, selector)
	}
	return pods.Items
}

func deploymentCondition(d *appsv1.Deployment, typ appsv1.DeploymentConditionType) bool {
	for _, c := range d.Status.Conditions {
		if c.Type == typ {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func waitingReason(p *corev1.Pod) string {
	if len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].State.Waiting == nil {
		return ""
	}
	return p.Status.ContainerStatuses[0].State.Waiting.Reason
}
