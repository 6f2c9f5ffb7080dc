/*
 * fuzz_main.c -- fixed-seed mutation fuzzing of the structure readers, run
 * as a TAP test by make check: inputs are the files in tests/data/io plus
 * a few built-in seeds, mutated by bit flips, byte changes, truncations,
 * inserted numbers and duplicated or deleted lines.  Every input goes
 * through fuzz_read_one (fuzz_read.c).  PELMAP_FUZZ_ITERS overrides the
 * number of mutated inputs (default 3000).
 */
#include "fuzz.h"

#include "../tap.h"
#include "engine.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXSEEDS 64
#define MAXLEN 65536

typedef struct seed {
  char name[256];
  uint8_t *data;
  size_t len;
} seed;

static seed seeds[MAXSEEDS];
static int nseeds;

static void add_seed(const char *name, const void *data, size_t len) {
  if (nseeds == MAXSEEDS || len > MAXLEN) return;
  seeds[nseeds].data = malloc(len ? len : 1);
  if (!seeds[nseeds].data) bail("out of memory");
  memcpy(seeds[nseeds].data, data, len);
  seeds[nseeds].len = len;
  snprintf(seeds[nseeds].name, sizeof seeds[nseeds].name, "%s", name);
  nseeds++;
}

static int cmp_seed(const void *a, const void *b) {
  return strcmp(((const seed *)a)->name, ((const seed *)b)->name);
}

static void load_corpus(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *e;
  if (!d) return;
  for (;;) {
    char path[8192], buf[MAXLEN];
    FILE *f;
    size_t n;
    e = readdir(d);
    if (!e) break;
    if (e->d_name[0] == '.') continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    f = fopen(path, "rb");
    if (!f) continue;
    n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    add_seed(e->d_name, buf, n);
  }
  closedir(d);
  /* readdir order depends on the file system: sort for reproducibility */
  qsort(seeds, (size_t)nseeds, sizeof seeds[0], cmp_seed);
}

static const char *const numbers[] = {"0",
                                      "-1",
                                      "1",
                                      "2",
                                      "3",
                                      "1e308",
                                      "-1e400",
                                      "nan",
                                      "inf",
                                      "2147483648",
                                      "1000000000000",
                                      "-0",
                                      "0.5",
                                      "99999",
                                      "9223372036854775808",
                                      " ",
                                      "\n",
                                      "#",
                                      "\"",
                                      "=",
                                      ":",
                                      "ITEM: ",
                                      "Atoms\n",
                                      "xy xz yz",
                                      "T",
                                      "F"};

/* Apply 1..4 random mutations to buf (length *len, capacity cap). */
static void mutate(eng_rng *r, uint8_t *buf, size_t *len, size_t cap) {
  int nmut = 1 + (int)(eng_rng_next(r) % 4);
  for (int m = 0; m < nmut; m++) {
    size_t n = *len, pos = n ? (size_t)(eng_rng_next(r) % n) : 0;
    switch (eng_rng_next(r) % 7) {
    case 0: /* bit flip */
      if (n) buf[pos] ^= (uint8_t)(1u << (eng_rng_next(r) % 8));
      break;
    case 1: /* random byte */
      if (n) buf[pos] = (uint8_t)eng_rng_next(r);
      break;
    case 2: /* truncate */
      *len = pos;
      break;
    case 3: { /* insert a number or a token */
      const char *t = numbers[eng_rng_next(r) % (sizeof numbers / sizeof numbers[0])];
      size_t tl = strlen(t);
      if (n + tl > cap) break;
      memmove(buf + pos + tl, buf + pos, n - pos);
      memcpy(buf + pos, t, tl);
      *len = n + tl;
      break;
    }
    case 4: { /* delete a range */
      size_t k = n ? (size_t)(eng_rng_next(r) % 64) : 0;
      if (pos + k > n) k = n - pos;
      memmove(buf + pos, buf + pos + k, n - pos - k);
      *len = n - k;
      break;
    }
    case 5: { /* duplicate the line at pos */
      size_t a = pos, b = pos;
      while (a > 0 && buf[a - 1] != '\n') a--;
      while (b < n && buf[b] != '\n') b++;
      if (b < n) b++;
      if (n + (b - a) > cap) break;
      memmove(buf + b + (b - a), buf + b, n - b);
      memcpy(buf + b, buf + a, b - a);
      *len = n + (b - a);
      break;
    }
    default: /* replace a digit by another */
      for (size_t k = pos; k < n; k++)
        if (buf[k] >= '0' && buf[k] <= '9') {
          buf[k] = (uint8_t)('0' + eng_rng_next(r) % 10);
          break;
        }
    }
  }
}

int main(void) {
  const char *src = getenv("PELMAP_SRCDIR"), *it = getenv("PELMAP_FUZZ_ITERS");
  char dir[4096], why[512];
  long iters = it && *it ? atol(it) : 3000, failures = 0;
  static uint8_t buf[2 * MAXLEN];
  eng_rng r;
  static const char builtin[] =
      "2\nLattice=\"4 0 0 0 4 0 0 0 4\" Properties=species:S:1:pos:R:3:id:I:1:c:R:1 pbc=\"T T F\"\n"
      "Cu 0 0 0 1 0.5\nZr 2 2 2 2 -1\n";
  snprintf(dir, sizeof dir, "%s/tests/data/io", src && *src ? src : "..");
  load_corpus(dir);
  add_seed("builtin.xyz", builtin, sizeof builtin - 1);
  ok(nseeds >= 5, "corpus loaded from %s (%d seeds)", dir, nseeds);
  for (int k = 0; k < nseeds; k++) {
    int bad = fuzz_read_one(seeds[k].data, seeds[k].len, why, sizeof why);
    ok(!bad, "seed %s %s", seeds[k].name, bad ? why : "");
  }
  eng_rng_seed(&r, 20261129);
  for (long i = 0; i < iters && nseeds > 0; i++) {
    const seed *s = &seeds[eng_rng_next(&r) % (uint64_t)nseeds];
    size_t len = s->len;
    memcpy(buf, s->data, len);
    mutate(&r, buf, &len, sizeof buf);
    if (fuzz_read_one(buf, len, why, sizeof why)) {
      if (failures++ < 5) {
        /* keep the input for debugging: fuzz_fail_N.bin in the build tree */
        const char *b = getenv("PELMAP_BUILDDIR");
        char path[4096];
        FILE *f;
        snprintf(path, sizeof path, "%s/tests/fuzz_fail_%ld.bin", b && *b ? b : ".", failures);
        f = fopen(path, "wb");
        if (f) {
          fwrite(buf, 1, len, f);
          fclose(f);
        }
        diag("mutation %ld of %s: %s (input saved in %s)", i, s->name, why, path);
      }
    }
  }
  ok(failures == 0, "%ld mutated inputs, %ld invariant violations", iters, failures);
  for (int k = 0; k < nseeds; k++) free(seeds[k].data);
  return tap_done();
}
