"""GPU failures in trainer logs: the log parser names the cause (fixtures built from PyTorch's message formats,
see tests/fixtures/README.md "gpu-failures"), the supervisor records it on the failed job, and the remedies
of the job's family are applied to a copy of its config, never to the original."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

from loratui.gpu import failures
from loratui.jobs import repo
from loratui.store import connect
from loratui.training.config import TrainConfig, load_config
from loratui.training.plan import TrainPhase
from loratui.training.run import logparse
from loratui.training.run.queue import advance_sync
from loratui.training.run.remedies import remedies_for
from loratui.training.schema import builtin_schema
from trhelpers import FIXTURES, enqueue, job_row, make_plan, wait_status, write_config

LOGS = FIXTURES / "gpu-failures"
EXPECTED = {"oom_torch2": "cuda_oom", "oom_runtime_error": "cuda_oom", "oom_cuda_error": "cuda_oom",
            "nccl": "nccl", "driver": "driver", "no_device": "no_gpu", "illegal_access": "illegal_access",
            "ecc": "hardware"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_parser_names_the_gpu_failure_of_each_log(name):
    data = (LOGS / f"{name}.log").read_bytes()
    events = logparse.parse_bytes(data)
    found = [e for e in events if isinstance(e, logparse.GpuFailure)]
    assert [e.cause for e in found] == [EXPECTED[name]]
    # the run's own progress before the failure is still there, and the error is the trainer's exception
    assert any(isinstance(e, logparse.Progress) for e in events)
    assert failures.classify(logparse.pick_error(events).message).id == EXPECTED[name]
    # any chunking gives the same answer
    parser, rng, chunks = logparse.LogParser(), random.Random(7), []
    pos = 0
    while pos < len(data):
        size = rng.randint(1, 300)
        chunks += parser.feed(data[pos:pos + size])
        pos += size
    chunks += parser.close()
    assert [e for e in chunks if isinstance(e, logparse.GpuFailure)] == found


def test_a_clean_run_names_no_failure_and_lookalikes_are_not_failures():
    data = (FIXTURES / "kohya-logs" / "16_toml_accelerate_combined_unbuffered.log").read_bytes()
    assert not [e for e in logparse.parse_bytes(data) if isinstance(e, logparse.GpuFailure)]
    assert failures.classify("INFO use 8-bit AdamW optimizer | {}") is None
    assert failures.classify("enable full bf16 training.") is None


def test_the_supervisor_records_out_of_memory_on_the_failed_job(ctx, tmp_path):
    log = LOGS / "oom_torch2.log"
    script = f"import sys; sys.stdout.buffer.write(open({str(log)!r}, 'rb').read()); sys.exit(1)"
    job_id = enqueue(ctx, make_plan(tmp_path, phases=[TrainPhase("train", [sys.executable, "-c", script], "")]))
    conn = connect(ctx.paths.db)
    try:
        advance_sync(conn, ctx)
        row = wait_status(ctx.paths.home, job_id, {"completed", "failed", "cancelled", "interrupted"}, timeout=60)
    finally:
        conn.close()
    assert row["status"] == "failed" and row["failure_cause"] == "cuda_oom"
    assert row["message"].startswith("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB")


def _ids(config: TrainConfig) -> list[str]:
    return [r.id for r in remedies_for(config, builtin_schema(config.backend, config.family))]


def test_remedies_are_the_ones_the_family_trainer_has():
    sd15 = TrainConfig("kohya", "sd15", "d", {"train_batch_size": 4, "resolution": "512,512"})
    assert _ids(sd15) == ["gradient_checkpointing", "cache_latents", "fp8_base", "smaller_batch", "lower_resolution"]
    flux = TrainConfig("kohya", "flux", "d", {"gradient_checkpointing": True, "resolution": "1024,1024",
                                              "cache_latents_to_disk": True})
    assert _ids(flux) == ["cache_text_encoder_outputs", "fp8_base", "blocks_to_swap", "lower_resolution"]
    qwen = TrainConfig("musubi", "qwen-image", "d", {"train_batch_size": 2, "blocks_to_swap": 16})
    found = remedies_for(qwen, builtin_schema("musubi", "qwen-image"))
    assert [r.id for r in found] == ["gradient_checkpointing", "fp8_base", "blocks_to_swap", "smaller_batch"]
    assert found[2].changes == {"blocks_to_swap": 24} and found[3].changes == {"train_batch_size": 1}
    tiny = TrainConfig("kohya", "sd15", "d", {"train_batch_size": 1, "resolution": "256,256"})
    assert "smaller_batch" not in _ids(tiny) and "lower_resolution" not in _ids(tiny)


def test_train_remedies_cli_applies_to_a_copy(train_cli, ctx, tmp_path):
    config = write_config(tmp_path, steps=4)
    original = config.read_text()
    result = train_cli("train", "start", config, "--set", "network_dim=8", "--json")
    assert result.code == 0, result
    job_id = result.json()["id"]
    conn = connect(ctx.paths.db)
    try:
        wait_status(ctx.paths.home, job_id, {"completed", "failed"}, timeout=90)
        repo.update_job(conn, job_id, status="failed", failure_cause="cuda_oom")
    finally:
        conn.close()
    shown = train_cli("train", "remedies", job_id, "--json")
    assert shown.code == 0, shown
    data = shown.json()
    assert data["failure_cause"] == "cuda_oom" and data["failure"] == "CUDA out of memory"
    ids = [r["id"] for r in data["remedies"]]
    assert "smaller_batch" in ids  # the stand-in sd-scripts checkout has few options: only what it has is offered
    assert "fp8_base" not in ids and "lower_resolution" not in ids  # none there; 64x64 is too small to lower
    table = train_cli("train", "remedies", job_id)
    assert "CUDA out of memory" in table.out and "batch size 1 (was 2)" in table.out
    n = ids.index("smaller_batch") + 1
    applied = train_cli("train", "remedies", job_id, "--apply", n, "--json")
    assert applied.code == 0, applied
    copy = Path(applied.json()["written"])
    assert copy.parent == config.parent and copy != config and copy.name == f"run.job{job_id}-smaller_batch.toml"
    assert config.read_text() == original  # the original is never touched
    edited = load_config(copy)
    assert edited.args["train_batch_size"] == 1 and edited.args["network_dim"] == 8  # the job's --set kept
    again = train_cli("train", "remedies", job_id, "--apply", n, "--json")
    assert Path(again.json()["written"]).name == f"run.job{job_id}-smaller_batch-2.toml"
    started = train_cli("train", "remedies", job_id, "--apply", 1, "--start", "--json")
    assert started.code == 0, started
    new_id = started.json()["started"]
    assert wait_status(ctx.paths.home, new_id, {"completed", "failed"}, timeout=90)["status"] == "completed"
    assert job_row(ctx.paths.home, new_id)["title"].endswith(f"({ids[0]})")
    bad = train_cli("train", "remedies", job_id, "--apply", 99)
    assert bad.code == 2 and "no remedy 99" in bad.err
