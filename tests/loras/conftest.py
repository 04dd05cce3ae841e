"""Tiny LoRA files written with safetensors, kohya key names, for the LoRA library tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from tests import fakehub
from tests.conftest import FIXTURES

REAL_LORA = FIXTURES / "loras" / "tinylora-sd15-dim4.safetensors"

# (module name, kind, out features, in features, rank, alpha)
DEFAULT_MODULES = [
    ("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q", "linear", 48, 40, 8, 4.0),
    ("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_ff_net_2", "linear", 40, 96, 8, 4.0),
    ("lora_unet_down_blocks_0_resnets_0_conv1", "conv3x3", 24, 16, 8, 4.0),
    ("lora_unet_down_blocks_0_attentions_0_proj_in", "conv1x1", 40, 40, 8, 4.0),
    ("lora_te_text_model_encoder_layers_0_mlp_fc1", "linear", 64, 32, 8, 4.0),
]

KOHYA_METADATA = {
    "ss_network_module": "networks.lora",
    "ss_network_dim": "8",
    "ss_network_alpha": "4.0",
    "ss_base_model_version": "sdxl_base_v1-0",
    "modelspec.architecture": "stable-diffusion-xl-v1-base/lora",
    "modelspec.title": "mychar",
    "ss_steps": "1200",
    "ss_max_train_steps": "1200",
    "ss_epoch": "6",
    "ss_num_epochs": "6",
    "ss_learning_rate": "0.0001",
    "ss_unet_lr": "0.0001",
    "ss_text_encoder_lr": "5e-05",
    "ss_optimizer": "bitsandbytes.optim.adamw.AdamW8bit",
    "ss_lr_scheduler": "cosine",
    "ss_resolution": "(1024, 1024)",
    "ss_training_comment": "None",
    "ss_seed": "42",
    "ss_dataset_dirs": json.dumps({"10_mychar": {"n_repeats": 10, "img_count": 4},
                                   "2_background": {"n_repeats": 2, "img_count": 3}}),
    "ss_tag_frequency": json.dumps({
        "10_mychar": {"mychar": 4, "1girl": 4, "smile": 2, "red hair": 3},
        "2_background": {"scenery": 3, "sky": 1},
    }),
}


def make_lora(path: Path, modules=DEFAULT_MODULES, metadata: dict | None = None, seed: int = 0,
              dtype=np.float32, zero_modules=()) -> Path:
    """Write a kohya-style LoRA (lora_down / lora_up / alpha per module)."""
    rng = np.random.default_rng(seed)
    tensors = {}
    for name, kind, out_f, in_f, rank, alpha in modules:
        if kind == "linear":
            down = rng.standard_normal((rank, in_f))
            up = rng.standard_normal((out_f, rank))
        else:
            k = 3 if kind == "conv3x3" else 1
            down = rng.standard_normal((rank, in_f, k, k))
            up = rng.standard_normal((out_f, rank, 1, 1))
        if name in zero_modules:
            up = np.zeros_like(up)
        # decaying singular spectrum, like a trained LoRA
        scale = (0.7 ** np.arange(rank)).reshape((1, rank) + (1,) * (up.ndim - 2))
        tensors[f"{name}.lora_down.weight"] = (down * 0.1).astype(dtype)
        tensors[f"{name}.lora_up.weight"] = (up * scale * 0.05).astype(dtype)
        if alpha is not None:
            tensors[f"{name}.alpha"] = np.array(alpha, dtype=dtype)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=metadata)
    return path


@pytest.fixture
def lora_factory():
    """The `make_lora` helper."""
    return make_lora


@pytest.fixture
def kohya_metadata():
    """A copy of realistic sd-scripts metadata."""
    return dict(KOHYA_METADATA)


@pytest.fixture
def real_lora() -> Path:
    """A real sd-scripts output (tests/fixtures/loras; see the README there)."""
    assert REAL_LORA.is_file(), f"fixture missing: {REAL_LORA}"
    return REAL_LORA


# --- a local HTTP server speaking the Hub and Civitai endpoints loratui uses -------------------------------------


@pytest.fixture
def hub_server(monkeypatch, tmp_path_factory):
    """The fake Hub (tests/fakehub.py) on 127.0.0.1; env points loratui at it, the HF cache is a fresh folder."""
    import huggingface_hub.constants as hub_constants

    cache = tmp_path_factory.mktemp("hf-cache")
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))  # for loratui subprocesses
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)  # read once, at import, perhaps by another test
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    with fakehub.serve() as state:
        monkeypatch.setenv("HF_ENDPOINT", state.url)
        monkeypatch.setenv("LORATUI_CIVITAI_ENDPOINT", state.url)
        yield state
