/*
 * kinds_analysis.c -- the analysis kind
 *
 * PLACEHOLDER written by the lead so that the kind table links while the
 * kind is being written (session 2); replaced wholesale by its owner.
 */
#include "config.h"

#include "kinds.h"
#include "kinds_internal.h"

#include <stdio.h>

const kind_param kind__analysis_params[] = {{0}};

int kind__validate_analysis(const cJSON *params, cJSON **normalized, char *err,
                     size_t errlen) {
  return kind__validate(kind_find("analysis"), params, normalized, err, errlen,
                        NULL);
}

int kind__run_analysis(const cJSON *params, const kind_io *io, cJSON **result,
                char *err, size_t errlen) {
  (void)params;
  (void)io;
  *result = NULL;
  snprintf(err, errlen, "analysis: not implemented yet");
  return KIND_EFAIL;
}
