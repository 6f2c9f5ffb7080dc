/*
 * fuzz_read.c -- fuzz target for the structure readers (LAMMPS data, dump,
 * extended XYZ).  Built into the TAP driver fuzz_main.c by make check, and
 * into a libFuzzer binary by hand (docs/formats.md).
 */
#include "fuzz.h"

#include "engine.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int bad(char *why, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(char *why, size_t n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, n, fmt, ap);
  va_end(ap);
  return 1;
}

/* Invariants of any system a reader returns. */
static int check_system(const eng_system *s, char *why, size_t n) {
  if (s->natoms < 1 || s->ntypes < 1 || s->ntypes > 4096)
    return bad(why, n, "natoms %d ntypes %d", s->natoms, s->ntypes);
  for (int k = 0; k < 3; k++)
    if (!(s->box.len[k] > 0.0) || !isfinite(s->box.len[k]) || !isfinite(s->box.lo[k]))
      return bad(why, n, "box length %g along %d", s->box.len[k], k);
  if (!isfinite(s->box.xy) || !isfinite(s->box.xz) || !isfinite(s->box.yz))
    return bad(why, n, "tilt");
  for (int i = 0; i < s->natoms; i++) {
    if (s->id[i] < 1 || (i > 0 && s->id[i] <= s->id[i - 1]))
      return bad(why, n, "ids not positive and increasing at %d", i);
    if (s->type[i] < 0 || s->type[i] >= s->ntypes) return bad(why, n, "type %d", s->type[i]);
    for (int k = 0; k < 3; k++)
      if (!isfinite(s->x[3 * i + k]) || (s->v && !isfinite(s->v[3 * i + k])))
        return bad(why, n, "non-finite coordinate");
  }
  for (int t = 0; t < s->ntypes; t++)
    if (memchr(s->type_name[t], '\0', ENG_NAME_MAX) == NULL) return bad(why, n, "type name");
  for (int k = 0; k < s->nprops; k++) {
    const eng_prop *p = &s->props[k];
    if (p->ncomp < 1 || (p->kind == ENG_PROP_STR ? !p->str : !p->val)) return bad(why, n, "prop");
  }
  return 0;
}

/* Write s in fmt and read it back: must work whenever the write does. */
static int check_rewrite(const eng_system *s, eng_format fmt, char *why, size_t n) {
  char *buf = NULL;
  size_t len = 0;
  eng_system *t = NULL;
  int rc, res = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f) return 0;
  rc = eng_write_stream(f, fmt, s);
  fclose(f);
  if (rc == 0) {
    rc = eng_read_buffer(buf, len, "rewrite", fmt, NULL, &t);
    if (rc != 0)
      res =
          bad(why, n, "re-reading a written %s failed: %s", eng_format_name(fmt), eng_last_error());
    else if (t->natoms != s->natoms || memcmp(t->x, s->x, 3 * sizeof *s->x * (size_t)s->natoms))
      res = bad(why, n, "re-read %s differs", eng_format_name(fmt));
  } else if (rc != ENG_EINVAL) {
    res = bad(why, n, "write %s returned %d", eng_format_name(fmt), rc);
  }
  eng_system_free(t);
  free(buf);
  return res;
}

int fuzz_read_one(const uint8_t *data, size_t size, char *why, size_t whysize) {
  static const eng_format fmts[] = {ENG_FMT_AUTO, ENG_FMT_LAMMPS_DATA, ENG_FMT_LAMMPS_DUMP,
                                    ENG_FMT_EXTXYZ};
  static const eng_read_opts opts[] = {{0, NULL, 0.0}, {-1, "Cu Zr", 4.0}, {1, "Zr", 0.0}};
  /* an exactly sized copy: reading past size is caught by ASan */
  char *copy = malloc(size ? size : 1);
  int res = 0;
  if (!copy) return 0;
  if (size) memcpy(copy, data, size);
  for (size_t f = 0; f < sizeof fmts / sizeof fmts[0] && !res; f++) {
    for (size_t o = 0; o < sizeof opts / sizeof opts[0] && !res; o++) {
      eng_system *s = NULL;
      int rc = eng_read_buffer(copy, size, "fuzz", fmts[f], &opts[o], &s);
      if (rc == ENG_OK) {
        if (!s)
          res = bad(why, whysize, "ENG_OK without a system");
        else
          res = check_system(s, why, whysize);
        if (!res && o == 0) res = check_rewrite(s, ENG_FMT_LAMMPS_DATA, why, whysize);
        if (!res && o == 0) res = check_rewrite(s, ENG_FMT_EXTXYZ, why, whysize);
      } else if (s) {
        res = bad(why, whysize, "failure %d left a system", rc);
      } else if (rc == ENG_EPARSE) {
        if (strncmp(eng_last_error(), "fuzz:", 5) != 0)
          res = bad(why, whysize, "message without the name: %s", eng_last_error());
      } else if (rc != ENG_EINVAL && rc != ENG_ENOMEM) {
        res = bad(why, whysize, "unexpected code %d (%s)", rc, eng_last_error());
      }
      eng_system_free(s);
    }
  }
  free(copy);
  return res;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char why[512];
  if (fuzz_read_one(data, size, why, sizeof why)) {
    fprintf(stderr, "fuzz_read: %s\n", why);
    abort();
  }
  return 0;
}
