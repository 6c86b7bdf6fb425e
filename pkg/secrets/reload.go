package secrets

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	clusterclient "open-cluster-management.io/api/client/cluster/clientset/versioned"
)

// ReasonKeySecretInvalid and ReasonKeySecretRecreated are the reasons of the
// Warning Events a KeyWatcher records on the key Secret.
const (
	ReasonKeySecretInvalid   = "KeySecretInvalid"
	ReasonKeySecretRecreated = "KeySecretRecreated"
)

// keyResync re-delivers the Secret now and then, so that claims whose
// publishing failed are published again.
const keyResync = 10 * time.Minute

// KeyWatcher keeps an Opener and the recipient ClusterClaims in step with
// the key Secret while the agent runs, through one watch on that Secret.
// An edit that does not parse leaves the keys in use alone; a deleted
// Secret is written back from the keys in use (a new identity would change
// the cluster's recipient under every file encrypted for it).
type KeyWatcher struct {
	Kube            kubernetes.Interface
	Claims          clusterclient.Interface
	Namespace, Name string
	Opener          *Opener
	// Changed is called after a new keyring is in use (the work agent
	// re-queues its works, so those that failed to decrypt are retried).
	Changed func()
	Log     logr.Logger

	// good is the data of the Secret behind the keyring in use, written back
	// if the Secret is deleted; stale says the claims are not published yet;
	// refused is the resourceVersion of a Secret already refused (a resync
	// re-delivers it: one Event per edit, not one per resync).
	good    map[string][]byte
	stale   bool
	refused string
}

// Publish publishes the recipients of the keyring in use as ClusterClaims.
func (w *KeyWatcher) Publish(ctx context.Context) error {
	keys := w.Opener.Keys()
	omitted, err := PublishRecipients(ctx, w.Claims, keys)
	w.stale = err != nil
	if err != nil {
		return err
	}
	if omitted > 0 {
		w.Log.Info("too many further age identities for ClusterClaim "+HeldClaimName+"; previews will not know of the last ones", "omitted", omitted)
	}
	w.Log.Info("age recipient published", "claim", ClaimName, "recipient", keys.Recipients()[0],
		"held", len(keys.Recipients())-1, "keySecret", w.Namespace+"/"+w.Name)
	return nil
}

// Run watches the key Secret until ctx ends.
func (w *KeyWatcher) Run(ctx context.Context) error {
	factory := informers.NewSharedInformerFactoryWithOptions(w.Kube, keyResync,
		informers.WithNamespace(w.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", w.Name).String()
		}))
	// The handlers run one at a time, so w needs no lock.
	_, err := factory.Core().V1().Secrets().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { w.onSecret(ctx, obj) },
		UpdateFunc: func(_, obj any) { w.onSecret(ctx, obj) },
		DeleteFunc: func(any) { w.onDelete(ctx) },
	})
	if err != nil {
		return fmt.Errorf("watching age identity Secret %s/%s: %w", w.Namespace, w.Name, err)
	}
	factory.Start(ctx.Done())
	<-ctx.Done()
	factory.Shutdown()
	return nil
}

func (w *KeyWatcher) onSecret(ctx context.Context, obj any) {
	s, ok := obj.(*corev1.Secret)
	if !ok {
		return
	}
	keys, err := KeyringFromSecret(s)
	if err != nil {
		if s.ResourceVersion == w.refused {
			return
		}
		w.refused = s.ResourceVersion
		w.Log.Error(err, "age identity Secret not reloaded: the agent keeps decrypting with the keys it had", "keySecret", w.Namespace+"/"+w.Name)
		w.event(ctx, s, ReasonKeySecretInvalid, err.Error()+"; the agent keeps decrypting with the keys it had")
		return
	}
	w.good, w.refused = maps.Clone(s.Data), ""
	if slices.Equal(keys.Recipients(), w.Opener.Keys().Recipients()) && !w.stale {
		return
	}
	w.Opener.Swap(keys)
	w.Log.Info("age identities reloaded", "keySecret", w.Namespace+"/"+w.Name, "recipients", len(keys.Recipients()))
	if err := w.Publish(ctx); err != nil {
		w.Log.Error(err, "age recipients not published; retried at the next resync", "keySecret", w.Namespace+"/"+w.Name)
	}
	if w.Changed != nil {
		w.Changed()
	}
}

// onDelete writes the Secret back with the keys in use.
func (w *KeyWatcher) onDelete(ctx context.Context) {
	if w.good == nil {
		return
	}
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: w.Namespace, Name: w.Name},
		Type:       corev1.SecretTypeOpaque,
		Data:       w.good,
	}
	created, err := w.Kube.CoreV1().Secrets(w.Namespace).Create(ctx, s, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		w.Log.Error(err, "age identity Secret deleted and not written back: the agent keeps its keys in memory; at its next start it would make a NEW identity", "keySecret", w.Namespace+"/"+w.Name)
		return
	}
	if err == nil {
		msg := "age identity Secret deleted; written back from the keys the agent uses (to rotate, replace " + IdentityKey + " instead, docs/security.md)"
		w.Log.Error(nil, msg, "keySecret", w.Namespace+"/"+w.Name)
		w.event(ctx, created, ReasonKeySecretRecreated, msg)
	}
}

// event records a Warning Event on the key Secret; failures only log.
func (w *KeyWatcher) event(ctx context.Context, s *corev1.Secret, reason, msg string) {
	now := metav1.Now()
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{GenerateName: s.Name + ".", Namespace: s.Namespace},
		InvolvedObject: corev1.ObjectReference{
			APIVersion: "v1", Kind: "Secret", Namespace: s.Namespace, Name: s.Name, UID: s.UID,
			ResourceVersion: s.ResourceVersion,
		},
		Reason: reason, Message: msg, Type: corev1.EventTypeWarning, Count: 1,
		FirstTimestamp: now, LastTimestamp: now,
		Source: corev1.EventSource{Component: "ocm-gitops-klusterlet"},
	}
	if _, err := w.Kube.CoreV1().Events(s.Namespace).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		w.Log.V(1).Info("could not record event", "keySecret", w.Namespace+"/"+w.Name, "reason", reason, "error", err)
	}
}
