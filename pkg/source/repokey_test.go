package source

import "testing"

func TestRepoKey(t *testing.T) {
	cases := []struct {
		in       string
		foldCase bool
		want     string
	}{
		// One repository, every spelling.
		{"https://github.com/org/fleet.git", false, "github.com/org/fleet"},
		{"https://github.com/Org/Fleet", false, "github.com/org/fleet"}, // github.com ignores case
		{"https://user:token@github.com/org/fleet.git/", false, "github.com/org/fleet"},
		{"http://github.com:80/org/fleet", false, "github.com/org/fleet"},
		{"ssh://git@github.com:22/org/fleet.git", false, "github.com/org/fleet"},
		{"git@github.com:org/fleet.git", false, "github.com/org/fleet"},
		{"github.com:org/fleet", false, "github.com/org/fleet"},
		{"  https://GITHUB.com/org/fleet.GIT  ", false, "github.com/org/fleet"},
		{"https://gitlab.com/group/sub/proj.git", false, "gitlab.com/group/sub/proj"},
		{"https://bitbucket.org/Team/Repo", false, "bitbucket.org/team/repo"},
		// A self-hosted server keeps the path's case, unless asked to fold.
		{"https://user:token@GIT.example.com:443/Platform/fleet/", false, "git.example.com/Platform/fleet"},
		{"ssh://git@git.example.com:2222/Platform/fleet.git", false, "git.example.com/Platform/fleet"},
		{"git@git.example.com:Platform/fleet.git", true, "git.example.com/platform/fleet"},
		{"https://git.example.com/Platform/fleet", true, "git.example.com/platform/fleet"},
		// Local repositories.
		{"/srv/git/fleet.git", false, "/srv/git/fleet"},
		{"file:///srv/git/fleet", false, "/srv/git/fleet"},
		{"FILE:///srv/git/fleet.git", true, "/srv/git/fleet"},
		// Not repositories.
		{"", false, ""},
		{"fleet", false, ""},
		{"https://github.com", false, ""},
		{"https://github.com/.git", false, ""},
	}
	for _, c := range cases {
		if got := RepoKey(c.in, c.foldCase); got != c.want {
			t.Errorf("RepoKey(%q, %v) = %q, want %q", c.in, c.foldCase, got, c.want)
		}
	}
	if RepoKey("https://git.example.com/platform/fleet", false) == RepoKey("https://git.example.com/platform/fleet2", false) {
		t.Error("different repositories have one key")
	}
}
