"""Job states and the job record."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class JobStatus(str, Enum):
    """Where a job is. Training adds its phases; in-process jobs use queued/running/terminal states."""

    QUEUED = "queued"
    PREPARING = "preparing"
    RUNNING = "running"
    CACHING_LATENTS = "caching_latents"
    CACHING_TEXT = "caching_text"
    TRAINING = "training"
    SAVING = "saving"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.INTERRUPTED})
ACTIVE = frozenset(set(JobStatus) - TERMINAL - {JobStatus.QUEUED})
RESUMABLE = frozenset({JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.INTERRUPTED})
SUPERVISED_KINDS = ("train", "sweep")
"""Job kinds that wait in the training queue and run in a detached supervisor (a checkpoint sweep renders on the
GPU, so it takes a training slot)."""


@dataclass
class Job:
    """One row of the jobs table."""

    id: int
    kind: str
    status: JobStatus
    title: str = ""
    dataset_id: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    progress_done: int = 0
    progress_total: int | None = None
    message: str | None = None
    error: str | None = None
    step: int | None = None
    total_steps: int | None = None
    epoch: int | None = None
    epochs: int | None = None
    loss: float | None = None
    speed: float | None = None
    eta_s: float | None = None
    pid: int | None = None
    pgid: int | None = None
    supervisor_pid: int | None = None
    host: str | None = None
    proc_key: str | None = None
    trainer_key: str | None = None
    """Identity (boot id + start time) of a training's trainer process (the leader of group `pgid`)."""
    log_path: str | None = None
    workdir: str | None = None
    output: str | None = None
    outputs: list = field(default_factory=list)
    exit_code: int | None = None
    cancel_requested: bool = False
    queue_position: int | None = None
    parent_id: int | None = None
    created_at: float = 0.0
    started_at: float | None = None
    updated_at: float = 0.0
    heartbeat_at: float | None = None
    finished_at: float | None = None
    gpu_request: str | None = None
    """What the job asks for (``loratui.gpu.slots.GpuRequest`` text; None: any one GPU)."""
    gpu_ids: str | None = None
    """The GPUs it was given ("0,1"), held while it is active; kept after it ends."""
    gpu_assigned_at: float | None = None
    gpu_released_at: float | None = None
    peak_memory: int | None = None
    """The most memory (bytes) one of its GPUs used while it ran."""
    failure_cause: str | None = None
    """Why it failed when the log says (``loratui.gpu.failures`` cause ids, e.g. 'cuda_oom')."""

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> "Job":
        """Build from a `SELECT * FROM jobs` row."""
        data = dict(row)
        data["status"] = JobStatus(data["status"])
        data["params"] = json.loads(data.get("params") or "{}")
        data["outputs"] = json.loads(data.get("outputs") or "[]")
        data["cancel_requested"] = bool(data.get("cancel_requested"))
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def terminal(self) -> bool:
        """True once the job has ended, whichever way."""
        return self.status in TERMINAL

    @property
    def fraction(self) -> float | None:
        """Progress as 0..1 when a total is known."""
        if self.total_steps:
            return min((self.step or 0) / self.total_steps, 1.0)
        if self.progress_total:
            return min(self.progress_done / self.progress_total, 1.0)
        return None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view for `--json` output."""
        data = {k: getattr(self, k) for k in self.__dataclass_fields__}
        data["status"] = self.status.value
        return data
