"""Captions are restored byte for byte and edited in their own encoding (issue 13, case 6), and a change on disk
is noticed by content even when size and mtime_ns stay the same (case 1's last symptom)."""

import codecs
import os
import subprocess
import sys

import pytest

from loratui.datasets import batch, history
from loratui.datasets.journal import save_caption
from loratui.datasets.service import add_dataset, rescan_dataset
from loratui.errors import ConflictError, InputError
from loratui.store import Store

from .conftest import build_dataset, caption, reopen, subprocess_env
from .test_crash import CHILD as KILLED_MID_APPLY
from tests.dbutil import execute as db_execute, row as db_row, rows as db_rows

# name -> (bytes on disk, the encoding read, the bytes after adding the tag "ohwx, é" at the end)
FILES = {
    "utf8_bom": (codecs.BOM_UTF8 + "café, smile".encode(), "utf-8-sig",
                 codecs.BOM_UTF8 + "café, smile, ohwx".encode()),
    "utf16_le": (codecs.BOM_UTF16_LE + "café, smile".encode("utf-16-le"), "utf-16-le",
                 codecs.BOM_UTF16_LE + "café, smile, ohwx".encode("utf-16-le")),
    "utf16_be": (codecs.BOM_UTF16_BE + "café, smile".encode("utf-16-be"), "utf-16-be",
                 codecs.BOM_UTF16_BE + "café, smile, ohwx".encode("utf-16-be")),
    "cp1252": ("café, \u2018quoted\u2019, smile".encode("cp1252"), "cp1252",
               "café, \u2018quoted\u2019, smile, ohwx".encode("cp1252")),
    "latin1": (b"caf\xe9, \x81odd, smile", "latin-1", b"caf\xe9, \x81odd, smile, ohwx"),
    # the trailing newline stays (issue 14); the lines become one, as batch operations write tags
    "crlf": (b"1girl, smile\r\nsecond line\r\n", "utf-8", b"1girl, smile, second line, ohwx\r\n"),
    "newline": (b"1girl, smile\n", "utf-8", b"1girl, smile, ohwx\n"),
}


@pytest.fixture
async def odd(tmp_path, image_factory, db_path):
    """A dataset whose captions are in every encoding of FILES (written as raw bytes)."""
    root = build_dataset(tmp_path / "odd", image_factory, {f"1_x/{name}.png": None for name in FILES})
    for name, (data, _, _) in FILES.items():
        (root / f"1_x/{name}.txt").write_bytes(data)
    async with Store.open(db_path) as store:
        dataset, _ = await add_dataset(store, root, name="odd", workers=1)
        yield store, dataset, root


def _disk(root) -> dict[str, bytes]:
    return {name: (root / f"1_x/{name}.txt").read_bytes() for name in FILES}


async def test_edits_keep_the_encoding_and_undo_is_byte_identical(odd):
    store, dataset, root = odd
    encodings = {r["rel_path"]: r["caption_encoding"] for r in await db_rows(
        store, "SELECT rel_path, caption_encoding FROM images")}
    assert encodings == {f"1_x/{name}.png": encoding for name, (_, encoding, _) in FILES.items()}
    warning = await db_row(store, "SELECT caption_warning FROM images WHERE rel_path = '1_x/cp1252.png'")
    assert "edits keep cp1252" in warning[0] and "iconv" in warning[0]  # said at scan time

    _, result = await batch.apply_operation(store, dataset, {"op": "add", "tag": "ohwx"})
    assert result.changed == len(FILES) and not result.skipped
    assert _disk(root) == {name: after for name, (_, _, after) in FILES.items()}
    rows = await db_rows(store, "SELECT rel_path, caption, caption_encoding FROM images")
    assert {r["rel_path"]: r["caption_encoding"] for r in rows} == encodings  # the store says so too

    await history.undo(store, dataset)
    assert _disk(root) == {name: data for name, (data, _, _) in FILES.items()}  # byte for byte
    await history.redo(store, dataset)
    assert _disk(root) == {name: after for name, (_, _, after) in FILES.items()}

    cm, store2, dataset2 = await reopen(store.path, "odd")  # the bytes are in the journal, not in memory
    try:
        await history.undo(store2, dataset2)
    finally:
        await cm.__aexit__(None, None, None)
    assert _disk(root) == {name: data for name, (data, _, _) in FILES.items()}


async def test_text_the_encoding_cannot_hold_is_refused_not_converted(odd):
    store, dataset, root = odd
    before = _disk(root)
    image = await db_row(store, "SELECT id FROM images WHERE rel_path = '1_x/cp1252.png'")
    with pytest.raises(InputError, match=r"cp1252 cannot hold.*iconv"):
        await save_caption(store, dataset, image["id"], "café, 🙂")
    _, result = await batch.apply_operation(store, dataset, {"op": "add", "tag": "ĳ"})  # not in cp1252/latin-1
    assert sorted(path for path, _ in result.skipped) == ["1_x/cp1252.png", "1_x/latin1.png"]
    after = _disk(root)
    assert after["cp1252"] == before["cp1252"] and after["latin1"] == before["latin1"]
    assert after["utf16_le"] == codecs.BOM_UTF16_LE + "café, smile, ĳ".encode("utf-16-le")
    await save_caption(store, dataset, image["id"], "café, naïve")  # representable: written as cp1252
    assert (root / "1_x/cp1252.txt").read_bytes() == "café, naïve".encode("cp1252")


async def test_same_size_and_mtime_cannot_hide_a_change(opened, dataset_dir):
    store, dataset = opened
    path = dataset_dir / "10_char/a.txt"
    st = path.stat()
    text = path.read_text()
    path.write_text(text.upper())  # same size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # same mtime
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)

    _, result = await batch.apply_operation(store, dataset, {"op": "add", "tag": "ohwx"})
    assert result.conflicts == ["10_char/a.png"] and result.changed == 3
    assert path.read_text() == text.upper()  # the outside change survives
    image = await db_row(store, "SELECT id, caption_sha256 FROM images WHERE rel_path = '10_char/a.png'")
    with pytest.raises(ConflictError):
        await save_caption(store, dataset, image["id"], "mine", expected_sha256=image["caption_sha256"])
    assert path.read_text() == text.upper()

    # after a batch op, the same trick on one of its files: undo notices it by content
    other = dataset_dir / "10_char/b.txt"
    st = other.stat()
    other.write_text(other.read_text().replace("ohwx", "OHWX"))
    os.utime(other, ns=(st.st_atime_ns, st.st_mtime_ns))
    with pytest.raises(ConflictError, match="10_char/b.txt"):
        await history.undo(store, dataset)


async def test_changes_journaled_before_the_bytes_were_kept_still_undo(opened, dataset_dir):
    """Rows of migration 0080's predecessors have text only (exact = 0, no bytes): they still undo and redo."""
    store, dataset = opened
    _, result = await batch.apply_operation(store, dataset, {"op": "add", "tag": "ohwx"})
    await db_execute(store, "UPDATE changes SET exact = 0, bytes_before = NULL, bytes_after = NULL")
    await db_execute(store, "UPDATE images SET caption_sha256 = NULL")
    await history.undo(store, dataset)
    assert caption(dataset_dir, "10_char/a.png") == "1girl, solo, red hair, smile"
    await history.redo(store, dataset)
    assert caption(dataset_dir, "10_char/a.png") == "1girl, solo, red hair, smile, ohwx"
    change = await db_row(store, "SELECT exact FROM changes WHERE operation_id = ? ORDER BY id", (result.operation_id,))
    assert change["exact"] == 1  # the redo read the files again: now known byte for byte
    _, again = await batch.apply_operation(store, dataset, {"op": "remove", "tags": ["ohwx"]})  # text basis
    assert again.changed == 4
    await rescan_dataset(store, "ds", workers=1)
    assert (await db_row(store, "SELECT caption_sha256 FROM images WHERE rel_path = '10_char/a.png'"))[0]


@pytest.mark.parametrize("finish", [True, False], ids=["finish", "rollback"])
async def test_recovery_after_kill_9_is_byte_exact(odd, db_path, finish):
    store, dataset, root = odd
    proc = subprocess.run([sys.executable, "-c", KILLED_MID_APPLY, str(db_path), "3", "odd", "end"],
                          env=subprocess_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    disk = _disk(root)
    assert all(disk[name] in (data, after) for name, (data, _, after) in FILES.items())  # one side or the other
    assert sum(disk[name] == after for name, (_, _, after) in FILES.items()) >= 3
    await history.recover(store, dataset, finish=finish)
    assert _disk(root) == {name: after if finish else data for name, (data, _, after) in FILES.items()}
    if finish:
        await history.undo(store, dataset)
        assert _disk(root) == {name: data for name, (data, _, _) in FILES.items()}
