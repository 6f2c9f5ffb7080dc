/*
 * artn_util.h -- helpers shared by tests/engine/test_artn.c and
 * bench/artn_bench.c: a small quenched Cu-Zr glass, an independent dense
 * finite-difference Hessian check of saddle points (translations removed,
 * LAPACKE dsyev), and the "push down both sides" connectivity check.
 * Header-only (static), test and benchmark code; prefix au_.
 */
#ifndef PELMAP_ARTN_UTIL_H
#define PELMAP_ARTN_UTIL_H

#include "engine.h"

#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A Cu50Zr50 glass of n atoms: random start at 0.0556 /A^3, quench (NPT,
 * melt t_melt ps at 2000 K, cool at rate K/ps to 300 K, hold 1 ps) and CG to
 * 1e-6 eV/A.  On success *sys and *calc are new objects owned by the caller. */
static inline int au_make_glass(const eng_potential *pot, int n, uint64_t seed, double t_melt, double rate,
                         eng_system **sys, eng_calc **calc) {
  const char *names[2] = {"Cu", "Zr"};
  const double frac[2] = {0.5, 0.5};
  eng_quench_opts q;
  eng_min_opts mo;
  eng_min_result mr;
  eng_system *s = eng_system_random(n, 2, names, frac, 0.0556, 2.2, seed);
  eng_calc *c = NULL;
  int rc;
  if (!s) return -1;
  rc = eng_calc_create(pot, s, NULL, &c);
  if (rc) goto fail;
  eng_calc_fill_masses(c, s);
  eng_min_opts_default(&mo);
  mo.ftol = 0.05;
  rc = eng_minimize(c, s, &mo, NULL, NULL, &mr);
  if (rc) goto fail;
  eng_quench_opts_default(&q);
  q.t_high = 2000;
  q.t_melt = t_melt;
  q.t_liquid = 2000;
  q.t_low = 300;
  q.rate = rate;
  q.t_hold = 1.0;
  q.seed = seed;
  rc = eng_quench(c, s, &q, NULL, NULL, &mr);
  if (rc) goto fail;
  /* The box changed (NPT): a fresh calculator for the final box. */
  eng_calc_free(c);
  c = NULL;
  rc = eng_calc_create(pot, s, NULL, &c);
  if (rc) goto fail;
  eng_min_opts_default(&mo);
  mo.ftol = 1e-6;
  rc = eng_minimize(c, s, &mo, NULL, NULL, &mr);
  if (rc) goto fail;
  *sys = s;
  *calc = c;
  return 0;
fail:
  eng_calc_free(c);
  eng_system_free(s);
  return rc ? rc : -1;
}

/* Dense Hessian at positions x (3n) by central differences of the forces
 * (step h, A), symmetrised, with the three rigid translations shifted to a
 * large positive eigenvalue; eigenvalues ascending into ev (3n, eV/A^2),
 * the lowest eigenvector into mode (3n) if not NULL.  Returns the number of
 * eigenvalues below neg_tol (< 0), or -1 on failure. */
static inline int au_hessian_negatives(eng_calc *c, const eng_system *s0, const double *x, double h,
                                double neg_tol, double *ev, double *mode) {
  int n = s0->natoms, n3 = 3 * n, nneg = -1;
  eng_system *s = eng_system_copy(s0);
  double *H = malloc(sizeof(double) * (size_t)n3 * n3);
  double *fp = malloc(sizeof(double) * n3), *fm = malloc(sizeof(double) * n3), e;
  if (!s || !H || !fp || !fm) goto out;
  memcpy(s->x, x, sizeof(double) * n3);
  eng_calc_invalidate(c);
  for (int i = 0; i < n3; i++) {
    double xi = s->x[i];
    s->x[i] = xi + h;
    if (eng_calc_compute(c, s, &e, fp, NULL, NULL)) goto out;
    s->x[i] = xi - h;
    if (eng_calc_compute(c, s, &e, fm, NULL, NULL)) goto out;
    s->x[i] = xi;
    for (int j = 0; j < n3; j++) H[(size_t)i * n3 + j] = -(fp[j] - fm[j]) / (2 * h);
  }
  for (int i = 0; i < n3; i++)
    for (int j = 0; j < i; j++) {
      double a = 0.5 * (H[(size_t)i * n3 + j] + H[(size_t)j * n3 + i]);
      H[(size_t)i * n3 + j] = H[(size_t)j * n3 + i] = a;
    }
  /* P H P + 1000 T T^T with P = 1 - T T^T, T the three unit translation
   * vectors t_k (1/sqrt(n) on component k of every atom).  With
   * r_k[i] = sum_{j = k mod 3} H_ij / n and M_kl = sum_{i = k mod 3} r_l[i]:
   * (PHP)_ij = H_ij - r_{i%3}[j] - r_{j%3}[i] + M_{i%3,j%3} / n. */
  {
    double *r = calloc((size_t)3 * n3, sizeof(double)), M[3][3] = {{0}};
    if (!r) goto out;
    for (int i = 0; i < n3; i++)
      for (int k = 0; k < 3; k++) {
        double sum = 0;
        for (int j = k; j < n3; j += 3) sum += H[(size_t)i * n3 + j];
        r[(size_t)k * n3 + i] = sum / n;
      }
    for (int k = 0; k < 3; k++)
      for (int l = 0; l < 3; l++)
        for (int i = k; i < n3; i += 3) M[k][l] += r[(size_t)l * n3 + i];
    for (int i = 0; i < n3; i++)
      for (int j = 0; j < n3; j++) {
        int ki = i % 3, kj = j % 3;
        H[(size_t)i * n3 + j] += -r[(size_t)ki * n3 + j] - r[(size_t)kj * n3 + i] + M[ki][kj] / n +
                                 (ki == kj ? 1000.0 / n : 0.0);
      }
    free(r);
  }
  if (LAPACKE_dsyev(LAPACK_ROW_MAJOR, mode ? 'V' : 'N', 'U', n3, H, n3, ev) != 0) goto out;
  if (mode)
    for (int i = 0; i < n3; i++) mode[i] = H[(size_t)i * n3 + 0];
  nneg = 0;
  for (int i = 0; i < n3; i++)
    if (ev[i] < neg_tol) nneg++;
out:
  eng_system_free(s);
  free(H);
  free(fp);
  free(fm);
  return nneg;
}

/* Largest per-atom minimum-image distance between a and b, translation
 * removed, A. */
static inline double au_max_dist(const eng_system *s, const double *a, const double *b) {
  int n = s->natoms;
  double m[3] = {0, 0, 0}, best = 0;
  for (int i = 0; i < n; i++)
    for (int k = 0; k < 3; k++) m[k] += (a[3 * i + k] - b[3 * i + k]) / n;
  for (int i = 0; i < n; i++) {
    double d[3];
    for (int k = 0; k < 3; k++) d[k] = a[3 * i + k] - b[3 * i + k] - m[k];
    eng_box_minimum_image(&s->box, d);
    double r = sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
    if (r > best) best = r;
  }
  return best;
}

/* Push the saddle xs by +-push (A) along the unit mode, follow the
 * steepest-descent path (steps of at most 0.01 A per atom) until the energy
 * is 0.05 eV below the saddle, then minimise (CG, 1e-4 eV/A) each side;
 * *dist_plus, *dist_minus get the largest atom distance of each relaxed
 * side from x0, *e_plus, *e_minus their energies (eV).  The descent first
 * follows the gradient so that the saddle's residual force (each component
 * below the criterion, but not its norm) cannot send a line-search
 * minimiser across the ridge.  0 on success. */
static inline int au_both_sides(eng_calc *c, const eng_system *s0, const double *xs, const double *mode,
                         double push, const double *x0, double *dist_plus, double *dist_minus,
                         double *e_plus, double *e_minus) {
  int n3 = 3 * s0->natoms, rc = 0;
  eng_system *s = eng_system_copy(s0);
  double *f = malloc(sizeof(double) * n3), es = 0.0;
  eng_min_opts mo;
  eng_min_result mr;
  if (!s || !f) {
    eng_system_free(s);
    free(f);
    return -1;
  }
  memcpy(s->x, xs, sizeof(double) * n3);
  rc = eng_calc_compute(c, s, &es, NULL, NULL, NULL);
  eng_min_opts_default(&mo);
  mo.ftol = 1e-4;
  mo.max_eval = 20000;
  for (int side = 0; side < 2 && rc == 0; side++) {
    double sg = side == 0 ? 1.0 : -1.0, e = es;
    for (int i = 0; i < n3; i++) s->x[i] = xs[i] + sg * push * mode[i];
    for (int it = 0; it < 2000 && rc == 0; it++) {
      double fm = 0.0;
      rc = eng_calc_compute(c, s, &e, f, NULL, NULL);
      if (rc || es - e > 0.05) break;
      for (int i = 0; i < n3; i++) fm = fabs(f[i]) > fm ? fabs(f[i]) : fm;
      if (fm <= 0.0) break;
      for (int i = 0; i < n3; i++) s->x[i] += 0.01 * f[i] / fm;
    }
    if (rc == 0) rc = eng_minimize(c, s, &mo, NULL, NULL, &mr);
    *(side == 0 ? dist_plus : dist_minus) = au_max_dist(s, s->x, x0);
    *(side == 0 ? e_plus : e_minus) = mr.e_final;
  }
  eng_system_free(s);
  free(f);
  return rc;
}

/* Independent of the engine: the atoms of w that moved by more than tol in
 * xf (minimum image) into *nmoved; returns 1 if each of them ends within
 * tol of the initial position of another moved atom of its type (a
 * permutation of like atoms), 0 otherwise or if none moved. */
static inline int au_permuted_initial(const eng_system *w, const double *xf, double tol, int *nmoved) {
  int n = w->natoms, m = 0, all = 1;
  for (int i = 0; i < n; i++) {
    double d[3];
    int partner = 0;
    for (int k = 0; k < 3; k++) d[k] = xf[3 * i + k] - w->x[3 * i + k];
    eng_box_minimum_image(&w->box, d);
    if (d[0] * d[0] + d[1] * d[1] + d[2] * d[2] <= tol * tol) continue;
    m++;
    for (int j = 0; j < n && !partner; j++) {
      double e[3];
      if (j == i || w->type[j] != w->type[i]) continue;
      for (int k = 0; k < 3; k++) e[k] = xf[3 * i + k] - w->x[3 * j + k];
      eng_box_minimum_image(&w->box, e);
      partner = e[0] * e[0] + e[1] * e[1] + e[2] * e[2] <= tol * tol;
    }
    all = all && partner;
  }
  *nmoved = m;
  return m > 0 && all;
}

#endif
