package health

import (
	"context"
	"sync"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	workv1 "open-cluster-management.io/api/work/v1"
)

// Monitor is what a work agent needs to judge the objects it applied: the
// condition rules of each work compiled once per generation, a pods index
// started with the first workload, and which works to look at again when a
// pod of one of their workloads changes. It is safe for concurrent use.
type Monitor struct {
	eval    *Evaluator
	pods    *PodIndex
	enqueue func(work string)

	mu sync.Mutex
	// ctx is the context the pods watch runs in, once Start gave it.
	ctx   context.Context
	rules map[string]*Rules
	// workloads are the pod selectors of each work's workloads, by
	// namespace; pending collects those of a sync in progress.
	workloads map[string]map[string][]labels.Selector
	pending   map[string]map[string][]labels.Selector
}

// NewMonitor builds a monitor on the managed cluster's client; enqueue is
// called with a work's name when a pod of one of its workloads changes.
// Nothing runs before Start.
func NewMonitor(kube kubernetes.Interface, log logr.Logger, enqueue func(work string)) (*Monitor, error) {
	e, err := NewEvaluator()
	if err != nil {
		return nil, err
	}
	m := &Monitor{eval: e, enqueue: enqueue, rules: map[string]*Rules{},
		workloads: map[string]map[string][]labels.Selector{}, pending: map[string]map[string][]labels.Selector{}}
	m.pods = NewPodIndex(kube, log, m.podChanged)
	return m, nil
}

// Start lets the monitor watch pods, until ctx ends; the watch starts with
// the first workload judged.
func (m *Monitor) Start(ctx context.Context) {
	m.mu.Lock()
	m.ctx = ctx
	m.mu.Unlock()
}

// Wait blocks until the pods watch stopped (after Start's ctx ended).
func (m *Monitor) Wait() { m.pods.Wait() }

// rulesFor returns the work's rules compiled for its generation.
func (m *Monitor) rulesFor(work *workv1.ManifestWork) *Rules {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.rules[work.Name]
	if r == nil || r.Generation() != work.Generation {
		r = m.eval.Compile(work)
		m.rules[work.Name] = r
	}
	return r
}

// Judge returns the verdict on one applied manifest's live object (nil when
// it does not exist) and the conditions rules give it, rules being the
// conditionRules of the manifest's config (none when the object does not
// exist). Call it for each manifest of a sync, then Synced; record both with
// SetManifest.
func (m *Monitor) Judge(ctx context.Context, work *workv1.ManifestWork, meta workv1.ManifestResourceMeta,
	rules []workv1.ConditionRule, live *unstructured.Unstructured) (Verdict, []metav1.Condition) {
	var conds []metav1.Condition
	if live != nil && len(rules) > 0 {
		conds = m.rulesFor(work).Evaluate(ctx, meta, live, rules)
	}
	var pods []*Pod
	if live != nil {
		if w, ok := workloadOf(live); ok && w.selector != nil {
			m.track(work.Name, w)
			pods = m.pods.InNamespace(w.namespace)
		}
	}
	return Of(live, pods), conds
}

// track remembers a workload's selector for the sync of work in progress,
// and starts the pods index.
func (m *Monitor) track(work string, w *workload) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ctx != nil {
		m.pods.Start(m.ctx)
	}
	byNS := m.pending[work]
	if byNS == nil {
		byNS = map[string][]labels.Selector{}
		m.pending[work] = byNS
	}
	byNS[w.namespace] = append(byNS[w.namespace], w.selector)
}

// Synced ends a work's sync: pods of workloads no longer in the work stop
// leading to it.
func (m *Monitor) Synced(work string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.setWorkloads(work, m.pending[work])
	delete(m.pending, work)
}

func (m *Monitor) setWorkloads(work string, byNS map[string][]labels.Selector) {
	for ns, works := range m.workloads {
		delete(works, work)
		if len(works) == 0 {
			delete(m.workloads, ns)
		}
	}
	for ns, sels := range byNS {
		if m.workloads[ns] == nil {
			m.workloads[ns] = map[string][]labels.Selector{}
		}
		m.workloads[ns][work] = sels
	}
}

// Forget drops what the monitor keeps for a work that is gone.
func (m *Monitor) Forget(work string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.rules, work)
	delete(m.pending, work)
	m.setWorkloads(work, nil)
}

// podChanged looks again at the works with a workload that selects p.
func (m *Monitor) podChanged(p *Pod) {
	set := labels.Set(p.Labels)
	var works []string
	m.mu.Lock()
	for work, sels := range m.workloads[p.Namespace] {
		for _, s := range sels {
			if s.Matches(set) {
				works = append(works, work)
				break
			}
		}
	}
	m.mu.Unlock()
	for _, w := range works {
		m.enqueue(w)
	}
}
