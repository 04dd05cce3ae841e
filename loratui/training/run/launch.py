"""Starting, cancelling and resuming training jobs.

``start_training`` turns a config file (through ``loratui.training.planner``) or a ready ``TrainPlan`` into a
job: the trainer's files and ``plan.json`` go into the job folder, then either a detached supervisor starts
(``spawn_supervisor``) or the job waits in the queue. ``cancel_training`` stops a job with nothing of it left
alive; ``resume_training`` starts a new job (``parent_id`` = the old one) from the newest saved state.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from loratui.config import Context, tomllib
from loratui.errors import JobError, TrainingError
from loratui.gpu.pinning import request_from_argv
from loratui.jobs import repo
from loratui.jobs.model import RESUMABLE, SUPERVISED_KINDS, Job, JobStatus
from loratui.store import Store
from loratui.training import planner
from loratui.training.plan import TrainPhase, TrainPlan
from loratui.training.run import jobfiles
from loratui.training.run import queue as run_queue
from loratui.training.run.procgroup import group_members, terminate_group
from loratui.training.run.reconcile import supervisor_alive
from loratui.training.samples import write_inline_prompts


async def _plan_from_config(store: Store, ctx: Context, config: str | Path, workdir: Path,
                            overrides: dict[str, Any]) -> TrainPlan:
    config_path = Path(config).expanduser()
    if "sample_prompts" not in overrides:
        prompts = write_inline_prompts(config_path, workdir)
        if prompts is not None:
            overrides = {**overrides, "sample_prompts": str(prompts)}
    return await planner.plan_from_file(store, ctx, config_path, workdir, overrides)


async def start_training(
    store: Store,
    ctx: Context,
    plan_or_config: TrainPlan | str | Path,
    *,
    overrides: dict[str, Any] | None = None,
    title: str | None = None,
    queue: bool = False,
    dataset_id: int | None = None,
) -> int:
    """Create a training job and start it now (or queue it when asked or when another runs); returns its id.

    `plan_or_config` is a TrainPlan (its files are written to its workdir) or a training config path, planned
    into the job folder with `overrides` (key -> value, as `--set`).
    """
    params: dict[str, Any] = {"overrides": overrides or {}}
    if not isinstance(plan_or_config, TrainPlan):
        params["config"] = str(Path(plan_or_config).expanduser().resolve())
    job = await store.run(repo.create_job, "train", title=title or "", dataset_id=dataset_id, params=params,
                          status=JobStatus.QUEUED)
    job_dir = ctx.paths.job_dir(job.id)
    try:
        job_dir.mkdir(parents=True, exist_ok=True)
        if isinstance(plan_or_config, TrainPlan):
            plan = plan_or_config
        else:
            plan = await _plan_from_config(store, ctx, plan_or_config, job_dir, overrides or {})
        if not plan.phases:
            raise TrainingError("the training plan has no phase to run")
        plan.write_files()
        jobfiles.write_job_plan(job_dir, jobfiles.JobPlan(plan, []))
    except BaseException:
        await store.run(repo.delete_job, job.id)
        raise
    params.update({"backend": plan.backend, "family": plan.family, "output_dir": plan.output_dir,
                   "output_name": plan.output_name, "save_state": plan.save_state})
    batch = _batch_size(plan)
    if batch:
        params["batch_size"] = batch
    name = title or plan.output_name or f"{plan.backend} {plan.family}"
    await store.run(repo.update_job, job.id, title=name, params=params, workdir=str(job_dir),
                    log_path=str(job_dir / jobfiles.LOG_FILE), total_steps=plan.total_steps, epochs=plan.epochs,
                    gpu_request=_gpu_request(plan))
    await _start_or_enqueue(store, ctx, job.id, queue)
    return job.id


def _batch_size(plan: TrainPlan) -> int | None:
    """The batch size of a plan built from a config (for images/s), from the config copy it carries."""
    text = plan.files.get("loratui_config.toml")
    if not text:
        return None
    try:
        value = tomllib.loads(text).get("args", {}).get("train_batch_size")
    except tomllib.TOMLDecodeError:
        return None
    return int(value) if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 1


def _gpu_request(plan: TrainPlan) -> str:
    """What the plan's train phase asks for, as stored on the job row (``loratui.gpu.slots``)."""
    train = next((p for p in plan.phases if p.name == "train"), plan.phases[-1])
    return request_from_argv(train.argv).encode()


async def _start_or_enqueue(store: Store, ctx: Context, job_id: int, force_queue: bool) -> bool:
    # A dead supervisor must not hold a slot, and a free slot goes to the trainings already waiting first.
    await run_queue.advance(store, ctx)
    slots = await asyncio.to_thread(run_queue.slot_view, ctx)
    start = await store.run(repo.claim_or_enqueue, job_id, ctx.settings.trainers.max_parallel, force_queue, slots)
    if start:
        await run_queue.start_claimed(store, ctx, job_id)
    return start


async def training_job(store: Store, job_id: int, kinds: tuple[str, ...] = ("train",)) -> Job:
    """A training job by id (JobError when the id is another kind of job than `kinds`)."""
    job = await store.run(repo.get_job, job_id)
    if job.kind not in kinds:
        raise JobError(f"job {job_id} is a {job.kind} job, not a training")
    return job


async def cancel_training(store: Store, ctx: Context, job_id: int, *, timeout_s: float | None = None) -> Job:
    """Stop a training (or a checkpoint sweep) with nothing of it left alive; a queued one is simply taken out of
    the queue.

    The supervisor carries out the request (SIGINT, SIGTERM, SIGKILL to the trainer's process group); if it
    is gone or does not finish in time, this process does the same and records the job as cancelled.
    """
    job = await training_job(store, job_id, SUPERVISED_KINDS)  # a checkpoint sweep stops the same way
    if job.terminal:
        raise JobError(f"job {job_id} already ended ({job.status.value})")
    if job.status == JobStatus.QUEUED:
        await run_queue.remove(store, ctx, job_id)
        return await store.run(repo.get_job, job_id)
    settings = ctx.settings.training_run
    await store.run(repo.update_job, job_id, cancel_requested=True)
    if timeout_s is None:
        timeout_s = settings.cancel_sigint_wait_s + settings.cancel_sigterm_wait_s + 15.0
    started = time.monotonic()
    deadline = started + timeout_s
    while time.monotonic() < deadline:
        job = await store.run(repo.get_job, job_id)
        if job.terminal:
            break
        if job.supervisor_pid is not None and not supervisor_alive(job):
            break
        if job.supervisor_pid is None and time.monotonic() > started + 5:
            break  # handed to a supervisor that never started
        await asyncio.sleep(0.2)
    job = await store.run(repo.get_job, job_id)
    if not job.terminal or (job.pgid and group_members(job.pgid)):
        if job.pgid:
            await asyncio.to_thread(terminate_group, job.pgid, sigint_wait_s=settings.cancel_sigint_wait_s,
                                    sigterm_wait_s=settings.cancel_sigterm_wait_s)
        if not (await store.run(repo.get_job, job_id)).terminal:
            await store.run(repo.update_job, job_id, status=JobStatus.CANCELLED, finished_at=time.time(),
                            eta_s=None, message=f"cancelled at step {job.step or 0}")
    # The supervisor is part of the job too: give it a moment to finish writing and exit.
    exit_deadline = time.monotonic() + 10.0
    while time.monotonic() < exit_deadline and supervisor_alive(await store.run(repo.get_job, job_id)):
        await asyncio.sleep(0.1)
    await run_queue.advance(store, ctx)
    return await store.run(repo.get_job, job_id)


def resume_argv(argv: list[str], backend: str, state_dir: str | None) -> list[str]:
    """The train phase's argv with `--resume STATE` (and kohya's `--skip_until_initial_step`) set afresh."""
    out: list[str] = []
    skip_next = False
    for arg in argv:
        if skip_next:
            skip_next = False
            continue
        if arg == "--resume":
            skip_next = True
            continue
        if arg.startswith("--resume=") or arg == "--skip_until_initial_step":
            continue
        out.append(arg)
    if state_dir:
        out += ["--resume", state_dir]
        if backend == "kohya":
            out.append("--skip_until_initial_step")
    return out


async def _finished_phases(store: Store, job: Job) -> set[str]:
    """Phases that ended with exit code 0 in this job or the jobs it resumed."""
    done: set[str] = set()
    current: Job | None = job
    while current is not None:
        for kind, data in await store.run(repo.job_events, current.id, ("phase_done", "phase_skipped")):
            if kind == "phase_skipped" or data.get("exit_code") == 0:
                done.add(data["name"])
        current = await store.run(repo.find_job, current.parent_id) if current.parent_id else None
    return done


async def resume_training(store: Store, ctx: Context, job_id: int, *, queue: bool = False) -> int:
    """Start a new job that continues `job_id` from its newest saved state; returns the new job's id.

    Finished caching phases (musubi) are skipped. A kohya run continues counting from the saved step
    (`--resume STATE --skip_until_initial_step`); musubi-tuner has no such option and counts from 0.
    """
    job = await training_job(store, job_id)
    if job.status not in RESUMABLE:
        raise JobError(f"job {job_id} is {job.status.value}; only failed, cancelled or interrupted trainings resume")
    if not job.workdir:
        raise JobError(f"job {job_id} has no job folder")
    old = jobfiles.read_job_plan(Path(job.workdir))
    plan = old.plan
    done = await _finished_phases(store, job)
    skip = [p.name for p in plan.phases if p.name != "train" and p.name in done]
    state = (jobfiles.find_latest_state(plan.output_dir, plan.output_name, newest=plan.backend != "kohya")
             if plan.output_dir else None)
    if state is None and plan.backend == "kohya":
        raise JobError(
            f"job {job_id} saved no state to resume from in {plan.output_dir or 'its output folder'}",
            hint="train with save_state = true and save_every_n_steps so that cancel and crashes lose little",
        )
    total = plan.total_steps or job.total_steps
    if state is not None and total and plan.backend == "kohya" and state.step >= total:
        raise JobError(f"job {job_id}'s newest state ({state.path.name}) is at step {state.step} of "
                       f"{total}: nothing is left to train")
    phases = [TrainPhase(p.name, resume_argv(p.argv, plan.backend, str(state.path) if state else None)
                         if p.name == "train" else list(p.argv), p.cwd, dict(p.env), p.items) for p in plan.phases]
    new_plan = TrainPlan(plan.backend, plan.family, plan.workdir, {}, phases, plan.output_dir, plan.output_name,
                         plan.total_steps, plan.epochs, plan.save_state)
    params = dict(job.params, resumed_from=job_id, resume_state=str(state.path) if state else None)
    new = await store.run(repo.create_job, "train", title=job.title, dataset_id=job.dataset_id, params=params,
                          status=JobStatus.QUEUED, parent_id=job_id)
    job_dir = ctx.paths.job_dir(new.id)
    step = state.step if state and plan.backend == "kohya" else 0
    jobfiles.write_job_plan(job_dir, jobfiles.JobPlan(new_plan, skip, str(state.path) if state else None, 0))
    await store.run(repo.update_job, new.id, workdir=str(job_dir), log_path=str(job_dir / jobfiles.LOG_FILE),
                    total_steps=job.total_steps, epochs=job.epochs, step=step or None, epoch=job.epoch,
                    gpu_request=job.gpu_request or _gpu_request(new_plan))
    await _start_or_enqueue(store, ctx, new.id, queue)
    return new.id
