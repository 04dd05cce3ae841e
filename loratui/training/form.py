"""The state behind the training form (no UI code): a config being edited, its schema, live steps and issues.

The TUI calls ``set_text`` / ``set_bool`` on every edit and redraws from ``issues()`` and ``steps()``; the
dataset's image sizes are loaded once (``load_dataset``) so the step count can follow every keystroke.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from loratui.datasets.service import get_dataset
from loratui.errors import InputError, NotFoundError
from loratui.training.config import TrainConfig
from loratui.training.families import get_family
from loratui.training.schema import Option, Schema, coerce_text
from loratui.training.steps import (
    StepReport, SubsetImages, compute_steps, load_subsets, measured_seconds_per_step, params_from_args,
)
from loratui.training.validate import Issue, check_args, check_dataset

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
    dataset_issues: list[Issue] = field(default_factory=list)
    input_errors: dict[str, str] = field(default_factory=dict)
    seconds_per_step: float | None = None

    async def load_dataset(self, store) -> None:
        """Read the dataset's subsets, image sizes and dataset-level issues from the store."""
        self.subsets, self.caption_ext = [], None
        self.dataset_issues = await check_dataset(store, self.config)
        try:
            dataset = await get_dataset(store, self.config.dataset)
        except NotFoundError:
            return
        self.subsets = await load_subsets(store, dataset.id)
        self.caption_ext = dataset.caption_ext
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

    def steps(self) -> StepReport:
        """The exact step count for the current values."""
        args = dict(self.config.args)
        if args.get("resolution") is None:
            size = get_family(self.config.family).default_resolution
            args["resolution"] = f"{size},{size}"
        try:
            report = compute_steps(self.subsets, params_from_args(args, self.config.launch, self.schema))
        except (TypeError, ValueError):
            report = StepReport(exact=False, notes=["fix the errors above to count steps"])
        report.seconds_per_step = self.seconds_per_step
        if self.seconds_per_step is not None:
            report.eta_seconds = self.seconds_per_step * report.total_steps
        return report


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
