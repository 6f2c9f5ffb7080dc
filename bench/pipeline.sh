#!/usr/bin/env bash
# pipeline.sh -- benchmark of the `pipeline` kind (issue 6) through the
# service on a ~20,000-atom glass: the bundled 2,000-atom Cu50Zr50 glass
# replicated 5x2x1 by LAMMPS (as bench/desc.sh), uploaded to a private
# pelmapd and run by pelmap-worker processes at REDUCED effort, with every
# stage measured and projected to the paper's full parameters (10 events
# per atom for all 19,652 atoms = 196,520 ARTn events, 100 ps of MD,
# 0.25 % of the modes).
#
#   bench/pipeline.sh BUILDDIR [OUTDIR]
#
# How it measures: WORKERS loops (default 2, one per core, as the demo) each
# run `pelmap-worker --db --max-jobs 1 --once` again and again under
# /usr/bin/time, so every job of the graph (minimize, descriptors, each
# artn_chunk, the artn gather, analysis, the pipeline's report) runs in a
# process of its own: its wall, CPU (user + system) and peak RSS are that
# process's.  Started/finished times come from the queue; the descriptors'
# sub-stages (rdf, voronoi, s2, msd, modes) from its progress messages in
# the queue (flushed with the heartbeats, <= 2 s) with the worker's CPU
# clock (/proc/PID/stat) read at each change, polled every second.
#
# Effort (environment; the paper's value in brackets):
#   ATOMS   ARTn atoms, default ids:1-4            [all 19,652]
#   EVENTS  events per atom, default 1             [10]
#   MSD_PS  vibrational-MSD MD time, default 2 ps  [100 ps]
#   MODES   true|false, default true               [true, 0.25 % of 3N]
#   LOCAL   ARTn local mode's moving radius in A (the pipeline's local +
#           local_radius), default empty = whole-system ARTn
#   REFINE_RADIUS  with LOCAL: refine in a cluster of this radius
#   REFINE_GROW    with REFINE_RADIUS: grow that cluster by this until the
#                  saddle is a whole-system one (refine_grow, docs/artn.md)
#           (default empty = the whole system, the artn kind's default)
#   MAX_CALLS  force-call budget per event (default empty = the artn kind's)
#   SEED (default 20261129), CHUNK (events per artn_chunk job, default 1),
#   WORKERS (default 2), LMP (default lmp), NICE (default 10), REPLICATE
#   (default "5 2 1"; "1 1 1" = the 2,000-atom glass, for a quick check).
# Output: the stage table (measured, rate, projected), the figure table,
# and in OUTDIR result.json, artn.json (the sweep's result: the event
# table), jobs.json, stages.json, table.txt.  Load
# (uptime) is printed before and after: the numbers are CPU seconds of a
# shared 2-core machine.
set -euo pipefail
build=$(cd "${1:?usage: bench/pipeline.sh BUILDDIR [OUTDIR]}" && pwd)
top=$(cd "$(dirname "$0")/.." && pwd)
out=${2:-$(mktemp -d /tmp/pelmap-pipe.XXXXXX)}
mkdir -p "$out/times"
out=$(cd "$out" && pwd)
atoms=${ATOMS:-ids:1-4}
events=${EVENTS:-1}
msd=${MSD_PS:-2}
modes=${MODES:-true}
seed=${SEED:-20261129}
chunk=${CHUNK:-1}
workers=${WORKERS:-2}
lmp=${LMP:-lmp}
nicev=${NICE:-10}
sample=$top/common/data/cu50zr50-2000.data
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
for x in "$build/server/pelmapd" "$build/pelmap-worker" /usr/bin/time; do
  [ -x "$x" ] || { echo "pipeline.sh: $x missing (build first)" >&2; exit 1; }
done
command -v "$lmp" >/dev/null || { echo "pipeline.sh: $lmp (LAMMPS) missing" >&2; exit 1; }

DPID=""
cleanup() {
  touch "$out/done"
  [ -n "$DPID" ] && kill "$DPID" 2>/dev/null
  wait 2>/dev/null || true
}
trap cleanup EXIT

src=$(sed -n 's/^abs_top_srcdir = //p' "$build/Makefile" 2>/dev/null || true)
src=${src:-$top}
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
  stamp="commit $(git -C "$src" rev-parse --short HEAD)$(git -C "$src" diff --quiet HEAD -- common server worker || echo ' + uncommitted changes in common/ server/ worker/')"
else
  stamp="sources $src ($(cat "$src/.commit" 2>/dev/null || echo 'not a git tree'))"
fi
echo "pipeline.sh: $(date -u +%FT%TZ) build $build, $stamp"
echo "pipeline.sh: load before: $(uptime)"
echo "pipeline.sh: output in $out"

# the ~20k glass: 5x2x1 replicas of the bundled one (LAMMPS, as bench/desc.sh)
cat > "$out/prep.in" <<IN
units metal
atom_style atomic
read_data $sample
replicate ${REPLICATE:-5 2 1}
write_data $out/glass20k.data
IN
(cd "$out" && "$lmp" -in prep.in -screen none -log prep.log)

rm -f "$out"/q.db* "$out/done" "$out/port" "$out"/times/*
tok=$("$build/server/pelmapd" user add bench --db "$out/q.db" 2>/dev/null)
"$build/server/pelmapd" --db "$out/q.db" --listen 127.0.0.1:0 --port-file "$out/port" --quiet \
  2>>"$out/pelmapd.log" &
DPID=$!
for _ in $(seq 100); do [ -s "$out/port" ] && break; sleep 0.1; done
U=http://127.0.0.1:$(cat "$out/port")
H="Authorization: Bearer $tok"
json() { "$PY" -c "import json,sys; j=json.load(sys.stdin); print($1)"; }
sid=$(curl -sf -H "$H" --data-binary @"$out/glass20k.data" \
  "$U/api/v1/structures?name=glass20k.data" | json 'j["id"]')
artn_opts=""
[ -n "${LOCAL:-}" ] && artn_opts="$artn_opts,\"local\":true,\"local_radius\":$LOCAL"
[ -n "${LOCAL:-}" ] && [ -n "${REFINE_RADIUS:-}" ] && artn_opts="$artn_opts,\"refine_radius\":$REFINE_RADIUS"
[ -n "${LOCAL:-}" ] && [ -n "${REFINE_GROW:-}" ] && artn_opts="$artn_opts,\"refine_grow\":$REFINE_GROW"
[ -n "${MAX_CALLS:-}" ] && artn_opts="$artn_opts,\"max_calls\":$MAX_CALLS"
params="{\"artn_atoms\":\"$atoms\",\"events_per_atom\":$events,\"msd_time\":$msd,\"modes\":$modes,\"chunk_events\":$chunk,\"seed\":$seed$artn_opts}"
echo "pipeline.sh: pipeline $params on structure $sid ($(grep -m1 atoms "$out/glass20k.data"))"
jid=$(curl -sf -H "$H" -H 'Content-Type: application/json' \
  -d "{\"kind\":\"pipeline\",\"structure\":$sid,\"params\":$params}" "$U/api/v1/jobs" | json 'j["id"]')
echo "$jid" > "$out/job"

# one job per worker process, each under /usr/bin/time
worker_loop() {
  local k=$1 i=0
  while [ ! -e "$out/done" ]; do
    i=$((i + 1))
    OMP_WAIT_POLICY=passive /usr/bin/time -f '%e %U %S %M' -o "$out/times/w$k-$i" \
      nice -n "$nicev" "$build/pelmap-worker" --db "$out/q.db" --name "w$k-$i" \
      --max-jobs 1 --once --poll 0.5 --threads 1 -q 2>>"$out/worker-$k.log" || true
    sleep 1
  done
}
for k in $(seq "$workers"); do worker_loop "$k" & done

# poll: progress line, descriptors' sub-stages with the worker's CPU clock
"$PY" - "$out" "$jid" <<'PY'
import os, sqlite3, sys, time, json
out, jid = sys.argv[1], int(sys.argv[2])
db = sqlite3.connect(os.path.join(out, "q.db"), timeout=30)
tck = os.sysconf("SC_CLK_TCK")
pids, trans, rss, t0, last = {}, {}, {}, time.time(), 0
def pid_of(name):
    if name in pids: return pids[name]
    for p in os.listdir("/proc"):
        if not p.isdigit(): continue
        try: cl = open("/proc/%s/cmdline" % p, "rb").read().split(b"\0")
        except OSError: continue
        # the worker itself (nice execs it), not /usr/bin/time around it
        if cl and cl[0].endswith(b"pelmap-worker") and name.encode() in cl:
            pids[name] = int(p); return int(p)
    return None
def cpu_rss(pid):
    try:
        st = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
        kb = [l for l in open("/proc/%d/status" % pid) if l.startswith("VmRSS")]
        return (int(st[11]) + int(st[12])) / tck, int(kb[0].split()[1]) if kb else 0
    except (OSError, IndexError, ValueError):
        return None, None
while True:
    try:
        rows = db.execute("SELECT id, kind, state, worker, message, progress FROM jobs").fetchall()
    except sqlite3.OperationalError:
        time.sleep(1); continue
    now = time.time()
    for i, kind, state, worker, msg, prog in rows:
        if state != "running" or not worker: continue
        pid = pid_of(worker)
        if pid is None: continue
        cpu, r = cpu_rss(pid)
        if cpu is None: continue
        rss[i] = max(rss.get(i, 0), r)
        stage = (msg or "").split(":")[0] if kind == "descriptors" else None
        tl = trans.setdefault(i, [])
        if stage and (not tl or tl[-1][0] != stage):
            tl.append([stage, now, cpu, now, cpu])  # stage, first seen, last seen
        elif tl:
            tl[-1][3:5] = [now, cpu]
    top = [r for r in rows if r[0] == jid][0]
    done = sum(1 for r in rows if r[2] == "succeeded")
    runs = ["%s %s" % (r[1], (r[4] or "")[:40]) for r in rows if r[2] == "running"]
    if now - last > 30 or top[2] in ("succeeded", "failed", "cancelled"):
        last = now
        print("pipeline.sh: %6.0f s  %d/%d jobs done  %s" % (now - t0, done, len(rows), "; ".join(runs)), flush=True)
    if top[2] in ("succeeded", "failed", "cancelled"): break
    time.sleep(1)
json.dump({"transitions": trans, "rss_sampled_kb": rss}, open(os.path.join(out, "poll.json"), "w"))
open(os.path.join(out, "done"), "w").close()
PY
wait_workers() { local j; for j in $(jobs -p); do [ "$j" = "$DPID" ] || wait "$j" 2>/dev/null || true; done; }
wait_workers
echo "pipeline.sh: load after: $(uptime)"
curl -sf -H "$H" "$U/api/v1/jobs/$jid" > "$out/parent.json"
curl -sf -H "$H" "$U/api/v1/jobs/$jid/result" > "$out/result.json" || true
aid=$(curl -sf -H "$H" "$U/api/v1/jobs/$jid/children" | json '[c["id"] for c in j if c["kind"] == "artn"][0]' || true)
[ -n "$aid" ] && { curl -sf -H "$H" "$U/api/v1/jobs/$aid/result" > "$out/artn.json" || true; }
"$PY" - "$out" <<'PY'
import json, os, sqlite3, sys
out = sys.argv[1]
db = sqlite3.connect(os.path.join(out, "q.db"), timeout=30)
jobs = [dict(zip(("id", "kind", "label", "parent", "state", "worker", "attempt", "started", "finished", "error", "params"), r))
        for r in db.execute("SELECT id, kind, label, parent_id, state, worker, attempt, started, finished, error, params FROM jobs ORDER BY id")]
json.dump(jobs, open(os.path.join(out, "jobs.json"), "w"), indent=1)
PY
"$PY" "$top/bench/pipeline_report.py" "$out" | tee "$out/table.txt"
