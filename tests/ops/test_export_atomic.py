"""Issue 13 items 10 and 2: exports are atomic (full disks leave nothing, reruns work) and never copy a link."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO, python_subprocess_env
from tests.core.badinput import noisy


@pytest.fixture
def dataset(tmp_path, cli) -> Path:
    """'ex': a.png (small), b_big.png (~400 KB: over the file-size limits below), c.png; captions, one a link."""
    root = tmp_path / "ds"
    root.mkdir()
    noisy((40, 40), seed=1).save(root / "a.png")
    noisy((380, 380), seed=2).save(root / "b_big.png")
    noisy((40, 40), seed=3).save(root / "c.png")
    (root / "a.txt").write_text("a, tag")
    (root / "b_big.txt").write_text("big, tag")
    (tmp_path / "secret.txt").write_text("SECRET_TOKEN")
    os.symlink(tmp_path / "secret.txt", root / "c.txt")
    assert cli("dataset", "add", root, "--name", "ex", "--workers", "1").code == 0
    return root


def _export_with_file_limit(out: Path, limit: int, *extra: str) -> subprocess.CompletedProcess:
    """`loratui dataset export ex OUT` with RLIMIT_FSIZE = `limit` (SIGXFSZ ignored: a write past it is EFBIG)."""
    code = ("import resource, signal, sys\n"
            "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
            f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))\n"
            "from loratui.cli.main import main\n"
            f"sys.exit(main(['dataset', 'export', 'ex', {str(out)!r}, *{list(extra)!r}]))\n")
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=python_subprocess_env(), capture_output=True,
                          text=True, timeout=120)


def _siblings(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


@pytest.mark.timeout(180)
@pytest.mark.parametrize("fmt", ["kohya", "zip"])
def test_a_full_disk_leaves_nothing_and_a_rerun_works(dataset, tmp_path, cli, fmt):
    """Item 10: a full disk left a partial folder with a 0-byte image, and a rerun refused the non-empty folder."""
    out = tmp_path / "exports" / ("out.zip" if fmt == "zip" else "out")
    failed = _export_with_file_limit(out, 200_000, "--format", fmt)
    assert failed.returncode == 2, failed
    assert "over the size limit" in failed.stderr and "nothing was exported" in failed.stderr, failed.stderr
    assert failed.stderr.count("\n") == 1 and "Traceback" not in failed.stderr
    assert not out.exists() and _siblings(out) == []

    again = cli("dataset", "export", "ex", out, "--format", fmt, "--json")
    assert again.code == 0, again
    report = again.json()
    assert report["images"] == 3 and _siblings(out) == []
    if fmt == "zip":
        assert sorted(zipfile.ZipFile(out).namelist()) == ["1_ex/a.png", "1_ex/a.txt", "1_ex/b_big.png",
                                                          "1_ex/b_big.txt", "1_ex/c.png"]
    else:
        assert (out / "1_ex" / "b_big.png").read_bytes() == (dataset / "b_big.png").read_bytes()


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir()
    if os.geteuid() != 0:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


@pytest.mark.timeout(120)
def test_a_really_full_disk(dataset, tmp_path, cli):
    """The same on a real full filesystem: a 256 KiB tmpfs (needs root to mount; skipped otherwise)."""
    disk = tmp_path / "small"
    if not _mount_tmpfs(disk, "256k"):
        pytest.skip("cannot mount a tmpfs here")
    try:
        result = cli("dataset", "export", "ex", disk / "out")
        assert result.code == 2 and "the disk is full" in result.err and "nothing was exported" in result.err, result
        assert os.listdir(disk) == []
        result = cli("dataset", "export", "ex", disk / "out.zip", "--format", "zip")
        assert result.code == 2 and "the disk is full" in result.err, result
        assert os.listdir(disk) == []
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_symlinked_captions_and_images_are_not_exported(dataset, tmp_path, cli):
    """Item 2: export copied what a symlinked caption pointed to (folder and zip)."""
    outside = tmp_path / "outside.png"
    noisy((30, 30), seed=4).save(outside)
    os.symlink("a.png", dataset / "alias.png")  # inside the dataset: exported as the file it names
    noisy((30, 30), seed=5).save(dataset / "d.png")
    assert cli("dataset", "scan", "ex").code == 0
    os.unlink(dataset / "d.png")
    os.symlink(outside, dataset / "d.png")  # swapped for a link leaving the dataset after the scan
    for out, fmt in ((tmp_path / "k", "kohya"), (tmp_path / "k.zip", "zip")):
        result = cli("dataset", "export", "ex", out, "--format", fmt, "--json")
        assert result.code == 0, result
        report = result.json()
        skipped = dict(map(tuple, report["skipped"]))
        assert "symlink" in skipped["c.txt"] and "outside the dataset" in skipped["d.png"], skipped
        assert report["images"] == 4 and report["captions"] == 2  # a, alias, b_big, c; a.txt and b_big.txt
        if fmt == "zip":
            names = zipfile.ZipFile(out).namelist()
            contents = b"".join(zipfile.ZipFile(out).read(n) for n in names)
        else:
            names = [p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()]
            contents = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())
            assert not any(p.is_symlink() for p in out.rglob("*"))
        assert "1_ex/c.txt" not in names and "1_ex/d.png" not in names and "1_ex/alias.png" in names
        assert b"SECRET_TOKEN" not in contents


def test_existing_targets_are_refused_and_killed_exports_cleaned(dataset, tmp_path, cli):
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    result = cli("dataset", "export", "ex", full)
    assert result.code == 2 and "not an empty folder" in result.err
    assert os.listdir(full) == ["keep.txt"]
    (tmp_path / "x.zip").write_text("mine")
    assert "already exists" in cli("dataset", "export", "ex", tmp_path / "x.zip", "--format", "zip").err

    empty = tmp_path / "empty"
    empty.mkdir()
    # An export killed with SIGKILL leaves its temporary folder; the next export to the same target removes it.
    killed = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    stale = tmp_path / f".empty.export-{killed.pid}-dead.part"
    (stale / "1_ex").mkdir(parents=True)
    (stale / "1_ex" / "a.png").write_bytes(b"")
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    live = tmp_path / f".empty.export-{os.getpid()}-live.part"
    live.mkdir()
    assert cli("dataset", "export", "ex", empty).code == 0
    assert sorted(os.listdir(empty / "1_ex")) == ["a.png", "a.txt", "b_big.png", "b_big.txt", "c.png"]
    assert not stale.exists() and live.exists()  # a running export's folder is left alone
