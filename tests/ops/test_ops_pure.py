"""The pure tag-list operations and the spec -> transform builder."""

import pytest

from loratui.datasets import ops
from loratui.errors import InputError

TAGS = ["1girl", "solo", "red hair", "smile"]


def test_add_positions():
    assert ops.add_tag(TAGS, "ohwx", "start") == ["ohwx", *TAGS]
    assert ops.add_tag(TAGS, "ohwx", "end") == [*TAGS, "ohwx"]
    assert ops.add_tag(TAGS, "ohwx", 1) == ["1girl", "ohwx", "solo", "red hair", "smile"]
    assert ops.add_tag(TAGS, "ohwx", 99)[-1] == "ohwx"
    # already present: moved, not duplicated
    assert ops.add_tag(TAGS, "smile", "start") == ["smile", "1girl", "solo", "red hair"]
    with pytest.raises(InputError):
        ops.add_tag(TAGS, "  ")
    with pytest.raises(InputError):
        ops.add_tag(TAGS, "x", "middle")


def test_remove_replace_merge():
    assert ops.remove_tags(TAGS, ["solo", "smile"]) == ["1girl", "red hair"]
    assert ops.replace_tag(TAGS, "red hair", "crimson hair") == ["1girl", "solo", "crimson hair", "smile"]
    assert ops.replace_tag(TAGS, "solo", "1girl") == ["1girl", "red hair", "smile"]  # rename into a repeat
    assert ops.replace_tag(TAGS, "", "", regex=ops.compile_regex(r"(\w+) hair")) == ["1girl", "solo", "smile"]
    assert ops.replace_tag(TAGS, "", r"hair_\1", regex=ops.compile_regex(r"(\w+) hair")) == \
        ["1girl", "solo", "hair_red", "smile"]
    assert ops.replace_tag(TAGS, "", "a, b", regex=ops.compile_regex("^smile$"))[-2:] == ["a", "b"]
    assert ops.merge_tags(["a", "smiling", "b", "smile"], ["smiling", "grin"], "smile") == ["a", "smile", "b"]


def test_dedupe_strip_sort():
    assert ops.dedupe_tags(["a", "b", "a", "c", "b"]) == ["a", "b", "c"]
    assert ops.strip_tags(["  a  ", "", "b   c", " "]) == ["a", "b c"]
    assert ops.sort_tags(["b", "C", "a"]) == ["a", "b", "C"]
    assert ops.sort_tags(["ohwx", "b", "a"], keep=1) == ["ohwx", "a", "b"]
    assert ops.sort_tags(["x", "y", "z"], by="frequency", frequency={"z": 5, "y": 2}) == ["z", "y", "x"]
    with pytest.raises(InputError):
        ops.sort_tags(["a"], by="size")


def test_bad_regex_is_input_error_with_position():
    with pytest.raises(InputError, match=r"does not compile.*position 4"):
        ops.compile_regex("abc(d")
    with pytest.raises(InputError, match="does not compile"):
        ops.validate_spec({"op": "replace", "old": "[unclosed", "new": "x", "regex": True})
    with pytest.raises(InputError, match="not valid for this regex"):
        ops.validate_spec({"op": "replace", "old": "(a)", "new": r"\2", "regex": True})


def test_transform_keeps_untouched_text_and_creates_missing():
    prose = "A photo of a woman,  standing in the rain"
    remove = ops.build_transform({"op": "remove", "tags": ["solo"]})
    assert remove(prose) is prose  # tags unchanged: text kept byte for byte
    assert remove(None) is None
    add = ops.build_transform({"op": "add", "tag": "ohwx", "position": "start"})
    assert add(None) == "ohwx"
    assert add("a,b") == "ohwx, a, b"
    text = ops.build_transform({"op": "replace", "old": "rain", "new": "snow", "text": True})
    assert text(prose) == "A photo of a woman,  standing in the snow"
    strip = ops.build_transform({"op": "strip"})
    assert strip("a,, b ,c") == "a, b, c"
    with pytest.raises(InputError, match="unknown operation"):
        ops.build_transform({"op": "explode"})
