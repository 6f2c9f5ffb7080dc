#!/usr/bin/env python3
"""test_desc.py -- black-box tests of the `descriptors` job kind (TAP).

Runs `pelmap descriptors` on the 500-atom Cu50Zr50 glass of tests/data/desc
(a short 0.5 ps MD for the vibrational MSD, to stay fast) and checks the
result against its own definitions: every field is present, every per_atom
array has natoms entries, the Voronoi volumes sum to the box volume,
vflex = msd * Omega^(1/3) per atom, L5FS = n5 / coordination, the S2 cutoffs
equal the reported troughs of the total g(r), the participation sums to the
number of modes it covers, the same seed gives an identical result and
another seed a different MSD, list-valued parameters work from the command
line, and bad parameters exit with status 2 naming the field.  The harmonic
MSD (all modes, dense) runs on the 250-atom B2 crystal of tests/cli.
"""
import json
import os
import subprocess
import sys

SRC = os.environ.get("PELMAP_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("PELMAP_BUILDDIR", ".")
PELMAP = os.path.join(BUILD, "pelmap")
GLASS = os.path.join(SRC, "tests", "data", "desc", "cuzr500.data")
B2 = os.path.join(SRC, "tests", "cli", "cuzr_b2_250.data")
POT = "/usr/share/lammps/potentials/CuZr_mm.eam.fs"
ALL = ["rdf", "voronoi", "l5fs", "s2", "msd", "vflex", "modes", "participation",
       "msd_harmonic"]
# opt-in (not in the default selection): the 700 K diffusive MSD and D2min
OPTIN = ["msd_diffusive", "d2min"]

n_test = 0
n_fail = 0


def ok(cond, what):
    global n_test, n_fail
    n_test += 1
    print("%s %d - %s" % ("ok" if cond else "not ok", n_test, what))
    if not cond:
        n_fail += 1
    sys.stdout.flush()
    return bool(cond)


def diag(msg):
    for line in str(msg).splitlines():
        print("# " + line)


def run(*args, timeout=600):
    p = subprocess.run([PELMAP] + [str(a) for a in args], capture_output=True,
                       text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def desc(data, *args):
    rc, out, err = run("descriptors", data, "--potential", POT, "--compact", *args)
    if rc != 0:
        diag("pelmap descriptors %s -> %d: %s" % (" ".join(map(str, args)), rc, err))
        return None
    try:
        return json.loads(out)
    except ValueError as e:
        diag("not JSON: %s" % e)
        return None


def rel_close(a, b, tol):
    return abs(a - b) <= tol * max(abs(a), abs(b), 1e-300)


def main():
    if not os.access(PELMAP, os.X_OK):
        print("1..0 # SKIP pelmap not built")
        return 0
    if not os.path.exists(POT):
        print("1..0 # SKIP %s missing (Debian lammps-data)" % POT)
        return 0

    # ---- the schema ----
    rc, out, _ = run("kinds", "--compact")
    kinds = {k["name"]: k for k in json.loads(out)} if rc == 0 else {}
    props = kinds.get("descriptors", {}).get("params", {}).get("properties", {})
    ok(props.get("only", {}).get("type") == "array"
       and props["only"].get("default") == ALL
       and props["only"].get("items", {}).get("enum") == ALL + OPTIN,
       "kinds: descriptors.only is an array of the descriptor names, default all but the opt-in msd_diffusive, d2min")
    ok(props.get("mode_fraction", {}).get("default") == 0.0025
       and props.get("msd_temperature", {}).get("default") == 300
       and props.get("msd_time", {}).get("default") == 100
       and props.get("s2_cutoffs", {}).get("default") == [0, 0, 0, 0],
       "kinds: descriptors defaults (mode_fraction 0.0025, 300 K, 100 ps, S2 at troughs)")

    # ---- the main run: everything but the harmonic MSD ----
    sel = "rdf,voronoi,l5fs,s2,msd,vflex,participation"
    args = ("--only", sel, "--msd-time", "0.5", "--seed", "4242")
    r = desc(GLASS, *args)
    if not ok(r is not None and r.get("kind") == "descriptors", "descriptors runs on the 500-atom glass"):
        print("1..%d" % n_test)
        return 1
    n = r["structure"]["natoms"]
    s = r["summary"]
    pa = r["per_atom"]
    ok(n == 500, "structure.natoms = 500")
    ok(s.get("computed") == ["rdf", "voronoi", "l5fs", "s2", "msd", "vflex", "modes", "participation"],
       "summary.computed = the selection + modes (needed by participation), in order")
    ok(r.get("seed") == 4242 and s.get("msd", {}).get("seed") == 4242, "seed recorded (result and summary.msd)")
    ok(set(props) == set(r.get("params", {})), "every parameter recorded in params")
    ok(r["params"].get("only") == ["rdf", "voronoi", "l5fs", "s2", "msd", "vflex", "participation"],
       "--only a,b,c normalized to an array")
    cols = ["id", "type", "species", "voronoi_volume", "coordination", "vor_n3", "vor_n4", "vor_n5",
            "vor_n6", "l5fs", "s2_c1", "s2_c2", "s2_c3", "s2_c4", "msd", "vflex", "participation"]
    missing = [c for c in cols if c not in pa]
    ok(not missing, "per_atom has every descriptor column%s" % (" (missing %s)" % missing if missing else ""))
    bad = [c for c in pa if len(pa[c]) != n]
    ok(not bad, "every per_atom array has natoms entries%s" % (" (not: %s)" % bad if bad else ""))
    ok("msd_harmonic" not in pa, "msd_harmonic not computed when not asked")

    # g(r)
    rdf = r.get("rdf", {})
    ok(set(rdf) == {"r", "total", "Cu-Cu", "Cu-Zr", "Zr-Zr"}
       and all(len(rdf[k]) == len(rdf["r"]) for k in rdf) and len(rdf["r"]) == 700,
       "rdf curves: r, total and the three partials, 14 A / 0.02 A = 700 bins")
    tr = s["rdf"]["troughs"]["total"]
    pk = s["rdf"]["peaks"]["total"]
    ok(len(tr) >= 4 and 3.5 < tr[0] < 4.2 and 6.0 < tr[1] < 6.8 and 2.6 < pk[0] < 3.1,
       "g(r): first troughs near the paper's 3.9 and 6.4 A, first peak near 2.8 A (%s)" % tr[:4])
    # S2 cutoffs are the reported troughs
    cut = s["s2"]["cutoffs"]
    ok(cut == tr[:4] and s["s2"]["cutoff_source"] == ["trough 1", "trough 2", "trough 3", "trough 4"]
       and s["s2"]["columns"] == ["s2_c1", "s2_c2", "s2_c3", "s2_c4"],
       "S2 cutoffs = the first four troughs of the total g(r) (%s)" % cut)
    ok(all(x < 0 for x in pa["s2_c1"]) and s["means"]["all"]["s2_c4"] < s["means"]["all"]["s2_c1"],
       "S2 negative and decreasing with the cutoff")

    # Voronoi
    vol = r["summary"]["volume"]
    vsum = sum(pa["voronoi_volume"])
    ok(rel_close(vsum, vol, 1e-9) and rel_close(s["voronoi"]["volume_sum"], vol, 1e-9),
       "Voronoi volumes sum to the box volume (%.6f vs %.6f)" % (vsum, vol))
    l5ok = all(abs(pa["l5fs"][i] - (pa["vor_n5"][i] / pa["coordination"][i] if pa["coordination"][i] else 0)) < 1e-12
               for i in range(n))
    ok(l5ok, "l5fs = n5 / coordination per atom")
    ok(all(pa["vor_n3"][i] + pa["vor_n4"][i] + pa["vor_n5"][i] + pa["vor_n6"][i] <= pa["coordination"][i]
           for i in range(n)), "n3+n4+n5+n6 <= coordination")
    top = s["voronoi"]["top"]
    ok(set(top) == {"all", "Cu", "Zr"} and len(top["Cu"]) == 10
       and top["Cu"][0]["count"] >= top["Cu"][-1]["count"]
       and sum(1 for i in range(n) if pa["species"][i] == "Cu"
               and [pa["vor_n3"][i], pa["vor_n4"][i], pa["vor_n5"][i], pa["vor_n6"][i]] == top["Cu"][0]["index"])
       == top["Cu"][0]["count"],
       "Voronoi top indices per species, counts match the per-atom indices (Cu top %s)" % top["Cu"][0]["index"])

    # MSD, vflex
    ok(all(x > 0 for x in pa["msd"]) and s["msd"]["temperature"] == 300 and s["msd"]["time"] == 0.5
       and s["msd"]["nsamples"] > 0, "msd > 0 per atom; 300 K, 0.5 ps recorded")
    vfl = all(rel_close(pa["vflex"][i], pa["msd"][i] * pa["voronoi_volume"][i] ** (1.0 / 3), 1e-12)
              for i in range(n))
    ok(vfl, "vflex = msd * Omega^(1/3) per atom")
    # means per species
    cu = [i for i in range(n) if pa["species"][i] == "Cu"]
    ok(rel_close(s["means"]["Cu"]["msd"], sum(pa["msd"][i] for i in cu) / len(cu), 1e-12),
       "summary.means.Cu.msd is the mean over Cu atoms")

    # modes, participation
    m = s["modes"]
    nlow = round(0.0025 * 3 * n)
    ok(m["nlow"] == nlow and m["nmodes"] == nlow and m["ndof"] == 3 * n and len(m["lowest_thz"]) == nlow
       and m["hessian"] == "analytic" and m["solver"].startswith("dense") and m["resid_max"] < 1e-6,
       "modes: %d lowest (0.25%% of 3N), dense solver for 500 atoms, residual %.1e" % (nlow, m["resid_max"]))
    ok(all(0 < f < 2 for f in m["lowest_thz"]), "lowest modes are positive and soft (%s THz)" % m["lowest_thz"])
    ok(rel_close(sum(pa["participation"]), nlow, 1e-9) and min(pa["participation"]) >= 0,
       "participation sums to nlow (Eq. 4 normalisation)")

    # ---- reproducibility ----
    r2 = desc(GLASS, *args)
    ok(r2 is not None and r2 == r, "same seed and params -> identical result")
    r3 = desc(GLASS, "--only", "msd", "--msd-time", "0.5", "--seed", "4243")
    ok(r3 is not None and r3["per_atom"]["msd"] != pa["msd"], "another seed -> a different msd")
    ok(r3 is not None and r3["summary"]["computed"] == ["msd"] and "rdf" not in r3
       and "voronoi_volume" not in r3["per_atom"], "--only msd computes only msd")

    # ---- list params from the command line and JSON ----
    r4 = desc(GLASS, "--only", "s2", "--s2-cutoffs", "3.5, 5", "--minimize", "false")
    ok(r4 is not None and r4["summary"]["computed"] == ["s2"] and r4["summary"]["s2"]["cutoffs"] == [3.5, 5]
       and r4["summary"]["s2"]["columns"] == ["s2_c1", "s2_c2"] and "s2_c3" not in r4["per_atom"]
       and "minimize" not in r4["summary"],
       "--s2-cutoffs 3.5,5: two given cutoffs, no g(r) needed, no minimisation")
    r5 = desc(GLASS, "--params", '{"only": ["voronoi", "rdf"], "s2_cutoffs": [0, 6]}', "--face-rel", "0.01")
    ok(r5 is not None and r5["summary"]["computed"] == ["rdf", "voronoi"]
       and r5["params"]["s2_cutoffs"] == [0, 6] and r5["summary"]["voronoi"]["face_rel"] == 0.01
       and rel_close(sum(r5["per_atom"]["voronoi_volume"]), vol, 1e-9)
       and sum(r5["per_atom"]["coordination"]) < sum(pa["coordination"]),
       "--params with a JSON list; face_rel threshold lowers the coordination, not the volumes")

    # ---- harmonic MSD (all modes, dense) on the small crystal ----
    r6 = desc(B2, "--only", "msd_harmonic", "--msd-temperature", "10")
    if ok(r6 is not None, "msd_harmonic runs on the 250-atom B2 crystal"):
        h = r6["summary"]["msd_harmonic"]
        ok(h["complete"] is True and h["modes_used"] == 3 * 250 - 3 and h["temperature"] == 10
           and len(r6["per_atom"]["msd_harmonic"]) == 250 and min(r6["per_atom"]["msd_harmonic"]) > 0
           and r6["summary"]["computed"] == ["modes", "msd_harmonic"],
           "msd_harmonic: all 3N-3 modes, per atom > 0, T recorded")

    # ---- bad params: exit 2, one line naming the field ----
    cases = [
        (("--only", "rdf,foo"), "only: must be a non-empty list"),
        (("--only", "rdf,rdf"), "only:"),
        (("--only", ""), "only:"),
        (("--s2-cutoffs", "1,2,3,4,5,6,7,8,9"), "s2_cutoffs: at most 8"),
        (("--s2-cutoffs", "3,-1"), "s2_cutoffs: must be"),
        (("--msd-time", "0.001"), "msd_time: must be >= msd_dt"),
        (("--mode-fraction", "0"), "mode_fraction: must be"),
        (("--modes-solver", "magic"), "modes_solver: must be one of"),
        (("--rdf-bin", "-1"), "rdf_bin: must be"),
        (("--params", '{"only": "rdf", "bogus": 1}'), "unknown field 'bogus'"),
        (("--only", "s2", "--rdf-rmax", "5"), "s2_cutoffs: cutoff"),
    ]
    for extra, want in cases:
        rc, out, err = run("descriptors", GLASS, "--potential", POT, *extra)
        line = err.strip()
        good = rc == 2 and want in line and "\n" not in line and out == ""
        ok(good, "bad params %s -> exit 2, '%s'" % (" ".join(extra), want))
        if not good:
            diag("rc=%d stderr=%r" % (rc, err))

    print("1..%d" % n_test)
    return 1 if n_fail else 0


if __name__ == "__main__":
    sys.exit(main())
