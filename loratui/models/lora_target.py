"""Which model family a LoRA file was trained for, read from the names and shapes of its modules.

A LoRA module is named after the layer it adapts (kohya: ``lora_unet_`` + the layer path with ``_`` for ``.``;
diffusers/PEFT and ComfyUI: the layer path with ``.lora_A``/``.lora_B``), and its down/up weights carry that
layer's in/out features. ``LORA_FINGERPRINTS`` lists, per family, module-name patterns (matched against the
layer path with every ``.`` turned into ``_``) with the features of the real layer; ``lora_target`` keeps the
families whose patterns all match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from loratui.loras.inspect import ModuleKeys


@dataclass(frozen=True)
class LoraPattern:
    """A module-name pattern and, when not None, the in/out features the adapted layer has."""

    pattern: re.Pattern
    in_features: int | None = None
    out_features: int | None = None


@dataclass(frozen=True)
class LoraFingerprint:
    """Patterns that together say a LoRA targets `family` (one of `variants`, when the layout tells)."""

    family: str
    variants: tuple[str, ...]
    has: tuple[LoraPattern, ...]
    lacks: tuple[re.Pattern, ...] = ()


def _p(pattern: str, in_features: int | None = None, out_features: int | None = None) -> LoraPattern:
    return LoraPattern(re.compile(pattern), in_features, out_features)


def _lora(family: str, variants: tuple[str, ...], *has: LoraPattern, lacks: tuple[str, ...] = ()) -> LoraFingerprint:
    return LoraFingerprint(family, variants, has, tuple(re.compile(p) for p in lacks))


_DOUBLE_QKV = r"^double_blocks_\d+_img_attn_qkv$"
_DOUBLE_MLP0 = r"^double_blocks_\d+_img_mlp_0$"
_HY_MLP = r"^double_blocks_\d+_img_mlp_fc1$"

LORA_FINGERPRINTS: tuple[LoraFingerprint, ...] = (
    # Stable Diffusion: the cross-attention key projection takes the text encoder's width.
    _lora("sd1", (), _p(r"^down_blocks_\d+_attentions_\d+_transformer_blocks_\d+_attn2_to_k$", 768)),
    _lora("sd2", (), _p(r"^down_blocks_\d+_attentions_\d+_transformer_blocks_\d+_attn2_to_k$", 1024)),
    _lora("sdxl", (), _p(r"^(input_blocks_\d+_1|down_blocks_\d+_attentions_\d+)_transformer_blocks_\d+_attn2_to_k$",
                         2048)),
    # Text-encoder-only LoRAs (these count only when no denoiser layer matched: SD3's lora_te2 is CLIP-G too)
    _lora("sd1", (), _p(r"^lora_te_text_model_encoder_layers_\d+_self_attn_q_proj$", 768)),
    _lora("sd2", (), _p(r"^lora_te_text_model_encoder_layers_\d+_self_attn_q_proj$", 1024)),
    _lora("sdxl|sd3", (), _p(r"^lora_te2_text_model_encoder_layers_\d+_self_attn_q_proj$", 1280)),
    # SD3 / 3.5: MMDiT width 1536 (medium) or 2432 (large); 3.5 medium adds attn2 to the first x blocks.
    _lora("sd3", ("3-medium", "3.5-medium"), _p(r"^joint_blocks_\d+_x_block_attn_qkv$", 1536)),
    _lora("sd3", ("3.5-medium",), _p(r"^joint_blocks_\d+_x_block_attn_qkv$", 1536),
          _p(r"^joint_blocks_\d+_x_block_attn2_qkv$", 1536)),
    _lora("sd3", ("3.5-large",), _p(r"^joint_blocks_\d+_x_block_attn_qkv$", 2432)),
    # FLUX.1 / Chroma (BFL names): Chroma has no per-block modulation, so a LoRA without it can be either.
    _lora("flux1", ("dev", "schnell", "kontext"), _p(_DOUBLE_QKV, 3072, 9216), _p(_DOUBLE_MLP0, 3072, 12288),
          _p(r"^double_blocks_\d+_img_mod_lin$", 3072, 18432)),
    _lora("flux1|chroma", (), _p(_DOUBLE_QKV, 3072, 9216), _p(_DOUBLE_MLP0, 3072, 12288)),
    # FLUX.1 in diffusers names (19 double and 38 single blocks; FramePack has 20 and 40)
    _lora("flux1", ("dev", "schnell", "kontext"), _p(r"^single_transformer_blocks_\d+_proj_mlp$", 3072, 12288),
          _p(r"^transformer_blocks_\d+_ff_net_0_proj$", 3072, 12288),
          lacks=(r"^transformer_blocks_19_", r"^single_transformer_blocks_(38|39)_")),
    # FLUX.2: BFL names, SwiGLU MLPs (out = 6 x width); width tells dev / klein 4B / klein 9B.
    _lora("flux2", ("dev",), _p(_DOUBLE_QKV, 6144), _p(_DOUBLE_MLP0, 6144, 36864)),
    _lora("flux2", ("klein-4b", "klein-base-4b"), _p(_DOUBLE_QKV, 3072), _p(_DOUBLE_MLP0, 3072, 18432)),
    _lora("flux2", ("klein-9b", "klein-base-9b"), _p(_DOUBLE_QKV, 4096), _p(_DOUBLE_MLP0, 4096, 24576)),
    # Hunyuan DiTs (fused img_attn_qkv like FLUX, but img_mlp.fc1)
    _lora("hunyuan-image-2.1", (), _p(_DOUBLE_QKV, 3584), _p(_HY_MLP, 3584)),
    _lora("hunyuan-video", (), _p(_DOUBLE_QKV, 3072), _p(_HY_MLP, 3072, 12288)),
    _lora("hunyuan-video-1.5", ("t2v", "i2v"), _p(r"^double_blocks_\d+_img_attn_q$", 2048), _p(_HY_MLP, 2048)),
    # Qwen-Image (all variants share the DiT) and FramePack (diffusers HunyuanVideo names)
    _lora("qwen-image", (), _p(r"^transformer_blocks_\d+_img_mlp_net_0_proj$", 3072, 12288)),
    _lora("framepack", ("FramePack", "FramePack-F1"), _p(r"^transformer_blocks_\d+_ff_net_0_proj$", 3072, 12288),
          _p(r"^(transformer_blocks_19|single_transformer_blocks_(38|39))_")),
    # NextDiT: Lumina 2 (width 2304) and Z-Image (3840; to_q/k/v, or qkv in ComfyUI names)
    _lora("lumina2", (), _p(r"^layers_\d+_attention_qkv$", 2304)),
    _lora("z-image", (), _p(r"^layers_\d+_attention_(to_q|qkv)$", 3840)),
    # Wan: width 1536 (1.3B) or 5120 (14B); the 2.1 image-conditioned models add k_img/v_img.
    _lora("wan", ("t2v-1.3B", "t2v-1.3B-FC"), _p(r"^blocks_\d+_self_attn_q$", 1536, 1536)),
    _lora("wan", ("t2v-14B", "t2i-14B", "t2v-A14B", "i2v-A14B", "t2v-14B-FC"),
          _p(r"^blocks_\d+_self_attn_q$", 5120, 5120), lacks=(r"^blocks_\d+_cross_attn_k_img$",)),
    _lora("wan", ("i2v-14B", "flf2v-14B", "i2v-14B-FC"), _p(r"^blocks_\d+_self_attn_q$", 5120, 5120),
          _p(r"^blocks_\d+_cross_attn_k_img$", 5120)),
    _lora("wan", ("t2v-1.3B-FC",), _p(r"^blocks_\d+_self_attn_q$", 1536, 1536),
          _p(r"^blocks_\d+_cross_attn_k_img$", 1536)),
    # Anima (Cosmos-style blocks), Kandinsky 5, HiDream-O1 (a Qwen3-VL language model)
    _lora("anima", (), _p(r"^blocks_\d+_self_attn_q_proj$", 2048), _p(r"^blocks_\d+_mlp_layer1$", 2048, 8192)),
    _lora("kandinsky5", ("lite-t2v", "lite-i2v"), _p(r"^visual_transformer_blocks_\d+_self_attention_to_query$", 1792)),
    _lora("kandinsky5", ("lite-t2i", "lite-i2i"),
          _p(r"^visual_transformer_blocks_\d+_self_attention_to_query$", 2560)),
    _lora("kandinsky5", ("pro-t2v", "pro-i2v"), _p(r"^visual_transformer_blocks_\d+_self_attention_to_query$", 4096)),
    _lora("hidream-o1", ("full", "dev"), _p(r"(^|_)language_model_layers_\d+_self_attn_q_proj$", 4096, 4096)),
)
"""Every LoRA fingerprint; the matches with the most patterns win. ``a|b`` as family: either of them."""

_PREFIXES = ("lora_unet_", "lora_transformer_", "lycoris_", "base_model.model.", "model.diffusion_model.",
             "diffusion_model.", "transformer.", "unet.")
_TEXT_ENCODER = re.compile(r"^(lora_te\d?_|text_encoder(_\d)?\.|te\d?\.)")


def layer_path(module: str) -> str:
    """A module name without its trainer's prefix, with ``_`` for ``.`` (kohya names lose the dots anyway)."""
    changed = True
    while changed:
        changed = False
        for prefix in _PREFIXES:
            if module.startswith(prefix):
                module = module[len(prefix):]
                changed = True
    return module.replace(".", "_")


@dataclass
class LoraTarget:
    """What a LoRA's modules say: candidate families (one = known), variants they leave, text-encoder training."""

    families: tuple[str, ...]
    variants: tuple[str, ...]
    modules: int
    text_encoder: bool


def _features(header, keys: ModuleKeys) -> tuple[int | None, int | None]:
    down, up = header.tensors[keys.down].shape, header.tensors[keys.up].shape
    if len(down) < 2 or len(up) < 2:
        return None, None
    in_features = down[1] if len(down) == 2 else None
    return in_features, up[0]


def matching(paths: list[tuple[str, int | None, int | None]]) -> list[LoraFingerprint]:
    """Every fingerprint that (layer path, in features, out features) triples satisfy."""
    def matches(pattern: LoraPattern) -> bool:
        return any(pattern.pattern.search(path)
                   and (pattern.in_features is None or in_f == pattern.in_features)
                   and (pattern.out_features is None or out_f == pattern.out_features)
                   for path, in_f, out_f in paths)

    return [fp for fp in LORA_FINGERPRINTS
            if all(matches(p) for p in fp.has) and not any(r.search(p) for r in fp.lacks for p, _, _ in paths)]


def lora_target(header, modules: list[ModuleKeys]) -> LoraTarget:
    """Match the modules of a LoRA against ``LORA_FINGERPRINTS``."""
    paths = []
    for keys in modules:
        in_f, out_f = _features(header, keys)
        name = keys.name
        paths.append((name if _TEXT_ENCODER.match(name) else layer_path(name), in_f, out_f))
    text_encoder = any(_TEXT_ENCODER.match(keys.name) for keys in modules)
    found = matching(paths)
    on_denoiser = [fp for fp in found if not all(p.pattern.pattern.startswith("^lora_te") for p in fp.has)]
    found = on_denoiser or found
    if not found:
        return LoraTarget((), (), len(modules), text_encoder)
    best = max(len(fp.has) + len(fp.lacks) for fp in found)
    top = [fp for fp in found if len(fp.has) + len(fp.lacks) == best]
    families = tuple(dict.fromkeys(f for fp in top for f in fp.family.split("|")))
    variants = tuple(dict.fromkeys(v for fp in top for v in fp.variants)) if len(families) == 1 else ()
    return LoraTarget(families, variants, len(modules), text_encoder)
