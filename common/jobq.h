/*
 * jobq.h -- the pelmap job queue: one SQLite database (schema/ *.sql) holding
 * users, structures, potentials, jobs, their dependencies, results and the
 * event log.  Shared by pelmapd (server/) and pelmap-worker in local mode.
 *
 * Conventions:
 *  - Every int-returning function returns JOBQ_OK (0) or a negative JOBQ_E*
 *    code; jobq_errmsg(q) then holds a human-readable message for the last
 *    failure on that handle.
 *  - A jobq handle is one sqlite3 connection: use it from one thread at a
 *    time.  Open one handle per thread / process; they share the database
 *    file safely (WAL mode, busy timeout, BEGIN IMMEDIATE for every write).
 *  - Times are unix seconds (double).  Leases and backoffs are seconds.
 *  - Ownership: strings and buffers returned through char ** are malloc'd
 *    and owned by the caller (free()).  jobq_job strings are owned by the
 *    struct; release with jobq_job_clear().
 *  - Visibility: functions taking `owner` restrict to that user's objects
 *    when owner > 0; owner == 0 means "any" (admin / worker / internal use).
 *    Another user's object is reported as JOBQ_ENOTFOUND, never EPERM.
 */
#ifndef PELMAP_JOBQ_H
#define PELMAP_JOBQ_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, value, description): the single list of queue error codes. */
#define JOBQ_ERROR_MAP(X)                                            \
  X(OK, 0, "success")                                                \
  X(ENOMEM, -1, "out of memory")                                     \
  X(EDB, -2, "database error")                                       \
  X(ENOTFOUND, -3, "not found")                                      \
  X(ESTALE, -4, "stale attempt: the job is no longer in that attempt") \
  X(EINVAL, -5, "invalid argument")                                  \
  X(EBUSY, -6, "database busy")                                      \
  X(ECONFLICT, -7, "conflict with the current state")               \
  X(ELIMIT, -8, "limit exceeded")                                    \
  X(EEXIST, -9, "already exists")                                    \
  X(EAUTH, -10, "unknown token")

enum jobq_error {
#define JOBQ__ENUM(name, val, desc) JOBQ_##name = val,
  JOBQ_ERROR_MAP(JOBQ__ENUM)
#undef JOBQ__ENUM
};

/* Short description of a code ("stale attempt: ..."). Never NULL. */
const char *jobq_strerror(int code);
/* Symbolic name of a code ("JOBQ_ESTALE"). Never NULL. */
const char *jobq_errname(int code);

typedef struct jobq jobq; /* an open queue database (one sqlite3 connection) */

/* Open (creating if needed) the database at path, apply the pending schema
 * migrations (PRAGMA user_version), set WAL mode, busy_timeout (10 s) and
 * foreign keys.  On success *out is a new handle owned by the caller.
 * JOBQ_EDB (message in stderr-free form via jobq_open_error) on failure;
 * *out is then NULL. */
int jobq_open(const char *path, jobq **out);
/* Close a handle (NULL is a no-op). */
void jobq_close(jobq *q);
/* Message of the last failure on q ("" if none). Never NULL. */
const char *jobq_errmsg(const jobq *q);
/* Message of the last failed jobq_open in this thread. Never NULL. */
const char *jobq_open_error(void);
/* Schema version the database is at after jobq_open (PRAGMA user_version). */
int jobq_schema_version(jobq *q);
/* Current time, unix seconds. */
double jobq_now(void);

/* Retry backoff after an expired lease or a retryable failure: the job is
 * not claimable before now + min(base * 2^(attempt-1), max) seconds.
 * Defaults base = 2 s, max = 300 s.  Per handle. */
void jobq_set_backoff(jobq *q, double base_s, double max_s);

/* Checkpoint the write-ahead log into the database without blocking
 * readers or writers (PRAGMA wal_checkpoint(PASSIVE)).  A long-running
 * process may turn automatic checkpoints off on its request-serving handles
 * (jobq_set_autocheckpoint(q, 0)) and call this from a housekeeping thread,
 * so that no request pays for a checkpoint.  JOBQ_EDB on failure. */
int jobq_checkpoint(jobq *q);
/* Automatic checkpoint after `pages` WAL pages (default 10000; 0 = off). */
void jobq_set_autocheckpoint(jobq *q, int pages);

/* ------------------------------------------------------------------ */
/* Users and tokens                                                    */
/* ------------------------------------------------------------------ */

enum jobq_role { JOBQ_ROLE_USER = 0, JOBQ_ROLE_WORKER = 1, JOBQ_ROLE_ADMIN = 2 };

typedef struct jobq_user {
  int64_t id;
  char name[65];
  int role;              /* enum jobq_role */
  int64_t max_upload;    /* bytes per upload */
  int64_t max_atoms;     /* atoms per structure */
  int64_t max_queued;    /* queued + running jobs at once */
  double rate_limit;     /* requests per second */
} jobq_user;

/* "user" / "worker" / "admin" -> role, or -1. */
int jobq_role_from_name(const char *name);
const char *jobq_role_name(int role);

/* Create a user with a new random token (32 random bytes, hex: 64 chars)
 * written into token[65]; only its sha256 is stored.  JOBQ_EEXIST if the
 * name is taken, JOBQ_EINVAL for an empty / too long name or bad role. */
int jobq_user_add(jobq *q, const char *name, int role, char token[65],
                  int64_t *id);
/* Look up the user whose token hashes to the stored hash.  JOBQ_EAUTH if
 * none.  Constant work per call (one indexed lookup of the hash). */
int jobq_user_auth(jobq *q, const char *token, jobq_user *out);
/* Set a user's limits (values <= 0 leave that limit unchanged). */
int jobq_user_set_limits(jobq *q, const char *name, int64_t max_upload,
                         int64_t max_atoms, int64_t max_queued, double rate);

/* Lower-case hex sha256 of len bytes into hex[65]. */
void jobq_sha256_hex(const void *data, size_t len, char hex[65]);

/* ------------------------------------------------------------------ */
/* Structures and potentials                                           */
/* ------------------------------------------------------------------ */

typedef struct jobq_structure_in {
  int64_t owner;
  const char *name;       /* file name given by the client */
  const char *format;     /* "lammps-data" | "lammps-dump" | "extxyz" */
  const void *bytes;      /* the original file */
  size_t len;
  int64_t natoms;
  const char *species_json; /* {"Cu":..,"Zr":..} */
  const char *box_json;     /* {"lo":[3],"len":[3],"tilt":[3],"periodic":[3]} */
  /* Read options the bytes were validated with (eng_read_opts), kept so
   * that every later reader sees the same atoms: */
  const char *types;        /* species of numeric types ("Cu Zr"); NULL/"" = none */
  int frame;                /* frame of a multi-frame file: 0 = first, -1 = last */
} jobq_structure_in;

/* Store a validated structure.  types is normalised (words of letters and
 * digits, single spaces; JOBQ_EINVAL for other characters or > 254 chars;
 * blank = none); frame < -1 is JOBQ_EINVAL.  If the same owner already has
 * identical bytes (sha256) with the same types and frame, *id is that
 * structure and *existed = 1; other read options make a new structure. */
int jobq_structure_add(jobq *q, const jobq_structure_in *in, int64_t *id,
                       int *existed);
/* Metadata as a JSON object (no bytes): id, name, format, natoms, species,
 * box, sha256, size, created, types (string or null), frame, owner.
 * JOBQ_ENOTFOUND if absent/not visible. */
int jobq_structure_json(jobq *q, int64_t id, int64_t owner, char **json);
/* A page of metadata objects as a JSON array, newest first; *total = count
 * of all visible structures. */
int jobq_structure_list(jobq *q, int64_t owner, int64_t limit, int64_t offset,
                        char **json, int64_t *total);
/* Delete; JOBQ_ECONFLICT while a queued or running job uses it. */
int jobq_structure_delete(jobq *q, int64_t id, int64_t owner);
/* The stored bytes of a structure / potential (what the worker parses).
 * malloc'd (NUL-terminated for convenience, len excludes it); caller frees.
 * name/fmt/style may be NULL.  Any owner (internal use). */
int jobq_structure_blob(jobq *q, int64_t id, char **data, size_t *len,
                        char name[64], char fmt[32]);
int jobq_potential_blob(jobq *q, int64_t id, char **data, size_t *len,
                        char name[64], char style[32]);
/* Same, restricted to what owner may see (owner 0 = any). */
int jobq_structure_blob_for(jobq *q, int64_t id, int64_t owner, char **data,
                            size_t *len, char name[64], char fmt[32]);
int jobq_potential_blob_for(jobq *q, int64_t id, int64_t owner, char **data,
                            size_t *len, char name[64], char style[32]);
/* The read options stored with structure id (any owner: internal use, or
 * after a visibility check): types[256] gets the species of numeric types
 * ("Cu Zr"; "" when none was given), *frame the frame to read (0 = first,
 * -1 = last).  Pass them as eng_read_opts.type_names (NULL when "") and
 * .frame to read the stored bytes as the upload did.  JOBQ_ENOTFOUND if no
 * such structure (types "" and *frame 0 then), JOBQ_EDB on failure. */
int jobq_structure_read_opts(jobq *q, int64_t id, char types[256], int *frame);

typedef struct jobq_potential_in {
  int64_t owner;          /* 0 = public (bundled) */
  const char *name;
  const char *style;      /* "eam/fs" | "eam/alloy" | "eam" */
  const char *elements_json; /* ["Cu","Zr"] */
  double cutoff;          /* Angstrom */
  const void *bytes;
  size_t len;
  int is_default;         /* the potential used by jobs that name none */
} jobq_potential_in;

/* Store a validated potential; identical bytes of the same owner return the
 * existing id (*existed = 1; is_default is still applied). */
int jobq_potential_add(jobq *q, const jobq_potential_in *in, int64_t *id,
                       int *existed);
/* Visible = owned by owner or public (owner NULL).  owner 0 = any. */
int jobq_potential_json(jobq *q, int64_t id, int64_t owner, char **json);
int jobq_potential_list(jobq *q, int64_t owner, int64_t limit, int64_t offset,
                        char **json, int64_t *total);
/* Delete an owned potential (public ones only with owner 0);
 * JOBQ_ECONFLICT while a queued or running job uses it. */
int jobq_potential_delete(jobq *q, int64_t id, int64_t owner);
/* Id of the default potential, JOBQ_ENOTFOUND if none is registered. */
int jobq_potential_default(jobq *q, int64_t *id);

/* ------------------------------------------------------------------ */
/* Jobs                                                                */
/* ------------------------------------------------------------------ */

typedef struct jobq_submit_in {
  int64_t user_id;
  const char *kind;
  const char *params_json;      /* normalized params (object) */
  int64_t structure_id;         /* 0 = none */
  int64_t potential_id;         /* 0 = none */
  int64_t parent_id;            /* 0 = none */
  const int64_t *run_after;     /* ids of jobs that must succeed first */
  int nrun_after;
  int priority;                 /* higher runs first within a user */
  int max_attempts;             /* 0 = default 3 */
  const char *idempotency_key;  /* NULL = none */
  int64_t max_queued;           /* the user's limit on queued+running; 0 = none */
  int see_all;                  /* 1: may reference any user's objects (admin) */
} jobq_submit_in;

/* Queue a job (state queued, event "created").  With an idempotency key
 * already used by this user, *id is that job and *existed = 1.
 * JOBQ_ENOTFOUND if structure/potential/parent/run_after are not visible
 * to the user (message names which), JOBQ_ELIMIT if the user already has
 * max_queued jobs queued or running, JOBQ_EINVAL for bad params. */
int jobq_submit(jobq *q, const jobq_submit_in *in, int64_t *id, int *existed);

/* A job as JSON: id, user, kind, state, priority, params, structure,
 * potential, parent, run_after, label, structure_from, inputs (count),
 * attempt, max_attempts, progress, message, worker, error, lease_expires,
 * not_before, created, started, finished, updated, has_result.  A job
 * with children (a graph) also has "graph": {"total", "queued",
 * "running", "succeeded", "failed", "cancelled"} counted over all its
 * descendants; its "progress" is then (succeeded descendants + the
 * progress of running ones + its own) / (total + 1), and while it waits
 * for them its "message" says "k of N jobs done, r running". */
int jobq_job_json(jobq *q, int64_t id, int64_t owner, char **json);
/* Filters may be NULL / 0; parent: -1 = any, 0 = top-level jobs only (no
 * parent: hides the children of job graphs), > 0 = children of that job.
 * Newest first. */
int jobq_job_list(jobq *q, int64_t owner, const char *state, const char *kind,
                  int64_t structure_id, int64_t parent, int64_t limit, int64_t offset,
                  char **json, int64_t *total);
/* Events of a job as a JSON array (oldest first). */
int jobq_events_json(jobq *q, int64_t id, int64_t owner, char **json);
/* The stored result JSON text of a succeeded job.  JOBQ_ENOTFOUND if the
 * job is not visible; JOBQ_ECONFLICT if it has no result (yet). */
int jobq_result_json(jobq *q, int64_t id, int64_t owner, char **json);
/* State of a job ("queued"...) into state[16], and its structure id. */
int jobq_job_state(jobq *q, int64_t id, int64_t owner, char state[16],
                   int64_t *structure_id);

/* Cancel: queued -> cancelled at once; running -> cancelled, and the
 * running attempt learns it at its next heartbeat (cancel = 1).  Children
 * (parent_id), all their descendants and jobs that run after any of them
 * are cancelled too.
 * JOBQ_ECONFLICT if already finished (succeeded/failed/cancelled). */
int jobq_cancel(jobq *q, int64_t id, int64_t owner, const char *why);

/* ------------------------------------------------------------------ */
/* Job graphs (kinds with a plan: fan-out sweeps, pipelines)           */
/* ------------------------------------------------------------------ */

/* One job of a graph; indices refer to the nodes array of
 * jobq_submit_graph.  Dependencies may only name earlier nodes (lower
 * index) and a parent a later one, which keeps the graph acyclic (the
 * depth-first order of kind_graph_expand, children before their parent). */
typedef struct jobq_graph_node {
  const char *kind;
  const char *params_json; /* normalized params (object); NULL = {} */
  const char *label;       /* step name for progress and errors; may be NULL */
  int parent;              /* index of the parent node (> own), -1 = the root */
  const int *after;        /* nodes that must succeed first (with inputs, */
  int nafter;              /* inherited "after", a parent's children) */
  const int *inputs;       /* nodes whose results are kind_io.inputs, */
  int ninputs;             /* in this order (each must be in after too) */
  int structure_from;      /* node whose result gives positions/box, -1 = none */
} jobq_graph_node;

/* Queue a job graph in one transaction.  nodes[n-1] is the root (parent
 * -1; in->kind and in->params_json are ignored: every node names its
 * own).  in->user_id, structure_id, potential_id, priority, max_attempts
 * apply to every node; in->parent_id and idempotency_key to the root;
 * in->run_after to every node (an inherited "after").  The root gets the
 * lowest id and the others follow in depth-first pre-order (a parent
 * before its children, siblings in order), so that claims take children
 * in plan order.  ids (n entries, may be NULL) receives the job id of each
 * node.  With an idempotency key already used, ids[n-1] (and *root) is
 * that job, the other ids 0, *existed = 1.  *root (may be NULL) gets the
 * root's id.  Errors as jobq_submit; JOBQ_ELIMIT when the user's queued +
 * running jobs plus n would exceed max_queued; JOBQ_EINVAL for an index
 * out of order. */
int jobq_submit_graph(jobq *q, const jobq_submit_in *in, const jobq_graph_node *nodes, int n,
                      int64_t *ids, int64_t *root, int *existed);

/* The graph inputs of job id (any owner: for workers): *inputs (malloc'd,
 * caller frees; NULL when *n == 0) = the ordered input job ids, whose
 * results are kind_io.inputs; *structure_from = the job whose result gives
 * kind_io.structure_result (0 = none).  JOBQ_ENOTFOUND if no such job. */
int jobq_job_inputs(jobq *q, int64_t id, int64_t **inputs, int *n, int64_t *structure_from);

/* Direct children of job id (visible to owner) as a JSON array of job
 * objects in plan order (ascending id), paged; *total = their count. */
int jobq_job_children(jobq *q, int64_t id, int64_t owner, int64_t limit, int64_t offset,
                      char **json, int64_t *total);

/* ------------------------------------------------------------------ */
/* Workers                                                             */
/* ------------------------------------------------------------------ */

typedef struct jobq_job {          /* a claimed job; strings owned by the struct */
  int64_t id, user_id, structure_id, potential_id, parent_id;
  int attempt;
  char kind[32];
  char *params_json;               /* validated params (defaults filled) */
  double lease_expires;            /* unix seconds */
  /* job graphs: inputs to fetch before the run (jobq_job_inputs) */
  int64_t structure_from;          /* 0 = none */
  int ninputs;
} jobq_job;
/* Free the strings of a job and zero it (safe on a zeroed struct). */
void jobq_job_clear(jobq_job *j);

/* Requeue or fail every running job whose lease has expired (backoff, or
 * failed after max_attempts with the reason recorded).  *n (may be NULL)
 * gets the number of jobs handled.  Called by jobq_claim too. */
int jobq_reap(jobq *q, int *n);

/* Atomically claim the best runnable job of one of kinds (NULL/0 = any):
 * returns 1 claimed (out filled), 0 none, <0 error.  Runnable: queued,
 * not_before passed, every run_after job succeeded (jobs.waiting = 0).  Fairness: among users
 * with runnable jobs, the one whose last claim is oldest; within a user,
 * highest priority then lowest id.  The claim sets state running, a lease
 * of lease_s seconds, attempt + 1 and the worker name. */
int jobq_claim(jobq *q, const char *worker, const char *const *kinds,
               int nkinds, double lease_s, jobq_job *out);
/* Extend the lease to now + lease_s, record progress (0..1, clamped) and a
 * message (may be NULL); *cancel = 1 if the job was cancelled (the lease is
 * then not extended).  JOBQ_ESTALE if (id, attempt) is not the current
 * running attempt, JOBQ_ENOTFOUND if no such job. */
int jobq_heartbeat(jobq *q, int64_t id, int attempt, double progress,
                   const char *msg, double lease_s, int *cancel);
/* Store the result (once) and mark succeeded; every job that runs after
 * it has one dependency fewer to wait for (jobs.waiting).  JOBQ_ESTALE likewise (also
 * when the job was cancelled meanwhile); JOBQ_EINVAL if result_json is not
 * a JSON object. */
int jobq_complete(jobq *q, int64_t id, int attempt, const char *result_json);
/* Record a failure of the current attempt: retryable and attempts left ->
 * queued again with backoff, else failed with error; then every queued job
 * that runs after it (transitively: a graph's parent and ancestors, jobs
 * after them) fails with "LABEL (job ID, KIND) failed: error" naming this
 * job ("dependency job ID (KIND) failed: error" when it has no label), and
 * the unfinished children of every job failed so are cancelled.  The
 * reaper does the same for a lease lost on the last attempt.  On a job cancelled
 * while that attempt ran, JOBQ_OK and nothing changes.  JOBQ_ESTALE
 * otherwise if not the current attempt. */
int jobq_fail(jobq *q, int64_t id, int attempt, const char *error,
              int retryable);

/* ------------------------------------------------------------------ */
/* Metrics                                                             */
/* ------------------------------------------------------------------ */

/* Prometheus text lines (with HELP/TYPE) for the database-derived
 * metrics: pelmap_jobs{state,kind}, pelmap_job_completions_total,
 * pelmap_job_failures_total, pelmap_job_retries_total,
 * pelmap_workers_alive (distinct workers holding a live lease or seen in
 * the last 60 s), pelmap_users, pelmap_structures, pelmap_potentials. */
int jobq_metrics_text(jobq *q, char **text);

#ifdef __cplusplus
}
#endif

#endif /* PELMAP_JOBQ_H */
