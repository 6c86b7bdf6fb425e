package ui

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"
	workv1 "open-cluster-management.io/api/work/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/apis/scheme"
	"github.com/ocm-gitops/ocm-gitops/pkg/fleetstatus"
	"github.com/ocm-gitops/ocm-gitops/pkg/source"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Server serves the dashboard from an informer cache of the hub.
type Server struct {
	cache  cache.Cache
	direct client.Reader
	pages  *template.Template
	log    logr.Logger
	// changed is closed and replaced on every change the informers see.
	mu      sync.Mutex
	changed chan struct{}
}

// New starts informers on the hub with cfg's credentials and waits (at most
// syncTimeout) for them to fill; the dashboard shows only what they may read.
func New(ctx context.Context, cfg *rest.Config, log logr.Logger, syncTimeout time.Duration) (*Server, error) {
	sch := scheme.New()
	c, err := cache.New(cfg, cache.Options{Scheme: sch})
	if err != nil {
		return nil, fmt.Errorf("informer cache: %w", err)
	}
	direct, err := client.New(cfg, client.Options{Scheme: sch})
	if err != nil {
		return nil, fmt.Errorf("hub client: %w", err)
	}
	pages, err := template.New("").Funcs(funcs).ParseFS(assets, "templates/*.html")
	if err != nil {
		return nil, err
	}
	s := &Server{cache: c, direct: direct, pages: pages, log: log, changed: make(chan struct{})}
	go func() {
		if err := c.Start(ctx); err != nil {
			log.Error(err, "informers stopped")
		}
	}()
	notify := toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { s.notify() },
		UpdateFunc: func(any, any) { s.notify() },
		DeleteFunc: func(any) { s.notify() },
	}
	sctx, cancel := context.WithTimeout(ctx, syncTimeout)
	defer cancel()
	for _, obj := range watched() {
		inf, err := c.GetInformer(sctx, obj)
		if err != nil {
			return nil, fmt.Errorf("watch %T: %w (the kubeconfig needs list and watch on it)", obj, err)
		}
		if _, err := inf.AddEventHandler(notify); err != nil {
			return nil, err
		}
	}
	if !c.WaitForCacheSync(sctx) {
		return nil, fmt.Errorf("the hub's Subscriptions, Channels, ManagedClusters and ManifestWorks were not all read within %s: can the kubeconfig list and watch them?", syncTimeout)
	}
	return s, nil
}

// watched are the kinds the dashboard keeps in its cache; ManifestWorks by
// their metadata only, which is all the matrix needs.
func watched() []client.Object {
	works := &metav1.PartialObjectMetadata{}
	works.SetGroupVersionKind(workv1.SchemeGroupVersion.WithKind("ManifestWork"))
	return []client.Object{&appsv1.Subscription{}, &appsv1.Channel{}, &clusterv1.ManagedCluster{}, &clusterv1beta2.ManagedClusterSet{}, works}
}

func (s *Server) notify() {
	s.mu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

func (s *Server) changes() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// Handler serves the pages, their JSON, the event stream and the assets.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(assets, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", s.matrixPage)
	mux.HandleFunc("GET /api/matrix", s.matrixJSON)
	mux.HandleFunc("GET /subscriptions/{namespace}/{name}", s.subscriptionPage)
	mux.HandleFunc("GET /clusters/{name}", s.clusterPage)
	mux.HandleFunc("GET /channels", s.channelsPage)
	mux.HandleFunc("GET /events", s.events)
	return mux
}

// inputs reads the matrix's objects from the cache.
func (s *Server) inputs(ctx context.Context) (Inputs, error) {
	var subs appsv1.SubscriptionList
	var chans appsv1.ChannelList
	var clusters clusterv1.ManagedClusterList
	works := &metav1.PartialObjectMetadataList{}
	works.SetGroupVersionKind(workv1.SchemeGroupVersion.WithKind("ManifestWorkList"))
	for _, l := range []client.ObjectList{&subs, &chans, &clusters, works} {
		if err := s.cache.List(ctx, l); err != nil {
			return Inputs{}, err
		}
	}
	in := Inputs{Channels: map[string]*appsv1.Channel{}, Works: map[string]map[string]fleetstatus.WorkMeta{}}
	for i := range subs.Items {
		in.Subscriptions = append(in.Subscriptions, &subs.Items[i])
	}
	for i := range chans.Items {
		in.Channels[chans.Items[i].Namespace+"/"+chans.Items[i].Name] = &chans.Items[i]
	}
	for i := range clusters.Items {
		in.Clusters = append(in.Clusters, &clusters.Items[i])
	}
	for _, w := range works.Items {
		sub := w.Annotations[appsv1.AnnotationHostingSubscription]
		if sub == "" {
			continue
		}
		if in.Works[sub] == nil {
			in.Works[sub] = map[string]fleetstatus.WorkMeta{}
		}
		held, ok := w.Annotations[appsv1.AnnotationRemovalHeld]
		in.Works[sub][w.Namespace] = fleetstatus.WorkMeta{Exists: true, RemovalHeld: ok && held != "false", Revision: w.Annotations[appsv1.AnnotationRevision]}
	}
	return in, nil
}

// parseQuery reads the matrix page's query: l (label selector), state,
// group (label) and page.
func parseQuery(r *http.Request) (Query, error) {
	v := r.URL.Query()
	q := Query{State: fleetstatus.Class(v.Get("state")), GroupBy: v.Get("group")}
	if l := v.Get("l"); l != "" {
		sel, err := labels.Parse(l)
		if err != nil {
			return q, fmt.Errorf("label selector %q: %w", l, err)
		}
		q.Selector = sel
	}
	if q.State != "" && q.State.Rank() == len(fleetstatus.Classes()) {
		return q, fmt.Errorf("state %q: want one of %v", q.State, fleetstatus.Classes())
	}
	if p := v.Get("page"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 {
			return q, fmt.Errorf("page %q: want a number from 1", p)
		}
		q.Page = n - 1
	}
	return q, nil
}

func (s *Server) matrix(r *http.Request) (*Matrix, Query, error) {
	q, err := parseQuery(r)
	if err != nil {
		return nil, q, err
	}
	in, err := s.inputs(r.Context())
	if err != nil {
		return nil, q, err
	}
	return BuildMatrix(in, q), q, nil
}

func (s *Server) matrixJSON(w http.ResponseWriter, r *http.Request) {
	m, _, err := s.matrix(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(m)
}

// matrixView is what the matrix template gets.
type matrixView struct {
	*Matrix
	Query   url
	Classes []fleetstatus.Class
	// Labels are the cluster label keys to group by.
	Labels []string
	Error  string
}

// url carries the query's values to the template.
type url struct {
	L, State, Group string
}

func (s *Server) matrixPage(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	view := matrixView{Query: url{L: v.Get("l"), State: v.Get("state"), Group: v.Get("group")}, Classes: fleetstatus.Classes()}
	m, _, err := s.matrix(r)
	if err != nil {
		view.Error = err.Error()
		m = &Matrix{}
	}
	view.Matrix = m
	var clusters clusterv1.ManagedClusterList
	if err := s.cache.List(r.Context(), &clusters); err == nil {
		view.Labels = labelKeys(clusters.Items)
	}
	s.render(w, r, "matrix", "Fleet", view)
}

func labelKeys(clusters []clusterv1.ManagedCluster) []string {
	seen := map[string]bool{}
	for _, mc := range clusters {
		for k := range mc.Labels {
			seen[k] = true
		}
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// page is what the layout template gets.
type page struct {
	Title   string
	Content template.HTML
}

// render executes a page template; with ?partial=1 only its content, which
// the page's script swaps in when the hub changes.
func (s *Server) render(w http.ResponseWriter, r *http.Request, name, title string, data any) {
	var buf bytes.Buffer
	if err := s.pages.ExecuteTemplate(&buf, name, data); err != nil {
		s.log.Error(err, "render", "page", name)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if r.URL.Query().Get("partial") == "1" {
		_, _ = w.Write(buf.Bytes())
		return
	}
	if err := s.pages.ExecuteTemplate(w, "layout", page{Title: title, Content: template.HTML(buf.String())}); err != nil { //nolint:gosec // our own template's output
		s.log.Error(err, "render layout")
	}
}

// events tells a page that the hub changed, at most every 250ms.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	fmt.Fprint(w, ": connected\n\n")
	flusher.Flush()
	ctx := r.Context()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.changes():
		}
		// Let a burst of changes settle into one refresh.
		select {
		case <-ctx.Done():
			return
		case <-time.After(250 * time.Millisecond):
		}
		if _, err := fmt.Fprint(w, "event: change\ndata: {}\n\n"); err != nil {
			return
		}
		flusher.Flush()
	}
}

// subscriptionView is the Subscription page's data.
type subscriptionView struct {
	Sub       *appsv1.Subscription
	Row       Row
	Channel   string
	Clusters  []clusterCell
	Events    []eventsv1.Event
	Objects   []string
	ObjectsOn string
	Error     string
}

type clusterCell struct {
	Name string
	fleetstatus.Cell
}

func (s *Server) subscriptionPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	key := client.ObjectKey{Namespace: r.PathValue("namespace"), Name: r.PathValue("name")}
	sub := &appsv1.Subscription{}
	if err := s.cache.Get(ctx, key, sub); err != nil {
		http.Error(w, fmt.Sprintf("Subscription %s: %v", key, err), http.StatusNotFound)
		return
	}
	in, err := s.inputs(ctx)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	v := subscriptionView{Sub: sub, Row: newRow(sub, in.Channels), Channel: sub.Spec.Channel}
	cells := fleetstatus.NewCells(&sub.Status)
	works := in.Works[key.String()]
	for _, mc := range selectClusters(in.Clusters, nil) {
		if c := cells.At(mc.Name, works[mc.Name]); c.Class != fleetstatus.ClassNone {
			v.Clusters = append(v.Clusters, clusterCell{Name: mc.Name, Cell: c})
		}
	}
	sort.SliceStable(v.Clusters, func(i, j int) bool { return v.Clusters[i].Class.Rank() < v.Clusters[j].Class.Rank() })
	var evs eventsv1.EventList
	if err := s.direct.List(ctx, &evs, client.InNamespace(key.Namespace)); err == nil {
		for _, e := range evs.Items {
			if e.Regarding.Kind == "Subscription" && e.Regarding.Name == key.Name {
				v.Events = append(v.Events, e)
			}
		}
	}
	v.Objects, v.ObjectsOn = s.renderedObjects(ctx, works)
	s.render(w, r, "subscription", "Subscription "+key.String(), v)
}

// renderedObjects lists the objects of one cluster's work of the
// Subscription (every cluster gets the same list, values aside).
func (s *Server) renderedObjects(ctx context.Context, works map[string]fleetstatus.WorkMeta) ([]string, string) {
	names := make([]string, 0, len(works))
	for c := range works {
		names = append(names, c)
	}
	sort.Strings(names)
	for _, cluster := range names {
		var list workv1.ManifestWorkList
		if err := s.direct.List(ctx, &list, client.InNamespace(cluster)); err != nil {
			return nil, ""
		}
		for _, w := range list.Items {
			var out []string
			for _, m := range w.Spec.Workload.Manifests {
				var o struct {
					Kind     string            `json:"kind"`
					Metadata metav1.ObjectMeta `json:"metadata"`
				}
				if json.Unmarshal(m.Raw, &o) == nil {
					out = append(out, strings.TrimPrefix(o.Kind+" "+o.Metadata.Namespace+"/"+o.Metadata.Name, "/"))
				}
			}
			if len(out) > 0 {
				return out, cluster
			}
		}
	}
	return nil, ""
}

// clusterView is the cluster page's data.
type clusterView struct {
	Cluster   *clusterv1.ManagedCluster
	Available bool
	Sets      []string
	Subs      []subCell
}

type subCell struct {
	Key string
	fleetstatus.Cell
}

func (s *Server) clusterPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	mc := &clusterv1.ManagedCluster{}
	if err := s.cache.Get(ctx, client.ObjectKey{Name: r.PathValue("name")}, mc); err != nil {
		http.Error(w, fmt.Sprintf("cluster %s: %v", r.PathValue("name"), err), http.StatusNotFound)
		return
	}
	in, err := s.inputs(ctx)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	v := clusterView{Cluster: mc, Available: available(mc)}
	var sets clusterv1beta2.ManagedClusterSetList
	if err := s.cache.List(ctx, &sets); err == nil {
		for _, set := range sets.Items {
			if sel, err := clusterSetSelector(&set); err == nil && sel.Matches(labels.Set(mc.Labels)) {
				v.Sets = append(v.Sets, set.Name)
			}
		}
	}
	for _, sub := range in.Subscriptions {
		key := sub.Namespace + "/" + sub.Name
		if c := fleetstatus.NewCells(&sub.Status).At(mc.Name, in.Works[key][mc.Name]); c.Class != fleetstatus.ClassNone {
			v.Subs = append(v.Subs, subCell{Key: key, Cell: c})
		}
	}
	sort.Slice(v.Subs, func(i, j int) bool { return v.Subs[i].Key < v.Subs[j].Key })
	s.render(w, r, "cluster", "Cluster "+mc.Name, v)
}

// clusterSetSelector is the label selector of a set's members.
func clusterSetSelector(set *clusterv1beta2.ManagedClusterSet) (labels.Selector, error) {
	cs := set.Spec.ClusterSelector
	if cs.SelectorType == clusterv1beta2.LabelSelector && cs.LabelSelector != nil {
		return metav1.LabelSelectorAsSelector(cs.LabelSelector)
	}
	return labels.SelectorFromSet(labels.Set{clusterv1beta2.ClusterSetLabel: set.Name}), nil
}

// channelView is one row of the Channels page.
type channelView struct {
	fleetstatus.Channel
	FetchedAt     map[string]time.Time
	Subscriptions []string
}

func (s *Server) channelsPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var chans appsv1.ChannelList
	var subs appsv1.SubscriptionList
	for _, l := range []client.ObjectList{&chans, &subs} {
		if err := s.cache.List(ctx, l); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	users := map[string][]string{}
	for _, sub := range subs.Items {
		if k, err := sub.ChannelKey(); err == nil {
			users[k.String()] = append(users[k.String()], sub.Namespace+"/"+sub.Name)
		}
	}
	f := fleetstatus.Build(chans.Items, nil, nil)
	rows := make([]channelView, 0, len(f.Channels))
	for _, c := range f.Channels {
		row := channelView{Channel: c, FetchedAt: map[string]time.Time{}, Subscriptions: users[c.Namespace+"/"+c.Name]}
		for _, ch := range chans.Items {
			if ch.Namespace == c.Namespace && ch.Name == c.Name {
				for _, a := range ch.Status.Artifacts {
					row.FetchedAt[a.Ref] = a.FetchedAt.Time
				}
			}
		}
		rows = append(rows, row)
	}
	s.render(w, r, "channels", "Channels", rows)
}

var funcs = template.FuncMap{
	"short": source.ShortRevision,
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return time.Since(t).Round(time.Second).String() + " ago"
	},
	"cond": func(conds []metav1.Condition, typ string) *metav1.Condition {
		return meta.FindStatusCondition(conds, typ)
	},
	"counts": func(m map[fleetstatus.Class]int) string { return fleetstatus.CountsText(m) },
	"label":  func(c fleetstatus.Cell) string { return c.Label() },
	"title":  cellTitle,
	"add":    func(a, b int) int { return a + b },
	"query": func(q url, page int) template.URL {
		v := make([]string, 0, 4)
		for _, kv := range [][2]string{{"l", q.L}, {"state", q.State}, {"group", q.Group}} {
			if kv[1] != "" {
				v = append(v, kv[0]+"="+template.URLQueryEscaper(kv[1]))
			}
		}
		if page > 0 {
			v = append(v, "page="+strconv.Itoa(page))
		}
		return template.URL("?" + strings.Join(v, "&")) //nolint:gosec // each value escaped
	},
}
