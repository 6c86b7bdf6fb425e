package source

import "testing"

func TestRevision(t *testing.T) {
	const sha = "0123456789abcdef0123456789abcdef01234567"
	const digest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	for _, tc := range []struct {
		in     string
		want   Revision
		commit string
		short  string
	}{
		{"main@sha1:" + sha, Revision{"main", SHA1, sha}, sha, "main@0123456"},
		{"release/v1.2@sha1:" + sha, Revision{"release/v1.2", SHA1, sha}, sha, "release/v1.2@0123456"},
		// A pinned commit (git-desired-commit) has no ref.
		{"sha1:" + sha, Revision{"", SHA1, sha}, sha, "0123456"},
		{"node-probe-1.3.1@sha256:" + digest, Revision{"node-probe-1.3.1", SHA256, digest}, "", "node-probe-1.3.1"},
		{"sha256:" + digest, Revision{"", SHA256, digest}, "", "sha256:9f86d08"},
	} {
		got, err := ParseRevision(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseRevision(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			continue
		}
		if got.String() != tc.in {
			t.Errorf("%q: String() = %q", tc.in, got.String())
		}
		if c, ok := got.Commit(); c != tc.commit || ok != (tc.commit != "") {
			t.Errorf("%q: Commit() = %q, %v", tc.in, c, ok)
		}
		if c, _ := CommitOf(tc.in); c != tc.commit {
			t.Errorf("CommitOf(%q) = %q", tc.in, c)
		}
		if s := ShortRevision(tc.in); s != tc.short {
			t.Errorf("ShortRevision(%q) = %q, want %q", tc.in, s, tc.short)
		}
	}
	for _, bad := range []string{"", "main", "main@", "main@sha1:", "main@md5:abc", "main@sha1:XYZ", "sha1:" + sha + " "} {
		if r, err := ParseRevision(bad); err == nil {
			t.Errorf("ParseRevision(%q) = %+v, want an error", bad, r)
		}
		if _, ok := CommitOf(bad); ok {
			t.Errorf("CommitOf(%q) found a commit", bad)
		}
	}
	if ShortRevision("") != "-" || ShortRevision("not a revision") != "not a revision" {
		t.Error("ShortRevision of nothing or of a foreign string")
	}
	// A short SHA-1 is no commit.
	if _, ok := CommitOf("main@sha1:0123456"); ok {
		t.Error("an abbreviated hash passes for a commit")
	}
}
