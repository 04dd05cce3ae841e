"""Training sweeps (`train sweep --grid`) and run comparison (`train compare`): the grid's expansion and checks,
a real sweep through the CLI with the stand-in sd-scripts checkout, and the comparison's table and JSON."""

from __future__ import annotations

import json

import pytest

from loratui.errors import ConfigError, InputError
from loratui.jobs.model import Job, JobStatus
from loratui.training.run.compare import (Comparison, Run, curve, differing_keys, downsample, ema, flatten_config,
                                          x_values)
from loratui.training.run.sweep import check_axes, expand, parse_grid
from loratui.training.schema import Option, Schema
from trhelpers import wait_status, write_config

TERMINAL = {"completed", "failed", "cancelled", "interrupted"}
SCHEMA = Schema("kohya", "sd15", {
    "learning_rate": Option("learning_rate", "float"), "network_dim": Option("network_dim", "int"),
    "network_alpha": Option("network_alpha", "float"), "optimizer_type": Option("optimizer_type", "str"),
    "lr_scheduler": Option("lr_scheduler", "str", choices=["constant", "cosine"]),
    "save_state": Option("save_state", "bool"), "output_name": Option("output_name", "str"),
}, source="trainer:test")


# -- grid ----------------------------------------------------------------------------------------------------
def test_grid_expands_every_combination_with_unique_names_and_typed_values():
    axes = check_axes(parse_grid(["learning_rate=1e-4,5e-5", "network_dim=16,32"]), SCHEMA)
    runs = expand("mychar", axes, "/out")
    assert [r.output_name for r in runs] == ["mychar-lr1e-4-dim16", "mychar-lr1e-4-dim32", "mychar-lr5e-5-dim16",
                                            "mychar-lr5e-5-dim32"]
    assert runs[0].values == {"learning_rate": 1e-4, "network_dim": 16}
    assert isinstance(runs[3].values["network_dim"], int) and isinstance(runs[3].values["learning_rate"], float)
    assert runs[1].overrides == {"learning_rate": "1e-4", "network_dim": "32", "output_name": "mychar-lr1e-4-dim32",
                                 "output_dir": "/out/mychar-lr1e-4-dim32"}
    assert len({r.overrides["output_dir"] for r in runs}) == 4


def test_grid_labels_stay_unique_and_file_safe():
    axes = check_axes(parse_grid(["optimizer_type=Adam W,Adam/W"]), SCHEMA)
    names = [r.output_name for r in expand("x", axes, "/o")]
    assert names == ["x-optAdam_W", "x-optAdam_W-2"]
    assert all("/" not in n and " " not in n for n in names)
    semicolons = parse_grid(["resolution=512,512;768,768"])
    assert semicolons == [("resolution", ["512,512", "768,768"])]


def test_grid_errors_name_the_problem():
    with pytest.raises(ConfigError) as unknown:
        check_axes(parse_grid(["learning_rat=1e-4"]), SCHEMA)
    assert "no option 'learning_rat'" in unknown.value.message and "learning_rate" in unknown.value.hint
    with pytest.raises(InputError, match="not an integer"):
        check_axes(parse_grid(["network_dim=16,big"]), SCHEMA)
    with pytest.raises(ConfigError, match="not one of"):
        check_axes(parse_grid(["lr_scheduler=constant,linear"]), SCHEMA)
    with pytest.raises(ConfigError, match="same value"):
        check_axes(parse_grid(["learning_rate=1e-4,0.0001"]), SCHEMA)
    with pytest.raises(ConfigError, match="cannot vary output_name"):
        check_axes(parse_grid(["output_name=a,b"]), SCHEMA)
    for bad in (["network_dim"], ["network_dim=16,,32"], ["network_dim=1", "network_dim=2"], []):
        with pytest.raises(InputError):
            parse_grid(bad)
    axes = check_axes(parse_grid(["network_dim=" + ",".join(str(i) for i in range(1, 66))]), SCHEMA)
    with pytest.raises(ConfigError, match="65 runs"):
        expand("x", axes, "/o")


# -- comparison (pure) ---------------------------------------------------------------------------------------
def _run(job_id: int, points, config, *, total=None, epochs=None, extras=None) -> Run:
    job = Job(id=job_id, kind="train", title=f"r{job_id}", status=JobStatus.COMPLETED, step=points[-1][0] if points
              else None, total_steps=total, epochs=epochs, started_at=100.0, finished_at=190.0)
    return Run(job, f"r{job_id}", config, points, extras)


def test_config_diff_ignores_per_run_folders_and_orders_keys():
    a = flatten_config({"backend": "kohya", "family": "sd15", "launch": {"num_processes": 1},
                        "args": {"learning_rate": 1e-4, "network_dim": 16, "output_name": "a", "seed": 1}})
    b = flatten_config({"backend": "kohya", "family": "sd15", "launch": {"num_processes": 2},
                        "args": {"learning_rate": 5e-5, "network_dim": 16, "output_name": "b"}})
    assert differing_keys([a, b]) == ["launch.num_processes", "args.learning_rate", "args.seed"]
    assert differing_keys([a, a]) == []


def test_comparison_table_and_json():
    runs = [_run(1, [(1, 1, 0.2), (2, 1, 0.1), (3, 1, 0.15)], {"args.learning_rate": 1e-4}),
            _run(2, [(1, 1, 0.3), (2, 1, 0.25)], {"args.learning_rate": 5e-5})]
    comparison = Comparison(runs, differing_keys([r.config for r in runs]))
    rows = dict(comparison.rows())
    assert rows["args.learning_rate"] == ["0.0001", "5e-05"]
    assert rows["final loss"] == ["0.15", "0.25"] and rows["min loss"] == ["0.1 @2", "0.25 @2"]
    assert rows["time"] == ["1:30", "1:30"] and rows["steps"] == ["3/?", "2/?"]
    assert "peak GPU memory" not in rows  # neither feature's columns exist
    data = json.loads(json.dumps(comparison.to_dict()))
    assert [r["min_loss_step"] for r in data["runs"]] == [2, 2]
    assert data["runs"][1]["config"] == {"args.learning_rate": 5e-5} and data["differing"] == ["args.learning_rate"]
    runs[0].extras = {"chosen_checkpoint": "/o/a-000004.safetensors", "peak_gpu_bytes": 10 * 2**30}
    rows = dict(comparison.rows())
    assert rows["chosen checkpoint"] == ["a-000004.safetensors", "-"] and rows["peak GPU memory"] == ["10.0 GiB", "-"]


def test_smoothing_epoch_axis_and_downsampling():
    assert ema([1.0, 1.0, 1.0], 0.9) == pytest.approx([1.0, 1.0, 1.0])  # debiased: no ramp from zero
    smooth = ema([1.0, 0.0, 1.0, 0.0], 0.5)
    assert smooth[0] == 1.0 and 0.0 < smooth[1] < 1.0 and ema([3.0, 1.0], 0.0) == [3.0, 1.0]
    run = _run(1, [(s, 1 + (s - 1) // 5, 1.0 / s) for s in range(1, 11)], {}, total=10, epochs=2)
    assert x_values(run, by_epoch=True)[4] == pytest.approx(1.0) and x_values(run, by_epoch=True)[-1] == 2.0
    unknown = _run(2, [(1, 1, 0.5), (2, 1, 0.4), (3, 2, 0.3), (4, 2, 0.2)], {})
    assert x_values(unknown, by_epoch=True) == [0.5, 1.0, 1.5, 2.0]
    long = [(float(i), float(i % 7)) for i in range(50_000)]
    small = downsample(long, 300)
    assert len(small) == 300 and small[-1] == long[-1] and small[0][0] < small[1][0]
    big = _run(3, [(i, 1, 1.0) for i in range(1, 50_001)], {})
    assert len(curve(big, smoothing=0.9, limit=500)) == 500


# -- the CLI with the stand-in trainer ------------------------------------------------------------------------
def test_sweep_cli_creates_queued_jobs_and_compare_reads_them(train_cli, home, tmp_path):
    config = write_config(tmp_path)
    dry = train_cli("train", "sweep", config, "--grid", "learning_rate=1e-4,5e-5", "--grid", "network_dim=8,16",
                    "--dry-run", "--json")
    assert dry.code == 0, dry
    assert [r["output_name"] for r in dry.json()["runs"]][:2] == ["tinylora-lr1e-4-dim8", "tinylora-lr1e-4-dim16"]
    bad = train_cli("train", "sweep", config, "--grid", "network_dimm=8,16")
    assert bad.code == 2 and "network_dim" in bad.err
    made = train_cli("train", "sweep", config, "--grid", "learning_rate=1e-4,5e-5", "--json")
    assert made.code == 0, made
    sweep = made.json()
    ids = [r["job_id"] for r in sweep["runs"]]
    assert len(ids) == 2 and [r["label"] for r in sweep["runs"]] == ["lr1e-4", "lr5e-5"]
    rows = [wait_status(home, job_id, TERMINAL, timeout=90) for job_id in ids]
    assert [r["status"] for r in rows] == ["completed", "completed"], rows
    # each run trains into its own folder (the stand-in trainer names its files after the replayed log)
    assert rows[0]["output"].startswith(str(tmp_path / "out" / "tinylora-lr1e-4") + "/")
    assert rows[1]["output"].startswith(str(tmp_path / "out" / "tinylora-lr5e-5") + "/")
    listed = train_cli("train", "sweeps", "--json").json()
    assert [s["id"] for s in listed] == [sweep["id"]] and listed[0]["grid"] == [["learning_rate", ["1e-4", "5e-5"]]]
    compared = train_cli("train", "compare", "--sweep", sweep["id"], "--json", "--curves", "10")
    assert compared.code == 0, compared
    data = compared.json()
    assert data["differing"] == ["args.learning_rate"]
    assert [r["config"]["args.learning_rate"] for r in data["runs"]] == [1e-4, 5e-5]
    assert all(r["final_loss"] is not None and r["min_loss"] <= r["final_loss"] for r in data["runs"])
    assert all(1 <= len(r["curve"]) <= 10 for r in data["runs"])
    human = train_cli("train", "compare", *ids)
    assert human.code == 0 and "args.learning_rate" in human.out and "final loss" in human.out
    one = train_cli("train", "compare", ids[0])
    assert one.code == 2 and "at least two" in one.err


def test_run_extras_read_the_chosen_checkpoint_and_peak_memory(tmp_path):
    """The chosen checkpoint (loras.chosen_at, the checkpoint grid's) and the peak GPU memory (jobs.peak_memory,
    the GPU telemetry's) of a run; None for each until they are recorded."""
    from loratui.jobs import repo as job_repo
    from loratui.store.db import connect
    from loratui.training.run.compare_repo import run_extras

    conn = connect(tmp_path / "t.db")
    job = job_repo.create_job(conn, "train", title="a", status=JobStatus.COMPLETED)
    assert run_extras(conn, job.id) == {"chosen_checkpoint": None, "peak_gpu_bytes": None}
    for name, chosen in (("a-000002.safetensors", None), ("a-000004.safetensors", 5.0)):
        conn.execute("INSERT INTO loras (path, size, mtime_ns, job_id, indexed_at, chosen_at) VALUES (?, 1, 1, ?, 0, ?)",
                     (f"/o/{name}", job.id, chosen))
    conn.execute("UPDATE jobs SET peak_memory = ? WHERE id = ?", (3 * 2**30, job.id))
    assert run_extras(conn, job.id) == {"chosen_checkpoint": "/o/a-000004.safetensors", "peak_gpu_bytes": 3 * 2**30}
    conn.close()
