"""Training presets: training config files without a dataset.

Built-in presets: one per model family and VRAM tier, ``<family>-<tier>`` (``qwen-image-24gb``), made from the
family record (``loratui.training.families``): the trainer's preset defaults, the family's ``preset_args`` (its
docs' timestep sampling, flow shift, learning rate), its network module and empty model-file options, then the
tier's memory settings (block swap, fp8, text encoder in fp8, gradient checkpointing; caches always on disk).
Hand-tuned files in ``loratui/training/presets/`` (SD1.5, SDXL and FLUX.1 at 8/12/16/24 GB) replace the generated
preset of the same name. User presets live in ``<home>/presets/NAME.toml``; they may not take a built-in name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from loratui import tomlio
from loratui.errors import InputError, NotFoundError
from loratui.training.config import TrainConfig, loads_toml, save_config
from loratui.training.families import Family, families
from loratui.training.families import musubi_tuner, sd_scripts

TRAINER_DEFAULTS = {"kohya": sd_scripts.PRESET_DEFAULTS, "musubi": musubi_tuner.PRESET_DEFAULTS}

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


def preset_args(family: Family, tier: str) -> dict:
    """The [args] of built-in preset ``<family>-<tier>`` as generated from the family record."""
    args = dict(TRAINER_DEFAULTS[family.trainer])
    args["network_module"] = family.network_module
    size = family.default_resolution
    args["resolution"] = f"{size},{size}"
    args.update(family.preset_args)
    args.update(family.presets[tier])
    for role in family.roles:
        if role.required:
            args.setdefault(role.option, "")
    return args


def generated_preset(family: Family, tier: str) -> str:
    """The TOML text of built-in preset ``<family>-<tier>``, with a first comment line that describes it."""
    head = (f"# {family.name} LoRA for {tier[:-2]} GB VRAM ({family.trainer_name}). Fill in the empty model paths "
            f"and output_dir before training.\n")
    return head + tomlio.dumps({"backend": family.trainer, "family": family.id, "dataset": "",
                                "args": preset_args(family, tier)})


def _builtin_files() -> dict[str, str]:
    texts = {f"{family.id}-{tier}": generated_preset(family, tier) for family in families()
             for tier in family.presets}
    folder = resources.files("loratui.training") / "presets"
    texts.update({entry.name[:-5]: entry.read_text(encoding="utf-8")
                  for entry in folder.iterdir() if entry.name.endswith(".toml")})
    return texts


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
