package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMigratePlacementRules(t *testing.T) {
	file := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(file, []byte(`apiVersion: apps.open-cluster-management.io/v1
kind: PlacementRule
metadata: {name: nginx-pr, namespace: default}
spec: {clusterReplicas: 10}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"migrate", "--placementrules", file, "--cluster-set", "fleet"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{"kind: Placement\n", "name: nginx-pr", "numberOfClusters: 10", "- fleet", "kind: ManagedClusterSetBinding", "clusterSet: fleet"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	errOut.Reset()
	if code := run(context.Background(), []string{"migrate"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "--placementrules is required") {
		t.Errorf("without a file: exit %d, %q", code, errOut.String())
	}
}
