"""Against a real sd-scripts (optional): runs only when LORATUI_KOHYA_DIR is set.

Needs a tiny SD1.5-shaped model (a folder with tiny-sd/ and tokenizer-cache/, as a `make_tiny_sd15.py` script
builds one; tests/fixtures/README.md says how to set up sd-scripts and the model on a CPU): set LORATUI_TINY_SD
(default `$LORATUI_KOHYA_DIR/../tiny`). The trainer reads loratui's written TOMLs as they are, builds its buckets from a
multi-bucket dataset with regularisation images and an EXIF-rotated JPEG, and prints "total optimization steps";
that number must equal the calculator's. The run is stopped right after that line.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

KOHYA_DIR = os.environ.get("LORATUI_KOHYA_DIR", "")
KOHYA_PYTHON = os.environ.get("LORATUI_KOHYA_PYTHON", "")  # read now: the `home` fixture clears them
pytestmark = [pytest.mark.kohya, pytest.mark.skipif(not KOHYA_DIR, reason="LORATUI_KOHYA_DIR not set")]

TOTAL = re.compile(r"total optimization steps[^:]*:\s*(\d+)")


def build_multibucket(root: Path, image_factory) -> Path:
    """Wide, tall and square images in three subsets, reg images, and a JPEG whose EXIF says 'rotate 90'."""
    from PIL import Image

    layout = {"3_wide": [(300, 90)] * 3 + [(400, 100)] * 2, "2_tall": [(100, 300)] * 3 + [(130, 128)],
              "5_square": [(128, 128)] * 2, "reg/1_person": [(128, 128)] * 3}
    for folder, sizes in layout.items():
        for index, size in enumerate(sizes):
            path = image_factory(root / folder / f"img_{index:02d}.png", size=size, color=(index * 30, 80, 120))
            path.with_suffix(".txt").write_text(f"thing {index}", encoding="utf-8")
    rotated = root / "5_square" / "rotated.jpg"
    image = Image.new("RGB", (300, 90), (10, 200, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 300x90, shown 90x300: sd-scripts reads the raw size
    image.save(rotated, exif=exif.tobytes())
    rotated.with_suffix(".txt").write_text("rotated", encoding="utf-8")
    return root


def run_until_total(argv: list[str], cwd: str, env: dict[str, str], log: Path, timeout: float = 240) -> int:
    """Start the trainer, wait for its 'total optimization steps' line, stop its process group."""
    full_env = dict(os.environ, PYTHONUNBUFFERED="1", COLUMNS="200", **env)
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, cwd=cwd, env=full_env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            match = TOTAL.search(log.read_text(encoding="utf-8", errors="replace"))
            if match:
                return int(match.group(1))
            if proc.poll() is not None:
                break
            time.sleep(0.5)
        raise AssertionError(f"no 'total optimization steps' line; log tail: {log.read_text()[-2000:]}")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.mark.parametrize("extra", [
    {"train_batch_size": 2, "gradient_accumulation_steps": 2, "max_train_epochs": 1},
    {"train_batch_size": 3, "bucket_no_upscale": True, "max_train_epochs": 2, "resolution": "256,256"},
    {"train_batch_size": 4, "gradient_accumulation_steps": 2, "max_train_epochs": 1},
    {"train_batch_size": 5, "bucket_no_upscale": True, "max_train_epochs": 2, "resolution": "256,256"},
])
async def test_total_steps_match_sd_scripts(extra, tmp_path, home, image_factory):
    from loratui.config import Context
    from loratui.datasets.service import add_dataset
    from loratui.store import Store
    from loratui.training.config import TrainConfig
    from loratui.training.planner import build_plan

    tiny = Path(os.environ.get("LORATUI_TINY_SD") or Path(KOHYA_DIR).parent / "tiny")
    ctx = Context.load(home)
    ctx.settings.trainers.kohya_dir, ctx.settings.trainers.kohya_python = KOHYA_DIR, KOHYA_PYTHON
    root = build_multibucket(tmp_path / "data", image_factory)
    args = {"pretrained_model_name_or_path": str(tiny / "tiny-sd"), "tokenizer_cache_dir": str(tiny / "tokenizer-cache"),
            "output_dir": str(tmp_path / "out"), "output_name": "t", "network_module": "networks.lora",
            "network_dim": 4, "network_alpha": 1, "resolution": "128,128", "enable_bucket": True,
            "min_bucket_reso": 64, "max_bucket_reso": 256, "bucket_reso_steps": 64, "mixed_precision": "no",
            "optimizer_type": "AdamW", "max_data_loader_n_workers": 0, "learning_rate": 1e-4, **extra}
    config = TrainConfig(backend="kohya", family="sd15", dataset="data", args=args)
    async with Store.open(ctx.paths.db) as store:
        await add_dataset(store, root, name="data", workers=1)
        plan = await build_plan(store, ctx, config, tmp_path / "job")
    plan.write_files()
    (phase,) = plan.phases
    printed = run_until_total(phase.argv, phase.cwd, phase.env, tmp_path / "train.log")
    assert printed == plan.total_steps


@pytest.mark.parametrize("family", ["sd15", "flux"])
def test_builtin_schema_agrees_with_the_installed_trainer(family, home):
    """Every built-in option exists in the real trainer with the same type, default and nargs."""
    from loratui.config import Context
    from loratui.training.schema import builtin_schema, load_schema

    ctx = Context.load(home)
    ctx.settings.trainers.kohya_dir, ctx.settings.trainers.kohya_python = KOHYA_DIR, KOHYA_PYTHON
    real = load_schema(ctx, "kohya", family)
    assert real.source.startswith("trainer") and len(real.options) > 150
    for name, option in builtin_schema("kohya", family).options.items():
        if option.help.startswith(("variant of the", "set by the")):
            continue  # added from the family record (test_families checks those flags against the parsers)
        other = real.get(name)
        assert other is not None, name
        assert (option.type, option.default, option.nargs or None) == (other.type, other.default, other.nargs or None)
