package tenancy

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

func TestChannelAllowed(t *testing.T) {
	secret := &corev1.ObjectReference{Name: "git-credentials"}
	status := &appsv1.CommitStatusSpec{Provider: appsv1.GitProviderGitHub, SecretRef: corev1.LocalObjectReference{Name: "token"}}
	ca := &corev1.ObjectReference{Name: "ca-bundle"}
	restricted, ocm := Options{}, Options{ChannelAccess: ChannelAccessOCM}
	for _, tc := range []struct {
		name string
		spec appsv1.ChannelSpec
		ns   string
		opts Options
		// want is "" when allowed, else parts of the refusal.
		want []string
	}{
		{name: "own namespace, credentials", spec: appsv1.ChannelSpec{SecretRef: secret}, ns: "fleet", opts: restricted},
		{name: "no credentials: every namespace", ns: "team-a", opts: restricted},
		{name: "CA bundle only is no credential", spec: appsv1.ChannelSpec{ConfigMapRef: ca}, ns: "team-a", opts: restricted},
		{name: "secretRef", spec: appsv1.ChannelSpec{SecretRef: secret}, ns: "team-a", opts: restricted,
			want: []string{"Channel fleet/repo holds credentials (spec.secretRef)", `namespace "team-a"`, "spec.allowedNamespaces", "--channel-access ocm"}},
		{name: "commit-status token", spec: appsv1.ChannelSpec{CommitStatus: status}, ns: "team-a", opts: restricted,
			want: []string{"(spec.commitStatus.secretRef)", "spec.allowedNamespaces", "--channel-access ocm"}},
		{name: "both", spec: appsv1.ChannelSpec{SecretRef: secret, CommitStatus: status}, ns: "team-a", opts: restricted,
			want: []string{"(spec.secretRef, spec.commitStatus.secretRef)"}},
		{name: "secretRef, listed", spec: appsv1.ChannelSpec{SecretRef: secret, AllowedNamespaces: []string{"team-a"}}, ns: "team-a", opts: restricted},
		{name: "secretRef, star", spec: appsv1.ChannelSpec{SecretRef: secret, AllowedNamespaces: []string{"*"}}, ns: "team-a", opts: restricted},
		{name: "secretRef, ocm", spec: appsv1.ChannelSpec{SecretRef: secret}, ns: "team-a", opts: ocm},
		// A list, when set, decides in every mode: the owner closed it.
		{name: "no credentials, closed by a list", spec: appsv1.ChannelSpec{AllowedNamespaces: []string{"team-b"}}, ns: "team-a", opts: restricted,
			want: []string{"does not allow Subscriptions from namespace \"team-a\"; add it to the Channel's spec.allowedNamespaces"}},
		{name: "closed by a list, ocm", spec: appsv1.ChannelSpec{SecretRef: secret, AllowedNamespaces: []string{"team-b"}}, ns: "team-a", opts: ocm,
			want: []string{"spec.allowedNamespaces"}},
		{name: "listed one", spec: appsv1.ChannelSpec{AllowedNamespaces: []string{"team-b"}}, ns: "team-b", opts: restricted},
	} {
		ch := &appsv1.Channel{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "repo"}, Spec: tc.spec}
		err := ChannelAllowed(ch, tc.ns, tc.opts)
		if served := ChannelServes(ch, tc.ns, tc.opts); served != (err == nil) {
			t.Errorf("%s: ChannelServes = %v but ChannelAllowed = %v", tc.name, served, err)
		}
		switch {
		case tc.want == nil && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.want != nil && err == nil:
			t.Errorf("%s: allowed, want a refusal", tc.name)
		case tc.want != nil && !IsDenied(err):
			t.Errorf("%s: %v is not a DeniedError", tc.name, err)
		}
		for _, part := range tc.want {
			if err != nil && !strings.Contains(err.Error(), part) {
				t.Errorf("%s: %q does not say %q", tc.name, err, part)
			}
		}
		if tc.want != nil && len(tc.spec.AllowedNamespaces) > 0 && strings.Contains(err.Error(), "--channel-access") {
			t.Errorf("%s: %q offers --channel-access, which does not open a Channel whose list leaves the namespace out", tc.name, err)
		}
	}
}

func TestParseChannelAccess(t *testing.T) {
	for in, want := range map[string]ChannelAccess{"": ChannelAccessRestricted, "restricted": ChannelAccessRestricted, "ocm": ChannelAccessOCM} {
		if got, err := ParseChannelAccess(in); err != nil || got != want {
			t.Errorf("%q: %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseChannelAccess("OCM "); err == nil || !strings.Contains(err.Error(), `"restricted"`) {
		t.Errorf("a bad value: %v, want an error naming the values", err)
	}
}
