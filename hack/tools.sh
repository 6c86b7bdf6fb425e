#!/usr/bin/env bash
# Builds the tools the tests and the lab need (kube-apiserver, etcd, kwok,
# controller-gen, ...) from the Go module proxy into a cache folder keyed by the
# content of each tools module and the packages built from it, then links them
# into bin/ (and the control-plane ones into bin/k8s). A second run with the
# same inputs builds nothing. While a build runs it says what it builds, how
# far it got (packages compiled of those to compile) and a rough time left.
#
#   hack/tools.sh [SET ...]   (default: kube etcd kwok, what tests need; sets are listed below)
#
# To add a set: put a Go module under test/tools/<dir> (go.mod with a `tool`
# line or a blank import of what it builds) and add one line to `sets`.
set -euo pipefail
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}"

root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${OCM_GITOPS_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ocm-gitops/tools}"
bin="$root/bin"
mkdir -p "$cache" "$bin/k8s"
work=""
trap '[ -z "$work" ] || rm -rf "$work"' EXIT # an interrupted build leaves no half-built folder

# set -> "module-dir package ..."; one `go build` per set.
declare -A sets=(
  # a control plane that runs workloads: tests and the lab
  [kube]="kube k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler"
  [etcd]="etcd ."
  [kwok]="kwok sigs.k8s.io/kwok/cmd/kwok"
  # for people: the lab's how-to uses it, no test does
  [kubectl]="kube k8s.io/kubernetes/cmd/kubectl"
  [codegen]="codegen sigs.k8s.io/controller-tools/cmd/controller-gen"
  [cli]="cli sigs.k8s.io/kustomize/kustomize/v5 helm.sh/helm/v3/cmd/helm"
  # the sops CLI: checks that what `secrets encrypt` writes, sops decrypts
  [sops]="sops github.com/getsops/sops/v3/cmd/sops"
  [ocm]="ocm open-cluster-management.io/ocm/cmd/placement open-cluster-management.io/ocm/cmd/work"
)
# binaries that go into bin/k8s, the folder tests find control planes in
assets=" kube-apiserver kube-controller-manager kube-scheduler etcd kwok kubectl "
# seconds between progress lines when stderr is not a terminal
interval="${OCM_GITOPS_TOOLS_PROGRESS_INTERVAL:-15}"

key_of() { # the content key: the set's packages, every input file of its module, the Go version
  local dir="$root/test/tools/$1"; shift
  { go env GOVERSION GOOS GOARCH; echo "$@"
    find "$dir" -type f \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' \) -print0 | sort -z | xargs -0 sha256sum | sed "s|$dir/||"
  } | sha256sum | cut -c1-16
}

dur() { # 75 -> 1m15s
  if [ "$1" -ge 60 ]; then printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); else printf '%ds' "$1"; fi
}

# say prints a progress line: in place on a terminal, else a new line at most every $interval s.
last_said=0
say() {
  local now; now=$(date +%s)
  if [ -t 2 ]; then printf '\r\033[K   %s' "$1" >&2
  elif [ $((now - last_said)) -ge "$interval" ]; then echo "   $1" >&2; last_said=$now
  fi
}
said_done() { if [ -t 2 ]; then printf '\r\033[K' >&2; fi; }

# watch PID WHAT LOG TOTAL START: until PID ends, report the lines of LOG
# (downloads, or compiled packages listed in $work/stale) against TOTAL.
watch() {
  local pid=$1 what=$2 log=$3 total=$4 start=$5 n el left
  while kill -0 "$pid" 2>/dev/null; do
    sleep 2
    el=$(( $(date +%s) - start ))
    if [ "$what" = downloading ]; then
      n=$(grep -c '^go: downloading' "$log" || true)
      say "downloading modules: $n of at most $total, $(dur $el)"
    else
      n=$(grep -cxF -f "$work/stale" "$log" || true)
      if [ "$n" -ge "$total" ]; then say "compiled $total packages; linking, $(dur $el)"; continue; fi
      left=""
      # a rough estimate once enough is done: packages differ a lot in size
      if [ "$n" -ge $((total / 10 + 1)) ]; then left=", about $(dur $(( el * (total - n) / n ))) left"; fi
      say "compiling: $n of $total packages ($((100 * n / total))%), $(dur $el)$left"
    fi
  done
  said_done
}

build() {
  local name="$1" spec dir pkgs key out start rc total
  spec="${sets[$name]}"; dir="${spec%% *}"; pkgs="${spec#* }"
  key="$(key_of "$dir" $pkgs)"
  out="$cache/$name-$key"
  if [ ! -f "$out/.complete" ]; then
    echo ">> building tool set '$name': $(for p in $pkgs; do [ "$p" = . ] && p=$dir; p="${p%/v[0-9]*}"; basename "$p"; done | paste -sd' ') (first run only; cached in $out)" >&2
    work="$(mktemp -d "$cache/.$name-XXXXXX")"
    start=$(date +%s)
    # Modules first: `go list` fetches what the packages need and names the
    # packages whose compiled form is not in Go's build cache.
    ( cd "$root/test/tools/$dir" && go list -trimpath -deps -f '{{if .Stale}}{{.ImportPath}}{{end}}' $pkgs >"$work/stale" 2>"$work/log" ) &
    watch $! downloading "$work/log" "$(grep -c ' v[0-9]' "$root/test/tools/$dir/go.mod" || true)" "$start"
    wait $! || { cat "$work/log" >&2; rm -rf "$work"; exit 1; }
    sed -i '/^$/d' "$work/stale"
    total=$(wc -l <"$work/stale")
    ( cd "$root/test/tools/$dir" && exec go build -v -trimpath -o "$work/" $pkgs ) 2>"$work/log" &
    watch $! compiling "$work/log" "$total" "$start"
    rc=0; wait $! || rc=$?
    if [ "$rc" -ne 0 ]; then grep -vxF -f "$work/stale" "$work/log" >&2 || true; rm -rf "$work"; exit "$rc"; fi
    rm -f "$work/stale" "$work/log"
    touch "$work/.complete"
    rm -rf "$out" && mv "$work" "$out"
    echo ">> built '$name' in $(dur $(( $(date +%s) - start ))) ($total package(s) compiled)" >&2
  fi
  for f in "$out"/*; do
    local b; b="$(basename "$f")"
    case "$assets" in *" $b "*) ln -sfn "$f" "$bin/k8s/$b" ;; esac
    ln -sfn "$f" "$bin/$b"
  done
}

[ $# -eq 0 ] && set -- kube etcd kwok
for t in "$@"; do
  [ -n "${sets[$t]:-}" ] || { echo "hack/tools.sh: unknown tool set '$t' (want one of: ${!sets[*]})" >&2; exit 2; }
  build "$t"
done
