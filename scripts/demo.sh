#!/usr/bin/env bash
# demo.sh -- the README's first command: install what is needed, build, start
# pelmapd and two pelmap-workers on this machine, run the main job on the
# bundled Cu50Zr50 glass through the HTTP API, and print the result.
#
# The main job is the paper end to end (kind `pipeline`, docs/analysis.md):
# minimise -> descriptors (g(r), Voronoi, L5FS, S2 at four troughs,
# vibrational MSD, flexibility volume, modes + participation) and an ARTn
# sweep (fanned out into artn_chunk jobs that both workers share) ->
# analysis -> a report per figure of Wei et al. (2019), printed as a table
# beside the paper's values.  Reduced effort so that it finishes in about
# 10 minutes on 2 cores (the paper's: every atom x 10 events, 100 ps MD):
#   PELMAP_DEMO_ATOMS   ARTn atoms (default ids:1-16; the paper: all)
#   PELMAP_DEMO_EVENTS  events per atom (default 1; the paper: 10)
#   PELMAP_DEMO_MSD_PS  vibrational-MSD MD time, ps (default 5; the paper: 100)
# pelmapd and the workers keep running afterwards so that the dashboard and
# the API can be explored; the last lines say how to stop them.
#
# Environment: PELMAP_PORT (default 8080), PELMAP_DEMO_DIR (default var/demo).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash scripts/deps.sh
bash scripts/build.sh build
B=$top/build
run=${PELMAP_DEMO_DIR:-$top/var/demo}
port=${PELMAP_PORT:-8080}
sample=$top/common/data/cu50zr50-2000.data
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3

mkdir -p "$run"
if [ -f "$run/pids" ]; then # a previous demo
  kill $(cat "$run/pids") 2>/dev/null || true
  sleep 1
fi
rm -f "$run"/pelmap.db* "$run/pids"

token=$("$B/server/pelmapd" user add demo --role admin --db "$run/pelmap.db")
echo "$token" > "$run/token"
nohup "$B/server/pelmapd" --db "$run/pelmap.db" --listen "127.0.0.1:$port" --web "$top/web" \
  --quiet < /dev/null > "$run/pelmapd.log" 2>&1 &
echo $! >> "$run/pids"
U=http://127.0.0.1:$port
for _ in $(seq 100); do curl -sf "$U/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf "$U/healthz" >/dev/null || { echo "demo: pelmapd did not start (see $run/pelmapd.log)"; exit 1; }
for w in 1 2; do # one worker per core
  nohup "$B/pelmap-worker" --db "$run/pelmap.db" --name demo-worker-$w < /dev/null \
    > "$run/worker-$w.log" 2>&1 &
  echo $! >> "$run/pids"
done

H="Authorization: Bearer $token"
json() { "$PY" -c "import json,sys; j=json.load(sys.stdin); print($1)"; }

echo "demo: uploading $sample"
sid=$(curl -sf -H "$H" --data-binary @"$sample" "$U/api/v1/structures?name=cu50zr50-2000.data" | json 'j["id"]')
atoms=${PELMAP_DEMO_ATOMS:-ids:1-16}
events=${PELMAP_DEMO_EVENTS:-1}
msd=${PELMAP_DEMO_MSD_PS:-5}
params="{\"artn_atoms\":\"$atoms\",\"events_per_atom\":$events,\"msd_time\":$msd,\"chunk_events\":2,\"seed\":20261129}"
echo "demo: submitting the main job (pipeline $params) on structure $sid"
jid=$(curl -sf -H "$H" -H 'Content-Type: application/json' \
  -d "{\"kind\":\"pipeline\",\"structure\":$sid,\"params\":$params}" \
  "$U/api/v1/jobs" | json 'j["id"]')
t0=$(date +%s)
state=queued
while :; do
  st=$(curl -sf -H "$H" "$U/api/v1/jobs/$jid")
  state=$(echo "$st" | json 'j["state"]')
  # a graph's parent stays queued while its steps run: show the steps' state
  shown=$(echo "$st" | json '"running" if j["state"] == "queued" and (j.get("graph") or {}).get("running") else j["state"]')
  prog=$(echo "$st" | json '"%5.1f%%  %s" % (100*(j.get("progress") or 0), j.get("message") or "")')
  printf '\rdemo: %4ss job %s %-9s %-60.60s' "$(( $(date +%s) - t0 ))" "$jid" "$shown" "$prog"
  case $state in succeeded|failed|cancelled) break ;; esac
  sleep 1
done
echo
if [ "$state" != succeeded ]; then
  echo "demo: the job $state: $(curl -sf -H "$H" "$U/api/v1/jobs/$jid" | json 'j.get("error")')"
  exit 1
fi
curl -sf -H "$H" "$U/api/v1/jobs/$jid/result" > "$run/result.json"
curl -sf -H "$H" "$U/api/v1/jobs/$jid/children?limit=1000" > "$run/steps.json"
"$PY" - "$run/result.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
rows = r["report"]["table"]["rows"]
print("%-3s %-50s %-24s %-12s %s" % ("fig", "quantity", "paper", "this sample", "agrees"))
for f, q, p, s, u, a in rows:
    print("%-3s %-50.50s %-24.24s %-12s %s" % (f, q, p, "-" if s is None else "%.4g" % s,
          {True: "yes", False: "no", None: ""}[a]))
PY
cat <<TXT

Results of job $jid (pipeline on the bundled glass, $(( $(date +%s) - t0 )) s):
  $run/result.json   the report (one section per figure, the paper's values beside),
                     parameters, seeds, versions
  $run/steps.json    the steps (minimize, descriptors, artn + its chunks, analysis);
                     each step's result: GET /api/v1/jobs/ID/result (?format=csv|extxyz)
Dashboard:  $U/
API:        curl -H "Authorization: Bearer \$(cat $run/token)" $U/api/v1/jobs/$jid
Stop:       kill \$(cat $run/pids)
TXT
