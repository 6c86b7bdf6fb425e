package preview

import (
	"context"
	"fmt"
	"strings"

	"github.com/ocm-gitops/ocm-gitops/pkg/gitprovider"
)

// DefaultStatusContext names the commit status a preview sets, and marks its comment.
const DefaultStatusContext = "ocm-gitops/preview"

// PostOptions say where a preview is posted.
type PostOptions struct {
	// PR is the pull request (GitLab: merge request IID) to comment on.
	PR int
	// SHA is the commit to set the status on: the pull request's head commit.
	SHA string
	// Context names the status and marks the comment, so a second preview
	// of the same pull request edits the first comment (default
	// DefaultStatusContext). Previews of several fleets on one pull request
	// need one context each.
	Context string
	// TargetURL is linked from the status (a CI job's page, say).
	TargetURL string
}

// Marker is the hidden text that identifies the preview's comment.
func (o PostOptions) Marker() string {
	return "<!-- " + strings.ReplaceAll(o.context(), "--", "-") + " -->"
}

func (o PostOptions) context() string {
	if o.Context == "" {
		return DefaultStatusContext
	}
	return o.Context
}

// Post keeps one comment holding markdown on the pull request (edited on
// every run) and sets a commit status: failure when a Subscription is
// flagged or cannot be placed or rendered at head, success otherwise.
func Post(ctx context.Context, c gitprovider.Client, repo gitprovider.Repo, rep *Report, markdown string, o PostOptions) error {
	if o.PR <= 0 {
		return fmt.Errorf("pull request number %d: want the number of the pull request (GitLab: the merge request IID)", o.PR)
	}
	if err := c.UpsertComment(ctx, repo, o.PR, o.Marker(), markdown); err != nil {
		return fmt.Errorf("comment on pull request %d of %s: %w", o.PR, repo, err)
	}
	st := StatusFor(rep)
	st.Context, st.TargetURL = o.context(), o.TargetURL
	if err := c.SetCommitStatus(ctx, repo, o.SHA, st); err != nil {
		return fmt.Errorf("set status %s on commit %s of %s: %w", st.Context, o.SHA, repo, err)
	}
	return nil
}

// StatusFor sums a report up as a commit status (without context).
func StatusFor(rep *Report) gitprovider.Status {
	var flagged, failing []string
	gained, lost, updated := 0, 0, 0
	for _, s := range rep.Subscriptions {
		k := s.Namespace + "/" + s.Name
		if s.Removal.Flagged {
			flagged = append(flagged, fmt.Sprintf("%s loses %s%% of its clusters", k, number(s.Removal.Percent)))
		}
		if s.failsAtHead() {
			failing = append(failing, k)
		}
		gained += len(s.Clusters.Gained)
		lost += len(s.Clusters.Lost)
		updated += s.Clusters.Updated
	}
	switch {
	case len(flagged) > 0:
		return gitprovider.Status{State: gitprovider.StateFailure,
			Description: fmt.Sprintf("Over the %s%% removal limit: %s", number(rep.MaxRemovalPercent), strings.Join(flagged, "; "))}
	case len(failing) > 0:
		return gitprovider.Status{State: gitprovider.StateFailure,
			Description: "Fails to place or render at head: " + strings.Join(failing, ", ")}
	case rep.Summary.Changed == 0:
		return gitprovider.Status{State: gitprovider.StateSuccess, Description: fmt.Sprintf("No change to %d Subscriptions", rep.Summary.Subscriptions)}
	}
	return gitprovider.Status{State: gitprovider.StateSuccess,
		Description: fmt.Sprintf("%d of %d Subscriptions change: %d clusters gained, %d lost, %d updated",
			rep.Summary.Changed, rep.Summary.Subscriptions, gained, lost, updated)}
}
