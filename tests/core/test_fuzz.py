"""Fuzzing, for a bounded time: random bytes, random names and random archives through the scan, the import and
the query parser. Nothing may end in a traceback (every failure is a LoratuiError: one line, exit 2, or a
reason on the file), and nothing outside the dataset may change.

Seeded (``LORATUI_FUZZ_SEED``, default fixed) so a failure can be replayed; ``LORATUI_FUZZ_SECONDS`` scales the
time budget of each test (default 8 s, a few hundred cases on a 2-core machine).
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import string
import time
import zipfile
from pathlib import Path

import pytest

from loratui.datasets.query import compile_query
from loratui.errors import LoratuiError

SEED = int(os.environ.get("LORATUI_FUZZ_SEED", "1205"))
SECONDS = float(os.environ.get("LORATUI_FUZZ_SECONDS", "8"))

QUERY_WORDS = ["tag:", "-tag:", "caption:", "path:", "subset:", "bucket:", "no:caption", "has:caption", "no:tags",
               "broken", "ok", "dupe", "tags>", "tags<=", "w<", "h>=", "tokens>", "AND", "OR", "NOT", "(", ")", '"',
               "\\", "*", "red hair", "1girl", "832x1216", "10_char", "-", ":", "=", "!=", "'", "%", "_"]


def _random_text(rng: random.Random, size: int) -> str:
    alphabet = string.printable + "éü中\u202e\x00\x1b\u0301"
    return "".join(rng.choice(alphabet) for _ in range(size))


def _random_query(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(0, 12)):
        roll = rng.random()
        if roll < 0.7:
            parts.append(rng.choice(QUERY_WORDS) + (str(rng.randint(-5, 3000)) if rng.random() < 0.2 else ""))
        elif roll < 0.9:
            parts.append(_random_text(rng, rng.randint(1, 8)))
        else:
            depth = rng.choice([2, 50, 400])
            parts.append("(" * depth + "tag:a" + ")" * rng.choice([0, depth]))
    if rng.random() < 0.05:
        parts.append(" OR ".join(f"tag:t{i}" for i in range(rng.choice([10, 4000]))))
    return " ".join(parts)


def test_query_parser_never_raises_anything_but_a_query_error(home):
    """Random queries compile or raise a LoratuiError with a position; the compiled SQL runs on a real database."""
    import asyncio

    from loratui.config import Context
    from loratui.datasets import image_repo
    from loratui.store import Store

    rng = random.Random(SEED)
    ctx = Context.load(home)

    async def run() -> int:
        tried = 0
        async with Store.open(ctx.paths.db) as store:
            deadline = time.monotonic() + SECONDS
            while time.monotonic() < deadline:
                text = _random_query(rng)
                tried += 1
                try:
                    compile_query(text)
                except LoratuiError:
                    continue
                except Exception as exc:  # noqa: BLE001 - what this test is looking for
                    pytest.fail(f"compile_query({text[:200]!r}) raised {type(exc).__name__}: {exc}")
                try:
                    await store.run(image_repo.select_ids, 1, text)
                except LoratuiError:
                    pass
                except Exception as exc:  # noqa: BLE001
                    pytest.fail(f"select_ids with {text[:200]!r} raised {type(exc).__name__}: {exc}")
        return tried

    assert asyncio.run(run()) > 50


def _png(rng: random.Random) -> bytes:
    from PIL import Image

    image = Image.new("RGB", (rng.randint(8, 64), rng.randint(8, 64)),
                      tuple(rng.randrange(256) for _ in range(3)))
    buffer = io.BytesIO()
    image.save(buffer, "PNG" if rng.random() < 0.5 else "JPEG")
    return buffer.getvalue()


def _damaged(rng: random.Random, data: bytes) -> bytes:
    roll = rng.random()
    if roll < 0.3:
        return data[:rng.randrange(max(1, len(data)))]
    if roll < 0.6:
        data = bytearray(data)
        for _ in range(rng.randint(1, 20)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    if roll < 0.8:
        return data + os.urandom(rng.randint(1, 500))
    return os.urandom(rng.randint(0, 3000))


def _random_name(rng: random.Random, ext: str) -> str:
    roll = rng.random()
    if roll < 0.5:
        stem = "".join(rng.choice(string.ascii_letters + string.digits + " _-.") for _ in range(rng.randint(1, 20)))
    elif roll < 0.8:
        stem = _random_text(rng, rng.randint(1, 12))
    else:
        stem = "x" * rng.randint(100, 240)
    stem = stem.replace("/", "_").replace("\x00", "_").strip() or "x"
    if stem in (".", ".."):
        stem = "x"
    return (stem + ext)[:250]


def _snapshot(root: Path) -> dict[str, str]:
    """Path -> sha256 (or 'link:target') of everything under `root`, symlinks not followed."""
    found = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            found[rel] = "link:" + os.readlink(path)
        elif path.is_file():
            found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def _fuzz_dataset(rng: random.Random, folder: Path, outside: Path) -> None:
    subsets = [folder / "10_char", folder / "2_style", folder]
    for _ in range(rng.randint(5, 25)):
        where = rng.choice(subsets)
        where.mkdir(parents=True, exist_ok=True)
        ext = rng.choice([".png", ".jpg", ".jpeg", ".webp", ".PNG", ".gif", ".bmp"])
        name = _random_name(rng, ext)
        try:
            data = _png(rng)
            (where / name).write_bytes(_damaged(rng, data) if rng.random() < 0.4 else data)
            caption = where / (os.path.splitext(name)[0] + ".txt")
            if os.path.lexists(caption):  # two images with one stem: never write through the link made before
                continue
            roll = rng.random()
            if roll < 0.5:
                caption.write_bytes(_random_text(rng, rng.randint(0, 80)).encode("utf-8", "surrogatepass"))
            elif roll < 0.65:
                caption.write_bytes(os.urandom(rng.randint(0, 200)))
            elif roll < 0.75:
                caption.symlink_to(outside / "secret.txt")
            elif roll < 0.8:
                caption.mkdir()
            elif roll < 0.85 and hasattr(os, "mkfifo"):
                os.mkfifo(caption)
        except OSError:
            continue  # a name this file system refuses: not what is being tested
    (folder / "10_char").mkdir(exist_ok=True)
    (folder / "10_char" / "escape.png").symlink_to(outside / "picture.png")


def test_scan_and_batch_ops_of_random_files_never_trace_back_or_touch_the_outside(cli, tmp_path):
    rng = random.Random(SEED + 1)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("HF_TOKEN=hf_not_a_real_secret", encoding="utf-8")
    (outside / "picture.png").write_bytes(_png(rng))
    before = _snapshot(outside)
    deadline = time.monotonic() + SECONDS
    rounds = 0
    while time.monotonic() < deadline:
        rounds += 1
        folder = tmp_path / f"ds{rounds}"
        folder.mkdir()
        _fuzz_dataset(rng, folder, outside)
        name = f"ds{rounds}"
        for args in (("dataset", "add", folder, "--name", name, "--workers", "1"),
                     ("dataset", "scan", name), ("dataset", "show", name, "--json"),
                     ("dataset", "images", name, "--json"), ("tags", name, "add", "fuzz", "--position", "start"),
                     ("tags", name, "undo"), ("dataset", "dupes", name, "--json")):
            result = cli(*args)
            assert result.code in (0, 1, 2), (args, result)
            assert "Traceback" not in result.err and "Traceback" not in result.out, (args, result)
        listed = cli("dataset", "images", name, "--json")
        if listed.code == 0:
            assert "hf_not_a_real_secret" not in listed.out
    assert rounds >= 1
    assert _snapshot(outside) == before


def _random_archive(rng: random.Random) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for _ in range(rng.randint(0, 12)):
            roll = rng.random()
            if roll < 0.15:
                name = rng.choice(["../evil.txt", "/abs/evil.txt", "a/../../evil.txt", "C:\\evil.txt",
                                   "x" * 300 + ".png", "dir", "dir/file.png", "\x1b[2J.png", ""])
            else:
                name = "data/10_char/" + _random_name(rng, rng.choice([".png", ".txt", ".jpg", ""]))
            if not name:
                continue
            info = zipfile.ZipInfo(name)
            info.compress_type = rng.choice([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
            if rng.random() < 0.05:
                info.external_attr = (0o120777) << 16  # a symlink entry
            payload = _png(rng) if name.endswith((".png", ".jpg")) else os.urandom(rng.randint(0, 300))
            if rng.random() < 0.05:
                payload = b"\0" * (rng.randint(1, 4) * 1024 * 1024)
            try:
                archive.writestr(info, payload)
            except (ValueError, zipfile.BadZipFile):
                continue
    data = buffer.getvalue()
    return _damaged(rng, data) if rng.random() < 0.2 else data


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_import_of_random_archives_never_traces_back_or_writes_outside(cli, tmp_path):
    rng = random.Random(SEED + 2)
    into = tmp_path / "datasets"
    into.mkdir()
    watch = tmp_path / "watch"
    watch.mkdir()
    (watch / "keep.txt").write_text("unchanged", encoding="utf-8")
    before_tmp = set(os.listdir(tmp_path))
    deadline = time.monotonic() + SECONDS
    rounds = 0
    while time.monotonic() < deadline:
        rounds += 1
        archive = tmp_path / "archives" / f"a{rounds}.zip"
        archive.parent.mkdir(exist_ok=True)
        archive.write_bytes(_random_archive(rng))
        result = cli("dataset", "import", archive, "--name", f"imp{rounds}", "--into", into)
        assert result.code in (0, 2), result
        assert "Traceback" not in result.err, result
        assert not (tmp_path / "evil.txt").exists() and not Path("/abs/evil.txt").exists()
        for path in into.rglob("*"):
            assert path.resolve().is_relative_to(into.resolve()), path
    assert rounds >= 1
    assert (watch / "keep.txt").read_text(encoding="utf-8") == "unchanged"
    assert set(os.listdir(tmp_path)) - before_tmp <= {"archives", "home"}
