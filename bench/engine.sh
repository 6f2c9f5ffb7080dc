#!/usr/bin/env bash
# engine.sh -- the engine benchmark of issue 2: pelmap vs LAMMPS (serial
# eam/fs and eam/fs/opt) side by side in one run, on the bundled 2,000-atom
# Cu50Zr50 glass and a 20,000-atom glass (the bundled one replicated 5x2x1).
#   force  evaluations per second with a fixed neighbour list
#   nve    velocity-Verlet MD from 600 K (2 fs)
#   min    CG minimisation of a randomly displaced glass to max|F| < 1e-5 and
#          < 1e-6 eV/A (max component), separate runs from the same start;
#          LAMMPS may stop short of 1e-6 ("linesearch alpha is zero"): the
#          final fmax and energy per atom of each are printed
#   threads pelmap with 2 threads vs 1 (force, NVE), wall-clock, and LAMMPS
#          eam/fs/opt with 2 MPI ranks (Debian's lmp has no OPENMP package)
# Times are CPU seconds (LAMMPS: loop wall time x its reported CPU use), the
# best of REPS runs, so other load on the machine disturbs them less; the
# thread rows are wall-clock seconds (best of REPS) and need a quiet machine.
# Usage: bench/engine.sh [BUILD_DIR]   (REPS=3 by default; THREADS=0 skips
# the thread rows)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
bench=$build/bench/bench_engine
pot=/usr/share/lammps/potentials/CuZr_mm.eam.fs
sample=$top/common/data/cu50zr50-2000.data
reps=${REPS:-3}
lmp=${LMP:-lmp}
threads=${THREADS:-1}
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

# lmp_run NAME DATA SUFFIX(opt|-) MODE STEPS [FTOL] [NP]
#   -> prints "cpu_s pair_cpu_s force_calls energy loop_wall_s fmax pair_max_wall_s"
lmp_run() {
  local data=$2 sfx=$3 mode=$4 steps=$5 ftol=${6:-1e-6} np=${7:-1} in="$work/$1.in"
  {
    echo "units metal"; echo "atom_style atomic"; echo "atom_modify map array"
    echo "read_data $data"
    echo "pair_style eam/fs"; echo "pair_coeff * * $pot Cu Zr"
    echo "neighbor 1.0 bin"; echo "neigh_modify every 1 delay 0 check yes"
    echo "thermo 100000"
    if [ "$mode" = min ]; then
      echo "min_style cg"; echo "min_modify norm max"
      echo "minimize 0 $ftol 100000 1000000"
      echo 'print "EFINAL $(pe:%.10f)"'
    else
      echo "velocity all create 600 12345 mom yes rot no"
      echo "timestep 0.002"; echo "fix 1 all nve"; echo "run $steps"
    fi
  } > "$in"
  local args=(-in "$in" -screen none -log "$work/$1.log")
  [ "$sfx" = opt ] && args=(-sf opt "${args[@]}")
  if [ "$np" -gt 1 ]; then
    (cd "$work" && OMP_NUM_THREADS=1 mpirun --allow-run-as-root --oversubscribe -np "$np" $lmp "${args[@]}" >/dev/null 2>&1)
  else
    (cd "$work" && OMP_NUM_THREADS=1 $lmp "${args[@]}")
  fi
  awk -v mode="$mode" '
    /^Loop time of/ {loop=$4}
    /% CPU use/ {cpu=$1+0}
    /^Pair  *\|/ {pair=$3; pairmax=$7}
    /Iterations, force evaluations/ {fe=$NF}
    /Force max component initial, final/ {fm=$NF}
    /^EFINAL/ {ef=$2}
    END {c=(cpu>0?cpu:100)/100; printf "%.4f %.4f %s %s %.4f %s %s\n", loop*c, pair*c, (fe==""?0:fe), (ef==""?"nan":ef), loop, (fm==""?"nan":fm), pairmax}' "$work/$1.log"
}

best() { sort -g | head -1; }

echo "# $(date -u +%FT%TZ) $(uptime | sed 's/.*load/load/')"
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
  # minimisation from the displaced glass to two tolerances (max component)
  dd=$work/s$size-disp.data
  for tol in 1e-5 1e-6; do
    pm=$("$bench" "$dd" "$pot" min 0 "$tol")
    pcpu=$(echo "$pm" | sed -n 's/.*"cpu_s":\([0-9.e+-]*\).*/\1/p')
    pfc=$(echo "$pm" | sed -n 's/.*"steps":\([0-9]*\).*/\1/p')
    pit=$(echo "$pm" | sed -n 's/.*"iterations":\([0-9]*\).*/\1/p')
    pe=$(echo "$pm" | sed -n 's/.*"e_final":\([0-9.e+-]*\).*/\1/p')
    pf=$(echo "$pm" | sed -n 's/.*"fmax":\([0-9.e+-]*\).*/\1/p')
    read -r lcpu _ lfc le _ lf < <(lmp_run n$size$tol "$dd" - min 0 "$tol")
    read -r ocpu _ ofc oe _ of < <(lmp_run no$size$tol "$dd" opt min 0 "$tol")
    awk -v n="$natoms" -v p="$pcpu" -v l="$lcpu" -v o="$ocpu" -v sz="$size" -v pfc="$pfc" -v lfc="$lfc" -v ofc="$ofc" \
        -v pe="$pe" -v le="$le" -v oe="$oe" -v pf="$pf" -v lf="$lf" -v of="$of" -v tol="$tol" -v pit="$pit" 'BEGIN {
      d = pe/n - oe/n; if (d < 0) d = -d
      printf "%-5s %-6s %7d  %10.3g s   %10.3g s   %10.3g s    %8.2fx %8.2fx\n", sz, "min" tol, n, p, l, o, l/p, o/p
      printf "      force calls: pelmap %d (%d iterations), lammps %d, lammps-opt %d; final fmax: %.3g %.3g %.3g eV/A\n", pfc, pit, lfc, ofc, pf, lf, of
      printf "      E/atom: %.9f %.9f %.9f; |pelmap - lammps-opt| = %.1e eV/atom (%s 1e-6)\n", pe/n, le/n, oe/n, d, d <= 1e-6 ? "within" : "NOT within" }'
  done
  # threads: wall-clock, best of REPS; pelmap 1 vs 2 threads, LAMMPS opt 1 vs 2 MPI ranks
  if [ "$threads" != 0 ]; then
    for mode in force nve; do
      # LAMMPS: force = the Pair wall time of the slowest rank, nve = the loop wall time
      if [ $mode = force ]; then st=$fsteps; col=7; else st=$msteps; col=5; fi
      p1=(); p2=(); o1=(); o2=()
      for r in $(seq "$reps"); do
        p1+=("$("$bench" "$data" "$pot" "$mode" "$st" 1e-6 1 | sed -n 's/.*"wall_s":\([0-9.e+-]*\).*/\1/p')")
        p2+=("$("$bench" "$data" "$pot" "$mode" "$st" 1e-6 2 | sed -n 's/.*"wall_s":\([0-9.e+-]*\).*/\1/p')")
        o1+=("$(lmp_run t1$mode$size$r "$data" opt nve "$st" 1e-6 1 | awk -v c=$col '{print $c}')")
        o2+=("$(lmp_run t2$mode$size$r "$data" opt nve "$st" 1e-6 2 | awk -v c=$col '{print $c}')")
      done
      a=$(printf '%s\n' "${p1[@]}" | best); b=$(printf '%s\n' "${p2[@]}" | best)
      c=$(printf '%s\n' "${o1[@]}" | best); d=$(printf '%s\n' "${o2[@]}" | best)
      awk -v n="$natoms" -v s="$st" -v a="$a" -v b="$b" -v c="$c" -v d="$d" -v sz="$size" -v m="$mode" 'BEGIN {
        printf "%-5s %-6s %7d  wall a/s: pelmap 1t %.3g, 2t %.3g (%.2fx); lammps-opt 1 rank %.3g, 2 ranks %.3g (%.2fx); pelmap-2t vs lammps-opt-2r %.2fx\n",
          sz, m "-2t", n, n*s/a, n*s/b, a/b, n*s/c, n*s/d, c/d, d/b }'
    done
  fi
done
echo "# done $(date -u +%FT%TZ) $(uptime | sed 's/.*load/load/')"
