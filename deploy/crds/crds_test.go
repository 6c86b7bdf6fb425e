package crds

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestHubAndManagedSplit(t *testing.T) {
	hub, err := Hub()
	if err != nil {
		t.Fatal(err)
	}
	managed, err := Managed()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, c := range hub {
		names[c.Name] = true
	}
	for _, want := range []string{
		"channels.apps.open-cluster-management.io",
		"subscriptions.apps.open-cluster-management.io",
		"placementrules.apps.open-cluster-management.io",
		"managedclusters.cluster.open-cluster-management.io",
		"placements.cluster.open-cluster-management.io",
		"placementdecisions.cluster.open-cluster-management.io",
		"manifestworks.work.open-cluster-management.io",
	} {
		if !names[want] {
			t.Errorf("hub CRDs lack %s", want)
		}
	}
	if len(managed) != 2 {
		t.Errorf("managed CRDs = %d, want AppliedManifestWork and ClusterClaim", len(managed))
	}
}

// TestOCMCopiesMatchModule guards the rule that OCM's CRDs are never edited by
// hand: each copy must equal the file in the module go.mod names.
func TestOCMCopiesMatchModule(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "open-cluster-management.io/api").Output()
	if err != nil {
		t.Fatalf("locate open-cluster-management.io/api: %v", err)
	}
	moduleDir := strings.TrimSpace(string(out))
	copies, err := filepath.Glob("ocm/*.yaml")
	if err != nil || len(copies) == 0 {
		t.Fatalf("no OCM CRD copies found: %v", err)
	}
	for _, c := range copies {
		matches, _ := filepath.Glob(filepath.Join(moduleDir, "*", "*", filepath.Base(c)))
		if len(matches) != 1 {
			t.Errorf("%s: want exactly one source in %s, found %d", c, moduleDir, len(matches))
			continue
		}
		want, _ := os.ReadFile(matches[0])
		got, _ := os.ReadFile(c)
		if string(want) != string(got) {
			t.Errorf("%s differs from %s; run hack/sync-ocm-crds.sh", c, matches[0])
		}
	}
}
