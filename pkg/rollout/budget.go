package rollout

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

// Removal is a change that would take a Subscription's objects off clusters:
// a placement edit, a source that renders nothing, a deleted Subscription.
type Removal struct {
	// Deployed is how many clusters hold the Subscription's objects now.
	Deployed int
	// Clusters are the clusters that would lose them.
	Clusters []string
	// Revision names the change: the new revision, or a fixed word such as
	// "delete" when the Subscription goes away. A confirmation given for one
	// revision does not release another.
	Revision string
	// BudgetPercent is the largest share of Deployed, in percent, that may
	// lose the objects without confirmation (spec.deletionBudgetPercent, or the
	// hub's default).
	BudgetPercent int32
	// Confirmation is the Subscription's AnnotationConfirmDeletion value.
	Confirmation string
}

// BudgetDecision says whether a removal may go ahead.
type BudgetDecision struct {
	// Hold is true when the removal must wait for confirmation.
	Hold bool
	// Token identifies this removal: the Subscription's
	// AnnotationConfirmDeletion set to it releases the hold. Empty when
	// nothing is removed.
	Token string
	// Confirmed is true when the removal exceeds the budget and Confirmation
	// matches Token.
	Confirmed bool
	// Message explains the hold for the DeletionHeld condition, including how
	// to confirm; empty when the removal is within the budget.
	Message string
}

// CheckBudget holds a removal that takes the objects off more than
// BudgetPercent of the clusters that hold them, that is when
// len(Clusters)/max(1, Deployed) > BudgetPercent/100, until Confirmation
// equals the removal's Token. 100 never holds; 0 holds every removal.
func CheckBudget(r Removal) BudgetDecision {
	if len(r.Clusters) == 0 {
		return BudgetDecision{}
	}
	d := BudgetDecision{Token: Token(r.Clusters, r.Revision)}
	deployed := max(1, r.Deployed)
	// Integer comparison: removing/deployed > percent/100.
	if int64(len(r.Clusters))*100 <= int64(r.BudgetPercent)*int64(deployed) {
		return d
	}
	if r.Confirmation != "" && r.Confirmation == d.Token {
		d.Confirmed = true
		return d
	}
	d.Hold = true
	share := float64(len(r.Clusters)) * 100 / float64(deployed)
	d.Message = fmt.Sprintf("removing this Subscription's objects from %d of %d clusters (%.0f%%: %s) exceeds the deletion budget of %d%%; to go ahead, annotate the Subscription with %s=%s",
		len(r.Clusters), r.Deployed, share, listSome(slices.Sorted(slices.Values(r.Clusters))), r.BudgetPercent, appsv1.AnnotationConfirmDeletion, d.Token)
	if r.Confirmation != "" {
		d.Message += fmt.Sprintf(" (the annotation holds %q, which was given for a different removal)", r.Confirmation)
	}
	return d
}

// Token is a short, stable name for removing a revision from a set of
// clusters; the order of clusters does not matter.
func Token(clusters []string, revision string) string {
	h := sha256.New()
	for _, c := range slices.Compact(slices.Sorted(slices.Values(clusters))) {
		h.Write([]byte(c))
		h.Write([]byte{0})
	}
	h.Write([]byte{1})
	h.Write([]byte(revision))
	return hex.EncodeToString(h.Sum(nil)[:8])
}
