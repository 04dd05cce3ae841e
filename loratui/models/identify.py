"""``identify(path)``: what a safetensors model file is, from its header alone.

The header is read with the bounded reader of ``loras.safetensors_io`` (no tensor is read, nothing is
unpickled). A LoRA is recognised by its down/up module pairs and matched to a family with ``lora_target``; any
other file is split into the components a single-file checkpoint keeps under prefixes (``catalog.COMPONENTS``)
and each component is matched against ``catalog.FINGERPRINTS``. Where the keys leave several variants open, the
metadata (``modelspec.architecture``, ``ss_base_model_version``) and then the file name narrow them, and the
result says which evidence decided.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from loratui.errors import LoraError, ModelError, NotFoundError
from loratui.loras.inspect import LYCORIS_MARKERS, find_modules
from loratui.loras.safetensors_io import Header, read_header
from loratui.models.catalog import (
    COMPONENTS, CONTENTS, FAMILIES, FINGERPRINTS, METADATA_HINTS, NAME_HINTS, ROLE_OF_COMPONENT, Fingerprint,
)
from loratui.models.lora_target import lora_target

KINDS = {
    "checkpoint": "full model (U-Net/DiT with VAE and/or text encoders)",
    "unet": "U-Net only",
    "dit": "DiT only",
    "vae": "VAE",
    "text_encoder": "text encoder",
    "image_encoder": "image encoder",
    "components": "VAE and/or encoders without a U-Net or DiT",
    "lora": "LoRA",
    "unknown": "not a known model layout",
}
"""The kinds of file ``identify`` tells apart, with how they are shown."""


@dataclass
class Part:
    """One component found in the file: what it is and under which key prefix."""

    role: str
    content: str | None
    prefix: str
    keys: int
    layout: str = ""
    variants: tuple[str, ...] = ()
    also: tuple[str, ...] = ()
    note: str = ""

    @property
    def label(self) -> str:
        """How the content is shown."""
        if self.content is None:
            return f"unrecognised {self.role.replace('_', ' ')}"
        label = CONTENTS[self.content].label
        return label + (f" (or {', '.join(CONTENTS[c].label for c in self.also)})" if self.also else "")

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"role": self.role, "content": self.content, "label": self.label, "prefix": self.prefix,
                "keys": self.keys, "layout": self.layout, "variants": list(self.variants), "also": list(self.also),
                "note": self.note}


@dataclass
class ModelInfo:
    """What ``identify`` found in one file."""

    path: Path
    file_size: int
    tensors: int
    kind: str
    families: tuple[str, ...] = ()
    """Candidate families: one when the file says which; several when it cannot tell them apart; none if unknown."""
    variants: tuple[str, ...] = ()
    """Variants still possible (empty: the family has none, or nothing narrowed them)."""
    variant_source: str = ""
    """What narrowed the variants to the ones left: 'keys', 'metadata' or 'file name'."""
    parts: list[Part] = field(default_factory=list)
    lora_modules: int = 0
    lora_text_encoder: bool = False
    lora_network: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def family(self) -> str | None:
        """The family when only one is possible."""
        return self.families[0] if len(self.families) == 1 else None

    @property
    def variant(self) -> str | None:
        """The variant when only one is possible."""
        return self.variants[0] if len(self.variants) == 1 else None

    @property
    def contents(self) -> tuple[str, ...]:
        """The content ids of every recognised part (and the contents with the same layout)."""
        return tuple(c for part in self.parts if part.content for c in (part.content, *part.also))

    def describe(self) -> str:
        """One line: kind, family and variant."""
        if self.kind == "unknown":
            return "not a known model layout"
        text = KINDS[self.kind]
        if self.families:
            text += (" for " if self.kind == "lora" else ", ") + " or ".join(FAMILIES[f].label for f in self.families)
        elif self.kind in ("vae", "text_encoder", "image_encoder", "components"):
            text += ", " + " + ".join(part.label for part in self.parts)
        if self.variants:
            text += f" ({' or '.join(self.variants)})"
        return text

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"path": str(self.path), "size": self.file_size, "tensors": self.tensors, "kind": self.kind,
                "kind_label": KINDS[self.kind], "family": self.family, "families": list(self.families),
                "family_labels": [FAMILIES[f].label for f in self.families], "variant": self.variant,
                "variants": list(self.variants), "variant_source": self.variant_source or None,
                "parts": [p.as_dict() for p in self.parts],
                "lora": ({"modules": self.lora_modules, "text_encoder": self.lora_text_encoder,
                          "network": self.lora_network} if self.kind == "lora" else None),
                "metadata": self.metadata, "notes": self.notes, "summary": self.describe()}


_KEPT_METADATA = ("modelspec.architecture", "modelspec.title", "ss_base_model_version", "ss_network_module",
                  "format")


def identify(path: str | os.PathLike) -> ModelInfo:
    """Read the header of a safetensors file and say what it holds; ModelError if it is not a readable one."""
    path = Path(path)
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise NotFoundError(f"no such file: {path}") from None
    except OSError as exc:
        raise ModelError(f"{path}: {exc.strerror or exc}") from None
    return _identify_cached(str(path), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=64)
def _identify_cached(path: str, _size: int, _mtime_ns: int) -> ModelInfo:
    # Keyed by size and mtime: the training form asks on every edit; a changed file is read again.
    file = Path(path)
    if file.is_dir():
        raise ModelError(f"{file} is a folder; give one .safetensors file (a diffusers folder holds several)")
    try:
        header = read_header(file)
    except LoraError as exc:
        _refuse_pickles(file)
        raise ModelError(exc.message, hint="a safetensors file that is cut short (an interrupted download?) or "
                                           "not a safetensors file at all") from None
    return identify_header(header)


def _refuse_pickles(path: Path) -> None:
    """After a failed header read: say so plainly when the file is a (zip or plain) pickle."""
    try:
        with open(path, "rb") as handle:
            magic = handle.read(2)
    except OSError:
        return
    if magic == b"PK" or (magic[:1] == b"\x80" and magic[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")):
        raise ModelError(f"{path.name} is a pickled PyTorch checkpoint (.ckpt/.pt/.bin), not safetensors",
                         hint="loratui never unpickles files (a pickle can run code); use a .safetensors version")


def identify_header(header: Header) -> ModelInfo:
    """``identify`` for a header already read."""
    info = ModelInfo(path=header.path, file_size=header.file_size, tensors=len(header.tensors), kind="unknown",
                     metadata={k: header.metadata[k] for k in _KEPT_METADATA if k in header.metadata})
    if not header.tensors:
        info.notes.append("the file holds no tensors")
        return info
    modules, others = find_modules(list(header.tensors))
    lycoris = any(name.rsplit(".", 1)[-1] in LYCORIS_MARKERS for name in others)
    if modules and len(modules) * 2 >= len(header.tensors) // 3 or (lycoris and not modules):
        _identify_lora(header, info, modules, lycoris)
    else:
        _identify_model(header, info)
    _narrow(info, header)
    return info


def _identify_lora(header: Header, info: ModelInfo, modules, lycoris: bool) -> None:
    info.kind = "lora"
    info.lora_modules = len(modules)
    info.lora_network = header.metadata.get("ss_network_module", "") or ("lycoris" if lycoris else "")
    if not modules:
        info.notes.append("a LyCORIS file (LoHa/LoKr/...): its target family is read from the metadata only")
        return
    target = lora_target(header, modules)
    info.families, info.variants = target.families, target.variants
    info.lora_text_encoder = target.text_encoder
    if target.variants:
        info.variant_source = "keys"
    if not target.families:
        info.notes.append("the module names match no known family")


def _shape_ok(actual: tuple[int, ...], wanted) -> bool:
    if wanted is None:
        return True
    return len(actual) == len(wanted) and all(w is None or a == w for a, w in zip(actual, wanted))


def _match(fp: Fingerprint, shapes: dict[str, tuple[int, ...]]) -> bool:
    for prefix in fp.prefixes:
        if all(prefix + k in shapes and _shape_ok(shapes[prefix + k], s) for k, s in fp.has) \
                and not any(prefix + k in shapes for k in fp.lacks):
            return True
    return False


def _best(shapes: dict[str, tuple[int, ...]], roles: tuple[str, ...] | None) -> list[Fingerprint]:
    found = [fp for fp in FINGERPRINTS if (roles is None or CONTENTS[fp.content].role in roles) and _match(fp, shapes)]
    if not found:
        return []
    top = max(fp.specificity for fp in found)
    return [fp for fp in found if fp.specificity == top]


def _split(header: Header) -> dict[tuple[str, str | None], dict[str, tuple[int, ...]]]:
    groups: dict[tuple[str, str | None], dict[str, tuple[int, ...]]] = {}
    for name, tensor in header.tensors.items():
        for component in COMPONENTS:
            m = component.pattern.match(name)
            if m:
                key = (m.group(0), component.role)
                groups.setdefault(key, {})[name[m.end():]] = tensor.shape
                break
        else:
            groups.setdefault(("", None), {})[name] = tensor.shape
    return groups


_PART_ORDER = {"unet": 0, "dit": 0, "vae": 1, "text_encoder": 2, "image_encoder": 3}


def _identify_model(header: Header, info: ModelInfo) -> None:
    for (prefix, component_role), shapes in _split(header).items():
        roles = ROLE_OF_COMPONENT[component_role] if component_role else None
        best = _best(shapes, roles)
        if not best and prefix:
            # An unknown prefix shape (e.g. ComfyUI's "model.diffusion_model." around a DiT): try every role.
            best = _best(shapes, None)
        if not best:
            if prefix or len(shapes) > 4:
                info.parts.append(Part(component_role or "unknown", None, prefix, len(shapes)))
            continue
        fp = best[0]
        variants = tuple(dict.fromkeys(v for f in best if f.content == fp.content for v in f.variants))
        also = tuple(dict.fromkeys(f.content for f in best if f.content != fp.content)) + fp.also
        info.parts.append(Part(CONTENTS[fp.content].role, fp.content, prefix, len(shapes), fp.layout, variants,
                               also, fp.note))
    info.parts.sort(key=lambda p: _PART_ORDER.get(p.role, len(_PART_ORDER)))
    known = [p for p in info.parts if p.content]
    denoisers = [p for p in known if p.role in ("unet", "dit")]
    if denoisers:
        main = denoisers[0]
        info.families = (CONTENTS[main.content].family,)
        info.variants = main.variants
        info.variant_source = "keys" if main.variants else ""
        others = [p for p in known if p is not main]
        info.kind = "checkpoint" if others else main.role
        if main.note:
            info.notes.append(main.note)
    elif known:
        roles = {p.role for p in known}
        info.kind = roles.pop() if len(roles) == 1 else "components"
        info.notes += [p.note for p in known if p.note]
    unknown = [p for p in info.parts if not p.content]
    if unknown and known:
        info.notes.append("not recognised: " + ", ".join(f"{p.prefix or '(no prefix)'} ({p.keys} keys)"
                                                         for p in unknown))


def _hint_variants(info: ModelInfo, header: Header) -> tuple[tuple[str, ...], str] | None:
    family = info.family
    found = None
    for key in ("modelspec.architecture", "ss_base_model_version"):
        value = header.metadata.get(key)
        if not value:
            continue
        for hint in METADATA_HINTS:
            if hint.key == key and hint.pattern.search(value.split("/")[0] if key.startswith("modelspec") else value):
                if family is None and not info.families:
                    if info.kind not in ("lora", "unknown"):
                        break  # a VAE or encoder: metadata never turns it into a family's model
                    info.families = (hint.family,)
                    info.notes.append(f"family from the metadata ({key} = {value!r}); the keys did not tell")
                    family = hint.family
                elif hint.family not in info.families:
                    info.notes.append(f"the metadata ({key} = {value!r}) names {FAMILIES[hint.family].label}, "
                                      "but the keys say otherwise (the keys win)")
                    break
                elif family is None:
                    info.families = (hint.family,)
                    family = hint.family
                    info.notes.append(f"family narrowed by the metadata ({key} = {value!r})")
                if hint.variants and found is None:
                    found = (hint.variants, "metadata")
                break
    return found


def _narrow(info: ModelInfo, header: Header) -> None:
    """Narrow open variants with the metadata, then the file name (never against the keys)."""
    from_metadata = _hint_variants(info, header)
    family = info.family
    if family is None:
        return
    current = info.variants
    if from_metadata:
        variants, _ = from_metadata
        kept = tuple(v for v in current if v in variants) if current else variants
        if kept and kept != current:
            info.variants, info.variant_source = kept, "metadata"
            current = kept
    if len(current) == 1:
        return
    name = header.path.name
    for hint in NAME_HINTS:
        if hint.family != family or not hint.pattern.search(name):
            continue
        kept = tuple(v for v in current if v in hint.variants) if current else ()
        if kept and kept != current:
            info.variants, info.variant_source = kept, "file name"
            current = kept
