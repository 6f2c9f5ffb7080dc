#!/usr/bin/env bash
# desc.sh -- the descriptor benchmark of issue 4: pelmap (bench/desc_bench)
# vs LAMMPS side by side in one run, for what LAMMPS also computes, on the
# bundled 2,000-atom Cu50Zr50 glass and a 20,000-atom glass (the bundled one
# replicated 5x2x1 by LAMMPS, as bench/engine.sh):
#   rdf      g(r) to 12 A in 600 bins (LAMMPS: compute rdf 600 cutoff 12,
#            pair_style zero 12), per evaluation
#   voronoi  Voronoi cells (LAMMPS: compute voronoi/atom), per evaluation
#   nvt      the MD of the vibrational MSD: NVT 300 K, 2 fs, Nose-Hoover
#            0.1 ps (LAMMPS: fix nvt, eam/fs and eam/fs/opt), CPU s per ps
# and pelmap alone: s2 (four cutoffs), d2min (3.9 A), each stage's peak RSS.
# Times are CPU seconds (LAMMPS: loop time x its reported CPU use; pelmap:
# getrusage), the best of REPS runs.  LAMMPS' rdf and voronoi are averaged
# over K evaluations in one run, each with a neighbour-list rebuild
# (neigh_modify check no), as pelmap's build their own lists.
# Usage: bench/desc.sh [BUILD_DIR]   (REPS=1, THREADS=1 by default)
#
#        bench/desc.sh BUILD_DIR set   the WHOLE descriptor set (issue 4),
#   pelmap alone: for each size in SIZES ("2k 20k") and thread count in
#   THREADS_LIST ("1 2"), one desc_bench process runs every stage (rdf and
#   troughs, voronoi, s2 at four cutoffs, msd (short NVT run, MD_PS_2K=0.5 /
#   MD_PS_20K=0.2 ps), vflex, hessian, modes (MODES=auto), participation,
#   msd_harmonic, d2min) and prints CPU s, wall s and peak RSS per stage,
#   the msd projected to the paper's 100 ps, `uptime` before and after,
#   and a final line per size: the projected wall time of the whole set at
#   the paper's parameters with 1 and 2 threads, from CPU time:
#     1 thread:  sum of the stages' CPU s (msd x 100 ps / md_ps);
#     2 threads: unthreaded stages' CPU s + threaded stages' (msd, modes)
#                CPU s / MD_SCALING (default 1.81: 2-thread speed-up of the
#                20k MD measured on a quiet machine; wall times of a
#                loaded machine do not show it).
#   The CPU s of the threaded stages come from the largest thread count
#   run (OMP_WAIT_POLICY=passive: no busy-wait in the CPU time).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
bench=$build/bench/desc_bench
pot=/usr/share/lammps/potentials/CuZr_mm.eam.fs
sample=$top/common/data/cu50zr50-2000.data
reps=${REPS:-1}
threads=${THREADS:-1}
lmp=${LMP:-lmp}
work=$(mktemp -d /tmp/pelmap-desc.XXXXXX)
trap 'rm -rf "$work"' EXIT
[ -x "$bench" ] || { echo "build first: $bench missing" >&2; exit 1; }

cat > "$work/prep.in" <<IN
units metal
atom_style atomic
read_data $sample
write_data $work/s2k.data
clear
units metal
atom_style atomic
read_data $sample
replicate 5 2 1
write_data $work/s20k.data
IN
(cd "$work" && $lmp -in prep.in -screen none -log prep.log)

# lmp_time NAME INPUT_TEXT [opt] -> CPU seconds of the run loop
lmp_time() {
  local in="$work/$1.in"
  printf '%s\n' "$2" > "$in"
  local args=(-in "$in" -screen none -log "$work/$1.log")
  [ "${3:-}" = opt ] && args=(-sf opt "${args[@]}")
  (cd "$work" && OMP_NUM_THREADS=1 $lmp "${args[@]}")
  awk '/^Loop time of/ {loop=$4} /% CPU use/ {cpu=$1+0}
       END {c=(cpu>0?cpu:100)/100; printf "%.4f\n", loop*c}' "$work/$1.log"
}

head_in() {
  printf 'units metal\natom_style atomic\natom_modify map array\nread_data %s\n' "$1"
}

best() { sort -g | head -1; }
field() { sed -n "s/.*name=$1 .* $2=\([0-9.e+-]*\).*/\1/p"; }

if [ "${2:-}" = set ]; then
  sizes=${SIZES:-2k 20k}
  tlist=${THREADS_LIST:-1 2}
  scal=${MD_SCALING:-1.81}
  stages="rdf voronoi s2 msd vflex modes participation msd_harmonic d2min"
  printf '%-4s %-3s %-14s %10s %10s %9s  %s\n' size thr stage cpu_s wall_s rss_gb extra
  for size in $sizes; do
    data=$work/s$size.data
    if [ "$size" = 2k ]; then mdps=${MD_PS_2K:-0.5}; else mdps=${MD_PS_20K:-0.2}; fi
    declare -A cpu=()
    for t in $tlist; do
      echo "# $(date -u +%H:%M:%S) uptime before: $(uptime)"
      out=$(OMP_WAIT_POLICY=passive OPENBLAS_NUM_THREADS=$t nice "$bench" "$data" "$pot" \
        $stages "md_ps=$mdps" "threads=$t" "modes=${MODES:-auto}")
      echo "# $(date -u +%H:%M:%S) uptime after:  $(uptime)"
      while read -r line; do
        case "$line" in STAGE*) ;; *) continue ;; esac
        name=$(sed 's/.*name=\([^ ]*\).*/\1/' <<<"$line")
        c=$(sed 's/.*cpu_s=\([^ ]*\).*/\1/' <<<"$line")
        w=$(sed 's/.*wall_s=\([^ ]*\).*/\1/' <<<"$line")
        g=$(sed 's/.*peak_rss_gb=\([^ ]*\).*/\1/' <<<"$line")
        x=$(sed 's/.*peak_rss_gb=[^ ]* *//' <<<"$line")
        printf '%-4s %-3s %-14s %10.3f %10.3f %9.3f  %s\n' "$size" "$t" "$name" "$c" "$w" "$g" "$x"
        if [ "$name" = msd ]; then
          printf '%-4s %-3s %-14s %10.1f %10.1f %9s  %s\n' "$size" "$t" "msd@100ps" \
            "$(awk -v c="$c" -v p="$mdps" 'BEGIN{print c*100/p}')" \
            "$(awk -v c="$w" -v p="$mdps" 'BEGIN{print c*100/p}')" - "projected from $mdps ps"
          c=$(awk -v c="$c" -v p="$mdps" 'BEGIN{print c*100/p}')
        fi
        cpu[$t:$name]=$c
      done <<<"$out"
    done
    t1=${tlist%% *}; tn=${tlist##* }
    awk -v sz="$size" -v s="$scal" -v t1="$t1" -v tn="$tn" \
      -v u="${cpu[$t1:rdf]:-0} ${cpu[$t1:voronoi]:-0} ${cpu[$t1:s2]:-0} ${cpu[$t1:vflex]:-0} ${cpu[$t1:hessian]:-0} ${cpu[$t1:participation]:-0} ${cpu[$t1:msd_harmonic]:-0} ${cpu[$t1:d2min]:-0}" \
      -v t1c="${cpu[$t1:msd]:-0} ${cpu[$t1:modes]:-0}" \
      -v th="${cpu[$tn:msd]:-0} ${cpu[$tn:modes]:-0}" 'BEGIN {
        n = split(u, a, " "); su = 0; for (i = 1; i <= n; i++) su += a[i]
        n = split(t1c, c, " "); s1 = 0; for (i = 1; i <= n; i++) s1 += c[i]
        n = split(th, b, " "); st = 0; for (i = 1; i <= n; i++) st += b[i]
        printf "PROJECTION %s whole set at the paper parameters (100 ps MD): 1 thread %.0f s (%.2f h) [all CPU of the %s-thread run], 2 threads %.0f s (%.2f h) [unthreaded %.0f s CPU + threaded %.0f s CPU of the %s-thread run / %.2f]\n",
          sz, su + s1, (su + s1) / 3600, t1, su + st / s, (su + st / s) / 3600, su, st, tn, s }'
    done
  exit 0
fi

printf '%-5s %-8s %7s  %12s %12s %12s  %8s %8s  %s\n' size stage atoms pelmap lammps lammps-opt \
  vs-lmp vs-opt "pelmap peak RSS"
for size in 2k 20k; do
  data=$work/s$size.data
  natoms=$(awk '/ atoms$/ {print $1; exit}' "$data")
  if [ "$size" = 2k ]; then k=20; mdps=${MD_PS_2K:-1}; else k=4; mdps=${MD_PS_20K:-0.5}; fi
  steps=$(awk -v p="$mdps" 'BEGIN {printf "%d", p / 0.002 + 0.5}')
  p=(); rdfl=(); vorl=(); nvtl=(); nvto=(); out=""
  for r in $(seq "$reps"); do
    out=$(nice "$bench" "$data" "$pot" rdf voronoi s2 msd d2min "md_ps=$mdps" "threads=$threads")
    p+=("$out")
    rdfl+=("$(lmp_time rdf$size$r "$(head_in "$data")
pair_style zero 12.0
pair_coeff * *
neigh_modify every 1 delay 0 check no
compute r all rdf 600 cutoff 12.0
fix a all ave/time 1 $k $k c_r[*] mode vector file rdf.out
run $k")")
    vorl+=("$(lmp_time vor$size$r "$(head_in "$data")
pair_style zero 6.0
pair_coeff * *
neigh_modify every 1 delay 0 check no
compute v all voronoi/atom
fix a all ave/atom 1 $k $k c_v[1]
run $k")")
    nvt_in="$(head_in "$data")
pair_style eam/fs
pair_coeff * * $pot Cu Zr
neighbor 1.0 bin
neigh_modify every 1 delay 0 check yes
thermo 100000
velocity all create 300 12345 mom yes rot no
timestep 0.002
fix 1 all nvt temp 300 300 0.1
run $steps"
    nvtl+=("$(lmp_time nvt$size$r "$nvt_in")")
    nvto+=("$(lmp_time nvto$size$r "$nvt_in" opt)")
  done
  pb() { for o in "${p[@]}"; do echo "$o" | field "$1" cpu_s; done | best; }
  rss() { for o in "${p[@]}"; do echo "$o" | field "$1" peak_rss_gb; done | best; }
  lr=$(printf '%s\n' "${rdfl[@]}" | best); lv=$(printf '%s\n' "${vorl[@]}" | best)
  ln=$(printf '%s\n' "${nvtl[@]}" | best); lo=$(printf '%s\n' "${nvto[@]}" | best)
  awk -v sz="$size" -v n="$natoms" -v p="$(pb rdf)" -v l="$lr" -v k="$k" -v m="$(rss rdf)" 'BEGIN {
    printf "%-5s %-8s %7d  %10.3g s %10.3g s %12s  %7.2fx %8s  %.3f GB\n", sz, "rdf", n, p, l/k, "-", l/k/p, "-", m }'
  awk -v sz="$size" -v n="$natoms" -v p="$(pb voronoi)" -v l="$lv" -v k="$k" -v m="$(rss voronoi)" 'BEGIN {
    printf "%-5s %-8s %7d  %10.3g s %10.3g s %12s  %7.2fx %8s  %.3f GB\n", sz, "voronoi", n, p, l/k, "-", l/k/p, "-", m }'
  awk -v sz="$size" -v n="$natoms" -v p="$(pb msd)" -v l="$ln" -v o="$lo" -v ps="$mdps" -v m="$(rss msd)" 'BEGIN {
    printf "%-5s %-8s %7d  %8.3g s/ps %8.3g s/ps %8.3g s/ps  %7.2fx %7.2fx  %.3f GB\n", sz, "nvt", n, p/ps, l/ps, o/ps, l/p, o/p, m }'
  awk -v sz="$size" -v n="$natoms" -v p="$(pb s2)" -v m="$(rss s2)" 'BEGIN {
    printf "%-5s %-8s %7d  %10.3g s %12s %12s  %8s %8s  %.3f GB\n", sz, "s2", n, p, "-", "-", "-", "-", m }'
  awk -v sz="$size" -v n="$natoms" -v p="$(pb d2min)" -v m="$(rss d2min)" 'BEGIN {
    printf "%-5s %-8s %7d  %10.3g s %12s %12s  %8s %8s  %.3f GB\n", sz, "d2min", n, p, "-", "-", "-", "-", m }'
  if [ "${VERBOSE:-0}" = 1 ]; then printf '%s\n' "${p[@]}" | sed 's/^/      /'; fi
done
