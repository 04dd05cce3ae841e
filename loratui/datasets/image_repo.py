"""Repository of the ``images``, ``image_tags`` and ``thumbnails`` tables (see ``loratui.store.db``).

Plain functions on a ``sqlite3.Connection``; run them with ``await store.run(fn, ...)``. Writers log the images
they changed (``loratui.store.changes``) in the same transaction. Image selections in the query language are
compiled by ``loratui.datasets.query``.
"""

from __future__ import annotations

import sqlite3
import time
from array import array
from dataclasses import dataclass, field
from typing import Iterable

from loratui.datasets import dataset_repo, query, video_repo
from loratui.datasets.captions import parse_tags
from loratui.datasets.dataset_repo import HAS_CAPTION_SQL, Dataset
from loratui.datasets.target import bucket_labeler, describe
from loratui.datasets.thumbnails import Thumbnail
from loratui.store import changes, transaction
from loratui.store.db import ThreadConnections

FLAG_BROKEN = 1
FLAG_UNCAPTIONED = 2
FLAG_DUPLICATE = 4
FLAG_EDITED = 8

FLAG_LETTERS = ((FLAG_BROKEN, "B"), (FLAG_UNCAPTIONED, "U"), (FLAG_DUPLICATE, "D"), (FLAG_EDITED, "E"))
"""Flag bit -> the letter shown in the image list's flags column."""


# -- the image list -------------------------------------------------------------------------------------------


@dataclass
class ImageRows:
    """The rows of one dataset (or subset), in display order, as parallel arrays (cheap at 50,000 rows)."""

    ids: array = field(default_factory=lambda: array("q"))
    names: list[str] = field(default_factory=list)
    widths: array = field(default_factory=lambda: array("l"))
    heights: array = field(default_factory=lambda: array("l"))
    buckets: list[str] = field(default_factory=list)
    tag_counts: array = field(default_factory=lambda: array("l"))
    flags: bytearray = field(default_factory=bytearray)
    mtimes: array = field(default_factory=lambda: array("q"))

    def __len__(self) -> int:
        return len(self.ids)

    def index_of(self, image_id: int) -> int | None:
        """The row index of an image id, or None."""
        try:
            return self.ids.index(image_id)
        except ValueError:
            return None


_ROWS_SQL = f"""
SELECT i.id, i.rel_path, i.mtime_ns, COALESCE(i.width, 0), COALESCE(i.height, 0), COALESCE(i.bucket, ''), i.tag_count,
       (i.status = 'broken') * {FLAG_BROKEN}
     + (NOT {HAS_CAPTION_SQL}) * {FLAG_UNCAPTIONED}
     + (i.sha256 IS NOT NULL AND i.sha256 IN (SELECT sha256 FROM images WHERE dataset_id = :ds
                                              AND sha256 IS NOT NULL GROUP BY sha256 HAVING COUNT(*) > 1))
       * {FLAG_DUPLICATE}
     + (i.edited_at IS NOT NULL) * {FLAG_EDITED}
FROM images i
WHERE i.dataset_id = :ds {{subset}} {{ids}}
ORDER BY i.rel_path
"""


def list_rows(conn: sqlite3.Connection, dataset_id: int, subset_id: int | None = None,
              limit: int | None = None, image_ids: Iterable[int] | None = None) -> ImageRows:
    """The image list's rows of a dataset (one subset; the first `limit`; or only `image_ids`), one query."""
    sql = _ROWS_SQL.replace("{subset}", "AND i.subset_id = :subset" if subset_id is not None else "")
    params: dict = {"ds": dataset_id, "subset": subset_id, "limit": limit}
    if image_ids is not None:
        wanted = sorted(set(image_ids))
        sql = sql.replace("{ids}", f"AND i.id IN ({', '.join(f':i{n}' for n in range(len(wanted)))})")
        params.update({f"i{n}": image_id for n, image_id in enumerate(wanted)})
    else:
        sql = sql.replace("{ids}", "")
    if limit is not None:
        sql += " LIMIT :limit"
    cursor = conn.execute(sql, params)
    cursor.row_factory = None  # plain tuples: far cheaper than sqlite3.Row for 50k rows
    records = cursor.fetchall()
    if not records:
        return ImageRows()
    # Transpose in C (zip) rather than appending field by field: ~20x faster at 50k rows.
    ids, names, mtimes, widths, heights, buckets, tag_counts, flags = zip(*records)
    del records
    interned: dict[str, str] = {}
    return ImageRows(ids=array("q", ids), names=list(names), widths=array("l", widths),
                     heights=array("l", heights), buckets=[interned.setdefault(b, b) for b in buckets],
                     tag_counts=array("l", tag_counts), flags=bytearray(flags), mtimes=array("q", mtimes))


def image_detail(conn: sqlite3.Connection, image_id: int) -> sqlite3.Row | None:
    """The full images row of one image."""
    return conn.execute("SELECT * FROM images WHERE id = ?", (image_id,)).fetchone()


def image_listing(conn: sqlite3.Connection, dataset_id: int) -> list[dict]:
    """Every image of a dataset, for `dataset images`."""
    rows = conn.execute(
        f"""SELECT rel_path, status, reason, width, height, format, mode, has_alpha, orientation, frames, size,
                   sha256, phash, bucket, tag_count, caption_warning, {HAS_CAPTION_SQL} AS has_caption, media_kind
            FROM images WHERE dataset_id = ? ORDER BY rel_path""", (dataset_id,))
    return [{"path": r["rel_path"], "kind": r["media_kind"],
             "status": r["status"], "reason": r["reason"], "width": r["width"],
             "height": r["height"], "format": r["format"], "mode": r["mode"],
             "has_alpha": None if r["has_alpha"] is None else bool(r["has_alpha"]),
             "orientation": r["orientation"], "frames": r["frames"], "size": r["size"], "sha256": r["sha256"],
             "phash": r["phash"], "bucket": r["bucket"], "tags": r["tag_count"],
             "has_caption": bool(r["has_caption"]), "caption_warning": r["caption_warning"]} for r in rows]


def dataset_stats(conn: sqlite3.Connection, dataset: Dataset, top: int = 30) -> dict:
    """Everything `dataset show` prints: counts, subsets, resolution and bucket histograms (at the dataset's
    target), top tags, and the caption files without an image."""
    counts = conn.execute(
        f"""SELECT COUNT(*) AS images, COALESCE(SUM(status = 'broken'), 0) AS broken,
                   COALESCE(SUM({HAS_CAPTION_SQL}), 0) AS captioned,
                   COALESCE(SUM(caption_warning IS NOT NULL), 0) AS caption_warnings,
                   COALESCE(SUM(size), 0) AS bytes
            FROM images WHERE dataset_id = ?""", (dataset.id,)).fetchone()
    subsets = conn.execute(
        """SELECT s.rel_path, s.repeats, s.class_tokens, s.is_reg, COUNT(i.id) AS images,
                  COALESCE(SUM(i.status = 'ok'), 0) AS ok
           FROM subsets s LEFT JOIN images i ON i.subset_id = s.id
           WHERE s.dataset_id = ? GROUP BY s.id ORDER BY s.rel_path""", (dataset.id,)).fetchall()
    resolutions = conn.execute(
        """SELECT width || 'x' || height AS reso, COUNT(*) AS n FROM images
           WHERE dataset_id = ? AND status = 'ok' GROUP BY reso ORDER BY n DESC, reso""", (dataset.id,)).fetchall()
    buckets = conn.execute(
        """SELECT bucket, COUNT(*) AS n FROM images WHERE dataset_id = ? AND status = 'ok' AND bucket IS NOT NULL
           GROUP BY bucket ORDER BY n DESC, bucket""", (dataset.id,)).fetchall()
    tags = sorted(images_per_tag(conn, dataset.id).items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return {
        "target": dataset.target.to_dict() if dataset.target else None,
        "buckets_follow": describe(dataset.target),
        "orphan_captions": dataset_repo.orphan_captions(conn, dataset.id),
        "name": dataset.name, "workspace": dataset.workspace, "path": str(dataset.path),
        "caption_ext": dataset.caption_ext, "images": counts["images"], "broken": counts["broken"],
        "captioned": counts["captioned"], "uncaptioned": counts["images"] - counts["captioned"],
        "caption_warnings": counts["caption_warnings"], "bytes": counts["bytes"], "scanned_at": dataset.scanned_at,
        "subsets": [{"path": s["rel_path"], "repeats": s["repeats"], "class_tokens": s["class_tokens"],
                     "is_reg": bool(s["is_reg"]), "images": s["images"], "ok": s["ok"]} for s in subsets],
        "resolutions": {r["reso"]: r["n"] for r in resolutions},
        "buckets": {b["bucket"]: b["n"] for b in buckets},
        "top_tags": [{"tag": tag, "count": n} for tag, n in tags],
    }


# -- tags ---------------------------------------------------------------------------------------------------


def images_per_tag(conn: sqlite3.Connection, dataset_id: int, image_ids: Iterable[int] | None = None
                   ) -> dict[str, int]:
    """Every tag of a dataset with the number of images carrying it (a tag twice in one caption counts once).

    This is loratui's one tag count: the tag frequency table, completion, `tags list`, `dataset show` and the
    frequency sort all use it. `image_ids` limits the count to those images.
    """
    cursor = conn.execute(
        "SELECT t.tag, t.image_id FROM image_tags t JOIN images i ON i.id = t.image_id WHERE i.dataset_id = ?"
        if image_ids is not None else
        "SELECT t.tag, COUNT(DISTINCT t.image_id) FROM image_tags t JOIN images i ON i.id = t.image_id "
        "WHERE i.dataset_id = ? GROUP BY t.tag", (dataset_id,))
    cursor.row_factory = None
    if image_ids is None:
        return dict(cursor.fetchall())
    wanted = set(image_ids)
    carriers: dict[str, set[int]] = {}
    for tag, image_id in cursor:
        if image_id in wanted:
            carriers.setdefault(tag, set()).add(image_id)
    return {tag: len(ids) for tag, ids in carriers.items()}


def _replace_tags(conn: sqlite3.Connection, image_id: int, tags: list[str]) -> None:
    conn.execute("DELETE FROM image_tags WHERE image_id = ?", (image_id,))
    conn.executemany("INSERT INTO image_tags (image_id, position, tag) VALUES (?, ?, ?)",
                     [(image_id, position, tag) for position, tag in enumerate(tags)])


# -- selections -----------------------------------------------------------------------------------------------


def select_ids(conn: sqlite3.Connection, dataset_id: int, text: str | None = None, subset: str | None = None
               ) -> list[int]:
    """Ids of a dataset's images matching a query (all when empty), in one subset folder if given, by path."""
    where, params = query.selection_where(dataset_id, text, subset)
    query.register_functions(conn)
    return [row[0] for row in conn.execute(f"SELECT id FROM images WHERE {where} ORDER BY rel_path", params)]


def filter_ids(conn: sqlite3.Connection, dataset_id: int, text: str) -> set[int] | None:
    """Ids for the image list's filter box (None when `text` is empty: everything).

    Query-language text (``query.looks_like_query``) is compiled (a parse error raises QueryError); plain words
    must each be a case-insensitive substring of the file name, the caption or one of the tags.
    """
    if not text.strip():
        return None
    if query.looks_like_query(text):
        return set(select_ids(conn, dataset_id, text))
    sql, params = query.words_where(text)
    return {row[0] for row in conn.execute(f"SELECT id FROM images WHERE dataset_id = ? AND {sql}",
                                           [dataset_id, *params])}


def selection_rows(conn: sqlite3.Connection, dataset_id: int, text: str | None, subset: str | None) -> list[tuple]:
    """(id, rel_path, caption, caption_size, caption_sha256, status, reason) of the selected images, by path."""
    where, params = query.selection_where(dataset_id, text, subset)
    query.register_functions(conn)
    cursor = conn.execute(
        "SELECT id, rel_path, caption, caption_size, caption_sha256, status, reason FROM images "
        f"WHERE {where} ORDER BY rel_path", params)
    cursor.row_factory = None
    return cursor.fetchall()


def readable_rows(conn: sqlite3.Connection, dataset_id: int, columns: str = "id, rel_path, caption"
                  ) -> list[sqlite3.Row]:
    """Chosen columns of the dataset's readable (status ok) images, by path (export, duplicates)."""
    allowed = {"id", "rel_path", "caption", "caption_size", "width", "height", "size", "sha256", "phash",
               "orientation", "subset_id"}
    names = [c.strip() for c in columns.split(",")]
    if not set(names) <= allowed:
        raise ValueError(f"unknown image columns: {sorted(set(names) - allowed)}")
    return conn.execute(f"SELECT {', '.join(names)} FROM images WHERE dataset_id = ? AND status = 'ok' "
                        "ORDER BY rel_path", (dataset_id,)).fetchall()


def tagging_rows(conn: sqlite3.Connection, dataset_id: int, include_videos: bool = False) -> list[dict]:
    """id, rel_path, media_kind, caption, caption_size, caption_sha256 and the subset's class_tokens of the
    readable images (videos only with `include_videos`: the image taggers cannot read them), by path."""
    kinds = "('image', 'video')" if include_videos else "('image')"
    return [dict(r) for r in conn.execute(
        f"""SELECT i.id, i.rel_path, i.media_kind, i.caption, i.caption_size, i.caption_sha256, s.class_tokens
           FROM images i LEFT JOIN subsets s ON s.id = i.subset_id
           WHERE i.dataset_id = ? AND i.status = 'ok' AND i.media_kind IN {kinds} ORDER BY i.rel_path""",
        (dataset_id,))]


def training_rows(conn: sqlite3.Connection, dataset_id: int) -> list[sqlite3.Row]:
    """subset_id, rel_path, width, height, orientation of the readable images with a size, by path; caption_file
    is 1 when a caption file is there (blank or not: musubi-tuner skips images without one)."""
    return conn.execute(
        "SELECT subset_id, rel_path, width, height, orientation, caption_size IS NOT NULL AS caption_file "
        "FROM images "
        "WHERE dataset_id = ? AND status = 'ok' AND width IS NOT NULL ORDER BY rel_path", (dataset_id,)).fetchall()


def problem_rows(conn: sqlite3.Connection, dataset_id: int) -> dict[str, list[tuple[str, str | None]]]:
    """Paths for a training check: 'broken' (with reasons), 'uncaptioned' and 'ok' (every readable image), and the
    same of the videos as 'broken_videos', 'uncaptioned_videos' and 'ok_videos'."""
    result: dict[str, list[tuple[str, str | None]]] = {}
    for kind, suffix in (("image", ""), ("video", "_videos")):
        result["broken" + suffix] = [(r[0], r[1]) for r in conn.execute(
            "SELECT rel_path, reason FROM images WHERE dataset_id = ? AND media_kind = ? AND status = 'broken' "
            "ORDER BY rel_path", (dataset_id, kind))]
        result["uncaptioned" + suffix] = [(r[0], None) for r in conn.execute(
            f"SELECT rel_path FROM images WHERE dataset_id = ? AND media_kind = ? AND status = 'ok' "
            f"AND NOT {HAS_CAPTION_SQL} ORDER BY rel_path", (dataset_id, kind))]
        result["ok" + suffix] = [(r[0], None) for r in conn.execute(
            "SELECT rel_path FROM images WHERE dataset_id = ? AND media_kind = ? AND status = 'ok' ORDER BY rel_path",
            (dataset_id, kind))]
    return result


# -- scanning -------------------------------------------------------------------------------------------------


def scan_state(conn: sqlite3.Connection, dataset_id: int) -> dict[str, sqlite3.Row]:
    """rel_path -> (id, size, mtime_ns, caption_mtime_ns, caption_size, needs_thumbnail) of indexed images."""
    return {row["rel_path"]: row for row in conn.execute(
        "SELECT i.id, i.rel_path, i.size, i.mtime_ns, i.caption_mtime_ns, i.caption_size, "
        "i.status = 'ok' AND t.image_id IS NULL AS needs_thumbnail "
        "FROM images i LEFT JOIN thumbnails t ON t.image_id = i.id WHERE i.dataset_id = ?", (dataset_id,))}


_IMAGE_COLUMNS = (
    "dataset_id", "subset_id", "rel_path", "size", "mtime_ns", "sha256", "phash", "width", "height", "format",
    "mode", "has_alpha", "orientation", "frames", "bucket", "status", "reason", "caption", "caption_mtime_ns",
    "caption_size", "caption_encoding", "caption_warning", "caption_sha256", "tag_count", "scanned_at", "media_kind",
)
_UPSERT_IMAGE = (
    f"INSERT INTO images ({', '.join(_IMAGE_COLUMNS)}) VALUES ({', '.join('?' for _ in _IMAGE_COLUMNS)}) "
    "ON CONFLICT (dataset_id, rel_path) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _IMAGE_COLUMNS if c not in ("dataset_id", "rel_path"))
    + " RETURNING id"
)


def write_probed(conn: sqlite3.Connection, dataset_id: int, rows: list[dict]) -> None:
    """Insert or update probed images (``probe.ProbeResult`` dicts plus caption fields and subset_id)."""
    now = time.time()
    written = []
    with transaction(conn):
        # Read inside the transaction: a target set meanwhile (another process) cannot leave these rows stale.
        bucket_of = bucket_labeler(dataset_repo.get_target(conn, dataset_id))
        for row in rows:
            width, height = row.get("width"), row.get("height")
            bucket = bucket_of(width, height, row["orientation"]) if row["status"] == "ok" and width else None
            values = {**row, "dataset_id": dataset_id, "bucket": bucket, "tag_count": len(row["tags"]),
                      "scanned_at": now, "has_alpha": None if row["has_alpha"] is None else int(row["has_alpha"]),
                      "media_kind": row.get("media_kind", "image")}
            image_id = conn.execute(_UPSERT_IMAGE, [values[c] for c in _IMAGE_COLUMNS]).fetchone()[0]
            _replace_tags(conn, image_id, row["tags"])
            video_repo.store_video_meta(conn, image_id, row.get("video"))
            _store_thumbnail(conn, image_id, row)
            written.append(image_id)
        changes.images_changed(conn, dataset_id, written, "scanned")


def write_scanned_captions(conn: sqlite3.Connection, dataset_id: int, rows: list[tuple[int, dict]]) -> None:
    """Store captions a scan found changed on disk: (image id, caption fields with 'tags')."""
    now = time.time()
    with transaction(conn):
        for image_id, cap in rows:
            conn.execute(
                "UPDATE images SET caption = ?, caption_mtime_ns = ?, caption_size = ?, caption_encoding = ?, "
                "caption_warning = ?, caption_sha256 = ?, tag_count = ?, scanned_at = ? WHERE id = ?",
                (cap["caption"], cap["caption_mtime_ns"], cap["caption_size"], cap["caption_encoding"],
                 cap["caption_warning"], cap.get("caption_sha256"), len(cap["tags"]), now, image_id))
            _replace_tags(conn, image_id, cap["tags"])
        changes.images_changed(conn, dataset_id, [image_id for image_id, _ in rows], "captions")


def delete_images(conn: sqlite3.Connection, dataset_id: int, ids: list[int]) -> None:
    """Forget images whose files are gone."""
    with transaction(conn):
        conn.executemany("DELETE FROM images WHERE id = ?", [(i,) for i in ids])
        changes.images_changed(conn, dataset_id, ids, "removed")


def count_broken(conn: sqlite3.Connection, dataset_id: int) -> int:
    """How many of the dataset's images are broken."""
    return conn.execute("SELECT COUNT(*) FROM images WHERE dataset_id = ? AND status = 'broken'",
                        (dataset_id,)).fetchone()[0]


def _store_thumbnail(conn: sqlite3.Connection, image_id: int, row: dict) -> None:
    data = row.get("thumbnail")
    if data:
        conn.execute(
            "INSERT OR REPLACE INTO thumbnails (image_id, source_size, source_mtime_ns, width, height, data) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (image_id, row["size"], row["mtime_ns"], row["thumb_width"], row["thumb_height"], data))
    else:
        conn.execute("DELETE FROM thumbnails WHERE image_id = ?", (image_id,))


class ThumbnailReader:
    """Reads stored thumbnails from any thread, each on its own read-only connection (the preview's decoder)."""

    def __init__(self, db_path) -> None:
        self._connections = ThreadConnections(db_path)

    def get(self, image_id: int) -> Thumbnail | None:
        """The stored thumbnail of an image, or None (none stored, or the database cannot be read now)."""
        try:
            return read_thumbnail(self._connections.get(), image_id)
        except sqlite3.Error:
            return None

    def close(self) -> None:
        """Close the connections (at the end of the app or a test)."""
        self._connections.close()


def read_thumbnail(conn: sqlite3.Connection, image_id: int) -> Thumbnail | None:
    """The stored preview thumbnail of an image, or None."""
    row = conn.execute(
        "SELECT t.data, t.width, t.height, t.source_size, t.source_mtime_ns, COALESCE(i.width, 0), "
        "COALESCE(i.height, 0) FROM thumbnails t JOIN images i ON i.id = t.image_id WHERE t.image_id = ?",
        (image_id,)).fetchone()
    return Thumbnail(*row) if row else None


# -- caption writes (the journal's) --------------------------------------------------------------------------


@dataclass(frozen=True)
class CaptionRow:
    """What the store holds about one image's caption."""

    id: int
    rel_path: str
    caption: str | None
    caption_mtime_ns: int | None
    caption_size: int | None
    caption_sha256: str | None
    """Of the bytes loratui last read or wrote (None: no file, or not known: indexed before migration 0080)."""


def caption_rows(conn: sqlite3.Connection, dataset_id: int, ids: list[int]) -> dict[int, CaptionRow]:
    """Caption facts of some images of a dataset, by id (ids of other datasets are left out)."""
    rows: dict[int, CaptionRow] = {}
    columns = "id, rel_path, caption, caption_mtime_ns, caption_size, caption_sha256"
    if len(ids) > 5000:  # one pass over the dataset beats many IN (...) lookups
        wanted = set(ids)
        for row in conn.execute(f"SELECT {columns} FROM images WHERE dataset_id = ?", (dataset_id,)):
            if row[0] in wanted:
                rows[row[0]] = CaptionRow(*row)
        return rows
    for start in range(0, len(ids), 900):
        chunk = ids[start:start + 900]
        for row in conn.execute(f"SELECT {columns} FROM images WHERE dataset_id = ? AND id IN "
                                f"({', '.join('?' for _ in chunk)})", (dataset_id, *chunk)):
            rows[row[0]] = CaptionRow(*row)
    return rows


@dataclass(frozen=True)
class CaptionUpdate:
    """A caption file now holds `new_text` (None: the file was removed), written with `mtime_ns` and `size`, in
    `encoding`; `sha256` is of its bytes."""

    image_id: int
    old_text: str | None
    new_text: str | None
    mtime_ns: int | None = None
    size: int | None = None
    encoding: str = "utf-8"
    sha256: str | None = None
    warning: str | None = None


def set_captions(conn: sqlite3.Connection, dataset_id: int, updates: list[CaptionUpdate]) -> None:
    """Record caption files loratui wrote: the images rows and only the tag rows that differ.

    Call inside the caller's transaction (the journal records its own rows with it).
    """
    now = time.time()
    written, cleared, tag_deletes, tag_upserts = [], [], [], []
    for update in updates:
        new_tags = parse_tags(update.new_text)
        if update.new_text is None:
            cleared.append((now, update.image_id))
        else:
            written.append((update.new_text, update.mtime_ns, update.size, update.encoding, update.sha256,
                            update.warning, len(new_tags), now, update.image_id))
        old = parse_tags(update.old_text)
        for position, tag in enumerate(new_tags):
            if position >= len(old) or old[position] != tag:
                tag_upserts.append((update.image_id, position, tag))
        if len(new_tags) < len(old):
            tag_deletes.append((update.image_id, len(new_tags)))
    conn.executemany(
        "UPDATE images SET caption = ?, caption_mtime_ns = ?, caption_size = ?, caption_encoding = ?, "
        "caption_sha256 = ?, caption_warning = ?, tag_count = ?, edited_at = ? WHERE id = ?", written)
    conn.executemany(
        "UPDATE images SET caption = NULL, caption_mtime_ns = NULL, caption_size = NULL, caption_encoding = NULL, "
        "caption_sha256 = NULL, caption_warning = NULL, tag_count = 0, edited_at = ? WHERE id = ?", cleared)
    conn.executemany("DELETE FROM image_tags WHERE image_id = ? AND position >= ?", tag_deletes)
    conn.executemany("INSERT OR REPLACE INTO image_tags (image_id, position, tag) VALUES (?, ?, ?)", tag_upserts)
    changes.images_changed(conn, dataset_id, [u.image_id for u in updates], "captions")
