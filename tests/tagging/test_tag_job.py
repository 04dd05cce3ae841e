"""The whole tagging path with a real ONNX session: CLI -> job -> journaled caption files -> scores -> rethreshold."""

from __future__ import annotations

import importlib.util
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from loratui.tagging.preprocess import load_and_preprocess

_spec = importlib.util.spec_from_file_location("tagging_fixtures", Path(__file__).with_name("conftest.py"))
fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixtures)
TAGS = fixtures.TAGS


def expected_tags(image: Path, general=0.35, character=0.35) -> list[str]:
    """Independent reference: general tags then character tags above threshold, in csv order."""
    scores = fixtures.reference_scores(load_and_preprocess(image)[None])[0]
    general_tags = [n for (n, c, _, _), s in zip(TAGS, scores) if c == 0 and s >= general]
    character_tags = [n for (n, c, _, _), s in zip(TAGS, scores) if c == 4 and s >= character]
    return general_tags + character_tags


def caption(root: Path, name: str) -> str | None:
    path = root / "10_hero" / name
    return path.read_text(encoding="utf-8") if path.exists() else None


def db(home: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(home / "loratui.db")
    conn.row_factory = sqlite3.Row
    return conn


@pytest.fixture
def tagged(cli, colour_dataset, wd14_model):
    """The colour dataset registered as 'ds'."""
    result = cli("dataset", "add", colour_dataset, "--name", "ds")
    assert result.code == 0, result
    return colour_dataset


def test_tag_writes_expected_captions_and_skips_captioned(cli, tagged, wd14_model, home):
    result = cli("tag", "ds", "--model", wd14_model)
    assert result.code == 0, result
    concept = tagged / "10_hero"
    for name in ("a_red", "b_green", "c_blue"):
        image = next(concept.glob(f"{name}.*"))
        assert caption(tagged, f"{name}.txt") == ", ".join(expected_tags(image))
    red = caption(tagged, "a_red.txt").split(", ")
    assert "red_theme" in red and "red_hero_(series_x)" in red and "blue_theme" not in red
    green = caption(tagged, "b_green.txt")
    assert "green_theme" in green and "hatsune_miku_(vocaloid)" in green
    # skip-existing is the default: the hand-written caption survives
    assert caption(tagged, "d_red_captioned.txt") == "my own caption, hand written"
    assert "1 skipped (already captioned)" in result.err
    conn = db(home)
    job = conn.execute("SELECT * FROM jobs WHERE kind = 'tag'").fetchone()
    assert job["status"] == "completed" and job["progress_done"] == 4 and job["progress_total"] == 4
    ops = conn.execute("SELECT kind, state FROM operations").fetchall()
    assert [tuple(o) for o in ops] == [("tag", "applied")]
    assert conn.execute("SELECT COUNT(*) FROM changes WHERE state = 'done'").fetchone()[0] == 3
    # the DB mirrors the files: images.caption and image_tags
    row = conn.execute("SELECT caption, tag_count FROM images WHERE rel_path = '10_hero/a_red.png'").fetchone()
    assert row["caption"] == caption(tagged, "a_red.txt") and row["tag_count"] == len(red)
    # scores stored with output indices, ratings always kept
    scores = conn.execute("SELECT tag, category, idx, score FROM tag_scores s JOIN images i ON i.id = s.image_id "
                          "WHERE i.rel_path = '10_hero/a_red.png' ORDER BY idx").fetchall()
    assert [s["tag"] for s in scores][:4] == ["general", "sensitive", "questionable", "explicit"]
    assert all(s["score"] >= 0.05 or s["category"] == 9 for s in scores)


def test_modes_overwrite_and_append(cli, tagged, wd14_model):
    assert cli("tag", "ds", "--model", wd14_model, "--mode", "append", "--exclude", "^_^,long_hair").code == 0
    merged = caption(tagged, "d_red_captioned.txt")
    assert merged.startswith("my own caption, hand written, ")
    assert "red_theme" in merged and "^_^" not in merged and "long_hair" not in merged
    again = cli("tag", "ds", "--model", wd14_model, "--mode", "append", "--exclude", "^_^,long_hair")
    assert again.code == 0 and caption(tagged, "d_red_captioned.txt") == merged  # no duplicates
    assert "0 captions written" in again.err
    assert cli("tag", "ds", "--model", wd14_model, "--mode", "overwrite").code == 0
    image = tagged / "10_hero" / "d_red_captioned.png"
    assert caption(tagged, "d_red_captioned.txt") == ", ".join(expected_tags(image))


def test_options_reach_the_captions(cli, tagged, wd14_model):
    result = cli("tag", "ds", "--model", wd14_model, "--rating", "--remove-underscore", "--character-first",
                 "--replace", "red_theme=crimson", "--replace", "1girl=", "--always-first", "^_^",
                 "--separator", " | ", "--character-threshold", "0.5")
    assert result.code == 0, result
    tags = caption(tagged, "a_red.txt").split(" | ")
    assert tags[0] == "^_^"
    assert tags[1] == "sensitive"  # rating first (red raises 'sensitive')
    assert tags[2] == "red hero (series x)"  # character first, underscores removed
    assert "crimson" in tags and "red theme" not in tags and "1girl" not in tags and "long hair" in tags


def test_rethreshold_without_the_model(cli, tagged, wd14_model, home):
    assert cli("tag", "ds", "--model", wd14_model, "--general-threshold", "0.9").code == 0
    strict = caption(tagged, "a_red.txt")
    assert "long_hair" not in strict
    # the model folder is gone: rethreshold must use stored scores only
    moved = wd14_model.with_name("moved-away")
    wd14_model.rename(moved)
    try:
        refused = cli("tag", "ds", "--rethreshold", "--general-threshold", "0.35")
        assert refused.code == 2 and "--mode" in refused.err
        result = cli("tag", "ds", "--rethreshold", "--general-threshold", "0.35", "--mode", "overwrite")
        assert result.code == 0, result
        image = tagged / "10_hero" / "a_red.png"
        assert caption(tagged, "a_red.txt") == ", ".join(expected_tags(image))
        assert caption(tagged, "d_red_captioned.txt") == "my own caption, hand written"  # never scored
        too_low = cli("tag", "ds", "--rethreshold", "--thresh", "0.01", "--mode", "overwrite")
        assert too_low.code == 2 and "not stored" in too_low.err
    finally:
        moved.rename(wd14_model)
    ops = db(home).execute("SELECT kind, description FROM operations ORDER BY id").fetchall()
    assert ops[-1]["description"].startswith("re-thresholded")


def test_fixed_batch_model_and_unreadable_image(cli, tagged, wd14_fixed_model, home):
    (tagged / "10_hero" / "e_more.png").write_bytes((tagged / "10_hero" / "a_red.png").read_bytes())
    assert cli("dataset", "scan", "ds").code == 0
    # broken after the scan: decoding fails during tagging
    (tagged / "10_hero" / "c_blue.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    result = cli("tag", "ds", "--model", wd14_fixed_model, "--batch-size", "2", "--json")
    assert result.code == 0, result
    report = result.json()
    assert report["batch_size"] == 3  # taken from the model, not --batch-size
    assert report["provider"] == "CPUExecutionProvider" or report["provider"] == "CUDAExecutionProvider"
    assert [path for path, _ in report["failed"]] == ["10_hero/c_blue.png"]
    assert report["written"] == 3 and caption(tagged, "c_blue.txt") is None
    assert caption(tagged, "e_more.txt") == caption(tagged, "a_red.txt")


def test_model_errors_are_clear(cli, tagged, tmp_path):
    empty = tmp_path / "empty-model"
    empty.mkdir()
    result = cli("tag", "ds", "--model", empty)
    assert result.code == 2 and "lacks model.onnx and selected_tags.csv" in result.err
    result = cli("tag", "ds", "--model", "not-a-model")
    assert result.code == 2 and "unknown model" in result.err
    assert cli("tag", "nope", "--model", empty).code == 2
    (empty / "model.onnx").write_bytes(b"garbage")
    fixtures.build_model(tmp_path / "src")
    (empty / "selected_tags.csv").write_bytes((tmp_path / "src" / "selected_tags.csv").read_bytes())
    result = cli("tag", "ds", "--model", empty)
    assert result.code == 2 and "cannot load" in result.err
    assert caption(tagged, "a_red.txt") is None


def test_list_models(cli):
    result = cli("tag", "--list-models")
    assert result.code == 0 and "SmilingWolf/wd-eva02-large-tagger-v3" in result.out


def test_session_reports_provider(wd14_model):
    from loratui.tagging.session import open_session

    session = open_session(wd14_model / "model.onnx", "cpu")
    assert session.provider == "CPUExecutionProvider" and session.fixed_batch is None and session.size == 448
    batch = np.full((2, 448, 448, 3), 255.0, dtype=np.float32)
    np.testing.assert_allclose(session.run(batch), fixtures.reference_scores(batch), atol=3e-3)


def test_settings_give_the_default_model(cli, tagged, wd14_model, home):
    (home / "config.toml").write_text(f'[tagging]\nmodel = "{wd14_model}"\ndevice = "cpu"\n', encoding="utf-8")
    result = cli("tag", "ds", "--json")
    assert result.code == 0, result
    assert result.json()["model"] == f"local:{wd14_model}" and result.json()["provider"] == "CPUExecutionProvider"


def test_cuda_is_used_only_when_it_really_starts(wd14_model):
    from loratui.errors import ModelError
    from loratui.tagging.session import CUDA, available_providers, open_session

    auto = open_session(wd14_model / "model.onnx", "auto")
    assert auto.provider in available_providers()
    try:
        forced = open_session(wd14_model / "model.onnx", "cuda")
    except ModelError as exc:  # no usable CUDA here: a clear reason, and auto fell back to the CPU
        assert "CUDA" in str(exc) and auto.device == "cpu" and (auto.note or CUDA not in available_providers())
    else:
        assert forced.provider == CUDA and auto.device == "cuda"


def test_fast_decode_is_part_of_the_job(cli, tagged, wd14_model, home):
    assert cli("tag", "ds", "--model", wd14_model, "--fast-decode").code == 0
    image = tagged / "10_hero" / "a_red.png"
    assert caption(tagged, "a_red.txt") == ", ".join(expected_tags(image))  # small images: same pixels
    params = db(home).execute("SELECT params FROM jobs").fetchone()[0]
    assert '"fast_decode": true' in params


def test_caption_edited_outside_since_the_scan_is_left_alone(cli, tagged, wd14_model, home):
    edited = tagged / "10_hero" / "d_red_captioned.txt"
    edited.write_text("edited in another editor after the scan", encoding="utf-8")
    result = cli("tag", "ds", "--model", wd14_model, "--mode", "overwrite", "--json")
    assert result.code == 0, result
    report = result.json()
    assert report["conflicts"] == ["10_hero/d_red_captioned.png"] and report["written"] == 3
    assert edited.read_text(encoding="utf-8") == "edited in another editor after the scan"
    done = {r[0] for r in db(home).execute("SELECT item FROM job_items")}
    assert "10_hero/d_red_captioned.png" not in done and len(done) == 3
