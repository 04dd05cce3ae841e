"""How feature screens plug into the app without editing app.py.

A module in ``loratui.tui.screens`` defines::

    ACTIONS = [ScreenAction(id="open_loras", key="L", description="LoRA library", factory=open_loras)]

where ``factory(app)`` returns a Screen to push (or None after notifying why not). ``app`` is the running
``LoratuiApp``: ``app.ctx`` (Context: paths, settings), ``app.store`` (an open Store), and
``app.current_dataset`` (``loratui.datasets.dataset_repo.Dataset`` or None).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class ScreenAction:
    """A key + palette entry that opens a feature screen."""

    id: str
    key: str
    description: str
    factory: Callable[[Any], Any]
