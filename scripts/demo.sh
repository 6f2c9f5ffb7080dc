#!/usr/bin/env bash
# demo.sh -- the README's first command: install what is needed, build, start
# pelmapd and one pelmap-worker on this machine, run the main job on the
# bundled Cu50Zr50 glass through the HTTP API, and print where the results are.
#
# The main job (for now): minimise the bundled glass with CG to 1e-6 eV/A and
# report its energy, per-atom energies and forces.  pelmapd and the worker keep
# running afterwards so that the dashboard and the API can be explored; the
# last lines say how to stop them.
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
nohup "$B/pelmap-worker" --db "$run/pelmap.db" --name demo-worker < /dev/null > "$run/worker.log" 2>&1 &
echo $! >> "$run/pids"

H="Authorization: Bearer $token"
json() { "$PY" -c "import json,sys; j=json.load(sys.stdin); print($1)"; }

echo "demo: uploading $sample"
sid=$(curl -sf -H "$H" --data-binary @"$sample" "$U/api/v1/structures?name=cu50zr50-2000.data" | json 'j["id"]')
echo "demo: submitting the main job (minimize, CG, ftol 1e-6 eV/A) on structure $sid"
jid=$(curl -sf -H "$H" -H 'Content-Type: application/json' \
  -d "{\"kind\":\"minimize\",\"structure\":$sid,\"params\":{\"algo\":\"cg\",\"ftol\":1e-6}}" \
  "$U/api/v1/jobs" | json 'j["id"]')
state=queued
while :; do
  st=$(curl -sf -H "$H" "$U/api/v1/jobs/$jid")
  state=$(echo "$st" | json 'j["state"]')
  prog=$(echo "$st" | json '"%5.1f%%  %s" % (100*(j.get("progress") or 0), j.get("message") or "")')
  printf '\rdemo: job %s %-9s %-70.70s' "$jid" "$state" "$prog"
  case $state in succeeded|failed|cancelled) break ;; esac
  sleep 0.5
done
echo
if [ "$state" != succeeded ]; then
  echo "demo: the job $state: $(curl -sf -H "$H" "$U/api/v1/jobs/$jid" | json 'j.get("error")')"
  exit 1
fi
curl -sf -H "$H" "$U/api/v1/jobs/$jid/result" > "$run/result.json"
curl -sf -H "$H" "$U/api/v1/jobs/$jid/result?format=csv" > "$run/result.csv"
curl -sf -H "$H" "$U/api/v1/jobs/$jid/result?format=extxyz" > "$run/result.xyz"
json '"demo: E = %.6f eV/atom, max |F| = %.2e eV/A, stopped by %s after %s iterations" % (j["summary"]["energy_per_atom"], j["summary"]["fmax"], j["summary"]["stop"], j["summary"]["iterations"])' < "$run/result.json"
cat <<TXT

Results of job $jid (minimize on the bundled glass):
  $run/result.json   parameters, seed, engine version, per-atom arrays keyed by atom id
  $run/result.csv    per-atom table (id, type, species, energy, fx, fy, fz, x, y, z)
  $run/result.xyz    extended XYZ with the per-atom results as columns (opens in OVITO)
Dashboard:  $U/
API:        curl -H "Authorization: Bearer \$(cat $run/token)" $U/api/v1/jobs/$jid
Stop:       kill \$(cat $run/pids)
TXT
