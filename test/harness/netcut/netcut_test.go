package netcut

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestProxyCutAndRestore(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "hello") }))
	defer srv.Close()
	p := New(t, strings.TrimPrefix(srv.URL, "http://"))
	get := func() (string, error) {
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get("http://" + p.Addr())
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	if body, err := get(); err != nil || body != "hello" {
		t.Fatalf("through the proxy: %q, %v", body, err)
	}
	p.Down()
	if _, err := get(); err == nil {
		t.Fatal("a request got through a cut proxy")
	}
	p.Up(t)
	if body, err := get(); err != nil || body != "hello" {
		t.Fatalf("after restoring: %q, %v", body, err)
	}
}
