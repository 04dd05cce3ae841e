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


def spawn_supervisor(ctx: Context, job_id: int) -> None:
    """Start the detached supervisor of a job (returns once it has detached).

    The supervisor forks once more and its first process exits, so it belongs to no terminal, SSH session or
    loratui process; its own errors go to the job folder's supervisor.log.
    """
    job_dir = ctx.paths.job_dir(job_id)
    job_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    root = str(Path(loratui.__file__).resolve().parents[1])  # the supervisor imports this same loratui
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    with open(job_dir / jobfiles.SUPERVISOR_LOG, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", SUPERVISOR_MODULE, "--home", str(ctx.paths.home), "--detach", str(job_id)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, close_fds=True, env=env,
            cwd=str(job_dir),
        )
    proc.wait(timeout=60)  # the first process exits right after forking the real supervisor
