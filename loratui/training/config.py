"""The training config: a TOML file loratui reads and writes (presets are such files).

Shape::

    backend = "kohya"            # the trainer: "kohya" (sd-scripts) or "musubi" (musubi-tuner); optional
    family = "sdxl"              # a model family id (`loratui train families`); it implies the backend
    dataset = "mychar"           # a loratui dataset: subsets, repeats, caption extension come from the store
    seconds_per_step = 1.2       # optional: ETA when there are no previous runs of this family

    [launch]                     # how the trainer is started (all optional)
    launcher = "accelerate"      # or "python"
    num_processes = 2            # -> accelerate --num_processes; likewise gpu_ids, multi_gpu, num_machines,
                                 #    machine_rank, main_process_ip, main_process_port
    gpus = 2                     # any 2 free GPUs (one process each); gpu_ids = "0,1" asks for those two

    [args]                       # trainer options, spelled as the trainer spells them; unknown ones pass through
    pretrained_model_name_or_path = "/models/sdxl.safetensors"
    network_dim = 16
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loratui import tomlio
from loratui.config import tomllib
from loratui.errors import ConfigError, NotFoundError
from loratui.training.families import DEFAULT_FAMILY, TRAINERS, family_ids, find_family, role_options

BACKENDS = TRAINERS
FAMILIES = {backend: tuple(family_ids(backend)) for backend in BACKENDS}
"""Family ids per backend (from the family registry, ``loratui.training.families``)."""

LAUNCH_KEYS = {
    "launcher": str,
    "num_processes": int,
    "gpu_ids": str,
    "gpus": int,
    "multi_gpu": bool,
    "num_machines": int,
    "machine_rank": int,
    "main_process_ip": str,
    "main_process_port": int,
    "mixed_precision": str,
}
"""The [launch] table: names and types (accelerate's own flag names)."""

LAUNCHERS = ("accelerate", "python")
PATH_ARGS = tuple(dict.fromkeys(role_options() + (
    "network_weights", "base_weights", "sample_prompts", "resume", "output_dir", "logging_dir",
    "tokenizer_cache_dir")))
"""Options holding one path (every family's model-file options, and the rest). The trainer runs from its own checkout and does not expand `~`, so loratui
makes them absolute: `~` expanded, relative paths taken from the config file's folder."""
TOP_KEYS = ("backend", "family", "dataset", "seconds_per_step", "launch", "args")


@dataclass
class TrainConfig:
    """A training config: backend, family, dataset name, launch options and trainer args."""

    backend: str = "kohya"
    family: str = "sd15"
    dataset: str = ""
    args: dict[str, Any] = field(default_factory=dict)
    launch: dict[str, Any] = field(default_factory=dict)
    seconds_per_step: float | None = None
    source: str = ""
    """Where it was read from (for messages); not written."""

    @property
    def launcher(self) -> str:
        """'accelerate' (default) or 'python'."""
        return str(self.launch.get("launcher", "accelerate"))

    @property
    def base_dir(self) -> Path:
        """The folder relative paths in [args] are relative to: the config file's, else the current one."""
        source = Path(self.source).expanduser() if self.source else None
        if source is not None and source.is_file():
            return source.resolve().parent
        return Path.cwd()

    def resolved_args(self) -> dict[str, Any]:
        """[args] with every path option absolute (a Hugging Face repo id is left alone where the family's trainer
        takes one: the SD checkpoints, Kandinsky 5's text encoders)."""
        args = dict(self.args)
        record = find_family(self.family)
        hub_ok = {role.option for role in record.roles if role.repo_id_ok} if record else set()
        for name in PATH_ARGS:
            value = args.get(name)
            if not isinstance(value, str) or not value:
                continue
            path = Path(value).expanduser()
            if not path.is_absolute():
                candidate = self.base_dir / path
                if name in hub_ok and not candidate.exists() \
                        and not value.startswith((".", "~")) and value.count("/") == 1:
                    continue  # "org/model" on the Hugging Face Hub
                path = candidate
            args[name] = str(path)
        return args

    def copy(self) -> "TrainConfig":
        """A deep copy (the form edits copies)."""
        return copy.deepcopy(self)

    def to_dict(self) -> dict[str, Any]:
        """The TOML-ready dict (no None values: TOML has no null)."""
        data: dict[str, Any] = {"backend": self.backend, "family": self.family, "dataset": self.dataset}
        if self.seconds_per_step is not None:
            data["seconds_per_step"] = float(self.seconds_per_step)
        if self.launch:
            data["launch"] = {k: v for k, v in self.launch.items() if v is not None}
        data["args"] = {k: v for k, v in self.args.items() if v is not None}
        return data

    def to_toml(self) -> str:
        """The config as TOML text (read back the same by tomllib and by sd-scripts' toml 0.10 reader)."""
        return tomlio.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> "TrainConfig":
        """Build and shape-check a config from parsed TOML. Values of [args] are checked later by validation."""
        unknown = [k for k in data if k not in TOP_KEYS]
        if unknown:
            raise ConfigError(f"{source}: unknown top-level key {unknown[0]!r} (trainer options go under [args])")
        backend = data.get("backend")
        if backend is not None and backend not in BACKENDS:
            raise ConfigError(f"{source}: backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        family = data.get("family")
        if family is None:
            family = DEFAULT_FAMILY if backend in (None, "kohya") else FAMILIES[backend][0]
        record = find_family(family) if isinstance(family, str) else None
        if record is None:
            raise ConfigError(f"{source}: unknown family {family!r}",
                              hint="`loratui train families` lists them")
        if backend is not None and record.trainer != backend:
            raise ConfigError(f"{source}: family {family!r} is not trained by {backend} (it is a "
                              f"{record.trainer_name} family: backend = \"{record.trainer}\")")
        backend, family = record.trainer, record.id
        dataset = data.get("dataset", "")
        if not isinstance(dataset, str):
            raise ConfigError(f"{source}: dataset must be a dataset name (a string)")
        args = data.get("args", {})
        if not isinstance(args, dict):
            raise ConfigError(f"{source}: [args] must be a table")
        nested = [k for k, v in args.items() if isinstance(v, dict)]
        if nested:
            raise ConfigError(f"{source}: args.{nested[0]} is a table; trainer options are plain values")
        launch = data.get("launch", {})
        if not isinstance(launch, dict):
            raise ConfigError(f"{source}: [launch] must be a table")
        for key, value in launch.items():
            expected = LAUNCH_KEYS.get(key)
            if expected is None:
                raise ConfigError(f"{source}: launch.{key} is not a launch option ({', '.join(LAUNCH_KEYS)})")
            if key == "gpu_ids" and isinstance(value, int) and not isinstance(value, bool):
                value = launch[key] = str(value)
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                raise ConfigError(f"{source}: launch.{key} must be {expected.__name__}, got {type(value).__name__}")
        if launch.get("launcher", "accelerate") not in LAUNCHERS:
            raise ConfigError(f"{source}: launch.launcher must be accelerate or python")
        sps = data.get("seconds_per_step")
        if sps is not None and (isinstance(sps, bool) or not isinstance(sps, (int, float)) or sps <= 0):
            raise ConfigError(f"{source}: seconds_per_step must be a positive number")
        return cls(backend=backend, family=family, dataset=dataset, args=dict(args), launch=dict(launch),
                   seconds_per_step=None if sps is None else float(sps), source=source)


def loads_toml(text: str, source: str) -> dict[str, Any]:
    """Parse TOML text; ConfigError naming `source` on a syntax error."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source} is not valid TOML: {exc}") from None


def load_config(path: str | Path) -> TrainConfig:
    """Read a training config file."""
    path = Path(path).expanduser()
    if not path.is_file():

        raise NotFoundError(f"training config {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8: {exc}") from None
    return TrainConfig.from_dict(loads_toml(text, str(path)), source=str(path))


def save_config(config: TrainConfig, path: str | Path) -> Path:
    """Write a training config atomically; an existing file keeps its comments, key order and formatting."""
    return tomlio.save(path, config.to_dict())
