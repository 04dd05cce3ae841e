"""Starting, cancelling and resuming training jobs.

``start_training`` turns a config file (through ``loratui.training.planner``) or a ready ``TrainPlan`` into a
job: the trainer's files and ``plan.json`` go into the job folder, then either a detached supervisor starts
(``spawn_supervisor``) or the job waits in the queue. ``cancel_training`` stops a job with nothing of it left
alive; ``resume_training`` starts a new job (``parent_id`` = the old one) from the newest saved state.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import loratui
from loratui.errors import JobError, TrainingError
from loratui.jobs import repo
from loratui.jobs.model import RESUMABLE, Job, JobStatus
from loratui.training import jobfiles
from loratui.training.plan import TrainPhase, TrainPlan
from loratui.training.procgroup import group_members, terminate_group


def spawn_supervisor(ctx, job_id: int) -> None:
    """Start the detached supervisor of a job (returns once it has detached)."""
    job_dir = ctx.paths.job_dir(job_id)
    job_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    root = str(Path(loratui.__file__).resolve().parents[1])  # the supervisor imports this same loratui
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    with open(job_dir / jobfiles.SUPERVISOR_LOG, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "loratui.training.supervisor", "--home", str(ctx.paths.home), "--detach",
             str(job_id)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, close_fds=True, env=env,
            cwd=str(job_dir),
        )
    proc.wait(timeout=60)  # the first process exits right after forking the real supervisor


async def _plan_from_config(store, ctx, config: str | Path, workdir: Path, overrides: dict[str, Any]) -> TrainPlan:
    try:
        from loratui.training import planner
    except ImportError:
        raise TrainingError("training from a config file needs loratui.training.planner, which is not installed")
    from loratui.training.samples import write_inline_prompts

    config_path = Path(config).expanduser()
    if "sample_prompts" not in overrides:
        prompts = write_inline_prompts(config_path, workdir)
        if prompts is not None:
            overrides = {**overrides, "sample_prompts": str(prompts)}
    result = planner.plan_from_file(store, ctx, config_path, workdir, overrides)
    if asyncio.iscoroutine(result):
        result = await result
    return result


async def start_training(
    store,
    ctx,
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
    job = await repo.create_job(store, "train", title=title or "", dataset_id=dataset_id, params=params,
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
        await store.execute("DELETE FROM jobs WHERE id = ?", (job.id,))
        raise
    params.update({"backend": plan.backend, "family": plan.family, "output_dir": plan.output_dir,
                   "output_name": plan.output_name, "save_state": plan.save_state})
    name = title or plan.output_name or f"{plan.backend} {plan.family}"
    await repo.update_job(store, job.id, title=name, params=params, workdir=str(job_dir),
                          log_path=str(job_dir / jobfiles.LOG_FILE), total_steps=plan.total_steps,
                          epochs=plan.epochs)
    await _start_or_enqueue(store, ctx, job.id, queue)
    return job.id


async def _start_or_enqueue(store, ctx, job_id: int, queue: bool) -> bool:
    from loratui.training.train_queue import claim_or_enqueue

    start = await store.run_sync(claim_or_enqueue, job_id, ctx.settings.trainers.max_parallel, queue)
    if start:
        try:
            await asyncio.to_thread(spawn_supervisor, ctx, job_id)
        except (OSError, subprocess.SubprocessError) as exc:
            await repo.update_job(store, job_id, status=JobStatus.FAILED, finished_at=time.time(),
                                  message=f"could not start the supervisor: {exc}")
            raise JobError(f"could not start the supervisor of job {job_id}: {exc}") from None
    return start


async def training_job(store, job_id: int) -> Job:
    """A training job by id (JobError when the id is another kind of job)."""
    job = await repo.get_job(store, job_id)
    if job.kind != "train":
        raise JobError(f"job {job_id} is a {job.kind} job, not a training")
    return job


async def cancel_training(store, ctx, job_id: int, *, timeout_s: float | None = None) -> Job:
    """Stop a training with nothing of it left alive; a queued one is simply taken out of the queue.

    The supervisor carries out the request (SIGINT, SIGTERM, SIGKILL to the trainer's process group); if it
    is gone or does not finish in time, this process does the same and records the job as cancelled.
    """
    from loratui.training.reattach import reap_training, supervisor_alive

    job = await training_job(store, job_id)
    if job.terminal:
        raise JobError(f"job {job_id} already ended ({job.status.value})")
    if job.status == JobStatus.QUEUED:
        from loratui.training import train_queue as queue

        await queue.remove(store, job_id)
        return await repo.get_job(store, job_id)
    settings = ctx.settings.training_run
    await repo.update_job(store, job_id, cancel_requested=True)
    if timeout_s is None:
        timeout_s = settings.cancel_sigint_wait_s + settings.cancel_sigterm_wait_s + 15.0
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        row = await store.fetchone("SELECT * FROM jobs WHERE id = ?", (job_id,))
        job = Job.from_row(row)
        if job.terminal:
            break
        if row["supervisor_pid"] is not None and not supervisor_alive(row):
            break
        if row["supervisor_pid"] is None and time.monotonic() > deadline - timeout_s + 5:
            break  # handed to a supervisor that never started
        await asyncio.sleep(0.2)
    job = await repo.get_job(store, job_id)
    if not job.terminal or (job.pgid and group_members(job.pgid)):
        if job.pgid:
            await asyncio.to_thread(terminate_group, job.pgid, sigint_wait_s=settings.cancel_sigint_wait_s,
                                    sigterm_wait_s=settings.cancel_sigterm_wait_s)
        if not (await repo.get_job(store, job_id)).terminal:
            await repo.update_job(store, job_id, status=JobStatus.CANCELLED, finished_at=time.time(), eta_s=None,
                                  message=f"cancelled at step {job.step or 0}")
    # The supervisor is part of the job too: give it a moment to finish writing and exit.
    exit_deadline = time.monotonic() + 10.0
    while time.monotonic() < exit_deadline:
        row = await store.fetchone("SELECT * FROM jobs WHERE id = ?", (job_id,))
        if not supervisor_alive(row):
            break
        await asyncio.sleep(0.1)
    await reap_training(store)
    return await repo.get_job(store, job_id)


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


async def _finished_phases(store, job: Job) -> set[str]:
    """Phases that ended with exit code 0 in this job or the jobs it resumed."""
    import json

    done: set[str] = set()
    current: Job | None = job
    while current is not None:
        rows = await store.fetchall("SELECT kind, data FROM job_events WHERE job_id = ? AND kind IN "
                                    "('phase_done', 'phase_skipped')", (current.id,))
        for row in rows:
            data = json.loads(row["data"])
            if row["kind"] == "phase_skipped" or data.get("exit_code") == 0:
                done.add(data["name"])
        current = await repo.get_job(store, current.parent_id) if current.parent_id else None
    return done


async def resume_training(store, ctx, job_id: int, *, queue: bool = False) -> int:
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
                         if p.name == "train" else list(p.argv), p.cwd, dict(p.env)) for p in plan.phases]
    new_plan = TrainPlan(plan.backend, plan.family, plan.workdir, {}, phases, plan.output_dir, plan.output_name,
                         plan.total_steps, plan.epochs, plan.save_state)
    params = dict(job.params, resumed_from=job_id, resume_state=str(state.path) if state else None)
    new = await repo.create_job(store, "train", title=job.title, dataset_id=job.dataset_id, params=params,
                                status=JobStatus.QUEUED, parent_id=job_id)
    job_dir = ctx.paths.job_dir(new.id)
    step = state.step if state and plan.backend == "kohya" else 0
    jobfiles.write_job_plan(job_dir, jobfiles.JobPlan(new_plan, skip, str(state.path) if state else None, 0))
    await repo.update_job(store, new.id, workdir=str(job_dir), log_path=str(job_dir / jobfiles.LOG_FILE),
                          total_steps=job.total_steps, epochs=job.epochs, step=step or None, epoch=job.epoch)
    await _start_or_enqueue(store, ctx, new.id, queue)
    return new.id
