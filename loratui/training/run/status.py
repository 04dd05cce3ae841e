"""How a training job reads to a person (one line) and to a script (the `train status --json` object)."""

from __future__ import annotations

from loratui.gpu.failures import cause
from loratui.gpu.inventory import parse_ids
from loratui.gpu.telemetry import gib, images_per_second
from loratui.jobs.model import Job

STATUS_KEYS = ("id", "title", "status", "step", "total_steps", "epoch", "epochs", "loss", "speed", "eta_s",
               "output", "outputs", "exit_code", "message", "log_path", "workdir", "parent_id", "queue_position",
               "created_at", "started_at", "finished_at", "gpu_request", "gpu_ids", "peak_memory", "failure_cause",
               "images_per_s")


def status_dict(job: Job) -> dict:
    """The JSON view of a training job."""
    data = job.as_dict()
    data["images_per_s"] = images_per_sec(job)
    return {key: data.get(key) for key in STATUS_KEYS}


def images_per_sec(job: Job) -> float | None:
    """Training throughput in images/s (it/s x batch size x GPUs), when the speed and batch size are known."""
    return images_per_second(job.speed, job.params.get("batch_size"), len(parse_ids(job.gpu_ids)) or 1)


def duration(seconds: float | None) -> str:
    """Seconds as M:SS or H:MM:SS ('?' when unknown)."""
    if seconds is None:
        return "?"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def status_line(job: Job) -> str:
    """One line: status, step, epoch, loss, speed, ETA, queue position."""
    parts = [f"job {job.id}", job.status.value]
    if job.step is not None or job.total_steps:
        step = job.step or 0
        pct = f" ({step / job.total_steps * 100:.0f}%)" if job.total_steps else ""
        parts.append(f"step {step}/{job.total_steps or '?'}{pct}")
    if job.epoch:
        parts.append(f"epoch {job.epoch}/{job.epochs or '?'}")
    if job.loss is not None:
        parts.append(f"loss {job.loss:.4g}")
    if job.speed:
        parts.append(f"{job.speed:.2f} it/s" if job.speed >= 1 else f"{1 / job.speed:.2f} s/it")
    images = images_per_sec(job)
    if images and not job.terminal:
        parts.append(f"{images:.1f} img/s")
    if job.eta_s is not None and not job.terminal:
        parts.append(f"ETA {duration(job.eta_s)}")
    if job.gpu_ids:
        parts.append(f"GPU {job.gpu_ids}")
    if job.peak_memory:
        parts.append(f"peak {gib(job.peak_memory)}")
    failure = cause(job.failure_cause)
    if failure is not None:
        parts.append(failure.title)
    if job.queue_position:
        parts.append(f"queue #{job.queue_position}")
    return "  ".join(parts)
