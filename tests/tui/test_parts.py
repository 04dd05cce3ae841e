"""Unit tests of the TUI's parts that need no running app: terminal setup, demo data, list data, previews."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from loratui.config import Context
from loratui.demo import create_demo, plan_demo
from loratui.store import Store
from loratui.datasets import image_repo
from loratui.datasets.image_repo import FLAG_DUPLICATE, FLAG_UNCAPTIONED
from loratui.tui.preview_render import PreviewCache, fit_cells, render_preview
from loratui.tui.terminal import ensure_truecolor
from loratui.tui.widgets.caption_editor import current_fragment, suggest_tags
from tests.conftest import python_subprocess_env
from tests.dbutil import scalar as db_scalar


@pytest.mark.parametrize(
    "env, expected",
    [
        ({"TERM": "screen-256color"}, "truecolor"),  # tmux without COLORTERM
        ({"TERM": "xterm-256color", "COLORTERM": "24bit"}, "24bit"),
        ({"TERM": "xterm-direct"}, None),
        ({"TERM": "dumb"}, None),
        ({"TERM": "xterm", "NO_COLOR": "1"}, None),
    ],
)
def test_truecolor_default_only_when_terminal_says_nothing(env, expected):
    env = dict(env)
    ensure_truecolor(env)
    assert env.get("COLORTERM") == expected


def test_stderr_redirect_catches_native_writes_and_restores(tmp_path):
    # In a subprocess: fd 2 writes (as native code makes them) land in the log, and fd 2 is restored after.
    log = tmp_path / "tui-stderr.log"
    script = textwrap.dedent(f"""
        import os, sys
        from pathlib import Path
        from loratui.tui.terminal import stderr_to_file
        with stderr_to_file(Path({str(log)!r})):
            os.write(2, b"native noise\\n")
            print("python noise", file=sys.stderr)
        os.write(2, b"after\\n")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, env=python_subprocess_env(),
                            timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stderr == b"after\n"
    assert log.read_text() == "native noise\npython noise\n"


async def test_demo_creates_registers_and_keeps_edits(home):
    ctx = Context.load(home)
    async with Store.open(ctx.paths.db) as store:
        dataset = await create_demo(store, ctx.paths.demo, count=9, workers=1)
        assert dataset.name == "demo"
        count = await db_scalar(store, "SELECT COUNT(*) FROM images WHERE dataset_id = ?", (dataset.id,))
        assert count == 10  # 9 planned + one exact copy
        sizes = {Image.open(p).size for p in ctx.paths.demo.rglob("*") if p.suffix in (".png", ".jpg")}
        assert len(sizes) >= 3
        edited = next(ctx.paths.demo.rglob("*.txt"))
        edited.write_text("my edit", encoding="utf-8")
        again = await create_demo(store, ctx.paths.demo, count=9, workers=1)
        assert again.id == dataset.id
        assert edited.read_text(encoding="utf-8") == "my edit"
        rows = await store.run(image_repo.list_rows, dataset.id)
        assert len(rows) == 10
        assert sum(1 for f in rows.flags if f & FLAG_DUPLICATE) == 2
        assert sum(1 for f in rows.flags if f & FLAG_UNCAPTIONED) >= 2
        assert list(rows.names) == sorted(rows.names)


def test_demo_plan_is_deterministic_and_has_a_bracketed_name():
    assert plan_demo(10) == plan_demo(10)
    assert any("[red]" in item.rel_path for item in plan_demo(10))


def test_cli_demo_no_open(cli, home):
    result = cli("demo", "--no-open", "--count", "4")
    assert result.code == 0, result
    assert (home / "demo").is_dir()
    listed = cli("dataset", "list", "--json").json()
    assert [d["name"] for d in listed] == ["demo"] and listed[0]["images"] == 5
    bad = cli("demo", "--count", "0", "--no-open")
    assert bad.code == 2 and "--count" in bad.err


async def test_filter_terms_match_name_caption_or_tag(home):
    ctx = Context.load(home)
    async with Store.open(ctx.paths.db) as store:
        dataset = await create_demo(store, ctx.paths.demo, count=12, workers=1)
        rows = await store.run(image_repo.list_rows, dataset.id)
        by_id = dict(zip(rows.ids, rows.names))
        assert await store.run(image_repo.filter_ids, dataset.id, "   ") is None
        assert {by_id[i] for i in await store.run(image_repo.filter_ids, dataset.id, "GRID")} \
            == {n for n in rows.names if "grid" in n}
        moon = {by_id[i] for i in await store.run(image_repo.filter_ids, dataset.id, "moon")}
        assert moon and all("night_sky" in n for n in moon)
        both = await store.run(image_repo.filter_ids, dataset.id, "night moon")
        assert {by_id[i] for i in both} == moon
        # LIKE wildcards in the filter are literal characters.
        assert await store.run(image_repo.filter_ids, dataset.id, "%") == set()
        assert {by_id[i] for i in await store.run(image_repo.filter_ids, dataset.id, "[red]")} == {
            n for n in rows.names if "[red]" in n}
        vocabulary = await store.run(image_repo.images_per_tag, dataset.id)
        assert vocabulary["scenery"] >= 5


def test_preview_fits_box_keeps_aspect_and_caches(tmp_path):
    path = tmp_path / "tall.jpg"
    Image.new("RGB", (1024, 1536), (200, 50, 10)).save(path, quality=90)
    preview = render_preview(path, 53, 40)
    assert (preview.width, preview.height) == (1024, 1536)
    assert len(preview.strips) == 40 and preview.cells_w == 53
    assert all(strip.cell_length == 53 for strip in preview.strips)
    segment = list(preview.strips[0])[0]
    assert segment.text[0] == "▀" and segment.style.color.triplet is not None  # truecolor, not a palette index
    assert fit_cells(1000, 100, 50, 20) == (50, 6)
    cache = PreviewCache(capacity=2)
    for key in ("a", "b", "c"):
        cache.put((key,), preview)
    assert cache.get(("a",)) is None and cache.get(("c",)) is preview and len(cache) == 2


def test_preview_respects_exif_orientation(tmp_path):
    path = tmp_path / "rotated.jpg"
    image = Image.new("RGB", (300, 100), (0, 0, 255))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90: shown as 100x300
    image.save(path, exif=exif)
    preview = render_preview(path, 40, 40)
    assert (preview.width, preview.height) == (100, 300)
    assert preview.cells_w < 40 and len(preview.strips) == 40


def test_tag_completion_helpers():
    text = "1girl, solo, blu"
    assert current_fragment(text, len(text)) == (13, "blu")
    vocab = [("blue eyes", 40), ("blush", 12), ("solo", 90), ("light blue", 3)]
    assert suggest_tags(vocab, "blu", {"solo"}) == [("blue eyes", 40), ("blush", 12), ("light blue", 3)]
    assert suggest_tags(vocab, "", set()) == []


def test_shorten_path_keeps_the_file_name():
    from loratui.tui.widgets.image_list import shorten_path

    assert shorten_path("10_scenery/a.png", 40) == "10_scenery/a.png"
    assert shorten_path("10_scenery/mountains_001.jpg", 22) == "10_…/mountains_001.jpg"
    assert len(shorten_path("10_scenery/mountains_001.jpg", 22)) == 22
    assert shorten_path("10_scenery/a_very_long_file_name.jpg", 12) == "…le_name.jpg"


def test_png_preview_composites_alpha_and_scales_16_bit(tmp_path):
    """PNGs go through OpenCV: transparency shows as black (like the Pillow path) and 16-bit greys keep their
    brightness instead of clipping to white."""
    from loratui.tui.preview_render import decode_pixels

    rgba = np.zeros((64, 64, 4), dtype=np.uint8)
    rgba[:, :, 0] = 255  # red everywhere...
    rgba[:, :32, 3] = 255  # ...but only the left half is opaque
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    pixels = decode_pixels(tmp_path / "alpha.png", 16, 8)
    array = np.frombuffer(pixels.data, dtype=np.uint8).reshape(pixels.px_h, pixels.cols, 3)
    assert (pixels.width, pixels.height) == (64, 64)
    assert tuple(array[4, 1]) == (255, 0, 0) and tuple(array[4, -2]) == (0, 0, 0)

    grey = np.full((40, 40), 128 * 257, dtype=np.uint16)
    Image.fromarray(grey).save(tmp_path / "grey16.png")
    pixels = decode_pixels(tmp_path / "grey16.png", 10, 5)
    assert set(pixels.data) == {128}


def test_png_preview_falls_back_to_pillow_when_opencv_cannot_read(tmp_path, monkeypatch):
    import cv2

    from loratui.tui.preview_render import decode_pixels

    Image.new("RGB", (30, 20), (0, 0, 200)).save(tmp_path / "blue.png")
    monkeypatch.setattr(cv2, "imdecode", lambda *a: None)
    pixels = decode_pixels(tmp_path / "blue.png", 15, 5)
    assert set(pixels.data[2::3]) == {200} and (pixels.width, pixels.height) == (30, 20)


def test_gc_pacer_collects_in_pauses_and_bounds_garbage_under_held_keys():
    import gc

    from loratui.tui import gc_pacer

    class Cycle:
        def __init__(self) -> None:
            self.me = self

    def make_garbage() -> None:
        for _ in range(gc_pacer.MIN_NEW_OBJECTS + 10):
            Cycle()

    now = [100.0]
    pacer = gc_pacer.GcPacer(clock=lambda: now[0])
    was_enabled = gc.isenabled()
    pacer.start()
    try:
        assert gc.isenabled() == was_enabled and not pacer.tick()  # start-up: Python's own collection
        pacer.settled()  # a dataset is open: the pacer takes over
        assert not gc.isenabled() and gc.get_freeze_count() > 0
        make_garbage()
        pacer.input_seen()
        now[0] += gc_pacer.IDLE_S / 2
        assert not pacer.tick()  # typing: wait
        now[0] += gc_pacer.IDLE_S
        assert pacer.tick() and pacer.full_passes == 1  # quiet: a full pass
        assert gc.get_count()[0] < gc_pacer.MIN_NEW_OBJECTS
        assert not pacer.tick()  # nothing new since
        # A key held down: young passes every YOUNG_EVERY_S, a full one every FULL_EVERY_S.
        step = gc_pacer.IDLE_S / 2
        for _ in range(int(gc_pacer.FULL_EVERY_S / step) + 2):
            now[0] += step
            pacer.input_seen()
            make_garbage()
            pacer.tick()
        assert pacer.full_passes == 2
        assert pacer.young_passes >= int(gc_pacer.FULL_EVERY_S / gc_pacer.YOUNG_EVERY_S) - 2
    finally:
        pacer.stop()
    assert gc.isenabled() == was_enabled and gc.get_freeze_count() == 0
