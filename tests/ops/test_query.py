"""The query language: parsing, error positions, and selecting real rows."""

import pytest

from loratui.datasets import image_repo
from loratui.datasets.query import QueryError, compile_query, estimate_clip_tokens
from loratui.errors import InputError
from tests.dbutil import row as db_row, rows as db_rows


@pytest.mark.parametrize("text, position, reason", [
    ("tag:a (tag:b", 7, "is never closed"),
    ("tags>x", 6, "whole number"),
    ("solo", 1, "did you mean tag:solo"),
    ("tag:a AND", 10, "missing at the end"),
    ("tag:a )", 7, "unbalanced"),
    ('caption:"abc', 9, "unterminated quote"),
    ("bucket:12", 8, "WIDTHxHEIGHT"),
    ("color:red", 1, "unknown field"),
    ("OR tag:a", 1, "missing before OR"),
    ("-", 1, "must be followed"),
])
def test_parse_errors_point_at_the_position(text, position, reason):
    with pytest.raises(QueryError) as info:
        compile_query(text)
    error = info.value
    assert isinstance(error, InputError)
    assert error.position + 1 == position
    assert reason in error.message
    assert f"position {position}" in error.one_line()
    assert error.caret().splitlines()[1].index("^") == position - 1


def test_multiword_tags_and_precedence():
    sql, params = compile_query("tag:red hair -tag:solo OR tags>=3")
    assert params == ["red hair", "solo", 3]
    assert sql.startswith("((images.id IN") and " OR tag_count >= ?" in sql


def test_clip_token_estimate():
    assert estimate_clip_tokens("") == 0
    assert estimate_clip_tokens("1girl, solo") == 4  # 1 | girl | , | solo: digits split like CLIP
    long = ", ".join(["long hair"] * 30)
    assert estimate_clip_tokens(long) > 75


async def _paths(store, dataset, query):
    ids = await store.run(image_repo.select_ids, dataset.id, query)
    if not ids:
        return []
    rows = await db_rows(store, f"SELECT rel_path FROM images WHERE id IN ({','.join('?' * len(ids))}) "
                                "ORDER BY rel_path", ids)
    return [r[0] for r in rows]


async def test_select_on_real_dataset(opened, dataset_dir):
    store, dataset = opened
    assert await _paths(store, dataset, "tag:red hair") == ["10_char/a.png", "10_char/c.png"]
    assert await _paths(store, dataset, "tag:red hair -tag:solo") == ["10_char/c.png"]
    assert await _paths(store, dataset, "tag:solo AND NOT (tag:smile OR tag:sky)") == ["10_char/b.png"]
    assert await _paths(store, dataset, "tags>3") == ["10_char/a.png", "10_char/b.png"]
    assert await _paths(store, dataset, 'caption:"LOOKING at"') == ["10_char/b.png"]
    assert await _paths(store, dataset, "subset:5_style") == ["5_style/d.png"]
    assert await _paths(store, dataset, "tag:*hair") == ["10_char/a.png", "10_char/b.png", "10_char/c.png"]
    assert await _paths(store, dataset, "w<64") == []
    assert len(await _paths(store, dataset, "w=64 h=48 ok")) == 4
    assert await _paths(store, dataset, "tokens>10") == ["10_char/b.png"]
    assert await _paths(store, dataset, "broken OR dupe OR no:caption") == []
    bucket = (await db_row(store, "SELECT bucket FROM images LIMIT 1"))[0]
    assert len(await _paths(store, dataset, f"bucket:{bucket}")) == 4
    # no:caption, dupe and broken on changed files
    (dataset_dir / "10_char/a.txt").unlink()
    (dataset_dir / "5_style/e.png").write_bytes((dataset_dir / "5_style/d.png").read_bytes())
    (dataset_dir / "5_style/f.png").write_bytes(b"not an image")
    from loratui.datasets.service import rescan_dataset

    await rescan_dataset(store, "ds", workers=1)
    assert await _paths(store, dataset, "no:caption") == ["10_char/a.png", "5_style/e.png", "5_style/f.png"]
    assert await _paths(store, dataset, "dupe") == ["5_style/d.png", "5_style/e.png"]
    assert await _paths(store, dataset, "broken") == ["5_style/f.png"]


async def test_filter_box_accepts_plain_words_and_queries(opened):
    from loratui.datasets.query import looks_like_query

    store, dataset = opened
    assert await store.run(image_repo.filter_ids, dataset.id, "  ") is None
    plain = await store.run(image_repo.filter_ids, dataset.id, "HAIR 10_char")  # substrings of path/caption/tag
    assert len(plain) == 3
    assert await store.run(image_repo.filter_ids, dataset.id, "tag:solo -tag:smile") == set(
        await store.run(image_repo.select_ids, dataset.id, "tag:solo -tag:smile"))
    assert not looks_like_query("red hair") and looks_like_query("tags>3")
    with pytest.raises(QueryError):
        await store.run(image_repo.filter_ids, dataset.id, "tag:a (")
