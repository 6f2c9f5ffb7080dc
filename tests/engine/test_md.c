/*
 * test_md.c -- molecular dynamics: Maxwell-Boltzmann velocities, the step
 * callback and image flags, NVE energy conservation on a quenched glass
 * (2 fs, 600 K, 10 ps), NVT temperature control, the conserved quantities
 * of NVT and NPT, NPT pressure and density of a liquid, bit-identical
 * reproducibility, errors, and a short quench protocol.
 */
#include "engine.h"
#include "../tap.h"
#include "test_md_util.h"

/* Step observer: statistics and checks of what the callback sees. */
typedef struct obs {
  long calls, first_step, last_step;
  long skip;            /* steps ignored before accumulating */
  double sum_t, sum_p, sum2_p, sum_v, n;
  double c0, cmin, cmax; /* conserved quantity */
  double e0, emin, emax;
  int bad_order;
  double *prev_u;       /* previous unwrapped positions */
  double max_jump;      /* largest unwrapped displacement between steps */
  double blocks[10];    /* block means of P */
  long block_len;
  long stop_at;         /* return 1 at this step (-1 never) */
  /* linear fit of conserved vs time */
  double sx, sy, sxx, sxy, nfit;
} obs;

static void obs_init(obs *b, long skip, long block_len) {
  memset(b, 0, sizeof *b);
  b->skip = skip;
  b->block_len = block_len;
  b->first_step = -1;
  b->stop_at = -1;
  b->cmin = b->emin = INFINITY;
  b->cmax = b->emax = -INFINITY;
}

static int observe(void *ud, const eng_system *sys, const double *f, const eng_md_state *st) {
  obs *b = ud;
  (void)f;
  if (b->calls == 0) b->first_step = st->step;
  else if (st->step != b->last_step + 1) b->bad_order = 1;
  b->calls++;
  b->last_step = st->step;
  if (sys->image) {
    if (!b->prev_u) b->prev_u = calloc(3 * (size_t)sys->natoms, sizeof(double));
    for (int i = 0; i < sys->natoms; i++) {
      double s[3] = {sys->image[3 * i], sys->image[3 * i + 1], sys->image[3 * i + 2]}, t[3], u[3];
      eng_box_from_frac(&sys->box, s, t);
      for (int k = 0; k < 3; k++) u[k] = sys->x[3 * i + k] + t[k] - sys->box.lo[k];
      if (st->step > b->skip || b->calls > 1) {
        for (int k = 0; k < 3; k++) {
          double d = fabs(u[k] - b->prev_u[3 * i + k]);
          /* Box scaling moves far atoms a little too: allow for it. */
          if (b->calls > 1 && d > b->max_jump) b->max_jump = d;
        }
      }
      for (int k = 0; k < 3; k++) b->prev_u[3 * i + k] = u[k];
    }
  }
  if (st->step >= b->skip) {
    double t = st->time;
    b->sum_t += st->temp;
    b->sum_p += st->press;
    b->sum2_p += st->press * st->press;
    b->sum_v += st->volume;
    b->n++;
    if (b->block_len > 0) {
      long k = (st->step - b->skip) / b->block_len;
      if (k < 10) b->blocks[k] += st->press / b->block_len;
    }
    if (st->conserved < b->cmin) b->cmin = st->conserved;
    if (st->conserved > b->cmax) b->cmax = st->conserved;
    if (b->nfit == 0) b->c0 = st->conserved;
    b->sx += t;
    b->sy += st->conserved - b->c0;
    b->sxx += t * t;
    b->sxy += t * (st->conserved - b->c0);
    b->nfit++;
  }
  return b->stop_at >= 0 && st->step >= b->stop_at;
}

/* Slope of the fitted conserved quantity, eV/ps. */
static double obs_slope(const obs *b) {
  double d = b->nfit * b->sxx - b->sx * b->sx;
  return d > 0 ? (b->nfit * b->sxy - b->sx * b->sy) / d : 0.0;
}

static void obs_free(obs *b) { free(b->prev_u); }

typedef struct prog {
  int calls, bad;
  double last;
} prog;

static int on_progress(void *ud, double frac, const char *msg) {
  prog *p = ud;
  (void)msg;
  if (!(frac >= p->last - 1e-12 && frac <= 1.0 + 1e-12)) p->bad++;
  p->last = frac;
  p->calls++;
  return 0;
}

int main(void) {
  const char *potpath = tmd_potential_path();
  eng_potential *pot = NULL;
  eng_calc *calc = NULL;
  eng_md_opts o;
  eng_md_state st;
  eng_system *glass = NULL;

  eng_md_opts_default(&o);
  ok(o.dt == 0.002 && o.chain == 3 && o.t_damp == 0.2 && o.p_damp == 2.0 && o.progress_every == 1000,
     "MD defaults: dt 2 fs, chain 3, t_damp 100 dt, p_damp 1000 dt");
  {
    eng_quench_opts q;
    eng_quench_opts_default(&q);
    ok(q.t_high == 2500 && q.t_melt == 30 && q.t_liquid == 2000 && q.t_low == 300 && q.rate == 10 &&
           q.t_hold == 20 && q.pressure == 0 && q.dt == 0.002,
       "quench defaults");
  }

  /* ---- velocities ---- */
  {
    eng_system *s = tmd_random_cuzr(200, 0.0556, 2.2, 1);
    double p[3] = {0, 0, 0}, pabs = 0;
    if (!s) bail("random sample");
    ok(eng_velocity_create(s, 300, 1) == ENG_EINVAL, "velocities without masses are EINVAL");
    s->type_mass[0] = 63.546;
    s->type_mass[1] = 91.224;
    ok(eng_velocity_create(s, -1, 1) == ENG_EINVAL, "negative temperature is EINVAL");
    ok(eng_velocity_create(s, 600, 42) == ENG_OK, "velocity create");
    near(eng_temperature(s), 600, 1e-9, "temperature exactly 600 K");
    for (int i = 0; i < s->natoms; i++)
      for (int k = 0; k < 3; k++) {
        p[k] += eng_system_mass(s, i) * s->v[3 * i + k];
        pabs += eng_system_mass(s, i) * fabs(s->v[3 * i + k]);
      }
    ok(fabs(p[0]) + fabs(p[1]) + fabs(p[2]) < 1e-12 * pabs, "zero total momentum");
    near(eng_kinetic_energy(s), 0.5 * (3 * 200 - 3) * ENG_KB * 600, 1e-9,
         "KE = (3N-3)/2 kB T");
    {
      eng_system *c = eng_system_copy(s);
      ok(eng_velocity_create(c, 600, 42) == ENG_OK && memcmp(c->v, s->v, 3 * sizeof(double) * 200) == 0,
         "same seed, same velocities");
      ok(eng_velocity_create(c, 600, 43) == ENG_OK && memcmp(c->v, s->v, 3 * sizeof(double) * 200) != 0,
         "another seed, other velocities");
      /* Maxwell-Boltzmann: per-species <v^2> ~ kT/m. */
      double v2[2] = {0, 0};
      int cnt[2] = {0, 0};
      ok(eng_velocity_create(c, 600, 44) == ENG_OK, "velocity create (seed 44)");
      for (int i = 0; i < 200; i++) {
        int t = c->type[i];
        v2[t] += (c->v[3 * i] * c->v[3 * i] + c->v[3 * i + 1] * c->v[3 * i + 1] +
                  c->v[3 * i + 2] * c->v[3 * i + 2]) / 3.0;
        cnt[t]++;
      }
      for (int t = 0; t < 2; t++) {
        double want = ENG_KB * 600 / (c->type_mass[t] * ENG_MVV2E);
        near(v2[t] / cnt[t] / want, 1.0, 0.2, "type %d: <v_k^2> = kT/m within sampling error", t);
      }
      eng_system_free(c);
    }
    eng_system_free(s);
  }

  if (!potpath) {
    skip("CuZr_mm.eam.fs not found (install lammps-data)");
    return tap_done();
  }

  /* ---- a short quench: 256 atoms, fast rate ---- */
  {
    eng_quench_opts q;
    eng_min_result mr;
    prog pg = {0, 0, 0.0};
    double e, t0;
    glass = tmd_random_cuzr(256, 0.0556, 2.2, 7);
    if (!glass || tmd_setup(potpath, glass, &pot, &calc) != ENG_OK) bail("setup: %s", eng_last_error());
    eng_quench_opts_default(&q);
    q.t_melt = 3;
    q.rate = 500; /* 3.4 ps from 2000 to 300 K */
    q.t_hold = 1;
    q.seed = 9;
    t0 = tmd_now();
    {
      int rc = eng_quench(calc, glass, &q, on_progress, &pg, &mr);
      ok(rc == ENG_OK, "short quench (256 atoms): %s", rc == ENG_OK ? "ok" : eng_last_error());
    }
    diag("quench: %.1f s, %d progress calls, min stop %s after %d iterations, fmax %.2e", tmd_now() - t0,
         pg.calls, eng_min_stop_name(mr.stop), mr.iterations, mr.fmax);
    ok(pg.calls > 3 && pg.bad == 0 && fabs(pg.last - 1.0) < 1e-12,
       "quench progress is monotone in [0,1] and ends at 1");
    ok(mr.fmax < 1e-5 && (mr.stop == ENG_STOP_FTOL || mr.stop == ENG_STOP_LINESEARCH),
       "quench ends minimised (fmax %.2e)", mr.fmax);
    ok(eng_calc_compute(calc, glass, &e, NULL, NULL, NULL) == ENG_OK, "energy of the glass");
    double rho = glass->natoms / eng_box_volume(&glass->box);
    diag("glass: E = %.5f eV/atom, density %.5f atoms/A^3, T after hold %.1f K", e / glass->natoms, rho,
         eng_temperature(glass));
    ok(e / glass->natoms > -5.6 && e / glass->natoms < -4.9, "glass energy per atom plausible (%.4f eV)",
       e / glass->natoms);
    ok(rho > 0.054 && rho < 0.062, "glass density plausible (%.4f atoms/A^3)", rho);
    ok(glass->image != NULL, "MD allocated image flags");
  }

  /* ---- NVE at 2 fs from 600 K for 10 ps ---- */
  {
    eng_system *s = eng_system_copy(glass);
    obs b;
    prog pg = {0, 0, 0.0};
    double t0;
    obs_init(&b, 0, 0);
    eng_md_opts_default(&o);
    o.nsteps = 5000;
    o.t_start = o.t_stop = 600;
    o.init_velocities = 1;
    o.seed = 2;
    t0 = tmd_now();
    ok(eng_md_run(calc, s, &o, observe, &b, on_progress, &pg, &st) == ENG_OK, "NVE 5000 steps");
    double per = 1.0 / s->natoms;
    diag("NVE: %.1f s; conserved range %.3e eV/atom, fitted drift %.3e eV/atom over 10 ps, mean T %.1f K",
         tmd_now() - t0, (b.cmax - b.cmin) * per, obs_slope(&b) * 10.0 * per, b.sum_t / b.n);
    ok(b.calls == 5001 && b.first_step == 0 && b.last_step == 5000 && !b.bad_order,
       "on_step sees steps 0..5000 in order");
    ok(pg.calls == 5 && pg.bad == 0, "progress every 1000 steps (%d calls)", pg.calls);
    ok(fabs(obs_slope(&b) * 10.0 * per) < 1e-4, "NVE total-energy drift over 10 ps < 1e-4 eV/atom");
    ok((b.cmax - b.cmin) * per < 1e-4, "NVE total energy stays within 1e-4 eV/atom");
    near(st.conserved, st.pe + st.ke, 1e-9, "NVE conserved = PE + KE");
    ok(b.max_jump < 0.5, "unwrapped positions are continuous (largest step %.3f A)", b.max_jump);
    obs_free(&b);
    eng_system_free(s);
  }

  /* ---- reproducibility: same seed -> identical trajectory ---- */
  for (int ens = 1; ens <= 2; ens++) {
    eng_system *a = eng_system_copy(glass), *c = eng_system_copy(glass);
    eng_md_opts_default(&o);
    o.ensemble = ens;
    o.nsteps = 300;
    o.t_start = o.t_stop = 900;
    o.init_velocities = 1;
    o.seed = 77;
    eng_calc_invalidate(calc);
    ok(eng_md_run(calc, a, &o, NULL, NULL, NULL, NULL, NULL) == ENG_OK, "run 1");
    eng_calc_invalidate(calc);
    ok(eng_md_run(calc, c, &o, NULL, NULL, NULL, NULL, NULL) == ENG_OK, "run 2");
    ok(memcmp(a->x, c->x, 3 * sizeof(double) * a->natoms) == 0 &&
           memcmp(a->v, c->v, 3 * sizeof(double) * a->natoms) == 0 &&
           memcmp(&a->box, &c->box, sizeof a->box) == 0,
       "%s: same seed gives a bit-identical trajectory", ens == 1 ? "NVT" : "NPT");
    eng_system_free(a);
    eng_system_free(c);
  }

  /* ---- NVT and NPT conserved quantities at constant T ---- */
  for (int ens = 1; ens <= 2; ens++) {
    eng_system *s = eng_system_copy(glass);
    obs b;
    obs_init(&b, 0, 0);
    eng_md_opts_default(&o);
    o.ensemble = ens;
    o.nsteps = 2500;
    o.t_start = o.t_stop = 600;
    o.init_velocities = 1;
    o.seed = 5;
    ok(eng_md_run(calc, s, &o, observe, &b, NULL, NULL, &st) == ENG_OK, "%s 5 ps",
       ens == 1 ? "NVT" : "NPT");
    diag("%s: conserved range %.3e eV/atom, drift %.3e eV/atom/ps, mean T %.1f K", ens == 1 ? "NVT" : "NPT",
         (b.cmax - b.cmin) / s->natoms, obs_slope(&b) / s->natoms, b.sum_t / b.n);
    ok((b.cmax - b.cmin) / s->natoms < 2e-4, "%s conserved quantity stays within 2e-4 eV/atom",
       ens == 1 ? "NVT" : "NPT");
    ok(fabs(st.conserved - st.pe - st.ke) > 0, "%s conserved includes the thermostat energy",
       ens == 1 ? "NVT" : "NPT");
    obs_free(&b);
    eng_system_free(s);
  }

  /* ---- errors and cancellation ---- */
  {
    eng_system *s = eng_system_copy(glass);
    obs b;
    eng_md_opts_default(&o);
    o.dt = 0;
    ok(eng_md_run(calc, s, &o, NULL, NULL, NULL, NULL, NULL) == ENG_EINVAL, "dt 0 is EINVAL");
    eng_md_opts_default(&o);
    o.ensemble = ENG_NVT;
    o.t_start = 0;
    ok(eng_md_run(calc, s, &o, NULL, NULL, NULL, NULL, NULL) == ENG_EINVAL, "NVT at 0 K is EINVAL");
    eng_md_opts_default(&o);
    o.ensemble = ENG_NVT;
    o.chain = 0;
    ok(eng_md_run(calc, s, &o, NULL, NULL, NULL, NULL, NULL) == ENG_EINVAL, "chain 0 is EINVAL");
    eng_md_opts_default(&o);
    o.ensemble = ENG_NPT;
    s->box.xy = 0.5;
    ok(eng_md_run(calc, s, &o, NULL, NULL, NULL, NULL, NULL) == ENG_EUNSUPP, "NPT on a triclinic box is EUNSUPP");
    s->box.xy = 0;
    obs_init(&b, 0, 0);
    b.stop_at = 10;
    eng_md_opts_default(&o);
    o.nsteps = 100;
    o.t_start = 300;
    o.init_velocities = 1;
    int rc = eng_md_run(calc, s, &o, observe, &b, NULL, NULL, &st);
    ok(rc == ENG_ECANCEL && st.step == 10 && b.calls == 11,
       "on_step returning non-zero stops at that step with ENG_ECANCEL");
    s->type_mass[1] = 0;
    ok(eng_md_run(calc, s, &o, NULL, NULL, NULL, NULL, NULL) == ENG_EINVAL, "a zero mass is EINVAL");
    obs_free(&b);
    eng_system_free(s);
  }
  eng_calc_free(calc);
  calc = NULL;

  /* ---- NVT: 500 atoms at 300 K hold the temperature within 2% ---- */
  {
    eng_system *s = tmd_random_cuzr(500, 0.0575, 2.2, 21);
    eng_min_opts mo;
    eng_min_result mr;
    obs b;
    double t0;
    eng_potential_free(pot);
    pot = NULL;
    if (!s || tmd_setup(potpath, s, &pot, &calc) != ENG_OK) bail("setup: %s", eng_last_error());
    eng_min_opts_default(&mo);
    mo.ftol = 1e-3;
    ok(eng_minimize(calc, s, &mo, NULL, NULL, &mr) == ENG_OK, "relax 500-atom random packing");
    obs_init(&b, 1000, 0);
    eng_md_opts_default(&o);
    o.ensemble = ENG_NVT;
    o.nsteps = 3500;
    o.t_start = o.t_stop = 300;
    o.init_velocities = 1;
    o.seed = 8;
    t0 = tmd_now();
    ok(eng_md_run(calc, s, &o, observe, &b, NULL, NULL, &st) == ENG_OK, "NVT 7 ps");
    diag("NVT 500 atoms: %.1f s, mean T over the last 5 ps %.2f K", tmd_now() - t0, b.sum_t / b.n);
    near(b.sum_t / b.n, 300, 0.02 * 300, "NVT mean temperature within 2%% of 300 K");
    obs_free(&b);
    eng_system_free(s);
    eng_calc_free(calc);
    calc = NULL;
  }

  /* ---- NPT: a liquid at 2000 K and 0 bar ---- */
  {
    eng_system *s = tmd_random_cuzr(256, 0.052, 2.2, 31);
    eng_min_opts mo;
    eng_min_result mr;
    obs b;
    double t0, mean, sd, sem = 0, rho;
    if (!s || tmd_setup(potpath, s, &pot, &calc) != ENG_OK) bail("setup: %s", eng_last_error());
    eng_min_opts_default(&mo);
    mo.ftol = 1e-2;
    ok(eng_minimize(calc, s, &mo, NULL, NULL, &mr) == ENG_OK, "relax random packing");
    obs_init(&b, 1500, 500);
    eng_md_opts_default(&o);
    o.ensemble = ENG_NPT;
    o.nsteps = 1500 + 5000 - 1;
    o.t_start = o.t_stop = 2000;
    o.p_target = 0;
    o.init_velocities = 1;
    o.seed = 4;
    t0 = tmd_now();
    ok(eng_md_run(calc, s, &o, observe, &b, NULL, NULL, &st) == ENG_OK, "NPT 13 ps at 2000 K");
    mean = b.sum_p / b.n;
    sd = sqrt(fmax(0.0, b.sum2_p / b.n - mean * mean));
    for (int k = 0; k < 10; k++) sem += (b.blocks[k] - mean) * (b.blocks[k] - mean);
    sem = sqrt(sem / (10 * 9));
    rho = s->natoms / (b.sum_v / b.n);
    diag("NPT liquid: %.1f s; <P> = %.0f bar, sd %.0f bar, block s.e.m. %.0f bar; <T> = %.1f K; "
         "density %.5f atoms/A^3", tmd_now() - t0, mean, sd, sem, b.sum_t / b.n, rho);
    ok(fabs(mean) < 3 * sem, "NPT mean pressure is 0 within 3 standard errors (%.0f +- %.0f bar)", mean, sem);
    ok(fabs(mean) < sd, "NPT mean pressure within one instantaneous fluctuation");
    ok(rho > 0.048 && rho < 0.056, "liquid density plausible (%.4f atoms/A^3)", rho);
    near(b.sum_t / b.n, 2000, 0.03 * 2000, "NPT mean temperature near 2000 K");
    obs_free(&b);
    eng_system_free(s);
  }
  eng_calc_free(calc);
  eng_potential_free(pot);
  eng_system_free(glass);
  return tap_done();
}
