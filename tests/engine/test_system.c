/* test_system.c -- boxes (orthogonal and triclinic), systems, RNG, errors. */
#include "engine.h"
#include "../tap.h"

#include <string.h>

int main(void) {
  eng_box b = {.lo = {1, 2, 3}, .len = {10, 11, 12}, .xy = 2.5, .xz = -1.5, .yz = 3.0,
               .periodic = {1, 1, 1}};
  double x[3] = {4.2, -7.1, 30.5}, s[3], y[3];

  eng_box_to_frac(&b, x, s);
  eng_box_from_frac(&b, s, y);
  near(y[0], x[0], 1e-12, "triclinic frac round trip x");
  near(y[2], x[2], 1e-12, "triclinic frac round trip z");

  /* Wrapping keeps the point equivalent: unwrapped = wrapped + n.cell. */
  {
    int img[3] = {0, 0, 0};
    double w[3] = {x[0], x[1], x[2]}, sw[3], back[3];
    eng_box_wrap(&b, w, img);
    eng_box_to_frac(&b, w, sw);
    ok(sw[0] >= 0 && sw[0] < 1 && sw[1] >= 0 && sw[1] < 1 && sw[2] >= 0 && sw[2] < 1,
       "wrapped point lies in the cell");
    double sb[3] = {sw[0] + img[0], sw[1] + img[1], sw[2] + img[2]};
    eng_box_from_frac(&b, sb, back);
    near(back[0], x[0], 1e-9, "image flags restore x");
    near(back[1], x[1], 1e-9, "image flags restore y");
  }

  /* Minimum image of a lattice translation plus a small vector. */
  {
    double d[3] = {0.3 + 2 * b.len[0] + b.xy - b.xz, -0.2 + b.len[1] - b.yz, 0.1 - b.len[2]};
    eng_box_minimum_image(&b, d);
    near(d[0], 0.3, 1e-12, "minimum image x");
    near(d[1], -0.2, 1e-12, "minimum image y");
    near(d[2], 0.1, 1e-12, "minimum image z");
  }

  {
    double w[3];
    eng_box_widths(&b, w);
    near(w[2], 12, 1e-12, "width along c is lz");
    near(w[1], 11 * 12 / sqrt(144 + 9), 1e-12, "width along b");
    ok(w[0] < 10 && w[0] > 9, "width along a shrinks with tilt (%g)", w[0]);
    near(eng_box_volume(&b), 1320, 1e-9, "volume of triclinic cell = lx ly lz");
  }

  {
    eng_rng r1, r2;
    eng_rng_seed(&r1, 42);
    eng_rng_seed(&r2, 42);
    int same = 1;
    double mean = 0, var = 0;
    for (int i = 0; i < 100000; i++) {
      double a = eng_rng_normal(&r1), c = eng_rng_normal(&r2);
      if (a != c) same = 0;
      mean += a;
      var += a * a;
    }
    ok(same, "same seed gives the same normal stream");
    near(mean / 1e5, 0.0, 0.02, "normal deviates have mean 0");
    near(var / 1e5, 1.0, 0.02, "normal deviates have variance 1");
    eng_rng_seed(&r2, 43);
    ok(eng_rng_next(&r1) != eng_rng_next(&r2), "different seeds differ");
  }

  {
    eng_system *sy = eng_system_create(4, 2), *c;
    eng_prop *p;
    ok(sy != NULL, "system create");
    strcpy(sy->type_name[1], "Zr");
    sy->type[3] = 1;
    ok(eng_system_add_prop(sy, "charge", ENG_PROP_REAL, 1, &p) == ENG_OK, "add prop");
    p->val[2] = 1.5;
    c = eng_system_copy(sy);
    ok(c && eng_system_find_prop(c, "charge")->val[2] == 1.5, "copy keeps props");
    ok(c && eng_system_type_by_name(c, "Zr") == 1, "type by name");
    ok(sy->id[3] == 4, "default ids are 1..n");
    eng_system_free(sy);
    eng_system_free(c);
  }

  ok(strcmp(eng_errname(ENG_EPARSE), "ENG_EPARSE") == 0, "error names from the X-macro");
  ok(eng_set_error(ENG_EINVAL, "bad %s", "thing") == ENG_EINVAL &&
         strcmp(eng_last_error(), "bad thing") == 0,
     "detailed error message");
  near(eng_element_mass("Zr"), 91.224, 1e-9, "element masses");
  return tap_done();
}
