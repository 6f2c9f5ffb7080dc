/*
 * neigh.h -- internal: periodic images and neighbour lists (neigh.c).
 * Owned by the engine; structures are zero-initialised by the caller and
 * released with the matching _free.
 */
#ifndef PELMAP_ENGINE_NEIGH_H
#define PELMAP_ENGINE_NEIGH_H

#include "engine.h"

/* Owned atoms (0..nlocal-1, wrapped into the cell) followed by their
 * periodic images (nlocal..nall-1).  x holds 3*nall extended positions. */
typedef struct eng__ghosts {
  int nlocal, nall, cap;
  int *owner;    /* nall: owning atom */
  int *shift;    /* 3*nall: image shift in cell vectors */
  double *x;     /* 3*nall: positions, Angstrom */
  int *wimg;     /* 3*nlocal: cell vectors added to the given position to wrap it */
  int *order;    /* nlocal: original atom of owned slot k (spatially sorted) */
  int *rank;     /* nlocal: owned slot of original atom i */
  eng_box box;   /* box at build time */
} eng__ghosts;

/* Build images of the nlocal atoms at x within range (Angstrom) of the
 * cell.  With sort, owned slots are ordered by spatial cell (better cache
 * use in pair loops); otherwise slot k is atom k.  Owned slot k holds
 * original atom order[k]; wimg and the first nlocal entries of owner, shift
 * and x are per slot.  ENG_ERANGE on a non-finite coordinate, ENG_ENOMEM. */
int eng__ghosts_build(const eng_box *box, const double *x, int nlocal,
                      double range, int sort, eng__ghosts *g);
/* Recompute extended positions from new owned positions x (same wrap and
 * shifts as at build) in the (possibly changed) box: owned atom i sits at
 * x_i + wimg_i . cell, image j at owned(owner_j) + shift_j . cell. */
void eng__ghosts_update(eng__ghosts *g, const eng_box *box, const double *x);
void eng__ghosts_free(eng__ghosts *g);

/* Neighbour list of owned slots: indices into the extended arrays. */
typedef struct eng__list {
  int nlocal;
  long *start; /* nlocal+1 */
  int *nbr;
  long cap;
} eng__list;

/* Pairs closer than range.  half=1 keeps each physical pair once.  act
 * (nlocal flags by owned slot, borrowed; NULL = every slot) restricts a
 * half list to the pairs with an active atom, each kept once: the rows of
 * inactive slots are empty, and an active row holds every neighbour whose
 * owner is inactive plus, by the half rule, those whose owner is active
 * (session 11: the frozen-shell calculators rebuild only these). */
int eng__list_build(const eng__ghosts *g, double range, int half, const unsigned char *act, eng__list *l);
void eng__list_free(eng__list *l);

#endif
