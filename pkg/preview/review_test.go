package preview

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-logr/logr"

	"github.com/ocm-gitops/ocm-gitops/pkg/egress"
	"github.com/ocm-gitops/ocm-gitops/pkg/source"
	"github.com/ocm-gitops/ocm-gitops/test/harness/hostile"
)

// chartRepo serves a Helm repository with node-probe 1.4.2 and 2.1.0, each
// rendering a ConfigMap that names its version.
func chartRepo(t *testing.T) *httptest.Server {
	t.Helper()
	files := map[string][]byte{}
	var index strings.Builder
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b, ok := files[r.URL.Path]; ok {
			_, _ = w.Write(b)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	index.WriteString("apiVersion: v1\nentries:\n  node-probe:\n")
	for _, v := range []string{"1.4.2", "2.1.0"} {
		archive := hostile.Archive(t,
			hostile.File{Name: "node-probe/Chart.yaml", Content: "apiVersion: v2\nname: node-probe\nversion: " + v + "\n"},
			hostile.File{Name: "node-probe/templates/cm.yaml", Content: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: node-probe\n  namespace: probes\ndata:\n  version: \"" + v + "\"\n"})
		files["/node-probe-"+v+".tgz"] = archive
		sum := sha256.Sum256(archive)
		fmt.Fprintf(&index, "  - name: node-probe\n    version: %s\n    apiVersion: v2\n    digest: %s\n    urls: [%s/node-probe-%s.tgz]\n", v, hex.EncodeToString(sum[:]), srv.URL, v)
	}
	files["/index.yaml"] = []byte(index.String())
	return srv
}

// chartFleet is the golden fleet plus node-probe from a Helm repository,
// whose version range the change moves from 2.x back to 1.x.
func chartFleet(t *testing.T, repoURL string) *gitRepo {
	g := buildFleet(t)
	sub := func(version string) string {
		return `apiVersion: apps.open-cluster-management.io/v1
kind: Channel
metadata:
  name: charts
  namespace: fleet
spec:
  type: HelmRepo
  pathname: ` + repoURL + `
---
apiVersion: apps.open-cluster-management.io/v1
kind: Subscription
metadata:
  name: node-probe
  namespace: fleet
spec:
  channel: fleet/charts
  name: node-probe
  packageFilter:
    version: "` + version + `"
  placement:
    clusterSelector:
      matchLabels:
        env: prod
`
	}
	g.write(map[string]string{"hub/node-probe.yaml": sub("2.x")})
	g.commit("node-probe 2.x")
	g.git("tag", "probe-2")
	g.write(map[string]string{"hub/node-probe.yaml": sub("1.x")})
	g.commit("node-probe back to 1.x")
	g.git("tag", "probe-1")
	return g
}

// TestChartRangeChangeIsNeverUnchanged: a change moving a chart's version
// range was listed under "Unchanged" (compared by placement only; issue 15
// item 9). Now it says what moved; with the Helm repository reachable it
// says which version each side resolves to and shows the diff, and
// without it says plainly the content could not be compared.
func TestChartRangeChangeIsNeverUnchanged(t *testing.T) {
	repo := chartRepo(t)
	g := chartFleet(t, repo.URL)
	inv := readInventory(t, "testdata/clusters.yaml")
	store := source.NewStore(t.TempDir(), logr.Discard(), source.WithEgress(egress.Allow(egress.Loopback()...)))

	rep := run(t, Options{Repo: g.dir, Base: "probe-2", Head: "probe-1", Inventory: inv, MaxRemovalPercent: 50, Sources: store})
	probe := find(t, rep, "fleet/node-probe")
	if probe.Change != ChangeChanged || probe.Source == nil || !probe.Rendered {
		t.Fatalf("node-probe: change %s, rendered %v, source %+v; want a rendered change", probe.Change, probe.Rendered, probe.Source)
	}
	if got := strings.Join(probe.Source.Changed, "; "); got != "spec.packageFilter.version: 2.x → 1.x" {
		t.Errorf("changed inputs %q", got)
	}
	if !strings.HasPrefix(probe.Source.Base, "node-probe-2.1.0@sha256:") || !strings.HasPrefix(probe.Source.Head, "node-probe-1.4.2@sha256:") {
		t.Errorf("resolved to %q and %q, want 2.1.0 at base and 1.4.2 at head", probe.Source.Base, probe.Source.Head)
	}
	if len(probe.Groups) != 1 || !strings.Contains(probe.Groups[0].Objects[0].Diff, "-  version: 2.1.0\n+  version: 1.4.2\n") {
		t.Errorf("groups %+v, want the version change on every prod cluster", probe.Groups)
	}
	md := rep.Markdown(MarkdownOptions{})
	for _, want := range []string{"| `fleet/node-probe` | changed |", "spec.packageFilter.version: 2.x → 1.x", "Resolves to `node-probe-2.1.0@sha256:"} {
		if !strings.Contains(md, want) {
			t.Errorf("the markdown lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "Unchanged: `fleet/agent`, `fleet/hello`, `fleet/node-probe`") {
		t.Error("node-probe is listed as unchanged")
	}

	// Without access to sources, and with the repository gone: still a
	// change, saying plainly it was not compared.
	for name, o := range map[string]Options{
		"no sources": {},
		"unreachable": {Sources: source.NewStore(t.TempDir(), logr.Discard(),
			source.WithEgress(egress.Allow(egress.Loopback()...)), source.WithBackoff(0, 0))},
	} {
		if name == "unreachable" {
			repo.Close()
		}
		o.Repo, o.Base, o.Head, o.Inventory, o.MaxRemovalPercent = g.dir, "probe-2", "probe-1", inv, 50
		rep := run(t, o)
		probe := find(t, rep, "fleet/node-probe")
		if probe.Change != ChangeChanged || probe.Source == nil || probe.Source.Error == "" || probe.Rendered {
			t.Errorf("%s: change %s, rendered %v, source %+v; want a change that says it was not compared", name, probe.Change, probe.Rendered, probe.Source)
		}
		md := rep.Markdown(MarkdownOptions{})
		if !strings.Contains(md, "content not compared") || !strings.Contains(md, "could not be compared") {
			t.Errorf("%s: the markdown does not say the content was not compared:\n%s", name, md)
		}
	}
}

// TestMarkdownCarriesEveryNote: every note of the JSON report is in the
// markdown too; a Placement whose namespace has no ManagedClusterSetBinding
// selects nothing at both revisions, and the markdown used to say only "No
// Subscription changes" (issue 15 item 10).
func TestMarkdownCarriesEveryNote(t *testing.T) {
	g := buildFleet(t)
	unbound := readInventory(t, "testdata/clusters.yaml")
	unbound.Bindings = nil
	for _, c := range []struct {
		base, head string
		inv        *Inventory
	}{
		{"values", "overlay", unbound},
		{"initial", "placement", readInventory(t, "testdata/clusters.yaml")},
		{"overlay", "chart", readInventory(t, "testdata/clusters.yaml")},
	} {
		rep := run(t, Options{Repo: g.dir, Base: c.base, Head: c.head, Inventory: c.inv, MaxRemovalPercent: 50})
		md := rep.Markdown(MarkdownOptions{})
		notes := 0
		for _, s := range rep.Subscriptions {
			for _, n := range s.Notes {
				notes++
				if !strings.Contains(md, html.EscapeString(n)) {
					t.Errorf("%s..%s: the note of %s/%s is not in the markdown: %q", c.base, c.head, s.Namespace, s.Name, n)
				}
			}
		}
		if notes == 0 {
			t.Errorf("%s..%s: no notes to check", c.base, c.head)
		}
	}
}

// TestHubOnlySubscriptionsAreLabelled: comparing two commits older than the
// hub's Subscriptions listed those as "Fails at both revisions" (issue 15
// item 11). They are labelled as not in the repository now, apart from the
// change.
func TestHubOnlySubscriptionsAreLabelled(t *testing.T) {
	g := buildFleet(t)
	inv := readInventory(t, "testdata/clusters.yaml")
	for _, s := range inv.Subscriptions {
		if s.Name == "legacy" {
			s.Annotations["apps.open-cluster-management.io/git-path"] = "apps/added-later"
		}
	}
	rep := run(t, Options{Repo: g.dir, Base: "initial", Head: "placement", Inventory: inv, MaxRemovalPercent: 50})
	legacy := find(t, rep, "fleet/legacy")
	if !legacy.NotInRepository || len(legacy.Problems) == 0 {
		t.Fatalf("legacy: notInRepository %v, problems %+v; want labelled, failing at both", legacy.NotInRepository, legacy.Problems)
	}
	if rep.Failing() {
		t.Error("a Subscription the change does not touch fails the preview")
	}
	md := rep.Markdown(MarkdownOptions{})
	if strings.Contains(md, "Fails at both revisions") || strings.Contains(md, "#### `fleet/legacy`") {
		t.Errorf("legacy is shown as a failure of the change:\n%s", md)
	}
	if !strings.Contains(md, "Not in the repository") || !strings.Contains(md, "- `fleet/legacy`; cannot be placed or rendered at these revisions") {
		t.Errorf("legacy is not labelled as not in the repository:\n%s", md)
	}
	if web := find(t, rep, "fleet/web"); web.NotInRepository {
		t.Error("web is in the repository")
	}
}
