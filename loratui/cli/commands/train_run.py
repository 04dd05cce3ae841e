"""`loratui train start|status|logs|cancel|resume|queue`: running trainings (added to the `train` group)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from loratui.cli.output import info, print_json, print_table
from loratui.errors import InputError, NotFoundError
from loratui.jobs import repo
from loratui.jobs.model import Job
from loratui.store import Store
from loratui.training.status import status_dict, status_line


def extend(groups: dict) -> None:
    """Add the run commands to the `train` group (registered by the training-config commands)."""
    sub = groups.get("train")
    if sub is None:
        return
    add_commands(sub)


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add start/status/logs/cancel/resume/queue to a subparsers action."""
    start = sub.add_parser("start", help="start a training in a detached supervisor (survives logout)",
                           description="Validate CONFIG, write its files into a job folder and start the training "
                           "in a detached supervisor, or queue it behind a running one. Prints the job id.")
    start.add_argument("config", help="training config TOML")
    start.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a trainer option (repeatable)")
    start.add_argument("--queue", action="store_true", help="always queue, even when nothing runs")
    start.add_argument("--title", help="a name for the job")
    start.add_argument("--json", action="store_true", help="print {\"id\": N}")
    start.set_defaults(handler=cmd_start)

    status = sub.add_parser("status", help="where a training is (default: the newest)")
    status.add_argument("job", type=int, nargs="?")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=cmd_status)

    logs = sub.add_parser("logs", help="print a training's log (raw trainer output)")
    logs.add_argument("job", type=int)
    logs.add_argument("--follow", "-f", action="store_true", help="keep printing until the job ends")
    logs.set_defaults(handler=cmd_logs)

    cancel = sub.add_parser("cancel", help="stop a training; nothing of it is left running")
    cancel.add_argument("job", type=int)
    cancel.add_argument("--json", action="store_true")
    cancel.set_defaults(handler=cmd_cancel)

    resume = sub.add_parser("resume", help="continue a failed/cancelled/interrupted training from its saved state")
    resume.add_argument("job", type=int)
    resume.add_argument("--queue", action="store_true", help="queue it instead of starting now")
    resume.add_argument("--json", action="store_true")
    resume.set_defaults(handler=cmd_resume)

    queue = sub.add_parser("queue", help="list, reorder or remove queued trainings")
    qsub = queue.add_subparsers(dest="queue_command", metavar="ACTION")
    queue.add_argument("--json", action="store_true")
    queue.set_defaults(handler=cmd_queue_list)
    qlist = qsub.add_parser("list", help="queued trainings in run order")
    qlist.add_argument("--json", action="store_true")
    qlist.set_defaults(handler=cmd_queue_list)
    move = qsub.add_parser("move", help="move a queued training to POSITION (1 runs next)")
    move.add_argument("job", type=int)
    move.add_argument("position", type=int)
    move.set_defaults(handler=cmd_queue_move)
    remove = qsub.add_parser("remove", help="take a training out of the queue")
    remove.add_argument("job", type=int)
    remove.set_defaults(handler=cmd_queue_remove)


def parse_overrides(items: list[str]) -> dict[str, str]:
    """`KEY=VALUE` strings -> dict (InputError on a missing '=')."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--set needs KEY=VALUE, got {item!r}")
        out[key.strip()] = value
    return out


async def _reattach(store) -> None:
    from loratui.training.reattach import reap_training

    await reap_training(store)


async def cmd_start(ctx, args) -> int:
    from loratui.training.launch import start_training

    overrides = parse_overrides(args.overrides)
    async with Store.open(ctx.paths.db) as store:
        await _reattach(store)
        job_id = await start_training(store, ctx, args.config, overrides=overrides, title=args.title,
                                      queue=args.queue)
        job = await repo.get_job(store, job_id)
    if args.json:
        print_json({"id": job_id, "status": job.status.value, "log_path": job.log_path})
    else:
        print(job_id)
        info(f"training job {job_id} {'queued' if job.status.value == 'queued' else 'started'}; "
             f"follow it with `loratui train logs {job_id} --follow` or `loratui train status {job_id}`")
    return 0


async def _job(store, job_id: int | None) -> Job:
    from loratui.training.launch import training_job

    await _reattach(store)
    if job_id is not None:
        return await training_job(store, job_id)
    row = await store.fetchone("SELECT id FROM jobs WHERE kind = 'train' ORDER BY id DESC LIMIT 1")
    if row is None:
        raise NotFoundError("no training jobs yet")
    return await repo.get_job(store, row[0])


async def cmd_status(ctx, args) -> int:
    async with Store.open(ctx.paths.db) as store:
        job = await _job(store, args.job)
    if args.json:
        print_json(status_dict(job))
        return 0
    print(status_line(job))
    if job.message:
        print(f"  {job.message}")
    if job.output:
        print(f"  output: {job.output}")
    if job.exit_code is not None:
        print(f"  exit code: {job.exit_code}")
    return 0


async def cmd_logs(ctx, args) -> int:
    from pathlib import Path

    from loratui.training.reattach import follow_file

    async with Store.open(ctx.paths.db) as store:
        job = await _job(store, args.job)
        if not job.log_path:
            raise NotFoundError(f"job {job.id} has no log yet")
        path = Path(job.log_path)
        if not args.follow:
            if path.exists():
                _write_raw(path.read_bytes())
            return 0
        state = {"done": False, "checked": 0.0}

        def stop() -> bool:
            return state["done"]

        iterator = follow_file(path, stop=stop, poll_s=0.2)
        while True:
            now = time.monotonic()
            if now - state["checked"] > 0.5:
                state["checked"] = now
                await _reattach(store)
                state["done"] = (await repo.get_job(store, job.id)).terminal
            chunk = await asyncio.to_thread(next, iterator, None)
            if chunk is None:
                break
            if chunk:
                _write_raw(chunk)
    return 0


def _write_raw(data: bytes) -> None:
    """Trainer bytes to stdout as they are (carriage returns redraw bars in a terminal)."""
    out = getattr(sys.stdout, "buffer", None)
    if out is not None:
        out.write(data)
    else:
        sys.stdout.write(data.decode("utf-8", "replace"))
    sys.stdout.flush()


async def cmd_cancel(ctx, args) -> int:
    from loratui.training.launch import cancel_training

    async with Store.open(ctx.paths.db) as store:
        await _reattach(store)
        job = await cancel_training(store, ctx, args.job)
    left = _leftovers(job)
    if getattr(args, "json", False):
        print_json({**status_dict(job), "processes_left": left})
    else:
        info(f"job {job.id}: {job.status.value}" + (f"; still running: {left}" if left else "; no process left"))
    return 0 if not left else 1


def _leftovers(job: Job) -> list[int]:
    from loratui.training.procgroup import group_members

    return group_members(job.pgid) if job.pgid else []


async def cmd_resume(ctx, args) -> int:
    from loratui.training.launch import resume_training

    async with Store.open(ctx.paths.db) as store:
        await _reattach(store)
        new_id = await resume_training(store, ctx, args.job, queue=args.queue)
        job = await repo.get_job(store, new_id)
    if args.json:
        print_json({"id": new_id, "resumed_from": args.job, "status": job.status.value, "step": job.step})
    else:
        print(new_id)
        info(f"job {new_id} resumes job {args.job}" + (f" from step {job.step}" if job.step else ""))
    return 0


async def cmd_queue_list(ctx, args) -> int:
    from loratui.training import train_queue as queue

    async with Store.open(ctx.paths.db) as store:
        await _reattach(store)
        ids = await queue.list_queue(store)
        jobs = [await repo.get_job(store, i) for i in ids]
    if getattr(args, "json", False):
        print_json([status_dict(j) for j in jobs])
        return 0
    if not jobs:
        info("the training queue is empty")
        return 0
    print_table(["#", "id", "title", "created"],
                [[j.queue_position, j.id, j.title, time.strftime("%Y-%m-%d %H:%M", time.localtime(j.created_at))]
                 for j in jobs])
    return 0


async def cmd_queue_move(ctx, args) -> int:
    from loratui.training import train_queue as queue

    async with Store.open(ctx.paths.db) as store:
        order = await queue.move(store, args.job, args.position)
    info("queue: " + " ".join(str(i) for i in order))
    return 0


async def cmd_queue_remove(ctx, args) -> int:
    from loratui.training import train_queue as queue

    async with Store.open(ctx.paths.db) as store:
        await queue.remove(store, args.job)
    info(f"job {args.job} removed from the queue")
    return 0
