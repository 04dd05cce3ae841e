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


async def test_accelerate_flags_for_multi_gpu_and_multi_node(store, kohya_ctx, make_dataset, register, make_config,
                                                              tmp_path):
    await register(make_dataset({"10_alice": [(512, 512)] * 4}))
    config = make_config(mixed_precision="bf16", train_batch_size=1)
    config.launch = {"num_processes": 2, "gpu_ids": "0,1"}
    plan = await build_plan(store, kohya_ctx, config, tmp_path / "job")
    argv = plan.phases[0].argv
    script = argv.index(str(kohya_ctx.settings.trainers.kohya_dir + "/train_network.py"))
    flags = argv[3:script]
    assert flags[:2] == ["--num_cpu_threads_per_process", "1"]
    assert {"--multi_gpu"} <= set(flags) and flags[flags.index("--num_processes") + 1] == "2"
    assert flags[flags.index("--gpu_ids") + 1] == "0,1" and flags[flags.index("--mixed_precision") + 1] == "bf16"
    assert plan.total_steps == 2 * 20  # 40 images with repeats over 2 processes, 2 epochs

    config.launch = {"num_processes": 16, "num_machines": 2, "machine_rank": 1, "main_process_ip": "10.0.0.1",
                     "main_process_port": 29500}
    argv = (await build_plan(store, kohya_ctx, config, tmp_path / "job")).phases[0].argv
    for flag, value in (("--num_machines", "2"), ("--machine_rank", "1"), ("--main_process_ip", "10.0.0.1"),
                        ("--main_process_port", "29500")):
        assert argv[argv.index(flag) + 1] == value
    # accelerate launch without --multi_gpu (and no accelerate config) runs a plain process on a one-GPU machine
    assert "--multi_gpu" in argv


async def test_musubi_plan_has_its_own_dataset_format_and_three_phases(store, musubi_ctx, make_dataset, register,
                                                                       tmp_path):
    ctx = musubi_ctx
    from loratui.config import tomllib as toml_reader

    await register(make_dataset({"10_alice": [(512, 512)], "3_bob": [(768, 512)]}))
    files = {}
    for name in ("dit", "vae", "text_encoder"):
        files[name] = tmp_path / f"{name}.safetensors"
        files[name].write_bytes(b"x")
    config = TrainConfig(backend="musubi", family="qwen-image", dataset="ds", args={
        "dit": str(files["dit"]), "vae": str(files["vae"]), "text_encoder": str(files["text_encoder"]),
        "output_dir": str(tmp_path / "out"), "network_module": "networks.lora_qwen_image", "network_dim": 8,
        "max_train_epochs": 1, "resolution": "1024,1024", "save_state": True, "network_args": ["a=1"]})
    plan = await build_plan(store, ctx, config, tmp_path / "job")
    assert [p.name for p in plan.phases] == ["cache_latents", "cache_text", "train"]
    data = toml_reader.loads(plan.files["dataset.toml"])
    assert data["general"]["resolution"] == [1024, 1024] and "subsets" not in str(data)
    assert [d["num_repeats"] for d in data["datasets"]] == [10, 3]
    assert all(d["cache_directory"].startswith(str(tmp_path / "job" / "cache")) for d in data["datasets"])
    latents, text, train = (p.argv for p in plan.phases)
    assert latents[1].endswith("src/musubi_tuner/qwen_image_cache_latents.py") and "--vae" in latents
    assert "--text_encoder" in text
    assert "--save_state" in train and train[train.index("--network_args") + 1] == "a=1"
    assert "--resolution" not in train  # it lives in the dataset config


async def test_relative_and_home_paths_become_absolute(store, kohya_ctx, make_dataset, register, tmp_path,
                                                       monkeypatch):
    await register(make_dataset({"10_alice": [(512, 512)]}))
    folder = tmp_path / "configs"
    (folder / "models").mkdir(parents=True)
    (folder / "models" / "base.safetensors").write_bytes(b"x")
    monkeypatch.setenv("HOME", str(tmp_path))
    path = folder / "run.toml"
    path.write_text('dataset = "ds"\n[args]\npretrained_model_name_or_path = "models/base.safetensors"\n'
                    'output_dir = "~/loras"\nnetwork_module = "networks.lora"\nmax_train_epochs = 1\n')
    plan = await plan_from_file(store, kohya_ctx, path, tmp_path / "job")
    train = tomllib.loads(plan.files["train_config.toml"])
    assert train["pretrained_model_name_or_path"] == str(folder / "models" / "base.safetensors")
    assert train["output_dir"] == str(tmp_path / "loras")  # sd-scripts would not expand "~"
    path.write_text(path.read_text().replace("models/base.safetensors", "models/missing.safetensors"))
    with pytest.raises(TrainingError, match="missing.safetensors does not exist"):
        await plan_from_file(store, kohya_ctx, path, tmp_path / "job")
    hub = TrainConfig(dataset="ds", args={"pretrained_model_name_or_path": "runwayml/stable-diffusion-v1-5"})
    assert hub.resolved_args()["pretrained_model_name_or_path"] == "runwayml/stable-diffusion-v1-5"


async def test_musubi_edit_and_zimage_families(store, musubi_ctx, make_dataset, register, image_factory, tmp_path):
    """qwen-image-edit: musubi's Qwen-Image scripts with --model_version edit in every phase and each subset's
    control keys in its [[datasets]] entry; z-image: the zimage_* scripts."""
    from loratui.config import tomllib as toml_reader

    ctx = musubi_ctx
    scripts = tmp_path / "musubi" / "src" / "musubi_tuner"
    for name in ("zimage_train_network.py", "zimage_cache_latents.py", "zimage_cache_text_encoder_outputs.py"):
        (scripts / name).write_text((scripts / "qwen_image_train_network.py").read_text())
    root = make_dataset({"1_target": [(512, 512), (768, 512)]})
    control = root / "1_target" / "control"  # the control folder by convention, paired by stem
    for index, size in enumerate([(512, 512), (768, 512)]):
        image_factory(control / f"img_{index:03d}.png", size=size, color=(10, 200, 30))
    await register(root)
    files = {}
    for name in ("dit", "vae", "text_encoder"):
        files[name] = tmp_path / f"{name}.safetensors"
        files[name].write_bytes(b"x")
    args = {"dit": str(files["dit"]), "vae": str(files["vae"]), "text_encoder": str(files["text_encoder"]),
            "output_dir": str(tmp_path / "out"), "network_module": "networks.lora_qwen_image",
            "max_train_epochs": 1, "resolution": "512,512"}
    plan = await build_plan(store, ctx, TrainConfig(backend="musubi", family="qwen-image-edit", dataset="ds",
                                                    args=dict(args)), tmp_path / "job1")
    for phase in plan.phases:
        assert phase.argv[phase.argv.index("--model_version") + 1] == "edit"
        assert "qwen_image_" in " ".join(phase.argv)
    assert toml_reader.loads(plan.files["dataset.toml"])["datasets"][0]["control_directory"] == str(control)
    assert [p.items for p in plan.phases] == [2, 2, None]  # Qwen-Image's caching prints one line per item
    # each edit version is its own family (a model_version in [args] that contradicts it is refused)
    plan = await build_plan(store, ctx, TrainConfig(backend="musubi", family="qwen-image-edit-2511", dataset="ds",
                                                    args=dict(args)), tmp_path / "job2")
    assert all(p.argv[p.argv.index("--model_version") + 1] == "edit-2511" for p in plan.phases)
    assert "control_directory" in plan.files["dataset.toml"]

    plan = await build_plan(store, ctx, TrainConfig(backend="musubi", family="z-image", dataset="ds",
                                                    args=dict(args, network_module="networks.lora_zimage")),
                            tmp_path / "job3")
    latents, text, train = (p.argv for p in plan.phases)
    assert latents[1].endswith("zimage_cache_latents.py") and text[1].endswith("zimage_cache_text_encoder_outputs.py")
    assert any(a.endswith("zimage_train_network.py") for a in train) and "--model_version" not in train
    assert [p.items for p in plan.phases] == [None, None, None]  # Z-Image logs its items at DEBUG
