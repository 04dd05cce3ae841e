"""Training presets: training config files without a dataset.

Built-in presets (package data in ``loratui/training/presets/``: SD1.5, SDXL and Flux at 8/12/16/24 GB VRAM)
and user presets in ``<home>/presets/NAME.toml``. A user preset may not take a built-in name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from loratui.errors import InputError, NotFoundError
from loratui.training.config import TrainConfig, loads_toml, save_config

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class Preset:
    """A preset's name, where it comes from, and its description (the first comment line)."""

    name: str
    source: str
    """'builtin' or 'user'."""
    family: str
    description: str
    path: str


def _builtin_files() -> dict[str, str]:
    folder = resources.files("loratui.training") / "presets"
    return {entry.name[:-5]: entry.read_text(encoding="utf-8")
            for entry in folder.iterdir() if entry.name.endswith(".toml")}


def _describe(name: str, source: str, text: str, path: str) -> Preset:
    first = text.splitlines()[0] if text else ""
    description = first.lstrip("# ").split(". ")[0] if first.startswith("#") else ""
    data = loads_toml(text, path)
    return Preset(name, source, str(data.get("family", "")), description, path)


def list_presets(ctx) -> list[Preset]:
    """Built-in then user presets, each sorted by name."""
    found = [_describe(n, "builtin", t, f"builtin:{n}") for n, t in sorted(_builtin_files().items())]
    folder = ctx.paths.presets
    if folder.is_dir():
        for path in sorted(folder.glob("*.toml")):
            try:
                found.append(_describe(path.stem, "user", path.read_text(encoding="utf-8"), str(path)))
            except Exception:  # noqa: BLE001 - a broken user file is listed without details
                found.append(Preset(path.stem, "user", "", "(unreadable)", str(path)))
    return found


def load_preset(ctx, name: str) -> TrainConfig:
    """The preset's config (user presets shadow nothing: built-in names are reserved)."""
    builtin = _builtin_files()
    if name in builtin:
        return TrainConfig.from_dict(loads_toml(builtin[name], f"preset {name}"), source=f"preset {name}")
    path = ctx.paths.presets / f"{name}.toml"
    if NAME.match(name) and path.is_file():
        return TrainConfig.from_dict(loads_toml(path.read_text(encoding="utf-8"), str(path)), source=str(path))
    known = ", ".join(p.name for p in list_presets(ctx))
    raise NotFoundError(f"no preset named {name!r} (known: {known})")


def save_preset(ctx, name: str, config: TrainConfig, *, overwrite: bool = False) -> Path:
    """Save `config` (without its dataset) as user preset `name`."""
    if not NAME.match(name):
        raise InputError(f"preset name {name!r} may only use letters, digits, '.', '_' and '-'")
    if name in _builtin_files():
        raise InputError(f"{name!r} is a built-in preset; pick another name")
    path = ctx.paths.presets / f"{name}.toml"
    if path.exists() and not overwrite:
        raise InputError(f"preset {name!r} already exists", hint="use --force to replace it")
    preset = config.copy()
    preset.dataset = ""
    return save_config(preset, path)
