"""Batch tag operations keep what the user's files had (issue 14): the trailing newline and the encoding, and
they never create a caption file for a broken image."""

from __future__ import annotations

import codecs

import pytest

from loratui.datasets import ops
from loratui.datasets.codec import decode_caption
from tests.conftest import make_image

FILES = {
    "lf.png": "a, b\n".encode("utf-8"),
    "crlf.png": "c, d\r\n".encode("utf-8"),
    "two.png": "e\n\n".encode("utf-8"),
    "none.png": "f".encode("utf-8"),
    "cp1252.png": "café, g\r\n".encode("cp1252"),
    "utf16.png": codecs.BOM_UTF16_LE + "h, ü\n".encode("utf-16-le"),
    "bom.png": codecs.BOM_UTF8 + "i\n".encode("utf-8"),
}
EXPECTED = {
    "lf.png": "a, b, z\n".encode("utf-8"),
    "crlf.png": "c, d, z\r\n".encode("utf-8"),
    "two.png": "e, z\n\n".encode("utf-8"),
    "none.png": "f, z".encode("utf-8"),
    "cp1252.png": "café, g, z\r\n".encode("cp1252"),
    "utf16.png": codecs.BOM_UTF16_LE + "h, ü, z\n".encode("utf-16-le"),
    "bom.png": codecs.BOM_UTF8 + "i, z\n".encode("utf-8"),
}


@pytest.fixture
def dataset(tmp_path, cli):
    folder = tmp_path / "bytes"
    for index, (name, data) in enumerate(FILES.items()):
        make_image(folder / name, color=(20 * index, 40, 200 - 20 * index))
        (folder / name).with_suffix(".txt").write_bytes(data)
    assert cli("dataset", "add", folder, "--workers", "1").code == 0
    return folder


def _captions(folder) -> dict[str, bytes]:
    return {name: (folder / name).with_suffix(".txt").read_bytes() for name in FILES}


def test_tags_add_keeps_trailing_newlines_and_encodings(dataset, cli):
    """Before: every rewritten caption lost its trailing newline ("a, b\\n" became "a, b, z")."""
    result = cli("tags", "bytes", "add", "z", "--json")
    assert result.code == 0 and result.json()["changed"] == len(FILES), result
    assert _captions(dataset) == EXPECTED
    assert cli("tags", "bytes", "undo").code == 0
    assert _captions(dataset) == FILES  # byte for byte


@pytest.mark.parametrize("args", [["remove", "z"], ["sort"], ["replace", "z", "zz"], ["merge", "z", "--into", "y"],
                                  ["dedupe"], ["strip"]])
def test_every_tag_operation_keeps_them(dataset, cli, args):
    assert cli("tags", "bytes", "add", "z").code == 0
    assert cli("tags", "bytes", *args).code == 0
    for name, data in _captions(dataset).items():
        text, encoding, _warning = decode_caption(data)
        original, original_encoding, _warning = decode_caption(FILES[name])
        assert (ops.line_end(text), encoding) == (ops.line_end(original), original_encoding), name  # BOMs too


def test_line_end():
    assert ops.line_end("a\r\n") == "\r\n" and ops.line_end("a\n\n") == "\n\n" and ops.line_end("a") == ""
    assert ops.line_end(None) == "" and ops.line_end("a\nb") == ""
    assert ops.build_transform({"op": "remove", "tags": ["b"]})("a, b\r\n") == "a\r\n"
    assert ops.build_transform({"op": "add", "tag": "x"})(None) == "x"


def test_no_caption_file_for_a_broken_image(tmp_path, cli):
    """Before: `tags add` wrote a caption next to an image that cannot be read."""
    folder = tmp_path / "mixed"
    make_image(folder / "good.png")
    (folder / "broken.png").write_bytes(b"not an image at all")
    (folder / "broken_captioned.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (folder / "broken_captioned.txt").write_text("old\n", encoding="utf-8")
    assert cli("dataset", "add", folder, "--workers", "1").code == 0

    dry = cli("tags", "mixed", "add", "ohwx", "--dry-run", "--json").json()
    assert [s["path"] for s in dry["skipped"]] == ["broken.png"] and "broken" in dry["skipped"][0]["reason"]
    text = cli("tags", "mixed", "add", "ohwx", "--dry-run")
    assert "would skip broken.png: the image is broken" in text.err

    applied = cli("tags", "mixed", "add", "ohwx", "--json")
    assert applied.code == 0, applied
    report = applied.json()
    assert report["changed"] == 2  # good.png (new caption) and the broken image's existing caption
    assert {s["path"] for s in report["skipped"]} == {"broken.png"}
    assert not (folder / "broken.txt").exists()
    assert (folder / "good.txt").read_text() == "ohwx"
    assert (folder / "broken_captioned.txt").read_text() == "old, ohwx\n"
    human = cli("tags", "mixed", "add", "second")
    assert "skipped broken.png: the image is broken" in human.err and not (folder / "broken.txt").exists()
