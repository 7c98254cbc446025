#!/usr/bin/env bash
# Installs what heapwise needs to build, test and benchmark, and nothing already present.
# Safe to run repeatedly: it only calls apt-get when a package is missing.
set -euo pipefail

# Build: libunwind (stack capture), zstd (frame compression), elfutils' libdw (symbols).
# Tests: jemalloc and tcmalloc run underneath the recorder; binutils' readelf checks the .so.
# Exports and the HTML report: zlib (gzip'd pprof); the tests read them back with golang-go's
# `go tool pprof`, protobuf-compiler's protoc (profile.proto) and chromium (headless; installed on
# its own below, so that a machine without it still builds: the browser test then skips).
# Bench: heaptrack and sqlite3 are the peers and workloads measured side by side.
packages=(
  gcc g++ make libunwind-dev libzstd-dev libdw-dev libelf-dev pkg-config binutils
  libjemalloc2 libjemalloc-dev libgoogle-perftools4
  zlib1g-dev golang-go protobuf-compiler
)
[[ ${HEAPWISE_BENCH_DEPS:-0} == 1 ]] && packages+=(heaptrack sqlite3 hyperfine)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
browser=1
dpkg-query -W -f='${Status}' chromium 2>/dev/null | grep -q 'ok installed' || browser=0
((${#missing[@]})) || ((browser == 0)) || exit 0

sudo=""
(( EUID == 0 )) || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}" >&2
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ((browser == 0)); then
  echo "install-deps: installing chromium (for the HTML report's browser test)" >&2
  $sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null ||
    echo "install-deps: chromium could not be installed; the HTML report's browser test will skip" >&2
fi
