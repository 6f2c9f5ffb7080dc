/*
 * system.c -- periodic boxes (orthogonal and restricted triclinic) and the
 * eng_system container: allocation, copying, per-atom properties, masses.
 */
#include "internal.h"

#include <math.h>
#include <string.h>

int eng__box_same(const eng_box *a, const eng_box *b) {
  for (int k = 0; k < 3; k++)
    if (a->lo[k] != b->lo[k] || a->len[k] != b->len[k] || a->periodic[k] != b->periodic[k]) return 0;
  return a->xy == b->xy && a->xz == b->xz && a->yz == b->yz;
}

double eng_box_volume(const eng_box *b) {
  return b->len[0] * b->len[1] * b->len[2];
}

int eng_box_is_triclinic(const eng_box *b) {
  return b->xy != 0.0 || b->xz != 0.0 || b->yz != 0.0;
}

void eng_box_to_frac(const eng_box *b, const double x[3], double s[3]) {
  double dx = x[0] - b->lo[0], dy = x[1] - b->lo[1], dz = x[2] - b->lo[2];
  s[2] = dz / b->len[2];
  s[1] = (dy - s[2] * b->yz) / b->len[1];
  s[0] = (dx - s[1] * b->xy - s[2] * b->xz) / b->len[0];
}

void eng_box_from_frac(const eng_box *b, const double s[3], double x[3]) {
  x[0] = b->lo[0] + s[0] * b->len[0] + s[1] * b->xy + s[2] * b->xz;
  x[1] = b->lo[1] + s[1] * b->len[1] + s[2] * b->yz;
  x[2] = b->lo[2] + s[2] * b->len[2];
}

void eng_box_minimum_image(const eng_box *b, double d[3]) {
  /* Reduce along c, then b, then a, as the cell is upper triangular. */
  if (b->periodic[2]) {
    double n = nearbyint(d[2] / b->len[2]);
    if (n != 0.0) {
      d[0] -= n * b->xz;
      d[1] -= n * b->yz;
      d[2] -= n * b->len[2];
    }
  }
  if (b->periodic[1]) {
    double n = nearbyint(d[1] / b->len[1]);
    if (n != 0.0) {
      d[0] -= n * b->xy;
      d[1] -= n * b->len[1];
    }
  }
  if (b->periodic[0]) {
    double n = nearbyint(d[0] / b->len[0]);
    if (n != 0.0) d[0] -= n * b->len[0];
  }
}

void eng_box_wrap(const eng_box *b, double x[3], int image[3]) {
  double s[3];
  int changed = 0;
  eng_box_to_frac(b, x, s);
  for (int k = 0; k < 3; k++) {
    if (!b->periodic[k]) continue;
    double n = floor(s[k]);
    if (n != 0.0) {
      s[k] -= n;
      if (s[k] >= 1.0) s[k] = 0.0; /* round-off guard */
      if (image) image[k] += (int)n;
      changed = 1;
    }
  }
  if (changed) eng_box_from_frac(b, s, x);
}

void eng_box_widths(const eng_box *b, double w[3]) {
  double lx = b->len[0], ly = b->len[1], lz = b->len[2];
  double v = lx * ly * lz;
  double bc = sqrt(eng__sq(ly * lz) + eng__sq(b->xy * lz) +
                   eng__sq(b->xy * b->yz - ly * b->xz));
  w[0] = v / bc;
  w[1] = ly * lz / sqrt(lz * lz + b->yz * b->yz);
  w[2] = lz;
}

eng_system *eng_system_create(int natoms, int ntypes) {
  eng_system *s = NULL;
  if (natoms < 0 || ntypes < 1) {
    eng_set_error(ENG_EINVAL, "system needs natoms >= 0 and ntypes >= 1");
    return NULL;
  }
  s = eng__calloc(1, sizeof *s);
  if (!s) return NULL;
  s->natoms = natoms;
  s->ntypes = ntypes;
  s->type_name = eng__calloc((size_t)ntypes, sizeof *s->type_name);
  s->type_mass = eng__calloc((size_t)ntypes, sizeof *s->type_mass);
  s->id = eng__calloc((size_t)natoms, sizeof *s->id);
  s->type = eng__calloc((size_t)natoms, sizeof *s->type);
  s->x = eng__calloc((size_t)natoms * 3, sizeof *s->x);
  if (!s->type_name || !s->type_mass || !s->id || !s->type || !s->x) goto fail;
  for (int i = 0; i < natoms; i++) s->id[i] = i + 1;
  for (int k = 0; k < 3; k++) s->box.periodic[k] = 1;
  return s;
fail:
  eng_system_free(s);
  return NULL;
}

static void prop_release(eng_prop *p, int natoms) {
  if (p->str) {
    for (long k = 0; k < (long)natoms * p->ncomp; k++) free(p->str[k]);
    free(p->str);
  }
  free(p->val);
  p->str = NULL;
  p->val = NULL;
}

void eng_system_free(eng_system *s) {
  if (!s) return;
  for (int k = 0; k < s->nprops; k++) prop_release(&s->props[k], s->natoms);
  free(s->props);
  free(s->type_name);
  free(s->type_mass);
  free(s->id);
  free(s->type);
  free(s->x);
  free(s->v);
  free(s->image);
  free(s);
}

static int dup_array(void **dst, const void *src, size_t n, size_t size) {
  *dst = NULL;
  if (!src) return ENG_OK;
  *dst = eng__malloc(n, size);
  if (!*dst) return ENG_ENOMEM;
  memcpy(*dst, src, n * size);
  return ENG_OK;
}

eng_system *eng_system_copy(const eng_system *src) {
  eng_system *s = eng_system_create(src->natoms, src->ntypes);
  size_t n = (size_t)src->natoms;
  if (!s) return NULL;
  memcpy(s->type_name, src->type_name, (size_t)src->ntypes * sizeof *s->type_name);
  memcpy(s->type_mass, src->type_mass, (size_t)src->ntypes * sizeof *s->type_mass);
  memcpy(s->id, src->id, n * sizeof *s->id);
  memcpy(s->type, src->type, n * sizeof *s->type);
  memcpy(s->x, src->x, 3 * n * sizeof *s->x);
  s->box = src->box;
  if (dup_array((void **)&s->v, src->v, 3 * n, sizeof *s->v)) goto fail;
  if (dup_array((void **)&s->image, src->image, 3 * n, sizeof *s->image)) goto fail;
  for (int k = 0; k < src->nprops; k++) {
    const eng_prop *sp = &src->props[k];
    eng_prop *dp;
    if (eng_system_add_prop(s, sp->name, sp->kind, sp->ncomp, &dp)) goto fail;
    size_t m = n * (size_t)sp->ncomp;
    if (sp->kind == ENG_PROP_STR) {
      for (size_t j = 0; j < m; j++) {
        if (!sp->str[j]) continue;
        dp->str[j] = strdup(sp->str[j]);
        if (!dp->str[j]) goto fail;
      }
    } else {
      memcpy(dp->val, sp->val, m * sizeof *dp->val);
    }
  }
  return s;
fail:
  eng_system_free(s);
  return NULL;
}

int eng_system_alloc_velocities(eng_system *s) {
  if (s->v) return ENG_OK;
  s->v = eng__calloc((size_t)s->natoms * 3, sizeof *s->v);
  return s->v ? ENG_OK : ENG_ENOMEM;
}

int eng_system_alloc_images(eng_system *s) {
  if (s->image) return ENG_OK;
  s->image = eng__calloc((size_t)s->natoms * 3, sizeof *s->image);
  return s->image ? ENG_OK : ENG_ENOMEM;
}

eng_prop *eng_system_find_prop(const eng_system *s, const char *name) {
  for (int k = 0; k < s->nprops; k++)
    if (strcmp(s->props[k].name, name) == 0) return &s->props[k];
  return NULL;
}

int eng_system_add_prop(eng_system *s, const char *name, int kind, int ncomp,
                        eng_prop **out) {
  eng_prop *p, *grown;
  size_t m;
  if (!name || !*name || strlen(name) >= sizeof p->name || ncomp < 1 ||
      kind < ENG_PROP_REAL || kind > ENG_PROP_STR)
    return eng_set_error(ENG_EINVAL, "bad per-atom property '%s'", name ? name : "");
  p = eng_system_find_prop(s, name);
  if (p) {
    prop_release(p, s->natoms);
  } else {
    grown = eng__realloc(s->props, (size_t)s->nprops + 1, sizeof *s->props);
    if (!grown) return ENG_ENOMEM;
    s->props = grown;
    p = &s->props[s->nprops++];
  }
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "%s", name);
  p->kind = kind;
  p->ncomp = ncomp;
  m = (size_t)s->natoms * (size_t)ncomp;
  if (kind == ENG_PROP_STR)
    p->str = eng__calloc(m, sizeof *p->str);
  else
    p->val = eng__calloc(m, sizeof *p->val);
  if (!p->str && !p->val) {
    s->nprops--;
    return ENG_ENOMEM;
  }
  if (out) *out = p;
  return ENG_OK;
}

double eng_system_mass(const eng_system *s, int i) {
  return s->type_mass[s->type[i]];
}

void eng_system_type_counts(const eng_system *s, int *counts) {
  for (int t = 0; t < s->ntypes; t++) counts[t] = 0;
  for (int i = 0; i < s->natoms; i++) counts[s->type[i]]++;
}

int eng_system_type_by_name(const eng_system *s, const char *name) {
  for (int t = 0; t < s->ntypes; t++)
    if (strcmp(s->type_name[t], name) == 0) return t;
  return -1;
}

/* Standard atomic weights (IUPAC 2013, rounded) of the elements that EAM
 * potentials are commonly made for. */
static const struct {
  const char *sym;
  double mass;
} element_masses[] = {
    {"H", 1.008},     {"He", 4.0026},   {"Li", 6.94},     {"Be", 9.0122},
    {"B", 10.81},     {"C", 12.011},    {"N", 14.007},    {"O", 15.999},
    {"Na", 22.990},   {"Mg", 24.305},   {"Al", 26.982},   {"Si", 28.085},
    {"P", 30.974},    {"S", 32.06},     {"K", 39.098},    {"Ca", 40.078},
    {"Ti", 47.867},   {"V", 50.942},    {"Cr", 51.996},   {"Mn", 54.938},
    {"Fe", 55.845},   {"Co", 58.933},   {"Ni", 58.693},   {"Cu", 63.546},
    {"Zn", 65.38},    {"Ga", 69.723},   {"Ge", 72.630},   {"Y", 88.906},
    {"Zr", 91.224},   {"Nb", 92.906},   {"Mo", 95.95},    {"Ru", 101.07},
    {"Rh", 102.91},   {"Pd", 106.42},   {"Ag", 107.87},   {"Sn", 118.71},
    {"La", 138.91},   {"Ce", 140.12},   {"Nd", 144.24},   {"Gd", 157.25},
    {"Hf", 178.49},   {"Ta", 180.95},   {"W", 183.84},    {"Re", 186.21},
    {"Ir", 192.22},   {"Pt", 195.08},   {"Au", 196.97},   {"Pb", 207.2},
};

double eng_element_mass(const char *symbol) {
  for (size_t k = 0; k < sizeof element_masses / sizeof element_masses[0]; k++)
    if (strcmp(element_masses[k].sym, symbol) == 0) return element_masses[k].mass;
  return 0.0;
}

eng_system *eng_system_random(int natoms, int nspecies, const char *const *names,
                              const double *frac, double rho, double dmin,
                              uint64_t seed) {
  eng_system *s = NULL;
  eng_rng r;
  int *head = NULL, *next = NULL, nc;
  double l, fsum = 0.0, cs;

  if (natoms < 1 || nspecies < 1 || !(rho > 0) || !(dmin >= 0) || !isfinite(rho) ||
      !isfinite(dmin)) {
    eng_set_error(ENG_EINVAL, "random sample needs natoms >= 1, species, density > 0, dmin >= 0");
    return NULL;
  }
  for (int k = 0; k < nspecies; k++) {
    if (!(frac[k] >= 0) || !names[k] || !*names[k] || strlen(names[k]) >= ENG_NAME_MAX) {
      eng_set_error(ENG_EINVAL, "random sample: bad species %d", k + 1);
      return NULL;
    }
    fsum += frac[k];
  }
  if (!(fsum > 0)) {
    eng_set_error(ENG_EINVAL, "random sample: fractions sum to zero");
    return NULL;
  }
  s = eng_system_create(natoms, nspecies);
  if (!s) return NULL;
  l = cbrt(natoms / rho);
  for (int k = 0; k < 3; k++) s->box.len[k] = l;
  for (int k = 0; k < nspecies; k++) {
    snprintf(s->type_name[k], ENG_NAME_MAX, "%s", names[k]);
    s->type_mass[k] = eng_element_mass(names[k]);
  }
  eng_rng_seed(&r, seed);
  /* Types: counts by fraction, then a Fisher-Yates shuffle. */
  {
    int i = 0;
    for (int k = 0; k < nspecies; k++) {
      int cnt = k == nspecies - 1 ? natoms - i : (int)lround(natoms * frac[k] / fsum);
      for (int q = 0; q < cnt && i < natoms; q++) s->type[i++] = k;
    }
    for (int q = natoms - 1; q > 0; q--) {
      int j = (int)(eng_rng_uniform(&r) * (q + 1));
      int t = s->type[q];
      s->type[q] = s->type[j];
      s->type[j] = t;
    }
  }
  /* Positions: rejection sampling against a cell grid of side >= dmin. */
  nc = dmin > 0 ? (int)floor(l / dmin) : 1;
  if (nc < 1) nc = 1;
  if (nc > 256) nc = 256;
  cs = l / nc;
  head = eng__malloc((size_t)nc * nc * nc, sizeof *head);
  next = eng__malloc((size_t)natoms, sizeof *next);
  if (!head || !next) goto fail;
  for (long c = 0; c < (long)nc * nc * nc; c++) head[c] = -1;
  for (int i = 0; i < natoms; i++) {
    double *xi = &s->x[3 * i];
    int placed = 0;
    for (int tries = 0; tries < 100000 && !placed; tries++) {
      int c[3], ok = 1;
      for (int k = 0; k < 3; k++) {
        xi[k] = eng_rng_uniform(&r) * l;
        c[k] = (int)(xi[k] / cs);
        if (c[k] >= nc) c[k] = nc - 1;
      }
      for (int a = -1; a <= 1 && ok; a++)
        for (int b = -1; b <= 1 && ok; b++)
          for (int e = -1; e <= 1 && ok; e++) {
            int cc = (((c[2] + e + nc) % nc) * nc + (c[1] + b + nc) % nc) * nc + (c[0] + a + nc) % nc;
            for (int j = head[cc]; j >= 0 && ok; j = next[j]) {
              double d[3] = {xi[0] - s->x[3 * j], xi[1] - s->x[3 * j + 1], xi[2] - s->x[3 * j + 2]};
              eng_box_minimum_image(&s->box, d);
              if (d[0] * d[0] + d[1] * d[1] + d[2] * d[2] < dmin * dmin) ok = 0;
            }
          }
      if (ok) {
        int cc = (c[2] * nc + c[1]) * nc + c[0];
        next[i] = head[cc];
        head[cc] = i;
        placed = 1;
      }
    }
    if (!placed) {
      eng_set_error(ENG_ENOCONV,
                    "random sample: could not place atom %d of %d with dmin %.3g A at "
                    "density %.4g /A^3 (lower dmin)",
                    i + 1, natoms, dmin, rho);
      goto fail;
    }
  }
  free(head);
  free(next);
  return s;
fail:
  free(head);
  free(next);
  eng_system_free(s);
  return NULL;
}
