package work

import (
	"context"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	workv1 "open-cluster-management.io/api/work/v1"
)

// eventRecorder records Events about works on the hub, in the work's
// namespace (the only one the agent may write to).
type eventRecorder struct {
	hub     kubernetes.Interface
	cluster string
	log     logr.Logger
}

// record records an Event about the work and logs it; failures only log.
func (e *eventRecorder) record(ctx context.Context, work *workv1.ManifestWork, typ, reason, msg string) {
	now := metav1.Now()
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{GenerateName: work.Name + ".", Namespace: work.Namespace},
		InvolvedObject: corev1.ObjectReference{
			APIVersion: workv1.GroupVersion.String(), Kind: "ManifestWork",
			Namespace: work.Namespace, Name: work.Name, UID: work.UID,
		},
		Reason: reason, Message: msg, Type: typ, Count: 1,
		FirstTimestamp: now, LastTimestamp: now,
		Source:              corev1.EventSource{Component: "ocm-gitops-work-agent", Host: e.cluster},
		ReportingController: "ocm-gitops.io/work-agent", ReportingInstance: e.cluster,
	}
	ctx, cancel := context.WithTimeout(ctx, hubTimeout)
	defer cancel()
	if _, err := e.hub.CoreV1().Events(work.Namespace).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		e.log.V(1).Info("could not record event", "work", work.Name, "reason", reason, "error", err)
	}
	e.log.Info(msg, "work", work.Name, "reason", reason)
}
