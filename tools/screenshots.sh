#!/usr/bin/env bash
# Records examples under heapwise, writes their HTML reports and screenshots each view with
# headless chromium into docs/images/ (the pictures in README.md, docs/REPORTS.md).
#
#   make lib && swift build && tools/screenshots.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
heapwise=${HEAPWISE:-$root/.build/debug/heapwise}
images=$root/docs/images
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$images"
cd "$work"

cc -O1 -g -I"$root/CShim/include" -o growing_cache "$root/examples/growing_cache.c"
"$heapwise" record -o growing_cache.heapwise -- ./growing_cache >/dev/null 2>&1
"$heapwise" report growing_cache.heapwise -o growing_cache.html 2>/dev/null
py=$("$root/tools/python-env.sh" --interpreter 3.12)
PYTHONMALLOC=malloc "$heapwise" record -o snapshots.heapwise -- "$py" "$root/examples/python_snapshots.py" >/dev/null 2>&1
"$heapwise" report snapshots.heapwise -o snapshots.html 2>/dev/null

shot() { # name, window size, page and state
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
    --user-data-dir="$work/chromium-$1" --window-size="$2" --virtual-time-budget=5000 \
    --screenshot="$images/$1.png" "file://$work/$3" 2>/dev/null
  echo "docs/images/$1.png"
}
shot report-timeline 1280,800 "growing_cache.html"
shot report-flame 1280,800 "snapshots.html#view=peak&section=flame"
shot report-inverted-search 1280,800 "snapshots.html#view=peak&inverted=1&search=unicode&section=flame"
shot report-tables 1280,800 "snapshots.html#section=tables&table=peak"
shot report-dark 1280,800 "growing_cache.html#theme=dark"
shot report-narrow 420,900 "growing_cache.html#view=marker:batch3"

# pprof's own web UI on the export (go tool pprof -http; its flame graph needs no Graphviz).
"$heapwise" export snapshots.heapwise --format pprof --metric peak -o snapshots.pb.gz 2>/dev/null
HOME=$work go tool pprof -symbolize=none -http=127.0.0.1:8765 -no_browser snapshots.pb.gz >/dev/null 2>&1 &
pprof=$!
sleep 3
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run --user-data-dir="$work/chromium-pprof" \
  --window-size=1280,800 --virtual-time-budget=5000 --screenshot="$images/export-pprof.png" \
  http://127.0.0.1:8765/ui/flamegraph 2>/dev/null
kill "$pprof"
echo docs/images/export-pprof.png
