"""`loratui` for tests, with a `train` group even where the training-config commands are not merged yet.

In-process: ``patch_train_group(monkeypatch)``; as a process: ``python cli_entry.py ARGS...``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _build_parser_with_train(original):
    def build_parser():
        parser = original()
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        if "train" not in sub.choices:
            from loratui.cli.commands import train_run

            train = sub.add_parser("train", help="(test stand-in group)")
            train_run.add_commands(train.add_subparsers(dest="train_command", metavar="SUBCOMMAND"))
        return parser

    return build_parser


def patch_train_group(monkeypatch) -> None:
    """Make loratui.cli.main.main() see a `train` group with the run commands."""
    from loratui.cli import main as cli_main

    monkeypatch.setattr(cli_main, "build_parser", _build_parser_with_train(cli_main.build_parser))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from loratui.cli import main as cli_main

    cli_main.build_parser = _build_parser_with_train(cli_main.build_parser)
    sys.exit(cli_main.main())
