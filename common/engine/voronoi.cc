/*
 * voronoi.cc -- per-atom Voronoi cells through voro++ behind the C API
 * eng_voronoi_compute (engine.h).  Fully periodic boxes, orthogonal or
 * triclinic, use voro::container_periodic, whose cell vectors (bx,0,0),
 * (bxy,by,0), (bxz,byz,bz) are exactly LAMMPS' restricted triclinic form
 * (a, b, c of eng_box), with positions taken relative to the box origin.
 * Orthogonal boxes with a non-periodic direction use voro::container with
 * walls at the box faces.  From each cell: volume, surface area, and per
 * face its area and the lengths of its edges, from which the thresholded
 * coordination and face-order index (OVITO's rules) are counted.
 *
 * Only C is exposed; every C++ exception is caught here and mapped to an
 * engine error code.  (internal.h has no C++ guard, so this file uses
 * std::calloc and engine.h only.)  See docs/descriptors.md.
 */
#include "engine.h"

#include <cmath>
#include <cstdlib>
#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <new>
#include <vector>

#include <voro++/voro++.hh>

namespace {

/* Per-cell counts from one voro++ cell. */
struct cell_stats {
  double volume, area;
  int nfaces_all, coord;
  int index[ENG_VORO_NORD];
};

void count_cell(voro::voronoicell_neighbor &c, const eng_voronoi_opts &o,
                std::vector<double> &fa, std::vector<int> &fv, std::vector<double> &v,
                cell_stats &st) {
  c.face_areas(fa);
  c.face_vertices(fv);
  c.vertices(v); /* relative to the particle; lengths are what matter */
  st.volume = c.volume();
  st.area = 0.0;
  for (double a : fa) st.area += a;
  st.nfaces_all = (int)fa.size();
  st.coord = 0;
  std::memset(st.index, 0, sizeof st.index);
  size_t p = 0;
  for (size_t f = 0; f < fa.size(); f++) {
    int nv = fv[p];
    const int *vi = &fv[p + 1];
    p += (size_t)nv + 1;
    if (fa[f] < o.face_area || fa[f] < o.face_rel * st.area) continue;
    int order = 0;
    for (int e = 0; e < nv; e++) {
      int a = vi[e], b = vi[(e + 1) % nv];
      double dx = v[3 * a] - v[3 * b], dy = v[3 * a + 1] - v[3 * b + 1],
             dz = v[3 * a + 2] - v[3 * b + 2];
      if (std::sqrt(dx * dx + dy * dy + dz * dz) >= o.edge_length) order++;
    }
    st.coord++;
    st.index[order < ENG_VORO_NORD ? order : ENG_VORO_NORD - 1]++;
  }
}

void store(eng_voronoi *out, int i, const cell_stats &st) {
  out->volume[i] = st.volume;
  out->area[i] = st.area;
  out->nfaces_all[i] = st.nfaces_all;
  out->coord[i] = st.coord;
  std::memcpy(out->index + (size_t)i * ENG_VORO_NORD, st.index, sizeof st.index);
  out->l5fs[i] = st.coord > 0 ? (double)st.index[5] / st.coord : 0.0;
}

/* voro++ block grid: about 5 atoms per block, as its documentation
 * suggests, at least one block per direction. */
void block_grid(const eng_system *sys, int n[3]) {
  double vol = eng_box_volume(&sys->box);
  double side = std::cbrt(5.0 * vol / sys->natoms);
  for (int k = 0; k < 3; k++) {
    double m = sys->box.len[k] / side;
    n[k] = m < 1.0 ? 1 : (m > 256.0 ? 256 : (int)(m + 0.5));
  }
}

/* Run the tessellation; returns an engine code. */
int tessellate(const eng_system *sys, const eng_voronoi_opts &o, eng_voronoi *out) {
  const eng_box &b = sys->box;
  int nb[3];
  int nper = b.periodic[0] + b.periodic[1] + b.periodic[2];
  std::vector<double> fa, v;
  std::vector<int> fv;
  std::vector<char> done((size_t)sys->natoms, 0);
  voro::voronoicell_neighbor c;
  int ndone = 0;

  block_grid(sys, nb);
  /* Orthogonal boxes (periodic or not) go to voro::container with
   * periodic flags; container_periodic is used for triclinic boxes only:
   * on orthogonal boxes replicated from a smaller periodic glass (LAMMPS
   * `replicate 5 2 1` or `2 2 2` of the bundled 2,000-atom glass) its
   * compute_cell failed for some atoms, while voro::container builds every
   * cell (volumes summing to the box volume). */
  if (nper == 3 && eng_box_is_triclinic(&b)) {
    voro::container_periodic con(b.len[0], b.xy, b.len[1], b.xz, b.yz, b.len[2], nb[0], nb[1],
                                 nb[2], 8);
    for (int i = 0; i < sys->natoms; i++) {
      double s[3], x[3];
      eng_box_to_frac(&b, &sys->x[3 * i], s);
      for (int k = 0; k < 3; k++) s[k] -= std::floor(s[k]);
      /* Cartesian position relative to the origin, inside the cell. */
      x[0] = s[0] * b.len[0] + s[1] * b.xy + s[2] * b.xz;
      x[1] = s[1] * b.len[1] + s[2] * b.yz;
      x[2] = s[2] * b.len[2];
      con.put(i, x[0], x[1], x[2]);
    }
    voro::c_loop_all_periodic vl(con);
    if (vl.start()) do {
        int id = vl.pid();
        if (id < 0 || id >= sys->natoms || done[(size_t)id]) continue;
        if (!con.compute_cell(c, vl))
          return eng_set_error(ENG_ENOCONV, "voronoi.cc:%d: voro++ could not build the cell of atom %d",
                               __LINE__, id);
        cell_stats st;
        count_cell(c, o, fa, fv, v, st);
        store(out, id, st);
        done[(size_t)id] = 1;
        ndone++;
      } while (vl.inc());
  } else {
    if (eng_box_is_triclinic(&b))
      return eng_set_error(ENG_EUNSUPP,
                           "voronoi.cc:%d: Voronoi cells of a triclinic box need periodic boundaries in all "
                           "three directions",
                           __LINE__);
    voro::container con(b.lo[0], b.lo[0] + b.len[0], b.lo[1], b.lo[1] + b.len[1], b.lo[2],
                        b.lo[2] + b.len[2], nb[0], nb[1], nb[2], b.periodic[0] != 0,
                        b.periodic[1] != 0, b.periodic[2] != 0, 8);
    for (int i = 0; i < sys->natoms; i++) {
      const double *x = &sys->x[3 * i];
      for (int k = 0; k < 3; k++)
        if (!b.periodic[k] && (x[k] < b.lo[k] || x[k] > b.lo[k] + b.len[k]))
          return eng_set_error(ENG_EINVAL,
                               "voronoi.cc:%d: atom %d lies outside the box along non-periodic direction %d",
                               __LINE__, i, k);
      con.put(i, x[0], x[1], x[2]);
    }
    voro::c_loop_all vl(con);
    if (vl.start()) do {
        int id = vl.pid();
        if (id < 0 || id >= sys->natoms || done[(size_t)id]) continue;
        if (!con.compute_cell(c, vl))
          return eng_set_error(ENG_ENOCONV, "voronoi.cc:%d: voro++ could not build the cell of atom %d",
                               __LINE__, id);
        cell_stats st;
        count_cell(c, o, fa, fv, v, st);
        store(out, id, st);
        done[(size_t)id] = 1;
        ndone++;
      } while (vl.inc());
  }
  if (ndone != sys->natoms)
    return eng_set_error(ENG_ENOCONV, "voronoi.cc:%d: voro++ built %d cells for %d atoms", __LINE__,
                         ndone, sys->natoms);
  return ENG_OK;
}

}  // namespace

extern "C" void eng_voronoi_opts_default(eng_voronoi_opts *o) { std::memset(o, 0, sizeof *o); }

extern "C" void eng_voronoi_free(eng_voronoi *v) {
  if (!v) return;
  std::free(v->volume);
  std::free(v->area);
  std::free(v->nfaces_all);
  std::free(v->coord);
  std::free(v->index);
  std::free(v->l5fs);
  std::free(v);
}

extern "C" int eng_voronoi_compute(const eng_system *sys, const eng_voronoi_opts *o_in,
                                   eng_voronoi **out) {
  eng_voronoi_opts o;
  eng_voronoi *v = nullptr;
  size_t n;
  int rc;

  *out = nullptr;
  if (o_in)
    o = *o_in;
  else
    eng_voronoi_opts_default(&o);
  if (!sys || sys->natoms < 1)
    return eng_set_error(ENG_EINVAL, "voronoi.cc:%d: Voronoi cells need at least one atom", __LINE__);
  if (!(o.face_area >= 0.0) || !(o.face_rel >= 0.0) || !(o.edge_length >= 0.0) || o.face_rel > 1.0)
    return eng_set_error(ENG_EINVAL,
                         "voronoi.cc:%d: thresholds must be >= 0 (face_rel <= 1): face_area %g, face_rel %g, "
                         "edge_length %g",
                         __LINE__, o.face_area, o.face_rel, o.edge_length);
  for (int k = 0; k < 3; k++)
    if (!(sys->box.len[k] > 0.0) || !std::isfinite(sys->box.len[k]))
      return eng_set_error(ENG_EINVAL, "voronoi.cc:%d: box length %d must be > 0", __LINE__, k);
  for (int i = 0; i < 3 * sys->natoms; i++)
    if (!std::isfinite(sys->x[i]))
      return eng_set_error(ENG_ERANGE, "voronoi.cc:%d: atom %d has a non-finite coordinate", __LINE__,
                           i / 3);
  n = (size_t)sys->natoms;
  v = static_cast<eng_voronoi *>(std::calloc(1, sizeof *v));
  if (!v) return eng_set_error(ENG_ENOMEM, "voronoi.cc:%d: out of memory", __LINE__);
  v->natoms = sys->natoms;
  v->opts = o;
  v->volume = static_cast<double *>(std::calloc(n, sizeof(double)));
  v->area = static_cast<double *>(std::calloc(n, sizeof(double)));
  v->nfaces_all = static_cast<int *>(std::calloc(n, sizeof(int)));
  v->coord = static_cast<int *>(std::calloc(n, sizeof(int)));
  v->index = static_cast<int *>(std::calloc(n * ENG_VORO_NORD, sizeof(int)));
  v->l5fs = static_cast<double *>(std::calloc(n, sizeof(double)));
  if (!v->volume || !v->area || !v->nfaces_all || !v->coord || !v->index || !v->l5fs) {
    rc = eng_set_error(ENG_ENOMEM, "voronoi.cc:%d: out of memory for %zu atoms", __LINE__, n);
    goto out;
  }
  try {
    rc = tessellate(sys, o, v);
  } catch (const std::bad_alloc &) {
    rc = eng_set_error(ENG_ENOMEM, "voronoi.cc:%d: out of memory in voro++", __LINE__);
  } catch (...) {
    rc = eng_set_error(ENG_ENOCONV, "voronoi.cc:%d: voro++ failed", __LINE__);
  }
  if (rc) goto out;
  *out = v;
  v = nullptr;
out:
  eng_voronoi_free(v);
  return rc;
}

extern "C" int eng_voronoi_top(const eng_voronoi *v, const eng_system *sys, int type, int max,
                               eng_voro_pop *out, int *nout, int *nconsidered) {
  if (!v || !sys || v->natoms != sys->natoms || type < -1 || type >= sys->ntypes || max < 0 || !nout ||
      (max > 0 && !out))
    return eng_set_error(ENG_EINVAL, "voronoi.cc:%d: index population needs the system of the tessellation, "
                         "a type in -1..%d and max >= 0", __LINE__, sys ? sys->ntypes - 1 : -1);
  *nout = 0;
  try {
    std::map<std::array<int, 4>, int> pop;
    int nc = 0;
    for (int i = 0; i < sys->natoms; i++) {
      if (type >= 0 && sys->type[i] != type) continue;
      const int *ix = v->index + (size_t)i * ENG_VORO_NORD;
      pop[std::array<int, 4>{{ix[3], ix[4], ix[5], ix[6]}}]++;
      nc++;
    }
    std::vector<std::pair<std::array<int, 4>, int>> list(pop.begin(), pop.end());
    /* map order is ascending by index; a stable sort by count keeps it for ties */
    std::stable_sort(list.begin(), list.end(),
                     [](const std::pair<std::array<int, 4>, int> &a, const std::pair<std::array<int, 4>, int> &b) {
                       return a.second > b.second;
                     });
    int k = 0;
    for (; k < max && k < (int)list.size(); k++) {
      for (int q = 0; q < 4; q++) out[k].n[q] = list[(size_t)k].first[(size_t)q];
      out[k].count = list[(size_t)k].second;
    }
    *nout = k;
    if (nconsidered) *nconsidered = nc;
  } catch (const std::bad_alloc &) {
    return eng_set_error(ENG_ENOMEM, "voronoi.cc:%d: out of memory", __LINE__);
  }
  return ENG_OK;
}
