package health

import (
	"encoding/json"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	workv1 "open-cluster-management.io/api/work/v1"
)

// workStatus builds the status of a work of n Deployments as the agent writes
// it: OCM's Applied, Available and StatusFeedbackSynced conditions, the
// agent's Drifted, and the health conditions for v; healthMsgs replaces the
// health conditions' messages of healthy manifests (to compare with a status
// that spells them out).
func workStatus(n int, v Verdict, healthMsgs ...string) workv1.ManifestWorkStatus {
	const gen = 4
	var st workv1.ManifestWorkStatus
	for i := range n {
		m := workv1.ManifestCondition{ResourceMeta: workv1.ManifestResourceMeta{
			Ordinal: int32(i), Group: "apps", Version: "v1", Kind: "Deployment", Resource: "deployments",
			Namespace: "shop", Name: fmt.Sprintf("frontend-%02d", i),
		}}
		set := func(t, reason, msg string, s metav1.ConditionStatus) {
			meta.SetStatusCondition(&m.Conditions, metav1.Condition{Type: t, Status: s, Reason: reason, Message: msg, ObservedGeneration: gen})
		}
		set(workv1.ManifestApplied, "AppliedManifestComplete", "Apply manifest complete", metav1.ConditionTrue)
		set(workv1.ManifestAvailable, "ResourceAvailable", "Resource is available", metav1.ConditionTrue)
		set("StatusFeedbackSynced", "NoStatusFeedbackSynced", "", metav1.ConditionTrue)
		set("Drifted", "NoDrift", "", metav1.ConditionFalse)
		SetManifestHealth(&m.Conditions, v, gen)
		if len(healthMsgs) == 2 {
			m.Conditions[4].Message, m.Conditions[5].Message = healthMsgs[0], healthMsgs[1]
		}
		st.ResourceStatus.Manifests = append(st.ResourceStatus.Manifests, m)
	}
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: workv1.WorkApplied, Status: metav1.ConditionTrue, Reason: "AppliedManifestWorkComplete", Message: "Apply manifest work complete", ObservedGeneration: gen})
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: workv1.WorkAvailable, Status: metav1.ConditionTrue, Reason: "ResourcesAvailable", Message: "All resources are available", ObservedGeneration: gen})
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: "Drifted", Status: metav1.ConditionFalse, Reason: "NoDrift", Message: "No drift", ObservedGeneration: gen})
	SetWorkHealth(&st.Conditions, st.ResourceStatus.Manifests, gen)
	return st
}

func size(t *testing.T, st workv1.ManifestWorkStatus) int {
	t.Helper()
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	return len(b)
}

// TestStatusSize measures a work's status (JSON bytes) with health for 5 and
// 50 manifests, healthy and all failing, against the same status with a
// message on every health condition. Run with -v for the figures
// (docs/performance.md).
func TestStatusSize(t *testing.T) {
	failing := Verdict{Status: Failed, Reason: "ImagePullBackOff", Message: "0/1 ready: ImagePullBackOff"}
	for _, n := range []int{5, 50} {
		healthy := size(t, workStatus(n, Verdict{Status: Current}))
		verbose := size(t, workStatus(n, Verdict{Status: Current}, "Resource is applied and available", "Resource is as expected"))
		failed := size(t, workStatus(n, failing))
		t.Logf("%2d manifests: healthy %6d B (%d B/manifest), with messages on healthy manifests %6d B, all failing %6d B",
			n, healthy, healthy/n, verbose, failed)
		if healthy >= verbose {
			t.Errorf("%d manifests: healthy status %d B is not smaller than with messages %d B", n, healthy, verbose)
		}
		// A failing manifest costs its message once; the work's lists name
		// at most maxListed manifests each (Progressing and Degraded).
		if limit := n*len(failing.Message) + 2*maxListed*100; failed-healthy > limit {
			t.Errorf("%d manifests: failing adds %d B, want at most %d", n, failed-healthy, limit)
		}
	}
}

func TestSlimPodKeepsWhatExplainsAndNothingElse(t *testing.T) {
	ctrl := true
	full := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "hello-5d8f-abcde", Namespace: "hello", UID: types.UID("u1"), ResourceVersion: "42",
			Labels:          map[string]string{"app": "hello", "pod-template-hash": "5d8f"},
			Annotations:     map[string]string{"big": strings.Repeat("a", 10000)},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "hello-5d8f", UID: "rs1", Controller: &ctrl}},
			ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "kube-controller-manager"}},
		},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.invalid/hello", Env: []corev1.EnvVar{{Name: "X", Value: strings.Repeat("v", 10000)}}}}},
		Status: corev1.PodStatus{
			Phase:      corev1.PodPending,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, Message: "containers with unready status: [app]"}, {Type: corev1.PodScheduled, Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{{
				Name: "app", Image: "registry.invalid/hello", RestartCount: 3,
				State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: strings.Repeat("m", 5000)}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137, Message: "killed"}},
			}},
		},
	}
	out, err := SlimPod(full)
	if err != nil {
		t.Fatal(err)
	}
	p := out.(*Pod)
	want := &Pod{
		ObjectMeta: metav1.ObjectMeta{Name: full.Name, Namespace: "hello", UID: "u1", ResourceVersion: "42", Labels: full.Labels,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "hello-5d8f", UID: "rs1", Controller: &ctrl}}},
		Phase:      corev1.PodPending,
		Containers: []ContainerState{{Name: "app", Waiting: "ImagePullBackOff", LastTerminated: "OOMKilled"}},
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("SlimPod() = %+v\nwant        %+v", p, want)
	}
	if c, ok := p.DeepCopyObject().(*Pod); !ok || !reflect.DeepEqual(c, p) {
		t.Errorf("DeepCopyObject() = %+v", c)
	}
	b, _ := json.Marshal(p)
	t.Logf("slim pod: %d B of JSON", len(b))
	// The verdict reads the same from the slim pod as from the full one.
	d := obj(t, deploymentWith(deploymentImagePull))
	if v := Of(d, []*Pod{p}); v.Reason != "ImagePullBackOff" {
		t.Errorf("verdict from the slim pod %+v", v)
	}
	// An unschedulable pod says so; a container that exited says how.
	full.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/3 nodes are available"}}
	full.Status.ContainerStatuses[0].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 3}}
	out, _ = SlimPod(full)
	if p := out.(*Pod); !p.Unschedulable || p.Containers[0].Terminated != "ExitCode3" {
		t.Errorf("slim pod %+v, want unschedulable and ExitCode3", p)
	}
	// Anything else passes through.
	if o, _ := SlimPod("x"); o != "x" {
		t.Errorf("SlimPod(string) = %v", o)
	}
}

func BenchmarkVerdictDeploymentWithPods(b *testing.B) {
	t := &testing.T{}
	d := obj(t, deploymentWith(deploymentImagePull))
	pods := make([]*Pod, 0, 101)
	for i := range 100 {
		pods = append(pods, slimPod(pod(fmt.Sprintf("other-%d", i), labelled("other"))))
	}
	pods = append(pods, slimPod(pod("hello-1", waiting("ImagePullBackOff"))))
	b.ReportAllocs()
	for b.Loop() {
		if v := Of(d, pods); v.Status != Failed {
			b.Fatal(v)
		}
	}
}

func BenchmarkVerdictConfigMap(b *testing.B) {
	t := &testing.T{}
	cm := obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, namespace: hello}\ndata: {a: b}\n")
	b.ReportAllocs()
	for b.Loop() {
		if v := Of(cm, nil); v.Status != Current {
			b.Fatal(v)
		}
	}
}

// TestSlimPodHeap measures what the pods index holds per pod: Go heap of
// slim pods in an indexer like the informer's, for pods of a realistic shape.
func TestSlimPodHeap(t *testing.T) {
	const n = 5000
	full := func(i int) *corev1.Pod {
		ctrl := true
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				Name: fmt.Sprintf("frontend-5d8f9c7b4-%05d", i), Namespace: "shop", UID: types.UID(fmt.Sprintf("6f1c2a4e-0000-4000-8000-%012d", i)), ResourceVersion: "123456",
				Labels:          map[string]string{"app.kubernetes.io/name": "frontend", "app.kubernetes.io/instance": "shop", "pod-template-hash": "5d8f9c7b4"},
				Annotations:     map[string]string{"kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z"},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "frontend-5d8f9c7b4", UID: "rs", Controller: &ctrl}},
			},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example.com/shop/frontend:1.2.3"}, {Name: "proxy", Image: "envoy:1.30"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
				{Name: "app", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
				{Name: "proxy", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
			}},
		}
	}
	heap := func(transform func(*corev1.Pod) any) int64 {
		store := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := range n {
			if err := store.Add(transform(full(i))); err != nil {
				t.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(store)
		return (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
	}
	per := heap(func(p *corev1.Pod) any { return slimPod(p) })
	whole := heap(func(p *corev1.Pod) any { return p })
	t.Logf("pods index: %d B of heap per pod (%d pods); %d B if pods were cached whole", per, n, whole)
	if per > 1536 || per*2 > whole {
		t.Errorf("a cached pod costs %d B of heap (whole: %d B), want at most 1.5 KiB and half of a whole one", per, whole)
	}
}
