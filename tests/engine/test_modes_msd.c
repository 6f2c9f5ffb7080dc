/*
 * test_modes_msd.c -- the harmonic vibrational MSD (eng_msd_harmonic,
 * modes.c) against molecular dynamics at 10 K, on a 500-atom fcc Cu
 * crystal (Mendelev Cu-Zr eam/fs).  A crystal, not a glass: small random
 * Cu-Zr glasses made here in seconds hop to other minima at 10 K within a
 * few ps and their soft spots give 5-10 % run-to-run scatter (see
 * docs/modes.md), which would hide what is tested.
 *
 * Independent NVE runs start at the minimum with Maxwell-Boltzmann
 * velocities at 2T, so that each mode holds k_B T on average (a thermostat
 * would not share energy between nearly harmonic modes).  Checks:
 *  (a) each run's time-averaged |r_i - r_IS|^2 (atom mean) against the one
 *      of the harmonic trajectory of the computed modes started with the
 *      same velocities, q_m(t) = (qdot_m / w_m) sin(w_m t), sampled at the
 *      same steps: their mean ratio measures anharmonicity only;
 *  (b) the run average against k_B T sum_m |e_m^i|^2 / (m_i lambda_m)
 *      averaged over atoms, within 3 standard errors of the run scatter
 *      (and that standard error small enough for the check to mean something).
 */
#include "engine.h"
#include "testutil.h"
#include "../tap.h"

#include <math.h>
#include <string.h>

/* fcc Cu crystal of nc^3 cubic cells of edge a (Angstrom), every atom
 * displaced by up to 0.05 A (seeded), then minimised. */
static eng_system *fcc_cu(eng_potential *pot, int nc, double a, uint64_t seed, eng_calc **calc) {
  static const double basis[4][3] = {{0, 0, 0}, {0.5, 0.5, 0}, {0.5, 0, 0.5}, {0, 0.5, 0.5}};
  eng_system *s = eng_system_create(4 * nc * nc * nc, 1);
  eng_min_opts o;
  eng_min_result res;
  eng_rng r;
  int k = 0;
  if (!s) return NULL;
  strcpy(s->type_name[0], "Cu");
  s->type_mass[0] = eng_element_mass("Cu");
  for (int d = 0; d < 3; d++) {
    s->box.len[d] = nc * a;
    s->box.periodic[d] = 1;
  }
  eng_rng_seed(&r, seed);
  for (int i = 0; i < nc; i++)
    for (int j = 0; j < nc; j++)
      for (int l = 0; l < nc; l++)
        for (int b = 0; b < 4; b++, k++) {
          s->type[k] = 0;
          s->x[3 * k] = (i + basis[b][0]) * a + 0.1 * (eng_rng_uniform(&r) - 0.5);
          s->x[3 * k + 1] = (j + basis[b][1]) * a + 0.1 * (eng_rng_uniform(&r) - 0.5);
          s->x[3 * k + 2] = (l + basis[b][2]) * a + 0.1 * (eng_rng_uniform(&r) - 0.5);
        }
  if (eng_calc_create(pot, s, NULL, calc)) {
    eng_system_free(s);
    return NULL;
  }
  eng_min_opts_default(&o);
  o.algo = ENG_MIN_CG;
  o.ftol = 1e-8;
  if (eng_minimize(*calc, s, &o, NULL, NULL, &res)) {
    eng_system_free(s);
    eng_calc_free(*calc);
    return NULL;
  }
  diag("fcc Cu %d atoms, a = %g A: E = %.6f eV (%.4f eV/atom), fmax %.2g eV/A", s->natoms, a,
       res.e_final, res.e_final / s->natoms, res.fmax);
  return s;
}

static double sq(double x) { return x * x; }

typedef struct msd_acc {
  const double *x0;
  double *sum;
  long nsamp;
} msd_acc;

static int on_step(void *ud, const eng_system *sys, const double *f, const eng_md_state *st) {
  msd_acc *a = ud;
  (void)f;
  if (st->step == 0 || st->step % 4) return 0;
  for (int i = 0; i < sys->natoms; i++) {
    double d[3] = {sys->x[3 * i] - a->x0[3 * i], sys->x[3 * i + 1] - a->x0[3 * i + 1],
                   sys->x[3 * i + 2] - a->x0[3 * i + 2]};
    eng_box_minimum_image(&sys->box, d);
    a->sum[i] += d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
  }
  a->nsamp++;
  return 0;
}

int main(void) {
  eng_potential *pot = NULL;
  eng_calc *calc = NULL;
  eng_system *s = NULL;
  eng_hessian *h = NULL;
  eng_modes *all = NULL;
  eng_modes_opts o;
  int n, n3;

  if (eng_potential_read(TU_CUZR, ENG_POT_AUTO, &pot) != ENG_OK) {
    skip("Cu-Zr potential not found at %s", TU_CUZR);
    return tap_done();
  }
  s = fcc_cu(pot, 5, 3.615, 5, &calc);
  if (!s) bail("crystal: %s", eng_last_error());
  n = s->natoms;
  n3 = 3 * n;
  if (eng_hessian_build(calc, s, &h)) bail("hessian: %s", eng_last_error());
  eng_modes_opts_default(&o);
  o.nmodes = -1;
  if (eng_modes_lowest(h, s, &o, NULL, NULL, &all)) bail("modes: %s", eng_last_error());
  ok(all->lambda[0] > 0, "fcc crystal is a minimum (lowest mode %.3f THz)", all->thz[0]);

  /* ---- harmonic MSD vs MD at 10 K ----
   * R independent NVE runs from the minimum with Maxwell-Boltzmann
   * velocities at 2T (mode energies then average k_B T; a thermostat would
   * not share energy between the nearly harmonic modes).  Checks:
   *  (a) each run's time-averaged |r_i - r_IS|^2 equals the one of the
   *      harmonic trajectory with the same initial velocities,
   *      q_m(t) = (qdot_m / w_m) sin(w_m t), sampled at the same steps:
   *      the difference is anharmonicity (and Verlet error) only;
   *  (b) the run average equals k_B T sum |e|^2/(m lambda) (eng_msd_harmonic)
   *      within 3 standard errors of the run-to-run scatter. */
  {
    const double T = 10.0, dt = 0.005;
    const int nrun = 4, nsteps = 600;
    double *mh = malloc(sizeof *mh * n), *x0 = malloc(sizeof *x0 * n3);
    double *qd = malloc(sizeof *qd * all->nmodes), *om = malloc(sizeof *om * all->nmodes);
    double *dr = malloc(sizeof *dr * n3);
    eng_system *w = eng_system_copy(s);
    msd_acc acc;
    double md_runs[16], hp_runs[16], ratio = 0;
    if (!mh || !x0 || !qd || !om || !dr || !w) bail("out of memory");
    ok(eng_msd_harmonic(all, s, T, mh) == ENG_OK, "harmonic MSD at %g K", T);
    memcpy(x0, s->x, sizeof *x0 * n3);
    for (int m = 0; m < all->nmodes; m++) om[m] = sqrt(all->lambda[m] / ENG_MVV2E);
    acc.x0 = x0;
    acc.sum = malloc(sizeof *acc.sum * n);
    for (int r = 0; r < nrun; r++) {
      eng_md_opts mo;
      memcpy(w->x, x0, sizeof *x0 * n3);
      if (eng_velocity_create(w, 2 * T, 1000 + r)) bail("velocities: %s", eng_last_error());
      /* harmonic trajectory from the same velocities */
      for (int m = 0; m < all->nmodes; m++) {
        const double *e = all->evec + (size_t)m * n3;
        double q = 0;
        for (int i = 0; i < n3; i++) q += sqrt(eng_system_mass(s, i / 3)) * w->v[i] * e[i];
        qd[m] = q;
      }
      double hsum = 0;
      long nh = 0;
      for (int st = 4; st <= nsteps; st += 4, nh++) {
        memset(dr, 0, sizeof *dr * n3);
        for (int m = 0; m < all->nmodes; m++) {
          const double *e = all->evec + (size_t)m * n3;
          double a = qd[m] / om[m] * sin(om[m] * st * dt);
          for (int i = 0; i < n3; i++) dr[i] += a * e[i];
        }
        for (int i = 0; i < n3; i++) hsum += dr[i] * dr[i] / eng_system_mass(s, i / 3);
      }
      hp_runs[r] = hsum / nh / n;
      memset(acc.sum, 0, sizeof *acc.sum * n);
      acc.nsamp = 0;
      eng_md_opts_default(&mo);
      mo.ensemble = ENG_NVE;
      mo.dt = dt;
      mo.nsteps = nsteps;
      if (eng_md_run(calc, w, &mo, on_step, &acc, NULL, NULL, NULL))
        bail("md: %s", eng_last_error());
      md_runs[r] = 0;
      for (int i = 0; i < n; i++) md_runs[r] += acc.sum[i] / acc.nsamp / n;
      ratio += (md_runs[r] / hp_runs[r]) / nrun;
      diag("run %d: atom-mean MSD MD %.6f A^2, harmonic trajectory %.6f A^2, T_end %.2f K", r,
           md_runs[r], hp_runs[r], eng_temperature(w));
    }
    ok(fabs(ratio - 1) < 0.01, "(a) MD MSD / harmonic-trajectory MSD averaged over %d runs "
       "x %g ps at %g K = %.4f (within 1%%)", nrun, nsteps * dt, T, ratio);
    double hm = 0, mean = 0, var = 0;
    for (int i = 0; i < n; i++) hm += mh[i] / n;
    for (int r = 0; r < nrun; r++) mean += md_runs[r] / nrun;
    for (int r = 0; r < nrun; r++) var += sq(md_runs[r] - mean) / (nrun - 1);
    double se = sqrt(var / nrun);
    ok(fabs(mean - hm) < 3 * se && se < 0.06 * hm,
       "(b) run-averaged MD MSD %.6f A^2 = k_B T sum|e|^2/(m lambda) %.6f A^2 within 3 "
       "standard errors (%.1f%%; difference %.1f%%)", mean, hm, 300 * se / hm,
       100 * (mean / hm - 1));
    free(mh);
    free(x0);
    free(qd);
    free(om);
    free(dr);
    free(acc.sum);
    eng_system_free(w);
  }

  eng_modes_free(all);
  eng_hessian_free(h);
  eng_calc_free(calc);
  eng_system_free(s);
  eng_potential_free(pot);
  return tap_done();
}
