-- schema/003_graphs.sql -- migration 3: job graphs (fan-out sweeps, pipelines).
--
-- A kind with a plan (common/kinds.h, kind_def.plan) is submitted as a tree
-- of jobs created in one transaction (jobq_submit_graph): the parent and
-- every descendant (parent_id), each with
--   - label: the step's name in progress and in errors ("chunk 3/40");
--   - structure_from: the job whose result's positions and box the job runs
--     on (kind_io.structure_result); NULL = the structure as submitted;
--   - job_inputs: the ordered jobs whose results are the job's
--     kind_io.inputs (a parent: its children in plan order);
--   - job_deps (migration 1): every job that must succeed first (inputs,
--     inherited "after" and, for a parent, all its children).
-- jobs.waiting counts the job's dependencies that have not succeeded yet;
-- jobq_complete decrements it for the dependents of the job that
-- succeeded, so a claim finds runnable jobs through one partial index
-- (jobs_ready) instead of checking every dependency row of every queued
-- job.

ALTER TABLE jobs ADD COLUMN label TEXT CHECK (label IS NULL OR length(label) <= 128);
ALTER TABLE jobs ADD COLUMN structure_from INTEGER REFERENCES jobs(id);
ALTER TABLE jobs ADD COLUMN waiting INTEGER NOT NULL DEFAULT 0;

UPDATE jobs SET waiting = (SELECT count(*) FROM job_deps d JOIN jobs p ON p.id = d.dep_id
                           WHERE d.job_id = jobs.id AND p.state <> 'succeeded')
  WHERE state = 'queued';

-- claim: queued jobs whose dependencies all succeeded
CREATE INDEX jobs_ready ON jobs (user_id, priority DESC, id) WHERE state = 'queued' AND waiting = 0;

-- The ordered inputs of a job (kind_io.inputs).
CREATE TABLE job_inputs (
  job_id   INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  pos      INTEGER NOT NULL,     -- 0, 1, ... = io->inputs order
  input_id INTEGER NOT NULL REFERENCES jobs(id),
  PRIMARY KEY (job_id, pos)
) WITHOUT ROWID;
