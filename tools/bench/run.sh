#!/usr/bin/env bash
# All benchmarks, in one run: the recorder's overhead and the analyzer's speed, each next to
# heaptrack measured in the same run. Results go into docs/BENCHMARKS.md with this command.
set -euo pipefail
cd "$(dirname "$0")/../.."
tools/bench/overhead.py "$@"
echo
tools/bench/python.py --runs 3
echo
tools/bench/analysis.py --runs 9
