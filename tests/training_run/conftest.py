"""Fixtures for training-run tests (helpers live in trhelpers.py, importable from the tests)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
HERE = Path(__file__).resolve().parent


@pytest.fixture
def ctx(home):
    """A Context on the test home with short cancel waits; every job process is gone after the test."""
    from loratui.config import Context

    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        "[training_run]\ncancel_sigint_wait_s = 1.0\ncancel_sigterm_wait_s = 1.0\nlog_poll_s = 0.05\n"
        "db_write_interval_s = 0.2\n"
    )
    yield Context.load(home)
    from trhelpers import kill_job_processes

    kill_job_processes(home)



@pytest.fixture
def train_cli(cli, ctx, home, tmp_path, monkeypatch, image_factory):
    """The `cli` runner with a registered dataset and a stand-in sd-scripts checkout (see test_cli.py)."""
    monkeypatch.setenv("LORATUI_KOHYA_DIR", str(HERE / "fake_sd_scripts"))
    monkeypatch.setenv("LORATUI_KOHYA_PYTHON", sys.executable)
    data = tmp_path / "data"
    for i in range(4):
        image_factory(data / "10_tinyconcept" / f"img{i}.png", size=(64, 64), color=(20 * i, 100, 150))
        (data / "10_tinyconcept" / f"img{i}.txt").write_text("tinyconcept, smiling")
    assert cli("dataset", "add", data, "--name", "tiny").code == 0
    return cli
