"""Migration 0100 (caption sets) upgrades a database made by the previous schema: its datasets, images and journal
keep working (an operation journaled before it is undone as a change to the primary set), and the next scan finds
the extra sets."""

from __future__ import annotations

import sqlite3
import time

from loratui.datasets import caption_sets, history
from loratui.datasets.service import get_dataset, rescan_dataset
from loratui.store import MIGRATIONS, Store, connect

FIRST_WITH_SETS = 100


def old_database(path, folder) -> None:
    """The schema as it was before migration 0100, with a dataset, an image and an applied edit journaled."""
    conn = sqlite3.connect(path)
    last = 0
    for number, _name, sql in MIGRATIONS:
        if number >= FIRST_WITH_SETS:
            break
        conn.executescript(sql)
        last = number
    conn.execute(f"PRAGMA user_version={last}")
    now = time.time()
    conn.execute("INSERT INTO workspaces (id, name, created_at) VALUES (1, 'default', ?)", (now,))
    conn.execute("INSERT INTO datasets (id, workspace_id, name, path, created_at) VALUES (1, 1, 'old', ?, ?)",
                 (str(folder), now))
    image = folder / "a.png"
    st = image.stat()
    conn.execute("INSERT INTO images (id, dataset_id, rel_path, size, mtime_ns, caption, caption_size, "
                 "caption_mtime_ns, tag_count, scanned_at) VALUES (1, 1, 'a.png', ?, ?, 'after, edit', ?, ?, 2, ?)",
                 (st.st_size, st.st_mtime_ns, (folder / "a.txt").stat().st_size,
                  (folder / "a.txt").stat().st_mtime_ns, now))
    conn.execute("INSERT INTO operations (id, dataset_id, kind, description, state, created_at, applied_at) "
                 "VALUES (1, 1, 'edit', 'caption edited', 'applied', ?, ?)", (now, now))
    conn.execute("INSERT INTO changes (operation_id, image_id, kind, path_before, text_before, text_after, state) "
                 "VALUES (1, 1, 'caption', 'a.txt', 'before', 'after, edit', 'done')")
    conn.commit()
    conn.close()


async def test_upgrade_keeps_the_journal_and_scans_the_new_sets(tmp_path, image_factory):
    folder = tmp_path / "ds"
    image_factory(folder / "a.png")
    (folder / "a.txt").write_text("after, edit", encoding="utf-8")
    (folder / "a.caption").write_text("A red square.", encoding="utf-8")
    db = tmp_path / "loratui.db"
    old_database(db, folder)

    conn = connect(db)  # migrates
    assert conn.execute("PRAGMA user_version").fetchone()[0] >= FIRST_WITH_SETS
    assert conn.execute("SELECT caption_set FROM changes").fetchone()[0] is None
    assert conn.execute("SELECT COUNT(*) FROM caption_sets").fetchone()[0] == 0
    conn.close()

    async with Store.open(db) as store:
        dataset = await get_dataset(store, "old")
        undone = await history.undo(store, dataset)  # journaled before 0100: the primary set's file
        assert undone.changed == 1 and (folder / "a.txt").read_text(encoding="utf-8") == "before"
        assert (folder / "a.caption").read_text(encoding="utf-8") == "A red square."
        report = await rescan_dataset(store, "old", workers=1)
        assert report.caption_sets == [".caption"]
        sets = {s.ext: s for s in await caption_sets.list_sets(store, dataset)}
        assert sets[".txt"].files == 1 and sets[".caption"].files == 1 and sets[".caption"].source == "found"
