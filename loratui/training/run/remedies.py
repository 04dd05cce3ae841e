"""What to change when a training ran out of GPU memory, and applying one change to a copy of its config.

``remedies_for`` lists the memory savers the family's trainer really has (the options of its train script, from
the schema): gradient checkpointing, caching latents and text-encoder outputs to disk (sd-scripts; musubi-tuner
always caches to disk in its own phases), an fp8 base model, swapping transformer blocks to the CPU
(``blocks_to_swap``), a smaller batch, a lower resolution. Each remedy is a few ``[args]`` values; one already
in effect is not offered. ``apply_remedy`` writes a NEW config file with the job's config (its ``--set``
overrides included) plus the remedy, beside the original config; the original is never touched. Starting a
training from the copy (``loratui train start COPY`` or ``train remedies JOB --apply N --start``) is the retry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loratui.errors import JobError, NotFoundError
from loratui.jobs.model import Job
from loratui.training.config import TrainConfig, load_config, loads_toml, save_config
from loratui.training.schema import Schema
from loratui.training.steps import parse_resolution

SWAP_FIRST = 16
"""``blocks_to_swap`` offered first (the families' trainers accept more; each step adds 8)."""


@dataclass
class Remedy:
    """One change to try: an id, a title, the [args] values it sets, and what it costs."""

    id: str
    title: str
    changes: dict[str, Any] = field(default_factory=dict)
    cost: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"id": self.id, "title": self.title, "changes": dict(self.changes), "cost": self.cost}


def _on(args: dict[str, Any], name: str) -> bool:
    return bool(args.get(name))


def remedies_for(config: TrainConfig, schema: Schema) -> list[Remedy]:
    """The memory savers `config`'s trainer has (per `schema`) and that are not in effect yet, most useful first."""
    args = config.args
    has = schema.get
    found: list[Remedy] = []
    if has("gradient_checkpointing") and not _on(args, "gradient_checkpointing"):
        found.append(Remedy("gradient_checkpointing", "gradient checkpointing", {"gradient_checkpointing": True},
                            "about 20-30% slower steps"))
    if config.backend == "kohya":
        if has("cache_latents_to_disk") and not _on(args, "cache_latents_to_disk"):
            found.append(Remedy("cache_latents", "cache latents to disk (the VAE leaves the GPU)",
                                {"cache_latents": True, "cache_latents_to_disk": True},
                                "no random crop / color augmentation; a caching pass first"))
        if has("cache_text_encoder_outputs_to_disk") and not _on(args, "cache_text_encoder_outputs_to_disk"):
            found.append(Remedy("cache_text_encoder_outputs",
                                "cache text-encoder outputs to disk (the text encoders leave the GPU)",
                                {"cache_text_encoder_outputs": True, "cache_text_encoder_outputs_to_disk": True},
                                "no caption shuffling / dropout; text encoders are not trained"))
    if has("fp8_base") and not _on(args, "fp8_base"):
        found.append(Remedy("fp8_base", "fp8 base model", {"fp8_base": True}, "slightly lower quality"))
    if has("blocks_to_swap"):
        current = int(args.get("blocks_to_swap") or 0)
        found.append(Remedy("blocks_to_swap", f"swap {current + 8 if current else SWAP_FIRST} blocks to the CPU",
                            {"blocks_to_swap": current + 8 if current else SWAP_FIRST},
                            "slower steps; needs enough CPU RAM"))
    batch = int(args.get("train_batch_size") or 1)
    if has("train_batch_size") or config.backend == "musubi":  # musubi: loratui writes it into the dataset TOML
        if batch > 1:
            found.append(Remedy("smaller_batch", f"batch size {batch // 2} (was {batch})",
                                {"train_batch_size": batch // 2}, "fewer images per step"))
    resolution = parse_resolution(args.get("resolution")) if args.get("resolution") else None
    if resolution is not None:
        lower = tuple(max(256, int(side * 0.75) // 64 * 64) for side in resolution)
        if all(new < old for new, old in zip(lower, resolution)):
            found.append(Remedy("lower_resolution", f"resolution {lower[0]}x{lower[1]} (was "
                                f"{resolution[0]}x{resolution[1]})", {"resolution": f"{lower[0]},{lower[1]}"},
                                "less detail learned"))
    return found


def job_config(job: Job) -> tuple[TrainConfig, Path]:
    """The config a training job ran with (the one in its folder, overrides applied) and the folder a copy
    goes to (the original config's, so its relative paths still hold; else the job folder)."""
    original = Path(job.params["config"]) if job.params.get("config") else None
    in_job = Path(job.workdir) / "loratui_config.toml" if job.workdir else None
    if in_job is not None and in_job.is_file():
        source = original if original is not None and original.is_file() else in_job
        config = TrainConfig.from_dict(loads_toml(in_job.read_text(encoding="utf-8"), str(in_job)), str(source))
    elif original is not None and original.is_file():
        config = load_config(original)
    else:
        raise NotFoundError(f"job {job.id}'s training config is gone (neither its job folder nor "
                            f"{original or 'an original config'} has it)")
    folder = original.parent if original is not None and original.parent.is_dir() else Path(job.workdir or ".")
    return config, folder


def apply_remedy(job: Job, remedy: Remedy) -> Path:
    """Write a new config: the job's config with `remedy` applied, beside the original; returns its path."""
    if not job.workdir and not job.params.get("config"):
        raise JobError(f"job {job.id} has no training config to copy")
    config, folder = job_config(job)
    edited = config.copy()
    edited.args.update(remedy.changes)
    stem = Path(job.params["config"]).stem if job.params.get("config") else "train"
    path = folder / f"{stem}.job{job.id}-{remedy.id}.toml"
    number = 2
    while path.exists():
        path = folder / f"{stem}.job{job.id}-{remedy.id}-{number}.toml"
        number += 1
    save_config(edited, path)
    return path
