"""Prompt files, sample names, saved states and resume argv."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loratui.errors import ConfigError
from loratui.training import samples
from loratui.training.run import jobfiles
from loratui.training.run.launch import resume_argv
from trhelpers import make_plan


def test_prompt_file_text_and_mistakes():
    assert samples.prompt_file_text(["a cat --w 512", " a dog "]) == "a cat --w 512\na dog\n"
    for bad, why in (([""], "empty"), (["two\nlines"], "line break"), (["# x"], "comment"), ([], "empty list"),
                     ([3], "text")):
        with pytest.raises(ConfigError, match=why):
            samples.prompt_file_text(bad)


def test_add_sampling_to_a_hand_built_plan(tmp_path):
    plan = samples.add_sampling(make_plan(tmp_path), ["a cat"], every_n_steps=50, sampler="euler_a")
    assert plan.files["sample_prompts.txt"] == "a cat\n"
    argv = plan.phases[0].argv
    assert argv[-6:] == ["--sample_prompts", str(plan.workdir / "sample_prompts.txt"), "--sample_every_n_steps",
                         "50", "--sample_sampler", "euler_a"]
    with pytest.raises(ConfigError):
        samples.add_sampling(make_plan(tmp_path), ["a cat"])


def test_inline_prompts_are_written_only_for_lists(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[args]\nsample_prompts = ["one", "two --d 3"]\n')
    path = samples.write_inline_prompts(config, tmp_path / "job")
    assert path.read_text() == "one\ntwo --d 3\n"
    config.write_text('[args]\nsample_prompts = "/some/file.txt"\n')
    assert samples.write_inline_prompts(config, tmp_path / "job2") is None


def test_sample_names():
    assert jobfiles.parse_sample_name("tiny_000200_01_20261121052400.png") == (200, None, 1)
    assert jobfiles.parse_sample_name("my_name_e000003_00_20261121052400_42.png") == (None, 3, 0)
    assert jobfiles.parse_sample_name("000010_00_20261121052400.png") == (10, None, 0)
    assert jobfiles.parse_sample_name("cover.png") == (None, None, None)


def test_sample_watcher_sees_only_new_images(tmp_path):
    folder = tmp_path / "out" / "sample"
    folder.mkdir(parents=True)
    (folder / "old_000002_00_20261121052400.png").write_bytes(b"x")
    watcher = jobfiles.SampleWatcher(tmp_path / "out")
    (folder / "new_000004_00_20261121052401.png").write_bytes(b"x")
    (folder / "new_e000001_00_20261121052402.png").write_bytes(b"x")
    found = watcher.poll(current_step=7)
    assert [(Path(s.path).name, s.step, s.epoch) for s in found] == [
        ("new_000004_00_20261121052401.png", 4, None), ("new_e000001_00_20261121052402.png", 7, 1)]
    assert watcher.poll(8) == []


def _state(folder: Path, name: str, step: int | None) -> None:
    path = folder / name
    path.mkdir(parents=True)
    (path / "model.safetensors").write_bytes(b"x")
    if step is not None:
        (path / "train_state.json").write_text(json.dumps({"current_epoch": 1, "current_step": step}))


def test_latest_state(tmp_path):
    assert jobfiles.find_latest_state(tmp_path / "none") is None
    _state(tmp_path, "tiny-step00000002-state", 2)
    _state(tmp_path, "tiny-step00000004-state", 4)
    _state(tmp_path, "other-step00000009-state", 9)
    (tmp_path / "tiny-state").mkdir()  # empty: not a state
    latest = jobfiles.find_latest_state(tmp_path, "tiny")
    assert latest.path.name == "tiny-step00000004-state" and latest.step == 4
    musubi = tmp_path / "musubi"
    _state(musubi, "q-step00000010-state", None)  # musubi writes no train_state.json
    assert jobfiles.find_latest_state(musubi) is None  # kohya rules: a state needs its train_state.json
    assert jobfiles.find_latest_state(musubi, newest=True).step == 10
    _state(musubi, "q-000002-state", None)  # a newer epoch state
    import os

    os.utime(musubi / "q-000002-state", (2e9, 2e9))
    assert jobfiles.find_latest_state(musubi, newest=True).path.name == "q-000002-state"


def test_resume_argv_replaces_earlier_resume_flags():
    argv = ["python", "train.py", "--resume", "/old", "--skip_until_initial_step", "--resume=/older", "--x", "1"]
    assert resume_argv(argv, "kohya", "/new") == ["python", "train.py", "--x", "1", "--resume", "/new",
                                                  "--skip_until_initial_step"]
    assert resume_argv(argv, "musubi", "/new") == ["python", "train.py", "--x", "1", "--resume", "/new"]
    assert resume_argv(argv, "musubi", None) == ["python", "train.py", "--x", "1"]
