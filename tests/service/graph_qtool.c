/*
 * graph_qtool.c -- test helper for tests/service/graph_http.sh: queues a
 * small job graph straight into the queue database with
 * jobq_submit_graph, for shapes no product kind's plan makes yet.
 *
 *   graph_qtool DB TOKEN STRUCTURE chain
 *     a "structure_from" chain on STRUCTURE (default potential):
 *       minimise  minimize
 *       energy    energy, after minimise, structure_from minimise
 *       (root)    noop with inputs [minimise, energy]
 *     prints "ROOT MINIMISE ENERGY" (job ids).
 *
 * Exit status 0, or 1 with a message on stderr.
 */
#include "jobq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  jobq *q = NULL;
  jobq_user u;
  int64_t pot = 0, ids[3];
  int rc = 1;
  if (argc != 5 || strcmp(argv[4], "chain") != 0) {
    fprintf(stderr, "usage: graph_qtool DB TOKEN STRUCTURE chain\n");
    return 2;
  }
  if (jobq_open(argv[1], &q) < 0) {
    fprintf(stderr, "graph_qtool: %s\n", jobq_open_error());
    return 1;
  }
  if (jobq_user_auth(q, argv[2], &u) < 0 || jobq_potential_default(q, &pot) < 0) {
    fprintf(stderr, "graph_qtool: %s\n", jobq_errmsg(q));
    goto out;
  }
  static const int a1[] = {0}, in2[] = {0, 1};
  jobq_graph_node nodes[3] = {
      {"minimize", "{\"ftol\":1e-4}", "minimise", 2, NULL, 0, NULL, 0, -1},
      {"energy", "{}", "energy on minimised", 2, a1, 1, NULL, 0, 0},
      {"noop", "{}", "chain", -1, in2, 2, in2, 2, -1},
  };
  jobq_submit_in in = {0};
  in.user_id = u.id;
  in.structure_id = atoll(argv[3]);
  in.potential_id = pot;
  if (jobq_submit_graph(q, &in, nodes, 3, ids, NULL, NULL) < 0) {
    fprintf(stderr, "graph_qtool: %s\n", jobq_errmsg(q));
    goto out;
  }
  printf("%lld %lld %lld\n", (long long)ids[2], (long long)ids[0], (long long)ids[1]);
  rc = 0;
out:
  jobq_close(q);
  return rc;
}
