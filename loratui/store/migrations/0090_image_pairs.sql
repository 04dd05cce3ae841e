-- Image pairs for edit models (issue 15): control images beside the training images, paired by file stem.

-- The control folder of each subset, as found by the convention (a `control/` folder inside the subset folder, or a
-- sibling `<subset folder>_control/`) or set by the user. No foreign key to subsets: a setting outlives a scan that
-- finds the subset empty.
CREATE TABLE control_folders (
    dataset_id   INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    subset_path  TEXT NOT NULL,                 -- the subset (image) folder, '' for the dataset root
    control_path TEXT,                          -- the control folder, relative to the dataset; NULL with 'off'
    source       TEXT NOT NULL CHECK (source IN ('found', 'set', 'off')),
    options      TEXT NOT NULL DEFAULT '{}',    -- JSON: musubi's no_resize_control, control_resolution
    PRIMARY KEY (dataset_id, subset_path)
);

-- Every image file in a control folder: what the probe found and what it pairs with.
CREATE TABLE control_images (
    id           INTEGER PRIMARY KEY,
    dataset_id   INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    subset_path  TEXT NOT NULL,                 -- the subset whose control folder holds it
    rel_path     TEXT NOT NULL,                 -- relative to the dataset folder, '/' separators
    size         INTEGER NOT NULL,
    mtime_ns     INTEGER NOT NULL,
    width        INTEGER,                       -- after EXIF orientation, as in images
    height       INTEGER,
    orientation  INTEGER,
    format       TEXT,
    status       TEXT NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'broken')),
    reason       TEXT,
    target_id    INTEGER REFERENCES images(id) ON DELETE SET NULL,  -- NULL: no target takes it (an extra)
    position     INTEGER,                       -- 0-based control index for its target, in musubi-tuner's order
    problem      TEXT,                          -- NULL, or extra / broken / mismatch / bad_name / ambiguous
    detail       TEXT,                          -- the problem (or a size note) in words
    thumbnail    BLOB,                          -- a small JPEG for the preview, like thumbnails.data
    thumb_width  INTEGER,
    thumb_height INTEGER,
    scanned_at   REAL NOT NULL,
    UNIQUE (dataset_id, rel_path)
);
CREATE INDEX control_images_target ON control_images (target_id);

-- One row per training image of a subset that has a control folder: its pair status.
CREATE TABLE image_pairs (
    image_id   INTEGER PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
    dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    controls   INTEGER NOT NULL DEFAULT 0,      -- control images paired with it
    status     TEXT NOT NULL CHECK (status IN ('ok', 'missing', 'mismatch', 'broken', 'bad_name', 'ambiguous')),
    detail     TEXT
);
CREATE INDEX image_pairs_dataset ON image_pairs (dataset_id, status);
