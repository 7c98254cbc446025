#!/usr/bin/env bash
# All benchmarks, in one run; results go into docs/BENCHMARKS.md by hand, with this command.
set -euo pipefail
cd "$(dirname "$0")/../.."
tools/bench/overhead.py "$@"
