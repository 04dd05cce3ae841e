"""Training sweeps: one config trained once per combination of grid values (``train sweep --grid``).

Each combination becomes a normal queued training job with its own output name and folder
(``<output_dir>/<NAME>-<label>/<NAME>-<label>.safetensors``, label e.g. ``lr1e-4-dim16``), so its states, samples
and LoRA files never mix with another run's. Called a *training sweep* everywhere to keep it apart from the
checkpoint sweep (``lora sweep``), which renders samples of one run's checkpoints.

Grid keys are checked against the installed trainer's option schema (an unknown key names the close matches)
and every value is converted and checked by the option's type before any job is created; every run is then
planned (validated) before the first job exists, so a sweep is created whole or not at all.
"""

from __future__ import annotations

import difflib
import itertools
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loratui.config import Context
from loratui.errors import ConfigError, InputError, LoratuiError
from loratui.store import Store
from loratui.training.config import TrainConfig, load_config
from loratui.training.planner import apply_overrides, build_plan
from loratui.training.run import queue as run_queue
from loratui.training.run import sweep_repo
from loratui.training.run.launch import start_training
from loratui.training.schema import Schema, check_value, coerce_text, load_schema

MAX_RUNS = 64
"""More combinations than this is almost always a typo in the grid; refused."""

SHORT_NAMES = {
    "learning_rate": "lr", "unet_lr": "unetlr", "text_encoder_lr": "telr", "network_dim": "dim",
    "network_alpha": "alpha", "train_batch_size": "bs", "max_train_steps": "steps", "max_train_epochs": "ep",
    "optimizer_type": "opt", "lr_scheduler": "sched", "lr_warmup_steps": "warmup", "seed": "seed",
    "noise_offset": "noise", "min_snr_gamma": "snr", "network_dropout": "drop", "timestep_sampling": "ts",
    "discrete_flow_shift": "shift", "gradient_accumulation_steps": "accum",
}
"""How a grid option is spelled in run labels (other options keep their own name)."""

FORBIDDEN_KEYS = ("output_dir", "output_name", "resume", "config_file", "dataset_config")
"""Options a sweep sets itself (each run's output) or that make no sense to vary."""


@dataclass(frozen=True)
class GridAxis:
    """One ``--grid KEY=V1,V2``: the option and its values as typed (text) and converted."""

    key: str
    texts: tuple[str, ...]
    values: tuple[Any, ...]


@dataclass(frozen=True)
class PlannedRun:
    """One combination: its label, output name, typed values and the `--set` overrides that make it."""

    label: str
    output_name: str
    values: dict[str, Any]
    overrides: dict[str, str]


def parse_grid(specs: list[str]) -> list[tuple[str, list[str]]]:
    """``["learning_rate=1e-4,5e-5", ...]`` -> ``[("learning_rate", ["1e-4", "5e-5"]), ...]``.

    Values are split on commas, or on semicolons when the text has one (``resolution=512,512;768,768``).
    """
    grid: list[tuple[str, list[str]]] = []
    seen: set[str] = set()
    for spec in specs:
        key, sep, rest = spec.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(f"--grid {spec!r} is not KEY=VALUE,VALUE...")
        if key in seen:
            raise InputError(f"--grid {key} is given twice", hint="put all its values in one --grid")
        seen.add(key)
        values = [v.strip() for v in rest.split(";" if ";" in rest else ",")]
        if not values or any(v == "" for v in values):
            raise InputError(f"--grid {key}: empty value in {rest!r}")
        grid.append((key, values))
    if not grid:
        raise InputError("a training sweep needs at least one --grid KEY=VALUES")
    return grid


def check_axes(grid: list[tuple[str, list[str]]], schema: Schema) -> list[GridAxis]:
    """Each grid key must be a trainer option of `schema` and each value must suit its type and choices."""
    axes = []
    for key, texts in grid:
        if key in FORBIDDEN_KEYS or key.startswith("launch."):
            raise ConfigError(f"--grid {key}: a training sweep cannot vary {key}",
                              hint="each run gets its own output_name and output folder")
        option = schema.get(key)
        if option is None:
            close = difflib.get_close_matches(key, list(schema.options), n=3, cutoff=0.6)
            hint = (f"did you mean {', '.join(close)}?" if close else
                    f"`loratui train options --family {schema.family} --search {key}` lists the options")
            raise ConfigError(f"--grid {key}: {schema.backend} {schema.family} has no option {key!r} "
                              f"({schema.source})", hint=hint)
        values = []
        for text in texts:
            value = coerce_text(option, text)
            problem = check_value(option, value)
            if problem:
                raise ConfigError(f"--grid {key}={text}: {problem}")
            values.append(value)
        duplicates = [t for t, v in zip(texts, values) if values.count(v) > 1]
        if duplicates:
            raise ConfigError(f"--grid {key}: {' and '.join(duplicates)} are the same value")
        axes.append(GridAxis(key, tuple(texts), tuple(values)))
    return axes


_UNSAFE = re.compile(r"[^A-Za-z0-9.+_-]+")


def _label_part(key: str, text: str) -> str:
    value = _UNSAFE.sub("_", text.strip()).strip("_") or "x"
    return f"{SHORT_NAMES.get(key, key)}{value}"


def expand(base_name: str, axes: list[GridAxis], output_dir: str) -> list[PlannedRun]:
    """Every combination of the axes, first axis slowest, each with a distinct label and output name."""
    combos = list(itertools.product(*[list(zip(a.texts, a.values)) for a in axes]))
    if len(combos) > MAX_RUNS:
        raise ConfigError(f"the grid makes {len(combos)} runs (at most {MAX_RUNS})")
    runs: list[PlannedRun] = []
    labels: set[str] = set()
    for combo in combos:
        label = "-".join(_label_part(axis.key, text) for axis, (text, _) in zip(axes, combo))
        unique, n = label, 2
        while unique in labels:  # two texts that clean up alike ("a b" and "a_b")
            unique, n = f"{label}-{n}", n + 1
        labels.add(unique)
        name = f"{base_name}-{unique}"
        overrides = {axis.key: text for axis, (text, _) in zip(axes, combo)}
        overrides["output_name"] = name
        overrides["output_dir"] = str(Path(output_dir) / name)
        runs.append(PlannedRun(unique, name, {axis.key: value for axis, (_, value) in zip(axes, combo)},
                               overrides))
    return runs


def plan_sweep(ctx: Context, config: TrainConfig, grid: list[tuple[str, list[str]]],
               overrides: dict[str, str] | None = None) -> tuple[TrainConfig, list[PlannedRun]]:
    """The config with `overrides` applied and the runs the grid makes (nothing is written)."""
    schema = load_schema(ctx, config.backend, config.family)
    config = apply_overrides(config, overrides, schema)
    if (config.backend, config.family) != (schema.backend, schema.family):
        schema = load_schema(ctx, config.backend, config.family)
    axes = check_axes(grid, schema)
    args = config.resolved_args()
    base = str(args.get("output_name") or "").strip() or Path(config.source or "sweep").stem
    output_dir = str(args.get("output_dir") or "").strip()
    if not output_dir:
        raise ConfigError("a training sweep needs output_dir in [args]: each run trains into a folder of its own "
                          "inside it")
    return config, expand(base, axes, output_dir)


async def create_sweep(store: Store, ctx: Context, config_path: str | Path, grid: list[tuple[str, list[str]]], *,
                       overrides: dict[str, str] | None = None) -> sweep_repo.TrainingSweep:
    """Plan every run (validating each), then create one queued training job per run and the sweep itself.

    The runs start as the queue allows (``trainers.max_parallel`` at a time), in grid order.
    """
    path = Path(config_path).expanduser().resolve()
    config, runs = plan_sweep(ctx, load_config(path), grid, overrides)
    base_overrides = dict(overrides or {})
    with tempfile.TemporaryDirectory(prefix="loratui-sweep-") as tmp:
        for run in runs:  # a run that would not plan stops the sweep before any job exists
            schema = load_schema(ctx, config.backend, config.family)
            run_config = apply_overrides(config, run.overrides, schema)
            await build_plan(store, ctx, run_config, Path(tmp) / run.label, schema=schema)
    created: list[sweep_repo.SweepRun] = []
    try:
        for run in runs:
            job_id = await start_training(store, ctx, path, overrides={**base_overrides, **run.overrides},
                                          title=run.output_name, queue=True)
            created.append(sweep_repo.SweepRun(job_id, run.label, run.values))
    except BaseException:
        for made in created:  # whatever was created is taken out of the queue again (a run already started stays)
            try:
                await run_queue.remove(store, ctx, made.job_id)
            except LoratuiError:
                pass
        raise
    sweep_id = await store.run(sweep_repo.create_sweep, config.resolved_args().get("output_name") or path.stem,
                               str(path), grid, created)
    await run_queue.advance(store, ctx)
    return await store.run(sweep_repo.get_sweep, sweep_id)


async def sweep_job_ids(store: Store, sweep_id: int) -> list[int]:
    """The job ids of a training sweep, in grid order."""
    sweep = await store.run(sweep_repo.get_sweep, sweep_id)
    return [run.job_id for run in sweep.runs]

