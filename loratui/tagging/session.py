"""An onnxruntime session for a WD14 model, with a deliberate choice of execution provider.

onnxruntime's native logger writes straight to file descriptor 2 (a red error when the CUDA provider cannot load
its libraries), which would corrupt a TUI. We raise its severity to fatal-only and instead inspect which
provider the session really got, and say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from loratui.errors import InputError, ModelError

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
_FATAL_ONLY = 4


def quiet_onnxruntime():
    """Import onnxruntime with its default logger limited to fatal messages; returns the module."""
    import onnxruntime as ort

    ort.set_default_logger_severity(_FATAL_ONLY)
    return ort


@dataclass
class TaggerSession:
    """A loaded model: run(batch) -> scores."""

    session: object
    input_name: str
    size: int
    fixed_batch: int | None
    provider: str
    note: str = ""
    """Why the provider differs from what was asked (e.g. CUDA libraries missing)."""

    @property
    def device(self) -> str:
        """'cuda' or 'cpu'."""
        return "cuda" if self.provider == CUDA else "cpu"

    def default_batch(self) -> int:
        """The model's fixed batch size, else a size that suits the device."""
        if self.fixed_batch:
            return self.fixed_batch
        return 32 if self.device == "cuda" else 4

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Scores [n, tags] for a float32 [n, size, size, 3] batch (padded to a fixed batch size if needed)."""
        count = batch.shape[0]
        if self.fixed_batch and count != self.fixed_batch:
            padded = np.zeros((self.fixed_batch, *batch.shape[1:]), dtype=np.float32)
            padded[:count] = batch
            batch = padded
        output = self.session.run(None, {self.input_name: batch})[0]
        return np.asarray(output[:count], dtype=np.float32)


def available_providers() -> list[str]:
    """Providers this onnxruntime build offers (offering CUDA does not mean CUDA can start)."""
    return list(quiet_onnxruntime().get_available_providers())


def open_session(model_path: Path, device: str = "auto", threads: int = 0, device_id: int | None = None
                 ) -> TaggerSession:
    """Load `model_path` on `device` ('auto': CUDA when it really starts, else CPU; 'cuda'; 'cpu'); with CUDA,
    on GPU `device_id` (the CUDA provider's default, GPU 0, when None)."""
    if device not in ("auto", "cuda", "cpu"):
        raise InputError(f"device must be auto, cuda or cpu, got {device!r}")
    ort = quiet_onnxruntime()
    options = ort.SessionOptions()
    options.log_severity_level = _FATAL_ONLY
    if threads:
        options.intra_op_num_threads = threads
    # onnxruntime's idle worker threads spin by default, taking CPU from the decoding threads that run beside
    # them; waiting instead costs the model almost nothing and lets decoding use the gaps.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    offered = ort.get_available_providers()
    want_cuda = device in ("auto", "cuda") and CUDA in offered
    if device == "cuda" and CUDA not in offered:
        raise ModelError("this onnxruntime has no CUDA provider", hint="pip install 'onnxruntime-gpu[cuda,cudnn]'")
    cuda = (CUDA, {"device_id": device_id}) if device_id is not None else CUDA
    providers = [cuda, CPU] if want_cuda else [CPU]
    try:
        session = ort.InferenceSession(str(model_path), options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own exception types for bad files
        raise ModelError(f"cannot load {model_path}: {type(exc).__name__}: {exc}") from None
    provider = session.get_providers()[0]
    note = ""
    if want_cuda and provider != CUDA:
        note = ("CUDA provider could not start (CUDA 13 / cuDNN 9 libraries not found?); running on CPU. "
                "`pip install 'onnxruntime-gpu[cuda,cudnn]'` brings them")
        if device == "cuda":
            raise ModelError(note)
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise ModelError(f"{model_path} has {len(inputs)} inputs; a WD14 tagger has one")
    shape = inputs[0].shape
    if len(shape) != 4 or shape[3] != 3 or not isinstance(shape[1], int) or shape[1] != shape[2]:
        raise ModelError(f"{model_path} takes input {shape}; a WD14 tagger takes [batch, size, size, 3]")
    fixed = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None
    return TaggerSession(session, inputs[0].name, int(shape[1]), fixed, provider, note)
