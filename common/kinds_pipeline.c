/*
 * kinds_pipeline.c -- the job kind "pipeline": Wei et al., PRB 99, 014115
 * (2019) end to end on one structure, as a job graph (kind_def.plan):
 *
 *   0 minimize     CG to ftol
 *   1 descriptors  after 0, on its structure: every descriptor, the
 *                  paper's settings unless reduced (msd_time,
 *                  mode_fraction, s2_cutoffs)
 *   2 artn         after 0, on its structure, minimize_first false:
 *                  events_per_atom events around artn_atoms (itself a
 *                  fan-out into artn_chunk jobs), with the artn options
 *                  listed in artn_forward (local mode, budgets) passed on
 *                  under the same names
 *   3 analysis     after 1 and 2, on 0's structure: correlations, C(r)
 *                  and xi, the S2 sweep, spectra, slices of dq_mean
 *
 * The pipeline's own run gets the four results as inputs and writes the
 * report: one section per figure of the paper (Figs. 1, 3, 4, 5, 6, 7, 8,
 * S1) with this sample's numbers beside the paper's, and the same as one
 * table.  Parameters and result: docs/kinds.md ("pipeline"),
 * docs/analysis.md.
 */
#include "config.h"

#include "kinds.h"
#include "kinds_internal.h"

#include "engine.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOMAX 1e300

/* The artn kind's engine options that the pipeline passes on to its artn
 * step under the same names: local mode and the per-event budgets a sweep
 * over a big sample needs.  Their rows below are placeholders (ARTN_ROW)
 * that pipeline_artn_rows completes from the artn kind's own rows (type,
 * range, unit, help) before main (memo, session 15: a param of the artn
 * kind, not an engine option); their defaults are the artn kind's (the
 * engine's), filled in by pipeline_fix through the artn kind's validator,
 * which also applies its cross-field rules (local_radius >= perturb_radius
 * + 1 in local mode). */
static const char *const artn_forward[] = {"local",         "local_radius",
                                           "local_refine",  "refine_radius",
                                           "refine_grow",   "push_radius",
                                           "second_remote", "refine_grow_hot",
                                           "max_calls",     "restarts",
                                           "memo"};
#define NFORWARD ((int)(sizeof artn_forward / sizeof artn_forward[0]))
#define ARTN_ROW(nm) {nm, -1, NULL, 0, 0, 0, NULL, NULL, NULL}

kind_param kind__pipeline_params[] = {
    {"ftol", KIND_P_NUMBER, NULL, 0, 1, 1, "1e-6", "eV/A",
     "minimize step: force tolerance of the CG minimisation"},
    {"events_per_atom", KIND_P_INT, NULL, 1, 100000, 0, "10", "",
     "artn step: events per atom (the paper: 10)"},
    {"artn_atoms", KIND_P_TEXT, "all|ids:...|species:...|region:...", 1,
     1048576, 0, "\"all\"", "",
     "artn step: atoms whose events are run (the artn kind's `atoms`; the "
     "paper: all)"},
    {"chunk_events", KIND_P_INT, NULL, 1, 1e9, 0, "100", "",
     "artn step: events per artn_chunk job (does not change results)"},
    ARTN_ROW("local"),
    ARTN_ROW("local_radius"),
    ARTN_ROW("local_refine"),
    ARTN_ROW("refine_radius"),
    ARTN_ROW("refine_grow"),
    ARTN_ROW("push_radius"),
    ARTN_ROW("second_remote"),
    ARTN_ROW("refine_grow_hot"),
    ARTN_ROW("max_calls"),
    ARTN_ROW("restarts"),
    ARTN_ROW("memo"),
    {"seed", KIND_P_SEED, NULL, 0, 9007199254740991.0, 0, NULL, "",
     "seed of the descriptors' MD and of the ARTn sweep; default: drawn at "
     "submission and recorded"},
    {"msd_time", KIND_P_NUMBER, NULL, 0, 1e6, 1, "100", "ps",
     "descriptors step: vibrational-MSD production time (the paper: 100)"},
    {"mode_fraction", KIND_P_NUMBER, NULL, 0, 1, 1, "0.0025", "",
     "descriptors step: fraction of the 3N modes in the participation (the "
     "paper: 0.25 %)"},
    {"modes", KIND_P_BOOL, NULL, 0, 0, 0, "true", "",
     "descriptors step: the normal modes and what needs them "
     "(participation, harmonic MSD; the paper: yes); false leaves them out "
     "(reduced effort, e.g. where the eigensolver does not converge)"},
    {"s2_cutoffs", KIND_P_NUMLIST, NULL, 0, 50, 0, "[0,0,0,0]", "A",
     "descriptors step: S2 cutoffs, 0 = that g(r) trough (the paper: the "
     "first four troughs, 3.9 6.4 8.8 11.2 A)"},
    {"bin_atoms", KIND_P_INT, NULL, 0, 1e9, 0, "0", "",
     "analysis step: atoms per coarse-grained group; 0 = auto (200, fewer "
     "in small samples)"},
    {"cr_bin", KIND_P_NUMBER, NULL, 0, 5, 1, "0.2", "A",
     "analysis step: C(r) bin width"},
    {"cr_rmax", KIND_P_NUMBER, NULL, 0, 100, 1, "12", "A",
     "analysis step: C(r) range (at most half the box)"},
    {"fit_min", KIND_P_NUMBER, NULL, 0, 100, 0, "3", "A",
     "analysis step: xi fit from"},
    {"fit_max", KIND_P_NUMBER, NULL, 0, 100, 1, "8", "A",
     "analysis step: xi fit to"},
    {"slice_axis", KIND_P_STRING, "x|y|z", 0, 0, 0, "\"z\"", "",
     "analysis step: slab normal of the slice maps"},
    {NULL, 0, NULL, 0, 0, 0, NULL, NULL, NULL}};

/* The paper's settings of the parameters that may be reduced. */
static const struct {
  const char *name;
  double paper;
} paper_effort[] = {{"events_per_atom", 10},
                    {"msd_time", 100},
                    {"mode_fraction", 0.0025}};

/* Help texts of the forwarded rows: "artn step: " + the artn kind's. */
static char artn_help[NFORWARD][512];

/* Complete the ARTN_ROW placeholders of kind__pipeline_params from the artn
 * kind's table (kind__artn_params): runs once, before main, so that every
 * reader of the table (validation, schema, CLI options, docs check) sees
 * the artn kind's type, range, unit and help.  A forwarded name the artn
 * kind does not have is a programming error (assert). */
__attribute__((constructor)) static void pipeline_artn_rows(void) {
  kind_param *p;
  for (p = kind__pipeline_params; p->name; p++) {
    const kind_param *a;
    int k;
    if (p->type != -1) continue;
    for (a = kind__artn_params; a->name && strcmp(a->name, p->name); a++)
      ;
    for (k = 0; k < NFORWARD && strcmp(artn_forward[k], p->name); k++)
      ;
    assert(a->name && k < NFORWARD);
    if (!a->name || k == NFORWARD) continue;
    snprintf(artn_help[k], sizeof artn_help[k], "artn step: %s", a->help);
    *p = *a;
    p->name = artn_forward[k];
    p->help = artn_help[k];
  }
}

static double num(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  assert(cJSON_IsNumber(v));
  return v->valuedouble;
}

/* Cross-field rules; the forwarded artn options (those given, already
 * checked against the artn kind's ranges) go through the artn kind's
 * validator, which fills in the others' defaults and checks its own
 * cross-field rules (errors name the option, as for the artn kind). */
static int pipeline_fix(cJSON *o, char *err, size_t errlen) {
  const kind_def *artn = kind_find("artn");
  cJSON *ap, *an = NULL;
  char aerr[512];
  int k, rc;
  if (num(o, "fit_max") <= num(o, "fit_min")) {
    snprintf(err, errlen, "fit_max: must be > fit_min (%g A)",
             num(o, "fit_min"));
    return KIND_EINVAL;
  }
  ap = cJSON_CreateObject();
  if (!ap) goto nomem;
  for (k = 0; k < NFORWARD; k++) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, artn_forward[k]);
    if (v && !cJSON_AddItemToObject(ap, artn_forward[k], cJSON_Duplicate(v, 1)))
      goto nomem;
  }
  rc = artn->validate(ap, &an, aerr, sizeof aerr);
  cJSON_Delete(ap);
  ap = NULL;
  if (rc) {
    snprintf(err, errlen, "%s", aerr);
    return rc;
  }
  for (k = 0; k < NFORWARD; k++) {
    cJSON *v = cJSON_GetObjectItemCaseSensitive(an, artn_forward[k]);
    assert(v);
    if (cJSON_GetObjectItemCaseSensitive(o, artn_forward[k])) continue;
    if (!cJSON_AddItemToObject(o, artn_forward[k], cJSON_Duplicate(v, 1)))
      goto nomem;
  }
  cJSON_Delete(an);
  return 0;
nomem:
  cJSON_Delete(ap);
  cJSON_Delete(an);
  snprintf(err, errlen, "params: out of memory");
  return KIND_ENOMEM;
}

/* Contract of kind_def.validate (kinds.h); KIND_EINVAL with "field: rule". */
int kind__validate_pipeline(const cJSON *params, cJSON **normalized,
                            char *err, size_t errlen) {
  const cJSON *atoms = NULL, *it;
  cJSON *copy = NULL, *ap = NULL, *an = NULL;
  const kind_def *artn = kind_find("artn");
  char aerr[512];
  int rc, n = 0;

  *normalized = NULL;
  if (cJSON_IsObject(params))
    for (it = params->child; it; it = it->next)
      if (it->string && !strcmp(it->string, "artn_atoms")) atoms = it, n++;
  if (n > 1) {
    snprintf(err, errlen, "artn_atoms: given twice");
    return KIND_EINVAL;
  }
  if (atoms) { /* the artn kind's own rules and canonical form */
    copy = cJSON_Duplicate(params, 1);
    ap = cJSON_CreateObject();
    if (!copy || !ap ||
        !cJSON_AddItemToObject(ap, "atoms", cJSON_Duplicate(atoms, 1)))
      goto nomem;
    cJSON_DeleteItemFromObjectCaseSensitive(copy, "artn_atoms");
    rc = artn->validate(ap, &an, aerr, sizeof aerr);
    if (rc) {
      snprintf(err, errlen, "artn_atoms: %s",
               strncmp(aerr, "atoms: ", 7) ? aerr : aerr + 7);
      goto out;
    }
  }
  rc = kind__validate(kind_find("pipeline"), copy ? copy : params, normalized,
                      err, errlen, pipeline_fix);
  if (rc) goto out;
  if (an) {
    const cJSON *canon = cJSON_GetObjectItemCaseSensitive(an, "atoms");
    if (!cJSON_ReplaceItemInObjectCaseSensitive(*normalized, "artn_atoms",
                                                cJSON_Duplicate(canon, 1))) {
      cJSON_Delete(*normalized);
      *normalized = NULL;
      goto nomem;
    }
  }
  goto out;
nomem:
  rc = KIND_ENOMEM;
  snprintf(err, errlen, "params: out of memory");
out:
  cJSON_Delete(copy);
  cJSON_Delete(ap);
  cJSON_Delete(an);
  return rc;
}

/* ------------------------------------------------------------------ */
/* The plan                                                            */
/* ------------------------------------------------------------------ */

static cJSON *child(cJSON *arr, const char *kind, const char *label,
                    cJSON *params, const int *after, int nafter, int sf) {
  cJSON *c = cJSON_CreateObject();
  if (!c || !cJSON_AddItemToArray(arr, c)) {
    cJSON_Delete(c);
    cJSON_Delete(params);
    return NULL;
  }
  cJSON_AddStringToObject(c, "kind", kind);
  cJSON_AddItemToObject(c, "params", params);
  if (nafter) cJSON_AddItemToObject(c, "after", cJSON_CreateIntArray(after, nafter));
  if (sf >= 0) cJSON_AddNumberToObject(c, "structure_from", sf);
  cJSON_AddStringToObject(c, "label", label);
  return c;
}

static void copy_param(cJSON *dst, const char *dname, const cJSON *src,
                       const char *sname) {
  cJSON_AddItemToObject(
      dst, dname,
      cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(src, sname), 1));
}

/* Contract of kind_def.plan (kinds.h): the four steps above; sys unused. */
int kind__plan_pipeline(const cJSON *params, const eng_system *sys,
                        cJSON **children, char *err, size_t errlen) {
  cJSON *arr = cJSON_CreateArray(), *p;
  const int after0[1] = {0}, after12[2] = {1, 2};
  int k;
  (void)sys;
  *children = NULL;
  if (!arr) goto nomem;
  /* 0: minimize */
  p = cJSON_CreateObject();
  if (!p) goto nomem;
  copy_param(p, "ftol", params, "ftol");
  if (!child(arr, "minimize", "minimize", p, NULL, 0, -1)) goto nomem;
  /* 1: descriptors on the minimised structure */
  p = cJSON_CreateObject();
  if (!p) goto nomem;
  cJSON_AddBoolToObject(p, "minimize", 0);
  copy_param(p, "seed", params, "seed");
  copy_param(p, "msd_time", params, "msd_time");
  copy_param(p, "mode_fraction", params, "mode_fraction");
  copy_param(p, "s2_cutoffs", params, "s2_cutoffs");
  if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(params, "modes")))
    cJSON_AddStringToObject(p, "only", "rdf,voronoi,l5fs,s2,msd,vflex");
  if (!child(arr, "descriptors", "descriptors", p, after0, 1, 0)) goto nomem;
  /* 2: the ARTn sweep on the same structure */
  p = cJSON_CreateObject();
  if (!p) goto nomem;
  copy_param(p, "atoms", params, "artn_atoms");
  copy_param(p, "events_per_atom", params, "events_per_atom");
  copy_param(p, "seed", params, "seed");
  copy_param(p, "chunk_events", params, "chunk_events");
  for (k = 0; k < NFORWARD; k++)
    copy_param(p, artn_forward[k], params, artn_forward[k]);
  cJSON_AddBoolToObject(p, "minimize_first", 0);
  if (!child(arr, "artn", "artn", p, after0, 1, 0)) goto nomem;
  /* 3: analysis of both; the property is dq_mean when any event of the
   * sweep converged (auto), none otherwise (the report's dQ rows empty) */
  p = cJSON_CreateObject();
  if (!p) goto nomem;
  cJSON_AddStringToObject(p, "property", "auto");
  copy_param(p, "bin_atoms", params, "bin_atoms");
  copy_param(p, "cr_bin", params, "cr_bin");
  copy_param(p, "cr_rmax", params, "cr_rmax");
  copy_param(p, "fit_min", params, "fit_min");
  copy_param(p, "fit_max", params, "fit_max");
  copy_param(p, "slice_axis", params, "slice_axis");
  if (!child(arr, "analysis", "analysis", p, after12, 2, 0)) goto nomem;
  if (cJSON_IsInvalid(arr)) goto nomem;
  *children = arr;
  return 0;
nomem:
  cJSON_Delete(arr);
  snprintf(err, errlen, "out of memory");
  return KIND_ENOMEM;
}

/* ------------------------------------------------------------------ */
/* The report                                                          */
/* ------------------------------------------------------------------ */

static const cJSON *path(const cJSON *o, const char *a, const char *b,
                         const char *c) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);
  if (b) v = cJSON_GetObjectItemCaseSensitive(v, b);
  if (c) v = cJSON_GetObjectItemCaseSensitive(v, c);
  return v;
}

static double getnum(const cJSON *v) {
  return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* Largest (sign 1) or smallest (sign -1) number of array a; NaN if none. */
static double extreme(const cJSON *a, int sign) {
  const cJSON *it;
  double m = NAN;
  cJSON_ArrayForEach(it, a) {
    if (!cJSON_IsNumber(it)) continue;
    if (isnan(m) || sign * it->valuedouble > sign * m) m = it->valuedouble;
  }
  return m;
}

static cJSON *num_or_null(double x) {
  return isfinite(x) ? cJSON_CreateNumber(x) : cJSON_CreateNull();
}

typedef struct report {
  cJSON *figures; /* array of sections */
  cJSON *rows;    /* the flat table */
  cJSON *items;   /* items of the current section */
  const char *fig;
} report;

static void section(report *rp, const char *fig, const char *title,
                    const char *paper_says) {
  cJSON *s = cJSON_CreateObject();
  cJSON_AddItemToArray(rp->figures, s);
  cJSON_AddStringToObject(s, "figure", fig);
  cJSON_AddStringToObject(s, "title", title);
  cJSON_AddStringToObject(s, "paper", paper_says);
  rp->items = cJSON_AddArrayToObject(s, "items");
  rp->fig = fig;
}

/* One line: quantity, the paper's value (number, or text when paper_text
 * is not NULL), this sample's value, unit, and whether it agrees (1, 0,
 * or -1 = no criterion / not computable). */
static void item(report *rp, const char *quantity, double paper,
                 const char *paper_text, double sample, const char *unit,
                 int agrees) {
  cJSON *it = cJSON_CreateObject(), *row = cJSON_CreateArray();
  cJSON_AddItemToArray(rp->items, it);
  cJSON_AddStringToObject(it, "quantity", quantity);
  if (paper_text)
    cJSON_AddStringToObject(it, "paper", paper_text);
  else
    cJSON_AddItemToObject(it, "paper", num_or_null(paper));
  cJSON_AddItemToObject(it, "sample", num_or_null(sample));
  cJSON_AddStringToObject(it, "unit", unit);
  if (agrees >= 0 && isfinite(sample))
    cJSON_AddBoolToObject(it, "agrees", agrees);
  else
    cJSON_AddNullToObject(it, "agrees");
  cJSON_AddItemToArray(rp->rows, row);
  cJSON_AddItemToArray(row, cJSON_CreateString(rp->fig));
  cJSON_AddItemToArray(row, cJSON_CreateString(quantity));
  if (paper_text)
    cJSON_AddItemToArray(row, cJSON_CreateString(paper_text));
  else
    cJSON_AddItemToArray(row, num_or_null(paper));
  cJSON_AddItemToArray(row, num_or_null(sample));
  cJSON_AddItemToArray(row, cJSON_CreateString(unit));
  if (agrees >= 0 && isfinite(sample))
    cJSON_AddItemToArray(row, cJSON_CreateBool(agrees));
  else
    cJSON_AddItemToArray(row, cJSON_CreateNull());
}

/* The analysis summary's correlation entry of descriptor d, species sp. */
static const cJSON *corr(const cJSON *asum, const char *d, const char *sp) {
  const cJSON *it;
  cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(asum, "correlation")) {
    const cJSON *dd = cJSON_GetObjectItemCaseSensitive(it, "descriptor");
    const cJSON *ss = cJSON_GetObjectItemCaseSensitive(it, "species");
    if (cJSON_IsString(dd) && cJSON_IsString(ss) &&
        !strcmp(dd->valuestring, d) && !strcmp(ss->valuestring, sp))
      return it;
  }
  return NULL;
}

static double xi_of(const cJSON *asum, const char *f) {
  return getnum(path(asum, "xi", f, "xi"));
}

/* The paper's four descriptors with their names in the paper; S2 is the
 * column of the 4th cutoff (the paper's 11.2 A), or the last one. */
static const char *const d4[] = {"msd", "vflex", "s2", "participation"};
static const char *const d4_paper[] = {"vibrational MSD", "flexibility volume",
                                       "S2", "participation p_i"};

static void s2_column(const cJSON *asum, char *buf, size_t n) {
  int k, best = 0;
  for (k = 1; k <= 8; k++) {
    char nm[16];
    snprintf(nm, sizeof nm, "s2_c%d", k);
    if (path(asum, "xi", nm, NULL)) best = k;
    if (k == 4 && best == 4) break;
  }
  if (best)
    snprintf(buf, n, "s2_c%d", best);
  else
    snprintf(buf, n, "s2_c4");
}

static const char *col_of(const char *d, const char *s2col) {
  return strcmp(d, "s2") ? d : s2col;
}

static void build_report(report *rp, const cJSON *desc, const cJSON *artn,
                         const cJSON *an, const eng_system *sys) {
  const cJSON *asum = path(an, "summary", NULL, NULL);
  const cJSON *spec = path(asum, "spectra", NULL, NULL);
  char s2col[16], q[160];
  int t, k, d;

  s2_column(asum, s2col, sizeof s2col);

  section(rp, "1", "Features of the PEL: barrier spectra (c-e), slice map (a)",
          "dQ spreads from ~0 to 5 eV; each spectrum = exponential mode at "
          "low dQ + Rayleigh mode above; Cu more concentrated than Zr; Zr's "
          "peak to the right of Cu's; slice 3.9 A thick");
  item(rp, "values in the dQ spectrum (converged events)", NAN,
       "~200000 (10 events x 19652 atoms)",
       getnum(path(spec, "all", "n", NULL)), "", -1);
  item(rp, "dQ mean, all", NAN, "-", getnum(path(spec, "all", "mean", NULL)),
       "eV", -1);
  item(rp, "lowest event barrier (min of per_atom dq_min)", 0, NULL,
       extreme(path(artn, "per_atom", "dq_min", NULL), -1), "eV", -1);
  item(rp, "highest event barrier (max of per_atom dq_max)", 5, NULL,
       extreme(path(artn, "per_atom", "dq_max", NULL), 1), "eV", -1);
  for (t = -1; t < sys->ntypes; t++) {
    const char *g = t < 0 ? "all" : sys->type_name[t];
    const cJSON *fit = path(spec, g, "fit", NULL);
    snprintf(q, sizeof q, "two-mode fit %s: exponential weight", g);
    item(rp, q, NAN, "both modes present",
         getnum(path(fit, "w_exponential", NULL, NULL)), "",
         fit ? getnum(path(fit, "w_exponential", NULL, NULL)) > 0.02 &&
                   getnum(path(fit, "w_exponential", NULL, NULL)) < 0.98
             : -1);
    snprintf(q, sizeof q, "two-mode fit %s: exponential mean e0", g);
    item(rp, q, NAN, "-", getnum(path(fit, "e0", NULL, NULL)), "eV", -1);
    snprintf(q, sizeof q, "two-mode fit %s: Rayleigh sigma", g);
    item(rp, q, NAN, "-", getnum(path(fit, "sigma_rayleigh", NULL, NULL)),
         "eV", -1);
  }
  {
    double mcu = getnum(path(spec, "Cu", "median", NULL));
    double mzr = getnum(path(spec, "Zr", "median", NULL));
    double scu = getnum(path(spec, "Cu", "std", NULL));
    double szr = getnum(path(spec, "Zr", "std", NULL));
    item(rp, "median dQ Zr - Cu (Zr peak to the right)", NAN, "> 0",
         mzr - mcu, "eV", mzr - mcu > 0);
    item(rp, "std dQ Zr - Cu (Cu more concentrated)", NAN, "> 0", szr - scu,
         "eV", szr - scu > 0);
  }
  item(rp, "slice thickness", 3.9, NULL,
       getnum(path(an, "slices", "thickness", NULL)), "A", -1);
  item(rp, "atoms in the slice", NAN, "-",
       getnum(path(an, "slices", "natoms_slab", NULL)), "", -1);

  section(rp, "3", "Vibrational MSD vs dQ (thermal excitation)",
          "atoms with a large vibrational MSD sit in low-barrier regions: "
          "r(MSD, dQ) < 0");
  for (t = -1; t < sys->ntypes; t++) {
    const char *g = t < 0 ? "all" : sys->type_name[t];
    const cJSON *c = corr(asum, "msd", g);
    double r = getnum(path(c, "pearson", NULL, NULL));
    snprintf(q, sizeof q, "Pearson r(MSD, dQ) per atom, %s", g);
    item(rp, q, NAN, "< 0", r, "", r < 0);
  }

  section(rp, "4", "dQ vs the four descriptors, coarse-grained (~200 atoms "
          "per point), with the linear fit",
          "dQ falls with MSD, v_flex, S2 and p_i for Cu and Zr: negative "
          "slopes");
  for (d = 0; d < 4; d++)
    for (t = 0; t < sys->ntypes; t++) {
      const cJSON *c = corr(asum, col_of(d4[d], s2col), sys->type_name[t]);
      double sl = getnum(path(c, "slope_binned", NULL, NULL));
      snprintf(q, sizeof q, "slope of dQ vs %s (%s), %s", d4_paper[d],
               col_of(d4[d], s2col), sys->type_name[t]);
      item(rp, q, NAN, "< 0", sl, "", sl < 0);
    }

  section(rp, "5", "|r_P| of the coarse-grained correlations",
          "|r_P| > 0.95 for most, except dQ-S2 for Zr");
  for (d = 0; d < 4; d++)
    for (t = 0; t < sys->ntypes; t++) {
      const cJSON *c = corr(asum, col_of(d4[d], s2col), sys->type_name[t]);
      double r = fabs(getnum(path(c, "pearson_binned", NULL, NULL)));
      snprintf(q, sizeof q, "|r_P| dQ vs %s, %s", d4_paper[d],
               sys->type_name[t]);
      item(rp, q, 0.95, strcmp(d4[d], "s2") || strcmp(sys->type_name[t], "Zr")
                            ? NULL
                            : "< 0.95 (the exception)",
           r, "", r > 0.95);
    }

  section(rp, "6", "Slice maps and C(r) (Eq. 6), normalised to 1 at 3 A",
          "self-similar maps; C(r) positive and decaying for dQ and every "
          "descriptor");
  {
    const char *f6[5] = {"dq_mean", "msd", "vflex", s2col, "participation"};
    const cJSON *flds = path(an, "autocorrelation", "fields", NULL);
    double fmax = getnum(path(an, "autocorrelation", "fit_max", NULL));
    for (k = 0; k < 5; k++) {
      const cJSON *c = path(flds, f6[k], "c", NULL);
      const cJSON *r = path(an, "autocorrelation", "r", NULL);
      int pos = 0, tot = 0, i;
      for (i = 0; i < cJSON_GetArraySize(c); i++) {
        double rv = getnum(cJSON_GetArrayItem(r, i));
        double cv = getnum(cJSON_GetArrayItem(c, i));
        if (rv < 3.0 || rv > fmax || !isfinite(cv)) continue;
        tot++;
        pos += cv > 0;
      }
      snprintf(q, sizeof q, "fraction of C(r) > 0 over 3..%g A, %s", fmax,
               f6[k]);
      item(rp, q, 1, NULL, tot ? (double)pos / tot : NAN, "",
           tot ? pos == tot : -1);
    }
  }

  section(rp, "7", "Correlation lengths from C(r) ~ exp(-r/xi)",
          "xi ~ 2.2 A for the descriptors, 2.6 A for dQ: a common length "
          "close to r_NN = 2.8 A");
  {
    double xq = xi_of(asum, "dq_mean");
    item(rp, "xi of dQ", 2.6, NULL, xq, "A",
         isfinite(xq) ? fabs(xq - 2.6) <= 0.25 * 2.6 : -1);
    for (d = 0; d < 4; d++) {
      double x = xi_of(asum, col_of(d4[d], s2col));
      snprintf(q, sizeof q, "xi of %s (%s)", d4_paper[d], col_of(d4[d], s2col));
      item(rp, q, 2.2, NULL, x, "A",
           isfinite(x) ? fabs(x - 2.2) <= 0.25 * 2.2 : -1);
    }
  }

  section(rp, "8", "S2 at each g(r) trough: xi against the cutoff",
          "troughs at 3.9, 6.4, 8.8, 11.2 A; xi rises with the cutoff and "
          "saturates at the 4th trough");
  {
    static const double ptr[4] = {3.9, 6.4, 8.8, 11.2};
    const cJSON *tr = path(desc, "summary", "rdf", "troughs");
    const cJSON *sw = path(an, "s2_sweep", NULL, NULL);
    const cJSON *xs = cJSON_GetObjectItemCaseSensitive(sw, "xi");
    const cJSON *cs = cJSON_GetObjectItemCaseSensitive(sw, "cutoffs");
    int n = cJSON_GetArraySize(xs);
    tr = cJSON_GetObjectItemCaseSensitive(tr, "total");
    for (k = 0; k < 4; k++) {
      snprintf(q, sizeof q, "g(r) trough %d", k + 1);
      item(rp, q, ptr[k], NULL, getnum(cJSON_GetArrayItem(tr, k)), "A",
           isfinite(getnum(cJSON_GetArrayItem(tr, k)))
               ? fabs(getnum(cJSON_GetArrayItem(tr, k)) - ptr[k]) < 0.3
               : -1);
    }
    for (k = 0; k < n; k++) {
      snprintf(q, sizeof q, "xi of S2 with cutoff %.2f A",
               getnum(cJSON_GetArrayItem(cs, k)));
      item(rp, q, NAN, k == 0 ? "shortest" : "rising, then saturating",
           getnum(cJSON_GetArrayItem(xs, k)), "A", -1);
    }
    if (n >= 2) {
      double x1 = getnum(cJSON_GetArrayItem(xs, 0));
      double xl = getnum(cJSON_GetArrayItem(xs, n - 1));
      item(rp, "xi(S2, last cutoff) - xi(S2, first cutoff)", NAN, "> 0",
           xl - x1, "A", xl - x1 > 0);
    }
    if (n >= 4) {
      double x[4];
      for (k = 0; k < 4; k++) x[k] = getnum(cJSON_GetArrayItem(xs, k));
      item(rp, "saturation: (xi4 - xi3) - (xi2 - xi1)", NAN, "< 0",
           (x[3] - x[2]) - (x[1] - x[0]), "A",
           (x[3] - x[2]) - (x[1] - x[0]) < 0);
    }
  }

  section(rp, "S1", "L5FS (local fivefold symmetry) vs dQ",
          "no strong correlation with dQ for Cu or Zr; xi(L5FS) = 1.2 A, "
          "much shorter than dQ's");
  for (t = 0; t < sys->ntypes; t++) {
    const cJSON *c = corr(asum, "l5fs", sys->type_name[t]);
    double r = getnum(path(c, "pearson", NULL, NULL));
    double rb = getnum(path(c, "pearson_binned", NULL, NULL));
    snprintf(q, sizeof q, "Pearson r(L5FS, dQ) per atom, %s",
             sys->type_name[t]);
    item(rp, q, NAN, "weak", r, "", -1);
    snprintf(q, sizeof q, "|r_P| L5FS coarse-grained, %s", sys->type_name[t]);
    item(rp, q, NAN, "< the descriptors'", fabs(rb), "", -1);
  }
  {
    double xl = xi_of(asum, "l5fs"), xq = xi_of(asum, "dq_mean");
    item(rp, "xi of L5FS", 1.2, NULL, xl, "A",
         isfinite(xl) ? fabs(xl - 1.2) <= 0.25 * 1.2 : -1);
    item(rp, "xi(L5FS) - xi(dQ)", NAN, "< 0", xl - xq, "A", xl - xq < 0);
  }
}

/* Contract of kind_def.run (kinds.h); the result is documented in
 * docs/kinds.md ("pipeline"). */
int kind__run_pipeline(const cJSON *params, const kind_io *io, cJSON **result,
                       char *err, size_t errlen) {
  kind__ctx c;
  cJSON *r = NULL, *sum, *eff, *rep, *steps;
  report rp;
  const cJSON *mn, *desc, *artn, *an;
  int rc, k, reduced = 0;
  static const char *const labels[4] = {"minimize", "descriptors", "artn",
                                        "analysis"};

  *result = NULL;
  rc = kind__ctx_begin(&c, "pipeline", params, io, err, errlen);
  if (rc) goto fail;
  if (io->ninputs != 4) {
    snprintf(err, errlen, "pipeline: needs the results of its 4 steps "
             "(minimize, descriptors, artn, analysis) as inputs, got %d; run "
             "it as a job graph", io->ninputs);
    rc = KIND_EINVAL;
    goto fail;
  }
  for (k = 0; k < 4; k++) {
    const cJSON *kn = cJSON_GetObjectItemCaseSensitive(io->inputs[k], "kind");
    if (!cJSON_IsString(kn) || strcmp(kn->valuestring, labels[k])) {
      snprintf(err, errlen, "pipeline: input %d must be a %s result", k,
               labels[k]);
      rc = KIND_EINVAL;
      goto fail;
    }
  }
  mn = io->inputs[0];
  desc = io->inputs[1];
  artn = io->inputs[2];
  an = io->inputs[3];
  r = kind__result_begin(&c);
  if (!r) goto nomem;
  sum = cJSON_AddObjectToObject(r, "summary");
  eff = cJSON_AddObjectToObject(sum, "effort");
  for (k = 0; k < (int)(sizeof paper_effort / sizeof paper_effort[0]); k++) {
    double v = kind__par(&c, paper_effort[k].name);
    cJSON *o = cJSON_AddObjectToObject(eff, paper_effort[k].name);
    cJSON_AddNumberToObject(o, "used", v);
    cJSON_AddNumberToObject(o, "paper", paper_effort[k].paper);
    if (v < paper_effort[k].paper) reduced = 1;
  }
  {
    cJSON *o = cJSON_AddObjectToObject(eff, "modes");
    int modes = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c.params, "modes"));
    cJSON_AddBoolToObject(o, "used", modes);
    cJSON_AddBoolToObject(o, "paper", 1);
    if (!modes) reduced = 1;
  }
  {
    const char *atoms = kind__spar(&c, "artn_atoms");
    cJSON *o = cJSON_AddObjectToObject(eff, "artn_atoms");
    cJSON_AddStringToObject(o, "used", atoms);
    cJSON_AddStringToObject(o, "paper", "all");
    if (strcmp(atoms, "all")) reduced = 1;
  }
  cJSON_AddBoolToObject(eff, "reduced", reduced);
  steps = cJSON_AddObjectToObject(sum, "steps");
  {
    cJSON *o = cJSON_AddObjectToObject(steps, "minimize");
    cJSON_AddItemToObject(o, "energy", cJSON_Duplicate(path(mn, "summary", "energy", NULL), 1));
    cJSON_AddItemToObject(o, "fmax", cJSON_Duplicate(path(mn, "summary", "fmax", NULL), 1));
    cJSON_AddItemToObject(o, "stop", cJSON_Duplicate(path(mn, "summary", "stop", NULL), 1));
    o = cJSON_AddObjectToObject(steps, "descriptors");
    cJSON_AddItemToObject(o, "computed", cJSON_Duplicate(path(desc, "summary", "computed", NULL), 1));
    cJSON_AddItemToObject(o, "s2_cutoffs", cJSON_Duplicate(path(desc, "summary", "s2", "cutoffs"), 1));
    o = cJSON_AddObjectToObject(steps, "artn");
    for (k = 0; k < 4; k++) {
      static const char *const ak[4] = {"atoms_selected", "attempts",
                                        "successes", "success_rate"};
      cJSON_AddItemToObject(o, ak[k], cJSON_Duplicate(path(artn, "summary", ak[k], NULL), 1));
    }
    cJSON_AddItemToObject(o, "wall_seconds", cJSON_Duplicate(path(artn, "summary", "wall_seconds", NULL), 1));
    cJSON_AddBoolToObject(o, "local", cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c.params, "local")));
    o = cJSON_AddObjectToObject(steps, "analysis");
    cJSON_AddItemToObject(o, "analyses", cJSON_Duplicate(path(an, "summary", "analyses", NULL), 1));
    cJSON_AddItemToObject(o, "notes", cJSON_Duplicate(path(an, "summary", "notes", NULL), 1));
  }
  rep = cJSON_AddObjectToObject(r, "report");
  memset(&rp, 0, sizeof rp);
  rp.figures = cJSON_AddArrayToObject(rep, "figures");
  {
    cJSON *t = cJSON_AddObjectToObject(rep, "table"), *cols;
    static const char *const cn[6] = {"figure", "quantity", "paper",
                                      "sample", "unit", "agrees"};
    cols = cJSON_AddArrayToObject(t, "columns");
    for (k = 0; k < 6; k++) cJSON_AddItemToArray(cols, cJSON_CreateString(cn[k]));
    rp.rows = cJSON_AddArrayToObject(t, "rows");
  }
  if (!rp.figures || !rp.rows) goto nomem;
  build_report(&rp, desc, artn, an, c.sys);
  /* the analysis' plotting data, for one-result plots */
  {
    static const char *const keep[] = {"correlations", "autocorrelation",
                                       "s2_sweep", "spectra", "slices"};
    cJSON *pd = cJSON_AddObjectToObject(r, "analysis");
    for (k = 0; k < 5; k++) {
      const cJSON *v = cJSON_GetObjectItemCaseSensitive(an, keep[k]);
      if (v) cJSON_AddItemToObject(pd, keep[k], cJSON_Duplicate(v, 1));
    }
    cJSON_AddItemToObject(pd, "summary",
                          cJSON_Duplicate(path(an, "summary", NULL, NULL), 1));
  }
  return kind__finish(&c, r, result, err, errlen);
nomem:
  rc = KIND_ENOMEM;
  snprintf(err, errlen, "out of memory");
fail:
  cJSON_Delete(r);
  kind__ctx_end(&c);
  return rc;
}
