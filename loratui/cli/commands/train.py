"""`loratui train ...`: trainer options, config checks, plans, step counts and presets; starting, following,
cancelling, resuming and queueing trainings."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from loratui.cli.commands import train_runs
from loratui.cli.commands import train_remedies
from loratui.cli.output import StreamPrinter, info, out, print_json, print_table
from loratui.datasets import service
from loratui.errors import InputError, ModelError, NotFoundError
from loratui.jobs import repo
from loratui.jobs.model import SUPERVISED_KINDS, Job
from loratui.store import Store
from loratui.training.config import BACKENDS, load_config, save_config
from loratui.training.families import DEFAULT_FAMILY, families, find_family, get_family
from loratui.training.form import config_from_model_files
from loratui.training.imports.service import export_files, import_config, write_imported
from loratui.training.planner import apply_overrides, build_plan, step_report
from loratui.training.presets import list_presets, load_preset, save_preset
from loratui.training.run import queue as run_queue
from loratui.training.run.follow import follow_file
from loratui.training.run.launch import cancel_training, resume_training, start_training, training_job
from loratui.training.run.procgroup import group_members
from loratui.training.run.reconcile import reconcile
from loratui.training.run.status import status_dict, status_line
from loratui.training.schema import load_schema
from loratui.training.trainer import find_trainer
from loratui.training.trainer_check import check_plan
from loratui.training.validate import check_config


def _add_set(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a trainer option (typed by the trainer's schema); repeatable; "
                             "launch.KEY=VALUE sets a launch option; an empty value removes it")


def register(parser: argparse.ArgumentParser) -> None:
    """Build the `train` command group."""
    parser.description = "Configure, check, plan, start and follow LoRA trainings (kohya sd-scripts, musubi-tuner)."
    sub = parser.add_subparsers(dest="train_command", metavar="SUBCOMMAND", title="subcommands")

    options = sub.add_parser(
        "options", help="list or search the trainer's options (from the installed trainer)",
        description="List or search a family's trainer options. The family comes from --family, else from the "
                    "training config (--config), else from the dataset (--dataset: its target, else its newest "
                    "training); with none "
                    "of them the default family is used and the output says so.")
    options.add_argument("--backend", default=None, choices=list(BACKENDS),
                         help="only to check that the family is trained by this trainer")
    options.add_argument("--family", default=None, help="a family id (`loratui train families`)")
    options.add_argument("--config", metavar="FILE", help="take the family from this training config")
    options.add_argument("--dataset", metavar="NAME",
                         help="take the family from this dataset's target, else its newest training")
    options.add_argument("--phase", default="train", choices=["cache_latents", "cache_text", "train"],
                         help="musubi-tuner: the options of this phase's script (default train)")
    options.add_argument("--search", metavar="TEXT",
                         help="options matching every word of TEXT in their name or description; initials and "
                              "common abbreviations count (lr finds learning_rate, te text encoder options)")
    options.add_argument("--section", help="only one form section (basic, network, optimizer, ...)")
    options.add_argument("--refresh", action="store_true", help="re-read the trainer instead of the cache")
    options.add_argument("--json", action="store_true")
    options.set_defaults(handler=cmd_options)

    fams = sub.add_parser("families", help="list the model families loratui trains (trainer, scripts, model files)")
    fams.add_argument("family", nargs="?", help="show one family in full")
    fams.add_argument("--json", action="store_true")
    fams.set_defaults(handler=cmd_families)

    check = sub.add_parser(
        "check", help="validate a training config before launch",
        description="Validate CONFIG: loratui's checks (types, required model files, paths, dataset), then, when "
                    "a trainer is configured, the trainer's own: every phase's argv through that script's parser, "
                    "the --config_file keys against it (sd-scripts ignores unknown ones silently) and the dataset "
                    "TOML through the trainer's dataset-config validator. Nothing is trained or loaded.")
    check.add_argument("config", help="training config TOML")
    _add_set(check)
    check.add_argument("--strict", action="store_true", help="fail on warnings too")
    check.add_argument("--no-trainer", action="store_true",
                       help="skip the installed trainer's own checks (its parsers and dataset validator)")
    check.add_argument("--json", action="store_true")
    check.set_defaults(handler=cmd_check)

    plan = sub.add_parser("plan", help="show the files and argv a training would run")
    plan.add_argument("config", help="training config TOML")
    _add_set(plan)
    plan.add_argument("--write", metavar="DIR", help="also write the files into DIR")
    plan.add_argument("--json", action="store_true")
    plan.set_defaults(handler=cmd_plan)

    steps = sub.add_parser("steps", help="exact step count, buckets and ETA for a config")
    steps.add_argument("config", help="training config TOML")
    _add_set(steps)
    steps.add_argument("--json", action="store_true")
    steps.set_defaults(handler=cmd_steps)

    new = sub.add_parser("new", help="write a new training config from a preset")
    new.add_argument("--preset", required=True, help="preset name (see `loratui train presets`)")
    new.add_argument("--dataset", required=True, help="loratui dataset name")
    new.add_argument("-o", "--output", required=True, help="config file to write")
    new.add_argument("--model", dest="models", action="append", default=[], metavar="FILE",
                     help="a model file (checkpoint, DiT, VAE, text encoder; repeatable): each goes to its option "
                          "by what its header says; a model of another family than the preset's is an error")
    _add_set(new)
    new.add_argument("--force", action="store_true", help="replace an existing file")
    new.set_defaults(handler=cmd_new)

    imp = sub.add_parser(
        "import", help="make a loratui config from kohya_ss, sd-scripts, musubi-tuner, OneTrainer or ai-toolkit files",
        description="Read the files another tool trains from and write a loratui training config, with a report of "
        "what was mapped, what took the source tool's default and what was dropped and why. FILE may be a kohya_ss "
        "GUI config or preset (.json), an sd-scripts --config_file or --dataset_config (.toml), a musubi-tuner "
        "dataset TOML, a command line or run script (.sh/.txt/.bat: the script names the model), a OneTrainer "
        "config (.json) or an ai-toolkit config (.yaml). Later files win: config_file < dataset < GUI/tool "
        "config < command line. Without -o the config is printed.")
    imp.add_argument("files", nargs="+", metavar="FILE", help="files to read")
    imp.add_argument("-o", "--output", help="config file to write (.toml); sample prompts go beside it")
    imp.add_argument("--dataset", help="the loratui dataset to train (default: the one holding the source's images)")
    imp.add_argument("--force", action="store_true", help="replace existing files")
    imp.add_argument("--json", action="store_true", help="print the config and every report entry as JSON")
    imp.set_defaults(handler=cmd_import)

    export = sub.add_parser(
        "export", help="write the sd-scripts/musubi-tuner files to run a config without loratui",
        description="Validate CONFIG and write into DIR what the trainer reads: train_config.toml (--config_file) "
        "and dataset.toml (--dataset_config) for sd-scripts, dataset.toml for musubi-tuner, run.sh running every "
        "phase in order, argv.json with each phase's argv, and loratui_config.toml.")
    export.add_argument("config", help="training config TOML")
    export.add_argument("dir", help="folder to write into")
    _add_set(export)
    export.add_argument("--force", action="store_true", help="replace files written by an earlier export")
    export.add_argument("--json", action="store_true")
    export.set_defaults(handler=cmd_export)

    presets = sub.add_parser("presets", help="list built-in and user presets")
    presets.add_argument("--json", action="store_true")
    presets.set_defaults(handler=cmd_presets)

    save = sub.add_parser("save-preset", help="save a training config as a user preset")
    save.add_argument("config", help="training config TOML")
    save.add_argument("--name", required=True, help="preset name")
    save.add_argument("--force", action="store_true", help="replace an existing user preset")
    save.set_defaults(handler=cmd_save_preset)

    start = sub.add_parser("start", help="start a training in a detached supervisor (survives logout)",
                           description="Validate CONFIG, write its files into a job folder and start the training "
                           "in a detached supervisor, or queue it behind a running one. Prints the job id.")
    start.add_argument("config", help="training config TOML")
    _add_set(start)
    start.add_argument("--queue", action="store_true", help="always queue, even when nothing runs")
    start.add_argument("--title", help="a name for the job")
    start.add_argument("--json", action="store_true", help="print {\"id\": N}")
    start.set_defaults(handler=cmd_start)

    status = sub.add_parser("status", help="where a training is (default: the newest; [] with --json when none "
                                           "has run yet)")
    status.add_argument("job", type=int, nargs="?")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=cmd_status)

    logs = sub.add_parser("logs", help="print a training's log (raw trainer output)")
    logs.add_argument("job", type=int)
    logs.add_argument("--follow", "-f", action="store_true", help="keep printing until the job ends")
    logs.set_defaults(handler=cmd_logs)

    cancel = sub.add_parser("cancel", help="stop a training; nothing of it is left running")
    cancel.add_argument("job", type=int)
    cancel.add_argument("--json", action="store_true")
    cancel.set_defaults(handler=cmd_cancel)

    resume = sub.add_parser("resume", help="continue a failed/cancelled/interrupted training from its saved state")
    resume.add_argument("job", type=int)
    resume.add_argument("--queue", action="store_true", help="queue it instead of starting now")
    resume.add_argument("--json", action="store_true")
    resume.set_defaults(handler=cmd_resume)

    queue = sub.add_parser("queue", help="list, reorder or remove queued trainings")
    qsub = queue.add_subparsers(dest="queue_command", metavar="ACTION")
    queue.add_argument("--json", action="store_true")
    queue.set_defaults(handler=cmd_queue_list)
    qlist = qsub.add_parser("list", help="queued trainings in run order")
    qlist.add_argument("--json", action="store_true")
    qlist.set_defaults(handler=cmd_queue_list)
    move = qsub.add_parser("move", help="move a queued training to POSITION (1 runs next)")
    move.add_argument("job", type=int)
    move.add_argument("position", type=int)
    move.set_defaults(handler=cmd_queue_move)
    remove = qsub.add_parser("remove", help="take a training out of the queue")
    remove.add_argument("job", type=int)
    remove.set_defaults(handler=cmd_queue_remove)
    train_runs.register(sub, _add_set, parse_overrides)  # sweep, sweeps, compare

    train_remedies.register(sub)


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    """['a=1', 'b=x y'] -> {'a': '1', 'b': 'x y'}."""
    result = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--set {pair!r} is not KEY=VALUE")
        result[key.strip()] = value
    return result


def _load(ctx, args):
    config = load_config(args.config)
    schema = load_schema(ctx, config.backend, config.family)
    overrides = parse_overrides(args.overrides)
    if overrides:
        config = apply_overrides(config, overrides, schema)
        if (config.backend, config.family) != (schema.backend, schema.family):
            schema = load_schema(ctx, config.backend, config.family)
    return config, schema


def _family_dict(family) -> dict:
    return {
        "id": family.id, "name": family.name, "trainer": family.trainer_name, "backend": family.trainer,
        "scripts": dict(family.scripts), "network_module": family.network_module,
        "roles": [{"role": r.name, "flag": r.flag, "content": r.content, "required": r.required,
                   "phases": list(r.phases), "description": r.description} for r in family.roles],
        "variant_flags": [{"flag": f"--{f.option}", "value": f.value, "phases": list(f.phases),
                           "choices": list(f.choices)} for f in family.fixed_args],
        "dataset_dialect": family.dataset_dialect, "architecture": family.architecture,
        "default_resolution": family.default_resolution, "bucket_step": family.bucket_step,
        "controls": None if family.controls is None else {
            "required": family.controls.required, "max_count": family.controls.max_count,
            "dataset_fields": list(family.controls.dataset_fields), "note": family.controls.note},
        "video": family.video, "presets": family.preset_names,
        "downloads": [{"role": d.role, "repo": d.repo, "file": d.file, "note": d.note} for d in family.downloads],
        "sample_options": list(family.sample_options), "resume": family.resume,
        "doc": family.doc, "notes": list(family.notes), "verified": family.verified,
    }


def cmd_families(ctx, args) -> int:
    chosen = [get_family(args.family)] if args.family else families()
    if args.json:
        print_json([_family_dict(f) for f in chosen] if not args.family else _family_dict(chosen[0]))
        return 0
    if not args.family:
        print_table(["family", "trainer", "name", "presets"],
                    [(f.id, f.trainer_name, f.name, " ".join(f.presets)) for f in chosen],
                    title="model families (`loratui train families ID` for scripts and model files)")
        return 0
    family = chosen[0]
    data = _family_dict(family)
    out(f"{family.id}: {family.name} ({family.trainer_name}; verified: {family.verified})")
    for phase, script in family.scripts.items():
        out(f"  {phase}: {script}")
    for role in data["roles"]:
        need = "required" if role["required"] else "optional"
        out(f"  {role['flag']} ({need}; {', '.join(role['phases'])}): {role['description']}")
    for fixed in data["variant_flags"]:
        extra = f" (or {', '.join(map(str, fixed['choices']))})" if fixed["choices"] else ""
        out(f"  {fixed['flag']} {fixed['value']}{extra} -> {', '.join(fixed['phases'])}")
    out(f"  network module: {family.network_module}; dataset TOML: {family.dataset_dialect}"
        + (f" (architecture {family.architecture})" if family.architecture else "")
        + f"; resolution {family.default_resolution}, bucket step {family.bucket_step}")
    if family.controls:
        out(f"  control images: {', '.join(family.controls.dataset_fields)}; {family.controls.note}")
    for download in family.downloads:
        out(f"  download {download.role}: {download.repo} {download.file}" + (f" ({download.note})"
                                                                              if download.note else ""))
    out(f"  presets: {', '.join(family.preset_names)}")
    out(f"  sample prompt options: {' '.join(family.sample_options)}")
    out(f"  resume: {family.resume}")
    for note in family.notes:
        out(f"  note: {note}")
    return 0


async def _options_family(ctx, args) -> tuple[str, str]:
    """(family id, where it came from): --family, --config, --dataset's newest training, or the default."""
    if args.family:
        return get_family(args.family).id, "--family"
    if args.config:
        return load_config(args.config).family, f"config {args.config}"
    if args.dataset:
        async with Store.open(ctx.paths.db) as store:
            dataset = await service.get_dataset(store, args.dataset)
            if dataset.target is not None and find_family(dataset.target.family) is not None:
                return dataset.target.family, f"dataset {args.dataset}'s target"
            family = await store.read(repo.latest_training_family, dataset.id)
        if family is None or find_family(family) is None:
            raise InputError(f"dataset {args.dataset!r} has no target and has not been trained yet, so its family "
                             "is unknown", hint="pass --family, or set one: `loratui dataset target NAME FAMILY`")
        return family, f"dataset {args.dataset}'s newest training"
    return DEFAULT_FAMILY, "default (pass --family, --config or --dataset)"


async def cmd_options(ctx, args) -> int:
    family_id, origin = await _options_family(ctx, args)
    family = get_family(family_id)
    if args.backend and family.trainer != args.backend:
        raise InputError(f"family {family.id!r} is trained by {family.trainer}, not {args.backend}")
    if args.phase not in family.scripts:
        raise InputError(f"family {family.id!r} has no {args.phase} phase")
    schema = load_schema(ctx, family.trainer, family.id, refresh=args.refresh, phase=args.phase)
    found = schema.search(args.search, args.section)
    if args.json:
        print_json({"family": family.id, "family_from": origin, "backend": family.trainer, "phase": args.phase,
                    "source": schema.source, "options": [
            {"name": o.name, "type": o.type, "default": o.default, "choices": o.choices, "nargs": o.nargs,
             "section": o.section, "help": o.help} for o in found]})
        return 0
    rows = [(o.name, o.type + ("[]" if o.is_list else ""), "" if o.default is None else repr(o.default),
             o.section, (o.short_help + (f" (choices: {', '.join(str(c) for c in o.choices if c is not None)})"
                                   if o.choices else ""))) for o in found]
    print_table(["option", "type", "default", "section", "help"], rows,
                title=f"{family.trainer_name} {family.id} ({origin}): {len(found)} options ({schema.source})")
    return 0


async def cmd_check(ctx, args) -> int:
    config, schema = _load(ctx, args)
    trainer_result = None
    async with Store.open(ctx.paths.db) as store:
        issues = await check_config(store, config, schema)
        trainer = None if args.no_trainer else find_trainer(ctx, config.backend, required=False)
        if trainer is not None and not [i for i in issues if i.severity == "error"]:
            with tempfile.TemporaryDirectory(prefix="loratui-plan-") as tmp:
                plan = await build_plan(store, ctx, config, Path(tmp), schema=schema)
                found, trainer_result = await asyncio.to_thread(check_plan, plan, trainer)
            issues += found
    errors = [i for i in issues if i.severity == "error"]
    if args.json:
        print_json({"ok": not errors, "schema": schema.source, "trainer": trainer_result,
                    "issues": [{"field": i.field, "message": i.message, "severity": i.severity} for i in issues]})
    else:
        for issue in issues:
            out(f"{issue.severity}: {issue.field}: {issue.message}")
        warnings = len(issues) - len(errors)
        checked = (f"; checked by {len(trainer_result['phases'])} trainer script(s) and its dataset validator"
                   if trainer_result else "; the trainer's own checks did not run" if not args.no_trainer else "")
        info(f"{args.config}: {len(errors)} error(s), {warnings} warning(s) (options from {schema.source}"
             f"{checked})")
    if errors or (args.strict and issues):
        return 2
    return 0


async def cmd_plan(ctx, args) -> int:
    config, schema = _load(ctx, args)
    workdir = Path(args.write) if args.write else ctx.paths.jobs / "plan-preview"
    async with Store.open(ctx.paths.db) as store:
        plan = await build_plan(store, ctx, config, workdir, schema=schema)
    written = plan.write_files() if args.write else []
    if args.json:
        print_json({"backend": plan.backend, "family": plan.family, "workdir": str(plan.workdir),
                    "files": plan.files, "written": [str(p) for p in written],
                    "phases": [{"name": p.name, "argv": p.argv, "cwd": p.cwd, "env": p.env} for p in plan.phases],
                    "total_steps": plan.total_steps, "epochs": plan.epochs, "output_dir": plan.output_dir,
                    "output_name": plan.output_name, "save_state": plan.save_state})
        return 0
    for name, text in plan.files.items():
        out(f"# ---- {plan.workdir / name}")
        out(text.rstrip())
    for phase in plan.phases:
        out(f"# ---- phase {phase.name} (cwd {phase.cwd}; env {phase.env})")
        out(repr(phase.argv))
    where = f"; wrote {len(written)} file(s) to {plan.workdir}" if written else "; files not written (use --write DIR)"
    processes = int(config.launch.get("num_processes") or 1)
    spread = f" (optimizer steps, with the batches split over {processes} processes)" if processes > 1 else ""
    info(f"{plan.total_steps} steps over {plan.epochs} epoch(s){spread}{where}")
    return 0


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown (no previous run of this family; set seconds_per_step)"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


async def cmd_steps(ctx, args) -> int:
    config, schema = _load(ctx, args)
    async with Store.open(ctx.paths.db) as store:
        report = await step_report(store, config, schema)
    if args.json:
        print_json(report.to_dict())
        return 0
    print_table(["bucket", "images x repeats", "batches"],
                [(b, c, -(-c // max(1, int(config.args.get("train_batch_size") or 1))))
                 for b, c in report.buckets.items()], title="buckets")
    lines = [
        f"images: {report.images} ({report.train_images_with_repeats} training and "
        f"{report.reg_images_with_repeats} regularisation with repeats)",
        f"images with repeats (as bucketed): {report.images_with_repeats}",
        f"batches per epoch: {report.batches_per_epoch}",
        f"steps per epoch: {report.steps_per_epoch}",
        f"epochs: {report.epochs}",
        f"total steps: {report.total_steps}",
        f"ETA: {_duration(report.eta_seconds)}",
    ] + [f"note: {n}" for n in report.notes]
    for line in lines:
        out(line)
    return 0


async def cmd_new(ctx, args) -> int:
    output = Path(args.output)
    if output.exists() and not args.force:
        raise InputError(f"{output} already exists", hint="use --force to replace it")
    config = load_preset(ctx, args.preset)
    async with Store.open(ctx.paths.db) as store:
        dataset = await service.get_dataset(store, args.dataset)
    config.dataset = dataset.name
    if args.models:
        filled, notes = config_from_model_files(config, args.models)
        if (filled.backend, filled.family) != (config.backend, config.family):
            raise ModelError(f"the model files are for {filled.family} ({filled.backend}), but preset "
                             f"{args.preset} trains {config.family} ({config.backend})",
                             hint=f"choose a {filled.family} preset (`loratui train presets`)")
        config = filled
        for note in notes:
            info(note)
    overrides = parse_overrides(args.overrides)
    if overrides:
        config = apply_overrides(config, overrides, load_schema(ctx, config.backend, config.family))
    save_config(config, output)
    empty = [k for k, v in config.args.items() if v == ""]
    info(f"wrote {output} from preset {args.preset}" + (f"; fill in: {', '.join(empty)}" if empty else ""))
    return 0


async def cmd_import(ctx, args) -> int:
    async with Store.open(ctx.paths.db) as store:
        imported = await import_config(store, ctx, args.files, args.dataset)
    written = write_imported(imported, args.output, force=args.force) if args.output else []
    if args.json:
        data = imported.to_dict()
        data["written"] = [str(p) for p in written]
        print_json(data)
        return 0
    if not written:
        out(imported.config.to_toml().rstrip())
    for entry in imported.report.entries:
        info(f"{entry.source}: {entry.line()}")
    for warning in imported.report.warnings:
        info(f"warning: {warning}")
    counts = {s: len(imported.report.by_status(s)) for s in ("mapped", "default", "dropped")}
    where = f"wrote {', '.join(str(p) for p in written)}" if written else "config printed (use -o FILE to save it)"
    info(f"{counts['mapped']} mapped, {counts['default']} from the source tool's defaults, {counts['dropped']} "
         f"dropped; {imported.config.backend} {imported.config.family}; {where}")
    if not imported.config.dataset:
        info("next: register the images with `loratui dataset add DIR` and set `dataset = \"NAME\"`")
    return 0


async def cmd_export(ctx, args) -> int:
    config, schema = _load(ctx, args)
    async with Store.open(ctx.paths.db) as store:
        plan = await build_plan(store, ctx, config, Path(args.dir), schema=schema)
    written = export_files(plan, force=args.force)
    if args.json:
        print_json({"dir": str(plan.workdir), "written": [str(p) for p in written],
                    "phases": [{"name": p.name, "argv": p.argv, "cwd": p.cwd, "env": p.env} for p in plan.phases],
                    "total_steps": plan.total_steps, "epochs": plan.epochs})
        return 0
    for path in written:
        out(path)
    info(f"run it without loratui: sh {plan.workdir / 'run.sh'} ({plan.total_steps} steps over {plan.epochs} "
         "epoch(s))")
    return 0


def cmd_presets(ctx, args) -> int:
    presets = list_presets(ctx)
    if args.json:
        print_json([p.__dict__ for p in presets])
        return 0
    print_table(["name", "source", "family", "description"],
                [(p.name, p.source, p.family, p.description) for p in presets])
    return 0


def cmd_save_preset(ctx, args) -> int:
    path = save_preset(ctx, args.name, load_config(args.config), overwrite=args.force)
    info(f"saved preset {args.name} to {path}")
    return 0


async def cmd_start(ctx, args) -> int:
    overrides = parse_overrides(args.overrides)
    async with Store.open(ctx.paths.db) as store:
        await run_queue.advance(store, ctx)
        job_id = await start_training(store, ctx, args.config, overrides=overrides, title=args.title,
                                      queue=args.queue)
        job = await store.run(repo.get_job, job_id)
    if args.json:
        print_json({"id": job_id, "status": job.status.value, "log_path": job.log_path})
    else:
        out(job_id)
        info(f"training job {job_id} {'queued' if job.status.value == 'queued' else 'started'}; "
             f"follow it with `loratui train logs {job_id} --follow` or `loratui train status {job_id}`")
    return 0


async def _job(store, ctx, job_id: int | None, *, none_ok: bool = False) -> Job | None:
    """A training job by id, or the newest one, after reconciling dead supervisors (and advancing the queue;
    not in a read-only home, whose jobs are shown as recorded). Without any training: None with `none_ok`,
    else NotFoundError."""
    if not store.readonly:
        await run_queue.advance(store, ctx)
    if job_id is not None:
        return await training_job(store, job_id, SUPERVISED_KINDS)  # a checkpoint sweep has the same log and status
    job = await store.run(repo.latest_job, "train")
    if job is None and not none_ok:
        raise NotFoundError("no training jobs yet", hint="start one with `loratui train start CONFIG`")
    return job


async def cmd_status(ctx, args) -> int:
    async with Store.open(ctx.paths.db) as store:
        job = await _job(store, ctx, args.job, none_ok=True)
    if job is None:  # nothing has been trained yet: an answer, not an error (a script polling it gets [])
        if args.json:
            print_json([])
        else:
            info("no training jobs yet: start one with `loratui train start CONFIG`")
        return 0
    if args.json:
        print_json(status_dict(job))
        return 0
    out(status_line(job))
    if job.message:
        out(f"  {job.message}")
    if job.output:
        out(f"  output: {job.output}")
    if job.exit_code is not None:
        out(f"  exit code: {job.exit_code}")
    return 0


async def cmd_logs(ctx, args) -> int:
    async with Store.open(ctx.paths.db) as store:
        job = await _job(store, ctx, args.job)
        if not job.log_path:
            raise NotFoundError(f"job {job.id} has no log yet")
        path = Path(job.log_path)
        printer = StreamPrinter()
        if not args.follow:
            if path.exists():
                printer.write(path.read_bytes(), final=True)
            return 0
        state = {"done": False, "checked": 0.0}

        def stop() -> bool:
            return state["done"]

        iterator = follow_file(path, stop=stop, poll_s=0.2)
        while True:
            now = time.monotonic()
            if now - state["checked"] > 0.5:
                state["checked"] = now
                await reconcile(store)  # a dead supervisor ends the job: stop following
                state["done"] = (await store.run(repo.get_job, job.id)).terminal
            chunk = await asyncio.to_thread(next, iterator, None)
            if chunk is None:
                break
            if chunk:
                printer.write(chunk)
        printer.write(b"", final=True)
    return 0


async def cmd_cancel(ctx, args) -> int:
    async with Store.open(ctx.paths.db) as store:
        await run_queue.advance(store, ctx)
        job = await cancel_training(store, ctx, args.job)
    left = _leftovers(job)
    if getattr(args, "json", False):
        print_json({**status_dict(job), "processes_left": left})
    else:
        info(f"job {job.id}: {job.status.value}" + (f"; still running: {left}" if left else "; no process left"))
    return 0 if not left else 1


def _leftovers(job: Job) -> list[int]:
    return group_members(job.pgid) if job.pgid else []


async def cmd_resume(ctx, args) -> int:
    async with Store.open(ctx.paths.db) as store:
        await run_queue.advance(store, ctx)
        new_id = await resume_training(store, ctx, args.job, queue=args.queue)
        job = await store.run(repo.get_job, new_id)
    if args.json:
        print_json({"id": new_id, "resumed_from": args.job, "status": job.status.value, "step": job.step})
    else:
        out(new_id)
        info(f"job {new_id} resumes job {args.job}" + (f" from step {job.step}" if job.step else ""))
    return 0


async def cmd_queue_list(ctx, args) -> int:
    async with Store.open(ctx.paths.db) as store:
        if not store.readonly:
            await run_queue.advance(store, ctx)
        ids = await run_queue.list_queue(store)
        jobs = [await store.run(repo.get_job, i) for i in ids]
    if getattr(args, "json", False):
        print_json([status_dict(j) for j in jobs])
        return 0
    if not jobs:
        info("the training queue is empty")
        return 0
    print_table(["#", "id", "title", "created"],
                [[j.queue_position, j.id, j.title, time.strftime("%Y-%m-%d %H:%M", time.localtime(j.created_at))]
                 for j in jobs])
    return 0


async def cmd_queue_move(ctx, args) -> int:
    async with Store.open(ctx.paths.db) as store:
        order = await run_queue.move(store, ctx, args.job, args.position)
    info("queue: " + " ".join(str(i) for i in order))
    return 0


async def cmd_queue_remove(ctx, args) -> int:
    async with Store.open(ctx.paths.db) as store:
        await run_queue.remove(store, ctx, args.job)
    info(f"job {args.job} removed from the queue")
    return 0
