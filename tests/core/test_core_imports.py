"""The core must stay importable without textual (checked in a clean subprocess)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO, python_subprocess_env

SCRIPT = r"""
import importlib, pkgutil, sys
import loratui
for info in pkgutil.walk_packages(loratui.__path__, "loratui."):
    if info.name.startswith("loratui.tui"):
        continue
    importlib.import_module(info.name)
    if "textual" in sys.modules:
        print("textual imported by", info.name)
        sys.exit(1)
print("ok")
"""


def test_core_never_imports_textual():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, cwd=REPO,
                            env=python_subprocess_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("ok")
