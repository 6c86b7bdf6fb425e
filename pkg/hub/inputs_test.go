package hub

import (
	"testing"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	workv1 "open-cluster-management.io/api/work/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/render"
	"github.com/ocm-gitops/ocm-gitops/pkg/source"
)

func TestInputDigest(t *testing.T) {
	art := &source.Artifact{Revision: "main@sha1:0123456789abcdef0123456789abcdef01234567", Dir: "/a"}
	sub := func() *appsv1.Subscription {
		return &appsv1.Subscription{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "web",
			Annotations: map[string]string{appsv1.AnnotationGitPath: "apps/web"}}}
	}
	east := &render.Cluster{Name: "east", Labels: map[string]string{"env": "prod"}}
	base := inputDigest("v1", sub(), art, nil)
	if again := inputDigest("v1", sub(), &source.Artifact{Revision: art.Revision, Dir: "/elsewhere"}, nil); again != base {
		t.Error("the same inputs give another digest (where the artifact is unpacked must not count)")
	}
	changed := map[string]string{}
	s := sub()
	s.Annotations[appsv1.AnnotationGitPath] = "apps/other"
	changed["path"] = inputDigest("v1", s, art, nil)
	changed["revision"] = inputDigest("v1", sub(), &source.Artifact{Revision: "main@sha1:1123456789abcdef0123456789abcdef01234567"}, nil)
	changed["renderer"] = inputDigest("v2", sub(), art, nil)
	s = sub()
	s.Spec.DriftPolicy = appsv1.DriftReportOnly
	changed["settings"] = inputDigest("v1", s, art, nil)
	changed["cluster"] = inputDigest("v1", sub(), art, east)
	west := *east
	west.Name = "west"
	if inputDigest("v1", sub(), art, &west) == changed["cluster"] {
		t.Error("two clusters of a cluster-dependent render share a digest")
	}
	for what, d := range changed {
		if d == base {
			t.Errorf("a change of %s keeps the digest", what)
		}
	}
}

func TestHeldContent(t *testing.T) {
	w := func(inputs, hash string) *workv1.ManifestWork {
		return &workv1.ManifestWork{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{
			appsv1.AnnotationInputDigest: inputs, appsv1.AnnotationContentHash: hash}}}
	}
	deleting := w("in", "h")
	deleting.DeletionTimestamp = &metav1.Time{}
	for _, tc := range []struct {
		name  string
		works []*workv1.ManifestWork
		parts int
		want  string
	}{
		{"written from these inputs", []*workv1.ManifestWork{w("in", "h"), w("in", "h")}, 2, "h"},
		{"other inputs", []*workv1.ManifestWork{w("old", "h")}, 1, ""},
		{"a part missing", []*workv1.ManifestWork{w("in", "h")}, 2, ""},
		{"parts of two writes", []*workv1.ManifestWork{w("in", "h"), w("in", "g")}, 2, ""},
		{"being deleted", []*workv1.ManifestWork{deleting}, 1, ""},
		{"written before input digests", []*workv1.ManifestWork{w("", "h")}, 1, ""},
	} {
		if got := heldContent(tc.works, "in", tc.parts); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestTruncateEndsAtAWord(t *testing.T) {
	if got := truncate("short", 10); got != "short" {
		t.Errorf("short message changed: %q", got)
	}
	got := truncate("apps/web/deploy.yaml: unknown field resourcez", 33)
	if got != "apps/web/deploy.yaml: unknown…" || len(got) > 33 {
		t.Errorf("truncate = %q (%d bytes)", got, len(got))
	}
	if got := truncate("ééééééééééé", 8); !utf8.ValidString(got) {
		t.Errorf("cut inside a rune: %q", got)
	}
}
