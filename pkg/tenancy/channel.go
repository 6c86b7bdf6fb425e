package tenancy

import (
	"fmt"
	"slices"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

// ChannelAccess says which namespaces' Subscriptions may use a Channel of
// another namespace whose spec.allowedNamespaces is empty.
type ChannelAccess string

const (
	// ChannelAccessRestricted: a Channel without credentials serves every
	// namespace, one with credentials (spec.secretRef, or the token of
	// spec.commitStatus) only its own; other namespaces would fetch, and
	// post commit statuses, with its owner's credentials.
	ChannelAccessRestricted ChannelAccess = "restricted"
	// ChannelAccessOCM: every Channel serves every namespace, as OCM's hub
	// does; for hubs whose namespaces all belong to one team.
	ChannelAccessOCM ChannelAccess = "ocm"
)

// ParseChannelAccess reads the hub flag --channel-access.
func ParseChannelAccess(s string) (ChannelAccess, error) {
	switch ChannelAccess(s) {
	case "", ChannelAccessRestricted:
		return ChannelAccessRestricted, nil
	case ChannelAccessOCM:
		return ChannelAccessOCM, nil
	}
	return "", fmt.Errorf("--channel-access %q: want %q (Channels with credentials serve only their namespace and spec.allowedNamespaces) or %q (every Channel serves every namespace, as OCM)",
		s, ChannelAccessRestricted, ChannelAccessOCM)
}

// ChannelServes reports whether Subscriptions in namespace may use ch. Its
// own namespace always may. A non-empty spec.allowedNamespaces decides for
// the others ("*" for all), whatever the hub's ChannelAccess, so an owner
// can close a Channel without credentials too. Otherwise, as ChannelAccess
// says.
func ChannelServes(ch *appsv1.Channel, namespace string, opts Options) bool {
	if ch.Namespace == namespace {
		return true
	}
	if allowed := ch.Spec.AllowedNamespaces; len(allowed) > 0 {
		return slices.Contains(allowed, "*") || slices.Contains(allowed, namespace)
	}
	return opts.ChannelAccess == ChannelAccessOCM || !credentialed(ch)
}

// ChannelAllowed is ChannelServes as an error that names both fixes.
func ChannelAllowed(ch *appsv1.Channel, namespace string, opts Options) error {
	if ChannelServes(ch, namespace, opts) {
		return nil
	}
	key := ch.Namespace + "/" + ch.Name
	if len(ch.Spec.AllowedNamespaces) > 0 {
		return &DeniedError{msg: fmt.Sprintf("spec.channel: Channel %s does not allow Subscriptions from namespace %q; add it to the Channel's spec.allowedNamespaces", key, namespace)}
	}
	return &DeniedError{msg: fmt.Sprintf("spec.channel: Channel %s holds credentials (%s) and does not allow Subscriptions from namespace %q; "+
		"add it to the Channel's spec.allowedNamespaces, or run the hub with --channel-access %s to let every namespace use every Channel as OCM does",
		key, credentialFields(ch), namespace, ChannelAccessOCM)}
}

// credentialed reports whether using ch acts with its owner's credentials.
// spec.configMapRef holds only CA certificates, which are not secret.
func credentialed(ch *appsv1.Channel) bool {
	return ch.Spec.SecretRef != nil || ch.Spec.CommitStatus != nil
}

func credentialFields(ch *appsv1.Channel) string {
	switch {
	case ch.Spec.SecretRef != nil && ch.Spec.CommitStatus != nil:
		return "spec.secretRef, spec.commitStatus.secretRef"
	case ch.Spec.SecretRef != nil:
		return "spec.secretRef"
	}
	return "spec.commitStatus.secretRef"
}
