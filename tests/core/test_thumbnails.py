"""Preview thumbnails: made by the scan's probe, stored, kept current by rescans, read by the preview."""

from __future__ import annotations

import io
import os
import sqlite3
import threading
import time
from pathlib import Path

from PIL import Image

from loratui.datasets.probe import probe_image
from loratui.datasets.image_repo import ThumbnailReader
from loratui.datasets.thumbnails import THUMB_MAX, Thumbnail
from loratui.tui.preview_render import decode_pixels
from tests.conftest import make_image


def _probe(path: Path) -> dict:
    st = path.stat()
    return probe_image(str(path), path.name, st.st_size, st.st_mtime_ns)


def _thumb_image(result: dict) -> Image.Image:
    return Image.open(io.BytesIO(result["thumbnail"])).convert("RGB")


def test_probe_makes_an_upright_small_thumbnail(tmp_path):
    path = tmp_path / "rotated.jpg"
    image = Image.new("RGB", (600, 200), (0, 0, 255))
    exif = image.getexif()
    exif[0x0112] = 6  # stored landscape, shown portrait
    image.save(path, exif=exif, quality=95)
    result = _probe(path)
    thumb = _thumb_image(result)
    assert thumb.size == (result["thumb_width"], result["thumb_height"])
    assert max(thumb.size) == THUMB_MAX and thumb.size[0] < thumb.size[1]  # upright, like the preview
    red, green, blue = thumb.getpixel((thumb.size[0] // 2, thumb.size[1] // 2))
    assert blue > 200 and red < 40


def test_thumbnail_composites_transparency_on_black_and_keeps_small_images_small(tmp_path):
    path = tmp_path / "alpha.png"
    rgba = Image.new("RGBA", (40, 20), (255, 255, 255, 0))
    rgba.paste((255, 0, 0, 255), (0, 0, 20, 20))
    rgba.save(path)
    thumb = _thumb_image(_probe(path))
    assert thumb.size == (40, 20)  # never enlarged
    assert max(thumb.getpixel((35, 10))) < 30 and thumb.getpixel((5, 10))[0] > 220


def test_broken_images_get_no_thumbnail(tmp_path):
    path = tmp_path / "bad.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    result = _probe(path)
    assert result["status"] == "broken" and result["thumbnail"] is None


def _thumbnail_rows(ctx) -> dict[str, tuple]:
    conn = sqlite3.connect(ctx.paths.db)
    try:
        return {rel: (size, mtime, w, h, len(data)) for rel, size, mtime, w, h, data in conn.execute(
            "SELECT i.rel_path, t.source_size, t.source_mtime_ns, t.width, t.height, t.data "
            "FROM thumbnails t JOIN images i ON i.id = t.image_id")}
    finally:
        conn.close()


def test_scan_stores_thumbnails_and_rescans_keep_them_current(cli, home, tmp_path):
    from loratui.config import Context

    root = tmp_path / "data"
    for i in range(3):
        make_image(root / "5_cat" / f"c{i}.jpg", size=(640, 480), color=(i * 60, 20, 200))
    (root / "5_cat" / "broken.jpg").write_bytes(b"not an image")
    assert cli("dataset", "add", root, "--name", "cats").code == 0
    ctx = Context.load(home)
    rows = _thumbnail_rows(ctx)
    assert set(rows) == {f"5_cat/c{i}.jpg" for i in range(3)}  # none for the broken file
    assert all(w == THUMB_MAX and h == 96 and 200 < n < 20_000 for _s, _m, w, h, n in rows.values())

    # A changed file gets a new thumbnail; a deleted one loses it.
    make_image(root / "5_cat" / "c1.jpg", size=(300, 600), color=(1, 2, 3))
    os.utime(root / "5_cat" / "c1.jpg", ns=(time.time_ns(), time.time_ns() + 10**9))
    (root / "5_cat" / "c2.jpg").unlink()
    assert cli("dataset", "scan", "cats").code == 0
    rows = _thumbnail_rows(ctx)
    assert set(rows) == {"5_cat/c0.jpg", "5_cat/c1.jpg"}
    st = (root / "5_cat" / "c1.jpg").stat()
    assert rows["5_cat/c1.jpg"][:4] == (st.st_size, st.st_mtime_ns, 64, THUMB_MAX)

    # A dataset indexed before thumbnails existed gets them on its next scan, once.
    conn = sqlite3.connect(ctx.paths.db)
    conn.execute("DELETE FROM thumbnails")
    conn.commit()
    conn.close()
    report = cli("dataset", "scan", "cats", "--json").json()
    assert report["thumbnails_made"] == 2 and report["unchanged"] == 3 and report["updated"] == 0
    assert set(_thumbnail_rows(ctx)) == {"5_cat/c0.jpg", "5_cat/c1.jpg"}
    assert cli("dataset", "scan", "cats", "--json").json()["thumbnails_made"] == 0


def _thumbnail_for(path: Path, colour, size=(128, 96), image_size=(640, 480)) -> Thumbnail:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "JPEG", quality=95)
    st = path.stat()
    return Thumbnail(buffer.getvalue(), size[0], size[1], st.st_size, st.st_mtime_ns, *image_size)


def test_preview_draws_from_a_current_thumbnail_and_falls_back_to_the_file(tmp_path):
    path = make_image(tmp_path / "blue.jpg", size=(640, 480), color=(0, 0, 255))
    green = _thumbnail_for(path, (0, 255, 0))

    def colour(pixels) -> tuple[int, int, int]:
        return tuple(pixels.data[0:3])

    pixels = decode_pixels(path, 40, 15, green)  # needs 40x30 px: the thumbnail is large enough
    assert (pixels.cols, pixels.px_h, pixels.width, pixels.height) == (40, 30, 640, 480)
    assert colour(pixels)[1] > 200  # drawn from the thumbnail, not the file
    assert colour(decode_pixels(path, 160, 60, green))[1] < 100  # box larger than the thumbnail: the file
    damaged = Thumbnail(b"garbage", *list(green.__dict__.values())[1:])
    assert (decode_pixels(path, 40, 15, damaged).width, decode_pixels(path, 40, 15, damaged).px_h) == (640, 30)
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))  # the file changed since the scan
    assert colour(decode_pixels(path, 40, 15, green))[1] < 100


def test_thumbnail_reader_works_from_any_thread(cli, home, tmp_path):
    from loratui.config import Context

    root = tmp_path / "data"
    make_image(root / "a.jpg", size=(400, 300))
    assert cli("dataset", "add", root, "--name", "one").code == 0
    ctx = Context.load(home)
    conn = sqlite3.connect(ctx.paths.db)
    image_id = conn.execute("SELECT id FROM images").fetchone()[0]
    conn.close()
    reader = ThumbnailReader(ctx.paths.db)
    found: list = []
    thread = threading.Thread(target=lambda: found.extend([reader.get(image_id), reader.get(image_id + 99)]))
    thread.start()
    thread.join()
    reader.close()
    thumb, missing = found
    assert missing is None
    assert (thumb.width, thumb.height, thumb.image_width, thumb.image_height) == (128, 96, 400, 300)
    assert thumb.matches(root / "a.jpg")
