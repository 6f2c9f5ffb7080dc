/*
 * random.c -- `pelmap random`: write a seeded random starting configuration
 * (the first step of making a glass: random start -> pelmap quench).
 *
 *   pelmap random --atoms N --species Cu,Zr [--fractions 0.5,0.5]
 *                 [--density 0.0556] [--dmin 2.0] [--seed S] -o FILE
 */
#include "engine.h"
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLI_MAX_SPECIES 8

static void random_usage(FILE *f) {
  fprintf(f,
          "usage: pelmap random --atoms N --species A,B[,...] [--fractions x,y[,...]]\n"
          "                     [--density RHO] [--dmin D] [--seed S] -o FILE\n"
          "  A random starting configuration in a cubic periodic cell, for melting with\n"
          "  `pelmap quench`.  Reproducible from the seed.\n"
          "  --atoms N         number of atoms (required)\n"
          "  --species LIST    element symbols, comma-separated (required)\n"
          "  --fractions LIST  proportions (normalised); default equal\n"
          "  --density RHO     number density, atoms/A^3; default 0.0556 (Cu50Zr50 glass)\n"
          "  --dmin D          no two atoms closer than D Angstrom; default 2.0\n"
          "  --seed S          random seed; default 1\n"
          "  -o FILE           output: *.data/*.lmp LAMMPS data, *.xyz/*.extxyz extended XYZ\n");
}

/* Parse a strictly positive double, or -1. */
static int parse_pos(const char *s, double *v) {
  char *e;
  errno = 0;
  *v = strtod(s, &e);
  return (e == s || *e || errno || !(*v >= 0)) ? -1 : 0;
}

int cli_random(int argc, char **argv) {
  char specbuf[256] = "", *names[CLI_MAX_SPECIES];
  double frac[CLI_MAX_SPECIES];
  int nspec = 0, nfrac = 0, natoms = 0, rc = 2;
  double density = 0.0556, dmin = 2.0;
  unsigned long long seed = 1;
  const char *out = NULL;
  eng_system *s = NULL;
  eng_format fmt;

  for (int i = 2; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      random_usage(stdout);
      return 0;
    }
    if (!v) {
      fprintf(stderr, "pelmap: random: option '%s' needs a value\n", a);
      return 2;
    }
    i++;
    if (!strcmp(a, "--atoms")) {
      char *e;
      long n = strtol(v, &e, 10);
      if (*e || n < 1 || n > 100000000) {
        fprintf(stderr, "pelmap: random: --atoms: must be an integer from 1 to 1e8, got '%s'\n", v);
        return 2;
      }
      natoms = (int)n;
    } else if (!strcmp(a, "--species")) {
      char *save = NULL, *t;
      snprintf(specbuf, sizeof specbuf, "%s", v);
      for (t = strtok_r(specbuf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (nspec == CLI_MAX_SPECIES || strlen(t) >= ENG_NAME_MAX) {
          fprintf(stderr, "pelmap: random: --species: at most %d names of < %d characters\n",
                  CLI_MAX_SPECIES, ENG_NAME_MAX);
          return 2;
        }
        names[nspec++] = t;
      }
    } else if (!strcmp(a, "--fractions")) {
      char buf[256], *save = NULL, *t;
      snprintf(buf, sizeof buf, "%s", v);
      nfrac = 0;
      for (t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (nfrac == CLI_MAX_SPECIES || parse_pos(t, &frac[nfrac])) {
          fprintf(stderr, "pelmap: random: --fractions: numbers >= 0, comma-separated, got '%s'\n", v);
          return 2;
        }
        nfrac++;
      }
    } else if (!strcmp(a, "--density")) {
      if (parse_pos(v, &density) || !(density > 0)) {
        fprintf(stderr, "pelmap: random: --density: must be a number > 0, got '%s'\n", v);
        return 2;
      }
    } else if (!strcmp(a, "--dmin")) {
      if (parse_pos(v, &dmin)) {
        fprintf(stderr, "pelmap: random: --dmin: must be a number >= 0, got '%s'\n", v);
        return 2;
      }
    } else if (!strcmp(a, "--seed")) {
      char *e;
      errno = 0;
      seed = strtoull(v, &e, 10);
      if (*e || errno || *v == '-') {
        fprintf(stderr, "pelmap: random: --seed: must be a non-negative integer, got '%s'\n", v);
        return 2;
      }
    } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
      out = v;
    } else {
      fprintf(stderr, "pelmap: random: unknown option '%s' (see pelmap random --help)\n", a);
      return 2;
    }
  }
  if (!natoms || !nspec || !out) {
    fprintf(stderr, "pelmap: random: --atoms, --species and -o are required\n");
    return 2;
  }
  if (nfrac == 0) {
    for (int k = 0; k < nspec; k++) frac[k] = 1.0;
  } else if (nfrac != nspec) {
    fprintf(stderr, "pelmap: random: %d fractions for %d species\n", nfrac, nspec);
    return 2;
  }
  fmt = eng_format_sniff(NULL, 0, out);
  if (fmt != ENG_FMT_LAMMPS_DATA && fmt != ENG_FMT_EXTXYZ) {
    fprintf(stderr, "pelmap: random: -o %s: use a .data/.lmp or .xyz/.extxyz name\n", out);
    return 2;
  }
  s = eng_system_random(natoms, nspec, (const char *const *)names, frac, density, dmin,
                        (uint64_t)seed);
  if (!s) {
    fprintf(stderr, "pelmap: random: %s\n", eng_last_error());
    return 1;
  }
  if (eng_write_file(out, fmt, s)) {
    fprintf(stderr, "pelmap: random: %s\n", eng_last_error());
    rc = 1;
    goto out;
  }
  printf("{\"kind\":\"random\",\"program\":\"pelmap %s\",\"natoms\":%d,\"seed\":%llu,"
         "\"density\":%.17g,\"dmin\":%.17g,\"box\":%.17g,\"output\":\"%s\"}\n",
         ENG_VERSION, natoms, seed, density, dmin, s->box.len[0], out);
  rc = 0;
out:
  eng_system_free(s);
  return rc;
}
