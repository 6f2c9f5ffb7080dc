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
#   attempts 256 single attempts (32 atoms x seeds 1..8, --restarts 0) on
#            the 300-atom glass, summed: success per attempt with about 2.8
#            points of standard error (session 5); ARTN_OPTS="..." adds
#            artn_bench options (e.g. "--eigen-threshold -0.1");
#            first_order_per_attempt counts the converged first-order
#            saddles, connected or not (the issue's success rate)
#   attempts2k  the same on the bundled 2,000-atom glass, 32 atoms x seeds
#            1..4 = 128 attempts, whole system (session 7; about 12 min
#            CPU)
#   grow     32 atoms of the bundled glass replicated 2x2x2 (16,000 atoms),
#            local mode r_m 8 A, refined once in the whole system and once
#            with --refine-radius 16 --refine-grow 4 (sessions 5-6;
#            REFINE_RADIUS=R changes the start): per-event whole-system
#            force at the saddle, CPU, and dQ of the pairs with the same
#            cluster saddle
#   growb    32 other atoms of the same replica (atoms 100 + 497 k,
#            session 8), grown refinement only: with grow's second run a
#            64-event sample (32 events vary by +-30 % in CPU: 0-3 of them
#            grow out to the whole system and take 25-40 s each)
#   tighten  the same 32 events grown from 16 A, and 32 whole-system events
#            on the bundled 2,000-atom glass, every converged saddle then
#            converged again in the whole system to TIGHTEN eV/A (default
#            0.005; eng_artn_refine): |dQ - dQ_tight| (session 6)
#   growtight  the first 16 atoms of grow's list, grown from 16 A with
#            --refine-force TIGHT_FORCE (default 0.005 eV/A): every reported
#            saddle a whole-system saddle to that force; most events grow out
#            of the 66 A cell, into the periodic whole system with the atoms
#            beyond the grown radius frozen (session 9)
#   growtight2 84 more events at TIGHT_FORCE (list A's last 16, growb's 32,
#            and atoms 200 + 443 k, k < 36), each run twice side by side:
#            --refine-frozen-max 0 (every atom free out of the cell) and the
#            default; pairs with the same cluster saddle give
#            |dQ_local - dQ_full| (session 9; about 50 min on 2 cores)
#   growpush grow's and growb's 64 events, with and without --push-radius 16
#            (the push-over in the 16 A cluster, the final state relaxed
#            again where the saddle was certified), four runs side by side;
#            also the push-offs before ok and failed attempts (session 10)
#   growremote  the same 64 events, both with --push-radius 16, without and
#            with --second-remote 8 (a second mode centred more than 8 A
#            from the event's ends the attempt; session 10)
#   growhot  the same 64 events, both with --push-radius 16 --second-remote
#            8, without and with --refine-grow-hot 0.5 (a refinement grows
#            only around the atoms whose whole-system force component is at
#            least half the target; session 12)
#   rec128   128 events (grow's and growb's 64, atoms 200 + 443 k and
#            50 + 499 k, k < 32) with the recommended --push-radius 16
#            --second-remote 8 --refine-grow-hot 0.5 (the last since
#            session 12; REC_OPTS="..." replaces these three), two runs at
#            a time; to compare two builds,
#            run it for both at once (session 11: `bench/artn.sh OLD rec128
#            & OUT=... bench/artn.sh NEW rec128`; about 6 min on 2 cores)
#   memo10   the paper's 10 events per atom: 16 atoms (grow's first 16) x
#            10 events with rec128's recommended options, without and with
#            --memo (session 15: an attempt whose cluster saddle an earlier
#            attempt around the same atom found takes that attempt's
#            outcome), each over two processes of 8 atoms, one variant after
#            the other; prints both projections and their ratio (about 7 min)
#   memo32   all 32 atoms of grow's list x 10 events with --memo and
#            rec128's options, two processes of 16 atoms (the projection
#            of sessions 15-16; about 5.5 min); to compare two builds, run
#            it for each, one after the other, with its own OUT
# SEEDS="1 2 ..." changes the seeds of attempts / attempts2k (session 9:
# attempts2k with SEEDS="5 6 7 8" doubles its sample to 256 attempts).
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
# 32 atoms of the 16,000-atom replica (sessions 5-6: grow, tighten)
list32=1,2126,4251,6376,8501,10626,12751,14876,37,2287,4537,6787,9037,11287,13537,15787
list32=$list32,73,3070,4067,7064,8061,11058,12055,15052,49,3046,4043,7040,8037,11034,12031,15028
# 32 more (session 8: growb)
list32b=$(python3 -c 'print(",".join(str(100 + 497 * k) for k in range(32)))')

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
    attempts|attempts2k)
      # attempts: 32 atoms x seeds 1..8 on the 300-atom glass; attempts2k:
      # 32 atoms x seeds 1..4 on the bundled 2,000-atom glass (session 7)
      if [ "$s" = attempts ]; then seeds=${SEEDS:-1 2 3 4 5 6 7 8}; extra=(); else seeds=${SEEDS:-1 2 3 4}; extra=(--data "$sample"); fi
      for seed in $seeds; do
        # shellcheck disable=SC2086
        run "${s}_$seed" "${extra[@]}" --atoms 32 --check-connect --restarts 0 --seed "$seed" ${ARTN_OPTS:-}
      done > "$out/$s.json"
      python3 - "$out/$s.json" "$s" $seeds <<'PY'
import json, os, sys
ok = att = 0; fails = {}; calls = {}; cpu = 0.0; search = []
for seed in sys.argv[3:]:
    # the successful search's calls without the first-order check (the
    # calls_search column, session 11), pooled over the seeds
    for row in open(os.path.join(os.path.dirname(sys.argv[1]), f"{sys.argv[2]}_{seed}.tsv")):
        f = row.rstrip("\n").split("\t")
        if not row.startswith(("#", "{")) and f[3] == "ok": search.append(int(f[20]))
search.sort()
for line in open(sys.argv[1]):
    j = json.loads(line)
    ok += j["converged"]; att += j["attempts"]; cpu += j["cpu_s"]
    for k, v in j["failed_attempts"].items(): fails[k] = fails.get(k, 0) + v
    for k, v in j["calls_per_event"].items(): calls[k] = calls.get(k, 0) + v * j["events"]
# converged first-order saddles, connected or not (the issue's success rate)
first = ok + fails.get("not_connected", 0) + fails.get("returned", 0)
print(json.dumps({"set": sys.argv[2], "ok": ok, "attempts": att, "success_per_attempt": round(ok / att, 3),
                  "first_order_per_attempt": round(first / att, 3),
                  "failed_attempts": {k: v for k, v in fails.items() if v},
                  "calls_per_attempt": {k: round(v / att) for k, v in calls.items()},
                  "calls_per_ok": round(calls["total"] / max(ok, 1)),
                  "calls_search_median": search[len(search) // 2] if search else None,
                  "calls_search_p90": search[int(0.9 * (len(search) - 1))] if search else None,
                  "cpu_s_per_ok": round(cpu / max(ok, 1), 1)}))
PY
      ;;
    grow)
      run grow_whole --data "$sample" --replicate-xyz 2x2x2 --local 8 --atom-list $list32 --threads 1
      run grow_grow --data "$sample" --replicate-xyz 2x2x2 --local 8 --atom-list $list32 --threads 1 \
        --refine-radius "${REFINE_RADIUS:-16}" --refine-grow 4
      python3 "$top/bench/artn_pairs.py" grow dq_grow_minus_whole "$out/grow_grow.log" "$out/grow_whole.log"
      ;;
    growb)
      run growb --data "$sample" --replicate-xyz 2x2x2 --local 8 --atom-list "$list32b" --threads 1 \
        --refine-radius "${REFINE_RADIUS:-16}" --refine-grow 4 ;;
    growtight)
      run growtight --data "$sample" --replicate-xyz 2x2x2 --local 8 --atom-list "${list32%%,73,*}" --threads 1 \
        --refine-radius 16 --refine-grow 4 --refine-force "${TIGHT_FORCE:-0.005}" ;;
    growtight2)
      listc=$(python3 -c 'print(",".join(str(200 + 443 * k) for k in range(36)))')
      for fm in 0 0.5; do
        run "growtight2_fm$fm" --data "$sample" --replicate-xyz 2x2x2 --local 8 --threads 1 \
          --atom-list "${list32#*,15787,},$list32b,$listc" --refine-radius 16 --refine-grow 4 \
          --refine-force "${TIGHT_FORCE:-0.005}" --refine-frozen-max $fm &
      done
      wait
      python3 "$top/bench/artn_pairs.py" growtight2 dq_local_minus_full "$out/growtight2_fm0.5.log" \
        "$out/growtight2_fm0.log"
      ;;
    growpush|growremote|growhot)
      # grow's and growb's 64 events, grown refinement, two variants, the
      # four runs side by side (session 10; about 5 min on 2 cores):
      # growpush: pushed over where certified / --push-radius 16;
      # growremote: both --push-radius 16, without / with --second-remote 8;
      # growhot: both --push-radius 16 --second-remote 8, without / with
      # --refine-grow-hot 0.5 (session 12)
      if [ "$s" = growpush ]; then va=(--push-radius 0); vb=(--push-radius 16)
      elif [ "$s" = growremote ]; then va=(--push-radius 16); vb=(--push-radius 16 --second-remote 8)
      else va=(--push-radius 16 --second-remote 8); vb=(--push-radius 16 --second-remote 8 --refine-grow-hot 0.5); fi
      for v in a b; do
        if [ $v = a ]; then opts=("${va[@]}"); else opts=("${vb[@]}"); fi
        run "${s}_a_$v" --data "$sample" --replicate-xyz 2x2x2 --local 8 --atom-list $list32 --threads 1 \
          --refine-radius 16 --refine-grow 4 "${opts[@]}" &
        run "${s}_b_$v" --data "$sample" --replicate-xyz 2x2x2 --local 8 --atom-list "$list32b" \
          --threads 1 --refine-radius 16 --refine-grow 4 "${opts[@]}" &
      done
      wait
      python3 - "$out" "$s" "${va[*]}" "${vb[*]}" <<'PY'
import json, statistics, sys
out, name = sys.argv[1], sys.argv[2]
rows = {}
for v, opts in (("a", sys.argv[3]), ("b", sys.argv[4])):
    cpu = ok = ev = pook = pofail = 0
    for lst in "ab":
        lines = open(f"{out}/{name}_{lst}_{v}.tsv").read().strip().split("\n")
        j = json.loads(lines[-1])
        cpu += j["cpu_s"]; ok += j["converged"]; ev += j["events"]
        pook += j["ok_after_pushoff"]; pofail += j["failed_after_pushoff"]
        for l in lines[:-1]:
            c = l.split("\t")
            if not l.startswith("#") and len(c) > 14:
                rows.setdefault((c[0], c[2]), {})[v] = (c[3], float(c[4]), float(c[14]))
    print(json.dumps({"set": name, "options": opts, "events": ev, "ok": ok, "cpu_s": round(cpu, 1),
                      "cpu_per_event": round(cpu / ev, 2), "projected_h_196520_events_2cores":
                      round(196520 * cpu / ev / 2 / 3600, 1), "ok_after_pushoff": pook,
                      "failed_after_pushoff": pofail}))
# the same event's saddle both ways: both ok from the same cluster saddle
d = sorted(r["b"][1] - r["a"][1] for r in rows.values() if "a" in r and "b" in r and
           r["a"][0] == r["b"][0] == "ok" and abs(r["a"][2] - r["b"][2]) < 1e-4)
if d:
    print(json.dumps({"set": name, "same_cluster_saddle_pairs": len(d),
                      "dq_b_minus_a_mean": round(statistics.mean(d), 4),
                      "median": round(statistics.median(d), 4), "min": round(d[0], 4), "max": round(d[-1], 4)}))
PY
      ;;
    rec128)
      listc=$(python3 -c 'print(",".join(str(200 + 443 * k) for k in range(32)))')
      listd=$(python3 -c 'print(",".join(str(50 + 499 * k) for k in range(32)))')
      # shellcheck disable=SC2206
      recopts=(${REC_OPTS---push-radius 16 --second-remote 8 --refine-grow-hot 0.5})
      rec=(--data "$sample" --replicate-xyz 2x2x2 --local 8 --threads 1 --refine-radius 16 --refine-grow 4
           "${recopts[@]}")
      run rec128_a "${rec[@]}" --atom-list $list32 &
      run rec128_b "${rec[@]}" --atom-list "$list32b" &
      wait
      run rec128_c "${rec[@]}" --atom-list "$listc" &
      run rec128_d "${rec[@]}" --atom-list "$listd" &
      wait
      python3 - "$out" <<'PY'
import json, sys
cpu = ok = ev = att = 0
for lst in "abcd":
    j = json.loads(open(f"{sys.argv[1]}/rec128_{lst}.tsv").read().strip().split("\n")[-1])
    cpu += j["cpu_s"]; ok += j["converged"]; ev += j["events"]; att += j["attempts"]
print(json.dumps({"set": "rec128", "events": ev, "ok": ok, "attempts": att, "cpu_s": round(cpu, 1),
                  "cpu_per_event": round(cpu / ev, 3),
                  "projected_h_196520_events_2cores": round(196520 * cpu / ev / 2 / 3600, 1)}))
PY
      ;;
    memo10)
      # shellcheck disable=SC2206
      recopts=(${REC_OPTS---push-radius 16 --second-remote 8 --refine-grow-hot 0.5})
      rec=(--data "$sample" --replicate-xyz 2x2x2 --local 8 --threads 1 --refine-radius 16 --refine-grow 4
           --events 10 "${recopts[@]}")
      la=$(echo "$list32" | cut -d, -f1-8)
      lb=$(echo "$list32" | cut -d, -f9-16)
      for v in plain memo; do
        extra=()
        [ "$v" = memo ] && extra=(--memo)
        run "memo10_${v}_a" "${rec[@]}" "${extra[@]}" --atom-list "$la" &
        run "memo10_${v}_b" "${rec[@]}" "${extra[@]}" --atom-list "$lb" &
        wait
      done
      python3 - "$out" <<'PY'
import json, sys
res = {}
for v in ("plain", "memo"):
    cpu = ok = ev = att = hits = 0
    for p in "ab":
        j = json.loads(open(f"{sys.argv[1]}/memo10_{v}_{p}.tsv").read().strip().split("\n")[-1])
        cpu += j["cpu_s"]; ok += j["converged"]; ev += j["events"]; att += j["attempts"]
        hits += j.get("memo_hits", 0)
    res[v] = {"events": ev, "ok": ok, "attempts": att, "memo_hits": hits, "cpu_s": round(cpu, 1),
              "cpu_per_event": round(cpu / ev, 3),
              "projected_h_196520_events_2cores": round(196520 * cpu / ev / 2 / 3600, 1)}
res["cpu_ratio_memo_plain"] = round(res["memo"]["cpu_s"] / res["plain"]["cpu_s"], 3)
print(json.dumps({"set": "memo10", **res}))
PY
      ;;
    memo32)
      # shellcheck disable=SC2206
      recopts=(${REC_OPTS---push-radius 16 --second-remote 8 --refine-grow-hot 0.5})
      rec=(--data "$sample" --replicate-xyz 2x2x2 --local 8 --threads 1 --refine-radius 16 --refine-grow 4
           --events 10 --memo "${recopts[@]}")
      run memo32_a "${rec[@]}" --atom-list "$(echo "$list32" | cut -d, -f1-16)" &
      run memo32_b "${rec[@]}" --atom-list "$(echo "$list32" | cut -d, -f17-32)" &
      wait
      python3 - "$out" <<'PY'
import json, sys
cpu = ok = ev = att = hits = 0
for p in "ab":
    j = json.loads(open(f"{sys.argv[1]}/memo32_{p}.tsv").read().strip().split("\n")[-1])
    cpu += j["cpu_s"]; ok += j["converged"]; ev += j["events"]; att += j["attempts"]
    hits += j.get("memo_hits", 0)
print(json.dumps({"set": "memo32", "events": ev, "ok": ok, "attempts": att, "memo_hits": hits,
                  "cpu_s": round(cpu, 1), "cpu_per_event": round(cpu / ev, 3),
                  "projected_h_196520_events_2cores": round(196520 * cpu / ev / 2 / 3600, 1)}))
PY
      ;;
    tighten)
      run tighten_grow --data "$sample" --replicate-xyz 2x2x2 --local 8 --atom-list $list32 --threads 1 \
        --refine-radius 16 --refine-grow 4 --tighten "${TIGHTEN:-0.005}"
      run tighten_2k --data "$sample" --atoms 32 --threads 1 --tighten "${TIGHTEN:-0.005}" ;;
    *) echo "unknown set $s" >&2; exit 2 ;;
  esac
done
