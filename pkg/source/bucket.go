package source

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

const (
	maxBucketObjects = 10000
	maxBucketBytes   = 512 << 20
)

// bucketFetcher reads ObjectBucket channels from any S3-compatible store.
// The revision is a digest of the listing (key, ETag, size of every object
// under the prefix), so an unchanged bucket costs one listing and no
// download.
type bucketFetcher struct {
	artifacts string
	log       logr.Logger
	clients   *httpClients
}

func newBucketFetcher(root string, log logr.Logger, clients *httpClients) *bucketFetcher {
	return &bucketFetcher{artifacts: filepath.Join(root, "artifacts"), log: log, clients: clients}
}

type bucketObject struct {
	key  string
	etag string
	size int64
}

// bucketAddress splits an ObjectBucket pathname: the endpoint, the bucket
// (first path element) and any further path as a key prefix.
func bucketAddress(pathname string) (endpoint string, secure bool, bucket, prefix string, err error) {
	u, perr := url.Parse(strings.TrimSpace(pathname))
	if perr != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", false, "", "", fail(KindInvalid, nil, "spec.pathname %q is not a bucket URL; use https://host[:port]/bucket[/prefix]", SanitizeURL(pathname))
	}
	parts := strings.SplitN(strings.Trim(u.Path, "/"), "/", 2)
	if parts[0] == "" {
		return "", false, "", "", fail(KindInvalid, nil, "spec.pathname %q names no bucket; use https://host[:port]/bucket[/prefix]", SanitizeURL(pathname))
	}
	if len(parts) == 2 {
		prefix = parts[1]
	}
	return u.Host, u.Scheme == "https", parts[0], prefix, nil
}

// joinPrefix joins prefix parts into an S3 key prefix ending in "/", or "".
func joinPrefix(parts ...string) (string, error) {
	var keep []string
	for _, p := range parts {
		for _, seg := range strings.Split(p, "/") {
			switch seg {
			case "", ".":
			case "..":
				return "", fail(KindInvalid, nil, "bucket prefix %q must not contain ..", p)
			default:
				keep = append(keep, seg)
			}
		}
	}
	if len(keep) == 0 {
		return "", nil
	}
	return strings.Join(keep, "/") + "/", nil
}

// Fetch lists the objects under the prefix and downloads them only when the
// listing's digest is new.
func (b *bucketFetcher) Fetch(ctx context.Context, req Request) (*Artifact, error) {
	endpoint, secure, bucket, pathPrefix, err := bucketAddress(req.Channel.Spec.Pathname)
	if err != nil {
		return nil, err
	}
	prefix, err := joinPrefix(pathPrefix, req.Ref.Prefix)
	if err != nil {
		return nil, err
	}
	hc, err := b.clients.get(req.Credentials, req.Channel.Spec.InsecureSkipVerify, 5*time.Minute, 0)
	if err != nil {
		return nil, err
	}
	c := req.Credentials
	creds := credentials.NewStatic("", "", "", credentials.SignatureAnonymous)
	if id := c.get(KeyAccessKeyID); id != "" {
		creds = credentials.NewStaticV4(id, c.get(KeySecretAccessKey), "")
	}
	region := c.get(KeyRegion)
	if region == "" && !strings.Contains(endpoint, "amazonaws.com") {
		// What OCM assumes for S3-compatible stores that ignore regions.
		region = "us-east-1"
	}
	client, err := minio.New(endpoint, &minio.Options{Creds: creds, Secure: secure, Region: region, Transport: hc.Transport, MaxRetries: 2})
	if err != nil {
		return nil, fail(KindInvalid, nil, "spec.pathname %q: %v", SanitizeURL(req.Channel.Spec.Pathname), err)
	}
	where := fmt.Sprintf("bucket %s at %s", bucket, endpoint)
	if prefix != "" {
		where += " under " + prefix
	}

	objects, err := listBucket(ctx, client, bucket, prefix)
	if err != nil {
		return nil, classifyS3(err, where)
	}
	if len(objects) == 0 {
		return nil, fail(KindNotFound, nil, "%s holds no objects; upload the manifests or fix the bucket-path annotation", where)
	}
	digest := listingDigest(objects)
	revision := Revision{Algorithm: SHA256, Digest: digest}.String()
	// The listing is the endpoint's word: the snapshot belongs to this
	// (address, credentials) only.
	scope := scopeKey(endpoint+"/"+bucket+"/"+prefix, req.Credentials, req.Channel.Spec.InsecureSkipVerify)
	snap := filepath.Join(b.artifacts, "s3-"+scope+"-"+digest)
	if fileExists(snap) {
		return &Artifact{Revision: revision, Dir: snap, root: snap}, nil
	}
	err = writeSnapshot(snap, func(tmp string) error {
		for _, o := range objects {
			target, err := safeJoin(tmp, strings.TrimPrefix(o.key, prefix))
			if err != nil {
				return fail(KindInvalid, nil, "object key %q: %v", o.key, err)
			}
			if err := download(ctx, client, bucket, o, target); err != nil {
				if errors.Is(err, errBodyTooLarge) {
					return fail(KindUnavailable, nil, "%s: object %q is larger than the %d bytes the listing says; the bucket is inconsistent or hostile", where, o.key, o.size)
				}
				return classifyS3(err, where)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	b.log.V(1).Info("downloaded bucket", "where", where, "objects", len(objects), "revision", revision)
	return &Artifact{Revision: revision, Dir: snap, root: snap}, nil
}

// download writes one object read-only at target, refusing more bytes than
// the listing said it has: the listing's sizes are what the bucket's bound
// was checked against.
func download(ctx context.Context, client *minio.Client, bucket string, o bucketObject, target string) error {
	obj, err := client.GetObject(ctx, bucket, o.key, minio.GetObjectOptions{})
	if err != nil {
		return err
	}
	defer obj.Close()
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	return writeFileFrom(target, &capReader{r: obj, left: o.size})
}

func listBucket(ctx context.Context, client *minio.Client, bucket, prefix string) ([]bucketObject, error) {
	var out []bucketObject
	var total int64
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for o := range client.ListObjects(lctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			return nil, o.Err
		}
		if strings.HasSuffix(o.Key, "/") {
			continue // folder markers
		}
		out = append(out, bucketObject{key: o.Key, etag: strings.Trim(o.ETag, `"`), size: o.Size})
		total += o.Size
		if len(out) > maxBucketObjects || total > maxBucketBytes {
			return nil, fail(KindInvalid, nil, "more than %d objects or %d MiB under the prefix; narrow it with the bucket-path annotation", maxBucketObjects, maxBucketBytes>>20)
		}
	}
	return out, nil
}

// listingDigest is sha256 over the sorted (key, etag, size) of every object.
func listingDigest(objects []bucketObject) string {
	sort.Slice(objects, func(i, j int) bool { return objects[i].key < objects[j].key })
	h := sha256.New()
	for _, o := range objects {
		fmt.Fprintf(h, "%s\x00%s\x00%d\n", o.key, o.etag, o.size)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func classifyS3(err error, where string) error {
	if k := kindOf(err); k != KindUnavailable {
		return err
	}
	resp := minio.ToErrorResponse(err)
	switch resp.Code {
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken":
		return fail(KindAuth, nil, "%s refused the credentials (%s); check AccessKeyID and SecretAccessKey in the Channel's secretRef", where, resp.Code)
	case "NoSuchBucket":
		return fail(KindNotFound, nil, "%s does not exist; fix spec.pathname", where)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return fail(KindAuth, nil, "%s refused access; check the Channel's secretRef", where)
	case resp.StatusCode != 0:
		// The endpoint's own error text is not quoted.
		return fail(KindUnavailable, nil, "%s %s", where, httpStatusText(resp.StatusCode))
	}
	return classifyHTTP(err, where)
}
