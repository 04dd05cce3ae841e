"""Issue 13 item 8: kill -9 of a scan orphaned its worker processes and multiprocessing's resource tracker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import python_subprocess_env
from tests.core.badinput import noisy

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; PR_SET_PDEATHSIG is Linux")


def _marked(marker: str) -> dict[int, str]:
    """pid -> state of every live process whose environment carries `marker` (reparented ones included)."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as handle:
                if marker.encode() not in handle.read():
                    continue
            with open(f"/proc/{entry}/stat", "rb") as handle:
                state = handle.read().rsplit(b")", 1)[1].split()[0].decode()
        except OSError:
            continue
        if state != "Z":  # a zombie has already exited; only its parent's wait() is missing
            found[int(entry)] = state
    return found


def _busy_workers(pid: int) -> int:
    """How many of `pid`'s spawned workers have loaded Pillow's decoder: they are probing images."""
    busy = 0
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text(encoding="ascii").split()
    except OSError:
        return 0
    for child in children:
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():  # not the resource tracker
                busy += b"_imaging" in Path(f"/proc/{child}/maps").read_bytes()
        except OSError:
            continue
    return busy


@pytest.fixture(scope="module")
def many_images(tmp_path_factory) -> Path:
    """300 images (hard links of a few noisy PNGs: every one is probed, the disk holds eight)."""
    root = tmp_path_factory.mktemp("kill") / "ds"
    root.mkdir()
    sources = []
    for seed in range(8):
        source = root.parent / f"src{seed}.png"
        noisy((384, 384), seed=seed).save(source)
        sources.append(source)
    for index in range(300):
        os.link(sources[index % 8], root / f"img{index:03d}.png")
    return root


@pytest.mark.timeout(120)
@pytest.mark.parametrize("run", range(3))
def test_sigkill_of_a_scan_leaves_no_process_behind(many_images, tmp_path, run):
    marker = f"LORATUI_KILL_TEST={uuid.uuid4().hex}"
    key, value = marker.split("=")
    env = python_subprocess_env({key: value, "LORATUI_HOME": str(tmp_path / "home")})
    scan = subprocess.Popen([sys.executable, "-m", "loratui", "dataset", "add", str(many_images), "--workers", "2"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        # Mid-scan: both workers are probing images (a worker killed while it starts up dies anyway).
        while _busy_workers(scan.pid) < 2 and scan.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.1 * run)  # at once, a little later, later still
        tree = set(_marked(marker))
        assert scan.poll() is None and _busy_workers(scan.pid) == 2, "the scan ended before it could be killed"
        os.kill(scan.pid, signal.SIGKILL)
        scan.wait(10)
        survivors = _marked(marker)
        for _ in range(100):
            if not survivors:
                break
            time.sleep(0.05)
            survivors = _marked(marker)
        assert len(tree) >= 4  # the CLI, two workers, the resource tracker
        assert not survivors, f"still running after the scan was killed: {survivors}"
    finally:
        for pid in _marked(marker):
            os.kill(pid, signal.SIGKILL)
        if scan.poll() is None:
            scan.kill()
        scan.stderr.close()
