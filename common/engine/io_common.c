/*
 * io_common.c -- the structure-file front door (eng_read_buffer,
 * eng_read_file, eng_write_stream, eng_write_file, format names and
 * sniffing) and the helpers the format modules share: a bounded line
 * scanner, a tokenizer, strict number parsing, species resolution and the
 * final sort-by-id / duplicate / box checks.  See docs/formats.md.
 */
#include "io_common.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* ------------------------------------------------------------------ */
/* Line scanner                                                        */
/* ------------------------------------------------------------------ */

int eng__scan_init(eng__scan *s, const char *buf, size_t len, const char *name) {
  memset(s, 0, sizeof *s);
  s->buf = buf;
  s->len = buf ? len : 0;
  s->name = name;
  s->line = eng__malloc(ENG__LINE_MAX + 1, 1);
  if (!s->line) return ENG_ENOMEM;
  s->line[0] = '\0';
  return ENG_OK;
}

void eng__scan_free(eng__scan *s) {
  free(s->line);
  s->line = NULL;
}

size_t eng__scan_left(const eng__scan *s) { return s->len - s->pos; }

int eng__scan_next(eng__scan *s) {
  size_t start = s->pos, end;
  const char *nl;
  if (s->pos >= s->len) {
    s->line[0] = '\0';
    s->linelen = 0;
    return 0;
  }
  s->lineno++;
  nl = memchr(s->buf + start, '\n', s->len - start);
  end = nl ? (size_t)(nl - s->buf) : s->len;
  s->pos = nl ? end + 1 : s->len;
  if (end > start && s->buf[end - 1] == '\r') end--;
  if (end - start > ENG__LINE_MAX) {
    s->line[0] = '\0';
    s->linelen = 0;
    return eng__scan_fail(s, "expected a line of at most %d bytes, got a longer one",
                          ENG__LINE_MAX);
  }
  memcpy(s->line, s->buf + start, end - start);
  s->line[end - start] = '\0';
  s->linelen = end - start;
  if (memchr(s->line, '\0', s->linelen))
    return eng__scan_fail(s, "expected text, got binary data (a NUL byte)");
  return 1;
}

static int vfail(const char *name, long line, const char *fmt, va_list ap) {
  char msg[768];
  vsnprintf(msg, sizeof msg, fmt, ap);
  return eng_set_error(ENG_EPARSE, "%s:%ld: %s", name ? name : "buffer", line < 1 ? 1 : line, msg);
}

int eng__scan_fail(const eng__scan *s, const char *fmt, ...) {
  va_list ap;
  int rc;
  va_start(ap, fmt);
  rc = vfail(s->name, s->lineno, fmt, ap);
  va_end(ap);
  return rc;
}

int eng__fail_at(const char *name, long line, const char *fmt, ...) {
  va_list ap;
  int rc;
  va_start(ap, fmt);
  rc = vfail(name, line, fmt, ap);
  va_end(ap);
  return rc;
}

/* ------------------------------------------------------------------ */
/* Tokens and numbers                                                  */
/* ------------------------------------------------------------------ */

static int is_blank_char(char c) {
  return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r';
}

int eng__split(char *line, char **tok, int maxtok, char **comment) {
  int n = 0;
  char *p = line;
  if (comment) *comment = NULL;
  for (;;) {
    while (*p && is_blank_char(*p)) p++;
    if (!*p) break;
    if (comment && *p == '#') {
      p++;
      while (*p && is_blank_char(*p)) p++;
      *comment = p;
      break;
    }
    if (n == maxtok) return maxtok + 1;
    tok[n++] = p;
    while (*p && !is_blank_char(*p) && !(comment && *p == '#')) p++;
    if (!*p) break;
    if (*p == '#') {
      *p++ = '\0';
      while (*p && is_blank_char(*p)) p++;
      *comment = p;
      break;
    }
    *p++ = '\0';
  }
  return n;
}

int eng__blank(const char *line, int hash_comments) {
  for (const char *p = line; *p; p++) {
    if (hash_comments && *p == '#') return 1;
    if (!is_blank_char(*p)) return 0;
  }
  return 1;
}

int eng__parse_double(const char *tok, double *out) {
  char *end;
  double v;
  if (!tok || !*tok) return -1;
  /* strtod accepts leading blanks, hexadecimal and "nan(...)": allow only
   * what a decimal number or inf/nan spelling can start with. */
  if (!(isdigit((unsigned char)tok[0]) || tok[0] == '-' || tok[0] == '+' || tok[0] == '.' ||
        tok[0] == 'i' || tok[0] == 'I' || tok[0] == 'n' || tok[0] == 'N'))
    return -1;
  errno = 0;
  v = strtod(tok, &end);
  if (end == tok || *end != '\0') return -1;
  if (!isfinite(v)) return -2;
  *out = v;
  return 0;
}

int eng__parse_int64(const char *tok, int64_t *out) {
  char *end;
  long long v;
  if (!tok || !*tok) return -1;
  if (!(isdigit((unsigned char)tok[0]) || tok[0] == '-' || tok[0] == '+')) return -1;
  errno = 0;
  v = strtoll(tok, &end, 10);
  if (end == tok || *end != '\0') return -1;
  if (errno == ERANGE) return -2;
  *out = (int64_t)v;
  return 0;
}

const char *eng__quote(const char *tok, char *buf, size_t size) {
  size_t k = 0;
  assert(size >= 8);
  if (!tok) {
    snprintf(buf, size, "<end of line>");
    return buf;
  }
  buf[k++] = '\'';
  for (const char *p = tok; *p && k + 5 < size; p++)
    buf[k++] = isprint((unsigned char)*p) ? *p : '?';
  if (strlen(tok) > size - 6) {
    buf[k - 1] = '.';
    buf[k - 2] = '.';
  }
  buf[k++] = '\'';
  buf[k] = '\0';
  return buf;
}

/* ------------------------------------------------------------------ */
/* Species                                                             */
/* ------------------------------------------------------------------ */

static const char *const element_symbols[] = {
    "H",  "He", "Li", "Be", "B",  "C",  "N",  "O",  "F",  "Ne", "Na", "Mg", "Al", "Si", "P",  "S",
    "Cl", "Ar", "K",  "Ca", "Sc", "Ti", "V",  "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Ga", "Ge",
    "As", "Se", "Br", "Kr", "Rb", "Sr", "Y",  "Zr", "Nb", "Mo", "Tc", "Ru", "Rh", "Pd", "Ag", "Cd",
    "In", "Sn", "Sb", "Te", "I",  "Xe", "Cs", "Ba", "La", "Ce", "Pr", "Nd", "Pm", "Sm", "Eu", "Gd",
    "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu", "Hf", "Ta", "W",  "Re", "Os", "Ir", "Pt", "Au", "Hg",
    "Tl", "Pb", "Bi", "Po", "At", "Rn", "Fr", "Ra", "Ac", "Th", "Pa", "U",  "Np", "Pu", "Am", "Cm",
};

const char *eng__element_by_mass(double mass, double tol) {
  const char *best = NULL;
  double bestd = tol;
  for (size_t k = 0; k < sizeof element_symbols / sizeof element_symbols[0]; k++) {
    double m = eng_element_mass(element_symbols[k]);
    if (m <= 0.0) continue;
    if (fabs(m - mass) <= bestd) {
      bestd = fabs(m - mass);
      best = element_symbols[k];
    }
  }
  return best;
}

int eng__valid_species(const char *name) {
  size_t n = strlen(name);
  if (n == 0 || n >= ENG_NAME_MAX) return 0;
  if (isdigit((unsigned char)name[0])) return 0;
  for (size_t k = 0; k < n; k++)
    if (!isgraph((unsigned char)name[k]) || name[k] == '#' || name[k] == '"') return 0;
  return 1;
}

int eng__list_name(const char *list, int k, char out[ENG_NAME_MAX]) {
  const char *p = list;
  int i = 0;
  if (!list) return -1;
  for (;;) {
    size_t n;
    while (*p && isspace((unsigned char)*p)) p++;
    if (!*p) return -1;
    n = 0;
    while (p[n] && !isspace((unsigned char)p[n])) n++;
    if (i == k) {
      if (n >= ENG_NAME_MAX) n = ENG_NAME_MAX - 1;
      memcpy(out, p, n);
      out[n] = '\0';
      return 0;
    }
    i++;
    p += n;
  }
}

int eng__list_count(const char *list) {
  int n = 0;
  char tmp[ENG_NAME_MAX];
  while (eng__list_name(list, n, tmp) == 0) n++;
  return n;
}

int eng__system_set_ntypes(eng_system *sys, int ntypes) {
  char(*names)[ENG_NAME_MAX];
  double *mass;
  assert(ntypes >= 1);
  if (ntypes <= sys->ntypes) return ENG_OK;
  names = eng__realloc(sys->type_name, (size_t)ntypes, sizeof *names);
  if (!names) return ENG_ENOMEM;
  sys->type_name = names;
  mass = eng__realloc(sys->type_mass, (size_t)ntypes, sizeof *mass);
  if (!mass) return ENG_ENOMEM;
  sys->type_mass = mass;
  for (int t = sys->ntypes; t < ntypes; t++) {
    names[t][0] = '\0';
    mass[t] = 0.0;
  }
  sys->ntypes = ntypes;
  return ENG_OK;
}

/* ------------------------------------------------------------------ */
/* Final checks                                                        */
/* ------------------------------------------------------------------ */

typedef struct id_index {
  int64_t id;
  int idx;
} id_index;

static int cmp_id_index(const void *a, const void *b) {
  const id_index *p = a, *q = b;
  if (p->id != q->id) return p->id < q->id ? -1 : 1;
  return (p->idx > q->idx) - (p->idx < q->idx);
}

/* Reorder n elements of size sz in arr so that new[i] = old[perm[i]]. */
static int permute(void *arr, size_t sz, const id_index *perm, int n) {
  char *tmp, *a = arr;
  if (!arr) return ENG_OK;
  tmp = eng__malloc((size_t)n, sz);
  if (!tmp) return ENG_ENOMEM;
  for (int i = 0; i < n; i++) memcpy(tmp + (size_t)i * sz, a + (size_t)perm[i].idx * sz, sz);
  memcpy(a, tmp, (size_t)n * sz);
  free(tmp);
  return ENG_OK;
}

int eng__finish_system(eng_system *sys, long *line, const char *name, long box_line,
                       double min_width) {
  id_index *perm = NULL;
  int n = sys->natoms, sorted = 1, rc = ENG_OK;
  for (int i = 1; i < n; i++)
    if (sys->id[i] <= sys->id[i - 1]) sorted = 0;
  if (!sorted) {
    perm = eng__malloc((size_t)n, sizeof *perm);
    if (!perm) return ENG_ENOMEM;
    for (int i = 0; i < n; i++) {
      perm[i].id = sys->id[i];
      perm[i].idx = i;
    }
    qsort(perm, (size_t)n, sizeof *perm, cmp_id_index);
    for (int i = 1; i < n; i++) {
      if (perm[i].id == perm[i - 1].id) {
        long l1 = line ? line[perm[i - 1].idx] : 0, l2 = line ? line[perm[i].idx] : 0;
        rc = eng__fail_at(name, l2,
                          "expected unique atom ids, got id %lld again (first on line %ld)",
                          (long long)perm[i].id, l1);
        goto out;
      }
    }
    if (permute(sys->id, sizeof *sys->id, perm, n) ||
        permute(sys->type, sizeof *sys->type, perm, n) ||
        permute(sys->x, 3 * sizeof *sys->x, perm, n) ||
        permute(sys->v, 3 * sizeof *sys->v, perm, n) ||
        permute(sys->image, 3 * sizeof *sys->image, perm, n) ||
        permute(line, sizeof *line, perm, n)) {
      rc = ENG_ENOMEM;
      goto out;
    }
    for (int k = 0; k < sys->nprops; k++) {
      eng_prop *p = &sys->props[k];
      if (p->kind == ENG_PROP_STR)
        rc = permute(p->str, (size_t)p->ncomp * sizeof *p->str, perm, n);
      else
        rc = permute(p->val, (size_t)p->ncomp * sizeof *p->val, perm, n);
      if (rc) goto out;
    }
  }
  if (min_width > 0.0) {
    double w[3];
    eng_box_widths(&sys->box, w);
    for (int k = 0; k < 3; k++) {
      if (sys->box.periodic[k] && w[k] < min_width) {
        rc = eng__fail_at(name, box_line,
                          "expected a periodic box width of at least %.6g A along %c, got %.6g A",
                          min_width, "xyz"[k], w[k]);
        goto out;
      }
    }
  }
out:
  free(perm);
  return rc;
}

int eng__renumber_types(eng_system *sys, int nfixed) {
  int nt = sys->ntypes, next = nfixed, rc = ENG_OK;
  int *map = eng__malloc((size_t)nt, sizeof *map);
  char(*names)[ENG_NAME_MAX] = eng__malloc((size_t)nt, sizeof *names);
  double *mass = eng__malloc((size_t)nt, sizeof *mass);
  if (!map || !names || !mass) {
    rc = ENG_ENOMEM;
    goto out;
  }
  for (int t = 0; t < nt; t++) map[t] = t < nfixed ? t : -1;
  for (int i = 0; i < sys->natoms; i++)
    if (map[sys->type[i]] < 0) map[sys->type[i]] = next++;
  for (int t = nfixed; t < nt; t++)
    if (map[t] < 0) map[t] = next++;
  assert(next == nt);
  for (int t = 0; t < nt; t++) {
    memcpy(names[map[t]], sys->type_name[t], ENG_NAME_MAX);
    mass[map[t]] = sys->type_mass[t];
  }
  memcpy(sys->type_name, names, (size_t)nt * sizeof *names);
  memcpy(sys->type_mass, mass, (size_t)nt * sizeof *mass);
  for (int i = 0; i < sys->natoms; i++) sys->type[i] = map[sys->type[i]];
out:
  free(map);
  free(names);
  free(mass);
  return rc;
}

int eng__inside_nonperiodic(const eng_box *b, const double x[3]) {
  double s[3];
  eng_box_to_frac(b, x, s);
  for (int k = 0; k < 3; k++) {
    double tol;
    if (b->periodic[k]) continue;
    tol = 1e-6 * (1.0 + fabs(b->lo[k]) + fabs(b->lo[k] + b->len[k])) / b->len[k];
    if (!(s[k] >= -tol && s[k] <= 1.0 + tol)) return 0;
  }
  return 1;
}

int eng__check_box(const eng_box *b, const char *name, long line) {
  const double v[] = {b->lo[0],  b->lo[1], b->lo[2], b->len[0], b->len[1],
                      b->len[2], b->xy,    b->xz,    b->yz};
  for (size_t k = 0; k < sizeof v / sizeof v[0]; k++)
    if (!isfinite(v[k])) return eng__fail_at(name, line, "expected finite box bounds");
  for (int k = 0; k < 3; k++) {
    if (!(b->len[k] > 0.0))
      return eng__fail_at(name, line, "expected a positive box length along %c, got %.17g",
                          "xyz"[k], b -> len[k]);
    if (!(b->lo[k] + b->len[k] > b->lo[k]) || !isfinite(b->lo[k] + b->len[k]))
      return eng__fail_at(name, line,
                          "expected a box length along %c resolvable at its origin, got length "
                          "%.17g at %.17g",
                          "xyz"[k], b -> len[k], b -> lo[k]);
  }
  {
    /* volume / product of the cell vector lengths: 0 for a flat cell */
    double lb = sqrt(b->xy * b->xy + b->len[1] * b->len[1]);
    double lc = sqrt(b->xz * b->xz + b->yz * b->yz + b->len[2] * b->len[2]);
    if (!(b->len[1] * b->len[2] > 1e-12 * lb * lc))
      return eng__fail_at(name, line,
                          "expected a non-degenerate cell, got tilts %.6g %.6g %.6g "
                          "too large for lengths %.6g %.6g %.6g",
                          b->xy, b->xz, b->yz, b->len[0], b->len[1], b->len[2]);
  }
  if (!isfinite(b->len[0] * b->len[1] * b->len[2]))
    return eng__fail_at(name, line, "expected a box of finite volume, got %.3g x %.3g x %.3g A",
                        b->len[0], b->len[1], b->len[2]);
  return ENG_OK;
}

/* ------------------------------------------------------------------ */
/* Number output                                                       */
/* ------------------------------------------------------------------ */

void eng__fmt_double(char *buf, size_t size, double v) {
  /* 15 significant digits if they read back exactly (short numbers stay
   * short: 0.1, not 0.10000000000000001), else 17, which always do. */
  if (!buf || size < 2) return;
  snprintf(buf, size, "%.15g", v);
  if (strtod(buf, NULL) == v) return;
  snprintf(buf, size, "%.17g", v);
}

double eng__hi_exact(double lo, double len) {
  double hi = lo + len, up = hi, down = hi;
  if (hi - lo == len) return hi;
  for (int k = 0; k < 8; k++) {
    up = nextafter(up, INFINITY);
    down = nextafter(down, -INFINITY);
    if (up - lo == len) return up;
    if (down - lo == len) return down;
  }
  return hi;
}

/* ------------------------------------------------------------------ */
/* Formats                                                             */
/* ------------------------------------------------------------------ */

const char *eng_format_name(eng_format f) {
  switch (f) {
  case ENG_FMT_AUTO:
    return "auto";
  case ENG_FMT_LAMMPS_DATA:
    return "lammps-data";
  case ENG_FMT_LAMMPS_DUMP:
    return "lammps-dump";
  case ENG_FMT_EXTXYZ:
    return "extxyz";
  }
  return "unknown";
}

eng_format eng_format_from_name(const char *name) {
  static const struct {
    const char *name;
    eng_format fmt;
  } names[] = {{"lammps-data", ENG_FMT_LAMMPS_DATA}, {"data", ENG_FMT_LAMMPS_DATA},
               {"lammps-dump", ENG_FMT_LAMMPS_DUMP}, {"dump", ENG_FMT_LAMMPS_DUMP},
               {"extxyz", ENG_FMT_EXTXYZ},           {"xyz", ENG_FMT_EXTXYZ}};
  if (!name) return ENG_FMT_AUTO;
  for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
    if (strcasecmp(name, names[k].name) == 0) return names[k].fmt;
  return ENG_FMT_AUTO;
}

/* Copy line number lineno (1-based) of buf into out (at most size-1 bytes,
 * truncated).  0 if the line exists. */
static int peek_line(const char *buf, size_t len, int lineno, char *out, size_t size) {
  size_t pos = 0, end, n;
  for (int k = 1;; k++) {
    const char *nl;
    if (pos >= len) return -1;
    nl = memchr(buf + pos, '\n', len - pos);
    end = nl ? (size_t)(nl - buf) : len;
    if (k == lineno) break;
    pos = end + 1;
  }
  n = end - pos;
  if (n >= size) n = size - 1;
  memcpy(out, buf + pos, n);
  out[n] = '\0';
  return 0;
}

static int line_is_integer(const char *line) {
  char copy[4096], *tok[2];
  int64_t v;
  snprintf(copy, sizeof copy, "%s", line);
  return eng__split(copy, tok, 1, NULL) == 1 && eng__parse_int64(tok[0], &v) == 0 && v >= 0;
}

static int line_is_atoms_count(const char *line) {
  char copy[4096], *tok[3], *comment;
  int64_t v;
  snprintf(copy, sizeof copy, "%s", line);
  return eng__split(copy, tok, 2, &comment) == 2 && strcmp(tok[1], "atoms") == 0 &&
         eng__parse_int64(tok[0], &v) == 0;
}

static int has_suffix(const char *name, const char *suffix) {
  size_t n = strlen(name), m = strlen(suffix);
  return n >= m && strcasecmp(name + n - m, suffix) == 0;
}

eng_format eng_format_sniff(const char *buf, size_t len, const char *name) {
  char l1[256], l2[4096];
  if (buf && len > 0 && peek_line(buf, len, 1, l1, sizeof l1) == 0) {
    const char *p = l1;
    while (is_blank_char(*p)) p++;
    if (strncmp(p, "ITEM:", 5) == 0) return ENG_FMT_LAMMPS_DUMP;
    if (line_is_integer(l1) && peek_line(buf, len, 2, l2, sizeof l2) == 0 &&
        (strstr(l2, "Lattice=") || strstr(l2, "Properties=")))
      return ENG_FMT_EXTXYZ;
    /* an XYZ comment line may read "64 atoms": start after it */
    for (int k = line_is_integer(l1) ? 3 : 2; k <= 40; k++) {
      if (peek_line(buf, len, k, l2, sizeof l2)) break;
      if (line_is_atoms_count(l2)) return ENG_FMT_LAMMPS_DATA;
    }
    if (line_is_integer(l1) && peek_line(buf, len, 2, l2, sizeof l2) == 0) return ENG_FMT_EXTXYZ;
  }
  if (name) {
    if (has_suffix(name, ".data") || has_suffix(name, ".lmp")) return ENG_FMT_LAMMPS_DATA;
    if (has_suffix(name, ".dump") || has_suffix(name, ".lammpstrj")) return ENG_FMT_LAMMPS_DUMP;
    if (has_suffix(name, ".xyz") || has_suffix(name, ".extxyz")) return ENG_FMT_EXTXYZ;
  }
  return ENG_FMT_AUTO;
}

/* ------------------------------------------------------------------ */
/* Reading and writing                                                 */
/* ------------------------------------------------------------------ */

int eng_read_buffer(const char *buf, size_t len, const char *name, eng_format fmt,
                    const eng_read_opts *opts, eng_system **out) {
  eng_read_opts defaults = {0, NULL, 0.0};
  int rc;
  if (!out) return eng_set_error(ENG_EINVAL, "eng_read_buffer: out is NULL");
  *out = NULL;
  if (!name) name = "buffer";
  if (!buf && len > 0) return eng_set_error(ENG_EINVAL, "%s: buffer is NULL", name);
  if (!opts) opts = &defaults;
  if (opts->frame < -1)
    return eng_set_error(ENG_EINVAL, "%s: frame must be >= -1, got %d", name, opts->frame);
  if (!(opts->min_width >= 0.0) || !isfinite(opts->min_width))
    return eng_set_error(ENG_EINVAL, "%s: min_width must be finite and >= 0", name);
  if (len == 0) return eng__fail_at(name, 1, "expected a structure, got an empty file");
  if (fmt == ENG_FMT_AUTO) fmt = eng_format_sniff(buf, len, name);
  switch (fmt) {
  case ENG_FMT_LAMMPS_DATA:
    rc = eng__read_lammps_data(buf, len, name, opts, out);
    break;
  case ENG_FMT_LAMMPS_DUMP:
    rc = eng__read_lammps_dump(buf, len, name, opts, out);
    break;
  case ENG_FMT_EXTXYZ:
    rc = eng__read_extxyz(buf, len, name, opts, out);
    break;
  case ENG_FMT_AUTO:
    return eng__fail_at(name, 1,
                        "expected a LAMMPS data file, a LAMMPS dump or an extended XYZ file, "
                        "could not tell which");
  default:
    return eng_set_error(ENG_EINVAL, "%s: unknown format %d", name, (int)fmt);
  }
  assert(rc == ENG_OK ? *out != NULL : *out == NULL);
  return rc;
}

int eng_read_file(const char *path, eng_format fmt, const eng_read_opts *opts, eng_system **out) {
  FILE *f = NULL;
  char *buf = NULL;
  size_t len = 0, cap = 0;
  int rc;
  if (!out) return eng_set_error(ENG_EINVAL, "eng_read_file: out is NULL");
  *out = NULL;
  if (!path) return eng_set_error(ENG_EINVAL, "eng_read_file: path is NULL");
  f = fopen(path, "rb");
  if (!f) {
    rc = eng_set_error(ENG_EIO, "%s: cannot open: %s", path, strerror(errno));
    goto out;
  }
  for (;;) {
    size_t got;
    if (cap - len < 65536) {
      size_t ncap = cap ? 2 * cap : 1 << 20;
      char *nbuf = eng__realloc(buf, ncap, 1);
      if (!nbuf) {
        rc = ENG_ENOMEM;
        goto out;
      }
      buf = nbuf;
      cap = ncap;
    }
    got = fread(buf + len, 1, cap - len, f);
    len += got;
    if (got == 0) break;
  }
  if (ferror(f)) {
    rc = eng_set_error(ENG_EIO, "%s: read error: %s", path, strerror(errno));
    goto out;
  }
  rc = eng_read_buffer(buf, len, path, fmt, opts, out);
out:
  if (f) fclose(f);
  free(buf);
  return rc;
}

/* Reject systems the writers cannot describe. */
static int check_writable(const eng_system *s) {
  if (s->natoms < 0 || s->ntypes < 1 || !s->type_name || !s->type_mass ||
      (s->natoms > 0 && (!s->id || !s->type || !s->x)))
    return eng_set_error(ENG_EINVAL, "cannot write an incomplete system");
  for (int i = 0; i < s->natoms; i++)
    if (s->type[i] < 0 || s->type[i] >= s->ntypes)
      return eng_set_error(ENG_EINVAL, "atom %d has type index %d outside 0..%d", i, s->type[i],
                           s->ntypes - 1);
  for (int k = 0; k < 3; k++)
    if (!(s->box.len[k] > 0.0) || !isfinite(s->box.len[k]) || !isfinite(s->box.lo[k]))
      return eng_set_error(ENG_EINVAL, "cannot write a box with length %g along %c", s->box.len[k],
                           "xyz"[k]);
  if (!isfinite(s->box.xy) || !isfinite(s->box.xz) || !isfinite(s->box.yz))
    return eng_set_error(ENG_EINVAL, "cannot write a box with non-finite tilts");
  for (long i = 0; i < 3L * s->natoms; i++)
    if (!isfinite(s->x[i]) || (s->v && !isfinite(s->v[i])))
      return eng_set_error(ENG_EINVAL, "cannot write atom %ld: non-finite position or velocity",
                           i / 3);
  return ENG_OK;
}

int eng_write_stream(FILE *f, eng_format fmt, const eng_system *s) {
  int rc;
  if (!f || !s) return eng_set_error(ENG_EINVAL, "eng_write_stream: NULL argument");
  if (fmt != ENG_FMT_LAMMPS_DATA && fmt != ENG_FMT_EXTXYZ)
    return eng_set_error(ENG_EINVAL, "cannot write format %s (only lammps-data and extxyz)",
                         eng_format_name(fmt));
  rc = check_writable(s);
  if (rc) return rc;
  rc = fmt == ENG_FMT_LAMMPS_DATA ? eng__write_lammps_data(f, s) : eng__write_extxyz(f, s);
  if (rc) return rc;
  if (fflush(f) != 0 || ferror(f))
    return eng_set_error(ENG_EIO, "write error: %s", strerror(errno));
  return ENG_OK;
}

int eng_write_file(const char *path, eng_format fmt, const eng_system *s) {
  FILE *f = NULL, *mem = NULL;
  char *buf = NULL;
  size_t len = 0;
  struct stat st;
  int rc, existed;
  if (!path) return eng_set_error(ENG_EINVAL, "eng_write_file: path is NULL");
  if (fmt == ENG_FMT_AUTO) fmt = eng_format_sniff(NULL, 0, path);
  if (fmt != ENG_FMT_LAMMPS_DATA && fmt != ENG_FMT_EXTXYZ)
    return eng_set_error(ENG_EINVAL, "%s: cannot write format %s (only lammps-data and extxyz)",
                         path, eng_format_name(fmt));
  if (!s) return eng_set_error(ENG_EINVAL, "eng_write_file: system is NULL");
  /* format in memory first: a system that cannot be written leaves the
   * file untouched */
  mem = open_memstream(&buf, &len);
  if (!mem) return eng_set_error(ENG_ENOMEM, "out of memory");
  rc = eng_write_stream(mem, fmt, s);
  if (fclose(mem) != 0 && rc == ENG_OK) rc = eng_set_error(ENG_ENOMEM, "out of memory");
  if (rc) goto out;
  existed = lstat(path, &st) == 0;
  f = fopen(path, "w");
  if (!f) {
    rc = eng_set_error(ENG_EIO, "%s: cannot open for writing: %s", path, strerror(errno));
    goto out;
  }
  if (fwrite(buf, 1, len, f) != len)
    rc = eng_set_error(ENG_EIO, "%s: write error: %s", path, strerror(errno));
  if (fclose(f) != 0 && rc == ENG_OK)
    rc = eng_set_error(ENG_EIO, "%s: write error: %s", path, strerror(errno));
  /* remove a partly written file, but only one this call created */
  if (rc && !existed && lstat(path, &st) == 0 && S_ISREG(st.st_mode)) remove(path);
out:
  free(buf);
  return rc;
}
