/*
 * internal.h -- declarations shared between engine modules (eng__ prefix).
 * Not installed, not for front ends.
 */
#ifndef PELMAP_ENGINE_INTERNAL_H
#define PELMAP_ENGINE_INTERNAL_H

#include "engine.h"

#include <assert.h>
#include <stdlib.h>

/* Checked allocation helpers: return NULL (and set ENG_ENOMEM message)
 * on failure.  n*size overflow is detected. */
void *eng__calloc(size_t n, size_t size);
void *eng__malloc(size_t n, size_t size);
void *eng__realloc(void *p, size_t n, size_t size);

/* Max over atoms of |component| of a 3n vector. */
double eng__max_abs(const double *v, int n3);
/* Dot product of two n-vectors (eight partial sums in a fixed order). */
double eng__dot(const double *a, const double *b, long n);

/* 1 if boxes a and b are the same (every field equal), else 0. */
int eng__box_same(const eng_box *a, const eng_box *b);

/* Square of x. */
static inline double eng__sq(double x) { return x * x; }

#endif
