"""What a sweep renders from: a training job's checkpoints, model files and sample prompts, or LoRA files.

A training job's output folder holds ``NAME-000002.safetensors`` (saved each epoch), ``NAME-step00000400.safetensors``
(saved each N steps) and the final ``NAME.safetensors``, as both sd-scripts and musubi-tuner name them. The base
model files, the trainer's options and the sample prompts come from the job's ``plan.json`` (and the
``--config_file`` TOML an sd-scripts training reads). A list of LoRA files names its family through its keys and
metadata (``models.identify``); the base model then comes from the command line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loratui.config import tomllib
from loratui.errors import ConfigError, LoraError
from loratui.jobs.model import Job
from loratui.models.identify import identify
from loratui.training.families import get_family
from loratui.training.run import jobfiles

_SUFFIX = re.compile(r"-(?:(?P<epoch>\d{6})|step(?P<step>\d{8}))$")
CATALOG_TO_FAMILY = {"sd1": "sd15", "sd2": "sd2", "sdxl": "sdxl", "qwen-image": "qwen-image"}
"""``models.identify`` family ids -> training family ids, for the families a sweep can render."""


@dataclass(frozen=True)
class Checkpoint:
    """One LoRA file to render, with the epoch or step its name says (both None for the final one)."""

    path: str
    epoch: int | None = None
    step: int | None = None
    final: bool = False


@dataclass
class SweepSource:
    """Everything the sweep needs to know about what it renders."""

    family: str
    backend: str
    checkpoints: list[Checkpoint]
    args: dict[str, Any] = field(default_factory=dict)
    """The training's options (model files, v2, tokenizer cache, network module, ...) by argparse dest."""
    sample_prompts: list[str] = field(default_factory=list)
    job_id: int | None = None
    dataset_id: int | None = None
    dataset_name: str | None = None
    """The ``dataset`` a training's config names (its prompt sets are the sweep's)."""
    output_dir: str = ""


def checkpoint_of(path: Path, output_name: str) -> Checkpoint | None:
    """The checkpoint a file of a training is (None when its name is not ``NAME``, ``NAME-NNNNNN`` or
    ``NAME-stepNNNNNNNN``)."""
    stem = path.stem
    if stem == output_name:
        return Checkpoint(str(path), final=True)
    if not stem.startswith(output_name):
        return None
    match = _SUFFIX.fullmatch(stem[len(output_name):])
    if not match:
        return None
    return Checkpoint(str(path), epoch=int(match["epoch"]) if match["epoch"] else None,
                      step=int(match["step"]) if match["step"] else None)


def find_checkpoints(output_dir: str | Path, output_name: str) -> list[Checkpoint]:
    """The LoRA files a training saved, in training order (epoch-wise and step-wise by number, the final last)."""
    folder = Path(output_dir)
    if not folder.is_dir():
        return []
    found = [c for p in folder.iterdir() if p.suffix == ".safetensors" and p.is_file()
             for c in [checkpoint_of(p, output_name)] if c is not None]
    return sorted(found, key=lambda c: (c.final, c.epoch if c.epoch is not None else -1,
                                        c.step if c.step is not None else -1))


def _argv_options(argv: list[str]) -> dict[str, Any]:
    """``--name value`` / ``--flag`` pairs of an argv (from the first option on) by dest."""
    out: dict[str, Any] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--"):
            name = arg[2:]
            if "=" in name:
                name, value = name.split("=", 1)
                out[name] = value
            elif i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                values = []
                while i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                    values.append(argv[i + 1])
                    i += 1
                out[name] = values[0] if len(values) == 1 else values
            else:
                out[name] = True
        i += 1
    return out


def train_args(argv: list[str]) -> dict[str, Any]:
    """The options a train phase ran with: its ``--config_file`` TOML (sections flattened), then its argv."""
    script = next((i for i, a in enumerate(argv) if a.endswith(".py")), -1)
    options = _argv_options(argv[script + 1:])
    args: dict[str, Any] = {}
    config = options.get("config_file")
    if isinstance(config, str):
        try:
            data = tomllib.loads(Path(config).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read the training's config file {config}: {exc}") from None
        for key, value in data.items():
            if isinstance(value, dict):
                args.update(value)
            else:
                args[key] = value
    args.update(options)
    return args


def _read_sample_prompts(path: Any) -> list[str]:
    if not isinstance(path, str):
        return []
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def from_job(job: Job) -> SweepSource:
    """The checkpoints, options and sample prompts of a training job (LoraError when it saved no LoRA yet)."""
    if job.kind != "train":
        raise LoraError(f"job {job.id} is a {job.kind} job, not a training", title="Not a training")
    if not job.workdir:
        raise LoraError(f"job {job.id} has no job folder", title="Not a training")
    plan = jobfiles.read_job_plan(Path(job.workdir)).plan
    train = next((p for p in plan.phases if p.name == "train"), None)
    args = train_args(train.argv) if train else {}
    checkpoints = find_checkpoints(plan.output_dir, plan.output_name)
    if not checkpoints:
        raise LoraError(f"training {job.id} saved no LoRA in {plan.output_dir or 'its output folder'} yet",
                        title="Nothing to sweep",
                        hint="sweep once it saved a checkpoint (save_every_n_epochs or save_every_n_steps)")
    return SweepSource(plan.family, plan.backend, checkpoints, args, _read_sample_prompts(args.get("sample_prompts")),
                       job.id, job.dataset_id, _config_dataset(job.params.get("config")), plan.output_dir)


def _config_dataset(config: Any) -> str | None:
    """The dataset name a loratui training config gives (``dataset = "NAME"``), if any."""
    if not isinstance(config, str):
        return None
    try:
        name = tomllib.loads(Path(config).read_text(encoding="utf-8")).get("dataset")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    return name if isinstance(name, str) and name else None


def family_of_file(path: str | Path) -> str:
    """The training family of a LoRA file from its keys and metadata (LoraError when it cannot be told or a sweep
    cannot render it)."""
    info = identify(path)
    if info.kind != "lora":
        raise LoraError(f"{path} is not a LoRA ({info.kind})", title="Not a LoRA")
    if info.family is None:
        raise LoraError(f"cannot tell which model family {path} is for", title="Unknown family",
                        hint="pass --family")
    family = CATALOG_TO_FAMILY.get(info.family)
    if family is None:
        raise LoraError(f"{path} is a {info.family} LoRA; sweeps render " + ", ".join(sorted(CATALOG_TO_FAMILY)),
                        title="Family not supported")
    if family == "sd2" and str(info.metadata.get("ss_v_parameterization", "")).lower() == "true":
        family = "sd2-v"
    return family


def from_files(paths: list[str], family: str | None = None) -> SweepSource:
    """A sweep over LoRA files given by path, in the order given (they must all be for one family)."""
    checkpoints = []
    families = set()
    for raw in paths:
        path = Path(raw).expanduser().resolve()
        if not path.is_file():
            raise LoraError(f"{raw} is not a file", title="LoRA not found")
        if family is None:
            families.add(family_of_file(path))
        checkpoints.append(Checkpoint(str(path)))
    if family is None:
        if len(families) > 1:
            raise LoraError("the LoRAs are for different families: " + ", ".join(sorted(families)),
                            title="Mixed families")
        family = families.pop()
    backend = get_family(family).trainer
    return SweepSource(family, backend, checkpoints)
