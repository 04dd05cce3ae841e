"""The TOML files loratui writes for training read back the same with tomllib and with toml 0.10 (sd-scripts')."""

from __future__ import annotations


import toml

from loratui.config import tomllib
from loratui.training.config import TrainConfig, load_config, save_config
from loratui.training.planner import build_plan

NASTY = {
    "caption_prefix": 'a "quoted" prompt,\nwith a second line',
    "x_replace": r"(\d+)\s*\\",                     # a regex for a --replace-like option passes through
    "x_windows_path": "C:\\x\\y",                   # toml 0.10's writer made this "C:\x\\y", which readers reject
    "x_lead_comma_list": [", first", "C:\\users", '""'],
}


def both(text: str) -> dict:
    new, old = tomllib.loads(text), toml.loads(text)
    assert new == old, text
    return new


def test_saved_config_reads_back_with_both_readers(tmp_path, make_config):
    config = make_config(**NASTY, network_alpha=0.5, network_args=["conv_dim=4"])
    config.launch = {"num_processes": 2, "gpu_ids": "0,1"}
    config.seconds_per_step = 1.25
    path = save_config(config, tmp_path / "run.toml")
    assert both(path.read_text(encoding="utf-8")) == config.to_dict()
    assert load_config(path).to_dict() == config.to_dict()


HAND_WRITTEN = """\
# my character, second try
backend = "kohya"
family = "sd15"   # keep sd15 for now
dataset = "ds"

[args]
# paths first
pretrained_model_name_or_path = "{model}"
output_dir = "{out}"
network_module = "networks.lora"
network_dim = 8   # small on purpose
resolution = "512,512"
max_train_epochs = 2
"""


def test_saving_onto_a_hand_written_config_keeps_comments_and_order(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text(HAND_WRITTEN.format(model=tmp_path / "m.safetensors", out=tmp_path / "out"), encoding="utf-8")
    config = load_config(path)
    config.args["network_dim"] = 16
    config.args["caption_prefix"] = 'say "hi"\\'
    save_config(config, path)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# my character, second try\n")
    assert 'family = "sd15"   # keep sd15 for now' in text and "# paths first" in text
    assert "network_dim = 16   # small on purpose" in text
    assert list(both(text)["args"]) == ["pretrained_model_name_or_path", "output_dir", "network_module",
                                        "network_dim", "resolution", "max_train_epochs", "caption_prefix"]
    assert load_config(path).to_dict() == config.to_dict()


async def test_kohya_files_read_back_identically(store, kohya_ctx, make_dataset, register, make_config, tmp_path):
    root = make_dataset({'10_al"ice\\x': [(512, 512)], "2_b,ob": [(768, 512)]}, name='data "set"\\one')
    await register(root)
    plan = await build_plan(store, kohya_ctx, make_config(**NASTY), tmp_path / "job")
    for name, text in plan.files.items():
        both(text)
    train = both(plan.files["train_config.toml"])
    assert {key: train[key] for key in NASTY} == NASTY
    subsets = both(plan.files["dataset.toml"])["datasets"][0]["subsets"]
    assert [s["image_dir"] for s in subsets] == [str(root / "10_al\"ice\\x"), str(root / "2_b,ob")]
    assert [s.get("class_tokens") for s in subsets] == ['al"ice\\x', "b,ob"]
    assert both(plan.files["loratui_config.toml"])["args"]["caption_prefix"] == NASTY["caption_prefix"]


async def test_musubi_dataset_reads_back_identically(store, musubi_ctx, make_dataset, register, tmp_path):
    ctx = musubi_ctx
    data_root = make_dataset({"10_a\\b": [(512, 512)], '3_"c"': [(768, 512)]}, name="C:\\x\\like")
    await register(data_root)
    files = {name: tmp_path / f"{name}.safetensors" for name in ("dit", "vae", "text_encoder")}
    for file in files.values():
        file.write_bytes(b"x")
    config = TrainConfig(backend="musubi", family="qwen-image", dataset="ds", args={
        **{name: str(file) for name, file in files.items()}, "output_dir": str(tmp_path / "out"),
        "network_module": "networks.lora_qwen_image", "network_dim": 8, "max_train_epochs": 1,
        "resolution": "1024,1024"})
    plan = await build_plan(store, ctx, config, tmp_path / "job \\ q")
    data = both(plan.files["dataset.toml"])
    assert sorted(d["image_directory"] for d in data["datasets"]) == sorted(
        [str(data_root / '3_"c"'), str(data_root / "10_a\\b")])
    assert all(d["cache_directory"].startswith(str(tmp_path / "job \\ q" / "cache")) for d in data["datasets"])
    assert data["general"]["resolution"] == [1024, 1024]
