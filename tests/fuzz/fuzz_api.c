/*
 * fuzz_api.c -- fuzz target for the HTTP-facing parsers of pelmapd
 * (server/http_util.c): request paths, integers, content-type parameters,
 * multipart/form-data bodies, JSON depth, static-file paths, CSV quoting, the
 * job-submission body and the four worker bodies.
 *
 * Built two ways:
 *  - with -DPELMAP_LIBFUZZER and -fsanitize=fuzzer: LLVMFuzzerTestOneInput
 *    only (clang -fsanitize=fuzzer,address -DPELMAP_LIBFUZZER -Icommon
 *    -Icommon/engine -Iserver tests/fuzz/fuzz_api.c server/http_util.c
 *    libpelkinds.a libpelengine.a -lcjson -lm);
 *  - by make check: a fixed-seed TAP driver (main below) mutating built-in
 *    seeds; PELMAP_FUZZ_ITERS overrides the number of inputs (default 100000).
 * The first input byte chooses the parser; the rest is its input.  Besides
 * "no crash, no leak, no sanitizer report", each parser's contract is checked
 * (e.g. an accepted static path never contains a ".." segment, a multipart
 * file lies inside the body, an accepted job has a known kind and params
 * that are a JSON object).
 */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../server/http_util.h"
#include "kinds.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *fuzz_why;

static void violated(const char *why) {
  fuzz_why = why;
#ifdef PELMAP_LIBFUZZER
  fprintf(stderr, "fuzz_api: %s\n", why);
  abort();
#endif
}

static void check_path(const char *s) {
  http_path p;
  if (http_path_split(s, &p) == 0) {
    if (p.nseg < 0 || p.nseg > HTTP_MAX_SEGMENTS) violated("path: segment count out of range");
    for (int i = 0; i < p.nseg; i++)
      if (!p.seg[i][0] || strchr(p.seg[i], '/') || strchr(p.seg[i], '?'))
        violated("path: empty segment or separator inside a segment");
  }
  int64_t v = 0;
  if (http_parse_int64(s, -1000, 1000000, &v) == 0 && (v < -1000 || v > 1000000))
    violated("int64: value outside the bounds");
  if (http_static_rel_ok(s)) {
    if (s[0] == '/' || strstr(s, "..") == s || strstr(s, "/..") || strchr(s, '\\'))
      violated("static: unsafe path accepted");
  }
  char out[64];
  if (http_header_param(s, "boundary", out, sizeof out) == 0 && strlen(out) >= sizeof out)
    violated("header_param: overflow");
  (void)http_media_type_is(s, "application/json");
  http_buf b = {0};
  http_csv_field(&b, s);
  if (!b.oom && b.s && strpbrk(s, ",\"\r\n") && b.s[0] != '"') violated("csv: field not quoted");
  free(b.s);
}

static void check_multipart(const char *body, size_t len) {
  /* boundary = the text after the first "--" up to the end of the first line */
  char boundary[128] = "b";
  if (len > 2 && body[0] == '-' && body[1] == '-') {
    size_t k = 0;
    for (size_t i = 2; i < len && body[i] != '\r' && body[i] != '\n' && k + 1 < sizeof boundary; i++)
      boundary[k++] = body[i];
    boundary[k] = '\0';
    if (!k) snprintf(boundary, sizeof boundary, "b");
  }
  const char *d = NULL;
  size_t dl = 0;
  char fname[256], err[128];
  if (http_multipart_file(body, len, boundary, &d, &dl, fname, err, sizeof err) == 0) {
    if (d < body || d + dl > body + len) violated("multipart: part outside the body");
    if (strlen(fname) >= 256) violated("multipart: file name overflow");
  } else if (!err[0]) {
    violated("multipart: failure without a reason");
  }
}

static void check_submit(const char *body, size_t len) {
  api_submit s;
  char err[512] = "";
  (void)http_json_depth_ok(body, len, HTTP_JSON_MAX_DEPTH);
  if (api_submit_parse(body, len, &s, err, sizeof err) == 0) {
    if (!kind_find(s.kind)) violated("submit: accepted an unknown kind");
    cJSON *p = s.params_json ? cJSON_Parse(s.params_json) : NULL;
    if (!cJSON_IsObject(p)) violated("submit: params not an object");
    cJSON_Delete(p);
    if (s.nrun_after < 0 || s.nrun_after > 16) violated("submit: run_after count");
    if (s.needs_structure && s.structure <= 0) violated("submit: structure missing");
    api_submit_clear(&s);
  } else if (!err[0]) {
    violated("submit: failure without a reason");
  }
}

static void check_worker(int what, const char *body, size_t len) {
  api_worker_req w;
  char err[512] = "";
  if (api_worker_parse(what, body, len, &w, err, sizeof err) == 0) {
    if (what == API_W_CLAIM && !w.worker[0]) violated("claim: empty worker accepted");
    if (what == API_W_HEARTBEAT && (w.progress < 0 || w.progress > 1))
      violated("heartbeat: progress out of [0,1]");
    if (what == API_W_COMPLETE) {
      cJSON *r = cJSON_Parse(w.result_json);
      if (!cJSON_IsObject(r)) violated("complete: result not an object");
      cJSON_Delete(r);
    }
    if (what != API_W_CLAIM && w.attempt < 1) violated("attempt < 1 accepted");
    api_worker_clear(&w);
  } else if (!err[0]) {
    violated("worker: failure without a reason");
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  int sel = data[0] % 8;
  size_t len = size - 1;
  char *buf = malloc(len + 1);
  if (!buf) return 0;
  memcpy(buf, data + 1, len);
  buf[len] = '\0';
  switch (sel) {
  case 0: check_path(buf); break;
  case 1: check_multipart(buf, len); break;
  case 2:
  case 3: check_submit(buf, len); break;
  default: check_worker(sel - 4, buf, len); break;
  }
  free(buf);
  return 0;
}

#ifndef PELMAP_LIBFUZZER
#include "../tap.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15u;
static uint64_t rnd(void) {
  uint64_t x = rng_state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return rng_state = x;
}

static const char *const seeds[] = {
    "\x00/api/v1/jobs/12/events",
    "\x00../../etc/passwd",
    "\x00index.html",
    "\x00multipart/form-data; boundary=\"abc\"; x=1",
    "\x01--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.xyz\"\r\n"
    "Content-Type: text/plain\r\n\r\n1\n\nCu 0 0 0\n\r\n--XyZ--\r\n",
    "\x01--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nabc\r\n--b\r\n"
    "Content-Disposition: form-data; name=\"file\"\r\n\r\ndata\r\n--b--",
    "\x02{\"kind\":\"energy\",\"structure\":3,\"potential\":1,\"priority\":5,\"run_after\":[1,2]}",
    "\x02{\"kind\":\"minimize\",\"structure\":1,\"params\":{\"ftol\":1e-6,\"algo\":\"cg\"}}",
    "\x03{\"kind\":\"md\",\"structure\":1,\"params\":{\"nsteps\":100,\"t_start\":300}}",
    "\x03{\"kind\":\"noop\",\"params\":{\"seconds\":0.1},\"max_attempts\":2,\"parent\":4}",
    "\x04{\"worker\":\"host:1\",\"kinds\":[\"energy\",\"noop\"],\"lease\":30}",
    "\x05{\"attempt\":1,\"progress\":0.5,\"message\":\"half\",\"lease\":10}",
    "\x06{\"attempt\":2,\"result\":{\"kind\":\"noop\",\"per_atom\":{\"id\":[1]}}}",
    "\x07{\"attempt\":1,\"error\":\"boom\",\"retryable\":true}",
};
static const char *const tokens[] = {"{", "}", "[", "]", "\"", ",", ":", "null", "true", "1e999",
                                     "-1", "0", "9007199254740993", "\\u0000", "\r\n", "--",
                                     "..", "/", "%2e", "\"kind\"", "\"params\"", "NaN"};

int main(void) {
  const char *it = getenv("PELMAP_FUZZ_ITERS");
  long iters = it ? atol(it) : 100000;
  size_t nseeds = sizeof seeds / sizeof seeds[0];
  int failures = 0;
  /* Every seed as is (the first byte of each literal is the selector; a
   * literal "\x00..." would be empty as a C string, so the selector is
   * passed separately). */
  uint8_t buf[4096];
  for (size_t i = 0; i < nseeds; i++) {
    size_t n = strlen(seeds[i] + 1) + 1;
    buf[0] = (uint8_t)(i < 4 ? 0 : (unsigned char)seeds[i][0]);
    memcpy(buf + 1, seeds[i] + 1, n - 1);
    fuzz_why = NULL;
    LLVMFuzzerTestOneInput(buf, n);
    if (fuzz_why) {
      diag("seed %zu: %s", i, fuzz_why);
      failures++;
    }
  }
  ok(failures == 0, "all %zu seeds parse within their contracts", nseeds);
  failures = 0;
  for (long k = 0; k < iters; k++) {
    size_t i = rnd() % nseeds;
    size_t n = strlen(seeds[i] + 1) + 1;
    buf[0] = (uint8_t)(i < 4 ? 0 : (unsigned char)seeds[i][0]);
    memcpy(buf + 1, seeds[i] + 1, n - 1);
    int nm = 1 + (int)(rnd() % 6);
    for (int m = 0; m < nm; m++) {
      size_t pos = 1 + (n > 1 ? rnd() % (n - 1) : 0);
      switch (rnd() % 5) {
      case 0: buf[pos] ^= (uint8_t)(1u << (rnd() % 8)); break;
      case 1: buf[pos] = (uint8_t)rnd(); break;
      case 2: n = pos; break;
      case 3: {
        const char *t = tokens[rnd() % (sizeof tokens / sizeof tokens[0])];
        size_t tl = strlen(t);
        if (n + tl < sizeof buf && pos <= n) {
          memmove(buf + pos + tl, buf + pos, n - pos);
          memcpy(buf + pos, t, tl);
          n += tl;
        }
        break;
      }
      default: {
        size_t dl = rnd() % 16;
        if (pos + dl > n) dl = n - pos;
        memmove(buf + pos, buf + pos + dl, n - pos - dl);
        n -= dl;
      }
      }
    }
    if (rnd() % 16 == 0) buf[0] = (uint8_t)rnd(); /* another parser, same bytes */
    fuzz_why = NULL;
    LLVMFuzzerTestOneInput(buf, n);
    if (fuzz_why) {
      if (failures < 5) diag("input %ld (seed %zu): %s", k, i, fuzz_why);
      failures++;
    }
  }
  ok(failures == 0, "%ld mutated inputs: no contract violated (%d violations)", iters, failures);
  return tap_done();
}
#endif
