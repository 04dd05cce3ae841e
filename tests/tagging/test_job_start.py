"""Jobs from the moment they start (issue 14): a tag/caption job is a row in state `preparing` while it waits for
the Hub or the endpoint, a cancel ends that wait at once with the state `cancelled`, and no network fails fast
with one line (no huggingface_hub retry warnings, no back-off before the message)."""

from __future__ import annotations

import asyncio
import re
import socket
import time

import pytest

from loratui.config import Context
from loratui.datasets import service
from loratui.jobs import repo
from loratui.jobs.model import JobStatus
from loratui.jobs.runner import Cancelled
from loratui.store import Store

from tests.slowserver import slow_server

from .test_hub import run as run_cli_process


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def hub_env(monkeypatch, tmp_path):
    """An empty Hugging Face cache, online mode (each test sets HF_ENDPOINT)."""
    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")


async def _dataset(store, colour_dataset):
    return await service.add_dataset(store, colour_dataset, name="ds", workers=1)


async def _wait_for_job(store, predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = await store.read(repo.list_jobs)
        found = [job for job in jobs if predicate(job)]
        if found:
            return found[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no such job: {await store.read(repo.list_jobs)}")


async def test_tag_job_is_preparing_while_the_hub_does_not_answer_and_a_cancel_ends_it(
        home, colour_dataset, hub_env, monkeypatch):
    from loratui.tagging.wd14 import TagRequest, tag_dataset

    with slow_server(hold=True) as (hub, url):
        monkeypatch.setenv("HF_ENDPOINT", url)
        async with Store.open(Context.load(home).paths.db) as store:
            dataset, _report = await _dataset(store, colour_dataset)
            task = asyncio.create_task(tag_dataset(store, dataset, TagRequest(model="acme/slow-tagger")))
            # The row exists before the Hub answered anything, and says what it waits for.
            job = await _wait_for_job(store, lambda j: j.kind == "tag")
            assert job.status == JobStatus.PREPARING
            assert job.message.startswith(f"fetching model acme/slow-tagger (Hugging Face cache, else {url})")
            assert job in await store.read(repo.active_jobs)
            while not hub.requests:  # the HEAD request is now waiting for an answer
                await asyncio.sleep(0.05)
            asked = time.monotonic()
            await store.run(repo.request_cancel, job.id)
            with pytest.raises(Cancelled):
                await asyncio.wait_for(task, 10)
            assert time.monotonic() - asked < 2.0  # not held up by the request in flight
            hub.release.set()  # the abandoned request ends; its outcome no longer matters
            job = await store.read(repo.get_job, job.id)
            assert job.status == JobStatus.CANCELLED and job.error is None


async def test_caption_job_cancelled_during_retries_ends_cancelled_at_once(
        home, colour_dataset, monkeypatch):
    from loratui.tagging.captioning import CaptionRequest, caption_dataset

    with slow_server(hold=False) as (endpoint, url):  # answers 503 to everything: retried with back-off
        async with Store.open(Context.load(home).paths.db) as store:
            dataset, _report = await _dataset(store, colour_dataset)
            request = CaptionRequest(base_url=f"{url}/v1", model="m", api_key="k", concurrency=2, retries=5,
                                     backoff_s=2.0)
            task = asyncio.create_task(caption_dataset(store, dataset, request))
            job = await _wait_for_job(store, lambda j: j.kind == "caption")
            assert job.status == JobStatus.PREPARING and job.message == f"connecting to {url}/v1"
            # The retries show as the job's message while it waits (back-off of 2 s, then 4 s, ...).
            job = await _wait_for_job(store, lambda j: "retry 1/5" in (j.message or ""))
            assert job.status == JobStatus.PREPARING and "answered HTTP 503" in job.message
            asked = time.monotonic()
            await store.run(repo.request_cancel, job.id)
            with pytest.raises(Cancelled):
                await asyncio.wait_for(task, 10)
            assert time.monotonic() - asked < 1.5  # the back-off sleep did not hold the cancel up
            job = await store.read(repo.get_job, job.id)
            assert job.status == JobStatus.CANCELLED
            assert len(endpoint.requests) <= 4  # no request after the cancel: 2 workers, at most 2 tries each


def test_caption_endpoint_that_never_answers_fails_at_once(cli, colour_dataset):
    assert cli("dataset", "add", colour_dataset, "--name", "ds").code == 0
    started = time.monotonic()
    result = cli("caption", "ds", "--base-url", f"http://127.0.0.1:{_closed_port()}/v1", "--model", "m")
    # Default retries (5, back-off 1 s) would have taken over 30 s before the same message.
    assert time.monotonic() - started < 10
    assert result.code == 2 and "cannot reach http://127.0.0.1" in result.err
    assert "connection failed" in result.err and "may have no network" in result.err
    jobs = cli("jobs", "--json").json()
    assert [(j["kind"], j["status"]) for j in jobs] == [("caption", "failed")]


def _messages(stderr: str) -> int:
    """Lines on stderr after the `job N started` notice; asserts they are loratui's own."""
    lines = stderr.strip().splitlines()
    assert re.fullmatch(r"job \d+ started", lines[0]), lines
    assert all(line.startswith("loratui: ") for line in lines[1:]), lines
    return len(lines) - 1


def test_tag_offline_or_unreachable_hub_is_one_line_and_no_retry_storm(cli, home, colour_dataset, tmp_path):
    assert cli("dataset", "add", colour_dataset, "--name", "ds").code == 0
    hf_home = tmp_path / "hf"

    unreachable = run_cli_process(home, hf_home, "tag", "ds", "--model", "acme/tagger",
                                  HF_ENDPOINT=f"http://127.0.0.1:{_closed_port()}")
    assert unreachable.returncode == 2
    assert _messages(unreachable.stderr) == 1  # no warnings before the message
    assert "cannot reach the Hub at http://127.0.0.1" in unreachable.stderr
    assert "Retrying" not in unreachable.stderr and "thrown while requesting" not in unreachable.stderr

    offline = run_cli_process(home, hf_home, "tag", "ds", "--model", "acme/tagger", HF_HUB_OFFLINE="1")
    assert offline.returncode == 2 and _messages(offline.stderr) == 1
    assert "HF_HUB_OFFLINE is set" in offline.stderr

    # A Hub that answers 503 is asked once, not five times with back-off.
    with slow_server(hold=False) as (hub, url):
        busy = run_cli_process(home, hf_home, "tag", "ds", "--model", "acme/tagger", HF_ENDPOINT=url)
    assert busy.returncode == 2 and _messages(busy.stderr) == 1, busy.stderr
    assert "HTTP 503" in busy.stderr
    assert [r for r in hub.requests if "model.onnx" in r] == ["HEAD /acme/tagger/resolve/main/model.onnx"]

    jobs = cli("jobs", "--json").json()  # one job, run again by each attempt (same model and options)
    assert jobs and all((j["kind"], j["status"]) == ("tag", "failed") for j in jobs)
    assert "HTTP 503" in jobs[0]["message"]


async def test_tag_job_shows_the_download_and_a_cancel_stops_it_mid_transfer(home, colour_dataset, hub_env,
                                                                             monkeypatch, tmp_path):
    import os

    from loratui.tagging.wd14 import TagRequest, tag_dataset
    from tests import fakehub

    # huggingface_hub reads the body 10 MiB at a time and reports after each read: a cancel stops the transfer
    # at the next report, so the file is larger than two reads.
    size = 24 * 1024 * 1024
    with fakehub.serve() as hub:
        hub.add_file("acme/big-tagger", "model.onnx", os.urandom(size))
        hub.add_file("acme/big-tagger", "selected_tags.csv", b"tag_id,name,category,count\n", lfs=False)
        hub.chunk_delay_s = 0.03  # 96 chunks of 256 KiB: about 3 s for the whole file
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        async with Store.open(Context.load(home).paths.db) as store:
            dataset, _report = await _dataset(store, colour_dataset)
            task = asyncio.create_task(tag_dataset(store, dataset, TagRequest(model="acme/big-tagger")))
            job = await _wait_for_job(store, lambda j: (j.message or "").startswith("downloading ")
                                      and not j.message.startswith("downloading acme/big-tagger/model.onnx: 0.0/"))
            assert job.status == JobStatus.PREPARING
            assert re.fullmatch(r"downloading acme/big-tagger/model\.onnx: 1\d\.\d/25\.2 MB", job.message), job.message
            asked = time.monotonic()
            await store.run(repo.request_cancel, job.id)
            with pytest.raises(Cancelled):
                await asyncio.wait_for(task, 10)
            assert time.monotonic() - asked < 2.0
            assert (await store.read(repo.get_job, job.id)).status == JobStatus.CANCELLED
            # The transfer itself stopped (its progress callback raised), well before the file was complete.
            await asyncio.sleep(1.0)
            sent = hub.chunks_sent
            await asyncio.sleep(0.5)
            assert hub.chunks_sent == sent < size // (256 * 1024)
    assert not list((tmp_path / "hf-cache").glob("models--acme--big-tagger/snapshots/*/model.onnx"))
