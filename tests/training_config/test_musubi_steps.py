"""musubi-tuner's step count (commit 30c658c semantics), against hand-computed cases.

The first case is the layout of a recorded real run (tests/fixtures/musubi-logs/steps): the test reads the
buckets and the total musubi printed there. tests/training_run/test_musubi_real.py (marker `musubi`) compares
the count with the real trainer's through `loratui train start`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from loratui.training.steps import (
    MusubiDataset, MusubiItem, MusubiStepParams, compute_musubi_steps, musubi_bucket_resolutions,
    musubi_control_bucket,
)


def items(*sizes, controls=None):
    return [MusubiItem(f"img{i}.png", size, list((controls or {}).get(i, []))) for i, size in enumerate(sizes)]


def test_bucket_list_is_musubis():
    # area 128*128, side 128: widths 64..128 by 16, heights area // w cut to 16, and the transposes
    assert musubi_bucket_resolutions((128, 128), 16) == [
        (64, 256), (80, 192), (96, 160), (112, 144), (128, 128), (144, 112), (160, 96), (192, 80), (256, 64)]
    # not sd-scripts' list: no min/max clamp, no 64-step (sd-scripts at 128 has only 64x256 ... 256x64 by 64)
    assert (112, 144) in musubi_bucket_resolutions((128, 128), 16)


def test_two_datasets_each_bucketed_and_batched_on_its_own():
    # The layout of a real run (musubi printed exactly these buckets and 20 steps)
    first = MusubiDataset("a", 3, items((128, 128), (128, 128), (128, 128), (192, 128), (192, 128), (128, 192),
                                        (100, 150), (256, 64)), (128, 128), 2, True, False)
    second = MusubiDataset("b", 2, items((64, 48), (200, 100), (96, 96)), (96, 96), 1, True, True)
    report = compute_musubi_steps([first, second], MusubiStepParams(gradient_accumulation_steps=2,
                                                                     max_train_epochs=2))
    assert report.buckets == {"a: 96x160": 6, "a: 128x128": 9, "a: 160x96": 6, "a: 256x64": 3,
                              "b: 64x48": 2, "b: 96x96": 2, "b: 144x64": 2}
    assert report.images == 11 and report.images_with_repeats == 30
    assert report.batches_per_epoch == 13 + 6
    assert report.steps_per_epoch == 10 and report.total_steps == 20 and report.epochs == 2
    # without max_train_epochs the printed total is max_train_steps
    report = compute_musubi_steps([first, second], MusubiStepParams(max_train_steps=7))
    assert report.total_steps == 7 and report.epochs == 1


def test_the_recorded_run_printed_the_same_buckets_and_total():
    logs = Path(__file__).resolve().parents[1] / "fixtures" / "musubi-logs" / "steps"
    err, out = (logs / "train.err").read_text(), (logs / "train.out").read_text()
    printed, dataset = {}, 0
    for line in err.splitlines():
        bucket = re.match(r"INFO:musubi_tuner\.dataset\.bucket:bucket: \((\d+), (\d+)\), count: (\d+)", line)
        if bucket:
            printed[f"{'ab'[dataset]}: {bucket[1]}x{bucket[2]}"] = int(bucket[3])
        elif "dataset.bucket:total batches" in line:
            dataset += 1
    assert dataset == 2
    first = MusubiDataset("a", 3, items((128, 128), (128, 128), (128, 128), (192, 128), (192, 128), (128, 192),
                                        (100, 150), (256, 64)), (128, 128), 2, True, False)
    second = MusubiDataset("b", 2, items((64, 48), (200, 100), (96, 96)), (96, 96), 1, True, True)
    report = compute_musubi_steps([first, second], MusubiStepParams(gradient_accumulation_steps=2,
                                                                     max_train_epochs=2))
    assert report.buckets == printed
    assert f"total optimization steps / 学習ステップ数: {report.total_steps}" in out


def test_no_upscale_keeps_small_images_and_shrinks_big_ones_by_aspect():
    dataset = MusubiDataset("x", 1, items((100, 150), (300, 300), (10, 100)), (128, 128), 1, True, True)
    report = compute_musubi_steps([dataset], MusubiStepParams(max_train_epochs=1))
    # 100x150 fits the area: its own size cut to 16; 300x300 is larger: the nearest aspect bucket
    assert report.buckets == {"96x144": 1, "128x128": 1}
    assert report.unbucketable == ["img2.png"]  # 10 px wide cuts to 0: musubi cannot resize to it


def test_nearest_aspect_first_of_equals():
    # 2:1 sits between nothing: 256x64 (4.0) and 192x80 (2.4); 3:1 is nearer 2.4 than 4.0 by 0.6 vs 1.0
    dataset = MusubiDataset("x", 1, items((300, 100), (600, 150)), (128, 128), 1, True, False)
    report = compute_musubi_steps([dataset], MusubiStepParams(max_train_epochs=1))
    assert report.buckets == {"192x80": 1, "256x64": 1}


def test_buckets_off_puts_everything_at_the_resolution():
    dataset = MusubiDataset("x", 2, items((300, 100), (64, 64)), (128, 96), 4, False, True)
    report = compute_musubi_steps([dataset], MusubiStepParams(max_train_epochs=1))
    assert report.buckets == {"128x96": 4} and report.batches_per_epoch == 1


def test_processes_and_accumulation():
    dataset = MusubiDataset("x", 9, items((128, 128)), (128, 128), 1, True, False)  # 9 batches
    report = compute_musubi_steps([dataset], MusubiStepParams(num_processes=2, gradient_accumulation_steps=2,
                                                              max_train_epochs=3))
    assert report.steps_per_epoch == 3 and report.total_steps == 9  # 3 * ceil(9 / 2 / 2)
    report = compute_musubi_steps([dataset], MusubiStepParams(num_processes=2, gradient_accumulation_steps=2,
                                                              max_train_steps=10))
    assert report.epochs == 4  # ceil(10 / ceil(ceil(9 / 2) / 2)) = ceil(10 / 3)


def test_controls_split_buckets_by_count_and_size():
    # The layout of a real Qwen-Image-Edit run: one target has two controls; the 160x96 one its own bucket
    dataset = MusubiDataset("e", 1, items((128, 128), (128, 128), (128, 128), (160, 96),
                                          controls={0: [(128, 128)], 1: [(200, 200)], 2: [(128, 128), (64, 64)],
                                                    3: [(128, 128)]}), (128, 128), 2, True, False)
    report = compute_musubi_steps([dataset], MusubiStepParams(max_train_epochs=1))
    # default: every control is resized to its target's bucket, so only the count splits here
    assert report.buckets == {"128x128 +control 128x128": 2, "128x128 +control 128x128,128x128": 1,
                              "160x96 +control 160x96": 1}
    assert report.batches_per_epoch == 3 and report.total_steps == 3


def test_control_resolution_and_no_resize_control():
    controls = {0: [(512, 512)], 1: [(256, 128)], 2: [(100, 90)]}
    base = items((128, 128), (128, 128), (128, 128), controls=controls)
    kept = MusubiDataset("k", 1, base, (128, 128), 4, True, False, no_resize_control=True)
    report = compute_musubi_steps([kept], MusubiStepParams(max_train_epochs=1))
    assert report.buckets == {"128x128 +control 512x512": 1, "128x128 +control 256x128": 1,
                              "128x128 +control 96x80": 1}  # own sizes cut to 16
    limited = MusubiDataset("l", 1, base, (128, 128), 4, True, False, control_resolution=(128, 128))
    report = compute_musubi_steps([limited], MusubiStepParams(max_train_epochs=1))
    # each control bucketed to 128x128's area by its own aspect: 512x512 and 100x90 -> 128x128, 2:1 -> 176x80
    assert report.buckets == {"128x128 +control 128x128": 2, "128x128 +control 176x80": 1}
    assert musubi_control_bucket((256, 128), (128, 128), 16) == (176, 80)  # 2.2 beats 160x96's 1.67
    both = MusubiDataset("b", 1, base, (128, 128), 4, True, False, no_resize_control=True,
                         control_resolution=(256, 256))
    report = compute_musubi_steps([both], MusubiStepParams(max_train_epochs=1))
    # a maximum: only the 512x512 control is larger than 256x256's area and shrinks; the others stay as they are
    assert report.buckets == {"128x128 +control 100x90": 1, "128x128 +control 256x128": 1,
                              "128x128 +control 256x256": 1}


@pytest.mark.parametrize("family", ["qwen-image", "qwen-image-edit-2511"])
async def test_the_form_counts_as_train_steps_does(family, store, make_dataset, register, image_factory):
    """The training form's step panel shows musubi-tuner's own count (edit models: with the control sizes)."""
    from loratui.training.config import TrainConfig
    from loratui.training.form import FormState
    from loratui.training.planner import step_report
    from loratui.training.schema import builtin_schema

    layout = {"3_a": [(512, 512), (768, 512), (300, 900)], "1_b": [(1024, 640)]}
    root = make_dataset(layout)
    for folder, sizes in layout.items():
        for index, (w, h) in enumerate(sizes):
            image_factory(root / folder / "control" / f"img_{index:03d}.png", size=(h, w) if index else (w, h))
    await register(root)
    config = TrainConfig(backend="musubi", family=family, dataset="ds",
                         args={"resolution": "512,512", "train_batch_size": 2, "max_train_epochs": 3})
    form = FormState(config, builtin_schema("musubi", family))
    await form.load_dataset(store)
    shown, expected = form.steps(), await step_report(store, config)
    assert shown.exact and expected.exact
    assert (shown.total_steps, shown.buckets) == (expected.total_steps, expected.buckets)
    assert any("+" in label for label in shown.buckets) == (family != "qwen-image")  # control sizes in the key
