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
