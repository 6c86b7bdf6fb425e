package work

import (
	"context"
	"fmt"
	"net/http"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	workv1 "open-cluster-management.io/api/work/v1"

	"github.com/ocm-gitops/ocm-gitops/pkg/apis/scheme"
	"github.com/ocm-gitops/ocm-gitops/pkg/patch"
)

// statusWriter writes ManifestWork status to the hub the project's one way
// (pkg/patch): the status is computed on a copy of the work, and one patch
// carries the whole status, without resourceVersion, so it cannot conflict
// (the agent is the status's only writer); cleared fields are removed, never
// written as null. A status that did not change costs no write.
type statusWriter struct {
	hub      client.Client
	noHealth bool // see Options.noHealth
}

func newStatusWriter(cfg *rest.Config, httpClient *http.Client) (*statusWriter, error) {
	// The agent writes ManifestWorks only: no discovery needed.
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(schema.GroupVersionKind{Group: workv1.GroupName, Version: "v1", Kind: "ManifestWork"}, meta.RESTScopeNamespace)
	c, err := client.New(cfg, client.Options{Scheme: scheme.New(), Mapper: mapper, HTTPClient: httpClient})
	if err != nil {
		return nil, fmt.Errorf("hub client: %w", err)
	}
	return &statusWriter{hub: c}, nil
}

// write sets the status computed from the outcomes.
func (s *statusWriter) write(ctx context.Context, work *workv1.ManifestWork, outcomes []*outcome) error {
	// Only the status is written: the helper diffs a copy without the
	// manifests, which can be large.
	updated := &workv1.ManifestWork{ObjectMeta: metav1.ObjectMeta{Name: work.Name, Namespace: work.Namespace, UID: work.UID}, Status: work.Status}
	h := patch.NewHelper(updated, s.hub)
	updated.Status = buildStatus(work, outcomes)
	if s.noHealth {
		withoutHealth(&updated.Status)
	}
	ctx, cancel := context.WithTimeout(ctx, hubTimeout)
	defer cancel()
	if err := h.Patch(ctx, updated); err != nil {
		return fmt.Errorf("write status of ManifestWork %s/%s: %w", work.Namespace, work.Name, err)
	}
	return nil
}

// buildStatus computes the work's status from the outcomes, keeping the
// transition times of conditions that did not change.
func buildStatus(work *workv1.ManifestWork, outcomes []*outcome) workv1.ManifestWorkStatus {
	gen := work.Generation
	old := work.Status.ResourceStatus.Manifests
	out := workv1.ManifestWorkStatus{}
	for _, o := range outcomes {
		var prev []metav1.Condition
		for _, mc := range old {
			if mc.ResourceMeta == o.meta {
				prev = mc.Conditions
				break
			}
		}
		out.ResourceStatus.Manifests = append(out.ResourceStatus.Manifests, workv1.ManifestCondition{
			ResourceMeta:    o.meta,
			StatusFeedbacks: workv1.StatusFeedbackResult{Values: o.feedback},
			Conditions:      manifestConditions(prev, o, gen),
		})
	}
	out.Conditions = workConditions(work.Status.Conditions, outcomes, out.ResourceStatus.Manifests, gen)
	return out
}

// withoutHealth drops the health conditions (Progressing, Degraded) from a
// status, for Options.noHealth.
func withoutHealth(st *workv1.ManifestWorkStatus) {
	drop := func(conds *[]metav1.Condition) {
		meta.RemoveStatusCondition(conds, workv1.ManifestProgressing)
		meta.RemoveStatusCondition(conds, workv1.ManifestDegraded)
	}
	drop(&st.Conditions)
	for i := range st.ResourceStatus.Manifests {
		drop(&st.ResourceStatus.Manifests[i].Conditions)
	}
}
