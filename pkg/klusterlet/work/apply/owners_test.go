package apply

import (
	"errors"
	"fmt"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

func amwRef(name string) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: "work.open-cluster-management.io/v1", Kind: "AppliedManifestWork", Name: name, UID: k8stypes.UID("uid-" + name)}
}

func withRefs(rv string, refs ...metav1.OwnerReference) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap"}}
	u.SetName("c")
	u.SetResourceVersion(rv)
	u.SetOwnerReferences(refs)
	return u
}

func uidsOf(u *unstructured.Unstructured) string {
	var out []string
	for _, r := range u.GetOwnerReferences() {
		out = append(out, string(r.UID))
	}
	return fmt.Sprint(out)
}

// The apply body carries the AppliedManifestWork references the object has,
// the request's own added or dropped, and only the fields that name them;
// it is guarded by the live resourceVersion when another work's reference
// is in it or the object is shared.
func TestSetAppliedOwners(t *testing.T) {
	other := amwRef("other")
	other.BlockOwnerDeletion = ptr.To(true) // set by someone else: not the agent's to claim
	deployment := metav1.OwnerReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "d", UID: "uid-d"}
	tests := []struct {
		name          string
		live          *unstructured.Unstructured
		owned, shared bool
		want          string
		guarded       bool
	}{
		{"absent", nil, true, false, "[uid-mine]", false},
		{"absent, orphaned", nil, false, false, "[]", false},
		{"ours only", withRefs("5", amwRef("mine")), true, false, "[uid-mine]", false},
		{"orphaned drops ours", withRefs("5", amwRef("mine")), false, false, "[]", false},
		{"another work's kept", withRefs("5", other, deployment), true, false, "[uid-other uid-mine]", true},
		{"shared", withRefs("5"), true, true, "[uid-mine]", true},
		{"shared, absent", nil, true, true, "[uid-mine]", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := &Request{Owner: amwRef("mine"), Owned: tt.owned, Shared: tt.shared}
			body := withRefs("")
			guarded := setAppliedOwners(body, req, tt.live)
			if got := uidsOf(body); got != tt.want {
				t.Errorf("owners = %s, want %s", got, tt.want)
			}
			if guarded != tt.guarded || guarded != (body.GetResourceVersion() == "5") {
				t.Errorf("guarded = %t with resourceVersion %q, want %t", guarded, body.GetResourceVersion(), tt.guarded)
			}
			for _, r := range body.GetOwnerReferences() {
				if r.BlockOwnerDeletion != nil || r.Controller != nil {
					t.Errorf("reference %s claims fields another writer set: %+v", r.UID, r)
				}
			}
		})
	}
}

func TestStaleVersion(t *testing.T) {
	gr := schema.GroupResource{Resource: "configmaps"}
	stale := apierrors.NewConflict(gr, "c", errors.New("the object has been modified"))
	field := apierrors.NewApplyConflict([]metav1.StatusCause{{Type: metav1.CauseTypeFieldManagerConflict, Field: ".data.k"}}, "conflict")
	if !staleVersion(stale) {
		t.Error("a resourceVersion conflict is stale")
	}
	if staleVersion(field) {
		t.Error("a field manager conflict is not stale")
	}
	if staleVersion(apierrors.NewNotFound(gr, "c")) {
		t.Error("not found is not stale")
	}
}
