package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ocm-gitops/ocm-gitops/pkg/apis/scheme"
	"github.com/ocm-gitops/ocm-gitops/pkg/lab"
	"github.com/ocm-gitops/ocm-gitops/pkg/preview"
)

const (
	previewFleet     = "../../pkg/preview/testdata/fleet"
	previewInventory = "../../pkg/preview/testdata/clusters.yaml"
)

// previewRepo builds a fleet repository with the git CLI: tag "initial" is
// the preview package's fixture, "placement" puts web on staging too,
// "shrink" (from initial) takes hello off two of its three clusters.
func previewRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
			"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.invalid", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.invalid")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	edit := func(path, old, new string) {
		t.Helper()
		p := filepath.Join(dir, path)
		data, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(data, []byte(old)) {
			t.Fatalf("%s: %v, or %q not in it", path, err, old)
		}
		if err := os.WriteFile(p, bytes.Replace(data, []byte(old), []byte(new), 1), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git("init", "-q", "-b", "main")
	git("remote", "add", "origin", "https://git.example.com/platform/fleet.git")
	err := filepath.WalkDir(previewFleet, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(previewFleet, p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, rel)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	git("add", "-A")
	git("commit", "-q", "-m", "initial")
	git("tag", "initial")
	edit("hub/placement-web.yaml", "matchLabels:\n            env: prod", "matchExpressions:\n            - {key: env, operator: In, values: [prod, staging]}")
	git("commit", "-q", "-am", "web on staging")
	git("tag", "placement")
	git("checkout", "-q", "-b", "shrink", "initial")
	edit("hub/subscriptions.yaml", "      - name: prod-us-1\n      - name: staging-1\n", "")
	git("commit", "-q", "-am", "hello on one cluster")
	git("tag", "shrink")
	return dir
}

// runCmd runs the binary's entry point and returns its exit status and output.
func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestPreviewCommand(t *testing.T) {
	dir := previewRepo(t)
	jsonOut := filepath.Join(t.TempDir(), "report.json")
	code, out, errOut := runCmd(t, "preview", "--repo", dir, "--base", "initial", "--head", "placement", "--clusters", previewInventory, "--json-out", jsonOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.HasPrefix(out, "### ocm-gitops preview\n") || !strings.Contains(out, "- **Gained (2):** `staging-1`, `staging-2`") {
		t.Errorf("markdown report:\n%s", out)
	}
	var rep preview.Report
	data, err := os.ReadFile(jsonOut)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &rep); err != nil || rep.Summary.Changed != 1 || rep.Base.Ref != "initial" {
		t.Errorf("--json-out: %v, %+v", err, rep.Summary)
	}

	code, out, _ = runCmd(t, "preview", "--repo", dir, "--base", "initial", "--head", "placement", "--clusters", previewInventory, "--format", "json", "--title", "x")
	if code != 0 || out != string(data) {
		t.Errorf("--format json (exit %d) differs from --json-out", code)
	}

	// A flagged removal is reported; it fails the command only with --fail-on-danger.
	code, out, _ = runCmd(t, "preview", "--repo", dir, "--base", "initial", "--head", "shrink", "--clusters", previewInventory)
	if code != 0 || !strings.Contains(out, "[!CAUTION]") {
		t.Errorf("flagged change without --fail-on-danger: exit %d\n%s", code, out)
	}
	t.Setenv("OCM_GITOPS_FAIL_ON_DANGER", "true")
	code, _, errOut = runCmd(t, "preview", "--repo", dir, "--base", "initial", "--head", "shrink", "--clusters", previewInventory)
	if code != 1 || !strings.Contains(errOut, "1 Subscriptions lose more than 50% of their clusters") {
		t.Errorf("--fail-on-danger (from the environment): exit %d, %s", code, errOut)
	}
	code, _, errOut = runCmd(t, "preview", "--repo", dir, "--base", "initial", "--head", "shrink", "--clusters", previewInventory, "--max-removal-percent", "70")
	if code != 0 {
		t.Errorf("under a 70%% limit: exit %d, %s", code, errOut)
	}
}

func TestPreviewCommandUsage(t *testing.T) {
	dir := previewRepo(t)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--repo", dir, "--clusters", previewInventory}, 2, "--base is required"},
		{[]string{"--repo", dir, "--base", "initial"}, 2, "pass exactly one of --clusters FILE"},
		{[]string{"--repo", dir, "--base", "initial", "--clusters", "x", "--hub-kubeconfig", "y"}, 2, "pass exactly one of --clusters FILE"},
		{[]string{"--repo", dir, "--base", "initial", "--clusters", previewInventory, "--format", "html"}, 2, `--format "html": want markdown or json`},
		{[]string{"--repo", dir, "--base", "initial", "--clusters", previewInventory, "--max-removal-percent", "-1"}, 2, "want a number from 0 to 100"},
		{[]string{"--repo", dir, "--base", "initial", "--clusters", "/nonexistent"}, 2, "--clusters: open /nonexistent"},
		{[]string{"--repo", dir, "--base", "nope", "--clusters", previewInventory}, 1, `base: revision "nope" is not a commit of`},
		{[]string{"--repo", dir, "--base", "initial", "--clusters", previewInventory, "--post", "--provider", "github", "--repository", "o/r"}, 2, "--post needs --pr"},
		{[]string{"--repo", dir, "--base", "initial", "--clusters", previewInventory, "--post", "--provider", "forgejo", "--repository", "o/r", "--pr", "1", "--token", "x"}, 2, `"forgejo" is unknown`},
	} {
		code, _, errOut := runCmd(t, append([]string{"preview"}, c.args...)...)
		if code != c.code || !strings.Contains(errOut, c.want) {
			t.Errorf("preview %v: exit %d, %q; want exit %d and %q", c.args, code, errOut, c.code, c.want)
		}
	}
}

func TestCIDefaults(t *testing.T) {
	event := `{"pull_request": {"number": 42, "head": {"sha": "` + strings.Repeat("a", 40) + `"}}}`
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	read := func(p string) ([]byte, error) {
		if p == "/event.json" {
			return []byte(event), nil
		}
		return nil, os.ErrNotExist
	}
	for _, c := range []struct {
		name string
		env  map[string]string
		want ciInfo
	}{
		{"github actions", map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_API_URL": "https://api.github.com", "GITHUB_REPOSITORY": "platform/fleet",
			"GITHUB_REF": "refs/pull/41/merge", "GITHUB_EVENT_PATH": "/event.json", "GITHUB_SERVER_URL": "https://github.com", "GITHUB_RUN_ID": "9"},
			ciInfo{"github", "https://api.github.com", "platform/fleet", strings.Repeat("a", 40), "https://github.com/platform/fleet/actions/runs/9", 42}},
		{"gitea actions without an event file", map[string]string{"GITHUB_ACTIONS": "true", "GITEA_ACTIONS": "true", "GITHUB_API_URL": "https://gitea.example.com/api/v1",
			"GITHUB_REPOSITORY": "platform/fleet", "GITHUB_REF": "refs/pull/7/head"},
			ciInfo{provider: "gitea", apiURL: "https://gitea.example.com/api/v1", repository: "platform/fleet", pr: 7}},
		{"gitlab merge request", map[string]string{"GITLAB_CI": "true", "CI_API_V4_URL": "https://gitlab.example.com/api/v4", "CI_PROJECT_PATH": "group/sub/fleet",
			"CI_MERGE_REQUEST_IID": "5", "CI_COMMIT_SHA": "c0", "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA": "c1", "CI_JOB_URL": "https://gitlab.example.com/j/1"},
			ciInfo{"gitlab", "https://gitlab.example.com/api/v4", "group/sub/fleet", "c1", "https://gitlab.example.com/j/1", 5}},
		{"bitbucket", map[string]string{"BITBUCKET_BUILD_NUMBER": "3", "BITBUCKET_REPO_FULL_NAME": "ws/fleet", "BITBUCKET_PR_ID": "8", "BITBUCKET_COMMIT": "c2"},
			ciInfo{provider: "bitbucket", repository: "ws/fleet", sha: "c2", pr: 8}},
		{"nowhere", map[string]string{}, ciInfo{}},
	} {
		if got := ciDefaults(env(c.env), read); got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
}

// TestPreviewPost posts from a simulated GitHub Actions pull-request job to a
// fake GitHub on 127.0.0.1: one comment, edited by the second run, and one
// status per run on the pull request's head commit.
func TestPreviewPost(t *testing.T) {
	dir := previewRepo(t)
	headSHA := strings.Repeat("b", 40)
	var mu sync.Mutex
	var comments []string // comment i has ID i+1
	var statuses []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		body, _ := io.ReadAll(r.Body)
		var in map[string]string
		_ = json.Unmarshal(body, &in)
		if r.Header.Get("Authorization") != "Bearer gh-token" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == "GET" && r.URL.Path == "/repos/platform/fleet/issues/42/comments":
			list := []map[string]any{}
			for i, b := range comments {
				list = append(list, map[string]any{"id": i + 1, "body": b})
			}
			_ = json.NewEncoder(w).Encode(list)
		case r.Method == "POST" && r.URL.Path == "/repos/platform/fleet/issues/42/comments":
			comments = append(comments, in["body"])
			fmt.Fprint(w, `{}`)
		case r.Method == "PATCH" && r.URL.Path == "/repos/platform/fleet/issues/comments/1" && len(comments) > 0:
			comments[0] = in["body"]
			fmt.Fprint(w, `{}`)
		case r.Method == "POST" && r.URL.Path == "/repos/platform/fleet/statuses/"+headSHA:
			statuses = append(statuses, in["state"]+" "+in["context"]+" "+in["target_url"])
			fmt.Fprint(w, `{}`)
		default:
			t.Errorf("unexpected request %s %s", r.Method, r.URL)
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	eventFile := filepath.Join(t.TempDir(), "event.json")
	if err := os.WriteFile(eventFile, []byte(`{"pull_request":{"number":42,"head":{"sha":"`+headSHA+`"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_API_URL": srv.URL, "GITHUB_REPOSITORY": "platform/fleet",
		"GITHUB_EVENT_PATH": eventFile, "GITHUB_TOKEN": "gh-token", "GITHUB_SERVER_URL": "https://github.com", "GITHUB_RUN_ID": "77"} {
		t.Setenv(k, v)
	}
	for i, head := range []string{"placement", "shrink"} {
		code, _, errOut := runCmd(t, "preview", "--repo", dir, "--base", "initial", "--head", head, "--clusters", previewInventory, "--post")
		if code != 0 {
			t.Fatalf("run %d: exit %d: %s", i, code, errOut)
		}
		if !strings.Contains(errOut, "posted the preview on pull request 42 of platform/fleet") {
			t.Errorf("run %d: stderr %q", i, errOut)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(comments) != 1 || !strings.Contains(comments[0], "[!CAUTION]") || !strings.Contains(comments[0], "<!-- ocm-gitops/preview -->") {
		t.Errorf("comments = %v, want one, edited to flag the removal", comments)
	}
	want := []string{"success ocm-gitops/preview https://github.com/platform/fleet/actions/runs/77", "failure ocm-gitops/preview https://github.com/platform/fleet/actions/runs/77"}
	if fmt.Sprint(statuses) != fmt.Sprint(want) {
		t.Errorf("statuses = %q, want %q", statuses, want)
	}
}

// TestClustersExport exports a real hub's inventory and previews with the
// file and with the live hub: both reports are identical.
func TestClustersExport(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a control plane")
	}
	assets, err := lab.FindAssets("")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cp, err := lab.StartControlPlane(ctx, "export-hub", lab.RoleHub, assets)
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Stop()
	kubeconfig := filepath.Join(t.TempDir(), "hub.kubeconfig")
	if err := cp.WriteKubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cp.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(previewInventory)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := preview.ParseInventory(previewInventory, data)
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"fleet", "prod-eu-1"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, mc := range inv.Clusters {
		if mc.DeletionTimestamp != nil {
			continue
		}
		mc = mc.DeepCopy()
		status := mc.Status
		if err := c.Create(ctx, mc); err != nil {
			t.Fatal(err)
		}
		mc.Status = status
		if err := c.Status().Update(ctx, mc); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range []client.Object{inv.ClusterSets[0], inv.Bindings[0], inv.Subscriptions[0]} {
		if err := c.Create(ctx, o.DeepCopyObject().(client.Object)); err != nil {
			t.Fatal(err)
		}
	}
	d := inv.Decisions[0].DeepCopy()
	if err := c.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	d.Status = inv.Decisions[0].Status
	if err := c.Status().Update(ctx, d); err != nil {
		t.Fatal(err)
	}

	file := filepath.Join(t.TempDir(), "clusters.json")
	code, _, errOut := runCmd(t, "clusters", "export", "--hub-kubeconfig", kubeconfig, "-o", file, "--format", "json")
	if code != 0 || !strings.Contains(errOut, "wrote 6 clusters to "+file) {
		t.Fatalf("export: exit %d: %s", code, errOut)
	}
	dir := previewRepo(t)
	args := []string{"preview", "--repo", dir, "--base", "initial", "--head", "placement", "--format", "json"}
	code, fromFile, errOut := runCmd(t, append(args, "--clusters", file)...)
	if code != 0 {
		t.Fatalf("preview --clusters: exit %d: %s", code, errOut)
	}
	code, fromHub, errOut := runCmd(t, append(args, "--hub-kubeconfig", kubeconfig)...)
	if code != 0 {
		t.Fatalf("preview --hub-kubeconfig: exit %d: %s", code, errOut)
	}
	if fromFile != fromHub {
		t.Errorf("previews from the export and from the hub differ:\n%s\n%s", fromFile, fromHub)
	}
	if !strings.Contains(fromFile, `"gained": [
          "staging-1",
          "staging-2"
        ]`) {
		t.Errorf("the preview from the export does not show web's new clusters:\n%s", fromFile)
	}
	code, stdout, _ := runCmd(t, "clusters", "export", "--hub-kubeconfig", kubeconfig)
	if code != 0 || !strings.HasPrefix(stdout, "apiVersion: v1\nitems:\n") {
		t.Errorf("export to stdout: exit %d\n%.200s", code, stdout)
	}
	if code, _, errOut := runCmd(t, "clusters", "import"); code != 2 || !strings.Contains(errOut, `unknown subcommand "import"`) {
		t.Errorf("clusters import: exit %d, %s", code, errOut)
	}
}
