"""Which WD14 model `--model` means: a short name, a Hugging Face repo id, or a local folder.

Hub models are fetched into the Hugging Face cache through ``loratui.hf_download`` (huggingface_hub: the cache,
``HF_HUB_OFFLINE``, ``HF_ENDPOINT``, the token or stored login). A local folder must hold ``model.onnx`` and
``selected_tags.csv``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from loratui.errors import ModelError, NotFoundError
from loratui.hf_download import HubProgress, fetch_file

MODEL_FILE = "model.onnx"
TAGS_FILE = "selected_tags.csv"
DEFAULT_MODEL = "wd-swinv2-tagger-v3"

KNOWN_MODELS: dict[str, str] = {
    "wd-vit-tagger-v3": "SmilingWolf/wd-vit-tagger-v3",
    "wd-convnext-tagger-v3": "SmilingWolf/wd-convnext-tagger-v3",
    "wd-swinv2-tagger-v3": "SmilingWolf/wd-swinv2-tagger-v3",
    "wd-vit-large-tagger-v3": "SmilingWolf/wd-vit-large-tagger-v3",
    "wd-eva02-large-tagger-v3": "SmilingWolf/wd-eva02-large-tagger-v3",
    "wd-v1-4-convnext-tagger-v2": "SmilingWolf/wd-v1-4-convnext-tagger-v2",
    "wd-v1-4-convnextv2-tagger-v2": "SmilingWolf/wd-v1-4-convnextv2-tagger-v2",
    "wd-v1-4-vit-tagger-v2": "SmilingWolf/wd-v1-4-vit-tagger-v2",
    "wd-v1-4-swinv2-tagger-v2": "SmilingWolf/wd-v1-4-swinv2-tagger-v2",
    "wd-v1-4-moat-tagger-v2": "SmilingWolf/wd-v1-4-moat-tagger-v2",
}
"""Short names -> SmilingWolf Hub repos."""


@dataclass(frozen=True)
class ModelFiles:
    """A model ready to load."""

    key: str
    """Stable name stored with scores: the repo id, or 'local:<folder>'."""
    model_path: Path
    tags_path: Path


def _download_hint(repo_id: str) -> str:
    return (f"download it where there is network with `hf download {repo_id} {MODEL_FILE} {TAGS_FILE}` "
            f"(same HF_HOME), or pass --model pointing at a folder holding {MODEL_FILE} and {TAGS_FILE}")


def local_folder(folder: Path) -> ModelFiles:
    """A local model folder; ModelError naming what is missing."""
    folder = folder.expanduser().resolve()
    if not folder.is_dir():
        raise ModelError(f"{folder} is not a folder")
    missing = [name for name in (MODEL_FILE, TAGS_FILE) if not (folder / name).is_file()]
    if missing:
        raise ModelError(f"{folder} lacks {' and '.join(missing)} (a WD14 model folder holds {MODEL_FILE} "
                         f"and {TAGS_FILE})")
    return ModelFiles(f"local:{folder}", folder / MODEL_FILE, folder / TAGS_FILE)


def hub_model(repo_id: str, *, revision: str | None = None, progress: HubProgress | None = None) -> ModelFiles:
    """Download (or find in the Hugging Face cache) a model's two files; `progress` hears the bytes."""
    paths = []
    for filename in (MODEL_FILE, TAGS_FILE):
        try:
            paths.append(fetch_file(repo_id, filename, revision=revision, progress=progress,
                                    hint=_download_hint(repo_id)).path)
        except NotFoundError as exc:
            raise NotFoundError(exc.message, hint="check the repo id, or use a short name: loratui tag "
                                                  "--list-models") from None
    return ModelFiles(repo_id, paths[0], paths[1])


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from, known without the network: a Hub repo or a checked local folder."""

    key: str
    """The name its scores and jobs are stored under (``ModelFiles.key`` once fetched)."""
    repo_id: str | None = None
    local: ModelFiles | None = None

    @property
    def name(self) -> str:
        """A short name for messages."""
        return self.key.rstrip("/").rsplit("/", 1)[-1]

    def fetch(self, progress: HubProgress | None = None) -> ModelFiles:
        """The files on disk: a local folder as it is, a Hub model from the cache or downloaded."""
        if self.local is not None:
            return self.local
        return hub_model(self.repo_id, progress=progress)


def model_source(spec: str | None) -> ModelSource:
    """Short name, `owner/repo` or a local folder -> where the model comes from, without touching the network.

    ModelError for an unknown name, a missing folder or one that lacks the model's files."""
    spec = (spec or DEFAULT_MODEL).strip()
    path = Path(spec).expanduser()
    if path.exists() or spec.startswith((".", "/", "~")):
        if not path.exists():
            raise ModelError(f"model folder {path} does not exist")
        files = local_folder(path)
        return ModelSource(files.key, local=files)
    if spec in KNOWN_MODELS:
        return ModelSource(KNOWN_MODELS[spec], repo_id=KNOWN_MODELS[spec])
    if spec.count("/") == 1 and all(spec.split("/")):
        return ModelSource(spec, repo_id=spec)
    known = ", ".join(KNOWN_MODELS)
    raise ModelError(f"unknown model {spec!r}", hint=f"use one of {known}, a Hub repo id or a local folder")


def resolve_model(spec: str | None, progress: HubProgress | None = None) -> ModelFiles:
    """Short name, `owner/repo` or a local folder -> files on disk (downloading when needed)."""
    return model_source(spec).fetch(progress)
