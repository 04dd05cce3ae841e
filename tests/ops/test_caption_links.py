"""A caption that is a symbolic link (issue 13, case 2, caption side): never read, exported, written through or
replaced. The target here is a temp file holding a fake secret, standing in for /proc/self/environ."""

import os
import zipfile

import pytest

from loratui.datasets import batch, history
from loratui.datasets.bulkwrite import atomic_write_batch
from loratui.datasets.captions import read_caption, write_caption
from loratui.datasets.export import export_dataset
from loratui.datasets.journal import save_caption
from loratui.datasets.service import add_dataset
from loratui.errors import ConflictError, InputError
from loratui.store import Store

from .conftest import CAPTIONS, build_dataset, caption
from tests.dbutil import rows as db_rows, row as db_row

SECRET = "HF_TOKEN=hf_FAKEsecret0123456789"


@pytest.fixture
def secret(tmp_path):
    path = tmp_path / "outside" / "environ"
    path.parent.mkdir()
    path.write_text(SECRET)
    return path


async def _leaks(store) -> list:
    """Every place in the database the secret could have gone to."""
    found = await db_rows(store, "SELECT rel_path FROM images WHERE instr(caption, ?) OR instr(caption_warning, ?)",
                          ("FAKEsecret", "FAKEsecret"))
    found += await db_rows(store, "SELECT id FROM changes WHERE instr(text_before, ?) OR instr(text_after, ?) "
                                  "OR instr(bytes_before, ?) OR instr(bytes_after, ?)",
                           ("FAKEsecret", "FAKEsecret", b"FAKEsecret", b"FAKEsecret"))
    found += await db_rows(store, "SELECT tag FROM image_tags WHERE instr(tag, ?)", ("FAKEsecret",))
    return found


async def test_a_linked_caption_never_reaches_the_index_an_export_or_a_journal(tmp_path, image_factory, secret,
                                                                                db_path):
    root = build_dataset(tmp_path / "ds", image_factory)
    linked = root / "10_char/b.txt"
    linked.unlink()
    linked.symlink_to(secret)
    assert read_caption(linked).linked and read_caption(linked).text is None

    async with Store.open(db_path) as store:
        dataset, report = await add_dataset(store, root, name="ds", workers=1)
        assert any("b.txt: symlinked caption ignored" in w for w in report.warnings)
        row = await db_row(store, "SELECT caption, caption_size, caption_warning FROM images WHERE rel_path = ?",
                           ("10_char/b.png",))
        assert row["caption"] is None and row["caption_size"] is None  # absent ...
        assert "symbolic link" in row["caption_warning"]  # ... and reported on the image

        for fmt in ("kohya", "zip"):
            out = tmp_path / f"export.{fmt}"
            await export_dataset(store, dataset, out, fmt=fmt)
            if fmt == "zip":
                with zipfile.ZipFile(out) as archive:
                    contents = b"".join(archive.read(name) for name in archive.namelist())
            else:
                contents = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())
            assert b"FAKEsecret" not in contents

        result = (await batch.apply_operation(store, dataset, {"op": "add", "tag": "ohwx"}))[1]
        assert result.changed == 3
        assert result.skipped == [("10_char/b.png", result.skipped[0][1])] and "symbolic link" in result.skipped[0][1]
        assert linked.is_symlink() and os.readlink(linked) == str(secret) and secret.read_text() == SECRET
        await history.undo(store, dataset)
        await history.redo(store, dataset)
        await history.undo(store, dataset)
        assert linked.is_symlink() and secret.read_text() == SECRET
        assert caption(root, "10_char/a.png") == CAPTIONS["10_char/a.png"]

        with pytest.raises(InputError, match="symbolic link"):
            await save_caption(store, dataset, (await db_row(store, "SELECT id FROM images WHERE rel_path = ?",
                                                              ("10_char/b.png",)))["id"], "mine", force=True)
        assert linked.is_symlink() and secret.read_text() == SECRET
        assert await _leaks(store) == []


async def test_a_caption_replaced_by_a_link_is_left_alone_by_apply_undo_and_force(opened, dataset_dir, secret):
    store, dataset = opened
    _, applied = await batch.apply_operation(store, dataset, {"op": "add", "tag": "ohwx"})
    assert applied.changed == 4
    linked = dataset_dir / "10_char/a.txt"
    linked.unlink()
    linked.symlink_to(secret)

    with pytest.raises(ConflictError, match="10_char/a.txt"):
        await history.undo(store, dataset)
    forced = await history.undo(store, dataset, force=True)
    assert ("10_char/a.txt", "caption became a symbolic link since: left alone") in forced.conflicts
    assert [path for path, _ in forced.failures] == ["10_char/a.txt"]
    assert linked.is_symlink() and secret.read_text() == SECRET
    assert caption(dataset_dir, "10_char/b.png") == CAPTIONS["10_char/b.png"]

    _, again = await batch.apply_operation(store, dataset, {"op": "remove", "tags": ["ohwx"]})
    assert "10_char/a.png" in dict(again.skipped)
    assert linked.is_symlink() and secret.read_text() == SECRET
    assert await _leaks(store) == []


def test_low_level_writers_refuse_links(tmp_path, secret):
    link = tmp_path / "a.txt"
    link.symlink_to(secret)
    with pytest.raises(OSError, match="symbolic link"):
        write_caption(link, "new")
    [outcome] = atomic_write_batch([(link, b"new")])
    assert isinstance(outcome, OSError) and "symbolic link" in str(outcome)
    folder = tmp_path / "b.txt"
    folder.mkdir()
    [outcome] = atomic_write_batch([(folder, b"new")])
    assert isinstance(outcome, OSError) and folder.is_dir()
    assert link.is_symlink() and secret.read_text() == SECRET
