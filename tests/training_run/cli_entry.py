"""`loratui` as a process for tests: ``python cli_entry.py ARGS...`` runs this checkout's CLI."""

from __future__ import annotations

import sys
from pathlib import Path


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from loratui.cli.main import main

    sys.exit(main())
