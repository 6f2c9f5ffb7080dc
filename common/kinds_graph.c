/*
 * kinds_graph.c -- running a job graph in process (kind_run_graph): what
 * pelmapd does in the queue for kinds with a plan (fan-out sweeps,
 * pipelines), done here one job after another so that the CLI gives the
 * same results as the service (docs/kinds.md, "Job graphs").
 *
 * The graph is flattened depth first: a node's children come before it and
 * siblings keep the plan's order, so running the list in order respects
 * every "after" (which may only name earlier siblings).
 */
#include "config.h"

#include "kinds.h"
#include "kinds_internal.h"

#include "engine.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One job of the flattened graph. */
typedef struct graph_node {
  const kind_def *kind;
  cJSON *params; /* normalized, owned */
  char label[96];
  int *inputs; /* node indices whose results are io->inputs, owned */
  int ninputs;
  int structure_from; /* node index, or -1 = the caller's structure */
  cJSON *result;      /* owned once run */
} graph_node;

typedef struct graph {
  graph_node *nodes;
  int n, cap;
  const eng_system *sys; /* the structure plans see (borrowed) */
  int depth;
} graph;

/* Progress of the whole graph through the caller's callback. */
typedef struct graph_prog {
  const kind_io *io;
  int node, total;
  const char *label;
} graph_prog;

static int graph_on_progress(void *ud, double frac, const char *msg) {
  graph_prog *p = ud;
  char buf[256];
  if (!p->io->progress) return 0;
  snprintf(buf, sizeof buf, "%s (%d/%d): %s", p->label, p->node + 1, p->total,
           msg ? msg : "");
  return p->io->progress(p->io->ud, (p->node + frac) / p->total, buf);
}

static void graph_free(graph *g) {
  int i;
  for (i = 0; i < g->n; i++) {
    cJSON_Delete(g->nodes[i].params);
    cJSON_Delete(g->nodes[i].result);
    free(g->nodes[i].inputs);
  }
  free(g->nodes);
  memset(g, 0, sizeof *g);
}

/* Append a node (taking params); its index, or -1 when out of memory. */
static int graph_add(graph *g, const kind_def *k, cJSON *params,
                     const char *label, const int *inputs, int ninputs,
                     int sf) {
  graph_node *nd;
  if (g->n == g->cap) {
    int cap = g->cap ? 2 * g->cap : 16;
    graph_node *t = realloc(g->nodes, (size_t)cap * sizeof *t);
    if (!t) goto fail;
    g->nodes = t;
    g->cap = cap;
  }
  nd = &g->nodes[g->n];
  memset(nd, 0, sizeof *nd);
  if (ninputs) {
    nd->inputs = malloc((size_t)ninputs * sizeof *nd->inputs);
    if (!nd->inputs) goto fail;
    memcpy(nd->inputs, inputs, (size_t)ninputs * sizeof *inputs);
  }
  nd->kind = k;
  nd->params = params;
  nd->ninputs = ninputs;
  nd->structure_from = sf;
  snprintf(nd->label, sizeof nd->label, "%s", label);
  return g->n++;
fail:
  cJSON_Delete(params);
  return -1;
}

/* Expand kind k with normalized params (taken) into g: its children first
 * (recursively), then k itself.  inputs/sf: what the node gets when k has
 * no plan.  Returns the node index or a negative KIND_E* code (err set). */
static int graph_expand(graph *g, const kind_def *k, cJSON *params,
                        const char *label, const int *inputs, int ninputs,
                        int sf, char *err, size_t errlen) {
  cJSON *children = NULL;
  int *sib = NULL, *in = NULL, nch, j, rc, idx;

  if (!k->plan) return graph_add(g, k, params, label, inputs, ninputs, sf);
  if (++g->depth > 8) {
    snprintf(err, errlen, "%s: job graph nested deeper than 8 levels", label);
    rc = KIND_EINVAL;
    goto out;
  }
  rc = k->plan(params, g->sys, &children, err, errlen);
  if (rc) goto out;
  rc = KIND_EINVAL;
  if (!cJSON_IsArray(children)) {
    snprintf(err, errlen, "%s: plan did not return an array", label);
    goto out;
  }
  nch = cJSON_GetArraySize(children);
  sib = malloc((size_t)(nch + 1) * sizeof *sib);
  in = malloc((size_t)(nch + 1) * sizeof *in);
  if (!sib || !in) goto nomem;
  for (j = 0; j < nch; j++) {
    const cJSON *c = cJSON_GetArrayItem(children, j);
    const cJSON *kn = cJSON_GetObjectItemCaseSensitive(c, "kind");
    const cJSON *after = cJSON_GetObjectItemCaseSensitive(c, "after");
    const cJSON *sfj = cJSON_GetObjectItemCaseSensitive(c, "structure_from");
    const cJSON *lb = cJSON_GetObjectItemCaseSensitive(c, "label");
    const kind_def *ck = cJSON_IsString(kn) ? kind_find(kn->valuestring) : NULL;
    cJSON *norm = NULL;
    char clabel[96], cerr[512];
    int na = 0, csf = sf, a;

    if (!ck) {
      snprintf(err, errlen, "%s: child %d has no known kind", label, j);
      goto out;
    }
    snprintf(clabel, sizeof clabel, "%s",
             cJSON_IsString(lb) ? lb->valuestring : ck->name);
    if (ck->validate(cJSON_GetObjectItemCaseSensitive(c, "params"), &norm,
                     cerr, sizeof cerr)) {
      snprintf(err, errlen, "%s (%s): invalid params from the plan: %s",
               clabel, ck->name, cerr);
      goto out;
    }
    for (a = 0; a < cJSON_GetArraySize(after); a++) {
      const cJSON *v = cJSON_GetArrayItem(after, a);
      if (!cJSON_IsNumber(v) || v->valueint < 0 || v->valueint >= j) {
        cJSON_Delete(norm);
        snprintf(err, errlen, "%s: child %d: \"after\" must name earlier "
                 "siblings", label, j);
        goto out;
      }
      in[na++] = sib[v->valueint];
    }
    if (cJSON_IsNumber(sfj) && sfj->valueint >= 0) {
      if (sfj->valueint >= j) {
        cJSON_Delete(norm);
        snprintf(err, errlen, "%s: child %d: \"structure_from\" must name an "
                 "earlier sibling", label, j);
        goto out;
      }
      csf = sib[sfj->valueint];
    }
    idx = graph_expand(g, ck, norm, clabel, in, na, csf, err, errlen);
    if (idx < 0) {
      rc = idx;
      goto out;
    }
    sib[j] = idx;
  }
  idx = graph_add(g, k, params, label, sib, nch, sf);
  params = NULL;
  if (idx < 0) goto nomem;
  rc = idx;
  g->depth--;
  goto done;
nomem:
  rc = KIND_ENOMEM;
  snprintf(err, errlen, "out of memory");
out:
  cJSON_Delete(params);
done:
  cJSON_Delete(children);
  free(sib);
  free(in);
  return rc;
}

int kind_run_graph(const kind_def *k, const cJSON *params, const kind_io *io,
                   cJSON **result, char *err, size_t errlen) {
  kind__ctx c;
  graph g;
  graph_prog prog;
  cJSON *norm = NULL;
  const cJSON **ins = NULL;
  char nerr[1024];
  int rc, i, top;

  assert(k && io && result);
  *result = NULL;
  memset(&g, 0, sizeof g);
  memset(&c, 0, sizeof c);
  if (!k->plan) return k->run(params, io, result, err, errlen);
  /* the structure the plans see (read as the parent's run would read it) */
  rc = kind__ctx_begin(&c, k->name, params, io, err, errlen);
  if (rc) goto out;
  g.sys = c.sys;
  norm = cJSON_Duplicate(c.params, 1);
  if (!norm) {
    rc = KIND_ENOMEM;
    snprintf(err, errlen, "out of memory");
    goto out;
  }
  top = graph_expand(&g, k, norm, k->name, NULL, 0, -1, err, errlen);
  norm = NULL;
  if (top < 0) {
    rc = top;
    goto out;
  }
  assert(top == g.n - 1);
  ins = malloc((size_t)g.n * sizeof *ins);
  if (!ins) {
    rc = KIND_ENOMEM;
    snprintf(err, errlen, "out of memory");
    goto out;
  }
  prog.io = io;
  prog.total = g.n;
  for (i = 0; i < g.n; i++) {
    graph_node *nd = &g.nodes[i];
    kind_io cio = *io;
    int j;
    for (j = 0; j < nd->ninputs; j++) {
      assert(nd->inputs[j] < i && g.nodes[nd->inputs[j]].result);
      ins[j] = g.nodes[nd->inputs[j]].result;
    }
    cio.inputs = nd->ninputs ? ins : NULL;
    cio.ninputs = nd->ninputs;
    if (nd->structure_from >= 0)
      cio.structure_result = g.nodes[nd->structure_from].result;
    if (i != top) cio.final_system = NULL;
    cio.progress = graph_on_progress;
    cio.ud = &prog;
    prog.node = i;
    prog.label = nd->label;
    nerr[0] = 0;
    rc = nd->kind->run(nd->params, &cio, &nd->result, nerr, sizeof nerr);
    if (rc) {
      snprintf(err, errlen, "%s (%s): %s", nd->label, nd->kind->name, nerr);
      goto out;
    }
  }
  *result = g.nodes[top].result;
  g.nodes[top].result = NULL;
  rc = 0;
out:
  free(ins);
  cJSON_Delete(norm);
  graph_free(&g);
  kind__ctx_end(&c);
  return rc;
}
