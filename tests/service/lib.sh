# lib.sh -- shared preamble of the shell tests that run a real pelmapd and
# real pelmap-worker processes (tests/service/graph_http.sh,
# tests/cli/test_artn_service.sh, tests/cli/test_pipeline_service.sh).
# Sourced (bash), not run:
#
#   . "${PELMAP_SRCDIR:-$(dirname "$0")/../..}/tests/service/lib.sh"
#   svc_init graph "$B/tests/service/graph_qtool"  # or SKIP and exit 0
#   svc_start                                       # or Bail out! and exit 1
#   ... ok $? "what" ...
#   svc_done
#
# Variables it sets: B SRC (build and source trees), D W C (pelmapd,
# pelmap-worker, pelmap), PY (python3), T (a temporary directory, removed
# at exit unless KEEP_T is set), PIDS (background workers, killed at exit),
# DPID (pelmapd), U (its base URL), ALICE and WK (user and worker tokens),
# N and FAIL (TAP counters).  Everything a test leaves in $T/*.log is
# scanned by svc_no_sanitizer_reports.

# svc_init NAME [FILE...]: set B SRC D W C PY; print "1..0 # SKIP ..." and
# exit 0 when pelmapd, pelmap-worker, pelmap or a FILE is not executable,
# or curl, python3 or the CuZr_mm.eam.fs potential is missing; then make
# $T (mktemp, prefix pelmap-NAME) and install the EXIT trap (svc_cleanup).
svc_init() {
  local name=$1 x
  shift
  B=${PELMAP_BUILDDIR:-.}
  SRC=${PELMAP_SRCDIR:-$(dirname "$0")/../..}
  D=$B/server/pelmapd
  W=$B/pelmap-worker
  C=$B/pelmap
  for x in "$D" "$W" "$C" "$@"; do
    [ -x "$x" ] || { echo "1..0 # SKIP $x not built"; exit 0; }
  done
  command -v curl >/dev/null || { echo "1..0 # SKIP curl missing"; exit 0; }
  [ -r /usr/share/lammps/potentials/CuZr_mm.eam.fs ] ||
    { echo "1..0 # SKIP CuZr_mm.eam.fs missing"; exit 0; }
  PY=python3
  [ -x /usr/bin/python3 ] && PY=/usr/bin/python3
  command -v "$PY" >/dev/null || { echo "1..0 # SKIP python3 missing"; exit 0; }
  T=$(mktemp -d "${TMPDIR:-/tmp}/pelmap-$name.XXXXXX") ||
    { echo "Bail out! mktemp failed"; exit 1; }
  PIDS="" DPID="" N=0 FAIL=0
  trap svc_cleanup EXIT
}

# svc_cleanup: the EXIT trap: TERM then KILL every pid in PIDS, KILL
# pelmapd (DPID) if still set, remove $T (kept, and said, with KEEP_T=1).
svc_cleanup() {
  local p
  for p in $PIDS; do kill "$p" 2>/dev/null; done
  for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
  [ -n "$DPID" ] && kill -9 "$DPID" 2>/dev/null
  if [ -n "${KEEP_T:-}" ]; then echo "# kept $T"; else rm -rf "$T"; fi
}

# svc_start: users alice (token in ALICE) and wk (role worker, WK) in a new
# database $T/db, pelmapd on 127.0.0.1 on a free port (--port-file, log in
# $T/pelmapd.log, pid in DPID), U = its base URL.  Prints "Bail out!" and
# exits 1 if a user cannot be made or pelmapd does not answer within 10 s.
svc_start() {
  "$D" user add alice --db "$T/db" >"$T/alice" 2>/dev/null
  "$D" user add wk --role worker --db "$T/db" >"$T/wk" 2>/dev/null
  ALICE=$(cat "$T/alice") WK=$(cat "$T/wk")
  [ -n "$ALICE" ] && [ -n "$WK" ] || { echo "Bail out! pelmapd user add failed"; exit 1; }
  "$D" --db "$T/db" --listen 127.0.0.1:0 --port-file "$T/port" --quiet 2>>"$T/pelmapd.log" &
  DPID=$!
  wait_for 10 test -s "$T/port" || { echo "Bail out! pelmapd did not start"; exit 1; }
  U=http://127.0.0.1:$(cat "$T/port")
}

# svc_stop_daemon: SIGTERM pelmapd and wait for it; returns its exit status
# (0 = clean exit) and clears DPID.
svc_stop_daemon() {
  local rc
  kill -TERM "$DPID"
  wait "$DPID"
  rc=$?
  DPID=""
  if [ "$rc" -ne 0 ]; then # say why in the log (TAP diagnostics)
    echo "# pelmapd exit status $rc after SIGTERM; the end of its log:"
    tail -n 20 "$T/pelmapd.log" 2>/dev/null | sed 's/^/#   /'
  fi
  return "$rc"
}

# ok STATUS "what": one TAP line, numbered; a nonzero STATUS counts in FAIL.
ok() {
  N=$((N + 1))
  if [ "$1" -eq 0 ]; then echo "ok $N - $2"; else echo "not ok $N - $2"; FAIL=$((FAIL + 1)); fi
}

# wait_for SECONDS CMD...: run CMD every 0.1 s until it succeeds (return 0)
# or SECONDS have passed (return 1).
wait_for() {
  local t=$1 i=0
  shift
  while [ "$i" -lt $((t * 10)) ]; do "$@" && return 0; sleep 0.1; i=$((i + 1)); done
  return 1
}

# api METHOD PATH [curl args]: an HTTP request to $U as alice (or with the
# token $TOK if set); the body goes to $T/body, the status code is echoed
# (000 if the connection failed; curl's errors go to $T/curl.err).
api() {
  local m=$1 p=$2
  shift 2
  curl -sS --max-time 60 -o "$T/body" -w '%{http_code}' -X "$m" \
    -H "Authorization: Bearer ${TOK:-$ALICE}" "$@" "$U$p" 2>>"$T/curl.err"
}

# jget FILE PYEXPR: print a Python expression evaluated on the JSON in FILE
# (as j); prints nothing (and fails) if FILE is not JSON or PYEXPR raises.
jget() { "$PY" -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1" 2>/dev/null; }

# submit JSON: POST /api/v1/jobs with JSON; prints the new job's id (empty
# if refused; the answer stays in $T/body).
submit() {
  api POST /api/v1/jobs -H 'Content-Type: application/json' --data-binary "$1" >/dev/null
  jget "$T/body" 'j["id"]'
}

# job_field ID FIELD: print field FIELD of GET /api/v1/jobs/ID.
job_field() { api GET "/api/v1/jobs/$1" >/dev/null; jget "$T/body" "j[\"$2\"]"; }

# state_is ID STATE: 0 if job ID is in STATE.
state_is() { [ "$(job_field "$1" state)" = "$2" ]; }

# dbw NAME [options]: a pelmap-worker in --db mode on $T/db in the
# background (log $T/NAME.log, pid added to PIDS), under `timeout
# ${WORKER_TIMEOUT:-120}` so that a hung test still ends.
dbw() {
  local n=$1
  shift
  timeout "${WORKER_TIMEOUT:-120}" "$W" --db "$T/db" --name "$n" --poll 0.2 "$@" 2>>"$T/$n.log" &
  PIDS="$PIDS $!"
}

# httpw NAME [options]: the same in --server mode (pelmapd at $U, token WK).
httpw() {
  local n=$1
  shift
  timeout "${WORKER_TIMEOUT:-120}" "$W" --server "$U" --token "$WK" --name "$n" --poll 0.2 "$@" \
    2>>"$T/$n.log" &
  PIDS="$PIDS $!"
}

# stop_workers: SIGTERM every pid in PIDS, wait for them, empty PIDS.
stop_workers() {
  local p
  for p in $PIDS; do kill -TERM "$p" 2>/dev/null; done
  for p in $PIDS; do wait "$p" 2>/dev/null; done
  PIDS=""
}

# svc_no_sanitizer_reports [FILE...]: 0 if neither $T/*.log nor a FILE
# holds an AddressSanitizer, LeakSanitizer or UBSan ("runtime error:")
# report.
svc_no_sanitizer_reports() {
  ! grep -l "AddressSanitizer\|LeakSanitizer\|runtime error:" "$T"/*.log "$@" >/dev/null 2>&1
}

# svc_done: print the TAP plan "1..N"; returns 1 if any test failed (make
# it the script's last command).
svc_done() {
  echo "1..$N"
  [ "$FAIL" -eq 0 ]
}
