/*
 * bench_engine.c -- time pelmap's engine on a structure file: force
 * evaluations, NVE molecular dynamics, or minimisation.  Prints one JSON
 * line with CPU and wall time, atom-steps per second and peak memory.
 *
 *   bench_engine FILE POTENTIAL force|nve|min [steps] [ftol] [threads]
 *
 * threads: eng_set_threads (default 1; 0 = all processors).
 */
#include "engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double clock_s(clockid_t id) {
  struct timespec t;
  clock_gettime(id, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

int main(int argc, char **argv) {
  eng_system *s = NULL;
  eng_potential *p = NULL;
  eng_calc *c = NULL;
  double *f = NULL, e = 0, c0, w0, cpu, wall, rate = 0;
  long steps = argc > 4 ? atol(argv[4]) : 100;
  double ftol = argc > 5 ? atof(argv[5]) : 1e-6;
  int threads = argc > 6 ? atoi(argv[6]) : 1;
  const char *mode = argc > 3 ? argv[3] : "force";
  struct rusage ru;
  int rc = 1;
  char extra[256] = "";

  if (argc < 4) {
    fprintf(stderr, "usage: bench_engine FILE POTENTIAL force|nve|min [steps] [ftol] [threads]\n");
    return 2;
  }
  if (eng_set_threads(threads)) {
    fprintf(stderr, "bench_engine: %s\n", eng_last_error());
    return 2;
  }
  if (eng_read_file(argv[1], ENG_FMT_AUTO, NULL, &s) ||
      eng_potential_read(argv[2], ENG_POT_AUTO, &p) || eng_calc_create(p, s, NULL, &c)) {
    fprintf(stderr, "bench_engine: %s\n", eng_last_error());
    goto out;
  }
  eng_calc_fill_masses(c, s);
  f = malloc(sizeof *f * 3 * (size_t)s->natoms);
  if (!f) goto out;
  eng_calc_compute(c, s, &e, f, NULL, NULL); /* build lists outside the timing */
  c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
  w0 = clock_s(CLOCK_MONOTONIC);
  if (strcmp(mode, "force") == 0) {
    for (long k = 0; k < steps; k++) eng_calc_compute(c, s, &e, f, NULL, NULL);
  } else if (strcmp(mode, "nve") == 0) {
    eng_md_opts o;
    eng_md_state st;
    eng_md_opts_default(&o);
    o.ensemble = ENG_NVE;
    o.nsteps = steps;
    o.t_start = o.t_stop = 600.0;
    o.init_velocities = 1;
    o.seed = 12345;
    if (eng_md_run(c, s, &o, NULL, NULL, NULL, NULL, &st)) {
      fprintf(stderr, "bench_engine: %s\n", eng_last_error());
      goto out;
    }
    snprintf(extra, sizeof extra, ",\"builds\":%ld", eng_calc_nbuild(c));
  } else if (strcmp(mode, "min") == 0) {
    eng_min_opts o;
    eng_min_result r;
    eng_min_opts_default(&o);
    o.algo = ENG_MIN_CG;
    o.ftol = ftol;
    o.etol = 0;
    if (eng_minimize(c, s, &o, NULL, NULL, &r)) {
      fprintf(stderr, "bench_engine: %s\n", eng_last_error());
      goto out;
    }
    steps = r.force_calls;
    snprintf(extra, sizeof extra, ",\"stop\":\"%s\",\"iterations\":%d,\"e_final\":%.10f,\"fmax\":%.4g",
             eng_min_stop_name(r.stop), r.iterations, r.e_final, r.fmax);
  } else {
    fprintf(stderr, "bench_engine: unknown mode %s\n", mode);
    goto out;
  }
  cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
  wall = clock_s(CLOCK_MONOTONIC) - w0;
  rate = (double)s->natoms * steps / cpu;
  getrusage(RUSAGE_SELF, &ru);
  printf("{\"program\":\"pelmap\",\"mode\":\"%s\",\"natoms\":%d,\"steps\":%ld,\"cpu_s\":%.4f,"
         "\"wall_s\":%.4f,\"atom_steps_per_cpu_s\":%.4g,\"atom_steps_per_wall_s\":%.4g,"
         "\"threads\":%d,\"peak_rss_mb\":%.1f%s}\n",
         mode, s->natoms, steps, cpu, wall, rate, (double)s->natoms * steps / wall,
         eng_get_threads(), ru.ru_maxrss / 1024.0, extra);
  rc = 0;
out:
  free(f);
  eng_calc_free(c);
  eng_potential_free(p);
  eng_system_free(s);
  return rc;
}
