"""Starting a checkpoint sweep as a queued job, and listing sweeps.

``start_sweep`` resolves what to render (a training job's checkpoints or LoRA files), the prompts (a prompts
file, a prompt set saved for the dataset, or the training's sample prompts), expands rows and columns into the
sweep's manifest, writes ``sweep.json`` and ``render.json`` into the sweep folder (``<output_dir>/sweeps/<id>/``
for a training, ``<home>/sweeps/<id>/`` for files) and creates a ``sweep`` job. The job runs like a training: in
the training queue (it takes a slot of ``trainers.max_parallel``, since it uses the GPU), in a detached
supervisor whose one phase is ``python -m loratui.training.sweep.render``; cancel stops its process group.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loratui.config import Context
from loratui.datasets import dataset_repo
from loratui.errors import InputError, LoraError
from loratui.jobs import repo
from loratui.jobs.model import JobStatus
from loratui.loras import sweep_manifest
from loratui.store import Store
from loratui.training.plan import TrainPhase, TrainPlan
from loratui.training.run import jobfiles
from loratui.training.run import queue as run_queue
from loratui.training.sweep import source as sources
from loratui.training.sweep import sweep_repo
from loratui.training.sweep.argv import DEFAULT_SIZE, DEFAULT_STEPS, GEN_IMG_SCRIPT, RenderSpec, model_args, style_of
from loratui.training.sweep.build import RowSpec, build_manifest
from loratui.training.sweep.prompts import parse_prompts, read_prompts_file
from loratui.training.trainer import find_trainer

RENDER_MODULE = "loratui.training.sweep.render"
SWEEPS_DIR = "sweeps"


@dataclass
class SweepRequest:
    """What `loratui lora sweep` asks for."""

    targets: list[str]
    """One training job id, or LoRA files."""
    prompts_file: str | None = None
    prompt_set: str | None = None
    save_prompt_set: str | None = None
    dataset: str | None = None
    """The dataset whose prompt sets are meant (default: the training's dataset)."""
    seeds: list[int] | None = None
    rows: RowSpec = field(default_factory=RowSpec)
    width: int | None = None
    height: int | None = None
    steps: int | None = None
    scale: float | None = None
    sampler: str = "euler_a"
    family: str | None = None
    base: str | None = None
    vae: str | None = None
    text_encoder: str | None = None
    network_module: str | None = None
    script_args: list[str] = field(default_factory=list)
    queue: bool = False


def new_sweep_id() -> str:
    """A sortable, unique sweep id: ``YYYYmmdd-HHMMSS-xxxx``."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


def _resolution(args: dict[str, Any]) -> tuple[int, int] | None:
    value = args.get("resolution")
    if isinstance(value, int):
        return value, value
    if isinstance(value, str) and value.strip():
        parts = [p for p in value.replace(" ", "").split(",") if p]
        if all(p.isdigit() for p in parts) and parts:
            return int(parts[0]), int(parts[-1])
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        return value[0], value[-1]
    return None


async def _dataset_id(store: Store, source: sources.SweepSource, name: str | None) -> int:
    if name or (source.dataset_id is None and source.dataset_name):
        return (await store.run(dataset_repo.get_dataset, name or source.dataset_name)).id
    if source.dataset_id is None:
        raise InputError("prompt sets belong to a dataset; this sweep has none", hint="pass --dataset NAME")
    return source.dataset_id


async def _resolve_source(store: Store, request: SweepRequest) -> sources.SweepSource:
    if not request.targets:
        raise InputError("name a training job or LoRA files to sweep")
    if len(request.targets) == 1 and request.targets[0].isdigit():
        job = await store.run(repo.get_job, int(request.targets[0]))
        return await asyncio.to_thread(sources.from_job, job)
    return await asyncio.to_thread(sources.from_files, request.targets, request.family)


async def _prompt_lines(store: Store, request: SweepRequest, source: sources.SweepSource) -> list[str]:
    if request.prompts_file and request.prompt_set:
        raise InputError("pass --prompts or --prompt-set, not both")
    if request.prompts_file:
        lines = read_prompts_file(request.prompts_file)
    elif request.prompt_set:
        lines = await store.run(sweep_repo.get_prompt_set, await _dataset_id(store, source, request.dataset),
                                request.prompt_set)
    elif source.sample_prompts:
        lines = source.sample_prompts
    else:
        raise InputError("no prompts: the training has no sample prompts",
                         hint="pass --prompts FILE (one prompt a line, sd-scripts' --n/--d/--w/--h/--s/--l options)")
    if request.save_prompt_set:
        await store.run(sweep_repo.save_prompt_set, await _dataset_id(store, source, request.dataset),
                        request.save_prompt_set, lines)
    return lines


def _render_spec(ctx: Context, request: SweepRequest, source: sources.SweepSource, prompts: list) -> RenderSpec:
    style = style_of(source.family)
    trainer = find_trainer(ctx, source.backend)
    script = trainer.root / GEN_IMG_SCRIPT if style == "gen_img" else trainer.script(source.family, "inference")
    if not script.is_file():
        raise LoraError(f"{trainer.backend} at {trainer.root} has no {script.name}", title="Inference script missing")
    overrides: dict[str, str | None] = {}
    if request.base:
        overrides["ckpt" if style == "gen_img" else "dit"] = str(Path(request.base).expanduser())
    if request.vae:
        overrides["vae"] = str(Path(request.vae).expanduser())
    if request.text_encoder:
        overrides["text_encoder"] = str(Path(request.text_encoder).expanduser())
    size = _resolution(source.args) or (DEFAULT_SIZE[style], DEFAULT_SIZE[style])
    network_module = request.network_module or source.args.get("network_module") or "networks.lora"
    return RenderSpec(style=style, python=trainer.python, script=str(script), cwd=str(trainer.root),
                      model_args=model_args(source.family, source.args, overrides),
                      width=request.width or size[0], height=request.height or size[1],
                      steps=request.steps or DEFAULT_STEPS[style], scale=request.scale, sampler=request.sampler,
                      network_module=str(network_module), extra_args=list(request.script_args),
                      prompts=[p.as_dict() for p in prompts])


async def start_sweep(store: Store, ctx: Context, request: SweepRequest) -> dict[str, Any]:
    """Create the sweep folder and its job, and start it (or queue it); returns id, folder, job id and counts."""
    source = await _resolve_source(store, request)
    lines = await _prompt_lines(store, request, source)
    prompts = parse_prompts(lines)
    spec = await asyncio.to_thread(_render_spec, ctx, request, source, prompts)
    sweep_id = new_sweep_id()
    root = Path(source.output_dir) if source.job_id is not None and source.output_dir else ctx.paths.home
    folder = root / SWEEPS_DIR / sweep_id
    base_model = next((str(v) for k, v in spec.model_args if k in ("ckpt", "dit")), "")
    settings = {"width": spec.width, "height": spec.height, "steps": spec.steps, "scale": spec.scale,
                "sampler": spec.sampler, "script": Path(spec.script).name, "source_job_id": source.job_id}
    manifest = build_manifest(sweep_id, family=source.family, trainer=source.backend, base_model=base_model,
                              checkpoints=source.checkpoints, prompts=prompts, seeds=request.seeds, spec=request.rows,
                              settings=settings, job_id=None, created=time.strftime("%Y-%m-%dT%H:%M:%S"))
    cells = len(manifest.cells())
    title = f"sweep {sweep_id}"
    params = {"sweep_id": sweep_id, "folder": str(folder), "family": source.family, "backend": source.backend,
              "source_job_id": source.job_id}
    job = await store.run(repo.create_job, "sweep", title=title, dataset_id=source.dataset_id, params=params,
                          status=JobStatus.QUEUED)
    try:
        manifest.job_id = job.id
        await asyncio.to_thread(_write_folder, folder, manifest, spec)
        _write_job_plan(ctx, job.id, folder, source.backend, source.family)
        await store.run(sweep_repo.record_sweep, sweep_id, str(folder), job_id=job.id, source_job_id=source.job_id,
                        family=source.family, cells=cells)
    except BaseException:
        await store.run(repo.delete_job, job.id)
        raise
    await _start(store, ctx, job.id, cells, request.queue)
    return {"id": sweep_id, "folder": str(folder), "job_id": job.id, "family": source.family,
            "rows": len(manifest.rows), "columns": len(manifest.columns), "cells": cells,
            "missing": len(sweep_manifest.missing_cells(folder, manifest))}


def _write_job_plan(ctx: Context, job_id: int, folder: Path, backend: str, family: str) -> None:
    """The job's plan.json: one ``render`` phase running this loratui's render process on the folder."""
    job_dir = ctx.paths.job_dir(job_id)
    phase = TrainPhase("render", [sys.executable, "-m", RENDER_MODULE, "--home", str(ctx.paths.home), str(folder)],
                       str(folder), {})
    jobfiles.write_job_plan(job_dir, jobfiles.JobPlan(TrainPlan(backend, family, job_dir, {}, [phase]), []))


async def _start(store: Store, ctx: Context, job_id: int, cells: int, queue: bool) -> None:
    job_dir = ctx.paths.job_dir(job_id)
    await store.run(repo.update_job, job_id, workdir=str(job_dir), log_path=str(job_dir / jobfiles.LOG_FILE),
                    progress_total=cells)
    await run_queue.advance(store, ctx)  # a dead supervisor must not hold a slot; the waiting ones go first
    if await store.run(repo.claim_or_enqueue, job_id, ctx.settings.trainers.max_parallel, queue):
        await run_queue.start_claimed(store, ctx, job_id)


async def resume_sweep(store: Store, ctx: Context, sweep_id: str, *, queue: bool = False) -> dict[str, Any]:
    """Start a new job on an existing sweep folder: it renders only the cells whose image is missing."""
    record = await store.run(sweep_repo.get_sweep, sweep_id)
    if record.job_status is not None and record.job_status not in ("completed", "failed", "cancelled", "interrupted"):
        raise InputError(f"sweep {sweep_id} is {record.job_status} (job {record.job_id})")
    folder = Path(record.folder)
    manifest = await asyncio.to_thread(sweep_manifest.load, folder)
    missing = len(await asyncio.to_thread(sweep_manifest.missing_cells, folder, manifest))
    if missing == 0:
        raise InputError(f"sweep {sweep_id} has every image already", hint=f"they are in {folder}")
    params = {"sweep_id": sweep_id, "folder": str(folder), "family": manifest.family, "backend": manifest.trainer,
              "source_job_id": record.source_job_id, "resumed_from": record.job_id}
    job = await store.run(repo.create_job, "sweep", title=f"sweep {sweep_id}", params=params, status=JobStatus.QUEUED,
                          parent_id=record.job_id)
    try:
        _write_job_plan(ctx, job.id, folder, manifest.trainer, manifest.family)
        manifest.job_id = job.id
        await asyncio.to_thread(sweep_manifest.save, folder, manifest)
        await store.run(sweep_repo.attach_job, sweep_id, job.id)
    except BaseException:
        await store.run(repo.delete_job, job.id)
        raise
    cells = len(manifest.cells())
    await store.run(repo.update_job, job.id, progress_done=cells - missing)
    await _start(store, ctx, job.id, cells, queue)
    return {"id": sweep_id, "folder": str(folder), "job_id": job.id, "family": manifest.family,
            "rows": len(manifest.rows), "columns": len(manifest.columns), "cells": cells, "missing": missing}


def _write_folder(folder: Path, manifest, spec: RenderSpec) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    sweep_manifest.save(folder, manifest)
    spec.save(folder)


async def list_sweeps(store: Store, source_job_id: int | None = None) -> list[sweep_repo.SweepRecord]:
    """Recorded sweeps, newest first."""
    return await store.run(sweep_repo.list_sweeps, source_job_id=source_job_id)
