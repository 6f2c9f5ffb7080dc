/*
 * test_msd.c -- vibrational and diffusive MSD from MD, flexibility volume.
 *  - fcc Cu (Mishin EAM, 256 atoms) at 1 mK with a negligible thermostat
 *    coupling: the MD time average of |r_i(t) - r_i,IS|^2 equals the exact
 *    harmonic trajectory built from the normal modes (eng_hessian_build +
 *    dense eng_modes_lowest, the "modes" work) for the same initial
 *    velocities, per atom; the diffusive MSD equals |u_i(end)|^2 of that
 *    trajectory;
 *  - NVT at 10 K: the mean over atoms and 6 seeds equals the harmonic
 *    k_B T sum |e|^2/(m lambda) (eng_msd_harmonic); at 20 K it doubles;
 *  - unwrapping: an atom crossing the box keeps its true displacement;
 *  - bit-identical reruns; flexibility volume; bad input.
 */
#include "engine.h"
#include "../tap.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CU_POT "/usr/share/lammps/potentials/Cu_mishin1.eam.alloy"

/* Exact harmonic displacement of every atom at time t from the IS with
 * initial velocities v0: u_i(t) = m_i^-1/2 sum_m e_m^i (p_m / w_m) sin(w_m t),
 * p_m = sum_i sqrt(m_i) v0_i . e_m^i, w_m = sqrt(lambda_m / mvv2e). */
static void harmonic_u(const eng_modes *md, const eng_system *s, const double *p, double t, double *u) {
  int n3 = 3 * s->natoms;
  memset(u, 0, sizeof(double) * n3);
  for (int m = 0; m < md->nmodes; m++) {
    double w = sqrt(md->lambda[m] / ENG_MVV2E);
    double q = p[m] / w * sin(w * t);
    const double *e = md->evec + (size_t)m * n3;
    for (int k = 0; k < n3; k++) u[k] += e[k] * q;
  }
  for (int k = 0; k < n3; k++) u[k] /= sqrt(eng_system_mass(s, k / 3));
}

int main(void) {
  eng_potential *pot = NULL;
  eng_calc *c = NULL;
  eng_system *s = NULL, *v0 = NULL;
  eng_hessian *h = NULL;
  eng_modes *md = NULL;
  eng_modes_opts mo;
  eng_msd_opts o;
  eng_msd *a = NULL, *b = NULL, *d = NULL;
  double *p = NULL, *u = NULL, *ref = NULL;
  const double T = 0.001; /* harmonic limit: at 10 K cubic anharmonicity
                             * dephases single trajectories by ~7% in 2 ps */
  int rc, n;

  rc = eng_potential_read(CU_POT, ENG_POT_AUTO, &pot);
  if (rc) {
    skip("no Cu potential: %s", eng_last_error());
    return tap_done();
  }
  s = tu_fcc_cu(4, 3.615, 0.25);
  if (!s || eng_calc_create(pot, s, NULL, &c) != ENG_OK) bail("set-up: %s", eng_last_error());
  n = s->natoms;

  /* Modes of the perfect crystal (its positions are the IS by symmetry). */
  rc = eng_hessian_build(c, s, &h);
  eng_modes_opts_default(&mo);
  mo.nmodes = -1;
  mo.solver = ENG_MODES_DENSE;
  if (rc == ENG_OK) rc = eng_modes_lowest(h, s, &mo, NULL, NULL, &md);
  ok(rc == ENG_OK, "all %d normal modes of fcc Cu (%d atoms) %s", 3 * n - 3, n, rc ? eng_last_error() : "");
  if (rc) goto out;

  /* 1. Quasi-NVE (t_damp 1e5 ps): MD against the exact harmonic trajectory. */
  eng_msd_opts_default(&o);
  o.temp = T;
  o.time = 2.0;
  o.dt = 0.002;
  o.t_damp = 1e5;
  o.sample_every = 5;
  o.seed = 77;
  rc = eng_msd_compute(c, s, &o, NULL, NULL, &a);
  ok(rc == ENG_OK && a->nsamples == 200, "vibrational MSD run, %ld samples %s", a ? a->nsamples : 0L,
     rc ? eng_last_error() : "");
  /* The end point is a single snapshot, so the Verlet phase error of the
   * top modes (w^3 dt^2 t/24 = 0.035 rad at dt = 2 fs) is not averaged
   * out: 0.5 fs makes it 16 times smaller. */
  o.mode = ENG_MSD_DIFFUSIVE;
  o.dt = 0.0005;
  o.sample_every = 20;
  rc = eng_msd_compute(c, s, &o, NULL, NULL, &d);
  ok(rc == ENG_OK, "diffusive MSD run %s", rc ? eng_last_error() : "");
  if (!a || !d) goto out;
  v0 = eng_system_copy(s);
  eng_velocity_create(v0, T, o.seed); /* what eng_md_run draws */
  p = calloc(md->nmodes, sizeof *p);
  u = calloc(3 * n, sizeof *u);
  ref = calloc(n, sizeof *ref);
  for (int m = 0; m < md->nmodes; m++)
    for (int k = 0; k < 3 * n; k++) p[m] += sqrt(eng_system_mass(v0, k / 3)) * v0->v[k] * md->evec[(size_t)m * 3 * n + k];
  for (int smp = 1; smp <= 200; smp++) {
    harmonic_u(md, s, p, smp * 5 * 0.002, u); /* the vibrational run: dt 2 fs, every 5 steps */
    for (int i = 0; i < n; i++) ref[i] += (u[3 * i] * u[3 * i] + u[3 * i + 1] * u[3 * i + 1] + u[3 * i + 2] * u[3 * i + 2]) / 200;
  }
  {
    double worst = 0.0, mean_md = 0.0, mean_h = 0.0;
    for (int i = 0; i < n; i++) {
      worst = fmax(worst, fabs(a->msd[i] - ref[i]) / ref[i]);
      mean_md += a->msd[i] / n;
      mean_h += ref[i] / n;
    }
    diag("1 mK, 2 ps: mean MSD from MD %.6g A^2, exact harmonic trajectory %.6g A^2", mean_md, mean_h);
    /* measured 8e-4 (Verlet phase error (w dt)^2/24 ~ 4e-4 per period) */
    ok(worst < 0.005, "per-atom MD MSD equals the harmonic trajectory average (worst rel. diff %.3g)", worst);
    near(mean_md, mean_h, 0.005 * mean_h, "mean MSD equals the harmonic trajectory average within 0.5%%");
  }
  harmonic_u(md, s, p, 2.0, u);
  {
    double worst = 0.0, scale = 0.0;
    for (int i = 0; i < n; i++) scale = fmax(scale, ref[i]);
    for (int i = 0; i < n; i++)
      worst = fmax(worst, fabs(d->msd[i] - (u[3 * i] * u[3 * i] + u[3 * i + 1] * u[3 * i + 1] + u[3 * i + 2] * u[3 * i + 2])));
    ok(worst < 0.02 * scale, "diffusive MSD = |u_i(2 ps)|^2 of the harmonic trajectory (worst %.3g A^2, scale %.3g)",
       worst, scale);
    /* x_end (the D2min current configuration) is the unwrapped end point */
    worst = 0.0;
    for (int i = 0; i < n; i++) {
      double dd = 0.0;
      for (int k = 0; k < 3; k++) dd += (d->x_end[3 * i + k] - s->x[3 * i + k]) * (d->x_end[3 * i + k] - s->x[3 * i + k]);
      worst = fmax(worst, fabs(dd - d->msd[i]));
    }
    ok(worst < 1e-12 * scale + 1e-20, "x_end - x_start squared equals the diffusive MSD (worst %.2g A^2)", worst);
  }
  eng_msd_free(a);
  eng_msd_free(d);
  a = d = NULL;

  /* 2. NVT at 10 K against the harmonic thermal MSD k_B T sum |e|^2/(m
   * lambda) (eng_msd_harmonic).  One 2 ps run samples the random energies
   * of a few low modes: the system mean scatters by 4.8% between seeds
   * (measured over 6 seeds), so 6 seeds are averaged and compared within
   * 3 standard errors (6%).  Then 20 K with the last seed: MSD doubles. */
  {
    double mmd = 0.0, mh = 0.0, m10 = 0.0, m20 = 0.0, *hm = calloc(n, sizeof *hm);
    const int nseed = 6;
    eng_msd_opts_default(&o);
    o.temp = 10.0;
    o.time = 2.0;
    o.t_equil = 0.5;
    for (int seed = 1; seed <= nseed && rc == ENG_OK; seed++) {
      eng_msd_free(a);
      a = NULL;
      o.seed = (uint64_t)seed;
      rc = eng_msd_compute(c, s, &o, NULL, NULL, &a);
      for (int i = 0; rc == ENG_OK && i < n; i++) mmd += a->msd[i] / n / nseed;
    }
    o.temp = 20.0;
    if (rc == ENG_OK) rc = eng_msd_compute(c, s, &o, NULL, NULL, &b);
    ok(rc == ENG_OK, "NVT MSD at 10 K (%d seeds) and 20 K %s", nseed, rc ? eng_last_error() : "");
    if (rc) {
      free(hm);
      goto out;
    }
    eng_msd_harmonic(md, s, 10.0, hm);
    for (int i = 0; i < n; i++) {
      mh += hm[i] / n;
      m10 += a->msd[i] / n;
      m20 += b->msd[i] / n;
    }
    free(hm);
    diag("NVT 10 K: mean MSD over %d seeds %.6g A^2, harmonic %.6g A^2 (ratio %.4f)", nseed, mmd, mh, mmd / mh);
    near(mmd / mh, 1.0, 0.06, "NVT MSD at 10 K equals the harmonic k_B T sum |e|^2/(m lambda) (6 seeds, 3 s.e.)");
    diag("seed %d: 10 K %.6g, 20 K %.6g A^2 (ratio %.4f); <T> %.2f, %.2f K", nseed, m10, m20, m20 / m10, a->t_mean,
         b->t_mean);
    near(m20 / m10, 2.0, 0.02, "MSD(20 K) / MSD(10 K) = 2 within 1%% (harmonic equipartition scaling)");
  }
  /* Same inputs: bit-identical. */
  {
    eng_msd *again = NULL;
    rc = eng_msd_compute(c, s, &o, NULL, NULL, &again);
    ok(rc == ENG_OK && memcmp(again->msd, b->msd, sizeof(double) * n) == 0, "rerun is bit-identical");
    eng_msd_free(again);
  }
  /* Unwrapping: shift the crystal so atoms sit on the box faces; MSD must
   * not pick up box lengths. */
  {
    eng_system *t = eng_system_copy(s);
    eng_msd *w = NULL;
    double mx = 0.0;
    for (int i = 0; i < n; i++) t->x[3 * i] -= 0.25 * 3.615 - 1e-4;
    o.temp = 20.0;
    rc = eng_msd_compute(c, t, &o, NULL, NULL, &w);
    for (int i = 0; rc == ENG_OK && i < n; i++) mx = fmax(mx, w->msd[i]);
    ok(rc == ENG_OK && mx < 0.05, "atoms crossing the periodic boundary keep small MSDs (max %.3g A^2)", mx);
    eng_msd_free(w);
    eng_system_free(t);
  }
  /* Flexibility volume. */
  {
    double msd[2] = {0.05, 0.02}, vol[2] = {16.0, 20.0}, fv[2];
    rc = eng_flex_volume(2, msd, vol, fv);
    ok(rc == ENG_OK, "flexibility volume");
    near(fv[0], 0.05 / pow(16.0, 2.0 / 3.0) * 16.0, 1e-15, "v_flex = msd / a^2 * Omega, a = Omega^(1/3)");
    near(fv[1], 0.02 * cbrt(20.0), 1e-15, "v_flex = msd * Omega^(1/3)");
    vol[1] = 0.0;
    rc = eng_flex_volume(2, msd, vol, fv);
    ok(rc == ENG_EINVAL, "zero volume rejected: %s", eng_last_error());
  }
  /* Bad options. */
  {
    eng_msd *bad = NULL;
    eng_msd_opts_default(&o);
    o.temp = -1;
    rc = eng_msd_compute(c, s, &o, NULL, NULL, &bad);
    ok(rc == ENG_EINVAL && !bad, "negative temperature rejected: %s", eng_last_error());
    eng_msd_opts_default(&o);
    o.time = 0.01;
    o.sample_every = 100;
    rc = eng_msd_compute(c, s, &o, NULL, NULL, &bad);
    ok(rc == ENG_EINVAL && !bad, "sampling interval longer than the run rejected: %s", eng_last_error());
  }
out:
  free(p);
  free(u);
  free(ref);
  eng_msd_free(a);
  eng_msd_free(b);
  eng_msd_free(d);
  eng_modes_free(md);
  eng_hessian_free(h);
  eng_system_free(v0);
  eng_calc_free(c);
  eng_system_free(s);
  eng_potential_free(pot);
  return tap_done();
}
