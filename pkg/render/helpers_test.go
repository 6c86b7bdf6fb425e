package render

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/egress"
	"github.com/ocm-gitops/ocm-gitops/pkg/source"
)

// fleet is the test fleet repository as an artifact.
func fleet(t testing.TB) *source.Artifact {
	t.Helper()
	dir, err := filepath.Abs("testdata/fleet")
	if err != nil {
		t.Fatal(err)
	}
	return &source.Artifact{Revision: "main@sha1:0123456789abcdef", Dir: dir}
}

// subscription builds a Subscription for path in namespace ns.
func subscription(name, ns, path string) *appsv1.Subscription {
	s := &appsv1.Subscription{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       appsv1.SubscriptionSpec{Channel: ns + "/fleet"},
	}
	if path != "" {
		s.Annotations = map[string]string{appsv1.AnnotationGitPath: path}
	}
	return s
}

func rawJSON(t testing.TB, v any) runtime.RawExtension {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return runtime.RawExtension{Raw: b}
}

// helmOverride is OCM's form of Helm values for one chart.
func helmOverride(t testing.TB, chart string, values any) *appsv1.Overrides {
	return &appsv1.Overrides{PackageName: chart, PackageOverrides: []appsv1.PackageOverride{
		{RawExtension: rawJSON(t, map[string]any{"path": "spec", "value": values})},
	}}
}

func mustRender(t testing.TB, r *Renderer, art *source.Artifact, sub *appsv1.Subscription, c Cluster) *Output {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := r.Render(ctx, art, sub, c)
	if err != nil {
		t.Fatalf("render %s: %v", source.SubscriptionPath(sub), err)
	}
	return out
}

// renderErr renders and returns the *Error the render must fail with.
func renderErr(t testing.TB, r *Renderer, art *source.Artifact, sub *appsv1.Subscription, c Cluster) *Error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := r.Render(ctx, art, sub, c)
	if err == nil {
		t.Fatalf("render %s succeeded with %d objects; want an error", source.SubscriptionPath(sub), len(out.Objects))
	}
	var re *Error
	if !errors.As(err, &re) {
		t.Fatalf("error %v (%T) is not a *render.Error", err, err)
	}
	return re
}

// names lists objects as "Kind namespace/name".
func names(objs []*unstructured.Unstructured) []string {
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = o.GetKind() + " " + o.GetNamespace() + "/" + o.GetName()
	}
	return out
}

// repoRoot is the module root, where bin/ lives.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// tool returns bin/<name>, failing the test when it has not been built.
func tool(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(repoRoot(t), "bin", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is missing (%v): run hack/tools.sh cli to build the kustomize and helm CLIs the golden tests compare against", p, err)
	}
	return p
}

// run runs a CLI and returns its standard output.
func run(t testing.TB, env []string, name string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

// sameObjects fails unless got and want hold the same objects in the same
// order, compared by their JSON encoding.
func sameObjects(t testing.TB, got, want []*unstructured.Unstructured) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d objects, want %d\ngot:  %v\nwant: %v", len(got), len(want), names(got), names(want))
	}
	for i := range got {
		g, _ := json.Marshal(got[i].Object)
		w, _ := json.Marshal(want[i].Object)
		if !bytes.Equal(g, w) {
			t.Errorf("object %d differs:\n got: %s\nwant: %s", i, g, w)
		}
	}
}

// writeFiles creates files (path -> content) under dir.
func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// copyDir copies a tree of regular files.
func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func tempArtifact(t testing.TB, files map[string]string) *source.Artifact {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, files)
	return &source.Artifact{Revision: "test@sha1:" + filepath.Base(dir), Dir: dir}
}

// local lets a Renderer reach chart repositories on 127.0.0.1, as the lab
// and tests allow with --allow-networks.
func local(o Options) Options {
	o.Egress = egress.Allow(egress.Loopback()...)
	return o
}
