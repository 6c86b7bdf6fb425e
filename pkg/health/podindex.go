package health

import (
	"context"
	"reflect"
	"slices"
	"sync"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// PodIndex is a watch of the cluster's pods kept in slim form (SlimPod), to
// explain workloads. It starts on first use, so an agent that applies no
// workload never lists a pod.
type PodIndex struct {
	log      logr.Logger
	inf      cache.SharedIndexInformer
	onChange func(*Pod)

	once sync.Once
	wg   sync.WaitGroup
}

// NewPodIndex builds a pod index on client's cluster. onChange is called
// for every pod that appears, disappears or changes in what SlimPod keeps
// (not for changes of anything else, such as a heartbeat of its status).
func NewPodIndex(client kubernetes.Interface, log logr.Logger, onChange func(*Pod)) *PodIndex {
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return client.CoreV1().Pods(metav1.NamespaceAll).Watch(ctx, o)
		},
	}
	inf := cache.NewSharedIndexInformer(lw, &corev1.Pod{}, 0, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	_ = inf.SetTransform(SlimPod)
	_ = inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
		log.Error(err, "watch of pods failed; retrying")
	})
	p := &PodIndex{log: log, inf: inf, onChange: onChange}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { p.changed(obj) },
		UpdateFunc: func(oldObj, newObj any) {
			o, ok1 := oldObj.(*Pod)
			n, ok2 := newObj.(*Pod)
			if ok1 && ok2 && samePod(o, n) {
				return
			}
			p.changed(newObj)
		},
		DeleteFunc: func(obj any) { p.changed(obj) },
	})
	return p
}

func (p *PodIndex) changed(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if pod, ok := obj.(*Pod); ok && p.onChange != nil {
		p.onChange(pod)
	}
}

// samePod reports whether two slim pods say the same about health.
func samePod(a, b *Pod) bool {
	return reflect.DeepEqual(a.Labels, b.Labels) && reflect.DeepEqual(a.OwnerReferences, b.OwnerReferences) &&
		a.DeletionTimestamp.Equal(b.DeletionTimestamp) && a.Phase == b.Phase && a.Unschedulable == b.Unschedulable &&
		slices.Equal(a.Containers, b.Containers)
}

// Start starts the watch (once), which lists the pods and runs until ctx
// ends.
func (p *PodIndex) Start(ctx context.Context) {
	p.once.Do(func() {
		p.wg.Go(func() { p.inf.RunWithContext(ctx) })
	})
}

// Synced reports whether the index has listed the pods once.
func (p *PodIndex) Synced() bool { return p.inf.HasSynced() }

// InNamespace returns the pods of a namespace; they are shared with the
// cache and must not be modified.
func (p *PodIndex) InNamespace(ns string) []*Pod {
	items, err := p.inf.GetIndexer().ByIndex(cache.NamespaceIndex, ns)
	if err != nil {
		return nil
	}
	out := make([]*Pod, 0, len(items))
	for _, it := range items {
		if pod, ok := it.(*Pod); ok {
			out = append(out, pod)
		}
	}
	return out
}

// Wait blocks until the watch stopped (after ctx ended).
func (p *PodIndex) Wait() { p.wg.Wait() }
