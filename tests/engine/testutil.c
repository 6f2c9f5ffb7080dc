/* testutil.c -- see testutil.h. */
#include "testutil.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

eng_system *tu_random_sample(int n, double rho, double txy, double txz, double tyz,
                             const char *a, const char *b, double x, double dmin,
                             uint64_t seed) {
  eng_system *s = eng_system_create(n, 2);
  eng_rng r;
  double l;
  if (!s) return NULL;
  l = cbrt(n / rho);
  s->box.len[0] = s->box.len[1] = s->box.len[2] = l;
  s->box.xy = txy * l;
  s->box.xz = txz * l;
  s->box.yz = tyz * l;
  snprintf(s->type_name[0], ENG_NAME_MAX, "%s", a);
  snprintf(s->type_name[1], ENG_NAME_MAX, "%s", b);
  s->type_mass[0] = eng_element_mass(a);
  s->type_mass[1] = eng_element_mass(b);
  eng_rng_seed(&r, seed);
  for (int i = 0; i < n; i++) {
    int tries = 0;
    s->type[i] = i < (int)(x * n + 0.5) ? 0 : 1;
    for (;;) {
      double f[3] = {eng_rng_uniform(&r), eng_rng_uniform(&r), eng_rng_uniform(&r)};
      double *xi = &s->x[3 * i];
      int okpos = 1;
      eng_box_from_frac(&s->box, f, xi);
      for (int j = 0; j < i && okpos; j++) {
        double d[3] = {xi[0] - s->x[3 * j], xi[1] - s->x[3 * j + 1], xi[2] - s->x[3 * j + 2]};
        eng_box_minimum_image(&s->box, d);
        if (d[0] * d[0] + d[1] * d[1] + d[2] * d[2] < dmin * dmin) okpos = 0;
      }
      if (okpos) break;
      if (++tries > 100000) {
        eng_system_free(s);
        return NULL;
      }
    }
  }
  return s;
}

eng_system *tu_fcc_cu(int n, double a, double offset) {
  const double basis[4][3] = {{0, 0, 0}, {0.5, 0.5, 0}, {0.5, 0, 0.5}, {0, 0.5, 0.5}};
  eng_system *s = eng_system_create(4 * n * n * n, 1);
  int m = 0;
  if (!s) return NULL;
  snprintf(s->type_name[0], ENG_NAME_MAX, "Cu");
  s->type_mass[0] = eng_element_mass("Cu");
  for (int k = 0; k < 3; k++) {
    s->box.len[k] = n * a;
    s->box.periodic[k] = 1;
  }
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++)
      for (int k = 0; k < n; k++)
        for (int b = 0; b < 4; b++) {
          s->x[3 * m] = (i + basis[b][0] + offset) * a;
          s->x[3 * m + 1] = (j + basis[b][1] + offset) * a;
          s->x[3 * m + 2] = (k + basis[b][2] + offset) * a;
          m++;
        }
  return s;
}

int tu_write_data(const char *path, const eng_system *s) {
  FILE *f = fopen(path, "w");
  const eng_box *b = &s->box;
  if (!f) return -1;
  fprintf(f, "test data\n\n%d atoms\n%d atom types\n\n", s->natoms, s->ntypes);
  fprintf(f, "%.17g %.17g xlo xhi\n%.17g %.17g ylo yhi\n%.17g %.17g zlo zhi\n", b->lo[0],
          b->lo[0] + b->len[0], b->lo[1], b->lo[1] + b->len[1], b->lo[2], b->lo[2] + b->len[2]);
  if (eng_box_is_triclinic(b)) fprintf(f, "%.17g %.17g %.17g xy xz yz\n", b->xy, b->xz, b->yz);
  fprintf(f, "\nMasses\n\n");
  for (int t = 0; t < s->ntypes; t++) fprintf(f, "%d %.17g # %s\n", t + 1, s->type_mass[t], s->type_name[t]);
  fprintf(f, "\nAtoms # atomic\n\n");
  for (int i = 0; i < s->natoms; i++)
    fprintf(f, "%lld %d %.17g %.17g %.17g\n", (long long)s->id[i], s->type[i] + 1, s->x[3 * i],
            s->x[3 * i + 1], s->x[3 * i + 2]);
  return fclose(f) ? -1 : 0;
}

const char *tu_lmp(void) {
  const char *l = getenv("LMP");
  return (l && *l) ? l : NULL;
}

const char *tu_tmpdir(const char *test) {
  static char buf[4096];
  const char *b = getenv("PELMAP_BUILDDIR");
  char base[4000];
  snprintf(base, sizeof base, "%s/tests/tmp", b && *b ? b : ".");
  mkdir(base, 0755);
  snprintf(buf, sizeof buf, "%s/%s", base, test);
  mkdir(buf, 0755);
  return buf;
}

int tu_run_lmp(const char *dir, const char *script) {
  char path[4200], cmd[8800];
  FILE *f;
  const char *lmp = tu_lmp();
  if (!lmp) return -1;
  snprintf(path, sizeof path, "%s/in.lmp", dir);
  f = fopen(path, "w");
  if (!f) return -1;
  fputs(script, f);
  fclose(f);
  snprintf(cmd, sizeof cmd, "cd '%s' && OMP_NUM_THREADS=1 '%s' -in in.lmp -log log.lammps -screen none", dir, lmp);
  return system(cmd) == 0 ? 0 : -1;
}

int tu_read_dump(const char *path, int natoms, int ncol, double *vals) {
  FILE *f = fopen(path, "r");
  char line[8192];
  int n = 0, in_atoms = 0;
  if (!f) return -1;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "ITEM: ATOMS", 11) == 0) {
      in_atoms = 1;
      continue;
    }
    if (!in_atoms) continue;
    if (strncmp(line, "ITEM:", 5) == 0) break;
    char *p = line, *e;
    strtol(p, &e, 10);
    p = e;
    if (n >= natoms) break;
    for (int c = 0; c < ncol; c++) {
      vals[(long)n * ncol + c] = strtod(p, &e);
      if (e == p) {
        fclose(f);
        return -1;
      }
      p = e;
    }
    n++;
  }
  fclose(f);
  return n == natoms ? 0 : -1;
}

int tu_log_value(const char *dir, const char *key, double *val) {
  char path[4200], line[4096];
  size_t kl = strlen(key);
  int found = -1;
  FILE *f;
  snprintf(path, sizeof path, "%s/log.lammps", dir);
  f = fopen(path, "r");
  if (!f) return -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, key, kl) == 0 && line[kl] == ' ') {
      char *e;
      double v = strtod(line + kl + 1, &e);
      if (e != line + kl + 1) {
        *val = v;
        found = 0;
      }
    }
  fclose(f);
  return found;
}
