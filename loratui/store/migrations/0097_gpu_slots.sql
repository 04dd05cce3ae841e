-- GPU slots, telemetry and failure causes (issue 18).
-- gpu_request: what the job asks for ("n:2" any two GPUs, "ids:0,1" exactly those, "all"; NULL: any one);
-- gpu_ids: the GPUs it was given ("0,1"; NULL: none, e.g. on a machine without GPUs), kept after it ends for
-- the history; a running job holds them until gpu_released_at is set (when it ends or goes back to the queue).
ALTER TABLE jobs ADD COLUMN gpu_request TEXT;
ALTER TABLE jobs ADD COLUMN gpu_ids TEXT;
ALTER TABLE jobs ADD COLUMN gpu_assigned_at REAL;
ALTER TABLE jobs ADD COLUMN gpu_released_at REAL;
-- The most memory (bytes) any one of the job's GPUs used while the job ran, from the telemetry samples.
ALTER TABLE jobs ADD COLUMN peak_memory INTEGER;
-- Why a failed job failed, when the log says (e.g. "cuda_oom", "nccl", "driver"; see gpu/failures.py).
ALTER TABLE jobs ADD COLUMN failure_cause TEXT;

-- Telemetry of the GPUs a job holds, sampled every few seconds by its supervisor (pruned to the last hour).
CREATE TABLE job_gpu_samples (
    job_id      INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    t           REAL NOT NULL,
    gpu_index   INTEGER NOT NULL,
    utilization INTEGER,
    memory_used INTEGER,
    memory_total INTEGER,
    temperature INTEGER
);
CREATE INDEX job_gpu_samples_job ON job_gpu_samples (job_id, t);
CREATE INDEX jobs_gpu_held ON jobs (status) WHERE gpu_ids IS NOT NULL AND gpu_released_at IS NULL;
