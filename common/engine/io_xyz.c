/*
 * io_xyz.c -- extended XYZ reader and writer: line 1 the atom count, line 2
 * key=value pairs (Lattice, Origin, pbc, Properties; quoted values), then
 * one line per atom with the columns Properties describes.  Arbitrary
 * cells are turned into LAMMPS' restricted triclinic form by a rotation
 * (or a reflection for left-handed cells).  Multi-frame files: frames are
 * concatenated.  Rules in docs/formats.md.
 */
#include "io_common.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MAXCOLS 1024
#define MAXPROPS 64

/* One column group of Properties=name:T:n. */
typedef struct xyz_col {
  char name[64];
  char kind; /* 'S', 'R', 'I', 'L' */
  int ncomp;
  int role; /* below */
  int prop; /* index into sys->props for ROLE_PROP */
} xyz_col;

enum { ROLE_PROP = 0, ROLE_SPECIES, ROLE_POS, ROLE_ID, ROLE_VELO };

/* What the comment line says. */
typedef struct xyz_info {
  int has_lattice, has_origin, has_pbc, has_props;
  double lattice[9];
  double origin[3];
  int pbc[3];
  xyz_col cols[MAXPROPS];
  int ncols; /* groups */
  int ntok;  /* total columns */
} xyz_info;

/* ---------------------------------------------------------------- */
/* Comment line: key=value pairs                                     */
/* ---------------------------------------------------------------- */

/* Read a key or value starting at *p (quoted with "..." and backslash
 * escapes, or {...}, or a bare word ending at a blank or, for keys, '=').
 * Writes it NUL-terminated into out.  Returns 0, or -1 on an unclosed
 * quote / brace. */
static int kv_word(const char **p, char *out, size_t size, int is_key) {
  const char *s = *p;
  size_t n = 0;
  if (*s == '"' || *s == '{') {
    char close = *s == '"' ? '"' : '}';
    s++;
    while (*s && *s != close) {
      if (close == '"' && *s == '\\' && s[1]) s++;
      if (n + 1 < size) out[n++] = *s;
      s++;
    }
    if (*s != close) return -1;
    s++;
  } else {
    while (*s && !isspace((unsigned char)*s) && !(is_key && *s == '=')) {
      if (n + 1 < size) out[n++] = *s;
      s++;
    }
  }
  out[n] = '\0';
  *p = s;
  return 0;
}

static int parse_numbers(const char *val, double *out, int want, int *got) {
  char copy[4096], *tok[16];
  int n;
  snprintf(copy, sizeof copy, "%s", val);
  /* ASE-style brackets and commas are blanks */
  for (char *c = copy; *c; c++)
    if (*c == ',' || *c == '[' || *c == ']') *c = ' ';
  n = eng__split(copy, tok, 15, NULL);
  *got = n;
  if (n != want) return -1;
  for (int k = 0; k < n; k++)
    if (eng__parse_double(tok[k], &out[k]) != 0) return -2;
  return 0;
}

static int parse_bool(const char *t, int *out) {
  if (!strcasecmp(t, "T") || !strcasecmp(t, "True") || !strcmp(t, "1")) {
    *out = 1;
    return 0;
  }
  if (!strcasecmp(t, "F") || !strcasecmp(t, "False") || !strcmp(t, "0")) {
    *out = 0;
    return 0;
  }
  return -1;
}

static int parse_properties(eng__scan *sc, const char *val, xyz_info *info) {
  char copy[4096], *field[3 * MAXPROPS + 1], q[64];
  int nf = 0;
  char *p;
  snprintf(copy, sizeof copy, "%s", val);
  p = copy;
  for (;;) {
    if (nf == 3 * MAXPROPS + 1) break;
    field[nf++] = p;
    p = strchr(p, ':');
    if (!p) break;
    *p++ = '\0';
  }
  if (nf % 3 != 0 || nf > 3 * MAXPROPS)
    return eng__scan_fail(sc,
                          "expected Properties=name:type:count[:...] with at most %d groups, "
                          "got %d fields",
                          MAXPROPS, nf);
  info->ncols = nf / 3;
  info->ntok = 0;
  for (int g = 0; g < info->ncols; g++) {
    xyz_col *c = &info->cols[g];
    const char *nm = field[3 * g], *ty = field[3 * g + 1], *ct = field[3 * g + 2];
    int64_t n;
    if (!*nm || strlen(nm) >= sizeof c->name)
      return eng__scan_fail(sc, "expected a property name of 1..%zu characters in Properties",
                            sizeof c->name - 1);
    if (strlen(ty) != 1 || !strchr("SRIL", toupper((unsigned char)*ty)))
      return eng__scan_fail(sc, "expected a property type S, R, I or L for %s, got %s",
                            eng__quote(nm, q, sizeof q), eng__quote(ty, q + 32, 32));
    if (eng__parse_int64(ct, &n) != 0 || n < 1 || n > MAXCOLS)
      return eng__scan_fail(sc, "expected a column count 1..%d for property %s", MAXCOLS,
                            eng__quote(nm, q, sizeof q));
    for (int h = 0; h < g; h++)
      if (strcmp(info->cols[h].name, nm) == 0)
        return eng__scan_fail(sc, "expected distinct property names, got %s twice",
                              eng__quote(nm, q, sizeof q));
    snprintf(c->name, sizeof c->name, "%s", nm);
    c->kind = (char)toupper((unsigned char)*ty);
    c->ncomp = (int)n;
    c->role = ROLE_PROP;
    c->prop = -1;
    if (strcmp(nm, "species") == 0) {
      if (c->kind != 'S' || n != 1) return eng__scan_fail(sc, "expected species:S:1 in Properties");
      c->role = ROLE_SPECIES;
    } else if (strcmp(nm, "pos") == 0) {
      if (c->kind != 'R' || n != 3) return eng__scan_fail(sc, "expected pos:R:3 in Properties");
      c->role = ROLE_POS;
    } else if (strcmp(nm, "id") == 0 && c->kind == 'I' && n == 1) {
      c->role = ROLE_ID;
    } else if (strcmp(nm, "velo") == 0 && c->kind == 'R' && n == 3) {
      c->role = ROLE_VELO;
    }
    info->ntok += (int)n;
    if (info->ntok > MAXCOLS)
      return eng__scan_fail(sc, "expected at most %d columns in Properties", MAXCOLS);
  }
  return ENG_OK;
}

/* 1 if key (any case) followed by optional blanks and '=' occurs in line. */
static int has_key(const char *line, const char *key) {
  size_t n = strlen(key);
  for (const char *p = line; *p; p++) {
    const char *q = p + n;
    if (strncasecmp(p, key, n) != 0) continue;
    while (*q == ' ' || *q == '\t') q++;
    if (*q == '=') return 1;
  }
  return 0;
}

/* Parse the comment line (in sc->line).  A line with neither Lattice= nor
 * Properties= is a plain XYZ comment and is ignored. */
static int parse_comment(eng__scan *sc, xyz_info *info) {
  const char *p = sc->line;
  char key[256], q[64], *val = NULL;
  int extended = has_key(sc->line, "Lattice") || has_key(sc->line, "Properties");
  int rc = ENG_OK;
  memset(info, 0, sizeof *info);
  if (!extended) goto defaults;
  val = eng__malloc(ENG__LINE_MAX + 1, 1);
  if (!val) return ENG_ENOMEM;
  for (;;) {
    while (isspace((unsigned char)*p)) p++;
    if (!*p) break;
    if (kv_word(&p, key, sizeof key, 1)) {
      rc = eng__scan_fail(sc, "expected a closing quote in the comment line");
      goto out;
    }
    while (*p == ' ' || *p == '\t') p++;
    if (*p != '=') continue; /* a bare flag */
    p++;
    while (*p == ' ' || *p == '\t') p++;
    if (kv_word(&p, val, ENG__LINE_MAX + 1, 0)) {
      rc = eng__scan_fail(sc, "expected a closing quote for the value of %s",
                          eng__quote(key, q, sizeof q));
      goto out;
    }
    if (strcasecmp(key, "Lattice") == 0) {
      int got;
      if (parse_numbers(val, info->lattice, 9, &got)) {
        rc = eng__scan_fail(sc, "expected 9 finite numbers in Lattice, got %s%s",
                            got == 9 ? "a bad one in " : "", eng__quote(val, q, sizeof q));
        goto out;
      }
      info->has_lattice = 1;
    } else if (strcasecmp(key, "Origin") == 0) {
      int got;
      if (parse_numbers(val, info->origin, 3, &got)) {
        rc = eng__scan_fail(sc, "expected 3 finite numbers in Origin, got %s",
                            eng__quote(val, q, sizeof q));
        goto out;
      }
      info->has_origin = 1;
    } else if (strcasecmp(key, "pbc") == 0) {
      char *tok[4];
      int n = eng__split(val, tok, 3, NULL), bad = n != 3 && n != 1;
      for (int k = 0; k < 3 && !bad; k++) bad = parse_bool(tok[n == 1 ? 0 : k], &info->pbc[k]);
      if (bad) {
        rc = eng__scan_fail(sc, "expected pbc=\"T T T\" (T or F for each direction)");
        goto out;
      }
      info->has_pbc = 1;
    } else if (strcasecmp(key, "Properties") == 0) {
      rc = parse_properties(sc, val, info);
      if (rc) goto out;
      info->has_props = 1;
    }
  }
defaults:
  if (!info->has_props) {
    static const char *const def = "species:S:1:pos:R:3";
    rc = parse_properties(sc, def, info);
    if (rc) goto out;
  }
  if (!info->has_pbc)
    for (int k = 0; k < 3; k++) info->pbc[k] = info->has_lattice;
out:
  free(val);
  return rc;
}

/* ---------------------------------------------------------------- */
/* Cell                                                              */
/* ---------------------------------------------------------------- */

/* Restricted triclinic box from the three cell vectors (rows of L).  Also
 * returns the inverse of L (rows a b c) for fractional coordinates.
 * -1 if the cell is degenerate. */
static int lattice_box(const double *L, eng_box *b, double inv[9], int *restricted) {
  const double *a = L, *bb = L + 3, *c = L + 6;
  double la = sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2]), lb2, lc2, ly2, lz2, det;
  det = a[0] * (bb[1] * c[2] - bb[2] * c[1]) - a[1] * (bb[0] * c[2] - bb[2] * c[0]) +
        a[2] * (bb[0] * c[1] - bb[1] * c[0]);
  lb2 = bb[0] * bb[0] + bb[1] * bb[1] + bb[2] * bb[2];
  lc2 = c[0] * c[0] + c[1] * c[1] + c[2] * c[2];
  if (!(la > 0.0) || !(fabs(det) > 1e-14 * la * sqrt(lb2 * lc2))) return -1;
  *restricted =
      a[1] == 0.0 && a[2] == 0.0 && bb[2] == 0.0 && a[0] > 0.0 && bb[1] > 0.0 && c[2] > 0.0;
  if (*restricted) {
    b->len[0] = a[0];
    b->xy = bb[0];
    b->len[1] = bb[1];
    b->xz = c[0];
    b->yz = c[1];
    b->len[2] = c[2];
  } else {
    b->len[0] = la;
    b->xy = (bb[0] * a[0] + bb[1] * a[1] + bb[2] * a[2]) / la;
    ly2 = lb2 - b->xy * b->xy;
    if (!(ly2 > 0.0)) return -1;
    b->len[1] = sqrt(ly2);
    b->xz = (c[0] * a[0] + c[1] * a[1] + c[2] * a[2]) / la;
    b->yz = ((bb[0] * c[0] + bb[1] * c[1] + bb[2] * c[2]) - b->xy * b->xz) / b->len[1];
    lz2 = lc2 - b->xz * b->xz - b->yz * b->yz;
    if (!(lz2 > 0.0)) return -1;
    b->len[2] = sqrt(lz2);
  }
  /* inverse of the row matrix L: inv = adj(L)^T / det, so that
   * s = x * inv (row vector) */
  inv[0] = (bb[1] * c[2] - bb[2] * c[1]) / det;
  inv[1] = (a[2] * c[1] - a[1] * c[2]) / det;
  inv[2] = (a[1] * bb[2] - a[2] * bb[1]) / det;
  inv[3] = (bb[2] * c[0] - bb[0] * c[2]) / det;
  inv[4] = (a[0] * c[2] - a[2] * c[0]) / det;
  inv[5] = (a[2] * bb[0] - a[0] * bb[2]) / det;
  inv[6] = (bb[0] * c[1] - bb[1] * c[0]) / det;
  inv[7] = (a[1] * c[0] - a[0] * c[1]) / det;
  inv[8] = (a[0] * bb[1] - a[1] * bb[0]) / det;
  return 0;
}

/* ---------------------------------------------------------------- */
/* Reader                                                            */
/* ---------------------------------------------------------------- */

/* Atom count line of a frame (already in sc->line). */
static int count_line(eng__scan *sc, int64_t *n) {
  char *tok[2], q[64];
  int nt = eng__split(sc->line, tok, 1, NULL);
  if (nt != 1 || eng__parse_int64(tok[0], n) != 0 || *n < 1 || *n > INT_MAX)
    return eng__scan_fail(sc,
                          "expected the number of atoms (an integer 1..%d) alone on the line, "
                          "got %s%s",
                          INT_MAX, nt >= 1 ? eng__quote(tok[0], q, sizeof q) : "an empty line",
                          nt > 1 ? " ..." : "");
  if ((uint64_t)*n > eng__scan_left(sc) / ENG__MIN_ATOM_LINE + 1)
    return eng__scan_fail(sc,
                          "expected room for %lld atom lines, got only %zu bytes left in the "
                          "file",
                          (long long)*n, eng__scan_left(sc));
  return ENG_OK;
}

static int species_type(eng_system *sys, const char *nm, int *type) {
  int t = eng_system_type_by_name(sys, nm);
  if (t >= 0) {
    *type = t;
    return ENG_OK;
  }
  for (t = 0; t < sys->ntypes; t++)
    if (!sys->type_name[t][0]) break;
  if (t == sys->ntypes) {
    if (t >= ENG__MAX_TYPES) return ENG_ERANGE;
    if (eng__system_set_ntypes(sys, t + 1)) return ENG_ENOMEM;
  }
  snprintf(sys->type_name[t], ENG_NAME_MAX, "%s", nm);
  *type = t;
  return ENG_OK;
}

/* Parse the atom lines of the selected frame (count line and comment
 * already read). */
static int xyz_atoms(eng__scan *sc, const eng_read_opts *opts, int64_t n, xyz_info *info,
                     long info_line, eng_system **out) {
  eng_system *sys = NULL;
  long *line = NULL;
  char **tok = NULL, q[64];
  double inv[9];
  int restricted = 1, rc = ENG_OK, have_species = 0, have_pos = 0, nfixed;
  int nlisted = eng__list_count(opts->type_names);
  tok = eng__malloc(MAXCOLS + 1, sizeof *tok);
  sys = eng_system_create((int)n, 1);
  line = eng__calloc((size_t)n, sizeof *line);
  if (!tok || !sys || !line) {
    rc = ENG_ENOMEM;
    goto out;
  }
  for (int g = 0; g < info->ncols; g++) {
    xyz_col *c = &info->cols[g];
    eng_prop *p;
    if (c->role == ROLE_SPECIES) have_species = 1;
    if (c->role == ROLE_POS) have_pos = 1;
    if (c->role == ROLE_VELO && eng_system_alloc_velocities(sys)) {
      rc = ENG_ENOMEM;
      goto out;
    }
    if (c->role != ROLE_PROP) continue;
    rc = eng_system_add_prop(sys, c->name,
                             c->kind == 'S'   ? ENG_PROP_STR
                             : c->kind == 'R' ? ENG_PROP_REAL
                                              : ENG_PROP_INT,
                             c->ncomp, &p);
    if (rc) goto out;
    c->prop = sys->nprops - 1;
  }
  if (!have_species || !have_pos) {
    rc = eng__fail_at(sc->name, info_line, "expected %s in Properties",
                      have_species ? "pos:R:3" : "species:S:1");
    goto out;
  }
  for (int k = 0; k < nlisted && k < ENG__MAX_TYPES; k++) {
    char nm[ENG_NAME_MAX];
    int t;
    eng__list_name(opts->type_names, k, nm);
    rc = species_type(sys, nm, &t);
    if (rc) goto out;
  }
  nfixed = sys->type_name[0][0] ? sys->ntypes : 0;
  /* box */
  if (info->has_lattice) {
    if (lattice_box(info->lattice, &sys->box, inv, &restricted)) {
      rc = eng__fail_at(sc->name, info_line,
                        "expected three independent Lattice vectors, got a degenerate cell");
      goto out;
    }
    for (int k = 0; k < 3; k++) {
      sys->box.lo[k] = info->has_origin ? info->origin[k] : 0.0;
      sys->box.periodic[k] = info->pbc[k];
    }
    rc = eng__check_box(&sys->box, sc->name, info_line);
    if (rc) goto out;
  } else {
    for (int k = 0; k < 3; k++) {
      if (info->pbc[k]) {
        rc = eng__fail_at(sc->name, info_line, "expected Lattice= with a periodic direction (pbc)");
        goto out;
      }
      sys->box.periodic[k] = 0;
    }
  }
  for (long i = 0; i < n; i++) {
    int nt, col = 0;
    rc = eng__scan_next(sc);
    if (rc < 0) goto out;
    if (rc == 0) {
      rc = eng__fail_at(sc->name, sc->lineno + 1,
                        "expected %lld atom lines, got %ld before the end of the file "
                        "(truncated?)",
                        (long long)n, i);
      goto out;
    }
    rc = ENG_OK;
    nt = eng__split(sc->line, tok, MAXCOLS, NULL);
    if (nt != info->ntok) {
      rc = eng__scan_fail(sc, "expected %d columns (from Properties), got %s%d", info->ntok,
                          nt > MAXCOLS ? "more than " : "", nt > MAXCOLS ? MAXCOLS : nt);
      goto out;
    }
    line[i] = sc->lineno;
    sys->id[i] = i + 1;
    for (int g = 0; g < info->ncols; g++) {
      xyz_col *c = &info->cols[g];
      eng_prop *p = c->prop >= 0 ? &sys->props[c->prop] : NULL;
      for (int m = 0; m < c->ncomp; m++, col++) {
        const char *t = tok[col];
        int64_t iv;
        double dv;
        int bv;
        char what[80];
#define WHAT() (snprintf(what, sizeof what, "%s (column %d)", c->name, col + 1), what)
        if (c->role == ROLE_SPECIES) {
          if (!eng__valid_species(t)) {
            rc = eng__scan_fail(sc, "expected a species name, got %s", eng__quote(t, q, sizeof q));
            goto out;
          }
          rc = species_type(sys, t, &sys->type[i]);
          if (rc == ENG_ERANGE)
            rc = eng__scan_fail(sc, "expected at most %d species", ENG__MAX_TYPES);
          if (rc) goto out;
        } else if (c->role == ROLE_ID) {
          if (eng__parse_int64(t, &iv) != 0 || iv < 1) {
            rc = eng__scan_fail(sc, "expected a positive atom id, got %s",
                                eng__quote(t, q, sizeof q));
            goto out;
          }
          sys->id[i] = iv;
        } else if (c->kind == 'R') {
          rc = eng__parse_double(t, &dv);
          if (rc) {
            rc = eng__scan_fail(sc, "expected a %snumber for %s, got %s", rc == -2 ? "finite " : "",
                                WHAT(), eng__quote(t, q, sizeof q));
            goto out;
          }
          if (c->role == ROLE_POS)
            sys->x[3 * i + m] = dv;
          else if (c->role == ROLE_VELO)
            sys->v[3 * i + m] = dv;
          else
            p->val[i * c->ncomp + m] = dv;
        } else if (c->kind == 'I') {
          if (eng__parse_int64(t, &iv) != 0) {
            rc = eng__scan_fail(sc, "expected an integer for %s, got %s", WHAT(),
                                eng__quote(t, q, sizeof q));
            goto out;
          }
          p->val[i * c->ncomp + m] = (double)iv;
        } else if (c->kind == 'L') {
          if (parse_bool(t, &bv)) {
            rc = eng__scan_fail(sc, "expected T or F for %s, got %s", WHAT(),
                                eng__quote(t, q, sizeof q));
            goto out;
          }
          p->val[i * c->ncomp + m] = bv;
        } else {
          p->str[i * c->ncomp + m] = strdup(t);
          if (!p->str[i * c->ncomp + m]) {
            rc = eng_set_error(ENG_ENOMEM, "out of memory");
            goto out;
          }
        }
#undef WHAT
      }
    }
    if (info->has_lattice) {
      double *x = &sys->x[3 * i];
      if (!restricted) {
        /* fractional coordinates in the given cell, then the same ones in
         * the restricted cell: a rotation (reflection if left-handed)
         * about the origin */
        double d[3], s[3];
        for (int k = 0; k < 3; k++) d[k] = x[k] - sys->box.lo[k];
        for (int k = 0; k < 3; k++) s[k] = d[0] * inv[k] + d[1] * inv[3 + k] + d[2] * inv[6 + k];
        eng_box_from_frac(&sys->box, s, x);
        for (int k = 0; k < 3; k++)
          if (!isfinite(x[k])) {
            rc = eng__scan_fail(sc, "expected a position giving a finite rotated position");
            goto out;
          }
      }
      if (!eng__inside_nonperiodic(&sys->box, x)) {
        rc = eng__scan_fail(sc, "expected the atom inside the non-periodic box, got %.9g %.9g %.9g",
                            x[0], x[1], x[2]);
        goto out;
      }
    }
  }
  if (!info->has_lattice) {
    /* no cell: a non-periodic box enclosing the atoms, 1 A margin */
    double lo[3], hi[3];
    for (int k = 0; k < 3; k++) {
      lo[k] = hi[k] = sys->x[k];
      for (long i = 1; i < n; i++) {
        lo[k] = fmin(lo[k], sys->x[3 * i + k]);
        hi[k] = fmax(hi[k], sys->x[3 * i + k]);
      }
      sys->box.lo[k] = lo[k] - 1.0;
      sys->box.len[k] = (hi[k] + 1.0) - sys->box.lo[k];
    }
    rc = eng__check_box(&sys->box, sc->name, info_line);
    if (rc) goto out;
  }
  for (int t = 0; t < sys->ntypes; t++) sys->type_mass[t] = eng_element_mass(sys->type_name[t]);
  rc = eng__finish_system(sys, line, sc->name, info_line, opts->min_width);
  if (!rc) rc = eng__renumber_types(sys, nfixed);
  if (rc) goto out;
  *out = sys;
  sys = NULL;
out:
  eng_system_free(sys);
  free(line);
  free(tok);
  return rc;
}

int eng__read_extxyz(const char *buf, size_t len, const char *name, const eng_read_opts *opts,
                     eng_system **out) {
  eng__scan sc;
  xyz_info *info = NULL;
  long nframes = 0, sel_line = 0;
  size_t sel_pos = 0;
  int64_t n = 0;
  int rc;
  rc = eng__scan_init(&sc, buf, len, name);
  if (rc) return rc;
  info = eng__malloc(1, sizeof *info);
  if (!info) {
    rc = ENG_ENOMEM;
    goto out;
  }
  /* pass 1: find the frame, checking the structure of those before it
   * (all of them for the last frame) */
  for (;;) {
    size_t pos = sc.pos;
    long lineno = sc.lineno;
    rc = eng__scan_next(&sc);
    if (rc < 0) goto out;
    if (rc == 0) break;
    if (eng__blank(sc.line, 0)) continue;
    rc = count_line(&sc, &n);
    if (rc) goto out;
    sel_pos = pos;
    sel_line = lineno;
    if (opts->frame == nframes) {
      nframes++;
      break;
    }
    nframes++;
    rc = eng__scan_next(&sc);
    if (rc < 0) goto out;
    if (rc == 0) {
      rc = eng__fail_at(name, sc.lineno + 1, "expected the comment line, got the end of the file");
      goto out;
    }
    for (long i = 0; i < n; i++) {
      rc = eng__scan_next(&sc);
      if (rc < 0) goto out;
      if (rc == 0) {
        rc = eng__fail_at(name, sc.lineno + 1,
                          "expected %lld atom lines in frame %ld, got %ld before the end of the "
                          "file (truncated?)",
                          (long long)n, nframes - 1, i);
        goto out;
      }
    }
  }
  if (nframes == 0) {
    rc = eng__fail_at(name, sc.lineno + 1, "expected the number of atoms, got the end of the file");
    goto out;
  }
  if (opts->frame >= nframes) {
    rc = eng_set_error(ENG_EINVAL, "%s:%ld: frame %d requested, the file has %ld frames", name,
                       sc.lineno, opts->frame, nframes);
    goto out;
  }
  /* pass 2: the selected frame */
  sc.pos = sel_pos;
  sc.lineno = sel_line;
  rc = eng__scan_next(&sc);
  assert(rc == 1);
  rc = count_line(&sc, &n);
  if (rc) goto out;
  rc = eng__scan_next(&sc);
  if (rc < 0) goto out;
  if (rc == 0) {
    rc = eng__fail_at(name, sc.lineno + 1, "expected the comment line, got the end of the file");
    goto out;
  }
  rc = parse_comment(&sc, info);
  if (rc) goto out;
  rc = xyz_atoms(&sc, opts, n, info, sc.lineno, out);
  if (rc) goto out;
  /* the frame must end where its atom count says */
  for (;;) {
    char *tok[2], q[64];
    int64_t m;
    rc = eng__scan_next(&sc);
    if (rc <= 0) break;
    if (eng__blank(sc.line, 0)) continue;
    if (eng__split(sc.line, tok, 1, NULL) != 1 || eng__parse_int64(tok[0], &m) != 0)
      rc = eng__scan_fail(&sc,
                          "expected the atom count of a next frame or the end of the file "
                          "after %lld atom lines, got %s",
                          (long long)n, eng__quote(sc.line, q, sizeof q));
    break;
  }
  if (rc > 0) rc = ENG_OK;
  if (rc) {
    eng_system_free(*out);
    *out = NULL;
  }
out:
  free(info);
  eng__scan_free(&sc);
  return rc;
}

/* ---------------------------------------------------------------- */
/* Writer                                                            */
/* ---------------------------------------------------------------- */

/* 1 if a property name can be a Properties column name. */
static int column_name_ok(const char *nm) {
  static const char *const reserved[] = {"species", "pos", "id", "velo"};
  if (!*nm) return 0;
  for (const char *p = nm; *p; p++)
    if (!isgraph((unsigned char)*p) || *p == ':' || *p == '"' || *p == '=' || *p == '\\') return 0;
  for (size_t k = 0; k < sizeof reserved / sizeof reserved[0]; k++)
    if (strcmp(nm, reserved[k]) == 0) return 0;
  return 1;
}

static int string_ok(const char *s) {
  if (!s || !*s) return 1; /* written as "_" */
  for (const char *p = s; *p; p++)
    if (!isgraph((unsigned char)*p)) return 0;
  return 1;
}

int eng__write_extxyz(FILE *f, const eng_system *s) {
  char a[40];
  const eng_box *b = &s->box;
  const double lat[9] = {b->len[0], 0.0, 0.0, b->xy, b->len[1], 0.0, b->xz, b->yz, b->len[2]};
  for (int k = 0; k < s->nprops; k++) {
    const eng_prop *p = &s->props[k];
    if (!column_name_ok(p->name))
      return eng_set_error(ENG_EINVAL,
                           "cannot write property '%s' as an extended XYZ column (reserved name "
                           "or ':', '\"', '=' or a blank in it)",
                           p->name);
    if (p->kind == ENG_PROP_STR)
      for (long m = 0; m < (long)s->natoms * p->ncomp; m++)
        if (!string_ok(p->str[m]))
          return eng_set_error(ENG_EINVAL, "cannot write property '%s': a value holds a blank",
                               p->name);
  }
  fprintf(f, "%d\nLattice=\"", s->natoms);
  for (int k = 0; k < 9; k++) {
    eng__fmt_double(a, sizeof a, lat[k]);
    fprintf(f, "%s%s", k ? " " : "", a);
  }
  fprintf(f, "\" Origin=\"");
  for (int k = 0; k < 3; k++) {
    eng__fmt_double(a, sizeof a, b->lo[k]);
    fprintf(f, "%s%s", k ? " " : "", a);
  }
  fprintf(f, "\" pbc=\"%c %c %c\" Properties=species:S:1:pos:R:3:id:I:1",
          b->periodic[0] ? 'T' : 'F', b->periodic[1] ? 'T' : 'F', b->periodic[2] ? 'T' : 'F');
  if (s->v) fprintf(f, ":velo:R:3");
  for (int k = 0; k < s->nprops; k++) {
    const eng_prop *p = &s->props[k];
    fprintf(f, ":%s:%c:%d", p->name,
            p->kind == ENG_PROP_STR   ? 'S'
            : p->kind == ENG_PROP_INT ? 'I'
                                      : 'R',
            p->ncomp);
  }
  fputc('\n', f);
  for (int i = 0; i < s->natoms; i++) {
    const char *nm = s->type_name[s->type[i]];
    if (eng__valid_species(nm))
      fputs(nm, f);
    else
      fprintf(f, "T%d", s->type[i] + 1);
    for (int k = 0; k < 3; k++) {
      eng__fmt_double(a, sizeof a, s->x[3 * i + k]);
      fprintf(f, " %s", a);
    }
    fprintf(f, " %lld", (long long)s->id[i]);
    if (s->v)
      for (int k = 0; k < 3; k++) {
        eng__fmt_double(a, sizeof a, s->v[3 * i + k]);
        fprintf(f, " %s", a);
      }
    for (int k = 0; k < s->nprops; k++) {
      const eng_prop *p = &s->props[k];
      for (int m = 0; m < p->ncomp; m++) {
        long j = (long)i * p->ncomp + m;
        if (p->kind == ENG_PROP_STR) {
          fprintf(f, " %s", p->str[j] && *p->str[j] ? p->str[j] : "_");
        } else if (p->kind == ENG_PROP_INT) {
          fprintf(f, " %.0f", p->val[j]);
        } else {
          eng__fmt_double(a, sizeof a, p->val[j]);
          fprintf(f, " %s", a);
        }
      }
    }
    fputc('\n', f);
  }
  return ENG_OK;
}
