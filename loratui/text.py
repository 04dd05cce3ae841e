"""Untrusted text shown literally: ``literal(text)`` makes control characters visible.

File names, captions, tags, dataset and workspace names and trainer log lines come from files and people that
loratui does not control. Printed raw, an ESC (``\\x1b[2J``), a C1 CSI (``\\x9b``), a BEL or a CR can clear the
screen, move the cursor, retitle the window or hide text; a bidirectional override can make a name read
backwards. Every front end passes such text through ``literal`` before it reaches a terminal, so what the user
sees is exactly what is stored: ``a\\x1b[2Jb`` is shown as the nine characters ``a\\x1b[2Jb``.

Escapes follow Python's notation: ``\\t``, ``\\n``, ``\\r`` for the usual three, ``\\xNN`` for the other C0
characters, DEL and C1, ``\\uNNNN`` for the Unicode line separators and bidirectional controls. JSON output needs
none of this (its encoder escapes control characters itself).
"""

from __future__ import annotations

import re

_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
_UNICODE = "\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069"  # line separators, bidirectional controls
_UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f{_UNICODE}]")
_UNSAFE_BUT_NEWLINE = re.compile(f"[\x00-\x09\x0b-\x1f\x7f-\x9f{_UNICODE}]")
_UNSAFE_BUT_LAYOUT = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_UNICODE}]")  # keeps \t \n \r


def _escape(match: re.Match) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def literal(text: object, *, newlines: bool = False) -> str:
    """`text` (``str()`` of it) with every control character shown as a visible escape.

    With ``newlines=True`` line breaks are kept (multi-line messages, captions in a dialog); everything else,
    tabs and carriage returns included, is escaped.
    """
    text = text if isinstance(text, str) else str(text)
    pattern = _UNSAFE_BUT_NEWLINE if newlines else _UNSAFE
    if pattern.search(text) is None:  # the common case: nothing to do, no copy
        return text
    return pattern.sub(_escape, text)


def literal_stream(text: str) -> str:
    """Text of a log stream (a trainer's output) for a terminal: newlines, tabs and the carriage returns of
    progress bars kept, every other control character (ESC above all) escaped."""
    if _UNSAFE_BUT_LAYOUT.search(text) is None:
        return text
    return _UNSAFE_BUT_LAYOUT.sub(_escape, text)


def control_pictures(text: str) -> str:
    """`text` with each control character replaced by one visible symbol (``␛`` for ESC, ``␇`` for BEL, ``␡``
    for DEL, ``�`` for C1 and bidirectional controls): same length, for views whose offsets must not move (an
    editor drawing its document)."""
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(_picture, text)


def _picture(match: re.Match) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)
    return "\u2421" if code == 0x7F else "\ufffd"


def has_control(text: str) -> bool:
    """True when `text` holds a character ``literal`` would escape."""
    return _UNSAFE.search(text) is not None
