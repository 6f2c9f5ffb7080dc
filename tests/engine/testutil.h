/*
 * testutil.h -- helpers shared by engine tests: random dense samples, a
 * LAMMPS runner for reference values.  Test-only code.
 */
#ifndef PELMAP_TESTUTIL_H
#define PELMAP_TESTUTIL_H

#include "engine.h"

/* Random binary sample of n atoms (fraction x of species a) at number
 * density rho (1/A^3) in the given box shape (tilts as fractions of the
 * edge lengths), with no two atoms closer than dmin.  Names/masses set.
 * Returns NULL on failure. */
eng_system *tu_random_sample(int n, double rho, double tilt_xy, double tilt_xz,
                             double tilt_yz, const char *a, const char *b, double x,
                             double dmin, uint64_t seed);
/* Perfect fcc Cu crystal: n x n x n cubic cells of side a (Angstrom), every
 * site shifted by offset*a along x, y and z.  NULL when out of memory. */
eng_system *tu_fcc_cu(int n, double a, double offset);
/* Write a LAMMPS data file (atomic) of s at path, full precision. 0 on success. */
int tu_write_data(const char *path, const eng_system *s);
/* Path of the lmp executable from $LMP, or NULL when LAMMPS is unavailable. */
const char *tu_lmp(void);
/* A scratch directory for this test (created), under $PELMAP_BUILDDIR/tests/tmp. */
const char *tu_tmpdir(const char *test);
/* Run lmp on input script text in dir; 0 on success (log in dir/log.lammps). */
int tu_run_lmp(const char *dir, const char *script);
/* Read a LAMMPS custom dump "id c1 c2 ..." (one frame, sorted by id) into
 * vals[natoms*ncol]; 0 on success. */
int tu_read_dump(const char *path, int natoms, int ncol, double *vals);
/* Find "KEY value" in dir/log.lammps (lines printed by `print`), -1 if absent. */
int tu_log_value(const char *dir, const char *key, double *val);
/* The Mendelev Cu-Zr eam/fs potential path. */
#define TU_CUZR "/usr/share/lammps/potentials/CuZr_mm.eam.fs"

#endif
