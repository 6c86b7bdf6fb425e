package health

import (
	"fmt"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// Status is the health of one object: kstatus' statuses plus NotFound and
// Unknown.
type Status string

const (
	// Current: the object reached its desired state (for a workload: all
	// replicas updated, ready and available).
	Current Status = "Current"
	// InProgress: the object is on its way (rolling out, scaling, pending).
	InProgress Status = "InProgress"
	// Failed: the object will not get there without help (progress deadline
	// exceeded, a failed Job, pods that cannot pull their image or crash).
	Failed Status = "Failed"
	// Terminating: the object is being deleted.
	Terminating Status = "Terminating"
	// NotFound: the object does not exist.
	NotFound Status = "NotFound"
	// Unknown: the object's status could not be read.
	Unknown Status = "Unknown"
)

// Verdict is the health of one object.
type Verdict struct {
	Status Status
	// Reason is a CamelCase cause, e.g. ImagePullBackOff or
	// ProgressDeadlineExceeded; empty when Current.
	Reason string
	// Message says why in a few words, e.g. "0/1 ready: ImagePullBackOff";
	// empty when Current, so healthy objects cost no status bytes.
	Message string
	// notApplied marks the verdict on a manifest that was not applied
	// (NotApplied), not on its object.
	notApplied bool
}

// Healthy reports whether the verdict is Current.
func (v Verdict) Healthy() bool { return v.Status == Current }

// maxMessage bounds a verdict's message; objects' own condition messages are
// written by whoever controls them.
const maxMessage = 256

// Of returns the verdict for obj, the live object (nil when it does not
// exist). pods are the pods in obj's namespace, or any superset: Of picks
// those obj's selector matches to explain a workload that is not Current. A
// workload whose pods wait for a reason in failureReasons is Failed, not
// InProgress, since it does not recover by waiting. Subscriptions and
// Channels deployed as content are judged by whether the hub observed them
// (appVerdict), not by their own Ready.
func Of(obj *unstructured.Unstructured, pods []*Pod) Verdict {
	if obj == nil {
		return Verdict{Status: NotFound, Reason: "NotFound", Message: "Resource does not exist"}
	}
	if v, ok := appVerdict(obj); ok {
		return v
	}
	res, err := status.Compute(obj)
	if err != nil {
		return Verdict{Status: Unknown, Reason: "StatusUnreadable", Message: bound("Cannot read status: " + err.Error())}
	}
	v := Verdict{Status: Status(res.Status), Reason: reasonOf(res), Message: res.Message}
	switch v.Status {
	case Current:
		if isUnfinishedJob(obj) {
			// kstatus calls a started Job Current; one whose pods cannot run
			// is not.
			break
		}
		return Verdict{Status: Current}
	case Terminating, NotFound:
		return v
	}
	explain(&v, obj, pods)
	v.Message = bound(v.Message)
	return v
}

// reasonOf takes the reason kstatus gave with its Reconciling or Stalled
// condition.
func reasonOf(res *status.Result) string {
	for _, c := range res.Conditions {
		if c.Reason != "" {
			return c.Reason
		}
	}
	switch Status(res.Status) {
	case Terminating:
		return "Terminating"
	case InProgress:
		return "InProgress"
	case Failed:
		return "Failed"
	}
	return ""
}

// explain rewrites v's message for workloads with their replica counts and
// their pods' problems, and makes v Failed when the pods cannot run.
func explain(v *Verdict, obj *unstructured.Unstructured, pods []*Pod) {
	w, ok := workloadOf(obj)
	if !ok {
		if v.Message == "" {
			v.Message = v.Reason
		}
		return
	}
	var problems problemSet
	if w.self != nil {
		problems.add(w.self)
	} else {
		for _, p := range pods {
			if w.owns(p) {
				problems.add(p)
			}
		}
	}
	cause := w.cause
	if cause == "" {
		cause = problems.String()
	}
	if worst := problems.worst(); worst != "" && failureReasons[worst] {
		v.Status, v.Reason = Failed, worst
	}
	if v.Status == Current {
		// An unfinished Job whose pods are fine.
		*v = Verdict{Status: Current}
		return
	}
	switch {
	case cause != "":
		v.Message = w.progress + ": " + cause
	case w.self != nil:
		// A Pod's own status says it best.
	case countReasons[v.Reason]:
		v.Message = w.progress
	default:
		v.Message = w.progress + ": " + v.Message
	}
}

// countReasons are kstatus reasons whose message only repeats the ready
// count.
var countReasons = map[string]bool{"LessReady": true, "LessAvailable": true}

func isUnfinishedJob(obj *unstructured.Unstructured) bool {
	if obj.GroupVersionKind().GroupKind().String() != "Job.batch" {
		return false
	}
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if (m["type"] == "Complete" || m["type"] == "Failed") && m["status"] == "True" {
			return false
		}
	}
	return true
}

func bound(s string) string { return boundTo(s, maxMessage) }

// boundTo cuts s to at most n bytes, on a UTF-8 boundary.
func boundTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("...")
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// fromUnstructured converts obj into out, a typed object.
func fromUnstructured(obj *unstructured.Unstructured, out any) error {
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, out); err != nil {
		return fmt.Errorf("read %s %s: %w", obj.GetKind(), obj.GetName(), err)
	}
	return nil
}
