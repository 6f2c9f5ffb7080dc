/*
 * kinds.h -- the job-kind table (libpelkinds): what each kind of job takes
 * as parameters, how they are validated (with every default filled in), and
 * how a kind is run with the engine.
 *
 * The same table is used by the pelmap command line (common/cli/pelmap.c),
 * by pelmapd (validation of POST /api/v1/jobs, the params schema it serves)
 * and by pelmap-worker (running claimed jobs).  The parameters and the
 * result JSON of every kind are documented in docs/kinds.md.
 *
 * Ownership: the table is static and read-only (kind_find/kind_at return
 * pointers to it, never to be freed).  JSON objects returned through
 * *normalized and *result are new cJSON trees owned by the caller (free with
 * cJSON_Delete).  kind_io only borrows its buffers for the duration of run.
 *
 * Threads: validate and run may be called from any thread, concurrently for
 * distinct jobs (no shared mutable state besides the lazily-built schema
 * strings, which are built once under pthread_once).
 */
#ifndef PELMAP_KINDS_H
#define PELMAP_KINDS_H

#include <stddef.h>

#include <cjson/cJSON.h>

#ifdef __cplusplus
extern "C" {
#endif

struct eng_system;

/* What a run needs and reports through.  Fields beyond the first ten are
 * optional extras (zero them: memset or a designated initializer). */
typedef struct kind_io {
  const char *structure_data; /* structure file bytes (borrowed) */
  size_t structure_len;
  const char *structure_name;   /* for messages and the result; may be NULL */
  const char *structure_format; /* "lammps-data"|"lammps-dump"|"extxyz"; NULL = sniff */
  const char *potential_data;   /* potential file bytes (borrowed) */
  size_t potential_len;
  const char *potential_name;  /* may be NULL */
  const char *potential_style; /* "eam/fs"|"eam/alloy"|"eam"; NULL = by name */
  /* Progress in [0,1] with a short message; nonzero return = cancel (the
   * run then returns KIND_ECANCEL within about a second of work).  May be
   * NULL.  Called from the thread that calls run. */
  int (*progress)(void *ud, double frac, const char *msg);
  void *ud;
  /* --- optional extras (K's additions; NULL/0 = not used) --- */
  /* Species of numeric types 1..n when the structure file has none, e.g.
   * "Cu Zr".  NULL: from the file (masses, labels), else the potential's
   * element order (type 1 = first element, as LAMMPS' pair_coeff * *). */
  const char *type_names;
  /* Frame of a multi-frame structure file: 0 = first (default), k = k-th,
   * -1 = last (eng_read_opts.frame). */
  int frame;
  /* sha256 (hex) of the structure bytes, copied into the result if given. */
  const char *structure_sha256;
  /* If not NULL, a successful run of a kind that has a structure stores
   * the final system here (new, owned by the caller; eng_system_free). */
  struct eng_system **final_system;
  /* --- job graphs (fan-out and pipelines; see kind_def.plan) --- */
  /* Results of this job's inputs (borrowed; NULL/0 = none): for a job with
   * children (a fan-out parent) the children's results in the order plan
   * listed them; for a planned child with "after", the results of those
   * siblings in that order. */
  const cJSON *const *inputs;
  int ninputs;
  /* If not NULL, a result (borrowed) whose final positions and box
   * (per_atom x,y,z matched by id; "box") replace the structure's before
   * the run: how a planned child works on the structure a sibling made
   * ("structure_from").  Applied by the kind layer (kind__ctx_begin). */
  const cJSON *structure_result;
  /* If not NULL, a directory where kinds that make configurations write
   * them as files (artn_chunk: each converged event's initial, saddle and
   * final configurations as extended XYZ, docs/kinds.md "artn").  Set by
   * `pelmap --save-configs`; NULL in the service. */
  const char *save_dir;
} kind_io;

/* Return codes of validate and run (0 = ok). */
enum kind_error {
  KIND_OK = 0,
  KIND_EINVAL = -1,  /* bad params or bad input files: not retryable */
  KIND_EFAIL = -2,   /* the computation failed (engine error) */
  KIND_ECANCEL = -3, /* the progress callback asked to stop */
  KIND_ENOMEM = -4   /* out of memory (retryable) */
};

/* Types of parameters (the validation table of each kind). */
enum kind_ptype {
  KIND_P_NUMBER = 0, /* JSON number (double) */
  KIND_P_INT,        /* JSON number with an integer value */
  KIND_P_STRING,     /* one of a fixed set (choices "a|b|c") */
  KIND_P_BOOL,       /* true / false */
  KIND_P_SEED,       /* integer 0 .. 2^53-1; default: drawn at random */
  KIND_P_LIST,       /* non-empty list of distinct names from choices: a
                      * JSON array of strings or one comma-separated
                      * string ("rdf,voronoi"); normalized to an array in
                      * the order of choices */
  KIND_P_NUMLIST,    /* non-empty list of numbers in [min, max]: a JSON
                      * array or one comma-separated string ("3.9,6.4");
                      * normalized to an array in the order given */
  KIND_P_TEXT        /* free-form text: a JSON string of min .. max
                      * characters (bytes); choices, if not NULL, gives its
                      * syntax for help and the schema ("all|ids:..."),
                      * not a closed set.  What the text means is the
                      * kind's validator's business (kind_def.validate;
                      * it may accept other JSON forms too, e.g. artn's
                      * atoms as an array of ids); the length bound holds
                      * for every string value, checked before it */
};

/* One parameter of a kind.  Used for validation, for the JSON schema
 * served by the API, for the CLI options (--name, '_' written '-') and for
 * docs/kinds.md. */
typedef struct kind_param {
  const char *name;
  int type;            /* enum kind_ptype */
  const char *choices; /* KIND_P_STRING, KIND_P_LIST: "fire|cg";
                        * KIND_P_TEXT: its syntax, "all|ids:..." (or NULL) */
  double min, max;     /* inclusive bounds unless min_excl (min < v);
                        * KIND_P_NUMLIST: of every element; KIND_P_TEXT:
                        * of the length in bytes */
  int min_excl;
  /* Default as JSON text ("1e-6", "\"cg\"", "true"); NULL when the
   * default is derived from other params (described in help). */
  const char *def;
  const char *unit; /* "eV/A", "ps", "K", "bar", "" */
  const char *help;
} kind_param;

/* Flags of a kind_def. */
enum {
  KIND_NEEDS_STRUCTURE = 1, /* run reads io->structure_data */
  KIND_NEEDS_POTENTIAL = 2  /* run reads io->potential_data */
};

typedef struct kind_def {
  const char *name;  /* "energy", "minimize", "md", "quench", "noop" */
  const char *summary;
  /* Validate params (may be NULL = all defaults); on success returns 0 and
   * *normalized is a new object with every default filled in; on failure
   * returns KIND_EINVAL (KIND_ENOMEM) and writes "field: rule" into err. */
  int (*validate)(const cJSON *params, cJSON **normalized, char *err,
                  size_t errlen);
  /* Run; params should be the normalized object (it is validated again).
   * On success returns 0 and *result is a new JSON object (shape in
   * docs/kinds.md).  On failure returns a negative KIND_E* code and writes
   * the reason into err. */
  int (*run)(const cJSON *params, const kind_io *io, cJSON **result,
             char *err, size_t errlen);
  /* JSON-schema-like description of params ({"type":"object",
   * "properties":{...},"additionalProperties":false}), served by the API. */
  const char *params_schema_json;
  /* --- K's additions --- */
  const kind_param *params; /* the parameter table, nparams entries */
  int nparams;
  int flags; /* KIND_NEEDS_* */
  /* --- job graphs --- */
  /* Fan-out (NULL for ordinary kinds).  Given the normalized params and
   * the job's structure as submitted (NULL for kinds without one; only its
   * atom count, ids, types and species may be relied on: positions may be
   * replaced later through structure_from), make the child jobs.  On
   * success returns 0 and *children is a new JSON array (owned by the
   * caller), each item
   *   {"kind": NAME, "params": {...normalized...},
   *    "after": [i, ...],        optional: earlier siblings (0-based, each
   *                              < own index) that must succeed first;
   *                              their results are the child's io->inputs,
   *                              in this order
   *    "structure_from": j,      optional (absent or -1 = the parent's
   *                              structure as is): a sibling listed in
   *                              "after" whose result's positions and box
   *                              the child runs on (io->structure_result)
   *    "label": "text"}          optional: names the step in progress and
   *                              in errors ("descriptors", "chunk 3/40")
   * An empty array is allowed (the parent then runs with no inputs).
   * Every child job has the parent's structure, potential, user and
   * priority.  A child whose kind has a plan is expanded the same way
   * (recursively); its own children inherit its "after" and
   * "structure_from".  The parent runs after all its children succeeded,
   * with io->inputs = the children's results in array order, and, if it
   * was itself planned with structure_from, that structure_result.  If a
   * child fails for good, the parent (and every job after it) fails with
   * "LABEL (job ID, KIND) failed: reason".  Implemented in process by
   * kind_run_graph (CLI) and in the queue by pelmapd (docs/kinds.md,
   * "Job graphs").  On failure returns KIND_EINVAL/KIND_ENOMEM with the
   * reason in err. */
  int (*plan)(const cJSON *params, const struct eng_system *sys,
              cJSON **children, char *err, size_t errlen);
} kind_def;

/* The kind called name, or NULL if there is none. */
const kind_def *kind_find(const char *name);
/* The i-th kind (0-based) for iteration; NULL past the end or for i < 0. */
const kind_def *kind_at(int i);
/* Parameter `name` of kind k, or NULL. */
const kind_param *kind_param_find(const kind_def *k, const char *name);
/* Name of a return code ("KIND_EINVAL"); never NULL. */
const char *kind_errname(int code);
/* Program string written into results ("pelmap 0.1.0"). */
const char *kind_program(void);

/* Apply a result to the system it was computed on (for the extxyz export
 * and `pelmap -o`): positions from per_atom x,y,z (if present), the box
 * from result "box" (if present), and every other numeric per_atom array
 * (except id/type/species, and vx/vy/vz when sys has velocities) added as
 * a REAL property column (null entries, values undefined for an atom,
 * become NaN; a column of only nulls is skipped), matched to the system's
 * atoms through per_atom "id".  Returns 0, or KIND_EINVAL with a message
 * in err when the result does not fit the system (atom count, ids, null
 * positions), KIND_ENOMEM. */
int kind_apply_result(struct eng_system *sys, const cJSON *result, char *err,
                      size_t errlen);

/* Run kind k with params the way the queue would, in this process: if k
 * has a plan, read the structure from io (for plan), expand the graph
 * recursively and run every child in order (each with its inputs and
 * structure_result as specified at kind_def.plan, the other io fields
 * as given), then k itself with the children's results as inputs;
 * without a plan, the same as k->run.  Progress is reported through io
 * over the whole graph (by job count).  Returns 0 with *result (new, owned
 * by the caller), or the first failing job's KIND_E* code with
 * "LABEL (KIND): reason" in err.  io->final_system, if set, receives the
 * final system of k's own run only. */
int kind_run_graph(const kind_def *k, const cJSON *params, const kind_io *io,
                   cJSON **result, char *err, size_t errlen);

/* One job of an expanded graph (kind_graph_expand). */
typedef struct kind_graph_node {
  const kind_def *kind;
  cJSON *params;   /* normalized (owned by the graph) */
  char label[96];  /* "chunk 3/40"; the top node: the kind's name */
  int parent;      /* node whose plan made this one; -1 for the top */
  int *inputs;     /* nodes whose results are io->inputs, in order */
  int ninputs;
  int *after;      /* every node that must succeed first: the inputs, */
  int nafter;      /* the "after" inherited from planned ancestors, and
                    * for a node with a plan its children */
  int structure_from; /* node whose result is io->structure_result, -1 = none */
} kind_graph_node;

/* A job graph flattened depth first: a node's children come before it,
 * siblings keep the plan's order, the top node is last (nodes[n-1]); every
 * index in inputs, after and structure_from is lower than the node's own,
 * parent higher.  Release with kind_graph_free. */
typedef struct kind_graph {
  kind_graph_node *nodes;
  int n, cap;
  const struct eng_system *sys; /* internal: the structure plans see */
  int depth;                    /* internal */
} kind_graph;

/* Expand kind k (with a plan) exactly as kind_run_graph does, without
 * running anything: read the structure from io as the top job's run would
 * (structure, potential, type_names, frame; nothing when k needs no
 * structure), validate params, call the plans recursively.  How pelmapd
 * turns one submission into jobs (docs/kinds.md, "Job graphs").  For a
 * kind without a plan the graph is the one node.  Returns 0 with *g
 * filled (zero it first), or a KIND_E* code with the reason in err (*g
 * then empty). */
int kind_graph_expand(const kind_def *k, const cJSON *params, const kind_io *io,
                      kind_graph *g, char *err, size_t errlen);
/* Release what kind_graph_expand made and zero g. */
void kind_graph_free(kind_graph *g);

#ifdef __cplusplus
}
#endif

#endif /* PELMAP_KINDS_H */
