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
. "${PELMAP_SRCDIR:-$(dirname "$0")/../..}/tests/service/lib.sh"
svc_init artn
DATA=$SRC/tests/cli/test_artn_glass250.data
state_done() {
  api GET "/api/v1/jobs/$P" >/dev/null
  case "$(jget "$T/body" 'j["state"]')" in succeeded|failed|cancelled) return 0 ;; esac
  return 1
}
svc_start

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

# free-text params (KIND_P_TEXT): a string over the length limit, or of
# the wrong JSON type, is a 400 naming the parameter; the schema says so
api GET "/api/v1/jobs?limit=1000" >/dev/null
NJOBS=$(jget "$T/body" 'len(j)')
"$PY" -c 'import json,sys; print(json.dumps({"kind":"artn","structure":int(sys.argv[1]),"params":{"atoms":"ids:" + "1," * 524286 + "2","seed":1}}))' "$S" >"$T/long.json"
st=$(api POST /api/v1/jobs -H 'Content-Type: application/json' --data-binary @"$T/long.json")
[ "$st" = 400 ] && grep -q 'params.atoms: must be a string of 1 to 1048576 characters.*got 1048577 characters' "$T/body"
ok $? "atoms of 1048577 characters: 400 naming atoms (HTTP $st: $(head -c 120 "$T/body"))"
st=$(api POST /api/v1/jobs -H 'Content-Type: application/json' \
  --data-binary "{\"kind\":\"artn\",\"structure\":$S,\"params\":{\"atoms\":{\"ids\":[1]},\"seed\":1}}")
[ "$st" = 400 ] && grep -q 'params.atoms: must be a string' "$T/body"
ok $? "atoms as an object: 400 naming atoms (HTTP $st)"
st=$(api POST /api/v1/jobs -H 'Content-Type: application/json' \
  --data-binary "{\"kind\":\"analysis\",\"structure\":$S,\"params\":{\"property\":5}}")
[ "$st" = 400 ] && grep -q 'params.property: must be' "$T/body"
ok $? "analysis property as a number: 400 naming property (HTTP $st)"
api GET /api/v1/kinds >/dev/null
[ "$(jget "$T/body" '[(s["type"], s["maxLength"], "enum" in s) for k in j if k["name"] in ("artn", "pipeline", "analysis") for n, s in k["params_schema"]["properties"].items() if n in ("atoms", "artn_atoms", "property")]')" = "[('string', 1048576, False), ('string', 63, False), ('string', 1048576, False)]" ]
ok $? "GET /kinds: atoms, property, artn_atoms are strings with maxLength, no enum"
api GET "/api/v1/jobs?limit=1000" >/dev/null
[ -n "$NJOBS" ] && [ "$(jget "$T/body" 'len(j)')" = "$NJOBS" ]
ok $? "nothing was queued by the refused submissions ($NJOBS jobs before and after)"

WORKER_TIMEOUT=900 dbw db1 -q
WORKER_TIMEOUT=900 httpw h1 -q
wait_for 900 state_done
api GET "/api/v1/jobs/$P" >/dev/null
[ "$(jget "$T/body" 'j["state"], j["progress"]')" = "succeeded 1.0" ]
ok $? "the sweep succeeded, progress 1 ($(jget "$T/body" 'j["state"], j.get("error")'))"
stop_workers
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
svc_no_sanitizer_reports "$T/cli.err"
ok $? "no sanitizer reports in the logs"
svc_done
