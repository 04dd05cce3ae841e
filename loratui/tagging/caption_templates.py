"""Named prompt templates for the captioner: built-in ones for the model families and captioners of today, and
the user's own from a TOML file.

    template = find_template("wan-video", user_file=None)
    prompt = template.prompt   # rendered per item by ``vlm.render_prompt``

A template is data: a name, what it is for (``image``, ``video`` or ``any``), the prompt, and the answer length
it needs (``max_tokens``). Prompts may use ``{trigger}``, ``{tags}``, ``{filename}``, ``{frames}`` (how many
frames of a clip are sent), ``{media}`` ('image' or 'video clip') and ``{length}`` (JoyCaption's length words,
``--length``).

The video templates follow what the families were trained on: Wan 2.x's prompt extender rewrites prompts into one
English paragraph naming the subject and its appearance, the scene, the motion, the camera's shot size, angle and
movement, light, colour tone and style (Wan-Video/Wan2.2 ``wan/utils/system_prompt.py``); HunyuanVideo's captioner
writes structured dense captions: a short and a dense description, the background, the style, the shot type, the
lighting and the atmosphere, with the camera movement (HunyuanVideo technical report, section 3.2). The JoyCaption
templates use the instructions JoyCaption Beta One was trained to follow (its model card's caption types).

A user file holds ``[templates.NAME]`` tables with ``prompt`` (required), ``media``, ``description`` and
``max_tokens``; a user template of a built-in's name replaces it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from loratui.errors import InputError

MEDIA = ("image", "video", "any")
LENGTHS = ("very short", "short", "medium-length", "long", "very long")


@dataclass(frozen=True)
class CaptionTemplate:
    """One named prompt."""

    name: str
    prompt: str
    media: str = "any"
    """What it is written for: 'image', 'video' or 'any'."""
    description: str = ""
    max_tokens: int | None = None
    """The answer length it needs (None: the request's --max-tokens)."""
    source: str = "built-in"
    """'built-in' or the user file it came from."""


_VIDEO_COMMON = (
    "You see {frames} frames taken in order from one video clip. Write one caption for the whole clip, as a single "
    "paragraph of plain English prose in the present tense, for training a text-to-video model. "
)

_TRIGGER = "If the name '{trigger}' is not empty, use it for the main subject."

BUILT_IN: tuple[CaptionTemplate, ...] = (
    CaptionTemplate(
        "default", media="any", description="a training caption in one paragraph (loratui's default prompt)",
        prompt=("Write a caption for this image to train an image generation model. Describe the subject, clothing, "
                "pose, setting, lighting and style in one paragraph of plain prose. Do not start with 'The image "
                "shows'.")),
    CaptionTemplate(
        "wan-video", media="video", max_tokens=500,
        description="Wan 2.1/2.2: one long cinematic paragraph (subject, scene, motion, camera, light, style)",
        prompt=(_VIDEO_COMMON
                + "Start with the main subject and its appearance (clothing, hair, expression), then the scene and "
                "background, then the motion: what moves, in which direction and how fast, and how it changes "
                "from the first frame to the last. Name the shot size (close-up, medium shot, wide shot), the camera "
                "angle (eye level, low angle, high angle, aerial) and the camera movement (static, pans left or "
                "right, tilts, pushes in, pulls back, tracks, orbits) only as they appear. End with the time of day, "
                "the light source and its quality (soft or hard, side light, backlight), the colour tone and the "
                "visual style (live action, 3D render, anime, painting). 80 to 150 words; describe only what is "
                "visible; no lists, no headings, no sound. Do not start with 'The video shows'. " + _TRIGGER)),
    CaptionTemplate(
        "hunyuan-video", media="video", max_tokens=500,
        description="HunyuanVideo: dense caption (description, background, style, shot type, lighting, "
                    "atmosphere, camera movement)",
        prompt=(_VIDEO_COMMON
                + "Cover, in this order and in flowing sentences: a dense description of the main subjects and "
                "their actions over the clip; the background and setting; the style (photorealistic, cinematic, "
                "anime, 3D animation, illustration); the shot type (close-up, medium shot, full shot, wide shot, "
                "aerial shot); the camera movement (static, pan, tilt, zoom in or out, dolly, tracking, handheld, "
                "orbit); the lighting; and the atmosphere or mood. 80 to 150 words; describe only what is visible. "
                "Do not start with 'The video shows'. " + _TRIGGER)),
    CaptionTemplate(
        "video-short", media="video", max_tokens=150,
        description="one or two sentences: subject, action, camera",
        prompt=(_VIDEO_COMMON
                + "Use one or two sentences: the main subject, what it does, and how the camera moves. " + _TRIGGER)),
    CaptionTemplate(
        "joycaption-descriptive", media="image", max_tokens=512,
        description="JoyCaption 'Descriptive' (formal); --length sets the length",
        prompt="Write a {length} detailed description for this image."),
    CaptionTemplate(
        "joycaption-straightforward", media="image", max_tokens=400,
        description="JoyCaption 'Straightforward': concrete, no mood or speculation",
        prompt=("Write a {length} straightforward caption for this image. Begin with the main subject and medium. "
                "Mention pivotal elements—people, objects, scenery—using confident, definite language. Focus on "
                "concrete details like color, shape, texture, and spatial relationships. Show how elements interact. "
                "Omit mood and speculative wording. If text is present, quote it exactly. Note any watermarks, "
                "signatures, or compression artifacts. Never mention what's absent, resolution, or unobservable "
                "details. Vary your sentence structure and keep the description concise, without starting with "
                "\u201cThis image is\u2026\u201d or similar phrasing.")),
    CaptionTemplate(
        "joycaption-booru", media="image", max_tokens=300,
        description="JoyCaption 'Booru tag list': comma-separated tags",
        prompt="Write a {length} list of Booru tags for this image."),
    CaptionTemplate(
        "joycaption-training", media="image", max_tokens=300,
        description="JoyCaption 'Training Prompt': a prompt as people write them for image models",
        prompt="Write a {length} stable diffusion prompt for this image."),
    CaptionTemplate(
        "qwen-vl", media="any", max_tokens=400,
        description="Qwen2.5-VL / Qwen3-VL: natural-language training caption, trigger first",
        prompt=("Describe this {media} for training a generative model, in one paragraph of natural English "
                "without line breaks or lists. Begin with '{trigger}' if it is not empty. Describe the subject, "
                "its appearance and pose, the setting, the lighting, the composition and the style. State only what "
                "is visible.")),
)


def built_in() -> dict[str, CaptionTemplate]:
    """The built-in templates by name."""
    return {t.name: t for t in BUILT_IN}


def load_user_templates(path: Path) -> dict[str, CaptionTemplate]:
    """The ``[templates.NAME]`` tables of a TOML file; InputError naming what is wrong."""
    path = Path(path).expanduser()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"template file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read template file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path} is not valid TOML: {exc}") from None
    tables = data.get("templates")
    if not isinstance(tables, dict) or not tables:
        raise InputError(f"{path} defines no templates", hint='write [templates.NAME] tables with prompt = "..."')
    found = {}
    for name, table in tables.items():
        where = f"{path}: templates.{name}"
        if not isinstance(table, dict) or not isinstance(table.get("prompt"), str) or not table["prompt"].strip():
            raise InputError(f"{where} needs a prompt (a non-empty string)")
        unknown = set(table) - {"prompt", "media", "description", "max_tokens"}
        if unknown:
            raise InputError(f"{where} has unknown keys: {', '.join(sorted(unknown))}",
                             hint="a template has prompt, media, description and max_tokens")
        media = table.get("media", "any")
        if media not in MEDIA:
            raise InputError(f"{where}: media must be one of {', '.join(MEDIA)}, got {media!r}")
        max_tokens = table.get("max_tokens")
        if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool)
                                       or max_tokens < 1):
            raise InputError(f"{where}: max_tokens must be a positive integer")
        found[name] = CaptionTemplate(name, table["prompt"].strip(), media, str(table.get("description", "")),
                                      max_tokens, source=str(path))
    return found


def all_templates(user_file: Path | None = None) -> dict[str, CaptionTemplate]:
    """Built-in templates, with the user file's added (or replacing built-ins of the same name)."""
    templates = built_in()
    if user_file is not None:
        templates.update(load_user_templates(user_file))
    return templates


def find_template(name: str, user_file: Path | None = None) -> CaptionTemplate:
    """The template called `name`; InputError listing the known names otherwise."""
    templates = all_templates(user_file)
    if name not in templates:
        raise InputError(f"unknown caption template {name!r}",
                         hint=f"choose one of: {', '.join(templates)} (loratui caption --list-templates)")
    return templates[name]


def parse_length(value: str) -> str:
    """JoyCaption's length: one of LENGTHS, or a word count ('40' -> '40-word')."""
    value = value.strip()
    if value in LENGTHS:
        return value
    if value.isdigit() and 0 < int(value) <= 1000:
        return f"{int(value)}-word"
    raise InputError(f"unknown caption length {value!r}",
                     hint=f"use one of: {', '.join(LENGTHS)}, or a number of words")
