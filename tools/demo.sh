#!/usr/bin/env bash
# The main job, end to end: record a bundled example under the real preload library, then ask the
# analyzer the questions a user would. Run through `make demo`, which builds everything first.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=$(swift build --show-bin-path)/heapwise
out=build/demo
mkdir -p "$out"
rm -f "$out"/*.heapwise

cc -g -O1 -I CShim/include -o "$out/growing_cache" examples/growing_cache.c

echo "== heapwise record -- examples/growing_cache"
"$bin" record -o "$out/growing_cache.heapwise" -- "$out/growing_cache"

echo
echo "== heapwise top --by lineno --limit 5     (live bytes at exit, by source line)"
"$bin" top "$out/growing_cache.heapwise" --by lineno --limit 5

echo
echo "== heapwise summary                        (leak or retention?)"
"$bin" summary "$out/growing_cache.heapwise"
