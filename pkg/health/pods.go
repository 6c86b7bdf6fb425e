package health

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
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

// Pod is what the pods index keeps of a pod, all Of needs to explain a
// workload: identity, labels, owner references, deletion, phase, whether it
// is unschedulable, and why each container is not running. About a third of
// a *corev1.Pod's heap even when the pod's spec is empty.
type Pod struct {
	metav1.TypeMeta
	// ObjectMeta holds only name, namespace, uid, resourceVersion, labels,
	// owner references and deletionTimestamp.
	metav1.ObjectMeta
	Phase         corev1.PodPhase
	Unschedulable bool
	// Containers are the init containers, then the containers.
	Containers []ContainerState
}

// ContainerState is why a container is not running, by reasons only.
type ContainerState struct {
	Name  string
	Ready bool
	// Waiting is the reason the container waits (e.g. ImagePullBackOff).
	Waiting string
	// Terminated is the reason it exited with a non-zero code (or
	// "ExitCode<n>" when the runtime gave none).
	Terminated string
	// LastTerminated is the reason of its previous exit (e.g. OOMKilled).
	LastTerminated string
}

// DeepCopyObject implements runtime.Object, for the informer's cache.
func (p *Pod) DeepCopyObject() runtime.Object {
	out := &Pod{TypeMeta: p.TypeMeta, Phase: p.Phase, Unschedulable: p.Unschedulable, Containers: slices.Clone(p.Containers)}
	p.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	return out
}

// SlimPod is a cache transform for a pods informer: it turns a *corev1.Pod
// into a *Pod, so the cache costs a few hundred bytes per pod whatever the
// pod's spec and messages hold. Anything else passes unchanged.
func SlimPod(obj any) (any, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	return slimPod(p), nil
}

func slimPod(p *corev1.Pod) *Pod {
	out := &Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:              p.Name,
			Namespace:         p.Namespace,
			UID:               p.UID,
			ResourceVersion:   p.ResourceVersion,
			Labels:            p.Labels,
			DeletionTimestamp: p.DeletionTimestamp,
		},
		Phase: p.Status.Phase,
	}
	if len(p.OwnerReferences) > 0 {
		out.OwnerReferences = make([]metav1.OwnerReference, len(p.OwnerReferences))
		for i, o := range p.OwnerReferences {
			out.OwnerReferences[i] = metav1.OwnerReference{APIVersion: o.APIVersion, Kind: o.Kind, Name: o.Name, UID: o.UID, Controller: o.Controller}
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			out.Unschedulable = true
		}
	}
	n := len(p.Status.InitContainerStatuses) + len(p.Status.ContainerStatuses)
	if n > 0 {
		out.Containers = make([]ContainerState, 0, n)
		for _, cs := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
			for _, c := range cs {
				out.Containers = append(out.Containers, containerState(c))
			}
		}
	}
	return out
}

func containerState(c corev1.ContainerStatus) ContainerState {
	s := ContainerState{Name: c.Name, Ready: c.Ready}
	if w := c.State.Waiting; w != nil {
		s.Waiting = w.Reason
	}
	if t := c.State.Terminated; t != nil && t.ExitCode != 0 {
		s.Terminated = t.Reason
		if s.Terminated == "" {
			s.Terminated = fmt.Sprintf("ExitCode%d", t.ExitCode)
		}
	}
	if t := c.LastTerminationState.Terminated; t != nil {
		s.LastTerminated = t.Reason
	}
	return s
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
	self *Pod
}

// owns reports whether p is one of the workload's running pods.
func (w *workload) owns(p *Pod) bool {
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
		w.self = slimPod(&p)
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

func (s *problemSet) add(p *Pod) {
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
	if p.Unschedulable {
		note(corev1.PodReasonUnschedulable, "")
	}
	for _, c := range p.Containers {
		note(c.problem())
	}
}

// problem names what keeps a container from running, with the reason of its
// last exit when that says more (e.g. OOMKilled).
func (c ContainerState) problem() (reason, detail string) {
	if c.Waiting != "" && !benignWaiting[c.Waiting] {
		if r := c.LastTerminated; r != "" && r != "Error" && r != "Completed" {
			detail = r
		}
		return c.Waiting, detail
	}
	return c.Terminated, ""
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
