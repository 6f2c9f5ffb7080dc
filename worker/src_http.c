/*
 * src_http.c -- the remote job source of pelmap-worker: talks to pelmapd
 * over HTTP with libcurl (routes in docs/api.md, "worker" section):
 *
 *   POST /api/v1/worker/claim           -> 200 {"job":{...}} | 204
 *   POST /api/v1/jobs/{id}/heartbeat    -> 200 {"cancel":bool} | 409
 *   POST /api/v1/jobs/{id}/complete     -> 200 | 409
 *   POST /api/v1/jobs/{id}/fail         -> 200 | 409
 *   GET  /api/v1/structures/{id}/file   (X-Pelmap-Name, X-Pelmap-Format)
 *   GET  /api/v1/potentials/{id}/file
 *   GET  /api/v1/jobs/{id}/inputs       (job graphs: results it runs with)
 *
 * One curl easy handle (keep-alive connection) per worker, guarded by a
 * mutex; the calls block and are made off the event-loop thread.
 */
#include "config.h"

#include "worker.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Largest reply accepted (structure files included). */
#define HTTP_MAX_BODY ((size_t)1 << 30)

typedef struct wrk_http {
  wrk_source base;
  CURL *curl;
  struct curl_slist *headers;
  char *base_url;
  pthread_mutex_t mu;
} wrk_http;

/* A reply being received. */
typedef struct http_reply {
  char *body;
  size_t len, cap;
  int too_big;
  /* If set, the body goes to sink (0 = abort) instead of body (which then
   * keeps only its first 1 KB, for error messages). */
  int (*sink)(void *ud, const char *p, size_t n);
  void *sink_ud;
  char name[64], fmt[32]; /* X-Pelmap-Name / X-Pelmap-Format */
  char types[256], frame[16]; /* X-Pelmap-Types / X-Pelmap-Frame */
} http_reply;

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
  http_reply *r = ud;
  size_t k = size * n;
  if (r->sink) {
    size_t keep = r->len < 1024 ? 1024 - r->len : 0;
    if (keep > k) keep = k;
    if (!r->sink(r->sink_ud, p, k)) return 0;
    if (!keep) return k;
    k = keep; /* fall through: keep the head of the body */
    if (r->len + k + 1 > r->cap) {
      char *nb = realloc(r->body, 1025);
      if (!nb) return 0;
      r->body = nb;
      r->cap = 1025;
    }
    memcpy(r->body + r->len, p, k);
    r->len += k;
    r->body[r->len] = 0;
    return size * n;
  }
  if (r->len + k + 1 > r->cap) {
    size_t cap = r->cap ? r->cap : 4096;
    char *nb;
    while (cap < r->len + k + 1) cap *= 2;
    if (cap > HTTP_MAX_BODY) {
      r->too_big = 1;
      return 0;
    }
    nb = realloc(r->body, cap);
    if (!nb) return 0;
    r->body = nb;
    r->cap = cap;
  }
  memcpy(r->body + r->len, p, k);
  r->len += k;
  r->body[r->len] = 0;
  return k;
}

/* Copy the value of header line h (without CRLF) into dst if it is name. */
static void header_value(const char *h, size_t n, const char *name, char *dst,
                         size_t dstlen) {
  size_t nl = strlen(name), e;
  if (n <= nl + 1 || strncasecmp(h, name, nl) || h[nl] != ':') return;
  h += nl + 1;
  n -= nl + 1;
  while (n && (*h == ' ' || *h == '\t')) h++, n--;
  e = n;
  while (e && (h[e - 1] == '\r' || h[e - 1] == '\n' || h[e - 1] == ' ')) e--;
  snprintf(dst, dstlen, "%.*s", (int)e, h);
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
  http_reply *r = ud;
  header_value(p, size * n, "X-Pelmap-Name", r->name, sizeof r->name);
  header_value(p, size * n, "X-Pelmap-Format", r->fmt, sizeof r->fmt);
  header_value(p, size * n, "X-Pelmap-Types", r->types, sizeof r->types);
  header_value(p, size * n, "X-Pelmap-Frame", r->frame, sizeof r->frame);
  return size * n;
}

/* One request; body may be NULL (GET).  *status gets the HTTP status.
 * With a sink, the reply body is passed to sink as it arrives (a 0 return
 * aborts the transfer) and r->body keeps only its first 1 KB.
 * Returns WRK_OK when a reply arrived (any status), WRK_ENET otherwise.
 * Caller holds h->mu when curl is h->curl, and frees r->body. */
static int http_do_sink(wrk_http *h, CURL *curl, const char *method,
                        const char *path, const char *body, long *status,
                        http_reply *r,
                        int (*sink)(void *, const char *, size_t),
                        void *sink_ud, char *err, size_t errlen) {
  char url[1024];
  CURLcode cc;
  memset(r, 0, sizeof *r);
  r->sink = sink;
  r->sink_ud = sink_ud;
  *status = 0;
  snprintf(url, sizeof url, "%s%s", h->base_url, path);
  curl_easy_setopt(curl, CURLOPT_URL, url);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, r);
  if (body) {
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t)strlen(body));
  } else {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  }
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST,
                   strcmp(method, body ? "POST" : "GET") ? method : NULL);
  cc = curl_easy_perform(curl);
  if (cc != CURLE_OK) {
    snprintf(err, errlen, "%s %s: %s", method, path,
             r->too_big ? "reply too large" : curl_easy_strerror(cc));
    free(r->body);
    r->body = NULL;
    return WRK_ENET;
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
  return WRK_OK;
}

static int http_do(wrk_http *h, const char *method, const char *path,
                   const char *body, long *status, http_reply *r, char *err,
                   size_t errlen) {
  return http_do_sink(h, h->curl, method, path, body, status, r, NULL, NULL,
                      err, errlen);
}

/* Map a non-2xx status to a code, with the server's error message. */
static int http_status_code(long st, const char *what, const http_reply *r,
                            char *err, size_t errlen) {
  cJSON *j = r->body ? cJSON_Parse(r->body) : NULL;
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
  snprintf(err, errlen, "%s: HTTP %ld%s%s", what, st,
           cJSON_IsString(m) ? ": " : "",
           cJSON_IsString(m) ? m->valuestring : "");
  cJSON_Delete(j);
  if (st == 409) return WRK_ESTALE;
  if (st == 404) return WRK_ENOTFOUND;
  if (st == 401 || st == 403) return WRK_EAUTH;
  if (st >= 500 || st == 429 || st == 408) return WRK_ENET;
  return WRK_EFAIL;
}

static int64_t json_id(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

static int http_claim(wrk_source *s, const char *worker,
                      const char *const *kinds, int nkinds, double lease_s,
                      wrk_job *out, char *err, size_t errlen) {
  wrk_http *h = (wrk_http *)s;
  cJSON *req = cJSON_CreateObject(), *ks, *rep = NULL;
  const cJSON *job, *kind, *params, *att;
  char *body = NULL;
  http_reply r = {0};
  long st;
  int i, rc = WRK_ENOMEM;

  memset(out, 0, sizeof *out);
  if (errlen) err[0] = 0;
  if (!req) goto out;
  cJSON_AddStringToObject(req, "worker", worker);
  ks = cJSON_AddArrayToObject(req, "kinds");
  for (i = 0; ks && i < nkinds; i++)
    cJSON_AddItemToArray(ks, cJSON_CreateString(kinds[i]));
  cJSON_AddNumberToObject(req, "lease", lease_s);
  body = cJSON_PrintUnformatted(req);
  if (!body) goto out;
  pthread_mutex_lock(&h->mu);
  rc = http_do(h, "POST", "/api/v1/worker/claim", body, &st, &r, err, errlen);
  pthread_mutex_unlock(&h->mu);
  if (rc) goto out;
  if (st == 204) {
    rc = 0;
    goto out;
  }
  if (st != 200) {
    rc = http_status_code(st, "claim", &r, err, errlen);
    if (rc == WRK_ESTALE) rc = WRK_EFAIL;
    goto out;
  }
  rc = WRK_EFAIL;
  rep = r.body ? cJSON_Parse(r.body) : NULL;
  job = cJSON_GetObjectItemCaseSensitive(rep, "job");
  kind = cJSON_GetObjectItemCaseSensitive(job, "kind");
  att = cJSON_GetObjectItemCaseSensitive(job, "attempt");
  if (!cJSON_IsObject(job) || !cJSON_IsString(kind) || !cJSON_IsNumber(att) ||
      json_id(job, "id") <= 0) {
    snprintf(err, errlen, "claim: malformed reply: %.120s",
             r.body ? r.body : "(empty)");
    goto out;
  }
  out->id = json_id(job, "id");
  out->attempt = (int)att->valuedouble;
  out->structure_id = json_id(job, "structure");
  out->potential_id = json_id(job, "potential");
  snprintf(out->kind, sizeof out->kind, "%s", kind->valuestring);
  {
    const cJSON *le = cJSON_GetObjectItemCaseSensitive(job, "lease_expires");
    out->lease_expires = cJSON_IsNumber(le) ? le->valuedouble : 0;
  }
  out->structure_from = json_id(job, "structure_from");
  {
    const cJSON *ni = cJSON_GetObjectItemCaseSensitive(job, "inputs");
    out->ninputs = cJSON_IsNumber(ni) ? (int)ni->valuedouble : 0;
  }
  params = cJSON_GetObjectItemCaseSensitive(job, "params");
  out->params = params ? cJSON_Duplicate(params, 1) : cJSON_CreateObject();
  rc = out->params ? 1 : WRK_ENOMEM;
out:
  if (rc < 0 && rc != WRK_ENET && !err[0]) snprintf(err, errlen, "claim: error");
  if (rc == WRK_ENOMEM) snprintf(err, errlen, "claim: out of memory");
  cJSON_Delete(req);
  cJSON_Delete(rep);
  free(body);
  free(r.body);
  return rc;
}

/* POST body to /api/v1/jobs/{id}/{verb}; *reply (may be NULL) gets the
 * parsed 200 reply. */
static int http_job_post(wrk_http *h, const wrk_job *j, const char *verb,
                         const char *body, cJSON **reply, char *err,
                         size_t errlen) {
  char path[128];
  http_reply r;
  long st;
  int rc;
  if (reply) *reply = NULL;
  snprintf(path, sizeof path, "/api/v1/jobs/%lld/%s", (long long)j->id, verb);
  pthread_mutex_lock(&h->mu);
  rc = http_do(h, "POST", path, body, &st, &r, err, errlen);
  pthread_mutex_unlock(&h->mu);
  if (rc) return rc;
  if (st / 100 != 2) {
    rc = http_status_code(st, verb, &r, err, errlen);
  } else if (reply) {
    *reply = r.body ? cJSON_Parse(r.body) : NULL;
  }
  free(r.body);
  return rc;
}

static int http_heartbeat(wrk_source *s, const wrk_job *j, double progress,
                          const char *msg, double lease_s, int *cancel,
                          char *err, size_t errlen) {
  wrk_http *h = (wrk_http *)s;
  cJSON *req = cJSON_CreateObject(), *rep = NULL;
  char *body = NULL;
  int rc = WRK_ENOMEM;
  *cancel = 0;
  if (!req) goto out;
  cJSON_AddNumberToObject(req, "attempt", j->attempt);
  cJSON_AddNumberToObject(req, "progress", progress);
  cJSON_AddStringToObject(req, "message", msg ? msg : "");
  cJSON_AddNumberToObject(req, "lease", lease_s);
  body = cJSON_PrintUnformatted(req);
  if (!body) goto out;
  rc = http_job_post(h, j, "heartbeat", body, &rep, err, errlen);
  if (rc == WRK_OK)
    *cancel = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rep, "cancel"));
out:
  cJSON_Delete(req);
  cJSON_Delete(rep);
  free(body);
  return rc;
}

static int http_complete(wrk_source *s, const wrk_job *j, const char *result,
                         char *err, size_t errlen) {
  wrk_http *h = (wrk_http *)s;
  size_t n = strlen(result) + 64;
  char *body = malloc(n);
  int rc;
  if (!body) {
    snprintf(err, errlen, "complete: out of memory");
    return WRK_ENOMEM;
  }
  /* the result is already JSON text: splice it in rather than re-parse */
  snprintf(body, n, "{\"attempt\":%d,\"result\":%s}", j->attempt, result);
  rc = http_job_post(h, j, "complete", body, NULL, err, errlen);
  free(body);
  return rc;
}

static int http_fail(wrk_source *s, const wrk_job *j, const char *reason,
                     int retryable, char *err, size_t errlen) {
  wrk_http *h = (wrk_http *)s;
  cJSON *req = cJSON_CreateObject();
  char *body = NULL;
  int rc = WRK_ENOMEM;
  if (!req) goto out;
  cJSON_AddNumberToObject(req, "attempt", j->attempt);
  cJSON_AddStringToObject(req, "error", reason ? reason : "");
  cJSON_AddBoolToObject(req, "retryable", retryable);
  body = cJSON_PrintUnformatted(req);
  if (!body) goto out;
  rc = http_job_post(h, j, "fail", body, NULL, err, errlen);
out:
  cJSON_Delete(req);
  free(body);
  return rc;
}

static int http_fetch(wrk_source *s, int what, int64_t id, char **data,
                      size_t *len, wrk_meta *meta, char *err, size_t errlen) {
  wrk_http *h = (wrk_http *)s;
  char path[128];
  http_reply r;
  long st;
  int rc;
  *data = NULL;
  *len = 0;
  memset(meta, 0, sizeof *meta);
  snprintf(path, sizeof path, "/api/v1/%s/%lld/file",
           what ? "potentials" : "structures", (long long)id);
  pthread_mutex_lock(&h->mu);
  rc = http_do(h, "GET", path, NULL, &st, &r, err, errlen);
  pthread_mutex_unlock(&h->mu);
  if (rc) return rc;
  if (st != 200) {
    rc = http_status_code(st, path, &r, err, errlen);
    free(r.body);
    return rc;
  }
  if (!r.body) {
    r.body = calloc(1, 1);
    if (!r.body) return WRK_ENOMEM;
  }
  *data = r.body;
  *len = r.len;
  if (r.name[0])
    snprintf(meta->name, sizeof meta->name, "%s", r.name);
  else
    snprintf(meta->name, sizeof meta->name, "%s-%lld",
             what ? "potential" : "structure", (long long)id);
  snprintf(meta->fmt, sizeof meta->fmt, "%s", r.fmt);
  snprintf(meta->types, sizeof meta->types, "%s", r.types);
  meta->frame = r.frame[0] ? atoi(r.frame) : 0;
  return WRK_OK;
}

/* GET /api/v1/jobs/{id}/inputs is split while it arrives: the reply is
 * {"structure_result": OBJECT|null, "inputs": [OBJECT, ...]}, and every
 * OBJECT is parsed as soon as its closing brace arrives, its text then
 * dropped, so that the worker never holds the whole reply text (a fan-out
 * parent's inputs may add up to ~100 MB) besides the parsed results. */
typedef struct isplit {
  cJSON *doc, *arr;  /* what is being built */
  int depth;         /* bracket depth outside strings */
  int in_str, esc;   /* inside a JSON string; after a backslash */
  int in_array;      /* inside the "inputs" array (depth 2) */
  int capturing;     /* copying an OBJECT into buf */
  int cap_depth;     /* depth of the captured object's own braces */
  int is_sr;         /* the captured object is structure_result */
  char *buf;
  size_t len, cap;
  int bad;
  char why[160];
} isplit;

static int isplit_push(isplit *x, char c) {
  if (x->len + 1 >= x->cap) {
    size_t cap = x->cap ? 2 * x->cap : 4096;
    char *nb = realloc(x->buf, cap);
    if (!nb) {
      snprintf(x->why, sizeof x->why, "out of memory");
      return -1;
    }
    x->buf = nb;
    x->cap = cap;
  }
  x->buf[x->len++] = c;
  return 0;
}

/* The captured object is complete: parse it into the document. */
static int isplit_done(isplit *x) {
  cJSON *v = cJSON_ParseWithLength(x->buf, x->len);
  x->len = 0;
  x->capturing = 0;
  if (!v) {
    snprintf(x->why, sizeof x->why, "an input is not valid JSON");
    return -1;
  }
  if (x->is_sr) {
    cJSON_ReplaceItemInObjectCaseSensitive(x->doc, "structure_result", v);
  } else {
    cJSON_AddItemToArray(x->arr, v); /* O(1): child->prev is the tail */
  }
  return 0;
}

static int isplit_feed(void *ud, const char *p, size_t n) {
  isplit *x = ud;
  for (size_t i = 0; i < n && !x->bad; i++) {
    char c = p[i];
    if (x->capturing && isplit_push(x, c) < 0) goto bad;
    if (x->in_str) {
      if (x->esc)
        x->esc = 0;
      else if (c == '\\')
        x->esc = 1;
      else if (c == '"')
        x->in_str = 0;
      continue;
    }
    if (c == '"') {
      x->in_str = 1;
    } else if (c == '{' || c == '[') {
      x->depth++;
      if (x->capturing) continue;
      if (c == '[' && x->depth == 2) {
        x->in_array = 1;
      } else if (c == '{' && ((x->depth == 2 && !x->in_array) || (x->depth == 3 && x->in_array))) {
        x->capturing = 1;
        x->cap_depth = x->depth;
        x->is_sr = !x->in_array;
        if (isplit_push(x, c) < 0) goto bad;
      }
    } else if (c == '}' || c == ']') {
      if (x->capturing && x->depth == x->cap_depth && isplit_done(x) < 0) goto bad;
      x->depth--;
      if (c == ']' && x->depth == 1) x->in_array = 0;
      if (x->depth < 0) {
        snprintf(x->why, sizeof x->why, "unbalanced reply");
        goto bad;
      }
    }
  }
  return !x->bad;
bad:
  x->bad = 1;
  return 0;
}

static int http_inputs(wrk_source *s, const wrk_job *j, cJSON **doc,
                       char *err, size_t errlen) {
  wrk_http *h = (wrk_http *)s;
  char path[128];
  http_reply r;
  isplit x;
  CURL *curl;
  long st;
  int rc;
  *doc = NULL;
  memset(&x, 0, sizeof x);
  x.doc = cJSON_CreateObject();
  if (x.doc && cJSON_AddNullToObject(x.doc, "structure_result"))
    x.arr = cJSON_AddArrayToObject(x.doc, "inputs");
  if (!x.arr) {
    cJSON_Delete(x.doc);
    snprintf(err, errlen, "out of memory");
    return WRK_ENOMEM;
  }
  snprintf(path, sizeof path, "/api/v1/jobs/%lld/inputs", (long long)j->id);
  /* On a copy of the handle (its own connection), so that heartbeats on
   * the shared one go on while a large gather downloads. */
  pthread_mutex_lock(&h->mu);
  curl = curl_easy_duphandle(h->curl);
  pthread_mutex_unlock(&h->mu);
  if (!curl) {
    cJSON_Delete(x.doc);
    snprintf(err, errlen, "out of memory");
    return WRK_ENOMEM;
  }
  /* no overall time limit (a large gather is parsed as it arrives), but
   * give up on a stalled transfer */
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 0L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 120L);
  rc = http_do_sink(h, curl, "GET", path, NULL, &st, &r, isplit_feed, &x,
                    err, errlen);
  curl_easy_cleanup(curl);
  if (rc == WRK_OK && st != 200) {
    rc = http_status_code(st, path, &r, err, errlen);
    if (rc == WRK_ESTALE) rc = WRK_EFAIL;
  } else if (rc == WRK_OK && (x.bad || x.depth != 0 || x.capturing)) {
    snprintf(err, errlen, "%s: malformed reply (%s)", path,
             x.why[0] ? x.why : "truncated");
    rc = WRK_EFAIL;
  } else if (rc != WRK_OK && x.bad) {
    snprintf(err, errlen, "%s: %s", path, x.why);
    rc = strcmp(x.why, "out of memory") ? WRK_EFAIL : WRK_ENOMEM;
  }
  free(r.body);
  free(x.buf);
  if (rc != WRK_OK) {
    cJSON_Delete(x.doc);
    return rc;
  }
  *doc = x.doc;
  return WRK_OK;
}

static void http_close(wrk_source *s) {
  wrk_http *h = (wrk_http *)s;
  if (!h) return;
  if (h->curl) curl_easy_cleanup(h->curl);
  curl_slist_free_all(h->headers);
  free(h->base_url);
  pthread_mutex_destroy(&h->mu);
  free(h);
  curl_global_cleanup();
}

static const wrk_source_ops http_ops = {http_claim, http_heartbeat,
                                        http_complete, http_fail,
                                        http_fetch, http_close,
                                        http_inputs};

wrk_source *wrk_source_http(const char *base_url, const char *token,
                            char *err, size_t errlen) {
  wrk_http *h;
  char auth[512];
  size_t n;
  if (strncmp(base_url, "http://", 7) && strncmp(base_url, "https://", 8)) {
    snprintf(err, errlen, "--server: expected http://HOST:PORT or https://..., got '%s'",
             base_url);
    return NULL;
  }
  if (!token || !token[0] || strlen(token) > 400 || strpbrk(token, "\r\n")) {
    snprintf(err, errlen, "--token: missing or malformed token");
    return NULL;
  }
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    snprintf(err, errlen, "curl_global_init failed");
    return NULL;
  }
  h = calloc(1, sizeof *h);
  if (!h) goto nomem;
  pthread_mutex_init(&h->mu, NULL);
  h->base.ops = &http_ops;
  h->base_url = strdup(base_url);
  if (!h->base_url) goto nomem;
  n = strlen(h->base_url);
  while (n && h->base_url[n - 1] == '/') h->base_url[--n] = 0;
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
  h->headers = curl_slist_append(NULL, auth);
  if (h->headers)
    h->headers = curl_slist_append(h->headers, "Content-Type: application/json");
  h->curl = curl_easy_init();
  if (!h->headers || !h->curl) goto nomem;
  curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, h->headers);
  curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT, 5L);
  curl_easy_setopt(h->curl, CURLOPT_TIMEOUT, 120L);
  curl_easy_setopt(h->curl, CURLOPT_USERAGENT, PACKAGE_NAME "-worker/" PACKAGE_VERSION);
  return &h->base;
nomem:
  snprintf(err, errlen, "out of memory");
  http_close(h ? &h->base : NULL);
  if (!h) curl_global_cleanup();
  return NULL;
}
