/*
 * test_artn.c -- ARTn events (artn.c) on a small quenched Cu50Zr50 glass:
 * options and bad input; every converged saddle checked independently
 * (max force component, Delta Q recomputed from the saved structures, and
 * exactly one negative eigenvalue of a dense central-difference Hessian with
 * translations removed); pushing each saddle down both sides along the dense
 * lowest mode reaches the initial minimum on one side; bit-for-bit
 * reproducibility from (seed, atom id, event index); different seeds give
 * different events; local (masked) mode; cancellation.
 */
#include "engine.h"
#include "../tap.h"
#include "artn_util.h"

#include <string.h>

static const char *potential_path(void) {
  static char buf[4096];
  const char *src = getenv("PELMAP_SRCDIR");
  FILE *f;
  if (src) {
    snprintf(buf, sizeof buf, "%s/tests/data/CuZr_mm.eam.fs", src);
    f = fopen(buf, "r");
    if (f) {
      fclose(f);
      return buf;
    }
  }
  f = fopen("/usr/share/lammps/potentials/CuZr_mm.eam.fs", "r");
  if (f) {
    fclose(f);
    return "/usr/share/lammps/potentials/CuZr_mm.eam.fs";
  }
  return NULL;
}

static int cancel_after(void *ud, double frac, const char *msg) {
  int *n = ud;
  (void)frac;
  (void)msg;
  return ++*n >= 2;
}

int main(void) {
  const char *pp = potential_path();
  eng_potential *pot = NULL;
  eng_system *g = NULL;
  eng_calc *calc = NULL;
  eng_artn_opts o;
  eng_artn_event ev, ev2;
  double *xs, *xf, *xs2, *evals, *mode;
  int n3, nevents = 10, nconv = 0, nfirst = 0, nreturn = 0, npushed = 0;
  double e0;

  /* ---- options ---- */
  eng_artn_opts_default(&o);
  ok(o.perturb_radius == 2.0 && o.perturb_size == 0.1 && o.basin_step == 0.15 &&
         o.eigen_threshold == -0.30 && o.saddle_force == 0.05,
     "defaults are the paper's: radius 2.0 A, kick 0.1 A, step 0.15 A, -0.30 eV/A^2, 0.05 eV/A");
  ok(strcmp(eng_artn_status_name(ENG_ARTN_OK), "ok") == 0 &&
         strcmp(eng_artn_status_name(ENG_ARTN_EIGEN_LOST), "eigen_lost") == 0 &&
         strcmp(eng_artn_status_name(ENG_ARTN_RETURNED), "returned") == 0 &&
         strcmp(eng_artn_status_name(ENG_ARTN_NOT_CONNECTED), "not_connected") == 0,
     "status names");
  ok(o.restarts == 3 && o.require_connect == 1 && o.lanczos_radius == 0.0,
     "session-2 defaults: 3 restarts, connection required, whole-system Lanczos");
  ok(eng_artn_stream_seed(1, 5, 0) != eng_artn_stream_seed(1, 5, 1) &&
         eng_artn_stream_seed(1, 5, 0) != eng_artn_stream_seed(1, 6, 0) &&
         eng_artn_stream_seed(1, 5, 0) != eng_artn_stream_seed(2, 5, 0) &&
         eng_artn_stream_seed(1, 5, 0) == eng_artn_stream_seed(1, 5, 0),
     "event streams differ by seed, atom id and event index");

  if (!pp) {
    skip("CuZr_mm.eam.fs not found");
    return tap_done();
  }
  if (eng_potential_read(pp, ENG_POT_AUTO, &pot)) bail("potential: %s", eng_last_error());
  {
    /* The 300-atom glass these checks were written against:
     * au_make_glass(pot, 300, 11, 5.0, 100.0) (melt 5 ps, 100 K/ps), made
     * by the engine as it was until session 16 and bundled since session
     * 17 (tests/data/artn/glass300.data).  Until then it was quenched anew
     * in each fresh build tree, so any change of the MD's or the
     * minimiser's round-off changed the glass under every check below;
     * with session 17's dot products the quench gives another glass, on
     * which three checks of these 8-event samples fail (docs/artn.md,
     * "Verification").  (A faster 500 K/ps quench gave saddles below the
     * initial energy: too unstable a start.) */
    char path[4096];
    const char *src = getenv("PELMAP_SRCDIR");
    eng_min_opts mo;
    eng_min_result mr;
    snprintf(path, sizeof path, "%s/tests/data/artn/glass300.data", src && *src ? src : "..");
    if (eng_read_file(path, ENG_FMT_AUTO, NULL, &g) != ENG_OK || eng_calc_create(pot, g, NULL, &calc) != ENG_OK)
      bail("%s: %s", path, eng_last_error());
    eng_calc_fill_masses(calc, g);
    eng_min_opts_default(&mo);
    if (eng_minimize(calc, g, &mo, NULL, NULL, &mr) != ENG_OK || mr.fmax > 1e-5)
      bail("glass minimisation: %s (fmax %g)", eng_last_error(), mr.fmax);
  }
  n3 = 3 * g->natoms;
  xs = calloc(n3, sizeof(double));
  xf = calloc(n3, sizeof(double));
  xs2 = calloc(n3, sizeof(double));
  evals = calloc(n3, sizeof(double));
  mode = calloc(n3, sizeof(double));
  if (!xs || !xf || !xs2 || !evals || !mode) bail("out of memory");
  eng_calc_compute(calc, g, &e0, NULL, NULL, NULL);
  diag("glass: %d atoms, box %.2f A, E0 %.4f eV", g->natoms, g->box.len[0], e0);

  /* ---- bad input ---- */
  ok(eng_artn_run(calc, pot, g, -1, 0, &o, NULL, NULL, &ev, NULL, NULL) == ENG_EINVAL,
     "negative atom index is EINVAL");
  ok(eng_artn_run(calc, pot, g, g->natoms, 0, &o, NULL, NULL, &ev, NULL, NULL) == ENG_EINVAL,
     "atom index past the end is EINVAL");
  ok(eng_artn_run(calc, pot, g, 0, -3, &o, NULL, NULL, &ev, NULL, NULL) == ENG_EINVAL,
     "negative event index is EINVAL");
  {
    eng_artn_opts b = o;
    b.eigen_threshold = 0.1;
    ok(eng_artn_run(calc, pot, g, 0, 0, &b, NULL, NULL, &ev, NULL, NULL) == ENG_EINVAL &&
           strstr(eng_last_error(), "eigen_threshold"),
       "positive eigen_threshold is EINVAL naming it (%s)", eng_last_error());
    b = o;
    b.lanczos_max_iter = 1000;
    ok(eng_artn_run(calc, pot, g, 0, 0, &b, NULL, NULL, &ev, NULL, NULL) == ENG_EINVAL,
       "lanczos_max_iter 1000 is EINVAL");
    b = o;
    b.restarts = -1;
    ok(eng_artn_run(calc, pot, g, 0, 0, &b, NULL, NULL, &ev, NULL, NULL) == ENG_EINVAL &&
           strstr(eng_last_error(), "restarts"),
       "negative restarts is EINVAL naming it");
    b = o;
    b.lanczos_radius = -2.0;
    ok(eng_artn_run(calc, pot, g, 0, 0, &b, NULL, NULL, &ev, NULL, NULL) == ENG_EINVAL &&
           strstr(eng_last_error(), "lanczos_radius"),
       "negative lanczos_radius is EINVAL naming it");
    b = o;
    b.local = 1;
    ok(eng_artn_run(calc, NULL, g, 0, 0, &b, NULL, NULL, &ev, NULL, NULL) == ENG_EINVAL,
       "local mode without the potential is EINVAL");
    b = o;
    b.lanczos_analytic = 2;
    ok(eng_artn_run(calc, pot, g, 0, 0, &b, NULL, NULL, &ev, NULL, NULL) == ENG_EINVAL &&
           strstr(eng_last_error(), "lanczos_analytic"),
       "lanczos_analytic 2 is EINVAL naming it");
  }
  {
    eng_system *hot = eng_system_copy(g);
    hot->x[0] += 0.2;
    ok(eng_artn_run(calc, pot, hot, 0, 0, &o, NULL, NULL, &ev, NULL, NULL) == ENG_EINVAL &&
           strstr(eng_last_error(), "not minimised"),
       "a structure that is not a minimum is EINVAL (%s)", eng_last_error());
    eng_system_free(hot);
  }

  /* ---- events, each converged saddle checked independently ---- */
  /* One restart (not the default three) keeps the test fast: on this glass
   * the converged events need two attempts. */
  o.restarts = 1;
  /* Under ASan: stop at the first converged event (at most 6 attempts). */
  for (int k = 0; k < nevents && !(UNDER_ASAN && nconv >= 1); k++) {
    int atom = (int)((long)k * g->natoms / nevents) + 3, rc;
    double e, fmax = 0.0, dplus = 0, dminus = 0;
    eng_system *s = eng_system_copy(g);
    double *f = calloc(n3, sizeof(double));
    rc = eng_artn_run(calc, pot, g, atom, 0, &o, NULL, NULL, &ev, xs, xf);
    ok(rc == ENG_OK, "event %d on atom %lld runs (%s)", k, (long long)g->id[atom],
       rc ? eng_last_error() : eng_artn_status_name(ev.status));
    diag("atom %lld %s: status %s dq %.4f eV dE %.4f eV lambda %.3f calls %d/%d max_disp %.2f "
         "moved %d %s",
         (long long)ev.atom_id, g->type_name[g->type[atom]], eng_artn_status_name(ev.status), ev.dq,
         ev.de_final, ev.eigenvalue, ev.force_calls_saddle, ev.force_calls, ev.max_disp, ev.n_moved,
         ev.reason);
    if (rc != ENG_OK || ev.status != ENG_ARTN_OK) {
      eng_system_free(s);
      free(f);
      continue;
    }
    nconv++;
    memcpy(s->x, xs, sizeof(double) * n3);
    eng_calc_invalidate(calc);
    eng_calc_compute(calc, s, &e, f, NULL, NULL);
    for (int i = 0; i < n3; i++) fmax = fmax > fabs(f[i]) ? fmax : fabs(f[i]);
    ok(fmax < o.saddle_force && ev.fmax_saddle < o.saddle_force,
       "event %d: saved saddle has max force component %.4f < %.2f eV/A", k, fmax, o.saddle_force);
    near(e - e0, ev.dq, 1e-6, "event %d: dQ recomputed from the saved saddle and initial minimum", k);
    /* a saddle reached after a second-mode push-off was climbed again to
     * second_force (0.03 eV/A since session 13), tighter than saddle_force */
    if (ev.pushoffs > 0) {
      npushed++;
      ok(fmax < o.second_force && ev.fmax_saddle < o.second_force,
         "event %d: after %d push-off(s) the saddle meets second_force: %.4f < %.2f eV/A", k, ev.pushoffs, fmax,
         o.second_force);
    }
    ok(ev.final_differs && ev.max_disp > o.same_dist && ev.dq > 0.0 && ev.eigenvalue < 0.0,
       "event %d: final minimum differs from the initial one, dQ > 0, lambda < 0", k);
    {
      int nm = 0, perm = au_permuted_initial(g, xf, o.same_dist, &nm);
      ok(ev.exchange == perm, "event %d: exchange %d agrees with an independent permutation test (%d; %d atoms moved)",
         k, ev.exchange, perm, nm);
    }
    ok(ev.connected == 1 && ev.attempts >= 1 && ev.attempts <= o.restarts + 1,
       "event %d: connected to the initial minimum (%d) after %d attempt(s)", k, ev.connected,
       ev.attempts);
    /* the successful attempt's own calls: all of them to the saddle but the
     * start's energy call when it was the first, fewer after a restart */
    ok(ev.attempts == 1 ? ev.calls_attempt_saddle == ev.force_calls_saddle - 1
                        : ev.calls_attempt_saddle > 0 && ev.calls_attempt_saddle < ev.force_calls_saddle,
       "event %d: calls_attempt_saddle %d (attempt %d of the %d calls to the saddle)", k,
       ev.calls_attempt_saddle, ev.attempts, ev.force_calls_saddle);
    /* the check's second-mode Lanczos vectors: at least its minimum run, as
     * analytic Hessian products (the default since session 14; its force
     * calls, if any, remake a product's point), all of the event's when
     * there was one attempt, fewer than the search's */
    ok(ev.products_attempt_check >= 16 && ev.products_attempt_check < ev.products_attempt_saddle &&
           ev.products_attempt_saddle <= ev.hessian_products && ev.calls_attempt_check < ev.calls_attempt_saddle &&
           (ev.attempts > 1 || ev.calls_attempt_check == ev.calls_second) &&
           ev.calls_attempt_check <= ev.calls_second,
       "event %d: check's products %d of the attempt's %d (event's %d), its calls %d of %d (event's "
       "second-mode calls %d)", k, ev.products_attempt_check, ev.products_attempt_saddle, ev.hessian_products,
       ev.calls_attempt_check, ev.calls_attempt_saddle, ev.calls_second);
    ok(isnan(ev.fmax_whole) == 0 && ev.fmax_whole == ev.fmax_saddle,
       "event %d: fmax_whole = fmax_saddle for a whole-system saddle (%.4f)", k, ev.fmax_whole);
    {
      int nneg = au_hessian_negatives(calc, g, xs, 1e-3, -1e-3, evals, mode);
      ok(nneg == 1, "event %d: dense Hessian has exactly one negative eigenvalue (%d; %.4f %.4f %.4f)",
         k, nneg, evals[0], evals[1], evals[2]);
      nfirst += nneg == 1;
      if (nneg >= 1) {
        near(evals[0], ev.eigenvalue, 0.05 * fabs(evals[0]) + 0.02,
             "event %d: Lanczos eigenvalue matches the dense one", k);
        /* The push crosses the ridge on each side: a saddle converged to
         * saddle_force lies up to |F.v| / |lambda| (the Newton offset
         * along the dense mode v) from the top, more than 0.1 A on a soft
         * mode; so, as the engine does (docs/artn.md, step 6), four times
         * that offset, at least 0.1 A and at most push_over. */
        double ep = 0, em = 0, fv = 0.0;
        for (int i = 0; i < n3; i++) fv += f[i] * mode[i];
        const double off = 4.0 * fabs(fv) / fabs(evals[0]);
        const double push = fmin(o.push_over, off > 0.1 ? off : 0.1);
        au_both_sides(calc, g, xs, mode, push, g->x, &dplus, &dminus, &ep, &em);
        diag("event %d: pushed %.3f A (Newton offset %.3f A), sides relax to %.3f / %.3f A, %.4f / %.4f eV "
             "from the initial minimum", k, push, fabs(fv) / fabs(evals[0]), dplus, dminus, ep - e0, em - e0);
        /* same minimum: within same_dist, or within 5 x that at the same
         * energy (same_energy; nearly flat modes of the glass): the
         * engine's definition, applied to the independent descent */
        {
          const double sd = o.same_dist, se = o.same_energy;
          int ip = dplus < sd || (dplus < 5.0 * sd && fabs(ep - e0) < se);
          int im = dminus < sd || (dminus < 5.0 * sd && fabs(em - e0) < se);
          /* exactly one side back in the initial minimum */
          nreturn += ip != im;
        }
      }
    }
    eng_system_free(s);
    free(f);
  }
  diag("converged %d / %d events, first-order %d, one side back to the initial minimum %d, %d after a push-off",
       nconv, nevents, nfirst, nreturn, npushed);
  ok(nconv >= 1, "at least one event converged (%d / %d)", nconv, nevents);
  if (!UNDER_ASAN) {
    /* Independent of the engine's own check (its mode, its push-over):
     * the dense mode, a 0.1 A push, steepest descent, CG.  Since session 3
     * the engine requires one side to be the initial minimum and the two
     * sides to differ, found along the steepest-descent path from its
     * refined mode (docs/artn.md).  Session 3 saw 2 / 3 in the CI build
     * (atom 204: the engine's descent returned, the test's did not; the
     * test glass's initial minimum has a 0.06 eV lower neighbour 0.62 A
     * away); since session 4 (push-over from the initial side first, the
     * new force kernel) it is 2 / 2 in the CI build and is asserted: a
     * failure here means the engine's connection verdict and an
     * independent descent disagree again (issue 5). */
    ok(nconv > 0 && nreturn >= 0.9 * nconv,
       "pushing the saddle down both sides (dense mode, steepest descent, CG) "
       "reaches the initial minimum on exactly one side for >= 90%% (%d / %d)",
       nreturn, nconv);
  } else
    skip("connectivity rate not asserted under ASan (one event only: %d / %d)", nreturn, nconv);

  /* ---- refine_force: the reported saddle meets it (session 9) ---- */
  {
    /* Atom 100 (index 99, event 0): with refine_force 0.005 its converged
     * point has a second negative eigenvalue, so the check pushes it off
     * and climbs again.  Until session 9 that climb went to second_force
     * (0.01 eV/A) even when refine_force asked for less: this event was
     * reported at 0.0099 eV/A (5 of 73 ok events of the glass so, found
     * with `pelmap artn ... --refine-force 0.005`).  The saddle reported
     * must meet the tighter of the two, by an independent force call. */
    eng_artn_opts ot = o;
    eng_system *s = eng_system_copy(g);
    double *f = calloc(n3, sizeof(double)), fm = 0.0;
    int rc;
    if (!s || !f) bail("out of memory");
    ot.refine_force = 0.005;
    rc = eng_artn_run(calc, pot, g, 99, 0, &ot, NULL, NULL, &ev, xs, NULL);
    diag("refine_force %.3f: atom %lld %s (%s), dq %.4f, fmax %.4f, second eigenvalue %.4f, second-mode calls %d",
         ot.refine_force, (long long)ev.atom_id, eng_artn_status_name(ev.status), ev.reason, ev.dq, ev.fmax_saddle,
         ev.eigenvalue2, ev.calls_second);
    if (rc != ENG_OK || ev.status != ENG_ARTN_OK) {
      skip("refine_force event did not converge (%s)", rc ? eng_last_error() : eng_artn_status_name(ev.status));
    } else {
      memcpy(s->x, xs, sizeof(double) * n3);
      eng_calc_compute(calc, s, NULL, f, NULL, NULL);
      for (int i = 0; i < n3; i++) fm = fm > fabs(f[i]) ? fm : fabs(f[i]);
      ok(fm < ot.refine_force && ev.fmax_saddle < ot.refine_force,
         "refine_force %.3f eV/A: the saved saddle's max force component is %.4f (event: %.4f)", ot.refine_force,
         fm, ev.fmax_saddle);
      /* session 10: the event records the push-offs of its last attempt */
      ok(ev.pushoffs >= 1 && ev.failed_after_pushoff >= 0 && ev.failed_after_pushoff <= ev.attempts - 1,
         "refine_force event: its saddle came after %d second-mode push-off(s); %d of its %d failed attempts "
         "had pushed off",
         ev.pushoffs, ev.failed_after_pushoff, ev.attempts - 1);
      ot.check_second = 0;
      rc = eng_artn_run(calc, pot, g, 99, 0, &ot, NULL, NULL, &ev, NULL, NULL);
      ok(rc == ENG_OK && ev.pushoffs == 0 && ev.failed_after_pushoff == 0,
         "without the first-order check the same event pushes off nothing (%d, %d; %s)", ev.pushoffs,
         ev.failed_after_pushoff, eng_artn_status_name(ev.status));
    }
    eng_system_free(s);
    free(f);
  }

  /* ---- reproducibility ---- */
  {
    int atom = 7, same;
    eng_artn_event a1, a2, b1;
    double *x1 = calloc(n3, sizeof(double)), *x2 = calloc(n3, sizeof(double));
    eng_artn_opts o2 = o, oq = o;
    oq.restarts = 0;
    eng_artn_run(calc, pot, g, atom, 2, &o, NULL, NULL, &a1, x1, NULL);
    eng_artn_run(calc, pot, g, 100, 0, &oq, NULL, NULL, &ev, NULL, NULL); /* disturb the calc */
    eng_artn_run(calc, pot, g, atom, 2, &o, NULL, NULL, &a2, x2, NULL);
    same = memcmp(x1, x2, sizeof(double) * n3) == 0 && a1.status == a2.status &&
           a1.force_calls == a2.force_calls && memcmp(&a1.dq, &a2.dq, sizeof(double)) == 0 &&
           memcmp(&a1.e_final, &a2.e_final, sizeof(double)) == 0;
    ok(same, "same (seed, atom, event) gives the same event bit for bit (%s, dq %.17g / %.17g)",
       eng_artn_status_name(a1.status), a1.dq, a2.dq);
    o2.seed = 99;
    o2.restarts = 0;
    memset(x2, 0, sizeof(double) * n3);
    eng_artn_run(calc, pot, g, atom, 2, &o2, NULL, NULL, &b1, x2, NULL);
    ok(b1.stream != a1.stream &&
           (b1.status != a1.status || b1.force_calls != a1.force_calls ||
            memcmp(x1, x2, sizeof(double) * n3) != 0),
       "a different seed gives a different event");
    eng_artn_run(calc, pot, g, atom, 3, &oq, NULL, NULL, &ev2, NULL, NULL);
    ok(ev2.stream != a1.stream && ev2.force_calls != a1.force_calls,
       "another event index gives a different event");
    free(x1);
    free(x2);
  }

  /* ---- a lost eigenvalue followed uphill (lost_follow, session 7) ---- */
  {
    /* Single attempts that end eigen_lost with the old recovery (pushes
     * along x - x_initial, as many recoveries allowed) run again with the
     * default, which follows the lowest mode uphill: most must now reach a
     * converged saddle (ok, not_connected or returned), and a converged ok
     * one must be a first-order saddle by the dense Hessian. */
    eng_artn_opts op = o, of = o;
    int nlost = 0, nrec = 0, nchecked = 0, npick = UNDER_ASAN ? 12 : 32;
    op.restarts = of.restarts = 0;
    op.lost_follow = 0; /* the only difference */
    ok(o.lost_follow == 50 && o.lost_retries == 20, "lost eigenvalues followed uphill by default (%d steps, %d times)",
       o.lost_follow, o.lost_retries);
    for (int k = 0; k < npick; k++) {
      int atom = (int)((long)k * g->natoms / 32) + 1; /* k even: the 16 atoms of session 7 */
      if (eng_artn_run(calc, pot, g, atom, 1, &op, NULL, NULL, &ev, NULL, NULL) != ENG_OK)
        bail("artn: %s", eng_last_error());
      if (ev.status != ENG_ARTN_EIGEN_LOST) continue;
      nlost++;
      if (eng_artn_run(calc, pot, g, atom, 1, &of, NULL, NULL, &ev2, xs, NULL) != ENG_OK)
        bail("artn: %s", eng_last_error());
      diag("atom %d: pushes: %s | follow: %s dq %.4f %s", atom, ev.reason, eng_artn_status_name(ev2.status), ev2.dq,
           ev2.reason);
      nrec += ev2.status == ENG_ARTN_OK || ev2.status == ENG_ARTN_NOT_CONNECTED || ev2.status == ENG_ARTN_RETURNED;
      if (ev2.status == ENG_ARTN_OK && nchecked < (UNDER_ASAN ? 1 : 2)) {
        /* the saved saddle, recomputed: force and energy, then the dense
         * finite-difference Hessian */
        eng_system *s = eng_system_copy(g);
        double *f = calloc(n3, sizeof(double)), e = NAN, fm = 0.0;
        int nneg;
        if (!s || !f) bail("out of memory");
        memcpy(s->x, xs, sizeof(double) * n3);
        eng_calc_invalidate(calc);
        eng_calc_compute(calc, s, &e, f, NULL, NULL);
        for (int i = 0; i < n3; i++) fm = fm > fabs(f[i]) ? fm : fabs(f[i]);
        nneg = au_hessian_negatives(calc, g, xs, 1e-3, -1e-3, evals, NULL);
        nchecked++;
        ok(nneg == 1 && fm < o.saddle_force && fabs(e - e0 - ev2.dq) < 1e-6 && ev2.connected == 1,
           "atom %d: the saddle found after following the lost mode is first-order (%d negative, %.4f), "
           "max force %.4f recomputed, dQ %.4f recomputed, connected",
           atom, nneg, evals[0], fm, e - e0);
        eng_system_free(s);
        free(f);
      }
    }
    ok(nlost >= 2 && nrec >= 0.75 * nlost,
       "eigen_lost attempts with pushes along x - x_initial: %d of %d; converged saddles when followed uphill: %d",
       nlost, npick, nrec);
    ok(nchecked >= 1, "at least one followed attempt converged and was checked (%d)", nchecked);
    {
      eng_artn_opts b = o;
      b.lost_follow = -1;
      ok(eng_artn_run(calc, pot, g, 0, 0, &b, NULL, NULL, &ev, NULL, NULL) == ENG_EINVAL &&
             strstr(eng_last_error(), "lost_follow"),
         "negative lost_follow is EINVAL naming it");
    }
  }

  /* ---- analytic Hessian products (lanczos_analytic, session 14) ---- */
  {
    /* The same single attempts with finite-difference products (the rule
     * until session 13) and with the default analytic ones: the analytic
     * run counts its Lanczos vectors as products, not force calls, and
     * needs far fewer force calls; every ok saddle of both is checked by
     * the dense Hessian (first order, and the eigenvalue the event reports
     * equal to the dense one). */
    eng_artn_opts ofd = o, oan = o;
    long cfd = 0, can = 0, pfd = 0, pan = 0;
    int nok[2] = {0, 0}, nfo[2] = {0, 0}, nlam = 0, npick = UNDER_ASAN ? 2 : 6;
    ofd.restarts = oan.restarts = 0;
    ofd.lanczos_analytic = 0; /* the only difference */
    ok(o.lanczos_analytic == 1, "analytic Hessian products by default (%d)", o.lanczos_analytic);
    for (int k = 0; k < npick; k++) {
      int atom = (int)((long)k * g->natoms / 6) + 5;
      for (int m = 0; m < 2; m++) {
        eng_artn_event *e = m ? &ev2 : &ev;
        if (eng_artn_run(calc, pot, g, atom, 0, m ? &oan : &ofd, NULL, NULL, e, xs, NULL) != ENG_OK)
          bail("artn: %s", eng_last_error());
        if (e->status == ENG_ARTN_OK) {
          int nneg = au_hessian_negatives(calc, g, xs, 1e-3, -1e-3, evals, NULL);
          nok[m]++;
          nfo[m] += nneg == 1;
          const int same = nneg >= 1 && fabs(evals[0] - e->eigenvalue) <= 0.05 * fabs(evals[0]) + 0.02;
          nlam += same;
          if (nneg != 1 || !same)
            diag("atom %d (%s): %d negative eigenvalue(s) by the dense Hessian, lowest %.4f; reported %.4f eV/A^2",
                 atom, m ? "analytic" : "finite differences", nneg, evals[0], e->eigenvalue);
        }
      }
      diag("atom %d: finite differences %s, %d force calls (%d Lanczos) | analytic %s, %d force calls, %d products",
           atom, eng_artn_status_name(ev.status), ev.force_calls, ev.calls_basin_lanczos + ev.calls_climb_lanczos,
           eng_artn_status_name(ev2.status), ev2.force_calls, ev2.hessian_products);
      cfd += ev.force_calls;
      can += ev2.force_calls;
      pfd += ev.hessian_products;
      pan += ev2.hessian_products;
    }
    ok(pfd == 0 && pan > 0 && can < cfd,
       "finite differences: %ld force calls, %ld products; analytic: %ld force calls, %ld products", cfd, pfd,
       can, pan);
    ok(nok[0] + nok[1] >= 1 && nfo[0] == nok[0] && nfo[1] == nok[1] && nlam == nok[0] + nok[1],
       "ok saddles first-order by the dense Hessian, eigenvalue as reported: finite differences %d of %d, "
       "analytic %d of %d", nfo[0], nok[0], nfo[1], nok[1]);
  }

  /* ---- the basin's Lanczos stop (basin_lanczos_gap, session 8) ---- */
  {
    /* The same single attempts with the basin's Lanczos run to lanczos_tol
     * (gap 0, the rule until session 7) and with the default gap: the
     * basin must cost fewer Lanczos calls and leave the basin as often. */
    eng_artn_opts o0 = o, og = o;
    long lz0 = 0, lzg = 0;
    int exit0 = 0, exitg = 0, npick = UNDER_ASAN ? 4 : 8;
    o0.restarts = og.restarts = 0;
    /* counted as force calls: finite-difference products (the event
     * records analytic ones only in total) */
    o0.lanczos_analytic = og.lanczos_analytic = 0;
    o0.basin_lanczos_gap = 0.0; /* the only difference */
    ok(o.basin_lanczos_gap == 0.3, "basin_lanczos_gap defaults to 0.3 (%g)", o.basin_lanczos_gap);
    for (int k = 0; k < npick; k++) {
      int atom = (int)((long)k * g->natoms / 8) + 3;
      if (eng_artn_run(calc, pot, g, atom, 1, &o0, NULL, NULL, &ev, NULL, NULL) != ENG_OK ||
          eng_artn_run(calc, pot, g, atom, 1, &og, NULL, NULL, &ev2, NULL, NULL) != ENG_OK)
        bail("artn: %s", eng_last_error());
      diag("atom %d: basin Lanczos calls %d (gap 0, %s) vs %d (gap %.2g, %s)", atom, ev.calls_basin_lanczos,
           eng_artn_status_name(ev.status), ev2.calls_basin_lanczos, og.basin_lanczos_gap,
           eng_artn_status_name(ev2.status));
      lz0 += ev.calls_basin_lanczos;
      lzg += ev2.calls_basin_lanczos;
      exit0 += ev.status != ENG_ARTN_NO_EXIT;
      exitg += ev2.status != ENG_ARTN_NO_EXIT;
    }
    ok(lzg < lz0 && exitg == exit0 && exit0 == npick,
       "basin Lanczos calls %ld with the gap stop, %ld without; basins left %d and %d of %d", lzg, lz0, exitg,
       exit0, npick);
    {
      eng_artn_opts b = o;
      b.basin_lanczos_gap = 1.5;
      ok(eng_artn_run(calc, pot, g, 0, 0, &b, NULL, NULL, &ev, NULL, NULL) == ENG_EINVAL &&
             strstr(eng_last_error(), "basin_lanczos_gap"),
         "basin_lanczos_gap 1.5 is EINVAL naming it");
    }
  }

  /* ---- local mode (the glass is too small for a cluster: masked) ---- */
  {
    eng_artn_opts ol = o;
    int rc;
    ol.local = 1;
    ol.local_radius = 6.0;
    ol.restarts = 0;
    rc = eng_artn_run(calc, pot, g, 40, 0, &ol, NULL, NULL, &ev, xs, NULL);
    ok(rc == ENG_OK && ev.n_active > 0 && ev.n_active < g->natoms,
       "local mode runs with %d moving atoms (%s)", ev.n_active, eng_artn_status_name(ev.status));
    if (rc == ENG_OK && ev.status == ENG_ARTN_OK) {
      int nneg = au_hessian_negatives(calc, g, xs, 1e-3, -1e-3, evals, NULL);
      ok(nneg == 1 && ev.fmax_saddle < o.saddle_force,
         "local + refined saddle is first-order (%d negative), dq_local %.4f -> dq %.4f eV", nneg,
         ev.dq_local, ev.dq);
    } else {
      skip("local event did not converge (%s)", ev.reason);
    }
  }

  /* ---- cancellation ---- */
  {
    int calls = 0, rc = eng_artn_run(calc, pot, g, 5, 0, &o, cancel_after, &calls, &ev, NULL, NULL);
    ok(rc == ENG_ECANCEL, "progress returning non-zero cancels (rc %d)", rc);
  }

  free(xs);
  free(xf);
  free(xs2);
  free(evals);
  free(mode);
  eng_calc_free(calc);
  eng_system_free(g);
  eng_potential_free(pot);
  return tap_done();
}
