#!/usr/bin/env bash
# Installs what heapwise needs to build, test and benchmark, and nothing already present.
# Safe to run repeatedly: it only calls apt-get when a package is missing.
set -euo pipefail

# Build: libunwind (stack capture), zstd (frame compression), elfutils' libdw (symbols).
# Tests: jemalloc and tcmalloc run underneath the recorder; binutils' readelf checks the .so.
# Bench: heaptrack and sqlite3 are the peers and workloads measured side by side.
packages=(
  gcc g++ make libunwind-dev libzstd-dev libdw-dev libelf-dev pkg-config binutils
  libjemalloc2 libjemalloc-dev libgoogle-perftools4
)
[[ ${HEAPWISE_BENCH_DEPS:-0} == 1 ]] && packages+=(heaptrack sqlite3 hyperfine)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
((${#missing[@]})) || exit 0

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
(( EUID == 0 )) || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
