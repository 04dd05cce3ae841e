"""The render process against stand-in inference scripts (tests/training_run/fake_sd_scripts/gen_img.py and
tests/sweep/fake_musubi/...): one run per row, images moved to their cells, resume renders only missing cells,
and a crashing script keeps what it finished and fails with its error."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from PIL import Image

from loratui.loras import sweep_manifest
from loratui.loras.sweep_manifest import cell_path, missing_cells
from loratui.training.sweep import render
from loratui.training.sweep.argv import RenderSpec
from loratui.training.sweep.build import RowSpec, build_manifest
from loratui.training.sweep.prompts import parse_prompts
from loratui.training.sweep.source import Checkpoint

TESTS = Path(__file__).resolve().parents[1]
FAKE_GEN_IMG = TESTS / "training_run" / "fake_sd_scripts" / "gen_img.py"
FAKE_MUSUBI = TESTS / "sweep" / "fake_musubi" / "src" / "musubi_tuner" / "qwen_image_generate_image.py"


def _folder(tmp_path: Path, style: str, *, strengths=(1.0,), every=1) -> Path:
    folder = tmp_path / "sweep"
    prompts = parse_prompts(["a photo of tinyconcept --n blurry", "tinyconcept in a forest --w 32"])
    checkpoints = [Checkpoint(str(tmp_path / f"x-00000{i}.safetensors"), epoch=i) for i in (1, 2)] + [
        Checkpoint(str(tmp_path / "x.safetensors"), final=True)]
    manifest = build_manifest("t1", family="sd15" if style == "gen_img" else "qwen-image", trainer="kohya",
                              base_model="/m", checkpoints=checkpoints, prompts=prompts, seeds=[1, 2],
                              spec=RowSpec(every=every, strengths=strengths), settings={}, job_id=None, created="")
    sweep_manifest.save(folder, manifest)
    script = FAKE_GEN_IMG if style == "gen_img" else FAKE_MUSUBI
    RenderSpec(style=style, python=sys.executable, script=str(script), cwd=str(tmp_path), model_args=[["ckpt", "/m"]],
               width=64, height=64, steps=2, prompts=[p.as_dict() for p in prompts]).save(folder)
    return folder


@pytest.fixture
def calls(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "calls.jsonl"
    monkeypatch.setenv("LORATUI_TEST_SWEEP_CALLS", str(path))
    return path


def _calls(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize("style", ["gen_img", "musubi"])
def test_every_cell_rendered_one_run_per_row(tmp_path, calls, style, capsys):
    folder = _folder(tmp_path, style)
    assert render.run(folder) == 0
    manifest = sweep_manifest.load(folder)
    assert len(manifest.rows) == 4 and len(manifest.columns) == 4
    assert missing_cells(folder, manifest) == []
    for row, column in manifest.cells():
        with Image.open(cell_path(folder, row, column)) as image:
            assert image.getpixel((0, 0))[0] == column.seed  # the image of this cell's seed, not another's
    runs = _calls(calls)
    assert len(runs) == 4 and all(len(run["lines"]) == 4 for run in runs)  # a run per row, not per image
    assert not (folder / render.WORK_DIR).exists()
    out = capsys.readouterr().out
    assert "sweep cells: 100%|##########| 16/16" in out


def test_gen_img_lines_name_each_cell(tmp_path, calls):
    folder = _folder(tmp_path, "gen_img", strengths=(0.5, 1.0), every=2)
    assert render.run(folder) == 0
    runs = _calls(calls)
    assert [r["argv"][r["argv"].index("--network_mul") + 1] if "--network_mul" in r["argv"] else None
            for r in runs] == [None, "0.5", "1", "0.5", "1"]
    assert runs[0]["lines"][0] == "a photo of tinyconcept --n blurry --w 64 --h 64 --s 2 --d 1 --f p00-s1.png"
    assert runs[0]["lines"][3].startswith("tinyconcept in a forest --w 32 --h 64")


def test_resume_renders_only_missing_cells(tmp_path, calls):
    folder = _folder(tmp_path, "gen_img")
    manifest = sweep_manifest.load(folder)
    for row in manifest.rows[:2]:  # two whole rows done
        for column in manifest.columns:
            path = cell_path(folder, row, column)
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (4, 4), (200, 0, 0)).save(path)
    done = cell_path(folder, manifest.rows[2], manifest.columns[1])  # and one cell of the third
    done.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4), (200, 0, 0)).save(done)
    assert render.run(folder) == 0
    runs = _calls(calls)
    assert len(runs) == 2 and [len(r["lines"]) for r in runs] == [3, 4]
    assert not any("--f p00-s2.png" in line for line in runs[0]["lines"])
    with Image.open(done) as image:
        assert image.size == (4, 4)  # left alone
    assert missing_cells(folder, manifest) == []


def test_crashing_script_keeps_finished_images_and_fails(tmp_path, calls, monkeypatch, capfd):
    folder = _folder(tmp_path, "gen_img")
    monkeypatch.setenv("LORATUI_TEST_SWEEP_FAIL", "x-000002")  # the run of epoch 2 dies after its first image
    code = render.run(folder)
    assert code == 1
    manifest = sweep_manifest.load(folder)
    missing = missing_cells(folder, manifest)
    assert [(r.key, c.key) for r, c in missing] == [("e000002", "p00-s2"), ("e000002", "p01-s1"),
                                                    ("e000002", "p01-s2"), ("final", "p00-s1"), ("final", "p00-s2"),
                                                    ("final", "p01-s1"), ("final", "p01-s2")]
    out = capfd.readouterr()
    assert "ERROR:loratui.sweep:gen_img.py failed on row e000002 (epoch 2) with exit code 1" in out.out
    assert "CUDA out of memory (stand-in)" in out.err
    monkeypatch.delenv("LORATUI_TEST_SWEEP_FAIL")
    assert render.run(folder) == 0  # resumed: the rest only
    assert [len(r["lines"]) for r in _calls(calls)] == [4, 4, 4, 3, 4]


def test_missing_script_is_a_clear_error(tmp_path, capsys):
    folder = _folder(tmp_path, "gen_img")
    spec = RenderSpec.load(folder)
    spec.python = str(tmp_path / "no-python")
    spec.save(folder)
    assert render.run(folder) == 127
    assert "ERROR:loratui.sweep:cannot start" in capsys.readouterr().out


def test_interrupt_keeps_the_finished_images(tmp_path, monkeypatch):
    """A cancel sends SIGINT to the render's process group: the script stops, what it finished reaches its cells."""
    import os
    import signal
    import subprocess
    import time

    folder = _folder(tmp_path, "gen_img")
    env = dict(os.environ, LORATUI_TEST_SWEEP_DELAY="0.5",
               PYTHONPATH=str(Path(render.__file__).resolve().parents[3]))
    proc = subprocess.Popen([sys.executable, "-m", "loratui.training.sweep.render", str(folder)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 30
    while not list((folder / render.WORK_DIR).glob("*/p00-s2.png")) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)
    output = proc.communicate(timeout=30)[0].decode()
    assert proc.returncode == 130, output
    assert "sweep: interrupted" in output
    manifest = sweep_manifest.load(folder)
    done = len(manifest.cells()) - len(missing_cells(folder, manifest))
    assert done >= 2  # the baseline row's first two images, at least
