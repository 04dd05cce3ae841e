"""Against the real musubi-tuner (optional, marker `musubi`): runs only when LORATUI_MUSUBI_DIR is set.

Each test trains a LoRA with `loratui train start` through all three phases of musubi-tuner (cache latents,
cache text-encoder outputs, train) on tiny stand-in models (`tools/standins/musubi/`: musubi's own code with its
hard-coded model sizes shrunk at import), and checks that `loratui train steps` equals the total musubi printed.
docs/training.md says how to set musubi-tuner up for them; on 2 CPU cores each run takes about a minute.

LORATUI_MUSUBI_PYTHON is musubi's venv Python (default: the checkout's own `venv`/`.venv`);
LORATUI_MUSUBI_ASSETS may name a folder `make_assets.py` already filled (otherwise it runs once per session).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from loratui.training.run.procgroup import group_members
from trhelpers import alive, job_row, kill_job_processes, wait_for, wait_status

MUSUBI_DIR = os.environ.get("LORATUI_MUSUBI_DIR", "")
MUSUBI_PYTHON = os.environ.get("LORATUI_MUSUBI_PYTHON", "")  # read now: the `home` fixture clears them
STANDINS = Path(__file__).resolve().parents[2] / "tools" / "standins" / "musubi"
pytestmark = [pytest.mark.musubi, pytest.mark.skipif(not MUSUBI_DIR, reason="LORATUI_MUSUBI_DIR not set"),
              pytest.mark.timeout(1800)]  # four real runs in a row on a busy 2-core machine
TERMINAL = {"completed", "failed", "cancelled", "interrupted"}
RUN_TIMEOUT = 600


def _musubi_python() -> str:
    if MUSUBI_PYTHON:
        return MUSUBI_PYTHON
    for name in ("venv", ".venv"):
        candidate = Path(MUSUBI_DIR) / name / "bin" / "python"
        if candidate.exists():
            return str(candidate)
    return sys.executable


@pytest.fixture(scope="session")
def assets(tmp_path_factory) -> Path:
    """Stand-in models, tokenizers and images (made once per session by musubi's own Python)."""
    given = os.environ.get("LORATUI_MUSUBI_ASSETS")
    if given:
        return Path(given)
    out = tmp_path_factory.mktemp("musubi-standins")
    done = subprocess.run([_musubi_python(), str(STANDINS / "make_assets.py"), str(out)], capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


@pytest.fixture
def musubi(home, monkeypatch, assets):
    """The real musubi-tuner configured for this test's home, with the stand-in patch active in its processes."""
    monkeypatch.setenv("LORATUI_MUSUBI_DIR", MUSUBI_DIR)
    monkeypatch.setenv("LORATUI_MUSUBI_PYTHON", _musubi_python())
    monkeypatch.setenv("LORATUI_MUSUBI_STANDINS", "1")
    monkeypatch.setenv("LORATUI_STANDIN_QUIET", "1")
    path = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", str(STANDINS) + (os.pathsep + path if path else ""))
    monkeypatch.setenv("HF_HOME", str(assets / "hf_home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text("[training_run]\ncancel_sigint_wait_s = 20.0\n")
    yield assets
    kill_job_processes(home)


def _config(path: Path, family: str, dataset: str, models: Path, prefix: str, out: Path, **extra) -> Path:
    args = {
        "dit": str(models / f"{prefix}_dit.safetensors"),
        "vae": str(models / f"{prefix}_vae.safetensors"),
        "text_encoder": str(models / f"{prefix}_text_encoder.safetensors"),
        "output_dir": str(out), "output_name": "lora", "network_dim": 4,
        "resolution": "128,128", "mixed_precision": "bf16", "sdpa": True, "optimizer_type": "adamw",
        "learning_rate": 1e-4, "timestep_sampling": "shift", "discrete_flow_shift": 2.2, "seed": 42,
        "max_data_loader_n_workers": 0,
    }
    args.update(extra)
    lines = ['backend = "musubi"', f'family = "{family}"', f'dataset = "{dataset}"', "", "[args]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in args.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def _printed_total(home: Path, job_id: int) -> list[int]:
    log = Path(job_row(home, job_id)["log_path"]).read_bytes()
    return [int(n) for n in re.findall(rb"total optimization steps[^:\n]*: (\d+)", log)]


def _phase_seconds(home: Path, job_id: int) -> dict[str, float]:
    conn = sqlite3.connect(str(home / "loratui.db"), timeout=30)
    try:
        rows = conn.execute("SELECT t, kind, data FROM job_events WHERE job_id = ? AND kind IN "
                            "('phase_started', 'phase_done') ORDER BY id", (job_id,)).fetchall()
    finally:
        conn.close()
    started, spent = {}, {}
    for t, kind, data in rows:
        name = json.loads(data)["name"]
        if kind == "phase_started":
            started[name] = t
        elif name in started:
            spent[name] = round(t - started[name], 1)
    return spent


def _train(cli, home, config: Path) -> tuple[int, dict]:
    steps = cli("train", "steps", config, "--json")
    assert steps.code == 0, steps
    report = steps.json()
    started = cli("train", "start", config, "--json")
    assert started.code == 0, started
    job_id = started.json()["id"]
    seen: set[tuple] = set()  # (status, progress_done, progress_total) while it runs

    def finished():
        now = job_row(home, job_id)
        seen.add((now["status"], now["progress_done"], now["progress_total"]))
        return now if now["status"] in TERMINAL else None

    row = wait_for(finished, RUN_TIMEOUT, interval=0.2, what=f"job {job_id} to end")
    assert row["status"] == "completed", (row, Path(row["log_path"]).read_bytes()[-3000:])
    caching = {(done, total) for status, done, total in seen if status == "caching_latents"}
    if config.stem != "zimage":  # Qwen-Image prints one line per cached item: a progress with a total
        assert any(total == report["images"] and 0 < done <= total for done, total in caching), caching
    log = Path(row["log_path"]).read_bytes()
    printed = re.findall(
        rb"(?:bucket: \(.*|total batches: \d+|num batches per epoch[^\n]*|total optimization steps[^\n]*)", log)
    print(f"\njob {job_id} {config.stem}: phases (s) {_phase_seconds(home, job_id)}; loratui "
          f"{report['total_steps']} steps; musubi printed: {[p.decode() for p in printed]}")
    return job_id, report


def _assert_lora(path: Path, architecture: str) -> None:
    from loratui.loras.safetensors_io import read_header

    header = read_header(path)
    assert any(k.startswith("lora_unet_") for k in header.tensors)
    assert header.metadata["modelspec.architecture"] == architecture


def test_qwen_image_three_phases_exact_steps(cli, home, tmp_path, musubi):
    assert cli("dataset", "add", musubi / "data" / "shapes", "--name", "shapes").code == 0
    out = tmp_path / "out"
    config = _config(tmp_path / "qwen.toml", "qwen-image", "shapes", musubi / "models", "qwen_image", out,
                     network_module="networks.lora_qwen_image", train_batch_size=2, max_train_epochs=2,
                     gradient_accumulation_steps=2)
    job_id, report = _train(cli, home, config)
    assert report["exact"] is True
    # two kohya folders -> two musubi datasets; mixed aspect ratios; one image without a caption skipped
    assert _printed_total(home, job_id) == [report["total_steps"]]
    row = job_row(home, job_id)
    assert row["step"] == row["total_steps"] == report["total_steps"]
    assert row["output"] == str(out / "lora.safetensors")
    _assert_lora(out / "lora.safetensors", "Qwen-Image/lora")


def _cancel_when(cli, home, job_id: int, status: str) -> None:
    wait_for(lambda: job_row(home, job_id).get("status") == status or job_row(home, job_id).get("status")
             in TERMINAL, RUN_TIMEOUT, interval=0.2, what=f"job {job_id} in {status}")
    row = job_row(home, job_id)
    assert row["status"] == status, row
    cancelled = cli("train", "cancel", job_id, "--json")
    assert cancelled.code == 0, cancelled
    data = cancelled.json()
    assert data["status"] == "cancelled" and data["processes_left"] == [], data
    row = job_row(home, job_id)
    assert not group_members(row["pgid"]) and not alive(row["supervisor_pid"])


def test_qwen_image_cancel_in_each_phase_then_resume(cli, home, tmp_path, musubi):
    """Cancel while caching latents, while caching text, while training; each resume skips finished phases,
    and the last one continues from musubi's newest saved state to a written LoRA."""
    assert cli("dataset", "add", musubi / "data" / "shapes", "--name", "shapes").code == 0
    out = tmp_path / "out"
    config = _config(tmp_path / "qwen.toml", "qwen-image", "shapes", musubi / "models", "qwen_image", out,
                     network_module="networks.lora_qwen_image", train_batch_size=1, max_train_steps=40,
                     save_every_n_steps=2, save_state=True)
    started = cli("train", "start", config, "--json")
    assert started.code == 0, started
    first = started.json()["id"]
    _cancel_when(cli, home, first, "caching_latents")

    second = cli("train", "resume", first, "--json").json()["id"]
    _cancel_when(cli, home, second, "caching_text")
    assert set(_phase_seconds(home, second)) == {"cache_latents", "cache_text"}  # the first one finished nothing

    third = cli("train", "resume", second, "--json").json()["id"]
    wait_for(lambda: (job_row(home, third).get("step") or 0) >= 5 or job_row(home, third)["status"] in TERMINAL,
             RUN_TIMEOUT, interval=0.5, what="step 5")
    _cancel_when(cli, home, third, "training")
    assert set(_phase_seconds(home, third)) == {"cache_text", "train"}  # latents were cached by `second`
    assert sorted(p.name for p in out.glob("lora-step*-state"))

    resumed = cli("train", "resume", third, "--json")
    assert resumed.code == 0, resumed
    last = resumed.json()["id"]
    row = wait_status(home, last, TERMINAL, timeout=RUN_TIMEOUT)
    assert row["status"] == "completed", row
    log = Path(row["log_path"]).read_bytes()
    assert b"resume training from local state" in log
    # musubi-tuner has no way to skip the steps already trained: it counts all of max_train_steps again
    assert _printed_total(home, last) == [40] and row["step"] == 40
    assert (out / "lora.safetensors").is_file()


def test_qwen_image_edit_with_control_images(cli, home, tmp_path, musubi):
    """Qwen-Image-Edit: targets with control images (one with two, one of another size), control-split buckets.

    The pairs come from the control-image index: the controls sit in the subset's `control/` folder, paired by
    stem as musubi-tuner pairs them (docs/image-pairs.md)."""
    edit = musubi / "data" / "edit"
    dataset = tmp_path / "edit"
    control = dataset / "1_target" / "control"
    control.mkdir(parents=True)
    for source in (edit / "target").iterdir():
        (dataset / "1_target" / source.name).write_bytes(source.read_bytes())
    for source in (edit / "control").iterdir():
        (control / source.name).write_bytes(source.read_bytes())
    assert cli("dataset", "add", dataset, "--name", "edit").code == 0
    out = tmp_path / "out"
    config = _config(tmp_path / "edit.toml", "qwen-image-edit", "edit", musubi / "models", "qwen_image", out,
                     network_module="networks.lora_qwen_image", train_batch_size=2, max_train_epochs=2)
    job_id, report = _train(cli, home, config)
    assert _printed_total(home, job_id) == [report["total_steps"]]
    dataset_toml = (Path(job_row(home, job_id)["workdir"]) / "dataset.toml").read_text()
    assert f'control_directory = "{control}"' in dataset_toml
    log = Path(job_row(home, job_id)["log_path"]).read_bytes()
    assert b"latents_control_1" in log  # the target with two controls has its own bucket
    _assert_lora(out / "lora.safetensors", "Qwen-Image-Edit/lora")


def test_zimage_three_phases_exact_steps(cli, home, tmp_path, musubi):
    assert cli("dataset", "add", musubi / "data" / "shapes", "--name", "shapes").code == 0
    out = tmp_path / "out"
    config = _config(tmp_path / "zimage.toml", "z-image", "shapes", musubi / "models", "zimage", out,
                     network_module="networks.lora_zimage", train_batch_size=2, max_train_epochs=1,
                     discrete_flow_shift=2.0)
    job_id, report = _train(cli, home, config)
    assert report["exact"] is True
    assert _printed_total(home, job_id) == [report["total_steps"]]
    _assert_lora(out / "lora.safetensors", "Z-Image/lora")
