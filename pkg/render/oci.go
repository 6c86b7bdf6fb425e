package render

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/Masterminds/semver/v3"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"helm.sh/helm/v3/pkg/chart"
	"oras.land/oras-go/v2/content"
	oras "oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"
)

// Helm's media types for a chart pushed to an OCI registry.
const (
	helmChartLayer       = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
	helmChartLayerLegacy = "application/tar+gzip"
	maxOCIManifest       = 4 << 20
	maxOCITags           = 10_000
)

// ociDependency pulls a chart from an OCI registry, as Helm does for
// `repository: oci://host/path`: the chart is host/path/<name>, the tag the
// version Chart.lock pins or the newest semver tag in the range ('+' written
// '_'). The registry gets the Channel's credentials only when it is the
// Channel's host. Manifest, layer sizes and digests are checked before and
// while reading, and the chart is cached by the registry, repository,
// credentials and manifest digest the request itself resolved.
func (r *Renderer) ociDependency(ctx context.Context, rm *remote, d dependency) (*chart.Chart, error) {
	repo, shown, err := rm.ociRepository(d)
	if err != nil {
		return nil, err
	}
	tag, err := ociTag(ctx, repo, shown, d.version, rm.own(ociURL(repo)))
	if err != nil {
		return nil, err
	}
	desc, err := repo.Resolve(ctx, tag)
	if err != nil {
		return nil, ociError(err, shown+":"+tag, rm.own(ociURL(repo)))
	}
	key := []string{"oci", rm.scope(ociURL(repo)), repo.Reference.Registry + "/" + repo.Reference.Repository, desc.Digest.String()}
	if ch := r.downloads.chart(ctx, "", key...); ch != nil {
		return ch, nil
	}
	layer, err := ociChartLayer(ctx, repo, desc, shown+":"+tag, rm.maxBytes)
	if err != nil {
		return nil, ociError(err, shown+":"+tag, rm.own(ociURL(repo)))
	}
	data, err := content.FetchAll(ctx, repo.Blobs(), layer)
	if err != nil {
		return nil, ociError(err, shown+":"+tag, rm.own(ociURL(repo)))
	}
	return r.keep(data, shown+":"+tag, key...)
}

// ociRepository is the repository of d's chart, with a client that dials
// through the egress policy and authenticates only to the Channel's host.
func (rm *remote) ociRepository(d dependency) (*oras.Repository, string, error) {
	u, err := url.Parse(d.repo)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, "", &Error{Err: fmt.Errorf("repository %q is not an oci://host/path reference", d.repo)}
	}
	ref := u.Host + strings.TrimSuffix(u.Path, "/") + "/" + d.name
	repo, err := oras.NewRepository(ref)
	if err != nil {
		return nil, "", &Error{Err: fmt.Errorf("oci://%s is not a valid chart reference: %w", ref, err)}
	}
	hc, err := rm.client(ociURL(repo))
	if err != nil {
		return nil, "", err
	}
	client := &auth.Client{Client: hc, Cache: auth.NewCache()}
	if user, pass, ok := rm.basicAuth(ociURL(repo)); ok {
		client.Credential = auth.StaticCredential(repo.Reference.Registry, auth.Credential{Username: user, Password: pass})
	}
	repo.Client = client
	repo.MaxMetadataBytes = maxOCIManifest
	return repo, "oci://" + ref, nil
}

// ociURL is the registry's address, to compare with the Channel's.
func ociURL(repo *oras.Repository) *url.URL {
	return &url.URL{Scheme: "oci", Host: repo.Reference.Registry}
}

// ociTag is the tag of the version to pull: an exact version as given, else
// the newest semver tag in the range.
func ociTag(ctx context.Context, repo *oras.Repository, shown, version string, own bool) (string, error) {
	if _, err := semver.StrictNewVersion(strings.TrimPrefix(version, "v")); err == nil {
		return strings.ReplaceAll(version, "+", "_"), nil
	}
	c, err := semver.NewConstraint(cmp.Or(version, "*"))
	if err != nil {
		return "", &Error{Err: fmt.Errorf("version %q is not a semver range: %w", version, err)}
	}
	var best *semver.Version
	bestTag, seen := "", 0
	err = repo.Tags(ctx, "", func(tags []string) error {
		if seen += len(tags); seen > maxOCITags {
			return fmt.Errorf("%s has more than %d tags; pin a version", shown, maxOCITags)
		}
		for _, t := range tags {
			v, err := semver.NewVersion(strings.ReplaceAll(t, "_", "+"))
			if err == nil && c.Check(v) && (best == nil || v.GreaterThan(best)) {
				best, bestTag = v, t
			}
		}
		return nil
	})
	if err != nil {
		return "", ociError(err, shown, own)
	}
	if best == nil {
		return "", &rangeError{remote: true, msg: fmt.Sprintf("%s has no tag in the range %q", shown, version)}
	}
	return bestTag, nil
}

// ociChartLayer reads the manifest desc and returns its chart layer, after
// checking the layer's size.
func ociChartLayer(ctx context.Context, repo *oras.Repository, desc ocispec.Descriptor, shown string, maxBytes int64) (ocispec.Descriptor, error) {
	if desc.Size > maxOCIManifest {
		return ocispec.Descriptor{}, fmt.Errorf("%s: the manifest is %d bytes, over the %d-byte limit", shown, desc.Size, maxOCIManifest)
	}
	data, err := content.FetchAll(ctx, repo.Manifests(), desc)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%s: the manifest does not parse", shown)
	}
	for _, l := range m.Layers {
		if l.MediaType != helmChartLayer && l.MediaType != helmChartLayerLegacy {
			continue
		}
		if l.Size > maxBytes {
			return ocispec.Descriptor{}, fmt.Errorf("%s: the chart layer is %d bytes, over the %d-byte limit", shown, l.Size, maxBytes)
		}
		return l, nil
	}
	return ocispec.Descriptor{}, fmt.Errorf("%s holds no Helm chart layer (%s)", shown, helmChartLayer)
}

// ociError describes a registry failure without quoting the registry's
// answer.
func ociError(err error, shown string, own bool) error {
	if errors.Is(err, auth.ErrBasicCredentialNotFound) {
		return fmt.Errorf("%s: the registry asks for a user and password%s", shown, authHint(http.StatusUnauthorized, own))
	}
	var er *errcode.ErrorResponse
	if errors.As(err, &er) {
		return fmt.Errorf("%s: the registry answered %d%s", shown, er.StatusCode, authHint(er.StatusCode, own))
	}
	if strings.HasPrefix(err.Error(), shown) {
		return err
	}
	return fmt.Errorf("%s: %w", shown, err)
}
