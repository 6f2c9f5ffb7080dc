/*
 * kinds_analysis.c -- the job kind "analysis": the paper's analyses of
 * per-atom fields (Wei et al., PRB 99, 014115: Figs. 1, 3-8, S1) with the
 * engine's analysis module (common/engine/analysis.c):
 *
 *   correlation      every descriptor vs the property (e.g. ARTn's dq_mean),
 *                    per species and all: Pearson, Spearman, the line, and
 *                    the coarse-grained points (atoms sorted by the
 *                    descriptor, groups of bin_atoms, means) with their fit
 *   autocorrelation  C(r) of Eq. 6 of the property and every descriptor,
 *                    normalised at cr_norm, and xi from C ~ exp(-r/xi)
 *   s2_sweep         xi of S2 at each of its cutoffs (Fig. 8b-d)
 *   spectra          histograms of the converged events' dQ (an input's
 *                    `events` table) or of the property, all and per
 *                    species, with the two-mode (exponential + Rayleigh)
 *                    fit (Fig. 1c-e); on demand one atom's events (Fig. 1b)
 *   slices           slice maps of the property and descriptors (Figs. 1a,
 *                    3, 6a-e)
 *
 * The fields come from the results in io->inputs (their per_atom arrays,
 * matched to the structure's atoms by "id"; null = no value); positions
 * and box from the structure (after io->structure_result).  Parameters and
 * result are documented in docs/kinds.md ("analysis") and
 * docs/analysis.md.  Numbers that are not finite are written as null.
 */
#include "config.h"

#include "kinds.h"
#include "kinds_internal.h"

#include "engine.h"

#include <assert.h>
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOMAX 1e300
#define MAXFIELDS 64
#define NAMELEN 64

/* The analyses, in the order they run and are listed. */
enum { A_CORR = 0, A_ACF, A_S2, A_SPECTRA, A_SLICES, A_N };
static const char *const analysis_names[A_N] = {
    "correlation", "autocorrelation", "s2_sweep", "spectra", "slices"};

/* Descriptor columns "all" selects, in this order (s2_c1..8 expanded). */
static const char *const paper_descriptors[] = {
    "msd", "vflex", "s2_c*", "participation", "msd_harmonic", "l5fs"};
#define NPAPER ((int)(sizeof paper_descriptors / sizeof paper_descriptors[0]))

const kind_param kind__analysis_params[] = {
    {"analyses", KIND_P_LIST,
     "correlation|autocorrelation|s2_sweep|spectra|slices", 0, 0, 0,
     "[\"correlation\",\"autocorrelation\",\"s2_sweep\",\"spectra\","
     "\"slices\"]",
     "", "analyses to run (each is skipped, with a note, when its fields "
         "are missing)"},
    {"property", KIND_P_TEXT, "auto|none|FIELD", 1, 63, 0, "\"auto\"", "",
     "the property field (per_atom column of an input): auto = dq_mean if "
     "an input has it, else none; none = no property (no correlations, "
     "spectra)"},
    {"descriptors", KIND_P_TEXT, "all|FIELD,FIELD,...", 1,
     MAXFIELDS * NAMELEN, 0, "\"all\"", "",
     "descriptor fields (per_atom columns of the inputs): \"all\", or "
     "distinct field names, comma-separated (or a JSON array of names); "
     "all = every one of msd, vflex, s2_c1..s2_c8, participation, "
     "msd_harmonic, l5fs that an input has; normalized to an array"},
    {"bin_atoms", KIND_P_INT, NULL, 0, 1e9, 0, "200", "",
     "coarse graining: atoms per group (the paper's ~200), sorted by the "
     "descriptor; 0 = auto: 200, or fewer so that every species has at "
     "least 10 groups (small samples)"},
    {"per_species", KIND_P_BOOL, NULL, 0, 0, 0, "true", "",
     "correlations and spectra also per species (the paper's Cu and Zr "
     "panels)"},
    {"cr_bin", KIND_P_NUMBER, NULL, 0, 5, 1, "0.2", "A",
     "C(r) bin width"},
    {"cr_rmax", KIND_P_NUMBER, NULL, 0, 100, 1, "12", "A",
     "C(r) range; reduced to half the smallest box width when larger"},
    {"cr_norm", KIND_P_NUMBER, NULL, 0, 100, 0, "3", "A",
     "C(r) is divided by its value here (the paper: unity at 3 A); 0 = "
     "not normalised"},
    {"cr_center", KIND_P_STRING, "all|species", 0, 0, 0, "\"all\"", "",
     "deviations dP from the mean of all atoms (Eq. 6) or of each atom's "
     "species"},
    {"fit_min", KIND_P_NUMBER, NULL, 0, 100, 0, "3", "A",
     "xi fit: first distance"},
    {"fit_max", KIND_P_NUMBER, NULL, 0, 100, 1, "8", "A",
     "xi fit: last distance (the fit also stops at the first C <= 0)"},
    {"fit_weighted", KIND_P_BOOL, NULL, 0, 0, 0, "true", "",
     "xi fit: weight ln C by C^2 (inverse variance for uniform noise); "
     "false = plain least squares on the semilog plot"},
    {"spectrum_bin", KIND_P_NUMBER, NULL, 0, 10, 1, "0.1", "eV",
     "histogram bin width of the property's spectrum"},
    {"spectrum_fit", KIND_P_BOOL, NULL, 0, 0, 0, "true", "",
     "fit the two modes (exponential + Rayleigh) to each spectrum"},
    {"spectrum_of", KIND_P_STRING, "auto|events|property", 0, 0, 0,
     "\"auto\"", "",
     "what the spectra count: every converged event's dQ (an input's "
     "`events` table, as the paper's Fig. 1c-e), or the property per atom; "
     "auto = events if an input has them"},
    {"atom_spectrum", KIND_P_INT, NULL, 0, 9007199254740991.0, 0, "0", "",
     "Fig. 1b: id of an atom whose events' dQ are histogrammed (with its "
     "Voronoi index if an input has vor_n3..vor_n6); 0 = none"},
    {"slice_axis", KIND_P_STRING, "x|y|z", 0, 0, 0, "\"z\"", "",
     "slab normal (the cell vector a, b or c for triclinic boxes)"},
    {"slice_center", KIND_P_NUMBER, NULL, 0, 1, 0, "0.5", "",
     "slab centre, fractional coordinate along slice_axis, in [0, 1)"},
    {"slice_thickness", KIND_P_NUMBER, NULL, 0, 1000, 1, "3.9", "A",
     "slab thickness (the paper: 3.9 A, the first trough of g(r))"},
    {"slice_spacing", KIND_P_NUMBER, NULL, 0, 100, 1, "1", "A",
     "grid spacing of the slice maps"},
    {"slice_smooth", KIND_P_NUMBER, NULL, 0, 100, 0, "1", "A",
     "Gaussian coarse-graining width of the slice maps; 0 = mean per "
     "grid cell"},
    {NULL, 0, NULL, 0, 0, 0, NULL, NULL, NULL}};

/* ------------------------------------------------------------------ */
/* Validation                                                          */
/* ------------------------------------------------------------------ */

/* A field name: 1..63 of [A-Za-z0-9_]. */
static int name_ok(const char *s, size_t len) {
  size_t i;
  if (len == 0 || len >= NAMELEN) return 0;
  for (i = 0; i < len; i++)
    if (!isalnum((unsigned char)s[i]) && s[i] != '_') return 0;
  return 1;
}

/* Canonical descriptors list (a new array) from a JSON array of names or
 * one comma-separated string; NULL with err on a bad value. */
static cJSON *descriptors_value(const cJSON *v, char *err, size_t errlen) {
  cJSON *out = cJSON_CreateArray();
  const char *rule = "descriptors: must be \"all\" or a non-empty list (JSON "
                     "array or comma-separated) of distinct field names "
                     "([A-Za-z0-9_], at most 63 characters)";
  int n = 0;
  if (!out) goto nomem;
  if (cJSON_IsArray(v)) {
    const cJSON *it;
    for (it = v->child; it; it = it->next) {
      if (!cJSON_IsString(it) || !it->valuestring ||
          !name_ok(it->valuestring, strlen(it->valuestring)))
        goto bad;
      if (!cJSON_AddItemToArray(out, cJSON_CreateString(it->valuestring)))
        goto nomem;
      n++;
    }
  } else if (cJSON_IsString(v) && v->valuestring) {
    const char *t = v->valuestring;
    for (;;) {
      const char *comma = strchr(t, ',');
      size_t len = comma ? (size_t)(comma - t) : strlen(t);
      char buf[NAMELEN];
      while (len && isspace((unsigned char)*t)) t++, len--;
      while (len && isspace((unsigned char)t[len - 1])) len--;
      if (!name_ok(t, len)) goto bad;
      snprintf(buf, sizeof buf, "%.*s", (int)len, t);
      if (!cJSON_AddItemToArray(out, cJSON_CreateString(buf))) goto nomem;
      n++;
      if (!comma) break;
      t = comma + 1;
    }
  } else {
    goto bad;
  }
  if (n == 0 || n > MAXFIELDS) goto bad;
  {
    const cJSON *a, *b;
    for (a = out->child; a; a = a->next)
      for (b = out->child; b != a; b = b->next)
        if (!strcmp(a->valuestring, b->valuestring)) goto bad;
    for (a = out->child; a; a = a->next)
      if (!strcmp(a->valuestring, "all") && n > 1) goto bad;
  }
  return out;
bad:
  snprintf(err, errlen, "%s", rule);
  cJSON_Delete(out);
  return NULL;
nomem:
  snprintf(err, errlen, "params: out of memory");
  cJSON_Delete(out);
  return NULL;
}

static double num(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  assert(cJSON_IsNumber(v));
  return v->valuedouble;
}

static int analysis_fix(cJSON *o, char *err, size_t errlen) {
  if (num(o, "fit_max") <= num(o, "fit_min")) {
    snprintf(err, errlen, "fit_max: must be > fit_min (%g A)",
             num(o, "fit_min"));
    return KIND_EINVAL;
  }
  if (num(o, "cr_norm") >= num(o, "cr_rmax")) {
    snprintf(err, errlen, "cr_norm: must be < cr_rmax (%g A)",
             num(o, "cr_rmax"));
    return KIND_EINVAL;
  }
  if (num(o, "slice_center") >= 1) {
    snprintf(err, errlen, "slice_center: must be >= 0 and < 1");
    return KIND_EINVAL;
  }
  if (num(o, "cr_rmax") / num(o, "cr_bin") > 1e5) {
    snprintf(err, errlen, "cr_bin: at most 1e5 bins up to cr_rmax");
    return KIND_EINVAL;
  }
  return 0;
}

/* Contract of kind_def.validate (kinds.h); KIND_EINVAL with "field: rule". */
int kind__validate_analysis(const cJSON *params, cJSON **normalized,
                            char *err, size_t errlen) {
  const cJSON *prop = NULL, *desc = NULL, *it;
  cJSON *copy = NULL, *dv = NULL;
  int rc, np = 0, nd = 0;

  *normalized = NULL;
  if (cJSON_IsObject(params))
    for (it = params->child; it; it = it->next) {
      if (it->string && !strcmp(it->string, "property")) prop = it, np++;
      if (it->string && !strcmp(it->string, "descriptors")) desc = it, nd++;
    }
  if (np > 1 || nd > 1) {
    snprintf(err, errlen, "%s: given twice", np > 1 ? "property" : "descriptors");
    return KIND_EINVAL;
  }
  if (prop && (!cJSON_IsString(prop) || !prop->valuestring ||
               !name_ok(prop->valuestring, strlen(prop->valuestring)))) {
    snprintf(err, errlen, "property: must be \"auto\", \"none\" or a field "
             "name ([A-Za-z0-9_], at most 63 characters)");
    return KIND_EINVAL;
  }
  if (desc) {
    dv = descriptors_value(desc, err, errlen);
    if (!dv) return KIND_EINVAL;
  }
  if (prop || desc) {
    copy = cJSON_Duplicate(params, 1);
    if (!copy) goto nomem;
    cJSON_DeleteItemFromObjectCaseSensitive(copy, "property");
    cJSON_DeleteItemFromObjectCaseSensitive(copy, "descriptors");
  }
  rc = kind__validate(kind_find("analysis"), copy ? copy : params, normalized,
                      err, errlen, analysis_fix);
  if (rc) goto out;
  if (!dv) { /* the default, "all", in the canonical form (an array) */
    dv = descriptors_value(
        cJSON_GetObjectItemCaseSensitive(*normalized, "descriptors"), err,
        errlen);
    if (!dv) goto nomem_norm;
  }
  if (prop &&
      !cJSON_ReplaceItemInObjectCaseSensitive(
          *normalized, "property", cJSON_CreateString(prop->valuestring)))
    goto nomem_norm;
  if (dv) {
    if (!cJSON_ReplaceItemInObjectCaseSensitive(*normalized, "descriptors",
                                                dv))
      goto nomem_norm;
    dv = NULL;
  }
  goto out;
nomem_norm:
  cJSON_Delete(*normalized);
  *normalized = NULL;
nomem:
  rc = KIND_ENOMEM;
  snprintf(err, errlen, "params: out of memory");
out:
  cJSON_Delete(copy);
  cJSON_Delete(dv);
  return rc;
}

/* ------------------------------------------------------------------ */
/* Fields from the inputs                                              */
/* ------------------------------------------------------------------ */

typedef struct field {
  char name[NAMELEN];
  char source[32]; /* kind of the input it came from */
  double *v;       /* natoms; NaN = no value */
} field;

typedef struct actx {
  kind__ctx c;
  const eng_system *sys;
  int n;
  field f[MAXFIELDS];
  int nf;
  /* S2 cutoffs of the s2_cK columns (0 = unknown), from an input summary */
  double s2cut[ENG_S2_MAXCUT];
  cJSON *notes; /* array of strings (borrowed from the result) */
  const cJSON *events; /* the first input's `events` table (borrowed) */
} actx;

/* Boolean param k (normalized, so present). */
static int bpar(const actx *a, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(a->c.params, k);
  assert(cJSON_IsBool(v));
  return cJSON_IsTrue(v);
}

static void actx_free(actx *a) {
  int i;
  for (i = 0; i < a->nf; i++) free(a->f[i].v);
  a->nf = 0;
}

static field *find_field(actx *a, const char *name) {
  int i;
  for (i = 0; i < a->nf; i++)
    if (!strcmp(a->f[i].name, name)) return &a->f[i];
  return NULL;
}

static void note(actx *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void note(actx *a, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (a->notes) cJSON_AddItemToArray(a->notes, cJSON_CreateString(buf));
}

typedef struct idmap {
  int64_t id;
  int i;
} idmap;

static int idmap_cmp(const void *pa, const void *pb) {
  const idmap *x = pa, *y = pb;
  return (x->id > y->id) - (x->id < y->id);
}

/* Columns that are not fields. */
static int skip_column(const char *n) {
  static const char *const skip[] = {"id", "type", "species", "x", "y", "z",
                                     "vx", "vy", "vz", "fx", "fy", "fz",
                                     "selected"};
  size_t k;
  for (k = 0; k < sizeof skip / sizeof skip[0]; k++)
    if (!strcmp(n, skip[k])) return 1;
  return 0;
}

/* Read every numeric per_atom column of every input into a->f. */
static int gather(actx *a, const kind_io *io, cJSON *inputs_json, char *err,
                  size_t errlen) {
  idmap *map = NULL;
  int *row = NULL, k, i, rc = KIND_ENOMEM;
  const int n = a->n;

  map = malloc((size_t)n * sizeof *map);
  if (!map) goto nomem;
  for (i = 0; i < n; i++) {
    map[i].id = a->sys->id[i];
    map[i].i = i;
  }
  qsort(map, (size_t)n, sizeof *map, idmap_cmp);
  for (k = 0; k < io->ninputs; k++) {
    const cJSON *r = io->inputs[k];
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(r, "kind");
    const cJSON *pa = cJSON_GetObjectItemCaseSensitive(r, "per_atom");
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(pa, "id");
    const cJSON *col, *s2;
    const char *kname = cJSON_IsString(kind) ? kind->valuestring : "result";
    cJSON *ij = cJSON_CreateObject(), *cols;
    int m, j;
    if (!ij || !cJSON_AddItemToArray(inputs_json, ij)) goto nomem;
    cJSON_AddStringToObject(ij, "kind", kname);
    cols = cJSON_AddArrayToObject(ij, "fields");
    if (!cJSON_IsObject(pa)) continue; /* nothing per atom */
    if (!cJSON_IsArray(ids)) {
      snprintf(err, errlen, "input %d (%s): per_atom has no \"id\" array", k,
               kname);
      rc = KIND_EINVAL;
      goto out;
    }
    m = cJSON_GetArraySize(ids);
    free(row);
    row = malloc((size_t)(m ? m : 1) * sizeof *row);
    if (!row) goto nomem;
    j = 0;
    for (col = ids->child; col; col = col->next, j++) {
      idmap key, *hit;
      if (!cJSON_IsNumber(col)) {
        snprintf(err, errlen, "input %d (%s): per_atom.id[%d] is not a number",
                 k, kname, j);
        rc = KIND_EINVAL;
        goto out;
      }
      key.id = (int64_t)col->valuedouble;
      hit = bsearch(&key, map, (size_t)n, sizeof *map, idmap_cmp);
      if (!hit) {
        snprintf(err, errlen, "input %d (%s): atom id %lld is not in the "
                 "structure", k, kname, (long long)key.id);
        rc = KIND_EINVAL;
        goto out;
      }
      row[j] = hit->i;
    }
    for (col = pa->child; col; col = col->next) {
      const cJSON *e;
      field *f;
      int any = 0, bad = 0;
      if (!col->string || skip_column(col->string) || !cJSON_IsArray(col))
        continue;
      if (!name_ok(col->string, strlen(col->string))) continue;
      if (cJSON_GetArraySize(col) != m) {
        snprintf(err, errlen, "input %d (%s): per_atom.%s has %d values for "
                 "%d ids", k, kname, col->string, cJSON_GetArraySize(col), m);
        rc = KIND_EINVAL;
        goto out;
      }
      for (e = col->child; e; e = e->next) {
        if (cJSON_IsNumber(e))
          any = 1;
        else if (!cJSON_IsNull(e))
          bad = 1;
      }
      if (bad || !any) continue; /* not a numeric column */
      if (find_field(a, col->string)) {
        note(a, "field %s of input %d (%s) ignored: an earlier input has it",
             col->string, k, kname);
        continue;
      }
      if (a->nf == MAXFIELDS) {
        note(a, "more than %d fields: %s and later ignored", MAXFIELDS,
             col->string);
        break;
      }
      f = &a->f[a->nf];
      memset(f, 0, sizeof *f);
      f->v = malloc((size_t)n * sizeof *f->v);
      if (!f->v) goto nomem;
      a->nf++;
      snprintf(f->name, sizeof f->name, "%s", col->string);
      snprintf(f->source, sizeof f->source, "%s", kname);
      for (i = 0; i < n; i++) f->v[i] = NAN;
      j = 0;
      for (e = col->child; e; e = e->next, j++)
        if (cJSON_IsNumber(e)) f->v[row[j]] = e->valuedouble;
      cJSON_AddItemToArray(cols, cJSON_CreateString(f->name));
    }
    /* an ARTn event table (columns dq, status, species, atom_id) */
    {
      const cJSON *ev = cJSON_GetObjectItemCaseSensitive(r, "events");
      if (!a->events && cJSON_IsObject(ev) &&
          cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(ev, "dq")) &&
          cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(ev, "status")) &&
          cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(ev, "species")) &&
          cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(ev, "atom_id")))
        a->events = ev;
    }
    /* S2 cutoffs (descriptors' summary.s2.cutoffs) */
    s2 = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(r, "summary"), "s2"),
        "cutoffs");
    for (j = 0; j < cJSON_GetArraySize(s2) && j < ENG_S2_MAXCUT; j++) {
      const cJSON *x = cJSON_GetArrayItem(s2, j);
      if (cJSON_IsNumber(x) && a->s2cut[j] == 0) a->s2cut[j] = x->valuedouble;
    }
  }
  rc = 0;
  goto out;
nomem:
  rc = KIND_ENOMEM;
  snprintf(err, errlen, "out of memory");
out:
  free(map);
  free(row);
  return rc;
}

/* ------------------------------------------------------------------ */
/* JSON helpers                                                        */
/* ------------------------------------------------------------------ */

static cJSON *num_or_null(double x) {
  return isfinite(x) ? cJSON_CreateNumber(x) : cJSON_CreateNull();
}

static void add_num(cJSON *o, const char *k, double x) {
  cJSON_AddItemToObject(o, k, num_or_null(x));
}

static cJSON *darr(const double *v, int n) {
  cJSON *a = cJSON_CreateArray();
  int i;
  for (i = 0; a && i < n; i++) cJSON_AddItemToArray(a, num_or_null(v[i]));
  return a;
}

static cJSON *larr(const long *v, int n) {
  cJSON *a = cJSON_CreateArray();
  int i;
  for (i = 0; a && i < n; i++)
    cJSON_AddItemToArray(a, cJSON_CreateNumber((double)v[i]));
  return a;
}

static cJSON *fit_json(const eng_linfit *f) {
  cJSON *o = cJSON_CreateObject();
  if (!o) return NULL;
  cJSON_AddNumberToObject(o, "n", f->n);
  add_num(o, "slope", f->slope);
  add_num(o, "intercept", f->intercept);
  add_num(o, "slope_err", f->slope_err);
  add_num(o, "intercept_err", f->intercept_err);
  add_num(o, "r", f->r);
  return o;
}

/* A CSV-friendly table {"columns": [...], "rows": [[...], ...]}. */
static cJSON *table_new(cJSON *tables, const char *name, const char *cols) {
  cJSON *t = cJSON_AddObjectToObject(tables, name), *c, *rows;
  if (!t) return NULL;
  c = cJSON_AddArrayToObject(t, "columns");
  rows = cJSON_AddArrayToObject(t, "rows");
  while (c && *cols) {
    const char *comma = strchr(cols, ',');
    size_t len = comma ? (size_t)(comma - cols) : strlen(cols);
    char buf[NAMELEN];
    snprintf(buf, sizeof buf, "%.*s", (int)len, cols);
    cJSON_AddItemToArray(c, cJSON_CreateString(buf));
    cols += len + (comma ? 1 : 0);
  }
  return rows;
}

/* ------------------------------------------------------------------ */
/* The analyses                                                        */
/* ------------------------------------------------------------------ */

/* Selections: 0 = all atoms, 1 + t = species t (NULL sel = all). */
static int *species_sel(const eng_system *s, int t) {
  int *sel = malloc((size_t)s->natoms * sizeof *sel), i;
  if (!sel) return NULL;
  for (i = 0; i < s->natoms; i++) sel[i] = s->type[i] == t;
  return sel;
}

static const char *group_name(const eng_system *s, int g) {
  return g == 0 ? "all" : s->type_name[g - 1];
}

static int run_correlations(actx *a, const field *prop, field **desc, int nd,
                            cJSON *r, cJSON *sum, cJSON *tables) {
  cJSON *arr = cJSON_AddArrayToObject(r, "correlations");
  cJSON *sarr = cJSON_AddArrayToObject(sum, "correlation");
  cJSON *rows = table_new(tables, "correlations",
                          "descriptor,property,species,n,pearson,spearman,"
                          "slope,slope_err,intercept,intercept_err,nbins,"
                          "pearson_binned,slope_binned,slope_binned_err,"
                          "intercept_binned");
  int ng = bpar(a, "per_species") ? 1 + a->sys->ntypes : 1;
  int bin = (int)kind__par(&a->c, "bin_atoms");
  int d, g;
  if (!arr || !sarr || !rows) return KIND_ENOMEM;
  if (bin == 0) { /* auto: at least 10 groups in the smallest species */
    int t, cnt[64] = {0}, nmin = a->n;
    for (t = 0; t < a->n; t++)
      if (isfinite(prop->v[t]) && a->sys->type[t] < 64) cnt[a->sys->type[t]]++;
    for (t = 0; t < a->sys->ntypes && t < 64; t++)
      if (cnt[t] > 0 && cnt[t] < nmin) nmin = cnt[t];
    bin = nmin / 10 < 200 ? nmin / 10 : 200;
    if (bin < 1) bin = 1;
    note(a, "bin_atoms auto: %d atoms per group", bin);
  }
  cJSON_AddNumberToObject(sum, "bin_atoms", bin);
  for (d = 0; d < nd; d++)
    for (g = 0; g < ng; g++) {
      int *sel = g ? species_sel(a->sys, g - 1) : NULL;
      eng_corr *c = NULL;
      cJSON *o, *b, *so, *row;
      int rc;
      if (g && !sel) return KIND_ENOMEM;
      rc = eng_corr_compute(a->n, desc[d]->v, prop->v, sel, bin, &c);
      free(sel);
      if (rc == ENG_ENOMEM) return KIND_ENOMEM;
      if (rc) {
        note(a, "correlation %s vs %s (%s) skipped: %s", desc[d]->name,
             prop->name, group_name(a->sys, g), eng_last_error());
        continue;
      }
      o = cJSON_CreateObject();
      if (!o || !cJSON_AddItemToArray(arr, o)) {
        eng_corr_free(c);
        return KIND_ENOMEM;
      }
      cJSON_AddStringToObject(o, "descriptor", desc[d]->name);
      cJSON_AddStringToObject(o, "property", prop->name);
      cJSON_AddStringToObject(o, "species", group_name(a->sys, g));
      cJSON_AddNumberToObject(o, "n", c->n);
      add_num(o, "pearson", c->pearson);
      add_num(o, "spearman", c->spearman);
      cJSON_AddItemToObject(o, "fit", fit_json(&c->fit));
      b = cJSON_AddObjectToObject(o, "binned");
      cJSON_AddNumberToObject(b, "bin_atoms", c->bin_atoms);
      cJSON_AddNumberToObject(b, "nbins", c->nbins);
      add_num(b, "pearson", c->fit_binned.r);
      cJSON_AddItemToObject(b, "fit", fit_json(&c->fit_binned));
      cJSON_AddItemToObject(b, "x", darr(c->bin_x, c->nbins));
      cJSON_AddItemToObject(b, "y", darr(c->bin_y, c->nbins));
      cJSON_AddItemToObject(b, "y_sem", darr(c->bin_y_sem, c->nbins));
      cJSON_AddItemToObject(b, "count",
                            cJSON_CreateIntArray(c->bin_count, c->nbins));
      so = cJSON_CreateObject();
      cJSON_AddItemToArray(sarr, so);
      cJSON_AddStringToObject(so, "descriptor", desc[d]->name);
      cJSON_AddStringToObject(so, "species", group_name(a->sys, g));
      cJSON_AddNumberToObject(so, "n", c->n);
      add_num(so, "pearson", c->pearson);
      add_num(so, "spearman", c->spearman);
      add_num(so, "pearson_binned", c->fit_binned.r);
      add_num(so, "slope_binned", c->fit_binned.slope);
      row = cJSON_CreateArray();
      cJSON_AddItemToArray(rows, row);
      cJSON_AddItemToArray(row, cJSON_CreateString(desc[d]->name));
      cJSON_AddItemToArray(row, cJSON_CreateString(prop->name));
      cJSON_AddItemToArray(row, cJSON_CreateString(group_name(a->sys, g)));
      cJSON_AddItemToArray(row, cJSON_CreateNumber(c->n));
      cJSON_AddItemToArray(row, num_or_null(c->pearson));
      cJSON_AddItemToArray(row, num_or_null(c->spearman));
      cJSON_AddItemToArray(row, num_or_null(c->fit.slope));
      cJSON_AddItemToArray(row, num_or_null(c->fit.slope_err));
      cJSON_AddItemToArray(row, num_or_null(c->fit.intercept));
      cJSON_AddItemToArray(row, num_or_null(c->fit.intercept_err));
      cJSON_AddItemToArray(row, cJSON_CreateNumber(c->nbins));
      cJSON_AddItemToArray(row, num_or_null(c->fit_binned.r));
      cJSON_AddItemToArray(row, num_or_null(c->fit_binned.slope));
      cJSON_AddItemToArray(row, num_or_null(c->fit_binned.slope_err));
      cJSON_AddItemToArray(row, num_or_null(c->fit_binned.intercept));
      eng_corr_free(c);
    }
  return 0;
}

/* xi fit JSON of curve c (nb points at r) into o; returns xi. */
static cJSON *xi_json(actx *a, const double *r, const double *c, int nb,
                      const char *what, eng_xi_fit *fit) {
  cJSON *o = cJSON_CreateObject();
  int rc = eng_xi_fit_compute(nb, r, c, kind__par(&a->c, "fit_min"),
                              kind__par(&a->c, "fit_max"),
                              bpar(a, "fit_weighted"),
                              fit);
  if (!o) return NULL;
  if (rc) {
    note(a, "xi of %s: %s", what, eng_last_error());
    fit->xi = fit->xi_err = NAN;
  }
  add_num(o, "xi", fit->xi);
  add_num(o, "xi_err", fit->xi_err);
  add_num(o, "amplitude", fit->amplitude);
  add_num(o, "slope", fit->line.slope);
  add_num(o, "slope_err", fit->line.slope_err);
  add_num(o, "intercept", fit->line.intercept);
  add_num(o, "r_first", fit->r_first);
  add_num(o, "r_last", fit->r_last);
  cJSON_AddNumberToObject(o, "npoints", fit->npoints);
  return o;
}

/* C(r) of the fields list (property first, then descriptors, then any S2
 * columns for the sweep), into r.autocorrelation, summary.xi, and the
 * s2_sweep when asked. */
static int run_acf(actx *a, field **fl, int nfl, int do_acf, int s2_first,
                   int ns2, const int *s2idx, cJSON *r, cJSON *sum,
                   cJSON *tables) {
  eng_acf_opts o;
  eng_acf *acf = NULL;
  double *p = NULL, w[3], wmin;
  cJSON *ac, *fo, *sxi, *rows;
  int f, k, rc = KIND_ENOMEM;
  const int n = a->n;

  eng_acf_opts_default(&o);
  o.dr = kind__par(&a->c, "cr_bin");
  o.rmax = kind__par(&a->c, "cr_rmax");
  o.r_norm = kind__par(&a->c, "cr_norm");
  o.center_by_type = !strcmp(kind__spar(&a->c, "cr_center"), "species");
  eng_box_widths(&a->sys->box, w);
  wmin = 1e300;
  for (k = 0; k < 3; k++)
    if (a->sys->box.periodic[k] && w[k] < wmin) wmin = w[k];
  if (o.rmax > 0.5 * wmin) {
    note(a, "cr_rmax %g A reduced to half the smallest box width, %g A",
         o.rmax, 0.5 * wmin);
    o.rmax = 0.5 * wmin;
  }
  if (!(o.rmax > o.dr) || o.r_norm >= o.rmax) {
    note(a, "autocorrelation skipped: range %g A too short for cr_bin %g A "
         "and cr_norm %g A", o.rmax, o.dr, o.r_norm);
    return 0;
  }
  p = malloc((size_t)n * nfl * sizeof *p);
  if (!p) return KIND_ENOMEM;
  for (f = 0; f < nfl; f++)
    memcpy(p + (size_t)f * n, fl[f]->v, (size_t)n * sizeof *p);
  rc = eng_acf_compute(a->sys, nfl, p, NULL, &o, &acf);
  free(p);
  if (rc) {
    rc = kind__eng_fail(rc, 0, "autocorrelation", NULL, 0);
    if (rc == KIND_ENOMEM) return rc;
    note(a, "autocorrelation skipped: %s", eng_last_error());
    return 0;
  }
  ac = cJSON_AddObjectToObject(r, "autocorrelation");
  cJSON_AddNumberToObject(ac, "bin", acf->opts.dr);
  cJSON_AddNumberToObject(ac, "rmax", acf->opts.rmax);
  cJSON_AddNumberToObject(ac, "norm_at", acf->opts.r_norm);
  cJSON_AddStringToObject(ac, "center", kind__spar(&a->c, "cr_center"));
  cJSON_AddNumberToObject(ac, "fit_min", kind__par(&a->c, "fit_min"));
  cJSON_AddNumberToObject(ac, "fit_max", kind__par(&a->c, "fit_max"));
  cJSON_AddBoolToObject(ac, "fit_weighted",
                        bpar(a, "fit_weighted"));
  cJSON_AddItemToObject(ac, "r", darr(acf->r, acf->nbins));
  fo = cJSON_AddObjectToObject(ac, "fields");
  sxi = cJSON_AddObjectToObject(sum, "xi");
  rows = table_new(tables, "xi", "field,xi,xi_err,npoints,r_first,r_last,"
                                 "c_at_norm,mean,variance,n");
  for (f = 0; f < nfl && fo && sxi && rows; f++) {
    const double *c = acf->c_norm + (size_t)f * acf->nbins;
    eng_xi_fit fit;
    cJSON *e, *x, *row, *s;
    if (!do_acf && f < s2_first) continue;
    e = cJSON_AddObjectToObject(fo, fl[f]->name);
    if (!e) break;
    cJSON_AddNumberToObject(e, "n", acf->nused[f]);
    add_num(e, "mean", acf->mean[f]);
    add_num(e, "variance", acf->var[f]);
    add_num(e, "c_at_norm", acf->c_at_norm[f]);
    cJSON_AddItemToObject(e, "c", darr(c, acf->nbins));
    cJSON_AddItemToObject(e, "c_raw",
                          darr(acf->c + (size_t)f * acf->nbins, acf->nbins));
    cJSON_AddItemToObject(e, "pairs",
                          larr(acf->npairs + (size_t)f * acf->nbins,
                               acf->nbins));
    x = xi_json(a, acf->r, c, acf->nbins, fl[f]->name, &fit);
    cJSON_AddItemToObject(e, "fit", x);
    s = cJSON_AddObjectToObject(sxi, fl[f]->name);
    if (s) {
      add_num(s, "xi", fit.xi);
      add_num(s, "xi_err", fit.xi_err);
      cJSON_AddNumberToObject(s, "npoints", fit.npoints);
    }
    row = cJSON_CreateArray();
    cJSON_AddItemToArray(rows, row);
    cJSON_AddItemToArray(row, cJSON_CreateString(fl[f]->name));
    cJSON_AddItemToArray(row, num_or_null(fit.xi));
    cJSON_AddItemToArray(row, num_or_null(fit.xi_err));
    cJSON_AddItemToArray(row, cJSON_CreateNumber(fit.npoints));
    cJSON_AddItemToArray(row, num_or_null(fit.r_first));
    cJSON_AddItemToArray(row, num_or_null(fit.r_last));
    cJSON_AddItemToArray(row, num_or_null(acf->c_at_norm[f]));
    cJSON_AddItemToArray(row, num_or_null(acf->mean[f]));
    cJSON_AddItemToArray(row, num_or_null(acf->var[f]));
    cJSON_AddItemToArray(row, cJSON_CreateNumber(acf->nused[f]));
  }
  /* the C(r) table: r then one column per field */
  {
    char cols[4096];
    size_t len = (size_t)snprintf(cols, sizeof cols, "r");
    cJSON *crow;
    for (f = 0; f < nfl && len + NAMELEN + 2 < sizeof cols; f++)
      if (do_acf || f >= s2_first)
        len += (size_t)snprintf(cols + len, sizeof cols - len, ",%s",
                                fl[f]->name);
    crow = table_new(tables, "autocorrelation", cols);
    for (k = 0; crow && k < acf->nbins; k++) {
      cJSON *row = cJSON_CreateArray();
      cJSON_AddItemToArray(crow, row);
      cJSON_AddItemToArray(row, cJSON_CreateNumber(acf->r[k]));
      for (f = 0; f < nfl; f++)
        if (do_acf || f >= s2_first)
          cJSON_AddItemToArray(
              row, num_or_null(acf->c_norm[(size_t)f * acf->nbins + k]));
    }
  }
  /* the S2 sweep: xi against the cutoff */
  if (ns2 > 0) {
    cJSON *sw = cJSON_AddObjectToObject(r, "s2_sweep");
    cJSON *cut = cJSON_AddArrayToObject(sw, "cutoffs");
    cJSON *col = cJSON_AddArrayToObject(sw, "columns");
    cJSON *xi = cJSON_AddArrayToObject(sw, "xi");
    cJSON *xe = cJSON_AddArrayToObject(sw, "xi_err");
    cJSON *srows = table_new(tables, "s2_sweep", "column,cutoff,xi,xi_err");
    for (k = 0; k < ns2; k++) {
      const cJSON *e = cJSON_GetObjectItemCaseSensitive(
          cJSON_GetObjectItemCaseSensitive(fo, fl[s2idx[k]]->name), "fit");
      const cJSON *xv = cJSON_GetObjectItemCaseSensitive(e, "xi");
      const cJSON *ev = cJSON_GetObjectItemCaseSensitive(e, "xi_err");
      int ci = atoi(fl[s2idx[k]]->name + 4) - 1;
      double cv = ci >= 0 && ci < ENG_S2_MAXCUT ? a->s2cut[ci] : 0;
      cJSON *row = cJSON_CreateArray();
      cJSON_AddItemToArray(cut, num_or_null(cv > 0 ? cv : NAN));
      cJSON_AddItemToArray(col, cJSON_CreateString(fl[s2idx[k]]->name));
      cJSON_AddItemToArray(xi, cJSON_Duplicate(xv, 1));
      cJSON_AddItemToArray(xe, cJSON_Duplicate(ev, 1));
      cJSON_AddItemToArray(srows, row);
      cJSON_AddItemToArray(row, cJSON_CreateString(fl[s2idx[k]]->name));
      cJSON_AddItemToArray(row, num_or_null(cv > 0 ? cv : NAN));
      cJSON_AddItemToArray(row, cJSON_Duplicate(xv, 1));
      cJSON_AddItemToArray(row, cJSON_Duplicate(ev, 1));
    }
    cJSON_AddItemToObject(sum, "s2_sweep", cJSON_Duplicate(sw, 1));
  }
  eng_acf_free(acf);
  return 0;
}

static int dcmp(const void *pa, const void *pb) {
  double x = *(const double *)pa, y = *(const double *)pb;
  return (x > y) - (x < y);
}

/* Median of the finite selected values (NaN if none). */
static double median_of(const double *v, const int *sel, int n) {
  double *t = malloc((size_t)(n ? n : 1) * sizeof *t), m = NAN;
  int i, k = 0;
  if (!t) return NAN;
  for (i = 0; i < n; i++)
    if ((!sel || sel[i]) && isfinite(v[i])) t[k++] = v[i];
  if (k) {
    qsort(t, (size_t)k, sizeof *t, dcmp);
    m = k % 2 ? t[k / 2] : 0.5 * (t[k / 2 - 1] + t[k / 2]);
  }
  free(t);
  return m;
}

/* Spectra of nv values v (species index vtype, -1 = none): one histogram
 * on common bins from 0 (or the smallest value, if negative) per group,
 * with its density, moments and the two-mode fit.  source: "events" or
 * "property". */
static int run_spectra(actx *a, const double *v, const int *vtype, int nv,
                       const char *fname, const char *source, cJSON *r,
                       cJSON *sum, cJSON *tables) {
  double bin = kind__par(&a->c, "spectrum_bin"), lo = 0, hi = 0;
  int ng = bpar(a, "per_species") ? 1 + a->sys->ntypes : 1;
  int dofit = bpar(a, "spectrum_fit");
  int nb, g, k, i, any = 0;
  cJSON *sp, *ssum, *rows, *cols[1 + 16];
  double *cent;
  char colnames[512];
  size_t cl;

  for (i = 0; i < nv; i++)
    if (isfinite(v[i])) {
      if (!any || v[i] < lo) lo = v[i];
      if (!any || v[i] > hi) hi = v[i];
      any = 1;
    }
  if (!any) {
    note(a, "spectra skipped: %s has no values", fname);
    return 0;
  }
  lo = lo < 0 ? floor(lo / bin) * bin : 0;
  nb = (int)floor((hi - lo) / bin) + 1;
  if (nb > 100000) {
    note(a, "spectra skipped: %d bins of %g (limit 1e5)", nb, bin);
    return 0;
  }
  cent = malloc((size_t)nb * sizeof *cent);
  if (!cent) return KIND_ENOMEM;
  for (k = 0; k < nb; k++) cent[k] = lo + (k + 0.5) * bin;
  sp = cJSON_AddObjectToObject(r, "spectra");
  ssum = cJSON_AddObjectToObject(sum, "spectra");
  cJSON_AddStringToObject(sp, "field", fname);
  cJSON_AddStringToObject(sp, "source", source);
  cJSON_AddStringToObject(ssum, "field", fname);
  cJSON_AddStringToObject(ssum, "source", source);
  cJSON_AddNumberToObject(sp, "bin", bin);
  cJSON_AddNumberToObject(sp, "lo", lo);
  cJSON_AddItemToObject(sp, "centers", darr(cent, nb));
  cl = (size_t)snprintf(colnames, sizeof colnames, "center");
  for (g = 0; g < ng && g < 16; g++)
    cl += (size_t)snprintf(colnames + cl, sizeof colnames - cl,
                           ",%s_count,%s_density,%s_fit",
                           group_name(a->sys, g), group_name(a->sys, g),
                           group_name(a->sys, g));
  rows = table_new(tables, "spectra", colnames);
  for (k = 0; k <= 16; k++) cols[k] = NULL;
  for (g = 0; g < ng && g < 16; g++) {
    int *sel = g ? malloc((size_t)(nv ? nv : 1) * sizeof *sel) : NULL;
    long *cnt = calloc((size_t)nb, sizeof *cnt), below = 0, above = 0, tot;
    double *dens = malloc((size_t)nb * sizeof *dens), mean = 0, var = 0;
    double *fitd = malloc((size_t)nb * sizeof *fitd);
    eng_twomode m;
    cJSON *o, *so;
    int cntn = 0;
    for (i = 0; sel && i < nv; i++) sel[i] = vtype[i] == g - 1;
    if ((g && !sel) || !cnt || !dens || !fitd) {
      free(sel);
      free(cnt);
      free(dens);
      free(fitd);
      free(cent);
      return KIND_ENOMEM;
    }
    eng_histogram(nv, v, sel, lo, bin, nb, cnt, &below, &above);
    for (i = 0; i < nv; i++)
      if ((!sel || sel[i]) && isfinite(v[i])) {
        mean += v[i];
        cntn++;
      }
    mean = cntn ? mean / cntn : NAN;
    for (i = 0; i < nv; i++)
      if ((!sel || sel[i]) && isfinite(v[i]))
        var += (v[i] - mean) * (v[i] - mean);
    var = cntn > 1 ? var / (cntn - 1) : NAN;
    tot = below + above;
    for (k = 0; k < nb; k++) tot += cnt[k];
    for (k = 0; k < nb; k++) dens[k] = tot ? cnt[k] / (tot * bin) : NAN;
    o = cJSON_AddObjectToObject(sp, group_name(a->sys, g));
    so = cJSON_AddObjectToObject(ssum, group_name(a->sys, g));
    cJSON_AddNumberToObject(o, "n", cntn);
    cJSON_AddItemToObject(o, "count", larr(cnt, nb));
    cJSON_AddItemToObject(o, "density", darr(dens, nb));
    cJSON_AddNumberToObject(so, "n", cntn);
    add_num(so, "mean", mean);
    add_num(so, "std", sqrt(var));
    add_num(so, "median", median_of(v, sel, nv));
    /* the most populated bin's centre: the spectrum's peak */
    {
      int kb = 0;
      for (k = 1; k < nb; k++)
        if (cnt[k] > cnt[kb]) kb = k;
      add_num(so, "peak", cntn ? cent[kb] : NAN);
    }
    for (k = 0; k < nb; k++) fitd[k] = NAN;
    if (dofit) {
      cJSON *fo;
      int frc = eng_twomode_fit(nv, v, sel, &m);
      if (frc) {
        note(a, "two-mode fit of the %s spectrum skipped: %s",
             group_name(a->sys, g), eng_last_error());
      } else {
        for (k = 0; k < nb; k++) fitd[k] = eng_twomode_pdf(&m, cent[k]);
        fo = cJSON_AddObjectToObject(o, "fit");
        cJSON_AddNumberToObject(fo, "n", m.n);
        add_num(fo, "w_exponential", m.w);
        add_num(fo, "e0", m.e0);
        add_num(fo, "sigma_rayleigh", m.sigma);
        add_num(fo, "loglik", m.loglik);
        cJSON_AddNumberToObject(fo, "iterations", m.iterations);
        cJSON_AddBoolToObject(fo, "converged", m.converged);
        cJSON_AddItemToObject(fo, "density", darr(fitd, nb));
        cJSON_AddItemToObject(so, "fit", cJSON_Duplicate(fo, 1));
        cJSON_DeleteItemFromObjectCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(so, "fit"), "density");
      }
    }
    cols[g] = cJSON_CreateArray();
    cJSON_AddItemToArray(cols[g], larr(cnt, nb));
    cJSON_AddItemToArray(cols[g], darr(dens, nb));
    cJSON_AddItemToArray(cols[g], darr(fitd, nb));
    free(sel);
    free(cnt);
    free(dens);
    free(fitd);
  }
  for (k = 0; rows && k < nb; k++) {
    cJSON *row = cJSON_CreateArray();
    cJSON_AddItemToArray(rows, row);
    cJSON_AddItemToArray(row, cJSON_CreateNumber(cent[k]));
    for (g = 0; g < ng && g < 16; g++)
      for (i = 0; i < 3; i++)
        cJSON_AddItemToArray(
            row, cJSON_Duplicate(
                     cJSON_GetArrayItem(cJSON_GetArrayItem(cols[g], i), k),
                     1));
  }
  for (g = 0; g <= 16; g++) cJSON_Delete(cols[g]);
  free(cent);
  return 0;
}

/* The converged events of a->events (status "ok", numeric dq), those of
 * atom id only when id > 0: new arrays *v (dq, eV) and *vt (species
 * index, -1 unknown), *nv entries.  KIND_ENOMEM or 0. */
static int event_values(actx *a, long long id, double **v, int **vt,
                        int *nv) {
  const cJSON *dq = cJSON_GetObjectItemCaseSensitive(a->events, "dq");
  const cJSON *st = cJSON_GetObjectItemCaseSensitive(a->events, "status");
  const cJSON *sp = cJSON_GetObjectItemCaseSensitive(a->events, "species");
  const cJSON *ai = cJSON_GetObjectItemCaseSensitive(a->events, "atom_id");
  const cJSON *d = dq->child, *s = st->child, *p = sp->child, *q = ai->child;
  int m = cJSON_GetArraySize(dq), k = 0;
  *v = malloc((size_t)(m ? m : 1) * sizeof **v);
  *vt = malloc((size_t)(m ? m : 1) * sizeof **vt);
  *nv = 0;
  if (!*v || !*vt) return KIND_ENOMEM;
  for (; d && s && p && q; d = d->next, s = s->next, p = p->next, q = q->next) {
    if (!cJSON_IsNumber(d) || !cJSON_IsString(s) || strcmp(s->valuestring, "ok"))
      continue;
    if (id > 0 && !(cJSON_IsNumber(q) && (long long)q->valuedouble == id))
      continue;
    (*v)[k] = d->valuedouble;
    (*vt)[k] = cJSON_IsString(p) ? eng_system_type_by_name(a->sys, p->valuestring)
                                 : -1;
    k++;
  }
  *nv = k;
  return 0;
}

/* Fig. 1b: the spectrum of one atom's events, and its Voronoi index. */
static int run_atom_spectrum(actx *a, long long id, cJSON *r) {
  double *v = NULL, bin = kind__par(&a->c, "spectrum_bin"), hi = 0;
  int *vt = NULL, nv, i, k, idx = -1, nb, rc;
  long *cnt = NULL;
  cJSON *o;
  static const char *const vor[4] = {"vor_n3", "vor_n4", "vor_n5", "vor_n6"};
  for (i = 0; i < a->n; i++)
    if (a->sys->id[i] == id) idx = i;
  if (idx < 0) {
    note(a, "atom_spectrum: atom id %lld is not in the structure", id);
    return 0;
  }
  if (!a->events) {
    note(a, "atom_spectrum: no input has an ARTn events table");
    return 0;
  }
  rc = event_values(a, id, &v, &vt, &nv);
  if (rc) goto out;
  for (i = 0; i < nv; i++)
    if (v[i] > hi) hi = v[i];
  nb = (int)floor(hi / bin) + 1;
  if (nb > 100000) nb = 100000;
  cnt = calloc((size_t)nb, sizeof *cnt);
  rc = KIND_ENOMEM;
  if (!cnt) goto out;
  eng_histogram(nv, v, NULL, 0, bin, nb, cnt, NULL, NULL);
  o = cJSON_AddObjectToObject(r, "atom_spectrum");
  if (!o) goto out;
  cJSON_AddNumberToObject(o, "id", (double)id);
  cJSON_AddStringToObject(o, "species", a->sys->type_name[a->sys->type[idx]]);
  cJSON_AddNumberToObject(o, "successes", nv);
  {
    cJSON *vi = cJSON_CreateArray();
    for (k = 0; k < 4 && vi; k++) {
      field *f = find_field(a, vor[k]);
      if (!f || !isfinite(f->v[idx])) {
        cJSON_Delete(vi);
        vi = NULL;
        break;
      }
      cJSON_AddItemToArray(vi, cJSON_CreateNumber(f->v[idx]));
    }
    cJSON_AddItemToObject(o, "voronoi_index", vi ? vi : cJSON_CreateNull());
  }
  cJSON_AddNumberToObject(o, "bin", bin);
  {
    double *c = malloc((size_t)nb * sizeof *c);
    if (!c) goto out;
    for (k = 0; k < nb; k++) c[k] = (k + 0.5) * bin;
    cJSON_AddItemToObject(o, "centers", darr(c, nb));
    free(c);
  }
  cJSON_AddItemToObject(o, "count", larr(cnt, nb));
  qsort(v, (size_t)nv, sizeof *v, dcmp);
  cJSON_AddItemToObject(o, "dq", darr(v, nv));
  rc = 0;
out:
  free(v);
  free(vt);
  free(cnt);
  return rc;
}

static int run_slices(actx *a, field **fl, int nfl, cJSON *r) {
  eng_slice_opts o;
  eng_slice *s = NULL;
  double *p;
  const char *ax = kind__spar(&a->c, "slice_axis");
  cJSON *so, *fo;
  int f, j, rc;

  eng_slice_opts_default(&o);
  o.axis = ax[0] - 'x';
  o.center = kind__par(&a->c, "slice_center");
  o.thickness = kind__par(&a->c, "slice_thickness");
  o.spacing = kind__par(&a->c, "slice_spacing");
  o.smooth = kind__par(&a->c, "slice_smooth");
  p = malloc((size_t)a->n * nfl * sizeof *p);
  if (!p) return KIND_ENOMEM;
  for (f = 0; f < nfl; f++)
    memcpy(p + (size_t)f * a->n, fl[f]->v, (size_t)a->n * sizeof *p);
  rc = eng_slice_map(a->sys, nfl, p, &o, &s);
  free(p);
  if (rc == ENG_ENOMEM) return KIND_ENOMEM;
  if (rc) {
    note(a, "slices skipped: %s", eng_last_error());
    return 0;
  }
  so = cJSON_AddObjectToObject(r, "slices");
  cJSON_AddStringToObject(so, "axis", ax);
  cJSON_AddNumberToObject(so, "center", o.center);
  cJSON_AddNumberToObject(so, "thickness", o.thickness);
  cJSON_AddNumberToObject(so, "spacing", o.spacing);
  cJSON_AddNumberToObject(so, "smooth", o.smooth);
  cJSON_AddStringToObject(so, "u_axis", s->axis_u == 0 ? "x" : "y");
  cJSON_AddStringToObject(so, "v_axis", s->axis_v == 1 ? "y" : "z");
  cJSON_AddNumberToObject(so, "natoms_slab", s->natoms_slab);
  cJSON_AddItemToObject(so, "u", darr(s->u, s->nu));
  cJSON_AddItemToObject(so, "v", darr(s->v, s->nv));
  fo = cJSON_AddObjectToObject(so, "fields");
  for (f = 0; fo && f < nfl; f++) {
    cJSON *rowsj = cJSON_AddArrayToObject(fo, fl[f]->name);
    for (j = 0; rowsj && j < s->nv; j++)
      cJSON_AddItemToArray(
          rowsj, darr(s->val + ((size_t)f * s->nv + j) * s->nu, s->nu));
  }
  eng_slice_free(s);
  return 0;
}

/* Does field name match pattern d of paper_descriptors ("s2_c*": s2_c
 * followed by a digit)? */
static int matches(const char *d, const char *name) {
  size_t l = strlen(d);
  if (d[l - 1] == '*')
    return !strncmp(name, d, l - 1) && isdigit((unsigned char)name[l - 1]);
  return !strcmp(name, d);
}

static int has(const cJSON *list, const char *name) {
  const cJSON *it;
  for (it = list ? list->child : NULL; it; it = it->next)
    if (cJSON_IsString(it) && !strcmp(it->valuestring, name)) return 1;
  return 0;
}

/* Contract of kind_def.run (kinds.h); the result is documented in
 * docs/kinds.md ("analysis"). */
int kind__run_analysis(const cJSON *params, const kind_io *io, cJSON **result,
                       char *err, size_t errlen) {
  actx a;
  cJSON *r = NULL, *sum, *tables, *inputs_json, *an, *dl, *pa;
  const cJSON *want, *dsel;
  field *prop = NULL, *desc[MAXFIELDS], *acf_fields[MAXFIELDS + 1];
  int s2idx[ENG_S2_MAXCUT], nd = 0, nacf = 0, ns2 = 0, s2_first, rc, i, k;
  const char *pname;

  *result = NULL;
  memset(&a, 0, sizeof a);
  rc = kind__ctx_begin(&a.c, "analysis", params, io, err, errlen);
  if (rc) goto fail;
  a.sys = a.c.sys;
  a.n = a.sys->natoms;
  r = kind__result_begin(&a.c);
  if (!r) goto nomem;
  sum = cJSON_AddObjectToObject(r, "summary");
  tables = cJSON_CreateObject();
  a.notes = cJSON_AddArrayToObject(sum, "notes");
  inputs_json = cJSON_AddArrayToObject(sum, "inputs");
  if (!sum || !tables || !a.notes || !inputs_json) {
    cJSON_Delete(tables);
    goto nomem;
  }
  cJSON_AddNumberToObject(sum, "natoms", a.n);
  kind__progress(&a.c, 0.05, "fields");
  rc = gather(&a, io, inputs_json, err, errlen);
  if (rc) {
    cJSON_Delete(tables);
    goto fail;
  }

  /* the property */
  pname = kind__spar(&a.c, "property");
  if (!strcmp(pname, "auto")) {
    prop = find_field(&a, "dq_mean");
  } else if (strcmp(pname, "none")) {
    prop = find_field(&a, pname);
    if (!prop) {
      cJSON_Delete(tables);
      snprintf(err, errlen, "property: no input has a per_atom column \"%s\"",
               pname);
      rc = KIND_EINVAL;
      goto fail;
    }
  }
  if (prop)
    cJSON_AddStringToObject(sum, "property", prop->name);
  else
    cJSON_AddNullToObject(sum, "property");

  /* the descriptors */
  dsel = cJSON_GetObjectItemCaseSensitive(a.c.params, "descriptors");
  if (has(dsel, "all")) {
    for (k = 0; k < NPAPER; k++)
      for (i = 0; i < a.nf; i++) {
        int match = matches(paper_descriptors[k], a.f[i].name);
        if (match && &a.f[i] != prop) desc[nd++] = &a.f[i];
      }
  } else {
    const cJSON *it;
    for (it = dsel->child; it; it = it->next) {
      field *f = find_field(&a, it->valuestring);
      if (!f) {
        cJSON_Delete(tables);
        snprintf(err, errlen, "descriptors: no input has a per_atom column "
                 "\"%s\"", it->valuestring);
        rc = KIND_EINVAL;
        goto fail;
      }
      if (f != prop) desc[nd++] = f;
    }
  }
  dl = cJSON_AddArrayToObject(sum, "descriptors");
  for (i = 0; i < nd; i++)
    cJSON_AddItemToArray(dl, cJSON_CreateString(desc[i]->name));

  want = cJSON_GetObjectItemCaseSensitive(a.c.params, "analyses");
  an = cJSON_AddArrayToObject(sum, "analyses");

  /* correlations */
  if (has(want, analysis_names[A_CORR])) {
    if (!prop || !nd)
      note(&a, "correlation skipped: %s", !prop ? "no property" : "no descriptors");
    else {
      kind__progress(&a.c, 0.1, "correlations");
      rc = run_correlations(&a, prop, desc, nd, r, sum, tables);
      if (rc) goto nomem_t;
      cJSON_AddItemToArray(an, cJSON_CreateString(analysis_names[A_CORR]));
    }
  }
  /* C(r): property, descriptors, then S2 columns not among them (sweep) */
  if (prop) acf_fields[nacf++] = prop;
  for (i = 0; i < nd; i++) acf_fields[nacf++] = desc[i];
  s2_first = nacf;
  if (has(want, analysis_names[A_S2])) {
    for (k = 1; k <= ENG_S2_MAXCUT; k++) {
      char nm[16];
      field *f;
      snprintf(nm, sizeof nm, "s2_c%d", k);
      f = find_field(&a, nm);
      if (!f) continue;
      for (i = 0; i < nacf; i++)
        if (acf_fields[i] == f) break;
      if (i == nacf) {
        if (nacf == MAXFIELDS + 1) break;
        acf_fields[nacf++] = f;
      }
      s2idx[ns2++] = i;
    }
    if (ns2 < 2) {
      note(&a, "s2_sweep skipped: %s", ns2 ? "only one S2 cutoff" : "no S2 columns");
      ns2 = 0;
    }
  }
  {
    int do_acf = has(want, analysis_names[A_ACF]) && s2_first > 0;
    if (has(want, analysis_names[A_ACF]) && s2_first == 0)
      note(&a, "autocorrelation skipped: no fields");
    if (do_acf || ns2) {
      kind__progress(&a.c, 0.3, "autocorrelation");
      rc = run_acf(&a, acf_fields, nacf, do_acf, s2_first,
                   ns2, s2idx, r, sum, tables);
      if (rc) goto nomem_t;
      if (do_acf)
        cJSON_AddItemToArray(an, cJSON_CreateString(analysis_names[A_ACF]));
      if (ns2 && cJSON_GetObjectItemCaseSensitive(r, "s2_sweep"))
        cJSON_AddItemToArray(an, cJSON_CreateString(analysis_names[A_S2]));
    }
  }
  if (has(want, analysis_names[A_SPECTRA])) {
    const char *so = kind__spar(&a.c, "spectrum_of");
    if (!strcmp(so, "events") && !a.events) {
      cJSON_Delete(tables);
      snprintf(err, errlen, "spectrum_of: no input has an ARTn events table");
      rc = KIND_EINVAL;
      goto fail;
    }
    kind__progress(&a.c, 0.8, "spectra");
    if (a.events && strcmp(so, "property")) {
      double *v = NULL;
      int *vt = NULL, nv = 0;
      rc = event_values(&a, 0, &v, &vt, &nv);
      if (!rc)
        rc = run_spectra(&a, v, vt, nv, "dq", "events", r, sum, tables);
      free(v);
      free(vt);
      if (rc) goto nomem_t;
    } else if (prop) {
      rc = run_spectra(&a, prop->v, a.sys->type, a.n, prop->name, "property",
                       r, sum, tables);
      if (rc) goto nomem_t;
    } else {
      note(&a, "spectra skipped: no property and no events");
    }
    if (cJSON_GetObjectItemCaseSensitive(r, "spectra"))
      cJSON_AddItemToArray(an, cJSON_CreateString(analysis_names[A_SPECTRA]));
  }
  if (kind__par(&a.c, "atom_spectrum") > 0) {
    rc = run_atom_spectrum(&a, (long long)kind__par(&a.c, "atom_spectrum"), r);
    if (rc) goto nomem_t;
  }
  if (has(want, analysis_names[A_SLICES])) {
    if (s2_first == 0)
      note(&a, "slices skipped: no fields");
    else {
      kind__progress(&a.c, 0.9, "slices");
      rc = run_slices(&a, acf_fields, s2_first, r);
      if (rc) goto nomem_t;
      if (cJSON_GetObjectItemCaseSensitive(r, "slices"))
        cJSON_AddItemToArray(an, cJSON_CreateString(analysis_names[A_SLICES]));
    }
  }
  cJSON_AddItemToObject(r, "tables", tables);
  tables = NULL;

  /* per_atom: ids and every field used (one merged table) */
  pa = kind__per_atom_ids(r, a.sys);
  if (!pa) goto nomem;
  for (i = 0; i < nacf; i++) {
    if (cJSON_GetObjectItemCaseSensitive(pa, acf_fields[i]->name)) continue;
    cJSON_AddItemToObject(pa, acf_fields[i]->name,
                          darr(acf_fields[i]->v, a.n));
  }
  actx_free(&a);
  return kind__finish(&a.c, r, result, err, errlen);
nomem_t:
  cJSON_Delete(tables);
nomem:
  rc = KIND_ENOMEM;
  snprintf(err, errlen, "out of memory");
fail:
  cJSON_Delete(r);
  actx_free(&a);
  kind__ctx_end(&a.c);
  return rc;
}
