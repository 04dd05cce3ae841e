"""Keeps the garbage collector out of key presses: it runs in the pauses between them.

Two things make CPython's automatic collections land in the middle of a key press here:
- Textual's strips keep themselves in their own caches (``Strip.divide`` stores ``[self]``, ``adjust_cell_length``
  stores ``self``), so every line drawn becomes a reference cycle once replaced, which only the cyclic GC frees.
  A preview's lines reference its ~3,000 per-cell styles, so garbage piles up fast, and full passes came every
  few previews, 30-65 ms each on the benchmark machine.
- Building a preview allocates ~10,000 GC-tracked objects (styles, colours, segments) in the decoding thread, so
  young passes run in the middle of it and of the UI thread's drawing (up to 10-17 ms each), in whichever thread
  crossed the threshold.

So once a dataset is open (`settled()`) the pacer switches automatic collection off and collects itself: a full
pass as soon as input has been quiet for `IDLE_S` (the user is looking at the image); under a held key, a young
pass (only what was allocated since the last pass: a few ms) every `YOUNG_EVERY_S` and a full one every
`FULL_EVERY_S`, which bounds the garbage (cycles only; everything else is freed by reference counting as usual).
What is alive once a dataset is loaded (the framework, the 50,000 rows) is frozen out of every pass
(``gc.freeze``). Until then (start-up, no dataset yet) Python's own automatic collection runs: start-up allocates
too fast for idle passes to keep up.
"""

from __future__ import annotations

import gc
import time

IDLE_S = 0.1
"""Input quiet for this long: a pass may run (~10-30 ms on the benchmark machine, with the caches' sizes here)."""
YOUNG_EVERY_S = 1.0
"""Under input that never pauses, a young pass runs this often."""
FULL_EVERY_S = 30.0
"""...and a full pass this often, so memory stays bounded under keys held for minutes."""
MIN_NEW_OBJECTS = 2000
"""Fewer new tracked objects than this since the last pass: not worth one."""
CHECK_S = 0.05
"""How often the app calls `tick()`."""


class GcPacer:
    """Owns the GC of the running app: `start()` on mount, `settled()` when a dataset is open, `input_seen()` per
    input event, `tick()` every `CHECK_S`, `stop()` on exit (gives automatic collection back and unfreezes)."""

    def __init__(self, clock=time.monotonic) -> None:
        self.clock = clock
        self.last_input = 0.0
        self.last_full = 0.0
        self.last_young = 0.0
        self.full_passes = 0
        self.young_passes = 0
        self._was_enabled: bool | None = None
        self._pacing = False

    @property
    def running(self) -> bool:
        """True between `start()` and `stop()`."""
        return self._was_enabled is not None

    @property
    def pacing(self) -> bool:
        """True once `settled()` took collection over (until `stop()`)."""
        return self._pacing

    def start(self) -> None:
        """Remember the GC's state; nothing changes until `settled()`."""
        if self.running:
            return
        self.last_input = self.last_full = self.last_young = self.clock()
        self._was_enabled = gc.isenabled()

    def stop(self) -> None:
        """Give the GC back its automatic collections (the process may go on, e.g. in tests)."""
        if not self.running:
            return
        if self._was_enabled:
            gc.enable()
        self._was_enabled = None
        self._pacing = False
        gc.unfreeze()

    def input_seen(self) -> None:
        """Note a key press or mouse event (cheap: called for every input event)."""
        self.last_input = self.clock()

    def settled(self) -> None:
        """A dataset was opened: collect everything (a dataset switch frees the previous one's rows), freeze what
        is alive, and take collection over from here on."""
        if not self.running:
            return
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        gc.disable()
        self._pacing = True
        self.last_full = self.last_young = self.clock()

    def tick(self) -> bool:
        """Collect if it is due; returns True when a pass ran."""
        if not self.pacing:
            return False
        now = self.clock()
        if now - self.last_input >= IDLE_S:
            ran = gc.get_count()[0] >= MIN_NEW_OBJECTS
            if ran:
                gc.collect()
                self.full_passes += 1
            # Caught up (or nothing worth a pass): the forced passes below only come after this long of input
            # that never paused, so they never land in the middle of an ordinary key press.
            self.last_full = self.last_young = self.clock()
            return ran
        if gc.get_count()[0] < MIN_NEW_OBJECTS:
            return False
        if now - self.last_full >= FULL_EVERY_S:
            gc.collect()
            self.last_full = self.last_young = self.clock()
            self.full_passes += 1
            return True
        if now - self.last_young >= YOUNG_EVERY_S:
            gc.collect(1)
            self.last_young = self.clock()
            self.young_passes += 1
            return True
        return False
