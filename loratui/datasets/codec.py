"""Caption bytes <-> text, keeping each file's encoding.

Reading never mangles text silently: UTF-8 (with or without BOM) is read as is; UTF-16 with a BOM (little or big
endian) is read as UTF-16; anything else is decoded as cp1252, or Latin-1 when cp1252 cannot (bytes 0x81, 0x8D,
0x8F, 0x90, 0x9D). Line endings and a trailing newline are part of the text.

Writing keeps the encoding the file has (``encode_caption``): a BOM stays, UTF-16 stays UTF-16 in its byte
order, cp1252 and Latin-1 stay themselves. New text those two cannot hold is refused (``EncodingRefused``) rather
than written in another encoding: converting a file is the user's decision. The warning stored at scan time says
so, because sd-scripts reads every caption as UTF-8 and fails on such a file.
"""

from __future__ import annotations

import codecs

UTF8 = "utf-8"
ENCODINGS = ("utf-8", "utf-8-sig", "utf-16-le", "utf-16-be", "cp1252", "latin-1")
"""What ``decode_caption`` reports; 'utf-8-sig' and 'utf-16-*' mean "with a BOM"."""

_BOMS = {"utf-8-sig": codecs.BOM_UTF8, "utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE}
_CODECS = {"utf-8-sig": "utf-8", "utf-16-le": "utf-16-le", "utf-16-be": "utf-16-be"}
_CONVERT = "sd-scripts reads captions as UTF-8; convert it (iconv -f {src} -t UTF-8) before training"


class EncodingRefused(ValueError):
    """The new text cannot be written in the file's encoding without changing it; the message says why."""


def decode_caption(data: bytes) -> tuple[str, str, str | None]:
    """Decode caption bytes; returns (text, encoding (one of ``ENCODINGS``), warning or None)."""
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data[len(codecs.BOM_UTF8):].decode("utf-8"), "utf-8-sig", None
        except UnicodeDecodeError:
            data = data[len(codecs.BOM_UTF8):]
    else:
        try:
            return data.decode("utf-8"), "utf-8", None
        except UnicodeDecodeError:
            pass
    for encoding in ("utf-16-le", "utf-16-be"):
        if data.startswith(_BOMS[encoding]):
            try:
                text = data[2:].decode(encoding)
            except UnicodeDecodeError:
                break
            return text, encoding, ("caption is UTF-16 (edits keep it UTF-16); "
                                    + _CONVERT.format(src=encoding.upper()))
    try:
        text, encoding = data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        text, encoding = data.decode("latin-1"), "latin-1"
    return text, encoding, (f"caption is not UTF-8: read as {encoding} (edits keep {encoding}); "
                            + _CONVERT.format(src=encoding.upper()))


def encode_caption(text: str, encoding: str) -> bytes:
    """`text` as a file in `encoding` (one of ``ENCODINGS``: a BOM is written back where the encoding has one).

    Raises EncodingRefused when the encoding cannot hold a character of `text`.
    """
    if encoding == UTF8:
        return text.encode("utf-8")
    if encoding in _BOMS:
        return _BOMS[encoding] + text.encode(_CODECS[encoding])
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown caption encoding {encoding!r}")
    try:
        return text.encode(encoding)
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start:exc.end]
        raise EncodingRefused(
            f"the caption file is {encoding} and the new text has {bad!r}, which {encoding} cannot hold: left "
            f"alone (convert the file to UTF-8 to edit it: iconv -f {encoding.upper()} -t UTF-8)") from None


def utf8_or_none(text: str | None, data: bytes | None) -> bytes | None:
    """`data` when it is not simply `text` in UTF-8 (what the journal must store to restore it), else None."""
    if data is None or (text is not None and data == text.encode("utf-8")):
        return None
    return data
