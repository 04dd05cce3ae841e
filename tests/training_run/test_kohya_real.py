"""Against a real sd-scripts (optional): runs only when LORATUI_KOHYA_DIR is set.

Needs a tiny SD1.5-shaped model as a `make_tiny_sd15.py` script builds one (tests/fixtures/README.md says how to
set up sd-scripts and the model on a CPU): LORATUI_TINY_SD (default `$LORATUI_KOHYA_DIR/../tiny`, holding
tiny-sd/, tokenizer-cache/ and data/img/). A training started with
`loratui train start` runs in its detached supervisor, is cancelled mid-way with no process left, and resumes
from its newest saved state to completion, the step count continuing and the LoRA path recorded.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from loratui.training.run.procgroup import group_members
from trhelpers import alive, job_events, job_row, kill_job_processes, wait_for, wait_status

KOHYA_DIR = os.environ.get("LORATUI_KOHYA_DIR", "")
KOHYA_PYTHON = os.environ.get("LORATUI_KOHYA_PYTHON", "")  # read now: the `home` fixture clears them
TINY = Path(os.environ.get("LORATUI_TINY_SD") or (Path(KOHYA_DIR).parent / "tiny" if KOHYA_DIR else "missing"))
pytestmark = [pytest.mark.kohya, pytest.mark.skipif(not KOHYA_DIR, reason="LORATUI_KOHYA_DIR not set")]
TERMINAL = {"completed", "failed", "cancelled", "interrupted"}


@pytest.fixture
def cleanup(home):
    yield
    kill_job_processes(home)


def test_real_start_cancel_resume(cli, home, tmp_path, monkeypatch, cleanup):
    if not (TINY / "tiny-sd").is_dir():
        pytest.skip(f"no tiny SD model at {TINY} (set LORATUI_TINY_SD)")
    monkeypatch.setenv("LORATUI_KOHYA_DIR", KOHYA_DIR)
    if KOHYA_PYTHON:
        monkeypatch.setenv("LORATUI_KOHYA_PYTHON", KOHYA_PYTHON)
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text("[training_run]\ncancel_sigint_wait_s = 30.0\n")
    assert cli("dataset", "add", TINY / "data" / "img", "--name", "tiny").code == 0
    out = tmp_path / "out"
    config = tmp_path / "tiny.toml"
    config.write_text(f'''backend = "kohya"
family = "sd15"
dataset = "tiny"

[args]
pretrained_model_name_or_path = "{TINY / 'tiny-sd'}"
tokenizer_cache_dir = "{TINY / 'tokenizer-cache'}"
output_dir = "{out}"
output_name = "tiny"
network_module = "networks.lora"
network_dim = 4
resolution = "64,64"
mixed_precision = "no"
optimizer_type = "AdamW"
learning_rate = 1e-4
max_data_loader_n_workers = 0
max_train_steps = 8
save_every_n_steps = 2
save_state = true
''')
    started = cli("train", "start", config, "--json")
    assert started.code == 0, started
    job_id = started.json()["id"]
    wait_for(lambda: (job_row(home, job_id).get("step") or 0) >= 5, 600, interval=1.0, what="step 5")
    pgid = job_row(home, job_id)["pgid"]
    cancelled = cli("train", "cancel", job_id, "--json")
    assert cancelled.code == 0, cancelled
    data = cancelled.json()
    assert data["status"] == "cancelled" and data["processes_left"] == [] and not group_members(pgid)
    assert not alive(job_row(home, job_id)["supervisor_pid"])
    saved = max(e["step"] for e in job_events(home, job_id, "state_saved"))
    resumed = cli("train", "resume", job_id, "--json")
    assert resumed.code == 0, resumed
    new_id = resumed.json()["id"]
    row = wait_status(home, new_id, TERMINAL, timeout=900)
    assert row["status"] == "completed", row
    assert (row["step"], row["total_steps"]) == (8, 8)
    assert job_events(home, new_id, "resumed")[0]["step"] == saved
    assert row["output"] == str(out / "tiny.safetensors") and Path(row["output"]).is_file()
