package health

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
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
	p := out.(*corev1.Pod)
	if p.Name != full.Name || p.Namespace != "hello" || p.Labels["app"] != "hello" || len(p.OwnerReferences) != 1 || p.OwnerReferences[0].UID != "rs1" {
		t.Errorf("identity lost: %+v", p.ObjectMeta)
	}
	cs := p.Status.ContainerStatuses
	if len(cs) != 1 || cs[0].State.Waiting.Reason != "ImagePullBackOff" || cs[0].LastTerminationState.Terminated.Reason != "OOMKilled" || cs[0].RestartCount != 3 {
		t.Errorf("container states lost: %+v", cs)
	}
	if cs[0].State.Waiting.Message != "" || cs[0].Image != "" || len(p.Annotations) != 0 || len(p.ManagedFields) != 0 || len(p.Spec.Containers) != 0 || len(p.Status.Conditions) != 0 {
		t.Errorf("kept what explains nothing: %+v", p)
	}
	b, _ := json.Marshal(p)
	if len(b) > 700 {
		t.Errorf("slim pod is %d bytes of JSON, want at most 700: %s", len(b), b)
	}
	t.Logf("slim pod: %d B of JSON", len(b))
	// The verdict reads the same from the slim pod as from the full one.
	d := obj(t, deploymentWith(deploymentImagePull))
	if a, b := Of(d, []*corev1.Pod{full}), Of(d, []*corev1.Pod{p}); a != b || a.Reason != "ImagePullBackOff" {
		t.Errorf("verdict from the full pod %+v, from the slim one %+v", a, b)
	}
	// An unschedulable pod keeps why.
	full.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/3 nodes are available"}}
	out, _ = SlimPod(full)
	if c := out.(*corev1.Pod).Status.Conditions; len(c) != 1 || c[0].Reason != "Unschedulable" || c[0].Message != "" {
		t.Errorf("scheduling condition: %+v", c)
	}
	// Anything else passes through.
	if o, _ := SlimPod("x"); o != "x" {
		t.Errorf("SlimPod(string) = %v", o)
	}
}

func BenchmarkVerdictDeploymentWithPods(b *testing.B) {
	t := &testing.T{}
	d := obj(t, deploymentWith(deploymentImagePull))
	pods := make([]*corev1.Pod, 0, 100)
	for i := range 100 {
		p := pod(fmt.Sprintf("other-%d", i), labelled("other"))
		pods = append(pods, p)
	}
	pods = append(pods, pod("hello-1", waiting("ImagePullBackOff")))
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
