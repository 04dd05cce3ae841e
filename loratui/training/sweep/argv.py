"""The inference script of a family and the argv of one row: one script run renders a whole row.

Two option shapes are supported, both read from the scripts' own parsers:

* ``gen_img`` -- sd-scripts' ``gen_img.py`` (SD 1.x/2.x, and SDXL with ``--sdxl``): ``--ckpt``, ``--outdir``,
  ``--from_file`` (one prompt a line, ``--f NAME`` naming each image), ``--network_module/--network_weights/
  --network_mul`` for the LoRA. ``sdxl_gen_img.py``, the SDXL family's own script, has no per-line file name
  (``--f``), so SDXL renders through ``gen_img.py --sdxl`` (sd-scripts v0.10.1 has both).
* ``musubi`` -- musubi-tuner's ``qwen_image_generate_image.py``: ``--dit/--vae/--text_encoder``, ``--save_path``,
  ``--from_file`` (images named ``<time>_<seed>_..._000.png`` in prompt order), ``--lora_weight/--lora_multiplier``.

The model is loaded once per run, so a row of P prompts x S seeds costs one load, not P x S.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from loratui.errors import LoraError
from loratui.fsutil import atomic_write_text
from loratui.loras.sweep_manifest import SweepRow
from loratui.training.families import get_family

STYLES = {"sd15": "gen_img", "sd2": "gen_img", "sd2-v": "gen_img", "sdxl": "gen_img", "qwen-image": "musubi"}
"""The families a sweep renders, and the option shape of their inference script."""
GEN_IMG_SCRIPT = "gen_img.py"
"""sd-scripts' generation script for every gen_img-style family (SDXL with ``--sdxl``)."""
RENDER_FILE = "render.json"
DEFAULT_SIZE = {"gen_img": 512, "musubi": 1024}
DEFAULT_STEPS = {"gen_img": 28, "musubi": 25}
_GEN_IMG_MODEL = {"pretrained_model_name_or_path": "ckpt", "vae": "vae", "tokenizer_cache_dir": "tokenizer_cache_dir"}
_GEN_IMG_FLAGS = ("v2", "v_parameterization")
_MUSUBI_MODEL = {"dit": "dit", "vae": "vae", "text_encoder": "text_encoder", "model_version": "model_version"}


@dataclass
class RenderSpec:
    """How every row of a sweep is rendered (kept as render.json in the sweep folder)."""

    style: str
    python: str
    script: str
    cwd: str
    model_args: list[list[Any]]
    """``[option, value]`` pairs (value None: a flag) that load the base model."""
    width: int
    height: int
    steps: int
    scale: float | None = None
    sampler: str = "euler_a"
    network_module: str = "networks.lora"
    extra_args: list[str] = field(default_factory=list)
    """More arguments for every run (``--script-arg``), e.g. a precision or attention option."""
    env: dict[str, str] = field(default_factory=dict)
    prompts: list[dict] = field(default_factory=list)
    """The sweep's prompts (``SweepPrompt.as_dict``) by prompt index: each line's own size, steps and scale."""

    def save(self, folder: Path) -> Path:
        """Write render.json atomically."""
        path = Path(folder) / RENDER_FILE
        atomic_write_text(path, json.dumps(asdict(self), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, folder: Path) -> "RenderSpec":
        """Read render.json (LoraError when missing or broken)."""
        path = Path(folder) / RENDER_FILE
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as exc:
            raise LoraError(f"cannot read {path}: {exc}", title="Broken sweep folder") from None


def style_of(family: str) -> str:
    """The option shape of a family's inference script (LoraError for a family a sweep cannot render yet)."""
    style = STYLES.get(family)
    if style is None:
        raise LoraError(f"sweeps cannot render {family} yet (they render " + ", ".join(sorted(STYLES)) + ")",
                        title="Family not supported")
    return style


def model_args(family: str, args: dict[str, Any], overrides: dict[str, str | None] | None = None) -> list[list[Any]]:
    """The script options that load the base model, from a training's options (``args``) and the user's
    ``overrides`` (script option -> value)."""
    style = style_of(family)
    out: dict[str, Any] = {}
    mapping = _GEN_IMG_MODEL if style == "gen_img" else _MUSUBI_MODEL
    for train_option, script_option in mapping.items():
        value = args.get(train_option)
        if isinstance(value, str) and value:
            out[script_option] = value
    if style == "gen_img":
        for flag in _GEN_IMG_FLAGS:
            if args.get(flag) is True:
                out[flag] = None
        if family in ("sd2", "sd2-v"):
            out["v2"] = None
        if family == "sd2-v":
            out["v_parameterization"] = None
        if family == "sdxl":
            out = {k: v for k, v in out.items() if k not in _GEN_IMG_FLAGS}
            out["sdxl"] = None
    else:
        for fixed in get_family(family).fixed_args:
            if fixed.option == "model_version":
                out.setdefault("model_version", str(fixed.value))
    out.update(overrides or {})
    needed = "ckpt" if style == "gen_img" else "dit"
    if not out.get(needed):
        raise LoraError(f"no base model for the {family} sweep",
                        hint="pass --base PATH (and for musubi families --vae and --text-encoder)")
    return [[k, v] for k, v in out.items()]


def _option_args(pairs: list[list[Any]]) -> list[str]:
    argv: list[str] = []
    for name, value in pairs:
        argv.append(f"--{name}")
        if value is not None:
            argv.append(str(value))
    return argv


def row_argv(spec: RenderSpec, row: SweepRow, prompt_file: Path, outdir: Path) -> list[str]:
    """The argv that renders one row: every line of ``prompt_file`` into ``outdir``, with the row's LoRA."""
    argv = [spec.python, spec.script, *_option_args(spec.model_args)]
    if spec.style == "gen_img":
        argv += ["--outdir", str(outdir), "--from_file", str(prompt_file), "--steps", str(spec.steps),
                 "--W", str(spec.width), "--H", str(spec.height), "--sampler", spec.sampler,
                 "--images_per_prompt", "1", "--batch_size", "1"]
        if spec.scale is not None:
            argv += ["--scale", f"{spec.scale:g}"]
        if row.lora is not None:
            argv += ["--network_module", spec.network_module, "--network_weights", row.lora,
                     "--network_mul", f"{row.strength if row.strength is not None else 1.0:g}"]
    else:
        argv += ["--save_path", str(outdir), "--from_file", str(prompt_file), "--image_size", str(spec.height),
                 str(spec.width), "--infer_steps", str(spec.steps), "--output_type", "images"]
        if spec.scale is not None:
            argv += ["--guidance_scale", f"{spec.scale:g}"]
        if row.lora is not None:
            argv += ["--lora_weight", row.lora, "--lora_multiplier",
                     f"{row.strength if row.strength is not None else 1.0:g}"]
    return argv + list(spec.extra_args)
