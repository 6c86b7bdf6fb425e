package health

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
)

// failureReasons are container waiting reasons that do not go away by
// waiting: the image cannot be pulled, the container cannot be created or
// keeps crashing. A workload whose pods show one is Failed. In order of
// precedence when pods disagree.
var failureOrder = []string{
	"ImagePullBackOff",
	"ErrImagePull",
	"InvalidImageName",
	"ErrImageNeverPull",
	"CrashLoopBackOff",
	"CreateContainerConfigError",
	"CreateContainerError",
	"RunContainerError",
	"PreStartHookError",
	"PostStartHookError",
}

var failureReasons = func() map[string]bool {
	m := make(map[string]bool, len(failureOrder))
	for _, r := range failureOrder {
		m[r] = true
	}
	return m
}()

// benignWaiting are waiting reasons of a container that is simply starting.
var benignWaiting = map[string]bool{"ContainerCreating": true, "PodInitializing": true}

// SlimPod is a cache transform for a pods informer: it keeps what Of needs
// (namespace, name, labels, owner references, deletion, phase, whether the
// pod is unschedulable, and each container's waiting and terminated
// reasons) and drops the rest, so the cache costs a few hundred bytes per pod
// whatever the pod's spec holds. Anything but a *corev1.Pod passes unchanged.
func SlimPod(obj any) (any, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	out := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:              p.Name,
			Namespace:         p.Namespace,
			UID:               p.UID,
			ResourceVersion:   p.ResourceVersion,
			Labels:            p.Labels,
			DeletionTimestamp: p.DeletionTimestamp,
		},
		Status: corev1.PodStatus{Phase: p.Status.Phase},
	}
	for _, o := range p.OwnerReferences {
		out.OwnerReferences = append(out.OwnerReferences, metav1.OwnerReference{
			APIVersion: o.APIVersion, Kind: o.Kind, Name: o.Name, UID: o.UID, Controller: o.Controller,
		})
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			out.Status.Conditions = []corev1.PodCondition{{Type: c.Type, Status: c.Status, Reason: c.Reason}}
		}
	}
	out.Status.InitContainerStatuses = slimContainers(p.Status.InitContainerStatuses)
	out.Status.ContainerStatuses = slimContainers(p.Status.ContainerStatuses)
	return out, nil
}

func slimContainers(in []corev1.ContainerStatus) []corev1.ContainerStatus {
	if len(in) == 0 {
		return nil
	}
	out := make([]corev1.ContainerStatus, len(in))
	for i, c := range in {
		out[i] = corev1.ContainerStatus{
			Name:                 c.Name,
			Ready:                c.Ready,
			RestartCount:         c.RestartCount,
			State:                slimState(c.State),
			LastTerminationState: slimState(c.LastTerminationState),
		}
	}
	return out
}

func slimState(s corev1.ContainerState) corev1.ContainerState {
	var out corev1.ContainerState
	if s.Waiting != nil {
		out.Waiting = &corev1.ContainerStateWaiting{Reason: s.Waiting.Reason}
	}
	if s.Terminated != nil {
		out.Terminated = &corev1.ContainerStateTerminated{Reason: s.Terminated.Reason, ExitCode: s.Terminated.ExitCode}
	}
	if s.Running != nil {
		out.Running = &corev1.ContainerStateRunning{}
	}
	return out
}

// workload is what explains a workload from its pods.
type workload struct {
	// progress counts replicas, e.g. "0/1 ready".
	progress string
	// cause is what the object itself says went wrong (a Job's Failed reason).
	cause     string
	namespace string
	selector  labels.Selector
	// self is set for a Pod: it explains itself.
	self *corev1.Pod
}

// owns reports whether p is one of the workload's running pods.
func (w *workload) owns(p *corev1.Pod) bool {
	return p != nil && w.selector != nil && p.Namespace == w.namespace &&
		p.DeletionTimestamp == nil && w.selector.Matches(labels.Set(p.Labels))
}

// workloadOf describes obj if it is a kind that runs pods.
func workloadOf(obj *unstructured.Unstructured) (*workload, bool) {
	o := obj.Object
	w := &workload{namespace: obj.GetNamespace()}
	switch obj.GroupVersionKind().GroupKind().String() {
	case "Deployment.apps", "StatefulSet.apps", "ReplicaSet.apps":
		w.progress = fmt.Sprintf("%d/%d ready", intField(o, 0, "status", "readyReplicas"), intField(o, 1, "spec", "replicas"))
	case "DaemonSet.apps":
		w.progress = fmt.Sprintf("%d/%d ready", intField(o, 0, "status", "numberReady"), intField(o, 0, "status", "desiredNumberScheduled"))
	case "Job.batch":
		parallelism := intField(o, 1, "spec", "parallelism")
		w.progress = fmt.Sprintf("%d/%d succeeded", intField(o, 0, "status", "succeeded"), intField(o, parallelism, "spec", "completions"))
		w.cause = jobFailure(o)
	case "Pod":
		var p corev1.Pod
		if fromUnstructured(obj, &p) != nil {
			return nil, false
		}
		w.progress = string(p.Status.Phase)
		if w.progress == "" {
			w.progress = "Pending"
		}
		w.self = &p
		return w, true
	default:
		return nil, false
	}
	sel, found, err := unstructured.NestedMap(o, "spec", "selector")
	if err != nil || !found {
		return w, true
	}
	var ls metav1.LabelSelector
	if fromUnstructured(&unstructured.Unstructured{Object: sel}, &ls) != nil {
		return w, true
	}
	if s, err := metav1.LabelSelectorAsSelector(&ls); err == nil && !s.Empty() {
		w.selector = s
	}
	return w, true
}

// jobFailure is the reason of a Job's Failed condition.
func jobFailure(o map[string]any) string {
	conds, _, _ := unstructured.NestedSlice(o, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Failed" && m["status"] == "True" {
			r, _ := m["reason"].(string)
			return r
		}
	}
	return ""
}

func intField(o map[string]any, def int64, path ...string) int64 {
	v, found, err := unstructured.NestedFieldNoCopy(o, path...)
	if err != nil || !found {
		return def
	}
	switch n := v.(type) {
	case int64:
		return n
	case int32:
		return int64(n)
	case int:
		return int64(n)
	case float64:
		return int64(n)
	}
	return def
}

// problemSet collects the distinct problems of a workload's pods.
type problemSet struct {
	reasons []string
	detail  map[string]string
	pods    map[string]int
}

const maxProblems = 3

func (s *problemSet) add(p *corev1.Pod) {
	seen := map[string]bool{}
	note := func(reason, detail string) {
		if reason == "" || seen[reason] {
			return
		}
		seen[reason] = true
		if s.pods == nil {
			s.pods, s.detail = map[string]int{}, map[string]string{}
		}
		if s.pods[reason] == 0 {
			s.reasons = append(s.reasons, reason)
		}
		s.pods[reason]++
		if detail != "" && s.detail[reason] == "" {
			s.detail[reason] = detail
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			note(c.Reason, "")
		}
	}
	for _, cs := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for _, c := range cs {
			reason, detail := containerProblem(c)
			note(reason, detail)
		}
	}
}

// containerProblem names what keeps a container from running, with the
// reason of its last exit when that says more (e.g. OOMKilled).
func containerProblem(c corev1.ContainerStatus) (reason, detail string) {
	if w := c.State.Waiting; w != nil && !benignWaiting[w.Reason] {
		if t := c.LastTerminationState.Terminated; t != nil && t.Reason != "" && t.Reason != "Error" && t.Reason != "Completed" {
			detail = t.Reason
		}
		return w.Reason, detail
	}
	if t := c.State.Terminated; t != nil && t.ExitCode != 0 {
		if t.Reason != "" {
			return t.Reason, ""
		}
		return fmt.Sprintf("ExitCode%d", t.ExitCode), ""
	}
	return "", ""
}

// worst is the problem with the highest precedence, or "".
func (s *problemSet) worst() string {
	for _, r := range failureOrder {
		if s.pods[r] > 0 {
			return r
		}
	}
	if len(s.reasons) > 0 {
		return s.reasons[0]
	}
	return ""
}

// String lists the problems, failures first: "ImagePullBackOff",
// "CrashLoopBackOff (OOMKilled)", "ImagePullBackOff, Unschedulable".
func (s *problemSet) String() string {
	if len(s.reasons) == 0 {
		return ""
	}
	rs := slices.Clone(s.reasons)
	slices.SortStableFunc(rs, func(a, b string) int { return rank(a) - rank(b) })
	var parts []string
	for i, r := range rs {
		if i == maxProblems {
			parts = append(parts, fmt.Sprintf("and %d more", len(rs)-maxProblems))
			break
		}
		if d := s.detail[r]; d != "" {
			r += " (" + d + ")"
		}
		parts = append(parts, r)
	}
	return strings.Join(parts, ", ")
}

func rank(reason string) int {
	if i := slices.Index(failureOrder, reason); i >= 0 {
		return i
	}
	return len(failureOrder)
}
