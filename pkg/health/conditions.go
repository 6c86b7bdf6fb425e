package health

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	workv1 "open-cluster-management.io/api/work/v1"
)

// Reasons of the Progressing and Degraded conditions, on manifests and on
// the work. Progressing uses the reasons of OCM's API (Applying, Completed,
// Failed).
const (
	// ReasonAsExpected: Degraded=False.
	ReasonAsExpected = "AsExpected"
	// ReasonHealthCheckFailed: Degraded=True because the object is Failed.
	ReasonHealthCheckFailed = "HealthCheckFailed"
	// ReasonApplyFailed: Degraded=True because the manifest was not applied.
	ReasonApplyFailed = "ApplyFailed"
	// ReasonHealthUnknown: Degraded=Unknown because the object's status
	// could not be read.
	ReasonHealthUnknown = "HealthUnknown"
	// ReasonConditionRulesAggregated is OCM's reason for a work-level
	// condition summing up the manifests' rule conditions.
	ReasonConditionRulesAggregated = "ConditionRulesAggregated"
)

// ruleReasonPrefix starts every reason a condition rule sets (OCM's
// convention, by which rule conditions are told apart).
const ruleReasonPrefix = "ConditionRule"

// IsRuleCondition reports whether c was set by a condition rule or sums
// such conditions up.
func IsRuleCondition(c metav1.Condition) bool { return strings.HasPrefix(c.Reason, ruleReasonPrefix) }

// ApplyFailed is the verdict for a manifest that could not be applied.
func ApplyFailed(err error) Verdict { return NotApplied(ReasonApplyFailed, err) }

// NotApplied is the verdict for a manifest that was not applied, for reason
// (e.g. another work applies the object and takes precedence).
func NotApplied(reason string, err error) Verdict {
	return Verdict{Status: Failed, Reason: reason, Message: boundTo(err.Error(), maxRuleMessage), notApplied: true}
}

// ManifestHealth returns a manifest's Progressing and Degraded conditions
// for v, without observedGeneration:
//
//	verdict        Progressing               Degraded
//	Current        False Completed           False AsExpected
//	InProgress     True  Applying  <msg>     False AsExpected
//	Terminating    True  Applying  <msg>     False AsExpected
//	NotFound       True  Applying  <msg>     False AsExpected
//	Unknown        True  Applying  <msg>     Unknown HealthUnknown <msg>
//	Failed         True  Applying            True  HealthCheckFailed <msg>
//	NotApplied     False Failed              True  <reason> <error>
//
// A Failed object is still Progressing, as OCM's rollouts expect of a work
// that failed (Progressing=True and Degraded=True). Healthy manifests carry
// no message.
func ManifestHealth(v Verdict) (progressing, degraded metav1.Condition) {
	progressing = metav1.Condition{Type: workv1.ManifestProgressing, Status: metav1.ConditionTrue, Reason: workv1.WorkProgressingReasonApplying, Message: v.Message}
	degraded = metav1.Condition{Type: workv1.ManifestDegraded, Status: metav1.ConditionFalse, Reason: ReasonAsExpected}
	switch {
	case v.notApplied:
		progressing.Status, progressing.Reason, progressing.Message = metav1.ConditionFalse, workv1.WorkProgressingReasonFailed, ""
		degraded.Status, degraded.Reason, degraded.Message = metav1.ConditionTrue, v.Reason, v.Message
	case v.Status == Current:
		progressing.Status, progressing.Reason, progressing.Message = metav1.ConditionFalse, workv1.WorkProgressingReasonCompleted, ""
	case v.Status == Failed:
		progressing.Message = ""
		degraded.Status, degraded.Reason, degraded.Message = metav1.ConditionTrue, ReasonHealthCheckFailed, v.Message
	case v.Status == Unknown:
		degraded.Status, degraded.Reason, degraded.Message = metav1.ConditionUnknown, ReasonHealthUnknown, v.Message
	}
	return progressing, degraded
}

// SetManifestHealth sets a manifest's Progressing and Degraded conditions
// for v, for work generation gen. It leaves alone a type a condition rule of
// this generation set, and, once the manifest is Complete, a verdict that
// the object is gone (a finished Job cleaned up by its TTL is not
// progressing again).
func SetManifestHealth(conds *[]metav1.Condition, v Verdict, gen int64) {
	if v.Status == NotFound && meta.IsStatusConditionTrue(*conds, workv1.ManifestComplete) {
		return
	}
	p, d := ManifestHealth(v)
	for _, c := range []metav1.Condition{p, d} {
		if old := meta.FindStatusCondition(*conds, c.Type); old != nil && IsRuleCondition(*old) && old.ObservedGeneration == gen {
			continue
		}
		c.ObservedGeneration = gen
		meta.SetStatusCondition(conds, c)
	}
}

// SetRuleConditions records the conditions a manifest's rules produced for
// work generation gen, and drops rule conditions of older generations: OCM
// bumps the generation whenever a rule is removed, so those are of rules that
// no longer exist.
func SetRuleConditions(conds *[]metav1.Condition, results []metav1.Condition, gen int64) {
	for _, c := range results {
		c.ObservedGeneration = gen
		meta.SetStatusCondition(conds, c)
	}
	pruneRuleConditions(conds, gen)
}

func pruneRuleConditions(conds *[]metav1.Condition, gen int64) {
	*conds = slices.DeleteFunc(*conds, func(c metav1.Condition) bool {
		return IsRuleCondition(c) && c.ObservedGeneration != gen
	})
}

// SetManifest records what Judge found for one manifest of work generation
// gen: when the object exists, its rule conditions (dropping those of older
// generations), then its Progressing and Degraded conditions for v. When the
// object does not exist its rule conditions stay, as in OCM (a finished Job
// stays Complete).
func SetManifest(conds *[]metav1.Condition, v Verdict, ruleConds []metav1.Condition, gen int64) {
	if v.Status != NotFound {
		SetRuleConditions(conds, ruleConds, gen)
	}
	SetManifestHealth(conds, v, gen)
}

// ManifestComplete reports whether a manifest is Complete (by a rule): OCM's
// agent then leaves the object alone.
func ManifestComplete(conds []metav1.Condition) bool {
	return meta.IsStatusConditionTrue(conds, workv1.ManifestComplete)
}

// WorkComplete reports whether a work is Complete: OCM's agent then stops
// applying it, and OCM's hub deletes it ttlSecondsAfterFinished later.
func WorkComplete(status *workv1.ManifestWorkStatus) bool {
	return meta.IsStatusConditionTrue(status.Conditions, workv1.WorkComplete)
}

// maxListed bounds the manifests a work-level message names.
const maxListed = 5

// agentTypes are condition types the agent sets itself; rule conditions of
// these types are not summed up OCM's generic way.
var agentTypes = map[string]bool{
	workv1.WorkApplied: true, workv1.WorkAvailable: true,
	workv1.WorkProgressing: true, workv1.WorkDegraded: true,
}

// SetWorkHealth sets the work-level conditions that sum up the manifests'
// health and rules, for work generation gen:
//
//   - Progressing: True (Applying) if a manifest is progressing, naming up
//     to five; else False (Failed) if a manifest failed to apply; else False
//     (Completed).
//   - Degraded: True if a manifest is degraded, naming up to five with why
//     ("Deployment ns/hello: 0/1 ready: ImagePullBackOff"), reason
//     ApplyFailed if any was not applied, else HealthCheckFailed (or the
//     reason of a rule that set Degraded); Unknown (HealthUnknown) if a
//     manifest's health is unknown; else False (AsExpected).
//   - every other type a rule set on a manifest (Complete, or any custom
//     type) summed up as OCM does (ConditionRulesAggregated): False if any
//     is False, else Unknown if any is Unknown, else True; the message of the
//     only manifest, or "Aggregated from N manifest conditions". Summed up
//     rule types that no manifest has any more are removed.
func SetWorkHealth(conds *[]metav1.Condition, manifests []workv1.ManifestCondition, gen int64) {
	set := func(c metav1.Condition) {
		c.ObservedGeneration = gen
		meta.SetStatusCondition(conds, c)
	}
	set(workProgressing(manifests))
	set(workDegraded(manifests))
	for _, c := range aggregateRules(manifests) {
		set(c)
	}
	pruneRuleConditions(conds, gen)
}

func workProgressing(manifests []workv1.ManifestCondition) metav1.Condition {
	var progressing []string
	failed := 0
	for _, m := range manifests {
		c := meta.FindStatusCondition(m.Conditions, workv1.ManifestProgressing)
		switch {
		case c == nil:
		case c.Status == metav1.ConditionTrue:
			progressing = append(progressing, named(m.ResourceMeta, c.Message))
		case c.Reason == workv1.WorkProgressingReasonFailed:
			failed++
		}
	}
	total := len(manifests)
	switch {
	case len(progressing) > 0:
		return metav1.Condition{Type: workv1.WorkProgressing, Status: metav1.ConditionTrue, Reason: workv1.WorkProgressingReasonApplying,
			Message: fmt.Sprintf("%d of %d resources progressing: %s", len(progressing), total, listed(progressing))}
	case failed > 0:
		return metav1.Condition{Type: workv1.WorkProgressing, Status: metav1.ConditionFalse, Reason: workv1.WorkProgressingReasonFailed,
			Message: fmt.Sprintf("%d of %d manifests failed to apply", failed, total)}
	}
	return metav1.Condition{Type: workv1.WorkProgressing, Status: metav1.ConditionFalse, Reason: workv1.WorkProgressingReasonCompleted,
		Message: "All resources are healthy"}
}

func workDegraded(manifests []workv1.ManifestCondition) metav1.Condition {
	var degraded, unknown []string
	reason := ""
	for _, m := range manifests {
		c := meta.FindStatusCondition(m.Conditions, workv1.ManifestDegraded)
		switch {
		case c == nil:
		case c.Status == metav1.ConditionTrue:
			degraded = append(degraded, named(m.ResourceMeta, c.Message))
			r := c.Reason
			if notApplied(m.Conditions) {
				r = ReasonApplyFailed
			}
			if reason == "" || r == ReasonApplyFailed || (reason != ReasonApplyFailed && r == ReasonHealthCheckFailed) {
				reason = r
			}
		case c.Status == metav1.ConditionUnknown:
			unknown = append(unknown, named(m.ResourceMeta, c.Message))
		}
	}
	total := len(manifests)
	switch {
	case len(degraded) > 0:
		return metav1.Condition{Type: workv1.WorkDegraded, Status: metav1.ConditionTrue, Reason: reason,
			Message: fmt.Sprintf("%d of %d resources degraded: %s", len(degraded), total, listed(degraded))}
	case len(unknown) > 0:
		return metav1.Condition{Type: workv1.WorkDegraded, Status: metav1.ConditionUnknown, Reason: ReasonHealthUnknown,
			Message: fmt.Sprintf("%d of %d resources have unknown health: %s", len(unknown), total, listed(unknown))}
	}
	return metav1.Condition{Type: workv1.WorkDegraded, Status: metav1.ConditionFalse, Reason: ReasonAsExpected,
		Message: "No resource is degraded"}
}

// notApplied reports whether a manifest's conditions say it was not applied.
func notApplied(conds []metav1.Condition) bool {
	c := meta.FindStatusCondition(conds, workv1.ManifestProgressing)
	return c != nil && c.Status == metav1.ConditionFalse && c.Reason == workv1.WorkProgressingReasonFailed
}

type ruleTally struct {
	trues, falses, unknowns int
	message                 string
}

func aggregateRules(manifests []workv1.ManifestCondition) []metav1.Condition {
	tallies := map[string]*ruleTally{}
	var order []string
	for _, m := range manifests {
		for _, c := range m.Conditions {
			if !IsRuleCondition(c) || agentTypes[c.Type] {
				continue
			}
			t := tallies[c.Type]
			if t == nil {
				t = &ruleTally{}
				tallies[c.Type] = t
				order = append(order, c.Type)
			}
			switch c.Status {
			case metav1.ConditionTrue:
				t.trues++
			case metav1.ConditionFalse:
				t.falses++
			default:
				t.unknowns++
			}
			if c.Message != "" {
				t.message = c.Message
			}
		}
	}
	slices.Sort(order)
	out := make([]metav1.Condition, 0, len(order))
	for _, typ := range order {
		t := tallies[typ]
		c := metav1.Condition{Type: typ, Status: metav1.ConditionTrue, Reason: ReasonConditionRulesAggregated}
		switch {
		case t.falses > 0:
			c.Status = metav1.ConditionFalse
		case t.unknowns > 0:
			c.Status = metav1.ConditionUnknown
		}
		if n := t.trues + t.falses + t.unknowns; n == 1 && t.message != "" {
			c.Message = t.message
		} else {
			c.Message = fmt.Sprintf("Aggregated from %d manifest conditions", n)
		}
		out = append(out, c)
	}
	return out
}

// Describe names a manifest as "Kind namespace/name" (or "Kind name" when
// cluster-scoped).
func Describe(m workv1.ManifestResourceMeta) string {
	kind := m.Kind
	if kind == "" {
		kind = fmt.Sprintf("manifest %d", m.Ordinal)
	}
	switch {
	case m.Name == "":
		return kind
	case m.Namespace == "":
		return kind + " " + m.Name
	}
	return kind + " " + m.Namespace + "/" + m.Name
}

// named is "Kind ns/name: message", or the name alone without a message.
func named(m workv1.ManifestResourceMeta, msg string) string {
	if msg == "" {
		return Describe(m)
	}
	return Describe(m) + ": " + msg
}

func listed(items []string) string {
	if len(items) <= maxListed {
		return strings.Join(items, "; ")
	}
	return strings.Join(items[:maxListed], "; ") + fmt.Sprintf("; and %d more", len(items)-maxListed)
}

// ExpiresAt says when a Complete work is due for deletion by its
// deleteOption.ttlSecondsAfterFinished, counted from the transition of its
// Complete condition to True (OCM's hub deletes it then; a work without the
// option, or not Complete, never expires). Works a ManifestWorkReplicaSet
// manages are OCM's to leave alone; the caller decides which works it owns.
func ExpiresAt(work *workv1.ManifestWork) (time.Time, bool) {
	if work.DeletionTimestamp != nil || work.Spec.DeleteOption == nil || work.Spec.DeleteOption.TTLSecondsAfterFinished == nil {
		return time.Time{}, false
	}
	c := meta.FindStatusCondition(work.Status.Conditions, workv1.WorkComplete)
	if c == nil || c.Status != metav1.ConditionTrue {
		return time.Time{}, false
	}
	ttl := max(*work.Spec.DeleteOption.TTLSecondsAfterFinished, 0)
	return c.LastTransitionTime.Add(time.Duration(ttl) * time.Second), true
}
