/*
 * test_analysis_kind.c -- TAP: the analysis and pipeline job kinds called
 * through the kind table with a kind_io (as the worker does).
 *
 *  - analysis on the 500-atom test glass with two synthetic input results
 *    (a descriptors-like one and an artn-like one whose rows are in reverse
 *    id order with nulls): fields are matched to atoms by id (the Pearson r,
 *    the coarse-grained r_P and the C(r) in the result equal the engine's on
 *    the arrays built here in structure order), the S2 sweep takes its
 *    cutoffs from the input summary, spectra counts add up, per_atom
 *    carries the merged fields, and bad params / inputs are KIND_EINVAL
 *    with a message naming the field;
 *  - pipeline: validation (artn_atoms checked by the artn kind), the plan
 *    (minimize -> descriptors + artn -> analysis, after / structure_from),
 *    and a whole graph run in process with kind_run_graph at tiny effort
 *    (250 atoms, 2 ARTn events, 0.2 ps of MSD) that ends with a report
 *    holding every figure section (1, 3, 4, 5, 6, 7, 8, S1).
 */
#include "config.h"

#include "engine.h"
#include "kinds.h"
#include "../tap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POT "/usr/share/lammps/potentials/CuZr_mm.eam.fs"

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  char *buf = NULL;
  long n;
  if (!f) return NULL;
  if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
      fseek(f, 0, SEEK_SET) == 0) {
    buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
      free(buf);
      buf = NULL;
    }
    if (buf) {
      buf[n] = 0;
      *len = (size_t)n;
    }
  }
  fclose(f);
  return buf;
}

/* get(o, "a") = o.a, get(o, "a", "b") = o.a.b (NULL when absent). */
static const cJSON *get3(const cJSON *o, const char *a, const char *b) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);
  return b ? cJSON_GetObjectItemCaseSensitive(v, b) : v;
}
#define GET_(o, a, b, ...) get3(o, a, b)
#define get(...) GET_(__VA_ARGS__, NULL, NULL)

static double num(const cJSON *v) {
  return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* The summary correlation entry (descriptor, species). */
static const cJSON *corr_entry(const cJSON *r, const char *d, const char *sp) {
  const cJSON *it;
  cJSON_ArrayForEach(it, get(r, "correlations", NULL)) {
    if (!strcmp(get(it, "descriptor", NULL)->valuestring, d) &&
        !strcmp(get(it, "species", NULL)->valuestring, sp))
      return it;
  }
  return NULL;
}

static int run_kind(const char *kind, const char *params_json, kind_io *io,
                    cJSON **r, char *err, size_t errlen) {
  const kind_def *k = kind_find(kind);
  cJSON *p = params_json ? cJSON_Parse(params_json) : NULL, *norm = NULL;
  int rc;
  *r = NULL;
  rc = k->validate(p, &norm, err, errlen);
  if (!rc) rc = k->run(norm, io, r, err, errlen);
  cJSON_Delete(p);
  cJSON_Delete(norm);
  return rc;
}

static void test_analysis(const char *src) {
  char path[4096], err[1024];
  size_t slen = 0, plen = 0;
  char *sbuf, *pbuf;
  eng_system *sys = NULL;
  kind_io io;
  const cJSON *ins[2];
  cJSON *desc, *artn, *pa, *ids, *r = NULL, *a;
  double *msd, *vflex, *s2a, *s2b, *l5, *dq;
  eng_rng rng;
  int n, i, rc, nval = 0;

  snprintf(path, sizeof path, "%s/tests/data/desc/cuzr500.data", src);
  sbuf = slurp(path, &slen);
  pbuf = slurp(POT, &plen);
  if (!sbuf || !pbuf) bail("cannot read %s or %s", path, POT);
  if (eng_read_buffer(sbuf, slen, "cuzr500.data", ENG_FMT_AUTO, NULL, &sys))
    bail("%s", eng_last_error());
  n = sys->natoms;
  msd = malloc(n * sizeof *msd);
  vflex = malloc(n * sizeof *vflex);
  s2a = malloc(n * sizeof *s2a);
  s2b = malloc(n * sizeof *s2b);
  l5 = malloc(n * sizeof *l5);
  dq = malloc(n * sizeof *dq);
  /* fields with a spatial structure: smooth functions of position */
  eng_rng_seed(&rng, 17);
  for (i = 0; i < n; i++) {
    const double *x = &sys->x[3 * i];
    double u = sin(2 * M_PI * x[0] / sys->box.len[0]) +
               cos(2 * M_PI * x[1] / sys->box.len[1]);
    msd[i] = 0.05 + 0.01 * u + 0.003 * eng_rng_normal(&rng);
    vflex[i] = 2.6 * msd[i] + 0.001 * eng_rng_normal(&rng);
    s2a[i] = -3 + 0.2 * eng_rng_normal(&rng);
    s2b[i] = -4 + 0.3 * u + 0.1 * eng_rng_normal(&rng);
    l5[i] = 0.5 + 0.1 * eng_rng_normal(&rng);
    dq[i] = i % 7 == 3 ? NAN : 1.5 - 8 * msd[i] + 0.1 * eng_rng_normal(&rng);
    if (isfinite(dq[i])) nval++;
  }
  /* the descriptors-like input, structure order */
  desc = cJSON_CreateObject();
  cJSON_AddStringToObject(desc, "kind", "descriptors");
  pa = cJSON_AddObjectToObject(desc, "per_atom");
  ids = cJSON_AddArrayToObject(pa, "id");
  for (i = 0; i < n; i++)
    cJSON_AddItemToArray(ids, cJSON_CreateNumber((double)sys->id[i]));
  cJSON_AddItemToObject(pa, "msd", cJSON_CreateDoubleArray(msd, n));
  cJSON_AddItemToObject(pa, "vflex", cJSON_CreateDoubleArray(vflex, n));
  cJSON_AddItemToObject(pa, "s2_c1", cJSON_CreateDoubleArray(s2a, n));
  cJSON_AddItemToObject(pa, "s2_c2", cJSON_CreateDoubleArray(s2b, n));
  cJSON_AddItemToObject(pa, "l5fs", cJSON_CreateDoubleArray(l5, n));
  a = cJSON_AddArrayToObject(pa, "species");
  for (i = 0; i < n; i++)
    cJSON_AddItemToArray(a, cJSON_CreateString(sys->type_name[sys->type[i]]));
  {
    double cut[2] = {3.9, 6.4};
    cJSON *s2 = cJSON_AddObjectToObject(
        cJSON_AddObjectToObject(desc, "summary"), "s2");
    cJSON_AddItemToObject(s2, "cutoffs", cJSON_CreateDoubleArray(cut, 2));
  }
  /* the artn-like input, reverse order, nulls */
  artn = cJSON_CreateObject();
  cJSON_AddStringToObject(artn, "kind", "artn");
  pa = cJSON_AddObjectToObject(artn, "per_atom");
  ids = cJSON_AddArrayToObject(pa, "id");
  a = cJSON_AddArrayToObject(pa, "dq_mean");
  for (i = n - 1; i >= 0; i--) {
    cJSON_AddItemToArray(ids, cJSON_CreateNumber((double)sys->id[i]));
    cJSON_AddItemToArray(a, isfinite(dq[i]) ? cJSON_CreateNumber(dq[i])
                                            : cJSON_CreateNull());
  }

  memset(&io, 0, sizeof io);
  io.structure_data = sbuf;
  io.structure_len = slen;
  io.structure_name = "cuzr500.data";
  io.potential_data = pbuf;
  io.potential_len = plen;
  io.potential_name = "CuZr_mm.eam.fs";
  ins[0] = desc;
  ins[1] = artn;
  io.inputs = ins;
  io.ninputs = 2;

  rc = run_kind("analysis", "{\"bin_atoms\": 50}", &io, &r, err, sizeof err);
  ok(rc == 0 && r, "analysis runs (%s)", rc ? err : "ok");
  if (!r) goto out;
  ok(!strcmp(get(r, "kind", NULL)->valuestring, "analysis"), "kind");
  ok(!strcmp(get(r, "summary", "property")->valuestring, "dq_mean"),
     "property auto = dq_mean");
  ok(cJSON_GetArraySize(get(r, "summary", "descriptors")) == 5,
     "descriptors all = msd, vflex, s2_c1, s2_c2, l5fs");
  ok(cJSON_GetArraySize(get(r, "summary", "analyses")) == 5,
     "all five analyses ran");
  {
    const cJSON *c = corr_entry(r, "msd", "all");
    eng_corr *ec = NULL;
    double rr;
    eng_pearson(n, msd, dq, NULL, &rr);
    eng_corr_compute(n, msd, dq, NULL, 50, &ec);
    ok(c && num(get(c, "n", NULL)) == nval, "msd vs dq: %d atoms with both",
       nval);
    near(num(get(c, "pearson", NULL)), rr, 1e-12,
         "Pearson r equals the engine's on arrays in structure order (ids "
         "matched)");
    near(num(get(get(c, "binned", NULL), "pearson", NULL)), ec->fit_binned.r,
         1e-12, "coarse-grained r_P equals the engine's");
    ok(cJSON_GetArraySize(get(get(c, "binned", NULL), "x")) == ec->nbins,
       "%d coarse-grained points", ec->nbins);
    ok(num(get(c, "pearson", NULL)) < -0.5, "dq falls with msd (r = %.3f)",
       num(get(c, "pearson", NULL)));
    eng_corr_free(ec);
  }
  {
    const cJSON *c = corr_entry(r, "vflex", "Zr");
    int *sel = malloc(n * sizeof *sel), zr = eng_system_type_by_name(sys, "Zr");
    double rr;
    for (i = 0; i < n; i++) sel[i] = sys->type[i] == zr;
    eng_pearson(n, vflex, dq, sel, &rr);
    near(num(get(c, "pearson", NULL)), rr, 1e-12, "per species: Zr only");
    free(sel);
  }
  {
    eng_acf_opts o;
    eng_acf *acf = NULL;
    const cJSON *c = get(get(get(r, "autocorrelation", "fields"), "dq_mean", NULL), "c");
    double worst = 0, w[3];
    int k;
    eng_acf_opts_default(&o);
    eng_box_widths(&sys->box, w);
    o.rmax = fmin(12, 0.5 * fmin(w[0], fmin(w[1], w[2])));
    eng_acf_compute(sys, 1, dq, NULL, &o, &acf);
    ok(acf && cJSON_GetArraySize(c) == acf->nbins, "C(r) of dq: %d bins",
       acf ? acf->nbins : -1);
    for (k = 0; acf && k < acf->nbins; k++) {
      double v = num(cJSON_GetArrayItem(c, k));
      if (isnan(v) != isnan(acf->c_norm[k])) worst = INFINITY;
      if (!isnan(v)) worst = fmax(worst, fabs(v - acf->c_norm[k]));
    }
    ok(worst < 1e-12, "C(r) equals the engine's (max diff %.3g)", worst);
    ok(cJSON_IsNumber(get(get(r, "summary", "xi"), "msd") ? get(get(get(r, "summary", "xi"), "msd", NULL), "xi") : NULL),
       "xi of msd fitted (%.3f A)",
       num(get(get(get(r, "summary", "xi"), "msd", NULL), "xi")));
    eng_acf_free(acf);
  }
  {
    const cJSON *sw = get(r, "s2_sweep", NULL);
    ok(cJSON_GetArraySize(get(sw, "cutoffs", NULL)) == 2 &&
           num(cJSON_GetArrayItem(get(sw, "cutoffs", NULL), 1)) == 6.4,
       "S2 sweep: two cutoffs from the input summary");
    ok(cJSON_GetArraySize(get(sw, "xi", NULL)) == 2, "S2 sweep: two xi");
  }
  {
    const cJSON *sp = get(r, "spectra", NULL);
    long tot[3] = {0, 0, 0};
    const char *g[3] = {"all", "Cu", "Zr"};
    const cJSON *it;
    int k;
    for (k = 0; k < 3; k++)
      cJSON_ArrayForEach(it, get(get(sp, g[k], NULL), "count")) tot[k] +=
          (long)it->valuedouble;
    ok(tot[0] == nval && tot[1] + tot[2] == nval,
       "spectra: %ld counted = %d values = Cu %ld + Zr %ld", tot[0], nval,
       tot[1], tot[2]);
    ok(get(get(sp, "all", NULL), "fit") != NULL, "two-mode fit present");
  }
  {
    const cJSON *sl = get(r, "slices", NULL);
    ok(sl && cJSON_GetArraySize(get(get(sl, "fields", NULL), "dq_mean")) ==
                 cJSON_GetArraySize(get(sl, "v", NULL)),
       "slice map of dq_mean: one row per v");
  }
  {
    const cJSON *pd = get(get(r, "per_atom", NULL), "dq_mean");
    ok(cJSON_GetArraySize(pd) == n && cJSON_IsNull(cJSON_GetArrayItem(pd, 3)) &&
           fabs(num(cJSON_GetArrayItem(pd, 4)) - dq[4]) < 1e-12,
       "per_atom.dq_mean in structure order, null where absent");
    ok(cJSON_GetArraySize(get(get(get(r, "tables", NULL), "correlations"), "rows")) == 15,
       "correlations table: 5 descriptors x (all, Cu, Zr)");
  }
  cJSON_Delete(r);
  r = NULL;

  /* errors */
  rc = run_kind("analysis", "{\"property\": \"nope\"}", &io, &r, err, sizeof err);
  ok(rc == KIND_EINVAL && strstr(err, "property") && strstr(err, "nope"),
     "a missing property is KIND_EINVAL: %s", err);
  rc = run_kind("analysis", "{\"descriptors\": \"msd,msd\"}", &io, &r, err,
                sizeof err);
  ok(rc == KIND_EINVAL && !strncmp(err, "descriptors:", 12),
     "repeated descriptors refused: %s", err);
  rc = run_kind("analysis", "{\"descriptors\": [\"msd\", \"x y\"]}", &io, &r,
                err, sizeof err);
  ok(rc == KIND_EINVAL, "a bad field name refused: %s", err);
  rc = run_kind("analysis", "{\"fit_min\": 5, \"fit_max\": 4}", &io, &r, err,
                sizeof err);
  ok(rc == KIND_EINVAL && strstr(err, "fit_max"), "fit_max <= fit_min: %s",
     err);
  rc = run_kind("analysis", "{\"descriptors\": \"vflex,msd\", \"property\": "
                "\"s2_c1\", \"analyses\": \"correlation\"}",
                &io, &r, err, sizeof err);
  ok(rc == 0 && cJSON_GetArraySize(get(r, "correlations", NULL)) == 6 &&
         !get(r, "autocorrelation", NULL),
     "explicit property, two descriptors, correlations only");
  if (r) {
    const cJSON *first = cJSON_GetArrayItem(get(r, "correlations", NULL), 0);
    ok(!strcmp(get(first, "descriptor", NULL)->valuestring, "vflex"),
       "descriptors in the order given");
  }
  cJSON_Delete(r);
  r = NULL;
  cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(
                           cJSON_GetObjectItemCaseSensitive(artn, "per_atom"),
                           "id"),
                       cJSON_CreateNumber(99999));
  cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(
                           cJSON_GetObjectItemCaseSensitive(artn, "per_atom"),
                           "dq_mean"),
                       cJSON_CreateNumber(1));
  rc = run_kind("analysis", NULL, &io, &r, err, sizeof err);
  ok(rc == KIND_EINVAL && strstr(err, "99999"), "unknown atom id: %s", err);
  io.ninputs = 0;
  rc = run_kind("analysis", NULL, &io, &r, err, sizeof err);
  ok(rc == 0 && cJSON_IsNull(get(r, "summary", "property")) &&
         cJSON_GetArraySize(get(r, "summary", "notes")) > 0,
     "no inputs: nothing to analyse, said in notes");
  cJSON_Delete(r);
out:
  cJSON_Delete(desc);
  cJSON_Delete(artn);
  free(msd);
  free(vflex);
  free(s2a);
  free(s2b);
  free(l5);
  free(dq);
  eng_system_free(sys);
  free(sbuf);
  free(pbuf);
}

/* The artn options the pipeline forwards: the artn kind's rows (type,
 * range, unit), the artn kind's defaults (the engine's), its rules and
 * error messages naming the option, and the plan's artn child gets them. */
static void test_pipeline_artn_options(const kind_def *k) {
  static const char *const fw[] = {"local",         "local_radius",
                                   "local_refine",  "refine_radius",
                                   "refine_grow",   "push_radius",
                                   "second_remote", "refine_grow_hot",
                                   "max_calls",     "restarts"};
  const int nfw = (int)(sizeof fw / sizeof fw[0]);
  static const struct {
    const char *params, *err;
  } badp[] = {
      {"{\"local\": \"yes\"}", "local: must be true or false"},
      {"{\"local_radius\": 0}", "local_radius: must be a number > 0"},
      {"{\"local_radius\": 1000}", "local_radius: must be a number > 0"},
      {"{\"refine_radius\": -1}", "refine_radius: must be a number between 0 and 999.999"},
      {"{\"refine_grow\": 4}", "refine_grow: needs refine_radius > 0"},
      {"{\"refine_grow_hot\": 0.5}", "refine_grow_hot: needs refine_grow > 0"},
      {"{\"local\": true, \"push_radius\": 6}", "push_radius: must be 0 (off) or >= local_radius (8 A)"},
      {"{\"max_calls\": 0}", "max_calls: must be an integer between 1"},
      {"{\"restarts\": 101}", "restarts: must be an integer between 0 and 100"},
      {"{\"local\": true, \"local_radius\": 2.5}",
       "local_radius: must be >= perturb_radius + 1 A (3 A) in local mode"},
  };
  const kind_def *ak = kind_find("artn");
  cJSON *pn = NULL, *an = NULL, *p, *ch = NULL;
  char err[1024];
  int j, rc, good = 1;

  for (j = 0; j < nfw; j++) {
    const kind_param *a = kind_param_find(ak, fw[j]);
    const kind_param *q = kind_param_find(k, fw[j]);
    if (!a || !q || a->type != q->type || a->min != q->min ||
        a->max != q->max || a->min_excl != q->min_excl ||
        strcmp(a->unit, q->unit) || !strstr(q->help, a->help) ||
        strncmp(q->help, "artn step: ", 11))
      good = 0;
  }
  ok(good, "pipeline's local, local_radius, local_refine, refine_radius, "
     "refine_grow, push_radius, second_remote, refine_grow_hot, max_calls, restarts: the artn kind's rows "
     "(type, range, unit, "
     "help)");
  rc = k->validate(NULL, &pn, err, sizeof err);
  rc |= ak->validate(NULL, &an, err, sizeof err);
  good = rc == 0;
  for (j = 0; good && j < nfw; j++)
    good = cJSON_Compare(get(pn, fw[j], NULL), get(an, fw[j], NULL), 1);
  ok(good, "their defaults are the artn kind's (local %s, local_radius %g)",
     cJSON_IsTrue(get(pn, "local", NULL)) ? "true" : "false",
     num(get(pn, "local_radius", NULL)));
  cJSON_Delete(pn);
  cJSON_Delete(an);
  pn = NULL;
  for (j = 0; j < (int)(sizeof badp / sizeof badp[0]); j++) {
    p = cJSON_Parse(badp[j].params);
    rc = k->validate(p, &pn, err, sizeof err);
    ok(rc == KIND_EINVAL && !pn && !strncmp(err, badp[j].err, strlen(badp[j].err)),
       "pipeline %s: %s", badp[j].params, err);
    cJSON_Delete(p);
    cJSON_Delete(pn);
    pn = NULL;
  }
  p = cJSON_Parse("{\"local\": true, \"local_radius\": 4, \"local_refine\": "
                  "false, \"refine_radius\": 9, \"refine_grow\": 3, \"push_radius\": 5, "
                  "\"second_remote\": 8, \"refine_grow_hot\": 0.5, \"max_calls\": 150, \"restarts\": 0, "
                  "\"seed\": 5}");
  rc = k->validate(p, &pn, err, sizeof err);
  ok(rc == 0, "pipeline with local mode options validates (%s)", rc ? err : "ok");
  if (rc == 0) rc = k->plan(pn, NULL, &ch, err, sizeof err);
  good = rc == 0;
  for (j = 0; good && j < nfw; j++)
    good = cJSON_Compare(get(get(cJSON_GetArrayItem(ch, 2), "params", NULL), fw[j]),
                         get(p, fw[j], NULL), 1);
  ok(good, "the plan's artn step gets them as given");
  cJSON_Delete(ch);
  cJSON_Delete(pn);
  cJSON_Delete(p);
}

static void test_pipeline(const char *src) {
  const kind_def *k = kind_find("pipeline");
  char path[4096], err[1024];
  cJSON *p = NULL, *norm = NULL, *ch = NULL, *r = NULL;
  size_t slen = 0, plen = 0;
  char *sbuf = NULL, *pbuf = NULL;
  kind_io io;
  int rc;

  ok(k && k->plan, "pipeline has a plan");
  rc = k->validate(NULL, &norm, err, sizeof err);
  ok(rc == 0 && num(get(norm, "events_per_atom", NULL)) == 10 &&
         !strcmp(get(norm, "artn_atoms", NULL)->valuestring, "all"),
     "defaults: the paper's effort");
  rc = k->plan(norm, NULL, &ch, err, sizeof err);
  ok(rc == 0 && cJSON_GetArraySize(ch) == 4, "plan: 4 children");
  if (ch) {
    const char *kinds[4] = {"minimize", "descriptors", "artn", "analysis"};
    int j, good = 1;
    for (j = 0; j < 4; j++)
      if (strcmp(get(cJSON_GetArrayItem(ch, j), "kind", NULL)->valuestring,
                 kinds[j]))
        good = 0;
    ok(good, "children: minimize, descriptors, artn, analysis");
    ok(num(get(cJSON_GetArrayItem(ch, 1), "structure_from", NULL)) == 0 &&
           num(get(cJSON_GetArrayItem(ch, 2), "structure_from", NULL)) == 0 &&
           num(get(cJSON_GetArrayItem(ch, 3), "structure_from", NULL)) == 0,
       "every step after minimize works on its structure");
    ok(cJSON_GetArraySize(get(cJSON_GetArrayItem(ch, 3), "after", NULL)) == 2,
       "analysis after descriptors and artn");
    ok(cJSON_IsFalse(get(get(cJSON_GetArrayItem(ch, 2), "params", NULL),
                         "minimize_first")),
       "artn does not minimise again");
    for (j = 0; j < 4; j++) {
      const kind_def *ck = kind_find(
          get(cJSON_GetArrayItem(ch, j), "kind", NULL)->valuestring);
      cJSON *cn = NULL;
      if (ck->validate(get(cJSON_GetArrayItem(ch, j), "params", NULL), &cn,
                       err, sizeof err))
        good = 0;
      cJSON_Delete(cn);
    }
    ok(good, "every child's params validate");
  }
  cJSON_Delete(ch);
  ch = NULL;
  cJSON_Delete(norm);
  norm = NULL;
  p = cJSON_Parse("{\"artn_atoms\": \"bogus:1\"}");
  rc = k->validate(p, &norm, err, sizeof err);
  ok(rc == KIND_EINVAL && !strncmp(err, "artn_atoms:", 11),
     "artn_atoms checked by the artn kind: %s", err);
  cJSON_Delete(p);
  cJSON_Delete(norm);
  norm = NULL;
  test_pipeline_artn_options(k);

  /* the whole graph in process, tiny effort */
  snprintf(path, sizeof path, "%s/tests/cli/test_artn_glass250.data", src);
  sbuf = slurp(path, &slen);
  pbuf = slurp(POT, &plen);
  if (!sbuf || !pbuf) bail("cannot read %s", path);
  memset(&io, 0, sizeof io);
  io.structure_data = sbuf;
  io.structure_len = slen;
  io.structure_name = "test_artn_glass250.data";
  io.potential_data = pbuf;
  io.potential_len = plen;
  io.potential_name = "CuZr_mm.eam.fs";
  p = cJSON_Parse("{\"artn_atoms\": \"ids:1-2\", \"events_per_atom\": 1, "
                  "\"msd_time\": 0.2, \"seed\": 11}");
  rc = k->validate(p, &norm, err, sizeof err);
  ok(rc == 0, "tiny-effort params");
  rc = kind_run_graph(k, norm, &io, &r, err, sizeof err);
  ok(rc == 0 && r, "pipeline graph in process (%s)", rc ? err : "ok");
  if (r) {
    const char *want[8] = {"1", "3", "4", "5", "6", "7", "8", "S1"};
    const cJSON *figs = get(get(r, "report", NULL), "figures");
    int j, good = cJSON_GetArraySize(figs) == 8;
    for (j = 0; good && j < 8; j++) {
      const cJSON *f = cJSON_GetArrayItem(figs, j);
      if (strcmp(get(f, "figure", NULL)->valuestring, want[j]) ||
          cJSON_GetArraySize(get(f, "items", NULL)) < 1)
        good = 0;
    }
    ok(good, "report: sections for Figs. 1, 3, 4, 5, 6, 7, 8, S1, each with "
       "items");
    ok(cJSON_GetArraySize(get(get(get(r, "report", NULL), "table"), "rows")) >= 40,
       "report table: %d rows",
       cJSON_GetArraySize(get(get(get(r, "report", NULL), "table"), "rows")));
    ok(cJSON_IsTrue(get(get(get(r, "summary", NULL), "effort"), "reduced")),
       "reduced effort recorded");
    ok(num(get(get(get(r, "summary", NULL), "steps"), "artn") ? get(get(get(get(r, "summary", NULL), "steps"), "artn"), "attempts") : NULL) == 2,
       "2 ARTn events attempted");
    ok(get(get(r, "analysis", NULL), "autocorrelation") != NULL,
       "the analysis' C(r) carried in the result");
    {
      /* Fig. 8: the g(r) troughs of the sample next to the paper's */
      const cJSON *f8 = cJSON_GetArrayItem(figs, 6);
      const cJSON *it0 = cJSON_GetArrayItem(get(f8, "items", NULL), 0);
      ok(fabs(num(get(it0, "sample", NULL)) - 3.9) < 0.3,
         "first g(r) trough %.2f A (paper 3.9)", num(get(it0, "sample", NULL)));
    }
  }
  cJSON_Delete(r);
  cJSON_Delete(p);
  cJSON_Delete(norm);
  free(sbuf);
  free(pbuf);
}

int main(void) {
  const char *src = getenv("PELMAP_SRCDIR");
  if (!src) src = "..";
  test_analysis(src);
  test_pipeline(src);
  return tap_done();
}
