"""Repository of the extra caption sets: ``caption_sets``, ``set_captions`` and ``set_tags`` (migration 0100).

A caption set is named by its sidecar extension. The dataset's own extension (``Dataset.caption_ext``) is the
primary set and lives in ``images``/``image_tags`` (``image_repo``); every other set lives here. The functions that
read or write one set's captions take ``ext``: None (or the primary extension, see ``caption_sets.set_key``) means
the primary set and is handed to ``image_repo`` unchanged, so the single-set path costs nothing more than before.

Queries over an extra set reuse the query language (``datasets.query``): the compiled WHERE runs over a subquery
named ``images`` that carries the set's caption columns, with the set's tag rows in place of ``image_tags``.
"""

from __future__ import annotations

import re
import sqlite3
import time
from typing import Iterable

from loratui.datasets import image_repo, query
from loratui.datasets.captions import parse_tags
from loratui.datasets.dataset_repo import HAS_CAPTION_SQL
from loratui.datasets.image_repo import CaptionRow, CaptionUpdate
from loratui.store import changes, transaction

_SAFE_EXT = re.compile(r"^(\.[A-Za-z0-9][A-Za-z0-9_-]{0,15}){1,2}$")
_TAGS_WORD = re.compile(r"\bimage_tags\b")


def _checked(ext: str) -> str:
    # Extensions are normalised before they reach the store (filekinds.normalise_caption_ext); checked again
    # here because the set's views inline it into SQL text.
    if not _SAFE_EXT.match(ext):
        raise ValueError(f"not a caption set extension: {ext!r}")
    return ext


# -- the sets -------------------------------------------------------------------------------------------------


def register_sets(conn: sqlite3.Connection, dataset_id: int, exts: Iterable[str], source: str) -> list[str]:
    """Record extra sets of a dataset (already known ones are kept as they are); returns the newly recorded."""
    now = time.time()
    added = []
    with transaction(conn):
        for ext in exts:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO caption_sets (dataset_id, ext, source, created_at) VALUES (?, ?, ?, ?)",
                (dataset_id, _checked(ext), source, now))
            if cursor.rowcount:
                added.append(ext)
        if added:
            changes.datasets_changed(conn, dataset_id, "caption sets")
    return added


def set_exts(conn: sqlite3.Connection, dataset_id: int) -> list[str]:
    """The extra sets of a dataset, by extension."""
    return [r[0] for r in conn.execute("SELECT ext FROM caption_sets WHERE dataset_id = ? ORDER BY ext",
                                       (dataset_id,))]


def set_summaries(conn: sqlite3.Connection, dataset_id: int) -> list[dict]:
    """Per extra set: ext, source, files (sidecars present), captioned (present and not blank), warnings."""
    rows = conn.execute(
        f"""SELECT c.ext, c.source, COUNT(s.image_id) AS files,
                   COALESCE(SUM({HAS_CAPTION_SQL.replace('caption', 's.caption')}), 0) AS captioned,
                   COALESCE(SUM(s.caption_warning IS NOT NULL), 0) AS warnings
            FROM caption_sets c
            LEFT JOIN (set_captions s JOIN images i ON i.id = s.image_id AND i.dataset_id = :ds) ON s.ext = c.ext
            WHERE c.dataset_id = :ds GROUP BY c.ext ORDER BY c.ext""", {"ds": dataset_id}).fetchall()
    return [dict(r) for r in rows]


def primary_summary(conn: sqlite3.Connection, dataset_id: int) -> dict:
    """files, captioned, warnings and images of the primary set (the images table)."""
    row = conn.execute(
        f"""SELECT COUNT(*) AS images, COALESCE(SUM(caption_size IS NOT NULL), 0) AS files,
                   COALESCE(SUM({HAS_CAPTION_SQL}), 0) AS captioned,
                   COALESCE(SUM(caption_warning IS NOT NULL), 0) AS warnings
            FROM images WHERE dataset_id = ?""", (dataset_id,)).fetchone()
    return dict(row)


# -- scanning -------------------------------------------------------------------------------------------------


def scan_state(conn: sqlite3.Connection, dataset_id: int) -> dict[tuple[int, str], tuple[int | None, int | None]]:
    """(image id, ext) -> (caption_size, caption_mtime_ns) of every stored extra-set caption of a dataset."""
    cursor = conn.execute(
        "SELECT s.image_id, s.ext, s.caption_size, s.caption_mtime_ns FROM set_captions s "
        "JOIN images i ON i.id = s.image_id WHERE i.dataset_id = ?", (dataset_id,))
    cursor.row_factory = None
    return {(image_id, ext): (size, mtime) for image_id, ext, size, mtime in cursor}


def image_ids(conn: sqlite3.Connection, dataset_id: int) -> dict[str, int]:
    """rel_path -> image id of a dataset's images."""
    cursor = conn.execute("SELECT rel_path, id FROM images WHERE dataset_id = ?", (dataset_id,))
    cursor.row_factory = None
    return dict(cursor.fetchall())


def write_scanned(conn: sqlite3.Connection, dataset_id: int, rows: list[tuple[int, str, dict]],
                  gone: list[tuple[int, str]]) -> None:
    """Store extra-set captions a scan read (image id, ext, ``scan._caption_fields`` dict) and forget those whose
    file is gone (image id, ext)."""
    kept = [(image_id, _checked(ext), cap) for image_id, ext, cap in rows
            if cap["caption_size"] is not None or cap["caption_warning"] is not None]
    dropped = gone + [(image_id, ext) for image_id, ext, cap in rows
                      if cap["caption_size"] is None and cap["caption_warning"] is None]
    with transaction(conn):
        conn.executemany("DELETE FROM set_captions WHERE image_id = ? AND ext = ?", dropped)
        conn.executemany("DELETE FROM set_tags WHERE image_id = ? AND ext = ?",
                         dropped + [(image_id, ext) for image_id, ext, _ in kept])
        conn.executemany(
            "INSERT INTO set_captions (image_id, ext, caption, caption_mtime_ns, caption_size, caption_encoding, "
            "caption_warning, caption_sha256, tag_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (image_id, ext) DO UPDATE SET caption = excluded.caption, "
            "caption_mtime_ns = excluded.caption_mtime_ns, caption_size = excluded.caption_size, "
            "caption_encoding = excluded.caption_encoding, caption_warning = excluded.caption_warning, "
            "caption_sha256 = excluded.caption_sha256, tag_count = excluded.tag_count",
            [(image_id, ext, cap["caption"], cap["caption_mtime_ns"], cap["caption_size"], cap["caption_encoding"],
              cap["caption_warning"], cap.get("caption_sha256"), len(cap["tags"])) for image_id, ext, cap in kept])
        conn.executemany("INSERT INTO set_tags (image_id, ext, position, tag) VALUES (?, ?, ?, ?)",
                         [(image_id, ext, position, tag) for image_id, ext, cap in kept
                          for position, tag in enumerate(cap["tags"])])
        touched = sorted({image_id for image_id, _, _ in rows} | {image_id for image_id, _ in gone})
        if touched:
            changes.images_changed(conn, dataset_id, touched, "captions")


# -- one set's captions (the journal's, the editor's, batch operations') ----------------------------------------


def caption_rows(conn: sqlite3.Connection, dataset_id: int, ids: list[int], ext: str | None = None
                 ) -> dict[int, CaptionRow]:
    """``image_repo.caption_rows`` for the set `ext` (None: the primary set)."""
    if ext is None:
        return image_repo.caption_rows(conn, dataset_id, ids)
    rows: dict[int, CaptionRow] = {}
    select = ("SELECT i.id, i.rel_path, s.caption, s.caption_mtime_ns, s.caption_size, s.caption_sha256 "
              "FROM images i LEFT JOIN set_captions s ON s.image_id = i.id AND s.ext = ? WHERE i.dataset_id = ?")
    if len(ids) > 5000:  # one pass over the dataset beats many IN (...) lookups
        wanted = set(ids)
        for row in conn.execute(select, (ext, dataset_id)):
            if row[0] in wanted:
                rows[row[0]] = CaptionRow(*row)
        return rows
    for start in range(0, len(ids), 900):
        chunk = ids[start:start + 900]
        for row in conn.execute(f"{select} AND i.id IN ({', '.join('?' for _ in chunk)})",
                                (ext, dataset_id, *chunk)):
            rows[row[0]] = CaptionRow(*row)
    return rows


def set_captions(conn: sqlite3.Connection, dataset_id: int, updates: list[CaptionUpdate], ext: str | None = None
                 ) -> None:
    """``image_repo.set_captions`` for the set `ext` (None: the primary set). Call inside a transaction."""
    if ext is None:
        image_repo.set_captions(conn, dataset_id, updates)
        return
    ext = _checked(ext)
    now = time.time()
    written, cleared, tag_deletes, tag_upserts = [], [], [], []
    for update in updates:
        new_tags = parse_tags(update.new_text)
        if update.new_text is None:
            cleared.append((update.image_id, ext))
        else:
            written.append((update.image_id, ext, update.new_text, update.mtime_ns, update.size, update.encoding,
                            update.warning, update.sha256, len(new_tags), now))
        # Only the tag rows that differ from what the store holds (`old_text`), as image_repo.set_captions does.
        old = parse_tags(update.old_text)
        for position, tag in enumerate(new_tags):
            if position >= len(old) or old[position] != tag:
                tag_upserts.append((update.image_id, ext, position, tag))
        if len(new_tags) < len(old):
            tag_deletes.append((update.image_id, ext, len(new_tags)))
    conn.executemany(
        "INSERT INTO set_captions (image_id, ext, caption, caption_mtime_ns, caption_size, caption_encoding, "
        "caption_warning, caption_sha256, tag_count, edited_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (image_id, ext) DO UPDATE SET caption = excluded.caption, "
        "caption_mtime_ns = excluded.caption_mtime_ns, caption_size = excluded.caption_size, "
        "caption_encoding = excluded.caption_encoding, caption_warning = excluded.caption_warning, "
        "caption_sha256 = excluded.caption_sha256, tag_count = excluded.tag_count, edited_at = excluded.edited_at",
        written)
    conn.executemany("DELETE FROM set_captions WHERE image_id = ? AND ext = ?", cleared)
    conn.executemany("DELETE FROM set_tags WHERE image_id = ? AND ext = ? AND position >= ?", tag_deletes)
    conn.executemany("INSERT OR REPLACE INTO set_tags (image_id, ext, position, tag) VALUES (?, ?, ?, ?)",
                     tag_upserts)
    changes.images_changed(conn, dataset_id, [u.image_id for u in updates], "captions")


def caption_of(conn: sqlite3.Connection, image_id: int, ext: str | None = None) -> sqlite3.Row | None:
    """caption, caption_size, caption_sha256, caption_encoding, caption_warning of one image in one set (None: no
    such image; the columns are NULL when the set has no file for it)."""
    if ext is None:
        return conn.execute("SELECT caption, caption_size, caption_sha256, caption_encoding, caption_warning "
                            "FROM images WHERE id = ?", (image_id,)).fetchone()
    return conn.execute(
        "SELECT s.caption, s.caption_size, s.caption_sha256, s.caption_encoding, s.caption_warning FROM images i "
        "LEFT JOIN set_captions s ON s.image_id = i.id AND s.ext = ? WHERE i.id = ?", (ext, image_id)).fetchone()


def _set_view(ext: str) -> str:
    ext = _checked(ext)
    return (
        "(SELECT i.id, i.dataset_id, i.subset_id, i.rel_path, i.size, i.mtime_ns, i.sha256, i.phash, i.width, "
        "i.height, i.format, i.mode, i.has_alpha, i.orientation, i.frames, i.bucket, i.status, i.reason, "
        "s.caption, s.caption_mtime_ns, s.caption_size, s.caption_encoding, s.caption_warning, s.caption_sha256, "
        "COALESCE(s.tag_count, 0) AS tag_count, s.edited_at, i.scanned_at "
        f"FROM images i LEFT JOIN set_captions s ON s.image_id = i.id AND s.ext = '{ext}') AS images")


def _over_set(where: str, ext: str) -> str:
    return _TAGS_WORD.sub(f"(SELECT image_id, position, tag FROM set_tags WHERE ext = '{_checked(ext)}')", where)


def select_ids(conn: sqlite3.Connection, dataset_id: int, text: str | None = None, subset: str | None = None,
               ext: str | None = None) -> list[int]:
    """``image_repo.select_ids`` with tag and caption terms over the set `ext`."""
    if ext is None:
        return image_repo.select_ids(conn, dataset_id, text, subset)
    where, params = query.selection_where(dataset_id, text, subset)
    query.register_functions(conn)
    return [row[0] for row in conn.execute(
        f"SELECT id FROM {_set_view(ext)} WHERE {_over_set(where, ext)} ORDER BY rel_path", params)]


def filter_ids(conn: sqlite3.Connection, dataset_id: int, text: str, ext: str | None = None) -> set[int] | None:
    """``image_repo.filter_ids`` (the image list's filter box) over the set `ext`."""
    if ext is None:
        return image_repo.filter_ids(conn, dataset_id, text)
    if not text.strip():
        return None
    if query.looks_like_query(text):
        return set(select_ids(conn, dataset_id, text, None, ext))
    sql, params = query.words_where(text)
    return {row[0] for row in conn.execute(
        f"SELECT id FROM {_set_view(ext)} WHERE dataset_id = ? AND {_over_set(sql, ext)}", [dataset_id, *params])}


def selection_rows(conn: sqlite3.Connection, dataset_id: int, text: str | None, subset: str | None,
                   ext: str | None = None) -> list[tuple]:
    """``image_repo.selection_rows`` with each image's caption in the set `ext`."""
    if ext is None:
        return image_repo.selection_rows(conn, dataset_id, text, subset)
    where, params = query.selection_where(dataset_id, text, subset)
    query.register_functions(conn)
    cursor = conn.execute(
        "SELECT id, rel_path, caption, caption_size, caption_sha256, status, reason "
        f"FROM {_set_view(ext)} WHERE {_over_set(where, ext)} ORDER BY rel_path", params)
    cursor.row_factory = None
    return cursor.fetchall()


def images_per_tag(conn: sqlite3.Connection, dataset_id: int, image_ids: Iterable[int] | None = None,
                   ext: str | None = None) -> dict[str, int]:
    """``image_repo.images_per_tag`` (loratui's one tag count) over the set `ext`."""
    if ext is None:
        return image_repo.images_per_tag(conn, dataset_id, image_ids)
    if image_ids is None:
        # CROSS JOIN keeps the dataset's images as the outer loop (each image's tags by primary key); the planner
        # would otherwise walk the tag index and look every row's image up (2.5x slower at 50,000 images).
        cursor = conn.execute(
            "SELECT t.tag, COUNT(DISTINCT t.image_id) FROM images i CROSS JOIN set_tags t "
            "ON t.image_id = i.id AND t.ext = ? WHERE i.dataset_id = ? GROUP BY t.tag", (ext, dataset_id))
        cursor.row_factory = None
        return dict(cursor.fetchall())
    cursor = conn.execute(
        "SELECT t.tag, t.image_id FROM images i CROSS JOIN set_tags t ON t.image_id = i.id AND t.ext = ? "
        "WHERE i.dataset_id = ?", (ext, dataset_id))
    cursor.row_factory = None
    wanted = set(image_ids)
    carriers: dict[str, set[int]] = {}
    for tag, image_id in cursor:
        if image_id in wanted:
            carriers.setdefault(tag, set()).add(image_id)
    return {tag: len(ids) for tag, ids in carriers.items()}


def missing_in_set(conn: sqlite3.Connection, dataset_id: int, ext: str | None, limit: int = 5
                   ) -> tuple[int, list[str]]:
    """How many readable images have no sidecar file in the set `ext` (None: primary), and the first paths."""
    if ext is None:
        sql = "SELECT rel_path FROM images WHERE dataset_id = ? AND status = 'ok' AND caption_size IS NULL"
        params: tuple = (dataset_id,)
    else:
        sql = ("SELECT i.rel_path FROM images i LEFT JOIN set_captions s ON s.image_id = i.id AND s.ext = ? "
               "WHERE i.dataset_id = ? AND i.status = 'ok' AND s.caption_size IS NULL")
        params = (ext, dataset_id)
    paths = [r[0] for r in conn.execute(sql + " ORDER BY rel_path", params)]
    return len(paths), paths[:limit]


def training_rows(conn: sqlite3.Connection, dataset_id: int, ext: str | None = None) -> list[sqlite3.Row]:
    """``image_repo.training_rows`` with caption_file telling whether the image's sidecar in the set `ext` exists
    (None: the primary set)."""
    if ext is None:
        return image_repo.training_rows(conn, dataset_id)
    return conn.execute(
        "SELECT i.subset_id, i.rel_path, i.width, i.height, i.orientation, s.caption_size IS NOT NULL AS caption_file "
        "FROM images i LEFT JOIN set_captions s ON s.image_id = i.id AND s.ext = ? "
        "WHERE i.dataset_id = ? AND i.status = 'ok' AND i.width IS NOT NULL ORDER BY i.rel_path",
        (ext, dataset_id)).fetchall()


def tagging_rows(conn: sqlite3.Connection, dataset_id: int, ext: str | None = None,
                 include_videos: bool = False) -> list[dict]:
    """``image_repo.tagging_rows`` with each image's caption in the set `ext` (None: the primary set): what a
    tagger or captioner merges with and writes to (videos only with `include_videos`)."""
    if ext is None:
        return image_repo.tagging_rows(conn, dataset_id, include_videos)
    kinds = "('image', 'video')" if include_videos else "('image')"
    return [dict(r) for r in conn.execute(
        f"""SELECT i.id, i.rel_path, i.media_kind, c.caption, c.caption_size, c.caption_sha256, s.class_tokens
           FROM images i
           LEFT JOIN set_captions c ON c.image_id = i.id AND c.ext = ?
           LEFT JOIN subsets s ON s.id = i.subset_id
           WHERE i.dataset_id = ? AND i.status = 'ok' AND i.media_kind IN {kinds} ORDER BY i.rel_path""",
        (ext, dataset_id))]
