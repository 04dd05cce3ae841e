"""Plain-text views of LoRA information shared by the CLI and the TUI (label/value rows, no styling)."""

from __future__ import annotations

import datetime as _dt
import os
from typing import Any

from loratui.loras.inspect import LoraInfo


def human_size(size: int | None) -> str:
    """Bytes as KB/MB/GB."""
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def shorten_folder(folder: str, width: int, home: str | None = None) -> str:
    """A folder in at most `width` cells: the home folder as `~`, then whole trailing components after `…/`
    (the part nearest the file tells files apart best); a last component longer than that is cut from the left."""
    home = os.path.expanduser("~") if home is None else home
    if home and home != "/" and (folder == home or folder.startswith(home.rstrip("/") + "/")):
        folder = "~" + folder[len(home.rstrip("/")):]
    if len(folder) <= width:
        return folder
    parts = folder.split("/")
    kept = ""
    for part in reversed(parts):
        candidate = f"{part}/{kept}" if kept else part
        if len(candidate) + 2 > width:
            break
        kept = candidate
    if kept:
        return "…/" + kept
    return "…" + folder[-(width - 1):] if width > 1 else "…"


def folder_labels(paths: list[str], width: int, home: str | None = None) -> list[str]:
    """The folder of each path, shortened to `width` (``shorten_folder``), except where two different folders
    would read the same: those are shown whole (a table folds them), so two files of one name never look alike."""
    folders = [os.path.dirname(path) for path in paths]
    labels = [shorten_folder(folder, width, home) for folder in folders]
    owners: dict[str, set[str]] = {}
    for folder, label in zip(folders, labels):
        owners.setdefault(label, set()).add(folder)
    return [shorten_folder(folder, 10**6, home) if len(owners[label]) > 1 else label
            for folder, label in zip(folders, labels)]


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _when(ts: float | None) -> str:
    if not ts:
        return ""
    return _dt.datetime.fromtimestamp(ts, tz=_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def ranks_text(info: LoraInfo) -> str:
    """e.g. '16 (x700), 8 (x22)'."""
    return ", ".join(f"{rank} (x{count})" for rank, count in sorted(info.ranks.items(), key=lambda kv: -kv[1]))


def alphas_text(info: LoraInfo) -> str:
    """Distinct alpha values with counts."""
    counts: dict[str, int] = {}
    for module in info.modules:
        key = "none" if module.alpha is None else f"{module.alpha:g}"
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{alpha} (x{n})" for alpha, n in sorted(counts.items(), key=lambda kv: -kv[1]))


def _job_text(job: dict | None) -> str:
    if not job:
        return ""
    words = " ".join(str(job[k]) for k in ("kind", "title") if job.get(k))
    return f"#{job['id']} {words}".strip() + (f" ({job['status']})" if job.get("status") else "")


def info_rows(info: LoraInfo, job: dict | None = None, library_id: int | None = None) -> list[tuple[str, str]]:
    """What `lora info` shows, as (label, value) rows; empty values are left out."""
    s = info.summary
    kinds: dict[str, int] = {}
    for module in info.modules:
        kinds[module.kind] = kinds.get(module.kind, 0) + 1
    rows = [
        ("file", str(info.path)),
        ("library id", _fmt(library_id)),
        ("size", human_size(info.size)),
        ("tensors", _fmt(info.tensor_count)),
        ("modules", f"{len(info.modules)} ({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))})"),
        ("rank (dim)", f"{_fmt(info.dim)}   per module: {ranks_text(info)}"),
        ("alpha", f"{_fmt(info.alpha)}   per module: {alphas_text(info)}"),
        ("network module", _fmt(info.network_module)),
        ("network args", _fmt(s.network_args)),
        ("base model", _fmt(info.base_model)),
        ("architecture", _fmt(s.architecture)),
        ("trained on", _fmt(s.base_model_name)),
        ("title", _fmt(s.title)),
        ("steps", f"{_fmt(s.steps)}" + (f" of {s.max_train_steps}" if s.max_train_steps else "") if s.steps else ""),
        ("epochs", f"{_fmt(s.epoch)} of {_fmt(s.num_epochs)}" if s.num_epochs else _fmt(s.epoch)),
        ("learning rate", _fmt(s.learning_rate)),
        ("U-Net lr", _fmt(s.unet_lr)),
        ("text encoder lr", _fmt(s.text_encoder_lr)),
        ("optimizer", _fmt(s.optimizer)),
        ("scheduler", _fmt(s.lr_scheduler)),
        ("resolution", _fmt(s.resolution)),
        ("batch size", _fmt(s.batch_size)),
        ("training images", _fmt(s.train_images)),
        ("mixed precision", _fmt(s.mixed_precision)),
        ("seed", _fmt(s.seed)),
        ("dataset dirs", "; ".join(f"{d.name}: {_fmt(d.repeats)} repeats, {_fmt(d.images)} images"
                                   for d in s.dataset_dirs)),
        ("trigger words", ", ".join(s.trigger_words)),
        ("comment", _fmt(s.training_comment)),
        ("trained", f"{_when(s.started_at)} .. {_when(s.finished_at)}" if s.finished_at else ""),
        ("job", _job_text(job)),
        ("metadata keys", _fmt(len(info.metadata))),
    ]
    return [(label, value) for label, value in rows if value not in ("", "None")]
