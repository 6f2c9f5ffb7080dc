#!/usr/bin/env python3
"""pipeline_report.py -- the tables of bench/pipeline.sh from its OUTDIR.

Reads OUTDIR/jobs.json (the queue's jobs: kind, label, worker, started,
finished), OUTDIR/times/<worker name> (/usr/bin/time '%e %U %S %M' of the
worker process that ran that one job), OUTDIR/poll.json (the descriptors'
sub-stages: [stage, t first seen, worker CPU then, t last seen, CPU then])
and OUTDIR/result.json (the pipeline's result), OUTDIR/artn.json (the sweep's
result, optional), and prints

  1. per stage: wall (queue), CPU (user + system), peak RSS, the rate it
     gives and the projection to the paper's effort (10 events x 19,652
     atoms = 196,520 ARTn events, 100 ps of MD, 0.25 % of the modes);
  2. the ARTn events (status, dQ, whole-system and cluster force calls);
  3. the figure table (paper vs this sample) with what is meaningful at
     this effort.

Writes OUTDIR/stages.json.  Usage: pipeline_report.py OUTDIR [--markdown]
(--markdown: the same two tables again as Markdown, for docs/benchmarks.md).
"""
import json
import os
import sys

PAPER_ATOMS = 19652
PAPER_EVENTS = 10 * PAPER_ATOMS
PAPER_MSD_PS = 100.0

out = sys.argv[1]
jobs = json.load(open(os.path.join(out, "jobs.json")))
poll = json.load(open(os.path.join(out, "poll.json")))
try:
    res = json.load(open(os.path.join(out, "result.json")))
except (OSError, ValueError):
    res = None
try:
    artn_res = json.load(open(os.path.join(out, "artn.json")))
except (OSError, ValueError):
    artn_res = None


def ptime(worker):
    """(wall s, cpu s, peak RSS MB) of the worker process, or Nones."""
    try:
        lines = open(os.path.join(out, "times", worker)).read().split("\n")
        e, u, s, m = [l for l in lines if l.strip()][-1].split()
        return float(e), float(u) + float(s), int(m) / 1024.0
    except (OSError, ValueError, IndexError, TypeError):
        return None, None, None


for j in jobs:
    j["proc_wall"], j["cpu"], j["rss_mb"] = ptime(j["worker"])
    j["wall"] = (j["finished"] - j["started"]) if j["started"] and j["finished"] else None
    j["params"] = json.loads(j["params"])

top = [j for j in jobs if j["kind"] == "pipeline"][0]
P = top["params"]


def one(kind):
    js = [j for j in jobs if j["kind"] == kind]
    return js[0] if js else None


def fmt(x, unit="s"):
    if x is None:
        return "-"
    if unit == "s":
        if x >= 7200:
            return "%.1f h" % (x / 3600) if x < 360000 else "%.0f h" % (x / 3600)
        return "%.0f s" % x if x >= 10 else "%.1f s" % x
    return "%.0f MB" % x


rows = []  # stage, wall, cpu, rss, rate text, projected cpu (s or None), note


def add(stage, wall, cpu, rss, rate, proj, note=""):
    rows.append({"stage": stage, "wall_s": wall, "cpu_s": cpu, "rss_mb": rss,
                 "rate": rate, "projected_cpu_s": proj, "note": note})


m = one("minimize")
add("minimize (CG, ftol %g)" % P["ftol"], m["wall"], m["cpu"], m["rss_mb"],
    "as measured", m["cpu"], "the replicas of a minimised glass: few iterations")

d = one("descriptors")
add("descriptors (all)", d["wall"], d["cpu"], d["rss_mb"], "", None, "sum of the sub-stages below")
tl = poll["transitions"].get(str(d["id"]), [])
proj_desc = 0.0
seen_msd = False
for k, t in enumerate(tl):
    stage, t1, c1 = t[0], t[1], t[2]
    if k + 1 < len(tl):
        cpu, wall = tl[k + 1][2] - c1, tl[k + 1][1] - t1
    else:
        cpu = d["cpu"] - c1 if d["cpu"] is not None else None
        wall = t[3] - t1
    if stage == "msd":
        seen_msd = True
        rate = cpu / P["msd_time"] if cpu is not None else None
        add("  msd: %g ps NVT MD" % P["msd_time"], wall, cpu, None,
            "%.1f s CPU per ps" % rate, rate * PAPER_MSD_PS if rate else None, "x 100 ps")
        proj_desc += rate * PAPER_MSD_PS
    else:
        add("  " + {"done": "the rest (vflex, the result)"}.get(stage, stage), wall, cpu, None,
            "as measured", cpu,
            "mode_fraction %g as the paper" % P["mode_fraction"] if stage == "modes" else "")
        proj_desc += cpu or 0
if tl:
    add("  setup (read, before %s)" % tl[0][0], None, tl[0][2], None, "as measured", tl[0][2])
    proj_desc += tl[0][2]
if not seen_msd:
    proj_desc = None
if not P.get("modes", True):
    add("  modes, participation, msd_harmonic", None, None, None, "not run", None,
        "modes false (reduced effort)")
rows[1]["projected_cpu_s"] = proj_desc

ch = [j for j in jobs if j["kind"] == "artn_chunk"]
a = one("artn")
asum = None
if res:
    asum = (res.get("summary") or {}).get("steps", {}).get("artn")
attempts = (asum or {}).get("attempts") or sum(j["params"].get("count", 0) for j in ch)
succ = (asum or {}).get("successes")
ccpu = sum(j["cpu"] or 0 for j in ch)
cwall = sum(j["wall"] or 0 for j in ch)
crss = max([j["rss_mb"] or 0 for j in ch] or [0])
per_ev = ccpu / attempts if attempts else None
add("artn: %d chunk jobs, %s events (%s converged)" % (len(ch), attempts, succ), cwall, ccpu, crss,
    "%.0f s CPU per event" % per_ev if per_ev else "-",
    per_ev * PAPER_EVENTS if per_ev else None, "x 196,520 events")
for j in ch:
    add("  %s (%s)" % (j["label"], j["params"].get("atoms")), j["wall"], j["cpu"], j["rss_mb"], "", None, "")
add("artn: gather", a["wall"], a["cpu"], a["rss_mb"], "as measured", a["cpu"],
    "grows with the events gathered; not measured at 196,520")
an = one("analysis")
add("analysis", an["wall"], an["cpu"], an["rss_mb"], "as measured", an["cpu"], "same atom count")
add("report (pipeline)", top["wall"], top["cpu"], top["rss_mb"], "as measured", top["cpu"], "")

top_level = [r for r in rows if not r["stage"].startswith("  ")]
tot_cpu = sum(r["cpu_s"] or 0 for r in top_level)
tot_proj = sum(r["projected_cpu_s"] or 0 for r in top_level)
t_first = min(j["started"] for j in jobs if j["started"])
elapsed = top["finished"] - t_first if top["finished"] else None
peak = max(r["rss_mb"] or 0 for r in rows)

artn_mode = ("local mode, moving radius %g A, refined in %s" % (
    P["local_radius"], "a %g A cluster" % P["refine_radius"] if P.get("refine_radius") else "the whole system")
    if P.get("local") else "whole system")
print()
print("Stage table (%s atoms; reduced effort: artn_atoms %s, %s event(s) per atom, MSD %g ps, modes %s; ARTn %s)"
      % (res["structure"]["natoms"] if res else "?", P["artn_atoms"], P["events_per_atom"],
         P["msd_time"], "on" if P.get("modes", True) else "off", artn_mode))
print("%-44s %8s %8s %8s  %-22s %9s  %s" % ("stage", "wall", "CPU", "peak RSS", "rate", "proj. CPU", "note"))
for r in rows:
    print("%-44.44s %8s %8s %8s  %-22s %9s  %s" % (r["stage"], fmt(r["wall_s"]), fmt(r["cpu_s"]),
          fmt(r["rss_mb"], "MB") if r["rss_mb"] else "", r["rate"], fmt(r["projected_cpu_s"]), r["note"]))
print("%-44s %8s %8s %8s  %-22s %9s" % ("total", fmt(elapsed), fmt(tot_cpu), fmt(peak, "MB"), "",
                                        fmt(tot_proj)))
print("projected full run: %.0f CPU hours, i.e. about %.0f days on 2 cores (ARTn %.0f %%)"
      % (tot_proj / 3600, tot_proj / 2 / 86400,
         100 * (per_ev * PAPER_EVENTS if per_ev else 0) / tot_proj if tot_proj else 0))

if artn_res:
    ev = artn_res["events"]
    print()
    print("ARTn events: atom, status, dQ (eV), whole-system calls, cluster calls, wall s")
    for k in range(len(ev["atom_id"])):
        print("  %6d  %-14s %8s %7d %7d %8.1f" % (
            ev["atom_id"][k], ev["status"][k], "-" if ev["dq"][k] is None else "%.3f" % ev["dq"][k],
            ev["force_calls"][k], ev.get("force_calls_local", [0] * len(ev["atom_id"]))[k] or 0,
            ev["seconds"][k]))

fig = []
if res:
    nev = (asum or {}).get("successes")
    for f, q, p, s, u, ag in res["report"]["table"]["rows"]:
        ql = q.lower()
        if (f in ("1", "3", "4", "5") and "slice" not in ql) or "dq" in ql or "r_p" in ql:
            why = "no: dQ of %s converged events" % nev
        elif "msd" in ql or "vflex" in ql or "flexibility" in ql:
            why = "yes (MSD from %g ps)" % P["msd_time"]
        elif "participation" in ql and not P.get("modes", True):
            why = "no: modes off"
        else:
            why = "yes"
        fig.append([f, q, p, s, u, ag, why])
    print()
    print("Figure table (paper vs this sample)")
    print("%-3s %-48s %-22s %-11s %-6s %s" % ("fig", "quantity", "paper", "this sample", "agrees", "meaningful here"))
    for f, q, p, s, u, ag, why in fig:
        print("%-3s %-48.48s %-22.22s %-11s %-6s %s" % (f, q, p, "-" if s is None else "%.4g" % s,
              {True: "yes", False: "no", None: ""}[ag], why))
if len(sys.argv) > 2 and sys.argv[2] == "--markdown":
    print()
    print("| stage | wall | CPU | peak RSS | rate | projected CPU (paper's effort) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print("| %s | %s | %s | %s | %s | %s%s |" % (
            r["stage"].strip() if not r["stage"].startswith("  ") else "&nbsp;&nbsp;" + r["stage"].strip(),
            fmt(r["wall_s"]), fmt(r["cpu_s"]), fmt(r["rss_mb"], "MB") if r["rss_mb"] else "",
            r["rate"], fmt(r["projected_cpu_s"]) if r["projected_cpu_s"] is not None else "",
            " (%s)" % r["note"] if r["note"] and r["projected_cpu_s"] is not None else ""))
    print("| **total** | %s | %s | %s | | %s |" % (fmt(elapsed), fmt(tot_cpu), fmt(peak, "MB"), fmt(tot_proj)))
    if fig:
        print()
        print("| fig | quantity | paper | this sample | agrees | meaningful here |")
        print("|---|---|---|---|---|---|")
        for f, q, p, s_, u, ag, why in fig:
            print("| %s | %s | %s | %s | %s | %s |" % (f, q.replace("|", "\\|"), str(p).replace("|", "\\|"),
                  "-" if s_ is None else "%.4g" % s_, {True: "yes", False: "no", None: ""}[ag], why))
json.dump({"stages": rows, "artn_mode": artn_mode, "total_cpu_s": tot_cpu, "projected_cpu_s": tot_proj, "elapsed_s": elapsed,
           "peak_rss_mb": peak, "params": P, "figures": fig}, open(os.path.join(out, "stages.json"), "w"),
          indent=1)
