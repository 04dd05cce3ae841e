"""Repository of the ``control_folders``, ``control_images`` and ``image_pairs`` tables (edit-model image pairs).

Plain functions on a ``sqlite3.Connection``; run them with ``await store.run(fn, ...)``. Writers log what they changed
(``loratui.store.changes``) in the same transaction: the targets whose pair changed as an ``images`` change
(``what='pairs'``), a dataset's control folders as a ``datasets`` change (``what='controls'``). The pairing itself is
computed by ``datasets.pair_scan`` from what these functions read; ``datasets.pairs`` says what the columns mean.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Iterable

from loratui.datasets.pairs import ControlOptions
from loratui.datasets.thumbnails import Thumbnail
from loratui.store import changes, transaction
from loratui.store.db import ThreadConnections

# -- control folders ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ControlFolderRow:
    """A subset's control folder as stored."""

    subset_path: str
    control_path: str | None
    source: str
    """'found' (by convention), 'set' (by the user) or 'off' (the user said: none)."""
    options: ControlOptions


def control_folders(conn: sqlite3.Connection, dataset_id: int) -> list[ControlFolderRow]:
    """Every control folder row of a dataset (found, set and off), by subset."""
    return [ControlFolderRow(r[0], r[1], r[2], ControlOptions.from_json(r[3])) for r in conn.execute(
        "SELECT subset_path, control_path, source, options FROM control_folders WHERE dataset_id = ? "
        "ORDER BY subset_path", (dataset_id,))]


def chosen_controls(conn: sqlite3.Connection, dataset_id: int) -> dict[str, str | None]:
    """Subsets whose control folder the user chose: subset -> folder, or None for 'no control folder'."""
    return {r[0]: r[1] for r in conn.execute(
        "SELECT subset_path, control_path FROM control_folders WHERE dataset_id = ? AND source IN ('set', 'off')",
        (dataset_id,))}


def sync_found_folders(conn: sqlite3.Connection, dataset_id: int, found: dict[str, str]) -> bool:
    """Make the convention's rows ('found') match what the walk found (subset -> folder); True if anything changed.

    Rows the user set are left alone; options stored on a found row stay with its subset.
    """
    with transaction(conn):
        existing = {r[0]: r[1] for r in conn.execute(
            "SELECT subset_path, control_path FROM control_folders WHERE dataset_id = ? AND source = 'found'",
            (dataset_id,))}
        changed = False
        for subset, folder in existing.items():
            if subset not in found:
                conn.execute("DELETE FROM control_folders WHERE dataset_id = ? AND subset_path = ?",
                             (dataset_id, subset))
                changed = True
        for subset, folder in found.items():
            if existing.get(subset) != folder:
                changed |= conn.execute(
                    "INSERT INTO control_folders (dataset_id, subset_path, control_path, source) VALUES (?, ?, ?, "
                    "'found') ON CONFLICT (dataset_id, subset_path) DO UPDATE SET control_path = excluded.control_path "
                    "WHERE source = 'found'", (dataset_id, subset, folder)).rowcount > 0
        if changed:
            changes.datasets_changed(conn, dataset_id, "controls")
    return changed


def set_control_folder(conn: sqlite3.Connection, dataset_id: int, subset_path: str, control_path: str | None,
                       source: str, options: ControlOptions | None = None) -> None:
    """Store the user's choice for a subset: a folder ('set'), none ('off'), or back to the convention ('found',
    which forgets the choice; the next scan finds the conventional folder again). Options are kept unless given."""
    with transaction(conn):
        if source == "found":
            conn.execute("DELETE FROM control_folders WHERE dataset_id = ? AND subset_path = ? AND source != 'found'",
                         (dataset_id, subset_path))
        else:
            conn.execute(
                "INSERT INTO control_folders (dataset_id, subset_path, control_path, source) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (dataset_id, subset_path) DO UPDATE SET control_path = excluded.control_path, "
                "source = excluded.source", (dataset_id, subset_path, control_path, source))
        if options is not None:
            conn.execute("UPDATE control_folders SET options = ? WHERE dataset_id = ? AND subset_path = ?",
                         (options.to_json(), dataset_id, subset_path))
        changes.datasets_changed(conn, dataset_id, "controls")


# -- control images ------------------------------------------------------------------------------------------------


def control_scan_state(conn: sqlite3.Connection, dataset_id: int) -> dict[str, sqlite3.Row]:
    """rel_path -> (id, subset_path, size, mtime_ns) of the indexed control images."""
    return {r["rel_path"]: r for r in conn.execute(
        "SELECT id, rel_path, subset_path, size, mtime_ns FROM control_images WHERE dataset_id = ?", (dataset_id,))}


_CONTROL_COLUMNS = ("dataset_id", "subset_path", "rel_path", "size", "mtime_ns", "width", "height", "orientation",
                    "format", "status", "reason", "thumbnail", "thumb_width", "thumb_height", "scanned_at")
_UPSERT_CONTROL = (
    f"INSERT INTO control_images ({', '.join(_CONTROL_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _CONTROL_COLUMNS)}) ON CONFLICT (dataset_id, rel_path) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _CONTROL_COLUMNS if c not in ("dataset_id", "rel_path"))
)


def write_controls(conn: sqlite3.Connection, dataset_id: int, rows: list[dict], moved: dict[str, str],
                   gone: list[int]) -> None:
    """Store probed control images (``probe.ProbeResult`` dicts plus 'subset_path'), move rows to another subset
    (rel_path -> subset), forget the rows `gone`. Pairing columns are written by ``write_pairs``."""
    now = time.time()
    with transaction(conn):
        for row in rows:
            values = {**row, "dataset_id": dataset_id, "scanned_at": now}
            conn.execute(_UPSERT_CONTROL, [values.get(c) for c in _CONTROL_COLUMNS])
        conn.executemany("UPDATE control_images SET subset_path = ? WHERE dataset_id = ? AND rel_path = ?",
                         [(subset, dataset_id, rel) for rel, subset in moved.items()])
        conn.executemany("DELETE FROM control_images WHERE id = ?", [(i,) for i in gone])


def pairing_controls(conn: sqlite3.Connection, dataset_id: int) -> list[sqlite3.Row]:
    """What the pairing needs of every control image: id, subset, path, raw facts, status and current pairing."""
    return conn.execute(
        "SELECT id, subset_path, rel_path, size, mtime_ns, width, height, orientation, status, reason, target_id, "
        "position, problem, detail FROM control_images WHERE dataset_id = ? ORDER BY rel_path",
        (dataset_id,)).fetchall()


def pairing_targets(conn: sqlite3.Connection, dataset_id: int, folders: Iterable[str]) -> list[sqlite3.Row]:
    """id, rel_path, width, height, orientation, status, captioned of the images directly in `folders`."""
    wanted = sorted(set(folders))
    if not wanted:
        return []
    return conn.execute(
        "SELECT i.id, i.rel_path, i.width, i.height, i.orientation, i.status, "
        "(i.caption_size IS NOT NULL) AS captioned FROM images i JOIN subsets s ON s.id = i.subset_id "
        f"WHERE i.dataset_id = ? AND s.rel_path IN ({', '.join('?' for _ in wanted)}) ORDER BY i.rel_path",
        (dataset_id, *wanted)).fetchall()


def pair_rows(conn: sqlite3.Connection, dataset_id: int) -> dict[int, tuple[int, str, str | None]]:
    """image id -> (controls, status, detail) of the dataset's targets."""
    return {r[0]: (r[1], r[2], r[3]) for r in conn.execute(
        "SELECT image_id, controls, status, detail FROM image_pairs WHERE dataset_id = ?", (dataset_id,))}


@dataclass(frozen=True)
class ControlPairing:
    """Where one control image goes: its target (None: an extra), its place among the target's controls, and what
    is wrong with it (None: nothing)."""

    control_id: int
    target_id: int | None
    position: int | None
    problem: str | None
    detail: str | None


def write_pairs(conn: sqlite3.Connection, dataset_id: int, controls: list[ControlPairing],
                pairs: dict[int, tuple[int, str, str | None]], touched: Iterable[int] = ()) -> None:
    """Store the pairing: each control's target and problem, each target's status (targets not in `pairs` are no
    longer targets). Logs the targets whose pair changed, plus `touched` (targets whose control files changed)."""
    with transaction(conn):
        before = pair_rows(conn, dataset_id)
        old = {r[0]: (r[1], r[2], r[3], r[4]) for r in conn.execute(
            "SELECT id, target_id, position, problem, detail FROM control_images WHERE dataset_id = ?", (dataset_id,))}
        changed: set[int] = set(touched)
        updates = []
        for item in controls:
            previous = old.get(item.control_id)
            now = (item.target_id, item.position, item.problem, item.detail)
            if previous != now:
                updates.append((*now, item.control_id))
                changed.update(t for t in (item.target_id, previous[0] if previous else None) if t is not None)
        conn.executemany("UPDATE control_images SET target_id = ?, position = ?, problem = ?, detail = ? WHERE id = ?",
                         updates)
        gone = [image_id for image_id in before if image_id not in pairs]
        conn.executemany("DELETE FROM image_pairs WHERE image_id = ?", [(i,) for i in gone])
        fresh = [(image_id, dataset_id, *row) for image_id, row in pairs.items() if before.get(image_id) != row]
        conn.executemany(
            "INSERT INTO image_pairs (image_id, dataset_id, controls, status, detail) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (image_id) DO UPDATE SET controls = excluded.controls, status = excluded.status, "
            "detail = excluded.detail", fresh)
        changed.update(gone)
        changed.update(row[0] for row in fresh)
        known = {r[0] for r in conn.execute("SELECT id FROM images WHERE dataset_id = ?", (dataset_id,))}
        changes.images_changed(conn, dataset_id, changed & known, "pairs")
        if any(p.target_id is None for p in controls) or updates:
            changes.datasets_changed(conn, dataset_id, "pairs")


# -- reads for the CLI, training and the preview -----------------------------------------------------------------


def pair_summary(conn: sqlite3.Connection, dataset_id: int) -> list[dict]:
    """Per control folder: its subset, folder, source, options, and the counts of pairs and problems."""
    folders = control_folders(conn, dataset_id)
    statuses: dict[str, dict[str, int]] = {}
    for subset, status, count in conn.execute(
            "SELECT s.rel_path, p.status, COUNT(*) FROM image_pairs p JOIN images i ON i.id = p.image_id "
            "JOIN subsets s ON s.id = i.subset_id WHERE p.dataset_id = ? GROUP BY s.rel_path, p.status",
            (dataset_id,)):
        statuses.setdefault(subset, {})[status] = count
    controls: dict[str, dict[str, int]] = {}
    for subset, total, extra, broken in conn.execute(
            "SELECT subset_path, COUNT(*), COALESCE(SUM(problem = 'extra'), 0), COALESCE(SUM(status = 'broken'), 0) "
            "FROM control_images WHERE dataset_id = ? GROUP BY subset_path", (dataset_id,)):
        controls[subset] = {"controls": total, "extra": extra, "broken_controls": broken}
    result = []
    for folder in folders:
        counts = statuses.get(folder.subset_path, {})
        files = controls.get(folder.subset_path, {"controls": 0, "extra": 0, "broken_controls": 0})
        result.append({
            "subset": folder.subset_path, "control_folder": folder.control_path, "source": folder.source,
            "no_resize_control": folder.options.no_resize,
            "control_resolution": list(folder.options.resolution) if folder.options.resolution else None,
            "targets": sum(counts.values()), "paired": counts.get("ok", 0) + counts.get("mismatch", 0),
            **{status: counts.get(status, 0) for status in ("missing", "mismatch", "broken", "bad_name", "ambiguous")},
            **files,
        })
    return result


def pair_problems(conn: sqlite3.Connection, dataset_id: int, limit: int | None = None) -> list[dict]:
    """Targets with a pair problem and control files with one (extras, broken, mismatched), by path; 'target' is
    the training image a row is about (None for a control no target takes)."""
    rows = [{"path": r[0], "kind": "target", "problem": r[1], "detail": r[2], "target": r[0]} for r in conn.execute(
        "SELECT i.rel_path, p.status, p.detail FROM image_pairs p JOIN images i ON i.id = p.image_id "
        "WHERE p.dataset_id = ? AND p.status != 'ok' ORDER BY i.rel_path", (dataset_id,))]
    rows += [{"path": r[0], "kind": "control", "problem": r[1], "detail": r[2], "target": r[3]} for r in conn.execute(
        "SELECT c.rel_path, c.problem, c.detail, i.rel_path FROM control_images c LEFT JOIN images i "
        "ON i.id = c.target_id WHERE c.dataset_id = ? AND c.problem IS NOT NULL ORDER BY c.rel_path", (dataset_id,))]
    rows.sort(key=lambda r: (r["path"], r["kind"]))
    return rows[:limit] if limit is not None else rows


def controls_by_target(conn: sqlite3.Connection, dataset_id: int) -> dict[str, dict]:
    """Target path -> {'status', 'detail', 'controls': [...]} of every target (for `dataset images`)."""
    result = {r[0]: {"status": r[1], "detail": r[2], "controls": []} for r in conn.execute(
        "SELECT i.rel_path, p.status, p.detail FROM image_pairs p JOIN images i ON i.id = p.image_id "
        "WHERE p.dataset_id = ?", (dataset_id,))}
    for r in conn.execute(
            "SELECT i.rel_path, c.rel_path, c.width, c.height, c.status, c.reason, c.problem, c.detail "
            "FROM control_images c JOIN images i ON i.id = c.target_id WHERE c.dataset_id = ? "
            "ORDER BY c.target_id, c.position IS NULL, c.position, c.rel_path", (dataset_id,)):
        entry = result.setdefault(r[0], {"status": None, "detail": None, "controls": []})
        entry["controls"].append({"path": r[1], "width": r[2], "height": r[3], "status": r[4], "reason": r[5],
                                  "problem": r[6], "detail": r[7]})
    return result


def extra_controls(conn: sqlite3.Connection, dataset_id: int) -> list[dict]:
    """Control files no target takes, by path."""
    return [{"path": r[0], "subset": r[1], "detail": r[2]} for r in conn.execute(
        "SELECT rel_path, subset_path, detail FROM control_images WHERE dataset_id = ? AND problem = 'extra' "
        "ORDER BY rel_path", (dataset_id,))]


@dataclass(frozen=True)
class ControlImage:
    """One control image of a target, in musubi-tuner's order."""

    id: int
    rel_path: str
    size: int
    mtime_ns: int
    width: int | None
    height: int | None
    orientation: int | None
    status: str
    reason: str | None
    problem: str | None
    detail: str | None


def target_controls(conn: sqlite3.Connection, image_ids: Iterable[int]) -> dict[int, list[ControlImage]]:
    """image id -> its control images in order (images without controls are left out)."""
    wanted = sorted(set(image_ids))
    result: dict[int, list[ControlImage]] = {}
    for start in range(0, len(wanted), 900):
        chunk = wanted[start:start + 900]
        for r in conn.execute(
                "SELECT target_id, id, rel_path, size, mtime_ns, width, height, orientation, status, reason, problem, "
                f"detail FROM control_images WHERE target_id IN ({', '.join('?' for _ in chunk)}) "
                "ORDER BY target_id, position IS NULL, position, rel_path", chunk):
            result.setdefault(r[0], []).append(ControlImage(*r[1:]))
    return result


def pair_of(conn: sqlite3.Connection, image_id: int) -> tuple[int, str, str | None] | None:
    """(controls, status, detail) of one image, or None when it is not a target (its subset has no control folder)."""
    row = conn.execute("SELECT controls, status, detail FROM image_pairs WHERE image_id = ?", (image_id,)).fetchone()
    return (row[0], row[1], row[2]) if row else None


def target_pair(conn: sqlite3.Connection, image_id: int) -> tuple[tuple[int, str, str | None] | None,
                                                                   list[ControlImage]]:
    """(``pair_of``, its control images in order) of one image: what the preview shows beside it."""
    return pair_of(conn, image_id), target_controls(conn, [image_id]).get(image_id, [])


def has_control_folders(conn: sqlite3.Connection, dataset_id: int) -> bool:
    """True when some subset of the dataset has a control folder (an edit-model dataset: captions are
    instructions)."""
    return conn.execute("SELECT 1 FROM control_folders WHERE dataset_id = ? AND source != 'off' AND control_path "
                        "IS NOT NULL LIMIT 1", (dataset_id,)).fetchone() is not None


def read_control_thumbnail(conn: sqlite3.Connection, control_id: int) -> Thumbnail | None:
    """The stored preview thumbnail of a control image, or None."""
    row = conn.execute(
        "SELECT thumbnail, thumb_width, thumb_height, size, mtime_ns, COALESCE(width, 0), COALESCE(height, 0) "
        "FROM control_images WHERE id = ? AND thumbnail IS NOT NULL", (control_id,)).fetchone()
    return Thumbnail(*row) if row else None


class ControlReader:
    """Reads control images' thumbnails from any thread (the preview's decoder), each thread on its own read-only
    connection."""

    def __init__(self, db_path) -> None:
        self._connections = ThreadConnections(db_path)

    def get(self, control_id: int) -> Thumbnail | None:
        """The stored thumbnail of a control image, or None (the interface of ``image_repo.ThumbnailReader``, so the
        preview widget draws controls from their thumbnails as it does images)."""
        return self.thumbnail(control_id)

    def thumbnail(self, control_id: int) -> Thumbnail | None:
        """The stored thumbnail of a control image, or None."""
        try:
            return read_control_thumbnail(self._connections.get(), control_id)
        except sqlite3.Error:
            return None

    def close(self) -> None:
        """Close the connections (at the end of the app or a test)."""
        self._connections.close()
