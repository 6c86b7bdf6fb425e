package hub

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	ctrlsource "sigs.k8s.io/controller-runtime/pkg/source"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/patch"
	"github.com/ocm-gitops/ocm-gitops/pkg/source"
)

// ChannelReconciler validates Channels and reports, in their status, what the
// source layer fetched for the Subscriptions using them. It is the only writer
// of Channel status.
type ChannelReconciler struct {
	Client client.Client
	Store  *source.Store
}

// Reconcile updates one Channel's status; one deferred patch writes it.
func (r *ChannelReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	ch := &appsv1.Channel{}
	if err := r.Client.Get(ctx, req.NamespacedName, ch); err != nil {
		if apierrors.IsNotFound(err) {
			r.Store.Forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	patcher := patch.NewHelper(ch, r.Client)
	defer func() {
		if err := patcher.Patch(ctx, ch); err != nil {
			retErr = errors.Join(retErr, err)
		}
	}()
	ch.Status.ObservedGeneration = ch.Generation
	ready := metav1.Condition{Type: appsv1.ConditionReady, Status: metav1.ConditionTrue, Reason: appsv1.ReasonSucceeded, ObservedGeneration: ch.Generation}
	if err := validateChannel(ch); err != nil {
		ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, appsv1.ReasonInvalidSpec, err.Error()
	} else if _, err := source.CredentialsFor(ctx, r.Client, ch); err != nil {
		ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, appsv1.ReasonAuthFailed, err.Error()
	} else {
		ready.Message = "source configuration is valid"
	}
	states := r.Store.Artifacts(req.NamespacedName)
	ch.Status.Artifacts = ch.Status.Artifacts[:0]
	var failing []string
	for _, st := range states {
		if st.Revision != "" {
			ch.Status.Artifacts = append(ch.Status.Artifacts, appsv1.ArtifactStatus{Ref: st.Ref, Revision: st.Revision, FetchedAt: metav1.NewTime(st.CheckedAt.Truncate(time.Second))})
		}
		if st.Error != "" {
			failing = append(failing, fmt.Sprintf("%s: %s", st.Ref, st.Error))
			if ready.Status == metav1.ConditionTrue {
				ready.Reason = st.Reason
			}
		}
	}
	if len(failing) > 0 && ready.Status == metav1.ConditionTrue {
		ready.Status = metav1.ConditionFalse
		ready.Message = "fetch failed for " + strings.Join(failing, "; ")
	} else if ready.Status == metav1.ConditionTrue && len(ch.Status.Artifacts) > 0 {
		ready.Message = fmt.Sprintf("%d refs fetched", len(ch.Status.Artifacts))
	}
	meta.SetStatusCondition(&ch.Status.Conditions, ready)
	return ctrl.Result{}, nil
}

// validateChannel checks what can be checked without reaching the source.
func validateChannel(ch *appsv1.Channel) error {
	p := strings.TrimSpace(ch.Spec.Pathname)
	if p == "" {
		return fmt.Errorf("spec.pathname is empty; set the repository or bucket URL")
	}
	switch ch.Spec.Type.Normalized() {
	case appsv1.ChannelTypeGit:
		if strings.HasPrefix(p, "git@") || strings.Contains(p, "://") {
			return nil
		}
		return fmt.Errorf("spec.pathname %q is not a Git URL; use https://, ssh://, git@host:path or file://", p)
	case appsv1.ChannelTypeHelmRepo, appsv1.ChannelTypeObjectBucket:
		u, err := url.Parse(p)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return fmt.Errorf("spec.pathname %q is not a URL with a scheme and host", p)
		}
		return nil
	case appsv1.ChannelTypeNamespace:
		return fmt.Errorf("spec.type Namespace channels are not supported by ocm-gitops; use Git, HelmRepo or ObjectBucket")
	}
	return fmt.Errorf("spec.type %q is unknown; use Git, HelmRepo or ObjectBucket", ch.Spec.Type)
}

func setupChannel(mgr ctrl.Manager, deps *Deps) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("channel").
		For(&appsv1.Channel{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WatchesRawSource(ctrlsource.Channel(deps.Store.Subscribe(), &handler.EnqueueRequestForObject{})).
		Complete(&ChannelReconciler{Client: mgr.GetClient(), Store: deps.Store})
}
