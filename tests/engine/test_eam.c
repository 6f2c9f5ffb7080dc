/*
 * test_eam.c -- EAM energies, forces and virials: finite differences, the
 * per-atom energy sum, neighbour-list reuse, and LAMMPS (run 0) as the
 * reference on orthogonal, triclinic and small cells, eam/fs and eam/alloy.
 */
#include "engine.h"
#include "testutil.h"
#include "../tap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static eng_potential *load(const char *path) {
  eng_potential *p = NULL;
  if (eng_potential_read(path, ENG_POT_AUTO, &p)) bail("cannot read %s: %s", path, eng_last_error());
  return p;
}

/* Compare pelmap with LAMMPS on sample s. */
static void vs_lammps(const char *tag, const eng_potential *pot, const char *potpath,
                      const char *style, eng_system *s) {
  char script[4096], path[4300];
  const char *dir = tu_tmpdir(tag);
  eng_calc *c = NULL;
  int n = s->natoms;
  double e, vir[6], *f = malloc(sizeof(double) * 3 * n), *ea = malloc(sizeof(double) * n);
  double *ref = malloc(sizeof(double) * 4 * n);
  double le, lv[6], vol = eng_box_volume(&s->box);

  if (!tu_lmp()) {
    skip("%s: LAMMPS not available", tag);
    goto out;
  }
  snprintf(path, sizeof path, "%s/t.data", dir);
  if (tu_write_data(path, s)) bail("write %s", path);
  snprintf(script, sizeof script,
           "units metal\natom_style atomic\nboundary p p p\nread_data t.data\n"
           "pair_style %s\npair_coeff * * %s %s %s\n"
           "compute pea all pe/atom\ncompute vir all pressure NULL virial\n"
           "thermo_style custom step pe c_vir[1]\n"
           "dump d all custom 1 f.dump id fx fy fz c_pea\n"
           "dump_modify d format float %%.17g sort id\nrun 0\n"
           "print \"PE $(pe:%%.17g)\"\n"
           "print \"V1 $(c_vir[1]:%%.17g)\"\nprint \"V2 $(c_vir[2]:%%.17g)\"\n"
           "print \"V3 $(c_vir[3]:%%.17g)\"\nprint \"V4 $(c_vir[4]:%%.17g)\"\n"
           "print \"V5 $(c_vir[5]:%%.17g)\"\nprint \"V6 $(c_vir[6]:%%.17g)\"\n",
           style, potpath, s->type_name[0], s->type_name[1]);
  if (tu_run_lmp(dir, script)) {
    ok(0, "%s: LAMMPS ran", tag);
    goto out;
  }
  snprintf(path, sizeof path, "%s/f.dump", dir);
  if (tu_read_dump(path, n, 4, ref) || tu_log_value(dir, "PE", &le)) {
    ok(0, "%s: LAMMPS output read", tag);
    goto out;
  }
  for (int k = 0; k < 6; k++) {
    char key[4];
    snprintf(key, sizeof key, "V%d", k + 1);
    if (tu_log_value(dir, key, &lv[k])) bail("no %s in log", key);
    lv[k] *= vol / ENG_NKTV2P; /* bar -> eV */
  }
  if (eng_calc_create(pot, s, NULL, &c)) bail("calc: %s", eng_last_error());
  if (eng_calc_compute(c, s, &e, f, ea, vir)) bail("compute: %s", eng_last_error());
  near(e / n, le / n, 1e-8, "%s: energy per atom equals LAMMPS within 1e-8 eV", tag);
  {
    double maxdf = 0, maxde = 0;
    for (int i = 0; i < n; i++) {
      for (int k = 0; k < 3; k++) maxdf = fmax(maxdf, fabs(f[3 * i + k] - ref[4 * i + k]));
      maxde = fmax(maxde, fabs(ea[i] - ref[4 * i + 3]));
    }
    ok(maxdf <= 1e-6, "%s: every force component within 1e-6 eV/A of LAMMPS (max diff %.3g)", tag, maxdf);
    ok(maxde <= 1e-8, "%s: per-atom energies within 1e-8 eV of LAMMPS (max diff %.3g)", tag, maxde);
  }
  {
    double vmax = 0, maxrel = 0;
    for (int k = 0; k < 6; k++) vmax = fmax(vmax, fabs(lv[k]));
    for (int k = 0; k < 6; k++) maxrel = fmax(maxrel, fabs(vir[k] - lv[k]) / vmax);
    ok(maxrel <= 1e-6, "%s: virial tensor within 1e-6 relative of LAMMPS (max %.3g)", tag, maxrel);
  }
out:
  eng_calc_free(c);
  free(f);
  free(ea);
  free(ref);
}

/* Central finite differences of the energy against the forces. */
static void fd_check(const char *tag, const eng_potential *pot, eng_system *s) {
  eng_calc *c = NULL;
  int n = s->natoms;
  double *f = malloc(sizeof(double) * 3 * n), e0, maxerr = 0, fscale = 0;
  const double h = 1e-4;
  if (eng_calc_create(pot, s, NULL, &c)) bail("calc: %s", eng_last_error());
  eng_calc_compute(c, s, &e0, f, NULL, NULL);
  for (int i = 0; i < n; i += n / 7 + 1)
    for (int k = 0; k < 3; k++) {
      double x0 = s->x[3 * i + k], ep, em;
      s->x[3 * i + k] = x0 + h;
      eng_calc_compute(c, s, &ep, NULL, NULL, NULL);
      s->x[3 * i + k] = x0 - h;
      eng_calc_compute(c, s, &em, NULL, NULL, NULL);
      s->x[3 * i + k] = x0;
      double fd = -(ep - em) / (2 * h);
      maxerr = fmax(maxerr, fabs(fd - f[3 * i + k]));
      fscale = fmax(fscale, fabs(f[3 * i + k]));
    }
  ok(maxerr < 1e-6 * fmax(1.0, fscale), "%s: forces = -dE/dx by central differences (max err %.3g, |F| up to %.3g)", tag, maxerr, fscale);
  eng_calc_free(c);
  free(f);
}


/* Threads: T = 2 and 3 against T = 1 on s (round-off), T = 2 twice
 * (bit-identical), and T = 2 inside an outer parallel region where OpenMP
 * grants fewer threads (still bit-identical to T = 2). */
static void threads_check(const char *tag, const eng_potential *pot, eng_system *s) {
  const int n = s->natoms;
  double e[4], v[4][6], *f[4], *ea[4];
  eng_calc *c = NULL;
  int rc = 0;
  for (int k = 0; k < 4; k++) {
    f[k] = malloc(sizeof(double) * 3 * n);
    ea[k] = malloc(sizeof(double) * n);
  }
  if (eng_calc_create(pot, s, NULL, &c)) bail("calc: %s", eng_last_error());
  /* k = 0: 1 thread, 1: 2 threads, 2: 2 threads again, 3: 3 threads. */
  static const int nt[4] = {1, 2, 2, 3};
  for (int k = 0; k < 4; k++) {
    eng_set_threads(nt[k]);
    rc |= eng_calc_compute(c, s, &e[k], f[k], ea[k], v[k]);
  }
  ok(rc == ENG_OK, "%s: compute with 1, 2, 2, 3 threads", tag);
  ok(e[1] == e[2] && memcmp(f[1], f[2], sizeof(double) * 3 * n) == 0 &&
         memcmp(ea[1], ea[2], sizeof(double) * n) == 0 && memcmp(v[1], v[2], sizeof v[1]) == 0,
     "%s: 2 threads twice give bit-identical energy, forces, per-atom energies, virial", tag);
  for (int k = 1; k < 4; k += 2) {
    double df = 0, dea = 0, dv = 0;
    for (int i = 0; i < 3 * n; i++) df = fmax(df, fabs(f[k][i] - f[0][i]));
    for (int i = 0; i < n; i++) dea = fmax(dea, fabs(ea[k][i] - ea[0][i]));
    for (int q = 0; q < 6; q++) dv = fmax(dv, fabs(v[k][q] - v[0][q]));
    ok(df < 1e-10 && fabs(e[k] - e[0]) < 1e-9 && dea < 1e-10 && dv < 1e-9,
       "%s: %d vs 1 thread: max|dF| %.2g eV/A, |dE| %.2g eV, max|dE_i| %.2g eV, max|dW| %.2g eV", tag,
       nt[k], df, fabs(e[k] - e[0]), dea, dv);
  }
  /* Outer region of 2 threads, each with its own calculator and T = 2:
   * without nested parallelism each compute gets one thread. */
  {
    double eo[2];
    int same = 1, rco = 0;
    eng_calc *cc[2] = {NULL, NULL};
    eng_set_threads(2);
    for (int t = 0; t < 2; t++)
      if (eng_calc_create(pot, s, NULL, &cc[t])) bail("calc: %s", eng_last_error());
#ifdef _OPENMP
    omp_set_max_active_levels(1);
#endif
#pragma omp parallel for num_threads(2) schedule(static, 1) reduction(| : rco)
    for (int t = 0; t < 2; t++) rco |= eng_calc_compute(cc[t], s, &eo[t], t ? f[3] : f[0], NULL, NULL);
    for (int t = 0; t < 2; t++)
      same &= eo[t] == e[1] && memcmp(t ? f[3] : f[0], f[1], sizeof(double) * 3 * n) == 0;
    ok(rco == ENG_OK && same, "%s: 2-thread computes inside an outer parallel region are bit-identical", tag);
    eng_calc_free(cc[0]);
    eng_calc_free(cc[1]);
  }
  /* The neighbour list is built in thread chunks but must not depend on them. */
  {
    eng_nlist *a = NULL, *b = NULL;
    eng_set_threads(1);
    int rca = eng_nlist_build(s, 6.4, &a);
    eng_set_threads(3);
    int rcb = eng_nlist_build(s, 6.4, &b);
    ok(rca == ENG_OK && rcb == ENG_OK && a->start[n] == b->start[n] &&
           memcmp(a->start, b->start, sizeof(long) * (n + 1)) == 0 &&
           memcmp(a->nbr, b->nbr, sizeof(int) * a->start[n]) == 0 &&
           memcmp(a->d, b->d, sizeof(double) * 3 * a->start[n]) == 0,
       "%s: full neighbour list (6.4 A) identical with 1 and 3 threads (%ld pairs)", tag,
       rca == ENG_OK ? a->start[n] : -1L);
    eng_nlist_free(a);
    eng_nlist_free(b);
  }
  eng_set_threads(1);
  eng_calc_free(c);
  for (int k = 0; k < 4; k++) {
    free(f[k]);
    free(ea[k]);
  }
}

/* Energy differences agree with the forces to round-off: for a tiny random
 * move d, E(x+d) - E(x) = -(F(x) + F(x+d)).d/2 (trapezoid; the cubic error
 * is ~1e-20 eV).  A plain running sum of a ~1e4 eV total over ~1e5 terms
 * is off by ~1e-10 eV, which misleads line searches near a minimum; the
 * compensated sum must do better than 1e-11 eV. */
static void energy_noise_check(const char *tag, const eng_potential *pot, eng_system *s) {
  const int n3 = 3 * s->natoms;
  double e0, e1, *f0 = malloc(sizeof(double) * n3), *f1 = malloc(sizeof(double) * n3);
  double *x0 = malloc(sizeof(double) * n3), *d = malloc(sizeof(double) * n3), worst = 0, de = 0;
  eng_calc *c = NULL;
  eng_rng r;
  if (eng_calc_create(pot, s, NULL, &c)) bail("calc: %s", eng_last_error());
  memcpy(x0, s->x, sizeof(double) * n3);
  eng_rng_seed(&r, 77);
  for (int rep = 0; rep < 5; rep++) {
    double pred = 0;
    for (int i = 0; i < n3; i++) d[i] = 2e-7 * (eng_rng_uniform(&r) - 0.5);
    memcpy(s->x, x0, sizeof(double) * n3);
    eng_calc_compute(c, s, &e0, f0, NULL, NULL);
    for (int i = 0; i < n3; i++) s->x[i] += d[i];
    eng_calc_compute(c, s, &e1, f1, NULL, NULL);
    for (int i = 0; i < n3; i++) pred -= 0.5 * (f0[i] + f1[i]) * d[i];
    worst = fmax(worst, fabs((e1 - e0) - pred));
    de = fmax(de, fabs(pred));
  }
  ok(worst < 1e-11, "%s: E(x+d) - E(x) matches the forces to %.2g eV (|dE| ~ %.2g eV, |E| = %.4g eV)", tag,
     worst, de, fabs(e0));
  memcpy(s->x, x0, sizeof(double) * n3);
  eng_calc_free(c);
  free(f0);
  free(f1);
  free(x0);
  free(d);
}

int main(void) {
  const char *cuni = "/usr/share/lammps/potentials/CuNi.eam.alloy";
  eng_potential *cuzr = load(TU_CUZR), *alloy = load(cuni);
  eng_system *s;
  ok(eng_get_threads() == 1, "one thread by default");

  ok(eng_potential_nelements(cuzr) == 2 && strcmp(eng_potential_element(cuzr, 0), "Cu") == 0 &&
         strcmp(eng_potential_element(cuzr, 1), "Zr") == 0,
     "CuZr_mm.eam.fs has elements Cu Zr");
  near(eng_potential_cutoff(cuzr), 7.6, 1e-12, "cutoff 7.6 A");
  near(eng_potential_mass(cuzr, 1), 91.224, 1e-3, "Zr mass from the file");
  ok(eng_potential_style(alloy) == ENG_POT_EAM_ALLOY, "*.eam.alloy read as eam/alloy");

  /* Orthogonal Cu50Zr50 at glass density. */
  s = tu_random_sample(500, 0.0556, 0, 0, 0, "Cu", "Zr", 0.5, 2.3, 1);
  if (!s) bail("sample");
  fd_check("ortho", cuzr, s);
  vs_lammps("ortho-fs", cuzr, TU_CUZR, "eam/fs", s);
  {
    eng_calc *c;
    double e, *ea = calloc(500, sizeof(double)), sum = 0;
    eng_calc_create(cuzr, s, NULL, &c);
    eng_calc_compute(c, s, &e, NULL, ea, NULL);
    for (int i = 0; i < 500; i++) sum += ea[i];
    near(sum, e, 1e-9 * fabs(e), "per-atom energies sum to the total");
    /* Move atoms a little (below skin/2): list reused, same result as a fresh calc. */
    eng_rng r;
    eng_rng_seed(&r, 5);
    for (int i = 0; i < 1500; i++) s->x[i] += 0.2 * (eng_rng_uniform(&r) - 0.5);
    long nb = eng_calc_nbuild(c);
    double e1, e2;
    eng_calc_compute(c, s, &e1, NULL, NULL, NULL);
    ok(eng_calc_nbuild(c) == nb, "small moves reuse the neighbour list");
    eng_calc *c2;
    eng_calc_create(cuzr, s, NULL, &c2);
    eng_calc_compute(c2, s, &e2, NULL, NULL, NULL);
    near(e1, e2, 1e-10 * fabs(e2), "reused list gives the fresh-list energy");
    /* Shift an atom by a lattice vector: same energy (periodicity, rewrap). */
    s->x[0] += s->box.len[0];
    s->x[4] -= 2 * s->box.len[1];
    eng_calc_compute(c, s, &e1, NULL, NULL, NULL);
    near(e1, e2, 1e-9 * fabs(e2), "translating atoms by cell vectors changes nothing");
    eng_calc_free(c);
    eng_calc_free(c2);
    free(ea);
  }
  eng_system_free(s);

  /* Triclinic. */
  s = tu_random_sample(500, 0.0556, 0.2, -0.15, 0.1, "Cu", "Zr", 0.5, 2.3, 2);
  if (!s) bail("sample");
  fd_check("triclinic", cuzr, s);
  vs_lammps("triclinic-fs", cuzr, TU_CUZR, "eam/fs", s);
  eng_system_free(s);

  /* Small cell: narrower than twice the cutoff (several images). */
  s = tu_random_sample(160, 0.0556, 0.1, 0, 0, "Cu", "Zr", 0.64, 2.3, 3);
  if (!s) bail("sample");
  vs_lammps("small-fs", cuzr, TU_CUZR, "eam/fs", s);
  threads_check("small", cuzr, s);
  eng_system_free(s);

  /* The bundled glass, and the same glass sheared into a triclinic cell. */
  {
    char path[4096];
    const char *src = getenv("PELMAP_SRCDIR");
    snprintf(path, sizeof path, "%s/common/data/cu50zr50-2000.data", src && *src ? src : "..");
    if (eng_read_file(path, ENG_FMT_AUTO, NULL, &s)) bail("cannot read %s: %s", path, eng_last_error());
    vs_lammps("glass-fs", cuzr, TU_CUZR, "eam/fs", s);
    threads_check("glass", cuzr, s);
    energy_noise_check("glass", cuzr, s);
    /* The LAMMPS comparison again with 2 threads. */
    ok(eng_set_threads(2) == ENG_OK && eng_get_threads() == 2, "eng_set_threads(2)");
    vs_lammps("glass-fs-2threads", cuzr, TU_CUZR, "eam/fs", s);
    eng_set_threads(1);
    /* Affine shear: x += g_xy y + g_xz z, y += g_yz z (positions and cell). */
    const double gxy = 0.12, gxz = -0.08, gyz = 0.05;
    for (int i = 0; i < s->natoms; i++) {
      double *x = &s->x[3 * i];
      double y0 = x[1] - s->box.lo[1], z0 = x[2] - s->box.lo[2];
      x[0] += gxy * y0 + gxz * z0;
      x[1] += gyz * z0;
    }
    s->box.xy = gxy * s->box.len[1];
    s->box.xz = gxz * s->box.len[2];
    s->box.yz = gyz * s->box.len[2];
    fd_check("sheared glass", cuzr, s);
    vs_lammps("glass-triclinic-fs", cuzr, TU_CUZR, "eam/fs", s);
    eng_system_free(s);
  }

  /* eam/alloy: Cu-Ni. */
  s = tu_random_sample(400, 0.085, 0.1, 0.05, 0, "Cu", "Ni", 0.3, 2.0, 4);
  if (!s) bail("sample");
  fd_check("alloy", alloy, s);
  vs_lammps("triclinic-alloy", alloy, cuni, "eam/alloy", s);
  eng_set_threads(2);
  vs_lammps("triclinic-alloy-2threads", alloy, cuni, "eam/alloy", s);
  eng_set_threads(1);
  threads_check("alloy", alloy, s);
  eng_system_free(s);

  /* Thread settings. */
  ok(eng_set_threads(0) == ENG_OK && eng_get_threads() >= 1, "eng_set_threads(0): all processors (%d)",
     eng_get_threads());
  ok(eng_set_threads(100000) == ENG_EINVAL && strstr(eng_last_error(), "threads"),
     "absurd thread count refused (%s)", eng_last_error());
  eng_set_threads(1);
  /* Error paths. */
  {
    eng_potential *p = NULL;
    const char bad[] = "c1\nc2\nc3\n2 Cu Zr\n100 0.01 100 0.01 5.0\n29 63.5 3.6 fcc\n1 2 3\n";
    int rc = eng_potential_read_buffer(bad, sizeof bad - 1, "bad.eam.fs", ENG_POT_AUTO, &p);
    ok(rc == ENG_EPARSE && p == NULL, "truncated potential is a parse error");
    diag("message: %s", eng_last_error());
    const char bad2[] = "c1\nc2\nc3\n2 Cu Zr\n5 0.01 5 0.01 5.0\n29 63.5 3.6 fcc\n1 x 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21\n";
    rc = eng_potential_read_buffer(bad2, sizeof bad2 - 1, "bad2.eam.fs", ENG_POT_AUTO, &p);
    ok(rc == ENG_EPARSE && strstr(eng_last_error(), "bad2.eam.fs:7:"), "bad number names line 7 (%s)", eng_last_error());
    const char huge[] = "c1\nc2\nc3\n1 Cu\n9000000 0.01 9000000 0.01 5.0\n";
    rc = eng_potential_read_buffer(huge, sizeof huge - 1, "huge.eam.alloy", ENG_POT_AUTO, &p);
    ok(rc == ENG_EPARSE, "huge declared table sizes rejected before allocation");
    s = tu_random_sample(10, 0.05, 0, 0, 0, "Cu", "Al", 0.5, 1.0, 9);
    eng_calc *c = NULL;
    rc = eng_calc_create(cuzr, s, NULL, &c);
    ok(rc == ENG_EINVAL && strstr(eng_last_error(), "'Al'"), "species missing from the potential named (%s)", eng_last_error());
    eng_system_free(s);
    s = tu_random_sample(20, 0.0556, 0, 0, 0, "Cu", "Zr", 0.5, 1.0, 9);
    eng_calc_create(cuzr, s, NULL, &c);
    rc = eng_calc_compute(c, s, NULL, NULL, NULL, NULL);
    ok(rc == ENG_EINVAL && strstr(eng_last_error(), "smaller than the potential cutoff"), "box narrower than the cutoff rejected (%s)", eng_last_error());
    s->x[3] = NAN;
    s->box.len[0] = 100;
    s->box.len[1] = 100;
    s->box.len[2] = 100;
    rc = eng_calc_compute(c, s, NULL, NULL, NULL, NULL);
    ok(rc == ENG_ERANGE, "non-finite coordinate rejected");
    eng_calc_free(c);
    eng_system_free(s);
  }
  eng_potential_free(cuzr);
  eng_potential_free(alloy);
  return tap_done();
}
