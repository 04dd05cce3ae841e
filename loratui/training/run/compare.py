"""Comparing training runs side by side: loss curves (smoothed, by step or by epoch), the config values that
differ, final and minimum loss, steps and time, and, where those features recorded them, the chosen checkpoint
and the peak GPU memory.

The loss history is the per-step ``job_metrics`` the supervisor stores while it reads the trainer's log (the
monitor's curve comes from the same rows); a 50,000-step run is 50,000 small rows, read once and downsampled for
display after smoothing. Each run's config is the ``loratui_config.toml`` its job folder keeps (the config with
every ``--set`` applied, as planned), so editing the config file later does not change the comparison.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loratui.config import tomllib
from loratui.errors import InputError
from loratui.jobs.model import Job
from loratui.store import Store
from loratui.training.run import compare_repo, sweep_repo
from loratui.training.run.jobfiles import PLAN_FILE
from loratui.training.run.launch import training_job
from loratui.training.run.status import duration

CONFIG_FILE = "loratui_config.toml"
SAME_PER_RUN = frozenset({"args.output_dir", "args.output_name", "args.sample_prompts", "args.logging_dir"})
"""Config keys that differ between any two jobs by construction (their own folders): never listed as a
difference."""
SMOOTHING_STEPS = (0.0, 0.6, 0.8, 0.9, 0.95, 0.99)
"""The EMA weights the comparison screen cycles through (0 = raw)."""
MAX_RUNS = 12


@dataclass
class Run:
    """One training job as compared: facts, flattened config, loss history and the extra columns."""

    job: Job
    label: str
    config: dict[str, Any]
    points: list[tuple[int, int | None, float]]
    extras: dict[str, Any] | None = None

    @property
    def final_loss(self) -> float | None:
        """The last recorded loss."""
        return self.points[-1][2] if self.points else None

    @property
    def min_loss(self) -> tuple[float, int] | None:
        """(lowest recorded loss, its step)."""
        if not self.points:
            return None
        step, _epoch, loss = min(self.points, key=lambda p: p[2])
        return loss, step

    @property
    def seconds(self) -> float | None:
        """Training time so far: start to end (or to now while it runs)."""
        if self.job.started_at is None:
            return None
        end = self.job.finished_at if self.job.finished_at is not None else time.time()
        return max(end - self.job.started_at, 0.0)


@dataclass
class Comparison:
    """Several runs and the config keys on which they differ."""

    runs: list[Run]
    differing: list[str] = field(default_factory=list)
    sweep_id: int | None = None

    @property
    def has_extras(self) -> bool:
        """True when any run has a chosen checkpoint or a recorded peak GPU memory (rows shown only then)."""
        return any(value is not None for run in self.runs for value in (run.extras or {}).values())

    def rows(self) -> list[tuple[str, list[str]]]:
        """The side-by-side table: (field, one cell per run): differing config values, then the results."""
        rows = [(key, [_cell(run.config.get(key)) for run in self.runs]) for key in self.differing]
        rows.append(("status", [run.job.status.value for run in self.runs]))
        rows.append(("steps", [f"{run.job.step or 0}/{run.job.total_steps or '?'}" for run in self.runs]))
        rows.append(("final loss", [_loss(run.final_loss) for run in self.runs]))
        rows.append(("min loss", [f"{_loss(m[0])} @{m[1]}" if (m := run.min_loss) else "-" for run in self.runs]))
        rows.append(("time", [duration(run.seconds) for run in self.runs]))
        if self.has_extras:
            rows.append(("chosen checkpoint", [Path(c).name if (c := (run.extras or {}).get("chosen_checkpoint"))
                                               else "-" for run in self.runs]))
            rows.append(("peak GPU memory", [f"{p / 2**30:.1f} GiB" if (p := (run.extras or {}).get("peak_gpu_bytes"))
                                             else "-" for run in self.runs]))
        return rows

    def to_dict(self) -> dict[str, Any]:
        """The `train compare --json` object (no loss history: `--curves` adds the downsampled series)."""
        return {
            "sweep_id": self.sweep_id,
            "differing": self.differing,
            "runs": [{
                "id": run.job.id, "label": run.label, "title": run.job.title, "status": run.job.status.value,
                "step": run.job.step, "total_steps": run.job.total_steps, "epochs": run.job.epochs,
                "final_loss": run.final_loss, "min_loss": run.min_loss[0] if run.min_loss else None,
                "min_loss_step": run.min_loss[1] if run.min_loss else None, "seconds": run.seconds,
                "config": {key: run.config.get(key) for key in self.differing},
                "chosen_checkpoint": (run.extras or {}).get("chosen_checkpoint"),
                "peak_gpu_bytes": (run.extras or {}).get("peak_gpu_bytes"),
            } for run in self.runs],
        }


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return " ".join(_cell(v) for v in value)
    return str(value)


def _loss(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


# ------------------------------------------------------------------------------------------------ configs
def flatten_config(data: dict[str, Any]) -> dict[str, Any]:
    """A loratui config dict as flat keys: backend, family, dataset, launch.KEY, args.KEY."""
    flat = {key: data[key] for key in ("backend", "family", "dataset", "seconds_per_step") if key in data}
    flat.update({f"launch.{k}": v for k, v in (data.get("launch") or {}).items()})
    flat.update({f"args.{k}": v for k, v in (data.get("args") or {}).items()})
    return flat


def read_run_config(job: Job) -> dict[str, Any]:
    """The flattened config a job was planned from (its job folder's copy, else the one inside plan.json); {}
    when the folder is gone."""
    if not job.workdir:
        return {}
    folder = Path(job.workdir)
    text = None
    try:
        text = (folder / CONFIG_FILE).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        try:
            text = json.loads((folder / PLAN_FILE).read_text(encoding="utf-8"))["plan"]["files"][CONFIG_FILE]
        except (OSError, ValueError, KeyError, TypeError):
            return {}
    try:
        return flatten_config(tomllib.loads(text))
    except tomllib.TOMLDecodeError:
        return {}


def differing_keys(configs: list[dict[str, Any]]) -> list[str]:
    """Keys whose value is not the same in every config (missing counts as unset), in a stable order: the
    top-level keys, launch, then args, each alphabetically."""
    keys = {key for config in configs for key in config} - SAME_PER_RUN
    differ = [key for key in keys if len({json.dumps(c.get(key), sort_keys=True) for c in configs}) > 1]
    order = {"launch": 1, "args": 2}
    return sorted(differ, key=lambda k: (order.get(k.split(".", 1)[0], 0) if "." in k else 0, k))


# ------------------------------------------------------------------------------------------------ curves
def ema(values: list[float], weight: float) -> list[float]:
    """Exponential moving average with `weight` on the past (0 = the values unchanged), debiased at the start
    so the curve does not begin at zero (as TensorBoard's smoothing)."""
    if weight <= 0:
        return list(values)
    out, last, norm = [], 0.0, 0.0
    for value in values:
        last = last * weight + (1 - weight) * value
        norm = norm * weight + (1 - weight)
        out.append(last / norm)
    return out


def x_values(run: Run, by_epoch: bool) -> list[float]:
    """Each point's x: its step, or with `by_epoch` its fractional epoch (step x epochs / total steps; without
    those, the recorded epoch with its steps spread evenly across it)."""
    steps = [p[0] for p in run.points]
    if not by_epoch:
        return [float(s) for s in steps]
    total, epochs = run.job.total_steps, run.job.epochs
    if total and epochs:
        return [s * epochs / total for s in steps]
    by: dict[int, list[int]] = {}
    for index, (_step, epoch, _loss) in enumerate(run.points):
        by.setdefault(epoch or 1, []).append(index)
    xs = [0.0] * len(steps)
    for epoch, indexes in by.items():
        for n, index in enumerate(indexes):
            xs[index] = epoch - 1 + (n + 1) / len(indexes)
    return xs


def downsample(points: list[tuple[float, float]], limit: int) -> list[tuple[float, float]]:
    """At most `limit` points: consecutive points averaged in equal groups (the last point kept as it is)."""
    if limit < 2 or len(points) <= limit:
        return list(points)
    out = []
    size = len(points) / (limit - 1)
    for index in range(limit - 1):
        chunk = points[int(index * size):max(int((index + 1) * size), int(index * size) + 1)]
        out.append((sum(p[0] for p in chunk) / len(chunk), sum(p[1] for p in chunk) / len(chunk)))
    out.append(points[-1])
    return out


def curve(run: Run, *, smoothing: float = 0.0, by_epoch: bool = False, limit: int = 2000
          ) -> list[tuple[float, float]]:
    """The run's loss curve for display: smoothed over every recorded step, then downsampled to `limit`."""
    losses = ema([p[2] for p in run.points], smoothing)
    return downsample(list(zip(x_values(run, by_epoch), losses)), limit)


# ------------------------------------------------------------------------------------------------ loading
async def load_comparison(store: Store, job_ids: list[int] | None = None, *, sweep_id: int | None = None
                          ) -> Comparison:
    """The runs of `job_ids` (in that order) or of a training sweep, with their configs and loss histories."""
    labels: dict[int, str] = {}
    if sweep_id is not None:
        sweep = await store.run(sweep_repo.get_sweep, sweep_id)
        job_ids = [run.job_id for run in sweep.runs] + [j for j in job_ids or [] if j not in
                                                          {r.job_id for r in sweep.runs}]
        labels = {run.job_id: run.label for run in sweep.runs}
    ids = list(dict.fromkeys(job_ids or []))
    if len(ids) < 2 and sweep_id is None:
        raise InputError("comparing needs at least two training jobs", hint="`loratui train compare 3 4 5`")
    if len(ids) > MAX_RUNS:
        raise InputError(f"at most {MAX_RUNS} runs can be compared at once, got {len(ids)}")
    if sweep_id is None:
        labels = {job: label for job, (_sweep, label) in (await store.run(sweep_repo.sweeps_of_jobs, ids)).items()}
    runs = []
    for job_id in ids:
        job = await training_job(store, job_id)
        runs.append(Run(job, labels.get(job_id) or job.title or f"job {job_id}", read_run_config(job),
                        await store.read(compare_repo.loss_history, job_id),
                        await store.read(compare_repo.run_extras, job_id)))
    return Comparison(runs, differing_keys([run.config for run in runs]), sweep_id)

