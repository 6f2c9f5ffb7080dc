/*
 * eam.c -- embedded-atom-method potentials: LAMMPS setfl files (eam/alloy,
 * eam/fs), their cubic interpolation, and the force calculator.
 *
 * Energy of atom i:  E_i = F_a(rho_i) + 1/2 sum_j phi_ab(r_ij),
 *   rho_i = sum_j rho_ba(r_ij)   (eam/fs: density at an a-atom due to a
 *                                  b-neighbour; eam/alloy: rho_b(r_ij)).
 * The tabulated functions are interpolated exactly as LAMMPS' pair_style eam
 * does, so that energies and forces agree with it to round-off: for each
 * table f_1..f_n on a uniform grid of spacing delta, slopes are estimated as
 *   s_1 = f_2 - f_1,  s_2 = (f_3 - f_1)/2,  s_{n-1} = (f_n - f_{n-2})/2,
 *   s_n = f_n - f_{n-1},  s_m = ((f_{m-2} - f_{m+2}) + 8 (f_{m+1} - f_{m-1}))/12,
 * and on [m, m+1] with p in [0,1] the cubic Hermite form
 *   f(p) = ((c3 p + c4) p + c5) p + c6,  f'(p)/delta = (c0 p + c1) p + c2,
 *   c6 = f_m, c5 = s_m, c4 = 3 (f_{m+1} - f_m) - 2 s_m - s_{m+1},
 *   c3 = s_m + s_{m+1} - 2 (f_{m+1} - f_m),
 *   c2 = c5/delta, c1 = 2 c4/delta, c0 = 3 c3/delta.
 * The argument maps to p = x/delta + 1, m = floor(p) clamped to [1, n-1],
 * p -= m, p = min(p, 1).  F(rho) above the table's last point is continued
 * linearly.  The pair table holds r*phi(r).
 */
#include "internal.h"
#include "neigh.h"
#include "eam_int.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* ------------------------------------------------------------------ */
/* Tables                                                              */
/* ------------------------------------------------------------------ */

typedef double eng__coef[7];

/* Cubic coefficients of table f[0..n-1] (spacing delta) into s[0..n-1]. */
static void spline_build(int n, double delta, const double *f, eng__coef *s) {
  assert(n >= 5);
  for (int m = 0; m < n; m++) s[m][6] = f[m];
  s[0][5] = s[1][6] - s[0][6];
  s[1][5] = 0.5 * (s[2][6] - s[0][6]);
  s[n - 2][5] = 0.5 * (s[n - 1][6] - s[n - 3][6]);
  s[n - 1][5] = s[n - 1][6] - s[n - 2][6];
  for (int m = 2; m <= n - 3; m++)
    s[m][5] = ((s[m - 2][6] - s[m + 2][6]) + 8.0 * (s[m + 1][6] - s[m - 1][6])) / 12.0;
  for (int m = 0; m < n - 1; m++) {
    s[m][4] = 3.0 * (s[m + 1][6] - s[m][6]) - 2.0 * s[m][5] - s[m + 1][5];
    s[m][3] = s[m][5] + s[m + 1][5] - 2.0 * (s[m + 1][6] - s[m][6]);
  }
  s[n - 1][4] = 0.0;
  s[n - 1][3] = 0.0;
  for (int m = 0; m < n; m++) {
    s[m][2] = s[m][5] / delta;
    s[m][1] = 2.0 * s[m][4] / delta;
    s[m][0] = 3.0 * s[m][3] / delta;
  }
}

/* One knot of a pair table of elements (a, b), the cubics of the three
 * pair functions side by side: density at a due to b, at b due to a, and
 * r*phi (one cache line and a half read per pair). */
struct knot {
  double ri[4], rj[4], z[4];
};

struct eng_potential {
  eng_pot_style style;
  int nel;
  char (*name)[ENG_NAME_MAX];
  double *mass;
  int nrho, nr;
  double drho, dr, cut, rhomax;
  eng__coef *frho; /* nel tables of nrho */
  eng__coef *rhor; /* fs: nel*nel tables (block a, function b); alloy: nel */
  eng__coef *z2r;  /* nel*(nel+1)/2 tables of nr, index a*(a+1)/2 + b, b <= a */
  struct knot *kt; /* nel*nel tables of nr knots, (a, b) at (a nel + b) nr; built
                      once from the above, read by every calculator (session 16:
                      one per calculator before, a 3.8 MB copy each for Cu-Zr) */
};

static int zidx(int a, int b) {
  if (a < b) {
    int t = a;
    a = b;
    b = t;
  }
  return a * (a + 1) / 2 + b;
}

/* Table giving the density at an atom of element a due to a neighbour of
 * element b. */
static const eng__coef *rho_table(const eng_potential *p, int a, int b) {
  if (p->style == ENG_POT_EAM_FS) return p->rhor + ((size_t)b * p->nel + a) * p->nr;
  return p->rhor + (size_t)b * p->nr;
}

/* ------------------------------------------------------------------ */
/* setfl parsing                                                       */
/* ------------------------------------------------------------------ */

typedef struct scan {
  const char *p, *end, *name;
  int line; /* 1-based line number of the last line or token read */
  int nl;   /* newlines consumed so far */
} scan;

/* Copy the next line (without newline) into buf; -1 at end of input,
 * ENG_EPARSE if longer than cap-1. */
static int scan_line(scan *s, char *buf, size_t cap) {
  size_t n = 0;
  if (s->p >= s->end) return -1;
  s->line = s->nl + 1;
  while (s->p < s->end && *s->p != '\n') {
    if (n + 1 >= cap)
      return eng_set_error(ENG_EPARSE, "%s:%d: line too long", s->name, s->line);
    buf[n++] = *s->p++;
  }
  if (s->p < s->end) {
    s->p++;
    s->nl++;
  }
  if (n && buf[n - 1] == '\r') n--;
  buf[n] = 0;
  return (int)n;
}

/* Next whitespace-separated token into buf (NUL-terminated); -1 at end. */
static int scan_token(scan *s, char *buf, size_t cap) {
  size_t n = 0;
  while (s->p < s->end && isspace((unsigned char)*s->p)) {
    if (*s->p == '\n') s->nl++;
    s->p++;
  }
  s->line = s->nl + 1;
  if (s->p >= s->end) return -1;
  while (s->p < s->end && !isspace((unsigned char)*s->p)) {
    if (n + 1 >= cap)
      return eng_set_error(ENG_EPARSE, "%s:%d: token too long", s->name, s->line);
    buf[n++] = *s->p++;
  }
  buf[n] = 0;
  return (int)n;
}

static int parse_double(const char *t, double *v) {
  char *e;
  errno = 0;
  *v = strtod(t, &e);
  /* Fortran-style exponents (1.0D+00) appear in old files. */
  if (*e == 'D' || *e == 'd') return -1;
  return (e == t || *e || errno == ERANGE || !isfinite(*v)) ? -1 : 0;
}

static int scan_double(scan *s, double *v, const char *what) {
  char t[128];
  int n = scan_token(s, t, sizeof t);
  if (n == ENG_EPARSE) return n;
  if (n < 0)
    return eng_set_error(ENG_EPARSE, "%s:%d: file ends early: expected %s", s->name,
                         s->line, what);
  if (parse_double(t, v))
    return eng_set_error(ENG_EPARSE, "%s:%d: expected a finite number (%s), got '%s'",
                         s->name, s->line, what, t);
  return ENG_OK;
}

static int scan_table(scan *s, double *f, int n, const char *what, int el) {
  for (int m = 0; m < n; m++) {
    int rc = scan_double(s, &f[m], what);
    if (rc) {
      if (strstr(eng_last_error(), "ends early"))
        eng_set_error(ENG_EPARSE,
                      "%s:%d: file ends early: %s of element %d has %d of %d values",
                      s->name, s->line, what, el + 1, m, n);
      return rc;
    }
  }
  return ENG_OK;
}

static int parse_int_tok(const char *t, long lo, long hi, long *v) {
  char *e;
  errno = 0;
  *v = strtol(t, &e, 10);
  return (e == t || *e || errno || *v < lo || *v > hi) ? -1 : 0;
}

void eng_potential_free(eng_potential *p) {
  if (!p) return;
  free(p->name);
  free(p->mass);
  free(p->frho);
  free(p->rhor);
  free(p->z2r);
  free(p->kt);
  free(p);
}

/* The packed pair tables p->kt from p's splines: one per ordered element
 * pair (a, b) = a nel + b, nr knots each, the cubic value coefficients of
 * the density at a due to b (ri), at b due to a (rj) and of r*phi (z).  A
 * pair reads one knot (96 bytes, two cache lines of a 64-byte aligned
 * table) once per force call; the derivatives come from the same
 * coefficients.  ENG_ENOMEM. */
static int knots_build(eng_potential *p) {
  const int nel = p->nel;
  size_t bytes = (size_t)nel * nel * p->nr * sizeof *p->kt;
  p->kt = aligned_alloc(64, (bytes + 63) / 64 * 64); /* size: a multiple of 64 */
  if (!p->kt) return eng_set_error(ENG_ENOMEM, "out of memory allocating %zu bytes of EAM tables", bytes);
  for (int a = 0; a < nel; a++)
    for (int b = 0; b < nel; b++) {
      const eng__coef *ti = rho_table(p, a, b), *tj = rho_table(p, b, a);
      const eng__coef *tz = p->z2r + (size_t)zidx(a, b) * p->nr;
      struct knot *k = p->kt + (size_t)(a * nel + b) * p->nr;
      for (int m = 0; m < p->nr; m++)
        for (int q = 0; q < 4; q++) {
          k[m].ri[q] = ti[m][3 + q];
          k[m].rj[q] = tj[m][3 + q];
          k[m].z[q] = tz[m][3 + q];
        }
    }
  return ENG_OK;
}

static eng_pot_style style_from_name(const char *name) {
  size_t n = name ? strlen(name) : 0;
  if (n >= 3 && strcmp(name + n - 3, ".fs") == 0) return ENG_POT_EAM_FS;
  if (n >= 4 && strcmp(name + n - 4, ".eam") == 0) return ENG_POT_EAM_FUNCFL;
  return ENG_POT_EAM_ALLOY;
}

int eng_potential_read_buffer(const char *buf, size_t len, const char *name,
                              eng_pot_style style, eng_potential **out) {
  scan s = {buf, buf + len, name ? name : "potential", 0, 0};
  char line[4096], tok[128];
  eng_potential *p = NULL;
  double *tmp = NULL;
  int rc, nel;
  long v;

  *out = NULL;
  if (style == ENG_POT_AUTO) style = style_from_name(name);
  if (style == ENG_POT_EAM_FUNCFL)
    return eng_set_error(ENG_EUNSUPP,
                         "%s: funcfl (pair_style eam) files are not supported yet; "
                         "use a setfl file (eam/alloy or eam/fs)",
                         s.name);
  for (int k = 0; k < 3; k++) {
    rc = scan_line(&s, line, sizeof line);
    if (rc == ENG_EPARSE) return rc;
    if (rc < 0)
      return eng_set_error(ENG_EPARSE, "%s:%d: file ends in the 3 comment lines", s.name,
                           s.line);
  }
  /* Line 4: Nelements Element1 ... */
  rc = scan_line(&s, line, sizeof line);
  if (rc < 0)
    return eng_set_error(ENG_EPARSE, "%s:%d: expected 'Nelements Element1 ...'", s.name,
                         s.nl + 1);
  {
    char *save = NULL, *t = strtok_r(line, " \t", &save);
    if (!t || parse_int_tok(t, 1, 64, &v))
      return eng_set_error(ENG_EPARSE,
                           "%s:%d: expected the number of elements (1-64) first, got '%s'",
                           s.name, s.line, t ? t : "");
    nel = (int)v;
    p = eng__calloc(1, sizeof *p);
    if (!p) return ENG_ENOMEM;
    p->style = style;
    p->nel = nel;
    p->name = eng__calloc((size_t)nel, sizeof *p->name);
    p->mass = eng__calloc((size_t)nel, sizeof *p->mass);
    if (!p->name || !p->mass) {
      rc = ENG_ENOMEM;
      goto fail;
    }
    for (int k = 0; k < nel; k++) {
      t = strtok_r(NULL, " \t", &save);
      if (!t || strlen(t) >= ENG_NAME_MAX) {
        rc = eng_set_error(ENG_EPARSE, "%s:%d: expected %d element names, got %d", s.name,
                           s.line, nel, k);
        goto fail;
      }
      snprintf(p->name[k], ENG_NAME_MAX, "%s", t);
    }
  }
  /* Line 5: Nrho drho Nr dr cutoff */
  {
    double d;
    int l5 = s.nl + 1;
    if (scan_token(&s, tok, sizeof tok) < 0 || parse_int_tok(tok, 5, 10000000, &v)) {
      rc = eng_set_error(ENG_EPARSE, "%s:%d: expected Nrho (integer >= 5)", s.name, l5);
      goto fail;
    }
    p->nrho = (int)v;
    if ((rc = scan_double(&s, &p->drho, "drho"))) goto fail;
    if (scan_token(&s, tok, sizeof tok) < 0 || parse_int_tok(tok, 5, 10000000, &v)) {
      rc = eng_set_error(ENG_EPARSE, "%s:%d: expected Nr (integer >= 5)", s.name, s.line);
      goto fail;
    }
    p->nr = (int)v;
    if ((rc = scan_double(&s, &p->dr, "dr"))) goto fail;
    if ((rc = scan_double(&s, &d, "cutoff"))) goto fail;
    p->cut = d;
    if (!(p->drho > 0) || !(p->dr > 0) || !(p->cut > 0)) {
      rc = eng_set_error(ENG_EPARSE, "%s:%d: drho, dr and cutoff must be > 0", s.name,
                         s.line);
      goto fail;
    }
    /* Data must be present: refuse absurd sizes before allocating. */
    size_t need = (size_t)nel * ((size_t)p->nrho + (size_t)p->nr * (style == ENG_POT_EAM_FS ? nel : 1)) +
                  (size_t)nel * (nel + 1) / 2 * p->nr;
    if (need > len / 2 + 1) {
      rc = eng_set_error(ENG_EPARSE,
                         "%s:%d: header declares %zu tabulated values but the file has "
                         "only %zu bytes",
                         s.name, s.line, need, len);
      goto fail;
    }
  }
  p->rhomax = (p->nrho - 1) * p->drho;
  {
    int ntab_rho = style == ENG_POT_EAM_FS ? nel * nel : nel;
    int ntab_z = nel * (nel + 1) / 2;
    int nmax = p->nrho > p->nr ? p->nrho : p->nr;
    p->frho = eng__malloc((size_t)nel * p->nrho, sizeof *p->frho);
    p->rhor = eng__malloc((size_t)ntab_rho * p->nr, sizeof *p->rhor);
    p->z2r = eng__malloc((size_t)ntab_z * p->nr, sizeof *p->z2r);
    tmp = eng__malloc((size_t)nmax, sizeof *tmp);
    if (!p->frho || !p->rhor || !p->z2r || !tmp) {
      rc = ENG_ENOMEM;
      goto fail;
    }
  }
  for (int a = 0; a < nel; a++) {
    double z, a0;
    if ((rc = scan_double(&s, &z, "atomic number"))) goto fail;
    if ((rc = scan_double(&s, &p->mass[a], "mass"))) goto fail;
    if ((rc = scan_double(&s, &a0, "lattice constant"))) goto fail;
    if (scan_token(&s, tok, sizeof tok) < 0) {
      rc = eng_set_error(ENG_EPARSE, "%s:%d: file ends early: expected lattice type",
                         s.name, s.line);
      goto fail;
    }
    if (!(p->mass[a] > 0)) {
      rc = eng_set_error(ENG_EPARSE, "%s:%d: mass of %s must be > 0", s.name, s.line,
                         p->name[a]);
      goto fail;
    }
    if ((rc = scan_table(&s, tmp, p->nrho, "F(rho)", a))) goto fail;
    spline_build(p->nrho, p->drho, tmp, p->frho + (size_t)a * p->nrho);
    int nsub = style == ENG_POT_EAM_FS ? nel : 1;
    for (int b = 0; b < nsub; b++) {
      if ((rc = scan_table(&s, tmp, p->nr, "rho(r)", a))) goto fail;
      spline_build(p->nr, p->dr, tmp, p->rhor + ((size_t)a * nsub + b) * p->nr);
    }
  }
  for (int a = 0; a < nel; a++)
    for (int b = 0; b <= a; b++) {
      if ((rc = scan_table(&s, tmp, p->nr, "r*phi(r)", a))) goto fail;
      spline_build(p->nr, p->dr, tmp, p->z2r + (size_t)zidx(a, b) * p->nr);
    }
  if (scan_token(&s, tok, sizeof tok) >= 0) {
    rc = eng_set_error(ENG_EPARSE,
                       "%s:%d: unexpected data after the last pair table ('%s'): wrong "
                       "style (eam/fs vs eam/alloy) or counts?",
                       s.name, s.line, tok);
    goto fail;
  }
  free(tmp);
  tmp = NULL;
  rc = knots_build(p);
  if (rc) goto fail;
  *out = p;
  return ENG_OK;
fail:
  free(tmp);
  eng_potential_free(p);
  return rc;
}

int eng_potential_read(const char *path, eng_pot_style style, eng_potential **out) {
  FILE *f = fopen(path, "rb");
  char *buf = NULL;
  long n;
  int rc;
  *out = NULL;
  if (!f) return eng_set_error(ENG_EIO, "%s: cannot open: %s", path, strerror(errno));
  if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
    rc = eng_set_error(ENG_EIO, "%s: cannot read: %s", path, strerror(errno));
    goto out;
  }
  buf = eng__malloc((size_t)n + 1, 1);
  if (!buf) {
    rc = ENG_ENOMEM;
    goto out;
  }
  if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
    rc = eng_set_error(ENG_EIO, "%s: short read", path);
    goto out;
  }
  rc = eng_potential_read_buffer(buf, (size_t)n, path, style, out);
out:
  free(buf);
  fclose(f);
  return rc;
}

double eng_potential_cutoff(const eng_potential *p) { return p->cut; }
int eng_potential_nelements(const eng_potential *p) { return p->nel; }
const char *eng_potential_element(const eng_potential *p, int k) {
  return (k >= 0 && k < p->nel) ? p->name[k] : NULL;
}
double eng_potential_mass(const eng_potential *p, int k) {
  return (k >= 0 && k < p->nel) ? p->mass[k] : 0.0;
}
eng_pot_style eng_potential_style(const eng_potential *p) { return p->style; }
const char *eng_pot_style_name(eng_pot_style s) {
  switch (s) {
  case ENG_POT_EAM_ALLOY: return "eam/alloy";
  case ENG_POT_EAM_FS: return "eam/fs";
  case ENG_POT_EAM_FUNCFL: return "eam";
  default: return "auto";
  }
}

/* ------------------------------------------------------------------ */
/* Calculator                                                          */
/* ------------------------------------------------------------------ */

struct eng_calc {
  const eng_potential *pot;
  int natoms, ntypes;
  int *elem;        /* type -> potential element */
  int *aelem;       /* atom -> element (extended arrays: nall) */
  double skin, range, cutsq;
  eng__ghosts g;
  eng__list l;
  double *xbuild;   /* 3*natoms positions at the last build */
  eng_box boxbuild;
  int built;
  int nmaxshift;    /* largest |image shift| component */
  double *rho, *fp, *fx; /* nall, nall, 3*nall */
  double *ea;            /* natoms per-slot energies */
  int nallocated;
  /* In-range pairs of the current step (filled by pass 1): partner j and
   * four numbers per pair for pass 2, in eV/A^2 and eV:
   * rho_i'(r)/r, rho_j'(r)/r, phi'(r)/r, phi(r). */
  int *pj;
  double *pd;
  long *pend;
  long pcap;
  long ncompute, nbuild;
  /* Background density added to each atom's host density before the
   * embedding function (borrowed, caller's atom order; NULL: none), and
   * whether rho[] holds the densities of a completed compute. */
  const double *rho_bg;
  int have_rho;
  /* Threads: nchunk chunks of owned slots (boundaries cb[0..nchunk]);
   * chunks 1.. accumulate into private arrays of tcap atoms each. */
  int nchunk, tcap, split;
  int *cb;
  double *trho, *tfx, *tea;
  double *tsum; /* 8 per chunk: energy sum and compensation, virial */
  /* Frozen atoms (eng_calc_set_frozen; frz NULL: none).  The pairs of two
   * frozen atoms within the cutoff are summed once (ff_ok: still valid)
   * into rho_ff and ea_ff (caller's atom order: densities, half pair
   * energies) and e_ff; at each list build the other pairs go to the
   * active list (astart/anbr, same layout as l) that the computes walk.
   * Since session 11 a rebuild with the sums still valid lists only the
   * moving atoms' rows (frozen-moving pairs in the moving atom's row; the
   * first build after set_frozen or invalidate keeps them where the full
   * half list had them).
   * xfrz, ff_box: the positions and box the frozen sums were made at. */
  unsigned char *frz;
  unsigned char *act; /* natoms by owned slot: !frz (the list's active rows) */
  double *xfrz, *rho_ff, *ea_ff, e_ff;
  eng_box ff_box;
  int ff_ok;
  int ff_given; /* rho_ff given (eng_calc_set_frozen_density): never summed */
  long *astart;
  int *anbr;
  long acap;
  /* Analytic Hessian-vector products (eng__calc_hvp_prepare, session 14):
   * seven numbers per in-range pair of the last compute, by the pair's
   * index in pj (unit vector u = (x_j - x_i)/r, B = g'/r, A - B with
   * g = phi + F'_i rho_i + F'_j rho_j, and rho_i'(r), rho_j'(r)), F'' by
   * slot, and scratch by slot; hvp_at: ncompute they were made at (-1:
   * none). */
  double *hq, *hfpp, *hs, *hv, *hy;
  long hqcap;
  int hncap;
  long hvp_at;
};

int eng_calc_create(const eng_potential *pot, const eng_system *sys,
                    const eng_calc_opts *opts, eng_calc **out) {
  eng_calc *c = NULL;
  int rc, nel = pot->nel;
  *out = NULL;
  c = eng__calloc(1, sizeof *c);
  if (!c) return ENG_ENOMEM;
  c->pot = pot;
  c->hvp_at = -1;
  c->natoms = sys->natoms;
  c->ntypes = sys->ntypes;
  c->skin = (opts && opts->skin > 0) ? opts->skin : 1.0;
  c->range = pot->cut + c->skin;
  c->cutsq = pot->cut * pot->cut;
  c->elem = eng__malloc((size_t)sys->ntypes, sizeof *c->elem);
  c->xbuild = eng__malloc((size_t)sys->natoms * 3, sizeof *c->xbuild);
  c->pend = eng__malloc((size_t)sys->natoms + 1, sizeof *c->pend);
  c->ea = eng__malloc((size_t)sys->natoms + 1, sizeof *c->ea);
  if (!c->elem || !c->xbuild || !c->pend || !c->ea) {
    rc = ENG_ENOMEM;
    goto fail;
  }
  for (int t = 0; t < sys->ntypes; t++) {
    c->elem[t] = -1;
    for (int k = 0; k < nel; k++)
      if (strcmp(sys->type_name[t], pot->name[k]) == 0) c->elem[t] = k;
    if (c->elem[t] < 0) {
      int cnt = 0;
      for (int i = 0; i < sys->natoms; i++) cnt += sys->type[i] == t;
      if (cnt == 0) {
        c->elem[t] = 0; /* unused type: harmless */
        continue;
      }
      rc = eng_set_error(ENG_EINVAL,
                         "species '%s' (type %d) is not in the potential (elements:%s%s%s%s)",
                         sys->type_name[t][0] ? sys->type_name[t] : "<unnamed>", t + 1,
                         nel > 0 ? " " : "", nel > 0 ? pot->name[0] : "",
                         nel > 1 ? " " : "", nel > 1 ? pot->name[1] : "");
      goto fail;
    }
  }
  for (int i = 0; i < sys->natoms; i++)
    if (sys->type[i] < 0 || sys->type[i] >= sys->ntypes) {
      rc = eng_set_error(ENG_EINVAL, "atom %d has type %d outside 1..%d", i, sys->type[i] + 1,
                         sys->ntypes);
      goto fail;
    }
  *out = c;
  return ENG_OK;
fail:
  eng_calc_free(c);
  return rc;
}

void eng_calc_free(eng_calc *c) {
  if (!c) return;
  eng__ghosts_free(&c->g);
  eng__list_free(&c->l);
  free(c->elem);
  free(c->aelem);
  free(c->xbuild);
  free(c->rho);
  free(c->fp);
  free(c->fx);
  free(c->ea);
  free(c->pj);
  free(c->pd);
  free(c->pend);
  free(c->cb);
  free(c->trho);
  free(c->tfx);
  free(c->tea);
  free(c->tsum);
  free(c->frz);
  free(c->act);
  free(c->xfrz);
  free(c->rho_ff);
  free(c->ea_ff);
  free(c->astart);
  free(c->anbr);
  free(c->hq);
  free(c->hfpp);
  free(c->hs);
  free(c->hv);
  free(c->hy);
  free(c);
}

void eng_calc_fill_masses(const eng_calc *c, eng_system *sys) {
  for (int t = 0; t < sys->ntypes && t < c->ntypes; t++)
    if (!(sys->type_mass[t] > 0)) sys->type_mass[t] = c->pot->mass[c->elem[t]];
}

int eng_calc_set_density_offset(eng_calc *c, const double *rho_bg) {
  if (!c) return eng_set_error(ENG_EINVAL, "eam.c:%d: calculator must not be NULL", __LINE__);
  if (rho_bg)
    for (int i = 0; i < c->natoms; i++)
      if (!isfinite(rho_bg[i]))
        return eng_set_error(ENG_EINVAL, "eam.c:%d: background density of atom %d is not finite",
                             __LINE__, i);
  c->rho_bg = rho_bg;
  return ENG_OK;
}

int eng_calc_density(const eng_calc *c, double *rho) {
  if (!c || !rho)
    return eng_set_error(ENG_EINVAL, "eam.c:%d: calculator and output must not be NULL", __LINE__);
  if (!c->have_rho)
    return eng_set_error(ENG_EINVAL, "eam.c:%d: no completed eng_calc_compute to read densities from",
                         __LINE__);
  for (int k = 0; k < c->natoms; k++) rho[c->g.order[k]] = c->rho[k];
  return ENG_OK;
}

int eng_calc_set_frozen(eng_calc *c, const unsigned char *frozen) {
  if (!c) return eng_set_error(ENG_EINVAL, "eam.c:%d: calculator must not be NULL", __LINE__);
  if (!frozen) {
    free(c->frz);
    free(c->act);
    c->frz = c->act = NULL;
  } else {
    if (!c->frz) {
      c->frz = eng__malloc((size_t)c->natoms, 1);
      c->act = eng__malloc((size_t)c->natoms, 1);
      if (!c->frz || !c->act) {
        free(c->frz);
        free(c->act);
        c->frz = c->act = NULL;
        return ENG_ENOMEM;
      }
    }
    for (int i = 0; i < c->natoms; i++) c->frz[i] = frozen[i] != 0;
  }
  c->built = 0; /* the next compute rebuilds the lists and the frozen sums */
  c->ff_ok = 0;
  c->ff_given = 0;
  return ENG_OK;
}

/* The frozen-sum arrays rho_ff, ea_ff, xfrz of c (natoms each, xfrz 3
 * natoms); the sums are not valid yet (ff_ok 0).  ENG_ENOMEM (all NULL). */
static int frozen_alloc(eng_calc *c) {
  c->rho_ff = eng__malloc((size_t)c->natoms, sizeof *c->rho_ff);
  c->ea_ff = eng__malloc((size_t)c->natoms, sizeof *c->ea_ff);
  c->xfrz = eng__malloc((size_t)c->natoms * 3, sizeof *c->xfrz);
  c->ff_ok = 0;
  if (c->rho_ff && c->ea_ff && c->xfrz) return ENG_OK;
  free(c->rho_ff);
  free(c->ea_ff);
  free(c->xfrz);
  c->rho_ff = c->ea_ff = c->xfrz = NULL;
  return ENG_ENOMEM;
}

int eng_calc_set_frozen_density(eng_calc *c, const eng_system *sys, const double *rho) {
  if (!c || !sys || !rho)
    return eng_set_error(ENG_EINVAL, "eam.c:%d: calculator, system and densities must not be NULL", __LINE__);
  if (!c->frz)
    return eng_set_error(ENG_EINVAL, "eam.c:%d: frozen densities given but no atom is frozen", __LINE__);
  if (sys->natoms != c->natoms)
    return eng_set_error(ENG_EINVAL, "eam.c:%d: calculator made for %d atoms, system has %d", __LINE__,
                         c->natoms, sys->natoms);
  for (int i = 0; i < c->natoms; i++)
    if (c->frz[i] && !isfinite(rho[i]))
      return eng_set_error(ENG_EINVAL, "eam.c:%d: given density of frozen atom %d is not finite", __LINE__, i);
  if (!c->rho_ff && frozen_alloc(c)) {
    c->built = 0;
    return ENG_ENOMEM;
  }
  for (int i = 0; i < c->natoms; i++) c->rho_ff[i] = c->frz[i] ? rho[i] : 0.0;
  memset(c->ea_ff, 0, (size_t)c->natoms * sizeof *c->ea_ff);
  c->e_ff = 0.0;
  memcpy(c->xfrz, sys->x, (size_t)c->natoms * 3 * sizeof *c->xfrz);
  c->ff_box = sys->box;
  /* A list built while the sums were invalid is rebuilt (ff_ok == 0 implies
   * built == 0); one built with valid sums has the active pairs already,
   * unless a frozen atom is elsewhere now than at its build (need_rebuild
   * skips frozen atoms while the sums hold). */
  if (!c->ff_ok) c->built = 0;
  for (int i = 0; c->built && i < c->natoms; i++)
    if (c->frz[i] && memcmp(&sys->x[3 * i], &c->xbuild[3 * i], 3 * sizeof(double)) != 0) c->built = 0;
  c->ff_ok = 1;
  c->ff_given = 1;
  return ENG_OK;
}

long eng_calc_ncompute(const eng_calc *c) { return c->ncompute; }
long eng_calc_nbuild(const eng_calc *c) { return c->nbuild; }
void eng_calc_invalidate(eng_calc *c) {
  c->built = 0;
  if (!c->ff_given) c->ff_ok = 0; /* frozen sums too: the next compute depends on nothing before */
}
double eng_calc_cutoff(const eng_calc *c) { return c->pot->cut; }

static int box_valid(const eng_box *b) {
  for (int k = 0; k < 3; k++)
    if (!(b->len[k] > 0) || !isfinite(b->len[k]) || !isfinite(b->lo[k])) return 0;
  return isfinite(b->xy) && isfinite(b->xz) && isfinite(b->yz);
}

/* Does the list built at c->boxbuild / c->xbuild still hold every pair
 * within the cutoff?  An atom that jumped by a cell vector since the build
 * (wrapped by its caller) is not a move: its wrap image is adjusted so that
 * its extended position is unchanged, and it does not force a rebuild. */
static int need_rebuild(eng_calc *c, const eng_system *sys) {
  const eng_box *a = &c->boxbuild, *b = &sys->box;
  const double half2 = 0.25 * c->skin * c->skin;
  double dbox, maxd2 = 0.0;
  if (!c->built || c->natoms != sys->natoms) return 1;
  for (int k = 0; k < 3; k++)
    if (a->periodic[k] != b->periodic[k]) return 1;
  dbox = fabs(a->len[0] - b->len[0]) + fabs(a->len[1] - b->len[1]) +
         fabs(a->len[2] - b->len[2]) + fabs(a->xy - b->xy) + fabs(a->xz - b->xz) +
         fabs(a->yz - b->yz);
  dbox *= c->nmaxshift > 1 ? c->nmaxshift : 1;
  const int T = eng_get_threads();
  /* With valid frozen sums (checked just before: no frozen atom moved
   * since they were made, nor so since this list, built with them, was)
   * the frozen atoms are skipped. */
  const unsigned char *skip = c->frz && c->ff_ok ? c->frz : NULL;
  (void)T;
  /* Atoms are independent (each touches only its own xbuild and wimg). */
#pragma omp parallel for num_threads(T) if (T > 1 && sys->natoms > 4096) schedule(static) reduction(max : maxd2)
  for (int i = 0; i < sys->natoms; i++) {
    if (skip && skip[i]) continue;
    double *xb = &c->xbuild[3 * i];
    const double *xi = &sys->x[3 * i];
    double d[3] = {xi[0] - xb[0], xi[1] - xb[1], xi[2] - xb[2]};
    double dd = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
    if (dd > half2) {
      /* Jump by a cell vector?  n = the jump in cell units. */
      double s[3], o[3] = {b->lo[0] + d[0], b->lo[1] + d[1], b->lo[2] + d[2]};
      int n[3], any = 0;
      eng_box_to_frac(b, o, s);
      for (int k = 0; k < 3; k++) {
        n[k] = b->periodic[k] ? (int)nearbyint(s[k]) : 0;
        any |= n[k] != 0;
      }
      if (any) {
        double t[3];
        t[0] = n[0] * b->len[0] + n[1] * b->xy + n[2] * b->xz;
        t[1] = n[1] * b->len[1] + n[2] * b->yz;
        t[2] = n[2] * b->len[2];
        for (int k = 0; k < 3; k++) {
          xb[k] += t[k];
          c->g.wimg[3 * c->g.rank[i] + k] -= n[k];
          d[k] -= t[k];
        }
        dd = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
      }
    }
    if (dd > maxd2) maxd2 = dd;
  }
  return 2.0 * sqrt(maxd2) + dbox > c->skin;
}

/* Compensated (Kahan) running sum: *s + *cmp holds the sum far more
 * accurately than a plain double accumulator. */
static inline void ksum(double *s, double *cmp, double x) {
  const double y = x - *cmp;
  const double t = *s + y;
  *cmp = (t - *s) - y;
  *s = t;
}

/* The knot of pair-table row `row` (nr knots, 1/spacing rdr) for a pair at
 * distance r (A), and the position p in [0, 1] within it. */
static inline const struct knot *knot_at(const struct knot *row, int nr, double rdr, double r,
                                         double *p) {
  double q = r * rdr + 1.0;
  int m = (int)q;
  if (m > nr - 1) m = nr - 1;
  q -= m;
  *p = q > 1.0 ? 1.0 : q;
  return row + (m - 1);
}

/* Value of the cubic c[0] p^3 + c[1] p^2 + c[2] p + c[3]. */
static inline double cubic(const double *c, double p) { return ((c[0] * p + c[1]) * p + c[2]) * p + c[3]; }

/* Has a frozen atom moved (bitwise) since the frozen sums were made? */
static int frozen_moved(const eng_calc *c, const eng_system *sys) {
  for (int i = 0; i < c->natoms; i++)
    if (c->frz[i] && (sys->x[3 * i] != c->xfrz[3 * i] || sys->x[3 * i + 1] != c->xfrz[3 * i + 1] ||
                      sys->x[3 * i + 2] != c->xfrz[3 * i + 2]))
      return 1;
  return 0;
}

/* After a list build with frozen atoms: split the half list into the
 * pairs of two frozen atoms and the active list of every other pair.  The
 * frozen pairs are summed (densities rho_ff, half pair energies ea_ff,
 * pair energy e_ff, with the same table and arithmetic as the computes)
 * unless the sums are still valid (ff_ok: no frozen atom moved, same box,
 * same mask since they were made). */
static int frozen_prepare(eng_calc *c, const eng_system *sys) {
  const eng_potential *pot = c->pot;
  const int nlocal = c->l.nlocal, nel = pot->nel, nr = pot->nr;
  const double rdr = 1.0 / pot->dr;
  const int *owner = c->g.owner, *order = c->g.order, *ae = c->aelem;
  const double *x = c->g.x;
  double es = 0.0, ec = 0.0;
  long na = 0;
  int sum; /* 1: (re)make the frozen sums */
  assert(c->frz && c->built);
  if (c->acap < c->l.start[nlocal] + 1 || !c->astart) {
    long cap = c->l.start[nlocal] + c->l.start[nlocal] / 8 + 64;
    free(c->astart);
    free(c->anbr);
    c->astart = eng__malloc((size_t)c->natoms + 1, sizeof *c->astart);
    c->anbr = eng__malloc((size_t)cap, sizeof *c->anbr);
    c->acap = 0;
    if (!c->astart || !c->anbr) return ENG_ENOMEM;
    c->acap = cap;
  }
  if (!c->rho_ff && frozen_alloc(c)) return ENG_ENOMEM;
  sum = !c->ff_ok;
  if (sum) {
    memset(c->rho_ff, 0, (size_t)c->natoms * sizeof *c->rho_ff);
    memset(c->ea_ff, 0, (size_t)c->natoms * sizeof *c->ea_ff);
  }
  for (int i = 0; i < nlocal; i++) {
    const int fi = c->frz[order[i]];
    const struct knot *kti = c->pot->kt + (size_t)ae[i] * nel * nr;
    c->astart[i] = na;
    for (long q = c->l.start[i]; q < c->l.start[i + 1]; q++) {
      const int j = c->l.nbr[q];
      const int oi = order[i], oj = order[owner[j]];
      if (!fi || !c->frz[oj]) {
        c->anbr[na++] = j;
        continue;
      }
      if (!sum) continue;
      const double dx = x[3 * i] - x[3 * j], dy = x[3 * i + 1] - x[3 * j + 1],
                   dz = x[3 * i + 2] - x[3 * j + 2];
      const double rsq = dx * dx + dy * dy + dz * dz;
      if (rsq >= c->cutsq) continue;
      const double r = sqrt(rsq);
      double p;
      const struct knot *k = knot_at(kti + (size_t)ae[j] * nr, nr, rdr, r, &p);
      const double phi = cubic(k->z, p) / r;
      c->rho_ff[oi] += cubic(k->ri, p);
      c->rho_ff[oj] += cubic(k->rj, p);
      c->ea_ff[oi] += 0.5 * phi;
      c->ea_ff[oj] += 0.5 * phi;
      ksum(&es, &ec, phi);
    }
  }
  c->astart[nlocal] = na;
  if (sum) {
    c->e_ff = es - ec;
    memcpy(c->xfrz, sys->x, (size_t)c->natoms * 3 * sizeof *c->xfrz);
    c->ff_box = sys->box;
    c->ff_ok = 1;
  }
  return ENG_OK;
}

static int rebuild(eng_calc *c, const eng_system *sys) {
  double w[3];
  int rc;
  eng_box_widths(&sys->box, w);
  for (int k = 0; k < 3; k++)
    if (sys->box.periodic[k] && w[k] < c->pot->cut)
      return eng_set_error(ENG_EINVAL,
                           "box width %.4g A along cell vector %d is smaller than the "
                           "potential cutoff %.4g A",
                           w[k], k + 1, c->pot->cut);
  rc = eng__ghosts_build(&sys->box, sys->x, sys->natoms, c->range, 1, &c->g);
  if (rc) return rc;
  if (c->g.nall > c->nallocated) {
    int n = c->g.nall + c->g.nall / 8 + 16;
    free(c->rho);
    free(c->fp);
    free(c->fx);
    free(c->aelem);
    c->rho = eng__malloc((size_t)n, sizeof *c->rho);
    c->fp = eng__malloc((size_t)n, sizeof *c->fp);
    c->fx = eng__malloc((size_t)n * 3, sizeof *c->fx);
    c->aelem = eng__malloc((size_t)n, sizeof *c->aelem);
    c->nallocated = 0;
    if (!c->rho || !c->fp || !c->fx || !c->aelem) return ENG_ENOMEM;
    c->nallocated = n;
  }
  c->nmaxshift = 0;
  for (int j = 0; j < c->g.nall; j++) {
    c->aelem[j] = c->elem[sys->type[c->g.order[c->g.owner[j]]]];
    for (int k = 0; k < 3; k++) {
      int s = abs(c->g.shift[3 * j + k]);
      if (s > c->nmaxshift) c->nmaxshift = s;
    }
  }
  memcpy(c->xbuild, sys->x, (size_t)sys->natoms * 3 * sizeof *c->xbuild);
  c->boxbuild = sys->box;
  c->built = 1;
  c->split = 0; /* new list: new chunk boundaries */
  c->nbuild++;
  if (!c->frz || !c->ff_ok) {
    /* the full list (with frozen atoms: to make the frozen sums, and its
     * other pairs are the active list) */
    rc = eng__list_build(&c->g, c->range, 1, NULL, &c->l);
  } else {
    /* Frozen sums still valid: only the pairs with a moving atom, in the
     * rows of the moving atoms (session 11: a full list of a 16 A
     * refinement cluster, its frozen pairs included, cost as much as 4 of
     * its force calls, and the climbs and push-overs rebuild it 10-20
     * times an event). */
    for (int i = 0; i < c->natoms; i++) c->act[i] = !c->frz[c->g.order[i]];
    rc = eng__list_build(&c->g, c->range, 1, c->act, &c->l);
  }
  if (rc == ENG_OK && c->frz) rc = frozen_prepare(c, sys);
  return rc;
}

/* ------------------------------------------------------------------ */
/* Threads                                                             */
/* ------------------------------------------------------------------ */

/* Threads used by eng_calc_compute (the same for every calculator). */
static _Atomic int eng__threads = 1;
#define ENG_MAX_THREADS 256

int eng_set_threads(int n) {
  if (n > ENG_MAX_THREADS)
    return eng_set_error(ENG_EINVAL, "eam.c:%d: at most %d threads (asked for %d)", __LINE__,
                         ENG_MAX_THREADS, n);
  if (n <= 0) {
#ifdef _OPENMP
    n = omp_get_num_procs();
#else
    n = 1;
#endif
    if (n < 1) n = 1;
    if (n > ENG_MAX_THREADS) n = ENG_MAX_THREADS;
  }
  eng__threads = n;
  return ENG_OK;
}

int eng_get_threads(void) { return eng__threads; }

/* Split the owned slots into c->nchunk chunks of about equal pair counts:
 * chunk t is slots [cb[t], cb[t+1]).  Depends only on the list. */
static void chunks_split(eng_calc *c) {
  const int n = c->l.nlocal, T = c->nchunk;
  const long *start = c->frz ? c->astart : c->l.start;
  const double tot = (double)start[n];
  int i = 0;
  c->cb[0] = 0;
  for (int t = 1; t < T; t++) {
    const double want = tot * t / T;
    while (i < n && (double)start[i] < want) i++;
    c->cb[t] = i;
  }
  c->cb[T] = n;
}

/* Per-chunk work arrays for nchunk chunks of nall extended atoms; chunk 0
 * uses the calculator's own rho, fx, ea, chunks 1.. private copies. */
static int chunks_reserve(eng_calc *c, int T, int nall) {
  if (T != c->nchunk || nall > c->tcap) {
    int cap = nall > c->tcap ? nall + nall / 8 + 16 : c->tcap;
    size_t np = (size_t)(T > 1 ? T - 1 : 0) * (size_t)cap;
    free(c->trho);
    free(c->tfx);
    free(c->tea);
    free(c->cb);
    free(c->tsum);
    c->trho = c->tfx = c->tea = c->tsum = NULL;
    c->cb = NULL;
    c->nchunk = 0;
    c->tcap = 0;
    c->cb = eng__malloc((size_t)T + 1, sizeof *c->cb);
    c->tsum = eng__calloc((size_t)T * 8, sizeof *c->tsum);
    if (np) {
      c->trho = eng__malloc(np, sizeof *c->trho);
      c->tfx = eng__malloc(3 * np, sizeof *c->tfx);
      c->tea = eng__malloc(np, sizeof *c->tea);
    }
    if (!c->cb || !c->tsum || (np && (!c->trho || !c->tfx || !c->tea))) return ENG_ENOMEM;
    c->nchunk = T;
    c->tcap = cap;
    c->split = 0;
  }
  if (!c->split) {
    chunks_split(c);
    c->split = 1;
  }
  return ENG_OK;
}

int eng_calc_compute(eng_calc *c, const eng_system *sys, double *energy, double *f,
                     double *eatom, double virial[6]) {
  const eng_potential *pot = c->pot;
  const int nel = pot->nel, nlocal = sys->natoms;
  const double rdr = 1.0 / pot->dr, rdrho = 1.0 / pot->drho;
  const int nr = pot->nr, nrho = pot->nrho;
  const int T = eng_get_threads();
  const int want_v = virial != NULL, want_ea = eatom != NULL;
  int rc, nall;

  if (sys->natoms != c->natoms)
    return eng_set_error(ENG_EINVAL, "calculator made for %d atoms, system has %d",
                         c->natoms, sys->natoms);
  if (!box_valid(&sys->box))
    return eng_set_error(ENG_EINVAL, "box has a non-positive or non-finite length");
  if (c->frz && want_v)
    return eng_set_error(ENG_EINVAL, "eam.c:%d: no virial with frozen atoms (eng_calc_set_frozen)",
                         __LINE__);
  c->have_rho = 0;
  if (c->frz && c->ff_ok &&
      (!eng__box_same(&c->ff_box, &sys->box) || frozen_moved(c, sys))) {
    if (c->ff_given)
      return eng_set_error(ENG_EINVAL, "eam.c:%d: a frozen atom moved (or the box changed) after its density "
                           "was given (eng_calc_set_frozen_density)", __LINE__);
    c->built = 0;
    c->ff_ok = 0;
  }
  if (need_rebuild(c, sys)) {
    rc = rebuild(c, sys);
    if (rc) {
      c->built = 0;
      return rc;
    }
  } else {
    eng__ghosts_update(&c->g, &sys->box, sys->x);
  }
  c->ncompute++;
  nall = c->g.nall;
  /* In-range pairs of slot i go to [start[i], pend[i]) of pj/pr, so that
   * chunks fill them independently. */
  if (c->pcap < c->l.start[nlocal] + 1) {
    long cap = c->l.start[nlocal] + c->l.start[nlocal] / 8 + 64;
    free(c->pj);
    free(c->pd);
    c->pj = eng__malloc((size_t)cap, sizeof *c->pj);
    c->pd = eng__malloc((size_t)cap * 4, sizeof *c->pd);
    c->pcap = 0;
    if (!c->pj || !c->pd) return ENG_ENOMEM;
    c->pcap = cap;
  }
  rc = chunks_reserve(c, T, nall);
  if (rc) return rc;

  /* Every chunk t accumulates into its own arrays (t = 0: the calculator's)
   * in a fixed order, and the chunks are summed in order t = 0, 1, ...: the
   * result depends on T but not on the scheduling. */
#pragma omp parallel num_threads(T) if (T > 1)
  {
    const double *x = c->g.x;
    const long *start = c->frz ? c->astart : c->l.start;
    const int *nbr = c->frz ? c->anbr : c->l.nbr, *ae = c->aelem, *owner = c->g.owner;
    const double cutsq = c->cutsq;
    int *pj = c->pj;
    double *pd = c->pd;
    long *pend = c->pend;

    /* Pass 1: densities; remember the pairs within the cutoff with the
     * radial derivatives pass 2 needs (from the same knot: the table is
     * read once per pair). */
#pragma omp for schedule(static, 1)
    for (int t = 0; t < T; t++) {
      double *rho = t == 0 ? c->rho : c->trho + (size_t)(t - 1) * c->tcap;
      memset(rho, 0, (size_t)nall * sizeof *rho);
      if (t == 0 && c->frz)
        for (int k = 0; k < nlocal; k++) rho[k] = c->rho_ff[c->g.order[k]];
      for (int i = c->cb[t]; i < c->cb[t + 1]; i++) {
        const double xi = x[3 * i], yi = x[3 * i + 1], zi = x[3 * i + 2];
        const struct knot *kti = c->pot->kt + (size_t)ae[i] * nel * nr;
        double rhoi = 0.0;
        long np = start[i];
        /* First the row's pairs within the cutoff (j, and r parked in
         * pd[4 np + 2]) with a prefetch of each pair's knot: the table
         * (megabytes) is read at random, and the misses of a whole row
         * overlap instead of stalling one pair at a time. */
        for (long q = start[i]; q < start[i + 1]; q++) {
          const int j = nbr[q];
          const double dx = xi - x[3 * j], dy = yi - x[3 * j + 1], dz = zi - x[3 * j + 2];
          const double rsq = dx * dx + dy * dy + dz * dz;
          const double r = sqrt(rsq);
          int m = (int)(r * rdr + 1.0);
          if (m > nr - 1) m = nr - 1;
          const char *k = (const char *)(kti + (size_t)ae[j] * nr + (m - 1));
          __builtin_prefetch(k);
          __builtin_prefetch(k + sizeof(struct knot) - 1);
          /* Stored always, kept only within the cutoff: a branch here
           * would be mispredicted for a good part of the skin's pairs
           * (-13 % CPU of an ARTn sweep, session 17). */
          pj[np] = j;
          pd[4 * np + 2] = r;
          np += rsq < cutsq;
        }
        for (long q = start[i]; q < np; q++) {
          const int j = pj[q];
          double *d = pd + 4 * q;
          const double r = d[2];
          double p;
          const struct knot *k = knot_at(kti + (size_t)ae[j] * nr, nr, rdr, r, &p);
          const double *a = k->ri, *b = k->rj, *z = k->z;
          rhoi += cubic(a, p);
          rho[j] += cubic(b, p);
          /* d/dr of a cubic in p = r/dr + 1 - m: (3c0 p^2 + 2c1 p + c2)/dr */
          const double recip = 1.0 / r, sc = rdr * recip;
          const double z2 = cubic(z, p);
          const double z2p = ((3.0 * z[0] * p + 2.0 * z[1]) * p + z[2]) * rdr;
          const double phi = z2 * recip;
          d[0] = ((3.0 * a[0] * p + 2.0 * a[1]) * p + a[2]) * sc;
          d[1] = ((3.0 * b[0] * p + 2.0 * b[1]) * p + b[2]) * sc;
          d[2] = (z2p - phi) * recip * recip;
          d[3] = phi;
        }
        rho[i] += rhoi;
        pend[i] = np;
      }
    }
    /* Sum the chunks, then fold ghosts onto their owners. */
    if (T > 1) {
#pragma omp for schedule(static)
      for (int j = 0; j < nall; j++) {
        double s = c->rho[j];
        for (int t = 1; t < T; t++) s += c->trho[(size_t)(t - 1) * c->tcap + j];
        c->rho[j] = s;
      }
    }
#pragma omp single
    for (int j = nlocal; j < nall; j++) c->rho[owner[j]] += c->rho[j];

    /* Embedding energies and F'(rho), the background density (if any)
     * added to the host density first (rho[] then holds the total). */
#pragma omp for schedule(static, 1)
    for (int t = 0; t < T; t++) {
      double *ea = t == 0 ? c->ea : c->tea + (size_t)(t - 1) * c->tcap;
      const double *bg = c->rho_bg;
      const int *order = c->g.order;
      double es = 0.0, ec = 0.0;
      if (want_ea) memset(ea, 0, (size_t)nlocal * sizeof *ea);
      for (int i = c->cb[t]; i < c->cb[t + 1]; i++) {
        double rhoi = c->rho[i];
        if (bg) {
          rhoi += bg[order[i]];
          c->rho[i] = rhoi;
        }
        const eng__coef *tab = pot->frho + (size_t)ae[i] * nrho;
        double p = rhoi * rdrho + 1.0;
        int m = (int)p;
        if (m < 1) m = 1;
        if (m > nrho - 1) m = nrho - 1;
        p -= m;
        if (p > 1.0) p = 1.0;
        const double *co = tab[m - 1];
        const double fpi = (co[0] * p + co[1]) * p + co[2];
        double phi = ((co[3] * p + co[4]) * p + co[5]) * p + co[6];
        if (rhoi > pot->rhomax) phi += fpi * (rhoi - pot->rhomax);
        c->fp[i] = fpi;
        ksum(&es, &ec, phi);
        if (want_ea) ea[i] = phi;
      }
      c->tsum[8 * t] = es;
      c->tsum[8 * t + 1] = ec;
    }
#pragma omp for schedule(static)
    for (int j = nlocal; j < nall; j++) c->fp[j] = c->fp[owner[j]];

    /* Pass 2: forces over the pairs found in pass 1. */
#pragma omp for schedule(static, 1)
    for (int t = 0; t < T; t++) {
      double *fx = t == 0 ? c->fx : c->tfx + (size_t)(t - 1) * 3 * c->tcap;
      double *ea = t == 0 ? c->ea : c->tea + (size_t)(t - 1) * c->tcap;
      const double *fp = c->fp;
      double es = c->tsum[8 * t], ec = c->tsum[8 * t + 1];
      double v0 = 0, v1 = 0, v2 = 0, v3 = 0, v4 = 0, v5 = 0;
      memset(fx, 0, (size_t)nall * 3 * sizeof *fx);
      for (int i = c->cb[t]; i < c->cb[t + 1]; i++) {
        const double xi = x[3 * i], yi = x[3 * i + 1], zi = x[3 * i + 2];
        const double fpi = fp[i];
        double fxi = 0, fyi = 0, fzi = 0, erow = 0;
        for (long q = start[i]; q < pend[i]; q++) {
          const int j = pj[q];
          const double *d = pd + 4 * q;
          const double dx = xi - x[3 * j], dy = yi - x[3 * j + 1], dz = zi - x[3 * j + 2];
          const double phi = d[3];
          /* -(dE/dr)/r: embedding terms of both atoms plus the pair term */
          const double fpair = -(fpi * d[0] + fp[j] * d[1] + d[2]);
          fxi += dx * fpair;
          fyi += dy * fpair;
          fzi += dz * fpair;
          fx[3 * j] -= dx * fpair;
          fx[3 * j + 1] -= dy * fpair;
          fx[3 * j + 2] -= dz * fpair;
          erow += phi;
          if (want_ea) {
            ea[i] += 0.5 * phi;
            ea[j < nlocal ? j : owner[j]] += 0.5 * phi;
          }
          if (want_v) {
            v0 += dx * dx * fpair;
            v1 += dy * dy * fpair;
            v2 += dz * dz * fpair;
            v3 += dx * dy * fpair;
            v4 += dx * dz * fpair;
            v5 += dy * dz * fpair;
          }
        }
        fx[3 * i] += fxi;
        fx[3 * i + 1] += fyi;
        fx[3 * i + 2] += fzi;
        ksum(&es, &ec, erow);
      }
      c->tsum[8 * t] = es;
      c->tsum[8 * t + 1] = ec;
      c->tsum[8 * t + 2] = v0;
      c->tsum[8 * t + 3] = v1;
      c->tsum[8 * t + 4] = v2;
      c->tsum[8 * t + 5] = v3;
      c->tsum[8 * t + 6] = v4;
      c->tsum[8 * t + 7] = v5;
    }
    if (T > 1) {
#pragma omp for schedule(static)
      for (long j = 0; j < 3L * nall; j++) {
        double s = c->fx[j];
        for (int t = 1; t < T; t++) s += c->tfx[(size_t)(t - 1) * 3 * c->tcap + j];
        c->fx[j] = s;
      }
      if (want_ea) {
#pragma omp for schedule(static)
        for (int j = 0; j < nlocal; j++) {
          double s = c->ea[j];
          for (int t = 1; t < T; t++) s += c->tea[(size_t)(t - 1) * c->tcap + j];
          c->ea[j] = s;
        }
      }
    }
  }

  {
    double *fx = c->fx;
    const int *owner = c->g.owner;
    double es = 0.0, ec = 0.0, v[6] = {0, 0, 0, 0, 0, 0};
    for (int j = nlocal; j < nall; j++) {
      const int o = owner[j];
      fx[3 * o] += fx[3 * j];
      fx[3 * o + 1] += fx[3 * j + 1];
      fx[3 * o + 2] += fx[3 * j + 2];
    }
    for (int t = 0; t < T; t++) {
      ksum(&es, &ec, c->tsum[8 * t]);
      ksum(&es, &ec, -c->tsum[8 * t + 1]);
      for (int k = 0; k < 6; k++) v[k] += c->tsum[8 * t + 2 + k];
    }
    if (c->frz) ksum(&es, &ec, c->e_ff);
    /* Back from spatially sorted slots to the caller's atom order. */
    if (f)
      for (int k = 0; k < nlocal; k++) {
        const int i = c->g.order[k];
        const int z = c->frz && c->frz[i]; /* frozen: pairs with each other skipped */
        f[3 * i] = z ? 0.0 : fx[3 * k];
        f[3 * i + 1] = z ? 0.0 : fx[3 * k + 1];
        f[3 * i + 2] = z ? 0.0 : fx[3 * k + 2];
      }
    if (eatom)
      for (int k = 0; k < nlocal; k++)
        eatom[c->g.order[k]] = c->ea[k] + (c->frz ? c->ea_ff[c->g.order[k]] : 0.0);
    if (energy) *energy = es;
    if (virial)
      for (int k = 0; k < 6; k++) virial[k] = v[k];
  }
  c->have_rho = 1;
  return ENG_OK;
}

/* ------------------------------------------------------------------ */
/* Analytic Hessian-vector products (eam_int.h)                        */
/* ------------------------------------------------------------------ */

/* Contract in eam_int.h.  For each in-range pair of the last compute
 * (slot i, partner j, r = |x_j - x_i|, u = (x_j - x_i)/r) the radial
 * function g = phi + F'_i rho_i + F'_j rho_j gives the pair block
 * K = (A - B) u u^T + B 1, A = g'', B = g'/r (hessian.c's K[g] with the
 * embedding derivatives of this compute); rho_i'(r), rho_j'(r) give the
 * density gradients of the F'' term.  Same knots and clamping as the force
 * loop and eng__calc_pair. */
int eng__calc_hvp_prepare(eng_calc *c) {
  const eng_potential *pot = c->pot;
  const int nlocal = c->natoms, nall = c->g.nall, nel = pot->nel, nr = pot->nr;
  const double rdr = 1.0 / pot->dr;
  const long *start = c->frz ? c->astart : c->l.start;
  const double *x = c->g.x;
  if (!c->have_rho)
    return eng_set_error(ENG_EINVAL, "eam.c:%d: no completed eng_calc_compute to build Hessian products at",
                         __LINE__);
  if (c->hqcap < start[nlocal] + 1) {
    long cap = c->pcap > start[nlocal] + 1 ? c->pcap : start[nlocal] + 1;
    free(c->hq);
    c->hqcap = 0;
    c->hq = eng__malloc((size_t)cap * 7, sizeof *c->hq);
    if (!c->hq) return ENG_ENOMEM;
    c->hqcap = cap;
  }
  if (c->hncap < nall) {
    free(c->hfpp);
    free(c->hs);
    free(c->hv);
    free(c->hy);
    c->hncap = 0;
    c->hfpp = eng__malloc((size_t)nall, sizeof *c->hfpp);
    c->hs = eng__malloc((size_t)nall, sizeof *c->hs);
    c->hv = eng__malloc((size_t)nall * 3, sizeof *c->hv);
    c->hy = eng__malloc((size_t)nall * 3, sizeof *c->hy);
    if (!c->hfpp || !c->hs || !c->hv || !c->hy) return ENG_ENOMEM;
    c->hncap = nall;
  }
  /* F''(rho) of the owned slots (rho[] holds the total density, background
   * included), copied to the images. */
  for (int i = 0; i < nlocal; i++) {
    double F, dF;
    eng__calc_embed(c, c->aelem[i], c->rho[i], &F, &dF, &c->hfpp[i]);
  }
  for (int j = nlocal; j < nall; j++) c->hfpp[j] = c->hfpp[c->g.owner[j]];
  for (int i = 0; i < nlocal; i++) {
    const double xi = x[3 * i], yi = x[3 * i + 1], zi = x[3 * i + 2], fpi = c->fp[i];
    const struct knot *kti = c->pot->kt + (size_t)c->aelem[i] * nel * nr;
    /* First the row's separations (parked in the pair's slots) with a
     * prefetch of each knot, as the force loop does. */
    for (long q = start[i]; q < c->pend[i]; q++) {
      const int j = c->pj[q];
      double *h = c->hq + 7 * q;
      h[0] = x[3 * j] - xi;
      h[1] = x[3 * j + 1] - yi;
      h[2] = x[3 * j + 2] - zi;
      h[3] = sqrt(h[0] * h[0] + h[1] * h[1] + h[2] * h[2]);
      int m = (int)(h[3] * rdr + 1.0);
      if (m > nr - 1) m = nr - 1;
      const char *k = (const char *)(kti + (size_t)c->aelem[j] * nr + (m - 1));
      __builtin_prefetch(k);
      __builtin_prefetch(k + sizeof(struct knot) - 1);
    }
    for (long q = start[i]; q < c->pend[i]; q++) {
      const int j = c->pj[q];
      const double *hh = c->hq + 7 * q;
      const double dx = hh[0], dy = hh[1], dz = hh[2];
      const double r = hh[3], recip = 1.0 / r, fpj = c->fp[j];
      double qq = r * rdr + 1.0, p;
      int m = (int)qq;
      if (m > nr - 1) m = nr - 1;
      qq -= m;
      const int clamped = qq > 1.0;
      p = clamped ? 1.0 : qq;
      const struct knot *k = kti + (size_t)c->aelem[j] * nr + (m - 1);
      const double *a = k->ri, *b = k->rj, *z = k->z;
      const double d2s = clamped ? 0.0 : rdr * rdr;
      const double ri1 = ((3.0 * a[0] * p + 2.0 * a[1]) * p + a[2]) * rdr;
      const double rj1 = ((3.0 * b[0] * p + 2.0 * b[1]) * p + b[2]) * rdr;
      const double ri2 = (6.0 * a[0] * p + 2.0 * a[1]) * d2s;
      const double rj2 = (6.0 * b[0] * p + 2.0 * b[1]) * d2s;
      const double z0 = cubic(z, p), z1 = ((3.0 * z[0] * p + 2.0 * z[1]) * p + z[2]) * rdr;
      const double z2 = (6.0 * z[0] * p + 2.0 * z[1]) * d2s;
      const double phi = z0 * recip, phi1 = (z1 - phi) * recip, phi2 = (z2 - 2.0 * phi1) * recip;
      const double g1 = phi1 + fpi * ri1 + fpj * rj1, g2 = phi2 + fpi * ri2 + fpj * rj2;
      double *h = c->hq + 7 * q;
      h[0] = dx * recip;
      h[1] = dy * recip;
      h[2] = dz * recip;
      h[3] = g1 * recip;
      h[4] = g2 - g1 * recip;
      h[5] = ri1;
      h[6] = rj1;
    }
  }
  c->hvp_at = c->ncompute;
  return ENG_OK;
}

/* Contract in eam_int.h. */
int eng__calc_hvp(eng_calc *c, const double *v, double *y) {
  const int nlocal = c->natoms, nall = c->g.nall;
  const long *start = c->frz ? c->astart : c->l.start;
  const int *order = c->g.order, *owner = c->g.owner;
  double *hv = c->hv, *hy = c->hy, *hs = c->hs;
  if (c->hvp_at < 0 || c->hvp_at != c->ncompute)
    return eng_set_error(ENG_EINVAL, "eam.c:%d: Hessian products not prepared at the last compute", __LINE__);
  for (int k = 0; k < nlocal; k++) {
    const int i = order[k];
    const int z = c->frz && c->frz[i];
    for (int d = 0; d < 3; d++) hv[3 * k + d] = z ? 0.0 : v[3 * i + d];
  }
  for (int j = nlocal; j < nall; j++)
    for (int d = 0; d < 3; d++) hv[3 * j + d] = hv[3 * owner[j] + d];
  memset(hy, 0, (size_t)nall * 3 * sizeof *hy);
  memset(hs, 0, (size_t)nall * sizeof *hs);
  /* Pass 1: the pair blocks, and s_k = g_k . v (g_k = d rho_k / dx). */
  for (int i = 0; i < nlocal; i++) {
    const double vxi = hv[3 * i], vyi = hv[3 * i + 1], vzi = hv[3 * i + 2];
    double yxi = 0.0, yyi = 0.0, yzi = 0.0, si = 0.0;
    for (long q = start[i]; q < c->pend[i]; q++) {
      const int j = c->pj[q];
      const double *h = c->hq + 7 * q;
      const double dx = hv[3 * j] - vxi, dy = hv[3 * j + 1] - vyi, dz = hv[3 * j + 2] - vzi;
      const double ud = h[0] * dx + h[1] * dy + h[2] * dz;
      const double wx = h[3] * dx + h[4] * ud * h[0], wy = h[3] * dy + h[4] * ud * h[1],
                   wz = h[3] * dz + h[4] * ud * h[2];
      yxi -= wx;
      yyi -= wy;
      yzi -= wz;
      hy[3 * j] += wx;
      hy[3 * j + 1] += wy;
      hy[3 * j + 2] += wz;
      si += h[5] * ud;
      hs[j] += h[6] * ud;
    }
    hy[3 * i] += yxi;
    hy[3 * i + 1] += yyi;
    hy[3 * i + 2] += yzi;
    hs[i] += si;
  }
  for (int j = nlocal; j < nall; j++) hs[owner[j]] += hs[j];
  /* t_k = F''_k s_k, on the images too */
  for (int k = 0; k < nlocal; k++) hs[k] *= c->hfpp[k];
  for (int j = nlocal; j < nall; j++) hs[j] = hs[owner[j]];
  /* Pass 2: F''_k s_k g_k. */
  for (int i = 0; i < nlocal; i++) {
    const double ti = hs[i];
    double yxi = 0.0, yyi = 0.0, yzi = 0.0;
    for (long q = start[i]; q < c->pend[i]; q++) {
      const int j = c->pj[q];
      const double *h = c->hq + 7 * q;
      const double tt = ti * h[5] + hs[j] * h[6];
      yxi -= tt * h[0];
      yyi -= tt * h[1];
      yzi -= tt * h[2];
      hy[3 * j] += tt * h[0];
      hy[3 * j + 1] += tt * h[1];
      hy[3 * j + 2] += tt * h[2];
    }
    hy[3 * i] += yxi;
    hy[3 * i + 1] += yyi;
    hy[3 * i + 2] += yzi;
  }
  for (int j = nlocal; j < nall; j++)
    for (int d = 0; d < 3; d++) hy[3 * owner[j] + d] += hy[3 * j + d];
  for (int k = 0; k < nlocal; k++) {
    const int i = order[k];
    const int z = c->frz && c->frz[i];
    for (int d = 0; d < 3; d++) y[3 * i + d] = z ? 0.0 : hy[3 * k + d];
  }
  return ENG_OK;
}

/* ------------------------------------------------------------------ */
/* Single evaluations with second derivatives (eam_int.h)              */
/* ------------------------------------------------------------------ */

/* Value, first and second derivative of table t at x (spacing delta). */
static void table_eval(const eng__coef *t, int n, double delta, double x, double *f,
                       double *df, double *d2f) {
  double p = x / delta + 1.0;
  int m = (int)p;
  if (m < 1) m = 1;
  if (m > n - 1) m = n - 1;
  p -= m;
  /* Beyond the last knot the force loop's slope is constant: no curvature. */
  const int clamped = p > 1.0;
  if (clamped) p = 1.0;
  const double *co = t[m - 1];
  *f = ((co[3] * p + co[4]) * p + co[5]) * p + co[6];
  *df = (co[0] * p + co[1]) * p + co[2];
  *d2f = clamped ? 0.0 : (2.0 * co[0] * p + co[1]) / delta;
}

void eng__calc_pair(const eng_calc *c, int a, int b, double r, eng__pairfn *o) {
  const eng_potential *p = c->pot;
  double z, dz, d2z;
  memset(o, 0, sizeof *o);
  if (!(r < p->cut) || !(r > 0)) return;
  table_eval(rho_table(p, a, b), p->nr, p->dr, r, &o->rhoi, &o->drhoi, &o->d2rhoi);
  table_eval(rho_table(p, b, a), p->nr, p->dr, r, &o->rhoj, &o->drhoj, &o->d2rhoj);
  table_eval(p->z2r + (size_t)zidx(a, b) * p->nr, p->nr, p->dr, r, &z, &dz, &d2z);
  o->phi = z / r;
  o->dphi = dz / r - z / (r * r);
  o->d2phi = d2z / r - 2.0 * dz / (r * r) + 2.0 * z / (r * r * r);
}

void eng__calc_embed(const eng_calc *c, int e, double rho, double *F, double *dF,
                     double *d2F) {
  const eng_potential *p = c->pot;
  table_eval(p->frho + (size_t)e * p->nrho, p->nrho, p->drho, rho, F, dF, d2F);
  if (rho > p->rhomax) {
    *F += *dF * (rho - p->rhomax);
    *d2F = 0.0;
  }
}

int eng__calc_elem(const eng_calc *c, int type) {
  assert(type >= 0 && type < c->ntypes);
  return c->elem[type];
}
