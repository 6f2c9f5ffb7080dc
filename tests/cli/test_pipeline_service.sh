#!/bin/bash
# test_pipeline_service.sh -- TAP: the pipeline kind through the service.
# A real pelmapd on loopback (ephemeral port, temporary SQLite file) and real
# pelmap-worker processes:
#
#  1. POST /jobs {"kind":"pipeline"} on the 250-atom test glass at tiny
#     effort (2 ARTn events in 2 chunks, 0.2 ps of MSD) creates the whole
#     graph at once: pipeline <- minimize, descriptors, artn (<- 2
#     artn_chunk), analysis;
#  2. a --db worker is killed (kill -9) while it runs a step; a --db and a
#     --server worker finish the graph (the step is re-run after its lease);
#  3. the result has every report section (Figs. 1, 3-8, S1) and the same
#     numbers (report table, summary.steps minus timings; to 1e-9 relative)
#     as the same pipeline run by `pelmap pipeline` in one process.
#  4. the artn options the pipeline passes on (local mode, budgets): a bad
#     value is a 400 naming the option; a pipeline with local true on the
#     bundled 2,000-atom glass (the cluster fits its 32.5 A box) runs its
#     ARTn event in a cluster (force_calls_local > 0, n_cluster < 2000)
#     with the options as given, recorded in the result's params.
set -u
. "${PELMAP_SRCDIR:-$(dirname "$0")/../..}/tests/service/lib.sh"
svc_init pipeline
DATA=$SRC/tests/cli/test_artn_glass250.data
PARAMS='{"artn_atoms":"ids:1-2","events_per_atom":1,"chunk_events":1,"msd_time":0.2,"seed":11}'
svc_start

# the same pipeline in one process, meanwhile
"$C" pipeline "$DATA" --params "$PARAMS" --compact >"$T/cli.json" 2>"$T/cli.err" &
CLIPID=$!
PIDS="$PIDS $CLIPID"

api POST /api/v1/structures -H 'Content-Type: application/octet-stream' --data-binary @"$DATA" >/dev/null
S=$(jget "$T/body" 'j["id"]')
api POST /api/v1/jobs -H 'Content-Type: application/json' \
  --data-binary "{\"kind\":\"pipeline\",\"structure\":$S,\"params\":$PARAMS}" >"$T/st"
P=$(jget "$T/body" 'j["id"]')
[ "$(cat "$T/st")" = 201 ] && [ "$(jget "$T/body" 'j["graph"]["total"], j["state"]')" = "6 queued" ]
ok $? "pipeline submitted: job $P with a graph of 6 (minimize, descriptors, artn + 2 chunks, analysis)"
api GET "/api/v1/jobs/$P/children" >/dev/null
[ "$(jget "$T/body" '[c["label"] for c in j]')" = "['minimize', 'descriptors', 'artn', 'analysis']" ]
ok $? "children in plan order: minimize, descriptors, artn, analysis"

# artn_atoms is free text (KIND_P_TEXT): too long or not a string is a 400
# naming it, and nothing more is queued
"$PY" -c 'import json,sys; print(json.dumps({"kind":"pipeline","structure":int(sys.argv[1]),"params":{"artn_atoms":"species:" + "Zr," * 349523 + "Cu","seed":1}}))' "$S" >"$T/long.json"
st=$(api POST /api/v1/jobs -H 'Content-Type: application/json' --data-binary @"$T/long.json")
[ "$st" = 400 ] && grep -q 'params.artn_atoms: must be a string of 1 to 1048576 characters.*got 1048579 characters' "$T/body"
ok $? "artn_atoms over 1048576 characters: 400 naming artn_atoms (HTTP $st)"
st=$(api POST /api/v1/jobs -H 'Content-Type: application/json' \
  --data-binary "{\"kind\":\"pipeline\",\"structure\":$S,\"params\":{\"artn_atoms\":[\"all\"]}}")
[ "$st" = 400 ] && grep -q 'params.artn_atoms: ' "$T/body"
ok $? "artn_atoms as an array of strings: 400 naming artn_atoms (HTTP $st)"
api GET "/api/v1/jobs?limit=1000" >/dev/null
[ "$(jget "$T/body" 'len(j)')" = 7 ]
ok $? "nothing queued by them (the pipeline's 7 jobs only)"

# a worker that dies in the middle of a step
"$W" --db "$T/db" --lease 2 --name victim -q 2>>"$T/victim.log" &
VICTIM=$!
running_step() {
  "$PY" - "$T/db" "$P" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=10)
n = db.execute("SELECT count(*) FROM jobs WHERE state = 'running' AND kind IN "
               "('descriptors', 'artn_chunk')").fetchone()[0]
sys.exit(0 if n else 1)
EOF
}
wait_for 60 running_step
ok $? "the victim worker runs a step (descriptors or an ARTn chunk)"
{ kill -9 "$VICTIM"; wait "$VICTIM"; } 2>/dev/null
WORKER_TIMEOUT=300 dbw db1 --lease 2 -q
WORKER_TIMEOUT=300 httpw h1 --lease 2 -q
done_or_failed() { local s; s=$(job_field "$P" state); [ "$s" = succeeded ] || [ "$s" = failed ]; }
wait_for 280 done_or_failed
api GET "/api/v1/jobs/$P" >/dev/null
[ "$(jget "$T/body" 'j["state"], j["graph"]["succeeded"], j["graph"]["total"]')" = "succeeded 6 6" ]
ok $? "the pipeline completed after the kill ($(jget "$T/body" 'j["state"], j.get("error")'))"
"$PY" - "$T/db" "$P" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=10)
rerun = db.execute("SELECT count(*) FROM jobs WHERE attempt >= 2 AND state = 'succeeded'").fetchone()[0]
sys.exit(0 if rerun >= 1 else 1)
EOF
ok $? "the killed worker's step was run again (attempt 2)"
api GET "/api/v1/jobs/$P/result" >/dev/null
cp "$T/body" "$T/svc.json"
[ "$(jget "$T/svc.json" '[f["figure"] for f in j["report"]["figures"]]')" = "['1', '3', '4', '5', '6', '7', '8', 'S1']" ]
ok $? "report: sections for Figs. 1, 3, 4, 5, 6, 7, 8, S1"
wait "$CLIPID"
CLIRC=$?
PIDS=${PIDS/ $CLIPID/}
[ "$CLIRC" -eq 0 ]
ok $? "pelmap pipeline (in process) succeeded ($(tail -c 200 "$T/cli.err"))"
"$PY" - "$T/cli.json" "$T/svc.json" <<'EOF'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
ta, tb = a["report"]["table"]["rows"], b["report"]["table"]["rows"]
def strip(s):
    s = json.loads(json.dumps(s))
    s["steps"]["artn"].pop("wall_seconds", None)
    return s
# equal up to 1e-9 relative: the service hands results between jobs as
# JSON text, the CLI as parsed trees (the sanitizer build differs in the
# last bit of one xi; the normal build is bit-identical)
worst = [0.0]
def close(x, y):
    if isinstance(x, float) and isinstance(y, float):
        d = abs(x - y) / max(abs(x), abs(y), 1e-300)
        worst[0] = max(worst[0], d)
        return d <= 1e-9
    if isinstance(x, list) and isinstance(y, list):
        return len(x) == len(y) and all(close(u, v) for u, v in zip(x, y))
    if isinstance(x, dict) and isinstance(y, dict):
        return sorted(x) == sorted(y) and all(close(x[k], y[k]) for k in x)
    return x == y
same = close(ta, tb) and close(strip(a["summary"]), strip(b["summary"])) and a["params"] == b["params"]
print("# largest relative difference CLI vs service: %.3g" % worst[0])
if not same:
    for x, y in zip(ta, tb):
        if not close(x, y):
            print("# cli %s\n# svc %s" % (x, y))
sys.exit(0 if same and len(ta) > 40 else 1)
EOF
ok $? "the same numbers as the CLI: every report row, the steps' summaries, the params"

# 4. the artn options (local mode): bad values are a 400 naming the option;
# fresh workers for the local pipeline (the others' timeout runs from the
# start of the test)
stop_workers
for bad in '{"local_radius":-1}|params.local_radius: must be a number > 0' \
  '{"local":1}|params.local: must be true or false' \
  '{"local":true,"local_radius":2.5}|params.local_radius: must be >= perturb_radius + 1' \
  '{"max_calls":0}|params.max_calls: must be an integer between 1'; do
  st=$(api POST /api/v1/jobs -H 'Content-Type: application/json' \
    --data-binary "{\"kind\":\"pipeline\",\"structure\":$S,\"params\":${bad%%|*}}")
  [ "$st" = 400 ] && grep -qF "${bad#*|}" "$T/body"
  ok $? "pipeline ${bad%%|*}: 400 naming the option (HTTP $st: $(head -c 160 "$T/body"))"
done
api POST /api/v1/structures -H 'Content-Type: application/octet-stream' \
  --data-binary @"$SRC/common/data/cu50zr50-2000.data" >/dev/null
S2=$(jget "$T/body" 'j["id"]')
LPARAMS='{"artn_atoms":"ids:1","events_per_atom":1,"chunk_events":1,"msd_time":0.05,"modes":false,"local":true,"local_radius":4,"local_refine":false,"max_calls":150,"restarts":0,"seed":3}'
api POST /api/v1/jobs -H 'Content-Type: application/json' \
  --data-binary "{\"kind\":\"pipeline\",\"structure\":$S2,\"params\":$LPARAMS}" >/dev/null
PL=$(jget "$T/body" 'j["id"]')
WORKER_TIMEOUT=300 dbw l1 -q
WORKER_TIMEOUT=300 httpw l2 -q
local_done() { local s; s=$(job_field "$PL" state); [ "$s" = succeeded ] || [ "$s" = failed ]; }
wait_for 280 local_done
api GET "/api/v1/jobs/$PL/result" >/dev/null
cp "$T/body" "$T/local.json"
jget "$T/local.json" '[j["params"][k] for k in ("local", "local_radius", "local_refine", "max_calls", "restarts")] == [True, 4, False, 150, 0] and j["summary"]["steps"]["artn"]["local"] is True' | grep -qx True
ok $? "pipeline with local mode ($(job_field "$PL" state) $(job_field "$PL" error)): the options in its params and summary.steps.artn.local"
api GET "/api/v1/jobs/$PL/children" >/dev/null
A=$(jget "$T/body" '[c["id"] for c in j if c["kind"] == "artn"][0]')
api GET "/api/v1/jobs/$A/result" >/dev/null
cp "$T/body" "$T/local_artn.json"
jget "$T/local_artn.json" 'j["params"]["local"] and j["params"]["local_radius"] == 4 and j["params"]["max_calls"] == 150 and j["events"]["force_calls_local"][0] > 0 and 0 < j["events"]["n_active"][0] < j["events"]["n_cluster"][0] < 2000' | grep -qx True
ok $? "its ARTn event ran in a cluster: $(jget "$T/local_artn.json" '"status %s, force_calls_local %s, n_cluster %s, n_active %s" % tuple(j["events"][k][0] for k in ("status", "force_calls_local", "n_cluster", "n_active"))')"

stop_workers
svc_stop_daemon
ok $? "pelmapd: clean exit"
svc_no_sanitizer_reports "$T/cli.err"
ok $? "no sanitizer reports in the logs"
svc_done
