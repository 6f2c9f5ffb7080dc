/*
 * http_util.h -- the parsers pelmapd applies to what clients send, kept free
 * of libmicrohttpd and SQLite so that they can be fuzzed alone
 * (tests/fuzz/fuzz_api.c): request paths, integers, content types,
 * multipart/form-data bodies, JSON nesting depth, static-file paths, the
 * job-submission body, and CSV field quoting.
 *
 * Ownership: functions writing into caller buffers say so; pointers into the
 * input (multipart parts) borrow the input and stay valid while it does.
 * Memory returned through char ** is malloc'd and owned by the caller.
 */
#ifndef PELMAP_HTTP_UTIL_H
#define PELMAP_HTTP_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_SEGMENTS 8
#define HTTP_JSON_MAX_DEPTH 32

/* A request path split on '/': "/api/v1/jobs/12/events" -> 5 segments
 * "api" "v1" "jobs" "12" "events".  Segments point into buf. */
typedef struct http_path {
  char buf[512];
  const char *seg[HTTP_MAX_SEGMENTS];
  int nseg;
} http_path;

/* Split url (without query string) into p.  Empty segments (double or
 * trailing slashes) are dropped.  Returns 0, or -1 if the path is longer
 * than 511 bytes or has more than HTTP_MAX_SEGMENTS segments. */
int http_path_split(const char *url, http_path *p);

/* Strict decimal integer in [min, max] (no sign for min >= 0, no spaces,
 * no trailing characters).  Returns 0 and *v, or -1. */
int http_parse_int64(const char *s, int64_t min, int64_t max, int64_t *v);

/* 1 if the media type of a Content-Type header value equals type
 * (case-insensitive, parameters after ';' ignored); 0 otherwise. */
int http_media_type_is(const char *content_type, const char *type);

/* Value of parameter name in a header value ("multipart/form-data;
 * boundary=xyz"), unquoted, into out[outlen].  0 if found, -1 otherwise. */
int http_header_param(const char *value, const char *name, char *out, size_t outlen);

/* The first file part of a multipart/form-data body (a part with a
 * filename, or else the part named "file"): *data / *len borrow body,
 * filename[256] receives the part's filename ("" if none).  Returns 0, or -1
 * with a reason in err when the body is malformed or has no such part. */
int http_multipart_file(const char *body, size_t len, const char *boundary,
                        const char **data, size_t *len_out, char filename[256],
                        char *err, size_t errlen);

/* 1 if the JSON text's bracket nesting (outside strings) never exceeds
 * max_depth; 0 otherwise.  Does not validate the JSON otherwise. */
int http_json_depth_ok(const char *s, size_t len, int max_depth);

/* 1 if rel (a URL path below the web root, without the leading '/') is a
 * safe relative path: no "..", no empty/"." segments that matter, no
 * backslashes, control characters or NUL; 0 otherwise. */
int http_static_rel_ok(const char *rel);

/* Content type for a static file name by extension (text/html ...). */
const char *http_mime_for(const char *name);

/* Append s to a CSV line as one field, quoted when needed (RFC 4180). */
typedef struct http_buf {
  char *s;
  size_t n, cap;
  int oom;
} http_buf;
void http_buf_add(http_buf *b, const char *s, size_t n);
void http_buf_printf(http_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void http_csv_field(http_buf *b, const char *s);

/* A parsed POST /api/v1/jobs body. */
typedef struct api_submit {
  char kind[32];
  int64_t structure;        /* 0 = none */
  int64_t potential;        /* 0 = default */
  int64_t parent;           /* 0 = none */
  int64_t run_after[16];
  int nrun_after;
  int priority;             /* -1000 .. 1000 */
  int max_attempts;         /* 0 = default */
  char *params_json;        /* normalized by the kind (malloc'd) */
  int needs_structure, needs_potential;
} api_submit;

/* Parse and validate a job submission (JSON object with kind, structure,
 * potential, params, priority, run_after, parent, max_attempts; unknown
 * fields refused; params validated by the kind).  Returns 0 with out
 * filled (free out->params_json), or -1 with "field: rule" in err. */
int api_submit_parse(const char *body, size_t len, api_submit *out, char *err, size_t errlen);
void api_submit_clear(api_submit *s);

/* A parsed worker body: claim {"worker","kinds","lease"}, heartbeat
 * {"attempt","progress","message","lease"}, complete {"attempt","result"},
 * fail {"attempt","error","retryable"}. */
typedef struct api_worker_req {
  char worker[128];
  char kinds[16][32];
  int nkinds;
  double lease;             /* seconds; default 60 */
  int attempt;
  double progress;
  char message[256];
  int has_message;
  char *result_json;        /* complete: malloc'd */
  char error[1024];
  int retryable;
} api_worker_req;

enum { API_W_CLAIM = 0, API_W_HEARTBEAT, API_W_COMPLETE, API_W_FAIL };
/* Parse a worker body of the given kind.  0, or -1 with err. */
int api_worker_parse(int what, const char *body, size_t len, api_worker_req *out, char *err,
                     size_t errlen);
void api_worker_clear(api_worker_req *w);

#endif /* PELMAP_HTTP_UTIL_H */
