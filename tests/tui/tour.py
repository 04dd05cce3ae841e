"""A home with realistic data on every screen, and the keys that reach each screen from the main one.

Used by the snapshot tests of every screen (``test_snapshots.py``). The home holds the ``loratui demo`` dataset
(13 images, one exact and one near duplicate), two LoRA files (the real sd-scripts output from
``tests/fixtures/loras``) scanned into the library, two base model files, and three trainings: a completed one
with a loss curve, a running one (owned by this test process, so the reconcile step keeps it running) whose log is
a recorded sd-scripts run, and a queued one.

The home lives at a fixed path so that paths shown on screen (the training form's config path, the models
folder) are the same on every machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import shutil
from pathlib import Path

from loratui.config import Context
from loratui.demo import create_demo
from loratui.jobs import repo as job_repo
from loratui.jobs.model import JobStatus
from loratui.jobs.procinfo import hostname, proc_key
from loratui.loras.library import scan_dir
from loratui.store import Store
from tests.conftest import FIXTURES

TOUR_HOME = Path("/tmp/loratui-tour/home")
_LOCK = Path("/tmp/loratui-tour.lock")


@contextlib.contextmanager
def tour_lock():
    """Hold the tour home for this process: it sits at a fixed path (it is shown in the snapshots), so two test
    sessions on one machine (two checkouts) would otherwise rebuild it under each other."""
    with open(_LOCK, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
"""Fixed, so that snapshots show the same paths everywhere (the folder is emptied first)."""

RUNNING_LOG = FIXTURES / "kohya-logs" / "01_cli_python.stderr.log"
REAL_LORA = FIXTURES / "loras" / "tinylora-sd15-dim4.safetensors"

SCREENS: dict[str, list[str]] = {
    # name -> keys pressed on the main screen (after the cursor is put on a PNG image)
    "main": [],
    "tree": ["d"],
    "help": ["question_mark"],
    "palette": ["ctrl+p"],
    "filter": ["slash", *"night", "enter"],
    "tagfreq_rename": ["F", "r", "ctrl+a", "ctrl+k", *"no person", "enter"],
    "dupes": ["D", "down"],
    "training": ["C"],
    "monitor": ["J"],
    "loras": ["L"],
    "models": ["M"],
    "add_dataset": ["a", *"/tmp/loratui-tour/home/de"],
    "tagging": ["T"],
}
"""Every screen of the snapshot set, and how a user gets there by keyboard."""


def _seed_jobs(conn, dataset_id: int, log_path: Path) -> None:
    done = job_repo.create_job(conn, "train", title="train demo (sd15, first try)", dataset_id=dataset_id,
                               status=JobStatus.COMPLETED)
    job_repo.record_progress(conn, done.id, {"step": 290, "total_steps": 290, "epoch": 10, "epochs": 10,
                                             "loss": 0.0871},
                             metrics={s: (1 + s // 29, 0.16 - 0.07 * s / 290 + 0.01 * ((s * 7) % 5) / 5, 0.0)
                                      for s in range(1, 291, 5)})
    running = job_repo.create_job(conn, "train", title="train demo (sd15)", dataset_id=dataset_id,
                                  status=JobStatus.RUNNING)
    pid = os.getpid()
    job_repo.update_job(conn, running.id, supervisor_pid=pid, pid=pid, host=hostname(), proc_key=proc_key(pid),
                        log_path=str(log_path), started_at=1_700_000_000.0)
    job_repo.record_progress(conn, running.id, {"step": 120, "total_steps": 290, "epoch": 5, "epochs": 10,
                                                "loss": 0.1093, "speed": 1.87, "eta_s": 91.0},
                             metrics={s: (1 + s // 29, 0.17 - 0.06 * s / 290 + 0.012 * ((s * 3) % 5) / 5, 0.0)
                                      for s in range(1, 121, 5)})
    job_repo.create_job(conn, "train", title="train demo (sdxl)", dataset_id=dataset_id, status=JobStatus.QUEUED)


def make_tour_home(home: Path = TOUR_HOME) -> Context:
    """Build the home (from scratch) and return its Context."""
    if home.exists():
        shutil.rmtree(home)
    ctx = Context.load(home)
    loras = home.parent / "loras"
    if loras.exists():
        shutil.rmtree(loras)
    loras.mkdir(parents=True)
    shutil.copyfile(REAL_LORA, loras / "demo-sky-v1.safetensors")
    shutil.copyfile(REAL_LORA, loras / "demo-sky-v2.safetensors")
    ctx.paths.models.mkdir(parents=True, exist_ok=True)
    (ctx.paths.models / "sd15").mkdir()
    (ctx.paths.models / "sd15" / "v1-5-pruned-emaonly.safetensors").write_bytes(b"\0" * 4096)
    (ctx.paths.models / "sdxl_vae.safetensors").write_bytes(b"\0" * 2048)
    log_path = ctx.paths.job_dir(2) / "train.log"
    log_path.parent.mkdir(parents=True)
    shutil.copyfile(RUNNING_LOG, log_path)

    async def create() -> None:
        async with Store.open(ctx.paths.db) as store:
            dataset = await create_demo(store, ctx.paths.demo, workers=1)
            await scan_dir(store, loras)
            await store.run(_seed_jobs, dataset.id, log_path)

    asyncio.run(create())
    return ctx
