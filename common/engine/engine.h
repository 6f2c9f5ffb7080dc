/*
 * engine.h -- the one public header of the pelmap engine (libpelengine).
 *
 * The engine computes energies, forces, minimisations, molecular dynamics and
 * (later) descriptors and saddle searches for atomic systems described by
 * embedded-atom-method potentials.  It knows nothing of HTTP, SQL or JSON:
 * the server, the worker and the command line call it.
 *
 * Conventions (read once, they hold for every function below):
 *
 *  - Units are LAMMPS "metal" units: lengths in Angstrom, energies in eV,
 *    time in ps, masses in g/mol (amu), temperature in K, pressure in bar,
 *    forces in eV/Angstrom, velocities in Angstrom/ps.
 *  - Positions and other per-atom vectors are flat arrays of 3*natoms
 *    doubles, x0 y0 z0 x1 y1 z1 ...
 *  - Boxes follow LAMMPS' restricted triclinic form: cell vectors
 *    a = (lx,0,0), b = (xy,ly,0), c = (xz,yz,lz), origin lo.
 *  - Errors: functions returning int return ENG_OK (0) on success and a
 *    negative ENG_E* code on failure; a human-readable message naming the
 *    problem (with file name and line number for parse errors) is then
 *    available from eng_last_error() in the same thread.  Functions
 *    returning a pointer return NULL on failure (out of memory).
 *  - Ownership: objects made by eng_X_create/eng_X_read are owned by the
 *    caller and released with the matching eng_X_free (which accepts NULL).
 *    Arrays passed in are borrowed for the duration of the call unless the
 *    contract says otherwise.  No function keeps a pointer to caller memory
 *    after it returns, except eng_calc, which borrows its eng_potential
 *    (the potential must outlive the calculator).
 *  - Thread safety: distinct objects may be used from distinct threads
 *    concurrently; one object must not be used by two threads at once.
 */
#ifndef PELMAP_ENGINE_H
#define PELMAP_ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ENG_VERSION "0.1.0"

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

/* X(name, value, description): the single list from which the enum,
 * eng_errname() and eng_strerror() are generated. */
#define ENG_ERROR_MAP(X)                                   \
  X(OK, 0, "success")                                      \
  X(ENOMEM, -1, "out of memory")                           \
  X(EINVAL, -2, "invalid argument")                        \
  X(EIO, -3, "input/output error")                         \
  X(EPARSE, -4, "malformed input")                         \
  X(ERANGE, -5, "value out of range")                      \
  X(ENOCONV, -6, "did not converge")                       \
  X(ECANCEL, -7, "cancelled")                              \
  X(EUNSUPP, -8, "unsupported")                            \
  X(ENOTFOUND, -9, "not found")

enum eng_error {
#define ENG__ENUM(name, val, desc) ENG_##name = val,
  ENG_ERROR_MAP(ENG__ENUM)
#undef ENG__ENUM
};

/* Short description of an error code ("malformed input"). Never NULL. */
const char *eng_strerror(int code);
/* Symbolic name of an error code ("ENG_EPARSE"). Never NULL. */
const char *eng_errname(int code);
/* Detailed message of the last failure in this thread, e.g.
 * "glass.data:12: expected 5 columns in Atoms section, got 3".
 * Valid until the next engine call in this thread.  Never NULL. */
const char *eng_last_error(void);
/* Set the thread's detailed message (printf-style) and return code.
 * For engine modules and front ends that wrap engine errors. */
int eng_set_error(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------------ */
/* Random numbers (reproducible from a 64-bit seed)                    */
/* ------------------------------------------------------------------ */

/* xoshiro256** state.  Same seed -> same stream on every platform. */
typedef struct eng_rng {
  uint64_t s[4];
} eng_rng;

/* Seed the generator (splitmix64 expansion of seed). */
void eng_rng_seed(eng_rng *r, uint64_t seed);
/* Next 64 random bits. */
uint64_t eng_rng_next(eng_rng *r);
/* Uniform double in [0, 1). */
double eng_rng_uniform(eng_rng *r);
/* Standard normal deviate (Box-Muller, no cached state). */
double eng_rng_normal(eng_rng *r);

/* ------------------------------------------------------------------ */
/* Boxes and systems                                                   */
/* ------------------------------------------------------------------ */

typedef struct eng_box {
  double lo[3];       /* origin, Angstrom */
  double len[3];      /* lx, ly, lz > 0, Angstrom */
  double xy, xz, yz;  /* tilt factors, Angstrom (0 for orthogonal) */
  int periodic[3];    /* 1 if periodic along that cell vector */
} eng_box;

/* Volume of the box, Angstrom^3. */
double eng_box_volume(const eng_box *b);
/* 1 if any tilt factor is non-zero. */
int eng_box_is_triclinic(const eng_box *b);
/* Cartesian position -> fractional coordinates (relative to lo). */
void eng_box_to_frac(const eng_box *b, const double x[3], double s[3]);
/* Fractional coordinates -> Cartesian position. */
void eng_box_from_frac(const eng_box *b, const double s[3], double x[3]);
/* Apply the minimum-image convention to a separation vector d (in place)
 * along periodic directions.  Exact for separations shorter than half the
 * smallest perpendicular box width. */
void eng_box_minimum_image(const eng_box *b, double d[3]);
/* Wrap a position into the box along periodic directions; if image is not
 * NULL, the image counters are updated so that unwrapped = wrapped + n*cell. */
void eng_box_wrap(const eng_box *b, double x[3], int image[3]);
/* Perpendicular widths of the cell (distance between opposite faces). */
void eng_box_widths(const eng_box *b, double w[3]);

/* Kinds of extra per-atom property columns. */
enum eng_prop_kind { ENG_PROP_REAL = 0, ENG_PROP_INT = 1, ENG_PROP_STR = 2 };

/* An extra per-atom property (from an extended XYZ file, or a result to be
 * written).  REAL and INT values live in val (natoms*ncomp); STR values in
 * str (natoms*ncomp strings, each owned by the property). */
typedef struct eng_prop {
  char name[64];
  int kind;
  int ncomp;
  double *val;
  char **str;
} eng_prop;

#define ENG_NAME_MAX 16

typedef struct eng_system {
  int natoms;
  int ntypes;
  char (*type_name)[ENG_NAME_MAX]; /* ntypes species names; "" if unknown */
  double *type_mass;               /* ntypes masses, amu; 0 if unknown */
  int64_t *id;                     /* natoms atom ids (unique, > 0) */
  int *type;                       /* natoms type indices, 0..ntypes-1 */
  double *x;                       /* 3*natoms positions, Angstrom */
  double *v;                       /* 3*natoms velocities (Angstrom/ps) or NULL */
  int *image;                      /* 3*natoms image flags or NULL */
  eng_box box;
  int nprops;
  eng_prop *props;
} eng_system;

/* Allocate a system of natoms atoms and ntypes types, all zeroed, with ids
 * 1..natoms, no velocities and no image flags.  NULL when out of memory. */
eng_system *eng_system_create(int natoms, int ntypes);
/* Release a system and everything it owns.  NULL is a no-op. */
void eng_system_free(eng_system *s);
/* Deep copy, or NULL when out of memory. */
eng_system *eng_system_copy(const eng_system *s);
/* Make sure s->v (zeroed) / s->image (zeroed) exist. ENG_ENOMEM on failure. */
int eng_system_alloc_velocities(eng_system *s);
int eng_system_alloc_images(eng_system *s);
/* Add (or replace) a per-atom property; *out points into s and stays valid
 * until the next add or free.  Values are zeroed / strings NULL. */
int eng_system_add_prop(eng_system *s, const char *name, int kind, int ncomp,
                        eng_prop **out);
/* Find a property by name, or NULL. */
eng_prop *eng_system_find_prop(const eng_system *s, const char *name);
/* Mass of atom i in amu (type mass). */
double eng_system_mass(const eng_system *s, int i);
/* Count atoms of each type into counts[ntypes]. */
void eng_system_type_counts(const eng_system *s, int *counts);
/* Index of the type whose species name is name, or -1. */
int eng_system_type_by_name(const eng_system *s, const char *name);
/* A random starting configuration (for melting): natoms atoms in a cubic
 * periodic box at number density rho (1/Angstrom^3), no two closer than
 * dmin (Angstrom), species names[k] in proportions frac[k] (normalised;
 * counts rounded, the remainder going to the last species), types assigned
 * in a random order.  Masses from eng_element_mass.  Reproducible from seed.
 * NULL on failure (ENG_EINVAL for bad arguments, ENG_ENOCONV when dmin is
 * too large for the density), with eng_last_error() set. */
eng_system *eng_system_random(int natoms, int nspecies, const char *const *names,
                              const double *frac, double rho, double dmin,
                              uint64_t seed);
/* Standard atomic mass (amu) of an element symbol, or 0 if unknown. */
double eng_element_mass(const char *symbol);

/* ------------------------------------------------------------------ */
/* Structure files                                                     */
/* ------------------------------------------------------------------ */

typedef enum eng_format {
  ENG_FMT_AUTO = 0,     /* sniff from the name and the content */
  ENG_FMT_LAMMPS_DATA,  /* LAMMPS data file, atom_style atomic */
  ENG_FMT_LAMMPS_DUMP,  /* LAMMPS text dump (ITEM: ...) */
  ENG_FMT_EXTXYZ        /* extended XYZ */
} eng_format;

typedef struct eng_read_opts {
  /* Frame of a multi-frame file: 0 = first, k = k-th (0-based),
   * -1 = last.  Ignored by data files. */
  int frame;
  /* Species names for numeric types 1..n when the file has none (LAMMPS
   * data without type labels / masses that identify them, dumps with only
   * "type"): a space-separated list such as "Cu Zr".  NULL = try masses. */
  const char *type_names;
  /* Minimum allowed box width along periodic directions, Angstrom (e.g.
   * twice the potential cutoff); 0 disables the check. */
  double min_width;
} eng_read_opts;

/* Name of a format ("lammps-data"), and the format for a name or
 * ENG_FMT_AUTO if unknown ("lammps-data", "data", "lammps-dump", "dump",
 * "extxyz", "xyz"). */
const char *eng_format_name(eng_format f);
eng_format eng_format_from_name(const char *name);
/* Guess the format of a buffer from its content (and name, which may be
 * NULL).  ENG_FMT_AUTO if it cannot tell. */
eng_format eng_format_sniff(const char *buf, size_t len, const char *name);

/* Parse a structure from memory.  name is used in error messages ("upload"
 * or the file name).  On success *out is a new system owned by the caller.
 * On failure returns ENG_EPARSE (or ENG_ENOMEM, ENG_EINVAL) with a message
 * "name:LINE: what was expected" in eng_last_error(). Never a partial read. */
int eng_read_buffer(const char *buf, size_t len, const char *name,
                    eng_format fmt, const eng_read_opts *opts,
                    eng_system **out);
/* Same, reading the file at path first (ENG_EIO if it cannot be read). */
int eng_read_file(const char *path, eng_format fmt, const eng_read_opts *opts,
                  eng_system **out);
/* Write a system: LAMMPS data (atomic, with Masses and species comments)
 * or extended XYZ (species, pos, and every eng_prop as a column).
 * ENG_EINVAL for other formats, ENG_EIO on write failure. */
int eng_write_stream(FILE *f, eng_format fmt, const eng_system *s);
int eng_write_file(const char *path, eng_format fmt, const eng_system *s);

/* ------------------------------------------------------------------ */
/* EAM potentials                                                      */
/* ------------------------------------------------------------------ */

typedef struct eng_potential eng_potential;

typedef enum eng_pot_style {
  ENG_POT_AUTO = 0,  /* by file name: *.fs -> FS, *.eam -> FUNCFL, else ALLOY */
  ENG_POT_EAM_ALLOY, /* LAMMPS setfl, pair_style eam/alloy */
  ENG_POT_EAM_FS,    /* LAMMPS setfl, pair_style eam/fs */
  ENG_POT_EAM_FUNCFL /* LAMMPS funcfl, pair_style eam (one element) */
} eng_pot_style;

/* Read a potential from memory / a file.  Errors name the line. */
int eng_potential_read_buffer(const char *buf, size_t len, const char *name,
                              eng_pot_style style, eng_potential **out);
int eng_potential_read(const char *path, eng_pot_style style,
                       eng_potential **out);
void eng_potential_free(eng_potential *p);
/* Interaction cutoff, Angstrom. */
double eng_potential_cutoff(const eng_potential *p);
int eng_potential_nelements(const eng_potential *p);
/* Element name / mass (amu) of element k, 0 <= k < nelements. */
const char *eng_potential_element(const eng_potential *p, int k);
double eng_potential_mass(const eng_potential *p, int k);
eng_pot_style eng_potential_style(const eng_potential *p);
const char *eng_pot_style_name(eng_pot_style s);

/* ------------------------------------------------------------------ */
/* Force calculator (potential + neighbour lists + work space)         */
/* ------------------------------------------------------------------ */

typedef struct eng_calc eng_calc;

typedef struct eng_calc_opts {
  double skin; /* Verlet skin, Angstrom; 0 = default 1.0 */
} eng_calc_opts;

/* Create a calculator for systems shaped like sys (same atom count and
 * types).  Species are mapped to potential elements by name; a species the
 * potential lacks is ENG_EINVAL naming it.  (A box narrower than the
 * cutoff along a periodic direction is refused by eng_calc_compute; boxes
 * between one and two cutoffs wide work, with several periodic images.)  Masses of types
 * with mass 0 are NOT changed: call eng_calc_fill_masses for that.  The
 * calculator borrows pot.  opts may be NULL. */
int eng_calc_create(const eng_potential *pot, const eng_system *sys,
                    const eng_calc_opts *opts, eng_calc **out);
void eng_calc_free(eng_calc *c);
/* Set every zero type mass in sys from the potential's element masses. */
void eng_calc_fill_masses(const eng_calc *c, eng_system *sys);

/* Evaluate energy and forces at sys->x in sys->box.  Outputs may be NULL
 * when not wanted:
 *   energy  total potential energy, eV
 *   f       3*natoms forces, eV/Angstrom
 *   eatom   natoms per-atom energies, eV (F_i + 1/2 sum_j phi_ij)
 *   virial  6 components xx yy zz xy xz yz of sum_{pairs} r_ij (x) f_ij,
 *           eV (pressure tensor = virial / volume, plus kinetic part)
 * Neighbour lists are rebuilt when an atom moved more than skin/2 since
 * the last build or the box changed.  Positions outside the box are fine
 * (they are wrapped internally).  ENG_EINVAL if the box became too small
 * for the cutoff, ENG_ERANGE if a coordinate is not finite. */
int eng_calc_compute(eng_calc *c, const eng_system *sys, double *energy,
                     double *f, double *eatom, double virial[6]);
/* Number of compute calls / neighbour-list builds so far. */
long eng_calc_ncompute(const eng_calc *c);
long eng_calc_nbuild(const eng_calc *c);
/* Force the next compute to rebuild its neighbour list (and, with frozen
 * atoms, their sums: the next result depends on nothing computed before). */
void eng_calc_invalidate(eng_calc *c);
/* Cutoff used (potential cutoff), Angstrom. */
double eng_calc_cutoff(const eng_calc *c);
/* Background host density: every later eng_calc_compute adds rho_bg[i] to
 * the EAM host density of atom i (the sum over its neighbours of the
 * tabulated rho(r), in the potential's density units, the argument of the
 * embedding function F) before F and F' are evaluated, in the energy, the
 * per-atom energies and the forces (all thread counts).  Use: a cluster cut
 * out of a larger system, with rho_bg[i] the constant density that the
 * atoms left out contribute at atom i (ARTn local mode, docs/artn.md).
 * rho_bg has natoms entries in the system's atom order; it is BORROWED
 * (not copied): it must stay valid and unchanged while set.  NULL clears
 * it; unset, results are bit-identical to a calculator that never had one.
 * Only eng_calc_compute (and what calls it: minimisation, MD, ARTn) uses
 * it; eng_hessian_build recomputes densities without it.  ENG_EINVAL if c
 * is NULL or an entry is not finite (then the previous setting stays). */
int eng_calc_set_density_offset(eng_calc *c, const double *rho_bg);
/* Frozen atoms: frozen[i] != 0 declares that atom i is held fixed by the
 * caller (ARTn local mode's outer shell).  Later eng_calc_compute calls
 * skip every pair of two frozen atoms: their densities and pair energy are
 * summed once, at the next neighbour-list build, and reused while no
 * frozen atom moves (a frozen atom found moved, bitwise, just triggers a
 * rebuild, so results never depend on the promise).  Energies, per-atom
 * energies and densities stay those of the whole calculator system, to
 * round-off (not bit for bit); the forces on moving atoms too; the forces
 * on frozen atoms are returned as 0 (not computed); a virial is refused
 * (ENG_EINVAL).  Cost: the pairs with at least one moving atom.  frozen
 * has natoms entries in the system's atom order and is copied; NULL
 * clears the setting.  ENG_EINVAL if c is NULL, ENG_ENOMEM. */
int eng_calc_set_frozen(eng_calc *c, const unsigned char *frozen);
/* Frozen atoms' densities given instead of summed (session 16): rho
 * (natoms, the system's atom order, copied) is, for each frozen atom, its
 * host density from everything but the moving atoms (its frozen neighbours
 * in the calculator system and whatever a cluster left out), valid at the
 * positions sys->x now; entries of moving atoms are ignored.  Later
 * computes then never sum a pair of two frozen atoms: a frozen atom's
 * density is rho[i] plus its moving neighbours', its embedding energy and
 * forces follow from that, and the pair energy among frozen atoms, a
 * constant, is left out (energies are then relative to it: use their
 * differences; per-atom energies of frozen atoms lack their frozen pairs).
 * The densities stay given until eng_calc_set_frozen; a compute with a
 * frozen atom moved (bitwise) or another box fails (ENG_EINVAL), as the
 * given densities no longer hold.  Use: ARTn's clusters, whose frozen
 * shell never moves, from the whole system's densities minus the moving
 * atoms' share (no sum over the shell's pairs at each new cluster).
 * ENG_EINVAL if c, sys or rho is NULL, no atom is frozen (eng_calc_set_frozen
 * first), sys has other atoms than c, or an entry of a frozen atom is not
 * finite; ENG_ENOMEM. */
int eng_calc_set_frozen_density(eng_calc *c, const eng_system *sys, const double *rho);
/* Host densities of the last successful eng_calc_compute (background
 * included) into rho[natoms], the system's atom order, density units of
 * the potential.  ENG_EINVAL if no compute has completed (or the last one
 * failed) or an argument is NULL. */
int eng_calc_density(const eng_calc *c, double *rho);

/* Threads used by eng_calc_compute (and so by everything that calls it:
 * minimisation, MD, modes, ARTn).  One setting for the whole process,
 * read at the start of each compute; default 1 (the library is serial
 * unless asked).  n <= 0 means one thread per processor (OpenMP's
 * omp_get_num_procs; 1 in a build without OpenMP).  ENG_EINVAL for
 * n > 256.  Reproducibility: the work is split into n fixed chunks of
 * atoms, each summed in a fixed order into its own arrays, and the chunks
 * are added in chunk order; so results are bit-identical from run to run
 * for a given n (whatever the OS schedules, and also if OpenMP grants
 * fewer threads, e.g. inside another parallel region), and results for
 * different n agree to round-off (forces ~1e-12 eV/Angstrom, energies
 * ~1e-11 relative), not bit for bit.  Safe to call from any thread, but
 * a compute already running keeps the count it started with. */
int eng_set_threads(int n);
/* Current thread count for eng_calc_compute (>= 1). */
int eng_get_threads(void);

/* Full neighbour list within rcut (any rcut > 0), for descriptors:
 * for atom i, the neighbours are nbr[start[i] .. start[i+1]-1] with
 * separation vectors d (3 per neighbour, x_j - x_i, Angstrom).  Every
 * periodic image within rcut is listed, so rcut may exceed half the box
 * (an atom may then appear several times, even as its own neighbour).
 * Built with cell lists.  ENG_EINVAL for rcut <= 0. */
typedef struct eng_nlist {
  int natoms;
  long *start; /* natoms+1 */
  int *nbr;
  double *d;   /* 3 per neighbour */
} eng_nlist;
int eng_nlist_build(const eng_system *sys, double rcut, eng_nlist **out);
void eng_nlist_free(eng_nlist *nl);

/* ------------------------------------------------------------------ */
/* Progress and cancellation                                           */
/* ------------------------------------------------------------------ */

/* Called by long computations now and then (at most a few times per
 * second of work).  frac in [0,1]; msg a short status line.  Return
 * non-zero to cancel: the computation then stops and returns ENG_ECANCEL. */
typedef int (*eng_progress_fn)(void *ud, double frac, const char *msg);

/* ------------------------------------------------------------------ */
/* Minimisation                                                        */
/* ------------------------------------------------------------------ */

/* FIRE, Polak-Ribiere CG (the default), L-BFGS (session 7); see
 * docs/dynamics.md. */
typedef enum eng_min_algo { ENG_MIN_FIRE = 0, ENG_MIN_CG = 1, ENG_MIN_LBFGS = 2 } eng_min_algo;

typedef enum eng_min_stop {
  ENG_STOP_NONE = 0,
  ENG_STOP_FTOL,     /* max force component below ftol */
  ENG_STOP_ETOL,     /* relative energy change below etol */
  ENG_STOP_MAXITER,  /* iteration limit */
  ENG_STOP_MAXEVAL,  /* force-call limit */
  ENG_STOP_LINESEARCH, /* line search could not decrease the energy */
  ENG_STOP_REF        /* reached the basin of the reference minimum ref_x */
} eng_min_stop;

typedef struct eng_min_opts {
  eng_min_algo algo;
  double ftol;     /* eV/Angstrom, max |force component|; default 1e-6 */
  double etol;     /* |dE| <= etol*(|E|+|E_prev|)/2 stops; 0 disables */
  int max_iter;    /* default 100000 */
  int max_eval;    /* default 1000000 */
  double dmax;     /* max displacement per step, Angstrom; default 0.1 */
  /* -- added in session 6 -- */
  const unsigned char *mobile; /* natoms flags, borrowed: only atoms with
                                  mobile[i] != 0 move (the others' forces
                                  are taken as 0, and they are not wrapped
                                  into the box at the end); NULL = all move
                                  (default) */
  /* -- added in session 11 -- */
  const double *ref_x; /* 3N positions of a known minimum, borrowed; NULL =
                          off (default).  Stop (ENG_STOP_REF) after an
                          iteration that leaves every mobile atom within
                          ref_dist (A, minimum image) of its ref_x position
                          with E < ref_e + ref_de (eV): a descent that close
                          to a minimum ends in it.  Needs ref_dist > 0 */
  double ref_dist, ref_e, ref_de;
} eng_min_opts;

typedef struct eng_min_result {
  eng_min_stop stop;
  int iterations;
  int force_calls;
  double e_initial;  /* eV */
  double e_final;    /* eV */
  double fmax;       /* final max |force component|, eV/Angstrom */
} eng_min_result;

/* Fill opts with the defaults above. */
void eng_min_opts_default(eng_min_opts *o);
const char *eng_min_stop_name(eng_min_stop s);
const char *eng_min_algo_name(eng_min_algo a);
/* Minimise the potential energy of sys (positions only, box fixed) in
 * place.  Returns ENG_OK whatever criterion stopped it (see res->stop),
 * ENG_ECANCEL if progress asked to stop, other codes on errors. */
int eng_minimize(eng_calc *c, eng_system *sys, const eng_min_opts *o,
                 eng_progress_fn progress, void *ud, eng_min_result *res);

/* ------------------------------------------------------------------ */
/* Molecular dynamics                                                  */
/* ------------------------------------------------------------------ */

#define ENG_KB 8.617333262e-5 /* Boltzmann constant, eV/K */
#define ENG_MVV2E 1.0364269e-4 /* amu*(A/ps)^2 -> eV (LAMMPS metal mvv2e) */
#define ENG_NKTV2P 1.6021765e6 /* eV/A^3 -> bar (LAMMPS metal nktv2p) */

typedef enum eng_ensemble {
  ENG_NVE = 0,
  ENG_NVT = 1, /* Nose-Hoover chain thermostat */
  ENG_NPT = 2  /* Nose-Hoover chain thermostat + barostat */
} eng_ensemble;

typedef struct eng_md_opts {
  eng_ensemble ensemble;
  double dt;        /* time step, ps; default 0.002 */
  long nsteps;      /* number of steps */
  double t_start;   /* target temperature at step 0, K */
  double t_stop;    /* target at the last step (linear ramp), K */
  double t_damp;    /* thermostat relaxation time, ps; default 100*dt */
  int chain;        /* Nose-Hoover chain length; default 3 */
  double p_target;  /* target pressure, bar (NPT) */
  double p_damp;    /* barostat relaxation time, ps; default 1000*dt */
  int aniso;        /* NPT: 0 isotropic, 1 each diagonal component */
  uint64_t seed;    /* for velocities when init_velocities */
  int init_velocities; /* 1: draw Maxwell-Boltzmann at t_start first */
  long progress_every; /* steps between progress calls; default 1000 */
} eng_md_opts;

typedef struct eng_md_state {
  long step;
  double time;       /* ps */
  double pe;         /* potential energy, eV */
  double ke;         /* kinetic energy, eV */
  double temp;       /* K */
  double press;      /* scalar pressure, bar */
  double conserved;  /* conserved quantity of the integrator, eV */
  double volume;     /* Angstrom^3 */
} eng_md_state;

/* Called after every step (and once before step 1 with step 0).  sys holds
 * the current positions and velocities; f the current forces.  Return
 * non-zero to stop the run (eng_md_run then returns ENG_ECANCEL). */
typedef int (*eng_md_step_fn)(void *ud, const eng_system *sys,
                              const double *f, const eng_md_state *st);

void eng_md_opts_default(eng_md_opts *o);
/* Draw Maxwell-Boltzmann velocities at temperature T (K) from seed, with
 * zero total momentum, scaled to exactly T (3N-3 degrees of freedom). */
int eng_velocity_create(eng_system *sys, double T, uint64_t seed);
/* Instantaneous kinetic energy (eV) and temperature (K, 3N-3 dof). */
double eng_kinetic_energy(const eng_system *sys);
double eng_temperature(const eng_system *sys);
/* Run velocity-Verlet MD in place.  final (may be NULL) gets the state
 * after the last step. */
int eng_md_run(eng_calc *c, eng_system *sys, const eng_md_opts *o,
               eng_md_step_fn on_step, void *step_ud,
               eng_progress_fn progress, void *ud, eng_md_state *final);

typedef struct eng_quench_opts {
  double t_high;     /* melt temperature, K; default 2500 */
  double t_melt;     /* time at t_high, ps; default 30 */
  double t_liquid;   /* start of the cooling ramp, K; default 2000 */
  double t_low;      /* end of the ramp, K; default 300 */
  double rate;       /* cooling rate, K/ps; default 10 (1e13 K/s) */
  double t_hold;     /* time at t_low, ps; default 20 */
  double pressure;   /* bar; default 0 */
  double dt;         /* ps; default 0.002 */
  uint64_t seed;
  int randomize_types; /* not used by eng_quench; for the caller */
} eng_quench_opts;

void eng_quench_opts_default(eng_quench_opts *o);
/* Melt at t_high (NPT), cool linearly from t_liquid to t_low at rate, hold,
 * then minimise (CG to 1e-6 eV/A).  sys is changed in place (positions,
 * box, velocities).  min_res may be NULL. */
int eng_quench(eng_calc *c, eng_system *sys, const eng_quench_opts *o,
               eng_progress_fn progress, void *ud, eng_min_result *min_res);

/* ------------------------------------------------------------------ */
/* Structural descriptors (descriptors work: gr.c, voronoi.cc, s2.c,   */
/* msd.c, d2min.c)                                                     */
/* ------------------------------------------------------------------ */
/* Pair distribution functions.  Curve c of an eng_rdf is the total g(r)
 * for c = 0 and the partial g_ab(r) for c = 1 + a*ntypes + b.  Bins are
 * [k*dr, (k+1)*dr), k = 0..nbins-1, reported at their centres.
 * Normalisation (as LAMMPS compute rdf):
 *   g_ab(r_k) = H_ab(k) / (N_a * (N_b - delta_ab)/V * 4/3 pi (r_hi^3 - r_lo^3))
 * with H_ab(k) the number of ordered pairs (i of type a, j != i of type b,
 * every periodic image) in bin k; total: N (N-1)/V.  Peaks and troughs of
 * every curve are located on a copy smoothed by a Gaussian of width smooth
 * (convolution along r, truncated at 4 sigma, renormalised at the ends): a
 * trough is the lowest point between two consecutive maxima of the smoothed
 * curve, a peak the highest point between two consecutive minima; extrema
 * whose prominence (height above the lower neighbouring extremum) is below
 * min_prominence are dropped, and the position is refined by a parabola
 * through the three smoothed values around the extremum.  Positions are
 * reported from the first peak on (the g = 0 region before it has none). */
#define ENG_RDF_MAXEXT 16

typedef struct eng_rdf_opts {
  double rmax;           /* Angstrom; default 12 */
  double dr;             /* bin width, Angstrom; default 0.02 */
  double smooth;         /* Gaussian sigma for extrema, Angstrom; default 0.3
                          * (merges the split second peak of metallic
                          * glasses; <= 0: no smoothing) */
  double min_prominence; /* in units of g; default 0.02 */
} eng_rdf_opts;

typedef struct eng_rdf {
  int ntypes, ncurves, nbins; /* ncurves = 1 + ntypes*ntypes */
  double dr, rmax, smooth, min_prominence; /* parameters used */
  double *r;          /* nbins bin centres, Angstrom */
  double *g;          /* ncurves*nbins, g[c*nbins + k] (dimensionless) */
  double *gs;         /* same, smoothed */
  int *npeaks;        /* ncurves */
  int *ntroughs;      /* ncurves */
  double *peaks;      /* ncurves*ENG_RDF_MAXEXT positions, Angstrom */
  double *troughs;    /* ncurves*ENG_RDF_MAXEXT positions, Angstrom */
} eng_rdf;

void eng_rdf_opts_default(eng_rdf_opts *o);
/* g(r) of sys (any box; any rmax: periodic images are counted).  *out is
 * the caller's (eng_rdf_free).  ENG_EINVAL for bad options (rmax <= 0,
 * dr <= 0, more than 10^6 bins) or a system with fewer than 2 atoms;
 * ENG_ERANGE when rmax would need more than 1e8 neighbour pairs. */
int eng_rdf_compute(const eng_system *sys, const eng_rdf_opts *o, eng_rdf **out);
void eng_rdf_free(eng_rdf *r);
/* Extrema of one curve y[0..n-1] sampled at r (ascending): smoothing with
 * Gaussian sigma (Angstrom, 0 = none; ys may be NULL or receives the
 * smoothed curve) and prominence as above.  At most max entries each;
 * *npk / *ntr get the counts.  Returns ENG_OK or ENG_EINVAL. */
int eng_rdf_extrema(const double *r, const double *y, int n, double sigma,
                    double min_prominence, double *ys, double *peaks, int *npk,
                    double *troughs, int *ntr, int max);

/* Voronoi tessellation (voro++, monodisperse), one cell per atom.  Fully
 * periodic boxes (orthogonal or triclinic) use voro++'s periodic container
 * in LAMMPS' restricted triclinic form; orthogonal boxes with some
 * non-periodic direction are walled at the box faces there; triclinic
 * non-periodic boxes are ENG_EUNSUPP.  Thresholds (0 = none, as OVITO):
 * a face counts (for coordination and the index) when its area is at least
 * face_area and at least face_rel * (total surface area of the cell); an
 * edge counts towards its face's order when its length is at least
 * edge_length.  The volume is never affected by thresholds. */
#define ENG_VORO_NORD 16 /* index[k] = counted faces with k counted edges,
                          * k = 0..15 (the last also counts larger orders) */

typedef struct eng_voronoi_opts {
  double face_area;   /* Angstrom^2; default 0 */
  double face_rel;    /* fraction of the cell surface; default 0 */
  double edge_length; /* Angstrom; default 0 */
} eng_voronoi_opts;

typedef struct eng_voronoi {
  int natoms;
  eng_voronoi_opts opts; /* thresholds used */
  double *volume;        /* natoms, Angstrom^3 */
  double *area;          /* natoms, total surface area, Angstrom^2 */
  int *nfaces_all;       /* natoms, faces before thresholds */
  int *coord;            /* natoms, counted faces (coordination) */
  int *index;            /* natoms*ENG_VORO_NORD; <n3,n4,n5,n6> =
                          * index[i*ENG_VORO_NORD + 3..6] */
  double *l5fs;          /* natoms, n5 / coord (0 when coord = 0) */
} eng_voronoi;

void eng_voronoi_opts_default(eng_voronoi_opts *o);
/* Compute the tessellation.  o may be NULL (defaults).  *out is the
 * caller's (eng_voronoi_free).  ENG_EINVAL (negative thresholds, empty
 * system), ENG_EUNSUPP (triclinic with a non-periodic direction),
 * ENG_ENOCONV (voro++ could not build some cell, e.g. coincident atoms),
 * ENG_ENOMEM. */
int eng_voronoi_compute(const eng_system *sys, const eng_voronoi_opts *o,
                        eng_voronoi **out);
void eng_voronoi_free(eng_voronoi *v);
/* Population of Voronoi indices <n3,n4,n5,n6> among the atoms of type
 * `type` (-1: all atoms) of the system v was computed for: the distinct
 * indices sorted by count (descending, ties by index ascending); at most
 * max of them go to out, *nout gets how many did, *nconsidered (may be
 * NULL) the number of atoms of that type.  ENG_EINVAL on bad arguments. */
typedef struct eng_voro_pop {
  int n[4];  /* n3 n4 n5 n6 */
  int count; /* atoms with this index */
} eng_voro_pop;
int eng_voronoi_top(const eng_voronoi *v, const eng_system *sys, int type, int max,
                    eng_voro_pop *out, int *nout, int *nconsidered);

/* Local two-body excess entropy (paper Eq. 3), in units of k_B:
 *   S2_i = -2 pi sum_nu rho_nu int_0^rc [g ln g - g + 1](r) r^2 dr,
 *   g = g_i^nu(r) = sum_{j of type nu, j != i} K(r - r_ij) / (4 pi rho_nu r^2),
 *   K(u) = exp(-u^2 / 2 sigma^2) / sqrt(2 pi) sigma  (truncated at 5 sigma),
 *   rho_nu = N_nu / V (global species densities).
 * With partial = 0 the sum over nu is replaced by one term with all
 * neighbours and rho = N/V (the single-component form of LAMMPS
 * entropy/atom).  The integral is the trapezoidal rule on r_k = k*dr,
 * the last partial interval up to rc with the integrand interpolated
 * linearly; where g < 1e-10 the integrand is r^2 (its g -> 0 limit). */
#define ENG_S2_MAXCUT 8

typedef struct eng_s2_opts {
  double sigma;   /* Angstrom; default 0.2 */
  double dr;      /* integration step, Angstrom; default 0.02 */
  int ncut;       /* number of cutoffs, 1..ENG_S2_MAXCUT; default 4 */
  double cut[ENG_S2_MAXCUT]; /* Angstrom; 0 = the (c+1)-th trough of the
                  * total g(r) of the system (eng_rdf_compute defaults,
                  * rmax 14 A); default 0 0 0 0, i.e. the first four
                  * troughs (the paper's 3.9 6.4 8.8 11.2 for its glass) */
  int partial;    /* 1: species-resolved (paper), 0: total; default 1 */
} eng_s2_opts;

typedef struct eng_s2 {
  int natoms;
  eng_s2_opts opts; /* parameters used */
  double *s2;       /* ncut*natoms, s2[c*natoms + i], k_B */
} eng_s2;

void eng_s2_opts_default(eng_s2_opts *o);
/* S2 of every atom for every cutoff; (*out)->opts.cut holds the cutoffs
 * used (troughs resolved).  *out is the caller's (eng_s2_free).
 * ENG_EINVAL for bad parameters (sigma, dr <= 0, ncut out of range,
 * cutoffs < 0, more than 10^6 grid points); ENG_ENOTFOUND when g(r) has
 * fewer troughs than zero cutoffs ask for; ENG_ERANGE when the largest
 * cutoff + 5 sigma would need more than 1e8 neighbour pairs. */
int eng_s2_compute(const eng_system *sys, const eng_s2_opts *o, eng_s2 **out);
void eng_s2_free(eng_s2 *s);
/* The smoothed local g_i^nu(r_k) of atom i on r_k = k*dr, k = 0..n-1, with
 * the same kernel and normalisation as eng_s2_compute (nu = -1: all
 * neighbours, rho = N/V); g[0] = 0.  g receives n values.  For tests and
 * plots: a direct loop over all atoms and images, O(N) per call. */
int eng_s2_local_g(const eng_system *sys, const eng_s2_opts *o, int i, int nu,
                   int n, double *g);

/* Per-atom mean-squared displacements from NVT molecular dynamics (Nose-
 * Hoover chain, eng_md_run) of a copy of sys (sys itself is not changed).
 * Positions are unwrapped with the MD image counters.
 *   ENG_MSD_VIB:       <|r_i(t) - r_i,ref|^2> averaged over samples taken
 *                      every sample_every steps during the production
 *                      time (Eq. 1); r_i,ref = the positions of sys, which
 *                      should be the inherent structure (minimised).
 *   ENG_MSD_DIFFUSIVE: |r_i(end) - r_i(start of production)|^2.
 * The run: velocities drawn at temp from seed, t_equil ps of NVT (not
 * sampled), then time ps of NVT (sampled; the sample at the first
 * production step is t = dt). */
typedef enum eng_msd_mode { ENG_MSD_VIB = 0, ENG_MSD_DIFFUSIVE = 1 } eng_msd_mode;

typedef struct eng_msd_opts {
  eng_msd_mode mode;
  double temp;       /* K; default 300 */
  double time;       /* production time tau0, ps; default 100 */
  double t_equil;    /* ps; default 0 */
  double dt;         /* ps; default 0.002 */
  double t_damp;     /* thermostat time, ps; default 0.1 */
  long sample_every; /* steps; default 10 */
  uint64_t seed;     /* velocities; default 1 */
} eng_msd_opts;

typedef struct eng_msd {
  int natoms;
  eng_msd_opts opts; /* parameters used */
  long nsamples;
  double t_mean;     /* mean instantaneous temperature over samples, K */
  double *msd;       /* natoms, Angstrom^2 */
  double *x_end;     /* 3*natoms: unwrapped positions at the end of the run
                        (image counters of the MD applied), Angstrom; the
                        "current" configuration for D2min after the run */
} eng_msd;

void eng_msd_opts_default(eng_msd_opts *o);
/* Run the MD and fill *out (caller's; eng_msd_free).  c must have been
 * created for sys.  Types with mass 0 are ENG_EINVAL.  ENG_ECANCEL when
 * progress asks to stop.  Bit-identical for the same inputs and seed. */
int eng_msd_compute(eng_calc *c, const eng_system *sys, const eng_msd_opts *o,
                    eng_progress_fn progress, void *ud, eng_msd **out);
void eng_msd_free(eng_msd *m);

/* Flexibility volume (Eq. 2): v_i = msd_i / a_i^2 * vol_i with
 * a_i = vol_i^(1/3), i.e. msd_i * vol_i^(1/3).  msd in Angstrom^2, vol in
 * Angstrom^3, v in Angstrom^3.  ENG_EINVAL if a volume is <= 0. */
int eng_flex_volume(int n, const double *msd, const double *vol, double *v);

/* Falk-Langer non-affine displacement D2min (Eq. 5).  Neighbours j of atom
 * i are those within rcut in the reference; d0 = x_j - x_i in ref,
 * d = the same pair (same periodic image, followed through each atom's
 * displacement, taken as the shortest in fractional coordinates) in cur.
 * J = X Y^-1 with X = sum d (x) d0, Y = sum d0 (x) d0, and
 *   D2min_i = sum_j |d - J d0|^2 / N_c   (normalise = 1, the paper's), or
 *           = sum_j |d - J d0|^2         (normalise = 0, OVITO's).
 * Atoms whose Y is singular (fewer than 3 non-coplanar neighbours) get
 * valid = 0 and D2min 0. */
typedef struct eng_d2min {
  int natoms;
  double rcut;
  int normalise;
  double *d2min;     /* natoms, Angstrom^2 */
  int *nneigh;       /* natoms, N_c */
  int *valid;        /* natoms */
} eng_d2min;

/* ref and cur must have the same atoms in the same order (same ids);
 * boxes may differ (deformation).  *out is the caller's (eng_d2min_free).
 * ENG_EINVAL on mismatch or rcut <= 0, ENG_ERANGE when rcut would need more
 * than 1e8 neighbour pairs. */
int eng_d2min_compute(const eng_system *ref, const eng_system *cur, double rcut,
                      int normalise, eng_d2min **out);
void eng_d2min_free(eng_d2min *d);

/* @@descriptors-api@@ (keep this marker: new declarations go above it) */

/* ------------------------------------------------------------------ */
/* Hessian and normal modes (modes.c)                                  */
/* ------------------------------------------------------------------ */
/* Units: the Hessian H = d2E/dx dx is in eV/Angstrom^2.  The dynamical
 * matrix is the mass-weighted D = M^-1/2 H M^-1/2 (masses in amu), so its
 * eigenvalues lambda are in eV/(Angstrom^2 amu).  Angular frequency
 * omega = sqrt(lambda / ENG_MVV2E) in rad/ps (1 eV/(A^2 amu) = 9648.53
 * ps^-2), frequency f = omega / (2 pi) in THz.  Modes with lambda < 0 are
 * reported with a negative frequency f = -sqrt(|lambda| / ENG_MVV2E)/(2 pi).
 * Eigenvectors e (3N, unit Euclidean norm) are those of D; atom i's
 * polarisation vector is e[3i..3i+2]. */

/* Sparse symmetric Hessian: compressed rows of 3x3 blocks.  Block row i
 * holds the atoms j coupled to i (i itself included), cols sorted:
 * blocks b = start[i] .. start[i+1]-1, col[b] = j, blk[9b + 3a + c] =
 * d2E / dx_{i,a} dx_{j,c} (eV/A^2), a, c in {x,y,z}.  Both (i,j) and (j,i)
 * are stored. */
typedef struct eng_hessian {
  int natoms;
  long *start; /* natoms+1 */
  int *col;    /* start[natoms] */
  double *blk; /* 9*start[natoms] */
} eng_hessian;

/* Analytic EAM Hessian of sys (which must be the shape c was made for) at
 * sys->x: pair terms phi'' u u + phi'/r (1 - u u), embedding terms
 * F'(rho_i) d2rho_i and F''(rho_i) drho_i (x) drho_i (the latter couples
 * atoms up to twice the cutoff apart).  Uses the same interpolation as
 * eng_calc_compute, so H equals minus the derivative of those forces.  On
 * success *out is owned by the caller (eng_hessian_free).  ENG_EINVAL for
 * a mismatched system, ENG_ENOMEM. */
int eng_hessian_build(eng_calc *c, const eng_system *sys, eng_hessian **out);
void eng_hessian_free(eng_hessian *h);
/* Number of stored 3x3 blocks (coupled atom pairs, diagonal included). */
long eng_hessian_nblocks(const eng_hessian *h);
/* y = H x for 3N vectors (x, y distinct): Angstrom -> eV/Angstrom. */
void eng_hessian_apply(const eng_hessian *h, const double *x, double *y);
/* Dense 3N x 3N row-major copy into out (caller's 9N^2 doubles).  When
 * sys is not NULL the matrix is mass-weighted (D, eV/(A^2 amu)) with the
 * masses of sys; otherwise H itself (eV/A^2). */
void eng_hessian_dense(const eng_hessian *h, const eng_system *sys, double *out);

/* Frequency (THz, signed) of a dynamical-matrix eigenvalue (eV/(A^2 amu)). */
double eng_mode_thz(double lambda);

typedef enum eng_modes_solver {
  ENG_MODES_AUTO = 0,  /* dense up to dense_max_atoms or for all modes,
                          shift-invert up to sparse_max_atoms (and only
                          while its factor fits max_factor_gb), else
                          matrix-free CHEBYSHEV (LANCZOS until session 3) */
  ENG_MODES_DENSE = 1, /* LAPACK dsyevr on the dense D, subset by index */
  ENG_MODES_SPARSE = 2, /* ARPACK shift-invert Lanczos, CHOLMOD factor of D - sigma I */
  ENG_MODES_LANCZOS = 3, /* ARPACK Lanczos on P D P, matrix-free (block Hessian
                           products only; memory: the Hessian + ncv vectors) */
  ENG_MODES_CHEBYSHEV = 4 /* Chebyshev-filtered subspace iteration on P D P:
                           a block of cheb_block vectors filtered by a degree-
                           cheb_degree Chebyshev polynomial of D, Rayleigh-Ritz,
                           matrix-free (memory: the Hessian + ~5 blocks); AUTO
                           above sparse_max_atoms (session 3) */
} eng_modes_solver;

typedef struct eng_modes_opts {
  int nmodes;           /* modes wanted (translations excluded); 0: use
                           mode_fraction; -1: all 3N-3 (dense only) */
  double mode_fraction; /* of the 3N modes, rounded, at least 1; default 0.0025 */
  eng_modes_solver solver; /* default AUTO */
  int dense_max_atoms;  /* AUTO threshold; default 1000 */
  int sparse_max_atoms; /* AUTO: shift-invert up to this many atoms, LANCZOS
                           above; 0 = default 5000 */
  double sigma;         /* shift, eV/(A^2 amu), < 0; 0 = default -1e-5
                           (made 10x more negative, up to 6 times, when
                           D - sigma I is not positive definite) */
  double tol;           /* ARPACK relative tolerance (|D e - l e| <= tol |l|
                           for LANCZOS; of the shift-inverted values for
                           SPARSE); 0 = default 1e-10 */
  int ncv;              /* Lanczos basis size; 0 = default max(2k+20, 60) */
  int max_restarts;     /* ARPACK iteration limit; 0 = default 300 */
  double max_factor_gb; /* SPARSE: refuse (ENG_ENOMEM) when the Cholesky
                           factor (factor_gb below, known after the symbolic
                           analysis) would exceed this many GB; 0 = default
                           6; < 0 = no limit */
  /* -- added in session 3 (fields are only ever appended) -- */
  int cheb_degree;      /* CHEBYSHEV: filter degree per iteration; 0 = default 40 */
  int cheb_block;       /* CHEBYSHEV: block size p > k; 0 = default
                           k + max(k/2, 8), capped at 3N - 3 */
  double cheb_tol;      /* CHEBYSHEV: converged when every one of the k lowest
                           Ritz pairs has |D e - l e| <= cheb_tol |l|; 0 =
                           default 1e-4 (docs/modes.md: why this suffices) */
  int cheb_max_iter;    /* CHEBYSHEV: filter iterations before ENG_ENOCONV;
                           0 = default 100 */
} eng_modes_opts;

/* Lowest normal modes, ascending, translations removed. */
typedef struct eng_modes {
  int natoms;
  int nmodes;      /* k */
  int ndof;        /* 3N */
  double *lambda;  /* k eigenvalues of D, eV/(A^2 amu), ascending */
  double *thz;     /* k signed frequencies, THz */
  double *evec;    /* k*3N: mode m at evec + m*3N, unit norm */
  eng_modes_solver solver; /* the one used (DENSE, SPARSE or LANCZOS) */
  double sigma;    /* shift used by SPARSE, eV/(A^2 amu); 0 otherwise */
  double resid_max;/* max_m |D e_m - lambda_m e_m| / max(|lambda_m|, 1e-12) */
  int iterations;  /* ARPACK restart iterations (SPARSE, LANCZOS), 0 for DENSE */
  int nop;         /* operator applications: triangular-solve pairs (SPARSE)
                      or products with D (LANCZOS) */
  double factor_nnz;   /* non-zeros of the Cholesky factor (SPARSE) */
  double factor_gflop; /* its flop count / 1e9 (SPARSE) */
  double factor_gb;    /* its storage incl. supernode padding and the largest
                          update matrix, GB (SPARSE) */
  /* -- added in session 3 (fields are only ever appended) -- */
  int block, degree;   /* CHEBYSHEV: block size and filter degree used */
  double filter_lo, filter_hi; /* CHEBYSHEV: last filter interval [a, b]
                          (damped), eV/(A^2 amu); b >= lambda_max */
  double tol;          /* convergence tolerance used (ARPACK's or cheb_tol) */
} eng_modes;

void eng_modes_opts_default(eng_modes_opts *o);
/* Number of modes that opts select for a system of natoms atoms. */
int eng_modes_count(const eng_modes_opts *o, int natoms);
/* The lowest modes of D = M^-1/2 H M^-1/2 (masses of sys, amu) with the
 * three rigid translations projected out: DENSE moves them to the top of
 * the spectrum (D + c T T^T on the projected D), SPARSE runs ARPACK mode 3
 * on P (D - sigma I)^-1 P, P = 1 - T T^T, T the mass-weighted translations,
 * LANCZOS runs ARPACK mode 1 (smallest algebraic) on P D P + c T T^T with
 * products of the block Hessian only (memory: H + (ncv + 4) 3N doubles),
 * CHEBYSHEV runs Chebyshev-filtered subspace iteration on P D P (block
 * products of the Hessian's upper triangle; memory: 1.5 H + about 5
 * cheb_block vectors of 3N; nop counts single-vector products).
 * AUTO uses CHEBYSHEV above sparse_max_atoms and falls back from SPARSE to
 * CHEBYSHEV when the factor would exceed max_factor_gb.
 * opts may be NULL (defaults).  progress (may be NULL) is called between
 * stages and ARPACK iterations; non-zero cancels (ENG_ECANCEL).  On success
 * *out is owned by the caller (eng_modes_free).  ENG_EINVAL for bad
 * options or masses <= 0, ENG_ENOCONV if ARPACK (or CHEBYSHEV) does not converge or D
 * stays indefinite, ENG_ENOMEM. */
int eng_modes_lowest(const eng_hessian *h, const eng_system *sys,
                     const eng_modes_opts *opts, eng_progress_fn progress,
                     void *ud, eng_modes **out);
void eng_modes_free(eng_modes *m);

/* Participation of each atom in the lowest nlow modes of m (nlow <= 0:
 * all of m), paper Eq. 4 as written: p_i = sum_m |e_m^i|^2 (dimensionless),
 * so sum_i p_i = nlow; divide by nlow for the normalised fraction (mean
 * 1/N).  p has natoms entries.  ENG_EINVAL if nlow > m->nmodes. */
int eng_participation(const eng_modes *m, int nlow, double *p);
/* Vibrational density of states of the modes in m: histogram of the
 * frequencies (THz) on nbins bins over [0, fmax) THz, normalised so that
 * sum_b g[b] * fmax/nbins = (modes in range) / m->nmodes (1/THz).  Only
 * the full VDOS when m holds all 3N-3 modes.  ENG_EINVAL on bad args. */
int eng_vdos(const eng_modes *m, double fmax, int nbins, double *g);
/* Harmonic vibrational MSD at temperature T (K) from the modes of m with
 * lambda > 0: msd_i = k_B T sum_m |e_m^i|^2 / (m_i lambda_m), Angstrom^2
 * (classical, 3D: <|r_i - r_i,IS|^2>).  Exact when m holds all 3N-3 modes
 * (nmodes = -1, dense); otherwise the contribution of the modes held.
 * msd has natoms entries.  ENG_EINVAL on bad args. */
int eng_msd_harmonic(const eng_modes *m, const eng_system *sys, double T,
                     double *msd);
/* @@modes-api@@ (keep this marker: new declarations go above it) */

/* ------------------------------------------------------------------ */
/* ARTn saddle searches (artn.c)                                       */
/* ------------------------------------------------------------------ */
/* One ARTn event (activation-relaxation technique nouveau) from a minimised
 * inherent structure around one atom: perturb, leave the basin, climb along
 * the lowest Hessian eigenvector (Lanczos, finite-difference Hessian-vector
 * products) to a first-order saddle, push over and relax (docs/artn.md). */

/* Outcome of an event.  Only ENG_ARTN_OK is a usable (converged) event. */
typedef enum eng_artn_status {
  ENG_ARTN_OK = 0,          /* saddle converged; final minimum differs from initial */
  ENG_ARTN_NO_EXIT,         /* no eigenvalue below eigen_threshold in basin_max_steps */
  ENG_ARTN_EIGEN_LOST,      /* lowest eigenvalue became >= 0 during the climb */
  ENG_ARTN_MAX_CALLS,       /* force-call budget max_calls exhausted */
  ENG_ARTN_MAX_STEPS,       /* climb_max_steps activation steps without convergence */
  ENG_ARTN_ENERGY_LIMIT,    /* E - E_initial rose above max_energy */
  ENG_ARTN_RETURNED,        /* both sides of the saddle relax to the initial minimum */
  ENG_ARTN_REFINE_FAILED,   /* local saddle not recovered in the full system */
  ENG_ARTN_HIGHER_ORDER,    /* converged point keeps a second negative eigenvalue */
  ENG_ARTN_NOT_CONNECTED    /* require_connect: the side of the saddle towards the
                               initial minimum relaxes to another minimum, so
                               neither side is the initial one (session 2) */
} eng_artn_status;
/* Number of statuses (size of eng_artn_event.fail_counts). */
#define ENG_ARTN_NSTATUS 10

/* Parameters of an event (all recorded with the result).  Defaults from
 * eng_artn_opts_default: the paper's (Wei et al. 2019, Sec. II B) where
 * it gives them, otherwise as stated in docs/artn.md. */
typedef struct eng_artn_opts {
  uint64_t seed;            /* sweep seed; the event stream is derived from
                               (seed, atom id, event index); default 1 */
  double perturb_radius;    /* atoms within this of the chosen one are kicked, A; 2.0 */
  double perturb_size;      /* norm of the initial random kick, A; 0.1 */
  double basin_step;        /* push increment along the kick direction, A; 0.15 */
  int basin_relax_steps;    /* perpendicular FIRE steps after each increment; 4
                               (10 until session 2) */
  int basin_max_steps;      /* increments before giving up (NO_EXIT); 40 */
  double eigen_threshold;   /* leave the basin when lambda < this, eV/A^2; -0.30 */
  double saddle_force;      /* converged when max |force component| < this, eV/A; 0.05 */
  double refine_force;      /* if > 0 and < saddle_force: continue to this tighter
                               force after convergence, eV/A; 0 (off) */
  double climb_step_max;    /* largest step along the eigenvector, A; 0.15 */
  int climb_max_steps;      /* activation steps before MAX_STEPS; 200 */
  int lost_retries;         /* times a lost eigenvalue (>= 0 during the climb) is
                               recovered (lost_follow); 20 (3 until session 6) */
  int perp_steps_max;       /* cap of perpendicular FIRE steps per activation
                               step (caps grow 4, 8, 12, ... up to this); 16 */
  int lanczos_max_iter;     /* Lanczos vectors per estimate; 20 */
  int lanczos_min_iter;     /* at least this many; 2 */
  double lanczos_tol;       /* stop at this relative change of lambda; 0.01 */
  double lanczos_fd_step;   /* finite-difference step of H*v, A; 1e-3 */
  double push_over;         /* push from the saddle along the eigenvector, A; 0.2 */
  double min_ftol;          /* final minimisations, max |force component|, eV/A; 1e-3 */
  int min_max_calls;        /* force-call cap of each final minimisation; 5000 */
  int check_connect;        /* 1: also relax the other side and record whether it
                               returns to the initial minimum (always done when
                               require_connect); 0 */
  int check_second;         /* 1: after convergence, estimate the lowest eigenvalue
                               orthogonal to the mode (Lanczos, 48 vectors); if it is
                               below -1e-3 eV/A^2, push off along it by 0.2 A and climb
                               again to second_force; 1 */
  double second_force;      /* force criterion of that re-climb, eV/A (refine_force
                               instead when that is set and tighter; session 9);
                               0.03 (0.01 until session 12) */
  int second_retries;       /* push-offs before HIGHER_ORDER; 3 */
  double same_dist;         /* two minima are the same if no atom differs by more, A
                               (or by 5x more with |dE| < same_energy: soft modes);
                               0.1 */
  double max_energy;        /* ENERGY_LIMIT above E_initial + this, eV; 15 */
  int max_calls;            /* force-call budget of the event's saddle searches, all
                               restarts together (cluster calls count 1 each); 5000 */
  int remove_translation;   /* project rigid translations out of pushes and Lanczos
                               vectors (whole-system mode); 1 */
  int local;                /* 1: search in a cluster cut from the system: atoms
                               within local_radius move, a shell of cutoff + 1 A is
                               fixed, the rest enters as a constant background
                               density (exact energy differences and forces on the
                               moving atoms); then refine the saddle in the full
                               system (or see refine_radius); 0 */
  double local_radius;      /* radius of the moving region, A; 8.0 */
  int local_refine;         /* local mode: refine the saddle in the full system; 1 */
  /* -- added in session 2 (fields are only ever appended) -- */
  int restarts;             /* a failed search (no_exit, eigen_lost, max_steps,
                               energy_limit, higher_order) starts again from the
                               initial minimum with a new kick drawn from the same
                               event stream, at most this many times, on the same
                               max_calls budget; also after returned and
                               not_connected; 0 = one direction only; 3 */
  int require_connect;      /* 1: always relax both sides of the saddle; a saddle
                               neither of whose sides returns to the initial minimum
                               is NOT_CONNECTED (not a barrier of this minimum); 1 */
  double lanczos_radius;    /* > 0: the Lanczos estimates that the climb follows
                               use only the atoms within this distance of the chosen
                               one (the event's mode, not a soft mode elsewhere in a
                               large sample); forces, relaxation and the first-order
                               check stay whole-system; 0 = whole system; A; 0 (off;
                               measured no better, docs/artn.md) */
  /* -- added in session 3 (the search; docs/artn.md) -- */
  int basin_init_steps;     /* basin increments before the first Lanczos estimate
                               (pARTn's ninit); 3 */
  int basin_warm;           /* 1: after the first basin estimate, Lanczos starts from
                               the previous eigenvector plus the displacement from
                               the minimum; 0: from the displacement only; 1 */
  double lost_threshold;    /* lost_follow 0: a lost eigenvalue (>= 0 in the climb)
                               is recovered, and the climb resumes, once the pushes
                               along x - x_initial bring it below this, eV/A^2;
                               in [eigen_threshold, 0); -0.05 */
  /* -- added in session 3 (local mode) -- */
  double refine_radius;     /* local mode with local_refine: > 0 refines the cluster
                               saddle (and pushes over) in a bigger cluster of this
                               moving radius, cut the same way, instead of the whole
                               system (which is used when it does not fit in the
                               cell); 0 = whole system; >= local_radius; A; 0 */
  /* -- added in session 4 (local mode) -- */
  int refine_push;          /* local mode refined in the whole system: 1 pushes over
                               from the refined saddle in the whole system (the
                               connection of the reported saddle itself; whole-system
                               calls); 0 from the cluster saddle in the cluster, outer
                               atoms at rest (cheap; the connection of the unrefined
                               saddle); 0 */
  /* -- added in session 5 (local mode) -- */
  double refine_grow;       /* local mode refined in a cluster (refine_radius > 0):
                               > 0 checks the refined saddle in the whole system
                               (one whole-system force call) and, while some whole-
                               system force component is at or above the climb's
                               target (refine_force if set, else saddle_force), grows
                               the cluster's moving radius by this much and resumes
                               the climb there; a cluster that no longer fits in the
                               cell gives way to the periodic whole system with the
                               atoms outside the grown radius (or refine_grow_hot's
                               set) frozen (session 9; while
                               at most refine_frozen_max of the atoms move) and then
                               to the whole system, every atom free.  The reported
                               saddle is then a saddle of the whole system by the
                               search's own force criterion (fmax_whole), pushed
                               over where it was refined (in the whole system
                               when the climb ended there, as refine_push);
                               0 = off; A; 0 */
  /* -- added in session 6 -- */
  double same_energy;       /* two minima within 5 same_dist whose energies differ by
                               less than this are the same minimum, eV; 0.01 (eOn's
                               duplicate tolerance; until session 5 a fixed 1e-3) */
  /* -- added in session 7 -- */
  int lost_follow;          /* how a lost eigenvalue (>= 0 in the climb) is
                               recovered: 0 pushes along x - x_initial with
                               perpendicular relaxation (the basin's rule); > 0
                               follows the lowest mode uphill, at most this many
                               steps of climb_step_max without perpendicular
                               relaxation (the dimer method's convex-region rule),
                               until lambda < 0 (those steps count in climb_steps
                               but not against climb_max_steps: at most
                               lost_follow x lost_retries, and max_calls); 50
                               (session 7; docs/artn.md) */
  /* -- added in session 8 -- */
  double basin_lanczos_gap; /* in the basin, while its estimate is above the basin's
                               threshold, a Lanczos run also stops once the estimate
                               changes by less than this fraction of its distance
                               from the threshold (the basin only asks whether
                               lambda is below it; below it lanczos_tol alone
                               decides); 0 = off (only lanczos_tol, the rule until
                               session 7); 0.3 */
  /* -- added in session 9 -- */
  double refine_frozen_max; /* refine_grow out of the cell: the refinement goes on in
                               the periodic whole system with the atoms beyond the
                               grown radius (or outside refine_grow_hot's set)
                               frozen while at most this fraction of
                               the atoms moves, then with every atom free; 0 = every
                               atom free as soon as the cluster stops fitting (the
                               rule until session 8); 0.5 */
  /* -- added in session 10 -- */
  double push_radius;       /* local mode: a saddle certified in a refinement cluster of
                               bigger moving radius (refine_grow), or in the whole
                               system, is pushed over in the cluster of this moving
                               radius (A; its moving atoms at the saddle's positions,
                               the others at the initial ones); 0 = where it was
                               certified (the rule until session 9); 0 */
  double second_remote;     /* check_second: a second negative eigenvalue whose mode is
                               centred (largest-amplitude atom) more than this far
                               from the saddle mode's, A, ends the attempt as
                               higher_order instead of a push-off (a separate soft
                               spot made unstable by the saddle's strain); 0 = off,
                               push off as for any second mode; 0 */
  /* -- added in session 12 -- */
  double refine_grow_hot;   /* refine_grow: a refinement that fails the whole-system
                               check grows its moving set only around the hot atoms,
                               by every atom within refine_grow (A) of an atom whose
                               largest whole-system force component is at least this
                               fraction of the climb's target (a set, not a sphere:
                               refine_radius_used is then its largest distance from
                               the chosen atom, refine_moving its size; only atoms
                               whose forces anything moved could change count, so the
                               initial structure's residual forces never grow it);
                               0 = the sphere grows by refine_grow (the rule until
                               session 11); in [0, 1]; 0 */
  /* -- added in session 14 -- */
  int lanczos_analytic;     /* 1: the Lanczos estimates (basin, climb, first-order
                               check, push-over mode) multiply by the analytic
                               Hessian of the calculator's last force call at the
                               point (the same interpolation, background density and
                               frozen shell) instead of a forward difference of the
                               forces (lanczos_fd_step, one force call a vector):
                               exact products at a fraction of a call's cost; 0 =
                               finite differences (the rule until session 13); 1 */
  /* -- added in session 15 -- */
  double memo_dist;         /* with a memo (eng_artn_run_memo): a local search's
                               cluster saddle whose moving atoms all lie within
                               memo_dist (A) of an earlier attempt's of the same atom,
                               with energies within memo_energy, takes that attempt's
                               outcome instead of refining, checking and pushing over
                               again; 0.1 */
  double memo_energy;       /* eV; 0.02 */
  /* -- added in session 17 -- */
  double list_skin;         /* Verlet skin (A) of the neighbour lists of the
                               calculators ARTn makes itself (local mode's search,
                               refinement and push-over clusters, and their periodic
                               frozen copies); the caller's whole-system calculator
                               keeps its own.  Only the cost depends on it (a list
                               is rebuilt when an atom moved by half of it), and the
                               summation order, so events change by round-off;
                               in (0, 5]; SKIN_DEFAULT */
} eng_artn_opts;

/* Record of one event.  Energies eV, eigenvalues eV/A^2, lengths A. */
typedef struct eng_artn_event {
  int64_t atom_id;          /* id of the chosen atom */
  int atom_index;           /* its index in the system */
  long event_index;         /* event number for that atom (0-based) */
  uint64_t seed;            /* sweep seed (opts.seed) */
  uint64_t stream;          /* derived seed of this event's random stream */
  eng_artn_status status;
  char reason[128];         /* "" when OK, else a short explanation */
  double e_initial, e_saddle, e_final; /* total energies, eV (NaN if not reached) */
  double dq;                /* activation energy E_saddle - E_initial, eV */
  double de_final;          /* E_final - E_initial, eV */
  double eigenvalue;        /* lowest Hessian eigenvalue at the saddle, eV/A^2 */
  double eigenvalue2;       /* lowest one orthogonal to it (check_second), eV/A^2 */
  double fmax_saddle;       /* max |force component| at the saddle, eV/A */
  int force_calls;          /* all full-system force calls of the event */
  int force_calls_saddle;   /* full-system calls up to the converged saddle */
  int force_calls_local;    /* cluster force calls (local mode) */
  int basin_steps, climb_steps, lanczos_iters;
  double max_disp_saddle;   /* most-moved atom, initial -> saddle, A */
  double max_disp;          /* most-moved atom, initial -> final, A */
  int n_moved;              /* atoms moved > 0.1 A, initial -> final */
  int final_differs;        /* 1 if the final minimum is not the initial one */
  int connected;            /* check_connect: 1 other side returns to the initial
                               minimum, 0 not, -1 not checked */
  double dq_local;          /* local mode: E_saddle - E_initial of the cluster saddle
                               before refinement, eV; NaN otherwise */
  double refine_shift;      /* local mode: most-moved atom between the cluster
                               saddle and the refined one, A; NaN otherwise */
  int n_cluster, n_active;  /* local mode: cluster atoms / moving atoms (0 otherwise) */
  /* -- added in session 2 (fields are only ever appended) -- */
  int attempts;             /* kick directions tried (1 + restarts used) */
  /* -- added in session 3: where the force calls went (all attempts;
     whole-system and cluster calls together) -- */
  int calls_basin;          /* basin increments and their perpendicular relaxation */
  int calls_basin_lanczos;  /* Lanczos estimates in the basin (and lost-eigenvalue pushes) */
  int calls_climb;          /* climb steps and their perpendicular relaxation */
  int calls_climb_lanczos;  /* Lanczos estimates during the climb */
  int calls_second;         /* first-order check (second mode) */
  int calls_push_over;      /* push-over steps and final minimisations, both sides */
  int fail_counts[ENG_ARTN_NSTATUS]; /* failed attempts by status (index = eng_artn_status) */
  /* -- added in session 3 (local mode) -- */
  int force_calls_refine;   /* calls in the refinement cluster (refine_radius; also
                               counted in force_calls_local) */
  /* -- added in session 5 (local mode) -- */
  double fmax_whole;        /* max |force component| of the whole system at the
                               reported saddle, eV/A (= fmax_saddle for a whole-system
                               saddle; local mode: one whole-system call when the saddle
                               is a cluster's); NaN when no saddle was reached */
  double refine_radius_used; /* local mode: moving radius of the cluster the saddle was
                               refined in (refine_grow may have grown it; with
                               refine_grow_hot's set, the largest distance of a moving
                               atom from the chosen one), A; 0 = the whole system with
                               every atom free, or not refined */
  int calls_attempt_saddle; /* force calls (whole-system and cluster alike) of the last
                               attempt alone, from its kick to its saddle (after the
                               first-order check): the cost of one successful search,
                               as peers count it; 0 if no saddle was reached */
  int calls_attempt_check;  /* of calls_attempt_saddle, the first-order check's
                               second-mode Lanczos vectors (check_second; the
                               push-offs' climbs are not included): peers run no such
                               check, so calls_attempt_saddle - calls_attempt_check is
                               the search as they count it (session 8) */
  /* -- added in session 9 -- */
  int refine_periodic;      /* 1: refine_grow grew the refinement out of the cell and
                               it ran in the periodic whole system with the atoms
                               that do not move (beyond refine_radius_used, or
                               outside refine_grow_hot's set) frozen; 0 otherwise */
  /* -- added in session 10 -- */
  int pushoffs;             /* second-mode push-offs of the first-order check in the
                               last attempt (0: its first converged point was first
                               order) */
  int failed_after_pushoff; /* failed attempts of the event that had pushed off a
                               second mode before failing (counted in fail_counts
                               too) */
  double push_radius_used;  /* local mode: moving radius of the cluster the last
                               attempt's saddle was pushed over in when that is
                               push_radius (A); 0 = where it was certified */
  int exchange;             /* 1: the final minimum is the initial one up to a
                               permutation of like atoms (every atom moved by more
                               than same_dist sits within same_dist of another such
                               atom's initial position): an exchange, the same
                               structure relabelled; the event is reported as it is */
  /* -- added in session 12 -- */
  int refine_moving;        /* local mode: moving atoms of the refinement cluster the
                               saddle was certified in (the sphere of
                               refine_radius_used, or refine_grow_hot's set); 0 =
                               the whole system, or not refined in a cluster */
  /* -- added in session 14 -- */
  int hessian_products;     /* analytic Hessian-vector products of the Lanczos
                               estimates (lanczos_analytic), all attempts and
                               contexts: not force calls (with lanczos_analytic 0
                               every Lanczos vector is a force call and this is 0) */
  int products_attempt_saddle; /* of them, the last attempt's from its kick to its
                               saddle (as calls_attempt_saddle) */
  int products_attempt_check; /* of those, the first-order check's (as
                               calls_attempt_check) */
  /* -- added in session 15 -- */
  long memo_event;          /* eng_artn_run_memo: the event whose attempt memo_attempt
                               found the same cluster saddle first, when this event's
                               last attempt took its outcome (saddle, final state,
                               status) from the memo; -1 otherwise */
  int memo_attempt;         /* that attempt (0-based); -1 otherwise */
  int memo_hits;            /* attempts of this event answered from the memo */
  /* -- added in session 17 -- */
  int list_builds;          /* neighbour-list builds (whole, or the moving atoms'
                               rows) of the calculators the event made itself: local
                               mode's clusters (their skin is opts.list_skin) */
} eng_artn_event;

/* Fill o with the defaults listed above. */
void eng_artn_opts_default(eng_artn_opts *o);
/* Name of a status ("ok", "no_exit", "eigen_lost", "max_calls", "max_steps",
 * "energy_limit", "returned", "refine_failed", "higher_order",
 * "not_connected"); never NULL. */
const char *eng_artn_status_name(eng_artn_status s);
/* Seed of the random stream of event (seed, atom id, event index): a
 * splitmix64 hash, so that any subset of a sweep can be re-run alone. */
uint64_t eng_artn_stream_seed(uint64_t seed, int64_t atom_id, long event_index);
/* Run one ARTn event around atom atom_index (0-based) of sys, which must be
 * a minimised structure (max |force component| <= saddle_force, else
 * ENG_EINVAL) matching calc.  sys is not modified.  pot is the potential of
 * calc; it is needed only when opts->local (NULL otherwise allowed).
 * x_saddle and x_final, when not NULL, receive 3*natoms positions (A) of
 * the saddle and the final minimum (unchanged when not reached).  Returns
 * ENG_OK whenever the event ran, whatever ev->status; ENG_EINVAL for bad
 * arguments, ENG_ECANCEL if progress asked to stop, other codes on errors.
 * The result depends only on (sys, opts, atom id, event_index): the same
 * arguments give the same event bit for bit. */
int eng_artn_run(eng_calc *calc, const eng_potential *pot, const eng_system *sys,
                 int atom_index, long event_index, const eng_artn_opts *opts,
                 eng_progress_fn progress, void *ud, eng_artn_event *ev,
                 double *x_saddle, double *x_final);
/* The initial structure's energy (eV), largest force component (eV/A) and
 * host densities, computed once for the events of a sweep (session 11).
 * eng_artn_start_make computes them with calc at sys->x (a fresh neighbour
 * list, as eng_artn_run makes); *out is the caller's (eng_artn_start_free)
 * and holds a copy of the positions and box it was made at (not of the
 * potential: use it with calculators of calc's potential).  ENG_EINVAL
 * for NULL arguments, ENG_ENOMEM, or the calculator's error. */
typedef struct eng_artn_start eng_artn_start;
int eng_artn_start_make(eng_calc *calc, const eng_system *sys, eng_artn_start **out);
void eng_artn_start_free(eng_artn_start *s);
/* eng_artn_run with a start made for sys (start NULL: eng_artn_run
 * itself).  A local-mode event whose search cluster fits in the cell then
 * makes no whole-system force call at its start (60 ms of about 2.3 s an
 * event at 16,000 atoms); the event is the one eng_artn_run gives, bit for
 * bit, with the whole-system calls it counts one less (force_calls,
 * force_calls_saddle, calls_basin; the max_calls budget still counts that
 * call).  start is only read, so threads may share one.  ENG_EINVAL if
 * start was made at other positions or another box than sys's (compared
 * bit for bit). */
int eng_artn_run_from(eng_calc *calc, const eng_potential *pot, const eng_system *sys,
                      const eng_artn_start *start, int atom_index, long event_index,
                      const eng_artn_opts *opts, eng_progress_fn progress, void *ud,
                      eng_artn_event *ev, double *x_saddle, double *x_final);
/* A memo of the cluster saddles found around one atom (session 15): the
 * events of a sweep around the same atom find the same saddle again and
 * again (one attempt in five at ten events per atom on the 16,000-atom
 * glass, docs/artn.md).  eng_artn_run_memo looks each local search's cluster saddle up
 * before refining it: within opts->memo_dist and memo_energy of a saddle
 * an earlier attempt around the same atom found, the attempt takes that
 * attempt's outcome (status, saddle, final state; the configurations
 * too when the caller asks for them and the memo kept them) and the
 * event records memo_event / memo_attempt; otherwise it runs on and its
 * outcome is added.  A memo serves one atom of one structure with one set
 * of options: it forgets its entries when it is used for another atom or
 * other positions, so the events of an atom must run in order (event 0,
 * 1, ...) through the same memo for a sweep to be reproducible (the
 * artn kinds with dedup run whole atoms per chunk).  Not for two threads
 * at once.  Owned by the caller (eng_artn_memo_free). */
typedef struct eng_artn_memo eng_artn_memo;
/* ENG_OK and *out, or ENG_ENOMEM. */
int eng_artn_memo_create(eng_artn_memo **out);
void eng_artn_memo_free(eng_artn_memo *m);
/* Saddles the memo holds now. */
int eng_artn_memo_size(const eng_artn_memo *m);
/* eng_artn_run_from with a memo (NULL: the same as eng_artn_run_from).
 * Only local mode with a search cluster that fits in the cell uses it. */
int eng_artn_run_memo(eng_calc *calc, const eng_potential *pot, const eng_system *sys,
                      const eng_artn_start *start, eng_artn_memo *memo, int atom_index,
                      long event_index, const eng_artn_opts *opts, eng_progress_fn progress,
                      void *ud, eng_artn_event *ev, double *x_saddle, double *x_final);
/* Result of eng_artn_refine.  Energies eV, eigenvalue eV/A^2, lengths A. */
typedef struct eng_artn_refined {
  int status;        /* ENG_ARTN_OK (0) when converged, else an eng_artn_status;
                        -1 on an error return */
  char reason[80];   /* why not, when status != 0 */
  double dq;         /* E(refined) - E(sys), eV (also when not converged) */
  double lambda;     /* lowest eigenvalue at the end */
  double fmax;       /* largest force component at the end, eV/A */
  double shift;      /* largest atom distance from x_start (minimum image) */
  long force_calls;  /* whole-system calls, Lanczos included */
} eng_artn_refined;

/* Converge a saddle again in the whole periodic system, every atom free
 * (the refinement of r-ARTn): from x_start (3 natoms positions, e.g. an
 * event's saddle from a local-mode search or another code), the lowest
 * mode by a Lanczos of at most 48 vectors (started from x_start minus the
 * minimum, plus noise drawn from opts->seed), oriented away from the
 * initial minimum sys, then the climb
 * of step 4 (docs/artn.md) with opts' parameters until max |force
 * component| < ftol (eV/A, in (0, 10)).  sys is the initial minimum: its
 * energy is the reference of out->dq.  x_out (3 natoms, may be NULL)
 * receives the end point.  Returns ENG_OK with out->status = ENG_ARTN_OK
 * if converged, or the failure (ENG_ARTN_EIGEN_LOST when the start has no
 * negative curvature, ENG_ARTN_MAX_CALLS after opts->max_calls, ...);
 * ENG_EINVAL for NULL arguments or a bad ftol/opts, ENG_ENOMEM.  No
 * first-order check and no push-over: out only says where the climb
 * ended, every field at that same point (x_out holds it unwrapped next
 * to sys->x: x_start is taken per atom as the minimum image nearest the
 * minimum).  On an error return out->status is -1 and nothing else in
 * out holds. */
int eng_artn_refine(eng_calc *calc, const eng_system *sys, const double *x_start, double ftol,
                    const eng_artn_opts *opts, eng_artn_refined *out, double *x_out);
/* @@artn-api@@ (keep this marker: new declarations go above it) */

/* ------------------------------------------------------------------ */
/* Analysis of per-atom fields (analysis.c): correlations, spatial     */
/* autocorrelation and correlation lengths, histograms, slice maps     */
/* (docs/analysis.md).                                                 */
/* ------------------------------------------------------------------ */

/* Conventions of this section: a per-atom field is an array of natoms
 * doubles in the system's atom order; NaN marks an atom without a value
 * (e.g. no successful ARTn event), which every analysis skips.  A
 * selection sel (natoms ints, non-zero = use the atom; NULL = all atoms)
 * restricts an analysis to a subset (one species).  Atoms are used when
 * selected AND every field involved is finite at them. */

/* Ordinary least-squares line y = intercept + slope * x over the used
 * points, with standard errors from the residual variance s^2 = SSR/(n-2)
 * (slope_err = s / sqrt(Sxx), intercept_err = s sqrt(1/n + xbar^2/Sxx);
 * NaN when n < 3) and Pearson's r (NaN when x or y is constant). */
typedef struct eng_linfit {
  int n;
  double slope, intercept;         /* units of y/x, of y */
  double slope_err, intercept_err; /* standard errors */
  double r;                        /* Pearson correlation coefficient */
} eng_linfit;

/* Fit over the n points (x[i], y[i]) selected by sel.  ENG_EINVAL (fit
 * zeroed, NaN) when fewer than 2 points are usable or x is constant. */
int eng_linfit_compute(int n, const double *x, const double *y, const int *sel,
                       eng_linfit *fit);
/* Pearson's r of the used points into *r (NaN if a variance is 0).
 * ENG_EINVAL when fewer than 2 points are usable. */
int eng_pearson(int n, const double *x, const double *y, const int *sel,
                double *r);
/* Spearman's rank correlation: Pearson's r of the ranks (ties get the mean
 * of their ranks).  ENG_EINVAL when fewer than 2 points; ENG_ENOMEM. */
int eng_spearman(int n, const double *x, const double *y, const int *sel,
                 double *rho);

/* Correlation of a property y with a descriptor x, raw and coarse-grained
 * as in the paper (Fig. 4): the used atoms sorted by x (ties by index),
 * cut into nbins = max(1, round(n / bin_atoms)) consecutive groups whose
 * sizes differ by at most one (group k holds sorted atoms
 * floor(k n / nbins) .. floor((k+1) n / nbins) - 1), each group reduced to
 * the mean of x and the mean of y; fit_binned is the line through those
 * nbins points and its r the binned Pearson r_P. */
typedef struct eng_corr {
  int n;                 /* atoms used */
  double pearson;        /* raw, per atom */
  double spearman;       /* raw, per atom */
  eng_linfit fit;        /* raw line y(x) */
  int bin_atoms;         /* requested atoms per group */
  int nbins;
  double *bin_x, *bin_y; /* nbins group means (x, y units) */
  double *bin_y_sem;     /* nbins standard errors of the y means (NaN for
                            groups of one atom) */
  int *bin_count;        /* nbins atoms per group */
  eng_linfit fit_binned; /* line through the group means; .r = binned r_P */
} eng_corr;

/* Compute *out (caller's, eng_corr_free).  ENG_EINVAL when bin_atoms < 1
 * or fewer than 3 atoms are usable; ENG_ENOMEM. */
int eng_corr_compute(int n, const double *x, const double *y, const int *sel,
                     int bin_atoms, eng_corr **out);
void eng_corr_free(eng_corr *c);

/* Spatial autocorrelation (paper Eq. 6) of nfields per-atom fields under
 * the system's periodic boundaries:
 *   C(r_k) = < dP_i dP_j >_{pairs i != j with |r_ij| in bin k} / < dP^2 >,
 *   dP_i = P_i - mean(P)  (center_by_type: the mean of i's species),
 * every pair (periodic images included, each physical pair once) between
 * used atoms of a field; nbins = floor(rmax/dr) whole bins [k dr,
 * (k+1) dr) (so the range used, opts.rmax of the result, is nbins * dr),
 * reported at their centres.  Normalised curve: c_norm = C / C(r_norm), C(r_norm)
 * interpolated linearly between bin centres (the paper sets C = 1 at 3 A).
 * Cost O(N * neighbours within rmax); the pair list uses cell lists, so
 * orthogonal and triclinic boxes work. */
typedef struct eng_acf_opts {
  double dr;         /* bin width, Angstrom; default 0.2 */
  double rmax;       /* Angstrom; default 12 */
  double r_norm;     /* Angstrom; default 3; 0 = no normalisation
                        (c_norm = c) */
  int center_by_type;/* 1: deviations from each species' own mean; 0 */
} eng_acf_opts;

typedef struct eng_acf {
  int natoms, nfields, nbins;
  eng_acf_opts opts;    /* parameters used */
  double *r;            /* nbins bin centres, Angstrom */
  double *c;            /* nfields*nbins, c[f*nbins + k]; NaN for empty bins
                           or a constant field */
  double *c_norm;       /* same, divided by C(r_norm) (NaN if that is not
                           finite and non-zero) */
  long *npairs;         /* nfields*nbins pairs per bin */
  int *nused;           /* nfields atoms used */
  double *mean, *var;   /* nfields: mean and variance <dP^2> of the field */
  double *c_at_norm;    /* nfields: C(r_norm) before normalising */
} eng_acf;

void eng_acf_opts_default(eng_acf_opts *o);
/* p holds nfields fields of sys->natoms values, field f at p + f*natoms.
 * *out is the caller's (eng_acf_free).  ENG_EINVAL for bad options
 * (dr <= 0, rmax <= dr, r_norm < 0 or >= rmax, more than 10^6 bins),
 * nfields < 1; ENG_ERANGE when rmax would need more than 1e8 pairs;
 * ENG_ENOMEM. */
int eng_acf_compute(const eng_system *sys, int nfields, const double *p,
                    const int *sel, const eng_acf_opts *o, eng_acf **out);
void eng_acf_free(eng_acf *a);

/* Correlation length from C(r) ~ A exp(-r / xi): least squares of ln c on
 * r over the points with r_lo <= r[k] <= r_hi, taken in order from the
 * first one in range up to (not including) the first point whose c is not
 * finite or <= 0 (past it the curve is noise).  weighted = 0: every point
 * counts the same (a straight line on the semilog plot); weighted = 1:
 * weights c^2, the inverse variance of ln c when the noise of c is the
 * same at every r (as it is for a finite sample: the tail, where ln c is
 * mostly noise, then barely counts).  xi = -1/slope, xi_err =
 * slope_err / slope^2 (standard errors from the residuals), amplitude
 * A = exp(intercept).  ENG_EINVAL (fields
 * NaN, npoints set) with fewer than 3 points; ENG_ERANGE (xi NaN) when the
 * fitted curve does not decay (slope >= 0). */
typedef struct eng_xi_fit {
  double xi, xi_err;    /* Angstrom */
  double amplitude;     /* A */
  eng_linfit line;      /* the fit of ln c on r */
  double r_first, r_last; /* first and last r used, Angstrom */
  int npoints;
} eng_xi_fit;
int eng_xi_fit_compute(int n, const double *r, const double *c, double r_lo,
                       double r_hi, int weighted, eng_xi_fit *out);

/* Histogram of the used values of v on nbins bins [lo + k width, lo + (k+1)
 * width); values outside go to *below / *above (may be NULL).  count has
 * nbins entries.  ENG_EINVAL for width <= 0 or nbins < 1. */
int eng_histogram(int n, const double *v, const int *sel, double lo,
                  double width, int nbins, long *count, long *below,
                  long *above);

/* Two-mode model of a barrier spectrum (paper Fig. 1c-e): an exponential
 * at low energies and a Rayleigh mode above,
 *   p(E) = w exp(-E/e0)/e0 + (1 - w) (E/sigma^2) exp(-E^2 / (2 sigma^2)),
 * E >= 0 (eV), fitted by maximum likelihood (expectation-maximisation,
 * from w = 0.5, e0 = mean/2, sigma = mean; stops when the log-likelihood
 * changes by less than 1e-10 per point, at most 10000 iterations). */
typedef struct eng_twomode {
  int n;            /* values used (finite and > 0) */
  double w;         /* weight of the exponential mode */
  double e0;        /* its mean, eV */
  double sigma;     /* Rayleigh scale, eV (mode at sigma, mean sigma sqrt(pi/2)) */
  double loglik;    /* per value */
  int iterations;
  int converged;
} eng_twomode;
/* ENG_EINVAL with fewer than 10 usable values. */
int eng_twomode_fit(int n, const double *v, const int *sel, eng_twomode *m);
/* Model density at E (1/eV); 0 for E < 0. */
double eng_twomode_pdf(const eng_twomode *m, double e);

/* Slice map (paper Figs. 1a, 2, 3, 6a-e): the atoms in a slab between
 * lattice planes normal to cell vector `axis` (0, 1, 2; for orthogonal
 * boxes the slab is normal to x, y or z), |s_axis - center| <= thickness /
 * (2 * width) in fractional coordinates (periodic), coarse-grained onto a
 * grid over the other two cell vectors (u along the first, v along the
 * second, in Angstrom from lo; grid points at (k + 0.5) * spacing', the
 * spacing adjusted so that a whole number of points spans the cell).
 * smooth > 0: value at a grid point = Gaussian-weighted mean (sigma =
 * smooth, in-plane periodic distance, truncated at 3 sigma) of the slab
 * atoms' values; smooth = 0: mean of the atoms in each grid cell.  NaN
 * where no atom contributes. */
typedef struct eng_slice_opts {
  int axis;          /* 0, 1, 2; default 2 (z) */
  double center;     /* fractional slab centre in [0, 1); default 0.5 */
  double thickness;  /* Angstrom; default 3.9 */
  double spacing;    /* grid spacing, Angstrom; default 1.0 */
  double smooth;     /* Angstrom; default 1.0 */
} eng_slice_opts;

typedef struct eng_slice {
  int nfields;
  eng_slice_opts opts;  /* parameters used */
  int axis_u, axis_v;   /* the in-plane cell vectors */
  int nu, nv;           /* grid points */
  double *u, *v;        /* nu, nv coordinates, Angstrom */
  double *val;          /* nfields*nv*nu, val[(f*nv + j)*nu + i] at (u_i, v_j) */
  int natoms_slab;      /* atoms in the slab */
  int *slab_atoms;      /* their indices */
} eng_slice;

void eng_slice_opts_default(eng_slice_opts *o);
/* p as for eng_acf_compute (NaN values are skipped per field).  *out is
 * the caller's (eng_slice_free).  ENG_EINVAL for bad options (axis, center
 * outside [0,1), thickness or spacing <= 0, smooth < 0, more than 10^6 grid
 * points); ENG_ENOMEM. */
int eng_slice_map(const eng_system *sys, int nfields, const double *p,
                  const eng_slice_opts *o, eng_slice **out);
void eng_slice_free(eng_slice *s);

/* @@analysis-api@@ (keep this marker: new declarations go above it) */

#ifdef __cplusplus
}
#endif

#endif /* PELMAP_ENGINE_H */
