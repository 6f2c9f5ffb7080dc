/*
 * worker.h -- pelmap-worker internals (wrk_ prefix): the job source
 * abstraction with its two implementations (a local queue database through
 * jobq_*, or a remote pelmapd over HTTP with libcurl), and the claimed-job
 * record.  The event loop that drives them is worker/main.c.
 *
 * Threads: every wrk_source function blocks (SQLite, network), so the loop
 * calls them from libuv's thread pool; a source serialises its own calls
 * with a mutex, so it may be called from any thread.
 *
 * Ownership: a wrk_job owns its params (cJSON, freed by wrk_job_clear).
 * Buffers returned through char ** are malloc'd and owned by the caller.
 */
#ifndef PELMAP_WORKER_H
#define PELMAP_WORKER_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* Return codes of the source functions. */
enum wrk_error {
  WRK_OK = 0,
  WRK_ESTALE = -1,    /* the attempt is no longer current (lease lost) */
  WRK_ENET = -2,      /* transient: network, database busy, 5xx */
  WRK_EFAIL = -3,     /* permanent: refused request, bad reply */
  WRK_ENOTFOUND = -4, /* the structure/potential does not exist */
  WRK_EAUTH = -5,     /* the token was refused (401/403) */
  WRK_ENOMEM = -6
};

/* What comes with a fetched structure / potential file. */
typedef struct wrk_meta {
  char name[64];   /* file name */
  char fmt[32];    /* structure format / potential style; "" = unknown */
  char types[256]; /* species of numeric types ("Cu Zr"), "" = from the file */
  int frame;       /* frame to read (structures), 0 = first */
} wrk_meta;

/* A claimed job. */
typedef struct wrk_job {
  int64_t id, structure_id, potential_id;
  int attempt;
  char kind[32];
  cJSON *params; /* the job's params object (owned) */
  double lease_expires;
  /* job graphs: what ops->inputs must fetch before the run */
  int64_t structure_from; /* job whose result is io->structure_result, 0 = none */
  int ninputs;            /* number of io->inputs */
} wrk_job;

/* Free the params of a job and zero it. */
void wrk_job_clear(wrk_job *j);

typedef struct wrk_source wrk_source;

/* Open a source on a local queue database (jobq_open).  NULL on failure
 * with the reason in err. */
wrk_source *wrk_source_db(const char *path, char *err, size_t errlen);
/* A source talking to pelmapd at base_url (e.g. "http://127.0.0.1:8080")
 * with a bearer token.  NULL on failure with the reason in err. */
wrk_source *wrk_source_http(const char *base_url, const char *token,
                            char *err, size_t errlen);

/* The source's operations.  Each returns WRK_OK or a negative WRK_E* code,
 * with a one-line reason in err (errlen bytes) on failure. */
typedef struct wrk_source_ops {
  /* Claim one job of the given kinds: 1 claimed (*out filled), 0 none. */
  int (*claim)(wrk_source *s, const char *worker, const char *const *kinds,
               int nkinds, double lease_s, wrk_job *out, char *err,
               size_t errlen);
  /* Extend the lease, record progress (0..1) and msg; *cancel = 1 when the
   * job was cancelled.  WRK_ESTALE when the attempt is no longer current. */
  int (*heartbeat)(wrk_source *s, const wrk_job *j, double progress,
                   const char *msg, double lease_s, int *cancel, char *err,
                   size_t errlen);
  /* Store the result (a JSON object as text). */
  int (*complete)(wrk_source *s, const wrk_job *j, const char *result_json,
                  char *err, size_t errlen);
  /* Record a failure; retryable = the job may be run again. */
  int (*fail)(wrk_source *s, const wrk_job *j, const char *reason,
              int retryable, char *err, size_t errlen);
  /* Fetch the bytes of a structure (what = 0) or a potential (what = 1),
   * with its name, format/style and read options in *meta. */
  int (*fetch)(wrk_source *s, int what, int64_t id, char **data, size_t *len,
               wrk_meta *meta, char *err, size_t errlen);
  void (*close)(wrk_source *s);
  /* The results a graph job runs with (only called when j->ninputs > 0 or
   * j->structure_from > 0): *doc = a new object {"structure_result":
   * OBJECT|null, "inputs": [OBJECT, ...]} (kind_io.inputs in order), owned
   * by the caller.  Each result is parsed once from its text, which is
   * released as soon as it is parsed. */
  int (*inputs)(wrk_source *s, const wrk_job *j, cJSON **doc, char *err,
                size_t errlen);
} wrk_source_ops;

/* Every source starts with this. */
struct wrk_source {
  const wrk_source_ops *ops;
};

#endif /* PELMAP_WORKER_H */
