-- Preview thumbnails (issue 3): a small JPEG per image, made by the scan (which decodes every image for its
-- perceptual hash anyway), so the TUI previews images without decoding full-size files. `source_size` and
-- `source_mtime_ns` are the file's when the thumbnail was made; a reader compares them with the file on disk.
CREATE TABLE thumbnails (
    image_id        INTEGER PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
    source_size     INTEGER NOT NULL,
    source_mtime_ns INTEGER NOT NULL,
    width           INTEGER NOT NULL,
    height          INTEGER NOT NULL,
    data            BLOB NOT NULL
);
