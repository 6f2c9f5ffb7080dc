/*
 * test_jobq_graph.c -- job graphs in the queue (jobq_submit_graph), called
 * directly on a real SQLite file:
 *  - a pipeline-shaped graph (a step, a nested fan-out running on that
 *    step's result through structure_from, a step after both, the parent):
 *    ids in pre-order, claims in dependency and plan order, the ordered
 *    inputs and structure_from of every job, the children listing, the
 *    parent's aggregate progress;
 *  - a child failing for good fails its ancestors and the jobs after them
 *    with "LABEL (job ID, KIND) failed: reason" and cancels its unfinished
 *    siblings (a running one learns it at its heartbeat);
 *  - cancelling the parent cancels every descendant;
 *  - a lost child (expired lease) is re-run, the parent is unaffected;
 *  - limits, bad shapes, idempotency;
 *  - speed: submit of 2,000 children, claims with 2,000 dependency rows
 *    (claim time must not grow with the number of finished children).
 */
#include "jobq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../tap.h"

static char dbpath[256];

static int contains(const char *hay, const char *needle) { return hay && strstr(hay, needle) != NULL; }

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Claim one job: its id (0 none) and attempt. */
static int64_t claim(jobq *q, int *attempt, double lease) {
  jobq_job j = {0};
  int rc = jobq_claim(q, "w1", NULL, 0, lease, &j);
  int64_t id = rc == 1 ? j.id : 0;
  if (rc < 0) diag("claim: %s", jobq_errmsg(q));
  if (attempt) *attempt = j.attempt;
  jobq_job_clear(&j);
  return id;
}

static int complete(jobq *q, int64_t id, int attempt) {
  int rc = jobq_complete(q, id, attempt, "{\"summary\":{}}");
  if (rc < 0) diag("complete %lld: %s", (long long)id, jobq_errmsg(q));
  return rc;
}

static char *job_json(jobq *q, int64_t id) {
  char *js = NULL;
  if (jobq_job_json(q, id, 0, &js) < 0) diag("job %lld: %s", (long long)id, jobq_errmsg(q));
  return js;
}

static int state_is(jobq *q, int64_t id, const char *want) {
  char st[16] = "";
  return jobq_job_state(q, id, 0, st, NULL) == 0 && strcmp(st, want) == 0;
}

/* A fan-out: n children (noop, "chunk i/n") then the parent. */
static int fanout(jobq *q, const jobq_submit_in *in, int n, int64_t *ids) {
  jobq_graph_node *nodes = calloc((size_t)n + 1, sizeof *nodes);
  int *idx = malloc(((size_t)n + 1) * sizeof *idx);
  char (*labels)[32] = malloc(((size_t)n + 1) * sizeof *labels);
  int rc = JOBQ_ENOMEM;
  if (!nodes || !idx || !labels) goto out;
  for (int i = 0; i < n; i++) {
    idx[i] = i;
    snprintf(labels[i], sizeof labels[i], "chunk %d/%d", i + 1, n);
    nodes[i] = (jobq_graph_node){"noop", "{\"seconds\":0}", labels[i], n, NULL, 0, NULL, 0, -1};
  }
  nodes[n] = (jobq_graph_node){"noop", "{\"fanout\":1}", "sweep", -1, idx, n, idx, n, -1};
  rc = jobq_submit_graph(q, in, nodes, n + 1, ids, NULL, NULL);
  if (rc < 0) diag("submit graph: %s", jobq_errmsg(q));
out:
  free(nodes);
  free(idx);
  free(labels);
  return rc;
}

static void test_pipeline(jobq *q, int64_t user) {
  /* depth-first as kind_graph_expand makes it (children before parents) */
  static const int a1[] = {0}, a3[] = {1, 2, 0}, in3[] = {1, 2}, a4[] = {0, 3}, a5[] = {0, 3, 4};
  jobq_graph_node nodes[6] = {
      {"minimize", "{}", "minimise", 5, NULL, 0, NULL, 0, -1},
      {"noop", "{}", "chunk 1/2", 3, a1, 1, NULL, 0, 0},
      {"noop", "{}", "chunk 2/2", 3, a1, 1, NULL, 0, 0},
      {"noop", "{\"fanout\":2}", "sweep", 5, a3, 3, in3, 2, 0},
      {"analysis", "{}", "analysis", 5, a4, 2, a4, 2, -1},
      {"pipeline", "{}", "pipeline", -1, a5, 3, a5, 3, -1},
  };
  jobq_submit_in in = {0};
  in.user_id = user;
  int64_t ids[6], root = 0;
  int rc = jobq_submit_graph(q, &in, nodes, 6, ids, &root, NULL);
  ok(rc == 0 && root == ids[5], "pipeline graph submitted (root %lld)", (long long)root);
  if (rc) return;
  ok(ids[0] == root + 1 && ids[3] == root + 2 && ids[1] == root + 3 && ids[2] == root + 4 &&
         ids[4] == root + 5,
     "ids in pre-order: parent, then each child before its own children, siblings in order");
  char *js = job_json(q, root);
  ok(contains(js, "\"graph\":{\"total\":5,\"queued\":5,\"running\":0,\"succeeded\":0") &&
         contains(js, "\"message\":\"0 of 5 jobs done, 0 running\"") &&
         contains(js, "\"label\":\"pipeline\"") && contains(js, "\"inputs\":3"),
     "parent shows the graph: 5 descendants queued");
  if (!contains(js, "\"total\":5")) diag("%s", js);
  free(js);
  js = job_json(q, ids[1]);
  char want[64];
  snprintf(want, sizeof want, "\"parent\":%lld", (long long)ids[3]);
  ok(contains(js, want) && contains(js, "\"label\":\"chunk 1/2\""),
     "a grandchild's parent is the nested fan-out");
  free(js);

  int att = 0;
  int64_t c = claim(q, &att, 30);
  ok(c == ids[0], "first claim: the only job without dependencies (minimise)");
  ok(claim(q, NULL, 30) == 0, "nothing else runnable while it runs");
  /* progress of a running descendant counts */
  int cancel = 0;
  jobq_heartbeat(q, c, att, 0.5, "half", 30, &cancel);
  js = job_json(q, root);
  ok(contains(js, "\"progress\":0.0833333333333333") && contains(js, "\"running\":1"),
     "parent progress = (0.5 running) / (5 + 1)");
  if (!contains(js, "\"running\":1")) diag("%s", js);
  free(js);
  ok(complete(q, c, att) == 0, "minimise done");
  int64_t *in_ids = NULL, sf = 0;
  int n = -1;
  int64_t c1 = claim(q, &att, 30);
  ok(c1 == ids[1], "then chunk 1/2 (plan order)");
  ok(jobq_job_inputs(q, c1, &in_ids, &n, &sf) == 0 && n == 0 && sf == ids[0],
     "chunk: no inputs, structure_from = minimise (inherited)");
  free(in_ids);
  complete(q, c1, att);
  int64_t c2 = claim(q, &att, 30);
  ok(c2 == ids[2], "then chunk 2/2");
  complete(q, c2, att);
  int64_t sw = claim(q, &att, 30);
  ok(sw == ids[3], "the nested fan-out's parent after its chunks");
  ok(jobq_job_inputs(q, sw, &in_ids, &n, &sf) == 0 && n == 2 && in_ids[0] == ids[1] &&
         in_ids[1] == ids[2] && sf == ids[0],
     "its inputs: the chunks in order; structure_from minimise");
  free(in_ids);
  complete(q, sw, att);
  int64_t an = claim(q, &att, 30);
  ok(an == ids[4], "analysis after minimise and the sweep");
  ok(jobq_job_inputs(q, an, &in_ids, &n, &sf) == 0 && n == 2 && in_ids[0] == ids[0] &&
         in_ids[1] == ids[3] && sf == 0,
     "analysis inputs: minimise, sweep; no structure_from");
  free(in_ids);
  complete(q, an, att);
  int64_t r = claim(q, &att, 30);
  ok(r == root, "the parent last");
  ok(jobq_job_inputs(q, r, &in_ids, &n, &sf) == 0 && n == 3 && in_ids[0] == ids[0] &&
         in_ids[1] == ids[3] && in_ids[2] == ids[4],
     "parent inputs: its three children in plan order");
  free(in_ids);
  complete(q, r, att);
  js = job_json(q, root);
  ok(contains(js, "\"state\":\"succeeded\"") && contains(js, "\"succeeded\":5") &&
         contains(js, "\"progress\":1.0"),
     "parent succeeded, graph all succeeded, progress 1");
  free(js);
  int64_t total = 0;
  ok(jobq_job_children(q, root, user, 2, 1, &js, &total) == 0 && total == 3 &&
         contains(js, "\"label\":\"sweep\"") && contains(js, "\"label\":\"analysis\"") &&
         !contains(js, "\"label\":\"minimise\""),
     "children listing: 3 direct children, paged (offset 1, limit 2)");
  free(js);
  ok(jobq_job_children(q, root, user + 1000, 10, 0, &js, &total) == JOBQ_ENOTFOUND,
     "children of an invisible job: not found");
  ok(jobq_job_list(q, user, NULL, NULL, 0, 0, 10, 0, &js, &total) == 0 && total == 1 &&
         contains(js, "\"label\":\"pipeline\""),
     "listing with parent 0: only the top-level job");
  free(js);
  ok(jobq_job_list(q, user, NULL, NULL, 0, root, 10, 0, &js, &total) == 0 && total == 3,
     "listing with parent = the root: its 3 children");
  free(js);
  ok(jobq_job_list(q, user, NULL, NULL, 0, -1, 10, 0, &js, &total) == 0 && total == 6,
     "listing without the filter: all 6 jobs");
  free(js);
}

static void test_failure(jobq *q, int64_t user) {
  jobq_submit_in in = {0};
  in.user_id = user;
  in.max_attempts = 2;
  int64_t ids[5];
  ok(fanout(q, &in, 4, ids) == 0, "fan-out of 4 submitted");
  int64_t root = ids[4];
  /* a job outside the graph that runs after the parent */
  jobq_submit_in ex = {0};
  ex.user_id = user;
  ex.kind = "analysis";
  ex.run_after = &root;
  ex.nrun_after = 1;
  int64_t after = 0;
  ok(jobq_submit(q, &ex, &after, NULL) == 0, "a job after the parent");
  int a0, a1, a2;
  int64_t c0 = claim(q, &a0, 30), c1 = claim(q, &a1, 30), c2 = claim(q, &a2, 30);
  ok(c0 == ids[0] && c1 == ids[1] && c2 == ids[2], "three chunks claimed in order");
  complete(q, c0, a0);
  jobq_set_backoff(q, 0.01, 0.01);
  ok(jobq_fail(q, c1, a1, "boom", 1) == 0 && state_is(q, c1, "queued"),
     "a retryable failure with attempts left: requeued, the parent unaffected");
  ok(state_is(q, root, "queued"), "parent still queued");
  usleep(30000);
  c1 = claim(q, &a1, 30);
  ok(c1 == ids[1] && a1 == 2, "chunk 2/4 re-run (attempt 2)");
  ok(jobq_fail(q, c1, a1, "boom", 0) == 0, "chunk 2/4 fails for good");
  char *js = job_json(q, root);
  char want[160];
  snprintf(want, sizeof want, "\"error\":\"chunk 2/4 (job %lld, noop) failed: boom\"",
           (long long)ids[1]);
  ok(contains(js, "\"state\":\"failed\"") && contains(js, want),
     "the parent failed: %s", want + 9);
  if (!contains(js, want)) diag("%s", js);
  free(js);
  js = job_json(q, after);
  ok(contains(js, "\"state\":\"failed\"") && contains(js, want),
     "the job after the parent failed with the same reason");
  free(js);
  ok(state_is(q, ids[3], "cancelled"), "the queued sibling was cancelled");
  ok(state_is(q, ids[0], "succeeded"), "the finished sibling stays succeeded");
  int cancel = 0;
  ok(jobq_heartbeat(q, c2, a2, 0.5, NULL, 30, &cancel) == 0 && cancel == 1,
     "the running sibling learns it is cancelled at its heartbeat");
  js = job_json(q, ids[2]);
  ok(contains(js, "\"message\":\"cancelled: chunk 2/4"), "... with the reason");
  free(js);
}

static void test_cancel_and_lost(jobq *q, int64_t user) {
  jobq_submit_in in = {0};
  in.user_id = user;
  int64_t ids[6];
  ok(fanout(q, &in, 5, ids) == 0, "fan-out of 5 submitted");
  int a0, a1;
  int64_t c0 = claim(q, &a0, 30), c1 = claim(q, &a1, 30);
  complete(q, c0, a0);
  ok(jobq_cancel(q, ids[5], user, NULL) == 0, "cancel the parent");
  int n = 0;
  for (int i = 1; i < 6; i++) n += state_is(q, ids[i], "cancelled");
  ok(n == 5, "parent and every unfinished child cancelled (%d of 5)", n);
  ok(state_is(q, ids[0], "succeeded"), "the finished child is kept");
  int cancel = 0;
  ok(jobq_heartbeat(q, c1, a1, 0.1, NULL, 30, &cancel) == 0 && cancel == 1,
     "the running child is told at its heartbeat");
  ok(claim(q, NULL, 30) == 0, "nothing left to claim");

  /* a lost child: its lease expires, it is re-run, the parent goes on */
  ok(fanout(q, &in, 2, ids) == 0, "fan-out of 2 submitted");
  jobq_set_backoff(q, 0.01, 0.01);
  c0 = claim(q, &a0, 0.05);
  ok(c0 == ids[0], "chunk 1 claimed with a 50 ms lease");
  usleep(100000);
  c1 = claim(q, &a1, 30);
  ok(c1 == ids[1], "chunk 2 claimed (the reaper requeued chunk 1 meanwhile)");
  ok(state_is(q, ids[0], "queued") && state_is(q, ids[2], "queued"),
     "lost chunk 1 queued again, parent still queued");
  usleep(30000);
  int a2;
  int64_t c2 = claim(q, &a2, 30);
  ok(c2 == ids[0] && a2 == 2, "chunk 1 re-run on attempt 2");
  complete(q, c1, a1);
  complete(q, c2, a2);
  int64_t r = claim(q, &a0, 30);
  ok(r == ids[2] && complete(q, r, a0) == 0, "the parent runs and succeeds");
}

static void test_limits(jobq *q, int64_t user) {
  jobq_submit_in in = {0};
  in.user_id = user;
  in.max_queued = 10;
  int64_t ids[12];
  ok(fanout(q, &in, 10, ids) == JOBQ_ELIMIT && contains(jobq_errmsg(q), "this graph has 11 jobs"),
     "a graph over the queued-jobs limit is refused whole");
  char *js = NULL;
  int64_t total = -1;
  jobq_job_list(q, user, "queued", NULL, 0, -1, 10, 0, &js, &total);
  ok(total == 0, "nothing of it was queued");
  free(js);
  in.max_queued = 0;
  static const int bad_after[] = {1};
  jobq_graph_node bad[2] = {{"noop", "{}", "a", 1, bad_after, 1, NULL, 0, -1},
                            {"noop", "{}", "r", -1, NULL, 0, NULL, 0, -1}};
  ok(jobq_submit_graph(q, &in, bad, 2, NULL, NULL, NULL) == JOBQ_EINVAL,
     "a dependency on a later node is refused (%s)", jobq_errmsg(q));
  jobq_graph_node bad2[2] = {{"noop", "{}", "a", 1, NULL, 0, NULL, 0, -1},
                             {"noop", "[1]", "r", -1, NULL, 0, NULL, 0, -1}};
  ok(jobq_submit_graph(q, &in, bad2, 2, NULL, NULL, NULL) == JOBQ_EINVAL,
     "params not an object refused (%s)", jobq_errmsg(q));
  in.idempotency_key = "graph-1";
  int64_t ids2[3], root = 0;
  int existed = -1;
  ok(fanout(q, &in, 2, ids) == 0, "graph with an idempotency key");
  jobq_graph_node one[3] = {{"noop", "{}", "a", 2, NULL, 0, NULL, 0, -1},
                            {"noop", "{}", "b", 2, NULL, 0, NULL, 0, -1},
                            {"noop", "{}", "r", -1, NULL, 0, NULL, 0, -1}};
  ok(jobq_submit_graph(q, &in, one, 3, ids2, &root, &existed) == 0 && existed == 1 &&
         root == ids[2] && ids2[2] == ids[2] && ids2[0] == 0,
     "the same key again: the same root, nothing new");
  in.idempotency_key = NULL;
  jobq_cancel(q, ids[2], 0, NULL);
}

static void test_speed(jobq *q, int64_t user) {
  enum { N = 2000 };
  jobq_submit_in in = {0};
  in.user_id = user;
  static int64_t ids[N + 1];
  double t0 = now_s();
  int rc = fanout(q, &in, N, ids);
  double ts = now_s() - t0;
  ok(rc == 0, "fan-out of %d children submitted in %.0f ms", N, 1e3 * ts);
/* Speed is measured (diag; bench/service_bench.sh), not asserted: only
   * the absence of growth with the graph's size is a test (below). */
  diag("submit of %d children: %.3f s", N, ts);
  /* claim + complete every child: the first and the last 200 timed */
  double tfirst = 0, tlast = 0, t1 = now_s();
  int bad = 0;
  for (int i = 0; i < N; i++) {
    int att = 0;
    double tc = now_s();
    int64_t c = claim(q, &att, 30);
    tc = now_s() - tc;
    if (i < 200) tfirst += tc;
    if (i >= N - 200) tlast += tc;
    if (c != ids[i] || complete(q, c, att) < 0) bad++;
  }
  double tall = now_s() - t1;
  ok(bad == 0, "%d children claimed in plan order and completed (%.0f claim+complete/s)", N,
     N / tall);
  diag("claim: first 200 %.3f ms each, last 200 %.3f ms each", 1e3 * tfirst / 200,
       1e3 * tlast / 200);
  ok(tlast < 3 * tfirst + 0.1, "claims do not slow down as children finish (%.2f vs %.2f ms)",
     1e3 * tlast / 200, 1e3 * tfirst / 200);
  int att = 0;
  t0 = now_s();
  int64_t r = claim(q, &att, 30);
  ok(r == ids[N], "then the parent (%.2f ms)", 1e3 * (now_s() - t0));
  int64_t *in_ids = NULL, sf = 0;
  int n = 0;
  ok(jobq_job_inputs(q, r, &in_ids, &n, &sf) == 0 && n == N && in_ids[0] == ids[0] &&
         in_ids[N - 1] == ids[N - 1],
     "its %d inputs in order", N);
  free(in_ids);
  t0 = now_s();
  char *js = job_json(q, r);
  double tj = now_s() - t0;
  ok(contains(js, "\"succeeded\":2000"), "parent JSON with the graph summary in %.1f ms",
     1e3 * tj);
  free(js);
  complete(q, r, att);
  /* cancelling a big graph, and failing one: linear work */
  rc = fanout(q, &in, N, ids);
  t0 = now_s();
  int crc = jobq_cancel(q, ids[N], user, NULL);
  double tc = now_s() - t0;
  int64_t total = 0;
  js = NULL;
  jobq_job_list(q, user, "cancelled", NULL, 0, -1, 1, 0, &js, &total);
  free(js);
  ok(rc == 0 && crc == 0 && total >= N + 1, "cancel of a %d-child parent: all cancelled in %.0f ms",
     N, 1e3 * tc);
  rc = fanout(q, &in, N, ids);
  int64_t c = claim(q, &att, 30);
  t0 = now_s();
  int frc = jobq_fail(q, c, att, "boom", 0);
  double tf = now_s() - t0;
  ok(rc == 0 && c == ids[0] && frc == 0 && state_is(q, ids[N], "failed") &&
         state_is(q, ids[N - 1], "cancelled"),
     "a child of a %d-child parent failing: parent failed, siblings cancelled in %.0f ms", N,
     1e3 * tf);
}

int main(void) {
  snprintf(dbpath, sizeof dbpath, "/tmp/pelmap-test-jobq-graph-%d.db", (int)getpid());
  unlink(dbpath);
  jobq *q = NULL;
  if (jobq_open(dbpath, &q) < 0) bail("open: %s", jobq_open_error());
  char tok[65];
  int64_t alice = 0;
  if (jobq_user_add(q, "alice", JOBQ_ROLE_USER, tok, &alice) < 0) bail("user: %s", jobq_errmsg(q));
  test_pipeline(q, alice);
  test_failure(q, alice);
  test_cancel_and_lost(q, alice);
  test_limits(q, alice);
  test_speed(q, alice);
  jobq_close(q);
  char side[300];
  unlink(dbpath);
  snprintf(side, sizeof side, "%s-wal", dbpath);
  unlink(side);
  snprintf(side, sizeof side, "%s-shm", dbpath);
  unlink(side);
  return tap_done();
}
