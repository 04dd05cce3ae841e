"""The shape of a model family record: plain frozen data, no behaviour beyond small lookups.

A family is everything loratui must know about training one kind of model with one trainer that is *not* in
the trainer's parser: which scripts run in which phase, which model files it needs and which flag each goes
to, which variant flags it always passes, how its dataset TOML looks, its bucket rules, its sample-prompt
syntax, how resume works, where the model files come from, and its presets. Options themselves always come
from the installed trainer's parser (``loratui.training.schema``).

Stable names other code relies on (change them only with their users):

* phase names ``cache_latents``, ``cache_text``, ``train`` (the runner's phase names) and ``inference``;
* role names (``ModelRole.name``): ``checkpoint``, ``dit``, ``dit_high_noise``, ``vae``, ``ae``,
  ``text_encoder``, ``clip_l``, ``clip_g``, ``t5xxl``, ``t5``, ``clip_vision``, ``image_encoder``, ``byt5``,
  ``gemma2``, ``qwen3``, ``llm_adapter``;
* content ids (``ModelRole.content``): what the file holds, e.g. ``flux1-dit``, ``flux1-ae``, ``clip-l``,
  ``t5-xxl``, ``qwen2.5-vl-7b``, ``wan2.1-vae`` (``models inspect`` compares a file's identified content with
  the role's).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PHASES = ("cache_latents", "cache_text", "train", "inference")
"""Phase names: the first three run in this order (sd-scripts runs only ``train``); ``inference`` is the
family's generation script (for sample grids), never run by a training."""

TRAINERS = ("kohya", "musubi")
"""Trainer ids, as in a training config's ``backend``: kohya-ss/sd-scripts and kohya-ss/musubi-tuner."""

TRAINER_NAMES = {"kohya": "sd-scripts", "musubi": "musubi-tuner"}


@dataclass(frozen=True)
class ModelRole:
    """One model file a family needs, and the trainer option that takes it."""

    name: str
    """Stable role id (see the module docstring)."""
    option: str
    """The trainer option (argparse dest) that takes the path, e.g. ``pretrained_model_name_or_path``, ``dit``,
    ``text_encoder1``. In a training config it is set as ``[args] <option> = "PATH"``."""
    content: str
    """What the file holds (a content id): ``qwen2.5-vl-7b``, ``flux1-ae``, ``wan2.1-vae``, ..."""
    description: str
    phases: tuple[str, ...] = ("train",)
    """Phases whose script gets ``--<option> PATH`` (musubi passes the VAE to latent caching, the text encoders
    to text caching, and both again to training, which needs them for samples)."""
    required: bool = True
    repo_id_ok: bool = False
    """The trainer also accepts a Hugging Face repo id instead of a file (no existence check then)."""

    @property
    def flag(self) -> str:
        """The command-line flag: ``--<option>``."""
        return f"--{self.option}"


@dataclass(frozen=True)
class FixedArg:
    """A variant flag the family passes itself, e.g. ``--model_version edit-2509`` or ``--task t2v-A14B``.

    With ``choices``, ``value`` is the default and the user may pick another of them in ``[args]``; without,
    ``[args]`` may not set the option to anything else.
    """

    option: str
    value: Any
    phases: tuple[str, ...] = ("train",)
    choices: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Controls:
    """Control (reference) images an edit-style family trains with, next to each target image.

    Read by the dataset side (image pairs): musubi pairs a target ``S.png`` with control files ``S.*`` /
    ``S_0.*``, ``S_1.*`` ... in the dataset's ``control_directory``.
    """

    required: bool
    """The family makes no sense without them (an edit model); False: optional (FLUX.2, HiDream-O1 i2i)."""
    max_count: int | None
    """Controls used per target image: 1, or None for any number."""
    dataset_fields: tuple[str, ...] = ("control_directory",)
    """Dataset TOML keys (in a ``[[datasets]]`` table) that configure them."""
    recommended: tuple[tuple[str, Any], ...] = ()
    """Dataset TOML values the trainer's docs recommend, e.g. ``("control_resolution", [1024, 1024])``."""
    note: str = ""


@dataclass(frozen=True)
class Download:
    """Where a role's file comes from on the Hugging Face Hub (what ``models download --family`` fetches)."""

    role: str
    repo: str
    file: str
    note: str = ""


@dataclass(frozen=True)
class Family:
    """One model family trained by one trainer."""

    id: str
    """Stable id used in training configs (``family = "qwen-image-edit-2509"``)."""
    name: str
    """Human name, e.g. ``Qwen-Image-Edit-2509``."""
    trainer: str
    """``kohya`` (sd-scripts) or ``musubi`` (musubi-tuner); a training config's ``backend``."""
    scripts: dict[str, str]
    """Phase -> script file name (relative to the trainer's script folder)."""
    roles: tuple[ModelRole, ...]
    network_module: str
    """The LoRA module for this family (``--network_module``)."""
    default_resolution: int
    """Training resolution when the config gives none (square)."""
    bucket_step: int
    """sd-scripts: ``bucket_reso_steps`` must be a multiple of this; musubi: the fixed bucket step."""
    presets: dict[str, dict[str, Any]]
    """VRAM tier (``"8gb"``, ``"24gb"``...) -> that tier's memory settings (block swap, fp8, text encoder in fp8):
    built-in preset ``<id>-<tier>`` is the trainer's preset defaults, then ``preset_args``, then these."""
    fixed_args: tuple[FixedArg, ...] = ()
    preset_args: dict[str, Any] = field(default_factory=dict)
    """The family's training defaults in its presets (timestep sampling, flow shift, learning rate, rank...), as
    the trainer's docs give them for this family."""
    dataset_dialect: str = "sd-scripts"
    """``sd-scripts`` (``[[datasets]]`` with ``[[datasets.subsets]]``) or ``musubi`` (one ``[[datasets]]`` per
    folder, ``image_directory`` + ``cache_directory``)."""
    architecture: str = ""
    """musubi's architecture code (cache file suffix, dataset rules): ``qi``, ``qie``, ``fk``, ``wan``..."""
    controls: Controls | None = None
    video: bool = False
    """A video model (trained here from image datasets: each image is a one-frame clip)."""
    cache_forward: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """musubi: phase -> [args] options copied to that caching script when set (fp8 text encoder, VAE tiling)."""
    sample_options: tuple[str, ...] = ()
    """Per-prompt options the trainer reads after a sample prompt (``--w``, ``--h``, ``--ci``...)."""
    downloads: tuple[Download, ...] = ()
    resume: str = ""
    """How a stopped training continues with this trainer (what its saved state holds and what it does not)."""
    doc: str = ""
    """The trainer's documentation page for this family (path in its checkout)."""
    notes: tuple[str, ...] = ()
    """Things a user of this family should know (shown by ``train families``)."""
    aliases: tuple[str, ...] = ()
    verified: str = "parser"
    """What was run against the real trainer: ``run`` (a real training on stand-in models) or ``parser`` (its
    argv and dataset TOML checked by the trainer's own parser and validator only)."""

    def role(self, name: str) -> ModelRole | None:
        """The role called `name`, or None."""
        return next((r for r in self.roles if r.name == name), None)

    def role_for_option(self, option: str) -> ModelRole | None:
        """The role whose trainer option is `option`, or None."""
        return next((r for r in self.roles if r.option == option), None)

    def fixed(self, option: str) -> FixedArg | None:
        """The fixed/variant arg for `option`, or None."""
        return next((f for f in self.fixed_args if f.option == option), None)

    def variant_values(self, args: dict[str, Any], phase: str) -> dict[str, Any]:
        """The variant flags passed to `phase`'s script (a variant with choices takes the pick in `args`)."""
        return {fixed.option: args.get(fixed.option, fixed.value) if fixed.choices else fixed.value
                for fixed in self.fixed_args if phase in fixed.phases}

    def phase_names(self) -> list[str]:
        """The phases a training runs, in order (``inference`` excluded)."""
        return [p for p in PHASES[:3] if p in self.scripts]

    @property
    def preset_names(self) -> list[str]:
        """The built-in preset names of this family."""
        return [f"{self.id}-{tier}" for tier in self.presets]

    @property
    def trainer_name(self) -> str:
        """``sd-scripts`` or ``musubi-tuner``."""
        return TRAINER_NAMES[self.trainer]
