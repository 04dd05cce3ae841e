"""Run in the *trainer's* Python: import a training script, build its parser, dump every option.

sd-scripts' scripts have a ``setup_parser()``: it is called. musubi-tuner's have none (``main()`` builds the
parser from a common and a family part and parses at once), so the script runs as ``__main__`` with
``ArgumentParser.parse_args`` replaced: the first call dumps the parser it is called on and stops the script
with a ``BaseException`` (an ``except Exception`` in the script cannot swallow it) before any model code runs.

Usage: ``python schema_dump.py SCRIPT OUT_JSON``. Standalone on purpose (stdlib only, no loratui imports):
it runs inside the trainer's venv, where loratui is not installed. The JSON goes to a file because importing
a trainer may print to stdout.
"""

import argparse
import importlib.util
import json
import os
import runpy
import sys


class _ParserBuilt(BaseException):
    """Raised from the replaced parse_args with the finished parser."""

    def __init__(self, parser):
        super().__init__("parser built")
        self.parser = parser


def _plain(value):
    """A JSON-safe copy of an argparse default or choice."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)


def _kind(action):
    name = type(action).__name__
    if name in ("_StoreTrueAction", "_StoreFalseAction", "BooleanOptionalAction"):
        return "bool"
    if name in ("_StoreConstAction", "_AppendConstAction", "_CountAction"):
        return "const"
    kind = action.type
    if kind is None:
        return "str"
    return getattr(kind, "__name__", str(kind))


def _cpu_only_torch():
    """musubi-tuner's Wan modules call ``torch.cuda.current_device()`` in a default argument at import time,
    which fails on a CPU-only torch: reading options must not need a GPU."""
    try:
        import torch
    except ImportError:
        return
    if not torch.cuda.is_available():
        torch.cuda.current_device = lambda: 0


def _setup_parser(script):
    """The parser of a script with a ``setup_parser()`` (sd-scripts), or None."""
    spec = importlib.util.spec_from_file_location("_loratui_trainer_script", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    setup = getattr(module, "setup_parser", None)
    return setup() if setup is not None else None


def _parser_of_main(script):
    """The parser a script without ``setup_parser()`` parses its arguments with (musubi-tuner), caught at its
    first direct ``parse_args``/``parse_known_args`` call when run as ``__main__`` with no arguments."""
    real_args, real_known = argparse.ArgumentParser.parse_args, argparse.ArgumentParser.parse_known_args

    def parse_args(self, args=None, namespace=None):
        raise _ParserBuilt(self)

    def parse_known_args(self, args=None, namespace=None):
        raise _ParserBuilt(self)

    argparse.ArgumentParser.parse_args, argparse.ArgumentParser.parse_known_args = parse_args, parse_known_args
    saved_argv = sys.argv
    sys.argv = [script]
    try:
        runpy.run_path(script, run_name="__main__")
    except _ParserBuilt as built:
        return built.parser
    finally:
        argparse.ArgumentParser.parse_args, argparse.ArgumentParser.parse_known_args = real_args, real_known
        sys.argv = saved_argv
    raise SystemExit(f"{script} has no setup_parser() and parsed no arguments when run")


def dump(script, out_path):
    """Import `script`, build its parser and write the options as JSON to `out_path`."""
    script = os.path.abspath(script)
    folder = os.path.dirname(script)
    # sd-scripts imports `library` from its root; musubi-tuner imports `musubi_tuner` from `src/`.
    parent = os.path.dirname(folder)
    for path in (parent if os.path.basename(parent) == "src" else None, os.path.join(folder, "src"), folder):
        if path and os.path.isdir(path) and path not in sys.path:
            sys.path.insert(0, path)
    os.chdir(folder)
    _cpu_only_torch()
    parser = _setup_parser(script) or _parser_of_main(script)
    options = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction) or not action.option_strings:
            continue
        options.append({
            "name": action.dest,
            "flag": max(action.option_strings, key=len),
            "type": _kind(action),
            "action": type(action).__name__.strip("_"),
            "default": _plain(action.default),
            "const": _plain(action.const),
            "choices": None if action.choices is None else [_plain(c) for c in action.choices],
            "nargs": action.nargs,
            "help": action.help or "",
            "required": bool(action.required),
        })
    with open(out_path, "w", encoding="utf-8") as handle:
        json.dump({"script": os.path.basename(script), "options": options}, handle, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    dump(sys.argv[1], sys.argv[2])
