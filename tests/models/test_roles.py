"""check_model_roles / assign_roles, the pre-launch check in validate, the form fill and `train new --model`."""

from __future__ import annotations

import pytest

from loratui.errors import ModelError
from loratui.models.roles import assign_roles, catalog_family, check_model_roles, config_variant, require_model_roles
from loratui.training.schema import builtin_schema
from loratui.training.config import TrainConfig
from loratui.training.form import config_from_model_files
from loratui.training.validate import check_args, errors
from tests.models.layouts import load, lora_layout, write_lora, write_standin


@pytest.fixture
def files(tmp_path):
    """Stand-ins on disk, by short name (file names as the official downloads have them)."""
    made = {}

    def make(key: str, layout: str, name: str | None = None):
        made[key] = write_standin(tmp_path / (name or f"{layout}.safetensors"), load(layout))
        return made[key]

    make("sdxl", "sdxl_checkpoint", "sd_xl_base_1.0.safetensors")
    make("flux", "flux1_dev_dit", "flux1-dev.safetensors")
    make("ae", "flux1_ae", "ae.safetensors")
    make("clip_l", "clip_l", "clip_l.safetensors")
    make("t5", "t5xxl", "t5xxl_fp16.safetensors")
    make("qwen", "qwen_image_dit", "qwen_image_bf16.safetensors")
    make("qwen_neutral", "qwen_image_dit", "my_dit.safetensors")
    make("qwen_vae", "qwen_image_vae", "qwen_image_vae.safetensors")
    make("qwen_te", "qwen25vl_7b", "qwen_2.5_vl_7b.safetensors")
    make("klein4", "flux2_klein_4b_dit", "flux-2-klein-4b.safetensors")
    make("mistral", "mistral3_24b", "mistral.safetensors")
    made["flux_lora"] = write_lora(tmp_path / "flux_lora.safetensors",
                                   lora_layout(load("flux1_dev_dit"), match=r"blocks\.0\.", rank=2))
    return made


def test_an_sdxl_checkpoint_with_a_flux_config_is_an_error(files):
    problems = check_model_roles("flux", {"pretrained_model_name_or_path": files["sdxl"], "ae": files["ae"],
                                          "clip_l": files["clip_l"], "t5xxl": files["t5"]})
    assert [(p.role, p.severity) for p in problems] == [("pretrained_model_name_or_path", "error")]
    assert "Stable Diffusion XL" in problems[0].message and "FLUX.1" in problems[0].message
    with pytest.raises(ModelError, match="sd_xl_base_1.0.safetensors"):
        require_model_roles("flux", {"pretrained_model_name_or_path": files["sdxl"]})


def test_a_matching_set_passes(files):
    roles = {"pretrained_model_name_or_path": files["flux"], "ae": files["ae"], "clip_l": files["clip_l"],
             "t5xxl": files["t5"], "network_weights": files["flux_lora"]}
    assert check_model_roles("flux", roles) == []
    require_model_roles("flux1", roles)


def test_files_in_the_wrong_roles(files):
    problems = check_model_roles("flux", {"clip_l": files["t5"], "ae": files["clip_l"], "t5xxl": files["ae"],
                                          "pretrained_model_name_or_path": files["ae"]})
    by_role = {p.role: p.message for p in problems}
    assert set(by_role) == {"clip_l", "ae", "t5xxl", "pretrained_model_name_or_path"}
    assert "T5-XXL" in by_role["clip_l"] and "CLIP-L" in by_role["clip_l"]
    assert "holds no U-Net or DiT" in by_role["pretrained_model_name_or_path"]


def test_a_qwen_image_dit_with_the_edit_variant_is_an_error(files):
    problems = check_model_roles("qwen-image", {"dit": files["qwen"]}, variant="edit")
    assert len(problems) == 1 and problems[0].severity == "error"
    assert "original" in problems[0].message and "file name" in problems[0].message
    # same keys, a name that says nothing: loratui cannot know, so it does not complain
    assert check_model_roles("qwen-image", {"dit": files["qwen_neutral"]}, variant="edit") == []
    assert check_model_roles("qwen-image", {"dit": files["qwen"], "vae": files["qwen_vae"],
                                            "text_encoder": files["qwen_te"]}, variant="original") == []


def test_a_variant_narrows_what_a_role_takes(files):
    problems = check_model_roles("flux2", {"dit": files["klein4"], "text_encoder": files["mistral"]},
                                 variant="klein-4b")
    assert [p.role for p in problems] == ["text_encoder"] and "Qwen3 4B" in problems[0].message
    problems = check_model_roles("flux2", {"dit": files["klein4"]}, variant="dev")
    assert [p.role for p in problems] == ["dit"] and "klein-4b" in problems[0].message


def test_lora_roles(files):
    problems = check_model_roles("qwen-image", {"network_weights": files["flux_lora"], "dit": files["flux_lora"]})
    assert {p.role for p in problems} == {"network_weights", "dit"}
    assert "LoRA for FLUX.1" in next(p.message for p in problems if p.role == "network_weights")


def test_unreadable_unknown_and_foreign_files(files, tmp_path):
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"x")
    folder = tmp_path / "diffusers"
    folder.mkdir()
    problems = check_model_roles("sdxl", {"pretrained_model_name_or_path": broken, "vae": folder,
                                          "clip_l": tmp_path / "missing.safetensors"})
    assert [(p.role, p.severity) for p in problems] == [("pretrained_model_name_or_path", "warning")]
    assert "cannot read its safetensors header" in problems[0].message
    assert check_model_roles("a-family-nobody-knows", {"dit": files["sdxl"]}) == []


def test_config_family_names(files):
    assert catalog_family("sd15", {}) == "sd1" and catalog_family("sd15", {"v2": True}) == "sd2"
    assert catalog_family("flux", {"model_type": "chroma"}) == "chroma" and catalog_family("nope") is None
    assert config_variant("qwen-image", {}) == "original"
    assert config_variant("qwen-image", {"edit_plus": True}) == "edit-2509"
    assert config_variant("qwen-image", {"model_version": "Edit-2511"}) == "edit-2511"
    assert config_variant("wan", {}) == "t2v-14B" and config_variant("sdxl", {}) is None


def test_validation_before_launch_reports_the_mismatch(files, tmp_path):
    config = TrainConfig(backend="kohya", family="flux", dataset="ds", args={
        "pretrained_model_name_or_path": str(files["sdxl"]), "ae": str(files["ae"]), "clip_l": str(files["clip_l"]),
        "t5xxl": str(files["t5"]), "output_dir": str(tmp_path / "out"), "network_module": "networks.lora_flux"})
    found = errors(check_args(config, builtin_schema("kohya", "flux")))
    assert [i.field for i in found] == ["pretrained_model_name_or_path"]
    config.args["pretrained_model_name_or_path"] = str(files["flux"])
    assert errors(check_args(config, builtin_schema("kohya", "flux"))) == []


def test_validation_of_a_musubi_qwen_config(files, tmp_path):
    # the family qwen-image-edit passes --model_version edit: a Qwen-Image DiT (named so) does not fit it
    config = TrainConfig(backend="musubi", family="qwen-image-edit", dataset="ds", args={
        "dit": str(files["qwen"]), "vae": str(files["qwen_vae"]), "text_encoder": str(files["qwen_te"]),
        "output_dir": str(tmp_path / "out"), "network_module": "networks.lora_qwen_image"})
    found = errors(check_args(config, builtin_schema("musubi", "qwen-image-edit")))
    assert [i.field for i in found] == ["dit"]
    # a model_version that contradicts the family is refused by the family's own check
    config.family = "qwen-image"
    config.args["model_version"] = "edit"
    assert "model_version" in [i.field for i in errors(check_args(config, builtin_schema("musubi", "qwen-image")))]


def test_assign_roles_puts_each_file_in_its_option(files):
    found = assign_roles([files["t5"], files["ae"], files["flux"], files["clip_l"]], "kohya")
    assert found.family == "flux1" and found.unplaced == []
    assert found.roles == {"pretrained_model_name_or_path": str(files["flux"]), "ae": str(files["ae"]),
                           "clip_l": str(files["clip_l"]), "t5xxl": str(files["t5"])}
    found = assign_roles([files["qwen_te"], files["qwen_vae"], files["qwen"]], "musubi")
    assert found.roles == {"dit": str(files["qwen"]), "vae": str(files["qwen_vae"]),
                           "text_encoder": str(files["qwen_te"])}
    assert found.variants == ("original",)


def test_the_form_fills_family_and_roles_from_files(files):
    config = TrainConfig(backend="kohya", family="sdxl", dataset="ds", args={"network_dim": 8})
    filled, notes = config_from_model_files(config, [str(files["flux"]), str(files["ae"]), str(files["clip_l"]),
                                                     str(files["t5"])])
    assert (filled.backend, filled.family) == ("kohya", "flux")
    assert filled.args["pretrained_model_name_or_path"] == str(files["flux"]) and filled.args["ae"] == str(files["ae"])
    assert filled.args["network_dim"] == 8 and any("family set to flux" in n for n in notes)
    assert config.family == "sdxl"  # the original is untouched
    filled, notes = config_from_model_files(config, [str(files["qwen"]), str(files["qwen_vae"])])
    assert (filled.backend, filled.family) == ("musubi", "qwen-image")
    # the family passes --model_version original itself
    assert filled.args["dit"] == str(files["qwen"]) and "model_version" not in filled.args


def test_parts_without_a_model_go_to_the_roles_of_the_configs_family(files, tmp_path):
    sd_vae = write_standin(tmp_path / "sdxl_vae.safetensors", load("sd_vae_ldm"))
    config = TrainConfig(backend="kohya", family="sdxl", dataset="ds")
    filled, notes = config_from_model_files(config, [str(sd_vae)])
    assert filled.family == "sdxl" and filled.args == {"vae": str(sd_vae)} and notes == []
    config = TrainConfig(backend="kohya", family="flux", dataset="ds")
    filled, _ = config_from_model_files(config, [str(files["ae"]), str(files["t5"])])
    assert filled.args == {"ae": str(files["ae"]), "t5xxl": str(files["t5"])}


def test_the_form_refuses_a_family_loratui_does_not_train(tmp_path):
    wan = write_standin(tmp_path / "wan.safetensors", load("wan_t2v-1.3B_dit"))
    config = TrainConfig(backend="kohya", family="sdxl", dataset="ds")
    from loratui.training.config import FAMILIES
    if any(catalog_family(name) == "wan" for names in FAMILIES.values() for name in names):
        pytest.skip("Wan is trained now: nothing to refuse")
    with pytest.raises(ModelError, match="Wan"):
        config_from_model_files(config, [str(wan)])


def test_the_message_says_which_option_switches_the_family(tmp_path):
    sd2 = write_standin(tmp_path / "v2-1_768-ema-pruned.safetensors", load("sd2_checkpoint"))
    problems = check_model_roles("sd15", {"pretrained_model_name_or_path": sd2})
    assert len(problems) == 1 and "set v2 = true" in problems[0].message
    assert check_model_roles(catalog_family("sd15", {"v2": True}), {"pretrained_model_name_or_path": sd2}) == []


def test_metadata_never_makes_a_vae_a_model(tmp_path):
    vae = write_standin(tmp_path / "vae.safetensors", load("sd_vae_ldm"),
                        {"modelspec.architecture": "stable-diffusion-xl-v1-base"})
    problems = check_model_roles("sdxl", {"pretrained_model_name_or_path": vae})
    assert len(problems) == 1 and "holds no U-Net or DiT" in problems[0].message


def test_every_training_family_maps_to_a_catalog_family():
    """Each id of the training family registry is checked against model files (none silently skipped)."""
    from loratui.training.families import families

    assert [f.id for f in families() if catalog_family(f.id) is None] == []


def test_the_form_picks_the_registry_family_of_a_files_variant(tmp_path):
    dit = write_standin(tmp_path / "qwen_image_edit_2511_bf16.safetensors", load("qwen_image_dit"))
    config = TrainConfig(backend="musubi", family="qwen-image", dataset="ds", args={})
    filled, notes = config_from_model_files(config, [str(dit)])
    assert filled.family == "qwen-image-edit-2511" and "model_version" not in filled.args, notes
