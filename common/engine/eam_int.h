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

#endif
