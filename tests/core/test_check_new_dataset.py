"""`service.check_new_dataset`: the refusals `add_dataset` would make, told before any scan or write (the TUI's
add-dataset dialog keeps itself open with them, issue 14)."""

from __future__ import annotations

import pytest

from loratui.datasets import service
from loratui.errors import DatasetError, InputError, NotFoundError
from loratui.store import Store
from tests.conftest import make_image
from tests.dbutil import scalar as db_scalar


async def test_check_new_dataset_refuses_what_add_would_and_writes_nothing(tmp_path):
    real = tmp_path / "real"
    make_image(real / "10_photos" / "a.png")
    other = tmp_path / "other" / "real"  # same folder name, so the same default dataset name
    make_image(other / "b.png")
    (tmp_path / "file.txt").write_text("x", encoding="utf-8")
    async with Store.open(tmp_path / "db") as store:
        assert await service.check_new_dataset(store, str(real) + "/") == (real.resolve(), "real")
        assert await db_scalar(store, "SELECT count(*) FROM datasets") == 0
        with pytest.raises(NotFoundError, match="does not exist"):
            await service.check_new_dataset(store, tmp_path / "nope")
        with pytest.raises(DatasetError, match="is not a folder"):
            await service.check_new_dataset(store, tmp_path / "file.txt")

        await service.add_dataset(store, real, workers=1)
        with pytest.raises(InputError, match="is already registered as dataset 'real'"):
            await service.check_new_dataset(store, real, name="mine")  # the folder, under another name
        with pytest.raises(InputError, match="a dataset named 'real' already exists") as named:
            await service.check_new_dataset(store, other)
        assert "--name" in named.value.one_line()
        assert await service.check_new_dataset(store, other, name="real2") == (other.resolve(), "real2")
