package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ocm-gitops/ocm-gitops/pkg/lab"
)

// TestLabExampleAndWebhookPush starts the lab as `make lab` does, with the
// repository's own example fleet, and checks that a git push reaches every
// cluster through the hub's webhook receiver (no polling: the example's poll
// interval is minutes, the test allows seconds).
func TestLabExampleAndWebhookPush(t *testing.T) {
	ctx := context.Background()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	l, err := lab.Start(ctx, lab.Options{
		Clusters: 2, Dir: dir, GitAddr: "127.0.0.1:0", Logger: logr.Discard(),
		Example:    true,
		ExampleDir: filepath.Join(root, "fleet-repo-example"),
		ApplyDirs:  []string{filepath.Join(root, "channels"), filepath.Join(root, "subscriptions")},
	})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = l.Stop()
		}
	})
	clusters := map[string]client.Client{}
	for _, cp := range l.Clusters {
		clusters[cp.Name] = mustClient(t, cp)
	}
	color := func(c client.Client) (string, error) {
		cm := &corev1.ConfigMap{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: "hello", Name: "hello-config"}, cm); err != nil {
			return "", err
		}
		return cm.Data["color"], nil
	}
	for name, c := range clusters {
		waitFor(t, 60*time.Second, name+" runs the example", func() error {
			got, err := color(c)
			if err != nil || got != "blue" {
				return fmt.Errorf("color %q (%v)", got, err)
			}
			return nil
		})
	}

	clone := filepath.Join(dir, "clone")
	if err := lab.Git(ctx, "", "clone", "--quiet", l.FleetURL, clone); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(clone, "apps/hello/configmap.yaml")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(strings.Replace(string(data), "color: blue", "color: green", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"commit", "--quiet", "-am", "hello: green"}, {"push", "--quiet", "origin", "main"}} {
		if err := lab.Git(ctx, clone, args...); err != nil {
			t.Fatal(err)
		}
	}
	pushed := time.Now()
	for name, c := range clusters {
		waitFor(t, 20*time.Second, name+" turns green", func() error {
			got, err := color(c)
			if err != nil || got != "green" {
				return fmt.Errorf("color %q (%v)", got, err)
			}
			return nil
		})
	}
	t.Logf("push reached %d clusters through the webhook in %s", len(clusters), time.Since(pushed).Round(time.Millisecond))

	stopped = true
	start := time.Now()
	if err := l.Stop(); err != nil {
		t.Fatalf("lab did not stop cleanly: %v", err)
	}
	t.Logf("lab stopped in %s", time.Since(start).Round(time.Millisecond))
}
