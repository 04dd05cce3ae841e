"""GPU telemetry in the jobs strip and the training monitor, and the remedies dialog of a training that ran out
of GPU memory (Pilot, snapshots at 80x24 and 160x48)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from loratui.jobs import repo as job_repo
from loratui.jobs.model import JobStatus
from loratui.jobs.procinfo import hostname, proc_key
from loratui.gpu.inventory import GIB
from loratui.store import connect
from loratui.training.config import load_config
from loratui.tui.app import LoratuiApp
from loratui.tui.screens.monitor import MonitorScreen
from loratui.tui.screens.remedies import RemediesDialog
from loratui.tui.widgets.gpu_telemetry import monitor_line, strip_gpus
from loratui.tui.widgets.jobs_strip import JobsStrip
from tests.conftest import FIXTURES

from .conftest import make_demo_home, settle

SIZES = [(80, 24), (160, 48)]
UTIL = [5, 20, 40, 60, 80, 95, 99, 97, 98, 96, 90, 99]
CONFIG = """backend = "kohya"
family = "flux"
dataset = "demo"

[args]
train_batch_size = 4
resolution = "1024,1024"
gradient_checkpointing = true
"""


def _seed(ctx) -> dict:
    """A failed flux training (CUDA out of memory on GPU 2) and a running one on GPUs 0 and 1 with telemetry."""
    folder = ctx.paths.home.parent / "configs"
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "flux.toml"
    config.write_text(CONFIG)
    conn = connect(ctx.paths.db)
    try:
        failed = job_repo.create_job(conn, "train", title="flux char v1", status=JobStatus.QUEUED,
                                     params={"config": str(config), "batch_size": 4, "family": "flux"})
        workdir = ctx.paths.job_dir(failed.id)
        workdir.mkdir(parents=True)
        shutil.copyfile(config, workdir / "loratui_config.toml")
        log = workdir / "train.log"  # the exception line only: a log this short has no scrollbar to settle
        lines = (FIXTURES / "gpu-failures" / "oom_torch2.log").read_text(encoding="utf-8").splitlines()
        log.write_text(next(line for line in lines if line.startswith("torch.OutOfMemoryError")) + "\n")
        job_repo.update_job(conn, failed.id, status=JobStatus.FAILED, workdir=str(workdir), log_path=str(log),
                            gpu_ids="2", gpu_assigned_at=1.0, gpu_released_at=2.0, peak_memory=int(23.4 * GIB),
                            failure_cause="cuda_oom", step=1, total_steps=4, exit_code=1, finished_at=2.0,
                            message="torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB")
        running = job_repo.create_job(conn, "train", title="sdxl style", status=JobStatus.QUEUED,
                                      params={"batch_size": 2})
        pid = os.getpid()
        log2 = ctx.paths.job_dir(running.id) / "train.log"
        log2.parent.mkdir(parents=True)
        shutil.copyfile(FIXTURES / "kohya-logs" / "01_cli_python.stderr.log", log2)
        job_repo.update_job(conn, running.id, status=JobStatus.TRAINING, supervisor_pid=pid, pid=pid,
                            host=hostname(), proc_key=proc_key(pid), log_path=str(log2), started_at=1.0,
                            gpu_ids="0,1", gpu_assigned_at=1.0, step=120, total_steps=290, loss=0.1093,
                            speed=1.5, eta_s=113.0)
        now = time.time()
        for i, util in enumerate(UTIL):
            t = now - (len(UTIL) - i) * 5
            job_repo.record_gpu_samples(conn, running.id, [(0, util, (10 + i) * GIB, 24 * GIB, 60 + i),
                                                           (1, util, (9 + i) * GIB, 24 * GIB, 58 + i)], t=t)
    finally:
        conn.close()
    return {"failed": failed.id, "running": running.id, "config": config}


@pytest.fixture
def gpu_home(home):
    ctx = make_demo_home(home)
    return ctx, _seed(ctx)


def test_telemetry_text():
    from loratui.jobs.model import Job

    job = Job(1, "train", JobStatus.TRAINING, gpu_ids="0,1", speed=1.5, params={"batch_size": 2},
              peak_memory=int(21 * GIB))
    samples = [{"t": float(t), "gpu": g, "utilization": u, "memory_used": 12 * GIB, "memory_total": 24 * GIB,
                "temperature": 70} for t, u in enumerate([0, 50, 100]) for g in (0, 1)]
    assert strip_gpus(job, samples) == "GPU 0,1 100% 12.0/24.0G 70°C"
    assert strip_gpus(job, None) == "GPU 0,1"
    line = monitor_line(job, samples, 160).plain
    assert "util ▁▅█" in line and "peak 21.0G" in line and "6.0 img/s" in line  # 1.5 it/s x 2 x 2 GPUs
    assert len(monitor_line(job, samples, 50).plain) <= 50


async def test_monitor_shows_telemetry_and_the_remedies_dialog_applies_to_a_copy(gpu_home):
    ctx, seeded = gpu_home
    app = LoratuiApp(ctx, "demo")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        strip = app.screen.query_one(JobsStrip)
        assert "41%  GPU 0,1 99% 21.0/24.0G" in strip.render_line(0).text  # at 80 columns: cut after that
        await pilot.press("J")
        await pilot.pause(0.5)
        monitor = app.screen
        assert isinstance(monitor, MonitorScreen) and monitor.job_id == seeded["running"]
        line = str(monitor.query_one("#monitor-gpu").render())
        assert "GPU0 99% 21.0/24.0G 71°C" in line
        await pilot.press("down")
        await pilot.pause(0.5)
        assert monitor.job_id == seeded["failed"]
        assert "CUDA out of memory" in str(monitor.query_one("#monitor-gpu").render())
        await pilot.press("m")
        await pilot.pause(0.5)
        dialog = app.screen
        assert isinstance(dialog, RemediesDialog)
        assert [r.id for r in dialog.remedies] == ["cache_latents", "cache_text_encoder_outputs", "fp8_base",
                                                   "blocks_to_swap", "smaller_batch", "lower_resolution"]
        await pilot.press("5")
        await pilot.pause(0.5)
        assert dialog.written is not None and dialog.written.parent == seeded["config"].parent
        assert load_config(dialog.written).args["train_batch_size"] == 2
        assert seeded["config"].read_text() == CONFIG  # the original is never changed
        await pilot.press("escape")
        await pilot.pause(0.2)
        assert app.screen is monitor


async def _idle(pilot, app, timeout: float = 5.0) -> None:
    """Until every worker of the app and its screens is done (the monitor loads the selected job in one)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await pilot.pause(0.1)
        busy = [w for w in app.workers if not w.is_finished and w.group != "monitor-log"]
        if not busy:
            return


async def _log_loaded(pilot, app, timeout: float = 5.0) -> None:
    """Until the monitor's log view stopped growing (its tail runs in a thread; the scrollbar follows it)."""
    from loratui.tui.widgets.logview import LogView

    screens = [s for s in app.screen_stack if isinstance(s, MonitorScreen)]
    if not screens:
        return
    view = screens[-1].query_one(LogView)
    deadline, last, steady = time.monotonic() + timeout, -1, 0
    while time.monotonic() < deadline and steady < 3:
        await pilot.pause(0.1)
        count = view.line_count
        steady = steady + 1 if count == last and count > 0 else 0
        last = count


def _visit(keys: list[str]):
    async def run_before(pilot) -> None:
        app = pilot.app
        await settle(pilot, app)
        for key in keys:
            await pilot.press(key)
            await _idle(pilot, app)
            await _log_loaded(pilot, app)
        await pilot.pause(0.5)
        await pilot.wait_for_scheduled_animations()

    return run_before


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("name,keys", [("monitor", ["J"]), ("remedies", ["J", "down", "m"])], ids=["monitor",
                                                                                                  "remedies"])
def test_snapshot(name, keys, size, gpu_home, snap_compare):
    ctx, _seeded = gpu_home
    assert snap_compare(LoratuiApp(ctx, "demo"), terminal_size=size, run_before=_visit(keys))
