/*
 * analysis.c -- analysis of per-atom fields (Wei et al., PRB 99, 014115):
 * least-squares lines, Pearson and Spearman correlations, the paper's
 * coarse graining by sorted descriptor (Fig. 4), the spatial
 * autocorrelation C(r) of Eq. 6 under periodic boundaries and the
 * correlation length xi from C ~ exp(-r/xi) (Figs. 6-8, S1), histograms
 * and the two-mode (exponential + Rayleigh) model of barrier spectra
 * (Fig. 1c-e), and slice maps (Figs. 1a, 2, 3, 6a-e).  docs/analysis.md
 * gives the formulas and conventions.  No JSON here: the job kind
 * (common/kinds_analysis.c) assembles results.
 */
#include "internal.h"
#include "neigh.h"

#include <math.h>
#include <string.h>

/* Is atom i used: selected and every one of the nv values finite? */
static int used(const int *sel, int i, double a, double b) {
  return (!sel || sel[i]) && isfinite(a) && isfinite(b);
}

/* ------------------------------------------------------------------ */
/* Lines and correlation coefficients                                  */
/* ------------------------------------------------------------------ */

int eng_linfit_compute(int n, const double *x, const double *y, const int *sel,
                       eng_linfit *fit) {
  double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0, mx, my;
  int m = 0, i;

  memset(fit, 0, sizeof *fit);
  fit->slope = fit->intercept = fit->slope_err = fit->intercept_err = NAN;
  fit->r = NAN;
  if (n < 0 || (n > 0 && (!x || !y)))
    return eng_set_error(ENG_EINVAL, "analysis.c:%d: bad arguments", __LINE__);
  for (i = 0; i < n; i++)
    if (used(sel, i, x[i], y[i])) {
      sx += x[i];
      sy += y[i];
      m++;
    }
  fit->n = m;
  if (m < 2)
    return eng_set_error(ENG_EINVAL,
                         "analysis.c:%d: line fit needs at least 2 points "
                         "(got %d)", __LINE__, m);
  mx = sx / m;
  my = sy / m;
  /* second pass about the means (numerically stable) */
  for (i = 0; i < n; i++)
    if (used(sel, i, x[i], y[i])) {
      double dx = x[i] - mx, dy = y[i] - my;
      sxx += dx * dx;
      syy += dy * dy;
      sxy += dx * dy;
    }
  if (!(sxx > 0))
    return eng_set_error(ENG_EINVAL,
                         "analysis.c:%d: line fit: x is constant", __LINE__);
  fit->slope = sxy / sxx;
  fit->intercept = my - fit->slope * mx;
  fit->r = syy > 0 ? sxy / sqrt(sxx * syy) : NAN;
  if (m > 2) {
    double ssr = syy - fit->slope * sxy, s2;
    if (ssr < 0) ssr = 0;
    s2 = ssr / (m - 2);
    fit->slope_err = sqrt(s2 / sxx);
    fit->intercept_err = sqrt(s2 * (1.0 / m + mx * mx / sxx));
  }
  return ENG_OK;
}

int eng_pearson(int n, const double *x, const double *y, const int *sel,
                double *r) {
  double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0, mx, my;
  int m = 0, i;
  *r = NAN;
  for (i = 0; i < n; i++)
    if (used(sel, i, x[i], y[i])) {
      sx += x[i];
      sy += y[i];
      m++;
    }
  if (m < 2)
    return eng_set_error(ENG_EINVAL,
                         "analysis.c:%d: Pearson r needs at least 2 points "
                         "(got %d)", __LINE__, m);
  mx = sx / m;
  my = sy / m;
  for (i = 0; i < n; i++)
    if (used(sel, i, x[i], y[i])) {
      double dx = x[i] - mx, dy = y[i] - my;
      sxx += dx * dx;
      syy += dy * dy;
      sxy += dx * dy;
    }
  if (sxx > 0 && syy > 0) *r = sxy / sqrt(sxx * syy);
  return ENG_OK;
}

/* Sort key: value, then index (a strict total order, so results do not
 * depend on the sort algorithm). */
typedef struct keyed {
  double v;
  int i;
} keyed;

static int keyed_cmp(const void *pa, const void *pb) {
  const keyed *a = pa, *b = pb;
  if (a->v < b->v) return -1;
  if (a->v > b->v) return 1;
  return (a->i > b->i) - (a->i < b->i);
}

/* Ranks (1-based, ties averaged) of v[idx[k]], k < m, into rank[k]. */
static int ranks(int m, const double *v, const int *idx, double *rank) {
  keyed *k = eng__malloc((size_t)m + 1, sizeof *k);
  int a, b;
  if (!k) return ENG_ENOMEM;
  for (a = 0; a < m; a++) {
    k[a].v = v[idx[a]];
    k[a].i = a;
  }
  qsort(k, (size_t)m, sizeof *k, keyed_cmp);
  for (a = 0; a < m; a = b) {
    double mean;
    for (b = a + 1; b < m && k[b].v == k[a].v; b++) continue;
    mean = 0.5 * (a + 1 + b); /* mean of ranks a+1 .. b */
    for (int c = a; c < b; c++) rank[k[c].i] = mean;
  }
  free(k);
  return ENG_OK;
}

int eng_spearman(int n, const double *x, const double *y, const int *sel,
                 double *rho) {
  int *idx = NULL, m = 0, i, rc;
  double *rx = NULL, *ry = NULL;
  *rho = NAN;
  idx = eng__malloc((size_t)n + 1, sizeof *idx);
  if (!idx) return ENG_ENOMEM;
  for (i = 0; i < n; i++)
    if (used(sel, i, x[i], y[i])) idx[m++] = i;
  if (m < 2) {
    rc = eng_set_error(ENG_EINVAL,
                       "analysis.c:%d: Spearman rho needs at least 2 points "
                       "(got %d)", __LINE__, m);
    goto out;
  }
  rx = eng__malloc((size_t)m, sizeof *rx);
  ry = eng__malloc((size_t)m, sizeof *ry);
  rc = ENG_ENOMEM;
  if (!rx || !ry) goto out;
  rc = ranks(m, x, idx, rx);
  if (!rc) rc = ranks(m, y, idx, ry);
  if (!rc) rc = eng_pearson(m, rx, ry, NULL, rho);
out:
  free(idx);
  free(rx);
  free(ry);
  return rc;
}

void eng_corr_free(eng_corr *c) {
  if (!c) return;
  free(c->bin_x);
  free(c->bin_y);
  free(c->bin_y_sem);
  free(c->bin_count);
  free(c);
}

int eng_corr_compute(int n, const double *x, const double *y, const int *sel,
                     int bin_atoms, eng_corr **out) {
  eng_corr *c = NULL;
  keyed *k = NULL;
  int m = 0, i, b, rc;

  *out = NULL;
  if (n < 0 || !x || !y || bin_atoms < 1)
    return eng_set_error(ENG_EINVAL,
                         "analysis.c:%d: correlation: bad arguments "
                         "(bin_atoms %d must be >= 1)", __LINE__, bin_atoms);
  k = eng__malloc((size_t)n + 1, sizeof *k);
  c = eng__calloc(1, sizeof *c);
  rc = ENG_ENOMEM;
  if (!k || !c) goto fail;
  for (i = 0; i < n; i++)
    if (used(sel, i, x[i], y[i])) {
      k[m].v = x[i];
      k[m].i = i;
      m++;
    }
  c->n = m;
  c->bin_atoms = bin_atoms;
  if (m < 3) {
    rc = eng_set_error(ENG_EINVAL,
                       "analysis.c:%d: correlation needs at least 3 atoms "
                       "with both values (got %d)", __LINE__, m);
    goto fail;
  }
  eng_pearson(n, x, y, sel, &c->pearson);
  rc = eng_spearman(n, x, y, sel, &c->spearman);
  if (rc) goto fail;
  if (eng_linfit_compute(n, x, y, sel, &c->fit)) { /* constant x: keep NaN */
  }
  qsort(k, (size_t)m, sizeof *k, keyed_cmp);
  c->nbins = (int)floor((double)m / bin_atoms + 0.5);
  if (c->nbins < 1) c->nbins = 1;
  c->bin_x = eng__malloc((size_t)c->nbins, sizeof *c->bin_x);
  c->bin_y = eng__malloc((size_t)c->nbins, sizeof *c->bin_y);
  c->bin_y_sem = eng__malloc((size_t)c->nbins, sizeof *c->bin_y_sem);
  c->bin_count = eng__malloc((size_t)c->nbins, sizeof *c->bin_count);
  rc = ENG_ENOMEM;
  if (!c->bin_x || !c->bin_y || !c->bin_y_sem || !c->bin_count) goto fail;
  for (b = 0; b < c->nbins; b++) {
    long lo = (long)b * m / c->nbins, hi = (long)(b + 1) * m / c->nbins;
    double sx = 0, sy = 0, ss = 0, my;
    long q;
    for (q = lo; q < hi; q++) {
      sx += x[k[q].i];
      sy += y[k[q].i];
    }
    c->bin_count[b] = (int)(hi - lo);
    c->bin_x[b] = sx / (double)(hi - lo);
    my = c->bin_y[b] = sy / (double)(hi - lo);
    for (q = lo; q < hi; q++) ss += eng__sq(y[k[q].i] - my);
    c->bin_y_sem[b] = hi - lo > 1
                          ? sqrt(ss / (double)(hi - lo - 1) / (double)(hi - lo))
                          : NAN;
  }
  if (c->nbins >= 2)
    eng_linfit_compute(c->nbins, c->bin_x, c->bin_y, NULL, &c->fit_binned);
  else {
    memset(&c->fit_binned, 0, sizeof c->fit_binned);
    c->fit_binned.n = 1;
    c->fit_binned.slope = c->fit_binned.intercept = NAN;
    c->fit_binned.slope_err = c->fit_binned.intercept_err = NAN;
    c->fit_binned.r = NAN;
  }
  free(k);
  *out = c;
  return ENG_OK;
fail:
  free(k);
  eng_corr_free(c);
  return rc;
}

/* ------------------------------------------------------------------ */
/* Spatial autocorrelation                                             */
/* ------------------------------------------------------------------ */

void eng_acf_opts_default(eng_acf_opts *o) {
  memset(o, 0, sizeof *o);
  o->dr = 0.2;
  o->rmax = 12.0;
  o->r_norm = 3.0;
  o->center_by_type = 0;
}

void eng_acf_free(eng_acf *a) {
  if (!a) return;
  free(a->r);
  free(a->c);
  free(a->c_norm);
  free(a->npairs);
  free(a->nused);
  free(a->mean);
  free(a->var);
  free(a->c_at_norm);
  free(a);
}

/* Linear interpolation of y (NaN where absent) at r0 between the bin
 * centres around it; the nearest finite value at the ends. */
static double interp_at(const double *r, const double *y, int n, double r0) {
  int k;
  if (n < 1) return NAN;
  if (r0 <= r[0]) return y[0];
  if (r0 >= r[n - 1]) return y[n - 1];
  for (k = 0; k + 1 < n; k++)
    if (r0 >= r[k] && r0 <= r[k + 1]) break;
  if (!isfinite(y[k])) return y[k + 1];
  if (!isfinite(y[k + 1])) return y[k];
  return y[k] + (y[k + 1] - y[k]) * (r0 - r[k]) / (r[k + 1] - r[k]);
}

int eng_acf_compute(const eng_system *sys, int nfields, const double *p,
                    const int *sel, const eng_acf_opts *opts, eng_acf **out) {
  eng_acf_opts o;
  eng_acf *a = NULL;
  eng__ghosts g;
  eng__list l;
  double *dp = NULL, *sum = NULL, est;
  int n, nb, f, i, k, rc;

  memset(&g, 0, sizeof g);
  memset(&l, 0, sizeof l);
  *out = NULL;
  if (opts)
    o = *opts;
  else
    eng_acf_opts_default(&o);
  if (!sys || !p || nfields < 1)
    return eng_set_error(ENG_EINVAL, "analysis.c:%d: autocorrelation: bad "
                         "arguments (nfields %d)", __LINE__, nfields);
  if (!(o.dr > 0) || !(o.rmax > o.dr) || !isfinite(o.rmax) ||
      !(o.r_norm >= 0) || !(o.r_norm < o.rmax) || o.rmax / o.dr > 1e6)
    return eng_set_error(ENG_EINVAL,
                         "analysis.c:%d: autocorrelation: need dr > 0, "
                         "rmax > dr, 0 <= r_norm < rmax, at most 1e6 bins "
                         "(got dr %g, rmax %g, r_norm %g)", __LINE__, o.dr,
                         o.rmax, o.r_norm);
  n = sys->natoms;
  est = (double)n * n / eng_box_volume(&sys->box) * 2.0 / 3.0 * M_PI * o.rmax *
        o.rmax * o.rmax;
  if (!(est <= 1e8))
    return eng_set_error(ENG_ERANGE,
                         "analysis.c:%d: autocorrelation range %g A would "
                         "need about %.3g pairs (limit 1e8)", __LINE__, o.rmax,
                         est);
  /* whole bins only: the range actually used is nbins * dr */
  nb = (int)floor(o.rmax / o.dr + 1e-9);
  o.rmax = nb * o.dr;
  a = eng__calloc(1, sizeof *a);
  if (!a) return ENG_ENOMEM;
  a->natoms = n;
  a->nfields = nfields;
  a->nbins = nb;
  a->opts = o;
  a->r = eng__malloc((size_t)nb, sizeof *a->r);
  a->c = eng__malloc((size_t)nb * nfields, sizeof *a->c);
  a->c_norm = eng__malloc((size_t)nb * nfields, sizeof *a->c_norm);
  a->npairs = eng__calloc((size_t)nb * nfields, sizeof *a->npairs);
  a->nused = eng__calloc((size_t)nfields, sizeof *a->nused);
  a->mean = eng__calloc((size_t)nfields, sizeof *a->mean);
  a->var = eng__calloc((size_t)nfields, sizeof *a->var);
  a->c_at_norm = eng__calloc((size_t)nfields, sizeof *a->c_at_norm);
  dp = eng__malloc((size_t)n * nfields + 1, sizeof *dp);
  sum = eng__calloc((size_t)nb * nfields, sizeof *sum);
  rc = ENG_ENOMEM;
  if (!a->r || !a->c || !a->c_norm || !a->npairs || !a->nused || !a->mean ||
      !a->var || !a->c_at_norm || !dp || !sum)
    goto fail;
  for (k = 0; k < nb; k++) a->r[k] = (k + 0.5) * o.dr;

  /* deviations dP (NaN = atom not used for that field) */
  for (f = 0; f < nfields; f++) {
    const double *pf = p + (size_t)f * n;
    double *df = dp + (size_t)f * n, s = 0, ss = 0;
    int m = 0;
    for (i = 0; i < n; i++) {
      df[i] = (!sel || sel[i]) && isfinite(pf[i]) ? pf[i] : NAN;
      if (isfinite(df[i])) {
        s += df[i];
        m++;
      }
    }
    a->nused[f] = m;
    a->mean[f] = m ? s / m : NAN;
    if (o.center_by_type) {
      for (int t = 0; t < sys->ntypes; t++) {
        double st = 0;
        int mt = 0;
        for (i = 0; i < n; i++)
          if (sys->type[i] == t && isfinite(df[i])) {
            st += df[i];
            mt++;
          }
        for (i = 0; mt && i < n; i++)
          if (sys->type[i] == t && isfinite(df[i])) df[i] -= st / mt;
      }
    } else {
      for (i = 0; i < n; i++)
        if (isfinite(df[i])) df[i] -= a->mean[f];
    }
    for (i = 0; i < n; i++)
      if (isfinite(df[i])) ss += df[i] * df[i];
    a->var[f] = m ? ss / m : NAN;
  }

  /* every physical pair once: owned atom i with neighbour slot j kept by
   * the half list (periodic images included) */
  rc = eng__ghosts_build(&sys->box, sys->x, n, o.rmax, 0, &g);
  if (rc) goto fail;
  rc = eng__list_build(&g, o.rmax, 1, NULL, &l);
  if (rc) goto fail;
  for (i = 0; i < n; i++) {
    const double *xi = &g.x[3 * i];
    for (long q = l.start[i]; q < l.start[i + 1]; q++) {
      int j = l.nbr[q], oj = g.owner[j];
      double r = sqrt(eng__sq(g.x[3 * j] - xi[0]) +
                      eng__sq(g.x[3 * j + 1] - xi[1]) +
                      eng__sq(g.x[3 * j + 2] - xi[2]));
      int b = (int)(r / o.dr);
      if (b >= nb) continue;
      for (f = 0; f < nfields; f++) {
        double u = dp[(size_t)f * n + i], v = dp[(size_t)f * n + oj];
        if (isnan(u) || isnan(v)) continue;
        sum[(size_t)f * nb + b] += u * v;
        a->npairs[(size_t)f * nb + b]++;
      }
    }
  }
  for (f = 0; f < nfields; f++) {
    double *cf = a->c + (size_t)f * nb, *cn = a->c_norm + (size_t)f * nb, c0;
    for (k = 0; k < nb; k++) {
      long np = a->npairs[(size_t)f * nb + k];
      cf[k] = np > 0 && a->var[f] > 0 ? sum[(size_t)f * nb + k] / np / a->var[f]
                                      : NAN;
    }
    c0 = o.r_norm > 0 ? interp_at(a->r, cf, nb, o.r_norm) : 1.0;
    a->c_at_norm[f] = c0;
    for (k = 0; k < nb; k++)
      cn[k] = isfinite(c0) && c0 != 0 ? cf[k] / c0 : NAN;
  }
  free(dp);
  free(sum);
  eng__list_free(&l);
  eng__ghosts_free(&g);
  *out = a;
  return ENG_OK;
fail:
  free(dp);
  free(sum);
  eng__list_free(&l);
  eng__ghosts_free(&g);
  eng_acf_free(a);
  return rc;
}

/* Weighted least squares of y on x (weights w > 0, relative): line with
 * standard errors from s^2 = sum w e^2 / (m - 2); r is the weighted
 * Pearson r. */
static void wfit(int m, const double *x, const double *y, const double *w,
                 eng_linfit *f) {
  double sw = 0, sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0, mx, my, ssr = 0;
  int k;
  for (k = 0; k < m; k++) {
    sw += w[k];
    sx += w[k] * x[k];
    sy += w[k] * y[k];
  }
  mx = sx / sw;
  my = sy / sw;
  for (k = 0; k < m; k++) {
    sxx += w[k] * eng__sq(x[k] - mx);
    syy += w[k] * eng__sq(y[k] - my);
    sxy += w[k] * (x[k] - mx) * (y[k] - my);
  }
  f->n = m;
  f->slope = sxy / sxx;
  f->intercept = my - f->slope * mx;
  f->r = syy > 0 ? sxy / sqrt(sxx * syy) : NAN;
  for (k = 0; k < m; k++)
    ssr += w[k] * eng__sq(y[k] - f->intercept - f->slope * x[k]);
  /* relative weights normalised to mean 1 so that s^2 is per point */
  ssr *= m / sw;
  f->slope_err = sqrt(ssr / (m - 2) / (sxx * m / sw));
  f->intercept_err = sqrt(ssr / (m - 2) * (1.0 / m + mx * mx / (sxx * m / sw)));
}

int eng_xi_fit_compute(int n, const double *r, const double *c, double r_lo,
                       double r_hi, int weighted, eng_xi_fit *out) {
  double *lr = NULL, *lc = NULL, *lw = NULL;
  int k, m = 0, rc;

  memset(out, 0, sizeof *out);
  out->xi = out->xi_err = out->amplitude = NAN;
  out->r_first = out->r_last = NAN;
  out->line.slope = out->line.intercept = NAN;
  out->line.slope_err = out->line.intercept_err = out->line.r = NAN;
  if (n < 0 || (n > 0 && (!r || !c)) || !(r_hi > r_lo))
    return eng_set_error(ENG_EINVAL,
                         "analysis.c:%d: xi fit: bad arguments (range %g..%g)",
                         __LINE__, r_lo, r_hi);
  lr = eng__malloc((size_t)n + 1, sizeof *lr);
  lc = eng__malloc((size_t)n + 1, sizeof *lc);
  lw = eng__malloc((size_t)n + 1, sizeof *lw);
  rc = ENG_ENOMEM;
  if (!lr || !lc || !lw) goto out;
  for (k = 0; k < n; k++) {
    if (r[k] < r_lo) continue;
    if (r[k] > r_hi) break;
    if (!isfinite(c[k]) || c[k] <= 0) break;
    lr[m] = r[k];
    lc[m] = log(c[k]);
    lw[m] = weighted ? c[k] * c[k] : 1.0;
    m++;
  }
  out->npoints = m;
  if (m < 3) {
    rc = eng_set_error(ENG_EINVAL,
                       "analysis.c:%d: xi fit needs 3 positive points of "
                       "C(r) in %g..%g A (got %d)", __LINE__, r_lo, r_hi, m);
    goto out;
  }
  out->r_first = lr[0];
  out->r_last = lr[m - 1];
  wfit(m, lr, lc, lw, &out->line);
  if (!isfinite(out->line.slope)) {
    rc = eng_set_error(ENG_EINVAL, "analysis.c:%d: xi fit: degenerate points",
                       __LINE__);
    goto out;
  }
  out->amplitude = exp(out->line.intercept);
  if (!(out->line.slope < 0)) {
    rc = eng_set_error(ENG_ERANGE,
                       "analysis.c:%d: C(r) does not decay over %g..%g A "
                       "(slope %g)", __LINE__, out->r_first, out->r_last,
                       out->line.slope);
    goto out;
  }
  out->xi = -1.0 / out->line.slope;
  out->xi_err = out->line.slope_err / eng__sq(out->line.slope);
  rc = ENG_OK;
out:
  free(lr);
  free(lc);
  free(lw);
  return rc;
}

/* ------------------------------------------------------------------ */
/* Histograms and the two-mode barrier model                          */
/* ------------------------------------------------------------------ */

int eng_histogram(int n, const double *v, const int *sel, double lo,
                  double width, int nbins, long *count, long *below,
                  long *above) {
  long bl = 0, ab = 0;
  int i;
  if (!(width > 0) || nbins < 1 || !isfinite(lo) || !count || (n > 0 && !v))
    return eng_set_error(ENG_EINVAL,
                         "analysis.c:%d: histogram: need width > 0 and "
                         "nbins >= 1 (got %g, %d)", __LINE__, width, nbins);
  memset(count, 0, (size_t)nbins * sizeof *count);
  for (i = 0; i < n; i++) {
    double b;
    if ((sel && !sel[i]) || !isfinite(v[i])) continue;
    b = floor((v[i] - lo) / width);
    if (b < 0)
      bl++;
    else if (b >= nbins)
      ab++;
    else
      count[(int)b]++;
  }
  if (below) *below = bl;
  if (above) *above = ab;
  return ENG_OK;
}

double eng_twomode_pdf(const eng_twomode *m, double e) {
  double s2;
  if (!(e >= 0)) return 0;
  s2 = m->sigma * m->sigma;
  return m->w * exp(-e / m->e0) / m->e0 +
         (1 - m->w) * e / s2 * exp(-e * e / (2 * s2));
}

int eng_twomode_fit(int n, const double *v, const int *sel, eng_twomode *m) {
  double mean = 0, prev = -INFINITY;
  int i, cnt = 0, it;

  memset(m, 0, sizeof *m);
  m->w = m->e0 = m->sigma = m->loglik = NAN;
  for (i = 0; i < n; i++)
    if ((!sel || sel[i]) && isfinite(v[i]) && v[i] > 0) {
      mean += v[i];
      cnt++;
    }
  m->n = cnt;
  if (cnt < 10)
    return eng_set_error(ENG_EINVAL,
                         "analysis.c:%d: two-mode fit needs at least 10 "
                         "positive values (got %d)", __LINE__, cnt);
  mean /= cnt;
  m->w = 0.5;
  m->e0 = 0.5 * mean;
  m->sigma = mean;
  for (it = 1; it <= 10000; it++) {
    double sg = 0, sge = 0, sh = 0, she2 = 0, ll = 0;
    for (i = 0; i < n; i++) {
      double e, pe, pr, tot, gma;
      if ((sel && !sel[i]) || !isfinite(v[i]) || !(v[i] > 0)) continue;
      e = v[i];
      pe = m->w * exp(-e / m->e0) / m->e0;
      pr = (1 - m->w) * e / (m->sigma * m->sigma) *
           exp(-e * e / (2 * m->sigma * m->sigma));
      tot = pe + pr;
      if (!(tot > 0)) { /* far in both tails: give it to the nearer mode */
        gma = e < m->sigma ? 1.0 : 0.0;
        ll += -745.0;
      } else {
        gma = pe / tot;
        ll += log(tot);
      }
      sg += gma;
      sge += gma * e;
      sh += 1 - gma;
      she2 += (1 - gma) * e * e;
    }
    ll /= cnt;
    m->loglik = ll;
    m->iterations = it;
    if (fabs(ll - prev) < 1e-10) {
      m->converged = 1;
      break;
    }
    prev = ll;
    /* M step (keep a degenerate mode where it was) */
    m->w = sg / cnt;
    if (sg > 1e-12) m->e0 = sge / sg;
    if (sh > 1e-12) m->sigma = sqrt(she2 / (2 * sh));
    if (!(m->e0 > 0)) m->e0 = 1e-6 * mean;
    if (!(m->sigma > 0)) m->sigma = 1e-6 * mean;
  }
  return ENG_OK;
}

/* ------------------------------------------------------------------ */
/* Slice maps                                                          */
/* ------------------------------------------------------------------ */

void eng_slice_opts_default(eng_slice_opts *o) {
  memset(o, 0, sizeof *o);
  o->axis = 2;
  o->center = 0.5;
  o->thickness = 3.9;
  o->spacing = 1.0;
  o->smooth = 1.0;
}

void eng_slice_free(eng_slice *s) {
  if (!s) return;
  free(s->u);
  free(s->v);
  free(s->val);
  free(s->slab_atoms);
  free(s);
}

/* Cell vector k of box b as a Cartesian 3-vector. */
static void cell_vec(const eng_box *b, int k, double out[3]) {
  out[0] = out[1] = out[2] = 0;
  if (k == 0) {
    out[0] = b->len[0];
  } else if (k == 1) {
    out[0] = b->xy;
    out[1] = b->len[1];
  } else {
    out[0] = b->xz;
    out[1] = b->yz;
    out[2] = b->len[2];
  }
}

int eng_slice_map(const eng_system *sys, int nfields, const double *p,
                  const eng_slice_opts *opts, eng_slice **out) {
  eng_slice_opts o;
  eng_slice *s = NULL;
  double w[3], au[3], av[3], *fu = NULL, *fv = NULL, *wsum = NULL;
  double lu, lv, half, sinuv;
  int n, i, f, rc;

  *out = NULL;
  if (opts)
    o = *opts;
  else
    eng_slice_opts_default(&o);
  if (!sys || !p || nfields < 1 || o.axis < 0 || o.axis > 2 ||
      !(o.center >= 0 && o.center < 1) || !(o.thickness > 0) ||
      !(o.spacing > 0) || !(o.smooth >= 0) || !isfinite(o.smooth))
    return eng_set_error(ENG_EINVAL,
                         "analysis.c:%d: slice map: need axis 0..2, center "
                         "in [0,1), thickness > 0, spacing > 0, smooth >= 0 "
                         "(got %d, %g, %g, %g, %g)", __LINE__, o.axis,
                         o.center, o.thickness, o.spacing, o.smooth);
  n = sys->natoms;
  eng_box_widths(&sys->box, w);
  s = eng__calloc(1, sizeof *s);
  if (!s) return ENG_ENOMEM;
  s->nfields = nfields;
  s->opts = o;
  s->axis_u = o.axis == 0 ? 1 : 0;
  s->axis_v = o.axis == 2 ? 1 : 2;
  cell_vec(&sys->box, s->axis_u, au);
  cell_vec(&sys->box, s->axis_v, av);
  lu = sqrt(au[0] * au[0] + au[1] * au[1] + au[2] * au[2]);
  lv = sqrt(av[0] * av[0] + av[1] * av[1] + av[2] * av[2]);
  /* sine of the angle between the in-plane cell vectors */
  sinuv = sqrt(fmax(1e-6, 1 - eng__sq((au[0] * av[0] + au[1] * av[1] +
                                       au[2] * av[2]) / (lu * lv))));
  s->nu = (int)ceil(lu / o.spacing - 1e-9);
  s->nv = (int)ceil(lv / o.spacing - 1e-9);
  if (s->nu < 1) s->nu = 1;
  if (s->nv < 1) s->nv = 1;
  rc = ENG_EINVAL;
  if ((double)s->nu * s->nv > 1e6) {
    rc = eng_set_error(ENG_EINVAL,
                       "analysis.c:%d: slice map would have %d x %d grid "
                       "points (limit 1e6)", __LINE__, s->nu, s->nv);
    goto fail;
  }
  s->u = eng__malloc((size_t)s->nu, sizeof *s->u);
  s->v = eng__malloc((size_t)s->nv, sizeof *s->v);
  s->val = eng__calloc((size_t)nfields * s->nu * s->nv, sizeof *s->val);
  wsum = eng__calloc((size_t)nfields * s->nu * s->nv, sizeof *wsum);
  s->slab_atoms = eng__malloc((size_t)n + 1, sizeof *s->slab_atoms);
  fu = eng__malloc((size_t)n + 1, sizeof *fu);
  fv = eng__malloc((size_t)n + 1, sizeof *fv);
  rc = ENG_ENOMEM;
  if (!s->u || !s->v || !s->val || !wsum || !s->slab_atoms || !fu || !fv)
    goto fail;
  for (i = 0; i < s->nu; i++) s->u[i] = (i + 0.5) * lu / s->nu;
  for (i = 0; i < s->nv; i++) s->v[i] = (i + 0.5) * lv / s->nv;

  /* the slab: fractional distance to the centre plane, periodic */
  half = 0.5 * o.thickness / w[o.axis];
  for (i = 0; i < n; i++) {
    double fr[3], d;
    eng_box_to_frac(&sys->box, &sys->x[3 * i], fr);
    d = fr[o.axis] - o.center;
    if (sys->box.periodic[o.axis]) d -= floor(d + 0.5);
    if (fabs(d) > half) continue;
    fu[s->natoms_slab] = fr[s->axis_u] - floor(fr[s->axis_u]);
    fv[s->natoms_slab] = fr[s->axis_v] - floor(fr[s->axis_v]);
    s->slab_atoms[s->natoms_slab++] = i;
  }

  for (int q = 0; q < s->natoms_slab; q++) {
    int a = s->slab_atoms[q];
    if (o.smooth == 0) {
      int iu = (int)(fu[q] * s->nu), iv = (int)(fv[q] * s->nv);
      if (iu >= s->nu) iu = s->nu - 1;
      if (iv >= s->nv) iv = s->nv - 1;
      for (f = 0; f < nfields; f++) {
        double x = p[(size_t)f * n + a];
        size_t g = ((size_t)f * s->nv + iv) * s->nu + iu;
        if (!isfinite(x)) continue;
        s->val[g] += x;
        wsum[g] += 1;
      }
      continue;
    }
    /* Gaussian: grid points within 3 sigma (in-plane, periodic); a window
     * wider than the grid visits every column once */
    {
      double cut2 = 9 * o.smooth * o.smooth, inv = 0.5 / (o.smooth * o.smooth);
      int ru = (int)ceil(3 * o.smooth / (lu / s->nu) / sinuv) + 1;
      int rv = (int)ceil(3 * o.smooth / (lv / s->nv) / sinuv) + 1;
      int cu = (int)(fu[q] * s->nu), cv = (int)(fv[q] * s->nv);
      int ulo = cu - ru, uhi = cu + ru, vlo = cv - rv, vhi = cv + rv;
      if (2 * ru + 1 >= s->nu) ulo = 0, uhi = s->nu - 1;
      if (2 * rv + 1 >= s->nv) vlo = 0, vhi = s->nv - 1;
      for (int kv = vlo; kv <= vhi; kv++) {
        int jv = (kv % s->nv + s->nv) % s->nv;
        for (int ku = ulo; ku <= uhi; ku++) {
          int ju = (ku % s->nu + s->nu) % s->nu;
          double su, sv, d[3], d2, wt;
          su = (ju + 0.5) / s->nu - fu[q];
          sv = (jv + 0.5) / s->nv - fv[q];
          if (sys->box.periodic[s->axis_u]) su -= floor(su + 0.5);
          if (sys->box.periodic[s->axis_v]) sv -= floor(sv + 0.5);
          for (int c = 0; c < 3; c++) d[c] = su * au[c] + sv * av[c];
          d2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
          if (d2 > cut2) continue;
          wt = exp(-d2 * inv);
          for (f = 0; f < nfields; f++) {
            double x = p[(size_t)f * n + a];
            size_t g = ((size_t)f * s->nv + jv) * s->nu + ju;
            if (!isfinite(x)) continue;
            s->val[g] += wt * x;
            wsum[g] += wt;
          }
        }
      }
    }
  }
  for (size_t g = 0; g < (size_t)nfields * s->nu * s->nv; g++)
    s->val[g] = wsum[g] > 0 ? s->val[g] / wsum[g] : NAN;
  free(fu);
  free(fv);
  free(wsum);
  *out = s;
  return ENG_OK;
fail:
  free(fu);
  free(fv);
  free(wsum);
  eng_slice_free(s);
  return rc;
}
