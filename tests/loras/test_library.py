"""The library: index_file from a sync connection (training supervisor) and a Store, incremental scans."""

from __future__ import annotations

import json
import os
import time

import numpy as np
from safetensors.numpy import save_file

from loratui.loras import library
from loratui.jobs import repo as job_repo
from loratui.jobs.model import JobStatus
from loratui.store import Store, connect
from tests.dbutil import execute as db_execute


async def test_index_file_from_the_supervisor_links_the_job(tmp_path, lora_factory, kohya_metadata):
    conn = connect(tmp_path / "db.sqlite")  # the supervisor's plain connection
    job_id = job_repo.create_job(conn, "train", title="mychar", status=JobStatus.COMPLETED).id
    path = lora_factory(tmp_path / "out" / "mychar.safetensors", metadata=kohya_metadata)
    record = library.index_file_sync(conn, path, job_id=job_id)
    assert record.job_id == job_id and record.dim == 8 and record.alpha == 4.0
    assert record.base_model == "sdxl_base_v1-0" and record.trigger_words[0] == "mychar"
    assert record.tensor_count == 15 and len(record.sha256) == 64
    assert record.metadata["ss_optimizer"].endswith("AdamW8bit")
    conn.close()
    async with Store.open(tmp_path / "db.sqlite") as store:
        # a later scan keeps the job link
        report = await library.scan_dir(store, tmp_path / "out", force=True)
        assert report.updated == [str(path)]
        record = await library.get_lora(store, record.id)
        assert record.job_id == job_id
        assert (await library.job_summary(store, record, path))["title"] == "mychar"


async def test_scan_incremental_force_dry_run_and_removed(tmp_path, lora_factory):
    folder = tmp_path / "loras"
    a = lora_factory(folder / "a.safetensors")
    b = lora_factory(folder / "sub" / "b.safetensors", seed=1)
    save_file({"model.w": np.zeros(4, np.float32)}, str(folder / "base.safetensors"))
    (folder / "broken.safetensors").write_bytes(b"\x01\x02")
    async with Store.open(tmp_path / "db.sqlite") as store:
        dry = await library.scan_dir(store, folder, dry_run=True)
        assert sorted(dry.added) == sorted([str(a), str(b)]) and dry.dry_run
        assert await library.list_loras(store) == []
        first = await library.scan_dir(store, folder)
        assert len(first.added) == 2 and first.unchanged == 0
        assert {os.path.basename(p) for p, _ in first.errors} == {"base.safetensors", "broken.safetensors"}
        assert any("not a LoRA" in e for _, e in first.errors)
        second = await library.scan_dir(store, folder)
        assert second.added == [] and second.updated == [] and second.unchanged == 2
        # change one file (size and mtime), remove the other
        lora_factory(a, modules=[("lora_unet_x", "linear", 8, 8, 2, 1.0)])
        os.utime(a, ns=(time.time_ns(), time.time_ns() + 10_000_000))
        b.unlink()
        preview = await library.scan_dir(store, folder, dry_run=True)
        assert preview.updated == [str(a)] and preview.removed == [str(b)]
        assert len(await library.list_loras(store)) == 2  # nothing changed yet
        third = await library.scan_dir(store, folder)
        assert third.updated == [str(a)] and third.removed == [str(b)]
        records = await library.list_loras(store)
        assert [(r.name, r.dim) for r in records] == [("a.safetensors", 2)]
        forced = await library.scan_dir(store, folder, force=True)
        assert forced.updated == [str(a)] and forced.unchanged == 0


async def test_job_found_from_its_outputs(tmp_path, lora_factory):
    path = lora_factory(tmp_path / "x.safetensors")
    async with Store.open(tmp_path / "db.sqlite") as store:
        now = time.time()
        job_id = await db_execute(store, 
            "INSERT INTO jobs (kind, status, outputs, created_at, updated_at) VALUES ('train', 'completed', ?, ?, ?)",
            (json.dumps([str(path)]), now, now))
        record = await library.index_file(store, path)
        assert record.job_id == job_id


async def test_scan_of_a_missing_folder(tmp_path):
    import pytest

    from loratui.errors import NotFoundError

    async with Store.open(tmp_path / "db.sqlite") as store:
        with pytest.raises(NotFoundError):
            await library.scan_dir(store, tmp_path / "nope")


