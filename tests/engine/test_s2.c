/*
 * test_s2.c -- local two-body excess entropy S2,i:
 *  - fcc crystal: every atom equals the analytic value for well-separated
 *    Gaussian shells (cutoffs in the gaps between shells);
 *  - several cutoffs in one run equal separate runs; bit-identical reruns;
 *  - the mean of the local g_i^{ab} (eng_s2_local_g, a direct image loop)
 *    equals the Gaussian-smoothed global partial g_ab(r) of eng_rdf_compute
 *    (histogram code checked against LAMMPS in test_gr);
 *  - eng_s2_compute agrees with an integration of eng_s2_local_g done here;
 *  - ideal gas: the system S2 from the mean g tends to 0, while the
 *    per-atom S2 follows the Poisson-noise floor -rc / (8 sqrt(pi) sigma);
 *  - S2_i never increases with the cutoff; bad parameters are rejected.
 */
#include "engine.h"
#include "../tap.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Trapezoid S2 from g on r_k = k*dr up to index kc (the test's own
 * integration, for rc on the grid). */
static double s2_from_g(const double *g, double dr, int kc, double rho) {
  double sum = 0.0, prev = 0.0;
  for (int k = 0; k <= kc; k++) {
    double r = k * dr, f;
    if (k == 0)
      f = 0.0;
    else if (g[k] < 1e-10)
      f = r * r;
    else
      f = r * r * (g[k] * log(g[k]) - g[k] + 1.0);
    if (k > 0) sum += 0.5 * (prev + f) * dr;
    prev = f;
  }
  return -2.0 * M_PI * rho * sum;
}

static void test_fcc(void) {
  const double a = 3.615, sigma = 0.05;
  /* shells of fcc: (r/a)^2 = m/2, counts */
  const int nsh = 6;
  const double r2[6] = {0.5, 1.0, 1.5, 2.0, 2.5, 3.0};
  const int cnt[6] = {12, 6, 24, 12, 24, 8};
  eng_system *s = tu_fcc_cu(4, a, 0.0);
  eng_s2_opts o;
  eng_s2 *r = NULL, *r1 = NULL;
  double rho = 4.0 / (a * a * a);
  int rc;

  eng_s2_opts_default(&o);
  o.sigma = sigma;
  o.dr = 0.005;
  o.partial = 1;
  o.ncut = nsh;
  for (int c = 0; c < nsh; c++) {
    double r_lo = a * sqrt(r2[c]);
    double r_hi = c + 1 < nsh ? a * sqrt(r2[c] + 0.5) : a * sqrt(3.5);
    o.cut[c] = 0.5 * (r_lo + r_hi) + 0.0013; /* midway between shells, off the grid */
  }
  rc = eng_s2_compute(s, &o, &r);
  ok(rc == ENG_OK, "fcc S2 (sigma %.2f A, dr %.3f A, %d cutoffs): %s", sigma, o.dr, nsh, rc ? eng_last_error() : "");
  if (rc) goto out;
  for (int c = 0; c < nsh; c++) {
    /* Analytic: -sum_s n_s/2 [ln(n_s / (4 pi rho R^2 sqrt(2 pi e) sigma)) + sigma^2/R^2 - 1]
     *           - 2 pi rho rc^3 / 3   (error O(sigma^4/R^4) ~ 1e-7) */
    double an = -2.0 * M_PI * rho * pow(o.cut[c], 3) / 3.0, lo = INFINITY, hi = -INFINITY;
    for (int q = 0; q <= c; q++) {
      double R = a * sqrt(r2[q]);
      an -= 0.5 * cnt[q] *
            (log(cnt[q] / (4.0 * M_PI * rho * R * R * sqrt(2.0 * M_PI * M_E) * sigma)) + sigma * sigma / (R * R) - 1.0);
    }
    for (int i = 0; i < s->natoms; i++) {
      double v = r->s2[(size_t)c * s->natoms + i];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    /* Equal up to the kernel truncation: a grid point at exactly 5 sigma
     * (dr = sigma/10) is in or out by round-off; it weighs G(5 sigma)/G(0)
     * = 3.7e-6 of a peak. */
    ok(hi - lo < 1e-6 * fabs(an), "fcc rc=%.3f: all atoms equal (spread %.2g)", o.cut[c], hi - lo);
    near(lo, an, 1e-5 * fabs(an), "fcc rc=%.3f (%d shells): S2 equals the analytic %.6f k_B", o.cut[c], c + 1, an);
  }
  /* One cutoff at a time gives the same numbers (up to the summation
   * order of neighbours, which follows the list's cutoff). */
  {
    eng_s2_opts o1 = o;
    double worst = 0.0;
    o1.ncut = 1;
    o1.cut[0] = o.cut[2];
    rc = eng_s2_compute(s, &o1, &r1);
    for (int i = 0; rc == ENG_OK && i < s->natoms; i++)
      worst = fmax(worst, fabs(r1->s2[i] - r->s2[(size_t)2 * s->natoms + i]));
    ok(rc == ENG_OK && worst < 1e-12, "a single-cutoff run equals the multi-cutoff run (worst %.2g)", worst);
  }
out:
  eng_s2_free(r);
  eng_s2_free(r1);
  eng_system_free(s);
}

/* Mean local g_i^{ab} vs the smoothed global partial g_ab. */
static void test_mean_local(void) {
  eng_system *s = tu_random_sample(400, 0.0556, 0.1, 0.0, -0.1, "Cu", "Zr", 0.5, 2.0, 41);
  eng_rdf_opts ro;
  eng_rdf *g = NULL;
  eng_s2_opts o;
  const int n = 351; /* r up to 7 A */
  double *loc = NULL, *mean = NULL;
  int cnt[2], rc;

  if (!s) bail("random sample");
  eng_system_type_counts(s, cnt);
  eng_s2_opts_default(&o);
  eng_rdf_opts_default(&ro);
  ro.rmax = 8.0;
  ro.dr = 0.001;
  rc = eng_rdf_compute(s, &ro, &g);
  loc = calloc(n, sizeof *loc);
  mean = calloc(n, sizeof *mean);
  ok(rc == ENG_OK, "global g(r) of a random triclinic sample");
  if (rc) goto out;
  for (int a = 0; a < 2; a++)
    for (int b = 0; b < 2; b++) {
      double worst = 0.0, wr = 0.0;
      memset(mean, 0, n * sizeof *mean);
      for (int i = 0; i < s->natoms; i++) {
        if (s->type[i] != a) continue;
        eng_s2_local_g(s, &o, i, b, n, loc);
        for (int k = 0; k < n; k++) mean[k] += loc[k] / cnt[a];
      }
      /* Smoothed histogram: sum_bins K(r - r_b) H_b / (N_a rho_b 4 pi r^2), with
       * H_b = g_b * N_a (N_b - delta_ab)/V * shell_b. */
      for (int k = 100; k < n; k++) {
        double r = k * o.dr, sm = 0.0;
        const double *gb = g->g + (size_t)(1 + a * 2 + b) * g->nbins;
        for (int q = 0; q < g->nbins; q++) {
          double u = r - g->r[q], lo = q * ro.dr, hi = lo + ro.dr;
          double shell = 4.0 / 3.0 * M_PI * (hi * hi * hi - lo * lo * lo);
          sm += exp(-u * u / (2 * o.sigma * o.sigma)) / (sqrt(2 * M_PI) * o.sigma) * gb[q] * shell;
        }
        sm *= (double)(cnt[b] - (a == b)) / cnt[b] / (4.0 * M_PI * r * r);
        if (fabs(sm - mean[k]) > worst) {
          worst = fabs(sm - mean[k]);
          wr = r;
        }
      }
      /* binning error of the reference: each pair moved to its bin centre,
       * at most dr/2 * max K' per pair, random in sign: ~1e-4 at dr = 0.001 */
      ok(worst < 5e-4, "mean of local g_i^{%s%s} equals the smoothed global g (worst %.2g at r=%.2f)",
         s->type_name[a], s->type_name[b], worst, wr);
    }
  /* eng_s2_compute vs integrating eng_s2_local_g here (rc on the grid). */
  {
    eng_s2 *r = NULL;
    double worst = 0.0, vol = eng_box_volume(&s->box);
    o.ncut = 1;
    o.cut[0] = 6.0;
    rc = eng_s2_compute(s, &o, &r);
    for (int i = 0; rc == ENG_OK && i < 40; i++) {
      double v = 0.0;
      for (int b = 0; b < 2; b++) {
        eng_s2_local_g(s, &o, i, b, n, loc);
        v += s2_from_g(loc, o.dr, 300, cnt[b] / vol);
      }
      worst = fmax(worst, fabs(v - r->s2[i]));
    }
    ok(rc == ENG_OK && worst < 1e-9, "S2 equals the integral of the local partial g's (40 atoms, worst %.2g)", worst);
    eng_s2_free(r);
  }
out:
  free(loc);
  free(mean);
  eng_rdf_free(g);
  eng_system_free(s);
}

static void test_ideal_gas(void) {
  const int N = 1500;
  const double rho = 0.05;
  eng_system *s = tu_random_sample(N, rho, 0.0, 0.0, 0.0, "Cu", "Zr", 0.5, 0.0, 43);
  eng_s2_opts o;
  eng_s2 *r = NULL;
  const int n = 501; /* to 10 A */
  double *loc = NULL, *mean = NULL;
  int rc;

  if (!s) bail("ideal gas sample");
  eng_s2_opts_default(&o);
  o.partial = 0;
  o.ncut = 3;
  o.cut[0] = 6.0;
  o.cut[1] = 8.0;
  o.cut[2] = 10.0;
  rc = eng_s2_compute(s, &o, &r);
  ok(rc == ENG_OK, "ideal gas S2 (total form)");
  loc = calloc(n, sizeof *loc);
  mean = calloc(n, sizeof *mean);
  if (rc) goto out;
  for (int i = 0; i < N; i++) {
    eng_s2_local_g(s, &o, i, -1, n, loc);
    for (int k = 0; k < n; k++) mean[k] += loc[k] / N;
  }
  {
    double prev = INFINITY;
    int decreasing = 1;
    for (int c = 0; c < 3; c++) {
      int kc = (int)lrint(o.cut[c] / o.dr);
      double sys_s2 = s2_from_g(mean, o.dr, kc, rho), m = 0.0;
      for (int i = 0; i < N; i++) m += r->s2[(size_t)c * N + i] / N;
      double floor_ = -o.cut[c] / (8.0 * sqrt(M_PI) * o.sigma);
      diag("ideal gas rc=%.0f: system S2 from the mean g %.4f; mean per-atom S2 %.3f, Poisson floor %.3f", o.cut[c],
           sys_s2, m, floor_);
      ok(fabs(sys_s2) < 0.03, "ideal gas rc=%.0f: system S2 from the mean g is ~0 (%.4f)", o.cut[c], sys_s2);
      if (c > 0 && !(fabs(sys_s2) <= fabs(prev) + 0.01)) decreasing = 0;
      prev = sys_s2;
      if (c > 0) {
        /* slope of the per-atom mean between cutoffs vs the floor's slope
         * -1/(8 sqrt(pi) sigma); next-order Poisson terms ~ 1/(neighbours in
         * the kernel window) ~ 5% at 6-10 A */
        double m0 = 0.0;
        for (int i = 0; i < N; i++) m0 += r->s2[(size_t)(c - 1) * N + i] / N;
        double slope = (m - m0) / (o.cut[c] - o.cut[c - 1]);
        near(slope, -1.0 / (8.0 * sqrt(M_PI) * o.sigma), 0.1 / (8.0 * sqrt(M_PI) * o.sigma),
             "ideal gas: per-atom S2 grows like the Poisson noise floor between %.0f and %.0f A (slope %.3f)",
             o.cut[c - 1], o.cut[c], slope);
      }
    }
    ok(decreasing, "ideal gas: |system S2| does not grow with the cutoff");
  }
out:
  free(loc);
  free(mean);
  eng_s2_free(r);
  eng_system_free(s);
}

static void test_glass_and_errors(void) {
  char path[4096];
  const char *src = getenv("PELMAP_SRCDIR");
  eng_system *s = NULL;
  eng_read_opts ro = {0, "Cu Zr", 0.0};
  eng_s2_opts o;
  eng_s2 *a = NULL, *b = NULL;
  int rc;

  snprintf(path, sizeof path, "%s/tests/data/desc/cuzr500.data", src ? src : "..");
  rc = eng_read_file(path, ENG_FMT_LAMMPS_DATA, &ro, &s);
  ok(rc == ENG_OK, "read the 500-atom glass %s", rc ? eng_last_error() : "");
  if (rc) return;
  eng_s2_opts_default(&o);
  rc = eng_s2_compute(s, &o, &a);
  ok(rc == ENG_OK, "glass S2 with the defaults (sigma 0.2, dr 0.02, cutoffs = first four troughs of g(r))");
  if (rc == ENG_OK) {
    const double paper[4] = {3.9, 6.4, 8.8, 11.2};
    eng_rdf *g = NULL;
    eng_rdf_opts ro2;
    eng_rdf_opts_default(&ro2);
    ro2.rmax = 14.0;
    eng_rdf_compute(s, &ro2, &g);
    for (int c = 0; c < 4; c++) {
      ok(g && a->opts.cut[c] == g->troughs[c], "default cutoff %d is trough %d of g(r): %.3f A (paper %.1f)", c, c + 1,
         a->opts.cut[c], paper[c]);
    }
    eng_rdf_free(g);
  }
  if (rc == ENG_OK) {
    int bad = 0, pos = 0;
    double m[4][2] = {{0}};
    int cnt[2];
    eng_system_type_counts(s, cnt);
    for (int i = 0; i < s->natoms; i++)
      for (int c = 0; c < 4; c++) {
        double v = a->s2[(size_t)c * s->natoms + i];
        m[c][s->type[i]] += v / cnt[s->type[i]];
        if (v > 0) pos++;
        if (c > 0 && v > a->s2[(size_t)(c - 1) * s->natoms + i]) bad++;
      }
    for (int c = 0; c < 4; c++) diag("glass rc=%.2f: mean S2 Cu %.3f, Zr %.3f k_B", a->opts.cut[c], m[c][0], m[c][1]);
    ok(pos == 0, "S2 <= 0 for every atom and cutoff (%d positive)", pos);
    ok(bad == 0, "S2_i never increases with the cutoff (%d violations)", bad);
    rc = eng_s2_compute(s, &o, &b);
    ok(rc == ENG_OK && memcmp(a->s2, b->s2, sizeof(double) * 4 * s->natoms) == 0, "rerun is bit-identical");
  }
  eng_s2_free(a);
  eng_s2_free(b);
  a = NULL;
  o.sigma = 0.0;
  rc = eng_s2_compute(s, &o, &a);
  ok(rc == ENG_EINVAL && !a, "sigma 0 rejected: %s", eng_last_error());
  eng_s2_opts_default(&o);
  o.ncut = ENG_S2_MAXCUT + 1;
  rc = eng_s2_compute(s, &o, &a);
  ok(rc == ENG_EINVAL && !a, "too many cutoffs rejected: %s", eng_last_error());
  eng_s2_opts_default(&o);
  o.cut[1] = -1.0;
  rc = eng_s2_compute(s, &o, &a);
  ok(rc == ENG_EINVAL && !a, "negative cutoff rejected: %s", eng_last_error());
  eng_s2_opts_default(&o);
  o.ncut = 6;
  rc = eng_s2_compute(s, &o, &a);
  ok(rc == ENG_ENOTFOUND && !a, "asking for more troughs than g(r) has: %s", eng_last_error());
  eng_s2_opts_default(&o);
  o.cut[3] = 400.0;
  o.dr = 0.5;
  rc = eng_s2_compute(s, &o, &a);
  ok(rc == ENG_ERANGE && !a, "cutoff needing too many pairs rejected: %s", eng_last_error());
  eng_system_free(s);
}

int main(void) {
  test_fcc();
  test_mean_local();
  test_ideal_gas();
  test_glass_and_errors();
  return tap_done();
}
