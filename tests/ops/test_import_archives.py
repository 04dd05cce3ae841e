"""Hostile archives for `dataset import` (issue 13, items 7 and 11): bombs, limits, names, free space, atomicity.

Each refused archive must end in one ArchiveError (or DiskSpaceError) and leave nothing behind: not the dataset
folder, not the temporary folder it is built in.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
import zipfile
from collections import namedtuple

import pytest

from loratui.datasets.archives import TEMP_PREFIX, ImportLimits, safe_extract
from loratui.errors import ArchiveError, LoratuiError
from loratui.http_download import DiskSpaceError
from tests.ops.webserver import raw_zip

MIB = 1024 * 1024


def _tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _zip(path, entries, compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in entries:
            zf.writestr(zipfile.ZipInfo(name) if isinstance(name, str) else name, data)
    return path


def _refused(tmp_path, archive, match, limits=ImportLimits(), error=ArchiveError):
    before = _tree(tmp_path)
    with pytest.raises(error, match=match) as caught:
        safe_extract(archive, tmp_path / "out" / "new", limits)
    assert _tree(tmp_path) == before  # no dataset folder, no temporary folder, no parent folder
    return caught.value


def test_a_bomb_of_many_medium_entries_is_refused(tmp_path):
    # The archive: 3,000 entries of 1 MiB - 1 of zeros, 3.4 MB on disk, 3.1 GB expanded.
    bomb = raw_zip(tmp_path / "bomb.zip", [("z/zeros.bin", b"\0" * (MIB - 1))], copies=3000)
    with zipfile.ZipFile(bomb) as zf:  # a valid zip, not a broken one
        assert len(zf.infolist()) == 3000 and zf.read("z/zeros.bin-2999") == b"\0" * (MIB - 1)
    assert bomb.stat().st_size < 4 * MIB
    _refused(tmp_path, bomb, "zip bomb")


def test_many_entries_under_the_per_entry_floor_are_caught_by_the_whole_archive_ratio(tmp_path):
    small = ImportLimits().ratio_floor - 1
    bomb = raw_zip(tmp_path / "bomb.zip", [("z.bin", b"\0" * small)], copies=2000)
    error = _refused(tmp_path, bomb, "zip bomb")
    assert "2000 files" in error.message and "the archive" in error.message


def test_a_single_entry_bomb_is_refused(tmp_path):
    bomb = raw_zip(tmp_path / "bomb.zip", [("zeros.bin", b"\0" * (64 * MIB))])
    _refused(tmp_path, bomb, r"entry 'zeros.bin' expands \d+x")


def test_overlapping_entries_are_refused(tmp_path):
    bomb = raw_zip(tmp_path / "bomb.zip", [("data.bin", os.urandom(200_000))], deflate=False, overlap=50)
    _refused(tmp_path, bomb, "overlapping entries")


def test_too_many_entries_and_too_much_data_are_refused(tmp_path):
    archive = _zip(tmp_path / "many.zip", [(f"d/{i}.txt", b"tag") for i in range(11)])
    _refused(tmp_path, archive, "11 entries, over the limit of 10", ImportLimits(max_files=10))
    big = _zip(tmp_path / "big.zip", [("a.bin", os.urandom(300_000))])
    _refused(tmp_path, big, "over the limit of", ImportLimits(max_total_bytes=200_000))


def test_the_limits_come_from_the_settings(cli, home, tmp_path):
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text("[dataset_tools]\nimport_max_files = 3\n")
    archive = _zip(tmp_path / "four.zip", [(f"d/{i}.txt", b"tag") for i in range(4)])
    result = cli("dataset", "import", archive, "--name", "four", "--into", tmp_path / "datasets")
    assert result.code == 2 and "4 entries, over the limit of 3" in result.err, result
    assert "Traceback" not in result.err and not (tmp_path / "datasets" / "four").exists()


@pytest.mark.parametrize("entries, message", [
    ([("a", b"file"), ("a/b.txt", b"inside")], "'a' is a file, but 'a/b.txt' uses it as a folder"),
    ([("d/a/b.txt", b"inside"), ("d/a", b"file")], "'d/a' is a file"),
    ([("a/", b""), ("a", b"file")], "'a' is a file"),
    ([("x/y.txt", b"1"), ("x//y.txt", b"2")], "are the same file"),
    ([("x\\y.txt", b"1"), ("x/y.txt", b"2")], "are the same file"),
    ([("d/" + "n" * 300 + ".png", b"png")], "over the file system's limit of 255"),
    ([("d/" + "é" * 130 + ".txt", b"txt")], "264 bytes, over the file system's limit of 255"),
    ([("d/" + "/".join(["p" * 200] * 25) + "/a.txt", b"deep")], "path over the file system's limit"),
    ([("d/NUL.txt", b"x")], "reserved device name 'NUL'"),
    ([("d/com1", b"x")], "reserved device name 'com1'"),
    ([("d/a\x1b[31m.txt", b"x")], "control characters"),
    ([("\\evil.txt", b"x")], "absolute path"),
    ([("d/..\\..\\evil.txt", b"x")], "climbs out"),
])
def test_unusable_names_are_refused(tmp_path, entries, message):
    archive = _zip(tmp_path / "names.zip", entries, compression=zipfile.ZIP_STORED)
    _refused(tmp_path, archive, message)


@pytest.mark.parametrize("kind", [0o020000, 0o060000, 0o010000, 0o140000], ids=["chr", "blk", "fifo", "sock"])
def test_special_file_entries_are_refused(tmp_path, kind):
    info = zipfile.ZipInfo("d/dev")
    info.external_attr = (kind | 0o644) << 16
    _refused(tmp_path, _zip(tmp_path / "dev.zip", [(info, b"")]), "device, FIFO or socket")


def test_names_are_refused_cleanly_from_the_cli(cli, tmp_path):
    archive = _zip(tmp_path / "clash.zip", [("a", b"file"), ("a/b.txt", b"inside"), ("c/" + "x" * 300, b"")])
    result = cli("dataset", "import", archive, "--name", "clash", "--into", tmp_path / "datasets")
    assert result.code == 2 and "is a file, but" in result.err and "Traceback" not in result.err, result
    long = _zip(tmp_path / "long.zip", [("c/" + "x" * 300, b"")])
    result = cli("dataset", "import", long, "--name", "long", "--into", tmp_path / "datasets")
    assert result.code == 2 and "over the file system's limit of 255" in result.err, result
    result = cli("dataset", "import", long, "--name", "n" * 300, "--into", tmp_path / "datasets")
    assert result.code == 2 and "over the 255 a folder name may have" in result.err, result
    assert not (tmp_path / "datasets").exists() or not list((tmp_path / "datasets").iterdir())


def test_not_enough_space_to_extract_names_both_numbers(tmp_path, monkeypatch):
    archive = _zip(tmp_path / "ok.zip", [("a.bin", os.urandom(100_000))])
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr("shutil.disk_usage", lambda path: usage(10**9, 10**9 - 5000, 5000))
    error = _refused(tmp_path, archive, "needs 97.66 KiB \\(100000 bytes\\)", error=DiskSpaceError)
    assert "only 4.88 KiB (5000 bytes) are free" in error.message


def test_a_damaged_entry_leaves_nothing_behind(tmp_path):
    archive = _zip(tmp_path / "crc.zip", [("a.txt", b"fine" * 100), ("b.bin", os.urandom(50_000))],
                   compression=zipfile.ZIP_STORED)
    data = bytearray(archive.read_bytes())
    data[data.index(b"b.bin") + 100] ^= 0xFF  # flip a byte of b.bin's data: its CRC no longer matches
    archive.write_bytes(bytes(data))
    _refused(tmp_path, archive, "entry 'b.bin' is damaged")


def test_extraction_is_atomic_and_cleans_up_after_a_killed_import(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    parent = tmp_path / "datasets"
    leftover = parent / f"{TEMP_PREFIX}{int(dead.stdout)}-abc123"
    (leftover / "10_x").mkdir(parents=True)
    mine = parent / f"{TEMP_PREFIX}{os.getpid()}-live"  # a running import's folder is left alone
    mine.mkdir()
    archive = _zip(tmp_path / "ok.zip", [("10_x/a.txt", b"tag")])
    report = safe_extract(archive, parent / "new")
    assert report.files == 1 and sorted(p.name for p in parent.iterdir()) == sorted(["new", mine.name])


def test_random_archives_never_raise_anything_but_a_loratui_error(tmp_path):
    seed = _zip(tmp_path / "seed.zip", [("d/a.png", os.urandom(3000)), ("d/a.txt", b"1girl, solo" * 20),
                                        ("d/sub/b.txt", b"x" * 5000)])
    good = seed.read_bytes()
    rng = random.Random(13)
    outside = _tree(tmp_path)
    deadline = time.monotonic() + 4
    runs = 0
    while time.monotonic() < deadline:
        data = bytearray(good)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.2:
            del data[rng.randrange(len(data)):]
        fuzzed = tmp_path / "fuzzed.zip"
        fuzzed.write_bytes(bytes(data))
        dest = tmp_path / "out" / f"n{runs}"
        try:
            safe_extract(fuzzed, dest)
        except LoratuiError:
            assert not dest.exists()
        runs += 1
    names = [rng.choice(["..", ".", "a", "é", "\\", "/", "NUL", "x" * 120, "\x00", "b.txt"]) for _ in range(200)]
    for index in range(40):
        name = "".join(rng.sample(names, rng.randint(1, 6)))
        try:
            safe_extract(_zip(tmp_path / "names.zip", [(name, b"x"), ("ok.txt", b"y")]), tmp_path / "out" / f"m{index}")
        except LoratuiError:
            pass
    created = set(_tree(tmp_path)) - set(outside)
    assert all(p.startswith(("out", "fuzzed.zip", "names.zip")) for p in created), created
    assert runs > 50
