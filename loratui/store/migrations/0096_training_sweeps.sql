-- Training sweeps (issue 18): one config trained once per combination of grid values. Called "training sweep"
-- everywhere, to keep it apart from the checkpoint sweep of issue 16 (`lora sweep`).
CREATE TABLE training_sweeps (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,                  -- the base output name; each run is NAME-<label>
    config     TEXT NOT NULL,                  -- the training config file the runs were planned from
    grid       TEXT NOT NULL DEFAULT '[]',     -- JSON: [[option, [value text, ...]], ...] in the order given
    created_at REAL NOT NULL
);

-- The jobs of a training sweep, one per combination, in grid order. A job belongs to at most one sweep.
CREATE TABLE training_sweep_runs (
    sweep_id INTEGER NOT NULL REFERENCES training_sweeps(id) ON DELETE CASCADE,
    job_id   INTEGER NOT NULL UNIQUE REFERENCES jobs(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    label    TEXT NOT NULL,                    -- e.g. lr1e-4-dim16
    vals     TEXT NOT NULL DEFAULT '{}',       -- JSON: {option: typed value}
    PRIMARY KEY (sweep_id, position)
);
