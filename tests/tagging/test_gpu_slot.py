"""A tagging job takes a free GPU slot like a training (FAKE inventory): it skips GPUs a training holds, waits
while none is free, lets go when it ends; with device cpu (and on a machine without GPUs) nothing changes."""

from __future__ import annotations

import asyncio

import pytest

from loratui.config import Context
from loratui.datasets import service
from loratui.jobs import repo
from loratui.jobs.model import JobStatus
from loratui.store import Store
from loratui.tagging import gpu_slot
from loratui.tagging.modes import Mode
from loratui.tagging.session import CUDA, available_providers
from loratui.tagging.wd14 import TagRequest, tag_dataset

pytestmark = pytest.mark.skipif(CUDA not in available_providers(),
                                reason="this onnxruntime has no CUDA provider: tagging never takes a GPU")


async def _training_on(store, gpus: str) -> int:
    job = await store.run(repo.create_job, "train", title="holds GPUs", status=JobStatus.QUEUED)
    await store.run(repo.update_job, job.id, status=JobStatus.TRAINING, gpu_ids=gpus, gpu_assigned_at=1.0)
    return job.id


async def test_tagging_takes_a_free_gpu_waits_for_one_and_releases_it(home, colour_dataset, wd14_model,
                                                                      monkeypatch):
    monkeypatch.setenv("LORATUI_FAKE_GPUS", "2")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(gpu_slot, "WAIT_POLL_S", 0.1)
    ctx = Context.load(home)
    async with Store.open(ctx.paths.db) as store:
        dataset, _scan = await service.add_dataset(store, colour_dataset, name="ds", workers=1)
        first = await _training_on(store, "0")
        report = await tag_dataset(store, dataset, TagRequest(model=str(wd14_model), resume=False))
        job = await store.run(repo.get_job, report.job_id)
        assert job.gpu_ids == "1" and job.gpu_released_at is not None  # GPU 0 is the training's
        assert report.written == 3  # a FAKE GPU cannot run CUDA: the session fell back to the CPU and tagged
        second = await _training_on(store, "1")
        task = asyncio.create_task(tag_dataset(store, dataset, TagRequest(model=str(wd14_model), resume=False,
                                                                          mode=Mode.OVERWRITE)))
        await asyncio.sleep(1.0)
        waiting = [j for j in await store.run(repo.active_jobs, "tag")]
        assert waiting and "waiting for a free GPU" in (waiting[0].message or "") and not waiting[0].gpu_ids
        await store.run(repo.update_job, first, status=JobStatus.COMPLETED)
        again = await asyncio.wait_for(task, 60)
        assert (await store.run(repo.get_job, again.job_id)).gpu_ids == "0"
        await store.run(repo.update_job, second, status=JobStatus.COMPLETED)


async def test_cpu_tagging_takes_no_gpu(home, colour_dataset, wd14_model, monkeypatch):
    monkeypatch.setenv("LORATUI_FAKE_GPUS", "2")
    ctx = Context.load(home)
    async with Store.open(ctx.paths.db) as store:
        dataset, _scan = await service.add_dataset(store, colour_dataset, name="ds", workers=1)
        report = await tag_dataset(store, dataset, TagRequest(model=str(wd14_model), device="cpu"))
        assert (await store.run(repo.get_job, report.job_id)).gpu_ids is None
