package source

import (
	"context"
	"net/http"
	"sync"

	"github.com/go-git/go-git/v5/plumbing/transport/client"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
)

// maxPackBytes bounds one Git HTTP response (a pack): the hub's disk is
// shared by every tenant.
const maxPackBytes = 2 << 30

// go-git chooses its HTTP transport from a process-wide table. Ours is
// installed once and takes each request's round tripper from the request's
// context, so every fetch still gets its own Channel's TLS settings, egress
// policy and body bounds; requests without one (other go-git users in the
// process) keep the default transport.
var installGitHTTP sync.Once

type roundTripperKey struct{}

func installGitTransport() {
	installGitHTTP.Do(func() {
		c := githttp.NewClient(&http.Client{Transport: contextTransport{}})
		client.InstallProtocol("http", c)
		client.InstallProtocol("https", c)
	})
}

// withRoundTripper makes go-git's requests under ctx go through rt.
func withRoundTripper(ctx context.Context, rt http.RoundTripper) context.Context {
	if rt == nil {
		return ctx
	}
	return context.WithValue(ctx, roundTripperKey{}, rt)
}

type contextTransport struct{}

func (contextTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if rt, ok := req.Context().Value(roundTripperKey{}).(http.RoundTripper); ok {
		return rt.RoundTrip(req)
	}
	return http.DefaultTransport.RoundTrip(req)
}
