"""Run in the *trainer's* Python: read a training script's finished parser, or check loratui's files with it.

    python schema_dump.py SCRIPT OUT_JSON          every option of SCRIPT's parser (also: dump SCRIPT OUT_JSON)
    python schema_dump.py check JOB_JSON OUT_JSON  parse argv lists with the scripts' own parsers, read the
                                                   --config_file with the trainer's reader, validate the dataset
                                                   TOML with the trainer's own dataset-config code

Any argparse script works, whatever builds its parser. sd-scripts' scripts have a ``setup_parser()``: it is
called. musubi-tuner's have none (``main()`` builds the parser from a common and a family part and parses at
once), so the script runs as ``__main__`` with ``ArgumentParser.parse_args`` and ``parse_known_args`` replaced:
the first call stops the script with the parser it was called on, before any model code runs. The stop is a
``BaseException`` so an ``except Exception`` in a script cannot swallow it. musubi's Wan modules evaluate
``torch.cuda.current_device()`` as a default argument at import time, which fails on a CPU-only torch: only here,
and only when CUDA is unavailable, it is made to return 0.

Standalone on purpose (stdlib only, no loratui imports): it runs inside the trainer's venv, where loratui is not
installed. Results go to a file because trainers print to stdout while importing.
"""

import argparse
import importlib.util
import json
import os
import runpy
import sys
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
BOOL_ACTIONS = ("_StoreTrueAction", "_StoreFalseAction", "BooleanOptionalAction")


class _ParserBuilt(BaseException):
    """Raised from the replaced parse_args with the finished parser."""

    def __init__(self, parser):
        super().__init__("parser built")
        self.parser = parser


class _ArgvError(Exception):
    """argparse's own error message, raised instead of printing usage and exiting."""


def _plain(value):
    """A JSON-safe copy of an argparse default or choice."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)


def _kind(action):
    name = type(action).__name__
    if name in BOOL_ACTIONS:
        return "bool"
    if name in ("_StoreConstAction", "_AppendConstAction", "_CountAction"):
        return "const"
    kind = action.type
    if kind is None:
        return "str"
    return getattr(kind, "__name__", str(kind))


def options_of(parser):
    """Every option of `parser` as JSON-ready dicts (positional arguments and --help left out)."""
    options = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction) or not action.option_strings:
            continue
        options.append({
            "name": action.dest,
            "flag": max(action.option_strings, key=len),
            "type": _kind(action),
            "action": type(action).__name__,
            "default": _plain(action.default),
            "choices": _plain(list(action.choices)) if action.choices is not None else None,
            "nargs": action.nargs if isinstance(action.nargs, (str, int)) else None,
            "help": action.help or "",
            "required": bool(action.required),
        })
    return options


def _cpu_only_torch():
    """musubi-tuner's Wan modules call ``torch.cuda.current_device()`` in a default argument at import time,
    which fails on a CPU-only torch: reading options must not need a GPU."""
    try:
        import torch
    except ImportError:
        return
    if not torch.cuda.is_available():
        torch.cuda.current_device = lambda: 0


def _isolate():
    """Keep this file's folder (loratui's training package) from shadowing the trainer's modules."""
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != HERE]


def _add_paths(script):
    """sd-scripts imports `library` from its root; musubi-tuner imports `musubi_tuner` from `src/`."""
    folder = os.path.dirname(script)
    parent = os.path.dirname(folder)
    for path in (parent if os.path.basename(parent) == "src" else None, os.path.join(folder, "src"), folder):
        if path and os.path.isdir(path) and path not in sys.path:
            sys.path.insert(0, path)
    os.chdir(folder)


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


def build_parser(script):
    """The finished parser of `script` (its setup_parser(), or the one its main() parses with)."""
    script = os.path.abspath(script)
    _add_paths(script)
    return _setup_parser(script) or _parser_of_main(script)


def _strict(parser):
    """Make `parser` raise _ArgvError with argparse's message instead of printing usage and exiting."""
    def error(message):
        raise _ArgvError(message)

    parser.error = error
    return parser


def dump(script, out_path):
    """Build `script`'s parser and write its options as JSON to `out_path`."""
    parser = build_parser(script)
    with open(out_path, "w", encoding="utf-8") as handle:
        json.dump({"script": os.path.basename(script), "options": options_of(parser)}, handle, ensure_ascii=False,
                  indent=1)


# ---- check -----------------------------------------------------------------------------------------------------

def _read_toml(path):
    try:
        import toml  # what both trainers read their TOML files with
        with open(path, encoding="utf-8") as handle:
            return toml.load(handle)
    except ImportError:
        import tomllib
        with open(path, "rb") as handle:
            return tomllib.load(handle)


def _flatten(data):
    """The --config_file flattening both trainers do: section tables are merged into one level."""
    flat = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(value)
        else:
            flat[key] = value
    return flat


def _same_kind(parsed, raw):
    if isinstance(raw, bool) or isinstance(parsed, bool):
        return isinstance(raw, bool) and isinstance(parsed, bool)
    numbers = (int, float)
    if isinstance(parsed, numbers) and isinstance(raw, numbers):
        return True
    if isinstance(parsed, list) and isinstance(raw, list):
        return len(parsed) == len(raw) and all(_same_kind(p, r) for p, r in zip(parsed, raw))
    if isinstance(parsed, str) and isinstance(raw, str):
        return True
    return parsed is None and raw is None or type(parsed) is type(raw)


def _type_name(value):
    return {bool: "true/false", int: "an integer", float: "a number", str: "text", list: "a list"}.get(
        type(value), type(value).__name__)


def check_config_file(parser, path):
    """What the trainer would silently ignore or keep with the wrong type in its --config_file."""
    actions = {a.dest: a for a in parser._actions if a.option_strings}
    found = {"unknown": [], "problems": []}
    for key, raw in _flatten(_read_toml(path)).items():
        action = actions.get(key)
        if action is None:
            found["unknown"].append(key)
            continue
        if type(action).__name__ in BOOL_ACTIONS:
            if not isinstance(raw, bool):
                found["problems"].append([key, f"must be true or false, got {_type_name(raw)} {raw!r}"])
            continue
        if raw is None or not action.option_strings:
            continue
        takes_list = action.nargs in ("*", "+") or (isinstance(action.nargs, int) and action.nargs > 1)
        if isinstance(raw, list) and not takes_list:
            found["problems"].append([key, f"takes one value, not a list ({raw!r})"])
            continue
        if takes_list and not isinstance(raw, list):
            found["problems"].append([key, f"must be a list (the trainer would iterate {raw!r} as it is)"])
            continue
        try:  # the option's own converter and choices, as argparse applies them on a command line
            parsed = parser._get_values(action, [str(v) for v in raw] if isinstance(raw, list) else [str(raw)])
        except (argparse.ArgumentError, _ArgvError) as exc:
            found["problems"].append([key, str(exc)])
            continue
        if not _same_kind(parsed, raw):
            found["problems"].append([key, f"is {_type_name(raw)} {raw!r}; the option takes {_type_name(parsed)} "
                                           f"and the trainer does not convert config-file values"])
    return found


def _read_config_with_trainer(namespace, parser):
    """Run the trainer's own read_config_from_file (its TOML reader, its merge) on the parsed namespace."""
    for name in ("library.train_util", "musubi_tuner.hv_train_network", "musubi_tuner.training.parser_common"):
        module = sys.modules.get(name)
        reader = getattr(module, "read_config_from_file", None) if module else None
        if reader is not None:
            return reader(namespace, parser)
    return namespace


def check_dataset(spec, namespace):
    """Validate the dataset TOML with the trainer's own code; returns a short summary."""
    path, dialect = spec["path"], spec["dialect"]
    if dialect == "sd-scripts":
        from library import config_util, train_util

        # what train_network.py's train() does first: its own argument checks, then "W,H" -> (W, H)
        train_util.verify_training_args(namespace)
        train_util.prepare_dataset_args(namespace, True)

        sanitizer = config_util.ConfigSanitizer(True, True, bool(getattr(namespace, "masked_loss", False)), True)
        user_config = config_util.load_user_config(path)
        blueprint = config_util.BlueprintGenerator(sanitizer).generate(user_config, namespace)
        group, _validation = config_util.generate_dataset_group_by_blueprint(blueprint.dataset_group)
        return {"datasets": len(group.datasets), "images": [d.num_train_images for d in group.datasets]}
    from musubi_tuner.dataset import config_utils

    user_config = config_utils.load_user_config(path)
    blueprint = config_utils.BlueprintGenerator(config_utils.ConfigSanitizer()).generate(
        user_config, argparse.Namespace(debug_dataset=False), architecture=spec.get("architecture") or "no_default")
    group = config_utils.generate_dataset_group_by_blueprint(blueprint.dataset_group, training=False)
    return {"datasets": len(group.datasets), "images": [len(d.datasource) for d in group.datasets]}


def _error_text(exc):
    text = str(exc).strip() or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if not isinstance(exc, (_ArgvError, SystemExit)) else text


_PARSERS = {}
"""Finished parsers by script path: a batch of checks builds each script's parser once."""


def check_one(job):
    """Run the checks of one plan (`job`: its phases, --config_file and dataset TOML); returns what they found."""
    result = {"phases": [], "config_file": None, "dataset": None}
    namespaces = {}
    for phase in job["phases"]:
        entry = {"name": phase["name"], "script": os.path.basename(phase["script"]), "error": None}
        result["phases"].append(entry)
        saved_argv = sys.argv
        try:
            if phase["script"] not in _PARSERS:
                _PARSERS[phase["script"]] = _strict(build_parser(phase["script"]))
            parser = _PARSERS[phase["script"]]
            entry["options"] = len(options_of(parser))
            sys.argv = [phase["script"], *phase["argv"]]  # the trainer's config reader parses sys.argv again
            namespace = parser.parse_args()
            spec = job.get("config_file")
            if spec and spec["phase"] == phase["name"]:
                result["config_file"] = check_config_file(parser, spec["path"])
                namespace = _read_config_with_trainer(namespace, parser)
            namespaces[phase["name"]] = namespace
        except (Exception, SystemExit) as exc:
            entry["error"] = _error_text(exc)
        finally:
            sys.argv = saved_argv
    spec = job.get("dataset")
    if spec:
        result["dataset"] = {"error": None}
        if spec["dialect"] == "sd-scripts" and spec["phase"] not in namespaces:
            result["dataset"]["error"] = "not checked: the training arguments did not parse"
        else:
            try:
                result["dataset"]["summary"] = check_dataset(spec, namespaces.get(spec["phase"]))
            except (Exception, SystemExit) as exc:
                result["dataset"]["error"] = _error_text(exc)
    return result


def check(job_path, out_path):
    """Run the checks `job_path` asks for (one plan, or ``{"jobs": [...]}`` for several in one process); write
    what they found to `out_path` (``{"results": [...]}`` for several)."""
    with open(job_path, encoding="utf-8") as handle:
        job = json.load(handle)
    result = {"results": [check_one(one) for one in job["jobs"]]} if "jobs" in job else check_one(job)
    with open(out_path, "w", encoding="utf-8") as handle:
        json.dump(result, handle, ensure_ascii=False, indent=1)


def main(argv):
    """Entry point: `SCRIPT OUT` (or `dump SCRIPT OUT`) or `check JOB OUT`; exit 3 with a one-line reason on
    failure."""
    _isolate()
    _cpu_only_torch()
    if len(argv) == 2:
        argv = ["dump", *argv]
    if len(argv) != 3 or argv[0] not in ("dump", "check"):
        sys.stderr.write("usage: schema_dump.py [dump] SCRIPT OUT_JSON | check JOB_JSON OUT_JSON\n")
        return 2
    try:
        (dump if argv[0] == "dump" else check)(argv[1], argv[2])
    except (Exception, SystemExit) as exc:
        traceback.print_exc()
        sys.stderr.write(f"schema_dump: {_error_text(exc)}\n")
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
