"""Untrusted text (file names, tags, dataset and workspace names) reaches the terminal only as visible escapes."""

from __future__ import annotations

import re

import pytest

from loratui.text import literal, literal_stream
from tests.conftest import make_image

HOSTILE_FILES = ["clear\x1b[2Jscreen.png", "bell\x07.png", "carriage\rreturn.png", "csi\x9b31m.png", "del\x7f.png"]
HOSTILE_TAG = "tag\x1b]0;owned\x07"
DATASET = "ds\x1b[31m"
WORKSPACE = "ws\x1b[?1049h"
RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")
"""Any control character but the newline."""


def test_literal_escapes_every_control_character():
    assert literal("plain text, ünïcode, 日本語 and emoji 🎨") == "plain text, ünïcode, 日本語 and emoji 🎨"
    assert literal("a\x1b[2Jb\x07c\rd\x9be\x7ff\tg\nh") == "a\\x1b[2Jb\\x07c\\rd\\x9be\\x7ff\\tg\\nh"
    assert literal("one\ntwo\x1b", newlines=True) == "one\ntwo\\x1b"
    assert literal("rtl\u202eevil") == "rtl\\u202eevil"
    assert literal(42) == "42"
    assert literal_stream("step 1\rstep 2\x1b[1A\tx\n") == "step 1\rstep 2\\x1b[1A\tx\n"


@pytest.fixture
def hostile(cli, tmp_path):
    """A dataset named with ESC in a workspace named with ESC, holding files and tags with control characters."""
    data = tmp_path / "data"
    for index, name in enumerate(HOSTILE_FILES):
        make_image(data / name, color=(40 * index, 90, 200))
        (data / name).with_suffix(".txt").write_text(f"{HOSTILE_TAG}, plain tag")
    result = cli("dataset", "add", data, "--name", DATASET, "--workspace", WORKSPACE, "--workers", "1")
    assert result.code == 0, result
    assert not RAW_CONTROL.search(result.out + result.err), result
    return data


@pytest.mark.parametrize("args", [
    ["dataset", "list"],
    ["dataset", "show", DATASET],
    ["dataset", "images", DATASET],
    ["tags", DATASET, "list"],
    ["tags", DATASET, "add", "new\x1b[5mtag", "--dry-run"],
    ["tags", DATASET, "remove", HOSTILE_TAG, "--dry-run"],
])
def test_cli_output_has_no_raw_control_characters(cli, hostile, args):
    result = cli(*args)
    assert result.code == 0, result
    assert not RAW_CONTROL.search(result.out + result.err), repr(result.out + result.err)
    assert "\\x1b" in result.out + result.err  # shown, as an escape


def test_cli_json_keeps_the_real_names(cli, hostile):
    names = {row["name"] for row in cli("dataset", "list", "--json").json()}
    assert names == {DATASET}
    images = cli("dataset", "images", DATASET, "--json").json()
    assert sorted(row["path"] for row in images) == sorted(HOSTILE_FILES)
