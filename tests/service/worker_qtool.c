/*
 * worker_qtool.c -- test helper for tests/service/worker_db.sh: fills and
 * pokes a queue database through jobq_* (the same library pelmapd uses), so
 * that pelmap-worker --db can be tested without the HTTP server.
 *
 *   worker_qtool DB setup POTFILE             user "t" + default potential
 *   worker_qtool DB submit KIND N PARAMS [STRUCTURE]
 *                                             N jobs (params validated by the
 *                                             kind table); prints the ids
 *   worker_qtool DB cancel ID                 cancel a job
 *
 * Exit status 0 on success, 1 with a message on stderr otherwise.
 */
#include "config.h"

#include "engine.h"
#include "jobq.h"
#include "kinds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Read a whole file: malloc'd bytes in *data (NUL-terminated), length in
 * *len.  0 on success, -1 (message printed) on failure. */
static int qt_slurp(const char *path, char **data, long *len) {
  FILE *f = fopen(path, "rb");
  long n = -1;
  int rc = -1;
  *data = NULL;
  if (!f) goto out;
  if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
  if (n < 0 || fseek(f, 0, SEEK_SET)) goto out;
  *data = malloc((size_t)n + 1);
  if (!*data || fread(*data, 1, (size_t)n, f) != (size_t)n) goto out;
  (*data)[n] = 0;
  *len = n;
  rc = 0;
out:
  if (rc) {
    fprintf(stderr, "worker_qtool: cannot read %s\n", path);
    free(*data);
    *data = NULL;
  }
  if (f) fclose(f);
  return rc;
}

static int qt_setup(jobq *q, const char *potfile) {
  char token[65];
  int64_t uid, pid;
  int existed, rc, k;
  eng_potential *pot = NULL;
  char *bytes = NULL, elements[256];
  long n = 0;
  jobq_potential_in pin;

  rc = jobq_user_add(q, "t", JOBQ_ROLE_USER, token, &uid);
  if (rc && rc != JOBQ_EEXIST) goto dberr;
  if (eng_potential_read(potfile, ENG_POT_AUTO, &pot)) {
    fprintf(stderr, "worker_qtool: %s\n", eng_last_error());
    return 1;
  }
  if (qt_slurp(potfile, &bytes, &n)) {
    rc = 1;
    goto out;
  }
  strcpy(elements, "[");
  for (k = 0; k < eng_potential_nelements(pot); k++)
    snprintf(elements + strlen(elements), sizeof elements - strlen(elements), "%s\"%s\"",
             k ? "," : "", eng_potential_element(pot, k));
  strcat(elements, "]");
  memset(&pin, 0, sizeof pin);
  pin.name = strrchr(potfile, '/') ? strrchr(potfile, '/') + 1 : potfile;
  pin.style = eng_pot_style_name(eng_potential_style(pot));
  pin.elements_json = elements;
  pin.cutoff = eng_potential_cutoff(pot);
  pin.bytes = bytes;
  pin.len = (size_t)n;
  pin.is_default = 1;
  rc = jobq_potential_add(q, &pin, &pid, &existed);
  if (rc) goto dberr;
  printf("%lld\n", (long long)pid);
  rc = 0;
  goto out;
dberr:
  fprintf(stderr, "worker_qtool: %s\n", jobq_errmsg(q));
  rc = 1;
out:
  free(bytes);
  eng_potential_free(pot);
  return rc;
}

/* Add the structure file for user 1; *sid its id. */
static int qt_structure(jobq *q, const char *path, int64_t *sid) {
  eng_system *s = NULL;
  char *bytes = NULL, species[256] = "{", box[512];
  long n = 0;
  int rc = 1, existed, t;
  int counts[64] = {0};
  jobq_structure_in in;
  if (eng_read_file(path, ENG_FMT_AUTO, NULL, &s)) {
    fprintf(stderr, "worker_qtool: %s\n", eng_last_error());
    return 1;
  }
  if (s->ntypes > 64 || qt_slurp(path, &bytes, &n)) goto out;
  eng_system_type_counts(s, counts);
  for (t = 0; t < s->ntypes; t++)
    snprintf(species + strlen(species), sizeof species - strlen(species), "%s\"%s\":%d",
             t ? "," : "", s->type_name[t], counts[t]);
  strcat(species, "}");
  snprintf(box, sizeof box,
           "{\"lo\":[%.17g,%.17g,%.17g],\"len\":[%.17g,%.17g,%.17g],"
           "\"tilt\":[%.17g,%.17g,%.17g],\"periodic\":[%d,%d,%d]}",
           s->box.lo[0], s->box.lo[1], s->box.lo[2], s->box.len[0], s->box.len[1],
           s->box.len[2], s->box.xy, s->box.xz, s->box.yz, s->box.periodic[0],
           s->box.periodic[1], s->box.periodic[2]);
  memset(&in, 0, sizeof in);
  in.owner = 1;
  in.name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
  in.format = eng_format_name(eng_format_sniff(bytes, (size_t)n, path));
  in.bytes = bytes;
  in.len = (size_t)n;
  in.natoms = s->natoms;
  in.species_json = species;
  in.box_json = box;
  if (jobq_structure_add(q, &in, sid, &existed)) {
    fprintf(stderr, "worker_qtool: %s\n", jobq_errmsg(q));
    goto out;
  }
  rc = 0;
out:
  free(bytes);
  eng_system_free(s);
  return rc;
}

static int qt_submit(jobq *q, const char *kind, int count, const char *params,
                     const char *structure) {
  const kind_def *k = kind_find(kind);
  cJSON *p = cJSON_Parse(params), *norm = NULL;
  char err[512], *text = NULL;
  int64_t sid = 0, pid = 0, id;
  int i, existed, rc = 1;
  jobq_submit_in in;
  if (!k || !p) {
    fprintf(stderr, "worker_qtool: unknown kind or bad params JSON\n");
    goto out;
  }
  if (k->validate(p, &norm, err, sizeof err)) {
    fprintf(stderr, "worker_qtool: %s\n", err);
    goto out;
  }
  text = cJSON_PrintUnformatted(norm);
  if (structure && qt_structure(q, structure, &sid)) goto out;
  if (structure && jobq_potential_default(q, &pid)) {
    fprintf(stderr, "worker_qtool: no default potential (run setup)\n");
    goto out;
  }
  memset(&in, 0, sizeof in);
  in.user_id = 1;
  in.kind = kind;
  in.params_json = text;
  in.structure_id = sid;
  in.potential_id = pid;
  for (i = 0; i < count; i++) {
    if (jobq_submit(q, &in, &id, &existed)) {
      fprintf(stderr, "worker_qtool: %s\n", jobq_errmsg(q));
      goto out;
    }
    if (count <= 10 || i == 0 || i == count - 1) printf("%lld\n", (long long)id);
  }
  rc = 0;
out:
  free(text);
  cJSON_Delete(p);
  cJSON_Delete(norm);
  return rc;
}

int main(int argc, char **argv) {
  jobq *q = NULL;
  int rc = 1;
  if (argc < 3) {
    fprintf(stderr, "usage: worker_qtool DB setup POTFILE | submit KIND N PARAMS [STRUCTURE] | cancel ID\n");
    return 1;
  }
  if (jobq_open(argv[1], &q)) {
    fprintf(stderr, "worker_qtool: %s\n", jobq_open_error());
    return 1;
  }
  if (!strcmp(argv[2], "setup") && argc == 4) {
    rc = qt_setup(q, argv[3]);
  } else if (!strcmp(argv[2], "submit") && (argc == 6 || argc == 7)) {
    rc = qt_submit(q, argv[3], atoi(argv[4]), argv[5], argc == 7 ? argv[6] : NULL);
  } else if (!strcmp(argv[2], "cancel") && argc == 4) {
    rc = jobq_cancel(q, atoll(argv[3]), 0, "cancelled by worker_qtool") ? 1 : 0;
    if (rc) fprintf(stderr, "worker_qtool: %s\n", jobq_errmsg(q));
  } else {
    fprintf(stderr, "worker_qtool: bad command\n");
  }
  jobq_close(q);
  return rc;
}
