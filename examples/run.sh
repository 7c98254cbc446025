#!/bin/sh
# Records each runnable example under heapwise and writes the summary it produces to
# examples/output/<name>.txt (the files committed there come from one run of this script on the
# development machine, never edited by hand; pids, times and small figures differ from run to run,
# the verdicts do not). Paths of the checkout and of the cached venvs are shortened so that the
# files do not depend on where they were made.
#
#   make examples
#   make lib && swift build && examples/run.sh
#   HEAPWISE=/usr/local/bin/heapwise examples/run.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
heapwise=${HEAPWISE:-$root/.build/debug/heapwise}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$here/output"

shorten() { # the scratch directory, the checkout and the venv cache out of the paths
  sed -e "s|$work/||g" -e "s|$root/||g" -e "s|${HEAPWISE_VENV_CACHE:-$HOME/.cache/heapwise/venvs}/|~/.cache/heapwise/venvs/|g"
}

summarize() { # name, record options..., --, command...
  name=$1; shift
  "$heapwise" record -o "$work/$name.heapwise" "$@" >/dev/null 2>"$work/$name.err" ||
    { cat "$work/$name.err" >&2; exit 1; }
  "$heapwise" summary "$work/$name.heapwise" | shorten >"$here/output/$name.txt"
  echo "examples/output/$name.txt: $(grep '^verdict' "$here/output/$name.txt")"
}

at() { # name marker: the summary judged at one marker of an already recorded example
  "$heapwise" summary "$work/$1.heapwise" --at "$2" | shorten >"$here/output/$1-at-$2.txt"
  echo "examples/output/$1-at-$2.txt: $(grep '^verdict' "$here/output/$1-at-$2.txt")"
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

# The four pandas / pyarrow scripts, with pandas 3.1 and pyarrow 26 from the cached venv.
unset PYTHONMALLOC
if pandas_python=$("$root/tools/python-env.sh" 3.11 numpy pandas pyarrow); then
  for s in view arrow snapshots churn; do
    summarize "pandas_$s" -- "$pandas_python" "$here/pandas_$s.py"
  done
  at pandas_view df-deleted
  at pandas_view view-deleted
  at pandas_arrow dropped
  at pandas_arrow converted
fi
