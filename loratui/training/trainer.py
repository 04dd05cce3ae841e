"""Where the trainer lives: the checkout, its Python, the script per family, and a version key for caches.

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

KOHYA_SCRIPTS = {
    "sd15": "train_network.py",
    "sdxl": "sdxl_train_network.py",
    "flux": "flux_train_network.py",
    "sd3": "sd3_train_network.py",
}
"""sd-scripts' LoRA training script per model family."""

def _musubi_scripts(prefix: str) -> dict[str, str]:
    return {"train": f"{prefix}_train_network.py", "cache_latents": f"{prefix}_cache_latents.py",
            "cache_text": f"{prefix}_cache_text_encoder_outputs.py"}


MUSUBI_SCRIPTS = {
    "qwen-image": _musubi_scripts("qwen_image"),
    "qwen-image-edit": _musubi_scripts("qwen_image"),  # the same scripts, with --model_version edit
    "z-image": _musubi_scripts("zimage"),
}
"""musubi-tuner's scripts per family: it caches latents and text outputs in separate runs before training."""

MUSUBI_SCRIPT_DIRS = ("src/musubi_tuner", ".")


@dataclass(frozen=True)
class Trainer:
    """An installed trainer."""

    backend: str
    root: Path
    python: str

    def script(self, family: str, phase: str = "train") -> Path:
        """Absolute path of the script for `family` (and musubi `phase`)."""
        if self.backend == "kohya":
            name = KOHYA_SCRIPTS.get(family)
            if name is None:
                raise TrainingError(f"sd-scripts has no LoRA script for family {family!r}")
            return self.root / name
        names = MUSUBI_SCRIPTS.get(family)
        if names is None:
            raise TrainingError(f"musubi-tuner has no scripts for family {family!r}")
        for folder in MUSUBI_SCRIPT_DIRS:
            candidate = self.root / folder / names[phase]
            if candidate.is_file():
                return candidate
        return self.root / MUSUBI_SCRIPT_DIRS[0] / names[phase]

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
