"""TOML that every reader loratui writes for reads back the same: ``tomllib`` and the ``toml`` 0.10 reader.

sd-scripts and musubi-tuner read their ``--config_file`` / ``--dataset_config`` with the ``toml`` 0.10 package,
whose reader is a pile of heuristics over raw text. ``dumps`` writes only the constructs it reads correctly:

* one ``key = value`` per line; every table gets its own ``[header]`` (the reader tracks implicitly created
  tables by bare name, so ``[a.b]`` without ``[a]`` can clash with another table named ``a``); arrays of tables
  as ``[[name]]``; no inline tables, no dotted keys, no multi-line strings;
* strings as basic strings with ``\\"``, ``\\\\``, ``\\b \\t \\n \\f \\r`` and ``\\u00XX`` for other control
  characters. Never ``\\u`` for ``"`` or ``\\``: the reader decodes ``\\u`` escapes first and then unescapes
  again, so ``"\\u005cn"`` comes back as a newline;
* a string starting with ``""`` (or just ``"``) loses characters in the reader whatever the escaping, so it is
  written as a literal string ``'...'``;
* arrays are split on commas before strings are found: a comma that comes first in an element (after only
  blanks) is written ``\\u002c``; nested arrays are split on brackets counted even inside strings, so strings in
  them write ``[`` and ``]`` as ``\\u005b`` / ``\\u005d``; an array holds one type (the reader refuses
  ``[1, 2.0]``);
* quoted keys never hold ``"``, ``\\`` or control characters (the reader does not unescape keys), and keys in a
  ``[header]`` are never empty.

Anything outside that (``nan``, ``None``, mixed arrays, a string no form can carry) raises ``ConfigError``
rather than writing a file that sd-scripts would read differently. ``-0.0`` is written as ``0.0``: the old
reader drops the sign. Within a table, plain values come before sub-tables (TOML cannot go back to a parent
table); otherwise the input's key order is kept.

``edit`` rewrites an existing document to hold new data while keeping the user's comments, key order and
formatting (with ``tomlkit``); every value it writes uses the forms above.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from loratui.errors import ConfigError
from loratui.fsutil import atomic_write_text

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["dumps", "edit", "save", "tomllib"]

# tomlkit is imported inside the functions that edit: it costs about 25 ms at start-up and only edits need it.
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


class _Refused(Exception):
    """A value `dumps` will not write; turned into ConfigError naming the key."""


def _is_control(ch: str) -> bool:
    code = ord(ch)
    return code < 0x20 or 0x7F <= code <= 0x9F


def _check_text(text: str) -> None:
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
        raise _Refused("holds a lone surrogate (not valid Unicode text)")


def _string(text: str, *, in_array: bool = False, nested: bool = False) -> str:
    """`text` as a TOML string both readers decode back to `text`."""
    _check_text(text)
    if text[:1] == '"' and text[1:2] in ('"', ""):
        return _literal(text, in_array=in_array, nested=nested)
    hex_escaped = set()
    leading_blank = in_array
    for index, ch in enumerate(text):
        if ch not in _SHORT_ESCAPES and (_is_control(ch) or (nested and ch in "[]") or (ch == "," and leading_blank)):
            hex_escaped.add(index)
        leading_blank = leading_blank and ch.isspace()
    # The old reader decodes \u escapes, then loses track of a literal backslash-u that follows one (likewise
    # for \U); each pass leaves the other letter alone, so a text holding a backslash-u gets \U escapes.
    if not hex_escaped or "\\u" not in text:
        prefix, width = "u", 4
    elif "\\U" not in text:
        prefix, width = "U", 8
    else:
        raise _Refused("needs an escape and holds both a backslash-u and a backslash-U, "
                       "which sd-scripts' TOML reader cannot read back together")
    out = []
    for index, ch in enumerate(text):
        if ch in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[ch])
        elif index in hex_escaped:
            out.append(f"\\{prefix}{ord(ch):0{width}x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _literal(text: str, *, in_array: bool, nested: bool) -> str:
    """`text` (which starts with two double quotes, or is one) as a literal string, where one can carry it."""
    if "'" in text or any(_is_control(ch) or ch == "\t" for ch in text):
        raise _Refused("starts with \"\" and holds a ' or a control character: "
                       "sd-scripts' TOML reader cannot read it back in any form")
    # When it splits an array, toml 0.10 takes a backslash before the closing quote for an escape.
    if (in_array and text.endswith("\\")) or (nested and any(ch in "[]" for ch in text)):
        raise _Refused("starts with \"\" and sits in an array ending with a backslash or in a nested array: "
                       "sd-scripts' TOML reader cannot read it back in any form")
    return f"'{text}'"


def _key(key: Any, *, header: bool = False) -> str:
    if not isinstance(key, str):
        raise _Refused(f"key {key!r} is not text")
    if _BARE_KEY.fullmatch(key):
        return key
    _check_text(key)
    if any(_is_control(ch) or ch in '"\\' for ch in key):
        raise _Refused(f"key {key!r} holds a quote, backslash or control character, "
                       "which sd-scripts' TOML reader does not decode in keys")
    if header and not key:
        raise _Refused("an empty key cannot name a table for sd-scripts' TOML reader")
    if "." in key and any(part != part.strip() for part in key.split(".")):
        raise _Refused(f"key {key!r} has blanks next to a dot or at an end, which sd-scripts' TOML reader strips")
    return f'"{key}"'


def _float(value: float) -> str:
    if math.isnan(value):
        raise _Refused("is nan (not a number), which cannot be compared or trained with")
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == 0.0:
        return "0.0"  # also for -0.0: the toml 0.10 reader drops the sign
    return repr(value)  # always has a "." or an exponent, which both readers take for a float


def _kind(value: Any) -> str:
    """The type name the toml 0.10 reader compares when it checks that an array holds one type."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "array"
    if isinstance(value, Mapping):
        return "table"
    return type(value).__name__


def _value(value: Any, *, in_array: bool = False, nested: bool = False) -> str:
    """A scalar or an array of scalars as TOML text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return _float(float(value))
    if isinstance(value, str):
        return _string(str(value), in_array=in_array, nested=nested)
    if isinstance(value, list):
        kinds = {_kind(item) for item in value}
        if len(kinds) > 1:
            raise _Refused(f"is an array mixing {' and '.join(sorted(kinds))}, "
                           "which sd-scripts' TOML reader refuses")
        if "table" in kinds:
            raise _Refused("is an array of tables inside an array, which loratui does not write")
        inner_nested = nested or kinds == {"array"}
        return "[" + ", ".join(_value(item, in_array=True, nested=inner_nested) for item in value) + "]"
    if value is None:
        raise _Refused("is None (TOML has no null: leave the key out)")
    raise _Refused(f"is a {type(value).__name__}, which loratui does not write to TOML")


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, Mapping) for item in value)


def _table(lines: list[str], path: list[str], names: list[str], data: Mapping, array: bool) -> None:
    """Append the lines of one table: its header, its plain values, then its sub-tables."""
    if names:
        if lines:
            lines.append("")
        header = ".".join(names)
        lines.append(f"[[{header}]]" if array else f"[{header}]")
    subtables = []
    for key, value in data.items():
        here = path + [str(key)]
        try:
            if isinstance(value, Mapping) or _is_table_array(value):
                subtables.append((key, value))
                continue
            lines.append(f"{_key(key)} = {_value(value)}")
        except _Refused as exc:
            raise ConfigError(f"cannot write {'.'.join(here)} as TOML: {exc}") from None
    for key, value in subtables:
        here = path + [str(key)]
        try:
            name = _key(key, header=True)
        except _Refused as exc:
            raise ConfigError(f"cannot write {'.'.join(here)} as TOML: {exc}") from None
        if isinstance(value, Mapping):
            _table(lines, here, names + [name], value, array=False)
        else:
            for item in value:
                _table(lines, here, names + [name], item, array=True)


def dumps(data: Mapping[str, Any]) -> str:
    """TOML text for `data` that ``tomllib`` and the ``toml`` 0.10 reader both read back as `data`.

    Takes str, int, float, bool, lists and nested dicts (a list of dicts becomes an array of tables).
    Raises ConfigError naming the key for anything it cannot write faithfully (see the module docstring).
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"cannot write {type(data).__name__} as a TOML document (a table is needed)")
    lines: list[str] = []
    _table(lines, [], [], data, array=False)
    return "\n".join(lines) + "\n" if lines else ""


def _same(a: Any, b: Any) -> bool:
    """Equal values of equal TOML types (``1``, ``1.0`` and ``True`` differ; key order does not matter)."""
    if isinstance(a, Mapping) or isinstance(b, Mapping):
        return (isinstance(a, Mapping) and isinstance(b, Mapping) and a.keys() == b.keys()
                and all(_same(a[k], b[k]) for k in a))
    if isinstance(a, list) or isinstance(b, list):
        return (isinstance(a, list) and isinstance(b, list) and len(a) == len(b)
                and all(_same(x, y) for x, y in zip(a, b)))
    return _kind(a) == _kind(b) and a == b


def _new_item(key: str, value: Any):
    """A tomlkit item for `value` whose text is `dumps`' own (tomlkit's string writer is not used)."""
    import tomlkit

    if isinstance(value, Mapping) or _is_table_array(value):
        return tomlkit.parse(dumps({key: value}))[key]
    return tomlkit.value(_value(value))


def _holds_tables(value: Any) -> bool:
    if isinstance(value, Mapping):
        return any(isinstance(v, Mapping) or _is_table_array(v) for v in value.values())
    return False


def _merge(container, data: Mapping[str, Any]) -> None:
    """Make the tomlkit `container` hold `data`: untouched keys keep their text and comments, new ones go last."""
    from tomlkit.items import AoT, InlineTable

    for key in [k for k in container if k not in data]:
        del container[key]
    for key, value in data.items():
        if key not in container:
            container[key] = _new_item(key, value)
            continue
        old = container[key]
        if isinstance(value, Mapping) and isinstance(old, Mapping) \
                and not (isinstance(old, InlineTable) and _holds_tables(value)):
            _merge(old, value)
        elif _is_table_array(value) and isinstance(old, AoT) and len(old) == len(value):
            for table, item in zip(old, value):
                _merge(table, item)
        elif _same(old.unwrap() if hasattr(old, "unwrap") else old, value):  # booleans come back as bool
            continue
        elif isinstance(old, Mapping) or isinstance(old, AoT) or isinstance(value, Mapping) or _is_table_array(value):
            del container[key]  # a table becomes a value or the other way round: it moves to the end
            container[key] = _new_item(key, value)
        else:
            container[key] = _new_item(key, value)  # replaced in place; tomlkit keeps the line's comment


def _merged(doc, data: Mapping[str, Any], fresh: str) -> str:
    """`doc` changed to hold `data`, or `fresh` when tomlkit could not place a change faithfully."""
    _merge(doc, data)
    text = doc.as_string()
    try:
        if _same(tomllib.loads(text), data):
            return text
    except tomllib.TOMLDecodeError:
        pass
    return fresh


def _parse_document(text: str):
    """The tomlkit document for `text`, or None when it is not TOML."""
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    try:
        return tomlkit.parse(text)
    except (TOMLKitError, ValueError):
        return None


def edit(text: str, data: Mapping[str, Any]) -> str:
    """`text` (a TOML document a person may have written) rewritten to hold exactly `data`.

    Keys that keep their value keep their text, comments and order; changed values are replaced in place
    (keeping the line's comment); keys missing from `data` are removed and new ones are added at the end of their
    table. Every value written uses `dumps`' forms. If tomlkit cannot place a change so that the result reads back
    as `data`, the result is ``dumps(data)``. ConfigError if `text` is not TOML or `data` cannot be written.
    """
    fresh = dumps(data)
    doc = _parse_document(text)
    if doc is None:
        raise ConfigError("cannot edit the TOML document: it does not parse")
    return _merged(doc, data, fresh)


def save(path: str | Path, data: Mapping[str, Any]) -> Path:
    """Write `data` to the TOML file `path` atomically, as `edit` does when the file exists and parses.

    A missing, unreadable or broken file is replaced by ``dumps(data)``. Returns the path written.
    """
    path = Path(path).expanduser()
    text = dumps(data)
    try:
        old = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        old = None
    doc = _parse_document(old) if old is not None else None
    if doc is not None:
        text = _merged(doc, data, text)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)
    return path
