package agent

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	clusterclientset "open-cluster-management.io/api/client/cluster/clientset/versioned"
	clusterinformers "open-cluster-management.io/api/client/cluster/informers/externalversions"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1alpha1 "open-cluster-management.io/api/cluster/v1alpha1"

	"github.com/ocm-gitops/ocm-gitops/pkg/registration"
)

// Condition reasons the agent sets on its ManagedCluster, as OCM's agent does.
const (
	ReasonManagedClusterJoined     = "ManagedClusterJoined"
	ReasonManagedClusterAvailable  = "ManagedClusterAvailable"
	ReasonKubeAPIServerUnavailable = "ManagedClusterKubeAPIServerUnavailable"
	ClaimKubeVersion               = "kubeversion.open-cluster-management.io"
	defaultLeaseDurationSeconds    = 60
	maxCustomClaims                = 20
)

// StatusOptions configure the reporter of a cluster's lease and status.
type StatusOptions struct {
	ClusterName string
	// Hub is the agent's hub identity.
	Hub *rest.Config
	// Managed is the managed cluster.
	Managed *rest.Config
	// Interval overrides the lease renewal interval, which is otherwise the
	// ManagedCluster's spec.leaseDurationSeconds (60s when unset).
	Interval time.Duration
	Logger   logr.Logger
}

// RunStatus renews the cluster's Lease and keeps its ManagedCluster status
// (Joined and Available conditions, version, capacity, claims) current
// until ctx ends. It watches the ManagedCluster and the ClusterClaims, so
// changes show within a second; the rest is refreshed once per lease period.
func RunStatus(ctx context.Context, opts StatusOptions) error {
	if opts.ClusterName == "" || opts.Hub == nil || opts.Managed == nil {
		return errors.New("cluster status: cluster name, hub and managed cluster configurations are required")
	}
	log := opts.Logger.WithValues("cluster", opts.ClusterName)
	hubHTTP, err := rest.HTTPClientFor(opts.Hub)
	if err != nil {
		return fmt.Errorf("hub client: %w", err)
	}
	defer hubHTTP.CloseIdleConnections()
	managedHTTP, err := rest.HTTPClientFor(opts.Managed)
	if err != nil {
		return fmt.Errorf("managed cluster client: %w", err)
	}
	defer managedHTTP.CloseIdleConnections()
	hubKube, err := kubernetes.NewForConfigAndClient(opts.Hub, hubHTTP)
	if err != nil {
		return err
	}
	hubClusters, err := clusterclientset.NewForConfigAndClient(opts.Hub, hubHTTP)
	if err != nil {
		return err
	}
	managedKube, err := kubernetes.NewForConfigAndClient(opts.Managed, managedHTTP)
	if err != nil {
		return err
	}
	managedClusters, err := clusterclientset.NewForConfigAndClient(opts.Managed, managedHTTP)
	if err != nil {
		return err
	}

	kick := make(chan struct{}, 1)
	poke := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { poke() },
		UpdateFunc: func(any, any) { poke() },
		DeleteFunc: func(any) { poke() },
	}
	hubFactory := clusterinformers.NewSharedInformerFactoryWithOptions(hubClusters, 0,
		clusterinformers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", opts.ClusterName).String()
		}))
	mcInformer := hubFactory.Cluster().V1().ManagedClusters().Informer()
	managedFactory := clusterinformers.NewSharedInformerFactory(managedClusters, 0)
	claimInformer := managedFactory.Cluster().V1alpha1().ClusterClaims().Informer()
	for _, inf := range []cache.SharedIndexInformer{mcInformer, claimInformer} {
		if _, err := inf.AddEventHandler(handler); err != nil {
			return err
		}
	}
	r := &statusReporter{
		cluster: opts.ClusterName, log: log, hubKube: hubKube, hubClusters: hubClusters, managedKube: managedKube,
		mcInformer: mcInformer, claimInformer: claimInformer,
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
		hubFactory.Shutdown()
		managedFactory.Shutdown()
	}()
	hubFactory.Start(ctx.Done())
	managedFactory.Start(ctx.Done())
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.leaseLoop(ctx, opts.Interval)
	}()

	if !cache.WaitForCacheSync(ctx.Done(), mcInformer.HasSynced, claimInformer.HasSynced) {
		return nil
	}
	for {
		if err := r.syncStatus(ctx); err != nil && ctx.Err() == nil {
			log.Error(err, "report ManagedCluster status")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-kick:
		case <-time.After(r.period(opts.Interval)):
		}
	}
}

type statusReporter struct {
	cluster       string
	log           logr.Logger
	hubKube       kubernetes.Interface
	hubClusters   clusterclientset.Interface
	managedKube   kubernetes.Interface
	mcInformer    cache.SharedIndexInformer
	claimInformer cache.SharedIndexInformer
}

func (r *statusReporter) managedCluster() *clusterv1.ManagedCluster {
	item, ok, _ := r.mcInformer.GetIndexer().GetByKey(r.cluster)
	if !ok {
		return nil
	}
	return item.(*clusterv1.ManagedCluster)
}

// period is the lease renewal interval.
func (r *statusReporter) period(override time.Duration) time.Duration {
	if override > 0 {
		return override
	}
	if mc := r.managedCluster(); mc != nil && mc.Spec.LeaseDurationSeconds > 0 {
		return time.Duration(mc.Spec.LeaseDurationSeconds) * time.Second
	}
	return defaultLeaseDurationSeconds * time.Second
}

// leaseLoop renews the Lease in the cluster's hub namespace once per period.
// A failed renewal is retried soon, with a growing wait capped at the period:
// waiting a whole period would let the hub see the lease expire over a single
// lost request.
func (r *statusReporter) leaseLoop(ctx context.Context, override time.Duration) {
	const firstRetry = time.Second
	retry := firstRetry
	for {
		wait := r.period(override)
		if err := r.renewLease(ctx, wait); err != nil && ctx.Err() == nil {
			r.log.Error(err, "could not renew the cluster lease; retrying", "in", retry)
			wait, retry = min(retry, wait), min(2*retry, wait)
		} else {
			retry = firstRetry
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func (r *statusReporter) renewLease(ctx context.Context, period time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, max(period, 10*time.Second))
	defer cancel()
	leases := r.hubKube.CoordinationV1().Leases(r.cluster)
	now := metav1.NewMicroTime(time.Now())
	secs := int32(max(period/time.Second, 1))
	l, err := leases.Get(ctx, registration.LeaseName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = leases.Create(ctx, &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: registration.LeaseName, Namespace: r.cluster, Labels: map[string]string{registration.LabelClusterName: r.cluster}},
			Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To(r.cluster), LeaseDurationSeconds: &secs, RenewTime: &now},
		}, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	l.Spec.RenewTime, l.Spec.LeaseDurationSeconds = &now, &secs
	_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
	return err
}

// syncStatus writes the ManagedCluster status when it differs.
func (r *statusReporter) syncStatus(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cur := r.managedCluster()
	if cur == nil {
		return fmt.Errorf("ManagedCluster %s not found on the hub", r.cluster)
	}
	want := cur.DeepCopy()
	r.desiredStatus(ctx, &want.Status, cur.Generation)
	if apiequality.Semantic.DeepEqual(cur.Status, want.Status) {
		return nil
	}
	_, err := r.hubClusters.ClusterV1().ManagedClusters().UpdateStatus(ctx, want, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) {
		return nil // the informer brings the newer object and a new attempt
	}
	return err
}

// desiredStatus fills in what the agent reports.
func (r *statusReporter) desiredStatus(ctx context.Context, st *clusterv1.ManagedClusterStatus, gen int64) {
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{
		Type: clusterv1.ManagedClusterConditionJoined, Status: metav1.ConditionTrue,
		Reason: ReasonManagedClusterJoined, Message: "Managed cluster joined", ObservedGeneration: gen,
	})
	avail := metav1.Condition{
		Type: clusterv1.ManagedClusterConditionAvailable, Status: metav1.ConditionTrue,
		Reason: ReasonManagedClusterAvailable, Message: "Managed cluster is available", ObservedGeneration: gen,
	}
	body, err := r.managedKube.Discovery().RESTClient().Get().AbsPath("/livez").DoRaw(ctx)
	if err != nil {
		avail.Status, avail.Reason = metav1.ConditionFalse, ReasonKubeAPIServerUnavailable
		avail.Message = fmt.Sprintf("The kube-apiserver of the managed cluster is not healthy: %v %s", err, body)
	}
	meta.SetStatusCondition(&st.Conditions, avail)

	var version string
	if v, err := r.managedKube.Discovery().ServerVersion(); err == nil {
		version = v.GitVersion
		st.Version.Kubernetes = version
	}
	if nodes, err := r.managedKube.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err == nil {
		capacity, allocatable := clusterv1.ResourceList{}, clusterv1.ResourceList{}
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			c, a := resource.Quantity{}, resource.Quantity{}
			for _, n := range nodes.Items {
				c.Add(n.Status.Capacity[name])
				a.Add(n.Status.Allocatable[name])
			}
			capacity[clusterv1.ResourceName(name)], allocatable[clusterv1.ResourceName(name)] = c, a
		}
		st.Capacity, st.Allocatable = capacity, allocatable
	}
	st.ClusterClaims = r.claims(version)
}

// claims reports the cluster's ClusterClaims (at most 20 of them) and the
// Kubernetes version claim.
func (r *statusReporter) claims(version string) []clusterv1.ManagedClusterClaim {
	var out []clusterv1.ManagedClusterClaim
	for _, item := range r.claimInformer.GetIndexer().List() {
		c := item.(*clusterv1alpha1.ClusterClaim)
		if c.Name == ClaimKubeVersion {
			continue
		}
		out = append(out, clusterv1.ManagedClusterClaim{Name: c.Name, Value: c.Spec.Value})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	if len(out) > maxCustomClaims {
		r.log.V(1).Info("too many ClusterClaims; reporting the first ones", "count", len(out), "reported", maxCustomClaims)
		out = out[:maxCustomClaims]
	}
	if version != "" {
		out = append(out, clusterv1.ManagedClusterClaim{Name: ClaimKubeVersion, Value: version})
	}
	return out
}
