/*
 * quench.c -- the melt-quench protocol that makes glass samples: NPT melt
 * at t_high, NPT linear cooling from t_liquid to t_low at a given rate, an
 * NPT hold, then conjugate-gradient minimisation at fixed box.
 *
 * Units: K, ps, K/ps, bar (docs/dynamics.md).
 */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Defaults: 2500 K for 30 ps, 2000 -> 300 K at 10 K/ps, 20 ps hold,
 * 0 bar, dt 2 fs, seed 1. */
void eng_quench_opts_default(eng_quench_opts *o) {
  assert(o);
  memset(o, 0, sizeof *o);
  o->t_high = 2500.0;
  o->t_melt = 30.0;
  o->t_liquid = 2000.0;
  o->t_low = 300.0;
  o->rate = 10.0;
  o->t_hold = 20.0;
  o->pressure = 0.0;
  o->dt = 0.002;
  o->seed = 1;
  o->randomize_types = 0;
}

/* Maps the progress of one stage onto the whole protocol. */
typedef struct qprog {
  eng_progress_fn fn;
  void *ud;
  double base, width; /* fraction of the protocol before / of this stage */
  const char *stage;
  double last; /* last fraction reported: the protocol's progress never goes back */
} qprog;

static int qprog_cb(void *ud, double frac, const char *msg) {
  qprog *q = ud;
  char buf[200];
  double f = q->base + q->width * frac;
  snprintf(buf, sizeof buf, "quench %s: %s", q->stage, msg);
  if (f < q->last) f = q->last;
  if (f > 1.0) f = 1.0;
  q->last = f;
  return q->fn(q->ud, f, buf);
}

/* Melt-quench-minimise sys in place (see the top of this file); o NULL =
 * defaults.  ENG_EINVAL for bad options, ENG_ERANGE for a protocol of more
 * than 2e9 steps, ENG_ECANCEL if progress asked to stop, or the error of
 * the MD or minimisation stage.  min_res (may be NULL) gets the final
 * minimisation's result. */
int eng_quench(eng_calc *c, eng_system *sys, const eng_quench_opts *o,
               eng_progress_fn progress, void *ud, eng_min_result *min_res) {
  eng_quench_opts def;
  eng_md_opts md;
  eng_min_opts mo;
  qprog q;
  long n[3];
  double total, done = 0.0, wmin;
  int rc;

  if (!c || !sys)
    return eng_set_error(ENG_EINVAL, "quench.c:%d: eng_quench needs a calculator and a system", __LINE__);
  if (!o) {
    eng_quench_opts_default(&def);
    o = &def;
  }
  if (!(o->dt > 0.0) || !(o->t_high > 0.0) || !(o->t_liquid > 0.0) || !(o->t_low > 0.0) ||
      !(o->t_melt >= 0.0) || !(o->t_hold >= 0.0) || !(o->rate > 0.0) || !isfinite(o->pressure) ||
      !isfinite(o->t_melt + o->t_hold + o->t_high + o->t_liquid + o->t_low + o->rate + o->dt))
    return eng_set_error(ENG_EINVAL,
                         "quench.c:%d: expected dt, rate, temperatures > 0 and times >= 0 "
                         "(dt=%g rate=%g t_high=%g t_liquid=%g t_low=%g t_melt=%g t_hold=%g)",
                         __LINE__, o->dt, o->rate, o->t_high, o->t_liquid, o->t_low, o->t_melt,
                         o->t_hold);
  n[0] = lround(o->t_melt / o->dt);
  n[1] = lround(fabs(o->t_liquid - o->t_low) / o->rate / o->dt);
  n[2] = lround(o->t_hold / o->dt);
  if (n[0] + n[1] + n[2] > 2000000000L)
    return eng_set_error(ENG_ERANGE, "quench.c:%d: protocol too long (%ld steps)", __LINE__,
                         n[0] + n[1] + n[2]);
  /* Minimisation counted as 5% of the work (a guess). */
  total = (double)(n[0] + n[1] + n[2]);
  wmin = total > 0.0 ? 0.05 : 1.0;

  eng_md_opts_default(&md);
  md.ensemble = ENG_NPT;
  md.dt = o->dt;
  md.t_damp = 100.0 * o->dt;
  md.p_damp = 1000.0 * o->dt;
  md.p_target = o->pressure;
  md.seed = o->seed;
  md.progress_every = 1000;
  q.fn = progress;
  q.ud = ud;
  q.last = 0.0;

  for (int stage = 0; stage < 3; stage++) {
    static const char *names[3] = {"melt", "cool", "hold"};
    double t0 = stage == 0 ? o->t_high : stage == 1 ? o->t_liquid : o->t_low;
    double t1 = stage == 0 ? o->t_high : o->t_low;
    md.nsteps = n[stage];
    md.t_start = t0;
    md.t_stop = t1;
    md.init_velocities = stage == 0;
    q.stage = names[stage];
    q.base = total > 0.0 ? (1.0 - wmin) * done / total : 0.0;
    q.width = total > 0.0 ? (1.0 - wmin) * (double)n[stage] / total : 0.0;
    if (n[stage] == 0 && stage != 0) continue;
    rc = eng_md_run(c, sys, &md, NULL, NULL, progress ? qprog_cb : NULL, &q, NULL);
    if (rc != ENG_OK) return rc;
    done += (double)n[stage];
  }

  eng_min_opts_default(&mo);
  mo.algo = ENG_MIN_CG;
  mo.ftol = 1e-6;
  q.stage = "minimise";
  q.base = 1.0 - wmin;
  q.width = wmin;
  rc = eng_minimize(c, sys, &mo, progress ? qprog_cb : NULL, &q, min_res);
  if (rc != ENG_OK) return rc;
  if (progress && progress(ud, 1.0, "quench done") != 0)
    return eng_set_error(ENG_ECANCEL, "quench.c:%d: quench cancelled at the end", __LINE__);
  return ENG_OK;
}
