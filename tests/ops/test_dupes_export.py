"""Duplicate groups on real images (and moving them, undoably), and the export layouts."""

import json
import random
import zipfile

import pytest
from PIL import Image

from loratui.datasets.dedupe import near_groups
from loratui.datasets.service import add_dataset
from loratui.errors import InputError
from loratui.store import Store


def _noise(path, seed, size=(96, 64)):
    rng = random.Random(seed)
    image = Image.new("L", (12, 8))
    image.putdata([rng.randrange(256) for _ in range(96)])
    path.parent.mkdir(parents=True, exist_ok=True)
    image.resize(size, Image.Resampling.BICUBIC).convert("RGB").save(path)
    return path


@pytest.fixture
def dupes_dir(tmp_path):
    root = tmp_path / "dd"
    a = _noise(root / "10_x/a.png", 1)
    (root / "10_x/a_copy.png").write_bytes(a.read_bytes())  # exact
    Image.open(a).resize((192, 128)).save(root / "10_x/a_big.jpg", quality=90)  # near: same picture, bigger
    _noise(root / "10_x/b.png", 2)
    _noise(root / "10_x/c.png", 3)
    for name in ("a", "a_copy", "a_big", "b", "c"):
        (root / f"10_x/{name}.txt").write_text(f"{name}, tag")
    return root


def test_near_groups_pure():
    base = 0x0123456789ABCDEF
    hashes = [base, base ^ 0b111, 0xFFFF000000000000, base ^ 0b1, 0xFFFF000000000001, 0x5555555555555555]
    assert near_groups(hashes, 3) == [[0, 1, 3], [2, 4]]
    assert near_groups(hashes, 2) == [[0, 1, 3], [2, 4]]  # 1 is 3 bits from 0 but 2 from 3: a chain
    assert near_groups(hashes, 1) == [[0, 3], [2, 4]]
    assert near_groups(hashes, 0) == []
    with pytest.raises(InputError):
        near_groups(hashes, 40)


def test_cli_dupes_groups_and_move_undo(cli, dupes_dir, home):
    assert cli("dataset", "add", dupes_dir, "--name", "dd", "--workers", "1").code == 0
    data = cli("dataset", "dupes", "dd", "--json").json()
    kinds = {g["kind"]: sorted(i["rel_path"] for i in g["images"]) for g in data["groups"]}
    assert kinds["exact"] == ["10_x/a.png", "10_x/a_copy.png"]
    assert kinds["near"] == ["10_x/a.png", "10_x/a_big.jpg", "10_x/a_copy.png"]
    assert len(data["groups"]) == 2
    assert [g["kind"] for g in cli("dataset", "dupes", "dd", "--exact", "--json").json()["groups"]] == ["exact"]
    assert cli("dataset", "dupes", "dd", "--max-distance", "99").code == 2

    moved = cli("dataset", "dupes", "dd", "--move", "--json").json()["moved"]
    assert moved["files"] == 4  # two images + their captions
    assert (dupes_dir / "_duplicates/10_x/a_copy.png").exists() and (dupes_dir / "_duplicates/10_x/a_big.txt").exists()
    assert not (dupes_dir / "10_x/a_copy.png").exists() and (dupes_dir / "10_x/a.png").exists()
    assert cli("dataset", "dupes", "dd", "--json").json()["groups"] == []
    assert cli("tags", "dd", "undo").code == 0
    assert (dupes_dir / "10_x/a_copy.png").exists() and (dupes_dir / "10_x/a_big.txt").read_text() == "a_big, tag"
    assert len(cli("dataset", "dupes", "dd", "--json").json()["groups"]) == 2
    assert cli("tags", "dd", "redo").code == 0
    assert not (dupes_dir / "10_x/a_big.jpg").exists()


async def test_export_layouts(tmp_path, dupes_dir, home):
    from loratui.datasets.export import export_dataset

    async with Store.open(home / "loratui.db") as store:
        dataset, _ = await add_dataset(store, dupes_dir, name="dd", workers=1)
        kohya = await export_dataset(store, dataset, tmp_path / "k", fmt="kohya")
        assert kohya.images == 5 and kohya.captions == 5
        assert (tmp_path / "k/10_x/a.txt").read_text() == "a, tag"
        hf = await export_dataset(store, dataset, tmp_path / "h", fmt="hf", max_side=48)
        lines = [json.loads(l) for l in (tmp_path / "h/metadata.jsonl").read_text().splitlines()]
        assert {"file_name": "10_x/a.png", "text": "a, tag"} in lines and len(lines) == 5
        assert max(Image.open(tmp_path / "h/10_x/a_big.jpg").size) == 48 and hf.resized == 5
        z = await export_dataset(store, dataset, tmp_path / "out.zip", fmt="zip", where="tag:b")
        assert z.images == 1
        assert sorted(zipfile.ZipFile(tmp_path / "out.zip").namelist()) == ["10_x/b.png", "10_x/b.txt"]
        with pytest.raises(InputError, match="not an empty folder"):
            await export_dataset(store, dataset, tmp_path / "k", fmt="kohya")


def test_cli_export_of_a_flat_folder(tmp_path, cli):
    flat = tmp_path / "flat"
    _noise(flat / "one.png", 9)
    assert cli("dataset", "add", flat, "--name", "flat set", "--workers", "1").code == 0
    result = cli("dataset", "export", "flat set", tmp_path / "fk", "--json")
    assert result.code == 0, result
    assert (tmp_path / "fk/1_flat_set/one.png").exists()
