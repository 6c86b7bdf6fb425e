#!/usr/bin/env bash
# Copies the OCM CRDs this project installs out of the open-cluster-management.io/api
# module named in go.mod. They are never edited by hand; deploy/crds/crds_test.go
# checks the copies still match the module.
set -euo pipefail
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}"
root="$(cd "$(dirname "$0")/.." && pwd)"
api="$(cd "$root" && go list -m -f '{{.Dir}}' open-cluster-management.io/api)"
out="$root/deploy/crds/ocm"
rm -f "$out"/*.yaml
for f in \
  cluster/v1/0000_00_clusters.open-cluster-management.io_managedclusters.crd.yaml \
  cluster/v1beta2/0000_00_clusters.open-cluster-management.io_managedclustersets.crd.yaml \
  cluster/v1beta2/0000_01_clusters.open-cluster-management.io_managedclustersetbindings.crd.yaml \
  cluster/v1beta1/0000_02_clusters.open-cluster-management.io_placements.crd.yaml \
  cluster/v1beta1/0000_03_clusters.open-cluster-management.io_placementdecisions.crd.yaml \
  cluster/v1alpha1/0000_02_clusters.open-cluster-management.io_clusterclaims.crd.yaml \
  cluster/v1alpha1/0000_05_clusters.open-cluster-management.io_addonplacementscores.crd.yaml \
  work/v1/0000_00_work.open-cluster-management.io_manifestworks.crd.yaml \
  work/v1/0000_01_work.open-cluster-management.io_appliedmanifestworks.crd.yaml; do
  install -m 0644 "$api/$f" "$out/$(basename "$f")"
done
echo "copied $(ls "$out" | wc -l) CRDs from $api"
