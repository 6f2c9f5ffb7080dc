/*
 * s2.c -- local two-body excess entropy S2,i (Wei et al. 2019, Eq. 3)
 * from Gaussian-smoothed local partial pair distribution functions, for
 * several integration cutoffs in one pass.  The formula as implemented is
 * in engine.h (eng_s2_opts) and docs/descriptors.md.
 */
#include "internal.h"

#include <math.h>
#include <string.h>

#define S2_KCUT 5.0   /* Gaussian kernel truncated at 5 sigma */
#define S2_GMIN 1e-10 /* below this g ln g - g + 1 is taken as 1 */

/* Refuse neighbour lists that would not fit: estimated pairs
 * N * (N/V) * 4/3 pi r^3 above 1e8 (about 3 GB of list). */
static int check_pairs(const eng_system *sys, double r, int line) {
  double est = (double)sys->natoms * sys->natoms / eng_box_volume(&sys->box) * 4.0 / 3.0 * M_PI * r * r * r;
  if (!(est <= 1e8))
    return eng_set_error(ENG_ERANGE, "%s:%d: range %g A would need about %.3g neighbour pairs (limit 1e8)", "s2.c",
                         line, r, est);
  return ENG_OK;
}

void eng_s2_opts_default(eng_s2_opts *o) {
  memset(o, 0, sizeof *o);
  o->sigma = 0.2;
  o->dr = 0.02;
  o->ncut = 4;
  /* cut[0..3] = 0: the first four troughs of the total g(r) (the paper's
   * 3.9, 6.4, 8.8, 11.2 A for its glass). */
  o->partial = 1;
}

void eng_s2_free(eng_s2 *s) {
  if (!s) return;
  free(s->s2);
  free(s);
}

static int check_opts(const eng_s2_opts *o, double *cmax) {
  if (!(o->sigma > 0.0) || !(o->dr > 0.0) || !isfinite(o->sigma) || !isfinite(o->dr))
    return eng_set_error(ENG_EINVAL, "s2.c:%d: S2 needs sigma > 0 and dr > 0 (got %g, %g)", __LINE__,
                         o->sigma, o->dr);
  if (o->ncut < 1 || o->ncut > ENG_S2_MAXCUT)
    return eng_set_error(ENG_EINVAL, "s2.c:%d: S2 needs 1..%d cutoffs (got %d)", __LINE__, ENG_S2_MAXCUT,
                         o->ncut);
  *cmax = 0.0;
  for (int c = 0; c < o->ncut; c++) {
    if (!(o->cut[c] > 0.0) || !isfinite(o->cut[c]))
      return eng_set_error(ENG_EINVAL, "s2.c:%d: S2 cutoff %d must be > 0, or 0 for a trough of g(r) (got %g)",
                           __LINE__, c, o->cut[c]);
    if (o->cut[c] > *cmax) *cmax = o->cut[c];
  }
  if (*cmax / o->dr > 1e6)
    return eng_set_error(ENG_EINVAL, "s2.c:%d: S2 grid too fine (%g / %g > 1e6 points)", __LINE__, *cmax, o->dr);
  return ENG_OK;
}

/* Add the kernels of atom i's neighbours to acc[g*npt + k] (g = the
 * neighbour's type, or 0 when by_type is 0) on r_k = k*dr, k < npt. */
static void accumulate(const eng_system *sys, const eng_nlist *nl, int i, int by_type, double sigma,
                       double dr, int npt, double *acc) {
  const double pref = 1.0 / (sqrt(2.0 * M_PI) * sigma);
  const double inv2s2 = 1.0 / (2.0 * sigma * sigma);
  for (long p = nl->start[i]; p < nl->start[i + 1]; p++) {
    const double *d = &nl->d[3 * p];
    double rij = sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
    int g = by_type ? sys->type[nl->nbr[p]] : 0;
    double *a = acc + (size_t)g * npt;
    int k0 = (int)ceil((rij - S2_KCUT * sigma) / dr);
    int k1 = (int)floor((rij + S2_KCUT * sigma) / dr);
    if (k0 < 0) k0 = 0;
    if (k1 > npt - 1) k1 = npt - 1;
    for (int k = k0; k <= k1; k++) {
      double u = k * dr - rij;
      a[k] += pref * exp(-u * u * inv2s2);
    }
  }
}

/* Integrand r^2 [g ln g - g + 1] from kernel sums a at r_k with density
 * rho; the r = 0 point is 0 (r^2 -> 0 with g finite). */
static double integrand(double a, double r, double rho) {
  if (r <= 0.0) return 0.0;
  double g = a / (4.0 * M_PI * rho * r * r);
  if (g < S2_GMIN) return r * r;
  return r * r * (g * log(g) - g + 1.0);
}

/* Replace every cut[c] == 0 by the (c+1)-th trough of the total g(r)
 * (eng_rdf_compute defaults, rmax S2_TROUGH_RMAX). */
#define S2_TROUGH_RMAX 14.0
static int resolve_cutoffs(const eng_system *sys, eng_s2_opts *o) {
  eng_rdf_opts ro;
  eng_rdf *g = NULL;
  int need = 0, rc;
  for (int c = 0; c < o->ncut && c < ENG_S2_MAXCUT; c++)
    if (o->cut[c] == 0.0) need = c + 1;
  if (!need) return ENG_OK;
  eng_rdf_opts_default(&ro);
  ro.rmax = S2_TROUGH_RMAX;
  rc = eng_rdf_compute(sys, &ro, &g);
  if (rc) return rc;
  if (g->ntroughs[0] < need) {
    rc = eng_set_error(ENG_ENOTFOUND,
                       "s2.c:%d: cutoff %d was to be trough %d of g(r), but g(r) has %d troughs below %g A; "
                       "give the cutoffs explicitly",
                       __LINE__, need - 1, need, g->ntroughs[0], S2_TROUGH_RMAX);
  } else {
    for (int c = 0; c < o->ncut; c++)
      if (o->cut[c] == 0.0) o->cut[c] = g->troughs[c];
  }
  eng_rdf_free(g);
  return rc;
}

int eng_s2_compute(const eng_system *sys, const eng_s2_opts *o_in, eng_s2 **out) {
  eng_s2_opts o;
  eng_s2 *s = NULL;
  eng_nlist *nl = NULL;
  double *acc = NULL, *rho = NULL, *f = NULL, cmax = 0.0;
  int *count = NULL, rc, ng, npt;

  *out = NULL;
  if (o_in)
    o = *o_in;
  else
    eng_s2_opts_default(&o);
  if (!sys || sys->natoms < 1 || sys->ntypes < 1)
    return eng_set_error(ENG_EINVAL, "s2.c:%d: S2 needs at least one atom", __LINE__);
  if (o.ncut >= 1 && o.ncut <= ENG_S2_MAXCUT) {
    for (int c = 0; c < o.ncut; c++)
      if (!(o.cut[c] >= 0.0) || !isfinite(o.cut[c]))
        return eng_set_error(ENG_EINVAL, "s2.c:%d: S2 cutoff %d must be > 0, or 0 for a trough of g(r) (got %g)",
                             __LINE__, c, o.cut[c]);
    rc = resolve_cutoffs(sys, &o);
    if (rc) return rc;
  }
  rc = check_opts(&o, &cmax);
  if (rc) return rc;
  for (int i = 0; i < sys->natoms; i++)
    if (sys->type[i] < 0 || sys->type[i] >= sys->ntypes)
      return eng_set_error(ENG_EINVAL, "s2.c:%d: atom %d has type %d outside 0..%d", __LINE__, i,
                           sys->type[i], sys->ntypes - 1);
  ng = o.partial ? sys->ntypes : 1;
  npt = (int)floor(cmax / o.dr) + 2; /* covers [0, cmax] plus one point */

  s = eng__calloc(1, sizeof *s);
  count = eng__calloc((size_t)sys->ntypes, sizeof *count);
  rho = eng__calloc((size_t)ng, sizeof *rho);
  acc = eng__malloc((size_t)ng * npt, sizeof *acc);
  f = eng__malloc((size_t)npt, sizeof *f);
  if (!s || !count || !rho || !acc || !f) {
    rc = ENG_ENOMEM;
    goto out;
  }
  s->natoms = sys->natoms;
  s->opts = o;
  s->s2 = eng__calloc((size_t)o.ncut * sys->natoms, sizeof *s->s2);
  if (!s->s2) {
    rc = ENG_ENOMEM;
    goto out;
  }
  {
    double vol = eng_box_volume(&sys->box);
    eng_system_type_counts(sys, count);
    if (o.partial)
      for (int t = 0; t < ng; t++) rho[t] = count[t] / vol;
    else
      rho[0] = sys->natoms / vol;
  }
  rc = check_pairs(sys, (npt - 1) * o.dr + S2_KCUT * o.sigma, __LINE__);
  if (rc) goto out;
  rc = eng_nlist_build(sys, (npt - 1) * o.dr + S2_KCUT * o.sigma, &nl);
  if (rc) goto out;

  for (int i = 0; i < sys->natoms; i++) {
    memset(acc, 0, (size_t)ng * npt * sizeof *acc);
    accumulate(sys, nl, i, o.partial, o.sigma, o.dr, npt, acc);
    for (int t = 0; t < ng; t++) {
      if (rho[t] <= 0.0) continue; /* absent species: no term */
      for (int k = 0; k < npt; k++) f[k] = integrand(acc[(size_t)t * npt + k], k * o.dr, rho[t]);
      for (int c = 0; c < o.ncut; c++) {
        /* Trapezoid on whole steps up to K, then the partial step to rc
         * with the integrand interpolated linearly. */
        int kc = (int)floor(o.cut[c] / o.dr);
        double sum = 0.0, frac;
        assert(kc + 1 < npt);
        for (int k = 0; k < kc; k++) sum += 0.5 * (f[k] + f[k + 1]) * o.dr;
        frac = o.cut[c] - kc * o.dr;
        if (frac > 0.0) {
          double fc = f[kc] + (f[kc + 1] - f[kc]) * frac / o.dr;
          sum += 0.5 * (f[kc] + fc) * frac;
        }
        s->s2[(size_t)c * sys->natoms + i] += -2.0 * M_PI * rho[t] * sum;
      }
    }
  }
  *out = s;
  s = NULL;
  rc = ENG_OK;
out:
  eng_s2_free(s);
  eng_nlist_free(nl);
  free(count);
  free(rho);
  free(acc);
  free(f);
  return rc;
}

/* Kernel sums of atom i on r_k = k*dr (k < n) by a direct loop over all
 * atoms and their periodic images (no neighbour list: O(N) per call). */
static void accumulate_direct(const eng_system *sys, int i, int nu, double sigma, double dr, int n,
                              double *acc) {
  const eng_box *b = &sys->box;
  const double pref = 1.0 / (sqrt(2.0 * M_PI) * sigma);
  const double inv2s2 = 1.0 / (2.0 * sigma * sigma);
  const double range = (n - 1) * dr + S2_KCUT * sigma;
  double w[3];
  int m[3];
  eng_box_widths(b, w);
  for (int k = 0; k < 3; k++) m[k] = b->periodic[k] ? (int)ceil(range / w[k]) + 1 : 0;
  for (int j = 0; j < sys->natoms; j++) {
    double d0[3];
    if (nu >= 0 && sys->type[j] != nu) continue;
    for (int k = 0; k < 3; k++) d0[k] = sys->x[3 * j + k] - sys->x[3 * i + k];
    eng_box_minimum_image(b, d0);
    for (int c = -m[2]; c <= m[2]; c++)
      for (int bb = -m[1]; bb <= m[1]; bb++)
        for (int a = -m[0]; a <= m[0]; a++) {
          double d[3] = {d0[0] + a * b->len[0] + bb * b->xy + c * b->xz, d0[1] + bb * b->len[1] + c * b->yz,
                         d0[2] + c * b->len[2]};
          double rij = sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
          if (rij >= range || (j == i && a == 0 && bb == 0 && c == 0)) continue;
          int k0 = (int)ceil((rij - S2_KCUT * sigma) / dr);
          int k1 = (int)floor((rij + S2_KCUT * sigma) / dr);
          if (k0 < 0) k0 = 0;
          if (k1 > n - 1) k1 = n - 1;
          for (int k = k0; k <= k1; k++) {
            double u = k * dr - rij;
            acc[k] += pref * exp(-u * u * inv2s2);
          }
        }
  }
}

int eng_s2_local_g(const eng_system *sys, const eng_s2_opts *o_in, int i, int nu, int n, double *g) {
  eng_s2_opts o;
  double *acc = NULL, rho, dummy;
  int rc;
  int *count = NULL;

  if (o_in)
    o = *o_in;
  else
    eng_s2_opts_default(&o);
  o.ncut = 1;
  o.cut[0] = 1.0;
  rc = check_opts(&o, &dummy);
  if (rc) return rc;
  if (!sys || i < 0 || i >= sys->natoms || nu < -1 || nu >= sys->ntypes || n < 1 || n > 1000000 || !g)
    return eng_set_error(ENG_EINVAL, "s2.c:%d: local g needs a valid atom, species (-1 = all) and 1 <= n <= 1e6",
                         __LINE__);
  rc = check_pairs(sys, (n - 1) * o.dr + S2_KCUT * o.sigma, __LINE__);
  if (rc) return rc;
  count = eng__calloc((size_t)sys->ntypes, sizeof *count);
  acc = eng__calloc((size_t)n, sizeof *acc);
  if (!count || !acc) {
    rc = ENG_ENOMEM;
    goto out;
  }
  accumulate_direct(sys, i, nu, o.sigma, o.dr, n, acc);
  eng_system_type_counts(sys, count);
  rho = (nu < 0 ? sys->natoms : count[nu]) / eng_box_volume(&sys->box);
  for (int k = 0; k < n; k++) {
    double r = k * o.dr;
    g[k] = r > 0.0 && rho > 0.0 ? acc[k] / (4.0 * M_PI * rho * r * r) : 0.0;
  }
  rc = ENG_OK;
out:
  free(count);
  free(acc);
  return rc;
}
