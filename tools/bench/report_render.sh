#!/usr/bin/env bash
# The HTML report on a dump of 100000 distinct stacks (tools/bench/many_stacks.c): the time
# `heapwise report` takes, the page's size, and the time the page's script takes in headless
# chromium to draw everything (timeline, flame graph, tables; the page measures it itself,
# data-render-ms), over 5 loads.
#
#   make lib && swift build -c release && HEAPWISE=.build/release/heapwise tools/bench/report_render.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
heapwise=${HEAPWISE:-$root/.build/debug/heapwise}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
echo "# $(date -u '+%Y-%m-%d %H:%M'), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg), $heapwise"
cc -O0 -g -o many_stacks "$root/tools/bench/many_stacks.c"
"$heapwise" record -o many.heapwise -- ./many_stacks >/dev/null 2>&1
start=$(date +%s.%N)
"$heapwise" report many.heapwise -o many.html 2>/dev/null
end=$(date +%s.%N)
echo "stacks: $("$heapwise" export many.heapwise --format collapsed --metric count | wc -l)"
echo "heapwise report: $(echo "$end - $start" | bc) s; page: $(stat -c %s many.html) bytes"
for i in 1 2 3 4 5; do
  ms=$(chromium --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir="$work/c$i" \
    --virtual-time-budget=5000 --dump-dom "file://$work/many.html" 2>/dev/null |
    grep -o 'data-render-ms="[0-9.]*"' | grep -o '[0-9.]*')
  echo "load $i: page script ${ms} ms"
done
