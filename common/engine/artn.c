/*
 * artn.c -- one ARTn event (activation-relaxation technique nouveau;
 * Barkema & Mousseau 1996, Malek & Mousseau 2000, Cances et al. 2009) from
 * a minimised structure around one atom:
 *   1. kick the atoms within perturb_radius by perturb_size in a random
 *      direction d drawn from the event's own random stream;
 *   2. push along d in basin_step increments, a few FIRE steps on the
 *      force perpendicular to d after each, until the lowest Hessian
 *      eigenvalue (Lanczos on finite-difference Hessian-vector products,
 *      restarted from the previous eigenvector) is below eigen_threshold;
 *   3. climb along the eigenvector with the Cances step
 *      min(climb_step_max, |F.v| / |lambda|), relaxing the perpendicular
 *      force with FIRE (growing step caps), until max |F| < saddle_force;
 *   4. step down both sides of the saddle along the eigenvector (with
 *      perpendicular relaxation), minimise each; the saddle must connect
 *      the initial minimum to another one (require_connect: the side
 *      towards the initial minimum first, the other only if it returns);
 *   5. a failed attempt starts again from the minimum with a new kick from
 *      the same event stream (restarts).
 * Local mode cuts a cluster (moving sphere + a fixed one-cutoff shell, the
 * rest of the system as a constant background density) out of the periodic
 * system, runs 1-4 there, and refines the saddle in the full system or in
 * a bigger cluster (refine_radius).  Rigid translations are projected out of every push and Lanczos
 * vector in whole-system mode.  docs/artn.md describes the method, the
 * defaults and the measured behaviour.
 *
 * Units: A, eV, eV/A, eV/A^2.  FIRE uses unit masses and a fictitious time.
 *
 * Internal convention: static functions return < 0 for engine errors
 * (ENG_E*), 0 for success and > 0 for an eng_artn_status that ends the
 * search (the event is then reported with that status, not as an error).
 */
#include "internal.h"
#include "eam_int.h"

#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* FIRE parameters (Bitzek et al. 2006), unit mass, fictitious time. */
#define FIRE_NMIN 5
#define FIRE_FINC 1.1
#define FIRE_FDEC 0.5
#define FIRE_ALPHA0 0.1
#define FIRE_FALPHA 0.99
#define FIRE_DT0 0.2
#define FIRE_DTMAX_PERP 0.4 /* perpendicular relaxation */
#define FIRE_DMAX 0.1       /* A, largest atom move per FIRE step */
/* Progress callback period, force calls. */
#define PROGRESS_EVERY 50
/* Threshold separating "moved" atoms in the event record, A. */
#define MOVED_DIST 0.1
/* Local mode: extra margin of the cluster beyond moving radius + cutoff,
 * A; also how far a moving atom may move outward with the cluster exact. */
#define SHELL_MARGIN 1.0
/* Increments tried to recover a lost eigenvalue. */
#define LOST_PUSHES 8
/* Lanczos vectors for the second-lowest eigenvalue (cold start): at most
 * SECOND_ITER, at least SECOND_MIN_ITER. */
#define SECOND_ITER 48
#define SECOND_MIN_ITER 16
/* Restarts of an unconverged second-mode Lanczos run (session 8). */
#define SECOND_RESTARTS 2
/* A converged check below this value (eV/A^2), though above -SECOND_TOL,
 * restarts as an unconverged one does (session 13). */
#define SECOND_NEAR 0.005
/* Lanczos vectors at least, to confirm a lost eigenvalue. */
#define CONFIRM_ITER 8
/* An eigenvalue below -SECOND_TOL counts as negative, eV/A^2. */
#define SECOND_TOL 1e-3
/* Push off a higher-order point along the second mode, A. */
#define SECOND_PUSH 0.2
/* Push-over (connection check): steepest-descent steps of SD_STEP (A,
 * most-moved atom), growing by SD_GROW per step while the energy falls up
 * to SD_STEP_MAX (session 7; fixed SD_STEP before), at most SD_MAX, until
 * the energy is SD_DROP (eV) below the saddle; the first push along the
 * mode is at least SD_PUSH_MIN (A); the mode is refined with at least
 * CONNECT_ITER Lanczos vectors. */
#define SD_STEP 0.01
#define SD_STEP_MAX 0.05
#define SD_GROW 1.25
#define SD_MAX 600
#define SD_DROP 0.05
#define SD_PUSH_MIN 0.1
/* ... and it stops when no step has lowered the energy for SD_STALL steps
 * (a guard: fixed-length steps can zigzag at a minimum, up-down-up,
 * without ever rising three times in a row) */
#define SD_STALL 20
#define CONNECT_ITER 8
/* Largest Newton offset along the mode at a converged saddle, in units
 * of push_over. */
#define SADDLE_LOC 0.25
/* Per-step trace on stderr when built with -DARTN_TRACE (diagnosis only). */
#ifdef ARTN_TRACE
#define TRACE(...) fprintf(stderr, __VA_ARGS__)
#else
#define TRACE(...) ((void)0)
#endif

void eng_artn_opts_default(eng_artn_opts *o) {
  assert(o);
  memset(o, 0, sizeof *o);
  o->seed = 1;
  o->perturb_radius = 2.0;
  o->perturb_size = 0.1;
  o->basin_step = 0.15;
  o->basin_relax_steps = 4;
  o->basin_max_steps = 40;
  o->eigen_threshold = -0.30;
  o->saddle_force = 0.05;
  o->refine_force = 0.0;
  o->climb_step_max = 0.15;
  o->climb_max_steps = 200;
  o->lost_retries = 20;
  o->perp_steps_max = 16;
  o->lanczos_max_iter = 20;
  o->lanczos_min_iter = 2;
  o->lanczos_tol = 0.01;
  o->lanczos_fd_step = 1e-3;
  o->push_over = 0.2;
  o->min_ftol = 1e-3;
  o->min_max_calls = 5000;
  o->check_connect = 0;
  o->check_second = 1;
  o->second_force = 0.03; /* 0.01 until session 12 (docs/artn.md, session 13) */
  o->second_retries = 3;
  o->same_dist = 0.1;
  o->same_energy = 0.01;
  o->max_energy = 15.0;
  o->max_calls = 5000;
  o->remove_translation = 1;
  o->local = 0;
  o->local_radius = 8.0;
  o->local_refine = 1;
  o->refine_radius = 0.0;
  o->refine_push = 0;
  o->refine_grow = 0.0;
  o->restarts = 3;
  o->require_connect = 1;
  o->lanczos_radius = 0.0;
  o->basin_init_steps = 3;
  o->basin_warm = 1;
  o->lost_threshold = -0.05;
  o->lost_follow = 50;
  o->basin_lanczos_gap = 0.3;
  o->refine_frozen_max = 0.5;
  o->push_radius = 0.0;
  o->second_remote = 0.0;
  o->refine_grow_hot = 0.0;
  o->lanczos_analytic = 1;
  o->memo_dist = 0.1;
  o->memo_energy = 0.02;
  o->list_skin = 1.0;
}

const char *eng_artn_status_name(eng_artn_status s) {
  switch (s) {
  case ENG_ARTN_OK: return "ok";
  case ENG_ARTN_NO_EXIT: return "no_exit";
  case ENG_ARTN_EIGEN_LOST: return "eigen_lost";
  case ENG_ARTN_MAX_CALLS: return "max_calls";
  case ENG_ARTN_MAX_STEPS: return "max_steps";
  case ENG_ARTN_ENERGY_LIMIT: return "energy_limit";
  case ENG_ARTN_RETURNED: return "returned";
  case ENG_ARTN_REFINE_FAILED: return "refine_failed";
  case ENG_ARTN_HIGHER_ORDER: return "higher_order";
  case ENG_ARTN_NOT_CONNECTED: return "not_connected";
  }
  return "unknown";
}

static uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t eng_artn_stream_seed(uint64_t seed, int64_t atom_id, long event_index) {
  uint64_t h = mix64(seed ^ 0x4152546ULL); /* "ARTn" */
  h = mix64(h ^ mix64((uint64_t)atom_id));
  h = mix64(h ^ mix64((uint64_t)event_index + 0x5bd1e995ULL));
  return h;
}

/* ------------------------------------------------------------------ */
/* Search context: one system (whole or cluster) and its work arrays   */
/* ------------------------------------------------------------------ */

typedef struct actx {
  eng_calc *calc;
  eng_system *sys;            /* working positions */
  const eng_artn_opts *o;
  int n3;
  const unsigned char *mobile; /* per atom; NULL = all atoms move */
  int project;                /* remove rigid translations */
  const double *x0;           /* initial minimum (borrowed) */
  double e0;                  /* its energy, eV */
  double e;                   /* energy at sys->x */
  double *f;                  /* forces at sys->x (zero on fixed atoms) */
  double *ftmp, *xtmp, *vel, *fp, *w, *w2, *Q;
  double *xsave, *vsave, *wsave;  /* ensure_first_order: saddle, modes */
  unsigned char *lmask;       /* per atom: inside lanczos_radius (NULL: all) */
  int full_space;             /* 1: Lanczos ignores lmask (second mode) */
  long ncalls;
  long limit;                 /* > 0: budget for the search (MAX_CALLS) */
  long budget_offset;         /* calls spent elsewhere on the same budget */
  int lanczos_iters;
  long f_nc;                  /* calculator's compute count when a->f was made
                                 (eval_at into a->f) */
  long hvp_nc;                /* ... when its Hessian products were prepared (-1) */
  long nhvp[4];               /* analytic Hessian products by phase (CAT_*) */
  int fire_keep;              /* 1: FIRE state persists between relax calls */
  double fire_dt, fire_alpha;
  int fire_npos;
  eng_progress_fn progress;
  void *ud;
  const char *phase;
  eng_rng *rng;               /* the event's stream (second-mode starts) */
  double *w3;                 /* basin: Lanczos start scratch */
  /* Compact Lanczos (session 11): with moving atoms (a cluster), the
   * Lanczos vectors live on their nc3 components only, cidx[k] the k-th
   * such component (increasing); cq, cw, cd scratch (n3).  Sums over the
   * same non-zero products in the same order: results bit for bit those
   * of the full vectors, without the frozen shell's zeros. */
  int *cidx, nc3;
  double *cq, *cw, *cd;
  int cat;                    /* phase of the current calls (CAT_*) */
  int in_lanczos;             /* 1 inside hess_vec */
  double gap_thr;             /* inside basin(): its eigenvalue threshold (the
                                 basin_lanczos_gap stop); NaN elsewhere */
  long calls_cat[4][2];       /* force calls by [phase][Lanczos] */
  long *pushoffs;             /* NULL, or the event's count of second-mode
                                 push-offs (ensure_first_order), shared by
                                 its contexts */
#ifdef ARTN_TRACE
  double cpu_cat[4];          /* CPU seconds of the force calls by phase */
#endif
} actx;

/* Phases for the force-call breakdown of the event record. */
enum { CAT_BASIN = 0, CAT_CLIMB, CAT_SECOND, CAT_PUSH };

static void actx_free(actx *a) {
  if (!a) return;
  free(a->f);
  free(a->ftmp);
  free(a->xtmp);
  free(a->vel);
  free(a->fp);
  free(a->w);
  free(a->w2);
  free(a->w3);
  free(a->Q);
  free(a->xsave);
  free(a->vsave);
  free(a->wsave);
  free(a->lmask);
  free(a->cidx);
  free(a->cq);
  free(a->cw);
  free(a->cd);
}

static int actx_init(actx *a, eng_calc *calc, eng_system *sys, const eng_artn_opts *o,
                     const unsigned char *mobile, const double *x0) {
  int n3 = 3 * sys->natoms;
  memset(a, 0, sizeof *a);
  a->gap_thr = NAN;
  a->f_nc = -1;
  a->hvp_nc = -1;
  a->calc = calc;
  a->sys = sys;
  a->o = o;
  a->n3 = n3;
  a->mobile = mobile;
  a->project = mobile == NULL && o->remove_translation;
  a->x0 = x0;
  a->f = eng__calloc((size_t)n3, sizeof(double));
  a->ftmp = eng__calloc((size_t)n3, sizeof(double));
  a->xtmp = eng__calloc((size_t)n3, sizeof(double));
  a->vel = eng__calloc((size_t)n3, sizeof(double));
  a->fp = eng__calloc((size_t)n3, sizeof(double));
  a->w = eng__calloc((size_t)n3, sizeof(double));
  a->w2 = eng__calloc((size_t)n3, sizeof(double));
  a->w3 = eng__calloc((size_t)n3, sizeof(double));
  a->xsave = eng__calloc((size_t)n3, sizeof(double));
  a->vsave = eng__calloc((size_t)n3, sizeof(double));
  a->wsave = eng__calloc((size_t)n3, sizeof(double));
  a->Q = eng__calloc((size_t)n3 * (size_t)(o->lanczos_max_iter > SECOND_ITER ? o->lanczos_max_iter : SECOND_ITER),
                     sizeof(double));
  if (!a->f || !a->ftmp || !a->xtmp || !a->vel || !a->fp || !a->w || !a->w2 || !a->w3 || !a->Q || !a->xsave ||
      !a->vsave || !a->wsave) {
    actx_free(a);
    return ENG_ENOMEM;
  }
  if (mobile) {
    a->cidx = eng__malloc((size_t)n3, sizeof(int));
    a->cq = eng__calloc((size_t)n3, sizeof(double));
    a->cw = eng__calloc((size_t)n3, sizeof(double));
    a->cd = eng__calloc((size_t)n3, sizeof(double));
    if (!a->cidx || !a->cq || !a->cw || !a->cd) {
      actx_free(a);
      return ENG_ENOMEM;
    }
    for (int i = 0; i < n3 / 3; i++)
      if (mobile[i])
        for (int k = 0; k < 3; k++) a->cidx[a->nc3++] = 3 * i + k;
  }
  return ENG_OK;
}

/* All force calls of an event so far: whole system F, search cluster L,
 * refinement cluster L2 (NULL when absent) and the refinement clusters
 * grown out of (carry). */
static long calls_all(const actx *F, const actx *L, const actx *L2, long carry) {
  return F->ncalls + (L ? L->ncalls : 0) + (L2 ? L2->ncalls : 0) + carry;
}

/* Analytic Hessian products (lanczos_analytic) of an event so far, in the
 * same contexts, of phase cat (all phases if cat < 0); carry: those of the
 * refinement clusters grown out of, by phase. */
static long hvp_all(const actx *F, const actx *L, const actx *L2, const long carry[4], int cat) {
  long n = 0;
  for (int p = 0; p < 4; p++)
    if (cat < 0 || p == cat)
      n += carry[p] + F->nhvp[p] + (L ? L->nhvp[p] : 0) + (L2 ? L2->nhvp[p] : 0);
  return n;
}

/* The first-order check's calls (CAT_SECOND) of an event so far, in the
 * same contexts; carry: those of the refinement clusters grown out of. */
static long calls_second_all(const actx *F, const actx *L, const actx *L2, const long carry[2]) {
  long n = carry[0] + carry[1];
  for (int q = 0; q < 2; q++)
    n += F->calls_cat[CAT_SECOND][q] + (L ? L->calls_cat[CAT_SECOND][q] : 0) + (L2 ? L2->calls_cat[CAT_SECOND][q] : 0);
  return n;
}

/* Zero fixed atoms; remove the mean (rigid translation) when projecting. */
static void project(const actx *a, double *v) {
  int n = a->n3 / 3;
  if (a->mobile) {
    for (int i = 0; i < n; i++)
      if (!a->mobile[i]) v[3 * i] = v[3 * i + 1] = v[3 * i + 2] = 0.0;
  }
  if (a->project && n > 0) {
    double m[3] = {0, 0, 0};
    for (int i = 0; i < n; i++)
      for (int k = 0; k < 3; k++) m[k] += v[3 * i + k];
    for (int k = 0; k < 3; k++) m[k] /= n;
    for (int i = 0; i < n; i++)
      for (int k = 0; k < 3; k++) v[3 * i + k] -= m[k];
  }
}

/* Normalise v in place; returns its former norm. */
static double normalize(double *v, int n3) {
  double nv = sqrt(eng__dot(v, v, n3));
  if (nv > 0.0)
    for (int i = 0; i < n3; i++) v[i] /= nv;
  return nv;
}

#ifdef ARTN_TRACE
/* Trace build: CPU seconds of the force calls (and minimisations) by
 * context and phase, printed per event ("T cpu L|L2|F basin climb second
 * push"), to see where an event's time goes (docs/artn.md, session 7).
 * The calling thread's CPU only: meaningful with one engine thread. */
static double trace_cpu(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}
#define CPU_START double cpu_t0_ = trace_cpu()
#define CPU_ADD(a) ((a)->cpu_cat[(a)->cat] += trace_cpu() - cpu_t0_)
#else
#define CPU_START ((void)0)
#define CPU_ADD(a) ((void)0)
#endif

/* Energy and forces at sys->x into *e, f (fixed atoms' forces zeroed). */
static int eval_at(actx *a, double *e, double *f) {
  int rc;
  if (a->limit > 0 && a->ncalls + a->budget_offset >= a->limit) return ENG_ARTN_MAX_CALLS;
  CPU_START;
  rc = eng_calc_compute(a->calc, a->sys, e, f, NULL, NULL);
  CPU_ADD(a);
  if (f == a->f) a->f_nc = eng_calc_ncompute(a->calc);
  a->ncalls++;
  a->calls_cat[a->cat][a->in_lanczos]++;
  if (rc != ENG_OK) return rc;
  if (!isfinite(*e)) return eng_set_error(ENG_ERANGE, "artn.c:%d: energy became non-finite", __LINE__);
  if (a->mobile) project(a, f);
  if (a->progress && a->ncalls % PROGRESS_EVERY == 0) {
    char msg[128];
    double frac = a->limit > 0 ? (double)(a->ncalls + a->budget_offset) / (double)a->limit : 0.5;
    snprintf(msg, sizeof msg, "artn %s: %ld force calls, E - E0 = %.4f eV", a->phase ? a->phase : "",
             a->ncalls, *e - a->e0);
    if (a->progress(a->ud, frac > 1.0 ? 1.0 : frac, msg) != 0)
      return eng_set_error(ENG_ECANCEL, "artn.c:%d: ARTn event cancelled after %ld force calls",
                           __LINE__, a->ncalls);
  }
  return ENG_OK;
}

static int eval(actx *a) { return eval_at(a, &a->e, a->f); }

/* Max |component| over moving atoms (fixed ones are zero in our vectors). */
static double fmax_of(const actx *a, const double *f) { return eng__max_abs(f, a->n3); }

/* Minimum-image per-atom distance statistics between positions y and the
 * reference x0 (translation removed when projecting): the largest atom
 * displacement, and the number of atoms moved more than thr. */
static double max_disp(const actx *a, const double *y, double thr, int *nmoved) {
  int n = a->n3 / 3, cnt = 0;
  double m[3] = {0, 0, 0}, best = 0.0;
  if (a->project) {
    for (int i = 0; i < n; i++)
      for (int k = 0; k < 3; k++) m[k] += y[3 * i + k] - a->x0[3 * i + k];
    for (int k = 0; k < 3; k++) m[k] /= n;
  }
  for (int i = 0; i < n; i++) {
    double d[3], r;
    for (int k = 0; k < 3; k++) d[k] = y[3 * i + k] - a->x0[3 * i + k] - m[k];
    eng_box_minimum_image(&a->sys->box, d);
    r = sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
    if (r > best) best = r;
    if (r > thr) cnt++;
  }
  if (nmoved) *nmoved = cnt;
  return best;
}

/* ------------------------------------------------------------------ */
/* Lanczos lowest eigenpair                                            */
/* ------------------------------------------------------------------ */

/* out = H q by a forward difference of the forces: (F(x) - F(x + h q)) / h.
 * a->f must hold F(x). */
static int hess_vec(actx *a, const double *q, double *out) {
  double h = a->o->lanczos_fd_step, e;
  double *x = a->sys->x;
  int rc;
  if (a->o->lanczos_analytic) {
    /* Analytic products (session 14): prepared once per point from the
     * calculator's force call there; a->f holds F(x), and if another
     * call went through the calculator since, it is made again. */
    if (a->hvp_nc < 0 || a->hvp_nc != eng_calc_ncompute(a->calc)) {
      if (a->f_nc != eng_calc_ncompute(a->calc)) {
        a->in_lanczos = 1;
        rc = eval_at(a, &e, a->ftmp);
        a->in_lanczos = 0;
        if (rc != 0) return rc;
      }
      CPU_START;
      rc = eng__calc_hvp_prepare(a->calc);
      CPU_ADD(a);
      if (rc != 0) return rc;
      a->hvp_nc = eng_calc_ncompute(a->calc);
    }
    CPU_START;
    rc = eng__calc_hvp(a->calc, q, out);
    CPU_ADD(a);
    if (rc != 0) return rc;
    a->nhvp[a->cat]++;
    if (a->mobile) project(a, out);
    return 0;
  }
  memcpy(a->xtmp, x, sizeof(double) * (size_t)a->n3);
  for (int i = 0; i < a->n3; i++) x[i] = a->xtmp[i] + h * q[i];
  a->in_lanczos = 1;
  rc = eval_at(a, &e, a->ftmp);
  a->in_lanczos = 0;
  memcpy(x, a->xtmp, sizeof(double) * (size_t)a->n3);
  if (rc != 0) return rc;
  for (int i = 0; i < a->n3; i++) out[i] = (a->f[i] - a->ftmp[i]) / h;
  return 0;
}

/* Lowest eigenvalue (eV/A^2) and unit eigenvector of the Hessian at sys->x,
 * Lanczos with full reorthogonalisation started from v (in: start, out:
 * eigenvector; a zero start is replaced by the displacement from x0). */
/* project() and, if defl is not NULL, remove the unit vector defl. */
static void project_defl(const actx *a, double *v, const double *defl) {
  if (a->lmask && !a->full_space) {
    /* the mode of the event: atoms near the kicked one only (a block of
     * the Hessian with the others held, so no rigid translation) */
    int n = a->n3 / 3;
    for (int i = 0; i < n; i++)
      if (!a->lmask[i] || (a->mobile && !a->mobile[i])) v[3 * i] = v[3 * i + 1] = v[3 * i + 2] = 0.0;
  } else {
    project(a, v);
  }
  if (defl) {
    double c = eng__dot(v, defl, a->n3);
    for (int i = 0; i < a->n3; i++) v[i] -= c * defl[i];
  }
}

/* 1 if v (3 n) is zero on every atom that does not move in a. */
static int zero_off_mobile(const actx *a, const double *v) {
  for (int i = 0; i < a->n3 / 3; i++)
    if (a->mobile && !a->mobile[i] && (v[3 * i] != 0.0 || v[3 * i + 1] != 0.0 || v[3 * i + 2] != 0.0)) return 0;
  return 1;
}

static int lanczos_ex(actx *a, double *v, double *lambda, const double *defl, int m, int mmin) {
  const eng_artn_opts *o = a->o;
  /* compact: the vectors on the moving atoms' components only (cidx), as
   * long as no lmask restricts them further */
  const int compact = a->cidx && !(a->lmask && !a->full_space);
  const int n3 = a->n3, nc = compact ? a->nc3 : n3;
  int k = 0, rc = 0;
  double alpha[64], beta[64], d[64], e[64], z[64 * 64];
  double theta = NAN, theta_prev = NAN;
  double *Q = a->Q, *w = a->w, *q0 = compact ? a->cq : Q;
  assert(m >= 1 && m <= 64);
  assert(!compact || !defl || zero_off_mobile(a, defl)); /* cd holds defl's moving part only */
  /* the start, full length (q0; compact: cq, zero off the moving atoms
   * once projected) */
  memcpy(q0, v, sizeof(double) * (size_t)n3);
  project_defl(a, q0, defl);
  if (normalize(q0, n3) < 1e-12) {
    for (int i = 0; i < n3; i++) q0[i] = a->sys->x[i] - a->x0[i];
    project_defl(a, q0, defl);
    if (normalize(q0, n3) < 1e-12) {
      for (int i = 0; i < n3; i++) q0[i] = 1.0 + (i % 7);
      project_defl(a, q0, defl);
      normalize(q0, n3);
    }
  }
  if (compact) {
    for (int c = 0; c < nc; c++) Q[c] = q0[a->cidx[c]];
    if (defl)
      for (int c = 0; c < nc; c++) a->cd[c] = defl[a->cidx[c]];
  }
  for (int j = 0; j < m; j++) {
    double *q = Q + (size_t)j * nc;
    if (compact) {
      for (int c = 0; c < nc; c++) a->cq[a->cidx[c]] = q[c];
      rc = hess_vec(a, a->cq, a->cw);
      for (int c = 0; c < nc; c++) w[c] = a->cw[a->cidx[c]];
    } else {
      rc = hess_vec(a, q, w);
    }
    if (rc != 0) return rc;
    a->lanczos_iters++;
    alpha[j] = eng__dot(q, w, nc);
    for (int i = 0; i < nc; i++) w[i] -= alpha[j] * q[i];
    if (j > 0)
      for (int i = 0; i < nc; i++) w[i] -= beta[j - 1] * Q[(size_t)(j - 1) * nc + i];
    /* Full reorthogonalisation (twice is enough). */
    for (int pass = 0; pass < 2; pass++)
      for (int l = 0; l <= j; l++) {
        const double *ql = Q + (size_t)l * nc;
        double c = eng__dot(w, ql, nc);
        for (int i = 0; i < nc; i++) w[i] -= c * ql[i];
      }
    if (!compact) {
      project_defl(a, w, defl);
    } else if (defl) {
      double c = eng__dot(w, a->cd, nc);
      for (int i = 0; i < nc; i++) w[i] -= c * a->cd[i];
    }
    beta[j] = sqrt(eng__dot(w, w, nc));
    k = j + 1;
    /* Lowest Ritz pair of the k x k tridiagonal matrix. */
    memcpy(d, alpha, sizeof(double) * (size_t)k);
    memcpy(e, beta, sizeof(double) * (size_t)k);
    if (LAPACKE_dstev(LAPACK_COL_MAJOR, 'V', k, d, e, z, k) != 0)
      return eng_set_error(ENG_ENOCONV, "artn.c:%d: tridiagonal eigensolver failed", __LINE__);
    theta = d[0];
    /* The second mode (defl) is compared with -SECOND_TOL: only an
     * absolute change far below that stops it (a relative tolerance of
     * |eigen_threshold| stopped it at small positive values while a dense
     * Hessian had a second eigenvalue of -0.003 to -0.03 eV/A^2). */
    if (k >= mmin && isfinite(theta_prev) &&
        (defl ? fabs(theta - theta_prev) <= 0.1 * SECOND_TOL
              : fabs(theta - theta_prev) <= o->lanczos_tol * fmax(fabs(theta), fabs(o->eigen_threshold))))
      break;
    /* In the basin the question is only whether lambda is below the
     * threshold: while the Ritz value is above it, stop once it moves by
     * less than basin_lanczos_gap times its distance from it (session 8).
     * Below it (the basin is left) lanczos_tol alone decides, so the climb
     * starts from a mode converged as before. */
    if (!defl && k >= mmin && isfinite(theta_prev) && isfinite(a->gap_thr) && o->basin_lanczos_gap > 0.0 &&
        theta > a->gap_thr && theta_prev - theta <= o->basin_lanczos_gap * (theta - a->gap_thr))
      break;
    if (beta[j] <= 1e-10 * (fabs(alpha[j]) + 1.0)) break;
    if (j + 1 < m)
      for (int i = 0; i < nc; i++) Q[(size_t)(j + 1) * nc + i] = w[i] / beta[j];
    theta_prev = theta;
  }
  /* z still holds the eigenvectors of the last k x k solve. */
  {
    double *acc = compact ? a->cw : v; /* (cw's first nc entries) */
    memset(v, 0, sizeof(double) * (size_t)n3);
    if (compact) memset(acc, 0, sizeof(double) * (size_t)nc);
    for (int l = 0; l < k; l++) {
      const double *ql = Q + (size_t)l * nc;
      for (int i = 0; i < nc; i++) acc[i] += z[l] * ql[i];
    }
    if (compact)
      for (int c = 0; c < nc; c++) v[a->cidx[c]] = acc[c];
  }
  project_defl(a, v, defl);
  normalize(v, n3);
  *lambda = theta;
  return 0;
}

static int lanczos(actx *a, double *v, double *lambda) {
  return lanczos_ex(a, v, lambda, NULL, a->o->lanczos_max_iter, a->o->lanczos_min_iter);
}

/* ------------------------------------------------------------------ */
/* FIRE relaxation (perpendicular to dir, or a plain masked minimiser) */
/* ------------------------------------------------------------------ */

/* At most nmax FIRE steps on F minus its component along the unit vector
 * dir (time step capped at FIRE_DTMAX_PERP).  Stops when max |F_perp| <
 * ftol or, if use_par, below the largest component of the parallel force.
 * a->f holds F(x) on entry and on return. */
static int relax(actx *a, const double *dir, int nmax, double ftol, int use_par) {
  int n3 = a->n3, rc;
  double *vel = a->vel, *fp = a->fp, *x = a->sys->x;
  if (!a->fire_keep) {
    memset(vel, 0, sizeof(double) * (size_t)n3);
    a->fire_dt = FIRE_DT0;
    a->fire_alpha = FIRE_ALPHA0;
    a->fire_npos = 0;
  } else {
    double vd = eng__dot(vel, dir, n3);
    for (int i = 0; i < n3; i++) vel[i] -= vd * dir[i];
  }
  for (int it = 0;; it++) {
    double fd = eng__dot(a->f, dir, n3), thr = ftol, p, vmax = 0.0, scale = 1.0;
    double dt = a->fire_dt, alpha = a->fire_alpha;
    int npos = a->fire_npos, backstop = 0;
    for (int i = 0; i < n3; i++) fp[i] = a->f[i] - fd * dir[i];
    if (a->project) project(a, fp);
    if (use_par) {
      double par = fabs(fd) * eng__max_abs(dir, n3);
      if (par > thr) thr = par;
      /* While still climbing (large parallel force), do not let the
       * perpendicular relaxation slide back towards the initial minimum. */
      backstop = par > ftol;
    }
    if (fmax_of(a, fp) < thr || it >= nmax) break;
    if (backstop && it > 0) {
      double back = 0.0;
      for (int i = 0; i < n3; i++) back += fp[i] * (x[i] - a->x0[i]);
      if (back < 0.0) break;
    }
    p = eng__dot(fp, vel, n3);
    if (p < 0.0) {
      memset(vel, 0, sizeof(double) * (size_t)n3);
      dt *= FIRE_FDEC;
      alpha = FIRE_ALPHA0;
      npos = 0;
    } else {
      double vn = sqrt(eng__dot(vel, vel, n3)), fn = sqrt(eng__dot(fp, fp, n3));
      if (fn > 0.0)
        for (int i = 0; i < n3; i++) vel[i] = (1.0 - alpha) * vel[i] + alpha * vn * fp[i] / fn;
      if (++npos > FIRE_NMIN) {
        dt = fmin(dt * FIRE_FINC, FIRE_DTMAX_PERP);
        alpha *= FIRE_FALPHA;
      }
    }
    for (int i = 0; i < n3; i++) vel[i] += dt * fp[i];
    {
      double vd = eng__dot(vel, dir, n3);
      for (int i = 0; i < n3; i++) vel[i] -= vd * dir[i];
    }
    for (int i = 0; i < n3; i += 3) {
      double r = dt * sqrt(vel[i] * vel[i] + vel[i + 1] * vel[i + 1] + vel[i + 2] * vel[i + 2]);
      if (r > vmax) vmax = r;
    }
    if (vmax > FIRE_DMAX) scale = FIRE_DMAX / vmax;
    for (int i = 0; i < n3; i++) x[i] += scale * dt * vel[i];
    a->fire_dt = dt;
    a->fire_alpha = alpha;
    a->fire_npos = npos;
    rc = eval(a);
    if (rc != 0) return rc;
  }
  return 0;
}

/* Minimise in place to min_ftol (no search budget), only the moving
 * atoms free in a cluster or a masked system.  A side of the push-over
 * (side != 0) runs CG from min.c: its end decides the verdict, and
 * L-BFGS's quasi-Newton steps from the steepest-descent end point could
 * leave the basin the path leads to (session 7, docs/artn.md; a masked
 * FIRE until session 5).  Such a side stops once every moving atom is
 * within same_dist of the initial minimum a->x0 (a point same_as_initial
 * itself calls the initial minimum; same_dist / 2 in sessions 11-13) with
 * E - E0 < same_energy, and is put on x0 itself (session 11): a descent
 * from there ends in a minimum below E0 + same_energy, which
 * same_as_initial calls the initial one unless it lies more than
 * 5 same_dist away, behind a barrier lower than same_energy (no verdict
 * changed on 64 events at 16,000 atoms, nor on rec128's 128 at same_dist
 * instead of same_dist / 2: docs/artn.md, session 14).  The final minimum
 * relaxed again where the saddle was certified (side == 0), a far-field
 * relaxation around a minimum already found, runs L-BFGS (session 11). */
static int minimise(actx *a, int side) {
  const eng_artn_opts *o = a->o;
  long saved = a->limit;
  eng_min_opts mo;
  eng_min_result res;
  int rc;
  a->limit = 0;
  eng_min_opts_default(&mo);
  mo.algo = side ? ENG_MIN_CG : ENG_MIN_LBFGS;
  mo.ftol = o->min_ftol;
  mo.max_eval = o->min_max_calls;
  mo.mobile = a->mobile;
  if (side) {
    mo.ref_x = a->x0;
    mo.ref_dist = o->same_dist;
    mo.ref_e = a->e0;
    mo.ref_de = o->same_energy;
  }
  CPU_START;
  rc = eng_minimize(a->calc, a->sys, &mo, NULL, NULL, &res);
  CPU_ADD(a);
  TRACE("T minimise side %d iters %d calls %d stop %s fmax %.2g\n", side, res.iterations, res.force_calls,
        eng_min_stop_name(res.stop), res.fmax);
  a->ncalls += res.force_calls;
  a->calls_cat[a->cat][0] += res.force_calls;
  if (rc == ENG_OK && res.stop == ENG_STOP_REF) memcpy(a->sys->x, a->x0, sizeof(double) * (size_t)a->n3);
  if (rc == ENG_OK) rc = eval(a);
  a->limit = saved;
  return rc;
}

/* ------------------------------------------------------------------ */
/* The search phases                                                   */
/* ------------------------------------------------------------------ */

typedef struct sstate {
  double lambda;
  int basin_steps, climb_steps, lost;
  double lambda2;
  char reason[80];
} sstate;

static int energy_check(actx *a, sstate *st) {
  if (a->e - a->e0 > a->o->max_energy) {
    snprintf(st->reason, sizeof st->reason, "E - E_initial = %.2f eV above max_energy %.2f eV",
             a->e - a->e0, a->o->max_energy);
    return ENG_ARTN_ENERGY_LIMIT;
  }
  return 0;
}

/* Push along the unit direction d (first increment `first`, then
 * basin_step), a few perpendicular FIRE steps after each, until the
 * Lanczos eigenvalue is below eigen_threshold; at most maxsteps
 * increments, the first `init` of them without a Lanczos estimate.  The
 * estimate starts from the displacement from the minimum, plus (basin_warm)
 * the previous eigenvector, which v holds on entry if `warm`.  On success
 * v and st->lambda hold that eigenpair. */
static int basin(actx *a, const double *d, double first, int maxsteps, int init, int warm, double thr,
                 double *v, sstate *st) {
  const eng_artn_opts *o = a->o;
  double *x = a->sys->x;
  int rc;
  st->lambda = NAN;
  a->phase = "basin";
  a->cat = CAT_BASIN;
  a->fire_keep = 0;
  for (int k = 0; k < maxsteps; k++) {
    double step = k == 0 ? first : o->basin_step;
    for (int i = 0; i < a->n3; i++) x[i] += step * d[i];
    st->basin_steps++;
    rc = eval(a);
    if (rc == 0) rc = relax(a, d, o->basin_relax_steps, 0.0, 0);
    if (rc == 0) rc = energy_check(a, st);
    if (rc != 0) return rc;
    if (k < init) {
      TRACE("T basin k %d E %.4f (no Lanczos) fmax %.3f calls %ld\n", k, a->e - a->e0, fmax_of(a, a->f),
            a->ncalls);
      continue;
    }
    /* Start Lanczos from the displacement from the minimum (the mode that
     * goes soft is the one the push excites, not a soft mode elsewhere that
     * the previous estimate may have locked onto), plus the previous
     * eigenvector when there is one: the Krylov space then holds both, and
     * a warm start converges in a few vectors. */
    {
      double *dx = a->w3, nd, c;
      for (int i = 0; i < a->n3; i++) dx[i] = x[i] - a->x0[i];
      project(a, dx);
      nd = normalize(dx, a->n3);
      if (warm && o->basin_warm && nd > 0.0) {
        c = eng__dot(v, dx, a->n3);
        for (int i = 0; i < a->n3; i++) v[i] = (c < 0.0 ? -v[i] : v[i]) + dx[i];
      } else {
        memcpy(v, dx, sizeof(double) * (size_t)a->n3);
      }
    }
    a->gap_thr = thr;
    rc = lanczos(a, v, &st->lambda);
    a->gap_thr = NAN;
    if (rc != 0) return rc;
    warm = 1;
#ifdef ARTN_TRACE
    {
      double fd = eng__dot(a->f, d, a->n3), fpm = 0;
      for (int i = 0; i < a->n3; i++) fpm = fmax(fpm, fabs(a->f[i] - fd * d[i]));
      TRACE("T basin k %d E %.4f lam %.4f fmax %.3f fpar %.3f fperp %.3f calls %ld\n", k, a->e - a->e0, st->lambda,
            fmax_of(a, a->f), fd, fpm, a->ncalls);
    }
#endif
    if (st->lambda < thr) {
      return 0;
    }
  }
  snprintf(st->reason, sizeof st->reason,
           "no eigenvalue below %.3g eV/A^2 after %d increments (last %.3g)", thr, maxsteps, st->lambda);
  return ENG_ARTN_NO_EXIT;
}

/* Climb along v (with st->lambda at the current point) until
 * max |F| < ftarget with lambda < 0. */
static int climb(actx *a, double *v, double ftarget, sstate *st) {
  const eng_artn_opts *o = a->o;
  double *x = a->sys->x;
  int n3 = a->n3, rc;
  a->phase = "climb";
  a->cat = CAT_CLIMB;
  a->fire_keep = 0;
  for (int s = 0;; s++) {
    double disp = 0.0, fpar, step, sgn;
    int cap;
    for (int i = 0; i < n3; i++) disp += v[i] * (x[i] - a->x0[i]);
    if (disp < 0.0)
      for (int i = 0; i < n3; i++) v[i] = -v[i];
    if (!(st->lambda < 0.0)) {
      /* A short warm-started Lanczos over-estimates lambda when the mode
       * turns: confirm with a longer one before calling it lost. */
      rc = lanczos_ex(a, v, &st->lambda, NULL, o->lanczos_max_iter, CONFIRM_ITER);
      if (rc != 0) return rc;
      if (st->lambda < 0.0) continue;
    }
    if (!(st->lambda < 0.0) && st->lost < o->lost_retries && o->lost_follow > 0) {
      /* Eigenvalue lost, convex-region rule of the min-mode methods
       * (dimer): step uphill along the lowest mode, against the parallel
       * force, without perpendicular relaxation, until the curvature is
       * negative again. */
      st->lost++;
      a->fire_keep = 0;
      for (int k = 0; k < o->lost_follow && !(st->lambda < 0.0); k++) {
        double fp = eng__dot(a->f, v, n3), sg = fp > 0.0 ? -1.0 : 1.0;
        for (int i = 0; i < n3; i++) x[i] += sg * o->climb_step_max * v[i];
        rc = eval(a);
        if (rc == 0) rc = energy_check(a, st);
        if (rc == 0) rc = lanczos(a, v, &st->lambda);
        st->climb_steps++;
        if (rc != 0) return rc;
        TRACE("T follow k %d E %.4f lam %.4f fpar %.3f fmax %.3f calls %ld\n", k, a->e - a->e0, st->lambda, fp,
              fmax_of(a, a->f), a->ncalls);
      }
      if (st->lambda < 0.0) continue;
      snprintf(st->reason, sizeof st->reason,
               "eigenvalue lost at climb step %d, not back in %d mode steps", s, o->lost_follow);
      return ENG_ARTN_EIGEN_LOST;
    }
    if (!(st->lambda < 0.0) && st->lost < o->lost_retries) {
      /* Eigenvalue lost: push again along the displacement from the
       * minimum, as in the basin, until it is back below the threshold. */
      double *dd = a->w2;
      st->lost++;
      for (int i = 0; i < n3; i++) dd[i] = x[i] - a->x0[i];
      project(a, dd);
      normalize(dd, n3);
      rc = basin(a, dd, o->basin_step, LOST_PUSHES, 0, 1, o->lost_threshold, v, st);
      a->phase = "climb";
      a->cat = CAT_CLIMB;
      if (rc != 0) {
        if (rc == ENG_ARTN_NO_EXIT) {
          snprintf(st->reason, sizeof st->reason,
                   "eigenvalue lost at climb step %d and not recovered in %d pushes", s, LOST_PUSHES);
          rc = ENG_ARTN_EIGEN_LOST;
        }
        return rc;
      }
      continue;
    }
    if (!(st->lambda < 0.0)) {
      snprintf(st->reason, sizeof st->reason, "lowest eigenvalue %.3g eV/A^2 >= 0 at climb step %d",
               st->lambda, s);
      return ENG_ARTN_EIGEN_LOST;
    }
    /* Converged: max |force component| below the target, and the saddle
     * located along its mode, i.e. the Newton offset |F.v| / |lambda| along
     * v small against push_over (a soft mode with a small residual parallel
     * force can leave the point far from the top; pushing it over then
     * lands on the same side twice). */
    if (fmax_of(a, a->f) < ftarget &&
        fabs(eng__dot(a->f, v, n3)) < SADDLE_LOC * o->push_over * fabs(st->lambda))
      return 0;
    if (s >= o->climb_max_steps) {
      snprintf(st->reason, sizeof st->reason, "no saddle in %d climb steps (fmax %.3g eV/A)",
               o->climb_max_steps, fmax_of(a, a->f));
      return ENG_ARTN_MAX_STEPS;
    }
    fpar = eng__dot(a->f, v, n3);
    step = fabs(fpar) / fabs(st->lambda);
    if (step > o->climb_step_max) step = o->climb_step_max;
    sgn = fpar > 0.0 ? -1.0 : 1.0;
    for (int i = 0; i < n3; i++) x[i] += sgn * step * v[i];
    rc = eval(a);
    cap = 4 * (s + 1);
    if (cap > o->perp_steps_max) cap = o->perp_steps_max;
    if (rc == 0) rc = relax(a, v, cap, 0.7 * ftarget, 1);
    a->fire_keep = 1;
    if (rc == 0) rc = energy_check(a, st);
    if (rc == 0) rc = lanczos(a, v, &st->lambda);
    st->climb_steps++;
    if (rc != 0) return rc;
    TRACE("T climb s %d E %.4f lam %.4f fpar %.3f step %.3f fmax %.3f cap %d calls %ld lit %d\n", s,
          a->e - a->e0, st->lambda, fpar, step, fmax_of(a, a->f), cap, a->ncalls, a->lanczos_iters);
  }
}

/* 1 if the positions y are the initial minimum up to a permutation of
 * like atoms: every atom that moved by more than same_dist (after the
 * mean translation is removed when projecting, as in max_disp) sits within
 * same_dist of the initial position of another moved atom of its type,
 * each used once.  0 if no atom moved that far, or one of them has no
 * such partner.  O(m^2) in the m moved atoms. */
static int is_exchange(const actx *a, const double *y) {
  const int n = a->n3 / 3;
  const double sd = a->o->same_dist;
  double m[3] = {0, 0, 0};
  int *mv = malloc(sizeof *mv * (size_t)n), nm = 0, ok;
  unsigned char *used = calloc((size_t)n, 1);
  if (!mv || !used) {
    free(mv);
    free(used);
    return 0; /* (out of memory: not claimed an exchange) */
  }
  if (a->project) {
    for (int i = 0; i < n; i++)
      for (int k = 0; k < 3; k++) m[k] += y[3 * i + k] - a->x0[3 * i + k];
    for (int k = 0; k < 3; k++) m[k] /= n;
  }
  for (int i = 0; i < n; i++) {
    double d[3];
    for (int k = 0; k < 3; k++) d[k] = y[3 * i + k] - a->x0[3 * i + k] - m[k];
    eng_box_minimum_image(&a->sys->box, d);
    if (d[0] * d[0] + d[1] * d[1] + d[2] * d[2] > sd * sd) mv[nm++] = i;
  }
  ok = nm > 0;
  for (int p = 0; ok && p < nm; p++) {
    const int i = mv[p];
    ok = 0;
    for (int q = 0; q < nm && !ok; q++) {
      const int j = mv[q];
      double d[3];
      if (used[q] || q == p || a->sys->type[j] != a->sys->type[i]) continue;
      for (int k = 0; k < 3; k++) d[k] = y[3 * i + k] - a->x0[3 * j + k] - m[k];
      eng_box_minimum_image(&a->sys->box, d);
      if (d[0] * d[0] + d[1] * d[1] + d[2] * d[2] <= sd * sd) used[q] = ok = 1;
    }
  }
  free(mv);
  free(used);
  return ok;
}

/* 1 if the minimum at a->sys->x (energy a->e) is the initial one. */
static int same_as_initial(const actx *a) {
  double dmax = max_disp(a, a->sys->x, MOVED_DIST, NULL);
  return dmax <= a->o->same_dist ||
         (dmax <= 5.0 * a->o->same_dist && fabs(a->e - a->e0) < a->o->same_energy);
}

/* Largest per-atom minimum-image distance between positions y and ref
 * (translation removed when projecting), A. */
static double dist_between(const actx *a, const double *y, const double *ref) {
  int n = a->n3 / 3;
  double m[3] = {0, 0, 0}, best = 0.0;
  if (a->project) {
    for (int i = 0; i < n; i++)
      for (int k = 0; k < 3; k++) m[k] += y[3 * i + k] - ref[3 * i + k];
    for (int k = 0; k < 3; k++) m[k] /= n;
  }
  for (int i = 0; i < n; i++) {
    double d[3];
    for (int k = 0; k < 3; k++) d[k] = y[3 * i + k] - ref[3 * i + k] - m[k];
    eng_box_minimum_image(&a->sys->box, d);
    best = fmax(best, sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]));
  }
  return best;
}

/* 1 if minima y (energy ey) and ref (energy eref) are the same: no atom
 * moved more than same_dist, or 5 x that with |dE| < same_energy (the
 * criterion of same_as_initial and of the test's independent check). */
static int same_minimum(const actx *a, const double *y, double ey, const double *ref, double eref) {
  double dmax = dist_between(a, y, ref);
  return dmax <= a->o->same_dist ||
         (dmax <= 5.0 * a->o->same_dist && fabs(ey - eref) < a->o->same_energy);
}

/* Refine the mode v of the saddle xs before the push-over: a warm Lanczos
 * with at least CONNECT_ITER vectors, so that both sides are pushed along
 * the saddle's own lowest mode; *lambda receives its eigenvalue. */
static int refine_mode(actx *a, const double *xs, double *v, double *lambda) {
  int rc, m = a->o->lanczos_max_iter > 2 * CONNECT_ITER ? a->o->lanczos_max_iter : 2 * CONNECT_ITER;
  a->phase = "relax";
  a->cat = CAT_PUSH;
  memcpy(a->sys->x, xs, sizeof(double) * (size_t)a->n3);
  rc = eval(a);
  if (rc == 0) rc = lanczos_ex(a, v, lambda, NULL, m > 64 ? 64 : m, CONNECT_ITER);
  return rc;
}

/* One side of the saddle xs (mode v, eigenvalue lambda < 0): push by
 * sign * delta along v, follow the steepest-descent path (steps of SD_STEP
 * up to SD_STEP_MAX for the most-moved atom) until the energy is SD_DROP
 * below the saddle (half the saddle's height above the initial minimum if
 * that is less), then minimise (min_ftol). delta = min(push_over,
 * max(SD_PUSH_MIN, 4 |F.v| / |lambda|)): four times the saddle's Newton
 * offset along its mode, so the push crosses the ridge on the intended
 * side. The path, not a line-search minimiser or a fast relaxation,
 * decides the side: the residual force of a converged saddle (each
 * component below saddle_force, its norm larger than |lambda| * delta on a
 * soft mode) would otherwise carry both sides into the same basin. The
 * result stays in a->sys->x, energy a->e. */
static int relax_side(actx *a, const double *xs, const double *v, double lambda, double sign) {
  double *x = a->sys->x, es, eprev, delta, drop, ebest, step = SD_STEP;
  long saved = a->limit;
  int rc, rises = 0, kbest = 0;
  a->phase = "relax";
  a->cat = CAT_PUSH;
  memcpy(x, xs, sizeof(double) * (size_t)a->n3);
  a->limit = 0;
  rc = eval(a);
  es = a->e;
  delta = SD_PUSH_MIN;
  if (rc == 0 && lambda < 0.0) delta = fmax(delta, 4.0 * fabs(eng__dot(a->f, v, a->n3)) / fabs(lambda));
  delta = fmin(delta, a->o->push_over);
  for (int i = 0; rc == 0 && i < a->n3; i++) x[i] += sign * delta * v[i];
  if (rc == 0) rc = eval(a);
  eprev = a->e;
  /* a saddle less than 2 * SD_DROP above the initial minimum cannot fall
   * SD_DROP on that side: stop at half its height there */
  drop = SD_DROP;
  if (es - a->e0 > 0.0 && 0.5 * (es - a->e0) < drop) drop = 0.5 * (es - a->e0);
  ebest = a->e;
#ifdef ARTN_TRACE
  long sd0 = a->ncalls;
#endif
  for (int k = 0; rc == 0 && k < SD_MAX; k++) {
    double fm = fmax_of(a, a->f);
    if (es - a->e > drop || fm <= 0.0) break;
    /* energy rising again and again, or no lower energy for SD_STALL
     * steps: at (zigzagging around) a minimum */
    rises = a->e > eprev ? rises + 1 : 0;
    if (k >= 20 && rises >= 3) break;
    if (a->e < ebest) {
      ebest = a->e;
      kbest = k;
    } else if (k - kbest >= SD_STALL) {
      break;
    }
    /* the step grows while the energy falls, from SD_STEP up to
     * SD_STEP_MAX, and starts again from SD_STEP after a rise */
    if (k > 0) step = a->e < eprev ? fmin(SD_GROW * step, SD_STEP_MAX) : SD_STEP;
    eprev = a->e;
    for (int i = 0; i < a->n3; i++) x[i] += step * a->f[i] / fm;
    rc = eval(a);
  }
  TRACE("T push sign %+.0f delta %.3f dE %.4f calls %ld sd %ld n3 %d\n", sign, delta, a->e - es, a->ncalls,
        a->ncalls - sd0, a->n3);
  a->limit = saved;
  if (rc != 0) return rc;
  rc = minimise(a, 1);
  TRACE("T push minimised n3 %d E %.4f calls %ld\n", a->n3, a->e - a->e0, a->ncalls);
  return rc;
}

/* Lowest eigenvalue orthogonal to the unit mode v (cold Lanczos start from
 * the event's random stream); eigenvector into w. */
static int second_mode(actx *a, const double *v, double *w, double *lam2) {
  int rc = 0;
  for (int i = 0; i < a->n3; i++) w[i] = eng_rng_normal(a->rng);
  a->cat = CAT_SECOND;
  a->full_space = 1;
  /* A run that used all SECOND_ITER vectors has not converged: its Ritz
   * value is only an upper bound, and a soft second mode can hide below
   * it (session 8: -0.047 eV/A^2 missed on the test glass).  Restart from
   * the Ritz vector, at most SECOND_RESTARTS times, unless the value is
   * already below -SECOND_TOL (then the point is not first-order anyway).
   * A run that stopped on a value just above -SECOND_TOL (below
   * SECOND_NEAR) restarts too (session 13): a stalled run had stopped at
   * -0.0005 eV/A^2 where the dense Hessian has -0.0044 (test_artn). */
  for (int r = 0; r <= SECOND_RESTARTS; r++) {
    long it0 = a->lanczos_iters;
    rc = lanczos_ex(a, w, lam2, v, SECOND_ITER, SECOND_MIN_ITER);
    TRACE("T check r %d iters %ld lam2 %.5f n3 %d\n", r, a->lanczos_iters - it0, *lam2, a->n3);
    if (rc != 0 || *lam2 < -SECOND_TOL) break;
    if (a->lanczos_iters - it0 < SECOND_ITER && *lam2 >= SECOND_NEAR) break;
  }
  a->full_space = 0;
  return rc;
}

/* Distance (A, minimum image) between the atoms with the largest
 * amplitude in the modes v and w, at the positions a->sys->x. */
static double mode_separation(const actx *a, const double *v, const double *w) {
  const int n = a->n3 / 3;
  int iv = 0, iw = 0;
  double bv = -1.0, bw = -1.0, d[3];
  for (int i = 0; i < n; i++) {
    const double *p = v + 3 * i, *q = w + 3 * i;
    double av = p[0] * p[0] + p[1] * p[1] + p[2] * p[2], aw = q[0] * q[0] + q[1] * q[1] + q[2] * q[2];
    if (av > bv) {
      bv = av;
      iv = i;
    }
    if (aw > bw) {
      bw = aw;
      iw = i;
    }
  }
  for (int k = 0; k < 3; k++) d[k] = a->sys->x[3 * iw + k] - a->sys->x[3 * iv + k];
  eng_box_minimum_image(&a->sys->box, d);
  return sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
}

/* A converged point with a second negative eigenvalue is not a first-order
 * saddle: push it off along the second mode w (first towards the side of
 * lower energy) and climb again to the tighter second_force (or
 * refine_force when that is tighter still: session 9, until then the
 * reported saddle could miss refine_force); if that climb fails, try the
 * other side of w from the same point.  At most second_retries push-offs. */
static int ensure_first_order(actx *a, double *v, sstate *st) {
  const eng_artn_opts *o = a->o;
  double *w = a->wsave, *x = a->sys->x;
  size_t nb = sizeof(double) * (size_t)a->n3;
  const double target = o->refine_force > 0.0 && o->refine_force < o->second_force ? o->refine_force
                                                                                    : o->second_force;
  int rc;
  for (int t = 0;; t++) {
    double ep, em, lam1 = st->lambda, first;
    rc = second_mode(a, v, w, &st->lambda2);
    if (rc != 0) return rc;
    if (st->lambda2 >= -SECOND_TOL) return 0;
    if (o->second_remote > 0.0) {
      /* second_remote (session 10): a second mode centred far from the
       * event's own is a separate soft spot that the saddle's strain made
       * unstable; pushing it off and climbing again mostly gave saddles
       * not connected to the initial minimum (13 of 15 at 16,000 atoms) */
      double sep = mode_separation(a, v, w);
      if (sep > o->second_remote) {
        snprintf(st->reason, sizeof st->reason, "second eigenvalue %.3g eV/A^2 at a soft spot %.1f A away",
                 st->lambda2, sep);
        return ENG_ARTN_HIGHER_ORDER;
      }
    }
    if (t >= o->second_retries) {
      snprintf(st->reason, sizeof st->reason,
               "second eigenvalue %.3g eV/A^2 < 0 after %d push-offs", st->lambda2, t);
      return ENG_ARTN_HIGHER_ORDER;
    }
    TRACE("T second t %d lam2 %.4f E %.4f calls %ld\n", t, st->lambda2, a->e - a->e0, a->ncalls);
    if (a->pushoffs) (*a->pushoffs)++;
    memcpy(a->xsave, x, nb);
    memcpy(a->vsave, v, nb);
    for (int i = 0; i < a->n3; i++) x[i] = a->xsave[i] + SECOND_PUSH * w[i];
    rc = eval(a);
    ep = a->e;
    for (int i = 0; rc == 0 && i < a->n3; i++) x[i] = a->xsave[i] - SECOND_PUSH * w[i];
    if (rc == 0) rc = eval(a);
    em = a->e;
    if (rc != 0) return rc;
    first = ep < em ? 1.0 : -1.0;
    for (int side = 0; side < 2; side++) {
      double sg = side == 0 ? first : -first;
      for (int i = 0; i < a->n3; i++) x[i] = a->xsave[i] + sg * SECOND_PUSH * w[i];
      memcpy(v, a->vsave, nb);
      st->lambda = lam1;
      rc = eval(a);
      if (rc == 0) rc = lanczos(a, v, &st->lambda);
      if (rc == 0) rc = climb(a, v, target, st);
      if (rc <= 0) break;
      if (rc == ENG_ARTN_MAX_CALLS || rc == ENG_ARTN_ENERGY_LIMIT || side == 1) {
        char tmp[80];
        snprintf(tmp, sizeof tmp, "%s", st->reason);
        snprintf(st->reason, sizeof st->reason, "after a second-mode push-off: %.48s", tmp);
        return rc;
      }
    }
    if (rc != 0) return rc;
  }
}

/* After convergence to saddle_force: the optional tighter refine_force
 * climb, then (check_second) the first-order check and push-offs. */
static int finish_saddle(actx *a, double *v, sstate *st) {
  const eng_artn_opts *o = a->o;
  int rc = 0;
  st->lambda2 = NAN;
  if (o->refine_force > 0.0 && o->refine_force < o->saddle_force) {
    rc = climb(a, v, o->refine_force, st);
    if (rc > 0) {
      char tmp[80];
      snprintf(tmp, sizeof tmp, "%s", st->reason);
      snprintf(st->reason, sizeof st->reason, "refine_force stage: %.58s", tmp);
    }
  }
  if (rc == 0 && o->check_second) rc = ensure_first_order(a, v, st);
  return rc;
}

static int status_of(int rc, eng_artn_event *ev, const sstate *st, const char *prefix) {
  assert(rc > 0);
  ev->status = (eng_artn_status)rc;
  if (rc == ENG_ARTN_MAX_CALLS)
    snprintf(ev->reason, sizeof ev->reason, "%sforce-call budget exhausted", prefix);
  else
    snprintf(ev->reason, sizeof ev->reason, "%s%s", prefix, st->reason);
  return ENG_OK;
}

/* ------------------------------------------------------------------ */
/* The memo of cluster saddles (session 15)                            */
/* ------------------------------------------------------------------ */

/* One attempt whose local search reached a cluster saddle: its positions
 * in the cluster (n3 numbers), its energy above the initial minimum, and
 * the attempt's outcome (the event as it stood when the attempt ended;
 * xs / xf the whole-system saddle and final configurations when the
 * caller asked for them, else NULL). */
typedef struct memo_entry {
  long event_index;
  int attempt;
  double *xc, e;
  eng_artn_event out;
  double *xs, *xf;
} memo_entry;

struct eng_artn_memo {
  int atom_index, natoms, n3c; /* whom the entries serve (-1: nobody yet) */
  uint64_t xhash;              /* of the structure's positions and box, the
                                  options and the potential */
  memo_entry *e;
  int n, cap;
};

int eng_artn_memo_create(eng_artn_memo **out) {
  eng_artn_memo *m;
  assert(out);
  *out = NULL;
  m = eng__calloc(1, sizeof *m);
  if (!m) return ENG_ENOMEM;
  m->atom_index = -1;
  *out = m;
  return ENG_OK;
}

static void memo_clear(eng_artn_memo *m) {
  for (int i = 0; i < m->n; i++) {
    free(m->e[i].xc);
    free(m->e[i].xs);
    free(m->e[i].xf);
  }
  m->n = 0;
}

void eng_artn_memo_free(eng_artn_memo *m) {
  if (!m) return;
  memo_clear(m);
  free(m->e);
  free(m);
}

int eng_artn_memo_size(const eng_artn_memo *m) { return m ? m->n : 0; }

/* FNV-1a over n bytes from h. */
static uint64_t fnv(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ULL;
  return h;
}

/* A hash of the positions, the box (field by field: no padding), the
 * options' bytes and the potential's address: a memo made for one
 * structure, one set of options and one potential forgets its saddles
 * when it meets others.  (Options equal in value but with other padding
 * bytes only make it forget: never a false match.) */
static uint64_t memo_hash(const eng_system *sys, const eng_artn_opts *o, const eng_potential *pot) {
  const eng_box *b = &sys->box;
  uint64_t h = 1469598103934665603ULL;
  h = fnv(h, sys->x, sizeof(double) * 3 * (size_t)sys->natoms);
  h = fnv(h, b->lo, sizeof b->lo);
  h = fnv(h, b->len, sizeof b->len);
  h = fnv(h, &b->xy, sizeof b->xy);
  h = fnv(h, &b->xz, sizeof b->xz);
  h = fnv(h, &b->yz, sizeof b->yz);
  h = fnv(h, b->periodic, sizeof b->periodic);
  h = fnv(h, o, sizeof *o);
  h = fnv(h, &pot, sizeof pot);
  return h;
}

/* Make m serve atom a of sys (h: memo_hash of sys, its options and
 * potential) with a search cluster of n3c coordinates: its entries are
 * forgotten if they served anything else. */
static void memo_bind(eng_artn_memo *m, const eng_system *sys, uint64_t h, int a, int n3c) {
  if (m->atom_index != a || m->natoms != sys->natoms || m->n3c != n3c || m->xhash != h) {
    memo_clear(m);
    m->atom_index = a;
    m->natoms = sys->natoms;
    m->n3c = n3c;
    m->xhash = h;
  }
}

/* The entry whose cluster saddle xc (energy e above the initial minimum)
 * matches: every moving atom within memo_dist, energies within
 * memo_energy; the first such in insertion order, or NULL.  With want_xs /
 * want_xf, only entries that kept those configurations (an ok outcome
 * without them cannot answer). */
static memo_entry *memo_find(eng_artn_memo *m, const unsigned char *mobile, const double *xc, double e,
                             const eng_artn_opts *o, int want_xs, int want_xf) {
  const double d2max = o->memo_dist * o->memo_dist;
  for (int k = 0; k < m->n; k++) {
    memo_entry *q = &m->e[k];
    int same = fabs(q->e - e) <= o->memo_energy;
    if (q->out.status == ENG_ARTN_OK && ((want_xs && !q->xs) || (want_xf && !q->xf))) continue;
    for (int i = 0; same && i < m->n3c / 3; i++) {
      double d2 = 0.0;
      if (!mobile[i]) continue;
      for (int c = 0; c < 3; c++) {
        double dd = xc[3 * i + c] - q->xc[3 * i + c];
        d2 += dd * dd;
      }
      same = d2 <= d2max;
    }
    if (same) return q;
  }
  return NULL;
}

/* Add the attempt (event_index, attempt) that found cluster saddle xc
 * (energy e) with outcome ev; xs / xf (n3 each) kept when not NULL and the
 * outcome is ok.  ENG_ENOMEM. */
static int memo_add(eng_artn_memo *m, long event_index, int attempt, const double *xc, double e,
                    const eng_artn_event *ev, const double *xs, const double *xf, int n3) {
  memo_entry *q;
  if (m->n == m->cap) {
    int cap = m->cap ? 2 * m->cap : 16;
    memo_entry *p = eng__realloc(m->e, (size_t)cap, sizeof *p);
    if (!p) return ENG_ENOMEM;
    m->e = p;
    m->cap = cap;
  }
  q = &m->e[m->n];
  memset(q, 0, sizeof *q);
  q->event_index = event_index;
  q->attempt = attempt;
  q->e = e;
  q->out = *ev;
  q->xc = eng__malloc((size_t)m->n3c, sizeof(double));
  if (!q->xc) return ENG_ENOMEM;
  memcpy(q->xc, xc, sizeof(double) * (size_t)m->n3c);
  if (ev->status == ENG_ARTN_OK) {
    if (xs) q->xs = eng__malloc((size_t)n3, sizeof(double));
    if (xf) q->xf = eng__malloc((size_t)n3, sizeof(double));
    if ((xs && !q->xs) || (xf && !q->xf)) {
      free(q->xc);
      free(q->xs);
      free(q->xf);
      return ENG_ENOMEM;
    }
    if (xs) memcpy(q->xs, xs, sizeof(double) * (size_t)n3);
    if (xf) memcpy(q->xf, xf, sizeof(double) * (size_t)n3);
  }
  m->n++;
  return ENG_OK;
}

/* Copy an entry's outcome into ev: the status and everything the attempt
 * found from its cluster saddle on (refined saddle, check, final state),
 * not the counters of this event's own work. */
static void memo_apply(eng_artn_event *ev, const memo_entry *q) {
  const eng_artn_event *s = &q->out;
  ev->status = s->status;
  memcpy(ev->reason, s->reason, sizeof ev->reason);
  ev->e_saddle = s->e_saddle;
  ev->e_final = s->e_final;
  ev->dq = s->dq;
  ev->de_final = s->de_final;
  ev->eigenvalue = s->eigenvalue;
  ev->eigenvalue2 = s->eigenvalue2;
  ev->fmax_saddle = s->fmax_saddle;
  ev->max_disp_saddle = s->max_disp_saddle;
  ev->max_disp = s->max_disp;
  ev->n_moved = s->n_moved;
  ev->final_differs = s->final_differs;
  ev->connected = s->connected;
  ev->refine_shift = s->refine_shift;
  ev->fmax_whole = s->fmax_whole;
  ev->refine_radius_used = s->refine_radius_used;
  ev->refine_periodic = s->refine_periodic;
  ev->push_radius_used = s->push_radius_used;
  ev->exchange = s->exchange;
  ev->refine_moving = s->refine_moving;
  ev->memo_event = q->event_index;
  ev->memo_attempt = q->attempt;
  ev->memo_hits++;
}

/* ------------------------------------------------------------------ */
/* The event                                                           */
/* ------------------------------------------------------------------ */

static int check_opts(const eng_artn_opts *o) {
#define BAD(cond, what)                                                                \
  if (cond) return eng_set_error(ENG_EINVAL, "artn.c:%d: invalid ARTn option: %s", __LINE__, what)
  BAD(!(o->perturb_radius >= 0.0 && o->perturb_radius < 1e3), "perturb_radius must be in [0, 1000) A");
  BAD(!(o->perturb_size > 0.0 && o->perturb_size <= 5.0), "perturb_size must be in (0, 5] A");
  BAD(!(o->basin_step > 0.0 && o->basin_step <= 5.0), "basin_step must be in (0, 5] A");
  BAD(o->basin_relax_steps < 0 || o->basin_relax_steps > 1000, "basin_relax_steps must be 0..1000");
  BAD(o->basin_max_steps < 1 || o->basin_max_steps > 10000, "basin_max_steps must be 1..10000");
  BAD(!(o->eigen_threshold < 0.0 && o->eigen_threshold > -1e3), "eigen_threshold must be negative");
  BAD(!(o->saddle_force > 0.0 && o->saddle_force <= 10.0), "saddle_force must be in (0, 10] eV/A");
  BAD(!(o->refine_force >= 0.0 && o->refine_force <= o->saddle_force),
      "refine_force must be 0 (off) or in (0, saddle_force]");
  BAD(!(o->climb_step_max > 0.0 && o->climb_step_max <= 5.0), "climb_step_max must be in (0, 5] A");
  BAD(o->climb_max_steps < 1 || o->climb_max_steps > 100000, "climb_max_steps must be 1..100000");
  BAD(o->lost_retries < 0 || o->lost_retries > 100, "lost_retries must be 0..100");
  BAD(o->perp_steps_max < 0 || o->perp_steps_max > 10000, "perp_steps_max must be 0..10000");
  BAD(o->lanczos_max_iter < 2 || o->lanczos_max_iter > 64, "lanczos_max_iter must be 2..64");
  BAD(o->lanczos_min_iter < 1 || o->lanczos_min_iter > o->lanczos_max_iter,
      "lanczos_min_iter must be 1..lanczos_max_iter");
  BAD(!(o->lanczos_tol > 0.0 && o->lanczos_tol < 1.0), "lanczos_tol must be in (0, 1)");
  BAD(!(o->lanczos_fd_step > 0.0 && o->lanczos_fd_step <= 0.1), "lanczos_fd_step must be in (0, 0.1] A");
  BAD(o->lanczos_analytic != 0 && o->lanczos_analytic != 1, "lanczos_analytic must be 0 or 1");
  BAD(!(o->memo_dist >= 0.0 && o->memo_dist <= 5.0), "memo_dist must be in [0, 5] A");
  BAD(!(o->memo_energy >= 0.0 && o->memo_energy <= 5.0), "memo_energy must be in [0, 5] eV");
  BAD(!(o->list_skin > 0.0 && o->list_skin <= 5.0), "list_skin must be in (0, 5] A");
  BAD(!(o->push_over > 0.0 && o->push_over <= 5.0), "push_over must be in (0, 5] A");
  BAD(!(o->min_ftol > 0.0 && o->min_ftol <= 1.0), "min_ftol must be in (0, 1] eV/A");
  BAD(o->min_max_calls < 1, "min_max_calls must be >= 1");
  BAD(!(o->same_dist > 0.0 && o->same_dist < 100.0), "same_dist must be in (0, 100) A");
  BAD(o->lost_follow < 0 || o->lost_follow > 1000, "lost_follow must be 0..1000");
  BAD(!(o->basin_lanczos_gap >= 0.0 && o->basin_lanczos_gap <= 1.0), "basin_lanczos_gap must be in [0, 1]");
  BAD(!(o->refine_frozen_max >= 0.0 && o->refine_frozen_max <= 1.0), "refine_frozen_max must be in [0, 1]");
  BAD(!(o->push_radius == 0.0 || (o->push_radius >= o->local_radius && o->push_radius < 1e3)),
      "push_radius must be 0 or in [local_radius, 1000) A");
  BAD(!(o->second_remote >= 0.0 && o->second_remote < 1e3), "second_remote must be in [0, 1000) A");
  BAD(!(o->same_energy > 0.0 && o->same_energy < 100.0), "same_energy must be in (0, 100) eV");
  BAD(!(o->max_energy > 0.0 && o->max_energy < 1e6), "max_energy must be positive");
  BAD(o->max_calls < 1, "max_calls must be >= 1");
  BAD(!(o->second_force > 0.0 && o->second_force <= o->saddle_force),
      "second_force must be in (0, saddle_force]");
  BAD(o->second_retries < 0 || o->second_retries > 100, "second_retries must be 0..100");
  BAD(!(o->lanczos_radius >= 0.0 && o->lanczos_radius < 1e3), "lanczos_radius must be in [0, 1000) A");
  BAD(o->restarts < 0 || o->restarts > 100, "restarts must be 0..100");
  BAD(o->basin_init_steps < 0 || o->basin_init_steps >= o->basin_max_steps,
      "basin_init_steps must be 0..basin_max_steps-1");
  BAD(o->basin_warm != 0 && o->basin_warm != 1, "basin_warm must be 0 or 1");
  BAD(!(o->lost_threshold < 0.0 && o->lost_threshold >= o->eigen_threshold),
      "lost_threshold must be in [eigen_threshold, 0)");
  BAD(o->local && !(o->local_radius >= o->perturb_radius + 1.0 && o->local_radius < 1e3),
      "local_radius must be at least perturb_radius + 1 A");
  BAD(!(o->refine_radius == 0.0 || (o->refine_radius >= o->local_radius && o->refine_radius < 1e3)),
      "refine_radius must be 0 (whole system) or in [local_radius, 1000) A");
  BAD(o->refine_push != 0 && o->refine_push != 1, "refine_push must be 0 or 1");
  BAD(!(o->refine_grow >= 0.0 && o->refine_grow < 1e3), "refine_grow must be in [0, 1000) A");
  BAD(o->refine_grow > 0.0 && !(o->refine_radius > 0.0),
      "refine_grow needs refine_radius > 0 (a refinement cluster to grow)");
  BAD(!(o->refine_grow_hot >= 0.0 && o->refine_grow_hot <= 1.0), "refine_grow_hot must be in [0, 1]");
  BAD(o->refine_grow_hot > 0.0 && !(o->refine_grow > 0.0),
      "refine_grow_hot needs refine_grow > 0 (the distance it grows by)");
#undef BAD
  return ENG_OK;
}

/* A cluster cut out of the whole system for local mode: the moving sphere
 * (radius r_m around the chosen atom) and every atom within r_m + cutoff +
 * SHELL_MARGIN, the outer ones fixed.  The atoms left out are fixed too:
 * each shell atom's density from everything but the moving atoms, the
 * whole system's at x0 less the moving atoms' share, is given to the
 * cluster's calculator (eng_calc_set_frozen_density; until session 16 the
 * shell's own pairs were summed and the left-out atoms' share added as a
 * background density).  While no moving atom
 * has moved more than SHELL_MARGIN, every atom whose density or pair terms
 * change is in the cluster with its whole-system density, so forces on the
 * moving atoms and energy differences equal the whole system's (with the
 * outer atoms fixed) to round-off (tests/engine/test_cluster.c). */
typedef struct cluster {
  eng_system *sys;     /* NULL: local mode runs on the whole system with a mask */
  int periodic;        /* 1: sys is a periodic copy of the whole system, the atoms
                          that do not move frozen (a grown refinement out of the
                          cell) */
  eng_calc *calc;
  int *map;            /* cluster atom -> whole-system atom */
  unsigned char *mobile;
  double *x0;
  double *rho_fz;      /* per cluster atom: a shell atom's density from everything
                          but the moving atoms (given to calc), 0 on moving ones */
  int n, nactive;
} cluster;

/* Free cluster c; its calculator's list builds are added to *builds. */
static void cluster_free(cluster *c, int *builds) {
  if (c->calc) *builds += (int)eng_calc_nbuild(c->calc);
  eng_calc_free(c->calc);
  eng_system_free(c->sys);
  free(c->map);
  free(c->mobile);
  free(c->x0);
  free(c->rho_fz);
  memset(c, 0, sizeof *c);
}

/* Cut the cluster of moving radius rm around atom c0 of sys (positions
 * made contiguous around it; rc the potential cutoff); with mob (natoms
 * flags, not NULL) the moving atoms are those flagged instead of the
 * sphere, every one of them within rm of c0 (refine_grow_hot, session 12),
 * the cluster still everything within rm + rc + SHELL_MARGIN.  rho_full holds the
 * whole-system host densities at sys->x (eng_calc_density).  A sphere that
 * does not fit in the periodic cell (2 (rm + rc + SHELL_MARGIN) >= a cell
 * width, where an atom could meet two images of another) leaves cl->sys
 * NULL and masks the whole system instead; if at most the fraction
 * frozen_max (> 0) of the atoms move, cl->sys is then a periodic copy of
 * the whole system with its own calculator, the atoms that do not move
 * (beyond rm, or not flagged in mob) frozen (their pairs skipped, session
 * 9), and cl->periodic = 1. */
static int cluster_fits(const eng_system *sys, double rm, double rc) {
  double R = rm + rc + SHELL_MARGIN, w[3];
  eng_box_widths(&sys->box, w);
  for (int k = 0; k < 3; k++)
    if (sys->box.periodic[k] && 2.0 * R >= w[k]) return 0;
  return 1;
}

static int cluster_build(const eng_potential *pot, const eng_system *sys, int c0, double rc,
                         double rm, const double *rho_full, double frozen_max, const unsigned char *mob,
                         double skin, cluster *cl) {
  const eng_calc_opts copts = {.skin = skin};
  double R = rm + rc + SHELL_MARGIN, lo[3], hi[3];
  const double *xc = sys->x + 3 * c0;
  int fits = cluster_fits(sys, rm, rc), n = sys->natoms, rcode;
  memset(cl, 0, sizeof *cl);
  cl->map = eng__calloc((size_t)n, sizeof(int));
  cl->mobile = eng__calloc((size_t)n, 1);
  cl->x0 = eng__calloc(3 * (size_t)n, sizeof(double));
  if (!cl->map || !cl->mobile || !cl->x0) return ENG_ENOMEM;
  for (int k = 0; k < 3; k++) lo[k] = hi[k] = xc[k];
  for (int j = 0; j < n; j++) {
    double d[3], r;
    for (int k = 0; k < 3; k++) d[k] = sys->x[3 * j + k] - xc[k];
    eng_box_minimum_image(&sys->box, d);
    r = sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
    assert(!mob || !mob[j] || r <= rm); /* every flagged atom is cut out, moving */
    if (fits && r >= R) continue;
    cl->map[cl->n] = j;
    cl->mobile[cl->n] = mob ? mob[j] : r < rm;
    cl->nactive += cl->mobile[cl->n];
    for (int k = 0; k < 3; k++) {
      double y = fits ? xc[k] + d[k] : sys->x[3 * j + k];
      cl->x0[3 * cl->n + k] = y;
      if (y < lo[k]) lo[k] = y;
      if (y > hi[k]) hi[k] = y;
    }
    cl->n++;
  }
  if (!fits && frozen_max > 0.0 && cl->nactive <= frozen_max * n) {
    /* The periodic whole system itself, nothing left out: no background
     * density; the frozen atoms' pairs are summed once per list build. */
    unsigned char *frozen = eng__malloc((size_t)n, 1);
    assert(cl->n == n);
    cl->sys = eng_system_copy(sys);
    if (!frozen || !cl->sys) {
      free(frozen);
      return ENG_ENOMEM;
    }
    cl->periodic = 1;
    rcode = eng_calc_create(pot, cl->sys, &copts, &cl->calc);
    for (int i = 0; i < n; i++) frozen[i] = !cl->mobile[i];
    if (rcode == ENG_OK) rcode = eng_calc_set_frozen(cl->calc, frozen);
    free(frozen);
    return rcode;
  }
  if (!fits) return ENG_OK;
  cl->sys = eng_system_create(cl->n, sys->ntypes);
  cl->rho_fz = eng__calloc((size_t)cl->n, sizeof(double));
  if (!cl->sys || !cl->rho_fz) return ENG_ENOMEM;
  for (int t = 0; t < sys->ntypes; t++) {
    memcpy(cl->sys->type_name[t], sys->type_name[t], ENG_NAME_MAX);
    cl->sys->type_mass[t] = sys->type_mass[t];
  }
  for (int i = 0; i < cl->n; i++) {
    cl->sys->id[i] = sys->id[cl->map[i]];
    cl->sys->type[i] = sys->type[cl->map[i]];
  }
  memcpy(cl->sys->x, cl->x0, sizeof(double) * 3 * (size_t)cl->n);
  for (int k = 0; k < 3; k++) {
    cl->sys->box.lo[k] = lo[k] - 10.0;
    cl->sys->box.len[k] = hi[k] - lo[k] + 20.0;
    cl->sys->box.periodic[k] = 0;
  }
  rcode = eng_calc_create(pot, cl->sys, &copts, &cl->calc);
  if (rcode != ENG_OK) return rcode;
  {
    unsigned char *frozen = eng__malloc((size_t)cl->n, 1);
    if (!frozen) return ENG_ENOMEM;
    for (int i = 0; i < cl->n; i++) frozen[i] = !cl->mobile[i];
    rcode = eng_calc_set_frozen(cl->calc, frozen);
    free(frozen);
    if (rcode != ENG_OK) return rcode;
  }
  /* The shell never moves: its atoms' densities are given, not summed
   * (session 16; the pairs of two shell atoms were summed once per cluster
   * until then, most of a new cluster's cost).  A shell atom's density is
   * the whole system's at x0 less its moving neighbours' share, which a
   * first compute with zero shell densities gives (rho_fz as scratch). */
  rcode = eng_calc_set_frozen_density(cl->calc, cl->sys, cl->rho_fz);
  if (rcode == ENG_OK) rcode = eng_calc_compute(cl->calc, cl->sys, NULL, NULL, NULL, NULL);
  if (rcode == ENG_OK) rcode = eng_calc_density(cl->calc, cl->rho_fz);
  if (rcode != ENG_OK) return rcode;
  for (int i = 0; i < cl->n; i++)
    cl->rho_fz[i] = cl->mobile[i] ? 0.0 : rho_full[cl->map[i]] - cl->rho_fz[i];
  return eng_calc_set_frozen_density(cl->calc, cl->sys, cl->rho_fz);
}

/* Copy the cluster positions y (displacements from cl->x0) onto the whole
 * system positions x0 -> out. */
static void cluster_to_full(const cluster *cl, const double *x0full, const double *y, double *out,
                            int n3full, int displacement_only) {
  if (!displacement_only) memcpy(out, x0full, sizeof(double) * (size_t)n3full);
  else memset(out, 0, sizeof(double) * (size_t)n3full);
  for (int i = 0; i < cl->n; i++)
    for (int k = 0; k < 3; k++) out[3 * cl->map[i] + k] += y[3 * i + k] - (displacement_only ? 0.0 : cl->x0[3 * i + k]);
}

/* The final-state fields of ev from the minimum in context R (positions
 * R->sys->x, energy R->e), and x_final (if not NULL: whole-system
 * positions, cluster c mapped onto x0full, or R's own when c is NULL). */
static void final_record(eng_artn_event *ev, const actx *R, const cluster *c, const double *x0full, double *x_final,
                         int n3full) {
  ev->final_differs = !same_as_initial(R);
  ev->e_final = R->e - R->e0 + ev->e_initial;
  ev->de_final = R->e - R->e0;
  ev->max_disp = max_disp(R, R->sys->x, MOVED_DIST, &ev->n_moved);
  ev->exchange = ev->final_differs && is_exchange(R, R->sys->x);
  if (!x_final) return;
  if (c) cluster_to_full(c, x0full, R->sys->x, x_final, n3full, 0);
  else memcpy(x_final, R->sys->x, sizeof(double) * (size_t)n3full);
}

/* Max |force component| (eV/A, *fm) of the whole system F with the atoms
 * of cluster c at the positions xc (the others at x0full), or at F's own
 * positions if c is NULL: one whole-system call, counted in phase cat.
 * 0, or eval's code. */
static int whole_fmax(actx *F, const cluster *c, const double *x0full, const double *xc, int cat,
                      double *fm) {
  int rc;
  if (c) cluster_to_full(c, x0full, xc, F->sys->x, F->n3, 0);
  F->cat = cat;
  rc = eval(F);
  if (rc == 0) *fm = fmax_of(F, F->f);
  return rc;
}

/* refine_grow_hot (session 12): add to the moving set mob (natoms flags of
 * sys, 1 = moving, every one within *rmax (A) of atom c0 on entry) every
 * atom within g (A, minimum image, at the positions sys->x) of an atom
 * whose largest force component in f (eV/A, 3 natoms values) is at least
 * fhot, and set *rmax to the largest distance (A) of a moving atom from c0.
 * Only atoms within *rmax + 2 rc (rc: the cutoff, A) + SHELL_MARGIN of c0
 * count as hot: the forces beyond are the initial structure's, unchanged
 * by anything that moved (a residual force there is no reason to grow).
 * dn: scratch of natoms doubles.  Returns the number of atoms added. */
static int grow_hot(const eng_system *sys, int c0, const double *f, double fhot, double g, double rc,
                    unsigned char *mob, double *dn, double *rmax) {
  const int n = sys->natoms;
  const double reach = *rmax + 2.0 * rc + SHELL_MARGIN;
  int nadd = 0;
  assert(g > 0.0 && fhot > 0.0 && rc > 0.0);
  for (int j = 0; j < n; j++) {
    double d[3];
    for (int k = 0; k < 3; k++) d[k] = sys->x[3 * j + k] - sys->x[3 * c0 + k];
    eng_box_minimum_image(&sys->box, d);
    dn[j] = sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
  }
  for (int h = 0; h < n; h++) {
    const double *fh = f + 3 * h;
    if (dn[h] > reach) continue;
    if (!(fabs(fh[0]) >= fhot || fabs(fh[1]) >= fhot || fabs(fh[2]) >= fhot)) continue;
    for (int j = 0; j < n; j++) {
      double d[3];
      /* the minimum-image distance is a metric: |dn_j - dn_h| bounds it */
      if (mob[j] || fabs(dn[j] - dn[h]) >= g) continue;
      for (int k = 0; k < 3; k++) d[k] = sys->x[3 * j + k] - sys->x[3 * h + k];
      eng_box_minimum_image(&sys->box, d);
      if (d[0] * d[0] + d[1] * d[1] + d[2] * d[2] < g * g) {
        mob[j] = 1;
        nadd++;
      }
    }
  }
  *rmax = 0.0;
  for (int j = 0; j < n; j++)
    if (mob[j] && dn[j] > *rmax) *rmax = dn[j];
  return nadd;
}

/* a->lmask: the atoms of a's system within radius (A, minimum image) of
 * atom c; radius <= 0 leaves it NULL (whole system). */
static int set_lmask(actx *a, int c, double radius) {
  const eng_system *sys = a->sys;
  int n = sys->natoms;
  if (!(radius > 0.0)) return ENG_OK;
  a->lmask = eng__calloc((size_t)n, 1);
  if (!a->lmask) return ENG_ENOMEM;
  for (int j = 0; j < n; j++) {
    double dj[3];
    for (int k = 0; k < 3; k++) dj[k] = a->x0[3 * j + k] - a->x0[3 * c + k];
    eng_box_minimum_image(&sys->box, dj);
    a->lmask[j] = dj[0] * dj[0] + dj[1] * dj[1] + dj[2] * dj[2] <= radius * radius;
  }
  return ENG_OK;
}

/* Gaussian components from rng on the atoms within radius of atom c
 * (minimum image), in index order; zero elsewhere.  raw has 3*natoms. */
static void draw_kick(const eng_system *sys, int c, double radius, eng_rng *rng, double *raw) {
  int n = sys->natoms;
  memset(raw, 0, sizeof(double) * 3 * (size_t)n);
  for (int j = 0; j < n; j++) {
    double dj[3];
    for (int k = 0; k < 3; k++) dj[k] = sys->x[3 * j + k] - sys->x[3 * c + k];
    eng_box_minimum_image(&sys->box, dj);
    if (dj[0] * dj[0] + dj[1] * dj[1] + dj[2] * dj[2] > radius * radius) continue;
    for (int k = 0; k < 3; k++) raw[3 * j + k] = eng_rng_normal(rng);
  }
}

/* The unit kick direction d in the search context S from the whole-system
 * kick raw (cluster atoms picked through cl->map in local mode). */
static void kick_dir(const actx *S, const cluster *cl, const double *raw, double *d) {
  if (!cl->map) {
    memcpy(d, raw, sizeof(double) * (size_t)S->n3);
  } else {
    for (int i = 0; i < cl->n; i++)
      for (int k = 0; k < 3; k++) d[3 * i + k] = raw[3 * cl->map[i] + k];
  }
  project(S, d);
  normalize(d, S->n3);
}

struct eng_artn_start {
  int natoms;
  double e, fmax; /* eV, eV/A */
  double *rho;    /* natoms host densities */
  double *x;      /* 3 natoms: the positions it was made at */
  eng_box box;
};

void eng_artn_start_free(eng_artn_start *s) {
  if (!s) return;
  free(s->rho);
  free(s->x);
  free(s);
}

/* Contract in engine.h. */
int eng_artn_start_make(eng_calc *calc, const eng_system *sys, eng_artn_start **out) {
  eng_artn_start *s;
  double *f = NULL;
  int rc;
  if (!calc || !sys || !out)
    return eng_set_error(ENG_EINVAL, "artn.c:%d: calc, sys and out must not be NULL", __LINE__);
  *out = NULL;
  s = eng__calloc(1, sizeof *s);
  if (!s) return ENG_ENOMEM;
  s->natoms = sys->natoms;
  s->box = sys->box;
  s->rho = eng__calloc((size_t)sys->natoms, sizeof(double));
  s->x = eng__malloc(3 * (size_t)sys->natoms, sizeof(double));
  f = eng__malloc(3 * (size_t)sys->natoms, sizeof(double));
  if (!s->rho || !s->x || !f) {
    rc = ENG_ENOMEM;
    goto fail;
  }
  memcpy(s->x, sys->x, sizeof(double) * 3 * (size_t)sys->natoms);
  eng_calc_invalidate(calc); /* the list eng_artn_run would build */
  rc = eng_calc_compute(calc, sys, &s->e, f, NULL, NULL);
  if (rc == ENG_OK) rc = eng_calc_density(calc, s->rho);
  if (rc != ENG_OK) goto fail;
  s->fmax = eng__max_abs(f, 3 * sys->natoms);
  free(f);
  *out = s;
  return ENG_OK;
fail:
  free(f);
  eng_artn_start_free(s);
  return rc;
}

int eng_artn_run(eng_calc *calc, const eng_potential *pot, const eng_system *sys,
                 int atom_index, long event_index, const eng_artn_opts *opts,
                 eng_progress_fn progress, void *ud, eng_artn_event *ev,
                 double *x_saddle, double *x_final) {
  return eng_artn_run_from(calc, pot, sys, NULL, atom_index, event_index, opts, progress, ud, ev, x_saddle,
                           x_final);
}

int eng_artn_run_from(eng_calc *calc, const eng_potential *pot, const eng_system *sys,
                      const eng_artn_start *start, int atom_index, long event_index,
                      const eng_artn_opts *opts, eng_progress_fn progress, void *ud,
                      eng_artn_event *ev, double *x_saddle, double *x_final) {
  return eng_artn_run_memo(calc, pot, sys, start, NULL, atom_index, event_index, opts, progress, ud, ev,
                           x_saddle, x_final);
}

int eng_artn_run_memo(eng_calc *calc, const eng_potential *pot, const eng_system *sys,
                      const eng_artn_start *start, eng_artn_memo *memo, int atom_index,
                      long event_index, const eng_artn_opts *opts, eng_progress_fn progress,
                      void *ud, eng_artn_event *ev, double *x_saddle, double *x_final) {
  int memo_new = 0; /* this attempt's cluster saddle goes into the memo at its end */
  uint64_t memo_h = 0; /* memo_hash of the structure, options and potential (0: not yet) */
  eng_artn_opts od;
  const eng_artn_opts *o;
  eng_system *work = NULL;
  actx F, L;                /* whole system, local search */
  actx L2;                  /* local mode: refinement cluster (refine_radius) */
  actx P;                   /* local mode: push-over cluster (push_radius) */
  actx *S = NULL;           /* context where the search runs */
  cluster cl, cl2, cl3;     /* local mode: search, refinement, push-over clusters */
  double *rho_full = NULL;  /* local mode: whole-system densities at sys->x */
  double *v2 = NULL;        /* the mode in the refinement cluster */
  int have_L2 = 0;
  double cl2_r = 0.0;       /* moving radius cl2 was cut with */
  unsigned char *hot = NULL; /* refine_grow_hot: the grown moving set (whole-system flags) */
  long hot_set = 0;         /* 0: the refinement's moving set is the sphere of rr; else
                               the serial of the set in hot */
  long hot_seq = 0;         /* serials given so far */
  long cl2_hot = 0;         /* hot_set cl2 was cut with */
  long c2_calls = 0, c2_iters = 0, c2_cat[4][2] = {{0}}; /* calls of grown-out L2s */
  long c2_hvp[4] = {0};     /* their analytic Hessian products by phase */
  long hvp0 = 0, hsec0 = 0; /* hvp_all (all, CAT_SECOND) at the start of the current attempt */
  long att0 = 0;            /* calls_all at the start of the current attempt */
  long sec0 = 0;            /* calls_second_all at the start of the current attempt */
  long npush = 0, push0 = 0; /* second-mode push-offs of the event; at the attempt's start */
  sstate st;
  eng_rng rng;
  double *raw = NULL, *d = NULL, *v = NULL, *xs = NULL, *vs = NULL, *y = NULL, *vf = NULL;
  double *sxc = NULL, *xa = NULL, *xb = NULL, *vw = NULL;
  actx *S0 = NULL;
  int n, n3, rc = ENG_OK, have_F = 0, have_L = 0, have_P = 0, saddle_calls_L = 0, attempt = 0, use_start;
  double fmax0;

  memset(&cl, 0, sizeof cl);
  memset(&cl2, 0, sizeof cl2);
  memset(&cl3, 0, sizeof cl3);
  memset(&st, 0, sizeof st);
  if (!calc || !sys || !ev)
    return eng_set_error(ENG_EINVAL, "artn.c:%d: calc, sys and ev must not be NULL", __LINE__);
  if (!opts) {
    eng_artn_opts_default(&od);
    opts = &od;
  }
  o = opts;
  rc = check_opts(o);
  if (rc != ENG_OK) return rc;
  n = sys->natoms;
  n3 = 3 * n;
  if (atom_index < 0 || atom_index >= n)
    return eng_set_error(ENG_EINVAL, "artn.c:%d: atom index %d out of range 0..%d", __LINE__,
                         atom_index, n - 1);
  if (event_index < 0)
    return eng_set_error(ENG_EINVAL, "artn.c:%d: negative event index %ld", __LINE__, event_index);
  if (o->local && !pot)
    return eng_set_error(ENG_EINVAL, "artn.c:%d: local mode needs the potential", __LINE__);
  if (start && (start->natoms != n || !eng__box_same(&start->box, &sys->box) ||
                memcmp(start->x, sys->x, sizeof(double) * (size_t)n3) != 0))
    return eng_set_error(ENG_EINVAL, "artn.c:%d: the ARTn start was made for other positions or another box",
                         __LINE__);

  memset(ev, 0, sizeof *ev);
  ev->atom_id = sys->id[atom_index];
  ev->atom_index = atom_index;
  ev->event_index = event_index;
  ev->seed = o->seed;
  ev->stream = eng_artn_stream_seed(o->seed, ev->atom_id, event_index);
  ev->e_saddle = ev->e_final = ev->dq = ev->de_final = ev->eigenvalue = NAN;
  ev->fmax_saddle = ev->max_disp_saddle = ev->max_disp = NAN;
  ev->dq_local = ev->refine_shift = ev->eigenvalue2 = NAN;
  ev->fmax_whole = NAN;
  ev->connected = -1;
  ev->memo_event = -1;
  ev->memo_attempt = -1;

  work = eng_system_copy(sys);
  raw = eng__calloc((size_t)n3, sizeof(double));
  d = eng__calloc((size_t)n3, sizeof(double));
  v = eng__calloc((size_t)n3, sizeof(double));
  xs = eng__calloc((size_t)n3, sizeof(double));
  vs = eng__calloc((size_t)n3, sizeof(double));
  vf = eng__calloc((size_t)n3, sizeof(double));
  if (!work || !raw || !d || !v || !xs || !vs || !vf) {
    rc = ENG_ENOMEM;
    goto out;
  }
  rc = actx_init(&F, calc, work, o, NULL, sys->x);
  if (rc != ENG_OK) goto out;
  have_F = 1;
  F.pushoffs = &npush;
  F.progress = progress;
  F.ud = ud;
  F.rng = &rng;
  F.phase = "start";
  eng_calc_invalidate(calc); /* same neighbour order whatever ran before */
  /* With a start (session 11), a local search whose cluster fits takes
   * the initial energy, largest force and densities from it: F.f stays
   * unset, and F's first call comes later (a whole-system check).  The
   * budget (max_calls) still counts the call the start made (use_start is
   * added where F's calls are), so that the events are the same. */
  use_start = start && o->local && cluster_fits(sys, o->local_radius, eng_calc_cutoff(calc));
  if (use_start) {
    F.e = start->e;
    fmax0 = start->fmax;
  } else {
    rc = eval(&F);
    if (rc != 0) goto out;
    fmax0 = fmax_of(&F, F.f);
  }
  F.e0 = ev->e_initial = F.e;
  if (!(fmax0 <= o->saddle_force)) {
    rc = eng_set_error(ENG_EINVAL,
                       "artn.c:%d: the structure is not minimised (max force component %.3g eV/A "
                       "> saddle_force %.3g)", __LINE__, fmax0, o->saddle_force);
    goto out;
  }

  /* 1. The random kick: Gaussian components on the atoms within
   * perturb_radius of the chosen one, in index order. */
  eng_rng_seed(&rng, ev->stream);
  draw_kick(sys, atom_index, o->perturb_radius, &rng, raw);

  if (!o->local) {
    S = &F;
    kick_dir(S, &cl, raw, d);
    S->limit = o->max_calls;
  } else {
    /* calc's last compute was at sys->x (eval(&F) above), or the start's */
    rho_full = eng__calloc((size_t)n, sizeof(double));
    if (!rho_full) {
      rc = ENG_ENOMEM;
      goto out;
    }
    if (use_start) memcpy(rho_full, start->rho, sizeof(double) * (size_t)n);
    else rc = eng_calc_density(calc, rho_full);
    if (rc == ENG_OK)
      rc = cluster_build(pot, sys, atom_index, eng_calc_cutoff(calc), o->local_radius, rho_full, 0.0, NULL,
                         o->list_skin, &cl);
    if (rc != ENG_OK) goto out;
    /* F's next call (a whole-system check, at a saddle) builds its list
     * afresh, with or without a start: the same list either way */
    if (cl.sys && !use_start) eng_calc_invalidate(calc);
    ev->n_cluster = cl.n;
    ev->n_active = cl.nactive;
    if (cl.sys) {
      rc = actx_init(&L, cl.calc, cl.sys, o, cl.mobile, cl.x0);
    } else {
      /* The sphere does not fit: mask the whole system (indices coincide). */
      rc = actx_init(&L, calc, work, o, cl.mobile, sys->x);
    }
    if (rc != ENG_OK) goto out;
    have_L = 1;
    L.pushoffs = &npush;
    S = &L;
    L.progress = progress;
    L.ud = ud;
    L.rng = &rng;
    L.limit = o->max_calls;
    if (cl.sys) {
      rc = eval(&L);
      if (rc != 0) goto out;
      L.e0 = L.e;
    } else {
      L.e0 = F.e0;
      L.ncalls = 0;
      memcpy(L.f, F.f, sizeof(double) * (size_t)n3);
      project(&L, L.f);
      L.e = F.e;
    }
    kick_dir(S, &cl, raw, d);
  }

  /* 2.-5. Leave the basin, climb to the saddle, push over both sides.  A
   * failed attempt (no saddle, not first order, not connected to the
   * initial minimum, both sides back in it) starts again from the initial
   * minimum with a new kick from the same stream, at most `restarts`
   * times, on the same force-call budget. */
  rc = set_lmask(&F, atom_index, o->lanczos_radius);
  if (rc == ENG_OK && have_L) {
    int c = atom_index;
    if (cl.sys)
      for (int i = 0; i < cl.n; i++)
        if (cl.map[i] == atom_index) c = i;
    rc = set_lmask(&L, c, o->lanczos_radius);
  }
  if (rc != ENG_OK) goto out;
  S0 = S;
  TRACE("T event start cpu %.4f\n", trace_cpu());
again:
  att0 = calls_all(&F, have_L ? &L : NULL, have_L2 ? &L2 : NULL, c2_calls);
  sec0 = calls_second_all(&F, have_L ? &L : NULL, have_L2 ? &L2 : NULL, c2_cat[CAT_SECOND]);
  hvp0 = hvp_all(&F, have_L ? &L : NULL, have_L2 ? &L2 : NULL, c2_hvp, -1);
  hsec0 = hvp_all(&F, have_L ? &L : NULL, have_L2 ? &L2 : NULL, c2_hvp, CAT_SECOND);
  push0 = npush;
  if (attempt > 0) {
    TRACE("T restart after %s: %s\n", eng_artn_status_name(ev->status), ev->reason);
    S = S0;
    draw_kick(sys, atom_index, o->perturb_radius, &rng, raw);
    kick_dir(S, &cl, raw, d);
    memcpy(work->x, sys->x, sizeof(double) * (size_t)n3);
    if (have_L) memcpy(L.sys->x, L.x0, sizeof(double) * (size_t)L.n3);
    S->fire_keep = F.fire_keep = 0;
    S->cat = CAT_BASIN;
    rc = eval(S);
    if (rc < 0) goto out;
    if (rc > 0) {
      rc = status_of(rc, ev, &st, "");
      ev->fail_counts[ev->status]++;
      goto finish;
    }
    st.lost = 0;
    ev->status = ENG_ARTN_OK;
    ev->reason[0] = 0;
    ev->dq_local = ev->refine_shift = ev->eigenvalue2 = NAN;
    ev->fmax_whole = NAN;
    ev->refine_radius_used = 0.0;
    ev->refine_moving = 0;
    ev->refine_periodic = 0;
    ev->push_radius_used = 0.0;
    ev->exchange = 0;
    ev->e_saddle = ev->e_final = ev->dq = ev->de_final = ev->eigenvalue = NAN;
    ev->fmax_saddle = ev->max_disp_saddle = ev->max_disp = NAN;
    ev->n_moved = 0;
    ev->calls_attempt_saddle = 0;
    ev->calls_attempt_check = 0;
    ev->products_attempt_saddle = 0;
    ev->products_attempt_check = 0;
    ev->connected = -1;
    ev->final_differs = 0;
    ev->memo_event = -1;
    ev->memo_attempt = -1;
  }
  ev->attempts = attempt + 1;
  memcpy(v, d, sizeof(double) * (size_t)S->n3);
  rc = basin(S, d, o->perturb_size, o->basin_max_steps, o->basin_init_steps, 0, o->eigen_threshold, v,
             &st);
  if (rc == 0) rc = climb(S, v, o->saddle_force, &st);
  if (rc == 0 && !o->local) rc = finish_saddle(S, v, &st);
  ev->basin_steps = st.basin_steps;
  ev->climb_steps = st.climb_steps;
  if (rc < 0) goto out;
  if (rc > 0) {
    rc = status_of(rc, ev, &st, o->local ? "local search: " : "");
    goto retry;
  }

  if (o->local) {
    /* Saddle of the cluster; keep it (positions, mode) for the push-over. */
    ev->dq_local = L.e - L.e0;
    TRACE("T local saddle attempt %d dq_local %.5f cpu %.4f\n", attempt, ev->dq_local, trace_cpu());
    if (!y) y = eng__calloc((size_t)L.n3 * 2, sizeof(double));
    if (!y) {
      rc = ENG_ENOMEM;
      goto out;
    }
    memcpy(y, L.sys->x, sizeof(double) * (size_t)L.n3);
    memcpy(y + L.n3, v, sizeof(double) * (size_t)L.n3);
    if (memo && cl.sys) {
      memo_entry *q;
      if (!memo_h) memo_h = memo_hash(sys, o, pot) | 1; /* once per event (| 1: never 0) */
      memo_bind(memo, sys, memo_h, atom_index, L.n3);
      q = memo_find(memo, cl.mobile, y, ev->dq_local, o, x_saddle != NULL, x_final != NULL);
      if (q) {
        TRACE("T memo hit: event %ld attempt %d (%s)\n", q->event_index, q->attempt,
              eng_artn_status_name(q->out.status));
        memo_apply(ev, q);
        ev->force_calls_saddle = (int)F.ncalls;
        ev->calls_attempt_saddle = (int)(calls_all(&F, have_L ? &L : NULL, have_L2 ? &L2 : NULL, c2_calls) - att0);
        ev->products_attempt_saddle =
            (int)(hvp_all(&F, have_L ? &L : NULL, have_L2 ? &L2 : NULL, c2_hvp, -1) - hvp0);
        ev->calls_attempt_check = ev->products_attempt_check = 0;
        if (ev->status != ENG_ARTN_OK) goto retry;
        if (x_saddle) memcpy(x_saddle, q->xs, sizeof(double) * (size_t)n3);
        if (x_final) memcpy(x_final, q->xf, sizeof(double) * (size_t)n3);
        goto finish;
      }
      memo_new = 1;
    }
    if (o->local_refine) {
      sstate st2;
      double rr, ft;   /* refinement cluster's moving radius (A); force target (eV/A) */
      int finished;    /* refine_grow: the first-order check ran in the cluster */
      actx *T = &F;    /* where the saddle is refined */
      double *vt = vf; /* the mode there */
      memset(&st2, 0, sizeof st2);
      st2.lambda = st.lambda;
      /* Whole-system start: x0 + cluster displacement; mode mapped. */
      if (cl.sys) {
        cluster_to_full(&cl, sys->x, y, work->x, n3, 0);
        cluster_to_full(&cl, NULL, v, vf, n3, 1);
      } else {
        memcpy(vf, v, sizeof(double) * (size_t)n3);
      }
      rr = o->refine_radius;
      hot_set = 0;
      ft = o->refine_grow > 0.0 && o->refine_force > 0.0 ? o->refine_force : o->saddle_force;
    grow:
      finished = 0;
      if (cl.sys && rr > 0.0) {
        /* The bigger cluster, built once per event (the whole system when
         * it does not fit); rebuilt when refine_grow changed its radius
         * (refine_grow_hot: its moving set). */
        if (cl2.map && (cl2_r != rr || cl2_hot != hot_set)) {
          if (have_L2) {
            c2_calls += L2.ncalls;
            c2_iters += L2.lanczos_iters;
            for (int p = 0; p < 4; p++) {
              for (int q = 0; q < 2; q++) c2_cat[p][q] += L2.calls_cat[p][q];
              c2_hvp[p] += L2.nhvp[p];
            }
            TRACE("T cpu L2 r %.1f %.4f %.4f %.4f %.4f calls %ld\n", cl2_r, L2.cpu_cat[0], L2.cpu_cat[1],
                  L2.cpu_cat[2], L2.cpu_cat[3], L2.ncalls);
            actx_free(&L2);
            have_L2 = 0;
          }
          cluster_free(&cl2, &ev->list_builds);
        }
        if (!cl2.map) {
          cl2_r = rr;
          cl2_hot = hot_set;
#ifdef ARTN_TRACE
          double tb0 = trace_cpu();
#endif
          rc = cluster_build(pot, sys, atom_index, eng_calc_cutoff(calc), rr, rho_full,
                             o->refine_grow > 0.0 ? o->refine_frozen_max : 0.0, hot_set ? hot : NULL,
                             o->list_skin, &cl2);
          TRACE("T build r %.2f n %d moving %d periodic %d cpu %.4f\n", rr, cl2.n, cl2.nactive, cl2.periodic,
                trace_cpu() - tb0);
          if (rc == ENG_OK && cl2.sys) {
            rc = actx_init(&L2, cl2.calc, cl2.sys, o, cl2.mobile, cl2.x0);
            if (rc == ENG_OK) {
              int c2 = 0;
              have_L2 = 1;
              L2.pushoffs = &npush;
              L2.progress = progress;
              L2.ud = ud;
              L2.rng = &rng;
              for (int i = 0; i < cl2.n; i++)
                if (cl2.map[i] == atom_index) c2 = i;
              rc = set_lmask(&L2, c2, o->lanczos_radius);
            }
            if (rc == ENG_OK) rc = eval(&L2);
            L2.e0 = L2.e;
            if (!v2) v2 = eng__calloc((size_t)n3, sizeof(double));
            if (rc == ENG_OK && !v2) rc = ENG_ENOMEM;
          }
          if (rc < 0) goto out;
          assert(rc == 0); /* no budget yet: eval cannot end the search */
        }
        if (have_L2) {
          T = &L2;
          vt = v2;
          for (int i = 0; i < cl2.n; i++)
            for (int k = 0; k < 3; k++) {
              int j = 3 * cl2.map[i] + k;
              L2.sys->x[3 * i + k] = cl2.x0[3 * i + k] + (work->x[j] - sys->x[j]);
              v2[3 * i + k] = vf[j];
            }
          project(&L2, v2);
          normalize(v2, L2.n3);
        } else {
          T = &F;
          vt = vf;
        }
      }
      T->limit = o->max_calls;
      T->budget_offset = L.ncalls + c2_calls + use_start + (T == &F ? (have_L2 ? L2.ncalls : 0) : F.ncalls);
      T->fire_keep = 0;
      st2.climb_steps = 0;
      rc = eval(T);
      if (rc == 0) rc = lanczos(T, vt, &st2.lambda);
      if (rc == 0) rc = climb(T, vt, ft, &st2);
      ev->climb_steps += st2.climb_steps;
      if (rc < 0) goto out;
      if (rc > 0) {
        int budget = rc == ENG_ARTN_MAX_CALLS;
        ev->fmax_whole = NAN; /* (a grown-out cluster's check) */
        ev->status = ENG_ARTN_REFINE_FAILED;
        snprintf(ev->reason, sizeof ev->reason, "refinement in the %s: %s (%.60s)",
                 T == &F ? "whole system" : "refinement cluster",
                 eng_artn_status_name((eng_artn_status)rc),
                 budget ? "force-call budget exhausted" : st2.reason);
        rc = ENG_OK;
        if (budget) {
          memo_new = 0; /* (a budget is not an outcome of the saddle) */
          goto finish;
        }
        goto retry;
      }
      if (!(T->e - T->e0 > 0.0)) {
        /* The climb slid down to (or below) the initial minimum's energy:
         * no barrier (session 4: a 4.64 eV cluster saddle refined to
         * -0.004 eV in a 16,000-atom system was reported ok). */
        ev->status = ENG_ARTN_REFINE_FAILED;
        snprintf(ev->reason, sizeof ev->reason,
                 "refinement in the %s ended %.4f eV from the initial minimum (no barrier)",
                 T == &F ? "whole system" : "refinement cluster", T->e - T->e0);
        rc = ENG_OK;
        goto retry;
      }
      if (o->refine_grow > 0.0 && T == &L2) {
        /* Is the cluster saddle a saddle of the whole system?  The frozen
         * atoms beyond rr feel the moved ones: one whole-system call.  If
         * some component is still at or above the target, the cluster grows
         * and the climb resumes from here (session 5).  The first-order
         * check runs once the point passes (session 7; it ran at every
         * radius before, 48 calls or more each); if it moved the point,
         * the whole-system force is checked again, so that the checked
         * point is the reported saddle. */
        const size_t nb2 = sizeof(double) * (size_t)L2.n3;
        double *xpre = F.xtmp; /* the point before the check (F's scratch is free here) */
        rc = whole_fmax(&F, &cl2, sys->x, L2.sys->x, CAT_CLIMB, &ev->fmax_whole);
        if (rc < 0) goto out;
        assert(rc == 0); /* F has no budget in local mode */
        TRACE("T grow r %.1f fmax_whole %.4f E %.4f calls %ld moving %d\n", rr, ev->fmax_whole, L2.e - L2.e0,
              L2.ncalls, cl2.nactive);
        if (ev->fmax_whole < ft) {
          memcpy(xpre, L2.sys->x, nb2);
          rc = finish_saddle(T, vt, &st2);
          if (rc < 0) goto out;
          if (rc > 0) {
            ev->fmax_whole = NAN; /* no saddle reported from this attempt */
            rc = status_of(rc, ev, &st2, "refinement cluster: ");
            goto retry;
          }
          finished = 1;
          if (memcmp(xpre, L2.sys->x, nb2) != 0) {
            rc = whole_fmax(&F, &cl2, sys->x, L2.sys->x, CAT_SECOND, &ev->fmax_whole);
            if (rc < 0) goto out;
            assert(rc == 0);
            TRACE("T grow r %.1f moved by the first-order check: fmax_whole %.4f\n", rr, ev->fmax_whole);
          }
        }
        if (!(ev->fmax_whole < ft)) {
          cluster_to_full(&cl2, NULL, v2, vf, n3, 1);
          if (o->refine_grow_hot > 0.0) {
            /* refine_grow_hot (session 12): grow the moving set only
             * around the atoms the whole-system call found hot (F.f),
             * not the whole sphere; F's ftmp is free scratch here */
            double rmax = rr; /* every moving atom is within rr */
            int nadd;
            if (!hot && !(hot = eng__malloc((size_t)n, 1))) {
              rc = ENG_ENOMEM;
              goto out;
            }
            if (!hot_set) {
              memset(hot, 0, (size_t)n);
              for (int i = 0; i < cl2.n; i++) hot[cl2.map[i]] = cl2.mobile[i];
            }
            nadd = grow_hot(sys, atom_index, F.f, o->refine_grow_hot * ft, o->refine_grow, eng_calc_cutoff(calc),
                            hot, F.ftmp, &rmax);
            TRACE("T grow hot: %d atoms added, set within %.2f A\n", nadd, rmax);
            if (nadd > 0) {
              hot_set = ++hot_seq;
              rr = rmax;
              goto grow;
            }
            /* (an atom at or above ft is hot and not moving, the moving
             * ones being below it; none is added only when that atom lies
             * beyond the reach of anything that moved, a residual force of
             * the initial structure: the sphere then, as before) */
            hot_set = 0;
          }
          rr += o->refine_grow;
          goto grow;
        }
      }
      ev->refine_radius_used = T == &L2 ? rr : 0.0;
      ev->refine_moving = T == &L2 ? cl2.nactive : 0;
      ev->refine_periodic = T == &L2 && cl2.periodic;
      {
        /* Shift between the cluster saddle (mapped) and the refined one. */
        double *tmp = F.ftmp, *xr = work->x, best = 0.0;
        if (cl.sys) cluster_to_full(&cl, sys->x, y, tmp, n3, 0);
        else memcpy(tmp, y, sizeof(double) * (size_t)n3);
        if (T == &L2) {
          xr = F.xtmp;
          cluster_to_full(&cl2, sys->x, L2.sys->x, xr, n3, 0);
        }
        for (int i = 0; i < n; i++) {
          double dd[3], r;
          for (int k = 0; k < 3; k++) dd[k] = xr[3 * i + k] - tmp[3 * i + k];
          eng_box_minimum_image(&work->box, dd);
          r = sqrt(dd[0] * dd[0] + dd[1] * dd[1] + dd[2] * dd[2]);
          if (r > best) best = r;
        }
        ev->refine_shift = best;
      }
      st.lambda = st2.lambda;
      st.lambda2 = st2.lambda2;
      S = T;
      memcpy(v, vt, sizeof(double) * (size_t)T->n3);
      if (finished) goto saddle_done;
    }
    rc = finish_saddle(S, v, &st);
    if (rc < 0) goto out;
    if (rc > 0) {
      rc = status_of(rc, ev, &st, "");
      goto retry;
    }
    if (S == &F) {
      ev->fmax_whole = fmax_of(&F, F.f);
    } else {
      /* the reported saddle's whole-system force: one whole-system call
       * (a masked whole system, no cluster: L.sys is work itself) */
      rc = whole_fmax(&F, S == &L2 ? &cl2 : cl.sys ? &cl : NULL, sys->x, S->sys->x, CAT_SECOND,
                      &ev->fmax_whole);
      if (rc < 0) goto out;
      assert(rc == 0);
    }
  }
saddle_done:
  ev->eigenvalue2 = st.lambda2;

  /* The saddle. */
  /* (a cluster's energy differences are the whole system's) */
  ev->e_saddle = S == &F ? S->e : ev->e_initial + (S->e - S->e0);
  ev->dq = S->e - S->e0;
  if (o->local && !o->local_refine) ev->dq = ev->dq_local;
  ev->eigenvalue = st.lambda;
  ev->fmax_saddle = fmax_of(S, S->f);
  if (!o->local) ev->fmax_whole = ev->fmax_saddle;
  ev->force_calls_saddle = (int)F.ncalls;
  ev->calls_attempt_saddle = (int)(calls_all(&F, have_L ? &L : NULL, have_L2 ? &L2 : NULL, c2_calls) - att0);
  ev->calls_attempt_check =
      (int)(calls_second_all(&F, have_L ? &L : NULL, have_L2 ? &L2 : NULL, c2_cat[CAT_SECOND]) - sec0);
  ev->products_attempt_saddle = (int)(hvp_all(&F, have_L ? &L : NULL, have_L2 ? &L2 : NULL, c2_hvp, -1) - hvp0);
  ev->products_attempt_check =
      (int)(hvp_all(&F, have_L ? &L : NULL, have_L2 ? &L2 : NULL, c2_hvp, CAT_SECOND) - hsec0);
  saddle_calls_L = have_L ? (int)L.ncalls : 0;
  if (S == &F) {
    memcpy(xs, work->x, sizeof(double) * (size_t)n3);
  } else if (S == &L2) {
    cluster_to_full(&cl2, sys->x, L2.sys->x, xs, n3, 0);
  } else if (cl.sys) {
    cluster_to_full(&cl, sys->x, L.sys->x, xs, n3, 0);
  } else {
    memcpy(xs, work->x, sizeof(double) * (size_t)n3);
  }
  ev->max_disp_saddle = max_disp(&F, xs, MOVED_DIST, NULL);
  if (x_saddle) memcpy(x_saddle, xs, sizeof(double) * (size_t)n3);

  /* 4.-5. Push over both sides (local mode: in the cluster, the saddle
   * refined in the whole system mapped into it, or in the refinement
   * cluster; outer atoms fixed). */
  {
    /* masked local search (no cluster): relax the whole system */
    /* (refine_push: the saddle refined in the whole system, pushed over
     * there; so with refine_grow when the cluster grew out of the cell,
     * since session 6: the connection of the reported saddle itself) */
    const int push_whole = S == &F && (o->refine_push || o->refine_grow > 0.0);
    actx *R = S == &L2 ? &L2 : o->local && cl.sys && !push_whole ? &L : &F;
    int a_init = 0, b_init, ab_same = 0, have_b = 0;
    double ea, eb = 0.0, lam_s = st.lambda;
    if (!sxc) sxc = eng__calloc((size_t)n3, sizeof(double));
    if (!xa) xa = eng__calloc((size_t)n3, sizeof(double));
    if (!xb) xb = eng__calloc((size_t)n3, sizeof(double));
    if (!sxc || !xa || !xb) {
      rc = ENG_ENOMEM;
      goto out;
    }
    if (R == &F && S == &F) {
      memcpy(sxc, xs, sizeof(double) * (size_t)n3);
      memcpy(vs, v, sizeof(double) * (size_t)n3);
    } else if (S == &F && cl.sys) {
      /* Refined in the whole system: push over from the cluster saddle y
       * (positions, then its mode), a saddle of the cluster with the outer
       * atoms at rest.  The refined saddle mapped into the cluster froze its
       * shell where the whole-system refinement had moved it, so neither
       * side could relax back to the initial minimum (session 4: the first
       * 5 events at r_m 6 A on the 2,000-atom glass all failed so). */
      memcpy(sxc, y, sizeof(double) * (size_t)R->n3);
      memcpy(vs, y + L.n3, sizeof(double) * (size_t)R->n3);
    } else if (R == &F) {
      /* masked search not refined: its saddle, relaxed with all atoms free */
      memcpy(sxc, xs, sizeof(double) * (size_t)n3);
      memcpy(vs, v, sizeof(double) * (size_t)n3);
      project(R, vs);
      normalize(vs, R->n3);
    } else {
      /* R == S, a cluster: its saddle (after the first-order check) */
      memcpy(sxc, R->sys->x, sizeof(double) * (size_t)R->n3);
      memcpy(vs, v, sizeof(double) * (size_t)R->n3);
    }
    if (o->push_radius > 0.0 && o->local && (R == &L2 || (R == &F && push_whole)) &&
        (R == &F || cl2_r > o->push_radius)) {
      /* push_radius (session 10): the saddle certified in a bigger cluster
       * (or the whole system) is pushed over in the cluster of moving
       * radius push_radius, its moving atoms at the saddle's positions and
       * its shell (and every atom beyond) at the initial ones, the mode
       * mapped; the first-order check stayed where the saddle was
       * certified.  Built once per event. */
      if (!have_P && !cl3.map) {
        /* (a cluster that does not fit in the cell is the periodic whole
         * system with the atoms beyond push_radius frozen while at most
         * refine_frozen_max of them move, as for refine_grow; beyond that
         * cl3.sys is NULL: no push-over cluster, the push-over stays where
         * the saddle was certified) */
        rc = cluster_build(pot, sys, atom_index, eng_calc_cutoff(calc), o->push_radius, rho_full,
                           o->refine_frozen_max, NULL, o->list_skin, &cl3);
        if (rc == ENG_OK && cl3.sys) {
          rc = actx_init(&P, cl3.calc, cl3.sys, o, cl3.mobile, cl3.x0);
          if (rc == ENG_OK) {
            have_P = 1;
            P.pushoffs = &npush;
            P.progress = progress;
            P.ud = ud;
            P.rng = &rng;
            P.cat = CAT_PUSH;
            rc = eval(&P);
            P.e0 = P.e;
          }
        }
        if (rc < 0) goto out;
        assert(rc == 0); /* no budget: eval cannot end the search */
        if (!vw) vw = eng__calloc((size_t)n3, sizeof(double));
        if (!vw) {
          rc = ENG_ENOMEM;
          goto out;
        }
      }
      if (have_P) {
        /* the mode in whole-system coordinates, then both into P */
        if (R == &L2) cluster_to_full(&cl2, NULL, vs, vw, n3, 1);
        else memcpy(vw, vs, sizeof(double) * (size_t)n3);
        for (int i = 0; i < cl3.n; i++) {
          int j = cl3.map[i];
          double dd[3];
          for (int k = 0; k < 3; k++) dd[k] = xs[3 * j + k] - sys->x[3 * j + k];
          eng_box_minimum_image(&work->box, dd);
          for (int k = 0; k < 3; k++) {
            sxc[3 * i + k] = cl3.x0[3 * i + k] + (cl3.mobile[i] ? dd[k] : 0.0);
            vs[3 * i + k] = cl3.mobile[i] ? vw[3 * j + k] : 0.0;
          }
        }
        normalize(vs, P.n3);
        R = &P;
        ev->push_radius_used = o->push_radius;
      }
    }
    /* the saddle's own mode, refined (warm Lanczos) before pushing along it */
    TRACE("T pushover start cpu %.4f\n", trace_cpu());
    rc = refine_mode(R, sxc, vs, &lam_s);
    if (rc < 0) goto out;
    if (rc > 0) {
      rc = status_of(rc, ev, &st, "push-over: ");
      goto retry;
    }
    {
      /* orient the mode away from the initial minimum */
      double dot = 0.0;
      for (int i = 0; i < R->n3; i++) dot += vs[i] * (sxc[i] - R->x0[i]);
      if (dot < 0.0)
        for (int i = 0; i < R->n3; i++) vs[i] = -vs[i];
    }
    if (o->require_connect) {
      /* The side towards the initial minimum (-vs) first.  A connected
       * saddle has the initial minimum on one side; if this side relaxes
       * elsewhere, the saddle is rejected without relaxing the other one.
       * This can only reject, never accept: a saddle whose initial side
       * lies along +vs (the mode's overlap with x_s - x_0 misleading) is
       * lost, not mislabelled; on the bench glass the initial minimum was
       * on the -vs side of every connected saddle (docs/artn.md). */
      rc = relax_side(R, sxc, vs, lam_s, -1.0);
      if (rc < 0) goto out;
      have_b = 1;
      eb = R->e;
      memcpy(xb, R->sys->x, sizeof(double) * (size_t)R->n3);
      if (!same_as_initial(R)) {
        /* side b is the final state; the other side stays unrelaxed */
        TRACE("T side b first: dE %.5f, not the initial minimum\n", R->e - R->e0);
        ev->connected = 0;
        b_init = 0;
        goto final_state;
      }
    }
    rc = relax_side(R, sxc, vs, lam_s, 1.0);
    if (rc < 0) goto out;
    ea = R->e;
    a_init = same_as_initial(R);
    TRACE("T side a: dmax %.3f dE %.5f same %d\n", max_disp(R, R->sys->x, MOVED_DIST, NULL), R->e - R->e0, a_init);
    memcpy(xa, R->sys->x, sizeof(double) * (size_t)R->n3);
    b_init = 0;
    if (a_init || o->check_connect || o->require_connect) {
      if (have_b) {
        memcpy(R->sys->x, xb, sizeof(double) * (size_t)R->n3);
        R->e = eb;
      } else {
        rc = relax_side(R, sxc, vs, lam_s, -1.0);
      }
      if (rc < 0) goto out;
      b_init = same_as_initial(R);
      ab_same = same_minimum(R, R->sys->x, R->e, xa, ea);
      TRACE("T side b: dmax %.3f dE %.5f same %d\n", max_disp(R, R->sys->x, MOVED_DIST, NULL), R->e - R->e0, b_init);
      /* connected: exactly one side is the initial minimum, and the two
       * sides are different minima */
      ev->connected = (a_init != b_init) && !ab_same;
      /* The final minimum is side b if side a is the initial one, else a. */
      if (!a_init) {
        memcpy(R->sys->x, xa, sizeof(double) * (size_t)R->n3);
        R->e = ea;
      }
    }
  final_state:
    final_record(ev, R, R == &L && cl.sys ? &cl : R == &L2 ? &cl2 : R == &P ? &cl3 : NULL, sys->x, x_final, n3);
    rc = ENG_OK;
    if (have_b && !b_init) {
      ev->status = ENG_ARTN_NOT_CONNECTED;
      snprintf(ev->reason, sizeof ev->reason,
               "the side towards the initial minimum relaxes to another one (%.2f A, %+.3f eV from it)",
               ev->max_disp, ev->de_final);
      goto retry;
    }
    if ((a_init && b_init) || ((a_init || b_init) && ab_same)) {
      ev->status = ENG_ARTN_RETURNED;
      snprintf(ev->reason, sizeof ev->reason,
               "both sides of the saddle relax to the initial minimum");
      goto retry;
    }
    if (R == &P) {
      /* push_radius: the sides were decided in the small cluster; the
       * final minimum is relaxed once more where the saddle was certified
       * (S: the refinement cluster or the whole system), so that its
       * energy and displacements include the far field */
      cluster_to_full(&cl3, sys->x, P.sys->x, vw, n3, 0);
      if (S == &L2) {
        /* (an atom the push cluster moved but the refinement cluster
         * holds, where push_radius reaches beyond its moving set, stays
         * at its initial position: the relaxation is the certified
         * cluster's, and its shell's densities hold only there) */
        for (int i = 0; i < cl2.n; i++)
          for (int k = 0; k < 3; k++) {
            int j = 3 * cl2.map[i] + k;
            L2.sys->x[3 * i + k] = cl2.x0[3 * i + k] + (cl2.mobile[i] ? vw[j] - sys->x[j] : 0.0);
          }
      } else {
        memcpy(S->sys->x, vw, sizeof(double) * (size_t)n3);
      }
      S->phase = "relax";
      S->cat = CAT_PUSH;
      rc = minimise(S, 0);
      if (rc < 0) goto out;
      assert(rc == 0); /* minimise has no budget */
      final_record(ev, S, S == &L2 ? &cl2 : NULL, sys->x, x_final, n3);
      TRACE("T final relaxed at the certified radius: dE %.5f (push cluster %.5f)\n", S->e - S->e0, P.e - P.e0);
      if (!ev->final_differs) {
        ev->status = ENG_ARTN_RETURNED;
        snprintf(ev->reason, sizeof ev->reason,
                 "the final minimum relaxes to the initial one where the saddle was certified");
        goto retry;
      }
    }
    ev->status = ENG_ARTN_OK;
  }
  goto finish;

retry:
  /* rc == ENG_OK here and ev->status says why the attempt failed. */
  if (memo_new) {
    memo_new = 0;
    if (ev->status != ENG_ARTN_MAX_CALLS) /* (a budget is not an outcome) */
      rc = memo_add(memo, event_index, attempt, y, ev->dq_local, ev, NULL, NULL, n3);
    if (rc != ENG_OK) goto out;
  }
  TRACE("T attempt %d end %s cpu %.4f radius %.1f\n", attempt, eng_artn_status_name(ev->status), trace_cpu(),
        cl2_r);
  ev->fail_counts[ev->status]++;
  if (npush > push0) ev->failed_after_pushoff++;
  if (attempt < o->restarts && ev->status != ENG_ARTN_MAX_CALLS &&
      (o->max_calls <= 0 ||
       calls_all(&F, have_L ? &L : NULL, have_L2 ? &L2 : NULL, c2_calls + use_start) < o->max_calls)) {
    attempt++;
    goto again;
  }

finish:
  if (memo_new) {
    memo_new = 0;
    if (ev->status != ENG_ARTN_MAX_CALLS)
      rc = memo_add(memo, event_index, attempt, y, ev->dq_local, ev, x_saddle, x_final, n3);
    if (rc != ENG_OK) goto out;
  }
  TRACE("T attempt %d end %s cpu %.4f radius %.1f\n", attempt, eng_artn_status_name(ev->status), trace_cpu(),
        cl2_r);
  ev->pushoffs = (int)(npush - push0);
#ifdef ARTN_TRACE
  if (have_L)
    TRACE("T cpu L %.4f %.4f %.4f %.4f calls %ld\n", L.cpu_cat[0], L.cpu_cat[1], L.cpu_cat[2], L.cpu_cat[3],
          L.ncalls);
  if (have_L2)
    TRACE("T cpu L2 r %.1f %.4f %.4f %.4f %.4f calls %ld cat %ld %ld %ld %ld\n", cl2_r, L2.cpu_cat[0],
          L2.cpu_cat[1], L2.cpu_cat[2], L2.cpu_cat[3], L2.ncalls, L2.calls_cat[0][0] + L2.calls_cat[0][1],
          L2.calls_cat[1][0] + L2.calls_cat[1][1], L2.calls_cat[2][0] + L2.calls_cat[2][1],
          L2.calls_cat[3][0] + L2.calls_cat[3][1]);
  TRACE("T F builds %ld computes %ld\n", eng_calc_nbuild(calc), eng_calc_ncompute(calc));
  TRACE("T cpu F %.4f %.4f %.4f %.4f calls %ld\n", F.cpu_cat[0], F.cpu_cat[1], F.cpu_cat[2], F.cpu_cat[3],
        F.ncalls);
  if (have_P)
    TRACE("T cpu P %.4f %.4f %.4f %.4f calls %ld\n", P.cpu_cat[0], P.cpu_cat[1], P.cpu_cat[2], P.cpu_cat[3],
          P.ncalls);
#endif
  ev->lanczos_iters = F.lanczos_iters + (have_L ? L.lanczos_iters : 0) + (have_L2 ? L2.lanczos_iters : 0) +
                      (have_P ? P.lanczos_iters : 0) + (int)c2_iters;
  {
    long cc[4][2];
    for (int p = 0; p < 4; p++)
      for (int q = 0; q < 2; q++)
        cc[p][q] = F.calls_cat[p][q] + (have_L ? L.calls_cat[p][q] : 0) + (have_L2 ? L2.calls_cat[p][q] : 0) +
                   (have_P ? P.calls_cat[p][q] : 0) + c2_cat[p][q];
    ev->calls_basin = (int)cc[CAT_BASIN][0];
    ev->calls_basin_lanczos = (int)cc[CAT_BASIN][1];
    ev->calls_climb = (int)cc[CAT_CLIMB][0];
    ev->calls_climb_lanczos = (int)cc[CAT_CLIMB][1];
    ev->calls_second = (int)(cc[CAT_SECOND][0] + cc[CAT_SECOND][1]);
    ev->calls_push_over = (int)(cc[CAT_PUSH][0] + cc[CAT_PUSH][1]);
    ev->hessian_products = (int)hvp_all(&F, have_L ? &L : NULL, have_L2 ? &L2 : NULL, c2_hvp, -1);
    for (int p = 0; have_P && p < 4; p++) ev->hessian_products += (int)P.nhvp[p];
  }
  ev->force_calls = (int)F.ncalls;
  if (have_L && L.calc == calc) {
    /* masked whole system: its calls cost as much as any other */
    ev->force_calls += (int)L.ncalls;
    ev->force_calls_saddle += saddle_calls_L;
  } else if (have_L) {
    ev->force_calls_local = (int)L.ncalls;
  }
  if (have_L2 || c2_calls) {
    /* refinement-cluster calls (all radii): cluster calls too, also counted alone */
    long l2 = (have_L2 ? L2.ncalls : 0) + c2_calls;
    ev->force_calls_local += (int)l2;
    ev->force_calls_refine = (int)l2;
  }
  if (have_P) ev->force_calls_local += (int)P.ncalls; /* push-over cluster calls */
out:
  free(hot);
  if (have_P) actx_free(&P);
  if (have_L2) actx_free(&L2);
  if (have_L) actx_free(&L);
  if (have_F) actx_free(&F);
  cluster_free(&cl, &ev->list_builds);
  cluster_free(&cl2, &ev->list_builds);
  cluster_free(&cl3, &ev->list_builds);
  free(vw);
  free(rho_full);
  free(v2);
  eng_system_free(work);
  free(raw);
  free(d);
  free(v);
  free(xs);
  free(vs);
  free(vf);
  free(y);
  free(sxc);
  free(xa);
  free(xb);
  return rc;
}

/* ------------------------------------------------------------------ */
/* Re-converging a given saddle in the whole system                    */
/* ------------------------------------------------------------------ */

int eng_artn_refine(eng_calc *calc, const eng_system *sys, const double *x_start, double ftol,
                    const eng_artn_opts *opts, eng_artn_refined *out, double *x_out) {
  eng_artn_opts od;
  const eng_artn_opts *o = opts;
  eng_system *work = NULL;
  actx F;
  sstate st;
  eng_rng rng;
  double *v = NULL, *xu = NULL, dot = 0.0; /* mode; x_start unwrapped */
  int n3, rc, have_F = 0;

  if (out) {
    memset(out, 0, sizeof *out);
    out->status = -1;
    out->dq = out->lambda = out->fmax = out->shift = NAN;
  }
  if (!calc || !sys || !x_start || !out)
    return eng_set_error(ENG_EINVAL, "artn.c:%d: calc, sys, x_start and out must not be NULL",
                         __LINE__);
  if (!(ftol > 0.0 && ftol < 10.0))
    return eng_set_error(ENG_EINVAL, "artn.c:%d: ftol must be in (0, 10) eV/A (got %g)", __LINE__,
                         ftol);
  if (!o) {
    eng_artn_opts_default(&od);
    o = &od;
  }
  rc = check_opts(o);
  if (rc != ENG_OK) return rc;
  memset(&st, 0, sizeof st);
  n3 = 3 * sys->natoms;
  work = eng_system_copy(sys);
  v = eng__calloc((size_t)n3, sizeof(double));
  xu = eng__calloc((size_t)n3, sizeof(double));
  if (!work || !v || !xu) {
    rc = ENG_ENOMEM;
    goto out;
  }
  rc = actx_init(&F, calc, work, o, NULL, sys->x);
  if (rc != ENG_OK) goto out;
  have_F = 1;
  eng_rng_seed(&rng, o->seed);
  F.rng = &rng;
  F.phase = "refine";
  F.cat = CAT_CLIMB;
  eng_calc_invalidate(calc);
  rc = eval(&F);
  if (rc != 0) goto out;
  F.e0 = F.e;
  /* x_start unwrapped next to the minimum (minimum image per atom), so
   * that displacements from it are never a box vector */
  for (int i = 0; i < sys->natoms; i++) {
    double d[3];
    for (int k = 0; k < 3; k++) d[k] = x_start[3 * i + k] - sys->x[3 * i + k];
    eng_box_minimum_image(&sys->box, d);
    for (int k = 0; k < 3; k++) work->x[3 * i + k] = sys->x[3 * i + k] + d[k];
  }
  memcpy(xu, work->x, sizeof(double) * (size_t)n3);
  rc = eval(&F);
  if (rc != 0) goto out;
  /* the lowest mode, from the displacement out of the minimum (the
   * unstable mode of a saddle overlaps it) plus a little noise */
  for (int i = 0; i < n3; i++) v[i] = work->x[i] - sys->x[i];
  {
    double nv = normalize(v, n3) > 0.0 ? 0.1 / sqrt((double)n3) : 1.0;
    for (int i = 0; i < n3; i++) v[i] += nv * eng_rng_normal(&rng);
  }
  project(&F, v);
  normalize(v, n3);
  F.limit = o->max_calls;
  rc = lanczos_ex(&F, v, &st.lambda, NULL, SECOND_ITER, SECOND_MIN_ITER);
  if (rc == 0 && !(st.lambda < 0.0)) {
    snprintf(st.reason, sizeof st.reason, "no negative curvature at the start (%.3g eV/A^2)",
             st.lambda);
    rc = ENG_ARTN_EIGEN_LOST;
  }
  if (rc == 0) {
    for (int i = 0; i < n3; i++) dot += v[i] * (work->x[i] - sys->x[i]);
    if (dot < 0.0)
      for (int i = 0; i < n3; i++) v[i] = -v[i];
    rc = climb(&F, v, ftol, &st);
  }
  if (rc < 0) goto out;
  out->status = rc;
  if (rc > 0) {
    /* a stop (budget, ...) may come after a move without its evaluation:
     * evaluate the end point, outside the budget, so that every output
     * describes the same point */
    snprintf(out->reason, sizeof out->reason, "%s",
             rc == ENG_ARTN_MAX_CALLS ? "force-call budget exhausted" : st.reason);
    F.limit = 0;
    rc = eval(&F);
    if (rc != 0) goto out;
  }
  out->dq = F.e - F.e0;
  out->lambda = st.lambda;
  out->fmax = fmax_of(&F, F.f);
  out->shift = dist_between(&F, work->x, xu);
  out->force_calls = F.ncalls;
  if (x_out) memcpy(x_out, work->x, sizeof(double) * (size_t)n3);
  rc = ENG_OK;
out:
  if (rc != ENG_OK) out->status = -1; /* an error, not a search outcome */
  if (have_F) actx_free(&F);
  eng_system_free(work);
  free(v);
  free(xu);
  return rc;
}
