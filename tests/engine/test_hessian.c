/*
 * test_hessian.c -- the analytic EAM Hessian (hessian.c) against symmetric
 * finite differences of eng_calc_compute forces, on an orthogonal and a
 * triclinic Cu-Zr sample (Mendelev eam/fs); symmetry; translations in the
 * null space; H x product equal to the dense matrix; bad input.
 */
#include "engine.h"
#include "../tap.h"
#include "testutil.h"
#include "eam_int.h"

#include <math.h>
#include <string.h>

/* Knot spacings of the setfl file's r and rho tables (line 5 of the file:
 * nrho drho nr dr cutoff).  eam.c's interpolation is a C1 piecewise cubic
 * with knots at k*dr and k*drho, so its second derivative jumps there. */
static double g_dr, g_drho;

static int read_knots(const char *path) {
  FILE *f = fopen(path, "r");
  char line[512];
  int nrho, nr, ok4 = 0;
  double cut;
  if (!f) return -1;
  for (int l = 0; l < 5 && fgets(line, sizeof line, f); l++)
    if (l == 4) ok4 = sscanf(line, "%d %lf %d %lf %lf", &nrho, &g_drho, &nr, &g_dr, &cut) == 5;
  fclose(f);
  return ok4 ? 0 : -1;
}

/* 1 if moving atom i along axis a by -h or +h moves any pair distance of i
 * or any density rho_j (j = i or a neighbour of i) across a table knot:
 * there the symmetric difference straddles a jump of the interpolated
 * second derivative and cannot be compared with H at x.  The last r knot
 * ((nr-1) dr, beyond which eam.c clamps the table argument) is one of
 * them.  rho: densities at x. */
static int crosses_knot(eng_calc *calc, const eng_system *s, const eng_nlist *nl,
                        const double *rho, int i, int a, double h) {
  int ei = eng__calc_elem(calc, s->type[i]);
  double rc = eng_calc_cutoff(calc), rhoi[3] = {0, 0, 0};
  for (long p = nl->start[i]; p < nl->start[i + 1]; p++) {
    int j = nl->nbr[p], ej = eng__calc_elem(calc, s->type[j]);
    double r[3], rhoj[3];
    for (int sgn = -1; sgn <= 1; sgn++) {
      double d[3] = {nl->d[3 * p], nl->d[3 * p + 1], nl->d[3 * p + 2]};
      eng__pairfn pf, p0;
      d[a] -= sgn * h;
      r[sgn + 1] = sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
      eng__calc_pair(calc, ei, ej, r[sgn + 1], &pf);
      eng__calc_pair(calc, ei, ej, sqrt(nl->d[3 * p] * nl->d[3 * p] +
                                        nl->d[3 * p + 1] * nl->d[3 * p + 1] +
                                        nl->d[3 * p + 2] * nl->d[3 * p + 2]), &p0);
      rhoi[sgn + 1] += pf.rhoi;
      rhoj[sgn + 1] = rho[j] - p0.rhoj + pf.rhoj;
    }
    if (r[0] < rc || r[2] < rc) {
      if (floor(r[0] / g_dr) != floor(r[1] / g_dr) || floor(r[2] / g_dr) != floor(r[1] / g_dr))
        return 1;
      if (floor(rhoj[0] / g_drho) != floor(rhoj[1] / g_drho) ||
          floor(rhoj[2] / g_drho) != floor(rhoj[1] / g_drho))
        return 1;
    }
  }
  return floor(rhoi[0] / g_drho) != floor(rhoi[1] / g_drho) ||
         floor(rhoi[2] / g_drho) != floor(rhoi[1] / g_drho);
}

/* Relax a random start a little (to avoid close contacts dominating). */
static eng_system *sample(eng_potential *pot, int n, double txy, double txz, double tyz,
                          uint64_t seed, eng_calc **calc) {
  eng_system *s = tu_random_sample(n, 0.058, txy, txz, tyz, "Cu", "Zr", 0.5, 2.2, seed);
  eng_min_opts o;
  eng_min_result res;
  if (!s) return NULL;
  if (eng_calc_create(pot, s, NULL, calc)) {
    eng_system_free(s);
    return NULL;
  }
  eng_min_opts_default(&o);
  o.algo = ENG_MIN_CG;
  o.ftol = 1e-3;
  o.max_iter = 300;
  eng_minimize(*calc, s, &o, NULL, NULL, &res);
  return s;
}

static double maxabs(const double *a, int n3) {
  double m = 0;
  for (int i = 0; i < n3; i++) m = fmax(m, fabs(a[i]));
  return m;
}

static double dot3n(const double *a, const double *b, int n3) {
  double sum = 0;
  for (int i = 0; i < n3; i++) sum += a[i] * b[i];
  return sum;
}

/* Largest |a - b| over the components where mask (per atom, NULL: all) is set. */
static double maxdiff(const double *a, const double *b, int n3, const unsigned char *mask) {
  double m = 0;
  for (int i = 0; i < n3; i++)
    if (!mask || mask[i / 3]) m = fmax(m, fabs(a[i] - b[i]));
  return m;
}

/* The calculator's analytic Hessian-vector products (eng__calc_hvp, the
 * ARTn Lanczos since session 14) against the block Hessian h of s at
 * s->x: plain, with half the atoms frozen (the moving block; frozen
 * components ignored in and 0 out), and with a background density
 * (against symmetric differences of the forces along v, since hessian.c
 * has no background).  Must be prepared at the last compute. */
static void check_hvp(const char *label, eng_calc *calc, eng_system *s, const eng_hessian *h,
                      uint64_t seed) {
  const int n = s->natoms, n3 = 3 * n;
  double *v = malloc(sizeof *v * n3), *y = malloc(sizeof *y * n3), *yr = malloc(sizeof *yr * n3);
  double *vz = malloc(sizeof *vz * n3), *x0 = malloc(sizeof *x0 * n3), *bg = malloc(sizeof *bg * n);
  double *fp = malloc(sizeof *fp * n3), *fm = malloc(sizeof *fm * n3);
  unsigned char *frz = calloc((size_t)n, 1), *mov = calloc((size_t)n, 1);
  eng_rng r;
  if (!v || !y || !yr || !vz || !x0 || !bg || !fp || !fm || !frz || !mov) bail("out of memory");
  memcpy(x0, s->x, sizeof *x0 * n3);
  eng_rng_seed(&r, seed + 100);
  for (int i = 0; i < n3; i++) v[i] = eng_rng_normal(&r);

  /* Not prepared at the last compute: refused. */
  ok(eng_calc_compute(calc, s, NULL, NULL, NULL, NULL) == ENG_OK &&
         eng__calc_hvp(calc, v, y) == ENG_EINVAL,
     "%s: a Hessian product not prepared at the last compute is EINVAL", label);

  /* Plain. */
  int rc = eng__calc_hvp_prepare(calc);
  if (rc == ENG_OK) rc = eng__calc_hvp(calc, v, y);
  eng_hessian_apply(h, v, yr);
  double ymax = maxabs(yr, n3), e1 = maxdiff(y, yr, n3, NULL);
  ok(rc == ENG_OK && ymax > 1.0 && e1 <= 1e-11 * ymax,
     "%s: calculator H v equals the block Hessian's (max diff %.2g of max %.3g)", label, e1, ymax);
  ok(eng_calc_compute(calc, s, NULL, NULL, NULL, NULL) == ENG_OK && eng__calc_hvp(calc, v, y) == ENG_EINVAL,
     "%s: a compute after the preparation invalidates it", label);

  /* Half the atoms frozen (x below the cell's middle): the moving block. */
  int nmov = 0;
  for (int i = 0; i < n; i++) {
    frz[i] = s->x[3 * i] < s->box.lo[0] + 0.5 * s->box.len[0];
    mov[i] = !frz[i];
    nmov += mov[i];
  }
  for (int i = 0; i < n3; i++) vz[i] = frz[i / 3] ? 0.0 : v[i];
  eng_hessian_apply(h, vz, yr);
  rc = eng_calc_set_frozen(calc, frz);
  if (rc == ENG_OK) rc = eng_calc_compute(calc, s, NULL, NULL, NULL, NULL);
  if (rc == ENG_OK) rc = eng__calc_hvp_prepare(calc);
  if (rc == ENG_OK) rc = eng__calc_hvp(calc, v, y); /* v: frozen components ignored */
  double e2 = maxdiff(y, yr, n3, mov), zf = 0;
  for (int i = 0; i < n3; i++)
    if (frz[i / 3]) zf = fmax(zf, fabs(y[i]));
  ok(rc == ENG_OK && nmov > 0 && nmov < n && e2 <= 1e-11 * ymax && zf == 0.0,
     "%s: %d of %d atoms frozen: H v on the moving atoms equals the block Hessian's (max diff %.2g), "
     "0 on the frozen", label, n - nmov, n, e2);
  eng_calc_set_frozen(calc, NULL);

  /* Background density (5-15 % of each atom's own): symmetric differences
   * of the forces along the unit v, step 1e-7 A (a step that moves a
   * distance across a table knot straddles a jump of the interpolated
   * second derivative, an error of order the step). */
  rc = eng_calc_compute(calc, s, NULL, NULL, NULL, NULL);
  if (rc == ENG_OK) rc = eng_calc_density(calc, bg);
  for (int i = 0; i < n; i++) bg[i] *= 0.05 + 0.1 * eng_rng_uniform(&r);
  double nv = sqrt(dot3n(v, v, n3)), hstep = 1e-7;
  for (int i = 0; i < n3; i++) v[i] /= nv;
  if (rc == ENG_OK) rc = eng_calc_set_density_offset(calc, bg);
  for (int i = 0; rc == ENG_OK && i < n3; i++) s->x[i] = x0[i] + hstep * v[i];
  if (rc == ENG_OK) rc = eng_calc_compute(calc, s, NULL, fp, NULL, NULL);
  for (int i = 0; rc == ENG_OK && i < n3; i++) s->x[i] = x0[i] - hstep * v[i];
  if (rc == ENG_OK) rc = eng_calc_compute(calc, s, NULL, fm, NULL, NULL);
  memcpy(s->x, x0, sizeof *x0 * n3);
  if (rc == ENG_OK) rc = eng_calc_compute(calc, s, NULL, NULL, NULL, NULL);
  if (rc == ENG_OK) rc = eng__calc_hvp_prepare(calc);
  if (rc == ENG_OK) rc = eng__calc_hvp(calc, v, y);
  for (int i = 0; i < n3; i++) yr[i] = -(fp[i] - fm[i]) / (2 * hstep);
  double e3 = maxdiff(y, yr, n3, NULL), ym3 = maxabs(yr, n3);
  /* and it differs from the product without the background */
  eng_hessian_apply(h, v, fp);
  double e4 = maxdiff(y, fp, n3, NULL);
  ok(rc == ENG_OK && e3 <= 1e-6 * ym3 && e4 > 1e3 * e3,
     "%s: with a background density H v equals symmetric differences of the forces (max diff %.2g of "
     "%.3g; %.2g from the product without it)", label, e3, ym3, e4);
  eng_calc_set_density_offset(calc, NULL);

  free(v);
  free(y);
  free(yr);
  free(vz);
  free(x0);
  free(bg);
  free(fp);
  free(fm);
  free(frz);
  free(mov);
}

static void check_system(const char *label, eng_calc *calc, eng_system *s, uint64_t seed) {
  eng_hessian *h = NULL;
  int n = s->natoms, n3 = 3 * n;
  int rc = eng_hessian_build(calc, s, &h);
  ok(rc == ENG_OK && h, "%s: Hessian builds (%s)", label, rc ? eng_last_error() : "ok");
  if (!h) return;
  diag("%s: %d atoms, %ld blocks (%.1f coupled atoms per row)", label, n,
       eng_hessian_nblocks(h), (double)eng_hessian_nblocks(h) / n);

  double *H = malloc(sizeof *H * (size_t)n3 * n3);
  double *fp = malloc(sizeof *fp * n3), *fm = malloc(sizeof *fm * n3);
  double *x0 = malloc(sizeof *x0 * n3), *v = malloc(sizeof *v * n3), *y = malloc(sizeof *y * n3);
  if (!H || !fp || !fm || !x0 || !v || !y) bail("out of memory");
  eng_hessian_dense(h, NULL, H);
  memcpy(x0, s->x, sizeof *x0 * n3);

  /* Symmetry. */
  double hmax = 0, asym = 0;
  for (int i = 0; i < n3; i++)
    for (int j = 0; j < n3; j++) {
      hmax = fmax(hmax, fabs(H[(size_t)i * n3 + j]));
      asym = fmax(asym, fabs(H[(size_t)i * n3 + j] - H[(size_t)j * n3 + i]));
    }
  ok(hmax > 1.0 && asym <= 1e-12 * hmax, "%s: symmetric (max |H| %.3g eV/A^2, max asym %.2g)",
     label, hmax, asym);

  /* Translations: H t = 0 for t = unit shift of every atom along x, y, z. */
  double tmax = 0;
  for (int k = 0; k < 3; k++) {
    for (int i = 0; i < n3; i++) v[i] = (i % 3 == k) ? 1.0 : 0.0;
    eng_hessian_apply(h, v, y);
    for (int i = 0; i < n3; i++) tmax = fmax(tmax, fabs(y[i]));
  }
  ok(tmax <= 1e-10 * hmax, "%s: rigid translations are zero modes (max |H t| %.2g)", label,
     tmax);

  /* Product equals the dense matrix. */
  eng_rng r;
  eng_rng_seed(&r, seed);
  for (int i = 0; i < n3; i++) v[i] = eng_rng_normal(&r);
  eng_hessian_apply(h, v, y);
  double perr = 0, pmax = 0;
  for (int i = 0; i < n3; i++) {
    double sum = 0;
    for (int j = 0; j < n3; j++) sum += H[(size_t)i * n3 + j] * v[j];
    perr = fmax(perr, fabs(sum - y[i]));
    pmax = fmax(pmax, fabs(sum));
  }
  ok(perr <= 1e-12 * pmax, "%s: sparse product equals dense (max diff %.2g)", label, perr);

  /* Symmetric finite differences of the forces on random columns whose
   * displacement crosses no table knot (H is exact there up to O(h^2) and
   * round-off); crossing columns are counted and reported. */
  const double step = getenv("HSTEP") ? atof(getenv("HSTEP")) : 1e-6;
  double ferr = 0, *rho = calloc((size_t)n, sizeof *rho);
  int ncol = 0, nskip = 0, worst = -1;
  eng_nlist *nl = NULL;
  if (!rho || eng_nlist_build(s, eng_calc_cutoff(calc), &nl)) bail("nlist: %s", eng_last_error());
  for (int i = 0; i < n; i++)
    for (long p = nl->start[i]; p < nl->start[i + 1]; p++) {
      const double *d = nl->d + 3 * p;
      eng__pairfn pf;
      eng__calc_pair(calc, eng__calc_elem(calc, s->type[i]),
                     eng__calc_elem(calc, s->type[nl->nbr[p]]),
                     sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]), &pf);
      rho[i] += pf.rhoi;
    }
  while (ncol < 60 && ncol + nskip < 600) {
    int k = (int)(eng_rng_uniform(&r) * n3);
    int cross = crosses_knot(calc, s, nl, rho, k / 3, k % 3, step);
    if (cross) {
      nskip++;
      continue;
    }
    ncol++;
    memcpy(s->x, x0, sizeof *x0 * n3);
    s->x[k] = x0[k] + step;
    eng_calc_compute(calc, s, NULL, fp, NULL, NULL);
    s->x[k] = x0[k] - step;
    eng_calc_compute(calc, s, NULL, fm, NULL, NULL);
    for (int i = 0; i < n3; i++) {
      double fd = -(fp[i] - fm[i]) / (2 * step);
      double e = fabs(fd - H[(size_t)i * n3 + k]);
      if (e > ferr) {
        ferr = e;
        worst = k;
      }
    }
  }
  memcpy(s->x, x0, sizeof *x0 * n3);
  diag("%s: %d columns skipped: a distance or density crosses a table knot", label, nskip);
  ok(ncol == 60 && ferr <= 1e-7 * hmax,
     "%s: equals symmetric finite differences of forces (h = %g A) on %d columns "
     "(max diff %.3g eV/A^2 = %.2g of max |H|, worst column %d)", label, step, ncol, ferr,
     ferr / hmax, worst);
  eng_nlist_free(nl);
  free(rho);

  /* Couplings beyond the cutoff exist (the F'' term) and stay within 2 rc. */
  double rcut = eng_calc_cutoff(calc), dmax = 0;
  int beyond = 0;
  for (int i = 0; i < n; i++)
    for (long b = h->start[i]; b < h->start[i + 1]; b++) {
      int j = h->col[b];
      double d[3] = {x0[3 * j] - x0[3 * i], x0[3 * j + 1] - x0[3 * i + 1],
                     x0[3 * j + 2] - x0[3 * i + 2]};
      eng_box_minimum_image(&s->box, d);
      double rr = sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
      dmax = fmax(dmax, rr);
      if (rr > rcut) beyond++;
    }
  ok(beyond > 0 && dmax <= 2 * rcut + 1e-9,
     "%s: %d blocks beyond the cutoff, farthest coupling %.2f A <= 2 rc = %.2f A", label,
     beyond, dmax, 2 * rcut);

  check_hvp(label, calc, s, h, seed);

  free(H);
  free(fp);
  free(fm);
  free(x0);
  free(v);
  free(y);
  eng_hessian_free(h);
}

int main(void) {
  eng_potential *pot = NULL;
  eng_calc *calc = NULL;
  eng_system *s;

  if (eng_potential_read(TU_CUZR, ENG_POT_AUTO, &pot) != ENG_OK) {
    skip("Cu-Zr potential not found at %s", TU_CUZR);
    return tap_done();
  }
  if (read_knots(TU_CUZR)) bail("cannot read the table header of %s", TU_CUZR);

  s = sample(pot, 250, 0, 0, 0, 11, &calc);
  if (!s) bail("sample: %s", eng_last_error());
  check_system("orthogonal 250", calc, s, 1);

  /* Bad input. */
  {
    eng_hessian *h = (eng_hessian *)1;
    ok(eng_hessian_build(calc, NULL, &h) == ENG_EINVAL && h == NULL, "NULL system is EINVAL");
    ok(eng_hessian_build(calc, s, NULL) == ENG_EINVAL, "NULL out is EINVAL");
    eng_system *t = tu_random_sample(260, 0.058, 0, 0, 0, "Cu", "Zr", 0.5, 2.2, 3);
    h = NULL;
    ok(t && eng_hessian_build(calc, t, &h) == ENG_EINVAL && h == NULL,
       "system of another size is EINVAL (%s)", eng_last_error());
    eng_system_free(t);
    eng_hessian_free(NULL);
  }
  eng_calc_free(calc);
  eng_system_free(s);

  calc = NULL;
  s = sample(pot, 300, 0.12, -0.08, 0.10, 12, &calc);
  if (!s) bail("triclinic sample: %s", eng_last_error());
  check_system("triclinic 300", calc, s, 2);
  eng_calc_free(calc);
  eng_system_free(s);

  eng_potential_free(pot);
  return tap_done();
}
