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

	if r.Flagged() {
		fmt.Fprintf(&b, "> [!CAUTION]\n> **This change removes apps from more than %s%% of their clusters:**\n", number(r.MaxRemovalPercent))
		for _, s := range r.Subscriptions {
			if s.Removal.Flagged {
				fmt.Fprintf(&b, "> - %s is removed from %d of %d clusters (%s%%): %s\n", code(s.Namespace+"/"+s.Name),
					len(s.Removal.Clusters), s.Clusters.Base, number(s.Removal.Percent), names(s.Removal.Clusters, opts.MaxNames))
			}
		}
		b.WriteString("\n")
	}
	if r.Failing() {
		b.WriteString("> [!WARNING]\n> **These Subscriptions cannot be placed or rendered at the head revision; the hub would keep what they deployed:**\n")
		for _, s := range r.Subscriptions {
			for _, p := range s.Problems {
				if p.Side == "head" && !p.Preexisting {
					fmt.Fprintf(&b, "> - %s%s: %s\n", code(s.Namespace+"/"+s.Name), onClusters(p.Clusters, opts.MaxNames), html.EscapeString(oneLine(p.Message)))
				}
			}
		}
		b.WriteString("\n")
	}

	var changed, unchanged []SubscriptionChange
	for _, s := range r.Subscriptions {
		if s.Change == ChangeUnchanged && len(s.Problems) == 0 {
			unchanged = append(unchanged, s)
		} else {
			changed = append(changed, s)
		}
	}
	if len(changed) == 0 {
		fmt.Fprintf(&b, "No Subscription changes where it deploys or what it deploys (%d compared).\n", len(r.Subscriptions))
	} else {
		b.WriteString("| Subscription | Change | Clusters | Gained | Lost | Updated |\n| --- | --- | --: | --: | --: | --: |\n")
		for _, s := range changed {
			change := string(s.Change)
			switch {
			case s.Removal.Flagged:
				change = "**" + change + ", flagged**"
			case s.failsAtHead():
				change += ", **fails at head**"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %d | %d | %d |\n", code(s.Namespace+"/"+s.Name), change,
				clusterCounts(s), len(s.Clusters.Gained), len(s.Clusters.Lost), s.Clusters.Updated)
		}
		if len(unchanged) > 0 {
			list := make([]string, len(unchanged))
			for i, s := range unchanged {
				list[i] = s.Namespace + "/" + s.Name
			}
			fmt.Fprintf(&b, "\nUnchanged: %s.\n", names(list, opts.MaxNames))
		}
	}

	left := budget
	omitted := 0
	for _, s := range changed {
		fmt.Fprintf(&b, "\n#### %s (%s)\n\n", code(s.Namespace+"/"+s.Name), s.Change)
		fmt.Fprintf(&b, "Channel %s", code(s.Channel))
		if s.Path != "" {
			fmt.Fprintf(&b, ", path %s", code(s.Path))
		}
		fmt.Fprintf(&b, ": %s clusters, %d kept, %d of them updated.\n", clusterCounts(s), s.Clusters.Kept, s.Clusters.Updated)
		var items []string
		if len(s.Clusters.Gained) > 0 {
			items = append(items, fmt.Sprintf("- **Gained (%d):** %s\n", len(s.Clusters.Gained), names(s.Clusters.Gained, opts.MaxNames)))
		}
		if len(s.Clusters.Lost) > 0 {
			items = append(items, fmt.Sprintf("- **Lost (%d):** %s\n", len(s.Clusters.Lost), names(s.Clusters.Lost, opts.MaxNames)))
		}
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
		if len(items) > 0 {
			b.WriteString("\n" + strings.Join(items, ""))
		}
		for _, g := range s.Groups {
			diff, lines := groupDiff(g, opts.MaxDiffLines)
			block := fenced("diff", diff, -1)
			open := ""
			if lines <= 30 {
				open = " open"
			}
			fmt.Fprintf(&b, "\n<details%s>\n<summary><b>%s</b> (%s): %s</summary>\n\n", open,
				plural(len(g.Clusters), "cluster"), summaryNames(g.Clusters, 5), objectSummary(g.Objects))
			switch {
			case budget < 0:
			case len(block) <= left:
				b.WriteString(block)
				left -= len(block)
			default:
				omitted++
				fmt.Fprintf(&b, "_Diff of %d lines left out to keep this comment short._\n", lines)
			}
			b.WriteString("\n</details>\n")
		}
	}
	if omitted > 0 {
		fmt.Fprintf(&b, "\n_%s left out of this comment for size; run `ocm-gitops preview --format json` for every diff._\n", plural(omitted, "diff"))
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
