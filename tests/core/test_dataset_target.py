"""A dataset's target (family and base resolution) decides the buckets every view shows (issue 14), and caption
files without an image are listed rather than ignored."""

from __future__ import annotations

import asyncio
import json

import pytest

from loratui.datasets import dataset_repo, image_repo
from loratui.datasets.buckets import MusubiBucketRules
from loratui.datasets.target import DatasetTarget, bucket_labeler
from loratui.errors import InputError
from loratui.store import Store, changes
from loratui.training.dataset_target import (
    compare_with_form, known_families, parse_target, target_for, target_from_config,
)
from loratui.training.form import FormState
from loratui.training.presets import load_preset
from loratui.training.schema import builtin_schema
from tests.conftest import FIXTURES, make_image


def test_musubi_buckets_match_musubi_tuner():
    rows = json.loads((FIXTURES / "buckets" / "musubi_qwen_image.json").read_text())
    assert len(rows) == 240
    for resolution, no_upscale, enable, width, height, expected in rows:
        rules = MusubiBucketRules(tuple(resolution), 16, enable, no_upscale)
        assert list(rules.select(width, height)) == expected, (resolution, no_upscale, enable, width, height)


def test_family_ids_and_specs():
    assert {"sd15", "sdxl", "flux", "sd3", "qwen-image"} <= set(known_families())
    assert parse_target("sd15").resolution == (512, 512)
    assert parse_target("SDXL:1024x768").resolution == (1024, 768)
    assert parse_target("flux:768").resolution == (768, 768)
    qwen = parse_target("qwen-image")
    assert (qwen.trainer, qwen.bucket_reso_steps, qwen.resolution) == ("musubi", 16, (1024, 1024))
    for bad in ("sd9", "sd15:big", "sd15:10", ""):
        with pytest.raises(InputError):
            parse_target(bad)


def test_stored_target_reads_back_and_a_damaged_row_is_no_target():
    target = target_for("sdxl", (1024, 768))
    assert DatasetTarget.from_columns("sdxl", 1024, 768, target.options_json()) == target
    assert DatasetTarget.from_columns("sdxl", 1024, 768, "{not json") is None
    assert DatasetTarget.from_columns(None, None, None, None) is None


def _portrait_dataset(tmp_path):
    root = tmp_path / "portraits"
    make_image(root / "10_p" / "tall.png", size=(384, 576))
    (root / "10_p" / "tall.txt").write_text("woman\n")
    make_image(root / "10_p" / "wide.png", size=(600, 400))
    (root / "10_p" / "gone.txt").write_text("an image that was deleted\n")
    (root / "stray.txt").write_text("no image here either")
    return root


def test_list_show_and_training_form_agree_on_buckets(tmp_path, cli, home):
    """Before: the list and preview showed 704x1024 (1024 base) for a 384x576 image that the sd15 form put into
    384x576. With the dataset's target set from the form, every view shows the form's buckets."""
    root = _portrait_dataset(tmp_path)
    assert cli("dataset", "add", root, "--workers", "1").code == 0
    show = cli("dataset", "show", "portraits", "--json").json()
    assert show["target"] is None and show["buckets"] == {"704x1024": 1, "1024x704": 1}
    assert "no target" in show["buckets_follow"]

    config = load_preset(None, "sd15-12gb")
    config.dataset = "portraits"

    async def form_buckets():
        async with Store.open(home / "loratui.db") as store:
            form = FormState(config, builtin_schema(config.backend, config.family))
            await form.load_dataset(store)
            dataset = await store.run(dataset_repo.get_dataset, "portraits")
            rows = await store.read(image_repo.list_rows, dataset.id, None)
            return form.steps().buckets, sorted(rows.buckets), dataset.target

    form, listed, target = asyncio.run(form_buckets())
    assert form == {"384x576": 10, "576x384": 10} and listed == ["1024x704", "704x1024"] and target is None
    assert "none" in compare_with_form(config, None)

    mine = target_from_config(config)
    spec = f"{mine.family}:{mine.resolution[0]}x{mine.resolution[1]}"
    result = cli("dataset", "target", "portraits", spec, "--json")
    assert result.code == 0, result
    assert result.json()["images_moved"] == 2 and result.json()["target"]["family"] == "sd15"
    form, listed, target = asyncio.run(form_buckets())
    assert sorted(form) == listed == ["384x576", "576x384"]
    assert target.same_buckets(mine) and "shows these buckets" in compare_with_form(config, target)
    show = cli("dataset", "show", "portraits", "--json").json()
    assert show["buckets"] == {"384x576": 1, "576x384": 1} and show["target"]["label"] == "sd15 512x512"
    text = cli("dataset", "show", "portraits")
    assert "sd15 512x512" in text.out and "1024" not in text.out.split("Buckets", 1)[1].split("Resolutions")[0]

    # An image added later is bucketed at the target too; clearing goes back to the default.
    make_image(root / "10_p" / "new.png", size=(384, 576))
    assert cli("dataset", "scan", "portraits").code == 0
    assert cli("dataset", "show", "portraits", "--json").json()["buckets"]["384x576"] == 2
    assert cli("dataset", "target", "portraits", "--clear").code == 0
    assert cli("dataset", "show", "portraits", "--json").json()["buckets"]["704x1024"] == 2
    assert "default" in cli("dataset", "target", "portraits").out


def test_add_with_a_target_and_bad_targets(tmp_path, cli):
    root = _portrait_dataset(tmp_path)
    bad = cli("dataset", "add", root, "--target", "sd9")
    assert bad.code == 2 and "unknown model family 'sd9'" in bad.err and "Traceback" not in bad.err
    assert cli("dataset", "list", "--json").json() == []
    added = cli("dataset", "add", root, "--target", "sdxl:1024", "--workers", "1")
    assert added.code == 0 and "sdxl 1024x1024" in added.err
    listing = cli("dataset", "list", "--json").json()
    assert listing[0]["target"]["label"] == "sdxl 1024x1024" and listing[0]["orphan_captions"] == 2
    assert "sdxl" in cli("dataset", "list").out
    both = cli("dataset", "target", "portraits", "sd15", "--clear")
    assert both.code == 2


def test_setting_a_target_goes_through_the_change_log(tmp_path, home):
    root = _portrait_dataset(tmp_path)

    async def run():
        from loratui.datasets.service import add_dataset, set_target
        async with Store.open(home / "loratui.db") as store:
            dataset, _ = await add_dataset(store, root, workers=1)
            cursor = await store.read(changes.start)
            _, moved = await set_target(store, dataset.name, target_for("sd15"))
            seen = await store.read(changes.poll, cursor)
            _, again = await set_target(store, dataset.name, target_for("sd15"))
            quiet = await store.read(changes.poll, cursor)
            return dataset.id, moved, seen, again, quiet

    dataset_id, moved, seen, again, quiet = asyncio.run(run())
    assert moved == 2 and seen.touches_datasets() and seen.touches_images(dataset_id)
    assert again == 0 and not quiet  # the same target again changes nothing and tells nobody


def test_orphan_captions_are_listed_until_their_image_comes_back(tmp_path, cli):
    """Before: a .txt without an image was ignored silently."""
    root = _portrait_dataset(tmp_path)
    report = cli("dataset", "add", root, "--workers", "1", "--json").json()
    assert report["orphan_captions"] == 2
    show = cli("dataset", "show", "portraits", "--json").json()
    assert [o["path"] for o in show["orphan_captions"]] == ["10_p/gone.txt", "stray.txt"]
    assert "10_p/gone.txt" in cli("dataset", "show", "portraits").out
    assert [o["path"] for o in cli("dataset", "orphans", "portraits", "--json").json()] == ["10_p/gone.txt",
                                                                                             "stray.txt"]
    make_image(root / "10_p" / "gone.jpg")
    (root / "stray.txt").unlink()
    assert cli("dataset", "scan", "portraits", "--json").json()["orphan_captions"] == 0
    assert cli("dataset", "orphans", "portraits", "--json").json() == []
    assert "no caption file without an image" in cli("dataset", "orphans", "portraits").err


def test_labeler_without_a_target_is_the_old_default():
    label = bucket_labeler(None)
    assert label(384, 576, 1) == "704x1024" and label(576, 384, 6) == "704x1024"  # trainers bucket the raw (unrotated) size
    assert bucket_labeler(target_for("sd15"))(384, 576, 1) == "384x576"


def test_a_new_training_config_starts_from_the_target():
    from loratui.training.dataset_target import starting_config
    config = starting_config(None, target_for("sdxl", (896, 1152)), "sd15-12gb")
    assert (config.family, config.args["resolution"]) == ("sdxl", "896,1152")
    assert target_from_config(config).same_buckets(target_for("sdxl", (896, 1152)))
    assert starting_config(None, None, "sd15-12gb").family == "sd15"
