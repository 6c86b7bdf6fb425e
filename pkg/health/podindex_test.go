package health_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ocm-gitops/ocm-gitops/pkg/health"
	"github.com/ocm-gitops/ocm-gitops/pkg/lab"
	"github.com/ocm-gitops/ocm-gitops/test/harness"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// managed starts a managed cluster's control plane with the namespace
// "hello"; cancel ends the context (call it before waiting for watches).
func managed(t *testing.T) (kube kubernetes.Interface, ctx context.Context, cancel func()) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a control plane")
	}
	cp := harness.StartControlPlane(t, "managed", lab.RoleManaged)
	kube = kubernetes.NewForConfigOrDie(cp.Config)
	ctx, cancel = context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "hello"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return kube, ctx, cancel
}

// TestPodIndex watches real pods: the cache holds them slim, a change of what
// explains health is reported, a change of anything else is not.
func TestPodIndex(t *testing.T) {
	kube, ctx, cancel := managed(t)
	var (
		mu      sync.Mutex
		changes = map[string]int{}
	)
	idx := health.NewPodIndex(kube, logr.Discard(), func(p *health.Pod) {
		mu.Lock()
		changes[p.Namespace+"/"+p.Name]++
		mu.Unlock()
	})
	t.Cleanup(func() { cancel(); idx.Wait() })
	count := func(name string) int {
		mu.Lock()
		defer mu.Unlock()
		return changes["hello/"+name]
	}

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "hello", Labels: map[string]string{"app": "hello"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.invalid/hello"}}},
	}
	if _, err := kube.CoreV1().Pods("hello").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	idx.Start(ctx)
	idx.Start(ctx) // a second start is a no-op
	poll.Eventually(t, 10*time.Second, "pod listed", func() error {
		if !idx.Synced() || len(idx.InNamespace("hello")) != 1 || count("web") != 1 {
			return fmt.Errorf("synced %t, %d pods, %d changes", idx.Synced(), len(idx.InNamespace("hello")), count("web"))
		}
		return nil
	})
	if p := idx.InNamespace("hello")[0]; p.Labels["app"] != "hello" || p.Phase != corev1.PodPending {
		t.Errorf("cached pod: %+v", p)
	}

	setStatus := func(reason string) {
		t.Helper()
		p, err := kube.CoreV1().Pods("hello").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Status.Phase = corev1.PodPending
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", Image: "registry.invalid/hello",
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: "pull failed at " + time.Now().String()}}}}
		if _, err := kube.CoreV1().Pods("hello").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	setStatus("ErrImagePull")
	poll.Eventually(t, 10*time.Second, "status change reported", func() error {
		ps := idx.InNamespace("hello")
		if count("web") != 2 || len(ps) != 1 || len(ps[0].Containers) != 1 || ps[0].Containers[0].Waiting != "ErrImagePull" {
			return fmt.Errorf("%d changes, pods %+v", count("web"), ps)
		}
		return nil
	})

	// Only the waiting message changes: nothing to report. An annotation
	// neither. The next real change is then the third one reported, since a
	// pod's events arrive in order.
	setStatus("ErrImagePull")
	p, err := kube.CoreV1().Pods("hello").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Annotations = map[string]string{"touched": "yes"}
	if _, err := kube.CoreV1().Pods("hello").Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	setStatus("ImagePullBackOff")
	poll.Eventually(t, 10*time.Second, "third change", func() error {
		ps := idx.InNamespace("hello")
		if len(ps) == 1 && len(ps[0].Containers) == 1 && ps[0].Containers[0].Waiting == "ImagePullBackOff" {
			return nil
		}
		return fmt.Errorf("pods %+v", ps)
	})
	if n := count("web"); n != 3 {
		t.Errorf("%d changes reported, want 3 (create, ErrImagePull, ImagePullBackOff)", n)
	}

	if err := kube.CoreV1().Pods("hello").Delete(ctx, "web", *metav1.NewDeleteOptions(0)); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 10*time.Second, "deletion reported", func() error {
		if len(idx.InNamespace("hello")) != 0 || count("web") < 4 {
			return fmt.Errorf("%d pods, %d changes", len(idx.InNamespace("hello")), count("web"))
		}
		return nil
	})
}
