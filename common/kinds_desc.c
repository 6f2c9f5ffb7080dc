/*
 * kinds_desc.c -- the job kind "descriptors": the structural descriptors of
 * Wei et al. PRB 99, 014115 (2019), Sec. III, per atom, with the engine:
 * g(r) (total + partials, peaks and troughs), Voronoi (volume,
 * coordination, <n3..n6>, L5FS), local two-body excess entropy S2 for
 * several cutoffs, vibrational MSD (NVT MD), flexibility volume, normal
 * modes (Hessian + lowest modes), participation fraction and the harmonic
 * MSD.  Parameters, result and stage order are documented in
 * docs/kinds.md ("descriptors"); the formulas in docs/descriptors.md and
 * docs/modes.md.
 *
 * A descriptor named in `only` brings in what it needs (l5fs, vflex ->
 * voronoi; vflex -> msd; participation, msd_harmonic -> modes; s2 with a
 * cutoff 0 (= a g(r) trough) -> rdf; d2min -> msd_diffusive when its
 * current configuration is the end of that run, rdf when its cutoff is 0);
 * everything computed is reported and listed in summary.computed.
 * msd_diffusive (NVT at 700 K, unwrapped) and d2min (Falk-Langer, Eq. 5)
 * are opt-in (not in the default `only`).
 */
#include "config.h"

#include "kinds.h"
#include "kinds_internal.h"

#include "engine.h"

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOMAX 1e300

/* The descriptors, in the order they are computed and listed. */
enum {
  D_RDF = 0,
  D_VORONOI,
  D_L5FS,
  D_S2,
  D_MSD,
  D_VFLEX,
  D_MODES,
  D_PART,
  D_MSDH,
  D_MSDD,
  D_D2MIN,
  D_N
};
static const char *const desc_names[D_N] = {
    "rdf", "voronoi", "l5fs", "s2", "msd", "vflex", "modes", "participation",
    "msd_harmonic", "msd_diffusive", "d2min"};

const kind_param kind__descriptors_params[KIND__DESC_NPARAMS] = {
    {"only", KIND_P_LIST,
     "rdf|voronoi|l5fs|s2|msd|vflex|modes|participation|msd_harmonic|"
     "msd_diffusive|d2min",
     0, 0, 0,
     "[\"rdf\",\"voronoi\",\"l5fs\",\"s2\",\"msd\",\"vflex\",\"modes\","
     "\"participation\",\"msd_harmonic\"]",
     "",
     "descriptors to compute (dependencies are added: l5fs/vflex need "
     "voronoi, vflex msd, participation/msd_harmonic modes, s2 or d2min "
     "with a 0 cutoff rdf, d2min with d2min_current md msd_diffusive); "
     "msd_diffusive and d2min are not in the default set"},
    {"minimize", KIND_P_BOOL, NULL, 0, 0, 0, "true", "",
     "CG-minimise the structure first (the descriptors are defined on the "
     "inherent structure)"},
    {"ftol", KIND_P_NUMBER, NULL, 0, NOMAX, 1, "1e-6", "eV/A",
     "minimisation: stop when the largest force component is <= ftol"},
    {"rdf_rmax", KIND_P_NUMBER, NULL, 0, 100, 1, "14", "A",
     "g(r) range (14 A holds the first four troughs of a Cu-Zr glass, the "
     "default S2 cutoffs)"},
    {"rdf_bin", KIND_P_NUMBER, NULL, 0, 1, 1, "0.02", "A", "g(r) bin width"},
    {"rdf_smooth", KIND_P_NUMBER, NULL, 0, 5, 0, "0.3", "A",
     "Gaussian sigma of the smoothing used to locate peaks and troughs "
     "(0 = none)"},
    {"rdf_prominence", KIND_P_NUMBER, NULL, 0, 100, 0, "0.02", "",
     "extrema of the smoothed g(r) less prominent than this are dropped"},
    {"face_area", KIND_P_NUMBER, NULL, 0, NOMAX, 0, "0", "A^2",
     "Voronoi: faces smaller than this are not counted (coordination, "
     "index)"},
    {"face_rel", KIND_P_NUMBER, NULL, 0, 1, 0, "0", "",
     "Voronoi: faces smaller than this fraction of the cell surface are not "
     "counted"},
    {"edge_length", KIND_P_NUMBER, NULL, 0, NOMAX, 0, "0", "A",
     "Voronoi: edges shorter than this do not count towards a face's order"},
    {"voronoi_top", KIND_P_INT, NULL, 1, 1000, 0, "10", "",
     "number of most common Voronoi indices reported per species"},
    {"s2_sigma", KIND_P_NUMBER, NULL, 0, 2, 1, "0.2", "A",
     "S2: Gaussian smoothing width of the local g_i(r)"},
    {"s2_dr", KIND_P_NUMBER, NULL, 0, 1, 1, "0.02", "A",
     "S2: integration step"},
    {"s2_cutoffs", KIND_P_NUMLIST, NULL, 0, 50, 0, "[0,0,0,0]", "A",
     "S2 integration cutoffs (1..8); 0 = the k-th trough of the total g(r) "
     "(k = position in the list); default the first four troughs"},
    {"s2_partial", KIND_P_BOOL, NULL, 0, 0, 0, "true", "",
     "S2: species-resolved (the paper's Eq. 3) or one total term"},
    {"msd_temperature", KIND_P_NUMBER, NULL, 0, 1e5, 1, "300", "K",
     "vibrational MSD: NVT temperature (also of the harmonic MSD)"},
    {"msd_time", KIND_P_NUMBER, NULL, 0, 1e6, 1, "100", "ps",
     "vibrational MSD: sampled production time tau0"},
    {"msd_equil", KIND_P_NUMBER, NULL, 0, 1e6, 0, "0", "ps",
     "vibrational MSD: unsampled NVT time before production"},
    {"msd_dt", KIND_P_NUMBER, NULL, 0, 0.1, 1, "0.002", "ps",
     "vibrational MSD: time step"},
    {"msd_t_damp", KIND_P_NUMBER, NULL, 0, 1e6, 1, "0.1", "ps",
     "vibrational MSD: thermostat relaxation time"},
    {"msd_sample_every", KIND_P_INT, NULL, 1, 1e9, 0, "10", "",
     "vibrational MSD: steps between samples"},
    {"seed", KIND_P_SEED, NULL, 0, 9007199254740991.0, 0, NULL, "",
     "MSD velocity seed; default: drawn at submission and recorded"},
    {"mode_fraction", KIND_P_NUMBER, NULL, 0, 1, 1, "0.0025", "",
     "participation: fraction of the 3N modes (lowest) it sums over"},
    {"modes_solver", KIND_P_STRING, "auto|dense|sparse|lanczos|chebyshev", 0, 0, 0,
     "\"auto\"", "",
     "eigensolver: dense LAPACK, ARPACK shift-invert (CHOLMOD factor), "
     "ARPACK matrix-free Lanczos, matrix-free Chebyshev-filtered subspace "
     "iteration (relative residual 1e-4), or auto (dense up to "
     "dense_max_atoms, shift-invert up to sparse_max_atoms, Chebyshev above)"},
    {"sparse_max_atoms", KIND_P_INT, NULL, 1, 1e9, 0, "5000", "",
     "auto solver: shift-invert up to this many atoms, matrix-free Chebyshev "
     "above (the Cholesky factor grows as N^1.66: 8 GB at 20,000 atoms)"},
    {"dense_max_atoms", KIND_P_INT, NULL, 1, 1e6, 0, "1000", "",
     "auto solver: dense up to this many atoms; msd_harmonic uses all "
     "modes (dense) up to this size, else the lowest ones only"},
    {"diff_temperature", KIND_P_NUMBER, NULL, 0, 1e5, 1, "700", "K",
     "diffusive MSD: NVT temperature (the paper's Fig. 3b: 700 K)"},
    {"diff_time", KIND_P_NUMBER, NULL, 0, 1e6, 1, "50000", "ps",
     "diffusive MSD: NVT run length (the paper: 50 ns; about 10 CPU s per "
     "ps for 2,000 atoms, so 50 ns of 2,000 atoms is some 140 CPU hours)"},
    {"diff_dt", KIND_P_NUMBER, NULL, 0, 0.1, 1, "0.002", "ps",
     "diffusive MSD: time step"},
    {"diff_t_damp", KIND_P_NUMBER, NULL, 0, 1e6, 1, "0.1", "ps",
     "diffusive MSD: thermostat relaxation time"},
    {"d2min_cutoff", KIND_P_NUMBER, NULL, 0, 20, 0, "0", "A",
     "D2min neighbour cutoff in the reference; 0 = the first trough of the "
     "total g(r) (3.9 A in the paper's glass)"},
    {"d2min_current", KIND_P_STRING, "md|input", 0, 0, 0, "\"md\"", "",
     "D2min current configuration: md = the end of the diffusive-MSD run; "
     "input = the final structure of the job's first input result (a job "
     "graph); the reference is always the structure this job works on"},
    {"d2min_normalise", KIND_P_BOOL, NULL, 0, 0, 0, "true", "",
     "D2min divided by the neighbour count N_c (the paper's Eq. 5); false: "
     "the plain sum (Falk-Langer, OVITO)"},
};

_Static_assert(sizeof kind__descriptors_params /
                       sizeof kind__descriptors_params[0] ==
                   KIND__DESC_NPARAMS,
               "KIND__DESC_NPARAMS");

static double num(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  assert(cJSON_IsNumber(v));
  return v->valuedouble;
}

/* Cross-field rules of the descriptors params. */
static int desc_fix(cJSON *o, char *err, size_t errlen) {
  const cJSON *cut = cJSON_GetObjectItemCaseSensitive(o, "s2_cutoffs");
  if (cJSON_GetArraySize(cut) > ENG_S2_MAXCUT) {
    snprintf(err, errlen, "s2_cutoffs: at most %d cutoffs", ENG_S2_MAXCUT);
    return KIND_EINVAL;
  }
  if (num(o, "msd_time") < num(o, "msd_dt")) {
    snprintf(err, errlen, "msd_time: must be >= msd_dt (%g ps)",
             num(o, "msd_dt"));
    return KIND_EINVAL;
  }
  if (num(o, "msd_t_damp") < num(o, "msd_dt")) {
    snprintf(err, errlen, "msd_t_damp: must be >= msd_dt (%g ps)",
             num(o, "msd_dt"));
    return KIND_EINVAL;
  }
  if (num(o, "diff_time") < num(o, "diff_dt")) {
    snprintf(err, errlen, "diff_time: must be >= diff_dt (%g ps)",
             num(o, "diff_dt"));
    return KIND_EINVAL;
  }
  if (num(o, "diff_t_damp") < num(o, "diff_dt")) {
    snprintf(err, errlen, "diff_t_damp: must be >= diff_dt (%g ps)",
             num(o, "diff_dt"));
    return KIND_EINVAL;
  }
  return 0;
}

int kind__validate_descriptors(const cJSON *params, cJSON **normalized,
                               char *err, size_t errlen) {
  return kind__validate(kind_find("descriptors"), params, normalized, err,
                        errlen, desc_fix);
}

/* ------------------------------------------------------------------ */
/* Progress of a stage                                                 */
/* ------------------------------------------------------------------ */

/* Stage [lo, hi) of the whole run; engine progress is mapped into it. */
typedef struct stage {
  const kind__ctx *c;
  double lo, hi;
  const char *name;
} stage;

static int stage_progress(void *ud, double frac, const char *msg) {
  const stage *s = ud;
  char buf[160];
  if (frac < 0) frac = 0;
  if (frac > 1) frac = 1;
  snprintf(buf, sizeof buf, "%s: %s", s->name, msg ? msg : "");
  return kind__progress(s->c, s->lo + frac * (s->hi - s->lo), buf);
}

/* ------------------------------------------------------------------ */
/* Result helpers                                                      */
/* ------------------------------------------------------------------ */

/* Species of each type: index of the first type with the same name. */
static void species_of_types(const eng_system *s, int *sp) {
  int t, u;
  for (t = 0; t < s->ntypes; t++) {
    sp[t] = t;
    for (u = 0; u < t; u++)
      if (!strcmp(s->type_name[u], s->type_name[t])) {
        sp[t] = u;
        break;
      }
  }
}

/* per_atom[name] = v[i*stride] and means[species][name], means.all[name]. */
static void add_column(cJSON *pa, cJSON *means, const eng_system *s,
                       const int *sp, const char *name, const double *v,
                       int stride) {
  cJSON *a = cJSON_AddArrayToObject(pa, name);
  double *sum = calloc((size_t)s->ntypes, sizeof *sum), all = 0;
  long *cnt = calloc((size_t)s->ntypes, sizeof *cnt);
  int i, t;
  for (i = 0; a && i < s->natoms; i++) {
    double x = v[(size_t)i * stride];
    cJSON_AddItemToArray(a, cJSON_CreateNumber(x));
    all += x;
    if (sum && cnt) {
      sum[sp[s->type[i]]] += x;
      cnt[sp[s->type[i]]]++;
    }
  }
  for (t = 0; sum && cnt && t < s->ntypes; t++) {
    cJSON *m;
    if (!cnt[t]) continue;
    m = cJSON_GetObjectItemCaseSensitive(means, s->type_name[t]);
    if (!m) m = cJSON_AddObjectToObject(means, s->type_name[t]);
    if (m) cJSON_AddNumberToObject(m, name, sum[t] / (double)cnt[t]);
  }
  {
    cJSON *m = cJSON_GetObjectItemCaseSensitive(means, "all");
    if (!m) m = cJSON_AddObjectToObject(means, "all");
    if (m) cJSON_AddNumberToObject(m, name, all / s->natoms);
  }
  free(sum);
  free(cnt);
}

/* The same for an int array. */
static int add_icolumn(cJSON *pa, cJSON *means, const eng_system *s,
                       const int *sp, const char *name, const int *v,
                       int stride) {
  double *d = malloc(sizeof *d * (size_t)s->natoms);
  int i;
  if (!d) return KIND_ENOMEM;
  for (i = 0; i < s->natoms; i++) d[i] = v[(size_t)i * stride];
  add_column(pa, means, s, sp, name, d, 1);
  free(d);
  return 0;
}

static cJSON *darray(const double *v, int n) {
  return cJSON_CreateDoubleArray(v, n);
}

/* summary.rdf and the top-level "rdf" curves. */
static void add_rdf(cJSON *r, cJSON *sum, const eng_rdf *g,
                    const eng_system *s, int curves) {
  cJSON *o = cJSON_AddObjectToObject(sum, "rdf");
  cJSON *pk = NULL, *tr = NULL, *cv = NULL;
  int a, b;
  if (!o) return;
  cJSON_AddNumberToObject(o, "rmax", g->rmax);
  cJSON_AddNumberToObject(o, "bin", g->dr);
  cJSON_AddNumberToObject(o, "smooth", g->smooth);
  cJSON_AddNumberToObject(o, "min_prominence", g->min_prominence);
  pk = cJSON_AddObjectToObject(o, "peaks");
  tr = cJSON_AddObjectToObject(o, "troughs");
  if (curves) {
    cv = cJSON_AddObjectToObject(r, "rdf");
    if (cv) cJSON_AddItemToObject(cv, "r", darray(g->r, g->nbins));
  }
  for (a = -1; a < s->ntypes; a++)
    for (b = a < 0 ? -1 : a; b < s->ntypes; b++) {
      char name[2 * ENG_NAME_MAX + 2];
      int c;
      if ((a < 0) != (b < 0)) continue;
      if (a < 0) {
        c = 0;
        snprintf(name, sizeof name, "total");
      } else {
        c = 1 + a * s->ntypes + b;
        snprintf(name, sizeof name, "%s-%s", s->type_name[a],
                 s->type_name[b]);
      }
      if (pk)
        cJSON_AddItemToObject(pk, name,
                              darray(g->peaks + c * ENG_RDF_MAXEXT,
                                     g->npeaks[c]));
      if (tr)
        cJSON_AddItemToObject(tr, name,
                              darray(g->troughs + c * ENG_RDF_MAXEXT,
                                     g->ntroughs[c]));
      if (cv)
        cJSON_AddItemToObject(cv, name,
                              darray(g->g + (size_t)c * g->nbins, g->nbins));
    }
}

/* summary.voronoi: thresholds, volume sum and the top indices. */
static int add_voronoi_summary(cJSON *sum, const eng_voronoi *v,
                               const eng_system *s, const int *sp, int ntop) {
  cJSON *o = cJSON_AddObjectToObject(sum, "voronoi"), *top;
  eng_voro_pop *pop = malloc(sizeof *pop * (size_t)ntop);
  double vs = 0;
  int i, t, rc = 0;
  if (!o || !pop) {
    free(pop);
    return KIND_ENOMEM;
  }
  for (i = 0; i < s->natoms; i++) vs += v->volume[i];
  cJSON_AddNumberToObject(o, "face_area", v->opts.face_area);
  cJSON_AddNumberToObject(o, "face_rel", v->opts.face_rel);
  cJSON_AddNumberToObject(o, "edge_length", v->opts.edge_length);
  cJSON_AddNumberToObject(o, "volume_sum", vs);
  cJSON_AddNumberToObject(o, "box_volume", eng_box_volume(&s->box));
  top = cJSON_AddObjectToObject(o, "top");
  for (t = -1; top && t < s->ntypes; t++) {
    int nout = 0, ncons = 0, k;
    cJSON *a;
    if (t >= 0 && sp[t] != t) continue; /* a species listed once */
    if (eng_voronoi_top(v, s, t, ntop, pop, &nout, &ncons)) {
      rc = KIND_EFAIL;
      break;
    }
    a = cJSON_AddArrayToObject(top, t < 0 ? "all" : s->type_name[t]);
    for (k = 0; a && k < nout; k++) {
      cJSON *e = cJSON_CreateObject();
      if (!e) break;
      cJSON_AddItemToObject(e, "index", cJSON_CreateIntArray(pop[k].n, 4));
      cJSON_AddNumberToObject(e, "count", pop[k].count);
      cJSON_AddNumberToObject(e, "fraction",
                              ncons ? (double)pop[k].count / ncons : 0);
      cJSON_AddItemToArray(a, e);
    }
  }
  free(pop);
  return rc;
}

/* ------------------------------------------------------------------ */
/* The run                                                             */
/* ------------------------------------------------------------------ */

/* Relative cost of the stages (for progress). */
static const double stage_weight[D_N] = {0.05, 0.05, 0.0, 0.1, 0.5, 0.0,
                                         0.3,  0.0,  0.0, 0.5, 0.02};

int kind__run_descriptors(const cJSON *params, const kind_io *io,
                          cJSON **result, char *err, size_t errlen) {
  kind__ctx c;
  cJSON *r = NULL, *sum, *pa, *means, *comp;
  const cJSON *it;
  int want[D_N] = {0}, i, k, rc, n, ncut = 0, *sp = NULL;
  double cut[ENG_S2_MAXCUT], total = 0, done = 0;
  eng_rdf *g = NULL;
  eng_voronoi *vor = NULL;
  eng_s2 *s2 = NULL;
  eng_msd *msd = NULL, *dmsd = NULL;
  eng_d2min *d2 = NULL;
  eng_system *cur = NULL;
  eng_hessian *h = NULL;
  eng_modes *modes = NULL;
  double *buf = NULL;
  eng_min_result mr;
  stage st;
  int have_min = 0, all_modes = 0, nlow = 0;
  eng_modes_opts mo;

  *result = NULL;
  rc = kind__ctx_begin(&c, "descriptors", params, io, err, errlen);
  if (rc) goto fail;
  n = c.sys->natoms;
  st.c = &c;

  /* what to compute: `only` plus dependencies */
  it = cJSON_GetObjectItemCaseSensitive(c.params, "only");
  for (it = it ? it->child : NULL; it; it = it->next)
    for (k = 0; k < D_N; k++)
      if (!strcmp(it->valuestring, desc_names[k])) want[k] = 1;
  it = cJSON_GetObjectItemCaseSensitive(c.params, "s2_cutoffs");
  for (it = it ? it->child : NULL; it; it = it->next) {
    assert(ncut < ENG_S2_MAXCUT);
    cut[ncut++] = it->valuedouble;
  }
  if (want[D_VFLEX]) want[D_MSD] = want[D_VORONOI] = 1;
  if (want[D_L5FS]) want[D_VORONOI] = 1;
  if (want[D_PART] || want[D_MSDH]) want[D_MODES] = 1;
  if (want[D_S2])
    for (k = 0; k < ncut; k++)
      if (cut[k] == 0) want[D_RDF] = 1;
  if (want[D_D2MIN]) {
    if (kind__par(&c, "d2min_cutoff") == 0) want[D_RDF] = 1;
    if (!strcmp(kind__spar(&c, "d2min_current"), "md")) want[D_MSDD] = 1;
    else if (!io->inputs || io->ninputs < 1 || !io->inputs[0]) {
      snprintf(err, errlen,
               "d2min_current: \"input\" needs an input result (a job "
               "graph); this job has none");
      rc = KIND_EINVAL;
      goto fail;
    }
  }
  for (k = 0; k < D_N; k++)
    if (want[k]) total += stage_weight[k];
  if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c.params, "minimize")))
    total += 0.05;

  sp = malloc(sizeof *sp * (size_t)c.sys->ntypes);
  if (!sp) goto nomem;
  species_of_types(c.sys, sp);

#define STAGE(w, nm)                                                      \
  do {                                                                    \
    st.lo = done / total;                                                 \
    done += (w);                                                          \
    st.hi = done / total;                                                 \
    st.name = (nm);                                                       \
    if (stage_progress(&st, 0.0, "start")) goto cancel;                   \
  } while (0)

  /* minimisation to the inherent structure */
  if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c.params, "minimize"))) {
    eng_min_opts o;
    STAGE(0.05, "minimize");
    eng_min_opts_default(&o);
    o.algo = ENG_MIN_CG;
    o.ftol = kind__par(&c, "ftol");
    memset(&mr, 0, sizeof mr);
    rc = eng_minimize(c.calc, c.sys, &o, stage_progress, &st, &mr);
    if (rc) {
      rc = kind__eng_fail(rc, 0, "minimize", err, errlen);
      goto fail;
    }
    have_min = 1;
  }

  if (want[D_RDF]) {
    eng_rdf_opts o;
    STAGE(stage_weight[D_RDF], "rdf");
    eng_rdf_opts_default(&o);
    o.rmax = kind__par(&c, "rdf_rmax");
    o.dr = kind__par(&c, "rdf_bin");
    o.smooth = kind__par(&c, "rdf_smooth");
    o.min_prominence = kind__par(&c, "rdf_prominence");
    rc = eng_rdf_compute(c.sys, &o, &g);
    if (rc) {
      rc = kind__eng_fail(rc, 1, "rdf", err, errlen);
      goto fail;
    }
  }

  if (want[D_VORONOI]) {
    eng_voronoi_opts o;
    STAGE(stage_weight[D_VORONOI], "voronoi");
    eng_voronoi_opts_default(&o);
    o.face_area = kind__par(&c, "face_area");
    o.face_rel = kind__par(&c, "face_rel");
    o.edge_length = kind__par(&c, "edge_length");
    rc = eng_voronoi_compute(c.sys, &o, &vor);
    if (rc) {
      rc = kind__eng_fail(rc, 1, "voronoi", err, errlen);
      goto fail;
    }
  }

  if (want[D_S2]) {
    eng_s2_opts o;
    STAGE(stage_weight[D_S2], "s2");
    eng_s2_opts_default(&o);
    o.sigma = kind__par(&c, "s2_sigma");
    o.dr = kind__par(&c, "s2_dr");
    o.partial = cJSON_IsTrue(
        cJSON_GetObjectItemCaseSensitive(c.params, "s2_partial"));
    o.ncut = ncut;
    for (k = 0; k < ncut; k++) {
      o.cut[k] = cut[k];
      if (cut[k] != 0) continue;
      /* 0 = the (k+1)-th trough of the total g(r) computed above */
      assert(g);
      if (k >= g->ntroughs[0]) {
        snprintf(err, errlen,
                 "s2_cutoffs: cutoff %d is 0 (= trough %d of the total "
                 "g(r)) but g(r) up to rdf_rmax %g A has %d troughs; raise "
                 "rdf_rmax or give the cutoff",
                 k + 1, k + 1, g->rmax, g->ntroughs[0]);
        rc = KIND_EINVAL;
        goto fail;
      }
      o.cut[k] = g->troughs[k];
    }
    rc = eng_s2_compute(c.sys, &o, &s2);
    if (rc) {
      rc = kind__eng_fail(rc, 1, "s2", err, errlen);
      goto fail;
    }
  }

  if (want[D_MSD]) {
    eng_msd_opts o;
    STAGE(stage_weight[D_MSD], "msd");
    eng_msd_opts_default(&o);
    o.mode = ENG_MSD_VIB;
    o.temp = kind__par(&c, "msd_temperature");
    o.time = kind__par(&c, "msd_time");
    o.t_equil = kind__par(&c, "msd_equil");
    o.dt = kind__par(&c, "msd_dt");
    o.t_damp = kind__par(&c, "msd_t_damp");
    o.sample_every = (long)kind__par(&c, "msd_sample_every");
    o.seed = (uint64_t)kind__par(&c, "seed");
    rc = eng_msd_compute(c.calc, c.sys, &o, stage_progress, &st, &msd);
    if (rc) {
      rc = kind__eng_fail(rc, 0, "msd", err, errlen);
      goto fail;
    }
  }

  if (want[D_MODES]) {
    const char *solver = kind__spar(&c, "modes_solver");
    STAGE(stage_weight[D_MODES], "modes");
    eng_modes_opts_default(&mo);
    mo.nmodes = 0;
    mo.mode_fraction = kind__par(&c, "mode_fraction");
    mo.dense_max_atoms = (int)kind__par(&c, "dense_max_atoms");
    mo.solver = !strcmp(solver, "dense")     ? ENG_MODES_DENSE
                : !strcmp(solver, "sparse")  ? ENG_MODES_SPARSE
                : !strcmp(solver, "lanczos") ? ENG_MODES_LANCZOS
                : !strcmp(solver, "chebyshev") ? ENG_MODES_CHEBYSHEV
                                             : ENG_MODES_AUTO;
    mo.sparse_max_atoms = (int)kind__par(&c, "sparse_max_atoms");
    nlow = eng_modes_count(&mo, n);
    /* the harmonic MSD is exact with all modes: dense when it fits */
    if (want[D_MSDH] && (mo.solver == ENG_MODES_AUTO || mo.solver == ENG_MODES_DENSE) &&
        n <= mo.dense_max_atoms) {
      mo.nmodes = -1;
      mo.solver = ENG_MODES_DENSE;
      all_modes = 1;
    }
    rc = eng_hessian_build(c.calc, c.sys, &h);
    if (rc) {
      rc = kind__eng_fail(rc, 0, "hessian", err, errlen);
      goto fail;
    }
    rc = eng_modes_lowest(h, c.sys, &mo, stage_progress, &st, &modes);
    if (rc) {
      rc = kind__eng_fail(rc, 0, "modes", err, errlen);
      goto fail;
    }
    if (nlow > modes->nmodes) nlow = modes->nmodes;
  }

  if (want[D_MSDD]) {
    eng_msd_opts o;
    STAGE(stage_weight[D_MSDD], "msd_diffusive");
    eng_msd_opts_default(&o);
    o.mode = ENG_MSD_DIFFUSIVE;
    o.temp = kind__par(&c, "diff_temperature");
    o.time = kind__par(&c, "diff_time");
    o.t_equil = 0;
    o.dt = kind__par(&c, "diff_dt");
    o.t_damp = kind__par(&c, "diff_t_damp");
    o.sample_every = 100;
    /* its own velocities: the recorded seed + 1 (mod 2^53) */
    o.seed = ((uint64_t)kind__par(&c, "seed") + 1) & ((1ULL << 53) - 1);
    rc = eng_msd_compute(c.calc, c.sys, &o, stage_progress, &st, &dmsd);
    if (rc) {
      rc = kind__eng_fail(rc, 0, "msd_diffusive", err, errlen);
      goto fail;
    }
  }

  if (want[D_D2MIN]) {
    double rc2 = kind__par(&c, "d2min_cutoff");
    STAGE(stage_weight[D_D2MIN], "d2min");
    if (rc2 == 0) {
      assert(g);
      if (g->ntroughs[0] < 1) {
        snprintf(err, errlen,
                 "d2min_cutoff: 0 (= the first trough of the total g(r)) "
                 "but g(r) up to rdf_rmax %g A has no trough; give the "
                 "cutoff", g->rmax);
        rc = KIND_EINVAL;
        goto fail;
      }
      rc2 = g->troughs[0];
    }
    cur = eng_system_copy(c.sys);
    if (!cur) goto nomem;
    if (dmsd && !strcmp(kind__spar(&c, "d2min_current"), "md")) {
      memcpy(cur->x, dmsd->x_end, sizeof *cur->x * 3 * (size_t)n);
    } else {
      const cJSON *pa0 = cJSON_GetObjectItemCaseSensitive(io->inputs[0], "per_atom");
      if (!cJSON_GetObjectItemCaseSensitive(pa0, "x")) {
        snprintf(err, errlen,
                 "d2min_current: the first input result has no per_atom "
                 "positions (x, y, z)");
        rc = KIND_EINVAL;
        goto fail;
      }
      rc = kind_apply_result(cur, io->inputs[0], err, errlen);
      if (rc) goto fail;
    }
    rc = eng_d2min_compute(c.sys, cur, rc2,
                           cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
                               c.params, "d2min_normalise")),
                           &d2);
    if (rc) {
      rc = kind__eng_fail(rc, 1, "d2min", err, errlen);
      goto fail;
    }
  }
  if (kind__progress(&c, 0.99, "assembling the result")) goto cancel;

  /* ---- the result ---- */
  r = kind__result_begin(&c);
  if (!r) goto nomem;
  sum = cJSON_AddObjectToObject(r, "summary");
  if (!sum) goto nomem;
  comp = cJSON_AddArrayToObject(sum, "computed");
  for (k = 0; comp && k < D_N; k++)
    if (want[k]) cJSON_AddItemToArray(comp, cJSON_CreateString(desc_names[k]));
  cJSON_AddNumberToObject(sum, "natoms", n);
  cJSON_AddNumberToObject(sum, "volume", eng_box_volume(&c.sys->box));
  if (have_min) {
    cJSON *o = cJSON_AddObjectToObject(sum, "minimize");
    double e, fmax = 0;
    rc = eng_calc_compute(c.calc, c.sys, &e, c.f, NULL, NULL);
    if (rc) {
      rc = kind__eng_fail(rc, 0, "compute", err, errlen);
      goto fail;
    }
    for (i = 0; i < 3 * n; i++)
      if (fabs(c.f[i]) > fmax) fmax = fabs(c.f[i]);
    cJSON_AddNumberToObject(o, "e_initial", mr.e_initial);
    cJSON_AddNumberToObject(o, "energy", e);
    cJSON_AddNumberToObject(o, "fmax", fmax);
    cJSON_AddStringToObject(o, "stop", eng_min_stop_name(mr.stop));
    cJSON_AddNumberToObject(o, "iterations", mr.iterations);
  }
  pa = kind__per_atom_ids(r, c.sys);
  means = cJSON_CreateObject();
  if (!pa || !means) {
    cJSON_Delete(means);
    goto nomem;
  }

  if (g) add_rdf(r, sum, g, c.sys, 1);

  if (vor) {
    static const char *const nk[4] = {"vor_n3", "vor_n4", "vor_n5", "vor_n6"};
    rc = add_voronoi_summary(sum, vor, c.sys, sp,
                             (int)kind__par(&c, "voronoi_top"));
    if (!rc) {
      add_column(pa, means, c.sys, sp, "voronoi_volume", vor->volume, 1);
      rc = add_icolumn(pa, means, c.sys, sp, "coordination", vor->coord, 1);
    }
    for (k = 0; !rc && k < 4; k++)
      rc = add_icolumn(pa, means, c.sys, sp, nk[k], vor->index + 3 + k,
                       ENG_VORO_NORD);
    if (rc) {
      cJSON_Delete(means);
      snprintf(err, errlen, "voronoi: %s",
               rc == KIND_ENOMEM ? "out of memory" : eng_last_error());
      goto fail;
    }
    if (want[D_L5FS])
      add_column(pa, means, c.sys, sp, "l5fs", vor->l5fs, 1);
  }

  if (s2) {
    cJSON *o = cJSON_AddObjectToObject(sum, "s2"), *cols, *src;
    cJSON_AddItemToObject(o, "cutoffs", darray(s2->opts.cut, s2->opts.ncut));
    src = cJSON_AddArrayToObject(o, "cutoff_source");
    cols = cJSON_AddArrayToObject(o, "columns");
    for (k = 0; k < s2->opts.ncut; k++) {
      char name[32], what[32];
      snprintf(name, sizeof name, "s2_c%d", k + 1);
      if (cut[k] == 0)
        snprintf(what, sizeof what, "trough %d", k + 1);
      else
        snprintf(what, sizeof what, "given");
      cJSON_AddItemToArray(cols, cJSON_CreateString(name));
      cJSON_AddItemToArray(src, cJSON_CreateString(what));
      add_column(pa, means, c.sys, sp, name, s2->s2 + (size_t)k * n, 1);
    }
    cJSON_AddNumberToObject(o, "sigma", s2->opts.sigma);
    cJSON_AddNumberToObject(o, "dr", s2->opts.dr);
    cJSON_AddBoolToObject(o, "partial", s2->opts.partial);
    cJSON_AddStringToObject(o, "unit", "k_B");
  }

  if (msd) {
    cJSON *o = cJSON_AddObjectToObject(sum, "msd");
    cJSON_AddNumberToObject(o, "temperature", msd->opts.temp);
    cJSON_AddNumberToObject(o, "time", msd->opts.time);
    cJSON_AddNumberToObject(o, "t_equil", msd->opts.t_equil);
    cJSON_AddNumberToObject(o, "dt", msd->opts.dt);
    cJSON_AddNumberToObject(o, "t_damp", msd->opts.t_damp);
    cJSON_AddNumberToObject(o, "sample_every", (double)msd->opts.sample_every);
    cJSON_AddNumberToObject(o, "seed", (double)msd->opts.seed);
    cJSON_AddNumberToObject(o, "nsamples", (double)msd->nsamples);
    cJSON_AddNumberToObject(o, "t_mean", msd->t_mean);
    add_column(pa, means, c.sys, sp, "msd", msd->msd, 1);
  }

  if (want[D_VFLEX]) {
    assert(msd && vor);
    buf = malloc(sizeof *buf * (size_t)n);
    if (!buf) {
      cJSON_Delete(means);
      goto nomem;
    }
    rc = eng_flex_volume(n, msd->msd, vor->volume, buf);
    if (rc) {
      cJSON_Delete(means);
      rc = kind__eng_fail(rc, 0, "vflex", err, errlen);
      goto fail;
    }
    add_column(pa, means, c.sys, sp, "vflex", buf, 1);
  }

  if (modes) {
    cJSON *o = cJSON_AddObjectToObject(sum, "modes");
    cJSON_AddStringToObject(o, "hessian", "analytic");
    cJSON_AddStringToObject(
        o, "solver",
        modes->solver == ENG_MODES_SPARSE      ? "sparse (ARPACK shift-invert)"
        : modes->solver == ENG_MODES_LANCZOS   ? "lanczos (ARPACK, matrix-free)"
        : modes->solver == ENG_MODES_CHEBYSHEV ? "chebyshev (filtered subspace iteration, matrix-free)"
                                               : "dense (LAPACK dsyevr)");
    cJSON_AddNumberToObject(o, "operator_applications", modes->nop);
    cJSON_AddNumberToObject(o, "tol", modes->tol);
    if (modes->solver == ENG_MODES_CHEBYSHEV) {
      cJSON_AddNumberToObject(o, "block", modes->block);
      cJSON_AddNumberToObject(o, "degree", modes->degree);
      cJSON_AddNumberToObject(o, "filter_lo", modes->filter_lo);
      cJSON_AddNumberToObject(o, "filter_hi", modes->filter_hi);
    }
    cJSON_AddNumberToObject(o, "nmodes", modes->nmodes);
    cJSON_AddNumberToObject(o, "ndof", modes->ndof);
    cJSON_AddNumberToObject(o, "mode_fraction", mo.mode_fraction);
    cJSON_AddNumberToObject(o, "nlow", nlow);
    cJSON_AddItemToObject(o, "lowest_thz", darray(modes->thz, nlow));
    cJSON_AddNumberToObject(o, "resid_max", modes->resid_max);
    cJSON_AddNumberToObject(o, "sigma", modes->sigma);
    cJSON_AddNumberToObject(o, "iterations", modes->iterations);
    cJSON_AddNumberToObject(o, "hessian_blocks",
                            (double)eng_hessian_nblocks(h));
  }
  if (want[D_PART] || want[D_MSDH]) {
    buf = buf ? buf : malloc(sizeof *buf * (size_t)n);
    if (!buf) {
      cJSON_Delete(means);
      goto nomem;
    }
  }
  if (want[D_PART]) {
    cJSON *o = cJSON_AddObjectToObject(sum, "participation");
    rc = eng_participation(modes, nlow, buf);
    if (rc) {
      cJSON_Delete(means);
      rc = kind__eng_fail(rc, 0, "participation", err, errlen);
      goto fail;
    }
    cJSON_AddNumberToObject(o, "nlow", nlow);
    cJSON_AddStringToObject(o, "normalisation",
                            "p_i = sum over the nlow lowest modes of "
                            "|e_m^i|^2; sum_i p_i = nlow");
    add_column(pa, means, c.sys, sp, "participation", buf, 1);
  }
  if (want[D_MSDH]) {
    cJSON *o = cJSON_AddObjectToObject(sum, "msd_harmonic");
    double T = kind__par(&c, "msd_temperature");
    rc = eng_msd_harmonic(modes, c.sys, T, buf);
    if (rc) {
      cJSON_Delete(means);
      rc = kind__eng_fail(rc, 0, "msd_harmonic", err, errlen);
      goto fail;
    }
    cJSON_AddNumberToObject(o, "temperature", T);
    cJSON_AddNumberToObject(o, "modes_used", modes->nmodes);
    cJSON_AddBoolToObject(o, "complete", all_modes);
    add_column(pa, means, c.sys, sp, "msd_harmonic", buf, 1);
  }
  if (dmsd) {
    cJSON *o = cJSON_AddObjectToObject(sum, "msd_diffusive");
    cJSON_AddNumberToObject(o, "temperature", dmsd->opts.temp);
    cJSON_AddNumberToObject(o, "time", dmsd->opts.time);
    cJSON_AddNumberToObject(o, "dt", dmsd->opts.dt);
    cJSON_AddNumberToObject(o, "t_damp", dmsd->opts.t_damp);
    cJSON_AddNumberToObject(o, "seed", (double)dmsd->opts.seed);
    cJSON_AddNumberToObject(o, "t_mean", dmsd->t_mean);
    cJSON_AddStringToObject(o, "reference",
                            "the structure at the start of the run (unwrapped "
                            "positions)");
    add_column(pa, means, c.sys, sp, "msd_diffusive", dmsd->msd, 1);
  }
  if (d2) {
    cJSON *o = cJSON_AddObjectToObject(sum, "d2min");
    int nbad = 0;
    for (i = 0; i < n; i++) nbad += !d2->valid[i];
    cJSON_AddNumberToObject(o, "cutoff", d2->rcut);
    cJSON_AddBoolToObject(o, "normalise", d2->normalise);
    cJSON_AddStringToObject(o, "reference", "the structure of this job");
    cJSON_AddStringToObject(o, "current",
                            dmsd ? "the end of the msd_diffusive run"
                                 : "the final structure of input 1");
    cJSON_AddNumberToObject(o, "invalid_atoms", nbad);
    add_column(pa, means, c.sys, sp, "d2min", d2->d2min, 1);
    rc = add_icolumn(pa, means, c.sys, sp, "d2min_neighbours", d2->nneigh, 1);
    if (rc) {
      cJSON_Delete(means);
      goto nomem;
    }
  }
  cJSON_AddItemToObject(sum, "means", means);
  rc = 0;
  goto done;
cancel:
  rc = KIND_ECANCEL;
  snprintf(err, errlen, "cancelled");
  goto fail;
nomem:
  rc = KIND_ENOMEM;
  snprintf(err, errlen, "out of memory");
fail:
  cJSON_Delete(r);
  r = NULL;
done:
  free(sp);
  free(buf);
  eng_rdf_free(g);
  eng_voronoi_free(vor);
  eng_s2_free(s2);
  eng_msd_free(msd);
  eng_msd_free(dmsd);
  eng_d2min_free(d2);
  eng_system_free(cur);
  eng_modes_free(modes);
  eng_hessian_free(h);
  if (rc) {
    kind__ctx_end(&c);
    return rc;
  }
  return kind__finish(&c, r, result, err, errlen);
#undef STAGE
}
