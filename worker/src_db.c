/*
 * src_db.c -- the local job source of pelmap-worker: claims, heartbeats
 * and reports straight on the queue database file with jobq_* (the same
 * host as pelmapd, or any host sharing the file system safely).  One
 * sqlite connection per worker process, guarded by a mutex.
 */
#include "config.h"

#include "worker.h"

#include "jobq.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct wrk_db {
  wrk_source base;
  jobq *q;
  pthread_mutex_t mu;
} wrk_db;

/* Map a jobq code: busy/db errors are transient. */
static int db_code(wrk_db *d, int rc, const char *what, char *err,
                   size_t errlen) {
  snprintf(err, errlen, "%s: %s (%s)", what, jobq_errmsg(d->q),
           jobq_errname(rc));
  switch (rc) {
  case JOBQ_OK: return WRK_OK;
  case JOBQ_ESTALE: return WRK_ESTALE;
  case JOBQ_ENOTFOUND: return WRK_ENOTFOUND;
  case JOBQ_ENOMEM: return WRK_ENOMEM;
  case JOBQ_EBUSY:
  case JOBQ_EDB: return WRK_ENET;
  default: return WRK_EFAIL;
  }
}

static int db_claim(wrk_source *s, const char *worker,
                    const char *const *kinds, int nkinds, double lease_s,
                    wrk_job *out, char *err, size_t errlen) {
  wrk_db *d = (wrk_db *)s;
  jobq_job j;
  int rc;
  memset(&j, 0, sizeof j);
  memset(out, 0, sizeof *out);
  pthread_mutex_lock(&d->mu);
  rc = jobq_claim(d->q, worker, kinds, nkinds, lease_s, &j);
  if (rc < 0) rc = db_code(d, rc, "claim", err, errlen);
  pthread_mutex_unlock(&d->mu);
  if (rc != 1) goto out;
  out->id = j.id;
  out->structure_id = j.structure_id;
  out->potential_id = j.potential_id;
  out->attempt = j.attempt;
  snprintf(out->kind, sizeof out->kind, "%s", j.kind);
  out->lease_expires = j.lease_expires;
  out->structure_from = j.structure_from;
  out->ninputs = j.ninputs;
  out->params = j.params_json ? cJSON_Parse(j.params_json) : cJSON_CreateObject();
  if (!out->params) {
    /* claimed but unreadable: report it as a permanent failure upstream */
    snprintf(err, errlen, "job %lld: params are not valid JSON",
             (long long)j.id);
    out->params = cJSON_CreateNull();
  }
out:
  jobq_job_clear(&j);
  return rc;
}

static int db_heartbeat(wrk_source *s, const wrk_job *j, double progress,
                        const char *msg, double lease_s, int *cancel,
                        char *err, size_t errlen) {
  wrk_db *d = (wrk_db *)s;
  int rc;
  *cancel = 0;
  pthread_mutex_lock(&d->mu);
  rc = jobq_heartbeat(d->q, j->id, j->attempt, progress, msg, lease_s, cancel);
  if (rc) rc = db_code(d, rc, "heartbeat", err, errlen);
  pthread_mutex_unlock(&d->mu);
  return rc;
}

static int db_complete(wrk_source *s, const wrk_job *j, const char *result,
                       char *err, size_t errlen) {
  wrk_db *d = (wrk_db *)s;
  int rc;
  pthread_mutex_lock(&d->mu);
  rc = jobq_complete(d->q, j->id, j->attempt, result);
  if (rc) rc = db_code(d, rc, "complete", err, errlen);
  pthread_mutex_unlock(&d->mu);
  return rc;
}

static int db_fail(wrk_source *s, const wrk_job *j, const char *reason,
                   int retryable, char *err, size_t errlen) {
  wrk_db *d = (wrk_db *)s;
  int rc;
  pthread_mutex_lock(&d->mu);
  rc = jobq_fail(d->q, j->id, j->attempt, reason, retryable);
  if (rc) rc = db_code(d, rc, "fail", err, errlen);
  pthread_mutex_unlock(&d->mu);
  return rc;
}

static int db_fetch(wrk_source *s, int what, int64_t id, char **data,
                    size_t *len, wrk_meta *meta, char *err, size_t errlen) {
  wrk_db *d = (wrk_db *)s;
  int rc;
  memset(meta, 0, sizeof *meta);
  pthread_mutex_lock(&d->mu);
  rc = what ? jobq_potential_blob(d->q, id, data, len, meta->name, meta->fmt)
            : jobq_structure_blob(d->q, id, data, len, meta->name, meta->fmt);
  /* A structure is read with the options of its upload (?types=, ?frame=). */
  if (rc == JOBQ_OK && !what) {
    rc = jobq_structure_read_opts(d->q, id, meta->types, &meta->frame);
    if (rc) {
      free(*data);
      *data = NULL;
      *len = 0;
    }
  }
  if (rc) rc = db_code(d, rc, what ? "potential" : "structure", err, errlen);
  pthread_mutex_unlock(&d->mu);
  return rc;
}

/* Parse the stored result of job id into *out (new).  Takes d->mu only
 * for the read, so that heartbeats go on while large results are parsed. */
static int db_result(wrk_db *d, int64_t id, cJSON **out, char *err,
                     size_t errlen) {
  char *txt = NULL;
  int rc;
  *out = NULL;
  pthread_mutex_lock(&d->mu);
  rc = jobq_result_json(d->q, id, 0, &txt);
  if (rc) rc = db_code(d, rc, "input", err, errlen);
  pthread_mutex_unlock(&d->mu);
  if (rc) return rc;
  *out = cJSON_Parse(txt);
  free(txt);
  if (!*out) {
    snprintf(err, errlen, "input: the result of job %lld is not JSON",
             (long long)id);
    return WRK_EFAIL;
  }
  return WRK_OK;
}

static int db_inputs(wrk_source *s, const wrk_job *j, cJSON **doc, char *err,
                     size_t errlen) {
  wrk_db *d = (wrk_db *)s;
  int64_t *ids = NULL, sf = 0;
  int n = 0, i, rc;
  cJSON *o = cJSON_CreateObject(), *arr, *v = NULL;
  *doc = NULL;
  arr = o ? cJSON_AddArrayToObject(o, "inputs") : NULL;
  if (!arr) {
    cJSON_Delete(o);
    snprintf(err, errlen, "out of memory");
    return WRK_ENOMEM;
  }
  pthread_mutex_lock(&d->mu);
  rc = jobq_job_inputs(d->q, j->id, &ids, &n, &sf);
  if (rc) rc = db_code(d, rc, "inputs", err, errlen);
  pthread_mutex_unlock(&d->mu);
  if (rc) goto out;
  if (sf > 0) {
    rc = db_result(d, sf, &v, err, errlen);
    if (rc) goto out;
  } else {
    v = cJSON_CreateNull();
  }
  if (!v) goto nomem;
  cJSON_AddItemToObject(o, "structure_result", v);
  for (i = 0; i < n; i++) {
    rc = db_result(d, ids[i], &v, err, errlen);
    if (rc) goto out;
    cJSON_AddItemToArray(arr, v); /* appends in O(1) (child->prev is the tail) */
  }
  rc = WRK_OK;
  goto out;
nomem:
  rc = WRK_ENOMEM;
  snprintf(err, errlen, "out of memory");
out:
  free(ids);
  if (rc == WRK_OK)
    *doc = o;
  else
    cJSON_Delete(o);
  return rc;
}

static void db_close(wrk_source *s) {
  wrk_db *d = (wrk_db *)s;
  if (!d) return;
  jobq_close(d->q);
  pthread_mutex_destroy(&d->mu);
  free(d);
}

static const wrk_source_ops db_ops = {db_claim, db_heartbeat, db_complete,
                                      db_fail,  db_fetch,     db_close,
                                      db_inputs};

wrk_source *wrk_source_db(const char *path, char *err, size_t errlen) {
  wrk_db *d = calloc(1, sizeof *d);
  int rc;
  if (!d) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  rc = jobq_open(path, &d->q);
  if (rc) {
    snprintf(err, errlen, "%s: %s", path, jobq_open_error());
    free(d);
    return NULL;
  }
  pthread_mutex_init(&d->mu, NULL);
  d->base.ops = &db_ops;
  return &d->base;
}
