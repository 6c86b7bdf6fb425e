package fleetstatus

import (
	"testing"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

func TestClassOf(t *testing.T) {
	for state, want := range map[appsv1.ClusterState]Class{
		appsv1.ClusterApplied: ClassHealthy, appsv1.ClusterProgressing: ClassProgressing, appsv1.ClusterPending: ClassHeld,
		appsv1.ClusterDrifted: ClassDrifted, appsv1.ClusterFailed: ClassFailing, appsv1.ClusterOffline: ClassOffline,
		appsv1.ClusterStale: ClassStale, appsv1.ClusterHeld: ClassHeld, "Degraded": ClassDegraded, "Healthy": ClassHealthy,
		"SomethingNew": ClassUnknown, "": ClassUnknown,
	} {
		if got := ClassOf(state); got != want {
			t.Errorf("ClassOf(%q) = %q, want %q", state, got, want)
		}
	}
	if ClassFailing.Rank() >= ClassHealthy.Rank() || ClassUnknown.Rank() >= ClassHealthy.Rank() {
		t.Error("failing and unknown must rank as needing more attention than healthy")
	}
}

// TestCellsAt: listed clusters show what the hub says; unlisted ones show
// healthy only when the status provably lists every cluster that is not.
func TestCellsAt(t *testing.T) {
	work := WorkMeta{Exists: true, Revision: "main@sha1:1111111111111111111111111111111111111111"}
	full := &appsv1.SubscriptionStatus{
		Summary: appsv1.ClusterSummary{Selected: 3, Applied: 1, Drifted: 1, Failed: 1},
		Clusters: []appsv1.ClusterStatus{
			{Name: "a", State: appsv1.ClusterFailed, Message: "degraded: Deployment x/y: 0/1 ready"},
			{Name: "b", State: appsv1.ClusterDrifted, Drift: []appsv1.DriftedObject{{ObjectReference: appsv1.ObjectReference{Kind: "ConfigMap", Name: "c"}, Fields: []string{".data.k"}}}},
			{Name: "c", State: appsv1.ClusterApplied},
		},
	}
	truncatedComplete := &appsv1.SubscriptionStatus{
		Summary:           appsv1.ClusterSummary{Selected: 200, Applied: 199, Failed: 1},
		Clusters:          []appsv1.ClusterStatus{{Name: "a", State: appsv1.ClusterFailed, Message: "apply failed"}},
		ClustersTruncated: true,
	}
	truncatedIncomplete := &appsv1.SubscriptionStatus{
		Summary:           appsv1.ClusterSummary{Selected: 300, Applied: 100, Progressing: 200},
		Clusters:          []appsv1.ClusterStatus{{Name: "a", State: appsv1.ClusterProgressing}},
		ClustersTruncated: true,
	}
	for _, c := range []struct {
		name    string
		st      *appsv1.SubscriptionStatus
		cluster string
		work    WorkMeta
		want    Class
	}{
		{"degraded message", full, "a", work, ClassDegraded},
		{"drifted", full, "b", work, ClassDrifted},
		{"applied", full, "c", work, ClassHealthy},
		{"not targeted", full, "z", WorkMeta{}, ClassNone},
		{"unlisted work, list not truncated", full, "z", work, ClassUnknown},
		{"removal held", full, "z", WorkMeta{Exists: true, RemovalHeld: true}, ClassHeld},
		{"truncated, every problem listed", truncatedComplete, "z", work, ClassHealthy},
		{"truncated, listed failing", truncatedComplete, "a", work, ClassFailing},
		{"truncated, problems left out", truncatedIncomplete, "z", work, ClassUnknown},
		{"truncated, no work", truncatedIncomplete, "z", WorkMeta{}, ClassNone},
	} {
		got := NewCells(c.st).At(c.cluster, c.work)
		if got.Class != c.want {
			t.Errorf("%s: class %q, want %q (%+v)", c.name, got.Class, c.want, got)
		}
		if c.want == ClassUnknown && got.Message == "" {
			t.Errorf("%s: an unknown cell must say why", c.name)
		}
	}
	if got := NewCells(full).At("b", work); len(got.Drift) != 1 || got.Label() != "drifted" {
		t.Errorf("drift not carried: %+v", got)
	}
	if got := NewCells(&appsv1.SubscriptionStatus{Clusters: []appsv1.ClusterStatus{{Name: "x", State: "Quarantined"}}}).At("x", work); got.Label() != "quarantined" {
		t.Errorf("an unknown state shows as %q, want the hub's word", got.Label())
	}
}

func TestCountsText(t *testing.T) {
	got := CountsText(Counts(appsv1.ClusterSummary{Selected: 7, Applied: 3, Failed: 1, Pending: 2, Stale: 1, Held: 1}))
	if want := "1 failing, 1 stale, 3 held, 3 healthy"; got != want {
		t.Errorf("CountsText = %q, want %q", got, want)
	}
	if got := CountsText(nil); got != "-" {
		t.Errorf("no counts: %q", got)
	}
}

func TestCommitURL(t *testing.T) {
	const rev = "main@sha1:0123456789abcdef0123456789abcdef01234567"
	const sha = "0123456789abcdef0123456789abcdef01234567"
	git := func(pathname string, provider appsv1.GitProvider) *appsv1.Channel {
		ch := &appsv1.Channel{Spec: appsv1.ChannelSpec{Type: "Git", Pathname: pathname}}
		if provider != "" {
			ch.Spec.CommitStatus = &appsv1.CommitStatusSpec{Provider: provider}
		}
		return ch
	}
	for _, c := range []struct {
		ch   *appsv1.Channel
		rev  string
		want string
	}{
		{git("https://bot:tok@github.com/acme/fleet.git", ""), rev, "https://github.com/acme/fleet/commit/" + sha},
		{git("https://git.acme.io/platform/fleet", "gitlab"), rev, "https://git.acme.io/platform/fleet/-/commit/" + sha},
		{git("https://bitbucket.org/acme/fleet.git/", ""), rev, "https://bitbucket.org/acme/fleet/commits/" + sha},
		{git("https://code.acme.io/acme/fleet.git", "gitea"), rev, "https://code.acme.io/acme/fleet/commit/" + sha},
		{git("http://127.0.0.1:8765/fleet.git", ""), rev, ""},
		{git("git@github.com:acme/fleet.git", ""), rev, ""},
		{git("https://github.com/acme/fleet", ""), "node-probe-1.3.1", ""},
		{&appsv1.Channel{Spec: appsv1.ChannelSpec{Type: "HelmRepo", Pathname: "https://github.com/acme/charts"}}, rev, ""},
		{nil, rev, ""},
	} {
		if got := CommitURL(c.ch, c.rev); got != c.want {
			t.Errorf("CommitURL(%v, %q) = %q, want %q", c.ch, c.rev, got, c.want)
		}
	}
}
