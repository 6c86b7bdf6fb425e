package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/render"
	"github.com/ocm-gitops/ocm-gitops/pkg/source"
)

const fleetDir = "../../pkg/render/testdata/fleet"

const subYAML = `apiVersion: apps.open-cluster-management.io/v1
kind: Subscription
metadata:
  name: web
  namespace: shop
  annotations:
    apps.open-cluster-management.io/git-path: apps/helm/webapp
spec:
  channel: shop/fleet
  packageOverrides:
    - packageName: webapp
      packageOverrides:
        - path: spec
          value:
            image:
              tag: 5.0.0
  clusterValuesTemplate: |
    replicaCount: {{ if eq .Cluster.Labels.region "us" }}4{{ else }}1{{ end }}
  overrides:
    - clusterName: edge-1
      clusterOverrides:
        - path: spec.replicas
          value: 9
  deny:
    - apiVersion: batch/v1
      kinds: ["Job"]
`

// TestRenderCommandMatchesHub: the command prints exactly what the hub's
// Renderer gives for the same Subscription and cluster.
func TestRenderCommandMatchesHub(t *testing.T) {
	subFile := filepath.Join(t.TempDir(), "sub.yaml")
	if err := os.WriteFile(subFile, []byte(subYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	var sub appsv1.Subscription
	if err := yaml.Unmarshal([]byte(subYAML), &sub); err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs(fleetDir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, c := range []struct {
		cluster render.Cluster
		args    []string
		want    []string
	}{
		{render.Cluster{Name: "us-1", Labels: map[string]string{"region": "us", "env": "prod"}},
			[]string{"--cluster", "us-1", "--labels", "region=us, env=prod"},
			[]string{"replicas: 4", "webapp:5.0.0"}},
		{render.Cluster{Name: "edge-1", Labels: map[string]string{"region": "eu"}, Claims: map[string]string{"id.k8s.io": "e1"}},
			[]string{"--cluster", "edge-1", "--labels", "region=eu", "--claims", "id.k8s.io=e1"},
			[]string{"replicas: 9"}},
	} {
		t.Run(c.cluster.Name, func(t *testing.T) {
			out, err := render.NewRenderer().Render(ctx, &source.Artifact{Revision: "hub", Dir: abs}, &sub, c.cluster)
			if err != nil {
				t.Fatal(err)
			}
			want, err := encodeYAMLStream(out)
			if err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			args := append([]string{"--dir", fleetDir, "--subscription", subFile}, c.args...)
			if err := execCommand(ctx, newRenderCommand(), args, &stdout, &stderr); err != nil {
				t.Fatalf("render: %v\n%s", err, stderr.String())
			}
			if !bytes.Equal(stdout.Bytes(), want) {
				t.Errorf("command output differs from the hub's render\ncommand:\n%s\nhub:\n%s", stdout.String(), want)
			}
			for _, w := range c.want {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("output lacks %q", w)
				}
			}
			if strings.Contains(stdout.String(), "kind: Job") {
				t.Error("spec.deny was not applied")
			}
			if n := strings.Count(stdout.String(), "\n---\n"); n != len(out.Objects)-1 {
				t.Errorf("%d separators for %d objects", n, len(out.Objects))
			}
		})
	}
}

func TestRenderCommandFlags(t *testing.T) {
	ctx := context.Background()
	values := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(values, []byte("replicaCount: 6\nredis:\n  enabled: false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if err := execCommand(ctx, newRenderCommand(), []string{"--dir", fleetDir, "--path", "apps/helm/webapp", "--values", values}, &stdout, &stderr); err != nil {
		t.Fatalf("render: %v", err)
	}
	out := stdout.String()
	if !strings.Contains(out, "replicas: 6") || strings.Contains(out, "kind: StatefulSet") {
		t.Errorf("--values not applied:\n%s", out)
	}
	// Without --subscription the release is named after the path and lives in "default".
	if !strings.Contains(out, "name: webapp\n") || !strings.Contains(out, "namespace: default") {
		t.Errorf("default release name or namespace missing:\n%s", out)
	}
	var again bytes.Buffer
	if err := execCommand(ctx, newRenderCommand(), []string{"--dir", fleetDir, "--path", "apps/helm/webapp", "--values", values}, &again, &stderr); err != nil {
		t.Fatal(err)
	}
	if again.String() != out {
		t.Error("two runs printed different output")
	}

	for _, c := range []struct {
		args  []string
		usage bool
		want  string
	}{
		{[]string{}, true, "--dir is required"},
		{[]string{"--dir", fleetDir, "--labels", "novalue"}, true, "--labels"},
		{[]string{"--dir", filepath.Join(fleetDir, "missing")}, true, "not a folder"},
		{[]string{"--dir", fleetDir, "--path", "../.."}, false, "leaves the repository"},
		{[]string{"--dir", fleetDir, "--path", "apps/plain", "--subscription", values}, true, "holds 0 Subscriptions"},
	} {
		stdout.Reset()
		err := execCommand(ctx, newRenderCommand(), c.args, &stdout, &stderr)
		if c.want == "" {
			if err != nil {
				t.Errorf("%v: %v", c.args, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.args, err, c.want)
			continue
		}
		var u usageError
		if errors.As(err, &u) != c.usage {
			t.Errorf("%v: usage error %v, want %v", c.args, errors.As(err, &u), c.usage)
		}
	}
}

// TestRenderExampleSubscriptionFromMultiDocFile renders the example fleet's
// status-page chart for an east and a west cluster straight from the hub file
// that also holds its Namespace, binding and Placement.
func TestRenderExampleSubscriptionFromMultiDocFile(t *testing.T) {
	ctx := context.Background()
	root := filepath.Join("..", "..", "fleet-repo-example")
	replicas := map[string]string{}
	for _, region := range []string{"east", "west"} {
		var stdout, stderr bytes.Buffer
		args := []string{"--dir", root, "--subscription", filepath.Join(root, "hub", "status-page.yaml"),
			"--cluster", "c-" + region, "--labels", "region=" + region + ",env=prod"}
		if err := execCommand(ctx, newRenderCommand(), args, &stdout, &stderr); err != nil {
			t.Fatalf("%s: %v (%s)", region, err, stderr.String())
		}
		for _, line := range strings.Split(stdout.String(), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "replicas:") {
				replicas[region] = strings.TrimSpace(line)
			}
		}
	}
	if replicas["east"] == "" || replicas["east"] == replicas["west"] {
		t.Fatalf("per-region values not applied: %v", replicas)
	}

	var stdout, stderr bytes.Buffer
	err := execCommand(ctx, newRenderCommand(), []string{"--dir", root, "--subscription", filepath.Join(root, "hub", "clustersets.yaml")}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "holds 0 Subscriptions") {
		t.Fatalf("a file without a Subscription: %v", err)
	}
}
