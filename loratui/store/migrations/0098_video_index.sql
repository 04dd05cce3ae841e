-- Videos indexed beside images (issue 17). A video is a row of `images` with media_kind 'video' (path, size,
-- sha256, caption, status, display width/height, orientation from its display rotation, frames = frame count),
-- plus its container facts in `video_meta`. A video's perceptual hashes are those of a few keyframes
-- (keyframe_hashes, comma-separated), compared between videos only; images.phash stays NULL for videos.
ALTER TABLE images ADD COLUMN media_kind TEXT NOT NULL DEFAULT 'image' CHECK (media_kind IN ('image', 'video'));

CREATE TABLE video_meta (
    image_id           INTEGER PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
    frame_count        INTEGER,                 -- exact: what the trainers decode
    frame_count_source TEXT,                    -- 'container' (stated by the header/index) or 'packets' (demuxed)
    fps_num            INTEGER,                 -- average frame rate as a fraction
    fps_den            INTEGER,
    duration_s         REAL,
    codec              TEXT,
    coded_width        INTEGER,                 -- as stored (before the display rotation)
    coded_height       INTEGER,
    rotation           INTEGER NOT NULL DEFAULT 0,  -- display matrix, degrees counter-clockwise: 0, 90, 180, 270
    has_audio          INTEGER NOT NULL DEFAULT 0,
    keyframe_hashes    TEXT
);
