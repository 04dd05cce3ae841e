-- What each dataset is being prepared for, and the caption files it holds without an image (issue 14).
-- The target: a model family and base resolution, and the bucket options they imply (JSON: trainer,
-- enable_bucket, min/max_bucket_reso, bucket_reso_steps, bucket_no_upscale; see datasets/target.py). NULL: no
-- target, sd-scripts' default buckets at 1024x1024. images.bucket follows the target from now on.
ALTER TABLE datasets ADD COLUMN target_family TEXT;
ALTER TABLE datasets ADD COLUMN target_width INTEGER;
ALTER TABLE datasets ADD COLUMN target_height INTEGER;
ALTER TABLE datasets ADD COLUMN target_buckets TEXT;

-- Caption files with no image beside them (the image was deleted, renamed, or never there), as the last scan
-- found them. Trainers ignore them; they are listed so the user can see and clean them up.
CREATE TABLE orphan_captions (
    dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    rel_path   TEXT NOT NULL,
    size       INTEGER,
    mtime_ns   INTEGER,
    PRIMARY KEY (dataset_id, rel_path)
);
