package gitprovider

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// request is what the fake forge saw.
type request struct {
	Method string
	// Path is the escaped path, as sent on the wire.
	Path   string
	Query  map[string][]string
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a generic map for exact comparisons.
func (r request) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("%s %s: body is not a JSON object: %v: %s", r.Method, r.Path, err, r.Body)
	}
	return m
}

// forge is a fake forge on 127.0.0.1 that records every request and answers
// with respond (200 {} when nil).
type forge struct {
	*httptest.Server
	mu      sync.Mutex
	reqs    []request
	respond func(w http.ResponseWriter, r request)
}

func newForge(t *testing.T, respond func(w http.ResponseWriter, r request)) *forge {
	t.Helper()
	f := &forge{respond: respond}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, hr *http.Request) {
		body, _ := io.ReadAll(hr.Body)
		r := request{Method: hr.Method, Path: hr.URL.EscapedPath(), Query: hr.URL.Query(), Header: hr.Header.Clone(), Body: body}
		f.mu.Lock()
		f.reqs = append(f.reqs, r)
		f.mu.Unlock()
		if f.respond == nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(`{}`))
			return
		}
		f.respond(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *forge) requests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.reqs...)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
