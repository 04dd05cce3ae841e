"""Against a real musubi-tuner (optional): runs only when LORATUI_MUSUBI_DIR is set (marker `musubi`).

LORATUI_MUSUBI_DIR is the musubi-tuner checkout, LORATUI_MUSUBI_PYTHON the python of its venv (default
`$LORATUI_MUSUBI_DIR/../venv/bin/python`). No model is needed: the dataset TOML loratui writes for an edit model is
read by musubi-tuner's own dataset-config code (``dataset/config_utils.py``: its schema, the blueprint, and the
image datasources, which glob the images and pair the control images), for the Qwen-Image-Edit architecture.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.training_config.edit_layout import TRAIN_ARGS, register_edit_dataset
from tests.training_config.test_edit_pairs import edit_config

MUSUBI_DIR = os.environ.get("LORATUI_MUSUBI_DIR", "")
MUSUBI_PYTHON = os.environ.get("LORATUI_MUSUBI_PYTHON", "")  # read now: the `home` fixture clears them
pytestmark = [pytest.mark.musubi, pytest.mark.skipif(not MUSUBI_DIR, reason="LORATUI_MUSUBI_DIR not set")]

CHECKER = """
import argparse, json, sys
from musubi_tuner.dataset import config_utils

try:
    user_config = config_utils.load_user_config(sys.argv[1])
    blueprint = config_utils.BlueprintGenerator(config_utils.ConfigSanitizer()).generate(
        user_config, argparse.Namespace(debug_dataset=False), architecture=sys.argv[2])
    group = config_utils.generate_dataset_group_by_blueprint(blueprint.dataset_group, training=False)
except Exception as exc:
    print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
    sys.exit(1)
result = []
for dataset in group.datasets:
    source = dataset.datasource
    result.append({"image_directory": dataset.image_directory, "control_directory": dataset.control_directory,
                   "no_resize_control": dataset.no_resize_control,
                   "control_resolution": list(dataset.control_resolution) if dataset.control_resolution else None,
                   "num_repeats": dataset.num_repeats, "items": len(source),
                   "controls": {path: list(paths) for path, paths in getattr(source, "control_paths", {}).items()}})
print(json.dumps(result))
"""


def musubi_python() -> str:
    return MUSUBI_PYTHON or str(Path(MUSUBI_DIR).parent / "venv" / "bin" / "python")


def musubi_reads(toml_path: Path, architecture: str = "qie") -> tuple[int, dict]:
    """(exit code, what musubi-tuner's dataset code made of the TOML)."""
    env = dict(os.environ, PYTHONPATH=str(Path(MUSUBI_DIR) / "src"))
    done = subprocess.run([musubi_python(), "-c", CHECKER, str(toml_path), architecture], cwd=MUSUBI_DIR, env=env,
                          capture_output=True, text=True, timeout=240)
    lines = done.stdout.strip().splitlines()
    assert lines, done.stderr[-3000:]
    return done.returncode, json.loads(lines[-1])


async def write_plan(store, ctx, tmp_path: Path, config) -> Path:
    from loratui.training.planner import build_plan
    from loratui.training.schema import builtin_schema

    ctx.settings.trainers.musubi_dir, ctx.settings.trainers.musubi_python = MUSUBI_DIR, musubi_python()
    plan = await build_plan(store, ctx, config, tmp_path / "job", schema=builtin_schema("musubi", config.family))
    plan.write_files()
    return tmp_path / "job" / "dataset.toml"


async def test_written_dataset_toml_is_accepted_and_paired_alike(store, ctx, tmp_path):
    from loratui.datasets import pair_service

    root = tmp_path / "ds"
    await register_edit_dataset(store, root)
    code, datasets = musubi_reads(await write_plan(store, ctx, tmp_path, edit_config(tmp_path)))
    assert code == 0, datasets
    by_folder = {Path(d["image_directory"]).name: d for d in datasets}
    assert by_folder["2_ref"]["no_resize_control"] is True and by_folder["2_ref"]["control_resolution"] == [96, 96]
    assert by_folder["1_res"]["control_resolution"] == [112, 112]
    assert by_folder["3_edit"]["control_directory"] == str(root / "3_edit" / "control")
    # musubi-tuner's pairing is loratui's, control order included (t5 has no caption: musubi skips it)
    musubi = {str(Path(target).relative_to(root)): [str(Path(c).relative_to(root)) for c in controls]
              for d in datasets for target, controls in d["controls"].items()}
    ours = {i["path"]: [c["path"] for c in i["pair"]["controls"]]
            for i in await pair_service.images_with_pairs(store, "ds") if i["pair"] and i["has_caption"]}
    assert musubi == ours
    assert sum(d["items"] * d["num_repeats"] for d in datasets) == 26
    assert TRAIN_ARGS["model_version"] == "edit-2511"


async def test_what_train_check_stops_on_musubi_stops_on(store, ctx, tmp_path, image_factory):
    from loratui import tomlio
    from loratui.datasets.service import add_dataset
    from loratui.errors import TrainingError
    from loratui.training import edit_pairs, musubi
    from loratui.training.steps import attach_controls, load_musubi_sources

    root = tmp_path / "ds"
    for name in ("a", "b"):
        image_factory(root / "1_x" / f"{name}.png", size=(64, 64)).with_suffix(".txt").write_text("edit it")
    image_factory(root / "1_x" / "control" / "a.png", size=(64, 64))
    dataset, _ = await add_dataset(store, root, name="ds", workers=1)
    config = edit_config(tmp_path)
    with pytest.raises(TrainingError, match="have no control image"):
        await write_plan(store, ctx, tmp_path, config)
    # the TOML loratui would have written, given to musubi-tuner anyway
    sources = await load_musubi_sources(store, dataset.id)
    used = [{"rel_path": s.rel_path, "repeats": s.repeats} for s in musubi.trained_sources(sources)]
    pairs = await edit_pairs.load_pair_plan(store, dataset, config.family, config.args, used)
    attach_controls(sources, {}, pairs.toml_keys())
    toml = tmp_path / "dataset.toml"
    toml.write_text(tomlio.dumps(musubi.dataset_config(root, ".txt", sources,
                                                       musubi.dataset_settings(config.args, (64, 64)),
                                                       tmp_path / "cache")))
    code, result = musubi_reads(toml)
    assert code == 1 and "Could not find matching control images" in result["error"]


def test_checker_rejects_an_unknown_key(tmp_path):
    """The checker is musubi-tuner's schema, not a formality: a key it does not know fails."""
    toml = tmp_path / "bad.toml"
    toml.write_text(f'[general]\nresolution = [64, 64]\n\n[[datasets]]\nimage_directory = "{tmp_path}"\n'
                    f'cache_directory = "{tmp_path / "cache"}"\ncontrol_folder = "{tmp_path}"\n', encoding="utf-8")
    code, result = musubi_reads(toml)
    assert code == 1 and "control_folder" in result["error"], (result, sys.executable)
