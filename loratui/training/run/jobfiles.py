"""What a training job keeps in its folder, and the trainer outputs it looks for.

``<home>/jobs/<id>/``: ``plan.json`` (the TrainPlan the supervisor runs, plus which phases to skip),
``train.log`` (the trainer's stdout and stderr, bytes as emitted, every phase appended), ``supervisor.log``
(the supervisor's own errors), ``trainer.json`` (the pid and identity of the phase's trainer, written the
moment it starts: a supervisor killed before it could record them in the job row leaves no trainer nobody
knows about). The trainer's output folder holds the LoRA files, ``<name>-...-state`` folders
(``train_state.json`` inside, for kohya) and ``sample/`` images.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from loratui.fsutil import atomic_write_text
from loratui.training.plan import TrainPhase, TrainPlan

PLAN_FILE = "plan.json"
LOG_FILE = "train.log"
SUPERVISOR_LOG = "supervisor.log"
TRAINER_FILE = "trainer.json"
LORA_EXTENSIONS = (".safetensors", ".ckpt", ".pt")
SAMPLE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".mp4")


@dataclass
class JobPlan:
    """A TrainPlan as stored for one job, with the phases a resume skips."""

    plan: TrainPlan
    skip_phases: list[str]
    resume_state: str | None = None
    resume_step: int = 0

    def to_json(self) -> str:
        """Serialised form for plan.json."""
        data = asdict(self.plan)
        data["workdir"] = str(self.plan.workdir)
        return json.dumps({"plan": data, "skip_phases": self.skip_phases, "resume_state": self.resume_state,
                           "resume_step": self.resume_step}, indent=2)

    @classmethod
    def from_json(cls, text: str) -> "JobPlan":
        """Read plan.json text."""
        data = json.loads(text)
        raw = dict(data["plan"])
        raw["phases"] = [TrainPhase(**phase) for phase in raw.get("phases", [])]
        raw["workdir"] = Path(raw["workdir"])
        return cls(TrainPlan(**raw), list(data.get("skip_phases", [])), data.get("resume_state"),
                   int(data.get("resume_step") or 0))


def write_job_plan(job_dir: Path, job_plan: JobPlan) -> Path:
    """Write plan.json into the job folder."""
    job_dir.mkdir(parents=True, exist_ok=True)
    path = job_dir / PLAN_FILE
    atomic_write_text(path, job_plan.to_json())
    return path


def write_trainer(job_dir: Path, pid: int, key: str) -> None:
    """Record the trainer process of the phase that starts now (its pid is its process group)."""
    atomic_write_text(job_dir / TRAINER_FILE, json.dumps({"pid": pid, "key": key}))


def read_trainer(job_dir: Path) -> tuple[int, str] | None:
    """(pid, identity key) of the last trainer started in the job folder, or None."""
    try:
        data = json.loads((job_dir / TRAINER_FILE).read_text(encoding="utf-8"))
        return int(data["pid"]), str(data["key"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def read_job_plan(job_dir: Path) -> JobPlan:
    """Read a job's plan.json."""
    return JobPlan.from_json((Path(job_dir) / PLAN_FILE).read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------------------------ states
@dataclass(frozen=True)
class SavedState:
    """A resumable state folder written by the trainer (``--save_state``)."""

    path: Path
    step: int
    epoch: int | None


_STEP_IN_NAME = re.compile(r"-step(\d+)-state$")


def read_state(path: Path, *, need_info: bool = True) -> SavedState | None:
    """A state folder's step and epoch from its train_state.json (kohya); without `need_info`, a folder without
    one counts too, its step taken from the name (musubi)."""
    info = path / "train_state.json"
    if info.is_file():
        try:
            data = json.loads(info.read_text(encoding="utf-8"))
            return SavedState(path, int(data.get("current_step", 0)), data.get("current_epoch"))
        except (ValueError, OSError, TypeError):
            return None
    if need_info or not any(path.iterdir()):
        return None
    match = _STEP_IN_NAME.search(path.name)
    # musubi-tuner writes no train_state.json: the step is in step-wise names only (epoch and last states: 0)
    return SavedState(path, int(match.group(1)) if match else 0, None)


def find_latest_state(output_dir: str | Path, output_name: str = "", *, newest: bool = False) -> SavedState | None:
    """The saved state with the highest step in `output_dir` (newest folder on ties), or with `newest` simply
    the most recently written one (musubi-tuner, whose states carry no step count)."""
    folder = Path(output_dir)
    if not folder.is_dir():
        return None
    found = []
    for entry in folder.iterdir():
        if not entry.is_dir() or not entry.name.endswith("-state"):
            continue
        if output_name and not entry.name.startswith(output_name):
            continue
        state = read_state(entry, need_info=not newest)
        if state is not None:
            found.append((state.step, entry.stat().st_mtime, state))
    if not found:
        return None
    return max(found, key=lambda item: (item[1],) if newest else (item[0], item[1]))[2]


# ------------------------------------------------------------------------------------------------ outputs
def final_lora(output_dir: str | Path, output_name: str) -> Path | None:
    """``<output_dir>/<output_name>.safetensors`` (or .ckpt/.pt) when the trainer wrote it."""
    if not output_dir or not output_name:
        return None
    for ext in LORA_EXTENSIONS:
        path = Path(output_dir) / f"{output_name}{ext}"
        if path.is_file():
            return path
    return None


# ------------------------------------------------------------------------------------------------ samples
_SAMPLE_NAME = re.compile(r"(?:^|_)(?:e(?P<epoch>\d{6})|(?P<step>\d{6}))_(?P<index>\d{2})_(?P<ts>\d{8,14})")


@dataclass(frozen=True)
class SampleImage:
    """A sample image the trainer wrote, with the step (or epoch) in its name."""

    path: str
    step: int | None
    epoch: int | None
    index: int | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for job_events."""
        return asdict(self)


def parse_sample_name(name: str) -> tuple[int | None, int | None, int | None]:
    """(step, epoch, prompt index) from sd-scripts' ``<name>_<NNNNNN|eNNNNNN>_<ii>_<timestamp>.png``."""
    match = None
    for match in _SAMPLE_NAME.finditer(name):
        pass
    if match is None:
        return None, None, None
    step = int(match.group("step")) if match.group("step") else None
    epoch = int(match.group("epoch")) if match.group("epoch") else None
    return step, epoch, int(match.group("index"))


class SampleWatcher:
    """Finds sample images that appear in ``<output_dir>/sample`` after it was created."""

    def __init__(self, output_dir: str | Path) -> None:
        self.folder = Path(output_dir) / "sample" if output_dir else None
        self.known: set[str] = set(self._names())

    def _names(self) -> list[str]:
        if self.folder is None:
            return []
        try:
            return [e.name for e in os.scandir(self.folder) if e.name.lower().endswith(SAMPLE_EXTENSIONS)]
        except OSError:
            return []

    def poll(self, current_step: int | None = None) -> list[SampleImage]:
        """New images since the last poll, oldest name first; the step comes from the name when it has one."""
        new = sorted(n for n in self._names() if n not in self.known)
        out = []
        for name in new:
            self.known.add(name)
            step, epoch, index = parse_sample_name(name)
            out.append(SampleImage(str(self.folder / name), step if step is not None else current_step, epoch,
                                   index))
        return out
