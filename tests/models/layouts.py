"""Stand-in model files built from the real key layouts in tests/fixtures/model-keys/.

A `.keys` file (see its README) lists every tensor of a real model file with its shape and dtype. A stand-in
checkpoint has exactly that safetensors header; its data section is a hole (the file is extended with
``truncate``), so a 40 GB DiT takes a few kilobytes of disk and the header is byte-for-byte valid: offsets,
sizes and dtypes agree as the safetensors library requires. LoRA stand-ins are small enough to be written for
real with the safetensors library.
"""

from __future__ import annotations

import itertools
import json
import re
import struct
from pathlib import Path

import numpy as np

KEYS = Path(__file__).resolve().parents[1] / "fixtures" / "model-keys"
_RANGE = re.compile(r"\{(\d+)\.\.(\d+)\}")
_SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "F8_E4M3": 1, "F8_E5M2": 1, "U8": 1}

Layout = dict[str, tuple[tuple[int, ...], str]]


def load(name: str) -> Layout:
    """The layout of tests/fixtures/model-keys/NAME.keys: {tensor name: (shape, dtype)}."""
    layout: Layout = {}
    dtype = "F32"
    for line in (KEYS / f"{name}.keys").read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        if line.startswith("@dtype "):
            dtype = line.split()[1]
            continue
        parts = line.split()
        pattern, shape_text = parts[0], parts[1]
        shape = () if shape_text == "-" else tuple(int(d) for d in shape_text.split(","))
        ranges = [range(int(a), int(b) + 1) for a, b in _RANGE.findall(pattern)]
        template = _RANGE.sub("{}", pattern)
        for combo in itertools.product(*ranges):
            layout[template.format(*combo)] = (shape, parts[2] if len(parts) > 2 else dtype)
    return layout


def sd2_text_encoder() -> Layout:
    """The SD 2.x text encoder as transformers' CLIPTextModel saves it (diffusers `text_encoder/`): the CLIP-L
    layout at sd-scripts' v2 config (width 1024, MLP 4096, 23 layers)."""
    def grow(shape):
        return tuple({768: 1024, 3072: 4096}.get(d, d) for d in shape)
    clip = load("clip_l")
    layout = {name: (grow(shape), dtype) for name, (shape, dtype) in clip.items() if ".layers." not in name}
    for name, (shape, dtype) in clip.items():
        if ".layers.0." in name:
            for index in range(23):
                layout[name.replace(".layers.0.", f".layers.{index}.")] = (grow(shape), dtype)
    return layout


def prefixed(layout: Layout, prefix: str) -> Layout:
    """The layout with `prefix` before every name (a component of a single-file checkpoint)."""
    return {prefix + name: spec for name, spec in layout.items()}


def write_standin(path: Path, layout: Layout, metadata: dict[str, str] | None = None) -> Path:
    """A safetensors file with exactly this header and a sparse (all-zero, unallocated) data section."""
    header: dict = {"__metadata__": metadata} if metadata else {}
    offset = 0
    for name, (shape, dtype) in layout.items():
        size = _SIZES[dtype] * int(np.prod(shape, dtype=np.int64)) if shape else _SIZES[dtype]
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as handle:
        handle.write(struct.pack("<Q", len(raw)) + raw)
        handle.truncate(8 + len(raw) + offset)
    return path


def lora_layout(layout: Layout, *, rank: int = 4, match: str = r"(blocks|layers)\.\d+\.", strip: str = "",
                naming: str = "kohya", prefix: str = "lora_unet_") -> dict[str, np.ndarray]:
    """Tiny LoRA tensors for every 2-D weight of `layout` whose name matches `match` (after `strip`).

    naming 'kohya': ``PREFIX + path_with_underscores + .lora_down.weight/.lora_up.weight/.alpha``;
    'peft': ``PREFIX + path + .lora_A.weight/.lora_B.weight`` (diffusers, ComfyUI, musubi's converted files).
    """
    tensors: dict[str, np.ndarray] = {}
    for name, (shape, _dtype) in layout.items():
        if not name.startswith(strip) or not name.endswith(".weight") or len(shape) != 2:
            continue
        path = name[len(strip):-len(".weight")]
        if not re.search(match, path):
            continue
        out_features, in_features = shape
        if naming == "kohya":
            base = prefix + path.replace(".", "_")
            tensors[f"{base}.lora_down.weight"] = np.zeros((rank, in_features), np.float16)
            tensors[f"{base}.lora_up.weight"] = np.zeros((out_features, rank), np.float16)
            tensors[f"{base}.alpha"] = np.array(float(rank), np.float16)
        else:
            tensors[f"{prefix}{path}.lora_A.weight"] = np.zeros((rank, in_features), np.float16)
            tensors[f"{prefix}{path}.lora_B.weight"] = np.zeros((out_features, rank), np.float16)
    assert tensors, f"no layer of the layout matches {match!r}"
    return tensors


def write_lora(path: Path, tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> Path:
    """Write a LoRA stand-in with the safetensors library."""
    from safetensors.numpy import save_file

    save_file(tensors, str(path), metadata=metadata)
    return path
