/*
 * eam_int.h -- internal: the EAM functions of a calculator, evaluated one at
 * a time with second derivatives, for the Hessian (modes) and other code
 * that needs more than energies and forces.  Implemented in eam.c with the
 * same interpolation as the force loop.
 */
#ifndef PELMAP_ENGINE_EAM_INT_H
#define PELMAP_ENGINE_EAM_INT_H

#include "engine.h"

/* The pair functions at distance r (Angstrom) between an atom i of
 * potential element a and a neighbour j of element b:
 *   rhoi = density at i due to j, rhoj = density at j due to i,
 *   phi  = pair energy (eV), with first and second r-derivatives.
 * All zero at r >= cutoff. */
typedef struct eng__pairfn {
  double rhoi, drhoi, d2rhoi;
  double rhoj, drhoj, d2rhoj;
  double phi, dphi, d2phi;
} eng__pairfn;

void eng__calc_pair(const eng_calc *c, int a, int b, double r, eng__pairfn *out);
/* Embedding energy F_e(rho) (eV) and its first and second derivatives. */
void eng__calc_embed(const eng_calc *c, int e, double rho, double *F, double *dF,
                     double *d2F);
/* Potential element of a system type. */
int eng__calc_elem(const eng_calc *c, int type);

/* Analytic Hessian-vector products H v (session 14: ARTn's Lanczos).
 * eng__calc_hvp_prepare stores per-pair second derivatives at the
 * positions of c's last eng_calc_compute (the caller's sys->x then; the
 * calculator cannot check that, so a caller tracks eng_calc_ncompute),
 * with the densities, background and frozen atoms of that compute: it
 * reads each pair's table knot again, as the compute's density pass does.
 * eng__calc_hvp then gives y = H v (v, y: 3N in the caller's atom order;
 * v in Angstrom, y in eV/Angstrom, H in eV/Angstrom^2), H the Hessian of the energy that compute returned, i.e. minus the
 * derivative of its forces (the same interpolation; hessian.c's matrix
 * with the background density and frozen shell): components of v on
 * frozen atoms are ignored and those of y are 0.  ENG_EINVAL when not
 * prepared at the last compute, ENG_ENOMEM.  Both use the calculator's
 * scratch: one product at a time per calculator. */
int eng__calc_hvp_prepare(eng_calc *c);
int eng__calc_hvp(eng_calc *c, const double *v, double *y);

#endif
