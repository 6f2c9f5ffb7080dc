#!/bin/bash
# api_http.sh -- TAP: a real pelmapd on loopback (ephemeral port, temporary
# SQLite file), driven through HTTP with curl.  The worker side is played by
# curl calls too (claim / heartbeat / complete / fail), so that this test
# does not depend on pelmap-worker.
#
#  1. lifecycle: upload (raw and multipart), dedup by sha256, submit with
#     Idempotency-Key, claim, heartbeat with progress, complete, result as
#     JSON / CSV / extxyz, events
#  2. stale attempts -> 409; lease expiry -> requeued with backoff;
#     max_attempts -> failed with the reason; cancel (heartbeat says so)
#  3. two users: neither can list, read, cancel or delete the other's
#     objects (404); admin sees all; the user role cannot claim (403)
#  4. a catalogue of malformed uploads and requests, each with its status
#     and message; the daemon still serves afterwards and lost nothing
#  5. limits: body size (413 before reading), atoms, queued jobs (429),
#     requests per second (429 + Retry-After)
#  6. static files with path traversal and symlink escapes refused
#  7. metrics, openapi.json, SIGTERM shutdown, TLS
#  8. pelmapd killed with SIGKILL during a burst of submissions: after a
#     restart every job whose POST was answered 201 exists and
#     PRAGMA integrity_check is ok
set -u
B=${PELMAP_BUILDDIR:-.}
SRC=${PELMAP_SRCDIR:-$(dirname "$0")/../..}
D=$B/server/pelmapd
[ -x "$D" ] || { echo "1..0 # SKIP $D not built"; exit 0; }
command -v curl >/dev/null || { echo "1..0 # SKIP curl missing"; exit 0; }
T=$(mktemp -d /tmp/pelmap-api.XXXXXX)
PID=
cleanup() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
N=0 FAIL=0
ok() { # ok STATUS "what"
  N=$((N + 1))
  if [ "$1" -eq 0 ]; then echo "ok $N - $2"; else echo "not ok $N - $2"; FAIL=$((FAIL + 1)); fi
}
sql() { sqlite3 -cmd ".timeout 10000" "$T/db" "$1"; }

start() { # start [extra pelmapd options]: (re)start the daemon on the same db
  rm -f "$T/port"
  "$D" --db "$T/db" --listen 127.0.0.1:0 --port-file "$T/port" --web "$T/web" \
    --retry-backoff 0.2 --reap-interval 0.1 --threads 4 --quiet "$@" 2>>"$T/log" &
  PID=$!
  local i=0
  while [ ! -s "$T/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
  U=http://127.0.0.1:$(cat "$T/port" 2>/dev/null)
}

# req METHOD PATH TOKEN [curl args]: status in $S, body in $T/body, headers in $T/hdr
req() {
  local m=$1 p=$2 tok=$3
  shift 3
  local auth=()
  [ -n "$tok" ] && auth=(-H "Authorization: Bearer $tok")
  S=$(curl -sS --max-time 20 -o "$T/body" -D "$T/hdr" -w '%{http_code}' -X "$m" "${auth[@]}" "$@" "$U$p" 2>>"$T/curl.err")
}
json() { # json METHOD PATH TOKEN BODY [curl args]
  local m=$1 p=$2 tok=$3 body=$4
  shift 4
  req "$m" "$p" "$tok" -H 'Content-Type: application/json' --data-binary "$body" "$@"
}
# expect STATUS "what" [PATTERN...]: the last response had STATUS and every PATTERN (grep -E)
expect() {
  local want=$1 what=$2 bad=0
  shift 2
  [ "$S" = "$want" ] || bad=1
  for pat in "$@"; do grep -Eq -- "$pat" "$T/body" || bad=1; done
  ok $bad "$what"
  [ $bad -eq 0 ] || echo "#   got $S: $(head -c 400 "$T/body")"
}
# An error in the documented shape
expect_err() {
  local want=$1 what=$2
  shift 2
  expect "$want" "$what" '^\{"error":\{"code":"[a-z_]+","message":".+"\}\}$' "$@"
}
field() { sed -n "s/.*\"$1\":\([0-9][0-9]*\).*/\1/p" "$T/body" | head -1; }
jid() { sed -n 's/^{"id":\([0-9][0-9]*\).*/\1/p' "$T/body"; }

# ---------------------------------------------------------------- set-up
mkdir -p "$T/web" "$T/outside"
echo '<!doctype html><title>pelmap</title>' >"$T/web/index.html"
echo 'secret' >"$T/outside/secret.txt"
echo 'hidden' >"$T/web/.hidden"
ln -s "$T/outside/secret.txt" "$T/web/escape.txt"
ALICE=$("$D" user add alice --db "$T/db" 2>/dev/null)
BOB=$("$D" user add bob --role user --db "$T/db" 2>/dev/null)
WK=$("$D" user add w1 --role worker --db "$T/db" 2>/dev/null)
ROOT=$("$D" user add root --admin --db "$T/db" 2>/dev/null)
CAROL=$("$D" user add carol --rate 3 --db "$T/db" 2>/dev/null)
DAVE=$("$D" user add dave --max-queued 1 --max-upload 2000 --max-atoms 1 --db "$T/db" 2>/dev/null)
ok $([ ${#ALICE} -eq 64 ] && [ ${#ROOT} -eq 64 ] && [ "$ALICE" != "$BOB" ]; echo $?) "user add prints a 64-character token"
ok $([ "$(sql "SELECT count(*) FROM users WHERE token_hash = '$ALICE'")" = 0 ] && \
     [ "$(sql "SELECT length(token_hash) FROM users WHERE name='alice'")" = 64 ]; echo $?) \
  "only a hash of the token is stored"
"$D" user add alice --db "$T/db" >/dev/null 2>&1
ok $([ $? -ne 0 ]; echo $?) "user add refuses a duplicate name"

start
req GET /healthz ""
expect 200 "healthz" '"status":"ok"'

cat >"$T/two.xyz" <<'EOF'
2
Lattice="20 0 0 0 20 0 0 0 20" Properties=species:S:1:pos:R:3 pbc="T T T"
Cu 1.0 1.0 1.0
Zr 3.5 1.0 1.0
EOF
cp "$SRC/tests/data/io/cuzr_tri.data" "$T/tri.data"

# ---------------------------------------------------------------- 1. lifecycle
req POST '/api/v1/structures?name=two.xyz' "$ALICE" -H 'Content-Type: application/octet-stream' --data-binary @"$T/two.xyz"
expect 201 "upload extxyz (raw body) -> 201" '"natoms":2' '"species":\{"Cu":1,"Zr":1\}' '"format":"extxyz"' '"sha256":"[0-9a-f]{64}"'
SA=$(jid)
req POST '/api/v1/structures?name=again.xyz' "$ALICE" -H 'Content-Type: application/octet-stream' --data-binary @"$T/two.xyz"
expect 200 "same bytes again -> 200 with the same id" "^\{\"id\":$SA,"
req POST /api/v1/structures "$ALICE" -F "file=@$T/tri.data"
expect 201 "upload LAMMPS data (multipart) -> 201" '"natoms":5' '"format":"lammps-data"' '"name":"tri.data"'
ST=$(jid)
req GET "/api/v1/structures/$SA" "$ALICE"
expect 200 "get structure" '"box":\{"lo":\[' '"len":\[20,20,20\]'
req GET '/api/v1/structures?limit=1' "$ALICE"
ok $([ "$S" = 200 ] && grep -qi '^X-Total-Count: 2' "$T/hdr" && [ "$(grep -o '"id":' "$T/body" | wc -l)" = 1 ]; echo $?) \
  "list structures: a page of 1, X-Total-Count 2"
req GET "/api/v1/structures/$ST/file" "$ALICE"
ok $([ "$S" = 200 ] && cmp -s "$T/body" "$T/tri.data" && grep -qi '^X-Pelmap-Format: lammps-data' "$T/hdr"; echo $?) \
  "file download returns the original bytes"
req GET /api/v1/potentials "$ALICE"
expect 200 "the bundled potential is listed" '"name":"CuZr_mm.eam.fs"' '"default":true' '"elements":\["Cu","Zr"\]'
PDEF=$(jid)
req POST '/api/v1/potentials' "$ALICE" -F file=@/usr/share/lammps/potentials/CuNi.eam.alloy
expect 201 "upload a setfl potential (multipart)" '"style":"eam/alloy"' '"elements":\["Ni","Cu"\]' '"owner":"alice"'
PCU=$(jid)

json POST /api/v1/jobs "$ALICE" "{\"kind\":\"energy\",\"structure\":$SA}" -H 'Idempotency-Key: k1'
expect 201 "submit energy job (default potential)" '"state":"queued"' "\"potential\":$PDEF" '"attempt":0'
J1=$(jid)
ok $(grep -qi "^Location: /api/v1/jobs/$J1" "$T/hdr"; echo $?) "Location header"
json POST /api/v1/jobs "$ALICE" "{\"kind\":\"energy\",\"structure\":$SA}" -H 'Idempotency-Key: k1'
expect 200 "same Idempotency-Key -> the same job" "^\{\"id\":$J1,"
json POST /api/v1/worker/claim "$WK" '{"worker":"fake-1","kinds":["energy"],"lease":30}'
expect 200 "worker claims the job" "\"id\":$J1" '"attempt":1' "\"structure\":$SA" '"params":\{'
json POST "/api/v1/jobs/$J1/heartbeat" "$WK" '{"attempt":1,"progress":0.5,"message":"half way"}'
expect 200 "heartbeat" '"cancel":false' '"lease_expires":'
req GET "/api/v1/jobs/$J1" "$ALICE"
expect 200 "job shows running, progress and worker" '"state":"running"' '"progress":0.5' '"message":"half way"' '"worker":"fake-1"'
req GET "/api/v1/jobs/$J1/result" "$ALICE"
expect_err 409 "no result while running"
json POST "/api/v1/jobs/$J1/heartbeat" "$WK" '{"attempt":2,"progress":0.5}'
expect_err 409 "heartbeat of a wrong attempt -> 409" 'stale_attempt'
RES='{"kind":"energy","summary":{"energy":-7.5},"per_atom":{"id":[1,2],"species":["Cu","Zr"],"energy":[-3.25,-4.25],"fx":[0.5,-0.5]}}'
json POST "/api/v1/jobs/$J1/complete" "$WK" "{\"attempt\":1,\"result\":$RES}"
expect 200 "complete"
json POST "/api/v1/jobs/$J1/complete" "$WK" '{"attempt":1,"result":{"kind":"energy","other":1}}'
expect_err 409 "second completion -> 409 (result stored once)"
req GET "/api/v1/jobs/$J1/result" "$ALICE"
expect 200 "result JSON (the first one)" '"energy":-7.5'
ok $(grep -q '"other"' "$T/body"; [ $? -ne 0 ]; echo $?) "the second result was not stored"
req GET "/api/v1/jobs/$J1/result?format=csv" "$ALICE"
expect 200 "result as CSV" '^id,species,energy,fx$' '^1,Cu,-3.25,0.5$' '^2,Zr,-4.25,-0.5$'
req GET "/api/v1/jobs/$J1/result?format=extxyz" "$ALICE"
expect 200 "result as extxyz with per-atom columns" '^2$' 'energy' '-4.25'
req GET "/api/v1/jobs/$J1/events" "$ALICE"
expect 200 "events" '"from":null,"to":"queued"' '"from":"queued","to":"running".*"worker":"fake-1"' '"from":"running","to":"succeeded"'

# ---------------------------------------------------------------- 2. leases, attempts, cancel
json POST /api/v1/jobs "$ALICE" '{"kind":"noop","max_attempts":2}'
J2=$(jid)
json POST /api/v1/worker/claim "$WK" '{"worker":"fake-2","kinds":["noop"],"lease":0.3}'
expect 200 "claim with a 0.3 s lease" "\"id\":$J2" '"attempt":1'
sleep 0.7
req GET "/api/v1/jobs/$J2" "$ALICE"
expect 200 "expired lease -> requeued with the reason" '"state":"queued"' 'lease expired' '"not_before":'
json POST "/api/v1/jobs/$J2/complete" "$WK" '{"attempt":1,"result":{}}'
expect_err 409 "completion from the expired attempt -> 409"
sleep 0.3
json POST /api/v1/worker/claim "$WK" '{"worker":"fake-3","kinds":["noop"],"lease":0.3}'
expect 200 "claimed again after the backoff: attempt 2" "\"id\":$J2" '"attempt":2'
sleep 0.7
req GET "/api/v1/jobs/$J2" "$ALICE"
expect 200 "after max_attempts the job failed with the reason" '"state":"failed"' 'attempt 2 of 2'
json POST /api/v1/jobs "$ALICE" '{"kind":"noop"}'
J3=$(jid)
json POST /api/v1/worker/claim "$WK" '{"worker":"fake-4","lease":30}'
expect 200 "claim for cancel" "\"id\":$J3"
json POST "/api/v1/jobs/$J3/fail" "$WK" '{"attempt":1,"error":"transient","retryable":true}'
expect 200 "retryable failure"
req GET "/api/v1/jobs/$J3" "$ALICE"
expect 200 "retryable failure requeues" '"state":"queued"' '"error":"transient"'
sleep 0.3
json POST /api/v1/worker/claim "$WK" '{"worker":"fake-4","lease":30}'
expect 200 "claimed again" "\"id\":$J3" '"attempt":2'
req POST "/api/v1/jobs/$J3/cancel" "$ALICE"
expect 200 "cancel a running job" '"state":"cancelled"'
json POST "/api/v1/jobs/$J3/heartbeat" "$WK" '{"attempt":2,"progress":0.1}'
expect 200 "the heartbeat tells the worker" '"cancel":true'
json POST "/api/v1/jobs/$J3/complete" "$WK" '{"attempt":2,"result":{}}'
expect_err 409 "completing a cancelled job -> 409"
req POST "/api/v1/jobs/$J3/cancel" "$ALICE"
expect_err 409 "cancel twice -> 409"

# ---------------------------------------------------------------- 3. two users
json POST /api/v1/jobs "$ALICE" "{\"kind\":\"energy\",\"structure\":$ST}"
JA=$(jid)
req POST '/api/v1/structures?name=b.xyz' "$BOB" --data-binary @"$T/two.xyz"
SB=$(jid)
ok $([ "$S" = 201 ] && [ "$SB" != "$SA" ]; echo $?) "bob's identical upload is his own structure"
req GET /api/v1/structures "$BOB"
ok $([ "$S" = 200 ] && grep -qi '^X-Total-Count: 1' "$T/hdr" && ! grep -q "\"id\":$SA," "$T/body"; echo $?) "bob lists only his structure"
req GET /api/v1/jobs "$BOB"
ok $([ "$S" = 200 ] && grep -qi '^X-Total-Count: 0' "$T/hdr"; echo $?) "bob lists no jobs"
req GET "/api/v1/structures/$SA" "$BOB";       expect_err 404 "bob cannot read alice's structure"
req GET "/api/v1/structures/$SA/file" "$BOB";  expect_err 404 "bob cannot download alice's file"
req DELETE "/api/v1/structures/$SA" "$BOB";    expect_err 404 "bob cannot delete alice's structure"
req GET "/api/v1/jobs/$J1" "$BOB";             expect_err 404 "bob cannot read alice's job"
req GET "/api/v1/jobs/$J1/result" "$BOB";      expect_err 404 "bob cannot read alice's result"
req GET "/api/v1/jobs/$J1/events" "$BOB";      expect_err 404 "bob cannot read alice's events"
req POST "/api/v1/jobs/$JA/cancel" "$BOB";     expect_err 404 "bob cannot cancel alice's job"
req GET "/api/v1/potentials/$PCU" "$BOB";      expect_err 404 "bob cannot see alice's potential"
req DELETE "/api/v1/potentials/$PCU" "$BOB";   expect_err 404 "bob cannot delete alice's potential"
json POST /api/v1/jobs "$BOB" "{\"kind\":\"energy\",\"structure\":$SA}"
expect_err 404 "bob cannot submit on alice's structure" 'structure'
json POST /api/v1/jobs "$BOB" "{\"kind\":\"energy\",\"structure\":$SB,\"potential\":$PCU}"
expect_err 404 "bob cannot use alice's potential" 'potential'
req GET "/api/v1/jobs/$JA" "$ALICE";           expect 200 "alice still has her job" '"state":"queued"'
req GET "/api/v1/jobs/$J1" "$ROOT";            expect 200 "admin reads any job"
req GET /api/v1/jobs "$ROOT"
ok $([ "$S" = 200 ] && [ "$(sed -n 's/^X-Total-Count: \([0-9]*\).*/\1/ip' "$T/hdr")" = "$(sql 'SELECT count(*) FROM jobs')" ]; echo $?) "admin lists all jobs"
json POST /api/v1/worker/claim "$ALICE" '{"worker":"sneaky"}'
expect_err 403 "a user token cannot claim"
json POST "/api/v1/jobs/$JA/complete" "$ALICE" '{"attempt":1,"result":{}}'
expect_err 403 "a user token cannot complete"
# fairness: alice queues 10 high-priority jobs, bob one; bob's is claimed next
for i in $(seq 1 10); do json POST /api/v1/jobs "$ALICE" '{"kind":"noop","priority":100}'; done
json POST /api/v1/jobs "$BOB" '{"kind":"noop"}'
JB=$(jid)
json POST /api/v1/worker/claim "$WK" '{"worker":"fair","kinds":["noop"],"lease":30}'
expect 200 "fairness: bob's single job is not starved by alice's ten" "\"id\":$JB"
json POST "/api/v1/jobs/$JB/complete" "$WK" '{"attempt":1,"result":{"kind":"noop"}}'
json POST /api/v1/worker/claim "$WK" '{"worker":"fair","kinds":["noop"],"lease":30}'
expect 200 "then alice's highest-priority job" '"user":[0-9]+' '"params":\{'
for j in $(sql "SELECT id FROM jobs WHERE kind='noop' AND priority=100"); do req POST "/api/v1/jobs/$j/cancel" "$ALICE"; done
req DELETE "/api/v1/structures/$ST" "$ALICE"
expect_err 409 "deleting a structure a queued job uses -> 409"
req DELETE "/api/v1/structures/$SB" "$BOB"
expect 204 "bob deletes his unused structure"

# ---------------------------------------------------------------- 4. bad input catalogue
up() { req POST "/api/v1/structures?name=$1" "$ALICE" -H 'Content-Type: application/octet-stream' --data-binary @"$2"; }
printf '5\n\nCu 0 0 0\nZr 1 1 1\n' >"$T/trunc.xyz"
up trunc.xyz "$T/trunc.xyz";  expect_err 400 "truncated extxyz -> 400 naming the line" 'trunc.xyz:[0-9]+'
head -c 300 "$T/tri.data" >"$T/trunc.data"
up trunc.data "$T/trunc.data"; expect_err 400 "truncated LAMMPS data -> 400" 'trunc.data:[0-9]+'
head -c 2000 /dev/urandom >"$T/garbage.bin"
up garbage.bin "$T/garbage.bin"; expect_err 415 "garbage bytes -> 415 (format unknown)" 'format'
req POST '/api/v1/structures?name=g.xyz&format=extxyz' "$ALICE" --data-binary @"$T/garbage.bin" -H 'Content-Type: application/octet-stream'
expect_err 400 "garbage declared as extxyz -> 400"
sed 's/^5 atoms.*/7 atoms/' "$T/tri.data" >"$T/count.data"
up count.data "$T/count.data"; expect_err 400 "wrong atom count in a data file -> 400" 'count.data:[0-9]+'
printf '2\nLattice="20 0 0 0 20 0 0 0 20" Properties=species:S:1:pos:R:3\nCu nan 1 1\nZr 3 1 1\n' >"$T/nan.xyz"
up nan.xyz "$T/nan.xyz";      expect_err 400 "NaN coordinate -> 400" 'nan.xyz'
printf '2\nLattice="20 0 0 0 20 0 0 0 20" Properties=species:S:1:pos:R:3\nCu 1 1 1\nXx 3 1 1\n' >"$T/xx.xyz"
up xx.xyz "$T/xx.xyz";        expect_err 400 "unknown species -> 400" 'Xx'
printf '99999999999\n\nCu 0 0 0\n' >"$T/huge.xyz"
up huge.xyz "$T/huge.xyz";    expect_err 400 "huge declared atom count (xyz) -> 400"
sed 's/^5 atoms.*/2000000000 atoms/' "$T/tri.data" >"$T/huge.data"
up huge.data "$T/huge.data";  expect_err 400 "huge declared atom count (data) -> 400"
req POST '/api/v1/structures?format=pdb' "$ALICE" --data-binary @"$T/two.xyz" -H 'Content-Type: application/octet-stream'
expect_err 415 "unknown format name -> 415" 'pdb'
req POST /api/v1/structures "$ALICE" --data-binary @"$T/two.xyz" -H 'Content-Type: image/png'
expect_err 415 "unknown content type -> 415" 'image/png'
req POST /api/v1/structures "$ALICE" -H 'Content-Type: application/octet-stream' --data-binary ''
expect_err 400 "empty upload -> 400" 'empty'
req POST /api/v1/structures "$ALICE" -H 'Content-Type: multipart/form-data; boundary=XyZ' --data-binary $'--XyZ\r\nContent-Disposition: form-data; name="x"\r\n\r\nabc'
expect_err 400 "broken multipart -> 400" 'multipart'
req POST '/api/v1/potentials?name=bad.eam.fs' "$ALICE" --data-binary @"$T/garbage.bin" -H 'Content-Type: application/octet-stream'
expect_err 400 "garbage potential -> 400"
head -c 100000 /usr/share/lammps/potentials/CuZr_mm.eam.fs >"$T/trunc.eam.fs"
req POST '/api/v1/potentials?name=trunc.eam.fs' "$ALICE" --data-binary @"$T/trunc.eam.fs" -H 'Content-Type: application/octet-stream'
expect_err 400 "truncated potential -> 400 naming the line" 'trunc.eam.fs:[0-9]+'
req POST '/api/v1/potentials?style=meam' "$ALICE" --data-binary @"$T/trunc.eam.fs" -H 'Content-Type: application/octet-stream'
expect_err 415 "unknown potential style -> 415" 'meam'
json POST /api/v1/jobs "$ALICE" '{"kind":"energy",'
expect_err 400 "truncated JSON -> 400" 'invalid JSON'
json POST /api/v1/jobs "$ALICE" '[1,2]'
expect_err 400 "JSON array instead of object -> 400" 'object'
json POST /api/v1/jobs "$ALICE" "{\"kind\":\"energy\",\"structure\":$SA,\"bogus\":1}"
expect_err 400 "unknown field -> 400 naming it" 'bogus: unknown field'
json POST /api/v1/jobs "$ALICE" "{\"structure\":$SA}"
expect_err 400 "missing kind -> 400" 'kind: required'
json POST /api/v1/jobs "$ALICE" '{"kind":"teleport"}'
expect_err 400 "unknown kind -> 400" 'teleport'
json POST /api/v1/jobs "$ALICE" '{"kind":"energy","structure":"one"}'
expect_err 400 "structure of the wrong type -> 400" 'structure: must be an integer'
json POST /api/v1/jobs "$ALICE" '{"kind":"energy"}'
expect_err 400 "kind that needs a structure without one -> 400" 'structure: required'
json POST /api/v1/jobs "$ALICE" "{\"kind\":\"minimize\",\"structure\":$SA,\"params\":{\"ftol\":\"small\"}}"
expect_err 400 "param of the wrong type -> 400 naming it" 'ftol'
json POST /api/v1/jobs "$ALICE" "{\"kind\":\"minimize\",\"structure\":$SA,\"params\":{\"ftol\":-1}}"
expect_err 400 "param out of range -> 400 naming it" 'ftol'
json POST /api/v1/jobs "$ALICE" "{\"kind\":\"minimize\",\"structure\":$SA,\"params\":{\"warp\":9}}"
expect_err 400 "unknown param -> 400 naming it" 'warp'
json POST /api/v1/jobs "$ALICE" '{"kind":"noop","priority":1e400}'
expect_err 400 "non-finite number -> 400" 'priority'
DEEP=$(printf '%.0s[' $(seq 1 200))
json POST /api/v1/jobs "$ALICE" "{\"kind\":\"noop\",\"params\":$DEEP"
expect_err 400 "JSON nested 200 deep -> 400" 'nested'
req POST /api/v1/jobs "$ALICE" -H 'Content-Type: text/plain' --data-binary '{"kind":"noop"}'
expect_err 415 "job with a non-JSON content type -> 415"
json POST /api/v1/jobs "$ALICE" "{\"kind\":\"energy\",\"structure\":$SA,\"potential\":$PCU}"
expect_err 400 "structure species the potential lacks -> 400" 'species Zr'
json POST /api/v1/jobs "$ALICE" '{"kind":"energy","structure":999999}'
expect_err 404 "job on a structure that does not exist -> 404" 'structure'
json POST /api/v1/jobs "$ALICE" '{"kind":"noop"}' -H "Idempotency-Key: $(printf 'k%.0s' $(seq 1 200))"
expect_err 400 "Idempotency-Key too long -> 400" 'Idempotency-Key'
req GET /api/v1/jobs ""
expect_err 401 "no token -> 401" 'token'
ok $(grep -qi '^WWW-Authenticate: Bearer' "$T/hdr"; echo $?) "401 carries WWW-Authenticate"
req GET /api/v1/jobs "0000000000000000000000000000000000000000000000000000000000000000"
expect_err 401 "unknown token -> 401"
req GET /api/v1/jobs "" -H "Authorization: Basic YWxpY2U6eA=="
expect_err 401 "basic auth instead of a bearer token -> 401"
req GET /api/v1/jobs/abc "$ALICE";               expect_err 404 "non-numeric id -> 404"
req GET /api/v1/jobs/99999999 "$ALICE";          expect_err 404 "missing job -> 404"
req GET '/api/v1/jobs?limit=0' "$ALICE";         expect_err 400 "limit=0 -> 400" 'limit'
req GET '/api/v1/jobs?offset=-3' "$ALICE";       expect_err 400 "negative offset -> 400" 'offset'
req GET '/api/v1/jobs?state=sleeping' "$ALICE";  expect_err 400 "unknown state filter -> 400" 'state'
req PUT /api/v1/jobs "$ALICE" --data-binary x;   expect_err 405 "PUT on /jobs -> 405"
ok $(grep -qi '^Allow: GET, POST' "$T/hdr"; echo $?) "405 carries Allow"
req DELETE "/api/v1/jobs/$J1" "$ALICE";          expect_err 405 "DELETE a job -> 405"
req GET /api/v1/nothing "$ALICE";                expect_err 404 "unknown route -> 404"
req GET "/api/v1/jobs/$J1/result?format=pdf" "$ALICE"; expect_err 415 "unknown result format -> 415" 'pdf'
req GET "/api/v1/jobs/$JA/result" "$ALICE";      expect_err 409 "result of a queued job -> 409"
json POST "/api/v1/jobs/$JA/heartbeat" "$WK" '{"attempt":1,"progress":2}'
expect_err 400 "heartbeat progress out of range -> 400" 'progress'
json POST /api/v1/worker/claim "$WK" '{"kinds":["noop"]}'
expect_err 400 "claim without a worker name -> 400" 'worker: required'
json POST "/api/v1/jobs/$JA/complete" "$WK" '{"attempt":1}'
expect_err 400 "complete without a result -> 400" 'result'
# limits
head -c 5000 /dev/zero | tr '\0' 'x' >"$T/5k"
req POST /api/v1/structures "$DAVE" -H 'Content-Type: application/octet-stream' --data-binary @"$T/5k"
expect_err 413 "body over the user's upload limit -> 413" 'limit'
head -c 3000000 /dev/zero | tr '\0' 'x' >"$T/3m"
req POST /api/v1/structures "$DAVE" -H 'Content-Type: application/octet-stream' -H 'Transfer-Encoding: chunked' --data-binary @"$T/3m"
expect_err 413 "chunked body over the limit (counted while reading) -> 413"
req POST /api/v1/structures "$DAVE" -H 'Content-Type: application/octet-stream' --data-binary @"$T/two.xyz"
expect_err 413 "more atoms than the user's limit -> 413" 'atoms'
json POST /api/v1/jobs "$DAVE" '{"kind":"noop"}'
expect 201 "dave's first job"
json POST /api/v1/jobs "$DAVE" '{"kind":"noop"}'
expect_err 429 "queued-jobs limit -> 429" 'queued'
rl=0
for i in $(seq 1 12); do
  req GET /api/v1/me "$CAROL"
  if [ "$S" = 429 ]; then rl=1; break; fi
done
ok $([ $rl = 1 ] && grep -qi '^Retry-After: [1-9]' "$T/hdr" && grep -q rate_limited "$T/body"; echo $?) \
  "requests over the rate limit -> 429 with Retry-After"
req GET /api/v1/me "$ALICE" -H "X-Big: $(head -c 100000 /dev/zero | tr '\0' a)"
ok $([ "$S" = 431 ]; echo $?) "100 kB of request headers -> 431 (got $S)"
# static files
req GET / "";                      expect 200 "static index.html" 'pelmap'
req GET /../outside/secret.txt "" --path-as-is;  expect_err 400 "static: .. in the path -> 400"
req GET /%2e%2e/outside/secret.txt "" --path-as-is;  expect_err 400 "static: encoded .. -> 400"
req GET /escape.txt "";            expect_err 404 "static: symlink out of the web root -> 404"
req GET /.hidden "";               expect_err 400 "static: dot files refused"
ok $(! grep -q secret "$T/body"; echo $?) "nothing outside the web root was served"
# still serving, nothing accepted lost
req GET /healthz "";               expect 200 "daemon still healthy after the catalogue"
req GET "/api/v1/jobs/$JA" "$ALICE"; expect 200 "accepted job still there" '"state":"queued"'
ok $([ "$(sql "SELECT count(*) FROM structures WHERE owner = (SELECT id FROM users WHERE name='alice')")" = 2 ]; echo $?) \
  "no malformed upload was stored"

# ---------------------------------------------------------------- 7. metrics, openapi
req GET /metrics ""
expect 200 "metrics" '^pelmap_jobs\{state="succeeded",kind="energy"\} 1$' '^pelmap_job_retries_total 2$' \
  '^pelmap_http_requests_total\{code="404"\} [0-9]+' '^pelmap_workers_alive [1-9]'
req GET /api/v1/openapi.json ""
ok $([ "$S" = 200 ] && python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert "/api/v1/jobs" in d["paths"] and "params_minimize" in d["components"]["schemas"]' "$T/body"; echo $?) \
  "openapi.json is valid JSON with the routes and the kinds' schemas"
req GET /api/v1/kinds "$ALICE"
expect 200 "kinds listed" '"name":"energy"' '"name":"noop"'

# ---------------------------------------------------------------- 8. SIGKILL during a burst
: >"$T/answers"
burst() { # burst TAG: submit 60 jobs, log "status id"
  local i s
  for i in $(seq 1 60); do
    s=$(curl -sS --max-time 5 -o "$T/b.$1" -w '%{http_code}' -H "Authorization: Bearer $ALICE" \
      -H 'Content-Type: application/json' --data-binary '{"kind":"noop","priority":1}' "$U/api/v1/jobs" 2>/dev/null)
    echo "$s $(sed -n 's/^{"id":\([0-9][0-9]*\).*/\1/p' "$T/b.$1")" >>"$T/answers.$1"
  done
}
for k in 1 2 3 4; do burst $k & done
# kill once some submissions were answered (whatever the machine's speed)
for _ in $(seq 200); do
  [ "$(cat "$T"/answers.* 2>/dev/null | wc -l)" -ge 12 ] && break
  sleep 0.05
done
kill -9 "$PID"
wait "$PID" 2>/dev/null
wait
cat "$T"/answers.* >"$T/answers"
n201=$(grep -c '^201 [0-9]' "$T/answers")
ok $([ "$n201" -gt 0 ] && [ "$(grep -c '^201' "$T/answers")" = "$n201" ]; echo $?) "burst: $n201 submissions answered 201 before the kill"
start
missing=0
for id in $(sed -n 's/^201 //p' "$T/answers"); do
  [ "$(sql "SELECT count(*) FROM jobs WHERE id=$id AND state='queued'")" = 1 ] || missing=$((missing + 1))
done
ok $missing "after restart every job answered 201 exists ($missing missing)"
ok $([ "$(sql 'PRAGMA integrity_check')" = ok ]; echo $?) "PRAGMA integrity_check ok"
req GET /healthz ""; expect 200 "restarted daemon serves"

# ---------------------------------------------------------------- SIGTERM
kill -TERM "$PID"
wait "$PID"
rc=$?
PID=
ok $rc "SIGTERM: clean exit"

# ---------------------------------------------------------------- TLS
if command -v openssl >/dev/null && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T/key.pem" -out "$T/cert.pem" -days 1 -subj /CN=localhost >/dev/null 2>&1; then
  start --tls-cert "$T/cert.pem" --tls-key "$T/key.pem"
  S=$(curl -sS -k --max-time 10 -o "$T/body" -w '%{http_code}' "https://127.0.0.1:$(cat "$T/port")/healthz" 2>>"$T/curl.err")
  expect 200 "HTTPS with --tls-cert/--tls-key" '"status":"ok"'
  kill -TERM "$PID"; wait "$PID"; PID=
else
  N=$((N + 1)); echo "ok $N # SKIP openssl cannot make a test certificate"
fi

"$D" --help | grep -q -- '--tls-cert'
ok $? "--help lists the options"
grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error' "$T/log"
san=$?
ok $([ $san -ne 0 ]; echo $?) "no sanitizer report from pelmapd"
[ $san -ne 0 ] || grep -E -A5 'Sanitizer|runtime error' "$T/log" | head -20 | sed 's/^/# /'
echo "1..$N"
[ $FAIL -eq 0 ]
