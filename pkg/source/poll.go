package source

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

// Poll intervals per reconcile-rate, as OCM defines them: medium checks Git
// every 3 minutes and Helm repositories and buckets every 15; high every 2
// minutes; low every hour; off never (only webhooks and "reconcile now").
const (
	intervalLow        = time.Hour
	intervalMediumGit  = 3 * time.Minute
	intervalMediumRepo = 15 * time.Minute
	intervalHigh       = 2 * time.Minute
)

// pollJitter spreads polls of many Subscriptions so they do not hit a source
// in lockstep: requeues land within ±10% of the interval.
const pollJitter = 0.1

// ReconcileRate is the effective reconcile-rate for a Subscription on a
// Channel: the Subscription's annotation when it holds a known value, else the
// Channel's, else medium. OCM lets a Subscription only turn polling off; here
// any of its values wins, a superset that leaves OCM's behaviour unchanged
// for "off".
func ReconcileRate(ch *appsv1.Channel, sub *appsv1.Subscription) string {
	for _, obj := range []metav1.Object{sub, ch} {
		if obj == nil || isNil(obj) {
			continue
		}
		switch r := strings.ToLower(strings.TrimSpace(obj.GetAnnotations()[appsv1.AnnotationReconcileRate])); r {
		case appsv1.ReconcileRateOff, appsv1.ReconcileRateLow, appsv1.ReconcileRateMedium, appsv1.ReconcileRateHigh:
			return r
		}
	}
	return appsv1.ReconcileRateMedium
}

func isNil(obj metav1.Object) bool {
	switch o := obj.(type) {
	case *appsv1.Subscription:
		return o == nil
	case *appsv1.Channel:
		return o == nil
	}
	return false
}

// BaseInterval is the un-jittered poll interval for a Subscription on a
// Channel; 0 means no polling (reconcile-rate off).
func BaseInterval(ch *appsv1.Channel, sub *appsv1.Subscription) time.Duration {
	var typ appsv1.ChannelType
	if ch != nil {
		typ = ch.Spec.Type.Normalized()
	}
	switch ReconcileRate(ch, sub) {
	case appsv1.ReconcileRateOff:
		return 0
	case appsv1.ReconcileRateLow:
		return intervalLow
	case appsv1.ReconcileRateHigh:
		return intervalHigh
	}
	if typ == appsv1.ChannelTypeHelmRepo || typ == appsv1.ChannelTypeObjectBucket {
		return intervalMediumRepo
	}
	return intervalMediumGit
}

// PollInterval is when to look at the source again: the base interval with
// ±10% jitter, or 0 when reconcile-rate is off. Use it as RequeueAfter and
// NotBefore for the oldest check a reconcile accepts.
func PollInterval(ch *appsv1.Channel, sub *appsv1.Subscription) time.Duration {
	base := BaseInterval(ch, sub)
	if base == 0 {
		return 0
	}
	f := 1 + pollJitter*(2*rand.Float64()-1)
	return time.Duration(float64(base) * f)
}

// NotBefore is the oldest source check a reconcile at now accepts: a newer
// "reconcile now" or webhook request on the Channel or the Subscription forces
// a fetch; otherwise anything checked within 90% of the base interval will do,
// so a requeue after PollInterval (at least 90% of it) always fetches. With
// reconcile-rate off and no request it is the zero time: any cached artifact.
func NotBefore(ch *appsv1.Channel, sub *appsv1.Subscription, now time.Time) time.Time {
	var t time.Time
	if base := BaseInterval(ch, sub); base > 0 {
		t = now.Add(-time.Duration(float64(base) * (1 - pollJitter)))
	}
	for _, obj := range []metav1.Object{ch, sub} {
		if obj == nil || isNil(obj) {
			continue
		}
		if r := RequestedAt(obj); r.After(t) {
			t = r
		}
	}
	if t.After(now) {
		// A clock ahead of ours must not make every cached artifact stale forever.
		t = now
	}
	return t
}

// RequestedAt is the latest "reconcile now" request on obj: the
// reconcile-requested-at annotation (written by the webhook receiver and by
// users) or OCM's manual-refresh-time, whichever is later. Values are RFC 3339
// timestamps (fractions allowed) or Unix seconds; anything else counts as no
// request.
func RequestedAt(obj metav1.Object) time.Time {
	a := obj.GetAnnotations()
	var latest time.Time
	for _, key := range []string{appsv1.AnnotationReconcileRequestedAt, appsv1.AnnotationManualRefreshTime} {
		if t := parseRequestTime(a[key]); t.After(latest) {
			latest = t
		}
	}
	return latest
}

func parseRequestTime(v string) time.Time {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil && secs > 0 {
		return time.Unix(secs, 0)
	}
	return time.Time{}
}
