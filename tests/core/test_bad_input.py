"""Issue #2 bad input: the scan finishes, indexes good images correctly, marks bad ones, touches nothing."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from tests.core import badinput
from tests.dbutil import rows as db_rows


def _snapshot(root: Path) -> dict[str, tuple]:
    state = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames:
            path = Path(dirpath) / name
            if path.is_symlink():
                state[str(path)] = ("link", os.readlink(path))
                continue
            st = path.stat()
            state[str(path)] = (st.st_size, st.st_mtime_ns, st.st_mode, hashlib.sha256(path.read_bytes()).hexdigest())
    return state


@pytest.fixture
def bad_dataset(tmp_path) -> Path:
    return badinput.build(tmp_path, tmp_path / "outside")


@pytest.mark.timeout(120)
def test_scan_of_bad_input_folder(cli, bad_dataset):
    before = _snapshot(bad_dataset)
    result = cli("dataset", "add", bad_dataset, "--name", "bad", "--json")
    assert result.code == 0, result
    report = result.json()
    assert any("linked_folder" in w for w in report["warnings"])

    show = cli("dataset", "show", "bad", "--json").json()
    assert show["images"] == len(badinput.GOOD) + len(badinput.BROKEN)
    assert show["broken"] == len(badinput.BROKEN)
    # Captioned: good.jpg/.png/.webp (they share good.txt, as in sd-scripts; BOM + CRLF), cmyk.jpg (Latin-1),
    # rotated.jpg (5 MB: present but not loaded), "my photo ü.jpg". The empty caption does not count.
    assert show["captioned"] == 6
    assert {s["path"]: (s["repeats"], s["images"]) for s in show["subsets"]} == {"10_mix": (10, 14), "1_other": (1, 1)}

    images = {i["path"]: i for i in cli("dataset", "images", "bad", "--json").json()}
    assert set(images) == badinput.GOOD | set(badinput.BROKEN)
    for path in badinput.GOOD:
        assert images[path]["status"] == "ok", images[path]
        assert images[path]["sha256"] and images[path]["phash"]
    for path, reason in badinput.BROKEN.items():
        assert images[path]["status"] == "broken"
        assert reason.lower() in images[path]["reason"].lower(), images[path]

    assert (images["10_mix/rotated.jpg"]["width"], images["10_mix/rotated.jpg"]["height"]) == (60, 120)
    assert images["10_mix/rotated.jpg"]["orientation"] == 6
    assert images["10_mix/cmyk.jpg"]["mode"] == "CMYK"
    assert images["10_mix/sixteen.png"]["mode"].startswith("I")
    assert images["10_mix/palette_alpha.png"]["has_alpha"] is True
    assert images["10_mix/good.jpg"]["has_alpha"] is False
    assert images["10_mix/anim.gif"]["frames"] == 3
    assert images["10_mix/good.webp"]["format"] == "WEBP"
    assert images["10_mix/rotated.jpg"]["caption_warning"].startswith("caption file is 5.0 MiB")
    assert "not UTF-8" in images["10_mix/cmyk.jpg"]["caption_warning"]
    assert images["10_mix/sixteen.png"]["has_caption"] is False

    assert _snapshot(bad_dataset) == before, "the scan modified files"


def test_caption_text_and_tags_survive_odd_encodings(cli, bad_dataset):
    import asyncio

    from loratui.config import Context
    from loratui.store import Store

    assert cli("dataset", "add", bad_dataset, "--name", "bad").code == 0

    async def read():
        ctx = Context.load()
        async with Store.open(ctx.paths.db) as store:
            rows = await db_rows(store, "SELECT rel_path, caption, caption_encoding FROM images")
            tags = await db_rows(store, 
                "SELECT i.rel_path, t.tag FROM image_tags t JOIN images i ON i.id = t.image_id ORDER BY t.position")
        return {r["rel_path"]: (r["caption"], r["caption_encoding"]) for r in rows}, tags

    captions, tags = asyncio.run(read())
    assert captions["10_mix/good.jpg"] == ("1girl, red hair, smile\r\n", "utf-8-sig")
    assert captions["10_mix/cmyk.jpg"] == ("café, crème brûlée", "cp1252")
    assert captions["10_mix/my photo ü.jpg"][0] == "photo, [red]x, spaces"
    assert [t["tag"] for t in tags if t["rel_path"] == "10_mix/good.jpg"] == ["1girl", "red hair", "smile"]
