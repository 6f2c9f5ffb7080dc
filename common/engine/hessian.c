/*
 * hessian.c -- the analytic Hessian of an EAM potential, stored as
 * compressed rows of 3x3 blocks (eng_hessian), and its products.
 *
 * E = sum_i F_i(rho_i) + 1/2 sum_i sum_j phi_ij(r_ij),
 * rho_i = sum_j f_ij(r_ij)  (f_ij: density at i due to j).
 * With d = x_j - x_i, r = |d|, u = d/r and, for a radial g(r),
 *   K[g] = g''(r) u u^T + g'(r)/r (1 - u u^T)   (= d2 g / dx_j dx_j),
 * the Hessian is
 *   H = sum_pairs K[phi] (+ on ii, jj; - on ij, ji)
 *     + sum_i F'(rho_i) sum_j K[f_ij] (+ on ii, jj; - on ij, ji)
 *     + sum_i F''(rho_i) g_i g_i^T,
 * g_i = d rho_i / dx (non-zero on i and its neighbours: g_i[j] = sum over
 * images f_ij'(r) u, g_i[i] = -sum_j g_i[j]).  The last term couples two
 * neighbours of a common atom, i.e. atoms up to twice the cutoff apart.
 * Rows are assembled one atom at a time into a dense scratch row indexed by
 * column atom, so periodic images of one neighbour add into one block.
 */
#include "internal.h"
#include "eam_int.h"

#include <math.h>
#include <string.h>

/* K[g] for separation unit vector u, distance r: out += s * K. */
static void add_radial(double out[9], double s, const double u[3], double r,
                       double dg, double d2g) {
  double a = s * (d2g - dg / r), b = s * dg / r;
  for (int p = 0; p < 3; p++)
    for (int q = 0; q < 3; q++) out[3 * p + q] += a * u[p] * u[q] + (p == q ? b : 0.0);
}

static int cmp_int(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

/* Sparse density gradients: for atom i, entries gs[i]..gs[i+1]-1 give the
 * atom gc (sorted, i included) and the 3-vector gv = d rho_i / d x_gc. */
typedef struct grads {
  long *gs;
  int *gc;
  double *gv;
} grads;

static void grads_free(grads *g) {
  free(g->gs);
  free(g->gc);
  free(g->gv);
}

/* Search atom j in gradient row i; NULL if absent. */
static const double *grad_find(const grads *g, int i, int j) {
  long lo = g->gs[i], hi = g->gs[i + 1] - 1;
  while (lo <= hi) {
    long mid = (lo + hi) / 2;
    if (g->gc[mid] == j) return g->gv + 3 * mid;
    if (g->gc[mid] < j) lo = mid + 1;
    else hi = mid - 1;
  }
  return NULL;
}

/* Analytic Hessian of sys at sys->x (eV/A^2), caller frees; ENG_EINVAL on a
 * mismatched system, ENG_ENOMEM.  Contract in engine.h. */
int eng_hessian_build(eng_calc *c, const eng_system *sys, eng_hessian **out) {
  const int n = sys ? sys->natoms : 0;
  eng_nlist *nl = NULL;
  eng_hessian *h = NULL;
  grads g = {NULL, NULL, NULL};
  double *rho = NULL, *fp = NULL, *fpp = NULL, *acc = NULL;
  int *elem = NULL, *mark = NULL, *touched = NULL;
  long cap = 0, nb = 0;
  int rc;

  if (!out) return eng_set_error(ENG_EINVAL, "eng_hessian_build: out is NULL");
  *out = NULL;
  if (!c || !sys || n <= 0)
    return eng_set_error(ENG_EINVAL, "eng_hessian_build: need a calculator and a non-empty system");
  for (int i = 0; i < n; i++)
    if (sys->type[i] < 0 || sys->type[i] >= sys->ntypes)
      return eng_set_error(ENG_EINVAL, "eng_hessian_build: atom %d has type %d out of range", i,
                           sys->type[i]);
  /* A compute validates the system against the calculator (atom count, box). */
  rc = eng_calc_compute(c, sys, NULL, NULL, NULL, NULL);
  if (rc) return rc;
  rc = eng_nlist_build(sys, eng_calc_cutoff(c), &nl);
  if (rc) return rc;

  rc = ENG_ENOMEM;
  elem = eng__malloc((size_t)n, sizeof *elem);
  rho = eng__calloc((size_t)n, sizeof *rho);
  fp = eng__malloc((size_t)n, sizeof *fp);
  fpp = eng__malloc((size_t)n, sizeof *fpp);
  mark = eng__malloc((size_t)n, sizeof *mark);
  touched = eng__malloc((size_t)n, sizeof *touched);
  acc = eng__calloc((size_t)n * 9, sizeof *acc);
  g.gs = eng__malloc((size_t)n + 1, sizeof *g.gs);
  h = eng__calloc(1, sizeof *h);
  if (!elem || !rho || !fp || !fpp || !mark || !touched || !acc || !g.gs || !h) goto out;
  for (int i = 0; i < n; i++) {
    elem[i] = eng__calc_elem(c, sys->type[i]);
    mark[i] = -1;
  }

  /* Densities, F', F''. */
  for (int i = 0; i < n; i++)
    for (long p = nl->start[i]; p < nl->start[i + 1]; p++) {
      const double *d = nl->d + 3 * p;
      eng__pairfn pf;
      eng__calc_pair(c, elem[i], elem[nl->nbr[p]], sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]),
                     &pf);
      rho[i] += pf.rhoi;
    }
  for (int i = 0; i < n; i++) {
    double F;
    eng__calc_embed(c, elem[i], rho[i], &F, &fp[i], &fpp[i]);
  }

  /* Density gradients g_i (images of one atom summed). */
  {
    long gcap = 0, ng = 0;
    for (int i = 0; i < n; i++) {
      int nt = 0;
      g.gs[i] = ng;
      touched[nt++] = i;
      mark[i] = i;
      memset(acc + 9 * (size_t)i, 0, 3 * sizeof *acc);
      for (long p = nl->start[i]; p < nl->start[i + 1]; p++) {
        int j = nl->nbr[p];
        const double *d = nl->d + 3 * p;
        double r = sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
        eng__pairfn pf;
        if (!(r > 0)) continue;
        eng__calc_pair(c, elem[i], elem[j], r, &pf);
        if (mark[j] != i) {
          mark[j] = i;
          touched[nt++] = j;
          memset(acc + 9 * (size_t)j, 0, 3 * sizeof *acc);
        }
        for (int k = 0; k < 3; k++) {
          double v = pf.drhoi * d[k] / r;
          acc[9 * (size_t)j + k] += v;
          acc[9 * (size_t)i + k] -= v;
        }
      }
      qsort(touched, (size_t)nt, sizeof *touched, cmp_int);
      if (ng + nt > gcap) {
        long nc = gcap ? 2 * gcap : 64L * n;
        while (nc < ng + nt) nc *= 2;
        int *gc = eng__realloc(g.gc, (size_t)nc, sizeof *gc);
        if (!gc) goto out;
        g.gc = gc;
        double *gv = eng__realloc(g.gv, (size_t)nc * 3, sizeof *gv);
        if (!gv) goto out;
        g.gv = gv;
        gcap = nc;
      }
      for (int t = 0; t < nt; t++) {
        g.gc[ng] = touched[t];
        memcpy(g.gv + 3 * ng, acc + 9 * (size_t)touched[t], 3 * sizeof *acc);
        ng++;
      }
    }
    g.gs[n] = ng;
  }
  for (int i = 0; i < n; i++) mark[i] = -1;

  /* Rows. */
  h->natoms = n;
  h->start = eng__malloc((size_t)n + 1, sizeof *h->start);
  if (!h->start) goto out;
  for (int a = 0; a < n; a++) {
    int nt = 0;
    double *aa;
    h->start[a] = nb;
#define TOUCH(j)                                        \
  do {                                                  \
    if (mark[j] != a) {                                 \
      mark[j] = a;                                      \
      touched[nt++] = (j);                              \
      memset(acc + 9 * (size_t)(j), 0, 9 * sizeof *acc); \
    }                                                   \
  } while (0)
    TOUCH(a);
    aa = acc + 9 * (size_t)a;
    /* Pair and F' terms from every neighbour image j of a. */
    for (long p = nl->start[a]; p < nl->start[a + 1]; p++) {
      int j = nl->nbr[p];
      const double *d = nl->d + 3 * p;
      double r = sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]), u[3], kb[9];
      eng__pairfn pf;
      if (!(r > 0)) continue;
      eng__calc_pair(c, elem[a], elem[j], r, &pf);
      for (int k = 0; k < 3; k++) u[k] = d[k] / r;
      memset(kb, 0, sizeof kb);
      add_radial(kb, 1.0, u, r, pf.dphi, pf.d2phi);
      add_radial(kb, fp[a], u, r, pf.drhoi, pf.d2rhoi);
      add_radial(kb, fp[j], u, r, pf.drhoj, pf.d2rhoj);
      TOUCH(j);
      double *aj = acc + 9 * (size_t)j;
      for (int k = 0; k < 9; k++) {
        aa[k] += kb[k];
        aj[k] -= kb[k];
      }
    }
    /* F'' terms: every i whose density depends on x_a (a itself and a's
     * neighbours, i.e. the atoms of g_a). */
    for (long q = g.gs[a]; q < g.gs[a + 1]; q++) {
      int i = g.gc[q];
      const double *ga = grad_find(&g, i, a);
      if (!ga || fpp[i] == 0.0) continue;
      for (long t = g.gs[i]; t < g.gs[i + 1]; t++) {
        int k = g.gc[t];
        const double *gk = g.gv + 3 * t;
        TOUCH(k);
        double *ak = acc + 9 * (size_t)k;
        for (int p = 0; p < 3; p++)
          for (int s = 0; s < 3; s++) ak[3 * p + s] += fpp[i] * ga[p] * gk[s];
      }
    }
#undef TOUCH
    qsort(touched, (size_t)nt, sizeof *touched, cmp_int);
    if (nb + nt > cap) {
      long nc = cap ? 2 * cap : 128L * n;
      while (nc < nb + nt) nc *= 2;
      int *col = eng__realloc(h->col, (size_t)nc, sizeof *col);
      if (!col) goto out;
      h->col = col;
      double *blk = eng__realloc(h->blk, (size_t)nc * 9, sizeof *blk);
      if (!blk) goto out;
      h->blk = blk;
      cap = nc;
    }
    for (int t = 0; t < nt; t++) {
      h->col[nb] = touched[t];
      memcpy(h->blk + 9 * nb, acc + 9 * (size_t)touched[t], 9 * sizeof *acc);
      nb++;
    }
  }
  h->start[n] = nb;
  /* Trim to size. */
  if (nb < cap) {
    int *col = realloc(h->col, (size_t)nb * sizeof *col);
    double *blk = realloc(h->blk, (size_t)nb * 9 * sizeof *blk);
    if (col) h->col = col;
    if (blk) h->blk = blk;
  }
  *out = h;
  h = NULL;
  rc = ENG_OK;
out:
  eng_hessian_free(h);
  eng_nlist_free(nl);
  grads_free(&g);
  free(elem);
  free(rho);
  free(fp);
  free(fpp);
  free(mark);
  free(touched);
  free(acc);
  return rc;
}

/* Release a Hessian; NULL is a no-op. */
void eng_hessian_free(eng_hessian *h) {
  if (!h) return;
  free(h->start);
  free(h->col);
  free(h->blk);
  free(h);
}

/* Stored 3x3 blocks (0 for NULL). */
long eng_hessian_nblocks(const eng_hessian *h) { return h ? h->start[h->natoms] : 0; }

/* y = H x (Angstrom -> eV/Angstrom); x and y distinct 3N vectors. */
void eng_hessian_apply(const eng_hessian *h, const double *x, double *y) {
#pragma omp parallel for schedule(static) num_threads(eng_get_threads()) if (h->natoms > 2000)
  for (int i = 0; i < h->natoms; i++) {
    double s0 = 0, s1 = 0, s2 = 0;
    for (long b = h->start[i]; b < h->start[i + 1]; b++) {
      const double *m = h->blk + 9 * b, *v = x + 3 * (size_t)h->col[b];
      s0 += m[0] * v[0] + m[1] * v[1] + m[2] * v[2];
      s1 += m[3] * v[0] + m[4] * v[1] + m[5] * v[2];
      s2 += m[6] * v[0] + m[7] * v[1] + m[8] * v[2];
    }
    y[3 * i] = s0;
    y[3 * i + 1] = s1;
    y[3 * i + 2] = s2;
  }
}

/* Dense row-major H (eV/A^2), or D (eV/(A^2 amu)) when sys is given. */
void eng_hessian_dense(const eng_hessian *h, const eng_system *sys, double *out) {
  const size_t n3 = 3 * (size_t)h->natoms;
  memset(out, 0, n3 * n3 * sizeof *out);
  for (int i = 0; i < h->natoms; i++)
    for (long b = h->start[i]; b < h->start[i + 1]; b++) {
      int j = h->col[b];
      double w = sys ? 1.0 / sqrt(eng_system_mass(sys, i) * eng_system_mass(sys, j)) : 1.0;
      for (int p = 0; p < 3; p++)
        for (int q = 0; q < 3; q++)
          out[(3 * (size_t)i + p) * n3 + 3 * (size_t)j + q] = w * h->blk[9 * b + 3 * p + q];
    }
}
