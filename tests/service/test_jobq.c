/*
 * test_jobq.c -- the queue semantics of common/jobq.c, called directly:
 * lifecycle, stale attempts, lease expiry with backoff, max_attempts,
 * retryable failures, cancellation (with cascade), run-after dependencies,
 * priorities, fairness between users, idempotency keys, visibility, result
 * stored once, the event log and the metrics text; the read options of a
 * structure (types, frame) and migration 2 of a version-1 database.
 */
#include "jobq.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../tap.h"

static char dbpath[256];

static int64_t submit(jobq *q, int64_t user, const char *kind, int prio, const int64_t *deps,
                      int ndeps, int64_t parent) {
  jobq_submit_in in = {0};
  in.user_id = user;
  in.kind = kind;
  in.params_json = "{\"x\":1}";
  in.priority = prio;
  in.run_after = deps;
  in.nrun_after = ndeps;
  in.parent_id = parent;
  int64_t id = 0;
  int rc = jobq_submit(q, &in, &id, NULL);
  if (rc < 0) diag("submit: %s", jobq_errmsg(q));
  return id;
}

static int contains(const char *hay, const char *needle) { return hay && strstr(hay, needle) != NULL; }

/* The compiled-in migrations (common/jobq_schema.c). */
extern const char *const jobq__migrations[];
extern const int jobq__nmigrations;

/* A database left at version 1 (a user, a structure, a job using it) is
 * migrated by jobq_open without losing rows or the job's reference. */
static void test_migration_from_v1(void) {
  char path[256];
  snprintf(path, sizeof path, "/tmp/pelmap-test-jobq-v1-%d.db", (int)getpid());
  unlink(path);
  sqlite3 *db = NULL;
  char *emsg = NULL;
  int rc = sqlite3_open(path, &db);
  if (rc == SQLITE_OK) rc = sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, &emsg);
  if (rc == SQLITE_OK) rc = sqlite3_exec(db, jobq__migrations[0], NULL, NULL, &emsg);
  if (rc == SQLITE_OK)
    rc = sqlite3_exec(db,
        "PRAGMA user_version = 1;"
        "INSERT INTO users(id, name, token_hash, created) VALUES (7, 'old', 'h', 1);"
        "INSERT INTO structures(id, owner, name, format, bytes, size, sha256, natoms, species, box,"
        " created) VALUES (5, 7, 'o.xyz', 'extxyz', x'31', 1, 'abc', 1, '{\"Cu\":1}', '{}', 1);"
        "INSERT INTO jobs(id, user_id, kind, structure_id, created, updated)"
        " VALUES (3, 7, 'energy', 5, 1, 1);"
        "INSERT INTO jobs(id, user_id, kind, created, updated) VALUES (4, 7, 'noop', 1, 1);"
        "INSERT INTO job_deps(job_id, dep_id) VALUES (4, 3);",
        NULL, NULL, &emsg);
  ok(rc == SQLITE_OK, "version-1 database written (%s)", emsg ? emsg : "ok");
  sqlite3_free(emsg);
  sqlite3_close(db);
  jobq *q = NULL;
  rc = jobq_open(path, &q);
  ok(rc == 0 && jobq_schema_version(q) == jobq__nmigrations, "migrated to version %d (%s)",
     jobq__nmigrations, rc ? jobq_open_error() : "ok");
  if (rc == 0) {
    char *js = NULL, types[256];
    int frame = -5;
    int good = jobq_structure_json(q, 5, 7, &js) == 0 && contains(js, "\"name\":\"o.xyz\"") &&
               contains(js, "\"types\":null") && contains(js, "\"frame\":0");
    ok(good, "old structure kept, no read options");
    if (!good) diag("got %s", js ? js : "(none)");
    free(js);
    js = NULL;
    ok(jobq_structure_read_opts(q, 5, types, &frame) == 0 && types[0] == '\0' && frame == 0,
       "read options of an old structure: none");
    good = jobq_job_json(q, 3, 7, &js) == 0 && contains(js, "\"structure\":5");
    ok(good, "the job still references its structure");
    if (!good) diag("got %s", js ? js : "(none)");
    free(js);
    /* migration 3 counted the old dependency: 4 waits for 3 */
    jobq_job j = {0};
    ok(jobq_claim(q, "w", NULL, 0, 30, &j) == 1 && j.id == 3, "old dependency: 3 first");
    int64_t a = j.attempt;
    jobq_job_clear(&j);
    ok(jobq_claim(q, "w", NULL, 0, 30, &j) == 0, "old dependency: 4 waits");
    ok(jobq_complete(q, 3, (int)a, "{}") == 0 && jobq_claim(q, "w", NULL, 0, 30, &j) == 1 &&
           j.id == 4,
       "old dependency: 4 runs after 3 succeeded");
    jobq_job_clear(&j);
  }
  jobq_close(q);
  unlink(path);
}

int main(void) {
  snprintf(dbpath, sizeof dbpath, "/tmp/pelmap-test-jobq-%d.db", (int)getpid());
  unlink(dbpath);
  jobq *q = NULL;
  if (jobq_open(dbpath, &q) < 0) bail("open: %s", jobq_open_error());
  ok(jobq_schema_version(q) == jobq__nmigrations, "schema migrated to version %d",
     jobq__nmigrations);
  /* A second handle on the same file does not re-run migrations. */
  jobq *q2 = NULL;
  ok(jobq_open(dbpath, &q2) == 0 && jobq_schema_version(q2) == jobq__nmigrations,
     "second handle opens");

  char tok[65], tok2[65];
  int64_t alice = 0, bob = 0;
  ok(jobq_user_add(q, "alice", JOBQ_ROLE_USER, tok, &alice) == 0 && strlen(tok) == 64, "add user");
  ok(jobq_user_add(q, "bob", JOBQ_ROLE_USER, tok2, &bob) == 0, "add second user");
  ok(jobq_user_add(q, "alice", JOBQ_ROLE_USER, tok, NULL) == JOBQ_EEXIST, "duplicate name refused");
  ok(jobq_user_add(q, "a b", JOBQ_ROLE_USER, tok, NULL) == JOBQ_EINVAL, "bad name refused");
  jobq_user u;
  ok(jobq_user_auth(q, tok2, &u) == 0 && u.id == bob && strcmp(u.name, "bob") == 0, "auth by token");
  ok(jobq_user_auth(q, "nope", &u) == JOBQ_EAUTH, "unknown token refused");

  /* Structures: dedup per owner, visibility. */
  jobq_structure_in si = {alice, "a.xyz", "extxyz", "1\n\nCu 0 0 0\n", 12, 1, "{\"Cu\":1}",
                          "{\"len\":[1,1,1]}", NULL, 0};
  int64_t s1 = 0, s2 = 0, s3 = 0;
  int existed = -1;
  ok(jobq_structure_add(q, &si, &s1, &existed) == 0 && existed == 0, "structure stored");
  ok(jobq_structure_add(q, &si, &s2, &existed) == 0 && existed == 1 && s2 == s1,
     "identical bytes -> same id");
  si.owner = bob;
  ok(jobq_structure_add(q, &si, &s3, &existed) == 0 && existed == 0 && s3 != s1,
     "other user gets own copy");
  char *js = NULL;
  ok(jobq_structure_json(q, s1, bob, &js) == JOBQ_ENOTFOUND, "bob cannot see alice's structure");
  ok(jobq_structure_json(q, s1, alice, &js) == 0 && contains(js, "\"natoms\":1"), "alice can");
  free(js);
  int64_t total = 0;
  ok(jobq_structure_list(q, alice, 10, 0, &js, &total) == 0 && total == 1 && js[0] == '[',
     "list: one structure for alice");
  free(js);
  ok(jobq_structure_list(q, 0, 10, 0, &js, &total) == 0 && total == 2, "admin lists all");
  free(js);

  /* Read options: part of the dedup key, normalised, validated. */
  {
    char types[256];
    int frame = -5;
    int64_t r1 = 0, r2 = 0, r3 = 0, r4 = 0;
    ok(jobq_structure_read_opts(q, s1, types, &frame) == 0 && types[0] == '\0' && frame == 0,
       "no read options: types \"\", frame 0");
    si.owner = alice;
    si.types = " Cu\t Zr ";
    ok(jobq_structure_add(q, &si, &r1, &existed) == 0 && existed == 0 && r1 != s1,
       "same bytes with types -> new id");
    ok(jobq_structure_read_opts(q, r1, types, &frame) == 0 && strcmp(types, "Cu Zr") == 0 &&
           frame == 0,
       "types stored normalised: '%s'", types);
    si.types = "Cu Zr";
    ok(jobq_structure_add(q, &si, &r2, &existed) == 0 && existed == 1 && r2 == r1,
       "same bytes, same types -> same id");
    si.frame = 1;
    ok(jobq_structure_add(q, &si, &r3, &existed) == 0 && existed == 0 && r3 != r1 && r3 != s1,
       "same bytes, other frame -> new id");
    ok(jobq_structure_read_opts(q, r3, types, &frame) == 0 && frame == 1, "frame stored");
    ok(jobq_structure_json(q, r3, alice, &js) == 0 && contains(js, "\"types\":\"Cu Zr\"") &&
           contains(js, "\"frame\":1"),
       "metadata shows the read options");
    free(js);
    si.types = "";
    si.frame = 0;
    ok(jobq_structure_add(q, &si, &r4, &existed) == 0 && existed == 1 && r4 == s1,
       "blank types = none");
    si.types = "Cu\r\nX-Evil: 1";
    ok(jobq_structure_add(q, &si, &r4, &existed) == JOBQ_EINVAL, "control characters refused");
    si.types = NULL;
    si.frame = -2;
    ok(jobq_structure_add(q, &si, &r4, &existed) == JOBQ_EINVAL, "frame < -1 refused");
    si.frame = 0;
    ok(jobq_structure_read_opts(q, 999999, types, &frame) == JOBQ_ENOTFOUND,
       "read options of a missing structure: not found");
    /* back to the counts the rest of the test expects */
    ok(jobq_structure_delete(q, r1, alice) == 0 && jobq_structure_delete(q, r3, alice) == 0,
       "delete the variants");
  }

  /* Lifecycle. */
  int64_t j1 = submit(q, alice, "energy", 0, NULL, 0, 0);
  ok(j1 > 0, "submit");
  jobq_job job = {0};
  const char *kinds[] = {"minimize"};
  ok(jobq_claim(q, "w1", kinds, 1, 30, &job) == 0, "no job of another kind");
  ok(jobq_claim(q, "w1", NULL, 0, 30, &job) == 1 && job.id == j1 && job.attempt == 1 &&
         strcmp(job.kind, "energy") == 0 && contains(job.params_json, "\"x\""),
     "claim gets the job, attempt 1");
  jobq_job_clear(&job);
  ok(jobq_claim(q2, "w2", NULL, 0, 30, &job) == 0, "a running job is not claimed twice");
  int cancel = -1;
  ok(jobq_heartbeat(q, j1, 1, 0.5, "half", 30, &cancel) == 0 && cancel == 0, "heartbeat");
  ok(jobq_heartbeat(q, j1, 2, 0.5, "half", 30, &cancel) == JOBQ_ESTALE, "heartbeat wrong attempt -> ESTALE");
  ok(jobq_job_json(q, j1, alice, &js) == 0 && contains(js, "\"progress\":0.5") &&
         contains(js, "\"state\":\"running\"") && contains(js, "\"worker\":\"w1\""),
     "progress and worker visible");
  free(js);
  ok(jobq_result_json(q, j1, alice, &js) == JOBQ_ECONFLICT, "no result before completion");
  ok(jobq_complete(q, j1, 1, "[1]") == JOBQ_EINVAL, "result must be an object");
  ok(jobq_complete(q, j1, 1, "{\"e\":-1}") == 0, "complete");
  ok(jobq_complete(q, j1, 1, "{\"e\":-2}") == JOBQ_ESTALE, "second complete -> ESTALE");
  ok(jobq_result_json(q, j1, alice, &js) == 0 && strcmp(js, "{\"e\":-1}") == 0, "result stored once");
  free(js);
  ok(jobq_result_json(q, j1, bob, &js) == JOBQ_ENOTFOUND, "bob cannot read alice's result");
  ok(jobq_events_json(q, j1, alice, &js) == 0 && contains(js, "\"to\":\"queued\"") &&
         contains(js, "\"to\":\"running\"") && contains(js, "\"to\":\"succeeded\""),
     "events recorded");
  free(js);

  /* Lease expiry: requeue with backoff, then failed after max_attempts. */
  jobq_set_backoff(q, 0.05, 1);
  jobq_set_backoff(q2, 0.05, 1);
  int64_t j2 = submit(q, alice, "energy", 0, NULL, 0, 0);
  ok(jobq_claim(q, "w1", NULL, 0, 0.05, &job) == 1 && job.id == j2, "claim with short lease");
  jobq_job_clear(&job);
  usleep(80000);
  ok(jobq_claim(q2, "w2", NULL, 0, 30, &job) == 0, "expired job is requeued but backing off");
  ok(jobq_job_json(q, j2, 0, &js) == 0 && contains(js, "\"state\":\"queued\"") &&
         contains(js, "lease expired"),
     "requeued with the reason");
  free(js);
  usleep(80000);
  ok(jobq_claim(q2, "w2", NULL, 0, 0.05, &job) == 1 && job.id == j2 && job.attempt == 2,
     "claimed again after backoff, attempt 2");
  jobq_job_clear(&job);
  ok(jobq_heartbeat(q, j2, 1, 0.1, NULL, 30, &cancel) == JOBQ_ESTALE, "old attempt heartbeat -> ESTALE");
  ok(jobq_complete(q, j2, 1, "{}") == JOBQ_ESTALE, "old attempt complete -> ESTALE");
  usleep(80000);
  int n = 0;
  ok(jobq_reap(q, &n) == 0 && n == 1, "reaper requeues attempt 2");
  usleep(150000);
  ok(jobq_claim(q2, "w3", NULL, 0, 0.05, &job) == 1 && job.attempt == 3, "attempt 3");
  jobq_job_clear(&job);
  usleep(80000);
  ok(jobq_reap(q, &n) == 0 && n == 1, "reaper handles attempt 3");
  ok(jobq_job_json(q, j2, 0, &js) == 0 && contains(js, "\"state\":\"failed\"") &&
         contains(js, "attempt 3 of 3"),
     "failed after max_attempts with the reason");
  free(js);

  /* Retryable failure, then non-retryable. */
  int64_t j3 = submit(q, alice, "energy", 0, NULL, 0, 0);
  ok(jobq_claim(q, "w1", NULL, 0, 30, &job) == 1 && job.id == j3, "claim j3");
  jobq_job_clear(&job);
  ok(jobq_fail(q, j3, 1, "out of memory", 1) == 0, "retryable fail");
  usleep(80000);
  ok(jobq_claim(q, "w1", NULL, 0, 30, &job) == 1 && job.id == j3 && job.attempt == 2, "retried");
  jobq_job_clear(&job);
  ok(jobq_fail(q, j3, 2, "bad input", 0) == 0, "permanent fail");
  ok(jobq_job_json(q, j3, 0, &js) == 0 && contains(js, "\"error\":\"bad input\"") &&
         contains(js, "\"state\":\"failed\""),
     "failed with error");
  free(js);

  /* Cancel: queued, running (heartbeat learns it), cascade to dependents/children. */
  int64_t j4 = submit(q, alice, "energy", 0, NULL, 0, 0);
  int64_t j5 = submit(q, alice, "energy", 0, &j4, 1, 0);
  int64_t j6 = submit(q, alice, "energy", 0, NULL, 0, j4);
  ok(jobq_cancel(q, j4, bob, NULL) == JOBQ_ENOTFOUND, "bob cannot cancel alice's job");
  ok(jobq_claim(q, "w1", NULL, 0, 30, &job) == 1 && job.id == j4, "j4 claimed (j5 waits on it)");
  jobq_job_clear(&job);
  ok(jobq_cancel(q, j4, alice, "no longer needed") == 0, "cancel running job");
  ok(jobq_heartbeat(q, j4, 1, 0.2, NULL, 30, &cancel) == 0 && cancel == 1, "heartbeat reports cancel");
  ok(jobq_complete(q, j4, 1, "{}") == JOBQ_ESTALE, "complete after cancel refused");
  ok(jobq_fail(q, j4, 1, "stopped", 0) == 0, "fail after cancel is a no-op");
  ok(jobq_job_json(q, j5, 0, &js) == 0 && contains(js, "\"state\":\"cancelled\""), "dependent cancelled");
  free(js);
  ok(jobq_job_json(q, j6, 0, &js) == 0 && contains(js, "\"state\":\"cancelled\""), "child cancelled");
  free(js);
  ok(jobq_cancel(q, j4, alice, NULL) == JOBQ_ECONFLICT, "cancel twice -> conflict");

  /* Dependencies: b runs after a; failure cascades. */
  int64_t a = submit(q, alice, "energy", 0, NULL, 0, 0);
  int64_t b = submit(q, alice, "energy", 10, &a, 1, 0);
  ok(jobq_claim(q, "w1", NULL, 0, 30, &job) == 1 && job.id == a, "dependency first despite priority");
  jobq_job_clear(&job);
  ok(jobq_claim(q, "w1", NULL, 0, 30, &job) == 0, "dependent waits");
  ok(jobq_complete(q, a, 1, "{}") == 0, "dependency done");
  ok(jobq_claim(q, "w1", NULL, 0, 30, &job) == 1 && job.id == b, "dependent runs");
  jobq_job_clear(&job);
  ok(jobq_complete(q, b, 1, "{}") == 0, "dependent done");
  int64_t c = submit(q, alice, "energy", 0, NULL, 0, 0);
  int64_t d = submit(q, alice, "energy", 0, &c, 1, 0);
  ok(jobq_claim(q, "w1", NULL, 0, 30, &job) == 1 && job.id == c, "claim c");
  jobq_job_clear(&job);
  ok(jobq_fail(q, c, 1, "boom", 0) == 0, "c fails");
  ok(jobq_job_json(q, d, 0, &js) == 0 && contains(js, "\"state\":\"failed\"") &&
         contains(js, "dependency job"),
     "dependent of a failed job fails");
  free(js);
  jobq_submit_in bad = {0};
  int64_t bid;
  bad.user_id = alice;
  bad.kind = "energy";
  bad.run_after = &c;
  bad.nrun_after = 1;
  ok(jobq_submit(q, &bad, &bid, NULL) == JOBQ_ECONFLICT, "run_after a failed job refused");
  bad.nrun_after = 0;
  bad.structure_id = s3;
  ok(jobq_submit(q, &bad, &bid, NULL) == JOBQ_ENOTFOUND && contains(jobq_errmsg(q), "structure"),
     "another user's structure -> not found");
  bad.structure_id = s1;
  bad.params_json = "[1,2]";
  ok(jobq_submit(q, &bad, &bid, NULL) == JOBQ_EINVAL, "params must be an object");

  /* Priorities within a user, fairness between users. */
  int64_t lo = submit(q, alice, "energy", 0, NULL, 0, 0);
  int64_t hi = submit(q, alice, "energy", 5, NULL, 0, 0);
  ok(jobq_claim(q, "w1", NULL, 0, 30, &job) == 1 && job.id == hi, "higher priority first");
  jobq_job_clear(&job);
  ok(jobq_claim(q, "w1", NULL, 0, 30, &job) == 1 && job.id == lo, "then the lower");
  jobq_job_clear(&job);
  for (int i = 0; i < 50; i++) submit(q, alice, "energy", 0, NULL, 0, 0);
  int64_t bj = submit(q, bob, "energy", 0, NULL, 0, 0);
  int64_t first = 0;
  ok(jobq_claim(q, "w1", NULL, 0, 30, &job) == 1, "claim with two users");
  first = job.id;
  jobq_job_clear(&job);
  ok(first == bj, "bob's single job is not starved behind alice's 50");

  /* Idempotency. */
  jobq_submit_in ik = {0};
  ik.user_id = bob;
  ik.kind = "energy";
  ik.idempotency_key = "k-1";
  int64_t i1 = 0, i2 = 0;
  ok(jobq_submit(q, &ik, &i1, &existed) == 0 && existed == 0, "idempotent submit");
  ok(jobq_submit(q, &ik, &i2, &existed) == 0 && existed == 1 && i2 == i1, "same key, same job");
  ik.user_id = alice;
  ok(jobq_submit(q, &ik, &i2, &existed) == 0 && existed == 0 && i2 != i1, "keys are per user");

  /* Queued limit. */
  jobq_submit_in lim = {0};
  lim.user_id = bob;
  lim.kind = "energy";
  lim.max_queued = 1;
  ok(jobq_submit(q, &lim, &bid, NULL) == JOBQ_ELIMIT, "queued-jobs limit");

  /* Structure in use. */
  jobq_submit_in us = {0};
  us.user_id = bob;
  us.kind = "energy";
  us.structure_id = s3;
  ok(jobq_submit(q, &us, &bid, NULL) == 0, "job on bob's structure");
  ok(jobq_structure_delete(q, s3, bob) == JOBQ_ECONFLICT, "delete while in use -> conflict");
  ok(jobq_structure_delete(q, s1, bob) == JOBQ_ENOTFOUND, "bob cannot delete alice's structure");
  ok(jobq_cancel(q, bid, bob, NULL) == 0, "cancel the job");
  ok(jobq_structure_delete(q, s3, bob) == 0, "delete after");

  /* Listing filters. */
  ok(jobq_job_list(q, bob, "cancelled", NULL, 0, -1, 10, 0, &js, &total) == 0 && total == 1,
     "list filter by state");
  free(js);
  ok(jobq_job_list(q, alice, NULL, "energy", 0, -1, 5, 0, &js, &total) == 0 && total > 50 &&
         contains(js, "\"kind\":\"energy\""),
     "list filter by kind, total counts all pages");
  free(js);

  char *m = NULL;
  ok(jobq_metrics_text(q, &m) == 0 && contains(m, "pelmap_jobs{state=\"failed\",kind=\"all\"}") &&
         contains(m, "pelmap_job_retries_total 3") && contains(m, "pelmap_workers_alive 3"),
     "metrics text");
  if (m && !contains(m, "pelmap_job_retries_total 3")) diag("%s", m);
  free(m);

  jobq_close(q);
  jobq_close(q2);
  unlink(dbpath);
  char side[300];
  snprintf(side, sizeof side, "%s-wal", dbpath);
  unlink(side);
  snprintf(side, sizeof side, "%s-shm", dbpath);
  unlink(side);
  test_migration_from_v1();
  return tap_done();
}
