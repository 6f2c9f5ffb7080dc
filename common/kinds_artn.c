/*
 * kinds_artn.c -- the ARTn sweep kind and its chunks
 *
 * PLACEHOLDER written by the lead so that the kind table links while the
 * kind is being written (session 2); replaced wholesale by its owner.
 */
#include "config.h"

#include "kinds.h"
#include "kinds_internal.h"

#include <stdio.h>

const kind_param kind__artn_params[] = {{0}};

int kind__validate_artn(const cJSON *params, cJSON **normalized, char *err,
                     size_t errlen) {
  return kind__validate(kind_find("artn"), params, normalized, err, errlen,
                        NULL);
}

int kind__run_artn(const cJSON *params, const kind_io *io, cJSON **result,
                char *err, size_t errlen) {
  (void)params;
  (void)io;
  *result = NULL;
  snprintf(err, errlen, "artn: not implemented yet");
  return KIND_EFAIL;
}
const kind_param kind__artn_chunk_params[] = {{0}};

int kind__validate_artn_chunk(const cJSON *params, cJSON **normalized, char *err,
                     size_t errlen) {
  return kind__validate(kind_find("artn_chunk"), params, normalized, err, errlen,
                        NULL);
}

int kind__run_artn_chunk(const cJSON *params, const kind_io *io, cJSON **result,
                char *err, size_t errlen) {
  (void)params;
  (void)io;
  *result = NULL;
  snprintf(err, errlen, "artn_chunk: not implemented yet");
  return KIND_EFAIL;
}

int kind__plan_artn(const cJSON *params, const eng_system *sys,
                     cJSON **children, char *err, size_t errlen) {
  (void)params;
  (void)sys;
  *children = cJSON_CreateArray();
  if (*children) return 0;
  snprintf(err, errlen, "out of memory");
  return KIND_ENOMEM;
}
