"""Keeps the garbage collector's full passes out of key presses: they run in the pauses between them.

Textual's strips keep themselves in their own caches (``Strip.divide`` stores ``[self]``, ``adjust_cell_length``
stores ``self``), so every line drawn becomes a reference cycle when it is replaced, and only the cyclic GC frees
it. A preview's lines reference its ~3,000 per-cell styles, so garbage piles up quickly, and CPython's
automatic full passes (every few previews, 30-65 ms each on the benchmark machine) landed in the middle of key
presses. The pacer turns automatic full passes off and runs them itself as soon as input has been quiet for
`IDLE_S` (the user is looking at the image) or, under a held key, at the latest every `FORCE_AFTER_S`. Young
passes (well under a millisecond) stay automatic. What is alive once a dataset is loaded (the framework, the
50,000 rows) is frozen out of every pass (``gc.freeze``), once.
"""

from __future__ import annotations

import gc
import time

IDLE_S = 0.1
"""Input quiet for this long: a full pass may run (one takes ~5-20 ms with the caches' sizes used here)."""
FORCE_AFTER_S = 2.0
"""A full pass runs at the latest this long after the previous one, so memory stays bounded under held keys."""
CHECK_S = 0.05
"""How often the app calls `tick()`."""
NO_AUTOMATIC_FULL_PASS = 1_000_000_000
"""Generation-2 threshold while the pacer runs: it counts young passes, so this is never reached."""


class GcPacer:
    """Owns the GC settings of the running app: `start()` on mount, `input_seen()` per input event, `tick()`
    every `CHECK_S`, `stop()` on exit (restores the threshold and unfreezes)."""

    def __init__(self, clock=time.monotonic) -> None:
        self.clock = clock
        self.last_input = 0.0
        self.last_full = 0.0
        self.full_passes = 0
        self._saved_threshold: tuple[int, int, int] | None = None

    @property
    def running(self) -> bool:
        """True between `start()` and `stop()`."""
        return self._saved_threshold is not None

    def start(self) -> None:
        """Turn off automatic full passes (young ones stay)."""
        if self.running:
            return
        self.last_input = self.last_full = self.clock()
        self._saved_threshold = gc.get_threshold()
        young, middle, _old = self._saved_threshold
        gc.set_threshold(young, middle, NO_AUTOMATIC_FULL_PASS)

    def stop(self) -> None:
        """Give the GC back its own settings (the process may go on, e.g. in tests)."""
        if not self.running:
            return
        gc.set_threshold(*self._saved_threshold)
        self._saved_threshold = None
        gc.unfreeze()

    def input_seen(self) -> None:
        """Note a key press or mouse event (cheap: called for every input event)."""
        self.last_input = self.clock()

    def settled(self) -> None:
        """The long-lived data is loaded (a dataset's rows): collect once, then freeze what is alive."""
        if self.running:
            gc.collect()
            gc.freeze()
            self.last_full = self.clock()

    def tick(self) -> bool:
        """Run a full pass if one is due; returns True when one ran."""
        if not self.running or gc.get_count()[2] == 0:
            return False  # nothing has reached the old generation since the last pass
        now = self.clock()
        if now - self.last_input < IDLE_S and now - self.last_full < FORCE_AFTER_S:
            return False
        gc.collect()
        self.last_full = self.clock()
        self.full_passes += 1
        return True
