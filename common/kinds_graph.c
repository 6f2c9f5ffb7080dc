/*
 * kinds_graph.c -- running a job graph in process (kind_run_graph): what
 * pelmapd does in the queue for kinds with a plan (fan-out sweeps,
 * pipelines), done here one job after another so that the CLI gives the
 * same results as the service (docs/kinds.md, "Job graphs").
 *
 * The graph is flattened depth first (kind_graph_expand, also used by
 * pelmapd to create the jobs of a submission): a node's children come
 * before it and siblings keep the plan's order, so running the list in
 * order respects every "after" (which may only name earlier siblings).
 */
#include "config.h"

#include "kinds.h"
#include "kinds_internal.h"

#include "engine.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef kind_graph_node graph_node;
typedef kind_graph graph;

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

void kind_graph_free(kind_graph *g) {
  int i;
  if (!g) return;
  for (i = 0; i < g->n; i++) {
    cJSON_Delete(g->nodes[i].params);
    free(g->nodes[i].inputs);
    free(g->nodes[i].after);
  }
  free(g->nodes);
  memset(g, 0, sizeof *g);
}

/* a union b (each without repeats, b's new items appended) into a new array;
 * NULL only when out of memory (or both empty: *n = 0). */
static int *merge_ids(const int *a, int na, const int *b, int nb, int *n) {
  int *m, k, j;
  *n = 0;
  if (na + nb == 0) return NULL;
  m = malloc((size_t)(na + nb) * sizeof *m);
  if (!m) return NULL;
  for (k = 0; k < na; k++) m[(*n)++] = a[k];
  for (j = 0; j < nb; j++) {
    for (k = 0; k < na && a[k] != b[j]; k++) continue;
    if (k == na) m[(*n)++] = b[j];
  }
  return m;
}

/* Append a node (taking params); its index, or -1 when out of memory.
 * after = inputs union inh (inh: inherited from planned ancestors). */
static int graph_add(graph *g, const kind_def *k, cJSON *params,
                     const char *label, const int *inputs, int ninputs,
                     const int *inh, int ninh, int sf) {
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
  nd->after = merge_ids(inputs, ninputs, inh, ninh, &nd->nafter);
  if (ninputs + ninh && !nd->after) {
    free(nd->inputs);
    goto fail;
  }
  nd->kind = k;
  nd->params = params;
  nd->ninputs = ninputs;
  nd->structure_from = sf;
  nd->parent = -1;
  snprintf(nd->label, sizeof nd->label, "%s", label);
  return g->n++;
fail:
  cJSON_Delete(params);
  return -1;
}

/* Expand kind k with normalized params (taken) into g: its children first
 * (recursively), then k itself.  own/nown: the siblings k runs after (its
 * inputs when k has no plan); inh/ninh: what planned ancestors run after;
 * sf: structure_from.  Returns the node index or a negative KIND_E* code
 * (err set). */
static int graph_expand(graph *g, const kind_def *k, cJSON *params,
                        const char *label, const int *own, int nown,
                        const int *inh, int ninh, int sf, char *err,
                        size_t errlen) {
  cJSON *children = NULL;
  int *sib = NULL, *in = NULL, *cinh = NULL, ncinh = 0, nch, j, rc, idx;

  if (!k->plan) {
    idx = graph_add(g, k, params, label, own, nown, inh, ninh, sf);
    if (idx < 0) snprintf(err, errlen, "out of memory");
    return idx < 0 ? KIND_ENOMEM : idx;
  }
  if (++g->depth > 8) {
    snprintf(err, errlen, "%s: job graph nested deeper than 8 levels", label);
    rc = KIND_EINVAL;
    goto out;
  }
  /* the children run after whatever this node runs after */
  cinh = merge_ids(inh, ninh, own, nown, &ncinh);
  if (ninh + nown && !cinh) goto nomem;
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
    idx = graph_expand(g, ck, norm, clabel, in, na, cinh, ncinh, csf, err,
                       errlen);
    if (idx < 0) {
      rc = idx;
      goto out;
    }
    sib[j] = idx;
  }
  idx = graph_add(g, k, params, label, sib, nch, cinh, ncinh, sf);
  params = NULL;
  if (idx < 0) goto nomem;
  for (j = 0; j < nch; j++) g->nodes[sib[j]].parent = idx;
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
  free(cinh);
  return rc;
}

int kind_graph_expand(const kind_def *k, const cJSON *params,
                      const kind_io *io, kind_graph *g, char *err,
                      size_t errlen) {
  kind__ctx c;
  cJSON *norm;
  int rc, top;

  assert(k && g);
  memset(g, 0, sizeof *g);
  /* the structure the plans see (read as the top job's run would read it) */
  rc = kind__ctx_begin(&c, k->name, params, io, err, errlen);
  if (rc) goto out;
  g->sys = c.sys;
  norm = cJSON_Duplicate(c.params, 1);
  if (!norm) {
    rc = KIND_ENOMEM;
    snprintf(err, errlen, "out of memory");
    goto out;
  }
  top = graph_expand(g, k, norm, k->name, NULL, 0, NULL, 0, -1, err, errlen);
  if (top < 0) {
    rc = top;
    goto out;
  }
  assert(top == g->n - 1);
  rc = 0;
out:
  g->sys = NULL;
  if (rc) kind_graph_free(g);
  kind__ctx_end(&c);
  return rc;
}

int kind_run_graph(const kind_def *k, const cJSON *params, const kind_io *io,
                   cJSON **result, char *err, size_t errlen) {
  graph g;
  graph_prog prog;
  const cJSON **ins = NULL;
  cJSON **res = NULL;
  char nerr[1024];
  int rc, i, top;

  assert(k && io && result);
  *result = NULL;
  if (!k->plan) return k->run(params, io, result, err, errlen);
  rc = kind_graph_expand(k, params, io, &g, err, errlen);
  if (rc) return rc;
  top = g.n - 1;
  ins = malloc((size_t)g.n * sizeof *ins);
  res = calloc((size_t)g.n, sizeof *res);
  if (!ins || !res) {
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
      assert(nd->inputs[j] < i && res[nd->inputs[j]]);
      ins[j] = res[nd->inputs[j]];
    }
    cio.inputs = nd->ninputs ? ins : NULL;
    cio.ninputs = nd->ninputs;
    cio.structure_result =
        nd->structure_from >= 0 ? res[nd->structure_from] : NULL;
    if (i != top) cio.final_system = NULL;
    cio.progress = graph_on_progress;
    cio.ud = &prog;
    prog.node = i;
    prog.label = nd->label;
    nerr[0] = 0;
    rc = nd->kind->run(nd->params, &cio, &res[i], nerr, sizeof nerr);
    if (rc) {
      snprintf(err, errlen, "%s (%s): %s", nd->label, nd->kind->name, nerr);
      goto out;
    }
    if (i != top) {
      /* The queue hands results on as JSON text (printed by the worker,
       * parsed by the next one), and cJSON's shortest round-tripping
       * print may move a number by one ulp: do the same here, so that a
       * graph gives bit-identical results in process and in the queue. */
      char *t = cJSON_PrintUnformatted(res[i]);
      cJSON *back = t ? cJSON_Parse(t) : NULL;
      free(t);
      if (!back) {
        rc = KIND_ENOMEM;
        snprintf(err, errlen, "%s (%s): out of memory", nd->label,
                 nd->kind->name);
        goto out;
      }
      cJSON_Delete(res[i]);
      res[i] = back;
    }
  }
  *result = res[top];
  res[top] = NULL;
  rc = 0;
out:
  for (i = 0; res && i < g.n; i++) cJSON_Delete(res[i]);
  free(res);
  free(ins);
  kind_graph_free(&g);
  return rc;
}
