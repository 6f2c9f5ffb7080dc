/*
 * http_util.c -- client-facing parsers of pelmapd (see http_util.h): paths,
 * integers, content types, multipart bodies, JSON depth, static paths,
 * CSV fields, and the JSON bodies of job submissions and worker calls.
 *
 * The contract of every public function (returns, failures, units,
 * ownership) is written above its declaration in the header.
 */
#include "http_util.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kinds.h"

int http_path_split(const char *url, http_path *p) {
  p->nseg = 0;
  size_t n = strlen(url);
  if (n >= sizeof p->buf) return -1;
  memcpy(p->buf, url, n + 1);
  char *q = strchr(p->buf, '?');
  if (q) *q = '\0';
  char *s = p->buf;
  while (*s) {
    while (*s == '/') *s++ = '\0';
    if (!*s) break;
    if (p->nseg == HTTP_MAX_SEGMENTS) return -1;
    p->seg[p->nseg++] = s;
    while (*s && *s != '/') s++;
  }
  return 0;
}

int http_parse_int64(const char *s, int64_t min, int64_t max, int64_t *v) {
  if (!s || !*s) return -1;
  const char *c = s;
  if (*c == '-') c++;
  if (!*c || strlen(c) > 18) return -1;
  for (const char *d = c; *d; d++)
    if (*d < '0' || *d > '9') return -1;
  if (c[0] == '0' && c[1]) return -1; /* no leading zeros */
  errno = 0;
  long long x = strtoll(s, NULL, 10);
  if (errno || x < min || x > max) return -1;
  *v = x;
  return 0;
}

int http_media_type_is(const char *ct, const char *type) {
  if (!ct) return 0;
  while (*ct == ' ' || *ct == '\t') ct++;
  size_t n = strlen(type);
  if (strncasecmp(ct, type, n) != 0) return 0;
  const char *r = ct + n;
  while (*r == ' ' || *r == '\t') r++;
  return *r == '\0' || *r == ';';
}

int http_header_param(const char *value, const char *name, char *out, size_t outlen) {
  if (!value || outlen == 0) return -1;
  size_t nl = strlen(name);
  const char *s = strchr(value, ';');
  while (s) {
    s++;
    while (*s == ' ' || *s == '\t') s++;
    if (strncasecmp(s, name, nl) == 0 && s[nl] == '=') {
      const char *v = s + nl + 1;
      size_t k = 0;
      if (*v == '"') {
        v++;
        while (*v && *v != '"') {
          if (k + 1 >= outlen) return -1;
          out[k++] = *v++;
        }
        if (*v != '"') return -1;
      } else {
        while (*v && *v != ';' && *v != ' ' && *v != '\t') {
          if (k + 1 >= outlen) return -1;
          out[k++] = *v++;
        }
      }
      out[k] = '\0';
      return k > 0 ? 0 : -1;
    }
    s = strchr(s, ';');
  }
  return -1;
}

/* memmem over len bytes. */
static const char *find(const char *hay, size_t len, const char *needle, size_t nlen) {
  if (nlen == 0 || len < nlen) return NULL;
  for (size_t i = 0; i + nlen <= len; i++)
    if (hay[i] == needle[0] && memcmp(hay + i, needle, nlen) == 0) return hay + i;
  return NULL;
}

static int perr(char *err, size_t errlen, const char *msg) {
  snprintf(err, errlen, "%s", msg);
  return -1;
}

/* Extract param (name / filename) of a Content-Disposition line. */
static void disp_param(const char *line, size_t len, const char *param, char *out, size_t outlen) {
  out[0] = '\0';
  size_t pl = strlen(param);
  for (size_t i = 0; i + pl + 2 <= len; i++) {
    if ((i == 0 || line[i - 1] == ' ' || line[i - 1] == ';') &&
        strncasecmp(line + i, param, pl) == 0 && line[i + pl] == '=') {
      size_t j = i + pl + 1, k = 0;
      int quoted = j < len && line[j] == '"';
      if (quoted) j++;
      while (j < len && (quoted ? line[j] != '"' : (line[j] != ';' && line[j] != ' ')) &&
             k + 1 < outlen)
        out[k++] = line[j++];
      out[k] = '\0';
      return;
    }
  }
}

int http_multipart_file(const char *body, size_t len, const char *boundary, const char **data,
                        size_t *len_out, char filename[256], char *err, size_t errlen) {
  *data = NULL;
  *len_out = 0;
  filename[0] = '\0';
  size_t bl = strlen(boundary);
  if (bl == 0 || bl > 200) return perr(err, errlen, "multipart: bad boundary");
  char delim[210];
  snprintf(delim, sizeof delim, "--%s", boundary);
  size_t dl = bl + 2;
  const char *p = find(body, len, delim, dl);
  if (!p) return perr(err, errlen, "multipart: no boundary found in the body");
  const char *end = body + len;
  const char *fallback = NULL;
  size_t fallback_len = 0;
  for (;;) {
    p += dl;
    if (end - p >= 2 && p[0] == '-' && p[1] == '-') break; /* closing delimiter */
    /* headers */
    const char *hend = find(p, (size_t)(end - p), "\r\n\r\n", 4);
    if (!hend) return perr(err, errlen, "multipart: part without a blank line after its headers");
    char name[128] = "", fname[256] = "";
    const char *h = p;
    while (h < hend) {
      const char *eol = find(h, (size_t)(hend + 2 - h), "\r\n", 2);
      if (!eol) eol = hend;
      size_t ll = (size_t)(eol - h);
      if (ll > 20 && strncasecmp(h, "Content-Disposition:", 20) == 0) {
        disp_param(h + 20, ll - 20, "name", name, sizeof name);
        disp_param(h + 20, ll - 20, "filename", fname, sizeof fname);
      }
      h = eol + 2;
    }
    const char *content = hend + 4;
    char cdelim[216];
    snprintf(cdelim, sizeof cdelim, "\r\n--%s", boundary);
    const char *next = find(content, (size_t)(end - content), cdelim, dl + 2);
    if (!next) return perr(err, errlen, "multipart: part not terminated by the boundary");
    if (fname[0]) {
      *data = content;
      *len_out = (size_t)(next - content);
      snprintf(filename, 256, "%s", fname);
      return 0;
    }
    if (!fallback && strcmp(name, "file") == 0) {
      fallback = content;
      fallback_len = (size_t)(next - content);
    }
    p = next + 2;
  }
  if (fallback) {
    *data = fallback;
    *len_out = fallback_len;
    return 0;
  }
  return perr(err, errlen, "multipart: no file part (a part with a filename or named \"file\")");
}

int http_json_depth_ok(const char *s, size_t len, int max_depth) {
  int depth = 0, in_str = 0;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (in_str) {
      if (c == '\\')
        i++;
      else if (c == '"')
        in_str = 0;
      continue;
    }
    if (c == '"')
      in_str = 1;
    else if (c == '[' || c == '{') {
      if (++depth > max_depth) return 0;
    } else if (c == ']' || c == '}') {
      if (depth > 0) depth--;
    }
  }
  return 1;
}

int http_static_rel_ok(const char *rel) {
  if (!rel) return 0;
  size_t n = strlen(rel);
  if (n == 0 || n > 255) return 0;
  if (rel[0] == '/') return 0;
  const char *seg = rel;
  for (size_t i = 0; i <= n; i++) {
    unsigned char c = (unsigned char)rel[i];
    if (c == '/' || c == '\0') {
      size_t sl = (size_t)(rel + i - seg);
      if (sl == 0) return 0;                        /* "//" or trailing "/" */
      if (seg[0] == '.') return 0;                  /* ".", "..", dot files */
      seg = rel + i + 1;
      continue;
    }
    if (c < 0x20 || c == 0x7f || c == '\\' || c == ':') return 0;
  }
  return 1;
}

const char *http_mime_for(const char *name) {
  const char *dot = strrchr(name, '.');
  if (!dot) return "application/octet-stream";
  static const char *const map[][2] = {
      {".html", "text/html; charset=utf-8"}, {".htm", "text/html; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},   {".js", "text/javascript; charset=utf-8"},
      {".json", "application/json"},          {".svg", "image/svg+xml"},
      {".png", "image/png"},                  {".ico", "image/x-icon"},
      {".txt", "text/plain; charset=utf-8"}};
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (strcasecmp(dot, map[i][0]) == 0) return map[i][1];
  return "application/octet-stream";
}

void http_buf_add(http_buf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + n + 1) cap *= 2;
    char *t = realloc(b->s, cap);
    if (!t) {
      b->oom = 1;
      return;
    }
    b->s = t;
    b->cap = cap;
  }
  memcpy(b->s + b->n, s, n);
  b->n += n;
  b->s[b->n] = '\0';
}

void http_buf_printf(http_buf *b, const char *fmt, ...) {
  char tmp[256];
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (k < 0) {
    b->oom = 1;
    return;
  }
  if ((size_t)k < sizeof tmp) {
    http_buf_add(b, tmp, (size_t)k);
    return;
  }
  char *big = malloc((size_t)k + 1);
  if (!big) {
    b->oom = 1;
    return;
  }
  va_start(ap, fmt);
  vsnprintf(big, (size_t)k + 1, fmt, ap);
  va_end(ap);
  http_buf_add(b, big, (size_t)k);
  free(big);
}

void http_csv_field(http_buf *b, const char *s) {
  if (!s) return;
  if (!strpbrk(s, ",\"\r\n")) {
    http_buf_add(b, s, strlen(s));
    return;
  }
  http_buf_add(b, "\"", 1);
  for (const char *c = s; *c; c++) {
    if (*c == '"') http_buf_add(b, "\"", 1);
    http_buf_add(b, c, 1);
  }
  http_buf_add(b, "\"", 1);
}

/* ------------------------------------------------------------------ */
/* JSON bodies                                                         */
/* ------------------------------------------------------------------ */

/* Parse a JSON object body with the depth limit. */
static cJSON *parse_object(const char *body, size_t len, char *err, size_t errlen) {
  if (len == 0) {
    perr(err, errlen, "body: a JSON object is required");
    return NULL;
  }
  if (!http_json_depth_ok(body, len, HTTP_JSON_MAX_DEPTH)) {
    snprintf(err, errlen, "body: JSON nested deeper than %d levels", HTTP_JSON_MAX_DEPTH);
    return NULL;
  }
  const char *end = NULL;
  cJSON *j = cJSON_ParseWithLengthOpts(body, len, &end, 0);
  if (!j) {
    size_t off = end && end >= body ? (size_t)(end - body) : 0;
    snprintf(err, errlen, "body: invalid JSON near byte %zu", off);
    return NULL;
  }
  /* Only whitespace may follow. */
  if (end) {
    for (const char *c = end; c < body + len; c++)
      if (!isspace((unsigned char)*c) && *c != '\0') {
        snprintf(err, errlen, "body: unexpected data after the JSON value at byte %zu",
                 (size_t)(c - body));
        cJSON_Delete(j);
        return NULL;
      }
  }
  if (!cJSON_IsObject(j)) {
    perr(err, errlen, "body: must be a JSON object");
    cJSON_Delete(j);
    return NULL;
  }
  return j;
}

static int get_int(const cJSON *o, const char *field, int64_t min, int64_t max, int64_t *v,
                   char *err, size_t errlen) {
  const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, field);
  if (!f || cJSON_IsNull(f)) return 0;
  double d = f->valuedouble;
  if (!cJSON_IsNumber(f) || !isfinite(d) || d != floor(d)) {
    snprintf(err, errlen, "%s: must be an integer", field);
    return -1;
  }
  if (d < (double)min || d > (double)max) {
    snprintf(err, errlen, "%s: must be between %lld and %lld", field, (long long)min,
             (long long)max);
    return -1;
  }
  *v = (int64_t)d;
  return 1;
}

static int check_fields(const cJSON *o, const char *const *allowed, char *err, size_t errlen) {
  for (const cJSON *c = o->child; c; c = c->next) {
    int okf = 0;
    for (int i = 0; allowed[i]; i++)
      if (c->string && strcmp(c->string, allowed[i]) == 0) okf = 1;
    if (!okf) {
      snprintf(err, errlen, "%.64s: unknown field", c->string ? c->string : "?");
      return -1;
    }
  }
  return 0;
}

void api_submit_clear(api_submit *s) {
  free(s->params_json);
  memset(s, 0, sizeof *s);
}

int api_submit_parse(const char *body, size_t len, api_submit *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  cJSON *normalized = NULL;
  cJSON *o = parse_object(body, len, err, errlen);
  if (!o) return -1;
  static const char *const allowed[] = {"kind", "structure", "potential", "params", "priority",
                                        "run_after", "parent", "max_attempts", NULL};
  if (check_fields(o, allowed, err, errlen) < 0) goto fail;
  const cJSON *k = cJSON_GetObjectItemCaseSensitive(o, "kind");
  if (!k) {
    perr(err, errlen, "kind: required");
    goto fail;
  }
  if (!cJSON_IsString(k)) {
    perr(err, errlen, "kind: must be a string");
    goto fail;
  }
  const kind_def *kd = kind_find(k->valuestring);
  if (!kd) {
    snprintf(err, errlen, "kind: unknown kind '%.40s'", k->valuestring);
    goto fail;
  }
  snprintf(out->kind, sizeof out->kind, "%s", kd->name);
  out->needs_structure = (kd->flags & KIND_NEEDS_STRUCTURE) != 0;
  out->needs_potential = (kd->flags & KIND_NEEDS_POTENTIAL) != 0;
  int64_t v = 0;
  const int64_t idmax = INT64_C(1) << 53;
  int r;
  r = get_int(o, "structure", 1, idmax, &v, err, errlen);
  if (r < 0) goto fail;
  if (r) out->structure = v;
  r = get_int(o, "potential", 1, idmax, &v, err, errlen);
  if (r < 0) goto fail;
  if (r) out->potential = v;
  r = get_int(o, "parent", 1, idmax, &v, err, errlen);
  if (r < 0) goto fail;
  if (r) out->parent = v;
  r = get_int(o, "priority", -1000, 1000, &v, err, errlen);
  if (r < 0) goto fail;
  if (r) out->priority = (int)v;
  r = get_int(o, "max_attempts", 1, 10, &v, err, errlen);
  if (r < 0) goto fail;
  if (r) out->max_attempts = (int)v;
  const cJSON *ra = cJSON_GetObjectItemCaseSensitive(o, "run_after");
  if (ra && !cJSON_IsNull(ra)) {
    if (!cJSON_IsArray(ra)) {
      perr(err, errlen, "run_after: must be an array of job ids");
      goto fail;
    }
    int n = cJSON_GetArraySize(ra);
    if (n > 16) {
      perr(err, errlen, "run_after: at most 16 jobs");
      goto fail;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, ra) {
      double d = e->valuedouble;
      if (!cJSON_IsNumber(e) || !isfinite(d) || d != floor(d) || d < 1 || d > (double)idmax) {
        perr(err, errlen, "run_after: must be an array of job ids");
        goto fail;
      }
      out->run_after[out->nrun_after++] = (int64_t)d;
    }
  }
  if (out->needs_structure && !out->structure) {
    snprintf(err, errlen, "structure: required by kind %s", out->kind);
    goto fail;
  }
  const cJSON *params = cJSON_GetObjectItemCaseSensitive(o, "params");
  if (params && !cJSON_IsNull(params) && !cJSON_IsObject(params)) {
    perr(err, errlen, "params: must be an object");
    goto fail;
  }
  char kerr[256] = "";
  if (kd->validate(params && cJSON_IsObject(params) ? params : NULL, &normalized, kerr,
                   sizeof kerr) != 0 || !normalized) {
    snprintf(err, errlen, "params.%s", kerr[0] ? kerr : "invalid");
    goto fail;
  }
  out->params_json = cJSON_PrintUnformatted(normalized);
  cJSON_Delete(normalized);
  normalized = NULL;
  if (!out->params_json) {
    perr(err, errlen, "out of memory");
    goto fail;
  }
  cJSON_Delete(o);
  return 0;
fail:
  cJSON_Delete(normalized);
  cJSON_Delete(o);
  api_submit_clear(out);
  return -1;
}

void api_worker_clear(api_worker_req *w) {
  free(w->result_json);
  memset(w, 0, sizeof *w);
}

static int get_string(const cJSON *o, const char *field, char *out, size_t outlen, int required,
                      char *err, size_t errlen) {
  const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, field);
  if (!f || cJSON_IsNull(f)) {
    if (required) {
      snprintf(err, errlen, "%s: required", field);
      return -1;
    }
    return 0;
  }
  if (!cJSON_IsString(f)) {
    snprintf(err, errlen, "%s: must be a string", field);
    return -1;
  }
  if (strlen(f->valuestring) >= outlen) {
    snprintf(err, errlen, "%s: longer than %zu characters", field, outlen - 1);
    return -1;
  }
  snprintf(out, outlen, "%s", f->valuestring);
  return 1;
}

static int get_number(const cJSON *o, const char *field, double min, double max, double *v,
                      char *err, size_t errlen) {
  const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, field);
  if (!f || cJSON_IsNull(f)) return 0;
  if (!cJSON_IsNumber(f) || !isfinite(f->valuedouble)) {
    snprintf(err, errlen, "%s: must be a number", field);
    return -1;
  }
  if (f->valuedouble < min || f->valuedouble > max) {
    snprintf(err, errlen, "%s: must be between %g and %g", field, min, max);
    return -1;
  }
  *v = f->valuedouble;
  return 1;
}

int api_worker_parse(int what, const char *body, size_t len, api_worker_req *out, char *err,
                     size_t errlen) {
  memset(out, 0, sizeof *out);
  out->lease = 60;
  cJSON *o = parse_object(body, len, err, errlen);
  if (!o) return -1;
  static const char *const f_claim[] = {"worker", "kinds", "lease", NULL};
  static const char *const f_hb[] = {"attempt", "progress", "message", "lease", NULL};
  static const char *const f_done[] = {"attempt", "result", NULL};
  static const char *const f_fail[] = {"attempt", "error", "retryable", NULL};
  const char *const *allowed = what == API_W_CLAIM       ? f_claim
                               : what == API_W_HEARTBEAT ? f_hb
                               : what == API_W_COMPLETE  ? f_done
                                                         : f_fail;
  if (check_fields(o, allowed, err, errlen) < 0) goto fail;
  if (what == API_W_CLAIM || what == API_W_HEARTBEAT) {
    if (get_number(o, "lease", 0.01, 86400, &out->lease, err, errlen) < 0) goto fail;
  }
  if (what == API_W_CLAIM) {
    if (get_string(o, "worker", out->worker, sizeof out->worker, 1, err, errlen) < 0) goto fail;
    if (!out->worker[0]) {
      perr(err, errlen, "worker: must not be empty");
      goto fail;
    }
    const cJSON *ks = cJSON_GetObjectItemCaseSensitive(o, "kinds");
    if (ks && !cJSON_IsNull(ks)) {
      if (!cJSON_IsArray(ks) || cJSON_GetArraySize(ks) > 16) {
        perr(err, errlen, "kinds: must be an array of at most 16 kind names");
        goto fail;
      }
      const cJSON *e;
      cJSON_ArrayForEach(e, ks) {
        if (!cJSON_IsString(e) || !e->valuestring[0] || strlen(e->valuestring) >= 32) {
          perr(err, errlen, "kinds: must be an array of kind names");
          goto fail;
        }
        snprintf(out->kinds[out->nkinds++], 32, "%s", e->valuestring);
      }
    }
    cJSON_Delete(o);
    return 0;
  }
  int64_t a = 0;
  int r = get_int(o, "attempt", 1, 1000000, &a, err, errlen);
  if (r < 0) goto fail;
  if (r == 0) {
    perr(err, errlen, "attempt: required");
    goto fail;
  }
  out->attempt = (int)a;
  if (what == API_W_HEARTBEAT) {
    if (get_number(o, "progress", 0, 1, &out->progress, err, errlen) < 0) goto fail;
    r = get_string(o, "message", out->message, sizeof out->message, 0, err, errlen);
    if (r < 0) goto fail;
    out->has_message = r;
  } else if (what == API_W_COMPLETE) {
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(o, "result");
    if (!res || !cJSON_IsObject(res)) {
      perr(err, errlen, "result: must be an object");
      goto fail;
    }
    out->result_json = cJSON_PrintUnformatted(res);
    if (!out->result_json) {
      perr(err, errlen, "out of memory");
      goto fail;
    }
  } else {
    if (get_string(o, "error", out->error, sizeof out->error, 1, err, errlen) < 0) goto fail;
    const cJSON *rt = cJSON_GetObjectItemCaseSensitive(o, "retryable");
    if (rt && !cJSON_IsNull(rt)) {
      if (!cJSON_IsBool(rt)) {
        perr(err, errlen, "retryable: must be true or false");
        goto fail;
      }
      out->retryable = cJSON_IsTrue(rt);
    }
  }
  cJSON_Delete(o);
  return 0;
fail:
  cJSON_Delete(o);
  api_worker_clear(out);
  return -1;
}
