"""The step calculator against hand-computed multi-bucket cases (sd-scripts v0.10.1 semantics).

Buckets at resolution 512 (min 256, max 1024, steps 64) include 512x512, 640x384 (1.667), 576x448 (1.286),
448x576 and 384x640. A 768x512 image (1.5) is nearest to 640x384; 512x768 to 384x640.
"""

from __future__ import annotations

from loratui.datasets.buckets import BucketRules
from loratui.training.steps import StepParams, SubsetImages, compute_steps, load_subsets, params_from_args

RULES = BucketRules(resolution=(512, 512), min_bucket_reso=256, max_bucket_reso=1024, bucket_reso_steps=64)


def subsets_ab():
    return [SubsetImages("10_a", 10, False, [(512, 512), (768, 512), (768, 512)]),
            SubsetImages("5_b", 5, False, [(512, 768)])]


def test_buckets_repeats_and_batch_size():
    report = compute_steps(subsets_ab(), StepParams(RULES, batch_size=2, max_train_epochs=3))
    assert report.buckets == {"384x640": 5, "512x512": 10, "640x384": 20}
    assert report.images == 4 and report.images_with_repeats == 35
    # ceil(10/2) + ceil(20/2) + ceil(5/2) = 5 + 10 + 3: per bucket, not ceil(35/2) = 18 by luck only
    assert report.batches_per_epoch == 18
    assert report.steps_per_epoch == 18 and report.total_steps == 54 and report.epochs == 3


def test_per_bucket_rounding_differs_from_naive():
    subsets = [SubsetImages("1_a", 1, False, [(512, 512)] * 3 + [(768, 512)] * 3 + [(512, 768)] * 3)]
    report = compute_steps(subsets, StepParams(RULES, batch_size=2, max_train_epochs=1))
    assert report.batches_per_epoch == 6  # 2 + 2 + 2, where ceil(9 / 2) would say 5
    assert report.total_steps == 6


def test_gradient_accumulation_and_processes():
    report = compute_steps(subsets_ab(), StepParams(RULES, batch_size=2, gradient_accumulation_steps=4,
                                                    max_train_epochs=3))
    assert report.steps_per_epoch == 5 and report.total_steps == 15  # ceil(18 / 4) = 5
    report = compute_steps(subsets_ab(), StepParams(RULES, batch_size=2, gradient_accumulation_steps=4,
                                                    num_processes=2, max_train_epochs=3))
    assert report.steps_per_epoch == 3 and report.total_steps == 9  # ceil(18 / 2 / 4) = ceil(2.25)


def test_max_train_steps_without_epochs():
    report = compute_steps(subsets_ab(), StepParams(RULES, batch_size=2, max_train_steps=100))
    assert report.total_steps == 100 and report.epochs == 6  # ceil(100 / 18)


def test_regularisation_images_cycle_to_cover_training_count():
    subsets = [SubsetImages("2_a", 2, False, [(512, 512)] * 3),
               SubsetImages("reg/1_r", 1, True, [(768, 512), (512, 768)])]
    report = compute_steps(subsets, StepParams(RULES, batch_size=1, max_train_epochs=1))
    assert report.train_images_with_repeats == 6 and report.reg_images_with_repeats == 2  # as sd-scripts prints
    # each reg image is registered, then gets one more repeat in turn until 6 are covered: 3 + 3
    assert report.buckets == {"384x640": 3, "512x512": 6, "640x384": 3}
    assert report.images_with_repeats == 12 and report.total_steps == 12


def test_regularisation_stops_mid_list_and_may_overshoot():
    one = [SubsetImages("1_a", 1, False, [(512, 512)]),
           SubsetImages("reg/1_r", 1, True, [(768, 512), (512, 768), (512, 512)])]
    report = compute_steps(one, StepParams(RULES, batch_size=1, max_train_epochs=1))
    assert report.buckets == {"512x512": 1, "640x384": 1}  # only the first reg image is used
    seven = [SubsetImages("7_a", 7, False, [(512, 512)]), SubsetImages("reg/5_r", 5, True, [(768, 512)] * 3)]
    report = compute_steps(seven, StepParams(RULES, batch_size=1, max_train_epochs=1))
    assert report.buckets == {"512x512": 7, "640x384": 10}  # two reg images at 5 repeats: 10 >= 7


def test_reg_images_alone_train_nothing():
    report = compute_steps([SubsetImages("reg/1_r", 1, True, [(512, 512)])], StepParams(RULES, max_train_epochs=1))
    assert report.total_steps == 0 and report.notes


def test_bucket_no_upscale():
    rules = BucketRules(resolution=(512, 512), bucket_no_upscale=True)
    subsets = [SubsetImages("1_x", 1, False, [(300, 200), (1024, 768), (1024, 768), (64, 64)])]
    report = compute_steps(subsets, StepParams(rules, batch_size=2, max_train_epochs=1))
    # small images keep their size (cut to steps of 64); big ones shrink to the area of 512x512
    assert report.buckets == {"256x192": 1, "512x384": 2, "64x64": 1}
    assert report.batches_per_epoch == 3
    upscale = compute_steps(subsets, StepParams(RULES, batch_size=2, max_train_epochs=1))
    assert upscale.buckets == {"512x512": 1, "576x448": 2, "640x384": 1}


def test_buckets_disabled_and_ignored_subsets():
    rules = BucketRules(resolution=(512, 512), enable_bucket=False)
    subsets = [SubsetImages("1_x", 1, False, [(300, 200), (1024, 768)]), SubsetImages("0_skip", 0, False, [(64, 64)]),
               SubsetImages("3_empty", 3, False, [])]
    report = compute_steps(subsets, StepParams(rules, batch_size=1, max_train_epochs=2))
    assert report.buckets == {"512x512": 2} and report.total_steps == 4 and report.images == 2


def test_unbucketable_images_are_reported():
    rules = BucketRules(resolution=(128, 128), bucket_no_upscale=True)
    report = compute_steps([SubsetImages("1_x", 1, False, [(300, 90), (128, 128)], ["1_x/a.png", "1_x/b.png"])],
                           StepParams(rules, max_train_epochs=1))
    assert report.unbucketable == ["1_x/a.png"] and report.buckets == {"128x128": 1}


def test_params_from_args_uses_trainer_defaults():
    params = params_from_args({"resolution": "768,512", "enable_bucket": True, "train_batch_size": 4},
                              {"num_processes": 2})
    assert params.rules.resolution == (768, 512) and params.rules.enable_bucket
    assert params.batch_size == 4 and params.num_processes == 2 and params.max_train_steps == 1600
    assert params.max_train_epochs is None


async def test_store_sizes_are_raw_not_exif_rotated(store, make_dataset, register, tmp_path):
    from PIL import Image

    root = make_dataset({"2_a": [(512, 512)]})
    rotated = root / "2_a" / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (768, 512), (1, 2, 3)).save(rotated, exif=exif.tobytes())  # shown as 512x768
    (root / "2_a" / "rotated.txt").write_text("x", encoding="utf-8")
    (root / "2_a" / "ignored.gif").write_bytes(b"GIF89a")  # sd-scripts does not glob .gif
    dataset = await register(root)
    (subset,) = await load_subsets(store, dataset.id)
    assert sorted(subset.sizes) == [(512, 512), (768, 512)]
    report = compute_steps([subset], StepParams(RULES, max_train_epochs=1))
    assert report.buckets == {"512x512": 2, "640x384": 2}  # raw 768x512 -> 640x384, not 384x640


def test_vectorised_selection_equals_bucket_rules():
    import random

    from loratui.training.steps import select_buckets

    rng = random.Random(5)
    for _ in range(12):
        rules = BucketRules(rng.choice([(512, 512), (768, 512), (1024, 1024), (640, 896)]), True,
                            rng.choice([64, 256]), rng.choice([1024, 2048]), 64, rng.random() < 0.3)
        sizes = [(rng.randrange(16, 5000), rng.randrange(16, 5000)) for _ in range(300)] + [(512, 512), (640, 384)]
        for size, got in zip(sizes, select_buckets(rules, sizes)):
            try:
                want = rules.select(*size)
            except ZeroDivisionError:
                want = (0, 0)
            assert got == want, (rules, size)
