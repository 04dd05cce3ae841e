"""Batch operations on real files: dry run, apply, undo, redo, restart, conflicts and moves."""

import os
import stat

import pytest

from loratui.datasets import batch, history
from loratui.datasets.journal import move_images
from loratui.datasets import image_repo
from loratui.errors import ConflictError, InputError

from .conftest import CAPTIONS, caption, reopen
from tests.dbutil import execute as db_execute, row as db_row, rows as db_rows, scalar as db_scalar

SPECS = [
    ({"op": "add", "tag": "ohwx", "position": "start"}, "10_char/a.png", "ohwx, 1girl, solo, red hair, smile"),
    ({"op": "add", "tag": "ohwx", "position": 1}, "10_char/c.png", "2girls, ohwx, red hair, blue hair"),
    ({"op": "remove", "tags": ["solo", "smile"]}, "10_char/a.png", "1girl, red hair"),
    ({"op": "replace", "old": "red hair", "new": "crimson hair"}, "10_char/c.png", "2girls, crimson hair, blue hair"),
    ({"op": "replace", "old": r"^(\w+) hair$", "new": r"\1_hair", "regex": True}, "10_char/c.png",
     "2girls, red_hair, blue_hair"),
    ({"op": "replace", "old": "girl", "new": "woman", "text": True}, "10_char/b.png",
     "1woman, solo, blue hair, looking at viewer"),
    ({"op": "merge", "tags": ["1girl", "2girls"], "into": "girl"}, "10_char/c.png", "girl, red hair, blue hair"),
    ({"op": "sort", "by": "alpha", "keep": 1}, "10_char/a.png", "1girl, red hair, smile, solo"),
    ({"op": "sort", "by": "frequency"}, "5_style/d.png", "solo, landscape, sky"),
]


@pytest.mark.parametrize("spec, rel, expected", SPECS, ids=[s[0]["op"] + str(i) for i, s in enumerate(SPECS)])
async def test_operation_dry_run_apply_undo_redo(opened, dataset_dir, spec, rel, expected):
    store, dataset = opened
    preview = await batch.preview_operation(store, dataset, spec)
    assert preview.selected == 4 and preview.changes
    planned = {c.rel_path: c.after for c in preview.changes}
    assert planned[rel] == expected
    assert all(caption(dataset_dir, r) == CAPTIONS[r] for r in CAPTIONS)  # dry run wrote nothing

    result = await batch.apply_preview(store, dataset, preview)
    assert result.changed == len(preview.changes) and not result.skipped
    assert caption(dataset_dir, rel) == expected
    row = await db_row(store, "SELECT caption, tag_count FROM images WHERE rel_path = ?", (rel,))
    assert row["caption"] == expected
    tags = [r[0] for r in await db_rows(store, 
        "SELECT tag FROM image_tags t JOIN images i ON i.id = t.image_id WHERE i.rel_path = ? ORDER BY position",
        (rel,))]
    assert tags == [t.strip() for t in expected.split(",")] and row["tag_count"] == len(tags)

    undone = await history.undo(store, dataset)
    assert undone.operation_id == result.operation_id and undone.changed == result.changed
    assert all(caption(dataset_dir, r) == CAPTIONS[r] for r in CAPTIONS)
    tags = [r[0] for r in await db_rows(store, 
        "SELECT tag FROM image_tags t JOIN images i ON i.id = t.image_id WHERE i.rel_path = ? ORDER BY position",
        (rel,))]
    assert tags == [t.strip() for t in CAPTIONS[rel].split(",")]

    await history.redo(store, dataset)
    assert caption(dataset_dir, rel) == expected
    with pytest.raises(InputError, match="nothing to redo"):
        await history.redo(store, dataset)


async def test_where_and_subset_limit_the_selection(opened, dataset_dir):
    store, dataset = opened
    preview = await batch.preview_operation(store, dataset, {"op": "add", "tag": "x"}, where="tag:red hair -tag:solo")
    assert [c.rel_path for c in preview.changes] == ["10_char/c.png"]
    preview = await batch.preview_operation(store, dataset, {"op": "add", "tag": "x"}, subset="5_style")
    assert [c.rel_path for c in preview.changes] == ["5_style/d.png"]
    with pytest.raises(InputError, match="position"):
        await batch.preview_operation(store, dataset, {"op": "add", "tag": "x"}, where="tag:a (")


async def test_undo_in_order_after_restart(opened, dataset_dir, db_path):
    store, dataset = opened
    await batch.apply_operation(store, dataset, {"op": "add", "tag": "ohwx", "position": "start"})
    await batch.apply_operation(store, dataset, {"op": "remove", "tags": ["solo"]})
    assert caption(dataset_dir, "10_char/a.png") == "ohwx, 1girl, red hair, smile"

    cm, store2, dataset2 = await reopen(db_path)  # a new connection: nothing kept in memory
    try:
        first = await history.undo(store2, dataset2)
        assert "remove" in first.description
        assert caption(dataset_dir, "10_char/a.png") == "ohwx, 1girl, solo, red hair, smile"
        second = await history.undo(store2, dataset2)
        assert "add" in second.description
        assert caption(dataset_dir, "10_char/a.png") == CAPTIONS["10_char/a.png"]
        redone = await history.redo(store2, dataset2)
        assert redone.operation_id == second.operation_id  # redo in the order undone
        entries = await history.history(store2, dataset2)
        assert [e["state"] for e in entries] == ["undone", "applied"] and entries[0]["redoable"]
    finally:
        await cm.__aexit__(None, None, None)


async def test_new_operation_ends_the_redo_chain(opened):
    store, dataset = opened
    await batch.apply_operation(store, dataset, {"op": "add", "tag": "one"})
    await history.undo(store, dataset)
    await batch.apply_operation(store, dataset, {"op": "add", "tag": "two"})
    with pytest.raises(InputError, match="nothing to redo"):
        await history.redo(store, dataset)


async def test_undo_refuses_to_clobber_an_outside_edit(opened, dataset_dir):
    store, dataset = opened
    await batch.apply_operation(store, dataset, {"op": "add", "tag": "ohwx"})
    edited = dataset_dir / "10_char/b.txt"
    edited.write_text("edited by hand", encoding="utf-8")
    with pytest.raises(ConflictError, match=r"refused.*10_char/b.txt") as info:
        await history.undo(store, dataset)
    assert "--force" in info.value.hint
    assert edited.read_text() == "edited by hand"
    assert caption(dataset_dir, "10_char/a.png").endswith("ohwx")  # nothing undone
    result = await history.undo(store, dataset, skip_changed=True)
    assert result.changed == 3 and result.conflicts == [("10_char/b.txt", "caption changed outside loratui since")]
    assert edited.read_text() == "edited by hand"
    assert caption(dataset_dir, "10_char/a.png") == CAPTIONS["10_char/a.png"]


async def test_caption_deleted_or_read_only_between_preview_and_apply(opened, dataset_dir):
    store, dataset = opened
    preview = await batch.preview_operation(store, dataset, {"op": "add", "tag": "ohwx"})
    (dataset_dir / "10_char/a.txt").unlink()
    locked = dataset_dir / "10_char/b.txt"
    locked.chmod(0o444)
    try:
        result = await batch.apply_preview(store, dataset, preview)
        reasons = dict(result.skipped)
        assert set(reasons) == {"10_char/a.png", "10_char/b.png"}
        assert "deleted" in reasons["10_char/a.png"] and "read-only" in reasons["10_char/b.png"]
        assert result.changed == 2
        assert caption(dataset_dir, "10_char/c.png").endswith(", ohwx")
        assert locked.read_text() == CAPTIONS["10_char/b.png"]
        assert not (dataset_dir / "10_char/a.txt").exists()
        undone = await history.undo(store, dataset)
        assert undone.changed == 2 and not undone.conflicts
        assert caption(dataset_dir, "10_char/c.png") == CAPTIONS["10_char/c.png"]
        assert not (dataset_dir / "10_char/a.txt").exists()
    finally:
        locked.chmod(stat.S_IRUSR | stat.S_IWUSR)


async def test_move_duplicates_undo_redo(opened, dataset_dir):
    store, dataset = opened
    ids = await store.run(image_repo.select_ids, dataset.id, "subset:5_style")
    result = await move_images(store, dataset, ids)
    assert result.changed == 2  # image + caption
    assert (dataset_dir / "_duplicates/5_style/d.png").exists()
    assert (dataset_dir / "_duplicates/5_style/d.txt").read_text() == CAPTIONS["5_style/d.png"]
    assert not (dataset_dir / "5_style/d.png").exists()
    assert await db_scalar(store, "SELECT COUNT(*) FROM images") == 3  # the scanner skips _duplicates
    await history.undo(store, dataset)
    assert (dataset_dir / "5_style/d.png").exists() and caption(dataset_dir, "5_style/d.png") == CAPTIONS["5_style/d.png"]
    assert await db_scalar(store, "SELECT COUNT(*) FROM images") == 4
    await history.redo(store, dataset)
    assert not (dataset_dir / "5_style/d.png").exists()
    # someone puts a file back where the original was: undo refuses to replace it
    (dataset_dir / "5_style/d.png").write_bytes(b"new")
    with pytest.raises(ConflictError, match="5_style/d.png"):
        await history.undo(store, dataset)
    os.unlink(dataset_dir / "5_style/d.png")


async def test_an_operation_running_in_a_live_process_makes_undo_wait(opened):
    from loratui.errors import JobError
    from loratui.jobs.procinfo import proc_key

    store, dataset = opened
    await batch.apply_operation(store, dataset, {"op": "add", "tag": "ohwx"})
    await db_execute(store, 
        "INSERT INTO operations (dataset_id, kind, state, created_at, action, pid, proc_key) "
        "VALUES (?, 'add', 'pending', 0, 'apply', ?, ?)", (dataset.id, os.getpid(), proc_key(os.getpid())))
    with pytest.raises(JobError, match="is running operation") as info:
        await history.undo(store, dataset)
    assert info.value.title == "Busy"
    assert not await history.interrupted_operations(store, dataset)  # alive: not a crash
    await db_execute(store, "UPDATE operations SET pid = 999999999 WHERE state = 'pending'")
    assert [e["state"] for e in await history.history(store, dataset)][0] == "interrupted"
