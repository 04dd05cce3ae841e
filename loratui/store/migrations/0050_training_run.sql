-- Training runs (issue 7): the identity of the trainer process (boot id + start time of `pid`), so a later
-- loratui can tell a still-running trainer from a reused pid when its supervisor is gone.
ALTER TABLE jobs ADD COLUMN trainer_key TEXT;
CREATE INDEX job_events_kind ON job_events (job_id, kind);
