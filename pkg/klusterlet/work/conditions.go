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
)

// Condition types and reasons. Applied, Available and StatusFeedbackSynced use
// OCM's reasons; Progressing uses the reasons of OCM's API; Drifted is
// ocm-gitops's (see pkg/apis/apps/v1).
const (
	ConditionStatusFeedbackSynced = "StatusFeedbackSynced"
	ConditionDrifted              = appsv1.WorkConditionDrifted

	ReasonAppliedManifestComplete     = "AppliedManifestComplete"
	ReasonAppliedManifestFailed       = "AppliedManifestFailed"
	ReasonApplyConflict               = "ApplyConflict"
	ReasonAppliedManifestWorkComplete = "AppliedManifestWorkComplete"
	ReasonAppliedManifestWorkFailed   = "AppliedManifestWorkFailed"

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
	drift Drift
	// corrected describes the last drift the agent corrected, if any.
	corrected *correction
	// backingOff is set when corrections keep being undone and are delayed.
	backingOff bool
	// feedback holds status feedback values and whether rules exist.
	feedback    []workv1.FeedbackValue
	feedbackErr error
	hasRules    bool
}

// correction is a drift the agent undid.
type correction struct {
	at   time.Time
	what Drift
}

// manifestConditions returns the manifest's conditions, starting from old so
// that transition times survive unchanged conditions.
func manifestConditions(old []metav1.Condition, o *outcome, gen int64) []metav1.Condition {
	conds := make([]metav1.Condition, len(old))
	copy(conds, old)
	set := func(t string, s metav1.ConditionStatus, reason, msg string) {
		meta.SetStatusCondition(&conds, metav1.Condition{Type: t, Status: s, Reason: reason, Message: msg, ObservedGeneration: gen})
	}

	switch {
	case o.err == nil:
		set(workv1.ManifestApplied, metav1.ConditionTrue, ReasonAppliedManifestComplete, "Apply manifest complete")
	case apierrors.IsConflict(o.err) || isApplyConflict(o.err):
		set(workv1.ManifestApplied, metav1.ConditionFalse, ReasonApplyConflict, "Failed to apply manifest: "+o.err.Error())
	default:
		set(workv1.ManifestApplied, metav1.ConditionFalse, ReasonAppliedManifestFailed, "Failed to apply manifest: "+o.err.Error())
	}

	switch {
	case o.live != nil:
		set(workv1.ManifestAvailable, metav1.ConditionTrue, ReasonResourceAvailable, "Resource is available")
	case o.fetchErr != nil:
		set(workv1.ManifestAvailable, metav1.ConditionUnknown, ReasonFetchingResourceFailed, "Failed to fetch resource: "+o.fetchErr.Error())
	default:
		set(workv1.ManifestAvailable, metav1.ConditionFalse, ReasonResourceNotAvailable, "Resource is not available")
	}

	switch {
	case o.err != nil:
		set(workv1.ManifestProgressing, metav1.ConditionFalse, workv1.WorkProgressingReasonFailed, "Apply failed: "+o.err.Error())
		set(workv1.ManifestDegraded, metav1.ConditionTrue, ReasonDegradedApplyFailed, o.err.Error())
	case o.live == nil:
		set(workv1.ManifestProgressing, metav1.ConditionTrue, workv1.WorkProgressingReasonApplying, "Waiting for the resource to exist")
		set(workv1.ManifestDegraded, metav1.ConditionFalse, ReasonAsExpected, "Resource is as expected")
	default:
		set(workv1.ManifestProgressing, metav1.ConditionFalse, workv1.WorkProgressingReasonCompleted, "Resource is applied and available")
		set(workv1.ManifestDegraded, metav1.ConditionFalse, ReasonAsExpected, "Resource is as expected")
	}

	switch {
	case !o.hasRules:
		set(ConditionStatusFeedbackSynced, metav1.ConditionTrue, ReasonNoStatusFeedbackSynced, "")
	case o.feedbackErr != nil:
		set(ConditionStatusFeedbackSynced, metav1.ConditionFalse, ReasonStatusFeedbackSyncFailed, "Sync status feedback failed: "+o.feedbackErr.Error())
	default:
		set(ConditionStatusFeedbackSynced, metav1.ConditionTrue, ReasonStatusFeedbackSynced, "")
	}

	switch {
	case o.drift.Drifted():
		msg := o.drift.String()
		if o.backingOff {
			msg += " (corrections keep being undone; retrying with backoff)"
		}
		set(ConditionDrifted, metav1.ConditionTrue, ReasonDriftDetected, msg)
	case o.corrected != nil:
		set(ConditionDrifted, metav1.ConditionFalse, ReasonNoDrift,
			fmt.Sprintf("Drift corrected at %s: %s", o.corrected.at.UTC().Format(time.RFC3339), o.corrected.what.String()))
	default:
		set(ConditionDrifted, metav1.ConditionFalse, ReasonNoDrift, "No drift")
	}
	return conds
}

// maxListed bounds the objects named in a work-level message.
const maxListed = 5

// workConditions sums the manifests up into the work's conditions.
func workConditions(old []metav1.Condition, outcomes []*outcome, gen int64) []metav1.Condition {
	conds := make([]metav1.Condition, len(old))
	copy(conds, old)
	set := func(t string, s metav1.ConditionStatus, reason, msg string) {
		meta.SetStatusCondition(&conds, metav1.Condition{Type: t, Status: s, Reason: reason, Message: msg, ObservedGeneration: gen})
	}
	total := len(outcomes)
	var failed, unavailable, unknown []string
	var drifted, corrected []string
	var lastCorrection time.Time
	for _, o := range outcomes {
		name := describe(o.meta)
		if o.err != nil {
			failed = append(failed, name+": "+o.err.Error())
		}
		switch {
		case o.live != nil:
		case o.fetchErr != nil:
			unknown = append(unknown, name)
		default:
			unavailable = append(unavailable, name)
		}
		if o.drift.Drifted() {
			drifted = append(drifted, name+" "+o.drift.String())
		} else if o.corrected != nil {
			corrected = append(corrected, name+" "+o.corrected.what.String())
			if o.corrected.at.After(lastCorrection) {
				lastCorrection = o.corrected.at
			}
		}
	}

	if len(failed) == 0 {
		set(workv1.WorkApplied, metav1.ConditionTrue, ReasonAppliedManifestWorkComplete, "Apply manifest work complete")
	} else {
		set(workv1.WorkApplied, metav1.ConditionFalse, ReasonAppliedManifestWorkFailed,
			fmt.Sprintf("Failed to apply manifest work: %d of %d manifests failed: %s", len(failed), total, listed(failed)))
	}

	switch {
	case len(unavailable) > 0:
		set(workv1.WorkAvailable, metav1.ConditionFalse, ReasonResourcesNotAvailable,
			fmt.Sprintf("%d of %d resources are not available: %s", len(unavailable), total, listed(unavailable)))
	case len(unknown) > 0:
		set(workv1.WorkAvailable, metav1.ConditionUnknown, ReasonResourcesStatusUnknown,
			fmt.Sprintf("%d of %d resources have unknown status: %s", len(unknown), total, listed(unknown)))
	case total == 0:
		set(workv1.WorkAvailable, metav1.ConditionTrue, ReasonResourcesAvailable, "The work has no manifests")
	default:
		set(workv1.WorkAvailable, metav1.ConditionTrue, ReasonResourcesAvailable, "All resources are available")
	}

	switch {
	case len(failed) > 0:
		set(workv1.WorkProgressing, metav1.ConditionFalse, workv1.WorkProgressingReasonFailed,
			fmt.Sprintf("%d of %d manifests failed to apply", len(failed), total))
		set(workv1.WorkDegraded, metav1.ConditionTrue, ReasonDegradedApplyFailed,
			fmt.Sprintf("%d of %d manifests failed to apply: %s", len(failed), total, listed(failed)))
	case len(unavailable)+len(unknown) > 0:
		set(workv1.WorkProgressing, metav1.ConditionTrue, workv1.WorkProgressingReasonApplying,
			fmt.Sprintf("%d of %d resources are not available yet", len(unavailable)+len(unknown), total))
		set(workv1.WorkDegraded, metav1.ConditionFalse, ReasonAsExpected, "All manifests applied")
	default:
		set(workv1.WorkProgressing, metav1.ConditionFalse, workv1.WorkProgressingReasonCompleted, "All resources are applied and available")
		set(workv1.WorkDegraded, metav1.ConditionFalse, ReasonAsExpected, "All manifests applied")
	}

	switch {
	case len(drifted) > 0:
		set(ConditionDrifted, metav1.ConditionTrue, ReasonDriftDetected,
			fmt.Sprintf("%d of %d manifests drifted: %s", len(drifted), total, listed(drifted)))
	case len(corrected) > 0:
		set(ConditionDrifted, metav1.ConditionFalse, ReasonNoDrift,
			fmt.Sprintf("Drift corrected, last at %s: %s", lastCorrection.UTC().Format(time.RFC3339), listed(corrected)))
	default:
		set(ConditionDrifted, metav1.ConditionFalse, ReasonNoDrift, "No drift")
	}
	return conds
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

// applyConflictError marks a server-side apply refused over field ownership.
type applyConflictError struct{ err error }

func (e *applyConflictError) Error() string { return e.err.Error() }
func (e *applyConflictError) Unwrap() error { return e.err }

func isApplyConflict(err error) bool {
	var c *applyConflictError
	return errors.As(err, &c)
}
