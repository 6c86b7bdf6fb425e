package work

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	workv1 "open-cluster-management.io/api/work/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

func TestContest(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w := func(name string, age int, held string) *workv1.ManifestWork {
		mw := &workv1.ManifestWork{ObjectMeta: metav1.ObjectMeta{Namespace: "c", Name: name,
			CreationTimestamp: metav1.NewTime(t0.Add(time.Duration(age) * time.Minute))}}
		if held != "" {
			mw.Annotations = map[string]string{appsv1.AnnotationRemovalHeld: held}
		}
		return mw
	}
	tests := []struct {
		name       string
		self       *workv1.ManifestWork
		mine       string
		others     []contender
		wantWinner string
		whyHas     string
		wantBeaten []string
	}{
		{"older work wins", w("dev", 5, ""), "A", []contender{{w("prod", 1, ""), "B"}}, "prod", "created first", nil},
		{"younger work loses to self", w("prod", 1, ""), "A", []contender{{w("dev", 5, ""), "B"}}, "", "", []string{"c/dev"}},
		{"same content is no conflict", w("dev", 5, ""), "A", []contender{{w("prod", 1, ""), "A"}}, "", "", nil},
		{"held work never wins", w("dev", 5, ""), "A", []contender{{w("prod", 1, "true"), "B"}}, "", "", []string{"c/prod"}},
		{"held self loses to a younger one", w("prod", 1, "yes"), "A", []contender{{w("dev", 5, ""), "B"}}, "dev", "holds the removal of prod", nil},
		{"held false counts as not held", w("dev", 5, ""), "A", []contender{{w("prod", 1, "false"), "B"}}, "prod", "created first", nil},
		{"both held: the older wins", w("dev", 5, "true"), "A", []contender{{w("prod", 1, "true"), "B"}}, "prod", "created first", nil},
		{"same time: the name decides", w("b", 1, ""), "A", []contender{{w("a", 1, ""), "B"}}, "a", "name sorts first", nil},
		{"the winner's content wins for all who share it", w("mid", 3, ""), "A", []contender{{w("old", 1, ""), "A"}, {w("new", 5, ""), "B"}}, "", "", []string{"c/new"}},
		{"a create-only self claims nothing", w("dev", 5, ""), "", []contender{{w("prod", 1, ""), "B"}}, "", "", nil},
		{"a create-only other neither wins nor is beaten", w("dev", 5, ""), "A", []contender{{w("prod", 1, ""), ""}}, "", "", nil},
		{"a third work with other content", w("mid", 3, ""), "A", []contender{{w("new", 5, ""), "B"}, {w("old", 1, ""), "C"}}, "old", "created first", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			winner, why, beaten := contest(tc.self, tc.mine, tc.others)
			got := ""
			if winner != nil {
				got = winner.work.Name
			}
			if got != tc.wantWinner || !strings.Contains(why, tc.whyHas) || strings.Join(beaten, ",") != strings.Join(tc.wantBeaten, ",") {
				t.Errorf("contest = winner %q (%s), beaten %v; want %q (%s), %v", got, why, beaten, tc.wantWinner, tc.whyHas, tc.wantBeaten)
			}
		})
	}
}
