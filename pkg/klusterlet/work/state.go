package work

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"

	workv1 "open-cluster-management.io/api/work/v1"

	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet/work/drift"
)

// workState is the agent's memory of one work.
type workState struct {
	amw *workv1.AppliedManifestWork
	// objects is what was applied to each object, by its key; only the
	// work's own sync reads and writes it (one manifest per goroutine).
	mu      sync.Mutex
	objects map[objKey]*objState

	// resolved caches the decoded manifests of one generation of the work.
	resolved    []*manifest
	resolvedFor resolvedKey
}

// object returns the record of one object, creating it.
func (st *workState) object(k objKey) *objState {
	st.mu.Lock()
	defer st.mu.Unlock()
	rec := st.objects[k]
	if rec == nil {
		rec = &objState{}
		st.objects[k] = rec
	}
	return rec
}

// resolvedKey says which work and owner the cached manifests were made for.
type resolvedKey struct {
	work       types.UID
	generation int64
	owner      types.UID
}

// manifests decodes the work's manifests, or reuses those of the same
// generation (they are never modified once resolved).
func (st *workState) manifests(work *workv1.ManifestWork, owner types.UID, mapper meta.RESTMapper) []*manifest {
	key := resolvedKey{work: work.UID, generation: work.Generation, owner: owner}
	if st.resolved != nil && st.resolvedFor == key {
		return append([]*manifest(nil), st.resolved...)
	}
	ms := resolveManifests(work, mapper, owner)
	st.resolved, st.resolvedFor = nil, resolvedKey{}
	for _, m := range ms {
		if m.mappingErr {
			return ms
		}
	}
	st.resolved, st.resolvedFor = ms, key
	return append([]*manifest(nil), ms...)
}

// objState is what the agent applied to one object and how it went since.
type objState struct {
	// hash of the manifest last applied; "" when unknown (after a restart).
	hash string
	// rv is the resource version last written or accepted as drift-free.
	rv string
	// base is what was applied; nil when drift has to be checked with a
	// server-side dry run (report-only works after a restart).
	base *drift.Baseline
	// drift is the uncorrected drift found at resource version rv
	// (report-only works).
	drift drift.Drift

	corrected   *correction
	corrections drift.Corrections
	// reported is the drift last announced in an event.
	reported string
}

// correction is a drift the agent undid.
type correction struct {
	at   time.Time
	what drift.Drift
}

// states holds the memory of every work, by name.
type states struct {
	mu    sync.Mutex
	works map[string]*workState
}

func newStates() *states { return &states{works: map[string]*workState{}} }

// get returns the memory of a work, creating it.
func (s *states) get(work string) *workState {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.works[work]
	if st == nil {
		st = &workState{objects: map[objKey]*objState{}}
		s.works[work] = st
	}
	return st
}

// forget drops the memory of a work that is gone.
func (s *states) forget(work string) {
	s.mu.Lock()
	delete(s.works, work)
	s.mu.Unlock()
}
