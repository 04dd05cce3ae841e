"""`loratui lora sweep` end to end with the stand-in sd-scripts (fake_sd_scripts/: train_network.py replays a real
log and writes its LoRA files, gen_img.py writes one PNG per prompt line): a finished training is swept through the
queue and the detached supervisor, listed, cancelled, and a crashed script fails the job with its error."""

from __future__ import annotations

import json
from pathlib import Path

from loratui.loras import sweep_manifest
from trhelpers import job_row, wait_for, wait_status, write_config

TERMINAL = {"completed", "failed", "cancelled", "interrupted"}


def _trained(train_cli, home, tmp_path) -> int:
    config = write_config(tmp_path, sample_prompts='["a photo of tinyconcept --d 5", "tinyconcept in a forest"]',
                          sample_every_n_steps=2)
    started = train_cli("train", "start", config, "--json")
    assert started.code == 0, started
    job_id = started.json()["id"]
    assert wait_status(home, job_id, TERMINAL)["status"] == "completed"
    return job_id


def test_sweep_a_training_with_its_sample_prompts(train_cli, home, tmp_path, monkeypatch):
    calls = tmp_path / "calls.jsonl"
    monkeypatch.setenv("LORATUI_TEST_SWEEP_CALLS", str(calls))
    train_id = _trained(train_cli, home, tmp_path)
    out = tmp_path / "out"
    loras = sorted(p.name for p in out.glob("tinylora*.safetensors"))
    done = train_cli("lora", "sweep", train_id, "--seeds", "1,2", "--steps", "2", "--wait", "--json")
    assert done.code == 0, done
    data = done.json()
    assert data["status"] == "completed" and data["family"] == "sd15"
    folder = Path(data["folder"])
    assert folder.parent == out / "sweeps" and folder.name == data["id"]
    manifest = sweep_manifest.load(folder)
    assert manifest.job_id == data["job_id"] and manifest.rows[0].key == "baseline"
    assert len(manifest.rows) == 1 + len(loras) and data["cells"] == len(manifest.rows) * 4
    assert [c.prompt for c in manifest.columns] == ["a photo of tinyconcept"] * 2 + ["tinyconcept in a forest"] * 2
    assert sweep_manifest.missing_cells(folder, manifest) == []
    runs = [json.loads(line) for line in calls.read_text().splitlines()]
    assert len(runs) == len(manifest.rows)  # one model load per row
    ckpt = runs[0]["argv"][runs[0]["argv"].index("--ckpt") + 1]
    assert ckpt == str(tmp_path / "model.safetensors")  # the training's base model
    row = job_row(home, data["job_id"])
    assert (row["kind"], row["progress_done"], row["progress_total"]) == ("sweep", data["cells"], data["cells"])
    listed = train_cli("lora", "sweeps", "--json").json()
    assert [(s["id"], s["status"], s["source_job_id"]) for s in listed] == [(data["id"], "completed", train_id)]
    # A prompt set saved for the dataset, used again by the next sweep
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("# mine\na red car --n blurry --d 3\n")
    saved = train_cli("lora", "sweep", train_id, "--prompts", prompts, "--save-prompts", "cars", "--no-baseline",
                      "--every", "9", "--wait", "--json")
    assert saved.code == 0, saved
    assert saved.json()["rows"] == 1 and saved.json()["columns"] == 1  # the final checkpoint only, seed 3
    sets = train_cli("lora", "prompt-sets", "tiny", "--json")
    assert sets.json() == [{"name": "cars", "prompts": 1}]
    shown = train_cli("lora", "prompt-sets", "tiny", "--show", "cars")
    assert shown.out == "a red car --n blurry --d 3\n"
    again = train_cli("lora", "sweep", train_id, "--prompt-set", "cars", "--no-baseline", "--json")
    assert again.code == 0, again
    assert sweep_manifest.load(Path(again.json()["folder"])).columns[0].prompt == "a red car"
    wait_status(home, again.json()["job_id"], TERMINAL)


def test_sweep_failure_and_cancel(train_cli, home, tmp_path, monkeypatch):
    train_id = _trained(train_cli, home, tmp_path)
    monkeypatch.setenv("LORATUI_TEST_SWEEP_FAIL", "tinylora")  # every LoRA run dies after its first image
    failed = train_cli("lora", "sweep", train_id, "--wait")
    assert failed.code == 2
    assert "failed" in failed.err
    sweep = train_cli("lora", "sweeps", "--json").json()[0]
    job = job_row(home, sweep["job_id"])
    assert job["status"] == "failed" and "CUDA out of memory (stand-in)" in (job["error"] or "")
    logs = train_cli("train", "logs", sweep["job_id"])
    assert logs.code == 0 and "ERROR:loratui.sweep:gen_img.py failed on row" in logs.out
    assert sweep["status"] == "failed"
    folder = Path(sweep["folder"])
    manifest = sweep_manifest.load(folder)
    missing = sweep_manifest.missing_cells(folder, manifest)
    # the baseline row rendered, each LoRA row kept its first image
    assert len(missing) == (len(manifest.rows) - 1) * (len(manifest.columns) - 1)
    monkeypatch.delenv("LORATUI_TEST_SWEEP_FAIL")
    calls = tmp_path / "calls.jsonl"
    monkeypatch.setenv("LORATUI_TEST_SWEEP_CALLS", str(calls))
    resumed = train_cli("lora", "sweep-resume", sweep["id"], "--wait", "--json")
    assert resumed.code == 0, resumed
    assert (resumed.json()["status"], resumed.json()["missing"]) == ("completed", len(missing))
    runs = [json.loads(line) for line in calls.read_text().splitlines()]
    assert sum(len(r["lines"]) for r in runs) == len(missing) and len(runs) == len(manifest.rows) - 1
    assert sweep_manifest.missing_cells(folder, manifest) == []
    assert sweep_manifest.load(folder).job_id == resumed.json()["job_id"]
    again = train_cli("lora", "sweep-resume", sweep["id"])
    assert again.code == 2 and "every image already" in again.err
    monkeypatch.setenv("LORATUI_TEST_SWEEP_DELAY", "5")
    started = train_cli("lora", "sweep", train_id, "--json")
    job_id = started.json()["job_id"]
    wait_for(lambda: job_row(home, job_id)["status"] == "running", 30, what="sweep running")
    cancelled = train_cli("jobs", "cancel", job_id)
    assert cancelled.code == 0, cancelled
    assert job_row(home, job_id)["status"] == "cancelled"
    assert train_cli("lora", "sweeps", "--json").json()[0]["status"] == "cancelled"


def test_sweep_refusals(train_cli, home, tmp_path):
    missing = train_cli("lora", "sweep", tmp_path / "nope.safetensors")
    assert missing.code == 2 and "not a file" in missing.err
    no_job = train_cli("lora", "sweep", "77")
    assert no_job.code == 2 and "77" in no_job.err
    assert "no sweeps yet" in train_cli("lora", "sweeps").err
    assert train_cli("lora", "sweep", "77", "--every", "0").code == 2
