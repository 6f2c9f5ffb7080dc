/*
 * msd.c -- per-atom mean-squared displacements from NVT molecular dynamics
 * (vibrational MSD about the inherent structure, Eq. 1 of Wei et al. 2019,
 * and the diffusive MSD over a run), and the flexibility volume (Eq. 2).
 * Displacements are accumulated in eng_md_run's step callback from
 * unwrapped positions (wrapped position + image counters times the cell);
 * no trajectory is stored.  See docs/descriptors.md.
 */
#include "internal.h"

#include <math.h>
#include <string.h>

void eng_msd_opts_default(eng_msd_opts *o) {
  memset(o, 0, sizeof *o);
  o->mode = ENG_MSD_VIB;
  o->temp = 300.0;
  o->time = 100.0;
  o->t_equil = 0.0;
  o->dt = 0.002;
  o->t_damp = 0.1;
  o->sample_every = 10;
  o->seed = 1;
}

void eng_msd_free(eng_msd *m) {
  if (!m) return;
  free(m->msd);
  free(m->x_end);
  free(m);
}

typedef struct msd_run {
  const eng_msd_opts *o;
  long neq, nprod;
  double *u0;  /* 3n unwrapped reference positions, Angstrom */
  double *acc; /* n accumulated squared displacements */
  long nsamples;
  double tsum;
} msd_run;

static void unwrapped(const eng_system *sys, int i, double u[3]) {
  const eng_box *b = &sys->box;
  const int *im = sys->image ? &sys->image[3 * i] : NULL;
  const double *x = &sys->x[3 * i];
  u[0] = x[0];
  u[1] = x[1];
  u[2] = x[2];
  if (im) {
    u[0] += im[0] * b->len[0] + im[1] * b->xy + im[2] * b->xz;
    u[1] += im[1] * b->len[1] + im[2] * b->yz;
    u[2] += im[2] * b->len[2];
  }
}

static double disp2(const eng_system *sys, const double *u0, int i) {
  double u[3];
  unwrapped(sys, i, u);
  return eng__sq(u[0] - u0[3 * i]) + eng__sq(u[1] - u0[3 * i + 1]) + eng__sq(u[2] - u0[3 * i + 2]);
}

/* eng_md_run step callback. */
static int on_step(void *ud, const eng_system *sys, const double *f, const eng_md_state *st) {
  msd_run *r = ud;
  long s = st->step;
  (void)f;
  /* Reference: the start positions (vibrational: the inherent structure,
   * step 0) or the start of production (diffusive). */
  if ((r->o->mode == ENG_MSD_VIB && s == 0) || (r->o->mode == ENG_MSD_DIFFUSIVE && s == r->neq)) {
    for (int i = 0; i < sys->natoms; i++) unwrapped(sys, i, &r->u0[3 * i]);
  }
  if (s <= r->neq) return 0;
  if (r->o->mode == ENG_MSD_VIB) {
    if ((s - r->neq) % r->o->sample_every != 0) return 0;
    for (int i = 0; i < sys->natoms; i++) r->acc[i] += disp2(sys, r->u0, i);
    r->nsamples++;
    r->tsum += st->temp;
  } else {
    if ((s - r->neq) % r->o->sample_every == 0) {
      r->nsamples++;
      r->tsum += st->temp;
    }
    if (s == r->neq + r->nprod)
      for (int i = 0; i < sys->natoms; i++) r->acc[i] = disp2(sys, r->u0, i);
  }
  return 0;
}

int eng_msd_compute(eng_calc *c, const eng_system *sys, const eng_msd_opts *o_in,
                    eng_progress_fn progress, void *ud, eng_msd **out) {
  eng_msd_opts o;
  eng_md_opts md;
  eng_system *w = NULL;
  eng_msd *m = NULL;
  msd_run r;
  int rc;

  *out = NULL;
  memset(&r, 0, sizeof r);
  if (o_in)
    o = *o_in;
  else
    eng_msd_opts_default(&o);
  if (!c || !sys || sys->natoms < 1)
    return eng_set_error(ENG_EINVAL, "msd.c:%d: MSD needs a calculator and a system", __LINE__);
  if (o.mode != ENG_MSD_VIB && o.mode != ENG_MSD_DIFFUSIVE)
    return eng_set_error(ENG_EINVAL, "msd.c:%d: unknown MSD mode %d", __LINE__, (int)o.mode);
  if (!(o.temp > 0.0) || !(o.dt > 0.0) || !(o.time > 0.0) || !(o.t_equil >= 0.0) ||
      !(o.t_damp > 0.0) || o.sample_every < 1 || !isfinite(o.time) || !isfinite(o.t_equil) ||
      (o.time + o.t_equil) / o.dt > 1e10)
    return eng_set_error(ENG_EINVAL,
                         "msd.c:%d: MSD needs temp, dt, time, t_damp > 0, t_equil >= 0, sample_every >= 1 "
                         "(got %g K, %g ps, %g ps, %g ps, %g ps, %ld)",
                         __LINE__, o.temp, o.dt, o.time, o.t_damp, o.t_equil, o.sample_every);
  r.o = &o;
  r.neq = lround(o.t_equil / o.dt);
  r.nprod = lround(o.time / o.dt);
  if (r.nprod < 1) r.nprod = 1;
  if (o.mode == ENG_MSD_VIB && r.nprod < o.sample_every)
    return eng_set_error(ENG_EINVAL, "msd.c:%d: production (%ld steps) shorter than sample_every (%ld)",
                         __LINE__, r.nprod, o.sample_every);

  w = eng_system_copy(sys);
  m = eng__calloc(1, sizeof *m);
  r.u0 = eng__malloc((size_t)sys->natoms * 3, sizeof *r.u0);
  r.acc = eng__calloc((size_t)sys->natoms, sizeof *r.acc);
  if (m) m->x_end = eng__malloc((size_t)sys->natoms * 3, sizeof *m->x_end);
  if (!w || !m || !r.u0 || !r.acc || !m->x_end) {
    rc = ENG_ENOMEM;
    goto out;
  }
  eng_md_opts_default(&md);
  md.ensemble = ENG_NVT;
  md.dt = o.dt;
  md.nsteps = r.neq + r.nprod;
  md.t_start = md.t_stop = o.temp;
  md.t_damp = o.t_damp;
  md.seed = o.seed;
  md.init_velocities = 1;
  rc = eng_md_run(c, w, &md, on_step, &r, progress, ud, NULL);
  if (rc) goto out;
  m->natoms = sys->natoms;
  m->opts = o;
  m->nsamples = r.nsamples;
  m->t_mean = r.nsamples ? r.tsum / r.nsamples : 0.0;
  m->msd = r.acc;
  r.acc = NULL;
  for (int i = 0; i < sys->natoms; i++) unwrapped(w, i, &m->x_end[3 * i]);
  if (o.mode == ENG_MSD_VIB) {
    assert(r.nsamples > 0);
    for (int i = 0; i < sys->natoms; i++) m->msd[i] /= (double)r.nsamples;
  }
  *out = m;
  m = NULL;
  rc = ENG_OK;
out:
  eng_msd_free(m);
  eng_system_free(w);
  free(r.u0);
  free(r.acc);
  return rc;
}

int eng_flex_volume(int n, const double *msd, const double *vol, double *v) {
  if (n < 0 || (n > 0 && (!msd || !vol || !v)))
    return eng_set_error(ENG_EINVAL, "msd.c:%d: flexibility volume needs arrays of n >= 0 values", __LINE__);
  for (int i = 0; i < n; i++)
    if (!(vol[i] > 0.0) || !isfinite(vol[i]))
      return eng_set_error(ENG_EINVAL, "msd.c:%d: atom %d has Voronoi volume %g (must be > 0)", __LINE__, i,
                           vol[i]);
  for (int i = 0; i < n; i++) {
    double a = cbrt(vol[i]);
    v[i] = msd[i] / (a * a) * vol[i];
  }
  return ENG_OK;
}
