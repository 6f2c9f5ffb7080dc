#!/bin/bash
# worker_db.sh -- TAP: real pelmap-worker processes on a real queue database
# (--db mode), no HTTP.  The queue is filled with tests/service/worker_qtool
# (jobq_* directly) and inspected with the sqlite3 shell.
#
#  1. every kind runs to success; results stored with the right kind; a
#     failing job is recorded as failed with its reason
#  2. progress is recorded while a job runs
#  3. a worker killed with SIGKILL mid-job: after the lease expires another
#     worker re-runs the job, which succeeds; one result, attempt 2
#  4. a running job cancelled: the worker stops it within seconds
#  5. SIGTERM: the running job finishes, then the worker exits 0; with a
#     short --grace the job is released (queued again) instead
#  6. 8 workers (--once) racing on 2,000 noop jobs: all succeed, each
#     claimed exactly once
set -u
B=${PELMAP_BUILDDIR:-.}
S=${PELMAP_SRCDIR:-$(dirname "$0")/../..}
W=$B/pelmap-worker
Q=$B/tests/service/worker_qtool
POT=/usr/share/lammps/potentials/CuZr_mm.eam.fs
DATA=$S/tests/cli/cuzr_b2_250.data
N=0 FAIL=0
ok() { # ok COND-STATUS "what"
  N=$((N + 1))
  if [ "$1" -eq 0 ]; then echo "ok $N - $2"; else echo "not ok $N - $2"; FAIL=$((FAIL + 1)); fi
}
check() { local what=$1; shift; "$@" >/dev/null 2>&1; ok $? "$what"; }
sql() { sqlite3 -cmd ".timeout 10000" "$DB" "$1"; }
# wait_for SECONDS CMD...: poll until CMD succeeds; 0 if it did
wait_for() {
  local t=$1 i=0; shift
  while [ "$i" -lt $((t * 10)) ]; do "$@" && return 0; sleep 0.1; i=$((i + 1)); done
  return 1
}
state_is() { [ "$(sql "SELECT state FROM jobs WHERE id=$1")" = "$2" ]; }

for x in "$W" "$Q"; do
  [ -x "$x" ] || { echo "1..0 # SKIP $x not built"; exit 0; }
done
command -v sqlite3 >/dev/null || { echo "1..0 # SKIP sqlite3 shell missing"; exit 0; }
[ -r "$POT" ] || { echo "1..0 # SKIP $POT missing"; exit 0; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/pelmap-wdb.XXXXXX")
PIDS=""
cleanup() {
  for p in $PIDS; do kill "$p" 2>/dev/null; done # timeout forwards TERM
  for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT
DB=$TMP/q.db
"$Q" "$DB" setup "$POT" >/dev/null || { echo "Bail out! worker_qtool setup failed"; exit 1; }

# --- 1. every kind -------------------------------------------------------
"$Q" "$DB" submit energy 1 '{}' "$DATA" >/dev/null
"$Q" "$DB" submit minimize 1 '{"ftol":1e-4}' "$DATA" >/dev/null
"$Q" "$DB" submit md 1 '{"steps":50,"seed":5}' "$DATA" >/dev/null
"$Q" "$DB" submit quench 1 '{"t_high":400,"t_melt":0.02,"t_liquid":400,"t_low":50,"rate":50000,"t_hold":0.02,"seed":5}' "$DATA" >/dev/null
"$Q" "$DB" submit noop 1 '{"seconds":0.1}' >/dev/null
FAILID=$("$Q" "$DB" submit noop 1 '{"fail":true}')
timeout 120 "$W" --db "$DB" --once --lease 2 --name k1 2>"$TMP/w1.log"
ok $? "worker --once runs the queue dry and exits 0"
for k in energy minimize md quench noop; do
  [ "$(sql "SELECT j.state || ':' || json_extract(r.json, '\$.kind') FROM jobs j JOIN results r ON r.job_id = j.id WHERE j.kind = '$k' AND j.params NOT LIKE '%fail\":true%'")" = "succeeded:$k" ]
  ok $? "$k job succeeded with a stored result of kind $k"
done
[ "$(sql "SELECT json_extract(r.json, '\$.summary.stop') FROM jobs j JOIN results r ON r.job_id = j.id WHERE j.kind = 'minimize'")" = ftol ]
ok $? "minimize result: stopped on ftol"
[ "$(sql "SELECT json_array_length(json_extract(r.json, '\$.per_atom.energy')) FROM jobs j JOIN results r ON r.job_id = j.id WHERE j.kind = 'energy'")" = 250 ]
ok $? "energy result: 250 per-atom energies"
[ "$(sql "SELECT json_extract(r.json, '\$.seed') FROM jobs j JOIN results r ON r.job_id = j.id WHERE j.kind = 'md'")" = 5 ]
ok $? "md result records the seed"
sql "SELECT state, error FROM jobs WHERE id = $FAILID" | grep -q '^failed|noop: failing as asked'
ok $? "a failing job is failed with its reason"
[ "$(sql "SELECT attempt FROM jobs WHERE id = $FAILID")" = 1 ]
ok $? "a non-retryable failure is not retried"

# --- 2+3. progress, then SIGKILL mid-job --------------------------------
SLOW=$("$Q" "$DB" submit noop 1 '{"seconds":2}')
"$W" --db "$DB" --lease 2 --name victim -q 2>>"$TMP/victim.log" &
VICTIM=$!
PIDS="$PIDS $VICTIM"
wait_for 10 state_is "$SLOW" running
ok $? "slow job claimed"
wait_for 5 sh -c "[ \"\$(sqlite3 -cmd '.timeout 5000' '$DB' 'SELECT progress > 0 AND message LIKE \"slept%\" FROM jobs WHERE id=$SLOW')\" = 1 ]"
ok $? "progress and message recorded while the job runs (heartbeats)"
kill -9 "$VICTIM"
wait "$VICTIM" 2>/dev/null
T0=$(date +%s)
timeout 60 "$W" --db "$DB" --lease 2 --poll 0.2 --max-jobs 1 --name rescuer 2>"$TMP/rescuer.log"
ok $? "rescuer worker ran one job and exited"
T1=$(date +%s)
state_is "$SLOW" succeeded
ok $? "the killed worker's job was re-run and succeeded ($((T1 - T0)) s after the kill)"
[ "$(sql "SELECT attempt || ':' || worker FROM jobs WHERE id = $SLOW")" = "2:rescuer" ]
ok $? "it succeeded on attempt 2, by the other worker"
[ "$(sql "SELECT count(*) || ':' || max(attempt) FROM results WHERE job_id = $SLOW")" = "1:2" ]
ok $? "its result is stored once (attempt 2)"
[ "$(sql "SELECT count(*) FROM job_events WHERE job_id = $SLOW AND to_state = 'running'")" = 2 ]
ok $? "events: claimed twice (one per attempt)"

# --- 4. cancel of a running job --------------------------------------------
LONG=$("$Q" "$DB" submit noop 1 '{"seconds":60}')
timeout 60 "$W" --db "$DB" --lease 3 --max-jobs 1 --name canc 2>"$TMP/cancel.log" &
CW=$!
PIDS="$PIDS $CW"
wait_for 10 state_is "$LONG" running
"$Q" "$DB" cancel "$LONG"
ok $? "cancel accepted"
C0=$(date +%s%N)
wait_for 10 grep -q "job $LONG: noop cancelled" "$TMP/cancel.log"
ok $? "the worker stopped the cancelled job"
C1=$(date +%s%N)
ms=$(((C1 - C0) / 1000000))
[ "$ms" -lt 5000 ]
ok $? "... within 5 s (${ms} ms)"
wait_for 5 sh -c "! kill -0 $CW 2>/dev/null"
ok $? "the worker went on (and exited after --max-jobs 1)"
state_is "$LONG" cancelled
ok $? "job state stays cancelled"

# --- 5. SIGTERM: finish, or release after --grace --------------------------
J=$("$Q" "$DB" submit noop 1 '{"seconds":1.5}')
"$W" --db "$DB" --lease 2 --name term 2>"$TMP/term.log" &
TW=$!
PIDS="$PIDS $TW"
wait_for 10 state_is "$J" running
kill -TERM "$TW"
wait "$TW"
ok $? "SIGTERM during a job: exit status 0"
state_is "$J" succeeded
ok $? "SIGTERM: the running job was finished first"
J=$("$Q" "$DB" submit noop 1 '{"seconds":60}')
"$W" --db "$DB" --lease 2 --grace 0.3 --name term2 2>"$TMP/term2.log" &
TW=$!
PIDS="$PIDS $TW"
wait_for 10 state_is "$J" running
G0=$(date +%s)
kill -TERM "$TW"
wait "$TW"
ok $? "SIGTERM with --grace 0.3: exit status 0"
G1=$(date +%s)
[ $((G1 - G0)) -le 5 ]
ok $? "... promptly ($((G1 - G0)) s)"
state_is "$J" queued
ok $? "the unfinished job was released (queued again for another worker)"
"$Q" "$DB" cancel "$J" >/dev/null

# --- 6. 8 workers racing on 2,000 jobs -------------------------------------
NJ=${PELMAP_RACE_JOBS:-2000}
BEFORE=$(sql "SELECT count(*) FROM jobs")
"$Q" "$DB" submit noop "$NJ" '{}' >/dev/null
R0=$(date +%s%N)
WP=""
for i in 1 2 3 4 5 6 7 8; do
  timeout 120 "$W" --db "$DB" --once -q --lease 10 --name "race$i" 2>>"$TMP/race.log" &
  WP="$WP $!"
done
PIDS="$PIDS $WP"
st=0
for p in $WP; do wait "$p" || st=1; done
R1=$(date +%s%N)
ok $st "8 workers exit 0"
echo "# $NJ jobs by 8 workers in $(((R1 - R0) / 1000000)) ms"
[ "$(sql "SELECT count(*) FROM jobs WHERE kind = 'noop' AND state = 'succeeded' AND worker LIKE 'race%'")" = "$NJ" ]
ok $? "all $NJ jobs succeeded"
[ "$(sql "SELECT count(*) FROM jobs WHERE worker LIKE 'race%' AND attempt <> 1")" = 0 ]
ok $? "each was claimed exactly once (attempt 1)"
[ "$(sql "SELECT count(*) FROM job_events e JOIN jobs j ON j.id = e.job_id WHERE j.worker LIKE 'race%' AND e.to_state = 'running'")" = "$NJ" ]
ok $? "events: exactly one claim per job"
[ "$(sql "SELECT count(*) FROM results r JOIN jobs j ON j.id = r.job_id WHERE j.worker LIKE 'race%'")" = "$NJ" ]
ok $? "exactly one result per job"
[ "$(sql "SELECT count(DISTINCT worker) FROM jobs WHERE worker LIKE 'race%'")" -ge 4 ]
ok $? "the work was shared (>= 4 workers did some)"
! grep -q "failed\|error" "$TMP/race.log"
ok $? "no worker logged an error"
[ "$(sql "SELECT count(*) FROM jobs")" = $((BEFORE + NJ)) ]
ok $? "no job was lost or duplicated"

! grep -l "AddressSanitizer\|LeakSanitizer\|runtime error:" "$TMP"/*.log >/dev/null 2>&1
ok $? "no sanitizer reports in the logs"

echo "1..$N"
[ "$FAIL" -eq 0 ]
