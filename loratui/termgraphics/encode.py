"""Escape sequences that draw an image in a terminal: kitty graphics, sixel and iTerm2 inline images.

Each encoder returns a list of sequences (kitty sends a large image as several chunks); ``wrap_tmux`` wraps each
for tmux's passthrough. ``encode`` picks the encoder by protocol name. Sizes are in terminal cells where the
protocol lets the terminal scale (kitty, iTerm2); sixel is drawn pixel for pixel, so its image is resized first.
"""

from __future__ import annotations

import base64
import io

import numpy as np

KITTY_CHUNK = 4096
"""Base64 characters per kitty chunk (the protocol's maximum)."""
SIXEL_COLOURS = 255


def png_bytes(image) -> bytes:
    """A Pillow image as PNG bytes (what kitty and iTerm2 are sent)."""
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def encode_kitty(png: bytes, cols: int, rows: int) -> list[str]:
    """The kitty graphics protocol: transmit and display a PNG scaled to `cols` x `rows` cells.

    The base64 payload is cut into chunks of at most 4096 bytes; every chunk but the last says ``m=1``. ``q=2``
    keeps the terminal from answering (an answer would arrive as typed keys).
    """
    payload = base64.standard_b64encode(png).decode("ascii")
    chunks = [payload[i:i + KITTY_CHUNK] for i in range(0, len(payload), KITTY_CHUNK)] or [""]
    out = []
    for index, chunk in enumerate(chunks):
        more = 1 if index < len(chunks) - 1 else 0
        keys = f"a=T,f=100,q=2,c={cols},r={rows},m={more}" if index == 0 else f"m={more}"
        out.append(f"\x1b_G{keys};{chunk}\x1b\\")
    return out


def encode_iterm2(png: bytes, cols: int, rows: int, name: str = "") -> list[str]:
    """iTerm2's inline image (OSC 1337 File=), scaled to fit `cols` x `rows` cells with its aspect kept."""
    args = ["inline=1", f"size={len(png)}", f"width={cols}", f"height={rows}", "preserveAspectRatio=1"]
    if name:
        args.insert(0, "name=" + base64.standard_b64encode(name.encode("utf-8")).decode("ascii"))
    return [f"\x1b]1337;File={';'.join(args)}:{base64.standard_b64encode(png).decode('ascii')}\x07"]


def _runs(chars: np.ndarray) -> str:
    """Sixel characters of one colour in one band, run-length encoded (``!n`` for runs longer than 3)."""
    width = len(chars)
    starts = np.flatnonzero(np.concatenate(([True], chars[1:] != chars[:-1])))
    lengths = np.diff(np.append(starts, width))
    values = chars[starts]
    if len(values) and values[-1] == 63:  # a trailing blank run draws nothing
        values, lengths = values[:-1], lengths[:-1]
    parts = []
    for value, length in zip(values.tolist(), lengths.tolist()):
        char = chr(value)
        parts.append(f"!{length}{char}" if length > 3 else char * length)
    return "".join(parts)


def encode_sixel(image, colours: int = SIXEL_COLOURS) -> list[str]:
    """A Pillow image as one sixel sequence: raster attributes, a palette of at most `colours` entries (RGB in
    percent), then bands of six pixel rows, each colour's run-length encoded columns per band."""
    from PIL import Image

    rgb = image.convert("RGB")
    quantized = rgb.quantize(colors=max(2, min(256, colours)), dither=Image.Dither.NONE)
    indices = np.asarray(quantized, dtype=np.int16)
    height, width = indices.shape
    palette = quantized.getpalette()[: 3 * (int(indices.max()) + 1)]
    out = [f"\x1bPq\"1;1;{width};{height}"]
    for number in range(len(palette) // 3):
        red, green, blue = (round(value * 100 / 255) for value in palette[3 * number: 3 * number + 3])
        out.append(f"#{number};2;{red};{green};{blue}")
    weights = (1 << np.arange(6, dtype=np.int16))[:, None]
    for top in range(0, height, 6):
        band = indices[top:top + 6]
        if band.shape[0] < 6:
            band = np.vstack([band, np.full((6 - band.shape[0], width), -1, dtype=np.int16)])
        lines = []
        for colour in np.unique(band[band >= 0]).tolist():
            bits = ((band == colour) * weights).sum(axis=0) + 63
            lines.append(f"#{colour}{_runs(bits)}")
        out.append("$".join(lines) + "-")
    out.append("\x1b\\")
    return ["".join(out)]


def fit_box(width: int, height: int, cols: int, rows: int, cell_px: tuple[int, int] = (8, 16)) -> tuple[int, int]:
    """The cells (cols, rows) an image of `width` x `height` pixels takes when fitted into `cols` x `rows` cells
    with its aspect kept (kitty stretches an image to the cells it is given, so it must be told the fitted box)."""
    scale = min(cols * cell_px[0] / max(1, width), rows * cell_px[1] / max(1, height))
    return (max(1, min(cols, round(width * scale / cell_px[0]))),
            max(1, min(rows, round(height * scale / cell_px[1]))))


def wrap_tmux(sequence: str) -> str:
    """`sequence` wrapped for tmux's passthrough (every ESC inside doubled)."""
    return "\x1bPtmux;" + sequence.replace("\x1b", "\x1b\x1b") + "\x1b\\"


def encode(protocol: str, image, cols: int, rows: int, *, cell_px: tuple[int, int] = (8, 16), tmux: bool = False,
           name: str = "") -> list[str]:
    """The sequences that draw Pillow `image` in a `cols` x `rows` cell area with `protocol`.

    Sixel has no scaling, so the image is first fitted into the area's pixels (`cell_px` per cell: a small guess,
    since an image larger than its area would push the screen up)."""
    if protocol == "kitty":
        sequences = encode_kitty(png_bytes(image), cols, rows)
    elif protocol == "iterm2":
        sequences = encode_iterm2(png_bytes(image), cols, rows, name)
    elif protocol == "sixel":
        from PIL import ImageOps

        fitted = ImageOps.contain(image.convert("RGB"), (max(1, cols * cell_px[0]), max(6, rows * cell_px[1])))
        sequences = encode_sixel(fitted)
    else:
        raise ValueError(f"no encoder for {protocol!r}")
    return [wrap_tmux(s) for s in sequences] if tmux else sequences
