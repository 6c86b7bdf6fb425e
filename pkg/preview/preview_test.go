package preview

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"

	"github.com/ocm-gitops/ocm-gitops/pkg/secrets"
)

// now is the fixed time previews are judged at in tests.
var now = time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC)

// buildFleet makes the fleet repository of the golden tests: tag "initial"
// is testdata/fleet, then one tagged commit per kind of change.
func buildFleet(t *testing.T) *gitRepo {
	t.Helper()
	g := newGitRepo(t)
	err := filepath.WalkDir("testdata/fleet", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("testdata/fleet", p)
		g.write(map[string]string{filepath.ToSlash(rel): string(data)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	g.git("remote", "add", "origin", "git@git.example.com:platform/fleet.git")
	g.commit("initial")
	g.git("tag", "initial")

	// A label selector change: web goes to staging too.
	g.replace("hub/placement-web.yaml", "matchLabels:\n            env: prod",
		"matchExpressions:\n            - key: env\n              operator: In\n              values: [prod, staging]")
	g.commit("web on staging")
	g.git("tag", "placement")

	// A values change in the chart kept in Git.
	g.replace("apps/web/values.yaml", "replicas: 2\ngreeting: hello", "replicas: 3\ngreeting: hello, world")
	g.commit("web: three replicas, a longer greeting")
	g.git("tag", "values")

	// A Kustomize overlay change.
	g.replace("apps/shop/overlays/prod/replicas.yaml", "replicas: 3", "replicas: 5")
	g.commit("shop: five replicas in prod")
	g.git("tag", "overlay")

	// A chart version bump.
	g.replace("apps/web/Chart.yaml", "version: 1.0.0", "version: 1.1.0")
	g.commit("web chart 1.1.0")
	g.git("tag", "chart")
	return g
}

func run(t *testing.T, o Options) *Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if o.Now.IsZero() {
		o.Now = now
	}
	rep, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func find(t *testing.T, rep *Report, name string) SubscriptionChange {
	t.Helper()
	for _, s := range rep.Subscriptions {
		if s.Namespace+"/"+s.Name == name {
			return s
		}
	}
	t.Fatalf("no Subscription %s in the report", name)
	return SubscriptionChange{}
}

// TestGolden previews each change of the fleet repository against the
// inventory in testdata/clusters.yaml and compares the markdown and JSON
// with testdata/golden (go test ./pkg/preview -run TestGolden -update
// rewrites them).
func TestGolden(t *testing.T) {
	g := buildFleet(t)
	inv := readInventory(t, "testdata/clusters.yaml")
	steps := []struct {
		base, head string
		check      func(t *testing.T, rep *Report)
	}{
		{"initial", "placement", func(t *testing.T, rep *Report) {
			web := find(t, rep, "fleet/web")
			if got := strings.Join(web.Clusters.Gained, ","); got != "staging-1,staging-2" || len(web.Clusters.Lost) != 0 || web.Clusters.Kept != 3 {
				t.Errorf("web clusters = %+v, want staging-1 and staging-2 gained, 3 kept", web.Clusters)
			}
			// The two new clusters are in different regions, so they receive different objects.
			if len(web.Groups) != 2 || web.Clusters.Updated != 0 {
				t.Errorf("web: %d groups, %d updated; want 2 groups (one per region) and no kept cluster updated", len(web.Groups), web.Clusters.Updated)
			}
			if agent := find(t, rep, "fleet/agent"); agent.Rendered || agent.Change != ChangeUnchanged {
				t.Errorf("agent: rendered %v, change %s; want placement only, unchanged", agent.Rendered, agent.Change)
			}
		}},
		{"placement", "values", func(t *testing.T, rep *Report) {
			web := find(t, rep, "fleet/web")
			if web.Clusters.Updated != 5 || len(web.Groups) != 2 || len(web.Groups[0].Clusters) != 3 {
				t.Errorf("web: %d updated in %d groups (%v); want 5 in 2 (3 in eu, 2 in us)", web.Clusters.Updated, len(web.Groups), web.Groups)
			}
			if rep.Summary.Changed != 1 {
				t.Errorf("%d Subscriptions changed, want only web", rep.Summary.Changed)
			}
		}},
		{"values", "overlay", func(t *testing.T, rep *Report) {
			shop := find(t, rep, "fleet/shop")
			if len(shop.Groups) != 1 || strings.Join(shop.Groups[0].Clusters, ",") != "prod-eu-1,prod-eu-2,prod-us-1" {
				t.Fatalf("shop groups = %+v, want one group of the three prod clusters", shop.Groups)
			}
			if d := shop.Groups[0].Objects[0].Diff; !strings.Contains(d, "-  replicas: 3\n+  replicas: 5\n") {
				t.Errorf("shop diff does not show the replica change:\n%s", d)
			}
		}},
		{"overlay", "chart", func(t *testing.T, rep *Report) {
			web := find(t, rep, "fleet/web")
			n := 0
			for _, g := range web.Groups {
				n += len(g.Clusters)
				if len(g.Objects) != 2 {
					t.Errorf("group %v changes %d objects, want the ConfigMap and the Deployment", g.Clusters, len(g.Objects))
				}
			}
			if n != 5 {
				t.Errorf("the chart bump updates %d clusters, want 5", n)
			}
		}},
	}
	for _, s := range steps {
		t.Run(s.head, func(t *testing.T) {
			rep := run(t, Options{Repo: g.dir, Base: s.base, Head: s.head, Inventory: inv, MaxRemovalPercent: DefaultMaxRemovalPercent})
			s.check(t, rep)
			if rep.Flagged() || rep.Failing() {
				t.Errorf("flagged %v, failing %v; want neither", rep.Flagged(), rep.Failing())
			}
			js, err := rep.JSON()
			if err != nil {
				t.Fatal(err)
			}
			golden(t, s.head+".json", js)
			golden(t, s.head+".md", []byte(rep.Markdown(MarkdownOptions{})))
		})
	}
}

// TestRemovalIsFlagged: losing more than the allowed share of an app's
// clusters is flagged, and so is a kept cluster left with nothing.
func TestRemovalIsFlagged(t *testing.T) {
	g := buildFleet(t)
	inv := readInventory(t, "testdata/clusters.yaml")
	g.git("checkout", "-q", "-b", "shrink", "initial")
	g.replace("hub/subscriptions.yaml", "      - name: prod-us-1\n      - name: staging-1\n", "")
	g.commit("hello on one cluster only")
	g.git("tag", "shrink")

	rep := run(t, Options{Repo: g.dir, Base: "initial", Head: "shrink", Inventory: inv, MaxRemovalPercent: 50})
	hello := find(t, rep, "fleet/hello")
	if !hello.Removal.Flagged || hello.Removal.Percent != 66.7 || strings.Join(hello.Removal.Clusters, ",") != "prod-us-1,staging-1" {
		t.Errorf("hello removal = %+v, want prod-us-1 and staging-1 (66.7%%) flagged", hello.Removal)
	}
	if !rep.Flagged() || rep.Summary.Flagged != 1 {
		t.Errorf("report flagged %v (%d), want 1 Subscription flagged", rep.Flagged(), rep.Summary.Flagged)
	}
	md := rep.Markdown(MarkdownOptions{})
	first := strings.Index(md, "[!CAUTION]")
	if first < 0 || first > strings.Index(md, "| Subscription |") ||
		!strings.Contains(md, "`fleet/hello` is removed from 2 of 3 clusters (66.7%): `prod-us-1`, `staging-1`") {
		t.Errorf("the markdown does not flag the removal at the top:\n%s", md)
	}
	if st := StatusFor(rep); st.State != "failure" || !strings.Contains(st.Description, "fleet/hello loses 66.7%") {
		t.Errorf("status = %+v, want a failure naming fleet/hello", st)
	}

	// Under a higher limit the same change passes.
	rep = run(t, Options{Repo: g.dir, Base: "initial", Head: "shrink", Inventory: inv, MaxRemovalPercent: 70})
	if rep.Flagged() || strings.Contains(rep.Markdown(MarkdownOptions{}), "[!CAUTION]") {
		t.Errorf("flagged under a 70%% limit: %+v", find(t, rep, "fleet/hello").Removal)
	}
	if st := StatusFor(rep); st.State != "success" {
		t.Errorf("status = %+v, want success", st)
	}

	// Emptying the app's folder keeps the clusters but removes everything from them.
	g.git("checkout", "-q", "-b", "empty", "initial")
	g.write(map[string]string{"apps/hello/namespace.yaml": "", "apps/hello/configmap.yaml": "", "apps/hello/secret.yaml": "", "apps/hello/README.md": "moved\n"})
	g.commit("hello emptied")
	rep = run(t, Options{Repo: g.dir, Base: "initial", Head: "empty", Inventory: inv, MaxRemovalPercent: 50})
	hello = find(t, rep, "fleet/hello")
	if !hello.Removal.Flagged || hello.Removal.Percent != 100 || hello.Clusters.Kept != 3 {
		t.Errorf("emptied hello: removal %+v, clusters %+v; want all 3 kept clusters flagged", hello.Removal, hello.Clusters)
	}
	// legacy (held by the hub only) deploys the same folder: it is emptied too.
	if legacy := find(t, rep, "fleet/legacy"); !legacy.Removal.Flagged {
		t.Errorf("legacy removal = %+v, want flagged", legacy.Removal)
	}

	// Deleting a Subscription removes the app from all its clusters.
	g.git("checkout", "-q", "-b", "delete", "initial")
	g.replace("hub/subscriptions.yaml", "---\n# Plain manifests on named clusters.", "---\n# Deleted.\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n---\n# Plain manifests on named clusters.")
	g.replace("hub/subscriptions.yaml", "kind: Subscription\nmetadata:\n  name: hello\n", "kind: NotASubscription\nmetadata:\n  name: hello\n")
	g.commit("hello deleted")
	rep = run(t, Options{Repo: g.dir, Base: "initial", Head: "delete", Inventory: inv, MaxRemovalPercent: 50})
	hello = find(t, rep, "fleet/hello")
	if hello.Change != ChangeRemoved || !hello.Removal.Flagged || len(hello.Clusters.Lost) != 3 {
		t.Errorf("deleted hello: change %s, removal %+v, clusters %+v; want removed from all 3, flagged", hello.Change, hello.Removal, hello.Clusters)
	}
}

// TestGroupsClustersBySameChange: 40 clusters and two distinct changes make
// two groups, each diffed once.
func TestGroupsClustersBySameChange(t *testing.T) {
	g := newGitRepo(t)
	g.write(map[string]string{
		"hub/sub.yaml": `apiVersion: apps.open-cluster-management.io/v1
kind: Subscription
metadata:
  name: app
  namespace: ops
  annotations:
    apps.open-cluster-management.io/git-path: app
spec:
  channel: ops/fleet
  clusterValuesTemplate: |
    zone: {{ .Cluster.Labels.zone }}
  placement:
    clusterSelector: {}
---
apiVersion: apps.open-cluster-management.io/v1
kind: Channel
metadata:
  name: fleet
  namespace: ops
spec:
  type: Git
  pathname: https://example.com/fleet.git
`,
		"app/Chart.yaml":              "apiVersion: v2\nname: app\nversion: 0.1.0\n",
		"app/values.yaml":             "level: info\nzone: none\n",
		"app/templates/settings.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  level: {{ .Values.level }}\n  zone: {{ .Values.zone }}\n",
	})
	base := g.commit("app")
	g.replace("app/values.yaml", "level: info", "level: debug")
	head := g.commit("debug")

	inv := &Inventory{}
	for i := range 40 {
		zone := []string{"a", "b"}[i%2]
		inv.Clusters = append(inv.Clusters, cluster(fmt.Sprintf("c%02d", i), map[string]string{"zone": zone}))
	}
	rep := run(t, Options{Repo: g.dir, Base: base, Head: head, Inventory: inv, MaxRemovalPercent: 50})
	app := find(t, rep, "ops/app")
	if len(app.Groups) != 2 {
		t.Fatalf("%d groups, want 2", len(app.Groups))
	}
	for _, gr := range app.Groups {
		if len(gr.Clusters) != 20 || len(gr.Objects) != 1 || !strings.Contains(gr.Objects[0].Diff, "-  level: info\n+  level: debug\n") {
			t.Errorf("group of %d clusters, %d objects: %s; want 20 clusters and the level change", len(gr.Clusters), len(gr.Objects), gr.Objects)
		}
	}
	if app.Clusters.Updated != 40 {
		t.Errorf("%d clusters updated, want 40", app.Clusters.Updated)
	}
	md := rep.Markdown(MarkdownOptions{})
	if n := strings.Count(md, "```diff"); n != 2 {
		t.Errorf("the markdown has %d diffs, want 2 (one per group)", n)
	}
	if !strings.Contains(md, "<b>20 clusters</b> (<code>c00</code>, <code>c02</code>, <code>c04</code>, <code>c06</code>, <code>c08</code>, and 15 more)") {
		t.Errorf("group summaries do not list the first clusters and a count:\n%s", md)
	}
}

func cluster(name string, labels map[string]string) *clusterv1.ManagedCluster {
	return &clusterv1.ManagedCluster{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       clusterv1.ManagedClusterSpec{HubAcceptsClient: true},
	}
}

func clusterSet(name string) *clusterv1beta2.ManagedClusterSet {
	return &clusterv1beta2.ManagedClusterSet{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

func binding(namespace, set string) *clusterv1beta2.ManagedClusterSetBinding {
	return &clusterv1beta2.ManagedClusterSetBinding{ObjectMeta: metav1.ObjectMeta{Name: set, Namespace: namespace},
		Spec: clusterv1beta2.ManagedClusterSetBindingSpec{ClusterSet: set}}
}

// TestSecretsAreRedacted: a changed Secret shows as a change of digests, never
// with its value.
func TestSecretsAreRedacted(t *testing.T) {
	g := buildFleet(t)
	inv := readInventory(t, "testdata/clusters.yaml")
	g.replace("apps/hello/secret.yaml", "token: s3cr3t-value", "token: n3w-s3cr3t")
	g.commit("rotate")
	rep := run(t, Options{Repo: g.dir, Base: "chart", Head: "HEAD", Inventory: inv, MaxRemovalPercent: 50})
	hello := find(t, rep, "fleet/hello")
	if len(hello.Groups) != 1 || hello.Groups[0].Objects[0].Kind != "Secret" {
		t.Fatalf("hello groups = %+v, want the Secret changed", hello.Groups)
	}
	js, err := rep.JSON()
	if err != nil {
		t.Fatal(err)
	}
	md := rep.Markdown(MarkdownOptions{})
	for _, out := range []string{string(js), md} {
		if strings.Contains(out, "s3cr3t") {
			t.Fatalf("a Secret value leaked into the report:\n%s", out)
		}
		if !strings.Contains(out, "-  token: <redacted, keyed digest ") || !strings.Contains(out, "+  token: <redacted, keyed digest ") {
			t.Errorf("the Secret change is not shown as a digest change:\n%s", out)
		}
		// An unkeyed digest lets anyone reading the comment test guesses
		// of a low-entropy value (issue 16 item 13).
		for _, guess := range []string{"s3cr3t-value", "n3w-s3cr3t"} {
			sum := sha256.Sum256([]byte(guess))
			if strings.Contains(out, hex.EncodeToString(sum[:6])) {
				t.Errorf("the report holds the unkeyed sha256 of %q", guess)
			}
		}
	}
	// Another run draws another key: digests do not link reports.
	again := run(t, Options{Repo: g.dir, Base: "chart", Head: "HEAD", Inventory: inv, MaxRemovalPercent: 50})
	if d1, d2 := find(t, rep, "fleet/hello").Groups[0].Objects[0].Diff, find(t, again, "fleet/hello").Groups[0].Objects[0].Diff; d1 == d2 {
		t.Errorf("two runs show the same digests:\n%s", d1)
	}
}

// TestHeadFailures: a Placement removed from the repository or a chart that
// no longer renders fails the head side, without counting as a removal.
func TestHeadFailures(t *testing.T) {
	g := buildFleet(t)
	inv := readInventory(t, "testdata/clusters.yaml")
	g.write(map[string]string{"hub/placement-web.yaml": ""})
	g.replace("apps/shop/overlays/prod/kustomization.yaml", "path: replicas.yaml", "path: missing.yaml")
	g.commit("broken")
	rep := run(t, Options{Repo: g.dir, Base: "chart", Head: "HEAD", Inventory: inv, MaxRemovalPercent: 50})
	web := find(t, rep, "fleet/web")
	if len(web.Problems) != 1 || web.Problems[0].Side != "head" || !strings.Contains(web.Problems[0].Message, "Placement fleet/web not found") {
		t.Errorf("web problems = %+v, want the missing Placement at head", web.Problems)
	}
	if web.Removal.Flagged || len(web.Clusters.Lost) != 0 {
		t.Errorf("web removal = %+v, lost %v; a failure must not count as a removal", web.Removal, web.Clusters.Lost)
	}
	shop := find(t, rep, "fleet/shop")
	if len(shop.Problems) != 1 || len(shop.Problems[0].Clusters) != 3 || !strings.Contains(shop.Problems[0].Message, "missing.yaml") {
		t.Errorf("shop problems = %+v, want one render error on the 3 clusters", shop.Problems)
	}
	if rep.Summary.Failing != 2 || rep.Flagged() {
		t.Errorf("summary = %+v, want 2 failing and none flagged", rep.Summary)
	}
	if st := StatusFor(rep); st.State != "failure" || !strings.Contains(st.Description, "fleet/shop, fleet/web") {
		t.Errorf("status = %+v, want a failure naming both", st)
	}
	if md := rep.Markdown(MarkdownOptions{}); !strings.Contains(md, "[!WARNING]") || !strings.Contains(md, "**Fails at head** on `prod-eu-1`, `prod-eu-2`, `prod-us-1`:") {
		t.Errorf("the markdown does not report the failures:\n%s", md)
	}
}

// TestPinsAndBranches: a Subscription pinned to a tag renders the tag at both
// revisions; one following another branch than the target is compared by
// placement only.
func TestPinsAndBranches(t *testing.T) {
	g := buildFleet(t)
	inv := readInventory(t, "testdata/clusters.yaml")
	g.git("tag", "shop-v1", "initial")
	g.git("checkout", "-q", "-b", "pin", "initial")
	g.replace("hub/subscriptions.yaml", "apps.open-cluster-management.io/git-path: apps/shop/overlays/prod",
		"apps.open-cluster-management.io/git-path: apps/shop/overlays/prod\n    apps.open-cluster-management.io/git-tag: shop-v1")
	g.commit("pin shop")
	g.git("tag", "pinned")
	g.replace("apps/shop/overlays/prod/replicas.yaml", "replicas: 3", "replicas: 7")
	g.commit("shop: seven replicas")

	rep := run(t, Options{Repo: g.dir, Base: "pinned", Head: "HEAD", Inventory: inv, MaxRemovalPercent: 50})
	if shop := find(t, rep, "fleet/shop"); shop.Change != ChangeUnchanged || !shop.Rendered {
		t.Errorf("pinned shop: change %s, rendered %v; the pinned tag did not move, so nothing changes", shop.Change, shop.Rendered)
	}
	// Moving the pin is a change.
	g.replace("hub/subscriptions.yaml", "git-tag: shop-v1", "git-desired-commit: "+g.git("rev-parse", "HEAD"))
	g.commit("pin shop to the seven replicas")
	rep = run(t, Options{Repo: g.dir, Base: "pinned", Head: "HEAD", Inventory: inv, MaxRemovalPercent: 50})
	if shop := find(t, rep, "fleet/shop"); len(shop.Groups) != 1 || !strings.Contains(shop.Groups[0].Objects[0].Diff, "+  replicas: 7") {
		t.Errorf("moved pin: groups %+v, want the replicas change", shop.Groups)
	}

	rep = run(t, Options{Repo: g.dir, Base: "initial", Head: "values", Inventory: inv, MaxRemovalPercent: 50, Branch: "release"})
	web := find(t, rep, "fleet/web")
	if web.Rendered || len(web.Groups) != 0 || len(web.Clusters.Gained) != 2 || !strings.Contains(strings.Join(web.Notes, " "), "follows branch main, not release") {
		t.Errorf("web on another branch: rendered %v, groups %d, clusters %+v, notes %q", web.Rendered, len(web.Groups), web.Clusters, web.Notes)
	}
	if shop := find(t, rep, "fleet/shop"); !shop.Rendered {
		t.Errorf("shop follows no branch; it is rendered whatever --branch says")
	}
}

// TestChannels: which Channels count as this repository.
func TestChannels(t *testing.T) {
	g := buildFleet(t)
	inv := readInventory(t, "testdata/clusters.yaml")
	for _, c := range []struct {
		name     string
		channels []string
		remote   string
		agent    bool
		web      bool
	}{
		{"remote matches", nil, "", false, true},
		{"listed", []string{"fleet/vendor"}, "", true, false},
		{"no remote", nil, "-", true, true},
		{"other remote", nil, "https://git.example.com/someone/else.git", false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			switch c.remote {
			case "-":
				g.git("remote", "remove", "origin")
				defer g.git("remote", "add", "origin", "git@git.example.com:platform/fleet.git")
			case "":
			default:
				g.git("remote", "set-url", "origin", c.remote)
				defer g.git("remote", "set-url", "origin", "git@git.example.com:platform/fleet.git")
			}
			rep := run(t, Options{Repo: g.dir, Base: "initial", Head: "placement", Inventory: inv, Channels: c.channels, MaxRemovalPercent: 50})
			if got := find(t, rep, "fleet/agent").Rendered; got != c.agent {
				t.Errorf("agent rendered = %v, want %v", got, c.agent)
			}
			if got := find(t, rep, "fleet/web").Rendered; got != c.web {
				t.Errorf("web rendered = %v, want %v", got, c.web)
			}
			if c.agent {
				// The vendor content is not here: agent fails at both revisions,
				// which the change did not cause.
				agent := find(t, rep, "fleet/agent")
				if len(agent.Problems) != 2 || !agent.Problems[1].Preexisting || rep.Failing() {
					t.Errorf("agent problems = %+v, failing %v; want a failure at both revisions, not failing the change", agent.Problems, rep.Failing())
				}
				if md := rep.Markdown(MarkdownOptions{}); strings.Contains(md, "[!WARNING]") || !strings.Contains(md, "**Fails at both revisions** on `prod-eu-1`") {
					t.Errorf("a failure at both revisions is reported as caused by the change:\n%s", md)
				}
			}
		})
	}
}

func TestCodeSpans(t *testing.T) {
	for in, want := range map[string]string{
		"fleet/web":  "`fleet/web`",
		"a`b":        "`` a`b ``",
		"a``b\nc":    "``` a``b c ```",
		"`edge`":     "`` `edge` ``",
		"apps/x y z": "`apps/x y z`",
	} {
		if got := code(in); got != want {
			t.Errorf("code(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBadInput(t *testing.T) {
	g := buildFleet(t)
	ctx := context.Background()
	for _, c := range []struct {
		opts Options
		want string
	}{
		{Options{Repo: g.dir, Base: "nope", Head: "HEAD"}, `base: revision "nope" is not a commit of`},
		{Options{Repo: g.dir, Base: "initial", Head: "--output=x"}, `head: revision "--output=x" is not a branch, tag or commit`},
		{Options{Repo: g.dir, Base: "initial", Head: "HEAD", MaxRemovalPercent: 120}, "max removal percent 120: want a number from 0 to 100"},
		{Options{Repo: g.dir, Base: "initial", Head: "HEAD", Channels: []string{"fleet"}}, `channel "fleet": want namespace/name`},
		{Options{Repo: g.dir, Base: "initial", Head: "HEAD", ObjectsPath: "../x"}, `objects path "../x" must be a folder inside the repository`},
	} {
		_, err := Run(ctx, c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Run(%+v) = %v, want an error containing %q", c.opts, err, c.want)
		}
	}
	if _, err := ParseInventory("inv.yaml", []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n")); err == nil ||
		!strings.Contains(err.Error(), "inv.yaml: item 1 (v1 ConfigMap x) is not part of a cluster inventory") {
		t.Errorf("ParseInventory(ConfigMap) = %v", err)
	}
}

// TestObjectsPathAndWarnings: --objects-path narrows the search; a broken
// file is reported, not fatal.
func TestObjectsPathAndWarnings(t *testing.T) {
	g := buildFleet(t)
	g.write(map[string]string{"other/sub.yaml": "apiVersion: apps.open-cluster-management.io/v1\nkind: Subscription\nmetadata:\n  name: stray\nspec:\n  channel: fleet/fleet-repo\n  placement:\n    local: true\n",
		"hub/broken.yaml": "kind: Subscription\n  bad: [indent\n",
		"hub/evil.yaml":   "apiVersion: apps.open-cluster-management.io/v1\nkind: Subscription\nmetadata:\n  name: \"a`|<b>\"\nspec:\n  channel: fleet/fleet-repo\n"})
	g.commit("stray and broken")
	rep := run(t, Options{Repo: g.dir, Base: "chart", Head: "HEAD", Inventory: &Inventory{}, MaxRemovalPercent: 50, ObjectsPath: "hub"})
	for _, s := range rep.Subscriptions {
		if s.Name == "stray" {
			t.Errorf("the objects path does not narrow the search: %+v", s)
		}
	}
	if len(rep.Warnings) != 2 || !strings.HasPrefix(rep.Warnings[0], "hub/broken.yaml: ") ||
		!strings.HasPrefix(rep.Warnings[1], "hub/evil.yaml: Subscription: metadata.name is not a valid name") {
		t.Errorf("warnings = %q, want one about hub/broken.yaml and one about hub/evil.yaml", rep.Warnings)
	}
	rep = run(t, Options{Repo: g.dir, Base: "chart", Head: "HEAD", Inventory: &Inventory{}, MaxRemovalPercent: 50})
	stray := find(t, rep, "default/stray")
	if stray.Change != ChangeAdded || strings.Join(stray.Clusters.Gained, ",") != "local-cluster" {
		t.Errorf("stray = %+v, want added on local-cluster", stray)
	}
}

// TestMarkdownSizeCap: diffs that do not fit are left out with a note.
func TestMarkdownSizeCap(t *testing.T) {
	g := buildFleet(t)
	inv := readInventory(t, "testdata/clusters.yaml")
	rep := run(t, Options{Repo: g.dir, Base: "initial", Head: "chart", Inventory: inv, MaxRemovalPercent: 50})
	full := rep.Markdown(MarkdownOptions{})
	small := rep.Markdown(MarkdownOptions{MaxBytes: len(full) / 2})
	if len(small) > len(full)/2 {
		t.Errorf("capped markdown is %d bytes, over the %d cap", len(small), len(full)/2)
	}
	if !strings.Contains(small, "left out of this comment for size") || strings.Count(small, "```diff") >= strings.Count(full, "```diff") {
		t.Errorf("capped markdown does not leave diffs out with a note:\n%s", small)
	}
	tiny := rep.Markdown(MarkdownOptions{MaxBytes: 1000})
	if len(tiny) > 1000 || !strings.Contains(tiny, "The report is cut here") {
		t.Errorf("a 1000-byte cap gives %d bytes:\n%s", len(tiny), tiny)
	}
	cut := rep.Markdown(MarkdownOptions{MaxDiffLines: 5})
	if !strings.Contains(cut, "more lines\n```") {
		t.Errorf("diffs are not cut at 5 lines:\n%s", cut)
	}
}

// TestTreeIsWhatTheHubSees: files are written as committed, whatever
// export-ignore or end-of-line attributes say; symbolic links are kept.
func TestTreeIsWhatTheHubSees(t *testing.T) {
	g := newGitRepo(t)
	g.write(map[string]string{
		".gitattributes":   "app/cm.yaml export-ignore\n*.yaml text eol=crlf\n",
		"app/cm.yaml":      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n",
		"app/nested/x.txt": "x\n",
	})
	if err := os.Symlink("cm.yaml", filepath.Join(g.dir, "app", "link.yaml")); err != nil {
		t.Fatal(err)
	}
	commit := g.commit("tree")
	ctx := context.Background()
	r := &repo{path: g.dir, dir: t.TempDir(), trees: map[string]string{}}
	dir, err := r.tree(ctx, commit)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "app", "cm.yaml"))
	if err != nil || string(data) != "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n" {
		t.Errorf("app/cm.yaml = %q, %v; want it as committed", data, err)
	}
	if target, err := os.Readlink(filepath.Join(dir, "app", "link.yaml")); err != nil || target != "cm.yaml" {
		t.Errorf("app/link.yaml -> %q, %v; want the symbolic link kept", target, err)
	}
	if again, _ := r.tree(ctx, commit); again != dir {
		t.Errorf("a commit is written twice: %s and %s", dir, again)
	}
	r.maxBytes = 10
	delete(r.trees, commit)
	r.dir = t.TempDir()
	if _, err := r.tree(ctx, commit); err == nil || !strings.Contains(err.Error(), "the tree is larger than 10 bytes") {
		t.Errorf("tree over the size bound: %v", err)
	}
}

// TestEncryptedSecretReview: a SOPS-encrypted Secret shows as digests of
// its ciphertexts and its recipients, never plaintext; a change that
// leaves out a cluster's recipient fails the head side naming that cluster;
// a change of a readable field shows the encrypted values unchanged.
func TestEncryptedSecretReview(t *testing.T) {
	g := buildFleet(t)
	inv := readInventory(t, "testdata/clusters.yaml")
	recipients := map[string]string{}
	for _, name := range []string{"prod-eu-1", "prod-us-1", "fleet"} {
		_, r, err := secrets.NewIdentity()
		if err != nil {
			t.Fatal(err)
		}
		recipients[name] = r
	}
	for _, mc := range inv.Clusters {
		switch mc.Name {
		case "prod-eu-1", "prod-us-1":
			mc.Status.ClusterClaims = append(mc.Status.ClusterClaims, clusterv1.ManagedClusterClaim{Name: secrets.ClaimName, Value: recipients[mc.Name]})
		case "staging-1": // holds the fleet key only
			mc.Status.ClusterClaims = append(mc.Status.ClusterClaims, clusterv1.ManagedClusterClaim{Name: secrets.HeldClaimName, Value: recipients["fleet"]})
		}
	}
	sealed := func(password string, for_ ...string) string {
		var rs []string
		for _, n := range for_ {
			rs = append(rs, recipients[n])
		}
		enc, err := secrets.Encrypt([]byte("apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: hello\nstringData:\n  password: "+password+"\n  user: admin-plaintext\n"), rs)
		if err != nil {
			t.Fatal(err)
		}
		return string(enc)
	}
	g.write(map[string]string{"apps/hello/db.yaml": sealed("old-pw-plaintext", "prod-eu-1", "prod-us-1", "fleet")})
	g.commit("sealed")
	g.git("tag", "sealed")
	g.write(map[string]string{"apps/hello/db.yaml": sealed("new-pw-plaintext", "prod-eu-1", "fleet")})
	g.commit("rotated, prod-us-1 forgotten")
	g.git("tag", "forgot")

	rep := run(t, Options{Repo: g.dir, Base: "sealed", Head: "forgot", Inventory: inv, MaxRemovalPercent: 50})
	hello := find(t, rep, "fleet/hello")
	js, err := rep.JSON()
	if err != nil {
		t.Fatal(err)
	}
	md := rep.Markdown(MarkdownOptions{})
	for _, out := range []string{string(js), md} {
		if strings.Contains(out, "plaintext") || strings.Contains(out, "ENC[") {
			t.Fatalf("the report holds a value or a ciphertext:\n%s", out)
		}
		for _, want := range []string{"-  password: <encrypted, digest ", "+  password: <encrypted, digest ", "-  - " + recipients["prod-us-1"]} {
			if !strings.Contains(out, want) {
				t.Errorf("the report lacks %q:\n%s", want, out)
			}
		}
	}
	if !rep.Failing() || len(hello.Problems) != 1 || !slices.Equal(hello.Problems[0].Clusters, []string{"prod-us-1"}) ||
		!strings.Contains(hello.Problems[0].Message, "Secret hello/db is encrypted for "+recipients["prod-eu-1"]) {
		t.Fatalf("problems %+v, want prod-us-1 unable to decrypt hello/db", hello.Problems)
	}
	if !strings.Contains(md, "`prod-us-1`") || !strings.Contains(md, "secrets encrypt --placement") {
		t.Errorf("the markdown does not name the cluster and the fix:\n%s", md)
	}

	// Only a readable field changes: every encrypted value is unchanged.
	g.replace("apps/hello/db.yaml", "    name: db\n", "    name: db\n    labels:\n        tier: db\n")
	g.commit("label")
	rep = run(t, Options{Repo: g.dir, Base: "forgot", Head: "HEAD", Inventory: inv, MaxRemovalPercent: 50})
	hello = find(t, rep, "fleet/hello")
	if len(hello.Groups) != 1 || len(hello.Groups[0].Objects) != 1 {
		t.Fatalf("groups %+v, want the Secret's label change", hello.Groups)
	}
	diff := hello.Groups[0].Objects[0].Diff
	if strings.Contains(diff, "-  password") || strings.Contains(diff, "+  password") || !strings.Contains(diff, "+    tier: db") {
		t.Errorf("encrypted values show as changed when only a label did:\n%s", diff)
	}
	if len(hello.Problems) != 1 || !slices.Equal(hello.Problems[0].Clusters, []string{"prod-us-1"}) || !hello.Problems[0].Preexisting || rep.Failing() {
		t.Errorf("problems %+v: the Secret still cannot be decrypted on prod-us-1, as before the change", hello.Problems)
	}
}
