"""Schema introspection (stand-in script), the built-in fallback, --set conversion, and config file shape."""

from __future__ import annotations

import sys

import pytest

from loratui.errors import ConfigError, InputError, NotFoundError, TrainingError
from loratui.training.config import TrainConfig, load_config, save_config
from loratui.training.schema import builtin_schema, coerce_text, introspect, load_schema, section_of


def test_introspect_stand_in_script(trainer_dir):
    schema = introspect(sys.executable, trainer_dir / "train_network.py", version="abc")
    assert schema.source == "trainer:abc"
    dim = schema.get("network_dim")
    assert (dim.type, dim.default, dim.flag) == ("int", None, "--network_dim")
    assert schema.get("enable_bucket").type == "bool"
    assert schema.get("mixed_precision").choices == ["no", "fp16", "bf16"]
    assert schema.get("network_args").is_list and schema.get("network_args").nargs == "*"
    assert schema.get("lr_warmup_steps").type == "int_or_float"  # the trainer's own converter, by name
    assert schema.get("learning_rate").default == 2e-6 and schema.get("learning_rate").help == "learning rate"
    assert schema.get("dataset_config").type == "Path"
    assert "help" not in schema.options


def test_introspect_without_setup_parser_fails_clearly(tmp_path):
    script = tmp_path / "train_network.py"
    script.write_text("import argparse\n", encoding="utf-8")
    with pytest.raises(TrainingError, match="setup_parser"):
        introspect(sys.executable, script)


def test_load_schema_caches_per_trainer_version(kohya_ctx, trainer_dir):
    schema = load_schema(kohya_ctx, "kohya", "sd15")
    assert schema.source.startswith("trainer:src-")
    cached = list((kohya_ctx.paths.cache / "schemas").glob("kohya-train_network-*.json"))
    assert len(cached) == 1
    # The cache is used as long as the trainer is unchanged: poison it and see it come back.
    cached[0].write_text(cached[0].read_text().replace('"learning rate"', '"from the cache"'))
    assert load_schema(kohya_ctx, "kohya", "sd15").get("learning_rate").help == "from the cache"
    # A changed trainer (new version key) is introspected again.
    script = trainer_dir / "train_network.py"
    script.write_text(script.read_text() + "\n# updated\n")
    assert load_schema(kohya_ctx, "kohya", "sd15").get("learning_rate").help == "learning rate"
    assert len(list((kohya_ctx.paths.cache / "schemas").glob("kohya-train_network-*.json"))) == 2


def test_fallback_without_trainer_is_builtin(ctx):
    schema = load_schema(ctx, "kohya", "flux")
    assert schema.source == "builtin"
    assert schema.get("t5xxl") is not None and schema.get("network_dim").type == "int"
    assert load_schema(ctx, "musubi", "qwen-image").get("dit") is not None


def test_broken_trainer_is_an_error_not_a_silent_fallback(kohya_ctx, trainer_dir):
    (trainer_dir / "train_network.py").write_text("raise RuntimeError('boom')\n")
    with pytest.raises(TrainingError, match="boom"):
        load_schema(kohya_ctx, "kohya", "sd15")


def test_missing_trainer_folder(ctx, tmp_path):
    from loratui.training.trainer import find_trainer

    ctx.settings.trainers.kohya_dir = str(tmp_path / "nope")
    with pytest.raises(TrainingError, match="does not exist"):
        find_trainer(ctx, "kohya")
    assert find_trainer(ctx, "kohya", required=False) is None


def test_coerce_text_uses_schema_types():
    schema = builtin_schema("kohya", "sd15")
    assert coerce_text(schema.get("network_dim"), "32") == 32
    assert coerce_text(schema.get("learning_rate"), "1e-4") == 1e-4
    assert coerce_text(schema.get("cache_latents"), "yes") is True
    assert coerce_text(schema.get("network_args"), "conv_dim=4 'a=b c'") == ["conv_dim=4", "a=b c"]
    assert coerce_text(schema.get("lr_warmup_steps"), "0.1") == 0.1
    assert coerce_text(schema.get("lr_warmup_steps"), "100") == 100
    assert coerce_text(None, "3") == 3 and coerce_text(None, "hello") == "hello"
    with pytest.raises(InputError, match="network_dim"):
        coerce_text(schema.get("network_dim"), "lots")
    with pytest.raises(InputError, match="cache_latents"):
        coerce_text(schema.get("cache_latents"), "maybe")


def test_short_help_drops_the_japanese_translation():
    from loratui.training.schema import Option

    assert Option("x", help="learning rate / 学習率").short_help == "learning rate"
    assert Option("x", help="a / b").short_help == "a / b"


def test_sections():
    assert section_of("network_dim") == "network"
    assert section_of("optimizer_args") == "optimizer"
    assert section_of("unet_lr") == "learning rate" and section_of("lr_scheduler") == "learning rate"
    assert section_of("enable_bucket") == "dataset" and section_of("caption_extension") == "dataset"
    assert section_of("save_every_n_steps") == "saving" and section_of("sample_prompts") == "sampling"
    assert section_of("pretrained_model_name_or_path") == "basic" and section_of("ddp_timeout") == "advanced"


def test_config_round_trip_and_shape_errors(tmp_path):
    config = TrainConfig("kohya", "sdxl", "ds", {"network_dim": 16, "learning_rate": 1e-4, "resolution": "1024,1024",
                                                "network_args": ["a=1"], "x_unknown": "kept"},
                         {"num_processes": 2, "gpu_ids": "0,1"}, seconds_per_step=1.5)
    path = save_config(config, tmp_path / "c.toml")
    back = load_config(path)
    assert back.to_dict() == config.to_dict() and back.launcher == "accelerate"
    bad = {
        "x = 1": "unknown top-level key",
        'backend = "comfy"': "backend must be",
        'backend = "musubi"\nfamily = "sdxl"': "not trained by musubi",
        "[args.nested]\na = 1": "args.nested is a table",
        "[launch]\nnum_processes = \"two\"": "launch.num_processes must be int",
        "[launch]\nturbo = true": "launch.turbo is not a launch option",
        "seconds_per_step = -1": "seconds_per_step",
        "backend = ": "not valid TOML",
    }
    for text, message in bad.items():
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError, match=message):
            load_config(path)
    with pytest.raises(NotFoundError):
        load_config(tmp_path / "missing.toml")
