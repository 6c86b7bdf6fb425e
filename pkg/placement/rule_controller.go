package placement

import (
	"context"
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

// RuleControllerName is the name the hub knows the PlacementRule controller by.
const RuleControllerName = "placementrule"

// PlacementRule condition: Ready, with these reasons.
const (
	RuleConditionReady  = "Ready"
	ReasonRuleScheduled = "Scheduled"
	ReasonRuleInvalid   = "InvalidSpec"
)

// RuleOptions tune the PlacementRule controller. The zero value is the default.
type RuleOptions struct {
	// Clock tells the time of condition transitions (default: the real clock).
	Clock clock.PassiveClock
	// SkipNameValidation lets several managers in one process register the
	// controller (tests).
	SkipNameValidation bool
}

// SetupRuleWithManager registers the PlacementRule controller with default options.
func SetupRuleWithManager(mgr ctrl.Manager) error { return RuleOptions{}.SetupWithManager(mgr) }

// SetupWithManager registers the PlacementRule controller: it writes the
// decisions of every apps.open-cluster-management.io/v1 PlacementRule whose
// schedulerName is ours (RuleDecisions) into its status, again whenever the
// rule or a ManagedCluster changes.
func (o RuleOptions) SetupWithManager(mgr ctrl.Manager) error {
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	r := &ruleReconciler{c: mgr.GetClient(), clock: o.Clock}
	copts := controller.Options{MaxConcurrentReconciles: 4}
	if o.SkipNameValidation {
		copts.SkipNameValidation = &o.SkipNameValidation
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named(RuleControllerName).
		For(&appsv1.PlacementRule{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&clusterv1.ManagedCluster{}, handler.Funcs{
			CreateFunc: func(ctx context.Context, e event.CreateEvent, q queue) {
				if !e.IsInInitialList {
					r.enqueueAll(ctx, q)
				}
			},
			UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q queue) {
				if ruleInputsChanged(e.ObjectOld.(*clusterv1.ManagedCluster), e.ObjectNew.(*clusterv1.ManagedCluster)) {
					r.enqueueAll(ctx, q)
				}
			},
			DeleteFunc: func(ctx context.Context, _ event.DeleteEvent, q queue) { r.enqueueAll(ctx, q) },
		}).
		WithOptions(copts).
		Complete(r)
}

// ruleInputsChanged reports whether a cluster update touches what
// RuleDecisions reads: labels, acceptance, deletion, conditions, allocatable.
func ruleInputsChanged(old, cur *clusterv1.ManagedCluster) bool {
	return !equality.Semantic.DeepEqual(old.Labels, cur.Labels) ||
		old.Spec.HubAcceptsClient != cur.Spec.HubAcceptsClient ||
		(old.DeletionTimestamp == nil) != (cur.DeletionTimestamp == nil) ||
		!equality.Semantic.DeepEqual(conditionStates(old), conditionStates(cur)) ||
		!equality.Semantic.DeepEqual(old.Status.Allocatable, cur.Status.Allocatable)
}

func conditionStates(mc *clusterv1.ManagedCluster) map[string]metav1.ConditionStatus {
	out := make(map[string]metav1.ConditionStatus, len(mc.Status.Conditions))
	for _, c := range mc.Status.Conditions {
		out[c.Type] = c.Status
	}
	return out
}

type ruleReconciler struct {
	c     client.Client
	clock clock.PassiveClock
}

func (r *ruleReconciler) enqueueAll(ctx context.Context, q queue) {
	var list appsv1.PlacementRuleList
	if err := r.c.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "list PlacementRules")
		return
	}
	for i := range list.Items {
		q.Add(reconcile.Request{NamespacedName: types.NamespacedName{Namespace: list.Items[i].Namespace, Name: list.Items[i].Name}})
	}
}

// Reconcile chooses one PlacementRule's clusters and patches its status when
// it changed. An invalid spec keeps the decisions and says why in Ready.
func (r *ruleReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var rule appsv1.PlacementRule
	if err := r.c.Get(ctx, req.NamespacedName, &rule); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if rule.DeletionTimestamp != nil || !IsOurRule(&rule) {
		return ctrl.Result{}, nil
	}
	var clusters clusterv1.ManagedClusterList
	if err := r.c.List(ctx, &clusters, client.UnsafeDisableDeepCopy); err != nil {
		return ctrl.Result{}, fmt.Errorf("list ManagedClusters: %w", err)
	}
	ptrs := make([]*clusterv1.ManagedCluster, len(clusters.Items))
	for i := range clusters.Items {
		ptrs[i] = &clusters.Items[i]
	}
	st := *rule.Status.DeepCopy()
	cond := metav1.Condition{Type: RuleConditionReady, ObservedGeneration: rule.Generation,
		LastTransitionTime: metav1.NewTime(r.clock.Now().Truncate(1e9))}
	decisions, err := RuleDecisions(&rule, ptrs)
	if err != nil {
		cond.Status, cond.Reason = metav1.ConditionFalse, ReasonRuleInvalid
		cond.Message = fmt.Sprintf("PlacementRule %s/%s: %v; fix the spec (the %d clusters decided before are kept)", rule.Namespace, rule.Name, err, len(st.Decisions))
	} else {
		st.Decisions = decisions
		cond.Status, cond.Reason = metav1.ConditionTrue, ReasonRuleScheduled
		cond.Message = fmt.Sprintf("%d clusters chosen", len(decisions))
	}
	meta.SetStatusCondition(&st.Conditions, cond)
	if equality.Semantic.DeepEqual(st, rule.Status) {
		return ctrl.Result{}, nil
	}
	decided := st.Decisions
	if decided == nil {
		decided = []appsv1.PlacementRuleDecision{} // a merge patch must clear them
	}
	patch, err := json.Marshal(map[string]any{"status": map[string]any{"decisions": decided, "conditions": st.Conditions}})
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := r.c.Status().Patch(ctx, &rule, client.RawPatch(types.MergePatchType, patch)); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("write status of PlacementRule %s/%s: %w", rule.Namespace, rule.Name, err)
	}
	return ctrl.Result{}, nil
}
