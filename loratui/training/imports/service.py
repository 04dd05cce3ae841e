"""Import and export as the CLI and the TUI use them: the store's datasets in, files out.

``import_config`` reads other tools' files into a loratui config (see ``importer``), matching image folders to the
registered datasets; ``write_imported`` saves it (and its sample prompts) next to each other; ``export_files``
writes what sd-scripts/musubi-tuner need to run a loratui config without loratui: the ``--config_file`` and
dataset TOMLs, a run script and the argv of every phase as JSON.
"""

from __future__ import annotations

import json
import os
import shlex
import stat
from pathlib import Path

from loratui import tomlio
from loratui.datasets.service import get_dataset, list_datasets
from loratui.errors import InputError
from loratui.fsutil import atomic_write_text
from loratui.training.imports.importer import Imported, import_files
from loratui.training.plan import TrainPlan
from loratui.training.schema import load_schema

RUN_SCRIPT = "run.sh"
ARGV_FILE = "argv.json"


async def import_config(store, ctx, paths: list[str], dataset: str | None = None) -> Imported:
    """Read `paths` into a loratui config; `dataset` names the loratui dataset (else found from the folders)."""
    if dataset:
        dataset = (await get_dataset(store, dataset)).name
    known = {row["path"]: row["name"] for row in await list_datasets(store)}
    return import_files(paths, lambda backend, family: load_schema(ctx, backend, family), known, dataset)


def prompts_path(output: Path) -> Path:
    """Where the sample prompts of a config written to `output` go."""
    return output.with_name(output.stem + ".prompts.txt")


def write_imported(imported: Imported, output: str | os.PathLike, *, force: bool = False) -> list[Path]:
    """Save the imported config to `output` (a .toml path) and its sample prompts beside it; returns the files."""
    output = Path(output).expanduser()
    if output.suffix.lower() != ".toml":
        raise InputError(f"{output}: a training config is a .toml file", hint="name the output like run.toml")
    targets = [output] + ([prompts_path(output)] if imported.prompts else [])
    existing = [p for p in targets if p.exists()]
    if existing and not force:
        raise InputError(f"{existing[0]} already exists", hint="use --force to replace it")
    output.parent.mkdir(parents=True, exist_ok=True)
    written = []
    config = imported.config.copy()
    if imported.prompts:
        prompt_file = prompts_path(output)
        atomic_write_text(prompt_file, "\n".join(imported.prompts) + "\n")
        config.args["sample_prompts"] = str(prompt_file.resolve())
        written.append(prompt_file)
    atomic_write_text(output, tomlio.dumps(config.to_dict()))
    written.insert(0, output)
    return written


def run_script(plan: TrainPlan) -> str:
    """A POSIX shell script that runs the plan's phases in order (each from its folder, with its environment)."""
    lines = ["#!/bin/sh", f"# written by `loratui train export`: {plan.backend} {plan.family}, "
             f"{plan.total_steps} steps over {plan.epochs} epoch(s)", "set -e"]
    for phase in plan.phases:
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in phase.env.items())
        lines.append(f"# phase {phase.name}")
        lines.append(f"(cd {shlex.quote(phase.cwd)} && {env + ' ' if env else ''}{shlex.join(phase.argv)})")
    return "\n".join(lines) + "\n"


def export_files(plan: TrainPlan, *, force: bool = False) -> list[Path]:
    """Write the plan's trainer files, `run.sh` and `argv.json` into `plan.workdir`; returns the files."""
    files = dict(plan.files)
    files[RUN_SCRIPT] = run_script(plan)
    files[ARGV_FILE] = json.dumps([{"name": p.name, "argv": p.argv, "cwd": p.cwd, "env": p.env}
                                   for p in plan.phases], indent=2) + "\n"
    existing = [plan.workdir / name for name in files if (plan.workdir / name).exists()]
    if existing and not force:
        raise InputError(f"{existing[0]} already exists", hint="use --force to replace the exported files")
    plan.files = files
    written = plan.write_files()
    script = plan.workdir / RUN_SCRIPT
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return written
