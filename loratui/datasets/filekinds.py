"""What a file in a dataset is, by its extension: images, videos, and which extensions may name captions.

A caption extension decides which files loratui rewrites: ``--caption-ext .jpg`` would turn every ``a.jpg`` next to
an ``a.png`` into a caption. So a caption extension must look like a plain text extension (``.`` then letters,
digits, ``_`` or ``-``, in at most two dotted parts, like ``.txt``, ``.caption`` or ``.wd14.txt``) and must not end
with an extension of a file that is not a caption: an image, a video, audio, an archive, a model or latent cache,
a document or a configuration/metadata file (a deny-list rather than an allow-list, because trainers accept any
caption extension and people name tagger outputs their own way: ``.tags``, ``.wd14``, ``.florence``).
"""

from __future__ import annotations

import os
import re

from loratui.errors import InputError

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".avif", ".jxl", ".gif"})
"""sd-scripts' image extensions (any case), plus .gif so that GIFs are reported rather than silently ignored."""

OTHER_IMAGE_EXTENSIONS = frozenset({
    ".tif", ".tiff", ".heic", ".heif", ".ico", ".psd", ".svg", ".exr", ".hdr", ".tga", ".dng", ".raw", ".cr2",
    ".nef", ".arw", ".jfif", ".jpe", ".apng", ".qoi", ".jp2", ".xcf", ".kra",
})
"""Image formats the trainers do not read, but that are images all the same."""

VIDEO_EXTENSIONS = frozenset({
    ".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts", ".3gp", ".ogv",
})
"""Video clips (musubi-tuner's video datasets)."""

_NOT_CAPTIONS = IMAGE_EXTENSIONS | OTHER_IMAGE_EXTENSIONS | VIDEO_EXTENSIONS | frozenset({
    ".mp3", ".wav", ".flac", ".ogg", ".m4a", ".opus",  # audio
    ".zip", ".tar", ".gz", ".tgz", ".7z", ".rar", ".xz", ".bz2", ".zst", ".part",  # archives, downloads
    ".npz", ".npy", ".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".onnx", ".gguf", ".h5",  # models, latent caches
    ".pdf", ".doc", ".docx", ".odt", ".rtf", ".html", ".htm",  # documents
    ".json", ".jsonl", ".toml", ".yaml", ".yml", ".csv", ".db", ".sqlite", ".ini", ".cfg", ".xml",  # config, metadata
    ".py", ".sh", ".bat", ".ps1", ".exe", ".dll", ".so", ".lnk", ".tmp",  # programs, loratui's own temp files
})

_PLAIN_EXTENSION = re.compile(r"^(\.[A-Za-z0-9][A-Za-z0-9_-]{0,15}){1,2}$")


def is_image_name(name: str) -> bool:
    """True for file names with an image extension that the trainers read (any case)."""
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def is_video_name(name: str) -> bool:
    """True for file names with a video extension (any case)."""
    return os.path.splitext(name)[1].lower() in VIDEO_EXTENSIONS


def normalise_caption_ext(ext: str) -> str:
    """'.txt' from 'txt' or '.txt'; InputError for anything that is not a plain text extension (see module doc)."""
    ext = ext.strip()
    if not ext:
        raise InputError("caption extension is empty", hint="use .txt or .caption")
    if not ext.startswith("."):
        ext = "." + ext
    if not _PLAIN_EXTENSION.match(ext):
        raise InputError(f"caption extension {ext!r} is not a plain file extension",
                         hint="use letters, digits, _ or -, like .txt, .caption or .tags")
    kind = _kind_of(_suffix(ext))
    if kind is not None:
        raise InputError(f"caption extension {ext!r} is {kind}: captions would overwrite those files",
                         hint="use a text extension such as .txt, .caption or .tags (--caption-ext, or "
                              "general.caption_ext in config.toml)")
    return ext


def _suffix(ext: str) -> str:
    """The last dotted part of an extension, lower case ('.wd14.TXT' -> '.txt'); os.path.splitext('.txt') is ''."""
    return ext[ext.rfind("."):].lower()


def _kind_of(suffix: str) -> str | None:
    if suffix in IMAGE_EXTENSIONS or suffix in OTHER_IMAGE_EXTENSIONS:
        return "an image extension"
    if suffix in VIDEO_EXTENSIONS:
        return "a video extension"
    if suffix in _NOT_CAPTIONS:
        return "the extension of files that are not captions"
    return None
