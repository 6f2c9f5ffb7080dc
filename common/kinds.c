/*
 * kinds.c -- the job-kind table: parameter tables of every kind, the
 * generic validator that fills in defaults, the JSON schemas served by the
 * API (built from the same tables), and kind_apply_result.
 *
 * The runs themselves (calls into the engine) are in kinds_run.c.  The
 * parameters and results are documented in docs/kinds.md; keep it true.
 */
#include "config.h"

#include "kinds.h"
#include "kinds_internal.h"

#include "engine.h"

#include <assert.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NOMAX 1e300

/* ------------------------------------------------------------------ */
/* Parameter tables                                                    */
/* ------------------------------------------------------------------ */

static const kind_param energy_params[1] = {{0}};

static const kind_param minimize_params[] = {
    {"algo", KIND_P_STRING, "fire|cg|lbfgs", 0, 0, 0, "\"cg\"", "",
     "minimiser: conjugate gradient with line search, FIRE, or L-BFGS"},
    {"ftol", KIND_P_NUMBER, NULL, 0, NOMAX, 1, "1e-6", "eV/A",
     "stop when the largest force component is <= ftol"},
    {"etol", KIND_P_NUMBER, NULL, 0, 1, 0, "0", "",
     "stop when |dE| <= etol*(|E|+|E_prev|)/2 between iterations; 0 disables"},
    {"max_iter", KIND_P_INT, NULL, 1, 1e9, 0, "100000", "",
     "iteration limit"},
    {"max_eval", KIND_P_INT, NULL, 1, 1e9, 0, "1000000", "",
     "force-evaluation limit"},
    {"dmax", KIND_P_NUMBER, NULL, 0, 10, 1, "0.1", "A",
     "largest displacement of an atom in one step"},
};

static const kind_param md_params[] = {
    {"ensemble", KIND_P_STRING, "nve|nvt|npt", 0, 0, 0, "\"nvt\"", "",
     "nve (velocity Verlet), nvt (Nose-Hoover chain), npt (+ barostat)"},
    {"dt", KIND_P_NUMBER, NULL, 0, 0.1, 1, "0.002", "ps", "time step"},
    {"steps", KIND_P_INT, NULL, 0, 1e9, 0, "1000", "", "number of MD steps"},
    {"temperature", KIND_P_NUMBER, NULL, 0, 1e5, 0, "300", "K",
     "target temperature (and of the initial velocities)"},
    {"t_start", KIND_P_NUMBER, NULL, 0, 1e5, 0, NULL, "K",
     "target temperature at step 0; default: temperature"},
    {"t_stop", KIND_P_NUMBER, NULL, 0, 1e5, 0, NULL, "K",
     "target temperature at the last step (linear ramp); default: t_start"},
    {"t_damp", KIND_P_NUMBER, NULL, 0, 1e6, 1, NULL, "ps",
     "thermostat relaxation time; default: 100*dt"},
    {"chain", KIND_P_INT, NULL, 1, 10, 0, "3", "",
     "Nose-Hoover chain length"},
    {"pressure", KIND_P_NUMBER, NULL, -1e7, 1e7, 0, "0", "bar",
     "target pressure (npt)"},
    {"p_damp", KIND_P_NUMBER, NULL, 0, 1e6, 1, NULL, "ps",
     "barostat relaxation time; default: 1000*dt"},
    {"barostat", KIND_P_STRING, "iso|aniso", 0, 0, 0, "\"iso\"", "",
     "npt: isotropic, or each diagonal component independently"},
    {"velocities", KIND_P_STRING, "create|input", 0, 0, 0, "\"create\"", "",
     "create: Maxwell-Boltzmann at t_start from seed (zero momentum); "
     "input: the structure file's velocities (zero if it has none)"},
    {"seed", KIND_P_SEED, NULL, 0, 9007199254740991.0, 0, NULL, "",
     "random seed for the velocities; default: drawn at submission and "
     "recorded"},
};

static const kind_param quench_params[] = {
    {"t_high", KIND_P_NUMBER, NULL, 0, 1e5, 1, "2500", "K",
     "melt temperature"},
    {"t_melt", KIND_P_NUMBER, NULL, 0, 1e5, 0, "30", "ps", "time at t_high"},
    {"t_liquid", KIND_P_NUMBER, NULL, 0, 1e5, 1, "2000", "K",
     "temperature where the cooling ramp starts"},
    {"t_low", KIND_P_NUMBER, NULL, 0, 1e5, 1, "300", "K",
     "temperature where the ramp ends"},
    {"rate", KIND_P_NUMBER, NULL, 0, 1e6, 1, "10", "K/ps",
     "cooling rate (10 K/ps = 1e13 K/s)"},
    {"t_hold", KIND_P_NUMBER, NULL, 0, 1e5, 0, "20", "ps", "time at t_low"},
    {"pressure", KIND_P_NUMBER, NULL, -1e7, 1e7, 0, "0", "bar",
     "barostat target pressure"},
    {"dt", KIND_P_NUMBER, NULL, 0, 0.1, 1, "0.002", "ps", "time step"},
    {"seed", KIND_P_SEED, NULL, 0, 9007199254740991.0, 0, NULL, "",
     "random seed for the initial velocities; default: drawn at submission "
     "and recorded"},
};

static const kind_param noop_params[] = {
    {"seconds", KIND_P_NUMBER, NULL, 0, 86400, 0, "0", "s",
     "how long to sleep (reporting progress; cancellable)"},
    {"fail", KIND_P_BOOL, NULL, 0, 0, 0, "false", "",
     "fail with an error after sleeping (for tests)"},
    {"fanout", KIND_P_INT, NULL, 0, 100000, 0, "0", "",
     "fan out into this many noop child jobs (each sleeping `seconds`); "
     "the parent runs after them and reports how many it gathered"},
    {"fail_child", KIND_P_INT, NULL, -1, 100000, 0, "-1", "",
     "index of the child that fails (-1 = none; for tests)"},
};

/* ------------------------------------------------------------------ */
/* Kind-specific cross-field rules and derived defaults                */
/* ------------------------------------------------------------------ */

static double num(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  assert(cJSON_IsNumber(v));
  return v->valuedouble;
}

/* Set o.k = x unless the user gave it. */
static int derive(cJSON *o, const char *k, double x) {
  if (cJSON_GetObjectItemCaseSensitive(o, k)) return 0;
  return cJSON_AddNumberToObject(o, k, x) ? 0 : KIND_ENOMEM;
}

static int md_fix(cJSON *o, char *err, size_t errlen) {
  double dt = num(o, "dt");
  int rc;
  rc = derive(o, "t_start", num(o, "temperature"));
  if (!rc) rc = derive(o, "t_stop", num(o, "t_start"));
  if (!rc) rc = derive(o, "t_damp", 100 * dt);
  if (!rc) rc = derive(o, "p_damp", 1000 * dt);
  if (rc) return rc;
  if (num(o, "t_damp") < dt) {
    snprintf(err, errlen, "t_damp: must be >= dt (%g ps)", dt);
    return KIND_EINVAL;
  }
  if (num(o, "p_damp") < dt) {
    snprintf(err, errlen, "p_damp: must be >= dt (%g ps)", dt);
    return KIND_EINVAL;
  }
  return 0;
}

static int quench_fix(cJSON *o, char *err, size_t errlen) {
  if (num(o, "t_liquid") < num(o, "t_low")) {
    snprintf(err, errlen, "t_liquid: must be >= t_low (%g K)",
             num(o, "t_low"));
    return KIND_EINVAL;
  }
  if (num(o, "t_high") < num(o, "t_liquid")) {
    snprintf(err, errlen, "t_high: must be >= t_liquid (%g K)",
             num(o, "t_liquid"));
    return KIND_EINVAL;
  }
  return 0;
}

/* ------------------------------------------------------------------ */
/* The generic validator                                               */
/* ------------------------------------------------------------------ */

/* A random seed in 1 .. 2^31-1 (printed as a plain integer by cJSON). */
static double random_seed(void) {
  uint64_t x = 0;
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    if (read(fd, &x, sizeof x) != (ssize_t)sizeof x) x = 0;
    close(fd);
  }
  if (!x) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    x = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid();
  }
  return (double)(x % 2147483646u + 1);
}

/* "must be a number > 0" etc. for p. */
static void rule_text(const kind_param *p, char *buf, size_t n) {
  const char *what = p->type == KIND_P_NUMBER ? "a number" : "an integer";
  if (p->type == KIND_P_LIST || p->type == KIND_P_STRING) {
    size_t k = (size_t)snprintf(buf, n, "%s",
                                p->type == KIND_P_LIST
                                    ? "must be a non-empty list (JSON array "
                                      "or comma-separated) of distinct names "
                                      "from "
                                    : "must be one of ");
    const char *c = p->choices;
    while (*c && k + 8 < n) {
      const char *bar = strchr(c, '|');
      size_t len = bar ? (size_t)(bar - c) : strlen(c);
      k += (size_t)snprintf(buf + k, n - k, "\"%.*s\"%s", (int)len, c,
                            bar ? ", " : "");
      c = bar ? bar + 1 : c + len;
    }
  } else if (p->type == KIND_P_TEXT) {
    size_t k = (size_t)snprintf(buf, n, "must be a string of %.0f to %.0f "
                                "characters", p->min, p->max);
    if (p->choices && k < n)
      k += (size_t)snprintf(buf + k, n - k, " (syntax: ");
    for (const char *c = p->choices; c && *c && k + 8 < n;) {
      const char *bar = strchr(c, '|');
      size_t len = bar ? (size_t)(bar - c) : strlen(c);
      k += (size_t)snprintf(buf + k, n - k, "%.*s%s", (int)len, c,
                            bar ? " | " : ")");
      c = bar ? bar + 1 : NULL;
    }
  } else if (p->type == KIND_P_BOOL) {
    snprintf(buf, n, "must be true or false");
  } else if (p->type == KIND_P_NUMLIST) {
    snprintf(buf, n,
             "must be a non-empty list (JSON array or comma-separated) of "
             "numbers %s %g and <= %g",
             p->min_excl ? ">" : ">=", p->min, p->max);
  } else if (p->max >= NOMAX) {
    snprintf(buf, n, "must be %s %s %g", what, p->min_excl ? ">" : ">=",
             p->min);
  } else if (p->min_excl) {
    snprintf(buf, n, "must be %s > %g and <= %g", what, p->min, p->max);
  } else {
    char hi[32];
    /* the shortest digits that read back as max (999.999, not
     * 999.99900000000002; the seed's 2^53 - 1 in full) */
    for (int digits = 6; digits <= 17; digits++) {
      snprintf(hi, sizeof hi, "%.*g", digits, p->max);
      if (strtod(hi, NULL) == p->max) break;
    }
    snprintf(buf, n, "must be %s between %g and %s", what, p->min, hi);
  }
}

/* Check one given value against p; 1 if fine. */
static int value_ok(const kind_param *p, const cJSON *v) {
  double x;
  if (p->type == KIND_P_BOOL) return cJSON_IsBool(v);
  if (p->type == KIND_P_TEXT) {
    size_t len;
    if (!cJSON_IsString(v) || !v->valuestring) return 0;
    len = strlen(v->valuestring);
    return (double)len >= p->min && (double)len <= p->max;
  }
  if (p->type == KIND_P_STRING) {
    const char *c;
    size_t len;
    if (!cJSON_IsString(v) || !v->valuestring) return 0;
    len = strlen(v->valuestring);
    if (len == 0) return 0;
    for (c = p->choices; c && *c;) {
      const char *bar = strchr(c, '|');
      size_t cl = bar ? (size_t)(bar - c) : strlen(c);
      if (cl == len && !strncmp(c, v->valuestring, len)) return 1;
      c = bar ? bar + 1 : NULL;
    }
    return 0;
  }
  if (!cJSON_IsNumber(v)) return 0;
  x = v->valuedouble;
  if (!isfinite(x)) return 0;
  if ((p->type == KIND_P_INT || p->type == KIND_P_SEED) && x != floor(x))
    return 0;
  if (p->min_excl ? !(x > p->min) : !(x >= p->min)) return 0;
  if (x > p->max) return 0;
  return 1;
}

/* Index of name[0..len) in p->choices ("a|b|c"), or -1. */
static int choice_index(const kind_param *p, const char *name, size_t len) {
  const char *c = p->choices;
  int i = 0;
  while (c && *c) {
    const char *bar = strchr(c, '|');
    size_t cl = bar ? (size_t)(bar - c) : strlen(c);
    if (cl == len && !strncmp(c, name, len)) return i;
    c = bar ? bar + 1 : NULL;
    i++;
  }
  return -1;
}

#define LIST_MAX 64 /* elements of a list param; choices of a KIND_P_LIST */

/* One element of a list value: text t[0..len) (spaces trimmed) or a JSON
 * item; for KIND_P_LIST sets bit *idx, for KIND_P_NUMLIST stores *x.
 * Returns 1 if it fits p. */
static int list_elem(const kind_param *p, const char *t, size_t len,
                     const cJSON *item, int *idx, double *x) {
  char buf[64];
  char *end;
  if (item) {
    if (p->type == KIND_P_LIST) {
      if (!cJSON_IsString(item) || !item->valuestring) return 0;
      t = item->valuestring;
      len = strlen(t);
    } else {
      if (!cJSON_IsNumber(item)) return 0;
      *x = item->valuedouble;
      goto check_num;
    }
  }
  while (len && (*t == ' ' || *t == '\t')) t++, len--;
  while (len && (t[len - 1] == ' ' || t[len - 1] == '\t')) len--;
  if (!len || len >= sizeof buf) return 0;
  if (p->type == KIND_P_LIST) {
    *idx = choice_index(p, t, len);
    return *idx >= 0;
  }
  memcpy(buf, t, len);
  buf[len] = 0;
  *x = strtod(buf, &end);
  if (end == buf || *end) return 0;
check_num:
  if (!isfinite(*x)) return 0;
  if (p->min_excl ? !(*x > p->min) : !(*x >= p->min)) return 0;
  return *x <= p->max;
}

/* Normalize a KIND_P_LIST / KIND_P_NUMLIST value (JSON array or
 * comma-separated string) into *out (a new array).  0, KIND_EINVAL (does
 * not fit p), KIND_ENOMEM. */
static int list_value(const kind_param *p, const cJSON *v, cJSON **out) {
  int seen[LIST_MAX] = {0};
  double xs[LIST_MAX];
  int n = 0, i, idx = -1;
  *out = NULL;
  if (cJSON_IsArray(v)) {
    const cJSON *it;
    for (it = v->child; it; it = it->next) {
      if (n >= LIST_MAX || !list_elem(p, NULL, 0, it, &idx, &xs[n]))
        return KIND_EINVAL;
      if (p->type == KIND_P_LIST) {
        if (idx >= LIST_MAX || seen[idx]) return KIND_EINVAL;
        seen[idx] = 1;
      }
      n++;
    }
  } else if (cJSON_IsString(v) && v->valuestring) {
    const char *t = v->valuestring;
    for (;;) {
      const char *comma = strchr(t, ',');
      size_t len = comma ? (size_t)(comma - t) : strlen(t);
      if (n >= LIST_MAX || !list_elem(p, t, len, NULL, &idx, &xs[n]))
        return KIND_EINVAL;
      if (p->type == KIND_P_LIST) {
        if (idx >= LIST_MAX || seen[idx]) return KIND_EINVAL;
        seen[idx] = 1;
      }
      n++;
      if (!comma) break;
      t = comma + 1;
    }
  } else {
    return KIND_EINVAL;
  }
  if (n == 0) return KIND_EINVAL;
  *out = cJSON_CreateArray();
  if (!*out) return KIND_ENOMEM;
  if (p->type == KIND_P_NUMLIST) {
    for (i = 0; i < n; i++)
      if (!cJSON_AddItemToArray(*out, cJSON_CreateNumber(xs[i]))) goto nomem;
  } else {
    const char *c = p->choices;
    for (i = 0; c && *c && i < LIST_MAX; i++) {
      const char *bar = strchr(c, '|');
      size_t cl = bar ? (size_t)(bar - c) : strlen(c);
      if (seen[i]) {
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)cl, c);
        if (!cJSON_AddItemToArray(*out, cJSON_CreateString(name))) goto nomem;
      }
      c = bar ? bar + 1 : NULL;
    }
  }
  return 0;
nomem:
  cJSON_Delete(*out);
  *out = NULL;
  return KIND_ENOMEM;
}

int kind__validate(const kind_def *k, const cJSON *params, cJSON **normalized,
                   char *err, size_t errlen,
                   int (*fix)(cJSON *o, char *err, size_t errlen)) {
  cJSON *o = NULL;
  const cJSON *it;
  int i, rc = KIND_EINVAL;
  char rule[320];

  assert(k && normalized);
  *normalized = NULL;
  if (err && errlen) err[0] = 0;
  if (params && cJSON_IsNull(params)) params = NULL;
  if (params && !cJSON_IsObject(params)) {
    snprintf(err, errlen, "params: must be a JSON object");
    goto fail;
  }
  if (params) {
    for (it = params->child; it; it = it->next) {
      const cJSON *jt;
      if (!it->string || !kind_param_find(k, it->string)) {
        snprintf(err, errlen, "unknown field '%.64s' (kind %s accepts: %s)",
                 it->string ? it->string : "", k->name,
                 k->nparams ? "see kinds.md" : "no params");
        if (k->nparams) {
          /* list the accepted names, short enough for one line */
          size_t n = strlen(err);
          n -= strlen("see kinds.md)");
          for (i = 0; i < k->nparams && n + 2 < errlen; i++)
            n += (size_t)snprintf(err + n, errlen - n, "%s%s",
                                  k->params[i].name,
                                  i + 1 < k->nparams ? ", " : ")");
        }
        goto fail;
      }
      for (jt = params->child; jt != it; jt = jt->next)
        if (!strcmp(jt->string, it->string)) {
          snprintf(err, errlen, "%s: given twice", it->string);
          goto fail;
        }
    }
  }
  o = cJSON_CreateObject();
  if (!o) goto nomem;
  for (i = 0; i < k->nparams; i++) {
    const kind_param *p = &k->params[i];
    const cJSON *v = params ? cJSON_GetObjectItemCaseSensitive(params, p->name)
                            : NULL;
    cJSON *c = NULL;
    if (v && (p->type == KIND_P_LIST || p->type == KIND_P_NUMLIST)) {
      int lrc = list_value(p, v, &c);
      if (lrc == KIND_ENOMEM) goto nomem;
      if (lrc) {
        rule_text(p, rule, sizeof rule);
        snprintf(err, errlen, "%s: %s", p->name, rule);
        goto fail;
      }
    } else if (v && !(p->type == KIND_P_SEED && cJSON_IsNull(v))) {
      if (!value_ok(p, v)) {
        rule_text(p, rule, sizeof rule);
        snprintf(err, errlen, "%s: %s", p->name, rule);
        goto fail;
      }
      c = cJSON_Duplicate(v, 1);
    } else if (p->type == KIND_P_SEED) {
      c = cJSON_CreateNumber(random_seed());
    } else if (p->def) {
      c = cJSON_Parse(p->def);
    } else {
      continue; /* derived by fix() */
    }
    if (!c) goto nomem;
    cJSON_AddItemToObject(o, p->name, c);
  }
  if (fix) {
    rc = fix(o, err, errlen);
    if (rc) goto fail;
  }
  *normalized = o;
  return KIND_OK;
nomem:
  rc = KIND_ENOMEM;
  snprintf(err, errlen, "params: out of memory");
fail:
  cJSON_Delete(o);
  return rc;
}

static int energy_validate(const cJSON *p, cJSON **o, char *e, size_t n) {
  return kind__validate(kind_find("energy"), p, o, e, n, NULL);
}
static int minimize_validate(const cJSON *p, cJSON **o, char *e, size_t n) {
  return kind__validate(kind_find("minimize"), p, o, e, n, NULL);
}
static int md_validate(const cJSON *p, cJSON **o, char *e, size_t n) {
  return kind__validate(kind_find("md"), p, o, e, n, md_fix);
}
static int quench_validate(const cJSON *p, cJSON **o, char *e, size_t n) {
  return kind__validate(kind_find("quench"), p, o, e, n, quench_fix);
}
static int noop_validate(const cJSON *p, cJSON **o, char *e, size_t n) {
  return kind__validate(kind_find("noop"), p, o, e, n, NULL);
}

/* The length rule of every KIND_P_TEXT param of kind `name` given as a
 * JSON string in params, checked before the kind's own validator fn
 * (which parses the text, and may take other JSON forms of it: kinds.h
 * KIND_P_TEXT).  KIND_EINVAL with "field: must be a string of ..., got N
 * characters", else what fn returns. */
static int text_first(const char *name,
                      int (*fn)(const cJSON *, cJSON **, char *, size_t),
                      const cJSON *params, cJSON **normalized, char *err,
                      size_t errlen) {
  const kind_def *k = kind_find(name);
  const cJSON *it;
  char rule[320];
  assert(k && normalized);
  *normalized = NULL;
  if (cJSON_IsObject(params))
    for (it = params->child; it; it = it->next) {
      const kind_param *p = it->string ? kind_param_find(k, it->string) : NULL;
      if (!p || p->type != KIND_P_TEXT || !cJSON_IsString(it) ||
          !it->valuestring || value_ok(p, it))
        continue;
      rule_text(p, rule, sizeof rule);
      snprintf(err, errlen, "%s: %s, got %zu characters", p->name, rule,
               strlen(it->valuestring));
      return KIND_EINVAL;
    }
  return fn(params, normalized, err, errlen);
}

static int artn_validate(const cJSON *p, cJSON **o, char *e, size_t n) {
  return text_first("artn", kind__validate_artn, p, o, e, n);
}
static int artn_chunk_validate(const cJSON *p, cJSON **o, char *e, size_t n) {
  return text_first("artn_chunk", kind__validate_artn_chunk, p, o, e, n);
}
static int analysis_validate(const cJSON *p, cJSON **o, char *e, size_t n) {
  return text_first("analysis", kind__validate_analysis, p, o, e, n);
}
static int pipeline_validate(const cJSON *p, cJSON **o, char *e, size_t n) {
  return text_first("pipeline", kind__validate_pipeline, p, o, e, n);
}

#define NPARAMS(a) ((int)(sizeof(a) / sizeof((a)[0])))

static kind_def kinds[] = {
    {"energy",
     "energy, per-atom energies, forces and virial/pressure of a structure",
     energy_validate, kind__run_energy, NULL, energy_params, 0,
     KIND_NEEDS_STRUCTURE | KIND_NEEDS_POTENTIAL, NULL},
    {"minimize",
     "minimise the potential energy (positions, fixed box) with CG or FIRE",
     minimize_validate, kind__run_minimize, NULL, minimize_params,
     NPARAMS(minimize_params), KIND_NEEDS_STRUCTURE | KIND_NEEDS_POTENTIAL,
     NULL},
    {"md", "molecular dynamics: NVE, Nose-Hoover NVT, or NPT",
     md_validate, kind__run_md, NULL, md_params, NPARAMS(md_params),
     KIND_NEEDS_STRUCTURE | KIND_NEEDS_POTENTIAL, NULL},
    {"quench",
     "melt at t_high, cool at rate to t_low under the barostat, hold, "
     "minimise (makes a glass)",
     quench_validate, kind__run_quench, NULL, quench_params,
     NPARAMS(quench_params), KIND_NEEDS_STRUCTURE | KIND_NEEDS_POTENTIAL,
     NULL},
    {"noop",
     "sleep for `seconds` reporting progress (service tests, benchmarks)",
     noop_validate, kind__run_noop, NULL, noop_params, NPARAMS(noop_params),
     0, kind__plan_noop},
    {"descriptors",
     "structural descriptors per atom: g(r), Voronoi, L5FS, S2, vibrational "
     "MSD, flexibility volume, normal modes, participation, harmonic MSD",
     kind__validate_descriptors, kind__run_descriptors, NULL,
     kind__descriptors_params, KIND__DESC_NPARAMS,
     KIND_NEEDS_STRUCTURE | KIND_NEEDS_POTENTIAL, NULL},
    /* Kinds defined in their own files: nparams -1 = count the table up to
     * its {NULL} sentinel (done once, with the schemas). */
    {"artn",
     "ARTn sweep: activation energies of local excitations around selected "
     "atoms, fanned out into artn_chunk child jobs and gathered per atom",
     artn_validate, kind__run_artn, NULL, kind__artn_params, -1,
     KIND_NEEDS_STRUCTURE | KIND_NEEDS_POTENTIAL, kind__plan_artn},
    {"artn_chunk",
     "ARTn events for a list of atoms (one chunk of an artn sweep)",
     artn_chunk_validate, kind__run_artn_chunk, NULL,
     kind__artn_chunk_params, -1, KIND_NEEDS_STRUCTURE | KIND_NEEDS_POTENTIAL,
     NULL},
    {"analysis",
     "correlations, spatial autocorrelation and correlation lengths, "
     "barrier spectra and slice maps of per-atom fields from other results",
     analysis_validate, kind__run_analysis, NULL,
     kind__analysis_params, -1, KIND_NEEDS_STRUCTURE | KIND_NEEDS_POTENTIAL,
     NULL},
    {"pipeline",
     "the paper end to end: minimise, descriptors and ARTn sweep, analysis, "
     "and a report per figure",
     pipeline_validate, kind__run_pipeline, NULL,
     kind__pipeline_params, -1, KIND_NEEDS_STRUCTURE | KIND_NEEDS_POTENTIAL,
     kind__plan_pipeline},
};

#define NKINDS NPARAMS(kinds)

/* ------------------------------------------------------------------ */
/* Schemas (built once from the tables)                                */
/* ------------------------------------------------------------------ */

static pthread_once_t schema_once = PTHREAD_ONCE_INIT;
static char *schema_text[NKINDS];

/* s[key] = the '|'-separated forms of c ("a|b:...|c") as an array of
 * strings: "enum" for choices, "x-syntax" for the syntax forms of a
 * KIND_P_TEXT (an annotation: the value is free text, not one of them). */
static void add_forms(cJSON *s, const char *key, const char *c) {
  cJSON *e = cJSON_AddArrayToObject(s, key);
  while (e && c && *c) {
    const char *bar = strchr(c, '|');
    size_t len = bar ? (size_t)(bar - c) : strlen(c);
    char buf[128];
    snprintf(buf, sizeof buf, "%.*s", (int)len, c);
    cJSON_AddItemToArray(e, cJSON_CreateString(buf));
    c = bar ? bar + 1 : NULL;
  }
}

static cJSON *param_schema(const kind_param *p) {
  cJSON *s = cJSON_CreateObject();
  if (!s) return NULL;
  switch (p->type) {
  case KIND_P_NUMBER:
    cJSON_AddStringToObject(s, "type", "number");
    break;
  case KIND_P_INT:
  case KIND_P_SEED:
    cJSON_AddStringToObject(s, "type", "integer");
    break;
  case KIND_P_BOOL:
    cJSON_AddStringToObject(s, "type", "boolean");
    break;
  case KIND_P_NUMLIST: {
    cJSON *it = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "type", "array");
    cJSON_AddNumberToObject(s, "minItems", 1);
    if (it) {
      cJSON_AddStringToObject(it, "type", "number");
      cJSON_AddNumberToObject(it, p->min_excl ? "exclusiveMinimum" : "minimum",
                              p->min);
      if (p->max < NOMAX) cJSON_AddNumberToObject(it, "maximum", p->max);
      cJSON_AddItemToObject(s, "items", it);
    }
  } break;
  case KIND_P_LIST: {
    cJSON *it = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "type", "array");
    cJSON_AddNumberToObject(s, "minItems", 1);
    cJSON_AddTrueToObject(s, "uniqueItems");
    if (it) {
      cJSON_AddStringToObject(it, "type", "string");
      add_forms(it, "enum", p->choices);
      cJSON_AddItemToObject(s, "items", it);
    }
  } break;
  case KIND_P_TEXT:
    cJSON_AddStringToObject(s, "type", "string");
    cJSON_AddNumberToObject(s, "minLength", p->min);
    cJSON_AddNumberToObject(s, "maxLength", p->max);
    if (p->choices) add_forms(s, "x-syntax", p->choices);
    break;
  default:
    cJSON_AddStringToObject(s, "type", "string");
    add_forms(s, "enum", p->choices);
    break;
  }
  if (p->type == KIND_P_NUMBER || p->type == KIND_P_INT ||
      p->type == KIND_P_SEED) {
    cJSON_AddNumberToObject(s, p->min_excl ? "exclusiveMinimum" : "minimum",
                            p->min);
    if (p->max < NOMAX) cJSON_AddNumberToObject(s, "maximum", p->max);
  }
  if (p->def) {
    cJSON *d = cJSON_Parse(p->def);
    if (d) cJSON_AddItemToObject(s, "default", d);
  }
  if (p->unit && p->unit[0]) cJSON_AddStringToObject(s, "unit", p->unit);
  cJSON_AddStringToObject(s, "description", p->help);
  return s;
}

static void build_schemas(void) {
  int i, j;
  for (i = 0; i < NKINDS; i++) {
    if (kinds[i].nparams < 0) {
      kinds[i].nparams = 0;
      while (kinds[i].params[kinds[i].nparams].name) kinds[i].nparams++;
    }
  }
  for (i = 0; i < NKINDS; i++) {
    cJSON *s = cJSON_CreateObject(), *props;
    if (!s) continue;
    cJSON_AddStringToObject(s, "title", kinds[i].name);
    cJSON_AddStringToObject(s, "description", kinds[i].summary);
    cJSON_AddStringToObject(s, "type", "object");
    props = cJSON_AddObjectToObject(s, "properties");
    for (j = 0; props && j < kinds[i].nparams; j++) {
      cJSON *p = param_schema(&kinds[i].params[j]);
      if (p) cJSON_AddItemToObject(props, kinds[i].params[j].name, p);
    }
    cJSON_AddFalseToObject(s, "additionalProperties");
    schema_text[i] = cJSON_PrintUnformatted(s);
    cJSON_Delete(s);
    kinds[i].params_schema_json = schema_text[i] ? schema_text[i] : "{}";
  }
}

const kind_def *kind_at(int i) {
  pthread_once(&schema_once, build_schemas);
  if (i < 0 || i >= NKINDS) return NULL;
  return &kinds[i];
}

const kind_def *kind_find(const char *name) {
  int i;
  pthread_once(&schema_once, build_schemas);
  if (!name) return NULL;
  for (i = 0; i < NKINDS; i++)
    if (!strcmp(kinds[i].name, name)) return &kinds[i];
  return NULL;
}

const kind_param *kind_param_find(const kind_def *k, const char *name) {
  int i;
  if (!k || !name) return NULL;
  for (i = 0; i < k->nparams; i++)
    if (!strcmp(k->params[i].name, name)) return &k->params[i];
  return NULL;
}

const char *kind_errname(int code) {
  switch (code) {
  case KIND_OK: return "KIND_OK";
  case KIND_EINVAL: return "KIND_EINVAL";
  case KIND_EFAIL: return "KIND_EFAIL";
  case KIND_ECANCEL: return "KIND_ECANCEL";
  case KIND_ENOMEM: return "KIND_ENOMEM";
  default: return "KIND_EUNKNOWN";
  }
}

const char *kind_program(void) { return PACKAGE_NAME " " PACKAGE_VERSION; }

/* ------------------------------------------------------------------ */
/* Applying a result to its structure                                  */
/* ------------------------------------------------------------------ */

/* Fill b from result "box" {"lo":[3],"len":[3],"tilt":[3]}; 0 if absent. */
static int box_from_json(const cJSON *box, eng_box *b) {
  const char *keys[3] = {"lo", "len", "tilt"};
  double v[3][3];
  int i, j;
  for (i = 0; i < 3; i++) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(box, keys[i]);
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != 3) return KIND_EINVAL;
    for (j = 0; j < 3; j++) {
      const cJSON *x = cJSON_GetArrayItem(a, j);
      if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble)) return KIND_EINVAL;
      v[i][j] = x->valuedouble;
    }
  }
  for (j = 0; j < 3; j++) {
    if (!(v[1][j] > 0)) return KIND_EINVAL;
    b->lo[j] = v[0][j];
    b->len[j] = v[1][j];
  }
  b->xy = v[2][0];
  b->xz = v[2][1];
  b->yz = v[2][2];
  return 0;
}

/* 2 if every element of array a is a number, 1 if every element is a
 * number or null (a value not defined for that atom, exported as NaN) and
 * at least one is a number, else 0. */
static int numeric_column(const cJSON *a) {
  const cJSON *x;
  int nnum = 0, nnull = 0;
  for (x = a->child; x; x = x->next) {
    if (cJSON_IsNumber(x))
      nnum++;
    else if (cJSON_IsNull(x))
      nnull++;
    else
      return 0;
  }
  if (!nnum) return 0;
  return nnull ? 1 : 2;
}

int kind_apply_result(eng_system *sys, const cJSON *result, char *err,
                      size_t errlen) {
  const cJSON *pa, *ids, *box, *col;
  int *map = NULL; /* result row -> system atom */
  int i, n, rc = KIND_EINVAL;

  assert(sys && result);
  box = cJSON_GetObjectItemCaseSensitive(result, "box");
  if (box) {
    eng_box b = sys->box;
    if (box_from_json(box, &b)) {
      snprintf(err, errlen, "result: malformed \"box\"");
      goto out;
    }
    sys->box = b;
  }
  pa = cJSON_GetObjectItemCaseSensitive(result, "per_atom");
  if (!pa) {
    rc = 0;
    goto out;
  }
  ids = cJSON_GetObjectItemCaseSensitive(pa, "id");
  n = cJSON_GetArraySize(ids);
  if (!cJSON_IsArray(ids) || n != sys->natoms) {
    snprintf(err, errlen,
             "result: per_atom.id has %d entries, the structure %d atoms", n,
             sys->natoms);
    goto out;
  }
  map = malloc(sizeof *map * (size_t)(n ? n : 1));
  if (!map) {
    rc = KIND_ENOMEM;
    snprintf(err, errlen, "out of memory");
    goto out;
  }
  /* Match ids (results keep the structure's order, so try i -> i first). */
  i = 0;
  for (col = ids->child; col; col = col->next, i++) {
    int j;
    if (!cJSON_IsNumber(col)) {
      snprintf(err, errlen, "result: per_atom.id[%d] is not a number", i);
      goto out;
    }
    if ((double)sys->id[i] == col->valuedouble) {
      map[i] = i;
      continue;
    }
    for (j = 0; j < sys->natoms; j++)
      if ((double)sys->id[j] == col->valuedouble) break;
    if (j == sys->natoms) {
      snprintf(err, errlen, "result: atom id %.0f is not in the structure",
               col->valuedouble);
      goto out;
    }
    map[i] = j;
  }
  for (col = pa->child; col; col = col->next) {
    const cJSON *x;
    int comp = -1;
    eng_prop *prop = NULL;
    if (!col->string || !strcmp(col->string, "id") ||
        !strcmp(col->string, "type") || !strcmp(col->string, "species"))
      continue;
    if (!cJSON_IsArray(col) || cJSON_GetArraySize(col) != n ||
        !numeric_column(col))
      continue; /* not a numeric column: not exported */
    if (sys->v && col->string[0] == 'v' && strchr("xyz", col->string[1]) &&
        col->string[1] && !col->string[2])
      continue; /* velocities are the system's own (written as velo) */
    if (!strcmp(col->string, "x")) comp = 0;
    if (!strcmp(col->string, "y")) comp = 1;
    if (!strcmp(col->string, "z")) comp = 2;
    if (comp >= 0 && numeric_column(col) != 2) {
      rc = KIND_EINVAL;
      snprintf(err, errlen, "result: per_atom.%s has null positions",
               col->string);
      goto out;
    }
    if (comp < 0) {
      int prc = eng_system_add_prop(sys, col->string, ENG_PROP_REAL, 1, &prop);
      if (prc) {
        rc = prc == ENG_ENOMEM ? KIND_ENOMEM : KIND_EINVAL;
        snprintf(err, errlen, "result: %s", eng_last_error());
        goto out;
      }
    }
    i = 0;
    for (x = col->child; x; x = x->next, i++) {
      double v = cJSON_IsNumber(x) ? x->valuedouble : NAN;
      if (comp >= 0)
        sys->x[3 * map[i] + comp] = v;
      else
        prop->val[map[i]] = v;
    }
  }
  rc = 0;
out:
  free(map);
  return rc;
}
