"""`loratui train start|status|logs|cancel|resume|queue` and `jobs cancel` against a real planner and supervisor.

The trainer is a stand-in sd-scripts checkout (tests/training_run/fake_sd_scripts) whose train_network.py
replays a recorded real log.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from loratui.training.run.procgroup import group_members
from trhelpers import HERE, alive, job_events, job_row, wait_for, wait_status, write_config

REPO = Path(__file__).resolve().parents[2]
TERMINAL = {"completed", "failed", "cancelled", "interrupted"}


def test_start_status_logs_complete(train_cli, home, tmp_path):
    config = write_config(tmp_path, sample_prompts='["a photo of tinyconcept", "tinyconcept in a forest --w 64"]',
                          sample_every_n_steps=2)
    started = train_cli("train", "start", config, "--json", "--set", "network_dim=8")
    assert started.code == 0, started
    job_id = started.json()["id"]
    row = wait_status(home, job_id, TERMINAL)
    assert row["status"] == "completed", row
    status = train_cli("train", "status", job_id, "--json")
    data = status.json()
    assert {"id", "status", "step", "total_steps", "epoch", "epochs", "loss", "eta_s", "output", "exit_code",
            "message"} <= set(data)
    assert (data["status"], data["step"], data["total_steps"], data["exit_code"]) == ("completed", 4, 4, 0)
    assert data["output"] == str(tmp_path / "out" / "tinylora.safetensors")
    prompts = (home / "jobs" / str(job_id) / "sample_prompts.txt").read_text()
    assert prompts == "a photo of tinyconcept\ntinyconcept in a forest --w 64\n"
    assert [s["step"] for s in job_events(home, job_id, "sample")] == [2, 4]
    argv = job_events(home, job_id, "phase_started")[0]["argv"]
    assert "--config_file" in argv and "--dataset_config" in argv
    logs = train_cli("train", "logs", job_id)
    assert "saving checkpoint" in logs.out and "steps:" in logs.out
    human = train_cli("train", "status")
    assert f"job {job_id}  completed  step 4/4 (100%)" in human.out


def test_cli_detach_cancel_resume_and_jobs_cancel(train_cli, home, tmp_path, monkeypatch):
    monkeypatch.setenv("LORATUI_TEST_REPLAY", "12_sigint_accelerate_group")  # waits at step 3 for a signal
    config = write_config(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    # `train start` in its own process: it prints the id and exits; the training goes on without it.
    proc = subprocess.run([sys.executable, str(HERE / "cli_entry.py"), "--home", str(home), "train", "start",
                           str(config)], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    job_id = int(proc.stdout.strip())
    wait_for(lambda: (job_row(home, job_id).get("step") or 0) >= 1, 60, what="step 1")
    # A second training queues behind it.
    queued = train_cli("train", "start", config, "--json").json()["id"]
    assert job_row(home, queued)["status"] == "queued"
    listing = train_cli("train", "queue", "--json").json()
    assert [j["id"] for j in listing] == [queued]
    assert train_cli("train", "queue", "remove", queued).code == 0
    # Follow the log of the running job from here until it is cancelled from yet another command.
    follower = subprocess.Popen([sys.executable, str(HERE / "cli_entry.py"), "--home", str(home), "train", "logs",
                                 str(job_id), "--follow"], stdout=subprocess.PIPE, env=env)
    pgid = job_row(home, job_id)["pgid"]
    cancelled = train_cli("jobs", "cancel", job_id)
    assert cancelled.code == 0 and "cancelled" in cancelled.err
    out, _ = follower.communicate(timeout=60)
    assert follower.returncode == 0 and b"steps:" in out
    row = job_row(home, job_id)
    assert row["status"] == "cancelled" and not group_members(pgid) and not alive(row["supervisor_pid"])
    # The stand-in saved no state before the cancel: resume says so instead of restarting at 0.
    refused = train_cli("train", "resume", job_id)
    assert refused.code == 2 and "saved no state" in refused.err


def test_cli_resume_from_saved_state(train_cli, home, tmp_path, monkeypatch):
    monkeypatch.setenv("LORATUI_TEST_EXTRA", "--crash_after")
    config = write_config(tmp_path, steps=6)  # the replayed first run saves its state at step 4, then crashes
    job_id = train_cli("train", "start", config, "--json").json()["id"]
    assert wait_status(home, job_id, TERMINAL)["status"] == "failed"
    failed = train_cli("train", "status", job_id, "--json").json()
    assert "stand-in crash" in failed["message"] and failed["exit_code"] == 1
    resumed = train_cli("train", "resume", job_id, "--json")
    assert resumed.code == 0, resumed
    new_id = resumed.json()["id"]
    assert resumed.json()["step"] == 4
    row = wait_status(home, new_id, TERMINAL)
    assert (row["status"], row["step"], row["total_steps"]) == ("completed", 6, 6)


def test_cli_errors(train_cli, home, tmp_path):
    assert train_cli("train", "status", 99).code == 2
    assert train_cli("train", "start", tmp_path / "missing.toml").code == 2
    bad = train_cli("train", "start", write_config(tmp_path), "--set", "novalue")
    assert bad.code == 2 and "KEY=VALUE" in bad.err
    assert train_cli("train", "queue", "move", 5, 1).code == 2
