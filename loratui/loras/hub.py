"""Publishing a LoRA on the Hugging Face Hub: create the repo if needed, upload the file and a model card.

The token comes from an environment variable (``HF_TOKEN`` unless told otherwise) and is only handed to
huggingface-hub; it is never printed, logged or put in an error message.

Progress: the callback gets each phase (creating repo, hashing, uploading, done) with the file size.
huggingface-hub's own byte-level bars (LFS / Xet transfers) are shown only when ``hub_bars`` is set — the CLI
does that on a terminal; the TUI never does, since they write straight to the terminal it owns. The file is
handed over by path: huggingface-hub's Xet uploader only accepts paths or bytes.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Callable

from loratui.errors import InputError, RemoteError
from loratui.loras.inspect import LoraInfo, inspect_file

ProgressFn = Callable[[str, int, int], None]  # (phase, bytes done, total)

_BASE_MODELS = {
    "sd_v1": "runwayml/stable-diffusion-v1-5",
    "sd_v2": "stabilityai/stable-diffusion-2-1-base",
    "sdxl_base_v1-0": "stabilityai/stable-diffusion-xl-base-1.0",
    "flux1": "black-forest-labs/FLUX.1-dev",
}
_REPO = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass
class UploadResult:
    """Where the LoRA went."""

    repo: str
    url: str
    files: list[str]
    commit: str | None


def _yaml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def card_image_name(number: int, path: str | os.PathLike) -> str:
    """Where a preview image goes in the Hub repo (numbered: sweep cells of every row are named alike)."""
    return f"images/{number:02d}-{os.path.basename(path)}"


def model_card(info: LoraInfo, repo: str, images: list[tuple[str, str]] = ()) -> str:
    """A README.md for the Hub from the LoRA's metadata: base model, trigger words, tags, training settings.

    `images` are (path in the repo, prompt) pairs: the Hub shows them as the model's widget gallery, and the card
    lists them under "Samples"."""
    s = info.summary
    base = _BASE_MODELS.get(info.base_model or "")
    lines = ["---", "library_name: diffusers" if base else "library_name: other", "tags:", "  - lora",
             "  - text-to-image", "  - loratui"]
    if base:
        lines.append(f"base_model: {base}")
    if s.trigger_words:
        lines.append(f"instance_prompt: {_yaml_str(', '.join(s.trigger_words))}")
    if images:
        lines.append("widget:")
        for name, prompt in images:
            lines += [f"  - text: {_yaml_str(prompt)}", "    output:", f"        url: {_yaml_str(name)}"]
    lines += ["---", "", f"# {s.title or repo.split('/', 1)[1]}", ""]
    lines.append(f"A LoRA for **{info.base_model or 'an unknown base model'}**"
                 + (f" ({s.architecture})" if s.architecture else "") + ".")
    lines.append("")
    if s.trigger_words:
        lines += ["## Trigger words", "", ", ".join(f"`{w}`" for w in s.trigger_words), ""]
    lines += ["## Training settings", "", "| setting | value |", "| --- | --- |"]
    settings = [
        ("network", info.network_module), ("rank (dim)", info.dim), ("alpha", info.alpha),
        ("modules", len(info.modules)), ("steps", s.steps), ("epochs", s.num_epochs),
        ("learning rate", s.learning_rate), ("U-Net lr", s.unet_lr), ("text encoder lr", s.text_encoder_lr),
        ("optimizer", s.optimizer), ("scheduler", s.lr_scheduler), ("resolution", s.resolution),
        ("batch size", s.batch_size), ("training images", s.train_images), ("mixed precision", s.mixed_precision),
        ("seed", s.seed),
    ]
    lines += [f"| {name} | {str(value).replace('|', '/')} |" for name, value in settings if value not in (None, "")]
    if s.dataset_dirs:
        lines += ["", "## Dataset", "", "| folder | repeats | images |", "| --- | --- | --- |"]
        lines += [f"| {d.name.replace('|', '/')} | {d.repeats or ''} | {d.images or ''} |" for d in s.dataset_dirs]
    if images:
        lines += ["", "## Samples", ""]
        for name, prompt in images:
            alt = prompt.replace("[", "(").replace("]", ")").replace("\n", " ")
            lines.append(f"![{alt}]({name})")
    top = s.top_tags(20)
    if top:
        lines += ["", "## Most frequent tags", "", ", ".join(f"{tag} ({count})" for tag, count in top)]
    lines += ["", f"File: `{info.path.name}` ({info.size / 1e6:.1f} MB). Card written by loratui.", ""]
    return "\n".join(lines)


def token_from_env(var: str) -> str | None:
    """The token in environment variable `var` (None if unset or empty)."""
    value = os.environ.get(var, "").strip()
    return value or None


def _is_remote_failure(exc: Exception) -> bool:
    """huggingface-hub's HTTP errors and network failures (not bugs) become a RemoteError."""
    module = type(exc).__module__.split(".", 1)[0]
    return isinstance(exc, OSError) or module in ("huggingface_hub", "httpx", "httpx2", "httpcore", "httpcore2",
                                                   "requests", "urllib3")


def upload_lora(path: str | os.PathLike, repo: str, *, private: bool = False, token: str | None = None,
                progress: ProgressFn | None = None, endpoint: str | None = None,
                hub_bars: bool = False, images: list[tuple[str | os.PathLike, str]] = ()) -> UploadResult:
    """Create `repo` (if missing) and upload the LoRA plus a generated README.md in one commit.

    `images` are (image file, prompt) pairs (a checkpoint sweep's cells of the chosen row): uploaded under
    ``images/`` and shown on the model card."""
    from huggingface_hub import CommitOperationAdd, HfApi
    from huggingface_hub.utils import disable_progress_bars, enable_progress_bars

    if not _REPO.match(repo) or ".." in repo:
        raise InputError(f"not a Hub repo id: {repo!r} (expected USER/NAME)")
    info = inspect_file(path)
    total = info.size
    if hub_bars:
        enable_progress_bars()
    else:
        disable_progress_bars()
    api = HfApi(endpoint=endpoint or os.environ.get("HF_ENDPOINT") or None, token=token or False)

    def report(phase: str, done: int) -> None:
        if progress:
            progress(phase, done, total)

    try:
        report("creating repo", 0)
        url = api.create_repo(repo, private=private, exist_ok=True)
        named = [(card_image_name(number, path), str(path), prompt) for number, (path, prompt) in enumerate(images)]
        card = model_card(info, repo, [(name, prompt) for name, _path, prompt in named]).encode("utf-8")
        report("hashing", 0)
        lora_op = CommitOperationAdd(path_in_repo=info.path.name, path_or_fileobj=str(info.path))
        image_ops = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=path) for name, path, _prompt in named]
        report("uploading", 0)
        commit = api.create_commit(
            repo, operations=[lora_op, *image_ops, CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=card)],
            commit_message=f"Upload {info.path.name} with loratui")
        report("done", total)
    except Exception as exc:
        if not _is_remote_failure(exc):
            raise
        text = str(exc)
        if token:
            text = text.replace(token, "***")
        raise RemoteError(f"upload to {repo} failed: {text.splitlines()[0] if text else type(exc).__name__}")
    return UploadResult(repo=repo, url=str(url), files=[info.path.name, *(name for name, _path, _prompt in named), "README.md"],
                        commit=getattr(commit, "oid", None))
