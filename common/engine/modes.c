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

#include <lapacke.h>
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
} dupper;

static void dupper_free(dupper *u) {
  free(u->start);
  free(u->col);
  free(u->lo);
  free(u->blk);
  free(u->ybuf);
  memset(u, 0, sizeof *u);
}

static int dupper_build(const eng_hessian *h, const double *isq, dupper *u) {
  const int n = h->natoms;
  long nb = 0;
  int nt = 1;
#ifdef _OPENMP
  nt = omp_get_max_threads();
#endif
  if (nt > 8) nt = 8;
  if (n < 64) nt = 1;
  memset(u, 0, sizeof *u);
  u->n = n;
  u->nchunk = nt;
  for (int i = 0; i < n; i++)
    for (long b = h->start[i]; b < h->start[i + 1]; b++) nb += h->col[b] >= i;
  u->start = eng__malloc((size_t)n + 1, sizeof *u->start);
  u->col = eng__malloc((size_t)nb, sizeof *u->col);
  u->blk = eng__malloc((size_t)nb * 9, sizeof *u->blk);
  u->lo = eng__malloc((size_t)nt + 1, sizeof *u->lo);
  u->ybuf = nt > 1 ? eng__malloc((size_t)(nt - 1) * 3 * n, sizeof *u->ybuf) : NULL;
  if (!u->start || !u->col || !u->blk || !u->lo || (nt > 1 && !u->ybuf)) {
    dupper_free(u);
    return ENG_ENOMEM;
  }
  nb = 0;
  for (int i = 0; i < n; i++) {
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
  if (dupper_build(h, isq, &du)) goto out;
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
  if (o.solver != ENG_MODES_AUTO && o.solver != ENG_MODES_DENSE && o.solver != ENG_MODES_SPARSE &&
      o.solver != ENG_MODES_LANCZOS)
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
                                                                : ENG_MODES_LANCZOS;
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
  else {
    rc = solve_sparse(h, sys, t, isq, k, &o, progress, ud, m);
    /* AUTO: a factor above max_factor_gb (refused after the symbolic
     * analysis, before the large allocations) falls back to Lanczos */
    if (rc == ENG_ENOMEM && o.solver == ENG_MODES_AUTO && m->factor_gb > 0 &&
        o.max_factor_gb > 0 && m->factor_gb > o.max_factor_gb)
      rc = solve_lanczos(h, t, isq, k, &o, progress, ud, m);
  }
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
