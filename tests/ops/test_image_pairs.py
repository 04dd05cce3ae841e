"""Image pairs for edit models: pairing by stem as musubi-tuner does, the index's missing / extra / mismatched /
badly named pairs after each scan, control folders found or set, and the CLI with --json."""

from __future__ import annotations

from pathlib import Path

import pytest

from loratui.datasets.pairs import ControlOptions, pair_by_stem, size_note
from tests.training_config.edit_layout import build_edit_dataset

# -- pairing, as musubi-tuner's ImageDirectoryDatasource does it -------------------------------------------------


def test_pairs_by_stem_in_musubi_order():
    pairing = pair_by_stem(["a.png", "b.png", "c.png"], ["a.jpg", "b_1.png", "b_0.png", "b.png", "zz.png"])
    assert pairing.controls == {"a.png": ["a.jpg"], "b.png": ["b.png", "b_0.png", "b_1.png"]}
    assert pairing.extra == ["zz.png"]
    assert pairing.missing(["a.png", "b.png", "c.png"]) == ["c.png"]


def test_longer_names_take_their_controls_first():
    # "a_1.png" would match the stem "a" too; the longer target "a_1.png" is served first and takes it.
    pairing = pair_by_stem(["a.png", "a_1.png"], ["a.png", "a_1.png"])
    assert pairing.controls == {"a.png": ["a.png"], "a_1.png": ["a_1.png"]}


def test_bad_suffixes_and_ties_are_flagged():
    pairing = pair_by_stem(["a.png", "b.png"], ["a_left.png", "a_0.png", "b.png", "b.jpg"])
    assert pairing.bad_names == {"a.png": ["a_left.png"]} and pairing.controls["a.png"] == ["a_0.png"]
    assert pairing.ambiguous == {"b.png": ["b.jpg", "b.png"]}


def test_mismatch_depends_on_the_resize_options():
    assert size_note((128, 128), (64, 64), ControlOptions()) == (False, "control 64x64, target 128x128: same shape, "
                                                                        "scaled")
    mismatched, words = size_note((96, 160), (128, 128), ControlOptions())
    assert mismatched and "40% of the control's width is cropped" in words
    assert not size_note((96, 160), (128, 128), ControlOptions(resolution=(1024, 1024)))[0]
    assert not size_note((96, 160), (128, 128), ControlOptions(no_resize=True))[0]


# -- the index ------------------------------------------------------------------------------------------------


@pytest.fixture
def edit_dir(tmp_path) -> Path:
    return build_edit_dataset(tmp_path / "edit")


def problems(cli, name="ds") -> dict[str, tuple[str, str]]:
    result = cli("dataset", "show", name, "--json")
    assert result.code == 0, result
    return {(p["path"], p["kind"]): p["problem"] for p in result.json()["pairs"]["problems"]}


def test_scan_indexes_missing_extra_and_mismatched_pairs(cli, edit_dir, image_factory):
    assert cli("dataset", "add", str(edit_dir), "--name", "ds", "--workers", "1", "--json").code == 0
    images = {i["path"]: i for i in cli("dataset", "images", "ds", "--json").json()}
    # control folders are not training images; controls_res belongs to no subset yet, so it is one
    assert not any("/control/" in path or path.startswith("2_ref_control/") for path in images)
    assert "controls_res/q0.png" in images and images["1_res/q0.png"]["pair"] is None
    assert images["3_edit/t3.png"]["pair"]["status"] == "ok"
    assert [c["path"] for c in images["3_edit/t3.png"]["pair"]["controls"]] == ["3_edit/control/t3_0.png",
                                                                                 "3_edit/control/t3_1.png"]
    assert images["3_edit/t4.png"]["pair"]["controls"][0]["path"] == "3_edit/control/t4.jpg"
    found = problems(cli)
    assert found[("3_edit/control/zz.png", "control")] == "extra"
    assert found[("3_edit/t2.png", "target")] == "mismatch"
    assert ("3_edit/t0.png", "target") not in found  # same size
    assert ("3_edit/t3.png", "target") not in found  # t3_1 is 64x64 for a 128x128 target: only scaled

    # a target loses its control: missing; the control comes back under another stem: an extra
    (edit_dir / "3_edit" / "control" / "t0.png").rename(edit_dir / "3_edit" / "control" / "old.png")
    assert cli("dataset", "scan", "ds", "--workers", "1").code == 0
    found = problems(cli)
    assert found[("3_edit/t0.png", "target")] == "missing"
    assert found[("3_edit/control/old.png", "control")] == "extra"
    listed = cli("dataset", "images", "ds", "--pair-problems", "--json").json()
    assert {i["path"] for i in listed} >= {"3_edit/t0.png", "3_edit/t2.png"}
    assert all(i["pair"]["status"] != "ok" for i in listed)

    # renamed back: the pair is whole again, and only that changed
    (edit_dir / "3_edit" / "control" / "old.png").rename(edit_dir / "3_edit" / "control" / "t0.png")
    assert cli("dataset", "scan", "ds", "--workers", "1").code == 0
    found = problems(cli)
    assert ("3_edit/t0.png", "target") not in found and ("3_edit/control/old.png", "control") not in found


def test_broken_and_badly_named_controls(cli, tmp_path, image_factory):
    root = tmp_path / "ds"
    for name in ("a", "b"):
        image_factory(root / "1_x" / f"{name}.png", size=(64, 64)).with_suffix(".txt").write_text("edit")
    (root / "1_x" / "control").mkdir()
    (root / "1_x" / "control" / "a.png").write_bytes(b"not a png")
    image_factory(root / "1_x" / "control" / "b_v2.png", size=(64, 64))
    assert cli("dataset", "add", str(root), "--name", "ds", "--workers", "1").code == 0
    found = problems(cli)
    assert found[("1_x/a.png", "target")] == "broken"
    assert found[("1_x/control/a.png", "control")] == "broken"
    assert found[("1_x/b.png", "target")] == "bad_name"


def test_control_command_sets_options_and_folders(cli, edit_dir):
    assert cli("dataset", "add", str(edit_dir), "--name", "ds", "--workers", "1").code == 0
    listed = cli("dataset", "control", "ds", "--json").json()
    assert listed["scan"] is None
    assert {f["subset"]: (f["control_folder"], f["source"]) for f in listed["folders"]} == {
        "2_ref": ("2_ref_control", "found"), "3_edit": ("3_edit/control", "found")}

    result = cli("dataset", "control", "ds", "1_res", "--folder", "controls_res", "--control-resolution", "112",
                 "--workers", "1", "--json")
    assert result.code == 0, result
    data = result.json()
    assert data["scan"] is not None
    res = next(f for f in data["folders"] if f["subset"] == "1_res")
    assert (res["control_folder"], res["source"], res["control_resolution"]) == ("controls_res", "set", [112, 112])
    assert res["paired"] == res["targets"] == 3 and res["mismatch"] == 0  # shapes are kept: no crop
    images = {i["path"] for i in cli("dataset", "images", "ds", "--json").json()}
    assert "controls_res/q0.png" not in images  # now a control folder

    assert cli("dataset", "control", "ds", "2_ref", "--no-resize-control", "--workers", "1").code == 0
    ref = next(f for f in cli("dataset", "control", "ds", "2_ref", "--json").json()["folders"])
    assert ref["no_resize_control"] is True and ref["mismatch"] == 0

    off = cli("dataset", "control", "ds", "3_edit", "--none", "--workers", "1", "--json").json()
    assert next(f for f in off["folders"] if f["subset"] == "3_edit")["source"] == "off"
    assert "3_edit/control/t0.png" in {i["path"] for i in cli("dataset", "images", "ds", "--json").json()}
    auto = cli("dataset", "control", "ds", "3_edit", "--auto", "--workers", "1", "--json").json()
    assert next(f for f in auto["folders"] if f["subset"] == "3_edit")["source"] == "found"


@pytest.mark.parametrize("args, words", [
    (("3_edit", "--folder", "3_edit"), "holds the subset's own images"),
    (("3_edit", "--folder", "../elsewhere"), "inside the dataset"),
    (("3_edit", "--folder", "2_ref_control"), "already the control folder"),
    (("3_edit", "--folder", "nowhere"), "does not exist"),
    (("1_res", "--control-resolution", "1024"), "has no control folder"),
    (("--folder", "x"), None),
    (("3_edit", "--control-resolution", "12"), "between 64 and 8192"),
])
def test_control_command_refuses_bad_input(cli, edit_dir, args, words):
    assert cli("dataset", "add", str(edit_dir), "--name", "ds", "--workers", "1").code == 0
    result = cli("dataset", "control", "ds", *args)
    assert result.code == 2, result
    if words:
        assert words in result.err
    assert "Traceback" not in result.err


def test_pair_query(cli, edit_dir):
    assert cli("dataset", "add", str(edit_dir), "--name", "ds", "--workers", "1").code == 0
    result = cli("tags", "ds", "list", "--where", "pair:mismatch", "--json")
    assert result.code == 0, result
    # the captions (instructions) of the mismatched targets at their default resize: t2, r1, r2, r3
    assert {t["tag"] for t in result.json()} == {"add a hat", "hold this", "combine both", "paint it"}
    assert cli("tags", "ds", "list", "--where", "pair:nonsense").code == 2
