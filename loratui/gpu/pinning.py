"""Pinning a trainer to the GPUs its job was given, and reading what a trainer's argv asks for.

A job given GPUs 2 and 3 runs with ``CUDA_VISIBLE_DEVICES=2,3`` and ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` (so CUDA
numbers GPUs as NVML does) and, when launched through ``accelerate launch``, with ``--gpu_ids 2,3
--num_processes 2 --multi_gpu``: accelerate sets ``CUDA_VISIBLE_DEVICES`` from ``--gpu_ids`` itself, so both say
the same GPUs and there is one process per GPU.
"""

from __future__ import annotations

from loratui.gpu.inventory import format_ids
from loratui.gpu.slots import GpuRequest

_LAUNCH_MODULE = "accelerate.commands.launch"
_VALUE_FLAGS = ("--num_processes", "--gpu_ids")


def _launch_index(argv: list[str]) -> int | None:
    """Index of the token after which accelerate's own options start, or None when argv is no accelerate launch."""
    for i, arg in enumerate(argv):
        if arg == _LAUNCH_MODULE:
            return i
        if arg.rsplit("/", 1)[-1] == "accelerate" and i + 1 < len(argv) and argv[i + 1] == "launch":
            return i + 1
    return None


def _script_index(argv: list[str], start: int) -> int:
    """Index of the script accelerate runs (the first ``.py`` after its options), or len(argv)."""
    for i in range(start + 1, len(argv)):
        if argv[i].endswith(".py") and not argv[i].startswith("-"):
            return i
    return len(argv)


def _option(argv: list[str], start: int, end: int, flag: str) -> str | None:
    for i in range(start + 1, end):
        if argv[i] == flag and i + 1 < end:
            return argv[i + 1]
        if argv[i].startswith(flag + "="):
            return argv[i].split("=", 1)[1]
    return None


def request_from_argv(argv: list[str]) -> GpuRequest:
    """What a train phase's argv asks for: accelerate's ``--gpu_ids`` (exactly those, or "all"), else its
    ``--num_processes`` on one machine, else one GPU (a plain ``python script.py`` too)."""
    launch = _launch_index(argv)
    if launch is None:
        return GpuRequest(1)
    end = _script_index(argv, launch)
    gpu_ids = _option(argv, launch, end, "--gpu_ids")
    if gpu_ids:
        if gpu_ids.strip() == "all":
            return GpuRequest(0)
        return GpuRequest(0, tuple(int(p) for p in gpu_ids.split(",") if p.strip()))
    machines = int(_option(argv, launch, end, "--num_machines") or 1)
    processes = int(_option(argv, launch, end, "--num_processes") or 1)
    return GpuRequest(processes if machines == 1 and processes > 1 else 1)


def pin_argv(argv: list[str], gpus: list[int]) -> list[str]:
    """`argv` with accelerate's ``--gpu_ids``/``--num_processes``/``--multi_gpu`` set for `gpus` (unchanged when
    it is no accelerate launch, or a multi-machine one, whose processes accelerate spreads itself)."""
    launch = _launch_index(argv)
    if launch is None or not gpus:
        return list(argv)
    end = _script_index(argv, launch)
    if int(_option(argv, launch, end, "--num_machines") or 1) > 1:
        return list(argv)
    options: list[str] = []
    i = launch + 1
    while i < end:
        arg = argv[i]
        if arg in _VALUE_FLAGS:
            i += 2
            continue
        if arg == "--multi_gpu" or any(arg.startswith(flag + "=") for flag in _VALUE_FLAGS):
            i += 1
            continue
        options.append(arg)
        i += 1
    pinned = ["--num_processes", str(len(gpus)), "--gpu_ids", format_ids(gpus)]
    if len(gpus) > 1:
        pinned.append("--multi_gpu")
    return argv[:launch + 1] + pinned + options + argv[end:]


def pin_env(gpus: list[int]) -> dict[str, str]:
    """The environment that shows a process only `gpus`, numbered as NVML numbers them."""
    return {"CUDA_VISIBLE_DEVICES": format_ids(gpus), "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
