package source

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

func withRate(ch *appsv1.Channel, rate string) *appsv1.Channel {
	ch.Annotations = map[string]string{appsv1.AnnotationReconcileRate: rate}
	return ch
}

func TestPollIntervalsFollowOCMRates(t *testing.T) {
	sub := func(rate string) *appsv1.Subscription {
		s := &appsv1.Subscription{}
		if rate != "" {
			s.Annotations = map[string]string{appsv1.AnnotationReconcileRate: rate}
		}
		return s
	}
	for _, c := range []struct {
		name    string
		ch      *appsv1.Channel
		sub     *appsv1.Subscription
		want    time.Duration
		wantStr string
	}{
		{"git default is medium", channel("Git", "x"), sub(""), 3 * time.Minute, "medium"},
		{"helm medium is 15m", channel("HelmRepo", "x"), sub(""), 15 * time.Minute, "medium"},
		{"bucket medium is 15m", channel("ObjectBucket", "x"), sub(""), 15 * time.Minute, "medium"},
		{"channel high", withRate(channel("Git", "x"), "high"), sub(""), 2 * time.Minute, "high"},
		{"channel low", withRate(channel("HelmRepo", "x"), "Low"), sub(""), time.Hour, "low"},
		{"subscription off wins", withRate(channel("Git", "x"), "high"), sub("off"), 0, "off"},
		{"subscription high wins", withRate(channel("Git", "x"), "low"), sub("high"), 2 * time.Minute, "high"},
		{"unknown falls back", withRate(channel("Git", "x"), "fast"), sub("sometimes"), 3 * time.Minute, "medium"},
		{"nil subscription", withRate(channel("Git", "x"), "off"), nil, 0, "off"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := ReconcileRate(c.ch, c.sub); got != c.wantStr {
				t.Fatalf("rate %q, want %q", got, c.wantStr)
			}
			if got := BaseInterval(c.ch, c.sub); got != c.want {
				t.Fatalf("base %v, want %v", got, c.want)
			}
			for i := 0; i < 50; i++ {
				got := PollInterval(c.ch, c.sub)
				lo, hi := time.Duration(float64(c.want)*0.9), time.Duration(float64(c.want)*1.1)
				if got < lo || got > hi {
					t.Fatalf("PollInterval %v outside [%v, %v]", got, lo, hi)
				}
			}
		})
	}
}

func TestNotBeforeAndRequestedAt(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	ch := channel("Git", "x")
	sub := &appsv1.Subscription{}
	if got := NotBefore(ch, sub, now); !got.Equal(now.Add(-162 * time.Second)) {
		t.Fatalf("medium NotBefore = %v, want 90%% of 3m before now", got)
	}
	// A requeue after the shortest jittered interval always finds the cache stale.
	checked := now
	next := checked.Add(time.Duration(float64(3*time.Minute) * 0.9))
	if !checked.Before(NotBefore(ch, sub, next).Add(time.Nanosecond)) {
		t.Fatal("a poll at the shortest interval must fetch")
	}

	off := withRate(channel("Git", "x"), "off")
	if got := NotBefore(off, sub, now); !got.IsZero() {
		t.Fatalf("off NotBefore = %v, want zero (any cached artifact)", got)
	}
	req := now.Add(-10 * time.Second)
	off.Annotations[appsv1.AnnotationReconcileRequestedAt] = req.Format(time.RFC3339Nano)
	if got := NotBefore(off, sub, now); !got.Equal(req) {
		t.Fatalf("a channel request must force: %v", got)
	}
	sub.Annotations = map[string]string{appsv1.AnnotationManualRefreshTime: now.Add(-5 * time.Second).Format(time.RFC3339)}
	if got := NotBefore(off, sub, now); !got.Equal(now.Add(-5 * time.Second)) {
		t.Fatalf("the later request wins: %v", got)
	}
	sub.Annotations[appsv1.AnnotationManualRefreshTime] = now.Add(time.Hour).Format(time.RFC3339)
	if got := NotBefore(off, sub, now); !got.Equal(now) {
		t.Fatalf("a request from the future is capped at now: %v", got)
	}

	for v, want := range map[string]time.Time{
		"2026-05-01T11:59:00Z":        now.Add(-time.Minute),
		"2026-05-01T11:59:00.5+00:00": now.Add(-59500 * time.Millisecond),
		"1777636740":                  time.Unix(1777636740, 0),
		"yesterday":                   {},
		"":                            {},
	} {
		got := RequestedAt(&metav1.ObjectMeta{Annotations: map[string]string{appsv1.AnnotationReconcileRequestedAt: v}})
		if !got.Equal(want) {
			t.Errorf("RequestedAt(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestRefForReadsOCMAnnotations(t *testing.T) {
	sub := &appsv1.Subscription{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{
		appsv1.AnnotationGithubBranch:  "old-style",
		appsv1.AnnotationGitTag:        "v1",
		appsv1.AnnotationGitCloneDepth: "20",
		appsv1.AnnotationBucketPath:    "prod",
		appsv1.AnnotationGitPath:       "apps/web",
	}}, Spec: appsv1.SubscriptionSpec{Package: "nginx", PackageFilter: &appsv1.PackageFilter{Version: "1.2.x"}}}
	ref := RefFor(sub)
	if ref.Branch != "old-style" || ref.Tag != "v1" || ref.Depth != 20 || ref.Prefix != "prod" || ref.Chart != "nginx" || ref.Version != "1.2.x" {
		t.Fatalf("RefFor = %+v", ref)
	}
	if SubscriptionPath(sub) != "apps/web" {
		t.Fatal("SubscriptionPath must read git-path")
	}
}

func TestSanitizerMasksCredentials(t *testing.T) {
	s := newSanitizer(Credentials{Secret: map[string][]byte{
		KeyUser: []byte("alice"), KeyAccessToken: []byte("ghp_abcdef123456"), KeyPassword: []byte("p4ss"),
		KeySSHKey: []byte("-----BEGIN KEY-----\nAAAAsecretline\n-----END KEY-----"),
	}})
	in := "fetch https://alice:ghp_abcdef123456@git.example.com/x.git: bad p4ss near AAAAsecretline"
	out := s.clean(in)
	for _, leak := range []string{"ghp_abcdef123456", "p4ss", "AAAAsecretline", "alice:"} {
		if strings.Contains(out, leak) {
			t.Errorf("%q leaks %q", out, leak)
		}
	}
	if !strings.Contains(out, "git.example.com/x.git") {
		t.Errorf("%q lost the useful part", out)
	}
	if got := SanitizeURL("ssh://git:tok@host:22/r.git"); got != "ssh://host:22/r.git" {
		t.Errorf("SanitizeURL = %q", got)
	}
}
