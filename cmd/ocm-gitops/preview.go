package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/apis/scheme"
	"github.com/ocm-gitops/ocm-gitops/pkg/egress"
	"github.com/ocm-gitops/ocm-gitops/pkg/gitprovider"
	"github.com/ocm-gitops/ocm-gitops/pkg/preview"
	"github.com/ocm-gitops/ocm-gitops/pkg/source"
)

// previewCommand holds the flags of 'ocm-gitops preview'.
type previewCommand struct {
	hub           clientFlags
	allowNetworks []netip.Prefix
	post          postFlags
	repo          string
	base          string
	head          string
	clustersFile  string
	objectsPath   string
	channels      string
	branch        string
	format        string
	jsonOut       string
	title         string
	maxRemoval    float64
	failOnDanger  bool
	maxBytes      int
	fetchSources  bool
}

// newPreviewCommand compares two revisions of a fleet repository: which
// clusters each Subscription gains and loses, and what changes on them.
func newPreviewCommand() *cobra.Command {
	p := &previewCommand{}
	cmd := &cobra.Command{
		Use:   "preview",
		Short: "Compare where and what a fleet repo change deploys, for pull requests",
		Long: `Evaluates the Subscriptions, Placements and manifests of the fleet repository at both
revisions against the cluster inventory, and reports per Subscription the clusters gained,
lost and kept, and the change of objects per group of clusters receiving the same change.

With --post, it keeps one comment on the pull request and sets a commit status (failure
when a Subscription is flagged or fails at --head). In GitHub Actions, Gitea Actions and
GitLab CI the forge, API, repository, pull request, commit and job link are read from the
job's environment; the token from --token (OCM_GITOPS_TOKEN), else GITHUB_TOKEN, GITEA_TOKEN
or GITLAB_TOKEN (GitLab's CI_JOB_TOKEN cannot comment: use a project access token with api scope).`,
		Example: `  ocm-gitops preview --repo . --base origin/main --clusters inventory/clusters.yaml
  ocm-gitops preview --repo . --base origin/main --hub-kubeconfig hub.kubeconfig --format json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return p.run(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&p.repo, "repo", ".", "local clone of the fleet repository holding both revisions")
	fs.StringVar(&p.base, "base", "", "the revision the change is compared with: the pull request's target (branch, tag or commit; required)")
	fs.StringVar(&p.head, "head", "HEAD", "the revision with the change")
	p.hub.register(fs, "hub-kubeconfig", "kubeconfig of the hub to read the cluster inventory from (or use --clusters)")
	fs.StringVar(&p.clustersFile, "clusters", "", "cluster inventory file written by 'ocm-gitops clusters export' (or use --hub-kubeconfig)")
	fs.StringVar(&p.objectsPath, "objects-path", "", "folder of the repository holding the hub objects (Subscriptions, Placements, Channels); default: the whole repository")
	fs.StringVar(&p.channels, "channel", "", "Channels (namespace/name, comma-separated) whose content is this repository; default: every Git Channel whose pathname is a remote of --repo")
	fs.StringVar(&p.branch, "branch", "", "the branch the change merges into; Subscriptions following another branch are compared by placement only")
	fs.StringVar(&p.format, "format", "markdown", "output on stdout: markdown or json")
	fs.StringVar(&p.jsonOut, "json-out", "", "also write the JSON report to this file")
	fs.StringVar(&p.title, "title", "", "heading of the markdown report (default \"ocm-gitops preview\"); tells previews of several fleets apart")
	fs.Float64Var(&p.maxRemoval, "max-removal-percent", preview.DefaultMaxRemovalPercent, "flag a Subscription that loses more than this share of its clusters")
	fs.BoolVar(&p.failOnDanger, "fail-on-danger", false, "exit with an error when a Subscription is flagged or cannot be placed or rendered at --head")
	fs.IntVar(&p.maxBytes, "max-comment-bytes", 60000, "size cap of the markdown report; diffs that do not fit are left out")
	fs.BoolVar(&p.fetchSources, "fetch-sources", true, "fetch, without credentials, the content of Subscriptions from Helm repositories, buckets or other Git repositories when the change moves their inputs (e.g. a chart's version range), to show their diff")
	fs.Func("allow-networks", "comma-separated CIDRs of loopback, link-local or private networks --fetch-sources may reach (default: public addresses only: Channels come from the change under review)", func(v string) error {
		n, err := egress.ParseNetworks(v)
		p.allowNetworks = append(p.allowNetworks, n...)
		return err
	})

	p.post.register(fs)
	return cmd
}

func (p *previewCommand) run(ctx context.Context, stdout, stderr io.Writer) error {
	if err := p.validate(); err != nil {
		return err
	}
	var target *forgeTarget
	if p.post.enabled {
		t, err := p.post.resolve(os.Getenv, os.ReadFile)
		if err != nil {
			return err
		}
		target = t
	}
	inv, err := loadInventory(ctx, p.clustersFile, &p.hub, stderr)
	if err != nil {
		return err
	}
	store, cleanup, err := previewSources(p.fetchSources, p.allowNetworks)
	if err != nil {
		return err
	}
	defer cleanup()
	rep, err := preview.Run(ctx, preview.Options{
		Repo: p.repo, Base: p.base, Head: p.head, Inventory: inv, Sources: store,
		ObjectsPath: p.objectsPath, Channels: splitList(p.channels), Branch: p.branch, MaxRemovalPercent: p.maxRemoval,
	})
	if err != nil {
		return err
	}
	md, err := p.write(stdout, rep)
	if err != nil {
		return err
	}
	if target != nil {
		if err := target.post(ctx, rep, md, stderr); err != nil {
			return err
		}
	}
	if p.failOnDanger && (rep.Flagged() || rep.Failing()) {
		return fmt.Errorf("%d Subscriptions lose more than %v%% of their clusters and %d cannot be placed or rendered at %s (--fail-on-danger)",
			rep.Summary.Flagged, p.maxRemoval, rep.Summary.Failing, p.head)
	}
	return nil
}

// validate checks the flags that need no I/O.
func (p *previewCommand) validate() error {
	switch {
	case p.base == "":
		return usageErrorf("--base is required: the revision the change is compared with (the pull request's target commit)")
	case (p.clustersFile == "") == (p.hub.kubeconfig == ""):
		return usageErrorf("pass exactly one of --clusters FILE (from 'ocm-gitops clusters export') and --hub-kubeconfig H")
	case p.format != "markdown" && p.format != "json":
		return usageErrorf("--format %q: want markdown or json", p.format)
	case p.maxRemoval < 0 || p.maxRemoval > 100:
		return usageErrorf("--max-removal-percent %v: want a number from 0 to 100", p.maxRemoval)
	}
	return nil
}

// write prints the report in --format, writes --json-out, and returns the
// markdown (what --post posts).
func (p *previewCommand) write(stdout io.Writer, rep *preview.Report) (string, error) {
	js, err := rep.JSON()
	if err != nil {
		return "", err
	}
	md := rep.Markdown(preview.MarkdownOptions{MaxBytes: p.maxBytes, Title: p.title})
	if p.jsonOut != "" {
		if err := os.WriteFile(p.jsonOut, js, 0o644); err != nil {
			return "", fmt.Errorf("--json-out: %w", err)
		}
	}
	out := md
	if p.format == "json" {
		out = string(js)
	}
	_, err = io.WriteString(stdout, out)
	return md, err
}

// splitList reads a comma-separated flag, blanks dropped.
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// loadInventory reads --clusters, or exports the inventory from the hub.
func loadInventory(ctx context.Context, file string, hub *clientFlags, stderr io.Writer) (*preview.Inventory, error) {
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, usageErrorf("--clusters: %v", err)
		}
		return preview.ParseInventory(file, data)
	}
	cfg, err := hub.config("hub-kubeconfig")
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return nil, fmt.Errorf("hub client: %w", err)
	}
	inv, warnings, err := preview.Export(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("read the cluster inventory from the hub: %w", err)
	}
	for _, w := range warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	return inv, nil
}

// postFlags say where --post posts.
type postFlags struct {
	enabled    bool
	provider   string
	apiURL     string
	repository string
	pr         int
	sha        string
	token      string
	user       string
	context    string
	targetURL  string
}

func (p *postFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&p.enabled, "post", false, "post the markdown report as a pull-request comment (edited on later runs) and set a commit status")
	fs.StringVar(&p.provider, "provider", "", "forge for --post: github, gitlab, gitea or bitbucket")
	fs.StringVar(&p.apiURL, "api-url", "", "forge API root for --post (default: the public service of --provider)")
	fs.StringVar(&p.repository, "repository", "", "repository for --post: owner/name, or the GitLab project path")
	fs.IntVar(&p.pr, "pr", 0, "pull request number for --post (GitLab: the merge request IID)")
	fs.StringVar(&p.sha, "sha", "", "commit to set the status on (default: the commit of --head); in a merge-commit CI checkout, the pull request's head commit")
	fs.StringVar(&p.token, "token", "", "forge API token for --post; prefer the environment variable OCM_GITOPS_TOKEN")
	fs.StringVar(&p.user, "user", "", "Bitbucket user name for an app password (--token); empty sends the token as a bearer token")
	fs.StringVar(&p.context, "status-context", preview.DefaultStatusContext, "commit status context, also marking the comment; one per fleet when several preview one pull request")
	fs.StringVar(&p.targetURL, "target-url", "", "link of the commit status (default in CI: the job's page)")
}

// previewSources is the source store of --fetch-sources (nil when off),
// reaching public addresses and the allowed networks only: the Channels
// come from the change under review. cleanup removes its cache.
func previewSources(fetch bool, allow []netip.Prefix) (*source.Store, func(), error) {
	if !fetch {
		return nil, func() {}, nil
	}
	cache, err := os.MkdirTemp("", "ocm-gitops-preview-sources-")
	if err != nil {
		return nil, nil, fmt.Errorf("--fetch-sources: %w", err)
	}
	store := source.NewStore(cache, logr.Discard(), source.WithEgress(egress.Allow(allow...)), source.WithFetchTimeout(2*time.Minute))
	return store, func() { _ = os.RemoveAll(cache) }, nil
}

// forgeTarget is a resolved --post destination.
type forgeTarget struct {
	client gitprovider.Client
	repo   gitprovider.Repo
	opts   preview.PostOptions
}

// post posts the report on the pull request and sets the commit status (on
// the head commit unless --sha names another).
func (t *forgeTarget) post(ctx context.Context, rep *preview.Report, md string, stderr io.Writer) error {
	if t.opts.SHA == "" {
		t.opts.SHA = rep.Head.Commit
	}
	if err := preview.Post(ctx, t.client, t.repo, rep, md, t.opts); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "posted the preview on pull request %d of %s and status %s on %s\n", t.opts.PR, t.repo, t.opts.Context, t.opts.SHA)
	return nil
}

var pullRef = regexp.MustCompile(`^refs/pull/([0-9]+)/`)

// resolve completes the flags from the CI job's environment and builds the
// forge client. getenv and readFile are os.Getenv and os.ReadFile outside tests.
func (p *postFlags) resolve(getenv func(string) string, readFile func(string) ([]byte, error)) (*forgeTarget, error) {
	d := ciDefaults(getenv, readFile)
	pick := func(flag, def string) string {
		if flag != "" {
			return flag
		}
		return def
	}
	provider := strings.ToLower(pick(p.provider, d.provider))
	apiURL := pick(p.apiURL, d.apiURL)
	repository := pick(p.repository, d.repository)
	sha := pick(p.sha, d.sha)
	targetURL := pick(p.targetURL, d.targetURL)
	pr := p.pr
	if pr == 0 {
		pr = d.pr
	}
	token := p.token
	if token == "" {
		token = getenv(map[string]string{"github": "GITHUB_TOKEN", "gitea": "GITEA_TOKEN", "gitlab": "GITLAB_TOKEN"}[provider])
		if token == "" && provider == "gitea" {
			token = getenv("GITHUB_TOKEN")
		}
	}
	switch {
	case provider == "":
		return nil, usageErrorf("--post needs --provider (github, gitlab, gitea or bitbucket); it is detected in GitHub Actions, Gitea Actions and GitLab CI")
	case repository == "":
		return nil, usageErrorf("--post needs --repository (owner/name, or the GitLab project path)")
	case pr <= 0:
		return nil, usageErrorf("--post needs --pr, the pull request number (GitLab: the merge request IID); run the preview from a pull-request job or pass it")
	case token == "":
		return nil, usageErrorf("--post needs a forge token: set OCM_GITOPS_TOKEN (or --token, GITHUB_TOKEN, GITEA_TOKEN, GITLAB_TOKEN)")
	}
	creds := map[string][]byte{gitprovider.KeyToken: []byte(token)}
	if p.user != "" {
		creds[gitprovider.KeyUser] = []byte(p.user)
	}
	// The forge's address is the CI job's own configuration, not a tenant's,
	// so it may be on a private network (gitprovider.New's default is public only).
	hc := &http.Client{Timeout: gitprovider.DefaultTimeout}
	c, r, err := gitprovider.New(appsv1.CommitStatusSpec{Provider: appsv1.GitProvider(provider), APIURL: apiURL, Repository: repository}, "", creds, hc)
	if err != nil {
		return nil, usageErrorf("--post (--provider %s, --api-url %q, --repository %q): %v", provider, apiURL, repository, err)
	}
	return &forgeTarget{client: c, repo: r, opts: preview.PostOptions{PR: pr, SHA: sha, Context: p.context, TargetURL: targetURL}}, nil
}

// ciInfo is what a CI job's environment says about the pull request.
type ciInfo struct {
	provider, apiURL, repository, sha, targetURL string
	pr                                           int
}

// ciDefaults reads GitHub Actions (and Gitea Actions, which mimics it),
// GitLab CI and Bitbucket Pipelines variables.
func ciDefaults(getenv func(string) string, readFile func(string) ([]byte, error)) ciInfo {
	var d ciInfo
	switch {
	case getenv("GITHUB_ACTIONS") == "true":
		d.provider = "github"
		if getenv("GITEA_ACTIONS") == "true" {
			d.provider = "gitea"
		}
		d.apiURL = getenv("GITHUB_API_URL")
		d.repository = getenv("GITHUB_REPOSITORY")
		if m := pullRef.FindStringSubmatch(getenv("GITHUB_REF")); m != nil {
			d.pr, _ = strconv.Atoi(m[1])
		}
		if path := getenv("GITHUB_EVENT_PATH"); path != "" {
			if data, err := readFile(path); err == nil {
				var ev struct {
					PullRequest *struct {
						Number int `json:"number"`
						Head   struct {
							SHA string `json:"sha"`
						} `json:"head"`
					} `json:"pull_request"`
				}
				if json.Unmarshal(data, &ev) == nil && ev.PullRequest != nil {
					d.pr, d.sha = ev.PullRequest.Number, ev.PullRequest.Head.SHA
				}
			}
		}
		if s, r, id := getenv("GITHUB_SERVER_URL"), getenv("GITHUB_REPOSITORY"), getenv("GITHUB_RUN_ID"); s != "" && r != "" && id != "" {
			d.targetURL = s + "/" + r + "/actions/runs/" + id
		}
	case getenv("GITLAB_CI") == "true":
		d.provider = "gitlab"
		d.apiURL = getenv("CI_API_V4_URL")
		d.repository = getenv("CI_PROJECT_PATH")
		d.pr, _ = strconv.Atoi(getenv("CI_MERGE_REQUEST_IID"))
		d.sha = getenv("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA")
		if d.sha == "" {
			d.sha = getenv("CI_COMMIT_SHA")
		}
		d.targetURL = getenv("CI_JOB_URL")
	case getenv("BITBUCKET_BUILD_NUMBER") != "":
		d.provider = "bitbucket"
		d.repository = getenv("BITBUCKET_REPO_FULL_NAME")
		d.pr, _ = strconv.Atoi(getenv("BITBUCKET_PR_ID"))
		d.sha = getenv("BITBUCKET_COMMIT")
	}
	return d
}
