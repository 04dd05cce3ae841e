"""The linear algebra of LoRA resizing: low-rank SVD through QR, and sd-scripts' rank rules.

A LoRA module's weight delta is ``up @ down`` (out x r times r x in), scaled by ``alpha / r``. sd-scripts'
``networks/resize_lora.py`` forms that full out x in matrix and takes its SVD. The product has rank at most r,
so the same singular values and vectors come from ``up = Qu Ru`` and ``down^T = Qd Rd`` (thin QR) and the SVD
of the r x r core ``Ru Rd^T = Uc S Vc^T``: ``up @ down = (Qu Uc) S (Qd Vc)^T``. That costs O((out + in) r^2)
instead of O(out * in * min(out, in)).

The dynamic rank rules (sv_ratio, sv_fro, sv_cumulative) are applied, as upstream does, to the singular values
of the full matrix: the r computed ones followed by zeros up to min(out, in).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from loratui.errors import LoraError

MIN_SV = 1e-6
DYNAMIC_METHODS = ("sv_ratio", "sv_fro", "sv_cumulative")


@dataclass
class ModuleResize:
    """The result for one module."""

    up: np.ndarray  # (out, new_rank) -- reshaped to the conv layout by the caller
    down: np.ndarray  # (new_rank, in_flat)
    old_rank: int
    new_rank: int
    new_alpha: float
    fro_retained: float  # ||kept singular values|| / ||all singular values|| (Frobenius norm ratio)
    sum_retained: float
    energy_total: float  # sum of squared singular values of the effective (alpha-scaled) delta
    energy_kept: float


def _clamp_index(index: int, length: int) -> int:
    return max(1, min(index, length - 1))


def dynamic_rank(s_full: np.ndarray, method: str, param: float) -> int:
    """New rank by upstream's rule on the full singular value list (float32, descending)."""
    s = s_full.astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):  # a zero matrix: upstream's NaNs, then rank 1
        return _dynamic_index(s, method, param)


def _dynamic_index(s: np.ndarray, method: str, param: float) -> int:
    if method == "sv_ratio":
        min_sv = s[0] / np.float32(param)
        index = int(np.sum(s > min_sv))
    elif method == "sv_cumulative":
        total = np.float32(np.sum(s))
        index = int(np.searchsorted(np.cumsum(s) / total, param)) + 1
    elif method == "sv_fro":
        squared = s * s
        total = np.float32(np.sum(squared))
        index = int(np.searchsorted(np.cumsum(squared) / total, param ** 2)) + 1
    else:
        raise ValueError(f"unknown dynamic method {method!r}")
    return _clamp_index(index, len(s)) + 1


def choose_rank(s_full: np.ndarray, rank: int, method: str | None, param: float | None) -> int:
    """The rank sd-scripts picks: the fixed rank, or the dynamic one capped at `rank`; 1 for a zero matrix."""
    new_rank = dynamic_rank(s_full, method, float(param)) if method else rank
    if s_full[0] <= MIN_SV:
        return 1
    return min(new_rank, rank)


def new_alpha_for(alpha: float | None, old_rank: int, new_rank: int) -> float:
    """alpha' = (alpha / old_rank) * new_rank, in float32 arithmetic as upstream (torch) computes it."""
    if alpha is None:
        return float(1.0 * new_rank)
    scale = np.float32(alpha) / np.float32(old_rank)
    return float(np.float32(scale * np.float32(new_rank)))


def low_rank_svd(up: np.ndarray, down: np.ndarray, backend=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SVD of up @ down without forming it: returns (U, S, Vt) with U (out x k), S (k), Vt (k x in)."""
    if backend is not None:
        return backend.low_rank_svd(up, down)
    up64 = np.asarray(up, dtype=np.float64)
    down64 = np.asarray(down, dtype=np.float64)
    q_up, r_up = np.linalg.qr(up64)
    q_down, r_down = np.linalg.qr(down64.T)
    core_u, s, core_vt = np.linalg.svd(r_up @ r_down.T)
    return q_up @ core_u, s, core_vt @ q_down.T


def resize_module(up: np.ndarray, down: np.ndarray, alpha: float | None, rank: int, method: str | None = None,
                  param: float | None = None, backend=None) -> ModuleResize:
    """Resize one module given 2-D up (out x r) and down (r x in) as sd-scripts does, but via the r x r core."""
    out_size, old_rank = up.shape
    in_size = down.shape[1]
    u, s, vt = low_rank_svd(up, down, backend)
    full_length = min(out_size, in_size)
    s_full = np.zeros(full_length, dtype=np.float64)
    s_full[: min(len(s), full_length)] = s[:full_length]
    new_rank = min(choose_rank(s_full, rank, method, param), full_length)
    kept = min(new_rank, len(s))
    new_up = np.zeros((out_size, new_rank), dtype=np.float64)
    new_down = np.zeros((new_rank, in_size), dtype=np.float64)
    new_up[:, :kept] = u[:, :kept] * s[:kept]
    new_down[:kept] = vt[:kept]
    squared = s_full ** 2
    total_sq = float(squared.sum())
    kept_sq = float(squared[:new_rank].sum())
    total_abs = float(np.abs(s_full).sum())
    fro = math.sqrt(kept_sq / total_sq) if total_sq > 0 else float("nan")
    summed = float(np.abs(s_full[:new_rank]).sum()) / total_abs if total_abs > 0 else float("nan")
    scale = (alpha / old_rank) if alpha is not None else 1.0
    return ModuleResize(
        up=new_up, down=new_down, old_rank=old_rank, new_rank=new_rank,
        new_alpha=new_alpha_for(alpha, old_rank, new_rank), fro_retained=fro, sum_retained=summed,
        energy_total=total_sq * scale * scale, energy_kept=kept_sq * scale * scale,
    )


class TorchBackend:
    """The same QR + core SVD with torch on a device (``--device cuda``); needs the `torch` extra."""

    def __init__(self, device: str) -> None:
        try:
            import torch
        except ImportError:
            raise LoraError("--device cuda needs PyTorch: install the `torch` extra (pip install torch)") from None
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise LoraError("--device cuda: PyTorch sees no CUDA device on this machine")
        self.torch = torch
        self.device = torch.device(device)

    def low_rank_svd(self, up: np.ndarray, down: np.ndarray):
        """QR of both factors in float32 on the device, SVD of the small core in float64."""
        torch = self.torch
        up_t = torch.from_numpy(np.ascontiguousarray(up, dtype=np.float32)).to(self.device)
        down_t = torch.from_numpy(np.ascontiguousarray(down, dtype=np.float32)).to(self.device)
        q_up, r_up = torch.linalg.qr(up_t)
        q_down, r_down = torch.linalg.qr(down_t.T)
        core = (r_up.double() @ r_down.double().T)
        core_u, s, core_vt = torch.linalg.svd(core)
        u = (q_up.double() @ core_u).cpu().numpy()
        vt = (core_vt @ q_down.double().T).cpu().numpy()
        return u, s.cpu().numpy(), vt
