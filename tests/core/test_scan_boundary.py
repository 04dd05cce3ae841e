"""Issue 13: hostile files named like captions or images, symlinked captions, caption extensions, failed adds."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

import pytest

from loratui.datasets import scan as scan_module
from loratui.datasets import service
from loratui.datasets.caption_state import LINKED_WARNING
from loratui.datasets.filekinds import normalise_caption_ext
from loratui.errors import DatasetError, InputError
from loratui.store import Store
from tests.conftest import make_image

COLORS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30)]


def _hostile(root: Path, count: int = 4) -> Path:
    """Images a0..aN with captions, then a FIFO, a folder and a symlink named like captions, a FIFO as an image."""
    for i in range(count):
        make_image(root / "1_x" / f"a{i}.png", color=COLORS[i % 4], size=(40 + i, 30))
        (root / "1_x" / f"a{i}.txt").write_text(f"tag{i}, cat")
    for name in ("fifo", "folder", "linked", "secret"):
        make_image(root / "1_x" / f"{name}.png", color=(9, 9, 9), size=(33, 33))
    os.mkfifo(root / "1_x" / "fifo.txt")
    (root / "1_x" / "folder.txt").mkdir()
    os.symlink("a0.txt", root / "1_x" / "linked.txt")
    os.mkfifo(root / "1_x" / "pipe.png")
    return root


def _images(cli, name: str) -> dict[str, dict]:
    return {i["path"]: i for i in cli("dataset", "images", name, "--json").json()}


def _db_rows(home: Path, query: str) -> list[sqlite3.Row]:
    conn = sqlite3.connect(home / "loratui.db")
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.close()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("workers", ["1", "2"], ids=["threads", "processes"])
def test_special_files_named_like_captions_become_reasons(cli, tmp_path, home, workers):
    """Item 5: a FIFO named like a caption hung the scan; a folder named like one aborted it."""
    # 30 plain images make the scan use its process pool (INLINE_LIMIT) when it may use two workers.
    root = _hostile(tmp_path / "ds", count=30 if workers == "2" else 4)
    secret = tmp_path / "secret_target.txt"
    secret.write_text("HF_TOKEN=hf_leaked")
    os.symlink(secret, root / "1_x" / "secret.txt")
    result = cli("dataset", "add", root, "--name", "hostile", "--workers", workers, "--json")
    assert result.code == 0, result
    assert any("secret.txt: symlinked caption ignored" in w for w in result.json()["warnings"])
    images = _images(cli, "hostile")
    assert "FIFO" in images["1_x/fifo.png"]["caption_warning"] and images["1_x/fifo.png"]["status"] == "ok"
    assert images["1_x/folder.png"]["caption_warning"] == "caption file is a folder, not a file: not loaded"
    assert images["1_x/linked.png"]["has_caption"] is False and images["1_x/secret.png"]["has_caption"] is False
    assert images["1_x/pipe.png"]["status"] == "broken"
    assert images["1_x/pipe.png"]["reason"] == "file is a FIFO (named pipe), not a regular file"
    assert images["1_x/a1.png"]["has_caption"] is True and images["1_x/a1.png"]["status"] == "ok"
    captions = {r["rel_path"]: r["caption"] for r in _db_rows(home, "SELECT rel_path, caption FROM images")}
    assert not any("leaked" in (c or "") for c in captions.values())
    assert captions["1_x/linked.png"] is None and captions["1_x/a0.png"] == "tag0, cat"

    again = cli("dataset", "scan", "hostile", "--json").json()  # present-but-unread captions are stable
    assert again["captions_changed"] == 0 and again["unchanged"] == again["total"]


@pytest.mark.timeout(60)
def test_a_caption_linked_to_proc_environ_is_never_read(cli, tmp_path, home, monkeypatch):
    """Item 2: a caption linked to /proc/self/environ put the scanner's HF_TOKEN into the database."""
    monkeypatch.setenv("HF_TOKEN", "hf_do_not_leak_me")
    root = tmp_path / "ds"
    make_image(root / "a.png")
    os.symlink("/proc/self/environ", root / "a.txt")
    assert cli("dataset", "add", root, "--name", "env").code == 0
    rows = _db_rows(home, "SELECT caption, caption_size, caption_warning FROM images")
    assert [tuple(r) for r in rows] == [(None, None, LINKED_WARNING)]
    assert b"hf_do_not_leak_me" not in b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file())


def test_caption_extensions_are_plain_text_extensions():
    """Item 3: `--caption-ext .jpg` turned images into captions."""
    for ok, expected in [(".txt", ".txt"), ("txt", ".txt"), (".caption", ".caption"), (".cap", ".cap"),
                         ("tags", ".tags"), (".wd14.txt", ".wd14.txt"), (" .TXT ", ".TXT"), (".florence_2", ".florence_2")]:
        assert normalise_caption_ext(ok) == expected
    for bad, needle in [(".jpg", "image extension"), ("PNG", "image extension"), (".JPEG", "image extension"),
                        (".x.webp", "image extension"), (".tiff", "image extension"), (".mp4", "video extension"),
                        (".MOV", "video extension"), (".npz", "not captions"), (".safetensors", "not captions"),
                        (".jsonl", "not captions"), (".zip", "not captions"), ("", "empty"),
                        ("../x", "not a plain file extension"), (".a b", "not a plain file extension"),
                        (".", "not a plain file extension"), ("a/b", "not a plain file extension"),
                        (".t\x1bx", "not a plain file extension"), (".a.b.c", "not a plain file extension")]:
        with pytest.raises(InputError, match=needle):
            normalise_caption_ext(bad)


def test_image_caption_extensions_are_refused_everywhere(cli, tmp_path, home):
    root = tmp_path / "ds"
    make_image(root / "a.png", color=(1, 2, 3))
    make_image(root / "a.jpg", color=(4, 5, 6))
    before = {p.name: p.read_bytes() for p in root.iterdir()}
    result = cli("dataset", "add", root, "--caption-ext", ".jpg")
    assert result.code == 2 and "image extension" in result.err and "--caption-ext" in result.err, result
    result = cli("dataset", "import", tmp_path / "none.zip", "--name", "imp", "--caption-ext", "mp4")
    assert result.code == 2 and "video extension" in result.err, result
    assert not (home / "datasets" / "imp").exists()
    (home / "config.toml").write_text('[general]\ncaption_ext = ".png"\n')
    result = cli("dataset", "add", root)
    assert result.code == 2 and "general.caption_ext" in result.err, result
    assert cli("dataset", "list", "--json").json() == []
    assert {p.name: p.read_bytes() for p in root.iterdir()} == before

    # A dataset registered by an older loratui with an image extension is refused a scan, never rewritten.
    (home / "config.toml").write_text("")
    assert cli("dataset", "add", root, "--name", "old").code == 0
    conn = sqlite3.connect(home / "loratui.db")
    with conn:
        conn.execute("UPDATE datasets SET caption_ext = '.jpg'")
    conn.close()
    result = cli("dataset", "scan", "old")
    assert result.code == 2 and "caption extension cannot be used" in result.err, result
    assert {p.name: p.read_bytes() for p in root.iterdir()} == before


async def _add(home: Path, root: Path, name: str = "d", **kwargs):
    async with Store.open(home / "loratui.db") as store:
        return await service.add_dataset(store, root, name=name, workers=1, **kwargs)


def _registered(home: Path) -> list[str]:
    return [r["name"] for r in _db_rows(home, "SELECT name FROM datasets ORDER BY name")]


async def test_a_failed_first_scan_registers_nothing(tmp_path, home, monkeypatch):
    """Item 5: `dataset add` whose scan failed left an empty dataset registered."""
    make_image(tmp_path / "ds" / "a.png")

    def broken(*args):
        raise RuntimeError("the walk failed")

    monkeypatch.setattr(scan_module, "walk_dataset", broken)
    with pytest.raises(RuntimeError):
        await _add(home, tmp_path / "ds")
    assert _registered(home) == []


async def test_an_interrupted_first_scan_keeps_what_it_indexed(tmp_path, home, monkeypatch):
    for folder in ("ds", "ds2"):
        for i in range(3):
            make_image(tmp_path / folder / f"a{i}.png", color=COLORS[i])
    real_probe_all = scan_module._probe_all

    async def interrupted(store, dataset_id, root, caption_ext, entries, *args):
        await real_probe_all(store, dataset_id, root, caption_ext, entries[:2], *args)
        raise asyncio.CancelledError  # what Ctrl-C becomes inside asyncio.run

    monkeypatch.setattr(scan_module, "_probe_all", interrupted)
    with pytest.raises(asyncio.CancelledError):
        await _add(home, tmp_path / "ds")
    assert _registered(home) == ["d"]
    assert len(_db_rows(home, "SELECT id FROM images")) == 2
    # An import's add: interrupted, the dataset goes away with its folder.
    with pytest.raises(asyncio.CancelledError):
        await _add(home, tmp_path / "ds2", name="d2", keep_if_interrupted=False)
    assert _registered(home) == ["d"]


async def test_a_dead_worker_is_a_clear_error(tmp_path, home, monkeypatch):
    from concurrent.futures.process import BrokenProcessPool

    make_image(tmp_path / "ds" / "a.png")

    def dead(*args):
        raise BrokenProcessPool("A process in the process pool was terminated abruptly")

    monkeypatch.setattr(scan_module, "_probe_batch", dead)
    with pytest.raises(DatasetError, match="scan worker process died"):
        await _add(home, tmp_path / "ds")
    assert _registered(home) == []
