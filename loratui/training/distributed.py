"""Data-parallel and multi-machine training through the trainers' own engines: what a `[launch]` table with
several processes or machines must hold, and which DeepSpeed options the trainer script takes.

loratui distributes nothing itself: `accelerate launch` starts the processes (``kohya.launcher_argv`` builds its
argv from `[launch]`), and sd-scripts builds its own DeepSpeed plugin from its ``--deepspeed``/``--zero_stage``/
``--offload_*`` options (``library/deepspeed_utils.py``). This module only checks that a config asks for
something those engines can do, before a single process starts. ``num_processes`` is the total over all
machines (accelerate starts ``num_processes / num_machines`` on each); the step count divides the batches per
epoch by it (``loratui.training.steps``, as sd-scripts and musubi-tuner do).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from loratui.training.schema import Schema

DEEPSPEED_OPTIONS = ("deepspeed", "zero_stage", "offload_optimizer_device", "offload_optimizer_nvme_path",
                     "offload_param_device", "offload_param_nvme_path", "zero3_init_flag", "zero3_save_16bit_model",
                     "fp16_master_weights_and_gradients")
"""sd-scripts' DeepSpeed options (``deepspeed_utils.add_deepspeed_arguments``: every train_network/train script
of sd-scripts; musubi-tuner has none)."""
MULTI_MACHINE_KEYS = ("machine_rank", "main_process_ip", "main_process_port")
"""What every machine of a multi-machine run needs besides num_machines (accelerate launch's flags)."""

_HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}"
                       r"[A-Za-z0-9])?)*\.?$")

Problem = tuple[str, str, str]
"""(field, message, severity)."""


def is_host(text: str) -> bool:
    """True for an IPv4/IPv6 address or a DNS host name (letters, digits, hyphens, dots)."""
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return bool(_HOSTNAME.match(text)) and not text.replace(".", "").isdigit()


def launch_problems(launch: dict[str, Any]) -> list[Problem]:
    """What is wrong with `[launch]`: process and machine counts, the multi-machine fields (all or nothing, rank
    below the machine count, port range, address form), GPU ids and the python launcher."""
    problems: list[Problem] = []
    processes = launch.get("num_processes")
    machines = launch.get("num_machines")
    if processes is not None and processes < 1:
        problems.append(("launch.num_processes", "must be at least 1", "error"))
    if machines is not None and machines < 1:
        problems.append(("launch.num_machines", "must be at least 1", "error"))
    processes, machines = max(processes or 1, 1), max(machines or 1, 1)
    if launch.get("launcher", "accelerate") == "python" and (processes > 1 or machines > 1):
        problems.append(("launch.launcher", "python runs one process: several processes or machines need "
                                            "launcher = \"accelerate\"", "error"))
    if machines > 1:
        missing = [key for key in MULTI_MACHINE_KEYS if launch.get(key) is None or launch.get(key) == ""]
        for key in missing:
            problems.append((f"launch.{key}", f"is required with {machines} machines (every machine sets "
                                              "machine_rank, main_process_ip and main_process_port)", "error"))
        if processes < machines or processes % machines:
            problems.append(("launch.num_processes", f"{processes} is the total over all machines and must be a "
                                                     f"multiple of num_machines ({machines}): accelerate starts "
                                                     "num_processes / num_machines on each", "error"))
    else:
        for key in ("main_process_ip",):
            if launch.get(key):
                problems.append((f"launch.{key}", "is only used with num_machines > 1", "warning"))
    rank = launch.get("machine_rank")
    if rank is not None and not 0 <= rank < machines:
        problems.append(("launch.machine_rank", f"must be from 0 to {machines - 1} (num_machines = {machines}), "
                                                f"got {rank}", "error"))
    port = launch.get("main_process_port")
    if port is not None and not 1 <= port <= 65535:
        problems.append(("launch.main_process_port", f"must be a TCP port from 1 to 65535, got {port}", "error"))
    address = launch.get("main_process_ip")
    if address and not is_host(str(address)):
        problems.append(("launch.main_process_ip", f"{address!r} is neither an IP address nor a host name",
                         "error"))
    gpu_ids = launch.get("gpu_ids")
    if gpu_ids and str(gpu_ids) != "all":
        ids = [g.strip() for g in str(gpu_ids).split(",") if g.strip()]
        if any(not g.isdigit() for g in ids):
            problems.append(("launch.gpu_ids", f"must be 'all' or GPU indexes like 0,1, got {gpu_ids!r}", "error"))
        elif len(set(ids)) != len(ids):
            problems.append(("launch.gpu_ids", f"lists a GPU twice: {gpu_ids}", "error"))
        elif len(ids) != processes // machines:
            problems.append(("launch.gpu_ids", f"lists {len(ids)} GPUs for {processes // machines} processes per "
                                               "machine", "warning"))
    return problems


def deepspeed_problems(args: dict[str, Any], schema: Schema, backend: str) -> list[Problem]:
    """DeepSpeed options only where the trainer script has them (sd-scripts; not musubi-tuner), each only with
    the ZeRO stage it applies to (as sd-scripts' own help says)."""
    given = [key for key in DEEPSPEED_OPTIONS if args.get(key) not in (None, False)]
    if not given:
        return []
    if schema.get("deepspeed") is None:
        trainer = "musubi-tuner" if backend == "musubi" else f"this {backend} script"
        return [(key, f"{trainer} has no DeepSpeed support (only sd-scripts' training scripts take --deepspeed); "
                      "use accelerate data parallelism ([launch] num_processes) instead", "error") for key in given]
    problems: list[Problem] = []
    enabled = bool(args.get("deepspeed"))
    if not enabled:
        return [(key, "has no effect without deepspeed = true", "warning") for key in given]
    stage = args.get("zero_stage")
    if stage is None:
        option = schema.get("zero_stage")
        stage = option.default if option is not None and option.default is not None else 2
    if args.get("offload_optimizer_device") and stage < 2:
        problems.append(("offload_optimizer_device", f"needs zero_stage 2 or 3 (it is {stage})", "error"))
    for key in ("offload_param_device", "zero3_init_flag", "zero3_save_16bit_model"):
        if args.get(key) and stage != 3:
            problems.append((key, f"needs zero_stage 3 (it is {stage})", "error"))
    for device, path in (("offload_optimizer_device", "offload_optimizer_nvme_path"),
                         ("offload_param_device", "offload_param_nvme_path")):
        if args.get(path) and args.get(device) != "nvme":
            problems.append((path, f"is only used with {device} = \"nvme\"", "warning"))
        if args.get(device) == "nvme" and not args.get(path):
            problems.append((path, f"is required with {device} = \"nvme\"", "error"))
    return problems
