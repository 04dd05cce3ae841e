"""Where the sweeps of a training run are: ``<output_dir>/sweeps/*/sweep.json``.

The one lookup the library and the monitor use to list a run's sweeps (the sweep job writes its folders there).
"""

from __future__ import annotations

from pathlib import Path

from loratui.loras.sweep_manifest import MANIFEST_NAME

SWEEPS_DIR = "sweeps"


def find_sweeps(output_dir: Path | str | None) -> list[Path]:
    """The sweep folders under a run's output folder, newest first (none when the folder is unset or gone)."""
    if not output_dir:
        return []
    root = Path(output_dir).expanduser() / SWEEPS_DIR
    try:
        found = [path.parent for path in root.glob(f"*/{MANIFEST_NAME}") if path.is_file()]
    except OSError:
        return []
    return sorted(found, key=lambda folder: ((folder / MANIFEST_NAME).stat().st_mtime_ns, folder.name), reverse=True)
