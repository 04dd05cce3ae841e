"""Fixtures for TUI tests: a home with a small demo dataset, and an app factory."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from loratui.config import Context
from loratui.demo import create_demo
from loratui.store import Store

DEMO_COUNT = 12


def make_demo_home(home: Path, count: int = DEMO_COUNT) -> Context:
    """A Context whose home holds a registered, scanned demo dataset."""
    ctx = Context.load(home)

    async def create():
        async with Store.open(ctx.paths.db) as store:
            await create_demo(store, ctx.paths.demo, count=count, workers=1)

    asyncio.run(create())
    return ctx


@pytest.fixture
def demo_ctx(home) -> Context:
    """Context with a demo dataset of 12 images (+1 duplicate) in a fresh home."""
    return make_demo_home(home)


def _preview_busy(main) -> bool:
    from loratui.tui.widgets.preview import ImagePreview

    return any(preview.busy for preview in main.query(ImagePreview))


async def settle(pilot, app, timeout: float = 5.0) -> None:
    """Wait until the main screen has a dataset open and the workers are idle."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    quiet = 0
    while loop.time() < deadline and quiet < 2:
        await pilot.pause(0.03)
        main = app.main_screen
        ready = (main is not None and main.target is not None and not main.load_pending
                 and getattr(app, "screen_actions_ready", True)
                 and all(w.is_finished for w in app.workers) and not _preview_busy(main))
        quiet = quiet + 1 if ready else 0
