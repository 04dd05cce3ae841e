"""Which loratui backend and family a source means: the model-type vocabularies of every source, as data.

Each table maps a source's own word for a model (a training script, a kohya_ss checkbox, a OneTrainer
``model_type``, an ai-toolkit ``arch``) to ``(backend, family)``. Families loratui does not train yet are listed
too, under the ids they will have, so that the import can say so instead of guessing; adding a family to
loratui makes them importable without touching the importers.
"""

from __future__ import annotations

from pathlib import PurePath

from loratui.errors import ConfigError
from loratui.training.config import FAMILIES

KOHYA_SCRIPTS = {
    "train_network.py": "sd15",
    "sdxl_train_network.py": "sdxl",
    "flux_train_network.py": "flux",
    "sd3_train_network.py": "sd3",
    "lumina_train_network.py": "lumina",
    "hunyuan_image_train_network.py": "hunyuan-image",
    "anima_train_network.py": "anima",
}
"""sd-scripts' LoRA scripts -> family."""

MUSUBI_PREFIXES = {
    "qwen_image": "qwen-image",
    "flux_kontext": "flux-kontext",
    "flux_2": "flux-2",
    "zimage": "z-image",
    "wan": "wan",
    "hv": "hunyuan-video",
    "hv_1_5": "hunyuan-video-1.5",
    "fpack": "framepack",
    "kandinsky5": "kandinsky5",
    "hidream_o1": "hidream-o1",
    "krea2": "krea2",
    "ideogram4": "ideogram4",
}
"""musubi-tuner's script prefixes (``<prefix>_train_network.py``, ``<prefix>_cache_latents.py``, ...) -> family."""

MUSUBI_PHASES = {"_train_network": "train", "_cache_latents": "cache_latents",
                 "_cache_text_encoder_outputs": "cache_text", "_cache_pixel": "cache_latents"}

KOHYA_GUI_CHECKBOXES = (
    ("sdxl", "sdxl"),
    ("flux1_checkbox", "flux"),
    ("sd3_checkbox", "sd3"),
    ("hunyuan_image_checkbox", "hunyuan-image"),
    ("anima_checkbox", "anima"),
    ("lumina_checkbox", "lumina"),
)
"""kohya_ss GUI model checkboxes, in the order its train_model() picks the script; none ticked: SD 1.x/2.x."""

ONETRAINER_MODEL_TYPES = {
    "STABLE_DIFFUSION_15": ("kohya", "sd15", {}),
    "STABLE_DIFFUSION_15_INPAINTING": ("kohya", "sd15", {}),
    "STABLE_DIFFUSION_20": ("kohya", "sd15", {"v2": True, "v_parameterization": True}),
    "STABLE_DIFFUSION_20_BASE": ("kohya", "sd15", {"v2": True}),
    "STABLE_DIFFUSION_20_INPAINTING": ("kohya", "sd15", {"v2": True}),
    "STABLE_DIFFUSION_21": ("kohya", "sd15", {"v2": True, "v_parameterization": True}),
    "STABLE_DIFFUSION_21_BASE": ("kohya", "sd15", {"v2": True}),
    "STABLE_DIFFUSION_XL_10_BASE": ("kohya", "sdxl", {}),
    "STABLE_DIFFUSION_XL_10_BASE_INPAINTING": ("kohya", "sdxl", {}),
    "STABLE_DIFFUSION_3": ("kohya", "sd3", {}),
    "STABLE_DIFFUSION_35": ("kohya", "sd3", {}),
    "FLUX_DEV_1": ("kohya", "flux", {}),
    "CHROMA_1": ("kohya", "flux", {"model_type": "chroma"}),
    "QWEN": ("musubi", "qwen-image", {}),
    "FLUX_2": ("musubi", "flux-2", {}),
    "Z_IMAGE": ("musubi", "z-image", {}),
    "HUNYUAN_VIDEO": ("musubi", "hunyuan-video", {}),
    "HI_DREAM_FULL": ("kohya", "hidream", {}),
    "ANIMA": ("kohya", "anima", {}),
}
"""OneTrainer ``model_type`` -> backend, family and the trainer args that variant needs."""

AITOOLKIT_ARCHES = {
    "sd1": ("kohya", "sd15", {}),
    "sd2": ("kohya", "sd15", {"v2": True}),
    "sdxl": ("kohya", "sdxl", {}),
    "sd3": ("kohya", "sd3", {}),
    "flux": ("kohya", "flux", {}),
    "chroma": ("kohya", "flux", {"model_type": "chroma"}),
    "qwen_image": ("musubi", "qwen-image", {}),
    "qwen_image_edit": ("musubi", "qwen-image-edit", {}),
    "qwen_image_edit_plus": ("musubi", "qwen-image-edit", {}),
    "flux_kontext": ("musubi", "flux-kontext", {}),
    "lumina2": ("kohya", "lumina", {}),
    "wan21": ("musubi", "wan", {}),
    "wan22_14b": ("musubi", "wan", {}),
    "hidream": ("kohya", "hidream", {}),
}
"""ai-toolkit ``model.arch`` (or its older ``is_*`` flags, see ``aitoolkit.py``) -> backend, family, args."""

NETWORK_MODULES = {
    "sd15": "networks.lora",
    "sdxl": "networks.lora",
    "flux": "networks.lora_flux",
    "sd3": "networks.lora_sd3",
    "qwen-image": "networks.lora_qwen_image",
}
"""The plain LoRA module of each family (for sources that name no module)."""


def require_trained(backend: str, family: str, what: str) -> None:
    """ConfigError unless loratui trains `family` with `backend`."""
    if family not in FAMILIES.get(backend, ()):
        trained = ", ".join(f"{b} {f}" for b, fs in FAMILIES.items() for f in fs)
        raise ConfigError(f"{what} trains {family} ({backend}), which loratui does not train yet "
                          f"(it trains: {trained})")


def script_family(script: str) -> tuple[str, str, str] | None:
    """(backend, family, phase) for a training or caching script path, or None when it is not one."""
    name = PurePath(script.replace("\\", "/")).name
    if name in KOHYA_SCRIPTS:
        return "kohya", KOHYA_SCRIPTS[name], "train"
    if not name.endswith(".py"):
        return None
    stem = name[:-3]
    for suffix, phase in MUSUBI_PHASES.items():
        if stem.endswith(suffix):
            family = MUSUBI_PREFIXES.get(stem[: -len(suffix)])
            if family:
                return "musubi", family, phase
    return None
