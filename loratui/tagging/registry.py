"""Which WD14 model `--model` means: a short name, a Hugging Face repo id, or a local folder.

Models are fetched from the Hub through huggingface-hub (its cache, its progress bars, ``HF_HUB_OFFLINE`` and
``HF_ENDPOINT`` respected). A local folder must hold ``model.onnx`` and ``selected_tags.csv``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from loratui.errors import ModelError

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


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


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


def hub_model(repo_id: str, *, revision: str | None = None) -> ModelFiles:
    """Download (or find in the Hugging Face cache) a model's two files."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled

    offline = _offline()
    paths = []
    for filename in (MODEL_FILE, TAGS_FILE):
        try:
            paths.append(Path(hf_hub_download(
                repo_id, filename, revision=revision, local_files_only=offline,
                endpoint=os.environ.get("HF_ENDPOINT") or None,
            )))
        except (LocalEntryNotFoundError, OfflineModeIsEnabled):
            if offline:
                raise ModelError(f"{repo_id}/{filename} is not in the Hugging Face cache and HF_HUB_OFFLINE is set",
                                 hint=_download_hint(repo_id)) from None
            raise ModelError(f"cannot download {repo_id}/{filename}: the Hub is unreachable",
                             hint=_download_hint(repo_id)) from None
        except Exception as exc:  # huggingface-hub raises many HTTP error types; all mean the same to a user
            name = type(exc).__name__
            if "RepositoryNotFound" in name or "EntryNotFound" in name or "RevisionNotFound" in name:
                raise ModelError(f"{repo_id} has no {filename} on the Hub ({name})",
                                 hint="check the repo id, or use a short name: loratui tag --list-models") from None
            raise ModelError(f"cannot download {repo_id}/{filename}: {name}: {exc}",
                             hint=_download_hint(repo_id)) from None
    return ModelFiles(repo_id, paths[0], paths[1])


def resolve_model(spec: str | None) -> ModelFiles:
    """Short name, `owner/repo` or a local folder -> files on disk (downloading when needed)."""
    spec = (spec or DEFAULT_MODEL).strip()
    path = Path(spec).expanduser()
    if path.exists() or spec.startswith((".", "/", "~")):
        if not path.exists():
            raise ModelError(f"model folder {path} does not exist")
        return local_folder(path)
    if spec in KNOWN_MODELS:
        return hub_model(KNOWN_MODELS[spec])
    if spec.count("/") == 1 and all(spec.split("/")):
        return hub_model(spec)
    known = ", ".join(KNOWN_MODELS)
    raise ModelError(f"unknown model {spec!r}", hint=f"use one of {known}, a Hub repo id or a local folder")
