"""Value conversions shared by the importers: numbers stored as strings, flags, argument lists, kwargs text."""

from __future__ import annotations

import math
import os
import shlex
from pathlib import Path
from typing import Any

from loratui.errors import ConfigError
from loratui.tomlio import tomllib
from loratui.training.schema import Option

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


class BadValue(ValueError):
    """A value that cannot be read as the type asked for."""


def number(value: Any, *, integer: bool = False) -> int | float | None:
    """`value` as a number: strings are parsed, '' and None give None; BadValue when it is not one."""
    if value is None or isinstance(value, bool):
        if isinstance(value, bool):
            raise BadValue(f"{value!r} is not a number")
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            parsed: int | float = int(text)
        except ValueError:
            try:
                parsed = float(text)
            except ValueError:
                raise BadValue(f"{value!r} is not a number") from None
        value = parsed
    if not isinstance(value, (int, float)) or (isinstance(value, float) and not math.isfinite(value)):
        raise BadValue(f"{value!r} is not a number")
    if integer:
        if isinstance(value, float) and not value.is_integer():
            raise BadValue(f"{value!r} is not a whole number")
        return int(value)
    return value


def flag(value: Any) -> bool:
    """A boolean from JSON/TOML/YAML: real booleans, 0/1 and the usual words."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    if value is None:
        return False
    raise BadValue(f"{value!r} is not true or false")


def is_empty(value: Any) -> bool:
    """What kohya_ss treats as 'not set': '', None, False and zero (its filter drops `value in ['', False, None]`,
    and 0 == False in Python)."""
    if value is None or value is False:
        return True
    if isinstance(value, str):
        return value.strip() == ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value == 0
    if isinstance(value, (list, tuple, dict)):
        return not value
    return False


def split_args(text: Any) -> list[str]:
    """A 'k=v k2=v2' text (kohya_ss's optimizer/scheduler/network args fields) as a list, quotes removed the way
    kohya_ss removes them (every double quote deleted, then split on white space)."""
    if text is None:
        return []
    if isinstance(text, list):
        return [str(v) for v in text]
    return str(text).replace('"', "").split()


def kwarg_text(value: Any) -> str:
    """How kohya_ss writes a value into network_args (Python's str(); whole floats as integers)."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def convert(option: Option | None, value: Any) -> tuple[Any, str]:
    """`value` as the trainer's option takes it, and a note when it had to be changed ('' otherwise).

    Strings holding numbers become numbers, integers become floats for float options, a text becomes a list for
    list options. BadValue when the value cannot be the option's type.
    """
    if option is None:
        return value, ""
    if option.is_list:
        if isinstance(value, str):
            items = shlex.split(value) if value.strip() else []
            note = "text split into a list"
        elif isinstance(value, (list, tuple)):
            items, note = list(value), ""
        else:
            items, note = [value], "made a one-element list"
        converted = []
        for item in items:
            one, item_note = _scalar(option, item)
            converted.append(one)
            note = note or item_note
        return converted, note
    if isinstance(value, (list, tuple)) and option.name != "resolution":
        if len(value) == 1:
            one, note = _scalar(option, value[0])
            return one, note or "one-element list made a value"
        raise BadValue(f"{option.name} takes one value, not a list")
    return _scalar(option, value)


def _scalar(option: Option, value: Any) -> tuple[Any, str]:
    kind = option.type
    if kind == "bool":
        if isinstance(value, bool):
            return value, ""
        return flag(value), "read as true/false"
    if kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value, ""
        parsed = number(value, integer=True)
        if parsed is None:
            raise BadValue(f"{value!r} is empty")
        return parsed, "string number parsed" if isinstance(value, str) else "whole number made an integer"
    if kind in ("float", "int_or_float"):
        if isinstance(value, bool):
            raise BadValue(f"{value!r} is not a number")
        if isinstance(value, float) or (kind == "int_or_float" and isinstance(value, int)):
            return value, ""
        if isinstance(value, int):
            return float(value), ""
        parsed = number(value)
        if parsed is None:
            raise BadValue(f"{value!r} is empty")
        if kind == "float":
            parsed = float(parsed)
        return parsed, "string number parsed"
    if kind == "str" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return value, ""
    if kind == "str" and isinstance(value, bool):
        return str(value).lower(), "written as text"
    return value, ""

def load_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file; ConfigError naming it when it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} cannot be read: {exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None


def resolve(value: Any, base: Path) -> Path:
    """A path from a config, relative ones taken from `base`; '..' folded away (as the trainer's open() would)."""
    path = Path(str(value)).expanduser()
    return Path(os.path.normpath(path if path.is_absolute() else base / path))


def resolve_in(value, base: Path, fallback: Path) -> Path:
    """`value` relative to `base` (the folder the trainer ran in), or to `fallback` (the file's own folder) when
    only that holds it."""
    path = resolve(value, base)
    if not path.exists() and resolve(value, fallback).exists():
        return resolve(value, fallback)
    return path
