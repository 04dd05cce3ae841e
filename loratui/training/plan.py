"""The hand-over between configuring a training and running it.

``build_plan`` (in ``loratui.training.planner``) turns a validated training config into a ``TrainPlan``:
the files the trainer will read (written into the job folder) and, per phase, an argv list — never a shell
string. The runner/supervisor executes the phases in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from loratui.fsutil import atomic_write_text


@dataclass
class TrainPhase:
    """One process to run: kohya has one ('train'); musubi has cache_latents, cache_text, train."""

    name: str
    argv: list[str]
    cwd: str
    env: dict[str, str] = field(default_factory=dict)
    """Extra environment on top of the supervisor's (PYTHONUNBUFFERED=1 is always added)."""
    items: int | None = None
    """A caching phase's item count where the trainer prints one line per item (the progress total)."""


@dataclass
class TrainPlan:
    """Everything needed to start a training in `workdir`."""

    backend: str
    """'kohya' or 'musubi'."""
    family: str
    """A model family id (`loratui.training.families`)."""
    workdir: Path
    """The job folder; `files` are written here and argv refers to them by absolute path."""
    files: dict[str, str] = field(default_factory=dict)
    """File name (relative to workdir) -> text content: config TOML, dataset TOML, sample prompts."""
    phases: list[TrainPhase] = field(default_factory=list)
    output_dir: str = ""
    output_name: str = ""
    total_steps: int | None = None
    epochs: int | None = None
    save_state: bool = False

    def write_files(self) -> list[Path]:
        """Write `files` into `workdir`; returns their paths."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        written = []
        for name, text in self.files.items():
            path = self.workdir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, text)
            written.append(path)
        return written
