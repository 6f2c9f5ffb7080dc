/*
 * main.c -- pelmap-worker: claims jobs from a local queue database
 * (--db FILE) or from pelmapd over HTTP (--server URL --token T), runs
 * them with the job-kind table (libpelkinds) and reports the results.
 *
 * One libuv event loop drives a small state machine:
 *
 *   IDLE --poll timer--> CLAIMING --job--> RUNNING --done--> REPORTING --> IDLE
 *                           |  none: backoff, or exit with --once
 *
 * Every blocking call (SQLite, HTTP, the computation itself) runs on
 * libuv's thread pool (uv_queue_work); the loop thread only moves state,
 * so heartbeats (a uv_timer, every min(lease/3, 2) s) keep flowing while a
 * computation runs.  The computation's progress callback stores progress
 * under a mutex and returns the job's cancel flag, which the heartbeat
 * sets when the server says the job was cancelled or the attempt is stale;
 * the engine then stops within about a second with ENG_ECANCEL.
 *
 * SIGTERM/SIGINT: stop claiming; a running job may finish within --grace
 * seconds, else (or at a second signal) it is cancelled and released
 * (reported as a retryable failure so that another worker re-runs it);
 * then exit.  Documented in docs/worker.md.
 */
#include "config.h"

#include "engine.h"
#include "jobq.h"
#include "kinds.h"
#include "worker.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define WRK_DEFAULT_POTENTIAL "/usr/share/lammps/potentials/CuZr_mm.eam.fs"
#define WRK_MAX_KINDS 32
/* With --once, give up (exit 1) after this many failed claims in a row. */
#define WRK_ONCE_MAX_FAILURES 5

enum wrk_state { ST_IDLE, ST_CLAIMING, ST_RUNNING, ST_REPORTING, ST_EXITING };

/* Why a computation is being stopped (wrk_run.cancel). */
enum { CANCEL_NONE = 0, CANCEL_USER, CANCEL_STALE, CANCEL_RELEASE };

typedef struct wrk_opts {
  const char *db, *server, *token, *name, *default_potential;
  const char *kinds[WRK_MAX_KINDS];
  int nkinds;
  double lease, poll, grace;
  long max_jobs;
  int once, quiet;
} wrk_opts;

/* A fetched input file, cached between jobs that share it. */
typedef struct wrk_blob {
  int64_t id; /* 0 = empty, -1 = the local default potential */
  char *data;
  size_t len;
  wrk_meta meta;
  char sha256[65]; /* hex digest of data */
} wrk_blob;

/* One claimed job from claim to report. */
typedef struct wrk_run {
  wrk_job job;
  const kind_def *kind;
  int setup_rc;          /* KIND_* code of claim-time problems (fetch) */
  char setup_err[512];
  /* job graphs: {"structure_result":..,"inputs":[..]} (owned) and borrowed
   * pointers into it for kind_io */
  cJSON *inputs_doc;
  const cJSON **inputs;
  int ninputs;
  const cJSON *structure_result;
  /* compute thread <-> loop thread */
  pthread_mutex_t mu;
  double frac;
  char msg[128];
  atomic_int cancel;
  /* outcome of the computation */
  int rc;
  char *result_json;
  char err[1024];
  double t0;
  /* report */
  int report_rc;
  char report_err[512];
  const char *outcome; /* "succeeded", "failed", ... for the log */
} wrk_run;

typedef struct wrk {
  wrk_opts o;
  char name[128];
  uv_loop_t *loop;
  wrk_source *src;
  int state;
  int stopping; /* signals received */
  int exit_code;
  double idle_delay, err_delay, hb_interval;
  int claim_failures; /* consecutive failed claims */
  long jobs_done;
  uv_timer_t poll_timer, hb_timer, grace_timer;
  uv_signal_t sigterm, sigint;
  uv_work_t claim_req, compute_req, hb_req, report_req;
  /* claim results (written by the claim work) */
  int claim_rc;
  char claim_err[512], last_claim_err[512];
  wrk_run *run;
  wrk_blob structure, potential;
  /* heartbeat in flight */
  int hb_inflight, report_pending;
  double hb_frac;
  char hb_msg[128];
  int hb_rc, hb_cancel;
  char hb_err[512];
} wrk;

void wrk_job_clear(wrk_job *j) {
  cJSON_Delete(j->params);
  memset(j, 0, sizeof *j);
}

static double wrk_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void wrk_log(const wrk *w, int important, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void wrk_log(const wrk *w, int important, const char *fmt, ...) {
  va_list ap;
  char ts[32];
  time_t t = time(NULL);
  struct tm tm;
  if (w->o.quiet && !important) return;
  gmtime_r(&t, &tm);
  strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
  fprintf(stderr, "%s pelmap-worker %s: ", ts, w->name);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

static void run_free(wrk_run *r) {
  if (!r) return;
  wrk_job_clear(&r->job);
  free(r->result_json);
  cJSON_Delete(r->inputs_doc);
  free(r->inputs);
  pthread_mutex_destroy(&r->mu);
  free(r);
}

static void blob_clear(wrk_blob *b) {
  free(b->data);
  memset(b, 0, sizeof *b);
}

/* ------------------------------------------------------------------ */
/* Exit                                                                */
/* ------------------------------------------------------------------ */

static void on_closed(uv_handle_t *h) { (void)h; }

/* Close every handle; the loop then ends.  Only when no work is queued. */
static void begin_exit(wrk *w) {
  if (w->state == ST_EXITING) return;
  w->state = ST_EXITING;
  wrk_log(w, 0, "exiting after %ld job(s)", w->jobs_done);
  uv_close((uv_handle_t *)&w->poll_timer, on_closed);
  uv_close((uv_handle_t *)&w->hb_timer, on_closed);
  uv_close((uv_handle_t *)&w->grace_timer, on_closed);
  uv_close((uv_handle_t *)&w->sigterm, on_closed);
  uv_close((uv_handle_t *)&w->sigint, on_closed);
}

/* ------------------------------------------------------------------ */
/* Claiming (claim + fetch of the inputs, in the thread pool)          */
/* ------------------------------------------------------------------ */

static void on_poll(uv_timer_t *t);

static void schedule_claim(wrk *w, double delay) {
  if (w->stopping || (w->o.max_jobs > 0 && w->jobs_done >= w->o.max_jobs)) {
    begin_exit(w);
    return;
  }
  w->state = ST_IDLE;
  uv_timer_start(&w->poll_timer, on_poll, (uint64_t)(delay * 1000), 0);
}

/* Read the local default potential file into b. */
static int read_local(const char *path, wrk_blob *b, char *err, size_t errlen) {
  FILE *f = fopen(path, "rb");
  long n = -1;
  int rc = WRK_EFAIL;
  if (!f) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return WRK_EFAIL;
  }
  if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
  if (n < 0 || fseek(f, 0, SEEK_SET)) {
    snprintf(err, errlen, "%s: cannot seek", path);
    goto out;
  }
  b->data = malloc((size_t)n + 1);
  if (!b->data) {
    rc = WRK_ENOMEM;
    goto out;
  }
  if (fread(b->data, 1, (size_t)n, f) != (size_t)n) {
    snprintf(err, errlen, "%s: read error", path);
    blob_clear(b);
    goto out;
  }
  b->data[n] = 0;
  b->len = (size_t)n;
  b->id = -1;
  snprintf(b->meta.name, sizeof b->meta.name, "%s",
           strrchr(path, '/') ? strrchr(path, '/') + 1 : path);
  rc = WRK_OK;
out:
  fclose(f);
  return rc;
}

/* Make sure cache b holds object id (what 0 structure, 1 potential). */
static int fetch_cached(wrk *w, int what, int64_t id, wrk_blob *b, char *err,
                        size_t errlen) {
  int rc;
  if (b->data && b->id == id) return WRK_OK;
  blob_clear(b);
  if (what == 1 && id <= 0)
    return read_local(w->o.default_potential, b, err, errlen);
  rc = w->src->ops->fetch(w->src, what, id, &b->data, &b->len, &b->meta, err,
                          errlen);
  if (rc == WRK_OK) {
    b->id = id;
    jobq_sha256_hex(b->data, b->len, b->sha256);
  } else {
    blob_clear(b);
  }
  return rc;
}

/* Fetch the results a graph job runs with (kind_io.inputs,
 * structure_result) into r. */
static int fetch_inputs(wrk *w, wrk_run *r) {
  const cJSON *arr, *it;
  int rc = w->src->ops->inputs(w->src, &r->job, &r->inputs_doc, r->setup_err,
                               sizeof r->setup_err);
  int n, i = 0;
  if (rc != WRK_OK) return rc;
  arr = cJSON_GetObjectItemCaseSensitive(r->inputs_doc, "inputs");
  n = cJSON_GetArraySize(arr);
  if (n != r->job.ninputs) {
    snprintf(r->setup_err, sizeof r->setup_err,
             "job %lld: %d inputs arrived, %d expected", (long long)r->job.id,
             n, r->job.ninputs);
    return WRK_ENET;
  }
  if (n > 0) {
    r->inputs = malloc((size_t)n * sizeof *r->inputs);
    if (!r->inputs) {
      snprintf(r->setup_err, sizeof r->setup_err, "out of memory");
      return WRK_ENOMEM;
    }
    cJSON_ArrayForEach(it, arr) r->inputs[i++] = it; /* linear walk */
  }
  r->ninputs = n;
  it = cJSON_GetObjectItemCaseSensitive(r->inputs_doc, "structure_result");
  r->structure_result = cJSON_IsObject(it) ? it : NULL;
  if (r->job.structure_from > 0 && !r->structure_result) {
    snprintf(r->setup_err, sizeof r->setup_err,
             "job %lld: the result of job %lld (structure_from) is missing",
             (long long)r->job.id, (long long)r->job.structure_from);
    return WRK_ENET;
  }
  return WRK_OK;
}

static void do_claim(uv_work_t *req) {
  wrk *w = req->data;
  wrk_run *r;
  int rc;
  w->claim_err[0] = 0;
  r = calloc(1, sizeof *r);
  if (!r) {
    w->claim_rc = WRK_ENOMEM;
    snprintf(w->claim_err, sizeof w->claim_err, "out of memory");
    return;
  }
  pthread_mutex_init(&r->mu, NULL);
  rc = w->src->ops->claim(w->src, w->name, w->o.kinds, w->o.nkinds,
                          w->o.lease, &r->job, w->claim_err,
                          sizeof w->claim_err);
  w->claim_rc = rc;
  if (rc != 1) {
    run_free(r);
    return;
  }
  r->t0 = wrk_now();
  w->run = r;
  r->kind = kind_find(r->job.kind);
  if (!r->kind) {
    r->setup_rc = KIND_EINVAL;
    snprintf(r->setup_err, sizeof r->setup_err,
             "unknown job kind '%s' for this worker", r->job.kind);
    return;
  }
  if (!cJSON_IsObject(r->job.params)) {
    r->setup_rc = KIND_EINVAL;
    snprintf(r->setup_err, sizeof r->setup_err, "params: not a JSON object");
    return;
  }
  rc = WRK_OK;
  if (r->kind->flags & KIND_NEEDS_STRUCTURE) {
    rc = fetch_cached(w, 0, r->job.structure_id, &w->structure, r->setup_err,
                      sizeof r->setup_err);
    if (rc == WRK_OK)
      rc = fetch_cached(w, 1, r->job.potential_id, &w->potential,
                        r->setup_err, sizeof r->setup_err);
  }
  if (rc != WRK_OK)
    r->setup_rc = rc == WRK_ENET || rc == WRK_ENOMEM ? KIND_ENOMEM : KIND_EINVAL;
}

static void start_compute(wrk *w);
static void start_report(wrk *w);

static void after_claim(uv_work_t *req, int status) {
  wrk *w = req->data;
  (void)status;
  if (w->claim_rc == 1) {
    wrk_run *r = w->run;
    w->idle_delay = w->o.poll;
    w->err_delay = w->o.poll;
    w->last_claim_err[0] = 0;
    w->claim_failures = 0;
    wrk_log(w, 0, "job %lld: claimed (%s, attempt %d)", (long long)r->job.id,
            r->job.kind, r->job.attempt);
    if (r->setup_rc) {
      r->rc = r->setup_rc;
      snprintf(r->err, sizeof r->err, "%s", r->setup_err);
      w->state = ST_REPORTING;
      start_report(w);
    } else {
      start_compute(w);
    }
    return;
  }
  if (w->claim_rc == 0) {
    w->claim_failures = 0;
    if (w->o.once) {
      begin_exit(w);
      return;
    }
    schedule_claim(w, w->idle_delay);
    w->idle_delay = fmin(w->idle_delay * 1.5, 4 * w->o.poll);
    return;
  }
  if (strcmp(w->claim_err, w->last_claim_err))
    wrk_log(w, 1, "claim failed: %s", w->claim_err);
  snprintf(w->last_claim_err, sizeof w->last_claim_err, "%s", w->claim_err);
  if (w->claim_rc == WRK_EAUTH) {
    wrk_log(w, 1, "the server refused the token: giving up");
    w->exit_code = 1;
    begin_exit(w);
    return;
  }
  if (++w->claim_failures >= WRK_ONCE_MAX_FAILURES && w->o.once) {
    wrk_log(w, 1, "--once: %d claims failed in a row: giving up", w->claim_failures);
    w->exit_code = 1;
    begin_exit(w);
    return;
  }
  schedule_claim(w, w->err_delay);
  w->err_delay = fmin(w->err_delay * 2, 30);
}

static void on_poll(uv_timer_t *t) {
  wrk *w = t->data;
  if (w->stopping) {
    begin_exit(w);
    return;
  }
  w->state = ST_CLAIMING;
  w->claim_req.data = w;
  uv_queue_work(w->loop, &w->claim_req, do_claim, after_claim);
}

/* ------------------------------------------------------------------ */
/* Computing                                                           */
/* ------------------------------------------------------------------ */

/* Progress callback of the kind (compute thread). */
static int on_progress(void *ud, double frac, const char *msg) {
  wrk_run *r = ud;
  pthread_mutex_lock(&r->mu);
  r->frac = frac;
  snprintf(r->msg, sizeof r->msg, "%s", msg ? msg : "");
  pthread_mutex_unlock(&r->mu);
  return atomic_load(&r->cancel) != CANCEL_NONE;
}

static void do_compute(uv_work_t *req) {
  wrk *w = req->data;
  wrk_run *r = w->run;
  kind_io io;
  cJSON *result = NULL;
  memset(&io, 0, sizeof io);
  if (r->kind->flags & KIND_NEEDS_STRUCTURE) {
    io.structure_data = w->structure.data;
    io.structure_len = w->structure.len;
    io.structure_name = w->structure.meta.name;
    io.structure_format = w->structure.meta.fmt[0] ? w->structure.meta.fmt : NULL;
    io.structure_sha256 = w->structure.sha256;
    io.type_names = w->structure.meta.types[0] ? w->structure.meta.types : NULL;
    io.frame = w->structure.meta.frame;
    io.potential_data = w->potential.data;
    io.potential_len = w->potential.len;
    io.potential_name = w->potential.meta.name;
    io.potential_style = w->potential.meta.fmt[0] ? w->potential.meta.fmt : NULL;
  }
  /* A graph job's inputs are fetched here rather than at the claim, so
   * that heartbeats keep the lease while a large gather downloads. */
  if (r->job.ninputs > 0 || r->job.structure_from > 0) {
    int frc;
    on_progress(r, 0, "fetching inputs");
    frc = fetch_inputs(w, r);
    if (frc != WRK_OK) {
      r->rc = frc == WRK_ENET || frc == WRK_ENOMEM ? KIND_ENOMEM : KIND_EINVAL;
      snprintf(r->err, sizeof r->err, "%s", r->setup_err);
      return;
    }
  }
  io.inputs = r->ninputs ? r->inputs : NULL;
  io.ninputs = r->ninputs;
  io.structure_result = r->structure_result;
  io.progress = on_progress;
  io.ud = r;
  r->rc = r->kind->run(r->job.params, &io, &result, r->err, sizeof r->err);
  if (r->rc == KIND_OK) {
    r->result_json = cJSON_PrintUnformatted(result);
    if (!r->result_json) {
      r->rc = KIND_ENOMEM;
      snprintf(r->err, sizeof r->err, "out of memory printing the result");
    }
  }
  cJSON_Delete(result);
}

static void do_heartbeat(uv_work_t *req) {
  wrk *w = req->data;
  w->hb_err[0] = 0;
  w->hb_cancel = 0;
  w->hb_rc = w->src->ops->heartbeat(w->src, &w->run->job, w->hb_frac,
                                    w->hb_msg, w->o.lease, &w->hb_cancel,
                                    w->hb_err, sizeof w->hb_err);
}

static void after_heartbeat(uv_work_t *req, int status) {
  wrk *w = req->data;
  wrk_run *r = w->run;
  (void)status;
  w->hb_inflight = 0;
  if (w->hb_rc == WRK_ESTALE) {
    if (atomic_load(&r->cancel) == CANCEL_NONE)
      wrk_log(w, 1, "job %lld: lease lost (%s): abandoning it",
              (long long)r->job.id, w->hb_err);
    atomic_store(&r->cancel, CANCEL_STALE);
  } else if (w->hb_rc == WRK_OK && w->hb_cancel) {
    if (atomic_load(&r->cancel) == CANCEL_NONE) {
      wrk_log(w, 0, "job %lld: cancelled: stopping", (long long)r->job.id);
      atomic_store(&r->cancel, CANCEL_USER);
    }
  } else if (w->hb_rc != WRK_OK) {
    wrk_log(w, 1, "job %lld: heartbeat failed: %s", (long long)r->job.id,
            w->hb_err);
  }
  if (w->report_pending) {
    w->report_pending = 0;
    start_report(w);
  }
}

static void on_hb_timer(uv_timer_t *t) {
  wrk *w = t->data;
  wrk_run *r = w->run;
  if (!r || w->hb_inflight || w->state != ST_RUNNING) return;
  pthread_mutex_lock(&r->mu);
  w->hb_frac = r->frac;
  snprintf(w->hb_msg, sizeof w->hb_msg, "%s", r->msg);
  pthread_mutex_unlock(&r->mu);
  w->hb_inflight = 1;
  w->hb_req.data = w;
  uv_queue_work(w->loop, &w->hb_req, do_heartbeat, after_heartbeat);
}

static void on_grace(uv_timer_t *t) {
  wrk *w = t->data;
  if (w->state == ST_RUNNING && w->run) {
    wrk_log(w, 1, "job %lld: grace period over: releasing it",
            (long long)w->run->job.id);
    atomic_store(&w->run->cancel, CANCEL_RELEASE);
  }
}

static void after_compute(uv_work_t *req, int status) {
  wrk *w = req->data;
  (void)status;
  uv_timer_stop(&w->hb_timer);
  uv_timer_stop(&w->grace_timer);
  w->state = ST_REPORTING;
  if (w->hb_inflight)
    w->report_pending = 1; /* after_heartbeat starts the report */
  else
    start_report(w);
}

static void start_compute(wrk *w) {
  uint64_t ms = (uint64_t)(w->hb_interval * 1000);
  w->state = ST_RUNNING;
  w->compute_req.data = w;
  uv_queue_work(w->loop, &w->compute_req, do_compute, after_compute);
  uv_timer_start(&w->hb_timer, on_hb_timer, ms, ms);
  if (w->stopping == 1 && w->o.grace > 0)
    uv_timer_start(&w->grace_timer, on_grace, (uint64_t)(w->o.grace * 1000), 0);
  else if (w->stopping)
    atomic_store(&w->run->cancel, CANCEL_RELEASE);
}

/* ------------------------------------------------------------------ */
/* Reporting                                                           */
/* ------------------------------------------------------------------ */

/* Call a report operation, retrying transient errors with backoff. */
static int report_retry(wrk *w, wrk_run *r, int complete, const char *text,
                        int retryable) {
  int rc = WRK_ENET, i;
  for (i = 0; i < 6; i++) {
    if (i) {
      struct timespec ts = {1 << (i - 1), 0};
      nanosleep(&ts, NULL);
    }
    r->report_err[0] = 0;
    rc = complete ? w->src->ops->complete(w->src, &r->job, text, r->report_err,
                                          sizeof r->report_err)
                  : w->src->ops->fail(w->src, &r->job, text, retryable,
                                      r->report_err, sizeof r->report_err);
    if (rc != WRK_ENET) break;
  }
  return rc;
}

static void do_report(uv_work_t *req) {
  wrk *w = req->data;
  wrk_run *r = w->run;
  int why = atomic_load(&r->cancel);
  r->report_rc = WRK_OK;
  if (why == CANCEL_STALE) {
    r->outcome = "abandoned (lease lost)";
    return;
  }
  if (r->rc == KIND_OK) {
    r->outcome = "succeeded";
    r->report_rc = report_retry(w, r, 1, r->result_json, 0);
  } else if (r->rc == KIND_ECANCEL && why == CANCEL_RELEASE) {
    r->outcome = "released";
    r->report_rc = report_retry(w, r, 0, "worker stopped before finishing the job", 1);
  } else if (r->rc == KIND_ECANCEL) {
    r->outcome = "cancelled";
    r->report_rc = report_retry(w, r, 0, "cancelled", 0);
  } else {
    r->outcome = "failed";
    r->report_rc = report_retry(w, r, 0, r->err, r->rc == KIND_ENOMEM);
  }
}

static void after_report(uv_work_t *req, int status) {
  wrk *w = req->data;
  wrk_run *r = w->run;
  (void)status;
  if (r->report_rc == WRK_ESTALE)
    wrk_log(w, 1, "job %lld: %s, but the attempt is stale (%s): dropped",
            (long long)r->job.id, r->outcome, r->report_err);
  else if (r->report_rc)
    wrk_log(w, 1, "job %lld: %s, but reporting failed: %s", (long long)r->job.id,
            r->outcome, r->report_err);
  else
    wrk_log(w, r->rc != KIND_OK && r->rc != KIND_ECANCEL,
            "job %lld: %s %s in %.2f s%s%s", (long long)r->job.id, r->job.kind,
            r->outcome, wrk_now() - r->t0, r->rc && r->rc != KIND_ECANCEL ? ": " : "",
            r->rc && r->rc != KIND_ECANCEL ? r->err : "");
  run_free(r);
  w->run = NULL;
  w->jobs_done++;
  schedule_claim(w, 0);
}

static void start_report(wrk *w) {
  w->report_req.data = w;
  uv_queue_work(w->loop, &w->report_req, do_report, after_report);
}

/* ------------------------------------------------------------------ */
/* Signals                                                             */
/* ------------------------------------------------------------------ */

static void on_signal(uv_signal_t *s, int sig) {
  wrk *w = s->data;
  w->stopping++;
  if (w->stopping == 1)
    wrk_log(w, 1, "%s: stopping (no more claims)", strsignal(sig));
  switch (w->state) {
  case ST_IDLE:
    uv_timer_stop(&w->poll_timer);
    begin_exit(w);
    break;
  case ST_RUNNING:
    if (w->stopping == 1 && w->o.grace > 0) {
      wrk_log(w, 1, "job %lld: may finish within %g s", (long long)w->run->job.id,
              w->o.grace);
      uv_timer_start(&w->grace_timer, on_grace, (uint64_t)(w->o.grace * 1000), 0);
    } else {
      on_grace(&w->grace_timer);
    }
    break;
  default: /* claiming / reporting: the after-callbacks see stopping */
    break;
  }
}

/* ------------------------------------------------------------------ */
/* Options                                                             */
/* ------------------------------------------------------------------ */

static void usage(FILE *f) {
  fprintf(f,
          "usage: pelmap-worker --db FILE [options]\n"
          "       pelmap-worker --server URL --token TOKEN [options]\n"
          "\n"
          "Claims jobs from a local queue database or from pelmapd, runs them and\n"
          "reports the results.\n"
          "\n"
          "  --db FILE         the queue database (same host as pelmapd)\n"
          "  --server URL      pelmapd's base URL, e.g. http://127.0.0.1:8080\n"
          "  --token T         a worker or admin token (default: $PELMAP_TOKEN)\n"
          "  --kinds LIST      comma-separated kinds to run (default: all this worker\n"
          "                    knows: see pelmap kinds)\n"
          "  --lease S         lease per claim and heartbeat, seconds (default 60);\n"
          "                    heartbeats every min(S/3, 2) s\n"
          "  --poll S          idle poll interval, seconds (default 1; backs off to 4*S\n"
          "                    while the queue is empty, to 30 s on errors)\n"
          "  --grace S         after SIGTERM/SIGINT, let a running job finish for S\n"
          "                    seconds before releasing it (default 30)\n"
          "  --once            exit when the queue has nothing to claim (or, with\n"
          "                    status 1, after 5 failed claims in a row)\n"
          "  --max-jobs N      exit after N jobs (default: no limit)\n"
          "  --threads N       engine threads per job (OpenMP; 0 = all cores;\n"
          "                    default 1: run one worker per core instead, or\n"
          "                    fewer workers with more threads for big MD)\n"
          "  --name NAME       worker name recorded with claims (default host:pid)\n"
          "  --default-potential FILE  potential for jobs that name none (default\n"
          "                    " WRK_DEFAULT_POTENTIAL ")\n"
          "  -q, --quiet       log only errors\n"
          "  --help, --version\n"
          "\n"
          "exit status: 0 after a clean stop, 1 on a fatal error, 2 on bad usage\n");
}

static int parse_num(const char *opt, const char *s, double lo, double hi,
                     double *out) {
  char *end;
  double x;
  errno = 0;
  x = s ? strtod(s, &end) : 0;
  if (!s || end == s || *end || errno || !(x >= lo && x <= hi)) {
    fprintf(stderr, "pelmap-worker: %s: expected a number between %g and %g, got '%s'\n",
            opt, lo, hi, s ? s : "");
    return -1;
  }
  *out = x;
  return 0;
}

/* Parse argv into o.  0 ok, 1 printed help/version (exit 0), 2 bad usage. */
static int parse_args(int argc, char **argv, wrk_opts *o, char *kinds_buf,
                      size_t kbuflen) {
  int i;
  double x;
  const kind_def *k;
  memset(o, 0, sizeof *o);
  o->lease = 60;
  o->poll = 1;
  o->grace = 30;
  o->default_potential = WRK_DEFAULT_POTENTIAL;
  o->token = getenv("PELMAP_TOKEN");
  for (i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    int takes = 1;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 1;
    } else if (!strcmp(a, "--version")) {
      printf("pelmap-worker %s (engine %s)\n", PACKAGE_VERSION, ENG_VERSION);
      return 1;
    } else if (!strcmp(a, "--once")) {
      o->once = 1;
      takes = 0;
    } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
      o->quiet = 1;
      takes = 0;
    } else if (!v) {
      fprintf(stderr, "pelmap-worker: %s: unknown option or missing value (see --help)\n", a);
      return 2;
    } else if (!strcmp(a, "--db")) {
      o->db = v;
    } else if (!strcmp(a, "--server")) {
      o->server = v;
    } else if (!strcmp(a, "--token")) {
      o->token = v;
    } else if (!strcmp(a, "--name")) {
      if (!v[0] || strlen(v) > 100) {
        fprintf(stderr, "pelmap-worker: --name: 1 to 100 characters\n");
        return 2;
      }
      o->name = v;
    } else if (!strcmp(a, "--default-potential")) {
      o->default_potential = v;
    } else if (!strcmp(a, "--lease")) {
      if (parse_num(a, v, 0.5, 86400, &o->lease)) return 2;
    } else if (!strcmp(a, "--poll")) {
      if (parse_num(a, v, 0.01, 3600, &o->poll)) return 2;
    } else if (!strcmp(a, "--grace")) {
      if (parse_num(a, v, 0, 86400, &o->grace)) return 2;
    } else if (!strcmp(a, "--max-jobs")) {
      if (parse_num(a, v, 1, 1e12, &x) || x != floor(x)) return 2;
      o->max_jobs = (long)x;
    } else if (!strcmp(a, "--threads")) {
      if (parse_num(a, v, 0, 1024, &x) || x != floor(x)) return 2;
      eng_set_threads((int)x);
    } else if (!strcmp(a, "--kinds")) {
      char *tok, *save = NULL;
      snprintf(kinds_buf, kbuflen, "%s", v);
      for (tok = strtok_r(kinds_buf, ", ", &save); tok;
           tok = strtok_r(NULL, ", ", &save)) {
        if (!kind_find(tok)) {
          fprintf(stderr, "pelmap-worker: --kinds: unknown kind '%s' (see pelmap kinds)\n", tok);
          return 2;
        }
        if (o->nkinds == WRK_MAX_KINDS) break;
        o->kinds[o->nkinds++] = tok;
      }
      if (!o->nkinds) {
        fprintf(stderr, "pelmap-worker: --kinds: empty list\n");
        return 2;
      }
    } else {
      fprintf(stderr, "pelmap-worker: unknown option '%s' (see --help)\n", a);
      return 2;
    }
    i += takes;
  }
  if (!o->db == !o->server) {
    fprintf(stderr, "pelmap-worker: give exactly one of --db FILE or --server URL (see --help)\n");
    return 2;
  }
  if (o->server && (!o->token || !o->token[0])) {
    fprintf(stderr, "pelmap-worker: --server needs --token T (or PELMAP_TOKEN)\n");
    return 2;
  }
  if (!o->nkinds)
    for (i = 0; (k = kind_at(i)) && o->nkinds < WRK_MAX_KINDS; i++)
      o->kinds[o->nkinds++] = k->name;
  return 0;
}

int main(int argc, char **argv) {
  static wrk w; /* static: the handles live as long as the loop */
  char kinds_buf[1024], err[512];
  int rc;

  rc = parse_args(argc, argv, &w.o, kinds_buf, sizeof kinds_buf);
  if (rc) return rc == 1 ? 0 : 2;
  signal(SIGPIPE, SIG_IGN);
  if (w.o.name) {
    snprintf(w.name, sizeof w.name, "%s", w.o.name);
  } else {
    char host[64] = "localhost";
    gethostname(host, sizeof host - 1);
    snprintf(w.name, sizeof w.name, "%s:%ld", host, (long)getpid());
  }
  w.src = w.o.db ? wrk_source_db(w.o.db, err, sizeof err)
                 : wrk_source_http(w.o.server, w.o.token, err, sizeof err);
  if (!w.src) {
    fprintf(stderr, "pelmap-worker: %s\n", err);
    return 1;
  }
  w.loop = uv_default_loop();
  w.idle_delay = w.err_delay = w.o.poll;
  w.hb_interval = fmax(0.1, fmin(w.o.lease / 3, 2.0));
  uv_timer_init(w.loop, &w.poll_timer);
  uv_timer_init(w.loop, &w.hb_timer);
  uv_timer_init(w.loop, &w.grace_timer);
  uv_signal_init(w.loop, &w.sigterm);
  uv_signal_init(w.loop, &w.sigint);
  w.poll_timer.data = w.hb_timer.data = w.grace_timer.data = &w;
  w.sigterm.data = w.sigint.data = &w;
  uv_signal_start(&w.sigterm, on_signal, SIGTERM);
  uv_signal_start(&w.sigint, on_signal, SIGINT);
  wrk_log(&w, 0, "started (%s %s, lease %g s, %d kind(s))",
          w.o.db ? "db" : "server", w.o.db ? w.o.db : w.o.server, w.o.lease,
          w.o.nkinds);
  schedule_claim(&w, 0);
  uv_run(w.loop, UV_RUN_DEFAULT);
  uv_loop_close(w.loop);
  blob_clear(&w.structure);
  blob_clear(&w.potential);
  w.src->ops->close(w.src);
  return w.exit_code;
}
