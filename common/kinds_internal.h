/*
 * kinds_internal.h -- declarations shared by kinds.c and kinds_run.c
 * (kind__ prefix).  Not for front ends: they use kinds.h.
 */
#ifndef PELMAP_KINDS_INTERNAL_H
#define PELMAP_KINDS_INTERNAL_H

#include "kinds.h"

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

#endif
