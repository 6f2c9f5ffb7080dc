/*
 * desc_bench.c -- CPU time, wall time and peak memory of each descriptor
 * stage (docs/descriptors.md, docs/modes.md) on one structure, for
 * bench/desc.sh (which runs LAMMPS on the same structure side by side).
 *
 * usage: desc_bench DATA POTFILE STAGE... [threads=N] [md_ps=X] [modes=SOLVER]
 *                   [cheb_degree=M] [cheb_block=P] [cheb_tol=T]
 *   STAGE: minimize rdf voronoi s2 msd hessian modes participation
 *   msd_harmonic vflex d2min (in any order, each timed alone; modes builds
 *   the Hessian first and reports it apart; participation and msd_harmonic
 *   (300 K) use the last modes, vflex the last msd and voronoi results).
 *   minimize: CG to 1e-6 eV/A (the bundled glass is already minimised).
 *   rdf: rmax 12 A, 0.02 A bins (600, as `compute rdf 600 cutoff 12`);
 *   voronoi: no thresholds; s2: the default four cutoffs from g(r);
 *   msd: vibrational MSD, NVT 300 K, dt 2 fs, sample every 10 steps, for
 *   md_ps ps (default 1; the paper's 100 ps is 100x that);
 *   modes: lowest 0.25 % with SOLVER (auto|dense|sparse|lanczos|chebyshev,
 *   default auto; DESC_VERBOSE=1 prints the solver's progress); d2min: cutoff 3.9 A between the structure and the structure
 *   with every atom moved by up to 0.05 A (seeded).
 *   threads=N: eng_set_threads(N) (the force loop of the MD).
 * Prints one line per stage:
 *   STAGE name=S natoms=N cpu_s=C wall_s=W peak_rss_gb=G [extra]
 * Peak memory is the process's maximum resident set so far.
 */
#include "engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* CPU seconds (user + system, all threads) of this process so far. */
static double cpu_s(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + 1e-6 * u.ru_utime.tv_usec + u.ru_stime.tv_sec +
         1e-6 * u.ru_stime.tv_usec;
}

static double peak_gb(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1048576.0;
}

static double t_wall, t_cpu;

static void start(void) {
  t_wall = now();
  t_cpu = cpu_s();
}

static void stop(const char *name, int natoms, const char *extra) {
  printf("STAGE name=%s natoms=%d cpu_s=%.3f wall_s=%.3f peak_rss_gb=%.3f %s\n", name, natoms,
         cpu_s() - t_cpu, now() - t_wall, peak_gb(), extra ? extra : "");
  fflush(stdout);
}

static int verbose;

/* Progress of the modes solver on stderr (DESC_VERBOSE=1). */
static int progress(void *ud, double frac, const char *msg) {
  (void)ud;
  fprintf(stderr, "  [%5.1f%%] cpu %.1f s wall %.1f s: %s\n", 100 * frac, cpu_s() - t_cpu,
          now() - t_wall, msg);
  return 0;
}

static int fail(const char *what) {
  fprintf(stderr, "desc_bench: %s: %s\n", what, eng_last_error());
  return 1;
}

int main(int argc, char **argv) {
  eng_potential *pot = NULL;
  eng_calc *calc = NULL;
  eng_system *s = NULL;
  double md_ps = 1.0;
  const char *solver = "auto";
  int cheb_degree = 0, cheb_block = 0;
  eng_voronoi *vor = NULL;
  eng_msd *msd = NULL;
  eng_modes *modes = NULL;
  double cheb_tol = 0;
  char extra[256];
  int rc = 1;

  if (argc < 4) {
    fprintf(stderr, "usage: desc_bench DATA POTFILE STAGE... [threads=N] [md_ps=X] "
                    "[modes=SOLVER]\n");
    return 2;
  }
  for (int a = 3; a < argc; a++) {
    if (!strncmp(argv[a], "threads=", 8) && eng_set_threads(atoi(argv[a] + 8)))
      return fail("threads");
    if (!strncmp(argv[a], "md_ps=", 6)) md_ps = atof(argv[a] + 6);
    if (!strncmp(argv[a], "modes=", 6)) solver = argv[a] + 6;
    if (!strncmp(argv[a], "cheb_degree=", 12)) cheb_degree = atoi(argv[a] + 12);
    if (!strncmp(argv[a], "cheb_block=", 11)) cheb_block = atoi(argv[a] + 11);
    if (!strncmp(argv[a], "cheb_tol=", 9)) cheb_tol = atof(argv[a] + 9);
  }
  verbose = getenv("DESC_VERBOSE") != NULL;
  if (eng_read_file(argv[1], ENG_FMT_AUTO, NULL, &s)) return fail(argv[1]);
  if (eng_potential_read(argv[2], ENG_POT_AUTO, &pot)) return fail(argv[2]);
  if (eng_calc_create(pot, s, NULL, &calc)) return fail("calc");
  printf("# %s: %d atoms, threads %d\n", argv[1], s->natoms, eng_get_threads());

  for (int a = 3; a < argc; a++) {
    const char *st = argv[a];
    if (strchr(st, '=')) continue;
    if (!strcmp(st, "minimize")) {
      eng_min_opts o;
      eng_min_result r;
      eng_min_opts_default(&o);
      o.algo = ENG_MIN_CG;
      o.ftol = 1e-6;
      start();
      if (eng_minimize(calc, s, &o, NULL, NULL, &r)) return fail("minimize");
      snprintf(extra, sizeof extra, "fmax=%.2g iterations=%d", r.fmax, r.iterations);
      stop("minimize", s->natoms, extra);
    } else if (!strcmp(st, "rdf")) {
      eng_rdf_opts o;
      eng_rdf *g = NULL;
      eng_rdf_opts_default(&o);
      o.rmax = 12.0;
      o.dr = 0.02;
      start();
      if (eng_rdf_compute(s, &o, &g)) return fail("rdf");
      snprintf(extra, sizeof extra, "bins=%d first_trough=%.3f", g->nbins,
               g->ntroughs[0] ? g->troughs[0] : 0.0);
      stop("rdf", s->natoms, extra);
      eng_rdf_free(g);
    } else if (!strcmp(st, "voronoi")) {
      eng_voronoi_opts o;
      eng_voronoi_opts_default(&o);
      eng_voronoi_free(vor);
      vor = NULL;
      start();
      if (eng_voronoi_compute(s, &o, &vor)) return fail("voronoi");
      stop("voronoi", s->natoms, NULL);
    } else if (!strcmp(st, "s2")) {
      eng_s2_opts o;
      eng_s2 *r = NULL;
      eng_s2_opts_default(&o);
      start();
      if (eng_s2_compute(s, &o, &r)) return fail("s2");
      snprintf(extra, sizeof extra, "cutoffs=%.2f,%.2f,%.2f,%.2f", r->opts.cut[0],
               r->opts.cut[1], r->opts.cut[2], r->opts.cut[3]);
      stop("s2", s->natoms, extra);
      eng_s2_free(r);
    } else if (!strcmp(st, "msd")) {
      eng_msd_opts o;
      eng_msd_opts_default(&o);
      o.time = md_ps;
      o.seed = 12345;
      eng_msd_free(msd);
      msd = NULL;
      start();
      if (eng_msd_compute(calc, s, &o, NULL, NULL, &msd)) return fail("msd");
      snprintf(extra, sizeof extra, "md_ps=%g steps=%ld t_mean=%.1f", md_ps,
               (long)(md_ps / o.dt + 0.5), msd->t_mean);
      stop("msd", s->natoms, extra);
    } else if (!strcmp(st, "hessian") || !strcmp(st, "modes")) {
      eng_hessian *h = NULL;
      eng_modes_opts o;
      static const char *const sname[5] = {"auto", "dense", "sparse", "lanczos", "chebyshev"};
      start();
      if (eng_hessian_build(calc, s, &h)) return fail("hessian");
      snprintf(extra, sizeof extra, "blocks=%ld", eng_hessian_nblocks(h));
      stop("hessian", s->natoms, extra);
      if (!strcmp(st, "modes")) {
        eng_modes_opts_default(&o);
        o.solver = !strcmp(solver, "dense")     ? ENG_MODES_DENSE
                   : !strcmp(solver, "sparse")  ? ENG_MODES_SPARSE
                   : !strcmp(solver, "lanczos") ? ENG_MODES_LANCZOS
                   : !strcmp(solver, "chebyshev") ? ENG_MODES_CHEBYSHEV
                                                : ENG_MODES_AUTO;
        if (cheb_degree) o.cheb_degree = cheb_degree;
        if (cheb_block) o.cheb_block = cheb_block;
        if (cheb_tol > 0) o.cheb_tol = cheb_tol;
        start();
        eng_modes_free(modes);
        modes = NULL;
        if (eng_modes_lowest(h, s, &o, verbose ? progress : NULL, NULL, &modes))
          return fail("modes");
        const eng_modes *m = modes;
        snprintf(extra, sizeof extra,
                 "solver=%s nmodes=%d nop=%d iterations=%d block=%d degree=%d tol=%.2g "
                 "thz=%.4f..%.4f resid=%.2g",
                 m->solver <= 4 ? sname[m->solver] : "?", m->nmodes, m->nop, m->iterations,
                 m->block, m->degree, m->tol, m->thz[0], m->thz[m->nmodes - 1], m->resid_max);
        stop("modes", s->natoms, extra);
      }
      eng_hessian_free(h);
    } else if (!strcmp(st, "participation") || !strcmp(st, "msd_harmonic")) {
      double *p = malloc(sizeof *p * (size_t)s->natoms), sum = 0;
      if (!modes || !p) {
        fprintf(stderr, "desc_bench: %s needs the modes stage first\n", st);
        free(p);
        goto out;
      }
      start();
      if (!strcmp(st, "participation") ? eng_participation(modes, 0, p)
                                       : eng_msd_harmonic(modes, s, 300.0, p))
        return fail(st);
      for (int i = 0; i < s->natoms; i++) sum += p[i];
      snprintf(extra, sizeof extra, "modes=%d mean=%.4g", modes->nmodes, sum / s->natoms);
      stop(st, s->natoms, extra);
      free(p);
    } else if (!strcmp(st, "vflex")) {
      double *v = malloc(sizeof *v * (size_t)s->natoms), sum = 0;
      if (!msd || !vor || !v) {
        fprintf(stderr, "desc_bench: vflex needs the msd and voronoi stages first\n");
        free(v);
        goto out;
      }
      start();
      if (eng_flex_volume(s->natoms, msd->msd, vor->volume, v)) return fail("vflex");
      for (int i = 0; i < s->natoms; i++) sum += v[i];
      snprintf(extra, sizeof extra, "mean=%.4g", sum / s->natoms);
      stop("vflex", s->natoms, extra);
      free(v);
    } else if (!strcmp(st, "d2min")) {
      eng_system *c = eng_system_copy(s);
      eng_d2min *d = NULL;
      eng_rng r;
      if (!c) return fail("copy");
      eng_rng_seed(&r, 99);
      for (int i = 0; i < 3 * c->natoms; i++) c->x[i] += 0.1 * (eng_rng_uniform(&r) - 0.5);
      start();
      if (eng_d2min_compute(s, c, 3.9, 1, &d)) return fail("d2min");
      stop("d2min", s->natoms, NULL);
      eng_d2min_free(d);
      eng_system_free(c);
    } else {
      fprintf(stderr, "desc_bench: unknown stage %s\n", st);
      goto out;
    }
  }
  rc = 0;
out:
  eng_voronoi_free(vor);
  eng_msd_free(msd);
  eng_modes_free(modes);
  eng_calc_free(calc);
  eng_system_free(s);
  eng_potential_free(pot);
  return rc;
}
