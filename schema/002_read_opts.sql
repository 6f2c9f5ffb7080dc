-- schema/002_read_opts.sql -- migration 2: the read options of a structure.
--
-- An upload may say how its bytes are to be read: ?types=Cu+Zr (species of
-- the numeric types 1..n of a LAMMPS data file / dump that names none) and
-- ?frame=N (frame of a multi-frame dump / extxyz: 0 = first, -1 = last).
-- They are now stored with the structure so that every later reader (the
-- worker, the extxyz export of results) reads the same atoms as the upload
-- did.  The same bytes with other options are another structure, so the
-- de-duplication key becomes (owner, sha256, types, frame).
--
-- SQLite cannot change a table constraint in place: the table is rebuilt
-- (create, copy, drop, rename).  jobq_open() runs migrations with
-- foreign_keys OFF (jobs.structure_id must not be set NULL by the drop) and
-- checks PRAGMA foreign_key_check before it commits.  Ids are kept.

CREATE TABLE structures_new (
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
  types     TEXT CHECK (types IS NULL OR length(types) BETWEEN 1 AND 255),  -- "Cu Zr"; NULL = from the file
  frame     INTEGER NOT NULL DEFAULT 0 CHECK (frame >= -1)                  -- 0 = first, -1 = last
);

INSERT INTO structures_new (id, owner, name, format, bytes, size, sha256, natoms, species, box,
                            created, types, frame)
  SELECT id, owner, name, format, bytes, size, sha256, natoms, species, box, created, NULL, 0
  FROM structures;

DROP TABLE structures;
ALTER TABLE structures_new RENAME TO structures;

-- De-duplication of uploads: identical bytes read the same way.
CREATE UNIQUE INDEX structures_dedup ON structures (owner, sha256, ifnull(types, ''), frame);
