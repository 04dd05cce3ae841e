"""`train import`: what a user already has (files of other tools) -> a loratui training config and a report.

``import_files`` reads each file with the reader its content calls for (``detect``), lowest precedence first —
an sd-scripts ``--config_file``, then dataset TOMLs, then GUI/tool configs, then command lines — so later values
win, as the command line wins over ``--config_file`` in the trainers. It then checks every trainer option
against the trainer's options (the installed trainer's when one is configured, else the built-in list), converts
values to the option's type, finds the loratui dataset the source's image folders belong to, and returns the
``TrainConfig`` with the ``Report`` of what was mapped, defaulted and dropped, and why.

Nothing here touches the store: the caller passes the registered datasets (``{folder: name}``).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from loratui.errors import ConfigError
from loratui.training.config import LAUNCH_KEYS, TrainConfig
from loratui.training.imports import aitoolkit, cmdline, kohya_gui, onetrainer, sdscripts
from loratui.training.imports.draft import DROP, KEEP, Draft
from loratui.training.imports.models import NETWORK_MODULES, require_trained
from loratui.training.imports.report import DROPPED, Report
from loratui.training.imports.values import BadValue, convert, load_toml
from loratui.training.kohya import MANAGED_ARGS
from loratui.training.schema import Schema
from loratui.training.families import find_family
from loratui.training.validate import BASE_REQUIRED, required_options

ORDER = {"sd-scripts-config": 0, "dataset": 1, "kohya_ss": 2, "onetrainer": 2, "ai-toolkit": 2, "command": 3}
"""Read order (lowest precedence first)."""
MAX_BYTES = 4 << 20
"""A config is small; anything larger is not one."""


@dataclass
class Imported:
    """The result of an import."""

    config: TrainConfig
    report: Report
    prompts: list[str] | None = None
    """Sample prompts found (written next to the config by the caller, which knows where it goes)."""
    kinds: dict[str, str] = field(default_factory=dict)
    """File -> the kind it was read as."""
    dataset_folders: list[str] = field(default_factory=list)
    """The image folders the sources train on (absolute)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the config, the file kinds, every entry and the warnings."""
        return {"config": self.config.to_dict(), "kinds": self.kinds, "dataset_folders": self.dataset_folders,
                "prompts": self.prompts, "entries": [e.to_dict() for e in self.report.entries],
                "warnings": list(self.report.warnings),
                "counts": {s: len(self.report.by_status(s)) for s in ("mapped", "default", "dropped")}}


def read_text(path: Path) -> str:
    """A source file's text (UTF-8, BOM allowed); ConfigError when it is missing, huge or not text."""
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ConfigError(f"{path} is larger than {MAX_BYTES >> 20} MiB: not a training config")
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"{path} is a folder; name a config file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not a UTF-8 text file") from None
    except OSError as exc:
        raise ConfigError(f"{path} cannot be read: {exc.strerror or exc}") from None


def detect(path: Path, text: str) -> tuple[str, Any]:
    """(kind, parsed content) of one source file, told apart by its content (the suffix only picks the parser)."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path} is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a JSON object (a kohya_ss or OneTrainer config)")
        if kohya_gui.looks_like(data):
            return "kohya_ss", data
        if onetrainer.looks_like(data):
            return "onetrainer", data
        raise ConfigError(f"{path}: a JSON file that is neither a kohya_ss GUI config nor a OneTrainer config")
    if suffix == ".toml":
        data = load_toml(path)
        if sdscripts.is_dataset_config(data):
            return "dataset", data
        return "sd-scripts-config", data
    if suffix in (".yaml", ".yml"):
        return "ai-toolkit", aitoolkit.parse(text, path)
    return "command", text


def import_files(paths: list[str | os.PathLike], schema_for: Callable[[str, str], Schema],
                 datasets: dict[str, str] | None = None, dataset: str | None = None) -> Imported:
    """Read `paths` into one loratui config (see the module docstring).

    `schema_for(backend, family)` gives the trainer options to check against; `datasets` maps the folders of
    registered loratui datasets to their names; `dataset` names the loratui dataset outright.
    """
    if not paths:
        raise ConfigError("name at least one file to import")
    sources = []
    for raw in paths:
        path = Path(raw).expanduser()
        text = read_text(path)
        kind, data = detect(path, text)
        sources.append((ORDER[kind], len(sources), path, kind, data))
    sources.sort(key=lambda s: (s[0], s[1]))
    draft = Draft()
    kinds: dict[str, str] = {}
    for _, _, path, kind, data in sources:
        kinds[str(path)] = kind
        draft.sources.append(path.name)
        try:
            _read(path, kind, data, draft)
        except (BadValue, TypeError, ValueError) as exc:
            # a field of the wrong type (a list where a number belongs, ...): the file is not what its tool writes
            raise ConfigError(f"{path}: a value has the wrong type: {exc}") from None
    if draft.family is None:
        only = {k for k in kinds.values()}
        if only <= {"dataset", "sd-scripts-config"}:
            raise ConfigError("these files do not say which model they train: add the command line that ran them "
                              "(a run script) or a GUI config")
        raise ConfigError("could not tell which model the files train")
    require_trained(draft.backend or "kohya", draft.family, ", ".join(draft.sources))
    schema = schema_for(draft.backend, draft.family)
    args = _checked_args(draft, schema)
    _fill_network_module(draft, args)
    launch = _launch(draft)
    folders, name = _dataset(draft, datasets or {}, dataset)
    config = TrainConfig(backend=draft.backend, family=draft.family, dataset=name, args=args, launch=launch,
                         source="import")
    TrainConfig.from_dict(config.to_dict(), source="import")  # the shape loratui reads back
    return Imported(config, draft.report, draft.prompts, kinds, [str(f) for f in folders])


def _read(path: Path, kind: str, data: Any, draft: Draft) -> None:
    base = path.resolve().parent
    if kind == "kohya_ss":
        kohya_gui.read(data, path.name, draft, base)
    elif kind == "sd-scripts-config":
        sdscripts.read_config_file(path, draft)
    elif kind == "dataset":
        sdscripts.read_dataset_file(path, draft, backend=draft.backend)
    elif kind == "command":
        cmdline.read_text(data, path.name, draft, base)
    elif kind == "onetrainer":
        onetrainer.read(data, path.name, draft, base)
    else:
        aitoolkit.read(data, path.name, draft, base)


def _checked_args(draft: Draft, schema: Schema) -> dict[str, Any]:
    """The draft's args that the trainer takes, converted to the option types; the rest dropped with a reason."""
    checked = schema.source.startswith("trainer")
    where = "the installed trainer" if checked else "loratui's built-in option list (no trainer configured)"
    args: dict[str, Any] = {}
    record = find_family(draft.family or "")
    needed = set(required_options(record) if record is not None else BASE_REQUIRED)
    for name, value in list(draft.args.items()):
        entry = draft.arg_entries.get(name)
        if name in MANAGED_ARGS:
            draft.unset(name, "computed", "loratui writes the dataset files itself")
            continue
        if name == "caption_extension":
            if str(value) not in (".txt", "txt"):
                draft.warn(f"the source reads captions from {value!r} files; loratui trains the dataset's own caption "
                           "files (.txt unless the dataset was added with another extension)")
            draft.unset(name, "dataset", "loratui uses the dataset's caption extension")
            continue
        divisor = record.bucket_step if record is not None and record.trainer == "kohya" else None
        if name == "bucket_reso_steps" and divisor and isinstance(value, (int, float)) and value % divisor:
            draft.unset(name, "invalid", f"sd-scripts refuses {value} for {draft.family} (it must be a multiple of "
                                         f"{divisor}): its default 64 applies")
            continue
        option = schema.get(name)
        policy = draft.verify.get(name, KEEP)
        if option is None and name in needed:
            args[name] = value  # loratui itself needs it (the musubi caching phases read vae / text_encoder)
            continue
        if option is None:
            if policy == DROP or (policy == KEEP and checked):
                draft.unset(name, "unknown", f"not an option of {where}")
                continue
            if entry is not None and policy == KEEP:
                entry.note = _join(entry.note, f"not in {where}: kept as written")
            args[name] = value
            continue
        try:
            result, note = convert(option, value)
        except BadValue as exc:
            draft.unset(name, "invalid", f"{exc} ({option.type} expected)")
            continue
        if option.choices is not None and not isinstance(result, list) and result not in option.choices:
            shown = ", ".join(str(c) for c in option.choices if c is not None)
            draft.unset(name, "invalid", f"{result!r} is not one of: {shown}")
            continue
        if entry is not None:
            entry.result = result if entry.target == f"args.{name}" else entry.result
            if note:
                entry.note = _join(entry.note, note)
        args[name] = result
    return args


def _fill_network_module(draft: Draft, args: dict[str, Any]) -> None:
    if "network_module" not in args and draft.family in NETWORK_MODULES:
        args["network_module"] = NETWORK_MODULES[draft.family]
        draft.report.default("import", "network_module", None, "args.network_module", args["network_module"],
                             "no source names a network module: the family's plain LoRA")


def _launch(draft: Draft) -> dict[str, Any]:
    launch = {}
    for name, value in draft.launch.items():
        kind = LAUNCH_KEYS.get(name)
        if kind is None or (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
            entry = draft.launch_entries.get(name)
            if entry is not None and entry.status != DROPPED:
                entry.status, entry.target, entry.result, entry.why = DROPPED, "", None, "invalid"
            continue
        launch[name] = value
    return launch


def _dataset(draft: Draft, datasets: dict[str, str], named: str | None) -> tuple[list[Path], str]:
    """The image folders of the sources and the loratui dataset that holds them ('' when none does)."""
    folders: list[Path] = []
    for part in draft.datasets:
        for root in part.roots:
            folders.append(root.folder)
        for subset in part.subsets:
            folders.append(subset.folder)
            _report_subset(draft, subset)
    folders = list(dict.fromkeys(folders))  # a dataset file named on its own and by a command line
    if named:
        draft.report.mapped("--dataset", "dataset", named, "dataset", named, "named on the command line")
        return folders, named
    if not folders:
        draft.warn("no image folder in the sources: set `dataset = \"NAME\"` to a loratui dataset")
        return folders, ""
    registered = {Path(k).expanduser().resolve(): v for k, v in datasets.items()}
    resolved = [f.expanduser().resolve() for f in folders]
    for folder in resolved:
        for probe in (folder, *folder.parents):
            if probe in registered:
                name = registered[probe]
                draft.report.mapped("import", "dataset folders", [str(f) for f in folders], "dataset", name,
                                    f"the loratui dataset registered at {probe}")
                if any(not _inside(f, probe) for f in resolved):
                    draft.warn(f"some image folders are outside dataset {name!r} ({probe}); only its own "
                               "subsets are trained")
                return folders, name
    target = Path(os.path.commonpath([str(f) for f in resolved]))
    if re.match(r"\d+_", target.name):
        target = target.parent  # an `N_name` subset: the dataset is the folder holding it
    draft.warn(f"the images ({', '.join(str(f) for f in folders[:3])}) are not a loratui dataset yet: run "
               f"`loratui dataset add {target}` and set `dataset = \"NAME\"` in the config")
    return folders, ""


def _report_subset(draft: Draft, subset) -> None:
    """Subset settings from a dataset TOML: loratui keeps them per subset in the dataset, not in the config."""
    said = {k: v for k, v in (("num_repeats", subset.num_repeats), ("class_tokens", subset.class_tokens),
                             ("is_reg", subset.is_reg), ("keep_tokens", subset.keep_tokens)) if v is not None}
    said.update(subset.options)
    if said:
        shown = ", ".join(f"{k}={v!r}" for k, v in said.items())
        draft.report.dropped(subset.source, subset.key, str(subset.folder), "dataset",
                             f"subset settings ({shown}): loratui takes repeats and class tokens from the folder "
                             "name (N_name) and keeps subset settings in the dataset; check them with "
                             "`loratui dataset show`")
    for key, why in subset.dropped.items():
        draft.report.dropped(subset.source, f"{subset.key}.{key}", None, "unsupported", why)


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _join(first: str, second: str) -> str:
    return f"{first}; {second}" if first else second
