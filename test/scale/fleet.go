package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/apis/scheme"
	"github.com/ocm-gitops/ocm-gitops/pkg/lab"
	"github.com/ocm-gitops/ocm-gitops/pkg/registration"
)

// Names of the objects the harness creates.
const (
	fleetNamespace = "fleet"
	clusterSetName = "scale"
	channelName    = "scale"
)

// fleetSpec is the shape of a simulated fleet.
type fleetSpec struct {
	Clusters      int
	Subscriptions int
	// Objects per Subscription, each a ConfigMap of about ObjectSize bytes.
	Objects    int
	ObjectSize int
	// Selector uses spec.placement.clusterSelector instead of a Placement
	// per Subscription.
	Selector bool
}

func (s fleetSpec) works() int { return s.Clusters * s.Subscriptions }

func clusterName(i int) string { return fmt.Sprintf("cluster-%05d", i) }
func appName(i int) string     { return fmt.Sprintf("app-%03d", i) }

// fleet is a hub with simulated clusters and a Git repository of apps.
type fleet struct {
	spec   fleetSpec
	cfg    *rest.Config
	c      client.Client
	git    *lab.GitServer
	url    string
	clone  string
	change int
}

// newFleet creates the clusters (namespace, accepted ManagedCluster reported
// available, in one ManagedClusterSet bound to the fleet namespace) and the
// Git repository; the Subscriptions come later, with deploy.
func newFleet(ctx context.Context, cfg *rest.Config, spec fleetSpec, dir string) (*fleet, error) {
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return nil, err
	}
	f := &fleet{spec: spec, cfg: cfg, c: c}
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fleetNamespace}},
		&clusterv1beta2.ManagedClusterSet{ObjectMeta: metav1.ObjectMeta{Name: clusterSetName}},
		&clusterv1beta2.ManagedClusterSetBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: fleetNamespace, Name: clusterSetName},
			Spec:       clusterv1beta2.ManagedClusterSetBindingSpec{ClusterSet: clusterSetName},
		},
	} {
		if err := c.Create(ctx, o); err != nil {
			return nil, fmt.Errorf("create %T %s: %w", o, o.GetName(), err)
		}
	}
	if err := parallel(ctx, spec.Clusters, 64, func(ctx context.Context, i int) error {
		return f.createCluster(ctx, clusterName(i), i)
	}); err != nil {
		return nil, err
	}
	if err := f.createRepo(ctx, dir); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *fleet) createCluster(ctx context.Context, name string, i int) error {
	if err := f.c.Create(ctx, registration.ClusterNamespace(name)); err != nil {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	mc := &clusterv1.ManagedCluster{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			clusterv1beta2.ClusterSetLabel: clusterSetName,
			"region":                       []string{"east", "west", "north", "south"}[i%4],
			"env":                          []string{"dev", "prod"}[i%2],
		}},
		Spec: clusterv1.ManagedClusterSpec{HubAcceptsClient: true, LeaseDurationSeconds: 60},
	}
	if err := f.c.Create(ctx, mc); err != nil {
		return fmt.Errorf("create ManagedCluster %s: %w", name, err)
	}
	now := metav1.Now()
	mc.Status.Conditions = []metav1.Condition{
		{Type: clusterv1.ManagedClusterConditionHubAccepted, Status: metav1.ConditionTrue, Reason: "HubClusterAdminAccepted", Message: "Accepted by hub cluster admin", LastTransitionTime: now},
		{Type: clusterv1.ManagedClusterConditionJoined, Status: metav1.ConditionTrue, Reason: "ManagedClusterJoined", Message: "Managed cluster joined", LastTransitionTime: now},
		{Type: clusterv1.ManagedClusterConditionAvailable, Status: metav1.ConditionTrue, Reason: "ManagedClusterAvailable", Message: "Managed cluster is available", LastTransitionTime: now},
	}
	mc.Status.Version.Kubernetes = "v1.37.2"
	if err := f.c.Status().Update(ctx, mc); err != nil {
		return fmt.Errorf("report ManagedCluster %s available: %w", name, err)
	}
	renew := metav1.NewMicroTime(time.Now())
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: name, Name: registration.LeaseName, Labels: map[string]string{registration.LabelClusterName: name}},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &name, LeaseDurationSeconds: ptr.To(int32(leaseSeconds)), RenewTime: &renew},
	}
	if err := f.c.Create(ctx, lease); err != nil {
		return fmt.Errorf("create the Lease of %s: %w", name, err)
	}
	return nil
}

// leaseSeconds is the simulated clusters' lease duration (OCM's default).
const leaseSeconds = 60

// renewLeases renews every cluster's Lease once per period, spread evenly
// over the period, as the clusters' registration agents do, until ctx ends.
func (f *fleet) renewLeases(ctx context.Context, period time.Duration) {
	if period <= 0 {
		return
	}
	step := period / time.Duration(f.spec.Clusters)
	t := time.NewTicker(step)
	defer t.Stop()
	inflight := make(chan struct{}, 64)
	for i := 0; ; i = (i + 1) % f.spec.Clusters {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		select {
		case inflight <- struct{}{}:
		case <-ctx.Done():
			return
		}
		go func() {
			defer func() { <-inflight }()
			patch := fmt.Sprintf(`{"spec":{"renewTime":%q}}`, time.Now().UTC().Format("2006-01-02T15:04:05.000000Z07:00"))
			lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: clusterName(i), Name: registration.LeaseName}}
			_ = f.c.Patch(ctx, lease, client.RawPatch(types.MergePatchType, []byte(patch)))
		}()
	}
}

// createRepo serves a repository with one folder per Subscription, each of
// spec.Objects ConfigMaps.
func (f *fleet) createRepo(ctx context.Context, dir string) error {
	var err error
	f.git, err = lab.StartGitServer(filepath.Join(dir, "git"), "", nil)
	if err != nil {
		return err
	}
	seed := filepath.Join(dir, "seed")
	if err := f.writeApps(seed); err != nil {
		return err
	}
	if f.url, err = f.git.CreateRepo(ctx, "fleet.git", seed); err != nil {
		return err
	}
	f.clone = filepath.Join(dir, "clone")
	return lab.Git(ctx, "", "clone", "--quiet", f.url, f.clone)
}

// writeApps writes every app folder for the current change number.
func (f *fleet) writeApps(root string) error {
	for s := range f.spec.Subscriptions {
		d := filepath.Join(root, "apps", appName(s))
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		for o := range f.spec.Objects {
			name := fmt.Sprintf("config-%02d", o)
			if err := os.WriteFile(filepath.Join(d, name+".yaml"), []byte(configMapYAML(name, f.change, f.spec.ObjectSize)), 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

// configMapYAML is a ConfigMap of about size bytes once encoded.
func configMapYAML(name string, change, size int) string {
	head := fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: apps\n  labels:\n    app.kubernetes.io/part-of: scale\ndata:\n  change: %q\n  payload: ", name, fmt.Sprint(change))
	pad := max(size-len(head)-4, 1)
	return head + `"` + strings.Repeat(string(rune('a'+change%26)), pad) + "\"\n"
}

// deploy creates the Channel, one Placement per Subscription (selecting every
// cluster of the set) and the Subscriptions.
func (f *fleet) deploy(ctx context.Context) error {
	ch := &appsv1.Channel{ObjectMeta: metav1.ObjectMeta{Namespace: fleetNamespace, Name: channelName},
		Spec: appsv1.ChannelSpec{Type: "Git", Pathname: f.url}}
	if err := f.c.Create(ctx, ch); err != nil {
		return fmt.Errorf("create Channel: %w", err)
	}
	return parallel(ctx, f.spec.Subscriptions, 16, func(ctx context.Context, i int) error {
		name := appName(i)
		placement := &appsv1.Placement{}
		if f.spec.Selector {
			placement.ClusterSelector = &metav1.LabelSelector{MatchLabels: map[string]string{clusterv1beta2.ClusterSetLabel: clusterSetName}}
		} else {
			p := &clusterv1beta1.Placement{ObjectMeta: metav1.ObjectMeta{Namespace: fleetNamespace, Name: name},
				Spec: clusterv1beta1.PlacementSpec{ClusterSets: []string{clusterSetName}}}
			if err := f.c.Create(ctx, p); err != nil {
				return fmt.Errorf("create Placement %s: %w", name, err)
			}
			placement.PlacementRef = &corev1.ObjectReference{Name: name, Kind: "Placement"}
		}
		sub := &appsv1.Subscription{
			ObjectMeta: metav1.ObjectMeta{Namespace: fleetNamespace, Name: name, Annotations: map[string]string{
				appsv1.AnnotationGitPath: "apps/" + name, appsv1.AnnotationGitBranch: "main",
			}},
			Spec: appsv1.SubscriptionSpec{Channel: fleetNamespace + "/" + channelName, Placement: placement},
		}
		if err := f.c.Create(ctx, sub); err != nil {
			return fmt.Errorf("create Subscription %s: %w", name, err)
		}
		return nil
	})
}

// commit changes every object of every app and pushes; it returns the
// revision the hub will report.
func (f *fleet) commit(ctx context.Context) (string, error) {
	f.change++
	if err := f.writeApps(f.clone); err != nil {
		return "", err
	}
	for _, args := range [][]string{{"add", "--all"}, {"commit", "--quiet", "-m", fmt.Sprintf("change %d", f.change)}, {"push", "--quiet", "origin", "main"}} {
		if err := lab.Git(ctx, f.clone, args...); err != nil {
			return "", err
		}
	}
	return f.head(ctx)
}

// head is the revision of the clone's HEAD as the hub names it.
func (f *fleet) head(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "git", "-C", f.clone, "rev-parse", "HEAD").Output()
	if err != nil {
		return "", fmt.Errorf("git rev-parse HEAD: %w", err)
	}
	return "main@sha1:" + strings.TrimSpace(string(out)), nil
}

// requestReconcile asks the hub to fetch the Channel now, as a push webhook does.
func (f *fleet) requestReconcile(ctx context.Context) error {
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, appsv1.AnnotationReconcileRequestedAt, time.Now().UTC().Format(time.RFC3339Nano))
	ch := &appsv1.Channel{ObjectMeta: metav1.ObjectMeta{Namespace: fleetNamespace, Name: channelName}}
	return f.c.Patch(ctx, ch, client.RawPatch(types.MergePatchType, []byte(patch)))
}

// watcher follows the Subscriptions and PlacementDecisions of the fleet.
type watcher struct {
	cache cache.Cache
	spec  fleetSpec
}

func newWatcher(ctx context.Context, cfg *rest.Config, spec fleetSpec) (*watcher, error) {
	c, err := cache.New(cfg, cache.Options{Scheme: scheme.New(), DefaultNamespaces: map[string]cache.Config{fleetNamespace: {}}})
	if err != nil {
		return nil, err
	}
	for _, o := range []client.Object{&appsv1.Subscription{}, &clusterv1beta1.PlacementDecision{}, &clusterv1.ManagedCluster{}} {
		if _, err := c.GetInformer(ctx, o); err != nil {
			return nil, err
		}
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		return nil, fmt.Errorf("watcher cache did not sync")
	}
	return &watcher{cache: c, spec: spec}, nil
}

// registered reports whether the hub took every cluster in: its finalizer on
// the ManagedCluster, which the registration controller adds first, and the
// cluster available.
func (w *watcher) registered(ctx context.Context) (bool, string) {
	var list clusterv1.ManagedClusterList
	if err := w.cache.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return false, err.Error()
	}
	n := 0
	for i := range list.Items {
		mc := &list.Items[i]
		if slices.Contains(mc.Finalizers, clusterv1.ManagedClusterFinalizer) &&
			meta.IsStatusConditionTrue(mc.Status.Conditions, clusterv1.ManagedClusterConditionAvailable) {
			n++
		}
	}
	return n == w.spec.Clusters, fmt.Sprintf("%d of %d clusters registered", n, w.spec.Clusters)
}

// placed reports whether every Placement's decisions name every cluster.
func (w *watcher) placed(ctx context.Context) (bool, string) {
	if w.spec.Selector {
		return true, ""
	}
	var list clusterv1beta1.PlacementDecisionList
	if err := w.cache.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return false, err.Error()
	}
	per := map[string]int{}
	for i := range list.Items {
		per[list.Items[i].Labels[clusterv1beta1.PlacementLabel]] += len(list.Items[i].Status.Decisions)
	}
	for s := range w.spec.Subscriptions {
		if n := per[appName(s)]; n != w.spec.Clusters {
			return false, fmt.Sprintf("placement %s decided %d of %d clusters", appName(s), n, w.spec.Clusters)
		}
	}
	return true, ""
}

// converged reports whether every Subscription reports the revision applied
// on every cluster and is Ready.
func (w *watcher) converged(ctx context.Context, revision string) (bool, string) {
	var list appsv1.SubscriptionList
	if err := w.cache.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return false, err.Error()
	}
	if len(list.Items) != w.spec.Subscriptions {
		return false, fmt.Sprintf("%d of %d Subscriptions", len(list.Items), w.spec.Subscriptions)
	}
	for i := range list.Items {
		s := &list.Items[i]
		sum := s.Status.Summary
		if s.Status.LastAppliedRevision != revision || int(sum.Selected) != w.spec.Clusters || int(sum.Applied) != w.spec.Clusters ||
			!meta.IsStatusConditionTrue(s.Status.Conditions, appsv1.ConditionReady) {
			return false, fmt.Sprintf("Subscription %s: revision %q, summary %+v", s.Name, s.Status.LastAppliedRevision, sum)
		}
	}
	return true, ""
}

// until polls check every 50 ms until it passes, returning when it first did.
func until(ctx context.Context, timeout time.Duration, what string, check func() (bool, string)) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		ok, why := check()
		if ok {
			return time.Now(), nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("%s: not reached within %s: %s", what, timeout, why)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// parallel runs f for 0..n-1 with at most width at once and returns the
// first error.
func parallel(ctx context.Context, n, width int, f func(ctx context.Context, i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range min(width, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := f(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}
