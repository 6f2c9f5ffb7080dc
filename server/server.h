/*
 * server.h -- what the pieces of pelmapd share: the daemon configuration and
 * counters (api_server), one HTTP request being handled (api_req), response
 * helpers, and the route entry point (api.c) called by the libmicrohttpd glue
 * (pelmapd.c).
 *
 * Ownership: an api_req belongs to its connection (created on the first
 * callback, freed by the completion callback); its body buffer is owned by
 * it.  Response helpers take ownership of buffers passed as "owned".
 */
#ifndef PELMAP_SERVER_H
#define PELMAP_SERVER_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "http_util.h"
#include "jobq.h"

typedef struct api_server {
  const char *db_path;
  char web_root[4096];          /* realpath of --web, "" if none */
  size_t max_body;              /* hard cap on any request body, bytes */
  double backoff_base, backoff_max;
  double lease_default;         /* seconds, for claims that name none */
  pthread_key_t qkey;           /* per-thread jobq handle */
  double started;               /* unix seconds */
  /* rate limiter: token buckets by user id (open addressing) */
  pthread_mutex_t rl_lock;
  struct {
    int64_t user;
    double tokens, last;
  } rl[1024];
  /* authentication cache: sha256(token) -> user, valid for a few seconds
   * (limit and role changes apply within that time) */
  pthread_mutex_t auth_lock;
  struct {
    char hash[65];
    jobq_user user;
    double expires;
  } auth[256];
  /* metrics */
  atomic_ulong status_count[600];
  atomic_ulong requests;
} api_server;

typedef struct api_req {
  int started;          /* first callback done */
  int responded;        /* a response was queued early */
  int authed;
  jobq_user user;
  int64_t owner;        /* visibility filter: user id, or 0 (admin/worker: all) */
  http_buf body;
  size_t limit;         /* body limit for this request */
  int overflow;         /* body exceeded limit while reading */
} api_req;

/* The jobq handle of the calling thread (opened on first use; closed when
 * the thread exits).  NULL if the database cannot be opened. */
jobq *api_q(api_server *s);

/* Queue a response.  body (len bytes) is copied unless owned (then freed by
 * libmicrohttpd).  Counts the status in the metrics. */
enum MHD_Result api_send(api_server *s, struct MHD_Connection *c, unsigned status,
                         const char *ctype, char *body, size_t len, int owned);
/* JSON error {"error":{"code":code,"message":...}}. */
enum MHD_Result api_error(api_server *s, struct MHD_Connection *c, unsigned status,
                          const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* First callback of a request: authenticate /api/ calls, apply the rate
 * limit and the Content-Length limit.  Returns 1 if a response was queued
 * (the request is over), 0 to go on reading the body. */
int api_precheck(api_server *s, api_req *r, struct MHD_Connection *c, const char *url,
                 const char *method, enum MHD_Result *ret);
/* Route a complete request (body read). */
enum MHD_Result api_route(api_server *s, api_req *r, struct MHD_Connection *c, const char *url,
                          const char *method);

/* The machine-readable API description (OpenAPI 3 JSON, with each kind's
 * params schema), built once.  Never NULL after api_openapi_init. */
int api_openapi_init(void);
const char *api_openapi_json(void);
void api_openapi_free(void);

#endif /* PELMAP_SERVER_H */
