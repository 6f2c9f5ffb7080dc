#!/usr/bin/env python3
"""test_artn.py -- black-box tests of the `artn` sweep job kind (TAP).

Runs `pelmap artn` (a job graph: minimize, artn_chunk children, gather) on a
250-atom Cu50Zr50 glass, test_artn_glass250.data next to this file (made by
`pelmap random --atoms 250 --species Cu,Zr --seed 2026` then `pelmap quench
--t-melt 5 --rate 100 --t-hold 2 --seed 2026`, CuZr_mm.eam.fs; CG-minimised
to fmax 8.8e-7 eV/A), and checks:

- the same sweep in one chunk and in chunks of one event (the second
  starting in the middle of an atom's events) gives identical event tables
  (every column but the timings) and per-atom results;
- the gather alone (`pelmap artn --input CHUNK.json ...`) turns chunk
  results into the same per-atom results, and refuses chunks out of order
  or not making up the sweep;
- the gathered per-atom statistics and summary agree with the event table;
- another seed gives another event;
- --save-configs writes initial/saddle/final extended XYZ files (with atom
  ids) for exactly the converged events, and `pelmap energy` on them gives
  back dQ and dE_final within 1e-6 eV and a saddle force below saddle_force;
- with memo, chunks hold whole atoms (chunk_events 1 gives one chunk per
  atom) and whole-system events are unchanged; in local mode (8 events on
  the bundled 2,000-atom glass) attempts are answered from the memo, the
  events it did not answer are unchanged and the answered ones report the
  earlier event's outcome; a chunk with memo that starts inside an atom's
  events is refused;
- bad parameters exit with status 2 and a message naming the problem;
- --input loads result files into a kind's inputs;
- SIGINT stops a running sweep within seconds (exit 1, "interrupted").

The sweeps have one atom x 2 events (about 3 s of CPU per event): seven
events in all, and a sweep interrupted after 1.5 s.
"""
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

SRC = os.environ.get("PELMAP_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("PELMAP_BUILDDIR", ".")
PELMAP = os.path.join(BUILD, "pelmap")
GLASS = os.path.join(SRC, "tests", "cli", "test_artn_glass250.data")
POT = "/usr/share/lammps/potentials/CuZr_mm.eam.fs"
SEED = 7

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


def run(*args, timeout=900):
    p = subprocess.run([PELMAP] + [str(a) for a in args], capture_output=True,
                       text=True, timeout=timeout)
    if "runtime error:" in p.stderr or "Sanitizer" in p.stderr:
        diag("sanitizer report from pelmap %s:\n%s" % (" ".join(map(str, args)), p.stderr[-3000:]))
        ok(False, "no sanitizer report")
    return p.returncode, p.stdout, p.stderr


def pelmap_json(*args):
    rc, out, err = run(*args, "--potential", POT, "--compact")
    if rc != 0:
        diag("pelmap %s -> %d: %s" % (" ".join(map(str, args)), rc, err))
        return None
    try:
        return json.loads(out)
    except ValueError as e:
        diag("not JSON: %s" % e)
        return None


def read_data(path):
    """Types, positions and box bounds of a LAMMPS data file (atomic)."""
    lo, hi, types, pos = [0.0] * 3, [0.0] * 3, [], []
    lines = open(path).read().splitlines()
    for i, l in enumerate(lines):
        w = l.split()
        for k, ax in enumerate("xyz"):
            if len(w) >= 4 and w[2] == ax + "lo":
                lo[k], hi[k] = float(w[0]), float(w[1])
        if l.startswith("Atoms"):
            for m in lines[i + 2:]:
                w = m.split()
                if not w:
                    break
                types.append(int(w[1]))
                pos.append([float(v) for v in w[2:5]])
            break
    return types, pos, lo, hi


def table_without(t, cols):
    return {k: v for k, v in t.items() if k not in cols}


def rows(t):
    n = len(t["atom_id"])
    return [{k: t[k][i] for k in t} for i in range(n)]


def main():
    if not os.access(PELMAP, os.X_OK):
        print("1..0 # SKIP pelmap not built")
        return 0
    if not os.path.exists(POT):
        print("1..0 # SKIP %s missing (Debian lammps-data)" % POT)
        return 0
    with open(PELMAP, "rb") as f:
        asan = b"__asan_init" in f.read()
    ids = [1]
    atoms = ",".join(map(str, ids))
    K = 2
    tmp = tempfile.mkdtemp(prefix="test_artn.")
    try:
        return checks(tmp, ids, atoms, K, asan)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def checks(tmp, ids, atoms, K, asan):
    cfg = os.path.join(tmp, "configs")
    # minimize_first false (the glass is a minimum): the chunks then run on
    # the file's positions, as artn_chunk alone below does (the minimize
    # child is exercised by test_artn_service.sh)
    a = pelmap_json("artn", GLASS, "--atoms", atoms, "--events", K, "--seed", SEED,
                    "--minimize-first", "false", "--save-configs", cfg)
    b = pelmap_json("artn", GLASS, "--atoms", "ids:" + atoms, "--events-per-atom", K,
                    "--seed", SEED, "--chunk-events", 1, "--minimize-first", "false")
    if not ok(a is not None and b is not None, "artn sweeps (one chunk; chunks of one event) run"):
        print("1..%d" % n_test)
        return 1
    n = len(ids) * K
    ev_a, ev_b = a["events"], b["events"]
    ok(a["summary"]["chunks"] == 1 and b["summary"]["chunks"] == n,
       "chunks: 1 and %d (got %s, %s)" % (n, a["summary"]["chunks"], b["summary"]["chunks"]))
    ok(ev_a["atom_id"] == [i for i in ids for _ in range(K)] and
       ev_a["event"] == [k for _ in ids for k in range(K)],
       "event table rows: atoms in selection order, events 0..K-1")
    timing = {"seconds"}
    ok(table_without(ev_a, timing) == table_without(ev_b, timing),
       "chunked and unchunked sweeps give identical event tables (chunk 2 starts at "
       "atom %d's event 1)" % ids[0])
    ok(a["per_atom"] == b["per_atom"], "... and identical per-atom results")
    same = ["attempts", "successes", "success_rate", "status_counts", "dq_mean",
            "dq_median", "force_calls_median", "force_calls_p90"]
    ok(all(a["summary"][k] == b["summary"][k] for k in same), "... and summaries")
    ok(a["histogram"] == b["histogram"], "... and histogram lists")
    # memo (session 15): chunks of whole atoms whatever chunk_events says
    # (the events of an atom run in order through one memo); in whole-system
    # mode it is not used, so the events are the same
    m = pelmap_json("artn", GLASS, "--atoms", atoms, "--events", K, "--seed", SEED,
                    "--chunk-events", 1, "--minimize-first", "false", "--memo", "true")
    ok(m is not None and m["summary"]["chunks"] == len(ids) and m["params"]["memo"] is True and
       m["summary"]["memo_hits"] == 0 and set(m["events"]["memo_event"]) == {-1},
       "memo: chunk_events 1 makes %d chunk(s) of whole atoms; no hits in whole-system mode"
       % len(ids))
    ok(m is not None and table_without(m["events"], timing) == table_without(ev_a, timing),
       "memo in whole-system mode: the same event table")
    # ... and in local mode (the bundled 2,000-atom glass, a 5 A search
    # cluster refined at 7 A, atom 1005's events 1, 4 and 6 take earlier
    # attempts' outcomes; atom 1001 until session 17, whose 8 events found
    # only one saddle again once the dot products changed their round-off),
    # through the kind end to end
    g2k = os.path.join(SRC, "common", "data", "cu50zr50-2000.data")
    loc = ["--atoms", "ids:1005", "--events", 8, "--local", "true", "--local-radius", 5,
           "--refine-radius", 7, "--restarts", 2, "--seed", 3, "--chunk-events", 3,
           "--minimize-first", "false"]
    lp = pelmap_json("artn", g2k, *loc)
    lm = pelmap_json("artn", g2k, *loc, "--memo", "true")
    if ok(lp is not None and lm is not None, "local-mode sweeps without and with memo run"):
        ep, em = lp["events"], lm["events"]
        n8 = len(em["event"])
        ans = [k for k in range(n8) if em["memo_event"][k] >= 0]
        ok(lp["summary"]["chunks"] == 3 and lm["summary"]["chunks"] == 1 and
           lm["summary"]["memo_hits"] >= 3 and len(ans) >= 1 and
           any(em["status"][k] == "ok" for k in ans),
           "memo: one chunk of 8 events (3 without), %s attempts answered, events %s from the memo"
           % (lm["summary"]["memo_hits"], ans))
        mcols = {"seconds", "memo_event", "memo_attempt", "memo_hits"}
        plain = [k for k in range(n8) if em["memo_hits"][k] == 0]
        ok(all(all(em[c][k] == ep[c][k] for c in ep if c not in mcols) for k in plain),
           "events the memo did not answer are the events without it (%d)" % len(plain))
        ok(all(em["status"][k] != "ok" or
               (em["dq"][k] == em["dq"][em["memo_event"][k]] and
                em["e_final"][k] == em["e_final"][em["memo_event"][k]] and
                em["memo_event"][k] < em["event"][k]) for k in ans),
           "an answered event reports the dQ and final energy of the earlier event it names")

    # the envelope records what was run
    p = a["params"]
    ok(a["seed"] == SEED and p["seed"] == SEED and p["events_per_atom"] == K and
       p["atoms"] == "ids:" + atoms and p["minimize_first"] is False and
       "saddle_force" in p and "local" in p and a.get("engine_version"),
       "params (with every engine option), seed and engine version recorded")
    ok("NaN" not in json.dumps(a) and "Infinity" not in json.dumps(a), "result is NaN-free")

    # gathered statistics agree with the event table
    s = a["summary"]
    st = ev_a["status"]
    nok = st.count("ok")
    ok(s["attempts"] == n and s["successes"] == nok and
       abs(s["success_rate"] - nok / n) < 1e-15, "summary: attempts, successes, rate")
    conv_calls = sorted(c for c, x in zip(ev_a["force_calls"], st) if x == "ok")
    ok((not conv_calls and s["force_calls_median"] is None) or
       abs(s["force_calls_median"] - statistics.median(conv_calls)) < 1e-9,
       "summary: median force calls of converged events")
    pa = a["per_atom"]
    good = True
    for j, aid in enumerate(pa["id"]):
        mine = [r for r in rows(ev_a) if r["atom_id"] == aid]
        dq = sorted(r["dq"] for r in mine if r["status"] == "ok")
        if pa["n_attempts"][j] != len(mine) or pa["n_success"][j] != len(dq) or \
           pa["selected"][j] != (1 if aid in ids else 0):
            good = False
        if dq:
            if abs(pa["dq_mean"][j] - sum(dq) / len(dq)) > 1e-12 or pa["dq_min"][j] != dq[0] \
               or abs(pa["dq_median"][j] - statistics.median(dq)) > 1e-12:
                good = False
        elif any(pa[c][j] is not None for c in ("dq_mean", "dq_min", "dq_median", "de_final_mean")):
            good = False
    ok(good and len(pa["id"]) == 250,
       "per_atom: one row per atom; counts, mean/min/median dQ from the table, null without success")
    ok(sorted(a["histogram"]["dq"]["all"]) ==
       sorted(d for d, x in zip(ev_a["dq"], st) if x == "ok"),
       "histogram list holds the converged events' dQ")

    # the gather alone (--input): chunk results -> the sweep's per-atom rows
    # and summary statistics (chunks of one row made from the sweep's table)
    fc = []
    for r in range(n):
        fc.append(os.path.join(tmp, "chunk%d.json" % r))
        with open(fc[-1], "w") as f:
            json.dump({"kind": "artn_chunk",
                       "events": {col: v[r:r + 1] for col, v in ev_a.items()},
                       "summary": {"cpu_seconds": 1, "wall_seconds": 1, "started_at": r,
                                   "finished_at": r + 1}}, f)
    inputs = sum((["--input", x] for x in fc), [])
    g = pelmap_json("artn", GLASS, "--atoms", atoms, "--events", K, "--seed", SEED,
                    "--minimize-first", "false", *inputs)
    ok(g is not None and g["per_atom"] == a["per_atom"] and g["histogram"] == a["histogram"]
       and all(g["summary"][k] == a["summary"][k] for k in same)
       and g["summary"]["chunks"] == n and g["summary"]["wall_seconds"] == n
       and g["summary"]["events_per_core_hour"] == n / (n / 3600),
       "artn --input CHUNK.json...: the gather alone gives the sweep's per-atom results")
    rc, out, err = run("artn", GLASS, "--potential", POT, "--atoms", atoms, "--events", K,
                       "--seed", SEED, "--minimize-first", "false",
                       *sum((["--input", x] for x in fc[::-1]), []))
    ok(rc == 1 and "gathered event 0 is atom %d event %d" % (ids[-1], K - 1) in err,
       "chunks out of order are refused, naming the event (%d: %s)" % (rc, err.strip()[:200]))
    rc, out, err = run("artn", GLASS, "--potential", POT, "--atoms", atoms, "--events", K + 1,
                       "--seed", SEED, *inputs)
    ok(rc == 1 and "gathered %d events, the sweep has %d" % (n, n + len(ids)) in err,
       "chunks that do not make the sweep are refused (%d: %s)" % (rc, err.strip()[:200]))

    # selections resolved on the structure: the gather refuses the two rows
    # of atom 1 as a sweep over them, naming how many events it has, which
    # counts the atoms selected; an array of ids is normalized to "ids:..."
    types, pos, lo, hi = read_data(GLASS)
    ncu = sum(1 for t in types if t == 1)
    box = [h - l for l, h in zip(lo, hi)]
    reg = (0.0, 8.0, -1.0, 9.5, 2.0, 1e9)
    nreg = sum(1 for x in pos if all(
        reg[2 * k] <= lo[k] + (x[k] - lo[k]) % box[k] < reg[2 * k + 1] for k in range(3)))
    for sel, count in (("species:Cu", ncu), ("species:Zr,Cu", 250),
                       ("region:%g,%g,%g,%g,%g,%g" % reg, nreg), ("all", 250)):
        rc, out, err = run("artn", GLASS, "--potential", POT, "--atoms", sel, "--events", K,
                           "--seed", SEED, *inputs)
        ok(rc == 1 and "gathered %d events, the sweep has %d" % (n, K * count) in err,
           "--atoms %s selects %d atoms (%d: %s)" % (sel, count, rc, err.strip()[:120]))
    g2 = pelmap_json("artn", GLASS, "--params", json.dumps({"atoms": ids}), "--events", K,
                     "--seed", SEED, "--minimize-first", "false", *inputs)
    ok(g2 is not None and g2["params"]["atoms"] == "ids:" + atoms and
       g2["per_atom"] == a["per_atom"], "atoms as a JSON array of ids: normalized to \"ids:...\"")

    # another seed: another event
    d = pelmap_json("artn", GLASS, "--atoms", ids[0], "--events", 1, "--seed", SEED + 1)
    differs = d is not None and any(
        d["events"][col][0] != ev_a[col][0]
        for col in ("e_saddle", "e_final", "max_disp_saddle", "force_calls", "basin_steps"))
    ok(differs and d["events"]["stream"][0] != ev_a["stream"][0],
       "another seed gives another event")

    # saved configurations
    files = sorted(os.listdir(cfg)) if os.path.isdir(cfg) else []
    expect = sorted("atom%d_ev%d_%s.xyz" % (r["atom_id"], r["event"], w)
                    for r in rows(ev_a) if r["status"] == "ok"
                    for w in ("initial", "saddle", "final"))
    ok(files == expect, "--save-configs: three files per converged event (%d files)" % len(files))
    if nok == 0:
        diag("no converged event in this sweep: the dQ recomputation is not exercised")
    saddle_force = p["saddle_force"]
    for r in rows(ev_a):
        if r["status"] != "ok":
            continue
        base = os.path.join(cfg, "atom%d_ev%d_" % (r["atom_id"], r["event"]))
        with open(base + "saddle.xyz") as f:
            f.readline()
            head = f.readline()
        e = {}
        for w in ("initial", "saddle", "final"):
            res = pelmap_json("energy", base + w + ".xyz", "--summary")
            e[w] = res["summary"] if res else None
        if not ok(all(e.values()), "pelmap energy reads the saved files of atom %d event %d"
                  % (r["atom_id"], r["event"])):
            continue
        ok(":id:I:1" in head, "saved files carry atom ids")
        dq = e["saddle"]["energy"] - e["initial"]["energy"]
        ok(abs(dq - r["dq"]) < 1e-6,
           "dQ from the saved saddle and initial files: %.9f vs %.9f eV" % (dq, r["dq"]))
        de = e["final"]["energy"] - e["initial"]["energy"]
        ok(abs(de - r["de_final"]) < 1e-6,
           "dE_final from the saved files: %.9f vs %.9f eV" % (de, r["de_final"]))
        ok(e["saddle"]["fmax"] < saddle_force,
           "saved saddle: max force component %.4f < saddle_force" % e["saddle"]["fmax"])

    # bad input
    rnd = os.path.join(tmp, "random.data")
    run("random", "--atoms", 250, "--species", "Cu,Zr", "--seed", 3, "-o", rnd)
    bad = [
        (["--atoms", "ids:99999"], "atom id 99999 is not in the structure"),
        (["--atoms", "species:Xx"], "no species Xx"),
        (["--atoms", "region:5,1,0,1,0,1"], "atoms: region"),
        (["--atoms", "bogus"], "atoms: must be"),
        (["--atoms", "1,1"], "selected twice"),
        (["--events", 0], "events_per_atom:"),
        (["--chunk-events", 0], "chunk_events:"),
        (["--refine-force", 0.1], "refine_force:"),
        (["--saddle-force", -1], "saddle_force:"),
        (["--local", "true", "--local-radius", 2], "local_radius:"),
        (["--no-such-option", 1], "unknown option"),
        (["--input", os.path.join(tmp, "none.json")], "none.json"),
    ]
    for args, msg in bad:
        rc, out, err = run("artn", GLASS, "--potential", POT, "--seed", 1, *args)
        ok(rc == 2 and msg in err, "artn %s -> exit 2 '%s' (got %d: %s)"
           % (" ".join(map(str, args)), msg, rc, err.strip()[:200]))
    rc, out, err = run("artn_chunk", GLASS, "--potential", POT, "--atoms", 1, "--events-per-atom", 2,
                       "--first", 1, "--memo", "true")
    ok(rc == 2 and "memo: first (1)" in err,
       "artn_chunk with memo starting inside an atom's events -> exit 2 (%d: %s)" % (rc, err.strip()[:200]))
    rc, out, err = run("artn", GLASS, "--potential", POT, "--memo-dist", -1)
    ok(rc == 2 and "memo_dist:" in err, "memo_dist -1 -> exit 2 (%d: %s)" % (rc, err.strip()[:200]))
    rc, out, err = run("artn", rnd, "--potential", POT, "--atoms", 1, "--events", 1,
                       "--minimize-first", "false")
    ok(rc == 2 and "not minimised" in err,
       "unminimised structure with minimize_first false -> exit 2 (%d: %s)" % (rc, err.strip()[:200]))

    # SIGINT stops a running sweep (the chunk's progress callback cancels
    # the event) within seconds
    pr = subprocess.Popen([PELMAP, "artn", GLASS, "--potential", POT, "--atoms", "1-3",
                           "--events", "2", "--seed", "1", "--minimize-first", "false"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    t0 = time.time()
    pr.send_signal(signal.SIGINT)
    out, err = pr.communicate(timeout=120)
    dt = time.time() - t0
    ok(pr.returncode == 1 and "interrupted" in err and out == "" and dt < 10,
       "SIGINT stops the sweep: exit 1 'interrupted' after %.2f s" % dt)

    # --input (kinds without a plan take result files as their inputs)
    fa = os.path.join(tmp, "a.json")
    with open(fa, "w") as f:
        json.dump(a, f)
    rc, out, err = run("artn", GLASS, "--potential", POT, "--input", fa, "--seed", 1)
    ok(rc == 2 and "input 0 is not an artn_chunk result" in err,
       "artn --input with a result that is not a chunk -> exit 2")
    rc, out, err = run("noop", "--input", fa, "--input", fa, "--compact")
    ok(rc == 0 and json.loads(out)["summary"]["ninputs"] == 2, "--input twice: two inputs")
    bj = os.path.join(tmp, "bad.json")
    with open(bj, "w") as f:
        f.write("{not json")
    rc, out, err = run("noop", "--input", bj)
    ok(rc == 2 and "not valid JSON" in err, "--input with a malformed file -> exit 2")

    print("1..%d" % n_test)
    return 1 if n_fail else 0


if __name__ == "__main__":
    sys.exit(main())
