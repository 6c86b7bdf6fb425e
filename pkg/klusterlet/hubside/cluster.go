package hubside

import (
	"context"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
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

	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet/registration"
)

// Condition reasons, as OCM's registration controller sets them.
const (
	ReasonHubClusterAdminAccepted = "HubClusterAdminAccepted"
	ReasonHubClusterAdminDenied   = "HubClusterAdminDenied"
	ReasonLeaseUpdateStopped      = "ManagedClusterLeaseUpdateStopped"
	defaultLeaseDuration          = 60 * time.Second
	clusterRolePrefix             = "ocm-gitops:managedcluster:"
	workRoleName                  = "ocm-gitops:managedcluster:work"
	commonClusterRole             = "ocm-gitops:managedcluster:common"
	bootstrapClusterRole          = "ocm-gitops:bootstrap"
)

// clusterReconciler sets up accepted clusters and watches their leases.
type clusterReconciler struct {
	client client.Client
	// reader reads RBAC objects and namespaces from the API server: caching
	// every Role and Namespace of the hub for a handful of reads is waste.
	reader client.Reader
	grace  int
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
	if mc.Spec.HubAcceptsClient {
		if err := r.grant(ctx, mc); err != nil {
			return ctrl.Result{}, err
		}
		meta.SetStatusCondition(&mc.Status.Conditions, metav1.Condition{
			Type: clusterv1.ManagedClusterConditionHubAccepted, Status: metav1.ConditionTrue,
			Reason: ReasonHubClusterAdminAccepted, Message: "Accepted by hub cluster admin",
		})
		var err error
		if requeue, err = r.checkLease(ctx, mc); err != nil {
			return ctrl.Result{}, err
		}
	} else {
		// Not accepted (or no longer): the cluster's identity loses access.
		// Its namespace and works stay; nothing running is removed.
		if err := r.revoke(ctx, mc.Name); err != nil {
			return ctrl.Result{}, err
		}
		meta.SetStatusCondition(&mc.Status.Conditions, metav1.Condition{
			Type: clusterv1.ManagedClusterConditionHubAccepted, Status: metav1.ConditionFalse,
			Reason: ReasonHubClusterAdminDenied, Message: "Denied by hub cluster admin",
		})
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
	var last time.Time
	if err == nil && lease.Spec.RenewTime != nil {
		last = lease.Spec.RenewTime.Time
	}
	if cur := meta.FindStatusCondition(mc.Status.Conditions, clusterv1.ManagedClusterConditionAvailable); last.IsZero() && cur == nil {
		return grace, nil // never joined: nothing to say yet
	}
	if stale := time.Since(last); last.IsZero() || stale > grace {
		meta.SetStatusCondition(&mc.Status.Conditions, metav1.Condition{
			Type: clusterv1.ManagedClusterConditionAvailable, Status: metav1.ConditionUnknown,
			Reason: ReasonLeaseUpdateStopped, Message: "Registration agent stopped updating its lease.",
		})
		return grace, nil
	}
	return grace - time.Since(last) + time.Second, nil
}

// grant creates the cluster's namespace and gives its identity access to its
// own ManagedCluster, Lease, ManifestWorks and Events only.
func (r *clusterReconciler) grant(ctx context.Context, mc *clusterv1.ManagedCluster) error {
	name := mc.Name
	group := rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: registration.ClusterGroup(name)}
	owner := metav1.OwnerReference{APIVersion: clusterv1.GroupVersion.String(), Kind: "ManagedCluster", Name: name, UID: mc.UID}
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{registration.LabelClusterName: name}}},
		&rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: clusterRolePrefix + name, OwnerReferences: []metav1.OwnerReference{owner}},
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{clusterv1.GroupName}, Resources: []string{"managedclusters"}, ResourceNames: []string{name}, Verbs: []string{"get", "list", "watch", "update", "patch"}},
				{APIGroups: []string{clusterv1.GroupName}, Resources: []string{"managedclusters/status"}, ResourceNames: []string{name}, Verbs: []string{"get", "update", "patch"}},
			},
		},
		&rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: clusterRolePrefix + name, OwnerReferences: []metav1.OwnerReference{owner}},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRolePrefix + name},
			Subjects:   []rbacv1.Subject{group},
		},
		&rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: commonClusterRole},
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"certificatesigningrequests"}, Verbs: []string{"create", "get", "list", "watch"}},
			},
		},
		&rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: commonClusterRole},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: commonClusterRole},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: registration.GroupManagedClusters}},
		},
		&rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: workRoleName, Namespace: name, OwnerReferences: []metav1.OwnerReference{owner}},
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{workv1.GroupName}, Resources: []string{"manifestworks"}, Verbs: []string{"get", "list", "watch", "update", "patch"}},
				{APIGroups: []string{workv1.GroupName}, Resources: []string{"manifestworks/status"}, Verbs: []string{"get", "update", "patch"}},
				{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch"}},
				{APIGroups: []string{"", "events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "update", "patch"}},
			},
		},
		&rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: workRoleName, Namespace: name, OwnerReferences: []metav1.OwnerReference{owner}},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: workRoleName},
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

// revoke removes the cluster identity's access (not its namespace).
func (r *clusterReconciler) revoke(ctx context.Context, name string) error {
	for _, o := range []client.Object{
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: clusterRolePrefix + name}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: clusterRolePrefix + name}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: workRoleName, Namespace: name}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: workRoleName, Namespace: name}},
	} {
		if err := r.client.Delete(ctx, o); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("revoke access of cluster %s: %w", name, err)
		}
	}
	return nil
}

// ensureBootstrapRBAC lets bootstrap identities create ManagedClusters and
// certificate requests, and read back their own requests.
func ensureBootstrapRBAC(ctx context.Context, c client.Client, reader client.Reader, groups, users []string) error {
	var subjects []rbacv1.Subject
	for _, g := range groups {
		subjects = append(subjects, rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: g})
	}
	for _, u := range users {
		subjects = append(subjects, rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: u})
	}
	objs := []client.Object{
		&rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: bootstrapClusterRole},
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{clusterv1.GroupName}, Resources: []string{"managedclusters"}, Verbs: []string{"get", "create"}},
				{APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"certificatesigningrequests"}, Verbs: []string{"create", "get", "list", "watch"}},
			},
		},
		&rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: bootstrapClusterRole},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: bootstrapClusterRole},
			Subjects:   subjects,
		},
	}
	for _, o := range objs {
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
