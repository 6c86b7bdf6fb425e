#!/usr/bin/env bash
# Builds the tools the tests and the lab need (kube-apiserver, etcd, kubectl,
# controller-gen, ...) from the Go module proxy into a cache folder keyed by the
# content of each tools module, then links them into bin/. A second run with the
# same inputs builds nothing.
#
#   hack/tools.sh [kube|etcd|codegen|cli|ocm ...]   (default: kube etcd)
set -euo pipefail
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}"

root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${OCM_GITOPS_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ocm-gitops/tools}"
bin="$root/bin"
mkdir -p "$cache" "$bin/k8s"

# packages each tools module builds, as "module-dir:import-path ..."
declare -A packages=(
  [kube]="k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl"
  [etcd]="."
  [codegen]="sigs.k8s.io/controller-tools/cmd/controller-gen"
  [cli]="sigs.k8s.io/kustomize/kustomize/v5 helm.sh/helm/v3/cmd/helm"
  [ocm]="open-cluster-management.io/ocm/cmd/placement open-cluster-management.io/ocm/cmd/work"

)

key_of() { # the content key: every input file of the module plus the Go version
  local dir="$root/test/tools/$1"
  { go env GOVERSION GOOS GOARCH; find "$dir" -type f \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' \) -print0 | sort -z | xargs -0 sha256sum | sed "s|$dir/||"; } | sha256sum | cut -c1-16
}

build() {
  local name="$1" key out tmp
  key="$(key_of "$name")"
  out="$cache/$name-$key"
  if [ ! -f "$out/.complete" ]; then
    echo ">> building $name tools (first run only; cached in $out)" >&2
    tmp="$(mktemp -d "$cache/.$name-XXXXXX")"
    start=$(date +%s)
    (cd "$root/test/tools/$name" && go build -trimpath -o "$tmp/" ${packages[$name]})
    touch "$tmp/.complete"
    rm -rf "$out" && mv "$tmp" "$out"
    echo ">> built $name in $(( $(date +%s) - start ))s" >&2
  fi
  for f in "$out"/*; do
    case "$(basename "$f")" in
      kube-apiserver|etcd|kubectl) ln -sfn "$f" "$bin/k8s/$(basename "$f")" ;;
    esac
    ln -sfn "$f" "$bin/$(basename "$f")"
  done
}

[ $# -eq 0 ] && set -- kube etcd
for t in "$@"; do
  [ -n "${packages[$t]:-}" ] || { echo "hack/tools.sh: unknown tool set '$t' (want one of: ${!packages[*]})" >&2; exit 2; }
  build "$t"
done
