package health_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	workv1 "open-cluster-management.io/api/work/v1"

	"github.com/ocm-gitops/ocm-gitops/pkg/health"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// TestMonitorExplainsFromPods judges a Deployment on a real API server (its
// status and its pods' written by the test, as the controllers would): the
// pods' watch brings the work back when a pod of its Deployment changes,
// and the verdict names the pods' problem.
func TestMonitorExplainsFromPods(t *testing.T) {
	kube, ctx, cancel := managed(t)
	var (
		mu     sync.Mutex
		queued []string
	)
	m, err := health.NewMonitor(kube, logr.Discard(), func(w string) {
		mu.Lock()
		queued = append(queued, w)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	m.Start(ctx)
	t.Cleanup(func() { cancel(); m.Wait() })
	queuedSince := func(i int) []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(queued[min(i, len(queued)):])
	}

	deploy := func(name string) *unstructured.Unstructured {
		t.Helper()
		one := int32(1)
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "hello"},
			Spec: appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.invalid/" + name}}}}},
		}
		d, err := kube.AppsV1().Deployments("hello").Create(ctx, d, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 1, UpdatedReplicas: 1, UnavailableReplicas: 1}
		if d, err = kube.AppsV1().Deployments("hello").UpdateStatus(ctx, d, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(d)
		if err != nil {
			t.Fatal(err)
		}
		obj := &unstructured.Unstructured{Object: u}
		obj.SetAPIVersion("apps/v1")
		obj.SetKind("Deployment")
		return obj
	}
	podOf := func(app, reason string) {
		t.Helper()
		p, err := kube.CoreV1().Pods("hello").Get(ctx, app+"-1", metav1.GetOptions{})
		if err != nil {
			p = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: app + "-1", Namespace: "hello", Labels: map[string]string{"app": app}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.invalid/" + app}}}}
			if p, err = kube.CoreV1().Pods("hello").Create(ctx, p, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		p.Status.Phase = corev1.PodPending
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", Image: p.Spec.Containers[0].Image,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}}}
		if _, err := kube.CoreV1().Pods("hello").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	work := func(name string) *workv1.ManifestWork {
		return &workv1.ManifestWork{ObjectMeta: metav1.ObjectMeta{Namespace: "cluster1", Name: name, Generation: 1}}
	}
	meta1 := workv1.ManifestResourceMeta{Group: "apps", Version: "v1", Kind: "Deployment", Resource: "deployments", Namespace: "hello", Name: "one"}
	one, two := deploy("one"), deploy("two")
	podOf("one", "ContainerCreating")
	podOf("two", "ContainerCreating")

	judge := func(w *workv1.ManifestWork, meta workv1.ManifestResourceMeta, live *unstructured.Unstructured) workv1.ManifestWorkStatus {
		st := workv1.ManifestWorkStatus{ResourceStatus: workv1.ManifestResourceStatus{Manifests: []workv1.ManifestCondition{{ResourceMeta: meta}}}}
		v, rc := m.Judge(ctx, w, meta, nil, live)
		health.SetManifest(&st.ResourceStatus.Manifests[0].Conditions, v, rc, w.Generation)
		health.SetWorkHealth(&st.Conditions, st.ResourceStatus.Manifests, w.Generation)
		m.Synced(w.Name)
		return st
	}
	judge(work("w1"), meta1, one)
	judge(work("w2"), meta1, two)
	// The index lists the pods once started; their arrival brings both works back.
	poll.Eventually(t, 10*time.Second, "works queued by the pods' listing", func() error {
		q := queuedSince(0)
		if !slices.Contains(q, "w1") || !slices.Contains(q, "w2") {
			return fmt.Errorf("queued %v", q)
		}
		return nil
	})

	n := len(queuedSince(0))
	podOf("one", "ImagePullBackOff")
	poll.Eventually(t, 10*time.Second, "w1 queued by its pod", func() error {
		if q := queuedSince(n); !slices.Equal(q, []string{"w1"}) {
			return fmt.Errorf("queued %v since the change, want [w1]", q)
		}
		return nil
	})
	st := judge(work("w1"), meta1, one)
	d := meta.FindStatusCondition(st.Conditions, workv1.WorkDegraded)
	if d == nil || d.Status != metav1.ConditionTrue || d.Message != "1 of 1 resources degraded: Deployment hello/one: 0/1 ready: ImagePullBackOff" {
		t.Errorf("work Degraded = %+v", d)
	}

	// w1 no longer holds the Deployment: its pod leads nowhere. The change of
	// w2's pod, delivered after, shows the first one was seen.
	m.Synced("w1")
	n = len(queuedSince(0))
	podOf("one", "CrashLoopBackOff")
	podOf("two", "ErrImagePull")
	poll.Eventually(t, 10*time.Second, "w2 queued by its pod", func() error {
		if q := queuedSince(n); !slices.Equal(q, []string{"w2"}) {
			return fmt.Errorf("queued %v since the changes, want [w2]", q)
		}
		return nil
	})
	m.Forget("w2")
	n = len(queuedSince(0))
	podOf("two", "ImagePullBackOff")
	podOf("one", "ImagePullBackOff")
	judge(work("w1"), meta1, one)
	podOf("one", "ErrImagePull")
	poll.Eventually(t, 10*time.Second, "w1 queued again", func() error {
		// w1 may come back once or twice, depending on when its pod's
		// change before the sync arrived; w2 never.
		if q := queuedSince(n); len(q) == 0 || slices.ContainsFunc(q, func(w string) bool { return w != "w1" }) {
			return fmt.Errorf("queued %v, want [w1] (w2 is forgotten)", q)
		}
		return nil
	})
}
