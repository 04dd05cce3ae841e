"""Training on a caption set (issue 17): sd-scripts' and musubi-tuner's caption_extension come from the chosen set,
the check counts the images without a sidecar in that set, and an extension that is no set of the dataset is an
error."""

from __future__ import annotations

from loratui.config import tomllib
from loratui.training.config import TrainConfig
from loratui.training.form import FormState
from loratui.training.planner import build_plan
from loratui.training.schema import builtin_schema
from loratui.training.validate import check_config

from .test_validate import SCHEMA


def with_prose(root, skip: int = 1):
    """A .caption beside every image but the first `skip` of each folder."""
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for image in sorted(folder.glob("*.png"))[skip:]:
            image.with_suffix(".caption").write_text(f"a photo of {image.stem}", encoding="utf-8")
    return root


async def test_kohya_dataset_toml_takes_the_chosen_set(store, kohya_ctx, make_dataset, register, make_config,
                                                       tmp_path):
    await register(with_prose(make_dataset({"10_alice": [(512, 512)] * 3})))
    plan = await build_plan(store, kohya_ctx, make_config(caption_extension=".caption"), tmp_path / "job")
    data = tomllib.loads(plan.files["dataset.toml"])
    assert data["general"]["caption_extension"] == ".caption"
    assert [s["caption_extension"] for s in data["datasets"][0]["subsets"]] == [".caption"]
    assert tomllib.loads(plan.files["train_config.toml"])["caption_extension"] == ".caption"
    default = await build_plan(store, kohya_ctx, make_config(), tmp_path / "job2")
    assert tomllib.loads(default.files["dataset.toml"])["general"]["caption_extension"] == ".txt"


async def test_musubi_dataset_toml_and_steps_follow_the_set(store, musubi_ctx, make_dataset, register, tmp_path):
    await register(with_prose(make_dataset({"10_alice": [(512, 512)] * 3})))
    files = {}
    for name in ("dit", "vae", "text_encoder"):
        files[name] = tmp_path / f"{name}.safetensors"
        files[name].write_bytes(b"x")
    args = {"dit": str(files["dit"]), "vae": str(files["vae"]), "text_encoder": str(files["text_encoder"]),
            "output_dir": str(tmp_path / "out"), "network_module": "networks.lora_qwen_image", "network_dim": 8,
            "max_train_epochs": 1, "resolution": "1024,1024"}
    on_txt = await build_plan(store, musubi_ctx, TrainConfig(backend="musubi", family="qwen-image", dataset="ds",
                                                             args=dict(args)), tmp_path / "job1")
    on_prose = await build_plan(store, musubi_ctx, TrainConfig(backend="musubi", family="qwen-image", dataset="ds",
                                                               args={**args, "caption_extension": ".caption"}),
                                tmp_path / "job2")
    data = tomllib.loads(on_prose.files["dataset.toml"])
    assert data["general"]["caption_extension"] == ".caption"
    assert all(d.get("caption_extension", ".caption") == ".caption" for d in data["datasets"])
    # musubi-tuner skips images without a caption file: one of three has no .caption
    assert on_txt.total_steps == 3 * 10 and on_prose.total_steps == 2 * 10


async def test_check_warns_with_the_count_of_missing_sidecars(store, make_dataset, register, make_config):
    await register(with_prose(make_dataset({"10_alice": [(512, 512)] * 4, "5_bob": [(512, 512)] * 3})))
    issues = await check_config(store, make_config(caption_extension=".caption"), SCHEMA)
    (missing,) = [i for i in issues if i.field == "caption_extension"]
    assert missing.severity == "warning" and missing.message.startswith("2 image(s) have no .caption caption file")
    assert "10_alice/img_000.png" in missing.message and "5_bob/img_000.png" in missing.message
    unknown = await check_config(store, make_config(caption_extension=".prose"), SCHEMA)
    (error,) = [i for i in unknown if i.field == "caption_extension"]
    assert error.severity == "error" and "no such caption set" in error.message and ".caption" in error.message


async def test_form_shows_and_cycles_the_caption_set(store, make_dataset, register, make_config):
    await register(with_prose(make_dataset({"10_alice": [(512, 512)] * 2})))
    form = FormState(make_config(), builtin_schema("kohya", "sd15"))
    await form.load_dataset(store)
    assert form.caption_sets == [".txt", ".caption"] and form.caption_set_line() == "captions .txt (+1 set)"
    assert form.next_caption_set() == ".caption" and form.config.args["caption_extension"] == ".caption"
    await form.load_dataset(store)
    assert form.caption_ext == ".caption"
    assert any(i.field == "caption_extension" and i.severity == "warning" for i in form.dataset_issues)
    assert form.next_caption_set() == ".txt" and "caption_extension" not in form.config.args
