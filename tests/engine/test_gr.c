/*
 * test_gr.c -- pair distribution functions: normalisation of an ideal gas,
 * agreement with LAMMPS `compute rdf` (total and partials, orthogonal and
 * triclinic, a cutoff beyond half the box), the extrema finder on an
 * analytic curve, and the troughs of a 500-atom Cu-Zr glass against the
 * paper's values (3.9, 6.4, 8.8, 11.2 A).
 */
#include "engine.h"
#include "../tap.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Read the vector output of fix ave/time (mode vector): nrows rows of
 * ncol values after the row number.  0 on success. */
static int read_ave_vector(const char *path, int nrows, int ncol, double *v) {
  FILE *f = fopen(path, "r");
  char line[8192];
  int row = -1, n = 0;
  if (!f) return -1;
  while (fgets(line, sizeof line, f)) {
    char *p = line, *e;
    if (line[0] == '#') continue;
    if (row < 0) { /* "timestep nrows" */
      row = 0;
      continue;
    }
    strtol(p, &e, 10);
    p = e;
    for (int c = 0; c < ncol; c++) {
      v[(size_t)n * ncol + c] = strtod(p, &e);
      if (e == p) {
        fclose(f);
        return -1;
      }
      p = e;
    }
    if (++n == nrows) break;
  }
  fclose(f);
  return n == nrows ? 0 : -1;
}

/* Compare g(r) of s with LAMMPS on the same configuration. */
static void check_lammps(const char *tag, eng_system *s, double rmax, int nbin) {
  const char *dir = tu_tmpdir(tag);
  char path[4300], script[4096];
  eng_rdf_opts o;
  eng_rdf *g = NULL;
  double *lv;
  int nt = s->ntypes;

  eng_rdf_opts_default(&o);
  o.rmax = rmax;
  o.dr = rmax / nbin;
  if (eng_rdf_compute(s, &o, &g) != ENG_OK) {
    ok(0, "%s: eng_rdf_compute: %s", tag, eng_last_error());
    return;
  }
  ok(g->nbins == nbin, "%s: %d bins", tag, g->nbins);
  if (!tu_lmp()) {
    skip("%s: LAMMPS comparison ($LMP not set)", tag);
    eng_rdf_free(g);
    return;
  }
  snprintf(path, sizeof path, "%s/conf.data", dir);
  tu_write_data(path, s);
  snprintf(script, sizeof script,
           "units metal\natom_style atomic\nboundary p p p\nread_data conf.data\n"
           "pair_style zero %.6f\npair_coeff * *\nneighbor 0.5 bin\n"
           "comm_modify cutoff %.6f\n"
           "compute rt all rdf %d cutoff %.6f\n"
           "compute rp all rdf %d 1 1 1 2 2 1 2 2 cutoff %.6f\n"
           "fix ft all ave/time 1 1 1 c_rt[*] file rdf_total.txt mode vector\n"
           "fix fp all ave/time 1 1 1 c_rp[*] file rdf_part.txt mode vector\n"
           "run 0\n",
           rmax + 0.1, rmax + 1.0, nbin, rmax, nbin, rmax);
  if (tu_run_lmp(dir, script) != 0) {
    ok(0, "%s: LAMMPS ran (see %s/log.lammps)", tag, dir);
    eng_rdf_free(g);
    return;
  }
  lv = calloc((size_t)nbin * 9, sizeof *lv);
  snprintf(path, sizeof path, "%s/rdf_total.txt", dir);
  if (read_ave_vector(path, nbin, 3, lv) != 0) {
    ok(0, "%s: read LAMMPS total rdf", tag);
  } else {
    double worst = 0.0, wr = 0.0;
    for (int k = 0; k < nbin; k++) {
      double d = fabs(g->g[k] - lv[3 * k + 1]) / fmax(1.0, lv[3 * k + 1]);
      if (fabs(g->r[k] - lv[3 * k]) > 1e-5) d = INFINITY;
      if (d > worst) {
        worst = d;
        wr = g->r[k];
      }
    }
    ok(worst < 2e-5, "%s: total g(r) equals LAMMPS in all %d bins (worst rel. diff %.2g at r=%.3f)", tag, nbin,
       worst, wr);
  }
  snprintf(path, sizeof path, "%s/rdf_part.txt", dir);
  if (read_ave_vector(path, nbin, 9, lv) != 0) {
    ok(0, "%s: read LAMMPS partial rdf", tag);
  } else {
    /* columns: r, g11, c11, g12, c12, g21, c21, g22, c22 */
    const int ab[4][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}};
    for (int q = 0; q < 4; q++) {
      int c = 1 + ab[q][0] * nt + ab[q][1];
      double worst = 0.0;
      for (int k = 0; k < nbin; k++) {
        double ref = lv[9 * k + 1 + 2 * q];
        double d = fabs(g->g[(size_t)c * nbin + k] - ref) / fmax(1.0, ref);
        if (d > worst) worst = d;
      }
      ok(worst < 2e-5, "%s: partial g_%s%s(r) equals LAMMPS (worst rel. diff %.2g)", tag,
         s->type_name[ab[q][0]], s->type_name[ab[q][1]], worst);
    }
  }
  free(lv);
  eng_rdf_free(g);
}

/* Extrema of a known curve: 1 + sum of damped cosines plus noise. */
static void check_extrema(void) {
  enum { N = 600 };
  double r[N], y[N], pk[ENG_RDF_MAXEXT], tr[ENG_RDF_MAXEXT];
  int npk, ntr;
  eng_rng rng;
  eng_rng_seed(&rng, 7);
  /* y = 1 + exp(-r/4) cos(2 pi (r-2.5)/2.5) for r > 1.5: maxima at 2.5 + 2.5 m
   * shifted slightly by the damping; noise 0.005. */
  for (int k = 0; k < N; k++) {
    r[k] = (k + 0.5) * 0.02;
    y[k] = r[k] < 1.5 ? 0.0 : 1.0 + 2.0 * exp(-r[k] / 4.0) * cos(2.0 * M_PI * (r[k] - 2.5) / 2.5);
    y[k] += 0.005 * eng_rng_normal(&rng);
  }
  ok(eng_rdf_extrema(r, y, N, 0.1, 0.02, NULL, pk, &npk, tr, &ntr, ENG_RDF_MAXEXT) == ENG_OK,
     "extrema of a noisy damped cosine");
  /* Exact extrema of exp(-r/4) cos(k (r - 2.5)), k = 2 pi / 2.5:
   * tan(k (r - 2.5)) = -1/(4k). */
  double kk = 2.0 * M_PI / 2.5, sh = atan(-1.0 / (4.0 * kk)) / kk;
  ok(npk == 4 && ntr == 4, "4 peaks and 4 troughs between 1.5 and 12 A (got %d, %d)", npk, ntr);
  for (int m = 0; m < npk && m < 4; m++)
    near(pk[m], 2.5 + 2.5 * m + sh, 0.03, "peak %d position", m + 1);
  for (int m = 0; m < ntr && m < 4; m++)
    near(tr[m], 3.75 + 2.5 * m + sh, 0.03, "trough %d position", m + 1);
  ok(eng_rdf_extrema(r, y, 2, 0.1, 0.02, NULL, pk, &npk, tr, &ntr, ENG_RDF_MAXEXT) == ENG_EINVAL,
     "too short a curve is rejected");
}

/* The 500-atom Cu50Zr50 glass of tests/data/desc (see its README): the
 * troughs of its total g(r) with the default smoothing against the paper's
 * (19,652 atoms; the fourth trough of 500 atoms is noisy: 0.35 A). */
static void check_glass(void) {
  char path[4096];
  const char *src = getenv("PELMAP_SRCDIR");
  eng_read_opts ro = {0, "Cu Zr", 0.0};
  eng_system *s = NULL;
  eng_rdf_opts o;
  eng_rdf *g = NULL;
  const double paper[4] = {3.9, 6.4, 8.8, 11.2};
  int rc;

  snprintf(path, sizeof path, "%s/tests/data/desc/cuzr500.data", src ? src : "..");
  rc = eng_read_file(path, ENG_FMT_LAMMPS_DATA, &ro, &s);
  ok(rc == ENG_OK, "read the 500-atom glass %s", rc ? eng_last_error() : "");
  if (rc) return;
  eng_rdf_opts_default(&o);
  o.rmax = 12.5;
  rc = eng_rdf_compute(s, &o, &g);
  ok(rc == ENG_OK, "glass g(r) %s", rc ? eng_last_error() : "");
  if (rc) goto out;
  {
    eng_rdf *g2 = NULL;
    rc = eng_rdf_compute(s, &o, &g2);
    ok(rc == ENG_OK && memcmp(g->g, g2->g, sizeof(double) * g->ncurves * g->nbins) == 0 &&
           memcmp(g->troughs, g2->troughs, sizeof(double) * g->ncurves * ENG_RDF_MAXEXT) == 0,
       "rerun is bit-identical");
    eng_rdf_free(g2);
  }
  diag("glass: total g peaks %.2f %.2f %.2f %.2f, troughs %.2f %.2f %.2f %.2f (smooth %.2f A)", g->peaks[0],
       g->peaks[1], g->peaks[2], g->peaks[3], g->troughs[0], g->troughs[1], g->troughs[2], g->troughs[3], g->smooth);
  ok(g->ntroughs[0] >= 4, "at least four troughs in the total g(r) (got %d)", g->ntroughs[0]);
  for (int m = 0; m < 4 && m < g->ntroughs[0]; m++)
    near(g->troughs[m], paper[m], 0.35, "trough %d near the paper's %.1f A", m + 1, paper[m]);
  ok(g->npeaks[0] >= 2 && g->peaks[1] > g->troughs[0] && g->peaks[1] < g->troughs[1],
     "the split second peak counts as one peak");
  near(g->peaks[0], 2.85, 0.1, "first peak of the total g(r) near 2.85 A");
out:
  eng_rdf_free(g);
  eng_system_free(s);
}

int main(void) {
  eng_system *s;
  eng_rdf *g = NULL;
  eng_rdf_opts o;
  int rc;

  /* Ideal gas: g -> 1 (bin noise ~ 1/sqrt(counts)). */
  s = tu_random_sample(4000, 0.05, 0.0, 0.0, 0.0, "Cu", "Zr", 0.5, 0.0, 3);
  if (!s) bail("random sample");
  eng_rdf_opts_default(&o);
  o.rmax = 10.0;
  o.dr = 0.5;
  ok(eng_rdf_compute(s, &o, &g) == ENG_OK, "ideal gas g(r)");
  {
    double worst = 0.0;
    for (int k = 4; k < g->nbins; k++) {
      /* expected count per bin ~ N * rho * shell; 5-sigma band */
      double shell = 4.0 / 3.0 * M_PI * (pow((k + 1) * 0.5, 3) - pow(k * 0.5, 3));
      double z = (g->g[k] - 1.0) / (1.0 / sqrt(4000 * 0.05 * shell / 2));
      if (fabs(z) > worst) worst = fabs(z);
    }
    ok(worst < 5.0, "ideal-gas g(r) is 1 within 5 sigma of counting noise (worst %.2f sigma)", worst);
  }
  eng_rdf_free(g);
  g = NULL;
  o.rmax = -1;
  rc = eng_rdf_compute(s, &o, &g);
  ok(rc == ENG_EINVAL && g == NULL, "rmax < 0 rejected: %s", eng_last_error());
  o.rmax = 500.0;
  o.dr = 0.01;
  rc = eng_rdf_compute(s, &o, &g);
  ok(rc == ENG_ERANGE && g == NULL, "rmax needing too many pairs rejected: %s", eng_last_error());
  eng_system_free(s);

  check_extrema();

  s = tu_random_sample(500, 0.0556, 0.0, 0.0, 0.0, "Cu", "Zr", 0.5, 2.0, 21);
  if (!s) bail("random sample");
  check_lammps("gr_ortho", s, 8.0, 160);
  check_lammps("gr_ortho_long", s, 12.0, 120); /* beyond half the box (10.4 A) */
  eng_system_free(s);
  s = tu_random_sample(500, 0.0556, 0.2, -0.15, 0.1, "Cu", "Zr", 0.5, 2.0, 22);
  if (!s) bail("random triclinic sample");
  check_lammps("gr_tri", s, 8.0, 160);
  eng_system_free(s);

  check_glass();
  return tap_done();
}
