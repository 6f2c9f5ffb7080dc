/*
 * test_d2min.c -- Falk-Langer D2min:
 *  - zero for a homogeneous (affine) deformation of a triclinic sample,
 *    with the current positions re-wrapped into the deformed box, and for a
 *    rigid translation;
 *  - one moved atom: its value equals the closed form
 *    |delta|^2 (N_c - s^T Y^-1 s) / N_c (s = sum of its reference bond
 *    vectors), only it and its neighbours are non-zero, normalise = 0
 *    multiplies by N_c;
 *  - too few neighbours flagged invalid; mismatched inputs rejected.
 */
#include "engine.h"
#include "../tap.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Apply the upper-triangular deformation F (which keeps LAMMPS' restricted
 * triclinic form) to the box and positions of s, then wrap. */
static void deform(eng_system *s, const double F[3][3]) {
  eng_box *b = &s->box;
  double a[3] = {b->len[0], 0, 0}, bb[3] = {b->xy, b->len[1], 0}, c[3] = {b->xz, b->yz, b->len[2]};
  double na[3], nb[3], nc[3];
  for (int r = 0; r < 3; r++) {
    na[r] = F[r][0] * a[0] + F[r][1] * a[1] + F[r][2] * a[2];
    nb[r] = F[r][0] * bb[0] + F[r][1] * bb[1] + F[r][2] * bb[2];
    nc[r] = F[r][0] * c[0] + F[r][1] * c[1] + F[r][2] * c[2];
  }
  for (int i = 0; i < s->natoms; i++) {
    double d[3], x[3];
    for (int k = 0; k < 3; k++) d[k] = s->x[3 * i + k] - b->lo[k];
    for (int r = 0; r < 3; r++) x[r] = F[r][0] * d[0] + F[r][1] * d[1] + F[r][2] * d[2];
    for (int k = 0; k < 3; k++) s->x[3 * i + k] = b->lo[k] + x[k];
  }
  b->len[0] = na[0];
  b->len[1] = nb[1];
  b->len[2] = nc[2];
  b->xy = nb[0];
  b->xz = nc[0];
  b->yz = nc[1];
  for (int i = 0; i < s->natoms; i++) eng_box_wrap(b, s->x + 3 * i, NULL);
}

int main(void) {
  eng_system *ref = tu_random_sample(500, 0.0556, 0.15, -0.1, 0.05, "Cu", "Zr", 0.5, 2.0, 51);
  eng_system *cur = NULL;
  eng_d2min *d = NULL, *d0 = NULL;
  const double rc = 4.0;
  int r;

  if (!ref) bail("random sample");
  /* Affine: shear + tension + compression, then re-wrap. */
  cur = eng_system_copy(ref);
  {
    const double F[3][3] = {{1.02, 0.07, -0.03}, {0.0, 0.97, 0.05}, {0.0, 0.0, 1.04}};
    double mx = 0.0;
    deform(cur, F);
    r = eng_d2min_compute(ref, cur, rc, 1, &d);
    ok(r == ENG_OK, "D2min after an affine deformation %s", r ? eng_last_error() : "");
    for (int i = 0; r == ENG_OK && i < ref->natoms; i++) mx = fmax(mx, d->d2min[i]);
    ok(r == ENG_OK && mx < 1e-20, "D2min = 0 for every atom under an affine deformation (max %.2g A^2)", mx);
    eng_d2min_free(d);
    d = NULL;
  }
  eng_system_free(cur);
  /* Rigid translation across the boundary. */
  cur = eng_system_copy(ref);
  {
    double mx = 0.0;
    for (int i = 0; i < cur->natoms; i++) {
      cur->x[3 * i] += 7.3;
      cur->x[3 * i + 1] -= 3.1;
      cur->x[3 * i + 2] += 11.0;
      eng_box_wrap(&cur->box, cur->x + 3 * i, NULL);
    }
    r = eng_d2min_compute(ref, cur, rc, 1, &d);
    for (int i = 0; r == ENG_OK && i < ref->natoms; i++) mx = fmax(mx, d->d2min[i]);
    ok(r == ENG_OK && mx < 1e-20, "D2min = 0 after a rigid translation with re-wrapping (max %.2g)", mx);
    eng_d2min_free(d);
    d = NULL;
  }
  eng_system_free(cur);
  /* One moved atom. */
  cur = eng_system_copy(ref);
  {
    const int k = 123;
    const double delta[3] = {0.3, -0.2, 0.1};
    eng_nlist *nl = NULL;
    int outside = 0, nbr_pos = 0;
    double y[3][3] = {{0}}, s[3] = {0}, inv[3][3], det, q = 0.0, d2;
    for (int a = 0; a < 3; a++) cur->x[3 * k + a] += delta[a];
    r = eng_d2min_compute(ref, cur, rc, 1, &d);
    if (r == ENG_OK) r = eng_d2min_compute(ref, cur, rc, 0, &d0);
    ok(r == ENG_OK, "D2min with one moved atom %s", r ? eng_last_error() : "");
    if (r) goto out;
    eng_nlist_build(ref, rc, &nl);
    for (long p = nl->start[k]; p < nl->start[k + 1]; p++)
      for (int a = 0; a < 3; a++) {
        s[a] += nl->d[3 * p + a];
        for (int b = 0; b < 3; b++) y[a][b] += nl->d[3 * p + a] * nl->d[3 * p + b];
      }
    det = y[0][0] * (y[1][1] * y[2][2] - y[1][2] * y[2][1]) - y[0][1] * (y[1][0] * y[2][2] - y[1][2] * y[2][0]) +
          y[0][2] * (y[1][0] * y[2][1] - y[1][1] * y[2][0]);
    inv[0][0] = (y[1][1] * y[2][2] - y[1][2] * y[2][1]) / det;
    inv[0][1] = (y[0][2] * y[2][1] - y[0][1] * y[2][2]) / det;
    inv[0][2] = (y[0][1] * y[1][2] - y[0][2] * y[1][1]) / det;
    inv[1][0] = (y[1][2] * y[2][0] - y[1][0] * y[2][2]) / det;
    inv[1][1] = (y[0][0] * y[2][2] - y[0][2] * y[2][0]) / det;
    inv[1][2] = (y[0][2] * y[1][0] - y[0][0] * y[1][2]) / det;
    inv[2][0] = (y[1][0] * y[2][1] - y[1][1] * y[2][0]) / det;
    inv[2][1] = (y[0][1] * y[2][0] - y[0][0] * y[2][1]) / det;
    inv[2][2] = (y[0][0] * y[1][1] - y[0][1] * y[1][0]) / det;
    for (int a = 0; a < 3; a++)
      for (int b = 0; b < 3; b++) q += s[a] * inv[a][b] * s[b];
    {
      int nc = (int)(nl->start[k + 1] - nl->start[k]);
      d2 = (delta[0] * delta[0] + delta[1] * delta[1] + delta[2] * delta[2]) * (nc - q) / nc;
      ok(d->nneigh[k] == nc && d->valid[k], "moved atom has %d neighbours within %.1f A", nc, rc);
      near(d->d2min[k], d2, 1e-12 * d2, "moved atom: D2min = |delta|^2 (N_c - s^T Y^-1 s)/N_c = %.6f A^2", d2);
      near(d0->d2min[k], d2 * nc, 1e-12 * d2 * nc, "normalise = 0 gives N_c times that");
    }
    for (int i = 0; i < ref->natoms; i++) {
      int is_nbr = 0;
      if (i == k) continue;
      for (long p = nl->start[k]; p < nl->start[k + 1]; p++)
        if (nl->nbr[p] == i) is_nbr = 1;
      if (is_nbr && d->d2min[i] > 1e-6) nbr_pos++;
      if (!is_nbr && d->d2min[i] > 1e-20) outside++;
    }
    ok(nbr_pos > 0, "neighbours of the moved atom have D2min > 0 (%d)", nbr_pos);
    {
      eng_d2min *again = NULL;
      r = eng_d2min_compute(ref, cur, rc, 1, &again);
      ok(r == ENG_OK && memcmp(again->d2min, d->d2min, sizeof(double) * ref->natoms) == 0, "rerun is bit-identical");
      eng_d2min_free(again);
    }
    ok(outside == 0, "atoms not bonded to the moved atom have D2min = 0 (%d are not)", outside);
    eng_nlist_free(nl);
  }
  eng_d2min_free(d);
  eng_d2min_free(d0);
  d = d0 = NULL;
  /* Tiny cutoff: no neighbours, invalid. */
  r = eng_d2min_compute(ref, cur, 1.0, 1, &d);
  ok(r == ENG_OK && d->valid[0] == 0 && d->d2min[0] == 0.0 && d->nneigh[0] == 0,
     "an atom without neighbours is flagged invalid");
  eng_d2min_free(d);
  d = NULL;
  /* Mismatches. */
  cur->id[5] = 9999;
  r = eng_d2min_compute(ref, cur, rc, 1, &d);
  ok(r == ENG_EINVAL && !d, "different atom ids rejected: %s", eng_last_error());
  cur->id[5] = ref->id[5];
  r = eng_d2min_compute(ref, cur, -1.0, 1, &d);
  ok(r == ENG_EINVAL && !d, "negative cutoff rejected: %s", eng_last_error());
  r = eng_d2min_compute(ref, cur, 1e4, 1, &d);
  ok(r == ENG_ERANGE && !d, "cutoff needing too many pairs rejected: %s", eng_last_error());
out:
  eng_d2min_free(d);
  eng_d2min_free(d0);
  eng_system_free(cur);
  eng_system_free(ref);
  return tap_done();
}
