/*
 * test_neigh.c -- neighbour lists (neigh.c) against a brute-force search
 * over the periodic images: every row holds exactly the extended atoms
 * within range (full lists), each physical pair once by the half rule
 * (half lists), only the pairs with an active atom (restricted lists), and
 * the lists do not depend on the thread count.  Orthogonal, triclinic,
 * partly periodic and thin cells, ranges from below the nearest-neighbour
 * distance to beyond half the cell (several images of one atom), a flat
 * sample (one bin across) and a single atom.
 */
#include "internal.h"
#include "neigh.h"
#include "testutil.h"
#include "../tap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sign of an image shift in lexicographic order (-1, 0, 1). */
static int shift_sign(const int *s) {
  for (int k = 0; k < 3; k++)
    if (s[k]) return s[k] > 0 ? 1 : -1;
  return 0;
}

/* Does the brute-force search agree with list l for ghosts g?  Row i must
 * hold exactly the extended atoms j != i closer than range; half: kept
 * when the owner k of j is inactive or (k, shift) > (i, 0); act: rows of
 * inactive slots empty.  Also: no duplicates.  Writes the first difference
 * into why. */
static int brute_agrees(const eng__ghosts *g, const eng__list *l, double range, int half,
                        const unsigned char *act, char *why, size_t nwhy) {
  const double r2 = range * range;
  unsigned char *mark = calloc((size_t)g->nall, 1);
  int good = 1;
  for (int i = 0; i < g->nlocal && good; i++) {
    long want = 0;
    const int *row = l->nbr + l->start[i];
    const long n = l->start[i + 1] - l->start[i];
    for (long p = 0; p < n; p++) {
      if (row[p] < 0 || row[p] >= g->nall || mark[row[p]]) {
        snprintf(why, nwhy, "row %d: entry %d out of range or repeated", i, row[p]);
        good = 0;
        break;
      }
      mark[row[p]] = 1;
    }
    if (!good) break;
    if (!act || act[i])
      for (int j = 0; j < g->nall; j++) {
        double d2 = 0.0;
        if (j == i) continue;
        for (int k = 0; k < 3; k++) {
          const double d = g->x[3 * j + k] - g->x[3 * i + k];
          d2 += d * d;
        }
        if (d2 >= r2) continue;
        if (half) {
          const int k = g->owner[j], s = shift_sign(&g->shift[3 * j]);
          if ((!act || act[k]) && (k < i || (k == i && s <= 0))) continue;
        }
        want++;
        if (!mark[j]) {
          snprintf(why, nwhy, "row %d: extended atom %d at %.4f A missing", i, j, sqrt(d2));
          good = 0;
          break;
        }
      }
    if (good && want != n) {
      snprintf(why, nwhy, "row %d: %ld entries, brute force %ld", i, n, want);
      good = 0;
    }
    for (long p = 0; p < n; p++) mark[row[p]] = 0;
  }
  free(mark);
  return good;
}

static int lists_equal(const eng__list *a, const eng__list *b) {
  if (a->nlocal != b->nlocal) return 0;
  if (memcmp(a->start, b->start, sizeof(long) * (size_t)(a->nlocal + 1))) return 0;
  return memcmp(a->nbr, b->nbr, sizeof(int) * (size_t)a->start[a->nlocal]) == 0;
}

/* Every list kind on sample s at range, threads 1 and 2. */
static void check_sample(const char *tag, const eng_system *s, double range) {
  eng__ghosts g;
  unsigned char *act;
  char why[200] = "";
  memset(&g, 0, sizeof g);
  if (eng__ghosts_build(&s->box, s->x, s->natoms, range, 1, &g)) bail("%s: ghosts: %s", tag, eng_last_error());
  act = calloc((size_t)g.nlocal + 1, 1);
  for (int i = 0; i < g.nlocal; i++) act[i] = (i % 7) < 3 || i < g.nlocal / 10;
  for (int kind = 0; kind < 3; kind++) {
    static const char *const names[] = {"full", "half", "half restricted"};
    eng__list l1, l2;
    const unsigned char *a = kind == 2 ? act : NULL;
    memset(&l1, 0, sizeof l1);
    memset(&l2, 0, sizeof l2);
    eng_set_threads(1);
    int rc1 = eng__list_build(&g, range, kind > 0, a, &l1);
    eng_set_threads(2);
    int rc2 = eng__list_build(&g, range, kind > 0, a, &l2);
    eng_set_threads(1);
    ok(rc1 == ENG_OK && rc2 == ENG_OK, "%s, range %.2f A, %s list: built", tag, range, names[kind]);
    if (rc1 == ENG_OK && rc2 == ENG_OK) {
      int agree = brute_agrees(&g, &l1, range, kind > 0, a, why, sizeof why);
      ok(agree, "%s, range %.2f A, %s list: %ld pairs, the brute-force pairs%s%s", tag, range, names[kind],
         l1.start[g.nlocal], agree ? "" : ": ", agree ? "" : why);
      ok(lists_equal(&l1, &l2), "%s, range %.2f A, %s list: the same with 2 threads", tag, range, names[kind]);
    }
    eng__list_free(&l1);
    eng__list_free(&l2);
  }
  free(act);
  eng__ghosts_free(&g);
}

int main(void) {
  eng_system *s;
  s = tu_random_sample(600, 0.06, 0.0, 0.0, 0.0, "Cu", "Zr", 0.5, 2.0, 11);
  if (!s) bail("sample");
  check_sample("orthogonal 600", s, 7.5);
  check_sample("orthogonal 600", s, 2.2);
  check_sample("orthogonal 600", s, 13.0); /* beyond half the cell: several images */
  eng_system_free(s);

  s = tu_random_sample(500, 0.06, 0.3, -0.2, 0.15, "Cu", "Zr", 0.5, 2.0, 12);
  if (!s) bail("sample");
  check_sample("triclinic 500", s, 7.5);
  check_sample("triclinic 500", s, 11.0);
  s->box.periodic[0] = 0;
  s->box.periodic[2] = 0;
  check_sample("triclinic 500, periodic along y only", s, 7.5);
  eng_system_free(s);

  /* a flat sample: every atom at z = 0 (one bin across z), not periodic in z */
  s = tu_random_sample(300, 0.06, 0.0, 0.0, 0.0, "Cu", "Zr", 0.5, 2.0, 13);
  if (!s) bail("sample");
  for (int i = 0; i < s->natoms; i++) s->x[3 * i + 2] = 0.0;
  s->box.periodic[2] = 0;
  check_sample("flat 300", s, 4.0);
  eng_system_free(s);

  /* one atom in a small periodic cell: only its own images */
  s = eng_system_create(1, 1);
  if (!s) bail("system");
  for (int k = 0; k < 3; k++) {
    s->box.len[k] = 4.0;
    s->box.periodic[k] = 1;
    s->x[k] = 1.0;
  }
  check_sample("one atom, 4 A cell", s, 9.0);
  eng_system_free(s);
  return tap_done();
}
