#!/bin/bash
# test_artn_service.sh -- TAP: an artn sweep through the service equals the
# same sweep on the command line.  A real pelmapd on loopback (ephemeral
# port, temporary SQLite file) and two real pelmap-worker processes, one
# --db and one --server; the sweep (1 atom x 2 events of the 250-atom glass
# of test_artn, chunks of one event) becomes a graph of minimize + 2
# artn_chunk children + the gathering parent.  Checks: the graph shape
# (labels, structure_from of the chunks), the parent succeeds with progress
# 1, and its event table (all but the timing column), per-atom results,
# histogram lists and summary statistics equal those of `pelmap artn` with
# the same params.
set -u
B=${PELMAP_BUILDDIR:-.}
SRC=${PELMAP_SRCDIR:-$(dirname "$0")/../..}
D=$B/server/pelmapd
W=$B/pelmap-worker
C=$B/pelmap
DATA=$SRC/tests/cli/test_artn_glass250.data
for x in "$D" "$W" "$C"; do
  [ -x "$x" ] || { echo "1..0 # SKIP $x not built"; exit 0; }
done
command -v curl >/dev/null || { echo "1..0 # SKIP curl missing"; exit 0; }
[ -r /usr/share/lammps/potentials/CuZr_mm.eam.fs ] || { echo "1..0 # SKIP CuZr_mm.eam.fs missing"; exit 0; }
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
command -v "$PY" >/dev/null || { echo "1..0 # SKIP python3 missing"; exit 0; }

T=$(mktemp -d "${TMPDIR:-/tmp}/pelmap-artn.XXXXXX")
PIDS="" DPID=""
cleanup() {
  for p in $PIDS; do kill "$p" 2>/dev/null; done
  for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
  [ -n "$DPID" ] && kill -9 "$DPID" 2>/dev/null
  [ -n "${KEEP_T:-}" ] && echo "# kept $T" || rm -rf "$T"
}
trap cleanup EXIT
N=0 FAIL=0
ok() { # ok STATUS "what"
  N=$((N + 1))
  if [ "$1" -eq 0 ]; then echo "ok $N - $2"; else echo "not ok $N - $2"; FAIL=$((FAIL + 1)); fi
}
wait_for() { # wait_for SECONDS CMD...
  local t=$1 i=0; shift
  while [ "$i" -lt $((t * 5)) ]; do "$@" && return 0; sleep 0.2; i=$((i + 1)); done
  return 1
}
api() { # api METHOD PATH [curl args]: as alice; body in $T/body, status echoed
  local m=$1 p=$2; shift 2
  curl -sS --max-time 60 -o "$T/body" -w '%{http_code}' -X "$m" \
    -H "Authorization: Bearer $ALICE" "$@" "$U$p" 2>>"$T/curl.err"
}
jget() { "$PY" -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1" 2>/dev/null; }
state_done() {
  api GET "/api/v1/jobs/$P" >/dev/null
  case "$(jget "$T/body" 'j["state"]')" in succeeded|failed|cancelled) return 0 ;; esac
  return 1
}

"$D" user add alice --db "$T/db" >"$T/alice" 2>/dev/null
"$D" user add wk --role worker --db "$T/db" >"$T/wk" 2>/dev/null
ALICE=$(cat "$T/alice") WK=$(cat "$T/wk")
[ -n "$ALICE" ] && [ -n "$WK" ] || { echo "Bail out! pelmapd user add failed"; exit 1; }
"$D" --db "$T/db" --listen 127.0.0.1:0 --port-file "$T/port" --quiet 2>>"$T/pelmapd.log" &
DPID=$!
wait_for 10 test -s "$T/port" || { echo "Bail out! pelmapd did not start"; exit 1; }
U=http://127.0.0.1:$(cat "$T/port")

PARAMS='{"atoms":"1","events_per_atom":2,"seed":7,"chunk_events":1}'
api POST /api/v1/structures -H 'Content-Type: application/octet-stream' \
  --data-binary @"$DATA" >/dev/null
S=$(jget "$T/body" 'j["id"]')
st=$(api POST /api/v1/jobs -H 'Content-Type: application/json' \
  --data-binary "{\"kind\":\"artn\",\"structure\":$S,\"params\":$PARAMS}")
P=$(jget "$T/body" 'j["id"]')
[ "$st" = 201 ] && [ "$(jget "$T/body" 'j["graph"]["total"]')" = 3 ]
ok $? "artn sweep submitted (HTTP $st): parent $P with a graph of 3 children"
api GET "/api/v1/jobs/$P/children" >/dev/null
[ "$(jget "$T/body" '[c["label"] for c in j], [c["structure_from"] for c in j][1:] == [j[0]["id"]] * 2')" = "['minimize', 'chunk 1/2', 'chunk 2/2'] True" ]
ok $? "children: minimize, chunk 1/2, chunk 2/2; the chunks run on the minimize result"

# bad params are refused at submission, nothing queued
st=$(api POST /api/v1/jobs -H 'Content-Type: application/json' \
  --data-binary "{\"kind\":\"artn\",\"structure\":$S,\"params\":{\"atoms\":\"ids:99999\",\"seed\":1}}")
[ "$st" = 400 ] && grep -q "atom id 99999 is not in the structure" "$T/body"
ok $? "a selection the structure lacks is a 400 naming the id (HTTP $st)"

timeout 900 "$W" --db "$T/db" --name db1 --poll 0.2 -q 2>>"$T/w1.log" &
PIDS="$PIDS $!"
timeout 900 "$W" --server "$U" --token "$WK" --name h1 --poll 0.2 -q 2>>"$T/w2.log" &
PIDS="$PIDS $!"
wait_for 900 state_done
api GET "/api/v1/jobs/$P" >/dev/null
[ "$(jget "$T/body" 'j["state"], j["progress"]')" = "succeeded 1.0" ]
ok $? "the sweep succeeded, progress 1 ($(jget "$T/body" 'j["state"], j.get("error")'))"
for p in $PIDS; do kill -TERM "$p" 2>/dev/null; done
for p in $PIDS; do wait "$p" 2>/dev/null; done
PIDS=""
api GET "/api/v1/jobs/$P/result" >/dev/null
cp "$T/body" "$T/svc.json"

"$C" artn "$DATA" --params "$PARAMS" --compact >"$T/cli.json" 2>"$T/cli.err"
ok $? "the same sweep on the command line"
"$PY" - "$T/cli.json" "$T/svc.json" <<'EOF'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
ta = {k: v for k, v in a["events"].items() if k != "seconds"}
tb = {k: v for k, v in b["events"].items() if k != "seconds"}
keys = ["attempts", "successes", "status_counts", "dq_mean", "dq_median",
        "force_calls_median", "force_calls_p90", "chunks"]
bad = []
if ta != tb: bad.append("events")
if a["per_atom"] != b["per_atom"]: bad.append("per_atom")
if a["histogram"] != b["histogram"]: bad.append("histogram")
if a["params"] != b["params"]: bad.append("params")
bad += [k for k in keys if a["summary"].get(k) != b["summary"].get(k)]
if len(ta.get("atom_id", [])) != 2: bad.append("2 events")
print("# differ: %s" % bad if bad else "# %d events, %d converged" % (a["summary"]["attempts"], a["summary"]["successes"]))
sys.exit(1 if bad else 0)
EOF
ok $? "service and CLI sweeps: identical event tables, per-atom results, histograms, summary statistics"
! grep -l "AddressSanitizer\|LeakSanitizer\|runtime error:" "$T"/*.log "$T/cli.err" >/dev/null 2>&1
ok $? "no sanitizer reports in the logs"

echo "1..$N"
[ "$FAIL" -eq 0 ]
