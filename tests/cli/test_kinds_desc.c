/*
 * test_kinds_desc.c -- TAP: the descriptors job kind called through the
 * kind table with a kind_io (as the worker does): progress goes through
 * kind_io.progress stage by stage (minimize, rdf, voronoi, s2, msd; the MD's
 * own progress comes every 1000 steps, more than this short run has),
 * fractions rise monotonically to 1, and a nonzero return from the callback
 * at the msd stage cancels the run (KIND_ECANCEL, no result, nothing
 * leaked).  The result JSON itself is checked by test_desc.sh.
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
out:
  cJSON_Delete(p);
  free(sdata);
  free(pdata);
  return tap_done();
}
