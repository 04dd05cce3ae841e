"""Benchmark: the training log view and the supervisor's overhead.

1. Log view ingest: recorded real sd-scripts output (tqdm redraws, wrapped rich records) is fed to a LogView
   from a thread, in a headless Textual app, while a key is pressed every 50 ms: once as fast as the view takes
   it (lines folded per second), once paced at 20,000 lines/s for 10 s. Reports the time from each key event
   reaching the app to its action running.
2. Supervisor overhead: a real detached supervisor follows a trainer stand-in that uses tqdm exactly as
   sd-scripts does (``desc="steps"``, ``update(1)`` then ``set_postfix(avr_loss=...)``, a log line per
   epoch) at a given steps/s; reports the supervisor's CPU time as a share of one core.
3. Flood (``--flood``): a trainer writes 1,000,000 ``\r`` redraws of a tqdm ``steps`` bar (10,000 steps, 100
   redraws each, with ``avr_loss``) and then a 50 MB line without a newline, as fast as it can. Measured, each
   in a fresh process so that peak memory is its own: a real detached supervisor following it (peak RSS from
   ``VmHWM``, CPU time, time from the trainer's exit to the job's end) and the monitor's LogView catching up on
   the finished file as the monitor's tail thread feeds it (peak RSS, time until the view shows the end, key
   press latency meanwhile). ``--code DIR`` runs it against another checkout's ``loratui`` (a before/after).

    PYTHONPATH=. python bench/log.py [--lines 1000000] [--rate 20000] [--steps-per-s 10] [--seconds 20]
    PYTHONPATH=. python bench/log.py --flood [--code DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if "--code" in sys.argv:  # another checkout's loratui (a before/after comparison); the fixtures stay ours
    sys.path.insert(0, str(Path(sys.argv[sys.argv.index("--code") + 1]).resolve()))
else:
    sys.path.insert(0, str(REPO))
FIXTURES = REPO / "tests" / "fixtures" / "kohya-logs"


def corpus(lines: int) -> bytes:
    """At least `lines` newline-terminated lines of real recorded trainer output."""
    parts = [p.read_bytes() for p in sorted(FIXTURES.glob("*.log"))]
    blob = b"".join(parts)
    count = blob.count(b"\n")
    return blob * (lines // count + 1)


def host_app():
    """A headless app holding one LogView; key `x` records when its action ran (``app.handled``)."""
    from textual.app import App, ComposeResult
    from textual.binding import Binding

    from loratui.tui.widgets.logview import LogView

    class Host(App):
        BINDINGS = [Binding("x", "mark", "Mark", id="bench.mark")]

        def __init__(self) -> None:
            super().__init__()
            self.handled: list[float] = []

        def compose(self) -> ComposeResult:
            yield LogView(max_lines=10000)

        def action_mark(self) -> None:
            self.handled.append(time.perf_counter())

    return Host()


async def bench_logview(total_lines: int, rate: float | None = None) -> dict:
    """Feed `total_lines` of real output as fast as possible (rate None) or paced at `rate` lines/s."""
    from textual import events

    from loratui.tui.widgets.logview import LogView

    data = corpus(total_lines)
    expected = data.count(b"\n")
    app = host_app()
    latencies: list[float] = []
    async with app.run_test(size=(160, 48)) as pilot:
        log = app.query_one(LogView)
        done = threading.Event()

        def feeder() -> None:
            if rate is None:
                chunk = 64 * 1024
                for i in range(0, len(data), chunk):
                    log.feed(data[i:i + chunk])
                    time.sleep(0.001)
            else:
                lines = data.splitlines(keepends=True)
                per_tick = max(1, int(rate / 100))  # every 10 ms, like a trainer's pipe delivers it
                t0 = time.perf_counter()
                for tick, i in enumerate(range(0, len(lines), per_tick)):
                    log.feed(b"".join(lines[i:i + per_tick]))
                    delay = t0 + (tick + 1) / 100 - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
            done.set()

        started = time.perf_counter()
        threading.Thread(target=feeder, daemon=True).start()
        while log.lines_in < expected:
            before = len(app.handled)
            t0 = time.perf_counter()
            app.post_message(events.Key("x", "x"))  # what the terminal driver does for a key press
            while len(app.handled) == before:
                await asyncio.sleep(0.001)
            latencies.append(app.handled[-1] - t0)
            await asyncio.sleep(0.05)
        await pilot.pause()
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "lines": expected,
        "seconds": round(elapsed, 2),
        "lines_per_s": round(expected / elapsed),
        "key_presses": len(latencies),
        "key_ms_median": round(statistics.median(latencies) * 1000, 1),
        "key_ms_p95": round(latencies[max(0, int(len(latencies) * 0.95) - 1)] * 1000, 1),
        "key_ms_max": round(latencies[-1] * 1000, 1),
    }


TRAINER = r'''
import sys, time, random
from tqdm import tqdm
steps, rate = int(sys.argv[1]), float(sys.argv[2])
print("running training / 学習開始", flush=True)
print(f"  total optimization steps / 学習ステップ数: {steps}", flush=True)
bar = tqdm(range(steps), smoothing=0, desc="steps")
loss = 1.0
for step in range(steps):
    if step % 100 == 0:
        print(f"\nepoch {step // 100 + 1}/{steps // 100 + 1}\n", flush=True)
    time.sleep(1 / rate)
    bar.update(1)
    loss = loss * 0.99 + random.random() * 0.01
    bar.set_postfix(avr_loss=loss)
'''


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", "rb") as handle:
        fields = handle.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_supervisor(steps_per_s: float, seconds: float) -> dict:
    from loratui.config import Context
    from loratui.store import Store
    from loratui.training.run.launch import start_training
    from loratui.training.plan import TrainPhase, TrainPlan

    with tempfile.TemporaryDirectory(prefix="loratui-bench-") as tmp:
        home = Path(tmp) / "home"
        ctx = Context.load(home)
        script = Path(tmp) / "trainer.py"
        script.write_text(TRAINER, encoding="utf-8")
        steps = int(steps_per_s * seconds)
        plan = TrainPlan("kohya", "sd15", Path(tmp) / "work",
                         phases=[TrainPhase("train", [sys.executable, str(script), str(steps), str(steps_per_s)], tmp)],
                         output_dir=str(Path(tmp) / "out"), output_name="bench")

        async def start() -> int:
            async with Store.open(ctx.paths.db) as store:
                return await start_training(store, ctx, plan)

        job_id = asyncio.run(start())
        import sqlite3

        conn = sqlite3.connect(str(ctx.paths.db))
        pid = None
        while pid is None:
            pid = conn.execute("SELECT supervisor_pid FROM jobs WHERE id = ?", (job_id,)).fetchone()[0]
            time.sleep(0.05)
        time.sleep(2.0)  # past interpreter start-up and imports
        cpu0, wall0 = cpu_seconds(pid), time.perf_counter()
        time.sleep(seconds * 0.7)
        cpu1, wall1 = cpu_seconds(pid), time.perf_counter()
        while conn.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()[0] not in (
                "completed", "failed", "cancelled", "interrupted"):
            time.sleep(0.2)
        row = conn.execute("SELECT status, step, total_steps FROM jobs WHERE id = ?", (job_id,)).fetchone()
        metrics = conn.execute("SELECT COUNT(*) FROM job_metrics WHERE job_id = ?", (job_id,)).fetchone()[0]
        conn.close()
    return {"steps_per_s": steps_per_s, "status": row[0], "step": row[1], "total_steps": row[2],
            "metric_rows": metrics, "supervisor_cpu_share_of_one_core_pct": round((cpu1 - cpu0) / (wall1 - wall0) * 100, 2)}


FLOOD_REDRAWS = 1_000_000
FLOOD_STEPS = 10_000
FLOOD_LINE_BYTES = 50 * 1000 * 1000


def write_flood(path: Path) -> int:
    """Write the flood (see the module docstring) to `path` in pieces; returns its size in bytes."""
    per_step = FLOOD_REDRAWS // FLOOD_STEPS
    with open(path, "wb") as out:
        out.write(b"running training / \xe5\xad\xa6\xe7\xbf\x92\xe9\x96\x8b\xe5\xa7\x8b\n")
        out.write(f"  total optimization steps / steps: {FLOOD_STEPS}\n".encode())
        for step in range(1, FLOOD_STEPS + 1):
            pct = step * 100 // FLOOD_STEPS
            bar = ("\u2588" * (pct // 10)).ljust(10)
            redraws = "".join(
                f"\rsteps: {pct:3d}%|{bar}| {step}/{FLOOD_STEPS} [00:{i % 60:02d}<01:00, 9.99it/s, "
                f"avr_loss={0.5 + (step % 97) / 1000 + i / 1e6:.4f}]" for i in range(per_step))
            out.write(redraws.encode())
        line = b"x" * (1 << 20)
        for _ in range(FLOOD_LINE_BYTES // len(line)):
            out.write(line)
        out.write(b"x" * (FLOOD_LINE_BYTES % len(line)))
    return path.stat().st_size


def _status_kb(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def bench_flood_logview(flood: Path) -> dict:
    """The monitor's LogView catching up on the flood file (run in a fresh process: peak RSS is its own)."""
    from textual import events

    from loratui.tui.widgets.logview import LogView

    async def run() -> dict:
        app = host_app()
        latencies: list[float] = []
        async with app.run_test(size=(160, 48)) as pilot:
            log = app.query_one(LogView)
            await pilot.pause(0.2)
            rss_before = _status_kb(os.getpid(), "VmRSS")
            cpu0 = time.process_time()
            fed = threading.Event()

            def tail() -> None:  # what MonitorScreen._tail does with a finished log file
                with open(flood, "rb") as handle:
                    while True:
                        data = handle.read(1 << 20)
                        if not data:
                            break
                        log.feed(data)
                fed.set()

            started = time.perf_counter()
            threading.Thread(target=tail, daemon=True).start()
            while True:
                # the flood ends with the 50 MB line, glued to the last redraw (no \r or \n between)
                caught_up = (fed.is_set() and not getattr(log, "_pending", None)
                             and log.current.endswith("x" * 100))
                if caught_up:
                    break
                before = len(app.handled)
                t0 = time.perf_counter()
                app.post_message(events.Key("x", "x"))
                while len(app.handled) == before:
                    await asyncio.sleep(0.001)
                latencies.append(app.handled[-1] - t0)
                await asyncio.sleep(0.05)
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu0
            shown = log.line_count
        latencies.sort()
        return {"catch_up_s": round(elapsed, 2), "cpu_s": round(cpu, 2), "lines_shown": shown,
                "rss_before_mb": round(rss_before / 1024), "peak_rss_mb": round(_status_kb(os.getpid(), "VmHWM") / 1024),
                "key_ms_median": round(statistics.median(latencies) * 1000, 1),
                "key_ms_max": round(latencies[-1] * 1000, 1), "key_presses": len(latencies)}

    return asyncio.run(run())


def bench_flood_supervisor(flood: Path) -> dict:
    """A real detached supervisor following a trainer that writes the flood as fast as it can."""
    import sqlite3

    from loratui.config import Context
    from loratui.store import Store
    from loratui.training.run.launch import start_training
    from loratui.training.plan import TrainPhase, TrainPlan

    with tempfile.TemporaryDirectory(prefix="loratui-bench-") as tmp:
        home = Path(tmp) / "home"
        ctx = Context.load(home)
        cat = ("import shutil, sys\nwith open(sys.argv[1], 'rb') as f:\n"
               "    shutil.copyfileobj(f, sys.stdout.buffer, 1 << 20)\n")
        plan = TrainPlan("kohya", "sd15", Path(tmp) / "work",
                         phases=[TrainPhase("train", [sys.executable, "-c", cat, str(flood)], tmp)],
                         output_dir=str(Path(tmp) / "out"), output_name="bench")

        async def start() -> int:
            async with Store.open(ctx.paths.db) as store:
                return await start_training(store, ctx, plan)

        started = time.perf_counter()
        job_id = asyncio.run(start())
        conn = sqlite3.connect(str(ctx.paths.db), timeout=30)
        pid = trainer = None
        while pid is None or trainer is None:
            pid, trainer = conn.execute("SELECT supervisor_pid, pid FROM jobs WHERE id = ?", (job_id,)).fetchone()
            time.sleep(0.01)
        peak = cpu = 0.0
        trainer_done = None
        while True:
            status = conn.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()[0]
            if os.path.exists(f"/proc/{pid}"):
                peak = max(peak, _status_kb(pid, "VmHWM"))
                try:
                    cpu = cpu_seconds(pid)
                except OSError:
                    pass
            if trainer_done is None and not os.path.exists(f"/proc/{trainer}"):
                trainer_done = time.perf_counter()
            if status in ("completed", "failed", "cancelled", "interrupted"):
                break
            time.sleep(0.05)
        ended = time.perf_counter()
        step, metrics = conn.execute("SELECT step, (SELECT COUNT(*) FROM job_metrics WHERE job_id = ?) FROM jobs "
                                     "WHERE id = ?", (job_id, job_id)).fetchone()
        conn.close()
    return {"status": status, "step": step, "metric_rows": metrics, "peak_rss_mb": round(peak / 1024),
            "cpu_s": round(cpu, 2), "trainer_s": round((trainer_done or ended) - started, 2),
            "catch_up_after_trainer_exit_s": round(ended - (trainer_done or ended), 2),
            "total_s": round(ended - started, 2)}


def run_flood(code: str | None) -> None:
    """Write the flood once, then measure the supervisor and the LogView each in a fresh process."""
    import json
    import subprocess

    with tempfile.TemporaryDirectory(prefix="loratui-flood-") as tmp:
        flood = Path(tmp) / "flood.log"
        size = write_flood(flood)
        print(f"flood: {FLOOD_REDRAWS:,} redraws + a {FLOOD_LINE_BYTES // 1000 // 1000} MB line, "
              f"{size / 1e6:.0f} MB", flush=True)
        for what in ("supervisor", "logview"):
            argv = [sys.executable, __file__, "--flood-part", what, str(flood)] + (["--code", code] if code else [])
            out = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
            result = json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else out.stderr[-2000:]
            print(f"flood, {what}:", result, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=20_000.0, help="lines/s of the paced run (10 s long)")
    parser.add_argument("--steps-per-s", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--skip-supervisor", action="store_true")
    parser.add_argument("--flood", action="store_true", help="only the flood scenario (3.)")
    parser.add_argument("--flood-part", nargs=2, metavar=("WHAT", "FILE"), help=argparse.SUPPRESS)
    parser.add_argument("--code", help="import loratui from this checkout instead (before/after)")
    args = parser.parse_args()
    if args.flood_part:
        import json

        what, path = args.flood_part
        bench = bench_flood_supervisor if what == "supervisor" else bench_flood_logview
        print(json.dumps(bench(Path(path))))
        return
    if args.flood:
        run_flood(args.code)
        print(f"machine: {os.cpu_count()} cores (shared with other work), load {os.getloadavg()[0]:.1f}")
        return
    print("log view, flood:", asyncio.run(bench_logview(args.lines)), flush=True)
    print(f"log view, paced at {args.rate:.0f} lines/s:", asyncio.run(bench_logview(int(args.rate * 10), args.rate)),
          flush=True)
    if not args.skip_supervisor:
        print("supervisor:", bench_supervisor(args.steps_per_s, args.seconds), flush=True)
    print(f"machine: {os.cpu_count()} cores (shared with other work), load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
