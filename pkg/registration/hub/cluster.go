package hub

import (
	"context"
	"fmt"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	clusterv1 "open-cluster-management.io/api/cluster/v1"
	workv1 "open-cluster-management.io/api/work/v1"

	"github.com/ocm-gitops/ocm-gitops/pkg/registration"
)

// Condition reasons, as OCM's registration controller sets them.
const (
	ReasonHubClusterAdminAccepted = "HubClusterAdminAccepted"
	ReasonHubClusterAdminDenied   = "HubClusterAdminDenied"
	ReasonLeaseUpdateStopped      = "ManagedClusterLeaseUpdateStopped"
	// ReasonClusterNameRefused: the cluster's name is reserved or its
	// namespace is not the cluster's (ours; OCM has no such check).
	ReasonClusterNameRefused = "ClusterNameRefused"
	defaultLeaseDuration     = 60 * time.Second
	clusterRolePrefix        = "ocm-gitops:managedcluster:"
)

// clusterReconciler sets up accepted clusters and watches their leases.
type clusterReconciler struct {
	client client.Client
	// reader reads RBAC objects and namespaces from the API server: caching
	// every Role and Namespace of the hub for a handful of reads is waste.
	reader client.Reader
	grace  int
	// granted remembers when each cluster's access was last checked: a
	// lease renewal (every cluster, every lease period) then costs no reads
	// of RBAC objects. Access is checked again after grantRecheck, so a
	// binding someone deleted comes back.
	granted grantMemo
}

// grantRecheck is how often an accepted cluster's namespace and RBAC are
// read back and repaired when nothing about the cluster changed.
const grantRecheck = 30 * time.Minute

// grantMemo records, per cluster UID, when its access was last set up.
type grantMemo struct {
	mu sync.Mutex
	at map[types.UID]time.Time
}

// due says whether the cluster's access should be checked now.
func (g *grantMemo) due(uid types.UID, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	at, ok := g.at[uid]
	return !ok || now.Sub(at) >= grantRecheck
}

func (g *grantMemo) done(uid types.UID, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.at == nil {
		g.at = map[types.UID]time.Time{}
	}
	g.at[uid] = now
}

func (g *grantMemo) forget(uid types.UID) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.at, uid)
}

func (r *clusterReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	mc := &clusterv1.ManagedCluster{}
	if err := r.client.Get(ctx, req.NamespacedName, mc); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if mc.DeletionTimestamp != nil {
		if !controllerutil.ContainsFinalizer(mc, clusterv1.ManagedClusterFinalizer) {
			return ctrl.Result{}, nil
		}
		r.granted.forget(mc.UID)
		if err := r.revoke(ctx, mc.Name); err != nil {
			return ctrl.Result{}, err
		}
		patch := client.MergeFrom(mc.DeepCopy())
		controllerutil.RemoveFinalizer(mc, clusterv1.ManagedClusterFinalizer)
		return ctrl.Result{}, client.IgnoreNotFound(r.client.Patch(ctx, mc, patch))
	}
	if !controllerutil.ContainsFinalizer(mc, clusterv1.ManagedClusterFinalizer) {
		patch := client.MergeFrom(mc.DeepCopy())
		controllerutil.AddFinalizer(mc, clusterv1.ManagedClusterFinalizer)
		if err := r.client.Patch(ctx, mc, patch); err != nil {
			return ctrl.Result{}, err
		}
	}

	orig := mc.DeepCopy()
	var requeue time.Duration
	refused := ""
	if mc.Spec.HubAcceptsClient {
		var err error
		if refused, err = r.setUp(ctx, mc); err != nil {
			return ctrl.Result{}, err
		}
	}
	switch {
	case mc.Spec.HubAcceptsClient && refused == "":
		meta.SetStatusCondition(&mc.Status.Conditions, metav1.Condition{
			Type: clusterv1.ManagedClusterConditionHubAccepted, Status: metav1.ConditionTrue,
			Reason: ReasonHubClusterAdminAccepted, Message: "Accepted by hub cluster admin",
		})
		var err error
		if requeue, err = r.checkLease(ctx, mc); err != nil {
			return ctrl.Result{}, err
		}
	default:
		// Not accepted (or no longer, or under a name it may not have): the
		// cluster's identity loses access. Its namespace and works stay;
		// nothing running is removed.
		r.granted.forget(mc.UID)
		if err := r.revoke(ctx, mc.Name); err != nil {
			return ctrl.Result{}, err
		}
		cond := metav1.Condition{
			Type: clusterv1.ManagedClusterConditionHubAccepted, Status: metav1.ConditionFalse,
			Reason: ReasonHubClusterAdminDenied, Message: "Denied by hub cluster admin",
		}
		if refused != "" {
			cond.Reason, cond.Message = ReasonClusterNameRefused, refused
		}
		meta.SetStatusCondition(&mc.Status.Conditions, cond)
	}
	if !equalConditions(orig.Status.Conditions, mc.Status.Conditions) {
		patch := client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})
		if err := r.client.Status().Patch(ctx, mc, patch); err != nil {
			if apierrors.IsConflict(err) {
				return ctrl.Result{Requeue: true}, nil
			}
			return ctrl.Result{}, fmt.Errorf("update status of ManagedCluster %s: %w", mc.Name, err)
		}
	}
	return ctrl.Result{RequeueAfter: requeue}, nil
}

// setUp gives an accepted cluster its namespace and access when they are
// due for a check, unless its name is refused, which it returns.
func (r *clusterReconciler) setUp(ctx context.Context, mc *clusterv1.ManagedCluster) (string, error) {
	now := time.Now()
	if !r.granted.due(mc.UID, now) {
		return "", nil
	}
	refused, err := nameRefusal(ctx, r.reader, mc.Name)
	if err != nil || refused != "" {
		return refused, err
	}
	if err := r.grant(ctx, mc); err != nil {
		return "", err
	}
	r.granted.done(mc.UID, now)
	return "", nil
}

// checkLease marks the cluster unknown once its agent stopped renewing the
// lease for the grace period; it returns when to look again.
func (r *clusterReconciler) checkLease(ctx context.Context, mc *clusterv1.ManagedCluster) (time.Duration, error) {
	duration := defaultLeaseDuration
	if mc.Spec.LeaseDurationSeconds > 0 {
		duration = time.Duration(mc.Spec.LeaseDurationSeconds) * time.Second
	}
	grace := time.Duration(r.grace) * duration
	lease := &coordinationv1.Lease{}
	err := r.client.Get(ctx, types.NamespacedName{Namespace: mc.Name, Name: registration.LeaseName}, lease)
	if err != nil && !apierrors.IsNotFound(err) {
		return 0, err
	}
	var renewed time.Time
	if err == nil && lease.Spec.RenewTime != nil {
		renewed = lease.Spec.RenewTime.Time
	}
	unknown, recheck := leaseVerdict(mc.Status.Conditions, renewed, time.Now(), grace)
	if unknown {
		meta.SetStatusCondition(&mc.Status.Conditions, metav1.Condition{
			Type: clusterv1.ManagedClusterConditionAvailable, Status: metav1.ConditionUnknown,
			Reason: ReasonLeaseUpdateStopped, Message: "Registration agent stopped updating its lease.",
		})
	}
	return recheck, nil
}

// leaseVerdict says whether a cluster's availability is unknown because its
// agent stopped renewing the lease, and when to look again. renewed is the
// lease's last renewal (zero when there is no lease). An agent that has just
// joined gets the grace period, counted from joining, to create its lease; a
// cluster that never joined has nothing to say yet.
func leaseVerdict(conds []metav1.Condition, renewed, now time.Time, grace time.Duration) (unknown bool, recheck time.Duration) {
	last := renewed
	if last.IsZero() {
		joined := meta.FindStatusCondition(conds, clusterv1.ManagedClusterConditionJoined)
		switch {
		case joined != nil && joined.Status == metav1.ConditionTrue:
			last = joined.LastTransitionTime.Time
		case meta.FindStatusCondition(conds, clusterv1.ManagedClusterConditionAvailable) == nil:
			return false, grace
		}
	}
	if last.IsZero() || now.Sub(last) > grace {
		return true, grace
	}
	return false, grace - now.Sub(last) + time.Second
}

// grant creates the cluster's namespace and gives its identity access to its
// own ManagedCluster (a per-cluster ClusterRole limited to its name: read
// it, write its status, never its labels or spec) and, in its namespace
// only, to ManifestWorks, its Lease and Events (a RoleBinding to the shared
// work ClusterRole of StaticRBAC).
func (r *clusterReconciler) grant(ctx context.Context, mc *clusterv1.ManagedCluster) error {
	name := mc.Name
	group := rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: registration.ClusterGroup(name)}
	owner := metav1.OwnerReference{APIVersion: clusterv1.GroupVersion.String(), Kind: "ManagedCluster", Name: name, UID: mc.UID}
	objs := []client.Object{
		registration.ClusterNamespace(name),
		&rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: clusterRolePrefix + name, OwnerReferences: []metav1.OwnerReference{owner}},
			Rules:      ClusterRules(name),
		},
		&rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: clusterRolePrefix + name, OwnerReferences: []metav1.OwnerReference{owner}},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRolePrefix + name},
			Subjects:   []rbacv1.Subject{group},
		},
		&rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: WorkClusterRole, Namespace: name, OwnerReferences: []metav1.OwnerReference{owner}},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: WorkClusterRole},
			Subjects:   []rbacv1.Subject{group},
		},
	}
	for _, o := range objs {
		if err := apply(ctx, r.client, r.reader, o); err != nil {
			return fmt.Errorf("set up access for cluster %s: %w", name, err)
		}
	}
	return nil
}

// ClusterRules are what a cluster's identity may do with its own
// ManagedCluster: read it and write its status. OCM's agent may also update
// the ManagedCluster itself, labels included, which would let a cluster move
// itself into any ManagedClusterSet or match any Placement's selector; ours
// never writes more than the status.
func ClusterRules(name string) []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{clusterv1.GroupName}, Resources: []string{"managedclusters"}, ResourceNames: []string{name}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{clusterv1.GroupName}, Resources: []string{"managedclusters/status"}, ResourceNames: []string{name}, Verbs: []string{"update", "patch"}},
	}
}

// revoke removes the cluster identity's access (not its namespace).
func (r *clusterReconciler) revoke(ctx context.Context, name string) error {
	for _, o := range []client.Object{
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: clusterRolePrefix + name}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: clusterRolePrefix + name}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: WorkClusterRole, Namespace: name}},
	} {
		if err := r.client.Delete(ctx, o); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("revoke access of cluster %s: %w", name, err)
		}
	}
	return nil
}

// Names of the ClusterRoles and ClusterRoleBindings of StaticRBAC.
const (
	// WorkClusterRole is what a cluster's identity may do in its own
	// namespace, through a RoleBinding there. The shared names differ from
	// the per-cluster ones (clusterRolePrefix + a cluster name, which holds
	// no ":"), so no cluster name can take a shared role over.
	WorkClusterRole = "ocm-gitops:managedcluster-work"
	// CommonClusterRole lets every cluster identity request certificates
	// (renewals).
	CommonClusterRole = "ocm-gitops:managedcluster-common"
	// BootstrapClusterRole lets bootstrap identities join.
	BootstrapClusterRole = "ocm-gitops:bootstrap"
)

// StaticRBAC returns the ClusterRoles and ClusterRoleBindings that are the
// same for every cluster: the work role bound in each cluster namespace, the
// role every cluster identity holds, and the bootstrap role with its
// subjects (the bootstrap groups and the auto-approved users). The
// registration controller creates them when they are missing and corrects
// them when they differ. Installed ahead with exactly these rules (as
// deploy/hub does), they leave the controller needing only to read them and
// to bind them (RBAC "bind" on these names), not the right to grant
// permissions it does not hold itself ("escalate").
func StaticRBAC(bootstrapGroups, autoApproveUsers []string) []client.Object {
	var subjects []rbacv1.Subject
	for _, g := range bootstrapGroups {
		subjects = append(subjects, rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: g})
	}
	for _, u := range autoApproveUsers {
		subjects = append(subjects, rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: u})
	}
	return []client.Object{
		&rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: WorkClusterRole},
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{workv1.GroupName}, Resources: []string{"manifestworks"}, Verbs: []string{"get", "list", "watch", "update", "patch"}},
				{APIGroups: []string{workv1.GroupName}, Resources: []string{"manifestworks/status"}, Verbs: []string{"get", "update", "patch"}},
				{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch"}},
				{APIGroups: []string{"", "events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "update", "patch"}},
			},
		},
		&rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: CommonClusterRole},
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"certificatesigningrequests"}, Verbs: []string{"create", "get", "list", "watch"}},
			},
		},
		&rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: CommonClusterRole},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: CommonClusterRole},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: registration.GroupManagedClusters}},
		},
		&rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: BootstrapClusterRole},
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{clusterv1.GroupName}, Resources: []string{"managedclusters"}, Verbs: []string{"get", "create"}},
				{APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"certificatesigningrequests"}, Verbs: []string{"create", "get", "list", "watch"}},
			},
		},
		&rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: BootstrapClusterRole},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: BootstrapClusterRole},
			Subjects:   subjects,
		},
	}
}

// ensureStaticRBAC creates or corrects the objects of StaticRBAC.
func ensureStaticRBAC(ctx context.Context, c client.Client, reader client.Reader, groups, users []string) error {
	for _, o := range StaticRBAC(groups, users) {
		if err := apply(ctx, c, reader, o); err != nil {
			return err
		}
	}
	return nil
}

// apply creates o or updates it to the desired rules, subjects and labels.
func apply(ctx context.Context, c client.Client, reader client.Reader, o client.Object) error {
	cur := o.DeepCopyObject().(client.Object)
	err := reader.Get(ctx, client.ObjectKeyFromObject(o), cur)
	if apierrors.IsNotFound(err) {
		return c.Create(ctx, o)
	}
	if err != nil {
		return err
	}
	changed := false
	switch want := o.(type) {
	case *rbacv1.ClusterRole:
		have := cur.(*rbacv1.ClusterRole)
		if !equalRules(have.Rules, want.Rules) {
			have.Rules, changed = want.Rules, true
		}
	case *rbacv1.Role:
		have := cur.(*rbacv1.Role)
		if !equalRules(have.Rules, want.Rules) {
			have.Rules, changed = want.Rules, true
		}
	case *rbacv1.ClusterRoleBinding:
		have := cur.(*rbacv1.ClusterRoleBinding)
		if fmt.Sprint(have.Subjects) != fmt.Sprint(want.Subjects) {
			have.Subjects, changed = want.Subjects, true
		}
	case *rbacv1.RoleBinding:
		have := cur.(*rbacv1.RoleBinding)
		if fmt.Sprint(have.Subjects) != fmt.Sprint(want.Subjects) {
			have.Subjects, changed = want.Subjects, true
		}
	}
	if !changed {
		return nil
	}
	return c.Update(ctx, cur)
}

func equalRules(a, b []rbacv1.PolicyRule) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

func equalConditions(a, b []metav1.Condition) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Type != y.Type || x.Status != y.Status || x.Reason != y.Reason || x.Message != y.Message {
			return false
		}
	}
	return true
}
