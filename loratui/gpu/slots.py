"""GPU slots: what a job asks for, which GPUs are free, and which of them it gets.

A job's request comes from its config's ``[launch]`` table (``request_from_launch``) and is stored on the job
row as text (``GpuRequest.encode``): ``"n:2"`` (any two GPUs), ``"ids:0,1"`` (exactly GPUs 0 and 1), ``"all"``.
A GPU is free when no running loratui job holds it and other processes use at most ``busy_bytes`` of its
memory (someone else's notebook on GPU 3 keeps loratui off GPU 3). Free GPUs are handed out lowest index
first. These are pure functions: the jobs repository applies them inside its claiming transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loratui.gpu.inventory import GpuInfo, format_ids, parse_ids


@dataclass(frozen=True)
class GpuRequest:
    """``count`` GPUs (any), or exactly ``ids``; ``count = 0`` with no ids means every GPU ("all")."""

    count: int = 1
    ids: tuple[int, ...] = ()

    @property
    def wants_all(self) -> bool:
        """True for ``gpu_ids = "all"``."""
        return self.count == 0 and not self.ids

    def encode(self) -> str:
        """Text for the job row."""
        if self.ids:
            return "ids:" + format_ids(list(self.ids))
        return "all" if self.wants_all else f"n:{self.count}"

    @classmethod
    def decode(cls, text: str | None) -> "GpuRequest":
        """The request stored on a job row (None, from a job of an older loratui: one GPU)."""
        if not text:
            return cls()
        if text == "all":
            return cls(0)
        kind, _, value = text.partition(":")
        if kind == "ids":
            return cls(0, tuple(parse_ids(value)))
        return cls(max(1, int(value)))

    def describe(self) -> str:
        """In words, for job lists."""
        if self.ids:
            return "GPU " + format_ids(list(self.ids))
        return "all GPUs" if self.wants_all else f"{self.count} GPU" + ("s" if self.count != 1 else "")


def request_from_launch(launch: dict[str, Any]) -> GpuRequest:
    """What a training config's ``[launch]`` asks for: ``gpu_ids = "0,1"`` (those), ``gpu_ids = "all"``,
    ``gpus = N`` (any N), else ``num_processes`` GPUs on one machine, else any one."""
    gpu_ids = launch.get("gpu_ids")
    if gpu_ids is not None and str(gpu_ids).strip():
        if str(gpu_ids).strip() == "all":
            return GpuRequest(0)
        return GpuRequest(0, tuple(parse_ids(gpu_ids)))
    if launch.get("gpus"):
        return GpuRequest(max(1, int(launch["gpus"])))
    processes = int(launch.get("num_processes") or 1)
    if processes > 1 and int(launch.get("num_machines") or 1) == 1:
        return GpuRequest(processes)
    return GpuRequest(1)


@dataclass(frozen=True)
class SlotView:
    """The GPUs as one inventory snapshot saw them: (index, memory used) each, and the busy threshold."""

    gpus: tuple[tuple[int, int], ...]
    busy_bytes: int

    @classmethod
    def from_snapshot(cls, gpus: list[GpuInfo], busy_bytes: int) -> "SlotView":
        """From ``Inventory.snapshot()``."""
        return cls(tuple((g.index, g.memory_used) for g in gpus), busy_bytes)

    @property
    def indices(self) -> list[int]:
        """Every GPU index."""
        return [index for index, _ in self.gpus]

    def free(self, held: set[int]) -> list[int]:
        """GPUs no loratui job holds and other processes leave (nearly) empty, lowest index first."""
        return sorted(index for index, used in self.gpus if index not in held and used <= self.busy_bytes)


def choose(request: GpuRequest, free: list[int], every: list[int]) -> list[int] | None:
    """The GPUs a request gets from `free` (None: it does not fit now). A request that can never fit (more GPUs
    than the machine has, an index it lacks) gets None too; ``impossible`` says so."""
    if request.ids:
        return sorted(request.ids) if set(request.ids) <= set(free) else None
    if request.wants_all:
        return sorted(every) if every and set(every) <= set(free) else None
    return sorted(free)[:request.count] if len(free) >= request.count else None


def impossible(request: GpuRequest, every: list[int]) -> str | None:
    """Why a request can never be met on this machine, or None."""
    if request.ids:
        missing = sorted(set(request.ids) - set(every))
        return f"GPU {format_ids(missing)} does not exist here (GPUs: {format_ids(every)})" if missing else None
    if not request.wants_all and request.count > len(every):
        return f"asks for {request.count} GPUs; this machine has {len(every)}"
    return None
