"""An onnxruntime session for a tagger (WD14, Camie, PixAI: ``formats``), with a deliberate choice of execution
provider.

onnxruntime's native logger writes straight to file descriptor 2 (a red error when the CUDA provider cannot load
its libraries), which would corrupt a TUI. We raise its severity to fatal-only and instead inspect which
provider the session really got, and say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from loratui.errors import InputError, ModelError
from loratui.tagging.formats import WD14, TaggerFormat, tagger_format

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
    output_name: str | None = None
    """The output holding the scores (None: the first)."""
    sigmoid: bool = False
    """The output holds logits (Camie)."""

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
        """Scores [n, tags] in 0..1 for a float32 batch in the model's layout (padded to a fixed batch size if
        needed)."""
        count = batch.shape[0]
        if self.fixed_batch and count != self.fixed_batch:
            padded = np.zeros((self.fixed_batch, *batch.shape[1:]), dtype=np.float32)
            padded[:count] = batch
            batch = padded
        names = [self.output_name] if self.output_name else None
        output = np.asarray(self.session.run(names, {self.input_name: batch})[0][:count], dtype=np.float32)
        if self.sigmoid:
            output = 1.0 / (1.0 + np.exp(-np.clip(output, -60.0, 60.0)))
        return output


def available_providers() -> list[str]:
    """Providers this onnxruntime build offers (offering CUDA does not mean CUDA can start)."""
    return list(quiet_onnxruntime().get_available_providers())


def open_session(model_path: Path, device: str = "auto", threads: int = 0, device_id: int | None = None,
                 fmt: str = "wd14") -> TaggerSession:
    """Load `model_path` on `device` ('auto': CUDA when it really starts, else CPU; 'cuda'; 'cpu'), checking its
    input against the tagger format `fmt`; with CUDA, on GPU `device_id` (the CUDA provider's default, GPU 0, when
    None)."""
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
    spec = tagger_format(fmt)
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise ModelError(f"{model_path} has {len(inputs)} inputs; a {spec.label} has one")
    size = _input_size(inputs[0].shape, spec)
    if size is None:
        wanted = "[batch, size, size, 3]" if spec.layout == "NHWC" else "[batch, 3, size, size]"
        raise ModelError(f"{model_path} takes input {inputs[0].shape}; a {spec.label} takes {wanted}")
    shape = inputs[0].shape
    fixed = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None
    outputs = [o.name for o in session.get_outputs()]
    if spec.output is not None and spec.output not in outputs:
        raise ModelError(f"{model_path} has no output {spec.output!r} (it has {', '.join(outputs)}); is it a "
                         f"{spec.label}?")
    return TaggerSession(session, inputs[0].name, size, fixed, provider, note, spec.output, spec.sigmoid)


def _input_size(shape: list, spec: TaggerFormat) -> int | None:
    """The square input size of a [batch, H, W, 3] (NHWC) or [batch, 3, H, W] (NCHW) input; the format's size
    when H and W are symbolic; None for any other shape."""
    if len(shape) != 4:
        return None
    channels, height, width = (shape[3], shape[1], shape[2]) if spec.layout == "NHWC" else shape[1:]
    if channels != 3:
        return None
    if isinstance(height, int) and isinstance(width, int):
        return height if height == width and height > 0 else None
    if spec is WD14:  # sd-scripts reads the size from the model: a WD14 model always states it
        return None
    return spec.default_size
