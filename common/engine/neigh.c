/*
 * neigh.c -- periodic images ("ghost" atoms), cell binning and neighbour
 * lists.
 *
 * Owned atoms are wrapped into the cell; every periodic image of an owned
 * atom that lies within the interaction range (cutoff + skin) of the cell is
 * added as a ghost atom that remembers its owner and its integer image
 * shift.  Because ghosts are generated in fractional coordinates, triclinic
 * cells and cells narrower than twice the range (several images of the same
 * atom) need no special case.  Pairs are found by sorting owned and ghost
 * atoms into Cartesian bins of about half the range (contiguous
 * coordinates per bin) and scanning the bins that come within range of an
 * atom's bin; the rows of the list are built in eng_get_threads() chunks
 * of atoms, each in a fixed order, so the list does not depend on the
 * thread count.
 *
 * Half lists keep each physical pair once: the pair (i, ghost of k shifted
 * by n) is kept when (k, n) > (i, 0) in lexicographic order, which keeps
 * exactly one of it and its mirror (k, ghost of i shifted by -n).
 */
#include "internal.h"
#include "neigh.h"

#include <assert.h>
#include <math.h>
#include <string.h>

void eng__ghosts_free(eng__ghosts *g) {
  free(g->owner);
  free(g->shift);
  free(g->x);
  free(g->wimg);
  free(g->order);
  free(g->rank);
  memset(g, 0, sizeof *g);
}

static int ghosts_reserve(eng__ghosts *g, int n) {
  void *p;
  if (n <= g->cap) return ENG_OK;
  int cap = g->cap ? g->cap : 1024;
  while (cap < n) cap = cap > (1 << 29) ? n : cap * 2;
  p = eng__realloc(g->owner, (size_t)cap, sizeof *g->owner);
  if (!p) return ENG_ENOMEM;
  g->owner = p;
  p = eng__realloc(g->shift, (size_t)cap * 3, sizeof *g->shift);
  if (!p) return ENG_ENOMEM;
  g->shift = p;
  p = eng__realloc(g->x, (size_t)cap * 3, sizeof *g->x);
  if (!p) return ENG_ENOMEM;
  g->x = p;
  g->cap = cap;
  return ENG_OK;
}

int eng__ghosts_build(const eng_box *box, const double *x, int nlocal,
                      double range, int sort, eng__ghosts *g) {
  double w[3], rf[3];
  int nmax[3], rc;
  void *p;

  g->nlocal = nlocal;
  g->box = *box;
  p = eng__realloc(g->wimg, (size_t)nlocal * 3 + 1, sizeof *g->wimg);
  if (!p) return ENG_ENOMEM;
  g->wimg = p;
  p = eng__realloc(g->order, (size_t)nlocal + 1, sizeof *g->order);
  if (!p) return ENG_ENOMEM;
  g->order = p;
  p = eng__realloc(g->rank, (size_t)nlocal + 1, sizeof *g->rank);
  if (!p) return ENG_ENOMEM;
  g->rank = p;
  rc = ghosts_reserve(g, nlocal + 16);
  if (rc) return rc;

  eng_box_widths(box, w);
  for (int k = 0; k < 3; k++) {
    rf[k] = box->periodic[k] ? range / w[k] : 0.0;
    nmax[k] = box->periodic[k] ? (int)ceil(rf[k]) + 1 : 0;
  }

  /* Wrap images of every atom (temporarily in shift[0..3n)) and its cell
   * for the spatial sort (temporarily in owner[0..n)). */
  int nc[3] = {1, 1, 1};
  if (sort)
    for (int k = 0; k < 3; k++) {
      nc[k] = (int)(w[k] / 4.0);
      if (nc[k] < 1) nc[k] = 1;
      if (nc[k] > 64) nc[k] = 64;
    }
  for (int i = 0; i < nlocal; i++) {
    double s[3];
    int cell = 0;
    eng_box_to_frac(box, &x[3 * i], s);
    for (int k = 2; k >= 0; k--) {
      if (!isfinite(s[k]))
        return eng_set_error(ENG_ERANGE, "atom %d has a non-finite coordinate", i);
      double f = box->periodic[k] ? floor(s[k]) : 0.0;
      if (fabs(f) > 1e9)
        return eng_set_error(ENG_ERANGE, "atom %d is %.3g cells away from the box", i, f);
      g->shift[3 * i + k] = -(int)f;
      int ck = (int)((s[k] - f) * nc[k]);
      if (ck < 0) ck = 0;
      if (ck >= nc[k]) ck = nc[k] - 1;
      cell = cell * nc[k] + ck;
    }
    g->owner[i] = cell;
  }
  /* Counting sort of atoms by cell (stable: identity when not sorting). */
  {
    int ncell = nc[0] * nc[1] * nc[2];
    int *cnt = eng__calloc((size_t)ncell + 1, sizeof *cnt);
    if (!cnt) return ENG_ENOMEM;
    for (int i = 0; i < nlocal; i++) cnt[g->owner[i] + 1]++;
    for (int c = 0; c < ncell; c++) cnt[c + 1] += cnt[c];
    for (int i = 0; i < nlocal; i++) {
      int k = cnt[g->owner[i]]++;
      g->order[k] = i;
      g->rank[i] = k;
    }
    free(cnt);
  }
  for (int k = 0; k < nlocal; k++) {
    int i = g->order[k];
    for (int d = 0; d < 3; d++) g->wimg[3 * k + d] = g->shift[3 * i + d];
  }
  for (int k = 0; k < nlocal; k++) {
    g->owner[k] = k;
    for (int d = 0; d < 3; d++) g->shift[3 * k + d] = 0;
  }
  g->nall = nlocal;
  eng__ghosts_update(g, box, x);

  /* Images within range of the cell. */
  int n = nlocal;
  for (int i = 0; i < nlocal; i++) {
    double s[3];
    eng_box_to_frac(box, &g->x[3 * i], s);
    for (int a = -nmax[0]; a <= nmax[0]; a++) {
      double sa = s[0] + a;
      if (sa < -rf[0] || sa >= 1.0 + rf[0]) continue;
      for (int b = -nmax[1]; b <= nmax[1]; b++) {
        double sb = s[1] + b;
        if (sb < -rf[1] || sb >= 1.0 + rf[1]) continue;
        for (int c = -nmax[2]; c <= nmax[2]; c++) {
          double sc = s[2] + c;
          if (a == 0 && b == 0 && c == 0) continue;
          if (sc < -rf[2] || sc >= 1.0 + rf[2]) continue;
          if (n >= g->cap) {
            rc = ghosts_reserve(g, n + 1);
            if (rc) return rc;
          }
          g->owner[n] = i;
          g->shift[3 * n] = a;
          g->shift[3 * n + 1] = b;
          g->shift[3 * n + 2] = c;
          n++;
        }
      }
    }
  }
  g->nall = n;
  eng__ghosts_update(g, box, x);
  return ENG_OK;
}

void eng__ghosts_update(eng__ghosts *g, const eng_box *box, const double *x) {
  const double ax = box->len[0];
  const double bx = box->xy, by = box->len[1];
  const double cx = box->xz, cy = box->yz, cz = box->len[2];
  const int T = eng_get_threads();
  (void)T;
#pragma omp parallel num_threads(T) if (T > 1 && g->nall > 4096)
  {
#pragma omp for schedule(static)
  for (int k = 0; k < g->nlocal; k++) {
    const int *w = &g->wimg[3 * k];
    const double *xi = &x[3 * g->order[k]];
    g->x[3 * k] = xi[0] + w[0] * ax + w[1] * bx + w[2] * cx;
    g->x[3 * k + 1] = xi[1] + w[1] * by + w[2] * cy;
    g->x[3 * k + 2] = xi[2] + w[2] * cz;
  }
#pragma omp for schedule(static)
  for (int j = g->nlocal; j < g->nall; j++) {
    const int o = g->owner[j];
    const int *s = &g->shift[3 * j];
    g->x[3 * j] = g->x[3 * o] + s[0] * ax + s[1] * bx + s[2] * cx;
    g->x[3 * j + 1] = g->x[3 * o + 1] + s[1] * by + s[2] * cy;
    g->x[3 * j + 2] = g->x[3 * o + 2] + s[2] * cz;
  }
  }
}

/* The nall extended atoms sorted into Cartesian bins of side >= range/2:
 * bin c holds sorted positions [cstart[c], cstart[c+1]); idx maps a sorted
 * position to its extended atom, xs holds its coordinates, own its owner
 * and sgn the sign of its image shift in lexicographic order (-1, 0, 1),
 * so that the pair loop reads contiguous memory.  The stencil lists the
 * bin offsets whose nearest points are closer than range. */
typedef struct bins {
  int n[3];
  double lo[3], inv[3];
  int *cstart, *idx, *own;
  signed char *sgn;
  double *xs;
  int nst;
  int (*st)[3];
} bins;

static void bins_free(bins *b) {
  free(b->cstart);
  free(b->idx);
  free(b->own);
  free(b->sgn);
  free(b->xs);
  free(b->st);
}

static inline int bin_index(const bins *b, const double *x, int c[3]) {
  for (int k = 0; k < 3; k++) {
    c[k] = (int)((x[k] - b->lo[k]) * b->inv[k]);
    if (c[k] >= b->n[k]) c[k] = b->n[k] - 1;
    if (c[k] < 0) c[k] = 0;
  }
  return (c[2] * b->n[1] + c[1]) * b->n[0] + c[0];
}

static int bins_build(const eng__ghosts *g, double range, bins *b) {
  double lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY};
  double side[3];
  long ncell = 1;
  /* Keep the bin count within a few per atom (sparse systems). */
  const long maxcell = 8L * g->nall + 4096;
  int *bin = NULL, *fill = NULL, rc = ENG_ENOMEM;
  memset(b, 0, sizeof *b);
  for (int i = 0; i < g->nall; i++)
    for (int k = 0; k < 3; k++) {
      double v = g->x[3 * i + k];
      if (v < lo[k]) lo[k] = v;
      if (v > hi[k]) hi[k] = v;
    }
  if (g->nall == 0)
    for (int k = 0; k < 3; k++) lo[k] = hi[k] = 0.0;
  for (double w = 0.5 * range;; w *= 1.25) {
    ncell = 1;
    for (int k = 0; k < 3; k++) {
      double span = hi[k] - lo[k];
      double nb = floor(span / w);
      if (nb < 1) nb = 1;
      if (nb > 1024) nb = 1024;
      b->n[k] = (int)nb;
      ncell *= b->n[k];
    }
    if (ncell <= maxcell) break;
  }
  for (int k = 0; k < 3; k++) {
    double span = hi[k] - lo[k];
    b->lo[k] = lo[k];
    b->inv[k] = span > 0 ? b->n[k] / span * (1.0 - 1e-12) : 0.0;
    side[k] = span > 0 ? span / b->n[k] : range;
  }
  /* Stencil: offsets whose bins come closer than range to the home bin. */
  {
    int s[3];
    for (int k = 0; k < 3; k++) {
      s[k] = (int)ceil(range / side[k]);
      if (s[k] > b->n[k] - 1) s[k] = b->n[k] - 1;
    }
    b->st = eng__malloc((size_t)(2 * s[0] + 1) * (2 * s[1] + 1) * (2 * s[2] + 1), sizeof *b->st);
    if (!b->st) goto out;
    for (int dz = -s[2]; dz <= s[2]; dz++)
      for (int dy = -s[1]; dy <= s[1]; dy++)
        for (int dx = -s[0]; dx <= s[0]; dx++) {
          const int d[3] = {dx, dy, dz};
          double m2 = 0.0;
          for (int k = 0; k < 3; k++) {
            double gap = (abs(d[k]) - 1) * side[k];
            if (gap > 0) m2 += gap * gap;
          }
          if (m2 >= range * range) continue;
          b->st[b->nst][0] = dx;
          b->st[b->nst][1] = dy;
          b->st[b->nst][2] = dz;
          b->nst++;
        }
  }
  b->cstart = eng__calloc((size_t)ncell + 1, sizeof *b->cstart);
  b->idx = eng__malloc((size_t)g->nall + 1, sizeof *b->idx);
  b->own = eng__malloc((size_t)g->nall + 1, sizeof *b->own);
  b->sgn = eng__malloc((size_t)g->nall + 1, sizeof *b->sgn);
  b->xs = eng__malloc((size_t)g->nall * 3 + 1, sizeof *b->xs);
  bin = eng__malloc((size_t)g->nall + 1, sizeof *bin);
  fill = eng__malloc((size_t)ncell + 1, sizeof *fill);
  if (!b->cstart || !b->idx || !b->own || !b->sgn || !b->xs || !bin || !fill) goto out;
  for (int i = 0; i < g->nall; i++) {
    int c[3];
    bin[i] = bin_index(b, &g->x[3 * i], c);
    b->cstart[bin[i] + 1]++;
  }
  for (long c = 0; c < ncell; c++) b->cstart[c + 1] += b->cstart[c];
  memcpy(fill, b->cstart, (size_t)ncell * sizeof *fill);
  /* Counting sort, stable: increasing atom index within a bin. */
  for (int i = 0; i < g->nall; i++) {
    const int q = fill[bin[i]]++;
    const int *sh = &g->shift[3 * i];
    b->idx[q] = i;
    b->own[q] = g->owner[i];
    b->sgn[q] = (signed char)(sh[0] ? (sh[0] > 0 ? 1 : -1)
                              : sh[1] ? (sh[1] > 0 ? 1 : -1)
                              : sh[2] ? (sh[2] > 0 ? 1 : -1) : 0);
    for (int k = 0; k < 3; k++) b->xs[3 * q + k] = g->x[3 * i + k];
  }
  rc = ENG_OK;
out:
  free(bin);
  free(fill);
  if (rc) bins_free(b);
  return rc;
}

/* Batches of owned atoms: those whose home bins share (y, z) and lie in
 * the same run of BATCH_X bins along x.  The candidates of a batch are
 * gathered once into contiguous arrays (x, y, z, extended index, owner,
 * shift sign, owner active), and each atom's row is then a distance pass
 * over them and a branch-free selection.  Two bins along x measured best
 * on the 16,000-atom glass (1 to 4 tried; session 16). */
#define BATCH_X 2
typedef struct cands {
  int home; /* batch key the arrays hold, -1: none */
  int m, cap;
  double *x, *y, *z, *d2;
  int *idx, *own;
  signed char *sgn, *act;
} cands;

static void cands_free(cands *cs) {
  free(cs->x);
  free(cs->y);
  free(cs->z);
  free(cs->d2);
  free(cs->idx);
  free(cs->own);
  free(cs->sgn);
  free(cs->act);
}

/* Room for at least want candidates in cs.  ENG_ENOMEM (cs stays valid). */
static int cands_reserve(cands *cs, int want) {
  const int nc = 2 * want + 256;
  void *p;
  if (want <= cs->cap) return ENG_OK;
#define CANDS_GROW(field)                                   \
  p = eng__realloc(cs->field, (size_t)nc, sizeof *cs->field); \
  if (!p) return ENG_ENOMEM;                                \
  cs->field = p;
  CANDS_GROW(x)
  CANDS_GROW(y)
  CANDS_GROW(z)
  CANDS_GROW(d2)
  CANDS_GROW(idx)
  CANDS_GROW(own)
  CANDS_GROW(sgn)
  CANDS_GROW(act)
#undef CANDS_GROW
  cs->cap = nc;
  return ENG_OK;
}

/* Gather into cs the candidates of the batch with key `key` whose first
 * home bin is c (c[0] a multiple of BATCH_X); its atoms have owned slots
 * >= imin and positions in the box [lo, hi].  A candidate is left out when
 * (half) its owner is active and below imin, which the half rule drops for
 * every atom of the batch, or when it is farther than range from the box
 * (r2m: range^2 with a margin far above rounding, so that no pair a row
 * keeps is left out).
 * The stencil's offsets come in rows of equal (dz, dy), each an interval
 * of dx, in increasing (dz, dy, dx) order, so the union of the home bins'
 * stencils, row by row, visits the bins in increasing (z, y, x) order:
 * the order in which each home bin's own stencil visits them, the rows'
 * order.  Bins outside an atom's own stencil are farther than range from
 * it.  ENG_ENOMEM. */
static int cands_gather(const bins *b, const unsigned char *act, int key, const int c[3], int half,
                        int imin, const double lo[3], const double hi[3], double r2m, cands *cs) {
  int m = 0;
  cs->home = -1;
  for (int t = 0; t < b->nst;) {
    const int dz = b->st[t][2], dy = b->st[t][1], dxa = b->st[t][0];
    int t1 = t;
    while (t1 + 1 < b->nst && b->st[t1 + 1][2] == dz && b->st[t1 + 1][1] == dy) t1++;
    const int dxb = b->st[t1][0], cy = c[1] + dy, cz = c[2] + dz;
    int xa = c[0] + dxa, xb = c[0] + BATCH_X - 1 + dxb;
    t = t1 + 1;
    if (cy < 0 || cy >= b->n[1] || cz < 0 || cz >= b->n[2]) continue;
    if (xa < 0) xa = 0;
    if (xb >= b->n[0]) xb = b->n[0] - 1;
    if (xa > xb) continue;
    {
      const int row = (cz * b->n[1] + cy) * b->n[0];
      const int q0 = b->cstart[row + xa], q1 = b->cstart[row + xb + 1];
      if (cands_reserve(cs, m + (q1 - q0) + 1)) return ENG_ENOMEM;
      /* the distance test branch-free: written, kept by advancing m */
      for (int q = q0; q < q1; q++) {
        const double *xq = &b->xs[3 * q];
        const int k = b->own[q], ak = !act || act[k];
        double g2 = 0.0;
        if (half && ak && k < imin) continue;
        for (int d = 0; d < 3; d++) {
          double u = lo[d] - xq[d], v = xq[d] - hi[d];
          u = u > 0.0 ? u : 0.0;
          v = v > 0.0 ? v : 0.0;
          g2 += (u + v) * (u + v);
        }
        cs->x[m] = xq[0];
        cs->y[m] = xq[1];
        cs->z[m] = xq[2];
        cs->idx[m] = b->idx[q];
        cs->own[m] = k;
        cs->sgn[m] = b->sgn[q];
        cs->act[m] = (signed char)ak;
        m += g2 < r2m;
      }
    }
  }
  cs->m = m;
  cs->home = key;
  return ENG_OK;
}

/* Neighbours of owned atoms [i0, i1) into *buf (capacity *cap, grown as
 * needed) from its start; row lengths into cnt[i - i0]; act as in
 * eng__list_build.  The atoms are taken batch by batch (cands above), the
 * rows written to a scratch buffer in that order and then copied out in
 * atom order.  Session 16: the same rows, in the same order, as the
 * atom-by-atom scan of the stencil's bins before (compared on 72 lists),
 * in about half the time (21 against 40 ms for the 16,000-atom glass).
 * ENG_ENOMEM. */
static int list_rows(const eng__ghosts *g, const bins *b, double range, int half, const unsigned char *act,
                     int i0, int i1, int **buf, long *cap, long *cnt) {
  const double r2 = range * range, rm = range * (1.0 + 1e-9), r2m = rm * rm;
  const int na = i1 - i0;
  const long ncell = (long)b->n[0] * b->n[1] * b->n[2];
  long np = 0, tcap = 0, *rstart = NULL;
  cands cs = {.home = -1};
  int rc = ENG_ENOMEM, nact, *key = NULL, *perm = NULL, *fill = NULL, *tmp = NULL;
  if (na <= 0) return ENG_OK;
  key = eng__malloc((size_t)na, sizeof *key);
  perm = eng__malloc((size_t)na, sizeof *perm);
  fill = eng__calloc((size_t)ncell + 1, sizeof *fill);
  rstart = eng__malloc((size_t)na, sizeof *rstart);
  if (!key || !perm || !fill || !rstart) goto out;
  /* batch key of each active atom (its home bin, x rounded down to a
   * multiple of BATCH_X; -1: inactive), and a stable counting sort by it */
  for (int i = i0; i < i1; i++) {
    int c[3];
    key[i - i0] = -1;
    if (act && !act[i]) continue;
    key[i - i0] = bin_index(b, &g->x[3 * i], c); /* (c set by the call: its own statement) */
    key[i - i0] -= c[0] % BATCH_X;
    fill[key[i - i0] + 1]++;
  }
  for (long c = 0; c < ncell; c++) fill[c + 1] += fill[c];
  nact = fill[ncell];
  for (int k = 0; k < na; k++)
    if (key[k] >= 0) perm[fill[key[k]]++] = k;
  for (int p = 0; p < nact; p++) {
    const int i = i0 + perm[p];
    const double *xi = &g->x[3 * i];
    if (key[perm[p]] != cs.home) {
      /* a new batch: atoms p, p+1, ... with this key */
      int c[3], imin = i;
      double lo[3] = {xi[0], xi[1], xi[2]}, hi[3] = {xi[0], xi[1], xi[2]};
      for (int e = p + 1; e < nact && key[perm[e]] == key[perm[p]]; e++) {
        const double *xe = &g->x[3 * (i0 + perm[e])];
        if (i0 + perm[e] < imin) imin = i0 + perm[e];
        for (int d = 0; d < 3; d++) {
          if (xe[d] < lo[d]) lo[d] = xe[d];
          if (xe[d] > hi[d]) hi[d] = xe[d];
        }
      }
      bin_index(b, xi, c);
      c[0] -= c[0] % BATCH_X;
      if (cands_gather(b, act, key[perm[p]], c, half, imin, lo, hi, r2m, &cs)) goto out;
    }
    const int m = cs.m;
    if (np + m > tcap) {
      long nc = 2 * (np + m) + 4096;
      int *t = eng__realloc(tmp, (size_t)nc, sizeof *t);
      if (!t) goto out;
      tmp = t;
      tcap = nc;
    }
    for (int q = 0; q < m; q++) {
      const double d0 = cs.x[q] - xi[0], d1 = cs.y[q] - xi[1], d2 = cs.z[q] - xi[2];
      cs.d2[q] = d0 * d0 + d1 * d1 + d2 * d2;
    }
    rstart[perm[p]] = np;
    if (half) {
      /* (owner k, shift s) > (i, 0) lexicographically, or k inactive */
      for (int q = 0; q < m; q++) {
        const int k = cs.own[q];
        const int drop = cs.act[q] & ((k < i) | ((k == i) & (cs.sgn[q] <= 0)));
        tmp[np] = cs.idx[q];
        np += (cs.d2[q] < r2) & !drop;
      }
    } else {
      for (int q = 0; q < m; q++) {
        tmp[np] = cs.idx[q];
        np += (cs.d2[q] < r2) & (cs.idx[q] != i);
      }
    }
    cnt[perm[p]] = np - rstart[perm[p]];
  }
  if (np > *cap) {
    int *t = eng__realloc(*buf, (size_t)np, sizeof *t);
    if (!t) goto out;
    *buf = t;
    *cap = np;
  }
  np = 0;
  for (int k = 0; k < na; k++) {
    if (key[k] < 0) {
      cnt[k] = 0;
      continue;
    }
    if (cnt[k] > 0) memcpy(*buf + np, tmp + rstart[k], (size_t)cnt[k] * sizeof *tmp);
    np += cnt[k];
  }
  rc = ENG_OK;
out:
  cands_free(&cs);
  free(key);
  free(perm);
  free(fill);
  free(rstart);
  free(tmp);
  return rc;
}

int eng__list_build(const eng__ghosts *g, double range, int half, const unsigned char *act, eng__list *l) {
  bins b;
  int rc, T = eng_get_threads();
  const int n = g->nlocal;
  int **tbuf = NULL;
  long *tcap = NULL, *cnt = NULL;

  assert(half || !act);
  if (T > n) T = n > 0 ? n : 1;
  rc = bins_build(g, range, &b);
  if (rc) return rc;
  rc = ENG_ENOMEM;
  if (!l->start || l->nlocal != n) {
    free(l->start);
    l->start = eng__malloc((size_t)n + 1, sizeof *l->start);
    if (!l->start) goto out;
    l->nlocal = n;
  }
  cnt = eng__malloc((size_t)n + 1, sizeof *cnt);
  tbuf = eng__calloc((size_t)T, sizeof *tbuf);
  tcap = eng__calloc((size_t)T, sizeof *tcap);
  if (!cnt || !tbuf || !tcap) goto out;
  /* Chunk t = atoms [n t / T, n (t+1) / T) into its own buffer (chunk 0
   * straight into l->nbr), then the rows are joined in chunk order. */
  tbuf[0] = l->nbr;
  tcap[0] = l->cap;
  l->nbr = NULL;
  l->cap = 0;
  {
    int bad = 0;
#pragma omp parallel for num_threads(T) if (T > 1) schedule(static, 1) reduction(| : bad)
    for (int t = 0; t < T; t++) {
      const int i0 = (int)((long)n * t / T), i1 = (int)((long)n * (t + 1) / T);
      bad |= list_rows(g, &b, range, half, act, i0, i1, &tbuf[t], &tcap[t], cnt + i0) != ENG_OK;
    }
    if (bad) goto out;
  }
  l->start[0] = 0;
  for (int i = 0; i < n; i++) l->start[i + 1] = l->start[i] + cnt[i];
  {
    const long tot = l->start[n];
    if (tot > tcap[0]) {
      int *p = eng__realloc(tbuf[0], (size_t)tot, sizeof *p);
      if (!p) goto out;
      tbuf[0] = p;
      tcap[0] = tot;
    }
    for (int t = 1; t < T; t++) {
      const int i0 = (int)((long)n * t / T), i1 = (int)((long)n * (t + 1) / T);
      if (l->start[i1] > l->start[i0])
        memcpy(tbuf[0] + l->start[i0], tbuf[t], (size_t)(l->start[i1] - l->start[i0]) * sizeof *tbuf[0]);
    }
  }
  rc = ENG_OK;
out:
  if (tbuf) {
    l->nbr = tbuf[0];
    l->cap = tcap[0];
    for (int t = 1; t < T; t++) free(tbuf[t]);
  }
  free(tbuf);
  free(tcap);
  free(cnt);
  bins_free(&b);
  return rc;
}

void eng__list_free(eng__list *l) {
  free(l->start);
  free(l->nbr);
  memset(l, 0, sizeof *l);
}

/* Public full neighbour list (descriptors). */
int eng_nlist_build(const eng_system *sys, double rcut, eng_nlist **out) {
  eng__ghosts g;
  eng__list l;
  eng_nlist *nl = NULL;
  int rc;

  memset(&g, 0, sizeof g);
  memset(&l, 0, sizeof l);
  *out = NULL;
  if (!(rcut > 0.0) || !isfinite(rcut))
    return eng_set_error(ENG_EINVAL, "neighbour cutoff must be > 0 (got %g)", rcut);
  rc = eng__ghosts_build(&sys->box, sys->x, sys->natoms, rcut, 0, &g);
  if (rc) goto out;
  rc = eng__list_build(&g, rcut, 0, NULL, &l);
  if (rc) goto out;
  nl = eng__calloc(1, sizeof *nl);
  if (!nl) {
    rc = ENG_ENOMEM;
    goto out;
  }
  nl->natoms = sys->natoms;
  long np = l.start[sys->natoms];
  nl->start = eng__malloc((size_t)sys->natoms + 1, sizeof *nl->start);
  nl->nbr = eng__malloc((size_t)np, sizeof *nl->nbr);
  nl->d = eng__malloc((size_t)np * 3, sizeof *nl->d);
  if (!nl->start || !nl->nbr || !nl->d) {
    rc = ENG_ENOMEM;
    goto out;
  }
  memcpy(nl->start, l.start, ((size_t)sys->natoms + 1) * sizeof *nl->start);
  for (int i = 0; i < sys->natoms; i++)
    for (long p = l.start[i]; p < l.start[i + 1]; p++) {
      int j = l.nbr[p];
      nl->nbr[p] = g.owner[j];
      for (int k = 0; k < 3; k++) nl->d[3 * p + k] = g.x[3 * j + k] - g.x[3 * i + k];
    }
  *out = nl;
  nl = NULL;
  rc = ENG_OK;
out:
  eng_nlist_free(nl);
  eng__list_free(&l);
  eng__ghosts_free(&g);
  return rc;
}

void eng_nlist_free(eng_nlist *nl) {
  if (!nl) return;
  free(nl->start);
  free(nl->nbr);
  free(nl->d);
  free(nl);
}
