/*
 * modes.c -- normal modes of the mass-weighted dynamical matrix
 * D = M^-1/2 H M^-1/2 (H from hessian.c), with the three rigid translations
 * removed; participation fractions (paper Eq. 4), the vibrational density
 * of states and the harmonic vibrational MSD.
 *
 * Translations: T = [t_x t_y t_z], (t_a)_{3i+b} = sqrt(m_i) delta_ab /
 * sqrt(sum_i m_i), are orthonormal null vectors of D (H t = 0 by the
 * acoustic sum rule).  P = 1 - T T^T.
 *
 * Solvers:
 *  - DENSE: D' = P D P + c T T^T with c = 2 max_i sum_j |D_ij| (above the
 *    spectrum), then LAPACK dsyevr for eigenvalues 1..k (subset by index).
 *  - LANCZOS: ARPACK dsaupd/dseupd mode 1 (which = SA) on
 *    P D P + c T T^T (c above the Gershgorin bound of D, so the
 *    translations are the largest), D applied from a mass-weighted copy
 *    of the Hessian's upper block triangle (half the memory traffic):
 *    no factorisation, memory = 1.5 x the Hessian + ncv vectors.
 *  - CHEBYSHEV: Chebyshev-filtered subspace iteration on P D P: a block of
 *    p > k vectors is multiplied by T_m((D - c)/e) (the unwanted interval
 *    [a, b] mapped to [-1, 1], a = the block's largest Ritz value, b >=
 *    lambda_max from 40 Lanczos steps), orthonormalised (QR) and
 *    Rayleigh-Ritz'ed until the k lowest Ritz pairs have relative
 *    residuals <= cheb_tol.  Block products read the upper triangle once
 *    per 8 vectors.  Exact degeneracies (replicated cells) are no problem.
 *  - SPARSE: ARPACK dsaupd/dseupd mode 3 (shift-invert, which = LM) on the
 *    operator P (D - sigma I)^-1 P, sigma < 0, with a CHOLMOD supernodal
 *    Cholesky factor of D - sigma I (upper triangle assembled from the
 *    block rows).  Translations map to 0 and are never wanted; the other
 *    eigenvalues map to 1/(lambda - sigma), largest for the lowest lambda.
 *    If the factorisation finds D - sigma I indefinite (a structure that is
 *    not a minimum, or sigma too close to 0), sigma is made 10x more
 *    negative and the factorisation repeated (up to 6 times).
 */
#include "internal.h"

#include <cblas.h>
#include <lapacke.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <string.h>
#include <suitesparse/cholmod.h>
#include <arpack/arpack.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define TWO_PI 6.283185307179586

/* ARPACK's reverse-communication routines keep state in Fortran SAVE
 * variables, so one Lanczos run at a time per process. */
static pthread_mutex_t arpack_lock = PTHREAD_MUTEX_INITIALIZER;

/* Defaults of eng_modes_opts (engine.h). */
void eng_modes_opts_default(eng_modes_opts *o) {
  memset(o, 0, sizeof *o);
  o->nmodes = 0;
  o->mode_fraction = 0.0025;
  o->solver = ENG_MODES_AUTO;
  o->dense_max_atoms = 1000;
  o->sparse_max_atoms = 5000;
  o->sigma = -1e-5;
  o->tol = 1e-10;
  o->ncv = 0;
  o->max_restarts = 300;
  o->max_factor_gb = 6.0;
  o->cheb_degree = 40;
  o->cheb_block = 0;
  o->cheb_tol = 1e-4;
  o->cheb_max_iter = 100;
}

/* Number of modes the options select for natoms atoms (0 if < 2 atoms). */
int eng_modes_count(const eng_modes_opts *o, int natoms) {
  eng_modes_opts d;
  long n3 = 3L * natoms, k;
  if (!o) {
    eng_modes_opts_default(&d);
    o = &d;
  }
  if (natoms < 2) return 0;
  if (o->nmodes < 0) return (int)(n3 - 3);
  if (o->nmodes > 0) k = o->nmodes;
  else k = lround(o->mode_fraction * (double)n3);
  if (k < 1) k = 1;
  if (k > n3 - 3) k = n3 - 3;
  return (int)k;
}

/* Signed frequency (THz) of an eigenvalue of D (eV/(A^2 amu)). */
double eng_mode_thz(double lambda) {
  double w = sqrt(fabs(lambda) / ENG_MVV2E) / TWO_PI;
  return lambda < 0 ? -w : w;
}

/* Mass-weighted translations, 3 orthonormal columns of length n3 (t + a*n3). */
static void translations(const eng_system *sys, double *t) {
  const int n = sys->natoms;
  double mt = 0;
  for (int i = 0; i < n; i++) mt += eng_system_mass(sys, i);
  memset(t, 0, sizeof *t * 9 * (size_t)n);
  for (int a = 0; a < 3; a++)
    for (int i = 0; i < n; i++) t[(size_t)a * 3 * n + 3 * i + a] = sqrt(eng_system_mass(sys, i) / mt);
}

/* v <- P v. */
static void project(const double *t, long n3, double *v) {
  for (int a = 0; a < 3; a++) {
    const double *ta = t + a * n3;
    double s = eng__dot(ta, v, n3);
    for (long i = 0; i < n3; i++) v[i] -= s * ta[i];
  }
}

/* y = D x with D = M^-1/2 H M^-1/2; isq[i] = 1/sqrt(m_i). */
static void apply_d(const eng_hessian *h, const double *isq, const double *x, double *tmp,
                    double *y) {
  const int n = h->natoms;
  for (int i = 0; i < n; i++)
    for (int a = 0; a < 3; a++) tmp[3 * i + a] = isq[i] * x[3 * i + a];
  eng_hessian_apply(h, tmp, y);
  for (int i = 0; i < n; i++)
    for (int a = 0; a < 3; a++) y[3 * i + a] *= isq[i];
}

static eng_modes *modes_alloc(int natoms, int k) {
  eng_modes *m = eng__calloc(1, sizeof *m);
  if (!m) return NULL;
  m->natoms = natoms;
  m->nmodes = k;
  m->ndof = 3 * natoms;
  m->lambda = eng__malloc((size_t)k, sizeof *m->lambda);
  m->thz = eng__malloc((size_t)k, sizeof *m->thz);
  m->evec = eng__malloc((size_t)k * 3 * natoms, sizeof *m->evec);
  if (!m->lambda || !m->thz || !m->evec) {
    eng_modes_free(m);
    return NULL;
  }
  return m;
}

/* Release modes; NULL is a no-op. */
void eng_modes_free(eng_modes *m) {
  if (!m) return;
  free(m->lambda);
  free(m->thz);
  free(m->evec);
  free(m);
}

/* Sort modes ascending, fix signs (largest-magnitude component > 0),
 * frequencies and residuals. */
static int finish_modes(eng_modes *m, const eng_hessian *h, const double *isq) {
  const long n3 = m->ndof;
  double *tmp = eng__malloc((size_t)n3, sizeof *tmp), *y = eng__malloc((size_t)n3, sizeof *y);
  if (!tmp || !y) {
    free(tmp);
    free(y);
    return ENG_ENOMEM;
  }
  /* insertion sort by lambda (k is small or already sorted) */
  for (int a = 1; a < m->nmodes; a++)
    for (int b = a; b > 0 && m->lambda[b] < m->lambda[b - 1]; b--) {
      double l = m->lambda[b];
      m->lambda[b] = m->lambda[b - 1];
      m->lambda[b - 1] = l;
      for (long i = 0; i < n3; i++) {
        double v = m->evec[b * n3 + i];
        m->evec[b * n3 + i] = m->evec[(b - 1) * n3 + i];
        m->evec[(b - 1) * n3 + i] = v;
      }
    }
  m->resid_max = 0;
  for (int a = 0; a < m->nmodes; a++) {
    double *e = m->evec + a * n3, big = 0, nrm = sqrt(eng__dot(e, e, n3)), r = 0;
    long ib = 0;
    for (long i = 0; i < n3; i++) {
      e[i] /= nrm;
      if (fabs(e[i]) > big) {
        big = fabs(e[i]);
        ib = i;
      }
    }
    if (e[ib] < 0)
      for (long i = 0; i < n3; i++) e[i] = -e[i];
    m->thz[a] = eng_mode_thz(m->lambda[a]);
    apply_d(h, isq, e, tmp, y);
    for (long i = 0; i < n3; i++) r += eng__sq(y[i] - m->lambda[a] * e[i]);
    r = sqrt(r) / fmax(fabs(m->lambda[a]), 1e-12);
    if (r > m->resid_max) m->resid_max = r;
  }
  free(tmp);
  free(y);
  return ENG_OK;
}

static int solve_dense(const eng_hessian *h, const eng_system *sys, const double *t, int k,
                       eng_modes *m) {
  const long n3 = 3L * h->natoms;
  double *d = NULL, *dt = NULL, *w = NULL;
  lapack_int *isuppz = NULL, nfound = 0;
  int rc = ENG_ENOMEM;

  d = eng__malloc((size_t)(n3 * n3), sizeof *d);
  dt = eng__malloc((size_t)(3 * n3), sizeof *dt);
  w = eng__malloc((size_t)n3, sizeof *w);
  isuppz = eng__malloc((size_t)(2 * n3), sizeof *isuppz);
  if (!d || !dt || !w || !isuppz) goto out;
  eng_hessian_dense(h, sys, d);
  /* A = D T (3 columns), TtA = T^T D T. */
  double tta[9], c = 0;
  for (int a = 0; a < 3; a++)
    for (long i = 0; i < n3; i++) dt[a * n3 + i] = eng__dot(d + i * n3, t + a * n3, n3);
  for (int a = 0; a < 3; a++)
    for (int b = 0; b < 3; b++) tta[3 * a + b] = eng__dot(t + a * n3, dt + b * n3, n3);
  for (long i = 0; i < n3; i++) {
    double s = 0;
    for (long j = 0; j < n3; j++) s += fabs(d[i * n3 + j]);
    c = fmax(c, s);
  }
  c = 2 * c + 1.0;
  /* D' = D - A T^T - T A^T + T (T^T A) T^T + c T T^T */
  for (long i = 0; i < n3; i++)
    for (long j = 0; j < n3; j++) {
      double s = 0;
      for (int a = 0; a < 3; a++) {
        s -= dt[a * n3 + i] * t[a * n3 + j] + t[a * n3 + i] * dt[a * n3 + j];
        s += c * t[a * n3 + i] * t[a * n3 + j];
        for (int b = 0; b < 3; b++) s += t[a * n3 + i] * tta[3 * a + b] * t[b * n3 + j];
      }
      d[i * n3 + j] += s;
    }
  lapack_int info = LAPACKE_dsyevr(LAPACK_COL_MAJOR, 'V', 'I', 'U', (lapack_int)n3, d,
                                   (lapack_int)n3, 0.0, 0.0, 1, (lapack_int)k, 0.0, &nfound, w,
                                   m->evec, (lapack_int)n3, isuppz);
  if (info != 0 || nfound != k) {
    rc = eng_set_error(ENG_ENOCONV, "dsyevr failed (info %d, %d of %d eigenvalues)", (int)info,
                       (int)nfound, k);
    goto out;
  }
  memcpy(m->lambda, w, (size_t)k * sizeof *w);
  m->solver = ENG_MODES_DENSE;
  rc = ENG_OK;
out:
  free(d);
  free(dt);
  free(w);
  free(isuppz);
  return rc;
}

/* Upper triangle of D - sigma I in CHOLMOD's compressed columns. */
static cholmod_sparse *assemble_upper(const eng_hessian *h, const double *isq, double sigma,
                                      cholmod_common *cc) {
  const int n = h->natoms;
  const long n3 = 3L * n;
  long nnz = 0;
  for (int ja = 0; ja < n; ja++)
    for (long b = h->start[ja]; b < h->start[ja + 1]; b++) {
      int ia = h->col[b];
      if (ia < ja) nnz += 9;
      else if (ia == ja) nnz += 6;
    }
  cholmod_sparse *A = cholmod_l_allocate_sparse((size_t)n3, (size_t)n3, (size_t)nnz, 1, 1, 1,
                                                CHOLMOD_REAL, cc);
  if (!A) return NULL;
  SuiteSparse_long *ap = A->p, *ai = A->i;
  double *ax = A->x;
  long q = 0;
  /* Column 3J+c holds rows 3I+a <= 3J+c: D[3I+a][3J+c] = blk(ja,ia)[3c+a]. */
  for (int ja = 0; ja < n; ja++)
    for (int cc3 = 0; cc3 < 3; cc3++) {
      ap[3 * ja + cc3] = q;
      for (long b = h->start[ja]; b < h->start[ja + 1]; b++) {
        int ia = h->col[b];
        if (ia > ja) break;
        double w = isq[ia] * isq[ja];
        for (int a = 0; a < 3; a++) {
          if (ia == ja && a > cc3) break;
          ai[q] = 3L * ia + a;
          ax[q] = w * h->blk[9 * b + 3 * cc3 + a] - ((ia == ja && a == cc3) ? sigma : 0.0);
          q++;
        }
      }
    }
  ap[n3] = q;
  assert(q == nnz);
  return A;
}

static int solve_sparse(const eng_hessian *h, const eng_system *sys, const double *t,
                        const double *isq, int k, const eng_modes_opts *o,
                        eng_progress_fn progress, void *ud, eng_modes *m) {
  const long n3 = 3L * h->natoms;
  cholmod_common cc;
  cholmod_sparse *A = NULL;
  cholmod_factor *L = NULL;
  cholmod_dense *X = NULL, *B = NULL, *Y = NULL, *E = NULL;
  double sigma = o->sigma;
  int rc = ENG_ENOMEM;
  a_int ncv = o->ncv > 0 ? o->ncv : (2 * k + 20 > 60 ? 2 * k + 20 : 60);
  double *resid = NULL, *v = NULL, *workd = NULL, *workl = NULL, *dval = NULL, *z = NULL;
  a_int *select = NULL;
  a_int lworkl = 0;
  int locked = 0;

  if (ncv > n3 - 3) ncv = (a_int)(n3 - 3);
  if (ncv <= k) return eng_set_error(ENG_EINVAL, "%d modes of %ld need ncv > k (got %d)", k, n3, (int)ncv);
  cholmod_l_start(&cc);
  cc.print = 0;
  cc.error_handler = NULL;
  /* METIS nested dissection: for these 3D meshes with long-range coupling
   * it gives less fill than AMD (CHOLMOD's default tries AMD first). */
  cc.nmethods = 1;
  cc.method[0].ordering = CHOLMOD_METIS;
  cc.postorder = 1;

  for (int attempt = 0;; attempt++) {
    if (progress && progress(ud, 0.05, "factorising D - sigma I")) {
      rc = eng_set_error(ENG_ECANCEL, "modes: cancelled");
      goto out;
    }
    cholmod_l_free_sparse(&A, &cc);
    A = assemble_upper(h, isq, sigma, &cc);
    if (!A) {
      rc = eng_set_error(ENG_ENOMEM, "modes: cannot allocate the sparse matrix (%ld rows)", n3);
      goto out;
    }
    if (!L) {
      L = cholmod_l_analyze(A, &cc);
      if (!L) {
        rc = eng_set_error(ENG_ENOMEM, "modes: CHOLMOD analyse failed (status %d)", cc.status);
        goto out;
      }
      m->factor_nnz = cc.lnz;
      m->factor_gflop = cc.fl / 1e9;
      /* supernodal storage (with the padding of relaxed supernodes) plus
       * the largest update matrix, when known; the exact count otherwise */
      m->factor_gb = (L->is_super ? (double)L->xsize + (double)L->maxcsize : cc.lnz) * 8e-9;
      if (o->max_factor_gb > 0 && m->factor_gb > o->max_factor_gb) {
        rc = eng_set_error(ENG_ENOMEM,
                           "modes: the Cholesky factor of %ld rows would need %.1f GB (%.3g "
                           "non-zeros), above max_factor_gb = %g", n3, m->factor_gb, cc.lnz,
                           o->max_factor_gb);
        goto out;
      }
      if (progress) {
        char msg[128];
        snprintf(msg, sizeof msg, "Cholesky of %ld rows: %.3g non-zeros (%.2f GB stored), %.3g Gflop",
                 n3, cc.lnz, m->factor_gb, cc.fl / 1e9);
        if (progress(ud, 0.08, msg)) {
          rc = eng_set_error(ENG_ECANCEL, "modes: cancelled");
          goto out;
        }
      }
    }
    if (progress && progress(ud, 0.1, "factorising D - sigma I")) {
      rc = eng_set_error(ENG_ECANCEL, "modes: cancelled");
      goto out;
    }
    cholmod_l_factorize(A, L, &cc);
    if (cc.status == CHOLMOD_OK) break;
    if (cc.status != CHOLMOD_NOT_POSDEF) {
      rc = eng_set_error(cc.status == CHOLMOD_OUT_OF_MEMORY ? ENG_ENOMEM : ENG_ENOCONV,
                         "modes: CHOLMOD factorisation failed (status %d)", cc.status);
      goto out;
    }
    if (attempt >= 6) {
      rc = eng_set_error(ENG_ENOCONV,
                         "modes: D - sigma I is not positive definite even at sigma = %g "
                         "eV/(A^2 amu); is the structure a minimum?", sigma);
      goto out;
    }
    sigma *= 10;
  }
  cholmod_l_free_sparse(&A, &cc);
  m->sigma = sigma;

  B = cholmod_l_zeros((size_t)n3, 1, CHOLMOD_REAL, &cc);
  if (!B) goto out;
  lworkl = ncv * (ncv + 8);
  resid = eng__malloc((size_t)n3, sizeof *resid);
  v = eng__malloc((size_t)(n3 * ncv), sizeof *v);
  workd = eng__malloc((size_t)(3 * n3), sizeof *workd);
  workl = eng__malloc((size_t)lworkl, sizeof *workl);
  dval = eng__malloc((size_t)ncv, sizeof *dval);
  select = eng__calloc((size_t)ncv, sizeof *select);
  if (!resid || !v || !workd || !workl || !dval || !select) goto out;
  {
    eng_rng r;
    eng_rng_seed(&r, 0x6d6f646573ULL);
    for (long i = 0; i < n3; i++) resid[i] = eng_rng_uniform(&r) - 0.5;
    project(t, n3, resid);
  }
  a_int ido = 0, info = 1, iparam[11], ipntr[14];
  memset(iparam, 0, sizeof iparam);
  memset(ipntr, 0, sizeof ipntr);
  iparam[0] = 1;
  iparam[2] = o->max_restarts;
  iparam[6] = 3;
  int nop = 0;
  pthread_mutex_lock(&arpack_lock);
  locked = 1;
  for (;;) {
    dsaupd_c(&ido, "I", (a_int)n3, "LM", (a_int)k, o->tol, resid, ncv, v, (a_int)n3, iparam,
             ipntr, workd, workl, lworkl, &info);
    if (ido == -1 || ido == 1) {
      double *x = workd + ipntr[0] - 1, *y = workd + ipntr[1] - 1, *bx = B->x;
      memcpy(bx, x, (size_t)n3 * sizeof *bx);
      project(t, n3, bx);
      if (cholmod_l_solve2(CHOLMOD_A, L, B, NULL, &X, NULL, &Y, &E, &cc) != 1) {
        rc = eng_set_error(ENG_ENOMEM, "modes: CHOLMOD solve failed (status %d)", cc.status);
        goto out;
      }
      memcpy(y, X->x, (size_t)n3 * sizeof *y);
      project(t, n3, y);
      nop++;
      if (progress && nop % 50 == 0) {
        char msg[96];
        snprintf(msg, sizeof msg, "Lanczos: %d solves", nop);
        if (progress(ud, fmin(0.9, 0.15 + 0.75 * nop / (double)(4 * ncv)), msg)) {
          rc = eng_set_error(ENG_ECANCEL, "modes: cancelled");
          goto out;
        }
      }
    } else if (ido == 2) {
      memcpy(workd + ipntr[1] - 1, workd + ipntr[0] - 1, (size_t)n3 * sizeof *workd);
    } else {
      break;
    }
  }
  m->nop = nop;
  m->iterations = (int)iparam[2];
  if (info < 0 || info == 1 || info == 3) {
    rc = eng_set_error(ENG_ENOCONV,
                       "modes: ARPACK dsaupd info %d after %d restarts (%d of %d converged)",
                       (int)info, (int)iparam[2], (int)iparam[4], k);
    goto out;
  }
  z = eng__malloc((size_t)(n3 * k), sizeof *z);
  if (!z) goto out;
  dseupd_c(1, "A", select, dval, z, (a_int)n3, sigma, "I", (a_int)n3, "LM", (a_int)k, o->tol,
           resid, ncv, v, (a_int)n3, iparam, ipntr, workd, workl, lworkl, &info);
  if (info != 0 || iparam[4] < k) {
    rc = eng_set_error(ENG_ENOCONV, "modes: ARPACK dseupd info %d (%d of %d converged)",
                       (int)info, (int)iparam[4], k);
    goto out;
  }
  pthread_mutex_unlock(&arpack_lock);
  locked = 0;
  memcpy(m->lambda, dval, (size_t)k * sizeof *dval);
  memcpy(m->evec, z, (size_t)(n3 * k) * sizeof *z);
  m->solver = ENG_MODES_SPARSE;
  (void)sys;
  rc = ENG_OK;
out:
  if (locked) pthread_mutex_unlock(&arpack_lock);
  cholmod_l_free_sparse(&A, &cc);
  cholmod_l_free_factor(&L, &cc);
  cholmod_l_free_dense(&B, &cc);
  cholmod_l_free_dense(&X, &cc);
  cholmod_l_free_dense(&Y, &cc);
  cholmod_l_free_dense(&E, &cc);
  cholmod_l_finish(&cc);
  free(resid);
  free(v);
  free(workd);
  free(workl);
  free(dval);
  free(select);
  free(z);
  return rc;
}

/* D's upper block triangle (j >= i), mass-weighted: half the memory
 * traffic of a product with the full block rows.  Rows are split into
 * nchunk chunks of about equal block counts; chunk c > 0 scatters into its
 * own buffer ybuf + (c-1)*3N, summed in chunk order (deterministic for a
 * given thread count). */
typedef struct dupper {
  int n, nchunk;
  long *start;
  int *col, *lo;
  double *blk, *ybuf;
  int *perm; /* CHEBYSHEV: row r is atom perm[r] (spatial order); NULL = identity */
} dupper;

static void dupper_free(dupper *u) {
  free(u->start);
  free(u->col);
  free(u->lo);
  free(u->blk);
  free(u->ybuf);
  free(u->perm);
  memset(u, 0, sizeof *u);
}

/* Sort key of a row: its column in the permuted order, and the block. */
typedef struct colkey {
  int c;
  long b;
} colkey;

static int cmp_colkey(const void *a, const void *b) {
  const colkey *x = a, *y = b;
  return (x->c > y->c) - (x->c < y->c);
}

/* The upper block triangle of D, mass-weighted; with perm (taken over by u,
 * row r = atom perm[r]) in that order, else in atom order. */
static int dupper_build(const eng_hessian *h, const double *isq, int *perm, dupper *u) {
  const int n = h->natoms;
  int *inv = NULL;
  colkey *ck = NULL;
  long nb = 0;
  int nt = eng_get_threads(); /* the engine's thread count (eng_set_threads) */
  if (nt > 8) nt = 8;
  if (n < 64) nt = 1;
  memset(u, 0, sizeof *u);
  u->n = n;
  u->nchunk = nt;
  u->perm = perm;
  if (perm) {
    long wmax = 0;
    inv = eng__malloc((size_t)n, sizeof *inv);
    for (int i = 0; i < n; i++) wmax = h->start[i + 1] - h->start[i] > wmax ? h->start[i + 1] - h->start[i] : wmax;
    ck = eng__malloc((size_t)wmax, sizeof *ck);
    if (!inv || !ck) {
      free(inv);
      free(ck);
      dupper_free(u);
      return ENG_ENOMEM;
    }
    for (int r = 0; r < n; r++) inv[perm[r]] = r;
  }
  for (int i = 0; i < n; i++)
    for (long b = h->start[i]; b < h->start[i + 1]; b++)
      nb += perm ? inv[h->col[b]] >= inv[i] : h->col[b] >= i;
  u->start = eng__malloc((size_t)n + 1, sizeof *u->start);
  u->col = eng__malloc((size_t)nb, sizeof *u->col);
  u->blk = eng__malloc((size_t)nb * 9, sizeof *u->blk);
  u->lo = eng__malloc((size_t)nt + 1, sizeof *u->lo);
  u->ybuf = nt > 1 ? eng__malloc((size_t)(nt - 1) * 3 * n, sizeof *u->ybuf) : NULL;
  if (!u->start || !u->col || !u->blk || !u->lo || (nt > 1 && !u->ybuf)) {
    free(inv);
    free(ck);
    dupper_free(u);
    return ENG_ENOMEM;
  }
  nb = 0;
  for (int r = 0; perm && r < n; r++) {
    const int a = perm[r];
    int nk = 0;
    u->start[r] = nb;
    for (long b = h->start[a]; b < h->start[a + 1]; b++)
      if (inv[h->col[b]] >= r) {
        ck[nk].c = inv[h->col[b]];
        ck[nk++].b = b;
      }
    qsort(ck, (size_t)nk, sizeof *ck, cmp_colkey);
    for (int q = 0; q < nk; q++) {
      const long b = ck[q].b;
      const double w = isq[a] * isq[h->col[b]];
      u->col[nb] = ck[q].c;
      for (int e = 0; e < 9; e++) u->blk[9 * nb + e] = w * h->blk[9 * b + e];
      nb++;
    }
  }
  free(inv);
  free(ck);
  for (int i = 0; !perm && i < n; i++) {
    u->start[i] = nb;
    for (long b = h->start[i]; b < h->start[i + 1]; b++) {
      int j = h->col[b];
      if (j < i) continue;
      u->col[nb] = j;
      for (int q = 0; q < 9; q++) u->blk[9 * nb + q] = isq[i] * isq[j] * h->blk[9 * b + q];
      nb++;
    }
  }
  u->start[n] = nb;
  u->lo[0] = 0;
  for (int c = 1, i = 0; c <= nt; c++) {
    long want = nb * c / nt;
    while (i < n && u->start[i] < want) i++;
    u->lo[c] = c == nt ? n : i;
  }
  return ENG_OK;
}

/* y = D x from the upper triangle. */
static void dupper_apply(const dupper *u, const double *x, double *y) {
  const long n3 = 3L * u->n;
#pragma omp parallel for schedule(static, 1) num_threads(u->nchunk) if (u->nchunk > 1)
  for (int c = 0; c < u->nchunk; c++) {
    double *yc = c ? u->ybuf + (size_t)(c - 1) * n3 : y;
    memset(yc, 0, (size_t)n3 * sizeof *yc);
    for (int i = u->lo[c]; i < u->lo[c + 1]; i++) {
      const double *xi = x + 3 * (size_t)i;
      double s0 = 0, s1 = 0, s2 = 0;
      for (long b = u->start[i]; b < u->start[i + 1]; b++) {
        const double *m = u->blk + 9 * b;
        const int j = u->col[b];
        const double *xj = x + 3 * (size_t)j;
        s0 += m[0] * xj[0] + m[1] * xj[1] + m[2] * xj[2];
        s1 += m[3] * xj[0] + m[4] * xj[1] + m[5] * xj[2];
        s2 += m[6] * xj[0] + m[7] * xj[1] + m[8] * xj[2];
        if (j != i) {
          double *yj = yc + 3 * (size_t)j;
          yj[0] += m[0] * xi[0] + m[3] * xi[1] + m[6] * xi[2];
          yj[1] += m[1] * xi[0] + m[4] * xi[1] + m[7] * xi[2];
          yj[2] += m[2] * xi[0] + m[5] * xi[1] + m[8] * xi[2];
        }
      }
      yc[3 * i] += s0;
      yc[3 * i + 1] += s1;
      yc[3 * i + 2] += s2;
    }
  }
  for (int c = 1; c < u->nchunk; c++) {
    const double *yc = u->ybuf + (size_t)(c - 1) * n3;
    for (long k = 0; k < n3; k++) y[k] += yc[k];
  }
}

/* Matrix-free Lanczos: ARPACK dsaupd mode 1 (which = SA) on P D P with
 * D applied from the block Hessian.  Memory: the Hessian plus ncv + O(1)
 * vectors of 3N. */
static int solve_lanczos(const eng_hessian *h, const double *t, const double *isq, int k,
                         const eng_modes_opts *o, eng_progress_fn progress, void *ud,
                         eng_modes *m) {
  const long n3 = 3L * h->natoms;
  int rc = ENG_ENOMEM, locked = 0, nop = 0;
  a_int ncv = o->ncv > 0 ? o->ncv : (2 * k + 20 > 60 ? 2 * k + 20 : 60);
  a_int lworkl, ido = 0, info = 1, iparam[11], ipntr[14];
  double *resid = NULL, *v = NULL, *workd = NULL, *workl = NULL, *dval = NULL, *z = NULL,
         *tmp = NULL, *tmp2 = NULL, c = 0;
  a_int *select = NULL;
  dupper du;

  memset(&du, 0, sizeof du);

  /* Gershgorin bound of D: c >= lambda_max */
  for (int i = 0; i < h->natoms; i++)
    for (int a = 0; a < 3; a++) {
      double r = 0;
      for (long b = h->start[i]; b < h->start[i + 1]; b++) {
        const double *blk = h->blk + 9 * b + 3 * a;
        r += isq[i] * isq[h->col[b]] * (fabs(blk[0]) + fabs(blk[1]) + fabs(blk[2]));
      }
      c = fmax(c, r);
    }
  c = 1.01 * c + 1e-12;
  if (ncv > n3 - 3) ncv = (a_int)(n3 - 3);
  if (ncv <= k) return eng_set_error(ENG_EINVAL, "%d modes of %ld need ncv > k (got %d)", k, n3, (int)ncv);
  lworkl = ncv * (ncv + 8);
  resid = eng__malloc((size_t)n3, sizeof *resid);
  v = eng__malloc((size_t)(n3 * ncv), sizeof *v);
  workd = eng__malloc((size_t)(3 * n3), sizeof *workd);
  workl = eng__malloc((size_t)lworkl, sizeof *workl);
  dval = eng__malloc((size_t)ncv, sizeof *dval);
  tmp = eng__malloc((size_t)n3, sizeof *tmp);
  tmp2 = eng__malloc((size_t)n3, sizeof *tmp2);
  select = eng__calloc((size_t)ncv, sizeof *select);
  if (!resid || !v || !workd || !workl || !dval || !tmp || !tmp2 || !select) goto out;
  if (dupper_build(h, isq, NULL, &du)) goto out;
  {
    eng_rng r;
    eng_rng_seed(&r, 0x6d6f646573ULL);
    for (long i = 0; i < n3; i++) resid[i] = eng_rng_uniform(&r) - 0.5;
    project(t, n3, resid);
  }
  memset(iparam, 0, sizeof iparam);
  memset(ipntr, 0, sizeof ipntr);
  iparam[0] = 1;
  iparam[2] = o->max_restarts;
  iparam[6] = 1;
  pthread_mutex_lock(&arpack_lock);
  locked = 1;
  for (;;) {
    dsaupd_c(&ido, "I", (a_int)n3, "SA", (a_int)k, o->tol, resid, ncv, v, (a_int)n3, iparam,
             ipntr, workd, workl, lworkl, &info);
    if (ido == -1 || ido == 1) {
      const double *x = workd + ipntr[0] - 1;
      double *y = workd + ipntr[1] - 1, tx[3];
      /* y = P D P x + c T T^T x: the translations sit at c, above the
       * spectrum, and are never among the smallest */
      memcpy(tmp2, x, (size_t)n3 * sizeof *tmp2);
      for (int a = 0; a < 3; a++) tx[a] = eng__dot(t + a * n3, tmp2, n3);
      project(t, n3, tmp2);
      dupper_apply(&du, tmp2, y);
      project(t, n3, y);
      for (int a = 0; a < 3; a++)
        for (long i = 0; i < n3; i++) y[i] += c * tx[a] * t[a * n3 + i];
      nop++;
      if (progress && nop % 500 == 0) {
        char msg[96];
        snprintf(msg, sizeof msg, "Lanczos: %d products with D", nop);
        if (progress(ud, fmin(0.9, 0.1 + 0.8 * nop / (double)(nop + 20 * ncv)), msg)) {
          rc = eng_set_error(ENG_ECANCEL, "modes: cancelled");
          goto out;
        }
      }
    } else {
      break;
    }
  }
  m->nop = nop;
  m->iterations = (int)iparam[2];
  if (info < 0 || info == 1 || info == 3) {
    rc = eng_set_error(ENG_ENOCONV,
                       "modes: ARPACK dsaupd info %d after %d restarts (%d of %d converged)",
                       (int)info, (int)iparam[2], (int)iparam[4], k);
    goto out;
  }
  z = eng__malloc((size_t)(n3 * k), sizeof *z);
  if (!z) goto out;
  dseupd_c(1, "A", select, dval, z, (a_int)n3, 0.0, "I", (a_int)n3, "SA", (a_int)k, o->tol,
           resid, ncv, v, (a_int)n3, iparam, ipntr, workd, workl, lworkl, &info);
  if (info != 0 || iparam[4] < k) {
    rc = eng_set_error(ENG_ENOCONV, "modes: ARPACK dseupd info %d (%d of %d converged)",
                       (int)info, (int)iparam[4], k);
    goto out;
  }
  pthread_mutex_unlock(&arpack_lock);
  locked = 0;
  memcpy(m->lambda, dval, (size_t)k * sizeof *dval);
  memcpy(m->evec, z, (size_t)(n3 * k) * sizeof *z);
  m->solver = ENG_MODES_LANCZOS;
  rc = ENG_OK;
out:
  if (locked) pthread_mutex_unlock(&arpack_lock);
  free(resid);
  free(v);
  free(workd);
  free(workl);
  free(dval);
  free(tmp);
  free(tmp2);
  free(select);
  free(z);
  dupper_free(&du);
  return rc;
}

/* ---- Chebyshev-filtered subspace iteration (CHEBYSHEV) ---- */

/* Columns per packed chunk of the block product: the 3x3 block is read
 * once for CW vectors, which sit interleaved (x[(3 i + a) CW + v]). */
#define CW 8

/* y += D x over block rows lo..hi-1 of the upper triangle, for CW
 * interleaved vectors.  Compiled twice: generic and for AVX2 + FMA
 * (chosen at run time by cheb_rows). */
static inline __attribute__((always_inline)) void
cheb_rows_body(const dupper *u, int lo, int hi, const double *restrict x, double *restrict y) {
  for (int i = lo; i < hi; i++) {
    const double *xi = x + (size_t)3 * CW * i;
    double s0[CW], s1[CW], s2[CW];
    long b = u->start[i];
    for (int v = 0; v < CW; v++) s0[v] = s1[v] = s2[v] = 0;
    if (b < u->start[i + 1] && u->col[b] == i) { /* diagonal block (first) */
      const double *m = u->blk + 9 * b;
      for (int v = 0; v < CW; v++) {
        s0[v] += m[0] * xi[v] + m[1] * xi[CW + v] + m[2] * xi[2 * CW + v];
        s1[v] += m[3] * xi[v] + m[4] * xi[CW + v] + m[5] * xi[2 * CW + v];
        s2[v] += m[6] * xi[v] + m[7] * xi[CW + v] + m[8] * xi[2 * CW + v];
      }
      b++;
    }
    for (; b < u->start[i + 1]; b++) {
      const double *m = u->blk + 9 * b;
      const double m0 = m[0], m1 = m[1], m2 = m[2], m3 = m[3], m4 = m[4], m5 = m[5], m6 = m[6],
                   m7 = m[7], m8 = m[8];
      const double *xj = x + (size_t)3 * CW * u->col[b];
      double *yj = y + (size_t)3 * CW * u->col[b];
      for (int v = 0; v < CW; v++) {
        const double a0 = xj[v], a1 = xj[CW + v], a2 = xj[2 * CW + v];
        const double c0 = xi[v], c1 = xi[CW + v], c2 = xi[2 * CW + v];
        s0[v] += m0 * a0 + m1 * a1 + m2 * a2;
        s1[v] += m3 * a0 + m4 * a1 + m5 * a2;
        s2[v] += m6 * a0 + m7 * a1 + m8 * a2;
        yj[v] += m0 * c0 + m3 * c1 + m6 * c2;
        yj[CW + v] += m1 * c0 + m4 * c1 + m7 * c2;
        yj[2 * CW + v] += m2 * c0 + m5 * c1 + m8 * c2;
      }
    }
    double *yi = y + (size_t)3 * CW * i;
    for (int v = 0; v < CW; v++) {
      yi[v] += s0[v];
      yi[CW + v] += s1[v];
      yi[2 * CW + v] += s2[v];
    }
  }
}

__attribute__((target("avx2,fma"))) static void
cheb_rows_avx2(const dupper *u, int lo, int hi, const double *restrict x, double *restrict y) {
  cheb_rows_body(u, lo, hi, x, y);
}

static void cheb_rows_generic(const dupper *u, int lo, int hi, const double *restrict x,
                              double *restrict y) {
  cheb_rows_body(u, lo, hi, x, y);
}

static void cheb_rows(const dupper *u, int lo, int hi, const double *x, double *y) {
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    cheb_rows_avx2(u, lo, hi, x, y);
  else
    cheb_rows_generic(u, lo, hi, x, y);
}

/* Y = D X for ncols column-major vectors (leading dimension 3N), through
 * packed chunks of CW columns; xw holds 3N*CW doubles, yw nchunk*3N*CW.
 * Each thread (row chunk c) scatters into its own yw slice; the slices
 * are summed in chunk order, so the result does not depend on timing. */
static void cheb_mult(const dupper *u, int ncols, const double *X, double *Y, double *xw,
                      double *yw) {
  const long n3 = 3L * u->n;
  for (int c0 = 0; c0 < ncols; c0 += CW) {
    const int w = ncols - c0 < CW ? ncols - c0 : CW;
    for (long i = 0; i < n3; i++) {
      const long io = u->perm ? 3L * u->perm[i / 3] + i % 3 : i; /* row i's dof */
      for (int v = 0; v < w; v++) xw[i * CW + v] = X[(size_t)(c0 + v) * n3 + io];
      for (int v = w; v < CW; v++) xw[i * CW + v] = 0;
    }
#pragma omp parallel for schedule(static, 1) num_threads(u->nchunk) if (u->nchunk > 1)
    for (int c = 0; c < u->nchunk; c++) {
      double *yc = yw + (size_t)c * n3 * CW;
      memset(yc, 0, (size_t)n3 * CW * sizeof *yc);
      cheb_rows(u, u->lo[c], u->lo[c + 1], xw, yc);
    }
    for (int v = 0; v < w; v++) {
      double *y = Y + (size_t)(c0 + v) * n3;
      for (long i = 0; i < n3; i++) {
        const long io = u->perm ? 3L * u->perm[i / 3] + i % 3 : i;
        double sum = yw[i * CW + v];
        for (int c = 1; c < u->nchunk; c++) sum += yw[(size_t)c * n3 * CW + i * CW + v];
        y[io] = sum;
      }
    }
  }
}

/* Upper bound of the spectrum of P D P: nsteps Lanczos steps from a seeded
 * random vector (full reorthogonalisation), bound = largest Ritz value +
 * |beta_m s_m| (its residual), capped by the Gershgorin bound gersh.
 * work: (nsteps + 2) * 3N doubles. */
static int cheb_upper(const dupper *u, const double *t, double gersh, int nsteps, double *work,
                      double *xw, double *yw, double *out) {
  const long n3 = 3L * u->n;
  double *V = work, *w = work + (size_t)(nsteps + 1) * n3;
  double alpha[64], beta[64], d[64], e[64], z[64 * 64];
  int m = 0;
  eng_rng r;
  assert(nsteps <= 63);
  eng_rng_seed(&r, 0x757070657262ULL);
  for (long i = 0; i < n3; i++) V[i] = eng_rng_uniform(&r) - 0.5;
  project(t, n3, V);
  {
    double nv = sqrt(eng__dot(V, V, n3));
    for (long i = 0; i < n3; i++) V[i] /= nv;
  }
  for (m = 0; m < nsteps; m++) {
    double *vm = V + (size_t)m * n3, *vn = V + (size_t)(m + 1) * n3;
    cheb_mult(u, 1, vm, w, xw, yw);
    project(t, n3, w);
    alpha[m] = eng__dot(vm, w, n3);
    for (int pass = 0; pass < 2; pass++)
      for (int q = 0; q <= m; q++) {
        const double *vq = V + (size_t)q * n3;
        double s = eng__dot(vq, w, n3);
        for (long i = 0; i < n3; i++) w[i] -= s * vq[i];
      }
    beta[m] = sqrt(eng__dot(w, w, n3));
    if (!(beta[m] > 1e-14 * fabs(alpha[m])) || m + 1 == nsteps) {
      m++;
      break;
    }
    for (long i = 0; i < n3; i++) vn[i] = w[i] / beta[m];
  }
  memcpy(d, alpha, (size_t)m * sizeof *d);
  memcpy(e, beta, (size_t)m * sizeof *e);
  if (LAPACKE_dstev(LAPACK_COL_MAJOR, 'V', m, d, e, z, m) != 0)
    return eng_set_error(ENG_ENOCONV, "modes: dstev failed on the %d-step Lanczos matrix", m);
  /* largest Ritz value d[m-1]; its residual beta_m |last component| */
  *out = fmin(gersh, 1.01 * (d[m - 1] + fabs(beta[m - 1] * z[(size_t)(m - 1) * m + m - 1])));
  return ENG_OK;
}

/* Atoms in Morton (Z-curve) order of 4 A cells of their fractional
 * coordinates: atoms coupled by the Hessian (within 2 r_c) are then close
 * in memory, so the block product's vectors stay in cache.  Only speed
 * depends on it.  Returns perm (new -> atom), caller frees; NULL if out
 * of memory. */
typedef struct mkey {
  uint64_t key;
  int atom;
} mkey;

static int cmp_mkey(const void *a, const void *b) {
  const mkey *x = a, *y = b;
  if (x->key != y->key) return x->key < y->key ? -1 : 1;
  return (x->atom > y->atom) - (x->atom < y->atom);
}

static int *spatial_order(const eng_system *sys) {
  const int n = sys->natoms;
  mkey *k = eng__malloc((size_t)n, sizeof *k);
  int *perm = eng__malloc((size_t)n, sizeof *perm), nc[3];
  if (!k || !perm) {
    free(k);
    free(perm);
    return NULL;
  }
  for (int d = 0; d < 3; d++) {
    nc[d] = (int)(sys->box.len[d] / 4.0);
    nc[d] = nc[d] < 1 ? 1 : nc[d] > 1023 ? 1023 : nc[d];
  }
  for (int i = 0; i < n; i++) {
    double f[3];
    uint64_t key = 0;
    unsigned c[3];
    eng_box_to_frac(&sys->box, sys->x + 3 * i, f);
    for (int d = 0; d < 3; d++) {
      double q = f[d] - floor(f[d]);
      int ci = (int)(q * nc[d]);
      c[d] = (unsigned)(ci < 0 ? 0 : ci >= nc[d] ? nc[d] - 1 : ci);
    }
    for (int bit = 0; bit < 10; bit++)
      for (int d = 0; d < 3; d++) key |= (uint64_t)((c[d] >> bit) & 1u) << (3 * bit + d);
    k[i].key = key;
    k[i].atom = i;
  }
  qsort(k, (size_t)n, sizeof *k, cmp_mkey);
  for (int i = 0; i < n; i++) perm[i] = k[i].atom;
  free(k);
  return perm;
}

/* Orthonormal columns: X (3N x p) <- Q of its QR factorisation. */
static int cheb_orth(long n3, int p, double *X, double *tau) {
  if (LAPACKE_dgeqrf(LAPACK_COL_MAJOR, (lapack_int)n3, p, X, (lapack_int)n3, tau) != 0 ||
      LAPACKE_dorgqr(LAPACK_COL_MAJOR, (lapack_int)n3, p, p, X, (lapack_int)n3, tau) != 0)
    return eng_set_error(ENG_ENOCONV, "modes: QR of the %ld x %d block failed", n3, p);
  return ENG_OK;
}

/* Rayleigh-Ritz on span(X): W = D X, H = X^T W, H = S diag(theta) S^T,
 * X <- X S, W <- W S (tmp: 3N x p scratch).  theta ascending. */
static int cheb_rr(const dupper *u, long n3, int p, double *X, double *W, double *tmp, double *H,
                   double *theta, double *xw, double *yw, long *nop) {
  cheb_mult(u, p, X, W, xw, yw);
  *nop += p;
  cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, p, p, (int)n3, 1.0, X, (int)n3, W,
              (int)n3, 0.0, H, p);
  for (int a = 0; a < p; a++)
    for (int b = a + 1; b < p; b++) {
      double v = 0.5 * (H[(size_t)a * p + b] + H[(size_t)b * p + a]);
      H[(size_t)a * p + b] = H[(size_t)b * p + a] = v;
    }
  if (LAPACKE_dsyev(LAPACK_COL_MAJOR, 'V', 'U', p, H, p, theta) != 0)
    return eng_set_error(ENG_ENOCONV, "modes: dsyev of the %d x %d Rayleigh quotient failed", p, p);
  cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)n3, p, p, 1.0, X, (int)n3, H, p,
              0.0, tmp, (int)n3);
  memcpy(X, tmp, (size_t)n3 * p * sizeof *X);
  cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)n3, p, p, 1.0, W, (int)n3, H, p,
              0.0, tmp, (int)n3);
  memcpy(W, tmp, (size_t)n3 * p * sizeof *W);
  return ENG_OK;
}

/* Chebyshev-filtered subspace iteration (Zhou & Saad 2007) on P D P for
 * the k lowest eigenpairs; a block of p > k vectors.  Per iteration: the
 * not yet converged columns are multiplied by T_m((D - c)/e), the Chebyshev
 * polynomial of degree m of the first kind on [a, b] mapped to [-1, 1]
 * (c = (a+b)/2, e = (b-a)/2; |T_m| <= 1 there, growing as
 * cosh(m acosh((c - lambda)/e)) below a), the translations are projected
 * out, the block is orthonormalised (QR) and Rayleigh-Ritz gives the new
 * Ritz pairs.  a = the largest Ritz value of the block (adapts as the block
 * converges), b >= lambda_max (cheb_upper).  Stops when the k lowest Ritz
 * pairs all have |D x - theta x| <= tol max(|theta|, 1e-8 b). */
static int solve_cheb(const eng_hessian *h, const eng_system *sys, const double *t,
                      const double *isq, int k,
                      const eng_modes_opts *o, eng_progress_fn progress, void *ud,
                      eng_modes *m) {
  const long n3 = 3L * h->natoms;
  int p = o->cheb_block > 0 ? o->cheb_block : k + (k / 2 > 8 ? k / 2 : 8);
  const int deg = o->cheb_degree > 0 ? o->cheb_degree : 40;
  const double tol = o->cheb_tol > 0 ? o->cheb_tol : 1e-4;
  const int maxit = o->cheb_max_iter > 0 ? o->cheb_max_iter : 100;
  int rc = ENG_ENOMEM, nconv = 0, it;
  long nop = 0;
  double *X = NULL, *W = NULL, *F0 = NULL, *F1 = NULL, *H = NULL, *theta = NULL, *tau = NULL,
         *xw = NULL, *yw = NULL, *res = NULL, gersh = 0, b = 0, a = 0;
  dupper du;

  memset(&du, 0, sizeof du);
  if (p > n3 - 3) p = (int)(n3 - 3);
  if (p <= k && p < n3 - 3)
    return eng_set_error(ENG_EINVAL, "modes: cheb_block %d must exceed the %d modes wanted", p, k);
  {
    int *perm = spatial_order(sys);
    if (!perm || dupper_build(h, isq, perm, &du)) goto out;
  }
  X = eng__malloc((size_t)n3 * p, sizeof *X);
  W = eng__malloc((size_t)n3 * p, sizeof *W);
  F0 = eng__malloc((size_t)n3 * p, sizeof *F0);
  F1 = eng__malloc((size_t)n3 * p, sizeof *F1);
  H = eng__malloc((size_t)p * p, sizeof *H);
  theta = eng__malloc((size_t)p, sizeof *theta);
  tau = eng__malloc((size_t)p, sizeof *tau);
  res = eng__malloc((size_t)p, sizeof *res);
  xw = eng__malloc((size_t)n3 * CW, sizeof *xw);
  yw = eng__malloc((size_t)n3 * CW * du.nchunk, sizeof *yw);
  if (!X || !W || !F0 || !F1 || !H || !theta || !tau || !res || !xw || !yw) goto out;

  /* Gershgorin bound of D, then the Lanczos estimate of lambda_max */
  for (int i = 0; i < h->natoms; i++)
    for (int q = 0; q < 3; q++) {
      double r = 0;
      for (long bb = h->start[i]; bb < h->start[i + 1]; bb++) {
        const double *blk = h->blk + 9 * bb + 3 * q;
        r += isq[i] * isq[h->col[bb]] * (fabs(blk[0]) + fabs(blk[1]) + fabs(blk[2]));
      }
      gersh = fmax(gersh, r);
    }
  {
    int ns = n3 - 3 < 40 ? (int)(n3 - 3) : 40;
    double *lw = eng__malloc((size_t)n3 * (ns + 2), sizeof *lw);
    if (!lw) goto out;
    rc = cheb_upper(&du, t, gersh, ns, lw, xw, yw, &b);
    free(lw);
    if (rc) goto out;
    rc = ENG_ENOMEM;
    nop += ns;
  }
  /* random start, projected, orthonormal */
  {
    eng_rng r;
    eng_rng_seed(&r, 0x6d6f646573ULL);
    for (long i = 0; i < n3 * p; i++) X[i] = eng_rng_uniform(&r) - 0.5;
    for (int j = 0; j < p; j++) project(t, n3, X + (size_t)j * n3);
  }
  rc = cheb_orth(n3, p, X, tau);
  if (rc) goto out;
  rc = cheb_rr(&du, n3, p, X, W, F0, H, theta, xw, yw, &nop);
  if (rc) goto out;
  for (it = 0;; it++) {
    /* residuals of the k lowest, leading converged count */
    nconv = 0;
    for (int j = 0; j < p; j++) {
      const double *x = X + (size_t)j * n3, *w = W + (size_t)j * n3;
      double r2 = 0;
      for (long i = 0; i < n3; i++) r2 += eng__sq(w[i] - theta[j] * x[i]);
      res[j] = sqrt(r2) / fmax(fabs(theta[j]), 1e-8 * b);
    }
    while (nconv < k && res[nconv] <= tol) nconv++;
    if (progress) {
      char msg[160];
      snprintf(msg, sizeof msg, "Chebyshev: iteration %d, %d of %d converged (worst %.2g), "
               "%ld products, filter [%.3g, %.3g]", it, nconv, k, res[nconv < k ? nconv : k - 1],
               nop, a, b);
      if (progress(ud, fmin(0.95, 0.1 + 0.85 * nconv / (double)k), msg)) {
        rc = eng_set_error(ENG_ECANCEL, "modes: cancelled");
        goto out;
      }
    }
    if (nconv >= k || p >= n3 - 3) break;
    if (it >= maxit) {
      rc = eng_set_error(ENG_ENOCONV, "modes: Chebyshev filter: %d of %d modes converged to "
                         "%g after %d iterations (%ld products)", nconv, k, tol, it, nop);
      goto out;
    }
    /* filter the active columns nconv..p-1 with T_deg on [a, b] */
    a = fmin(theta[p - 1], 0.95 * b);
    {
      const int na = p - nconv;
      const double c = 0.5 * (b + a), e = 0.5 * (b - a);
      double *Y0 = F0, *Y1 = F1, *Y2 = W; /* W is rebuilt by the Rayleigh-Ritz */
      memcpy(Y0, X + (size_t)nconv * n3, (size_t)n3 * na * sizeof *Y0);
      cheb_mult(&du, na, Y0, Y1, xw, yw);
      nop += na;
      for (long i = 0; i < n3 * na; i++) Y1[i] = (Y1[i] - c * Y0[i]) / e;
      /* the first iterations, while a is still far above lambda_k, only
       * need to damp the upper spectrum: degree deg/4, deg/2, then deg */
      const int degit = it == 0 ? (deg + 3) / 4 : it == 1 ? (deg + 1) / 2 : deg;
      for (int d = 2; d <= degit; d++) {
        cheb_mult(&du, na, Y1, Y2, xw, yw);
        nop += na;
        for (long i = 0; i < n3 * na; i++) Y2[i] = 2.0 * (Y2[i] - c * Y1[i]) / e - Y0[i];
        /* T_d grows as cosh(d acosh x) below a: rescale a column pair
         * (the recurrence is linear) before it nears overflow */
        for (int j = 0; j < na; j++) {
          double *y1 = Y1 + (size_t)j * n3, *y2 = Y2 + (size_t)j * n3;
          double nrm = sqrt(eng__dot(y2, y2, n3));
          if (nrm > 1e100)
            for (long i = 0; i < n3; i++) {
              y1[i] /= nrm;
              y2[i] /= nrm;
            }
        }
        double *sw = Y0; /* (Y0, Y1, Y2) <- (Y1, Y2, Y0) */
        Y0 = Y1;
        Y1 = Y2;
        Y2 = sw;
      }
      memcpy(X + (size_t)nconv * n3, Y1, (size_t)n3 * na * sizeof *X);
    }
    for (int j = nconv; j < p; j++) project(t, n3, X + (size_t)j * n3);
    rc = cheb_orth(n3, p, X, tau);
    if (rc) goto out;
    rc = cheb_rr(&du, n3, p, X, W, F0, H, theta, xw, yw, &nop);
    if (rc) goto out;
  }
  memcpy(m->lambda, theta, (size_t)k * sizeof *theta);
  memcpy(m->evec, X, (size_t)n3 * k * sizeof *X);
  m->solver = ENG_MODES_CHEBYSHEV;
  m->iterations = it;
  m->nop = (int)(nop > INT_MAX ? INT_MAX : nop);
  m->block = p;
  m->degree = deg;
  m->filter_lo = a;
  m->filter_hi = b;
  m->tol = tol;
  rc = ENG_OK;
out:
  free(X);
  free(W);
  free(F0);
  free(F1);
  free(H);
  free(theta);
  free(tau);
  free(res);
  free(xw);
  free(yw);
  dupper_free(&du);
  return rc;
}

/* Lowest modes of D without the translations; caller frees.  ENG_EINVAL,
 * ENG_ENOCONV, ENG_ENOMEM, ENG_ECANCEL.  Contract in engine.h. */
int eng_modes_lowest(const eng_hessian *h, const eng_system *sys, const eng_modes_opts *opts,
                     eng_progress_fn progress, void *ud, eng_modes **out) {
  eng_modes_opts o;
  eng_modes *m = NULL;
  double *t = NULL, *isq = NULL;
  int rc, k;
  eng_modes_solver solver;

  if (!out) return eng_set_error(ENG_EINVAL, "eng_modes_lowest: out is NULL");
  *out = NULL;
  if (!h || !sys) return eng_set_error(ENG_EINVAL, "eng_modes_lowest: need a Hessian and a system");
  if (h->natoms != sys->natoms)
    return eng_set_error(ENG_EINVAL, "Hessian has %d atoms, system %d", h->natoms, sys->natoms);
  if (sys->natoms < 2) return eng_set_error(ENG_EINVAL, "normal modes need at least 2 atoms");
  if (opts) o = *opts;
  else eng_modes_opts_default(&o);
  {
    eng_modes_opts d;
    eng_modes_opts_default(&d);
    if (o.sigma == 0) o.sigma = d.sigma;
    if (o.tol == 0) o.tol = d.tol;
    if (o.max_restarts == 0) o.max_restarts = d.max_restarts;
    if (o.dense_max_atoms == 0) o.dense_max_atoms = d.dense_max_atoms;
    if (o.sparse_max_atoms == 0) o.sparse_max_atoms = d.sparse_max_atoms;
    if (o.max_factor_gb == 0) o.max_factor_gb = d.max_factor_gb;
    if (o.nmodes == 0 && o.mode_fraction == 0) o.mode_fraction = d.mode_fraction;
  }
  if (!(o.sigma < 0) || !isfinite(o.sigma))
    return eng_set_error(ENG_EINVAL, "modes: sigma must be < 0 eV/(A^2 amu) (got %g)", o.sigma);
  if (!(o.tol > 0) || !(o.mode_fraction >= 0 && o.mode_fraction <= 1) || o.max_restarts < 0 ||
      o.ncv < 0 || o.nmodes < -1)
    return eng_set_error(ENG_EINVAL, "modes: invalid options (tol %g, mode_fraction %g, "
                         "max_restarts %d, ncv %d, nmodes %d)", o.tol, o.mode_fraction,
                         o.max_restarts, o.ncv, o.nmodes);
  if (o.cheb_degree < 0 || o.cheb_block < 0 || !(o.cheb_tol >= 0) || o.cheb_max_iter < 0)
    return eng_set_error(ENG_EINVAL, "modes: invalid Chebyshev options (degree %d, block %d, "
                         "tol %g, max_iter %d)", o.cheb_degree, o.cheb_block, o.cheb_tol,
                         o.cheb_max_iter);
  if (o.solver != ENG_MODES_AUTO && o.solver != ENG_MODES_DENSE && o.solver != ENG_MODES_SPARSE &&
      o.solver != ENG_MODES_LANCZOS && o.solver != ENG_MODES_CHEBYSHEV)
    return eng_set_error(ENG_EINVAL, "modes: unknown solver %d", (int)o.solver);
  if (o.nmodes > 3 * sys->natoms - 3)
    return eng_set_error(ENG_EINVAL, "modes: %d modes asked, a system of %d atoms has %d",
                         o.nmodes, sys->natoms, 3 * sys->natoms - 3);
  for (int i = 0; i < sys->natoms; i++)
    if (!(eng_system_mass(sys, i) > 0))
      return eng_set_error(ENG_EINVAL, "modes: atom %d has mass %g amu (must be > 0)", i,
                           eng_system_mass(sys, i));
  k = eng_modes_count(&o, sys->natoms);
  solver = o.solver;
  if (solver == ENG_MODES_AUTO)
    solver = (sys->natoms <= o.dense_max_atoms || o.nmodes < 0) ? ENG_MODES_DENSE
             : sys->natoms <= o.sparse_max_atoms                ? ENG_MODES_SPARSE
                                                                : ENG_MODES_CHEBYSHEV;
  if (solver != ENG_MODES_DENSE && o.nmodes < 0)
    return eng_set_error(ENG_EINVAL, "modes: all modes (nmodes -1) need the dense solver");

  rc = ENG_ENOMEM;
  t = eng__malloc((size_t)9 * sys->natoms, sizeof *t);
  isq = eng__malloc((size_t)sys->natoms, sizeof *isq);
  m = modes_alloc(sys->natoms, k);
  if (!t || !isq || !m) goto out;
  translations(sys, t);
  for (int i = 0; i < sys->natoms; i++) isq[i] = 1.0 / sqrt(eng_system_mass(sys, i));
  if (solver == ENG_MODES_DENSE) rc = solve_dense(h, sys, t, k, m);
  else if (solver == ENG_MODES_LANCZOS) rc = solve_lanczos(h, t, isq, k, &o, progress, ud, m);
  else if (solver == ENG_MODES_CHEBYSHEV) rc = solve_cheb(h, sys, t, isq, k, &o, progress, ud, m);
  else {
    rc = solve_sparse(h, sys, t, isq, k, &o, progress, ud, m);
    /* AUTO: a factor above max_factor_gb (refused after the symbolic
     * analysis, before the large allocations) falls back to CHEBYSHEV */
    if (rc == ENG_ENOMEM && o.solver == ENG_MODES_AUTO && m->factor_gb > 0 &&
        o.max_factor_gb > 0 && m->factor_gb > o.max_factor_gb)
      rc = solve_cheb(h, sys, t, isq, k, &o, progress, ud, m);
  }
  if (!rc && m->solver != ENG_MODES_CHEBYSHEV) m->tol = solver == ENG_MODES_DENSE ? 0 : o.tol;
  if (rc) goto out;
  rc = finish_modes(m, h, isq);
  if (rc) goto out;
  if (progress && progress(ud, 1.0, "modes done")) {
    rc = eng_set_error(ENG_ECANCEL, "modes: cancelled");
    goto out;
  }
  *out = m;
  m = NULL;
out:
  eng_modes_free(m);
  free(t);
  free(isq);
  return rc;
}

/* Paper Eq. 4: p_i = sum over the lowest nlow modes of |e^i|^2
 * (dimensionless, sum_i p_i = nlow).  ENG_EINVAL on bad arguments. */
int eng_participation(const eng_modes *m, int nlow, double *p) {
  if (!m || !p) return eng_set_error(ENG_EINVAL, "eng_participation: NULL argument");
  if (nlow <= 0) nlow = m->nmodes;
  if (nlow > m->nmodes)
    return eng_set_error(ENG_EINVAL, "participation over %d modes, only %d computed", nlow,
                         m->nmodes);
  memset(p, 0, (size_t)m->natoms * sizeof *p);
  for (int a = 0; a < nlow; a++) {
    const double *e = m->evec + (size_t)a * m->ndof;
    for (int i = 0; i < m->natoms; i++)
      p[i] += e[3 * i] * e[3 * i] + e[3 * i + 1] * e[3 * i + 1] + e[3 * i + 2] * e[3 * i + 2];
  }
  return ENG_OK;
}

/* Histogram VDOS over [0, fmax) THz, 1/THz, normalised per mode held. */
int eng_vdos(const eng_modes *m, double fmax, int nbins, double *g) {
  if (!m || !g || nbins <= 0 || !(fmax > 0) || !isfinite(fmax))
    return eng_set_error(ENG_EINVAL, "eng_vdos: need modes, fmax > 0 THz and nbins > 0");
  double df = fmax / nbins;
  memset(g, 0, (size_t)nbins * sizeof *g);
  for (int a = 0; a < m->nmodes; a++) {
    double f = m->thz[a];
    if (f < 0 || f >= fmax) continue;
    int b = (int)(f / df);
    if (b >= nbins) b = nbins - 1;
    g[b] += 1.0 / (m->nmodes * df);
  }
  return ENG_OK;
}

/* k_B T sum_m |e_m^i|^2 / (m_i lambda_m) over modes with lambda > 0, A^2. */
int eng_msd_harmonic(const eng_modes *m, const eng_system *sys, double T, double *msd) {
  if (!m || !sys || !msd || sys->natoms != m->natoms || !(T >= 0) || !isfinite(T))
    return eng_set_error(ENG_EINVAL, "eng_msd_harmonic: need modes, the same system and T >= 0 K");
  memset(msd, 0, (size_t)m->natoms * sizeof *msd);
  for (int a = 0; a < m->nmodes; a++) {
    const double *e = m->evec + (size_t)a * m->ndof;
    if (!(m->lambda[a] > 0)) continue;
    double w = ENG_KB * T / m->lambda[a];
    for (int i = 0; i < m->natoms; i++)
      msd[i] += w * (e[3 * i] * e[3 * i] + e[3 * i + 1] * e[3 * i + 1] + e[3 * i + 2] * e[3 * i + 2]);
  }
  for (int i = 0; i < m->natoms; i++) {
    double mi = eng_system_mass(sys, i);
    if (!(mi > 0)) return eng_set_error(ENG_EINVAL, "eng_msd_harmonic: atom %d has mass %g", i, mi);
    msd[i] /= mi;
  }
  return ENG_OK;
}
