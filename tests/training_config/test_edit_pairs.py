"""Edit-model training on image pairs: musubi's dataset TOML gets the control keys, `train check` stops on what
musubi-tuner stops on, and the step count equals what the real musubi-tuner printed for the same layout
(tests/fixtures/musubi-edit, recorded from a real run: tests/fixtures/README.md)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from tests.conftest import FIXTURES
from tests.training_config.edit_layout import MUSUBI_PRINTED, TRAIN_ARGS, build_edit_dataset, register_edit_dataset

RECORDED = FIXTURES / "musubi-edit"
BUCKET_LINE = re.compile(r"bucket: \((\d+), (\d+)((?:, 'latents_control_\d+_\d+x\d+x\d+')*)\), count: (\d+)")
CONTROL_LATENT = re.compile(r"latents_control_\d+_\d+x(\d+)x(\d+)")


def edit_config(tmp_path: Path, family: str = "qwen-image-edit-2511", **args):
    from loratui.training.config import TrainConfig

    files = {}
    for role in ("dit", "vae", "text_encoder"):
        files[role] = tmp_path / f"{role}.safetensors"
        files[role].write_bytes(b"stand-in")
    values = {**{k: str(v) for k, v in files.items()}, "output_dir": str(tmp_path / "out"),
              "network_module": "networks.lora_qwen_image", **TRAIN_ARGS}
    values.update(args)
    values.pop("model_version")  # the family passes it (edit-2511, as in the recorded run)
    return TrainConfig(backend="musubi", family=family, dataset="ds", args=values)


def recorded_buckets() -> dict[str, int]:
    """The buckets musubi-tuner logged (target W x H, then each control latent x 8), summed over its datasets."""
    buckets: dict[str, int] = {}
    for match in BUCKET_LINE.finditer((RECORDED / "train.err").read_text(encoding="utf-8")):
        label = f"{match[1]}x{match[2]}" + "".join(
            f"+{int(w) * 8}x{int(h) * 8}" for h, w in CONTROL_LATENT.findall(match[3]))
        buckets[label] = buckets.get(label, 0) + int(match[4])
    return buckets


async def test_steps_and_buckets_equal_the_real_musubi_run(store, tmp_path):
    from loratui.training.planner import step_report

    await register_edit_dataset(store, tmp_path / "ds")
    report = await step_report(store, edit_config(tmp_path))
    printed = (RECORDED / "train.out").read_text(encoding="utf-8")
    assert f"total optimization steps / 学習ステップ数: {MUSUBI_PRINTED['total optimization steps']}" in printed
    assert report.exact, report.notes
    assert report.buckets == recorded_buckets()
    assert report.images_with_repeats == MUSUBI_PRINTED["num train items"]
    assert report.batches_per_epoch == MUSUBI_PRINTED["num batches per epoch"]
    assert report.epochs == MUSUBI_PRINTED["num epochs"]
    assert report.total_steps == MUSUBI_PRINTED["total optimization steps"]


async def test_a_control_size_splits_a_bucket(store, tmp_path, image_factory):
    """Two square targets in one bucket; their controls differ in size, so musubi-tuner batches them apart."""
    from loratui.training.planner import step_report

    root = tmp_path / "ds"
    for name, control in (("a", (128, 128)), ("b", (64, 64))):
        image_factory(root / "1_x" / f"{name}.png", size=(128, 128)).with_suffix(".txt").write_text("edit it")
        image_factory(root / "1_x" / "control" / f"{name}.png", size=control)
    from loratui.datasets import pair_service
    from loratui.datasets.service import add_dataset

    await add_dataset(store, root, name="ds", workers=1)
    config = edit_config(tmp_path, train_batch_size=2, gradient_accumulation_steps=1, max_train_epochs=1)
    assert (await step_report(store, config)).batches_per_epoch == 1  # both resized to the target's bucket
    await pair_service.set_control(store, "ds", "1_x", pair_service.ControlChange(no_resize=True), workers=1)
    report = await step_report(store, config)
    assert report.buckets == {"128x128+128x128": 1, "128x128+64x64": 1}
    assert report.batches_per_epoch == 2 and report.total_steps == 2


async def test_dataset_toml_has_the_control_keys(store, musubi_ctx, tmp_path):
    from loratui.training.planner import build_plan

    root = tmp_path / "ds"
    await register_edit_dataset(store, root)
    plan = await build_plan(store, musubi_ctx, edit_config(tmp_path), tmp_path / "job")
    written = tomllib.loads(plan.files["dataset.toml"])
    tables = {Path(d["image_directory"]).name: d for d in written["datasets"]}
    assert tables["3_edit"]["control_directory"] == str(root / "3_edit" / "control")
    assert "no_resize_control" not in tables["3_edit"] and "control_resolution" not in tables["3_edit"]
    assert tables["2_ref"]["control_directory"] == str(root / "2_ref_control")
    assert tables["2_ref"]["no_resize_control"] is True and tables["2_ref"]["control_resolution"] == [96, 96]
    assert tables["1_res"]["control_directory"] == str(root / "controls_res")
    assert tables["1_res"]["control_resolution"] == [112, 112] and "no_resize_control" not in tables["1_res"]
    # the caching scripts are told the variant too (Qwen-Image-Edit caches its latents as qie)
    for phase in plan.phases:
        assert phase.argv[phase.argv.index("--model_version") + 1] == "edit-2511", phase.name


async def test_plain_qwen_image_writes_no_control_keys(store, musubi_ctx, tmp_path):
    from loratui.training.planner import build_plan

    await register_edit_dataset(store, tmp_path / "ds")
    config = edit_config(tmp_path, family="qwen-image")
    plan = await build_plan(store, musubi_ctx, config, tmp_path / "job")
    assert "control_directory" not in plan.files["dataset.toml"]


async def test_check_stops_on_missing_and_badly_named_controls(store, tmp_path, image_factory):
    from loratui.training.validate import check_dataset

    root = tmp_path / "ds"
    for name in ("a", "b", "c"):
        image_factory(root / "2_x" / f"{name}.png", size=(96, 96)).with_suffix(".txt").write_text("edit it")
    image_factory(root / "2_x" / "control" / "a.png", size=(96, 96))
    image_factory(root / "2_x" / "control" / "b_left.png", size=(96, 96))  # musubi: "Invalid digits suffix"
    image_factory(root / "2_x" / "control" / "zz.png", size=(96, 96))  # extra: ignored by musubi
    from loratui.datasets.service import add_dataset

    await add_dataset(store, root, name="ds", workers=1)
    issues = await check_dataset(store, edit_config(tmp_path))
    errors = [i.message for i in issues if i.severity == "error"]
    assert any("have no control image" in m and "c.png" in m and "b.png" not in m for m in errors), errors
    assert any("b_left.png" in m and "Invalid digits suffix" in m for m in errors), errors
    assert not any("zz.png" in i.message for i in issues)


async def test_check_requires_a_control_folder_for_edit_models_only(store, tmp_path, image_factory):
    from loratui.training.validate import check_dataset

    root = tmp_path / "ds"
    image_factory(root / "1_x" / "a.png", size=(96, 96)).with_suffix(".txt").write_text("edit it")
    from loratui.datasets.service import add_dataset

    await add_dataset(store, root, name="ds", workers=1)
    edit = [i.message for i in await check_dataset(store, edit_config(tmp_path)) if i.severity == "error"]
    assert any("has no control folder" in m for m in edit), edit
    plain = edit_config(tmp_path, family="qwen-image")
    assert not any("control" in i.message for i in await check_dataset(store, plain))


def test_control_rules_by_variant():
    from loratui.training.edit_pairs import control_rule, takes_control_images

    assert control_rule("qwen-image-edit-2509").per_image is None
    assert control_rule("qwen-image-edit").architecture == "qie"
    assert control_rule("flux-kontext").per_image == 1
    assert not takes_control_images("qwen-image", {})
    # a registry family's variant wins over [args] (validation reports the contradiction)
    assert not takes_control_images("qwen-image", {"model_version": "edit"})
    assert not takes_control_images("sdxl")


def test_train_steps_json_for_an_edit_model(musubi_ctx, tmp_path, cli, monkeypatch):
    """`loratui train steps CONFIG --json`: the count musubi-tuner printed, exact (the dataset set up by the CLI)."""
    build_edit_dataset(tmp_path / "ds")
    assert cli("dataset", "add", str(tmp_path / "ds"), "--name", "ds", "--workers", "1").code == 0
    assert cli("dataset", "control", "ds", "2_ref", "--no-resize-control", "--control-resolution", "96",
               "--workers", "1").code == 0
    assert cli("dataset", "control", "ds", "1_res", "--folder", "controls_res", "--control-resolution", "112,112",
               "--workers", "1").code == 0
    monkeypatch.setenv("LORATUI_MUSUBI_DIR", musubi_ctx.settings.trainers.musubi_dir)
    monkeypatch.setenv("LORATUI_MUSUBI_PYTHON", musubi_ctx.settings.trainers.musubi_python)
    config_path = tmp_path / "edit.toml"
    config_path.write_text(edit_config(tmp_path).to_toml(), encoding="utf-8")
    result = cli("train", "steps", str(config_path), "--json")
    assert result.code == 0, result
    data = result.json()
    assert data["exact"] is True and data["total_steps"] == MUSUBI_PRINTED["total optimization steps"]
    assert data["buckets"] == recorded_buckets()
