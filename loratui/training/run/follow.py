"""Following a growing log file (``train logs --follow``, the monitor's log view)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Iterator


def follow_file(path: Path, *, offset: int = 0, poll_s: float = 0.25,
                stop: Callable[[], bool] | None = None) -> Iterator[bytes]:
    """Yield new bytes of a growing file (b"" after each idle poll, so a caller can look up whether to stop);
    ends when `stop()` is true and everything was read."""
    while not path.exists():
        if stop is not None and stop():
            return
        time.sleep(poll_s)
        yield b""
    with open(path, "rb") as handle:
        handle.seek(offset)
        while True:
            data = handle.read(1 << 16)
            if data:
                yield data
                continue
            if stop is not None and stop():
                rest = handle.read()
                if rest:
                    yield rest
                return
            time.sleep(poll_s)
            yield b""
