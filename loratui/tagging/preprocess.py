"""Tagger input preprocessing: WD14 (below), Camie v2 and PixAI (``preprocess_camie``, ``preprocess_pixai``).

WD14 preprocessing is identical to kohya sd-scripts' ``tag_images_by_wd14_tagger.preprocess_image``.

Upstream: transparency (RGBA, LA, or a ``transparency`` entry in the image info) is composited on white,
other modes become RGB; RGB->BGR; centred pad to a square with 255 (the left/top pad gets the smaller half);
``library.utils.resize_image`` to the model size: OpenCV INTER_AREA when the square is at least the target size,
else Pillow LANCZOS; float32 HWC 0-255. No EXIF rotation is applied (upstream applies none either).

Padding and resizing work per channel, so we do them in RGB and reverse the channels last; the result is the same
array upstream builds (a test checks it pixel for pixel against the definition).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from loratui.fsutil import open_regular


def to_rgb_on_white(image: Image.Image) -> Image.Image:
    """Upstream's mode handling: transparency composited on white, everything else converted to RGB."""
    if image.mode in ("RGBA", "LA") or "transparency" in image.info:
        image = image.convert("RGBA")
    elif image.mode != "RGB":
        image = image.convert("RGB")
    if image.mode == "RGBA":
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.split()[3])
        image = background
    return image


def pad_square(array: np.ndarray, value: int = 255) -> np.ndarray:
    """Centre an HxWx3 uint8 array on a square canvas filled with `value` (extra pixel goes right/bottom).

    Same result as upstream's ``np.pad(..., constant_values=255)``; OpenCV does it about twice as fast.
    """
    import cv2

    height, width = array.shape[:2]
    size = max(height, width)
    if height == width:
        return array
    pad_x, pad_y = size - width, size - height
    pad_l, pad_t = pad_x // 2, pad_y // 2
    return cv2.copyMakeBorder(np.ascontiguousarray(array), pad_t, pad_y - pad_t, pad_l, pad_x - pad_l,
                              cv2.BORDER_CONSTANT, value=(value,) * array.shape[2])


def resize_square(array: np.ndarray, size: int) -> np.ndarray:
    """Resize a square uint8 RGB array to size x size: area interpolation when shrinking, else Lanczos."""
    current = array.shape[0]
    if current == size:
        return array
    if current >= size:
        import cv2

        return cv2.resize(array, (size, size), interpolation=cv2.INTER_AREA)
    return np.asarray(Image.fromarray(array).resize((size, size), resample=Image.LANCZOS))


def preprocess_image(image: Image.Image, size: int = 448) -> np.ndarray:
    """A PIL image -> float32 [size, size, 3] BGR 0-255, as sd-scripts feeds the WD14 ONNX models."""
    rgb = np.asarray(to_rgb_on_white(image))
    square = resize_square(pad_square(rgb), size)
    return np.ascontiguousarray(square[:, :, ::-1], dtype=np.float32)


IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
CAMIE_PAD = (124, 116, 104)
"""The ImageNet mean as 8-bit RGB: Camie pads with it, so the padding normalises to about zero."""


def preprocess_camie(image: Image.Image, size: int = 512) -> np.ndarray:
    """A PIL image -> float32 [3, size, size] RGB for Camie v2: the long side shrunk (or grown) to `size` with
    Lanczos, centred on a square of the ImageNet mean colour, then ImageNet mean/std normalised (as Camie's
    reference inference: ``convert('RGB')``, no compositing)."""
    image = image.convert("RGB")
    width, height = image.size
    if width >= height:
        new_size = (size, max(1, round(size * height / width)))
    else:
        new_size = (max(1, round(size * width / height)), size)
    resized = image.resize(new_size, Image.LANCZOS)
    canvas = Image.new("RGB", (size, size), CAMIE_PAD)
    canvas.paste(resized, ((size - new_size[0]) // 2, (size - new_size[1]) // 2))
    pixels = np.asarray(canvas, dtype=np.float32) / 255.0
    return np.ascontiguousarray(((pixels - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1), dtype=np.float32)


def preprocess_pixai(image: Image.Image, size: int = 448) -> np.ndarray:
    """A PIL image -> float32 [3, size, size] RGB in -1..1 for PixAI: transparency on white, resized to the square
    (no padding) with Pillow's bilinear filter, (x / 255 - 0.5) / 0.5: PixAI's own inference handler
    (``transforms.Resize((448, 448))``, ``Normalize(0.5, 0.5)``; torchvision resizes a PIL image with Pillow's
    bilinear), which deepghs' ``preprocess.json`` records."""
    square = to_rgb_on_white(image).resize((size, size), Image.BILINEAR)
    pixels = np.asarray(square, dtype=np.float32) / 255.0
    return np.ascontiguousarray(((pixels - 0.5) / 0.5).transpose(2, 0, 1), dtype=np.float32)


PREPROCESSORS = {"wd14": preprocess_image, "camie": preprocess_camie, "pixai": preprocess_pixai}


def load_and_preprocess(path: Path | str, size: int = 448, fast: bool = False, root: Path | str | None = None,
                        fmt: str = "wd14") -> np.ndarray:
    """Open an image file and preprocess it (exceptions from broken files propagate).

    `fast` lets the JPEG decoder downscale by 1/2, 1/4 or 1/8 while decoding (never below `size` on the long
    side): several times cheaper for large photos, but the pixels, hence the scores, differ slightly from
    sd-scripts' tagger. The file is opened by ``fsutil.open_regular``, inside `root` (the dataset) when given.
    `fmt` picks the tagger format's preprocessing ('wd14', 'camie', 'pixai').
    """
    handle, _ = open_regular(path, root=root, follow_links_inside=root is not None)
    with handle, Image.open(handle) as image:
        if fast and image.format == "JPEG":
            width, height = image.size
            longest = max(width, height)
            if longest > 2 * size:
                image.draft("RGB", (-(-width * size // longest), -(-height * size // longest)))
        return PREPROCESSORS[fmt](image, size)
