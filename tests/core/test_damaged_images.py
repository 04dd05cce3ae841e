"""Every image the scan calls ok decodes fully as the trainer decodes it; every other one is broken, with a reason.

The reference verdict is what sd-scripts does with a training image: ``Image.open(path)`` then
``.convert("RGB")``, with Pillow's defaults. The scan must agree both ways. Where Pillow is lenient (a bad CRC in
IDAT or in a chunk after it, garbage after IEND or EOI, EXIF it cannot parse, bad entropy-coded JPEG data) the
trainer trains on the file, so the scan says ok as well: stricter than the trainer would hide usable images.
The cases are built in ``tests/core/damaged.py``.
"""

from __future__ import annotations

import io
import random

import pytest
from PIL import Image, ImageFile

from loratui.datasets.probe import probe_image
from tests.core import damaged
from tests.core.damaged import CASES, trainer_decodes

pytestmark = pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")  # the trainer's Pillow says it too


@pytest.fixture(autouse=True)
def pillow_defaults(monkeypatch):
    """The reference decode runs with Pillow's defaults, as sd-scripts does, whatever other tests changed."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", damaged.PILLOW_DEFAULT_MAX_PIXELS)
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", False)


def _probe(path) -> dict:
    stat = path.stat()
    return probe_image(str(path), path.name, stat.st_size, stat.st_mtime_ns)


def _check_agrees(name: str, result: dict, decodes: bool, trainer_error: str) -> None:
    """The scan's verdict for one file matches the trainer's, and carries what the rest of loratui needs."""
    if decodes:
        assert result["status"] == "ok", f"{name}: the trainer decodes it, the scan says {result['reason']!r}"
        assert result["reason"] is None
    else:
        assert result["status"] == "broken", f"{name}: the trainer fails ({trainer_error}), the scan says ok"
        assert result["reason"], name


@pytest.mark.parametrize("name", sorted(CASES))
def test_probe_agrees_with_the_trainer(tmp_path, name):
    case = CASES[name]
    path = tmp_path / name
    path.write_bytes(case.build())
    decodes, error = trainer_decodes(path)
    result = _probe(path)
    _check_agrees(name, result, decodes, error)
    assert decodes == case.decodes, f"{name}: this Pillow judges it differently than the one measured ({error})"
    if decodes:
        assert result["phash"] and result["thumbnail"] and result["width"] and result["height"]
    else:
        assert case.reason in result["reason"], result["reason"]
        assert result["phash"] is None and result["thumbnail"] is None


def test_original_bug_damaged_zlib_with_exif_after_the_image_data(tmp_path):
    """The file from issue 12: indexed as ok with a perceptual hash; the trainer dies on it while caching."""
    path = tmp_path / "bug.png"
    path.write_bytes(CASES["png_zlib_damaged_exif_after_idat.png"].build())
    with pytest.raises(OSError, match="broken data stream"):
        with Image.open(path) as image:
            image.convert("RGB")
    result = _probe(path)
    assert (result["status"], result["phash"]) == ("broken", None)
    assert result["reason"] == "cannot decode PNG: broken data stream when reading image file"


def test_exif_is_still_read_after_the_full_decode(tmp_path):
    """Reading EXIF moved after the decode: an EXIF-rotated PNG still reports its orientation and upright size."""
    path = tmp_path / "rotated.png"
    path.write_bytes(damaged._png_exif_after_idat())
    result = _probe(path)
    assert (result["status"], result["orientation"]) == ("ok", 6)
    assert (result["width"], result["height"]) == (192, 256)


def _random_damage(data: bytes, rng: random.Random) -> bytes:
    """Cut, overwrite or splice a random stretch of a JPEG, somewhere after its headers."""
    start = data.index(b"\xff\xda")
    at = rng.randrange(start, len(data))
    kind = rng.choice(["cut", "overwrite", "splice"])
    if kind == "cut":
        return data[:at]
    garbage = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    if kind == "overwrite":
        return data[:at] + garbage + data[at + len(garbage):]
    return data[:at] + garbage + data[at:]


@pytest.mark.parametrize("progressive", [False, True], ids=["baseline", "progressive"])
def test_draft_decoding_rejects_what_a_full_decode_rejects(tmp_path, progressive):
    """The scan decodes JPEGs at 1/8 scale; random damage must still get the full decode's verdict.

    Measured over about 21,700 damaged JPEGs (docs/benchmarks.md: cuts at every 97th byte, bit flips, garbage
    runs, markers inside the scan, removed stretches): not one verdict differed. This keeps a sample.
    """
    rng = random.Random(12 if progressive else 7)
    source = damaged.good_jpeg(progressive)
    with Image.open(io.BytesIO(source)) as image:
        image.draft("RGB", (128, 128))
        assert image.size == (160, 128)  # the probe's own draft scale: 1/8
    verdicts = set()
    for index in range(24):
        path = tmp_path / f"fuzz_{index}.jpg"
        path.write_bytes(_random_damage(source, rng))
        decodes, error = trainer_decodes(path)
        _check_agrees(path.name, _probe(path), decodes, error)
        verdicts.add(decodes)
    assert verdicts == {True, False}  # the sample holds both kinds


def test_dataset_add_marks_exactly_the_files_the_trainer_cannot_load(cli, tmp_path):
    """The same files through a real `loratui dataset add` (scan worker processes, the database, the CLI)."""
    root = tmp_path / "data"
    paths = damaged.write_cases(root / "10_damaged")
    assert len(paths) >= 24  # enough for the scan to use worker processes rather than threads
    assert cli("dataset", "add", root, "--name", "damaged", "--workers", "2").code == 0
    images = {i["path"]: i for i in cli("dataset", "images", "damaged", "--json").json()}
    assert len(images) == len(paths)
    for name, path in paths.items():
        decodes, error = trainer_decodes(path)
        row = images[f"10_damaged/{name}"]
        _check_agrees(name, row, decodes, error)
        if not decodes:
            assert CASES[name].reason in row["reason"], row
    show = cli("dataset", "show", "damaged", "--json").json()
    assert show["broken"] == sum(not case.decodes for case in CASES.values())
