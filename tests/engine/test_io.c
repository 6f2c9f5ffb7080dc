/*
 * test_io.c -- structure-file I/O: format names and sniffing, the sample
 * files in tests/data/io, species resolution, frame selection, triclinic
 * conversions, exact round trips through both writers, a catalogue of bad
 * files (each must give ENG_EPARSE naming the right line), and files
 * written by LAMMPS itself (skipped when $LMP is empty).
 */
#include "../tap.h"
#include "engine.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char srcdir[2048], tmpdir[2048];

/* Read text through an exactly sized, not NUL-terminated heap copy, so
 * that ASan catches any read beyond len. */
static int rd(const char *text, size_t len, eng_format fmt, const eng_read_opts *o,
              eng_system **out) {
  char *copy = malloc(len ? len : 1);
  int rc;
  if (!copy) bail("out of memory");
  memcpy(copy, text, len);
  rc = eng_read_buffer(copy, len, "bad", fmt, o, out);
  free(copy);
  return rc;
}

static int rds(const char *text, eng_format fmt, const eng_read_opts *o, eng_system **out) {
  return rd(text, strlen(text), fmt, o, out);
}

static int read_sample(const char *file, eng_format fmt, const eng_read_opts *o, eng_system **out) {
  char path[8192];
  snprintf(path, sizeof path, "%s/tests/data/io/%s", srcdir, file);
  return eng_read_file(path, fmt, o, out);
}

/* Write s in fmt to a memory buffer (caller frees). */
static char *write_mem(const eng_system *s, eng_format fmt, size_t *len, int *rc) {
  char *buf = NULL;
  FILE *f = open_memstream(&buf, len);
  if (!f) bail("open_memstream");
  *rc = eng_write_stream(f, fmt, s);
  fclose(f);
  return buf;
}

/* Exact equality of two systems (bit-for-bit doubles). */
#define NO_IMAGE 1 /* the format drops image flags */
#define NO_PROPS 2 /* the format drops per-atom properties */
static int same_system(const eng_system *a, const eng_system *b, char *why, size_t n, int flags) {
#define FAIL(...)                                                                                  \
  do {                                                                                             \
    snprintf(why, n, __VA_ARGS__);                                                                 \
    return 0;                                                                                      \
  } while (0)
  if (a->natoms != b->natoms) FAIL("natoms %d vs %d", a->natoms, b->natoms);
  if (a->ntypes != b->ntypes) FAIL("ntypes %d vs %d", a->ntypes, b->ntypes);
  for (int t = 0; t < a->ntypes; t++) {
    if (strcmp(a->type_name[t], b->type_name[t])) FAIL("type name %d", t);
    if (a->type_mass[t] != b->type_mass[t]) FAIL("type mass %d", t);
  }
  if (memcmp(a->box.lo, b->box.lo, sizeof a->box.lo) ||
      memcmp(a->box.len, b->box.len, sizeof a->box.len) || a->box.xy != b->box.xy ||
      a->box.xz != b->box.xz || a->box.yz != b->box.yz ||
      memcmp(a->box.periodic, b->box.periodic, sizeof a->box.periodic))
    FAIL("box");
  for (int i = 0; i < a->natoms; i++) {
    if (a->id[i] != b->id[i] || a->type[i] != b->type[i]) FAIL("atom %d id/type", i);
    for (int k = 0; k < 3; k++) {
      if (a->x[3 * i + k] != b->x[3 * i + k])
        FAIL("atom %d x[%d] %.17g vs %.17g", i, k, a->x[3 * i + k], b->x[3 * i + k]);
      if (!!a->v != !!b->v || (a->v && a->v[3 * i + k] != b->v[3 * i + k])) FAIL("atom %d v", i);
      if (!(flags & NO_IMAGE) &&
          (!!a->image != !!b->image || (a->image && a->image[3 * i + k] != b->image[3 * i + k])))
        FAIL("atom %d image", i);
    }
  }
  if (flags & NO_PROPS) return b->nprops == 0;
  if (a->nprops != b->nprops) FAIL("nprops %d vs %d", a->nprops, b->nprops);
  for (int k = 0; k < a->nprops; k++) {
    const eng_prop *p = &a->props[k], *q = eng_system_find_prop(b, p->name);
    if (!q || q->kind != p->kind || q->ncomp != p->ncomp) FAIL("prop %s", p->name);
    for (long m = 0; m < (long)a->natoms * p->ncomp; m++) {
      if (p->kind == ENG_PROP_STR) {
        if (strcmp(p->str[m] ? p->str[m] : "_", q->str[m] ? q->str[m] : "_"))
          FAIL("prop %s str", p->name);
      } else if (p->val[m] != q->val[m]) {
        FAIL("prop %s val %ld", p->name, m);
      }
    }
  }
  return 1;
#undef FAIL
}

static void roundtrip(const eng_system *s, eng_format fmt, const char *what) {
  int flags = fmt == ENG_FMT_EXTXYZ ? NO_IMAGE : NO_PROPS;
  size_t len;
  int rc;
  char *buf = write_mem(s, fmt, &len, &rc);
  eng_system *t = NULL;
  char why[256] = "";
  ok(rc == 0, "%s: write (%s)", what, rc ? eng_last_error() : "ok");
  rc = rd(buf, len, ENG_FMT_AUTO, NULL, &t);
  ok(rc == 0, "%s: read back (%s)", what, rc ? eng_last_error() : "ok");
  if (t)
    ok(same_system(s, t, why, sizeof why, flags), "%s: identical after round trip %s", what, why);
  else
    ok(0, "%s: identical after round trip", what);
  eng_system_free(t);
  free(buf);
}

static eng_format sniff(const char *text, const char *name) {
  return eng_format_sniff(text, strlen(text), name);
}

static void test_formats(void) {
  ok(eng_format_from_name("data") == ENG_FMT_LAMMPS_DATA, "format 'data'");
  ok(eng_format_from_name("lammps-dump") == ENG_FMT_LAMMPS_DUMP, "format 'lammps-dump'");
  ok(eng_format_from_name("xyz") == ENG_FMT_EXTXYZ, "format 'xyz'");
  ok(eng_format_from_name("pdb") == ENG_FMT_AUTO, "unknown format name");
  ok(strcmp(eng_format_name(ENG_FMT_EXTXYZ), "extxyz") == 0, "name of extxyz");
  ok(eng_format_from_name(eng_format_name(ENG_FMT_LAMMPS_DATA)) == ENG_FMT_LAMMPS_DATA,
     "name round trip");
  ok(sniff("ITEM: TIMESTEP\n0\n", NULL) == ENG_FMT_LAMMPS_DUMP, "sniff dump");
  ok(sniff("2\nLattice=\"1 0 0 0 1 0 0 0 1\"\n", NULL) == ENG_FMT_EXTXYZ, "sniff extxyz");
  ok(sniff("title\n\n  12 atoms\n", NULL) == ENG_FMT_LAMMPS_DATA, "sniff data");
  ok(sniff("3\nplain\nCu 0 0 0\n", NULL) == ENG_FMT_EXTXYZ, "sniff plain xyz");
  ok(sniff("2\n64 atoms\nCu 0 0 0\nCu 1 1 1\n", NULL) == ENG_FMT_EXTXYZ,
     "sniff xyz whose comment says 'N atoms'");
  ok(sniff("??", "a.lammpstrj") == ENG_FMT_LAMMPS_DUMP, "sniff by extension");
  ok(sniff("??", "a.lmp") == ENG_FMT_LAMMPS_DATA, "sniff .lmp");
  ok(sniff("??", "x") == ENG_FMT_AUTO, "sniff gives up");
}

static void test_data_samples(void) {
  eng_system *s = NULL;
  eng_read_opts o = {0, NULL, 0};
  int rc = read_sample("cuzr_tri.data", ENG_FMT_AUTO, NULL, &s);
  ok(rc == 0, "read cuzr_tri.data (%s)", rc ? eng_last_error() : "ok");
  if (!s) return;
  ok(s->natoms == 5 && s->ntypes == 2, "5 atoms, 2 types");
  ok(!strcmp(s->type_name[0], "Cu") && !strcmp(s->type_name[1], "Zr"),
     "species from Masses comments");
  ok(s->type_mass[1] == 91.224, "mass from Masses");
  ok(s->id[0] == 1 && s->id[4] == 5, "atoms sorted by id");
  ok(s->type[1] == 1 && s->x[3 * 1] == 0.12419740381846, "atom 2 type and x");
  ok(s->image && s->image[0] == 1 && s->image[2] == -1 && s->image[3 * 4 + 1] == 2, "image flags");
  ok(s->v && s->v[3 * 3 + 0] == 2.783280084245633, "velocity of atom 4");
  ok(s->box.lo[1] == -1 && s->box.len[1] == 12 && s->box.lo[2] == 0.5 && s->box.len[2] == 11.5,
     "box lo/len");
  ok(s->box.xy == 1.5 && s->box.xz == -0.7 && s->box.yz == 0.9, "tilts");
  ok(s->box.periodic[0] && s->box.periodic[1] && s->box.periodic[2], "data boxes are periodic");
  roundtrip(s, ENG_FMT_LAMMPS_DATA, "triclinic data");
  roundtrip(s, ENG_FMT_EXTXYZ, "triclinic data as extxyz (no image flags)");

  {
    /* the same file with CRLF line ends */
    char path[8192], *text, *crlf;
    FILE *f;
    long n;
    eng_system *t = NULL;
    char why[256] = "";
    snprintf(path, sizeof path, "%s/tests/data/io/cuzr_tri.data", srcdir);
    f = fopen(path, "rb");
    if (!f) bail("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    text = malloc((size_t)n);
    crlf = malloc(2 * (size_t)n);
    if (!text || !crlf || fread(text, 1, (size_t)n, f) != (size_t)n) bail("read %s", path);
    fclose(f);
    size_t m = 0;
    for (long k = 0; k < n; k++) {
      if (text[k] == '\n') crlf[m++] = '\r';
      crlf[m++] = text[k];
    }
    rc = rd(crlf, m, ENG_FMT_AUTO, NULL, &t);
    ok(rc == 0 && t && same_system(s, t, why, sizeof why, 0), "CRLF line ends read the same %s",
       rc ? eng_last_error() : why);
    eng_system_free(t);
    free(text);
    free(crlf);
  }
  eng_system_free(s);
  s = NULL;
  rc = read_sample("labels.data", ENG_FMT_AUTO, NULL, &s);
  ok(rc == 0, "read labels.data (%s)", rc ? eng_last_error() : "ok");
  if (s) {
    ok(!strcmp(s->type_name[0], "Zr") && !strcmp(s->type_name[1], "Cu"),
       "species from type labels");
    ok(s->type[0] == 1 && s->type[1] == 0 && s->type[2] == 0, "types given as labels");
    ok(s->type_mass[0] == 91.224, "mass by label");
  }
  eng_system_free(s);
  s = NULL;

  rc = read_sample("nomass.data", ENG_FMT_AUTO, NULL, &s);
  ok(rc == 0 && s && s->type_name[0][0] == '\0' && s->type_mass[0] == 0.0,
     "no masses, no names: species '' and mass 0");
  eng_system_free(s);
  s = NULL;
  o.type_names = "Cu Zr Ni";
  rc = read_sample("nomass.data", ENG_FMT_AUTO, &o, &s);
  ok(rc == 0 && s && !strcmp(s->type_name[1], "Zr") && s->type_mass[1] == eng_element_mass("Zr"),
     "species from type_names, mass from the element table");
  eng_system_free(s);
  s = NULL;

  rc = read_sample("massonly.data", ENG_FMT_AUTO, NULL, &s);
  ok(rc == 0 && s && !strcmp(s->type_name[0], "Zr") && !strcmp(s->type_name[1], "Cu") &&
         s->type_name[2][0] == '\0' && s->type_mass[0] == 91.2,
     "species from masses within 0.1 amu; unknown mass gives ''");
  eng_system_free(s);
  s = NULL;
  o.type_names = "Ni";
  rc = read_sample("massonly.data", ENG_FMT_AUTO, &o, &s);
  ok(rc == 0 && s && !strcmp(s->type_name[0], "Ni") && !strcmp(s->type_name[1], "Cu"),
     "type_names before masses");
  eng_system_free(s);
}

static void test_dump_samples(void) {
  eng_system *s = NULL;
  eng_read_opts o = {0, NULL, 0};
  int rc = read_sample("tri2.dump", ENG_FMT_AUTO, &o, &s);
  ok(rc == 0, "read tri2.dump frame 0 (%s)", rc ? eng_last_error() : "ok");
  if (s) {
    double s1[3] = {0.1, 0.2, 0.3}, x1[3];
    eng_prop *pe = eng_system_find_prop(s, "c_pe"), *q = eng_system_find_prop(s, "q");
    ok(s->natoms == 3 && s->id[0] == 1 && s->id[2] == 3, "dump atoms sorted by id");
    /* xlo = -0.7 - min(0,1.5,-0.7,0.8) = 0, xhi = 11.5 - 1.5 = 10 */
    near(s->box.lo[0], 0.0, 1e-12, "triclinic dump xlo");
    near(s->box.len[0], 10.0, 1e-12, "triclinic dump lx");
    /* ylo = 0 - min(0, yz=0.9) = 0, yhi = 11.9 - 0.9 */
    near(s->box.lo[1], 0.0, 1e-12, "triclinic dump ylo");
    near(s->box.len[1], 11.0, 1e-12, "triclinic dump ly");
    ok(s->box.periodic[0] && !s->box.periodic[2], "boundary flags pp/ff");
    eng_box_from_frac(&s->box, s1, x1);
    near(s->x[0], x1[0], 1e-12, "scaled -> cartesian x (triclinic)");
    near(s->x[1], x1[1], 1e-12, "scaled -> cartesian y");
    ok(!strcmp(s->type_name[0], "Cu") && !strcmp(s->type_name[1], "Zr"),
       "element column names types");
    ok(pe && pe->kind == ENG_PROP_REAL && pe->val[2] == -4.25, "extra column c_pe kept as REAL");
    ok(q && q->kind == ENG_PROP_INT && q->val[0] == 0 && q->val[1] == 2,
       "integer column kept as INT");
    roundtrip(s, ENG_FMT_EXTXYZ, "dump with props as extxyz");
  }
  eng_system_free(s);
  s = NULL;
  o.frame = -1;
  o.type_names = "Zr Cu";
  rc = read_sample("tri2.dump", ENG_FMT_AUTO, &o, &s);
  ok(rc == 0 && s && s->x[0] == 4 && s->type[0] == 1 && !strcmp(s->type_name[0], "Zr") &&
         s->box.len[2] == 12 && s->box.xy == 0,
     "last frame, any column order, type_names (%s)", rc ? eng_last_error() : "ok");
  eng_system_free(s);
  s = NULL;
  o.frame = 2;
  rc = read_sample("tri2.dump", ENG_FMT_AUTO, &o, &s);
  ok(rc == ENG_EINVAL && !s, "frame beyond the end is ENG_EINVAL (%s)", eng_last_error());
}

static void test_xyz_samples(void) {
  eng_system *s = NULL;
  eng_read_opts o = {0, NULL, 0};
  int rc = read_sample("frames.xyz", ENG_FMT_AUTO, &o, &s);
  ok(rc == 0, "read frames.xyz frame 0 (%s)", rc ? eng_last_error() : "ok");
  if (s) {
    eng_prop *ch = eng_system_find_prop(s, "charge"), *tag = eng_system_find_prop(s, "tag"),
             *fl = eng_system_find_prop(s, "flag"), *n = eng_system_find_prop(s, "n");
    ok(s->id[0] == 3 && s->id[1] == 7 && s->type[0] == 0 && s->type[1] == 1,
       "ids from the id column, sorted; types by first appearance in id order");
    ok(!strcmp(s->type_name[0], "Cu") && s->type_mass[1] == eng_element_mass("Zr"),
       "species, masses");
    ok(s->box.lo[0] == 1 && s->box.lo[2] == 3 && s->box.len[1] == 9 && s->box.xy == 1 &&
           s->box.xz == -0.5 && s->box.yz == 0.5,
       "Lattice (already restricted) and Origin");
    ok(s->x[0] == 5.0 && s->x[3] == 2.0, "positions kept exactly");
    ok(ch && ch->kind == ENG_PROP_REAL && ch->val[0] == -0.25, "R column");
    ok(tag && tag->kind == ENG_PROP_STR && !strcmp(tag->str[0], "bb"), "S column");
    ok(fl && fl->kind == ENG_PROP_INT && fl->val[0] == 0 && fl->val[1] == 1, "L column as 0/1");
    ok(n && n->ncomp == 2 && n->val[0] == 3 && n->val[3] == 2, "I:2 column");
    roundtrip(s, ENG_FMT_EXTXYZ, "extxyz with props");
    roundtrip(s, ENG_FMT_LAMMPS_DATA, "extxyz -> data (props dropped)");
  }
  eng_system_free(s);
  s = NULL;
  o.frame = 1;
  o.type_names = "Zr";
  rc = read_sample("frames.xyz", ENG_FMT_AUTO, &o, &s);
  ok(rc == 0 && s && s->natoms == 3 && s->type[0] == 1 && s->type[2] == 0 && s->box.lo[0] == 0,
     "second frame, type_names first (%s)", rc ? eng_last_error() : "ok");
  eng_system_free(s);
  s = NULL;
  rc = read_sample("plain.xyz", ENG_FMT_AUTO, NULL, &s);
  ok(rc == 0 && s, "plain xyz (%s)", rc ? eng_last_error() : "ok");
  if (s) {
    ok(!s->box.periodic[0] && !s->box.periodic[1] && !s->box.periodic[2],
       "no Lattice: non-periodic");
    ok(s->box.lo[0] == -1 && s->box.len[0] == 3.5 && s->box.lo[2] == -2 && s->box.len[2] == 3,
       "no Lattice: bounding box + 1 A");
    roundtrip(s, ENG_FMT_EXTXYZ, "non-periodic extxyz");
  }
  eng_system_free(s);
}

/* A rotated, general cell must come back in restricted form with the
 * same fractional coordinates. */
static void test_rotated_lattice(void) {
  const double H[9] = {9.0, 0, 0, 1.2, 8.5, 0, -0.8, 0.6, 10.0}; /* restricted rows */
  const double fr[2][3] = {{0.1, 0.2, 0.3}, {0.75, 0.5, 0.9}};
  double R[9], c = cos(0.7), s_ = sin(0.7), c2 = cos(-0.4), s2 = sin(-0.4);
  double Rz[9] = {c, -s_, 0, s_, c, 0, 0, 0, 1}, Rx[9] = {1, 0, 0, 0, c2, -s2, 0, s2, c2};
  char text[4096];
  size_t n = 0;
  eng_system *sys = NULL;
  int rc;
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) {
      R[3 * i + j] = 0;
      for (int k = 0; k < 3; k++) R[3 * i + j] += Rz[3 * i + k] * Rx[3 * k + j];
    }
  /* rotate: v' = R v for each row vector */
  double L[9], X[2][3];
  for (int r = 0; r < 3; r++)
    for (int i = 0; i < 3; i++) {
      L[3 * r + i] = 0;
      for (int k = 0; k < 3; k++) L[3 * r + i] += R[3 * i + k] * H[3 * r + k];
    }
  for (int a = 0; a < 2; a++)
    for (int i = 0; i < 3; i++)
      X[a][i] = 0.5 + fr[a][0] * L[i] + fr[a][1] * L[3 + i] + fr[a][2] * L[6 + i];
  n += (size_t)snprintf(text + n, sizeof text - n, "2\nLattice=\"");
  for (int k = 0; k < 9; k++) n += (size_t)snprintf(text + n, sizeof text - n, "%.17g ", L[k]);
  n += (size_t)snprintf(text + n, sizeof text - n,
                        "\" Origin=\"0.5 0.5 0.5\" Properties=species:S:1:pos:R:3\n");
  for (int a = 0; a < 2; a++)
    n += (size_t)snprintf(text + n, sizeof text - n, "Cu %.17g %.17g %.17g\n", X[a][0], X[a][1],
                          X[a][2]);
  rc = rds(text, ENG_FMT_EXTXYZ, NULL, &sys);
  ok(rc == 0, "rotated Lattice read (%s)", rc ? eng_last_error() : "ok");
  if (!sys) return;
  near(sys->box.len[0], 9.0, 1e-12, "rotated: lx");
  near(sys->box.len[1], 8.5, 1e-12, "rotated: ly");
  near(sys->box.len[2], 10.0, 1e-12, "rotated: lz");
  near(sys->box.xy, 1.2, 1e-12, "rotated: xy");
  near(sys->box.xz, -0.8, 1e-12, "rotated: xz");
  near(sys->box.yz, 0.6, 1e-12, "rotated: yz");
  for (int a = 0; a < 2; a++) {
    double sf[3];
    eng_box_to_frac(&sys->box, &sys->x[3 * a], sf);
    for (int k = 0; k < 3; k++)
      near(sf[k], fr[a][k], 1e-12, "rotated: atom %d fractional %d", a, k);
  }
  eng_system_free(sys);
}

static void test_props_write(void) {
  eng_system *s = eng_system_create(3, 2), *t = NULL;
  eng_prop *p;
  if (!s) bail("create");
  strcpy(s->type_name[0], "Cu");
  strcpy(s->type_name[1], "Zr");
  s->type_mass[0] = 63.546;
  s->type_mass[1] = 91.224;
  for (int k = 0; k < 3; k++) s->box.len[k] = 7.0 + k;
  s->box.lo[0] = -0.1;
  s->box.len[0] = 1.0 / 3.0 + 8; /* hi - lo rounding: writer must make it exact */
  s->box.xy = 0.1;
  for (int i = 0; i < 3; i++) {
    s->type[i] = i % 2;
    for (int k = 0; k < 3; k++) s->x[3 * i + k] = 0.1 * M_PI * (i + 1) + k / 7.0;
  }
  eng_system_alloc_velocities(s);
  s->v[4] = 1e-300;
  eng_system_add_prop(s, "energy", ENG_PROP_REAL, 1, &p);
  p->val[0] = -3.3333333333333335;
  p->val[2] = 1.0 / 3.0;
  eng_system_add_prop(s, "cluster", ENG_PROP_INT, 1, &p);
  p->val[1] = -42;
  eng_system_add_prop(s, "vec", ENG_PROP_REAL, 3, &p);
  p->val[8] = 6.02214076e23;
  eng_system_add_prop(s, "label", ENG_PROP_STR, 1, &p);
  p->str[0] = strdup("ico");
  p->str[1] = strdup("fcc");
  p->str[2] = strdup("_");
  roundtrip(s, ENG_FMT_EXTXYZ, "props + velocities extxyz");
  {
    size_t len;
    int rc;
    char *buf = write_mem(s, ENG_FMT_LAMMPS_DATA, &len, &rc);
    rc = rd(buf, len, ENG_FMT_LAMMPS_DATA, NULL, &t);
    ok(rc == 0 && t && t->box.len[0] == s->box.len[0] && t->box.lo[0] == s->box.lo[0] && t->v &&
           t->v[4] == 1e-300,
       "data round trip keeps lo and len exactly (%s)", rc ? eng_last_error() : "ok");
    free(buf);
    eng_system_free(t);
  }
  {
    eng_prop *bad;
    size_t len;
    int rc;
    char *buf;
    eng_system_add_prop(s, "a:b", ENG_PROP_REAL, 1, &bad);
    buf = write_mem(s, ENG_FMT_EXTXYZ, &len, &rc);
    ok(rc == ENG_EINVAL, "property name with ':' refused (%s)", eng_last_error());
    free(buf);
    buf = write_mem(s, ENG_FMT_LAMMPS_DUMP, &len, &rc);
    ok(rc == ENG_EINVAL, "writing a dump is ENG_EINVAL");
    free(buf);
  }
  eng_system_free(s);
}

static void test_files(void) {
  eng_system *s = NULL, *t = NULL;
  char path[8192], why[256] = "";
  int rc = eng_read_file("/nonexistent/dir/x.data", ENG_FMT_AUTO, NULL, &s);
  ok(rc == ENG_EIO && strstr(eng_last_error(), "No such file"), "missing file is ENG_EIO (%s)",
     eng_last_error());
  rc = read_sample("cuzr_tri.data", ENG_FMT_AUTO, NULL, &s);
  if (rc) bail("sample: %s", eng_last_error());
  snprintf(path, sizeof path, "%s/io_rt.xyz", tmpdir);
  rc = eng_write_file(path, ENG_FMT_AUTO, s);
  ok(rc == 0, "eng_write_file by extension (%s)", rc ? eng_last_error() : "ok");
  rc = eng_read_file(path, ENG_FMT_AUTO, NULL, &t);
  ok(rc == 0 && t && t->natoms == 5 && !t->image, "eng_read_file back, no image flags in extxyz");
  if (t) {
    /* extxyz does not carry image flags */
    free(s->image);
    s->image = NULL;
    ok(same_system(s, t, why, sizeof why, 0), "file round trip exact %s", why);
  }
  ok(eng_write_file("/nonexistent/dir/x.data", ENG_FMT_LAMMPS_DATA, s) == ENG_EIO,
     "unwritable path is ENG_EIO");
  {
    struct stat st;
    ok(stat("/dev/full", &st) != 0 || eng_write_file("/dev/full", ENG_FMT_EXTXYZ, s) == ENG_EIO,
       "a full device is ENG_EIO (%s)", eng_last_error());
    ok(stat("/dev/full", &st) != 0 || S_ISCHR(st.st_mode), "and the device is left alone");
  }
  {
    /* a system that cannot be written leaves an existing file untouched */
    eng_prop *p;
    eng_system *u = eng_system_copy(s);
    FILE *f;
    char line[64] = "";
    snprintf(path, sizeof path, "%s/io_keep.xyz", tmpdir);
    f = fopen(path, "w");
    if (f) {
      fputs("keep me\n", f);
      fclose(f);
    }
    if (!u || eng_system_add_prop(u, "bad name", ENG_PROP_REAL, 1, &p)) bail("prop");
    ok(eng_write_file(path, ENG_FMT_AUTO, u) == ENG_EINVAL, "unwritable property is ENG_EINVAL");
    f = fopen(path, "r");
    if (f) {
      if (!fgets(line, sizeof line, f)) line[0] = '\0';
      fclose(f);
    }
    ok(strcmp(line, "keep me\n") == 0, "existing file untouched after ENG_EINVAL");
    eng_system_free(u);
  }
  eng_system_free(s);
  eng_system_free(t);
}

/* ---------------------------------------------------------------- */
/* Bad files                                                         */
/* ---------------------------------------------------------------- */

#define HDR "title\n2 atoms\n2 atom types\n0 5 xlo xhi\n0 5 ylo yhi\n0 5 zlo zhi\n\nAtoms\n\n"
/* HDR ends on line 9; atom lines start at line 10 */

static const struct bad {
  const char *what;
  eng_format fmt;
  const char *text;
  long line;
  double min_width;
  size_t len; /* 0: strlen(text) */
} bad[] = {
    {"empty data file", ENG_FMT_LAMMPS_DATA, "", 1, 0, 0},
    {"empty, auto format", ENG_FMT_AUTO, "", 1, 0, 0},
    {"whitespace only", ENG_FMT_AUTO, "  \n\n", 1, 0, 0},
    {"title only", ENG_FMT_LAMMPS_DATA, "title\n", 2, 0, 0},
    {"truncated atoms", ENG_FMT_LAMMPS_DATA, HDR "1 1 1 1 1\n", 11, 0, 0},
    {"too many atom lines", ENG_FMT_LAMMPS_DATA, HDR "1 1 1 1 1\n2 1 2 2 2\n3 1 3 3 3\n", 12, 0, 0},
    {"atoms cut by next section", ENG_FMT_LAMMPS_DATA, HDR "1 1 1 1 1\n\nVelocities\n\n1 0 0 0\n",
     12, 0, 0},
    {"too few columns", ENG_FMT_LAMMPS_DATA, HDR "1 1 1 1 1\n2 1 2 2\n", 11, 0, 0},
    {"too many columns", ENG_FMT_LAMMPS_DATA, HDR "1 1 1 1 1 0\n2 1 2 2 2\n", 10, 0, 0},
    {"duplicate ids", ENG_FMT_LAMMPS_DATA, HDR "7 1 1 1 1\n7 1 2 2 2\n", 11, 0, 0},
    {"id 0", ENG_FMT_LAMMPS_DATA, HDR "0 1 1 1 1\n2 1 2 2 2\n", 10, 0, 0},
    {"negative id", ENG_FMT_LAMMPS_DATA, HDR "1 1 1 1 1\n-2 1 2 2 2\n", 11, 0, 0},
    {"NaN coordinate", ENG_FMT_LAMMPS_DATA, HDR "1 1 1 1 1\n2 1 nan 2 2\n", 11, 0, 0},
    {"Inf coordinate", ENG_FMT_LAMMPS_DATA, HDR "1 1 1 -inf 1\n2 1 2 2 2\n", 10, 0, 0},
    {"overflowing coordinate", ENG_FMT_LAMMPS_DATA, HDR "1 1 1 1e400 1\n2 1 2 2 2\n", 10, 0, 0},
    {"not a number", ENG_FMT_LAMMPS_DATA, HDR "1 1 1 1 1\n2 1 2 2x 2\n", 11, 0, 0},
    {"unknown type", ENG_FMT_LAMMPS_DATA, HDR "1 3 1 1 1\n2 1 2 2 2\n", 10, 0, 0},
    {"type 0", ENG_FMT_LAMMPS_DATA, HDR "1 0 1 1 1\n2 1 2 2 2\n", 10, 0, 0},
    {"bad image flag", ENG_FMT_LAMMPS_DATA, HDR "1 1 1 1 1 0 0 0.5\n2 1 2 2 2\n", 10, 0, 0},
    {"box too small", ENG_FMT_LAMMPS_DATA, HDR "1 1 1 1 1\n2 1 2 2 2\n", 6, 10.0, 0},
    {"zero box length", ENG_FMT_LAMMPS_DATA,
     "t\n1 atoms\n1 atom types\n0 5 xlo xhi\n2 2 ylo yhi\n0 5 zlo zhi\nAtoms\n\n1 1 1 1 1\n", 5, 0,
     0},
    {"negative box length", ENG_FMT_LAMMPS_DATA,
     "t\n1 atoms\n1 atom types\n0 5 xlo xhi\n0 5 ylo yhi\n0 -5 zlo zhi\nAtoms\n\n1 1 1 1 1\n", 6, 0,
     0},
    {"huge atom count", ENG_FMT_LAMMPS_DATA,
     "t\n1000000000000 atoms\n1 atom types\n0 5 xlo xhi\n0 5 ylo yhi\n0 5 zlo zhi\nAtoms\n\n1 1 1 "
     "1 1\n",
     2, 0, 0},
    {"2^31 atoms", ENG_FMT_LAMMPS_DATA,
     "t\n2147483648 atoms\n1 atom types\n0 5 xlo xhi\n0 5 ylo yhi\n0 5 zlo zhi\nAtoms\n\n1 1 1 1 "
     "1\n",
     2, 0, 0},
    {"count larger than the file", ENG_FMT_LAMMPS_DATA,
     "t\n100000000 atoms\n1 atom types\n0 5 xlo xhi\n0 5 ylo yhi\n0 5 zlo zhi\nAtoms\n\n1 1 1 1 "
     "1\n",
     2, 0, 0},
    {"dump: count larger than the file", ENG_FMT_LAMMPS_DUMP,
     "ITEM: TIMESTEP\n0\nITEM: NUMBER OF ATOMS\n100000000\nITEM: BOX BOUNDS pp pp pp\n0 5\n0 5\n0 "
     "5\n",
     4, 0, 0},
    {"xyz: count larger than the file", ENG_FMT_EXTXYZ, "100000000\n\nCu 1 1 1\n", 1, 0, 0},
    {"too many atom types", ENG_FMT_LAMMPS_DATA,
     "t\n1 atoms\n100000000 atom types\n0 5 xlo xhi\n0 5 ylo yhi\n0 5 zlo zhi\nAtoms\n\n1 1 1 1 "
     "1\n",
     3, 0, 0},
    {"missing Atoms section", ENG_FMT_LAMMPS_DATA,
     "t\n1 atoms\n1 atom types\n0 5 xlo xhi\n0 5 ylo yhi\n0 5 zlo zhi\n\nMasses\n\n1 63.5\n", 11, 0,
     0},
    {"missing zlo zhi", ENG_FMT_LAMMPS_DATA,
     "t\n1 atoms\n1 atom types\n0 5 xlo xhi\n0 5 ylo yhi\nAtoms\n\n1 1 1 1 1\n", 6, 0, 0},
    {"missing atom count", ENG_FMT_LAMMPS_DATA,
     "t\n1 atom types\n0 5 xlo xhi\n0 5 ylo yhi\n0 5 zlo zhi\n\nAtoms\n\n1 1 1 1 1\n", 7, 0, 0},
    {"garbage header line", ENG_FMT_LAMMPS_DATA, "t\n1 atoms\nhello world\n", 3, 0, 0},
    {"binary garbage", ENG_FMT_LAMMPS_DATA, "t\n1 atoms\n\x01\x02\x00\xff\xfe\n", 3, 0, 16},
    {"binary garbage (auto)", ENG_FMT_AUTO,
     "\x7f"
     "ELF\x02\x01\x01\x00\x00\x00\n\x03\x00",
     1, 0, 13},
    {"binary garbage (xyz)", ENG_FMT_EXTXYZ, "1\n\n\x00\x00\x00\x00\n", 3, 0, 9},
    {"bonds", ENG_FMT_LAMMPS_DATA, "t\n1 atoms\n3 bonds\n", 3, 0, 0},
    {"Bonds section", ENG_FMT_LAMMPS_DATA, HDR "1 1 1 1 1\n2 1 2 2 2\n\nBonds\n\n1 1 1 2\n", 13, 0,
     0},
    {"atom style full", ENG_FMT_LAMMPS_DATA,
     "t\n1 atoms\n1 atom types\n0 5 xlo xhi\n0 5 ylo yhi\n0 5 zlo zhi\nAtoms # full\n\n1 1 1 0 1 1 "
     "1\n",
     7, 0, 0},
    {"velocity of unknown atom", ENG_FMT_LAMMPS_DATA,
     HDR "1 1 1 1 1\n2 1 2 2 2\n\nVelocities\n\n1 0 0 0\n3 0 0 0\n", 16, 0, 0},
    {"duplicate velocity", ENG_FMT_LAMMPS_DATA,
     HDR "1 1 1 1 1\n2 1 2 2 2\n\nVelocities\n\n1 0 0 0\n1 0 0 0\n", 16, 0, 0},
    {"non-positive mass", ENG_FMT_LAMMPS_DATA,
     "t\n1 atoms\n1 atom types\n0 5 xlo xhi\n0 5 ylo yhi\n0 5 zlo zhi\nMasses\n\n1 0\n", 9, 0, 0},
    {"truncated Masses", ENG_FMT_LAMMPS_DATA,
     "t\n1 atoms\n2 atom types\n0 5 xlo xhi\n0 5 ylo yhi\n0 5 zlo zhi\nMasses\n\n1 1.0\n", 10, 0,
     0},
    {"Velocities before Atoms", ENG_FMT_LAMMPS_DATA,
     "t\n1 atoms\n1 atom types\n0 5 xlo xhi\n0 5 ylo yhi\n0 5 zlo zhi\nVelocities\n\n1 0 0 0\n", 7,
     0, 0},
    {"type label used before its definition", ENG_FMT_LAMMPS_DATA,
     "t\n1 atoms\n1 atom types\n0 5 xlo xhi\n0 5 ylo yhi\n0 5 zlo zhi\nAtoms\n\n1 Cu 1 1 1\n"
     "\nAtom Type Labels\n\n1 Cu\n",
     9, 0, 0},
    {"two Atoms sections", ENG_FMT_LAMMPS_DATA,
     "t\n1 atoms\n1 atom types\n0 5 xlo xhi\n0 5 ylo yhi\n0 5 zlo zhi\nAtoms\n\n1 1 1 1 "
     "1\nAtoms\n\n1 1 1 1 1\n",
     10, 0, 0},
    /* dumps */
    {"dump: truncated", ENG_FMT_LAMMPS_DUMP,
     "ITEM: TIMESTEP\n0\nITEM: NUMBER OF ATOMS\n3\nITEM: BOX BOUNDS pp pp pp\n0 5\n0 5\n0 5\n"
     "ITEM: ATOMS id type x y z\n1 1 1 1 1\n2 1 2 2 2\n",
     12, 0, 0},
    {"dump: fewer atoms than declared", ENG_FMT_LAMMPS_DUMP,
     "ITEM: TIMESTEP\n0\nITEM: NUMBER OF ATOMS\n3\nITEM: BOX BOUNDS pp pp pp\n0 5\n0 5\n0 5\n"
     "ITEM: ATOMS id type x y z\n1 1 1 1 1\n2 1 2 2 2\nITEM: TIMESTEP\n1\n",
     12, 0, 0},
    {"dump: more atoms than declared", ENG_FMT_LAMMPS_DUMP,
     "ITEM: TIMESTEP\n0\nITEM: NUMBER OF ATOMS\n1\nITEM: BOX BOUNDS pp pp pp\n0 5\n0 5\n0 5\n"
     "ITEM: ATOMS id type x y z\n1 1 1 1 1\n2 1 2 2 2\n",
     11, 0, 0},
    {"dump: too few columns", ENG_FMT_LAMMPS_DUMP,
     "ITEM: TIMESTEP\n0\nITEM: NUMBER OF ATOMS\n2\nITEM: BOX BOUNDS pp pp pp\n0 5\n0 5\n0 5\n"
     "ITEM: ATOMS id type x y z\n1 1 1 1 1\n2 1 2 2\n",
     11, 0, 0},
    {"dump: duplicate ids", ENG_FMT_LAMMPS_DUMP,
     "ITEM: TIMESTEP\n0\nITEM: NUMBER OF ATOMS\n2\nITEM: BOX BOUNDS pp pp pp\n0 5\n0 5\n0 5\n"
     "ITEM: ATOMS id type x y z\n4 1 1 1 1\n4 1 2 2 2\n",
     11, 0, 0},
    {"dump: NaN", ENG_FMT_LAMMPS_DUMP,
     "ITEM: TIMESTEP\n0\nITEM: NUMBER OF ATOMS\n2\nITEM: BOX BOUNDS pp pp pp\n0 5\n0 5\n0 5\n"
     "ITEM: ATOMS id type x y z\n1 1 1 1 1\n2 1 2 NaN 2\n",
     11, 0, 0},
    {"dump: outside non-periodic box", ENG_FMT_LAMMPS_DUMP,
     "ITEM: TIMESTEP\n0\nITEM: NUMBER OF ATOMS\n2\nITEM: BOX BOUNDS pp pp fs\n0 5\n0 5\n0 5\n"
     "ITEM: ATOMS id type x y z\n1 1 1 1 1\n2 1 2 2 5.5\n",
     11, 0, 0},
    {"dump: bad boundary flag", ENG_FMT_LAMMPS_DUMP,
     "ITEM: TIMESTEP\n0\nITEM: NUMBER OF ATOMS\n2\nITEM: BOX BOUNDS pp pf pp\n0 5\n0 5\n0 5\n", 5,
     0, 0},
    {"dump: negative box length", ENG_FMT_LAMMPS_DUMP,
     "ITEM: TIMESTEP\n0\nITEM: NUMBER OF ATOMS\n1\nITEM: BOX BOUNDS pp pp pp\n0 5\n5 0\n0 5\n"
     "ITEM: ATOMS id type x y z\n1 1 1 1 1\n",
     8, 0, 0},
    {"dump: missing NUMBER OF ATOMS", ENG_FMT_LAMMPS_DUMP,
     "ITEM: TIMESTEP\n0\nITEM: BOX BOUNDS pp pp pp\n0 5\n0 5\n0 5\nITEM: ATOMS id type x y z\n1 1 "
     "1 1 1\n",
     7, 0, 0},
    {"dump: huge atom count", ENG_FMT_LAMMPS_DUMP,
     "ITEM: TIMESTEP\n0\nITEM: NUMBER OF ATOMS\n1000000000000\nITEM: BOX BOUNDS pp pp pp\n", 4, 0,
     0},
    {"dump: no position columns", ENG_FMT_LAMMPS_DUMP,
     "ITEM: TIMESTEP\n0\nITEM: NUMBER OF ATOMS\n1\nITEM: BOX BOUNDS pp pp pp\n0 5\n0 5\n0 5\n"
     "ITEM: ATOMS id type x y\n1 1 1 1\n",
     9, 0, 0},
    {"dump: element contradicts type", ENG_FMT_LAMMPS_DUMP,
     "ITEM: TIMESTEP\n0\nITEM: NUMBER OF ATOMS\n2\nITEM: BOX BOUNDS pp pp pp\n0 5\n0 5\n0 5\n"
     "ITEM: ATOMS id type element x y z\n1 1 Cu 1 1 1\n2 1 Zr 2 2 2\n",
     11, 0, 0},
    {"dump: box too small", ENG_FMT_LAMMPS_DUMP,
     "ITEM: TIMESTEP\n0\nITEM: NUMBER OF ATOMS\n1\nITEM: BOX BOUNDS pp pp pp\n0 50\n0 50\n0 5\n"
     "ITEM: ATOMS id type x y z\n1 1 1 1 1\n",
     8, 10.0, 0},
    {"dump: not a dump", ENG_FMT_LAMMPS_DUMP, "hello\n", 1, 0, 0},
    /* extended XYZ */
    {"xyz: Lattice with 8 numbers", ENG_FMT_EXTXYZ,
     "1\nLattice=\"5 0 0 0 5 0 0 0\" Properties=species:S:1:pos:R:3\nCu 1 1 1\n", 2, 0, 0},
    {"xyz: unknown Properties type", ENG_FMT_EXTXYZ,
     "1\nLattice=\"5 0 0 0 5 0 0 0 5\" Properties=species:S:1:pos:R:3:q:X:1\nCu 1 1 1 0\n", 2, 0,
     0},
    {"xyz: pos not R:3", ENG_FMT_EXTXYZ,
     "1\nLattice=\"5 0 0 0 5 0 0 0 5\" Properties=species:S:1:pos:R:2\nCu 1 1\n", 2, 0, 0},
    {"xyz: no species", ENG_FMT_EXTXYZ,
     "1\nLattice=\"5 0 0 0 5 0 0 0 5\" Properties=pos:R:3\n1 1 1\n", 2, 0, 0},
    {"xyz: truncated", ENG_FMT_EXTXYZ,
     "3\nLattice=\"5 0 0 0 5 0 0 0 5\" Properties=species:S:1:pos:R:3\nCu 1 1 1\nCu 2 2 2\n", 5, 0,
     0},
    {"xyz: too many columns", ENG_FMT_EXTXYZ,
     "2\nLattice=\"5 0 0 0 5 0 0 0 5\" Properties=species:S:1:pos:R:3\nCu 1 1 1\nCu 2 2 2 2\n", 4,
     0, 0},
    {"xyz: too few columns", ENG_FMT_EXTXYZ, "2\nLattice=\"5 0 0 0 5 0 0 0 5\"\nCu 1 1\nCu 2 2 2\n",
     3, 0, 0},
    {"xyz: Inf", ENG_FMT_EXTXYZ, "2\n\nCu 1 1 1\nCu 2 inf 2\n", 4, 0, 0},
    {"xyz: count not a number", ENG_FMT_EXTXYZ, "two\n\nCu 1 1 1\nCu 2 2 2\n", 1, 0, 0},
    {"xyz: huge count", ENG_FMT_EXTXYZ, "1000000000000\n\nCu 1 1 1\n", 1, 0, 0},
    {"xyz: wrong count (extra line)", ENG_FMT_EXTXYZ, "1\n\nCu 1 1 1\nCu 2 2 2\n", 4, 0, 0},
    {"xyz: outside non-periodic cell", ENG_FMT_EXTXYZ,
     "2\nLattice=\"5 0 0 0 5 0 0 0 5\" pbc=\"T T F\"\nCu 1 1 1\nCu 2 2 7\n", 4, 0, 0},
    {"xyz: duplicate ids", ENG_FMT_EXTXYZ,
     "2\nProperties=species:S:1:pos:R:3:id:I:1\nCu 1 1 1 5\nCu 2 2 2 5\n", 4, 0, 0},
    {"xyz: id 0", ENG_FMT_EXTXYZ,
     "2\nProperties=species:S:1:pos:R:3:id:I:1\nCu 1 1 1 0\nCu 2 2 2 5\n", 3, 0, 0},
    {"xyz: unclosed quote", ENG_FMT_EXTXYZ,
     "1\nLattice=\"5 0 0 0 5 0 0 0 5 Properties=species:S:1:pos:R:3\nCu 1 1 1\n", 2, 0, 0},
    {"xyz: degenerate Lattice", ENG_FMT_EXTXYZ, "1\nLattice=\"5 0 0 10 0 0 0 0 5\"\nCu 1 1 1\n", 2,
     0, 0},
    {"xyz: pbc without Lattice", ENG_FMT_EXTXYZ,
     "1\npbc=\"T T T\" Properties=species:S:1:pos:R:3\nCu 1 1 1\n", 2, 0, 0},
    {"xyz: box too small", ENG_FMT_EXTXYZ, "1\nLattice=\"5 0 0 0 50 0 0 0 50\"\nCu 1 1 1\n", 2,
     10.0, 0},
    {"xyz: Lattice = with blanks, 8 numbers", ENG_FMT_EXTXYZ,
     "1\nlattice = \"5 0 0 0 5 0 0 0\"\nCu 1 1 1\n", 2, 0, 0},
    {"xyz: bad L value", ENG_FMT_EXTXYZ,
     "1\nProperties=species:S:1:pos:R:3:f:L:1\nCu 1 1 1 maybe\n", 3, 0, 0},
    {"xyz: truncated second frame", ENG_FMT_EXTXYZ, "1\n\nCu 1 1 1\n2\n\nCu 1 1 1\n", 7, 0, 0},
};

static void test_bad_files(void) {
  static const struct {
    const char *file;
    long line;
  } files[] = {{"bad_truncated.data", 23},
               {"bad_dup.dump", 12},
               {"bad_lattice8.xyz", 2},
               {"bad_binary.data", 5}};
  for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
    eng_system *s = NULL;
    char want[256];
    int rc = read_sample(files[k].file, ENG_FMT_AUTO, NULL, &s);
    snprintf(want, sizeof want, "%s:%ld:", files[k].file, files[k].line);
    ok(rc == ENG_EPARSE && !s && strstr(eng_last_error(), want), "%s: ENG_EPARSE at line %ld (%s)",
       files[k].file, files[k].line, eng_last_error());
  }
}

static void test_bad(void) {
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    eng_read_opts o = {0, NULL, bad[k].min_width};
    eng_system *s = (eng_system *)&o; /* must be reset to NULL */
    char want[64];
    size_t len = bad[k].len ? bad[k].len : strlen(bad[k].text);
    int rc;
    if (strcmp(bad[k].what, "xyz: truncated second frame") == 0) o.frame = -1;
    rc = rd(bad[k].text, len, bad[k].fmt, &o, &s);
    snprintf(want, sizeof want, "bad:%ld:", bad[k].line);
    ok(rc == ENG_EPARSE && s == NULL && strncmp(eng_last_error(), want, strlen(want)) == 0,
       "%s: ENG_EPARSE at line %ld (got %s: %s)", bad[k].what, bad[k].line, eng_errname(rc),
       eng_last_error());
  }
  {
    /* a line longer than the limit */
    size_t n = 70000;
    char *text = malloc(n + 64);
    eng_system *s = NULL;
    int rc;
    if (!text) bail("oom");
    strcpy(text, "t\n1 atoms\n");
    memset(text + 10, ' ', n);
    strcpy(text + 10 + n, "x\n");
    rc = rd(text, strlen(text), ENG_FMT_LAMMPS_DATA, NULL, &s);
    ok(rc == ENG_EPARSE && strncmp(eng_last_error(), "bad:3:", 6) == 0, "overlong line (%s)",
       eng_last_error());
    free(text);
  }
  {
    eng_system *s = NULL;
    eng_read_opts o = {-2, NULL, 0};
    ok(rds("1\n\nCu 0 0 0\n", ENG_FMT_EXTXYZ, &o, &s) == ENG_EINVAL, "frame -2 is ENG_EINVAL");
    ok(eng_read_buffer(NULL, 3, "x", ENG_FMT_AUTO, NULL, &s) == ENG_EINVAL, "NULL buffer");
  }
  {
    /* the box-too-small message names the width and the minimum */
    eng_read_opts o = {0, NULL, 10.0};
    eng_system *s = NULL;
    rds(HDR "1 1 1 1 1\n2 1 2 2 2\n", ENG_FMT_LAMMPS_DATA, &o, &s);
    ok(strstr(eng_last_error(), "at least 10") && strstr(eng_last_error(), "got 5"),
       "box-too-small message has width and minimum (%s)", eng_last_error());
  }
}

/* ---------------------------------------------------------------- */
/* Against LAMMPS                                                    */
/* ---------------------------------------------------------------- */

static int run_lmp(const char *lmp, const char *dir, const char *script) {
  char path[8192], cmd[16384];
  FILE *f;
  snprintf(path, sizeof path, "%s/in.io", dir);
  f = fopen(path, "w");
  if (!f) return -1;
  fputs(script, f);
  fclose(f);
  snprintf(cmd, sizeof cmd, "cd '%s' && '%s' -in in.io -log none -screen none > lmp.out 2>&1", dir,
           lmp);
  return system(cmd);
}

static void compare_positions(const eng_system *ref, const eng_system *s, int unwrap_ref,
                              const char *what) {
  double worst = 0;
  int same = ref->natoms == s->natoms, names = 1;
  for (int i = 0; same && i < ref->natoms; i++) {
    double x[3];
    if (ref->id[i] != s->id[i]) {
      same = 0;
      break;
    }
    for (int k = 0; k < 3; k++) x[k] = ref->x[3 * i + k];
    if (unwrap_ref && ref->image) {
      const int *n = &ref->image[3 * i];
      x[0] += n[0] * ref->box.len[0] + n[1] * ref->box.xy + n[2] * ref->box.xz;
      x[1] += n[1] * ref->box.len[1] + n[2] * ref->box.yz;
      x[2] += n[2] * ref->box.len[2];
    }
    for (int k = 0; k < 3; k++) worst = fmax(worst, fabs(x[k] - s->x[3 * i + k]));
    if (strcmp(ref->type_name[ref->type[i]], s->type_name[s->type[i]])) names = 0;
  }
  ok(same && worst <= 1e-6, "%s: same ids, positions within 1e-6 A (worst %.3g)", what, worst);
  ok(same && names, "%s: same species per atom", what);
}

static void test_lammps(void) {
  const char *lmp = getenv("LMP");
  char dir[4096], path[8192];
  eng_system *data = NULL, *d = NULL;
  eng_read_opts o = {0, NULL, 0};
  int rc;
  if (!lmp || !*lmp) {
    for (int k = 0; k < 14; k++) skip("LMP not set: no LAMMPS cross-checks");
    return;
  }
  snprintf(dir, sizeof dir, "%s/io_lmp", tmpdir);
  mkdir(dir, 0777);
  rc = run_lmp(
      lmp, dir,
      "units metal\natom_style atomic\nboundary p p p\n"
      "region r prism 0 14 0 15 0 16 2.5 -1.5 1.25\ncreate_box 2 r\n"
      "create_atoms 1 random 60 4711 NULL\ncreate_atoms 2 random 40 815 NULL\n"
      "mass 1 63.546\nmass 2 91.224\nvelocity all create 600 99\n"
      "displace_atoms all random 9 9 9 1234\n"
      "write_data lmp.data\n"
      "write_dump all custom lmp_s.dump id element xs ys zs modify element Cu Zr format float "
      "%.17g\n"
      "write_dump all custom lmp_x.dump type x y z id vx vy vz modify format float %.17g\n"
      "write_dump all custom lmp_u.dump zu id yu type xu ix iy iz modify format float %.17g\n");
  ok(rc == 0, "lmp wrote a triclinic Cu-Zr data file and three dumps");
  snprintf(path, sizeof path, "%s/lmp.data", dir);
  rc = eng_read_file(path, ENG_FMT_AUTO, NULL, &data);
  ok(rc == 0 && data && data->natoms == 100 && eng_box_is_triclinic(&data->box),
     "read LAMMPS data (%s)", rc ? eng_last_error() : "ok");
  if (!data) {
    for (int k = 0; k < 12; k++) skip("no data file");
    return;
  }
  ok(!strcmp(data->type_name[0], "Cu") && !strcmp(data->type_name[1], "Zr") && data->v &&
         data->image,
     "species from LAMMPS masses, velocities and image flags present");
  snprintf(path, sizeof path, "%s/lmp_s.dump", dir);
  rc = eng_read_file(path, ENG_FMT_AUTO, NULL, &d);
  if (d)
    compare_positions(data, d, 0, "dump xs ys zs + element");
  else
    ok(0, "dump xs (%s)", eng_last_error()), ok(0, "dump xs names");
  if (d)
    near(d->box.xy, data->box.xy, 1e-12, "dump tilt xy matches data");
  else
    ok(0, "dump box");
  eng_system_free(d);
  d = NULL;
  o.type_names = "Cu Zr";
  snprintf(path, sizeof path, "%s/lmp_x.dump", dir);
  rc = eng_read_file(path, ENG_FMT_AUTO, &o, &d);
  if (d)
    compare_positions(data, d, 0, "dump x y z + type");
  else
    ok(0, "dump x (%s)", eng_last_error()), ok(0, "dump x names");
  ok(d && d->v && fabs(d->v[7] - data->v[7]) < 1e-12, "dump velocities match data");
  eng_system_free(d);
  d = NULL;
  snprintf(path, sizeof path, "%s/lmp_u.dump", dir);
  rc = eng_read_file(path, ENG_FMT_AUTO, &o, &d);
  if (d)
    compare_positions(data, d, 1, "dump xu yu zu (unwrapped)");
  else
    ok(0, "dump xu (%s)", eng_last_error()), ok(0, "dump xu names");
  eng_system_free(d);
  d = NULL;
  /* LAMMPS must read what we write */
  snprintf(path, sizeof path, "%s/pel.data", dir);
  rc = eng_write_file(path, ENG_FMT_LAMMPS_DATA, data);
  rc = rc ? rc
          : run_lmp(lmp, dir,
                    "units metal\natom_style atomic\nread_data pel.data\n"
                    "write_dump all custom back.dump id type x y z modify format float %.17g\n");
  ok(rc == 0, "lmp reads pelmap's data file");
  snprintf(path, sizeof path, "%s/back.dump", dir);
  rc = eng_read_file(path, ENG_FMT_AUTO, &o, &d);
  if (d)
    compare_positions(data, d, 0, "data written by pelmap, read by LAMMPS");
  else
    ok(0, "back.dump (%s)", eng_last_error()), ok(0, "back.dump names");
  eng_system_free(d);
  eng_system_free(data);
}

int main(void) {
  const char *s = getenv("PELMAP_SRCDIR"), *b = getenv("PELMAP_BUILDDIR");
  snprintf(srcdir, sizeof srcdir, "%s", s && *s ? s : "..");
  snprintf(tmpdir, sizeof tmpdir, "%s/tests", b && *b ? b : ".");
  mkdir(tmpdir, 0777);
  test_formats();
  test_data_samples();
  test_dump_samples();
  test_xyz_samples();
  test_rotated_lattice();
  test_props_write();
  test_files();
  test_bad();
  test_bad_files();
  test_lammps();
  return tap_done();
}
