// Package ui is the read-only fleet dashboard: the matrix of Subscriptions ×
// clusters, a page per Subscription and per cluster, and the Channels. It
// reads the hub through informers with the credentials it was started with,
// and tells open pages of every change (server-sent events).
package ui

import (
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	clusterv1 "open-cluster-management.io/api/cluster/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/fleetstatus"
	"github.com/ocm-gitops/ocm-gitops/pkg/source"
)

// DefaultPageSize is how many clusters one page of the matrix shows.
const DefaultPageSize = 100

// Query is what the matrix page was asked for.
type Query struct {
	// Selector keeps the clusters whose labels match (nil: all).
	Selector labels.Selector
	// State keeps the clusters with at least one cell of this class, and the
	// Subscriptions with at least one such cell ("" keeps all).
	State fleetstatus.Class
	// GroupBy aggregates clusters by the value of this label; "" shows one
	// column per cluster, PageSize at a time.
	GroupBy  string
	Page     int
	PageSize int
}

// Inputs are the hub's objects the matrix is made of.
type Inputs struct {
	Subscriptions []*appsv1.Subscription
	Channels      map[string]*appsv1.Channel
	Clusters      []*clusterv1.ManagedCluster
	// Works maps "namespace/name" of a Subscription to its clusters' works.
	Works map[string]map[string]fleetstatus.WorkMeta
}

// Matrix is the fleet matrix page's data.
type Matrix struct {
	Columns []Column `json:"columns"`
	Rows    []Row    `json:"rows"`
	// Totals counts every cell of the selected clusters by class.
	Totals map[fleetstatus.Class]int `json:"totals"`
	// Clusters is how many clusters match the selector and state.
	Clusters int    `json:"clusters"`
	GroupBy  string `json:"groupBy,omitempty"`
	Page     int    `json:"page"`
	Pages    int    `json:"pages"`
}

// Column is one cluster, or a group of clusters sharing a label value.
type Column struct {
	Name string `json:"name"`
	// Clusters is 1 for a cluster column.
	Clusters int `json:"clusters"`
	// Offline counts the clusters whose agent is not available.
	Offline int  `json:"offline"`
	Group   bool `json:"group,omitempty"`
}

// Row is one Subscription.
type Row struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Revision  string `json:"revision,omitempty"`
	CommitURL string `json:"commitURL,omitempty"`
	Ready     string `json:"ready"`
	Reason    string `json:"reason,omitempty"`
	Message   string `json:"message,omitempty"`
	Paused    bool   `json:"paused,omitempty"`
	Cells     []Cell `json:"cells"`
}

// Cell is one Subscription on one column: the worst class and, for a group,
// the clusters by class.
type Cell struct {
	Class   fleetstatus.Class         `json:"class"`
	Counts  map[fleetstatus.Class]int `json:"counts,omitempty"`
	Message string                    `json:"message,omitempty"`
	// Overrides: the cluster holds this Subscription's content for objects
	// other Subscriptions apply differently (the message names them).
	Overrides bool `json:"overrides,omitempty"`
}

// BuildMatrix computes the matrix for q. It is linear in
// Subscriptions × clusters.
func BuildMatrix(in Inputs, q Query) *Matrix {
	if q.PageSize <= 0 {
		q.PageSize = DefaultPageSize
	}
	clusters := selectClusters(in.Clusters, q.Selector)
	subs := slices.Clone(in.Subscriptions)
	sort.Slice(subs, func(i, j int) bool {
		return subs[i].Namespace+"/"+subs[i].Name < subs[j].Namespace+"/"+subs[j].Name
	})
	// grid[s][c] is the cell of subscription s on cluster c.
	grid := make([][]fleetstatus.Cell, len(subs))
	for i, s := range subs {
		cells := fleetstatus.NewCells(&s.Status)
		works := in.Works[s.Namespace+"/"+s.Name]
		grid[i] = make([]fleetstatus.Cell, len(clusters))
		for j, mc := range clusters {
			grid[i][j] = cells.At(mc.Name, works[mc.Name])
		}
	}
	keepC, keepS := filterState(grid, len(clusters), q.State)
	m := &Matrix{Totals: map[fleetstatus.Class]int{}, GroupBy: q.GroupBy}
	var kept []int
	for j := range clusters {
		if keepC[j] {
			kept = append(kept, j)
		}
	}
	m.Clusters = len(kept)
	for i, s := range subs {
		if !keepS[i] {
			continue
		}
		for _, j := range kept {
			if c := grid[i][j].Class; c != fleetstatus.ClassNone {
				m.Totals[c]++
			}
		}
		m.Rows = append(m.Rows, newRow(s, in.Channels))
	}
	if q.GroupBy != "" {
		m.group(clusters, kept, grid, keepS, q.GroupBy)
		return m
	}
	m.page(clusters, kept, grid, keepS, q)
	return m
}

func selectClusters(all []*clusterv1.ManagedCluster, sel labels.Selector) []*clusterv1.ManagedCluster {
	out := make([]*clusterv1.ManagedCluster, 0, len(all))
	for _, mc := range all {
		if sel == nil || sel.Matches(labels.Set(mc.Labels)) {
			out = append(out, mc)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// filterState keeps the clusters and Subscriptions having a cell of state.
func filterState(grid [][]fleetstatus.Cell, n int, state fleetstatus.Class) (clusters, subs []bool) {
	clusters, subs = make([]bool, n), make([]bool, len(grid))
	for i := range grid {
		for j := range n {
			if state == "" || grid[i][j].Class == state {
				clusters[j], subs[i] = true, true
			}
		}
	}
	if state == "" {
		for j := range clusters {
			clusters[j] = true
		}
		for i := range subs {
			subs[i] = true
		}
	}
	return clusters, subs
}

func newRow(s *appsv1.Subscription, channels map[string]*appsv1.Channel) Row {
	r := Row{Namespace: s.Namespace, Name: s.Name, Revision: s.Status.LastAppliedRevision, Ready: string(metav1.ConditionUnknown),
		Paused: s.Labels[appsv1.LabelSubscriptionPause] == "true"}
	if key, err := s.ChannelKey(); err == nil {
		r.CommitURL = fleetstatus.CommitURL(channels[key.String()], r.Revision)
	}
	if c := meta.FindStatusCondition(s.Status.Conditions, appsv1.ConditionReady); c != nil && s.Status.ObservedGeneration >= s.Generation {
		r.Ready, r.Reason, r.Message = string(c.Status), c.Reason, c.Message
	}
	return r
}

// page shows one column per cluster, a page at a time.
func (m *Matrix) page(clusters []*clusterv1.ManagedCluster, kept []int, grid [][]fleetstatus.Cell, keepS []bool, q Query) {
	m.Pages = max(1, (len(kept)+q.PageSize-1)/q.PageSize)
	m.Page = min(max(q.Page, 0), m.Pages-1)
	start := m.Page * q.PageSize
	cols := kept[start:min(start+q.PageSize, len(kept))]
	for _, j := range cols {
		col := Column{Name: clusters[j].Name, Clusters: 1}
		if !available(clusters[j]) {
			col.Offline = 1
		}
		m.Columns = append(m.Columns, col)
	}
	row := 0
	for i := range grid {
		if !keepS[i] {
			continue
		}
		cells := make([]Cell, len(cols))
		for k, j := range cols {
			c := grid[i][j]
			cells[k] = Cell{Class: c.Class, Message: cellTitle(c), Overrides: len(c.Overrides) > 0}
		}
		m.Rows[row].Cells = cells
		row++
	}
}

// group shows one column per value of the label, with counts by class.
func (m *Matrix) group(clusters []*clusterv1.ManagedCluster, kept []int, grid [][]fleetstatus.Cell, keepS []bool, label string) {
	index := map[string]int{}
	var members [][]int
	for _, j := range kept {
		v, ok := clusters[j].Labels[label]
		if !ok {
			v = "(no " + label + ")"
		}
		g, seen := index[v]
		if !seen {
			g = len(m.Columns)
			index[v] = g
			m.Columns = append(m.Columns, Column{Name: v, Group: true})
			members = append(members, nil)
		}
		members[g] = append(members[g], j)
		m.Columns[g].Clusters++
		if !available(clusters[j]) {
			m.Columns[g].Offline++
		}
	}
	m.Pages = 1
	row := 0
	for i := range grid {
		if !keepS[i] {
			continue
		}
		cells := make([]Cell, len(m.Columns))
		for g, js := range members {
			cell := Cell{Class: fleetstatus.ClassNone, Counts: map[fleetstatus.Class]int{}}
			for _, j := range js {
				c := grid[i][j].Class
				if c == fleetstatus.ClassNone {
					continue
				}
				cell.Counts[c]++
				if cell.Class == fleetstatus.ClassNone || c.Rank() < cell.Class.Rank() {
					cell.Class = c
				}
			}
			cell.Message = fleetstatus.CountsText(cell.Counts)
			cells[g] = cell
		}
		m.Rows[row].Cells = cells
		row++
	}
}

func available(mc *clusterv1.ManagedCluster) bool {
	return meta.IsStatusConditionTrue(mc.Status.Conditions, clusterv1.ManagedClusterConditionAvailable)
}

// cellTitle is the text of a cell's tooltip: state, revision, message.
func cellTitle(c fleetstatus.Cell) string {
	if c.Class == fleetstatus.ClassNone {
		return "not selected"
	}
	parts := []string{c.Label()}
	if c.Revision != "" {
		parts = append(parts, source.ShortRevision(c.Revision))
	}
	if c.Message != "" {
		parts = append(parts, c.Message)
	}
	for _, d := range c.Drift {
		parts = append(parts, "drift: "+d.Kind+" "+d.Name+" "+strings.Join(d.Fields, ","))
	}
	return strings.Join(parts, " · ")
}
