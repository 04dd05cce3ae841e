"""`loratui` as a process for tests: ``python cli_entry.py ARGS...`` runs this checkout's CLI.

``patch_train_group`` is kept for callers written when the `train` run commands were a separate plug-in: the
`train` group now lives in one module (``loratui.cli.commands.train``), so there is nothing left to patch.
"""

from __future__ import annotations

import sys
from pathlib import Path


def patch_train_group(monkeypatch) -> None:
    """Nothing to do: `loratui train` has every subcommand (kept for older callers)."""


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from loratui.cli.main import main

    sys.exit(main())
