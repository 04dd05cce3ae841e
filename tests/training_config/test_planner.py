"""build_plan / plan_from_file: config -> TOML files -> argv, against the stand-in trainer."""

from __future__ import annotations

import sys

import pytest

from loratui.config import tomllib
from loratui.errors import TrainingError
from loratui.training.config import TrainConfig, load_config, save_config
from loratui.training.planner import build_plan, plan_from_file


async def test_kohya_plan_round_trip(store, kohya_ctx, make_dataset, register, make_config, tmp_path):
    root = make_dataset({"10_alice": [(512, 512), (768, 512)], "reg/1_person": [(512, 512)]})
    await register(root)
    config = make_config(network_args=["conv_dim=4", "conv_alpha=1"], optimizer_args="weight_decay=0.01 eps=1e-8",
                         network_alpha=4, save_state=True, my_unknown_flag=3)
    path = save_config(config, tmp_path / "run.toml")
    assert load_config(path).to_dict() == config.to_dict()  # config -> TOML -> config

    plan = await build_plan(store, kohya_ctx, load_config(path), tmp_path / "job")
    assert plan.backend == "kohya" and plan.family == "sd15"
    train = tomllib.loads(plan.files["train_config.toml"])
    assert train["resolution"] == "512,512"  # sd-scripts does not convert: must be the string "W,H"
    assert train["network_args"] == ["conv_dim=4", "conv_alpha=1"]
    assert train["optimizer_args"] == ["weight_decay=0.01", "eps=1e-8"]  # a string would be split into letters
    assert train["network_alpha"] == 4.0 and isinstance(train["network_alpha"], float)
    assert train["my_unknown_flag"] == 3  # unknown options pass through
    assert train["caption_extension"] == ".txt"
    assert "train_data_dir" not in train and "dataset_config" not in train

    ds = tomllib.loads(plan.files["dataset.toml"])
    assert ds["general"]["resolution"] == [512, 512]
    subsets = ds["datasets"][0]["subsets"]
    assert [(s["num_repeats"], s["is_reg"], s.get("class_tokens")) for s in subsets] == [
        (10, False, "alice"), (1, True, "person")]
    assert subsets[0]["image_dir"] == str(root / "10_alice")

    (phase,) = plan.phases
    assert phase.argv[:5] == [sys.executable, "-m", "accelerate.commands.launch", "--num_cpu_threads_per_process", "1"]
    assert phase.argv[-4:] == ["--config_file", str(tmp_path / "job" / "train_config.toml"),
                               "--dataset_config", str(tmp_path / "job" / "dataset.toml")]
    assert phase.env["OMP_NUM_THREADS"] == "1"
    assert plan.total_steps == 2 * 40 and plan.epochs == 2  # 20 train + 20 reg with repeats, two buckets
    written = plan.write_files()
    assert {p.name for p in written} >= {"train_config.toml", "dataset.toml"}


async def test_plan_refuses_invalid_config(store, kohya_ctx, make_dataset, register, make_config, tmp_path):
    await register(make_dataset({"10_alice": [(512, 512)]}))
    with pytest.raises(TrainingError) as info:
        await build_plan(store, kohya_ctx, make_config(network_dim="big"), tmp_path / "job")
    assert "network_dim" in info.value.message


async def test_overrides_are_typed_by_schema(store, kohya_ctx, make_dataset, register, make_config, tmp_path):
    await register(make_dataset({"10_alice": [(512, 512)]}))
    path = save_config(make_config(), tmp_path / "run.toml")
    plan = await plan_from_file(store, kohya_ctx, path, tmp_path / "job", overrides={
        "network_dim": "32", "learning_rate": "5e-5", "shuffle_caption": "true", "network_args": "a=1 b=2",
        "launch.launcher": "python", "max_train_epochs": ""})
    train = tomllib.loads(plan.files["train_config.toml"])
    assert train["network_dim"] == 32 and train["learning_rate"] == 5e-5 and train["shuffle_caption"] is True
    assert train["network_args"] == ["a=1", "b=2"] and "max_train_epochs" not in train
    assert plan.phases[0].argv[:2] == [sys.executable, str(kohya_ctx.settings.trainers.kohya_dir + "/train_network.py")]
    assert plan.total_steps == 1600
