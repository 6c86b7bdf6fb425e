package webhook

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // GitHub's legacy signature, under test
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

func TestRepoKeyNormalizesForms(t *testing.T) {
	want := "github.com/org/fleet"
	for _, in := range []string{
		"https://github.com/org/fleet.git",
		"https://github.com/Org/Fleet",
		"https://user:token@github.com/org/fleet.git/",
		"http://github.com:80/org/fleet",
		"ssh://git@github.com:22/org/fleet.git",
		"git@github.com:org/fleet.git",
		"github.com:org/fleet",
	} {
		if got := repoKey(in); got != want {
			t.Errorf("repoKey(%q) = %q, want %q", in, got, want)
		}
	}
	// Self-hosted forges route paths regardless of case too.
	if got := repoKey("git@git.example.com:Org/Fleet.git"); got != "git.example.com/org/fleet" {
		t.Errorf("a self-hosted forge's path: %q, want it folded", got)
	}
	for _, in := range []string{"", "fleet", "https://github.com", "/srv/git/fleet.git", "file:///srv/git/fleet"} {
		if got := repoKey(in); got != "" {
			t.Errorf("repoKey(%q) = %q, want empty", in, got)
		}
	}
	if repoKey("https://gitlab.com/group/sub/proj.git") != "gitlab.com/group/sub/proj" {
		t.Error("nested GitLab groups must keep their path")
	}
}

func sign256(secret, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(body))
	return hex.EncodeToString(m.Sum(nil))
}

func sign1(secret, body string) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(body))
	return hex.EncodeToString(m.Sum(nil))
}

func TestVerifyEachProvider(t *testing.T) {
	body := `{"ref":"refs/heads/main"}`
	secret := []byte("s3cr3t")
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	for _, c := range []struct {
		name  string
		p     Provider
		h     http.Header
		query url.Values
		want  bool
	}{
		{"github sha256", GitHub, hdr("X-Hub-Signature-256", "sha256="+sign256("s3cr3t", body)), nil, true},
		{"github sha1", GitHub, hdr("X-Hub-Signature", "sha1="+sign1("s3cr3t", body)), nil, true},
		{"github wrong secret", GitHub, hdr("X-Hub-Signature-256", "sha256="+sign256("other", body)), nil, false},
		{"github unsigned", GitHub, hdr(), nil, false},
		{"github garbage", GitHub, hdr("X-Hub-Signature-256", "sha256=zz"), nil, false},
		{"gitea", Gitea, hdr("X-Gitea-Signature", sign256("s3cr3t", body)), nil, true},
		{"gitea github header", Gitea, hdr("X-Hub-Signature-256", "sha256="+sign256("s3cr3t", body)), nil, true},
		{"gitea wrong", Gitea, hdr("X-Gitea-Signature", sign256("nope", body)), nil, false},
		{"gitlab token", GitLab, hdr("X-Gitlab-Token", "s3cr3t"), nil, true},
		{"gitlab wrong token", GitLab, hdr("X-Gitlab-Token", "s3cr3"), nil, false},
		{"bitbucket signature", Bitbucket, hdr("X-Hub-Signature", "sha256="+sign256("s3cr3t", body)), nil, true},
		{"bitbucket query token", Bitbucket, hdr(), url.Values{"token": {"s3cr3t"}}, true},
		{"bitbucket wrong token", Bitbucket, hdr(), url.Values{"token": {"guess"}}, false},
		{"bitbucket unsigned", Bitbucket, hdr(), nil, false},
	} {
		if got := verify(c.p, c.h, c.query, []byte(body), secret); got != c.want {
			t.Errorf("%s: verify = %t, want %t", c.name, got, c.want)
		}
	}
}

func TestParsePushPayloads(t *testing.T) {
	for _, c := range []struct {
		name     string
		p        Provider
		body     string
		wantKey  string
		wantRefs []string
		wantDef  string
	}{
		{"github", GitHub, `{"ref":"refs/heads/main","repository":{"clone_url":"https://github.com/Org/Fleet.git","ssh_url":"git@github.com:Org/Fleet.git","html_url":"https://github.com/Org/Fleet","default_branch":"main"}}`,
			"github.com/org/fleet", []string{"refs/heads/main"}, "main"},
		{"gitea", Gitea, `{"ref":"refs/tags/v1","repository":{"clone_url":"https://gitea.local/org/fleet.git","ssh_url":"git@gitea.local:org/fleet.git","default_branch":"trunk"}}`,
			"gitea.local/org/fleet", []string{"refs/tags/v1"}, "trunk"},
		{"gitlab", GitLab, `{"object_kind":"push","ref":"refs/heads/dev","project":{"git_http_url":"https://gitlab.com/g/s/fleet.git","git_ssh_url":"git@gitlab.com:g/s/fleet.git","web_url":"https://gitlab.com/g/s/fleet","default_branch":"main"}}`,
			"gitlab.com/g/s/fleet", []string{"refs/heads/dev"}, "main"},
		{"bitbucket cloud", Bitbucket, `{"push":{"changes":[{"new":{"type":"branch","name":"main"},"old":{"type":"branch","name":"main"}},{"new":{"type":"tag","name":"v2"}}]},"repository":{"full_name":"team/fleet","links":{"html":{"href":"https://bitbucket.org/team/fleet"}}}}`,
			"bitbucket.org/team/fleet", []string{"refs/heads/main", "refs/heads/main", "refs/tags/v2"}, ""},
		{"bitbucket server", Bitbucket, `{"changes":[{"refId":"refs/heads/release","ref":{"id":"refs/heads/release"},"type":"UPDATE"}],"repository":{"slug":"fleet","links":{"clone":[{"href":"ssh://git@bb.local:7999/ops/fleet.git","name":"ssh"},{"href":"https://bb.local/scm/ops/fleet.git","name":"http"}],"self":[{"href":"https://bb.local/projects/OPS/repos/fleet/browse"}]}}}`,
			"bb.local/ops/fleet", []string{"refs/heads/release"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := parsePush(c.p, []byte(c.body))
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, u := range p.repoURLs {
				if repoKey(u) == c.wantKey {
					found = true
				}
			}
			if !found {
				t.Errorf("URLs %v do not normalize to %s", p.repoURLs, c.wantKey)
			}
			if strings.Join(p.refs, ",") != strings.Join(c.wantRefs, ",") || p.defaultBranch != c.wantDef {
				t.Errorf("refs %v default %q, want %v %q", p.refs, p.defaultBranch, c.wantRefs, c.wantDef)
			}
		})
	}
	if _, err := parsePush(GitLab, []byte(`{"object_kind":"merge_request"}`)); err != errIgnored {
		t.Errorf("a GitLab system hook that is not a push must be ignored, got %v", err)
	}
	if _, err := parsePush(GitHub, []byte(`{"ref":"refs/heads/main"}`)); err == nil {
		t.Error("a payload without a repository must be refused")
	}
}

func TestFollows(t *testing.T) {
	sub := func(kv ...string) *appsv1.Subscription {
		s := &appsv1.Subscription{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{}}}
		for i := 0; i < len(kv); i += 2 {
			s.Annotations[kv[i]] = kv[i+1]
		}
		return s
	}
	main := &push{refs: []string{"refs/heads/main"}, defaultBranch: "main"}
	for _, c := range []struct {
		name string
		sub  *appsv1.Subscription
		p    *push
		want bool
	}{
		{"branch match", sub(appsv1.AnnotationGitBranch, "main"), main, true},
		{"old branch annotation", sub(appsv1.AnnotationGithubBranch, "refs/heads/main"), main, true},
		{"other branch", sub(appsv1.AnnotationGitBranch, "dev"), main, false},
		{"default branch", sub(), main, true},
		{"default branch elsewhere", sub(), &push{refs: []string{"refs/heads/dev"}, defaultBranch: "main"}, false},
		{"default unknown", sub(), &push{refs: []string{"refs/heads/dev"}}, true},
		{"tag", sub(appsv1.AnnotationGitTag, "v1"), &push{refs: []string{"refs/tags/v1"}}, true},
		{"tag on branch push", sub(appsv1.AnnotationGitTag, "v1"), main, false},
		{"pinned commit", sub(appsv1.AnnotationGitDesiredCommit, strings.Repeat("a", 40)), main, false},
	} {
		if got := follows(c.sub, c.p); got != c.want {
			t.Errorf("%s: follows = %t, want %t", c.name, got, c.want)
		}
	}
}
