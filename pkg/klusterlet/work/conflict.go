package work

import (
	"errors"
	"fmt"

	workv1 "open-cluster-management.io/api/work/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

// When two works on a cluster apply one object with different content, one
// of them wins and the other leaves the object alone (no write, no drift
// correction), so they never correct each other in a loop. The rule:
//  1. a work whose removal the hub holds (AnnotationRemovalHeld) never wins
//     against one whose removal is not held;
//  2. otherwise the work created first wins (creationTimestamp, then name).
// A manifest that never writes over an object that exists (CreateOnly,
// ReadOnly: the bare Namespace the hub adds for a namespace a render uses but
// does not declare) claims no content and takes part in no contest.

// contender is a work that applies an object, with its manifest's digest
// ("" when the manifest claims no content, see claim).
type contender struct {
	work   *workv1.ManifestWork
	digest string
}

// contest decides who writes an object self wants with content digest mine.
// It returns the winner when it is another work with other content (self
// loses), and the works with other content that self beats.
func contest(self *workv1.ManifestWork, mine string, others []contender) (winner *contender, why string, beaten []string) {
	if mine == "" {
		return nil, "", nil
	}
	best := &contender{work: self, digest: mine}
	for i := range others {
		if others[i].digest == "" {
			continue
		}
		if first, reason := precedes(others[i].work, best.work); first {
			best, why = &others[i], reason
		}
	}
	if best.work != self && best.digest != mine {
		return best, why, nil
	}
	for _, o := range others {
		if o.digest != mine && o.digest != "" {
			beaten = append(beaten, workName(o.work))
		}
	}
	return nil, "", beaten
}

// held says the hub holds the work's removal.
func held(w *workv1.ManifestWork) bool {
	v, ok := w.Annotations[appsv1.AnnotationRemovalHeld]
	return ok && v != "false"
}

// precedes says whether work a wins an object over work b, and why.
func precedes(a, b *workv1.ManifestWork) (bool, string) {
	if ha, hb := held(a), held(b); ha != hb {
		return hb, "the hub holds the removal of " + b.Name
	}
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp), "it was created first"
	}
	return a.Name < b.Name, "it was created at the same time and its name sorts first"
}

// conflictError is a manifest that another work applies with different
// content and wins: this work leaves the object alone.
type conflictError struct {
	object string
	winner string
	why    string
}

func (e *conflictError) Error() string {
	return fmt.Sprintf("%s also applies %s with different content and takes precedence (%s); "+
		"this work leaves the object alone until that work drops it or applies the same content", e.winner, e.object, e.why)
}

// workName names a work for conflict messages, with the Subscription the
// hub wrote it for, so that the status of the other side can say which
// Subscription the object went to.
func workName(w *workv1.ManifestWork) string {
	return appsv1.WorkRef(w.Namespace, w.Name, w.Annotations[appsv1.AnnotationHostingSubscription])
}

func isConflict(err error) bool {
	var c *conflictError
	return errors.As(err, &c)
}

// claim is the content a manifest wants an object to have, for contests:
// none for a manifest that never writes over an existing object.
func (m *manifest) claim() string {
	if m.strategy.Type == workv1.UpdateStrategyTypeCreateOnly || m.strategy.Type == workv1.UpdateStrategyTypeReadOnly {
		return ""
	}
	return m.digest
}
