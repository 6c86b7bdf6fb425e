package preview

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	clusterv1alpha1 "open-cluster-management.io/api/cluster/v1alpha1"
	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/placement"
	"github.com/ocm-gitops/ocm-gitops/pkg/render"
	"github.com/ocm-gitops/ocm-gitops/pkg/source"
)

// DefaultMaxRemovalPercent is the share of its clusters a Subscription may
// lose in one change before the preview flags it.
const DefaultMaxRemovalPercent = 50

// Options say what to compare.
type Options struct {
	// Repo is a local clone of the fleet repository (a work tree or a bare
	// repository) holding both revisions.
	Repo string
	// Base and Head are the revisions to compare: branch, tag or commit.
	Base, Head string
	// Inventory is the hub state: clusters, sets, bindings, scores, and the
	// Placements, decisions, Channels and Subscriptions the hub holds.
	Inventory *Inventory
	// ObjectsPath narrows the search for hub objects to a folder of the
	// repository ("" searches the whole tree).
	ObjectsPath string
	// Channels are the Channels (namespace/name) whose content is this
	// repository. Empty: every Git Channel whose pathname is one of the
	// repository's remotes, or every Git Channel when it has no remote.
	Channels []string
	// Branch, when set, is the branch the change merges into: Subscriptions
	// following another branch are compared by placement only.
	Branch string
	// MaxRemovalPercent flags a Subscription that loses more than this share
	// of its clusters (0 flags any loss).
	MaxRemovalPercent float64
	// Now is the time taints and scores are judged at (zero: time.Now()).
	Now time.Time
	// Renderer renders the Subscriptions (nil: render.NewRenderer()).
	Renderer *render.Renderer
	// TempDir receives the exported trees, removed when Run returns ("":
	// the system's temporary folder).
	TempDir string
	// MaxTreeBytes bounds the size of one exported revision (default 1 GiB).
	MaxTreeBytes int64
	// Sources, when set, fetches the content of Subscriptions that do not
	// render from this repository (a Helm repository, a bucket, another Git
	// repository) when the change moves their inputs (a chart's version
	// range, a branch, a path), without credentials, so their diff is shown.
	// Nil compares them by placement only and says so.
	Sources *source.Store
	Logger  logr.Logger
}

// Run compares what the fleet repository places and renders at Base and at
// Head against the inventory.
func Run(ctx context.Context, o Options) (*Report, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(o.TempDir, "ocm-gitops-preview-")
	if err != nil {
		return nil, fmt.Errorf("create a folder for the exported revisions: %w", err)
	}
	defer os.RemoveAll(tmp)

	r := &repo{path: cmp.Or(o.Repo, "."), dir: tmp, trees: map[string]string{}, maxBytes: o.MaxTreeBytes}
	rep := &Report{
		Base:              Revision{Ref: o.Base},
		Head:              Revision{Ref: o.Head},
		Clusters:          len(o.Inventory.Clusters),
		MaxRemovalPercent: o.MaxRemovalPercent,
		Subscriptions:     []SubscriptionChange{},
	}
	if rep.Base.Commit, err = r.commit(ctx, o.Base); err != nil {
		return nil, fmt.Errorf("base: %w", err)
	}
	if rep.Head.Commit, err = r.commit(ctx, o.Head); err != nil {
		return nil, fmt.Errorf("head: %w", err)
	}
	p, err := newPreviewer(ctx, o, r)
	if err != nil {
		return nil, err
	}
	base, head, err := p.sides(ctx, rep)
	if err != nil {
		return nil, err
	}
	for _, k := range subscriptionKeys(base.hub, head.hub) {
		sc, err := p.compare(ctx, k, base, head)
		if err != nil {
			return nil, err
		}
		o.Logger.V(1).Info("compared", "subscription", k, "change", sc.Change, "gained", len(sc.Clusters.Gained),
			"lost", len(sc.Clusters.Lost), "updated", sc.Clusters.Updated, "groups", len(sc.Groups))
		rep.add(sc)
	}
	return rep, nil
}

// withDefaults fills the defaults in and checks the options.
func (o Options) withDefaults() (Options, error) {
	if o.Inventory == nil {
		o.Inventory = &Inventory{}
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.Renderer == nil {
		o.Renderer = render.NewRenderer()
	}
	if o.MaxTreeBytes <= 0 {
		o.MaxTreeBytes = 1 << 30
	}
	if o.Logger.GetSink() == nil {
		o.Logger = logr.Discard()
	}
	if math.IsNaN(o.MaxRemovalPercent) || o.MaxRemovalPercent < 0 || o.MaxRemovalPercent > 100 {
		return o, fmt.Errorf("max removal percent %v: want a number from 0 to 100", o.MaxRemovalPercent)
	}
	for _, ch := range o.Channels {
		if ns, name, ok := strings.Cut(ch, "/"); !ok || ns == "" || name == "" {
			return o, fmt.Errorf("channel %q: want namespace/name", ch)
		}
	}
	return o, nil
}

// newPreviewer prepares what every comparison shares: the repository's
// remotes, the scheduler and hub decisions, and a fresh key for Secret
// digests.
func newPreviewer(ctx context.Context, o Options, r *repo) (*previewer, error) {
	remotes, err := r.remotes(ctx)
	if err != nil {
		return nil, err
	}
	key, err := NewSecretKey()
	if err != nil {
		return nil, err
	}
	p := &previewer{opts: o, repo: r, remotes: remotes, inv: o.Inventory, secretKey: key}
	return p, p.index()
}

// sides exports both revisions and finds their hub objects: those the
// repository defines at either revision from it, the others from the
// inventory. Warnings go into the report.
func (p *previewer) sides(ctx context.Context, rep *Report) (*side, *side, error) {
	var sides [2]*side
	var found [2]*hubObjects
	for i, commit := range []string{rep.Base.Commit, rep.Head.Commit} {
		dir, err := p.repo.tree(ctx, commit)
		if err != nil {
			return nil, nil, err
		}
		objs, warnings, err := scanTree(dir, p.opts.ObjectsPath)
		if err != nil {
			return nil, nil, err
		}
		for _, w := range warnings {
			rep.Warnings = appendUnique(rep.Warnings, string(w))
		}
		found[i] = objs
		sides[i] = &side{name: [2]string{"base", "head"}[i], commit: commit, dir: dir, decisions: map[string]decided{}}
	}
	sides[0].hub = overlay(p.inv, found[0], found[1])
	sides[1].hub = overlay(p.inv, found[1], found[0])
	p.inRepo = map[string]bool{}
	for _, f := range found {
		for id := range f.files {
			p.inRepo[id] = true
		}
	}
	return sides[0], sides[1], nil
}

// add counts a Subscription's change into the summary.
func (r *Report) add(sc SubscriptionChange) {
	r.Subscriptions = append(r.Subscriptions, sc)
	r.Summary.Subscriptions++
	if sc.Change != ChangeUnchanged {
		r.Summary.Changed++
	}
	if sc.Removal.Flagged {
		r.Summary.Flagged++
	}
	if sc.failsAtHead() {
		r.Summary.Failing++
	}
}

// previewer holds what every Subscription's comparison shares.
type previewer struct {
	opts    Options
	repo    *repo
	remotes []string
	inv     *Inventory
	// inRepo holds "Kind namespace/name" of the hub objects the repository
	// defines at either revision.
	inRepo map[string]bool
	// secretKey keys the digests that stand for Secret values; random per run.
	secretKey []byte

	sched *placement.Scheduler
	// existing are the clusters each Placement (namespace/name) has decided
	// on the hub, groups its decision groups, and counts the decisions of
	// all Placements per cluster.
	existing map[string]map[string]bool
	groups   map[string][]placement.Group
	counts   map[string]int
}

// side is one revision of the comparison.
type side struct {
	name   string
	commit string
	dir    string
	hub    *hubObjects
	// decisions caches the scheduling of each Placement at this revision.
	decisions map[string]decided
}

type decided struct {
	groups []placement.Group
	found  bool
	err    error
	note   string
}

// index prepares the inventory's decisions and scores for the scheduler.
func (p *previewer) index() error {
	scores := map[string]*clusterv1alpha1.AddOnPlacementScore{}
	for _, s := range p.inv.Scores {
		scores[s.Namespace+"/"+s.Name] = s
	}
	sched, err := placement.NewScheduler(func(cluster, name string) *clusterv1alpha1.AddOnPlacementScore {
		return scores[cluster+"/"+name]
	})
	if err != nil {
		return err
	}
	p.sched = sched
	p.existing = map[string]map[string]bool{}
	p.counts = map[string]int{}
	byGroup := map[string]map[int]*placement.Group{}
	for _, d := range p.inv.Decisions {
		pl := d.Labels[clusterv1beta1.PlacementLabel]
		if pl == "" {
			continue
		}
		k := key(d.Namespace, pl)
		if p.existing[k] == nil {
			p.existing[k] = map[string]bool{}
			byGroup[k] = map[int]*placement.Group{}
		}
		idx, _ := strconv.Atoi(d.Labels[clusterv1beta1.DecisionGroupIndexLabel])
		g := byGroup[k][idx]
		if g == nil {
			g = &placement.Group{Index: idx, Name: d.Labels[clusterv1beta1.DecisionGroupNameLabel]}
			byGroup[k][idx] = g
		}
		for _, cd := range d.Status.Decisions {
			if cd.ClusterName == "" || p.existing[k][cd.ClusterName] {
				continue
			}
			p.existing[k][cd.ClusterName] = true
			p.counts[cd.ClusterName]++
			g.Clusters = append(g.Clusters, cd.ClusterName)
		}
	}
	p.groups = map[string][]placement.Group{}
	for k, gs := range byGroup {
		for _, g := range gs {
			sort.Strings(g.Clusters)
			p.groups[k] = append(p.groups[k], *g)
		}
		sort.Slice(p.groups[k], func(i, j int) bool { return p.groups[k][i].Index < p.groups[k][j].Index })
	}
	return nil
}

// decide answers for a Placement at one revision: a Placement known from the
// repository or the inventory is scheduled against the inventory's clusters
// (with its hub decisions as the existing ones, for Steady and
// NoSelectIfNew), so both revisions are judged alike; a Placement the hub
// knows only by its decisions keeps them; one the repository deletes is gone.
func (p *previewer) decide(s *side, namespace, name string) decided {
	k := key(namespace, name)
	if d, ok := s.decisions[k]; ok {
		return d
	}
	d := p.schedule(s, k)
	s.decisions[k] = d
	return d
}

func (p *previewer) schedule(s *side, k string) decided {
	pl := s.hub.placements[k]
	if pl == nil {
		if gs, ok := p.groups[k]; ok && !p.inRepo["Placement "+k] {
			return decided{groups: gs, found: true, note: fmt.Sprintf("Placement %s is not in the repository or the inventory; its decisions on the hub are used", k)}
		}
		return decided{}
	}
	compiled, mis := p.sched.Compile(pl)
	if mis != nil {
		return decided{found: true, err: fmt.Errorf("the Placement is misconfigured (%s); the hub would keep its current decisions", mis.Error())}
	}
	own := p.existing[k]
	res := p.sched.Schedule(compiled, placement.Input{
		Clusters:    p.inv.Clusters,
		ClusterSets: s.hub.clusterSets(),
		Bindings:    s.hub.bindingsIn(pl.Namespace),
		Existing:    own,
		OtherDecisions: func() map[string]int {
			other := make(map[string]int, len(p.counts))
			for c, n := range p.counts {
				if own[c] {
					n--
				}
				other[c] = n
			}
			return other
		},
		Now: p.opts.Now,
	})
	d := decided{groups: res.Groups, found: true}
	if res.Satisfied.Reason != placement.ReasonAllScheduled {
		d.note = fmt.Sprintf("Placement %s at %s: %s (%s)", k, s.name, res.Satisfied.Message, res.Satisfied.Reason)
	}
	return d
}

// subSide is one Subscription at one revision.
type subSide struct {
	sub      *appsv1.Subscription
	rendered bool
	note     string
	// placed is false when the placement could not be resolved.
	placed  bool
	targets []placement.Target
	outputs map[string]*render.Output
	// failed maps a cluster to its render error.
	failed map[string]string
}

func (ss *subSide) names() map[string]bool {
	m := make(map[string]bool, len(ss.targets))
	for _, t := range ss.targets {
		m[t.Cluster] = true
	}
	return m
}

// compare builds the change of one Subscription.
func (p *previewer) compare(ctx context.Context, k string, base, head *side) (SubscriptionChange, error) {
	ns, name, _ := strings.Cut(k, "/")
	sc := SubscriptionChange{Namespace: ns, Name: name, Groups: []Group{}, NotInRepository: !p.inRepo["Subscription "+k]}
	sc.Source = p.sourceChange(k, base, head)
	var sides [2]*subSide
	for i, s := range []*side{base, head} {
		ss, err := p.evaluateSide(ctx, &sc, s, k)
		if err != nil {
			return sc, err
		}
		sides[i] = ss
	}
	markPreexisting(sc.Problems)
	b, h := p.completeSides(&sc, sides)
	compareClusters(&sc, b, h)
	if sc.Rendered && b.placed && h.placed {
		if err := p.group(&sc, b, h); err != nil {
			return sc, err
		}
	}
	p.judgeRemoval(&sc)
	sc.Change = changeOf(sc)
	return sc, nil
}

// evaluateSide places and renders the Subscription at one revision (nil
// when it is not there) and records its problems, notes, Channel and path.
func (p *previewer) evaluateSide(ctx context.Context, sc *SubscriptionChange, s *side, k string) (*subSide, error) {
	sub := s.hub.subs[k]
	if sub == nil {
		return nil, nil
	}
	ss, problems, notes, err := p.evaluate(ctx, s, sub, sc.Source)
	if err != nil {
		return nil, err
	}
	sc.Problems = append(sc.Problems, problems...)
	for _, n := range notes {
		sc.Notes = appendUnique(sc.Notes, n)
	}
	sc.Channel = channelOf(sub)
	sc.Path = source.SubscriptionPath(sub)
	return ss, nil
}

// markPreexisting marks head problems the base revision has too.
func markPreexisting(problems []Problem) {
	for i := range problems {
		hp := &problems[i]
		for _, bp := range problems {
			if hp.Side == "head" && bp.Side == "base" && bp.Message == hp.Message {
				hp.Preexisting = true
			}
		}
	}
}

// completeSides stands an empty side in for a Subscription added or
// removed, and takes over whether both sides rendered and their notes.
func (p *previewer) completeSides(sc *SubscriptionChange, sides [2]*subSide) (*subSide, *subSide) {
	b, h := sides[0], sides[1]
	switch {
	case b == nil:
		sc.Change, b = ChangeAdded, &subSide{placed: true, rendered: h.rendered}
	case h == nil:
		sc.Change, h = ChangeRemoved, &subSide{placed: true, rendered: b.rendered}
	}
	sc.Rendered = b.rendered && h.rendered
	for _, ss := range []*subSide{b, h} {
		if ss.note != "" {
			sc.Notes = appendUnique(sc.Notes, ss.note)
		}
	}
	return b, h
}

// compareClusters fills the clusters gained, lost and kept.
func compareClusters(sc *SubscriptionChange, b, h *subSide) {
	inBase, inHead := b.names(), h.names()
	sc.Clusters.Base, sc.Clusters.Head = len(inBase), len(inHead)
	sc.Clusters.Gained, sc.Clusters.Lost = []string{}, []string{}
	sc.Removal.Clusters = []string{}
	if !b.placed || !h.placed {
		return
	}
	for _, t := range h.targets {
		if !inBase[t.Cluster] {
			sc.Clusters.Gained = append(sc.Clusters.Gained, t.Cluster)
		}
	}
	for _, t := range b.targets {
		if !inHead[t.Cluster] {
			sc.Clusters.Lost = append(sc.Clusters.Lost, t.Cluster)
			sc.Removal.Clusters = append(sc.Removal.Clusters, t.Cluster)
		} else {
			sc.Clusters.Kept++
		}
	}
}

// judgeRemoval computes the share of base clusters the app disappears from
// and flags it over MaxRemovalPercent.
func (p *previewer) judgeRemoval(sc *SubscriptionChange) {
	sort.Strings(sc.Removal.Clusters)
	if sc.Clusters.Base == 0 {
		return
	}
	pct := 100 * float64(len(sc.Removal.Clusters)) / float64(sc.Clusters.Base)
	sc.Removal.Percent = math.Round(pct*10) / 10
	sc.Removal.Flagged = len(sc.Removal.Clusters) > 0 && pct > p.opts.MaxRemovalPercent
}

// changeOf is added or removed as set, else changed when clusters, content
// or the inputs choosing content differ.
func changeOf(sc SubscriptionChange) Change {
	switch {
	case sc.Change != "":
		return sc.Change
	case len(sc.Clusters.Gained) > 0 || len(sc.Clusters.Lost) > 0 || len(sc.Groups) > 0,
		sc.Source != nil && len(sc.Source.Changed) > 0:
		return ChangeChanged
	}
	return ChangeUnchanged
}

// group diffs what each cluster receives and groups clusters by identical
// change. Outputs are shared between clusters with equal renders, so each
// distinct (base, head) pair is diffed once.
func (p *previewer) group(sc *SubscriptionChange, b, h *subSide) error {
	type pair struct{ base, head string }
	type diffed struct {
		key     string
		changes []ObjectChange
	}
	pairs := map[pair]diffed{}
	byKey := map[string]*Group{}
	sealed := newUndecryptable(p.inv)
	var order []string
	all := map[string]bool{}
	for _, t := range b.targets {
		all[t.Cluster] = true
	}
	for _, t := range h.targets {
		all[t.Cluster] = true
	}
	names := make([]string, 0, len(all))
	for c := range all {
		names = append(names, c)
	}
	sort.Strings(names)
	for _, c := range names {
		if _, bad := b.failed[c]; bad {
			continue
		}
		if _, bad := h.failed[c]; bad {
			continue
		}
		bo, ho := b.outputs[c], h.outputs[c]
		if bo != nil && ho != nil && len(bo.Objects) > 0 && len(ho.Objects) == 0 {
			sc.Removal.Clusters = append(sc.Removal.Clusters, c)
		}
		pk := pair{outputKey(bo), outputKey(ho)}
		if pk.base == pk.head {
			continue
		}
		d, ok := pairs[pk]
		if !ok {
			changes, err := DiffOutputs(bo, ho, "base", "head", p.secretKey)
			if err != nil {
				return fmt.Errorf("subscription %s/%s: diff for cluster %s: %w", sc.Namespace, sc.Name, c, err)
			}
			d = diffed{changes: changes}
			if len(changes) > 0 {
				d.key = ChangesKey(changes)
			}
			pairs[pk] = d
		}
		if d.key == "" {
			continue
		}
		sealed.check(c, bo, ho, d.changes)
		g := byKey[d.key]
		if g == nil {
			g = &Group{Objects: d.changes}
			byKey[d.key] = g
			order = append(order, d.key)
		}
		g.Clusters = append(g.Clusters, c)
		if bo != nil && ho != nil {
			sc.Clusters.Updated++
		}
	}
	for _, k := range order {
		sc.Groups = append(sc.Groups, *byKey[k])
	}
	sc.Problems = append(sc.Problems, sealed.list()...)
	sort.SliceStable(sc.Groups, func(i, j int) bool { return len(sc.Groups[i].Clusters) > len(sc.Groups[j].Clusters) })
	return nil
}

// outputKey is "" for a cluster receiving nothing (not placed at that revision).
func outputKey(o *render.Output) string {
	if o == nil {
		return ""
	}
	return "k:" + o.Key
}

// evaluate places and renders one Subscription at one revision.
func (p *previewer) evaluate(ctx context.Context, s *side, sub *appsv1.Subscription, src *Source) (*subSide, []Problem, []string, error) {
	ss := &subSide{sub: sub, outputs: map[string]*render.Output{}, failed: map[string]string{}}
	var problems []Problem
	var notes []string
	targets, err := placement.ResolveTargets(sub, p.inv.Clusters, func(namespace, name string) ([]placement.Group, bool, error) {
		d := p.decide(s, namespace, name)
		if d.note != "" {
			notes = append(notes, d.note)
		}
		return d.groups, d.found, d.err
	})
	if err != nil {
		problems = append(problems, Problem{Side: s.name, Message: err.Error()})
		return ss, problems, notes, nil
	}
	ss.placed, ss.targets = true, targets

	art, note, err := p.artifact(ctx, s, sub)
	if err != nil {
		return nil, nil, nil, err
	}
	if art == nil && src != nil && src.Error == "" {
		// Not this repository, but the change moves what it deploys: fetch it.
		art = p.fetchRemote(ctx, s, sub, src)
	}
	if art == nil {
		ss.note = note
		return ss, problems, notes, nil
	}
	ss.rendered = true
	byMessage := map[string]*Problem{}
	var order []string
	for _, t := range targets {
		out, err := p.opts.Renderer.Render(ctx, art, sub, render.Cluster{Name: t.Cluster, Labels: t.Labels, Claims: t.Claims})
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil, nil, ctx.Err()
			}
			msg := err.Error()
			ss.failed[t.Cluster] = msg
			pr := byMessage[msg]
			if pr == nil {
				pr = &Problem{Side: s.name, Message: msg}
				byMessage[msg] = pr
				order = append(order, msg)
			}
			pr.Clusters = append(pr.Clusters, t.Cluster)
			continue
		}
		ss.outputs[t.Cluster] = out
	}
	for _, m := range order {
		problems = append(problems, *byMessage[m])
	}
	return ss, problems, notes, nil
}

// artifact is the tree a Subscription renders from at one revision, or nil
// with the reason when its content does not come from this repository.
// A Subscription pinned to a tag or commit (git-tag, git-desired-commit)
// renders that commit, when the repository has it.
func (p *previewer) artifact(ctx context.Context, s *side, sub *appsv1.Subscription) (*source.Artifact, string, error) {
	key, _ := sub.ChannelKey()
	ck := key.String()
	if ok, why := p.ownChannel(ck, s.hub.channels[ck]); !ok {
		return nil, why, nil
	}
	ref := source.RefFor(sub)
	if p.opts.Branch != "" && ref.Branch != "" && ref.Tag == "" && ref.Commit == "" && ref.Branch != p.opts.Branch {
		return nil, fmt.Sprintf("follows branch %s, not %s: compared by placement only", ref.Branch, p.opts.Branch), nil
	}
	commit, dir := s.commit, s.dir
	pin := ""
	switch {
	case ref.Commit != "":
		pin = ref.Commit
	case ref.Tag != "":
		pin = "refs/tags/" + ref.Tag
	}
	if pin != "" {
		c, err := p.repo.commit(ctx, pin)
		if err != nil {
			return nil, fmt.Sprintf("pinned to %s, which is not in the repository (fetch it to compare content): compared by placement only", strings.TrimPrefix(pin, "refs/tags/")), nil
		}
		if dir, err = p.repo.tree(ctx, c); err != nil {
			return nil, "", err
		}
		commit = c
	}
	return &source.Artifact{Revision: "sha1:" + commit, Commit: commit, Dir: dir}, "", nil
}

// ownChannel says whether a Channel's content is this repository.
func (p *previewer) ownChannel(k string, ch *appsv1.Channel) (bool, string) {
	if len(p.opts.Channels) > 0 {
		for _, c := range p.opts.Channels {
			if c == k {
				return true, ""
			}
		}
		return false, fmt.Sprintf("Channel %s is not one of the channels given as this repository: compared by placement only", k)
	}
	if ch == nil {
		return false, fmt.Sprintf("Channel %s is neither in the repository nor in the inventory (pass it as a channel of this repository to compare content): compared by placement only", k)
	}
	switch strings.ToLower(string(ch.Spec.Type)) {
	case "git", "github":
	default:
		return false, fmt.Sprintf("Channel %s is of type %s, not this Git repository: compared by placement only", k, ch.Spec.Type)
	}
	if len(p.remotes) == 0 {
		return true, ""
	}
	// Paths keep their case here (but on public forges that ignore it): on
	// a plain Git server another case is another repository.
	if want := source.RepoKey(ch.Spec.Pathname, false); want != "" {
		for _, r := range p.remotes {
			if source.RepoKey(r, false) == want {
				return true, ""
			}
		}
	}
	return false, fmt.Sprintf("Channel %s follows %s, which is not a remote of this repository: compared by placement only", k, source.SanitizeURL(ch.Spec.Pathname))
}

func appendUnique(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}
