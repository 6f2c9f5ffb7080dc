#!/bin/bash
# read_opts.sh -- TAP: the read options of a structure upload (?types=,
# ?frame=) are stored and reach every reader.  A real pelmapd on loopback
# (ephemeral port, temporary SQLite file) and real pelmap-worker processes,
# first in --db mode, then in --server mode, on the same structures:
#
#  - a LAMMPS dump whose numeric types need ?types=Zr+Cu (reversed with
#    respect to the potential's element order Cu Zr, so a lost option maps
#    the species wrongly): the per-atom species of the result match the
#    generator's, and the energy equals that of the same atoms uploaded as
#    extxyz with species names;
#  - a two-frame extxyz uploaded with ?frame=1 (frames of different atom
#    counts): natoms, atom ids and energy equal those of frame 1 uploaded
#    alone; the extxyz export of the result holds frame 1's atoms;
#  - the same bytes with other options get another id (same options: the
#    same id); GET /structures/{id} shows types and frame; GET .../file sends
#    X-Pelmap-Types / X-Pelmap-Frame only when set.
set -u
. "${PELMAP_SRCDIR:-$(dirname "$0")/../..}/tests/service/lib.sh"
svc_init ropts
DATA=$SRC/tests/cli/cuzr_b2_250.data
upload() { # upload FILE QUERY -> "STATUS ID"
  local st
  st=$(api POST "/api/v1/structures?$2" -H 'Content-Type: application/octet-stream' --data-binary @"$1")
  echo "$st $(jget "$T/body" 'j["id"]')"
}
submit_energy() { # submit_energy STRUCTURE_ID -> job id (an energy job, default potential)
  api POST /api/v1/jobs -H 'Content-Type: application/json' \
    --data-binary "{\"kind\":\"energy\",\"structure\":$1}" >/dev/null
  jget "$T/body" 'j["id"]'
}

# ---------------------------------------------------------------- inputs
# From the jittered B2 crystal: a Cu64Zr36-like relabelling (seeded), then
#  t.dump   one frame, ITEM: ATOMS id type x y z with type 1 = Zr, 2 = Cu
#  t.xyz    the same atoms as extxyz with species names (the reference)
#  m.xyz    two frames: 250 atoms, then 240 atoms shifted differently
#  m1.xyz   frame 1 of m.xyz alone (the reference)
#  expect.json  species by id of t.dump; ids and first position of frame 1
"$PY" - "$DATA" "$T" <<'EOF' || { echo "Bail out! cannot write the inputs"; exit 1; }
import json, random, sys
src, out = sys.argv[1], sys.argv[2]
lines = open(src).read().split("\n")
i = next(k for k, l in enumerate(lines) if l.startswith("Atoms")) + 2
atoms = []
for l in lines[i:]:
    f = l.split()
    if len(f) < 5:
        break
    atoms.append((int(f[0]), float(f[2]), float(f[3]), float(f[4])))
L = 16.3
rng = random.Random(11)
species = {a[0]: ("Zr" if rng.random() < 0.36 else "Cu") for a in atoms}
def jitter(a, s):
    return (a[0], a[1] + rng.uniform(-s, s), a[2] + rng.uniform(-s, s), a[3] + rng.uniform(-s, s))
def xyz(frame):
    t = ['%d' % len(frame),
         'Lattice="%g 0 0 0 %g 0 0 0 %g" Properties=species:S:1:pos:R:3:id:I:1 pbc="T T T"' % (L, L, L)]
    t += ["%s %.6f %.6f %.6f %d" % (species[a[0]], a[1], a[2], a[3], a[0]) for a in frame]
    return "\n".join(t) + "\n"
t = [jitter(a, 0.05) for a in atoms]
with open(out + "/t.dump", "w") as f:
    f.write("ITEM: TIMESTEP\n0\nITEM: NUMBER OF ATOMS\n%d\n" % len(t))
    f.write("ITEM: BOX BOUNDS pp pp pp\n0 %g\n0 %g\n0 %g\n" % (L, L, L))
    f.write("ITEM: ATOMS id type x y z\n")
    for a in t:
        f.write("%d %d %.6f %.6f %.6f\n" % (a[0], 1 if species[a[0]] == "Zr" else 2, a[1], a[2], a[3]))
open(out + "/t.xyz", "w").write(xyz(t))
f0 = [jitter(a, 0.05) for a in atoms]
f1 = [jitter(a, 0.08) for a in atoms[:240]]
open(out + "/m.xyz", "w").write(xyz(f0) + xyz(f1))
open(out + "/m1.xyz", "w").write(xyz(f1))
json.dump({"species": {str(k): v for k, v in species.items()},
           "ids1": [a[0] for a in f1], "first1": f1[0][1:], "first0": f0[0][1:]},
          open(out + "/expect.json", "w"))
EOF

svc_start

# ---------------------------------------------------------------- uploads
read -r st ST <<<"$(upload "$T/t.dump" 'name=t.dump&types=Zr+Cu')"
[ "$st" = 201 ] && [ "$(jget "$T/body" 'j["types"], j["frame"], j["species"]["Zr"] + j["species"]["Cu"]')" = "Zr Cu 0 250" ]
ok $? "dump with ?types=Zr+Cu -> 201, metadata shows types 'Zr Cu', frame 0"
read -r st ST2 <<<"$(upload "$T/t.dump" 'name=t.dump&types=Zr%20%20Cu')"
[ "$st" = 200 ] && [ "$ST2" = "$ST" ]
ok $? "same bytes, same types (other spacing) -> 200, same id"
read -r st STX <<<"$(upload "$T/t.dump" 'name=t.dump&types=Cu+Zr')"
[ "$st" = 201 ] && [ -n "$STX" ] && [ "$STX" != "$ST" ]
ok $? "same bytes, other types -> 201, another id"
read -r st SR <<<"$(upload "$T/t.xyz" 'name=t.xyz')"
[ "$st" = 201 ] && [ "$(jget "$T/body" 'j["types"], j["frame"]')" = "None 0" ]
ok $? "reference extxyz without options -> types null, frame 0"
read -r st SM0 <<<"$(upload "$T/m.xyz" 'name=m.xyz')"
[ "$st" = 201 ] && [ "$(jget "$T/body" 'j["natoms"]')" = 250 ]
ok $? "two-frame extxyz without options: frame 0, 250 atoms"
read -r st SM1 <<<"$(upload "$T/m.xyz" 'name=m.xyz&frame=1')"
[ "$st" = 201 ] && [ "$SM1" != "$SM0" ] && [ "$(jget "$T/body" 'j["natoms"], j["frame"]')" = "240 1" ]
ok $? "the same bytes with ?frame=1 -> 201, another id, 240 atoms, frame 1"
read -r st SM1b <<<"$(upload "$T/m.xyz" 'name=m.xyz&frame=1')"
[ "$st" = 200 ] && [ "$SM1b" = "$SM1" ]
ok $? "?frame=1 again -> 200, same id"
read -r st SR1 <<<"$(upload "$T/m1.xyz" 'name=m1.xyz')"
[ "$st" = 201 ]
ok $? "frame 1 alone uploaded (reference)"
st=$(api POST '/api/v1/structures?name=t.dump&types=Zr%0D%0AX-Evil:+1' -H 'Content-Type: application/octet-stream' --data-binary @"$T/t.dump")
[ "$st" = 400 ]
ok $? "types with control characters -> 400 (got $st)"

api GET "/api/v1/structures/$ST" >/dev/null
[ "$(jget "$T/body" 'j["types"], j["frame"]')" = "Zr Cu 0" ]
ok $? "GET /structures/$ST shows types and frame"
st=$(api GET "/api/v1/structures/$ST/file" -D "$T/hdr")
[ "$st" = 200 ] && grep -qi '^X-Pelmap-Types: Zr Cu' "$T/hdr" && ! grep -qi '^X-Pelmap-Frame' "$T/hdr" &&
  cmp -s "$T/body" "$T/t.dump"
ok $? "GET .../file: original bytes, X-Pelmap-Types: Zr Cu, no X-Pelmap-Frame"
st=$(api GET "/api/v1/structures/$SM1/file" -D "$T/hdr")
[ "$st" = 200 ] && grep -qi '^X-Pelmap-Frame: 1' "$T/hdr" && ! grep -qi '^X-Pelmap-Types' "$T/hdr"
ok $? "GET .../file of the frame-1 upload: X-Pelmap-Frame: 1, no X-Pelmap-Types"
st=$(api GET "/api/v1/structures/$SM0/file" -D "$T/hdr")
[ "$st" = 200 ] && ! grep -qi '^X-Pelmap-\(Frame\|Types\)' "$T/hdr"
ok $? "GET .../file without options: neither header"

# ---------------------------------------------------------------- jobs, per mode
check_results() { # check_results MODE JT JR JM1 JR1
  local mode=$1 jt=$2 jr=$3 jm=$4 jr1=$5 st
  for j in "$jt" "$jr" "$jm" "$jr1"; do
    api GET "/api/v1/jobs/$j/result" >/dev/null
    cp "$T/body" "$T/r$j.json"
  done
  # species by id from the result vs the generator's labelling
  "$PY" - "$T/r$jt.json" "$T/expect.json" <<'EOF'
import json, sys
r, e = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
pa = r["per_atom"]
got = {str(i): s for i, s in zip(pa["id"], pa["species"])}
sys.exit(0 if got == e["species"] and r["structure"]["natoms"] == 250 else 1)
EOF
  ok $? "$mode: dump ?types=Zr+Cu: per-atom species by id as generated"
  [ "$("$PY" -c "import json,sys
a, b = (json.load(open(f))['summary']['energy'] for f in sys.argv[1:3])
print(abs(a - b) <= 1e-9 * abs(b))" "$T/r$jt.json" "$T/r$jr.json")" = True ]
  ok $? "$mode: dump energy = energy of the same atoms as named extxyz"
  "$PY" - "$T/r$jm.json" "$T/r$jr1.json" "$T/expect.json" <<'EOF'
import json, sys
r, ref, e = (json.load(open(f)) for f in sys.argv[1:4])
good = (r["structure"]["natoms"] == 240 and r["per_atom"]["id"] == e["ids1"]
        and abs(r["summary"]["energy"] - ref["summary"]["energy"]) <= 1e-9 * abs(ref["summary"]["energy"]))
sys.exit(0 if good else 1)
EOF
  ok $? "$mode: ?frame=1: 240 atoms, frame 1's ids, energy of frame 1 alone"
  st=$(api GET "/api/v1/jobs/$jm/result?format=extxyz")
  "$PY" - "$T/body" "$T/expect.json" <<'EOF'
import json, sys
l = open(sys.argv[1]).read().split("\n")
e = json.load(open(sys.argv[2]))
x = [float(v) for v in l[2].split()[1:4]]
sys.exit(0 if l[0].strip() == "240" and max(abs(a - b) for a, b in zip(x, e["first1"])) < 1e-5 else 1)
EOF
  ok $? "$mode: extxyz export of the ?frame=1 job holds frame 1 (HTTP $st)"
  st=$(api GET "/api/v1/jobs/$jt/result?format=extxyz")
  "$PY" - "$T/body" "$T/expect.json" <<'EOF'
import json, sys
l = [s for s in open(sys.argv[1]).read().split("\n") if s.strip()]
e = json.load(open(sys.argv[2]))
h = l[1]
props = h.split("Properties=")[1].split()[0].split(":")
names = props[0::3]
cols, k = {}, 0
for n, t, c in zip(props[0::3], props[1::3], props[2::3]):
    cols[n] = k
    k += int(c)
sp = {l[2 + i].split()[cols["id"]]: l[2 + i].split()[cols["species"]] for i in range(250)}
sys.exit(0 if int(l[0]) == 250 and sp == e["species"] else 1)
EOF
  ok $? "$mode: extxyz export of the dump job names the species as uploaded (HTTP $st)"
}

JT=$(submit_energy "$ST") JR=$(submit_energy "$SR") JM=$(submit_energy "$SM1") JR1=$(submit_energy "$SR1")
timeout 120 "$W" --db "$T/db" --once --lease 10 --name local1 -q 2>"$T/wdb.log"
ok $? "pelmap-worker --db --once runs the four jobs"
check_results db "$JT" "$JR" "$JM" "$JR1"

JT=$(submit_energy "$ST") JR=$(submit_energy "$SR") JM=$(submit_energy "$SM1") JR1=$(submit_energy "$SR1")
timeout 120 "$W" --server "$U" --token "$WK" --once --poll 0.2 --lease 10 --name remote1 -q 2>"$T/whttp.log"
ok $? "pelmap-worker --server --once runs the four jobs"
check_results server "$JT" "$JR" "$JM" "$JR1"

svc_stop_daemon
ok $? "pelmapd: clean exit on SIGTERM"
svc_no_sanitizer_reports
ok $? "no sanitizer report from pelmapd or the workers"
grep -E -A5 'Sanitizer|runtime error' "$T"/*.log 2>/dev/null | head -20 | sed 's/^/# /'
svc_done
