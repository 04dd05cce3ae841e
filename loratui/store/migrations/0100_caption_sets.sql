-- Several caption sets per image (issue 17): booru tags in `.txt`, natural-language captions in `.caption`, ...
-- A caption set is named by its sidecar extension. The dataset's own extension (datasets.caption_ext, `.txt` by
-- default) stays the primary set and stays where it always was (images.caption, image_tags): nothing on the
-- single-set path changes. Every other set lives in the tables below; the sidecar files stay the source of truth.

-- The extra sets of a dataset: found by a scan (sidecars next to images) or added by the user.
CREATE TABLE caption_sets (
    dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    ext        TEXT NOT NULL,                   -- '.caption', normalised like datasets.caption_ext
    source     TEXT NOT NULL CHECK (source IN ('found', 'added')),
    created_at REAL NOT NULL,
    PRIMARY KEY (dataset_id, ext)
);

-- One row per image and extra set whose sidecar file exists (no row: no file), with the same columns and meaning
-- as the caption columns of images.
CREATE TABLE set_captions (
    image_id         INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    ext              TEXT NOT NULL,
    caption          TEXT,                      -- NULL: present but not loaded (too large, unreadable)
    caption_mtime_ns INTEGER,
    caption_size     INTEGER,
    caption_encoding TEXT,
    caption_warning  TEXT,
    caption_sha256   TEXT,
    tag_count        INTEGER NOT NULL DEFAULT 0,
    edited_at        REAL,
    PRIMARY KEY (image_id, ext)
);

-- Tags parsed from an extra set's caption, in order (image_tags for the primary set).
CREATE TABLE set_tags (
    image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    ext      TEXT NOT NULL,
    position INTEGER NOT NULL,
    tag      TEXT NOT NULL,
    PRIMARY KEY (image_id, ext, position)
) WITHOUT ROWID;
CREATE INDEX set_tags_tag ON set_tags (ext, tag);

-- The caption set a journaled caption change wrote (NULL: the dataset's primary set, as every change before this).
ALTER TABLE changes ADD COLUMN caption_set TEXT;
