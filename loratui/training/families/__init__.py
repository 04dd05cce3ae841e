"""Model families as data: one declarative record per family (``record.Family``) and the registry.

Records live in ``sd_scripts.py`` (kohya-ss/sd-scripts) and ``musubi_tuner.py`` (kohya-ss/musubi-tuner). Adding
a family is adding a record, its preset file (``loratui/training/presets/<id>.toml``) and, when its scripts
differ from the others', a parser dump in ``tests/fixtures/trainer-schemas/``.

    from loratui.training.families import get_family, families
    family = get_family("qwen-image-edit-2509")      # NotFoundError naming the known ids otherwise
    family.scripts["train"], family.role("vae").flag, family.fixed("model_version").value
"""

from __future__ import annotations

from loratui.errors import NotFoundError
from loratui.training.families import musubi_tuner, sd_scripts
from loratui.training.families.record import (
    PHASES, TRAINER_NAMES, TRAINERS, Controls, Download, Family, FixedArg, ModelRole,
)

__all__ = ["PHASES", "TRAINERS", "TRAINER_NAMES", "Controls", "Download", "Family", "FixedArg", "ModelRole",
           "families", "get_family", "find_family", "family_ids", "role_options", "DEFAULT_FAMILY"]

DEFAULT_FAMILY = "sd15"
"""The family of a config that names none (and of `train options` with nothing in context)."""


def _build() -> tuple[dict[str, Family], dict[str, str]]:
    registry: dict[str, Family] = {}
    aliases: dict[str, str] = {}
    for family in sd_scripts.FAMILIES + musubi_tuner.FAMILIES:
        if family.id in registry:
            raise RuntimeError(f"family id {family.id!r} is defined twice")
        registry[family.id] = family
        for alias in family.aliases:
            aliases[alias] = family.id
    return registry, aliases


_REGISTRY, _ALIASES = _build()


def families(trainer: str | None = None) -> list[Family]:
    """Every family (of one trainer), in registry order (sd-scripts first)."""
    return [f for f in _REGISTRY.values() if trainer is None or f.trainer == trainer]


def family_ids(trainer: str | None = None) -> list[str]:
    """The ids of `families(trainer)`."""
    return [f.id for f in families(trainer)]


def find_family(family_id: str) -> Family | None:
    """The family called `family_id` (or one of its aliases), or None."""
    return _REGISTRY.get(_ALIASES.get(family_id, family_id))


def get_family(family_id: str) -> Family:
    """The family called `family_id`; NotFoundError listing the known ids otherwise."""
    family = find_family(family_id)
    if family is None:
        raise NotFoundError(f"no model family {family_id!r}",
                            hint="known: " + ", ".join(_REGISTRY) + " (`loratui train families`)")
    return family


def role_options() -> tuple[str, ...]:
    """Every trainer option that takes a model file in some family (they hold paths)."""
    seen: dict[str, None] = {}
    for family in _REGISTRY.values():
        for role in family.roles:
            seen.setdefault(role.option, None)
    return tuple(seen)
