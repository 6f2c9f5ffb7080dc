/*
 * test_jobq_race.c -- 8 processes race on one queue database with 2,000
 * jobs: each claims, sometimes fails retryably (so some jobs run twice),
 * and completes.  Every (job, attempt) must be claimed exactly once, every
 * job must end succeeded with exactly one stored result, and the database
 * must pass PRAGMA integrity_check.
 */
#include "jobq.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../tap.h"

#define NJOBS 2000
#define NPROC 8

static int child(const char *path, int wfd, int me) {
  jobq *q = NULL;
  if (jobq_open(path, &q) < 0) return 2;
  jobq_set_backoff(q, 0, 0);
  char name[32];
  snprintf(name, sizeof name, "racer-%d", me);
  int idle = 0;
  for (;;) {
    jobq_job j = {0};
    int rc = jobq_claim(q, name, NULL, 0, 60, &j);
    if (rc < 0) {
      fprintf(stderr, "claim: %s\n", jobq_errmsg(q));
      jobq_close(q);
      return 3;
    }
    if (rc == 0) {
      /* Others may still hold jobs that will be retried: wait a little. */
      if (++idle > 20) break;
      usleep(20000);
      continue;
    }
    idle = 0;
    char line[64];
    int n = snprintf(line, sizeof line, "%lld %d\n", (long long)j.id, j.attempt);
    if (write(wfd, line, (size_t)n) != n) return 4;
    int cancel = 0;
    if (jobq_heartbeat(q, j.id, j.attempt, 0.5, "racing", 60, &cancel) < 0) return 5;
    if (j.attempt == 1 && j.id % 97 == 0) {
      if (jobq_fail(q, j.id, j.attempt, "simulated transient failure", 1) < 0) return 6;
    } else {
      char res[64];
      snprintf(res, sizeof res, "{\"by\":%d,\"attempt\":%d}", me, j.attempt);
      if (jobq_complete(q, j.id, j.attempt, res) < 0) {
        fprintf(stderr, "complete: %s\n", jobq_errmsg(q));
        return 7;
      }
    }
    jobq_job_clear(&j);
  }
  jobq_close(q);
  return 0;
}

int main(void) {
  char path[256];
  snprintf(path, sizeof path, "/tmp/pelmap-test-race-%d.db", (int)getpid());
  unlink(path);
  jobq *q = NULL;
  if (jobq_open(path, &q) < 0) bail("open: %s", jobq_open_error());
  char tok[65];
  int64_t users[3];
  for (int u = 0; u < 3; u++) {
    char name[16];
    snprintf(name, sizeof name, "u%d", u);
    if (jobq_user_add(q, name, JOBQ_ROLE_USER, tok, &users[u]) < 0) bail("user");
  }
  for (int i = 0; i < NJOBS; i++) {
    jobq_submit_in in = {0};
    in.user_id = users[i % 3];
    in.kind = "noop";
    in.priority = i % 5;
    int64_t id;
    if (jobq_submit(q, &in, &id, NULL) < 0) bail("submit: %s", jobq_errmsg(q));
  }
  int fds[2];
  if (pipe(fds) < 0) bail("pipe");
  pid_t pids[NPROC];
  for (int p = 0; p < NPROC; p++) {
    pids[p] = fork();
    if (pids[p] < 0) bail("fork");
    if (pids[p] == 0) {
      close(fds[0]);
      _exit(child(path, fds[1], p));
    }
  }
  close(fds[1]);
  /* count[id][attempt] */
  static int count[NJOBS + 1][4];
  FILE *in = fdopen(fds[0], "r");
  long long id;
  int att, lines = 0, bad = 0;
  while (fscanf(in, "%lld %d", &id, &att) == 2) {
    lines++;
    if (id < 1 || id > NJOBS || att < 1 || att > 3)
      bad++;
    else
      count[id][att]++;
  }
  fclose(in);
  int child_ok = 1;
  for (int p = 0; p < NPROC; p++) {
    int st = 0;
    waitpid(pids[p], &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      child_ok = 0;
      diag("racer %d exited with status %d", p, st);
    }
  }
  ok(child_ok, "all %d racers finished cleanly", NPROC);
  int dup = 0, missing = 0, expect_lines = 0;
  for (int i = 1; i <= NJOBS; i++) {
    int want2 = (i % 97 == 0);
    expect_lines += 1 + want2;
    if (count[i][1] != 1) count[i][1] == 0 ? missing++ : dup++;
    if (want2 && count[i][2] != 1) count[i][2] == 0 ? missing++ : dup++;
    if (!want2 && count[i][2] != 0) dup++;
  }
  ok(bad == 0, "every claim names a valid job and attempt");
  ok(dup == 0, "no (job, attempt) claimed twice (%d duplicates)", dup);
  ok(missing == 0, "every (job, attempt) claimed (%d missing)", missing);
  ok(lines == expect_lines, "%d claims for %d jobs (%d expected)", lines, NJOBS, expect_lines);

  sqlite3 *db = NULL;
  sqlite3_open(path, &db);
  sqlite3_stmt *st = NULL;
  sqlite3_prepare_v2(db,
                     "SELECT (SELECT count(*) FROM jobs WHERE state = 'succeeded'), "
                     "(SELECT count(*) FROM results), "
                     "(SELECT count(*) FROM job_events WHERE to_state = 'running')",
                     -1, &st, NULL);
  long long succ = -1, res = -1, runs = -1;
  if (sqlite3_step(st) == SQLITE_ROW) {
    succ = sqlite3_column_int64(st, 0);
    res = sqlite3_column_int64(st, 1);
    runs = sqlite3_column_int64(st, 2);
  }
  sqlite3_finalize(st);
  ok(succ == NJOBS, "all jobs succeeded (%lld)", succ);
  ok(res == NJOBS, "one result per job (%lld)", res);
  ok(runs == expect_lines, "one running event per attempt (%lld)", runs);
  sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL);
  int integ = sqlite3_step(st) == SQLITE_ROW &&
              strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
  sqlite3_finalize(st);
  ok(integ, "integrity_check ok");
  sqlite3_close(db);
  jobq_close(q);
  char side[300];
  unlink(path);
  snprintf(side, sizeof side, "%s-wal", path);
  unlink(side);
  snprintf(side, sizeof side, "%s-shm", path);
  unlink(side);
  return tap_done();
}
