"""Inspect a LoRA file: modules, rank and alpha per module, and the training metadata.

Only the safetensors header is parsed; the one exception is each module's ``alpha``, a scalar whose few bytes
are read at its offset (no weight tensor is loaded).
"""

from __future__ import annotations

import os
import struct
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loratui.errors import LoraError
from loratui.loras.safetensors_io import Header, TensorInfo, read_header
from loratui.loras.summary import TrainingSummary, summarize

# (down, up) suffix pairs, as sd-scripts' resize_lora.py recognises them.
DOWN_UP_FORMATS = (("lora_down", "lora_up"), ("lora_A", "lora_B"), ("down", "up"))
LYCORIS_MARKERS = ("hada_w1_a", "lokr_w1", "lokr_w1_a", "oft_blocks", "oft_diag", "b_norm", "w_norm", "diff")


@dataclass(frozen=True)
class ModuleKeys:
    """The tensor names of one LoRA module."""

    name: str
    down: str
    up: str
    alpha: str | None


@dataclass
class ModuleInfo:
    """One LoRA module as its shapes describe it."""

    name: str
    kind: str  # linear, conv1x1, conv3x3, ...
    rank: int
    alpha: float | None
    in_features: int
    out_features: int


@dataclass
class LoraInfo:
    """Everything `lora info` shows about a file."""

    path: Path
    size: int
    mtime_ns: int
    tensor_count: int
    modules: list[ModuleInfo]
    metadata: dict[str, str]
    summary: TrainingSummary
    network_type: str = "lora"
    extra_tensors: list[str] = field(default_factory=list)

    @property
    def dim(self) -> int | None:
        """The most common rank (the `--network_dim` of a plain training)."""
        counts = Counter(m.rank for m in self.modules)
        return counts.most_common(1)[0][0] if counts else None

    @property
    def alpha(self) -> float | None:
        """The most common alpha (None when modules carry none)."""
        counts = Counter(m.alpha for m in self.modules if m.alpha is not None)
        return counts.most_common(1)[0][0] if counts else None

    @property
    def ranks(self) -> dict[int, int]:
        """rank -> how many modules have it."""
        return dict(sorted(Counter(m.rank for m in self.modules).items()))

    @property
    def base_model(self) -> str | None:
        """The base model family the metadata names."""
        return self.summary.base_model_version or _family_from_architecture(self.summary.architecture)

    @property
    def network_module(self) -> str | None:
        """The trainer's network module, or what the key names show."""
        return self.summary.network_module or self.network_type

    def as_dict(self, modules: bool = True) -> dict[str, Any]:
        """JSON-ready view (metadata included raw)."""
        data = {
            "path": str(self.path), "size": self.size, "tensor_count": self.tensor_count,
            "module_count": len(self.modules), "network_type": self.network_type,
            "network_module": self.network_module, "dim": self.dim, "alpha": self.alpha,
            "ranks": {str(k): v for k, v in self.ranks.items()}, "base_model": self.base_model,
            "architecture": self.summary.architecture, "summary": self.summary.as_dict(),
            "metadata": self.metadata,
        }
        if modules:
            data["modules"] = [m.__dict__ for m in self.modules]
        return data


def _family_from_architecture(architecture: str | None) -> str | None:
    return architecture.split("/", 1)[0] if architecture else None


def find_modules(names: list[str]) -> tuple[list[ModuleKeys], list[str]]:
    """Group tensor names into LoRA modules (kohya, PEFT and ControlLoRA naming); returns (modules, others)."""
    present = set(names)
    modules: list[ModuleKeys] = []
    used: set[str] = set()
    for down_word, up_word in DOWN_UP_FORMATS:
        for name in sorted(present - used):
            parts = name.split(".")
            if len(parts) >= 2 and parts[-2] == down_word:
                base, suffix = ".".join(parts[:-2]), "." + parts[-1]
            elif parts[-1] == down_word:
                base, suffix = ".".join(parts[:-1]), ""
            else:
                continue
            up = f"{base}.{up_word}{suffix}"
            if up not in present or up in used or not base:
                continue
            alpha = f"{base}.alpha" if f"{base}.alpha" in present else None
            modules.append(ModuleKeys(base, name, up, alpha))
            used.update({name, up} | ({alpha} if alpha else set()))
    modules.sort(key=lambda m: m.name)
    return modules, sorted(present - used)


def _read_scalar(handle, header: Header, info: TensorInfo) -> float | None:
    formats = {"F32": "<f", "F64": "<d", "F16": "<e", "I64": "<q", "I32": "<i"}
    if info.dtype == "BF16" and info.nbytes == 2:
        handle.seek(header.data_start + info.start)
        (bits,) = struct.unpack("<H", handle.read(2))
        return struct.unpack("<f", struct.pack("<I", bits << 16))[0]
    fmt = formats.get(info.dtype)
    if fmt is None or info.nbytes != struct.calcsize(fmt):
        return None
    handle.seek(header.data_start + info.start)
    return float(struct.unpack(fmt, handle.read(info.nbytes))[0])


def _module_info(keys: ModuleKeys, header: Header, handle) -> ModuleInfo:
    down = header.tensors[keys.down]
    up = header.tensors[keys.up]
    if len(down.shape) < 2 or len(up.shape) < 2:
        raise LoraError(f"{header.path.name}: module {keys.name} has malformed shapes {down.shape} / {up.shape}")
    rank = down.shape[0]
    if len(down.shape) == 4:
        kind = f"conv{down.shape[2]}x{down.shape[3]}"
        in_features = down.shape[1] * down.shape[2] * down.shape[3]
    else:
        kind = "linear"
        in_features = down.shape[1]
    alpha = _read_scalar(handle, header, header.tensors[keys.alpha]) if keys.alpha else None
    return ModuleInfo(keys.name, kind, rank, alpha, in_features, up.shape[0])


def inspect_header(header: Header) -> LoraInfo:
    """Build a LoraInfo from an already-read header; LoraError if the file holds no LoRA modules."""
    keys, others = find_modules(list(header.tensors))
    network_type = "lora"
    if not keys:
        if any(name.rsplit(".", 1)[-1] in LYCORIS_MARKERS for name in others):
            network_type = "lycoris"
        else:
            raise LoraError(
                f"{header.path.name}: not a LoRA: none of its {len(header.tensors)} tensors are LoRA "
                "down/up weights (a base model or another kind of safetensors file?)")
    with open(header.path, "rb") as handle:
        modules = [_module_info(k, header, handle) for k in keys]
    stat = os.stat(header.path)
    return LoraInfo(
        path=header.path, size=header.file_size, mtime_ns=stat.st_mtime_ns, tensor_count=len(header.tensors),
        modules=modules, metadata=header.metadata, summary=summarize(header.metadata),
        network_type=network_type, extra_tensors=[o for o in others if not o.endswith(".alpha")],
    )


def inspect_file(path: str | os.PathLike) -> LoraInfo:
    """Read a LoRA's header and describe it; LoraError for broken or non-LoRA files."""
    return inspect_header(read_header(path))
