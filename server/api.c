/*
 * api.c -- the routes of pelmapd's HTTP API v1 (docs/api.md): users are
 * authenticated by bearer token, rate-limited, and see only their own
 * objects; structures and potentials are parsed by the engine before they
 * are stored; jobs are validated by their kind before they are queued; the
 * worker routes drive the queue; results export as JSON, CSV or extxyz.
 */
#include "config.h"

#include "server.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine.h"
#include "kinds.h"

#define API_LIST_MAX 1000
#define API_LIST_DEFAULT 50

/* ------------------------------------------------------------------ */
/* Responses                                                           */
/* ------------------------------------------------------------------ */

/* Queue a response (contract in server.h). */
enum MHD_Result api_send(api_server *s, struct MHD_Connection *c, unsigned status,
                         const char *ctype, char *body, size_t len, int owned) {
  struct MHD_Response *resp = MHD_create_response_from_buffer(
      len, body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_MUST_COPY);
  if (!resp) {
    if (owned) free(body);
    return MHD_NO;
  }
  if (ctype) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
  MHD_add_response_header(resp, "Cache-Control", "no-store");
  enum MHD_Result ret = MHD_queue_response(c, status, resp);
  MHD_destroy_response(resp);
  if (status < 600) atomic_fetch_add(&s->status_count[status], 1);
  return ret;
}

/* Send with extra headers: pairs of name, value, terminated by NULL. */
static enum MHD_Result send_h(api_server *s, struct MHD_Connection *c, unsigned status,
                              const char *ctype, char *body, size_t len, int owned, ...) {
  struct MHD_Response *resp = MHD_create_response_from_buffer(
      len, body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_MUST_COPY);
  if (!resp) {
    if (owned) free(body);
    return MHD_NO;
  }
  if (ctype) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
  MHD_add_response_header(resp, "Cache-Control", "no-store");
  va_list ap;
  va_start(ap, owned);
  for (;;) {
    const char *h = va_arg(ap, const char *);
    if (!h) break;
    const char *v = va_arg(ap, const char *);
    if (v) MHD_add_response_header(resp, h, v);
  }
  va_end(ap);
  enum MHD_Result ret = MHD_queue_response(c, status, resp);
  MHD_destroy_response(resp);
  if (status < 600) atomic_fetch_add(&s->status_count[status], 1);
  return ret;
}

static char *error_body(const char *code, const char *msg_in) {
  /* Messages may quote client bytes: keep the JSON valid UTF-8 (ASCII). */
  char msg[1024];
  size_t k = 0;
  for (const unsigned char *p = (const unsigned char *)msg_in; *p && k + 1 < sizeof msg; p++)
    msg[k++] = (*p >= 0x20 && *p < 0x7f) ? (char)*p : '?';
  msg[k] = '\0';
  cJSON *o = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(o, "error");
  char *txt = NULL;
  if (e && cJSON_AddStringToObject(e, "code", code) && cJSON_AddStringToObject(e, "message", msg))
    txt = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  return txt;
}

static enum MHD_Result verror(api_server *s, struct MHD_Connection *c, unsigned status,
                              const char *code, const char *extra_h, const char *extra_v,
                              const char *fmt, va_list ap) {
  char msg[1024];
  vsnprintf(msg, sizeof msg, fmt, ap);
  char *body = error_body(code, msg);
  if (!body) return api_send(s, c, 500, "application/json", "{}", 2, 0);
  return send_h(s, c, status, "application/json", body, strlen(body), 1, extra_h, extra_v,
                (const char *)NULL);
}

/* Queue a JSON error response; 401 adds WWW-Authenticate, 503 Retry-After. */
enum MHD_Result api_error(api_server *s, struct MHD_Connection *c, unsigned status,
                          const char *code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  const char *h = NULL, *v = NULL;
  if (status == 401) {
    h = "WWW-Authenticate";
    v = "Bearer realm=\"pelmap\"";
  } else if (status == 503) {
    h = "Retry-After";
    v = "1";
  }
  enum MHD_Result r = verror(s, c, status, code, h, v, fmt, ap);
  va_end(ap);
  return r;
}

static enum MHD_Result error_h(api_server *s, struct MHD_Connection *c, unsigned status,
                               const char *code, const char *h, const char *v, const char *fmt,
                               ...) __attribute__((format(printf, 7, 8)));
static enum MHD_Result error_h(api_server *s, struct MHD_Connection *c, unsigned status,
                               const char *code, const char *h, const char *v, const char *fmt,
                               ...) {
  va_list ap;
  va_start(ap, fmt);
  enum MHD_Result r = verror(s, c, status, code, h, v, fmt, ap);
  va_end(ap);
  return r;
}

static enum MHD_Result send_json(api_server *s, struct MHD_Connection *c, unsigned status,
                                 char *owned_json) {
  return api_send(s, c, status, "application/json", owned_json, strlen(owned_json), 1);
}

/* Map a queue failure to a response. */
static enum MHD_Result qerror(api_server *s, struct MHD_Connection *c, jobq *q, int rc) {
  const char *msg = q ? jobq_errmsg(q) : jobq_open_error();
  switch (rc) {
  case JOBQ_ENOTFOUND: return api_error(s, c, 404, "not_found", "%s", msg);
  case JOBQ_ESTALE: return api_error(s, c, 409, "stale_attempt", "%s", msg);
  case JOBQ_ECONFLICT: return api_error(s, c, 409, "conflict", "%s", msg);
  case JOBQ_EEXIST: return api_error(s, c, 409, "conflict", "%s", msg);
  case JOBQ_EINVAL: return api_error(s, c, 400, "bad_request", "%s", msg);
  case JOBQ_ELIMIT:
    return error_h(s, c, 429, "limit_exceeded", "Retry-After", "10", "%s", msg);
  case JOBQ_EBUSY: return api_error(s, c, 503, "busy", "database busy, retry: %s", msg);
  default: return api_error(s, c, 500, "internal", "%s", msg);
  }
}

/* ------------------------------------------------------------------ */
/* Authentication, rate limit, body limit                              */
/* ------------------------------------------------------------------ */

/* Take one token from the user's bucket; 0 if allowed, else seconds to wait. */
static int rate_take(api_server *s, const jobq_user *u) {
  double rate = u->rate_limit > 0 ? u->rate_limit : 1;
  double burst = rate < 1 ? 1 : rate;
  double now = jobq_now();
  int wait = 0;
  size_t n = sizeof s->rl / sizeof s->rl[0];
  size_t h = (size_t)((uint64_t)u->id * UINT64_C(0x9E3779B97F4A7C15) >> 54) % n;
  pthread_mutex_lock(&s->rl_lock);
  size_t i = h;
  for (size_t k = 0; k < n; k++, i = (i + 1) % n) {
    if (s->rl[i].user == u->id || s->rl[i].user == 0) break;
  }
  if (s->rl[i].user != u->id) {
    /* New user (or a full table: reuse the home slot). */
    if (s->rl[i].user != 0) i = h;
    s->rl[i].user = u->id;
    s->rl[i].tokens = burst;
    s->rl[i].last = now;
  }
  double t = s->rl[i].tokens + (now - s->rl[i].last) * rate;
  if (t > burst) t = burst;
  s->rl[i].last = now;
  if (t >= 1) {
    s->rl[i].tokens = t - 1;
  } else {
    s->rl[i].tokens = t;
    wait = (int)ceil((1 - t) / rate);
    if (wait < 1) wait = 1;
  }
  pthread_mutex_unlock(&s->rl_lock);
  return wait;
}

#define AUTH_TTL 5.0

/* jobq_user_auth through a small cache keyed by the token's hash. */
static int auth_cached(api_server *s, jobq *q, const char *token, jobq_user *u) {
  char hash[65];
  jobq_sha256_hex(token, strlen(token), hash);
  size_t n = sizeof s->auth / sizeof s->auth[0];
  size_t slot = 0;
  for (int i = 0; i < 8; i++) slot = slot * 16 + (size_t)(hash[i] <= '9' ? hash[i] - '0' : hash[i] - 'a' + 10);
  slot %= n;
  double now = jobq_now();
  pthread_mutex_lock(&s->auth_lock);
  if (s->auth[slot].expires > now && strcmp(s->auth[slot].hash, hash) == 0) {
    *u = s->auth[slot].user;
    pthread_mutex_unlock(&s->auth_lock);
    return JOBQ_OK;
  }
  pthread_mutex_unlock(&s->auth_lock);
  int rc = jobq_user_auth(q, token, u);
  if (rc == JOBQ_OK) {
    pthread_mutex_lock(&s->auth_lock);
    memcpy(s->auth[slot].hash, hash, sizeof hash);
    s->auth[slot].user = *u;
    s->auth[slot].expires = now + AUTH_TTL;
    pthread_mutex_unlock(&s->auth_lock);
  }
  return rc;
}

static int is_public(const char *url) {
  return strcmp(url, "/healthz") == 0 || strcmp(url, "/metrics") == 0 ||
         strcmp(url, "/api/v1/openapi.json") == 0 || strncmp(url, "/api/", 5) != 0;
}

/* First callback of a request: token, rate limit, Content-Length (server.h).
 * Returns 1 when a response was queued (*ret is its result), else 0. */
int api_precheck(api_server *s, api_req *r, struct MHD_Connection *c, const char *url,
                 const char *method, enum MHD_Result *ret) {
  r->limit = s->max_body;
  if (!is_public(url)) {
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0 || !auth[7]) {
      *ret = api_error(s, c, 401, "unauthorized",
                       "missing token: send the header 'Authorization: Bearer TOKEN'");
      return 1;
    }
    jobq *q = api_q(s);
    if (!q) {
      *ret = api_error(s, c, 503, "unavailable", "database unavailable: %s", jobq_open_error());
      return 1;
    }
    int rc = auth_cached(s, q, auth + 7, &r->user);
    if (rc == JOBQ_EAUTH) {
      *ret = api_error(s, c, 401, "unauthorized", "unknown token");
      return 1;
    }
    if (rc < 0) {
      *ret = qerror(s, c, q, rc);
      return 1;
    }
    r->authed = 1;
    r->owner = r->user.role == JOBQ_ROLE_USER ? r->user.id : 0;
    int wait = rate_take(s, &r->user);
    if (wait > 0) {
      char ra[16];
      snprintf(ra, sizeof ra, "%d", wait);
      *ret = error_h(s, c, 429, "rate_limited", "Retry-After", ra,
                     "more than %g requests per second for user %s", r->user.rate_limit,
                     r->user.name);
      return 1;
    }
    if (r->user.max_upload > 0 && (size_t)r->user.max_upload < r->limit)
      r->limit = (size_t)r->user.max_upload;
  }
  const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
  if (cl) {
    int64_t n = 0;
    if (http_parse_int64(cl, 0, INT64_MAX / 2, &n) < 0) {
      *ret = api_error(s, c, 400, "bad_request", "Content-Length: not a number");
      return 1;
    }
    if ((uint64_t)n > r->limit) {
      *ret = api_error(s, c, 413, "payload_too_large",
                       "request body of %lld bytes is over the limit of %zu bytes", (long long)n,
                       r->limit);
      return 1;
    }
  }
  (void)method;
  return 0;
}

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

static const char *arg(struct MHD_Connection *c, const char *name) {
  return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
}

static const char *header(struct MHD_Connection *c, const char *name) {
  return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

/* limit/offset from the query: 0 ok, or an error response was queued. */
static int page(api_server *s, struct MHD_Connection *c, int64_t *limit, int64_t *offset,
                enum MHD_Result *ret) {
  *limit = API_LIST_DEFAULT;
  *offset = 0;
  const char *l = arg(c, "limit"), *o = arg(c, "offset");
  if (l && http_parse_int64(l, 1, API_LIST_MAX, limit) < 0) {
    *ret = api_error(s, c, 400, "bad_request", "limit: must be an integer from 1 to %d",
                     API_LIST_MAX);
    return -1;
  }
  if (o && http_parse_int64(o, 0, INT64_C(1) << 53, offset) < 0) {
    *ret = api_error(s, c, 400, "bad_request", "offset: must be a non-negative integer");
    return -1;
  }
  return 0;
}

static enum MHD_Result send_list(api_server *s, struct MHD_Connection *c, char *json,
                                 int64_t total) {
  char t[32];
  snprintf(t, sizeof t, "%lld", (long long)total);
  return send_h(s, c, 200, "application/json", json, strlen(json), 1, "X-Total-Count", t,
                (const char *)NULL);
}

/* The body of a file upload: raw (octet-stream, text/plain, form-urlencoded
 * as sent by curl --data-binary, or none) or the file part of a
 * multipart/form-data body.  0, or -1 with a response queued. */
static int upload_body(api_server *s, api_req *r, struct MHD_Connection *c, const char **data,
                       size_t *len, char fname[256], enum MHD_Result *ret) {
  const char *ct = header(c, MHD_HTTP_HEADER_CONTENT_TYPE);
  fname[0] = '\0';
  if (ct && http_media_type_is(ct, "multipart/form-data")) {
    char boundary[256], err[256];
    if (http_header_param(ct, "boundary", boundary, sizeof boundary) < 0) {
      *ret = api_error(s, c, 400, "bad_request", "multipart: Content-Type has no boundary");
      return -1;
    }
    if (http_multipart_file(r->body.s ? r->body.s : "", r->body.n, boundary, data, len, fname, err,
                            sizeof err) < 0) {
      *ret = api_error(s, c, 400, "bad_request", "%s", err);
      return -1;
    }
  } else if (!ct || http_media_type_is(ct, "application/octet-stream") ||
             http_media_type_is(ct, "text/plain") ||
             http_media_type_is(ct, "application/x-www-form-urlencoded")) {
    *data = r->body.s ? r->body.s : "";
    *len = r->body.n;
  } else {
    *ret = api_error(s, c, 415, "unsupported_media_type",
                     "Content-Type %.100s: send the file as application/octet-stream, text/plain "
                     "or multipart/form-data",
                     ct);
    return -1;
  }
  if (*len == 0) {
    *ret = api_error(s, c, 400, "bad_request", "empty upload");
    return -1;
  }
  return 0;
}

/* A display name: the base name, printable ASCII, at most 63 bytes. */
static void clean_name(const char *in, char out[64], const char *fallback) {
  const char *b = in && *in ? in : fallback;
  const char *slash = strrchr(b, '/');
  if (slash && slash[1]) b = slash + 1;
  size_t k = 0;
  for (const char *p = b; *p && k < 63; p++) out[k++] = (*p > 0x20 && *p < 0x7f) ? *p : '_';
  out[k] = '\0';
  if (!k) snprintf(out, 64, "%s", fallback);
}

static int require_json(api_server *s, struct MHD_Connection *c, enum MHD_Result *ret) {
  const char *ct = header(c, MHD_HTTP_HEADER_CONTENT_TYPE);
  if (!ct || !http_media_type_is(ct, "application/json")) {
    *ret = api_error(s, c, 415, "unsupported_media_type",
                     "Content-Type must be application/json (got %.100s)", ct ? ct : "none");
    return -1;
  }
  return 0;
}

/* ------------------------------------------------------------------ */
/* Structures                                                          */
/* ------------------------------------------------------------------ */

static enum MHD_Result structure_upload(api_server *s, api_req *r, struct MHD_Connection *c,
                                        jobq *q) {
  enum MHD_Result ret;
  const char *data;
  size_t len;
  char fname[256], name[64];
  if (upload_body(s, r, c, &data, &len, fname, &ret) < 0) return ret;
  clean_name(arg(c, "name") ? arg(c, "name") : fname, name, "upload");
  eng_format fmt = ENG_FMT_AUTO;
  const char *fa = arg(c, "format");
  if (fa) {
    fmt = eng_format_from_name(fa);
    if (fmt == ENG_FMT_AUTO)
      return api_error(s, c, 415, "unsupported_format",
                       "format: '%.40s' is not one of lammps-data, lammps-dump, extxyz", fa);
  } else {
    fmt = eng_format_sniff(data, len, name);
    if (fmt == ENG_FMT_AUTO)
      return api_error(s, c, 415, "unsupported_format",
                       "cannot tell the format of '%s' (LAMMPS data, LAMMPS dump or extended "
                       "XYZ): give ?format=",
                       name);
  }
  int64_t frame = 0;
  const char *fr = arg(c, "frame");
  if (fr && http_parse_int64(fr, -1, 1000000000, &frame) < 0)
    return api_error(s, c, 400, "bad_request", "frame: must be an integer >= -1");
  const char *types = arg(c, "types");
  if (types && strlen(types) > 200)
    return api_error(s, c, 400, "bad_request", "types: too long");
  eng_read_opts opts = {(int)frame, types, 0};
  eng_system *sys = NULL;
  int erc = eng_read_buffer(data, len, name, fmt, &opts, &sys);
  if (erc != ENG_OK) {
    if (erc == ENG_ENOMEM) return api_error(s, c, 500, "internal", "out of memory");
    return api_error(s, c, 400, "invalid_structure", "%s", eng_last_error());
  }
  char *species = NULL, *box = NULL, *json = NULL;
  cJSON *sp = NULL, *bx = NULL;
  int *counts = NULL;
  if (sys->natoms <= 0) {
    ret = api_error(s, c, 400, "invalid_structure", "%s: no atoms", name);
    goto out;
  }
  if (r->user.max_atoms > 0 && sys->natoms > r->user.max_atoms) {
    ret = api_error(s, c, 413, "too_many_atoms", "%s has %d atoms; your limit is %lld", name,
                    sys->natoms, (long long)r->user.max_atoms);
    goto out;
  }
  counts = calloc((size_t)sys->ntypes + 1, sizeof *counts);
  sp = cJSON_CreateObject();
  bx = cJSON_CreateObject();
  if (!counts || !sp || !bx) {
    ret = api_error(s, c, 500, "internal", "out of memory");
    goto out;
  }
  for (int i = 0; i < 3 * sys->natoms; i++) {
    if (!isfinite(sys->x[i])) {
      ret = api_error(s, c, 400, "invalid_structure", "%s: atom %lld has a non-finite coordinate",
                      name, (long long)sys->id[i / 3]);
      goto out;
    }
  }
  eng_system_type_counts(sys, counts);
  for (int t = 0; t < sys->ntypes; t++) {
    if (!counts[t]) continue;
    const char *nm = sys->type_name[t];
    if (!nm[0]) {
      ret = api_error(s, c, 400, "invalid_structure",
                      "%s: type %d has no species name (give ?types=Cu+Zr or masses)", name, t + 1);
      goto out;
    }
    if (eng_element_mass(nm) <= 0) {
      ret = api_error(s, c, 400, "invalid_structure", "%s: unknown species '%s' (type %d)", name,
                      nm, t + 1);
      goto out;
    }
    cJSON *prev = cJSON_GetObjectItemCaseSensitive(sp, nm);
    if (prev)
      cJSON_SetNumberValue(prev, prev->valuedouble + counts[t]);
    else
      cJSON_AddNumberToObject(sp, nm, counts[t]);
  }
  const eng_box *b = &sys->box;
  double tilt[3] = {b->xy, b->xz, b->yz};
  int per[3] = {b->periodic[0], b->periodic[1], b->periodic[2]};
  cJSON_AddItemToObject(bx, "lo", cJSON_CreateDoubleArray(b->lo, 3));
  cJSON_AddItemToObject(bx, "len", cJSON_CreateDoubleArray(b->len, 3));
  cJSON_AddItemToObject(bx, "tilt", cJSON_CreateDoubleArray(tilt, 3));
  cJSON_AddItemToObject(bx, "periodic", cJSON_CreateIntArray(per, 3));
  cJSON_AddNumberToObject(bx, "volume", eng_box_volume(b));
  species = cJSON_PrintUnformatted(sp);
  box = cJSON_PrintUnformatted(bx);
  if (!species || !box) {
    ret = api_error(s, c, 500, "internal", "out of memory");
    goto out;
  }
  /* The read options are stored with the bytes: every later reader (worker,
   * extxyz export) must read the same atoms as this validation did. */
  jobq_structure_in in = {r->user.id, name, eng_format_name(fmt), data, len, sys->natoms,
                          species, box, types, (int)frame};
  int64_t id = 0;
  int existed = 0;
  int rc = jobq_structure_add(q, &in, &id, &existed);
  if (rc < 0) {
    ret = qerror(s, c, q, rc);
    goto out;
  }
  rc = jobq_structure_json(q, id, 0, &json);
  if (rc < 0) {
    ret = qerror(s, c, q, rc);
    goto out;
  }
  char loc[64];
  snprintf(loc, sizeof loc, "/api/v1/structures/%lld", (long long)id);
  ret = send_h(s, c, existed ? 200 : 201, "application/json", json, strlen(json), 1, "Location",
               loc, (const char *)NULL);
  json = NULL;
out:
  free(counts);
  free(species);
  free(box);
  free(json);
  cJSON_Delete(sp);
  cJSON_Delete(bx);
  eng_system_free(sys);
  return ret;
}

/* The stored bytes; types (NULL/"" = none) and frame (0 = none) are the
 * structure's read options, sent as X-Pelmap-Types / X-Pelmap-Frame. */
static enum MHD_Result send_blob(api_server *s, struct MHD_Connection *c, char *data, size_t len,
                                 const char *name, const char *fmt, const char *types,
                                 int frame) {
  char disp[128], fr[16];
  snprintf(disp, sizeof disp, "attachment; filename=\"%s\"", name);
  snprintf(fr, sizeof fr, "%d", frame);
  return send_h(s, c, 200, "application/octet-stream", data, len, 1, "X-Pelmap-Name", name,
                "X-Pelmap-Format", fmt, "X-Pelmap-Types", types && types[0] ? types : NULL,
                "X-Pelmap-Frame", frame != 0 ? fr : NULL, "Content-Disposition", disp,
                (const char *)NULL);
}

/* ------------------------------------------------------------------ */
/* Potentials                                                          */
/* ------------------------------------------------------------------ */

static enum MHD_Result potential_upload(api_server *s, api_req *r, struct MHD_Connection *c,
                                        jobq *q) {
  enum MHD_Result ret;
  const char *data;
  size_t len;
  char fname[256], name[64];
  if (upload_body(s, r, c, &data, &len, fname, &ret) < 0) return ret;
  clean_name(arg(c, "name") ? arg(c, "name") : fname, name, "upload");
  eng_pot_style style = ENG_POT_AUTO;
  const char *st = arg(c, "style");
  if (st) {
    if (strcmp(st, "eam/fs") == 0)
      style = ENG_POT_EAM_FS;
    else if (strcmp(st, "eam/alloy") == 0)
      style = ENG_POT_EAM_ALLOY;
    else if (strcmp(st, "eam") == 0)
      style = ENG_POT_EAM_FUNCFL;
    else
      return api_error(s, c, 415, "unsupported_format",
                       "style: '%.40s' is not one of eam/fs, eam/alloy, eam", st);
  }
  eng_potential *pot = NULL;
  int erc = eng_potential_read_buffer(data, len, name, style, &pot);
  if (erc != ENG_OK) {
    if (erc == ENG_ENOMEM) return api_error(s, c, 500, "internal", "out of memory");
    return api_error(s, c, 400, "invalid_potential", "%s", eng_last_error());
  }
  cJSON *el = cJSON_CreateArray();
  for (int k = 0; el && k < eng_potential_nelements(pot); k++)
    cJSON_AddItemToArray(el, cJSON_CreateString(eng_potential_element(pot, k)));
  char *elements = el ? cJSON_PrintUnformatted(el) : NULL;
  cJSON_Delete(el);
  char *json = NULL;
  if (!elements) {
    ret = api_error(s, c, 500, "internal", "out of memory");
    goto out;
  }
  jobq_potential_in in = {r->user.id, name, eng_pot_style_name(eng_potential_style(pot)), elements,
                          eng_potential_cutoff(pot), data, len, 0};
  int64_t id = 0;
  int existed = 0;
  int rc = jobq_potential_add(q, &in, &id, &existed);
  if (rc >= 0) rc = jobq_potential_json(q, id, 0, &json);
  if (rc < 0) {
    ret = qerror(s, c, q, rc);
    goto out;
  }
  char loc[64];
  snprintf(loc, sizeof loc, "/api/v1/potentials/%lld", (long long)id);
  ret = send_h(s, c, existed ? 200 : 201, "application/json", json, strlen(json), 1, "Location",
               loc, (const char *)NULL);
  json = NULL;
out:
  free(elements);
  free(json);
  eng_potential_free(pot);
  return ret;
}

/* ------------------------------------------------------------------ */
/* Jobs                                                                */
/* ------------------------------------------------------------------ */

/* Expand a kind with a plan into its job graph (kind_graph_expand on the
 * stored structure, read as the worker will read it) and queue every job
 * in one transaction.  *root gets the top job's id.  Returns a jobq code,
 * or 1 with a 400/500 response already queued in *ret. */
static int submit_graph(api_server *s, struct MHD_Connection *c, jobq *q, const kind_def *kd,
                        const jobq_submit_in *in, int64_t owner, int64_t *root, int *existed,
                        enum MHD_Result *ret) {
  char *sdata = NULL, *pdata = NULL, sname[64] = "", sfmt[32] = "", pname[64] = "",
       pstyle[32] = "", types[256] = "", err[1024];
  size_t slen = 0, plen = 0;
  int frame = 0, rc = JOBQ_OK, krc;
  cJSON *params = NULL;
  kind_graph g;
  jobq_graph_node *nodes = NULL;
  char **ptxt = NULL;
  memset(&g, 0, sizeof g);
  if (in->structure_id > 0) {
    rc = jobq_structure_blob_for(q, in->structure_id, owner, &sdata, &slen, sname, sfmt);
    if (rc >= 0) rc = jobq_structure_read_opts(q, in->structure_id, types, &frame);
    if (rc >= 0 && in->potential_id > 0)
      rc = jobq_potential_blob_for(q, in->potential_id, owner, &pdata, &plen, pname, pstyle);
    if (rc < 0) goto out;
  }
  params = cJSON_Parse(in->params_json ? in->params_json : "{}");
  if (!params) {
    rc = 1;
    *ret = api_error(s, c, 500, "internal", "out of memory");
    goto out;
  }
  kind_io io;
  memset(&io, 0, sizeof io);
  io.structure_data = sdata;
  io.structure_len = slen;
  io.structure_name = sname;
  io.structure_format = sfmt[0] ? sfmt : NULL;
  io.type_names = types[0] ? types : NULL;
  io.frame = frame;
  io.potential_data = pdata;
  io.potential_len = plen;
  io.potential_name = pname;
  io.potential_style = pstyle[0] ? pstyle : NULL;
  krc = kind_graph_expand(kd, params, &io, &g, err, sizeof err);
  if (krc) {
    rc = 1;
    *ret = krc == KIND_ENOMEM ? api_error(s, c, 500, "internal", "%s", err)
                              : api_error(s, c, 400, "bad_request", "%s", err);
    goto out;
  }
  nodes = calloc((size_t)g.n, sizeof *nodes);
  ptxt = calloc((size_t)g.n, sizeof *ptxt);
  if (!nodes || !ptxt) goto nomem;
  for (int i = 0; i < g.n; i++) {
    const kind_graph_node *nd = &g.nodes[i];
    ptxt[i] = cJSON_PrintUnformatted(nd->params);
    if (!ptxt[i]) goto nomem;
    nodes[i].kind = nd->kind->name;
    nodes[i].params_json = ptxt[i];
    nodes[i].label = nd->label;
    nodes[i].parent = nd->parent;
    nodes[i].after = nd->after;
    nodes[i].nafter = nd->nafter;
    nodes[i].inputs = nd->inputs;
    nodes[i].ninputs = nd->ninputs;
    nodes[i].structure_from = nd->structure_from;
  }
  rc = jobq_submit_graph(q, in, nodes, g.n, NULL, root, existed);
  goto out;
nomem:
  rc = 1;
  *ret = api_error(s, c, 500, "internal", "out of memory");
out:
  for (int i = 0; ptxt && i < g.n; i++) free(ptxt[i]);
  free(ptxt);
  free(nodes);
  kind_graph_free(&g);
  cJSON_Delete(params);
  free(sdata);
  free(pdata);
  return rc;
}

static enum MHD_Result job_submit(api_server *s, api_req *r, struct MHD_Connection *c, jobq *q) {
  enum MHD_Result ret;
  if (require_json(s, c, &ret) < 0) return ret;
  api_submit sub;
  char err[512];
  if (api_submit_parse(r->body.s ? r->body.s : "", r->body.n, &sub, err, sizeof err) < 0)
    return api_error(s, c, 400, "bad_request", "%s", err);
  const char *idem = header(c, "Idempotency-Key");
  if (idem && (!*idem || strlen(idem) > 128)) {
    api_submit_clear(&sub);
    return api_error(s, c, 400, "bad_request", "Idempotency-Key: 1 to 128 characters");
  }
  if (sub.needs_potential && !sub.potential) {
    int rc = jobq_potential_default(q, &sub.potential);
    if (rc < 0) {
      api_submit_clear(&sub);
      return api_error(s, c, 400, "bad_request",
                       "potential: required (no default potential is registered)");
    }
  }
  jobq_submit_in in = {0};
  in.user_id = r->user.id;
  in.kind = sub.kind;
  in.params_json = sub.params_json;
  in.structure_id = sub.structure;
  in.potential_id = sub.potential;
  in.parent_id = sub.parent;
  in.run_after = sub.run_after;
  in.nrun_after = sub.nrun_after;
  in.priority = sub.priority;
  in.max_attempts = sub.max_attempts;
  in.idempotency_key = idem;
  in.max_queued = r->user.max_queued;
  in.see_all = r->user.role == JOBQ_ROLE_ADMIN;
  int64_t id = 0;
  int existed = 0, rc;
  const kind_def *kd = kind_find(sub.kind);
  if (kd && kd->plan) {
    enum MHD_Result gret = MHD_NO;
    rc = submit_graph(s, c, q, kd, &in, r->owner, &id, &existed, &gret);
    if (rc == 1) {
      api_submit_clear(&sub);
      return gret;
    }
  } else {
    rc = jobq_submit(q, &in, &id, &existed);
  }
  api_submit_clear(&sub);
  if (rc < 0) return qerror(s, c, q, rc);
  char *json = NULL;
  rc = jobq_job_json(q, id, 0, &json);
  if (rc < 0) return qerror(s, c, q, rc);
  char loc[64];
  snprintf(loc, sizeof loc, "/api/v1/jobs/%lld", (long long)id);
  return send_h(s, c, existed ? 200 : 201, "application/json", json, strlen(json), 1, "Location",
                loc, (const char *)NULL);
}

static enum MHD_Result job_list(api_server *s, api_req *r, struct MHD_Connection *c, jobq *q) {
  enum MHD_Result ret;
  int64_t limit, offset, structure = 0;
  if (page(s, c, &limit, &offset, &ret) < 0) return ret;
  const char *state = arg(c, "state"), *kind = arg(c, "kind"), *st = arg(c, "structure");
  const char *par = arg(c, "parent");
  int64_t parent = -1;
  if (par && strcmp(par, "none") == 0)
    parent = 0;
  else if (par && http_parse_int64(par, 1, INT64_C(1) << 53, &parent) < 0)
    return api_error(s, c, 400, "bad_request", "parent: must be a job id or none");
  if (state && strcmp(state, "queued") && strcmp(state, "running") && strcmp(state, "succeeded") &&
      strcmp(state, "failed") && strcmp(state, "cancelled"))
    return api_error(s, c, 400, "bad_request",
                     "state: must be queued, running, succeeded, failed or cancelled");
  if (kind && strlen(kind) > 31) return api_error(s, c, 400, "bad_request", "kind: too long");
  if (st && http_parse_int64(st, 1, INT64_C(1) << 53, &structure) < 0)
    return api_error(s, c, 400, "bad_request", "structure: must be a structure id");
  char *json = NULL;
  int64_t total = 0;
  int rc = jobq_job_list(q, r->owner, state, kind, structure, parent, limit, offset, &json,
                         &total);
  if (rc < 0) return qerror(s, c, q, rc);
  return send_list(s, c, json, total);
}

/* CSV of result.per_atom: id, then every other key. */
static enum MHD_Result result_csv(api_server *s, struct MHD_Connection *c, const cJSON *res) {
  const cJSON *pa = cJSON_GetObjectItemCaseSensitive(res, "per_atom");
  const cJSON *ids = pa ? cJSON_GetObjectItemCaseSensitive(pa, "id") : NULL;
  if (!cJSON_IsObject(pa) || !cJSON_IsArray(ids))
    return api_error(s, c, 404, "not_found", "this result has no per-atom table");
  int n = cJSON_GetArraySize(ids);
  const cJSON *cols[64];
  int ncol = 0;
  cols[ncol++] = ids;
  const cJSON *e;
  cJSON_ArrayForEach(e, pa) {
    if (e != ids && cJSON_IsArray(e) && cJSON_GetArraySize(e) == n && ncol < 64) cols[ncol++] = e;
  }
  http_buf b = {0};
  for (int k = 0; k < ncol; k++) {
    if (k) http_buf_add(&b, ",", 1);
    http_csv_field(&b, cols[k]->string);
  }
  http_buf_add(&b, "\n", 1);
  /* Walk the arrays in step (cJSON arrays are linked lists). */
  const cJSON *cur[64];
  for (int k = 0; k < ncol; k++) cur[k] = cols[k]->child;
  for (int i = 0; i < n && !b.oom; i++) {
    for (int k = 0; k < ncol; k++) {
      if (k) http_buf_add(&b, ",", 1);
      const cJSON *v = cur[k];
      if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d == floor(d) && fabs(d) < 1e15)
          http_buf_printf(&b, "%.0f", d);
        else
          http_buf_printf(&b, "%.17g", d);
      } else if (cJSON_IsString(v)) {
        http_csv_field(&b, v->valuestring);
      }
      cur[k] = v ? v->next : NULL;
    }
    http_buf_add(&b, "\n", 1);
  }
  if (b.oom || !b.s) {
    free(b.s);
    return api_error(s, c, 500, "internal", "out of memory");
  }
  return api_send(s, c, 200, "text/csv; charset=utf-8", b.s, b.n, 1);
}

/* extxyz of the job's structure with the result applied. */
static enum MHD_Result result_extxyz(api_server *s, struct MHD_Connection *c, jobq *q,
                                     int64_t structure, const cJSON *res) {
  if (!structure) return api_error(s, c, 404, "not_found", "the job has no structure (any more)");
  char *data = NULL, name[64], fmt[32];
  size_t len = 0;
  char types[256];
  int frame = 0;
  int rc = jobq_structure_blob(q, structure, &data, &len, name, fmt);
  if (rc < 0) return qerror(s, c, q, rc);
  eng_system *sys = NULL;
  enum MHD_Result ret;
  char *out = NULL;
  size_t outlen = 0;
  FILE *f = NULL;
  rc = jobq_structure_read_opts(q, structure, types, &frame);
  if (rc < 0) {
    ret = qerror(s, c, q, rc);
    goto out;
  }
  /* Read the bytes as the upload (and the worker) did. */
  eng_read_opts ro = {frame, types[0] ? types : NULL, 0};
  if (eng_read_buffer(data, len, name, eng_format_from_name(fmt), &ro, &sys) != ENG_OK) {
    ret = api_error(s, c, 500, "internal", "stored structure unreadable: %s", eng_last_error());
    goto out;
  }
  char err[256];
  if (kind_apply_result(sys, res, err, sizeof err) != 0) {
    ret = api_error(s, c, 409, "conflict", "result does not fit the structure: %s", err);
    goto out;
  }
  f = open_memstream(&out, &outlen);
  if (!f || eng_write_stream(f, ENG_FMT_EXTXYZ, sys) != ENG_OK) {
    ret = api_error(s, c, 500, "internal", "cannot write extxyz: %s", eng_last_error());
    goto out;
  }
  fclose(f);
  f = NULL;
  ret = api_send(s, c, 200, "chemical/x-extxyz", out, outlen, 1);
  out = NULL;
out:
  if (f) fclose(f);
  free(out);
  free(data);
  eng_system_free(sys);
  return ret;
}

static enum MHD_Result job_result(api_server *s, api_req *r, struct MHD_Connection *c, jobq *q,
                                  int64_t id) {
  const char *fmt = arg(c, "format");
  if (fmt && strcmp(fmt, "json") && strcmp(fmt, "csv") && strcmp(fmt, "extxyz"))
    return api_error(s, c, 415, "unsupported_format", "format: '%.40s' is not json, csv or extxyz",
                     fmt);
  char *json = NULL;
  int rc = jobq_result_json(q, id, r->owner, &json);
  if (rc < 0) return qerror(s, c, q, rc);
  if (!fmt || strcmp(fmt, "json") == 0) return send_json(s, c, 200, json);
  cJSON *res = cJSON_Parse(json);
  free(json);
  if (!res) return api_error(s, c, 500, "internal", "stored result is not JSON");
  enum MHD_Result ret;
  if (strcmp(fmt, "csv") == 0) {
    ret = result_csv(s, c, res);
  } else {
    int64_t structure = 0;
    rc = jobq_job_state(q, id, r->owner, NULL, &structure);
    ret = rc < 0 ? qerror(s, c, q, rc) : result_extxyz(s, c, q, structure, res);
  }
  cJSON_Delete(res);
  return ret;
}

/* ------------------------------------------------------------------ */
/* Worker routes                                                       */
/* ------------------------------------------------------------------ */

static int is_worker(const api_req *r) {
  return r->user.role == JOBQ_ROLE_WORKER || r->user.role == JOBQ_ROLE_ADMIN;
}

static enum MHD_Result worker_claim(api_server *s, api_req *r, struct MHD_Connection *c,
                                    jobq *q) {
  enum MHD_Result ret;
  if (require_json(s, c, &ret) < 0) return ret;
  api_worker_req w;
  char err[512];
  if (api_worker_parse(API_W_CLAIM, r->body.s ? r->body.s : "", r->body.n, &w, err, sizeof err) < 0)
    return api_error(s, c, 400, "bad_request", "%s", err);
  const char *kinds[16];
  for (int i = 0; i < w.nkinds; i++) kinds[i] = w.kinds[i];
  jobq_job j = {0};
  int rc = jobq_claim(q, w.worker, kinds, w.nkinds, w.lease, &j);
  api_worker_clear(&w);
  if (rc < 0) return qerror(s, c, q, rc);
  if (rc == 0) return api_send(s, c, 204, NULL, "", 0, 0);
  char buf[256];
  http_buf b = {0};
  http_buf_printf(&b, "{\"job\":{\"id\":%lld,\"kind\":\"%s\",\"attempt\":%d,\"user\":%lld,",
                  (long long)j.id, j.kind, j.attempt, (long long)j.user_id);
  http_buf_add(&b, "\"structure\":", 12);
  snprintf(buf, sizeof buf, j.structure_id ? "%lld" : "null", (long long)j.structure_id);
  http_buf_add(&b, buf, strlen(buf));
  http_buf_add(&b, ",\"potential\":", 13);
  snprintf(buf, sizeof buf, j.potential_id ? "%lld" : "null", (long long)j.potential_id);
  http_buf_add(&b, buf, strlen(buf));
  http_buf_add(&b, ",\"parent\":", 10);
  snprintf(buf, sizeof buf, j.parent_id ? "%lld" : "null", (long long)j.parent_id);
  http_buf_add(&b, buf, strlen(buf));
  http_buf_add(&b, ",\"structure_from\":", 18);
  snprintf(buf, sizeof buf, j.structure_from ? "%lld" : "null", (long long)j.structure_from);
  http_buf_add(&b, buf, strlen(buf));
  http_buf_printf(&b, ",\"inputs\":%d", j.ninputs);
  http_buf_add(&b, ",\"params\":", 10);
  http_buf_add(&b, j.params_json, strlen(j.params_json));
  http_buf_printf(&b, ",\"lease_expires\":%.3f}}", j.lease_expires);
  jobq_job_clear(&j);
  if (b.oom) {
    free(b.s);
    return api_error(s, c, 500, "internal", "out of memory");
  }
  return api_send(s, c, 200, "application/json", b.s, b.n, 1);
}

static enum MHD_Result worker_call(api_server *s, api_req *r, struct MHD_Connection *c, jobq *q,
                                   int what, int64_t id) {
  enum MHD_Result ret;
  if (require_json(s, c, &ret) < 0) return ret;
  api_worker_req w;
  char err[512];
  if (api_worker_parse(what, r->body.s ? r->body.s : "", r->body.n, &w, err, sizeof err) < 0)
    return api_error(s, c, 400, "bad_request", "%s", err);
  int rc, cancel = 0;
  char buf[128];
  if (what == API_W_HEARTBEAT) {
    rc = jobq_heartbeat(q, id, w.attempt, w.progress, w.has_message ? w.message : NULL, w.lease,
                        &cancel);
    snprintf(buf, sizeof buf, "{\"cancel\":%s,\"lease_expires\":%.3f}", cancel ? "true" : "false",
             jobq_now() + w.lease);
  } else if (what == API_W_COMPLETE) {
    rc = jobq_complete(q, id, w.attempt, w.result_json);
    snprintf(buf, sizeof buf, "{\"ok\":true}");
  } else {
    rc = jobq_fail(q, id, w.attempt, w.error, w.retryable);
    snprintf(buf, sizeof buf, "{\"ok\":true}");
  }
  api_worker_clear(&w);
  if (rc < 0) return qerror(s, c, q, rc);
  return api_send(s, c, 200, "application/json", buf, strlen(buf), 0);
}

/* GET /api/v1/jobs/{id}/inputs, streamed: {"structure_result": R|null,
 * "inputs": [R, ...]} with each stored result text copied out one at a
 * time (a fan-out parent's inputs may add up to ~100 MB). */
typedef struct inputs_stream {
  api_server *s;
  int64_t *ids;   /* input job ids, in order */
  int n, next;    /* next = index of the next input to send */
  int64_t sf;     /* structure_from job, 0 = none */
  int stage;      /* 0 head, 1 structure_result, 2 ",\"inputs\":[", 3 inputs and tail, 4 end */
  int comma;      /* the comma before input `next` was sent */
  char *cur;      /* piece being sent (malloc'd, or a literal when lit) */
  size_t len, pos;
  int lit;
} inputs_stream;

static void inputs_stream_free(void *cls) {
  inputs_stream *st = cls;
  if (!st) return;
  if (!st->lit) free(st->cur);
  free(st->ids);
  free(st);
}

/* Make the next piece current; 0 ok, 1 at the end, -1 on error. */
static int inputs_next_piece(inputs_stream *st) {
  jobq *q;
  if (!st->lit) free(st->cur);
  st->cur = NULL;
  st->len = st->pos = 0;
  st->lit = 1;
  switch (st->stage) {
  case 0:
    st->cur = (char *)"{\"structure_result\":";
    st->stage = 1;
    break;
  case 1:
    st->stage = 2;
    if (!st->sf) {
      st->cur = (char *)"null";
      break;
    }
    q = api_q(st->s);
    if (!q || jobq_result_json(q, st->sf, 0, &st->cur) < 0) return -1;
    st->lit = 0;
    break;
  case 2:
    st->cur = (char *)",\"inputs\":[";
    st->stage = 3;
    break;
  case 3:
    if (st->next >= st->n) {
      st->cur = (char *)"]}";
      st->stage = 4;
      break;
    }
    if (st->next > 0 && !st->comma) { /* a comma before every input but the first */
      st->cur = (char *)",";
      st->comma = 1;
      break;
    }
    q = api_q(st->s);
    if (!q || jobq_result_json(q, st->ids[st->next], 0, &st->cur) < 0) return -1;
    st->lit = 0;
    st->next++;
    st->comma = 0;
    break;
  default:
    return 1;
  }
  st->len = strlen(st->cur);
  return 0;
}

static ssize_t inputs_reader(void *cls, uint64_t pos, char *buf, size_t max) {
  inputs_stream *st = cls;
  size_t n = 0;
  (void)pos;
  while (n < max) {
    if (st->pos == st->len) {
      int r = inputs_next_piece(st);
      if (r < 0) return MHD_CONTENT_READER_END_WITH_ERROR;
      if (r > 0) break;
      continue;
    }
    size_t k = st->len - st->pos;
    if (k > max - n) k = max - n;
    memcpy(buf + n, st->cur + st->pos, k);
    st->pos += k;
    n += k;
  }
  if (n == 0) return MHD_CONTENT_READER_END_OF_STREAM;
  return (ssize_t)n;
}

static enum MHD_Result job_inputs(api_server *s, struct MHD_Connection *c, jobq *q, int64_t id) {
  inputs_stream *st = calloc(1, sizeof *st);
  if (!st) return api_error(s, c, 500, "internal", "out of memory");
  st->s = s;
  st->lit = 1;
  int rc = jobq_job_inputs(q, id, &st->ids, &st->n, &st->sf);
  if (rc < 0) {
    inputs_stream_free(st);
    return qerror(s, c, q, rc);
  }
  /* every input must have its result before anything is sent */
  for (int i = -1; i < st->n; i++) {
    int64_t jid = i < 0 ? st->sf : st->ids[i];
    char state[16];
    if (!jid) continue;
    rc = jobq_job_state(q, jid, 0, state, NULL);
    if (rc < 0 || strcmp(state, "succeeded") != 0) {
      inputs_stream_free(st);
      if (rc < 0) return qerror(s, c, q, rc);
      return api_error(s, c, 409, "conflict", "input job %lld is %s, not succeeded",
                       (long long)jid, state);
    }
  }
  struct MHD_Response *resp =
      MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, inputs_reader, st,
                                        inputs_stream_free);
  if (!resp) {
    inputs_stream_free(st);
    return MHD_NO;
  }
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
  MHD_add_response_header(resp, "Cache-Control", "no-store");
  enum MHD_Result ret = MHD_queue_response(c, 200, resp);
  MHD_destroy_response(resp);
  atomic_fetch_add(&s->status_count[200], 1);
  return ret;
}

/* ------------------------------------------------------------------ */
/* Other routes                                                        */
/* ------------------------------------------------------------------ */

static enum MHD_Result kinds_list(api_server *s, struct MHD_Connection *c) {
  cJSON *a = cJSON_CreateArray();
  for (int i = 0; a && kind_at(i); i++) {
    const kind_def *k = kind_at(i);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", k->name);
    cJSON_AddStringToObject(o, "summary", k->summary ? k->summary : "");
    cJSON *schema = k->params_schema_json ? cJSON_Parse(k->params_schema_json) : NULL;
    cJSON_AddItemToObject(o, "params_schema", schema ? schema : cJSON_CreateNull());
    cJSON_AddBoolToObject(o, "needs_structure", (k->flags & KIND_NEEDS_STRUCTURE) != 0);
    cJSON_AddBoolToObject(o, "needs_potential", (k->flags & KIND_NEEDS_POTENTIAL) != 0);
    cJSON_AddItemToArray(a, o);
  }
  char *txt = a ? cJSON_PrintUnformatted(a) : NULL;
  cJSON_Delete(a);
  if (!txt) return api_error(s, c, 500, "internal", "out of memory");
  return send_json(s, c, 200, txt);
}

static enum MHD_Result metrics(api_server *s, struct MHD_Connection *c, jobq *q) {
  char *txt = NULL;
  int rc = jobq_metrics_text(q, &txt);
  if (rc < 0) return qerror(s, c, q, rc);
  http_buf b = {0};
  http_buf_add(&b, txt, strlen(txt));
  free(txt);
  http_buf_printf(&b, "# HELP pelmap_http_requests_total HTTP requests answered, by status.\n"
                      "# TYPE pelmap_http_requests_total counter\n");
  for (int i = 100; i < 600; i++) {
    unsigned long n = atomic_load(&s->status_count[i]);
    if (n) http_buf_printf(&b, "pelmap_http_requests_total{code=\"%d\"} %lu\n", i, n);
  }
  http_buf_printf(&b, "# HELP pelmap_uptime_seconds Seconds since pelmapd started.\n"
                      "# TYPE pelmap_uptime_seconds gauge\npelmap_uptime_seconds %.0f\n",
                  jobq_now() - s->started);
  if (b.oom) {
    free(b.s);
    return api_error(s, c, 500, "internal", "out of memory");
  }
  return api_send(s, c, 200, "text/plain; version=0.0.4; charset=utf-8", b.s, b.n, 1);
}

static enum MHD_Result method_not_allowed(api_server *s, struct MHD_Connection *c,
                                          const char *allow, const char *method) {
  return error_h(s, c, 405, "method_not_allowed", "Allow", allow, "%s is not allowed here (use %s)",
                 method, allow);
}

/* Static files under --web. */
static enum MHD_Result static_file(api_server *s, struct MHD_Connection *c, const char *url);

/* Dispatch a complete request to its route; every path queues a response
 * (or returns MHD_NO when even that failed). */
enum MHD_Result api_route(api_server *s, api_req *r, struct MHD_Connection *c, const char *url,
                          const char *method) {
  int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
  int post = strcmp(method, "POST") == 0, del = strcmp(method, "DELETE") == 0;
  if (r->overflow)
    return api_error(s, c, 413, "payload_too_large", "request body over the limit of %zu bytes",
                     r->limit);
  if (strcmp(url, "/healthz") == 0) {
    if (!get) return method_not_allowed(s, c, "GET", method);
    jobq *q = api_q(s);
    int v = q ? jobq_schema_version(q) : -1;
    if (v < 0) return api_error(s, c, 503, "unavailable", "database unavailable");
    char buf[96];
    snprintf(buf, sizeof buf, "{\"status\":\"ok\",\"schema\":%d,\"version\":\"%s\"}", v,
             PACKAGE_VERSION);
    return api_send(s, c, 200, "application/json", buf, strlen(buf), 0);
  }
  if (strcmp(url, "/metrics") == 0) {
    if (!get) return method_not_allowed(s, c, "GET", method);
    jobq *q = api_q(s);
    if (!q) return api_error(s, c, 503, "unavailable", "database unavailable");
    return metrics(s, c, q);
  }
  if (strncmp(url, "/api/", 5) != 0) {
    if (!get) return method_not_allowed(s, c, "GET", method);
    return static_file(s, c, url);
  }
  if (strcmp(url, "/api/v1/openapi.json") == 0) {
    if (!get) return method_not_allowed(s, c, "GET", method);
    const char *o = api_openapi_json();
    return api_send(s, c, 200, "application/json", (char *)o, strlen(o), 0);
  }
  http_path p;
  if (http_path_split(url, &p) < 0 || p.nseg < 3 || strcmp(p.seg[0], "api") ||
      strcmp(p.seg[1], "v1"))
    return api_error(s, c, 404, "not_found", "no such route");
  jobq *q = api_q(s);
  if (!q) return api_error(s, c, 503, "unavailable", "database unavailable");
  const char *coll = p.seg[2];
  int64_t id = 0;
  if (p.nseg >= 4 && http_parse_int64(p.seg[3], 1, INT64_C(1) << 53, &id) < 0 &&
      strcmp(coll, "worker") != 0)
    return api_error(s, c, 404, "not_found", "'%.40s' is not an id", p.seg[3]);
  const char *sub = p.nseg >= 5 ? p.seg[4] : NULL;
  if (p.nseg > 5) return api_error(s, c, 404, "not_found", "no such route");
  int rc;
  char *json = NULL;

  if (strcmp(coll, "me") == 0 && p.nseg == 3) {
    if (!get) return method_not_allowed(s, c, "GET", method);
    char buf[512];
    snprintf(buf, sizeof buf,
             "{\"id\":%lld,\"name\":\"%s\",\"role\":\"%s\",\"limits\":{\"max_upload\":%lld,"
             "\"max_atoms\":%lld,\"max_queued\":%lld,\"rate_limit\":%g}}",
             (long long)r->user.id, r->user.name, jobq_role_name(r->user.role),
             (long long)r->user.max_upload, (long long)r->user.max_atoms,
             (long long)r->user.max_queued, r->user.rate_limit);
    return api_send(s, c, 200, "application/json", buf, strlen(buf), 0);
  }
  if (strcmp(coll, "kinds") == 0 && p.nseg == 3) {
    if (!get) return method_not_allowed(s, c, "GET", method);
    return kinds_list(s, c);
  }
  if (strcmp(coll, "structures") == 0 || strcmp(coll, "potentials") == 0) {
    int is_s = coll[0] == 's';
    if (p.nseg == 3) {
      if (post) return is_s ? structure_upload(s, r, c, q) : potential_upload(s, r, c, q);
      if (!get) return method_not_allowed(s, c, "GET, POST", method);
      enum MHD_Result ret;
      int64_t limit, offset, total = 0;
      if (page(s, c, &limit, &offset, &ret) < 0) return ret;
      rc = is_s ? jobq_structure_list(q, r->owner, limit, offset, &json, &total)
                : jobq_potential_list(q, r->owner, limit, offset, &json, &total);
      if (rc < 0) return qerror(s, c, q, rc);
      return send_list(s, c, json, total);
    }
    if (p.nseg == 4) {
      if (del) {
        /* Deleting needs ownership (or admin), not just visibility. */
        int64_t own = r->user.role == JOBQ_ROLE_ADMIN ? 0 : r->user.id;
        rc = is_s ? jobq_structure_delete(q, id, own) : jobq_potential_delete(q, id, own);
        if (rc < 0) return qerror(s, c, q, rc);
        return api_send(s, c, 204, NULL, "", 0, 0);
      }
      if (!get) return method_not_allowed(s, c, "GET, DELETE", method);
      rc = is_s ? jobq_structure_json(q, id, r->owner, &json)
                : jobq_potential_json(q, id, r->owner, &json);
      if (rc < 0) return qerror(s, c, q, rc);
      return send_json(s, c, 200, json);
    }
    if (strcmp(sub, "file") == 0) {
      if (!get) return method_not_allowed(s, c, "GET", method);
      char *data = NULL, name[64], fmt[32];
      size_t len = 0;
      char types[256] = "";
      int frame = 0;
      rc = is_s ? jobq_structure_blob_for(q, id, r->owner, &data, &len, name, fmt)
                : jobq_potential_blob_for(q, id, r->owner, &data, &len, name, fmt);
      if (rc == 0 && is_s) {
        rc = jobq_structure_read_opts(q, id, types, &frame);
        if (rc < 0) free(data);
      }
      if (rc < 0) return qerror(s, c, q, rc);
      return send_blob(s, c, data, len, name, fmt, types, frame);
    }
    return api_error(s, c, 404, "not_found", "no such route");
  }
  if (strcmp(coll, "jobs") == 0) {
    if (p.nseg == 3) {
      if (post) return job_submit(s, r, c, q);
      if (!get) return method_not_allowed(s, c, "GET, POST", method);
      return job_list(s, r, c, q);
    }
    if (p.nseg == 4) {
      if (!get) return method_not_allowed(s, c, "GET", method);
      rc = jobq_job_json(q, id, r->owner, &json);
      if (rc < 0) return qerror(s, c, q, rc);
      return send_json(s, c, 200, json);
    }
    if (strcmp(sub, "events") == 0) {
      if (!get) return method_not_allowed(s, c, "GET", method);
      rc = jobq_events_json(q, id, r->owner, &json);
      if (rc < 0) return qerror(s, c, q, rc);
      return send_json(s, c, 200, json);
    }
    if (strcmp(sub, "result") == 0) {
      if (!get) return method_not_allowed(s, c, "GET", method);
      return job_result(s, r, c, q, id);
    }
    if (strcmp(sub, "children") == 0) {
      if (!get) return method_not_allowed(s, c, "GET", method);
      enum MHD_Result ret;
      int64_t limit, offset, total = 0;
      if (page(s, c, &limit, &offset, &ret) < 0) return ret;
      rc = jobq_job_children(q, id, r->owner, limit, offset, &json, &total);
      if (rc < 0) return qerror(s, c, q, rc);
      return send_list(s, c, json, total);
    }
    if (strcmp(sub, "inputs") == 0) {
      if (!get) return method_not_allowed(s, c, "GET", method);
      if (!is_worker(r))
        return api_error(s, c, 403, "forbidden", "inputs needs a worker or admin token");
      return job_inputs(s, c, q, id);
    }
    if (strcmp(sub, "cancel") == 0) {
      if (!post) return method_not_allowed(s, c, "POST", method);
      rc = jobq_cancel(q, id, r->user.role == JOBQ_ROLE_ADMIN ? 0 : r->user.id, NULL);
      if (rc < 0) return qerror(s, c, q, rc);
      rc = jobq_job_json(q, id, r->owner, &json);
      if (rc < 0) return qerror(s, c, q, rc);
      return send_json(s, c, 200, json);
    }
    int what = strcmp(sub, "heartbeat") == 0 ? API_W_HEARTBEAT
               : strcmp(sub, "complete") == 0 ? API_W_COMPLETE
               : strcmp(sub, "fail") == 0     ? API_W_FAIL
                                              : -1;
    if (what < 0) return api_error(s, c, 404, "not_found", "no such route");
    if (!post) return method_not_allowed(s, c, "POST", method);
    if (!is_worker(r))
      return api_error(s, c, 403, "forbidden", "%s needs a worker or admin token", sub);
    return worker_call(s, r, c, q, what, id);
  }
  if (strcmp(coll, "worker") == 0 && p.nseg == 4 && strcmp(p.seg[3], "claim") == 0) {
    if (!post) return method_not_allowed(s, c, "POST", method);
    if (!is_worker(r)) return api_error(s, c, 403, "forbidden", "claim needs a worker or admin token");
    return worker_claim(s, r, c, q);
  }
  return api_error(s, c, 404, "not_found", "no such route");
}

/* ------------------------------------------------------------------ */
/* Static files                                                        */
/* ------------------------------------------------------------------ */

static enum MHD_Result static_file(api_server *s, struct MHD_Connection *c, const char *url) {
  if (!s->web_root[0]) return api_error(s, c, 404, "not_found", "no such route (no --web)");
  const char *rel = url[0] == '/' ? url + 1 : url;
  if (!*rel) rel = "index.html";
  if (!http_static_rel_ok(rel)) return api_error(s, c, 400, "bad_path", "unsafe path");
  char path[PATH_MAX], real[PATH_MAX];
  if ((size_t)snprintf(path, sizeof path, "%s/%s", s->web_root, rel) >= sizeof path)
    return api_error(s, c, 400, "bad_path", "path too long");
  /* The resolved file must stay under the (resolved) web root: a symlink
   * pointing outside is reported as absent. */
  size_t rl = strlen(s->web_root);
  if (!realpath(path, real) || strncmp(real, s->web_root, rl) != 0 || real[rl] != '/')
    return api_error(s, c, 404, "not_found", "no such file");
  int fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  struct stat stt;
  if (fd < 0 || fstat(fd, &stt) < 0 || !S_ISREG(stt.st_mode)) {
    if (fd >= 0) close(fd);
    return api_error(s, c, 404, "not_found", "no such file");
  }
  struct MHD_Response *resp = MHD_create_response_from_fd((uint64_t)stt.st_size, fd);
  if (!resp) {
    close(fd);
    return MHD_NO;
  }
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, http_mime_for(real));
  MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
  enum MHD_Result ret = MHD_queue_response(c, 200, resp);
  MHD_destroy_response(resp);
  atomic_fetch_add(&s->status_count[200], 1);
  return ret;
}
