/*
 * kinds_artn.c -- the ARTn sweep job kinds (docs/kinds.md, "artn"):
 *
 *   artn        a fan-out parent.  Its plan selects atoms (all | ids |
 *               species | region), optionally puts a `minimize` child
 *               first, and splits the (atom x event) pairs into artn_chunk
 *               children of chunk_events pairs each; its run gathers the
 *               chunks' event tables into per-atom statistics, a summary,
 *               the merged event table and histogram-ready lists.
 *   artn_chunk  runs its pairs with eng_artn_run, one event after another
 *               (progress per event, cancellable), and returns the event
 *               table as columns.
 *
 * An event depends only on (structure, engine options, seed, atom id,
 * event index) (eng_artn_stream_seed), so the chunking never changes the
 * results.  Every eng_artn_opts field is a parameter of both kinds: one
 * line of ARTN_OPTS below, with the engine's default
 * (eng_artn_opts_default) filled in at validation.  Event columns come
 * from the table ARTN_EVCOLS the same way.
 *
 * Units: A, eV, eV/A, eV/A^2; times in seconds.
 */
#include "config.h"

#include "kinds.h"
#include "kinds_internal.h"

#include "engine.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------ */
/* Parameters                                                          */
/* ------------------------------------------------------------------ */

/* The engine options, one line each: X(field of eng_artn_opts, type D
 * double | I int | B int used as a flag (JSON boolean), min, max,
 * min exclusive, unit, help).  The bounds are the engine's (check_opts in
 * artn.c); cross-field rules are in artn_fix, and the engine checks again
 * when an event runs.  A new eng_artn_opts field is one more line here. */
#define ARTN_OPTS(X)                                                          \
  X(perturb_radius, D, 0, 999.999, 0, "A",                                    \
    "atoms within this distance of the chosen atom get the random kick")      \
  X(perturb_size, D, 0, 5, 1, "A", "norm of the initial random kick")         \
  X(basin_step, D, 0, 5, 1, "A", "push increment along the kick direction")   \
  X(basin_relax_steps, I, 0, 1000, 0, "",                                     \
    "perpendicular FIRE steps after each increment")                          \
  X(basin_max_steps, I, 1, 10000, 0, "",                                      \
    "increments before giving up (status no_exit)")                           \
  X(eigen_threshold, D, -1000, 0, 1, "eV/A^2",                                \
    "the basin is left when the lowest eigenvalue is below this (< 0)")       \
  X(saddle_force, D, 0, 10, 1, "eV/A",                                        \
    "converged when the max |force component| is below this")                 \
  X(refine_force, D, 0, 10, 0, "eV/A",                                        \
    "if > 0: continue the climb to this tighter force (<= saddle_force); "    \
    "0 = off")                                                                \
  X(climb_step_max, D, 0, 5, 1, "A", "largest step along the eigenvector")    \
  X(climb_max_steps, I, 1, 100000, 0, "",                                     \
    "activation steps before giving up (max_steps)")                          \
  X(lost_retries, I, 0, 100, 0, "",                                           \
    "recoveries of a lost eigenvalue before giving up (eigen_lost)")          \
  X(perp_steps_max, I, 0, 10000, 0, "",                                       \
    "cap of perpendicular FIRE steps per activation step")                    \
  X(lanczos_max_iter, I, 2, 64, 0, "", "Lanczos vectors per estimate")        \
  X(lanczos_min_iter, I, 1, 64, 0, "",                                        \
    "at least this many Lanczos vectors (<= lanczos_max_iter)")               \
  X(lanczos_tol, D, 0, 0.999999, 1, "",                                       \
    "Lanczos stops at this relative change of the eigenvalue")                \
  X(lanczos_fd_step, D, 0, 0.1, 1, "A",                                       \
    "finite-difference step of the Hessian-vector products")                  \
  X(lanczos_analytic, B, 0, 0, 0, "",                                         \
    "Lanczos products from the analytic Hessian of the last force call "     \
    "(0: finite differences of the forces, lanczos_fd_step)")                \
  X(push_over, D, 0, 5, 1, "A",                                               \
    "push from the saddle along the eigenvector before minimising")           \
  X(min_ftol, D, 0, 1, 1, "eV/A",                                             \
    "force tolerance of the final minimisations")                             \
  X(min_max_calls, I, 1, 1e9, 0, "",                                          \
    "force-call cap of each final minimisation")                              \
  X(check_connect, B, 0, 0, 0, "",                                            \
    "also relax the other side of the saddle and record whether it "          \
    "returns to the initial minimum (column connected)")                      \
  X(check_second, B, 0, 0, 0, "",                                             \
    "check for a second negative eigenvalue at the converged point and "      \
    "push off along it (first-order saddles)")                                \
  X(second_force, D, 0, 10, 1, "eV/A",                                        \
    "force criterion of the re-climb after a push-off (<= saddle_force)")     \
  X(second_retries, I, 0, 100, 0, "",                                         \
    "push-offs before giving up (higher_order)")                              \
  X(same_dist, D, 0, 99.999, 1, "A",                                          \
    "two minima are the same if no atom differs by more")                     \
  X(same_energy, D, 0, 99.999, 1, "eV",                                       \
    "... or by 5 same_dist with energies closer than this")                   \
  X(lost_follow, I, 0, 1000, 0, "",                                           \
    "a lost eigenvalue: at most this many steps uphill along the lowest "     \
    "mode (0: pushes along x - x_initial)")                                   \
  X(basin_lanczos_gap, D, 0, 1, 0, "",                                        \
    "while above eigen_threshold, basin Lanczos also stops at this change "  \
    "of lambda relative to its distance from it (0: off)")                    \
  X(refine_frozen_max, D, 0, 1, 0, "",                                        \
    "refine_grow out of the cell: atoms outside the grown radius (or set) "   \
    "stay frozen in the periodic whole system while at most this fraction "   \
    "moves")                                                                  \
  X(push_radius, D, 0, 999.999, 0, "A",                                       \
    "local mode: push a saddle certified in a bigger cluster over in the "    \
    "cluster of this moving radius (0: where it was certified)")              \
  X(second_remote, D, 0, 999.999, 0, "A",                                     \
    "a second mode centred farther than this from the saddle mode ends the "  \
    "attempt (higher_order) instead of a push-off (0: off)")                  \
  X(refine_grow_hot, D, 0, 1, 0, "",                                          \
    "refine_grow: grow only around the atoms whose whole-system force "       \
    "component is at least this fraction of the target (0: the sphere)")      \
  X(memo_dist, D, 0, 5, 0, "A",                                               \
    "memo: a cluster saddle whose moving atoms all lie within this of an "    \
    "earlier attempt's (same atom) takes that attempt's outcome")             \
  X(memo_energy, D, 0, 5, 0, "eV",                                            \
    "memo: ... and whose energy is within this of it")                        \
  X(list_skin, D, 0, 5, 1, "A",                                               \
    "Verlet skin of the neighbour lists of ARTn's own calculators (local "    \
    "mode's clusters); only the cost and the round-off depend on it")         \
  X(max_energy, D, 0, 999999, 1, "eV",                                        \
    "give up (energy_limit) above E_initial + this")                          \
  X(max_calls, I, 1, 1e9, 0, "", "force-call budget of the saddle search")    \
  X(remove_translation, B, 0, 0, 0, "",                                       \
    "project rigid translations out of pushes and Lanczos vectors")           \
  X(local, B, 0, 0, 0, "",                                                    \
    "local mode: search in a cluster of radius local_radius around the "      \
    "atom (exact: one cutoff + 1 A of fixed atoms, the rest as a "           \
    "background density), then refine")                                       \
  X(local_radius, D, 0, 999.999, 1, "A",                                      \
    "local mode: radius of the moving region (>= perturb_radius + 1)")        \
  X(local_refine, B, 0, 0, 0, "",                                             \
    "local mode: refine the saddle (whole system or refine_radius)")          \
  X(refine_radius, D, 0, 999.999, 0, "A",                                     \
    "local mode: > 0 refines in a bigger cluster of this moving radius "      \
    "(>= local_radius; 0: the whole system)")                                 \
  X(restarts, I, 0, 100, 0, "",                                               \
    "failed attempts restarted with a new kick from the event's stream")      \
  X(require_connect, B, 0, 0, 0, "",                                          \
    "relax both sides; a saddle must connect the initial minimum")            \
  X(lanczos_radius, D, 0, 999.999, 0, "A",                                    \
    "> 0: climb Lanczos on the atoms within this radius only (0: all)")       \
  X(basin_init_steps, I, 0, 9999, 0, "",                                      \
    "basin increments before the first Lanczos estimate")                     \
  X(basin_warm, B, 0, 0, 0, "",                                               \
    "basin Lanczos starts from the previous eigenvector + displacement")      \
  X(lost_threshold, D, -1000, 0, 1, "eV/A^2",                                 \
    "a lost eigenvalue is recovered once below this (>= eigen_threshold)")    \
  X(refine_push, B, 0, 0, 0, "",                                              \
    "local mode refined in the whole system: push over from the refined "     \
    "saddle in the whole system (false: from the cluster saddle)")            \
  X(refine_grow, D, 0, 999.999, 0, "A",                                       \
    "local mode, refine_radius > 0: grow the refinement cluster by this "     \
    "until the whole-system force is below the target (0: off)")

enum { OPT_D, OPT_I, OPT_B };

#define PTYPE_D KIND_P_NUMBER
#define PTYPE_I KIND_P_INT
#define PTYPE_B KIND_P_BOOL
#define ARTN_PARAM(nm, t, lo, hi, excl, unit, help)                           \
  {#nm, PTYPE_##t, NULL, lo, hi, excl, NULL, unit,                            \
   help " (default: the engine's, eng_artn_opts_default)"},
#define ARTN_FIELD(nm, t, lo, hi, excl, unit, help)                           \
  {#nm, OPT_##t, offsetof(eng_artn_opts, nm)},

typedef struct artn_field {
  const char *name;
  int type; /* OPT_* */
  size_t off;
} artn_field;

static const artn_field artn_fields[] = {ARTN_OPTS(ARTN_FIELD)};
#define NFIELDS ((int)(sizeof artn_fields / sizeof artn_fields[0]))

#define ATOMS_CHOICES                                                         \
  "all|ids:ID,ID-ID,...|species:NAME,...|region:XLO,XHI,YLO,YHI,ZLO,ZHI"
#define ATOMS_HELP                                                            \
  "atoms whose events are run: \"all\"; \"ids:1,5,9-12\" (or just "         \
  "\"1,5,9-12\", or a JSON array of ids; in the order given); "             \
  "\"species:Zr\" or \"species:Cu,Zr\"; \"region:xlo,xhi,ylo,yhi,zlo,zhi\" " \
  "(A, lo <= x < hi on the wrapped positions of the structure as "          \
  "submitted; inf allowed)"

#define SEED_PARAM                                                            \
  {"seed", KIND_P_SEED, NULL, 0, 9007199254740991.0, 0, NULL, "",           \
   "sweep seed: event k of atom id i uses the random stream "               \
   "eng_artn_stream_seed(seed, i, k); default: drawn at submission and "    \
   "recorded"}

const kind_param kind__artn_params[] = {
    {"atoms", KIND_P_TEXT, ATOMS_CHOICES, 1, 1048576, 0, "\"all\"", "",
     ATOMS_HELP},
    {"events_per_atom", KIND_P_INT, NULL, 1, 100000, 0, "10", "",
     "events per selected atom (event indices 0 .. events_per_atom-1)"},
    SEED_PARAM,
    {"chunk_events", KIND_P_INT, NULL, 1, 1e9, 0, "100", "",
     "events per artn_chunk child job (the results do not depend on it)"},
    {"minimize_first", KIND_P_BOOL, NULL, 0, 0, 0, "true", "",
     "first minimise the structure (CG to minimize_ftol) in a `minimize` "
     "child job and run the events on its result; false: the structure "
     "must already be minimised (max |force component| <= saddle_force)"},
    {"minimize_ftol", KIND_P_NUMBER, NULL, 0, 1, 1, "1e-6", "eV/A",
     "force tolerance of that minimisation"},
    {"memo", KIND_P_BOOL, NULL, 0, 0, 0, "false", "",
     "local mode: remember each atom's cluster saddles and give an attempt "
     "that finds one again the earlier attempt's outcome instead of "
     "refining it again (eng_artn_run_memo; memo_event names that event); "
     "the events of an atom then run in order in one chunk, so chunks hold "
     "whole atoms"},
    ARTN_OPTS(ARTN_PARAM){NULL, 0, NULL, 0, 0, 0, NULL, NULL, NULL}};

const kind_param kind__artn_chunk_params[] = {
    {"atoms", KIND_P_TEXT, ATOMS_CHOICES, 1, 1048576, 0, "\"all\"", "",
     ATOMS_HELP},
    {"events_per_atom", KIND_P_INT, NULL, 1, 100000, 0, "10", "",
     "events per selected atom (event indices 0 .. events_per_atom-1)"},
    SEED_PARAM,
    {"first", KIND_P_INT, NULL, 0, 1e15, 0, "0", "",
     "first (atom, event) pair to run, counting pairs atom by atom in "
     "selection order and events 0..events_per_atom-1 within an atom"},
    {"count", KIND_P_INT, NULL, 0, 1e15, 0, "0", "",
     "pairs to run from `first`; 0 = to the end"},
    {"memo", KIND_P_BOOL, NULL, 0, 0, 0, "false", "",
     "local mode: remember each atom's cluster saddles and give an attempt "
     "that finds one again the earlier attempt's outcome instead of "
     "refining it again (eng_artn_run_memo; memo_event names that event); "
     "first and count must then cover whole atoms"},
    ARTN_OPTS(ARTN_PARAM){NULL, 0, NULL, 0, 0, 0, NULL, NULL, NULL}};

/* ------------------------------------------------------------------ */
/* Atom selections                                                     */
/* ------------------------------------------------------------------ */

enum { SEL_ALL, SEL_IDS, SEL_SPECIES, SEL_REGION };

#define SEL_MAX_SPECIES 16

typedef struct artn_sel {
  int kind;            /* SEL_* */
  long long *lo, *hi;  /* SEL_IDS: ranges lo..hi (single ids lo == hi) */
  int nranges;
  char species[SEL_MAX_SPECIES][ENG_NAME_MAX];
  int nspecies;
  double region[6];    /* xlo xhi ylo yhi zlo zhi */
} artn_sel;

static void sel_free(artn_sel *s) {
  free(s->lo);
  free(s->hi);
  memset(s, 0, sizeof *s);
}

/* Copy text without blanks into a new string; NULL when out of memory. */
static char *strip_blanks(const char *t) {
  char *o = malloc(strlen(t) + 1), *p = o;
  if (!o) return NULL;
  for (; *t; t++)
    if (!isspace((unsigned char)*t)) *p++ = *t;
  *p = 0;
  return o;
}

/* Parse ids "1,5,9-12" into s.  0, KIND_EINVAL (err), KIND_ENOMEM. */
static int sel_parse_ids(const char *t, artn_sel *s, char *err,
                         size_t errlen) {
  int cap = 0;
  for (;;) {
    char *end;
    long long a, b;
    const char *comma = strchr(t, ',');
    errno = 0;
    if (!isdigit((unsigned char)*t)) goto bad;
    a = strtoll(t, &end, 10);
    if (errno) goto bad;
    b = a;
    if (*end == '-') {
      const char *t2 = end + 1;
      if (!isdigit((unsigned char)*t2)) goto bad;
      b = strtoll(t2, &end, 10);
      if (errno || b < a) goto bad;
    }
    if (*end != (comma ? ',' : 0)) goto bad;
    if (s->nranges == cap) {
      long long *nl, *nh;
      cap = cap ? 2 * cap : 16;
      nl = realloc(s->lo, (size_t)cap * sizeof *nl);
      if (!nl) return KIND_ENOMEM;
      s->lo = nl;
      nh = realloc(s->hi, (size_t)cap * sizeof *nh);
      if (!nh) return KIND_ENOMEM;
      s->hi = nh;
    }
    s->lo[s->nranges] = a;
    s->hi[s->nranges] = b;
    s->nranges++;
    if (!comma) return 0;
    t = comma + 1;
  }
bad:
  snprintf(err, errlen,
           "atoms: ids must be non-negative integers or ranges A-B (A <= B) "
           "separated by commas, e.g. \"ids:1,5,9-12\"");
  return KIND_EINVAL;
}

/* Parse a selection spec (blanks already removed) into s. */
static int sel_parse(const char *t, artn_sel *s, char *err, size_t errlen) {
  memset(s, 0, sizeof *s);
  if (!strcmp(t, "all")) {
    s->kind = SEL_ALL;
    return 0;
  }
  if (!strncmp(t, "ids:", 4) || isdigit((unsigned char)*t)) {
    s->kind = SEL_IDS;
    return sel_parse_ids(t + (isdigit((unsigned char)*t) ? 0 : 4), s, err,
                         errlen);
  }
  if (!strncmp(t, "species:", 8)) {
    t += 8;
    s->kind = SEL_SPECIES;
    for (;;) {
      const char *comma = strchr(t, ',');
      size_t len = comma ? (size_t)(comma - t) : strlen(t);
      int k;
      if (!len || len >= ENG_NAME_MAX || s->nspecies == SEL_MAX_SPECIES) {
        snprintf(err, errlen,
                 "atoms: species must be element names separated by commas, "
                 "e.g. \"species:Zr\" or \"species:Cu,Zr\"");
        return KIND_EINVAL;
      }
      memcpy(s->species[s->nspecies], t, len);
      s->species[s->nspecies][len] = 0;
      for (k = 0; k < s->nspecies; k++)
        if (!strcmp(s->species[k], s->species[s->nspecies])) {
          snprintf(err, errlen, "atoms: species %s given twice",
                   s->species[k]);
          return KIND_EINVAL;
        }
      s->nspecies++;
      if (!comma) return 0;
      t = comma + 1;
    }
  }
  if (!strncmp(t, "region:", 7)) {
    int k;
    t += 7;
    s->kind = SEL_REGION;
    for (k = 0; k < 6; k++) {
      char *end;
      errno = 0;
      s->region[k] = strtod(t, &end);
      if (end == t || isnan(s->region[k]) || *end != (k < 5 ? ',' : 0))
        goto bad_region;
      t = end + 1;
    }
    for (k = 0; k < 3; k++)
      if (!(s->region[2 * k] < s->region[2 * k + 1])) goto bad_region;
    return 0;
  bad_region:
    snprintf(err, errlen,
             "atoms: region must be six numbers xlo,xhi,ylo,yhi,zlo,zhi (A) "
             "with lo < hi, e.g. \"region:0,10,-inf,inf,-inf,inf\"");
    return KIND_EINVAL;
  }
  snprintf(err, errlen,
           "atoms: must be \"all\", \"ids:1,5,9-12\", \"species:Zr\" or "
           "\"region:xlo,xhi,ylo,yhi,zlo,zhi\", got \"%.40s\"",
           t);
  return KIND_EINVAL;
}

/* Append printf text to a growing string; 0 or KIND_ENOMEM. */
typedef struct sbuf {
  char *s;
  size_t n, cap;
} sbuf;

static int sb_printf(sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int sb_printf(sbuf *b, const char *fmt, ...) {
  va_list ap;
  int k;
  for (;;) {
    size_t room = b->cap - b->n;
    va_start(ap, fmt);
    k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? room : 0, fmt, ap);
    va_end(ap);
    if (k < 0) return KIND_ENOMEM;
    if (b->s && (size_t)k < room) {
      b->n += (size_t)k;
      return 0;
    }
    {
      size_t cap = b->cap ? 2 * b->cap : 256;
      char *ns;
      while (cap < b->n + (size_t)k + 1) cap *= 2;
      ns = realloc(b->s, cap);
      if (!ns) return KIND_ENOMEM;
      b->s = ns;
      b->cap = cap;
    }
  }
}

/* Canonical text of a parsed selection (new string, or NULL). */
static char *sel_text(const artn_sel *s) {
  sbuf b = {NULL, 0, 0};
  int k, rc = 0;
  switch (s->kind) {
  case SEL_ALL: rc = sb_printf(&b, "all"); break;
  case SEL_IDS:
    rc = sb_printf(&b, "ids:");
    for (k = 0; !rc && k < s->nranges; k++) {
      if (s->lo[k] == s->hi[k])
        rc = sb_printf(&b, "%s%lld", k ? "," : "", s->lo[k]);
      else
        rc = sb_printf(&b, "%s%lld-%lld", k ? "," : "", s->lo[k], s->hi[k]);
    }
    break;
  case SEL_SPECIES:
    rc = sb_printf(&b, "species:");
    for (k = 0; !rc && k < s->nspecies; k++)
      rc = sb_printf(&b, "%s%s", k ? "," : "", s->species[k]);
    break;
  default:
    rc = sb_printf(&b, "region:");
    for (k = 0; !rc && k < 6; k++)
      rc = sb_printf(&b, "%s%.17g", k ? "," : "", s->region[k]);
    break;
  }
  if (rc) {
    free(b.s);
    return NULL;
  }
  return b.s;
}

/* The selection given as JSON (a string, or an array of ids) into s. */
static int sel_from_json(const cJSON *v, artn_sel *s, char *err,
                         size_t errlen) {
  int rc;
  char *t;
  memset(s, 0, sizeof *s);
  if (cJSON_IsArray(v)) {
    sbuf b = {NULL, 0, 0};
    const cJSON *it;
    rc = 0;
    for (it = v->child; it && !rc; it = it->next) {
      if (!cJSON_IsNumber(it) || it->valuedouble < 0 ||
          it->valuedouble != floor(it->valuedouble) ||
          it->valuedouble > 9007199254740991.0) {
        free(b.s);
        snprintf(err, errlen,
                 "atoms: an array must hold atom ids (non-negative "
                 "integers)");
        return KIND_EINVAL;
      }
      rc = sb_printf(&b, "%s%.0f", it == v->child ? "" : ",",
                     it->valuedouble);
    }
    if (rc) {
      free(b.s);
      snprintf(err, errlen, "out of memory");
      return KIND_ENOMEM;
    }
    if (!b.s) {
      snprintf(err, errlen, "atoms: an empty array selects no atom");
      return KIND_EINVAL;
    }
    rc = sel_parse_ids(b.s, s, err, errlen);
    s->kind = SEL_IDS;
    free(b.s);
    return rc;
  }
  if (!cJSON_IsString(v) || !v->valuestring) {
    snprintf(err, errlen,
             "atoms: must be a string (\"all\", \"ids:...\", "
             "\"species:...\", \"region:...\") or an array of atom ids");
    return KIND_EINVAL;
  }
  t = strip_blanks(v->valuestring);
  if (!t) {
    snprintf(err, errlen, "out of memory");
    return KIND_ENOMEM;
  }
  rc = sel_parse(t, s, err, errlen);
  free(t);
  if (rc == KIND_ENOMEM) snprintf(err, errlen, "out of memory");
  return rc;
}

typedef struct id_index {
  int64_t id;
  int i;
} id_index;

static int cmp_id_index(const void *a, const void *b) {
  const id_index *x = a, *y = b;
  return x->id < y->id ? -1 : x->id > y->id;
}

/* Resolve s on sys: *idx (new array of *n atom indices, in selection
 * order).  KIND_EINVAL with the reason when an id or species is not in
 * the structure, an atom is selected twice, or nothing is selected. */
static int sel_resolve(const artn_sel *s, const eng_system *sys, int **idx,
                       int *n, char *err, size_t errlen) {
  int N = sys->natoms, m = 0, i, k, rc = KIND_ENOMEM;
  int *out = malloc(sizeof *out * (size_t)(N ? N : 1));
  unsigned char *mark = calloc((size_t)(N ? N : 1), 1);
  id_index *map = NULL;
  *idx = NULL;
  *n = 0;
  if (!out || !mark) goto fail;
  switch (s->kind) {
  case SEL_ALL:
    for (i = 0; i < N; i++) out[m++] = i;
    break;
  case SEL_SPECIES:
    for (k = 0; k < s->nspecies; k++) {
      int t, found = 0;
      for (t = 0; t < sys->ntypes; t++)
        if (!strcmp(sys->type_name[t], s->species[k])) found = 1;
      if (!found) {
        size_t len;
        snprintf(err, errlen, "atoms: no species %s in the structure (it has",
                 s->species[k]);
        len = strlen(err);
        for (t = 0; t < sys->ntypes && len + 2 < errlen; t++)
          len += (size_t)snprintf(err + len, errlen - len, " %s",
                                  sys->type_name[t]);
        if (len + 2 < errlen) snprintf(err + len, errlen - len, ")");
        rc = KIND_EINVAL;
        goto fail;
      }
    }
    for (i = 0; i < N; i++)
      for (k = 0; k < s->nspecies; k++)
        if (!strcmp(sys->type_name[sys->type[i]], s->species[k])) {
          out[m++] = i;
          break;
        }
    break;
  case SEL_REGION:
    for (i = 0; i < N; i++) {
      double x[3];
      memcpy(x, sys->x + 3 * (size_t)i, sizeof x);
      eng_box_wrap(&sys->box, x, NULL);
      for (k = 0; k < 3; k++)
        if (!(x[k] >= s->region[2 * k] && x[k] < s->region[2 * k + 1]))
          break;
      if (k == 3) out[m++] = i;
    }
    break;
  default: /* SEL_IDS */
    map = malloc(sizeof *map * (size_t)(N ? N : 1));
    if (!map) goto fail;
    for (i = 0; i < N; i++) {
      map[i].id = sys->id[i];
      map[i].i = i;
    }
    qsort(map, (size_t)N, sizeof *map, cmp_id_index);
    for (k = 0; k < s->nranges; k++) {
      /* first map entry with id >= lo */
      int a = 0, b = N, got = 0;
      while (a < b) {
        int mid = a + (b - a) / 2;
        if (map[mid].id < s->lo[k])
          a = mid + 1;
        else
          b = mid;
      }
      for (; a < N && map[a].id <= s->hi[k]; a++) {
        if (mark[map[a].i]) {
          snprintf(err, errlen, "atoms: atom id %lld selected twice",
                   (long long)map[a].id);
          rc = KIND_EINVAL;
          goto fail;
        }
        mark[map[a].i] = 1;
        out[m++] = map[a].i;
        got = 1;
      }
      if (!got) {
        if (s->lo[k] == s->hi[k])
          snprintf(err, errlen, "atoms: atom id %lld is not in the structure",
                   s->lo[k]);
        else
          snprintf(err, errlen,
                   "atoms: no atom of the structure has an id in %lld-%lld",
                   s->lo[k], s->hi[k]);
        rc = KIND_EINVAL;
        goto fail;
      }
    }
    break;
  }
  if (m == 0) {
    snprintf(err, errlen, "atoms: the selection holds no atom of the structure");
    rc = KIND_EINVAL;
    goto fail;
  }
  free(mark);
  free(map);
  *idx = out;
  *n = m;
  return 0;
fail:
  if (rc == KIND_ENOMEM) snprintf(err, errlen, "out of memory");
  free(out);
  free(mark);
  free(map);
  return rc;
}

/* ------------------------------------------------------------------ */
/* Validation                                                          */
/* ------------------------------------------------------------------ */

static double par_num(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  assert(cJSON_IsNumber(v));
  return v->valuedouble;
}

/* Fill in the engine's defaults, then the cross-field rules. */
static int artn_fix(cJSON *o, char *err, size_t errlen) {
  eng_artn_opts d;
  int i;
  eng_artn_opts_default(&d);
  for (i = 0; i < NFIELDS; i++) {
    const artn_field *f = &artn_fields[i];
    const char *p = (const char *)&d + f->off;
    cJSON *v;
    if (cJSON_GetObjectItemCaseSensitive(o, f->name)) continue;
    if (f->type == OPT_D)
      v = cJSON_CreateNumber(*(const double *)(const void *)p);
    else if (f->type == OPT_I)
      v = cJSON_CreateNumber(*(const int *)(const void *)p);
    else
      v = cJSON_CreateBool(*(const int *)(const void *)p != 0);
    if (!v) goto nomem;
    cJSON_AddItemToObject(o, f->name, v);
  }
  if (par_num(o, "refine_force") > par_num(o, "saddle_force")) {
    snprintf(err, errlen, "refine_force: must be 0 (off) or <= saddle_force (%g eV/A)",
             par_num(o, "saddle_force"));
    return KIND_EINVAL;
  }
  if (par_num(o, "second_force") > par_num(o, "saddle_force")) {
    snprintf(err, errlen, "second_force: must be <= saddle_force (%g eV/A)",
             par_num(o, "saddle_force"));
    return KIND_EINVAL;
  }
  if (par_num(o, "eigen_threshold") >= 0) {
    snprintf(err, errlen, "eigen_threshold: must be < 0");
    return KIND_EINVAL;
  }
  if (par_num(o, "lanczos_min_iter") > par_num(o, "lanczos_max_iter")) {
    snprintf(err, errlen, "lanczos_min_iter: must be <= lanczos_max_iter (%g)",
             par_num(o, "lanczos_max_iter"));
    return KIND_EINVAL;
  }
  if (par_num(o, "lost_threshold") < par_num(o, "eigen_threshold")) {
    snprintf(err, errlen, "lost_threshold: must be >= eigen_threshold (%g eV/A^2)",
             par_num(o, "eigen_threshold"));
    return KIND_EINVAL;
  }
  if (par_num(o, "basin_init_steps") >= par_num(o, "basin_max_steps")) {
    snprintf(err, errlen, "basin_init_steps: must be < basin_max_steps (%g)",
             par_num(o, "basin_max_steps"));
    return KIND_EINVAL;
  }
  if (par_num(o, "refine_grow") > 0 && !(par_num(o, "refine_radius") > 0)) {
    snprintf(err, errlen, "refine_grow: needs refine_radius > 0 (a refinement cluster to grow)");
    return KIND_EINVAL;
  }
  if (par_num(o, "refine_grow_hot") > 0 && !(par_num(o, "refine_grow") > 0)) {
    snprintf(err, errlen, "refine_grow_hot: needs refine_grow > 0 (the distance it grows by)");
    return KIND_EINVAL;
  }
  if (par_num(o, "push_radius") > 0 && par_num(o, "push_radius") < par_num(o, "local_radius")) {
    snprintf(err, errlen, "push_radius: must be 0 (off) or >= local_radius (%g A)", par_num(o, "local_radius"));
    return KIND_EINVAL;
  }
  if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "local")) &&
      par_num(o, "local_radius") < par_num(o, "perturb_radius") + 1) {
    snprintf(err, errlen,
             "local_radius: must be >= perturb_radius + 1 A (%g A) in local "
             "mode",
             par_num(o, "perturb_radius") + 1);
    return KIND_EINVAL;
  }
  return 0;
nomem:
  snprintf(err, errlen, "params: out of memory");
  return KIND_ENOMEM;
}

/* Validate with the table of kind kname, "atoms" checked here (it is free
 * text, which the generic validator does not take) and normalized to its
 * canonical text. */
static int artn_validate(const char *kname, const cJSON *params,
                         cJSON **normalized, char *err, size_t errlen) {
  const cJSON *atoms = NULL, *it;
  cJSON *copy = NULL;
  char *canon = NULL;
  artn_sel s;
  int rc, n = 0;

  *normalized = NULL;
  memset(&s, 0, sizeof s);
  if (cJSON_IsObject(params))
    for (it = params->child; it; it = it->next)
      if (it->string && !strcmp(it->string, "atoms")) {
        atoms = it;
        n++;
      }
  if (n > 1) {
    snprintf(err, errlen, "atoms: given twice");
    return KIND_EINVAL;
  }
  if (atoms) {
    rc = sel_from_json(atoms, &s, err, errlen);
    if (rc) goto out;
    canon = sel_text(&s);
    copy = cJSON_Duplicate(params, 1);
    if (!canon || !copy) goto nomem;
    cJSON_DeleteItemFromObjectCaseSensitive(copy, "atoms");
  }
  rc = kind__validate(kind_find(kname), copy ? copy : params, normalized, err,
                      errlen, artn_fix);
  if (rc) goto out;
  if (canon) {
    cJSON *v = cJSON_CreateString(canon);
    if (!v || !cJSON_ReplaceItemInObjectCaseSensitive(*normalized, "atoms", v)) {
      cJSON_Delete(v);
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
  sel_free(&s);
  free(canon);
  cJSON_Delete(copy);
  return rc;
}

/* Validation of artn params (contract of kind_def.validate): "atoms"
 * normalized to its canonical text, the engine options' defaults filled
 * in from eng_artn_opts_default, the cross-field rules of artn_fix.
 * Whether the selection fits a structure is checked by the plan. */
int kind__validate_artn(const cJSON *params, cJSON **normalized, char *err,
                        size_t errlen) {
  return artn_validate("artn", params, normalized, err, errlen);
}

/* The same for artn_chunk (contract of kind_def.validate). */
int kind__validate_artn_chunk(const cJSON *params, cJSON **normalized,
                              char *err, size_t errlen) {
  return artn_validate("artn_chunk", params, normalized, err, errlen);
}

/* Engine options from normalized params. */
static void opts_from_params(const cJSON *p, eng_artn_opts *o) {
  int i;
  eng_artn_opts_default(o);
  for (i = 0; i < NFIELDS; i++) {
    const artn_field *f = &artn_fields[i];
    char *q = (char *)o + f->off;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, f->name);
    assert(v);
    if (f->type == OPT_D)
      *(double *)(void *)q = v->valuedouble;
    else if (f->type == OPT_I)
      *(int *)(void *)q = (int)v->valuedouble;
    else
      *(int *)(void *)q = cJSON_IsTrue(v);
  }
  o->seed = (uint64_t)par_num(p, "seed");
}

/* Resolve the normalized "atoms" of p on sys. */
static int resolve_atoms(const cJSON *p, const eng_system *sys, int **idx,
                         int *n, char *err, size_t errlen) {
  artn_sel s;
  int rc = sel_from_json(cJSON_GetObjectItemCaseSensitive(p, "atoms"), &s,
                         err, errlen);
  if (!rc) rc = sel_resolve(&s, sys, idx, n, err, errlen);
  sel_free(&s);
  return rc;
}

/* ------------------------------------------------------------------ */
/* The plan                                                            */
/* ------------------------------------------------------------------ */

#define MAX_CHUNKS 1000000

/* "ids:a-b,c,..." of atoms idx[0..n) of sys, consecutive ids as ranges. */
static char *ids_text(const eng_system *sys, const int *idx, int n) {
  sbuf b = {NULL, 0, 0};
  int k = 0, rc = sb_printf(&b, "ids:");
  while (!rc && k < n) {
    int j = k;
    while (j + 1 < n && sys->id[idx[j + 1]] == sys->id[idx[j]] + 1) j++;
    if (j > k)
      rc = sb_printf(&b, "%s%" PRId64 "-%" PRId64, k ? "," : "",
                     sys->id[idx[k]], sys->id[idx[j]]);
    else
      rc = sb_printf(&b, "%s%" PRId64, k ? "," : "", sys->id[idx[k]]);
    k = j + 1;
  }
  if (rc) {
    free(b.s);
    return NULL;
  }
  return b.s;
}

/* The artn plan (contract of kind_def.plan): resolve the selection on sys
 * (ids, species; positions for a region), then a `minimize` child if
 * minimize_first and the artn_chunk children, chunk_events (atom, event)
 * pairs each, after the minimize child and on its structure.  KIND_EINVAL
 * (err names the field) when the selection does not fit sys or the sweep
 * would make more than MAX_CHUNKS children; KIND_ENOMEM. */
int kind__plan_artn(const cJSON *params, const eng_system *sys,
                    cJSON **children, char *err, size_t errlen) {
  cJSON *a = NULL;
  int *idx = NULL, n = 0, i, rc, minfirst;
  long long K, ce, total, nch, c;

  *children = NULL;
  if (!sys) {
    snprintf(err, errlen, "artn: needs a structure");
    return KIND_EINVAL;
  }
  rc = resolve_atoms(params, sys, &idx, &n, err, errlen);
  if (rc) return rc;
  K = (long long)par_num(params, "events_per_atom");
  ce = (long long)par_num(params, "chunk_events");
  minfirst = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(params, "minimize_first"));
  /* with memo the events of an atom run in order through one memo: whole
   * atoms per chunk (chunk_events rounded up to a multiple of K) */
  if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(params, "memo")) && ce % K) ce += K - ce % K;
  total = (long long)n * K;
  nch = (total + ce - 1) / ce;
  if (nch > MAX_CHUNKS) {
    snprintf(err, errlen,
             "chunk_events: %lld events in chunks of %lld make %lld child "
             "jobs (at most %d); raise chunk_events",
             total, ce, nch, MAX_CHUNKS);
    rc = KIND_EINVAL;
    goto out;
  }
  a = cJSON_CreateArray();
  if (!a) goto nomem;
  if (minfirst) {
    cJSON *m = cJSON_CreateObject(), *p;
    if (!m) goto nomem;
    cJSON_AddItemToArray(a, m);
    p = cJSON_CreateObject();
    if (!p || !cJSON_AddStringToObject(m, "kind", "minimize") ||
        !cJSON_AddStringToObject(m, "label", "minimize") ||
        !cJSON_AddStringToObject(p, "algo", "cg") ||
        !cJSON_AddNumberToObject(p, "ftol", par_num(params, "minimize_ftol")) ||
        !cJSON_AddItemToObject(m, "params", p)) {
      cJSON_Delete(p);
      goto nomem;
    }
  }
  for (c = 0; c < nch; c++) {
    long long s = c * ce, e = s + ce < total ? s + ce : total;
    int a0 = (int)(s / K), a1 = (int)((e - 1) / K);
    cJSON *ch = cJSON_CreateObject(), *p = cJSON_CreateObject();
    char label[64], *ids;
    if (!ch || !p) {
      cJSON_Delete(ch);
      cJSON_Delete(p);
      goto nomem;
    }
    cJSON_AddItemToArray(a, ch);
    if (!cJSON_AddItemToObject(ch, "params", p)) {
      cJSON_Delete(p);
      goto nomem;
    }
    snprintf(label, sizeof label, "chunk %lld/%lld", c + 1, nch);
    if (!cJSON_AddStringToObject(ch, "kind", "artn_chunk") ||
        !cJSON_AddStringToObject(ch, "label", label))
      goto nomem;
    if (minfirst) {
      int zero = 0;
      if (!cJSON_AddItemToObject(ch, "after", cJSON_CreateIntArray(&zero, 1)) ||
          !cJSON_AddNumberToObject(ch, "structure_from", 0))
        goto nomem;
    }
    /* every chunk param the sweep also has (seed, events_per_atom, the
     * engine options), then the chunk's own pairs */
    for (i = 0; kind__artn_chunk_params[i].name; i++) {
      const char *nm = kind__artn_chunk_params[i].name;
      const cJSON *v = cJSON_GetObjectItemCaseSensitive(params, nm);
      if (!v || !strcmp(nm, "atoms")) continue;
      if (!cJSON_AddItemToObject(p, nm, cJSON_Duplicate(v, 1))) goto nomem;
    }
    ids = ids_text(sys, idx + a0, a1 - a0 + 1);
    if (!ids) goto nomem;
    if (!cJSON_AddStringToObject(p, "atoms", ids)) {
      free(ids);
      goto nomem;
    }
    free(ids);
    if (!cJSON_AddNumberToObject(p, "first", (double)(s - (long long)a0 * K)) ||
        !cJSON_AddNumberToObject(p, "count", (double)(e - s)))
      goto nomem;
  }
  *children = a;
  a = NULL;
  rc = 0;
  goto out;
nomem:
  rc = KIND_ENOMEM;
  snprintf(err, errlen, "out of memory");
out:
  cJSON_Delete(a);
  free(idx);
  return rc;
}

/* ------------------------------------------------------------------ */
/* Event tables                                                        */
/* ------------------------------------------------------------------ */

/* Numeric columns of the event table, from eng_artn_event: X(column,
 * field, type D double (NaN -> null) | I int | L long | B int flag).
 * atom_id, event, species, status, reason, stream, connected and seconds
 * are written separately. */
#define ARTN_EVCOLS(X)                                                        \
  X(e_initial, e_initial, D)                                                  \
  X(e_saddle, e_saddle, D)                                                    \
  X(e_final, e_final, D)                                                      \
  X(dq, dq, D)                                                                \
  X(de_final, de_final, D)                                                    \
  X(eigenvalue, eigenvalue, D)                                                \
  X(eigenvalue2, eigenvalue2, D)                                              \
  X(fmax_saddle, fmax_saddle, D)                                              \
  X(force_calls, force_calls, I)                                              \
  X(force_calls_saddle, force_calls_saddle, I)                                \
  X(force_calls_local, force_calls_local, I)                                  \
  X(basin_steps, basin_steps, I)                                              \
  X(climb_steps, climb_steps, I)                                              \
  X(lanczos_iters, lanczos_iters, I)                                          \
  X(max_disp_saddle, max_disp_saddle, D)                                      \
  X(max_disp, max_disp, D)                                                    \
  X(n_moved, n_moved, I)                                                      \
  X(final_differs, final_differs, B)                                          \
  X(dq_local, dq_local, D)                                                    \
  X(refine_shift, refine_shift, D)                                            \
  X(n_cluster, n_cluster, I)                                                  \
  X(n_active, n_active, I)                                                    \
  X(attempts, attempts, I)                                                    \
  X(calls_basin, calls_basin, I)                                              \
  X(calls_basin_lanczos, calls_basin_lanczos, I)                              \
  X(calls_climb, calls_climb, I)                                              \
  X(calls_climb_lanczos, calls_climb_lanczos, I)                              \
  X(calls_second, calls_second, I)                                            \
  X(calls_push_over, calls_push_over, I)                                      \
  X(fmax_whole, fmax_whole, D)                                                \
  X(refine_radius_used, refine_radius_used, D)                                \
  X(calls_attempt_saddle, calls_attempt_saddle, I)                            \
  X(calls_attempt_check, calls_attempt_check, I)                            \
  X(refine_periodic, refine_periodic, B)                                      \
  X(pushoffs, pushoffs, I)                                                    \
  X(failed_after_pushoff, failed_after_pushoff, I)                            \
  X(push_radius_used, push_radius_used, D)                                    \
  X(exchange, exchange, B)                                                    \
  X(refine_moving, refine_moving, I)                                          \
  X(hessian_products, hessian_products, I)                                    \
  X(products_attempt_saddle, products_attempt_saddle, I)                      \
  X(products_attempt_check, products_attempt_check, I)                      \
  X(memo_event, memo_event, L)                                                \
  X(memo_attempt, memo_attempt, I)                                            \
  X(memo_hits, memo_hits, I)                                                  \
  X(list_builds, list_builds, I)

enum { EV_D, EV_I, EV_L, EV_B };
typedef struct ev_col {
  const char *name;
  int type;
  size_t off;
} ev_col;
#define EV_COL(nm, field, t) {#nm, EV_##t, offsetof(eng_artn_event, field)},
static const ev_col ev_cols[] = {ARTN_EVCOLS(EV_COL)};
#define NEVCOLS ((int)(sizeof ev_cols / sizeof ev_cols[0]))

/* A finite number, or null. */
static cJSON *num_or_null(double x) {
  return isfinite(x) ? cJSON_CreateNumber(x) : cJSON_CreateNull();
}

static int add_to(cJSON *obj, const char *col, cJSON *v) {
  cJSON *a = cJSON_GetObjectItemCaseSensitive(obj, col);
  if (!v) return KIND_ENOMEM;
  if (!a) a = cJSON_AddArrayToObject(obj, col);
  if (!a || !cJSON_AddItemToArray(a, v)) {
    cJSON_Delete(v);
    return KIND_ENOMEM;
  }
  return 0;
}

/* Append one event as a row of the column table t. */
static int add_event_row(cJSON *t, const eng_artn_event *ev,
                         const char *species, double seconds) {
  char hex[24];
  int rc = 0, i;
  snprintf(hex, sizeof hex, "%016" PRIx64, ev->stream);
  rc |= add_to(t, "atom_id", cJSON_CreateNumber((double)ev->atom_id));
  rc |= add_to(t, "event", cJSON_CreateNumber((double)ev->event_index));
  rc |= add_to(t, "species", cJSON_CreateString(species));
  rc |= add_to(t, "status", cJSON_CreateString(eng_artn_status_name(ev->status)));
  rc |= add_to(t, "reason", cJSON_CreateString(ev->reason));
  rc |= add_to(t, "stream", cJSON_CreateString(hex));
  for (i = 0; i < NEVCOLS; i++) {
    const char *p = (const char *)ev + ev_cols[i].off;
    cJSON *v;
    switch (ev_cols[i].type) {
    case EV_D: v = num_or_null(*(const double *)(const void *)p); break;
    case EV_I: v = cJSON_CreateNumber(*(const int *)(const void *)p); break;
    case EV_L: v = cJSON_CreateNumber((double)*(const long *)(const void *)p); break;
    default: v = cJSON_CreateBool(*(const int *)(const void *)p != 0); break;
    }
    rc |= add_to(t, ev_cols[i].name, v);
  }
  rc |= add_to(t, "connected", ev->connected < 0
                                   ? cJSON_CreateNull()
                                   : cJSON_CreateBool(ev->connected == 1));
  rc |= add_to(t, "seconds", cJSON_CreateNumber(seconds));
  return rc ? KIND_ENOMEM : 0;
}

/* ------------------------------------------------------------------ */
/* JSON round trips                                                    */
/* ------------------------------------------------------------------ */

/* x as it comes back from cJSON's text (print, then parse).  cJSON prints
 * 15 significant digits when they read back within DBL_EPSILON, so a
 * number may come back one ulp off; this map is idempotent.  The service
 * hands results between jobs as text and kind_run_graph in memory: numbers
 * a chunk or the gather takes from another job's result go through this
 * map, so that both give bit-identical events (an ARTn trajectory
 * amplifies a one-ulp change of a position).  0 or KIND_ENOMEM. */
static int json_round(double *x) {
  cJSON *n;
  char *t;
  if (!isfinite(*x)) return 0;
  n = cJSON_CreateNumber(*x);
  t = n ? cJSON_PrintUnformatted(n) : NULL;
  cJSON_Delete(n);
  if (!t) return KIND_ENOMEM;
  *x = strtod(t, NULL);
  free(t);
  return 0;
}

/* The positions and box of sys through json_round. */
static int json_round_system(eng_system *sys) {
  size_t i;
  int k, rc = 0;
  for (i = 0; !rc && i < 3 * (size_t)sys->natoms; i++) rc = json_round(&sys->x[i]);
  for (k = 0; !rc && k < 3; k++) {
    rc = json_round(&sys->box.lo[k]);
    if (!rc) rc = json_round(&sys->box.len[k]);
  }
  if (!rc) rc = json_round(&sys->box.xy);
  if (!rc) rc = json_round(&sys->box.xz);
  if (!rc) rc = json_round(&sys->box.yz);
  return rc;
}

/* ------------------------------------------------------------------ */
/* artn_chunk                                                          */
/* ------------------------------------------------------------------ */

static double clock_s(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Progress of one chunk: the engine's per-event progress mapped onto the
 * chunk. */
typedef struct chunk_prog {
  const kind__ctx *c;
  long long j, count;
  int64_t atom_id;
  long event;
} chunk_prog;

static int chunk_on_progress(void *ud, double frac, const char *msg) {
  chunk_prog *p = ud;
  char buf[200];
  if (frac < 0) frac = 0;
  if (frac > 1) frac = 1;
  snprintf(buf, sizeof buf, "event %lld/%lld (atom %" PRId64 ", event %ld): %s",
           p->j + 1, p->count, p->atom_id, p->event, msg ? msg : "");
  return kind__progress(p->c, ((double)p->j + frac) / (double)p->count, buf);
}

/* Write sys with positions x (3*natoms, or sys's own when NULL) as
 * extended XYZ to DIR/atom<ID>_ev<K>_<what>.xyz. */
static int save_config(const char *dir, eng_system *tmp, const eng_system *sys,
                       const double *x, const eng_artn_event *ev,
                       const char *what, char *err, size_t errlen) {
  char path[4096];
  int rc;
  memcpy(tmp->x, x ? x : sys->x, sizeof *tmp->x * 3 * (size_t)sys->natoms);
  snprintf(path, sizeof path, "%s/atom%" PRId64 "_ev%ld_%s.xyz", dir,
           ev->atom_id, ev->event_index, what);
  rc = eng_write_file(path, ENG_FMT_EXTXYZ, tmp);
  if (rc) {
    snprintf(err, errlen, "save_dir: %s", eng_last_error());
    return rc == ENG_ENOMEM ? KIND_ENOMEM : KIND_EFAIL;
  }
  return 0;
}

/* A bare copy of sys (species, ids, types, box, positions; no velocities
 * or extra columns) for writing configurations. */
static eng_system *bare_copy(const eng_system *sys) {
  eng_system *t = eng_system_create(sys->natoms, sys->ntypes);
  if (!t) return NULL;
  memcpy(t->type_name, sys->type_name, sizeof *t->type_name * (size_t)sys->ntypes);
  memcpy(t->type_mass, sys->type_mass, sizeof *t->type_mass * (size_t)sys->ntypes);
  memcpy(t->id, sys->id, sizeof *t->id * (size_t)sys->natoms);
  memcpy(t->type, sys->type, sizeof *t->type * (size_t)sys->natoms);
  memcpy(t->x, sys->x, sizeof *t->x * 3 * (size_t)sys->natoms);
  t->box = sys->box;
  return t;
}

/* Run the chunk's (atom, event) pairs with eng_artn_run_from (local
 * mode: one eng_artn_start for them all, session 11) (contract of
 * kind_def.run): result "events" (the table, one row per pair in order)
 * and "summary"; with io->save_dir, the converged events' configurations
 * as files.  An engine error of an event (not an event status) fails the
 * chunk naming the atom and event: KIND_EINVAL for bad input (e.g. an
 * unminimised structure), KIND_EFAIL, KIND_ECANCEL when progress asks to
 * stop, KIND_ENOMEM.  Energies eV, lengths A, times s. */
int kind__run_artn_chunk(const cJSON *params, const kind_io *io,
                         cJSON **result, char *err, size_t errlen) {
  kind__ctx c;
  eng_artn_opts o;
  eng_artn_event ev;
  chunk_prog pg;
  cJSON *r = NULL, *sum, *tab;
  eng_system *tmp = NULL;
  eng_artn_start *start = NULL; /* local mode: the chunk's events share it */
  eng_artn_memo *memo = NULL;   /* memo: one for the chunk's atoms in turn */
  int use_memo;
  double *xs = NULL, *xf = NULL, t0, c0, started;
  int *idx = NULL, n = 0, rc, nok = 0;
  long long K, first, count, total, j;
  const char *save = io ? io->save_dir : NULL;

  *result = NULL;
  rc = kind__ctx_begin(&c, "artn_chunk", params, io, err, errlen);
  if (rc) goto fail;
  /* positions from another job's result: as the service would see them */
  if (io->structure_result && json_round_system(c.sys)) goto nomem;
  opts_from_params(c.params, &o);
  rc = resolve_atoms(c.params, c.sys, &idx, &n, err, errlen);
  if (rc) goto fail;
  K = (long long)kind__par(&c, "events_per_atom");
  first = (long long)kind__par(&c, "first");
  count = (long long)kind__par(&c, "count");
  total = (long long)n * K;
  if (first >= total) {
    snprintf(err, errlen,
             "first: must be below the %lld (atom, event) pairs of the "
             "selection",
             total);
    rc = KIND_EINVAL;
    goto fail;
  }
  if (count == 0) count = total - first;
  if (first + count > total) {
    snprintf(err, errlen,
             "count: first + count (%lld) exceeds the %lld (atom, event) "
             "pairs of the selection",
             first + count, total);
    rc = KIND_EINVAL;
    goto fail;
  }
  use_memo = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c.params, "memo"));
  if (use_memo && (first % K || (first + count) % K)) {
    snprintf(err, errlen,
             "memo: first (%lld) and first + count (%lld) must be multiples "
             "of events_per_atom (%lld): the events of an atom run in order "
             "through one memo",
             first, first + count, K);
    rc = KIND_EINVAL;
    goto fail;
  }
  if (use_memo && eng_artn_memo_create(&memo)) goto nomem;
  if (save) {
    xs = malloc(sizeof *xs * 3 * (size_t)c.sys->natoms);
    xf = malloc(sizeof *xf * 3 * (size_t)c.sys->natoms);
    tmp = bare_copy(c.sys);
    if (!xs || !xf || !tmp) goto nomem;
  }
  r = kind__result_begin(&c);
  if (!r) goto nomem;
  tab = cJSON_CreateObject();
  if (!tab || !cJSON_AddItemToObject(r, "events", tab)) {
    cJSON_Delete(tab);
    goto nomem;
  }
  started = clock_s(CLOCK_REALTIME);
  t0 = clock_s(CLOCK_MONOTONIC);
  c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
  pg.c = &c;
  pg.count = count;
  if (o.local) {
    rc = eng_artn_start_make(c.calc, c.sys, &start);
    if (rc) {
      rc = kind__eng_fail(rc, 1, "the start of the events", err, errlen);
      goto fail;
    }
  }
  for (j = 0; j < count; j++) {
    long long p = first + j;
    int ai = idx[p / K];
    double te = clock_s(CLOCK_MONOTONIC);
    pg.j = j;
    pg.atom_id = c.sys->id[ai];
    pg.event = (long)(p % K);
    memset(&ev, 0, sizeof ev);
    rc = eng_artn_run_memo(c.calc, c.pot, c.sys, start, memo, ai, (long)(p % K), &o,
                           chunk_on_progress, &pg, &ev, xs, xf);
    if (rc) {
      char what[96];
      snprintf(what, sizeof what, "atom %" PRId64 " event %ld", c.sys->id[ai],
               (long)(p % K));
      rc = kind__eng_fail(rc, 1, what, err, errlen);
      goto fail;
    }
    if (add_event_row(tab, &ev, c.sys->type_name[c.sys->type[ai]],
                      clock_s(CLOCK_MONOTONIC) - te))
      goto nomem;
    if (ev.status == ENG_ARTN_OK) {
      nok++;
      if (save) {
        rc = save_config(save, tmp, c.sys, NULL, &ev, "initial", err, errlen);
        if (!rc) rc = save_config(save, tmp, c.sys, xs, &ev, "saddle", err, errlen);
        if (!rc) rc = save_config(save, tmp, c.sys, xf, &ev, "final", err, errlen);
        if (rc) goto fail;
      }
    }
  }
  sum = cJSON_AddObjectToObject(r, "summary");
  if (!sum) goto nomem;
  cJSON_AddNumberToObject(sum, "events", (double)count);
  cJSON_AddNumberToObject(sum, "successes", nok);
  cJSON_AddNumberToObject(sum, "first", (double)first);
  cJSON_AddNumberToObject(sum, "wall_seconds", clock_s(CLOCK_MONOTONIC) - t0);
  cJSON_AddNumberToObject(sum, "cpu_seconds",
                          clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0);
  cJSON_AddNumberToObject(sum, "started_at", started);
  cJSON_AddNumberToObject(sum, "finished_at", clock_s(CLOCK_REALTIME));
  free(idx);
  free(xs);
  free(xf);
  eng_system_free(tmp);
  eng_artn_start_free(start);
  eng_artn_memo_free(memo);
  return kind__finish(&c, r, result, err, errlen);
nomem:
  rc = KIND_ENOMEM;
  snprintf(err, errlen, "out of memory");
fail:
  free(idx);
  free(xs);
  free(xf);
  eng_system_free(tmp);
  eng_artn_start_free(start);
  eng_artn_memo_free(memo);
  cJSON_Delete(r);
  kind__ctx_end(&c);
  return rc;
}

/* ------------------------------------------------------------------ */
/* artn: the gather                                                    */
/* ------------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Quantile q of sorted v[0..n) by linear interpolation between order
 * statistics (numpy's default); NaN when n = 0. */
static double quantile(const double *v, int n, double q) {
  double h;
  int k;
  if (n <= 0) return NAN;
  h = q * (n - 1);
  k = (int)floor(h);
  if (k >= n - 1) return v[n - 1];
  return v[k] + (h - k) * (v[k + 1] - v[k]);
}

/* Number of element k of column col of table t (NaN if null/absent). */
static double col_num(const cJSON *t, const char *col, int k) {
  const cJSON *v = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(t, col), k);
  return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* Number o.k, or NaN (results from elsewhere may lack a field). */
static double obj_num(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const char *col_str(const cJSON *t, const char *col, int k) {
  const cJSON *v = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(t, col), k);
  return cJSON_IsString(v) ? v->valuestring : "";
}

/* Append every column of chunk table src to dst (same columns); numbers
 * through json_round (the gather sees what the service would). */
static int merge_table(cJSON *dst, const cJSON *src) {
  const cJSON *col;
  for (col = src->child; col; col = col->next) {
    cJSON *d, *it;
    if (!col->string || !cJSON_IsArray(col)) continue;
    d = cJSON_GetObjectItemCaseSensitive(dst, col->string);
    if (!d) d = cJSON_AddArrayToObject(dst, col->string);
    if (!d) return KIND_ENOMEM;
    for (it = col->child; it; it = it->next) {
      cJSON *v = cJSON_Duplicate(it, 1);
      if (!v || !cJSON_AddItemToArray(d, v)) {
        cJSON_Delete(v);
        return KIND_ENOMEM;
      }
      if (cJSON_IsNumber(v)) {
        double x = v->valuedouble;
        if (json_round(&x)) return KIND_ENOMEM;
        cJSON_SetNumberValue(v, x);
      }
    }
  }
  return 0;
}

/* Sorted values of the converged events' column col for species sp (NULL
 * = all): a new array of *m values (NULL when none). */
static double *ok_values(const cJSON *t, int nev, const char *col,
                         const char *sp, int *m) {
  double *v = malloc(sizeof *v * (size_t)(nev ? nev : 1));
  int k;
  *m = 0;
  if (!v) return NULL;
  for (k = 0; k < nev; k++) {
    double x;
    if (strcmp(col_str(t, "status", k), "ok")) continue;
    if (sp && strcmp(col_str(t, "species", k), sp)) continue;
    x = col_num(t, col, k);
    if (isfinite(x)) v[(*m)++] = x;
  }
  qsort(v, (size_t)*m, sizeof *v, cmp_double);
  return v;
}

/* Per-species statistics of the converged events' column col into obj:
 * {"all": f, "Cu": f, ...} with f = mean (what 0), median (1); null where
 * there is none. */
static int species_stat(cJSON *obj, const cJSON *t, int nev, const char *col,
                        const eng_system *sys, int what) {
  int s;
  for (s = -1; s < sys->ntypes; s++) {
    const char *sp = s < 0 ? NULL : sys->type_name[s];
    double *v, x = NAN, acc = 0;
    int m, k;
    if (sp && cJSON_GetObjectItemCaseSensitive(obj, sp)) continue;
    v = ok_values(t, nev, col, sp, &m);
    if (!v) return KIND_ENOMEM;
    for (k = 0; k < m; k++) acc += v[k];
    if (m) x = what == 0 ? acc / m : quantile(v, m, 0.5);
    free(v);
    if (!cJSON_AddItemToObject(obj, sp ? sp : "all", num_or_null(x)))
      return KIND_ENOMEM;
  }
  return 0;
}

/* Per-atom statistics over the merged table, one row per atom of sys. */
static int per_atom_stats(cJSON *r, const eng_system *sys, const int *sel,
                          int nsel, long long K, const cJSON *t, int nev) {
  cJSON *pa = kind__per_atom_ids(r, sys);
  const char *cols[] = {"selected", "n_attempts", "n_success", "dq_mean",
                        "dq_min", "dq_median", "dq_max", "de_final_mean"};
  cJSON *a[8];
  int *first = NULL, *na = NULL, N = sys->natoms, i, k, rc = KIND_ENOMEM;
  unsigned char *issel = NULL;
  double *v = NULL;
  if (!pa) return KIND_ENOMEM;
  for (k = 0; k < 8; k++) {
    a[k] = cJSON_AddArrayToObject(pa, cols[k]);
    if (!a[k]) return KIND_ENOMEM;
  }
  first = malloc(sizeof *first * (size_t)(N ? N : 1));
  na = calloc((size_t)(N ? N : 1), sizeof *na);
  issel = calloc((size_t)(N ? N : 1), 1);
  v = malloc(sizeof *v * (size_t)(nev ? nev : 1));
  if (!first || !na || !issel || !v) goto out;
  for (i = 0; i < nsel; i++) issel[sel[i]] = 1;
  /* the table is in selection order, the events of an atom contiguous:
   * the row of selected atom i starts at i * K */
  for (i = 0; i < N; i++) first[i] = -1;
  for (i = 0; i < nsel; i++) {
    first[sel[i]] = (int)(i * K);
    na[sel[i]] = (int)K;
  }
  for (i = 0; i < N; i++) {
    double sdq = 0, sde = 0;
    int m = 0;
    for (k = 0; k < na[i]; k++) {
      int row = first[i] + k;
      if (strcmp(col_str(t, "status", row), "ok")) continue;
      v[m] = col_num(t, "dq", row);
      sdq += v[m];
      sde += col_num(t, "de_final", row);
      m++;
    }
    qsort(v, (size_t)m, sizeof *v, cmp_double);
    if (!cJSON_AddItemToArray(a[0], cJSON_CreateNumber(issel[i])) ||
        !cJSON_AddItemToArray(a[1], cJSON_CreateNumber(na[i])) ||
        !cJSON_AddItemToArray(a[2], cJSON_CreateNumber(m)) ||
        !cJSON_AddItemToArray(a[3], num_or_null(m ? sdq / m : NAN)) ||
        !cJSON_AddItemToArray(a[4], num_or_null(m ? v[0] : NAN)) ||
        !cJSON_AddItemToArray(a[5], num_or_null(quantile(v, m, 0.5))) ||
        !cJSON_AddItemToArray(a[6], num_or_null(m ? v[m - 1] : NAN)) ||
        !cJSON_AddItemToArray(a[7], num_or_null(m ? sde / m : NAN)))
      goto out;
  }
  rc = 0;
out:
  free(first);
  free(na);
  free(issel);
  free(v);
  return rc;
}

/* Sorted list of column col of the converged events per species (and
 * "all") into obj. */
static int value_lists(cJSON *obj, const cJSON *t, int nev, const char *col,
                       const eng_system *sys) {
  int s;
  for (s = -1; s < sys->ntypes; s++) {
    const char *sp = s < 0 ? NULL : sys->type_name[s];
    double *v;
    int m;
    cJSON *arr;
    if (sp && cJSON_GetObjectItemCaseSensitive(obj, sp)) continue;
    v = ok_values(t, nev, col, sp, &m);
    if (!v) return KIND_ENOMEM;
    arr = cJSON_CreateDoubleArray(v, m);
    free(v);
    if (!arr || !cJSON_AddItemToObject(obj, sp ? sp : "all", arr)) {
      cJSON_Delete(arr);
      return KIND_ENOMEM;
    }
  }
  return 0;
}

/* The artn gather (contract of kind_def.run): io->inputs are the
 * children's results (a minimize result, then the artn_chunk results in
 * plan order); returns the summary, per_atom (one row per atom of the
 * structure), the merged "events" table and "histogram".  KIND_EINVAL when
 * an input is not a chunk result or there is none; KIND_EFAIL when the
 * chunks do not make up the sweep (count, or an (atom, event) out of
 * place); KIND_ENOMEM. */
int kind__run_artn(const cJSON *params, const kind_io *io, cJSON **result,
                   char *err, size_t errlen) {
  kind__ctx c;
  cJSON *r = NULL, *tab = NULL, *sum, *o, *st;
  const cJSON *minres = NULL;
  int *sel = NULL, nsel = 0, rc, i, nev, nchunks = 0, nok = 0, m;
  long long K;
  double cpu = 0, chunk_wall = 0, t_first = INFINITY, t_last = -INFINITY;
  double *v = NULL;

  *result = NULL;
  rc = kind__ctx_begin(&c, "artn", params, io, err, errlen);
  if (rc) goto fail;
  rc = resolve_atoms(c.params, c.sys, &sel, &nsel, err, errlen);
  if (rc) goto fail;
  K = (long long)kind__par(&c, "events_per_atom");
  tab = cJSON_CreateObject();
  if (!tab) goto nomem;
  for (i = 0; io && i < io->ninputs; i++) {
    const cJSON *in = io->inputs[i];
    const cJSON *kn = cJSON_GetObjectItemCaseSensitive(in, "kind");
    const cJSON *ism = cJSON_GetObjectItemCaseSensitive(in, "summary");
    if (cJSON_IsString(kn) && !strcmp(kn->valuestring, "minimize")) {
      minres = in;
      continue;
    }
    if (!cJSON_IsString(kn) || strcmp(kn->valuestring, "artn_chunk") ||
        !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(in, "events"))) {
      snprintf(err, errlen, "input %d is not an artn_chunk result", i);
      rc = KIND_EINVAL;
      goto fail;
    }
    if (merge_table(tab, cJSON_GetObjectItemCaseSensitive(in, "events")))
      goto nomem;
    nchunks++;
    cpu += obj_num(ism, "cpu_seconds");
    chunk_wall += obj_num(ism, "wall_seconds");
    t_first = fmin(t_first, obj_num(ism, "started_at"));
    t_last = fmax(t_last, obj_num(ism, "finished_at"));
  }
  if (!nchunks) {
    snprintf(err, errlen,
             "no artn_chunk results to gather (an artn sweep runs as a "
             "job graph: pelmap artn, or a job of the service)");
    rc = KIND_EINVAL;
    goto fail;
  }
  /* the merged table must be exactly the sweep's pairs, in order */
  nev = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(tab, "atom_id"));
  if ((long long)nev != (long long)nsel * K) {
    snprintf(err, errlen, "gathered %d events, the sweep has %lld", nev,
             (long long)nsel * K);
    rc = KIND_EFAIL;
    goto fail;
  }
  for (i = 0; i < nev; i++) {
    int64_t id = c.sys->id[sel[i / K]];
    if (col_num(tab, "atom_id", i) != (double)id ||
        col_num(tab, "event", i) != (double)(i % K)) {
      snprintf(err, errlen,
               "gathered event %d is atom %.0f event %.0f, the sweep "
               "expects atom %" PRId64 " event %lld",
               i, col_num(tab, "atom_id", i), col_num(tab, "event", i), id,
               (long long)(i % K));
      rc = KIND_EFAIL;
      goto fail;
    }
    if (!strcmp(col_str(tab, "status", i), "ok")) nok++;
  }
  r = kind__result_begin(&c);
  if (!r) goto nomem;
  sum = cJSON_AddObjectToObject(r, "summary");
  if (!sum) goto nomem;
  cJSON_AddNumberToObject(sum, "atoms_selected", nsel);
  cJSON_AddNumberToObject(sum, "events_per_atom", (double)K);
  cJSON_AddNumberToObject(sum, "attempts", nev);
  cJSON_AddNumberToObject(sum, "successes", nok);
  cJSON_AddNumberToObject(sum, "success_rate", nev ? (double)nok / nev : 0);
  st = cJSON_AddObjectToObject(sum, "status_counts");
  for (i = 0; st && i < nev; i++) {
    const char *s = col_str(tab, "status", i);
    cJSON *x = cJSON_GetObjectItemCaseSensitive(st, s);
    if (x)
      cJSON_SetNumberValue(x, x->valuedouble + 1);
    else
      cJSON_AddNumberToObject(st, s, 1);
  }
  v = ok_values(tab, nev, "force_calls", NULL, &m);
  if (!v) goto nomem;
  cJSON_AddItemToObject(sum, "force_calls_median", num_or_null(quantile(v, m, 0.5)));
  cJSON_AddItemToObject(sum, "force_calls_p90", num_or_null(quantile(v, m, 0.9)));
  free(v);
  v = ok_values(tab, nev, "force_calls_saddle", NULL, &m);
  if (!v) goto nomem;
  cJSON_AddItemToObject(sum, "force_calls_saddle_median",
                        num_or_null(quantile(v, m, 0.5)));
  cJSON_AddItemToObject(sum, "force_calls_saddle_p90",
                        num_or_null(quantile(v, m, 0.9)));
  free(v);
  v = NULL;
  o = cJSON_AddObjectToObject(sum, "dq_mean");
  if (!o || species_stat(o, tab, nev, "dq", c.sys, 0)) goto nomem;
  o = cJSON_AddObjectToObject(sum, "dq_median");
  if (!o || species_stat(o, tab, nev, "dq", c.sys, 1)) goto nomem;
  cJSON_AddNumberToObject(sum, "chunks", nchunks);
  {
    /* attempts answered from the memo (memo), all events (results from
     * before session 15 have no such column: 0) */
    double hits = 0.0;
    const cJSON *h;
    cJSON_ArrayForEach(h, cJSON_GetObjectItemCaseSensitive(tab, "memo_hits"))
      if (cJSON_IsNumber(h)) hits += h->valuedouble;
    cJSON_AddNumberToObject(sum, "memo_hits", hits);
  }
  cJSON_AddNumberToObject(sum, "cpu_seconds", cpu);
  cJSON_AddNumberToObject(sum, "chunk_wall_seconds", chunk_wall);
  cJSON_AddItemToObject(sum, "wall_seconds", num_or_null(t_last - t_first));
  cJSON_AddItemToObject(sum, "events_per_core_hour",
                        num_or_null(cpu > 0 ? nev / (cpu / 3600) : NAN));
  if (minres) {
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(minres, "summary");
    cJSON *mo = cJSON_AddObjectToObject(sum, "minimize");
    const char *keys[] = {"e_initial", "energy", "fmax", "stop", "iterations",
                          "force_calls"};
    for (i = 0; mo && i < 6; i++) {
      const cJSON *x = cJSON_GetObjectItemCaseSensitive(ms, keys[i]);
      if (x) cJSON_AddItemToObject(mo, keys[i], cJSON_Duplicate(x, 1));
    }
  }
  if (per_atom_stats(r, c.sys, sel, nsel, K, tab, nev)) goto nomem;
  o = cJSON_AddObjectToObject(r, "histogram");
  if (!o) goto nomem;
  cJSON_AddStringToObject(o, "unit", "eV");
  st = cJSON_AddObjectToObject(o, "dq");
  if (!st || value_lists(st, tab, nev, "dq", c.sys)) goto nomem;
  st = cJSON_AddObjectToObject(o, "de_final");
  if (!st || value_lists(st, tab, nev, "de_final", c.sys)) goto nomem;
  if (!cJSON_AddItemToObject(r, "events", tab)) goto nomem;
  tab = NULL;
  free(sel);
  return kind__finish(&c, r, result, err, errlen);
nomem:
  rc = KIND_ENOMEM;
  snprintf(err, errlen, "out of memory");
fail:
  free(v);
  free(sel);
  cJSON_Delete(tab);
  cJSON_Delete(r);
  kind__ctx_end(&c);
  return rc;
}
