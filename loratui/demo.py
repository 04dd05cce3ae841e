"""A demo dataset of generated images, so a newcomer sees something real on a machine with no images.

``create_demo`` draws small scenes (landscapes, night skies, geometric patterns, portraits of shapes) with
Pillow into ``<home>/demo`` as two kohya subsets, writes a tag caption next to most of them, and registers
the folder as the dataset ``demo``. It is deterministic (seeded) and never overwrites a file that exists, so
running it again keeps the user's caption edits and only rescans.
"""

from __future__ import annotations

import asyncio
import math
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

from loratui.datasets import dataset_repo, service
from loratui.datasets.dataset_repo import Dataset
from loratui.store import Store

DEMO_NAME = "demo"
DEFAULT_COUNT = 24

_SIZES = [(768, 512), (512, 768), (640, 640), (896, 512), (512, 896), (704, 576)]
_PALETTES = {
    "sunset": [(255, 140, 60), (240, 80, 90), (90, 40, 120)],
    "daylight": [(120, 190, 255), (200, 230, 255), (250, 250, 240)],
    "night": [(10, 15, 45), (30, 30, 80), (70, 60, 120)],
    "forest": [(30, 90, 50), (90, 150, 80), (200, 220, 160)],
    "ocean": [(10, 60, 120), (40, 140, 180), (200, 240, 250)],
}


@dataclass(frozen=True)
class DemoImage:
    """One planned demo file: where it goes, how to draw it, and its caption (None: left uncaptioned)."""

    rel_path: str
    kind: str
    palette: str
    size: tuple[int, int]
    seed: int
    caption: str | None


def plan_demo(count: int = DEFAULT_COUNT, seed: int = 7) -> list[DemoImage]:
    """The demo files, deterministically: scenes in ``10_scenery``, patterns in ``5_patterns``."""
    rng = random.Random(seed)
    plan: list[DemoImage] = []
    for index in range(count):
        scenery = index % 3 != 2
        palette = rng.choice(sorted(_PALETTES))
        size = rng.choice(_SIZES)
        if scenery:
            kind = ("mountains", "sea", "night_sky")[(index * 2 // 3) % 3]
            if kind != "night_sky" and palette == "night":
                palette = "sunset"
            folder, stem = "10_scenery", f"{kind}_{index:03d}"
            tags = ["scenery", "no humans", kind.replace("_", " "), f"{palette} colors"]
            if kind == "mountains":
                tags += ["mountain", "sky", "outdoors"]
            elif kind == "sea":
                tags += ["ocean", "horizon", "waves"]
            else:
                tags += ["stars", "moon", "night"]
        else:
            kind = ("circles", "stripes", "grid")[(index // 3) % 3]
            folder, stem = "5_patterns", f"{kind}_{index:03d}"
            tags = ["abstract", "pattern", kind, f"{palette} colors", "simple background"]
        ext = ".jpg" if index % 2 else ".png"
        caption: str | None = ", ".join(tags)
        if index in (5, 16):
            caption = None  # a few uncaptioned images, as in real datasets
        plan.append(DemoImage(f"{folder}/{stem}{ext}", kind, palette, size, rng.randrange(1 << 30), caption))
    if count >= 4:
        # A name with brackets shows that file names are displayed literally, never as markup.
        first = plan[0]
        plan[0] = DemoImage(f"{first.rel_path.rsplit('/', 1)[0]}/photo_[red]x.png", first.kind, first.palette,
                            first.size, first.seed, first.caption)
    return plan


def _gradient(image, colors: list[tuple[int, int, int]]) -> None:
    from PIL import ImageDraw

    draw = ImageDraw.Draw(image)
    width, height = image.size
    stops = len(colors) - 1
    for y in range(height):
        t = y / max(height - 1, 1) * stops
        i = min(int(t), stops - 1)
        f = t - i
        a, b = colors[i], colors[i + 1]
        draw.line([(0, y), (width, y)], fill=tuple(int(a[c] + (b[c] - a[c]) * f) for c in range(3)))


def draw_demo_image(item: DemoImage):
    """Render one demo image (a PIL Image)."""
    from PIL import Image, ImageDraw

    rng = random.Random(item.seed)
    width, height = item.size
    colors = _PALETTES[item.palette]
    image = Image.new("RGB", item.size)
    draw = ImageDraw.Draw(image)
    if item.kind in ("mountains", "sea", "night_sky"):
        _gradient(image, colors if item.kind != "night_sky" else _PALETTES["night"])
        if item.kind == "night_sky":
            for _ in range(140):
                x, y, r = rng.randrange(width), rng.randrange(height * 2 // 3), rng.choice([1, 1, 2])
                draw.ellipse([x - r, y - r, x + r, y + r], fill=(255, 255, 230))
            mx, my, mr = width * 0.72, height * 0.25, min(width, height) * 0.09
            draw.ellipse([mx - mr, my - mr, mx + mr, my + mr], fill=(250, 245, 210))
        else:
            sx, sy, sr = rng.uniform(0.2, 0.8) * width, height * 0.3, min(width, height) * 0.08
            draw.ellipse([sx - sr, sy - sr, sx + sr, sy + sr], fill=(255, 230, 150))
        if item.kind == "mountains" or item.kind == "night_sky":
            for layer, shade in enumerate((0.55, 0.35)):
                base = height * (0.62 + 0.14 * layer)
                points = [(0, height)]
                for x in range(0, width + 40, 40):
                    points.append((x, base - rng.uniform(0.05, 0.3) * height * (1 - layer * 0.4)))
                points.append((width, height))
                tone = tuple(int(c * shade) for c in colors[0])
                draw.polygon(points, fill=tone)
        else:
            horizon = int(height * 0.55)
            sea = _PALETTES["ocean"]
            draw.rectangle([0, horizon, width, height], fill=sea[0])
            for row in range(horizon + 6, height, 14):
                for x in range(0, width, 24):
                    offset = int(4 * math.sin((x + row) / 17))
                    draw.line([(x, row + offset), (x + 12, row + offset)], fill=sea[1], width=2)
    else:
        image.paste(colors[2], [0, 0, width, height])
        if item.kind == "circles":
            for _ in range(18):
                x, y, r = rng.randrange(width), rng.randrange(height), rng.randrange(20, 120)
                draw.ellipse([x - r, y - r, x + r, y + r], fill=rng.choice(colors[:2]), outline=(255, 255, 255))
        elif item.kind == "stripes":
            step = rng.randrange(24, 64)
            for i, x in enumerate(range(-height, width, step)):
                draw.polygon([(x, 0), (x + step // 2, 0), (x + step // 2 + height, height), (x + height, height)],
                             fill=colors[i % 2])
        else:
            cell = rng.randrange(40, 96)
            for gy in range(0, height, cell):
                for gx in range(0, width, cell):
                    if (gx // cell + gy // cell) % 2:
                        draw.rectangle([gx, gy, gx + cell - 1, gy + cell - 1], fill=colors[0])
                    else:
                        draw.ellipse([gx + 6, gy + 6, gx + cell - 6, gy + cell - 6], fill=colors[1])
    return image


def write_demo_files(folder: Path, count: int = DEFAULT_COUNT) -> int:
    """Create missing demo images and captions under `folder`; returns how many images were written."""
    written = 0
    plan = plan_demo(count)
    for item in plan:
        path = folder / item.rel_path
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            image = draw_demo_image(item)
            if path.suffix == ".jpg":
                image.save(path, quality=88)
            else:
                image.save(path, optimize=False)
            written += 1
        caption = path.with_suffix(".txt")
        if item.caption is not None and not caption.exists():
            caption.write_text(item.caption, encoding="utf-8")
    # One exact copy, so the duplicate flag has something to show.
    if len(plan) > 3:
        source = folder / plan[3].rel_path
        copy = source.with_name(source.stem + "_copy" + source.suffix)
        if not copy.exists():
            shutil.copyfile(source, copy)
            written += 1
    return written


async def create_demo(store: Store, demo_folder: Path, *, count: int = DEFAULT_COUNT, workers: int = 1) -> Dataset:
    """Write the demo files (missing ones only) and register or rescan the ``demo`` dataset."""
    await asyncio.to_thread(write_demo_files, demo_folder, count)
    existing = await store.run(dataset_repo.find_dataset, path=demo_folder.resolve())
    if existing:
        await service.rescan_dataset(store, existing.name, workers=workers)
        return await service.get_dataset(store, existing.name)
    dataset, _report = await service.add_dataset(store, demo_folder, name=DEMO_NAME, workers=workers)
    return dataset
