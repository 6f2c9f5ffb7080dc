#!/usr/bin/env bash
# native_same.sh PORTABLE_BUILD NATIVE_BUILD -- the engine tuned for this CPU
# (configure --enable-native) must give the portable build's numbers bit for
# bit (docs/engine.md: -ffp-contract=off, no fast-math), so that the chunks
# of one sweep may run on different hosts.  Runs the same minimisation and
# ARTn sweeps (local mode and whole system) with both builds' pelmap and
# compares every result field except the timings.  Prints TAP-like lines
# and ends with "N passed, N failed"; exit 1 if any differs.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
a=$(cd "${1:?usage: native_same.sh PORTABLE_BUILD NATIVE_BUILD}" && pwd)
b=$(cd "${2:?usage: native_same.sh PORTABLE_BUILD NATIVE_BUILD}" && pwd)
pot=/usr/share/lammps/potentials/CuZr_mm.eam.fs
glass=$top/tests/cli/test_artn_glass250.data
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
check() { # NAME ARGS... (pelmap arguments)
  local name=$1
  shift
  if ! "$a/pelmap" "$@" > "$tmp/a.json" 2> "$tmp/a.err" || ! "$b/pelmap" "$@" > "$tmp/b.json" 2> "$tmp/b.err"; then
    echo "not ok - $name: pelmap failed ($(tail -n 1 "$tmp/a.err" "$tmp/b.err" | tr '\n' ' '))"
    fail=$((fail + 1))
    return
  fi
  if python3 - "$tmp/a.json" "$tmp/b.json" "$name" <<'PY'; then
import json, sys
TIMING = {"cpu_seconds", "chunk_wall_seconds", "wall_seconds", "events_per_core_hour", "seconds",
          "wall_s", "cpu_s", "program"}
def strip(o):
    if isinstance(o, dict):
        return {k: strip(v) for k, v in o.items() if k not in TIMING and not k.endswith("_seconds")}
    if isinstance(o, list):
        return [strip(v) for v in o]
    return o
x, y = (strip(json.load(open(p))) for p in sys.argv[1:3])
if x != y:
    def first(p, u, v):
        if isinstance(u, dict) and isinstance(v, dict):
            for k in sorted(set(u) | set(v)):
                if u.get(k) != v.get(k):
                    return first(p + "." + k, u.get(k), v.get(k))
        if isinstance(u, list) and isinstance(v, list) and len(u) == len(v):
            for i, (s, t) in enumerate(zip(u, v)):
                if s != t:
                    return first("%s[%d]" % (p, i), s, t)
        return "%s: %r vs %r" % (p, u, v)
    print("# %s: first difference %s" % (sys.argv[3], first("", x, y)))
    sys.exit(1)
PY
    echo "ok - $name: the same numbers bit for bit"
    pass=$((pass + 1))
  else
    echo "not ok - $name: the builds differ"
    fail=$((fail + 1))
  fi
}
check "minimize (CG to 1e-6 eV/A)" minimize "$glass" --potential "$pot" --ftol 1e-6 --summary
check "artn, local mode (6 atoms x 2 events)" artn "$glass" --potential "$pot" --atoms ids:1-6 \
  --events-per-atom 2 --seed 5 --local true --local-radius 6
check "artn, whole system (2 atoms x 1 event)" artn "$glass" --potential "$pot" --atoms ids:7-8 \
  --events-per-atom 1 --seed 9
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
