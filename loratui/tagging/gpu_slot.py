"""A tagging job's GPU: it takes one free GPU slot the way trainings do (``loratui.gpu.slots``), so a tagger never
lands on a GPU a training holds.

When tagging may use CUDA (device auto or cuda, a CUDA provider in this onnxruntime) and the inventory lists GPUs,
the job claims one free GPU (``jobs.repo.claim_gpus``: recorded on its row, released when it ends) and the ONNX
session runs on it (the CUDA provider's ``device_id``); while none is free it waits, saying so, and a cancel ends
the wait. CUDA numbers GPUs as NVML does only with ``CUDA_DEVICE_ORDER=PCI_BUS_ID``, which is set for this process
before its first CUDA session. With ``CUDA_VISIBLE_DEVICES`` set by the user, the user chose: nothing is claimed.
On a machine without GPUs nothing changes.
"""

from __future__ import annotations

import asyncio
import os

from loratui.gpu.inventory import MIB, Inventory, open_inventory
from loratui.gpu.slots import GpuRequest, SlotView
from loratui.jobs import repo
from loratui.jobs.runner import JobRunner
from loratui.store import Store
from loratui.tagging.session import CUDA, available_providers

WAIT_POLL_S = 2.0
DEFAULT_BUSY_MIB = 1024
"""The ``[gpus] busy_memory_mib`` default (tagging requests carry no settings)."""


async def take_gpu(store: Store, runner: JobRunner, device: str, *, inventory: Inventory | None = None,
                   busy_mib: int = DEFAULT_BUSY_MIB) -> int | None:
    """The GPU index the job now holds, or None (CPU, no GPUs, no CUDA provider, CUDA_VISIBLE_DEVICES set)."""
    if device == "cpu" or os.environ.get("CUDA_VISIBLE_DEVICES") is not None:
        return None
    if CUDA not in await asyncio.to_thread(available_providers):
        return None
    inventory = inventory or open_inventory()
    while True:
        gpus = await asyncio.to_thread(inventory.snapshot)
        if not gpus:
            return None
        view = SlotView.from_snapshot(gpus, busy_mib * MIB)
        got = await store.run(repo.claim_gpus, runner.id, GpuRequest(1), view)
        if got:
            os.environ.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
            return got[0]
        await runner.progress(advance=0, message=f"waiting for a free GPU (all {len(gpus)} held or busy)",
                              force=True)
        await runner.check_cancelled()
        await asyncio.sleep(WAIT_POLL_S)
