package preview

import (
	"fmt"
	"html"
	"strings"
)

// MarkdownOptions bound the size of the markdown report.
type MarkdownOptions struct {
	// MaxBytes caps the whole text (default 60000: GitHub refuses comments
	// over 65536 characters). Diffs that do not fit are left out, with a note.
	MaxBytes int
	// MaxDiffLines caps the diff shown for one group of clusters (default 300).
	MaxDiffLines int
	// MaxNames caps the cluster names listed in one place (default 10).
	MaxNames int
	// Title heads the report (default "ocm-gitops preview").
	Title string
}

func (o MarkdownOptions) withDefaults() MarkdownOptions {
	if o.MaxBytes <= 0 {
		o.MaxBytes = 60000
	}
	if o.MaxDiffLines <= 0 {
		o.MaxDiffLines = 300
	}
	if o.MaxNames <= 0 {
		o.MaxNames = 10
	}
	if o.Title == "" {
		o.Title = "ocm-gitops preview"
	}
	return o
}

// Markdown renders the report for a pull-request comment: flagged removals
// and failures first, a table of changed Subscriptions, then per
// Subscription the clusters gained and lost and one collapsible diff per
// group of clusters receiving the same change.
func (r *Report) Markdown(opts MarkdownOptions) string {
	opts = opts.withDefaults()
	// First without diffs, to know what room is left for them.
	skeleton := r.markdown(opts, -1)
	budget := opts.MaxBytes - len(skeleton) - 400
	text := r.markdown(opts, budget)
	if len(text) > opts.MaxBytes {
		cut := strings.LastIndex(text[:opts.MaxBytes-300], "\n")
		if cut < 0 {
			cut = 0
		}
		text = text[:cut] + "\n\n_The report is cut here to stay under " + fmt.Sprint(opts.MaxBytes) +
			" bytes; run `ocm-gitops preview --format json` for all of it._\n"
	}
	return text
}

// markdown renders the report with diffs up to budget bytes (-1: none).
func (r *Report) markdown(opts MarkdownOptions, budget int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s\n\n", opts.Title)
	fmt.Fprintf(&b, "Comparing %s with %s against %d clusters.\n\n", revision(r.Base), revision(r.Head), r.Clusters)
	r.writeFlagged(&b, opts)
	r.writeFailing(&b, opts)
	changed, unchanged, hubOnly := r.classify()
	writeTable(&b, changed, unchanged, len(r.Subscriptions), opts)
	writeNotes(&b, unchanged, opts)
	writeHubOnly(&b, hubOnly, opts)
	d := &diffWriter{left: budget, budget: budget, opts: opts}
	for _, s := range changed {
		d.writeSubscription(&b, s)
	}
	if d.omitted > 0 {
		fmt.Fprintf(&b, "\n_%s left out of this comment for size; run `ocm-gitops preview --format json` for every diff._\n", plural(d.omitted, "diff"))
	}
	if len(r.Warnings) > 0 {
		b.WriteString("\n<details>\n<summary>Warnings</summary>\n\n")
		for _, w := range r.Warnings {
			fmt.Fprintf(&b, "- %s\n", html.EscapeString(oneLine(w)))
		}
		b.WriteString("\n</details>\n")
	}
	return b.String()
}

// writeFlagged warns of Subscriptions removed from too many clusters.
func (r *Report) writeFlagged(b *strings.Builder, opts MarkdownOptions) {
	if !r.Flagged() {
		return
	}
	fmt.Fprintf(b, "> [!CAUTION]\n> **This change removes apps from more than %s%% of their clusters:**\n", number(r.MaxRemovalPercent))
	for _, s := range r.Subscriptions {
		if s.Removal.Flagged {
			fmt.Fprintf(b, "> - %s is removed from %d of %d clusters (%s%%): %s\n", code(s.Namespace+"/"+s.Name),
				len(s.Removal.Clusters), s.Clusters.Base, number(s.Removal.Percent), names(s.Removal.Clusters, opts.MaxNames))
		}
	}
	b.WriteString("\n")
}

// writeFailing warns of Subscriptions the change makes fail.
func (r *Report) writeFailing(b *strings.Builder, opts MarkdownOptions) {
	if !r.Failing() {
		return
	}
	b.WriteString("> [!WARNING]\n> **These Subscriptions cannot be placed, rendered or decrypted at the head revision; the hub or the named clusters would keep what they deployed:**\n")
	for _, s := range r.Subscriptions {
		for _, p := range s.Problems {
			if p.Side == "head" && !p.Preexisting {
				fmt.Fprintf(b, "> - %s%s: %s\n", code(s.Namespace+"/"+s.Name), onClusters(p.Clusters, opts.MaxNames), html.EscapeString(oneLine(p.Message)))
			}
		}
	}
	b.WriteString("\n")
}

// classify splits the Subscriptions into changed ones (or with problems),
// unchanged ones, and the hub's own ones the change does not touch.
func (r *Report) classify() (changed, unchanged, hubOnly []SubscriptionChange) {
	for _, s := range r.Subscriptions {
		switch {
		case s.Change != ChangeUnchanged:
			changed = append(changed, s)
		case s.NotInRepository && !s.failsAtHead():
			hubOnly = append(hubOnly, s)
		case len(s.Problems) == 0:
			unchanged = append(unchanged, s)
		default:
			changed = append(changed, s)
		}
	}
	return changed, unchanged, hubOnly
}

// writeTable lists the changed Subscriptions, then the unchanged ones.
func writeTable(b *strings.Builder, changed, unchanged []SubscriptionChange, total int, opts MarkdownOptions) {
	if len(changed) == 0 {
		fmt.Fprintf(b, "No Subscription changes where it deploys or what it deploys (%d compared).\n", total)
		return
	}
	b.WriteString("| Subscription | Change | Clusters | Gained | Lost | Updated |\n| --- | --- | --: | --: | --: | --: |\n")
	for _, s := range changed {
		change := string(s.Change)
		switch {
		case s.Removal.Flagged:
			change = "**" + change + ", flagged**"
		case s.failsAtHead():
			change += ", **fails at head**"
		case s.Source != nil && s.Source.Error != "":
			change += ", content not compared"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %d | %d | %d |\n", code(s.Namespace+"/"+s.Name), change,
			clusterCounts(s), len(s.Clusters.Gained), len(s.Clusters.Lost), s.Clusters.Updated)
	}
	if len(unchanged) > 0 {
		fmt.Fprintf(b, "\nUnchanged: %s.\n", names(subscriptionNames(unchanged), opts.MaxNames))
	}
}

// writeNotes gives the notes of unchanged Subscriptions (why a placement
// selects nothing, what was compared by placement only): a reviewer needs
// them as much as the JSON's reader.
func writeNotes(b *strings.Builder, unchanged []SubscriptionChange, opts MarkdownOptions) {
	var items []string
	for _, s := range unchanged {
		for _, n := range s.Notes {
			items = append(items, fmt.Sprintf("- %s: _%s_\n", code(s.Namespace+"/"+s.Name), html.EscapeString(n)))
		}
	}
	if len(items) > 0 {
		b.WriteString("\nNotes on unchanged Subscriptions:\n\n" + strings.Join(items, ""))
	}
}

// writeHubOnly lists the Subscriptions that are not in the repository at
// either revision, with what was found of them, apart from the change.
func writeHubOnly(b *strings.Builder, hubOnly []SubscriptionChange, opts MarkdownOptions) {
	if len(hubOnly) == 0 {
		return
	}
	b.WriteString("\nNot in the repository (the hub's own Subscriptions; this change does not touch them):\n\n")
	for _, s := range hubOnly {
		line := "- " + code(s.Namespace+"/"+s.Name)
		for _, p := range s.Problems {
			if p.Side == "base" {
				line += fmt.Sprintf("; cannot be placed or rendered at these revisions%s: %s", onClusters(p.Clusters, opts.MaxNames), html.EscapeString(oneLine(p.Message)))
			}
		}
		for _, n := range s.Notes {
			line += "; _" + html.EscapeString(n) + "_"
		}
		b.WriteString(line + "\n")
	}
}

func subscriptionNames(list []SubscriptionChange) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = s.Namespace + "/" + s.Name
	}
	return out
}

// diffWriter writes the per-Subscription sections, with diffs while the
// budget lasts (a negative budget writes none).
type diffWriter struct {
	budget, left, omitted int
	opts                  MarkdownOptions
}

func (d *diffWriter) writeSubscription(b *strings.Builder, s SubscriptionChange) {
	fmt.Fprintf(b, "\n#### %s (%s)\n\n", code(s.Namespace+"/"+s.Name), s.Change)
	fmt.Fprintf(b, "Channel %s", code(s.Channel))
	if s.Path != "" {
		fmt.Fprintf(b, ", path %s", code(s.Path))
	}
	fmt.Fprintf(b, ": %s clusters, %d kept, %d of them updated.\n", clusterCounts(s), s.Clusters.Kept, s.Clusters.Updated)
	if items := subscriptionItems(s, d.opts); len(items) > 0 {
		b.WriteString("\n" + strings.Join(items, ""))
	}
	for _, g := range s.Groups {
		d.writeGroup(b, g)
	}
}

// subscriptionItems are the bullet points of one Subscription: clusters
// gained and lost, what its source change does, notes and problems.
func subscriptionItems(s SubscriptionChange, opts MarkdownOptions) []string {
	var items []string
	if s.NotInRepository {
		items = append(items, "- _Not in the repository: the hub's own Subscription, from the inventory._\n")
	}
	if len(s.Clusters.Gained) > 0 {
		items = append(items, fmt.Sprintf("- **Gained (%d):** %s\n", len(s.Clusters.Gained), names(s.Clusters.Gained, opts.MaxNames)))
	}
	if len(s.Clusters.Lost) > 0 {
		items = append(items, fmt.Sprintf("- **Lost (%d):** %s\n", len(s.Clusters.Lost), names(s.Clusters.Lost, opts.MaxNames)))
	}
	items = append(items, sourceItems(s.Source)...)
	for _, n := range s.Notes {
		items = append(items, fmt.Sprintf("- _%s_\n", html.EscapeString(n)))
	}
	for _, p := range s.Problems {
		if p.Preexisting {
			continue // shown once, at base
		}
		side := p.Side
		if side == "base" && alsoAtHead(s, p.Message) {
			side = "both revisions"
		}
		items = append(items, fmt.Sprintf("- **Fails at %s**%s:\n\n%s", side, onClusters(p.Clusters, opts.MaxNames), indent(fenced("text", p.Message, 20), "  ")))
	}
	return items
}

// sourceItems say what changed in where the content comes from, what each
// side resolved to, or plainly that it could not be compared.
func sourceItems(src *Source) []string {
	if src == nil {
		return nil
	}
	quoted := make([]string, len(src.Changed))
	for i, c := range src.Changed {
		quoted[i] = code(c)
	}
	items := []string{fmt.Sprintf("- **The content's source changed:** %s\n", strings.Join(quoted, ", "))}
	switch {
	case src.Error != "":
		items = append(items, fmt.Sprintf("- **What the clusters receive could not be compared:** %s\n", html.EscapeString(oneLine(src.Error))))
	case src.Base == src.Head:
		items = append(items, fmt.Sprintf("- Both revisions resolve to %s.\n", code(src.Base)))
	default:
		items = append(items, fmt.Sprintf("- Resolves to %s at base and %s at head.\n", code(orNone(src.Base)), code(orNone(src.Head))))
	}
	return items
}

// writeGroup writes one group of clusters receiving the same change.
func (d *diffWriter) writeGroup(b *strings.Builder, g Group) {
	diff, lines := groupDiff(g, d.opts.MaxDiffLines)
	block := fenced("diff", diff, -1)
	open := ""
	if lines <= 30 {
		open = " open"
	}
	fmt.Fprintf(b, "\n<details%s>\n<summary><b>%s</b> (%s): %s</summary>\n\n", open,
		plural(len(g.Clusters), "cluster"), summaryNames(g.Clusters, 5), objectSummary(g.Objects))
	switch {
	case d.budget < 0:
	case len(block) <= d.left:
		b.WriteString(block)
		d.left -= len(block)
	default:
		d.omitted++
		fmt.Fprintf(b, "_Diff of %d lines left out to keep this comment short._\n", lines)
	}
	b.WriteString("\n</details>\n")
}

// alsoAtHead reports whether a base problem is still there at head.
func alsoAtHead(s SubscriptionChange, msg string) bool {
	for _, p := range s.Problems {
		if p.Preexisting && p.Message == msg {
			return true
		}
	}
	return false
}

// clusterCounts is "3 → 5", with "?" for a side whose placement failed.
func clusterCounts(s SubscriptionChange) string {
	count := [2]string{fmt.Sprint(s.Clusters.Base), fmt.Sprint(s.Clusters.Head)}
	for _, p := range s.Problems {
		if len(p.Clusters) == 0 {
			count[map[string]int{"base": 0, "head": 1}[p.Side]] = "?"
		}
	}
	return count[0] + " → " + count[1]
}

// groupDiff joins a group's object diffs, cut at maxLines.
func groupDiff(g Group, maxLines int) (string, int) {
	var sb strings.Builder
	total := 0
	for _, o := range g.Objects {
		sb.WriteString(o.Diff)
		total += strings.Count(o.Diff, "\n")
	}
	text := sb.String()
	if total <= maxLines {
		return text, total
	}
	ls := strings.SplitAfter(text, "\n")
	return strings.Join(ls[:maxLines], "") + fmt.Sprintf("... %d more lines\n", total-maxLines), total
}

// objectSummary is "Deployment ns/web changed, ConfigMap ns/cfg added".
func objectSummary(objs []ObjectChange) string {
	const max = 4
	var parts []string
	for i, o := range objs {
		if i == max {
			parts = append(parts, fmt.Sprintf("and %d more", len(objs)-max))
			break
		}
		parts = append(parts, fmt.Sprintf("%s <code>%s</code> %s", html.EscapeString(o.Kind), html.EscapeString(key(o.Namespace, o.Name)), o.Change))
	}
	return strings.Join(parts, ", ")
}

func revision(r Revision) string {
	short := r.Commit
	if len(short) > 12 {
		short = short[:12]
	}
	if r.Ref == "" || strings.HasPrefix(r.Commit, r.Ref) {
		return code(short)
	}
	return code(r.Ref) + " (" + code(short) + ")"
}

// names lists up to max names as code spans, then how many more.
func names(list []string, max int) string {
	if len(list) == 0 {
		return "none"
	}
	var parts []string
	for i, n := range list {
		if i == max {
			parts = append(parts, fmt.Sprintf("and %d more", len(list)-max))
			break
		}
		parts = append(parts, code(n))
	}
	return strings.Join(parts, ", ")
}

// code is s as a markdown code span, whatever backticks or line breaks it holds
// (names come from the change under review).
func code(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") || len(fence) > 1 {
		return fence + " " + s + " " + fence
	}
	return fence + s + fence
}

// summaryNames is names for an HTML <summary>, where backticks do not render.
func summaryNames(list []string, max int) string {
	var parts []string
	for i, n := range list {
		if i == max {
			parts = append(parts, fmt.Sprintf("and %d more", len(list)-max))
			break
		}
		parts = append(parts, "<code>"+html.EscapeString(n)+"</code>")
	}
	return strings.Join(parts, ", ")
}

func onClusters(list []string, max int) string {
	if len(list) == 0 {
		return ""
	}
	return " on " + names(list, max)
}

// fenced puts text in a code block whose fence no line of text can close;
// maxLines > 0 cuts it.
func fenced(lang, text string, maxLines int) string {
	if maxLines > 0 {
		ls := strings.SplitAfter(text, "\n")
		if len(ls) > maxLines {
			text = strings.Join(ls[:maxLines], "") + "\n..."
		}
	}
	fence := "```"
	for strings.Contains(text, fence) {
		fence += "`"
	}
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	return fence + lang + "\n" + text + fence + "\n"
}

// oneLine folds whitespace and cuts s to 300 characters.
// indent prefixes every line of text.
func indent(text, prefix string) string {
	ls := strings.SplitAfter(text, "\n")
	for i, l := range ls {
		if l != "" {
			ls[i] = prefix + l
		}
	}
	return strings.Join(ls, "")
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 300 {
		s = string(r[:297]) + "..."
	}
	return s
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// number prints 50 as "50" and 66.7 as "66.7".
func number(f float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.1f", f), "0"), ".")
}
