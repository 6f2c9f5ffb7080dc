/*
 * gr.c -- pair distribution functions g(r), total and partials, and the
 * robust location of their peaks and troughs (Gaussian smoothing along r,
 * alternating maxima/minima with a prominence filter, parabolic
 * refinement).  Pairs come from eng_nlist_build, which includes every
 * periodic image, so rmax may exceed half the box.  See docs/descriptors.md.
 */
#include "internal.h"

#include <math.h>
#include <string.h>

/* Refuse neighbour lists that would not fit: estimated pairs
 * N * (N/V) * 4/3 pi r^3 above 1e8 (about 3 GB of list). */
static int check_pairs(const eng_system *sys, double r, int line) {
  double est = (double)sys->natoms * sys->natoms / eng_box_volume(&sys->box) * 4.0 / 3.0 * M_PI * r * r * r;
  if (!(est <= 1e8))
    return eng_set_error(ENG_ERANGE, "%s:%d: range %g A would need about %.3g neighbour pairs (limit 1e8)", "gr.c",
                         line, r, est);
  return ENG_OK;
}

void eng_rdf_opts_default(eng_rdf_opts *o) {
  memset(o, 0, sizeof *o);
  o->rmax = 12.0;
  o->dr = 0.02;
  o->smooth = 0.3;
  o->min_prominence = 0.02;
}

void eng_rdf_free(eng_rdf *r) {
  if (!r) return;
  free(r->r);
  free(r->g);
  free(r->gs);
  free(r->npeaks);
  free(r->ntroughs);
  free(r->peaks);
  free(r->troughs);
  free(r);
}

/* Gaussian smoothing of y (uniform grid step h) into ys; the kernel is
 * renormalised where it runs off either end of the grid. */
static void smooth_curve(const double *y, int n, double h, double sigma, double *ys) {
  if (!(sigma > 0.0)) {
    memcpy(ys, y, (size_t)n * sizeof *ys);
    return;
  }
  int w = (int)ceil(4.0 * sigma / h);
  for (int k = 0; k < n; k++) {
    double s = 0.0, wsum = 0.0;
    int lo = k - w < 0 ? 0 : k - w, hi = k + w >= n ? n - 1 : k + w;
    for (int m = lo; m <= hi; m++) {
      double u = (m - k) * h / sigma;
      double wt = exp(-0.5 * u * u);
      s += wt * y[m];
      wsum += wt;
    }
    ys[k] = s / wsum;
  }
}

/* Vertex of the parabola through (k-1, k, k+1) of y, as a position. */
static double refine(const double *r, const double *y, int n, int k) {
  if (k <= 0 || k >= n - 1) return r[k];
  double a = y[k - 1], b = y[k], c = y[k + 1];
  double den = a - 2.0 * b + c;
  double h = r[k + 1] - r[k];
  if (den == 0.0) return r[k];
  double off = 0.5 * (a - c) / den;
  if (off > 0.5) off = 0.5;
  if (off < -0.5) off = -0.5;
  return r[k] + off * h;
}

/* Extrema of ys: alternate maxima and minima, each the extreme value
 * between its neighbours of the other kind, pruned by prominence.
 * Implementation: candidate strict local extrema (plateaus collapsed),
 * then repeated removal of the adjacent max/min pair with the smallest
 * height difference while it is below the prominence (persistence
 * pruning). */
int eng_rdf_extrema(const double *r, const double *y, int n, double sigma,
                    double min_prominence, double *ys_out, double *peaks, int *npk,
                    double *troughs, int *ntr, int max) {
  double *ys = NULL;
  int *idx = NULL, *kind = NULL, m = 0, rc = ENG_OK;

  *npk = *ntr = 0;
  if (n < 3 || !r || !y || max < 0 || !(min_prominence >= 0.0) || !isfinite(sigma))
    return eng_set_error(ENG_EINVAL, "gr.c:%d: extrema need >= 3 points and prominence >= 0", __LINE__);
  for (int k = 1; k < n; k++)
    if (!(r[k] > r[k - 1]))
      return eng_set_error(ENG_EINVAL, "gr.c:%d: r must be ascending", __LINE__);
  ys = ys_out ? ys_out : eng__malloc((size_t)n, sizeof *ys);
  idx = eng__malloc((size_t)n, sizeof *idx);
  kind = eng__malloc((size_t)n, sizeof *kind);
  if (!ys || !idx || !kind) {
    rc = ENG_ENOMEM;
    goto out;
  }
  smooth_curve(y, n, (r[n - 1] - r[0]) / (n - 1), sigma, ys);

  /* Candidates: +1 maximum, -1 minimum, on plateaus the middle point. */
  for (int k = 1; k < n - 1;) {
    int e = k;
    while (e < n - 1 && ys[e + 1] == ys[k]) e++;
    if (e >= n - 1) break;
    double left = ys[k - 1], right = ys[e + 1], v = ys[k];
    int c = 0;
    if (v > left && v > right) c = 1;
    if (v < left && v < right) c = -1;
    if (c) {
      idx[m] = (k + e) / 2;
      kind[m] = c;
      m++;
    }
    k = e + 1;
  }
  /* Persistence pruning of adjacent pairs below the prominence. */
  for (;;) {
    int best = -1;
    double bd = INFINITY;
    for (int q = 0; q + 1 < m; q++) {
      double d = fabs(ys[idx[q]] - ys[idx[q + 1]]);
      if (d < bd) {
        bd = d;
        best = q;
      }
    }
    if (best < 0 || bd >= min_prominence) break;
    /* Remove the pair (best, best+1).  Kinds alternate, so they still do;
     * as the pair has the smallest difference, the extrema left on either
     * side are the extreme values of the merged intervals. */
    memmove(idx + best, idx + best + 2, (size_t)(m - best - 2) * sizeof *idx);
    memmove(kind + best, kind + best + 2, (size_t)(m - best - 2) * sizeof *kind);
    m -= 2;
  }
  /* Report from the first maximum on. */
  int first = 0;
  while (first < m && kind[first] < 0) first++;
  for (int q = first; q < m; q++) {
    double pos = refine(r, ys, n, idx[q]);
    if (kind[q] > 0) {
      if (*npk < max) peaks[(*npk)++] = pos;
    } else if (*ntr < max) {
      troughs[(*ntr)++] = pos;
    }
  }
out:
  if (ys != ys_out) free(ys);
  free(idx);
  free(kind);
  return rc;
}

int eng_rdf_compute(const eng_system *sys, const eng_rdf_opts *o_in, eng_rdf **out) {
  eng_rdf_opts o;
  eng_rdf *g = NULL;
  eng_nlist *nl = NULL;
  double *hist = NULL;
  int *count = NULL;
  int rc, nt, nc, nb;

  *out = NULL;
  if (o_in)
    o = *o_in;
  else
    eng_rdf_opts_default(&o);
  if (!sys || sys->natoms < 2 || sys->ntypes < 1)
    return eng_set_error(ENG_EINVAL, "gr.c:%d: g(r) needs at least 2 atoms", __LINE__);
  if (!(o.rmax > 0.0) || !(o.dr > 0.0) || !isfinite(o.rmax) || o.rmax / o.dr > 1e6)
    return eng_set_error(ENG_EINVAL, "gr.c:%d: g(r) needs rmax > 0 and 0 < dr, at most 1e6 bins (rmax %g, dr %g)",
                         __LINE__, o.rmax, o.dr);
  if (!(o.min_prominence >= 0.0) || !isfinite(o.smooth))
    return eng_set_error(ENG_EINVAL, "gr.c:%d: g(r) needs min_prominence >= 0", __LINE__);
  nt = sys->ntypes;
  nc = 1 + nt * nt;
  nb = (int)ceil(o.rmax / o.dr - 1e-9);
  if (nb < 3) nb = 3;

  g = eng__calloc(1, sizeof *g);
  if (!g) return ENG_ENOMEM;
  g->ntypes = nt;
  g->ncurves = nc;
  g->nbins = nb;
  g->dr = o.dr;
  g->rmax = nb * o.dr;
  g->smooth = o.smooth;
  g->min_prominence = o.min_prominence;
  g->r = eng__malloc((size_t)nb, sizeof *g->r);
  g->g = eng__calloc((size_t)nc * nb, sizeof *g->g);
  g->gs = eng__calloc((size_t)nc * nb, sizeof *g->gs);
  g->npeaks = eng__calloc((size_t)nc, sizeof *g->npeaks);
  g->ntroughs = eng__calloc((size_t)nc, sizeof *g->ntroughs);
  g->peaks = eng__calloc((size_t)nc * ENG_RDF_MAXEXT, sizeof *g->peaks);
  g->troughs = eng__calloc((size_t)nc * ENG_RDF_MAXEXT, sizeof *g->troughs);
  hist = eng__calloc((size_t)nc * nb, sizeof *hist);
  count = eng__calloc((size_t)nt, sizeof *count);
  if (!g->r || !g->g || !g->gs || !g->npeaks || !g->ntroughs || !g->peaks || !g->troughs ||
      !hist || !count) {
    rc = ENG_ENOMEM;
    goto out;
  }
  for (int k = 0; k < nb; k++) g->r[k] = (k + 0.5) * o.dr;

  rc = check_pairs(sys, g->rmax, __LINE__);
  if (rc) goto out;
  rc = eng_nlist_build(sys, g->rmax, &nl);
  if (rc) goto out;
  for (int i = 0; i < sys->natoms; i++) {
    int a = sys->type[i];
    if (a < 0 || a >= nt) {
      rc = eng_set_error(ENG_EINVAL, "gr.c:%d: atom %d has type %d outside 0..%d", __LINE__, i, a, nt - 1);
      goto out;
    }
    for (long p = nl->start[i]; p < nl->start[i + 1]; p++) {
      const double *d = &nl->d[3 * p];
      double rr = sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
      int k = (int)(rr / o.dr);
      int b = sys->type[nl->nbr[p]];
      if (k >= nb) continue;
      hist[k] += 1.0;
      hist[(size_t)(1 + a * nt + b) * nb + k] += 1.0;
    }
  }
  eng_system_type_counts(sys, count);
  {
    double vol = eng_box_volume(&sys->box);
    double n = sys->natoms;
    for (int c = 0; c < nc; c++) {
      double norm;
      if (c == 0) {
        norm = n * (n - 1.0) / vol;
      } else {
        int a = (c - 1) / nt, b = (c - 1) % nt;
        norm = (double)count[a] * (count[b] - (a == b ? 1.0 : 0.0)) / vol;
      }
      for (int k = 0; k < nb; k++) {
        double lo = k * o.dr, hi = (k + 1) * o.dr;
        double shell = 4.0 / 3.0 * M_PI * (hi * hi * hi - lo * lo * lo);
        g->g[(size_t)c * nb + k] = norm > 0.0 ? hist[(size_t)c * nb + k] / (norm * shell) : 0.0;
      }
      rc = eng_rdf_extrema(g->r, g->g + (size_t)c * nb, nb, o.smooth, o.min_prominence,
                           g->gs + (size_t)c * nb, g->peaks + (size_t)c * ENG_RDF_MAXEXT,
                           &g->npeaks[c], g->troughs + (size_t)c * ENG_RDF_MAXEXT, &g->ntroughs[c],
                           ENG_RDF_MAXEXT);
      if (rc) goto out;
    }
  }
  *out = g;
  g = NULL;
  rc = ENG_OK;
out:
  eng_rdf_free(g);
  eng_nlist_free(nl);
  free(hist);
  free(count);
  return rc;
}
