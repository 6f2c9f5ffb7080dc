/*
 * test_kinds_desc.c -- TAP: the descriptors job kind called through the
 * kind table with a kind_io (as the worker does): progress goes through
 * kind_io.progress stage by stage (minimize, rdf, voronoi, s2, msd; the MD's
 * own progress comes every 1000 steps, more than this short run has),
 * fractions rise monotonically to 1, and a nonzero return from the callback
 * at the msd stage cancels the run (KIND_ECANCEL, no result, nothing
 * leaked).  D2min against an input result (job graph) with one atom
 * moved is non-zero exactly on that atom and its neighbours; msd_diffusive
 * and d2min after it record their seed and are reproducible.  The result
 * JSON itself is checked by test_desc.sh.
 */
#include "config.h"

#include "kinds.h"
#include "../tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POT "/usr/share/lammps/potentials/CuZr_mm.eam.fs"

/* Whole file into a new buffer (NULL if unreadable). */
static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  char *buf = NULL;
  long n;
  if (!f) return NULL;
  if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
      fseek(f, 0, SEEK_SET) == 0) {
    buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
      free(buf);
      buf = NULL;
    }
    if (buf) {
      buf[n] = 0;
      *len = (size_t)n;
    }
  }
  fclose(f);
  return buf;
}

/* What the progress callback saw. */
typedef struct seen {
  int calls, monotone, in_range, cancel_in_msd;
  double last;
  char stages[256]; /* stage names in order of first appearance */
  int msd_calls;
} seen;

static int on_progress(void *ud, double frac, const char *msg) {
  seen *s = ud;
  char stage[32];
  const char *colon = msg ? strchr(msg, ':') : NULL;
  s->calls++;
  if (frac < s->last) s->monotone = 0;
  if (frac < 0 || frac > 1) s->in_range = 0;
  s->last = frac;
  if (colon && colon - msg < (long)sizeof stage - 1) {
    snprintf(stage, sizeof stage, "%.*s ", (int)(colon - msg), msg);
    if (!strstr(s->stages, stage) &&
        strlen(s->stages) + strlen(stage) < sizeof s->stages)
      strcat(s->stages, stage);
    if (!strcmp(stage, "msd ")) {
      s->msd_calls++;
      if (s->cancel_in_msd) return 1;
    }
  }
  return 0;
}

int main(void) {
  const char *src = getenv("PELMAP_SRCDIR");
  char path[4096];
  kind_io io;
  cJSON *p = NULL, *r = NULL;
  char err[512];
  char *sdata = NULL, *pdata = NULL;
  size_t slen = 0, plen = 0;
  seen s;
  int rc;
  const kind_def *k = kind_find("descriptors");

  snprintf(path, sizeof path, "%s/tests/data/desc/cuzr500.data", src ? src : "../..");
  sdata = slurp(path, &slen);
  pdata = slurp(POT, &plen);
  if (!sdata || !pdata) {
    printf("1..0 # SKIP %s or %s not readable\n", path, POT);
    free(sdata);
    free(pdata);
    return 0;
  }
  memset(&io, 0, sizeof io);
  io.structure_data = sdata;
  io.structure_len = slen;
  io.structure_name = "cuzr500.data";
  io.potential_data = pdata;
  io.potential_len = plen;
  io.potential_name = "CuZr_mm.eam.fs";
  io.progress = on_progress;
  io.ud = &s;

  ok(k != NULL, "kind_find(descriptors)");
  if (!k) goto out;
  p = cJSON_Parse("{\"only\":\"rdf,voronoi,s2,msd\",\"msd_time\":0.2,"
                  "\"seed\":3}");
  memset(&s, 0, sizeof s);
  s.monotone = s.in_range = 1;
  rc = k->run(p, &io, &r, err, sizeof err);
  ok(rc == 0 && r, "run through kind_io (rc %d %s)", rc, rc ? err : "");
  ok(!strcmp(s.stages, "minimize rdf voronoi s2 msd "),
     "progress stages in order: '%s'", s.stages);
  ok(s.monotone && s.in_range && s.last == 1.0,
     "fractions in [0,1], non-decreasing, ending at 1 (%d calls)", s.calls);
  cJSON_Delete(r);
  r = NULL;

  memset(&s, 0, sizeof s);
  s.monotone = s.in_range = 1;
  s.cancel_in_msd = 1;
  rc = k->run(p, &io, &r, err, sizeof err);
  ok(rc == KIND_ECANCEL && r == NULL && strstr(err, "cancel"),
     "nonzero from progress at the msd stage -> KIND_ECANCEL, no result (%s)", err);
  cJSON_Delete(r);
  r = NULL;

  /* ---- D2min against an input result: one atom moved ---- */
  {
    const kind_def *ke = kind_find("minimize"); /* the glass is a minimum: 0 iterations */
    cJSON *e = NULL, *q = NULL, *pa, *xs, *d2a, *nna;
    const cJSON *inp[1];
    int nz = 0, n = 0, i, far0 = 1;
    io.progress = NULL;
    rc = ke ? ke->run(NULL, &io, &e, err, sizeof err) : -1;
    ok(rc == 0 && e, "minimize result (positions) as the input (rc %d %s)", rc, rc ? err : "");
    q = cJSON_Parse("{\"only\":\"d2min\",\"minimize\":false,"
                    "\"d2min_current\":\"input\",\"d2min_cutoff\":3.9}");
    rc = k->run(q, &io, &r, err, sizeof err);
    ok(rc == KIND_EINVAL && r == NULL && strstr(err, "input"),
       "d2min_current input without inputs -> KIND_EINVAL (%s)", err);
    cJSON_Delete(r);
    r = NULL;
    pa = e ? cJSON_GetObjectItemCaseSensitive(e, "per_atom") : NULL;
    xs = cJSON_GetObjectItemCaseSensitive(pa, "x");
    if (cJSON_GetArraySize(xs) > 0) {
      cJSON *x0 = cJSON_GetArrayItem(xs, 0);
      cJSON_SetNumberValue(x0, x0->valuedouble + 0.3);
      inp[0] = e;
      io.inputs = inp;
      io.ninputs = 1;
      rc = k->run(q, &io, &r, err, sizeof err);
      io.inputs = NULL;
      io.ninputs = 0;
      ok(rc == 0 && r, "d2min against input 1 (rc %d %s)", rc, rc ? err : "");
      pa = r ? cJSON_GetObjectItemCaseSensitive(r, "per_atom") : NULL;
      d2a = cJSON_GetObjectItemCaseSensitive(pa, "d2min");
      nna = cJSON_GetObjectItemCaseSensitive(pa, "d2min_neighbours");
      n = cJSON_GetArraySize(d2a);
      for (i = 0; i < n; i++) {
        double v = cJSON_GetArrayItem(d2a, i)->valuedouble;
        if (v > 1e-20) nz++;
        else if (i == 0) far0 = 0;
      }
      ok(n == 500 && far0 && cJSON_GetArraySize(nna) == 500 &&
             nz == 1 + (int)cJSON_GetArrayItem(nna, 0)->valuedouble,
         "D2min > 0 exactly for the moved atom and its %d neighbours (%d non-zero)",
         nna ? (int)cJSON_GetArrayItem(nna, 0)->valuedouble : -1, nz);
      cJSON_Delete(r);
      r = NULL;
    }
    cJSON_Delete(q);
    cJSON_Delete(e);
  }

  /* ---- diffusive MSD + D2min after it: recorded, reproducible ---- */
  {
    cJSON *q = cJSON_Parse("{\"only\":\"d2min\",\"diff_time\":0.2,\"seed\":9}");
    cJSON *r2 = NULL, *sm, *pa, *pa2;
    char *a = NULL, *b = NULL;
    memset(&s, 0, sizeof s);
    s.monotone = s.in_range = 1;
    io.progress = on_progress;
    rc = k->run(q, &io, &r, err, sizeof err);
    ok(rc == 0 && r, "msd_diffusive + d2min (rc %d %s)", rc, rc ? err : "");
    ok(!strcmp(s.stages, "minimize rdf msd_diffusive d2min "),
       "d2min brings in rdf (cutoff 0) and msd_diffusive: '%s'", s.stages);
    io.progress = NULL;
    rc = k->run(q, &io, &r2, err, sizeof err);
    sm = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(r, "summary"), "msd_diffusive");
    ok(cJSON_GetObjectItemCaseSensitive(sm, "seed") &&
           cJSON_GetObjectItemCaseSensitive(sm, "seed")->valuedouble == 10 &&
           cJSON_GetObjectItemCaseSensitive(sm, "temperature")->valuedouble == 700,
       "summary.msd_diffusive records seed + 1 = 10 and 700 K");
    pa = cJSON_GetObjectItemCaseSensitive(r, "per_atom");
    pa2 = cJSON_GetObjectItemCaseSensitive(r2, "per_atom");
    a = cJSON_PrintUnformatted(pa);
    b = cJSON_PrintUnformatted(pa2);
    ok(rc == 0 && a && b && !strcmp(a, b) &&
           cJSON_GetObjectItemCaseSensitive(pa, "msd_diffusive") &&
           cJSON_GetObjectItemCaseSensitive(pa, "d2min"),
       "a rerun with the same seed gives identical per-atom msd_diffusive and d2min");
    free(a);
    free(b);
    cJSON_Delete(r2);
    cJSON_Delete(r);
    r = NULL;
    cJSON_Delete(q);
  }
out:
  cJSON_Delete(p);
  free(sdata);
  free(pdata);
  return tap_done();
}
