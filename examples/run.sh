#!/bin/sh
# Records each runnable example under heapwise and writes the summary it produces to
# examples/output/<name>.txt (the files committed there come from one run on the development
# machine; pids, times and small figures differ from run to run, the verdicts do not).
#
#   make lib && swift build && examples/run.sh
#   HEAPWISE=/usr/local/bin/heapwise examples/run.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
heapwise=${HEAPWISE:-$root/.build/debug/heapwise}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$here/output"

summarize() { # name, record options..., --, command...
  name=$1; shift
  "$heapwise" record -o "$work/$name.heapwise" "$@" >/dev/null 2>"$work/$name.err" ||
    { cat "$work/$name.err" >&2; exit 1; }
  "$heapwise" summary "$work/$name.heapwise" | sed "s|$work/||g" >"$here/output/$name.txt"
  echo "examples/output/$name.txt: $(grep '^verdict' "$here/output/$name.txt")"
}

for c in fragmentation growing_cache peak_then_free few_large_blocks thread_arenas; do
  cc -O1 -g -pthread -I"$root/CShim/include" -o "$work/$c" "$here/$c.c"
done
summarize fragmentation -- "$work/fragmentation"
summarize fragmentation-trim --trim-probe -- "$work/fragmentation"
summarize growing_cache -- "$work/growing_cache"
summarize peak_then_free -- "$work/peak_then_free"
summarize few_large_blocks -- "$work/few_large_blocks"
summarize thread_arenas -- "$work/thread_arenas"

# The real interpreter: a pyenv shim is a shell script, and the recorder does not follow exec.
python=$(python3 -c 'import sys; print(sys.executable)')
summarize python_snapshots -- "$python" "$here/python_snapshots.py"
export PYTHONMALLOC=malloc # through heapwise record's environment to the interpreter
summarize python_snapshots-malloc -- "$python" "$here/python_snapshots.py"
