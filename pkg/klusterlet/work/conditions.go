package work

import (
	"errors"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	workv1 "open-cluster-management.io/api/work/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/health"
	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet/work/apply"
	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet/work/drift"
	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet/work/ignorefields"
)

// Condition types and reasons. Applied, Available and StatusFeedbackSynced use
// OCM's reasons; Progressing uses the reasons of OCM's API; Drifted is
// ocm-gitops's (see pkg/apis/apps/v1).
const (
	ConditionStatusFeedbackSynced = "StatusFeedbackSynced"
	ConditionDrifted              = appsv1.WorkConditionDrifted
	ConditionOverrides            = appsv1.WorkConditionOverrides

	ReasonAppliedManifestComplete = workv1.AppliedManifestComplete
	ReasonAppliedManifestFailed   = workv1.AppliedManifestFailed
	// ReasonAppliedManifestSSAIgnoreFieldError: an ignoreFields entry cannot
	// be used (OCM API v1.3).
	ReasonAppliedManifestSSAIgnoreFieldError = workv1.AppliedManifestSSAIgnoreFieldError
	ReasonApplyConflict                      = "ApplyConflict"
	ReasonAppliedManifestWorkComplete        = "AppliedManifestWorkComplete"
	ReasonAppliedManifestWorkFailed          = "AppliedManifestWorkFailed"

	ReasonResourceAvailable      = "ResourceAvailable"
	ReasonResourceNotAvailable   = "ResourceNotAvailable"
	ReasonFetchingResourceFailed = "FetchingResourceFailed"
	ReasonResourcesAvailable     = "ResourcesAvailable"
	ReasonResourcesNotAvailable  = "ResourcesNotAvailable"
	ReasonResourcesStatusUnknown = "ResourcesStatusUnknown"

	ReasonStatusFeedbackSynced     = "StatusFeedbackSynced"
	ReasonNoStatusFeedbackSynced   = "NoStatusFeedbackSynced"
	ReasonStatusFeedbackSyncFailed = "StatusFeedbackSyncFailed"

	ReasonDegradedApplyFailed = health.ReasonApplyFailed
	ReasonAsExpected          = health.ReasonAsExpected

	ReasonDriftDetected = appsv1.ReasonDriftDetected
	ReasonNoDrift       = appsv1.ReasonNoDrift
	// ReasonManifestConflict: another work applies the object with different
	// content and takes precedence.
	ReasonManifestConflict = appsv1.ReasonManifestConflict
	// ReasonTakesPrecedence: other works apply the object with different
	// content and this work wins (Overrides=True).
	ReasonTakesPrecedence = appsv1.ReasonTakesPrecedence
)

// outcome is what the agent knows about one manifest after a sync.
type outcome struct {
	meta workv1.ManifestResourceMeta
	// err is why the manifest could not be applied (decode, mapping, apply).
	err error
	// live is the object on the spoke; nil when it does not exist or is unknown.
	live *unstructured.Unstructured
	// fetchErr is set when the agent could not tell whether the object exists.
	fetchErr error
	// drift is reported drift that was not corrected.
	drift drift.Drift
	// corrected describes the last drift the agent corrected, if any.
	corrected *correction
	// backingOff is set when corrections keep being undone and are delayed.
	backingOff bool
	// beats names the works this one wins the object against (see contest),
	// sorted: they apply it with different content and leave it alone.
	beats []string
	// feedback holds status feedback values and whether rules exist.
	feedback    []workv1.FeedbackValue
	feedbackErr error
	hasRules    bool
	// verdict is the object's health and ruleConds the conditions its
	// conditionRules gave (health.Monitor.Judge); a zero verdict is judged
	// from live alone.
	verdict   health.Verdict
	ruleConds []metav1.Condition
}

// manifestConditionFuncs compute a manifest's conditions from its outcome,
// in order; health (Progressing, Degraded, conditionRules) comes after them.
// Healthy manifests carry no messages, to keep a work's status small.
var manifestConditionFuncs = []func(o *outcome) []metav1.Condition{
	appliedCondition,
	availableCondition,
	feedbackCondition,
	driftCondition,
}

// manifestConditions returns the manifest's conditions, starting from old so
// that transition times survive unchanged conditions.
func manifestConditions(old []metav1.Condition, o *outcome, gen int64) []metav1.Condition {
	conds := make([]metav1.Condition, len(old))
	copy(conds, old)
	for _, f := range manifestConditionFuncs {
		for _, c := range f(o) {
			c.ObservedGeneration = gen
			meta.SetStatusCondition(&conds, c)
		}
	}
	setOverrides(&conds, o, gen)
	health.SetManifest(&conds, verdictOf(o), o.ruleConds, gen)
	return conds
}

// setOverrides sets Overrides=True while the manifest wins its object
// against other works, and removes it once the contest ends: a warning
// that exists only while it holds, like Argo CD's SharedResourceWarning.
func setOverrides(conds *[]metav1.Condition, o *outcome, gen int64) {
	if len(o.beats) == 0 {
		meta.RemoveStatusCondition(conds, ConditionOverrides)
		return
	}
	c := cond(ConditionOverrides, metav1.ConditionTrue, ReasonTakesPrecedence, overridesMessage(o.beats))
	c.ObservedGeneration = gen
	meta.SetStatusCondition(conds, c)
}

// overridesMessage names the works a manifest wins against (workName); the
// hub reads their Subscriptions back with appsv1.WorkRefOwners.
func overridesMessage(beats []string) string {
	list := beats
	more := ""
	if len(list) > maxListed {
		list, more = list[:maxListed], fmt.Sprintf(" and %d more", len(beats)-maxListed)
	}
	return strings.Join(list, ", ") + more + " also apply this object with different content; " +
		"this work takes precedence and theirs is not applied"
}

// verdictOf is the health verdict of a manifest: failed when it was not
// applied, unknown when its object could not be read.
func verdictOf(o *outcome) health.Verdict {
	switch {
	case isConflict(o.err):
		return health.NotApplied(ReasonManifestConflict, o.err)
	case o.err != nil:
		return health.ApplyFailed(o.err)
	case o.live == nil && o.fetchErr != nil:
		return health.Verdict{Status: health.Unknown, Reason: ReasonFetchingResourceFailed, Message: "Failed to fetch resource: " + o.fetchErr.Error()}
	case o.verdict.Status != "":
		return o.verdict
	}
	return health.Of(o.live, nil)
}

func cond(t string, s metav1.ConditionStatus, reason, msg string) metav1.Condition {
	return metav1.Condition{Type: t, Status: s, Reason: reason, Message: msg}
}

func appliedCondition(o *outcome) []metav1.Condition {
	switch {
	case o.err == nil:
		return []metav1.Condition{cond(workv1.ManifestApplied, metav1.ConditionTrue, ReasonAppliedManifestComplete, "")}
	case isConflict(o.err):
		return []metav1.Condition{cond(workv1.ManifestApplied, metav1.ConditionFalse, ReasonManifestConflict, "Not applied: "+o.err.Error())}
	case errors.As(o.err, new(*ignorefields.Error)):
		return []metav1.Condition{cond(workv1.ManifestApplied, metav1.ConditionFalse, ReasonAppliedManifestSSAIgnoreFieldError, "Failed to process ignoreFields: "+o.err.Error())}
	case apierrors.IsConflict(o.err) || apply.IsConflict(o.err):
		return []metav1.Condition{cond(workv1.ManifestApplied, metav1.ConditionFalse, ReasonApplyConflict, "Failed to apply manifest: "+o.err.Error())}
	}
	return []metav1.Condition{cond(workv1.ManifestApplied, metav1.ConditionFalse, ReasonAppliedManifestFailed, "Failed to apply manifest: "+o.err.Error())}
}

func availableCondition(o *outcome) []metav1.Condition {
	switch {
	case o.live != nil:
		return []metav1.Condition{cond(workv1.ManifestAvailable, metav1.ConditionTrue, ReasonResourceAvailable, "")}
	case o.fetchErr != nil:
		return []metav1.Condition{cond(workv1.ManifestAvailable, metav1.ConditionUnknown, ReasonFetchingResourceFailed, "Failed to fetch resource: "+o.fetchErr.Error())}
	}
	return []metav1.Condition{cond(workv1.ManifestAvailable, metav1.ConditionFalse, ReasonResourceNotAvailable, "Resource is not available")}
}

func feedbackCondition(o *outcome) []metav1.Condition {
	switch {
	case !o.hasRules:
		return []metav1.Condition{cond(ConditionStatusFeedbackSynced, metav1.ConditionTrue, ReasonNoStatusFeedbackSynced, "")}
	case o.feedbackErr != nil:
		return []metav1.Condition{cond(ConditionStatusFeedbackSynced, metav1.ConditionFalse, ReasonStatusFeedbackSyncFailed, "Sync status feedback failed: "+o.feedbackErr.Error())}
	}
	return []metav1.Condition{cond(ConditionStatusFeedbackSynced, metav1.ConditionTrue, ReasonStatusFeedbackSynced, "")}
}

func driftCondition(o *outcome) []metav1.Condition {
	switch {
	case o.drift.Drifted():
		msg := o.drift.String()
		if o.backingOff {
			msg += " (corrections keep being undone; retrying with backoff)"
		}
		return []metav1.Condition{cond(ConditionDrifted, metav1.ConditionTrue, ReasonDriftDetected, msg)}
	case o.corrected != nil:
		return []metav1.Condition{cond(ConditionDrifted, metav1.ConditionFalse, ReasonNoDrift,
			fmt.Sprintf("Drift corrected at %s: %s", o.corrected.at.UTC().Format(time.RFC3339), o.corrected.what.String()))}
	}
	return []metav1.Condition{cond(ConditionDrifted, metav1.ConditionFalse, ReasonNoDrift, "")}
}

// maxListed bounds the objects named in a work-level message.
const maxListed = 5

// tally sums the manifests up for the work-level conditions.
type tally struct {
	total                      int
	failed, unavailable        []string
	unknown, drifted, corrects []string
	lastCorrection             time.Time
}

func tallyOf(outcomes []*outcome) tally {
	t := tally{total: len(outcomes)}
	for _, o := range outcomes {
		name := describe(o.meta)
		if o.err != nil {
			t.failed = append(t.failed, name+": "+o.err.Error())
		}
		switch {
		case o.live != nil:
		case o.fetchErr != nil:
			t.unknown = append(t.unknown, name)
		default:
			t.unavailable = append(t.unavailable, name)
		}
		switch {
		case o.drift.Drifted():
			t.drifted = append(t.drifted, name+" "+o.drift.String())
		case o.corrected != nil:
			t.corrects = append(t.corrects, name+" "+o.corrected.what.String())
			if o.corrected.at.After(t.lastCorrection) {
				t.lastCorrection = o.corrected.at
			}
		}
	}
	return t
}

// workConditionFuncs compute the work-level conditions from the tally.
var workConditionFuncs = []func(t tally) []metav1.Condition{
	workApplied,
	workAvailable,
	workDrifted,
}

// workConditions sums the manifests up into the work's conditions; health
// (Progressing, Degraded, the sums of conditionRules such as Complete) from
// the manifests' conditions.
func workConditions(old []metav1.Condition, outcomes []*outcome, manifests []workv1.ManifestCondition, gen int64) []metav1.Condition {
	conds := make([]metav1.Condition, len(old))
	copy(conds, old)
	t := tallyOf(outcomes)
	for _, f := range workConditionFuncs {
		for _, c := range f(t) {
			c.ObservedGeneration = gen
			meta.SetStatusCondition(&conds, c)
		}
	}
	health.SetWorkHealth(&conds, manifests, gen)
	return conds
}

func workApplied(t tally) []metav1.Condition {
	if len(t.failed) == 0 {
		return []metav1.Condition{cond(workv1.WorkApplied, metav1.ConditionTrue, ReasonAppliedManifestWorkComplete, "Apply manifest work complete")}
	}
	return []metav1.Condition{cond(workv1.WorkApplied, metav1.ConditionFalse, ReasonAppliedManifestWorkFailed,
		fmt.Sprintf("Failed to apply manifest work: %d of %d manifests failed: %s", len(t.failed), t.total, listed(t.failed)))}
}

func workAvailable(t tally) []metav1.Condition {
	switch {
	case len(t.unavailable) > 0:
		return []metav1.Condition{cond(workv1.WorkAvailable, metav1.ConditionFalse, ReasonResourcesNotAvailable,
			fmt.Sprintf("%d of %d resources are not available: %s", len(t.unavailable), t.total, listed(t.unavailable)))}
	case len(t.unknown) > 0:
		return []metav1.Condition{cond(workv1.WorkAvailable, metav1.ConditionUnknown, ReasonResourcesStatusUnknown,
			fmt.Sprintf("%d of %d resources have unknown status: %s", len(t.unknown), t.total, listed(t.unknown)))}
	case t.total == 0:
		return []metav1.Condition{cond(workv1.WorkAvailable, metav1.ConditionTrue, ReasonResourcesAvailable, "The work has no manifests")}
	}
	return []metav1.Condition{cond(workv1.WorkAvailable, metav1.ConditionTrue, ReasonResourcesAvailable, "All resources are available")}
}

func workDrifted(t tally) []metav1.Condition {
	switch {
	case len(t.drifted) > 0:
		return []metav1.Condition{cond(ConditionDrifted, metav1.ConditionTrue, ReasonDriftDetected,
			fmt.Sprintf("%d of %d manifests drifted: %s", len(t.drifted), t.total, listed(t.drifted)))}
	case len(t.corrects) > 0:
		return []metav1.Condition{cond(ConditionDrifted, metav1.ConditionFalse, ReasonNoDrift,
			fmt.Sprintf("Drift corrected, last at %s: %s", t.lastCorrection.UTC().Format(time.RFC3339), listed(t.corrects)))}
	}
	return []metav1.Condition{cond(ConditionDrifted, metav1.ConditionFalse, ReasonNoDrift, "No drift")}
}

// describe names a manifest as "Kind namespace/name".
func describe(m workv1.ManifestResourceMeta) string { return health.Describe(m) }

func listed(items []string) string {
	if len(items) <= maxListed {
		return strings.Join(items, "; ")
	}
	return strings.Join(items[:maxListed], "; ") + fmt.Sprintf("; and %d more", len(items)-maxListed)
}
