package source

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/go-logr/logr"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/registry"
	"helm.sh/helm/v3/pkg/repo"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/ocm-gitops/ocm-gitops/pkg/egress"
)

const (
	maxIndexBytes = 256 << 20
	maxChartBytes = 64 << 20
)

// helmFetcher reads HelmRepo channels: classic repositories (index.yaml over
// http or https) and OCI registries (oci://). It picks the newest chart
// version matching the Subscription's range, so a newer matching version is
// taken at the next poll. Index bodies, chart archives and unpacked charts
// are cached by digest.
type helmFetcher struct {
	dir       string // index and chart caches
	artifacts string
	log       logr.Logger
	clients   *httpClients
	// budget bounds the bytes of all parsed indexes kept, across tenants.
	budget int64

	mu    sync.Mutex
	repos map[string]*helmRepo
	held  int64 // bytes of the indexes kept
}

type helmRepo struct {
	lock chan struct{}

	// guarded by helmFetcher.mu
	lastUsed   time.Time
	indexBytes int64

	// guarded by lock
	checkedAt    time.Time
	etag         string
	lastModified string
	indexDigest  string
	index        *repo.IndexFile
}

func newHelmFetcher(root string, log logr.Logger, clients *httpClients, budget int64) *helmFetcher {
	return &helmFetcher{
		dir:       filepath.Join(root, "helm"),
		artifacts: filepath.Join(root, "artifacts"),
		log:       log,
		clients:   clients,
		budget:    budget,
		repos:     map[string]*helmRepo{},
	}
}

// Fetch resolves the Subscription's chart and version range and returns the
// unpacked chart.
func (h *helmFetcher) Fetch(ctx context.Context, req Request) (*Artifact, error) {
	chart := strings.TrimSpace(req.Ref.Chart)
	if chart == "" {
		return nil, fail(KindInvalid, nil, "HelmRepo Channel needs a chart name: set the Subscription's spec.name")
	}
	if strings.ContainsAny(chart, "/\\") || chart == "." || chart == ".." {
		return nil, fail(KindInvalid, nil, "spec.name %q is not a chart name", chart)
	}
	version := strings.TrimSpace(req.Ref.Version)
	if version != "" {
		if _, err := semver.NewConstraint(version); err != nil {
			return nil, fail(KindInvalid, nil, "spec.packageFilter.version %q is not a semver range (e.g. 1.2.3, 1.2.x, >=1.2 <2, ~1.4)", version)
		}
	}
	raw := strings.TrimSpace(req.Channel.Spec.Pathname)
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fail(KindInvalid, nil, "spec.pathname %q is not a Helm repository URL; use https://host/path or oci://host/path", SanitizeURL(raw))
	}
	if strings.Contains(raw, "#") {
		// A fragment would swallow the "/index.yaml" Helm appends, making
		// the pathname an exact URL to fetch.
		return nil, fail(KindInvalid, nil, "spec.pathname %q has a fragment (#...); give the repository's URL without it", SanitizeURL(raw))
	}
	switch u.Scheme {
	case "http", "https":
		// The index and archive reads give precise messages at their own bounds.
		hc, err := h.clients.get(req.Credentials, req.Channel.Spec.InsecureSkipVerify, 2*time.Minute, maxIndexBytes+1)
		if err != nil {
			return nil, err
		}
		return h.fetchHTTP(ctx, req, hc, u, chart, version)
	case "oci":
		// Helm's registry client reads manifests and layers whole.
		hc, err := h.clients.get(req.Credentials, req.Channel.Spec.InsecureSkipVerify, 2*time.Minute, maxChartBytes)
		if err != nil {
			return nil, err
		}
		return h.fetchOCI(ctx, req, hc, u, chart, version)
	}
	return nil, fail(KindInvalid, nil, "spec.pathname %q: scheme %q is not supported for HelmRepo; use https://, http:// or oci://", SanitizeURL(raw), u.Scheme)
}

func (h *helmFetcher) repo(key string) *helmRepo {
	h.mu.Lock()
	defer h.mu.Unlock()
	r, ok := h.repos[key]
	if !ok {
		r = &helmRepo{lock: make(chan struct{}, 1)}
		h.repos[key] = r
	}
	r.lastUsed = time.Now()
	return r
}

func (h *helmFetcher) gc(cutoff time.Time) {
	h.mu.Lock()
	for k, r := range h.repos {
		if r.lastUsed.Before(cutoff) {
			delete(h.repos, k)
			h.held -= r.indexBytes
		}
	}
	h.mu.Unlock()
	// Cached archives nobody used since cutoff.
	entries, err := os.ReadDir(filepath.Join(h.dir, "charts"))
	if err != nil {
		return
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && info.ModTime().Before(cutoff) {
			_ = os.Remove(filepath.Join(h.dir, "charts", e.Name()))
		}
	}
}

// basicAuth is the Channel's user and password (or accessToken), if any.
func basicAuth(c Credentials) (string, string) {
	return c.get(KeyUser), cmp.Or(c.get(KeyPassword), c.get(KeyAccessToken))
}

func (h *helmFetcher) fetchHTTP(ctx context.Context, req Request, hc *http.Client, base *url.URL, chart, version string) (*Artifact, error) {
	scope := scopeKey(base.String(), req.Credentials, req.Channel.Spec.InsecureSkipVerify)
	r := h.repo(scope)
	select {
	case r.lock <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-r.lock }()

	if r.index == nil || r.checkedAt.Before(req.NotBefore) {
		start := time.Now()
		if err := h.refreshIndex(ctx, r, req, hc, base); err != nil {
			return nil, err
		}
		r.checkedAt = start
	}
	cv, err := pickVersion(r.index, chart, version)
	if err != nil {
		return nil, fail(KindNotFound, nil, "%s: %v", SanitizeURL(base.String()), err)
	}
	if len(cv.URLs) == 0 {
		return nil, fail(KindNotFound, nil, "chart %s %s in %s lists no download URL", chart, cv.Version, SanitizeURL(base.String()))
	}
	chartURL, err := repo.ResolveReferenceURL(base.String(), cv.URLs[0])
	if err != nil {
		return nil, fail(KindInvalid, nil, "chart %s %s has an invalid URL", chart, cv.Version)
	}
	digest := strings.TrimPrefix(strings.ToLower(cv.Digest), "sha256:")
	tgz := ""
	if digest != "" {
		// Only an archive this (repository, credentials) downloaded itself:
		// an index naming another tenant's digest gets nothing.
		if p := filepath.Join(h.dir, "charts", scope+"-"+digest+".tgz"); fileExists(p) {
			tgz = p
			touch(p)
		}
	}
	if tgz == "" {
		tgz, digest, err = h.downloadChart(ctx, req, hc, base, chartURL, digest, scope)
		if err != nil {
			return nil, err
		}
	}
	return h.unpack(tgz, "helm-"+scope+"-"+digest, Revision{Ref: cv.Name + "-" + cv.Version, Algorithm: SHA256, Digest: digest}.String())
}

// refreshIndex downloads index.yaml unless the server says it is unchanged
// (ETag / Last-Modified) or its digest equals the one already parsed.
func (h *helmFetcher) refreshIndex(ctx context.Context, r *helmRepo, req Request, hc *http.Client, base *url.URL) error {
	indexURL := base.JoinPath("index.yaml").String()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, indexURL, nil)
	if err != nil {
		return fail(KindInvalid, nil, "spec.pathname is not a valid URL")
	}
	if user, pass := basicAuth(req.Credentials); user != "" || pass != "" {
		hreq.SetBasicAuth(user, pass)
	}
	if r.index != nil {
		if r.etag != "" {
			hreq.Header.Set("If-None-Match", r.etag)
		}
		if r.lastModified != "" {
			hreq.Header.Set("If-Modified-Since", r.lastModified)
		}
	}
	resp, err := hc.Do(hreq)
	if err != nil {
		return classifyHTTP(err, base.String())
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotModified && r.index != nil {
		return nil
	}
	if err := statusError(resp, indexURL, "the repository's index.yaml"); err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxIndexBytes+1))
	if err != nil {
		return fail(KindUnavailable, err, "read %s", SanitizeURL(indexURL))
	}
	if len(body) > maxIndexBytes {
		return fail(KindUnavailable, nil, "%s is larger than %d MiB", SanitizeURL(indexURL), maxIndexBytes>>20)
	}
	sum := sha256.Sum256(body)
	digest := hex.EncodeToString(sum[:])
	r.etag, r.lastModified = resp.Header.Get("ETag"), safeLastModified(resp.Header)
	if digest == r.indexDigest && r.index != nil {
		return nil
	}
	idx, err := loadIndex(h.dir, digest, body)
	if err != nil {
		// The parser quotes what it read; that stays in the hub's log.
		h.log.Error(err, "invalid index", "url", SanitizeURL(indexURL))
		return fail(KindUnavailable, nil, "%s is not a valid Helm repository index (YAML with apiVersion and entries); check spec.pathname", SanitizeURL(indexURL))
	}
	r.index, r.indexDigest = idx, digest
	h.remember(r, int64(len(body)))
	h.log.V(1).Info("loaded index", "url", SanitizeURL(indexURL), "digest", digest, "charts", len(idx.Entries))
	return nil
}

// remember records that r, whose lock the caller holds, keeps an index of
// size bytes, and drops the least recently used other indexes until all
// fit the budget. An index in use is skipped; the next remember drops it.
// A dropped index is downloaded whole at its repository's next poll.
func (h *helmFetcher) remember(r *helmRepo, size int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.held += size - r.indexBytes
	r.indexBytes = size
	if h.held <= h.budget {
		return
	}
	var lru []*helmRepo
	for _, o := range h.repos {
		if o != r && o.indexBytes > 0 {
			lru = append(lru, o)
		}
	}
	sort.Slice(lru, func(i, j int) bool { return lru[i].lastUsed.Before(lru[j].lastUsed) })
	for _, o := range lru {
		if h.held <= h.budget {
			return
		}
		select {
		case o.lock <- struct{}{}:
			o.index, o.indexDigest, o.etag, o.lastModified = nil, "", "", ""
			h.held -= o.indexBytes
			o.indexBytes = 0
			<-o.lock
		default:
		}
	}
}

// safeLastModified returns Last-Modified only when the server's own clock
// (Date) is at least a second past it: with one-second resolution, a file
// changed again within the same second would otherwise look unchanged.
func safeLastModified(h http.Header) string {
	lm, err1 := http.ParseTime(h.Get("Last-Modified"))
	date, err2 := http.ParseTime(h.Get("Date"))
	if err1 != nil || err2 != nil || date.Sub(lm) < time.Second {
		return ""
	}
	return h.Get("Last-Modified")
}

// loadIndex parses index bytes with Helm's own loader (which reads files).
func loadIndex(dir, digest string, body []byte) (*repo.IndexFile, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(dir, ".index-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(body); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	idx, err := repo.LoadIndexFile(f.Name())
	if err != nil {
		// Helm names the temporary file; the hub's folders are nobody's business.
		return nil, errors.New(strings.ReplaceAll(err.Error(), "error loading "+f.Name()+": ", ""))
	}
	idx.SortEntries()
	return idx, nil
}

// pickVersion is the newest version of chart matching the range: Helm's own
// rule (an exact match first, prereleases only when the range names one).
func pickVersion(idx *repo.IndexFile, chart, version string) (*repo.ChartVersion, error) {
	cv, err := idx.Get(chart, version)
	if err == nil {
		return cv, nil
	}
	vs, ok := idx.Entries[chart]
	if !ok || len(vs) == 0 {
		names := make([]string, 0, len(idx.Entries))
		for n := range idx.Entries {
			names = append(names, n)
		}
		sort.Strings(names)
		if len(names) > 10 {
			names = append(names[:10], "…")
		}
		return nil, fmt.Errorf("chart %q not found (the repository has %s); fix the Subscription's spec.name", chart, strings.Join(names, ", "))
	}
	var have []string
	for i, v := range vs {
		if i == 10 {
			have = append(have, "…")
			break
		}
		have = append(have, v.Version)
	}
	return nil, fmt.Errorf("no version of chart %q matches %q (newest: %s); fix spec.packageFilter.version", chart, version, strings.Join(have, ", "))
}

// downloadChart fetches a chart archive, checks its digest against the
// index, and stores it under its digest. Credentials go only to the
// repository's own host, as Helm does by default.
func (h *helmFetcher) downloadChart(ctx context.Context, req Request, hc *http.Client, base *url.URL, chartURL, want, scope string) (string, string, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, chartURL, nil)
	if err != nil {
		return "", "", fail(KindInvalid, nil, "chart URL %s is invalid", SanitizeURL(chartURL))
	}
	if hreq.URL.Host == base.Host {
		if user, pass := basicAuth(req.Credentials); user != "" || pass != "" {
			hreq.SetBasicAuth(user, pass)
		}
	}
	resp, err := hc.Do(hreq)
	if err != nil {
		return "", "", classifyHTTP(err, chartURL)
	}
	defer resp.Body.Close()
	if err := statusError(resp, chartURL, "the chart archive"); err != nil {
		return "", "", err
	}
	dir := filepath.Join(h.dir, "charts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	tmp, err := os.CreateTemp(dir, ".download-")
	if err != nil {
		return "", "", err
	}
	defer os.Remove(tmp.Name())
	hash := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, hash), io.LimitReader(resp.Body, maxChartBytes+1))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", "", fail(KindUnavailable, err, "download %s", SanitizeURL(chartURL))
	}
	if n > maxChartBytes {
		return "", "", fail(KindUnavailable, nil, "chart archive %s is larger than %d MiB", SanitizeURL(chartURL), maxChartBytes>>20)
	}
	got := hex.EncodeToString(hash.Sum(nil))
	if want != "" && got != want {
		return "", "", fail(KindUnavailable, nil, "chart archive %s has digest sha256:%s but the index says sha256:%s; the repository is inconsistent or tampered with", SanitizeURL(chartURL), got, want)
	}
	final := filepath.Join(dir, scope+"-"+got+".tgz")
	if err := os.Rename(tmp.Name(), final); err != nil {
		return "", "", err
	}
	return final, got, nil
}

// unpack expands a chart archive into the snapshot named name (once) and
// returns the artifact whose Dir is the chart's root folder.
func (h *helmFetcher) unpack(tgz, name, revision string) (*Artifact, error) {
	snap := filepath.Join(h.artifacts, name)
	for attempt := 0; attempt < 2; attempt++ {
		if !fileExists(snap) {
			if tgz == "" {
				return nil, fail(KindUnavailable, nil, "chart %s: cached snapshot disappeared; it is fetched again on the next attempt", revision)
			}
			err := writeSnapshot(snap, func(tmp string) error {
				if err := checkChartFile(tgz); err != nil {
					return err
				}
				return chartutil.ExpandFile(tmp, tgz)
			})
			if err != nil {
				return nil, fail(KindUnavailable, nil, "unpack chart %s: %v", revision, err)
			}
		}
		entries, err := os.ReadDir(snap)
		if errors.Is(err, os.ErrNotExist) {
			continue // garbage-collected just now: unpack again
		}
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if e.IsDir() {
				return &Artifact{Revision: revision, Dir: filepath.Join(snap, e.Name()), root: snap}, nil
			}
		}
		return nil, fail(KindUnavailable, nil, "chart %s unpacked to nothing", revision)
	}
	return nil, fail(KindUnavailable, nil, "chart %s: snapshot keeps disappearing", revision)
}

// checkChartFile runs CheckChartArchive on an archive file.
func checkChartFile(tgz string) error {
	f, err := os.Open(tgz)
	if err != nil {
		return err
	}
	defer f.Close()
	return CheckChartArchive(f)
}

// fetchOCI lists the chart's tags in an OCI registry, picks the newest in
// range, resolves it to a manifest digest and pulls only digests not seen.
func (h *helmFetcher) fetchOCI(ctx context.Context, req Request, hc *http.Client, base *url.URL, chart, version string) (*Artifact, error) {
	ref := strings.TrimSuffix(base.Host+base.Path, "/") + "/" + chart
	client, err := h.registryClient(req, hc, base.Host)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	tags, err := client.Tags(ref)
	if err != nil {
		return nil, classifyOCI(err, "oci://"+ref)
	}
	tag, err := pickTag(tags, version)
	if err != nil {
		return nil, fail(KindNotFound, nil, "oci://%s: %v", ref, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	desc, err := client.Resolve(ref + ":" + tag)
	if err != nil {
		return nil, classifyOCI(err, "oci://"+ref+":"+tag)
	}
	revision := Revision{Ref: chart + "-" + tag, Algorithm: SHA256, Digest: desc.Digest.Encoded()}.String()
	scope := scopeKey("oci://"+ref, req.Credentials, req.Channel.Spec.InsecureSkipVerify)
	snap := "helm-oci-" + scope + "-" + desc.Digest.Encoded()
	if fileExists(filepath.Join(h.artifacts, snap)) {
		if a, err := h.unpack("", snap, revision); err == nil {
			return a, nil
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	tgz, err := h.pullChart(client, ref+"@"+desc.Digest.String(), "oci://"+ref+":"+tag, scope)
	if err != nil {
		return nil, err
	}
	return h.unpack(tgz, snap, revision)
}

// registryClient is Helm's registry client with the Channel's credentials
// for host only, and none of the hub's own registry logins.
func (h *helmFetcher) registryClient(req Request, hc *http.Client, host string) (*registry.Client, error) {
	user, pass := basicAuth(req.Credentials)
	authorizer := auth.Client{Client: hc, Cache: auth.NewCache()}
	if user != "" || pass != "" {
		authorizer.Credential = auth.StaticCredential(host, auth.Credential{Username: user, Password: pass})
	}
	client, err := registry.NewClient(
		registry.ClientOptHTTPClient(hc),
		registry.ClientOptAuthorizer(authorizer),
		registry.ClientOptCredentialsFile(filepath.Join(h.dir, "no-registry-credentials.json")),
	)
	if err != nil {
		return nil, fmt.Errorf("create registry client: %w", err)
	}
	return client, nil
}

// pullChart pulls the chart layer of a manifest, checks it against its
// digest and keeps it in the scope's chart cache; it returns the archive.
func (h *helmFetcher) pullChart(client *registry.Client, ref, display, scope string) (string, error) {
	res, err := client.Pull(ref, registry.PullOptWithChart(true))
	if err != nil {
		return "", classifyOCI(err, display)
	}
	if res.Chart == nil || len(res.Chart.Data) == 0 {
		return "", fail(KindNotFound, nil, "%s holds no Helm chart layer", display)
	}
	sum := sha256.Sum256(res.Chart.Data)
	if res.Chart.Digest != "" && "sha256:"+hex.EncodeToString(sum[:]) != res.Chart.Digest {
		return "", fail(KindUnavailable, nil, "%s chart layer does not match its digest", display)
	}
	dir := filepath.Join(h.dir, "charts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tgz := filepath.Join(dir, scope+"-"+hex.EncodeToString(sum[:])+".tgz")
	if fileExists(tgz) {
		return tgz, nil
	}
	if err := os.WriteFile(tgz+".tmp", res.Chart.Data, 0o644); err != nil {
		return "", err
	}
	return tgz, os.Rename(tgz+".tmp", tgz)
}

// pickTag is the newest semver tag in range (tags come sorted newest first);
// an empty range takes the newest stable version.
func pickTag(tags []string, version string) (string, error) {
	if len(tags) == 0 {
		return "", errors.New("the repository has no semver tags; push the chart with helm push")
	}
	if version != "" {
		for _, t := range tags {
			if t == version {
				return t, nil
			}
		}
	}
	c, err := semver.NewConstraint(cmp.Or(version, "*"))
	if err != nil {
		return "", err
	}
	for _, t := range tags {
		v, err := semver.NewVersion(t)
		if err == nil && c.Check(v) {
			return t, nil
		}
	}
	have := tags
	if len(have) > 10 {
		have = append(have[:10:10], "…")
	}
	return "", fmt.Errorf("no tag matches %q (newest: %s); fix spec.packageFilter.version", version, strings.Join(have, ", "))
}

// statusError turns a non-2xx response into a classified error.
func statusError(resp *http.Response, rawURL, what string) error {
	u := SanitizeURL(rawURL)
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusUnauthorized:
		return fail(KindAuth, nil, "%s answered 401 Unauthorized for %s; set user and password in the Channel's secretRef", u, what)
	case resp.StatusCode == http.StatusForbidden:
		return fail(KindAuth, nil, "%s answered 403 Forbidden for %s; the Channel's credentials may not read it", u, what)
	case resp.StatusCode == http.StatusNotFound:
		return fail(KindNotFound, nil, "%s answered 404 Not Found for %s; check spec.pathname", u, what)
	}
	return fail(KindUnavailable, nil, "%s %s for %s", u, httpStatusText(resp.StatusCode), what)
}

func classifyHTTP(err error, rawURL string) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if egress.IsRefused(err) {
		return refusedByPolicy(rawURL)
	}
	if errors.Is(err, errBodyTooLarge) || strings.Contains(err.Error(), errBodyTooLarge.Error()) {
		return fail(KindUnavailable, nil, "%s sent a larger answer than the hub accepts", SanitizeURL(rawURL))
	}
	if ok, hint := trustFailure(err); ok {
		return fail(KindAuth, nil, "%s: %s", SanitizeURL(rawURL), hint)
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	return fail(KindUnavailable, err, "reach %s", SanitizeURL(rawURL))
}

// classifyOCI says why an OCI registry call failed. A refusal by the egress
// policy is named first: the error's text holds the registry's address, and
// a port such as 44011 must not read as a status.
func classifyOCI(err error, ref string) error {
	if egress.IsRefused(err) {
		return refusedByPolicy(ref)
	}
	var er *errcode.ErrorResponse
	if errors.As(err, &er) {
		switch er.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return fail(KindAuth, nil, "%s refused access (%d); set user and password in the Channel's secretRef", ref, er.StatusCode)
		case http.StatusNotFound:
			return fail(KindNotFound, nil, "%s not found; check spec.pathname and the Subscription's spec.name", ref)
		}
		// The registry's own error text is not quoted.
		return fail(KindUnavailable, nil, "%s %s", ref, httpStatusText(er.StatusCode))
	}
	// Registry clients that do not return an ErrorResponse still say
	// "401 Unauthorized" or "unauthorized: ...".
	if strings.Contains(strings.ToLower(err.Error()), "unauthorized") {
		return fail(KindAuth, nil, "%s refused access; set user and password in the Channel's secretRef", ref)
	}
	return classifyHTTP(err, ref)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// touch marks a cache file used, for garbage collection by age.
func touch(p string) {
	now := time.Now()
	_ = os.Chtimes(p, now, now)
}
