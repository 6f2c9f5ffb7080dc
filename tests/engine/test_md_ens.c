/*
 * test_md_ens.c -- thermostat and barostat on larger or longer runs: NVT
 * holds 300 K on average within 2% (500 atoms), and NPT brings a Cu50Zr50
 * liquid at 2000 K to a mean pressure of 0 bar within its statistical error
 * at a plausible density (256 atoms).
 */
#include "engine.h"
#include "../tap.h"
#include "test_md_util.h"

int main(void) {
  const char *potpath = tmd_potential_path();
  eng_potential *pot = NULL;
  eng_calc *calc = NULL;
  eng_md_opts o;
  eng_md_state st;

  if (!potpath) {
    skip("CuZr_mm.eam.fs not found (install lammps-data)");
    return tap_done();
  }
  /* ---- NVT: 500 atoms at 300 K hold the temperature within 2% ---- */
  {
    eng_system *s = tmd_random_cuzr(500, 0.0575, 2.2, 21);
    eng_min_opts mo;
    eng_min_result mr;
    obs b;
    double t0;
    if (!s || tmd_setup(potpath, s, &pot, &calc) != ENG_OK) bail("setup: %s", eng_last_error());
    eng_min_opts_default(&mo);
    mo.ftol = 1e-3;
    ok(eng_minimize(calc, s, &mo, NULL, NULL, &mr) == ENG_OK, "relax 500-atom random packing");
    obs_init(&b, 500, 0);
    eng_md_opts_default(&o);
    o.ensemble = ENG_NVT;
    o.nsteps = 2500;
    o.t_start = o.t_stop = 300;
    o.init_velocities = 1;
    o.seed = 8;
    t0 = tmd_now();
    ok(eng_md_run(calc, s, &o, observe, &b, NULL, NULL, &st) == ENG_OK, "NVT 5 ps");
    diag("NVT 500 atoms: %.1f s, mean T over the last 4 ps %.2f K", tmd_now() - t0, b.sum_t / b.n);
    near(b.sum_t / b.n, 300, 0.02 * 300, "NVT mean temperature within 2%% of 300 K");
    {
      /* Canonical kinetic-energy fluctuations: sd(T) = T sqrt(2/N_f). */
      double m = b.sum_t / b.n, sdt = sqrt(fmax(0.0, b.sum2_t / b.n - m * m));
      double want = 300 * sqrt(2.0 / (3 * s->natoms - 3));
      diag("NVT sd(T) %.2f K, canonical %.2f K", sdt, want);
      near(sdt / want, 1.0, 0.3, "NVT temperature fluctuations are canonical (within 30%%)");
    }
    obs_free(&b);
    eng_system_free(s);
    eng_calc_free(calc);
    calc = NULL;
    eng_potential_free(pot);
    pot = NULL;
  }

  /* ---- NPT: a liquid at 2000 K and 0 bar ---- */
  {
    eng_system *s = tmd_random_cuzr(256, 0.052, 2.2, 31);
    eng_min_opts mo;
    eng_min_result mr;
    obs b;
    double t0, mean, sd, sem = 0, rho;
    if (!s || tmd_setup(potpath, s, &pot, &calc) != ENG_OK) bail("setup: %s", eng_last_error());
    eng_min_opts_default(&mo);
    mo.ftol = 1e-2;
    ok(eng_minimize(calc, s, &mo, NULL, NULL, &mr) == ENG_OK, "relax random packing");
    obs_init(&b, 1000, 400);
    eng_md_opts_default(&o);
    o.ensemble = ENG_NPT;
    o.nsteps = 1000 + 4000 - 1;
    o.t_start = o.t_stop = 2000;
    o.p_target = 0;
    o.init_velocities = 1;
    o.seed = 4;
    t0 = tmd_now();
    ok(eng_md_run(calc, s, &o, observe, &b, NULL, NULL, &st) == ENG_OK, "NPT 10 ps at 2000 K");
    mean = b.sum_p / b.n;
    sd = sqrt(fmax(0.0, b.sum2_p / b.n - mean * mean));
    for (int k = 0; k < 10; k++) sem += (b.blocks[k] - mean) * (b.blocks[k] - mean);
    sem = sqrt(sem / (10 * 9));
    rho = s->natoms / (b.sum_v / b.n);
    diag("NPT liquid: %.1f s; <P> = %.0f bar, sd %.0f bar, block s.e.m. %.0f bar; <T> = %.1f K; "
         "density %.5f atoms/A^3", tmd_now() - t0, mean, sd, sem, b.sum_t / b.n, rho);
    ok(fabs(mean) < 3 * sem, "NPT mean pressure is 0 within 3 standard errors (%.0f +- %.0f bar)", mean, sem);
    ok(fabs(mean) < sd, "NPT mean pressure within one instantaneous fluctuation");
    ok(rho > 0.048 && rho < 0.056, "liquid density plausible (%.4f atoms/A^3)", rho);
    near(b.sum_t / b.n, 2000, 0.03 * 2000, "NPT mean temperature near 2000 K");
    obs_free(&b);
    eng_system_free(s);
  }
  eng_calc_free(calc);
  eng_potential_free(pot);
  return tap_done();
}
