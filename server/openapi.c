/*
 * openapi.c -- the machine-readable description of API v1 served at
 * GET /api/v1/openapi.json: an OpenAPI 3.0 document written here by hand
 * (keep it in step with docs/api.md and api.c), completed at start-up with
 * the params schema of every job kind from the kind table.
 */
#include "config.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "kinds.h"
#include "server.h"

static const char openapi_base[] =
    "{\"openapi\":\"3.0.3\","
    "\"info\":{\"title\":\"pelmap job service\",\"version\":\"" PACKAGE_VERSION "\","
    "\"description\":\"Potential-energy-landscape jobs on Cu-Zr metallic glasses. "
    "See docs/api.md. Every /api/v1 route except openapi.json needs 'Authorization: Bearer TOKEN'. "
    "Errors are {\\\"error\\\":{\\\"code\\\":...,\\\"message\\\":...}}.\"},"
    "\"components\":{\"securitySchemes\":{\"bearer\":{\"type\":\"http\",\"scheme\":\"bearer\"}},"
    "\"schemas\":{"
    "\"Error\":{\"type\":\"object\",\"properties\":{\"error\":{\"type\":\"object\",\"properties\":"
    "{\"code\":{\"type\":\"string\"},\"message\":{\"type\":\"string\"}}}}},"
    "\"Structure\":{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"integer\"},"
    "\"name\":{\"type\":\"string\"},\"format\":{\"type\":\"string\",\"enum\":[\"lammps-data\","
    "\"lammps-dump\",\"extxyz\"]},\"natoms\":{\"type\":\"integer\"},\"species\":{\"type\":\"object\"},"
    "\"box\":{\"type\":\"object\"},\"sha256\":{\"type\":\"string\"},\"size\":{\"type\":\"integer\"},"
    "\"created\":{\"type\":\"number\"},\"owner\":{\"type\":\"string\"}}},"
    "\"Potential\":{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"integer\"},"
    "\"name\":{\"type\":\"string\"},\"style\":{\"type\":\"string\",\"enum\":[\"eam/fs\",\"eam/alloy\","
    "\"eam\"]},\"elements\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
    "\"cutoff\":{\"type\":\"number\"},\"sha256\":{\"type\":\"string\"},\"default\":{\"type\":\"boolean\"},"
    "\"owner\":{\"type\":\"string\",\"nullable\":true}}},"
    "\"JobRequest\":{\"type\":\"object\",\"required\":[\"kind\"],\"additionalProperties\":false,"
    "\"properties\":{\"kind\":{\"type\":\"string\"},\"structure\":{\"type\":\"integer\"},"
    "\"potential\":{\"type\":\"integer\"},\"params\":{\"type\":\"object\"},"
    "\"priority\":{\"type\":\"integer\",\"minimum\":-1000,\"maximum\":1000},"
    "\"run_after\":{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"maxItems\":16},"
    "\"parent\":{\"type\":\"integer\"},\"max_attempts\":{\"type\":\"integer\",\"minimum\":1,"
    "\"maximum\":10}}},"
    "\"Job\":{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"integer\"},"
    "\"user\":{\"type\":\"string\"},\"kind\":{\"type\":\"string\"},\"state\":{\"type\":\"string\","
    "\"enum\":[\"queued\",\"running\",\"succeeded\",\"failed\",\"cancelled\"]},"
    "\"priority\":{\"type\":\"integer\"},\"params\":{\"type\":\"object\"},"
    "\"structure\":{\"type\":\"integer\",\"nullable\":true},\"potential\":{\"type\":\"integer\","
    "\"nullable\":true},\"parent\":{\"type\":\"integer\",\"nullable\":true},"
    "\"run_after\":{\"type\":\"array\",\"items\":{\"type\":\"integer\"}},"
    "\"attempt\":{\"type\":\"integer\"},\"max_attempts\":{\"type\":\"integer\"},"
    "\"progress\":{\"type\":\"number\"},\"message\":{\"type\":\"string\",\"nullable\":true},"
    "\"worker\":{\"type\":\"string\",\"nullable\":true},\"error\":{\"type\":\"string\","
    "\"nullable\":true},\"created\":{\"type\":\"number\"},\"started\":{\"type\":\"number\","
    "\"nullable\":true},\"finished\":{\"type\":\"number\",\"nullable\":true},"
    "\"has_result\":{\"type\":\"boolean\"}}}"
    "}},"
    "\"security\":[{\"bearer\":[]}],"
    "\"paths\":{"
    "\"/healthz\":{\"get\":{\"summary\":\"Liveness and database check\",\"security\":[],"
    "\"responses\":{\"200\":{\"description\":\"ok\"},\"503\":{\"description\":\"database unavailable\"}}}},"
    "\"/metrics\":{\"get\":{\"summary\":\"Prometheus metrics (text format)\",\"security\":[],"
    "\"responses\":{\"200\":{\"description\":\"metrics\"}}}},"
    "\"/api/v1/openapi.json\":{\"get\":{\"summary\":\"This document\",\"security\":[],"
    "\"responses\":{\"200\":{\"description\":\"OpenAPI 3 JSON\"}}}},"
    "\"/api/v1/me\":{\"get\":{\"summary\":\"The calling user, role and limits\","
    "\"responses\":{\"200\":{\"description\":\"user\"},\"401\":{\"description\":\"no/unknown token\"}}}},"
    "\"/api/v1/kinds\":{\"get\":{\"summary\":\"Job kinds with their params schema\","
    "\"responses\":{\"200\":{\"description\":\"array of kinds\"}}}},"
    "\"/api/v1/structures\":{"
    "\"get\":{\"summary\":\"List your structures (limit, offset; X-Total-Count)\","
    "\"parameters\":[{\"name\":\"limit\",\"in\":\"query\",\"schema\":{\"type\":\"integer\"}},"
    "{\"name\":\"offset\",\"in\":\"query\",\"schema\":{\"type\":\"integer\"}}],"
    "\"responses\":{\"200\":{\"description\":\"array of Structure\"}}},"
    "\"post\":{\"summary\":\"Upload a structure (raw body or multipart/form-data); parsed and "
    "validated before it is stored with its read options (types, frame); identical bytes with "
    "the same options return the existing id\","
    "\"parameters\":[{\"name\":\"name\",\"in\":\"query\",\"schema\":{\"type\":\"string\"}},"
    "{\"name\":\"format\",\"in\":\"query\",\"schema\":{\"type\":\"string\",\"enum\":[\"lammps-data\","
    "\"lammps-dump\",\"extxyz\"]}},{\"name\":\"frame\",\"in\":\"query\",\"schema\":{\"type\":\"integer\"}},"
    "{\"name\":\"types\",\"in\":\"query\",\"schema\":{\"type\":\"string\"}}],"
    "\"responses\":{\"201\":{\"description\":\"stored\"},\"200\":{\"description\":\"already stored\"},"
    "\"400\":{\"description\":\"invalid file (message names the line)\"},"
    "\"413\":{\"description\":\"too large / too many atoms\"},\"415\":{\"description\":\"unknown format or content type\"}}}},"
    "\"/api/v1/structures/{id}\":{\"get\":{\"summary\":\"Structure metadata\","
    "\"responses\":{\"200\":{\"description\":\"Structure\"},\"404\":{\"description\":\"not found\"}}},"
    "\"delete\":{\"summary\":\"Delete (409 while a queued/running job uses it)\","
    "\"responses\":{\"204\":{\"description\":\"deleted\"},\"409\":{\"description\":\"in use\"}}}},"
    "\"/api/v1/structures/{id}/file\":{\"get\":{\"summary\":\"The original bytes "
    "(X-Pelmap-Name, X-Pelmap-Format; X-Pelmap-Types and X-Pelmap-Frame when the upload gave "
    "them)\",\"responses\":{\"200\":{\"description\":\"file\"}}}},"
    "\"/api/v1/potentials\":{\"get\":{\"summary\":\"List potentials (yours and the bundled ones)\","
    "\"responses\":{\"200\":{\"description\":\"array of Potential\"}}},"
    "\"post\":{\"summary\":\"Upload an EAM potential (setfl eam/fs, eam/alloy or funcfl eam)\","
    "\"parameters\":[{\"name\":\"name\",\"in\":\"query\",\"schema\":{\"type\":\"string\"}},"
    "{\"name\":\"style\",\"in\":\"query\",\"schema\":{\"type\":\"string\"}}],"
    "\"responses\":{\"201\":{\"description\":\"stored\"},\"400\":{\"description\":\"invalid file\"}}}},"
    "\"/api/v1/potentials/{id}\":{\"get\":{\"summary\":\"Potential metadata\","
    "\"responses\":{\"200\":{\"description\":\"Potential\"}}},\"delete\":{\"summary\":\"Delete your "
    "potential\",\"responses\":{\"204\":{\"description\":\"deleted\"}}}},"
    "\"/api/v1/potentials/{id}/file\":{\"get\":{\"summary\":\"The original bytes\","
    "\"responses\":{\"200\":{\"description\":\"file\"}}}},"
    "\"/api/v1/jobs\":{\"get\":{\"summary\":\"List jobs (state, kind, structure, parent = ID or none, "
    "limit, offset)\","
    "\"responses\":{\"200\":{\"description\":\"array of Job\"}}},"
    "\"post\":{\"summary\":\"Submit a job (Idempotency-Key header supported). A kind with a "
    "plan (fan-out, pipeline) is expanded at once: the parent and all its descendants are "
    "queued in one transaction and the parent is returned\","
    "\"requestBody\":{\"content\":{\"application/json\":{\"schema\":{\"$ref\":\"#/components/schemas/JobRequest\"}}}},"
    "\"responses\":{\"201\":{\"description\":\"queued\"},\"200\":{\"description\":\"same Idempotency-Key\"},"
    "\"400\":{\"description\":\"invalid (message names the field)\"},\"429\":{\"description\":\"limit\"}}}},"
    "\"/api/v1/jobs/{id}\":{\"get\":{\"summary\":\"Job state, progress, attempts, timestamps; "
    "label, structure_from, inputs (count); a parent adds graph {total,queued,running,succeeded,"
    "failed,cancelled} over its descendants and an aggregate progress\","
    "\"responses\":{\"200\":{\"description\":\"Job\"}}}},"
    "\"/api/v1/jobs/{id}/children\":{\"get\":{\"summary\":\"Direct children of a job graph "
    "in plan order (limit, offset; X-Total-Count)\","
    "\"responses\":{\"200\":{\"description\":\"array of Job\"}}}},"
    "\"/api/v1/jobs/{id}/inputs\":{\"get\":{\"summary\":\"Worker: the results a graph job "
    "runs with, {structure_result: object|null, inputs: [object, ...]} (streamed)\","
    "\"responses\":{\"200\":{\"description\":\"inputs\"},\"403\":{\"description\":"
    "\"needs a worker or admin token\"},\"409\":{\"description\":\"an input has no result\"}}}},"
    "\"/api/v1/jobs/{id}/events\":{\"get\":{\"summary\":\"Every state transition\","
    "\"responses\":{\"200\":{\"description\":\"array of events\"}}}},"
    "\"/api/v1/jobs/{id}/cancel\":{\"post\":{\"summary\":\"Cancel (also all its descendants "
    "and dependents)\",\"responses\":{\"200\":{\"description\":\"Job\"},\"409\":{\"description\":\"already finished\"}}}},"
    "\"/api/v1/jobs/{id}/result\":{\"get\":{\"summary\":\"Result JSON; ?format=csv (per-atom "
    "table) or extxyz (structure with results as columns)\","
    "\"responses\":{\"200\":{\"description\":\"result\"},\"409\":{\"description\":\"no result yet\"}}}},"
    "\"/api/v1/worker/claim\":{\"post\":{\"summary\":\"Worker: claim a job {worker,kinds,lease}\","
    "\"responses\":{\"200\":{\"description\":\"{job: {id,kind,attempt,user,structure,potential,"
    "parent,structure_from,inputs,params,lease_expires}}\"},\"204\":{\"description\":\"nothing to do\"}}}},"
    "\"/api/v1/jobs/{id}/heartbeat\":{\"post\":{\"summary\":\"Worker: {attempt,progress,message,lease}\","
    "\"responses\":{\"200\":{\"description\":\"{cancel,lease_expires}\"},\"409\":{\"description\":\"stale attempt\"}}}},"
    "\"/api/v1/jobs/{id}/complete\":{\"post\":{\"summary\":\"Worker: {attempt,result}\","
    "\"responses\":{\"200\":{\"description\":\"stored\"},\"409\":{\"description\":\"stale attempt\"}}}},"
    "\"/api/v1/jobs/{id}/fail\":{\"post\":{\"summary\":\"Worker: {attempt,error,retryable}\","
    "\"responses\":{\"200\":{\"description\":\"recorded\"},\"409\":{\"description\":\"stale attempt\"}}}}"
    "}}";

static char *openapi_text;

/* Build the document once (before the server threads start): 0, or -1 when
 * out of memory. */
int api_openapi_init(void) {
  cJSON *doc = cJSON_Parse(openapi_base);
  if (!doc) return -1;
  cJSON *schemas = cJSON_GetObjectItemCaseSensitive(
      cJSON_GetObjectItemCaseSensitive(doc, "components"), "schemas");
  for (int i = 0; schemas && kind_at(i); i++) {
    const kind_def *k = kind_at(i);
    cJSON *sch = k->params_schema_json ? cJSON_Parse(k->params_schema_json) : NULL;
    if (!sch) continue;
    char name[64];
    snprintf(name, sizeof name, "params_%s", k->name);
    cJSON_AddItemToObject(schemas, name, sch);
  }
  openapi_text = cJSON_PrintUnformatted(doc);
  cJSON_Delete(doc);
  return openapi_text ? 0 : -1;
}

/* The document text ("{}" before init); owned by this module. */
const char *api_openapi_json(void) { return openapi_text ? openapi_text : "{}"; }

/* Release the document (at shutdown). */
void api_openapi_free(void) {
  free(openapi_text);
  openapi_text = NULL;
}
