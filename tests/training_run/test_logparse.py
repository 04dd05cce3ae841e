"""The log parser over every recorded real sd-scripts log, in many chunkings."""

from __future__ import annotations

import random

import pytest

from loratui.training.run import logparse
from loratui.training.run.logparse import LogParser, coalesce, parse_bytes, pick_error

from trhelpers import FIXTURES

LOGS = sorted((FIXTURES / "kohya-logs").glob("*.log"))


def _events(data: bytes, sizes) -> list:
    """Events of `data` fed in pieces of `sizes`, coalesced (the parser coalesces only within one feed)."""
    parser = LogParser()
    out, i = [], 0
    for size in sizes:
        if i >= len(data):
            break
        out += parser.feed(data[i:i + size])
        i += size
    if i < len(data):
        out += parser.feed(data[i:])
    return coalesce(out + parser.close())


def test_fixtures_present():
    assert len(LOGS) >= 13, "the recorded sd-scripts logs are missing"


@pytest.mark.parametrize("path", LOGS, ids=lambda p: p.name)
def test_chunking_gives_identical_events(path):
    data = path.read_bytes()
    whole = coalesce(parse_bytes(data))
    assert _events(data, [1] * len(data)) == whole
    for seed in range(6):
        rnd = random.Random(seed)
        sizes = [rnd.choice((1, 2, 3, 7, 64, 333, 4096)) for _ in range(len(data))]
        assert _events(data, sizes) == whole, f"seed {seed}"
    # Split right before and after every carriage return and newline.
    cuts = sorted({i for i, b in enumerate(data) if b in (13, 10)} | {i + 1 for i, b in enumerate(data) if b in (13, 10)})
    sizes = [b - a for a, b in zip([0] + cuts, cuts + [len(data)])]
    assert _events(data, [s for s in sizes if s]) == whole


def _events_uncoalesced(data: bytes) -> list:
    parser = LogParser()
    out = []
    for piece in data.split(b"\r"):
        out += parser.feed(b"\r" + piece)
    return out + parser.close()


def _progress(events):
    return [e for e in events if isinstance(e, logparse.Progress)]


def test_plain_run_two_updates_per_step_last_wins():
    events = parse_bytes((FIXTURES / "kohya-logs" / "01_cli_python.stderr.log").read_bytes())
    progress = _progress(events)
    assert progress[0].step == 0 and progress[0].total == 4
    per_step = {}
    for ev in progress:
        if ev.avr_loss is not None:
            per_step[ev.step] = ev.avr_loss
    assert per_step == {1: 0.963, 2: 1.06, 3: 1.07, 4: 1.07}
    # Each step draws twice and the first still shows the previous step's loss: fed a redraw at a time (as
    # a live trainer writes them) both are reported, in one piece only the last of each step.
    redraws = _progress(_events_uncoalesced((FIXTURES / "kohya-logs" / "01_cli_python.stderr.log").read_bytes()))
    assert [e.avr_loss for e in redraws if e.step == 2] == [0.963, 1.06]
    assert [e.avr_loss for e in progress if e.step == 2] == [1.06]
    assert abs(progress[1].speed - 1 / 10.10) < 1e-9 and progress[1].eta_s == 30.0
    assert any(isinstance(e, logparse.Saved) for e in events)


def test_stdout_summary_epoch_checkpoint():
    events = parse_bytes((FIXTURES / "kohya-logs" / "01_cli_python.stdout.log").read_bytes())
    summary = next(e for e in events if isinstance(e, logparse.Summary))
    assert summary.values["total_steps"] == 4 and summary.values["batches_per_epoch"] == 40
    assert summary.values["images_with_repeats"] == 80
    assert logparse.Epoch(1, 1) in events
    assert logparse.Checkpoint("/workspace/out/cli/tinylora.safetensors") in events


def test_console_log_simple_plain_lines():
    out = parse_bytes((FIXTURES / "kohya-logs" / "06_cli_python_simplelog.stdout.log").read_bytes())
    assert logparse.Checkpoint("/workspace/out/cli_simple/tinylora.safetensors") in out
    assert logparse.Saved() in out
    err = parse_bytes((FIXTURES / "kohya-logs" / "06_cli_python_simplelog.stderr.log").read_bytes())
    assert [e.step for e in _progress(err)][-1] == 4
    bars = [e for e in err if isinstance(e, logparse.BarProgress)]
    assert logparse.BarProgress("read caption", 8, 8) in bars


def test_rich_record_glued_onto_bar_and_wrapped_state_path():
    events = parse_bytes((FIXTURES / "kohya-logs" / "08_save_state.stderr.log").read_bytes())
    saved = [e for e in events if isinstance(e, logparse.StateSaved)]
    assert saved == [logparse.StateSaved("/workspace/out/state/tinylora-state", 1, 4)]
    kinds = [e.kind for e in events]
    # "saving last state." arrives glued right after the 4/4 redraw and switches the phase to saving.
    assert kinds.index("phase") > kinds.index("progress")


def test_resumed_run_adds_the_saved_step():
    events = parse_bytes((FIXTURES / "kohya-logs" / "10_resume_skip.stderr.log").read_bytes())
    assert logparse.Resumed(4) in events
    steps = [(e.step, e.total) for e in _progress(events)]
    assert steps[0] == (4, 6) and steps[-1] == (6, 6)
    assert all(step >= 4 for step, _ in steps)


def test_sigint_keyboard_interrupt_is_the_trainer_error():
    events = parse_bytes((FIXTURES / "kohya-logs" / "12_sigint_accelerate_group.stderr.log").read_bytes())
    errors = [e for e in events if isinstance(e, logparse.Error)]
    assert [e.message for e in errors] == ["KeyboardInterrupt", "KeyboardInterrupt"]
    assert [e.wrapper for e in errors] == [False, True]
    assert _progress(events)[-1].step == 3


def test_accelerate_wrapper_traceback_is_not_the_message():
    events = parse_bytes((FIXTURES / "kohya-logs" / "21_fail_missing_model.stderr.log").read_bytes())
    error = pick_error(events)
    assert error.message.startswith("ValueError: The provided pretrained_model_name_or_path")
    assert any("load_target_model" in line for line in error.traceback)
    assert any(e.wrapper and "CalledProcessError" in e.message for e in events if isinstance(e, logparse.Error))


def test_combined_streams_order():
    events = parse_bytes((FIXTURES / "kohya-logs" / "16_toml_accelerate_combined_unbuffered.log").read_bytes())
    kinds = [e.kind for e in events if e.kind != "bar"]
    assert kinds.index("total_steps") < kinds.index("progress") < kinds.index("checkpoint") < kinds.index("saved")


def test_escape_codes_and_unterminated_garbage_are_harmless():
    data = b"\x1b[31mTraceback (most recent call last):\x1b[0m\n  File \"x.py\", line 1\nRuntimeError: boom\n"
    data += b"x" * (logparse.MAX_SEGMENT * 2 + 5)
    events = _events(data, [7] * (len(data) // 7 + 1))
    assert events == coalesce(parse_bytes(data))
    assert pick_error(events).message == "RuntimeError: boom"


def test_helpers():
    assert logparse.parse_duration("01:02:03") == 3723.0
    assert logparse.parse_duration("?") is None
    assert logparse.parse_rate("2.00s/it") == 0.5 and logparse.parse_rate("3.5it/s") == 3.5
    assert logparse.parse_rate("?it/s") is None
    assert logparse.parse_postfix("avr_loss=1.07, lr=1e-4") == {"avr_loss": "1.07", "lr": "1e-4"}


def test_overlong_line_cut_the_same_in_any_chunking():
    data = b"Traceback (most recent call last):\n  " + b"y" * (logparse.MAX_SEGMENT + 10) + b"\nValueError: v\n"
    whole = coalesce(parse_bytes(data))
    assert _events(data, [5] * (len(data) // 5 + 1)) == whole
    assert pick_error(whole) is not None


def test_no_module_shadows_the_standard_library():
    # schema_dump.py runs as a script from loratui/training: a module there named like a stdlib module
    # (queue, signal, ...) would be imported by the trainer instead of the real one.
    import sys
    from pathlib import Path

    import loratui.training

    names = {p.stem for p in Path(loratui.training.__file__).parent.glob("*.py")}
    assert not names & set(sys.stdlib_module_names)


def _rich(width: int, message_lines: list[str], path: str, stamp: str = " " * 19) -> bytes:
    """A rich log record as RichHandler draws it at `width` columns (message column from 29, path at the end)."""
    column = width - 29 - 1 - len(path)
    first = f"{stamp} INFO     {message_lines[0]:<{column}} {path}"
    rest = [" " * 29 + f"{line:<{column}}" + " " * (1 + len(path)) for line in message_lines[1:]]
    return ("\n".join([first, *rest]) + "\n").encode()


def test_rich_records_at_any_console_width():
    # COLUMNS=120 in the trainer's environment: the record is as wide as the console, words move, long ones fold
    state = "/home/user/a/rather/long/folder/for/lora/outputs/of/this/user/mychar-step00000400-state"
    column = 120 - 29 - 1 - len("train_network.py:946")
    word = state + "/train_state.json"  # longer than the column: it starts a line and is folded
    record = _rich(120, ["save train state to", word[:column], word[column:] + " at epoch 3 step 400"],
                   "train_network.py:946", stamp="2026-11-21 05:32:01")
    events = parse_bytes(record + b"plain line\n")
    assert logparse.StateSaved(state, 3, 400) in events
    narrow = _rich(80, ["skipping 400 steps /", "400ステップをスキップします"], "train_network.py:1265")
    assert logparse.Resumed(400) in parse_bytes(narrow)
