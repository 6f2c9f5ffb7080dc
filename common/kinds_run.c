/*
 * kinds_run.c -- running the job kinds with the engine (and the kind__
 * helpers kinds_desc.c shares, kinds_internal.h): read the potential
 * and the structure from the kind_io buffers, build a calculator, compute
 * (energy, minimize, md, quench; noop just sleeps), and assemble the result
 * JSON documented in docs/kinds.md:
 *
 *   {"kind","engine_version","program","params","seed"?,"structure",
 *    "potential","summary","box"?,"per_atom"}
 *
 * Engine errors become KIND_EINVAL (bad input files or parameters the
 * engine refuses), KIND_EFAIL (the computation failed), KIND_ECANCEL (the
 * progress callback asked to stop) or KIND_ENOMEM, with the engine's
 * message (file:line for parse errors) in err.
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
#include <time.h>

void kind__ctx_end(kind__ctx *c) {
  cJSON_Delete(c->params);
  free(c->f);
  free(c->eatom);
  eng_calc_free(c->calc);
  eng_system_free(c->sys);
  eng_potential_free(c->pot);
  memset(c, 0, sizeof *c);
}

/* Map an engine code to a kind code, copying the engine's message (with
 * prefix what) into err. */
int kind__eng_fail(int code, int setup, const char *what, char *err,
                   size_t errlen) {
  snprintf(err, errlen, "%s%s%s", what ? what : "", what ? ": " : "",
           eng_last_error());
  switch (code) {
  case ENG_ENOMEM: return KIND_ENOMEM;
  case ENG_ECANCEL:
    snprintf(err, errlen, "cancelled");
    return KIND_ECANCEL;
  case ENG_EPARSE:
  case ENG_EIO:
  case ENG_ENOTFOUND:
  case ENG_EUNSUPP: return KIND_EINVAL;
  case ENG_EINVAL: return setup ? KIND_EINVAL : KIND_EFAIL;
  default: return KIND_EFAIL;
  }
}

static eng_pot_style style_from_name(const char *s) {
  if (!s) return ENG_POT_AUTO;
  if (!strcmp(s, "eam/fs")) return ENG_POT_EAM_FS;
  if (!strcmp(s, "eam/alloy")) return ENG_POT_EAM_ALLOY;
  if (!strcmp(s, "eam")) return ENG_POT_EAM_FUNCFL;
  return ENG_POT_AUTO;
}

/* Validate params again (normalized copy in c->params); for kinds with a
 * structure read the potential and the structure, name untyped species
 * after the potential's elements, and build the calculator. */
int kind__ctx_begin(kind__ctx *c, const char *kname, const cJSON *params,
                    const kind_io *io, char *err, size_t errlen) {
  eng_read_opts ro;
  int rc, t;
  const char *sname, *pname;

  memset(c, 0, sizeof *c);
  c->kind = kind_find(kname);
  c->io = io;
  assert(c->kind);
  rc = c->kind->validate(params, &c->params, err, errlen);
  if (rc) return rc;
  if (!(c->kind->flags & KIND_NEEDS_STRUCTURE)) return 0;
  if (!io || !io->structure_data || !io->potential_data) {
    snprintf(err, errlen, "%s: needs a structure and a potential",
             c->kind->name);
    return KIND_EINVAL;
  }
  pname = io->potential_name ? io->potential_name : "potential";
  sname = io->structure_name ? io->structure_name : "structure";
  rc = eng_potential_read_buffer(io->potential_data, io->potential_len,
                                 pname, style_from_name(io->potential_style),
                                 &c->pot);
  if (rc) return kind__eng_fail(rc, 1, NULL, err, errlen);
  memset(&ro, 0, sizeof ro);
  ro.type_names = io->type_names;
  ro.frame = io->frame;
  rc = eng_read_buffer(io->structure_data, io->structure_len, sname,
                       io->structure_format
                           ? eng_format_from_name(io->structure_format)
                           : ENG_FMT_AUTO,
                       &ro, &c->sys);
  if (rc) return kind__eng_fail(rc, 1, NULL, err, errlen);
  if (c->sys->natoms < 1) {
    snprintf(err, errlen, "%s: the structure has no atoms", sname);
    return KIND_EINVAL;
  }
  for (t = 0; t < c->sys->ntypes; t++) {
    if (c->sys->type_name[t][0]) continue;
    if (t >= eng_potential_nelements(c->pot)) {
      snprintf(err, errlen,
               "%s: type %d has no species name and the potential has only "
               "%d elements; give the type names (e.g. \"Cu Zr\")",
               sname, t + 1, eng_potential_nelements(c->pot));
      return KIND_EINVAL;
    }
    snprintf(c->sys->type_name[t], ENG_NAME_MAX, "%s",
             eng_potential_element(c->pot, t));
  }
  if (io->structure_result) {
    rc = kind_apply_result(c->sys, io->structure_result, err, errlen);
    if (rc) return rc;
  }
  rc = eng_calc_create(c->pot, c->sys, NULL, &c->calc);
  if (rc) return kind__eng_fail(rc, 1, sname, err, errlen);
  eng_calc_fill_masses(c->calc, c->sys);
  c->f = calloc((size_t)c->sys->natoms * 3, sizeof *c->f);
  c->eatom = calloc((size_t)c->sys->natoms, sizeof *c->eatom);
  if (!c->f || !c->eatom) {
    snprintf(err, errlen, "out of memory");
    return KIND_ENOMEM;
  }
  return 0;
}

/* ------------------------------------------------------------------ */
/* Result assembly                                                     */
/* ------------------------------------------------------------------ */

static cJSON *arr3(double a, double b, double c) {
  double v[3] = {a, b, c};
  return cJSON_CreateDoubleArray(v, 3);
}

/* The envelope: kind, versions, params, seed, structure, potential. */
cJSON *kind__result_begin(const kind__ctx *c) {
  cJSON *r = cJSON_CreateObject(), *s, *p, *seed;
  if (!r) return NULL;
  cJSON_AddStringToObject(r, "kind", c->kind->name);
  cJSON_AddStringToObject(r, "engine_version", ENG_VERSION);
  cJSON_AddStringToObject(r, "program", kind_program());
  /* results are bit-reproducible for a given thread count (engine.h) */
  cJSON_AddNumberToObject(r, "threads", eng_get_threads());
  cJSON_AddItemToObject(r, "params", cJSON_Duplicate(c->params, 1));
  seed = cJSON_GetObjectItemCaseSensitive(c->params, "seed");
  if (seed) cJSON_AddNumberToObject(r, "seed", seed->valuedouble);
  if (c->sys) {
    int *counts = calloc((size_t)c->sys->ntypes, sizeof *counts);
    cJSON *sp;
    int t, k;
    s = cJSON_AddObjectToObject(r, "structure");
    cJSON_AddStringToObject(s, "name", c->io->structure_name
                                           ? c->io->structure_name
                                           : "structure");
    cJSON_AddNumberToObject(s, "natoms", c->sys->natoms);
    if (c->io->structure_sha256)
      cJSON_AddStringToObject(s, "sha256", c->io->structure_sha256);
    sp = cJSON_AddObjectToObject(s, "species");
    if (counts) {
      eng_system_type_counts(c->sys, counts);
      for (t = 0; t < c->sys->ntypes; t++) {
        cJSON *have = cJSON_GetObjectItemCaseSensitive(sp,
                                                       c->sys->type_name[t]);
        if (have)
          cJSON_SetNumberValue(have, have->valuedouble + counts[t]);
        else
          cJSON_AddNumberToObject(sp, c->sys->type_name[t], counts[t]);
      }
      free(counts);
    }
    p = cJSON_AddObjectToObject(r, "potential");
    cJSON_AddStringToObject(p, "name", c->io->potential_name
                                           ? c->io->potential_name
                                           : "potential");
    cJSON_AddStringToObject(p, "style",
                            eng_pot_style_name(eng_potential_style(c->pot)));
    sp = cJSON_AddArrayToObject(p, "elements");
    for (k = 0; k < eng_potential_nelements(c->pot); k++)
      cJSON_AddItemToArray(sp,
                           cJSON_CreateString(eng_potential_element(c->pot, k)));
    cJSON_AddNumberToObject(p, "cutoff", eng_potential_cutoff(c->pot));
  }
  return r;
}

static void add_box(cJSON *r, const eng_box *b) {
  cJSON *o = cJSON_AddObjectToObject(r, "box");
  int per[3] = {b->periodic[0], b->periodic[1], b->periodic[2]};
  cJSON_AddItemToObject(o, "lo", arr3(b->lo[0], b->lo[1], b->lo[2]));
  cJSON_AddItemToObject(o, "len", arr3(b->len[0], b->len[1], b->len[2]));
  cJSON_AddItemToObject(o, "tilt", arr3(b->xy, b->xz, b->yz));
  cJSON_AddItemToObject(o, "periodic", cJSON_CreateIntArray(per, 3));
}

/* A per_atom column from a strided array (stride 1 or 3). */
static void add_col(cJSON *pa, const char *name, const double *v, int n,
                    int stride) {
  cJSON *a = cJSON_AddArrayToObject(pa, name);
  int i;
  for (i = 0; a && i < n; i++)
    cJSON_AddItemToArray(a, cJSON_CreateNumber(v[(size_t)i * stride]));
}

enum { PA_POS = 1, PA_VEL = 2 };

cJSON *kind__per_atom_ids(cJSON *r, const eng_system *s) {
  cJSON *pa = cJSON_AddObjectToObject(r, "per_atom"), *a;
  int i, n = s->natoms;
  if (!pa) return NULL;
  a = cJSON_AddArrayToObject(pa, "id");
  for (i = 0; a && i < n; i++)
    cJSON_AddItemToArray(a, cJSON_CreateNumber((double)s->id[i]));
  a = cJSON_AddArrayToObject(pa, "type");
  for (i = 0; a && i < n; i++)
    cJSON_AddItemToArray(a, cJSON_CreateNumber(s->type[i] + 1));
  a = cJSON_AddArrayToObject(pa, "species");
  for (i = 0; a && i < n; i++)
    cJSON_AddItemToArray(a, cJSON_CreateString(s->type_name[s->type[i]]));
  return pa;
}

static void add_per_atom(cJSON *r, const kind__ctx *c, int what) {
  const eng_system *s = c->sys;
  cJSON *pa = kind__per_atom_ids(r, s);
  int n = s->natoms;
  if (!pa) return;
  add_col(pa, "energy", c->eatom, n, 1);
  add_col(pa, "fx", c->f, n, 3);
  add_col(pa, "fy", c->f + 1, n, 3);
  add_col(pa, "fz", c->f + 2, n, 3);
  if (what & PA_POS) {
    add_col(pa, "x", s->x, n, 3);
    add_col(pa, "y", s->x + 1, n, 3);
    add_col(pa, "z", s->x + 2, n, 3);
  }
  if ((what & PA_VEL) && s->v) {
    add_col(pa, "vx", s->v, n, 3);
    add_col(pa, "vy", s->v + 1, n, 3);
    add_col(pa, "vz", s->v + 2, n, 3);
  }
}

/* Evaluate at the current positions and add the static summary: energy,
 * energy_per_atom, fmax, volume, virial, pressure (virial part, bar). */
static int static_summary(kind__ctx *c, cJSON *sum, char *err, size_t errlen) {
  double e, vir[6], vol, pt[6], fmax = 0;
  int i, rc;
  rc = eng_calc_compute(c->calc, c->sys, &e, c->f, c->eatom, vir);
  if (rc) return kind__eng_fail(rc, 0, "compute", err, errlen);
  for (i = 0; i < 3 * c->sys->natoms; i++)
    if (fabs(c->f[i]) > fmax) fmax = fabs(c->f[i]);
  vol = eng_box_volume(&c->sys->box);
  for (i = 0; i < 6; i++) pt[i] = vir[i] / vol * ENG_NKTV2P;
  cJSON_AddNumberToObject(sum, "energy", e);
  cJSON_AddNumberToObject(sum, "energy_per_atom", e / c->sys->natoms);
  cJSON_AddNumberToObject(sum, "fmax", fmax);
  cJSON_AddNumberToObject(sum, "volume", vol);
  cJSON_AddNumberToObject(sum, "pressure", (pt[0] + pt[1] + pt[2]) / 3);
  cJSON_AddItemToObject(sum, "virial", cJSON_CreateDoubleArray(vir, 6));
  cJSON_AddItemToObject(sum, "pressure_tensor", cJSON_CreateDoubleArray(pt, 6));
  return 0;
}

int kind__progress(const kind__ctx *c, double frac, const char *msg) {
  if (!c->io || !c->io->progress) return 0;
  return c->io->progress(c->io->ud, frac, msg);
}

/* Finish: hand the system to io->final_system if asked, set *result. */
int kind__finish(kind__ctx *c, cJSON *r, cJSON **result, char *err,
                 size_t errlen) {
  if (!r || cJSON_IsInvalid(r)) {
    cJSON_Delete(r);
    snprintf(err, errlen, "out of memory");
    kind__ctx_end(c);
    return KIND_ENOMEM;
  }
  if (c->io && c->io->final_system && c->sys) {
    *c->io->final_system = c->sys;
    c->sys = NULL;
  }
  kind__progress(c, 1.0, "done");
  *result = r;
  kind__ctx_end(c);
  return 0;
}

double kind__par(const kind__ctx *c, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(c->params, k);
  assert(cJSON_IsNumber(v));
  return v->valuedouble;
}

const char *kind__spar(const kind__ctx *c, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(c->params, k);
  assert(cJSON_IsString(v));
  return v->valuestring;
}

/* ------------------------------------------------------------------ */
/* The kinds                                                           */
/* ------------------------------------------------------------------ */

int kind__run_energy(const cJSON *params, const kind_io *io, cJSON **result,
                     char *err, size_t errlen) {
  kind__ctx c;
  cJSON *r = NULL, *sum;
  int rc;
  *result = NULL;
  rc = kind__ctx_begin(&c, "energy", params, io, err, errlen);
  if (rc) goto fail;
  if (kind__progress(&c, 0.0, "computing energy and forces")) {
    rc = KIND_ECANCEL;
    snprintf(err, errlen, "cancelled");
    goto fail;
  }
  r = kind__result_begin(&c);
  if (!r) goto nomem;
  sum = cJSON_AddObjectToObject(r, "summary");
  rc = static_summary(&c, sum, err, errlen);
  if (rc) goto fail;
  add_per_atom(r, &c, 0);
  return kind__finish(&c, r, result, err, errlen);
nomem:
  rc = KIND_ENOMEM;
  snprintf(err, errlen, "out of memory");
fail:
  cJSON_Delete(r);
  kind__ctx_end(&c);
  return rc;
}

int kind__run_minimize(const cJSON *params, const kind_io *io, cJSON **result,
                       char *err, size_t errlen) {
  kind__ctx c;
  cJSON *r = NULL, *sum;
  eng_min_opts o;
  eng_min_result mr;
  int rc;
  *result = NULL;
  rc = kind__ctx_begin(&c, "minimize", params, io, err, errlen);
  if (rc) goto fail;
  eng_min_opts_default(&o);
  {
    const char *al = kind__spar(&c, "algo");
    o.algo = !strcmp(al, "fire") ? ENG_MIN_FIRE : !strcmp(al, "lbfgs") ? ENG_MIN_LBFGS : ENG_MIN_CG;
  }
  o.ftol = kind__par(&c, "ftol");
  o.etol = kind__par(&c, "etol");
  o.max_iter = (int)kind__par(&c, "max_iter");
  o.max_eval = (int)kind__par(&c, "max_eval");
  o.dmax = kind__par(&c, "dmax");
  memset(&mr, 0, sizeof mr);
  rc = eng_minimize(c.calc, c.sys, &o, io ? io->progress : NULL,
                    io ? io->ud : NULL, &mr);
  if (rc) {
    rc = kind__eng_fail(rc, 0, "minimize", err, errlen);
    goto fail;
  }
  r = kind__result_begin(&c);
  if (!r) goto nomem;
  sum = cJSON_AddObjectToObject(r, "summary");
  rc = static_summary(&c, sum, err, errlen);
  if (rc) goto fail;
  cJSON_AddNumberToObject(sum, "e_initial", mr.e_initial);
  cJSON_AddStringToObject(sum, "stop", eng_min_stop_name(mr.stop));
  cJSON_AddBoolToObject(sum, "converged",
                        mr.stop == ENG_STOP_FTOL || mr.stop == ENG_STOP_ETOL);
  cJSON_AddNumberToObject(sum, "iterations", mr.iterations);
  cJSON_AddNumberToObject(sum, "force_calls", mr.force_calls);
  add_box(r, &c.sys->box);
  add_per_atom(r, &c, PA_POS);
  return kind__finish(&c, r, result, err, errlen);
nomem:
  rc = KIND_ENOMEM;
  snprintf(err, errlen, "out of memory");
fail:
  cJSON_Delete(r);
  kind__ctx_end(&c);
  return rc;
}

/* Running means over MD steps (the step callback). */
typedef struct md_acc {
  long n;
  double temp, pe, press;
  double conserved0;
} md_acc;

static int md_step(void *ud, const eng_system *sys, const double *f,
                   const eng_md_state *st) {
  md_acc *a = ud;
  (void)sys;
  (void)f;
  if (st->step == 0) {
    a->conserved0 = st->conserved;
    return 0;
  }
  a->n++;
  a->temp += st->temp;
  a->pe += st->pe;
  a->press += st->press;
  return 0;
}

int kind__run_md(const cJSON *params, const kind_io *io, cJSON **result,
                 char *err, size_t errlen) {
  kind__ctx c;
  cJSON *r = NULL, *sum;
  eng_md_opts o;
  eng_md_state st;
  md_acc acc;
  const char *ens;
  int rc;
  *result = NULL;
  rc = kind__ctx_begin(&c, "md", params, io, err, errlen);
  if (rc) goto fail;
  eng_md_opts_default(&o);
  ens = kind__spar(&c, "ensemble");
  o.ensemble = !strcmp(ens, "nve") ? ENG_NVE
               : !strcmp(ens, "npt") ? ENG_NPT
                                     : ENG_NVT;
  o.dt = kind__par(&c, "dt");
  o.nsteps = (long)kind__par(&c, "steps");
  o.t_start = kind__par(&c, "t_start");
  o.t_stop = kind__par(&c, "t_stop");
  o.t_damp = kind__par(&c, "t_damp");
  o.chain = (int)kind__par(&c, "chain");
  o.p_target = kind__par(&c, "pressure");
  o.p_damp = kind__par(&c, "p_damp");
  o.aniso = !strcmp(kind__spar(&c, "barostat"), "aniso");
  o.seed = (uint64_t)kind__par(&c, "seed");
  o.init_velocities = !strcmp(kind__spar(&c, "velocities"), "create");
  o.progress_every = 50;
  if (!o.init_velocities && !c.sys->v) {
    rc = eng_system_alloc_velocities(c.sys);
    if (rc) goto nomem;
  }
  if ((o.ensemble != ENG_NVE || o.init_velocities) && o.t_start <= 0 &&
      o.ensemble != ENG_NVE) {
    snprintf(err, errlen, "t_start: must be > 0 for %s", ens);
    rc = KIND_EINVAL;
    goto fail;
  }
  memset(&acc, 0, sizeof acc);
  memset(&st, 0, sizeof st);
  rc = eng_md_run(c.calc, c.sys, &o, md_step, &acc, io ? io->progress : NULL,
                  io ? io->ud : NULL, &st);
  if (rc) {
    rc = kind__eng_fail(rc, 0, "md", err, errlen);
    goto fail;
  }
  r = kind__result_begin(&c);
  if (!r) goto nomem;
  sum = cJSON_AddObjectToObject(r, "summary");
  rc = static_summary(&c, sum, err, errlen);
  if (rc) goto fail;
  /* the MD state's pressure includes the kinetic part: it replaces the
   * static one */
  cJSON_ReplaceItemInObject(sum, "pressure", cJSON_CreateNumber(st.press));
  cJSON_AddNumberToObject(sum, "steps", (double)st.step);
  cJSON_AddNumberToObject(sum, "time", st.time);
  cJSON_AddNumberToObject(sum, "kinetic_energy", st.ke);
  cJSON_AddNumberToObject(sum, "temperature", st.temp);
  cJSON_AddNumberToObject(sum, "conserved", st.conserved);
  cJSON_AddNumberToObject(sum, "conserved_drift_per_atom",
                          (st.conserved - acc.conserved0) / c.sys->natoms);
  if (acc.n > 0) {
    cJSON_AddNumberToObject(sum, "temperature_mean", acc.temp / acc.n);
    cJSON_AddNumberToObject(sum, "energy_mean", acc.pe / acc.n);
    cJSON_AddNumberToObject(sum, "pressure_mean", acc.press / acc.n);
  }
  add_box(r, &c.sys->box);
  add_per_atom(r, &c, PA_POS | PA_VEL);
  return kind__finish(&c, r, result, err, errlen);
nomem:
  rc = KIND_ENOMEM;
  snprintf(err, errlen, "out of memory");
fail:
  cJSON_Delete(r);
  kind__ctx_end(&c);
  return rc;
}

int kind__run_quench(const cJSON *params, const kind_io *io, cJSON **result,
                     char *err, size_t errlen) {
  kind__ctx c;
  cJSON *r = NULL, *sum;
  eng_quench_opts o;
  eng_min_result mr;
  int rc;
  *result = NULL;
  rc = kind__ctx_begin(&c, "quench", params, io, err, errlen);
  if (rc) goto fail;
  eng_quench_opts_default(&o);
  o.t_high = kind__par(&c, "t_high");
  o.t_melt = kind__par(&c, "t_melt");
  o.t_liquid = kind__par(&c, "t_liquid");
  o.t_low = kind__par(&c, "t_low");
  o.rate = kind__par(&c, "rate");
  o.t_hold = kind__par(&c, "t_hold");
  o.pressure = kind__par(&c, "pressure");
  o.dt = kind__par(&c, "dt");
  o.seed = (uint64_t)kind__par(&c, "seed");
  memset(&mr, 0, sizeof mr);
  rc = eng_quench(c.calc, c.sys, &o, io ? io->progress : NULL,
                  io ? io->ud : NULL, &mr);
  if (rc) {
    rc = kind__eng_fail(rc, 0, "quench", err, errlen);
    goto fail;
  }
  r = kind__result_begin(&c);
  if (!r) goto nomem;
  sum = cJSON_AddObjectToObject(r, "summary");
  rc = static_summary(&c, sum, err, errlen);
  if (rc) goto fail;
  cJSON_AddStringToObject(sum, "stop", eng_min_stop_name(mr.stop));
  cJSON_AddNumberToObject(sum, "iterations", mr.iterations);
  cJSON_AddNumberToObject(sum, "density",
                          c.sys->natoms / eng_box_volume(&c.sys->box));
  add_box(r, &c.sys->box);
  add_per_atom(r, &c, PA_POS);
  return kind__finish(&c, r, result, err, errlen);
nomem:
  rc = KIND_ENOMEM;
  snprintf(err, errlen, "out of memory");
fail:
  cJSON_Delete(r);
  kind__ctx_end(&c);
  return rc;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Sum of summary.seconds over io's inputs (0 without inputs). */
static double input_seconds(const kind_io *io) {
  double t = 0;
  int i;
  for (i = 0; io && i < io->ninputs; i++) {
    const cJSON *sm = cJSON_GetObjectItemCaseSensitive(io->inputs[i], "summary");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(sm, "seconds");
    if (cJSON_IsNumber(v)) t += v->valuedouble;
  }
  return t;
}

/* noop's plan: fanout children of kind noop sleeping `seconds` each, the
 * one at index fail_child failing (for tests of fan-out and its faults). */
int kind__plan_noop(const cJSON *params, const eng_system *sys,
                    cJSON **children, char *err, size_t errlen) {
  const cJSON *fo = cJSON_GetObjectItemCaseSensitive(params, "fanout");
  const cJSON *fc = cJSON_GetObjectItemCaseSensitive(params, "fail_child");
  const cJSON *sec = cJSON_GetObjectItemCaseSensitive(params, "seconds");
  int n = cJSON_IsNumber(fo) ? fo->valueint : 0, i;
  int bad = cJSON_IsNumber(fc) ? fc->valueint : -1;
  cJSON *a = cJSON_CreateArray();
  (void)sys;
  *children = NULL;
  if (!a) goto nomem;
  for (i = 0; i < n; i++) {
    cJSON *c = cJSON_CreateObject(), *p;
    char label[48];
    if (!c) goto nomem;
    cJSON_AddItemToArray(a, c);
    snprintf(label, sizeof label, "noop %d/%d", i + 1, n);
    if (!cJSON_AddStringToObject(c, "kind", "noop") ||
        !cJSON_AddStringToObject(c, "label", label))
      goto nomem;
    p = cJSON_AddObjectToObject(c, "params");
    if (!p ||
        !cJSON_AddNumberToObject(p, "seconds",
                                 cJSON_IsNumber(sec) ? sec->valuedouble : 0) ||
        !cJSON_AddBoolToObject(p, "fail", i == bad) ||
        !cJSON_AddNumberToObject(p, "fanout", 0) ||
        !cJSON_AddNumberToObject(p, "fail_child", -1))
      goto nomem;
  }
  *children = a;
  return 0;
nomem:
  cJSON_Delete(a);
  snprintf(err, errlen, "out of memory");
  return KIND_ENOMEM;
}

int kind__run_noop(const cJSON *params, const kind_io *io, cJSON **result,
                   char *err, size_t errlen) {
  kind__ctx c;
  cJSON *r = NULL, *sum;
  double secs, t0, t;
  int rc;
  *result = NULL;
  rc = kind__ctx_begin(&c, "noop", params, io, err, errlen);
  if (rc) goto fail;
  secs = kind__par(&c, "seconds");
  t0 = now_s();
  for (;;) {
    char msg[64];
    struct timespec ts = {0, 50 * 1000 * 1000};
    t = now_s() - t0;
    if (t >= secs) break;
    snprintf(msg, sizeof msg, "slept %.1f of %g s", t, secs);
    if (kind__progress(&c, t / secs, msg)) {
      rc = KIND_ECANCEL;
      snprintf(err, errlen, "cancelled");
      goto fail;
    }
    if (secs - t < 0.05) ts.tv_nsec = (long)((secs - t) * 1e9);
    nanosleep(&ts, NULL);
  }
  if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c.params, "fail"))) {
    rc = KIND_EFAIL;
    snprintf(err, errlen, "noop: failing as asked (fail=true)");
    goto fail;
  }
  r = kind__result_begin(&c);
  if (!r) goto nomem;
  sum = cJSON_AddObjectToObject(r, "summary");
  cJSON_AddNumberToObject(sum, "seconds", now_s() - t0);
  /* a fan-out parent (fanout > 0) reports what it gathered */
  cJSON_AddNumberToObject(sum, "ninputs", io ? io->ninputs : 0);
  cJSON_AddNumberToObject(sum, "input_seconds", input_seconds(io));
  return kind__finish(&c, r, result, err, errlen);
nomem:
  rc = KIND_ENOMEM;
  snprintf(err, errlen, "out of memory");
fail:
  cJSON_Delete(r);
  kind__ctx_end(&c);
  return rc;
}
