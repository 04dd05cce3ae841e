"""loratui.tomlio: every file reads back the same with tomllib and with toml 0.10 (sd-scripts' and musubi's reader).

No normalisation is applied before comparing, except that `-0.0` is compared by sign (it is written as 0.0 on
purpose) and plain `==` is used for floats (hypothesis never produces nan here: nan is refused).
"""

from __future__ import annotations

import math

import pytest
import toml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from loratui.errors import ConfigError
from loratui.tomlio import dumps, edit, save, tomllib

REFUSALS = ("sd-scripts' TOML reader cannot read it back", "cannot read back together")
"""The only refusals a generated value may meet: strings that no TOML form carries through toml 0.10."""


def both(text: str):
    """The document as read by tomllib and by toml 0.10, asserting they agree."""
    new, old = tomllib.loads(text), toml.loads(text)
    assert new == old, f"readers disagree on:\n{text}"
    return new


def round_trip(data) -> str:
    text = dumps(data)
    assert both(text) == data, text
    return text


# -- generated data -----------------------------------------------------------------------------------------------

TRICKY = ['"', "\\", "'", ",", "[", "]", "{", "}", "#", "=", ".", " ", "\n", "\t", "\r", "\x00", "\x1f", "\x7f",
          "\x85", "\xa0", "\u2028", "\u3000", "e\u0301", "\U0001f600", "\\u", "\\U", '""', "0", "u", "n"]
text = st.lists(st.one_of(st.sampled_from(TRICKY), st.characters(blacklist_categories=("Cs",))),
                max_size=8).map("".join)
key_char = st.one_of(st.sampled_from(list("'.,[]#= _-éa1\U0001f600")),
                     st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters='"\\'))
key = st.one_of(st.from_regex(r"[A-Za-z0-9_-]{1,8}", fullmatch=True),
                st.text(key_char, min_size=1, max_size=6).filter(
                    lambda k: all(part == part.strip() for part in k.split("."))))
scalar = st.one_of(text, st.integers(min_value=-2**70, max_value=2**70), st.floats(allow_nan=False),
                   st.booleans())
array = st.one_of(st.lists(text, max_size=4), st.lists(st.integers(), max_size=3), st.lists(st.booleans(), max_size=2),
                  st.lists(st.floats(allow_nan=False), max_size=3), st.lists(st.lists(text, max_size=3), max_size=3))
value = st.one_of(scalar, array)
document = st.recursive(
    st.dictionaries(key, value, max_size=4),
    lambda inner: st.dictionaries(key, st.one_of(value, inner, st.lists(inner, min_size=1, max_size=2)), max_size=4),
    max_leaves=10)


def dumps_or_skip(data) -> str:
    try:
        return dumps(data)
    except ConfigError as exc:
        assert any(reason in str(exc) for reason in REFUSALS), exc
        assume(False)


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(document)
def test_generated_documents_read_back_identically(data):
    text = dumps_or_skip(data)
    assert both(text) == data, text


@st.composite
def changed(draw, table: dict) -> dict:
    """`table` with some keys kept, dropped, replaced or changed inside, and maybe new keys."""
    out = {}
    for name, item in table.items():
        action = draw(st.sampled_from(["keep", "keep", "drop", "replace", "inside"]))
        if action == "drop":
            continue
        if action == "replace":
            item = draw(value)
        elif action == "inside" and isinstance(item, dict):
            item = draw(changed(item))
        elif action == "inside" and isinstance(item, list) and item and all(isinstance(t, dict) for t in item):
            item = [draw(changed(t)) for t in item]
        out[name] = item
    out.update(draw(st.dictionaries(key, value, max_size=2)))
    return out


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(document, st.data(), st.randoms(use_true_random=False))
def test_edits_read_back_identically_and_keep_comments(before, data, rnd):
    lines = []
    for line in dumps_or_skip(before).split("\n")[:-1]:  # not splitlines(): U+2028 is no line break in TOML
        if rnd.random() < 0.4:
            lines.append("# a note")
        lines.append(line + ("  # trailing" if line and not line.startswith("[") and rnd.random() < 0.4 else ""))
    original = "\n".join(lines) + "\n"
    after = data.draw(st.one_of(changed(before), document))
    dumps_or_skip(after)
    text = edit(original, after)
    assert both(text) == after, text
    if after == before:
        assert text == original


# -- strings ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [
    "C:\\x\\y",                                  # what toml 0.10's writer turns into "C:\x\\y"
    r"(\d+)\s*[,;]\s*\\",                        # a regex given to a --replace-like option
    'a "quoted" prompt,\nsecond line\twith a tab',
    "\\", "\\\\", '\\"', 'x\\"y', "\\n", "\\u0041", "\\U0001F600", "C:\\users\\me", "C:\\Users\\Me",
    "", " ", "1", "1979-05-27", "true", "[1]", "a = b", "# not a comment", "{x = 1}",
    'ends with a quote"', '"starts with one', '"', '""', '"""', '""x""', "'", "'''", "it's",
    "é😀e\u0301\U0010ffff", "\u2028\u00a0\ufeff", "\x00\x01\x1f\x7f\x80\x9f", "\r\n",
    "\x01 then C:\\users",                       # a control character escaped as \U because of the backslash-u
])
def test_strings(value):
    round_trip({"a": value, "t": {"b": value}, "list": [value, "x", value]})


@pytest.mark.parametrize("value", [",", " ,x", ",x", "\u3000,", "a,b", ", ", '""', "[", "]", "a]b", "\\", ""])
def test_strings_in_arrays_and_nested_arrays(value):
    round_trip({"flat": [value], "pair": [value, value], "nested": [[value, "y"], [value], []]})


def test_first_comma_escaped_only_where_toml_010_would_split_the_element():
    assert dumps({"a": [",x", "a,b"]}) == 'a = ["\\u002cx", "a,b"]\n'


@pytest.mark.parametrize("value", ['""\'', '""\n', '""\x01', ['""x\\'], [['""[']]])
def test_strings_no_form_carries_are_refused(value):
    with pytest.raises(ConfigError, match="cannot read it back"):
        dumps({"a": value})
    round_trip({"a": '""x\\'})  # a literal string carries that one outside arrays


def test_backslash_u_and_backslash_u_with_an_escape_are_refused():
    with pytest.raises(ConfigError, match="cannot read back together"):
        dumps({"a": "\x01 C:\\users\\Users"})
    round_trip({"a": "C:\\users\\Users"})  # without a character to escape it is fine


def test_lone_surrogate_is_refused():
    with pytest.raises(ConfigError, match="surrogate"):
        dumps({"a": "\ud800"})


# -- numbers, booleans, arrays ------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [0, -1, 2**63 - 1, -2**63, 2**100, -2**100])
def test_integers(value):
    round_trip({"a": value, "b": [value, 1]})


@pytest.mark.parametrize("value", [0.0, 1.0, -2.5, 1e-4, 1e-05, 1.5e-07, 1e16, 1e300, 5e-324, 0.1, 1 / 3,
                                   float("inf"), float("-inf")])
def test_floats(value):
    text = round_trip({"a": value, "b": [value, 2.0]})
    assert isinstance(both(text)["a"], float)


def test_negative_zero_is_written_as_zero_because_toml_010_drops_the_sign():
    text = dumps({"a": -0.0})
    assert text == "a = 0.0\n"
    for read in (tomllib.loads(text), toml.loads(text)):
        assert math.copysign(1.0, read["a"]) == 1.0


def test_nan_is_refused_with_the_key_named():
    with pytest.raises(ConfigError, match=r"args\.learning_rate .*nan"):
        dumps({"args": {"learning_rate": float("nan")}})


def test_booleans_stay_booleans():
    data = round_trip({"a": True, "b": False, "c": [True, False], "d": 1})
    assert data == "a = true\nb = false\nc = [true, false]\nd = 1\n"


def test_empty_and_nested_arrays():
    round_trip({"empty": [], "nested": [[1, 2], [3]], "mixed_nesting": [[1], ["x"]], "empties": [[], []],
                "deep": [[[1]], [[2, 3]]]})


@pytest.mark.parametrize("value", [[1, 2.0], [1, "x"], [True, 1], [1, [2]], [{"a": 1}, 2]])
def test_mixed_arrays_are_refused(value):
    with pytest.raises(ConfigError, match="cannot write a as TOML"):
        dumps({"a": value})


@pytest.mark.parametrize("value", [None, (1, 2), {1, 2}, b"bytes"])
def test_values_toml_cannot_hold_are_refused(value):
    with pytest.raises(ConfigError, match="cannot write t.a as TOML"):
        dumps({"t": {"a": value}})


# -- keys and tables ----------------------------------------------------------------------------------------------

def test_keys_that_need_quoting():
    data = {"a b": 1, "a.b": 2, "é": 3, "": 4, "it's": 5, "x=y": 6, "#": 7, "[k]": 8, "1": 9, "true": 10,
            "t": {"a b": {"c.d": {"é": 1}}, "'": [{"x": 1}]}}
    text = round_trip(data)
    assert '"a.b" = 2' in text and '[t."a b"."c.d"]' in text


@pytest.mark.parametrize("bad", ['a"b', "a\\b", "tab\there", "new\nline", "\x7f", " a.b", "a .b"])
def test_keys_toml_010_misreads_are_refused(bad):
    with pytest.raises(ConfigError, match="key"):
        dumps({bad: 1})


def test_empty_key_cannot_name_a_table():
    with pytest.raises(ConfigError, match="empty key"):
        dumps({"": {"a": 1}})


def test_key_order_is_kept_and_values_come_before_tables():
    data = {"z": 1, "tab": {"y": 1, "x": 2}, "a": 2, "list": [{"b": 1, "a": 2}], "m": "x"}
    back = both(dumps(data))
    assert back == data
    assert list(back) == ["z", "a", "m", "tab", "list"]  # TOML cannot return to the root after a [table]
    assert list(back["tab"]) == ["y", "x"] and list(back["list"][0]) == ["b", "a"]
    plain = {"backend": "kohya", "family": "sdxl", "launch": {"b": 1}, "args": {"z": 1, "a": 2}}
    assert list(both(dumps(plain))) == list(plain)


def test_dataset_shape_with_arrays_of_tables():
    data = {
        "general": {"resolution": [1024, 1024], "caption_extension": ".txt", "enable_bucket": True},
        "datasets": [
            {"batch_size": 2, "subsets": [{"image_dir": "C:\\data\\10_a", "num_repeats": 10},
                                          {"image_dir": "/data/reg", "is_reg": True, "class_tokens": 'a "b"'}]},
            {"subsets": [{"image_dir": "/x", "extra": {"k": 1}}]},
            {},
        ],
    }
    text = round_trip(data)
    assert text.count("[[datasets]]") == 3 and text.count("[[datasets.subsets]]") == 3
    assert "[general]" in text and "[datasets.subsets.extra]" in text


def test_every_table_gets_a_header_so_toml_010_does_not_confuse_same_named_tables():
    data = {"t": {"d": {"x": {"k": 1}}}, "d": [{"a": 1}, {"a": 2}], "e": {}, "f": {"g": {}}}
    text = round_trip(data)
    assert "[t]\n" in text and "[t.d]\n" in text and "[e]\n" in text and "[f]\n" in text


def test_empty_document_and_non_table_input():
    assert dumps({}) == ""
    with pytest.raises(ConfigError):
        dumps(["not", "a", "table"])


# -- editing a file a person also edits ---------------------------------------------------------------------------

HAND_WRITTEN = """\
# my run: keep these notes
backend = "kohya"   # sd-scripts
family = "sdxl"
dataset = "mychar"

[args]
# the base model
pretrained_model_name_or_path = '/models/sdxl.safetensors'
network_dim = 16    # rank
learning_rate = 1e-4
output_dir = "/out"
"""


def test_edit_keeps_comments_order_and_untouched_formatting():
    data = tomllib.loads(HAND_WRITTEN)
    data["args"]["network_dim"] = 32
    data["args"]["caption_prefix"] = 'C:\\x\\y "q"'
    del data["args"]["output_dir"]
    text = edit(HAND_WRITTEN, data)
    assert both(text) == data
    assert "# my run: keep these notes" in text and "# the base model" in text
    assert "network_dim = 32    # rank" in text  # replaced in place, the line's comment kept
    assert "learning_rate = 1e-4" in text and "'/models/sdxl.safetensors'" in text  # not rewritten
    assert "output_dir" not in text
    assert list(tomllib.loads(text)["args"]) == ["pretrained_model_name_or_path", "network_dim", "learning_rate",
                                                  "caption_prefix"]


def test_edit_changes_types_and_tables():
    data = {"backend": 1.0, "dataset": {"nested": True}, "args": "now a string", "new": [{"a": 1}, {"a": 2}]}
    text = edit(HAND_WRITTEN, data)
    assert both(text) == data
    assert isinstance(both(text)["backend"], float)


def test_edit_values_in_inline_tables_and_arrays_of_tables():
    original = 'a = {x = 1, y = "k"}  # inline\n\n[[d]]\nv = 1 # first\n\n[[d]]\nv = 2\n'
    data = {"a": {"x": 2, "y": "k", "z": "C:\\q"}, "d": [{"v": 1}, {"v": 3, "w": "\\"}]}
    text = edit(original, data)
    assert both(text) == data and "# inline" in text and "v = 1 # first" in text
    data["a"] = {"x": 2, "sub": {"q": 1}}  # a table inside an inline table: the inline table is rewritten
    data["d"] = [{"v": 1}]
    assert both(edit(original, data)) == data


def test_edit_refuses_text_that_is_not_toml():
    with pytest.raises(ConfigError, match="does not parse"):
        edit("a = = 1", {"a": 1})


def test_save_edits_an_existing_file_and_replaces_a_broken_one(tmp_path):
    path = tmp_path / "run.toml"
    data = tomllib.loads(HAND_WRITTEN)
    data["args"]["network_dim"] = 8
    path.write_text(HAND_WRITTEN, encoding="utf-8")
    path.chmod(0o640)
    save(path, data)
    assert "# the base model" in path.read_text(encoding="utf-8") and both(path.read_text(encoding="utf-8")) == data
    assert path.stat().st_mode & 0o777 == 0o640  # written through atomic_write_text, which keeps the mode
    path.write_text("not [ toml", encoding="utf-8")
    save(path, data)
    assert path.read_text(encoding="utf-8") == dumps(data)
    new = save(tmp_path / "sub" / "new.toml", {"a": 1})
    assert new.read_text(encoding="utf-8") == "a = 1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.toml", "sub"]  # no temp files left behind
