/*
 * test_voronoi.c -- Voronoi cells through voro++: exact cells of fcc and
 * bcc lattices, volumes summing to the box volume (orthogonal, triclinic,
 * non-periodic), Euler's relation and index/L5FS consistency, thresholds,
 * and agreement with LAMMPS `compute voronoi/atom` (volume, face count,
 * face_threshold) on random dense samples.
 */
#include "engine.h"
#include "../tap.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* n^3 cubic cells of a lattice with nb basis atoms (fractions of a). */
static eng_system *lattice(int n, double a, int nb, const double (*basis)[3]) {
  eng_system *s = eng_system_create(n * n * n * nb, 1);
  int m = 0;
  if (!s) return NULL;
  strcpy(s->type_name[0], "Cu");
  s->type_mass[0] = 63.546;
  for (int k = 0; k < 3; k++) {
    s->box.len[k] = n * a;
    s->box.periodic[k] = 1;
  }
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++)
      for (int k = 0; k < n; k++)
        for (int b = 0; b < nb; b++) {
          s->x[3 * m] = (i + basis[b][0]) * a;
          s->x[3 * m + 1] = (j + basis[b][1]) * a;
          s->x[3 * m + 2] = (k + basis[b][2]) * a;
          m++;
        }
  return s;
}

static void check_lattice(const char *name, eng_system *s, double vol, int nf, int order, int nf2, int order2) {
  eng_voronoi *v = NULL;
  int bad = 0;
  if (eng_voronoi_compute(s, NULL, &v) != ENG_OK) {
    ok(0, "%s: %s", name, eng_last_error());
    return;
  }
  for (int i = 0; i < s->natoms; i++) {
    const int *ix = v->index + (size_t)i * ENG_VORO_NORD;
    int want[ENG_VORO_NORD] = {0};
    want[order] += nf;
    if (nf2) want[order2] += nf2;
    if (fabs(v->volume[i] - vol) > 1e-9 * vol || v->coord[i] != nf + nf2 || memcmp(ix, want, sizeof want) != 0)
      bad++;
  }
  ok(bad == 0, "%s: every cell has volume %.4f A^3 and the exact faces (%d atoms wrong)", name, vol, bad);
  eng_voronoi_free(v);
}

/* Sum of volumes, Euler relation sum (6-k) n_k = 12 for trivalent cells,
 * index sums and L5FS. */
static void check_consistency(const char *tag, const eng_system *s, const eng_voronoi *v) {
  double sum = 0.0, bv = eng_box_volume(&s->box);
  int bad_euler = 0, bad_sum = 0, bad_l5 = 0;
  for (int i = 0; i < s->natoms; i++) {
    const int *ix = v->index + (size_t)i * ENG_VORO_NORD;
    int tot = 0, e = 0;
    sum += v->volume[i];
    for (int k = 0; k < ENG_VORO_NORD; k++) {
      tot += ix[k];
      e += (6 - k) * ix[k];
    }
    if (tot != v->coord[i]) bad_sum++;
    if (e != 12) bad_euler++;
    if (fabs(v->l5fs[i] - (double)ix[5] / v->coord[i]) > 1e-15) bad_l5++;
  }
  near(sum, bv, 1e-9 * bv, "%s: volumes sum to the box volume", tag);
  ok(bad_sum == 0, "%s: index entries sum to the coordination (%d atoms wrong)", tag, bad_sum);
  ok(bad_euler == 0, "%s: Euler's relation sum (6-k) n_k = 12 holds for every cell (%d wrong)", tag, bad_euler);
  ok(bad_l5 == 0, "%s: L5FS = n5 / faces (%d wrong)", tag, bad_l5);
}

static void check_lammps(const char *tag, const eng_system *s, double face_thr) {
  const char *dir = tu_tmpdir(tag);
  char path[4300], script[2048];
  eng_voronoi *v = NULL;
  eng_voronoi_opts o;
  double *lv = NULL;
  int n = s->natoms;

  eng_voronoi_opts_default(&o);
  o.face_area = face_thr;
  if (eng_voronoi_compute(s, &o, &v) != ENG_OK) {
    ok(0, "%s: %s", tag, eng_last_error());
    return;
  }
  if (face_thr == 0.0) {
    check_consistency(tag, s, v);
  } else {
    int dropped = 0;
    for (int i = 0; i < n; i++) dropped += v->nfaces_all[i] - v->coord[i];
    ok(dropped > 0, "%s: the face threshold drops faces (%d)", tag, dropped);
  }
  if (!tu_lmp()) {
    skip("%s: LAMMPS comparison ($LMP not set)", tag);
    goto out;
  }
  snprintf(path, sizeof path, "%s/conf.data", dir);
  tu_write_data(path, s);
  snprintf(script, sizeof script,
           "units metal\natom_style atomic\nboundary p p p\nread_data conf.data\n"
           "pair_style zero 6.0\npair_coeff * *\n"
           "compute v all voronoi/atom%s\n"
           "dump d all custom 1 vor.dump id c_v[1] c_v[2]\n"
           "dump_modify d sort id format float %%.15g\n"
           "run 0\n",
           face_thr > 0.0 ? " face_threshold FTHR" : "");
  if (face_thr > 0.0) {
    char num[64], *p = strstr(script, "FTHR");
    snprintf(num, sizeof num, "%.6f", face_thr);
    memmove(p + strlen(num), p + 4, strlen(p + 4) + 1);
    memcpy(p, num, strlen(num));
  }
  if (tu_run_lmp(dir, script) != 0) {
    ok(0, "%s: LAMMPS ran (see %s/log.lammps)", tag, dir);
    goto out;
  }
  lv = calloc((size_t)n * 2, sizeof *lv);
  snprintf(path, sizeof path, "%s/vor.dump", dir);
  if (tu_read_dump(path, n, 2, lv) != 0) {
    ok(0, "%s: read LAMMPS dump", tag);
    goto out;
  }
  {
    double worst = 0.0;
    int badf = 0;
    for (int i = 0; i < n; i++) {
      double d = fabs(v->volume[i] - lv[2 * i]) / lv[2 * i];
      if (d > worst) worst = d;
      if (v->coord[i] != (int)lrint(lv[2 * i + 1])) badf++;
    }
    ok(worst < 1e-9, "%s: volumes equal LAMMPS voronoi/atom (worst rel. diff %.2g)", tag, worst);
    ok(badf == 0, "%s: face counts equal LAMMPS%s (%d atoms differ)", tag,
       face_thr > 0.0 ? " with face_threshold" : "", badf);
  }
out:
  free(lv);
  eng_voronoi_free(v);
}

int main(void) {
  const double fcc[4][3] = {{0, 0, 0}, {0.5, 0.5, 0}, {0.5, 0, 0.5}, {0, 0.5, 0.5}};
  const double bcc[2][3] = {{0, 0, 0}, {0.5, 0.5, 0.5}};
  eng_system *s;
  eng_voronoi *v = NULL;
  eng_voronoi_opts o;
  int rc;

  s = lattice(3, 3.615, 4, fcc);
  check_lattice("fcc", s, pow(3.615, 3) / 4, 12, 4, 0, 0);
  eng_system_free(s);
  s = lattice(4, 3.2, 2, bcc);
  check_lattice("bcc", s, pow(3.2, 3) / 2, 6, 4, 8, 6);
  eng_system_free(s);

  /* Random dense samples: orthogonal and triclinic, against LAMMPS. */
  s = tu_random_sample(500, 0.0556, 0.0, 0.0, 0.0, "Cu", "Zr", 0.5, 2.0, 31);
  if (!s) bail("random sample");
  check_lammps("vor_ortho", s, 0.0);
  check_lammps("vor_ortho_fthr", s, 0.5);
  /* Thresholds: coordination never grows, index orders never grow. */
  {
    eng_voronoi *v0 = NULL, *v1 = NULL;
    int bad = 0, fewer = 0;
    eng_voronoi_opts_default(&o);
    eng_voronoi_compute(s, &o, &v0);
    o.face_rel = 0.01;
    o.edge_length = 0.1;
    ok(eng_voronoi_compute(s, &o, &v1) == ENG_OK, "relative face and edge thresholds");
    for (int i = 0; v0 && v1 && i < s->natoms; i++) {
      if (v1->coord[i] > v0->coord[i] || v1->volume[i] != v0->volume[i]) bad++;
      if (v1->coord[i] < v0->coord[i]) fewer++;
    }
    ok(bad == 0 && fewer > 0, "thresholds drop faces (%d atoms lose faces) and keep volumes (%d wrong)", fewer, bad);
    eng_voronoi_free(v0);
    eng_voronoi_free(v1);
  }
  /* Non-periodic along z: cells walled at the box faces, volumes still sum. */
  s->box.periodic[2] = 0;
  for (int i = 0; i < s->natoms; i++) eng_box_wrap(&s->box, s->x + 3 * i, NULL);
  ok(eng_voronoi_compute(s, NULL, &v) == ENG_OK, "box non-periodic along z");
  if (v) {
    double sum = 0.0, bv = eng_box_volume(&s->box);
    for (int i = 0; i < s->natoms; i++) sum += v->volume[i];
    near(sum, bv, 1e-9 * bv, "non-periodic z: volumes sum to the box volume");
  }
  eng_voronoi_free(v);
  v = NULL;
  s->x[2] = s->box.lo[2] - 1.0;
  rc = eng_voronoi_compute(s, NULL, &v);
  ok(rc == ENG_EINVAL && !v, "atom outside a non-periodic box rejected: %s", eng_last_error());
  eng_system_free(s);

  s = tu_random_sample(500, 0.0556, 0.2, -0.15, 0.1, "Cu", "Zr", 0.5, 2.0, 32);
  if (!s) bail("random triclinic sample");
  check_lammps("vor_tri", s, 0.0);
  check_lammps("vor_tri_fthr", s, 0.5);
  /* Same configuration shifted by whole cell vectors and a new origin. */
  {
    eng_system *t = eng_system_copy(s);
    eng_voronoi *a = NULL, *b = NULL;
    double worst = 0.0;
    for (int i = 0; i < t->natoms; i++) {
      t->x[3 * i] += 2 * t->box.len[0] - t->box.xy + t->box.xz;
      t->x[3 * i + 1] += -t->box.len[1] + t->box.yz;
      t->x[3 * i + 2] += t->box.len[2];
    }
    eng_voronoi_compute(s, NULL, &a);
    ok(eng_voronoi_compute(t, NULL, &b) == ENG_OK, "atoms outside the triclinic cell are wrapped");
    for (int i = 0; a && b && i < s->natoms; i++) worst = fmax(worst, fabs(a->volume[i] - b->volume[i]));
    ok(a && b && worst < 1e-9, "volumes unchanged by whole-cell shifts (worst %.2g)", worst);
    eng_voronoi_free(a);
    eng_voronoi_free(b);
    t->box.periodic[0] = 0;
    rc = eng_voronoi_compute(t, NULL, &a);
    ok(rc == ENG_EUNSUPP && !a, "triclinic non-periodic box: %s", eng_last_error());
    eng_system_free(t);
  }
  /* Reproducible, and the index population adds up. */
  {
    eng_voronoi *a = NULL, *b = NULL;
    eng_voro_pop top[400];
    int ntop = 0, ncons = 0, sum = 0, sorted = 1, bad = 0;
    eng_voronoi_compute(s, NULL, &a);
    eng_voronoi_compute(s, NULL, &b);
    ok(a && b && memcmp(a->volume, b->volume, sizeof(double) * s->natoms) == 0 &&
           memcmp(a->index, b->index, sizeof(int) * ENG_VORO_NORD * s->natoms) == 0,
       "rerun is bit-identical");
    rc = a ? eng_voronoi_top(a, s, 0, 400, top, &ntop, &ncons) : -1;
    for (int k = 0; k < ntop; k++) {
      sum += top[k].count;
      if (k && top[k].count > top[k - 1].count) sorted = 0;
    }
    for (int k = 0; k < ntop; k++) {
      int c = 0;
      for (int i = 0; i < s->natoms; i++) {
        const int *ix = a->index + (size_t)i * ENG_VORO_NORD;
        if (s->type[i] == 0 && ix[3] == top[k].n[0] && ix[4] == top[k].n[1] && ix[5] == top[k].n[2] && ix[6] == top[k].n[3]) c++;
      }
      if (c != top[k].count) bad++;
    }
    ok(rc == ENG_OK && sum == ncons && ncons == 250 && sorted && bad == 0,
       "index population of Cu: %d distinct indices, counts sum to %d, sorted, recounted (%d wrong)", ntop, sum, bad);
    eng_voronoi_free(a);
    eng_voronoi_free(b);
  }
  /* The 500-atom glass: volumes, coordination, top indices (diagnostics). */
  {
    char path[4096];
    const char *src = getenv("PELMAP_SRCDIR");
    eng_read_opts ro = {0, "Cu Zr", 0.0};
    eng_system *g = NULL;
    snprintf(path, sizeof path, "%s/tests/data/desc/cuzr500.data", src ? src : "..");
    rc = eng_read_file(path, ENG_FMT_LAMMPS_DATA, &ro, &g);
    if (rc == ENG_OK) rc = eng_voronoi_compute(g, NULL, &v);
    ok(rc == ENG_OK, "Voronoi of the 500-atom glass %s", rc ? eng_last_error() : "");
    if (rc == ENG_OK) {
      check_consistency("glass", g, v);
      for (int t = 0; t < 2; t++) {
        eng_voro_pop top[3];
        int nt = 0, nc = 0;
        double vol = 0.0, cn = 0.0, l5 = 0.0;
        for (int i = 0; i < g->natoms; i++)
          if (g->type[i] == t) {
            vol += v->volume[i];
            cn += v->coord[i];
            l5 += v->l5fs[i];
          }
        eng_voronoi_top(v, g, t, 3, top, &nt, &nc);
        diag("glass %s: <Omega> %.2f A^3, <CN> %.2f, <L5FS> %.3f; top <%d,%d,%d,%d> %.1f%%, <%d,%d,%d,%d> %.1f%%, "
             "<%d,%d,%d,%d> %.1f%%",
             g->type_name[t], vol / nc, cn / nc, l5 / nc, top[0].n[0], top[0].n[1], top[0].n[2], top[0].n[3],
             100.0 * top[0].count / nc, top[1].n[0], top[1].n[1], top[1].n[2], top[1].n[3], 100.0 * top[1].count / nc,
             top[2].n[0], top[2].n[1], top[2].n[2], top[2].n[3], 100.0 * top[2].count / nc);
      }
    }
    eng_voronoi_free(v);
    v = NULL;
    eng_system_free(g);
  }
  /* The bundled 2,000-atom glass replicated 2x2x2: exact periodic copies,
   * so every copy of an atom has the same cell.  (voro++'s
   * container_periodic failed to build some of these cells; orthogonal
   * boxes now use voro::container.) */
  {
    char path[4096];
    const char *src = getenv("PELMAP_SRCDIR");
    eng_system *g = NULL, *r = NULL;
    snprintf(path, sizeof path, "%s/common/data/cu50zr50-2000.data", src ? src : "..");
    rc = eng_read_file(path, ENG_FMT_LAMMPS_DATA, NULL, &g);
    if (rc == ENG_OK) r = eng_system_create(8 * g->natoms, g->ntypes);
    if (r) {
      int n = g->natoms, k = 0;
      memcpy(r->type_name, g->type_name, sizeof *r->type_name * g->ntypes);
      memcpy(r->type_mass, g->type_mass, sizeof *r->type_mass * g->ntypes);
      r->box = g->box;
      for (int d = 0; d < 3; d++) r->box.len[d] *= 2;
      for (int c = 0; c < 8; c++)
        for (int i = 0; i < n; i++, k++) {
          r->type[k] = g->type[i];
          for (int d = 0; d < 3; d++) r->x[3 * k + d] = g->x[3 * i + d] + ((c >> d) & 1) * g->box.len[d];
        }
      rc = eng_voronoi_compute(r, NULL, &v);
      ok(rc == ENG_OK, "Voronoi of the 2,000-atom glass replicated 2x2x2 %s", rc ? eng_last_error() : "");
      if (rc == ENG_OK) {
        double sum = 0.0, worst = 0.0;
        for (int i = 0; i < 8 * n; i++) sum += v->volume[i];
        for (int i = n; i < 8 * n; i++) worst = fmax(worst, fabs(v->volume[i] - v->volume[i % n]) / v->volume[i % n]);
        near(sum, eng_box_volume(&r->box), 1e-9 * eng_box_volume(&r->box), "replicated: volumes sum to the box volume");
        ok(worst < 1e-9, "replicated: every copy has its original's volume (worst rel. diff %.2g)", worst);
      }
      eng_voronoi_free(v);
      v = NULL;
    } else {
      ok(0, "read %s: %s", path, eng_last_error());
    }
    eng_system_free(r);
    eng_system_free(g);
  }
  /* Two atoms on the same spot: no cell, a clear error. */
  {
    eng_system *t = eng_system_copy(s);
    for (int k = 0; k < 3; k++) t->x[3 * 7 + k] = t->x[3 * 8 + k];
    rc = eng_voronoi_compute(t, NULL, &v);
    ok(rc == ENG_ENOCONV && !v, "coincident atoms: %s", eng_last_error());
    eng_system_free(t);
  }
  eng_voronoi_opts_default(&o);
  o.face_rel = -1;
  rc = eng_voronoi_compute(s, &o, &v);
  ok(rc == ENG_EINVAL && !v, "negative threshold rejected: %s", eng_last_error());
  eng_system_free(s);
  return tap_done();
}
