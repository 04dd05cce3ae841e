"""Command lines: how a user ran sd-scripts or musubi-tuner (a run.sh, a saved command, a pasted line).

A text may hold several commands (musubi's caching phases and its training; lines joined by ``\\``, separated by
newlines, ``&&`` or ``;``). For each, the launcher part (``accelerate launch`` and its options, or ``python``)
becomes [launch], the script names the backend and family, and ``--name value`` flags become trainer args.
``--config_file`` and ``--dataset_config`` files are read too, before the flags (the command line wins over
``--config_file``, as in the trainers). Flags of the caching phases that only steer caching are reported:
loratui runs those phases itself.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loratui.errors import ConfigError
from loratui.training.imports import sdscripts
from loratui.training.imports.draft import DatasetPart, Draft
from loratui.training.imports.models import script_family
from loratui.training.imports.values import resolve

LAUNCH_OPTIONS = {
    "--num_processes": ("num_processes", int), "--num_machines": ("num_machines", int),
    "--machine_rank": ("machine_rank", int), "--main_process_ip": ("main_process_ip", str),
    "--main_process_port": ("main_process_port", int), "--gpu_ids": ("gpu_ids", str),
    "--mixed_precision": ("mixed_precision", str), "--multi_gpu": ("multi_gpu", bool),
}
"""accelerate launch options loratui's [launch] table holds."""
LAUNCH_DROPPED = {
    "--num_cpu_threads_per_process": "loratui always launches with --num_cpu_threads_per_process 1 and "
                                     "OMP_NUM_THREADS=1",
    "--dynamo_backend": "loratui launches with --dynamo_backend no",
}
LAUNCH_FLAGS_WITHOUT_VALUE = {"--multi_gpu", "--cpu", "--fp16", "--use_deepspeed", "--use_fsdp", "-q", "--quiet"}
CACHE_KEEP = {"vae", "text_encoder", "dataset_config", "model_version", "fp8_vl"}
"""Flags of a caching command that matter for training too; the rest only steer caching."""
_NUMBER = re.compile(r"^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


@dataclass
class Command:
    """One parsed command."""

    backend: str
    family: str
    phase: str
    script: str
    launcher: list[str] = field(default_factory=list)
    flags: list[tuple[str, list[str]]] = field(default_factory=list)


def split_commands(text: str) -> list[list[str]]:
    """The commands of a shell text as argv lists (comments, continuations and `&&`/`;`/`|` handled)."""
    joined = re.sub(r"\\\r?\n", " ", text)
    commands = []
    for line in joined.splitlines():
        try:
            lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
            lexer.whitespace_split = True
            lexer.commenters = "#"
            tokens = list(lexer)
        except ValueError as exc:
            raise ConfigError(f"cannot read the command line {line.strip()[:80]!r}: {exc}") from None
        current: list[str] = []
        for token in tokens:
            if token and set(token) <= set(";&|"):
                if current:
                    commands.append(current)
                current = []
            else:
                current.append(token)
        if current:
            commands.append(current)
    return commands


def parse_command(argv: list[str]) -> Command | None:
    """A trainer command (None when the argv runs no sd-scripts/musubi script: `cd`, `export`, ...)."""
    for index, token in enumerate(argv):
        found = script_family(token)
        module = None
        if token == "-m" and index + 1 < len(argv):
            module = argv[index + 1]
            found = script_family(module.rsplit(".", 1)[-1] + ".py")
        if found is None:
            continue
        backend, family, phase = found
        start = index + (2 if module else 1)
        return Command(backend, family, phase, module or token, argv[:index], _flags(argv[start:]))
    return None


def _flags(tokens: list[str]) -> list[tuple[str, list[str]]]:
    flags: list[tuple[str, list[str]]] = []
    for token in tokens:
        if token.startswith("--") and len(token) > 2:
            name, sep, value = token[2:].partition("=")
            flags.append((name, [value] if sep else []))
        elif flags:
            flags[-1][1].append(token)
        else:
            flags.append(("", [token]))
    return flags


def literal(text: str) -> Any:
    """A flag value as TOML would hold it: numbers as numbers, 'true'/'false' as booleans, else the text."""
    if _NUMBER.match(text):
        return float(text) if any(c in text for c in ".eE") else int(text)
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def flag_value(values: list[str]) -> Any:
    """No value: a switch (True); one: that value; several: a list."""
    if not values:
        return True
    if len(values) == 1:
        return literal(values[0])
    return [literal(v) for v in values]


def read_text(text: str, source: str, draft: Draft, base: Path) -> None:
    """Every trainer command in `text` into `draft` (caching phases first, training last)."""
    commands: list[tuple[Command, Path]] = []
    cwd = base
    for argv in split_commands(text):
        if argv and argv[0] in ("cd", "pushd"):
            cwd = resolve(argv[1], cwd) if len(argv) > 1 else Path.home()
            continue
        command = parse_command(argv)
        if command is not None:
            commands.append((command, cwd))
    if not commands:
        raise ConfigError(f"{source}: no sd-scripts or musubi-tuner command found (expected a line running "
                          "e.g. sdxl_train_network.py or qwen_image_train_network.py)")
    commands.sort(key=lambda item: item[0].phase == "train")
    for command, cwd in commands:
        read_command(command, source, draft, cwd, fallback=base)


def read_command(command: Command, source: str, draft: Draft, base: Path, fallback: Path | None = None) -> None:
    """One parsed command into `draft`; relative paths are taken from `base` (the folder it ran in, as far as
    the text says: a preceding `cd`), files that are not there from `fallback` (the run script's folder)."""
    label = f"{source} ({Path(command.script).name})"
    if command.phase == "train":
        draft.set_family(label, "script", command.script, command.backend, command.family)
        _launcher(command.launcher, label, draft)
    elif draft.family is None:
        draft.set_family(label, "script", command.script, command.backend, command.family)
    for name, values in command.flags:
        if name in ("config_file", "dataset_config") and values and fallback is not None \
                and not resolve(values[0], base).exists() and resolve(values[0], fallback).exists():
            values[0] = str(resolve(values[0], fallback))  # the run script's own folder holds it
    follow = {name: values for name, values in command.flags if name in ("config_file", "dataset_config")}
    if "config_file" in follow and follow["config_file"]:
        path = resolve(follow["config_file"][0], base)
        draft.report.mapped(label, "--config_file", follow["config_file"][0], "args", str(path),
                            "read first: the command line's flags win over it")
        sdscripts.read_config_file(path, draft)
    part = DatasetPart(label)
    seen_dataset = False
    for name, values in command.flags:
        key = f"--{name}" if name else values[0]
        if not name:
            draft.drop(label, key, values, "invalid", "a value without a flag")
            continue
        if name == "config_file":
            continue
        if name == "dataset_config":
            if seen_dataset or not values:
                continue
            seen_dataset = True
        if command.phase != "train" and name not in CACHE_KEEP:
            draft.drop(label, key, flag_value(values), "gui-only", "a flag of the caching phase: loratui runs the "
                                                                   "caching phases itself")
            continue
        sdscripts.read_option(name, key, flag_value(values), label, draft, base, part)
    if part.roots:
        draft.datasets.append(part)


def _launcher(tokens: list[str], label: str, draft: Draft) -> None:
    if not tokens:
        return
    words = [Path(t).name for t in tokens]
    if "accelerate" in words or "accelerate.commands.launch" in tokens:
        start = (words.index("launch") + 1) if "launch" in words else (tokens.index("accelerate.commands.launch") + 1
                                                                       if "accelerate.commands.launch" in tokens
                                                                       else len(tokens))
        _accelerate_options(tokens[start:], label, draft)
        return
    if any(w.startswith("python") for w in words):
        draft.launch_option(label, "launcher", " ".join(tokens), "launcher", "python", "run with plain python")


def _accelerate_options(tokens: list[str], label: str, draft: Draft) -> None:
    index = 0
    while index < len(tokens):
        token = tokens[index]
        name, sep, inline = token.partition("=")
        takes_value = name not in LAUNCH_FLAGS_WITHOUT_VALUE and not sep
        value = inline if sep else (tokens[index + 1] if takes_value and index + 1 < len(tokens) else None)
        index += 2 if takes_value and not sep else 1
        if name in LAUNCH_OPTIONS:
            option, kind = LAUNCH_OPTIONS[name]
            if kind is bool:
                draft.launch_option(label, name, True, option, True)
                continue
            try:
                result = kind(value)
            except (TypeError, ValueError):
                draft.drop(label, name, value, "invalid", f"not a valid {option}")
                continue
            draft.launch_option(label, name, value, option, result)
        elif name in LAUNCH_DROPPED:
            draft.drop(label, name, value, "gui-only", LAUNCH_DROPPED[name])
        elif name.startswith("-"):
            draft.drop(label, name, value, "unsupported", "an accelerate option loratui's [launch] does not hold")


def read_flags(text: str, source: str, draft: Draft) -> None:
    """Extra trainer flags (kohya_ss's additional_parameters): '--name value ...' without a script."""
    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        draft.drop(source, "additional_parameters", text, "invalid", f"cannot be split into flags: {exc}")
        return
    part = DatasetPart(source)
    for name, values in _flags(tokens):
        if not name:
            draft.drop(source, " ".join(values), values, "invalid", "a value without a flag")
            continue
        sdscripts.read_option(name, f"--{name}", flag_value(values), source, draft, Path.cwd(), part)
    if part.roots:
        draft.datasets.append(part)


