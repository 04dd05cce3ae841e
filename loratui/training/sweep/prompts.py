"""Sweep prompts: reading a prompts file and writing the prompt file each inference script reads.

A prompts file holds one prompt a line with sd-scripts' inline options after it (``--n`` negative prompt, ``--d``
seed, ``--w``/``--h`` size, ``--s`` steps, ``--l`` guidance scale; ``--g`` is musubi-tuner's name for ``--l``);
blank lines and lines starting with ``#`` are skipped and options loratui does not use are ignored, as
sd-scripts does. The render writes one line per cell still to render: sd-scripts' ``gen_img.py`` takes a file
name per line (``--f``), musubi-tuner's scripts name images by time and seed, so their order is what maps them.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

from loratui.errors import ConfigError

_OPTION = re.compile(r"^(?P<name>[A-Za-z]+)\s+(?P<value>.+?)\s*$", re.DOTALL)
_INT = {"d": "seed", "w": "width", "h": "height", "s": "steps"}
_FLOAT = {"l": "scale", "g": "scale"}


@dataclass(frozen=True)
class SweepPrompt:
    """One prompt and the options its line set (None: the sweep's default)."""

    text: str
    negative: str = ""
    seed: int | None = None
    width: int | None = None
    height: int | None = None
    steps: int | None = None
    scale: float | None = None

    def as_dict(self) -> dict:
        """JSON-ready form (kept in the sweep's render settings)."""
        return asdict(self)


def parse_prompt_line(line: str) -> SweepPrompt:
    """A prompt line with its inline options (ConfigError for an empty prompt or a malformed number)."""
    parts = line.strip().split(" --")
    text = parts[0].strip()
    if not text or text.startswith("--"):
        raise ConfigError(f"the prompt line {line.strip()[:80]!r} has no prompt before its options")
    values: dict = {}
    for part in parts[1:]:
        match = _OPTION.match(part.strip())
        if not match:
            continue  # an option without a value: sd-scripts ignores it too
        name, value = match.group("name").lower(), match.group("value")
        try:
            if name in _INT:
                values[_INT[name]] = int(value)
            elif name in _FLOAT:
                values[_FLOAT[name]] = float(value)
            elif name == "n":
                values["negative"] = value
        except ValueError:
            raise ConfigError(f"--{name} {value!r} is not a number in the prompt {text[:60]!r}") from None
    return SweepPrompt(text, **values)


def parse_prompts(lines: list[str]) -> list[SweepPrompt]:
    """The prompts of a prompts file's lines (blank lines and ``#`` comments skipped); at least one."""
    prompts = [parse_prompt_line(line) for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not prompts:
        raise ConfigError("the prompt list is empty")
    return prompts


def read_prompts_file(path: str | Path) -> list[str]:
    """The prompt lines of a file (blank lines and comments dropped; each line checked)."""
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the prompts file {path}: {exc}") from None
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    parse_prompts(lines)
    return lines


def _clean(text: str) -> str:
    # One line per cell: a line break or " --" inside the prompt would start a new line or option.
    return " ".join(text.split()).replace(" --", " -")


def cell_line(style: str, prompt: str, negative: str, seed: int, width: int, height: int, steps: int,
              scale: float | None, filename: str | None = None) -> str:
    """One line of the inference script's prompt file, all options explicit (``style``: gen_img or musubi)."""
    line = _clean(prompt)
    if negative:
        line += f" --n {_clean(negative)}"
    elif style == "musubi":
        # musubi-tuner's prompt-file mode leaves a missing negative prompt None and then fails encoding it
        # (qwen_image_generate_image.py, 30c658c): always give one, empty.
        line += " --n "
    line += f" --w {int(width)} --h {int(height)} --s {int(steps)} --d {int(seed)}"
    if scale is not None:
        line += f" --{'l' if style == 'gen_img' else 'g'} {float(scale):g}"
    if style == "gen_img" and filename:
        line += f" --f {filename}"
    return line
