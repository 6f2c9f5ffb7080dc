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

typedef struct pcancel {
  int calls;
} pcancel;

/* Progress callback that cancels at once. */
static int cancel_progress(void *ud, double frac, const char *msg) {
  pcancel *p = ud;
  (void)frac;
  (void)msg;
  p->calls++;
  return 1;
}

int main(void) {
  const char *potpath = tmd_potential_path();
  eng_potential *pot = NULL, *pot2 = NULL;
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
    q.t_melt = 2;
    q.rate = 1000; /* 1.7 ps from 2000 to 300 K */
    q.t_hold = 0.5;
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
    ok(e / glass->natoms > -5.3 && e / glass->natoms < -4.6, "glass energy per atom plausible (%.4f eV)",
       e / glass->natoms);
    ok(rho > 0.054 && rho < 0.062, "glass density plausible (%.4f atoms/A^3)", rho);
    ok(glass->image != NULL, "MD allocated image flags");
  }

  /* ---- quench: bad options and cancellation ---- */
  {
    eng_quench_opts q;
    eng_system *s = eng_system_copy(glass);
    eng_quench_opts_default(&q);
    q.rate = 0;
    ok(eng_quench(calc, s, &q, NULL, NULL, NULL) == ENG_EINVAL, "quench with rate 0 is EINVAL");
    eng_quench_opts_default(&q);
    q.t_melt = 2.2;
    {
      pcancel pc = {0};
      int rc = eng_quench(calc, s, &q, cancel_progress, &pc, NULL);
      ok(rc == ENG_ECANCEL && pc.calls == 1, "quench cancelled by progress returns ENG_ECANCEL");
    }
    eng_system_free(s);
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

  /* ---- a triclinic (sheared) box: NVE and CG ---- */
  {
    eng_system *s = eng_system_copy(glass);
    eng_min_opts mo;
    eng_min_result mr;
    obs b;
    double xy = 1.5, xz = -0.8, yz = 0.6;
    for (int i = 0; i < s->natoms; i++) {
      double *x = s->x + 3 * i;
      double sy = (x[1] - s->box.lo[1]) / s->box.len[1], sz = (x[2] - s->box.lo[2]) / s->box.len[2];
      x[0] += sy * xy + sz * xz;
      x[1] += sz * yz;
    }
    s->box.xy = xy;
    s->box.xz = xz;
    s->box.yz = yz;
    obs_init(&b, 0, 0);
    eng_md_opts_default(&o);
    o.nsteps = 500;
    o.t_start = 600;
    o.init_velocities = 1;
    eng_calc_invalidate(calc);
    int rc = eng_md_run(calc, s, &o, observe, &b, NULL, NULL, &st);
    ok(rc == ENG_OK, "NVE on a triclinic box (%s)", rc == ENG_OK ? "ok" : eng_last_error());
    diag("triclinic NVE: total-energy range %.3e eV/atom, largest unwrapped step %.3f A",
         (b.cmax - b.cmin) / s->natoms, b.max_jump);
    ok((b.cmax - b.cmin) / s->natoms < 1e-4 && b.max_jump < 0.5,
       "triclinic NVE conserves energy and keeps unwrapped positions continuous");
    eng_min_opts_default(&mo);
    rc = eng_minimize(calc, s, &mo, NULL, NULL, &mr);
    ok(rc == ENG_OK && mr.fmax < 1e-5, "CG on the triclinic glass (stop %s, fmax %.2e)",
       eng_min_stop_name(mr.stop), mr.fmax);
    obs_free(&b);
    eng_system_free(s);
    eng_calc_invalidate(calc);
  }

  /* ---- reproducibility: same seed -> identical trajectory ---- */
  for (int ens = 1; ens <= 2; ens++) {
    eng_system *a = eng_system_copy(glass), *c = eng_system_copy(glass);
    eng_md_opts_default(&o);
    o.ensemble = ens;
    o.nsteps = 200;
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

  /* ---- NVT, NPT and anisotropic NPT conserved quantities at constant T ---- */
  for (int run = 1; run <= 3; run++) {
    static const char *names[4] = {"", "NVT", "NPT", "NPT aniso"};
    eng_system *s = eng_system_copy(glass);
    obs b;
    obs_init(&b, 0, 0);
    eng_md_opts_default(&o);
    o.ensemble = run == 1 ? ENG_NVT : ENG_NPT;
    o.aniso = run == 3;
    o.nsteps = 1000;
    o.t_start = o.t_stop = 600;
    o.init_velocities = 1;
    o.seed = 5;
    ok(eng_md_run(calc, s, &o, observe, &b, NULL, NULL, &st) == ENG_OK, "%s 2 ps", names[run]);
    diag("%s: conserved range %.3e eV/atom, drift %.3e eV/atom/ps, mean T %.1f K, final box %.3f %.3f %.3f",
         names[run], (b.cmax - b.cmin) / s->natoms, obs_slope(&b) / s->natoms, b.sum_t / b.n, s->box.len[0],
         s->box.len[1], s->box.len[2]);
    ok((b.cmax - b.cmin) / s->natoms < 1e-4, "%s conserved quantity stays within 1e-4 eV/atom", names[run]);
    ok(fabs(st.conserved - st.pe - st.ke) > 1e-6, "%s conserved includes the thermostat energy", names[run]);
    if (run == 3)
      ok(s->box.len[0] != s->box.len[1] && s->box.len[1] != s->box.len[2], "anisotropic NPT changes axes independently");
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

  /* ---- threads: NVE with 2 threads is reproducible and follows 1 thread ---- */
  {
    eng_system *s = tmd_random_cuzr(4500, 0.0556, 2.2, 21), *start, *run[3];
    eng_min_opts mo;
    static const int nt[3] = {2, 2, 1};
    int rc = 0;
    if (!s || tmd_setup(potpath, s, &pot2, &calc) != ENG_OK) bail("threads setup: %s", eng_last_error());
    eng_min_opts_default(&mo);
    mo.algo = ENG_MIN_FIRE;
    mo.max_iter = 30;
    eng_minimize(calc, s, &mo, NULL, NULL, NULL);
    start = eng_system_copy(s);
    eng_md_opts_default(&o);
    o.ensemble = ENG_NVE;
    o.nsteps = 10;
    o.t_start = o.t_stop = 600;
    o.init_velocities = 1;
    o.seed = 9;
    for (int k = 0; k < 3; k++) {
      run[k] = eng_system_copy(start);
      eng_set_threads(nt[k]);
      eng_calc_invalidate(calc);
      rc |= eng_md_run(calc, run[k], &o, NULL, NULL, NULL, NULL, &st);
    }
    eng_set_threads(1);
    ok(rc == ENG_OK, "NVE, 4500 atoms, 10 steps with 2, 2 and 1 threads");
    ok(memcmp(run[0]->x, run[1]->x, sizeof(double) * 3 * s->natoms) == 0 &&
           memcmp(run[0]->v, run[1]->v, sizeof(double) * 3 * s->natoms) == 0,
       "2 threads twice: bit-identical positions and velocities");
    {
      double dx = 0;
      for (int i = 0; i < 3 * s->natoms; i++) dx = fmax(dx, fabs(run[0]->x[i] - run[2]->x[i]));
      ok(dx < 1e-9, "2 vs 1 thread after 10 steps: max |dx| %.2g A", dx);
    }
    for (int k = 0; k < 3; k++) eng_system_free(run[k]);
    eng_system_free(start);
    eng_system_free(s);
    eng_calc_free(calc);
    calc = NULL;
  }
  eng_potential_free(pot2);
  eng_potential_free(pot);
  eng_system_free(glass);
  return tap_done();
}
