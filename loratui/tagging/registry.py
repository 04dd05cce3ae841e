"""Which tagger `--model` means: a short name, a Hugging Face repo id, or a local folder.

Hub models are fetched into the Hugging Face cache through ``loratui.hf_download`` (huggingface_hub: the cache,
``HF_HUB_OFFLINE``, ``HF_ENDPOINT``, the token or stored login). The known repos say their format (``formats``):
SmilingWolf's are WD14, ``Camais03/camie-tagger-v2`` is Camie, ``deepghs/pixai-tagger-v0.9-onnx`` is PixAI; any
other repo id is taken for a WD14 model. A local folder holds ``model.onnx`` and ``selected_tags.csv`` (WD14, or
PixAI when the CSV has PixAI's header), or ``camie-tagger-v2.onnx`` and ``camie-tagger-v2-metadata.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from loratui.errors import ModelError, NotFoundError
from loratui.hf_download import HubProgress, fetch_file
from loratui.tagging.formats import CAMIE, PIXAI, WD14, TaggerFormat, tagger_format

MODEL_FILE = WD14.model_file
TAGS_FILE = WD14.tags_file
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
    "camie-tagger-v2": "Camais03/camie-tagger-v2",
    "pixai-tagger-v0.9": "deepghs/pixai-tagger-v0.9-onnx",
}
"""Short names -> Hub repos."""

REPO_FORMATS: dict[str, str] = {
    "Camais03/camie-tagger-v2": CAMIE.name,
    "deepghs/pixai-tagger-v0.9-onnx": PIXAI.name,
}
"""Hub repos whose tagger is not a WD14 one."""


def repo_format(repo_id: str) -> TaggerFormat:
    """The format of a Hub repo's tagger (WD14 unless known otherwise)."""
    return tagger_format(REPO_FORMATS.get(repo_id, WD14.name))


@dataclass(frozen=True)
class ModelFiles:
    """A model ready to load."""

    key: str
    """Stable name stored with scores: the repo id, or 'local:<folder>'."""
    model_path: Path
    tags_path: Path
    format: str = WD14.name
    """'wd14', 'camie' or 'pixai' (``formats``)."""


def _download_hint(repo_id: str, spec: TaggerFormat = WD14) -> str:
    return (f"download it where there is network with `hf download {repo_id} {spec.model_file} {spec.tags_file}` "
            f"(same HF_HOME), or pass --model pointing at a folder holding {spec.model_file} and {spec.tags_file}")


def _is_pixai_csv(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.readline().replace(" ", "").startswith("id,tag_id,name,category")
    except OSError:
        return False


def local_folder(folder: Path) -> ModelFiles:
    """A local model folder (its format from the files it holds); ModelError naming what is missing."""
    folder = folder.expanduser().resolve()
    if not folder.is_dir():
        raise ModelError(f"{folder} is not a folder")
    if (folder / CAMIE.model_file).is_file() or (folder / CAMIE.tags_file).is_file():
        spec = CAMIE
    else:
        spec = PIXAI if _is_pixai_csv(folder / PIXAI.tags_file) else WD14
    missing = [name for name in (spec.model_file, spec.tags_file) if not (folder / name).is_file()]
    if missing:
        raise ModelError(f"{folder} lacks {' and '.join(missing)} (a {spec.label} folder holds {spec.model_file} "
                         f"and {spec.tags_file})")
    return ModelFiles(f"local:{folder}", folder / spec.model_file, folder / spec.tags_file, spec.name)


def hub_model(repo_id: str, *, revision: str | None = None, progress: HubProgress | None = None) -> ModelFiles:
    """Download (or find in the Hugging Face cache) a model's two files; `progress` hears the bytes."""
    spec = repo_format(repo_id)
    paths = []
    for filename in (spec.model_file, spec.tags_file):
        try:
            paths.append(fetch_file(repo_id, filename, revision=revision, progress=progress,
                                    hint=_download_hint(repo_id, spec)).path)
        except NotFoundError as exc:
            raise NotFoundError(exc.message, hint="check the repo id, or use a short name: loratui tag "
                                                  "--list-models") from None
    return ModelFiles(repo_id, paths[0], paths[1], spec.name)


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
