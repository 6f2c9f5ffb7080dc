#!/usr/bin/env bash
# build.sh [DIR [configure options...]] -- configure and build pelmap out of tree
# in DIR (default build/).  Assumes scripts/deps.sh has run.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-build}
shift || true
cd "$top"
[ -x configure ] && [ configure -nt configure.ac ] || autoreconf -fi >/dev/null
mkdir -p "$dir"
cd "$dir"
if [ ! -f Makefile ] || [ "$top/configure" -nt Makefile ]; then
  "$top/configure" -q "$@"
fi
make -j"$(nproc)" >/dev/null
make -j"$(nproc)" >/dev/null check TESTS=
case $dir in /*) echo "build: $dir" ;; *) echo "build: $top/$dir" ;; esac
