/*
 * kinds_internal.h -- declarations shared by kinds.c, kinds_run.c and
 * kinds_desc.c
 * (kind__ prefix).  Not for front ends: they use kinds.h.
 */
#ifndef PELMAP_KINDS_INTERNAL_H
#define PELMAP_KINDS_INTERNAL_H

#include "kinds.h"

#include "engine.h"

/* Everything a run holds (kinds_run.c, kinds_desc.c); released by
 * kind__ctx_end. */
typedef struct kind__ctx {
  const kind_def *kind;
  const kind_io *io;
  cJSON *params; /* normalized copy */
  eng_potential *pot;
  eng_system *sys;
  eng_calc *calc;
  double *f;     /* 3*natoms forces */
  double *eatom; /* natoms per-atom energies */
} kind__ctx;

/* Validate params again (normalized copy in c->params); for kinds with a
 * structure read the potential and the structure, name untyped species
 * after the potential's elements, build the calculator and allocate f and
 * eatom.  0 or a KIND_E* code with the reason in err; c must be released
 * with kind__ctx_end either way. */
int kind__ctx_begin(kind__ctx *c, const char *kname, const cJSON *params,
                    const kind_io *io, char *err, size_t errlen);
/* Free everything c holds and zero it. */
void kind__ctx_end(kind__ctx *c);
/* Map an engine code (ENG_E*) to a KIND_E* code, writing the engine's
 * message (prefixed with what, may be NULL) into err; setup != 0 makes
 * ENG_EINVAL an input error (KIND_EINVAL) rather than KIND_EFAIL. */
int kind__eng_fail(int code, int setup, const char *what, char *err,
                   size_t errlen);
/* The result envelope (kind, versions, params, seed, structure,
 * potential): a new object, or NULL when out of memory. */
cJSON *kind__result_begin(const kind__ctx *c);
/* Add r.per_atom with the id, type (1-based) and species arrays of s;
 * returns the per_atom object (borrowed), NULL when out of memory. */
cJSON *kind__per_atom_ids(cJSON *r, const eng_system *s);
/* Report progress frac in [0,1] through c->io; nonzero = cancel. */
int kind__progress(const kind__ctx *c, double frac, const char *msg);
/* Success: hand the system to io->final_system if asked, report 1.0, set
 * *result = r and release c.  KIND_ENOMEM (r freed) when r is NULL or
 * invalid. */
int kind__finish(kind__ctx *c, cJSON *r, cJSON **result, char *err,
                 size_t errlen);
/* Normalized numeric / string param k (asserted present). */
double kind__par(const kind__ctx *c, const char *k);
const char *kind__spar(const kind__ctx *c, const char *k);

/* Validate params against k's table: unknown or duplicate fields and
 * values breaking a rule are KIND_EINVAL with "field: rule" in err; then
 * every default is filled in and fix (may be NULL) derives the rest and
 * checks cross-field rules.  On success *normalized is a new object. */
int kind__validate(const kind_def *k, const cJSON *params, cJSON **normalized,
                   char *err, size_t errlen,
                   int (*fix)(cJSON *o, char *err, size_t errlen));

/* The run functions of the kinds (kinds_run.c); contract of kind_def.run. */
int kind__run_energy(const cJSON *params, const kind_io *io, cJSON **result,
                     char *err, size_t errlen);
int kind__run_minimize(const cJSON *params, const kind_io *io, cJSON **result,
                       char *err, size_t errlen);
int kind__run_md(const cJSON *params, const kind_io *io, cJSON **result,
                 char *err, size_t errlen);
int kind__run_quench(const cJSON *params, const kind_io *io, cJSON **result,
                     char *err, size_t errlen);
int kind__run_noop(const cJSON *params, const kind_io *io, cJSON **result,
                   char *err, size_t errlen);
/* kinds_desc.c: the descriptors kind (validation with its cross-field
 * rules, and the run). */
int kind__validate_descriptors(const cJSON *params, cJSON **normalized,
                               char *err, size_t errlen);
int kind__run_descriptors(const cJSON *params, const kind_io *io,
                          cJSON **result, char *err, size_t errlen);
/* Parameter table of the descriptors kind (kinds_desc.c). */
#define KIND__DESC_NPARAMS 33
extern const kind_param kind__descriptors_params[KIND__DESC_NPARAMS];

/* noop's fan-out (kinds_run.c); contract of kind_def.plan. */
int kind__plan_noop(const cJSON *params, const eng_system *sys,
                    cJSON **children, char *err, size_t errlen);

/* Kinds in their own files.  Each parameter table ends with a {NULL}
 * sentinel entry; validate/run/plan follow the kind_def contracts. */
/* kinds_artn.c: the ARTn sweep (fan-out parent) and its chunks */
extern const kind_param kind__artn_params[];
extern const kind_param kind__artn_chunk_params[];
int kind__validate_artn(const cJSON *params, cJSON **normalized, char *err,
                        size_t errlen);
int kind__run_artn(const cJSON *params, const kind_io *io, cJSON **result,
                   char *err, size_t errlen);
int kind__plan_artn(const cJSON *params, const eng_system *sys,
                    cJSON **children, char *err, size_t errlen);
int kind__validate_artn_chunk(const cJSON *params, cJSON **normalized,
                              char *err, size_t errlen);
int kind__run_artn_chunk(const cJSON *params, const kind_io *io,
                         cJSON **result, char *err, size_t errlen);
/* kinds_analysis.c */
extern const kind_param kind__analysis_params[];
int kind__validate_analysis(const cJSON *params, cJSON **normalized,
                            char *err, size_t errlen);
int kind__run_analysis(const cJSON *params, const kind_io *io,
                       cJSON **result, char *err, size_t errlen);
/* kinds_pipeline.c.  Not const: the rows of the artn options it forwards
 * are completed from kind__artn_params when the program starts (see
 * kinds_pipeline.c, pipeline_artn_rows). */
extern kind_param kind__pipeline_params[];
int kind__validate_pipeline(const cJSON *params, cJSON **normalized,
                            char *err, size_t errlen);
int kind__run_pipeline(const cJSON *params, const kind_io *io,
                       cJSON **result, char *err, size_t errlen);
int kind__plan_pipeline(const cJSON *params, const eng_system *sys,
                        cJSON **children, char *err, size_t errlen);

#endif
