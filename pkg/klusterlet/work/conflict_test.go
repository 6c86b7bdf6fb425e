package work

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
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
		{"younger work loses to self", w("prod", 1, ""), "A", []contender{{w("dev", 5, ""), "B"}}, "", "", []string{"ManifestWork c/dev"}},
		{"same content is no conflict", w("dev", 5, ""), "A", []contender{{w("prod", 1, ""), "A"}}, "", "", nil},
		{"held work never wins", w("dev", 5, ""), "A", []contender{{w("prod", 1, "true"), "B"}}, "", "", []string{"ManifestWork c/prod"}},
		{"held self loses to a younger one", w("prod", 1, "yes"), "A", []contender{{w("dev", 5, ""), "B"}}, "dev", "holds the removal of prod", nil},
		{"held false counts as not held", w("dev", 5, ""), "A", []contender{{w("prod", 1, "false"), "B"}}, "prod", "created first", nil},
		{"both held: the older wins", w("dev", 5, "true"), "A", []contender{{w("prod", 1, "true"), "B"}}, "prod", "created first", nil},
		{"same time: the name decides", w("b", 1, ""), "A", []contender{{w("a", 1, ""), "B"}}, "a", "name sorts first", nil},
		{"the winner's content wins for all who share it", w("mid", 3, ""), "A", []contender{{w("old", 1, ""), "A"}, {w("new", 5, ""), "B"}}, "", "", []string{"ManifestWork c/new"}},
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

// The winner's manifest carries Overrides=True naming the works it beats
// (at most maxListed of them), keeps it unchanged across syncs of the same
// contest, and loses it once the contest ends.
func TestOverridesCondition(t *testing.T) {
	live := &unstructured.Unstructured{Object: map[string]any{}}
	m := workv1.ManifestResourceMeta{Kind: "ConfigMap", Name: "a", Namespace: "n"}
	winner := &outcome{meta: m, live: live, beats: []string{"ManifestWork c/dev of Subscription fleet/dev", "ManifestWork c/ocm"}}
	conds := manifestConditions(nil, winner, 2)
	c := find(conds, ConditionOverrides)
	want := "ManifestWork c/dev of Subscription fleet/dev, ManifestWork c/ocm also apply this object with different content; " +
		"this work takes precedence and theirs is not applied"
	if c == nil || c.Status != metav1.ConditionTrue || c.Reason != ReasonTakesPrecedence || c.Message != want || c.ObservedGeneration != 2 {
		t.Fatalf("Overrides = %+v, want True %s %q", c, ReasonTakesPrecedence, want)
	}
	if a := find(conds, workv1.ManifestApplied); a == nil || a.Status != metav1.ConditionTrue || a.Message != "" {
		t.Errorf("Applied = %+v, want True with no message (Overrides says it)", a)
	}
	if again := find(manifestConditions(conds, winner, 2), ConditionOverrides); !again.LastTransitionTime.Equal(&c.LastTransitionTime) {
		t.Errorf("the same contest moved the transition time: %v, was %v", again.LastTransitionTime, c.LastTransitionTime)
	}
	if c := find(manifestConditions(conds, &outcome{meta: m, live: live}, 3), ConditionOverrides); c != nil {
		t.Errorf("the contest ended, Overrides stays: %+v", c)
	}
	loser := &outcome{meta: m, live: live, err: &conflictError{object: "ConfigMap n/a", winner: "c/old", why: "it was created first"}}
	if c := find(manifestConditions(conds, loser, 3), ConditionOverrides); c != nil {
		t.Errorf("a work that now loses keeps Overrides: %+v", c)
	}
	many := &outcome{meta: m, live: live, beats: []string{"ManifestWork c/a", "ManifestWork c/b", "ManifestWork c/c", "ManifestWork c/d", "ManifestWork c/e", "ManifestWork c/f", "ManifestWork c/g"}}
	if c := find(manifestConditions(nil, many, 1), ConditionOverrides); !strings.Contains(c.Message, "ManifestWork c/e and 2 more also apply") ||
		strings.Contains(c.Message, "c/f") {
		t.Errorf("Overrides with 7 works = %q, want 5 named and 2 more", c.Message)
	}
}
