package preview

import (
	"context"
	"encoding/json"
	"fmt"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/source"
)

// input is one field that chooses what a Subscription deploys.
type input struct{ name, value string }

// contentInputs are the fields that choose what a Subscription deploys
// besides its Channel's content: where that content comes from (the
// Channel and its address, the chart, version range, branch, tag, commit,
// path or prefix) and what the hub does to it on the way.
func contentInputs(sub *appsv1.Subscription, ch *appsv1.Channel) []input {
	ref := source.RefFor(sub)
	ck, _ := sub.ChannelKey()
	in := []input{{"spec.channel", ck.String()}}
	if ch != nil {
		in = append(in, input{"Channel spec.type", string(ch.Spec.Type)}, input{"Channel spec.pathname", source.SanitizeURL(ch.Spec.Pathname)})
	}
	return append(in,
		input{"spec.name", sub.Spec.Package},
		input{"spec.packageFilter.version", ref.Version},
		input{"git-branch", ref.Branch},
		input{"git-tag", ref.Tag},
		input{"git-desired-commit", ref.Commit},
		input{"git-path", source.SubscriptionPath(sub)},
		input{"bucket-path", ref.Prefix},
		input{"spec.packageOverrides", jsonText(sub.Spec.PackageOverrides)},
		input{"spec.overrides", jsonText(sub.Spec.Overrides)},
		input{"spec.clusterValuesTemplate", sub.Spec.ClusterValuesTemplate},
		input{"spec.allow", jsonText(sub.Spec.Allow)},
		input{"spec.deny", jsonText(sub.Spec.Deny)},
	)
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil || string(b) == "null" || string(b) == "[]" {
		return ""
	}
	return string(b)
}

// changedInputs says which inputs differ between base and head: "name:
// old → new" for short values, "name changed" for long ones.
func changedInputs(base, head []input) []string {
	byName := map[string]string{}
	for _, in := range base {
		byName[in.name] = in.value
	}
	var out []string
	for _, in := range head {
		old := byName[in.name]
		switch {
		case old == in.value:
		case len(old)+len(in.value) > 120:
			out = append(out, in.name+" changed")
		default:
			out = append(out, fmt.Sprintf("%s: %s → %s", in.name, orNone(old), orNone(in.value)))
		}
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// sourceChange compares the inputs of a Subscription whose content is not
// this repository at either revision. It is nil when the Subscription is
// at one revision only, or renders from this repository at both (the
// render shows every change then), or no input changed.
func (p *previewer) sourceChange(k string, base, head *side) *Source {
	bs, hs := base.hub.subs[k], head.hub.subs[k]
	if bs == nil || hs == nil {
		return nil
	}
	bch, hch := base.hub.channels[channelOf(bs)], head.hub.channels[channelOf(hs)]
	ownBase, _ := p.ownChannel(channelOf(bs), bch)
	ownHead, _ := p.ownChannel(channelOf(hs), hch)
	if ownBase && ownHead {
		return nil
	}
	changed := changedInputs(contentInputs(bs, bch), contentInputs(hs, hch))
	if len(changed) == 0 {
		return nil
	}
	src := &Source{Changed: changed}
	if p.opts.Sources == nil {
		src.Error = "the content was not fetched (the preview was given no access to sources), so what the clusters receive was not compared"
	}
	return src
}

func channelOf(sub *appsv1.Subscription) string {
	ck, _ := sub.ChannelKey()
	return ck.String()
}

// fetchRemote fetches a Subscription's content from its Channel, without
// credentials (the preview holds none), and records the revision it
// resolved to. On failure it records why and returns nil.
func (p *previewer) fetchRemote(ctx context.Context, s *side, sub *appsv1.Subscription, src *Source) *source.Artifact {
	ck := channelOf(sub)
	ch := s.hub.channels[ck]
	if ch == nil {
		src.Error = fmt.Sprintf("Channel %s is neither in the repository nor in the inventory at %s, so the content could not be fetched", ck, s.name)
		return nil
	}
	art, err := p.opts.Sources.Fetch(ctx, source.Request{Channel: ch, Ref: source.RefFor(sub)})
	if err != nil {
		src.Error = fmt.Sprintf("could not fetch the content at %s from Channel %s: %v", s.name, ck, err)
		return nil
	}
	if s.name == "base" {
		src.Base = art.Revision
	} else {
		src.Head = art.Revision
	}
	return art
}
