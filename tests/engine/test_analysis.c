/*
 * test_analysis.c -- checks of the analysis module (analysis.c):
 *  - Pearson, Spearman, the least-squares line and its errors, and the
 *    coarse-grained (binned) correlation against numpy on random data
 *    (tests/engine/analysis_ref.py run with /usr/bin/python3);
 *  - the binning by hand on a 7-atom example;
 *  - C(r) (Eq. 6) against a brute-force O(N^2) sum over periodic images in
 *    an orthogonal and a triclinic box;
 *  - C(r) of a random-phase field with covariance exp(-r/xi) built on
 *    the bundled 2000-atom glass: the fitted xi is within 10% of the one
 *    the fit must return for that field (derived below), and an
 *    uncorrelated field gives C ~ 0 in every bin;
 *  - the xi fit on an exact exponential, the histogram, the two-mode
 *    (exponential + Rayleigh) maximum-likelihood fit on sampled data, and
 *    slice maps by hand.
 */
#include "config.h"

#include "engine.h"
#include "../tap.h"
#include "testutil.h"

#include <complex.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static double sq(double x) { return x * x; }

/* ---------------------------------------------------------------- */
/* correlations vs numpy                                              */
/* ---------------------------------------------------------------- */

static int ref_value(const char *out, const char *key, double *v) {
  const char *p = out;
  size_t kl = strlen(key);
  while (p && *p) {
    if (!strncmp(p, key, kl) && p[kl] == ' ') return sscanf(p + kl, "%lf", v) == 1 ? 0 : -1;
    p = strchr(p, '\n');
    if (p) p++;
  }
  return -1;
}

static void check_vs_numpy(void) {
  const int n = 1500, bin = 200;
  double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
  char path[512], cmd[1200], out[4096];
  const char *src = getenv("PELMAP_SRCDIR");
  eng_rng rng;
  eng_corr *c = NULL;
  FILE *f, *pp;
  size_t len = 0;
  double v;
  int i;

  eng_rng_seed(&rng, 42);
  for (i = 0; i < n; i++) {
    x[i] = eng_rng_normal(&rng) * 0.3 + 1.0;
    /* a monotone but non-linear relation with noise, and some ties */
    y[i] = 2.0 - 1.5 * x[i] + 0.4 * x[i] * x[i] + 0.5 * eng_rng_normal(&rng);
    if (i % 50 == 0) x[i] = 1.0;
  }
  if (access("/usr/bin/python3", X_OK) != 0) {
    skip("/usr/bin/python3 not available");
    goto out;
  }
  snprintf(path, sizeof path, "%s/xy.txt", tu_tmpdir("test_analysis"));
  f = fopen(path, "w");
  if (!f) bail("cannot write %s", path);
  for (i = 0; i < n; i++) fprintf(f, "%.17g %.17g\n", x[i], y[i]);
  fclose(f);
  snprintf(cmd, sizeof cmd,
           "/usr/bin/python3 %s/tests/engine/analysis_ref.py %s %d 2>&1",
           src ? src : "..", path, bin);
  pp = popen(cmd, "r");
  if (!pp) bail("cannot run %s", cmd);
  len = fread(out, 1, sizeof out - 1, pp);
  out[len] = 0;
  if (pclose(pp) != 0 || ref_value(out, "pearson", &v)) {
    skip("numpy reference failed: %.200s", out);
    goto out;
  }
  ok(eng_corr_compute(n, x, y, NULL, bin, &c) == ENG_OK, "eng_corr_compute");
  if (!c) goto out;
  ok(c->n == n, "all %d points used", n);
#define CMP(key, val, tol)                                            \
  do {                                                                \
    double r_;                                                        \
    if (ref_value(out, key, &r_)) bail("no %s in reference", key);    \
    near(val, r_, (tol) * fmax(1, fabs(r_)), "%s agrees with numpy", key); \
  } while (0)
  CMP("pearson", c->pearson, 1e-12);
  CMP("spearman", c->spearman, 1e-12);
  CMP("slope", c->fit.slope, 1e-10);
  CMP("intercept", c->fit.intercept, 1e-10);
  CMP("slope_err", c->fit.slope_err, 1e-10);
  CMP("intercept_err", c->fit.intercept_err, 1e-10);
  CMP("nbins", c->nbins, 0);
  CMP("binned_pearson", c->fit_binned.r, 1e-12);
  CMP("binned_slope", c->fit_binned.slope, 1e-10);
  CMP("binned_intercept", c->fit_binned.intercept, 1e-10);
  CMP("binned_slope_err", c->fit_binned.slope_err, 1e-10);
  CMP("bin0_x", c->bin_x[0], 1e-12);
  CMP("bin0_y", c->bin_y[0], 1e-12);
  CMP("binL_x", c->bin_x[c->nbins - 1], 1e-12);
  CMP("binL_y", c->bin_y[c->nbins - 1], 1e-12);
  {
    double r2;
    ok(eng_pearson(n, x, y, NULL, &r2) == 0 && r2 == c->pearson,
       "eng_pearson = eng_corr_compute's");
  }
  ok(fabs(c->fit_binned.r) > fabs(c->pearson),
     "coarse graining raises |r| (%.3f binned vs %.3f raw)", c->fit_binned.r,
     c->pearson);
out:
  eng_corr_free(c);
  free(x);
  free(y);
}

/* The binning of a small example, by hand. */
static void check_binning_by_hand(void) {
  /* 7 atoms + one NaN (skipped) + one unselected */
  double x[9] = {5, 1, 3, 7, 2, 6, 4, NAN, 0};
  double y[9] = {50, 10, 30, 70, 20, 60, 41, 1, 99};
  int sel[9] = {1, 1, 1, 1, 1, 1, 1, 1, 0};
  eng_corr *c = NULL;
  ok(eng_corr_compute(9, x, y, sel, 3, &c) == ENG_OK, "small example");
  if (!c) return;
  ok(c->n == 7, "7 atoms used (NaN and unselected skipped)");
  /* round(7/3) = 2 groups: sorted x 1 2 3 | 4 5 6 7 */
  ok(c->nbins == 2, "2 groups");
  ok(c->bin_count[0] == 3 && c->bin_count[1] == 4, "sizes 3 and 4");
  near(c->bin_x[0], 2.0, 1e-15, "group 0 mean x = (1+2+3)/3");
  near(c->bin_y[0], 20.0, 1e-15, "group 0 mean y = (10+20+30)/3");
  near(c->bin_x[1], 5.5, 1e-15, "group 1 mean x = (4+5+6+7)/4");
  near(c->bin_y[1], 55.25, 1e-15, "group 1 mean y = (41+50+60+70)/4");
  near(c->fit_binned.slope, (55.25 - 20.0) / 3.5, 1e-12,
       "line through the two group means");
  near(c->bin_y_sem[0], 10.0 / sqrt(3.0), 1e-12,
       "standard error of group 0's mean");
  eng_corr_free(c);
  ok(eng_corr_compute(9, x, y, sel, 0, &c) == ENG_EINVAL && !c,
     "bin_atoms 0 refused");
}

/* ---------------------------------------------------------------- */
/* C(r)                                                              */
/* ---------------------------------------------------------------- */

/* Brute force: every pair i < j and every image within rmax (rmax below
 * half the smallest width), plus self images. */
static void brute_acf(const eng_system *s, const double *p, double dr,
                      int nb, double *c) {
  long *np = calloc((size_t)nb, sizeof *np);
  double *sum = calloc((size_t)nb, sizeof *sum), mean = 0, var = 0;
  double a[3][3] = {{s->box.len[0], 0, 0},
                    {s->box.xy, s->box.len[1], 0},
                    {s->box.xz, s->box.yz, s->box.len[2]}};
  int n = s->natoms, i, j, k;
  for (i = 0; i < n; i++) mean += p[i];
  mean /= n;
  for (i = 0; i < n; i++) var += (p[i] - mean) * (p[i] - mean);
  var /= n;
  for (i = 0; i < n; i++)
    for (j = i; j < n; j++)
      for (int u = -2; u <= 2; u++)
        for (int v = -2; v <= 2; v++)
          for (int w = -2; w <= 2; w++) {
            double d[3], r;
            if (j == i && (u > 0 || (u == 0 && (v > 0 || (v == 0 && w >= 0)))))
              continue; /* self: each +-image once, not itself */
            for (k = 0; k < 3; k++)
              d[k] = s->x[3 * j + k] - s->x[3 * i + k] + u * a[0][k] +
                     v * a[1][k] + w * a[2][k];
            r = sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
            if (r >= nb * dr) continue;
            k = (int)(r / dr);
            sum[k] += (p[i] - mean) * (p[j] - mean);
            np[k]++;
          }
  for (k = 0; k < nb; k++) c[k] = np[k] ? sum[k] / np[k] / var : NAN;
  free(np);
  free(sum);
}

static void check_acf_brute(double txy, double txz, double tyz,
                            const char *what) {
  eng_system *s = tu_random_sample(300, 0.06, txy, txz, tyz, "Cu", "Zr", 0.5,
                                   1.8, 7);
  eng_acf_opts o;
  eng_acf *a = NULL;
  double *p, *c, w[3], worst = 0;
  int i, k, nb;
  if (!s) bail("tu_random_sample");
  p = malloc(s->natoms * sizeof *p);
  for (i = 0; i < s->natoms; i++)
    p[i] = sin(s->x[3 * i] * 0.7) + 0.3 * s->type[i] + cos(s->x[3 * i + 2]);
  eng_box_widths(&s->box, w);
  eng_acf_opts_default(&o);
  o.dr = 0.25;
  o.rmax = 0.49 * fmin(w[0], fmin(w[1], w[2]));
  o.r_norm = 3.0;
  ok(eng_acf_compute(s, 1, p, NULL, &o, &a) == ENG_OK, "%s: C(r)", what);
  if (!a) goto out;
  nb = a->nbins;
  c = malloc(nb * sizeof *c);
  brute_acf(s, p, o.dr, nb, c);
  for (k = 0; k < nb; k++) {
    if (isnan(c[k]) != isnan(a->c[k])) worst = INFINITY;
    if (!isnan(c[k])) worst = fmax(worst, fabs(c[k] - a->c[k]));
  }
  ok(worst < 1e-10, "%s: C(r) equals the brute-force sum over images "
     "(max diff %.3g, %d bins to %.2f A)", what, worst, nb, o.rmax);
  for (k = 0; k + 1 < nb && a->r[k + 1] < 3.0; k++) continue;
  near(a->c_norm[k] + (a->c_norm[k + 1] - a->c_norm[k]) *
                          (3.0 - a->r[k]) / (a->r[k + 1] - a->r[k]),
       1.0, 1e-12, "%s: normalised to 1 at 3 A", what);
  free(c);
out:
  eng_acf_free(a);
  free(p);
  eng_system_free(s);
}

/* Random field with covariance exp(-r/xi) at the atoms of s (orthogonal
 * periodic box): random-phase Fourier synthesis over k = 2 pi n / L,
 * |k| < kmax, n in a half space, P = sum sqrt(4 S(k)/V) cos(k.r + phi_k),
 * S(k) = 8 pi xi^3 / (1 + k^2 xi^2)^2 (the Fourier transform of
 * exp(-r/xi)), phi_k uniform.  Fixed amplitudes make the box-averaged
 * covariance of every realisation equal to the ensemble one (distinct
 * modes are orthogonal over the box), so only the sampling at the atoms
 * adds noise.  Its
 * covariance is (1/V) sum_{k != 0} S(k) e^{ik.r} = exp(-r/xi) - 8 pi
 * xi^3 / V (the k = 0 term is absent: the field has zero box mean),
 * up to the cut at kmax (a relative error of order 1/(kmax xi)^3 at
 * r >= 3 A) and periodic images (e^{-(L-r)/xi}).  If cwant is not NULL,
 * the exact covariance of the modes used, averaged over directions, is
 * added to cwant at the nb distances rb: the curve the fit must follow. */
static void grf(const eng_system *s, double xi, double kmax, uint64_t seed,
                double *p, int nb, const double *rb, double *cwant) {
  const double *L = s->box.len;
  double V = L[0] * L[1] * L[2];
  int nm[3], n = s->natoms, i, a, b, c;
  double complex *e[3], *zab;
  eng_rng rng;
  eng_rng_seed(&rng, seed);
  for (a = 0; a < 3; a++) {
    nm[a] = (int)(kmax * L[a] / (2 * M_PI)) + 1;
    e[a] = malloc((size_t)n * (2 * nm[a] + 1) * sizeof *e[a]);
    for (i = 0; i < n; i++)
      for (b = -nm[a]; b <= nm[a]; b++)
        e[a][(size_t)i * (2 * nm[a] + 1) + b + nm[a]] =
            cexp(I * 2 * M_PI * b * (s->x[3 * i + a] - s->box.lo[a]) / L[a]);
  }
  memset(p, 0, n * sizeof *p);
  zab = malloc((size_t)n * sizeof *zab);
  for (a = 0; a <= nm[0]; a++)
    for (b = -nm[1]; b <= nm[1]; b++) {
      int have = 0;
      for (c = -nm[2]; c <= nm[2]; c++) {
        double k[3] = {2 * M_PI * a / L[0], 2 * M_PI * b / L[1],
                       2 * M_PI * c / L[2]};
        double k2 = k[0] * k[0] + k[1] * k[1] + k[2] * k[2], S, amp, ca, cb, ph;
        if (a == 0 && (b < 0 || (b == 0 && c <= 0))) continue; /* half */
        if (k2 >= kmax * kmax) continue;
        S = 8 * M_PI * xi * xi * xi / sq(1 + k2 * xi * xi);
        amp = sqrt(2 * S / V);
        /* the expected covariance of this spectrum, averaged over pair
         * directions: (1/V) sum S(k) sin(kr)/(kr) (k = 0 absent) */
        for (i = 0; cwant && i < nb; i++)
          cwant[i] += 2 * S / V * sin(sqrt(k2) * rb[i]) / (sqrt(k2) * rb[i]);
        ph = 2 * M_PI * eng_rng_uniform(&rng);
        ca = amp * M_SQRT2 * cos(ph);
        cb = -amp * M_SQRT2 * sin(ph);
        if (!have) { /* e^{i(kx x + ky y)} once per (a, b) */
          for (i = 0; i < n; i++)
            zab[i] = e[0][(size_t)i * (2 * nm[0] + 1) + a + nm[0]] *
                     e[1][(size_t)i * (2 * nm[1] + 1) + b + nm[1]];
          have = 1;
        }
        for (i = 0; i < n; i++) {
          double complex z = zab[i] * e[2][(size_t)i * (2 * nm[2] + 1) + c + nm[2]];
          p[i] += ca * creal(z) + cb * cimag(z);
        }
      }
    }
  free(zab);
  for (a = 0; a < 3; a++) free(e[a]);
}

static eng_system *read_glass(void) {
  char path[1024];
  const char *src = getenv("PELMAP_SRCDIR");
  eng_system *s = NULL;
  snprintf(path, sizeof path, "%s/common/data/cu50zr50-2000.data",
           src ? src : "..");
  if (eng_read_file(path, ENG_FMT_AUTO, NULL, &s)) bail("%s", eng_last_error());
  return s;
}

/* xi of a synthetic field on the glass, and an uncorrelated field. */
static void check_acf_synthetic(void) {
  const double xi = 2.0, lo = 3.0, hi = 8.0;
  const int nreal = getenv("ACF_NREAL") ? atoi(getenv("ACF_NREAL")) : 6;
  eng_system *s = read_glass();
  eng_acf_opts o;
  eng_acf *a = NULL;
  eng_xi_fit fit, fexp;
  double *p, *cavg = NULL, *cwant = NULL, *rb = NULL, V, off;
  const double kmax = 6.0 / xi;
  const uint64_t seed0 = getenv("ACF_SEED") ? atoi(getenv("ACF_SEED")) : 1000;
  int n = s->natoms, r, k, nb = 0, bad = 0;
  eng_rng rng;

  ok(!eng_box_is_triclinic(&s->box), "glass box is orthogonal");
  V = eng_box_volume(&s->box);
  p = malloc((size_t)n * sizeof *p);
  eng_acf_opts_default(&o);
  o.dr = 0.2;
  o.rmax = 10.0;
  o.r_norm = 3.0;
  for (r = 0; r < nreal; r++) {
    if (!cavg) { /* bins first, for the expected curve */
      nb = (int)floor(o.rmax / o.dr + 1e-9);
      cavg = calloc(nb, sizeof *cavg);
      cwant = calloc(nb, sizeof *cwant);
      rb = calloc(nb, sizeof *rb);
      for (k = 0; k < nb; k++) rb[k] = (k + 0.5) * o.dr;
    }
    grf(s, xi, kmax, seed0 + r, p, nb, rb, r == 0 ? cwant : NULL);
    if (eng_acf_compute(s, 1, p, NULL, &o, &a)) bail("%s", eng_last_error());
    if (a->nbins != nb) bail("bins %d, expected %d", a->nbins, nb);
    for (k = 0; k < nb; k++) cavg[k] += a->c_norm[k] / nreal;
    if (r == 0) {
      eng_xi_fit one;
      eng_xi_fit_compute(nb, a->r, a->c_norm, lo, hi, 1, &one);
      diag("one realisation: xi = %.3f +- %.3f A over %d points", one.xi,
           one.xi_err, one.npoints);
    }
    if (r < nreal - 1) {
      eng_acf_free(a);
      a = NULL;
    }
  }
  /* what the fit must return for this field: the covariance of the modes
   * synthesised (exp(-r/xi) less the k = 0 term 8 pi xi^3 / V and the
   * modes beyond kmax) at the same bin centres, fitted the same way */
  off = 8 * M_PI * xi * xi * xi / V;
  ok(eng_xi_fit_compute(nb, a->r, cwant, lo, hi, 1, &fexp) == ENG_OK,
     "fit of the expected curve");
  diag("expected xi over %.0f-%.0f A: %.4f A (field xi %.1f; the k = 0 "
       "offset alone is %.4f of C(0))", lo, hi, fexp.xi, xi, off);
  if (getenv("ACF_DEBUG"))
    for (k = 0; k < nb; k++)
      diag("r %.2f  C %.4f  expected %.4f", a->r[k], cavg[k],
           cwant[k] / cwant[(int)(3.0 / o.dr)]);
  ok(eng_xi_fit_compute(nb, a->r, cavg, lo, hi, 1, &fit) == ENG_OK,
     "xi fit of the synthetic field");
  diag("measured xi = %.3f +- %.3f A over %d points (%.2f-%.2f A)", fit.xi,
       fit.xi_err, fit.npoints, fit.r_first, fit.r_last);
  near(fit.xi, fexp.xi, 0.10 * fexp.xi,
       "xi of a random field with exponential covariance within 10%%");
  ok(fit.npoints >= 10, "fit used %d points", fit.npoints);
  eng_acf_free(a);
  a = NULL;

  /* uncorrelated: C(r) ~ 0 (within 4.5 sigma, sigma = 1/sqrt(pairs)) */
  eng_rng_seed(&rng, 99);
  for (k = 0; k < n; k++) p[k] = eng_rng_normal(&rng);
  if (eng_acf_compute(s, 1, p, NULL, &o, &a)) bail("%s", eng_last_error());
  {
    int nonempty = 0;
    double chi2 = 0;
    for (k = 0; k < a->nbins; k++) {
      long np = a->npairs[k];
      if (!np) {
        if (!isnan(a->c[k])) bad++;
        continue;
      }
      nonempty++;
      chi2 += a->c[k] * a->c[k] * np;
      if (fabs(a->c[k]) > 4.5 / sqrt((double)np)) {
        diag("bin %.2f A: C = %.4f with %ld pairs", a->r[k], a->c[k], np);
        bad++;
      }
    }
    ok(bad == 0, "uncorrelated field: |C(r)| < 4.5/sqrt(pairs) in all %d "
       "non-empty bins, empty bins NaN", nonempty);
    ok(chi2 / nonempty < 1.5, "uncorrelated field: mean C^2 * pairs = %.2f "
       "(expected about 1)", chi2 / nonempty);
    ok(a->npairs[0] == 0 && a->npairs[a->nbins - 1] > 0,
       "no pairs below 0.2 A, pairs in the last bin");
  }
  /* center_by_type: a field that is only a species offset has no
   * correlation left */
  eng_acf_free(a);
  a = NULL;
  for (k = 0; k < n; k++) p[k] = 5.0 * s->type[k] + 0.01 * eng_rng_normal(&rng);
  o.center_by_type = 1;
  if (eng_acf_compute(s, 1, p, NULL, &o, &a)) bail("%s", eng_last_error());
  {
    double worst = 0;
    for (k = 0; k < a->nbins; k++)
      if (a->npairs[k] > 1000) worst = fmax(worst, fabs(a->c[k]));
    ok(worst < 0.1, "center_by_type removes the species contrast (max |C| "
       "%.3f)", worst);
  }
  eng_acf_free(a);
  free(cavg);
  free(cwant);
  free(rb);
  free(p);
  eng_system_free(s);
}

static void check_xi_fit(void) {
  double r[40], c[40];
  eng_xi_fit f;
  int k;
  for (k = 0; k < 40; k++) {
    r[k] = 0.1 + 0.25 * k;
    c[k] = 2.0 * exp(-r[k] / 1.7);
  }
  ok(eng_xi_fit_compute(40, r, c, 3.0, 8.0, 0, &f) == ENG_OK, "xi fit");
  near(f.xi, 1.7, 1e-10, "exact exponential: xi");
  near(f.amplitude, 2.0, 1e-10, "exact exponential: amplitude");
  near(f.xi_err, 0.0, 1e-8, "exact exponential: xi error 0");
  ok(f.npoints == 20 && fabs(f.r_first - 3.1) < 1e-12 &&
         fabs(f.r_last - 7.85) < 1e-12,
     "points 3.1 .. 7.85 A used (%d)", f.npoints);
  c[25] = -0.01; /* r = 6.35: stops there */
  ok(eng_xi_fit_compute(40, r, c, 3.0, 8.0, 0, &f) == ENG_OK && f.npoints == 13,
     "the fit stops at the first C <= 0 (%d points)", f.npoints);
  for (k = 0; k < 40; k++) c[k] = 1.0 + 0.01 * k;
  ok(eng_xi_fit_compute(40, r, c, 3.0, 8.0, 0, &f) == ENG_ERANGE,
     "a growing C(r) is ENG_ERANGE");
  ok(eng_xi_fit_compute(40, r, c, 3.0, 3.2, 0, &f) == ENG_EINVAL,
     "fewer than 3 points is ENG_EINVAL");
}

static void check_histogram_twomode(void) {
  const int n = 20000;
  double *v = malloc(n * sizeof *v), vals[6] = {0.05, 0.1, 0.15, -1, 9, NAN};
  long cnt[4], below, above;
  eng_twomode m;
  eng_rng rng;
  int i;

  ok(eng_histogram(6, vals, NULL, 0.0, 0.1, 4, cnt, &below, &above) == 0,
     "histogram");
  /* 0.1 / 0.1 = 1 exactly and 0.15 / 0.1 < 2: both in bin 1 */
  ok(cnt[0] == 1 && cnt[1] == 2 && cnt[2] == 0 && cnt[3] == 0 &&
         below == 1 && above == 1,
     "counts [1 2 0 0], one below, one above, NaN ignored (%ld %ld %ld %ld "
     "%ld %ld)", cnt[0], cnt[1], cnt[2], cnt[3], below, above);
  ok(eng_histogram(6, vals, NULL, 0.0, 0.0, 4, cnt, NULL, NULL) == ENG_EINVAL,
     "width 0 refused");

  /* sample w = 0.3 exponential (e0 0.4) + 0.7 Rayleigh (sigma 1.2) */
  eng_rng_seed(&rng, 5);
  for (i = 0; i < n; i++) {
    double u = eng_rng_uniform(&rng), q = 1.0 - eng_rng_uniform(&rng);
    v[i] = u < 0.3 ? -0.4 * log(q) : 1.2 * sqrt(-2 * log(q));
  }
  i = eng_twomode_fit(n, v, NULL, &m);
  ok(i == ENG_OK && m.converged, "two-mode fit converged (%d iterations)",
     m.iterations);
  near(m.w, 0.3, 0.03, "exponential weight");
  near(m.e0, 0.4, 0.04, "exponential mean e0");
  near(m.sigma, 1.2, 0.03, "Rayleigh sigma");
  {
    double integral = 0;
    for (i = 0; i < 20000; i++) integral += eng_twomode_pdf(&m, (i + 0.5) * 1e-3) * 1e-3;
    near(integral, 1.0, 1e-3, "model density integrates to 1");
  }
  ok(eng_twomode_fit(5, v, NULL, &m) == ENG_EINVAL, "5 values refused");
  free(v);
}

static void check_slice(void) {
  eng_system *s = tu_random_sample(400, 0.06, 0, 0, 0, "Cu", "Zr", 0.5, 1.8,
                                   11);
  eng_slice_opts o;
  eng_slice *m = NULL;
  double *p, fr[3];
  int n, i, j, inslab = 0, bad = 0, defined = 0;
  if (!s) bail("tu_random_sample");
  n = s->natoms;
  p = malloc(2 * n * sizeof *p);
  for (i = 0; i < n; i++) {
    p[i] = s->x[3 * i] - s->box.lo[0]; /* field 0: x */
    p[n + i] = 7.0;                     /* field 1: constant */
  }
  eng_slice_opts_default(&o);
  o.axis = 2;
  o.center = 0.25;
  o.thickness = 3.9;
  o.spacing = 2.0;
  o.smooth = 0;
  ok(eng_slice_map(s, 2, p, &o, &m) == ENG_OK, "slice map (cell means)");
  if (!m) goto out;
  for (i = 0; i < n; i++) {
    eng_box_to_frac(&s->box, &s->x[3 * i], fr);
    double d = fr[2] - 0.25;
    d -= floor(d + 0.5);
    if (fabs(d) * s->box.len[2] <= 1.95) inslab++;
  }
  ok(m->natoms_slab == inslab && inslab > 10, "%d atoms in the 3.9 A slab",
     inslab);
  ok(m->axis_u == 0 && m->axis_v == 1, "grid over x and y");
  /* by hand: each cell's mean of x over its slab atoms */
  for (j = 0; j < m->nv; j++)
    for (i = 0; i < m->nu; i++) {
      double sum = 0, got = m->val[(size_t)j * m->nu + i];
      int cnt = 0;
      for (int q = 0; q < m->natoms_slab; q++) {
        int a = m->slab_atoms[q];
        eng_box_to_frac(&s->box, &s->x[3 * a], fr);
        fr[0] -= floor(fr[0]);
        fr[1] -= floor(fr[1]);
        if ((int)(fr[0] * m->nu) == i && (int)(fr[1] * m->nv) == j) {
          sum += p[a];
          cnt++;
        }
      }
      if (cnt ? fabs(got - sum / cnt) > 1e-12 : !isnan(got)) bad++;
      if (cnt) defined++;
      if (!isnan(got) && fabs(m->val[((size_t)m->nv + j) * m->nu + i] - 7.0) > 1e-12)
        bad++;
    }
  ok(bad == 0 && defined > 0, "cell means by hand (%d cells with atoms of "
     "%d)", defined, m->nu * m->nv);
  eng_slice_free(m);
  m = NULL;
  o.smooth = 1.5;
  ok(eng_slice_map(s, 2, p, &o, &m) == ENG_OK, "slice map (Gaussian)");
  if (!m) goto out;
  bad = 0;
  for (j = 0; j < m->nu * m->nv; j++)
    if (!isnan(m->val[m->nu * m->nv + j]) &&
        fabs(m->val[m->nu * m->nv + j] - 7.0) > 1e-12)
      bad++;
  ok(bad == 0, "a constant field maps to that constant");
  eng_slice_free(m);
  m = NULL;
  o.axis = 3;
  ok(eng_slice_map(s, 2, p, &o, &m) == ENG_EINVAL && !m, "axis 3 refused");
out:
  eng_slice_free(m);
  free(p);
  eng_system_free(s);
}

int main(void) {
  check_vs_numpy();
  check_binning_by_hand();
  check_acf_brute(0, 0, 0, "orthogonal");
  check_acf_brute(0.3, -0.2, 0.15, "triclinic");
  check_xi_fit();
  check_acf_synthetic();
  check_histogram_twomode();
  check_slice();
  return tap_done();
}
