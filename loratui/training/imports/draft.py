"""The import being assembled: trainer args, launch options, family, dataset parts and sample prompts, each
with the report entry that put it there.

Sources are read lowest precedence first (an sd-scripts ``--config_file``, then dataset TOMLs, then a GUI or tool
config, then a command line), so a later value replaces an earlier one and the earlier entry is marked
``replaced`` — the way the trainers themselves let the command line win over ``--config_file``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loratui.training.imports.report import DROPPED, Entry, Report

KEEP = "keep"
"""Verification policy: an arg unknown to a built-in option list is kept (the source names trainer options)."""
DROP = "drop"
"""Verification policy: an arg unknown to the options loratui can check is dropped (a GUI field guessed to be a
trainer option of the same name)."""
TRUSTED = "trusted"
"""Verification policy: the importer knows the option exists (checked against the trainer only when one is set)."""


@dataclass
class SourceSubset:
    """One image folder of a source's dataset, with the settings the source gave it."""

    folder: Path
    source: str
    key: str
    num_repeats: int | None = None
    """None: taken from the folder name (kohya ``N_name``)."""
    class_tokens: str | None = None
    is_reg: bool | None = None
    keep_tokens: int | None = None
    caption_extension: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    """Further sd-scripts subset keys (shuffle_caption, flip_aug, ...)."""
    dropped: dict[str, Any] = field(default_factory=dict)
    """Subset keys with no place in loratui, with the reason as value (reported when the dataset is planned)."""


@dataclass
class DatasetRoot:
    """A kohya-style folder whose ``N_name`` subfolders are subsets (kohya_ss ``train_data_dir``/``reg_data_dir``)."""

    folder: Path
    source: str
    key: str
    is_reg: bool = False


@dataclass
class DatasetPart:
    """What one source says about the images to train on."""

    source: str
    roots: list[DatasetRoot] = field(default_factory=list)
    subsets: list[SourceSubset] = field(default_factory=list)
    caption_extension: str | None = None


@dataclass
class Draft:
    """The import so far (see the module docstring)."""

    backend: str | None = None
    family: str | None = None
    family_source: str = ""
    args: dict[str, Any] = field(default_factory=dict)
    launch: dict[str, Any] = field(default_factory=dict)
    report: Report = field(default_factory=Report)
    datasets: list[DatasetPart] = field(default_factory=list)
    prompts: list[str] | None = None
    arg_entries: dict[str, Entry] = field(default_factory=dict)
    launch_entries: dict[str, Entry] = field(default_factory=dict)
    verify: dict[str, str] = field(default_factory=dict)
    """args name -> KEEP, DROP or TRUSTED (see the module constants)."""
    sources: list[str] = field(default_factory=list)
    dataset_files: dict[Path, list[DatasetPart]] = field(default_factory=dict)
    """Dataset TOMLs read so far -> the parts they gave (a later reading of the same file replaces them)."""

    def arg(self, source: str, key: str, value: Any, name: str, result: Any, note: str = "",
            verify: str = TRUSTED) -> Entry:
        """Set trainer option `name` from source key `key`."""
        self._replace(self.arg_entries.get(name), source)
        entry = self.report.mapped(source, key, value, f"args.{name}", result, note)
        self.args[name] = result
        self.arg_entries[name] = entry
        self.verify[name] = verify
        return entry

    def arg_default(self, source: str, key: str, value: Any, name: str, result: Any, note: str) -> Entry:
        """Set trainer option `name` from the source tool's default for a key the file does not hold."""
        self._replace(self.arg_entries.get(name), source)
        entry = self.report.default(source, key, value, f"args.{name}", result, note)
        self.args[name] = result
        self.arg_entries[name] = entry
        self.verify[name] = TRUSTED
        return entry

    def unset(self, name: str, why: str, note: str) -> None:
        """Take option `name` out again, marking the entry that set it as dropped."""
        entry = self.arg_entries.pop(name, None)
        self.args.pop(name, None)
        self.verify.pop(name, None)
        if entry is not None:
            entry.status, entry.target, entry.result, entry.why, entry.note = DROPPED, "", None, why, note

    def launch_option(self, source: str, key: str, value: Any, name: str, result: Any, note: str = "") -> Entry:
        """Set [launch] option `name`."""
        self._replace(self.launch_entries.get(name), source)
        entry = self.report.mapped(source, key, value, f"launch.{name}", result, note)
        self.launch[name] = result
        self.launch_entries[name] = entry
        return entry

    def drop(self, source: str, key: str, value: Any, why: str, note: str = "") -> Entry:
        """Record a source key that does not go into the config."""
        return self.report.dropped(source, key, value, why, note)

    def warn(self, text: str) -> None:
        """A warning for the report."""
        self.report.warn(text)

    def set_family(self, source: str, key: str, value: Any, backend: str, family: str) -> None:
        """The backend and family the source trains (a later source that disagrees wins, with a warning)."""
        if self.family is not None and (self.backend, self.family) != (backend, family):
            self.warn(f"{source} trains {backend} {family}; {self.family_source} said {self.backend} "
                      f"{self.family}: {source} wins")
        self.backend, self.family, self.family_source = backend, family, source
        self.report.mapped(source, key, value, "family", f"{backend} {family}")

    @staticmethod
    def _replace(entry: Entry | None, source: str) -> None:
        if entry is not None and entry.status != DROPPED:
            entry.status, entry.why = DROPPED, "replaced"
            entry.note = f"replaced by a value from {source}"
            entry.target, entry.result = "", None
