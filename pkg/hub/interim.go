package hub

// Interim stand-ins for functions the source and render packages are about to
// provide; replaced by source.X / render.X once those land.

import (
	"context"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/source"
)

func pollInterval(_ *appsv1.Channel, _ *appsv1.Subscription) time.Duration { return 3 * time.Minute }

func credentialsFor(_ context.Context, _ client.Reader, _ *appsv1.Channel) (source.Credentials, error) {
	return source.Credentials{}, nil
}

func isAuthError(error) bool { return false }

func requestedAt(o metav1.Object) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, o.GetAnnotations()[appsv1.AnnotationReconcileRequestedAt])
	return t
}
