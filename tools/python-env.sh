#!/usr/bin/env bash
# Prints the path of a Python interpreter of the given minor version inside a cached virtual
# environment that has the given PyPI packages, creating the environment on first use.
#
#   tools/python-env.sh 3.12 numpy pandas pyarrow   -> /root/.cache/heapwise/venvs/3.12-1a2b3c4d/bin/python
#   tools/python-env.sh 3.11                        -> a venv with no extra packages
#   tools/python-env.sh --interpreter 3.13          -> the base interpreter itself (no venv)
#
# Tests that need pandas, pyarrow or a particular CPython call this instead of installing anything
# by hand. The interpreter comes from pyenv's versions (3.11, 3.12, 3.13 on these machines), or
# Debian's /usr/bin/pythonX.Y. The cache lives in $HEAPWISE_VENV_CACHE (default
# ~/.cache/heapwise/venvs) and is keyed by version and package list; a lock file keeps two test
# processes from building the same environment at once. Exit status 2 when the interpreter or a
# package cannot be had, with one line on stderr saying which.
set -euo pipefail

interpreter_only=0
if [[ ${1:-} == --interpreter ]]; then interpreter_only=1; shift; fi
version=${1:?usage: tools/python-env.sh [--interpreter] X.Y [package ...]}
shift
packages=("$@")

find_interpreter() {
  local v=$1 root=${PYENV_ROOT:-$HOME/.pyenv} candidate
  # The newest pyenv build of that minor version, then Debian's.
  for candidate in $(ls -d "$root"/versions/"$v".* 2>/dev/null | sort -V -r); do
    if [[ -x $candidate/bin/python$v ]]; then echo "$candidate/bin/python$v"; return 0; fi
  done
  if [[ -x /usr/bin/python$v ]]; then echo "/usr/bin/python$v"; return 0; fi
  return 1
}

base=$(find_interpreter "$version") || { echo "python-env: no CPython $version found (pyenv or /usr/bin)" >&2; exit 2; }
if ((interpreter_only)); then echo "$base"; exit 0; fi

cache=${HEAPWISE_VENV_CACHE:-$HOME/.cache/heapwise/venvs}
# A local directory as a requirement (`./python`) is keyed by its content too, so that an edited
# package gets a fresh venv instead of the copy pip installed last time.
local_content() {
  local p
  for p in "${packages[@]}"; do
    [[ -d $p ]] || continue
    (cd "$p" && find . -type f ! -path '*/__pycache__/*' ! -path '*.egg-info/*' ! -path './build/*' -print0 |
      sort -z | xargs -0 -r sha256sum)
  done
}
key=$(printf '%s\n' "$base" "${packages[@]}" "$(local_content)" | sha256sum | cut -c1-8)
venv=$cache/$version-$key
mkdir -p "$cache"

exec 9>"$venv.lock"
flock 9
if [[ ! -f $venv/.complete ]]; then
  rm -rf "$venv"
  # Debian's interpreter needs python3-venv for ensurepip; pyenv's has it built in.
  "$base" -m venv "$venv" >&2 || { echo "python-env: cannot create a venv with $base" >&2; exit 2; }
  if ((${#packages[@]})); then
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "${packages[@]}" >&2 ||
      { echo "python-env: pip could not install ${packages[*]} for $version" >&2; rm -rf "$venv"; exit 2; }
  fi
  touch "$venv/.complete"
fi
echo "$venv/bin/python"
