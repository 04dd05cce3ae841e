-- Change events (issue 12): every core write appends what it changed, in the same transaction, so any
-- loratui process (the TUI above all) can follow changes made by others with one cheap query.
-- topic: datasets (the set of datasets or their counts), images (images of one dataset), jobs, loras, models.
-- image_ids: JSON list of the images changed; NULL means all of the dataset's images (or not image-specific).
-- No foreign keys: the change that removes a dataset or a job must outlive it.
CREATE TABLE change_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    t          REAL NOT NULL,
    topic      TEXT NOT NULL CHECK (topic IN ('datasets', 'images', 'jobs', 'loras', 'models')),
    dataset_id INTEGER,
    job_id     INTEGER,
    lora_id    INTEGER,
    image_ids  TEXT,
    what       TEXT NOT NULL DEFAULT ''
);
-- Never read or written since version 1.
DROP TABLE settings;
