#!/bin/sh
# Builds `heapwise` as a libFuzzer target and fuzzes every analysis command's input path
# (tools/fuzz/README.md). Usage: tools/fuzz/run.sh [RUNS] [extra libFuzzer flags...]
#   RUNS defaults to 10,000,000 executions; MAX_LEN (default 8192) bounds an input's size. The
#   corpus and any crash go to .build-fuzz/.
# The normal build (swift build, make test) never needs this: the entry point is compiled only
# with HEAPWISE_FUZZ=1 (Package.swift) and the toolchain's -sanitize=fuzzer.
set -eu
cd "$(dirname "$0")/../.."
runs=${1:-10000000}
[ $# -gt 0 ] && shift
scratch=.build-fuzz
HEAPWISE_FUZZ=1 swift build -c release --sanitize=fuzzer --scratch-path "$scratch" --product heapwise >&2
fuzzer=$(HEAPWISE_FUZZ=1 swift build -c release --sanitize=fuzzer --scratch-path "$scratch" --show-bin-path)/heapwise
corpus=$scratch/corpus
mkdir -p "$corpus" "$scratch/artifacts"
# Seeds: real dumps recorded by libheapwise.so, and every case that ever failed.
cp tools/fuzz/seeds/* Tests/FuzzCases/* "$corpus/"
# -close_fd_mask=3: the commands' reports and messages go nowhere (libFuzzer keeps its own).
# -rss_limit_mb: a backstop; the harness itself
# enforces the per-input bound (FuzzEntry.swift, checkMemory).
# Symbolizing the recorded modules is part of every command, but it reads this machine's libc
# and its debug files, not the dump, and took 98% of an execution: as root, the harness changes
# its root to an empty directory once loaded (FuzzEntry.swift), so module paths name no file.
# The empty root is on a tmpfs (/dev/shm): the harness writes each input there, and rewriting a
# file on ext4 made the kernel flush it at every close.
empty=/dev/shm/heapwise-fuzz-root-$$
mkdir -p "$empty"
trap 'rm -rf "$empty"' EXIT
if [ "$(id -u)" = 0 ]; then export HEAPWISE_FUZZ_CHROOT="$empty"; fi
# Swift's backtracer installs its SIGILL/SIGTRAP handlers before libFuzzer starts, and libFuzzer
# then leaves them alone: a trap (an overflow, a fatalError) killed the process with no artifact.
export SWIFT_BACKTRACE=enable=no
# JOBS=N: N processes (libFuzzer -jobs/-workers) sharing the corpus, RUNS/N executions each;
# each writes .build-fuzz/fuzz-K.log. NICE (default 19): the machine may be shared.
jobs=${JOBS:-1}
if [ "$jobs" -gt 1 ]; then
  set -- -jobs="$jobs" -workers="$jobs" "$@"
  runs=$(( runs / jobs ))
fi
start=$(date +%s)
set +e
# -timeout is wall-clock time: 60 s, because a process at nice 19 on a loaded machine can wait
# seconds for a core (the slowest input of a run is in its final stats).
(cd "$scratch" && nice -n "${NICE:-19}" "$fuzzer" corpus -runs="$runs" -max_len="${MAX_LEN:-8192}" -timeout=60 \
  -rss_limit_mb=2048 -close_fd_mask=3 -artifact_prefix=artifacts/ -print_final_stats=1 "$@")
status=$?
set -e
echo "fuzz: exit $status after $(( $(date +%s) - start )) s" >&2
if [ "$status" -ne 0 ]; then
  echo "fuzz: a failing input is in $scratch/artifacts/; copy it to Tests/FuzzCases/ (swift test replays it)" >&2
fi
exit "$status"
