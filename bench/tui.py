"""Benchmark: the terminal workspace with a 50,000-image dataset, measured from inside the app.

    python bench/tui.py [--count 50000] [--moves 300] [--preview-samples 40] [--previews 5000] [--dir .bench/tui]
                        [--no-thumbnails]

The dataset rows are inserted straight into the store (scanning is bench/scan.py's subject); the files are
hard links to 16 real images (1024x1536 / 1536x1024 / 1024x1024 photo-like JPEGs and PNGs), each with a caption
file, so previews decode real pixels and captions load from disk. Each image's preview thumbnail is stored as
the scan stores it (made by the scan's `probe_image` from the image's source); `--no-thumbnails` makes the
preview ignore them and decode the files. The app runs through the real `run_app` (real
Linux driver, truecolor default, stderr redirect) in a pseudo-terminal of 160x48 whose output a thread drains.

Measured inside the app (no `pilot.press`, which waits for idle):
- start to first paint: from spawning the process (CLOCK_MONOTONIC, shared with the child) to the end of the first
  screen write that shows image rows (the first page; `all_rows_paint_s`: once all 50,000 are in the list);
- cursor move: from posting a key event (as the driver does for a key press) to the end of the screen write that
  shows the moved cursor, with keys at 30 per second (key-repeat speed);
- preview: from the key that lands on a new image (after the cursor rested) to the end of the screen write that
  shows its preview: `preview_next` steps to the next image (decoded ahead in the background while the cursor
  rested, as when going through a dataset in order), `preview_jump` pages down 45 rows (a cold decode);
- RSS: VmRSS of the app process after going through N previews (each decoded: the debounce is set to 0 for that
  phase so no image is skipped), and VmHWM (peak).
Each preview sample is also printed: "WALL ms EXT ready R main CPU decode CPU strips CPU | marks", with marks in ms
after the key: dN/DN decode start/end, sN/SN strips start/end (in the preview thread), FN frames written, LN the
caption loaded; and the GC passes during the preview phase (total ms, max ms, count per generation).
Targets (issue #3): first paint < 1.0 s; move median < 16 ms and max < 50 ms; preview < 60 ms; RSS < 250 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

T_CHILD_START = time.perf_counter()
REPO = Path(__file__).resolve().parents[1]
SOURCES = 16


def _make_source(index: int, folder: Path) -> Path:
    import numpy as np
    from PIL import Image, ImageFilter

    rng = np.random.default_rng(index)
    width, height = [(1024, 1536), (1536, 1024), (1024, 1024)][index % 3]
    small = rng.integers(0, 255, (height // 32 + 1, width // 32 + 1, 3), dtype="uint8")
    image = Image.fromarray(small).resize((width, height), Image.BICUBIC).filter(ImageFilter.GaussianBlur(2))
    noise = rng.integers(-10, 10, (height, width, 3))
    image = Image.fromarray(np.clip(np.asarray(image, dtype="int16") + noise, 0, 255).astype("uint8"))
    path = folder / (f"source_{index:02d}.png" if index % 4 == 3 else f"source_{index:02d}.jpg")
    image.save(path, **({"quality": 90} if path.suffix == ".jpg" else {}))
    return path


def build_home(root: Path, count: int) -> tuple[Path, str]:
    """A loratui home with a `bench` dataset of `count` images (reused when already built)."""
    import random
    import sqlite3

    from loratui.store import connect

    home = root / f"home-{count}"
    marker = home / ".built"
    if marker.exists():
        _ensure_thumbnails(home, sorted((root / "sources").glob("source_*")))
        return home, "bench"
    import shutil

    shutil.rmtree(home, ignore_errors=True)
    data = home / "bench-data"
    sources_dir = root / "sources"
    sources_dir.mkdir(parents=True, exist_ok=True)
    sources = sorted(sources_dir.glob("source_*"))
    if len(sources) != SOURCES:
        sources = [_make_source(i, sources_dir) for i in range(SOURCES)]
    rng = random.Random(3)
    vocabulary = [f"tag_{i}" for i in range(2000)]
    weights = [1 / (i + 1) for i in range(len(vocabulary))]
    subsets = ["10_subject", "5_style", "1_reg"]
    for subset in subsets:
        (data / subset).mkdir(parents=True, exist_ok=True)
    conn = connect(home / "loratui.db")
    now = time.time()
    conn.execute("BEGIN")
    ws = conn.execute("INSERT INTO workspaces (name, created_at) VALUES ('default', ?)", (now,)).lastrowid
    ds = conn.execute("INSERT INTO datasets (workspace_id, name, path, caption_ext, created_at, scanned_at) "
                      "VALUES (?, 'bench', ?, '.txt', ?, ?)", (ws, str(data.resolve()), now, now)).lastrowid
    subset_ids = {}
    for subset in subsets:
        repeats, token = subset.split("_", 1)
        subset_ids[subset] = conn.execute(
            "INSERT INTO subsets (dataset_id, rel_path, repeats, class_tokens) VALUES (?, ?, ?, ?)",
            (ds, subset, int(repeats), token)).lastrowid
    from loratui.datasets.target import bucket_labeler

    default_bucket = bucket_labeler(None)  # the dataset has no target: sd-scripts' default rules at 1024

    for index in range(count):
        source = sources[index % SOURCES]
        subset = subsets[index % 3]
        rel = f"{subset}/img_{index:05d}{source.suffix}"
        target = data / rel
        os.link(source, target)
        tags = list(dict.fromkeys(rng.choices(vocabulary, weights, k=rng.randint(6, 18))))
        caption = ", ".join(tags)
        caption_path = target.with_suffix(".txt")
        caption_path.write_text(caption, encoding="utf-8")
        st, cst = target.stat(), caption_path.stat()
        width, height = [(1024, 1536), (1536, 1024), (1024, 1024)][(index % SOURCES) % 3]
        image_id = conn.execute(
            "INSERT INTO images (dataset_id, subset_id, rel_path, size, mtime_ns, sha256, width, height, format, "
            "mode, has_alpha, orientation, frames, bucket, status, caption, caption_mtime_ns, caption_size, "
            "caption_encoding, tag_count, scanned_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'RGB', 0, 1, 1, ?, 'ok', "
            "?, ?, ?, 'utf-8', ?, ?)",
            (ds, subset_ids[subset], rel, st.st_size, st.st_mtime_ns, f"{index:064x}", width, height,
             "PNG" if source.suffix == ".png" else "JPEG", default_bucket(width, height, 1), caption,
             cst.st_mtime_ns, cst.st_size, len(tags), now)).lastrowid
        conn.executemany("INSERT INTO image_tags (image_id, position, tag) VALUES (?, ?, ?)",
                         [(image_id, position, tag) for position, tag in enumerate(tags)])
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()
    _ensure_thumbnails(home, sources)
    marker.write_text("ok")
    del sqlite3
    return home, "bench"


def _ensure_thumbnails(home: Path, sources: list[Path]) -> None:
    """Store each image's preview thumbnail, as `dataset add` does: made by the scan's own probe from the image's
    source file (the dataset's files are hard links to the sources, so size and mtime match)."""
    from loratui.datasets.probe import probe_image
    from loratui.store import connect

    conn = connect(home / "loratui.db")
    try:
        if conn.execute("SELECT EXISTS (SELECT 1 FROM thumbnails)").fetchone()[0]:
            return
        probed = {}
        for source in sources:
            st = source.stat()
            probed[source.suffix, source.stat().st_ino] = probe_image(str(source), source.name, st.st_size,
                                                                      st.st_mtime_ns)
        rows = conn.execute("SELECT d.path, i.id, i.rel_path FROM images i JOIN datasets d ON d.id = i.dataset_id")
        values = []
        for root, image_id, rel_path in rows.fetchall():
            path = Path(root) / rel_path
            result = probed[path.suffix, path.stat().st_ino]
            values.append((image_id, result["size"], result["mtime_ns"], result["thumb_width"],
                           result["thumb_height"], result["thumbnail"]))
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO thumbnails (image_id, source_size, source_mtime_ns, width, height, data) "
                         "VALUES (?, ?, ?, ?, ?, ?)", values)
        conn.execute("COMMIT")
    finally:
        conn.close()


# -- the child: runs the real app inside the pseudo-terminal ----------------------------------------------------

def child(args) -> None:
    import asyncio
    import statistics

    import loratui.tui.app as app_module
    import loratui.tui.preview_render as preview_render
    import loratui.tui.widgets.preview as preview_module
    from loratui.config import Context
    from loratui.tui.widgets.preview import ImagePreview

    results: dict = {"imports_s": time.perf_counter() - T_CHILD_START}
    spawned = args.spawned
    startup_profiler = None
    if os.environ.get("BENCH_PROFILE") and os.environ.get("BENCH_PROFILE_PHASE") == "startup":
        import cProfile

        startup_profiler = cProfile.Profile()
        startup_profiler.enable()

    class BenchApp(app_module.LoratuiApp):
        def __init__(self, *a, **kw) -> None:
            super().__init__(*a, **kw)
            self.paint_times: list[float] = []
            self.paint_cpu: dict[float, float] = {}
            self.preview_painted_at = 0.0
            self.painted = asyncio.Event()
            self.preview_done: asyncio.Event | None = None
            self._started = False

        def _display(self, screen, renderable) -> None:
            super()._display(screen, renderable)
            if renderable is not None:
                now = time.perf_counter()
                if "first_rows_paint_s" not in results and self.main_screen is not None:
                    try:
                        if self.main_screen.image_list.count:
                            results["first_rows_paint_s"] = now - spawned
                            if startup_profiler is not None:
                                startup_profiler.disable()
                                startup_profiler.dump_stats(os.environ["BENCH_PROFILE"])
                    except Exception:  # not composed yet
                        pass
                self.paint_times.append(now)
                self.paint_cpu[now] = time.thread_time()
                self.painted.set()

        def on_image_preview_painted(self, event: ImagePreview.Painted) -> None:
            if self.preview_done is not None:
                self.preview_done.set()

        async def on_mount(self) -> None:
            await super().on_mount()
            self.run_worker(self._when_opened(), group="bench")

        async def _when_opened(self) -> None:
            await self.main_screen.opened.wait()
            if self._started:
                return
            self._started = True
            opened = time.perf_counter()
            results["rows"] = len(self.main_screen.image_list.rows)

            def first_paint() -> None:
                after = [t for t in self.paint_times if t >= opened]
                results["all_rows_paint_s"] = (after[0] if after else time.perf_counter()) - spawned
                results["first_any_paint_s"] = self.paint_times[0] - spawned if self.paint_times else None

            self.call_after_refresh(first_paint)
            self.run_worker(self.scenario(), group="bench")

        async def next_paint_after(self, start: float, timeout: float = 2.0) -> float:
            deadline = time.perf_counter() + timeout
            while time.perf_counter() < deadline:
                later = [t for t in self.paint_times[-8:] if t > start]
                if later:
                    return later[0]
                self.painted.clear()
                try:
                    await asyncio.wait_for(self.painted.wait(), timeout=0.5)
                except asyncio.TimeoutError:
                    pass
            raise RuntimeError("no paint")

        async def scenario(self) -> None:
            try:
                await self._scenario()
            except Exception as exc:  # report, never hang the pty
                results["error"] = repr(exc)
            self.exit(0)

        async def _scenario(self) -> None:
            main = self.main_screen
            images = main.image_list
            await asyncio.sleep(1.0)  # let the tag vocabulary load and the first preview settle
            moved_at: list[float] = []
            moved = asyncio.Event()
            original_move_to = images.move_to

            def move_to(index: int, **kw) -> None:
                moved_at.append(time.perf_counter())
                original_move_to(index, **kw)
                moved.set()

            async def wait_moved(start: float) -> float:
                while not moved_at or moved_at[-1] < start:
                    moved.clear()
                    await moved.wait()
                return moved_at[-1]

            images.move_to = move_to
            preview = main.query_one(ImagePreview)
            if args.no_thumbnails:
                preview.thumbnails = None  # as for a dataset indexed before thumbnails, or a very large preview
            results["thumbnails"] = not args.no_thumbnails
            original_set_preview = preview._set_preview

            def set_preview(key, value, cached) -> None:
                if key == preview._wanted:
                    self.preview_painted_at = time.perf_counter()
                original_set_preview(key, value, cached)

            preview._set_preview = set_preview
            profiler = None
            if os.environ.get("BENCH_PROFILE") and os.environ.get("BENCH_PROFILE_PHASE", "moves") == "moves":
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()
            # 1. Cursor moves at key-repeat speed.
            latencies, cpu = [], []
            results["loadavg_before"] = os.getloadavg()
            for _ in range(args.moves):
                start = time.perf_counter()
                cpu_start = time.thread_time()
                self.simulate_key("j")
                painted = await self.next_paint_after(await wait_moved(start))
                latencies.append((painted - start) * 1000)
                cpu.append((self.paint_cpu.get(painted, cpu_start) - cpu_start) * 1000)
                await asyncio.sleep(max(0.0, 1 / 30 - (time.perf_counter() - start)))
            results["move_ms"] = {"median": statistics.median(latencies), "max": max(latencies),
                                  "p95": sorted(latencies)[int(len(latencies) * 0.95) - 1], "n": len(latencies)}
            results["move_cpu_ms"] = {"median": statistics.median(cpu), "max": max(cpu)}
            # 1b. Single presses after a rest: the list repaint, then the caption/tags shown for the new image.
            loaded_at: list[float] = []
            original_load_image = main.load_image

            async def load_image(image_id: int) -> None:
                await original_load_image(image_id)
                loaded_at.append(time.perf_counter())

            main.load_image = load_image
            single, caption = [], []
            for _ in range(args.single):
                await asyncio.sleep(0.25)
                start = time.perf_counter()
                self.simulate_key("j")
                single.append((await self.next_paint_after(await wait_moved(start)) - start) * 1000)
                while not loaded_at or loaded_at[-1] < start:
                    await asyncio.sleep(0.002)
                caption.append((await self.next_paint_after(loaded_at[-1]) - start) * 1000)
            results["single_move_ms"] = {"median": statistics.median(single), "max": max(single), "n": len(single)}
            results["single_caption_ms"] = {"median": statistics.median(caption), "max": max(caption)}
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(os.environ["BENCH_PROFILE"])
            # 2. Preview of a new image after the cursor rested.
            stage_log: list[tuple[str, float, float]] = []  # (stage, finished at, thread CPU seconds)
            original_decode, original_build = preview_render.decode_pixels, preview_render.preview_from_pixels

            def timed(stage: str, fn):
                def wrapper(*a):
                    stage_log.append((stage + "_start", time.perf_counter(), 0.0))
                    started_cpu = time.thread_time()
                    try:
                        return fn(*a)
                    finally:
                        stage_log.append((stage, time.perf_counter(), time.thread_time() - started_cpu))
                return wrapper

            import gc
            gc_log: list[tuple[int, float]] = []
            gc_started = [0.0]

            def on_gc(phase: str, info: dict) -> None:
                if phase == "start":
                    gc_started[0] = time.perf_counter()
                else:
                    gc_log.append((info["generation"], (time.perf_counter() - gc_started[0]) * 1000))

            gc.callbacks.append(on_gc)
            preview_render.decode_pixels = timed("decode", original_decode)
            preview_render.preview_from_pixels = timed("strips", original_build)
            if os.environ.get("BENCH_PROFILE") and os.environ.get("BENCH_PROFILE_PHASE") == "preview":
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()

            async def preview_after(key: str) -> tuple[float, dict[str, float]]:
                await asyncio.sleep(0.3)  # the cursor rests; background prefetching finishes
                self.preview_done = asyncio.Event()
                start = time.perf_counter()
                cpu_start = time.thread_time()
                self.simulate_key(key)
                await asyncio.wait_for(self.preview_done.wait(), 5)
                painted = await self.next_paint_after(self.preview_painted_at)
                while not loaded_at or loaded_at[-1] < start:
                    await asyncio.sleep(0.002)
                caption_ms = (await self.next_paint_after(loaded_at[-1]) - start) * 1000
                stages = {"main": (self.paint_cpu.get(painted, cpu_start) - cpu_start) * 1000, "decode": 0.0,
                          "strips": 0.0}
                marks = []
                for stage, at, cpu in stage_log:
                    if start <= at <= painted:
                        if stage.endswith("_start"):
                            marks.append(f"{stage[0]}{(at - start) * 1000:.0f}")
                        else:
                            stages[stage] += cpu * 1000
                            marks.append(f"{stage[0].upper()}{(at - start) * 1000:.0f}")
                marks += [f"F{(t - start) * 1000:.0f}" for t in self.paint_times[-12:] if start < t <= painted]
                marks += [f"L{(t - start) * 1000:.0f}" for t in loaded_at[-3:] if start < t <= painted]
                stages["marks"] = " ".join(marks)
                stage_log.clear()
                stages["ready"] = (self.preview_painted_at - start) * 1000
                stages["caption"] = caption_ms
                stages["ext"] = Path(preview._wanted[0]).suffix if preview._wanted else ""
                return (painted - start) * 1000, stages

            for name, key in (("preview_next", "j"), ("preview_jump", "pagedown")):
                samples = [await preview_after(key) for _ in range(args.preview_samples)]
                wall = [w for w, _ in samples]
                results[f"{name}_ms"] = {"median": statistics.median(wall), "max": max(wall), "n": len(wall)}
                captions = [st["caption"] for _, st in samples]
                results[f"{name}_caption_ms"] = {"median": statistics.median(captions), "max": max(captions)}
                results[f"{name}_samples"] = [
                    f"{w:.0f} ms {st['ext']} ready {st['ready']:.0f} main {st['main']:.0f} "
                    f"decode {st['decode']:.0f} strips {st['strips']:.0f} | {st['marks']}" for w, st in samples]
                results[f"{name}_cpu_ms"] = {
                    stage: statistics.median(st[stage] for _, st in samples) for stage in ("main", "decode", "strips")
                }
            preview_render.decode_pixels, preview_render.preview_from_pixels = original_decode, original_build
            main.load_image = original_load_image
            gc.callbacks.remove(on_gc)
            from collections import Counter
            objs = gc.get_objects()
            results["gc_objects"] = [len(objs), gc.get_freeze_count(), gc.get_threshold(), gc.get_count(),
                                     Counter(type(o).__name__ for o in objs).most_common(15)]
            del objs
            results["preview_gc"] = {f"gen{g}": [round(sum(ms for gen, ms in gc_log if gen == g), 1),
                                                 round(max([ms for gen, ms in gc_log if gen == g] or [0]), 1),
                                                 sum(1 for gen, _ in gc_log if gen == g)] for g in (0, 1, 2)}
            if profiler is not None and os.environ.get("BENCH_PROFILE_PHASE") == "preview":
                profiler.disable()
                profiler.dump_stats(os.environ["BENCH_PROFILE"])
            # 3. Memory after going through many previews, every one decoded.
            preview_module.SETTLE_S = 0.0
            started = time.perf_counter()
            for _ in range(args.previews):
                self.preview_done = asyncio.Event()
                images.move_by(1)
                await asyncio.wait_for(self.preview_done.wait(), 5)
            results["previews_walked"] = args.previews
            results["previews_s"] = time.perf_counter() - started
            status = Path("/proc/self/status").read_text()
            for line in status.splitlines():
                if line.startswith(("VmRSS:", "VmHWM:")):
                    results[line.split(":")[0].lower() + "_mb"] = int(line.split()[1]) / 1024
            results["cursor"] = images.cursor
            results["loadavg_after"] = os.getloadavg()

    app_module.LoratuiApp = BenchApp
    ctx = Context.load(args.home)
    code = app_module.run_app(ctx, dataset="bench")
    results["exit_code"] = code
    Path(args.out).write_text(json.dumps(results, indent=2))


# -- the parent: builds the data, spawns the child in a pty, prints the figures ---------------------------------

def parent(args) -> int:
    import fcntl
    import pty
    import struct
    import subprocess
    import termios
    import threading

    sys.path.insert(0, str(REPO))
    root = (REPO / args.dir).resolve()
    started = time.perf_counter()
    home, _name = build_home(root, args.count)
    print(f"dataset ready in {time.perf_counter() - started:.1f}s: {home}", flush=True)
    out = root / "result.json"
    out.unlink(missing_ok=True)
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 48, 160, 0, 0))
    env = dict(os.environ, PYTHONPATH=str(REPO), TERM="xterm-256color", LORATUI_HOME=str(home))
    env.pop("COLORTERM", None)
    drained = 0

    def drain() -> None:
        nonlocal drained
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                return
            if not chunk:
                return
            drained += len(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    spawned = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--child", "--home", str(home), "--out", str(out),
         "--spawned", repr(spawned), "--moves", str(args.moves), "--single", str(args.single), "--preview-samples", str(args.preview_samples),
         "--previews", str(args.previews)] + (["--no-thumbnails"] if args.no_thumbnails else []),
        stdin=slave, stdout=slave, stderr=slave, env=env, cwd=REPO, start_new_session=True,
    )
    os.close(slave)
    try:
        proc.wait(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        print("timed out", file=sys.stderr)
        return 1
    finally:
        try:
            os.close(master)
        except OSError:
            pass
    if not out.exists():
        print(f"no results (exit {proc.returncode}); see {home / 'tui-stderr.log'}", file=sys.stderr)
        return 1
    results = json.loads(out.read_text())
    results["terminal_bytes"] = drained
    print(json.dumps(results, indent=2))
    return 0 if "error" not in results else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=50_000)
    parser.add_argument("--moves", type=int, default=300)
    parser.add_argument("--single", type=int, default=30, help="single key presses after a rest")
    parser.add_argument("--preview-samples", type=int, default=40)
    parser.add_argument("--previews", type=int, default=5000)
    parser.add_argument("--dir", default=".bench/tui")
    parser.add_argument("--no-thumbnails", action="store_true",
                        help="decode every preview from the image file instead of its stored thumbnail")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--spawned", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, str(REPO))
        child(args)
        return 0
    return parent(args)


if __name__ == "__main__":
    raise SystemExit(main())
