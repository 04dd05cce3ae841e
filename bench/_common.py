"""Helpers shared by benchmark scripts: process-tree memory sampling and timing."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as handle:
            return [int(p) for p in handle.read().split()]
    except OSError:
        return []


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MiB (Linux)."""
    total = 0
    stack = [pid]
    while stack:
        current = stack.pop()
        try:
            with open(f"/proc/{current}/status", encoding="ascii") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
        stack.extend(_children(current))
    return total / 1024


def run_measured(argv: list[str], env: dict | None = None) -> tuple[float, float, subprocess.CompletedProcess]:
    """Run a command; returns (seconds, peak process-tree RSS in MiB, completed process)."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=REPO)
    peak = 0.0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, tree_rss_mb(proc.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    stop.set()
    sampler.join()
    elapsed = time.perf_counter() - started
    return elapsed, peak, subprocess.CompletedProcess(argv, proc.returncode, out, err)


def loratui_env(home: Path) -> dict:
    """Environment for running this checkout's `python -m loratui` with a given home."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO)
    env["LORATUI_HOME"] = str(home)
    return env
