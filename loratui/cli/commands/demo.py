"""`loratui demo`: create a demo dataset of generated images in the home and open the app on it."""

from __future__ import annotations

import argparse
import asyncio

from loratui.cli.output import info
from loratui.demo import DEFAULT_COUNT, create_demo
from loratui.errors import InputError
from loratui.store import Store


def register(parser: argparse.ArgumentParser) -> None:
    """Build the `demo` command."""
    parser.description = ("Generate a small demo dataset in HOME/demo (existing files and caption edits are kept), "
                          "register it as dataset 'demo' and open the terminal UI on it.")
    parser.add_argument("--count", type=int, default=None, help="how many images to generate (default 24)")
    parser.add_argument("--no-open", action="store_true", help="only create the dataset; do not open the app")
    parser.set_defaults(handler=cmd_demo)


def cmd_demo(ctx, args) -> int:
    count = DEFAULT_COUNT if args.count is None else args.count
    if count < 1 or count > 10_000:
        raise InputError(f"--count must be between 1 and 10000, got {count}")

    async def create():
        async with Store.open(ctx.paths.db) as store:
            return await create_demo(store, ctx.paths.demo, count=count)

    dataset = asyncio.run(create())
    if args.no_open:
        info(f"demo dataset {dataset.name!r} ready: {dataset.path}")
        return 0
    # Imported here for start-up time: `demo --no-open` does not load textual.
    from loratui.tui.app import run_app

    return run_app(ctx, dataset=dataset.name)
