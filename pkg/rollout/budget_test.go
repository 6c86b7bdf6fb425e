package rollout

import (
	"fmt"
	"strings"
	"testing"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

func clusterNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("c%02d", i)
	}
	return out
}

func TestCheckBudget(t *testing.T) {
	ten := clusterNames(10)
	token3 := Token(ten[:3], "r2")
	cases := []struct {
		name      string
		r         Removal
		hold      bool
		confirmed bool
		message   string
	}{
		{name: "nothing removed", r: Removal{Deployed: 10, BudgetPercent: 0}},
		{name: "within the budget", r: Removal{Deployed: 10, Clusters: ten[:2], Revision: "r2", BudgetPercent: 20}},
		{name: "exactly the budget", r: Removal{Deployed: 10, Clusters: ten[:3], Revision: "r2", BudgetPercent: 30}},
		{name: "over the budget", r: Removal{Deployed: 10, Clusters: ten[:3], Revision: "r2", BudgetPercent: 20}, hold: true,
			message: "removing this Subscription's objects from 3 of 10 clusters (30%: c00, c01, c02) exceeds the deletion budget of 20%; to go ahead, annotate the Subscription with " +
				appsv1.AnnotationConfirmDeletion + "=" + token3},
		{name: "confirmed", r: Removal{Deployed: 10, Clusters: ten[:3], Revision: "r2", BudgetPercent: 20, Confirmation: token3}, confirmed: true},
		{name: "confirmation for another revision", r: Removal{Deployed: 10, Clusters: ten[:3], Revision: "r3", BudgetPercent: 20, Confirmation: token3},
			hold: true, message: "which was given for a different removal"},
		{name: "confirmation for fewer clusters", r: Removal{Deployed: 10, Clusters: ten[:4], Revision: "r2", BudgetPercent: 20, Confirmation: token3},
			hold: true, message: "4 of 10 clusters (40%"},
		{name: "budget 0 holds any removal", r: Removal{Deployed: 100, Clusters: ten[:1], Revision: "r2"}, hold: true, message: "1 of 100 clusters (1%"},
		{name: "budget 100 never holds", r: Removal{Deployed: 10, Clusters: ten, Revision: "delete", BudgetPercent: 100}},
		{name: "deleting everything", r: Removal{Deployed: 10, Clusters: ten, Revision: "delete", BudgetPercent: 50}, hold: true, message: "10 of 10 clusters (100%: c00, c01, c02, c03, c04 and 5 more)"},
		{name: "no cluster known to hold them counts as one", r: Removal{Deployed: 0, Clusters: ten[:1], Revision: "r2", BudgetPercent: 50}, hold: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := CheckBudget(tc.r)
			if d.Hold != tc.hold || d.Confirmed != tc.confirmed {
				t.Fatalf("hold %v confirmed %v, want %v %v (%s)", d.Hold, d.Confirmed, tc.hold, tc.confirmed, d.Message)
			}
			if len(tc.r.Clusters) > 0 && d.Token != Token(tc.r.Clusters, tc.r.Revision) {
				t.Errorf("Token = %q, want %q", d.Token, Token(tc.r.Clusters, tc.r.Revision))
			}
			if len(tc.r.Clusters) == 0 && d.Token != "" {
				t.Errorf("Token = %q for no removal", d.Token)
			}
			if !strings.Contains(d.Message, tc.message) || (!d.Hold && d.Message != "") {
				t.Errorf("Message = %q, want it to contain %q", d.Message, tc.message)
			}
		})
	}
}

func TestToken(t *testing.T) {
	a := Token([]string{"b", "a", "c"}, "r1")
	if a != Token([]string{"c", "b", "a", "a"}, "r1") {
		t.Error("token depends on order or duplicates")
	}
	if len(a) != 16 || strings.Trim(a, "0123456789abcdef") != "" {
		t.Errorf("token %q is not 16 hex digits", a)
	}
	for _, other := range []string{Token([]string{"a", "b"}, "r1"), Token([]string{"a", "b", "c"}, "r2"), Token([]string{"ab", "c"}, "r1"), Token([]string{"a", "b", "c"}, "")} {
		if other == a {
			t.Errorf("different removals share token %q", a)
		}
	}
}
