"""Process groups of trainers: who is in one, signalling it, and stopping it for good.

A trainer runs in its own process group (``accelerate launch`` and the ``train_network.py`` it starts, plus
data-loader workers). SIGINT to ``accelerate`` alone leaves the trainer running as an orphan, so every signal
goes to the whole group: SIGINT first (sd-scripts stops within about a second), then SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time


def _live_processes() -> list[tuple[int, int]]:
    """(pid, process group) of every live (non-zombie) process (Linux /proc; [] elsewhere)."""
    if not os.path.isdir("/proc"):
        return []
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                data = handle.read()
        except OSError:
            continue
        fields = data[data.rfind(b")") + 2:].split()
        # fields[0] is the state, fields[2] the process group.
        if len(fields) > 2 and fields[0] != b"Z":
            found.append((int(name), int(fields[2])))
    return found


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is `pgid` (Linux /proc; [] elsewhere)."""
    if not pgid:
        return []
    return [pid for pid, group in _live_processes() if group == pgid]


def live_groups() -> set[int]:
    """The process groups that have a live member (one pass over /proc)."""
    return {group for _, group in _live_processes()}


def group_alive(pgid: int | None) -> bool:
    """True while any non-zombie process of the group runs."""
    return bool(pgid) and bool(group_members(pgid))


def signal_group(pgid: int, sig: int) -> bool:
    """Send `sig` to the whole group; False if the group is gone."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    return True


def _wait_gone(pgid: int, timeout: float, proc: subprocess.Popen | None) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None:
            proc.poll()  # reap our own child so it does not linger as a zombie
        if not group_alive(pgid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def terminate_group(
    pgid: int,
    *,
    sigint_wait_s: float = 20.0,
    sigterm_wait_s: float = 10.0,
    sigkill_wait_s: float = 5.0,
    proc: subprocess.Popen | None = None,
) -> str:
    """Stop every process of the group: SIGINT, wait, SIGTERM, wait, SIGKILL, wait.

    Returns the signal that ended it ('SIGINT', 'SIGTERM', 'SIGKILL'), 'gone' if nothing ran, or 'survived'
    when processes remain even after SIGKILL (uninterruptible sleep in a driver, for instance).
    """
    if not group_alive(pgid):
        if proc is not None:
            proc.poll()
        return "gone"
    for sig, wait in ((signal.SIGINT, sigint_wait_s), (signal.SIGTERM, sigterm_wait_s),
                      (signal.SIGKILL, sigkill_wait_s)):
        signal_group(pgid, sig)
        if _wait_gone(pgid, wait, proc):
            return sig.name
    return "survived"
