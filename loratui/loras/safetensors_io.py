"""Reading and writing the safetensors format without a deep-learning framework.

A safetensors file is an 8-byte little-endian header length N, N bytes of JSON (tensor name -> dtype, shape,
data_offsets; plus an optional ``__metadata__`` dict of strings), then the raw tensor bytes. ``read_header``
reads only the header; ``read_tensors`` reads the bytes of the tensors asked for. Writing goes through the
safetensors library's own serializer so the bytes (and therefore sd-scripts' ``sshs_*`` hashes) are exactly
what sd-scripts would write.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from loratui.errors import LoraError, NotFoundError

MAX_HEADER_BYTES = 100 * 1024 * 1024
"""safetensors itself refuses headers above 100 MB."""

DTYPE_SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
               "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}
_NUMPY = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
          "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}


@dataclass(frozen=True)
class TensorInfo:
    """One tensor as the header describes it."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int

    @property
    def nbytes(self) -> int:
        """Bytes of data."""
        return self.end - self.start


@dataclass
class Header:
    """The parsed header of a safetensors file."""

    path: Path
    file_size: int
    header_size: int
    tensors: dict[str, TensorInfo]
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def data_start(self) -> int:
        """File offset of the first tensor byte."""
        return 8 + self.header_size


def read_header(path: str | os.PathLike) -> Header:
    """Parse the header of a safetensors file; LoraError for anything that is not one."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            return parse_header(handle, path, size)
    except FileNotFoundError:
        raise NotFoundError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise LoraError(f"{path} is a folder, not a safetensors file") from None
    except PermissionError:
        raise LoraError(f"{path}: permission denied") from None


def parse_header(handle: BinaryIO, path: Path, size: int) -> Header:
    """Parse the header from `handle` (at offset 0) of the `size`-byte file `path`; LoraError if it is none."""
    prefix = handle.read(8)
    if len(prefix) < 8:
        raise LoraError(f"{path.name}: truncated header (file is {size} bytes, not a safetensors file)")
    (length,) = struct.unpack("<Q", prefix)
    if length > size - 8:
        raise LoraError(f"{path.name}: header length {length} is larger than the file ({size} bytes); "
                        "the file is truncated or not a safetensors file")
    if length > MAX_HEADER_BYTES:
        raise LoraError(f"{path.name}: header of {length} bytes is too large")
    raw = handle.read(length)
    if len(raw) < length:
        raise LoraError(f"{path.name}: the header is cut short (the file shrank while it was read?)")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LoraError(f"{path.name}: the header is not valid JSON ({exc})") from None
    except RecursionError:
        raise LoraError(f"{path.name}: the header is nested too deeply to be a safetensors header") from None
    if not isinstance(data, dict):
        raise LoraError(f"{path.name}: the header is not a JSON object")
    metadata = data.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict):
        raise LoraError(f"{path.name}: __metadata__ is not a JSON object")
    metadata = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()}
    header = Header(path=path, file_size=size, header_size=length, tensors={}, metadata=metadata)
    data_size = size - header.data_start
    for name, spec in data.items():
        header.tensors[name] = _tensor_info(path, name, spec, data_size)
    return header


def _tensor_info(path: Path, name: str, spec, data_size: int) -> TensorInfo:
    try:
        dtype = str(spec["dtype"])
        shape = tuple(int(d) for d in spec["shape"])
        start, end = (int(o) for o in spec["data_offsets"])
    except (TypeError, KeyError, ValueError):
        raise LoraError(f"{path.name}: tensor {name!r} has a malformed header entry") from None
    if not 0 <= start <= end <= data_size:
        raise LoraError(f"{path.name}: tensor {name!r} lies outside the file (truncated download?)")
    count = 1
    for dim in shape:
        count *= dim
    if dtype in DTYPE_SIZES and count * DTYPE_SIZES[dtype] != end - start:
        raise LoraError(f"{path.name}: tensor {name!r} size does not match its shape and dtype")
    return TensorInfo(name, dtype, shape, start, end)


def bf16_to_float32(bits: np.ndarray) -> np.ndarray:
    """bfloat16 bit patterns (uint16) to float32."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


def float32_to_bf16(values: np.ndarray) -> np.ndarray:
    """float32 to bfloat16 bit patterns (uint16), rounding to nearest even as torch does."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    rounding = ((bits >> 16) & 1) + 0x7FFF
    out = ((bits + rounding) >> 16).astype(np.uint16)
    nan = np.isnan(values)
    if nan.any():
        out[nan] = 0x7FC0
    return out


def read_tensors(header: Header, names: list[str] | None = None) -> dict[str, np.ndarray]:
    """Read tensors (all, or those named) as numpy arrays; BF16 comes back as float32."""
    wanted = list(header.tensors) if names is None else names
    out: dict[str, np.ndarray] = {}
    with open(header.path, "rb") as handle:
        for name in wanted:
            info = header.tensors[name]
            handle.seek(header.data_start + info.start)
            raw = handle.read(info.nbytes)
            if len(raw) != info.nbytes:
                raise LoraError(f"{header.path.name}: tensor {name!r} is truncated")
            out[name] = decode_tensor(info, raw)
    return out


def decode_tensor(info: TensorInfo, raw: bytes) -> np.ndarray:
    """Turn the raw bytes of one tensor into a numpy array."""
    if info.dtype == "BF16":
        return bf16_to_float32(np.frombuffer(raw, dtype="<u2")).reshape(info.shape)
    if info.dtype not in _NUMPY:
        raise LoraError(f"tensor {info.name!r} has dtype {info.dtype}, which loratui cannot read")
    return np.frombuffer(raw, dtype=np.dtype(_NUMPY[info.dtype]).newbyteorder("<")).reshape(info.shape)


@dataclass
class OutTensor:
    """A tensor ready to be written: safetensors dtype name plus little-endian bytes."""

    dtype: str
    shape: tuple[int, ...]
    array: np.ndarray  # contiguous; for BF16 the uint16 bit patterns


def encode_tensor(values: np.ndarray, precision: str) -> OutTensor:
    """Cast a float array to `precision` (float, fp16, bf16) for writing."""
    values = np.asarray(values)
    if precision == "bf16":
        return OutTensor("BF16", values.shape, float32_to_bf16(values.astype(np.float32)).astype("<u2"))
    dtype, np_dtype = {"float": ("F32", "<f4"), "fp16": ("F16", "<f2")}[precision]
    return OutTensor(dtype, values.shape, np.ascontiguousarray(values.astype(np_dtype)))


_SERIALIZE_DTYPES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "F64": "float64", "I64": "int64",
                     "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool"}


def serialize(tensors: dict[str, OutTensor], metadata: dict[str, str] | None) -> bytes:
    """The exact bytes the safetensors library writes for these tensors and metadata."""
    import safetensors

    keep = []
    flat = {}
    for name, tensor in tensors.items():
        array = np.ascontiguousarray(tensor.array)
        keep.append(array)
        dtype = _SERIALIZE_DTYPES[tensor.dtype]
        if hasattr(safetensors, "TensorSpec"):
            flat[name] = safetensors.TensorSpec(dtype=dtype, shape=list(tensor.shape), data_ptr=array.ctypes.data,
                                                data_len=array.nbytes)
        else:  # safetensors < 0.8 takes dicts with the bytes
            flat[name] = {"dtype": dtype, "shape": list(tensor.shape), "data": array.tobytes()}
    return bytes(safetensors.serialize(flat, metadata=metadata))
