"""`loratui models inspect`, and model checks in `train check` / `train new --model`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import make_image
from tests.models.layouts import load, lora_layout, write_lora, write_standin


def test_inspect_json_of_several_files(cli, tmp_path):
    dit = write_standin(tmp_path / "qwen_image_edit_2509_bf16.safetensors", load("qwen_image_dit"))
    vae = write_standin(tmp_path / "ae.safetensors", load("flux1_ae"))
    lora = write_lora(tmp_path / "l.safetensors", lora_layout(load("wan_i2v-14B_dit"), match=r"blocks\.0\.", rank=2))
    result = cli("models", "inspect", dit, vae, lora, "--json")
    assert result.code == 0, result
    first, second, third = result.json()
    assert (first["kind"], first["family"], first["variant"], first["variant_source"]) == \
        ("dit", "qwen-image", "edit-2509", "file name")
    assert second["kind"] == "vae" and {p["content"] for p in second["parts"]} == {"flux1-ae"}
    assert second["parts"][0]["also"] == ["sd3-vae"]
    assert third["kind"] == "lora" and third["family"] == "wan" and third["lora"]["modules"] > 0


def test_inspect_text(cli, tmp_path):
    path = write_standin(tmp_path / "sd_xl_base_1.0.safetensors", load("sdxl_checkpoint"),
                         {"modelspec.architecture": "stable-diffusion-xl-v1-base\x1b[31m"})
    result = cli("models", "inspect", path)
    assert result.code == 0, result
    assert "full model" in result.out and "Stable Diffusion XL" in result.out
    assert "unet: SDXL U-Net" in result.out and "under model.diffusion_model." in result.out
    assert "\x1b" not in result.out  # metadata is untrusted text, shown literally


def test_inspect_broken_file_is_one_line_and_exit_2(cli, tmp_path):
    cut = write_standin(tmp_path / "cut.safetensors", load("clip_l"))
    os.truncate(cut, 100)
    result = cli("models", "inspect", cut)
    assert result.code == 2 and "Traceback" not in result.err
    assert "Model error" in result.err and "cut.safetensors" in result.err


def test_inspect_help_names_the_families(cli):
    result = cli("models", "inspect", "--help")
    assert result.code == 0 and "Kandinsky 5" in result.out and "header" in result.out


@pytest.fixture
def dataset(cli, tmp_path):
    root = tmp_path / "ds"
    for index in range(2):
        make_image(root / "10_a" / f"img_{index}.png", size=(64, 64))
        (root / "10_a" / f"img_{index}.txt").write_text("a thing", encoding="utf-8")
    assert cli("dataset", "add", root, "--name", "ds", "--workers", "1").code == 0
    return root


def _flux_config(path: Path, model: Path, tmp_path: Path) -> Path:
    ae = write_standin(tmp_path / "ae.safetensors", load("flux1_ae"))
    clip = write_standin(tmp_path / "clip_l.safetensors", load("clip_l"))
    t5 = write_standin(tmp_path / "t5xxl.safetensors", load("t5xxl"))
    path.write_text("\n".join([
        'backend = "kohya"', 'family = "flux"', 'dataset = "ds"', "", "[args]",
        f'pretrained_model_name_or_path = "{model}"', f'ae = "{ae}"', f'clip_l = "{clip}"', f't5xxl = "{t5}"',
        f'output_dir = "{tmp_path / "out"}"', 'network_module = "networks.lora_flux"', "network_dim = 4",
        'resolution = "512,512"', "max_train_epochs = 1"]) + "\n", encoding="utf-8")
    return path


def test_train_check_refuses_an_sdxl_checkpoint_with_a_flux_config(cli, dataset, tmp_path):
    sdxl = write_standin(tmp_path / "sd_xl_base_1.0.safetensors", load("sdxl_checkpoint"))
    config = _flux_config(tmp_path / "run.toml", sdxl, tmp_path)
    result = cli("train", "check", config, "--json")
    assert result.code == 2, result
    issues = [i for i in result.json()["issues"] if i["field"] == "pretrained_model_name_or_path"]
    assert issues and issues[0]["severity"] == "error" and "Stable Diffusion XL" in issues[0]["message"]
    # the launch path validates the same way: the plan (built by `train start`) is refused before any file
    plan = cli("train", "plan", config)
    assert plan.code == 2 and "Stable Diffusion XL" in plan.err and "Traceback" not in plan.err
    flux = write_standin(tmp_path / "flux1-dev.safetensors", load("flux1_dev_dit"))
    assert cli("train", "check", _flux_config(tmp_path / "ok.toml", flux, tmp_path)).code == 0


def test_train_check_warns_about_an_unreadable_model(cli, dataset, tmp_path):
    broken = tmp_path / "flux1-dev.safetensors"
    broken.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{")
    result = cli("train", "check", _flux_config(tmp_path / "run.toml", broken, tmp_path), "--json")
    assert result.code == 0, result
    issues = [i for i in result.json()["issues"] if i["field"] == "pretrained_model_name_or_path"]
    assert issues[0]["severity"] == "warning" and "cannot read its safetensors header" in issues[0]["message"]


def test_train_new_fills_roles_and_refuses_another_family(cli, dataset, tmp_path):
    flux = write_standin(tmp_path / "flux1-dev.safetensors", load("flux1_dev_dit"))
    ae = write_standin(tmp_path / "ae.safetensors", load("flux1_ae"))
    out = tmp_path / "new.toml"
    result = cli("train", "new", "--preset", "flux-24gb", "--dataset", "ds", "-o", out, "--model", flux,
                 "--model", ae)
    assert result.code == 0, result
    text = out.read_text()
    assert f'pretrained_model_name_or_path = "{flux}"' in text and f'ae = "{ae}"' in text
    sdxl = write_standin(tmp_path / "sdxl.safetensors", load("sdxl_checkpoint"))
    result = cli("train", "new", "--preset", "flux-24gb", "--dataset", "ds", "-o", tmp_path / "x.toml",
                 "--model", sdxl)
    assert result.code == 2 and "sdxl" in result.err and not (tmp_path / "x.toml").exists()


def test_inspect_several_files_reports_each_and_fails_if_one_is_broken(cli, tmp_path):
    good = write_standin(tmp_path / "clip_l.safetensors", load("clip_l"))
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\xff" * 20)
    result = cli("models", "inspect", good, broken)
    assert result.code == 2 and "CLIP-L" in result.out and "error:" in result.err and "broken" in result.err
    data = cli("models", "inspect", good, broken, "--json").json()
    assert data[0]["kind"] == "text_encoder" and "header" in data[1]["error"]
