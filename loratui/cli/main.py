"""Entry point: the command table, the argparse tree and running a command's handler.

``COMMANDS`` names every command with the module that implements it and its one-line help. Only the module of
the command being run is imported (``loratui --help`` and ``loratui dataset list`` stay fast): the other commands
appear in the tree as stubs that carry their help line. A command module defines ``register(parser)``, which
gives the command's parser its description, arguments and subcommands; a parser's handler is set with
``parser.set_defaults(handler=fn)`` where ``fn(ctx, args)`` may be sync or async and returns an exit code (or
None). With no command, `loratui` opens the terminal UI; a command group without its subcommand shows its help.

``main`` is the last net: no exception reaches the terminal as a traceback. A ``LoratuiError`` is one line
(exit 2), and so is a failure of the disk or the database (``sqlite3.Error``/``OSError`` translated by
``loratui.store.failures``); anything else is a bug: one line naming the file that keeps its traceback
(``crash.log`` in the home), exit 1. Every line is printed literally (control characters escaped) with secrets
in URLs redacted.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import TYPE_CHECKING

from loratui import __version__
from loratui.errors import LoratuiError

if TYPE_CHECKING:
    from pathlib import Path

EXIT_USER_ERROR = 2
EXIT_BUG = 1
EXIT_INTERRUPTED = 130
CRASH_LOG = "crash.log"

COMMANDS: dict[str, tuple[str, str]] = {
    "caption": ("loratui.cli.commands.caption",
                "caption a dataset with a vision LLM (OpenAI, vLLM, Ollama, LM Studio)"),
    "captions": ("loratui.cli.commands.captions",
                 "caption sets (.txt, .caption, ...): list, add, copy one set into another"),
    "dataset": ("loratui.cli.commands.dataset", "register, scan and inspect datasets"),
    "demo": ("loratui.cli.commands.demo",
             "create a demo dataset (generated images with captions) and open the app on it"),
    "doctor": ("loratui.cli.commands.doctor", "check GPUs, onnxruntime, trainers, accelerate, disk, HF login"),
    "gpus": ("loratui.cli.commands.gpus", "list the GPUs (NVML): memory, load, temperature, the job holding each"),
    "jobs": ("loratui.cli.commands.jobs", "list jobs of every kind (scan, tag, caption, train, ...)"),
    "lora": ("loratui.cli.commands.lora",
             "LoRA library: scan, list, info, compare, resize, upload; checkpoint sweeps, grids, keep the winner"),
    "models": ("loratui.cli.commands.models", "download base models (Hub, Civitai) and list them"),
    "tag": ("loratui.cli.commands.tag",
            "auto-tag a dataset with an ONNX tagger: WD14 / WD v3, Camie v2, PixAI (resumable job)"),
    "tags": ("loratui.cli.commands.tags", "batch tag operations with preview and undo"),
    "train": ("loratui.cli.commands.train", "configure, check, start and follow LoRA trainings"),
    "video": ("loratui.cli.commands.video", "cut, trim, resample and resize a dataset's videos (undoable)"),
}
"""Command name -> (module defining ``register(parser)``, help line shown by ``loratui --help``)."""


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command tree, with `command` (if any) complete and every other command as a stub with its help."""
    parser = argparse.ArgumentParser(
        prog="loratui",
        description="Train LoRA image and video models from the terminal. With no command, opens the terminal UI.",
        epilog="Data lives in --home, $LORATUI_HOME or the platform's user data dir. "
        "Run `loratui COMMAND --help` for details.",
    )
    parser.add_argument("--version", action="version", version=f"loratui {__version__}")
    parser.add_argument("--home", metavar="DIR", help="loratui home folder (database, settings, job logs)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name, (module, help_text) in COMMANDS.items():
        if name == command:
            importlib.import_module(module).register(subparsers.add_parser(name, help=help_text))
        else:
            # A stub: no options of its own (so `--help` after it is left to the second pass).
            subparsers.add_parser(name, help=help_text, add_help=False)
    return parser


def selected_command(argv: list[str]) -> str | None:
    """The command named in `argv` (None without one); argparse errors and top-level --help/--version exit."""
    args, _rest = build_parser().parse_known_args(argv)
    return args.command


def parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """Parse `argv`; an option no parser knows is reported by the innermost (sub)command given, with its usage.

    argparse itself lets a subcommand pass unknown options up to the top-level parser, whose error shows the
    top-level usage (``loratui [-h] ... COMMAND``), which says nothing about the options that do exist.
    """
    args, extras = parser.parse_known_args(argv)
    if extras:
        innermost_parser(parser, args).error(f"unrecognized arguments: {' '.join(extras)}")
    return args


def innermost_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The parser of the deepest subcommand chosen in `args` (`parser` itself when none was)."""
    while True:
        # argparse keeps a parser's actions in the private `_actions`, stable since Python 3.2; there is no
        # public way to walk from a parser to its subparsers.
        sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        chosen = getattr(args, sub.dest, None) if sub is not None else None
        if chosen is None or chosen not in sub.choices:
            return parser
        parser = sub.choices[chosen]


def run_handler(handler, ctx, args) -> int:
    """Call a handler, running it on an event loop if it is a coroutine function."""
    import asyncio  # here for start-up time: `loratui --help` does not load asyncio (~50 ms)

    result = handler(ctx, args)
    if asyncio.iscoroutine(result):
        result = asyncio.run(result)
    return int(result or 0)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    ctx = None
    try:
        parser = build_parser(selected_command(argv))
        args = parse(parser, argv)
        # Imported here for start-up time: `loratui --help` and usage errors skip config (dataclasses, tomllib).
        from loratui.config import Context

        ctx = Context.load(args.home)
        handler = getattr(args, "handler", None)
        if handler is None:
            if args.command is not None:
                # A command group without its subcommand: show that group's help.
                parser.parse_args([*argv, "--help"])
            # Imported here for start-up time: textual is loaded only when the UI opens.
            from loratui.tui.app import run_app

            return run_app(ctx)
        return run_handler(handler, ctx, args)
    except LoratuiError as exc:
        return report(exc)
    except KeyboardInterrupt:
        print("loratui: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0
    except Exception as exc:  # the last net: see the module docstring
        # Imported here for start-up time: the store (and sqlite3) load only when something went wrong.
        from loratui.store.failures import storage_error

        error = storage_error(exc)
        if error is not None:
            return report(error)
        return report_bug(exc, ctx.paths.home / CRASH_LOG if ctx is not None else None)


def _say(line: str) -> None:
    # Imported here for start-up time (urllib.parse, re): only an error needs them.
    from loratui.redact import redact_text
    from loratui.text import literal

    try:
        print(f"loratui: {literal(redact_text(line))}", file=sys.stderr)
    except (OSError, ValueError):  # stderr closed or gone: nowhere left to say it
        pass


def report(exc: LoratuiError) -> int:
    """Print a user-facing error as one line on stderr; the exit code for it."""
    _say(exc.one_line())
    return EXIT_USER_ERROR


def report_bug(exc: BaseException, crash_log: Path | None) -> int:
    """Keep the traceback of an unexpected error in `crash_log` (or a temporary file) and print one line."""
    import tempfile  # here for start-up time, as in _say
    import time
    import traceback
    from pathlib import Path

    from loratui.redact import redact_text

    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    header = f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} loratui {__version__}: {' '.join(sys.argv[1:])}\n"
    kept = None
    candidates = [crash_log] if crash_log is not None else []
    user = os.getuid() if hasattr(os, "getuid") else "user"
    candidates.append(Path(tempfile.gettempdir()) / f"loratui-crash-{user}.log")
    for path in candidates:
        try:
            # O_NOFOLLOW: the fallback sits in a shared temporary folder where anyone may plant a symlink.
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
            with open(fd, "a", encoding="utf-8", errors="replace") as handle:
                handle.write(redact_text(header + text))
            kept = path
            break
        except OSError:
            continue
    where = f"the traceback is in {kept}" if kept else "the traceback could not be saved"
    _say(f"unexpected error (a bug in loratui): {type(exc).__name__}: {exc} ({where}; please report it)")
    return EXIT_BUG


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
