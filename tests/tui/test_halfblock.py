"""HalfBlockImage: the half-block still image of the duplicates screen and the training samples."""

from __future__ import annotations

import os

from PIL import Image
from textual.app import App, ComposeResult

from loratui.datasets.thumbnails import Thumbnail, make_thumbnail
from loratui.tui import preview_render
from loratui.tui.widgets.halfblock import HalfBlockImage


class OneThumbnail:
    """Stands in for ThumbnailReader: the thumbnail made from `path` as the scan makes it, for image id 1."""

    def __init__(self, path) -> None:
        with Image.open(path) as image:
            image.load()
            data, width, height = make_thumbnail(image)
            size = image.size
        stat = path.stat()
        self.thumbnail = Thumbnail(data, width, height, stat.st_size, stat.st_mtime_ns, *size)

    def get(self, image_id: int) -> Thumbnail | None:
        return self.thumbnail if image_id == 1 else None


class Host(App):
    CSS = "HalfBlockImage { width: 40; height: 14; }"

    def __init__(self, path, image_id=None, thumbnails=None) -> None:
        super().__init__()
        self.image = HalfBlockImage(path, image_id=image_id, thumbnails=thumbnails)

    def compose(self) -> ComposeResult:
        yield self.image


async def _shown(pilot, image: HalfBlockImage) -> None:
    for _ in range(200):
        await pilot.pause(0.02)
        if not image.busy:
            return
    raise AssertionError("the image was not shown in time")


def _no_file_decoding(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("decoded the file")

    monkeypatch.setattr(preview_render, "decode_for_preview", refuse)


async def test_fits_the_box_centred_and_keeps_the_aspect(tmp_path):
    path = tmp_path / "tall.jpg"
    Image.new("RGB", (1024, 1536), (200, 50, 10)).save(path)
    app = Host(path)
    async with app.run_test(size=(60, 20)) as pilot:
        await _shown(pilot, app.image)
        preview = app.image.preview
        assert preview is not None and (preview.width, preview.height) == (1024, 1536)
        assert len(preview.strips) == 14 and preview.cells_w == 19  # 28 x 19 pixels: 2:3 like the image
        line = app.image.render_line(3)
        assert line.cell_length == 40 and line.text == " " * 10 + "▀" * 19 + " " * 11


async def test_draws_a_current_thumbnail_and_decodes_the_file_once_it_changed(tmp_path, monkeypatch):
    path = tmp_path / "a.png"
    Image.new("RGB", (300, 200), (0, 0, 255)).save(path)
    thumbnails = OneThumbnail(path)
    _no_file_decoding(monkeypatch)
    app = Host(path, image_id=1, thumbnails=thumbnails)
    async with app.run_test(size=(60, 20)) as pilot:
        await _shown(pilot, app.image)
        assert app.image.preview is not None and app.image.message == ""
    monkeypatch.undo()
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # the thumbnail is stale now
    _no_file_decoding(monkeypatch)
    app = Host(path, image_id=1, thumbnails=thumbnails)
    async with app.run_test(size=(60, 20)) as pilot:
        await _shown(pilot, app.image)
        assert app.image.preview is None and "decoded the file" in app.image.message


async def test_a_broken_file_says_so_and_a_repeated_render_comes_from_the_cache(tmp_path, monkeypatch):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    app = Host(broken)
    async with app.run_test(size=(60, 20)) as pilot:
        await _shown(pilot, app.image)
        assert app.image.preview is None and app.image.message.startswith("no preview:")

    good = tmp_path / "good.jpg"
    Image.new("RGB", (64, 64), (0, 255, 0)).save(good)
    app = Host(good)
    async with app.run_test(size=(60, 20)) as pilot:
        await _shown(pilot, app.image)
    _no_file_decoding(monkeypatch)
    app = Host(good)  # a screen rebuilding its cards: drawn again without decoding
    async with app.run_test(size=(60, 20)) as pilot:
        await _shown(pilot, app.image)
        assert app.image.preview is not None
        app.image.show(None)
        assert app.image.preview is None and app.image.message == "No image" and not app.image.busy
