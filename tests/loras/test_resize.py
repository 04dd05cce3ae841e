"""Resize checked against a direct full-matrix SVD of up @ down (the way sd-scripts' resize_lora.py works)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from safetensors.numpy import load_file, save

from loratui.errors import InputError, LoraError
from loratui.loras.inspect import inspect_file
from loratui.loras.resize import ResizeOptions, resize_file, run_resize_job
from loratui.loras.safetensors_io import read_header, read_tensors


def _merged(tensors, name):
    """alpha/rank-scaled delta weight of one module as a 2-D matrix."""
    down = tensors[f"{name}.lora_down.weight"].astype(np.float64)
    up = tensors[f"{name}.lora_up.weight"].astype(np.float64)
    rank = down.shape[0]
    alpha = float(tensors[f"{name}.alpha"]) if f"{name}.alpha" in tensors else rank
    return up.reshape(up.shape[0], -1) @ down.reshape(rank, -1) * (alpha / rank)


def _reference(tensors, name, rank):
    """Full-matrix SVD of up @ down, truncated to `rank`, with upstream's alpha rescale (scale kept)."""
    down = tensors[f"{name}.lora_down.weight"].astype(np.float64)
    up = tensors[f"{name}.lora_up.weight"].astype(np.float64)
    old_rank = down.shape[0]
    full = up.reshape(up.shape[0], -1) @ down.reshape(old_rank, -1)
    u, s, vt = np.linalg.svd(full, full_matrices=False)
    scale = float(tensors[f"{name}.alpha"]) / old_rank
    return (u[:, :rank] * s[:rank]) @ vt[:rank] * scale, s


def _rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def test_fixed_rank_matches_full_svd(tmp_path, lora_factory, kohya_metadata):
    src = lora_factory(tmp_path / "a.safetensors", metadata=kohya_metadata)
    out = tmp_path / "a-r3.safetensors"
    report = resize_file(src, out, ResizeOptions(rank=3))
    before, after = load_file(str(src)), load_file(str(out))
    retained_sq = total_sq = 0.0
    for module in report.modules:
        expected, s = _reference(before, module.name, 3)
        assert _rel(_merged(after, module.name), expected) < 1e-5
        assert after[f"{module.name}.lora_down.weight"].shape[0] == 3
        assert float(after[f"{module.name}.alpha"]) == pytest.approx(4.0 / 8 * 3)
        assert module.fro_retained == pytest.approx(np.sqrt((s[:3] ** 2).sum() / (s ** 2).sum()), rel=1e-6)
        retained_sq += (s[:3] ** 2).sum() * 0.25
        total_sq += (s ** 2).sum() * 0.25
    assert report.energy_retained == pytest.approx(np.sqrt(retained_sq / total_sq), rel=1e-6)
    conv = "lora_unet_down_blocks_0_resnets_0_conv1"
    assert after[f"{conv}.lora_down.weight"].shape == (3, 16, 3, 3)
    assert after[f"{conv}.lora_up.weight"].shape == (24, 3, 1, 1)
    meta = read_header(out).metadata
    assert meta["ss_network_dim"] == "3" and meta["ss_network_alpha"] == "1.5"
    assert meta["ss_training_comment"] == "dimension is resized from 8 to 3; None"
    assert meta["ss_learning_rate"] == "0.0001"  # the rest is kept


def test_hashes_are_sd_scripts_hashes(tmp_path, lora_factory, kohya_metadata):
    """sshs_model_hash: sha256 of the tensor bytes; legacy: sha256 of bytes 1 MiB..1 MiB+64 KiB of the file
    written with only the ss_* metadata. Recomputed here with safetensors' own numpy writer."""
    modules = [(f"lora_unet_block_{i}", "linear", 512, 512, 8, 4.0) for i in range(80)]
    src = lora_factory(tmp_path / "big.safetensors", modules=modules, metadata=kohya_metadata)
    out = tmp_path / "big-r4.safetensors"
    resize_file(src, out, ResizeOptions(rank=4))
    meta = read_header(out).metadata
    tensors = load_file(str(out))
    data = save(tensors, {k: v for k, v in meta.items() if k.startswith("ss_")})
    assert len(data) > 0x110000
    n = int.from_bytes(data[:8], "little")
    assert meta["sshs_model_hash"] == hashlib.sha256(data[8 + n:]).hexdigest()
    assert meta["sshs_legacy_hash"] == hashlib.sha256(data[0x100000:0x110000]).hexdigest()[:8]


def _upstream_rule(s, method, param, cap):
    """sd-scripts' rank rules written out from its source, on the full singular value list."""
    s = s.astype(np.float32)
    n = len(s)
    if method == "sv_ratio":
        index = int(np.sum(s > s[0] / param))
    elif method == "sv_cumulative":
        index = int(np.searchsorted(np.cumsum(s) / s.sum(), param)) + 1
    else:
        index = int(np.searchsorted(np.cumsum(s ** 2) / (s ** 2).sum(), param ** 2)) + 1
    rank = max(1, min(index, n - 1)) + 1
    return min(rank, cap)


@pytest.mark.parametrize("method,param", [("sv_ratio", 4.0), ("sv_fro", 0.9), ("sv_cumulative", 0.7)])
def test_dynamic_methods_match_upstream_rules(tmp_path, lora_factory, method, param):
    src = lora_factory(tmp_path / "d.safetensors", metadata={"ss_training_comment": "first"})
    out = tmp_path / "d-dyn.safetensors"
    report = resize_file(src, out, ResizeOptions(rank=6, dynamic=method, param=param))
    before, after = load_file(str(src)), load_file(str(out))
    ranks = set()
    for module in report.modules:
        _, s = _reference(before, module.name, 1)
        full = np.zeros(min(_merged(before, module.name).shape))
        full[: len(s)] = s[: len(full)]
        expected_rank = _upstream_rule(full, method, param, 6)
        assert module.new_rank == expected_rank
        expected, _ = _reference(before, module.name, expected_rank)
        assert _rel(_merged(after, module.name), expected) < 1e-5
        assert float(after[f"{module.name}.alpha"]) == pytest.approx(4.0 / 8 * expected_rank)
        ranks.add(expected_rank)
    meta = read_header(out).metadata
    assert meta["ss_network_dim"] == "Dynamic" and meta["ss_network_alpha"] == "Dynamic"
    assert meta["ss_training_comment"] == f"Dynamic resize with {method}: {param} from 8; first"


def test_conv_rank_and_precision(tmp_path, lora_factory):
    src = lora_factory(tmp_path / "c.safetensors")
    out = tmp_path / "c-small.safetensors"
    resize_file(src, out, ResizeOptions(rank=4, conv_rank=2, precision="fp16"))
    header = read_header(out)
    assert {t.dtype for t in header.tensors.values()} == {"F16"}
    assert header.metadata["ss_training_comment"] == "dimension is resized from 8 to 4 (conv: 2); "
    info = inspect_file(out)
    ranks = {m.kind: m.rank for m in info.modules}
    assert ranks == {"linear": 4, "conv3x3": 2, "conv1x1": 2}
    out_bf = tmp_path / "c-bf.safetensors"
    resize_file(src, out_bf, ResizeOptions(rank=4, precision="bf16"))
    header = read_header(out_bf)
    assert {t.dtype for t in header.tensors.values()} == {"BF16"}
    before, after = load_file(str(src)), read_tensors(header)
    name = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q"
    expected, _ = _reference(before, name, 4)
    assert _rel(_merged(after, name), expected) < 2e-2  # bf16 keeps ~3 significant digits


def test_zero_module_becomes_rank_one(tmp_path, lora_factory):
    name = "lora_unet_down_blocks_0_resnets_0_conv1"
    src = lora_factory(tmp_path / "z.safetensors", zero_modules=(name,))
    report = resize_file(src, tmp_path / "z2.safetensors", ResizeOptions(rank=4, dynamic="sv_fro", param=0.9))
    assert next(m for m in report.modules if m.name == name).new_rank == 1


def test_larger_rank_keeps_the_product(tmp_path, lora_factory):
    src = lora_factory(tmp_path / "g.safetensors")
    out = tmp_path / "g16.safetensors"
    resize_file(src, out, ResizeOptions(rank=12))
    before, after = load_file(str(src)), load_file(str(out))
    for name in {k.rsplit(".", 2)[0] for k in before if k.endswith("lora_down.weight")}:
        assert _rel(_merged(after, name), _merged(before, name)) < 1e-5


def test_bad_requests(tmp_path, lora_factory):
    src = lora_factory(tmp_path / "b.safetensors")
    with pytest.raises(InputError, match="overwrite"):
        resize_file(src, src, ResizeOptions(rank=2))
    existing = tmp_path / "keep.safetensors"
    existing.write_bytes(b"precious")
    with pytest.raises(InputError, match="already exists"):
        resize_file(src, existing, ResizeOptions(rank=2))
    assert existing.read_bytes() == b"precious"
    resize_file(src, existing, ResizeOptions(rank=2), overwrite=True)
    assert existing.read_bytes() != b"precious"
    with pytest.raises(InputError, match="--param"):
        resize_file(src, tmp_path / "o.safetensors", ResizeOptions(rank=2, dynamic="sv_fro"))
    with pytest.raises(InputError, match="precision"):
        resize_file(src, tmp_path / "o.safetensors", ResizeOptions(rank=2, precision="int8"))
    not_lora = tmp_path / "model.safetensors"
    from safetensors.numpy import save_file

    save_file({"w": np.zeros(3, np.float32)}, str(not_lora))
    with pytest.raises(LoraError, match="not a LoRA"):
        resize_file(not_lora, tmp_path / "o.safetensors", ResizeOptions(rank=2))
    assert not (tmp_path / "o.safetensors").exists()


async def test_resize_runs_as_a_job(tmp_path, lora_factory):
    from loratui.jobs.repo import get_job
    from loratui.store import Store

    src = lora_factory(tmp_path / "j.safetensors")
    seen = []
    async with Store.open(tmp_path / "db.sqlite") as store:
        job_id, report = await run_resize_job(store, src, None, ResizeOptions(rank=2),
                                              progress=lambda done, total, name: seen.append((done, total)))
        job = await store.run(get_job, job_id)
    assert job.kind == "resize" and job.status.value == "completed"
    assert job.progress_total == 5 and job.progress_done == 5
    assert job.output == str(tmp_path / "j-r2.safetensors") and (tmp_path / "j-r2.safetensors").exists()
    assert seen[-1] == (5, 5)
    assert "energy retained" in job.message


def test_cuda_device_needs_torch_with_cuda(tmp_path, lora_factory):
    """--device cuda runs the same QR + core SVD in PyTorch; without torch or a GPU it is a clear error."""
    src = lora_factory(tmp_path / "cu.safetensors")
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if not has_cuda:
        with pytest.raises(LoraError, match="torch|CUDA"):
            resize_file(src, tmp_path / "cu2.safetensors", ResizeOptions(rank=3, device="cuda"))
        return
    report = resize_file(src, tmp_path / "cu2.safetensors", ResizeOptions(rank=3, device="cuda"))
    before, after = load_file(str(src)), load_file(str(tmp_path / "cu2.safetensors"))
    for module in report.modules:
        expected, _ = _reference(before, module.name, 3)
        assert _rel(_merged(after, module.name), expected) < 1e-4
