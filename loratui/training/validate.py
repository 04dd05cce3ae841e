"""Validation before launch: every problem names its field and says why.

``check_args`` is synchronous and needs only the config and the schema (the TUI runs it on every edit);
``check_config`` adds the dataset checks that need the store.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loratui.datasets import caption_set_repo, caption_sets, image_repo
from loratui.datasets.service import get_dataset
from loratui.errors import NotFoundError
from loratui.models.roles import DENOISER_ROLES, ROLE_CONTENTS, catalog_family, check_model_roles, config_variant
from loratui.training.config import TrainConfig
from loratui.training.distributed import deepspeed_problems, launch_problems
from loratui.training.edit_pairs import load_pair_plan
from loratui.training.musubi import DATASET_ARGS as MUSUBI_DATASET_ARGS
from loratui.training.video_dataset import video_architecture
from loratui.training.families import Family, find_family, get_family, role_options
from loratui.training.schema import Schema, check_value
from loratui.training.steps import is_kohya_image, load_subsets, parse_resolution

PATH_OPTIONS = tuple(dict.fromkeys(role_options() + ("network_weights", "sample_prompts", "resume", "base_weights",
                                                     "dataset_config_file")))
"""Options naming files or folders that must exist: every family's model-file options (from the family registry;
a role with ``repo_id_ok`` also takes a Hugging Face repo id) and the rest."""

BASE_REQUIRED = ("output_dir", "network_module")
"""Required in every family, after the family's required model files."""


def required_options(family: Family) -> tuple[str, ...]:
    """The options a config of `family` must set: its required model files, then BASE_REQUIRED."""
    return tuple(role.option for role in family.roles if role.required) + BASE_REQUIRED


@dataclass
class Issue:
    """One validation finding."""

    field: str
    message: str
    severity: str = "error"
    """'error' (the trainer would fail or do the wrong thing) or 'warning'."""

    def __str__(self) -> str:
        return f"{self.severity}: {self.field}: {self.message}"


def errors(issues: list[Issue]) -> list[Issue]:
    """Only the errors."""
    return [issue for issue in issues if issue.severity == "error"]


def _looks_local(value: str) -> bool:
    return value.startswith(("/", ".", "~")) or value.endswith((".safetensors", ".ckpt", ".pt", ".bin", ".sft")) \
        or value.count("/") != 1


def _writable(folder: Path) -> bool:
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            return False
        probe = probe.parent
    return probe.is_dir() and os.access(probe, os.W_OK | os.X_OK)


def check_args(config: TrainConfig, schema: Schema) -> list[Issue]:
    """Types, choices, required options, paths, output folder and incompatible combinations."""
    issues: list[Issue] = []
    args = config.resolved_args()
    from_trainer = schema.source.startswith("trainer")
    for name, value in args.items():
        if value is None:
            continue  # unset (only possible from code: TOML has no null)
        option = schema.get(name)
        if option is None and config.backend == "musubi" and name in MUSUBI_DATASET_ARGS:
            continue  # written into the dataset TOML, not onto the command line
        if option is None:
            close = difflib.get_close_matches(name, list(schema.options), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            if from_trainer and config.backend == "musubi":
                # musubi-tuner takes its options on the command line: argparse stops at an unknown one
                issues.append(Issue(name, f"is not an option of the installed musubi-tuner script (it would "
                                          f"stop with 'unrecognized arguments'){hint}"))
            elif from_trainer:
                issues.append(Issue(name, f"is not an option of the installed trainer: passed through, but the "
                                          f"trainer will ignore it{hint}", "warning"))
            else:
                issues.append(Issue(name, f"is not a known option; passed through untouched{hint}", "warning"))
            continue
        if name == "resolution":
            if parse_resolution(value) is None:
                issues.append(Issue(name, f"must be 'size' or 'width,height', got {value!r}"))
            continue
        problem = check_value(option, value)
        if problem:
            issues.append(Issue(name, problem))
    family = get_family(config.family)
    for name in required_options(family):
        if args.get(name) in (None, ""):
            issues.append(Issue(name, "is required"))
    issues += _check_variants(family, args)
    for name in PATH_OPTIONS:
        value = args.get(name)
        if not isinstance(value, str) or not value:
            continue
        role = family.role_for_option(name)
        if role is not None and role.repo_id_ok and not _looks_local(value):
            continue  # a Hugging Face repo id, which this role's trainer option also takes
        if not Path(value).expanduser().exists():
            issues.append(Issue(name, f"{value} does not exist"))
    output = args.get("output_dir")
    if isinstance(output, str) and output:
        folder = Path(output).expanduser()
        if folder.exists() and not folder.is_dir():
            issues.append(Issue("output_dir", f"{output} is a file, not a folder"))
        elif not _writable(folder):
            issues.append(Issue("output_dir", f"{output} is not writable"))
    issues += _check_numbers(args)
    issues += _check_combinations(config, schema)
    issues += check_models(config)
    if not config.dataset:
        issues.append(Issue("dataset", "no dataset named; set `dataset = \"NAME\"` at the top of the config"))
    return issues


MODEL_ROLES = tuple(dict.fromkeys(DENOISER_ROLES + tuple(r for roles in ROLE_CONTENTS.values() for r in roles)
                                  + ("network_weights",)))
"""Options whose files ``check_models`` identifies."""


def _model_problems(config: TrainConfig) -> list:
    args = config.resolved_args()
    record = find_family(config.family)
    if record is not None:  # the variant flags loratui passes for the family (its --model_version, --task...)
        args = {**args, **record.variant_values(args, "train")}
    family = catalog_family(config.family, args)
    if family is None:
        return []
    roles = {name: args[name] for name in MODEL_ROLES if isinstance(args.get(name), str) and args[name]}
    return check_model_roles(family, roles, config_variant(config.family, args))


def check_models(config: TrainConfig) -> list[Issue]:
    """The model files fit the family and variant: read from their safetensors headers (see loratui.models)."""
    return [Issue(p.role, p.message, p.severity) for p in _model_problems(config) if not p.unreadable]


def unreadable_models(config: TrainConfig) -> list[Issue]:
    """Model files whose safetensors header cannot be read (warnings; only `check_config` reports them, so the
    form, which checks on every edit, stays quiet about a file that may still be downloading)."""
    return [Issue(p.role, p.message, p.severity) for p in _model_problems(config) if p.unreadable]


def _check_variants(family: Family, args: dict) -> list[Issue]:
    """The family's variant flags: fixed ones may only be set to their value, others only to a listed choice."""
    issues = []
    for fixed in family.fixed_args:
        value = args.get(fixed.option)
        if value is None:
            continue
        if fixed.choices and value not in fixed.choices:
            issues.append(Issue(fixed.option, f"{value!r} is not a {family.name} variant (choose "
                                              f"{', '.join(map(str, fixed.choices))})"))
        elif not fixed.choices and value != fixed.value:
            issues.append(Issue(fixed.option, f"is {fixed.value!r} for family {family.id} (loratui passes it); "
                                              f"pick the family that has {value!r} instead"))
    return issues


def _positive(args: dict, name: str, issues: list[Issue], allow_zero: bool = False) -> None:
    value = args.get(name)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0 or (value == 0 and not allow_zero):
            issues.append(Issue(name, f"must be {'0 or more' if allow_zero else 'more than 0'}, got {value}"))


def _check_numbers(args: dict) -> list[Issue]:
    issues: list[Issue] = []
    for name in ("train_batch_size", "max_train_epochs", "max_train_steps", "gradient_accumulation_steps",
                 "network_dim", "learning_rate", "bucket_reso_steps", "min_bucket_reso", "max_bucket_reso",
                 "save_every_n_epochs", "save_every_n_steps", "sample_every_n_epochs", "sample_every_n_steps"):
        _positive(args, name, issues)
    for name in ("unet_lr", "network_alpha", "max_data_loader_n_workers", "lr_warmup_steps", "keep_tokens"):
        _positive(args, name, issues, allow_zero=True)
    for name in ("caption_dropout_rate", "caption_tag_dropout_rate", "network_dropout"):
        value = args.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not 0 <= value <= 1:
            issues.append(Issue(name, f"is a rate between 0 and 1, got {value}"))
    return issues


def _on(args: dict, name: str) -> bool:
    value = args.get(name)
    if isinstance(value, bool):
        return value
    return isinstance(value, (int, float)) and value > 0


def _check_combinations(config: TrainConfig, schema: Schema) -> list[Issue]:
    args, issues = config.args, []
    caching_te = _on(args, "cache_text_encoder_outputs") or _on(args, "cache_text_encoder_outputs_to_disk")
    if caching_te:
        for name in ("shuffle_caption", "caption_dropout_rate", "caption_tag_dropout_rate", "token_warmup_step"):
            if _on(args, name):
                issues.append(Issue(name, "cannot be used with cache_text_encoder_outputs (the cached outputs "
                                          "would never change)"))
        if config.family == "sdxl" and not _on(args, "network_train_unet_only"):
            issues.append(Issue("cache_text_encoder_outputs", "needs network_train_unet_only for SDXL (a text "
                                                             "encoder cannot be trained from cached outputs)"))
    if _on(args, "cache_latents") or _on(args, "cache_latents_to_disk"):
        for name in ("color_aug", "random_crop"):
            if _on(args, name):
                issues.append(Issue(name, "cannot be used with cache_latents (sd-scripts rejects it)"))
    if _on(args, "network_train_unet_only") and _on(args, "network_train_text_encoder_only"):
        issues.append(Issue("network_train_text_encoder_only", "cannot be combined with network_train_unet_only"))
    mixed = args.get("mixed_precision", "no")
    if _on(args, "full_fp16") and mixed != "fp16":
        issues.append(Issue("full_fp16", "needs mixed_precision = \"fp16\""))
    if _on(args, "full_bf16") and mixed != "bf16":
        issues.append(Issue("full_bf16", "needs mixed_precision = \"bf16\""))
    if _on(args, "fp8_base") and mixed in (None, "no"):
        issues.append(Issue("fp8_base", "needs mixed_precision fp16 or bf16"))
    if _on(args, "v2") and args.get("clip_skip") is not None:
        issues.append(Issue("clip_skip", "is not used with v2 models", "warning"))
    if args.get("adaptive_noise_scale") is not None and args.get("noise_offset") is None:
        issues.append(Issue("adaptive_noise_scale", "needs noise_offset"))
    low, high = args.get("min_bucket_reso"), args.get("max_bucket_reso")
    if isinstance(low, int) and isinstance(high, int) and low > high:
        issues.append(Issue("min_bucket_reso", f"{low} is larger than max_bucket_reso {high}"))
    steps = args.get("bucket_reso_steps")
    divisor = get_family(config.family).bucket_step
    if config.backend == "kohya" and isinstance(steps, int) and divisor and steps > 0 and steps % divisor:
        issues.append(Issue("bucket_reso_steps", f"must be divisible by {divisor} for {config.family}"))
    if _on(args, "skip_until_initial_step") and not args.get("resume"):
        issues.append(Issue("skip_until_initial_step", "only makes sense with resume", "warning"))
    if args.get("save_every_n_steps") and not _on(args, "save_state"):
        issues.append(Issue("save_state", "is off: saved checkpoints cannot be resumed from (turn it on to "
                                          "resume after a cancel or a lost box)", "warning"))
    issues += _check_launch(config, schema)
    return issues


def _check_launch(config: TrainConfig, schema: Schema) -> list[Issue]:
    """[launch] (processes, machines, ports, GPUs) and the trainer's DeepSpeed options (``training.distributed``)."""
    found = launch_problems(config.launch) + deepspeed_problems(config.args, schema, config.backend)
    return [Issue(field, message, severity) for field, message, severity in found] + _check_gpus(config.launch)


def _check_gpus(launch: dict[str, Any]) -> list[Issue]:
    """[launch] gpus (any N free GPUs, given by the GPU slots) against gpu_ids and num_processes."""
    issues: list[Issue] = []
    gpus, gpu_ids, processes = launch.get("gpus"), launch.get("gpu_ids"), launch.get("num_processes")
    if gpus is not None and gpus < 1:
        issues.append(Issue("launch.gpus", "must be at least 1"))
    elif gpus and gpu_ids:
        issues.append(Issue("launch.gpus", "and gpu_ids both choose GPUs: keep one (gpus = any N free GPUs, "
                                           "gpu_ids = exactly those)"))
    elif gpus and processes and processes != gpus:
        issues.append(Issue("launch.gpus", f"asks for {gpus} GPUs but num_processes = {processes} (one process "
                                           "per GPU: the GPUs decide)", "warning"))
    return issues


async def check_dataset(store, config: TrainConfig) -> list[Issue]:
    """The dataset exists, has images sd-scripts will read, captions match the extension; broken ones named."""
    issues: list[Issue] = []
    if not config.dataset:
        return issues
    try:
        dataset = await get_dataset(store, config.dataset)
    except NotFoundError as exc:
        return [Issue("dataset", exc.message)]
    if not dataset.path.is_dir():
        return [Issue("dataset", f"the folder {dataset.path} is gone")]
    ext = config.args.get("caption_extension")
    trained = None
    if isinstance(ext, str) and ext and ext != dataset.caption_ext:
        trained = caption_sets.trained_set(dataset, ext)
        known = await store.run(caption_set_repo.set_exts, dataset.id)
        if trained not in known:
            sets = ", ".join([dataset.caption_ext, *known])
            issues.append(Issue("caption_extension", f"is {ext!r} but {dataset.name} has no such caption set (its "
                                                     f"sets: {sets}); the trainer would read no caption"))
            trained = None
    problems = await store.run(image_repo.problem_rows, dataset.id)
    broken = problems["broken"]
    if broken:
        shown = ", ".join(f"{path} ({reason or 'unreadable'})" for path, reason in broken[:5])
        more = f" and {len(broken) - 5} more" if len(broken) > 5 else ""
        issues.append(Issue("dataset", f"{len(broken)} broken image(s) would stop sd-scripts: {shown}{more}"))
    if trained is not None:  # training on another caption set: its missing sidecars are what matters
        missing, shown_paths = await store.run(caption_set_repo.missing_in_set, dataset.id, trained)
        if missing:
            more = f" and {missing - len(shown_paths)} more" if missing > len(shown_paths) else ""
            effect = ("skipped by musubi-tuner" if config.backend == "musubi"
                      else "trained with class tokens or an empty caption")
            issues.append(Issue("caption_extension", f"{missing} image(s) have no {trained} caption file ({effect}): "
                                                     f"{', '.join(shown_paths)}{more}", "warning"))
    uncaptioned = problems["uncaptioned"] if trained is None else []
    if uncaptioned:
        shown = ", ".join(path for path, _ in uncaptioned[:5])
        more = f" and {len(uncaptioned) - 5} more" if len(uncaptioned) > 5 else ""
        issues.append(Issue("dataset", f"{len(uncaptioned)} image(s) have no caption (trained with class tokens "
                                       f"or an empty caption): {shown}{more}", "warning"))
    video_family = config.backend == "musubi" and video_architecture(config.family) is not None
    broken_videos = problems["broken_videos"]
    if broken_videos:
        shown = ", ".join(f"{path} ({reason or 'unreadable'})" for path, reason in broken_videos[:5])
        more = f" and {len(broken_videos) - 5} more" if len(broken_videos) > 5 else ""
        if video_family:
            issues.append(Issue("dataset", f"{len(broken_videos)} broken video(s) would stop musubi-tuner's latent "
                                           f"caching: {shown}{more}"))
        else:
            issues.append(Issue("dataset", f"{len(broken_videos)} broken video(s), not read by this family's "
                                           f"trainer: {shown}{more}", "warning"))
    if problems["ok_videos"] and not video_family:
        issues.append(Issue("dataset", f"{len(problems['ok_videos'])} video(s) are not read by this family "
                                       f"(video families: wan*, hunyuan-video*, framepack, kandinsky5-*)", "warning"))
    skipped = [path for path, _ in problems["ok"] if not is_kohya_image(path)]
    if skipped and config.backend == "kohya":
        issues.append(Issue("dataset", f"{len(skipped)} image(s) have an extension sd-scripts does not read: "
                                       f"{', '.join(skipped[:5])}", "warning"))
    subsets = await load_subsets(store, dataset.id)
    for subset in subsets:
        folder = dataset.path / subset.rel_path if subset.rel_path else dataset.path
        if subset.sizes and not folder.is_dir():
            issues.append(Issue("dataset", f"subset folder {folder} is gone (rescan {dataset.name})"))
    train = sum(len(s.sizes) for s in subsets if not s.is_reg and s.repeats > 0)
    if video_family:
        train += len(problems["ok_videos"])
    if train == 0:
        issues.append(Issue("dataset", f"{dataset.name} has no training images sd-scripts would read"
                                       + (" (scan it with `loratui dataset scan`)" if dataset.scanned_at is None
                                          else "")))
    if config.backend == "musubi":  # edit models: the image pairs musubi-tuner will read (training.edit_pairs)
        used = [{"rel_path": s.rel_path, "repeats": s.repeats} for s in subsets if s.sizes]
        pairs = await load_pair_plan(store, dataset, config.family, config.resolved_args(), used)
        if pairs is not None:
            issues += [Issue("dataset", message) for message in pairs.errors]
            issues += [Issue("dataset", message, "warning") for message in pairs.warnings]
    return issues


async def check_config(store, config: TrainConfig, schema: Schema) -> list[Issue]:
    """Everything `loratui train check` reports."""
    return check_args(config, schema) + unreadable_models(config) + await check_dataset(store, config)
