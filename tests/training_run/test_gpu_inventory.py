"""The GPU inventory (NVML without a driver, the FAKE test device), requests and pinning, `loratui gpus`, and the
supervisor's telemetry of the GPUs a training holds (peak memory in the job row)."""

from __future__ import annotations

import json
import sys

from loratui.gpu import pinning, slots
from loratui.gpu.inventory import GIB, FakeInventory, NvmlInventory, open_inventory
from loratui.gpu.slots import GpuRequest, SlotView, choose
from loratui.jobs import repo
from loratui.store import connect
from loratui.training.kohya import launcher_argv
from loratui.training.plan import TrainPhase
from loratui.training.run.queue import advance_sync
from trhelpers import enqueue, make_plan, wait_for, wait_status


def test_nvml_without_a_driver_is_no_gpus_not_an_error():
    inventory = NvmlInventory()
    gpus = inventory.snapshot()
    if gpus:  # a machine with NVIDIA GPUs: they are real and complete
        assert all(g.uuid and g.memory_total > 0 for g in gpus)
        return
    assert inventory.status.startswith(("no NVIDIA GPU", "no NVML"))


def test_fake_inventory_specs(tmp_path):
    assert open_inventory("", environ={}).kind == "nvml"
    eight = open_inventory("", environ={"LORATUI_FAKE_GPUS": "8"})
    assert eight.kind == "fake" and len(eight.snapshot()) == 8
    assert all(g.name.startswith("FAKE") for g in eight.snapshot())
    (big,) = FakeInventory("1x81920").snapshot()
    assert big.memory_total == 80 * GIB
    spec = tmp_path / "gpus.json"
    spec.write_text(json.dumps({"gpus": [{"name": "H100", "memory_used": 5 * GIB, "utilization": 40,
                                          "temperature": 50, "processes": [[123, 5 * GIB]]}]}))
    (gpu,) = open_inventory(str(spec), environ={}).snapshot()
    assert gpu.name == "FAKE H100" and gpu.processes == [(123, 5 * GIB)] and gpu.utilization == 40
    assert FakeInventory(str(tmp_path / "missing.json")).snapshot() == []


def test_requests_and_choices():
    assert slots.request_from_launch({}) == GpuRequest(1)
    assert slots.request_from_launch({"gpus": 2}) == GpuRequest(2)
    assert slots.request_from_launch({"num_processes": 4}) == GpuRequest(4)
    assert slots.request_from_launch({"num_processes": 4, "num_machines": 2}) == GpuRequest(1)
    assert slots.request_from_launch({"gpu_ids": "1,3"}) == GpuRequest(0, (1, 3))
    assert slots.request_from_launch({"gpu_ids": "all"}).wants_all
    for request in (GpuRequest(2), GpuRequest(0, (1, 3)), GpuRequest(0)):
        assert GpuRequest.decode(request.encode()) == request
    view = SlotView(((0, 0), (1, 5 * GIB), (2, 0), (3, 0)), busy_bytes=GIB)
    assert view.free(held={2}) == [0, 3]  # GPU 1 is busy with someone else's process, GPU 2 held by a job
    assert choose(GpuRequest(2), view.free({2}), view.indices) == [0, 3]
    assert choose(GpuRequest(3), view.free({2}), view.indices) is None
    assert choose(GpuRequest(0, (0, 1)), view.free(set()), view.indices) is None
    assert choose(GpuRequest(0), [0, 1, 2, 3], view.indices) == [0, 1, 2, 3]
    assert slots.impossible(GpuRequest(8), view.indices) == "asks for 8 GPUs; this machine has 4"


def test_pinning_accelerate_and_plain_python():
    argv = launcher_argv("/venv/bin/python", __import__("pathlib").Path("/sd/train_network.py"), {"gpus": 2})
    assert pinning.request_from_argv(argv) == GpuRequest(2)
    pinned = pinning.pin_argv(argv, [4, 6])
    launch = pinned.index("accelerate.commands.launch")
    assert pinned[launch + 1:launch + 6] == ["--num_processes", "2", "--gpu_ids", "4,6", "--multi_gpu"]
    assert pinned.count("--num_processes") == 1 and pinned.count("--multi_gpu") == 1
    assert pinned[-1] == "/sd/train_network.py"
    one = pinning.pin_argv(launcher_argv("py", __import__("pathlib").Path("/sd/t.py"), {"gpu_ids": "0"}), [3])
    assert "--multi_gpu" not in one and one[one.index("--gpu_ids") + 1] == "3"
    plain = ["python", "script.py", "--x"]
    assert pinning.pin_argv(plain, [1]) == plain and pinning.request_from_argv(plain) == GpuRequest(1)
    assert pinning.pin_env([1, 2]) == {"CUDA_VISIBLE_DEVICES": "1,2", "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}


def test_gpus_cli(cli, monkeypatch):
    result = cli("gpus", "--json")
    assert result.code == 0
    if result.json()["source"] == "nvml" and not result.json()["gpus"]:
        assert result.json()["status"].startswith(("no NVIDIA GPU", "no NVML"))
        assert cli("gpus").out.startswith(("no NVIDIA GPU", "no NVML"))
    monkeypatch.setenv("LORATUI_FAKE_GPUS", "2x16384")
    fake = cli("gpus", "--json").json()
    assert fake["source"] == "fake" and [g["name"] for g in fake["gpus"]] == ["FAKE test GPU"] * 2
    assert fake["gpus"][0]["job"] is None
    table = cli("gpus")
    assert "FAKE test GPU" in table.out and "0.0G/16.0G" in table.out and "FAKE" in table.err


def test_the_supervisor_samples_its_gpus_and_keeps_the_peak(ctx, tmp_path, monkeypatch):
    spec = tmp_path / "gpus.json"

    def report(used_gib: list[float]) -> None:
        spec.write_text(json.dumps({"gpus": [{"memory_used": int(u * GIB), "memory_total": 24 * GIB,
                                              "utilization": 90, "temperature": 65} for u in used_gib]}))

    report([0, 0, 0])
    monkeypatch.setenv("LORATUI_FAKE_GPUS", str(spec))
    (ctx.paths.home / "config.toml").write_text((ctx.paths.home / "config.toml").read_text()
                                                + "\n[gpus]\nsample_interval_s = 0.5\n")
    from loratui.config import Context

    ctx = Context.load(ctx.paths.home)
    flag = tmp_path / "go"
    script = ("import os, sys, time\n"
              f"while not os.path.exists({str(flag)!r}): time.sleep(0.05)\n")
    job_id = enqueue(ctx, make_plan(tmp_path, phases=[TrainPhase("train", [sys.executable, "-c", script], "")]))
    conn = connect(ctx.paths.db)
    try:
        repo.set_gpu_request(conn, job_id, GpuRequest(2))
        assert advance_sync(conn, ctx) == [job_id]
        assert repo.get_job(conn, job_id).gpu_ids == "0,1"
        report([10, 21.5, 3])
        wait_for(lambda: repo.peak_memory(conn, job_id) == int(21.5 * GIB), 30, what="the peak")
        report([11, 12, 23])  # GPU 2 is not the job's: its memory is not the job's peak
        wait_for(lambda: any(s["memory_used"] == 12 * GIB for s in repo.gpu_samples(conn, job_id)), 30,
                 what="a newer sample")
        flag.write_text("")
        wait_status(ctx.paths.home, job_id, "completed", timeout=60)
        samples = repo.gpu_samples(conn, job_id)
        assert {s["gpu"] for s in samples} == {0, 1}
        assert repo.peak_memory(conn, job_id) == int(21.5 * GIB)
        assert repo.latest_gpu_samples(conn, [job_id])[job_id][1]["memory_used"] in (12 * GIB, 21.5 * GIB)
    finally:
        conn.close()


def test_launch_gpus_is_checked():
    from loratui.training.validate import _check_gpus as _check_launch

    assert [i.message for i in _check_launch({"gpus": 0})] == ["must be at least 1"]
    assert "keep one" in _check_launch({"gpus": 2, "gpu_ids": "0,1"})[0].message
    (warning,) = _check_launch({"gpus": 2, "num_processes": 4})
    assert warning.severity == "warning" and "the GPUs decide" in warning.message
    assert _check_launch({"gpus": 2}) == []


def test_job_history_shows_gpus_and_peak_memory(cli, ctx, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    conn = connect(ctx.paths.db)
    try:
        plain = repo.create_job(conn, "train", title="cpu run")
        repo.update_job(conn, plain.id, status="completed")
        assert "gpus" not in cli("jobs").out  # no job had GPUs: the table is as before
        job = repo.create_job(conn, "train", title="gpu run")
        repo.update_job(conn, job.id, status="completed", gpu_ids="0,1", peak_memory=int(21.5 * GIB))
    finally:
        conn.close()
    table = cli("jobs").out
    assert "gpus" in table and "0,1 peak 21.5G" in table
    data = {j["id"]: j for j in cli("jobs", "--json").json()}
    assert data[job.id]["peak_memory"] == int(21.5 * GIB) and data[job.id]["gpu_ids"] == "0,1"
