"""Expanding a sweep request into its manifest: rows (baseline, every Nth checkpoint x strengths) and columns
(prompts x seeds)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from loratui.errors import InputError
from loratui.loras.sweep_manifest import BASELINE_KEY, SweepColumn, SweepManifest, SweepRow
from loratui.training.sweep.prompts import SweepPrompt
from loratui.training.sweep.source import Checkpoint

DEFAULT_SEED = 42


@dataclass(frozen=True)
class RowSpec:
    """What the rows are: every Nth checkpoint (the final one always), at each strength, and the baseline."""

    every: int = 1
    strengths: tuple[float, ...] = (1.0,)
    baseline: bool = True


def pick_checkpoints(checkpoints: list[Checkpoint], every: int) -> list[Checkpoint]:
    """Every ``every``-th checkpoint counted from the first (the Nth, 2Nth, ...), plus the last one always."""
    if every < 1:
        raise InputError("--every must be 1 or more")
    picked = [c for i, c in enumerate(checkpoints, start=1) if i % every == 0]
    if checkpoints and checkpoints[-1] not in picked:
        picked.append(checkpoints[-1])
    return picked


def _safe(text: str) -> str:
    key = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-") or "lora"
    return key[:60]


def checkpoint_key(checkpoint: Checkpoint) -> str:
    """A row key naming a checkpoint: ``e000002``, ``s00000400``, ``final`` or (a file) its sanitised stem."""
    if checkpoint.final:
        return "final"
    if checkpoint.epoch is not None:
        return f"e{checkpoint.epoch:06d}"
    if checkpoint.step is not None:
        return f"s{checkpoint.step:08d}"
    return _safe(Path(checkpoint.path).stem)


def checkpoint_label(checkpoint: Checkpoint) -> str:
    """How a row names its checkpoint to people."""
    if checkpoint.final:
        return f"final ({Path(checkpoint.path).name})"
    if checkpoint.epoch is not None:
        return f"epoch {checkpoint.epoch}"
    if checkpoint.step is not None:
        return f"step {checkpoint.step}"
    return Path(checkpoint.path).name


def expand_rows(checkpoints: list[Checkpoint], spec: RowSpec) -> list[SweepRow]:
    """The sweep's rows: the baseline first (when asked), then each picked checkpoint at each strength."""
    if not spec.strengths:
        raise InputError("--strengths needs at least one value")
    rows = [SweepRow(BASELINE_KEY, "baseline (no LoRA)")] if spec.baseline else []
    used = {r.key for r in rows}
    several = len(spec.strengths) > 1
    for checkpoint in pick_checkpoints(checkpoints, spec.every):
        base = checkpoint_key(checkpoint)
        for strength in spec.strengths:
            key = f"{base}-x{strength:g}" if several else base
            number = 2
            while key in used:
                key = f"{base}-{number}" + (f"-x{strength:g}" if several else "")
                number += 1
            used.add(key)
            label = checkpoint_label(checkpoint) + (f" x{strength:g}" if several or strength != 1.0 else "")
            rows.append(SweepRow(key, label, lora=checkpoint.path, strength=float(strength),
                                 epoch=checkpoint.epoch, step=checkpoint.step))
    return rows


def expand_columns(prompts: list[SweepPrompt], seeds: list[int] | None) -> list[SweepColumn]:
    """Each prompt with each seed (without ``seeds``: the prompt's own ``--d`` seed, else 42)."""
    columns = []
    for index, prompt in enumerate(prompts):
        for seed in (seeds or [prompt.seed if prompt.seed is not None else DEFAULT_SEED]):
            columns.append(SweepColumn(f"p{index:02d}-s{int(seed)}", prompt.text, int(seed), prompt.negative, index))
    keys = [c.key for c in columns]
    if len(set(keys)) != len(keys):
        raise InputError("a seed is given twice")
    return columns


def build_manifest(sweep_id: str, *, family: str, trainer: str, base_model: str, checkpoints: list[Checkpoint],
                   prompts: list[SweepPrompt], seeds: list[int] | None, spec: RowSpec, settings: dict,
                   job_id: int | None, created: str) -> SweepManifest:
    """The manifest of a new sweep."""
    return SweepManifest(id=sweep_id, family=family, trainer=trainer, base_model=base_model,
                         rows=expand_rows(checkpoints, spec), columns=expand_columns(prompts, seeds), job_id=job_id,
                         created=created, settings=settings)
