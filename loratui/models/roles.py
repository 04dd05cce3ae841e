"""Do the model files of a training fit its family and variant? And which option does each file go to?

A *role* is the trainer option a model file is passed with (``pretrained_model_name_or_path``, ``dit``, ``vae``,
``ae``, ``clip_l``, ``t5xxl``, ``text_encoder``...). ``ROLE_CONTENTS`` says, per family, which contents
(``catalog.CONTENTS`` ids) each role accepts; the denoiser roles accept a file whose U-Net/DiT is of the family.
``check_model_roles`` identifies each file and reports every mismatch; ``assign_roles`` goes the other way and
puts files in the roles of a family.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from loratui.errors import LoratuiError, ModelError
from loratui.models.catalog import CONTENTS, FAMILIES
from loratui.models.identify import ModelInfo, identify

DENOISER_ROLES = ("pretrained_model_name_or_path", "dit", "dit_high_noise")
"""Roles that take the model being trained (a full checkpoint or the U-Net/DiT alone)."""

_SD_VAE = ("sd-vae",)
_FLUX_AE = ("flux1-ae", "sd3-vae")
_QWEN_VAE = ("qwen-image-vae", "wan2.1-vae")

ROLE_CONTENTS: dict[str, dict[str, tuple[str, ...]]] = {
    "sd1": {"vae": _SD_VAE},
    "sd2": {"vae": _SD_VAE},
    "sdxl": {"vae": _SD_VAE},
    "sd3": {"vae": _FLUX_AE, "clip_l": ("clip-l",), "clip_g": ("clip-g",), "t5xxl": ("t5-xxl",)},
    "flux1": {"ae": _FLUX_AE, "vae": _FLUX_AE, "clip_l": ("clip-l",), "t5xxl": ("t5-xxl",),
              "text_encoder1": ("t5-xxl",), "text_encoder2": ("clip-l",)},
    "chroma": {"ae": _FLUX_AE, "t5xxl": ("t5-xxl",)},
    "lumina2": {"ae": _FLUX_AE, "gemma2": ("gemma2-2b",)},
    "hunyuan-image-2.1": {"vae": ("hunyuan-image-2.1-vae",), "text_encoder": ("qwen2.5-vl-7b",),
                          "byt5": ("byt5-small-glyph",)},
    "anima": {"vae": _QWEN_VAE, "qwen3": ("qwen3-0.6b",)},
    "qwen-image": {"vae": _QWEN_VAE + ("qwen-image-layered-vae",), "text_encoder": ("qwen2.5-vl-7b",)},
    "flux2": {"vae": ("flux2-ae",), "text_encoder": ("mistral3-24b", "qwen3-4b", "qwen3-8b")},
    "z-image": {"vae": ("flux1-vae-diffusers", "flux1-ae", "sd3-vae"), "text_encoder": ("qwen3-4b",)},
    "wan": {"vae": ("wan2.1-vae", "qwen-image-vae"), "t5": ("umt5-xxl",), "clip": ("wan2.1-clip",)},
    "hunyuan-video": {"vae": ("hunyuan-video-vae",), "text_encoder1": ("llava-llama3-8b",),
                      "text_encoder2": ("clip-l",)},
    "hunyuan-video-1.5": {"vae": ("hunyuan-video-1.5-vae",), "text_encoder": ("qwen2.5-vl-7b",),
                          "byt5": ("byt5-small-glyph",), "image_encoder": ("siglip",)},
    "framepack": {"vae": ("hunyuan-video-vae",), "text_encoder1": ("llava-llama3-8b",), "text_encoder2": ("clip-l",),
                  "image_encoder": ("siglip",)},
    "kandinsky5": {"vae": ("hunyuan-video-vae", "flux1-ae", "flux1-vae-diffusers")},
    "hidream-o1": {},
}
"""Per family: the contents each non-denoiser role accepts (the layouts the trainer's loader reads)."""

VARIANT_CONTENTS = {
    ("qwen-image", "layered", "vae"): ("qwen-image-layered-vae",),
    ("qwen-image", "original", "vae"): _QWEN_VAE, ("qwen-image", "edit", "vae"): _QWEN_VAE,
    ("qwen-image", "edit-2509", "vae"): _QWEN_VAE, ("qwen-image", "edit-2511", "vae"): _QWEN_VAE,
    ("flux2", "dev", "text_encoder"): ("mistral3-24b",),
    ("flux2", "klein-4b", "text_encoder"): ("qwen3-4b",), ("flux2", "klein-base-4b", "text_encoder"): ("qwen3-4b",),
    ("flux2", "klein-9b", "text_encoder"): ("qwen3-8b",), ("flux2", "klein-base-9b", "text_encoder"): ("qwen3-8b",),
}
"""Where a variant narrows what a role accepts."""

CONFIG_FAMILIES = {"sd15": "sd1", "sd1": "sd1", "sd2": "sd2", "sdxl": "sdxl", "sd3": "sd3", "flux": "flux1",
                   "flux1": "flux1", "chroma": "chroma", "lumina": "lumina2", "lumina2": "lumina2",
                   "hunyuan-image": "hunyuan-image-2.1", "hunyuan-image-2.1": "hunyuan-image-2.1", "anima": "anima",
                   "qwen-image": "qwen-image", "flux-kontext": "flux1", "flux1-kontext": "flux1", "kontext": "flux1",
                   "flux2": "flux2", "flux-2": "flux2", "z-image": "z-image", "zimage": "z-image", "wan": "wan",
                   "hunyuan-video": "hunyuan-video", "hv": "hunyuan-video", "hunyuan-video-1.5": "hunyuan-video-1.5",
                   "hv15": "hunyuan-video-1.5", "framepack": "framepack", "fpack": "framepack",
                   "kandinsky5": "kandinsky5", "hidream-o1": "hidream-o1",
                   # the training family registry's ids (loratui.training.families): one per variant
                   "sd2-v": "sd2", "qwen-image-edit": "qwen-image", "qwen-image-edit-2509": "qwen-image",
                   "qwen-image-edit-2511": "qwen-image", "flux2-dev": "flux2", "flux2-klein-4b": "flux2",
                   "flux2-klein-base-4b": "flux2", "flux2-klein-9b": "flux2", "flux2-klein-base-9b": "flux2",
                   "wan2.1-t2v-1.3b": "wan", "wan2.1-t2v-14b": "wan", "wan2.1-i2v-14b": "wan",
                   "wan2.2-t2v-a14b": "wan", "wan2.2-i2v-a14b": "wan", "hunyuan-video-1.5-t2v": "hunyuan-video-1.5",
                   "hunyuan-video-1.5-i2v": "hunyuan-video-1.5", "kandinsky5-t2v": "kandinsky5",
                   "kandinsky5-i2v": "kandinsky5", "hidream-o1-dev": "hidream-o1"}
"""Training-config family names (the registry's ids, older aliases and the catalog's own ids) to catalog
families. A variant the registry fixes (``--model_version``, ``--task``...) reaches ``config_variant`` through the
args the training layer passes (it adds the family's fixed variant flags)."""


def catalog_family(family: str, args: Mapping | None = None) -> str | None:
    """The catalog family a training config's `family` (and its args: --v2, --model_type) trains; None if unknown."""
    args = args or {}
    found = CONFIG_FAMILIES.get(family)
    if found == "sd1" and args.get("v2"):
        return "sd2"
    if found == "flux1" and args.get("model_type") == "chroma":
        return "chroma"
    return found


def config_variant(family: str, args: Mapping | None = None) -> str | None:
    """The variant a training config selects (its --model_version / --task / --model_type), None if it names none."""
    args = args or {}
    catalog = catalog_family(family, args)
    if family in ("flux-kontext", "flux1-kontext", "kontext"):
        return "kontext"
    if catalog == "qwen-image":
        version = args.get("model_version")
        if isinstance(version, str) and version:
            return version.lower()
        if args.get("edit_plus"):
            return "edit-2509"
        if args.get("edit"):
            return "edit"
        return "original"
    if catalog == "flux2":
        version = args.get("model_version")
        return version if isinstance(version, str) and version else "dev"
    if catalog == "wan":
        task = args.get("task")
        return task if isinstance(task, str) and task else "t2v-14B"
    if catalog == "hunyuan-video-1.5":
        task = args.get("task")
        return task if isinstance(task, str) and task else None
    if catalog == "hidream-o1":
        kind = args.get("model_type")
        return kind if isinstance(kind, str) and kind else None
    if catalog == "sd2":
        return "768-v" if args.get("v_parameterization") else "512"
    return None


@dataclass
class RoleProblem:
    """One file that does not fit its role: the role (option name), the message and 'error' or 'warning'."""

    role: str
    message: str
    severity: str = "error"
    unreadable: bool = False
    """The file's header could not be read (a warning: what it is stays unknown)."""

    def __str__(self) -> str:
        return f"{self.role}: {self.message}"


_SWITCH = {("sd1", "sd2"): "set v2 = true for SD 2.x", ("sd2", "sd1"): "v2 is set: remove it for SD 1.x",
           ("flux1", "chroma"): 'set model_type = "chroma"', ("chroma", "flux1"): "remove model_type = \"chroma\""}
"""Config changes that make the family match, where one option decides it."""


def _label(family: str) -> str:
    return FAMILIES[family].label if family in FAMILIES else family


def _variant_problem(role: str, info: ModelInfo, family: str, variant: str | None) -> RoleProblem | None:
    if not variant or not info.variants or variant in info.variants:
        return None
    what = {"keys": "its keys", "metadata": "its metadata", "file name": "its file name"}[info.variant_source or "keys"]
    found = " or ".join(info.variants)
    message = f"{info.path.name} is {_label(family)} {found} ({what} say so), but the config trains {variant}"
    if info.variant_source == "file name":
        message += " (the keys of the variants are the same: rename the file if its name is wrong)"
    return RoleProblem(role, message)


def _check_one(role: str, info: ModelInfo, family: str, variant: str | None) -> list[RoleProblem]:
    name = info.path.name
    if info.kind == "unknown":
        return [RoleProblem(role, f"{name} is not a model layout loratui knows; the trainer will tell", "warning")]
    if role == "network_weights":
        if info.kind != "lora":
            return [RoleProblem(role, f"{name} is not a LoRA but a {info.describe()}")]
        if info.families and family not in info.families:
            return [RoleProblem(role, f"{name} is a LoRA for {' or '.join(map(_label, info.families))}, "
                                      f"not {_label(family)}")]
        return []
    if info.kind == "lora":
        return [RoleProblem(role, f"{name} is a LoRA, not a base model file (LoRAs go to network_weights)")]
    if role in DENOISER_ROLES:
        if not info.families:
            parts = " + ".join(p.label for p in info.parts if p.content) or info.describe()
            return [RoleProblem(role, f"{name} holds no U-Net or DiT ({parts}); the model to train goes here")]
        if family not in info.families:
            fix = next((_SWITCH[(family, f)] for f in info.families if (family, f) in _SWITCH), "")
            return [RoleProblem(role, f"{name} is a {' or '.join(map(_label, info.families))} model "
                                      f"({info.describe()}), but the config trains {_label(family)}"
                                      + (f" ({fix})" if fix else ""))]
        problem = _variant_problem(role, info, family, variant)
        return [problem] if problem else []
    accepted = VARIANT_CONTENTS.get((family, variant or "", role)) or ROLE_CONTENTS.get(family, {}).get(role)
    if accepted is None:
        return []  # a role loratui has no rule for: the trainer decides
    contents = info.contents
    if not set(contents) & set(accepted):
        found = " + ".join(p.label for p in info.parts if p.content) or info.describe()
        if info.families:
            found = f"a {' or '.join(map(_label, info.families))} model ({info.describe()})"
        wanted = " or ".join(CONTENTS[c].label for c in accepted)
        return [RoleProblem(role, f"{name} is {found}; {_label(family)}{f' {variant}' if variant else ''} "
                                  f"takes {wanted} here")]
    return []


def check_model_roles(family: str, roles: Mapping[str, str | os.PathLike | ModelInfo],
                      variant: str | None = None) -> list[RoleProblem]:
    """Identify the file of each role and report what does not fit `family` (and `variant`).

    `family` is a catalog family id or a training-config family name; `roles` maps option names to files (or to
    results of ``identify``). Files that are missing, unreadable or not safetensors are reported too (a folder or
    a Hugging Face repo id is left to the trainer; an unreadable header is a warning). An unknown family gives no
    problems.
    """
    family = CONFIG_FAMILIES.get(family, family)
    if family not in FAMILIES:
        return []
    problems: list[RoleProblem] = []
    for role, value in roles.items():
        if isinstance(value, ModelInfo):
            info = value
        else:
            path = Path(value).expanduser()
            if path.is_dir() or not path.exists() or path.suffix.lower() not in (".safetensors", ".sft"):
                continue  # diffusers folders, repo ids, .pt files: the trainer reads those
            try:
                info = identify(path)
            except LoratuiError as exc:
                # A warning, not an error: loratui cannot tell what the file is, so it cannot say it is wrong;
                # the trainer's own loader will give the final word.
                problems.append(RoleProblem(role, f"cannot read its safetensors header: {exc.message}", "warning",
                                            unreadable=True))
                continue
        problems += _check_one(role, info, family, variant)
    return problems


def require_model_roles(family: str, roles: Mapping[str, str | os.PathLike | ModelInfo],
                        variant: str | None = None) -> None:
    """``check_model_roles``, raising ModelError for the errors (warnings pass)."""
    errors = [p for p in check_model_roles(family, roles, variant) if p.severity == "error"]
    if errors:
        raise ModelError("; ".join(str(p) for p in errors))


CONTENT_ROLES = {
    "kohya": {"vae": ("ae", "vae"), "clip-l": ("clip_l",), "clip-g": ("clip_g",), "t5-xxl": ("t5xxl",),
              "qwen2.5-vl-7b": ("text_encoder",), "byt5-small-glyph": ("byt5",), "gemma2-2b": ("gemma2",),
              "qwen3-0.6b": ("qwen3",)},
    "musubi": {"vae": ("vae",), "t5-xxl": ("text_encoder1",), "clip-l": ("text_encoder2",),
               "llava-llama3-8b": ("text_encoder1",), "umt5-xxl": ("t5",), "wan2.1-clip": ("clip",),
               "siglip": ("image_encoder",), "byt5-small-glyph": ("byt5",)},
}
"""Which option a non-denoiser file goes to, per trainer (a VAE: whichever of the family's roles takes it)."""


@dataclass
class Assignment:
    """What ``assign_roles`` made of some files: the family they are for, and each file's role."""

    family: str | None
    variants: tuple[str, ...]
    roles: dict[str, str]
    unplaced: list[str]
    """Files that fit no role of the family (with the reason)."""


def assign_roles(paths: list[str | os.PathLike], backend: str, family: str | None = None) -> Assignment:
    """Identify `paths` and say which option each goes to; the family comes from the denoiser if not given."""
    infos = [identify(p) for p in paths]
    target = CONFIG_FAMILIES.get(family, family) if family else None
    variants: tuple[str, ...] = ()
    denoiser_role = "pretrained_model_name_or_path" if backend == "kohya" else "dit"
    roles: dict[str, str] = {}
    unplaced: list[str] = []
    for info in infos:
        if info.kind in ("checkpoint", "unet", "dit") and info.families:
            if target is None:
                target = info.families[0]
            if target in info.families:
                roles[denoiser_role] = str(info.path)
                variants = info.variants
                continue
    for info in infos:
        if str(info.path) in roles.values():
            continue
        if info.kind == "lora":
            roles["network_weights"] = str(info.path)
            continue
        placed = False
        for part in info.parts:
            key = "vae" if part.role == "vae" else part.content
            for role in CONTENT_ROLES.get(backend, {}).get(key or "", ()):
                accepted = ROLE_CONTENTS.get(target or "", {}).get(role, ())
                if role in roles or (target and set(info.contents).isdisjoint(accepted)):
                    continue
                roles[role] = str(info.path)
                placed = True
                break
            if not placed and part.role == "text_encoder" and backend == "musubi" and "text_encoder" not in roles \
                    and target and not set(info.contents).isdisjoint(ROLE_CONTENTS.get(target, {}).get(
                        "text_encoder", ())):
                roles["text_encoder"] = str(info.path)
                placed = True
            if placed:
                break
        if not placed:
            unplaced.append(f"{info.path.name}: {info.describe()}")
    return Assignment(target, variants, roles, unplaced)
