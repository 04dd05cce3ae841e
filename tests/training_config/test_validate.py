"""`train check`: one test per kind of mistake; every finding names its field."""

from __future__ import annotations

import pytest

from loratui.training.schema import builtin_schema, introspect
from loratui.training.validate import check_args, check_config, errors
from tests.dbutil import execute as db_execute

SCHEMA = builtin_schema("kohya", "sd15")


def fields(issues, severity="error"):
    return {i.field for i in issues if i.severity == severity}


def messages(issues):
    return " | ".join(str(i) for i in issues)


def test_valid_config_has_no_errors(make_config):
    assert errors(check_args(make_config(), SCHEMA)) == []


@pytest.mark.parametrize("args, field, words", [
    ({"network_dim": "big"}, "network_dim", "integer"),
    ({"learning_rate": "fast"}, "learning_rate", "number"),
    ({"cache_latents": "yes"}, "cache_latents", "true or false"),
    ({"mixed_precision": "fp8"}, "mixed_precision", "not one of"),
    ({"loss_type": "l3"}, "loss_type", "not one of"),
    ({"resolution": "big"}, "resolution", "width,height"),
    ({"network_dim": [1, 2]}, "network_dim", "one value"),
    ({"network_module": None}, "network_module", "required"),
    ({"pretrained_model_name_or_path": "/nope/model.safetensors"}, "pretrained_model_name_or_path", "does not exist"),
    ({"vae": "/nope/vae.safetensors"}, "vae", "does not exist"),
    ({"network_weights": "/nope/lora.safetensors"}, "network_weights", "does not exist"),
    ({"train_batch_size": 0}, "train_batch_size", "more than 0"),
    ({"max_train_epochs": -1}, "max_train_epochs", "more than 0"),
    ({"caption_dropout_rate": 1.5}, "caption_dropout_rate", "between 0 and 1"),
    ({"cache_text_encoder_outputs": True, "shuffle_caption": True}, "shuffle_caption", "cache_text_encoder_outputs"),
    ({"cache_latents": True, "color_aug": True}, "color_aug", "cache_latents"),
    ({"cache_latents_to_disk": True, "random_crop": True}, "random_crop", "cache_latents"),
    ({"full_fp16": True, "mixed_precision": "bf16"}, "full_fp16", "fp16"),
    ({"fp8_base": True}, "fp8_base", "mixed_precision"),
    ({"network_train_unet_only": True, "network_train_text_encoder_only": True},
     "network_train_text_encoder_only", "network_train_unet_only"),
    ({"min_bucket_reso": 1024, "max_bucket_reso": 512}, "min_bucket_reso", "larger"),
    ({"bucket_reso_steps": 32}, "bucket_reso_steps", "divisible by 64"),
])
def test_each_mistake_names_its_field(make_config, args, field, words):
    issues = check_args(make_config(**args), SCHEMA)
    matching = [i for i in errors(issues) if i.field == field]
    assert matching, messages(issues)
    assert words in matching[0].message


def test_hugging_face_repo_id_is_not_a_path(make_config):
    issues = check_args(make_config(pretrained_model_name_or_path="runwayml/stable-diffusion-v1-5"), SCHEMA)
    assert "pretrained_model_name_or_path" not in fields(issues)


def test_output_dir_that_is_a_file(make_config, tmp_path):
    target = tmp_path / "a-file"
    target.write_text("x")
    issues = check_args(make_config(output_dir=str(target)), SCHEMA)
    assert "output_dir" in fields(issues) and "is a file" in messages(issues)
    nested = check_args(make_config(output_dir=str(target / "below")), SCHEMA)
    assert "output_dir" in fields(nested)  # cannot be created under a file


def test_sdxl_caching_text_encoder_needs_unet_only(make_config):
    config = make_config(cache_text_encoder_outputs=True)
    config.family = "sdxl"
    assert "cache_text_encoder_outputs" in fields(check_args(config, builtin_schema("kohya", "sdxl")))
    config.args["network_train_unet_only"] = True
    assert "cache_text_encoder_outputs" not in fields(check_args(config, builtin_schema("kohya", "sdxl")))


def test_flux_needs_its_model_files(make_config):
    config = make_config()
    config.family = "flux"
    assert {"clip_l", "t5xxl", "ae"} <= fields(check_args(config, builtin_schema("kohya", "flux")))


def test_unknown_options_warn_with_a_suggestion(make_config, trainer_dir):
    import sys

    issues = check_args(make_config(network_dimm=8), SCHEMA)
    assert "network_dimm" in fields(issues, "warning") and "did you mean network_dim" in messages(issues)
    trainer_schema = introspect(sys.executable, trainer_dir / "train_network.py", version="v")
    issues = check_args(make_config(learning_rat=1e-4), trainer_schema)
    assert "learning_rat" in fields(issues, "warning") and "trainer will ignore it" in messages(issues)


def test_launch_problems(make_config):
    config = make_config()
    config.launch = {"num_processes": 2, "gpu_ids": "0"}
    assert "launch.gpu_ids" in fields(check_args(config, SCHEMA), "warning")
    config.launch = {"num_machines": 2, "num_processes": 16}
    assert "launch.main_process_ip" in fields(check_args(config, SCHEMA))


def test_save_every_without_state_warns(make_config):
    issues = check_args(make_config(save_every_n_steps=100), SCHEMA)
    assert "save_state" in fields(issues, "warning")


async def test_dataset_checks(store, make_dataset, register, make_config, tmp_path, image_factory):
    config = make_config()
    issues = await check_config(store, config, SCHEMA)
    assert "dataset" in fields(issues) and "no dataset named 'ds'" in messages(issues)

    root = make_dataset({"10_a": [(512, 512), (512, 512)]}, uncaptioned=("img_001.png",))
    (root / "10_a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    await register(root)
    issues = await check_config(store, config, SCHEMA)
    assert "broken.png" in messages(issues) and "dataset" in fields(issues)
    assert "img_001.png" in messages(issues) and "dataset" in fields(issues, "warning")

    issues = await check_config(store, make_config(caption_extension=".caption"), SCHEMA)
    assert "caption_extension" in fields(issues)

    import shutil

    shutil.rmtree(root / "10_a")
    issues = await check_config(store, config, SCHEMA)
    assert "10_a is gone" in messages(issues)


async def test_empty_dataset(store, register, make_config, tmp_path):
    empty = tmp_path / "ds"
    (empty / "10_a").mkdir(parents=True)
    await register(empty)
    issues = await check_config(store, make_config(), SCHEMA)
    assert "dataset" in fields(issues) and "no training images" in messages(issues)


async def test_subset_options_are_typed_for_the_strict_dataset_config(store, kohya_ctx, make_dataset, register,
                                                                       make_config, tmp_path):
    from loratui.errors import TrainingError
    from loratui.training.planner import build_plan

    dataset = await register(make_dataset({"10_a": [(512, 512)]}))
    await db_execute(store, "UPDATE subsets SET options = ? WHERE dataset_id = ?",
                        ('{"caption_dropout_rate": 0, "flip_aug": true}', dataset.id))
    plan = await build_plan(store, kohya_ctx, make_config(), tmp_path / "job")
    text = plan.files["dataset.toml"]
    assert "caption_dropout_rate = 0.0" in text  # an integer 0 would be rejected upstream
    await db_execute(store, "UPDATE subsets SET options = ? WHERE dataset_id = ?", ('{"bogus": 1}', dataset.id))
    with pytest.raises(TrainingError, match="bogus"):
        await build_plan(store, kohya_ctx, make_config(), tmp_path / "job")
    await db_execute(store, "UPDATE subsets SET options = ? WHERE dataset_id = ?", ('{"flip_aug": "yes"}', dataset.id))
    with pytest.raises(TrainingError, match="flip_aug"):
        await build_plan(store, kohya_ctx, make_config(), tmp_path / "job")
