#!/usr/bin/env python3
"""test_analysis.py -- black-box tests of the `analysis` job kind (TAP).

Writes two input results for the 500-atom glass of tests/data/desc: a
descriptors-like one (msd, s2_c1, s2_c2 and summary.s2.cutoffs) and an
artn-like one (dq_mean, rows in shuffled id order, some null), runs
`pelmap analysis GLASS --input A --input B`, and checks the result against
numpy on the same numbers: Pearson r per species, the coarse-grained points
(sorted by the descriptor, groups floor(k n / nb)), the S2 sweep cutoffs,
the spectra counts, the CSV tables; with an ARTn-like `events` table the
spectra count the converged events and one atom's spectrum (Fig. 1b) is
its events with its Voronoi index; bad parameters and missing fields exit
with status 2 naming the field.
"""
import json
import os
import random
import subprocess
import sys
import tempfile

import numpy as np

SRC = os.environ.get("PELMAP_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("PELMAP_BUILDDIR", ".")
PELMAP = os.path.join(BUILD, "pelmap")
GLASS = os.path.join(SRC, "tests", "data", "desc", "cuzr500.data")

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


def run(*args):
    p = subprocess.run([PELMAP] + [str(a) for a in args], capture_output=True,
                       text=True, timeout=300)
    return p.returncode, p.stdout, p.stderr


def read_atoms(path):
    """id -> (type, x, y, z) from the Atoms section of a LAMMPS data file."""
    atoms, on = {}, False
    with open(path) as f:
        for line in f:
            s = line.split("#")[0].strip()
            if line.startswith("Atoms"):
                on = True
                continue
            if on and s and s[0].isalpha():
                break
            if on and s:
                w = s.split()
                atoms[int(w[0])] = (int(w[1]), float(w[2]), float(w[3]), float(w[4]))
    return atoms


def main():
    atoms = read_atoms(GLASS)
    ids = sorted(atoms)
    rng = random.Random(3)
    msd = {i: 0.05 + 0.01 * np.sin(atoms[i][1] / 3.0) + 0.003 * rng.gauss(0, 1) for i in ids}
    s2a = {i: -3 + 0.2 * rng.gauss(0, 1) for i in ids}
    s2b = {i: -4 + 0.1 * rng.gauss(0, 1) for i in ids}
    dq = {i: (None if i % 9 == 0 else 1.5 - 8 * msd[i] + 0.1 * rng.gauss(0, 1)) for i in ids}
    desc = {"kind": "descriptors",
            "summary": {"s2": {"cutoffs": [3.9, 6.4]}},
            "per_atom": {"id": ids, "msd": [msd[i] for i in ids],
                         "s2_c1": [s2a[i] for i in ids], "s2_c2": [s2b[i] for i in ids],
                         "species": ["Cu" if atoms[i][0] == 1 else "Zr" for i in ids]}}
    shuf = ids[:]
    rng.shuffle(shuf)
    artn = {"kind": "artn", "per_atom": {"id": shuf, "dq_mean": [dq[i] for i in shuf]}}
    tmp = tempfile.mkdtemp(prefix="test_analysis.")
    fd, fa = os.path.join(tmp, "desc.json"), os.path.join(tmp, "artn.json")
    json.dump(desc, open(fd, "w"))
    json.dump(artn, open(fa, "w"))

    rc, out, err = run("analysis", GLASS, "--input", fd, "--input", fa,
                       "--bin-atoms", 40, "--compact")
    if not ok(rc == 0, "pelmap analysis --input x2 exits 0 (%s)" % err.strip()[:200]):
        print("1..%d" % n_test)
        return 1
    r = json.loads(out)
    s = r["summary"]
    ok(s["property"] == "dq_mean" and s["descriptors"] == ["msd", "s2_c1", "s2_c2"],
       "property dq_mean, descriptors msd s2_c1 s2_c2")
    ok([x["kind"] for x in s["inputs"]] == ["descriptors", "artn"], "inputs listed in order")
    # numpy on the same numbers, in id order
    use = [i for i in ids if dq[i] is not None]
    for sp, tsel in (("all", None), ("Cu", 1), ("Zr", 2)):
        u = [i for i in use if tsel is None or atoms[i][0] == tsel]
        x = np.array([msd[i] for i in u])
        y = np.array([dq[i] for i in u])
        ent = [c for c in r["correlations"] if c["descriptor"] == "msd" and c["species"] == sp][0]
        ok(ent["n"] == len(u) and abs(ent["pearson"] - np.corrcoef(x, y)[0, 1]) < 1e-9,
           "msd vs dq_mean, %s: n %d, Pearson r %.4f = numpy" % (sp, len(u), ent["pearson"]))
        order = np.lexsort((np.arange(len(x)), x))
        nb = max(1, int(np.floor(len(x) / 40 + 0.5)))
        bx = [x[order[(k * len(x)) // nb:((k + 1) * len(x)) // nb]].mean() for k in range(nb)]
        by = [y[order[(k * len(x)) // nb:((k + 1) * len(x)) // nb]].mean() for k in range(nb)]
        b = ent["binned"]
        ok(b["nbins"] == nb and np.allclose(b["x"], bx, rtol=1e-12, atol=0)
           and np.allclose(b["y"], by, rtol=1e-12, atol=0)
           and abs(b["pearson"] - np.corrcoef(bx, by)[0, 1]) < 1e-9,
           "%s: %d coarse-grained points and r_P = numpy" % (sp, nb))
    sw = r["s2_sweep"]
    ok(sw["cutoffs"] == [3.9, 6.4] and sw["columns"] == ["s2_c1", "s2_c2"],
       "S2 sweep: cutoffs from the descriptors input")
    cnt = sum(r["spectra"]["all"]["count"])
    ok(cnt == len(use) and sum(r["spectra"]["Cu"]["count"]) + sum(r["spectra"]["Zr"]["count"]) == cnt,
       "spectra: every dq value counted once (%d)" % cnt)
    t = r["tables"]
    ok(len(t["correlations"]["rows"]) == 9 and
       all(len(row) == len(t["correlations"]["columns"]) for row in t["correlations"]["rows"]),
       "correlations table: 9 rows as wide as its columns")
    ok(len(t["autocorrelation"]["rows"]) == len(r["autocorrelation"]["r"]) and
       t["autocorrelation"]["columns"][0] == "r", "C(r) table: one row per r")
    pa = r["per_atom"]
    ok(pa["id"] == [int(v) for v in ids] and
       all((dq[i] is None and v is None) or abs(v - dq[i]) < 1e-12
           for i, v in zip(ids, pa["dq_mean"])),
       "per_atom.dq_mean in structure order, null where the input had null")

    rc, out, err = run("analysis", GLASS, "--input", fd, "--input", fa, "--summary",
                       "--analyses", "correlation", "--descriptors", "s2_c2",
                       "--property", "msd", "--compact")
    r = json.loads(out) if rc == 0 else {}
    ok(rc == 0 and "per_atom" not in r and len(r.get("correlations", [])) == 3 and
       r["summary"]["property"] == "msd", "--property msd --descriptors s2_c2 --analyses correlation")
    rc, out, err = run("analysis", GLASS, "--input", fd, "--property", "dq_mean")
    ok(rc == 2 and "property" in err, "a property no input has: exit 2 (%s)" % err.strip()[:120])
    rc, out, err = run("analysis", GLASS, "--input", fd, "--descriptors", "msd,msd")
    ok(rc == 2 and "descriptors" in err, "repeated descriptor: exit 2")
    rc, out, err = run("analysis", GLASS, "--input", fd, "--fit-min", 6, "--fit-max", 5)
    ok(rc == 2 and "fit_max" in err, "fit_max <= fit_min: exit 2")
    rc, out, err = run("analysis", GLASS, "--input", fd, "--compact")
    r = json.loads(out) if rc == 0 else {}
    ok(rc == 0 and r["summary"]["property"] is None and "correlations" not in r
       and "s2_sweep" in r and any("correlation skipped" in n for n in r["summary"]["notes"]),
       "descriptors only: C(r) and the S2 sweep, correlations skipped with a note")
    # an ARTn-like events table: spectra of the converged events (Fig. 1c-e)
    # and one atom's spectrum with its Voronoi index (Fig. 1b)
    ev = {"atom_id": [], "species": [], "status": [], "dq": []}
    for i in ids[:60]:
        for k in range(3):
            ev["atom_id"].append(i)
            ev["species"].append("Cu" if atoms[i][0] == 1 else "Zr")
            good = (i + k) % 4 != 0
            ev["status"].append("ok" if good else "eigen_lost")
            ev["dq"].append(round(0.05 + 0.37 * ((i * 7 + k * 3) % 11), 6) if good else None)
    artn2 = dict(artn, events=ev)
    desc2 = json.loads(json.dumps(desc))
    for c, v in (("vor_n3", 0), ("vor_n4", 2), ("vor_n5", 8), ("vor_n6", 2)):
        desc2["per_atom"][c] = [v] * len(ids)
    fd2, fa2 = os.path.join(tmp, "desc2.json"), os.path.join(tmp, "artn2.json")
    json.dump(desc2, open(fd2, "w"))
    json.dump(artn2, open(fa2, "w"))
    a1 = ids[5]
    rc, out, err = run("analysis", GLASS, "--input", fd2, "--input", fa2, "--summary",
                       "--analyses", "spectra", "--atom-spectrum", a1, "--compact")
    r = json.loads(out) if rc == 0 else {}
    okdq = [d for d, st in zip(ev["dq"], ev["status"]) if st == "ok"]
    sp = r.get("spectra", {})
    ok(rc == 0 and sp.get("source") == "events" and sum(sp["all"]["count"]) == len(okdq)
       and abs(r["summary"]["spectra"]["all"]["mean"] - float(np.mean(okdq))) < 1e-9,
       "spectra of the %d converged events (source events), mean = numpy" % len(okdq))
    mine = sorted(d for d, st, i in zip(ev["dq"], ev["status"], ev["atom_id"]) if st == "ok" and i == a1)
    at = r.get("atom_spectrum", {})
    ok(at.get("id") == a1 and at.get("dq") == mine and sum(at.get("count", [])) == len(mine)
       and at.get("voronoi_index") == [0, 2, 8, 2],
       "atom_spectrum of atom %d: its %d events and Voronoi index <0,2,8,2>" % (a1, len(mine)))
    rc, out, err = run("analysis", GLASS, "--input", fd2, "--input", fa2, "--summary",
                       "--analyses", "spectra", "--spectrum-of", "property", "--compact")
    r = json.loads(out) if rc == 0 else {}
    ok(rc == 0 and r["spectra"]["source"] == "property" and sum(r["spectra"]["all"]["count"]) == len(use),
       "--spectrum-of property: one value per atom")
    rc, out, err = run("analysis", GLASS, "--input", fd, "--spectrum-of", "events")
    ok(rc == 2 and "spectrum_of" in err, "--spectrum-of events without events: exit 2")
    print("1..%d" % n_test)
    return 1 if n_fail else 0


sys.exit(main())
