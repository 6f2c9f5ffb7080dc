#!/usr/bin/env bash
# artn.sh -- the ARTn benchmark of issue 5 (docs/artn.md, "Measured"):
#   small    40 events on the 300-atom test glass (made and cached in the
#            build directory): success rate, force calls, first order by a
#            dense finite-difference Hessian, connectivity, dQ by species
#   attempt  the same 40 events with --restarts 0 (per-attempt rate)
#   glass2k  20 events on the bundled 2,000-atom glass
#   local    local mode on the bundled glass replicated 3x3x2 (36,000 atoms),
#            8 A moving sphere, saddle refined in the whole system:
#            |dQ_local - dQ_refined| per event (dq_local vs dq columns)
#   localr   the same events refined in a 12 A cluster (refine_radius;
#            REFINE_RADIUS=R changes it): compare its dq with local's
#   compare  whole-system and local (refined in the 12 A cluster) runs of
#            the same kicks: |dQ_local - dQ_full| and CPU per event
# Each set prints one TSV line per event and a JSON summary line; the files
# go to OUT (default ./artn-bench).  Times are CPU seconds per thread.
# Usage: bench/artn.sh BUILD_DIR [SET...]   (default: small attempt glass2k)
#        N_LOCAL=100 N_COMPARE=10 change the sizes of the local sets
#        (events on atoms k*N/n: n=25 is a subset of n=100).  Threads: one
#        OpenMP thread per event, --threads 2 events at a time.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:?usage: bench/artn.sh BUILD_DIR [SET...]}" && pwd)
shift
sets=("$@")
[ ${#sets[@]} -gt 0 ] || sets=(small attempt glass2k)
bench=$build/bench/artn_bench
sample=$top/common/data/cu50zr50-2000.data
out=${OUT:-$PWD/artn-bench}
[ -x "$bench" ] || { echo "build first: $bench missing" >&2; exit 1; }
mkdir -p "$out"
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive

run() { # NAME ARGS...
  local name=$1
  shift
  echo "== $name: artn_bench $*" >&2
  (cd "$build" && nice "$bench" "$@") > "$out/$name.tsv" 2> "$out/$name.log"
  tail -n 1 "$out/$name.tsv"
}

for s in "${sets[@]}"; do
  case $s in
    small)   run small --atoms 40 --hessian --check-connect ;;
    attempt) run attempt --atoms 40 --hessian --check-connect --restarts 0 ;;
    glass2k) run glass2k --data "$sample" --atoms 20 --check-connect ;;
    local)   run local --data "$sample" --replicate-xyz 3x3x2 --local 8 --atoms "${N_LOCAL:-100}" ;;
    localr)  run localr --data "$sample" --replicate-xyz 3x3x2 --local 8 \
               --refine-radius "${REFINE_RADIUS:-12}" --atoms "${N_LOCAL:-100}" ;;
    compare) run compare --data "$sample" --replicate-xyz 3x3x2 --local 8 --compare \
               --refine-radius "${REFINE_RADIUS:-12}" --atoms "${N_COMPARE:-10}" ;;
    *) echo "unknown set $s" >&2; exit 2 ;;
  esac
done
