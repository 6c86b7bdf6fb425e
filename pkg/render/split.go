package render

import (
	"encoding/json"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	workv1 "open-cluster-management.io/api/work/v1"
)

// ManifestLimit is OCM's limit on the manifests of one ManifestWork: its
// webhook refuses a work whose manifests add up to more than 500 KiB
// (512000 bytes), each counted by its protobuf size (the JSON plus a few
// bytes of framing).
const ManifestLimit = 500 * 1024

// ManifestSize is how OCM counts one object toward ManifestLimit.
func ManifestSize(o *unstructured.Unstructured) (int, error) {
	raw, err := json.Marshal(o.Object)
	if err != nil {
		return 0, fmt.Errorf("encode %s: %w", describe(o), err)
	}
	m := workv1.Manifest{RawExtension: runtime.RawExtension{Raw: raw}}
	return m.Size(), nil
}

// Split cuts objects, in order, into consecutive groups whose manifests fit in
// maxBytes each, so that every group fits in one ManifestWork. Order is kept:
// CRDs and Namespaces, which come first, land in the same or an earlier group
// than what needs them. A single object over maxBytes is an error naming it.
// No objects give no groups.
func Split(objs []*unstructured.Unstructured, maxBytes int) ([][]*unstructured.Unstructured, error) {
	if maxBytes <= 0 {
		return nil, errors.New("split: the size limit must be positive")
	}
	var parts [][]*unstructured.Unstructured
	var cur []*unstructured.Unstructured
	used := 0
	for _, o := range objs {
		size, err := ManifestSize(o)
		if err != nil {
			return nil, err
		}
		if size > maxBytes {
			return nil, fmt.Errorf("%s is %d bytes, more than the %d bytes one ManifestWork may carry; make it smaller (for example move large data out of it)", describe(o), size, maxBytes)
		}
		if used+size > maxBytes && len(cur) > 0 {
			parts = append(parts, cur)
			cur, used = nil, 0
		}
		cur = append(cur, o)
		used += size
	}
	if len(cur) > 0 {
		parts = append(parts, cur)
	}
	return parts, nil
}
