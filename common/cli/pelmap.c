/*
 * pelmap.c -- the pelmap command line: runs a job kind (energy, minimize,
 * md, quench, noop, descriptors, artn, ...) on a structure file without the
 * service, through the same kind_def->run the worker uses (a kind with a
 * plan as a whole job graph, kind_run_graph), and prints the result JSON.
 *
 *   pelmap KIND FILE [--potential POT] [--PARAM VALUE ...] [--params JSON]
 *                    [-o OUT] [--format F] [--frame N] [--types "Cu Zr"]
 *                    [--input RESULT.json ...] [--save-configs DIR]
 *                    [--compact]
 *                    [--summary] [--progress]
 *   pelmap kinds     pelmap KIND --help     pelmap --help     pelmap --version
 *
 * Exit status: 0 success, 1 the computation failed (or was interrupted),
 * 2 bad usage, bad parameters or unreadable/malformed input files.  Every
 * error is one line on stderr.  Documented in docs/cli.md.
 */
#include "config.h"

#include "engine.h"
#include "kinds.h"
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CLI_DEFAULT_POTENTIAL "/usr/share/lammps/potentials/CuZr_mm.eam.fs"

enum { CLI_OK = 0, CLI_EFAIL = 1, CLI_EUSAGE = 2 };

/* Options of one run. */
typedef struct cli_opts {
  const kind_def *kind;
  const char *file, *potential, *pot_style, *format, *types, *output;
  const char *params_json;
  int compact, summary_only, show_progress;
  int frame; /* --frame: 0 first, -1 last */
  cJSON *params; /* from --params and --NAME VALUE */
  const char *save_dir; /* --save-configs */
  cJSON *inputs;        /* --input results, a JSON array (owned) */
} cli_opts;

/* Short option names for parameters: --ALIAS VALUE sets kind's param. */
static const struct cli_alias {
  const char *kind, *alias, *param;
} cli_aliases[] = {
    {"artn", "events", "events_per_atom"},
    {"artn_chunk", "events", "events_per_atom"},
};

/* The parameter an option name (without "--", '-' already '_') stands for
 * in kind k: its own name, or an alias; NULL if none. */
static const kind_param *cli_find_param(const kind_def *k, const char *name) {
  size_t i;
  const kind_param *p = kind_param_find(k, name);
  if (p) return p;
  for (i = 0; i < sizeof cli_aliases / sizeof cli_aliases[0]; i++)
    if (!strcmp(cli_aliases[i].kind, k->name) &&
        !strcmp(cli_aliases[i].alias, name))
      return kind_param_find(k, cli_aliases[i].param);
  return NULL;
}

static volatile sig_atomic_t cli_interrupted;

static void cli_on_signal(int sig) {
  (void)sig;
  cli_interrupted = 1;
}

static void cli_usage(FILE *f) {
  int i;
  const kind_def *k;
  fprintf(f,
          "usage: pelmap KIND FILE [options]     run a job kind on a structure file\n"
          "       pelmap KIND --help             parameters of a kind\n"
          "       pelmap kinds [--compact]       every kind with its params schema (JSON)\n"
          "       pelmap random --atoms N --species A,B -o FILE   random start for a quench\n"
          "       pelmap --help | --version\n"
          "\nkinds:\n");
  for (i = 0; (k = kind_at(i)); i++)
    fprintf(f, "  %-9s %s\n", k->name, k->summary);
  fprintf(f,
          "\noptions:\n"
          "  --potential POT   EAM potential file (default " CLI_DEFAULT_POTENTIAL ")\n"
          "  --pot-style S     eam/fs | eam/alloy | eam (default: by file name)\n"
          "  --format F        structure format: lammps-data | lammps-dump | extxyz\n"
          "                    (default: from the name and content)\n"
          "  --frame N         frame of a dump / multi-frame XYZ file (0 = first,\n"
          "                    -1 = last; default 0)\n"
          "  --types \"A B\"     species of numeric types 1..n when the file has none\n"
          "                    (default: masses, else the potential's element order)\n"
          "  --params JSON     parameters as a JSON object (options below override)\n"
          "  --NAME VALUE      one parameter of the kind, e.g. --ftol 1e-6 --algo cg\n"
          "                    (see pelmap KIND --help; '-' and '_' are the same)\n"
          "  -o, --output OUT  write the final structure: *.data -> LAMMPS data,\n"
          "                    *.xyz / *.extxyz -> extended XYZ with per-atom results\n"
          "  --compact         one-line JSON (default: indented)\n"
          "  --summary         leave the per_atom arrays out of the printed JSON\n"
          "  --progress        progress lines on stderr\n"
          "  --threads N       engine threads (OpenMP; 0 = all cores; default 1).\n"
          "                    Results are bit-reproducible for a given N and\n"
          "                    record it (\"threads\")\n"
          "  --input RESULT    a result JSON file given to the kind as an input\n"
          "                    (repeatable, in order; e.g. analysis).  A kind with\n"
          "                    a plan then runs alone on them, without its job\n"
          "                    graph (artn: gathers artn_chunk results)\n"
          "  --save-configs DIR  artn: write each converged event's initial, saddle\n"
          "                    and final configurations as extended XYZ into DIR\n"
          "                    (atom<ID>_ev<K>_{initial,saddle,final}.xyz)\n"
          "\nexit status: 0 ok, 1 computation failed or interrupted, 2 bad usage or input\n");
}

static const char *cli_type_name(int t) {
  switch (t) {
  case KIND_P_NUMBER: return "number";
  case KIND_P_INT: return "integer";
  case KIND_P_SEED: return "integer";
  case KIND_P_BOOL: return "true|false";
  case KIND_P_NUMLIST: return "number,number,...";
  default: return "string";
  }
}

static void cli_kind_help(const kind_def *k) {
  int i;
  cJSON *defs = NULL; /* the normalized defaults, for derived ones */
  char derr[256];
  if (k->validate(NULL, &defs, derr, sizeof derr)) defs = NULL;
  printf("pelmap %s%s - %s\n", k->name,
         (k->flags & KIND_NEEDS_STRUCTURE) ? " FILE" : "", k->summary);
  if (!k->nparams) printf("\n(no parameters)\n");
  else printf("\nparameters (--NAME VALUE, or --params '{\"NAME\":VALUE}'):\n");
  for (i = 0; i < k->nparams; i++) {
    const kind_param *p = &k->params[i];
    char opt[64];
    size_t j;
    char *dv = NULL;
    snprintf(opt, sizeof opt, "%s", p->name);
    for (j = 0; opt[j]; j++)
      if (opt[j] == '_') opt[j] = '-';
    if (!p->def && p->type != KIND_P_SEED)
      dv = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(defs, p->name));
    printf("  --%-12s %s%s%s%s  default %s\n      %s\n", opt,
           (p->type == KIND_P_STRING || p->type == KIND_P_LIST ||
            p->type == KIND_P_TEXT) && p->choices
               ? p->choices
               : cli_type_name(p->type),
           p->unit && p->unit[0] ? " (" : "", p->unit ? p->unit : "",
           p->unit && p->unit[0] ? ")" : "",
           p->def ? p->def
                  : p->type == KIND_P_SEED ? "random (recorded)"
                  : dv                     ? dv
                                           : "derived",
           p->help);
    free(dv);
  }
  for (i = 0; i < (int)(sizeof cli_aliases / sizeof cli_aliases[0]); i++)
    if (!strcmp(cli_aliases[i].kind, k->name)) {
      char opt[64];
      size_t j;
      snprintf(opt, sizeof opt, "%s", cli_aliases[i].param);
      for (j = 0; opt[j]; j++)
        if (opt[j] == '_') opt[j] = '-';
      printf("  --%s is short for --%s\n", cli_aliases[i].alias, opt);
    }
  cJSON_Delete(defs);
}

/* Print every kind with its schema. */
static int cli_kinds(int compact) {
  cJSON *a = cJSON_CreateArray();
  const kind_def *k;
  char *s;
  int i;
  if (!a) return CLI_EFAIL;
  for (i = 0; (k = kind_at(i)); i++) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", k->name);
    cJSON_AddStringToObject(o, "summary", k->summary);
    cJSON_AddBoolToObject(o, "needs_structure",
                          (k->flags & KIND_NEEDS_STRUCTURE) != 0);
    cJSON_AddItemToObject(o, "params", cJSON_Parse(k->params_schema_json));
    cJSON_AddItemToArray(a, o);
  }
  s = compact ? cJSON_PrintUnformatted(a) : cJSON_Print(a);
  cJSON_Delete(a);
  if (!s) return CLI_EFAIL;
  printf("%s\n", s);
  free(s);
  return CLI_OK;
}

/* Read a whole file; on failure prints the reason and returns -1. */
static int cli_slurp(const char *path, char **data, size_t *len) {
  FILE *f = fopen(path, "rb");
  char *buf = NULL;
  size_t cap = 0, n = 0;
  int rc = -1;
  *data = NULL;
  if (!f) {
    fprintf(stderr, "pelmap: %s: %s\n", path, strerror(errno));
    return -1;
  }
  for (;;) {
    size_t got;
    if (n + 65536 + 1 > cap) {
      char *nb;
      cap = cap ? cap * 2 : 1 << 20;
      nb = realloc(buf, cap);
      if (!nb) {
        fprintf(stderr, "pelmap: %s: out of memory\n", path);
        goto out;
      }
      buf = nb;
    }
    got = fread(buf + n, 1, cap - n - 1, f);
    n += got;
    if (got == 0) break;
  }
  if (ferror(f)) {
    fprintf(stderr, "pelmap: %s: read error\n", path);
    goto out;
  }
  buf[n] = 0;
  *data = buf;
  *len = n;
  buf = NULL;
  rc = 0;
out:
  free(buf);
  fclose(f);
  return rc;
}

/* A result file (JSON object) for --input; NULL with a message if it
 * cannot be read or is not a JSON object. */
static cJSON *cli_load_json(const char *path) {
  char *data = NULL;
  size_t len = 0;
  cJSON *j;
  if (cli_slurp(path, &data, &len)) return NULL;
  j = cJSON_ParseWithLength(data, len);
  if (!cJSON_IsObject(j)) {
    const char *at = cJSON_GetErrorPtr();
    if (!j && at && at >= data && at <= data + len)
      fprintf(stderr, "pelmap: --input %s: not valid JSON (at byte %ld)\n",
              path, (long)(at - data));
    else
      fprintf(stderr, "pelmap: --input %s: not a JSON object (a result file)\n",
              path);
    cJSON_Delete(j);
    j = NULL;
  }
  free(data);
  return j;
}

/* Make directory dir for --save-configs (an existing one is fine). */
static int cli_make_dir(const char *dir) {
  struct stat st;
  if (mkdir(dir, 0777) == 0) return 0;
  if (errno == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) return 0;
  fprintf(stderr, "pelmap: --save-configs %s: %s\n", dir,
          errno == EEXIST ? "exists and is not a directory" : strerror(errno));
  return -1;
}

/* Output format for -o by extension, or ENG_FMT_AUTO if not supported. */
static eng_format cli_out_format(const char *path) {
  const char *dot = strrchr(path, '.');
  if (!dot) return ENG_FMT_AUTO;
  if (!strcmp(dot, ".data") || !strcmp(dot, ".lmp")) return ENG_FMT_LAMMPS_DATA;
  if (!strcmp(dot, ".xyz") || !strcmp(dot, ".extxyz")) return ENG_FMT_EXTXYZ;
  return ENG_FMT_AUTO;
}

/* Convert "--NAME VALUE" to a JSON value of p's type; NULL + message if bad. */
static cJSON *cli_param_value(const kind_param *p, const char *opt,
                              const char *val) {
  char *end;
  double x;
  /* lists stay text: the validator splits "a,b" (kinds.h KIND_P_LIST) */
  if (p->type == KIND_P_STRING || p->type == KIND_P_LIST ||
      p->type == KIND_P_NUMLIST || p->type == KIND_P_TEXT)
    return cJSON_CreateString(val);
  if (p->type == KIND_P_BOOL) {
    if (!strcmp(val, "true") || !strcmp(val, "1") || !strcmp(val, "yes"))
      return cJSON_CreateTrue();
    if (!strcmp(val, "false") || !strcmp(val, "0") || !strcmp(val, "no"))
      return cJSON_CreateFalse();
    fprintf(stderr, "pelmap: %s: expected true or false, got '%s'\n", opt, val);
    return NULL;
  }
  errno = 0;
  x = strtod(val, &end);
  if (end == val || *end || errno == ERANGE || !isfinite(x)) {
    fprintf(stderr, "pelmap: %s: expected a number, got '%s'\n", opt, val);
    return NULL;
  }
  return cJSON_CreateNumber(x);
}

/* Parse argv after the kind name.  Returns CLI_OK, CLI_EUSAGE (message
 * printed) or -1 for --help (printed). */
static int cli_parse(int argc, char **argv, cli_opts *o) {
  int i;
  for (i = 0; i < argc; i++) {
    const char *a = argv[i];
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_VAL()                                                        \
  do {                                                                    \
    if (!val) {                                                           \
      fprintf(stderr, "pelmap: %s: option %s needs a value\n", o->kind->name, a); \
      return CLI_EUSAGE;                                                  \
    }                                                                     \
    i++;                                                                  \
  } while (0)
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      cli_kind_help(o->kind);
      return -1;
    } else if (!strcmp(a, "--potential")) {
      NEED_VAL();
      o->potential = val;
    } else if (!strcmp(a, "--pot-style")) {
      NEED_VAL();
      o->pot_style = val;
      if (strcmp(val, "eam/fs") && strcmp(val, "eam/alloy") && strcmp(val, "eam")) {
        fprintf(stderr, "pelmap: --pot-style: must be eam/fs, eam/alloy or eam, got '%s'\n", val);
        return CLI_EUSAGE;
      }
    } else if (!strcmp(a, "--format")) {
      NEED_VAL();
      o->format = val;
      if (eng_format_from_name(val) == ENG_FMT_AUTO) {
        fprintf(stderr, "pelmap: --format: must be lammps-data, lammps-dump or extxyz, got '%s'\n", val);
        return CLI_EUSAGE;
      }
    } else if (!strcmp(a, "--frame")) {
      char *end;
      long fr;
      NEED_VAL();
      errno = 0;
      fr = strtol(val, &end, 10);
      if (end == val || *end || errno || fr < -1 || fr > 1000000000) {
        fprintf(stderr, "pelmap: --frame: expected an integer >= -1 (-1 = last), got '%s'\n", val);
        return CLI_EUSAGE;
      }
      o->frame = (int)fr;
    } else if (!strcmp(a, "--threads")) {
      char *end;
      long nt;
      NEED_VAL();
      errno = 0;
      nt = strtol(val, &end, 10);
      if (end == val || *end || errno || nt < 0 || nt > 1024) {
        fprintf(stderr, "pelmap: --threads: expected an integer in 0..1024 (0 = all cores), got '%s'\n", val);
        return CLI_EUSAGE;
      }
      eng_set_threads((int)nt);
    } else if (!strcmp(a, "--types")) {
      NEED_VAL();
      o->types = val;
    } else if (!strcmp(a, "--params")) {
      NEED_VAL();
      o->params_json = val;
    } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
      NEED_VAL();
      o->output = val;
      if (cli_out_format(val) == ENG_FMT_AUTO) {
        fprintf(stderr, "pelmap: -o %s: unknown extension (use .data, .xyz or .extxyz)\n", val);
        return CLI_EUSAGE;
      }
    } else if (!strcmp(a, "--save-configs")) {
      NEED_VAL();
      if (!*val) {
        fprintf(stderr, "pelmap: --save-configs: needs a directory\n");
        return CLI_EUSAGE;
      }
      o->save_dir = val;
    } else if (!strcmp(a, "--input")) {
      cJSON *in;
      NEED_VAL();
      in = cli_load_json(val);
      if (!in) return CLI_EUSAGE;
      cJSON_AddItemToArray(o->inputs, in);
    } else if (!strcmp(a, "--compact")) {
      o->compact = 1;
    } else if (!strcmp(a, "--summary")) {
      o->summary_only = 1;
    } else if (!strcmp(a, "--progress")) {
      o->show_progress = 1;
    } else if (a[0] == '-' && a[1] == '-' && a[2]) {
      char name[64];
      const kind_param *p;
      cJSON *v;
      size_t j;
      snprintf(name, sizeof name, "%s", a + 2);
      for (j = 0; name[j]; j++)
        if (name[j] == '-') name[j] = '_';
      p = cli_find_param(o->kind, name);
      if (!p) {
        fprintf(stderr, "pelmap: %s: unknown option '%s' (see pelmap %s --help)\n",
                o->kind->name, a, o->kind->name);
        return CLI_EUSAGE;
      }
      NEED_VAL();
      v = cli_param_value(p, a, val);
      if (!v) return CLI_EUSAGE;
      cJSON_DeleteItemFromObjectCaseSensitive(o->params, p->name);
      cJSON_AddItemToObject(o->params, p->name, v);
    } else if (a[0] == '-' && a[1]) {
      fprintf(stderr, "pelmap: %s: unknown option '%s' (see pelmap %s --help)\n",
              o->kind->name, a, o->kind->name);
      return CLI_EUSAGE;
    } else if (!o->file) {
      o->file = a;
    } else {
      fprintf(stderr, "pelmap: %s: unexpected argument '%s' (one structure FILE)\n",
              o->kind->name, a);
      return CLI_EUSAGE;
    }
#undef NEED_VAL
  }
  return CLI_OK;
}

typedef struct cli_progress {
  int show;
  double last;
} cli_progress;

static double cli_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cli_on_progress(void *ud, double frac, const char *msg) {
  cli_progress *p = ud;
  double t = cli_now();
  if (p->show && (t - p->last >= 0.25 || frac >= 1.0)) {
    fprintf(stderr, "progress %5.1f%% %s\n", 100 * frac, msg ? msg : "");
    p->last = t;
  }
  return cli_interrupted != 0;
}

/* Merge --params JSON under the options already in o->params. */
static int cli_merge_params(cli_opts *o) {
  cJSON *base, *it;
  if (!o->params_json) return CLI_OK;
  base = cJSON_Parse(o->params_json);
  if (!base || !cJSON_IsObject(base)) {
    fprintf(stderr, "pelmap: --params: not a JSON object: %.60s\n", o->params_json);
    cJSON_Delete(base);
    return CLI_EUSAGE;
  }
  for (it = o->params->child; it; it = it->next) {
    cJSON_DeleteItemFromObjectCaseSensitive(base, it->string);
    cJSON_AddItemToObject(base, it->string, cJSON_Duplicate(it, 1));
  }
  cJSON_Delete(o->params);
  o->params = base;
  return CLI_OK;
}

static int cli_run(cli_opts *o) {
  char *sdata = NULL, *pdata = NULL, *out = NULL;
  size_t slen = 0, plen = 0;
  cJSON *norm = NULL, *result = NULL;
  const cJSON **inputs = NULL;
  eng_system *final = NULL;
  kind_io io;
  int ninputs;
  cli_progress prog = {o->show_progress, 0};
  char err[1024];
  int rc = CLI_EUSAGE, krc;
  int needs = (o->kind->flags & KIND_NEEDS_STRUCTURE) != 0;

  err[0] = 0;
  if (cli_merge_params(o)) goto out;
  if (o->kind->validate(o->params, &norm, err, sizeof err)) {
    fprintf(stderr, "pelmap: %s: %s\n", o->kind->name, err);
    goto out;
  }
  if (needs && !o->file) {
    fprintf(stderr, "pelmap: %s: missing the structure FILE (pelmap %s FILE ...)\n",
            o->kind->name, o->kind->name);
    goto out;
  }
  if (!needs && (o->file || o->output)) {
    fprintf(stderr, "pelmap: %s: takes no structure FILE or -o\n", o->kind->name);
    goto out;
  }
  ninputs = cJSON_GetArraySize(o->inputs);
  if (o->save_dir && strcmp(o->kind->name, "artn_chunk") && !o->kind->plan) {
    fprintf(stderr, "pelmap: %s: --save-configs: only for artn (and kinds "
            "that run artn sweeps)\n", o->kind->name);
    goto out;
  }
  if (o->save_dir && cli_make_dir(o->save_dir)) goto out;
  memset(&io, 0, sizeof io);
  if (ninputs) {
    const cJSON *it;
    int k = 0;
    inputs = malloc(sizeof *inputs * (size_t)ninputs);
    if (!inputs) {
      fprintf(stderr, "pelmap: out of memory\n");
      goto out;
    }
    for (it = o->inputs->child; it; it = it->next) inputs[k++] = it;
    io.inputs = inputs;
    io.ninputs = ninputs;
  }
  io.save_dir = o->save_dir;
  if (needs) {
    if (!o->potential) o->potential = CLI_DEFAULT_POTENTIAL;
    if (cli_slurp(o->file, &sdata, &slen) || cli_slurp(o->potential, &pdata, &plen))
      goto out;
    io.structure_data = sdata;
    io.structure_len = slen;
    io.structure_name = o->file;
    io.structure_format = o->format;
    io.potential_data = pdata;
    io.potential_len = plen;
    io.potential_name = o->potential;
    io.potential_style = o->pot_style;
    io.type_names = o->types;
    io.frame = o->frame;
    if (o->output) io.final_system = &final;
  }
  io.progress = cli_on_progress;
  io.ud = &prog;
  /* with --input the kind itself runs on the given inputs (for a kind with
   * a plan: its gather step alone); otherwise the whole job graph */
  if (ninputs)
    krc = o->kind->run(norm, &io, &result, err, sizeof err);
  else
    krc = kind_run_graph(o->kind, norm, &io, &result, err, sizeof err);
  if (krc) {
    if (krc == KIND_ECANCEL && cli_interrupted)
      snprintf(err, sizeof err, "interrupted");
    fprintf(stderr, "pelmap: %s: %s\n", o->kind->name, err);
    rc = krc == KIND_EINVAL ? CLI_EUSAGE : CLI_EFAIL;
    goto out;
  }
  rc = CLI_EFAIL;
  if (o->output) {
    eng_format f = cli_out_format(o->output);
    if (kind_apply_result(final, result, err, sizeof err)) {
      fprintf(stderr, "pelmap: -o %s: %s\n", o->output, err);
      goto out;
    }
    if (eng_write_file(o->output, f, final)) {
      fprintf(stderr, "pelmap: -o %s: %s\n", o->output, eng_last_error());
      goto out;
    }
  }
  if (o->summary_only) cJSON_DeleteItemFromObjectCaseSensitive(result, "per_atom");
  out = o->compact ? cJSON_PrintUnformatted(result) : cJSON_Print(result);
  if (!out) {
    fprintf(stderr, "pelmap: out of memory printing the result\n");
    goto out;
  }
  if (printf("%s\n", out) < 0 || fflush(stdout)) {
    fprintf(stderr, "pelmap: writing the result: %s\n", strerror(errno));
    goto out;
  }
  rc = CLI_OK;
out:
  free(out);
  free(inputs);
  free(sdata);
  free(pdata);
  cJSON_Delete(norm);
  cJSON_Delete(result);
  eng_system_free(final);
  return rc;
}

int main(int argc, char **argv) {
  cli_opts o;
  struct sigaction sa;
  int rc;

  if (argc < 2) {
    cli_usage(stderr);
    return CLI_EUSAGE;
  }
  if (!strcmp(argv[1], "random")) return cli_random(argc, argv);
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    cli_usage(stdout);
    return CLI_OK;
  }
  if (!strcmp(argv[1], "--version")) {
    printf("%s (engine %s)\n", kind_program(), ENG_VERSION);
    return CLI_OK;
  }
  if (!strcmp(argv[1], "kinds")) {
    int compact = argc > 2 && !strcmp(argv[2], "--compact");
    if (argc > 2 + compact) {
      fprintf(stderr, "pelmap: kinds: unexpected argument '%s'\n", argv[2 + compact]);
      return CLI_EUSAGE;
    }
    return cli_kinds(compact);
  }
  memset(&o, 0, sizeof o);
  o.kind = kind_find(argv[1]);
  if (!o.kind) {
    fprintf(stderr, "pelmap: unknown command '%s' (pelmap --help lists the kinds)\n", argv[1]);
    return CLI_EUSAGE;
  }
  o.params = cJSON_CreateObject();
  o.inputs = cJSON_CreateArray();
  if (!o.params || !o.inputs) {
    cJSON_Delete(o.params);
    cJSON_Delete(o.inputs);
    return CLI_EFAIL;
  }
  rc = cli_parse(argc - 2, argv + 2, &o);
  if (rc == CLI_OK) {
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = cli_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    rc = cli_run(&o);
  } else if (rc < 0) {
    rc = CLI_OK;
  }
  cJSON_Delete(o.params);
  cJSON_Delete(o.inputs);
  return rc;
}
