#!/bin/bash
# service_bench.sh -- throughput and latency of pelmapd (not part of make check).
#
#  1. job lifecycles per second through HTTP (submit + claim + heartbeat +
#     complete of trivial "noop" jobs) with 1, 2 and 8 concurrent clients
#     (bench/service_client, keep-alive connections);
#  2. GET /api/v1/jobs/{id} latency p50/p99 and requests/s with wrk at 64
#     connections.
# Usage: bench/service_bench.sh [BUILDDIR]   (env: LIFECYCLES=per client, default 2000;
#        THREADS=pelmapd --threads, default 4; DURATION=wrk seconds, default 10)
set -eu
B=${1:-${PELMAP_BUILDDIR:-.}}
D=$B/server/pelmapd
C=$B/bench/service_client
N=${LIFECYCLES:-2000}
THREADS=${THREADS:-4}
DUR=${DURATION:-10}
for x in "$D" "$C"; do [ -x "$x" ] || { echo "build $x first (make bench/service_client server/pelmapd)"; exit 1; }; done
T=$(mktemp -d /tmp/pelmap-bench.XXXXXX)
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
UT=$("$D" user add bench --rate 1000000 --db "$T/db" 2>/dev/null)
WT=$("$D" user add benchw --role worker --rate 1000000 --db "$T/db" 2>/dev/null)
"$D" --db "$T/db" --listen 127.0.0.1:0 --port-file "$T/port" --threads "$THREADS" --quiet \
  --default-potential none 2>"$T/log" &
PID=$!
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.05; done
U=http://127.0.0.1:$(cat "$T/port")
echo "# pelmapd --threads $THREADS on $(nproc) cores, $(uname -m); $N lifecycles per client"
for c in 1 2 8; do
  echo "lifecycles: $("$C" "$U" "$UT" "$WT" "$c" "$N")"
done
echo "# jobs in the database: $(sqlite3 "$T/db" 'SELECT count(*) FROM jobs') ($(sqlite3 "$T/db" "SELECT count(*) FROM jobs WHERE state='succeeded'") succeeded)"
if command -v wrk >/dev/null; then
  ID=$(sqlite3 "$T/db" 'SELECT max(id) FROM jobs')
  echo "# wrk -t2 -c64 -d${DUR}s GET /api/v1/jobs/$ID"
  wrk -t2 -c64 -d"${DUR}s" --latency -H "Authorization: Bearer $UT" "$U/api/v1/jobs/$ID" >"$T/wrk"
  rps=$(awk '/^Requests\/sec/ {print $2}' "$T/wrk")
  p50=$(awk '$1 == "50%" {print $2}' "$T/wrk")
  p99=$(awk '$1 == "99%" {print $2}' "$T/wrk")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$T/wrk")
  echo "status reads: requests_per_second=$rps p50=$p50 p99=$p99 non_2xx=${non2xx:-0}"
else
  echo "# wrk not installed: latency part skipped"
fi
