"""GPU telemetry as text for the jobs strip and the training monitor (pure functions of the samples).

The monitor's line: the GPUs a training holds with their newest utilisation, memory and temperature, a
sparkline of the utilisation over the last minutes, the job's peak memory and its throughput (images/s)."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from loratui.gpu.failures import cause
from loratui.gpu.telemetry import gib, gpu_summary, series, sparkline
from loratui.jobs.model import Job
from loratui.training.run.status import images_per_sec

SPARK_SECONDS = 600.0
"""The monitor's sparkline covers this much of the newest telemetry."""


def strip_gpus(job: Job, samples: list[dict[str, Any]] | None) -> str:
    """The jobs strip's GPU part, short: "GPU 0,1 97% 21.3/24.0G 71°C" (the busiest of its GPUs in the newest
    samples: highest utilisation, memory and temperature), or just the GPUs held."""
    if not job.gpu_ids:
        return ""
    text = f"GPU {job.gpu_ids}"
    if not samples:
        return text
    utils = [s["utilization"] for s in samples if s["utilization"] is not None]
    used = max(samples, key=lambda s: s["memory_used"] or 0)
    temps = [s["temperature"] for s in samples if s["temperature"] is not None]
    if utils:
        text += f" {max(utils)}%"
    text += f" {gib(used['memory_used'])[:-1]}/{gib(used['memory_total'])}"
    if temps:
        text += f" {max(temps)}°C"
    return text


def monitor_line(job: Job, samples: list[dict[str, Any]], width: int) -> Text:
    """The monitor's telemetry line (one row, cut to `width`)."""
    text = Text(no_wrap=True, overflow="ellipsis")
    if job.gpu_ids:
        summary = gpu_summary(samples) if samples else f"GPU {job.gpu_ids}"
        text.append(summary, style="bold")
        if samples:
            newest = samples[-1]["t"]
            recent = [s for s in samples if s["t"] >= newest - SPARK_SECONDS]
            room = max(0, min(40, width - len(summary) - 40))
            if room >= 8:
                text.append("  util ")
                text.append(sparkline(series(recent, "utilization"), room), style="green")
    else:
        text.append("no GPU assigned", style="dim")
    if job.peak_memory:
        text.append(f"  peak {gib(job.peak_memory)}")
    images = images_per_sec(job)
    if images:
        text.append(f"  {images:.1f} img/s")
    failure = cause(job.failure_cause)
    if failure is not None:
        text.append(f"  {failure.title}", style="bold red")
        if failure.id == "cuda_oom":
            text.append("  (m: remedies)", style="yellow")
    text.truncate(width, overflow="ellipsis")
    return text
