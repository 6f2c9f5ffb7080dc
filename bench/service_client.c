/*
 * service_client.c -- load generator for bench/service_bench.sh: C client
 * threads, each with its own keep-alive libcurl handles, each running job
 * lifecycles through pelmapd's HTTP API: submit a trivial "noop" job (user
 * token), claim a job, heartbeat it and complete it (worker token).
 *
 *   service_client URL USER_TOKEN WORKER_TOKEN CLIENTS LIFECYCLES_PER_CLIENT
 *
 * Prints one line: "clients=C lifecycles=N seconds=S per_second=R errors=E".
 * Exit status 1 if any request failed.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct client {
  const char *url, *utok, *wtok;
  int n, idx;
  long done, errors;
} client;

typedef struct buf {
  char s[8192];
  size_t n;
} buf;

static size_t on_data(char *p, size_t sz, size_t nm, void *ud) {
  buf *b = ud;
  size_t k = sz * nm;
  size_t room = sizeof b->s - 1 - b->n;
  size_t c = k < room ? k : room;
  memcpy(b->s + b->n, p, c);
  b->n += c;
  b->s[b->n] = '\0';
  return k;
}

/* POST body to url+path with token; returns the status, body in b. */
static long post(CURL *h, const char *url, const char *path, const char *tok, const char *body,
                 buf *b) {
  char full[512], auth[160];
  snprintf(full, sizeof full, "%s%s", url, path);
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok);
  struct curl_slist *hd = curl_slist_append(NULL, auth);
  hd = curl_slist_append(hd, "Content-Type: application/json");
  b->n = 0;
  b->s[0] = '\0';
  curl_easy_setopt(h, CURLOPT_URL, full);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
  long code = 0;
  if (curl_easy_perform(h) == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
  curl_slist_free_all(hd);
  return code;
}

static long long json_int(const char *s, const char *key) {
  const char *p = strstr(s, key);
  return p ? atoll(p + strlen(key)) : -1;
}

static void *run(void *arg) {
  client *c = arg;
  CURL *h = curl_easy_init();
  buf b;
  char wname[32], body[256], path[96];
  snprintf(wname, sizeof wname, "bench-%d", c->idx);
  for (int i = 0; i < c->n; i++) {
    if (post(h, c->url, "/api/v1/jobs", c->utok, "{\"kind\":\"noop\"}", &b) != 201) {
      c->errors++;
      continue;
    }
    snprintf(body, sizeof body, "{\"worker\":\"%s\",\"kinds\":[\"noop\"],\"lease\":60}", wname);
    if (post(h, c->url, "/api/v1/worker/claim", c->wtok, body, &b) != 200) {
      c->errors++;
      continue;
    }
    long long id = json_int(b.s, "\"id\":"), att = json_int(b.s, "\"attempt\":");
    snprintf(path, sizeof path, "/api/v1/jobs/%lld/heartbeat", id);
    snprintf(body, sizeof body, "{\"attempt\":%lld,\"progress\":0.5,\"message\":\"bench\"}", att);
    if (post(h, c->url, path, c->wtok, body, &b) != 200) {
      c->errors++;
      continue;
    }
    snprintf(path, sizeof path, "/api/v1/jobs/%lld/complete", id);
    snprintf(body, sizeof body, "{\"attempt\":%lld,\"result\":{\"kind\":\"noop\"}}", att);
    if (post(h, c->url, path, c->wtok, body, &b) != 200) {
      c->errors++;
      continue;
    }
    c->done++;
  }
  curl_easy_cleanup(h);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: service_client URL USER_TOKEN WORKER_TOKEN CLIENTS LIFECYCLES\n");
    return 2;
  }
  int nc = atoi(argv[4]), n = atoi(argv[5]);
  if (nc < 1 || nc > 256 || n < 1) return 2;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  client *cs = calloc((size_t)nc, sizeof *cs);
  pthread_t *th = calloc((size_t)nc, sizeof *th);
  if (!cs || !th) return 1;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < nc; i++) {
    cs[i] = (client){argv[1], argv[2], argv[3], n, i, 0, 0};
    pthread_create(&th[i], NULL, run, &cs[i]);
  }
  long done = 0, errors = 0;
  for (int i = 0; i < nc; i++) {
    pthread_join(th[i], NULL);
    done += cs[i].done;
    errors += cs[i].errors;
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double sec = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
  printf("clients=%d lifecycles=%ld seconds=%.3f per_second=%.0f errors=%ld\n", nc, done, sec,
         (double)done / sec, errors);
  free(cs);
  free(th);
  curl_global_cleanup();
  return errors ? 1 : 0;
}
