"""Preprocessing must give the array sd-scripts' tag_images_by_wd14_tagger.py builds, pixel for pixel."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from loratui.tagging.preprocess import load_and_preprocess, pad_square, preprocess_image


def upstream_preprocess(image: Image.Image, size: int = 448) -> np.ndarray:
    """sd-scripts' steps, in its order: BGR flip first, pad, then library.utils.resize_image (cv2 AREA when
    shrinking, else PIL LANCZOS through BGR<->RGB conversions)."""
    if image.mode in ("RGBA", "LA") or "transparency" in image.info:
        image = image.convert("RGBA")
    elif image.mode != "RGB":
        image = image.convert("RGB")
    if image.mode == "RGBA":
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.split()[3])
        image = background
    array = np.array(image)[:, :, ::-1]
    side = max(array.shape[0:2])
    pad_x, pad_y = side - array.shape[1], side - array.shape[0]
    pad_l, pad_t = pad_x // 2, pad_y // 2
    array = np.pad(array, ((pad_t, pad_y - pad_t), (pad_l, pad_x - pad_l), (0, 0)), mode="constant",
                   constant_values=255)
    if side >= size:
        array = cv2.resize(np.ascontiguousarray(array), (size, size), interpolation=cv2.INTER_AREA)
    else:
        pil = Image.fromarray(cv2.cvtColor(np.ascontiguousarray(array), cv2.COLOR_BGR2RGB))
        array = cv2.cvtColor(np.array(pil.resize((size, size), resample=Image.LANCZOS)), cv2.COLOR_RGB2BGR)
    return array.astype(np.float32)


def _noise(size, mode="RGB", seed=0) -> Image.Image:
    rng = np.random.default_rng(seed)
    channels = len(mode) if mode not in ("P", "L") else 1
    data = rng.integers(0, 256, size=(size[1], size[0], channels), dtype=np.uint8)
    return Image.fromarray(data.squeeze(-1) if channels == 1 else data, mode if mode != "P" else "L")


@pytest.mark.parametrize("size", [(640, 480), (480, 641), (448, 448), (1000, 333), (300, 200), (17, 40), (896, 896)])
def test_rgb_matches_upstream(size):
    image = _noise(size, seed=sum(size))
    ours = preprocess_image(image)
    assert ours.shape == (448, 448, 3) and ours.dtype == np.float32
    np.testing.assert_array_equal(ours, upstream_preprocess(image))


def test_transparency_is_composited_on_white_like_upstream():
    rgba = _noise((500, 300), mode="RGBA", seed=3)
    np.testing.assert_array_equal(preprocess_image(rgba), upstream_preprocess(rgba))
    la = _noise((200, 260), mode="LA", seed=4)
    np.testing.assert_array_equal(preprocess_image(la), upstream_preprocess(la))
    fully_clear = Image.new("RGBA", (448, 448), (0, 0, 0, 0))
    assert (preprocess_image(fully_clear) == 255).all()


def test_palette_with_transparency_and_grey_and_cmyk():
    palette = _noise((300, 500), seed=5).convert("P")
    palette.info["transparency"] = 0
    np.testing.assert_array_equal(preprocess_image(palette), upstream_preprocess(palette))
    grey = _noise((520, 480), mode="L", seed=6)
    np.testing.assert_array_equal(preprocess_image(grey), upstream_preprocess(grey))
    cmyk = _noise((460, 470), seed=7).convert("CMYK")
    np.testing.assert_array_equal(preprocess_image(cmyk), upstream_preprocess(cmyk))


def test_channels_are_bgr_and_padding_white():
    red = Image.new("RGB", (448, 224), (200, 10, 20))
    out = preprocess_image(red)
    assert tuple(out[224, 224]) == (20.0, 10.0, 200.0)  # B, G, R
    assert (out[:112] == 255).all() and (out[-112:] == 255).all()  # pad top/bottom, 112 each


def test_odd_padding_puts_extra_pixel_after():
    array = np.zeros((2, 5, 3), dtype=np.uint8)  # 3 channels, as images have
    padded = pad_square(array)
    assert padded.shape == (5, 5, 3)
    assert (padded[0] == 255).all() and (padded[1:3] == 0).all() and (padded[3:] == 255).all()


def test_file_loading(tmp_path):
    path = tmp_path / "x.jpg"
    _noise((700, 500), seed=9).save(path, quality=90)
    with Image.open(path) as image:
        expected = upstream_preprocess(image)
    np.testing.assert_array_equal(load_and_preprocess(path), expected)


def test_fast_decode_is_close_but_only_for_large_jpegs(tmp_path):
    rng = np.random.default_rng(11)
    ys, xs = np.mgrid[0:1500, 0:2000]
    smooth = np.stack([xs % 256, ys % 256, (xs + ys) % 256], axis=-1).astype(np.float64)
    image = Image.fromarray(np.clip(smooth + rng.normal(0, 4, smooth.shape), 0, 255).astype(np.uint8))
    jpeg, png = tmp_path / "big.jpg", tmp_path / "big.png"
    image.save(jpeg, quality=95)
    image.save(png)
    exact, fast = load_and_preprocess(jpeg), load_and_preprocess(jpeg, fast=True)
    assert fast.shape == exact.shape == (448, 448, 3)
    difference = np.abs(fast - exact)
    assert 0 < difference.mean() < 3.0  # a different decode, same picture
    np.testing.assert_array_equal(load_and_preprocess(png, fast=True), load_and_preprocess(png))
    small = tmp_path / "small.jpg"
    image.resize((800, 600)).save(small, quality=95)
    np.testing.assert_array_equal(load_and_preprocess(small, fast=True), load_and_preprocess(small))
