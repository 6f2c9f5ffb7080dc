#!/usr/bin/env bash
# engine.sh -- the engine benchmark of issue 2: pelmap vs LAMMPS (serial
# eam/fs and eam/fs/opt) side by side in one run, on the bundled 2,000-atom
# Cu50Zr50 glass and a 20,000-atom glass (the bundled one replicated 5x2x1).
#   force  evaluations per second with a fixed neighbour list
#   nve    velocity-Verlet MD from 600 K (2 fs)
#   min    CG minimisation of a randomly displaced glass to max|F| < 1e-6 eV/A
# Times are CPU seconds (LAMMPS: loop wall time x its reported CPU use), the
# best of REPS runs, so other load on the machine disturbs them less.
# Usage: bench/engine.sh [BUILD_DIR]   (REPS=3 by default)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
bench=$build/bench/bench_engine
pot=/usr/share/lammps/potentials/CuZr_mm.eam.fs
sample=$top/common/data/cu50zr50-2000.data
reps=${REPS:-3}
lmp=${LMP:-lmp}
work=$(mktemp -d /tmp/pelmap-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
[ -x "$bench" ] || { echo "build first: $bench missing" >&2; exit 1; }

# LAMMPS makes the 20k sample and the displaced starting points for minimisation.
cat > "$work/prep.in" <<IN
units metal
atom_style atomic
read_data $sample
write_data $work/s2k.data
displace_atoms all random 0.05 0.05 0.05 4711 units box
write_data $work/s2k-disp.data
clear
units metal
atom_style atomic
read_data $sample
replicate 5 2 1
write_data $work/s20k.data
displace_atoms all random 0.05 0.05 0.05 4711 units box
write_data $work/s20k-disp.data
IN
(cd "$work" && $lmp -in prep.in -screen none -log prep.log)

# lmp_run NAME DATA SUFFIX(opt|-) MODE STEPS -> prints "cpu_s pair_cpu_s force_calls energy"
lmp_run() {
  local data=$2 sfx=$3 mode=$4 steps=$5 in="$work/$1.in"
  {
    echo "units metal"; echo "atom_style atomic"; echo "atom_modify map array"
    echo "read_data $data"
    echo "pair_style eam/fs"; echo "pair_coeff * * $pot Cu Zr"
    echo "neighbor 1.0 bin"; echo "neigh_modify every 1 delay 0 check yes"
    echo "thermo 100000"
    if [ "$mode" = min ]; then
      echo "min_style cg"; echo "min_modify norm max"
      echo "minimize 0 1e-6 100000 1000000"
      echo 'print "EFINAL $(pe:%.10f)"'
    else
      echo "velocity all create 600 12345 mom yes rot no"
      echo "timestep 0.002"; echo "fix 1 all nve"; echo "run $steps"
    fi
  } > "$in"
  local args=(-in "$in" -screen none -log "$work/$1.log")
  [ "$sfx" = opt ] && args=(-sf opt "${args[@]}")
  (cd "$work" && OMP_NUM_THREADS=1 $lmp "${args[@]}")
  awk -v mode="$mode" '
    /^Loop time of/ {loop=$4}
    /% CPU use/ {cpu=$1+0}
    /^Pair  *\|/ {pair=$3}
    /Iterations, force evaluations/ {fe=$NF}
    /^EFINAL/ {ef=$2}
    END {c=(cpu>0?cpu:100)/100; printf "%.4f %.4f %s %s\n", loop*c, pair*c, (fe==""?0:fe), (ef==""?"nan":ef)}' "$work/$1.log"
}

best() { sort -g | head -1; }

printf '%-5s %-6s %7s  %14s %14s %14s  %9s %9s\n' sample mode atoms pelmap lammps lammps-opt vs-lmp vs-opt
for size in 2k 20k; do
  data=$work/s$size.data
  natoms=$(awk '/ atoms$/ {print $1; exit}' "$data")
  if [ "$size" = 2k ]; then fsteps=500; msteps=1000; else fsteps=50; msteps=100; fi
  # force evaluations (LAMMPS: the Pair part of an NVE run)
  p=(); l=(); o=()
  for r in $(seq "$reps"); do
    p+=("$("$bench" "$data" "$pot" force "$fsteps" | sed -n 's/.*"cpu_s":\([0-9.e+-]*\).*/\1/p')")
    l+=("$(lmp_run f$size$r "$data" - nve "$fsteps" | awk '{print $2}')")
    o+=("$(lmp_run fo$size$r "$data" opt nve "$fsteps" | awk '{print $2}')")
  done
  pb=$(printf '%s\n' "${p[@]}" | best); lb=$(printf '%s\n' "${l[@]}" | best); ob=$(printf '%s\n' "${o[@]}" | best)
  awk -v n="$natoms" -v s="$fsteps" -v p="$pb" -v l="$lb" -v o="$ob" -v sz="$size" 'BEGIN {
    printf "%-5s %-6s %7d  %10.3g a/s %10.3g a/s %10.3g a/s  %8.2fx %8.2fx\n", sz, "force", n, n*s/p, n*s/l, n*s/o, l/p, o/p }'
  # NVE MD
  p=(); l=(); o=(); rss=""
  for r in $(seq "$reps"); do
    out=$("$bench" "$data" "$pot" nve "$msteps")
    p+=("$(echo "$out" | sed -n 's/.*"cpu_s":\([0-9.e+-]*\).*/\1/p')")
    rss=$(echo "$out" | sed -n 's/.*"peak_rss_mb":\([0-9.]*\).*/\1/p')
    l+=("$(lmp_run m$size$r "$data" - nve "$msteps" | awk '{print $1}')")
    o+=("$(lmp_run mo$size$r "$data" opt nve "$msteps" | awk '{print $1}')")
  done
  pb=$(printf '%s\n' "${p[@]}" | best); lb=$(printf '%s\n' "${l[@]}" | best); ob=$(printf '%s\n' "${o[@]}" | best)
  awk -v n="$natoms" -v s="$msteps" -v p="$pb" -v l="$lb" -v o="$ob" -v sz="$size" 'BEGIN {
    printf "%-5s %-6s %7d  %10.3g a/s %10.3g a/s %10.3g a/s  %8.2fx %8.2fx\n", sz, "nve", n, n*s/p, n*s/l, n*s/o, l/p, o/p }'
  echo "      pelmap peak memory (NVE, $natoms atoms): ${rss} MB"
  # minimisation to 1e-6 eV/A (max component) from the displaced glass
  dd=$work/s$size-disp.data
  pm=$("$bench" "$dd" "$pot" min 0 1e-6)
  pcpu=$(echo "$pm" | sed -n 's/.*"cpu_s":\([0-9.e+-]*\).*/\1/p')
  pfc=$(echo "$pm" | sed -n 's/.*"steps":\([0-9]*\).*/\1/p')
  pe=$(echo "$pm" | sed -n 's/.*"e_final":\([0-9.e+-]*\).*/\1/p')
  read -r lcpu _ lfc le < <(lmp_run n$size "$dd" - min 0)
  read -r ocpu _ ofc oe < <(lmp_run no$size "$dd" opt min 0)
  awk -v n="$natoms" -v p="$pcpu" -v l="$lcpu" -v o="$ocpu" -v sz="$size" -v pf="$pfc" -v lf="$lfc" -v of="$ofc" \
      -v pe="$pe" -v le="$le" -v oe="$oe" 'BEGIN {
    printf "%-5s %-6s %7d  %10.3g s   %10.3g s   %10.3g s    %8.2fx %8.2fx\n", sz, "min", n, p, l, o, l/p, o/p
    printf "      force calls: pelmap %d, lammps %d, lammps-opt %d; E/atom: %.8f %.8f %.8f\n", pf, lf, of, pe/n, le/n, oe/n }'
done
