package preview

import (
	"bytes"
	"encoding/json"
)

// Report is the outcome of a preview. Its JSON form is a stable interface:
// fields are only ever added.
type Report struct {
	// Base and Head are the compared revisions.
	Base Revision `json:"base"`
	Head Revision `json:"head"`
	// Clusters is the number of ManagedClusters in the inventory.
	Clusters int `json:"clusters"`
	// MaxRemovalPercent is the share of its clusters a Subscription may lose
	// before it is flagged.
	MaxRemovalPercent float64 `json:"maxRemovalPercent"`
	Summary           Summary `json:"summary"`
	// Subscriptions holds every Subscription found at either revision,
	// sorted by namespace and name.
	Subscriptions []SubscriptionChange `json:"subscriptions"`
	// Warnings are inputs the preview had to leave out (unparsable files,
	// duplicate objects, kinds the hub does not serve).
	Warnings []string `json:"warnings,omitempty"`
}

// Revision is one side of the comparison.
type Revision struct {
	// Ref is the revision as given (branch, tag, SHA, HEAD~1...).
	Ref string `json:"ref"`
	// Commit is the full commit it resolved to.
	Commit string `json:"commit"`
}

// Summary counts Subscriptions.
type Summary struct {
	Subscriptions int `json:"subscriptions"`
	// Changed Subscriptions gain or lose clusters or change what a cluster receives.
	Changed int `json:"changed"`
	// Flagged Subscriptions lose more than MaxRemovalPercent of their clusters.
	Flagged int `json:"flagged"`
	// Failing Subscriptions cannot be placed or rendered at the head
	// revision, when they could at base.
	Failing int `json:"failing"`
}

// Change says how a Subscription differs between the revisions.
type Change string

// Changes.
const (
	ChangeAdded     Change = "added"
	ChangeRemoved   Change = "removed"
	ChangeChanged   Change = "changed"
	ChangeUnchanged Change = "unchanged"
)

// SubscriptionChange is what one Subscription does differently at head.
type SubscriptionChange struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Change    Change `json:"change"`
	// Channel is spec.channel as namespace/name.
	Channel string `json:"channel"`
	// Path is the folder the Subscription deploys (its git-path), at head
	// when it exists there.
	Path string `json:"path,omitempty"`
	// Rendered is false when the Subscription's content does not come from
	// this repository at both revisions; only its clusters are compared then.
	Rendered bool `json:"rendered"`
	// Notes explain what was not compared, or why a placement selects what it does.
	Notes []string `json:"notes,omitempty"`
	// NotInRepository is set for a Subscription the repository defines at
	// neither revision: it is the hub's own, taken from the inventory.
	NotInRepository bool `json:"notInRepository,omitempty"`
	// Source describes a change of where the content of a Subscription
	// that does not render from this repository comes from.
	Source   *Source       `json:"source,omitempty"`
	Clusters ClusterChange `json:"clusters"`
	Removal  Removal       `json:"removal"`
	// Groups are the clusters that receive a different set of objects at
	// head, grouped by identical change; the largest group first.
	Groups []Group `json:"groups,omitempty"`
	// Problems are clusters that could not be placed or rendered at a
	// revision, or that hold no key for an encrypted object the change
	// adds or changes.
	Problems []Problem `json:"problems,omitempty"`
}

// Source is a change of a Subscription whose content is not this
// repository (a Helm repository, a bucket, another Git repository): of the
// inputs that choose the content, and what each revision resolves to.
type Source struct {
	// Changed lists the inputs that differ ("spec.packageFilter.version:
	// 2.x → 1.x").
	Changed []string `json:"changed"`
	// Base and Head are the revisions the content resolved to
	// ("node-probe-2.1.0@sha256:…"), when it was fetched.
	Base string `json:"base,omitempty"`
	Head string `json:"head,omitempty"`
	// Error says why the content could not be fetched or rendered: the
	// clusters are then compared by placement only.
	Error string `json:"error,omitempty"`
}

// ClusterChange compares the clusters a Subscription is placed on.
type ClusterChange struct {
	// Base and Head count the clusters at each revision.
	Base int `json:"base"`
	Head int `json:"head"`
	// Gained and Lost are the clusters added and removed by the change.
	Gained []string `json:"gained"`
	Lost   []string `json:"lost"`
	// Kept counts the clusters at both revisions, Updated those of them
	// whose objects change.
	Kept    int `json:"kept"`
	Updated int `json:"updated"`
}

// Removal is the safety check: the clusters the app disappears from (lost,
// or kept with nothing left to deploy) against its clusters at base.
type Removal struct {
	Clusters []string `json:"clusters"`
	// Percent is len(Clusters) over the clusters at base, rounded to 0.1.
	Percent float64 `json:"percent"`
	// Flagged is set when Percent is over the report's MaxRemovalPercent.
	Flagged bool `json:"flagged"`
}

// Group is a set of clusters receiving the same change.
type Group struct {
	Clusters []string       `json:"clusters"`
	Objects  []ObjectChange `json:"objects"`
}

// ObjectChange is one object added, removed or changed on a group of clusters.
type ObjectChange struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
	// Change is added, removed or changed.
	Change Change `json:"change"`
	// Diff is a unified diff of the object's YAML (keys sorted; Secret
	// values replaced by a digest; in a SOPS-encrypted object, each
	// encrypted value by a digest of its ciphertext and the sops stanza by
	// its recipients).
	Diff string `json:"diff"`
}

// Problem is a failure to place or render a Subscription at one revision.
type Problem struct {
	// Side is "base" or "head".
	Side string `json:"side"`
	// Clusters are the clusters it affects; empty when the placement itself failed.
	Clusters []string `json:"clusters,omitempty"`
	Message  string   `json:"message"`
	// Preexisting marks a head problem the base revision has too: not
	// caused by the change, so it does not fail the preview.
	Preexisting bool `json:"preexisting,omitempty"`
}

// failsAtHead reports whether the change makes the Subscription fail.
func (s *SubscriptionChange) failsAtHead() bool {
	for _, p := range s.Problems {
		if p.Side == "head" && !p.Preexisting {
			return true
		}
	}
	return false
}

// Flagged reports whether some Subscription loses more clusters than allowed.
func (r *Report) Flagged() bool { return r.Summary.Flagged > 0 }

// Failing reports whether some Subscription cannot be placed or rendered at head.
func (r *Report) Failing() bool { return r.Summary.Failing > 0 }

// JSON encodes the report, indented, with a final newline.
func (r *Report) JSON() ([]byte, error) { return jsonMarshalIndent(r) }

// jsonMarshalIndent encodes like json.MarshalIndent without escaping <, >
// and & (diffs and markdown are full of them).
func jsonMarshalIndent(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
