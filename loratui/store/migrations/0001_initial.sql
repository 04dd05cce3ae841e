-- loratui schema, version 1. Timestamps are Unix seconds (REAL); JSON columns hold TEXT.

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL                         -- JSON
);

CREATE TABLE workspaces (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL
);

CREATE TABLE datasets (
    id           INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name         TEXT NOT NULL UNIQUE,
    path         TEXT NOT NULL UNIQUE,          -- absolute, resolved
    caption_ext  TEXT NOT NULL DEFAULT '.txt',
    options      TEXT NOT NULL DEFAULT '{}',    -- JSON: per-dataset options
    created_at   REAL NOT NULL,
    scanned_at   REAL
);

-- kohya "N_concept" folders (and the dataset root itself, rel_path '').
CREATE TABLE subsets (
    id           INTEGER PRIMARY KEY,
    dataset_id   INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    rel_path     TEXT NOT NULL,
    repeats      INTEGER NOT NULL DEFAULT 1,
    class_tokens TEXT,
    is_reg       INTEGER NOT NULL DEFAULT 0,
    keep_tokens  INTEGER,
    options      TEXT NOT NULL DEFAULT '{}',    -- JSON: extra dataset_config keys
    UNIQUE (dataset_id, rel_path)
);

CREATE TABLE images (
    id               INTEGER PRIMARY KEY,
    dataset_id       INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    subset_id        INTEGER REFERENCES subsets(id) ON DELETE SET NULL,
    rel_path         TEXT NOT NULL,             -- relative to the dataset folder, '/' separators
    size             INTEGER NOT NULL,
    mtime_ns         INTEGER NOT NULL,
    sha256           TEXT,
    phash            TEXT,                      -- 16 hex digits (64-bit imagehash.phash)
    width            INTEGER,                   -- after EXIF orientation
    height           INTEGER,
    format           TEXT,
    mode             TEXT,
    has_alpha        INTEGER,
    orientation      INTEGER,                   -- EXIF orientation tag, 1 when absent
    frames           INTEGER,
    bucket           TEXT,                      -- kohya bucket at the default 1024x1024 rules, e.g. '832x1216'
    status           TEXT NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'broken')),
    reason           TEXT,
    caption          TEXT,                      -- NULL: no caption file
    caption_mtime_ns INTEGER,
    caption_size     INTEGER,
    caption_encoding TEXT,
    caption_warning  TEXT,
    tag_count        INTEGER NOT NULL DEFAULT 0,
    edited_at        REAL,                      -- last caption change made by loratui
    scanned_at       REAL NOT NULL,
    UNIQUE (dataset_id, rel_path)
);
CREATE INDEX images_dataset_sha ON images (dataset_id, sha256);
CREATE INDEX images_dataset_phash ON images (dataset_id, phash);
CREATE INDEX images_subset ON images (subset_id);

-- Tags parsed from the caption, in order.
CREATE TABLE image_tags (
    image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    tag      TEXT NOT NULL,
    PRIMARY KEY (image_id, position)
) WITHOUT ROWID;
CREATE INDEX image_tags_tag ON image_tags (tag);

-- Tagger scores, kept so thresholds can be changed without re-running a model.
CREATE TABLE tag_scores (
    image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    model    TEXT NOT NULL,
    tag      TEXT NOT NULL,
    category INTEGER NOT NULL,                  -- 9 rating, 0 general, 4 character
    score    REAL NOT NULL,
    PRIMARY KEY (image_id, model, tag)
) WITHOUT ROWID;

-- Journal of caption edits and file moves: one operation, many changes. Undo/redo walk it.
CREATE TABLE operations (
    id          INTEGER PRIMARY KEY,
    dataset_id  INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,                  -- edit, add, remove, replace, merge, sort, dedupe, tag, caption, move, ...
    params      TEXT NOT NULL DEFAULT '{}',     -- JSON
    description TEXT NOT NULL DEFAULT '',
    state       TEXT NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'applied', 'undone', 'rolled_back', 'failed')),
    created_at  REAL NOT NULL,
    applied_at  REAL,
    undone_at   REAL
);
CREATE INDEX operations_dataset ON operations (dataset_id, id);

CREATE TABLE changes (
    id              INTEGER PRIMARY KEY,
    operation_id    INTEGER NOT NULL REFERENCES operations(id) ON DELETE CASCADE,
    image_id        INTEGER REFERENCES images(id) ON DELETE SET NULL,
    kind            TEXT NOT NULL DEFAULT 'caption' CHECK (kind IN ('caption', 'move')),
    path_before     TEXT NOT NULL,              -- relative to the dataset: caption file or image
    path_after      TEXT,                       -- for moves
    text_before     TEXT,                       -- NULL: the caption file did not exist
    text_after      TEXT,
    mtime_ns_after  INTEGER,                    -- to detect edits made outside loratui afterwards
    state           TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'done', 'skipped', 'failed', 'undone')),
    error           TEXT
);
CREATE INDEX changes_operation ON changes (operation_id);

CREATE TABLE jobs (
    id                INTEGER PRIMARY KEY,
    kind              TEXT NOT NULL,            -- scan, tag, caption, train, resize, upload, download, ...
    title             TEXT NOT NULL DEFAULT '',
    dataset_id        INTEGER REFERENCES datasets(id) ON DELETE SET NULL,
    status            TEXT NOT NULL DEFAULT 'queued',
    params            TEXT NOT NULL DEFAULT '{}',   -- JSON
    progress_done     INTEGER NOT NULL DEFAULT 0,
    progress_total    INTEGER,
    message           TEXT,
    error             TEXT,
    step              INTEGER,
    total_steps       INTEGER,
    epoch             INTEGER,
    epochs            INTEGER,
    loss              REAL,
    speed             REAL,                     -- items or steps per second
    eta_s             REAL,
    pid               INTEGER,                  -- the worker / trainer process
    pgid              INTEGER,
    supervisor_pid    INTEGER,
    host              TEXT,
    proc_key          TEXT,                     -- boot id + process start time of `pid`: detects pid reuse
    log_path          TEXT,
    workdir           TEXT,
    output            TEXT,                     -- the main artefact (final LoRA, ...)
    outputs           TEXT NOT NULL DEFAULT '[]',   -- JSON list
    exit_code         INTEGER,
    cancel_requested  INTEGER NOT NULL DEFAULT 0,
    queue_position    INTEGER,
    parent_id         INTEGER REFERENCES jobs(id) ON DELETE SET NULL,  -- a resumed job points at its origin
    created_at        REAL NOT NULL,
    started_at        REAL,
    updated_at        REAL NOT NULL,
    heartbeat_at      REAL,
    finished_at       REAL
);
CREATE INDEX jobs_status ON jobs (status);

-- Items a job finished, so a re-run skips them.
CREATE TABLE job_items (
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    item   TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'done',
    PRIMARY KEY (job_id, item)
) WITHOUT ROWID;

CREATE TABLE job_metrics (
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    step   INTEGER NOT NULL,
    epoch  INTEGER,
    loss   REAL,
    avr_loss REAL,
    lr     REAL,
    t      REAL,
    PRIMARY KEY (job_id, step)
) WITHOUT ROWID;

-- Notable moments of a job: phase changes, checkpoints, samples.
CREATE TABLE job_events (
    id     INTEGER PRIMARY KEY,
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    t      REAL NOT NULL,
    kind   TEXT NOT NULL,
    data   TEXT NOT NULL DEFAULT '{}'           -- JSON
);
CREATE INDEX job_events_job ON job_events (job_id, id);

CREATE TABLE loras (
    id             INTEGER PRIMARY KEY,
    path           TEXT NOT NULL UNIQUE,
    size           INTEGER NOT NULL,
    mtime_ns       INTEGER NOT NULL,
    sha256         TEXT,
    tensor_count   INTEGER,
    network_module TEXT,
    dim            INTEGER,
    alpha          REAL,
    base_model     TEXT,
    architecture   TEXT,
    trigger_words  TEXT NOT NULL DEFAULT '[]',  -- JSON list
    metadata       TEXT NOT NULL DEFAULT '{}',  -- JSON: the safetensors __metadata__
    job_id         INTEGER REFERENCES jobs(id) ON DELETE SET NULL,
    indexed_at     REAL NOT NULL
);

-- Base models and other downloads on disk.
CREATE TABLE models (
    id            INTEGER PRIMARY KEY,
    source        TEXT NOT NULL,                -- hf, civitai, local
    ref           TEXT NOT NULL,                -- repo id / model version id
    path          TEXT NOT NULL UNIQUE,
    size          INTEGER,
    sha256        TEXT,
    downloaded_at REAL NOT NULL
);
