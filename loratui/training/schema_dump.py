"""Run in the *trainer's* Python: import a training script, call its ``setup_parser()``, dump every option.

Usage: ``python schema_dump.py SCRIPT OUT_JSON``. Standalone on purpose (stdlib only, no loratui imports):
it runs inside the trainer's venv, where loratui is not installed. The JSON goes to a file because importing
a trainer may print to stdout.
"""

import argparse
import importlib.util
import json
import os
import sys


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
    spec = importlib.util.spec_from_file_location("_loratui_trainer_script", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    setup = getattr(module, "setup_parser", None)
    if setup is None:
        raise SystemExit(f"{script} has no setup_parser()")
    parser = setup()
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
