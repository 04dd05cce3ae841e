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

    def job_dir(self, job_id: int) -> Path:
        """The folder of one job."""
        return self.jobs / str(job_id)

    def ensure(self) -> "Paths":
        """Create the home folder tree if missing."""
        for folder in (self.home, self.jobs, self.cache):
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
    """How many queued trainings may run at once."""


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
class UISettings:
    """Terminal UI."""

    preview: str = "halfblock"
    """Image preview renderer: halfblock (works everywhere) or none."""
    truecolor: bool = True
    """Assume a truecolor terminal when TERM/COLORTERM say nothing."""
    keys: dict[str, str] = field(default_factory=dict)
    """Key remapping: binding id -> keys, e.g. {"next_image" = "ctrl+j"}."""


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


@dataclass
class Settings:
    """All settings, one section per table in config.toml."""

    general: GeneralSettings = field(default_factory=GeneralSettings)
    trainers: TrainerSettings = field(default_factory=TrainerSettings)
    ui: UISettings = field(default_factory=UISettings)
    training_run: TrainingRunSettings = field(default_factory=TrainingRunSettings)
    dataset_tools: DatasetToolsSettings = field(default_factory=DatasetToolsSettings)
    tagging: TaggingSettings = field(default_factory=TaggingSettings)

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
        return settings

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
