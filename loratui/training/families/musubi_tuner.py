"""Families trained by kohya-ss/musubi-tuner (read from commit 30c658c: ``src/musubi_tuner/*``, ``docs/*.md``).

musubi runs three processes per training: ``<family>_cache_latents.py``, ``<family>_cache_text_encoder_outputs.py``,
then ``<family>_train_network.py`` under accelerate; training reads only the cache files. Each script builds its
parser inside ``main()``; ``--model_version`` (Qwen-Image, FLUX.2) must reach all three scripts, ``--task`` (Wan,
HunyuanVideo 1.5, Kandinsky 5) only training. The dataset TOML is musubi's own dialect
(``musubi_tuner/dataset/config_utils.py``), validated with the family's architecture code.
"""

from __future__ import annotations

from loratui.training.families.record import Controls, Download, Family, FixedArg, ModelRole

SAMPLE_OPTIONS = ("--w", "--h", "--f", "--d", "--s", "--g", "--l", "--n", "--fs", "--i", "--ei", "--cn", "--ci",
                  "--of")
"""Options after a sample prompt (``training/sampling_prompts.py``); ``--ci`` (a control image) repeats."""

PRESET_DEFAULTS = {
    "network_dim": 32, "network_alpha": 16.0, "optimizer_type": "adamw8bit", "learning_rate": 1e-4,
    "mixed_precision": "bf16", "gradient_checkpointing": True, "sdpa": True, "max_train_epochs": 16,
    "save_every_n_epochs": 2, "seed": 42, "max_data_loader_n_workers": 2, "persistent_data_loader_workers": True,
    "weighting_scheme": "none", "output_dir": "", "output_name": "",
}
"""musubi-tuner options every generated preset sets (as its docs' example commands; the family's
``preset_args`` and tier come on top). musubi always caches latents and text-encoder outputs to disk."""

FP8 = {"fp8_base": True, "fp8_scaled": True}
"""The DiT in fp8, scaled from the bf16 file at load time (about half the memory of bf16)."""

RESUME = ("--save_state writes <output_name>-step<N>-state / -<epoch>-state folders holding only the accelerate "
          "state (weights, optimizer, scheduler); --resume DIR restores them but counts steps from 0 again up to "
          "max_train_steps and re-saves the same file names: to continue, lower max_train_steps/max_train_epochs "
          "to what is left and use a new output_name (or start a new run from the LoRA with network_weights)")

ALL = ("cache_latents", "cache_text", "train")
LATENT_TRAIN = ("cache_latents", "train")
TEXT_TRAIN = ("cache_text", "train")


def _scripts(prefix: str, inference: str, latents: str = "", text: str = "") -> dict[str, str]:
    return {"cache_latents": latents or f"{prefix}_cache_latents.py",
            "cache_text": text or f"{prefix}_cache_text_encoder_outputs.py",
            "train": f"{prefix}_train_network.py", "inference": inference}


def _dit(content: str, text: str) -> ModelRole:
    return ModelRole("dit", "dit", content, text)


def _vae(content: str, text: str, option: str = "vae", name: str = "vae") -> ModelRole:
    return ModelRole(name, option, content, text, LATENT_TRAIN)


def _text(name: str, option: str, content: str, text: str, **kw) -> ModelRole:
    return ModelRole(name, option, content, text, TEXT_TRAIN, **kw)


# ---- Qwen-Image ----------------------------------------------------------------------------------------------

_QWEN_ROLES = (
    _vae("qwen-image-vae", "Qwen-Image VAE (ComfyUI or diffusers layout)"),
    _text("text_encoder", "text_encoder", "qwen2.5-vl-7b", "Qwen2.5-VL 7B text encoder"),
)
_QWEN_DOWNLOADS = (
    Download("vae", "Comfy-Org/Qwen-Image_ComfyUI", "split_files/vae/qwen_image_vae.safetensors"),
    Download("text_encoder", "Comfy-Org/Qwen-Image_ComfyUI", "split_files/text_encoders/qwen_2.5_vl_7b.safetensors"),
)
_QWEN_FORWARD = {"cache_latents": ("vae_dtype",), "cache_text": ("fp8_vl",)}
_QWEN_NOTES = ("fp8 / fp8_scaled / fp8mixed DiT files cannot be used: use the bf16 file with --fp8_base --fp8_scaled",)
_QWEN_EDIT_FIELDS = ("control_directory", "control_resolution", "no_resize_control")
_QWEN_EDIT_RECOMMENDED = (("control_resolution", [1024, 1024]),)


def _qwen(id_: str, name: str, version: str, architecture: str, dit_file: str, dit_repo: str,
          controls: Controls | None, notes: tuple[str, ...] = (), verified: str = "parser") -> Family:
    return Family(
        id=id_, name=name, trainer="musubi",
        scripts=_scripts("qwen_image", "qwen_image_generate_image.py"),
        roles=(_dit("qwen-image-dit", f"{name} DiT (bf16)"),) + _QWEN_ROLES,
        fixed_args=(FixedArg("model_version", version, ALL),),
        network_module="networks.lora_qwen_image", default_resolution=1024, bucket_step=16,
        preset_args={"timestep_sampling": "shift", "discrete_flow_shift": 2.2, "learning_rate": 5e-5,
                     "network_dim": 16, "network_alpha": 16.0},
        presets={"12gb": {**FP8, "blocks_to_swap": 45, "fp8_vl": True},
                 "16gb": {**FP8, "blocks_to_swap": 30, "fp8_vl": True},
                 "24gb": {**FP8, "blocks_to_swap": 16},
                 "48gb": {}}, dataset_dialect="musubi", architecture=architecture,
        controls=controls, cache_forward=_QWEN_FORWARD, sample_options=SAMPLE_OPTIONS, resume=RESUME,
        downloads=(Download("dit", dit_repo, f"split_files/diffusion_models/{dit_file}"),) + _QWEN_DOWNLOADS,
        doc="docs/qwen_image.md", notes=_QWEN_NOTES + notes, verified=verified,
    )


QWEN = (
    _qwen("qwen-image", "Qwen-Image", "original", "qi", "qwen_image_bf16.safetensors", "Comfy-Org/Qwen-Image_ComfyUI",
          None, verified="run"),
    _qwen("qwen-image-edit", "Qwen-Image-Edit", "edit", "qie", "qwen_image_edit_bf16.safetensors",
          "Comfy-Org/Qwen-Image-Edit_ComfyUI",
          Controls(True, 1, _QWEN_EDIT_FIELDS, _QWEN_EDIT_RECOMMENDED,
                   "the original Edit model reads only the first control image in its text encoder"),
          verified="run"),
    _qwen("qwen-image-edit-2509", "Qwen-Image-Edit-2509", "edit-2509", "qie",
          "qwen_image_edit_2509_bf16.safetensors", "Comfy-Org/Qwen-Image-Edit_ComfyUI",
          Controls(True, None, _QWEN_EDIT_FIELDS, _QWEN_EDIT_RECOMMENDED,
                   "any number of control images; upstream confirmed up to 3")),
    _qwen("qwen-image-edit-2511", "Qwen-Image-Edit-2511", "edit-2511", "qie",
          "qwen_image_edit_2511_bf16.safetensors", "Comfy-Org/Qwen-Image-Edit_ComfyUI",
          Controls(True, None, _QWEN_EDIT_FIELDS, _QWEN_EDIT_RECOMMENDED,
                   "any number of control images; upstream confirmed up to 3"),
          notes=("its inference needs --resize_control_to_official_size",), verified="run"),
)
"""The edit versions share the cache suffix ``qie`` but not the text-encoder cache content: re-cache when
switching between them."""


# ---- FLUX.1 Kontext, FLUX.2 ------------------------------------------------------------------------------------

KONTEXT = Family(
    id="flux-kontext", name="FLUX.1 Kontext [dev]", trainer="musubi",
    scripts=_scripts("flux_kontext", "flux_kontext_generate_image.py"),
    roles=(
        _dit("flux1-dit", "FLUX.1 Kontext DiT (flux1-kontext-dev.safetensors)"),
        _vae("flux1-ae", "FLUX.1 autoencoder (ae.safetensors; musubi takes it as --vae)", name="ae"),
        _text("t5xxl", "text_encoder1", "t5-xxl", "T5-XXL text encoder"),
        _text("clip_l", "text_encoder2", "clip-l", "CLIP-L text encoder"),
    ),
    network_module="networks.lora_flux", default_resolution=1024, bucket_step=16,
    preset_args={"timestep_sampling": "flux_shift"},
    presets={"12gb": {**FP8, "blocks_to_swap": 28, "fp8_t5": True},
             "16gb": {**FP8, "blocks_to_swap": 16, "fp8_t5": True},
             "24gb": {**FP8},
             "48gb": {}}, dataset_dialect="musubi", architecture="fk",
    controls=Controls(True, 1, ("control_directory", "control_resolution", "no_resize_control"),
                      note="one control image per target (extra ones are ignored)"),
    cache_forward={"cache_latents": ("vae_dtype",), "cache_text": ("fp8_t5",)}, sample_options=SAMPLE_OPTIONS, resume=RESUME,
    downloads=(
        Download("dit", "black-forest-labs/FLUX.1-Kontext-dev", "flux1-kontext-dev.safetensors",
                 "gated: accept the licence"),
        Download("ae", "black-forest-labs/FLUX.1-Kontext-dev", "ae.safetensors", "gated: accept the licence"),
        Download("t5xxl", "comfyanonymous/flux_text_encoders", "t5xxl_fp16.safetensors"),
        Download("clip_l", "comfyanonymous/flux_text_encoders", "clip_l.safetensors"),
    ),
    doc="docs/flux_kontext.md",
)


def _flux2(id_: str, name: str, version: str, architecture: str, te_content: str, presets: dict[str, dict],
           dit: Download | None, notes: tuple[str, ...]) -> Family:
    return Family(
        id=id_, name=name, trainer="musubi",
        scripts=_scripts("flux_2", "flux_2_generate_image.py"),
        roles=(
            _dit(f"flux2-{version}-dit", f"{name} DiT"),
            _vae("flux2-ae", "FLUX.2 autoencoder (ae.safetensors of FLUX.2-dev; not the Diffusers vae/ folder)",
                 name="ae"),
            _text("text_encoder", "text_encoder", te_content,
                  "text encoder (split files: give the first, ...00001-of-0000N.safetensors)"),
        ),
        fixed_args=(FixedArg("model_version", version, ALL),),
        network_module="networks.lora_flux_2", default_resolution=1024, bucket_step=16, presets=presets,
        preset_args={"timestep_sampling": "flux2_shift"},
        dataset_dialect="musubi", architecture={"dev": "f2d"}.get(version, "f2k4b" if "4b" in version else "f2k9b"),
        controls=Controls(False, None, ("control_directory", "control_resolution", "no_resize_control"),
                          note="optional; upstream recommends no_resize_control with control_resolution "
                               "[2024, 2024] for one control image, [1024, 1024] for several"),
        cache_forward={"cache_latents": ("vae_dtype",), "cache_text": ("fp8_text_encoder",)},
        sample_options=SAMPLE_OPTIONS, resume=RESUME,
        downloads=((dit,) if dit else ()) + (
            Download("ae", "black-forest-labs/FLUX.2-dev", "ae.safetensors", "gated: accept the licence"),),
        doc="docs/flux_2.md", notes=notes,
    )


_KLEIN_4B = {"8gb": {**FP8, "blocks_to_swap": 13, "fp8_text_encoder": True},
             "12gb": {**FP8, "fp8_text_encoder": True}, "24gb": {}}
_KLEIN_9B = {"12gb": {**FP8, "blocks_to_swap": 16, "fp8_text_encoder": True},
             "16gb": {**FP8, "blocks_to_swap": 8, "fp8_text_encoder": True}, "24gb": {**FP8}}
_KLEIN_NOTE = "distilled (4 steps, guidance 1.0): upstream recommends training on the base model"
FLUX2 = (
    _flux2("flux2-dev", "FLUX.2 [dev]", "dev", "f2d", "mistral-small-3.1-24b",
           {"24gb": {**FP8, "blocks_to_swap": 29}, "48gb": {**FP8}, "80gb": {}},
           Download("dit", "black-forest-labs/FLUX.2-dev", "flux2-dev.safetensors", "gated: accept the licence"),
           ("text encoder: all Mistral 3 split files of black-forest-labs/FLUX.2-dev; --fp8_text_encoder does "
            "not work with it", "guidance-distilled: upstream recommends training klein base models")),
    _flux2("flux2-klein-4b", "FLUX.2 [klein] 4B", "klein-4b", "f2k4b", "qwen3-4b", _KLEIN_4B,
           Download("dit", "black-forest-labs/FLUX.2-klein-4B", "flux2-klein-4b.safetensors"),
           (_KLEIN_NOTE, "text encoder: Qwen3 4B split files of black-forest-labs/FLUX.2-klein-4B (Z-Image's "
                         "Qwen3 4B works too)")),
    _flux2("flux2-klein-base-4b", "FLUX.2 [klein] base 4B", "klein-base-4b", "f2k4b", "qwen3-4b", _KLEIN_4B,
           Download("dit", "black-forest-labs/FLUX.2-klein-base-4B", "flux2-klein-base-4b.safetensors"),
           ("text encoder: Qwen3 4B split files of black-forest-labs/FLUX.2-klein-4B",
            "shares the cache suffix f2k4b with klein-4b")),
    _flux2("flux2-klein-9b", "FLUX.2 [klein] 9B", "klein-9b", "f2k9b", "qwen3-8b", _KLEIN_9B,
           Download("dit", "black-forest-labs/FLUX.2-klein-9B", "flux2-klein-9b.safetensors"),
           (_KLEIN_NOTE, "text encoder: Qwen3 8B split files of black-forest-labs/FLUX.2-klein-9B")),
    _flux2("flux2-klein-base-9b", "FLUX.2 [klein] base 9B", "klein-base-9b", "f2k9b", "qwen3-8b", _KLEIN_9B,
           Download("dit", "black-forest-labs/FLUX.2-klein-base-9B", "flux2-klein-base-9b.safetensors"),
           ("text encoder: Qwen3 8B split files of black-forest-labs/FLUX.2-klein-9B",
            "shares the cache suffix f2k9b with klein-9b")),
)


# ---- Z-Image ---------------------------------------------------------------------------------------------------

ZIMAGE = Family(
    id="z-image", name="Z-Image", trainer="musubi",
    scripts=_scripts("zimage", "zimage_generate_image.py"),
    roles=(
        _dit("z-image-dit", "Z-Image DiT (official split files: give the first; or a ComfyUI file)"),
        _vae("z-image-vae", "Z-Image VAE"),
        _text("text_encoder", "text_encoder", "qwen3-4b", "Qwen3 4B text encoder"),
    ),
    network_module="networks.lora_zimage", default_resolution=1024, bucket_step=16,
    preset_args={"timestep_sampling": "shift", "discrete_flow_shift": 2.0},
    presets={"8gb": {**FP8, "blocks_to_swap": 28, "fp8_llm": True},
             "12gb": {**FP8, "blocks_to_swap": 14, "fp8_llm": True},
             "16gb": {**FP8}, "24gb": {}}, dataset_dialect="musubi", architecture="zi",
    cache_forward={"cache_latents": ("vae_dtype",), "cache_text": ("fp8_llm",)}, sample_options=SAMPLE_OPTIONS, resume=RESUME,
    doc="docs/zimage.md",
    notes=("models: Tongyi-MAI/Z-Image (split files) or Comfy-Org/z_image",
           "Turbo: train on ostris/Z-Image-De-Turbo (z_image_de_turbo_v1_bf16.safetensors), or add "
           "ostris/zimage_turbo_training_adapter as base_weights"),
)


# ---- Wan 2.1 / 2.2 ---------------------------------------------------------------------------------------------

_WAN_T5 = _text("t5", "t5", "umt5-xxl", "umT5-XXL text encoder (models_t5_umt5-xxl-enc-bf16.pth)")
_WAN_VAE = _vae("wan2.1-vae", "Wan 2.1 VAE (Wan2.2_VAE.pth is for the unsupported 5B model)")
_WAN_CLIP = ModelRole("clip_vision", "clip", "open-clip-xlm-roberta-large-vit-huge-14",
                      "CLIP vision encoder for Wan 2.1 I2V", LATENT_TRAIN)
_WAN_HIGH = ModelRole("dit_high_noise", "dit_high_noise", "wan2.2-a14b-dit",
                      "high-noise DiT: with it, dit is the low-noise DiT and both are trained, switched at "
                      "timestep_boundary", required=False)
_WAN_DOWNLOADS = (
    Download("t5", "Wan-AI/Wan2.1-I2V-14B-720P", "models_t5_umt5-xxl-enc-bf16.pth"),
    Download("vae", "Comfy-Org/Wan_2.1_ComfyUI_repackaged", "split_files/vae/wan_2.1_vae.safetensors"),
)
_WAN_CLIP_DOWNLOAD = Download("clip_vision", "Wan-AI/Wan2.1-I2V-14B-720P",
                              "models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth")


def _wan(id_: str, name: str, task: str, dit_content: str, presets: dict[str, dict], *, i2v: bool = False,
         clip: bool = False, two_dits: bool = False, resolution: int = 640, notes: tuple[str, ...] = ()) -> Family:
    roles = [_dit(dit_content, "DiT" + (" (low-noise one when both are given)" if two_dits else "")), _WAN_VAE,
             _WAN_T5]
    if clip:
        roles.append(_WAN_CLIP)
    if two_dits:
        roles.append(_WAN_HIGH)
    fixed = [FixedArg("task", task)]
    if i2v:
        fixed.append(FixedArg("i2v", True, ("cache_latents",)))
    repo = "Comfy-Org/Wan_2.2_ComfyUI_Repackaged" if two_dits else "Comfy-Org/Wan_2.1_ComfyUI_repackaged"
    return Family(
        id=id_, name=name, trainer="musubi",
        scripts=_scripts("wan", "wan_generate_video.py"), roles=tuple(roles), fixed_args=tuple(fixed),
        network_module="networks.lora_wan", default_resolution=resolution, bucket_step=16, presets=presets,
        preset_args={"timestep_sampling": "shift", "discrete_flow_shift": 3.0, "learning_rate": 2e-4},
        dataset_dialect="musubi", architecture="wan", video=True,
        cache_forward={"cache_latents": ("vae_dtype", "vae_cache_cpu"), "cache_text": ("fp8_t5",)},
        sample_options=SAMPLE_OPTIONS, resume=RESUME, downloads=_WAN_DOWNLOADS + ((_WAN_CLIP_DOWNLOAD,) if clip else ()),
        doc="docs/wan.md", notes=(f"DiT files: {repo}, folder split_files/diffusion_models/ (bf16/fp16; fp8 files "
                                  "only with fp8_base and without fp8_scaled)",) + notes,
    )


_WAN_14B = {"16gb": {**FP8, "blocks_to_swap": 30, "fp8_t5": True}, "24gb": {**FP8, "blocks_to_swap": 10},
            "48gb": {}}
_WAN_A14B = {"24gb": {**FP8, "blocks_to_swap": 10}, "48gb": {**FP8, "offload_inactive_dit": True},
             "80gb": {"offload_inactive_dit": True}}
"""Wan 2.2 A14B trains two DiTs, one active at a time: the idle one waits in CPU memory (not with block swap)."""
_WAN22_NOTE = ("timestep_boundary is an integer in the training parser (875 = 0.875)",
               "one DiT alone: pass it as dit and limit min_timestep/max_timestep (high noise 875-1000 T2V, "
               "900-1000 I2V) with preserve_distribution_shape")
WAN = (
    _wan("wan2.1-t2v-1.3b", "Wan 2.1 T2V 1.3B", "t2v-1.3B", "wan2.1-1.3b-dit",
         {"8gb": {"fp8_base": True, "fp8_t5": True}, "12gb": {"fp8_t5": True}, "24gb": {}}),
    _wan("wan2.1-t2v-14b", "Wan 2.1 T2V 14B", "t2v-14B", "wan2.1-14b-dit", _WAN_14B,
         resolution=768),
    _wan("wan2.1-i2v-14b", "Wan 2.1 I2V 14B", "i2v-14B", "wan2.1-14b-i2v-dit", _WAN_14B,
         i2v=True, clip=True, notes=("I2V trained from images conditions each image on itself; video datasets "
                                     "come with video support",)),
    _wan("wan2.2-t2v-a14b", "Wan 2.2 T2V A14B", "t2v-A14B", "wan2.2-a14b-dit", _WAN_A14B,
         two_dits=True, resolution=768, notes=_WAN22_NOTE),
    _wan("wan2.2-i2v-a14b", "Wan 2.2 I2V A14B", "i2v-A14B", "wan2.2-a14b-i2v-dit", _WAN_A14B,
         i2v=True, two_dits=True, notes=_WAN22_NOTE),
)


# ---- HunyuanVideo, HunyuanVideo 1.5, FramePack -----------------------------------------------------------------

HUNYUAN_VIDEO = Family(
    id="hunyuan-video", name="HunyuanVideo", trainer="musubi",
    scripts={"cache_latents": "cache_latents.py", "cache_text": "cache_text_encoder_outputs.py",
             "train": "hv_train_network.py", "inference": "hv_generate_video.py"},
    roles=(
        _dit("hunyuan-video-dit", "HunyuanVideo DiT (mp_rank_00_model_states.pt or a .safetensors)"),
        _vae("hunyuan-video-vae", "HunyuanVideo VAE (pytorch_model.pt)"),
        _text("text_encoder", "text_encoder1", "llava-llama3-8b", "LLaVA-LLaMA3 text encoder"),
        _text("clip_l", "text_encoder2", "clip-l", "CLIP-L text encoder"),
    ),
    network_module="networks.lora", default_resolution=720, bucket_step=16,
    preset_args={"timestep_sampling": "shift", "discrete_flow_shift": 7.0, "learning_rate": 2e-4},
    presets={"16gb": {"fp8_base": True, "blocks_to_swap": 30, "fp8_llm": True},
             "24gb": {"fp8_base": True, "blocks_to_swap": 16}, "48gb": {}},
    dataset_dialect="musubi", architecture="hv", video=True,
    cache_forward={"cache_latents": ("vae_dtype", "vae_tiling", "vae_chunk_size", "vae_spatial_tile_sample_min_size"),
                   "cache_text": ("fp8_llm", "text_encoder_dtype")},
    sample_options=SAMPLE_OPTIONS, resume=RESUME,
    downloads=(
        Download("dit", "tencent/HunyuanVideo", "hunyuan-video-t2v-720p/transformers/mp_rank_00_model_states.pt"),
        Download("vae", "tencent/HunyuanVideo", "hunyuan-video-t2v-720p/vae/pytorch_model.pt"),
        Download("text_encoder", "Comfy-Org/HunyuanVideo_repackaged",
                 "split_files/text_encoders/llava_llama3_fp16.safetensors"),
        Download("clip_l", "Comfy-Org/HunyuanVideo_repackaged", "split_files/text_encoders/clip_l.safetensors"),
    ),
    doc="docs/hunyuan_video.md",
)


def _hv15(id_: str, name: str, task: str, presets: dict[str, dict]) -> Family:
    i2v = task == "i2v"
    roles = [
        _dit("hunyuan-video-1.5-dit", f"{name} DiT (bf16; the ComfyUI fp16 file does not suit bf16 training)"),
        _vae("hunyuan-video-1.5-vae", "HunyuanVideo 1.5 VAE"),
        _text("text_encoder", "text_encoder", "qwen2.5-vl-7b", "Qwen2.5-VL 7B text encoder"),
        _text("byt5", "byt5", "byt5-small-glyph", "byT5 (glyph) text encoder"),
    ]
    fixed = [FixedArg("task", task)]
    if i2v:
        roles.append(ModelRole("image_encoder", "image_encoder", "siglip-vision-384", "SigLIP image encoder",
                               LATENT_TRAIN))
        fixed.append(FixedArg("i2v", True, ("cache_latents",)))
    repack = "Comfy-Org/HunyuanVideo_1.5_repackaged"
    downloads = [
        Download("dit", "tencent/HunyuanVideo-1.5", f"transformer/720p_{task}/diffusion_pytorch_model.safetensors"),
        Download("vae", "tencent/HunyuanVideo-1.5", "vae/diffusion_pytorch_model.safetensors"),
        Download("text_encoder", repack, "split_files/text_encoders/qwen_2.5_vl_7b.safetensors"),
        Download("byt5", repack, "split_files/text_encoders/byt5_small_glyphxl_fp16.safetensors"),
    ]
    if i2v:
        downloads.append(Download("image_encoder", repack,
                                  "split_files/clip_vision/sigclip_vision_patch14_384.safetensors"))
    return Family(
        id=id_, name=name, trainer="musubi", scripts=_scripts("hv_1_5", "hv_1_5_generate_video.py"),
        roles=tuple(roles), fixed_args=tuple(fixed), network_module="networks.lora_hv_1_5",
        default_resolution=720, bucket_step=16, presets=presets, dataset_dialect="musubi", architecture="hv15",
        preset_args={"timestep_sampling": "shift", "discrete_flow_shift": 2.0},
        video=True,
        cache_forward={"cache_latents": ("vae_dtype", "vae_sample_size", "vae_enable_patch_conv"),
                       "cache_text": ("fp8_vl",)},
        sample_options=SAMPLE_OPTIONS, resume=RESUME, downloads=tuple(downloads), doc="docs/hunyuan_video_1_5.md",
    )


_HV15_TIERS = {"12gb": {**FP8, "blocks_to_swap": 40, "fp8_vl": True},
               "16gb": {**FP8, "blocks_to_swap": 20, "fp8_vl": True}, "24gb": {**FP8}}
HV15 = (_hv15("hunyuan-video-1.5-t2v", "HunyuanVideo 1.5 T2V", "t2v", _HV15_TIERS),
        _hv15("hunyuan-video-1.5-i2v", "HunyuanVideo 1.5 I2V", "i2v", _HV15_TIERS))

FRAMEPACK = Family(
    id="framepack", name="FramePack (one-frame training)", trainer="musubi",
    scripts=_scripts("fpack", "fpack_generate_video.py"),
    roles=(
        _dit("framepack-dit", "FramePack I2V DiT (split files: give -00001-of-00003; or FramePackI2V_HY_bf16)"),
        _vae("hunyuan-video-vae", "HunyuanVideo VAE (diffusers vae/diffusion_pytorch_model.safetensors)"),
        _text("text_encoder", "text_encoder1", "llava-llama3-8b", "LLaVA-LLaMA3 text encoder"),
        _text("clip_l", "text_encoder2", "clip-l", "CLIP-L text encoder"),
        ModelRole("image_encoder", "image_encoder", "siglip-vision-384", "SigLIP image encoder", LATENT_TRAIN),
    ),
    fixed_args=(FixedArg("one_frame", True, LATENT_TRAIN),),
    network_module="networks.lora_framepack", default_resolution=640, bucket_step=16,
    preset_args={"timestep_sampling": "shift", "discrete_flow_shift": 3.0, "learning_rate": 2e-4},
    presets={"16gb": {**FP8, "blocks_to_swap": 30, "fp8_llm": True}, "24gb": {**FP8, "blocks_to_swap": 10},
             "48gb": {}}, dataset_dialect="musubi", architecture="fp", video=True,
    controls=Controls(True, 1, ("control_directory", "fp_1f_clean_indices", "fp_1f_target_index", "fp_1f_no_post"),
                      note="one-frame training: the control images are the start images, the targets the "
                           "images after the change (same file names)"),
    cache_forward={"cache_latents": ("vae_dtype", "vae_tiling", "vae_chunk_size", "vae_spatial_tile_sample_min_size"),
                   "cache_text": ("fp8_llm",)},
    sample_options=SAMPLE_OPTIONS, resume=RESUME,
    downloads=(
        Download("dit", "Kijai/HunyuanVideo_comfy", "FramePackI2V_HY_bf16.safetensors"),
        Download("vae", "hunyuanvideo-community/HunyuanVideo", "vae/diffusion_pytorch_model.safetensors"),
        Download("text_encoder", "Comfy-Org/HunyuanVideo_repackaged",
                 "split_files/text_encoders/llava_llama3_fp16.safetensors"),
        Download("clip_l", "Comfy-Org/HunyuanVideo_repackaged", "split_files/text_encoders/clip_l.safetensors"),
        Download("image_encoder", "Comfy-Org/sigclip_vision_384", "sigclip_vision_patch14_384.safetensors"),
    ),
    doc="docs/framepack_1f.md",
    notes=("FramePack trains from image datasets only in one-frame mode (experimental upstream); its normal "
           "training needs a video dataset",),
)


# ---- Kandinsky 5, HiDream-O1 -----------------------------------------------------------------------------------

_K5_T2V = ("k5-pro-t2v-5s-sd", "k5-pro-t2v-5s-hd", "k5-pro-t2v-10s-sd", "k5-pro-t2v-10s-hd", "k5-lite-t2v-5s-sd",
           "k5-lite-t2v-10s-sd", "k5-lite-t2v-5s-pretrain-sd", "k5-lite-t2v-10s-pretrain-sd")
_K5_I2V = ("k5-pro-i2v-5s-sd", "k5-pro-i2v-5s-hd", "k5-lite-i2v-5s-sd")


def _k5(id_: str, name: str, tasks: tuple[str, ...]) -> Family:
    return Family(
        id=id_, name=name, trainer="musubi", scripts=_scripts("kandinsky5", "kandinsky5_generate_video.py"),
        roles=(
            _dit("kandinsky5-dit", "Kandinsky 5 DiT matching the task"),
            _vae("hunyuan-video-vae", "HunyuanVideo VAE (diffusers vae/diffusion_pytorch_model.safetensors)"),
            _text("text_encoder", "text_encoder_qwen", "qwen2.5-vl-7b",
                  "Qwen2.5-VL 7B Instruct: a Hub id or a local snapshot folder", repo_id_ok=True),
            _text("clip_l", "text_encoder_clip", "clip-l",
                  "CLIP ViT-L/14: a Hub id or a local snapshot folder", repo_id_ok=True),
        ),
        fixed_args=(FixedArg("task", tasks[0], choices=tasks),),
        network_module="networks.lora_kandinsky", default_resolution=512, bucket_step=16,
        preset_args={"timestep_sampling": "shift", "discrete_flow_shift": 5.0, "network_alpha": 32.0},
        presets={"24gb": {**FP8, "blocks_to_swap": 20}, "48gb": {**FP8}, "80gb": {}},
        dataset_dialect="musubi", architecture="k5", video=True,
        cache_forward={"cache_latents": ("vae_dtype",)}, sample_options=SAMPLE_OPTIONS, resume=RESUME,
        downloads=(Download("vae", "hunyuanvideo-community/HunyuanVideo", "vae/diffusion_pytorch_model.safetensors"),),
        doc="docs/kandinsky5.md",
        notes=("task is a variant: the parser accepts any text, loratui checks it against the family's tasks",
               "DiTs: kandinskylab/Kandinsky-5.0-T2V-Pro-sft-5s and siblings (collection ai-forever/kandinsky-50)"),
    )


K5 = (_k5("kandinsky5-t2v", "Kandinsky 5 T2V", _K5_T2V), _k5("kandinsky5-i2v", "Kandinsky 5 I2V", _K5_I2V))


def _hidream(id_: str, name: str, model_type: str, file: str, noise: tuple[float, float, float]) -> Family:
    return Family(
        id=id_, name=name, trainer="musubi",
        scripts=_scripts("hidream_o1", "hidream_o1_generate_image.py", latents="hidream_o1_cache_pixel.py"),
        roles=(_dit(f"hidream-o1-{model_type}", f"{name} single checkpoint (no separate VAE or text encoder)"),),
        fixed_args=(FixedArg("model_type", model_type, ("cache_text", "train")),
                    FixedArg("task", "t2i", choices=("t2i", "i2i"))),
        network_module="networks.lora_hidream_o1", default_resolution=1024, bucket_step=32,
        preset_args={"timestep_sampling": "uniform", "learning_rate": 4e-5, "noise_scale_start": noise[0],
                     "noise_scale_end": noise[1], "noise_clip_std": noise[2]},
        presets={"16gb": {**FP8, "blocks_to_swap": 20}, "24gb": {**FP8}, "48gb": {}},
        dataset_dialect="musubi", architecture="ho1",
        controls=Controls(False, None, ("control_directory",),
                          note="with control images train task = \"i2i\"; without, \"t2i\""),
        sample_options=SAMPLE_OPTIONS, resume=RESUME,
        downloads=(Download("dit", "Comfy-Org/HiDream-O1-Image", f"checkpoints/{file}"),),
        doc="docs/hidream_o1.md",
        notes=(f"noise_scale_start/end {noise[0]}/{noise[1]} and noise_clip_std {noise[2]} must match model_type "
               f"{model_type}",
               "with task i2i (or flash_attn), blocks_to_swap needs a dataset batch size of 1",
               "tokenizer and processor come from the Hub (HiDream-ai/HiDream-O1-Image): cache them for offline "
               "boxes"),
    )


HIDREAM = (_hidream("hidream-o1", "HiDream-O1-Image", "full", "hidream_o1_image_bf16.safetensors", (8.0, 8.0, 0.0)),
           _hidream("hidream-o1-dev", "HiDream-O1-Image-Dev", "dev", "hidream_o1_image_dev_bf16.safetensors",
                    (7.5, 7.5, 2.5)))

FAMILIES = QWEN + (KONTEXT,) + FLUX2 + (ZIMAGE,) + WAN + (HUNYUAN_VIDEO,) + HV15 + (FRAMEPACK,) + K5 + HIDREAM
