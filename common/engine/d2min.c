/*
 * d2min.c -- Falk-Langer non-affine squared displacement D2min (Wei et al.
 * 2019, Eq. 5) of every atom between a reference and a current
 * configuration.  Neighbours come from the reference (eng_nlist_build);
 * each pair is followed into the current configuration through fractional
 * coordinates, so the boxes may differ (homogeneous deformation) and atoms
 * may have been wrapped differently.  See engine.h and docs/descriptors.md.
 */
#include "internal.h"

#include <math.h>
#include <string.h>

void eng_d2min_free(eng_d2min *d) {
  if (!d) return;
  free(d->d2min);
  free(d->nneigh);
  free(d->valid);
  free(d);
}

/* Refuse neighbour lists that would not fit: estimated pairs
 * N * (N/V) * 4/3 pi r^3 above 1e8 (about 3 GB of list). */
static int check_pairs(const eng_system *sys, double r, int line) {
  double est = (double)sys->natoms * sys->natoms / eng_box_volume(&sys->box) * 4.0 / 3.0 * M_PI * r * r * r;
  if (!(est <= 1e8))
    return eng_set_error(ENG_ERANGE, "%s:%d: range %g A would need about %.3g neighbour pairs (limit 1e8)", "d2min.c",
                         line, r, est);
  return ENG_OK;
}

/* Fractional components of a Cartesian vector (no origin shift). */
static void frac_vec(const eng_box *b, const double v[3], double s[3]) {
  s[2] = v[2] / b->len[2];
  s[1] = (v[1] - s[2] * b->yz) / b->len[1];
  s[0] = (v[0] - s[1] * b->xy - s[2] * b->xz) / b->len[0];
}

static void cart_vec(const eng_box *b, const double s[3], double v[3]) {
  v[0] = s[0] * b->len[0] + s[1] * b->xy + s[2] * b->xz;
  v[1] = s[1] * b->len[1] + s[2] * b->yz;
  v[2] = s[2] * b->len[2];
}

/* Inverse of a symmetric positive semi-definite 3x3 matrix; 0 if it is
 * (numerically) singular. */
static int inv3(const double y[3][3], double inv[3][3]) {
  double c00 = y[1][1] * y[2][2] - y[1][2] * y[2][1];
  double c01 = y[1][2] * y[2][0] - y[1][0] * y[2][2];
  double c02 = y[1][0] * y[2][1] - y[1][1] * y[2][0];
  double det = y[0][0] * c00 + y[0][1] * c01 + y[0][2] * c02;
  double tr = (y[0][0] + y[1][1] + y[2][2]) / 3.0;
  if (!(tr > 0.0) || !(det > 1e-10 * tr * tr * tr)) return 0;
  inv[0][0] = c00 / det;
  inv[1][0] = c01 / det;
  inv[2][0] = c02 / det;
  inv[0][1] = (y[0][2] * y[2][1] - y[0][1] * y[2][2]) / det;
  inv[1][1] = (y[0][0] * y[2][2] - y[0][2] * y[2][0]) / det;
  inv[2][1] = (y[0][1] * y[2][0] - y[0][0] * y[2][1]) / det;
  inv[0][2] = (y[0][1] * y[1][2] - y[0][2] * y[1][1]) / det;
  inv[1][2] = (y[0][2] * y[1][0] - y[0][0] * y[1][2]) / det;
  inv[2][2] = (y[0][0] * y[1][1] - y[0][1] * y[1][0]) / det;
  return 1;
}

int eng_d2min_compute(const eng_system *ref, const eng_system *cur, double rcut, int normalise,
                      eng_d2min **out) {
  eng_d2min *d = NULL;
  eng_nlist *nl = NULL;
  double *sr = NULL, *sc = NULL;
  int rc, n;

  *out = NULL;
  if (!ref || !cur || ref->natoms < 1 || ref->natoms != cur->natoms)
    return eng_set_error(ENG_EINVAL, "d2min.c:%d: D2min needs two configurations of the same atoms (%d vs %d)",
                         __LINE__, ref ? ref->natoms : -1, cur ? cur->natoms : -1);
  if (!(rcut > 0.0) || !isfinite(rcut))
    return eng_set_error(ENG_EINVAL, "d2min.c:%d: D2min cutoff must be > 0 (got %g)", __LINE__, rcut);
  n = ref->natoms;
  for (int i = 0; i < n; i++)
    if (ref->id[i] != cur->id[i])
      return eng_set_error(ENG_EINVAL, "d2min.c:%d: atom %d has id %lld in the reference but %lld now", __LINE__, i,
                           (long long)ref->id[i], (long long)cur->id[i]);
  for (int k = 0; k < 3; k++)
    if (ref->box.periodic[k] != cur->box.periodic[k])
      return eng_set_error(ENG_EINVAL, "d2min.c:%d: reference and current boxes differ in periodicity", __LINE__);
  for (int i = 0; i < 3 * n; i++)
    if (!isfinite(cur->x[i]) || !isfinite(ref->x[i]))
      return eng_set_error(ENG_ERANGE, "d2min.c:%d: atom %d has a non-finite coordinate", __LINE__, i / 3);

  d = eng__calloc(1, sizeof *d);
  sr = eng__malloc((size_t)n * 3, sizeof *sr);
  sc = eng__malloc((size_t)n * 3, sizeof *sc);
  if (!d || !sr || !sc) {
    rc = ENG_ENOMEM;
    goto out;
  }
  d->natoms = n;
  d->rcut = rcut;
  d->normalise = normalise ? 1 : 0;
  d->d2min = eng__calloc((size_t)n, sizeof *d->d2min);
  d->nneigh = eng__calloc((size_t)n, sizeof *d->nneigh);
  d->valid = eng__calloc((size_t)n, sizeof *d->valid);
  if (!d->d2min || !d->nneigh || !d->valid) {
    rc = ENG_ENOMEM;
    goto out;
  }
  /* Fractional positions; the current ones moved to the periodic image
   * nearest the reference (atoms move less than half a cell). */
  for (int i = 0; i < n; i++) {
    eng_box_to_frac(&ref->box, &ref->x[3 * i], &sr[3 * i]);
    eng_box_to_frac(&cur->box, &cur->x[3 * i], &sc[3 * i]);
    for (int k = 0; k < 3; k++)
      if (cur->box.periodic[k]) sc[3 * i + k] -= nearbyint(sc[3 * i + k] - sr[3 * i + k]);
  }
  rc = check_pairs(ref, rcut, __LINE__);
  if (rc) goto out;
  rc = eng_nlist_build(ref, rcut, &nl);
  if (rc) goto out;

  for (int i = 0; i < n; i++) {
    double x[3][3] = {{0}}, y[3][3] = {{0}}, yi[3][3], j[3][3], sum = 0.0;
    long p0 = nl->start[i], p1 = nl->start[i + 1];
    d->nneigh[i] = (int)(p1 - p0);
    /* Pass 1: X = sum d (x) d0, Y = sum d0 (x) d0. */
    for (int pass = 0; pass < 2; pass++) {
      for (long p = p0; p < p1; p++) {
        int jj = nl->nbr[p];
        const double *d0 = &nl->d[3 * p];
        double f0[3], fs[3], dc[3];
        frac_vec(&ref->box, d0, f0);
        for (int k = 0; k < 3; k++) {
          double nimg = nearbyint(f0[k] - (sr[3 * jj + k] - sr[3 * i + k]));
          fs[k] = sc[3 * jj + k] - sc[3 * i + k] + nimg;
        }
        cart_vec(&cur->box, fs, dc);
        if (pass == 0) {
          for (int a = 0; a < 3; a++)
            for (int b = 0; b < 3; b++) {
              x[a][b] += dc[a] * d0[b];
              y[a][b] += d0[a] * d0[b];
            }
        } else {
          for (int a = 0; a < 3; a++) {
            double r = dc[a] - (j[a][0] * d0[0] + j[a][1] * d0[1] + j[a][2] * d0[2]);
            sum += r * r;
          }
        }
      }
      if (pass == 0) {
        if (!inv3((const double(*)[3])y, yi)) break;
        for (int a = 0; a < 3; a++)
          for (int b = 0; b < 3; b++) j[a][b] = x[a][0] * yi[0][b] + x[a][1] * yi[1][b] + x[a][2] * yi[2][b];
        d->valid[i] = 1;
      }
    }
    if (d->valid[i]) d->d2min[i] = normalise ? sum / d->nneigh[i] : sum;
  }
  *out = d;
  d = NULL;
  rc = ENG_OK;
out:
  eng_d2min_free(d);
  eng_nlist_free(nl);
  free(sr);
  free(sc);
  return rc;
}
