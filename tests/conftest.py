"""Shared fixtures: an isolated loratui home, image factories, and an in-process CLI runner."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
"""Recorded real sd-scripts logs and a real LoRA file; `tests/fixtures/README.md` says how each was made."""


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A fresh LORATUI_HOME for one test."""
    path = tmp_path / "home"
    monkeypatch.setenv("LORATUI_HOME", str(path))
    for var in ("LORATUI_KOHYA_DIR", "LORATUI_KOHYA_PYTHON", "LORATUI_MUSUBI_DIR", "LORATUI_MUSUBI_PYTHON",
                "LORATUI_FAKE_GPUS"):
        monkeypatch.delenv(var, raising=False)
    return path


class CliResult:
    """Exit code and captured output of one in-process CLI call."""

    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def json(self):
        """stdout parsed as JSON."""
        return json.loads(self.out)

    def __repr__(self) -> str:
        return f"CliResult(code={self.code}, out={self.out[-500:]!r}, err={self.err[-500:]!r})"


@pytest.fixture
def cli(home):
    """Run `loratui ARGS...` in-process against the test home; returns a CliResult."""
    from loratui.cli.main import main

    def run(*args: str) -> CliResult:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([str(a) for a in args])
            except SystemExit as exc:  # argparse errors and --help
                code = exc.code if isinstance(exc.code, int) else 1
        return CliResult(code, out.getvalue(), err.getvalue())

    return run


def make_image(path: Path, size=(64, 48), color=(200, 30, 30), fmt=None, mode="RGB", **save_kwargs) -> Path:
    """Write a small real image (pattern, so hashes differ by color) and return its path."""
    from PIL import Image, ImageDraw

    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new(mode, size, color)
    draw = ImageDraw.Draw(image)
    w, h = size
    draw.rectangle([w // 4, h // 4, w // 2, h // 2], fill=tuple(255 - c for c in color) if mode == "RGB" else None)
    image.save(path, format=fmt, **save_kwargs)
    return path


@pytest.fixture
def image_factory():
    """The `make_image` helper as a fixture."""
    return make_image


def python_subprocess_env(extra: dict | None = None) -> dict:
    """Environment for `python -m loratui` subprocesses that import this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(extra or {})
    return env


PYTHON = sys.executable
