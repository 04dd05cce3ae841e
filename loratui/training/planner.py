"""From a training config to a TrainPlan: validate, write the trainer's files, build the argv, count the steps.

Both entry points are coroutines (the store is async)::

    plan = await build_plan(store, ctx, config, workdir)
    plan = await plan_from_file(store, ctx, "run.toml", workdir, overrides={"network_dim": "32"})
"""

from __future__ import annotations

from pathlib import Path

from loratui import tomlio
from loratui.datasets import caption_sets, dataset_repo
from loratui.datasets.service import get_dataset
from loratui.errors import ConfigError, TrainingError
from loratui.training import edit_pairs, kohya, musubi
from loratui.training.families import get_family
from loratui.training.config import TrainConfig, load_config
from loratui.training.plan import TrainPhase, TrainPlan
from loratui.training.schema import Schema, coerce_text, load_schema
from loratui.training.steps import (
    MusubiSource, MusubiStepParams, StepReport, assign_video_clips, attach_controls, compute_musubi_steps,
    compute_steps, load_musubi_sources, load_subsets, load_video_rows, measured_seconds_per_step, musubi_reso_step,
    params_from_args, parse_resolution,
)
from loratui.training.video_dataset import musubi_clip_settings, video_architecture
from loratui.training.trainer import find_trainer
from loratui.training.validate import Issue, check_config, errors

TRAIN_ENV = {"OMP_NUM_THREADS": "1"}
"""Without it plain-python sd-scripts on CPU ran 2-5x slower per step (see DESIGN.md)."""


def apply_overrides(config: TrainConfig, overrides: dict[str, str] | None, schema: Schema) -> TrainConfig:
    """A copy of `config` with `--set key=value` strings applied to [args], converted with the schema's types.

    `launch.KEY=VALUE` sets a [launch] value; an empty value removes the option.
    """
    config = config.copy()
    for key, text in (overrides or {}).items():
        key = key.strip()
        if not key:
            raise ConfigError("--set needs KEY=VALUE")
        if key.startswith("launch."):
            name = key.split(".", 1)[1]
            data = config.to_dict()
            launch = dict(data.get("launch", {}))
            if text == "":
                launch.pop(name, None)
            else:
                launch[name] = coerce_text(None, text) if name != "gpu_ids" else text
            data["launch"] = launch
            config = TrainConfig.from_dict(data, source=config.source or "--set")
            continue
        if key in ("dataset", "family", "backend"):
            data = config.to_dict()
            data[key] = text
            config = TrainConfig.from_dict(data, source=config.source or "--set")
            continue
        if text == "":
            config.args.pop(key, None)
        else:
            config.args[key] = coerce_text(schema.get(key), text)
    return config


def effective_args(config: TrainConfig, caption_ext: str | None) -> dict:
    """[args] plus what loratui fills in: the family's variant flags, resolution and caption extension when unset."""
    family = get_family(config.family)
    args = {**config.resolved_args(), **family.variant_values(config.args, "train")}
    if args.get("resolution") is None:
        size = family.default_resolution
        args["resolution"] = f"{size},{size}"
    if caption_ext and args.get("caption_extension") is None:
        args["caption_extension"] = caption_ext
    return args


async def dataset_subset_rows(store, dataset_id: int) -> list[dict]:
    """The dataset's subsets as dicts (options decoded), with the count of images sd-scripts reads."""
    subsets = await load_subsets(store, dataset_id)
    counts = {s.rel_path: len(s.sizes) for s in subsets}
    return [{"rel_path": s.rel_path, "repeats": s.repeats, "class_tokens": s.class_tokens, "is_reg": s.is_reg,
             "keep_tokens": s.keep_tokens, "options": s.options, "images": counts.get(s.rel_path, 0)}
            for s in await store.run(dataset_repo.list_subsets, dataset_id)]


async def step_report(store, config: TrainConfig, schema: Schema | None = None) -> StepReport:
    """The exact step count for a config (dataset read from the store) with an ETA when one is known."""
    dataset = await get_dataset(store, config.dataset)
    args = effective_args(config, dataset.caption_ext)
    pairs = None
    if config.backend == "musubi":
        subsets = await load_subsets(store, dataset.id)
        used = [{"rel_path": s.rel_path, "repeats": s.repeats} for s in subsets if s.sizes]
        pairs = await edit_pairs.load_pair_plan(store, dataset, config.family, args, used)
    if pairs is not None:  # an edit model: musubi-tuner's own buckets, split by control sizes
        report = edit_pairs.edit_step_report(pairs, args, config.launch)
    elif config.backend == "musubi":
        report = await musubi_step_report(store, config, dataset.id, args,
                                          caption_sets.trained_set(dataset, args.get("caption_extension")))
    else:
        subsets = await load_subsets(store, dataset.id)
        report = compute_steps(subsets, params_from_args(args, config.launch, schema))
    if args.get("validation_split"):
        report.exact = False
        report.notes.append("validation_split moves some images out of training; not counted")
    measured = await measured_seconds_per_step(store, config.family)
    report.seconds_per_step = measured if measured is not None else config.seconds_per_step
    if report.seconds_per_step is not None:
        report.eta_seconds = report.seconds_per_step * report.total_steps
    return report


async def musubi_sources_for(store, family: str, dataset_id: int, args: dict,
                             caption_set: str | None = None) -> list[MusubiSource]:
    """The musubi sources of a dataset (captions of the set trained on, `caption_set`: None is the primary set);
    for a video family with the clips of its videos (clip options from [args])."""
    sources = await load_musubi_sources(store, dataset_id, caption_set)
    if video_architecture(family) is not None:
        assign_video_clips(sources, await load_video_rows(store, dataset_id), musubi_clip_settings(family, args),
                           musubi.dataset_settings(args).resolution, musubi_reso_step(family))
    return sources


async def musubi_step_report(store, config: TrainConfig, dataset_id: int, args: dict,
                             caption_set: str | None = None) -> StepReport:
    """musubi-tuner's exact count: the datasets loratui writes (a video family's video clips included), bucketed
    with the family's step (edit models trained on pairs count through ``edit_pairs``); `caption_set` is the set
    trained on."""
    sources = await musubi_sources_for(store, config.family, dataset_id, args, caption_set)
    return musubi_report(sources, config.family, args, config.launch)


def musubi_report(sources: list[MusubiSource], family: str, args: dict, launch: dict) -> StepReport:
    """musubi-tuner's count for the subsets `sources` with these [args] and [launch] values."""
    datasets = musubi.training_datasets(sources, musubi.dataset_settings(args))
    epochs = args.get("max_train_epochs")
    params = MusubiStepParams(
        reso_step=musubi_reso_step(family),
        gradient_accumulation_steps=int(args.get("gradient_accumulation_steps") or 1),
        num_processes=int(launch.get("num_processes") or launch.get("gpus") or 1),
        max_train_epochs=None if epochs is None else int(epochs),
        max_train_steps=int(args.get("max_train_steps") or 1600),
    )
    report = compute_musubi_steps(datasets, params)
    regs = [s.rel_path or "." for s in sources if s.is_reg and s.items]
    if regs:
        report.notes.append(f"musubi-tuner has no regularisation images: {', '.join(regs)} not trained")
    skipped = sum(s.uncaptioned for s in musubi.trained_sources(sources))
    if skipped:
        report.notes.append(f"{skipped} image(s) without a caption file are skipped by musubi-tuner")
    short = [name for s in musubi.trained_sources(sources) for name in s.too_short]
    if short:
        report.notes.append(f"{len(short)} video(s) too short for target_frames: no clip ({', '.join(short[:3])}"
                            + (" ..." if len(short) > 3 else "") + ")")
    clips = sum(len(s.clips) for s in musubi.trained_sources(sources))
    if clips:
        videos = sum(s.videos for s in musubi.trained_sources(sources))
        report.notes.append(f"{clips} video clip(s) from {videos} video(s), each one item per repeat")
    return report


def uncaptioned_video_issue(sources: list[MusubiSource]) -> list[Issue]:
    """The error for videos without a caption file (musubi-tuner's text caching stops on the first one)."""
    missing = [name for s in musubi.trained_sources(sources) for name in s.uncaptioned_videos]
    if not missing:
        return []
    shown = ", ".join(missing[:3]) + (" ..." if len(missing) > 3 else "")
    return [Issue("dataset", f"{len(missing)} video(s) without a caption file (musubi-tuner's text-encoder "
                             f"caching would stop on them): {shown}")]


def unbucketable_issue(report: StepReport) -> Issue:
    """The error for images sd-scripts cannot put into a bucket."""
    shown = ", ".join(report.unbucketable[:3]) + (" ..." if len(report.unbucketable) > 3 else "")
    return Issue("bucket_no_upscale", f"{len(report.unbucketable)} image(s) are too elongated for this resolution "
                                      f"with bucket_no_upscale (the trainer would fail on a zero-size bucket): {shown}")


def _raise_for(issues: list[Issue], source: str) -> None:
    found = errors(issues)
    if found:
        lines = "; ".join(f"{i.field}: {i.message}" for i in found)
        raise TrainingError(f"{source}: {len(found)} problem(s): {lines}", hint="run `loratui train check`")


async def build_plan(store, ctx, config: TrainConfig, workdir: Path, *, schema: Schema | None = None) -> TrainPlan:
    """Validate `config` and return the plan: files to write into `workdir`, phases with argv, step counts."""
    workdir = Path(workdir).resolve()
    schema = schema or load_schema(ctx, config.backend, config.family)
    issues = await check_config(store, config, schema)
    _raise_for(issues, config.source or "config")
    trainer = find_trainer(ctx, config.backend)
    dataset = await get_dataset(store, config.dataset)
    args = effective_args(config, dataset.caption_ext)
    subsets = [row for row in await dataset_subset_rows(store, dataset.id) if row["images"] > 0]
    subset_issues = []
    for row in subsets:
        for key, value in row["options"].items():
            if key not in kohya.SUBSET_OPTION_TYPES:
                subset_issues.append(Issue(f"subset {row['rel_path'] or '.'}.{key}", "is not a dataset_config key"))
                continue
            try:
                kohya.convert_subset_option(key, value)
            except ValueError as exc:
                subset_issues.append(Issue(f"subset {row['rel_path'] or '.'}.{key}", str(exc)))
    _raise_for(subset_issues, config.source or "config")
    report = await step_report(store, config, schema)
    if report.unbucketable:
        _raise_for([unbucketable_issue(report)], config.source or "config")
    resolution = parse_resolution(args["resolution"])
    caption_ext = str(args["caption_extension"])  # the caption set trained on (the dataset's own by default)
    batch = int(args.get("train_batch_size") or 1)
    launch = dict(config.launch)
    launch.setdefault("mixed_precision", args.get("mixed_precision") or "no")
    plan = TrainPlan(backend=config.backend, family=config.family, workdir=workdir,
                     output_dir=str(args.get("output_dir") or ""), output_name=str(args.get("output_name") or ""),
                     total_steps=report.total_steps, epochs=report.epochs, save_state=bool(args.get("save_state")))
    config_path = workdir / kohya.CONFIG_FILE_NAME
    dataset_path = workdir / kohya.DATASET_FILE_NAME
    if config.backend == "kohya":
        plan.files[kohya.CONFIG_FILE_NAME] = tomlio.dumps(kohya.config_file_values(args, schema))
        plan.files[kohya.DATASET_FILE_NAME] = tomlio.dumps(
            kohya.dataset_config(dataset.path, caption_ext, subsets, args, resolution, batch))
        argv = kohya.launcher_argv(trainer.python, trainer.script(config.family), launch)
        argv += ["--config_file", str(config_path), "--dataset_config", str(dataset_path)]
        plan.phases.append(TrainPhase("train", argv, str(trainer.root), dict(TRAIN_ENV)))
    else:
        sources = await musubi_sources_for(store, config.family, dataset.id, args,
                                           caption_sets.trained_set(dataset, caption_ext))
        _raise_for(uncaptioned_video_issue(sources), config.source or "config")
        used = [{"rel_path": s.rel_path, "repeats": s.repeats} for s in musubi.trained_sources(sources)]
        pairs = await edit_pairs.load_pair_plan(store, dataset, config.family, args, used)
        if pairs is not None:  # an edit model: each subset's control folder and its options
            attach_controls(sources, {}, pairs.toml_keys())
        clip_settings = musubi.video_clip_settings(config.family, args)
        plan.files[kohya.DATASET_FILE_NAME] = tomlio.dumps(
            musubi.dataset_config(dataset.path, caption_ext, sources,
                                  musubi.dataset_settings(args, resolution), workdir / "cache", clip_settings))
        items = sum(len(s.items) + len(s.clips) for s in musubi.trained_sources(sources))
        plan.phases.extend(musubi.phases(trainer, config.family, args, launch, dataset_path, schema, items))
    plan.files["loratui_config.toml"] = config.to_toml()
    return plan


async def plan_from_file(store, ctx, config_path, workdir: Path,
                         overrides: dict[str, str] | None = None) -> TrainPlan:
    """Read a config file, apply `--set` overrides, and build its plan."""
    config = load_config(config_path)
    schema = load_schema(ctx, config.backend, config.family)
    config = apply_overrides(config, overrides, schema)
    if config.family != schema.family or config.backend != schema.backend:
        schema = load_schema(ctx, config.backend, config.family)
    return await build_plan(store, ctx, config, workdir, schema=schema)
