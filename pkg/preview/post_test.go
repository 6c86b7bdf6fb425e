package preview

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/gitprovider"
)

// fakeGitHub keeps pull-request comments and commit statuses the way the
// GitHub REST API does, on 127.0.0.1.
type fakeGitHub struct {
	*httptest.Server
	mu       sync.Mutex
	comments map[int64]string
	nextID   int64
	statuses []map[string]string
	calls    []string
}

func newFakeGitHub(t *testing.T, owner, name string, pr int) *fakeGitHub {
	t.Helper()
	f := &fakeGitHub{comments: map[int64]string{}, nextID: 100}
	prefix := "/repos/" + owner + "/" + name
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.calls = append(f.calls, r.Method+" "+r.URL.Path)
		if r.Header.Get("Authorization") != "Bearer t0ken" {
			http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
			return
		}
		var in map[string]string
		if r.Body != nil {
			data, _ := io.ReadAll(r.Body)
			_ = json.Unmarshal(data, &in)
		}
		w.Header().Set("Content-Type", "application/json")
		path := r.URL.Path
		switch {
		case r.Method == http.MethodGet && path == fmt.Sprintf("%s/issues/%d/comments", prefix, pr):
			type comment struct {
				ID   int64  `json:"id"`
				Body string `json:"body"`
			}
			list := []comment{{ID: 1, Body: "LGTM"}}
			for id := int64(100); id < f.nextID; id++ {
				if b, ok := f.comments[id]; ok {
					list = append(list, comment{id, b})
				}
			}
			_ = json.NewEncoder(w).Encode(list)
		case r.Method == http.MethodPost && path == fmt.Sprintf("%s/issues/%d/comments", prefix, pr):
			f.comments[f.nextID] = in["body"]
			fmt.Fprintf(w, `{"id":%d}`, f.nextID)
			f.nextID++
		case r.Method == http.MethodPatch && strings.HasPrefix(path, prefix+"/issues/comments/"):
			var id int64
			fmt.Sscan(strings.TrimPrefix(path, prefix+"/issues/comments/"), &id)
			if _, ok := f.comments[id]; !ok {
				http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
				return
			}
			f.comments[id] = in["body"]
			fmt.Fprint(w, `{}`)
		case r.Method == http.MethodPost && strings.HasPrefix(path, prefix+"/statuses/"):
			in["sha"] = strings.TrimPrefix(path, prefix+"/statuses/")
			f.statuses = append(f.statuses, in)
			fmt.Fprint(w, `{}`)
		default:
			http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
		}
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeGitHub) state() (map[int64]string, []map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := map[int64]string{}
	for k, v := range f.comments {
		c[k] = v
	}
	return c, append([]map[string]string(nil), f.statuses...)
}

// TestPost: the first run creates the comment, the next edits it; each sets
// the status on the pull request's head commit.
func TestPost(t *testing.T) {
	g := buildFleet(t)
	inv := readInventory(t, "testdata/clusters.yaml")
	forge := newFakeGitHub(t, "platform", "fleet", 7)
	client, repo, err := gitprovider.New(appsv1.CommitStatusSpec{Provider: appsv1.GitProviderGitHub, APIURL: forge.URL, Repository: "platform/fleet"},
		"", map[string][]byte{gitprovider.KeyToken: []byte("t0ken")}, forge.Client())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sha := g.git("rev-parse", "placement")
	opts := PostOptions{PR: 7, SHA: sha, TargetURL: "https://ci.example.com/job/1"}

	rep := run(t, Options{Repo: g.dir, Base: "initial", Head: "placement", Inventory: inv, MaxRemovalPercent: 50})
	if err := Post(ctx, client, repo, rep, rep.Markdown(MarkdownOptions{}), opts); err != nil {
		t.Fatal(err)
	}
	comments, statuses := forge.state()
	if len(comments) != 1 || !strings.Contains(comments[100], "staging-1") || !strings.Contains(comments[100], "<!-- ocm-gitops/preview -->") {
		t.Fatalf("comments after the first post = %v, want one preview comment with its marker", comments)
	}
	want := map[string]string{"sha": sha, "state": "success", "context": "ocm-gitops/preview", "target_url": "https://ci.example.com/job/1",
		"description": "1 of 5 Subscriptions change: 2 clusters gained, 0 lost, 0 updated"}
	if len(statuses) != 1 || fmt.Sprint(statuses[0]) != fmt.Sprint(want) {
		t.Fatalf("statuses = %v, want %v", statuses, want)
	}

	// A new push: the same comment is edited, a new status replaces the old.
	g.git("checkout", "-q", "-b", "shrink", "placement")
	g.replace("hub/subscriptions.yaml", "      - name: prod-us-1\n      - name: staging-1\n", "")
	sha = g.commit("hello on one cluster")
	rep = run(t, Options{Repo: g.dir, Base: "initial", Head: "HEAD", Inventory: inv, MaxRemovalPercent: 50})
	opts.SHA = sha
	if err := Post(ctx, client, repo, rep, rep.Markdown(MarkdownOptions{}), opts); err != nil {
		t.Fatal(err)
	}
	comments, statuses = forge.state()
	if len(comments) != 1 || !strings.Contains(comments[100], "[!CAUTION]") {
		t.Fatalf("comments after the second post = %v, want the one comment edited to flag the removal", comments)
	}
	if len(statuses) != 2 || statuses[1]["state"] != "failure" || statuses[1]["sha"] != sha ||
		!strings.Contains(statuses[1]["description"], "fleet/hello loses 66.7% of its clusters") {
		t.Fatalf("second status = %v, want a failure on %s naming fleet/hello", statuses[len(statuses)-1], sha)
	}

	// A forge error is returned with what was being done.
	bad, repo2, err := gitprovider.New(appsv1.CommitStatusSpec{Provider: appsv1.GitProviderGitHub, APIURL: forge.URL, Repository: "platform/fleet"},
		"", map[string][]byte{gitprovider.KeyToken: []byte("wrong")}, forge.Client())
	if err != nil {
		t.Fatal(err)
	}
	if err := Post(ctx, bad, repo2, rep, "x", opts); err == nil || !strings.Contains(err.Error(), "comment on pull request 7 of platform/fleet") {
		t.Errorf("post with a bad token = %v, want an error naming the pull request", err)
	}
	if err := Post(ctx, client, repo, rep, "x", PostOptions{SHA: sha}); err == nil || !strings.Contains(err.Error(), "pull request number 0") {
		t.Errorf("post without a pull request = %v", err)
	}
}
