-- schema/001_init.sql -- migration 1: the pelmap job-service database.
--
-- Applied by jobq_open() (common/jobq.c) inside one BEGIN IMMEDIATE
-- transaction when PRAGMA user_version < 1; it then sets user_version = 1.
-- Times are unix seconds (REAL).  JSON columns hold text checked with
-- json_valid().  Later migrations go into schema/NNN_name.sql and are listed
-- in common/service.mk (the build turns them into common/jobq_schema.c).

CREATE TABLE users (
  id            INTEGER PRIMARY KEY,
  name          TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
  role          TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'worker', 'admin')),
  token_hash    TEXT NOT NULL UNIQUE,          -- hex sha256 of the bearer token
  max_upload    INTEGER NOT NULL DEFAULT 67108864, -- bytes per upload
  max_atoms     INTEGER NOT NULL DEFAULT 1000000,  -- atoms per structure
  max_queued    INTEGER NOT NULL DEFAULT 100000,   -- queued + running jobs
  rate_limit    REAL NOT NULL DEFAULT 1000,        -- requests per second
  last_claim    REAL NOT NULL DEFAULT 0,           -- fairness: last time a job of this user was claimed
  created       REAL NOT NULL
);

CREATE TABLE structures (
  id        INTEGER PRIMARY KEY,
  owner     INTEGER NOT NULL REFERENCES users(id),
  name      TEXT NOT NULL,
  format    TEXT NOT NULL CHECK (format IN ('lammps-data', 'lammps-dump', 'extxyz')),
  bytes     BLOB NOT NULL,
  size      INTEGER NOT NULL,
  sha256    TEXT NOT NULL,
  natoms    INTEGER NOT NULL CHECK (natoms > 0),
  species   TEXT NOT NULL CHECK (json_valid(species)),  -- {"Cu":32,"Zr":22}
  box       TEXT NOT NULL CHECK (json_valid(box)),      -- {"lo":[..],"len":[..],"tilt":[..],"periodic":[..]}
  created   REAL NOT NULL,
  UNIQUE (owner, sha256)
);

CREATE TABLE potentials (
  id        INTEGER PRIMARY KEY,
  owner     INTEGER REFERENCES users(id),     -- NULL = bundled / public
  name      TEXT NOT NULL,
  style     TEXT NOT NULL CHECK (style IN ('eam/fs', 'eam/alloy', 'eam')),
  elements  TEXT NOT NULL CHECK (json_valid(elements)),  -- ["Cu","Zr"]
  cutoff    REAL NOT NULL,
  bytes     BLOB NOT NULL,
  size      INTEGER NOT NULL,
  sha256    TEXT NOT NULL,
  is_default INTEGER NOT NULL DEFAULT 0,
  created   REAL NOT NULL
);
CREATE UNIQUE INDEX potentials_owner_sha ON potentials (ifnull(owner, 0), sha256);

CREATE TABLE jobs (
  id            INTEGER PRIMARY KEY,
  user_id       INTEGER NOT NULL REFERENCES users(id),
  kind          TEXT NOT NULL CHECK (length(kind) BETWEEN 1 AND 31),
  state         TEXT NOT NULL DEFAULT 'queued'
                CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  priority      INTEGER NOT NULL DEFAULT 0,
  params        TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(params)),
  structure_id  INTEGER REFERENCES structures(id) ON DELETE SET NULL,
  potential_id  INTEGER REFERENCES potentials(id) ON DELETE SET NULL,
  parent_id     INTEGER REFERENCES jobs(id),
  attempt       INTEGER NOT NULL DEFAULT 0,
  max_attempts  INTEGER NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
  lease_expires REAL,
  not_before    REAL NOT NULL DEFAULT 0,      -- retry backoff: not claimable before
  worker        TEXT,
  progress      REAL NOT NULL DEFAULT 0,
  message       TEXT,
  error         TEXT,
  idempotency_key TEXT,
  created       REAL NOT NULL,
  started       REAL,
  finished      REAL,
  updated       REAL NOT NULL
);
-- Partial indexes where possible: every index entry written is a page in
-- the WAL, and a job changes state three times in its life.
CREATE UNIQUE INDEX jobs_idem ON jobs (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_queue ON jobs (user_id, priority DESC, id) WHERE state = 'queued';   -- claim
CREATE INDEX jobs_user ON jobs (user_id, id);                                         -- listings
CREATE INDEX jobs_running ON jobs (lease_expires) WHERE state = 'running';            -- reaper
CREATE INDEX jobs_structure ON jobs (structure_id) WHERE structure_id IS NOT NULL;
CREATE INDEX jobs_potential ON jobs (potential_id) WHERE potential_id IS NOT NULL;
CREATE INDEX jobs_parent ON jobs (parent_id) WHERE parent_id IS NOT NULL;

-- "runs after": job_id may run only once every dep_id has succeeded.
CREATE TABLE job_deps (
  job_id  INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  dep_id  INTEGER NOT NULL REFERENCES jobs(id),
  PRIMARY KEY (job_id, dep_id),
  CHECK (job_id <> dep_id)
) WITHOUT ROWID;
CREATE INDEX job_deps_dep ON job_deps (dep_id);

-- The result of a job, written once by the completing attempt.
CREATE TABLE results (
  job_id  INTEGER PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
  json    TEXT NOT NULL CHECK (json_valid(json)),
  attempt INTEGER NOT NULL,
  created REAL NOT NULL
);

-- Every state transition (and a few notable non-transitions, e.g. cancel requests).
CREATE TABLE job_events (
  job_id  INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  seq     INTEGER NOT NULL,        -- 1, 2, ... per job
  time    REAL NOT NULL,
  from_state TEXT,                 -- NULL for the creation event
  to_state   TEXT NOT NULL,
  attempt INTEGER NOT NULL DEFAULT 0,
  worker  TEXT,
  message TEXT,
  PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;

-- Workers seen (claims and heartbeats), for the workers-alive metric.
CREATE TABLE workers (
  name      TEXT PRIMARY KEY,
  last_seen REAL NOT NULL,
  claims    INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Counters kept across restarts (completions, failures, retries ...).
CREATE TABLE counters (
  name  TEXT PRIMARY KEY,
  value INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
