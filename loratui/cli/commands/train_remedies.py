"""`loratui train remedies JOB [--apply N [--start]] [--json]`: what to change after a training failed on the GPU
(out of memory: the family's memory savers), applied to a copy of its config."""

from __future__ import annotations

import argparse

from loratui.cli.output import info, out, print_json, print_table
from loratui.errors import InputError
from loratui.gpu.failures import cause
from loratui.jobs import repo
from loratui.store import Store
from loratui.training.run import queue as run_queue
from loratui.training.run.launch import start_training, training_job
from loratui.training.run.remedies import apply_remedy, job_config, remedies_for
from loratui.training.schema import load_schema


def register(sub) -> None:
    """Add `remedies` to the `train` subcommands."""
    remedies = sub.add_parser(
        "remedies", help="what to change after a training ran out of GPU memory (applied to a copy of its config)",
        description="Show why a training failed on the GPU (CUDA out of memory, NCCL, driver, hardware) and the "
                    "memory savers its family's trainer has. --apply N writes a NEW config file beside the original "
                    "with remedy N applied (the original is never changed); --start also starts a training from it.")
    remedies.add_argument("job", type=int)
    remedies.add_argument("--apply", type=int, metavar="N", help="write a config copy with remedy N (1 = first)")
    remedies.add_argument("--start", action="store_true", help="with --apply: start a training from the copy")
    remedies.add_argument("--json", action="store_true")
    remedies.set_defaults(handler=cmd_remedies)


async def cmd_remedies(ctx, args: argparse.Namespace) -> int:
    if args.start and args.apply is None:
        raise InputError("--start goes with --apply N")
    async with Store.open(ctx.paths.db) as store:
        job = await training_job(store, args.job)
        config, _folder = job_config(job)
        found = remedies_for(config, load_schema(ctx, config.backend, config.family))
        failure = cause(job.failure_cause)
        written = started = None
        if args.apply is not None:
            if not 1 <= args.apply <= len(found):
                raise InputError(f"there is no remedy {args.apply} (job {job.id} has {len(found)})")
            written = apply_remedy(job, found[args.apply - 1])
            if args.start:
                await run_queue.advance(store, ctx)
                started = await start_training(store, ctx, written, title=f"{job.title} ({found[args.apply - 1].id})")
                started_job = await store.run(repo.get_job, started)
    if args.json:
        print_json({"job": job.id, "status": job.status.value, "failure_cause": job.failure_cause,
                    "failure": failure.title if failure else None, "hint": failure.hint if failure else None,
                    "peak_memory": job.peak_memory, "family": config.family,
                    "remedies": [r.to_dict() for r in found], "written": str(written) if written else None,
                    "started": started})
        return 0
    if written is not None:
        out(written)
        if started is not None:
            info(f"training job {started} {started_job.status.value} from {written}")
        else:
            info(f"start it with `loratui train start {written}`")
        return 0
    if failure is not None:
        out(f"job {job.id} failed: {failure.title}")
        info(failure.hint)
    elif job.status.value == "failed":
        out(f"job {job.id} failed ({job.message or 'no cause recognised'})")
    if not found:
        info(f"the {config.family} trainer has no memory saver left to turn on in this config")
        return 0
    print_table(["#", "remedy", "sets", "costs"],
                [[i, r.title, ", ".join(f"{k} = {v}" for k, v in r.changes.items()), r.cost]
                 for i, r in enumerate(found, start=1)])
    return 0
