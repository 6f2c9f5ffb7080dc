/*
 * io_lammps.c -- LAMMPS structure files: the data file reader and writer
 * (atom_style atomic: header, Masses, Atom Type Labels, Atoms, Velocities)
 * and the text dump reader (ITEM: blocks, orthogonal and triclinic boxes,
 * any column order, wrapped/scaled/unwrapped positions, frame selection).
 * The rules (species resolution, box conversion, errors) are in
 * docs/formats.md.
 */
#include "io_common.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAXTOK 64

/* ------------------------------------------------------------------ */
/* Data file: sections                                                 */
/* ------------------------------------------------------------------ */

enum section {
  SEC_NONE = 0,
  SEC_MASSES,
  SEC_LABELS,
  SEC_ATOMS,
  SEC_VELOCITIES,
  SEC_PAIR,
  SEC_PAIRIJ,
  SEC_UNSUPPORTED,
  SEC_COUNT
};

static const struct {
  const char *name;
  enum section sec;
} section_names[] = {
    {"Masses", SEC_MASSES},
    {"Atom Type Labels", SEC_LABELS},
    {"Atoms", SEC_ATOMS},
    {"Velocities", SEC_VELOCITIES},
    {"Pair Coeffs", SEC_PAIR},
    {"PairIJ Coeffs", SEC_PAIRIJ},
    {"Bonds", SEC_UNSUPPORTED},
    {"Angles", SEC_UNSUPPORTED},
    {"Dihedrals", SEC_UNSUPPORTED},
    {"Impropers", SEC_UNSUPPORTED},
    {"Bond Coeffs", SEC_UNSUPPORTED},
    {"Angle Coeffs", SEC_UNSUPPORTED},
    {"Dihedral Coeffs", SEC_UNSUPPORTED},
    {"Improper Coeffs", SEC_UNSUPPORTED},
    {"BondBond Coeffs", SEC_UNSUPPORTED},
    {"BondAngle Coeffs", SEC_UNSUPPORTED},
    {"Ellipsoids", SEC_UNSUPPORTED},
    {"Lines", SEC_UNSUPPORTED},
    {"Triangles", SEC_UNSUPPORTED},
    {"Bodies", SEC_UNSUPPORTED},
    {"Bond Type Labels", SEC_UNSUPPORTED},
    {"Angle Type Labels", SEC_UNSUPPORTED},
    {"Dihedral Type Labels", SEC_UNSUPPORTED},
    {"Improper Type Labels", SEC_UNSUPPORTED},
};

/* Which section keyword the line is (SEC_NONE if none).  *hint gets the
 * first word of a trailing comment ("atomic" in "Atoms # atomic"), or "". */
static enum section section_of(const char *line, char *hint, size_t hsize, const char **secname) {
  char copy[256], joined[256], *tok[8], *comment;
  int n;
  size_t k = 0;
  hint[0] = '\0';
  while (*line == ' ' || *line == '\t') line++;
  if (!(*line >= 'A' && *line <= 'Z')) return SEC_NONE; /* fast path: atom lines */
  if (strlen(line) >= sizeof copy) return SEC_NONE;
  memcpy(copy, line, strlen(line) + 1);
  n = eng__split(copy, tok, 4, &comment);
  if (n < 1 || n > 4) return SEC_NONE;
  joined[0] = '\0';
  for (int i = 0; i < n; i++) {
    k += (size_t)snprintf(joined + k, sizeof joined - k, "%s%s", i ? " " : "", tok[i]);
    if (k >= sizeof joined) return SEC_NONE;
  }
  for (size_t i = 0; i < sizeof section_names / sizeof section_names[0]; i++) {
    if (strcmp(joined, section_names[i].name) == 0) {
      if (comment) {
        char *ct[1];
        if (eng__split(comment, ct, 1, NULL) >= 1) snprintf(hint, hsize, "%s", ct[0]);
      }
      *secname = section_names[i].name;
      return section_names[i].sec;
    }
  }
  return SEC_NONE;
}

/* Next line that is not blank or a comment.  1, 0 at end, <0 on error. */
static int next_content(eng__scan *s) {
  for (;;) {
    int rc = eng__scan_next(s);
    if (rc <= 0) return rc;
    if (!eng__blank(s->line, 1)) return 1;
  }
}

/* Parse an integer token in [lo, hi]; on failure set a message naming
 * what and return ENG_EPARSE. */
static int want_int(eng__scan *s, const char *tok, int64_t lo, int64_t hi, const char *what,
                    int64_t *out) {
  char q[64];
  int64_t v;
  if (eng__parse_int64(tok, &v) != 0 || v < lo || v > hi)
    return eng__scan_fail(s, "expected %s (an integer %lld..%lld), got %s", what, (long long)lo,
                          (long long)hi, eng__quote(tok, q, sizeof q));
  *out = v;
  return ENG_OK;
}

static int want_real(eng__scan *s, const char *tok, const char *what, double *out) {
  char q[64];
  int rc = eng__parse_double(tok, out);
  if (rc == -2)
    return eng__scan_fail(s, "expected a finite number for %s, got %s", what,
                          eng__quote(tok, q, sizeof q));
  if (rc != 0)
    return eng__scan_fail(s, "expected a number for %s, got %s", what,
                          eng__quote(tok, q, sizeof q));
  return ENG_OK;
}

/* State of a data file read. */
typedef struct data_reader {
  eng__scan sc;
  const char *name;
  const eng_read_opts *opts;
  int64_t natoms, ntypes;
  int have_natoms, have_ntypes, have_box[3];
  eng_box box;
  long box_line, natoms_line;
  eng_system *sys;
  long *line;                     /* per-atom line numbers */
  char (*label)[ENG_NAME_MAX];    /* type labels */
  char (*mcomment)[ENG_NAME_MAX]; /* species from Masses comments */
  double *mass;                   /* masses from the Masses section (0 = none) */
  int seen[SEC_COUNT];
} data_reader;

/* Type from a token: a number 1..ntypes or a type label. */
static int data_type(data_reader *r, const char *tok, int *type) {
  int64_t v;
  char q[64];
  if (eng__parse_int64(tok, &v) == 0) {
    if (v < 1 || v > r->ntypes)
      return eng__scan_fail(&r->sc, "expected an atom type 1..%lld, got %lld", (long long)r->ntypes,
                            (long long)v);
    *type = (int)v - 1;
    return ENG_OK;
  }
  if (r->label) {
    for (int t = 0; t < r->ntypes; t++) {
      if (r->label[t][0] && strcmp(r->label[t], tok) == 0) {
        *type = t;
        return ENG_OK;
      }
    }
  }
  return eng__scan_fail(&r->sc, "expected an atom type 1..%lld or a type label, got %s",
                        (long long)r->ntypes, eng__quote(tok, q, sizeof q));
}

/* Header: until the first section keyword (left in r->sc.line).
 * Returns the section found, SEC_NONE at end of file, or <0. */
static int data_header(data_reader *r, enum section *sec, const char **secname) {
  char *tok[MAXTOK], *comment, hint[64], q[64];
  int rc, n;
  static const char *const zero_only[] = {"bonds",      "angles", "dihedrals", "impropers",
                                          "ellipsoids", "lines",  "triangles", "bodies"};
  for (;;) {
    rc = next_content(&r->sc);
    if (rc <= 0) {
      *sec = SEC_NONE;
      return rc;
    }
    *sec = section_of(r->sc.line, hint, sizeof hint, secname);
    if (*sec != SEC_NONE) return 1;
    n = eng__split(r->sc.line, tok, MAXTOK, &comment);
    if (n == 2 && strcmp(tok[1], "atoms") == 0) {
      rc = want_int(&r->sc, tok[0], 0, INT64_MAX, "the number of atoms", &r->natoms);
      if (rc) return rc;
      r->have_natoms = 1;
      r->natoms_line = r->sc.lineno;
    } else if (n == 3 && strcmp(tok[1], "atom") == 0 && strcmp(tok[2], "types") == 0) {
      rc = want_int(&r->sc, tok[0], 1, ENG__MAX_TYPES, "the number of atom types", &r->ntypes);
      if (rc) return rc;
      r->have_ntypes = 1;
    } else if (n == 4 && tok[2][0] >= 'x' && tok[2][0] <= 'z' && strcmp(tok[2] + 1, "lo") == 0 &&
               tok[3][0] == tok[2][0] && strcmp(tok[3] + 1, "hi") == 0) {
      int k = tok[2][0] - 'x';
      double lo, hi;
      char what[8];
      snprintf(what, sizeof what, "%clo", tok[2][0]);
      rc = want_real(&r->sc, tok[0], what, &lo);
      if (rc) return rc;
      what[1] = 'h';
      what[2] = 'i';
      rc = want_real(&r->sc, tok[1], what, &hi);
      if (rc) return rc;
      if (!(hi > lo))
        return eng__scan_fail(&r->sc, "expected %chi > %clo, got %.17g %.17g", tok[2][0], tok[2][0],
                              lo, hi);
      r->box.lo[k] = lo;
      r->box.len[k] = hi - lo;
      r->have_box[k] = 1;
      r->box_line = r->sc.lineno;
    } else if (n == 6 && strcmp(tok[3], "xy") == 0 && strcmp(tok[4], "xz") == 0 &&
               strcmp(tok[5], "yz") == 0) {
      rc = want_real(&r->sc, tok[0], "xy", &r->box.xy);
      if (!rc) rc = want_real(&r->sc, tok[1], "xz", &r->box.xz);
      if (!rc) rc = want_real(&r->sc, tok[2], "yz", &r->box.yz);
      if (rc) return rc;
    } else {
      int handled = 0;
      for (size_t k = 0; k < sizeof zero_only / sizeof zero_only[0]; k++) {
        int64_t v;
        int types = n == 3 && strcmp(tok[2], "types") == 0 &&
                    strncmp(tok[1], zero_only[k], strlen(zero_only[k]) - 1) == 0 &&
                    strlen(tok[1]) == strlen(zero_only[k]) - 1;
        if (!((n == 2 && strcmp(tok[1], zero_only[k]) == 0) || types)) continue;
        rc = want_int(&r->sc, tok[0], 0, 0, "0 (atom_style atomic has no molecular topology)", &v);
        if (rc) return rc;
        handled = 1;
      }
      if (!handled) {
        char raw[200];
        /* re-join the first tokens for the message */
        snprintf(raw, sizeof raw, "%s%s%s", n > 0 ? tok[0] : "", n > 1 ? " " : "",
                 n > 1 ? tok[1] : "");
        return eng__scan_fail(&r->sc,
                              "expected a header line (N atoms, N atom types, xlo xhi, ylo yhi, "
                              "zlo zhi, xy xz yz) or a section keyword, got %s%s",
                              eng__quote(raw, q, sizeof q), n > 2 ? " ..." : "");
      }
    }
  }
}

/* Read the count body lines of a section; each is passed to fn.  Blank and
 * comment lines are skipped.  After them, the next content line must be a
 * section keyword (left in sc.line with *next set) or the end. */
typedef int (*line_fn)(data_reader *r, long k);

static int data_body(data_reader *r, const char *secname, long count, line_fn fn,
                     enum section *next, const char **nextname) {
  char hint[64];
  int rc;
  for (long k = 0; k < count; k++) {
    rc = next_content(&r->sc);
    if (rc < 0) return rc;
    if (rc == 0)
      return eng__fail_at(r->name, r->sc.lineno + 1,
                          "expected %ld lines in the %s section, got %ld before the end of the "
                          "file (truncated?)",
                          count, secname, k);
    if (section_of(r->sc.line, hint, sizeof hint, nextname) != SEC_NONE)
      return eng__scan_fail(&r->sc,
                            "expected %ld lines in the %s section, got %ld before the %s section",
                            count, secname, k, *nextname);
    rc = fn(r, k);
    if (rc) return rc;
  }
  rc = next_content(&r->sc);
  if (rc < 0) return rc;
  if (rc == 0) {
    *next = SEC_NONE;
    return ENG_OK;
  }
  *next = section_of(r->sc.line, hint, sizeof hint, nextname);
  if (*next == SEC_NONE) {
    char q[64];
    return eng__scan_fail(&r->sc,
                          "expected a section keyword or the end of the file after the %ld "
                          "lines of the %s section (count from the header), got %s",
                          count, secname, eng__quote(r->sc.line, q, sizeof q));
  }
  return ENG_OK;
}

static int masses_line(data_reader *r, long k) {
  char *tok[MAXTOK], *comment;
  int n = eng__split(r->sc.line, tok, MAXTOK, &comment), type = 0, rc;
  double m;
  (void)k;
  if (n != 2)
    return eng__scan_fail(&r->sc, "expected 2 columns in the Masses section (type mass), got %d",
                          n);
  rc = data_type(r, tok[0], &type);
  if (!rc) rc = want_real(&r->sc, tok[1], "the mass", &m);
  if (rc) return rc;
  if (!(m > 0.0)) return eng__scan_fail(&r->sc, "expected a positive mass, got %.17g", m);
  r->mass[type] = m;
  if (comment) {
    char *ct[1];
    if (eng__split(comment, ct, 1, NULL) >= 1 && eng__valid_species(ct[0]))
      snprintf(r->mcomment[type], ENG_NAME_MAX, "%s", ct[0]);
  }
  return ENG_OK;
}

static int labels_line(data_reader *r, long k) {
  char *tok[MAXTOK], *comment, q[64];
  int n = eng__split(r->sc.line, tok, MAXTOK, &comment);
  int64_t t = 0;
  int rc;
  (void)k;
  if (n != 2)
    return eng__scan_fail(&r->sc,
                          "expected 2 columns in the Atom Type Labels section (type label), "
                          "got %d",
                          n);
  rc = want_int(&r->sc, tok[0], 1, r->ntypes, "an atom type", &t);
  if (rc) return rc;
  if (!eng__valid_species(tok[1]))
    return eng__scan_fail(&r->sc,
                          "expected a type label of 1..%d characters not starting with a digit, "
                          "got %s",
                          ENG_NAME_MAX - 1, eng__quote(tok[1], q, sizeof q));
  snprintf(r->label[t - 1], ENG_NAME_MAX, "%s", tok[1]);
  return ENG_OK;
}

static int atoms_line(data_reader *r, long k) {
  char *tok[MAXTOK], *comment;
  int n = eng__split(r->sc.line, tok, MAXTOK, &comment), type = 0, rc;
  eng_system *sys = r->sys;
  int64_t id = 0;
  if (n != 5 && n != 8)
    return eng__scan_fail(&r->sc,
                          "expected 5 or 8 columns in the Atoms section (id type x y z "
                          "[ix iy iz]), got %d",
                          n > MAXTOK ? MAXTOK : n);
  rc = want_int(&r->sc, tok[0], 1, INT64_MAX, "a positive atom id", &id);
  if (!rc) rc = data_type(r, tok[1], &type);
  for (int d = 0; d < 3 && !rc; d++) {
    static const char *const what[3] = {"x", "y", "z"};
    rc = want_real(&r->sc, tok[2 + d], what[d], &sys->x[3 * k + d]);
  }
  if (rc) return rc;
  sys->id[k] = id;
  sys->type[k] = type;
  r->line[k] = r->sc.lineno;
  if (n == 8) {
    if (!sys->image && eng_system_alloc_images(sys)) return ENG_ENOMEM;
    for (int d = 0; d < 3; d++) {
      int64_t im = 0;
      static const char *const what[3] = {"image flag ix", "image flag iy", "image flag iz"};
      rc = want_int(&r->sc, tok[5 + d], INT_MIN, INT_MAX, what[d], &im);
      if (rc) return rc;
      sys->image[3 * k + d] = (int)im;
    }
  }
  return ENG_OK;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t p = *(const int64_t *)a, q = *(const int64_t *)b;
  return (p > q) - (p < q);
}

static int velocities_line(data_reader *r, long k) {
  char *tok[MAXTOK], *comment;
  int n = eng__split(r->sc.line, tok, MAXTOK, &comment), rc;
  eng_system *sys = r->sys;
  int64_t id = 0, *found;
  long i;
  double v[3];
  (void)k;
  if (n != 4)
    return eng__scan_fail(&r->sc,
                          "expected 4 columns in the Velocities section (id vx vy vz), got %d",
                          n > MAXTOK ? MAXTOK : n);
  rc = want_int(&r->sc, tok[0], 1, INT64_MAX, "a positive atom id", &id);
  for (int d = 0; d < 3 && !rc; d++) {
    static const char *const what[3] = {"vx", "vy", "vz"};
    rc = want_real(&r->sc, tok[1 + d], what[d], &v[d]);
  }
  if (rc) return rc;
  /* atoms are sorted by id once the Atoms section is read */
  found = bsearch(&id, sys->id, (size_t)sys->natoms, sizeof *sys->id, cmp_i64);
  if (!found)
    return eng__scan_fail(&r->sc, "expected the id of an atom of the Atoms section, got %lld",
                          (long long)id);
  i = found - sys->id;
  if (r->line[i] < 0)
    return eng__scan_fail(&r->sc, "expected one velocity per atom, got atom %lld again (line %ld)",
                          (long long)id, -r->line[i]);
  r->line[i] = -r->sc.lineno; /* negative: velocity seen */
  memcpy(&sys->v[3 * i], v, sizeof v);
  return ENG_OK;
}

static int skip_line(data_reader *r, long k) {
  (void)r;
  (void)k;
  return ENG_OK;
}

/* Species and masses of every type, in the documented order. */
static void data_species(data_reader *r) {
  eng_system *sys = r->sys;
  for (int t = 0; t < sys->ntypes; t++) {
    char *nm = sys->type_name[t];
    nm[0] = '\0';
    if (r->label && r->label[t][0]) {
      snprintf(nm, ENG_NAME_MAX, "%s", r->label[t]);
    } else if (r->mcomment[t][0]) {
      snprintf(nm, ENG_NAME_MAX, "%s", r->mcomment[t]);
    } else if (eng__list_name(r->opts->type_names, t, nm) == 0) {
      /* from opts->type_names */
    } else if (r->mass[t] > 0.0) {
      const char *el = eng__element_by_mass(r->mass[t], 0.1);
      if (el) snprintf(nm, ENG_NAME_MAX, "%s", el);
    }
    sys->type_mass[t] = r->mass[t] > 0.0 ? r->mass[t] : (nm[0] ? eng_element_mass(nm) : 0.0);
  }
}

int eng__read_lammps_data(const char *buf, size_t len, const char *name, const eng_read_opts *opts,
                          eng_system **out) {
  data_reader r;
  enum section sec;
  const char *secname = "";
  char hint[64], q[64];
  int rc;
  memset(&r, 0, sizeof r);
  r.name = name;
  r.opts = opts;
  rc = eng__scan_init(&r.sc, buf, len, name);
  if (rc) goto out;
  /* line 1 is a title */
  rc = eng__scan_next(&r.sc);
  if (rc < 0) goto out;
  if (rc == 0 || eng__scan_left(&r.sc) == 0) {
    rc = eng__fail_at(name, r.sc.lineno + 1,
                      "expected a LAMMPS data file header (N atoms ...), got the end of the file");
    goto out;
  }
  rc = data_header(&r, &sec, &secname);
  if (rc < 0) goto out;
  if (!r.have_natoms || !r.have_ntypes || !r.have_box[0] || !r.have_box[1] || !r.have_box[2]) {
    const char *missing = !r.have_natoms   ? "N atoms"
                          : !r.have_ntypes ? "N atom types"
                          : !r.have_box[0] ? "xlo xhi"
                          : !r.have_box[1] ? "ylo yhi"
                                           : "zlo zhi";
    rc = eng__fail_at(name, sec == SEC_NONE ? r.sc.lineno + 1 : r.sc.lineno,
                      "expected a '%s' line in the header before the first section", missing);
    goto out;
  }
  if (r.natoms < 1 || r.natoms > INT_MAX) {
    rc = eng__fail_at(name, r.natoms_line, "expected 1..%d atoms in the header, got %lld", INT_MAX,
                      (long long)r.natoms);
    goto out;
  }
  if ((uint64_t)r.natoms > eng__scan_left(&r.sc) / ENG__MIN_ATOM_LINE + 1) {
    rc = eng__fail_at(name, r.natoms_line,
                      "expected room for %lld atom lines (the header's count), got only %zu "
                      "bytes left in the file",
                      (long long)r.natoms, eng__scan_left(&r.sc));
    goto out;
  }
  r.box.periodic[0] = r.box.periodic[1] = r.box.periodic[2] = 1;
  rc = eng__check_box(&r.box, name, r.box_line);
  if (rc) goto out;
  r.sys = eng_system_create((int)r.natoms, (int)r.ntypes);
  r.line = eng__calloc((size_t)r.natoms, sizeof *r.line);
  r.mcomment = eng__calloc((size_t)r.ntypes, sizeof *r.mcomment);
  r.mass = eng__calloc((size_t)r.ntypes, sizeof *r.mass);
  if (!r.sys || !r.line || !r.mcomment || !r.mass) {
    rc = ENG_ENOMEM;
    goto out;
  }
  r.sys->box = r.box;
  while (sec != SEC_NONE) {
    enum section cur = sec;
    const char *curname = secname;
    section_of(r.sc.line, hint, sizeof hint, &secname);
    if (cur == SEC_UNSUPPORTED) {
      rc = eng__scan_fail(&r.sc, "expected atom_style atomic sections, got a %s section", curname);
      goto out;
    }
    if (r.seen[cur]) {
      rc = eng__scan_fail(&r.sc, "expected one %s section, got a second one", curname);
      goto out;
    }
    r.seen[cur] = 1;
    switch (cur) {
    case SEC_MASSES:
      rc = data_body(&r, curname, (long)r.ntypes, masses_line, &sec, &secname);
      break;
    case SEC_LABELS:
      /* labels may follow sections that used numeric types; a section
       * using a label before its definition fails in data_type */
      r.label = eng__calloc((size_t)r.ntypes, sizeof *r.label);
      rc = r.label ? data_body(&r, curname, (long)r.ntypes, labels_line, &sec, &secname)
                   : ENG_ENOMEM;
      break;
    case SEC_ATOMS:
      if (hint[0] && strcmp(hint, "atomic") != 0) {
        rc = eng__scan_fail(&r.sc, "expected atom style atomic, got %s",
                            eng__quote(hint, q, sizeof q));
        break;
      }
      rc = data_body(&r, curname, (long)r.natoms, atoms_line, &sec, &secname);
      if (!rc) rc = eng__finish_system(r.sys, r.line, name, r.box_line, opts->min_width);
      break;
    case SEC_VELOCITIES:
      if (!r.seen[SEC_ATOMS]) {
        rc = eng__scan_fail(&r.sc, "expected the Atoms section before Velocities");
        break;
      }
      rc = eng_system_alloc_velocities(r.sys);
      if (!rc) rc = data_body(&r, curname, (long)r.natoms, velocities_line, &sec, &secname);
      break;
    case SEC_PAIR:
      rc = data_body(&r, curname, (long)r.ntypes, skip_line, &sec, &secname);
      break;
    case SEC_PAIRIJ:
      rc = data_body(&r, curname, (long)(r.ntypes * (r.ntypes + 1) / 2), skip_line, &sec, &secname);
      break;
    default:
      assert(0);
      rc = ENG_EPARSE;
    }
    if (rc) goto out;
  }
  if (!r.seen[SEC_ATOMS]) {
    rc = eng__fail_at(name, r.sc.lineno + 1, "expected an Atoms section, got the end of the file");
    goto out;
  }
  data_species(&r);
  *out = r.sys;
  r.sys = NULL;
  rc = ENG_OK;
out:
  eng_system_free(r.sys);
  free(r.line);
  free(r.label);
  free(r.mcomment);
  free(r.mass);
  eng__scan_free(&r.sc);
  return rc;
}

/* ------------------------------------------------------------------ */
/* Data file writer                                                    */
/* ------------------------------------------------------------------ */

int eng__write_lammps_data(FILE *f, const eng_system *s) {
  char a[40], b[40], c[40];
  int masses = 1;
  const char *axis[3] = {"x", "y", "z"};
  fprintf(f, "LAMMPS data file written by pelmap %s (atom_style atomic)\n\n", ENG_VERSION);
  fprintf(f, "%d atoms\n%d atom types\n\n", s->natoms, s->ntypes);
  for (int k = 0; k < 3; k++) {
    eng__fmt_double(a, sizeof a, s->box.lo[k]);
    eng__fmt_double(b, sizeof b, eng__hi_exact(s->box.lo[k], s->box.len[k]));
    fprintf(f, "%s %s %slo %shi\n", a, b, axis[k], axis[k]);
  }
  if (eng_box_is_triclinic(&s->box)) {
    eng__fmt_double(a, sizeof a, s->box.xy);
    eng__fmt_double(b, sizeof b, s->box.xz);
    eng__fmt_double(c, sizeof c, s->box.yz);
    fprintf(f, "%s %s %s xy xz yz\n", a, b, c);
  }
  /* LAMMPS rejects masses <= 0: write the section only if every type has
   * one (known from the system or from the species name). */
  for (int t = 0; t < s->ntypes; t++)
    if (!(s->type_mass[t] > 0.0) && !(eng_element_mass(s->type_name[t]) > 0.0)) masses = 0;
  if (masses) {
    fprintf(f, "\nMasses\n\n");
    for (int t = 0; t < s->ntypes; t++) {
      double m = s->type_mass[t] > 0.0 ? s->type_mass[t] : eng_element_mass(s->type_name[t]);
      eng__fmt_double(a, sizeof a, m);
      if (eng__valid_species(s->type_name[t]))
        fprintf(f, "%d %s # %s\n", t + 1, a, s->type_name[t]);
      else
        fprintf(f, "%d %s\n", t + 1, a);
    }
  }
  fprintf(f, "\nAtoms # atomic\n\n");
  for (int i = 0; i < s->natoms; i++) {
    eng__fmt_double(a, sizeof a, s->x[3 * i]);
    eng__fmt_double(b, sizeof b, s->x[3 * i + 1]);
    eng__fmt_double(c, sizeof c, s->x[3 * i + 2]);
    fprintf(f, "%lld %d %s %s %s", (long long)s->id[i], s->type[i] + 1, a, b, c);
    if (s->image)
      fprintf(f, " %d %d %d", s->image[3 * i], s->image[3 * i + 1], s->image[3 * i + 2]);
    fputc('\n', f);
  }
  if (s->v) {
    fprintf(f, "\nVelocities\n\n");
    for (int i = 0; i < s->natoms; i++) {
      eng__fmt_double(a, sizeof a, s->v[3 * i]);
      eng__fmt_double(b, sizeof b, s->v[3 * i + 1]);
      eng__fmt_double(c, sizeof c, s->v[3 * i + 2]);
      fprintf(f, "%lld %s %s %s\n", (long long)s->id[i], a, b, c);
    }
  }
  return ENG_OK;
}

/* ------------------------------------------------------------------ */
/* Text dump reader                                                    */
/* ------------------------------------------------------------------ */

/* Column roles of an ITEM: ATOMS line. */
enum col_role { COL_PROP = 0, COL_ID, COL_TYPE, COL_ELEMENT, COL_POS, COL_IMAGE, COL_VEL };

typedef struct dump_frame {
  long start_line;  /* line number of ITEM: TIMESTEP */
  size_t start_pos; /* offset of that line */
} dump_frame;

typedef struct dump_reader {
  eng__scan sc;
  const char *name;
  const eng_read_opts *opts;
  int64_t natoms;
  int have_natoms, have_box;
  eng_box box;
  long box_line;
} dump_reader;

/* 1 if the line starts with "ITEM:" and the rest (blanks collapsed) starts
 * with what; *rest points after what. */
static int item_is(char *line, const char *what, char **rest) {
  char *p = line;
  size_t n = strlen(what);
  while (*p == ' ' || *p == '\t') p++;
  if (strncmp(p, "ITEM:", 5) != 0) return 0;
  p += 5;
  while (*p == ' ' || *p == '\t') p++;
  if (strncmp(p, what, n) != 0) return 0;
  if (p[n] != '\0' && p[n] != ' ' && p[n] != '\t') return 0;
  if (rest) *rest = p + n;
  return 1;
}

static int dump_need_line(dump_reader *r, const char *what) {
  int rc = eng__scan_next(&r->sc);
  if (rc < 0) return rc;
  if (rc == 0)
    return eng__fail_at(r->name, r->sc.lineno + 1, "expected %s, got the end of the file", what);
  return ENG_OK;
}

/* ITEM: BOX BOUNDS [xy xz yz] [ff ff ff] and its three lines. */
static int dump_box(dump_reader *r, char *rest) {
  char *tok[MAXTOK], q[64];
  int n = eng__split(rest, tok, MAXTOK, NULL), tri = 0, rc, nflags;
  double v[3][3] = {{0}};
  eng_box *b = &r->box;
  memset(b, 0, sizeof *b);
  if (n >= 3 && strcmp(tok[0], "xy") == 0 && strcmp(tok[1], "xz") == 0 && strcmp(tok[2], "yz") == 0)
    tri = 1;
  nflags = n - 3 * tri;
  if (nflags != 0 && nflags != 3)
    return eng__scan_fail(&r->sc,
                          "expected ITEM: BOX BOUNDS [xy xz yz] with 3 boundary flags (pp, ff, "
                          "ss, mm, ...), got %d words",
                          n);
  for (int k = 0; k < 3; k++) {
    const char *fl = nflags ? tok[3 * tri + k] : "pp";
    int ok = strlen(fl) == 2 && strchr("pfsm", fl[0]) && strchr("pfsm", fl[1]) &&
             ((fl[0] == 'p') == (fl[1] == 'p'));
    if (!ok)
      return eng__scan_fail(&r->sc, "expected a boundary flag pp, ff, ss, mm, fs, ... got %s",
                            eng__quote(fl, q, sizeof q));
    b->periodic[k] = fl[0] == 'p';
  }
  for (int k = 0; k < 3; k++) {
    char what[64];
    snprintf(what, sizeof what, "%s line %d of ITEM: BOX BOUNDS", tri ? "tilted bounds" : "bounds",
             k + 1);
    rc = dump_need_line(r, what);
    if (rc) return rc;
    n = eng__split(r->sc.line, tok, MAXTOK, NULL);
    if (n != 2 + tri)
      return eng__scan_fail(&r->sc, "expected %d numbers (%s), got %d", 2 + tri,
                            tri ? "lo_bound hi_bound tilt" : "lo hi", n > MAXTOK ? MAXTOK : n);
    for (int j = 0; j < 2 + tri; j++) {
      rc = want_real(&r->sc, tok[j], "a box bound", &v[k][j]);
      if (rc) return rc;
    }
  }
  r->box_line = r->sc.lineno;
  b->xy = v[0][2];
  b->xz = v[1][2];
  b->yz = v[2][2];
  {
    /* bounding box -> LAMMPS box (see docs/formats.md) */
    double xy = b->xy, xz = b->xz, yz = b->yz;
    double xmin = fmin(fmin(0.0, xy), fmin(xz, xy + xz));
    double xmax = fmax(fmax(0.0, xy), fmax(xz, xy + xz));
    double xlo = v[0][0] - xmin, xhi = v[0][1] - xmax;
    double ylo = v[1][0] - fmin(0.0, yz), yhi = v[1][1] - fmax(0.0, yz);
    b->lo[0] = xlo;
    b->len[0] = xhi - xlo;
    b->lo[1] = ylo;
    b->len[1] = yhi - ylo;
    b->lo[2] = v[2][0];
    b->len[2] = v[2][1] - v[2][0];
  }
  r->have_box = 1;
  return eng__check_box(b, r->name, r->box_line);
}

/* Column name -> role and component. */
static enum col_role col_role_of(const char *c, int *comp, int *set) {
  static const char *const pos[4][3] = {
      {"x", "y", "z"}, {"xu", "yu", "zu"}, {"xs", "ys", "zs"}, {"xsu", "ysu", "zsu"}};
  static const char *const img[3] = {"ix", "iy", "iz"};
  static const char *const vel[3] = {"vx", "vy", "vz"};
  *comp = 0;
  *set = 0;
  if (strcmp(c, "id") == 0) return COL_ID;
  if (strcmp(c, "type") == 0) return COL_TYPE;
  if (strcmp(c, "element") == 0) return COL_ELEMENT;
  for (int s = 0; s < 4; s++)
    for (int k = 0; k < 3; k++)
      if (strcmp(c, pos[s][k]) == 0) {
        *comp = k;
        *set = s;
        return COL_POS;
      }
  for (int k = 0; k < 3; k++) {
    if (strcmp(c, img[k]) == 0) {
      *comp = k;
      return COL_IMAGE;
    }
    if (strcmp(c, vel[k]) == 0) {
      *comp = k;
      return COL_VEL;
    }
  }
  return COL_PROP;
}

/* Type index for an element name (types named by first appearance after
 * the opts->type_names list). */
static int dump_type_by_name(eng_system *sys, const char *nm, int *type) {
  int t = eng_system_type_by_name(sys, nm);
  if (t >= 0) {
    *type = t;
    return ENG_OK;
  }
  /* a fresh system has one unnamed type: use it first */
  for (t = 0; t < sys->ntypes; t++)
    if (sys->type_name[t][0] == '\0') break;
  if (t == sys->ntypes) {
    if (t >= ENG__MAX_TYPES) return -1;
    if (eng__system_set_ntypes(sys, t + 1)) return ENG_ENOMEM;
  }
  snprintf(sys->type_name[t], ENG_NAME_MAX, "%s", nm);
  *type = t;
  return ENG_OK;
}

/* The ITEM: ATOMS block of the selected frame: columns and natoms lines. */
static int dump_atoms(dump_reader *r, char *rest, eng_system **out) {
  char *cols[MAXTOK], *tok[MAXTOK], q[64];
  int ncol = eng__split(rest, cols, MAXTOK, NULL), rc = ENG_OK;
  enum col_role role[MAXTOK];
  int comp[MAXTOK], pset[MAXTOK], propidx[MAXTOK], allint[MAXTOK];
  int have[4] = {0}, chosen = -1, icol_type = -1, icol_el = -1;
  int nimg = 0, nvel = 0, maxtype = 0, nfixed = 0, nlisted = eng__list_count(r->opts->type_names);
  long *line = NULL;
  int *elem_line = NULL;
  eng_system *sys = NULL;
  long atoms_line = r->sc.lineno;
  if (ncol > MAXTOK) return eng__scan_fail(&r->sc, "expected at most %d columns", MAXTOK);
  for (int c = 0; c < ncol; c++) {
    for (int d = 0; d < c; d++)
      if (strcmp(cols[c], cols[d]) == 0)
        return eng__scan_fail(&r->sc, "expected distinct column names, got %s twice",
                              eng__quote(cols[c], q, sizeof q));
    role[c] = col_role_of(cols[c], &comp[c], &pset[c]);
    if (role[c] == COL_POS) have[pset[c]] |= 1 << comp[c];
    if (role[c] == COL_IMAGE) nimg++;
    if (role[c] == COL_VEL) nvel++;
    if (role[c] == COL_TYPE) icol_type = c;
    if (role[c] == COL_ELEMENT) icol_el = c;
  }
  for (int s = 0; s < 4 && chosen < 0; s++)
    if (have[s] == 7) chosen = s;
  if (chosen < 0)
    return eng__scan_fail(&r->sc,
                          "expected position columns x y z, xu yu zu, xs ys zs or xsu ysu zsu "
                          "in ITEM: ATOMS");
  if (icol_type < 0 && icol_el < 0)
    return eng__scan_fail(&r->sc, "expected a type or element column in ITEM: ATOMS");
  sys = eng_system_create((int)r->natoms, 1);
  line = eng__calloc((size_t)r->natoms, sizeof *line);
  elem_line = eng__calloc(ENG__MAX_TYPES, sizeof *elem_line);
  if (!sys || !line || !elem_line) {
    rc = ENG_ENOMEM;
    goto out;
  }
  sys->box = r->box;
  if (nimg == 3 && eng_system_alloc_images(sys)) {
    rc = ENG_ENOMEM;
    goto out;
  }
  if (nvel == 3 && eng_system_alloc_velocities(sys)) {
    rc = ENG_ENOMEM;
    goto out;
  }
  /* element-only dumps: the listed names take the first types */
  if (icol_type < 0) {
    for (int k = 0; k < nlisted && k < ENG__MAX_TYPES; k++) {
      char nm[ENG_NAME_MAX];
      int t;
      eng__list_name(r->opts->type_names, k, nm);
      if (eng_system_type_by_name(sys, nm) >= 0) continue;
      rc = dump_type_by_name(sys, nm, &t);
      if (rc) {
        rc = ENG_ENOMEM;
        goto out;
      }
    }
    nfixed = sys->type_name[0][0] ? sys->ntypes : 0;
  }
  for (int c = 0; c < ncol; c++) {
    eng_prop *p;
    propidx[c] = -1;
    allint[c] = 1;
    if ((role[c] == COL_POS && pset[c] != chosen) || (role[c] == COL_IMAGE && nimg != 3) ||
        (role[c] == COL_VEL && nvel != 3))
      role[c] = COL_PROP;
    if (role[c] != COL_PROP) continue;
    if (strlen(cols[c]) >= sizeof p->name) {
      rc = eng__fail_at(r->name, atoms_line, "expected a column name of at most %zu characters",
                        sizeof p->name - 1);
      goto out;
    }
    rc = eng_system_add_prop(sys, cols[c], ENG_PROP_REAL, 1, &p);
    if (rc) goto out;
    propidx[c] = sys->nprops - 1;
  }
  for (long i = 0; i < r->natoms; i++) {
    double pos[3];
    int n;
    rc = eng__scan_next(&r->sc);
    if (rc < 0) goto out;
    if (rc == 0) {
      rc = eng__fail_at(r->name, r->sc.lineno + 1,
                        "expected %lld atom lines after ITEM: ATOMS, got %ld before the end of "
                        "the file (truncated?)",
                        (long long)r->natoms, i);
      goto out;
    }
    rc = ENG_OK;
    n = eng__split(r->sc.line, tok, MAXTOK, NULL);
    if (n != ncol) {
      if (n > 0 && strncmp(tok[0], "ITEM:", 5) == 0)
        rc = eng__scan_fail(&r->sc, "expected %lld atom lines after ITEM: ATOMS, got %ld",
                            (long long)r->natoms, i);
      else
        rc = eng__scan_fail(&r->sc, "expected %d columns (as in ITEM: ATOMS), got %s%d", ncol,
                            n > MAXTOK ? "more than " : "", n > MAXTOK ? MAXTOK : n);
      goto out;
    }
    line[i] = r->sc.lineno;
    sys->id[i] = i + 1;
    for (int c = 0; c < ncol; c++) {
      int64_t iv;
      double dv;
      switch (role[c]) {
      case COL_ID:
        rc = want_int(&r->sc, tok[c], 1, INT64_MAX, "a positive atom id", &iv);
        if (!rc) sys->id[i] = iv;
        break;
      case COL_TYPE:
        rc = want_int(&r->sc, tok[c], 1, ENG__MAX_TYPES, "an atom type", &iv);
        if (!rc) {
          sys->type[i] = (int)iv - 1;
          if (iv > maxtype) maxtype = (int)iv;
        }
        break;
      case COL_ELEMENT:
        if (!eng__valid_species(tok[c])) {
          rc = eng__scan_fail(&r->sc, "expected an element name, got %s",
                              eng__quote(tok[c], q, sizeof q));
        }
        break;
      case COL_POS:
        rc = want_real(&r->sc, tok[c], cols[c], &pos[comp[c]]);
        break;
      case COL_IMAGE:
        rc = want_int(&r->sc, tok[c], INT_MIN, INT_MAX, cols[c], &iv);
        if (!rc) sys->image[3 * i + comp[c]] = (int)iv;
        break;
      case COL_VEL:
        rc = want_real(&r->sc, tok[c], cols[c], &sys->v[3 * i + comp[c]]);
        break;
      case COL_PROP:
        if (eng__parse_int64(tok[c], &iv) == 0 && llabs((long long)iv) < (1LL << 53)) {
          sys->props[propidx[c]].val[i] = (double)iv;
        } else {
          allint[c] = 0;
          rc = want_real(&r->sc, tok[c], cols[c], &dv);
          if (!rc) sys->props[propidx[c]].val[i] = dv;
        }
        break;
      }
      if (rc) goto out;
    }
    /* element after type (the type column may come later on the line) */
    if (icol_el >= 0) {
      const char *nm = tok[icol_el];
      if (icol_type >= 0) {
        int t = sys->type[i];
        if (t >= sys->ntypes && eng__system_set_ntypes(sys, t + 1)) {
          rc = ENG_ENOMEM;
          goto out;
        }
        if (!sys->type_name[t][0]) {
          snprintf(sys->type_name[t], ENG_NAME_MAX, "%s", nm);
          elem_line[t] = (int)r->sc.lineno;
        } else if (strcmp(sys->type_name[t], nm) != 0) {
          rc = eng__scan_fail(&r->sc, "expected element %s for type %d (as on line %d), got %s",
                              sys->type_name[t], t + 1, elem_line[t], eng__quote(nm, q, sizeof q));
          goto out;
        }
      } else {
        rc = dump_type_by_name(sys, nm, &sys->type[i]);
        if (rc) {
          if (rc != ENG_ENOMEM)
            rc = eng__scan_fail(&r->sc, "expected at most %d distinct elements", ENG__MAX_TYPES);
          goto out;
        }
      }
    }
    if (chosen >= 2) {
      eng_box_from_frac(&sys->box, pos, &sys->x[3 * i]);
      for (int k = 0; k < 3; k++)
        if (!isfinite(sys->x[3 * i + k])) {
          rc = eng__scan_fail(&r->sc, "expected scaled coordinates giving a finite position");
          goto out;
        }
    } else {
      memcpy(&sys->x[3 * i], pos, sizeof pos);
    }
    if (!eng__inside_nonperiodic(&sys->box, &sys->x[3 * i])) {
      rc = eng__scan_fail(&r->sc,
                          "expected atom %lld inside the non-periodic box, got position %.9g %.9g "
                          "%.9g",
                          (long long)sys->id[i], sys->x[3 * i], sys->x[3 * i + 1],
                          sys->x[3 * i + 2]);
      goto out;
    }
  }
  for (int c = 0; c < ncol; c++)
    if (propidx[c] >= 0 && allint[c]) sys->props[propidx[c]].kind = ENG_PROP_INT;
  if (icol_type >= 0) {
    int nt = maxtype > nlisted ? maxtype : nlisted;
    if (nt > sys->ntypes && eng__system_set_ntypes(sys, nt)) {
      rc = ENG_ENOMEM;
      goto out;
    }
    for (int t = 0; t < sys->ntypes; t++)
      if (!sys->type_name[t][0]) eng__list_name(r->opts->type_names, t, sys->type_name[t]);
  }
  for (int t = 0; t < sys->ntypes; t++)
    sys->type_mass[t] = sys->type_name[t][0] ? eng_element_mass(sys->type_name[t]) : 0.0;
  rc = eng__finish_system(sys, line, r->name, r->box_line, r->opts->min_width);
  if (!rc && icol_type < 0) rc = eng__renumber_types(sys, nfixed);
  if (rc) goto out;
  *out = sys;
  sys = NULL;
out:
  eng_system_free(sys);
  free(line);
  free(elem_line);
  return rc;
}

/* One frame from ITEM: TIMESTEP (already in sc.line) to its last atom
 * line.  With out == NULL the atom lines are only counted. */
static int dump_frame_read(dump_reader *r, eng_system **out) {
  char *rest, *tok[4], q[64];
  int rc;
  int64_t step;
  r->have_natoms = r->have_box = 0;
  rc = dump_need_line(r, "a timestep after ITEM: TIMESTEP");
  if (rc) return rc;
  if (eng__split(r->sc.line, tok, 1, NULL) != 1 || eng__parse_int64(tok[0], &step) != 0)
    return eng__scan_fail(&r->sc, "expected a timestep (an integer), got %s",
                          eng__quote(r->sc.line, q, sizeof q));
  for (;;) {
    rc = dump_need_line(r, "ITEM: ATOMS");
    if (rc) return rc;
    if (eng__blank(r->sc.line, 0)) continue;
    if (item_is(r->sc.line, "NUMBER OF ATOMS", NULL)) {
      rc = dump_need_line(r, "the number of atoms");
      if (rc) return rc;
      if (eng__split(r->sc.line, tok, 1, NULL) != 1)
        return eng__scan_fail(&r->sc, "expected the number of atoms, got %s",
                              eng__quote(r->sc.line, q, sizeof q));
      rc = want_int(&r->sc, tok[0], 1, INT_MAX, "the number of atoms", &r->natoms);
      if (rc) return rc;
      if ((uint64_t)r->natoms > eng__scan_left(&r->sc) / ENG__MIN_ATOM_LINE + 1)
        return eng__scan_fail(&r->sc,
                              "expected room for %lld atom lines, got only %zu bytes left in the "
                              "file",
                              (long long)r->natoms, eng__scan_left(&r->sc));
      r->have_natoms = 1;
    } else if (item_is(r->sc.line, "BOX BOUNDS", &rest)) {
      rc = dump_box(r, rest);
      if (rc) return rc;
    } else if (item_is(r->sc.line, "UNITS", NULL) || item_is(r->sc.line, "TIME", NULL)) {
      rc = dump_need_line(r, "a value after ITEM: UNITS / ITEM: TIME");
      if (rc) return rc;
    } else if (item_is(r->sc.line, "ATOMS", &rest)) {
      if (!r->have_natoms || !r->have_box)
        return eng__scan_fail(&r->sc, "expected ITEM: %s before ITEM: ATOMS",
                              r->have_natoms ? "BOX BOUNDS" : "NUMBER OF ATOMS");
      if (out) return dump_atoms(r, rest, out);
      for (long i = 0; i < r->natoms; i++) {
        rc = eng__scan_next(&r->sc);
        if (rc < 0) return rc;
        if (rc == 0)
          return eng__fail_at(r->name, r->sc.lineno + 1,
                              "expected %lld atom lines after ITEM: ATOMS, got %ld before the end "
                              "of the file (truncated?)",
                              (long long)r->natoms, i);
      }
      return ENG_OK;
    } else {
      return eng__scan_fail(&r->sc, "expected ITEM: NUMBER OF ATOMS, BOX BOUNDS or ATOMS, got %s",
                            eng__quote(r->sc.line, q, sizeof q));
    }
  }
}

int eng__read_lammps_dump(const char *buf, size_t len, const char *name, const eng_read_opts *opts,
                          eng_system **out) {
  dump_reader r;
  long nframes = 0, sel_line = 0;
  size_t sel_pos = 0;
  int rc;
  char q[64];
  memset(&r, 0, sizeof r);
  r.name = name;
  r.opts = opts;
  rc = eng__scan_init(&r.sc, buf, len, name);
  if (rc) goto out;
  /* pass 1: find the frame (walk frame structure, skipping atom lines) */
  for (;;) {
    size_t pos = r.sc.pos;
    long lineno = r.sc.lineno;
    rc = eng__scan_next(&r.sc);
    if (rc < 0) goto out;
    if (rc == 0) break;
    if (eng__blank(r.sc.line, 0)) continue;
    if (!item_is(r.sc.line, "TIMESTEP", NULL)) {
      rc = eng__scan_fail(&r.sc, "expected ITEM: TIMESTEP, got %s",
                          eng__quote(r.sc.line, q, sizeof q));
      goto out;
    }
    sel_pos = pos;
    sel_line = lineno;
    if (opts->frame == nframes) {
      nframes++;
      break;
    }
    nframes++;
    rc = dump_frame_read(&r, NULL);
    if (rc) goto out;
  }
  if (nframes == 0) {
    rc = eng__fail_at(name, r.sc.lineno + 1, "expected ITEM: TIMESTEP, got the end of the file");
    goto out;
  }
  if (opts->frame >= nframes) {
    rc = eng_set_error(ENG_EINVAL, "%s:%ld: frame %d requested, the file has %ld frames", name,
                       r.sc.lineno, opts->frame, nframes);
    goto out;
  }
  /* pass 2: parse the selected frame */
  r.sc.pos = sel_pos;
  r.sc.lineno = sel_line;
  rc = eng__scan_next(&r.sc);
  assert(rc == 1);
  rc = dump_frame_read(&r, out);
  if (rc) goto out;
  /* the frame must end where its atom count says */
  for (;;) {
    rc = eng__scan_next(&r.sc);
    if (rc <= 0) break;
    if (eng__blank(r.sc.line, 0)) continue;
    if (!item_is(r.sc.line, "TIMESTEP", NULL))
      rc = eng__scan_fail(&r.sc,
                          "expected ITEM: TIMESTEP or the end of the file after %lld atom "
                          "lines (ITEM: NUMBER OF ATOMS), got %s",
                          (long long)r.natoms, eng__quote(r.sc.line, q, sizeof q));
    break;
  }
  if (rc > 0) rc = ENG_OK;
  if (rc) {
    eng_system_free(*out);
    *out = NULL;
  }
out:
  eng__scan_free(&r.sc);
  return rc;
}
