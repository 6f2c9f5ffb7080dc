#!/bin/bash
# graph_http.sh -- TAP: job graphs through the service.  A real pelmapd on
# loopback (ephemeral port, temporary SQLite file) and real pelmap-worker
# processes, in --db and in --server mode:
#
#  1. a noop fan-out of N children (POST /jobs {"kind":"noop","params":
#     {"fanout":N}}) is created at once (parent + N children, ids in plan
#     order, "graph" summary), run by two --db and two --server workers
#     together; the parent's summary has ninputs == N and input_seconds ==
#     the sum of its children's seconds (the inputs reached it in full,
#     and again with the parent gathered by a --server worker, through the
#     streamed GET /jobs/{id}/inputs); children listing paged;
#     the same fan-out on the CLI (pelmap noop --fanout N) gives the same
#     summary keys and ninputs;
#  2. fail_child: the parent fails with "noop K/N (job ID, noop) failed: ..."
#     naming the child; a job submitted to run after the parent fails too;
#  3. kill -9 of a worker in the middle of a fan-out: its child is re-run
#     after the lease expires, the graph completes, the parent ran once;
#  4. cancel of the parent: queued and running children are cancelled, the
#     running one stops within seconds;
#  5. structure_from: a minimise -> energy chain (queued with jobq directly
#     by graph_qtool: no product plan makes one yet): the energy job runs on
#     the minimised positions, through --db and through --server workers;
#  6. GET /jobs/{id}/inputs is refused to a user token;
#  7. pelmapd exits cleanly (status 0, "stopped") on a SIGTERM that the
#     kernel hands to a thread other than the main one: a library thread
#     that does not block it (OpenBLAS starts its pool before main).  A
#     process-directed SIGTERM lands there whenever the main thread is
#     between two sigtimedwait calls; that is the rare unclean exit this
#     makes deterministic (tgkill to that thread).
set -u
. "${PELMAP_SRCDIR:-$(dirname "$0")/../..}/tests/service/lib.sh"
svc_init graph "${PELMAP_BUILDDIR:-.}/tests/service/graph_qtool"
G=$B/tests/service/graph_qtool
DATA=$SRC/tests/cli/cuzr_b2_250.data

# the sum of the "seconds" of the children of job $1 (from their results)
child_seconds() {
  "$PY" - "$T/db" "$1" <<'EOF'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=10)
rows = db.execute("SELECT r.json FROM results r JOIN jobs j ON j.id = r.job_id "
                  "WHERE j.parent_id = ? ORDER BY j.id", (int(sys.argv[2]),)).fetchall()
print(len(rows), repr(sum(json.loads(r[0])["summary"]["seconds"] for r in rows)))
EOF
}

svc_start

# ------------------------------------------------------------ 1. fan-out
NF=400
P=$(submit "{\"kind\":\"noop\",\"params\":{\"fanout\":$NF,\"seconds\":0.002}}")
[ -n "$P" ] && [ "$(jget "$T/body" 'j["graph"]["total"], j["graph"]["queued"], j["inputs"], j["state"]')" = "$NF $NF $NF queued" ]
ok $? "fan-out of $NF submitted: parent $P with a graph of $NF queued children"
api GET "/api/v1/jobs/$P/children?limit=2&offset=1" >"$T/st"
[ "$(cat "$T/st")" = 200 ] && [ "$(jget "$T/body" '[c["label"] for c in j], [c["parent"] for c in j], j[0]["id"] - '"$P")" = "['noop 2/$NF', 'noop 3/$NF'] [$P, $P] 2" ]
ok $? "children listing: paged, in plan order, ids after the parent's"
api GET "/api/v1/jobs?parent=none" >/dev/null
TOP=$(jget "$T/body" 'len(j), j[0]["id"]')
api GET "/api/v1/jobs?parent=$P&limit=1" >/dev/null
[ "$TOP" = "1 $P" ] && [ "$(jget "$T/body" 'j[0]["label"]')" = "noop $NF/$NF" ]
ok $? "GET /jobs?parent=none lists only the parent, ?parent=ID its children"
dbw db1 --once -q
dbw db2 --once -q
httpw h1 --once -q
httpw h2 --once -q
for p in $PIDS; do wait "$p"; done
PIDS=""
# --once workers may exit while the last children run: finish with one more
timeout 60 "$W" --db "$T/db" --once -q 2>>"$T/db3.log"
api GET "/api/v1/jobs/$P/result" >/dev/null
cp "$T/body" "$T/svc.json"
CS=$(child_seconds "$P")
[ "$(jget "$T/svc.json" 'j["summary"]["ninputs"]')" = "$NF" ] &&
  "$PY" -c "import json,sys; j=json.load(open(sys.argv[1])); n,s=sys.argv[2].split(); sys.exit(not (int(n)==$NF and abs(j['summary']['input_seconds']-float(s))<1e-9))" "$T/svc.json" "$CS"
ok $? "parent summary: ninputs = $NF and input_seconds = the sum of the children's seconds"
api GET "/api/v1/jobs/$P" >/dev/null
[ "$(jget "$T/body" 'j["state"], j["progress"], j["graph"]["succeeded"], j["graph"]["total"]')" = "succeeded 1.0 $NF $NF" ]
ok $? "parent succeeded, progress 1, graph all succeeded"
"$PY" - "$T/db" "$P" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=10)
w = db.execute("SELECT count(DISTINCT worker), sum(worker LIKE 'h%'), sum(worker LIKE 'db%') "
               "FROM jobs WHERE parent_id = ?", (int(sys.argv[2]),)).fetchone()
sys.exit(0 if w[0] >= 3 and w[1] > 0 and w[2] > 0 else 1)
EOF
ok $? "children were run by --db and --server workers alike"
"$C" noop --fanout "$NF" --seconds 0.002 >"$T/cli.json" 2>"$T/cli.err"
"$PY" - "$T/cli.json" "$T/svc.json" <<'EOF'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
same = sorted(a["summary"]) == sorted(b["summary"]) and a["summary"]["ninputs"] == b["summary"]["ninputs"]
same = same and a["params"] == b["params"] and a["kind"] == b["kind"]
sys.exit(0 if same else 1)
EOF
ok $? "CLI pelmap noop --fanout $NF: same params, summary keys and ninputs as the service"
TOK=$ALICE api GET "/api/v1/jobs/$P/inputs" >"$T/st"
[ "$(cat "$T/st")" = 403 ]
ok $? "GET /jobs/{id}/inputs with a user token -> 403"
TOK=$WK api GET "/api/v1/jobs/$P/inputs" >"$T/st"
[ "$(cat "$T/st")" = 200 ] && [ "$(jget "$T/body" 'len(j["inputs"]), j["structure_result"], j["inputs"][-1]["kind"]')" = "$NF None noop" ] &&
  [ "$(stat -c %s "$T/body")" -gt 65536 ]
ok $? "GET /jobs/{id}/inputs (worker): $NF results streamed ($(stat -c %s "$T/body") bytes)"

# the parent gathered by a --server worker (its inputs arrive streamed and
# are split while they arrive): children by one --db worker, then the parent
P1=$(submit "{\"kind\":\"noop\",\"params\":{\"fanout\":$NF}}")
timeout 120 "$W" --db "$T/db" --max-jobs "$NF" -q --name dbonly 2>>"$T/dbonly.log"
state_is "$P1" queued
ok $? "one --db worker ran the $NF children (--max-jobs $NF), the parent waits"
timeout 60 "$W" --server "$U" --token "$WK" --once --name hparent 2>>"$T/hparent.log"
api GET "/api/v1/jobs/$P1/result" >/dev/null
cp "$T/body" "$T/svc1.json"
CS=$(child_seconds "$P1")
[ "$(job_field "$P1" worker)" = hparent ] &&
  "$PY" -c "import json,sys; j=json.load(open(sys.argv[1])); n,s=sys.argv[2].split(); sys.exit(not (int(n)==$NF and j['summary']['ninputs']==$NF and abs(j['summary']['input_seconds']-float(s))<1e-9))" "$T/svc1.json" "$CS"
ok $? "a --server worker gathered all $NF inputs of the parent (input_seconds = the sum)"

# ------------------------------------------------------------ 2. a failing child
P2=$(submit '{"kind":"noop","params":{"fanout":4,"fail_child":2}}')
A2=$(submit "{\"kind\":\"noop\",\"run_after\":[$P2]}")
C3=$((P2 + 3))
timeout 60 "$W" --db "$T/db" --once -q 2>>"$T/fail.log"
api GET "/api/v1/jobs/$P2" >/dev/null
E2=$(jget "$T/body" 'j["state"] + ": " + j["error"]')
[ "$E2" = "failed: noop 3/4 (job $C3, noop) failed: noop: failing as asked (fail=true)" ]
ok $? "a child failing fails the parent naming it ($E2)"
api GET "/api/v1/jobs/$A2" >/dev/null
[ "$(jget "$T/body" 'j["state"] + ": " + j["error"]')" = "$E2" ]
ok $? "the job submitted after the parent failed with the same reason"

# ------------------------------------------------------------ 3. kill -9 mid fan-out
P3=$(submit '{"kind":"noop","params":{"fanout":6,"seconds":1}}')
"$W" --db "$T/db" --lease 2 --name victim -q 2>>"$T/victim.log" & # no timeout: kill -9 must hit the worker
VICTIM=$!
PIDS="$PIDS $VICTIM"
wait_for 10 state_is $((P3 + 2)) running
ok $? "victim worker runs a child"
{ kill -9 "$VICTIM"; wait "$VICTIM"; } 2>/dev/null
PIDS=""
httpw r1 --lease 2
dbw r2 --lease 2
wait_for 60 state_is "$P3" succeeded
ok $? "the fan-out completed after the kill"
stop_workers
api GET "/api/v1/jobs/$P3/result" >/dev/null
[ "$(jget "$T/body" 'j["summary"]["ninputs"]')" = 6 ]
ok $? "parent gathered all 6 children"
"$PY" - "$T/db" "$P3" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=10)
p = int(sys.argv[2])
re_run = db.execute("SELECT count(*) FROM jobs WHERE parent_id = ? AND attempt = 2 AND state = 'succeeded'", (p,)).fetchone()[0]
parent = db.execute("SELECT attempt FROM jobs WHERE id = ?", (p,)).fetchone()[0]
sys.exit(0 if re_run >= 1 and parent == 1 else 1)
EOF
ok $? "the killed worker's child was re-run (attempt 2), the parent ran once"

# ------------------------------------------------------------ 4. cancel the parent
P4=$(submit '{"kind":"noop","params":{"fanout":4,"seconds":30}}')
dbw cw --lease 3
wait_for 10 state_is $((P4 + 1)) running
ok $? "a child of the parent to cancel runs"
graph_running() { api GET "/api/v1/jobs/$P4" >/dev/null; [ "$(jget "$T/body" 'j["graph"]["running"], j["progress"] > 0, j["message"]')" = "1 True 0 of 4 jobs done, 1 running" ]; }
wait_for 5 graph_running
ok $? "parent progress while a child runs: graph.running 1, progress > 0, message"
T0=$(date +%s%N)
api POST "/api/v1/jobs/$P4/cancel" >"$T/st"
[ "$(cat "$T/st")" = 200 ]
ok $? "POST cancel of the parent -> 200"
api GET "/api/v1/jobs/$P4" >/dev/null
[ "$(jget "$T/body" 'j["state"], j["graph"]["cancelled"], j["graph"]["total"]')" = "cancelled 4 4" ]
ok $? "the parent and all 4 children are cancelled"
stopped() { grep -q "cancelled" "$T/cw.log"; }
wait_for 10 stopped
ok $? "the running child was stopped ($(( ($(date +%s%N) - T0) / 1000000 )) ms)"
stop_workers

# ------------------------------------------------------------ 5. structure_from
api POST /api/v1/structures -H 'Content-Type: application/octet-stream' --data-binary @"$DATA" >/dev/null
S=$(jget "$T/body" 'j["id"]')
for mode in db server; do
  read -r R M E < <("$G" "$T/db" "$ALICE" "$S" chain 2>>"$T/qtool.err")
  if [ "$mode" = db ]; then
    timeout 120 "$W" --db "$T/db" --once -q 2>>"$T/chain.log"
  else
    timeout 120 "$W" --server "$U" --token "$WK" --once -q 2>>"$T/chain.log"
  fi
  api GET "/api/v1/jobs/$M/result" >/dev/null
  cp "$T/body" "$T/min.json"
  api GET "/api/v1/jobs/$E/result" >/dev/null
  cp "$T/body" "$T/en.json"
  api GET "/api/v1/jobs/$R" >/dev/null
  "$PY" - "$T/min.json" "$T/en.json" "$(jget "$T/body" 'j["state"]')" <<'EOF'
import json, sys
m, e = (json.load(open(f)) for f in sys.argv[1:3])
em, ee = m["summary"]["energy"], e["summary"]["energy"]
pm, pe = m["per_atom"], e["per_atom"]
# the energy job ran on the minimised positions: same energy, and its
# per-atom energies match the minimiser's final ones atom by atom
same = abs(em - ee) <= 1e-9 * max(1.0, abs(em)) and pm["id"] == pe["id"]
same = same and max(abs(a - b) for a, b in zip(pm["energy"], pe["energy"])) < 1e-9
sys.exit(0 if same and sys.argv[3] == "succeeded" else 1)
EOF
  ok $? "$mode: energy on structure_from = minimise gives the minimised energy (chain $R succeeded)"
done
api GET "/api/v1/jobs/$E" >/dev/null
[ "$(jget "$T/body" 'j["structure_from"], j["label"]')" = "$M energy on minimised" ]
ok $? "the job JSON names structure_from and the label"

svc_stop_daemon
ok $? "pelmapd: clean exit"

# ------------------------------------------------------------ 7. SIGTERM to another thread
# a second pelmapd on the same database; its first thread other than the
# main one that does not block SIGTERM (signal 15: bit 14 of SigBlk) gets it
"$D" --db "$T/db" --listen 127.0.0.1:0 --port-file "$T/port2" --default-potential none \
  2>>"$T/pelmapd2.log" &
DPID=$!
wait_for 10 test -s "$T/port2" || { echo "Bail out! the second pelmapd did not start"; exit 1; }
TID=""
for t in /proc/"$DPID"/task/*; do
  [ "${t##*/}" = "$DPID" ] && continue
  blk=$(awk '/^SigBlk:/ { print $2 }' "$t/status" 2>/dev/null)
  [ -n "$blk" ] && [ $(((16#$blk >> 14) & 1)) -eq 0 ] && { TID=${t##*/}; break; }
done
if [ -z "$TID" ]; then
  kill -TERM "$DPID"
  wait "$DPID"
  DPID=""
  N=$((N + 1))
  echo "ok $N # SKIP pelmapd has no thread besides the main one that takes SIGTERM"
else
  "$PY" -c 'import ctypes, sys; libc = ctypes.CDLL(None, use_errno=True); sys.exit(libc.tgkill(int(sys.argv[1]), int(sys.argv[2]), 15) != 0)' "$DPID" "$TID"
  R=$?
  wait "$DPID"
  RC=$?
  DPID=""
  [ "$R" -eq 0 ] && [ "$RC" -eq 0 ] && grep -q "pelmapd: stopped" "$T/pelmapd2.log"
  ok $? "pelmapd: clean exit on a SIGTERM taken by thread $TID, not the main one (status $RC)"
fi
svc_no_sanitizer_reports
ok $? "no sanitizer reports in the logs"
svc_done
