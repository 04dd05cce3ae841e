"""Entry point: builds the argparse tree from the modules in ``loratui.cli.commands``.

Each command module defines ``register(subparsers)``, which may return ``{group_name: sub_action}`` so that
other modules can add subcommands to that group with ``extend(groups)``. A parser's handler is set with
``parser.set_defaults(handler=fn)`` where ``fn(ctx, args)`` may be sync or async and returns an exit code (or None).
With no subcommand, `loratui` opens the terminal UI.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import pkgutil
import sys

from loratui import __version__
from loratui.errors import LoratuiError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    """The full command tree."""
    parser = argparse.ArgumentParser(
        prog="loratui",
        description="Train LoRA image models from the terminal. With no command, opens the terminal UI.",
        epilog="Data lives in --home, $LORATUI_HOME or the platform's user data dir. "
        "Run `loratui COMMAND --help` for details.",
    )
    parser.add_argument("--version", action="version", version=f"loratui {__version__}")
    parser.add_argument("--home", metavar="DIR", help="loratui home folder (database, settings, job logs)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    from loratui.cli import commands

    names = sorted(m.name for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_"))
    modules = [importlib.import_module(f"loratui.cli.commands.{name}") for name in names]
    groups: dict[str, argparse._SubParsersAction] = {}
    for module in modules:
        if hasattr(module, "register"):
            groups.update(module.register(subparsers) or {})
    # A module may add subcommands to another module's group: `def extend(groups)`.
    for module in modules:
        if hasattr(module, "extend"):
            module.extend(groups)
    return parser


def run_handler(handler, ctx, args) -> int:
    """Call a handler, running it on an event loop if it is a coroutine function."""
    result = handler(ctx, args)
    if inspect.iscoroutine(result):
        result = asyncio.run(result)
    return int(result or 0)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from loratui.config import Context

    try:
        ctx = Context.load(args.home)
        handler = getattr(args, "handler", None)
        if handler is None:
            if args.command is not None:
                # A command group without its subcommand: show that group's help.
                parser.parse_args([*(argv if argv is not None else sys.argv[1:]), "--help"])
            from loratui.tui.app import run_app

            return run_app(ctx)
        return run_handler(handler, ctx, args)
    except LoratuiError as exc:
        print(f"loratui: {exc.one_line()}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("loratui: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
