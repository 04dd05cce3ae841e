"""Settings and paths: the one module that knows where loratui keeps things.

Home folder: ``--home DIR`` > ``$LORATUI_HOME`` > the platform's user data dir for ``loratui``.
It holds ``loratui.db``, ``config.toml``, ``jobs/`` (one folder per job: logs, configs) and ``cache/``.

Settings live in ``config.toml``; a few environment variables override them (listed on each field).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loratui.errors import ConfigError
from loratui.tomlio import tomllib  # the stdlib reader, or tomli before Python 3.11; other modules take it from here


HOME_ENV = "LORATUI_HOME"


@dataclass(frozen=True)
class Paths:
    """Every file and folder loratui writes outside the user's datasets."""

    home: Path

    @property
    def db(self) -> Path:
        """The SQLite database."""
        return self.home / "loratui.db"

    @property
    def config(self) -> Path:
        """The settings file."""
        return self.home / "config.toml"

    @property
    def jobs(self) -> Path:
        """Per-job folders (logs, written trainer configs)."""
        return self.home / "jobs"

    @property
    def cache(self) -> Path:
        """Caches that can be deleted at any time (schemas, thumbnails)."""
        return self.home / "cache"

    @property
    def presets(self) -> Path:
        """User training presets."""
        return self.home / "presets"

    @property
    def models(self) -> Path:
        """Default folder for downloaded base models."""
        return self.home / "models"

    @property
    def demo(self) -> Path:
        """Where `loratui demo` creates its dataset."""
        return self.home / "demo"

    @property
    def recovered(self) -> Path:
        """Caption edits that could not be saved when the TUI was ended by a signal (see loratui.datasets.kept)."""
        return self.home / "recovered"

    @property
    def backups(self) -> Path:
        """Database backups (made before migrations and repairs; see loratui.store.backup)."""
        return self.home / "backups"

    def job_dir(self, job_id: int) -> Path:
        """The folder of one job."""
        return self.jobs / str(job_id)

    @property
    def writable(self) -> bool:
        """Whether loratui may write in the home (False on a read-only mount or without permission)."""
        return os.access(self.home, os.W_OK)

    def ensure(self) -> "Paths":
        """Create the home folder tree if missing.

        A home that exists but is read-only is left as it is: commands that only read still work there, and
        those that write fail with a StorageError when they try.
        """
        self.home.mkdir(parents=True, exist_ok=True)
        if self.writable:
            for folder in (self.jobs, self.cache):
                folder.mkdir(parents=True, exist_ok=True)
        return self


def default_home() -> Path:
    """The platform's user data dir for loratui (e.g. ~/.local/share/loratui)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("loratui", appauthor=False))


def resolve_home(cli_home: str | os.PathLike | None = None) -> Path:
    """Pick the home folder: the CLI flag, then $LORATUI_HOME, then the platform default."""
    if cli_home:
        return Path(cli_home).expanduser().resolve()
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser().resolve()
    return default_home()


@dataclass
class GeneralSettings:
    """General behaviour."""

    caption_ext: str = ".txt"
    """Extension of caption sidecar files for new datasets."""
    scan_workers: int = 0
    """Processes used to scan images; 0 means one per CPU core."""
    default_workspace: str = "default"
    """Workspace new datasets go to when none is named."""


@dataclass
class TrainerSettings:
    """Where the trainers live. Environment variables override these."""

    kohya_dir: str = ""
    """sd-scripts checkout (env LORATUI_KOHYA_DIR)."""
    kohya_python: str = ""
    """Python of the sd-scripts venv (env LORATUI_KOHYA_PYTHON)."""
    musubi_dir: str = ""
    """musubi-tuner checkout (env LORATUI_MUSUBI_DIR)."""
    musubi_python: str = ""
    """Python of the musubi-tuner venv (env LORATUI_MUSUBI_PYTHON)."""
    max_parallel: int = 1
    """How many queued trainings may run at once on a machine without GPUs (with GPUs, the free GPUs decide:
    docs/training-runs.md "GPU slots")."""


@dataclass
class TrainingRunSettings:
    """Running trainings: the detached supervisor and cancelling."""

    cancel_sigint_wait_s: float = 20.0
    """After SIGINT to the trainer's process group, how long to wait before SIGTERM."""
    cancel_sigterm_wait_s: float = 10.0
    """After SIGTERM, how long to wait before SIGKILL."""
    log_poll_s: float = 0.25
    """How often the supervisor reads new trainer output."""
    db_write_interval_s: float = 1.0
    """The least time between two progress writes to the job row (status changes are written at once)."""


@dataclass
class GpuSettings:
    """GPU slots and telemetry ([gpus]); see docs/training-runs.md "GPU slots"."""

    busy_memory_mib: int = 1024
    """A GPU on which processes that are not loratui jobs use more memory than this (MiB) is not handed out."""
    sample_interval_s: float = 5.0
    """How often a running training's supervisor samples its GPUs (utilisation, memory, temperature)."""
    fake: str = ""
    """Test/demo only: a FAKE GPU inventory instead of NVML ("8", "4x81920" or a JSON file; env LORATUI_FAKE_GPUS)."""


@dataclass
class UISettings:
    """Terminal UI."""

    preview: str = "halfblock"
    """Image preview renderer: halfblock (works everywhere) or none."""
    truecolor: bool = True
    """Assume a truecolor terminal when TERM/COLORTERM say nothing."""
    keys: dict[str, str] = field(default_factory=dict)
    """Key remapping: binding id -> keys, e.g. {"next_image" = "ctrl+j"}."""
    graphics: str = "auto"
    """How a sweep grid's cell is shown full screen: auto (the terminal's graphics protocol when it has one,
    half-blocks inside tmux and GNU screen), halfblock, kitty, sixel or iterm2."""
    tmux_passthrough: bool = False
    """Inside tmux, send graphics through its passthrough (needs `set -g allow-passthrough on`)."""


@dataclass
class DatasetToolsSettings:
    """Batch tag operations, duplicates, imports ([dataset_tools])."""

    dupe_max_distance: int = 6
    """Perceptual-hash Hamming distance (bits of 64) up to which images count as near duplicates."""
    import_max_gib: float = 50.0
    """Largest total uncompressed size an imported zip may have, in GiB."""
    import_max_ratio: float = 200.0
    """Compression ratio above which a zip entry (over 64 KiB), or the whole zip, is refused as a likely zip bomb."""
    import_max_files: int = 500_000
    """Most entries an imported zip may have."""
    import_max_download_gib: float = 50.0
    """Largest download `dataset import URL` accepts, in GiB (checked against the announced size and while
    downloading)."""


@dataclass
class TaggingSettings:
    """Defaults for `loratui tag` / `loratui caption` and the tagging dialog (flags override them)."""

    model: str = ""
    """WD14 model: short name, Hub repo id or folder (empty: wd-swinv2-tagger-v3)."""
    device: str = "auto"
    """auto (CUDA when it really starts, else CPU), cuda or cpu."""
    vlm_base_url: str = ""
    """OpenAI-compatible API root for captioning, e.g. http://127.0.0.1:11434/v1."""
    vlm_model: str = ""
    """Vision model name at that endpoint."""
    vlm_api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the API key (the key itself is never stored)."""


@dataclass(frozen=True)
class Rule:
    """What a setting allows: a number range (either end open with None) or a set of choices."""

    low: float | None = None
    high: float | None = None
    above: bool = False
    """True: the value must be strictly above `low` (a time of 0 s or a limit of 0 would never work)."""
    choices: tuple[str, ...] = ()
    meaning: str = ""
    """What the lowest value means, when it is special (``0`` workers = one per core)."""

    def problem(self, value: Any) -> str | None:
        """Why `value` is not allowed, or None."""
        if self.choices:
            return None if value in self.choices else f"is not one of {', '.join(self.choices)}"
        if value != value:  # NaN (TOML allows `nan`) compares false with every bound
            return f"is not a number: {self.describe()}"
        too_low = self.low is not None and (value <= self.low if self.above else value < self.low)
        too_high = self.high is not None and value > self.high
        return f"is out of range: {self.describe()}" if too_low or too_high else None

    def describe(self) -> str:
        """The allowed values in words."""
        if self.low is not None and self.high is not None and not self.above:
            text = f"allowed {self.low:g} to {self.high:g}"
        else:
            parts = []
            if self.low is not None:
                parts.append(f"{'above' if self.above else 'at least'} {self.low:g}")
            if self.high is not None:
                parts.append(f"at most {self.high:g}")
            text = "must be " + " and ".join(parts)
        return f"{text} ({self.meaning})" if self.meaning else text


SETTING_RULES: dict[tuple[str, str], Rule] = {
    ("general", "scan_workers"): Rule(0, 1024, meaning="0 = one per CPU core"),
    ("trainers", "max_parallel"): Rule(1, 64),
    ("training_run", "cancel_sigint_wait_s"): Rule(0, 3600),
    ("training_run", "cancel_sigterm_wait_s"): Rule(0, 3600),
    ("training_run", "log_poll_s"): Rule(0, 60, above=True),
    ("training_run", "db_write_interval_s"): Rule(0, 3600, above=True),
    ("gpus", "busy_memory_mib"): Rule(0, 1 << 24),
    ("gpus", "sample_interval_s"): Rule(0.5, 3600),
    ("ui", "preview"): Rule(choices=("halfblock", "none")),
    ("ui", "graphics"): Rule(choices=("auto", "halfblock", "kitty", "sixel", "iterm2")),
    ("dataset_tools", "dupe_max_distance"): Rule(0, 64, meaning="bits of a 64-bit perceptual hash"),
    ("dataset_tools", "import_max_gib"): Rule(0, above=True),
    ("dataset_tools", "import_max_ratio"): Rule(1),
    ("dataset_tools", "import_max_files"): Rule(1),
    ("dataset_tools", "import_max_download_gib"): Rule(0, above=True),
    ("tagging", "device"): Rule(choices=("auto", "cuda", "cpu")),
}
"""Allowed values of the settings that have limits, by (section, key); checked by ``Settings.validate``."""


@dataclass
class Settings:
    """All settings, one section per table in config.toml."""

    general: GeneralSettings = field(default_factory=GeneralSettings)
    trainers: TrainerSettings = field(default_factory=TrainerSettings)
    ui: UISettings = field(default_factory=UISettings)
    training_run: TrainingRunSettings = field(default_factory=TrainingRunSettings)
    dataset_tools: DatasetToolsSettings = field(default_factory=DatasetToolsSettings)
    tagging: TaggingSettings = field(default_factory=TaggingSettings)
    gpus: GpuSettings = field(default_factory=GpuSettings)

    _ENV = {
        ("trainers", "kohya_dir"): "LORATUI_KOHYA_DIR",
        ("trainers", "kohya_python"): "LORATUI_KOHYA_PYTHON",
        ("trainers", "musubi_dir"): "LORATUI_MUSUBI_DIR",
        ("trainers", "musubi_python"): "LORATUI_MUSUBI_PYTHON",
    }

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config.toml") -> "Settings":
        """Build settings from a parsed TOML dict, checking names and types."""
        settings = cls()
        for section_name, values in data.items():
            section = getattr(settings, section_name, None)
            if section is None or section_name.startswith("_") or not dataclasses.is_dataclass(section):
                raise ConfigError(f"{source}: unknown section [{section_name}]")
            if not isinstance(values, dict):
                raise ConfigError(f"{source}: [{section_name}] must be a table")
            known = {f.name: f for f in dataclasses.fields(section)}
            for key, value in values.items():
                if key not in known:
                    raise ConfigError(f"{source}: unknown setting {section_name}.{key}")
                expected = type(getattr(section, key))
                if expected is float and isinstance(value, int) and not isinstance(value, bool):
                    value = float(value)
                if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                    raise ConfigError(
                        f"{source}: {section_name}.{key} must be {expected.__name__}, got {type(value).__name__}"
                    )
                setattr(section, key, value)
        settings.validate(source)
        return settings

    def validate(self, source: str = "config.toml") -> "Settings":
        """Check every value against its allowed range or choices (``SETTING_RULES``); ConfigError names the
        setting, the value and what is allowed."""
        for (section_name, key), rule in SETTING_RULES.items():
            value = getattr(getattr(self, section_name), key)
            problem = rule.problem(value)
            if problem:
                raise ConfigError(f"{source}: {section_name}.{key} = {value!r} {problem}")
        return self

    def apply_env(self, environ: dict[str, str] | None = None) -> "Settings":
        """Let environment variables override file values."""
        environ = os.environ if environ is None else environ
        for (section, key), var in self._ENV.items():
            if environ.get(var):
                setattr(getattr(self, section), key, environ[var])
        return self


def load_settings(path: Path, environ: dict[str, str] | None = None) -> Settings:
    """Read config.toml (missing file = defaults), then apply environment overrides."""
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path} is not UTF-8: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    return Settings.from_dict(data, source=str(path)).apply_env(environ)


@dataclass
class Context:
    """What every command needs: where things are and the settings."""

    paths: Paths
    settings: Settings

    @classmethod
    def load(cls, home: str | os.PathLike | None = None) -> "Context":
        """Resolve the home folder, create it, and read the settings."""
        paths = Paths(resolve_home(home)).ensure()
        return cls(paths=paths, settings=load_settings(paths.config))
