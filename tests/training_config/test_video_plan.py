"""A musubi video family (Wan 2.1) on a folder of videos and an image: the dataset TOML's video entry and the
step count with every clip an item per repeat, bucketed by frame size and length."""

from __future__ import annotations

import pytest

from loratui.errors import TrainingError
from loratui.training.config import TrainConfig
from loratui.training.planner import build_plan, step_report
from tests.training_config.conftest import MUSUBI_STAND_IN
from tests.videos.videofiles import make_video

WAN_STAND_IN = MUSUBI_STAND_IN.replace(
    'parser.add_argument("--text_encoder", type=str, default=None, help="text encoder")',
    'parser.add_argument("--t5", type=str, default=None, help="T5")\n'
    '    parser.add_argument("--task", type=str, default=None, help="task")')


@pytest.fixture
def wan_ctx(musubi_ctx, tmp_path):
    scripts = tmp_path / "musubi" / "src" / "musubi_tuner"
    for name in ("wan_train_network.py", "wan_cache_latents.py", "wan_cache_text_encoder_outputs.py"):
        (scripts / name).write_text(WAN_STAND_IN)
    return musubi_ctx


def _config(tmp_path, **args) -> TrainConfig:
    files = {}
    for name in ("dit", "vae", "t5"):
        files[name] = tmp_path / f"{name}.safetensors"
        files[name].write_bytes(b"x")
    values = {**{k: str(v) for k, v in files.items()}, "output_dir": str(tmp_path / "out"),
              "network_module": "networks.lora_wan", "max_train_epochs": 1, "resolution": "256,256",
              "train_batch_size": 2, "target_frames": [1, 9, 25], "frame_extraction": "head"}
    values.update(args)
    return TrainConfig(backend="musubi", family="wan2.1-t2v-1.3b", dataset="ds", args=values)


async def test_video_dataset_toml_and_steps(store, wan_ctx, register, image_factory, tmp_path):
    from loratui.config import tomllib as toml_reader

    root = tmp_path / "ds"
    make_video(root / "2_clips" / "a.mp4", 30, 24)  # head: clips of 1, 9 and 25 frames
    make_video(root / "2_clips" / "b.mp4", 10, 24, size=(64, 32))  # 1 and 9 (25 is too long)
    make_video(root / "2_clips" / "c.mp4", 4, 24, pattern=4)  # only 1
    for stem in ("a", "b", "c", "still"):
        (root / "2_clips" / f"{stem}.txt").write_text("a caption")
    image_factory(root / "2_clips" / "still.png", size=(256, 256))
    await register(root)

    config = _config(tmp_path)
    report = await step_report(store, config)
    # 6 clips x 2 repeats; batch 2: each (frame size, length) bucket holds one video's clip twice -> 1 batch each,
    # a and c share 32x32 one-frame clips (4 -> 2 batches): 32x32x1, 32x32x9, 32x32x25, 64x32x1, 64x32x9 + image
    assert report.images_with_repeats == 2 + 12
    assert report.batches_per_epoch == 1 + (2 + 1 + 1 + 1 + 1) and report.total_steps == 7
    assert any("6 video clip(s) from 3 video(s)" in note for note in report.notes)
    plan = await build_plan(store, wan_ctx, config, tmp_path / "job")
    data = toml_reader.loads(plan.files["dataset.toml"])
    image, video = data["datasets"]
    assert image["image_directory"] == video["video_directory"] == str(root / "2_clips")
    assert video["target_frames"] == [1, 9, 25] and video["frame_extraction"] == "head"
    assert video["num_repeats"] == 2 and video["cache_directory"] != image["cache_directory"]
    train = plan.phases[-1].argv
    assert "--target_frames" not in train and "--frame_extraction" not in train  # dataset TOML only

    chunked = await step_report(store, _config(tmp_path, target_frames=[5], frame_extraction="chunk",
                                                source_fps=24.0))
    # 24 -> 16 fps: a keeps 20 frames (4 chunks of 5), b 7 (1 chunk), c 3 (none: too short)
    assert chunked.images_with_repeats == 2 + 2 * 5
    assert any("1 video(s) too short" in note for note in chunked.notes)

    (root / "2_clips" / "b.txt").unlink()
    from loratui.datasets.service import rescan_dataset

    await rescan_dataset(store, "ds", workers=1)
    with pytest.raises(TrainingError, match="without a caption file"):
        await build_plan(store, wan_ctx, config, tmp_path / "job2")


async def test_check_dataset_knows_videos(store, register, make_config, tmp_path):
    from loratui.training.validate import check_dataset

    root = tmp_path / "ds"
    make_video(root / "2_clips" / "a.mp4", 12, 24)
    (root / "2_clips" / "a.txt").write_text("a caption")
    (root / "2_clips" / "bad.mp4").write_text("not a video")
    await register(root)
    wan = [(i.message, i.severity) for i in await check_dataset(store, _config(tmp_path))]
    assert not any("no training images" in m for m, _ in wan)  # the clips are the training items
    assert any("1 broken video(s) would stop musubi-tuner" in m and s == "error" for m, s in wan)
    sd15 = [(i.message, i.severity) for i in await check_dataset(store, make_config())]
    assert any("broken video(s), not read" in m and s == "warning" for m, s in sd15)
    assert any("1 video(s) are not read by this family" in m for m, _ in sd15)
    assert any("no training images sd-scripts would read" in m and s == "error" for m, s in sd15)


async def test_form_recounts_clips_when_clip_options_change(store, register, tmp_path):
    from loratui.training.form import FormState
    from loratui.training.schema import builtin_schema

    root = tmp_path / "ds"
    make_video(root / "1_clips" / "a.mp4", 30, 24)
    (root / "1_clips" / "a.txt").write_text("a caption")
    await register(root)
    config = _config(tmp_path, train_batch_size=1)
    form = FormState(config, builtin_schema("musubi", config.family))
    await form.load_dataset(store)
    head = form.steps()
    assert head.total_steps == (await step_report(store, config)).total_steps == 3  # 1, 9 and 25 frames
    form.config.args.update(target_frames=[5], frame_extraction="chunk")
    assert form.steps().total_steps == 6  # 30 frames: six chunks of 5
    form.config.args.update(target_frames=[1, 9, 25], frame_extraction="head")
    assert form.steps().total_steps == 3  # the earlier clips, from the form's cache
    form.config.args.update(frame_extraction="middle")
    assert not form.steps().exact  # a bad option: no count, no crash
