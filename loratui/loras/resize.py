"""Resize a LoRA file to a lower rank, with the results of sd-scripts' ``networks/resize_lora.py``.

Per module: the SVD of ``up @ down`` (via the r x r core, see ``resize_math``), the top singular values kept,
alpha rescaled so ``alpha / rank`` times the product is unchanged; dynamic rank rules as upstream; 4-D (conv)
modules use ``conv_rank``. Metadata gets upstream's updates: ``ss_training_comment``, ``ss_network_dim``,
``ss_network_alpha`` and ``sshs_model_hash`` / ``sshs_legacy_hash`` computed over the bytes of the tensors and
the ``ss_*`` metadata exactly as sd-scripts does. Every float tensor is written in the chosen precision.

``resize_file`` is the plain function; ``run_resize_job`` runs it as a loratui job with progress.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from loratui.errors import InputError, LoraError
from loratui.fsutil import atomic_write_bytes
from loratui.jobs.runner import JobRunner
from loratui.loras.inspect import find_modules
from loratui.loras.resize_math import DYNAMIC_METHODS, TorchBackend, resize_module
from loratui.loras.safetensors_io import OutTensor, encode_tensor, read_header, read_tensors, serialize

PRECISIONS = ("float", "fp16", "bf16")
_FLOAT_DTYPES = {"F64", "F32", "F16", "BF16"}


@dataclass(frozen=True)
class ResizeOptions:
    """What to resize to. `rank` is the fixed rank, or the cap for a dynamic method (upstream's --new_rank)."""

    rank: int = 4
    conv_rank: int | None = None
    dynamic: str | None = None
    param: float | None = None
    precision: str = "float"
    device: str = "cpu"

    def validate(self) -> "ResizeOptions":
        """InputError for impossible combinations."""
        if self.rank < 1 or (self.conv_rank is not None and self.conv_rank < 1):
            raise InputError("rank must be at least 1")
        if self.dynamic is not None and self.dynamic not in DYNAMIC_METHODS:
            raise InputError(f"unknown dynamic method {self.dynamic!r} (use {', '.join(DYNAMIC_METHODS)})")
        if self.dynamic and not self.param:
            raise InputError("a dynamic method needs --param (e.g. --dynamic sv_fro --param 0.9)")
        if self.precision not in PRECISIONS:
            raise InputError(f"unknown precision {self.precision!r} (use {', '.join(PRECISIONS)})")
        if self.device not in ("cpu",) and not self.device.startswith("cuda"):
            raise InputError(f"unknown device {self.device!r} (use cpu or cuda)")
        return self

    @property
    def effective_conv_rank(self) -> int:
        """The rank for conv modules (defaults to `rank`, as upstream)."""
        return self.conv_rank if self.conv_rank is not None else self.rank


@dataclass
class ModuleReport:
    """Per-module outcome."""

    name: str
    kind: str
    old_rank: int
    new_rank: int
    new_alpha: float
    fro_retained: float
    sum_retained: float


@dataclass
class ResizeReport:
    """What a resize did."""

    source: str
    output: str
    old_dim: int
    modules: list[ModuleReport] = field(default_factory=list)
    energy_retained: float = float("nan")  # overall Frobenius norm ratio of the alpha-scaled deltas
    mean_fro_retained: float = float("nan")  # upstream's "Average Frobenius norm retention"
    std_fro_retained: float = float("nan")
    model_hash: str = ""
    legacy_hash: str = ""
    metadata: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


ProgressFn = Callable[[int, int, str], None]


def _new_comment(metadata: dict[str, str], options: ResizeOptions, old_dim: int) -> str:
    comment = metadata.get("ss_training_comment", "")
    if options.dynamic:
        return f"Dynamic resize with {options.dynamic}: {float(options.param)} from {old_dim}; {comment}"
    conv = options.effective_conv_rank
    conv_desc = "" if options.rank == conv else f" (conv: {conv})"
    return f"dimension is resized from {old_dim} to {options.rank}{conv_desc}; {comment}"


def sd_scripts_hashes(tensors: dict[str, OutTensor], metadata: dict[str, str]) -> tuple[str, str]:
    """(sshs_model_hash, sshs_legacy_hash) as sd-scripts' precalculate_safetensors_hashes computes them."""
    data = serialize(tensors, {k: v for k, v in metadata.items() if k.startswith("ss_")})
    header_len = int.from_bytes(data[:8], "little")
    model_hash = hashlib.sha256(data[8 + header_len:]).hexdigest()
    legacy_hash = hashlib.sha256(data[0x100000:0x110000]).hexdigest()[:8]
    return model_hash, legacy_hash


class ResizePlan:
    """A loaded LoRA ready to be resized module by module (lets a job report progress between modules)."""

    def __init__(self, source: str | os.PathLike, options: ResizeOptions) -> None:
        self.options = options.validate()
        self.header = read_header(source)
        self.keys, _ = find_modules(list(self.header.tensors))
        if not self.keys:
            raise LoraError(f"{self.header.path.name}: not a LoRA (no down/up module pairs to resize)")
        self.tensors = {name: np.asarray(arr, dtype=np.float32) if self.header.tensors[name].dtype in _FLOAT_DTYPES
                        else arr for name, arr in read_tensors(self.header).items()}
        self.backend = TorchBackend(options.device) if options.device != "cpu" else None
        self.results: dict[str, ModuleReport] = {}
        self._energy = [0.0, 0.0]
        self.old_dim = max(self.tensors[k.down].shape[0] for k in self.keys)
        self.last_alpha: float | None = None

    def __len__(self) -> int:
        return len(self.keys)

    def resize_one(self, index: int) -> ModuleReport:
        """Resize module number `index` in place."""
        keys = self.keys[index]
        down, up = self.tensors[keys.down], self.tensors[keys.up]
        conv = down.ndim == 4
        if conv and (up.ndim != 4 or up.shape[2:] != (1, 1)):
            raise LoraError(f"module {keys.name}: conv up weight must be 1x1, got shape {up.shape}")
        if down.shape[0] != up.shape[1]:
            raise LoraError(f"module {keys.name}: rank mismatch between down {down.shape} and up {up.shape}")
        alpha = float(self.tensors[keys.alpha].reshape(-1)[0]) if keys.alpha else None
        rank = self.options.effective_conv_rank if conv else self.options.rank
        result = resize_module(up.reshape(up.shape[0], -1), down.reshape(down.shape[0], -1), alpha, rank,
                               self.options.dynamic, self.options.param, self.backend)
        if conv:
            self.tensors[keys.down] = result.down.reshape(result.new_rank, *down.shape[1:])
            self.tensors[keys.up] = result.up.reshape(up.shape[0], result.new_rank, 1, 1)
        else:
            self.tensors[keys.down], self.tensors[keys.up] = result.down, result.up
        self.tensors[f"{keys.name}.alpha"] = np.array(np.float32(result.new_alpha))
        self._energy[0] += result.energy_total
        self._energy[1] += result.energy_kept
        self.last_alpha = result.new_alpha
        kind = f"conv{down.shape[2]}x{down.shape[3]}" if conv else "linear"
        report = ModuleReport(keys.name, kind, result.old_rank, result.new_rank, result.new_alpha,
                              result.fro_retained, result.sum_retained)
        self.results[keys.name] = report
        return report

    def build(self, output: str | os.PathLike) -> tuple[bytes, ResizeReport]:
        """The new file's bytes and the report (after every module was resized)."""
        options = self.options
        metadata = dict(self.header.metadata)
        metadata["ss_training_comment"] = _new_comment(metadata, options, self.old_dim)
        if options.dynamic:
            metadata["ss_network_dim"] = "Dynamic"
            metadata["ss_network_alpha"] = "Dynamic"
        else:
            metadata["ss_network_dim"] = str(options.rank)
            metadata["ss_network_alpha"] = str(self.last_alpha)
        out: dict[str, OutTensor] = {}
        for name, array in self.tensors.items():
            info = self.header.tensors.get(name)
            if info is not None and info.dtype not in _FLOAT_DTYPES:
                out[name] = OutTensor(info.dtype, tuple(array.shape), np.ascontiguousarray(array))
            else:
                out[name] = encode_tensor(np.asarray(array, dtype=np.float32), options.precision)
        model_hash, legacy_hash = sd_scripts_hashes(out, metadata)
        metadata["sshs_model_hash"] = model_hash
        metadata["sshs_legacy_hash"] = legacy_hash
        data = serialize(out, metadata)
        fros = [m.fro_retained for m in self.results.values() if not math.isnan(m.fro_retained)]
        total, kept = self._energy
        report = ResizeReport(
            source=str(self.header.path), output=str(output), old_dim=self.old_dim,
            modules=[self.results[k.name] for k in self.keys],
            energy_retained=math.sqrt(kept / total) if total > 0 else float("nan"),
            mean_fro_retained=float(np.mean(fros)) if fros else float("nan"),
            std_fro_retained=float(np.std(fros)) if fros else float("nan"),
            model_hash=model_hash, legacy_hash=legacy_hash, metadata=metadata,
        )
        return data, report


def default_output(source: Path, options: ResizeOptions) -> Path:
    """`name-r16.safetensors` (or `-sv_fro0.9`) next to the source."""
    tag = f"{options.dynamic}{options.param:g}" if options.dynamic else f"r{options.rank}"
    return source.with_name(f"{source.stem}-{tag}.safetensors")


def _check_paths(source: Path, output: Path | None, options: ResizeOptions, overwrite: bool) -> Path:
    output = Path(output) if output else default_output(source, options)
    if output.suffix != ".safetensors":
        raise InputError(f"output must be a .safetensors file: {output}")
    if output.resolve() == source.resolve():
        raise InputError("output would overwrite the source LoRA; choose another --out")
    if output.exists() and not overwrite:
        raise InputError(f"{output} already exists", hint="choose another --out or pass --overwrite")
    if not output.parent.is_dir():
        raise InputError(f"no such folder for the output: {output.parent}")
    return output


def resize_file(source: str | os.PathLike, output: str | os.PathLike | None, options: ResizeOptions,
                progress: ProgressFn | None = None, overwrite: bool = False) -> ResizeReport:
    """Resize `source` and write the result atomically to `output` (an existing output only with `overwrite`)."""
    source = Path(source)
    output = _check_paths(source, output, options, overwrite)
    plan = ResizePlan(source, options)
    for index in range(len(plan)):
        report = plan.resize_one(index)
        if progress:
            progress(index + 1, len(plan), report.name)
    data, report = plan.build(output)
    atomic_write_bytes(output, data, preserve=False)
    return report


async def run_resize_job(store, source: str | os.PathLike, output: str | os.PathLike | None,
                         options: ResizeOptions, progress: ProgressFn | None = None,
                         on_start: Callable[[int], None] | None = None,
                         overwrite: bool = False) -> tuple[int, ResizeReport]:
    """Resize as a loratui job (kind `resize`): progress per module, cancellable; returns (job id, report).

    The output is written only at the end, so a cancelled resize leaves nothing behind.
    """
    source = Path(source).resolve()
    output = _check_paths(source, Path(output) if output else None, options, overwrite).resolve()
    params = {"source": str(source), "output": str(output), **asdict(options)}
    runner = await JobRunner.start(store, "resize", title=f"Resize {source.name}", params=params, resume=False)
    if on_start:
        on_start(runner.id)
    async with runner:
        plan = await asyncio.to_thread(ResizePlan, source, options)
        await runner.set_total(len(plan))
        for index in range(len(plan)):
            await runner.check_cancelled()
            report = await asyncio.to_thread(plan.resize_one, index)
            await runner.progress(1, message=report.name)
            if progress:
                progress(index + 1, len(plan), report.name)
        data, report = await asyncio.to_thread(plan.build, output)
        await asyncio.to_thread(atomic_write_bytes, output, data, preserve=False)
        await runner.progress(0, message=f"wrote {output.name}: {report.energy_retained:.2%} energy retained",
                              force=True)
        await runner.set_outputs([str(output)])
    return runner.id, report
