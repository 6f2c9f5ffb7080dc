#!/bin/bash
# worker_http.sh -- TAP: real pelmapd + real pelmap-worker processes in
# remote mode (--server URL --token T) on loopback, black-box through HTTP.
#
#  1. full lifecycle for each kind: upload, submit, claim, progress, result,
#     download as JSON, CSV and extxyz
#  2. a failing job is failed with its reason; a refused token stops the
#     worker with status 1
#  3. a worker killed with SIGKILL mid-job: after the lease expires another
#     worker re-runs the job, which succeeds; one result (attempt 2)
#  4. cancel of a running job: the worker stops it within seconds
#  5. 8 workers (--once) racing on many small jobs: all succeed, each
#     claimed exactly once
set -u
B=${PELMAP_BUILDDIR:-.}
SRC=${PELMAP_SRCDIR:-$(dirname "$0")/../..}
D=$B/server/pelmapd
W=$B/pelmap-worker
DATA=$SRC/tests/cli/cuzr_b2_250.data
for x in "$D" "$W"; do
  [ -x "$x" ] || { echo "1..0 # SKIP $x not built"; exit 0; }
done
command -v curl >/dev/null || { echo "1..0 # SKIP curl missing"; exit 0; }
command -v sqlite3 >/dev/null || { echo "1..0 # SKIP sqlite3 shell missing"; exit 0; }
[ -r /usr/share/lammps/potentials/CuZr_mm.eam.fs ] || { echo "1..0 # SKIP CuZr_mm.eam.fs missing"; exit 0; }

T=$(mktemp -d "${TMPDIR:-/tmp}/pelmap-whttp.XXXXXX")
PIDS=""
DPID=""
cleanup() {
  for p in $PIDS; do kill "$p" 2>/dev/null; done # timeout forwards TERM
  for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
  [ -n "$DPID" ] && kill -9 "$DPID" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
N=0 FAIL=0
ok() { # ok STATUS "what"
  N=$((N + 1))
  if [ "$1" -eq 0 ]; then echo "ok $N - $2"; else echo "not ok $N - $2"; FAIL=$((FAIL + 1)); fi
}
sql() { sqlite3 -cmd ".timeout 10000" "$T/db" "$1"; }
wait_for() { # wait_for SECONDS CMD...
  local t=$1 i=0; shift
  while [ "$i" -lt $((t * 10)) ]; do "$@" && return 0; sleep 0.1; i=$((i + 1)); done
  return 1
}
# api METHOD PATH [curl args]: as alice; body in $T/body, status echoed
api() {
  local m=$1 p=$2; shift 2
  curl -sS --max-time 30 -o "$T/body" -w '%{http_code}' -X "$m" \
    -H "Authorization: Bearer $ALICE" "$@" "$U$p" 2>>"$T/curl.err"
}
# jget FILE PYEXPR: evaluate a Python expression on the JSON in FILE (as j)
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3  # (a pyenv shim costs ~1 s per start)
jget() { "$PY" -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1" 2>/dev/null; }
submit() { # submit JSON -> prints the job id
  api POST /api/v1/jobs -H 'Content-Type: application/json' --data-binary "$1" >/dev/null
  sed -n 's/^{"id":\([0-9][0-9]*\).*/\1/p' "$T/body"
}
# job_field ID FIELD: a scalar field of GET /jobs/ID (compact JSON)
job_field() {
  api GET "/api/v1/jobs/$1" >/dev/null
  sed -n "s/.*\"$2\":\"\{0,1\}\([^\",}]*\).*/\1/p" "$T/body" | head -1
}
state_is() { [ "$(job_field "$1" state)" = "$2" ]; }

"$D" user add alice --db "$T/db" >"$T/alice" 2>/dev/null
"$D" user add wk --role worker --db "$T/db" >"$T/wk" 2>/dev/null
ALICE=$(cat "$T/alice") WK=$(cat "$T/wk")
[ -n "$ALICE" ] && [ -n "$WK" ] || { echo "Bail out! pelmapd user add failed"; exit 1; }
"$D" --db "$T/db" --listen 127.0.0.1:0 --port-file "$T/port" --retry-backoff 0.5 \
  --reap-interval 0.2 --quiet 2>>"$T/pelmapd.log" &
DPID=$!
wait_for 10 test -s "$T/port" || { echo "Bail out! pelmapd did not start"; exit 1; }
U=http://127.0.0.1:$(cat "$T/port")
# bgworker ARGS... &: a worker in the background ($! is the worker itself)
bgworker() { exec "$W" --server "$U" --token "$WK" --poll 0.2 "$@"; }
# (the same under a time limit, for workers that should exit by themselves;
# $! is then timeout's pid, which forwards TERM but not KILL)
bgworker_t() { exec timeout 120 "$W" --server "$U" --token "$WK" --poll 0.2 "$@"; }

# --- 1. lifecycle for each kind --------------------------------------------
st=$(api POST "/api/v1/structures?name=cuzr.data" -H 'Content-Type: application/octet-stream' --data-binary @"$DATA")
SID=$(jget "$T/body" 'j["id"]')
[ "$st" = 201 ] && [ -n "$SID" ]
ok $? "structure uploaded (id $SID)"
declare -A JOB
JOB[energy]=$(submit "{\"kind\":\"energy\",\"structure\":$SID}")
JOB[minimize]=$(submit "{\"kind\":\"minimize\",\"structure\":$SID,\"params\":{\"ftol\":1e-4}}")
JOB[md]=$(submit "{\"kind\":\"md\",\"structure\":$SID,\"params\":{\"steps\":50,\"seed\":5}}")
JOB[quench]=$(submit "{\"kind\":\"quench\",\"structure\":$SID,\"params\":{\"t_high\":400,\"t_melt\":0.02,\"t_liquid\":400,\"t_low\":50,\"rate\":50000,\"t_hold\":0.02,\"seed\":5}}")
JOB[noop]=$(submit '{"kind":"noop","params":{"seconds":0.1}}')
FAILJ=$(submit '{"kind":"noop","params":{"fail":true}}')
timeout 120 "$W" --server "$U" --token "$WK" --once --lease 2 --name h1 2>"$T/w1.log"
ok $? "worker --server --once runs the queue dry and exits 0"
for k in energy minimize md quench noop; do
  j=${JOB[$k]}
  state_is "$j" succeeded
  ok $? "$k job $j succeeded"
  st=$(api GET "/api/v1/jobs/$j/result")
  [ "$st" = 200 ] && [ "$(jget "$T/body" 'j["kind"]')" = "$k" ] &&
    [ "$(jget "$T/body" 'j["engine_version"]')" != "" ]
  ok $? "$k: GET result (JSON) has kind and engine_version"
  if [ "$k" != noop ]; then
    [ "$(jget "$T/body" 'len(j["per_atom"]["energy"]) == j["structure"]["natoms"] == 250')" = True ] &&
      [ "$(jget "$T/body" 'abs(sum(j["per_atom"]["energy"]) - j["summary"]["energy"]) < 1e-8 * abs(j["summary"]["energy"])')" = True ]
    ok $? "$k: per-atom energies sum to the energy"
    st=$(api GET "/api/v1/jobs/$j/result?format=csv")
    [ "$st" = 200 ] && head -1 "$T/body" | grep -q '^id,.*energy' && [ "$(wc -l <"$T/body")" -eq 251 ]
    ok $? "$k: result as CSV (id first, 250 rows)"
    st=$(api GET "/api/v1/jobs/$j/result?format=extxyz")
    [ "$st" = 200 ] && [ "$(head -1 "$T/body")" = 250 ] && sed -n 2p "$T/body" | grep -q 'energy:R:1'
    ok $? "$k: result as extxyz with the per-atom energy column"
  fi
done
api GET "/api/v1/jobs/${JOB[minimize]}/result" >/dev/null
[ "$(jget "$T/body" 'j["summary"]["fmax"] <= 1e-4 and j["summary"]["stop"] == "ftol"')" = True ]
ok $? "minimize over HTTP: fmax <= ftol"
api GET "/api/v1/jobs/${JOB[md]}/result" >/dev/null
[ "$(jget "$T/body" 'j["seed"]')" = 5 ]
ok $? "md over HTTP: seed recorded"
[ "$(job_field "$FAILJ" state)" = failed ] && grep -q '"error":"noop: failing as asked' "$T/body"
ok $? "a failing job is failed with its reason"
"$W" --server "$U" --token nonsense --once -q 2>"$T/badtok.log"
[ $? -eq 1 ] && grep -q "token" "$T/badtok.log"
ok $? "a refused token: worker exits 1 saying so"

# --- progress, then 3. SIGKILL mid-job ------------------------------------
SLOW=$(submit '{"kind":"noop","params":{"seconds":2}}')
bgworker --lease 2 --name victim -q 2>>"$T/victim.log" &
VICTIM=$!
PIDS="$PIDS $VICTIM"
wait_for 10 state_is "$SLOW" running
ok $? "slow job claimed over HTTP"
progress_seen() { api GET "/api/v1/jobs/$SLOW" >/dev/null; [ "$(jget "$T/body" 'j["progress"] > 0 and j["message"].startswith("slept")')" = True ]; }
wait_for 5 progress_seen
ok $? "GET /jobs/{id} shows progress and message while it runs"
kill -9 "$VICTIM"
wait "$VICTIM" 2>/dev/null
T0=$(date +%s)
timeout 60 "$W" --server "$U" --token "$WK" --lease 2 --poll 0.2 --max-jobs 1 --name rescuer 2>"$T/rescuer.log"
ok $? "rescuer worker ran one job and exited"
state_is "$SLOW" succeeded
ok $? "the killed worker's job was re-run and succeeded ($(($(date +%s) - T0)) s after the kill)"
[ "$(job_field "$SLOW" attempt):$(job_field "$SLOW" worker)" = "2:rescuer" ]
ok $? "on attempt 2, by the other worker"
api GET "/api/v1/jobs/$SLOW/events" >/dev/null
[ "$(jget "$T/body" 'sum(1 for e in j if e["to"] == "running")')" = 2 ]
ok $? "events: claimed twice"
[ "$(sql "SELECT count(*) || ':' || max(attempt) FROM results WHERE job_id = $SLOW")" = "1:2" ]
ok $? "result stored once (attempt 2)"

# --- 4. cancel a running job -------------------------------------------------
LONG=$(submit '{"kind":"noop","params":{"seconds":60}}')
bgworker_t --lease 3 --max-jobs 1 --name canc 2>"$T/cancel.log" &
CW=$!
PIDS="$PIDS $CW"
wait_for 10 state_is "$LONG" running
st=$(api POST "/api/v1/jobs/$LONG/cancel")
[ "$st" = 200 ]
ok $? "POST cancel -> 200"
C0=$(date +%s%N)
wait_for 10 grep -q "job $LONG: noop cancelled" "$T/cancel.log"
ok $? "the worker stopped the cancelled job"
ms=$((($(date +%s%N) - C0) / 1000000))
[ "$ms" -lt 5000 ]
ok $? "... within 5 s (${ms} ms)"
wait_for 5 sh -c "! kill -0 $CW 2>/dev/null"
ok $? "the worker went on (and exited after --max-jobs 1)"
state_is "$LONG" cancelled
ok $? "job state stays cancelled"

# --- 5. 8 workers racing over HTTP -------------------------------------------
NJ=${PELMAP_HTTP_RACE_JOBS:-200}
# one process submits them all (a curl per job is slow under sanitizers); each job
# lasts 20 ms so that all 8 workers are up before the queue drains and really race
FIRST=$("$PY" - "$U" "$ALICE" "$NJ" <<'EOF'
import json, sys, urllib.request
url, tok, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
ids = []
for i in range(n):
    req = urllib.request.Request(url + "/api/v1/jobs", data=b'{"kind":"noop","params":{"seconds":0.02}}', method="POST",
                                 headers={"Authorization": "Bearer " + tok, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        ids.append(json.load(r)["id"])
print(min(ids))
EOF
)
[ -n "$FIRST" ]
ok $? "$NJ noop jobs submitted"
R0=$(date +%s%N)
WP=""
for i in 1 2 3 4 5 6 7 8; do
  bgworker_t --once -q --lease 10 --name "race$i" 2>>"$T/race.log" &
  WP="$WP $!"
done
PIDS="$PIDS $WP"
st=0
for p in $WP; do wait "$p" || st=1; done
ok $st "8 workers exit 0"
echo "# $NJ jobs over HTTP by 8 workers in $((($(date +%s%N) - R0) / 1000000)) ms"
[ "$(sql "SELECT count(*) FROM jobs WHERE id >= $FIRST AND state = 'succeeded' AND worker LIKE 'race%' AND attempt = 1")" = "$NJ" ]
ok $? "all $NJ jobs succeeded on attempt 1"
[ "$(sql "SELECT count(*) FROM job_events WHERE job_id >= $FIRST AND to_state = 'running'")" = "$NJ" ]
ok $? "events: exactly one claim per job"
[ "$(sql "SELECT count(*) FROM results WHERE job_id >= $FIRST")" = "$NJ" ]
ok $? "exactly one result per job"
[ "$(sql "SELECT count(DISTINCT worker) FROM jobs WHERE id >= $FIRST")" -ge 4 ]
ok $? "the work was shared (>= 4 workers)"
! grep -qi "failed\|error" "$T/race.log"
ok $? "no worker logged an error"
kill -0 "$DPID" 2>/dev/null
ok $? "pelmapd still running"

! grep -l "AddressSanitizer\|LeakSanitizer\|runtime error:" "$T"/*.log >/dev/null 2>&1
ok $? "no sanitizer reports in the logs"

echo "1..$N"
[ "$FAIL" -eq 0 ]
