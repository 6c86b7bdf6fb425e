package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	workv1 "open-cluster-management.io/api/work/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/test/harness"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// TestTreeAndDiffCommands runs 'tree' and 'diff' against a real hub
// deploying a real Git repository: clusters with the same content grouped,
// an override splitting them, and a local checkout compared with what each
// cluster holds (per-cluster renders, exit codes, Secret values never in
// clear).
func TestTreeAndDiffCommands(t *testing.T) {
	e := newFleetEnv(t)
	head := e.fleet.Head(t)

	out := e.run(t, 0, "tree", "subscription", "hello", "-n", "fleet")
	for _, want := range []string{"Subscription fleet/hello at main@" + head[:7], "clusters east (healthy), west (healthy): content",
		"├── ConfigMap apps/hello-config", "└── Deployment default/hello"} {
		if !strings.Contains(out, want) {
			t.Errorf("tree lacks %q:\n%s", want, out)
		}
	}

	// An override for west gives it content of its own.
	sub := e.Subscription(t, "hello")
	patch := client.MergeFrom(sub.DeepCopy())
	sub.Spec.Overrides = []appsv1.ClusterOverrides{{ClusterName: "west", ClusterOverrides: []appsv1.ClusterOverride{
		{RawExtension: runtime.RawExtension{Raw: []byte(`{"path":"data.value","value":"west-value"}`)}}}}}
	if err := e.C.Patch(e.Ctx, sub, patch); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 3*time.Minute, "west's work with its own value", func() error {
		if w := e.Works(t, "hello")["west"]; w == nil || !harness.ManifestsContain(w, `"west-value"`) {
			return errString("not yet")
		}
		return nil
	})
	var tree subscriptionTree
	if err := json.Unmarshal([]byte(e.run(t, 0, "tree", "sub", "fleet/hello", "-o", "json")), &tree); err != nil {
		t.Fatal(err)
	}
	// Each work carries the ConfigMap and the Deployment, and the two
	// namespaces they use but the repository does not declare.
	if len(tree.Groups) != 2 || tree.Groups[0].Content == tree.Groups[1].Content || len(tree.Groups[0].Objects) != 4 || tree.Groups[1].Clusters[0].Name != "west" {
		t.Fatalf("tree -o json after the override = %+v, want two groups of one cluster with different content", tree)
	}

	dir := e.fleet.Clone
	diff := func(want int, args ...string) string {
		return e.run(t, want, append([]string{"diff", "--dir", dir, "subscription", "hello", "-n", "fleet"}, args...)...)
	}
	// The checkout is what is deployed, overrides included: no change.
	if out := diff(0); !strings.Contains(out, "no changes: the 2 clusters of fleet/hello hold what") {
		t.Errorf("diff of the deployed commit:\n%s", out)
	}

	// Uncommitted edits: a changed value on both clusters, a new Secret.
	writeFile(t, filepath.Join(dir, "apps/hello/config.yaml"), harness.ConfigMapYAML("hello-config", "v2"))
	writeFile(t, filepath.Join(dir, "apps/hello/secret.yaml"), "apiVersion: v1\nkind: Secret\nmetadata:\n  name: token\n  namespace: apps\nstringData:\n  token: hunter2-do-not-print\n")
	out = diff(1)
	for _, want := range []string{"=== fleet/hello on east: 2 objects change", "--- deployed/ConfigMap/apps/hello-config",
		"+++ local/ConfigMap/apps/hello-config", `-  value: v1`, `+  value: v2`, "=== fleet/hello on west: 1 objects change", "added Secret apps/token",
		"2 of 2 clusters of fleet/hello would change"} {
		if !strings.Contains(out, want) {
			t.Errorf("diff of the edited checkout lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "hunter2") {
		t.Errorf("diff prints a Secret's value:\n%s", out)
	}
	var res subscriptionDiff
	if err := json.Unmarshal([]byte(diff(1, "-o", "json")), &res); err != nil {
		t.Fatal(err)
	}
	if res.Clusters != 2 || len(res.Groups) != 2 || len(res.Groups[0].Objects) != 2 || len(res.Groups[1].Objects) != 1 {
		t.Errorf("diff -o json = %+v, want east with 2 changes and west (its value overridden) with the Secret only", res)
	}

	// What does not render is an error (exit 2), naming the file.
	writeFile(t, filepath.Join(dir, "apps/hello/broken.yaml"), "kind: [\n")
	if out := diff(2); !strings.Contains(out, "does not render") || !strings.Contains(out, "broken.yaml") {
		t.Errorf("diff of a broken checkout:\n%s", out)
	}
	if out := e.run(t, 2, "diff", "subscription", "hello", "-n", "fleet"); !strings.Contains(out, "--dir is required") {
		t.Errorf("diff without --dir: %s", out)
	}
	if out := e.run(t, 2, "diff", "--dir", dir, "subscription", "nope", "-n", "fleet"); !strings.Contains(out, "Subscription fleet/nope not found") {
		t.Errorf("diff of a missing Subscription: %s", out)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestTreeGroups groups clusters by content and removal state (no control
// plane).
func TestTreeGroups(t *testing.T) {
	work := func(cluster, name string, annotations map[string]string, manifests ...string) workv1.ManifestWork {
		w := workv1.ManifestWork{ObjectMeta: metav1.ObjectMeta{Namespace: cluster, Name: name, Annotations: annotations}}
		for _, m := range manifests {
			w.Spec.Workload.Manifests = append(w.Spec.Workload.Manifests, workv1.Manifest{RawExtension: runtime.RawExtension{Raw: []byte(m)}})
		}
		return w
	}
	cm := func(v string) string {
		return `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"apps"},"data":{"v":"` + v + `"}}`
	}
	rev := map[string]string{appsv1.AnnotationRevision: "main@sha1:1111111111111111111111111111111111111111"}
	held := map[string]string{appsv1.AnnotationRevision: "main@sha1:1111111111111111111111111111111111111111", appsv1.AnnotationRemovalHeld: "true"}
	// e's content is split into two works, given out of order.
	clusters, err := groupWorks([]workv1.ManifestWork{
		work("a", "w-0", rev, cm("1")), work("b", "w-0", rev, cm("1")), work("c", "w-0", rev, cm("2")),
		work("d", "w-0", held, cm("1")),
		work("e", "w-1", rev, `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"apps"}}`), work("e", "w-0", rev, cm("1")),
	})
	if err != nil {
		t.Fatal(err)
	}
	sub := &appsv1.Subscription{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "s"}}
	tree := buildTree(sub, clusters)
	var got []string
	for _, g := range tree.Groups {
		var names []string
		for _, c := range g.Clusters {
			names = append(names, c.Name)
		}
		got = append(got, strings.Join(names, "+"))
	}
	if strings.Join(got, " ") != "a+b c d e" {
		t.Fatalf("groups %v, want a+b together, then c, d and e apart", got)
	}
	if h := tree.Groups[2].heading(); !strings.HasSuffix(h, ", removal held") {
		t.Errorf("d's heading %q, want its removal held", h)
	}
	if tree.Groups[0].Content == tree.Groups[1].Content {
		t.Error("a and c hold different content under one digest")
	}
	e := tree.Groups[len(tree.Groups)-1]
	if len(e.Objects) != 2 || e.Objects[1].Kind != "Namespace" || e.Objects[1].Work != "w-1" {
		t.Errorf("the split cluster's objects = %+v, want the ConfigMap of w-0 then the Namespace of w-1", e.Objects)
	}
	var buf strings.Builder
	if err := tree.write(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "├── clusters a (") || !strings.Contains(buf.String(), "│   └── ConfigMap apps/c") {
		t.Errorf("tree text:\n%s", buf.String())
	}
}
