"""Repository of the ``video_meta`` table: the container facts of the videos indexed in ``images``.

Plain functions on a ``sqlite3.Connection`` (run them with ``store.run`` / ``store.read``). The video rows
themselves (path, caption, status, size) live in ``images`` with ``media_kind = 'video'`` and are written by
``image_repo.write_probed``, which calls ``store_video_meta`` in its transaction.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from fractions import Fraction

_META_COLUMNS = ("frame_count", "frame_count_source", "fps_num", "fps_den", "duration_s", "codec", "coded_width",
                 "coded_height", "rotation", "has_audio", "keyframe_hashes")


@dataclass(frozen=True)
class VideoRow:
    """One indexed video with what the clip tables and the dedupe need."""

    id: int
    rel_path: str
    subset_id: int | None
    status: str
    reason: str | None
    width: int | None
    """Displayed width (rotation applied)."""
    height: int | None
    frame_count: int | None
    fps: Fraction | None
    duration_s: float | None
    codec: str | None
    coded_width: int | None
    """Width as stored: what the trainers decode and bucket by."""
    coded_height: int | None
    rotation: int
    has_audio: bool
    frame_count_source: str | None
    keyframe_hashes: tuple[str, ...]
    size: int
    sha256: str | None
    has_caption_file: bool

    def to_dict(self) -> dict:
        """JSON-ready facts (fps as 'num/den' and as a float)."""
        return {"path": self.rel_path, "status": self.status, "reason": self.reason, "width": self.width,
                "height": self.height, "coded_width": self.coded_width, "coded_height": self.coded_height,
                "frames": self.frame_count, "frame_count_source": self.frame_count_source,
                "fps": None if self.fps is None else f"{self.fps.numerator}/{self.fps.denominator}",
                "fps_float": None if self.fps is None else round(float(self.fps), 6),
                "duration_s": self.duration_s, "codec": self.codec, "rotation": self.rotation,
                "has_audio": self.has_audio, "size": self.size, "has_caption_file": self.has_caption_file}


def store_video_meta(conn: sqlite3.Connection, image_id: int, facts: dict | None) -> None:
    """Replace the video facts of one indexed file (None: drop them). Call inside the writer's transaction."""
    if facts is None:
        conn.execute("DELETE FROM video_meta WHERE image_id = ?", (image_id,))
        return
    values = [facts.get(c) for c in _META_COLUMNS]
    values[_META_COLUMNS.index("has_audio")] = int(bool(facts.get("has_audio")))
    values[_META_COLUMNS.index("rotation")] = int(facts.get("rotation") or 0)
    conn.execute(f"INSERT OR REPLACE INTO video_meta (image_id, {', '.join(_META_COLUMNS)}) "
                 f"VALUES (?, {', '.join('?' for _ in _META_COLUMNS)})", [image_id, *values])


_ROW_SQL = """SELECT i.id, i.rel_path, i.subset_id, i.status, i.reason, i.width, i.height, i.size, i.sha256,
                  i.caption_size IS NOT NULL AS has_caption_file, m.frame_count, m.fps_num, m.fps_den, m.duration_s,
                  m.codec, m.coded_width, m.coded_height, m.rotation, m.has_audio, m.frame_count_source,
                  m.keyframe_hashes
           FROM images i LEFT JOIN video_meta m ON m.image_id = i.id
           WHERE i.media_kind = 'video' AND """


def video_rows(conn: sqlite3.Connection, dataset_id: int) -> list[VideoRow]:
    """Every video of a dataset (broken ones too), by path."""
    return [_video_row(r) for r in conn.execute(_ROW_SQL + "i.dataset_id = ? ORDER BY i.rel_path", (dataset_id,))]


def video_row(conn: sqlite3.Connection, image_id: int) -> VideoRow | None:
    """One indexed video by its id (None when there is none, or the id is an image's)."""
    row = conn.execute(_ROW_SQL + "i.id = ?", (image_id,)).fetchone()
    return None if row is None else _video_row(row)


def _video_row(r: sqlite3.Row) -> VideoRow:
    return VideoRow(
        id=r["id"], rel_path=r["rel_path"], subset_id=r["subset_id"], status=r["status"], reason=r["reason"],
        width=r["width"], height=r["height"], frame_count=r["frame_count"],
        fps=Fraction(r["fps_num"], r["fps_den"]) if r["fps_num"] and r["fps_den"] else None,
        duration_s=r["duration_s"], codec=r["codec"], coded_width=r["coded_width"], coded_height=r["coded_height"],
        rotation=r["rotation"] or 0, has_audio=bool(r["has_audio"]), frame_count_source=r["frame_count_source"],
        keyframe_hashes=tuple(h for h in (r["keyframe_hashes"] or "").split(",") if h), size=r["size"],
        sha256=r["sha256"], has_caption_file=bool(r["has_caption_file"]))


def count_videos(conn: sqlite3.Connection, dataset_id: int) -> tuple[int, int]:
    """(videos, broken videos) of a dataset."""
    row = conn.execute("SELECT COUNT(*), COALESCE(SUM(status = 'broken'), 0) FROM images "
                       "WHERE dataset_id = ? AND media_kind = 'video'", (dataset_id,)).fetchone()
    return row[0], row[1]
