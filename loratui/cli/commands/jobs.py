"""`loratui jobs`: list and cancel jobs of every kind."""

from __future__ import annotations

import argparse
import time

from loratui.cli.output import info, print_json, print_table
from loratui.gpu.telemetry import gib
from loratui.jobs import repo
from loratui.jobs.model import SUPERVISED_KINDS
from loratui.store import Store
from loratui.training.run import queue as run_queue


def register(parser: argparse.ArgumentParser) -> None:
    """Build the `jobs` command group."""
    parser.description = "List jobs; `jobs cancel ID` asks one to stop."
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--kind", help="only jobs of this kind")
    parser.add_argument("--limit", type=int, default=50)
    parser.set_defaults(handler=cmd_list)
    sub = parser.add_subparsers(dest="jobs_command", metavar="SUBCOMMAND", title="subcommands")
    cancel = sub.add_parser("cancel", help="ask a job to stop (a re-run resumes it)")
    cancel.add_argument("id", type=int)
    cancel.set_defaults(handler=cmd_cancel)


def _age(ts: float | None) -> str:
    if not ts:
        return ""
    seconds = time.time() - ts
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit} ago"
    return f"{seconds:.0f}s ago"


async def cmd_list(ctx, args) -> int:
    async with Store.open(ctx.paths.db) as store:
        # Dead jobs of every kind are marked interrupted first (and the training queue moves on); a read-only
        # home can only be reported as it is.
        if not store.readonly:
            await run_queue.advance(store, ctx)
        jobs = await store.run(repo.list_jobs, kind=args.kind, limit=args.limit)
    if args.json:
        print_json([job.as_dict() for job in jobs])
        return 0
    if not jobs:
        info("no jobs yet")
        return 0
    rows = []
    for job in jobs:
        fraction = job.fraction
        rows.append([job.id, job.kind, job.status.value, f"{fraction * 100:.0f}%" if fraction is not None else "",
                     job.title, job.message or "", _age(job.created_at)])
    columns = ["id", "kind", "status", "progress", "title", "message", "created"]
    if any(job.gpu_ids or job.peak_memory for job in jobs):  # GPUs and peak memory, where jobs had GPUs
        columns.insert(3, "gpus")
        for row, job in zip(rows, jobs):
            row.insert(3, " ".join(filter(None, [job.gpu_ids or "",
                                                 f"peak {gib(job.peak_memory)}" if job.peak_memory else ""])))
    print_table(columns, rows)
    return 0


async def cmd_cancel(ctx, args) -> int:
    async with Store.open(ctx.paths.db) as store:
        await run_queue.advance(store, ctx)
        job = await store.run(repo.get_job, args.id)
        if job.kind in SUPERVISED_KINDS:
            # Trainings run in a detached supervisor: stop the whole process group, wait until it is gone.
            # Imported here for start-up time: launch loads the planner and datasets (~130 ms) `jobs` lists without.
            from loratui.training.run.launch import cancel_training

            job = await cancel_training(store, ctx, args.id)
        else:
            job = await store.run(repo.request_cancel, args.id)
    info(f"job {job.id}: {'cancelled' if job.terminal else 'cancel requested'}")
    return 0
