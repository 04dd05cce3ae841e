"""The state behind the training form (no UI code): a config being edited, its schema, live steps and issues.

The TUI calls ``set_text`` / ``set_bool`` on every edit and redraws from ``issues()`` and ``steps()``; the
dataset's image sizes are loaded once (``load_dataset``) so the step count can follow every keystroke.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from loratui.datasets import caption_sets
from loratui.datasets.service import get_dataset
from loratui.datasets.target import DatasetTarget
from loratui.errors import InputError, ModelError, NotFoundError
from loratui.models.catalog import FAMILIES as FAMILY_CATALOG
from loratui.models.roles import assign_roles, catalog_family
from loratui.training.config import FAMILIES, TrainConfig
from loratui.training.edit_pairs import PairPlan, edit_step_report, load_pair_plan
from loratui.training.dataset_target import compare_with_form, target_from_config
from loratui.training.families import find_family, get_family
from loratui.training.musubi import dataset_settings, trained_sources
from loratui.training.planner import musubi_report
from loratui.training.schema import Option, Schema, coerce_text
from loratui.training.steps import (
    MusubiSource, StepReport, SubsetImages, VideoRows, assign_video_clips, compute_steps, load_musubi_sources,
    load_subsets, load_video_rows, measured_seconds_per_step, musubi_reso_step, params_from_args,
)
from loratui.training.validate import Issue, check_args, check_dataset
from loratui.training.video_dataset import musubi_clip_settings, video_architecture

PINNED = ("save_state", "save_every_n_steps")
"""Offered at the top of the saving section: without saved state a cancelled or lost run cannot resume."""


def value_text(value: Any) -> str:
    """How a value is shown in a text field."""
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(shlex.quote(str(v)) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass
class FormState:
    """A config under edit with its schema, the dataset's subsets, dataset issues and per-field input errors."""

    config: TrainConfig
    schema: Schema
    subsets: list[SubsetImages] = field(default_factory=list)
    caption_ext: str | None = None
    """The caption set trained on (``caption_extension``, the dataset's own extension when unset)."""
    caption_sets: list[str] = field(default_factory=list)
    """The dataset's caption sets, its own extension first (``datasets.caption_sets``)."""
    dataset_issues: list[Issue] = field(default_factory=list)
    input_errors: dict[str, str] = field(default_factory=dict)
    seconds_per_step: float | None = None
    dataset_target: DatasetTarget | None = None
    """The dataset's target: the buckets the image list and `dataset show` use."""
    musubi_sources: list[MusubiSource] = field(default_factory=list)
    """For musubi-tuner: the images each subset folder gives it (its own glob and caption rule)."""
    pair_plan: PairPlan | None = None
    """For edit models: the image pairs of the dataset (musubi counts its buckets with the control sizes)."""
    video_rows: VideoRows = field(default_factory=VideoRows)
    """For musubi video families: the dataset's videos, cut into clips on each count with the form's options."""

    async def load_dataset(self, store) -> None:
        """Read the dataset's subsets, image sizes, target and dataset-level issues from the store."""
        self.subsets, self.caption_ext, self.dataset_target, self.caption_sets = [], None, None, []
        self.dataset_issues = await check_dataset(store, self.config)
        try:
            dataset = await get_dataset(store, self.config.dataset)
        except NotFoundError:
            return
        self.subsets = await load_subsets(store, dataset.id)
        self.musubi_sources, self.pair_plan = [], None
        self.caption_sets = [s.ext for s in await caption_sets.list_sets(store, dataset)]
        trained = caption_sets.trained_set(dataset, self.config.args.get("caption_extension"))
        if self.config.backend == "musubi":
            self.musubi_sources = await load_musubi_sources(store, dataset.id, trained)
            self.video_rows = await load_video_rows(store, dataset.id)
            used = [{"rel_path": s.rel_path, "repeats": s.repeats} for s in trained_sources(self.musubi_sources)]
            self.pair_plan = await load_pair_plan(store, dataset, self.config.family, self.config.resolved_args(),
                                                  used)
        self.caption_ext = caption_sets.set_ext(dataset, trained)
        self.dataset_target = dataset.target
        measured = await measured_seconds_per_step(store, self.config.family)
        self.seconds_per_step = measured if measured is not None else self.config.seconds_per_step

    def options(self, section: str | None = None, search: str | None = None) -> list[Option]:
        """The options to show: one section (pinned ones first) or the matches of a search over all of them."""
        if search:
            return self.schema.search(search)
        found = self.schema.search(None, section)
        if section == "saving":
            pinned = [o for name in PINNED for o in found if o.name == name]
            found = pinned + [o for o in found if o.name not in PINNED]
        extra = [name for name in self.config.args if self.schema.get(name) is None]
        if section == "advanced" and extra:
            found += [Option(name, "str", None, None, None, "(not an option of this trainer; passed through)",
                             f"--{name}") for name in extra]
        return found

    def text_of(self, name: str) -> str:
        """The current value of option `name` as text ('' when unset)."""
        return value_text(self.config.args.get(name))

    def set_text(self, name: str, text: str) -> str | None:
        """Set option `name` from text (empty: unset); returns the input error, if any (the value is then kept)."""
        text = text.strip()
        if not text:
            self.config.args.pop(name, None)
            self.input_errors.pop(name, None)
            return None
        try:
            value = coerce_text(self.schema.get(name), text)
        except InputError as exc:
            self.input_errors[name] = exc.message.split(": ", 1)[-1]
            return self.input_errors[name]
        self.config.args[name] = value
        self.input_errors.pop(name, None)
        return None

    def set_value(self, name: str, value: Any) -> None:
        """Set option `name` to a ready value (None unsets it)."""
        self.input_errors.pop(name, None)
        if value is None:
            self.config.args.pop(name, None)
        else:
            self.config.args[name] = value

    def issues(self) -> list[Issue]:
        """Input errors, then validation of the args, then the dataset's issues."""
        typed = [Issue(name, message) for name, message in self.input_errors.items()]
        checked = [i for i in check_args(self.config, self.schema) if i.field not in self.input_errors]
        return typed + checked + self.dataset_issues

    def issues_by_field(self) -> dict[str, Issue]:
        """The first issue of each field (errors before warnings)."""
        result: dict[str, Issue] = {}
        for issue in sorted(self.issues(), key=lambda i: i.severity != "error"):
            result.setdefault(issue.field, issue)
        return result

    def next_caption_set(self) -> str | None:
        """Train on the dataset's next caption set (after the last, its own extension again): sets
        ``caption_extension`` (unset for the dataset's own) and returns the set's extension, None when the dataset
        has a single set. Call ``load_dataset`` afterwards: the checks and musubi's counts follow the set."""
        if len(self.caption_sets) < 2:
            return None
        current = self.caption_ext if self.caption_ext in self.caption_sets else self.caption_sets[0]
        chosen = self.caption_sets[(self.caption_sets.index(current) + 1) % len(self.caption_sets)]
        self.set_value("caption_extension", None if chosen == self.caption_sets[0] else chosen)
        return chosen

    def caption_set_line(self) -> str:
        """The caption set trained on, for the status panel."""
        if not self.caption_ext:
            return "captions (no dataset)"
        others = len(self.caption_sets) - 1
        return f"captions {self.caption_ext}" + (f" (+{others} set{'s' if others > 1 else ''})" if others > 0 else "")

    def target_line(self) -> str:
        """Whether this form's buckets are the ones the dataset's views show (its target)."""
        return compare_with_form(self.config, self.dataset_target, self.schema)

    def as_target(self) -> DatasetTarget:
        """This form's family, resolution and bucket options as a dataset target (InputError if out of range)."""
        try:
            return target_from_config(self.config, self.schema)
        except (TypeError, ValueError) as exc:
            raise InputError(f"the bucket options cannot be read: {exc}", hint="fix the errors in the form") from None

    def steps(self) -> StepReport:
        """The exact step count for the current values."""
        args = dict(self.config.args)
        if args.get("resolution") is None:
            size = get_family(self.config.family).default_resolution
            args["resolution"] = f"{size},{size}"
        try:
            if self.pair_plan is not None:  # an edit model: musubi's buckets split by control sizes
                report = edit_step_report(self.pair_plan, args, self.config.launch)
            elif self.config.backend == "musubi":
                if video_architecture(self.config.family) is not None:  # clips follow the form's clip options
                    assign_video_clips(self.musubi_sources, self.video_rows,
                                       musubi_clip_settings(self.config.family, args),
                                       dataset_settings(args).resolution, musubi_reso_step(self.config.family))
                report = musubi_report(self.musubi_sources, self.config.family, args, self.config.launch)
            else:
                report = compute_steps(self.subsets, params_from_args(args, self.config.launch, self.schema))
        except (TypeError, ValueError, InputError):
            report = StepReport(exact=False, notes=["fix the errors above to count steps"])
        report.seconds_per_step = self.seconds_per_step
        if self.seconds_per_step is not None:
            report.eta_seconds = self.seconds_per_step * report.total_steps
        return report


FAMILY_LABELS = {f.id: f.label for f in FAMILY_CATALOG.values()}
_FAMILY_ARGS = {"sd2": {"v2": True}, "chroma": {"model_type": "chroma"}}
"""Args that make a config family train another catalog family (sd15 + --v2 = SD 2.x)."""


def _variant_matches(name: str, variant: str) -> bool:
    """True when registry family `name` fixes the variant flag a model file's `variant` names."""
    record = find_family(name)
    if record is None:
        return False
    fixed = [f for f in record.fixed_args if not f.choices]
    if variant == "768-v":
        return any(f.option == "v_parameterization" for f in fixed)
    return variant.lower() in {str(f.value).lower() for f in fixed}


def _config_family(catalog: str, backend: str, variant: str | None = None) -> tuple[str, str] | None:
    """(backend, config family) that trains a catalog family (and `variant`, where the registry has a family for
    it), the config's own backend first."""
    extra = _FAMILY_ARGS.get(catalog, {})
    found = []
    for candidate in (backend, *(b for b in FAMILIES if b != backend)):
        for name in FAMILIES[candidate]:
            if catalog_family(name, extra) == catalog:
                found.append((candidate, name))
    if variant is not None:
        for candidate, name in found:
            if _variant_matches(name, variant):
                return candidate, name
    plain = [(b, n) for b, n in found if not any(f.option == "v_parameterization"
                                                 for f in get_family(n).fixed_args)]
    return (plain or found or [None])[0]


def config_from_model_files(config: TrainConfig, paths: list[str]) -> tuple[TrainConfig, list[str]]:
    """A copy of `config` with its family and model-file options filled from what `paths` are (their headers).

    The model to train (a checkpoint, U-Net or DiT) sets the family (and backend, --v2, --model_type chroma,
    --model_version/--task where the file tells); every other file goes to the option of its role. Returns the
    new config and notes on what was changed or could not be placed. LoratuiError for unreadable files.
    """
    config = config.copy()
    notes: list[str] = []
    found = assign_roles(paths, config.backend)
    if found.family is None:  # no model to train among the files: they are parts for the config's family
        found = assign_roles(paths, config.backend, catalog_family(config.family, config.args))
    variant = found.variants[0] if len(found.variants) == 1 else None
    other_family = found.family is not None and found.family != catalog_family(config.family, config.args)
    other_variant = found.family is not None and variant is not None and not _variant_matches(config.family, variant)
    if other_family or other_variant:
        target = _config_family(found.family, config.backend, variant if other_variant else None)
        if target is None:
            raise ModelError(f"the model files are for {FAMILY_LABELS.get(found.family, found.family)}, which no "
                             "training family of loratui trains yet")
        if target != (config.backend, config.family) and (other_family or _variant_matches(target[1], variant)):
            notes.append(f"family set to {target[1]} ({target[0]}) from the model file")
            config.backend, config.family = target
        found = assign_roles(paths, config.backend, found.family)
    if found.family == "sd2":
        config.args["v2"] = True
    elif found.family == "sd1":
        config.args.pop("v2", None)
    if found.family == "chroma":
        config.args["model_type"] = "chroma"
    if variant is not None and not _variant_matches(config.family, variant):
        # No registry family fixes this variant: set the flag where the family lets [args] choose it.
        option = {"qwen-image": "model_version", "flux2": "model_version", "wan": "task",
                  "hunyuan-video-1.5": "task", "hidream-o1": "model_type"}.get(found.family or "")
        record = find_family(config.family)
        choosable = record is None or any(f.option == option and f.choices for f in record.fixed_args)
        if option and choosable:
            config.args[option] = variant
            notes.append(f"{option} set to {variant} from the model file")
        elif found.family == "sd2" and variant == "768-v" and record is None:
            config.args["v_parameterization"] = True
    for role, path in found.roles.items():
        config.args[role] = path
    return config, notes + found.unplaced


def histogram_lines(buckets: dict[str, int], width: int = 24) -> list[str]:
    """Text bars for a bucket histogram: '640x384  ████████ 20'."""
    if not buckets:
        return []
    top = max(buckets.values())
    label_width = max(len(label) for label in buckets)
    lines = []
    for label, count in sorted(buckets.items(), key=lambda item: -item[1]):
        bar = "█" * max(1, round(width * count / top))
        lines.append(f"{label:>{label_width}} {bar} {count}")
    return lines
