"""Starting the detached supervisor process of a training job."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import loratui
from loratui.config import Context
from loratui.training.run import jobfiles

SUPERVISOR_MODULE = "loratui.training.run.supervisor"


def spawn_supervisor(ctx: Context, job_id: int) -> int:
    """Start the detached supervisor of a job; returns its pid once it has detached.

    The supervisor forks once more and its first process exits, so it belongs to no terminal, SSH session or
    loratui process; its own errors go to the job folder's supervisor.log. The first process reports the
    detached one's pid through a pipe before it exits, so the caller can hand the job to it at once.
    Raises ``subprocess.SubprocessError`` (or ``OSError``) when no supervisor could be started.
    """
    job_dir = ctx.paths.job_dir(job_id)
    job_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    root = str(Path(loratui.__file__).resolve().parents[1])  # the supervisor imports this same loratui
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    read_end, write_end = os.pipe()
    try:
        with open(job_dir / jobfiles.SUPERVISOR_LOG, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", SUPERVISOR_MODULE, "--home", str(ctx.paths.home), "--detach",
                 "--pid-fd", str(write_end), str(job_id)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, close_fds=True,
                pass_fds=(write_end,), env=env, cwd=str(job_dir),
            )
        os.close(write_end)
        write_end = -1
        code = proc.wait(timeout=60)  # the first process exits right after forking the real supervisor
        with os.fdopen(read_end, "rb") as reader:
            read_end = -1
            reported = reader.read().strip()
    finally:
        for fd in (read_end, write_end):
            if fd >= 0:
                os.close(fd)
    if code != 0 or not reported.isdigit():
        raise subprocess.SubprocessError(
            f"the supervisor exited with code {code} before it started (see {job_dir / jobfiles.SUPERVISOR_LOG})")
    return int(reported)
