/*
 * test_modes.c -- normal modes (modes.c) on small minimised Cu-Zr glasses
 * (Mendelev eam/fs):
 *  - the dense solver's spectrum equals LAPACK's full spectrum of the bare
 *    D (dsyev, no projection) minus its three zero translations;
 *  - eigenvectors are unit, orthogonal to the translations, residuals small;
 *  - the shift-invert (ARPACK + CHOLMOD) lowest eigenvalues and vectors
 *    equal the dense ones, also on an unrelaxed structure whose negative
 *    modes force the sigma retry;
 *  - participation sums, VDOS normalisation;
 *  - harmonic MSD against MD at 10 K: independent NVE runs started at the
 *    minimum with Maxwell-Boltzmann velocities at 2T (so each mode holds
 *    k_B T on average), time-averaged |r - r_IS|^2, averaged over runs;
 *  - bad input.
 */
#include "engine.h"
#include "testutil.h"
#include "../tap.h"

#include <lapacke.h>
#include <math.h>
#include <string.h>

static eng_system *glass(eng_potential *pot, int n, double txy, uint64_t seed, int relax,
                         eng_calc **calc) {
  eng_system *s = tu_random_sample(n, 0.058, txy, 0, 0, "Cu", "Zr", 0.5, 2.2, seed);
  eng_min_opts o;
  eng_min_result res;
  if (!s) return NULL;
  if (eng_calc_create(pot, s, NULL, calc)) {
    eng_system_free(s);
    return NULL;
  }
  eng_min_opts_default(&o);
  o.algo = ENG_MIN_CG;
  o.ftol = relax ? 1e-8 : 0.5;
  o.max_iter = relax ? 20000 : 20;
  if (eng_minimize(*calc, s, &o, NULL, NULL, &res)) {
    eng_system_free(s);
    eng_calc_free(*calc);
    return NULL;
  }
  diag("glass %d atoms: E = %.6f eV, fmax %.2g eV/A after %d iterations", n, res.e_final,
       res.fmax, res.iterations);
  return s;
}

/* Full spectrum of the bare mass-weighted D (no projection), ascending. */
static double *full_spectrum(const eng_hessian *h, const eng_system *s) {
  int n3 = 3 * s->natoms;
  double *d = malloc(sizeof *d * (size_t)n3 * n3), *w = malloc(sizeof *w * n3);
  if (!d || !w) bail("out of memory");
  eng_hessian_dense(h, s, d);
  if (LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'N', 'U', n3, d, n3, w) != 0) bail("dsyev failed");
  free(d);
  return w;
}

static double dot(const double *a, const double *b, int n) {
  double s = 0;
  for (int i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

int main(void) {
  eng_potential *pot = NULL;
  eng_calc *calc = NULL;
  eng_system *s = NULL;
  eng_hessian *h = NULL;
  eng_modes *all = NULL, *low = NULL;
  eng_modes_opts o;
  int n, n3;

  if (eng_potential_read(TU_CUZR, ENG_POT_AUTO, &pot) != ENG_OK) {
    skip("Cu-Zr potential not found at %s", TU_CUZR);
    return tap_done();
  }
  s = glass(pot, 250, 0.1, 21, 1, &calc);
  if (!s) bail("glass: %s", eng_last_error());
  n = s->natoms;
  n3 = 3 * n;
  if (eng_hessian_build(calc, s, &h)) bail("hessian: %s", eng_last_error());

  /* ---- dense, all modes ---- */
  eng_modes_opts_default(&o);
  ok(eng_modes_count(&o, n) == 2 && eng_modes_count(&o, 20000) == 150,
     "default mode_fraction 0.25%%: 2 modes of 750, 150 of 60000");
  o.nmodes = -1;
  int rc = eng_modes_lowest(h, s, &o, NULL, NULL, &all);
  ok(rc == ENG_OK && all && all->nmodes == n3 - 3 && all->solver == ENG_MODES_DENSE,
     "dense solver gives all 3N-3 = %d modes (%s)", n3 - 3, rc ? eng_last_error() : "ok");
  if (!all) bail("no modes");
  {
    double *w = full_spectrum(h, s), err = 0, lmax = w[n3 - 1];
    int nz = 0;
    for (int i = 0; i < n3; i++)
      if (fabs(w[i]) < 1e-9 * lmax) nz++;
    ok(nz == 3, "bare D has exactly 3 zero eigenvalues (translations; |lambda| < 1e-9 max): %d",
       nz);
    for (int i = 0; i < n3 - 3; i++) err = fmax(err, fabs(all->lambda[i] - w[i + 3]));
    ok(err <= 1e-10 * lmax, "projected spectrum = full dsyev spectrum without the 3 zeros "
       "(max diff %.2g, lambda_max %.4g eV/(A^2 amu) = %.2f THz)", err, lmax,
       eng_mode_thz(lmax));
    ok(all->lambda[0] > 0, "minimum: lowest non-translational lambda %.4g > 0 (%.3f THz)",
       all->lambda[0], all->thz[0]);
    free(w);
  }
  {
    double nerr = 0, terr = 0, mt = 0;
    for (int i = 0; i < n; i++) mt += eng_system_mass(s, i);
    for (int m = 0; m < all->nmodes; m++) {
      const double *e = all->evec + (size_t)m * n3;
      double sum = 0, t[3] = {0, 0, 0};
      for (int i = 0; i < n; i++)
        for (int a = 0; a < 3; a++) {
          sum += e[3 * i + a] * e[3 * i + a];
          t[a] += sqrt(eng_system_mass(s, i) / mt) * e[3 * i + a];
        }
      nerr = fmax(nerr, fabs(sum - 1));
      terr = fmax(terr, fmax(fabs(t[0]), fmax(fabs(t[1]), fabs(t[2]))));
    }
    ok(nerr < 1e-12, "sum_i |e_w^i|^2 = 1 for every mode (max dev %.2g)", nerr);
    ok(terr < 1e-10, "modes orthogonal to the mass-weighted translations (max %.2g)", terr);
    ok(all->resid_max < 1e-8, "dense residuals |De - lambda e|/lambda <= %.2g", all->resid_max);
  }
  {
    double *p = malloc(sizeof *p * n), sum = 0, pmin = 1e300;
    int k = 20;
    ok(eng_participation(all, k, p) == ENG_OK, "participation over the lowest %d modes", k);
    for (int i = 0; i < n; i++) {
      sum += p[i];
      pmin = fmin(pmin, p[i]);
    }
    near(sum, k, 1e-10, "sum_i p_i = number of modes (paper Eq. 4 as written)");
    ok(pmin >= 0, "p_i >= 0");
    ok(eng_participation(all, all->nmodes + 1, p) == ENG_EINVAL, "more modes than computed is EINVAL");
    free(p);
  }
  {
    int nb = 100;
    double fmax = 12, g[100], sum = 0;
    ok(eng_vdos(all, fmax, nb, g) == ENG_OK, "VDOS");
    for (int b = 0; b < nb; b++) sum += g[b] * fmax / nb;
    near(sum, 1.0, 1e-12, "VDOS of all modes integrates to 1 over [0, %g) THz", fmax);
    ok(eng_vdos(all, 0, nb, g) == ENG_EINVAL, "fmax 0 is EINVAL");
  }

  /* ---- shift-invert and matrix-free Lanczos against dense ---- */
  for (int sv = 0; sv < 3; sv++) {
    const eng_modes_solver solver = sv == 2 ? ENG_MODES_CHEBYSHEV
                                    : sv    ? ENG_MODES_LANCZOS
                                            : ENG_MODES_SPARSE;
    const char *sn = sv == 2 ? "Chebyshev (cheb_tol 1e-10)" : sv ? "Lanczos" : "shift-invert";
    eng_modes_opts_default(&o);
    o.solver = solver;
    o.nmodes = 12;
    o.cheb_tol = 1e-10;
    rc = eng_modes_lowest(h, s, &o, NULL, NULL, &low);
    ok(rc == ENG_OK && low && low->nmodes == 12 && low->solver == solver,
       "%s gives 12 modes (%s)", sn, rc ? eng_last_error() : "ok");
    if (low) {
      double lerr = 0, verr = 0;
      for (int m = 0; m < 12; m++) {
        const double *a = all->evec + (size_t)m * n3, *b = low->evec + (size_t)m * n3;
        lerr = fmax(lerr, fabs(low->lambda[m] - all->lambda[m]) / all->lambda[m]);
        /* compare vectors only where the eigenvalue is isolated */
        double gap = fmin(m ? all->lambda[m] - all->lambda[m - 1] : 1e300,
                          all->lambda[m + 1] - all->lambda[m]);
        if (gap > 1e-3 * all->lambda[m]) verr = fmax(verr, 1 - fabs(dot(a, b, n3)));
      }
      ok(lerr < 1e-9, "%s: lowest 12 eigenvalues equal dense ones (max rel diff %.2g; sigma %g, "
         "%d operator applications)", sn, lerr, low->sigma, low->nop);
      ok(verr < 1e-8, "%s: eigenvectors equal dense ones (1 - |<e_dense,e_sparse>| <= %.2g)", sn,
         verr);
      ok(low->resid_max < 1e-7, "%s: residuals <= %.2g", sn, low->resid_max);
    }
    eng_modes_free(low);
    low = NULL;
  }

  /* ---- Chebyshev at its default tolerance: what the tolerance guarantees,
   * checked with products of the dense D (independent of the solver) ---- */
  {
    eng_modes_opts_default(&o);
    o.solver = ENG_MODES_CHEBYSHEV;
    o.nmodes = 12;
    rc = eng_modes_lowest(h, s, &o, NULL, NULL, &low);
    ok(rc == ENG_OK && low && low->solver == ENG_MODES_CHEBYSHEV && low->tol == 1e-4 &&
       low->block > 12, "Chebyshev, default cheb_tol 1e-4 (%s; block %d, degree %d, %d products, "
       "%d iterations)", rc ? eng_last_error() : "ok", low ? low->block : 0,
       low ? low->degree : 0, low ? low->nop : 0, low ? low->iterations : 0);
    if (!low) bail("no Chebyshev modes");
    double *d = malloc(sizeof *d * (size_t)n3 * n3), rf2 = 0, rmax = 0, bf = 0;
    if (!d) bail("out of memory");
    eng_hessian_dense(h, s, d);
    int bf_ok = 1;
    for (int m = 0; m < 12; m++) {
      const double *e = low->evec + (size_t)m * n3;
      double r2 = 0;
      for (int i = 0; i < n3; i++) r2 += pow(dot(d + (size_t)i * n3, e, n3) - low->lambda[m] * e[i], 2);
      rf2 += r2;
      rmax = fmax(rmax, sqrt(r2) / low->lambda[m]);
      /* Bauer-Fike for symmetric D: theta_m lies within |r_m| of an eigenvalue;
       * it must be the m-th one (none missed, none doubled) */
      bf = fmax(bf, fabs(low->lambda[m] - all->lambda[m]) / all->lambda[m]);
      if (fabs(low->lambda[m] - all->lambda[m]) > sqrt(r2) * (1 + 1e-9) + 1e-15) bf_ok = 0;
    }
    free(d);
    ok(rmax <= 1e-4, "Chebyshev: every |D e - theta e| / theta <= 1e-4 (dense products: %.2g)",
       rmax);
    ok(bf_ok, "Chebyshev: |theta_m - lambda_m(dense)| <= |r_m| for the 12 lowest (max rel diff "
       "%.2g)", bf);
    /* Davis-Kahan: sum_i |p_i - p_i(dense)| <= 2 sqrt(k) |R|_F / (lambda_13 - theta_12) */
    double *p1 = malloc(sizeof *p1 * n), *p2 = malloc(sizeof *p2 * n), dp = 0;
    eng_participation(all, 12, p1);
    eng_participation(low, 12, p2);
    for (int i = 0; i < n; i++) dp += fabs(p1[i] - p2[i]);
    double bound = 2 * sqrt(12.0) * sqrt(rf2) / (all->lambda[12] - low->lambda[11]);
    ok(dp <= bound, "Chebyshev: participation (Eq. 4, 12 modes) equals dense: sum_i |dp_i| = "
       "%.2g <= Davis-Kahan bound %.2g (of sum_i p_i = 12)", dp, bound);
    free(p1);
    free(p2);
    {
      eng_modes *again = NULL;
      rc = eng_modes_lowest(h, s, &o, NULL, NULL, &again);
      ok(rc == ENG_OK && again &&
             !memcmp(again->lambda, low->lambda, sizeof *low->lambda * 12) &&
             !memcmp(again->evec, low->evec, sizeof *low->evec * 12 * (size_t)n3),
         "Chebyshev: a rerun is bit-identical (fixed start block, ordered sums)");
      eng_modes_free(again);
    }
    eng_modes_free(low);
    low = NULL;
    /* AUTO above sparse_max_atoms, and AUTO's fallback when the factor is too big */
    eng_modes_opts_default(&o);
    o.nmodes = 4;
    o.dense_max_atoms = 10;
    o.sparse_max_atoms = 100;
    rc = eng_modes_lowest(h, s, &o, NULL, NULL, &low);
    ok(rc == ENG_OK && low && low->solver == ENG_MODES_CHEBYSHEV,
       "AUTO above sparse_max_atoms runs CHEBYSHEV (%s)", rc ? eng_last_error() : "ok");
    eng_modes_free(low);
    low = NULL;
    o.sparse_max_atoms = 1000;
    o.max_factor_gb = 1e-4;
    rc = eng_modes_lowest(h, s, &o, NULL, NULL, &low);
    ok(rc == ENG_OK && low && low->solver == ENG_MODES_CHEBYSHEV && low->factor_gb > 1e-4,
       "AUTO falls back from SPARSE to CHEBYSHEV when the factor exceeds max_factor_gb (%s)",
       rc ? eng_last_error() : "ok");
    eng_modes_free(low);
    low = NULL;
  }

  /* ---- bad input ---- */
  {
    eng_modes *m = (eng_modes *)1;
    eng_modes_opts_default(&o);
    o.sigma = 1e-3;
    ok(eng_modes_lowest(h, s, &o, NULL, NULL, &m) == ENG_EINVAL && m == NULL,
       "sigma >= 0 is EINVAL (%s)", eng_last_error());
    eng_modes_opts_default(&o);
    o.nmodes = n3;
    ok(eng_modes_lowest(h, s, &o, NULL, NULL, &m) == ENG_EINVAL, "more than 3N-3 modes is EINVAL");
    eng_modes_opts_default(&o);
    o.nmodes = -1;
    o.solver = ENG_MODES_SPARSE;
    ok(eng_modes_lowest(h, s, &o, NULL, NULL, &m) == ENG_EINVAL, "all modes with SPARSE is EINVAL");
    ok(eng_modes_lowest(NULL, s, NULL, NULL, NULL, &m) == ENG_EINVAL, "NULL Hessian is EINVAL");
    eng_modes_opts_default(&o);
    o.solver = ENG_MODES_SPARSE;
    o.nmodes = 4;
    o.max_factor_gb = 1e-4;
    ok(eng_modes_lowest(h, s, &o, NULL, NULL, &m) == ENG_ENOMEM && m == NULL,
       "factor above max_factor_gb is ENOMEM before factorising (%s)", eng_last_error());
    eng_system *t = eng_system_copy(s);
    t->type_mass[0] = 0;
    ok(eng_modes_lowest(h, t, NULL, NULL, NULL, &m) == ENG_EINVAL, "zero mass is EINVAL (%s)",
       eng_last_error());
    eng_system_free(t);
    ok(eng_msd_harmonic(all, s, -1, (double[1]){0}) == ENG_EINVAL, "negative T is EINVAL");
    eng_modes_opts_default(&o);
    o.solver = ENG_MODES_CHEBYSHEV;
    o.nmodes = 10;
    o.cheb_block = 10;
    ok(eng_modes_lowest(h, s, &o, NULL, NULL, &m) == ENG_EINVAL && m == NULL,
       "cheb_block <= nmodes is EINVAL (%s)", eng_last_error());
    o.cheb_block = 0;
    o.cheb_degree = -1;
    ok(eng_modes_lowest(h, s, &o, NULL, NULL, &m) == ENG_EINVAL, "cheb_degree < 0 is EINVAL");
    o.cheb_degree = 0;
    o.cheb_max_iter = 1;
    o.cheb_tol = 1e-14;
    ok(eng_modes_lowest(h, s, &o, NULL, NULL, &m) == ENG_ENOCONV && m == NULL,
       "Chebyshev not converged within cheb_max_iter is ENOCONV (%s)", eng_last_error());
  }

  eng_modes_free(all);
  eng_hessian_free(h);
  eng_calc_free(calc);
  eng_system_free(s);

  /* ---- unrelaxed structure: negative modes, sigma retry ---- */
  {
    eng_system *u = glass(pot, 220, 0, 33, 0, &calc);
    if (!u) bail("unrelaxed: %s", eng_last_error());
    if (eng_hessian_build(calc, u, &h)) bail("hessian: %s", eng_last_error());
    eng_modes_opts_default(&o);
    o.nmodes = 6;
    o.solver = ENG_MODES_DENSE;
    ok(eng_modes_lowest(h, u, &o, NULL, NULL, &all) == ENG_OK, "dense modes of an unrelaxed start");
    o.solver = ENG_MODES_SPARSE;
    rc = eng_modes_lowest(h, u, &o, NULL, NULL, &low);
    ok(rc == ENG_OK, "shift-invert on an indefinite D (%s)", rc ? eng_last_error() : "ok");
    if (all && low) {
      double err = 0;
      for (int m = 0; m < 6; m++)
        err = fmax(err, fabs(low->lambda[m] - all->lambda[m]) / fabs(all->lambda[m]));
      ok(all->lambda[0] < 0 && low->sigma < all->lambda[0] && err < 1e-9,
         "negative lowest lambda %.4g (%.3f THz) found with sigma %.3g; 6 eigenvalues match "
         "dense (max rel diff %.2g)", all->lambda[0], all->thz[0], low->sigma, err);
    }
    eng_modes_free(low);
    low = NULL;
    o.solver = ENG_MODES_LANCZOS;
    rc = eng_modes_lowest(h, u, &o, NULL, NULL, &low);
    ok(rc == ENG_OK, "Lanczos on an indefinite D (%s)", rc ? eng_last_error() : "ok");
    if (all && low) {
      double err = 0;
      for (int m = 0; m < 6; m++)
        err = fmax(err, fabs(low->lambda[m] - all->lambda[m]) / fabs(all->lambda[m]));
      ok(low->lambda[0] < 0 && err < 1e-9,
         "Lanczos: the same 6 eigenvalues, negative ones included (max rel diff %.2g)", err);
    }
    eng_modes_free(low);
    low = NULL;
    o.solver = ENG_MODES_CHEBYSHEV;
    o.cheb_tol = 1e-10;
    rc = eng_modes_lowest(h, u, &o, NULL, NULL, &low);
    ok(rc == ENG_OK, "Chebyshev on an indefinite D (%s)", rc ? eng_last_error() : "ok");
    if (all && low) {
      double err = 0;
      for (int m = 0; m < 6; m++)
        err = fmax(err, fabs(low->lambda[m] - all->lambda[m]) / fabs(all->lambda[m]));
      ok(low->lambda[0] < 0 && err < 1e-9,
         "Chebyshev: the same 6 eigenvalues, negative ones included (max rel diff %.2g)", err);
    }
    eng_modes_free(all);
    eng_modes_free(low);
    eng_hessian_free(h);
    eng_calc_free(calc);
    eng_system_free(u);
  }

  /* ---- exactly degenerate spectrum: a minimised 125-atom glass and two
   * copies side by side (box tripled along x) have Bloch pairs (q, -q),
   * q = 2 pi / (3 L), of equal eigenvalues; the block method finds both
   * copies (a single-vector Lanczos sees the second only through
   * round-off) ---- */
  {
    eng_system *g = glass(pot, 125, 0, 45, 1, &calc), *r2 = NULL;
    eng_calc *c2 = NULL;
    if (!g) bail("small glass: %s", eng_last_error());
    r2 = eng_system_create(3 * g->natoms, g->ntypes);
    if (!r2) bail("out of memory");
    memcpy(r2->type_name, g->type_name, sizeof *g->type_name * g->ntypes);
    memcpy(r2->type_mass, g->type_mass, sizeof *g->type_mass * g->ntypes);
    r2->box = g->box;
    r2->box.len[0] *= 3;
    for (int c = 0; c < 3; c++)
      for (int i = 0; i < g->natoms; i++) {
        int j = c * g->natoms + i;
        r2->type[j] = g->type[i];
        for (int a = 0; a < 3; a++) r2->x[3 * j + a] = g->x[3 * i + a] + (a == 0 ? c * g->box.len[0] : 0);
      }
    if (eng_calc_create(pot, r2, NULL, &c2) || eng_hessian_build(c2, r2, &h))
      bail("replicated: %s", eng_last_error());
    eng_modes_opts_default(&o);
    o.nmodes = 12;
    o.solver = ENG_MODES_DENSE;
    ok(eng_modes_lowest(h, r2, &o, NULL, NULL, &all) == ENG_OK, "dense modes of the tripled cell");
    o.solver = ENG_MODES_CHEBYSHEV;
    o.cheb_tol = 1e-10;
    rc = eng_modes_lowest(h, r2, &o, NULL, NULL, &low);
    ok(rc == ENG_OK, "Chebyshev on the tripled cell (%s)", rc ? eng_last_error() : "ok");
    if (all && low) {
      double err = 0;
      int pairs = 0;
      for (int m = 0; m < 12; m++) {
        err = fmax(err, fabs(low->lambda[m] - all->lambda[m]) / all->lambda[m]);
        if (m && all->lambda[m] - all->lambda[m - 1] < 1e-9 * all->lambda[m]) pairs++;
      }
      ok(pairs >= 2 && err < 1e-9, "Chebyshev: the 12 lowest equal dense, %d exactly degenerate "
         "pairs among them included (max rel diff %.2g)", pairs, err);
    }
    eng_modes_free(all);
    eng_modes_free(low);
    eng_hessian_free(h);
    eng_calc_free(c2);
    eng_calc_free(calc);
    eng_system_free(r2);
    eng_system_free(g);
  }
  eng_potential_free(pot);
  return tap_done();
}
