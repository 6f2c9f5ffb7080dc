/*
 * artn_bench.c -- run a sample of ARTn events on a Cu-Zr glass and report
 * success rate, force calls, Delta Q by species, throughput, and optionally
 * the independent first-order check (dense finite-difference Hessian) and
 * the local-vs-full comparison.  Not part of make check.
 *
 *   artn_bench [--glass N] [--data FILE] [--potential FILE] [--atoms K]
 *              [--events E] [--seed S] [--glass-seed S] [--threads T]
 *              [--local R] [--compare] [--hessian] [--refine-force F]
 *              [--check-connect] [--save FILE] [--quiet] [--no-start] [--atom-list I,J,...]
 *              [--call-cost K] [--refine-grow G] [--tighten F] [--same-energy E]
 *              [--basin-init N] [--basin-warm 0|1] [--lost-threshold L]
 *              [--lost-follow N] [--lost-retries N] [--min-ftol F] [--second-retries N]
 *              [--second-force F] [--lanczos-fd] [--memo] [--memo-dist D] [--memo-energy E]
 *              [--list-skin S] [--whole-skin S] [--job-range A:B] ...
 *
 * --glass N makes an N-atom glass (quench 5 ps melt, 100 K/ps; cached as
 * artn_glass_N_S.data in the current directory); --atoms K picks K atoms
 * evenly spread over the indices (--job-range A:B runs only the picked
 * events A..B-1, to split one set over processes); --compare runs every
 * event both in the whole system and in local mode (radius R, default
 * 8 A) and reports
 * |dQ_local - dQ_full| and the wall-time ratio; --tighten F converges
 * every converged local-mode saddle again in the whole system, all atoms
 * free, to max |F| < F eV/A (eng_artn_refine) and reports |dQ - dQ_tight|
 * (whole-system events too, without --local)
 * (its CPU time is not counted in the events'); local-mode events share
 * one eng_artn_start (session 11) unless --no-start; --lanczos-fd makes the
 * Lanczos products finite differences of the forces (lanczos_analytic 0,
 * the rule until session 13); --memo runs the local events through an
 * eng_artn_memo (session 15: an attempt whose cluster saddle an earlier
 * attempt around the same atom found takes that attempt's outcome; needs
 * --threads 1, as the events of an atom must run in order); --list-skin S
 * sets the ARTn clusters' Verlet skin (list_skin) and --whole-skin S the
 * whole-system calculator's (A; default 1).  Output: one line per
 * event (TSV, '#' header) on stdout, then a JSON summary line.
 */
#include "engine.h"
#include "../tests/engine/artn_util.h"

#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct job {
  int atom;
  long event;
  eng_artn_event ev, evl;  /* full, local */
  double t, tl;            /* wall seconds */
  double fmax_full;        /* local: whole-system max |F| component at the saddle, eV/A */
  eng_artn_refined tr;     /* --tighten: the saddle re-converged in the whole system */
  double tt;               /* its CPU seconds (not in the event's) */
  int nneg;                /* dense-Hessian negatives (-2 not checked) */
  double ev2;              /* second-lowest dense eigenvalue */
  int rc, rcl;
  char err[256];           /* the engine's message when rc or rcl is an error */
} job;

typedef struct shared {
  const eng_potential *pot;
  const eng_system *sys;
  eng_artn_opts o;
  job *jobs;
  int njobs, next, compare, local, hessian;
  int memo; /* --memo: eng_artn_run_memo, one memo per worker (session 15) */
  double tighten;          /* --tighten F: re-converge local saddles to F eV/A */
  const eng_artn_start *start; /* local mode: the shared start (NULL with --no-start) */
  pthread_mutex_t mu;
} shared;

static double wall_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* CPU seconds of the calling thread (the machine may be shared). */
static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* --tighten: the saddle xs of event e converged again in the whole
 * system, every atom free, to sh->tighten eV/A (j->tr, CPU in j->tt). */
static void tighten(const shared *sh, eng_calc *c, job *j, const eng_artn_event *e, const double *xs) {
  eng_artn_opts ot = sh->o;
  double t1 = now();
  ot.local = 0;
  if (eng_artn_refine(c, sh->sys, xs, sh->tighten, &ot, &j->tr, NULL) != 0) j->tr.status = -1;
  j->tt = now() - t1;
  fprintf(stderr,
          "tighten atom %d: %s dq %.5f -> %.5f (dq_local %.5f) shift %.3f fmax %.4f lambda %.4f "
          "calls %ld t %.1f %s\n",
          j->atom, j->tr.status ? "failed" : "ok", e->dq, j->tr.dq, e->dq_local, j->tr.shift, j->tr.fmax,
          j->tr.lambda, j->tr.force_calls, j->tt, j->tr.reason);
}

static void *worker(void *arg) {
  shared *sh = arg;
  eng_calc *c = NULL;
  int n3 = 3 * sh->sys->natoms;
  double *xs = malloc(sizeof(double) * n3), *evals = malloc(sizeof(double) * n3);
  eng_artn_memo *memo = NULL;
  if (!xs || !evals || eng_calc_create(sh->pot, sh->sys, NULL, &c) ||
      (sh->memo && eng_artn_memo_create(&memo))) {
    fprintf(stderr, "artn_bench: worker setup failed: %s\n", eng_last_error());
    goto out;
  }
  for (;;) {
    job *j;
    pthread_mutex_lock(&sh->mu);
    j = sh->next < sh->njobs ? &sh->jobs[sh->next++] : NULL;
    pthread_mutex_unlock(&sh->mu);
    if (!j) break;
    j->nneg = -2;
    if (!sh->local || sh->compare) {
      eng_artn_opts o = sh->o;
      double t0 = now();
      o.local = 0;
      j->rc = eng_artn_run(c, sh->pot, sh->sys, j->atom, j->event, &o, NULL, NULL, &j->ev, xs, NULL);
      j->t = now() - t0;
      if (j->rc) snprintf(j->err, sizeof j->err, "%s", eng_last_error());
      if (sh->tighten > 0.0 && !sh->local && j->rc == 0 && j->ev.status == ENG_ARTN_OK)
        tighten(sh, c, j, &j->ev, xs);
      if (sh->hessian && j->rc == 0 && j->ev.status == ENG_ARTN_OK) {
        j->nneg = au_hessian_negatives(c, sh->sys, xs, 1e-3, -1e-3, evals, NULL);
        j->ev2 = evals[1];
      }
    }
    if (sh->local || sh->compare) {
      eng_artn_opts o = sh->o;
      double t0 = now();
      o.local = 1;
      j->rcl = eng_artn_run_memo(c, sh->pot, sh->sys, sh->start, memo, j->atom, j->event, &o, NULL, NULL, &j->evl,
                                 xs, NULL);
      j->tl = now() - t0;
      if (j->rcl) snprintf(j->err, sizeof j->err, "%s", eng_last_error());
      j->fmax_full = NAN;
      if (j->rcl == 0 && j->evl.status == ENG_ARTN_OK) {
        /* the reported saddle's largest whole-system force component: is it
         * a saddle of the whole system by the search's own criterion? */
        eng_system *ws = eng_system_copy(sh->sys);
        double e, *f = ws ? malloc(sizeof(double) * n3) : NULL;
        if (f) {
          memcpy(ws->x, xs, sizeof(double) * n3);
          if (eng_calc_compute(c, ws, &e, f, NULL, NULL) == 0) {
            j->fmax_full = 0.0;
            for (int i = 0; i < n3; i++)
              if (fabs(f[i]) > j->fmax_full) j->fmax_full = fabs(f[i]);
          }
        }
        free(f);
        eng_system_free(ws);
        if (sh->tighten > 0.0) tighten(sh, c, j, &j->evl, xs);
      }
      if (sh->hessian && !sh->compare && j->rcl == 0 && j->evl.status == ENG_ARTN_OK) {
        j->nneg = au_hessian_negatives(c, sh->sys, xs, 1e-3, -1e-3, evals, NULL);
        j->ev2 = evals[1];
      }
    }
    {
      /* the local event's breakdown in local mode (the full one's otherwise) */
      const eng_artn_event *e = sh->local && !sh->compare ? &j->evl : &j->ev;
      fprintf(stderr, "calls atom %d: basin %d+%d climb %d+%d second %d push %d (attempts %d)", j->atom,
              e->calls_basin, e->calls_basin_lanczos, e->calls_climb, e->calls_climb_lanczos,
              e->calls_second, e->calls_push_over, e->attempts);
      if (sh->local)
        fprintf(stderr,
                " local: n_cluster %d refine_calls %d refine_shift %.3f refine_r %.1f%s moving %d push_r %.1f"
                " fmax_whole %.4f failed",
                j->evl.n_cluster, j->evl.force_calls_refine, j->evl.refine_shift, j->evl.refine_radius_used,
                j->evl.refine_periodic ? " periodic" : "", j->evl.refine_moving, j->evl.push_radius_used,
                j->evl.fmax_whole);
      for (int s = 1; sh->local && s < ENG_ARTN_NSTATUS; s++)
        if (j->evl.fail_counts[s])
          fprintf(stderr, " %s:%d", eng_artn_status_name((eng_artn_status)s), j->evl.fail_counts[s]);
      fprintf(stderr, " pushoffs %d failed_after_pushoff %d | %s\n", e->pushoffs, e->failed_after_pushoff, e->reason);
    }
    fprintf(stderr, "done atom %d: full %s dq %.4f calls %d t %.1f | local %s dq %.4f dq_local %.4f calls %d+%d t %.1f"
            " | saddle %d attempts %d fmax_full %.4f\n",
            j->atom, eng_artn_status_name(j->ev.status), j->ev.dq, j->ev.force_calls, j->t,
            eng_artn_status_name(j->evl.status), j->evl.dq, j->evl.dq_local, j->evl.force_calls,
            j->evl.force_calls_local, j->tl, j->ev.force_calls_saddle, j->ev.attempts, j->fmax_full);
  }
out:
  eng_artn_memo_free(memo);
  eng_calc_free(c);
  free(xs);
  free(evals);
  return NULL;
}

static int cmp_int(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}
static int cmp_long(const void *a, const void *b) {
  long x = *(const long *)a, y = *(const long *)b;
  return (x > y) - (x < y);
}
static int cmp_dbl(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* CPU ms per eng_calc_compute of sys with calc (this thread): one warm-up
 * call, then the mean of k calls at fixed positions; f: 3 natoms scratch. */
static double ms_per_call(eng_calc *calc, const eng_system *sys, int k, double *f) {
  double e, t0;
  eng_calc_compute(calc, sys, &e, f, NULL, NULL);
  t0 = now();
  for (int i = 0; i < k; i++) eng_calc_compute(calc, sys, &e, f, NULL, NULL);
  return (now() - t0) / k * 1e3;
}

/* --call-cost K: CPU ms per eng_calc_compute (this thread) of the whole
 * system and of a cluster as local mode cuts it around atom c (the atoms
 * within rm + cutoff + 1 A, non-periodic; the background density of the
 * real cluster costs nothing extra, docs/artn.md), K calls each at fixed
 * positions.  One JSON line on stdout. */
static int call_cost(const eng_potential *pot, const eng_system *sys, eng_calc *calc, int c, int k,
                     const double *rms, int nrm) {
  double *f = malloc(sizeof(double) * 3 * sys->natoms), whole;
  int rc = 0;
  if (!f) return 1;
  whole = ms_per_call(calc, sys, k, f);
  printf("{\"natoms\":%d,\"calls\":%d,\"whole_ms\":%.3f,\"clusters\":[", sys->natoms, k, whole);
  for (int r = 0; r < nrm; r++) {
    double R = rms[r] + eng_potential_cutoff(pot) + 1.0, ms;
    int n = 0, m = 0;
    eng_system *cs;
    eng_calc *cc = NULL;
    for (int j = 0; j < sys->natoms; j++) {
      double d[3];
      for (int q = 0; q < 3; q++) d[q] = sys->x[3 * j + q] - sys->x[3 * c + q];
      eng_box_minimum_image(&sys->box, d);
      m += d[0] * d[0] + d[1] * d[1] + d[2] * d[2] < R * R;
    }
    cs = eng_system_create(m, sys->ntypes);
    if (!cs) {
      rc = 1;
      break;
    }
    for (int t = 0; t < sys->ntypes; t++) {
      memcpy(cs->type_name[t], sys->type_name[t], ENG_NAME_MAX);
      cs->type_mass[t] = sys->type_mass[t];
    }
    for (int j = 0; j < sys->natoms; j++) {
      double d[3];
      for (int q = 0; q < 3; q++) d[q] = sys->x[3 * j + q] - sys->x[3 * c + q];
      eng_box_minimum_image(&sys->box, d);
      if (d[0] * d[0] + d[1] * d[1] + d[2] * d[2] >= R * R) continue;
      cs->type[n] = sys->type[j];
      for (int q = 0; q < 3; q++) cs->x[3 * n + q] = d[q];
      n++;
    }
    assert(n == m);
    for (int q = 0; q < 3; q++) {
      cs->box.lo[q] = -R - 10.0;
      cs->box.len[q] = 2.0 * R + 20.0;
      cs->box.periodic[q] = 0;
    }
    if (eng_calc_create(pot, cs, NULL, &cc)) {
      fprintf(stderr, "artn_bench: cluster calc: %s\n", eng_last_error());
      eng_system_free(cs);
      rc = 1;
      break;
    }
    ms = ms_per_call(cc, cs, k, f);
    /* the same cluster with its shell (beyond r_m) frozen, as local mode
     * runs it since session 6 (eng_calc_set_frozen) */
    {
      unsigned char *fz = malloc((size_t)n);
      double msf = -1.0;
      if (fz) {
        for (int j = 0; j < n; j++)
          fz[j] = cs->x[3 * j] * cs->x[3 * j] + cs->x[3 * j + 1] * cs->x[3 * j + 1] +
                      cs->x[3 * j + 2] * cs->x[3 * j + 2] >= rms[r] * rms[r];
        eng_calc_set_frozen(cc, fz);
        msf = ms_per_call(cc, cs, k, f);
        free(fz);
      }
      printf("%s{\"r_m\":%.1f,\"n\":%d,\"ms\":%.3f,\"ratio\":%.1f,\"ms_frozen\":%.3f,"
             "\"ratio_frozen\":%.1f}",
             r ? "," : "", rms[r], n, ms, whole / ms, msf, whole / msf);
    }
    eng_calc_free(cc);
    eng_system_free(cs);
  }
  printf("]");
  /* The periodic whole system with the atoms beyond r_m of atom c frozen
   * (eng_calc_set_frozen on a calculator of its own): what a refinement
   * grown out of the cell could cost per call instead of all atoms free
   * (session 8, for the grown-out events). */
  {
    static const double rw[] = {24.0, 28.0, 32.0};
    unsigned char *fz = malloc((size_t)sys->natoms);
    eng_calc *wc = NULL;
    printf(",\"whole_frozen\":[");
    for (int r = 0; rc == 0 && fz && r < (int)(sizeof rw / sizeof rw[0]); r++) {
      double ms;
      int nm = 0;
      for (int j = 0; j < sys->natoms; j++) {
        double d[3];
        for (int q = 0; q < 3; q++) d[q] = sys->x[3 * j + q] - sys->x[3 * c + q];
        eng_box_minimum_image(&sys->box, d);
        fz[j] = d[0] * d[0] + d[1] * d[1] + d[2] * d[2] >= rw[r] * rw[r];
        nm += !fz[j];
      }
      if (eng_calc_create(pot, sys, NULL, &wc) || eng_calc_set_frozen(wc, fz)) {
        fprintf(stderr, "artn_bench: frozen whole system: %s\n", eng_last_error());
        rc = 1;
        break;
      }
      ms = ms_per_call(wc, sys, k, f);
      printf("%s{\"r_m\":%.1f,\"moving\":%d,\"ms\":%.3f,\"ratio\":%.1f}", r ? "," : "", rw[r], nm, ms,
             whole / ms);
      eng_calc_free(wc);
      wc = NULL;
    }
    eng_calc_free(wc);
    free(fz);
  }
  printf("]}\n");
  free(f);
  return rc;
}

int main(int argc, char **argv) {
  const char *potpath = "/usr/share/lammps/potentials/CuZr_mm.eam.fs", *data = NULL, *save = NULL;
  const char *atom_list = NULL; /* --atom-list I,J,...: these atom indices instead of --atoms */
  int call_k = 0;               /* --call-cost K: time K calls (whole, clusters) and exit */
  int rep[3] = {1, 1, 1};
  int nglass = 0, natoms_pick = 20, first_atom = 0, events = 1, threads = 2, quiet = 0, rep_n = 1;
  eng_calc_opts whole_skin = {0}; /* --whole-skin: the whole-system calculator's skin (0: default) */
  int no_start = 0;             /* --no-start: every local event computes its own start (session 11) */
  eng_artn_start *start = NULL;
  int range[2] = {0, 0};
  uint64_t gseed = 7;
  shared sh;
  eng_potential *pot = NULL;
  eng_system *sys = NULL;
  eng_calc *calc = NULL;
  pthread_t th[64];
  double t0, wall;

  memset(&sh, 0, sizeof sh);
  eng_artn_opts_default(&sh.o);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (strcmp(a, name) == 0 && v && ++i)
    if (ARG("--glass")) nglass = atoi(v);
    else if (ARG("--data")) data = v;
    else if (ARG("--potential")) potpath = v;
    else if (ARG("--atoms")) natoms_pick = atoi(v);
    else if (ARG("--events")) events = atoi(v);
    else if (ARG("--seed")) sh.o.seed = strtoull(v, NULL, 10);
    else if (ARG("--glass-seed")) gseed = strtoull(v, NULL, 10);
    else if (ARG("--threads")) threads = atoi(v);
    else if (ARG("--local")) { sh.local = 1; sh.o.local_radius = atof(v); }
    else if (ARG("--refine-radius")) sh.o.refine_radius = atof(v);
    else if (ARG("--local-refine")) sh.o.local_refine = atoi(v);
    else if (ARG("--refine-push")) sh.o.refine_push = atoi(v);
    else if (ARG("--refine-grow")) sh.o.refine_grow = atof(v);
    else if (ARG("--refine-force")) sh.o.refine_force = atof(v);
    else if (ARG("--saddle-force")) sh.o.saddle_force = atof(v);
    else if (ARG("--eigen-threshold")) sh.o.eigen_threshold = atof(v);
    else if (ARG("--lanczos-min")) sh.o.lanczos_min_iter = atoi(v);
    else if (ARG("--lanczos-radius")) sh.o.lanczos_radius = atof(v);
    else if (ARG("--basin-relax")) sh.o.basin_relax_steps = atoi(v);
    else if (ARG("--perp-max")) sh.o.perp_steps_max = atoi(v);
    else if (ARG("--perturb-radius")) sh.o.perturb_radius = atof(v);
    else if (ARG("--perturb-size")) sh.o.perturb_size = atof(v);
    else if (ARG("--basin-step")) sh.o.basin_step = atof(v);
    else if (ARG("--climb-step")) sh.o.climb_step_max = atof(v);
    else if (ARG("--lanczos-max")) sh.o.lanczos_max_iter = atoi(v);
    else if (ARG("--lanczos-tol")) sh.o.lanczos_tol = atof(v);
    else if (ARG("--push-over")) sh.o.push_over = atof(v);
    else if (ARG("--check-second")) sh.o.check_second = atoi(v);
    else if (ARG("--lost-retries")) sh.o.lost_retries = atoi(v);
    else if (ARG("--max-calls")) sh.o.max_calls = atoi(v);
    else if (ARG("--first-atom")) first_atom = atoi(v);
    else if (ARG("--job-range")) {
      if (sscanf(v, "%d:%d", &range[0], &range[1]) != 2) range[0] = range[1] = 0;
    }
    else if (ARG("--atom-list")) atom_list = v;
    else if (ARG("--call-cost")) call_k = atoi(v);
    else if (ARG("--restarts")) sh.o.restarts = atoi(v);
    else if (ARG("--basin-init")) sh.o.basin_init_steps = atoi(v);
    else if (ARG("--basin-warm")) sh.o.basin_warm = atoi(v);
    else if (ARG("--lost-threshold")) sh.o.lost_threshold = atof(v);
    else if (ARG("--require-connect")) sh.o.require_connect = atoi(v);
    else if (ARG("--save")) save = v;
    else if (ARG("--replicate")) rep_n = rep[0] = rep[1] = rep[2] = atoi(v);
    else if (ARG("--replicate-xyz")) {
      if (sscanf(v, "%dx%dx%d", &rep[0], &rep[1], &rep[2]) != 3) rep[0] = rep[1] = rep[2] = 1;
      rep_n = rep[0] * rep[1] * rep[2];
    }
    else if (strcmp(a, "--compare") == 0) sh.compare = 1;
    else if (ARG("--tighten")) sh.tighten = atof(v);
    else if (ARG("--same-energy")) sh.o.same_energy = atof(v);
    else if (ARG("--lost-follow")) sh.o.lost_follow = atoi(v);
    else if (ARG("--basin-gap")) sh.o.basin_lanczos_gap = atof(v);
    else if (ARG("--refine-frozen-max")) sh.o.refine_frozen_max = atof(v);
    else if (ARG("--push-radius")) sh.o.push_radius = atof(v);
    else if (ARG("--second-remote")) sh.o.second_remote = atof(v);
    else if (ARG("--refine-grow-hot")) sh.o.refine_grow_hot = atof(v);
    else if (ARG("--second-retries")) sh.o.second_retries = atoi(v);
    else if (ARG("--second-force")) sh.o.second_force = atof(v);
    else if (ARG("--min-ftol")) sh.o.min_ftol = atof(v);
    else if (strcmp(a, "--hessian") == 0) sh.hessian = 1;
    else if (strcmp(a, "--check-connect") == 0) sh.o.check_connect = 1;
    else if (strcmp(a, "--quiet") == 0) quiet = 1;
    else if (strcmp(a, "--no-start") == 0) no_start = 1;
    else if (strcmp(a, "--lanczos-fd") == 0) sh.o.lanczos_analytic = 0;
    else if (strcmp(a, "--memo") == 0) sh.memo = 1;
    else if (ARG("--memo-dist")) sh.o.memo_dist = atof(v);
    else if (ARG("--memo-energy")) sh.o.memo_energy = atof(v);
    else if (ARG("--list-skin")) sh.o.list_skin = atof(v);
    else if (ARG("--whole-skin")) whole_skin.skin = atof(v);
    else {
      fprintf(stderr, "artn_bench: unknown or incomplete argument %s\n", a);
      return 2;
    }
#undef ARG
  }
  if (threads < 1 || threads > 64) threads = 1;
  if (sh.memo && (threads != 1 || !sh.local || sh.compare)) {
    fprintf(stderr, "artn_bench: --memo needs --local R, --threads 1 and no --compare\n");
    return 2;
  }
  if (eng_potential_read(potpath, ENG_POT_AUTO, &pot)) {
    fprintf(stderr, "artn_bench: %s\n", eng_last_error());
    return 1;
  }
  if (data) {
    if (eng_read_file(data, ENG_FMT_AUTO, NULL, &sys) || eng_calc_create(pot, sys, &whole_skin, &calc)) {
      fprintf(stderr, "artn_bench: %s\n", eng_last_error());
      return 1;
    }
    eng_calc_fill_masses(calc, sys);
  } else {
    char cache[256];
    snprintf(cache, sizeof cache, "artn_glass_%d_%llu.data", nglass > 0 ? nglass : 300,
             (unsigned long long)gseed);
    if (access(cache, R_OK) == 0 && eng_read_file(cache, ENG_FMT_AUTO, NULL, &sys) == 0 &&
        eng_calc_create(pot, sys, &whole_skin, &calc) == 0) {
      eng_calc_fill_masses(calc, sys);
    } else {
      double tq = wall_now();
      if (au_make_glass(pot, nglass > 0 ? nglass : 300, gseed, 5.0, 100.0, &sys, &calc)) {
        fprintf(stderr, "artn_bench: glass: %s\n", eng_last_error());
        return 1;
      }
      fprintf(stderr, "artn_bench: made a %d-atom glass in %.1f s -> %s\n", sys->natoms,
              wall_now() - tq, cache);
      eng_write_file(cache, ENG_FMT_LAMMPS_DATA, sys);
    }
  }
  if (rep_n > 1) {
    /* rep[0] x rep[1] x rep[2] periodic copies (a big sample from a small glass) */
    int n0 = sys->natoms, m = rep[0] * rep[1] * rep[2];
    eng_system *big = eng_system_create(n0 * m, sys->ntypes);
    const eng_box *b = &sys->box;
    int idx = 0;
    for (int t = 0; t < sys->ntypes; t++) {
      memcpy(big->type_name[t], sys->type_name[t], ENG_NAME_MAX);
      big->type_mass[t] = sys->type_mass[t];
    }
    for (int a = 0; a < rep[0]; a++)
      for (int bb = 0; bb < rep[1]; bb++)
        for (int c = 0; c < rep[2]; c++)
          for (int i = 0; i < n0; i++, idx++) {
            big->type[idx] = sys->type[i];
            big->x[3 * idx] = sys->x[3 * i] + a * b->len[0] + bb * b->xy + c * b->xz;
            big->x[3 * idx + 1] = sys->x[3 * i + 1] + bb * b->len[1] + c * b->yz;
            big->x[3 * idx + 2] = sys->x[3 * i + 2] + c * b->len[2];
          }
    big->box = *b;
    for (int k = 0; k < 3; k++) big->box.len[k] *= rep[k];
    big->box.xy *= rep[1];
    big->box.xz *= rep[2];
    big->box.yz *= rep[2];
    eng_calc_free(calc);
    eng_system_free(sys);
    sys = big;
    if (eng_calc_create(pot, sys, &whole_skin, &calc)) {
      fprintf(stderr, "artn_bench: %s\n", eng_last_error());
      return 1;
    }
  }
  {
    /* make sure the structure is minimised to 1e-6 */
    eng_min_opts mo;
    eng_min_result mr;
    eng_min_opts_default(&mo);
    eng_minimize(calc, sys, &mo, NULL, NULL, &mr);
  }
  if (atom_list) {
    /* count the comma-separated indices; the picks are filled below */
    natoms_pick = 1;
    for (const char *p = atom_list; *p; p++) natoms_pick += *p == ',';
  }
  if (call_k > 0) {
    /* clusters of moving radius 6, 8, 10, 12 A (and --local R) around --first-atom */
    double rms[8] = {6.0, 8.0, 10.0, 12.0, 16.0, 20.0, 24.0, sh.o.local_radius};
    int r = call_cost(pot, sys, calc, first_atom % sys->natoms, call_k, rms, sh.local ? 8 : 7);
    eng_calc_free(calc);
    eng_system_free(sys);
    eng_potential_free(pot);
    return r;
  }
  if (natoms_pick > sys->natoms) natoms_pick = sys->natoms;
  if (sh.local && !no_start && eng_artn_start_make(calc, sys, &start)) {
    fprintf(stderr, "artn_bench: start: %s\n", eng_last_error());
    return 1;
  }
  sh.start = start;
  sh.pot = pot;
  sh.sys = sys;
  sh.njobs = natoms_pick * events;
  sh.jobs = calloc((size_t)sh.njobs, sizeof(job));
  pthread_mutex_init(&sh.mu, NULL);
  for (int k = 0; k < natoms_pick; k++)
    for (int e = 0; e < events; e++) {
      job *j = &sh.jobs[k * events + e];
      j->atom = (int)(((long)k * sys->natoms / natoms_pick + first_atom) % sys->natoms);
      j->event = e;
    }
  if (atom_list) {
    const char *p = atom_list;
    for (int k = 0; k < natoms_pick; k++) {
      long a = strtol(p, (char **)&p, 10);
      if (a < 0 || a >= sys->natoms) {
        fprintf(stderr, "artn_bench: --atom-list: index %ld out of range 0..%d\n", a, sys->natoms - 1);
        return 2;
      }
      for (int e = 0; e < events; e++) sh.jobs[k * events + e].atom = (int)a;
      if (*p == ',') p++;
    }
  }
  if (range[1] > range[0] && range[0] >= 0 && range[1] <= sh.njobs) {
    /* --job-range A:B: only the picked events A..B-1 (a set split over processes) */
    memmove(sh.jobs, sh.jobs + range[0], sizeof(job) * (size_t)(range[1] - range[0]));
    sh.njobs = range[1] - range[0];
  }
  t0 = wall_now();
  for (int t = 0; t < threads; t++) pthread_create(&th[t], NULL, worker, &sh);
  for (int t = 0; t < threads; t++) pthread_join(th[t], NULL);
  wall = wall_now() - t0;

  /* Table and statistics. */
  {
    int nconv = 0, nfirst = 0, nchecked = 0, *calls = calloc(sh.njobs + 1, sizeof(int));
    int *callsall = calloc(sh.njobs + 1, sizeof(int)), nstat[16] = {0}, ncmp = 0, nsame = 0;
    int *callsatt = calloc(sh.njobs + 1, sizeof(int)); /* successful attempt's calls */
    int *callssrch = calloc(sh.njobs + 1, sizeof(int)); /* the same without the first-order check */
    int *prodsrch = calloc(sh.njobs + 1, sizeof(int)); /* its analytic Hessian products (lanczos_analytic) */
    long nprod = 0; /* analytic Hessian products, all events */
    long nmemo = 0; /* attempts answered from the memo (--memo) */
    double *dq[2], *dev = calloc(sh.njobs + 1, sizeof(double)), tfull = 0, tloc = 0, sumdev = 0;
    int ndq[2] = {0, 0}, nconn = 0, nattempts = 0, nloc = 0, nfail[ENG_ARTN_NSTATUS] = {0}, npofail = 0, npook = 0, nexch = 0;
    long ph[7] = {0}; /* force calls by phase, all events (calls_basin ... calls_push_over, total) */
    double *ldev = calloc(sh.njobs + 1, sizeof(double)), lsum = 0.0;
    FILE *sf = save ? fopen(save, "w") : NULL;
    dq[0] = calloc(sh.njobs + 1, sizeof(double));
    dq[1] = calloc(sh.njobs + 1, sizeof(double));
    if (!quiet)
      printf("#atom_id\ttype\tevent\tstatus\tdq\tde_final\tlambda\tcalls_saddle\tcalls\tcalls_local"
             "\tmax_disp\tn_moved\tnneg\tlambda2\tdq_local\tdq_cmp\tt\tt_local\tconnected\tattempts\tcalls_search"
             "\tproducts_search\tmemo_event\treason\n");
    for (int i = 0; i < sh.njobs; i++) {
      job *j = &sh.jobs[i];
      const eng_artn_event *e = sh.local && !sh.compare ? &j->evl : &j->ev;
      int type = sys->type[j->atom];
      int rc = sh.local && !sh.compare ? j->rcl : j->rc;
      if (rc) {
        fprintf(stderr, "artn_bench: atom %d event %ld: error %d: %s\n", j->atom, j->event, rc, j->err);
        continue;
      }
      nstat[e->status]++;
      nattempts += e->attempts;
      for (int s = 0; s < ENG_ARTN_NSTATUS; s++) nfail[s] += e->fail_counts[s];
      /* the last attempt's failure is in fail_counts too (when it failed) */
      npofail += e->failed_after_pushoff;
      npook += e->status == ENG_ARTN_OK && e->pushoffs > 0;
      nexch += e->status == ENG_ARTN_OK && e->exchange;
      ph[0] += e->calls_basin;
      ph[1] += e->calls_basin_lanczos;
      ph[2] += e->calls_climb;
      ph[3] += e->calls_climb_lanczos;
      ph[4] += e->calls_second;
      ph[5] += e->calls_push_over;
      ph[6] += e->force_calls + e->force_calls_local;
      nprod += e->hessian_products;
      nmemo += e->memo_hits;
      tfull += j->t;
      tloc += j->tl;
      if (e->status == ENG_ARTN_OK) {
        calls[nconv] = e->force_calls_saddle + e->force_calls_local;
        callsatt[nconv] = e->calls_attempt_saddle;
        callssrch[nconv] = e->calls_attempt_saddle - e->calls_attempt_check;
        prodsrch[nconv] = e->products_attempt_saddle - e->products_attempt_check;
        callsall[nconv] = e->force_calls + e->force_calls_local;
        nconv++;
        dq[type > 0][ndq[type > 0]++] = e->dq;
        nconn += e->connected == 1;
        if (isfinite(e->dq_local)) {
          ldev[nloc] = fabs(e->dq_local - e->dq);
          lsum += ldev[nloc++];
        }
      }
      if (j->nneg >= 0) {
        nchecked++;
        nfirst += j->nneg == 1;
      }
      if (sh.compare && j->ev.status == ENG_ARTN_OK && j->evl.status == ENG_ARTN_OK) {
        double dd = fabs(j->evl.dq - j->ev.dq);
        ncmp++;
        if (dd < 0.05) {
          dev[nsame++] = dd;
          sumdev += dd;
        }
      }
      if (!quiet || sf) {
        FILE *o = sf ? sf : stdout;
        fprintf(o, "%lld\t%s\t%ld\t%s\t%.6f\t%.6f\t%.4f\t%d\t%d\t%d\t%.3f\t%d\t%d\t%.4g\t%.6f\t%.6f\t%.2f\t%.2f\t%d\t%d\t%d\t%d\t%ld\t%s\n",
                (long long)e->atom_id, sys->type_name[type], e->event_index,
                eng_artn_status_name(e->status), e->dq, e->de_final, e->eigenvalue,
                e->force_calls_saddle, e->force_calls, e->force_calls_local, e->max_disp,
                e->n_moved, j->nneg, j->ev2, sh.compare ? j->evl.dq : e->dq_local,
                sh.compare ? j->evl.dq - j->ev.dq : NAN, j->t, j->tl, e->connected, e->attempts,
                e->calls_attempt_saddle - e->calls_attempt_check,
                e->products_attempt_saddle - e->products_attempt_check, e->memo_event, e->reason);
      }
    }
    if (sf) fclose(sf);
    qsort(calls, nconv, sizeof(int), cmp_int);
    qsort(callsall, nconv, sizeof(int), cmp_int);
    qsort(callsatt, nconv, sizeof(int), cmp_int);
    qsort(callssrch, nconv, sizeof(int), cmp_int);
    qsort(prodsrch, nconv, sizeof(int), cmp_int);
    qsort(dq[0], ndq[0], sizeof(double), cmp_dbl);
    qsort(dq[1], ndq[1], sizeof(double), cmp_dbl);
    qsort(dev, nsame, sizeof(double), cmp_dbl);
    qsort(ldev, nloc, sizeof(double), cmp_dbl);
    {
      double cpu = sh.local && !sh.compare ? tloc : tfull;
      double ev_per_core_h = sh.njobs / cpu * 3600.0;
      double conv_per_core_h = nconv / cpu * 3600.0;
      printf("{\"natoms\":%d,\"events\":%d,\"threads\":%d,\"wall_s\":%.1f,\"converged\":%d,"
             "\"success_rate\":%.3f,\"cpu_s\":%.1f,",
             sys->natoms, sh.njobs, threads, wall, nconv, (double)nconv / sh.njobs,
             sh.local && !sh.compare ? tloc : tfull);
      printf("\"attempts\":%d,\"success_per_attempt\":%.3f,", nattempts,
             nattempts ? (double)nconv / nattempts : NAN);
      printf("\"status\":{");
      for (int s = 0; s <= ENG_ARTN_NOT_CONNECTED; s++)
        printf("%s\"%s\":%d", s ? "," : "", eng_artn_status_name((eng_artn_status)s), nstat[s]);
      printf("},\"failed_attempts\":{");
      for (int s = 1; s < ENG_ARTN_NSTATUS; s++)
        printf("%s\"%s\":%d", s > 1 ? "," : "", eng_artn_status_name((eng_artn_status)s), nfail[s]);
      printf("},\"ok_after_pushoff\":%d,\"failed_after_pushoff\":%d,\"ok_exchanges\":%d", npook, npofail, nexch);
      printf(",\"calls_per_event\":{\"basin\":%.0f,\"basin_lanczos\":%.0f,\"climb\":%.0f,"
             "\"climb_lanczos\":%.0f,\"second\":%.0f,\"push_over_min\":%.0f,\"total\":%.0f},",
             (double)ph[0] / sh.njobs, (double)ph[1] / sh.njobs, (double)ph[2] / sh.njobs,
             (double)ph[3] / sh.njobs, (double)ph[4] / sh.njobs, (double)ph[5] / sh.njobs,
             (double)ph[6] / sh.njobs);
      printf("\"lanczos_analytic\":%d,\"hessian_products_per_event\":%.0f,", sh.o.lanczos_analytic,
             (double)nprod / sh.njobs);
      printf("\"memo\":%d,\"memo_hits\":%ld,", sh.memo, nmemo);
      if (nconv)
        printf("\"calls_saddle_median\":%d,\"calls_saddle_p90\":%d,\"calls_total_median\":%d,"
               "\"calls_total_p90\":%d,",
               calls[nconv / 2], calls[(int)(0.9 * (nconv - 1))], callsall[nconv / 2],
               callsall[(int)(0.9 * (nconv - 1))]);
      if (nconv) /* the successful attempt alone, kick to saddle (peers' count) */
        printf("\"calls_attempt_median\":%d,\"calls_attempt_p90\":%d,\"calls_search_median\":%d,"
               "\"calls_search_p90\":%d,",
               callsatt[nconv / 2], callsatt[(int)(0.9 * (nconv - 1))], callssrch[nconv / 2],
               callssrch[(int)(0.9 * (nconv - 1))]);
      if (nconv) /* and its analytic Hessian products (not force calls) */
        printf("\"products_search_median\":%d,\"products_search_p90\":%d,", prodsrch[nconv / 2],
               prodsrch[(int)(0.9 * (nconv - 1))]);
      for (int t = 0; t < 2; t++)
        if (ndq[t])
          printf("\"dq_%s\":{\"n\":%d,\"min\":%.3f,\"median\":%.3f,\"max\":%.3f},", t ? "Zr" : "Cu",
                 ndq[t], dq[t][0], dq[t][ndq[t] / 2], dq[t][ndq[t] - 1]);
      if (sh.o.check_connect) printf("\"connected\":%d,", nconn);
      if (nloc)
        printf("\"local_refined_n\":%d,\"dq_local_dev_mean\":%.5f,\"dq_local_dev_median\":%.5f,"
               "\"dq_local_dev_p90\":%.5f,\"dq_local_dev_max\":%.5f,",
               nloc, lsum / nloc, ldev[nloc / 2], ldev[(int)(0.9 * (nloc - 1))], ldev[nloc - 1]);
      if (nchecked)
        printf("\"hessian_checked\":%d,\"first_order\":%d,", nchecked, nfirst);
      if (sh.tighten > 0.0) {
        /* |dQ_event - dQ_tight| over the local events whose saddle was
         * re-converged, and of the first cluster's dQ for contrast */
        double *td = calloc((size_t)sh.njobs + 1, sizeof(double)), tsum = 0, lsum2 = 0, tcpu = 0;
        long *tc = calloc((size_t)sh.njobs + 1, sizeof(long));
        int nt = 0, ntry = 0;
        for (int k = 0; td && tc && k < sh.njobs; k++) {
          const job *j = &sh.jobs[k];
          const eng_artn_event *e = sh.local ? &j->evl : &j->ev;
          if (!((sh.local ? j->rcl : j->rc) == 0 && e->status == ENG_ARTN_OK)) continue;
          ntry++;
          tcpu += j->tt;
          if (j->tr.status != 0) continue;
          td[nt] = fabs(e->dq - j->tr.dq);
          tc[nt] = j->tr.force_calls;
          tsum += td[nt];
          lsum2 += sh.local ? fabs(e->dq_local - j->tr.dq) : 0.0;
          nt++;
        }
        if (nt) {
          qsort(td, nt, sizeof(double), cmp_dbl);
          qsort(tc, nt, sizeof(long), cmp_long);
          printf("\"tighten\":{\"force\":%g,\"tried\":%d,\"converged\":%d,\"dq_dev_mean\":%.5f,"
                 "\"dq_dev_median\":%.5f,\"dq_dev_p90\":%.5f,\"dq_dev_max\":%.5f,"
                 "\"dq_first_cluster_dev_mean\":%.5f,\"calls_median\":%ld,\"cpu_s\":%.1f},",
                 sh.tighten, ntry, nt, tsum / nt, td[nt / 2], td[(int)(0.9 * (nt - 1))], td[nt - 1],
                 lsum2 / nt, tc[nt / 2], tcpu);
        }
        free(td);
        free(tc);
      }
      if (sh.compare)
        printf("\"compare_both_ok\":%d,\"compare_same_saddle\":%d,\"dq_dev_mean\":%.5f,"
               "\"dq_dev_median\":%.5f,\"dq_dev_max\":%.5f,\"t_full\":%.1f,\"t_local\":%.1f,"
               "\"speedup\":%.2f,",
               ncmp, nsame, nsame ? sumdev / nsame : NAN, nsame ? dev[nsame / 2] : NAN,
               nsame ? dev[nsame - 1] : NAN, tfull, tloc, tloc > 0 ? tfull / tloc : NAN);
      printf("\"events_per_core_hour\":%.0f,\"converged_per_core_hour\":%.0f,"
             "\"projected_h_19652x10_2cores\":%.1f}\n",
             ev_per_core_h, conv_per_core_h, 196520.0 / (ev_per_core_h * 2.0));
    }
    free(calls);
    free(callsall);
    free(callsatt);
    free(callssrch);
    free(prodsrch);
    free(dq[0]);
    free(dq[1]);
    free(dev);
    free(ldev);
  }
  free(sh.jobs);
  eng_calc_free(calc);
  eng_artn_start_free(start);
  eng_system_free(sys);
  eng_potential_free(pot);
  return 0;
}
