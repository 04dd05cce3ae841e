-- Checkpoint sweeps (issue 16): each sweep folder a `loratui lora sweep` job renders (sweep.json and
-- images/<row>/<col>.png, see loras/sweep_manifest.py), so the grid and the monitor can list them. `job_id` is the
-- render job, `source_job_id` the training whose checkpoints it renders (NULL for a list of LoRA files). `status`
-- is the sweep's own last word (queued, completed, failed); while its job lives, the job's status says more.
CREATE TABLE sweeps (
    id            TEXT PRIMARY KEY,
    folder        TEXT NOT NULL,
    job_id        INTEGER REFERENCES jobs(id) ON DELETE SET NULL,
    source_job_id INTEGER REFERENCES jobs(id) ON DELETE SET NULL,
    family        TEXT,
    status        TEXT NOT NULL DEFAULT 'queued',
    cells         INTEGER NOT NULL DEFAULT 0,
    created       REAL NOT NULL
);
CREATE INDEX sweeps_by_source ON sweeps(source_job_id);

-- Prompt sets saved for a dataset (one prompt a line, sd-scripts' inline options kept), to sweep every training
-- of the dataset with the same prompts.
CREATE TABLE prompt_sets (
    dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    prompts    TEXT NOT NULL,
    updated    REAL NOT NULL,
    PRIMARY KEY (dataset_id, name)
);
