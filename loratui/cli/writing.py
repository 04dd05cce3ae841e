"""The CLI side of dataset writer locks: ``--no-wait``, and the line printed while waiting for another writer."""

from __future__ import annotations

import argparse
import contextlib
from typing import Iterator

from loratui.cli.output import info
from loratui.datasets import writelock


def add_no_wait(parser: argparse.ArgumentParser) -> None:
    """Add ``--no-wait`` to a command that writes a dataset's files."""
    parser.add_argument("--no-wait", action="store_true",
                        help="fail at once when another loratui process is writing this dataset (default: wait for "
                             "it, saying what it is)")


@contextlib.contextmanager
def waiting(args: argparse.Namespace) -> Iterator[None]:
    """Wait for other writers as the command line says: not at all with --no-wait, else with a line on stderr."""
    with writelock.wait_policy(no_wait=getattr(args, "no_wait", False), on_wait=lambda line: info(f"{line} ...")):
        yield
