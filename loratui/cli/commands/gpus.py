"""`loratui gpus`: the GPUs of this machine (NVML), how busy they are, and which loratui job holds each."""

from __future__ import annotations

import argparse

from loratui.cli.output import info, out, print_json, print_table
from loratui.gpu.inventory import open_inventory
from loratui.gpu.telemetry import gib
from loratui.jobs import repo
from loratui.store import Store


def register(parser: argparse.ArgumentParser) -> None:
    """Build the `gpus` command."""
    parser.description = (
        "List this machine's NVIDIA GPUs through NVML: memory, utilisation, temperature, the processes on each "
        "and the loratui job holding it. No driver or no GPU is not an error: the list is empty and says why. "
        "$LORATUI_FAKE_GPUS selects a FAKE test/demo inventory instead (its GPUs are named FAKE).")
    parser.add_argument("--json", action="store_true",
                        help='print {"source", "status", "gpus": [{index, uuid, name, memory_total, memory_used, '
                             'utilization, temperature, processes, job}]} (memory in bytes)')
    parser.set_defaults(handler=cmd_gpus)


async def cmd_gpus(ctx, args) -> int:
    inventory = open_inventory(ctx.settings.gpus.fake)
    gpus = inventory.snapshot()
    holders: dict[int, int] = {}
    if gpus and ctx.paths.db.exists():
        async with Store.open(ctx.paths.db) as store:
            holders = await store.run(repo.gpu_holders)
    if args.json:
        print_json({"source": inventory.kind, "status": inventory.status,
                    "gpus": [dict(g.as_dict(), job=holders.get(g.index)) for g in gpus]})
        return 0
    if not gpus:
        out(inventory.status)
        return 0
    if inventory.kind == "fake":
        info(inventory.status)
    print_table(["gpu", "name", "memory", "util", "temp", "procs", "job"],
                [[g.index, g.name, f"{gib(g.memory_used)}/{gib(g.memory_total)}",
                  "-" if g.utilization is None else f"{g.utilization}%",
                  "-" if g.temperature is None else f"{g.temperature}°C", len(g.processes),
                  holders.get(g.index, "")] for g in gpus])
    return 0
