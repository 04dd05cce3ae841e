"""A tagging job killed with SIGKILL resumes: finished images are not tagged again."""

from __future__ import annotations

import importlib.util
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

_root = importlib.util.spec_from_file_location("root_conftest", Path(__file__).parents[1] / "conftest.py")
root_conftest = importlib.util.module_from_spec(_root)
_root.loader.exec_module(root_conftest)
_spec = importlib.util.spec_from_file_location("tagging_fixtures", Path(__file__).with_name("conftest.py"))
fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixtures)

IMAGES = 150
CANCEL_IMAGES = 400
"""More for the cancel test: the job must still be running when the cancel (polled every 0.5 s) lands."""


def _items(db: Path) -> int:
    conn = sqlite3.connect(db, timeout=30)
    try:
        return conn.execute("SELECT COUNT(*) FROM job_items").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def test_killed_job_resumes_without_redoing_images(cli, home, tmp_path, image_factory):
    model = fixtures.build_model(tmp_path / "slow-model", slow=True)
    root = tmp_path / "many"
    colours = [fixtures.RED, fixtures.GREEN, fixtures.BLUE]
    for number in range(IMAGES):
        image_factory(root / "1_x" / f"img{number:03d}.png", size=(40, 30), color=colours[number % 3])
        if number % 10 == 0:  # overwrite mode must replace these too
            (root / "1_x" / f"img{number:03d}.txt").write_text("old caption", encoding="utf-8")
    assert cli("dataset", "add", root, "--name", "many").code == 0
    args = ["tag", "many", "--model", str(model), "--mode", "overwrite", "--batch-size", "1", "--workers", "1"]
    env = root_conftest.python_subprocess_env({"LORATUI_HOME": str(home)})
    proc = subprocess.Popen([sys.executable, "-m", "loratui", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    db = home / "loratui.db"
    deadline = time.monotonic() + 60
    while _items(db) < 64:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "the job never wrote its first batch"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()

    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    job = conn.execute("SELECT * FROM jobs").fetchone()
    assert job["status"] == "running"  # nobody marked it: the process died
    done_first = {r["item"] for r in conn.execute("SELECT item FROM job_items")}
    assert 64 <= len(done_first) < IMAGES, "kill the job in the middle"
    first_mtimes = {}
    for item in done_first:
        caption = (root / item).with_suffix(".txt")
        assert caption.exists()
        first_mtimes[item] = caption.stat().st_mtime_ns
    listing = cli("jobs", "--json")
    assert listing.json()[0]["status"] == "interrupted"

    time.sleep(0.05)  # a rewrite would get a later mtime
    result = cli(*args[:-4], "--batch-size", "4", "--json")  # batch size and workers do not change the job
    assert result.code == 0, result
    report = result.json()
    assert report["job_id"] == job["id"] and report["resumed"] == len(done_first)
    assert report["written"] + report["unchanged"] == IMAGES - len(done_first)
    for item, mtime in first_mtimes.items():
        assert (root / item).with_suffix(".txt").stat().st_mtime_ns == mtime, f"{item} was tagged again"
    final = conn.execute("SELECT status, progress_done, progress_total FROM jobs WHERE id = ?", (job["id"],)).fetchone()
    assert tuple(final) == ("completed", IMAGES, IMAGES)
    assert conn.execute("SELECT COUNT(*) FROM job_items WHERE job_id = ?", (job["id"],)).fetchone()[0] == IMAGES
    captions = [(root / "1_x" / f"img{n:03d}.txt").read_text(encoding="utf-8") for n in range(IMAGES)]
    assert "old caption" not in captions
    assert all("red_theme" in c for c in captions[0::3]) and all("green_theme" in c for c in captions[1::3])


def test_cancel_from_another_process_stops_between_batches_and_resumes(cli, home, tmp_path, image_factory):
    model = fixtures.build_model(tmp_path / "slow-model", slow=True)
    root = tmp_path / "some"
    for number in range(CANCEL_IMAGES):
        image_factory(root / "1_x" / f"img{number:03d}.png", size=(40, 30), color=fixtures.RED)
    assert cli("dataset", "add", root, "--name", "some").code == 0
    args = ["tag", "some", "--model", str(model), "--batch-size", "1", "--workers", "1"]
    env = root_conftest.python_subprocess_env({"LORATUI_HOME": str(home)})
    proc = subprocess.Popen([sys.executable, "-m", "loratui", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    db = home / "loratui.db"
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline
        conn = sqlite3.connect(db, timeout=30)
        try:
            row = conn.execute("SELECT id, progress_done FROM jobs WHERE status = 'running'").fetchone()
        except sqlite3.OperationalError:
            row = None
        conn.close()
        if row and row[1] >= 1:
            break
        time.sleep(0.02)
    assert cli("jobs", "cancel", row[0]).code == 0
    assert proc.wait(timeout=30) == 1
    assert "cancelled; what finished is kept" in proc.stderr.read().decode()
    proc.stderr.close()
    job = cli("jobs", "--json").json()[0]
    assert job["status"] == "cancelled" and job["progress_done"] < CANCEL_IMAGES
    written = sorted(p.name for p in (root / "1_x").glob("*.txt"))
    assert 1 <= len(written) < CANCEL_IMAGES  # what was scored before the cancel is kept
    result = cli(*args, "--json")
    assert result.code == 0 and result.json()["job_id"] == row[0]
    assert result.json()["resumed"] == len(written)
    assert len(list((root / "1_x").glob("*.txt"))) == CANCEL_IMAGES
