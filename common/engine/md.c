/*
 * md.c -- molecular dynamics: Maxwell-Boltzmann velocities, kinetic energy
 * and temperature, and a velocity-Verlet integrator for NVE, NVT
 * (Nose-Hoover chain, Martyna-Klein-Tuckerman) and NPT (MTK barostat,
 * isotropic or per-axis on orthogonal boxes, with its own Nose-Hoover
 * chain).  Equations and units: docs/dynamics.md.
 *
 * Units: metal (Angstrom, ps, eV, amu, K, bar).  Accelerations are
 * f / m / ENG_MVV2E in Angstrom/ps^2; kinetic energy is 1/2 m v^2 ENG_MVV2E.
 */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_CHAIN 16

/* Defaults: NVE, dt 0.002 ps, 0 steps, 300 K, t_damp 0.2 ps, chain 3,
 * 0 bar, p_damp 2 ps, isotropic, seed 1, progress every 1000 steps. */
void eng_md_opts_default(eng_md_opts *o) {
  assert(o);
  memset(o, 0, sizeof *o);
  o->ensemble = ENG_NVE;
  o->dt = 0.002;
  o->nsteps = 0;
  o->t_start = 300.0;
  o->t_stop = 300.0;
  o->t_damp = 0.2;  /* 100 * dt */
  o->chain = 3;
  o->p_target = 0.0;
  o->p_damp = 2.0;  /* 1000 * dt */
  o->aniso = 0;
  o->seed = 1;
  o->init_velocities = 0;
  o->progress_every = 1000;
}

/* Degrees of freedom used for the temperature: 3N - 3 (momentum removed),
 * 3 for a single atom. */
static double dof(const eng_system *sys) {
  return sys->natoms > 1 ? 3.0 * sys->natoms - 3.0 : 3.0 * sys->natoms;
}

/* 0 if every atom has a positive finite mass, else an ENG_EINVAL message. */
static int check_masses(const eng_system *sys) {
  for (int i = 0; i < sys->natoms; i++) {
    double m = eng_system_mass(sys, i);
    if (!(m > 0.0) || !isfinite(m))
      return eng_set_error(ENG_EINVAL,
                           "md.c:%d: atom %d (type %d) has no positive mass: fill type masses "
                           "first (eng_calc_fill_masses)",
                           __LINE__, i, sys->type[i] + 1);
  }
  return ENG_OK;
}

/* Maxwell-Boltzmann velocities (Angstrom/ps) at T (K) from seed, zero
 * total momentum, rescaled to exactly T with 3N-3 degrees of freedom;
 * allocates sys->v if needed.  ENG_EINVAL for fewer than 2 atoms, T < 0 or
 * a type without a positive mass; ENG_ENOMEM. */
int eng_velocity_create(eng_system *sys, double T, uint64_t seed) {
  eng_rng r;
  double p[3] = {0, 0, 0}, mtot = 0.0, t_now, s;
  int rc;
  if (!sys || sys->natoms < 2 || !(T >= 0.0) || !isfinite(T))
    return eng_set_error(ENG_EINVAL,
                         "md.c:%d: eng_velocity_create needs at least 2 atoms and T >= 0 (got T=%g)",
                         __LINE__, T);
  rc = check_masses(sys);
  if (rc != ENG_OK) return rc;
  rc = eng_system_alloc_velocities(sys);
  if (rc != ENG_OK) return rc;
  eng_rng_seed(&r, seed);
  for (int i = 0; i < sys->natoms; i++) {
    double m = eng_system_mass(sys, i), sig = sqrt(ENG_KB * (T > 0 ? T : 1.0) / (m * ENG_MVV2E));
    for (int k = 0; k < 3; k++) {
      sys->v[3 * i + k] = sig * eng_rng_normal(&r);
      p[k] += m * sys->v[3 * i + k];
    }
    mtot += m;
  }
  for (int i = 0; i < sys->natoms; i++)
    for (int k = 0; k < 3; k++) sys->v[3 * i + k] -= p[k] / mtot;
  t_now = eng_temperature(sys);
  s = t_now > 0.0 ? sqrt(T / t_now) : 0.0;
  for (int i = 0; i < 3 * sys->natoms; i++) sys->v[i] *= s;
  return ENG_OK;
}

/* 1/2 sum m v^2 in eV (0 without velocities). */
double eng_kinetic_energy(const eng_system *sys) {
  double ke = 0.0;
  if (!sys || !sys->v) return 0.0;
  for (int i = 0; i < sys->natoms; i++) {
    const double *v = sys->v + 3 * i;
    ke += eng_system_mass(sys, i) * (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
  }
  return 0.5 * ke * ENG_MVV2E;
}

/* 2 KE / (N_f kB) in K with N_f = 3N-3 (3 for one atom). */
double eng_temperature(const eng_system *sys) {
  if (!sys || sys->natoms <= 0) return 0.0;
  return 2.0 * eng_kinetic_energy(sys) / (dof(sys) * ENG_KB);
}

/* A Nose-Hoover chain of length m acting on a set of ndof degrees of
 * freedom whose kinetic energy is ke2/2 (ke2 = sum m v^2, eV). */
typedef struct nhc {
  int m;
  double ndof;
  double eta[MAX_CHAIN], veta[MAX_CHAIN], q[MAX_CHAIN];
} nhc;

/* Masses Q_1 = ndof kT tau^2, Q_j = kT tau^2 (MTK 1992/1996), eV ps^2. */
static void nhc_masses(nhc *c, double kt, double tau) {
  c->q[0] = c->ndof * kt * tau * tau;
  for (int j = 1; j < c->m; j++) c->q[j] = kt * tau * tau;
}

/* Propagate the chain by h (ps) given the current ke2 = sum m v^2 (eV) of
 * the coupled degrees of freedom; returns the factor by which their
 * velocities must be scaled (Trotter split: outer quarter steps of the
 * thermostat velocities, an exact scaling in the middle). */
static double nhc_step(nhc *c, double ke2, double kt, double h) {
  int m = c->m;
  double g, s, h2 = 0.5 * h, h4 = 0.25 * h; /* kicks by h/2, inner scalings by h/4 */
  /* Forces on the chain, top down. */
  g = (m > 1 ? c->q[m - 2] * c->veta[m - 2] * c->veta[m - 2] - kt : ke2 - c->ndof * kt) / c->q[m - 1];
  c->veta[m - 1] += g * h2;
  for (int j = m - 2; j >= 0; j--) {
    double e = exp(-c->veta[j + 1] * h4);
    c->veta[j] *= e;
    g = (j > 0 ? c->q[j - 1] * c->veta[j - 1] * c->veta[j - 1] - kt : ke2 - c->ndof * kt) / c->q[j];
    c->veta[j] += g * h2;
    c->veta[j] *= e;
  }
  s = exp(-c->veta[0] * h);
  ke2 *= s * s;
  for (int j = 0; j < m; j++) c->eta[j] += c->veta[j] * h;
  for (int j = 0; j < m - 1; j++) {
    double e = exp(-c->veta[j + 1] * h4);
    c->veta[j] *= e;
    g = (j > 0 ? c->q[j - 1] * c->veta[j - 1] * c->veta[j - 1] - kt : ke2 - c->ndof * kt) / c->q[j];
    c->veta[j] += g * h2;
    c->veta[j] *= e;
  }
  g = (m > 1 ? c->q[m - 2] * c->veta[m - 2] * c->veta[m - 2] - kt : ke2 - c->ndof * kt) / c->q[m - 1];
  c->veta[m - 1] += g * h2;
  return s;
}

/* Energy of the chain: sum 1/2 Q v^2 + ndof kT eta_1 + kT sum_{j>1} eta_j. */
static double nhc_energy(const nhc *c, double kt) {
  double e = 0.0;
  for (int j = 0; j < c->m; j++) {
    e += 0.5 * c->q[j] * c->veta[j] * c->veta[j];
    e += (j == 0 ? c->ndof : 1.0) * kt * c->eta[j];
  }
  return e;
}

/* Integrator state of one run. */
typedef struct mdrun {
  eng_calc *c;
  eng_system *sys;
  const eng_md_opts *o;
  int n3;
  double nf;            /* particle degrees of freedom */
  double *f, *minv;     /* forces; 1/(m mvv2e) per atom */
  double pe, vir[6];
  nhc tc;               /* particle thermostat */
  nhc bc;               /* barostat thermostat */
  int thermo, baro, nbaro;
  double w;             /* barostat mass per variable, eV ps^2 */
  double veps[3];       /* barostat velocities (strain rates), 1/ps */
} mdrun;

/* ke2 tensor diagonal (sum m v_k^2 * mvv2e, eV) and total. */
static double ke2_diag(const eng_system *sys, double k2[3]) {
  k2[0] = k2[1] = k2[2] = 0.0;
  for (int i = 0; i < sys->natoms; i++) {
    double m = eng_system_mass(sys, i);
    for (int k = 0; k < 3; k++) k2[k] += m * sys->v[3 * i + k] * sys->v[3 * i + k];
  }
  for (int k = 0; k < 3; k++) k2[k] *= ENG_MVV2E;
  return k2[0] + k2[1] + k2[2];
}

/* Diagonal pressure components (bar) from the kinetic tensor and virial. */
static void pressure_diag(const mdrun *r, const double k2[3], double p[3]) {
  double vol = eng_box_volume(&r->sys->box);
  for (int k = 0; k < 3; k++) p[k] = (k2[k] + r->vir[k]) / vol * ENG_NKTV2P;
}

/* Barostat half step (h = dt/2) of the strain rates: MTK equations
 *   W dveps_k/dt = V (P_kk - P_ext)/nktv2p + ke2/Nf   (per axis), or
 *   W dveps/dt   = 3V (P - P_ext)/nktv2p + 3 ke2/Nf   (isotropic). */
static void baro_half(mdrun *r, double h) {
  double k2[3], ke2 = ke2_diag(r->sys, k2), p[3], vol = eng_box_volume(&r->sys->box);
  pressure_diag(r, k2, p);
  if (r->nbaro == 1) {
    double pm = (p[0] + p[1] + p[2]) / 3.0;
    double g = (3.0 * vol * (pm - r->o->p_target) / ENG_NKTV2P + 3.0 * ke2 / r->nf) / r->w;
    r->veps[0] += g * h;
    r->veps[1] = r->veps[2] = r->veps[0];
  } else {
    for (int k = 0; k < 3; k++) {
      double g = (vol * (p[k] - r->o->p_target) / ENG_NKTV2P + ke2 / r->nf) / r->w;
      r->veps[k] += g * h;
    }
  }
}

/* (1 - exp(-x)) / x, accurate near 0. */
static double phi1(double x) {
  return fabs(x) < 1e-8 ? 1.0 - 0.5 * x : -expm1(-x) / x;
}

/* Velocity half kick with the barostat friction: dv/dt = a - gamma_k v,
 * gamma_k = veps_k + tr(veps)/Nf (0 without a barostat). */
static void kick(mdrun *r, double h) {
  double gam[3] = {0, 0, 0}, sc[3] = {1, 1, 1}, ph[3] = {1, 1, 1};
  if (r->baro) {
    double tr = r->veps[0] + r->veps[1] + r->veps[2];
    for (int k = 0; k < 3; k++) {
      gam[k] = r->veps[k] + tr / r->nf;
      sc[k] = exp(-gam[k] * h);
      ph[k] = phi1(gam[k] * h);
    }
  }
  for (int i = 0; i < r->sys->natoms; i++)
    for (int k = 0; k < 3; k++) {
      int j = 3 * i + k;
      r->sys->v[j] = r->sys->v[j] * sc[k] + r->f[j] * r->minv[i] * h * ph[k];
    }
}

/* Position drift by dt, with affine box scaling about the box centre when
 * a barostat is on: dx/dt = v + veps_k (x - centre). */
static void drift(mdrun *r, double dt) {
  eng_system *sys = r->sys;
  if (!r->baro) {
    for (int j = 0; j < r->n3; j++) sys->x[j] += sys->v[j] * dt;
  } else {
    double ex[3], ph[3], ctr[3];
    for (int k = 0; k < 3; k++) {
      double x = r->veps[k] * dt;
      ex[k] = exp(x);
      ph[k] = fabs(x) < 1e-8 ? 1.0 + 0.5 * x : expm1(x) / x;
      ctr[k] = sys->box.lo[k] + 0.5 * sys->box.len[k];
    }
    for (int i = 0; i < sys->natoms; i++)
      for (int k = 0; k < 3; k++) {
        int j = 3 * i + k;
        sys->x[j] = ctr[k] + (sys->x[j] - ctr[k]) * ex[k] + sys->v[j] * dt * ph[k];
      }
    for (int k = 0; k < 3; k++) {
      sys->box.len[k] *= ex[k];
      sys->box.lo[k] = ctr[k] - 0.5 * sys->box.len[k];
    }
  }
  for (int i = 0; i < sys->natoms; i++) eng_box_wrap(&sys->box, sys->x + 3 * i, sys->image + 3 * i);
}

/* Thermostat half step (h = dt/2) of particles and barostat. */
static void thermo_half(mdrun *r, double kt, double h) {
  if (r->thermo) {
    double k2[3], s = nhc_step(&r->tc, ke2_diag(r->sys, k2), kt, h);
    for (int j = 0; j < r->n3; j++) r->sys->v[j] *= s;
  }
  if (r->baro) {
    double ke2 = 0.0, s;
    for (int k = 0; k < r->nbaro; k++) ke2 += r->w * r->veps[k] * r->veps[k];
    s = nhc_step(&r->bc, ke2, kt, h);
    for (int k = 0; k < 3; k++) r->veps[k] *= s;
  }
}

/* Fill the observable state after a step. */
static void fill_state(const mdrun *r, long step, double kt, eng_md_state *st) {
  double k2[3], p[3], ke2 = ke2_diag(r->sys, k2);
  pressure_diag(r, k2, p);
  st->step = step;
  st->time = step * r->o->dt;
  st->pe = r->pe;
  st->ke = 0.5 * ke2;
  st->temp = ke2 / (r->nf * ENG_KB);
  st->press = (p[0] + p[1] + p[2]) / 3.0;
  st->volume = eng_box_volume(&r->sys->box);
  st->conserved = st->pe + st->ke;
  if (r->thermo) st->conserved += nhc_energy(&r->tc, kt);
  if (r->baro) {
    for (int k = 0; k < r->nbaro; k++) st->conserved += 0.5 * r->w * r->veps[k] * r->veps[k];
    st->conserved += r->o->p_target * st->volume / ENG_NKTV2P;
    st->conserved += nhc_energy(&r->bc, kt);
  }
}

/* Target kT (eV) at step s of n (linear ramp). */
static double target_kt(const eng_md_opts *o, long s) {
  double f = o->nsteps > 0 ? (double)s / (double)o->nsteps : 0.0;
  return ENG_KB * (o->t_start + (o->t_stop - o->t_start) * f);
}

/* Set the masses of thermostats and barostat for the target kT. */
static void set_masses(mdrun *r, double kt, double tdamp, double pdamp) {
  if (r->thermo) nhc_masses(&r->tc, kt, tdamp);
  if (r->baro) {
    /* W = (Nf + 3) kT tau_p^2 for the isotropic strain; per axis a third of
     * it, so that both give the same oscillation period. */
    r->w = (r->nf + 3.0) * kt * pdamp * pdamp / (r->nbaro == 1 ? 1.0 : 3.0);
    nhc_masses(&r->bc, kt, tdamp);
  }
}

/* Validate the options for sys; ENG_OK or an error message. */
static int check_opts(const eng_system *sys, const eng_md_opts *o) {
  if (!(o->dt > 0.0) || !isfinite(o->dt) || o->nsteps < 0)
    return eng_set_error(ENG_EINVAL, "md.c:%d: expected dt > 0 ps and nsteps >= 0 (got %g, %ld)",
                         __LINE__, o->dt, o->nsteps);
  if (o->ensemble != ENG_NVE && o->ensemble != ENG_NVT && o->ensemble != ENG_NPT)
    return eng_set_error(ENG_EINVAL, "md.c:%d: unknown ensemble %d", __LINE__, (int)o->ensemble);
  if ((o->ensemble != ENG_NVE || o->init_velocities) &&
      (!(o->t_start >= 0.0) || !(o->t_stop >= 0.0) || !isfinite(o->t_start) || !isfinite(o->t_stop)))
    return eng_set_error(ENG_EINVAL, "md.c:%d: expected temperatures >= 0 K (got %g, %g)", __LINE__,
                         o->t_start, o->t_stop);
  if (o->ensemble != ENG_NVE) {
    if (!(o->t_start > 0.0) || !(o->t_stop > 0.0))
      return eng_set_error(ENG_EINVAL, "md.c:%d: thermostat needs t_start, t_stop > 0 K", __LINE__);
    if (o->chain < 1 || o->chain > MAX_CHAIN)
      return eng_set_error(ENG_EINVAL, "md.c:%d: chain length must be 1..%d (got %d)", __LINE__,
                           MAX_CHAIN, o->chain);
    if (o->t_damp < 0.0 || !isfinite(o->t_damp))
      return eng_set_error(ENG_EINVAL, "md.c:%d: t_damp must be >= 0 ps (0 = 100 dt)", __LINE__);
  }
  if (o->ensemble == ENG_NPT) {
    if (eng_box_is_triclinic(&sys->box))
      return eng_set_error(ENG_EUNSUPP, "md.c:%d: NPT supports orthogonal boxes only", __LINE__);
    if (!sys->box.periodic[0] || !sys->box.periodic[1] || !sys->box.periodic[2])
      return eng_set_error(ENG_EUNSUPP, "md.c:%d: NPT needs a box periodic in x, y and z", __LINE__);
    if (o->p_damp < 0.0 || !isfinite(o->p_damp) || !isfinite(o->p_target))
      return eng_set_error(ENG_EINVAL, "md.c:%d: p_damp must be >= 0 ps (0 = 1000 dt), p_target finite",
                           __LINE__);
  }
  if (o->progress_every < 0)
    return eng_set_error(ENG_EINVAL, "md.c:%d: progress_every must be >= 0", __LINE__);
  return ENG_OK;
}

/* Velocity-Verlet MD of sys in place (positions, velocities, image flags,
 * and the box under NPT); o NULL = defaults.  Allocates sys->v and
 * sys->image when absent.  ENG_EINVAL for bad options or missing masses,
 * ENG_EUNSUPP for NPT on a triclinic or non-periodic box, ENG_ECANCEL if
 * on_step or progress asked to stop, ENG_ERANGE if the energy became
 * non-finite, or the calculator's error.  final (may be NULL) gets the
 * state of the last completed step. */
int eng_md_run(eng_calc *c, eng_system *sys, const eng_md_opts *o,
               eng_md_step_fn on_step, void *step_ud,
               eng_progress_fn progress, void *ud, eng_md_state *final) {
  mdrun r;
  eng_md_state st;
  eng_md_opts def;
  int rc = ENG_OK;
  double tdamp, pdamp, kt, h;
  long every;

  memset(&r, 0, sizeof r);
  memset(&st, 0, sizeof st);
  if (!c || !sys || !sys->x || sys->natoms <= 0)
    return eng_set_error(ENG_EINVAL, "md.c:%d: eng_md_run needs a calculator and a non-empty system",
                         __LINE__);
  if (!o) {
    eng_md_opts_default(&def);
    o = &def;
  }
  rc = check_opts(sys, o);
  if (rc != ENG_OK) return rc;
  rc = check_masses(sys);
  if (rc != ENG_OK) return rc;
  if (o->init_velocities) {
    rc = eng_velocity_create(sys, o->t_start, o->seed);
    if (rc != ENG_OK) return rc;
  }
  rc = eng_system_alloc_velocities(sys);
  if (rc == ENG_OK && !sys->image) rc = eng_system_alloc_images(sys);
  if (rc != ENG_OK) return rc;

  r.c = c;
  r.sys = sys;
  r.o = o;
  r.n3 = 3 * sys->natoms;
  r.nf = dof(sys);
  r.thermo = o->ensemble != ENG_NVE;
  r.baro = o->ensemble == ENG_NPT;
  r.nbaro = o->aniso ? 3 : 1;
  r.tc.m = r.bc.m = o->chain > 0 ? o->chain : 1;
  r.tc.ndof = r.nf;
  r.bc.ndof = r.nbaro;
  tdamp = o->t_damp > 0.0 ? o->t_damp : 100.0 * o->dt;
  pdamp = o->p_damp > 0.0 ? o->p_damp : 1000.0 * o->dt;
  every = o->progress_every > 0 ? o->progress_every : 1000;
  h = 0.5 * o->dt;

  r.f = eng__calloc((size_t)r.n3, sizeof *r.f);
  r.minv = eng__calloc((size_t)sys->natoms, sizeof *r.minv);
  if (!r.f || !r.minv) {
    rc = ENG_ENOMEM;
    goto out;
  }
  for (int i = 0; i < sys->natoms; i++) r.minv[i] = 1.0 / (eng_system_mass(sys, i) * ENG_MVV2E);
  for (int i = 0; i < sys->natoms; i++) eng_box_wrap(&sys->box, sys->x + 3 * i, sys->image + 3 * i);

  rc = eng_calc_compute(c, sys, &r.pe, r.f, NULL, r.vir);
  if (rc != ENG_OK) goto out;
  kt = target_kt(o, 0);
  set_masses(&r, kt, tdamp, pdamp);
  fill_state(&r, 0, kt, &st);
  if (on_step && on_step(step_ud, sys, r.f, &st) != 0) {
    rc = eng_set_error(ENG_ECANCEL, "md.c:%d: stopped by the step callback at step 0", __LINE__);
    goto out;
  }

  for (long s = 1; s <= o->nsteps; s++) {
    kt = target_kt(o, s);
    set_masses(&r, kt, tdamp, pdamp);
    thermo_half(&r, kt, h);
    if (r.baro) baro_half(&r, h);
    kick(&r, h);
    drift(&r, o->dt);
    rc = eng_calc_compute(c, sys, &r.pe, r.f, NULL, r.vir);
    if (rc != ENG_OK) goto out;
    kick(&r, h);
    if (r.baro) baro_half(&r, h);
    thermo_half(&r, kt, h);
    fill_state(&r, s, kt, &st);
    if (!isfinite(st.conserved)) {
      rc = eng_set_error(ENG_ERANGE, "md.c:%d: energy became non-finite at step %ld (time step too large?)",
                         __LINE__, s);
      goto out;
    }
    if (on_step && on_step(step_ud, sys, r.f, &st) != 0) {
      rc = eng_set_error(ENG_ECANCEL, "md.c:%d: stopped by the step callback at step %ld", __LINE__, s);
      goto out;
    }
    if (progress && s % every == 0) {
      char msg[128];
      snprintf(msg, sizeof msg, "md step %ld/%ld, T = %.1f K, P = %.0f bar", s, o->nsteps, st.temp,
               st.press);
      if (progress(ud, (double)s / (double)o->nsteps, msg) != 0) {
        rc = eng_set_error(ENG_ECANCEL, "md.c:%d: MD cancelled at step %ld", __LINE__, s);
        goto out;
      }
    }
  }
out:
  if (final) *final = st;
  free(r.f);
  free(r.minv);
  return rc;
}
