/*
 * neigh.c -- periodic images ("ghost" atoms), cell binning and neighbour
 * lists.
 *
 * Owned atoms are wrapped into the cell; every periodic image of an owned
 * atom that lies within the interaction range (cutoff + skin) of the cell is
 * added as a ghost atom that remembers its owner and its integer image
 * shift.  Because ghosts are generated in fractional coordinates, triclinic
 * cells and cells narrower than twice the range (several images of the same
 * atom) need no special case.  Pairs are found by binning owned and ghost
 * atoms into Cartesian cells no smaller than the range and scanning the 27
 * neighbouring cells.
 *
 * Half lists keep each physical pair once: the pair (i, ghost of k shifted
 * by n) is kept when (k, n) > (i, 0) in lexicographic order, which keeps
 * exactly one of it and its mirror (k, ghost of i shifted by -n).
 */
#include "internal.h"
#include "neigh.h"

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
  for (int k = 0; k < g->nlocal; k++) {
    const int *w = &g->wimg[3 * k];
    const double *xi = &x[3 * g->order[k]];
    g->x[3 * k] = xi[0] + w[0] * ax + w[1] * bx + w[2] * cx;
    g->x[3 * k + 1] = xi[1] + w[1] * by + w[2] * cy;
    g->x[3 * k + 2] = xi[2] + w[2] * cz;
  }
  for (int j = g->nlocal; j < g->nall; j++) {
    const int o = g->owner[j];
    const int *s = &g->shift[3 * j];
    g->x[3 * j] = g->x[3 * o] + s[0] * ax + s[1] * bx + s[2] * cx;
    g->x[3 * j + 1] = g->x[3 * o + 1] + s[1] * by + s[2] * cy;
    g->x[3 * j + 2] = g->x[3 * o + 2] + s[2] * cz;
  }
}

/* Bin the nall extended atoms into Cartesian cells of side >= range.
 * head[cell] / next[atom] linked lists. */
typedef struct bins {
  int n[3];
  double lo[3], inv[3];
  int *head, *next;
} bins;

static void bins_free(bins *b) {
  free(b->head);
  free(b->next);
}

static int bins_build(const eng__ghosts *g, double range, bins *b) {
  double lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY};
  long ncell = 1;
  memset(b, 0, sizeof *b);
  for (int i = 0; i < g->nall; i++)
    for (int k = 0; k < 3; k++) {
      double v = g->x[3 * i + k];
      if (v < lo[k]) lo[k] = v;
      if (v > hi[k]) hi[k] = v;
    }
  if (g->nall == 0)
    for (int k = 0; k < 3; k++) lo[k] = hi[k] = 0.0;
  for (int k = 0; k < 3; k++) {
    double span = hi[k] - lo[k];
    int nb = (int)floor(span / range);
    if (nb < 1) nb = 1;
    if (nb > 1024) nb = 1024;
    b->n[k] = nb;
    b->lo[k] = lo[k];
    b->inv[k] = span > 0 ? nb / span * (1.0 - 1e-12) : 0.0;
    ncell *= nb;
  }
  b->head = eng__malloc((size_t)ncell, sizeof *b->head);
  b->next = eng__malloc((size_t)g->nall + 1, sizeof *b->next);
  if (!b->head || !b->next) {
    bins_free(b);
    return ENG_ENOMEM;
  }
  for (long c = 0; c < ncell; c++) b->head[c] = -1;
  /* Insert in reverse so lists come out in increasing atom order. */
  for (int i = g->nall - 1; i >= 0; i--) {
    int c[3];
    for (int k = 0; k < 3; k++) {
      c[k] = (int)((g->x[3 * i + k] - b->lo[k]) * b->inv[k]);
      if (c[k] >= b->n[k]) c[k] = b->n[k] - 1;
      if (c[k] < 0) c[k] = 0;
    }
    long cell = ((long)c[2] * b->n[1] + c[1]) * b->n[0] + c[0];
    b->next[i] = b->head[cell];
    b->head[cell] = i;
  }
  return ENG_OK;
}

static int cell_of(const bins *b, const double *x, int c[3]) {
  for (int k = 0; k < 3; k++) {
    c[k] = (int)((x[k] - b->lo[k]) * b->inv[k]);
    if (c[k] >= b->n[k]) c[k] = b->n[k] - 1;
    if (c[k] < 0) c[k] = 0;
  }
  return 0;
}

/* Is (owner k, shift s) lexicographically greater than (i, 0)? */
static inline int keep_half(int i, int k, const int *s) {
  if (k != i) return k > i;
  if (s[0] != 0) return s[0] > 0;
  if (s[1] != 0) return s[1] > 0;
  return s[2] > 0;
}

int eng__list_build(const eng__ghosts *g, double range, int half, eng__list *l) {
  bins b;
  int rc;
  long np = 0;
  const double r2 = range * range;

  rc = bins_build(g, range, &b);
  if (rc) return rc;
  if (!l->start || l->nlocal != g->nlocal) {
    free(l->start);
    l->start = eng__malloc((size_t)g->nlocal + 1, sizeof *l->start);
    if (!l->start) {
      rc = ENG_ENOMEM;
      goto out;
    }
    l->nlocal = g->nlocal;
  }
  for (int i = 0; i < g->nlocal; i++) {
    const double *xi = &g->x[3 * i];
    int c[3];
    l->start[i] = np;
    cell_of(&b, xi, c);
    for (int dz = -1; dz <= 1; dz++) {
      int cz = c[2] + dz;
      if (cz < 0 || cz >= b.n[2]) continue;
      for (int dy = -1; dy <= 1; dy++) {
        int cy = c[1] + dy;
        if (cy < 0 || cy >= b.n[1]) continue;
        for (int dx = -1; dx <= 1; dx++) {
          int cx = c[0] + dx;
          if (cx < 0 || cx >= b.n[0]) continue;
          for (int j = b.head[((long)cz * b.n[1] + cy) * b.n[0] + cx]; j >= 0; j = b.next[j]) {
            if (j == i) continue;
            if (half && !keep_half(i, g->owner[j], &g->shift[3 * j])) continue;
            double d0 = g->x[3 * j] - xi[0], d1 = g->x[3 * j + 1] - xi[1],
                   d2 = g->x[3 * j + 2] - xi[2];
            if (d0 * d0 + d1 * d1 + d2 * d2 >= r2) continue;
            if (np >= l->cap) {
              long cap = l->cap ? 2 * l->cap : 4096;
              int *p = eng__realloc(l->nbr, (size_t)cap, sizeof *l->nbr);
              if (!p) {
                rc = ENG_ENOMEM;
                goto out;
              }
              l->nbr = p;
              l->cap = cap;
            }
            l->nbr[np++] = j;
          }
        }
      }
    }
  }
  l->start[g->nlocal] = np;
  rc = ENG_OK;
out:
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
  rc = eng__list_build(&g, rcut, 0, &l);
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
