"""`loratui doctor` with a stand-in nvidia-smi and a trainer checkout that does not import."""

from __future__ import annotations

import sys

import pytest

from loratui.training import doctor
from trhelpers import HERE


def _fake_nvidia_smi(folder, text):
    folder.mkdir(parents=True, exist_ok=True)
    exe = folder / "nvidia-smi"
    exe.write_text(f"#!{sys.executable}\nimport sys\nsys.stdout.write({text!r})\n")
    exe.chmod(0o755)


def test_parse_nvidia_smi():
    gpus = doctor.parse_nvidia_smi("0, NVIDIA H100 80GB HBM3, 81559, 1024, 550.54\nnot a row\n")
    assert gpus == [{"index": 0, "name": "NVIDIA H100 80GB HBM3", "memory_total_mib": 81559.0,
                     "memory_free_mib": 80535.0, "driver": "550.54"}]


def test_gpu_checks(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    (found,) = doctor.check_gpus()
    assert found.status == "info" and "no NVIDIA GPU / driver" in found.detail and found.hint
    _fake_nvidia_smi(tmp_path / "bin", "0, RTX 4090, 24564, 20000, 550.54\n1, RTX 4090, 24564, 100, 550.54\n")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    busy, free = doctor.check_gpus()
    assert busy.status == "warn" and "4.5 of 24.0 GiB free" in busy.detail and "VRAM" in busy.hint
    assert free.status == "ok" and free.name == "gpu 1"


def test_doctor_cli_json(cli, tmp_path, monkeypatch):
    _fake_nvidia_smi(tmp_path / "bin", "0, RTX 3090, 24576, 0, 535.1\n")
    monkeypatch.setenv("PATH", str(tmp_path / "bin") + ":/usr/bin:/bin")
    monkeypatch.setenv("HF_TOKEN", "hf_test_token_not_real")
    monkeypatch.setenv("LORATUI_KOHYA_DIR", str(HERE / "fake_sd_scripts"))
    monkeypatch.setenv("LORATUI_KOHYA_PYTHON", sys.executable)
    result = cli("doctor", "--json")
    assert result.code == 0, result
    by_name = {f["name"]: f for f in result.json()}
    assert by_name["gpu 0"]["status"] == "ok" and "RTX 3090" in by_name["gpu 0"]["detail"]
    assert by_name["hugging face"]["status"] == "ok"
    kohya = by_name["sd-scripts"]
    # the test venv has no torch, the stand-in checkout no `library`: either way the trainer cannot run
    assert kohya["status"] == "fail" and "does not import" in kohya["detail"] and kohya["hint"]
    assert by_name["musubi-tuner"]["detail"] == "not configured"
    assert any(name.startswith("disk ") for name in by_name)
    assert "onnxruntime" in by_name and "accelerate config" in by_name
    table = cli("doctor", "--no-trainers")
    assert table.code == 0 and "gpu 0" in table.out and "sd-scripts" not in table.out


def test_doctor_without_nvml_or_nvidia_smi_reports_no_gpu_as_information(cli, tmp_path, monkeypatch):
    """No NVML library (this machine has none) and no nvidia-smi: one `info` finding, no warning or failure."""
    from loratui.gpu.inventory import NvmlInventory

    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    inventory = NvmlInventory()
    if inventory.snapshot():
        pytest.skip("this machine has NVIDIA GPUs")
    (found,) = doctor.check_gpus(inventory)
    assert found.status == "info" and found.detail.startswith("no NVIDIA GPU / driver (")
    result = cli("doctor", "--json", "--no-trainers")
    assert result.code == 0
    gpu = [f for f in result.json() if f["name"] == "gpu"]
    assert gpu and gpu[0]["status"] == "info"


def test_doctor_names_fake_gpus_as_fake(cli, monkeypatch):
    monkeypatch.setenv("LORATUI_FAKE_GPUS", "2x16384")
    result = cli("doctor", "--json", "--no-trainers")
    found = {f["name"]: f for f in result.json()}
    assert found["gpu 1"]["status"] == "info" and "FAKE" in found["gpu 1"]["detail"]
    assert "16.0 of 16.0 GiB free" in found["gpu 1"]["detail"]
