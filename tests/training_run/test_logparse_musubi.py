"""The log parser over recorded real musubi-tuner logs (stdout and stderr kept apart, raw bytes).

tests/fixtures/README.md says how each run was made. The supervisor writes both streams of a phase into one
file; these tests parse each stream alone, and both glued together in the order a terminal could show them.
"""

from __future__ import annotations

import random

import pytest

from loratui.training.run import logparse
from loratui.training.run.logparse import LogParser, coalesce, parse_bytes

from trhelpers import FIXTURES

LOGS = FIXTURES / "musubi-logs"
STREAMS = sorted(LOGS.glob("*/*.out")) + sorted(LOGS.glob("*/*.err"))


def _of(events, cls):
    return [e for e in events if isinstance(e, cls)]


def _read(run: str, name: str) -> bytes:
    return (LOGS / run / name).read_bytes()


def test_fixtures_present():
    runs = {p.parent.name for p in STREAMS}
    assert {"steps", "edit", "resume", "zimage", "sample"} <= runs, runs
    for path in STREAMS:  # each stream has its partner
        partner = path.with_suffix(".err" if path.suffix == ".out" else ".out")
        assert partner.exists(), partner


@pytest.mark.parametrize("path", STREAMS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_any_chunking_gives_the_same_events(path):
    data = path.read_bytes()
    whole = coalesce(parse_bytes(data))
    for seed in range(3):
        rnd = random.Random(seed)
        parser, out, i = LogParser(), [], 0
        while i < len(data):
            size = rnd.choice((1, 2, 5, 64, 700))
            out += parser.feed(data[i:i + size])
            i += size
        assert coalesce(out + parser.close()) == whole, f"seed {seed}"


def test_stdout_summary_of_two_datasets():
    events = parse_bytes(_read("steps", "train.out"))
    summary = _of(events, logparse.Summary)[0].values
    assert summary == {"images_with_repeats": 30, "batches_per_epoch": 19, "epochs": 2, "batch_size": 2,
                       "batch_sizes": [2, 1], "gradient_accumulation_steps": 2, "total_steps": 20}
    assert [e.total for e in _of(events, logparse.TotalSteps)] == [20]
    assert [(e.epoch, e.epochs) for e in _of(events, logparse.Epoch)] == [(1, 2), (2, 2)]
    names = [e.path.rsplit("/", 1)[1] for e in _of(events, logparse.Checkpoint)]
    assert names == [f"lora-step{n:08d}.safetensors" for n in (5, 10, 15, 20)] + ["lora.safetensors"]
    assert _of(events, logparse.Phase)[0] == logparse.Phase("training")


def test_stderr_logging_and_steps_bar():
    events = coalesce(parse_bytes(_read("steps", "train.err")))
    progress = _of(events, logparse.Progress)
    steps = [p.step for p in progress]
    assert sorted(set(steps)) == list(range(0, 21)) and steps == sorted(steps)  # a log line may split a step
    assert all(p.total == 20 for p in progress)
    assert all(p.avr_loss is not None for p in progress[1:])  # only avr_loss in the postfix, from step 1 on
    assert progress[-1].avr_loss == pytest.approx(float(
        _read("steps", "train.err").rsplit(b"avr_loss=", 1)[1].split(b"]")[0]))
    assert logparse.Saved() in events  # "INFO:musubi_tuner.training.trainer_base:model saved."
    assert not _of(events, logparse.Error)  # WARNING:bitsandbytes... is no error
    # the model-loading bar is another bar, not training progress
    assert any(b.desc.startswith("Loading") for b in _of(events, logparse.BarProgress))


def test_logging_prefix_is_stripped_and_levels_kept():
    data = (b"INFO:musubi_tuner.training.trainer_base:model saved.\n"
            b"ERROR:__main__:something failed\n"
            b"WARNING:bitsandbytes.backends.cpu.ops:Failed to load CPU gemm_4bit_forward\n")
    events = parse_bytes(data)
    assert events[0] == logparse.Saved()
    assert _of(events, logparse.Error) == [logparse.Error("something failed")]


def test_cache_phases_count_items():
    latents = _of(parse_bytes(_read("steps", "cache_lat.out")), logparse.CachedItem)
    text = _of(parse_bytes(_read("steps", "cache_te.out")), logparse.CachedItem)
    assert len(latents) == len(text) == 11  # 8 + 3 images found; captions are checked later, by the trainer
    assert latents[0].path.endswith("/ds0/a0.png") and text[0].path.endswith(".png")
    assert not _of(parse_bytes(_read("steps", "cache_lat.err")), logparse.Error)
    # Z-Image logs its items at DEBUG: nothing to count, and nothing mistaken for progress
    zimage = parse_bytes(_read("zimage", "cache_lat.out") + _read("zimage", "cache_lat.err"))
    assert not _of(zimage, logparse.CachedItem) and not _of(zimage, logparse.Progress)


def test_edit_run_with_controls():
    events = parse_bytes(_read("edit", "train.out")) + coalesce(parse_bytes(_read("edit", "train.err")))
    assert [e.total for e in _of(events, logparse.TotalSteps)] == [4]
    assert _of(events, logparse.Progress)[-1].step == 4
    assert _of(events, logparse.Checkpoint)[-1].path.endswith("lora.safetensors")


def test_resumed_run_counts_from_zero():
    """musubi-tuner restarts its count after --resume: the parser reports what it prints (no offset)."""
    err = _read("resume", "train.err")
    events = coalesce(parse_bytes(err))
    assert not _of(events, logparse.Resumed)
    assert [p.step for p in _of(events, logparse.Progress)][:2] == [0, 1]
    assert b"resume training from local state" in err


def test_sample_generation_and_state_saving():
    err = coalesce(parse_bytes(_read("sample", "train.err")))
    # every 2 steps, and once more at the end of the epoch
    assert [e.step for e in _of(err, logparse.SampleStarted)] == [2, 4, 4]
    assert logparse.Phase("saving") in err  # "saving state at step N"
    out = parse_bytes(_read("sample", "train.out"))
    assert [e.total for e in _of(out, logparse.TotalSteps)] == [4]


def test_zimage_run():
    out = parse_bytes(_read("zimage", "train.out"))
    assert _of(out, logparse.Summary)[0].values["total_steps"] == 4
    err = coalesce(parse_bytes(_read("zimage", "train.err")))
    assert [p.step for p in _of(err, logparse.Progress)][-1] == 4


def test_streams_glued_in_one_file():
    """The supervisor's log holds both streams: stdout lines between stderr's bar redraws still parse."""
    out, err = _read("steps", "train.out"), _read("steps", "train.err")
    head, sep, tail = err.partition(b"\rsteps:")
    events = coalesce(parse_bytes(head + out + sep + tail))
    assert [e.total for e in _of(events, logparse.TotalSteps)] == [20]
    assert _of(events, logparse.Progress)[-1].step == 20
    assert len(_of(events, logparse.Checkpoint)) == 5


def test_loratui_job_log_all_three_phases():
    """The log of a real `loratui train start` job (both streams of all three phases in one file): the per-item
    cache lines follow tqdm's total-less bars on the same line (``3it [00:00, 3.30it/s]Saving cache ...``)."""
    data = (LOGS / "loratui-job" / "train.log").read_bytes()
    events = coalesce(parse_bytes(data))
    cached = _of(events, logparse.CachedItem)
    assert len(cached) == 2 * 9  # 9 captioned images, once per caching phase
    assert {c.path.rsplit("/", 1)[1] for c in cached} >= {"a0.png", "b2.png"}
    assert [e.total for e in _of(events, logparse.TotalSteps)] == [14]
    assert _of(events, logparse.Progress)[-1].step == 14
    assert len(_of(events, logparse.Checkpoint)) == 8  # every 2 steps and the final file
    assert logparse.Saved() in events and not _of(events, logparse.Error)
    for piece in (b"0it [00:00, ?it/s]", b"it/s]Saving cache"):
        assert piece in data


def test_counter_bar_without_total_is_dropped_whole():
    events = parse_bytes(b"\r0it [00:00, ?it/s]Saving cache for item /d/a b.png at /c/a.safetensors, x\n"
                         b"\r12it [01:02:03, 1.20s/it]\n7it [not a bar]\n")
    assert events == [logparse.CachedItem("/d/a b.png")]
