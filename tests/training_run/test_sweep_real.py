"""Checkpoint sweeps through the real inference scripts (optional; markers `kohya` and `musubi`).

kohya: a tiny SD1.5 LoRA trained for 3 epochs with ``save_every_n_epochs = 1`` leaves 3 checkpoints
(``tiny-000001``, ``tiny-000002``, ``tiny``); ``loratui lora sweep`` of 2 prompts x 2 seeds then renders 12 images
with the LoRA and 4 baseline images through sd-scripts' real ``gen_img.py``, 4 script runs in all. Needs what
test_kohya_real.py needs (LORATUI_KOHYA_DIR, LORATUI_TINY_SD).

musubi: a Qwen-Image LoRA trained on the stand-ins of tools/standins/musubi (see test_musubi_real.py) is swept
through musubi-tuner's real ``qwen_image_generate_image.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from loratui.loras import sweep_manifest
from trhelpers import kill_job_processes, wait_status

KOHYA_DIR = os.environ.get("LORATUI_KOHYA_DIR", "")
KOHYA_PYTHON = os.environ.get("LORATUI_KOHYA_PYTHON", "")
TINY = Path(os.environ.get("LORATUI_TINY_SD") or (Path(KOHYA_DIR).parent / "tiny" if KOHYA_DIR else "missing"))
MUSUBI_DIR = os.environ.get("LORATUI_MUSUBI_DIR", "")
MUSUBI_PYTHON = os.environ.get("LORATUI_MUSUBI_PYTHON", "")
STANDINS = Path(__file__).resolve().parents[2] / "tools" / "standins" / "musubi"
TERMINAL = {"completed", "failed", "cancelled", "interrupted"}
pytestmark = pytest.mark.timeout(2400)


def _assert_sweep(result: dict, rows: int, columns: int) -> sweep_manifest.SweepManifest:
    assert result["status"] == "completed", result
    folder = Path(result["folder"])
    manifest = sweep_manifest.load(folder)
    assert (len(manifest.rows), len(manifest.columns)) == (rows, columns)
    assert sweep_manifest.missing_cells(folder, manifest) == []
    for row, column in manifest.cells():
        with Image.open(sweep_manifest.cell_path(folder, row, column)) as image:
            image.load()  # decodes
            assert image.size[0] > 0
    assert not (folder / ".render").exists()
    return manifest


@pytest.mark.kohya
@pytest.mark.skipif(not KOHYA_DIR, reason="LORATUI_KOHYA_DIR not set")
def test_real_gen_img_sweep_of_three_checkpoints(cli, home, tmp_path, monkeypatch):
    if not (TINY / "tiny-sd").is_dir():
        pytest.skip(f"no tiny SD model at {TINY} (set LORATUI_TINY_SD)")
    monkeypatch.setenv("LORATUI_KOHYA_DIR", KOHYA_DIR)
    if KOHYA_PYTHON:
        monkeypatch.setenv("LORATUI_KOHYA_PYTHON", KOHYA_PYTHON)
    home.mkdir(parents=True, exist_ok=True)
    data = tmp_path / "data" / "1_tinyconcept"
    data.mkdir(parents=True)
    for image in sorted((TINY / "data" / "img").glob("*/*.png"))[:2]:  # 2 images, batch 2: one step an epoch
        shutil.copy(image, data / image.name)
        shutil.copy(image.with_suffix(".txt"), data / image.with_suffix(".txt").name)
    assert cli("dataset", "add", data.parent, "--name", "tiny").code == 0
    out = tmp_path / "out"
    config = tmp_path / "tiny.toml"
    config.write_text(f'''backend = "kohya"
family = "sd15"
dataset = "tiny"

[args]
pretrained_model_name_or_path = "{TINY / 'tiny-sd'}"
tokenizer_cache_dir = "{TINY / 'tokenizer-cache'}"
output_dir = "{out}"
output_name = "tiny"
network_module = "networks.lora"
network_dim = 4
resolution = "64,64"
train_batch_size = 2
mixed_precision = "no"
optimizer_type = "AdamW"
learning_rate = 1e-4
max_data_loader_n_workers = 0
max_train_epochs = 3
save_every_n_epochs = 1
''')
    try:
        started = cli("train", "start", config, "--json")
        assert started.code == 0, started
        row = wait_status(home, started.json()["id"], TERMINAL, timeout=900)
        assert row["status"] == "completed", row
        assert sorted(p.name for p in out.glob("*.safetensors")) == ["tiny-000001.safetensors",
                                                                     "tiny-000002.safetensors", "tiny.safetensors"]
        prompts = tmp_path / "prompts.txt"
        prompts.write_text("a photo of tinyconcept --n blurry\ntinyconcept in a forest --l 5\n")
        swept = cli("lora", "sweep", row["id"], "--prompts", prompts, "--seeds", "1,2", "--steps", "2", "--wait",
                    "--json")
        assert swept.code == 0, (swept, (home / "jobs").glob("*/train.log"))
        result = swept.json()
        manifest = _assert_sweep(result, 4, 4)
        assert [r.key for r in manifest.rows] == ["baseline", "e000001", "e000002", "final"]
        assert Path(result["folder"]).parent == out / "sweeps"
        log = (home / "jobs" / str(result["job_id"]) / "train.log").read_text(errors="replace")
        assert log.count("pipeline is ready.") == 4  # one model load per row, not per image
    finally:
        kill_job_processes(home)


def _musubi_python() -> str:
    if MUSUBI_PYTHON:
        return MUSUBI_PYTHON
    for name in ("venv", ".venv"):
        candidate = Path(MUSUBI_DIR) / name / "bin" / "python"
        if candidate.exists():
            return str(candidate)
    return sys.executable


@pytest.mark.musubi
@pytest.mark.skipif(not MUSUBI_DIR, reason="LORATUI_MUSUBI_DIR not set")
def test_real_qwen_image_sweep(cli, home, tmp_path, monkeypatch):
    assets = Path(os.environ.get("LORATUI_MUSUBI_ASSETS") or tmp_path / "standins")
    if not os.environ.get("LORATUI_MUSUBI_ASSETS"):
        done = subprocess.run([_musubi_python(), str(STANDINS / "make_assets.py"), str(assets)], capture_output=True,
                              text=True, timeout=600, check=False)
        assert done.returncode == 0, done.stderr[-3000:]
    monkeypatch.setenv("LORATUI_MUSUBI_DIR", MUSUBI_DIR)
    monkeypatch.setenv("LORATUI_MUSUBI_PYTHON", _musubi_python())
    monkeypatch.setenv("LORATUI_MUSUBI_STANDINS", "1")
    monkeypatch.setenv("LORATUI_STANDIN_QUIET", "1")
    path = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", str(STANDINS) + (os.pathsep + path if path else ""))
    monkeypatch.setenv("HF_HOME", str(assets / "hf_home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    home.mkdir(parents=True, exist_ok=True)
    assert cli("dataset", "add", assets / "data" / "shapes", "--name", "shapes").code == 0
    models, out = assets / "models", tmp_path / "out"
    args = {"dit": str(models / "qwen_image_dit.safetensors"), "vae": str(models / "qwen_image_vae.safetensors"),
            "text_encoder": str(models / "qwen_image_text_encoder.safetensors"), "output_dir": str(out),
            "output_name": "lora", "network_module": "networks.lora_qwen_image", "network_dim": 4, "resolution": "128,128", "mixed_precision": "bf16", "sdpa": True,
            "optimizer_type": "adamw", "learning_rate": 1e-4, "timestep_sampling": "shift",
            "discrete_flow_shift": 2.2, "seed": 42, "max_data_loader_n_workers": 0, "max_train_epochs": 2,
            "train_batch_size": 2, "save_every_n_epochs": 1}
    config = tmp_path / "qwen.toml"
    config.write_text('backend = "musubi"\nfamily = "qwen-image"\ndataset = "shapes"\n\n[args]\n'
                      + "".join(f"{k} = {json.dumps(v)}\n" for k, v in args.items()))
    try:
        started = cli("train", "start", config, "--json")
        assert started.code == 0, started
        row = wait_status(home, started.json()["id"], TERMINAL, timeout=900)
        assert row["status"] == "completed", row
        checkpoints = sorted(p.name for p in out.glob("*.safetensors"))
        prompts = tmp_path / "prompts.txt"
        prompts.write_text("a red square\na blue circle --n noise\n")
        swept = cli("lora", "sweep", row["id"], "--prompts", prompts, "--seeds", "1,2", "--steps", "2", "--wait",
                    "--json")
        assert swept.code == 0, swept
        _assert_sweep(swept.json(), 1 + len(checkpoints), 4)
    finally:
        kill_job_processes(home)
