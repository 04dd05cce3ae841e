"""GPU telemetry of a job: turning inventory snapshots into samples, and showing them as text.

The supervisor of a training samples the GPUs its job holds every ``[gpus] sample_interval_s`` seconds
(``samples_for``) and stores them (``jobs.repo.record_gpu_samples``, which also raises the job's peak memory).
The jobs strip and the monitor show them with ``gpu_summary`` and ``sparkline``.
"""

from __future__ import annotations

from typing import Any, Iterable

from loratui.gpu.inventory import GIB, GpuInfo

BLOCKS = "▁▂▃▄▅▆▇█"


def samples_for(gpus: list[GpuInfo], ids: Iterable[int]) -> list[tuple[int, int | None, int, int, int | None]]:
    """(index, utilisation %, memory used, memory total, °C) of the GPUs `ids` in a snapshot."""
    wanted = set(ids)
    return [(g.index, g.utilization, g.memory_used, g.memory_total, g.temperature) for g in gpus if g.index in wanted]


def sparkline(values: list[float | None], width: int, high: float = 100.0) -> str:
    """The last `width` values as block characters scaled 0..`high` (a missing value is a space)."""
    out = []
    for value in values[-width:] if width > 0 else []:
        if value is None:
            out.append(" ")
            continue
        level = int(max(0.0, min(float(value), high)) / high * (len(BLOCKS) - 1) + 0.5) if high > 0 else 0
        out.append(BLOCKS[level])
    return "".join(out)


def gib(value: int | None) -> str:
    """Bytes as GiB with one decimal ("-" for None)."""
    return "-" if value is None else f"{value / GIB:.1f}G"


def latest_by_gpu(samples: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """The newest sample of each GPU (samples as ``jobs.repo.gpu_samples`` returns them, oldest first)."""
    latest: dict[int, dict[str, Any]] = {}
    for sample in samples:
        latest[sample["gpu"]] = sample
    return latest


def gpu_summary(samples: list[dict[str, Any]]) -> str:
    """One short line for the jobs strip: "GPU0 97% 21.3/24.0G 71°C" per GPU of the newest samples."""
    parts = []
    for index, s in sorted(latest_by_gpu(samples).items()):
        util = "-" if s["utilization"] is None else f"{s['utilization']}%"
        temp = "" if s["temperature"] is None else f" {s['temperature']}°C"
        parts.append(f"GPU{index} {util} {gib(s['memory_used'])[:-1]}/{gib(s['memory_total'])}{temp}")
    return "  ".join(parts)


def series(samples: list[dict[str, Any]], key: str) -> list[float | None]:
    """One value per sample time: the mean of `key` over the job's GPUs at that time (None where none said)."""
    by_time: dict[float, list[float]] = {}
    for s in samples:
        bucket = by_time.setdefault(s["t"], [])
        if s[key] is not None:
            bucket.append(float(s[key]))
    return [sum(v) / len(v) if v else None for _, v in sorted(by_time.items())]


def images_per_second(speed: float | None, batch_size: int | None, processes: int = 1) -> float | None:
    """Throughput in images/s: steps/s (it/s) times the batch size (per process) times the processes (one per
    GPU)."""
    if speed is None or not batch_size:
        return None
    return speed * batch_size * max(1, processes)
