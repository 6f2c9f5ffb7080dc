/*
 * test_min.c -- FIRE, CG and L-BFGS minimisers: options and errors, stop
 * criteria (the reference basin too),
 * a perturbed fcc crystal returning to its lattice energy, cancellation,
 * the round-off floor, and a quenched Cu-Zr glass minimised to 1e-6 eV/A
 * compared with LAMMPS (min_style cg) from the same start ($LMP).
 */
#include "engine.h"
#include "../tap.h"
#include "test_md_util.h"

#include <unistd.h>

/* Progress callback: counts calls, checks frac, cancels after `stop` calls
 * (never when stop < 0). */
typedef struct pcount {
  int calls, stop, bad_frac;
} pcount;

static int count_progress(void *ud, double frac, const char *msg) {
  pcount *p = ud;
  (void)msg;
  p->calls++;
  if (!(frac >= 0.0 && frac <= 1.0)) p->bad_frac++;
  return p->stop >= 0 && p->calls >= p->stop;
}

/* fcc Cu, nc^3 conventional cells of edge a, all type 0. */
/* Largest minimum-image distance between the same atom in a and b, A. */
static double max_dist(const eng_system *a, const eng_system *b) {
  double m = 0.0;
  for (int i = 0; i < a->natoms; i++) {
    double d[3];
    for (int k = 0; k < 3; k++) d[k] = a->x[3 * i + k] - b->x[3 * i + k];
    eng_box_minimum_image(&a->box, d);
    m = fmax(m, sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]));
  }
  return m;
}

static eng_system *fcc_cu(int nc, double a) {
  static const double basis[4][3] = {{0, 0, 0}, {0.5, 0.5, 0}, {0.5, 0, 0.5}, {0, 0.5, 0.5}};
  eng_system *s = tmd_cuzr_system(4 * nc * nc * nc);
  int n = 0;
  if (!s) return NULL;
  for (int k = 0; k < 3; k++) s->box.len[k] = nc * a;
  for (int i = 0; i < nc; i++)
    for (int j = 0; j < nc; j++)
      for (int l = 0; l < nc; l++)
        for (int b = 0; b < 4; b++) {
          s->x[3 * n] = (i + basis[b][0]) * a;
          s->x[3 * n + 1] = (j + basis[b][1]) * a;
          s->x[3 * n + 2] = (l + basis[b][2]) * a;
          s->type[n] = 0;
          n++;
        }
  return s;
}

/* s's positions = ideal's plus uniform noise in [-amp/2, amp/2) A per
 * component from the stream seeded with seed. */
static void perturbed(eng_system *s, const eng_system *ideal, uint64_t seed, double amp) {
  eng_rng r;
  eng_rng_seed(&r, seed);
  memcpy(s->x, ideal->x, 3 * sizeof(double) * s->natoms);
  for (int i = 0; i < 3 * s->natoms; i++) s->x[i] += amp * (eng_rng_uniform(&r) - 0.5);
}

/* Run LAMMPS CG from data file `data`; returns the minimised energy in *e.
 * 0 = ok. */
static int lammps_minimize(const char *lmp, const char *dir, const char *pot, double *e) {
  char path[4200], cmd[8600], line[1024];
  FILE *f;
  int found = 0;
  snprintf(path, sizeof path, "%s/in.min", dir);
  f = fopen(path, "w");
  if (!f) return -1;
  fprintf(f,
          "units metal\natom_style atomic\nboundary p p p\nread_data %s/start.data\n"
          "pair_style eam/fs\npair_coeff * * %s Cu Zr\n"
          "thermo_style custom step pe fmax fnorm\nthermo 1000\n"
          "min_style cg\nminimize 0 1e-8 100000 1000000\n"
          "variable e equal pe\nvariable fm equal fmax\n"
          "print \"PELMAP_E $(pe:%%.17g) $(fmax:%%.6g)\"\n",
          dir, pot);
  fclose(f);
  snprintf(cmd, sizeof cmd, "cd '%s' && '%s' -in in.min -log none -echo none 2>&1", dir, lmp);
  f = popen(cmd, "r");
  if (!f) return -1;
  while (fgets(line, sizeof line, f)) {
    double fm;
    if (strncmp(line, "PELMAP_E ", 9) == 0 && sscanf(line + 9, "%lf %lf", e, &fm) == 2) {
      found = 1;
      diag("LAMMPS minimised: E = %.10f eV, fmax = %.3g eV/A", *e, fm);
    }
  }
  return pclose(f) == 0 && found ? 0 : -1;
}

int main(void) {
  const char *potpath = tmd_potential_path();
  eng_min_opts o;
  eng_min_result res;
  eng_potential *pot = NULL;
  eng_calc *calc = NULL;

  eng_min_opts_default(&o);
  ok(o.ftol == 1e-6 && o.max_iter == 100000 && o.max_eval == 1000000 && o.dmax == 0.1,
     "defaults: ftol 1e-6, max_iter 1e5, max_eval 1e6, dmax 0.1");
  ok(strcmp(eng_min_stop_name(ENG_STOP_FTOL), "ftol") == 0 &&
         strcmp(eng_min_stop_name(ENG_STOP_LINESEARCH), "linesearch") == 0,
     "stop names");
  ok(strcmp(eng_min_algo_name(ENG_MIN_FIRE), "fire") == 0 && strcmp(eng_min_algo_name(ENG_MIN_CG), "cg") == 0 &&
         strcmp(eng_min_algo_name(ENG_MIN_LBFGS), "lbfgs") == 0,
     "algorithm names");
  ok(eng_minimize(NULL, NULL, &o, NULL, NULL, &res) == ENG_EINVAL, "NULL calculator is EINVAL");

  if (!potpath) {
    skip("CuZr_mm.eam.fs not found (install lammps-data)");
    return tap_done();
  }

  /* ---- perturbed fcc Cu returns to the lattice energy ---- */
  {
    eng_system *s = fcc_cu(5, 3.639), *ideal;
    double e0, e;
    if (!s || tmd_setup(potpath, s, &pot, &calc) != ENG_OK) bail("setup: %s", eng_last_error());
    ideal = eng_system_copy(s);
    ok(eng_calc_compute(calc, s, &e0, NULL, NULL, NULL) == ENG_OK, "fcc energy");

    o.ftol = -1;
    ok(eng_minimize(calc, s, &o, NULL, NULL, &res) == ENG_EINVAL, "negative ftol is EINVAL");
    eng_min_opts_default(&o);
    o.dmax = 0;
    ok(eng_minimize(calc, s, &o, NULL, NULL, &res) == ENG_EINVAL, "dmax 0 is EINVAL");
    eng_min_opts_default(&o);
    o.algo = (eng_min_algo)7;
    ok(eng_minimize(calc, s, &o, NULL, NULL, &res) == ENG_EINVAL, "unknown algorithm is EINVAL");

    for (int algo = 0; algo < 3; algo++) {
      perturbed(s, ideal, 11, 0.2);
      eng_min_opts_default(&o);
      o.algo = algo;
      double t0 = tmd_now();
      ok(eng_minimize(calc, s, &o, NULL, NULL, &res) == ENG_OK, "%s on perturbed fcc", eng_min_algo_name(algo));
      diag("%s fcc: stop %s, %d iterations, %d force calls, fmax %.2e, %.2f s", eng_min_algo_name(algo),
           eng_min_stop_name(res.stop), res.iterations, res.force_calls, res.fmax, tmd_now() - t0);
      ok(res.stop == ENG_STOP_FTOL && res.fmax < 1e-6, "%s stops on ftol with fmax < 1e-6",
         eng_min_algo_name(algo));
      ok(eng_calc_compute(calc, s, &e, NULL, NULL, NULL) == ENG_OK, "energy after");
      near(res.e_final, e, 1e-9, "%s reports the final energy", eng_min_algo_name(algo));
      ok(res.e_initial > res.e_final, "%s lowered the energy", eng_min_algo_name(algo));
      near(e / s->natoms, e0 / s->natoms, 1e-9, "%s returns to the fcc lattice energy per atom",
           eng_min_algo_name(algo));
      ok(res.force_calls >= res.iterations, "force calls >= iterations");
    }

    /* Only some atoms mobile (session 6): the others stay put bit for
     * bit, the mobile ones reach ftol with the fixed ones' real forces
     * left non-zero. */
    {
      unsigned char *mob = calloc((size_t)s->natoms, 1);
      double *f = malloc(sizeof(double) * 3 * s->natoms), fm_mob, fm_fix;
      eng_system *start;
      for (int i = 0; i < s->natoms; i++) mob[i] = s->x[3 * i] < 0.5 * s->box.len[0];
      for (int algo = 0; algo < 3; algo++) {
        int moved_fixed = 0;
        perturbed(s, ideal, 13, 0.2);
        start = eng_system_copy(s);
        eng_min_opts_default(&o);
        o.algo = algo;
        o.mobile = mob;
        ok(eng_minimize(calc, s, &o, NULL, NULL, &res) == ENG_OK && res.stop == ENG_STOP_FTOL,
           "%s with half the atoms mobile stops on ftol (%d calls)", eng_min_algo_name(algo),
           res.force_calls);
        if (eng_calc_compute(calc, s, NULL, f, NULL, NULL)) bail("compute: %s", eng_last_error());
        fm_mob = fm_fix = 0.0;
        for (int i = 0; i < s->natoms; i++)
          for (int k = 0; k < 3; k++) {
            if (mob[i]) fm_mob = fmax(fm_mob, fabs(f[3 * i + k]));
            else fm_fix = fmax(fm_fix, fabs(f[3 * i + k]));
            if (!mob[i] && s->x[3 * i + k] != start->x[3 * i + k]) moved_fixed++;
          }
        ok(moved_fixed == 0, "%s: fixed atoms did not move (%d components moved)", eng_min_algo_name(algo),
           moved_fixed);
        ok(fm_mob < 1e-6 && fm_fix > 1e-2,
           "%s: mobile atoms' forces < 1e-6 eV/A (%.2g), fixed atoms' still %.2g eV/A",
           eng_min_algo_name(algo), fm_mob, fm_fix);
        eng_system_free(start);
      }
      memcpy(s->x, ideal->x, 3 * sizeof(double) * s->natoms);
      free(mob);
      free(f);
    }

    /* Already minimised: stops at once. */
    eng_min_opts_default(&o);
    ok(eng_minimize(calc, s, &o, NULL, NULL, &res) == ENG_OK && res.stop == ENG_STOP_FTOL &&
           res.iterations == 0 && res.force_calls == 1,
       "a minimum stops on ftol with 0 iterations and 1 force call");

    /* The reference basin (session 11): a descent from the perturbed
     * crystal towards its lattice minimum stops once every atom is within
     * ref_dist of it with E < ref_e + ref_de; a reference it never nears
     * (one atom 0.5 A off the lattice site) leaves it to ftol. */
    {
      double e_lat, e_ref;
      int full_calls[3], rc;
      eng_system *off = eng_system_copy(ideal);
      ok(eng_calc_compute(calc, ideal, &e_lat, NULL, NULL, NULL) == ENG_OK, "lattice energy");
      off->x[0] += 0.5;
      eng_min_opts_default(&o);
      o.ref_x = ideal->x;
      o.ref_dist = 0.0;
      ok(eng_minimize(calc, s, &o, NULL, NULL, &res) == ENG_EINVAL, "ref_x with ref_dist 0 is EINVAL");
      ok(strcmp(eng_min_stop_name(ENG_STOP_REF), "ref") == 0, "stop name ref");
      for (int algo = 0; algo < 3; algo++) {
        perturbed(s, ideal, 14, 0.2);
        eng_system *start = eng_system_copy(s);
        eng_min_opts_default(&o);
        o.algo = algo;
        ok(eng_minimize(calc, s, &o, NULL, NULL, &res) == ENG_OK && res.stop == ENG_STOP_FTOL,
           "%s without a reference stops on ftol", eng_min_algo_name(algo));
        full_calls[algo] = res.force_calls;
        memcpy(s->x, start->x, 3 * sizeof(double) * s->natoms);
        o.ref_x = ideal->x;
        o.ref_dist = 0.05;
        o.ref_e = e_lat;
        o.ref_de = 0.01;
        rc = eng_minimize(calc, s, &o, NULL, NULL, &res);
        ok(rc == ENG_OK && res.stop == ENG_STOP_REF, "%s stops in the reference basin (stop %s)",
           eng_min_algo_name(algo), eng_min_stop_name(res.stop));
        ok(eng_calc_compute(calc, s, &e_ref, NULL, NULL, NULL) == ENG_OK, "energy at the stop");
        ok(max_dist(s, ideal) <= 0.05 && e_ref < e_lat + 0.01,
           "%s: every atom within 0.05 A of the lattice (%.3f A), E - E_lattice %.2e eV < 0.01",
           eng_min_algo_name(algo), max_dist(s, ideal), e_ref - e_lat);
        ok(res.force_calls < full_calls[algo], "%s: %d force calls against %d to ftol", eng_min_algo_name(algo),
           res.force_calls, full_calls[algo]);
        memcpy(s->x, start->x, 3 * sizeof(double) * s->natoms);
        o.ref_x = off->x;
        rc = eng_minimize(calc, s, &o, NULL, NULL, &res);
        ok(rc == ENG_OK && res.stop == ENG_STOP_FTOL && res.force_calls == full_calls[algo],
           "%s: a reference it never nears changes nothing (stop %s, %d calls)", eng_min_algo_name(algo),
           eng_min_stop_name(res.stop), res.force_calls);
        eng_system_free(start);
      }
      eng_system_free(off);
      memcpy(s->x, ideal->x, 3 * sizeof(double) * s->natoms);
    }

    /* Limits and energy criterion. */
    for (int algo = 0; algo < 3; algo++) {
      perturbed(s, ideal, 12, 0.2);
      eng_system *start = eng_system_copy(s);
      eng_min_opts_default(&o);
      o.algo = algo;
      o.max_iter = 5;
      int rc = eng_minimize(calc, s, &o, NULL, NULL, &res);
      ok(rc == ENG_OK && res.stop == ENG_STOP_MAXITER &&
             res.iterations == 5,
         "%s: max_iter 5 stops with max_iter after 5 iterations", eng_min_algo_name(algo));
      memcpy(s->x, start->x, 3 * sizeof(double) * s->natoms);
      o.max_iter = 100000;
      o.max_eval = 12;
      rc = eng_minimize(calc, s, &o, NULL, NULL, &res);
      ok(rc == ENG_OK && res.stop == ENG_STOP_MAXEVAL &&
             res.force_calls <= 12 && res.force_calls >= 10,
         "%s: max_eval 12 stops with max_eval (%d calls)", eng_min_algo_name(algo), res.force_calls);
      memcpy(s->x, start->x, 3 * sizeof(double) * s->natoms);
      o.max_eval = 1000000;
      o.etol = 1e-6;
      rc = eng_minimize(calc, s, &o, NULL, NULL, &res);
      ok(rc == ENG_OK && res.stop == ENG_STOP_ETOL &&
             res.fmax > 1e-6,
         "%s: etol 1e-6 stops on etol before ftol (fmax %.2e, %d iterations)", eng_min_algo_name(algo),
         res.fmax, res.iterations);
      /* Cancellation through progress (called every 100 iterations). */
      memcpy(s->x, start->x, 3 * sizeof(double) * s->natoms);
      o.etol = 0;
      o.ftol = 0;
      o.max_iter = 250;
      {
        pcount pc = {0, 1, 0};
        rc = eng_minimize(calc, s, &o, count_progress, &pc, &res);
        ok(rc == ENG_ECANCEL && pc.calls == 1 &&
               res.iterations == 100,
           "%s: progress returning non-zero cancels (ENG_ECANCEL) at iteration %d", eng_min_algo_name(algo),
           res.iterations);
      }
      eng_system_free(start);
    }

    /* The round-off floor: ftol 0 can only end on the line search. */
    perturbed(s, ideal, 13, 0.1);
    eng_min_opts_default(&o);
    o.ftol = 0;
    {
      int rc = eng_minimize(calc, s, &o, NULL, NULL, &res);
      ok(rc == ENG_OK && res.stop == ENG_STOP_LINESEARCH && res.fmax < 1e-8,
       "CG with ftol 0 ends on the line search at the round-off floor (fmax %.2e, %d iterations)", res.fmax,
         res.iterations);
    }
    eng_system_free(ideal);
    eng_system_free(s);
    eng_calc_free(calc);
    calc = NULL;
  }

  /* ---- a quenched Cu-Zr glass against LAMMPS ---- */
  {
    eng_system *s = tmd_random_cuzr(256, 0.0556, 2.2, 5), *start, *cg;
    eng_md_opts md;
    const char *lmp = getenv("LMP");
    char dir[] = "/tmp/pelmap_test_min_XXXXXX";
    double elmp = 0.0;
    int have_dir;
    eng_potential_free(pot);
    pot = NULL;
    if (!s || tmd_setup(potpath, s, &pot, &calc) != ENG_OK)
      bail("glass setup: %s", eng_last_error());
    /* Quick liquid + fast cooling (NPT), then a coarse pre-minimisation. */
    eng_min_opts_default(&o);
    o.ftol = 0.05;
    ok(eng_minimize(calc, s, &o, NULL, NULL, &res) == ENG_OK, "relax the random start");
    eng_md_opts_default(&md);
    md.ensemble = ENG_NPT;
    md.nsteps = 1500;
    md.t_start = 2000;
    md.t_stop = 600;
    md.init_velocities = 1;
    md.seed = 3;
    {
      int rc = eng_md_run(calc, s, &md, NULL, NULL, NULL, NULL, NULL);
      ok(rc == ENG_OK, "fast NPT cooling (%s)", rc == ENG_OK ? "ok" : eng_last_error());
    }
    eng_min_opts_default(&o);
    o.ftol = 1e-4;
    ok(eng_minimize(calc, s, &o, NULL, NULL, &res) == ENG_OK && res.fmax < 1e-4, "pre-minimise to 1e-4 eV/A");
    start = eng_system_copy(s);

    eng_min_opts_default(&o);
    double t0 = tmd_now();
    int rcm = eng_minimize(calc, s, &o, NULL, NULL, &res);
    ok(rcm == ENG_OK &&
           (res.stop == ENG_STOP_FTOL || (res.stop == ENG_STOP_LINESEARCH && res.fmax < 1e-5)),
       "CG to 1e-6 eV/A on the glass (stop %s, fmax %.2e)", eng_min_stop_name(res.stop), res.fmax);
    diag("CG glass: %d iterations, %d force calls, E %.10f -> %.10f eV, %.2f s", res.iterations,
         res.force_calls, res.e_initial, res.e_final, tmd_now() - t0);
    ok(res.force_calls <= 2 * res.iterations + 2,
       "CG line search: at most 2 force calls per iteration on average (%d calls, %d iterations)",
       res.force_calls, res.iterations);
    cg = eng_system_copy(s);
    double ecg = res.e_final;

    memcpy(s->x, start->x, 3 * sizeof(double) * s->natoms);
    o.algo = ENG_MIN_FIRE;
    t0 = tmd_now();
    rcm = eng_minimize(calc, s, &o, NULL, NULL, &res);
    ok(rcm == ENG_OK && res.stop == ENG_STOP_FTOL,
       "FIRE to 1e-6 eV/A on the glass (stop %s, fmax %.2e)", eng_min_stop_name(res.stop), res.fmax);
    diag("FIRE glass: %d iterations, %d force calls, E %.10f eV, %.2f s", res.iterations, res.force_calls,
         res.e_final, tmd_now() - t0);
    near(res.e_final / s->natoms, ecg / s->natoms, 1e-6, "FIRE and CG agree per atom");
    double efire = res.e_final;

    /* L-BFGS (session 7) from the same start: the same minimum, in fewer
     * force calls than CG */
    memcpy(s->x, start->x, 3 * sizeof(double) * s->natoms);
    o.algo = ENG_MIN_LBFGS;
    {
      int cg_calls = 0;
      eng_min_result rcg;
      eng_min_opts oc = o;
      eng_system *s2 = eng_system_copy(start);
      oc.algo = ENG_MIN_CG;
      if (!s2 || eng_minimize(calc, s2, &oc, NULL, NULL, &rcg) != ENG_OK) bail("CG again: %s", eng_last_error());
      cg_calls = rcg.force_calls;
      eng_system_free(s2);
      rcm = eng_minimize(calc, s, &o, NULL, NULL, &res);
      ok(rcm == ENG_OK && res.stop == ENG_STOP_FTOL,
         "L-BFGS to 1e-6 eV/A on the glass (stop %s, fmax %.2e)", eng_min_stop_name(res.stop), res.fmax);
      diag("L-BFGS glass: %d iterations, %d force calls (CG %d), E %.10f eV", res.iterations, res.force_calls,
           cg_calls, res.e_final);
      near(res.e_final / s->natoms, ecg / s->natoms, 1e-6, "L-BFGS and CG agree per atom");
      ok(max_dist(s, cg) < 1e-3, "L-BFGS and CG end at the same positions (max %.2e A)",
         max_dist(s, cg));
      ok(res.force_calls < cg_calls, "L-BFGS needs fewer force calls than CG (%d < %d)", res.force_calls, cg_calls);
    }
    double elbfgs = res.e_final;
    res.e_final = efire;

    have_dir = mkdtemp(dir) != NULL;
    if (!lmp || !*lmp || access(lmp, X_OK) != 0) {
      skip("LMP not set: no LAMMPS comparison");
      skip("LMP not set");
    } else if (!have_dir) {
      bail("mkdtemp failed");
    } else {
      char path[4200];
      snprintf(path, sizeof path, "%s/start.data", dir);
      ok(tmd_write_data(path, start) == 0, "write the pre-minimised glass as LAMMPS data");
      if (lammps_minimize(lmp, dir, potpath, &elmp) != 0) {
        ok(0, "LAMMPS minimisation ran");
      } else {
        diag("pelmap CG %.10f, FIRE %.10f, LAMMPS %.10f eV (%d atoms)", ecg, res.e_final, elmp, s->natoms);
        near(ecg / s->natoms, elmp / s->natoms, 1e-6, "CG reaches LAMMPS's minimised energy per atom");
        near(res.e_final / s->natoms, elmp / s->natoms, 1e-6,
             "FIRE reaches LAMMPS's minimised energy per atom");
        near(elbfgs / s->natoms, elmp / s->natoms, 1e-6, "L-BFGS reaches LAMMPS's minimised energy per atom");
      }
      unlink(path);
      snprintf(path, sizeof path, "%s/in.min", dir);
      unlink(path);
    }
    if (have_dir) rmdir(dir);
    eng_system_free(cg);
    eng_system_free(start);
    eng_system_free(s);
    eng_calc_free(calc);
    calc = NULL;
  }
  eng_potential_free(pot);
  return tap_done();
}
