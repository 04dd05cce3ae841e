"""Reading LoRA headers: modules, rank/alpha, metadata summary, and clear errors for bad files."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from safetensors.numpy import save_file

from loratui.errors import LoraError, NotFoundError
from loratui.loras.inspect import inspect_file


def test_kohya_lora_with_metadata(tmp_path, lora_factory, kohya_metadata):
    path = lora_factory(tmp_path / "mychar.safetensors", metadata=kohya_metadata)
    info = inspect_file(path)
    assert info.tensor_count == 15
    assert len(info.modules) == 5
    kinds = {m.kind for m in info.modules}
    assert kinds == {"linear", "conv3x3", "conv1x1"}
    assert info.dim == 8 and info.alpha == 4.0 and info.ranks == {8: 5}
    conv = next(m for m in info.modules if m.kind == "conv3x3")
    assert (conv.in_features, conv.out_features) == (16 * 9, 24)
    assert info.base_model == "sdxl_base_v1-0"
    assert info.network_module == "networks.lora"
    s = info.summary
    assert s.architecture == "stable-diffusion-xl-v1-base/lora"
    assert (s.steps, s.num_epochs, s.learning_rate, s.text_encoder_lr) == (1200, 6, 1e-4, 5e-5)
    assert s.optimizer.endswith("AdamW8bit") and s.resolution == "1024x1024"
    assert [(d.name, d.repeats, d.images) for d in s.dataset_dirs] == [("10_mychar", 10, 4), ("2_background", 2, 3)]
    assert s.top_tags(2) == [("1girl", 4), ("mychar", 4)]
    # the folder concept first, then tags present in every image of a folder
    assert s.trigger_words[0] == "mychar"
    assert "1girl" in s.trigger_words and "scenery" in s.trigger_words and "smile" not in s.trigger_words
    assert s.training_comment is None  # sd-scripts writes the string "None"


def test_lora_without_metadata(tmp_path, lora_factory):
    path = lora_factory(tmp_path / "bare.safetensors", metadata=None)
    info = inspect_file(path)
    assert info.metadata == {}
    assert info.dim == 8 and info.base_model is None and info.summary.trigger_words == []
    assert info.network_module == "lora"  # known from the key names only


def test_module_without_alpha_and_mixed_ranks(tmp_path, lora_factory):
    modules = [("lora_unet_a", "linear", 8, 8, 4, None), ("lora_unet_b", "linear", 8, 8, 2, 1.0),
               ("lora_unet_c", "linear", 8, 8, 2, 1.0)]
    info = inspect_file(lora_factory(tmp_path / "m.safetensors", modules=modules))
    assert info.ranks == {2: 2, 4: 1}
    assert info.dim == 2 and info.alpha == 1.0
    assert next(m for m in info.modules if m.name == "lora_unet_a").alpha is None


def test_peft_key_names(tmp_path):
    tensors = {"base.layers.0.q.lora_A.weight": np.zeros((4, 16), np.float32),
               "base.layers.0.q.lora_B.weight": np.zeros((8, 4), np.float32)}
    save_file(tensors, str(tmp_path / "peft.safetensors"))
    info = inspect_file(tmp_path / "peft.safetensors")
    assert [(m.name, m.rank) for m in info.modules] == [("base.layers.0.q", 4)]


def test_real_sd_scripts_output(real_lora):
    info = inspect_file(real_lora)
    assert info.tensor_count == 612 and len(info.modules) == 204
    assert info.dim == 4 and info.alpha == 1.0
    assert info.base_model == "sd_v1"
    assert info.summary.architecture == "stable-diffusion-v1/lora"
    assert info.summary.steps == 4 and info.summary.optimizer == "torch.optim.adamw.AdamW"
    assert info.summary.resolution == "64x64"
    assert [(d.name, d.repeats, d.images) for d in info.summary.dataset_dirs] == [("10_tinyconcept", 10, 8)]
    assert info.summary.trigger_words[0] == "tinyconcept"
    assert sum(1 for m in info.modules if m.name.startswith("lora_te_")) == 12


def _write_raw(path, data: bytes):
    path.write_bytes(data)
    return path


def test_truncated_header(tmp_path):
    path = _write_raw(tmp_path / "t.safetensors", b"\x10\x00\x00")
    with pytest.raises(LoraError, match="truncated header"):
        inspect_file(path)


def test_header_length_larger_than_file(tmp_path):
    path = _write_raw(tmp_path / "big.safetensors", struct.pack("<Q", 10_000) + b'{"a": 1}')
    with pytest.raises(LoraError, match="larger than the file"):
        inspect_file(path)


def test_non_json_header(tmp_path):
    body = b"this is not json!"
    path = _write_raw(tmp_path / "nj.safetensors", struct.pack("<Q", len(body)) + body)
    with pytest.raises(LoraError, match="not valid JSON"):
        inspect_file(path)


def test_non_json_metadata_values_are_tolerated_but_non_object_is_not(tmp_path):
    header = json.dumps({"__metadata__": ["x"]}).encode()
    path = _write_raw(tmp_path / "m.safetensors", struct.pack("<Q", len(header)) + header)
    with pytest.raises(LoraError, match="__metadata__"):
        inspect_file(path)


def test_tensor_outside_file(tmp_path):
    header = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode()
    path = _write_raw(tmp_path / "cut.safetensors", struct.pack("<Q", len(header)) + header + b"\0" * 8)
    with pytest.raises(LoraError, match="outside the file"):
        inspect_file(path)


def test_non_lora_safetensors(tmp_path):
    save_file({"model.diffusion_model.input_blocks.0.0.weight": np.zeros((4, 4), np.float32)},
              str(tmp_path / "base.safetensors"))
    with pytest.raises(LoraError, match="not a LoRA"):
        inspect_file(tmp_path / "base.safetensors")


def test_missing_file(tmp_path):
    with pytest.raises(NotFoundError):
        inspect_file(tmp_path / "nope.safetensors")


def test_header_only_is_read(tmp_path, lora_factory, monkeypatch):
    """Weights are never read: corrupting every weight byte changes nothing."""
    path = lora_factory(tmp_path / "x.safetensors", metadata={"ss_network_dim": "8"})
    before = inspect_file(path)
    data = bytearray(path.read_bytes())
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    for name, spec in header.items():
        if name.endswith(".weight"):
            start, end = spec["data_offsets"]
            data[8 + n + start:8 + n + end] = b"\xff" * (end - start)
    path.write_bytes(bytes(data))
    after = inspect_file(path)
    assert [(m.name, m.rank, m.alpha) for m in after.modules] == [(m.name, m.rank, m.alpha) for m in before.modules]
