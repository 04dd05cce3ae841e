"""Entry point: the command table, the argparse tree and running a command's handler.

``COMMANDS`` names every command with the module that implements it and its one-line help. Only the module of
the command being run is imported (``loratui --help`` and ``loratui dataset list`` stay fast): the other commands
appear in the tree as stubs that carry their help line. A command module defines ``register(parser)``, which
gives the command's parser its description, arguments and subcommands; a parser's handler is set with
``parser.set_defaults(handler=fn)`` where ``fn(ctx, args)`` may be sync or async and returns an exit code (or
None). With no command, `loratui` opens the terminal UI; a command group without its subcommand shows its help.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from loratui import __version__
from loratui.errors import LoratuiError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130

COMMANDS: dict[str, tuple[str, str]] = {
    "caption": ("loratui.cli.commands.caption",
                "caption a dataset with a vision LLM (OpenAI, vLLM, Ollama, LM Studio)"),
    "dataset": ("loratui.cli.commands.dataset", "register, scan and inspect datasets"),
    "demo": ("loratui.cli.commands.demo",
             "create a demo dataset (generated images with captions) and open the app on it"),
    "doctor": ("loratui.cli.commands.doctor", "check GPUs, onnxruntime, trainers, accelerate, disk, HF login"),
    "jobs": ("loratui.cli.commands.jobs", "list jobs of every kind (scan, tag, caption, train, ...)"),
    "lora": ("loratui.cli.commands.lora", "LoRA library: scan, list, info, compare, resize, upload"),
    "models": ("loratui.cli.commands.models", "download base models (Hub, Civitai) and list them"),
    "tag": ("loratui.cli.commands.tag", "auto-tag a dataset with a WD14 ONNX tagger (resumable job)"),
    "tags": ("loratui.cli.commands.tags", "batch tag operations with preview and undo"),
    "train": ("loratui.cli.commands.train", "configure, check, start and follow LoRA trainings"),
}
"""Command name -> (module defining ``register(parser)``, help line shown by ``loratui --help``)."""


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command tree, with `command` (if any) complete and every other command as a stub with its help."""
    parser = argparse.ArgumentParser(
        prog="loratui",
        description="Train LoRA image models from the terminal. With no command, opens the terminal UI.",
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
    parser = build_parser(selected_command(argv))
    args = parser.parse_args(argv)
    # Imported here for start-up time: `loratui --help` and usage errors skip config (dataclasses, tomllib).
    from loratui.config import Context

    try:
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
        print(f"loratui: {exc.one_line()}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("loratui: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
