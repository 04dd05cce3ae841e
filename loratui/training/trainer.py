"""Where the trainer lives: the checkout, its Python, a family's script per phase, and a version key for caches.

Settings ``[trainers]`` in config.toml, overridden by ``LORATUI_KOHYA_DIR`` / ``LORATUI_KOHYA_PYTHON`` and
``LORATUI_MUSUBI_DIR`` / ``LORATUI_MUSUBI_PYTHON``. Without a configured Python, the checkout's own ``venv`` or
``.venv`` is used when present.
"""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass
from pathlib import Path

from loratui.errors import TrainingError
from loratui.training.families import find_family

MUSUBI_SCRIPT_DIRS = ("src/musubi_tuner", ".")
"""Where musubi-tuner's scripts are, in order: the package folder, then the root's wrappers (older checkouts)."""


@dataclass(frozen=True)
class Trainer:
    """An installed trainer."""

    backend: str
    root: Path
    python: str

    def script(self, family: str, phase: str = "train") -> Path:
        """Absolute path of the script `family` runs in `phase` (the family record names it)."""
        record = find_family(family)
        if record is None or record.trainer != self.backend:
            raise TrainingError(f"{self.backend} has no scripts for family {family!r}")
        name = record.scripts.get(phase)
        if name is None:
            raise TrainingError(f"family {family!r} has no {phase} phase")
        if self.backend == "kohya":
            return self.root / name
        for folder in MUSUBI_SCRIPT_DIRS:
            candidate = self.root / folder / name
            if candidate.is_file():
                return candidate
        return self.root / MUSUBI_SCRIPT_DIRS[0] / name

    def version_key(self) -> str:
        """The checkout's git commit, or (without .git) a hash of its training sources: the schema cache key."""
        if (self.root / ".git").exists():
            try:
                out = subprocess.run(["git", "-C", str(self.root), "rev-parse", "HEAD"], capture_output=True,
                                     text=True, timeout=10, check=False)
                if out.returncode == 0 and out.stdout.strip():
                    return out.stdout.strip()[:16]
            except (OSError, subprocess.SubprocessError):
                pass
        digest = hashlib.sha256()
        roots = [self.root / "library", self.root / "src"]
        files = sorted(self.root.glob("*.py")) + sorted(p for r in roots if r.is_dir() for p in r.rglob("*.py"))
        for path in files:
            try:
                digest.update(path.name.encode() + path.read_bytes())
            except OSError:
                continue
        return "src-" + digest.hexdigest()[:16]


def _venv_python(root: Path) -> str:
    for name in ("venv", ".venv"):
        candidate = root / name / "bin" / "python"
        if candidate.exists():
            return str(candidate)
    return ""


def find_trainer(ctx, backend: str, *, required: bool = True) -> Trainer | None:
    """The configured trainer for `backend`; None (or TrainingError when `required`) if not set up."""
    settings = ctx.settings.trainers
    folder = settings.kohya_dir if backend == "kohya" else settings.musubi_dir
    python = settings.kohya_python if backend == "kohya" else settings.musubi_python
    env = "LORATUI_KOHYA_DIR" if backend == "kohya" else "LORATUI_MUSUBI_DIR"
    if not folder:
        if required:
            raise TrainingError(f"no {backend} trainer configured",
                                hint=f"set {env} or trainers.{backend}_dir in config.toml")
        return None
    root = Path(folder).expanduser()
    if not root.is_dir():
        if required:
            raise TrainingError(f"{backend} trainer folder {root} does not exist")
        return None
    python = python or _venv_python(root)
    if not python:
        if required:
            raise TrainingError(f"no Python for {backend} at {root}",
                                hint=f"set {env.replace('_DIR', '_PYTHON')} to the Python of its venv")
        return None
    if not Path(python).expanduser().exists():
        if required:
            raise TrainingError(f"{backend} Python {python} does not exist")
        return None
    return Trainer(backend, root.resolve(), str(Path(python).expanduser()))
