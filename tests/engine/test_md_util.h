/*
 * test_md_util.h -- helpers shared by test_min.c and test_md.c: the Mendelev
 * Cu-Zr potential, random dense Cu50Zr50 samples, lattices, a LAMMPS data
 * writer and a runner for $LMP.  Header-only (static inline), test code.
 */
#ifndef PELMAP_TEST_MD_UTIL_H
#define PELMAP_TEST_MD_UTIL_H

#include "engine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Path of CuZr_mm.eam.fs (bundled copy first, then Debian's lammps-data),
 * or NULL. */
static inline const char *tmd_potential_path(void) {
  static char buf[4096];
  const char *src = getenv("PELMAP_SRCDIR");
  FILE *f;
  if (src) {
    snprintf(buf, sizeof buf, "%s/tests/data/CuZr_mm.eam.fs", src);
    f = fopen(buf, "r");
    if (f) {
      fclose(f);
      return buf;
    }
  }
  snprintf(buf, sizeof buf, "/usr/share/lammps/potentials/CuZr_mm.eam.fs");
  f = fopen(buf, "r");
  if (f) {
    fclose(f);
    return buf;
  }
  return NULL;
}

/* New n-atom system with types Cu (0) and Zr (1), half each (Cu first
 * for odd n), masses zero (filled later from the potential). */
static inline eng_system *tmd_cuzr_system(int n) {
  eng_system *s = eng_system_create(n, 2);
  if (!s) return NULL;
  strcpy(s->type_name[0], "Cu");
  strcpy(s->type_name[1], "Zr");
  for (int i = 0; i < n; i++) s->type[i] = i < (n + 1) / 2 ? 0 : 1;
  for (int k = 0; k < 3; k++) s->box.periodic[k] = 1;
  return s;
}

/* Random Cu50Zr50 in a cubic box at number density rho (atoms/A^3) with
 * minimum separation dmin (A); deterministic in seed.  NULL on failure. */
static inline eng_system *tmd_random_cuzr(int n, double rho, double dmin, uint64_t seed) {
  eng_system *s = tmd_cuzr_system(n);
  eng_rng r;
  double l = cbrt(n / rho);
  if (!s) return NULL;
  for (int k = 0; k < 3; k++) s->box.len[k] = l;
  eng_rng_seed(&r, seed);
  for (int i = 0; i < n; i++) {
    int tries = 0, okp = 0;
    while (!okp) {
      if (++tries > 100000) {
        eng_system_free(s);
        return NULL;
      }
      for (int k = 0; k < 3; k++) s->x[3 * i + k] = l * eng_rng_uniform(&r);
      okp = 1;
      for (int j = 0; j < i && okp; j++) {
        double d[3];
        for (int k = 0; k < 3; k++) d[k] = s->x[3 * i + k] - s->x[3 * j + k];
        eng_box_minimum_image(&s->box, d);
        if (d[0] * d[0] + d[1] * d[1] + d[2] * d[2] < dmin * dmin) okp = 0;
      }
    }
  }
  return s;
}

/* Write s as a LAMMPS data file (atomic style, full precision). 0 = ok. */
static inline int tmd_write_data(const char *path, const eng_system *s) {
  FILE *f = fopen(path, "w");
  if (!f) return -1;
  fprintf(f, "test_md_util data file\n\n%d atoms\n%d atom types\n\n", s->natoms, s->ntypes);
  fprintf(f, "%.17g %.17g xlo xhi\n", s->box.lo[0], s->box.lo[0] + s->box.len[0]);
  fprintf(f, "%.17g %.17g ylo yhi\n", s->box.lo[1], s->box.lo[1] + s->box.len[1]);
  fprintf(f, "%.17g %.17g zlo zhi\n", s->box.lo[2], s->box.lo[2] + s->box.len[2]);
  if (eng_box_is_triclinic(&s->box))
    fprintf(f, "%.17g %.17g %.17g xy xz yz\n", s->box.xy, s->box.xz, s->box.yz);
  fprintf(f, "\nMasses\n\n");
  for (int t = 0; t < s->ntypes; t++) fprintf(f, "%d %.17g # %s\n", t + 1, s->type_mass[t], s->type_name[t]);
  fprintf(f, "\nAtoms # atomic\n\n");
  for (int i = 0; i < s->natoms; i++)
    fprintf(f, "%lld %d %.17g %.17g %.17g\n", (long long)s->id[i], s->type[i] + 1, s->x[3 * i],
            s->x[3 * i + 1], s->x[3 * i + 2]);
  return fclose(f) == 0 ? 0 : -1;
}

/* Potential, system-shaped calculator with masses filled.  0 = ok. */
static inline int tmd_setup(const char *potpath, eng_system *s, eng_potential **pot, eng_calc **c) {
  int rc = eng_potential_read(potpath, ENG_POT_EAM_FS, pot);
  if (rc != ENG_OK) return rc;
  rc = eng_calc_create(*pot, s, NULL, c);
  if (rc != ENG_OK) return rc;
  eng_calc_fill_masses(*c, s);
  return ENG_OK;
}

/* Wall-clock seconds (monotonic). */
static inline double tmd_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* Step observer: statistics and checks of what the callback sees. */
typedef struct obs {
  long calls, first_step, last_step;
  long skip;            /* steps ignored before accumulating */
  double sum_t, sum2_t, sum_p, sum2_p, sum_v, n;
  double c0, cmin, cmax; /* conserved quantity */
  double e0, emin, emax;
  int bad_order;
  double *prev_u;       /* previous unwrapped positions */
  double max_jump;      /* largest unwrapped displacement between steps */
  double blocks[10];    /* block means of P */
  long block_len;
  long stop_at;         /* return 1 at this step (-1 never) */
  /* linear fit of conserved vs time */
  double sx, sy, sxx, sxy, nfit;
} obs;

static inline void obs_init(obs *b, long skip, long block_len) {
  memset(b, 0, sizeof *b);
  b->skip = skip;
  b->block_len = block_len;
  b->first_step = -1;
  b->stop_at = -1;
  b->cmin = b->emin = INFINITY;
  b->cmax = b->emax = -INFINITY;
}

static inline int observe(void *ud, const eng_system *sys, const double *f, const eng_md_state *st) {
  obs *b = ud;
  (void)f;
  if (b->calls == 0) b->first_step = st->step;
  else if (st->step != b->last_step + 1) b->bad_order = 1;
  b->calls++;
  b->last_step = st->step;
  if (sys->image) {
    if (!b->prev_u) b->prev_u = calloc(3 * (size_t)sys->natoms, sizeof(double));
    for (int i = 0; i < sys->natoms; i++) {
      double s[3] = {sys->image[3 * i], sys->image[3 * i + 1], sys->image[3 * i + 2]}, t[3], u[3];
      eng_box_from_frac(&sys->box, s, t);
      for (int k = 0; k < 3; k++) u[k] = sys->x[3 * i + k] + t[k] - sys->box.lo[k];
      if (st->step > b->skip || b->calls > 1) {
        for (int k = 0; k < 3; k++) {
          double d = fabs(u[k] - b->prev_u[3 * i + k]);
          /* Box scaling moves far atoms a little too: allow for it. */
          if (b->calls > 1 && d > b->max_jump) b->max_jump = d;
        }
      }
      for (int k = 0; k < 3; k++) b->prev_u[3 * i + k] = u[k];
    }
  }
  if (st->step >= b->skip) {
    double t = st->time;
    b->sum_t += st->temp;
    b->sum2_t += st->temp * st->temp;
    b->sum_p += st->press;
    b->sum2_p += st->press * st->press;
    b->sum_v += st->volume;
    b->n++;
    if (b->block_len > 0) {
      long k = (st->step - b->skip) / b->block_len;
      if (k < 10) b->blocks[k] += st->press / b->block_len;
    }
    if (st->conserved < b->cmin) b->cmin = st->conserved;
    if (st->conserved > b->cmax) b->cmax = st->conserved;
    if (b->nfit == 0) b->c0 = st->conserved;
    b->sx += t;
    b->sy += st->conserved - b->c0;
    b->sxx += t * t;
    b->sxy += t * (st->conserved - b->c0);
    b->nfit++;
  }
  return b->stop_at >= 0 && st->step >= b->stop_at;
}

/* Slope of the fitted conserved quantity, eV/ps. */
static inline double obs_slope(const obs *b) {
  double d = b->nfit * b->sxx - b->sx * b->sx;
  return d > 0 ? (b->nfit * b->sxy - b->sx * b->sy) / d : 0.0;
}

static inline void obs_free(obs *b) { free(b->prev_u); }

#endif
