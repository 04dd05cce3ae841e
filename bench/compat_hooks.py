"""Benchmark: each trick in loratui/tui/textual_compat.py (and the ones dropped) against the public way, A/B.

    PYTHONPATH=. python bench/compat_hooks.py [--reps 100] [--rounds 6] [--steps 24]

1. Preview cells: UI-thread CPU (``time.thread_time``) to build the half-block strips of a new 53x40-cell preview
   of a photo-like image and render them to terminal codes as Textual does (``Strip.render``), with the SGR codes
   preset (``preset_ansi_codes``) or computed by Textual, and the colours built with ``tuple.__new__`` (the old
   trick), the NamedTuple's constructor (used now) or ``Color.from_rgb``. Caches are cleared before each render
   and the variants run in a shuffled order each repetition.
2. Caption steps: the real app (headless, 160x48, demo dataset with captions of 1 to 6 wrapped lines), the
   editor focused, Ctrl+N / Ctrl+B through the images; screen layout passes and their time per step, with
   ``FixedBoxTextArea``'s quiet sizing and with TextArea's own, alternated by round.
3. Preview line layout: centring the strips of a 53x40 preview by iterating each Strip (used now) or by reading
   ``Strip._segments`` (the old trick).
4. Half-block rendering of a 1024x1536 JPEG and a 1536x1024 PNG at 28x14 cells (a duplicates card): loratui's
   renderer (file, or its stored thumbnail) against rich-pixels, which the duplicates screen used before (run
   only when rich-pixels is installed; loratui no longer depends on it).
Medians (and minimums) are printed; other processes on the machine shift absolute figures, not the comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path


def _photo(width: int, height: int, seed: int):
    """A photo-like RGB image (smooth colour fields plus noise), as bench/tui.py makes its sources."""
    import numpy as np
    from PIL import Image, ImageFilter

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (height // 32 + 1, width // 32 + 1, 3), dtype="uint8")
    image = Image.fromarray(small).resize((width, height), Image.BICUBIC).filter(ImageFilter.GaussianBlur(2))
    noise = rng.integers(-10, 10, (height, width, 3))
    return Image.fromarray(np.clip(np.asarray(image, dtype="int16") + noise, 0, 255).astype("uint8"))


def _report(title: str, results: dict[str, list[float]], unit: str = "ms") -> None:
    print(title)
    for name, values in results.items():
        print(f"  {name:44s} median {statistics.median(values):7.2f} {unit}  min {min(values):7.2f} {unit}")


def bench_cells(reps: int) -> None:
    from PIL import Image
    from rich.color import Color, ColorTriplet, ColorType
    from rich.console import Console

    import loratui.tui.preview_render as render

    image = _photo(1024, 1536, 1)
    frames = [image.crop((k * 9, k * 13, 1024 - k * 9, 1536 - k * 13)).resize((53, 80), Image.Resampling.BOX)
              .tobytes() for k in range(8)]
    console = Console(color_system="truecolor", force_terminal=True)
    hexes = render._HEX

    def tuple_new(rgb: int) -> Color:
        red, green, blue = rgb >> 16, (rgb >> 8) & 255, rgb & 255
        triplet = tuple.__new__(ColorTriplet, (red, green, blue))
        return tuple.__new__(Color, ("#" + hexes[red] + hexes[green] + hexes[blue], ColorType.TRUECOLOR, None,
                                     triplet))

    def from_rgb(rgb: int) -> Color:
        return Color.from_rgb(rgb >> 16, (rgb >> 8) & 255, rgb & 255)

    current = render._color
    variants = {
        "constructor + preset codes (now)": (current, True),
        "constructor, codes by Textual": (current, False),
        "tuple.__new__ + preset codes (before)": (tuple_new, True),
        "tuple.__new__, codes by Textual": (tuple_new, False),
        "Color.from_rgb + preset codes": (from_rgb, True),
        "Color.from_rgb, codes by Textual (all public)": (from_rgb, False),
    }
    results: dict[str, list[float]] = {name: [] for name in variants}
    gc.disable()
    try:
        for rep in range(reps):
            order = list(variants.items())
            random.Random(rep).shuffle(order)
            for name, (color, preset) in order:
                render._color = color
                render.set_truecolor_output(preset)
                render._STYLE_CACHE.clear()
                Color.downgrade.cache_clear()
                Color.get_ansi_codes.cache_clear()
                gc.collect()
                start = time.thread_time()
                for strip in render.strips_from_rgb(frames[rep % len(frames)], 53, 80):
                    strip.render(console)
                results[name].append((time.thread_time() - start) * 1e3)
    finally:
        gc.enable()
        render._color = current
        render.set_truecolor_output(True)
    _report("1. new 53x40 preview: build strips + render codes (UI-thread CPU)", results)


def bench_editor(rounds: int, steps: int) -> None:
    from textual.screen import Screen
    from textual.widgets import TextArea

    from loratui.config import Context
    from loratui.demo import create_demo
    from loratui.store import Store
    from loratui.tui.app import LoratuiApp
    from loratui.tui.textual_compat import FixedBoxTextArea

    home = Path(tempfile.mkdtemp(prefix="loratui-compat-"))
    ctx = Context.load(home)

    async def make_demo() -> None:
        async with Store.open(ctx.paths.db) as store:
            await create_demo(store, ctx.paths.demo, count=24, workers=1)

    asyncio.run(make_demo())
    rng = random.Random(3)
    words = ["long hair", "blue eyes", "scenery", "outdoors", "sky", "cloud", "mountain", "river", "tree", "grass",
             "sunset", "no humans", "water", "reflection", "night", "star (sky)", "moon", "building"]
    for index, caption in enumerate(sorted(ctx.paths.demo.rglob("*.txt"))):
        caption.write_text(", ".join(rng.choice(words) for _ in range([3, 12, 25, 40, 60][index % 5])))
    quiet, plain = FixedBoxTextArea._refresh_size, TextArea._refresh_size
    layout = {"passes": 0, "seconds": 0.0}
    refresh_layout = Screen._refresh_layout

    def timed_layout(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return refresh_layout(self, *args, **kwargs)
        finally:
            layout["passes"] += 1
            layout["seconds"] += time.perf_counter() - start

    Screen._refresh_layout = timed_layout
    passes: dict[str, list[float]] = {"quiet sizing (FixedBoxTextArea)": [], "TextArea's own": []}
    times: dict[str, list[float]] = {name: [] for name in passes}

    async def run() -> None:
        app = LoratuiApp(ctx, "demo")
        async with app.run_test(size=(160, 48)) as pilot:
            await pilot.pause(1.0)
            await pilot.press("e")
            await pilot.pause(0.3)
            for round_ in range(rounds):
                names = list(passes) if round_ % 2 == 0 else list(reversed(passes))
                for name in names:
                    FixedBoxTextArea._refresh_size = quiet if name.startswith("quiet") else plain
                    layout.update(passes=0, seconds=0.0)
                    for step in range(steps):
                        await pilot.press("ctrl+n" if (step // 12) % 2 == 0 else "ctrl+b")
                    passes[name].append(layout["passes"] / steps)
                    times[name].append(layout["seconds"] / steps * 1e3)

    try:
        asyncio.run(run())
    finally:
        FixedBoxTextArea._refresh_size = quiet
        Screen._refresh_layout = refresh_layout
    _report(f"2. caption step in the editor ({steps} steps x {rounds} rounds): layout passes per step", passes,
            "")
    _report("   layout time per step", times)


def bench_line_layout(reps: int) -> None:
    from rich.segment import Segment
    from rich.style import Style
    from textual.strip import Strip

    import loratui.tui.preview_render as render

    pixels = _photo(1024, 1536, 2).resize((53, 80)).tobytes()
    strips = render.strips_from_rgb(pixels, 53, 80)
    base = Style()
    pad = [Segment(" " * 10, base)]
    results: dict[str, list[float]] = {"iterate each Strip (now)": [], "Strip._segments (before)": []}
    for _ in range(reps):
        for name in results:
            start = time.perf_counter()
            if name.startswith("iterate"):
                [Strip([*pad, *strip, *pad], 73) for strip in strips]
            else:
                [Strip(pad + strip._segments + pad, 73) for strip in strips]
            results[name].append((time.perf_counter() - start) * 1e3)
    _report("3. centre the 40 lines of a new 53x40 preview", results)


def bench_renderers(reps: int) -> None:
    try:
        from rich_pixels import Pixels
    except ImportError:
        print("4. rich-pixels is not installed: `pip install rich-pixels` to compare the renderers")
        return
    from PIL import Image, ImageOps
    from rich.console import Console
    from rich.segment import Segment
    from rich.style import Style
    from textual.strip import Strip

    import loratui.tui.preview_render as render
    from loratui.datasets.thumbnails import Thumbnail, make_thumbnail

    folder = Path(tempfile.mkdtemp(prefix="loratui-render-"))
    jpeg, png = folder / "photo.jpg", folder / "photo.png"
    _photo(1024, 1536, 0).save(jpeg, quality=90)
    _photo(1536, 1024, 3).save(png)
    console = Console(color_system="truecolor", force_terminal=True, width=200)

    def rich_pixels(path: Path) -> None:  # the duplicates screen's render_preview before, then drawn
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image).convert("RGB")
            rows = max(2, min(28, round(28 * image.height / max(image.width, 1))))
            pixels = Pixels.from_image(image, resize=(28, rows - rows % 2))
        for line in Segment.split_lines(pixels._segments.segments):
            Strip(line).render(console)

    def thumbnail(path: Path) -> Thumbnail:
        with Image.open(path) as image:
            image.load()
            data, width, height = make_thumbnail(image)
            size = image.size
        stat = path.stat()
        return Thumbnail(data, width, height, stat.st_size, stat.st_mtime_ns, *size)

    thumbnails = {jpeg: thumbnail(jpeg), png: thumbnail(png)}

    def loratui(path: Path, thumb: Thumbnail | None = None) -> None:
        for strip in render.render_preview(path, 28, 14, thumb).strips:
            strip.render(console)

    variants = {
        "rich-pixels": rich_pixels,
        "loratui, from the file": loratui,
        "loratui, from the stored thumbnail": lambda path: loratui(path, thumbnails[path]),
    }
    for path, label in ((jpeg, "1024x1536 JPEG"), (png, "1536x1024 PNG")):
        results: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(reps):
            for name, run in variants.items():
                Style.parse.cache_clear()
                render._STYLE_CACHE.clear()
                start = time.thread_time()
                run(path)
                results[name].append((time.thread_time() - start) * 1e3)
        _report(f"4. {label} at 28x14 cells: decode + render (CPU of the calling thread)", results)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=24)
    args = parser.parse_args()
    bench_cells(args.reps)
    bench_line_layout(args.reps)
    bench_renderers(max(5, args.reps // 5))
    bench_editor(args.rounds, args.steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
