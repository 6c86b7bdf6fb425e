package ui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	clusterv1 "open-cluster-management.io/api/cluster/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/fleetstatus"
)

// fleet makes n clusters (region a or b by parity, every 7th offline) and
// subs Subscriptions on all of them; cluster i of Subscription s is failing
// when i%50 == s, drifted when i%50 == s+1, else applied. Statuses list at
// most 100 clusters, needing attention first, as the hub writes them.
func fleet(n, subs int) Inputs {
	in := Inputs{Works: map[string]map[string]fleetstatus.WorkMeta{}}
	for i := range n {
		mc := &clusterv1.ManagedCluster{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("c%05d", i),
			Labels: map[string]string{"region": string(rune('a' + i%2))}}}
		status := metav1.ConditionTrue
		if i%7 == 0 {
			status = metav1.ConditionFalse
		}
		mc.Status.Conditions = []metav1.Condition{{Type: clusterv1.ManagedClusterConditionAvailable, Status: status}}
		in.Clusters = append(in.Clusters, mc)
	}
	for s := range subs {
		sub := &appsv1.Subscription{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: fmt.Sprintf("app%02d", s)}}
		sub.Status.Summary.Selected = int32(n)
		works := map[string]fleetstatus.WorkMeta{}
		var applied []appsv1.ClusterStatus
		for i, mc := range in.Clusters {
			works[mc.Name] = fleetstatus.WorkMeta{Exists: true, Revision: "main@sha1:0123456789abcdef0123456789abcdef01234567"}
			switch i % 50 {
			case s:
				sub.Status.Summary.Failed++
				sub.Status.Clusters = append(sub.Status.Clusters, appsv1.ClusterStatus{Name: mc.Name, State: appsv1.ClusterFailed, Message: "apply failed"})
			case s + 1:
				sub.Status.Summary.Drifted++
				sub.Status.Clusters = append(sub.Status.Clusters, appsv1.ClusterStatus{Name: mc.Name, State: appsv1.ClusterDrifted})
			default:
				sub.Status.Summary.Applied++
				applied = append(applied, appsv1.ClusterStatus{Name: mc.Name, State: appsv1.ClusterApplied})
			}
		}
		sub.Status.Clusters = append(sub.Status.Clusters, applied...)
		if len(sub.Status.Clusters) > 100 {
			sub.Status.Clusters, sub.Status.ClustersTruncated = sub.Status.Clusters[:100], true
		}
		in.Subscriptions = append(in.Subscriptions, sub)
		in.Works["fleet/"+sub.Name] = works
	}
	return in
}

func TestBuildMatrix(t *testing.T) {
	in := fleet(6, 2)
	// app01 does not go to c00005; app00's status is behind on c00004.
	delete(in.Works["fleet/app01"], "c00005")
	in.Subscriptions[1].Status.Summary.Selected--
	in.Subscriptions[1].Status.Summary.Applied--
	in.Subscriptions[1].Status.Clusters = slices.DeleteFunc(in.Subscriptions[1].Status.Clusters,
		func(c appsv1.ClusterStatus) bool { return c.Name == "c00005" })
	in.Subscriptions[0].Status.Clusters = append(in.Subscriptions[0].Status.Clusters, appsv1.ClusterStatus{Name: "c00004", State: "Stale", Message: "agent silent"})

	classes := func(m *Matrix) []string {
		var out []string
		for _, r := range m.Rows {
			s := r.Name + ":"
			for _, c := range r.Cells {
				s += " " + string(c.Class)
				if c.Counts != nil {
					s += fmt.Sprint(len(c.Counts))
				}
			}
			out = append(out, s)
		}
		return out
	}
	for _, c := range []struct {
		name string
		q    Query
		want string
		cols string
	}{
		{"all", Query{}, "[app00: failing drifted healthy healthy stale healthy app01: healthy failing drifted healthy healthy ]",
			"[c00000 c00001 c00002 c00003 c00004 c00005]"},
		{"page 2 of 3", Query{PageSize: 2, Page: 1}, "[app00: healthy healthy app01: drifted healthy]", "[c00002 c00003]"},
		{"drifted only", Query{State: fleetstatus.ClassDrifted}, "[app00: drifted healthy app01: failing drifted]", "[c00001 c00002]"},
		{"stale only", Query{State: fleetstatus.ClassStale}, "[app00: stale]", "[c00004]"},
		{"region=a", Query{Selector: labels.SelectorFromSet(labels.Set{"region": "a"})}, "[app00: failing healthy stale app01: healthy drifted healthy]", "[c00000 c00002 c00004]"},
		{"by region", Query{GroupBy: "region"}, "[app00: failing3 drifted2 app01: drifted2 failing2]", "[a b]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := BuildMatrix(in, c.q)
			var cols []string
			for _, col := range m.Columns {
				cols = append(cols, col.Name)
			}
			if got := fmt.Sprint(classes(m)); got != c.want {
				t.Errorf("cells %s, want %s", got, c.want)
			}
			if got := fmt.Sprint(cols); got != c.cols {
				t.Errorf("columns %s, want %s", got, c.cols)
			}
		})
	}
	m := BuildMatrix(in, Query{GroupBy: "region"})
	if m.Columns[0].Offline != 1 || m.Columns[0].Clusters != 3 || m.Rows[0].Cells[0].Message != "1 failing, 1 stale, 1 healthy" {
		t.Errorf("group a: %+v %+v", m.Columns[0], m.Rows[0].Cells[0])
	}
	if m := BuildMatrix(in, Query{PageSize: 2, Page: 99}); m.Page != 2 || m.Pages != 3 {
		t.Errorf("page 99 of 3 = page %d of %d, want the last", m.Page, m.Pages)
	}
}

// TestMatrixMarksOverrides: a healthy cell where the Subscription's content
// wins over another's for shared objects reads "healthy, overrides".
func TestMatrixMarksOverrides(t *testing.T) {
	in := fleet(3, 1)
	for i, c := range in.Subscriptions[0].Status.Clusters {
		if c.Name == "c00002" {
			in.Subscriptions[0].Status.Clusters[i].Overrides = []string{"fleet/other"}
			in.Subscriptions[0].Status.Clusters[i].Message = "overrides fleet/other on ConfigMap a/b"
		}
	}
	m := BuildMatrix(in, Query{})
	if c := m.Rows[0].Cells[2]; !c.Overrides || c.Class != fleetstatus.ClassHealthy || !strings.Contains(c.Message, "overrides fleet/other on ConfigMap a/b") {
		t.Fatalf("cell c00002 = %+v", c)
	}
	if c := m.Rows[0].Cells[1]; c.Overrides {
		t.Fatalf("cell c00001 = %+v", c)
	}
	pages, err := template.New("").Funcs(funcs).ParseFS(assets, "templates/*.html")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, "matrix", matrixView{Matrix: m, Classes: fleetstatus.Classes()}); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(buf.String(), ">healthy, overrides</td>"); n != 1 {
		t.Errorf("%d cells read \"healthy, overrides\", want 1:\n%s", n, buf.String())
	}
}

// BenchmarkMatrix5000 is the matrix page at the scale harness's size: 5,000
// clusters × 10 Subscriptions, one page of clusters and grouped by a label,
// to the HTML the page serves and to its JSON. The baseline is the page of a
// fleet of 100 clusters (one page, nothing to skip), measured in the same run.
func BenchmarkMatrix5000(b *testing.B) {
	big, small := fleet(5000, 10), fleet(100, 10)
	pages, err := template.New("").Funcs(funcs).ParseFS(assets, "templates/*.html")
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		in   Inputs
		q    Query
	}{{"baseline-100-clusters", small, Query{}}, {"page", big, Query{}}, {"grouped", big, Query{GroupBy: "region"}}, {"failing", big, Query{State: fleetstatus.ClassFailing}}} {
		in := c.in
		b.Run(c.name+"/html", func(b *testing.B) {
			var buf bytes.Buffer
			for b.Loop() {
				buf.Reset()
				m := BuildMatrix(in, c.q)
				if err := pages.ExecuteTemplate(&buf, "matrix", matrixView{Matrix: m, Classes: fleetstatus.Classes()}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(buf.Len()), "bytes/page")
		})
		b.Run(c.name+"/json", func(b *testing.B) {
			var buf bytes.Buffer
			for b.Loop() {
				buf.Reset()
				if err := json.NewEncoder(&buf).Encode(BuildMatrix(in, c.q)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(buf.Len()), "bytes/page")
		})
	}
}
