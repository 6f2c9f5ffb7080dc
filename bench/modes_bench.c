/*
 * modes_bench.c -- wall time and peak memory of the normal-mode pipeline
 * (Hessian build + lowest 0.25 % of modes + participation) on a Cu-Zr
 * glass-like inherent structure.
 *
 * usage: modes_bench N0 REP [solver]
 *   N0 atoms of Cu64Zr36 at 0.0585 atoms/A^3 from eng_system_random,
 *   minimised (CG, 1e-4 eV/A); then replicated REP x REP x REP, every atom
 *   moved by up to 0.02 A (seeded) and minimised again (CG, 1e-6 eV/A);
 *   solver: auto (default), dense, sparse, lanczos or chebyshev.
 * Prints one line per stage and a final "RESULT" line.  Peak memory is the
 * process's maximum resident set (getrusage), so run one size per process.
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

/* CPU seconds (user + system) of this process so far: the wall time is
 * meaningful only on an idle machine. */
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

static int progress(void *ud, double frac, const char *msg) {
  (void)ud;
  fprintf(stderr, "  [%5.1f%%] %s\n", 100 * frac, msg);
  return 0;
}

static eng_system *replicate(const eng_system *s, int rep, uint64_t seed) {
  int n = s->natoms * rep * rep * rep, k = 0;
  eng_system *t = eng_system_create(n, s->ntypes);
  eng_rng r;
  if (!t) return NULL;
  memcpy(t->type_name, s->type_name, sizeof *t->type_name * s->ntypes);
  memcpy(t->type_mass, s->type_mass, sizeof *t->type_mass * s->ntypes);
  t->box = s->box;
  for (int d = 0; d < 3; d++) t->box.len[d] *= rep;
  t->box.xy *= rep;
  t->box.xz *= rep;
  t->box.yz *= rep;
  eng_rng_seed(&r, seed);
  for (int a = 0; a < rep; a++)
    for (int b = 0; b < rep; b++)
      for (int c = 0; c < rep; c++)
        for (int i = 0; i < s->natoms; i++, k++) {
          const double *x = s->x + 3 * i;
          t->type[k] = s->type[i];
          t->x[3 * k] = x[0] + a * s->box.len[0] + b * s->box.xy + c * s->box.xz;
          t->x[3 * k + 1] = x[1] + b * s->box.len[1] + c * s->box.yz;
          t->x[3 * k + 2] = x[2] + c * s->box.len[2];
          for (int d = 0; d < 3; d++) t->x[3 * k + d] += 0.04 * (eng_rng_uniform(&r) - 0.5);
        }
  return t;
}

int main(int argc, char **argv) {
  const char *names[2] = {"Cu", "Zr"};
  const double frac[2] = {0.64, 0.36};
  int n0 = argc > 1 ? atoi(argv[1]) : 2000, rep = argc > 2 ? atoi(argv[2]) : 1;
  const char *solver = argc > 3 ? argv[3] : "auto";
  const char *potpath = "/usr/share/lammps/potentials/CuZr_mm.eam.fs";
  /* PELMAP_BENCH_NOMIN=1: skip the minimisations (sparsity and factor
   * statistics only; the modes of an unrelaxed start are meaningless) */
  const int nomin = getenv("PELMAP_BENCH_NOMIN") != NULL;
  eng_potential *pot = NULL;
  eng_calc *calc = NULL;
  eng_system *s0, *s;
  eng_min_opts mo;
  eng_min_result mr;
  eng_hessian *h = NULL;
  eng_modes *m = NULL;
  eng_modes_opts o;
  static const char *const sname[5] = {"auto", "dense", "sparse", "lanczos", "chebyshev"};
  double t0, t_min, t_h, t_m, c0, c_h, c_m;

  if (eng_potential_read(potpath, ENG_POT_AUTO, &pot)) {
    fprintf(stderr, "%s\n", eng_last_error());
    return 1;
  }
  t0 = now();
  s0 = eng_system_random(n0, 2, names, frac, 0.0585, 2.0, 7);
  if (!s0 || eng_calc_create(pot, s0, NULL, &calc)) {
    fprintf(stderr, "setup: %s\n", eng_last_error());
    return 1;
  }
  eng_min_opts_default(&mo);
  mo.algo = ENG_MIN_CG;
  mo.ftol = rep > 1 ? 1e-4 : 1e-6;
  if (nomin) mo.max_iter = 1;
  eng_minimize(calc, s0, &mo, NULL, NULL, &mr);
  eng_calc_free(calc);
  calc = NULL;
  s = rep > 1 ? replicate(s0, rep, 8) : s0;
  if (!s || eng_calc_create(pot, s, NULL, &calc)) {
    fprintf(stderr, "replicate: %s\n", eng_last_error());
    return 1;
  }
  mo.ftol = 1e-6;
  if (nomin) mo.max_iter = 1;
  eng_minimize(calc, s, &mo, NULL, NULL, &mr);
  t_min = now() - t0;
  printf("system: %d atoms, E = %.4f eV/atom, fmax %.2g eV/A, stop %s, prep %.1f s\n", s->natoms,
         mr.e_final / s->natoms, mr.fmax, eng_min_stop_name(mr.stop), t_min);
  fflush(stdout);

  t0 = now();
  c0 = cpu_s();
  if (eng_hessian_build(calc, s, &h)) {
    fprintf(stderr, "hessian: %s\n", eng_last_error());
    return 1;
  }
  t_h = now() - t0;
  c_h = cpu_s() - c0;
  printf("hessian: %.2f s, %ld blocks (%.0f coupled atoms per row, %.2f GB), peak RSS %.2f GB\n",
         t_h, eng_hessian_nblocks(h), (double)eng_hessian_nblocks(h) / s->natoms,
         eng_hessian_nblocks(h) * 76.0 / 1e9, peak_gb());
  fflush(stdout);

  eng_modes_opts_default(&o);
  if (!strcmp(solver, "dense")) o.solver = ENG_MODES_DENSE;
  else if (!strcmp(solver, "sparse")) o.solver = ENG_MODES_SPARSE;
  else if (!strcmp(solver, "lanczos")) o.solver = ENG_MODES_LANCZOS;
  else if (!strcmp(solver, "chebyshev")) o.solver = ENG_MODES_CHEBYSHEV;
  /* PELMAP_BENCH_TOL / _NCV: ARPACK tolerance and basis size */
  if (getenv("PELMAP_BENCH_TOL")) o.tol = atof(getenv("PELMAP_BENCH_TOL"));
  if (getenv("PELMAP_BENCH_NCV")) o.ncv = atoi(getenv("PELMAP_BENCH_NCV"));
  t0 = now();
  c0 = cpu_s();
  if (eng_modes_lowest(h, s, &o, progress, NULL, &m)) {
    fprintf(stderr, "modes: %s\n", eng_last_error());
    return 1;
  }
  t_m = now() - t0;
  c_m = cpu_s() - c0;
  double *p = malloc(sizeof *p * s->natoms), pmax = 0;
  eng_participation(m, 0, p);
  for (int i = 0; i < s->natoms; i++)
    if (p[i] > pmax) pmax = p[i];
  printf("factor: %.3g non-zeros, %.2f GB stored, %.3g Gflop\n", m->factor_nnz, m->factor_gb,
         m->factor_gflop);
  printf("modes: %s, %d modes in %.2f s (%d solves, sigma %g), lowest %.4f THz, highest "
         "%.4f THz, max residual %.2g, max p_i %.3g\n",
         m->solver <= 4 ? sname[m->solver] : "?", m->nmodes, t_m, m->nop, m->sigma,
         m->thz[0], m->thz[m->nmodes - 1], m->resid_max, pmax);
  printf("RESULT natoms=%d solver=%s nmodes=%d hessian_wall_s=%.2f hessian_cpu_s=%.2f "
         "modes_wall_s=%.2f modes_cpu_s=%.2f peak_rss_gb=%.2f\n",
         s->natoms, m->solver <= 4 ? sname[m->solver] : "?", m->nmodes, t_h, c_h, t_m,
         c_m, peak_gb());
  free(p);
  eng_modes_free(m);
  eng_hessian_free(h);
  eng_calc_free(calc);
  if (s != s0) eng_system_free(s);
  eng_system_free(s0);
  eng_potential_free(pot);
  return 0;
}
