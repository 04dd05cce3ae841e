"""The detached supervisor: runs one training job's phases and keeps its job row up to date.

Started by ``loratui.training.run.spawn`` as ``python -m loratui.training.run.supervisor --home H --detach JOB``: it
forks once more and the first process exits, so the supervisor belongs to no terminal, no SSH session and no
loratui process and is reaped by init. For each phase of the job's ``plan.json`` it starts the trainer in a
new session (its own process group) with ``PYTHONUNBUFFERED=1``, its stdout and stderr both appended to the
job's ``train.log`` (so the trainer never blocks on, or dies with, a pipe), and follows that file: every new
chunk goes through ``LogParser`` and the events update the job row (throttled), ``job_metrics`` (loss per
step) and ``job_events``. A cancel request (``jobs.cancel_requested``) is carried out here: SIGINT, SIGTERM,
then SIGKILL to the whole group. When the job ends, its LoRA files are indexed and the next queued training
starts.
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from loratui.config import Context
from loratui.gpu.inventory import open_inventory, parse_ids
from loratui.gpu.pinning import pin_argv, pin_env
from loratui.gpu.telemetry import samples_for
from loratui.jobs import repo
from loratui.jobs.model import JobStatus
from loratui.jobs.procinfo import proc_key
from loratui.loras import library
from loratui.store import connect
from loratui.training.run import jobfiles, logparse
from loratui.training.run.logparse import LogParser
from loratui.training.run.procgroup import group_members, terminate_group
from loratui.training.run.queue import advance_sync

PHASE_STATUS = {"cache_latents": JobStatus.CACHING_LATENTS, "cache_text": JobStatus.CACHING_TEXT,
                "train": JobStatus.PREPARING, "render": JobStatus.RUNNING}
RENDER_BAR = "sweep cells"
"""The one bar a sweep's ``render`` phase reports as progress (the inference script's own bars are left out)."""
READ_CHUNK = 1 << 16
SAMPLE_POLL_S = 2.0
CANCEL_POLL_S = 0.5
HEARTBEAT_S = 10.0
MAX_OUTPUTS = 1000
"""The newest LoRA files listed in a job's outputs (a trainer printing endless checkpoint lines cannot bloat it)."""


class RunState:
    """What the events of a job have told so far, and what still has to be written to the database."""

    def __init__(self, conn: sqlite3.Connection, job_id: int, write_interval: float) -> None:
        self.conn = conn
        self.job_id = job_id
        self.write_interval = write_interval
        self.fields: dict[str, Any] = {}
        self.pending_metrics: dict[int, tuple] = {}
        self.pending_events: list[tuple[str, dict]] = []
        self.urgent = False
        self.last_write = 0.0
        self.step: int | None = None
        self.epoch: int | None = None
        self.status: JobStatus | None = None
        self.checkpoints: dict[str, None] = {}
        """LoRA files written so far, in order (a dict: a flood of checkpoint lines costs no quadratic time)."""
        self.errors: list[logparse.Error] = []
        """The errors worth keeping (``logparse.notable_errors``: a few, however many the trainer printed)."""
        self.states: list[dict] = []
        self.failure: logparse.GpuFailure | None = None
        """The first GPU failure the log named (out of memory, NCCL, driver, hardware)."""
        self.bar: str | None = None
        self.cached = 0
        """Items a caching phase has finished (musubi-tuner prints no total there)."""
        self.cache_total: int | None = None
        """The plan's item count for the current caching phase, when known."""

    def set(self, urgent: bool = False, **fields: Any) -> None:
        """Queue column updates (urgent ones are written with the next flush, whatever the interval)."""
        self.fields.update(fields)
        self.urgent = self.urgent or urgent

    def set_status(self, status: JobStatus) -> None:
        """Change the job's status (written at once)."""
        if status != self.status:
            self.status = status
            self.set(urgent=True, status=status)

    def event(self, kind: str, data: dict) -> None:
        """Queue a job_events row."""
        self.pending_events.append((kind, data))
        self.urgent = True

    def apply(self, events: list[logparse.Event], phase: str) -> None:
        """Fold parser events into the job row."""
        for ev in events:
            if isinstance(ev, logparse.Progress):
                if phase == "train" and self.status != JobStatus.TRAINING:
                    self.set_status(JobStatus.TRAINING)
                self.step = ev.step
                fields: dict[str, Any] = {"step": ev.step, "speed": ev.speed, "eta_s": ev.eta_s}
                if ev.total:
                    fields["total_steps"] = ev.total
                if ev.avr_loss is not None:
                    fields["loss"] = ev.avr_loss
                    self.pending_metrics[ev.step] = (self.epoch, ev.avr_loss, time.time())
                self.set(**fields)
            elif isinstance(ev, logparse.BarProgress):
                if phase == "render" and ev.desc != RENDER_BAR:
                    continue
                label = ev.desc or {"cache_latents": "caching latents", "cache_text": "caching text encoder outputs"}.get(
                    phase, "working")
                self.set(progress_done=ev.n, progress_total=ev.total, message=f"{label} {ev.n}/{ev.total}")
            elif isinstance(ev, logparse.Phase):
                if ev.name == "training":
                    self.set(message=None)
                    if phase == "train":
                        self.set_status(JobStatus.TRAINING)
                elif ev.name == "saving" and self.status in (JobStatus.TRAINING, JobStatus.PREPARING):
                    self.set_status(JobStatus.SAVING)
                elif ev.name in ("caching_latents", "caching_text"):
                    self.set_status(JobStatus(ev.name))
            elif isinstance(ev, logparse.Epoch):
                self.epoch = ev.epoch
                self.set(epoch=ev.epoch, epochs=ev.epochs)
            elif isinstance(ev, logparse.TotalSteps):
                self.set(total_steps=ev.total)
            elif isinstance(ev, logparse.Summary):
                self.event("summary", ev.values)
            elif isinstance(ev, logparse.Resumed):
                self.step = ev.step
                self.set(step=ev.step)
                self.event("resumed", {"step": ev.step})
            elif isinstance(ev, logparse.Checkpoint):
                self.checkpoints.pop(ev.path, None)
                self.checkpoints[ev.path] = None
                if len(self.checkpoints) > MAX_OUTPUTS:
                    del self.checkpoints[next(iter(self.checkpoints))]
                self.event("checkpoint", {"path": ev.path, "step": self.step, "epoch": self.epoch})
            elif isinstance(ev, logparse.CheckpointRemoved):
                self.checkpoints.pop(ev.path, None)
                self.event("checkpoint_removed", {"path": ev.path})
            elif isinstance(ev, logparse.StateSaved):
                data = {"path": ev.path, "step": ev.step, "epoch": ev.epoch}
                self.states.append(data)
                self.event("state_saved", data)
            elif isinstance(ev, logparse.CachedItem):
                self.cached += 1
                label = {"cache_latents": "caching latents", "cache_text": "caching text encoder outputs"}.get(
                    phase, "caching")
                if self.cache_total:
                    self.set(progress_done=min(self.cached, self.cache_total), progress_total=self.cache_total,
                             message=f"{label} {min(self.cached, self.cache_total)}/{self.cache_total}")
                else:
                    self.set(message=f"{label}: {self.cached} item(s) done")
            elif isinstance(ev, logparse.SampleStarted):
                self.event("sample_started", {"step": ev.step})
            elif isinstance(ev, logparse.Error):
                self.errors = logparse.notable_errors(self.errors + [ev])
            elif isinstance(ev, logparse.GpuFailure):
                if self.failure is None:
                    self.failure = ev
                self.event("gpu_failure", {"cause": ev.cause, "line": ev.line})

    def flush(self, force: bool = False) -> None:
        """Write what is pending if the interval has passed (or it is urgent, or forced)."""
        now = time.monotonic()
        if not (force or self.urgent or now - self.last_write >= self.write_interval):
            return
        if not (self.fields or self.pending_metrics or self.pending_events) and now - self.last_write < HEARTBEAT_S:
            return
        self.last_write = now
        self.urgent = False
        fields = dict(self.fields, heartbeat_at=time.time())
        self.fields = {}
        metrics, self.pending_metrics = self.pending_metrics, {}
        events, self.pending_events = self.pending_events, []
        repo.record_progress(self.conn, self.job_id, fields, metrics=metrics, events=events)


class Supervisor:
    """Runs the phases of one job (see the module docstring)."""

    def __init__(self, home: Path, job_id: int) -> None:
        self.ctx = Context.load(home)
        self.job_id = job_id
        self.conn = connect(self.ctx.paths.db)
        self.settings = self.ctx.settings.training_run
        self.state = RunState(self.conn, job_id, self.settings.db_write_interval_s)
        self.job_dir = self.ctx.paths.job_dir(job_id)
        self.log_path = self.job_dir / jobfiles.LOG_FILE
        self.proc: subprocess.Popen | None = None
        self.stop_reason: str | None = None
        self.cancelled = False
        self.started = time.time()
        self.gpus: list[int] = []
        """The GPUs the job was given (empty on a machine without GPUs): the trainer is pinned to them."""
        self.inventory = open_inventory(self.ctx.settings.gpus.fake)
        self.last_gpu_sample = 0.0

    def claim(self) -> bool:
        """Record this process as the job's supervisor; False if the job was cancelled meanwhile."""
        claimed = repo.claim_supervisor(self.conn, self.job_id, str(self.log_path))
        self.state.status = JobStatus.PREPARING
        return claimed

    def _cancel_requested(self) -> bool:
        return repo.cancel_requested(self.conn, self.job_id)

    # -- running
    def run(self) -> int:
        """Run every phase; returns the exit code of the last phase run (0 when all succeeded)."""
        if not self.claim():
            return 0
        self.gpus = parse_ids(repo.get_job(self.conn, self.job_id).gpu_ids)
        job_plan = jobfiles.read_job_plan(self.job_dir)
        plan = job_plan.plan
        self.samples = jobfiles.SampleWatcher(plan.output_dir) if plan.output_dir else None
        rc = 0
        for phase in plan.phases:
            if phase.name in job_plan.skip_phases:
                self.state.event("phase_skipped", {"name": phase.name})
                continue
            if self.stop_reason or self._cancel_requested():
                self.cancelled = not self.stop_reason
                break
            rc = self.run_phase(phase, job_plan)
            self.state.event("phase_done", {"name": phase.name, "exit_code": rc})
            self.state.flush(force=True)
            if rc != 0 or self.cancelled or self.stop_reason:
                break
        self.finish(rc, plan)
        return rc

    def run_phase(self, phase, job_plan: jobfiles.JobPlan) -> int:
        """Start one trainer process and follow it until it exits."""
        self.state.set_status(PHASE_STATUS.get(phase.name, JobStatus.PREPARING))
        self.state.cached = 0
        self.state.cache_total = phase.items
        self.state.set(progress_done=0, progress_total=phase.items or None)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        env = dict(os.environ)
        env.update(phase.env)
        env["PYTHONUNBUFFERED"] = "1"
        argv = list(phase.argv)
        if self.gpus:
            env.update(pin_env(self.gpus))
            argv = pin_argv(argv, self.gpus)
        parser = LogParser(step_offset=job_plan.resume_step if phase.name == "train" else 0)
        with open(self.log_path, "ab", buffering=0) as sink:
            try:
                self.proc = subprocess.Popen(
                    argv, cwd=phase.cwd or None, env=env, stdin=subprocess.DEVNULL, stdout=sink,
                    stderr=sink, start_new_session=True, close_fds=True,
                )
            except OSError as exc:
                self.proc = None
                self.state.errors.append(logparse.Error(f"could not start the {phase.name} phase: {exc}"))
                return 127
        pid = self.proc.pid
        key = proc_key(pid)
        # In the job folder before the job row: that write can wait seconds for the database's lock, and a
        # supervisor killed meanwhile must not leave a trainer that reconciling cannot find.
        jobfiles.write_trainer(self.job_dir, pid, key)
        self.state.set(urgent=True, pid=pid, pgid=pid, trainer_key=key)
        started = {"name": phase.name, "pid": pid, "offset": offset, "argv": argv}
        if self.gpus:
            started["gpus"] = self.gpus
        self.state.event("phase_started", started)
        self.state.flush(force=True)
        self.follow(parser, phase.name, offset)
        self.stop_leftovers()
        return self.proc.returncode

    def stop_leftovers(self) -> None:
        """The trainer's leader exited: stop whatever of its group still runs (an orphaned worker)."""
        left = group_members(self.proc.pid)
        if left:
            how = terminate_group(self.proc.pid, sigint_wait_s=min(2.0, self.settings.cancel_sigint_wait_s),
                                  sigterm_wait_s=min(5.0, self.settings.cancel_sigterm_wait_s))
            self.state.event("leftovers_stopped", {"pids": left, "by": how})

    def follow(self, parser: LogParser, phase: str, offset: int) -> None:
        """Tail the log while the trainer runs; carry out cancel requests."""
        proc = self.proc
        last_cancel_poll = last_sample_poll = 0.0
        with open(self.log_path, "rb") as reader:
            reader.seek(offset)
            while True:
                data = reader.read(READ_CHUNK)
                if data:
                    self.state.apply(parser.feed(data), phase)
                exited = proc.poll() is not None
                now = time.monotonic()
                if not exited and self.stop_reason:
                    self.stop_trainer()
                elif not exited and now - last_cancel_poll >= CANCEL_POLL_S:
                    last_cancel_poll = now
                    if self._cancel_requested():
                        self.cancelled = True
                        self.state.event("cancel", {"step": self.state.step})
                        self.state.flush(force=True)
                        self.stop_trainer()
                if now - last_sample_poll >= SAMPLE_POLL_S or exited:
                    last_sample_poll = now
                    self.poll_samples()
                if self.gpus and now - self.last_gpu_sample >= self.ctx.settings.gpus.sample_interval_s:
                    self.last_gpu_sample = now
                    self.sample_gpus()
                self.state.flush()
                if exited:
                    rest = reader.read(READ_CHUNK)
                    while rest:  # in chunks: after a flood, what is left can be hundreds of MB
                        self.state.apply(parser.feed(rest), phase)
                        self.state.flush()
                        rest = reader.read(READ_CHUNK)
                    self.state.apply(parser.close(), phase)
                    return
                if not data or len(data) < READ_CHUNK:
                    time.sleep(self.settings.log_poll_s)

    def stop_trainer(self) -> str:
        """SIGINT, SIGTERM, SIGKILL to the trainer's whole process group (with the configured waits)."""
        how = terminate_group(self.proc.pid, sigint_wait_s=self.settings.cancel_sigint_wait_s,
                              sigterm_wait_s=self.settings.cancel_sigterm_wait_s, proc=self.proc)
        self.proc.wait()
        self.state.event("stopped", {"by": how})
        return how

    def sample_gpus(self) -> None:
        """Record the telemetry of the job's GPUs (utilisation, memory, temperature; peak memory)."""
        samples = samples_for(self.inventory.snapshot(), self.gpus)
        if samples:
            repo.record_gpu_samples(self.conn, self.job_id, samples)

    def poll_samples(self) -> None:
        if self.samples is None:
            return
        for sample in self.samples.poll(self.state.step):
            self.state.event("sample", sample.to_dict())

    # -- the end
    def finish(self, rc: int, plan) -> None:
        """Write the terminal state, index LoRAs, start the next queued job."""
        state = self.state
        final = jobfiles.final_lora(plan.output_dir, plan.output_name)
        if final is not None and str(final) not in state.checkpoints and final.stat().st_mtime < self.started:
            final = None  # left there by an earlier run
        outputs = [p for p in state.checkpoints if os.path.isfile(p)]
        if final is not None and str(final) not in outputs:
            outputs.append(str(final))
        output = str(final) if final is not None else (outputs[-1] if outputs else None)
        fields: dict[str, Any] = {"exit_code": rc, "finished_at": time.time(), "eta_s": None,
                                  "outputs": outputs, "output": output}
        if self.stop_reason:
            status = JobStatus.INTERRUPTED
            message = f"supervisor stopped ({self.stop_reason}); resume continues from the last saved state"
        elif self.cancelled and rc == 0:
            status, message = JobStatus.COMPLETED, "finished before the cancel took effect"
        elif self.cancelled:
            status, message = JobStatus.CANCELLED, f"cancelled at step {state.step or 0}"
        elif rc == 0:
            status, message = JobStatus.COMPLETED, None
        else:
            status = JobStatus.FAILED
            error = logparse.pick_error(state.errors)
            message = error.message if error else f"the trainer exited with code {rc}"
            if error is not None and error.traceback:
                fields["error"] = "Traceback (most recent call last):\n" + "\n".join(error.traceback) + "\n" + error.message
            else:
                fields["error"] = message
            if state.failure is not None:
                fields["failure_cause"] = state.failure.cause
        if status == JobStatus.COMPLETED:
            self.index_loras(outputs)  # before the status says completed, so the library has them by then
        state.set_status(status)
        state.set(message=message, **fields)
        state.flush(force=True)

    def index_loras(self, outputs: list[str]) -> None:
        """Add the job's LoRA files to the library."""
        for path in outputs:
            try:
                library.index_file_sync(self.conn, path, job_id=self.job_id)
            except Exception as exc:  # noqa: BLE001 - a library problem must not fail a finished training
                print(f"indexing {path} failed: {exc}", file=sys.stderr)

    def on_signal(self, signum, _frame) -> None:
        """SIGTERM/SIGHUP: stop the trainer (the follow loop sees the flag) and end as interrupted."""
        self.stop_reason = signal.Signals(signum).name


def main(argv: list[str] | None = None) -> int:
    """Entry point of the supervisor process."""
    parser = argparse.ArgumentParser(prog="loratui-supervisor")
    parser.add_argument("--home", required=True)
    parser.add_argument("--detach", action="store_true", help="fork and let the parent exit at once")
    parser.add_argument("--pid-fd", type=int, help="with --detach: write the detached process's pid here")
    parser.add_argument("job", type=int)
    args = parser.parse_args(argv)
    if args.detach:
        child = os.fork()
        if child > 0:
            if args.pid_fd is not None:
                os.write(args.pid_fd, f"{child}\n".encode())
            os._exit(0)
    if args.pid_fd is not None:
        os.close(args.pid_fd)  # the spawner reads until every copy of the pipe is closed
    supervisor = Supervisor(Path(args.home), args.job)
    signal.signal(signal.SIGTERM, supervisor.on_signal)
    signal.signal(signal.SIGHUP, supervisor.on_signal)
    # Not SIG_IGN: an ignored SIGINT is inherited through exec, and a trainer that ignores SIGINT could not be
    # cancelled gently. A Python handler is reset to the default in the trainer.
    signal.signal(signal.SIGINT, _ignore)
    code = 0
    try:
        supervisor.run()
    except Exception:  # noqa: BLE001 - record any bug in the job row instead of dying silently
        traceback.print_exc()
        _fail(supervisor, traceback.format_exc())
        code = 1
    finally:
        if supervisor.proc is not None and supervisor.proc.poll() is None:
            supervisor.stop_trainer()
    try:
        advance_sync(supervisor.conn, supervisor.ctx)
    except Exception:  # noqa: BLE001
        traceback.print_exc()
    return code


def _ignore(_signum, _frame) -> None:
    """SIGINT handler of the supervisor itself: nothing to do (it has no terminal)."""


def _fail(supervisor: Supervisor, text: str) -> None:
    try:
        repo.update_job(supervisor.conn, supervisor.job_id, status=JobStatus.FAILED, error=text, finished_at=time.time(),
                        message="supervisor error: " + text.strip().splitlines()[-1])
    except sqlite3.Error:
        pass


if __name__ == "__main__":
    sys.exit(main())
