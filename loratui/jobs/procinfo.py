"""Process identity that survives pid reuse: boot id + the process's start time (Linux /proc)."""

from __future__ import annotations

import os
import socket


def boot_id() -> str:
    """The kernel's boot id ('' where unavailable)."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def start_ticks(pid: int) -> str:
    """Start time of `pid` in clock ticks since boot ('' if unknown or gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return ""
    # The command name (field 2) may contain spaces and ')' so split after its last ')'.
    fields = data[data.rfind(b")") + 2:].split()
    return fields[19].decode() if len(fields) > 19 else ""


def proc_key(pid: int) -> str:
    """A key that identifies this exact process on this boot."""
    return f"{boot_id()}:{start_ticks(pid)}"


def hostname() -> str:
    """This machine's host name."""
    return socket.gethostname()


def is_alive(pid: int | None, key: str | None = None) -> bool:
    """True if `pid` runs and, when `key` is given, is the same process that recorded it."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    stat_path = f"/proc/{pid}/stat"
    if os.path.exists(stat_path):
        # A zombie has exited; it only waits for its parent to reap it.
        try:
            with open(stat_path, "rb") as handle:
                data = handle.read()
        except OSError:
            return False
        if data[data.rfind(b")") + 2:][:1] == b"Z":
            return False
        if key:
            return proc_key(pid) == key
    return True
