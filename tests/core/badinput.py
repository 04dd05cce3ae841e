"""Builds the bad-input dataset of issue #2: good images mixed with every kind of broken file."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

from PIL import Image

GOOD = {
    "10_mix/good.jpg", "10_mix/good.png", "10_mix/good.webp", "10_mix/cmyk.jpg", "10_mix/sixteen.png",
    "10_mix/palette_alpha.png", "10_mix/rotated.jpg", "10_mix/my photo ü.jpg", "1_other/写真.png",
}
BROKEN = {
    "10_mix/truncated.jpg": "truncated",
    "10_mix/zero.jpg": "empty file",
    "10_mix/text.png": "not an image",
    "10_mix/bomb.png": "decompression bomb",
    "10_mix/anim.gif": "GIF",
    "10_mix/escape.jpg": "outside the dataset",
}


def noisy(size, mode="RGB", seed=1) -> Image.Image:
    """A deterministic noisy image (compresses like a photo)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "L": 1}[mode]
    data = rng.integers(0, 255, (size[1], size[0], channels), dtype="uint8")
    return Image.fromarray(data.squeeze() if channels == 1 else data, mode)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(width=20000, height=20000) -> bytes:
    """A tiny PNG whose header declares width x height pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def build(root: Path, outside: Path) -> Path:
    """Create the dataset under root/ds (and an outside folder it must not read); returns the dataset path."""
    ds = root / "ds"
    mix = ds / "10_mix"
    mix.mkdir(parents=True)
    (ds / "1_other").mkdir()
    noisy((96, 64)).save(mix / "good.jpg", quality=90)
    noisy((80, 80), seed=2).save(mix / "good.png")
    noisy((64, 96), seed=3).save(mix / "good.webp")
    noisy((70, 50), seed=4).convert("CMYK").save(mix / "cmyk.jpg")
    import numpy as np

    sixteen = np.asarray(noisy((40, 30), "L", seed=5)).astype("uint16") * 257
    Image.fromarray(sixteen).save(mix / "sixteen.png")
    palette = Image.new("P", (32, 32), 0)
    palette.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    palette.paste(1, (8, 8, 24, 24))
    palette.save(mix / "palette_alpha.png", transparency=0)
    rotated = noisy((120, 60), seed=6)
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated.save(mix / "rotated.jpg", exif=exif.tobytes())
    noisy((50, 40), seed=7).save(mix / "my photo ü.jpg")
    noisy((44, 66), seed=8).save(ds / "1_other" / "写真.png")

    big = noisy((512, 512), seed=9)
    big.save(mix / "truncated.jpg", quality=95)
    full = (mix / "truncated.jpg").read_bytes()
    (mix / "truncated.jpg").write_bytes(full[: len(full) // 2])
    (mix / "zero.jpg").write_bytes(b"")
    (mix / "text.png").write_text("this is not a png\n")
    (mix / "bomb.png").write_bytes(bomb_png())
    frames = [noisy((30, 30), seed=s) for s in (10, 11, 12)]
    frames[0].save(mix / "anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)

    # Hidden files, macOS junk: never indexed.
    noisy((20, 20)).save(mix / ".hidden.jpg")
    (ds / "__MACOSX").mkdir()
    noisy((20, 20)).save(ds / "__MACOSX" / "._good.jpg")
    (ds / ".cache").mkdir()
    noisy((20, 20)).save(ds / ".cache" / "x.png")

    # A symlink leaving the dataset. Its target is a FIFO: opening it would block the scan forever.
    outside.mkdir(parents=True, exist_ok=True)
    os.mkfifo(outside / "trap.jpg")
    os.symlink(outside / "trap.jpg", mix / "escape.jpg")
    os.symlink(outside, ds / "linked_folder")

    # Captions.
    (mix / "good.txt").write_bytes(b"\xef\xbb\xbf1girl, red hair, smile\r\n")  # UTF-8 with BOM and CRLF
    (mix / "cmyk.txt").write_bytes("café, crème brûlée".encode("latin-1"))
    (mix / "sixteen.txt").write_text("")
    (mix / "rotated.txt").write_text("x, " * (5 * 1024 * 1024 // 3))
    (mix / "my photo ü.txt").write_text("photo, [red]x, spaces", encoding="utf-8")
    return ds
