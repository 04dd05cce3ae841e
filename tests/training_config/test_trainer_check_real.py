"""`train new --preset P` then `train check` against the real installed trainers, for a preset of every family.

Runs only where the trainers are configured: marker `kohya` (LORATUI_KOHYA_DIR, LORATUI_KOHYA_PYTHON) and marker
`musubi` (LORATUI_MUSUBI_DIR, LORATUI_MUSUBI_PYTHON); docs/training.md says how to set them up. Model files are
empty stand-ins: the trainers' parsers and dataset validators never open them. Every family's config is written
by `loratui train new` from its first preset; the configs of one trainer are then checked in one trainer process
(`check_plans`, what `train check` runs per config) because each process pays the trainer's imports (~20 s on
two cores), and one config per trainer goes through the `train check` command itself.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from loratui.training.families import families

KOHYA_DIR = os.environ.get("LORATUI_KOHYA_DIR", "")
KOHYA_PYTHON = os.environ.get("LORATUI_KOHYA_PYTHON", "")
MUSUBI_DIR = os.environ.get("LORATUI_MUSUBI_DIR", "")
MUSUBI_PYTHON = os.environ.get("LORATUI_MUSUBI_PYTHON", "")  # read now: the `home` fixture clears them

kohya = [pytest.mark.kohya, pytest.mark.skipif(not KOHYA_DIR, reason="LORATUI_KOHYA_DIR not set")]
musubi = [pytest.mark.musubi, pytest.mark.skipif(not MUSUBI_DIR, reason="LORATUI_MUSUBI_DIR not set")]


@pytest.fixture
def trainers_env(home, monkeypatch):
    for name, value in (("LORATUI_KOHYA_DIR", KOHYA_DIR), ("LORATUI_KOHYA_PYTHON", KOHYA_PYTHON),
                        ("LORATUI_MUSUBI_DIR", MUSUBI_DIR), ("LORATUI_MUSUBI_PYTHON", MUSUBI_PYTHON)):
        if value:
            monkeypatch.setenv(name, value)
    return home


@pytest.fixture
def dataset(cli, make_dataset, image_factory, trainers_env):
    layout = {"2_cat": [(512, 512), (640, 512), (512, 640)], "1_dog": [(768, 512)]}
    root = make_dataset(layout)
    # control images by convention (each subset's control/ folder, same stems): the edit families train on
    # pairs, the others never read that folder
    for folder, sizes in layout.items():
        for index, size in enumerate(sizes):
            image_factory(root / folder / "control" / f"img_{index:03d}.png", size=size)
    assert cli("dataset", "add", root, "--name", "ds", "--workers", "1").code == 0
    return root


def new_config(cli, family, tmp_path: Path) -> Path:
    """`train new` from the family's first preset, model files set to empty stand-in files."""
    tier = next(iter(family.presets))
    models = tmp_path / "models" / family.id
    models.mkdir(parents=True)
    sets = ["--set", f"output_dir={tmp_path / 'out' / family.id}", "--set", "output_name=lora"]
    for role in family.roles:
        if role.required:
            stand_in = models / f"{role.name}.safetensors"
            stand_in.write_bytes(b"")
            sets += ["--set", f"{role.option}={stand_in}"]
    path = tmp_path / "configs" / f"{family.id}.toml"
    path.parent.mkdir(exist_ok=True)
    result = cli("train", "new", "--preset", f"{family.id}-{tier}", "--dataset", "ds", "-o", path, *sets)
    assert result.code == 0, result
    return path


async def check_all(backend: str, configs: list[Path]) -> dict[str, list]:
    """Every config's plan through the trainer's own checks (one trainer process); errors per family."""
    from loratui.config import Context
    from loratui.store import Store
    from loratui.training.config import load_config
    from loratui.training.planner import build_plan
    from loratui.training.trainer import find_trainer
    from loratui.training.trainer_check import check_plans

    ctx = Context.load(Path(os.environ["LORATUI_HOME"]))
    trainer = find_trainer(ctx, backend)
    plans = []
    async with Store.open(ctx.paths.db) as store:
        for path in configs:
            config = load_config(path)
            plans.append(await build_plan(store, ctx, config, path.with_suffix(".job")))
    found = {}
    for plan, (issues, result) in zip(plans, check_plans(plans, trainer)):
        errors = [str(i) for i in issues if i.severity == "error"]
        if not errors:  # then every script parsed its argv and the validator read the dataset
            assert all(p["options"] > 5 for p in result["phases"]) and result["dataset"]["summary"], result
        found[plan.family] = errors
    return found


@pytest.mark.parametrize("backend", [pytest.param("kohya", marks=kohya), pytest.param("musubi", marks=musubi)])
def test_a_preset_of_every_family_passes_the_trainers_own_checks(backend, cli, dataset, tmp_path):
    configs = [new_config(cli, family, tmp_path) for family in families(backend)]
    found = asyncio.run(check_all(backend, configs))
    assert found == {family.id: [] for family in families(backend)}


@pytest.mark.parametrize("family_id", [pytest.param("sd15", marks=kohya), pytest.param("qwen-image-edit-2509",
                                                                                       marks=musubi)])
def test_train_check_command_runs_the_trainer(family_id, cli, dataset, tmp_path):
    from loratui.training.families import get_family

    path = new_config(cli, get_family(family_id), tmp_path)
    ok = cli("train", "check", path, "--json")
    assert ok.code == 0, ok
    data = ok.json()
    assert data["ok"] and data["trainer"]["dataset"]["summary"]["datasets"] >= 1
    # A key the trainer does not know (sd-scripts would ignore it in --config_file) and a bad value fail.
    bad = cli("train", "check", path, "--set", "netwrk_dim=8", "--json")
    assert bad.code == 2 and any(i["field"] in ("netwrk_dim", "train argv") for i in bad.json()["issues"]), bad
