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

	ReasonDegradedApplyFailed = "ApplyFailed"
	ReasonAsExpected          = "AsExpected"

	ReasonDriftDetected = appsv1.ReasonDriftDetected
	ReasonNoDrift       = appsv1.ReasonNoDrift
	// ReasonManifestConflict: another work applies the object with different
	// content and takes precedence.
	ReasonManifestConflict = appsv1.ReasonManifestConflict
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
	// note is said on Applied when all is well but worth knowing (the works
	// this one wins an object against).
	note string
	// feedback holds status feedback values and whether rules exist.
	feedback    []workv1.FeedbackValue
	feedbackErr error
	hasRules    bool
}

// manifestConditionFuncs compute a manifest's conditions from its outcome,
// in order. A new per-manifest verdict (health) is one more function here.
var manifestConditionFuncs = []func(o *outcome) []metav1.Condition{
	appliedCondition,
	availableCondition,
	progressCondition,
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
	return conds
}

func cond(t string, s metav1.ConditionStatus, reason, msg string) metav1.Condition {
	return metav1.Condition{Type: t, Status: s, Reason: reason, Message: msg}
}

func appliedCondition(o *outcome) []metav1.Condition {
	switch {
	case o.err == nil && o.note != "":
		return []metav1.Condition{cond(workv1.ManifestApplied, metav1.ConditionTrue, ReasonAppliedManifestComplete, "Apply manifest complete; "+o.note)}
	case o.err == nil:
		return []metav1.Condition{cond(workv1.ManifestApplied, metav1.ConditionTrue, ReasonAppliedManifestComplete, "Apply manifest complete")}
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
		return []metav1.Condition{cond(workv1.ManifestAvailable, metav1.ConditionTrue, ReasonResourceAvailable, "Resource is available")}
	case o.fetchErr != nil:
		return []metav1.Condition{cond(workv1.ManifestAvailable, metav1.ConditionUnknown, ReasonFetchingResourceFailed, "Failed to fetch resource: "+o.fetchErr.Error())}
	}
	return []metav1.Condition{cond(workv1.ManifestAvailable, metav1.ConditionFalse, ReasonResourceNotAvailable, "Resource is not available")}
}

// progressCondition sets Progressing and Degraded from the apply alone.
func progressCondition(o *outcome) []metav1.Condition {
	switch {
	case isConflict(o.err):
		return []metav1.Condition{
			cond(workv1.ManifestProgressing, metav1.ConditionFalse, workv1.WorkProgressingReasonFailed, "Not applied: "+o.err.Error()),
			cond(workv1.ManifestDegraded, metav1.ConditionTrue, ReasonManifestConflict, o.err.Error()),
		}
	case o.err != nil:
		return []metav1.Condition{
			cond(workv1.ManifestProgressing, metav1.ConditionFalse, workv1.WorkProgressingReasonFailed, "Apply failed: "+o.err.Error()),
			cond(workv1.ManifestDegraded, metav1.ConditionTrue, ReasonDegradedApplyFailed, o.err.Error()),
		}
	case o.live == nil:
		return []metav1.Condition{
			cond(workv1.ManifestProgressing, metav1.ConditionTrue, workv1.WorkProgressingReasonApplying, "Waiting for the resource to exist"),
			cond(workv1.ManifestDegraded, metav1.ConditionFalse, ReasonAsExpected, "Resource is as expected"),
		}
	}
	return []metav1.Condition{
		cond(workv1.ManifestProgressing, metav1.ConditionFalse, workv1.WorkProgressingReasonCompleted, "Resource is applied and available"),
		cond(workv1.ManifestDegraded, metav1.ConditionFalse, ReasonAsExpected, "Resource is as expected"),
	}
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
	return []metav1.Condition{cond(ConditionDrifted, metav1.ConditionFalse, ReasonNoDrift, "No drift")}
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
	workProgress,
	workDrifted,
}

// workConditions sums the manifests up into the work's conditions.
func workConditions(old []metav1.Condition, outcomes []*outcome, gen int64) []metav1.Condition {
	conds := make([]metav1.Condition, len(old))
	copy(conds, old)
	t := tallyOf(outcomes)
	for _, f := range workConditionFuncs {
		for _, c := range f(t) {
			c.ObservedGeneration = gen
			meta.SetStatusCondition(&conds, c)
		}
	}
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

// workProgress sets Progressing and Degraded.
func workProgress(t tally) []metav1.Condition {
	switch {
	case len(t.failed) > 0:
		return []metav1.Condition{
			cond(workv1.WorkProgressing, metav1.ConditionFalse, workv1.WorkProgressingReasonFailed,
				fmt.Sprintf("%d of %d manifests failed to apply", len(t.failed), t.total)),
			cond(workv1.WorkDegraded, metav1.ConditionTrue, ReasonDegradedApplyFailed,
				fmt.Sprintf("%d of %d manifests failed to apply: %s", len(t.failed), t.total, listed(t.failed))),
		}
	case len(t.unavailable)+len(t.unknown) > 0:
		return []metav1.Condition{
			cond(workv1.WorkProgressing, metav1.ConditionTrue, workv1.WorkProgressingReasonApplying,
				fmt.Sprintf("%d of %d resources are not available yet", len(t.unavailable)+len(t.unknown), t.total)),
			cond(workv1.WorkDegraded, metav1.ConditionFalse, ReasonAsExpected, "All manifests applied"),
		}
	}
	return []metav1.Condition{
		cond(workv1.WorkProgressing, metav1.ConditionFalse, workv1.WorkProgressingReasonCompleted, "All resources are applied and available"),
		cond(workv1.WorkDegraded, metav1.ConditionFalse, ReasonAsExpected, "All manifests applied"),
	}
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
func describe(m workv1.ManifestResourceMeta) string {
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

func listed(items []string) string {
	if len(items) <= maxListed {
		return strings.Join(items, "; ")
	}
	return strings.Join(items[:maxListed], "; ") + fmt.Sprintf("; and %d more", len(items)-maxListed)
}
