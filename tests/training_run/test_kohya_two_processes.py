"""Against a real sd-scripts (optional, marker `kohya`): a training with `[launch] num_processes = 2` runs as two
accelerate processes, and the total sd-scripts computes from ``max_train_epochs`` equals the step count loratui
planned (``ceil(batches / processes / accumulation)`` per epoch).

On a CPU-only machine accelerate joins the processes with gloo (``MULTI_CPU``) and, unlike on GPUs, wraps even a
model with no trainable parameter in DistributedDataParallel, so sd-scripts stops right after these numbers
(``DistributedDataParallel is not needed when a module doesn't have any parameter that requires a gradient``,
for the frozen U-Net); the test checks the numbers and the two processes, then cancels whatever is left.

Set up as test_kohya_real.py says (LORATUI_KOHYA_DIR, LORATUI_KOHYA_PYTHON, LORATUI_TINY_SD). Two processes each
load the tiny model: about 3 minutes on 2 CPU cores; the run is cancelled once sd-scripts has printed its
numbers and taken its first step.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from trhelpers import job_row, kill_job_processes, wait_for

KOHYA_DIR = os.environ.get("LORATUI_KOHYA_DIR", "")
KOHYA_PYTHON = os.environ.get("LORATUI_KOHYA_PYTHON", "")  # read now: the `home` fixture clears them
TINY = Path(os.environ.get("LORATUI_TINY_SD") or (Path(KOHYA_DIR).parent / "tiny" if KOHYA_DIR else "missing"))
pytestmark = [pytest.mark.kohya, pytest.mark.skipif(not KOHYA_DIR, reason="LORATUI_KOHYA_DIR not set")]
TOTAL = re.compile(r"override steps\. steps for \d+ epochs is / [^:]*: (\d+)")
"""sd-scripts' line right after `max_train_steps = max_train_epochs * ceil(len(train_dataloader) /
num_processes / gradient_accumulation_steps)` (train_network.py), printed by the main process."""


@pytest.fixture
def cleanup(home):
    yield
    kill_job_processes(home)


def test_two_processes_step_total_matches(cli, home, tmp_path, monkeypatch, cleanup):
    if not (TINY / "tiny-sd").is_dir():
        pytest.skip(f"no tiny SD model at {TINY} (set LORATUI_TINY_SD)")
    monkeypatch.setenv("LORATUI_KOHYA_DIR", KOHYA_DIR)
    if KOHYA_PYTHON:
        monkeypatch.setenv("LORATUI_KOHYA_PYTHON", KOHYA_PYTHON)
    assert cli("dataset", "add", TINY / "data" / "img", "--name", "tiny").code == 0
    config = tmp_path / "tiny2.toml"
    config.write_text(f'''backend = "kohya"
family = "sd15"
dataset = "tiny"

[launch]
num_processes = 2

[args]
pretrained_model_name_or_path = "{TINY / 'tiny-sd'}"
tokenizer_cache_dir = "{TINY / 'tokenizer-cache'}"
output_dir = "{tmp_path / 'out'}"
output_name = "tiny2p"
network_module = "networks.lora"
network_dim = 4
resolution = "64,64"
mixed_precision = "no"
optimizer_type = "AdamW"
learning_rate = 1e-4
max_data_loader_n_workers = 0
train_batch_size = 4
max_train_epochs = 1
''')
    planned = cli("train", "plan", config, "--json").json()
    argv = planned["phases"][0]["argv"]
    assert argv[argv.index("--num_processes") + 1] == "2" and "--multi_gpu" in argv
    started = cli("train", "start", config, "--json")
    assert started.code == 0, started
    job_id = started.json()["id"]
    log = Path(started.json()["log_path"])

    def printed():
        text = log.read_text(errors="replace") if log.exists() else ""
        found = TOTAL.search(text)
        if found is None and job_row(home, job_id)["status"] in ("failed", "completed", "interrupted"):
            raise AssertionError(text[-3000:])
        return (int(found.group(1)), text) if found else None

    total, text = wait_for(printed, 900, interval=2.0, what="sd-scripts' step total")
    assert text.count("accelerator device:") == 2  # two processes joined one accelerate group
    assert total == planned["total_steps"] == job_row(home, job_id)["total_steps"] == 10  # ceil(20 / 2 / 1)
    if not job_row(home, job_id)["status"] in ("failed", "completed", "cancelled", "interrupted"):
        assert cli("train", "cancel", job_id, "--json").code == 0
