/*
 * min.c -- energy minimisation at fixed box: FIRE (Bitzek et al., PRL 97,
 * 170201 (2006)), Polak-Ribiere(+) conjugate gradients with a bracketing
 * secant/quadratic line search, and L-BFGS on the same line search.  All
 * act on positions only and report which stop criterion ended them
 * (docs/dynamics.md).
 *
 * Units: energies eV, forces eV/Angstrom, displacements Angstrom.  FIRE
 * uses unit masses and a fictitious time unit, so its behaviour does not
 * depend on the atomic masses.
 */
#include "internal.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* FIRE parameters (Bitzek et al. 2006). */
#define FIRE_NMIN 5
#define FIRE_FINC 1.1
#define FIRE_FDEC 0.5
#define FIRE_ALPHA0 0.1
#define FIRE_FALPHA 0.99
#define FIRE_DT0 0.1   /* fictitious time, unit mass: step = dt^2 * F */
#define FIRE_DTMAX 1.0 /* 10 * FIRE_DT0 */

/* Line search: at most this many energy/force evaluations per direction. */
#define LS_MAXEVAL 20
/* Smallest growth of the step when extrapolating beyond a downhill point
 * (the secant through the start and that point is usually close). */
#define LS_GROW_MIN 1.1
/* Curvature condition |slope| <= LS_CURV * |slope0| ends the search
 * (CG); L-BFGS takes the weak LBFGS_CURV, so that its unit step is
 * usually accepted at the first evaluation. */
#define LS_CURV 0.1
#define LBFGS_CURV 0.9
/* L-BFGS: correction pairs kept. */
#define LBFGS_M 8
/* Consecutive CG iterations without progress (energy change below the
 * round-off scale e_noise and the largest force not halved) after which
 * the minimiser gives up with ENG_STOP_LINESEARCH. */
#define CG_MAX_FLAT 50
/* Progress callback period, iterations. */
#define PROGRESS_EVERY 100

/* Defaults: CG, ftol 1e-6 eV/A, etol 0 (off), max_iter 100000, max_eval
 * 1000000, dmax 0.1 A.  o must not be NULL. */
void eng_min_opts_default(eng_min_opts *o) {
  assert(o);
  memset(o, 0, sizeof *o);
  o->algo = ENG_MIN_CG;
  o->ftol = 1e-6;
  o->etol = 0.0;
  o->max_iter = 100000;
  o->max_eval = 1000000;
  o->dmax = 0.1;
}

/* Lower-case name of a stop criterion ("ftol", ...); "unknown" for
 * values outside the enum.  Never NULL. */
const char *eng_min_stop_name(eng_min_stop s) {
  switch (s) {
  case ENG_STOP_NONE: return "none";
  case ENG_STOP_FTOL: return "ftol";
  case ENG_STOP_ETOL: return "etol";
  case ENG_STOP_MAXITER: return "max_iter";
  case ENG_STOP_MAXEVAL: return "max_eval";
  case ENG_STOP_LINESEARCH: return "linesearch";
  case ENG_STOP_REF: return "ref";
  }
  return "unknown";
}

/* "fire", "cg" or "lbfgs"; "unknown" otherwise.  Never NULL. */
const char *eng_min_algo_name(eng_min_algo a) {
  switch (a) {
  case ENG_MIN_FIRE: return "fire";
  case ENG_MIN_CG: return "cg";
  case ENG_MIN_LBFGS: return "lbfgs";
  }
  return "unknown";
}

/* Shared state of one minimisation. */
typedef struct mstate {
  eng_calc *c;
  eng_system *sys;
  const eng_min_opts *o;
  eng_progress_fn progress;
  void *ud;
  int n3;
  double e;        /* energy at sys->x */
  double *f;       /* forces at sys->x */
  int ncalls;
  int iter;
} mstate;

/* Round-off scale of a total energy e (eV): differences below it are
 * noise.  256 ulps of |e| (~6e-11 eV for 1000 eV). */
static double e_noise(double e) { return 256.0 * DBL_EPSILON * fabs(e); }

/* Energy and forces at sys->x into *e, f (fixed atoms: 0); counts the call. */
static int eval(mstate *m, double *e, double *f) {
  int rc = eng_calc_compute(m->c, m->sys, e, f, NULL, NULL);
  m->ncalls++;
  if (rc == ENG_OK && m->o->mobile)
    for (int i = 0; i < m->sys->natoms; i++)
      if (!m->o->mobile[i]) f[3 * i] = f[3 * i + 1] = f[3 * i + 2] = 0.0;
  if (rc == ENG_OK && !isfinite(*e))
    rc = eng_set_error(ENG_ERANGE, "min.c:%d: energy became non-finite", __LINE__);
  return rc;
}

/* Relative energy-change test (LAMMPS convention without its absolute
 * EPS_ENERGY term): |e1 - e0| <= etol * (|e1| + |e0|) / 2. */
static int etol_met(const eng_min_opts *o, double e0, double e1) {
  return o->etol > 0.0 && fabs(e1 - e0) <= o->etol * 0.5 * (fabs(e1) + fabs(e0));
}

/* Call progress every PROGRESS_EVERY iterations; ENG_ECANCEL if asked. */
static int report(mstate *m, double fmax) {
  char msg[128];
  double frac;
  if (!m->progress || m->iter % PROGRESS_EVERY != 0) return ENG_OK;
  /* fmax falls roughly geometrically from ~1 eV/A towards ftol. */
  frac = 1.0;
  if (fmax > m->o->ftol) {
    double a = log(fmax > 1.0 ? 1.0 : fmax), b = log(m->o->ftol);
    frac = b < 0.0 ? a / b : 0.0;
    if (frac < 0.0) frac = 0.0;
    if (frac > 1.0) frac = 1.0;
  }
  snprintf(msg, sizeof msg, "%s iteration %d, E = %.6f eV, fmax = %.3g eV/A",
           eng_min_algo_name(m->o->algo), m->iter, m->e, fmax);
  if (m->progress(m->ud, frac, msg) != 0)
    return eng_set_error(ENG_ECANCEL, "min.c:%d: minimisation cancelled at iteration %d",
                         __LINE__, m->iter);
  return ENG_OK;
}

/* Largest per-atom displacement length of the 3n vector d. */
static double max_atom_norm(const double *d, int n3) {
  double m = 0.0;
  for (int i = 0; i < n3; i += 3) {
    double r2 = d[i] * d[i] + d[i + 1] * d[i + 1] + d[i + 2] * d[i + 2];
    if (r2 > m) m = r2;
  }
  return sqrt(m);
}

/* Is every mobile atom within o->ref_dist of its o->ref_x position
 * (minimum image) with E < ref_e + ref_de?  0 when ref_x is NULL. */
static int near_ref(const mstate *m) {
  const eng_min_opts *o = m->o;
  const double d2max = o->ref_dist * o->ref_dist;
  if (!o->ref_x || !(m->e < o->ref_e + o->ref_de)) return 0;
  for (int i = 0; i < m->sys->natoms; i++) {
    double d[3];
    if (o->mobile && !o->mobile[i]) continue;
    for (int k = 0; k < 3; k++) d[k] = m->sys->x[3 * i + k] - o->ref_x[3 * i + k];
    eng_box_minimum_image(&m->sys->box, d);
    if (d[0] * d[0] + d[1] * d[1] + d[2] * d[2] > d2max) return 0;
  }
  return 1;
}

/* Common stop tests after an iteration (force, energy, reference basin,
 * limits). */
static eng_min_stop stop_test(const mstate *m, double fmax, double e_prev, int etol_ok) {
  if (fmax < m->o->ftol) return ENG_STOP_FTOL;
  if (near_ref(m)) return ENG_STOP_REF;
  if (etol_ok && etol_met(m->o, e_prev, m->e)) return ENG_STOP_ETOL;
  if (m->iter >= m->o->max_iter) return ENG_STOP_MAXITER;
  if (m->ncalls >= m->o->max_eval) return ENG_STOP_MAXEVAL;
  return ENG_STOP_NONE;
}

/* FIRE with unit masses and a semi-implicit Euler step.  One force call per
 * iteration.  The energy test is applied only once the run has been
 * downhill for more than FIRE_NMIN steps, since just after a velocity reset
 * the energy barely changes. */
static int run_fire(mstate *m, eng_min_stop *stop) {
  int rc = ENG_OK, n3 = m->n3, since_neg = 0;
  double dt = FIRE_DT0, alpha = FIRE_ALPHA0;
  double *v = eng__calloc((size_t)n3, sizeof *v);
  double *dx = eng__calloc((size_t)n3, sizeof *dx);
  if (!v || !dx) {
    rc = ENG_ENOMEM;
    goto out;
  }
  *stop = ENG_STOP_NONE;
  for (;;) {
    double p = eng__dot(m->f, v, n3), e_prev = m->e, fmax, dmove;
    if (p > 0.0) {
      double vn = sqrt(eng__dot(v, v, n3)), fn = sqrt(eng__dot(m->f, m->f, n3));
      double mix = fn > 0.0 ? alpha * vn / fn : 0.0;
      for (int i = 0; i < n3; i++) v[i] = (1.0 - alpha) * v[i] + mix * m->f[i];
      since_neg++;
      if (since_neg > FIRE_NMIN) {
        dt = fmin(dt * FIRE_FINC, FIRE_DTMAX);
        alpha *= FIRE_FALPHA;
      }
    } else {
      memset(v, 0, (size_t)n3 * sizeof *v);
      dt *= FIRE_FDEC;
      alpha = FIRE_ALPHA0;
      since_neg = 0;
    }
    for (int i = 0; i < n3; i++) {
      v[i] += dt * m->f[i];
      dx[i] = dt * v[i];
    }
    dmove = max_atom_norm(dx, n3);
    if (dmove > m->o->dmax) {
      double s = m->o->dmax / dmove;
      for (int i = 0; i < n3; i++) dx[i] *= s;
    }
    for (int i = 0; i < n3; i++) m->sys->x[i] += dx[i];
    rc = eval(m, &m->e, m->f);
    if (rc != ENG_OK) goto out;
    m->iter++;
    fmax = eng__max_abs(m->f, n3);
    *stop = stop_test(m, fmax, e_prev, since_neg > FIRE_NMIN);
    if (*stop != ENG_STOP_NONE) break;
    rc = report(m, fmax);
    if (rc != ENG_OK) goto out;
  }
out:
  free(v);
  free(dx);
  return rc;
}

/* One point of the line search. */
typedef struct lspt {
  double a, e, s; /* step length, energy, slope dE/da */
} lspt;

/* Line search along h from sys->x (energy m->e, forces m->f, slope s0 < 0).
 * x0 holds a copy of the starting positions; ft is a work force array.
 * Steps are capped at amax (no atom moves more than dmax).  The accepted
 * point (lowest energy found with a negative-slope/decrease criterion) is
 * left in sys->x, m->e, m->f, and its step in *a_out (0 if none). */
static int line_search(mstate *m, const double *h, const double *x0, double *ft,
                       double s0, double amax, double a_try, double curv, double *a_out) {
  int n3 = m->n3, rc = ENG_OK, have_hi = 0;
  double e0 = m->e, eps = e_noise(e0);
  lspt lo = {0.0, e0, s0}, hi = {0.0, 0.0, 0.0}, best = {0.0, e0, s0};
  double a = fmin(a_try, amax);

  *a_out = 0.0;
  for (int k = 0; k < LS_MAXEVAL && m->ncalls < m->o->max_eval; k++) {
    lspt cur;
    double e;
    for (int i = 0; i < n3; i++) m->sys->x[i] = x0[i] + a * h[i];
    rc = eval(m, &e, ft);
    if (rc != ENG_OK) return rc;
    cur.a = a;
    cur.e = e;
    cur.s = -eng__dot(ft, h, n3);
    /* Energies closer than eps are indistinguishable (round-off): then the
     * slope alone decides, as forces stay accurate far below that. */
    if (cur.s < 0.0 && e <= lo.e + eps) {
      lo = cur; /* still downhill: the minimum lies beyond */
      if (e < best.e - eps || (e <= best.e + eps && fabs(cur.s) < fabs(best.s))) {
        best = cur;
        memcpy(m->f, ft, (size_t)n3 * sizeof *ft);
      }
      if (fabs(cur.s) <= curv * fabs(s0) || a >= amax) break;
    } else {
      hi = cur; /* past the minimum along h, or the energy rose */
      have_hi = 1;
      if (e < best.e - eps || (e <= best.e + eps && fabs(cur.s) < fabs(best.s))) {
        best = cur;
        memcpy(m->f, ft, (size_t)n3 * sizeof *ft);
        if (fabs(cur.s) <= curv * fabs(s0)) break;
      }
    }
    /* After the secant refinement, a strict decrease is good enough: more
     * evaluations buy little conjugacy (the usual CG compromise). */
    if (k >= 1 && best.a > 0.0 && best.e < e0 - eps) break;
    if (!(best.a > 0.0) && k >= 1 && have_hi && hi.a - lo.a <= 1e-12 * hi.a) break;
    /* Next trial step. */
    if (have_hi) {
      double d = hi.a - lo.a, anew;
      if (d <= 1e-14 * (hi.a > 0 ? hi.a : 1.0)) break;
      if (hi.s > lo.s && hi.s >= 0.0) {
        anew = lo.a - lo.s * d / (hi.s - lo.s); /* secant on the slope */
      } else {
        /* Energy rose with a negative slope: quadratic through lo (e, s)
         * and hi (e). */
        double den = 2.0 * (hi.e - lo.e - lo.s * d);
        anew = den > 0.0 ? lo.a - lo.s * d * d / den : lo.a + 0.5 * d;
      }
      if (!(anew > lo.a + 0.1 * d)) anew = lo.a + 0.1 * d;
      if (!(anew < hi.a - 0.1 * d)) anew = hi.a - 0.1 * d;
      a = anew;
    } else {
      /* Still downhill at lo: extrapolate with the secant through (0, s0). */
      double anew = 4.0 * lo.a;
      if (lo.s > s0 && lo.s < 0.0) {
        double sec = lo.a * s0 / (s0 - lo.s);
        if (sec < anew) anew = sec;
      }
      if (anew < LS_GROW_MIN * lo.a) anew = LS_GROW_MIN * lo.a;
      if (anew > amax) anew = amax;
      a = anew;
    }
  }
  for (int i = 0; i < n3; i++) m->sys->x[i] = x0[i] + best.a * h[i];
  if (best.a == 0.0) {
    /* m->f still holds the forces at x0 (never overwritten). */
    m->e = e0;
    return ENG_OK;
  }
  m->e = best.e;
  *a_out = best.a;
  return ENG_OK;
}

/* Book-keeping after an accepted line-search step (CG, L-BFGS): counts the
 * iteration, tracks progress (the energy fell by more than its round-off,
 * or the largest force halved since the last progress; *flat counts the
 * iterations without), applies the stop rules into *stop and calls
 * progress (ENG_ECANCEL if asked to stop). */
static int after_step(mstate *m, double e_prev, double *f_ref, int *flat, eng_min_stop *stop) {
  double fmax = eng__max_abs(m->f, m->n3);
  m->iter++;
  if (fabs(m->e - e_prev) > e_noise(e_prev) || fmax < 0.5 * *f_ref) {
    *flat = 0;
    *f_ref = fmax;
  } else {
    (*flat)++;
  }
  *stop = stop_test(m, fmax, e_prev, 1);
  if (*stop == ENG_STOP_NONE && *flat >= CG_MAX_FLAT) *stop = ENG_STOP_LINESEARCH;
  if (*stop != ENG_STOP_NONE) return ENG_OK;
  return report(m, fmax);
}

/* Polak-Ribiere(+) conjugate gradients with Powell restarts, a restart
 * every 3N iterations, and steepest descent when the direction is not
 * downhill.  ENG_STOP_LINESEARCH when even a steepest-descent search finds
 * no lower point, or after CG_MAX_FLAT iterations in a row whose energy
 * change is within round-off (e_noise) while the largest force component
 * did not halve. */
static int run_cg(mstate *m, eng_min_stop *stop) {
  int rc = ENG_OK, n3 = m->n3, flat = 0, since_restart = 0;
  double *h = eng__calloc((size_t)n3, sizeof *h);
  double *x0 = eng__calloc((size_t)n3, sizeof *x0);
  double *ft = eng__calloc((size_t)n3, sizeof *ft);
  double *fold = eng__calloc((size_t)n3, sizeof *fold);
  double a_prev = 0.0, f_ref = eng__max_abs(m->f, n3);
  if (!h || !x0 || !ft || !fold) {
    rc = ENG_ENOMEM;
    goto out;
  }
  *stop = ENG_STOP_NONE;
  memcpy(h, m->f, (size_t)n3 * sizeof *h);
  for (;;) {
    double e_prev = m->e, s0 = -eng__dot(m->f, h, n3), hmax, amax, a_try, a_acc;
    int sd = 0;
    if (!(s0 < 0.0)) {
      /* Not a descent direction: steepest descent. */
      memcpy(h, m->f, (size_t)n3 * sizeof *h);
      s0 = -eng__dot(m->f, h, n3);
      since_restart = 0;
    }
    sd = since_restart == 0;
    hmax = max_atom_norm(h, n3);
    if (!(hmax > 0.0)) {
      *stop = ENG_STOP_FTOL; /* zero force: nothing to do */
      break;
    }
    amax = m->o->dmax / hmax;
    /* First trial: the previous accepted step, else a step that moves the
     * fastest atom by min(dmax, 0.01 A). */
    a_try = a_prev > 0.0 ? a_prev : fmin(m->o->dmax, 0.01) / hmax;
    memcpy(x0, m->sys->x, (size_t)n3 * sizeof *x0);
    memcpy(fold, m->f, (size_t)n3 * sizeof *fold);
    rc = line_search(m, h, x0, ft, s0, amax, a_try, LS_CURV, &a_acc);
    if (rc != ENG_OK) goto out;
    if (a_acc == 0.0) {
      if (m->ncalls >= m->o->max_eval) {
        *stop = ENG_STOP_MAXEVAL;
        break;
      }
      if (sd) {
        *stop = ENG_STOP_LINESEARCH;
        break;
      }
      since_restart = 0; /* retry along the steepest descent */
      memcpy(h, m->f, (size_t)n3 * sizeof *h);
      a_prev = 0.0;
      continue;
    }
    a_prev = a_acc;
    rc = after_step(m, e_prev, &f_ref, &flat, stop);
    if (rc != ENG_OK) goto out;
    if (*stop != ENG_STOP_NONE) break;
    /* New direction: PR+ with Powell restart and a periodic restart. */
    {
      double gg = eng__dot(fold, fold, n3), ff = eng__dot(m->f, m->f, n3);
      double fo = eng__dot(m->f, fold, n3), beta;
      since_restart++;
      beta = gg > 0.0 ? (ff - fo) / gg : 0.0;
      if (beta < 0.0 || fabs(fo) >= 0.2 * ff || since_restart >= n3) {
        beta = 0.0;
        since_restart = 0;
      }
      for (int i = 0; i < n3; i++) h[i] = m->f[i] + beta * h[i];
    }
  }
out:
  free(h);
  free(x0);
  free(ft);
  free(fold);
  return rc;
}

/* Limited-memory BFGS (Nocedal, Math. Comp. 35, 773 (1980); the two-loop
 * recursion of Nocedal & Wright, Numerical Optimization, Alg. 7.4) with
 * LBFGS_M pairs and the scaling gamma = s.y / y.y, on the same line search
 * as CG with the weak curvature LBFGS_CURV and the unit step tried first.
 * A pair with s.y <= 0 is skipped; a direction that is not downhill, or a
 * line search that finds no lower point, drops the memory and retries
 * along the force; the stop rules are CG's. */
static int run_lbfgs(mstate *m, eng_min_stop *stop) {
  int rc = ENG_OK, n3 = m->n3, flat = 0, k = 0, np = 0;
  double *mem = eng__calloc((size_t)n3 * (2 * LBFGS_M + 4), sizeof *mem);
  double *h, *x0, *ft, *fold, *sv[LBFGS_M], *yv[LBFGS_M], rho[LBFGS_M], al[LBFGS_M];
  double f_ref = eng__max_abs(m->f, n3), a_first = 0.0;
  if (!mem) return ENG_ENOMEM;
  h = mem;
  x0 = h + n3;
  ft = x0 + n3;
  fold = ft + n3;
  for (int j = 0; j < LBFGS_M; j++) {
    sv[j] = fold + n3 + (size_t)2 * j * n3;
    yv[j] = sv[j] + n3;
  }
  *stop = ENG_STOP_NONE;
  for (;;) {
    double e_prev = m->e, s0, hmax, amax, a_try, a_acc;
    /* h = H f (the downhill quasi-Newton step; k pairs, newest at (k-1) % M) */
    memcpy(h, m->f, (size_t)n3 * sizeof *h);
    for (int q = 0; q < np; q++) {
      int j = (k - 1 - q + LBFGS_M) % LBFGS_M;
      al[j] = rho[j] * eng__dot(sv[j], h, n3);
      for (int i = 0; i < n3; i++) h[i] -= al[j] * yv[j][i];
    }
    if (np > 0) {
      int j = (k - 1 + LBFGS_M) % LBFGS_M;
      double gam = 1.0 / (rho[j] * eng__dot(yv[j], yv[j], n3));
      for (int i = 0; i < n3; i++) h[i] *= gam;
    }
    for (int q = np - 1; q >= 0; q--) {
      int j = (k - 1 - q + LBFGS_M) % LBFGS_M;
      double b = rho[j] * eng__dot(yv[j], h, n3);
      for (int i = 0; i < n3; i++) h[i] += (al[j] - b) * sv[j][i];
    }
    s0 = -eng__dot(m->f, h, n3);
    if (!(s0 < 0.0)) {
      np = 0; /* not downhill: forget the curvature, follow the force */
      memcpy(h, m->f, (size_t)n3 * sizeof *h);
      s0 = -eng__dot(m->f, h, n3);
    }
    hmax = max_atom_norm(h, n3);
    if (!(hmax > 0.0)) {
      *stop = ENG_STOP_FTOL;
      break;
    }
    amax = m->o->dmax / hmax;
    /* the quasi-Newton step; without pairs the first accepted step length
     * (at first a move of min(dmax, 0.01 A) for the fastest atom) */
    a_try = np > 0 ? 1.0 : a_first > 0.0 ? a_first : fmin(m->o->dmax, 0.01) / hmax;
    memcpy(x0, m->sys->x, (size_t)n3 * sizeof *x0);
    memcpy(fold, m->f, (size_t)n3 * sizeof *fold);
    rc = line_search(m, h, x0, ft, s0, amax, a_try, LBFGS_CURV, &a_acc);
    if (rc != ENG_OK) goto out;
    if (a_acc == 0.0) {
      if (m->ncalls >= m->o->max_eval) {
        *stop = ENG_STOP_MAXEVAL;
        break;
      }
      if (np == 0) {
        *stop = ENG_STOP_LINESEARCH;
        break;
      }
      np = 0;
      continue;
    }
    if (np == 0) a_first = a_acc;
    rc = after_step(m, e_prev, &f_ref, &flat, stop);
    if (rc != ENG_OK) goto out;
    if (*stop != ENG_STOP_NONE) break;
    {
      /* the new pair: s = x - x0, y = grad - grad0 = fold - f */
      int j = k % LBFGS_M;
      double sy;
      for (int i = 0; i < n3; i++) {
        sv[j][i] = a_acc * h[i];
        yv[j][i] = fold[i] - m->f[i];
      }
      sy = eng__dot(sv[j], yv[j], n3);
      if (sy > 0.0 && eng__dot(yv[j], yv[j], n3) > 0.0) {
        rho[j] = 1.0 / sy;
        k++;
        if (np < LBFGS_M) np++;
      }
    }
  }
out:
  free(mem);
  return rc;
}

/* Minimise the energy of sys in place at fixed box (FIRE or CG, see the
 * top of this file).  o NULL = defaults.  ENG_OK whatever criterion
 * stopped it (res->stop); ENG_EINVAL for bad options, ENG_ECANCEL if
 * progress asked to stop, ENG_ENOMEM, or the calculator's error (positions
 * are then those of the failed evaluation).  res (may be NULL) is filled
 * in every case: energies eV, fmax eV/Angstrom. */
int eng_minimize(eng_calc *c, eng_system *sys, const eng_min_opts *o,
                 eng_progress_fn progress, void *ud, eng_min_result *res) {
  mstate m;
  eng_min_opts def;
  eng_min_stop stop = ENG_STOP_NONE;
  int rc = ENG_OK;
  double fmax;

  memset(&m, 0, sizeof m);
  if (res) memset(res, 0, sizeof *res);
  if (!c || !sys || !sys->x || sys->natoms <= 0)
    return eng_set_error(ENG_EINVAL, "min.c:%d: eng_minimize needs a calculator and a non-empty system",
                         __LINE__);
  if (!o) {
    eng_min_opts_default(&def);
    o = &def;
  }
  if (o->algo != ENG_MIN_FIRE && o->algo != ENG_MIN_CG && o->algo != ENG_MIN_LBFGS)
    return eng_set_error(ENG_EINVAL, "min.c:%d: unknown minimiser %d", __LINE__, (int)o->algo);
  if (!(o->ftol >= 0.0) || !(o->etol >= 0.0) || !(o->dmax > 0.0) || !isfinite(o->dmax) ||
      o->max_iter < 0 || o->max_eval < 1 || (o->ref_x && !(o->ref_dist > 0.0)))
    return eng_set_error(ENG_EINVAL,
                         "min.c:%d: expected ftol >= 0, etol >= 0, dmax > 0, max_iter >= 0, "
                         "max_eval >= 1, ref_dist > 0 with ref_x (got %g, %g, %g, %d, %d, %g)",
                         __LINE__, o->ftol, o->etol, o->dmax, o->max_iter, o->max_eval, o->ref_dist);
  m.c = c;
  m.sys = sys;
  m.o = o;
  m.progress = progress;
  m.ud = ud;
  m.n3 = 3 * sys->natoms;
  m.f = eng__calloc((size_t)m.n3, sizeof *m.f);
  if (!m.f) return ENG_ENOMEM;
  rc = eval(&m, &m.e, m.f);
  if (rc != ENG_OK) goto out;
  if (res) res->e_initial = m.e;
  fmax = eng__max_abs(m.f, m.n3);
  if (fmax < o->ftol) stop = ENG_STOP_FTOL;
  else if (o->max_iter == 0) stop = ENG_STOP_MAXITER;
  else if (m.ncalls >= o->max_eval) stop = ENG_STOP_MAXEVAL;
  else if (o->algo == ENG_MIN_FIRE) rc = run_fire(&m, &stop);
  else if (o->algo == ENG_MIN_LBFGS) rc = run_lbfgs(&m, &stop);
  else rc = run_cg(&m, &stop);
  /* Keep atoms inside the box; image flags (if any) record the shifts.
   * Fixed atoms stay exactly where they were. */
  for (int i = 0; i < sys->natoms; i++)
    if (!o->mobile || o->mobile[i])
      eng_box_wrap(&sys->box, sys->x + 3 * i, sys->image ? sys->image + 3 * i : NULL);
out:
  if (res) {
    res->stop = stop;
    res->iterations = m.iter;
    res->force_calls = m.ncalls;
    res->e_final = m.e;
    res->fmax = eng__max_abs(m.f, m.n3);
  }
  free(m.f);
  return rc;
}
