"""Helpers for training-run tests: stand-in trainer plans, reading job rows, waiting."""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
STANDIN = HERE / "standin_trainer.py"
FIXTURES = HERE.parent / "fixtures"


def standin_argv(out_dir: Path, log: str = "16_toml_accelerate_combined_unbuffered", *extra: str,
                 step_delay: float = 0.02) -> list[str]:
    """argv of the stand-in trainer replaying fixture `log` into `out_dir`."""
    return [sys.executable, str(STANDIN), "--log", log, "--output_dir", str(out_dir), "--output_name", "tinylora",
            "--step_delay", str(step_delay), *extra]


def make_plan(tmp_path: Path, log: str = "16_toml_accelerate_combined_unbuffered", *extra: str,
              step_delay: float = 0.02, name: str = "run", phases=None, total_steps: int | None = None):
    """A kohya TrainPlan whose train phase is the stand-in trainer."""
    from loratui.training.plan import TrainPhase, TrainPlan

    out = tmp_path / name / "out"
    workdir = tmp_path / name / "work"
    if phases is None:
        phases = [TrainPhase("train", standin_argv(out, log, *extra, step_delay=step_delay), str(tmp_path))]
    return TrainPlan(backend="kohya", family="sd15", workdir=workdir, files={"note.txt": "stand-in\n"},
                     phases=phases, output_dir=str(out), output_name="tinylora", total_steps=total_steps, epochs=1)


def write_config(tmp_path: Path, steps: int = 4, **extra) -> Path:
    """A kohya training config for the stand-in sd-scripts checkout and the `tiny` dataset of `train_cli`."""
    model = tmp_path / "model.safetensors"
    model.write_bytes(b"stand-in")
    lines = [
        'backend = "kohya"', 'family = "sd15"', 'dataset = "tiny"', "", "[launch]", 'launcher = "python"', "",
        "[args]", f'pretrained_model_name_or_path = "{model}"', f'output_dir = "{tmp_path / "out"}"',
        'output_name = "tinylora"', 'network_module = "networks.lora"', 'resolution = "64,64"',
        "train_batch_size = 2", f"max_train_steps = {steps}", "save_state = true",
    ]
    lines += [f"{k} = {v}" for k, v in extra.items()]
    path = tmp_path / "run.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def cache_phase(name: str, code: int = 0, *, bars: int = 5, delay: float = 0.01):
    """A musubi-like caching phase: a tqdm-like bar redrawn `bars` times, `delay` apart, then exit `code`."""
    from loratui.training.plan import TrainPhase

    script = (
        "import sys, time\n"
        f"for i in range({bars}):\n"
        f"    sys.stderr.write(f'\\r{{i * 100 // {bars}:3d}}%|##        | {{i}}/{bars} [00:00<00:01,  9.00it/s]')\n"
        "    sys.stderr.flush()\n"
        f"    time.sleep({delay})\n"
        "sys.stderr.write('\\n')\n"
        f"sys.exit({code})\n"
    )
    return TrainPhase(name, [sys.executable, "-c", script], "")


def musubi_plan(tmp_path: Path, *, text_rc: int = 0, train_extra=(), name: str = "musubi",
                latents: dict | None = None, text: dict | None = None):
    """A musubi-tuner plan: two caching phases (``cache_phase`` options in `latents` / `text`), then the
    stand-in trainer."""
    from loratui.training.plan import TrainPhase

    plan = make_plan(tmp_path, name=name, total_steps=6)
    train = TrainPhase("train", standin_argv(tmp_path / name / "out", "08_save_state", *train_extra), "")
    plan.backend, plan.family = "musubi", "qwen-image"
    plan.phases = [cache_phase("cache_latents", **(latents or {})), cache_phase("cache_text", text_rc, **(text or {})),
                   train]
    return plan


def enqueue(ctx, plan) -> int:
    """A queued training, its files written as ``launch.start_training`` writes them, with nothing started."""
    from loratui.jobs import repo
    from loratui.store import connect
    from loratui.training.run import jobfiles

    conn = connect(ctx.paths.db)
    try:
        job = repo.create_job(conn, "train", title=plan.workdir.parent.name)
        job_dir = ctx.paths.job_dir(job.id)
        plan.write_files()
        jobfiles.write_job_plan(job_dir, jobfiles.JobPlan(plan, []))
        repo.update_job(conn, job.id, workdir=str(job_dir), log_path=str(job_dir / jobfiles.LOG_FILE))
        repo.claim_or_enqueue(conn, job.id, ctx.settings.trainers.max_parallel, force_queue=True)
        return job.id
    finally:
        conn.close()


def tqdm_flood(steps: int, redraws_per_step: int, line_bytes: int = 0) -> bytes:
    """What a trainer flooding its log writes: `steps` x `redraws_per_step` ``\\r`` redraws of a tqdm ``steps``
    bar without a newline (the avr_loss of redraw r of step s is s/1000 + r/1e7: the last of each step is
    known), then a line of `line_bytes` bytes without a newline."""
    parts = []
    for step in range(1, steps + 1):
        bar = "\u2588" * (step * 10 // steps)
        parts.extend(f"\rsteps: {step * 100 // steps:3d}%|{bar:<10}| {step}/{steps} [00:{r % 60:02d}<01:00, "
                     f"9.99it/s, avr_loss={step / 1000 + r / 1e7:.7f}]" for r in range(redraws_per_step))
    return "".join(parts).encode() + b"x" * line_bytes


def job_row(home: Path, job_id: int) -> dict:
    """The job row read with a plain sqlite3 connection."""
    conn = sqlite3.connect(str(home / "loratui.db"), timeout=30)
    conn.row_factory = sqlite3.Row
    try:
        row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return dict(row) if row else {}
    finally:
        conn.close()


def job_events(home: Path, job_id: int, kind: str | None = None) -> list[dict]:
    """job_events rows (data decoded)."""
    conn = sqlite3.connect(str(home / "loratui.db"), timeout=30)
    try:
        rows = conn.execute("SELECT kind, data FROM job_events WHERE job_id = ? ORDER BY id", (job_id,)).fetchall()
    finally:
        conn.close()
    return [dict(json.loads(d), kind=k) for k, d in rows if kind is None or k == kind]


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.1, what: str = "condition"):
    """Poll until predicate() is truthy; returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def wait_status(home: Path, job_id: int, statuses, timeout: float = 30.0) -> dict:
    """Wait until the job reaches one of `statuses`; returns the row."""
    statuses = {statuses} if isinstance(statuses, str) else set(statuses)
    return wait_for(lambda: (lambda r: r if r.get("status") in statuses else None)(job_row(home, job_id)),
                    timeout, what=f"job {job_id} to reach {statuses} (now {job_row(home, job_id).get('status')})")


def alive(pid: int) -> bool:
    """True if pid runs and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return False
    return data[data.rfind(b")") + 2:][:1] != b"Z"


def kill_job_processes(home: Path) -> None:
    """SIGKILL the supervisors and trainer groups of every job in `home` (cleanup after a failed test)."""
    import os
    import signal
    import sqlite3

    from loratui.jobs.procinfo import is_alive
    from loratui.training.run.procgroup import group_members

    db = home / "loratui.db"
    if not db.exists():
        return
    conn = sqlite3.connect(str(db), timeout=30)
    try:
        rows = conn.execute("SELECT supervisor_pid, proc_key, pgid FROM jobs").fetchall()
    finally:
        conn.close()
    for supervisor_pid, key, pgid in rows:
        if supervisor_pid and is_alive(supervisor_pid, key):
            os.kill(supervisor_pid, signal.SIGKILL)
        if pgid and group_members(pgid):
            try:
                os.killpg(pgid, signal.SIGKILL)
            except OSError:
                pass

