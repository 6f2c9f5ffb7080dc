/*
 * jobq.c -- the pelmap job queue on SQLite (see jobq.h for the contracts).
 *
 * One handle = one sqlite3 connection with a small cache of prepared
 * statements.  Every write runs inside BEGIN IMMEDIATE ... COMMIT so that
 * concurrent writers (threads of pelmapd, local workers) serialise on the
 * database lock instead of failing half-way; reads run in autocommit mode.
 * JSON answers for the API are built by SQLite's json_object() so that the
 * server only forwards text.
 *
 * The contract of every public function (returns, failures, units,
 * ownership) is written above its declaration in the header.
 */
#include "jobq.h"

#include <assert.h>
#include <math.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <openssl/sha.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The migrations, generated from schema/NNN_*.sql (common/jobq_schema.c). */
extern const char *const jobq__migrations[];
extern const int jobq__nmigrations;

#define JOBQ_STMT_CACHE 96
#define JOBQ_REAP_MAX 256

struct jobq {
  sqlite3 *db;
  char err[512];
  double backoff_base, backoff_max;
  int locked; /* holds jobq__write_lock (inside a write transaction) */
  int ncache;
  struct {
    const char *sql;
    sqlite3_stmt *st;
  } cache[JOBQ_STMT_CACHE];
};

static _Thread_local char jobq__open_err[1024];
/* Write transactions of the handles of one process take this lock first, so
 * that threads queue on a mutex instead of sleeping in SQLite's busy handler
 * (other processes still serialise through the database lock). */
static pthread_mutex_t jobq__write_lock = PTHREAD_MUTEX_INITIALIZER;

const char *jobq_strerror(int code) {
  switch (code) {
#define JOBQ__DESC(name, val, desc) \
  case val:                         \
    return desc;
    JOBQ_ERROR_MAP(JOBQ__DESC)
#undef JOBQ__DESC
  default:
    return "unknown error";
  }
}

const char *jobq_errname(int code) {
  switch (code) {
#define JOBQ__NAME(name, val, desc) \
  case val:                         \
    return "JOBQ_" #name;
    JOBQ_ERROR_MAP(JOBQ__NAME)
#undef JOBQ__NAME
  default:
    return "JOBQ_UNKNOWN";
  }
}

const char *jobq_errmsg(const jobq *q) { return q ? q->err : ""; }
const char *jobq_open_error(void) { return jobq__open_err; }

double jobq_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int seterr(jobq *q, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int seterr(jobq *q, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(q->err, sizeof q->err, fmt, ap);
  va_end(ap);
  return code;
}

/* Translate a SQLite failure into a queue code with its message. */
static int dberr(jobq *q, int rc, const char *what) {
  int code = (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) ? JOBQ_EBUSY : JOBQ_EDB;
  if (rc == SQLITE_NOMEM) code = JOBQ_ENOMEM;
  return seterr(q, code, "%s: %s", what, sqlite3_errmsg(q->db));
}

/* A cached prepared statement for sql (a string literal or any stable
 * string: it is compared by pointer, then by content), reset and unbound. */
static sqlite3_stmt *stmt(jobq *q, const char *sql) {
  for (int i = 0; i < q->ncache; i++) {
    if (q->cache[i].sql == sql || strcmp(q->cache[i].sql, sql) == 0) {
      sqlite3_stmt *st = q->cache[i].st;
      sqlite3_reset(st);
      sqlite3_clear_bindings(st);
      return st;
    }
  }
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v3(q->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
  if (rc != SQLITE_OK) {
    dberr(q, rc, "prepare");
    return NULL;
  }
  if (q->ncache < JOBQ_STMT_CACHE) {
    q->cache[q->ncache].sql = sql;
    q->cache[q->ncache].st = st;
    q->ncache++;
  } else {
    /* Should not happen (the number of distinct statements is fixed);
     * keep working by evicting the last slot. */
    sqlite3_finalize(q->cache[JOBQ_STMT_CACHE - 1].st);
    q->cache[JOBQ_STMT_CACHE - 1].sql = sql;
    q->cache[JOBQ_STMT_CACHE - 1].st = st;
  }
  return st;
}

/* Run a statement that returns no rows (or ignore them). */
static int exec_done(jobq *q, sqlite3_stmt *st, const char *what) {
  int rc = sqlite3_step(st);
  while (rc == SQLITE_ROW) rc = sqlite3_step(st);
  if (rc != SQLITE_DONE) {
    int e = dberr(q, rc, what);
    sqlite3_reset(st);
    return e;
  }
  sqlite3_reset(st);
  return JOBQ_OK;
}

static void unlock(jobq *q) {
  if (q->locked) {
    q->locked = 0;
    pthread_mutex_unlock(&jobq__write_lock);
  }
}

static int begin(jobq *q) {
  assert(!q->locked);
  pthread_mutex_lock(&jobq__write_lock);
  q->locked = 1;
  sqlite3_stmt *st = stmt(q, "BEGIN IMMEDIATE");
  int rc = st ? exec_done(q, st, "begin") : JOBQ_EDB;
  if (rc < 0) unlock(q);
  return rc;
}

static int commit(jobq *q) {
  sqlite3_stmt *st = stmt(q, "COMMIT");
  int rc = st ? exec_done(q, st, "commit") : JOBQ_EDB;
  if (rc == JOBQ_OK) unlock(q);
  return rc;
}

static void rollback(jobq *q) {
  if (!sqlite3_get_autocommit(q->db)) {
    char saved[sizeof q->err];
    memcpy(saved, q->err, sizeof saved);
    sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
    memcpy(q->err, saved, sizeof saved);
  }
  unlock(q);
}

/* Finish a write transaction: commit when rc is OK (or positive), else roll back. */
static int finish(jobq *q, int rc) {
  if (rc >= 0) {
    int c = commit(q);
    if (c < 0) {
      rollback(q);
      return c;
    }
    return rc;
  }
  rollback(q);
  return rc;
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *s) {
  if (s)
    sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
  else
    sqlite3_bind_null(st, i);
}

static void bind_id_or_null(sqlite3_stmt *st, int i, int64_t v) {
  if (v > 0)
    sqlite3_bind_int64(st, i, v);
  else
    sqlite3_bind_null(st, i);
}

/* Copy column 0 of the single row of st (text) into a new string. */
static int step_text(jobq *q, sqlite3_stmt *st, char **out, const char *what) {
  *out = NULL;
  int rc = sqlite3_step(st);
  if (rc == SQLITE_DONE) {
    sqlite3_reset(st);
    return JOBQ_ENOTFOUND;
  }
  if (rc != SQLITE_ROW) {
    int e = dberr(q, rc, what);
    sqlite3_reset(st);
    return e;
  }
  const unsigned char *t = sqlite3_column_text(st, 0);
  int n = sqlite3_column_bytes(st, 0);
  if (!t) {
    sqlite3_reset(st);
    return JOBQ_ENOTFOUND;
  }
  char *s = malloc((size_t)n + 1);
  if (!s) {
    sqlite3_reset(st);
    return seterr(q, JOBQ_ENOMEM, "out of memory");
  }
  memcpy(s, t, (size_t)n);
  s[n] = '\0';
  sqlite3_reset(st);
  *out = s;
  return JOBQ_OK;
}

/* One integer from the single row of st; JOBQ_ENOTFOUND if no row. */
static int step_int(jobq *q, sqlite3_stmt *st, int64_t *v, const char *what) {
  int rc = sqlite3_step(st);
  if (rc == SQLITE_DONE) {
    sqlite3_reset(st);
    return JOBQ_ENOTFOUND;
  }
  if (rc != SQLITE_ROW) {
    int e = dberr(q, rc, what);
    sqlite3_reset(st);
    return e;
  }
  *v = sqlite3_column_int64(st, 0);
  sqlite3_reset(st);
  return JOBQ_OK;
}

static int bump_counter(jobq *q, const char *name) {
  sqlite3_stmt *st = stmt(q,
      "INSERT INTO counters(name, value) VALUES (?1, 1) "
      "ON CONFLICT(name) DO UPDATE SET value = value + 1");
  if (!st) return JOBQ_EDB;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  return exec_done(q, st, "counter");
}

static int add_event(jobq *q, int64_t job, double now, const char *from, const char *to,
                     int attempt, const char *worker, const char *msg) {
  sqlite3_stmt *st = stmt(q,
      "INSERT INTO job_events(job_id, seq, time, from_state, to_state, attempt, worker, message) "
      "VALUES (?1, ifnull((SELECT max(seq) FROM job_events WHERE job_id = ?1), 0) + 1, "
      "?2, ?3, ?4, ?5, ?6, ?7)");
  if (!st) return JOBQ_EDB;
  sqlite3_bind_int64(st, 1, job);
  sqlite3_bind_double(st, 2, now);
  bind_text_or_null(st, 3, from);
  sqlite3_bind_text(st, 4, to, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 5, attempt);
  bind_text_or_null(st, 6, worker);
  bind_text_or_null(st, 7, msg);
  return exec_done(q, st, "event");
}

static int touch_worker(jobq *q, const char *worker, double now, int claimed) {
  if (!worker) return JOBQ_OK;
  sqlite3_stmt *st = stmt(q,
      "INSERT INTO workers(name, last_seen, claims) VALUES (?1, ?2, ?3) "
      "ON CONFLICT(name) DO UPDATE SET last_seen = ?2, claims = claims + ?3 "
      "WHERE ?3 > 0 OR last_seen < ?2 - 5");  /* heartbeats: at most every 5 s */
  if (!st) return JOBQ_EDB;
  sqlite3_bind_text(st, 1, worker, -1, SQLITE_STATIC);
  sqlite3_bind_double(st, 2, now);
  sqlite3_bind_int(st, 3, claimed);
  return exec_done(q, st, "worker");
}

/* ------------------------------------------------------------------ */
/* Open / close                                                        */
/* ------------------------------------------------------------------ */

static int migrate(jobq *q) {
  int64_t v = 0;
  sqlite3_stmt *st = stmt(q, "PRAGMA user_version");
  if (!st) return JOBQ_EDB;
  int rc = step_int(q, st, &v, "user_version");
  if (rc < 0) return rc;
  if (v >= jobq__nmigrations) return JOBQ_OK;
  /* A migration may rebuild a table that others reference (create, copy,
   * drop, rename): with foreign keys on, the drop would run the ON DELETE
   * actions of the referencing rows.  The pragma is a no-op inside a
   * transaction, so it is switched off here and the references are checked
   * before the commit instead. */
  if (sqlite3_exec(q->db, "PRAGMA foreign_keys = OFF", NULL, NULL, NULL) != SQLITE_OK)
    return dberr(q, SQLITE_ERROR, "foreign_keys off");
  rc = begin(q);
  if (rc < 0) goto fk_on;
  /* Read again under the write lock: another process may have migrated. */
  st = stmt(q, "PRAGMA user_version");
  rc = st ? step_int(q, st, &v, "user_version") : JOBQ_EDB;
  for (int i = (int)v; rc >= 0 && i < jobq__nmigrations; i++) {
    char *emsg = NULL;
    if (sqlite3_exec(q->db, jobq__migrations[i], NULL, NULL, &emsg) != SQLITE_OK) {
      rc = seterr(q, JOBQ_EDB, "schema migration %d: %s", i + 1, emsg ? emsg : "?");
      sqlite3_free(emsg);
      break;
    }
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", i + 1);
    if (sqlite3_exec(q->db, sql, NULL, NULL, NULL) != SQLITE_OK)
      rc = dberr(q, SQLITE_ERROR, "user_version");
  }
  if (rc >= 0) {
    /* Any row returned names a dangling reference left by a migration. */
    int nbad = 0;
    sqlite3_stmt *fk = NULL;
    if (sqlite3_prepare_v2(q->db, "PRAGMA foreign_key_check", -1, &fk, NULL) != SQLITE_OK) {
      rc = dberr(q, SQLITE_ERROR, "foreign_key_check");
    } else {
      while (sqlite3_step(fk) == SQLITE_ROW) nbad++;
      sqlite3_finalize(fk);
      if (nbad > 0)
        rc = seterr(q, JOBQ_EDB, "schema migration: %d dangling foreign key(s)", nbad);
    }
  }
  rc = finish(q, rc);
fk_on:
  if (sqlite3_exec(q->db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL) != SQLITE_OK && rc >= 0)
    rc = dberr(q, SQLITE_ERROR, "foreign_keys on");
  return rc;
}

int jobq_open(const char *path, jobq **out) {
  *out = NULL;
  jobq__open_err[0] = '\0';
  if (!path || !*path) {
    snprintf(jobq__open_err, sizeof jobq__open_err, "no database path");
    return JOBQ_EINVAL;
  }
  jobq *q = calloc(1, sizeof *q);
  if (!q) {
    snprintf(jobq__open_err, sizeof jobq__open_err, "out of memory");
    return JOBQ_ENOMEM;
  }
  q->backoff_base = 2.0;
  q->backoff_max = 300.0;
  int rc = sqlite3_open_v2(path, &q->db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           NULL);
  if (rc != SQLITE_OK) {
    snprintf(jobq__open_err, sizeof jobq__open_err, "%s: %s", path,
             q->db ? sqlite3_errmsg(q->db) : "cannot open");
    goto fail;
  }
  sqlite3_busy_timeout(q->db, 10000);
  char *emsg = NULL;
  /* WAL + synchronous NORMAL: a committed transaction survives a crash of
   * the process (SIGKILL); only a power loss may drop the last commits. */
  if (sqlite3_exec(q->db,
                   "PRAGMA page_size = 1024; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; "
                   "PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 10000; "
                   "PRAGMA cache_size = -8000;",
                   NULL, NULL, &emsg) != SQLITE_OK) {
    snprintf(jobq__open_err, sizeof jobq__open_err, "%s: %s", path, emsg ? emsg : "?");
    sqlite3_free(emsg);
    goto fail;
  }
  rc = migrate(q);
  if (rc < 0) {
    snprintf(jobq__open_err, sizeof jobq__open_err, "%s: %s", path, q->err);
    jobq_close(q);
    return rc;
  }
  *out = q;
  return JOBQ_OK;
fail:
  jobq_close(q);
  return JOBQ_EDB;
}

void jobq_close(jobq *q) {
  if (!q) return;
  for (int i = 0; i < q->ncache; i++) sqlite3_finalize(q->cache[i].st);
  sqlite3_close(q->db);
  free(q);
}

int jobq_schema_version(jobq *q) {
  int64_t v = 0;
  sqlite3_stmt *st = stmt(q, "PRAGMA user_version");
  if (!st) return JOBQ_EDB;
  int rc = step_int(q, st, &v, "user_version");
  return rc < 0 ? rc : (int)v;
}

void jobq_set_backoff(jobq *q, double base_s, double max_s) {
  if (base_s >= 0) q->backoff_base = base_s;
  if (max_s >= 0) q->backoff_max = max_s;
}

int jobq_checkpoint(jobq *q) {
  int rc = sqlite3_wal_checkpoint_v2(q->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
  if (rc != SQLITE_OK && rc != SQLITE_BUSY) return dberr(q, rc, "checkpoint");
  return JOBQ_OK;
}

void jobq_set_autocheckpoint(jobq *q, int pages) {
  sqlite3_wal_autocheckpoint(q->db, pages > 0 ? pages : 0);
}

static double backoff(const jobq *q, int attempt) {
  double b = q->backoff_base * pow(2.0, attempt > 1 ? attempt - 1 : 0);
  return b < q->backoff_max ? b : q->backoff_max;
}

/* ------------------------------------------------------------------ */
/* Users                                                               */
/* ------------------------------------------------------------------ */

int jobq_role_from_name(const char *name) {
  if (!name) return -1;
  if (strcmp(name, "user") == 0) return JOBQ_ROLE_USER;
  if (strcmp(name, "worker") == 0) return JOBQ_ROLE_WORKER;
  if (strcmp(name, "admin") == 0) return JOBQ_ROLE_ADMIN;
  return -1;
}

const char *jobq_role_name(int role) {
  switch (role) {
  case JOBQ_ROLE_USER: return "user";
  case JOBQ_ROLE_WORKER: return "worker";
  case JOBQ_ROLE_ADMIN: return "admin";
  default: return "?";
  }
}

void jobq_sha256_hex(const void *data, size_t len, char hex[65]) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(data, len, md);
  for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
  hex[64] = '\0';
}

int jobq_user_add(jobq *q, const char *name, int role, char token[65], int64_t *id) {
  token[0] = '\0';
  size_t n = name ? strlen(name) : 0;
  if (n == 0 || n > 64) return seterr(q, JOBQ_EINVAL, "user name must have 1 to 64 characters");
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '_' || c == '-' || c == '.' || c == '@'))
      return seterr(q, JOBQ_EINVAL, "user name may use letters, digits and _ - . @ only");
  }
  if (role < JOBQ_ROLE_USER || role > JOBQ_ROLE_ADMIN)
    return seterr(q, JOBQ_EINVAL, "role must be user, worker or admin");
  unsigned char raw[32];
  if (RAND_bytes(raw, sizeof raw) != 1) return seterr(q, JOBQ_EINVAL, "no random bytes for a token");
  for (int i = 0; i < 32; i++) snprintf(token + 2 * i, 3, "%02x", raw[i]);
  char hash[65];
  jobq_sha256_hex(token, 64, hash);
  int rc = begin(q);
  if (rc < 0) return rc;
  sqlite3_stmt *st = stmt(q,
      "INSERT INTO users(name, role, token_hash, created) VALUES (?1, ?2, ?3, ?4)");
  if (!st) {
    rc = JOBQ_EDB;
    goto out;
  }
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, jobq_role_name(role), -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, hash, -1, SQLITE_STATIC);
  sqlite3_bind_double(st, 4, jobq_now());
  int s = sqlite3_step(st);
  sqlite3_reset(st);
  if (s == SQLITE_CONSTRAINT) {
    rc = seterr(q, JOBQ_EEXIST, "user '%s' already exists", name);
    goto out;
  }
  if (s != SQLITE_DONE) {
    rc = dberr(q, s, "add user");
    goto out;
  }
  if (id) *id = sqlite3_last_insert_rowid(q->db);
out:
  rc = finish(q, rc);
  if (rc < 0) token[0] = '\0';
  return rc;
}

int jobq_user_auth(jobq *q, const char *token, jobq_user *out) {
  memset(out, 0, sizeof *out);
  if (!token || !*token) return seterr(q, JOBQ_EAUTH, "missing token");
  char hash[65];
  jobq_sha256_hex(token, strlen(token), hash);
  sqlite3_stmt *st = stmt(q,
      "SELECT id, name, role, max_upload, max_atoms, max_queued, rate_limit "
      "FROM users WHERE token_hash = ?1");
  if (!st) return JOBQ_EDB;
  sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_DONE) {
    sqlite3_reset(st);
    return seterr(q, JOBQ_EAUTH, "unknown token");
  }
  if (rc != SQLITE_ROW) {
    int e = dberr(q, rc, "auth");
    sqlite3_reset(st);
    return e;
  }
  out->id = sqlite3_column_int64(st, 0);
  snprintf(out->name, sizeof out->name, "%s", (const char *)sqlite3_column_text(st, 1));
  out->role = jobq_role_from_name((const char *)sqlite3_column_text(st, 2));
  out->max_upload = sqlite3_column_int64(st, 3);
  out->max_atoms = sqlite3_column_int64(st, 4);
  out->max_queued = sqlite3_column_int64(st, 5);
  out->rate_limit = sqlite3_column_double(st, 6);
  sqlite3_reset(st);
  return JOBQ_OK;
}

int jobq_user_set_limits(jobq *q, const char *name, int64_t max_upload, int64_t max_atoms,
                         int64_t max_queued, double rate) {
  int rc = begin(q);
  if (rc < 0) return rc;
  sqlite3_stmt *st = stmt(q,
      "UPDATE users SET "
      "max_upload = CASE WHEN ?2 > 0 THEN ?2 ELSE max_upload END, "
      "max_atoms = CASE WHEN ?3 > 0 THEN ?3 ELSE max_atoms END, "
      "max_queued = CASE WHEN ?4 > 0 THEN ?4 ELSE max_queued END, "
      "rate_limit = CASE WHEN ?5 > 0 THEN ?5 ELSE rate_limit END "
      "WHERE name = ?1");
  if (!st) {
    rc = JOBQ_EDB;
    goto out;
  }
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, max_upload);
  sqlite3_bind_int64(st, 3, max_atoms);
  sqlite3_bind_int64(st, 4, max_queued);
  sqlite3_bind_double(st, 5, rate);
  rc = exec_done(q, st, "set limits");
  if (rc == JOBQ_OK && sqlite3_changes(q->db) == 0)
    rc = seterr(q, JOBQ_ENOTFOUND, "no user '%s'", name);
out:
  return finish(q, rc);
}

/* ------------------------------------------------------------------ */
/* Structures                                                          */
/* ------------------------------------------------------------------ */

#define STRUCT_OBJ                                                              \
  "json_object('id', s.id, 'name', s.name, 'format', s.format, 'natoms', s.natoms, " \
  "'species', json(s.species), 'box', json(s.box), 'sha256', s.sha256, "        \
  "'size', s.size, 'created', s.created, 'types', s.types, 'frame', s.frame, "   \
  "'owner', (SELECT name FROM users WHERE id = s.owner))"

/* Normalise the read option types into out[256]: words of letters and
 * digits separated by single spaces ("" when in is NULL or blank).
 * JOBQ_EINVAL (message set) for any other character or a too long list. */
static int norm_types(jobq *q, const char *in, char out[256]) {
  size_t n = 0;
  out[0] = '\0';
  if (!in) return JOBQ_OK;
  for (const char *p = in; *p; p++) {
    unsigned char ch = (unsigned char)*p;
    if (ch == ' ' || ch == '\t') {
      if (n > 0 && out[n - 1] != ' ') out[n++] = ' ';
    } else if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')) {
      out[n++] = (char)ch;
    } else {
      out[0] = '\0';
      return seterr(q, JOBQ_EINVAL, "types: '%c' is not allowed (species names separated by spaces)",
                    ch >= 0x20 && ch < 0x7f ? ch : '?');
    }
    if (n >= 255) {
      out[0] = '\0';
      return seterr(q, JOBQ_EINVAL, "types: longer than 254 characters");
    }
  }
  if (n > 0 && out[n - 1] == ' ') n--;
  out[n] = '\0';
  return JOBQ_OK;
}

int jobq_structure_add(jobq *q, const jobq_structure_in *in, int64_t *id, int *existed) {
  *id = 0;
  if (existed) *existed = 0;
  if (!in || !in->bytes || in->len == 0 || !in->name || !in->format || in->owner <= 0 ||
      !in->species_json || !in->box_json || in->natoms <= 0)
    return seterr(q, JOBQ_EINVAL, "incomplete structure");
  if (in->frame < -1) return seterr(q, JOBQ_EINVAL, "frame: must be >= -1 (got %d)", in->frame);
  char types[256];
  int rc = norm_types(q, in->types, types);
  if (rc < 0) return rc;
  char sha[65];
  jobq_sha256_hex(in->bytes, in->len, sha);
  rc = begin(q);
  if (rc < 0) return rc;
  /* The de-duplication key: the same bytes read the same way. */
  sqlite3_stmt *st = stmt(q, "SELECT id FROM structures WHERE owner = ?1 AND sha256 = ?2 "
                             "AND ifnull(types, '') = ?3 AND frame = ?4");
  if (!st) {
    rc = JOBQ_EDB;
    goto out;
  }
  sqlite3_bind_int64(st, 1, in->owner);
  sqlite3_bind_text(st, 2, sha, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, types, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 4, in->frame);
  rc = step_int(q, st, id, "find structure");
  if (rc == JOBQ_OK) {
    if (existed) *existed = 1;
    goto out;
  }
  if (rc != JOBQ_ENOTFOUND) goto out;
  st = stmt(q,
      "INSERT INTO structures(owner, name, format, bytes, size, sha256, natoms, species, box, created, "
      "types, frame) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
  if (!st) {
    rc = JOBQ_EDB;
    goto out;
  }
  sqlite3_bind_int64(st, 1, in->owner);
  sqlite3_bind_text(st, 2, in->name, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, in->format, -1, SQLITE_STATIC);
  sqlite3_bind_blob64(st, 4, in->bytes, in->len, SQLITE_STATIC);
  sqlite3_bind_int64(st, 5, (int64_t)in->len);
  sqlite3_bind_text(st, 6, sha, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 7, in->natoms);
  sqlite3_bind_text(st, 8, in->species_json, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 9, in->box_json, -1, SQLITE_STATIC);
  sqlite3_bind_double(st, 10, jobq_now());
  bind_text_or_null(st, 11, types[0] ? types : NULL);
  sqlite3_bind_int(st, 12, in->frame);
  rc = exec_done(q, st, "insert structure");
  if (rc == JOBQ_OK) *id = sqlite3_last_insert_rowid(q->db);
out:
  return finish(q, rc);
}

int jobq_structure_json(jobq *q, int64_t id, int64_t owner, char **json) {
  sqlite3_stmt *st = stmt(q, "SELECT " STRUCT_OBJ " FROM structures s "
                             "WHERE s.id = ?1 AND (?2 = 0 OR s.owner = ?2)");
  if (!st) return JOBQ_EDB;
  sqlite3_bind_int64(st, 1, id);
  sqlite3_bind_int64(st, 2, owner);
  int rc = step_text(q, st, json, "structure");
  if (rc == JOBQ_ENOTFOUND) seterr(q, rc, "no structure %lld", (long long)id);
  return rc;
}

static int count_rows(jobq *q, sqlite3_stmt *st, int64_t *total) {
  return step_int(q, st, total, "count");
}

int jobq_structure_list(jobq *q, int64_t owner, int64_t limit, int64_t offset, char **json,
                        int64_t *total) {
  *json = NULL;
  sqlite3_stmt *st = stmt(q, "SELECT count(*) FROM structures WHERE (?1 = 0 OR owner = ?1)");
  if (!st) return JOBQ_EDB;
  sqlite3_bind_int64(st, 1, owner);
  int rc = count_rows(q, st, total);
  if (rc < 0) return rc;
  st = stmt(q, "SELECT json_group_array(json(o)) FROM (SELECT " STRUCT_OBJ " AS o "
               "FROM structures s WHERE (?1 = 0 OR s.owner = ?1) ORDER BY s.id DESC "
               "LIMIT ?2 OFFSET ?3)");
  if (!st) return JOBQ_EDB;
  sqlite3_bind_int64(st, 1, owner);
  sqlite3_bind_int64(st, 2, limit);
  sqlite3_bind_int64(st, 3, offset);
  return step_text(q, st, json, "list structures");
}

/* Delete from table (structures|potentials) unless an active job uses it. */
static int delete_object(jobq *q, int64_t id, int64_t owner, int is_structure) {
  int rc = begin(q);
  if (rc < 0) return rc;
  int64_t n = 0;
  sqlite3_stmt *st = stmt(q, is_structure
      ? "SELECT count(*) FROM structures WHERE id = ?1 AND (?2 = 0 OR owner = ?2)"
      : "SELECT count(*) FROM potentials WHERE id = ?1 AND "
        "(CASE WHEN ?2 = 0 THEN 1 ELSE owner = ?2 END)");
  if (!st) {
    rc = JOBQ_EDB;
    goto out;
  }
  sqlite3_bind_int64(st, 1, id);
  sqlite3_bind_int64(st, 2, owner);
  rc = step_int(q, st, &n, "find");
  if (rc < 0) goto out;
  if (n == 0) {
    rc = seterr(q, JOBQ_ENOTFOUND, "no %s %lld", is_structure ? "structure" : "potential",
                (long long)id);
    goto out;
  }
  st = stmt(q, is_structure
      ? "SELECT count(*) FROM jobs WHERE structure_id = ?1 AND state IN ('queued', 'running')"
      : "SELECT count(*) FROM jobs WHERE potential_id = ?1 AND state IN ('queued', 'running')");
  if (!st) {
    rc = JOBQ_EDB;
    goto out;
  }
  sqlite3_bind_int64(st, 1, id);
  rc = step_int(q, st, &n, "in use");
  if (rc < 0) goto out;
  if (n > 0) {
    rc = seterr(q, JOBQ_ECONFLICT, "%s %lld is used by %lld queued or running job(s)",
                is_structure ? "structure" : "potential", (long long)id, (long long)n);
    goto out;
  }
  st = stmt(q, is_structure ? "DELETE FROM structures WHERE id = ?1"
                            : "DELETE FROM potentials WHERE id = ?1");
  if (!st) {
    rc = JOBQ_EDB;
    goto out;
  }
  sqlite3_bind_int64(st, 1, id);
  rc = exec_done(q, st, "delete");
out:
  return finish(q, rc);
}

int jobq_structure_delete(jobq *q, int64_t id, int64_t owner) {
  return delete_object(q, id, owner, 1);
}

static int blob_get(jobq *q, sqlite3_stmt *st, char **data, size_t *len, char *name,
                    size_t namelen, char *fmt, size_t fmtlen, const char *what, int64_t id) {
  *data = NULL;
  *len = 0;
  int rc = sqlite3_step(st);
  if (rc == SQLITE_DONE) {
    sqlite3_reset(st);
    return seterr(q, JOBQ_ENOTFOUND, "no %s %lld", what, (long long)id);
  }
  if (rc != SQLITE_ROW) {
    int e = dberr(q, rc, what);
    sqlite3_reset(st);
    return e;
  }
  const void *b = sqlite3_column_blob(st, 0);
  size_t n = (size_t)sqlite3_column_bytes(st, 0);
  char *d = malloc(n + 1);
  if (!d) {
    sqlite3_reset(st);
    return seterr(q, JOBQ_ENOMEM, "out of memory");
  }
  if (n) memcpy(d, b, n);
  d[n] = '\0';
  if (name) snprintf(name, namelen, "%s", (const char *)sqlite3_column_text(st, 1));
  if (fmt) snprintf(fmt, fmtlen, "%s", (const char *)sqlite3_column_text(st, 2));
  sqlite3_reset(st);
  *data = d;
  *len = n;
  return JOBQ_OK;
}

int jobq_structure_blob_for(jobq *q, int64_t id, int64_t owner, char **data, size_t *len,
                            char name[64], char fmt[32]) {
  sqlite3_stmt *st = stmt(q, "SELECT bytes, name, format FROM structures "
                             "WHERE id = ?1 AND (?2 = 0 OR owner = ?2)");
  if (!st) return JOBQ_EDB;
  sqlite3_bind_int64(st, 1, id);
  sqlite3_bind_int64(st, 2, owner);
  return blob_get(q, st, data, len, name, 64, fmt, 32, "structure", id);
}

int jobq_structure_blob(jobq *q, int64_t id, char **data, size_t *len, char name[64],
                        char fmt[32]) {
  return jobq_structure_blob_for(q, id, 0, data, len, name, fmt);
}

int jobq_structure_read_opts(jobq *q, int64_t id, char types[256], int *frame) {
  types[0] = '\0';
  *frame = 0;
  sqlite3_stmt *st = stmt(q, "SELECT ifnull(types, ''), frame FROM structures WHERE id = ?1");
  if (!st) return JOBQ_EDB;
  sqlite3_bind_int64(st, 1, id);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    snprintf(types, 256, "%s", (const char *)sqlite3_column_text(st, 0));
    *frame = sqlite3_column_int(st, 1);
    rc = JOBQ_OK;
  } else if (rc == SQLITE_DONE) {
    rc = seterr(q, JOBQ_ENOTFOUND, "no structure %lld", (long long)id);
  } else {
    rc = dberr(q, rc, "structure read options");
  }
  sqlite3_reset(st);
  return rc;
}

/* ------------------------------------------------------------------ */
/* Potentials                                                          */
/* ------------------------------------------------------------------ */

#define POT_OBJ                                                                    \
  "json_object('id', p.id, 'name', p.name, 'style', p.style, "                     \
  "'elements', json(p.elements), 'cutoff', p.cutoff, 'sha256', p.sha256, "         \
  "'size', p.size, 'created', p.created, 'default', "                              \
  "CASE WHEN p.is_default THEN json('true') ELSE json('false') END, "             \
  "'owner', (SELECT name FROM users WHERE id = p.owner))"

#define POT_VISIBLE "(?2 = 0 OR p.owner IS NULL OR p.owner = ?2)"

int jobq_potential_add(jobq *q, const jobq_potential_in *in, int64_t *id, int *existed) {
  *id = 0;
  if (existed) *existed = 0;
  if (!in || !in->bytes || in->len == 0 || !in->name || !in->style || !in->elements_json ||
      !(in->cutoff > 0))
    return seterr(q, JOBQ_EINVAL, "incomplete potential");
  char sha[65];
  jobq_sha256_hex(in->bytes, in->len, sha);
  int rc = begin(q);
  if (rc < 0) return rc;
  sqlite3_stmt *st = stmt(q, "SELECT id FROM potentials WHERE ifnull(owner, 0) = ?1 AND sha256 = ?2");
  if (!st) {
    rc = JOBQ_EDB;
    goto out;
  }
  sqlite3_bind_int64(st, 1, in->owner);
  sqlite3_bind_text(st, 2, sha, -1, SQLITE_STATIC);
  rc = step_int(q, st, id, "find potential");
  if (rc == JOBQ_OK) {
    if (existed) *existed = 1;
  } else if (rc == JOBQ_ENOTFOUND) {
    st = stmt(q,
        "INSERT INTO potentials(owner, name, style, elements, cutoff, bytes, size, sha256, created) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
    if (!st) {
      rc = JOBQ_EDB;
      goto out;
    }
    bind_id_or_null(st, 1, in->owner);
    sqlite3_bind_text(st, 2, in->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, in->style, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, in->elements_json, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 5, in->cutoff);
    sqlite3_bind_blob64(st, 6, in->bytes, in->len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, (int64_t)in->len);
    sqlite3_bind_text(st, 8, sha, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 9, jobq_now());
    rc = exec_done(q, st, "insert potential");
    if (rc == JOBQ_OK) *id = sqlite3_last_insert_rowid(q->db);
  }
  if (rc < 0) goto out;
  if (in->is_default) {
    st = stmt(q, "UPDATE potentials SET is_default = (id = ?1)");
    if (!st) {
      rc = JOBQ_EDB;
      goto out;
    }
    sqlite3_bind_int64(st, 1, *id);
    rc = exec_done(q, st, "default potential");
  }
out:
  return finish(q, rc);
}

int jobq_potential_json(jobq *q, int64_t id, int64_t owner, char **json) {
  sqlite3_stmt *st = stmt(q, "SELECT " POT_OBJ " FROM potentials p WHERE p.id = ?1 AND " POT_VISIBLE);
  if (!st) return JOBQ_EDB;
  sqlite3_bind_int64(st, 1, id);
  sqlite3_bind_int64(st, 2, owner);
  int rc = step_text(q, st, json, "potential");
  if (rc == JOBQ_ENOTFOUND) seterr(q, rc, "no potential %lld", (long long)id);
  return rc;
}

int jobq_potential_list(jobq *q, int64_t owner, int64_t limit, int64_t offset, char **json,
                        int64_t *total) {
  *json = NULL;
  sqlite3_stmt *st = stmt(q, "SELECT count(*) FROM potentials p WHERE ?1 = ?1 AND "
                             "(?2 = 0 OR p.owner IS NULL OR p.owner = ?2)");
  if (!st) return JOBQ_EDB;
  sqlite3_bind_int64(st, 1, 0);
  sqlite3_bind_int64(st, 2, owner);
  int rc = count_rows(q, st, total);
  if (rc < 0) return rc;
  st = stmt(q, "SELECT json_group_array(json(o)) FROM (SELECT " POT_OBJ " AS o "
               "FROM potentials p WHERE " POT_VISIBLE " ORDER BY p.id DESC LIMIT ?3 OFFSET ?4)");
  if (!st) return JOBQ_EDB;
  sqlite3_bind_int64(st, 2, owner);
  sqlite3_bind_int64(st, 3, limit);
  sqlite3_bind_int64(st, 4, offset);
  return step_text(q, st, json, "list potentials");
}

int jobq_potential_delete(jobq *q, int64_t id, int64_t owner) {
  return delete_object(q, id, owner, 0);
}

int jobq_potential_default(jobq *q, int64_t *id) {
  sqlite3_stmt *st = stmt(q, "SELECT id FROM potentials WHERE is_default ORDER BY id DESC LIMIT 1");
  if (!st) return JOBQ_EDB;
  int rc = step_int(q, st, id, "default potential");
  if (rc == JOBQ_ENOTFOUND) seterr(q, rc, "no default potential is registered");
  return rc;
}

int jobq_potential_blob_for(jobq *q, int64_t id, int64_t owner, char **data, size_t *len,
                            char name[64], char style[32]) {
  sqlite3_stmt *st = stmt(q, "SELECT bytes, name, style FROM potentials p "
                             "WHERE p.id = ?1 AND " POT_VISIBLE);
  if (!st) return JOBQ_EDB;
  sqlite3_bind_int64(st, 1, id);
  sqlite3_bind_int64(st, 2, owner);
  return blob_get(q, st, data, len, name, 64, style, 32, "potential", id);
}

int jobq_potential_blob(jobq *q, int64_t id, char **data, size_t *len, char name[64],
                        char style[32]) {
  return jobq_potential_blob_for(q, id, 0, data, len, name, style);
}

/* ------------------------------------------------------------------ */
/* Jobs                                                                */
/* ------------------------------------------------------------------ */

/* A growable list of job ids. */
typedef struct idlist {
  int64_t *v;
  int n, cap;
} idlist;

static int idlist_push(idlist *l, int64_t id) {
  if (l->n == l->cap) {
    int cap = l->cap ? 2 * l->cap : 16;
    int64_t *v = realloc(l->v, (size_t)cap * sizeof *v);
    if (!v) return JOBQ_ENOMEM;
    l->v = v;
    l->cap = cap;
  }
  l->v[l->n++] = id;
  return JOBQ_OK;
}

/* Collect the ids of column 0 of st's rows into l. */
static int collect_ids(jobq *q, sqlite3_stmt *st, idlist *l) {
  int rc = sqlite3_step(st);
  while (rc == SQLITE_ROW) {
    if (idlist_push(l, sqlite3_column_int64(st, 0)) < 0) {
      sqlite3_reset(st);
      return seterr(q, JOBQ_ENOMEM, "out of memory");
    }
    rc = sqlite3_step(st);
  }
  sqlite3_reset(st);
  if (rc != SQLITE_DONE) return dberr(q, rc, "collect");
  return JOBQ_OK;
}

#define JOB_OBJ                                                                      \
  "json_object('id', j.id, 'user', (SELECT name FROM users WHERE id = j.user_id), "  \
  "'kind', j.kind, 'state', j.state, 'priority', j.priority, 'params', json(j.params), " \
  "'structure', j.structure_id, 'potential', j.potential_id, 'parent', j.parent_id, " \
  "'run_after', json((SELECT json_group_array(dep_id) FROM job_deps WHERE job_id = j.id)), " \
  "'label', j.label, 'structure_from', j.structure_from, "                          \
  "'inputs', (SELECT count(*) FROM job_inputs i WHERE i.job_id = j.id), "           \
  "'attempt', j.attempt, 'max_attempts', j.max_attempts, 'progress', j.progress, "   \
  "'message', j.message, 'worker', j.worker, 'error', j.error, "                     \
  "'lease_expires', j.lease_expires, 'not_before', j.not_before, "                   \
  "'created', j.created, 'started', j.started, 'finished', j.finished, "            \
  "'updated', j.updated, 'has_result', "                                             \
  "CASE WHEN EXISTS (SELECT 1 FROM results r WHERE r.job_id = j.id) "               \
  "THEN json('true') ELSE json('false') END)"

static int check_visible(jobq *q, const char *sql, int64_t id, int64_t owner, const char *what) {
  sqlite3_stmt *st = stmt(q, sql);
  if (!st) return JOBQ_EDB;
  sqlite3_bind_int64(st, 1, id);
  sqlite3_bind_int64(st, 2, owner);
  int64_t n = 0;
  int rc = step_int(q, st, &n, what);
  if (rc == JOBQ_ENOTFOUND) return seterr(q, rc, "%s %lld not found", what, (long long)id);
  return rc;
}

static int valid_kind(const char *k) {
  size_t n = k ? strlen(k) : 0;
  if (n == 0 || n > 31) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = k[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '_' || c == '-' || c == '.'))
      return 0;
  }
  return 1;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* Check the shape of a graph: indices in range and in order (see
 * jobq_graph_node), exactly one root (the last node). */
static int check_graph(jobq *q, const jobq_graph_node *nodes, int n) {
  if (n < 1 || !nodes) return seterr(q, JOBQ_EINVAL, "graph: no nodes");
  if (nodes[n - 1].parent != -1) return seterr(q, JOBQ_EINVAL, "graph: the last node must be the root");
  for (int i = 0; i < n; i++) {
    const jobq_graph_node *g = &nodes[i];
    if (!valid_kind(g->kind))
      return seterr(q, JOBQ_EINVAL, "graph node %d: kind must be 1-31 characters [A-Za-z0-9_.-]", i);
    if (i < n - 1 && (g->parent <= i || g->parent >= n))
      return seterr(q, JOBQ_EINVAL, "graph node %d: parent must be a later node", i);
    if (g->nafter < 0 || (g->nafter && !g->after) || g->ninputs < 0 || (g->ninputs && !g->inputs))
      return seterr(q, JOBQ_EINVAL, "graph node %d: bad dependency list", i);
    for (int k = 0; k < g->nafter; k++)
      if (g->after[k] < 0 || g->after[k] >= i)
        return seterr(q, JOBQ_EINVAL, "graph node %d: \"after\" must name earlier nodes", i);
    for (int k = 0; k < g->ninputs; k++)
      if (g->inputs[k] < 0 || g->inputs[k] >= i)
        return seterr(q, JOBQ_EINVAL, "graph node %d: inputs must name earlier nodes", i);
    if (g->structure_from < -1 || g->structure_from >= i)
      return seterr(q, JOBQ_EINVAL, "graph node %d: structure_from must name an earlier node", i);
    if (g->label && strlen(g->label) > 128)
      return seterr(q, JOBQ_EINVAL, "graph node %d: label longer than 128 bytes", i);
  }
  return JOBQ_OK;
}

/* Depth-first pre-order of the graph's nodes (root first, children in
 * index order): order[rank] = node.  Returns JOBQ_ENOMEM or OK. */
static int preorder(jobq *q, const jobq_graph_node *nodes, int n, int *order) {
  int *first = malloc((size_t)n * sizeof *first), *next = malloc((size_t)n * sizeof *next);
  int *stack = malloc((size_t)n * sizeof *stack), *last = malloc((size_t)n * sizeof *last);
  int rc = JOBQ_OK, sp = 0, nr = 0;
  if (!first || !next || !stack || !last) {
    rc = seterr(q, JOBQ_ENOMEM, "out of memory");
    goto out;
  }
  for (int i = 0; i < n; i++) first[i] = last[i] = next[i] = -1;
  for (int i = 0; i < n - 1; i++) { /* children lists in index order */
    int p = nodes[i].parent;
    if (last[p] < 0)
      first[p] = i;
    else
      next[last[p]] = i;
    last[p] = i;
  }
  stack[sp++] = n - 1;
  while (sp > 0) {
    int v = stack[--sp];
    order[nr++] = v;
    /* push the children in reverse so that the first is visited first */
    int m = 0;
    for (int c = first[v]; c >= 0; c = next[c]) last[m++] = c; /* reuse last[] as scratch */
    for (int k = m - 1; k >= 0; k--) stack[sp++] = last[k];
  }
  assert(nr == n);
out:
  free(first);
  free(next);
  free(stack);
  free(last);
  return rc;
}

int jobq_submit_graph(jobq *q, const jobq_submit_in *in, const jobq_graph_node *nodes, int n,
                      int64_t *ids, int64_t *root, int *existed) {
  int64_t *jid = NULL, *deps = NULL, base = 0, user_pending = 0;
  int *order = NULL, ndeps_cap = 0;
  if (existed) *existed = 0;
  if (root) *root = 0;
  if (ids && n > 0) memset(ids, 0, (size_t)n * sizeof *ids);
  if (!in || in->user_id <= 0) return seterr(q, JOBQ_EINVAL, "user: missing");
  if (in->nrun_after < 0 || (in->nrun_after > 0 && !in->run_after))
    return seterr(q, JOBQ_EINVAL, "run_after: bad list");
  int rc = check_graph(q, nodes, n);
  if (rc < 0) return rc;
  jid = malloc((size_t)n * sizeof *jid);
  order = malloc((size_t)n * sizeof *order);
  if (!jid || !order) {
    free(jid);
    free(order);
    return seterr(q, JOBQ_ENOMEM, "out of memory");
  }
  int64_t owner = in->see_all ? 0 : in->user_id;
  rc = begin(q);
  if (rc < 0) goto done;
  sqlite3_stmt *st;
  if (in->idempotency_key) {
    st = stmt(q, "SELECT id FROM jobs WHERE user_id = ?1 AND idempotency_key = ?2");
    if (!st) {
      rc = JOBQ_EDB;
      goto out;
    }
    sqlite3_bind_int64(st, 1, in->user_id);
    sqlite3_bind_text(st, 2, in->idempotency_key, -1, SQLITE_STATIC);
    int64_t old = 0;
    rc = step_int(q, st, &old, "idempotency");
    if (rc == JOBQ_OK) {
      if (existed) *existed = 1;
      if (ids) ids[n - 1] = old;
      if (root) *root = old;
      goto out;
    }
    if (rc != JOBQ_ENOTFOUND) goto out;
    rc = JOBQ_OK;
  }
  for (int i = 0; i < n; i++) {
    if (!nodes[i].params_json) continue;
    st = stmt(q, "SELECT json_type(?1) = 'object'");
    if (!st) {
      rc = JOBQ_EDB;
      goto out;
    }
    sqlite3_bind_text(st, 1, nodes[i].params_json, -1, SQLITE_STATIC);
    int64_t isobj = 0;
    rc = step_int(q, st, &isobj, "params");
    if (rc < 0 || !isobj) {
      rc = seterr(q, JOBQ_EINVAL, n > 1 ? "params of graph node %d (%s): must be a JSON object"
                                        : "params: must be a JSON object",
                  i, nodes[i].kind);
      goto out;
    }
  }
  if (in->structure_id > 0) {
    rc = check_visible(q, "SELECT 1 FROM structures WHERE id = ?1 AND (?2 = 0 OR owner = ?2)",
                       in->structure_id, owner, "structure");
    if (rc < 0) goto out;
  }
  if (in->potential_id > 0) {
    rc = check_visible(q, "SELECT 1 FROM potentials p WHERE p.id = ?1 AND " POT_VISIBLE,
                       in->potential_id, owner, "potential");
    if (rc < 0) goto out;
  }
  if (in->structure_id > 0 && in->potential_id > 0) {
    /* Every species of the structure must be an element of the potential. */
    st = stmt(q, "SELECT ifnull((SELECT group_concat(sp.key, ' ') FROM structures s, "
                 "json_each(s.species) sp WHERE s.id = ?1 AND sp.key NOT IN "
                 "(SELECT e.value FROM potentials p, json_each(p.elements) e WHERE p.id = ?2)), '')");
    if (!st) {
      rc = JOBQ_EDB;
      goto out;
    }
    sqlite3_bind_int64(st, 1, in->structure_id);
    sqlite3_bind_int64(st, 2, in->potential_id);
    char *missing = NULL;
    rc = step_text(q, st, &missing, "species");
    if (rc < 0) goto out;
    if (missing && missing[0]) {
      rc = seterr(q, JOBQ_EINVAL, "potential: has no parameters for species %s of structure %lld",
                  missing, (long long)in->structure_id);
      free(missing);
      goto out;
    }
    free(missing);
  }
  if (in->parent_id > 0) {
    rc = check_visible(q, "SELECT 1 FROM jobs WHERE id = ?1 AND (?2 = 0 OR user_id = ?2)",
                       in->parent_id, owner, "parent job");
    if (rc < 0) goto out;
  }
  for (int i = 0; i < in->nrun_after; i++) {
    rc = check_visible(q, "SELECT 1 FROM jobs WHERE id = ?1 AND (?2 = 0 OR user_id = ?2)",
                       in->run_after[i], owner, "run_after job");
    if (rc < 0) goto out;
    st = stmt(q, "SELECT CASE state WHEN 'succeeded' THEN 0 WHEN 'failed' THEN 2 "
                 "WHEN 'cancelled' THEN 2 ELSE 1 END FROM jobs WHERE id = ?1");
    if (!st) {
      rc = JOBQ_EDB;
      goto out;
    }
    sqlite3_bind_int64(st, 1, in->run_after[i]);
    int64_t s = 0;
    rc = step_int(q, st, &s, "run_after");
    if (rc < 0) goto out;
    if (s == 2) {
      rc = seterr(q, JOBQ_ECONFLICT, "run_after job %lld already failed or was cancelled",
                  (long long)in->run_after[i]);
      goto out;
    }
    /* the same id listed twice counts once (job_deps is a set) */
    int dup = 0;
    for (int k = 0; k < i; k++) dup |= in->run_after[k] == in->run_after[i];
    if (s == 1 && !dup) user_pending++;
  }
  if (in->max_queued > 0) {
    /* Two counts so that each uses its partial index (jobs_queue, jobs_running). */
    st = stmt(q, "SELECT (SELECT count(*) FROM jobs INDEXED BY jobs_queue "
                 "        WHERE user_id = ?1 AND state = 'queued') + "
                 "(SELECT count(*) FROM jobs INDEXED BY jobs_running "
                 " WHERE state = 'running' AND user_id = ?1)");
    if (!st) {
      rc = JOBQ_EDB;
      goto out;
    }
    sqlite3_bind_int64(st, 1, in->user_id);
    int64_t cnt = 0;
    rc = step_int(q, st, &cnt, "count");
    if (rc < 0) goto out;
    if (cnt + n > in->max_queued) {
      rc = n > 1 ? seterr(q, JOBQ_ELIMIT,
                          "this graph has %d jobs and you already have %lld queued or running "
                          "(limit %lld)", n, (long long)cnt, (long long)in->max_queued)
                 : seterr(q, JOBQ_ELIMIT, "you already have %lld queued or running jobs (limit %lld)",
                          (long long)cnt, (long long)in->max_queued);
      goto out;
    }
  }
  /* Ids: the root first, then depth-first pre-order.  The write lock is
   * held, so max(id) cannot move under us. */
  st = stmt(q, "SELECT ifnull(max(id), 0) FROM jobs");
  if (!st) {
    rc = JOBQ_EDB;
    goto out;
  }
  rc = step_int(q, st, &base, "max id");
  if (rc < 0) goto out;
  rc = preorder(q, nodes, n, order);
  if (rc < 0) goto out;
  for (int r = 0; r < n; r++) jid[order[r]] = base + 1 + r;
  /* Two passes, so that every foreign key points at a row already there
   * (no deferred checks, which would make each insert scan for pending
   * references): first the jobs in pre-order (a parent before its
   * children; a structure_from job, an earlier sibling of the job or of an
   * ancestor, before the job), then the dependencies and inputs. */
  double now = jobq_now();
  for (int pass = 0; pass < 2 && rc >= 0; pass++) {
    for (int r = 0; r < n && rc >= 0; r++) {
      int i = order[r];
      const jobq_graph_node *g = &nodes[i];
      /* the distinct graph dependencies, sorted */
      int nd = 0;
      if (g->nafter > ndeps_cap) {
        int64_t *t = realloc(deps, (size_t)g->nafter * sizeof *t);
        if (!t) {
          rc = seterr(q, JOBQ_ENOMEM, "out of memory");
          break;
        }
        deps = t;
        ndeps_cap = g->nafter;
      }
      for (int k = 0; k < g->nafter; k++) deps[nd++] = jid[g->after[k]];
      if (nd > 1) {
        qsort(deps, (size_t)nd, sizeof *deps, cmp_i64);
        int u = 1;
        for (int k = 1; k < nd; k++)
          if (deps[k] != deps[u - 1]) deps[u++] = deps[k];
        nd = u;
      }
      if (pass == 0) {
        int is_root = i == n - 1;
        st = stmt(q,
            "INSERT INTO jobs(id, user_id, kind, priority, params, structure_id, potential_id, "
            "parent_id, max_attempts, idempotency_key, created, updated, label, structure_from, "
            "waiting) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, ?12, ?13, ?14)");
        if (!st) {
          rc = JOBQ_EDB;
          break;
        }
        sqlite3_bind_int64(st, 1, jid[i]);
        sqlite3_bind_int64(st, 2, in->user_id);
        sqlite3_bind_text(st, 3, g->kind, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 4, in->priority);
        sqlite3_bind_text(st, 5, g->params_json ? g->params_json : "{}", -1, SQLITE_STATIC);
        bind_id_or_null(st, 6, in->structure_id);
        bind_id_or_null(st, 7, in->potential_id);
        bind_id_or_null(st, 8, is_root ? in->parent_id : jid[g->parent]);
        sqlite3_bind_int(st, 9, in->max_attempts > 0 ? in->max_attempts : 3);
        bind_text_or_null(st, 10, is_root ? in->idempotency_key : NULL);
        sqlite3_bind_double(st, 11, now);
        bind_text_or_null(st, 12, g->label);
        bind_id_or_null(st, 13, g->structure_from >= 0 ? jid[g->structure_from] : 0);
        sqlite3_bind_int64(st, 14, nd + user_pending);
        rc = exec_done(q, st, "insert job");
        if (rc < 0) break;
        /* the first event of a new job (add_event without its max(seq) lookup) */
        st = stmt(q, "INSERT INTO job_events(job_id, seq, time, to_state, attempt, message) "
                     "VALUES (?1, 1, ?2, 'queued', 0, 'submitted')");
        if (!st) {
          rc = JOBQ_EDB;
          break;
        }
        sqlite3_bind_int64(st, 1, jid[i]);
        sqlite3_bind_double(st, 2, now);
        rc = exec_done(q, st, "event");
        continue;
      }
      for (int k = 0; k < nd + in->nrun_after && rc >= 0; k++) {
        st = stmt(q, "INSERT OR IGNORE INTO job_deps(job_id, dep_id) VALUES (?1, ?2)");
        if (!st) {
          rc = JOBQ_EDB;
          break;
        }
        sqlite3_bind_int64(st, 1, jid[i]);
        sqlite3_bind_int64(st, 2, k < nd ? deps[k] : in->run_after[k - nd]);
        rc = exec_done(q, st, "insert dependency");
      }
      for (int k = 0; k < g->ninputs && rc >= 0; k++) {
        st = stmt(q, "INSERT INTO job_inputs(job_id, pos, input_id) VALUES (?1, ?2, ?3)");
        if (!st) {
          rc = JOBQ_EDB;
          break;
        }
        sqlite3_bind_int64(st, 1, jid[i]);
        sqlite3_bind_int(st, 2, k);
        sqlite3_bind_int64(st, 3, jid[g->inputs[k]]);
        rc = exec_done(q, st, "insert input");
      }
    }
  }
  if (rc >= 0) {
    if (ids) memcpy(ids, jid, (size_t)n * sizeof *ids);
    if (root) *root = jid[n - 1];
  }
out:
  rc = finish(q, rc);
  if (rc < 0) {
    if (ids) memset(ids, 0, (size_t)n * sizeof *ids);
    if (root) *root = 0;
  }
done:
  free(jid);
  free(order);
  free(deps);
  return rc;
}

int jobq_submit(jobq *q, const jobq_submit_in *in, int64_t *id, int *existed) {
  *id = 0;
  if (existed) *existed = 0;
  if (!in || in->user_id <= 0 || !valid_kind(in->kind))
    return seterr(q, JOBQ_EINVAL, "kind: must be 1-31 characters [A-Za-z0-9_.-]");
  jobq_graph_node one = {in->kind, in->params_json, NULL, -1, NULL, 0, NULL, 0, -1};
  return jobq_submit_graph(q, in, &one, 1, NULL, id, existed);
}

/* Descendants of ?1 (recursive over parent_id, each step on jobs_parent). */
#define JOB_DESC                                                                   \
  "WITH RECURSIVE d(id) AS (SELECT id FROM jobs WHERE parent_id = ?1 UNION ALL "   \
  "SELECT c.id FROM jobs c JOIN d ON c.parent_id = d.id) "

int jobq_job_json(jobq *q, int64_t id, int64_t owner, char **json) {
  *json = NULL;
  sqlite3_stmt *st = stmt(q, "SELECT " JOB_OBJ " FROM jobs j WHERE j.id = ?1 AND (?2 = 0 OR j.user_id = ?2)");
  if (!st) return JOBQ_EDB;
  sqlite3_bind_int64(st, 1, id);
  sqlite3_bind_int64(st, 2, owner);
  int rc = step_text(q, st, json, "job");
  if (rc == JOBQ_ENOTFOUND) seterr(q, rc, "no job %lld", (long long)id);
  if (rc < 0) return rc;
  /* A graph: aggregate over the descendants. */
  st = stmt(q, "SELECT EXISTS (SELECT 1 FROM jobs WHERE parent_id = ?1)");
  if (!st) goto dberr;
  sqlite3_bind_int64(st, 1, id);
  int64_t has = 0;
  rc = step_int(q, st, &has, "children");
  if (rc < 0) goto fail;
  if (!has) return JOBQ_OK;
  st = stmt(q, JOB_DESC
      "SELECT json_set(?2, '$.graph', json_object('total', count(*), "
      "'queued', sum(j.state = 'queued'), 'running', sum(j.state = 'running'), "
      "'succeeded', sum(j.state = 'succeeded'), 'failed', sum(j.state = 'failed'), "
      "'cancelled', sum(j.state = 'cancelled')), "
      "'$.progress', (total(CASE j.state WHEN 'succeeded' THEN 1.0 WHEN 'running' THEN j.progress "
      "  ELSE 0.0 END) + (SELECT CASE state WHEN 'succeeded' THEN 1.0 WHEN 'running' THEN progress "
      "  ELSE 0.0 END FROM jobs WHERE id = ?1)) / (count(*) + 1), "
      "'$.message', CASE WHEN (SELECT state FROM jobs WHERE id = ?1) = 'queued' THEN "
      "  printf('%d of %d jobs done, %d running', sum(j.state = 'succeeded'), count(*), "
      "         sum(j.state = 'running')) "
      "  ELSE json_extract(?2, '$.message') END) "
      "FROM d JOIN jobs j ON j.id = d.id");
  if (!st) goto dberr;
  sqlite3_bind_int64(st, 1, id);
  sqlite3_bind_text(st, 2, *json, -1, SQLITE_TRANSIENT);
  char *agg = NULL;
  rc = step_text(q, st, &agg, "graph progress");
  if (rc < 0) goto fail;
  free(*json);
  *json = agg;
  return JOBQ_OK;
dberr:
  rc = JOBQ_EDB;
fail:
  free(*json);
  *json = NULL;
  return rc;
}

int jobq_job_children(jobq *q, int64_t id, int64_t owner, int64_t limit, int64_t offset,
                      char **json, int64_t *total) {
  *json = NULL;
  *total = 0;
  int rc = check_visible(q, "SELECT 1 FROM jobs WHERE id = ?1 AND (?2 = 0 OR user_id = ?2)", id,
                         owner, "job");
  if (rc < 0) return rc;
  sqlite3_stmt *st = stmt(q, "SELECT count(*) FROM jobs WHERE parent_id = ?1");
  if (!st) return JOBQ_EDB;
  sqlite3_bind_int64(st, 1, id);
  rc = count_rows(q, st, total);
  if (rc < 0) return rc;
  st = stmt(q, "SELECT json_group_array(json(o)) FROM (SELECT " JOB_OBJ " AS o FROM jobs j "
               "WHERE j.parent_id = ?1 ORDER BY j.id LIMIT ?2 OFFSET ?3)");
  if (!st) return JOBQ_EDB;
  sqlite3_bind_int64(st, 1, id);
  sqlite3_bind_int64(st, 2, limit);
  sqlite3_bind_int64(st, 3, offset);
  return step_text(q, st, json, "children");
}

int jobq_job_inputs(jobq *q, int64_t id, int64_t **inputs, int *n, int64_t *structure_from) {
  *inputs = NULL;
  *n = 0;
  *structure_from = 0;
  sqlite3_stmt *st = stmt(q, "SELECT ifnull(structure_from, 0) FROM jobs WHERE id = ?1");
  if (!st) return JOBQ_EDB;
  sqlite3_bind_int64(st, 1, id);
  int rc = step_int(q, st, structure_from, "job");
  if (rc == JOBQ_ENOTFOUND) return seterr(q, rc, "no job %lld", (long long)id);
  if (rc < 0) return rc;
  st = stmt(q, "SELECT input_id FROM job_inputs WHERE job_id = ?1 ORDER BY pos");
  if (!st) return JOBQ_EDB;
  sqlite3_bind_int64(st, 1, id);
  idlist l = {0};
  rc = collect_ids(q, st, &l);
  if (rc < 0) {
    free(l.v);
    return rc;
  }
  *inputs = l.v;
  *n = l.n;
  return JOBQ_OK;
}

/* Filters of a job listing; the owner test comes in two forms so that a
 * user's listing walks the jobs_user index. */
#define JOB_FILTER                                                             \
  "(?2 IS NULL OR j.state = ?2) AND "                                          \
  "(?3 IS NULL OR j.kind = ?3) AND (?4 = 0 OR j.structure_id = ?4) AND "      \
  "(?7 < 0 OR (?7 = 0 AND j.parent_id IS NULL) OR j.parent_id = ?7)"
#define JOB_OWNER_USER "j.user_id = ?1 AND "
#define JOB_OWNER_ANY "?1 = 0 AND "

int jobq_job_list(jobq *q, int64_t owner, const char *state, const char *kind,
                  int64_t structure_id, int64_t parent, int64_t limit, int64_t offset,
                  char **json, int64_t *total) {
  *json = NULL;
  sqlite3_stmt *st = stmt(q, owner ? "SELECT count(*) FROM jobs j WHERE " JOB_OWNER_USER JOB_FILTER
                                   : "SELECT count(*) FROM jobs j WHERE " JOB_OWNER_ANY JOB_FILTER);
  if (!st) return JOBQ_EDB;
  sqlite3_bind_int64(st, 1, owner);
  bind_text_or_null(st, 2, state);
  bind_text_or_null(st, 3, kind);
  sqlite3_bind_int64(st, 4, structure_id);
  sqlite3_bind_int64(st, 7, parent);
  int rc = count_rows(q, st, total);
  if (rc < 0) return rc;
  st = stmt(q, owner ? "SELECT json_group_array(json(o)) FROM (SELECT " JOB_OBJ " AS o FROM jobs j "
                       "WHERE " JOB_OWNER_USER JOB_FILTER " ORDER BY j.id DESC LIMIT ?5 OFFSET ?6)"
                     : "SELECT json_group_array(json(o)) FROM (SELECT " JOB_OBJ " AS o FROM jobs j "
                       "WHERE " JOB_OWNER_ANY JOB_FILTER " ORDER BY j.id DESC LIMIT ?5 OFFSET ?6)");
  if (!st) return JOBQ_EDB;
  sqlite3_bind_int64(st, 1, owner);
  bind_text_or_null(st, 2, state);
  bind_text_or_null(st, 3, kind);
  sqlite3_bind_int64(st, 4, structure_id);
  sqlite3_bind_int64(st, 7, parent);
  sqlite3_bind_int64(st, 5, limit);
  sqlite3_bind_int64(st, 6, offset);
  return step_text(q, st, json, "list jobs");
}

int jobq_events_json(jobq *q, int64_t id, int64_t owner, char **json) {
  *json = NULL;
  int rc = check_visible(q, "SELECT 1 FROM jobs WHERE id = ?1 AND (?2 = 0 OR user_id = ?2)", id,
                         owner, "job");
  if (rc < 0) return rc;
  sqlite3_stmt *st = stmt(q,
      "SELECT json_group_array(json(o)) FROM (SELECT json_object('time', time, 'from', from_state, "
      "'to', to_state, 'attempt', attempt, 'worker', worker, 'message', message) AS o "
      "FROM job_events WHERE job_id = ?1 ORDER BY seq)");
  if (!st) return JOBQ_EDB;
  sqlite3_bind_int64(st, 1, id);
  return step_text(q, st, json, "events");
}

int jobq_result_json(jobq *q, int64_t id, int64_t owner, char **json) {
  *json = NULL;
  int rc = check_visible(q, "SELECT 1 FROM jobs WHERE id = ?1 AND (?2 = 0 OR user_id = ?2)", id,
                         owner, "job");
  if (rc < 0) return rc;
  sqlite3_stmt *st = stmt(q, "SELECT json FROM results WHERE job_id = ?1");
  if (!st) return JOBQ_EDB;
  sqlite3_bind_int64(st, 1, id);
  rc = step_text(q, st, json, "result");
  if (rc == JOBQ_ENOTFOUND)
    rc = seterr(q, JOBQ_ECONFLICT, "job %lld has no result (yet)", (long long)id);
  return rc;
}

int jobq_job_state(jobq *q, int64_t id, int64_t owner, char state[16], int64_t *structure_id) {
  sqlite3_stmt *st = stmt(q, "SELECT state, ifnull(structure_id, 0) FROM jobs "
                             "WHERE id = ?1 AND (?2 = 0 OR user_id = ?2)");
  if (!st) return JOBQ_EDB;
  sqlite3_bind_int64(st, 1, id);
  sqlite3_bind_int64(st, 2, owner);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_DONE) {
    sqlite3_reset(st);
    return seterr(q, JOBQ_ENOTFOUND, "no job %lld", (long long)id);
  }
  if (rc != SQLITE_ROW) {
    int e = dberr(q, rc, "job state");
    sqlite3_reset(st);
    return e;
  }
  if (state) snprintf(state, 16, "%s", (const char *)sqlite3_column_text(st, 0));
  if (structure_id) *structure_id = sqlite3_column_int64(st, 1);
  sqlite3_reset(st);
  return JOBQ_OK;
}

/* Move job id to a final state (failed or cancelled) from whatever
 * unfinished state it is in, with an event; no-op if already finished. */
static int end_job(jobq *q, int64_t id, const char *to, const char *why, double now) {
  sqlite3_stmt *st = stmt(q, "SELECT state, attempt, worker FROM jobs WHERE id = ?1");
  if (!st) return JOBQ_EDB;
  sqlite3_bind_int64(st, 1, id);
  int s = sqlite3_step(st);
  if (s != SQLITE_ROW) {
    sqlite3_reset(st);
    return s == SQLITE_DONE ? JOBQ_OK : dberr(q, s, "end job");
  }
  char from[16], worker[128];
  snprintf(from, sizeof from, "%s", (const char *)sqlite3_column_text(st, 0));
  int attempt = sqlite3_column_int(st, 1);
  const unsigned char *w = sqlite3_column_text(st, 2);
  snprintf(worker, sizeof worker, "%s", w ? (const char *)w : "");
  sqlite3_reset(st);
  if (strcmp(from, "queued") != 0 && strcmp(from, "running") != 0) return JOBQ_OK;
  st = stmt(q, "UPDATE jobs SET state = ?2, error = CASE WHEN ?2 = 'failed' THEN ?3 ELSE error END, "
               "message = ?3, finished = ?4, updated = ?4 WHERE id = ?1");
  if (!st) return JOBQ_EDB;
  sqlite3_bind_int64(st, 1, id);
  sqlite3_bind_text(st, 2, to, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, why, -1, SQLITE_STATIC);
  sqlite3_bind_double(st, 4, now);
  int rc = exec_done(q, st, "end job");
  if (rc < 0) return rc;
  rc = add_event(q, id, now, from, to, attempt, worker[0] ? worker : NULL, why);
  if (rc < 0) return rc;
  if (strcmp(to, "failed") == 0) rc = bump_counter(q, "failures");
  return rc;
}

/* end_job every unfinished job of st's rows (bound to ?1 = id) with to /
 * why and append it to l. */
static int end_rows(jobq *q, sqlite3_stmt *st, int64_t id, const char *to, const char *why,
                    double now, idlist *l) {
  idlist next = {0};
  sqlite3_bind_int64(st, 1, id);
  int rc = collect_ids(q, st, &next);
  for (int k = 0; k < next.n && rc >= 0; k++) {
    rc = end_job(q, next.v[k], to, why, now);
    if (rc >= 0 && idlist_push(l, next.v[k]) < 0) rc = seterr(q, JOBQ_ENOMEM, "out of memory");
  }
  free(next.v);
  return rc;
}

/* After job root failed or was cancelled, transitively:
 *  - failed: every queued job that runs after it fails with the same
 *    reason, "LABEL (job ID, KIND) failed: error" naming root (or
 *    "dependency job ID (KIND) failed: error" when root has no label), and
 *    the unfinished children of every failed job are cancelled (a parent
 *    that failed will never use them);
 *  - cancelled: its children and every job that runs after it are
 *    cancelled. */
static int cascade(jobq *q, int64_t root, const char *root_state, double now) {
  idlist failed = {0}, cancelled = {0};
  char why[1024], cwhy[1100];
  int rc;
  if (strcmp(root_state, "cancelled") == 0) {
    rc = idlist_push(&cancelled, root);
  } else {
    sqlite3_stmt *st = stmt(q, "SELECT label, kind, ifnull(error, '') FROM jobs WHERE id = ?1");
    if (!st) return JOBQ_EDB;
    sqlite3_bind_int64(st, 1, root);
    if (sqlite3_step(st) != SQLITE_ROW) {
      sqlite3_reset(st);
      return seterr(q, JOBQ_EDB, "cascade: job %lld vanished", (long long)root);
    }
    const char *label = (const char *)sqlite3_column_text(st, 0);
    const char *kind = (const char *)sqlite3_column_text(st, 1);
    const char *err = (const char *)sqlite3_column_text(st, 2);
    if (label)
      snprintf(why, sizeof why, "%s (job %lld, %s) failed: %s", label, (long long)root, kind, err);
    else
      snprintf(why, sizeof why, "dependency job %lld (%s) failed: %s", (long long)root, kind, err);
    sqlite3_reset(st);
    snprintf(cwhy, sizeof cwhy, "cancelled: %s", why);
    rc = idlist_push(&failed, root);
  }
  if (rc < 0) return seterr(q, JOBQ_ENOMEM, "out of memory");
  for (int i = 0; i < failed.n && rc >= 0; i++) {
    sqlite3_stmt *st = stmt(q, "SELECT j.id FROM jobs j WHERE j.state = 'queued' AND "
                               "j.id IN (SELECT job_id FROM job_deps WHERE dep_id = ?1)");
    rc = st ? end_rows(q, st, failed.v[i], "failed", why, now, &failed) : JOBQ_EDB;
    if (rc < 0) break;
    st = stmt(q, "SELECT id FROM jobs WHERE parent_id = ?1 AND state IN ('queued', 'running')");
    rc = st ? end_rows(q, st, failed.v[i], "cancelled", cwhy, now, &cancelled) : JOBQ_EDB;
  }
  for (int i = 0; i < cancelled.n && rc >= 0; i++) {
    char cw[96];
    const char *w = cw;
    if (failed.n)
      w = cwhy;
    else
      snprintf(cw, sizeof cw, "job %lld was cancelled", (long long)cancelled.v[i]);
    /* two statements, so that each walks its index (jobs_parent, job_deps_dep) */
    sqlite3_stmt *st = stmt(q, "SELECT id FROM jobs WHERE parent_id = ?1 AND "
                               "state IN ('queued', 'running')");
    rc = st ? end_rows(q, st, cancelled.v[i], "cancelled", w, now, &cancelled) : JOBQ_EDB;
    if (rc < 0) break;
    st = stmt(q, "SELECT j.id FROM jobs j WHERE j.state IN ('queued', 'running') AND "
                 "j.id IN (SELECT job_id FROM job_deps WHERE dep_id = ?1)");
    rc = st ? end_rows(q, st, cancelled.v[i], "cancelled", w, now, &cancelled) : JOBQ_EDB;
  }
  free(failed.v);
  free(cancelled.v);
  return rc;
}

int jobq_cancel(jobq *q, int64_t id, int64_t owner, const char *why) {
  char state[16];
  int rc = begin(q);
  if (rc < 0) return rc;
  rc = jobq_job_state(q, id, owner, state, NULL);
  if (rc < 0) goto out;
  if (strcmp(state, "queued") != 0 && strcmp(state, "running") != 0) {
    rc = seterr(q, JOBQ_ECONFLICT, "job %lld is already %s", (long long)id, state);
    goto out;
  }
  double now = jobq_now();
  rc = end_job(q, id, "cancelled", why && *why ? why : "cancelled by the user", now);
  if (rc < 0) goto out;
  rc = cascade(q, id, "cancelled", now);
out:
  return finish(q, rc);
}

void jobq_job_clear(jobq_job *j) {
  if (!j) return;
  free(j->params_json);
  memset(j, 0, sizeof *j);
}

/* The reaper, inside an open write transaction. */
static int reap_locked(jobq *q, double now, int *nout) {
  idlist l = {0};
  sqlite3_stmt *st = stmt(q, "SELECT id FROM jobs WHERE state = 'running' AND lease_expires < ?1 "
                             "ORDER BY lease_expires LIMIT ?2");
  if (!st) return JOBQ_EDB;
  sqlite3_bind_double(st, 1, now);
  sqlite3_bind_int(st, 2, JOBQ_REAP_MAX);
  int rc = collect_ids(q, st, &l);
  for (int i = 0; i < l.n && rc >= 0; i++) {
    st = stmt(q, "SELECT attempt, max_attempts, ifnull(worker, '?') FROM jobs WHERE id = ?1");
    if (!st) {
      rc = JOBQ_EDB;
      break;
    }
    sqlite3_bind_int64(st, 1, l.v[i]);
    if (sqlite3_step(st) != SQLITE_ROW) {
      sqlite3_reset(st);
      continue;
    }
    int attempt = sqlite3_column_int(st, 0), maxa = sqlite3_column_int(st, 1);
    char worker[128], why[256];
    snprintf(worker, sizeof worker, "%s", (const char *)sqlite3_column_text(st, 2));
    sqlite3_reset(st);
    if (attempt >= maxa) {
      snprintf(why, sizeof why, "lease expired (worker %s lost) on attempt %d of %d", worker,
               attempt, maxa);
      rc = end_job(q, l.v[i], "failed", why, now);
      if (rc >= 0) rc = cascade(q, l.v[i], "failed", now);
    } else {
      double wait = backoff(q, attempt);
      snprintf(why, sizeof why, "lease expired (worker %s lost) on attempt %d of %d; retry in %.3g s",
               worker, attempt, maxa, wait);
      st = stmt(q, "UPDATE jobs SET state = 'queued', not_before = ?2, lease_expires = NULL, "
                   "worker = NULL, message = ?3, error = ?3, updated = ?4 WHERE id = ?1");
      if (!st) {
        rc = JOBQ_EDB;
        break;
      }
      sqlite3_bind_int64(st, 1, l.v[i]);
      sqlite3_bind_double(st, 2, now + wait);
      sqlite3_bind_text(st, 3, why, -1, SQLITE_STATIC);
      sqlite3_bind_double(st, 4, now);
      rc = exec_done(q, st, "requeue");
      if (rc >= 0) rc = add_event(q, l.v[i], now, "running", "queued", attempt, worker, why);
      if (rc >= 0) rc = bump_counter(q, "retries");
    }
  }
  if (nout) *nout = rc >= 0 ? l.n : 0;
  free(l.v);
  return rc;
}

int jobq_reap(jobq *q, int *n) {
  if (n) *n = 0;
  /* Cheap read first: most calls find nothing to do and take no lock. */
  sqlite3_stmt *st = stmt(q, "SELECT count(*) FROM (SELECT 1 FROM jobs WHERE state = 'running' "
                             "AND lease_expires < ?1 LIMIT 1)");
  if (!st) return JOBQ_EDB;
  sqlite3_bind_double(st, 1, jobq_now());
  int64_t any = 0;
  int rc = step_int(q, st, &any, "reap");
  if (rc < 0 || !any) return rc;
  rc = begin(q);
  if (rc < 0) return rc;
  rc = reap_locked(q, jobq_now(), n);
  return finish(q, rc);
}

/* JSON array of the kinds for the claim filter, or NULL for any. */
static int kinds_json(jobq *q, const char *const *kinds, int nkinds, char **out) {
  *out = NULL;
  if (!kinds || nkinds <= 0) return JOBQ_OK;
  size_t cap = 3 + (size_t)nkinds * 36, n = 0;
  char *s = malloc(cap);
  if (!s) return seterr(q, JOBQ_ENOMEM, "out of memory");
  s[n++] = '[';
  for (int i = 0; i < nkinds; i++) {
    if (!valid_kind(kinds[i])) {
      free(s);
      return seterr(q, JOBQ_EINVAL, "kinds: '%s' is not a kind name", kinds[i] ? kinds[i] : "(null)");
    }
    n += (size_t)snprintf(s + n, cap - n, "%s\"%s\"", i ? "," : "", kinds[i]);
  }
  s[n++] = ']';
  s[n] = '\0';
  *out = s;
  return JOBQ_OK;
}

int jobq_claim(jobq *q, const char *worker, const char *const *kinds, int nkinds,
               double lease_s, jobq_job *out) {
  memset(out, 0, sizeof *out);
  if (!worker || !*worker || strlen(worker) > 120)
    return seterr(q, JOBQ_EINVAL, "worker: a name of 1-120 characters is required");
  if (!(lease_s > 0) || lease_s > 86400)
    return seterr(q, JOBQ_EINVAL, "lease: must be in (0, 86400] seconds");
  char *kj = NULL;
  int rc = kinds_json(q, kinds, nkinds, &kj);
  if (rc < 0) return rc;
  rc = begin(q);
  if (rc < 0) {
    free(kj);
    return rc;
  }
  double now = jobq_now();
  rc = reap_locked(q, now, NULL);
  if (rc < 0) goto out;
  /* Users with a queued job that may start, least recently served first. */
  idlist users = {0};
  sqlite3_stmt *st = stmt(q,
      "SELECT u.id FROM users u WHERE EXISTS (SELECT 1 FROM jobs j INDEXED BY jobs_ready "
      "WHERE j.user_id = u.id AND "
      "j.state = 'queued' AND j.waiting = 0 AND j.not_before <= ?1 AND "
      "(?2 IS NULL OR j.kind IN (SELECT value FROM json_each(?2)))) "
      "ORDER BY u.last_claim, u.id");
  if (!st) {
    rc = JOBQ_EDB;
    goto out;
  }
  sqlite3_bind_double(st, 1, now);
  bind_text_or_null(st, 2, kj);
  rc = collect_ids(q, st, &users);
  int64_t job = 0, uid = 0;
  for (int i = 0; i < users.n && rc >= 0 && !job; i++) {
    st = stmt(q,
        "SELECT j.id FROM jobs j INDEXED BY jobs_ready WHERE j.user_id = ?1 AND j.state = 'queued' "
        "AND j.waiting = 0 AND j.not_before <= ?2 AND "
        "(?3 IS NULL OR j.kind IN (SELECT value FROM json_each(?3))) "
        "ORDER BY j.priority DESC, j.id LIMIT 1");
    if (!st) {
      rc = JOBQ_EDB;
      break;
    }
    sqlite3_bind_int64(st, 1, users.v[i]);
    sqlite3_bind_double(st, 2, now);
    bind_text_or_null(st, 3, kj);
    rc = step_int(q, st, &job, "pick job");
    if (rc == JOBQ_ENOTFOUND) {
      rc = JOBQ_OK;
      job = 0;
    } else if (rc >= 0) {
      uid = users.v[i];
    }
  }
  free(users.v);
  if (rc < 0) goto out;
  if (!job) {
    rc = 0;
    goto out;
  }
  st = stmt(q, "UPDATE jobs SET state = 'running', attempt = attempt + 1, lease_expires = ?2, "
               "worker = ?3, started = ifnull(started, ?4), progress = 0, message = NULL, "
               "updated = ?4 WHERE id = ?1 AND state = 'queued'");
  if (!st) {
    rc = JOBQ_EDB;
    goto out;
  }
  sqlite3_bind_int64(st, 1, job);
  sqlite3_bind_double(st, 2, now + lease_s);
  sqlite3_bind_text(st, 3, worker, -1, SQLITE_STATIC);
  sqlite3_bind_double(st, 4, now);
  rc = exec_done(q, st, "claim");
  if (rc < 0) goto out;
  assert(sqlite3_changes(q->db) == 1);
  st = stmt(q, "UPDATE users SET last_claim = ?2 WHERE id = ?1");
  if (!st) {
    rc = JOBQ_EDB;
    goto out;
  }
  sqlite3_bind_int64(st, 1, uid);
  sqlite3_bind_double(st, 2, now);
  rc = exec_done(q, st, "last claim");
  if (rc < 0) goto out;
  st = stmt(q, "SELECT id, user_id, ifnull(structure_id, 0), ifnull(potential_id, 0), "
               "ifnull(parent_id, 0), attempt, kind, params, lease_expires, "
               "ifnull(structure_from, 0), (SELECT count(*) FROM job_inputs WHERE job_id = ?1) "
               "FROM jobs WHERE id = ?1");
  if (!st) {
    rc = JOBQ_EDB;
    goto out;
  }
  sqlite3_bind_int64(st, 1, job);
  if (sqlite3_step(st) != SQLITE_ROW) {
    rc = dberr(q, SQLITE_ERROR, "claimed job vanished");
    sqlite3_reset(st);
    goto out;
  }
  out->id = sqlite3_column_int64(st, 0);
  out->user_id = sqlite3_column_int64(st, 1);
  out->structure_id = sqlite3_column_int64(st, 2);
  out->potential_id = sqlite3_column_int64(st, 3);
  out->parent_id = sqlite3_column_int64(st, 4);
  out->attempt = sqlite3_column_int(st, 5);
  snprintf(out->kind, sizeof out->kind, "%s", (const char *)sqlite3_column_text(st, 6));
  out->params_json = strdup((const char *)sqlite3_column_text(st, 7));
  out->lease_expires = sqlite3_column_double(st, 8);
  out->structure_from = sqlite3_column_int64(st, 9);
  out->ninputs = sqlite3_column_int(st, 10);
  sqlite3_reset(st);
  if (!out->params_json) {
    rc = seterr(q, JOBQ_ENOMEM, "out of memory");
    goto out;
  }
  rc = add_event(q, job, now, "queued", "running", out->attempt, worker, NULL);
  if (rc >= 0) rc = touch_worker(q, worker, now, 1);
  if (rc >= 0) rc = 1;
out:
  free(kj);
  rc = finish(q, rc);
  if (rc <= 0) jobq_job_clear(out);
  return rc;
}

/* Read (state, attempt, max_attempts, worker) of job id, inside a transaction. */
static int job_status(jobq *q, int64_t id, char state[16], int *attempt, int *maxa,
                      char worker[128]) {
  sqlite3_stmt *st = stmt(q, "SELECT state, attempt, max_attempts, ifnull(worker, '') "
                             "FROM jobs WHERE id = ?1");
  if (!st) return JOBQ_EDB;
  sqlite3_bind_int64(st, 1, id);
  int s = sqlite3_step(st);
  if (s == SQLITE_DONE) {
    sqlite3_reset(st);
    return seterr(q, JOBQ_ENOTFOUND, "no job %lld", (long long)id);
  }
  if (s != SQLITE_ROW) {
    int e = dberr(q, s, "job status");
    sqlite3_reset(st);
    return e;
  }
  snprintf(state, 16, "%s", (const char *)sqlite3_column_text(st, 0));
  *attempt = sqlite3_column_int(st, 1);
  *maxa = sqlite3_column_int(st, 2);
  snprintf(worker, 128, "%s", (const char *)sqlite3_column_text(st, 3));
  sqlite3_reset(st);
  return JOBQ_OK;
}

static int stale(jobq *q, int64_t id, int attempt, const char *state, int cur) {
  return seterr(q, JOBQ_ESTALE, "job %lld attempt %d is not running (job is %s, attempt %d)",
                (long long)id, attempt, state, cur);
}

int jobq_heartbeat(jobq *q, int64_t id, int attempt, double progress, const char *msg,
                   double lease_s, int *cancel) {
  *cancel = 0;
  if (!(lease_s > 0) || lease_s > 86400)
    return seterr(q, JOBQ_EINVAL, "lease: must be in (0, 86400] seconds");
  if (isnan(progress)) progress = 0;
  if (progress < 0) progress = 0;
  if (progress > 1) progress = 1;
  int rc = begin(q);
  if (rc < 0) return rc;
  char state[16], worker[128];
  int cur = 0, maxa = 0;
  rc = job_status(q, id, state, &cur, &maxa, worker);
  if (rc < 0) goto out;
  if (cur == attempt && strcmp(state, "cancelled") == 0) {
    *cancel = 1;
    goto out;
  }
  if (cur != attempt || strcmp(state, "running") != 0) {
    rc = stale(q, id, attempt, state, cur);
    goto out;
  }
  double now = jobq_now();
  sqlite3_stmt *st = stmt(q, "UPDATE jobs SET lease_expires = ?2, progress = ?3, "
                             "message = ifnull(?4, message), updated = ?5 WHERE id = ?1");
  if (!st) {
    rc = JOBQ_EDB;
    goto out;
  }
  sqlite3_bind_int64(st, 1, id);
  sqlite3_bind_double(st, 2, now + lease_s);
  sqlite3_bind_double(st, 3, progress);
  bind_text_or_null(st, 4, msg);
  sqlite3_bind_double(st, 5, now);
  rc = exec_done(q, st, "heartbeat");
  if (rc >= 0) rc = touch_worker(q, worker[0] ? worker : NULL, now, 0);
out:
  return finish(q, rc);
}

int jobq_complete(jobq *q, int64_t id, int attempt, const char *result_json) {
  if (!result_json) return seterr(q, JOBQ_EINVAL, "result: missing");
  int rc = begin(q);
  if (rc < 0) return rc;
  char state[16], worker[128];
  int cur = 0, maxa = 0;
  rc = job_status(q, id, state, &cur, &maxa, worker);
  if (rc < 0) goto out;
  if (cur != attempt || strcmp(state, "running") != 0) {
    rc = stale(q, id, attempt, state, cur);
    goto out;
  }
  sqlite3_stmt *st = stmt(q, "SELECT json_valid(?1) AND json_type(?1) = 'object'");
  if (!st) {
    rc = JOBQ_EDB;
    goto out;
  }
  sqlite3_bind_text(st, 1, result_json, -1, SQLITE_STATIC);
  int64_t ok = 0;
  rc = step_int(q, st, &ok, "result");
  if (rc < 0) goto out;
  if (!ok) {
    rc = seterr(q, JOBQ_EINVAL, "result: must be a JSON object");
    goto out;
  }
  double now = jobq_now();
  st = stmt(q, "INSERT INTO results(job_id, json, attempt, created) VALUES (?1, ?2, ?3, ?4)");
  if (!st) {
    rc = JOBQ_EDB;
    goto out;
  }
  sqlite3_bind_int64(st, 1, id);
  sqlite3_bind_text(st, 2, result_json, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 3, attempt);
  sqlite3_bind_double(st, 4, now);
  rc = exec_done(q, st, "store result");
  if (rc < 0) goto out;
  st = stmt(q, "UPDATE jobs SET state = 'succeeded', progress = 1, lease_expires = NULL, "
               "error = NULL, message = 'done', finished = ?2, updated = ?2 WHERE id = ?1");
  if (!st) {
    rc = JOBQ_EDB;
    goto out;
  }
  sqlite3_bind_int64(st, 1, id);
  sqlite3_bind_double(st, 2, now);
  rc = exec_done(q, st, "succeed");
  if (rc < 0) goto out;
  /* one dependency fewer for every job that runs after this one */
  st = stmt(q, "UPDATE jobs SET waiting = waiting - 1 "
               "WHERE id IN (SELECT job_id FROM job_deps WHERE dep_id = ?1)");
  if (!st) {
    rc = JOBQ_EDB;
    goto out;
  }
  sqlite3_bind_int64(st, 1, id);
  rc = exec_done(q, st, "dependents");
  if (rc >= 0) rc = add_event(q, id, now, "running", "succeeded", attempt, worker, NULL);
  if (rc >= 0) rc = bump_counter(q, "completions");
out:
  return finish(q, rc);
}

int jobq_fail(jobq *q, int64_t id, int attempt, const char *error, int retryable) {
  const char *why = error && *error ? error : "failed (no reason given)";
  int rc = begin(q);
  if (rc < 0) return rc;
  char state[16], worker[128];
  int cur = 0, maxa = 0;
  rc = job_status(q, id, state, &cur, &maxa, worker);
  if (rc < 0) goto out;
  if (cur == attempt && strcmp(state, "cancelled") == 0) goto out;
  if (cur != attempt || strcmp(state, "running") != 0) {
    rc = stale(q, id, attempt, state, cur);
    goto out;
  }
  double now = jobq_now();
  if (retryable && attempt < maxa) {
    double wait = backoff(q, attempt);
    sqlite3_stmt *st = stmt(q, "UPDATE jobs SET state = 'queued', not_before = ?2, "
                               "lease_expires = NULL, worker = NULL, error = ?3, message = ?3, "
                               "updated = ?4 WHERE id = ?1");
    if (!st) {
      rc = JOBQ_EDB;
      goto out;
    }
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_double(st, 2, now + wait);
    sqlite3_bind_text(st, 3, why, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 4, now);
    rc = exec_done(q, st, "retry");
    if (rc >= 0) rc = add_event(q, id, now, "running", "queued", attempt, worker, why);
    if (rc >= 0) rc = bump_counter(q, "retries");
  } else {
    rc = end_job(q, id, "failed", why, now);
    if (rc >= 0) rc = cascade(q, id, "failed", now);
  }
out:
  return finish(q, rc);
}

/* ------------------------------------------------------------------ */
/* Metrics                                                             */
/* ------------------------------------------------------------------ */

typedef struct sbuf {
  char *s;
  size_t n, cap;
  int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
  if (b->oom) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
    va_end(ap);
    if (k < 0) {
      b->oom = 1;
      return;
    }
    if (b->s && b->n + (size_t)k < b->cap) {
      b->n += (size_t)k;
      return;
    }
    size_t cap = b->cap ? b->cap * 2 : 1024;
    while (cap <= b->n + (size_t)k) cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s) {
      b->oom = 1;
      return;
    }
    b->s = s;
    b->cap = cap;
  }
}

int jobq_metrics_text(jobq *q, char **text) {
  *text = NULL;
  sbuf b = {0};
  int rc = JOBQ_OK;
  sb_printf(&b, "# HELP pelmap_jobs Jobs in the database by state and kind.\n"
                "# TYPE pelmap_jobs gauge\n");
  static const char *const states[] = {"queued", "running", "succeeded", "failed", "cancelled"};
  for (int i = 0; i < 5; i++) {
    /* Always print every state, so that dashboards see zeros. */
    sqlite3_stmt *st = stmt(q, "SELECT count(*) FROM jobs WHERE state = ?1");
    if (!st) {
      rc = JOBQ_EDB;
      goto out;
    }
    sqlite3_bind_text(st, 1, states[i], -1, SQLITE_STATIC);
    int64_t n = 0;
    rc = step_int(q, st, &n, "metrics");
    if (rc < 0) goto out;
    sb_printf(&b, "pelmap_jobs{state=\"%s\",kind=\"all\"} %lld\n", states[i], (long long)n);
  }
  sqlite3_stmt *st = stmt(q, "SELECT state, kind, count(*) FROM jobs GROUP BY state, kind");
  if (!st) {
    rc = JOBQ_EDB;
    goto out;
  }
  int s = sqlite3_step(st);
  while (s == SQLITE_ROW) {
    sb_printf(&b, "pelmap_jobs{state=\"%s\",kind=\"%s\"} %lld\n", sqlite3_column_text(st, 0),
              sqlite3_column_text(st, 1), (long long)sqlite3_column_int64(st, 2));
    s = sqlite3_step(st);
  }
  sqlite3_reset(st);
  if (s != SQLITE_DONE) {
    rc = dberr(q, s, "metrics");
    goto out;
  }
  static const char *const counters[][2] = {
      {"completions", "Jobs that succeeded."},
      {"failures", "Jobs that failed for good."},
      {"retries", "Attempts requeued after an expired lease or a retryable failure."}};
  for (int i = 0; i < 3; i++) {
    st = stmt(q, "SELECT ifnull((SELECT value FROM counters WHERE name = ?1), 0)");
    if (!st) {
      rc = JOBQ_EDB;
      goto out;
    }
    sqlite3_bind_text(st, 1, counters[i][0], -1, SQLITE_STATIC);
    int64_t n = 0;
    rc = step_int(q, st, &n, "metrics");
    if (rc < 0) goto out;
    const char *name = i == 0 ? "completions" : i == 1 ? "failures" : "retries";
    sb_printf(&b, "# HELP pelmap_job_%s_total %s\n# TYPE pelmap_job_%s_total counter\n"
                  "pelmap_job_%s_total %lld\n", name, counters[i][1], name, name, (long long)n);
  }
  st = stmt(q, "SELECT (SELECT count(*) FROM workers WHERE last_seen > ?1), "
               "(SELECT count(*) FROM users), (SELECT count(*) FROM structures), "
               "(SELECT count(*) FROM potentials)");
  if (!st) {
    rc = JOBQ_EDB;
    goto out;
  }
  sqlite3_bind_double(st, 1, jobq_now() - 60.0);
  if (sqlite3_step(st) != SQLITE_ROW) {
    rc = dberr(q, SQLITE_ERROR, "metrics");
    sqlite3_reset(st);
    goto out;
  }
  sb_printf(&b,
            "# HELP pelmap_workers_alive Workers that claimed or heartbeat in the last 60 s.\n"
            "# TYPE pelmap_workers_alive gauge\npelmap_workers_alive %lld\n"
            "# HELP pelmap_users Registered users.\n# TYPE pelmap_users gauge\npelmap_users %lld\n"
            "# HELP pelmap_structures Stored structures.\n# TYPE pelmap_structures gauge\n"
            "pelmap_structures %lld\n"
            "# HELP pelmap_potentials Stored potentials.\n# TYPE pelmap_potentials gauge\n"
            "pelmap_potentials %lld\n",
            (long long)sqlite3_column_int64(st, 0), (long long)sqlite3_column_int64(st, 1),
            (long long)sqlite3_column_int64(st, 2), (long long)sqlite3_column_int64(st, 3));
  sqlite3_reset(st);
out:
  if (rc < 0 || b.oom) {
    free(b.s);
    return rc < 0 ? rc : seterr(q, JOBQ_ENOMEM, "out of memory");
  }
  *text = b.s;
  return JOBQ_OK;
}
