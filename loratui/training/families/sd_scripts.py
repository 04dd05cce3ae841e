"""Families trained by kohya-ss/sd-scripts (read from v0.10.1: its scripts, ``docs/*_train_network.md``).

sd-scripts runs one process per training (``<family>_train_network.py``); latents and text-encoder outputs are
cached inside it (``--cache_latents``, ``--cache_text_encoder_outputs`` and their ``_to_disk`` forms). Every
family reads the same ``--dataset_config`` dialect (``library/config_util.py``) and takes its options from
``--config_file``.
"""

from __future__ import annotations

from loratui.training.families.record import Download, Family, FixedArg, ModelRole

SAMPLE_OPTIONS = ("--w", "--h", "--d", "--s", "--l", "--n", "--g", "--fs", "--ss", "--ctr", "--rcfg", "--cn")
"""Options after a sample prompt (``library/train_util.py`` line_to_prompt_dict)."""

_VAE_OPTIONAL = ModelRole("vae", "vae", "sd-vae", "VAE to use instead of the checkpoint's own", required=False)


def _checkpoint(content: str, text: str) -> ModelRole:
    return ModelRole("checkpoint", "pretrained_model_name_or_path", content, text, repo_id_ok=True)


def _dit(content: str, text: str) -> ModelRole:
    return ModelRole("dit", "pretrained_model_name_or_path", content, text)


RESUME = ("--save_state writes <output_name>-<step or epoch>-state folders (accelerate state plus train_state.json "
          "with the epoch and step); --resume DIR restores weights, optimizer, scheduler and the step count, and "
          "--skip_until_initial_step skips the batches already seen")

_SD_NOTE = "download source not named by sd-scripts' docs"

PRESET_DEFAULTS = {
    "network_dim": 16, "network_alpha": 8.0, "optimizer_type": "AdamW8bit", "learning_rate": 1e-4,
    "save_model_as": "safetensors", "save_precision": "bf16", "mixed_precision": "bf16", "enable_bucket": True,
    "min_bucket_reso": 256, "bucket_reso_steps": 64, "bucket_no_upscale": True, "max_train_epochs": 10,
    "save_every_n_epochs": 2, "lr_scheduler": "cosine_with_restarts", "lr_scheduler_num_cycles": 3,
    "lr_warmup_steps": 0.05, "seed": 42, "max_data_loader_n_workers": 2, "persistent_data_loader_workers": True,
    "sdpa": True, "train_batch_size": 1, "gradient_checkpointing": True, "cache_latents": True,
    "cache_latents_to_disk": True, "output_dir": "", "output_name": "",
}
"""sd-scripts options every generated preset sets (the family's ``preset_args`` and tier come on top)."""

_DIT_DEFAULTS = {"network_train_unet_only": True, "cache_text_encoder_outputs": True,
                 "cache_text_encoder_outputs_to_disk": True}
"""DiT families: only the DiT is trained, so the text-encoder outputs are cached to disk once."""


def _hand_tuned(*tiers: str) -> dict[str, dict]:
    """Tiers whose preset is a hand-tuned file in loratui/training/presets/ (it replaces the generated one)."""
    return {tier: {} for tier in tiers}

FAMILIES = (
    Family(
        id="sd15", name="Stable Diffusion 1.x", trainer="kohya",
        scripts={"train": "train_network.py", "inference": "gen_img.py"},
        roles=(_checkpoint("sd1-checkpoint", "SD 1.x checkpoint (.safetensors/.ckpt) or Diffusers folder/repo"),
               _VAE_OPTIONAL),
        network_module="networks.lora", default_resolution=512, bucket_step=64,
        presets=_hand_tuned("8gb", "12gb", "16gb", "24gb"), sample_options=SAMPLE_OPTIONS, resume=RESUME,
        downloads=(Download("checkpoint", "stable-diffusion-v1-5/stable-diffusion-v1-5",
                            "v1-5-pruned-emaonly.safetensors", _SD_NOTE),),
        doc="docs/train_network.md", verified="run",
    ),
    Family(
        id="sd2", name="Stable Diffusion 2.x (512, epsilon)", trainer="kohya",
        scripts={"train": "train_network.py", "inference": "gen_img.py"},
        roles=(_checkpoint("sd2-checkpoint", "SD 2.x base checkpoint (OpenCLIP text encoder)"), _VAE_OPTIONAL),
        fixed_args=(FixedArg("v2", True),),
        network_module="networks.lora", default_resolution=512, bucket_step=64,
        preset_args={"save_precision": "fp16", "shuffle_caption": True, "keep_tokens": 1, "max_bucket_reso": 1024},
        presets={"8gb": {"network_dim": 8, "network_alpha": 4.0},
                 "16gb": {"train_batch_size": 2, "network_dim": 16},
                 "24gb": {"train_batch_size": 4, "network_dim": 32, "network_alpha": 16.0,
                          "gradient_checkpointing": False}},
        sample_options=SAMPLE_OPTIONS, resume=RESUME,
        doc="docs/train_network.md",
        notes=("sd-scripts does not detect SD 2.x: the family passes --v2",),
    ),
    Family(
        id="sd2-v", name="Stable Diffusion 2.x (768-v, v-prediction)", trainer="kohya",
        scripts={"train": "train_network.py", "inference": "gen_img.py"},
        roles=(_checkpoint("sd2-checkpoint", "SD 2.x 768-v checkpoint"), _VAE_OPTIONAL),
        fixed_args=(FixedArg("v2", True), FixedArg("v_parameterization", True)),
        network_module="networks.lora", default_resolution=768, bucket_step=64,
        preset_args={"save_precision": "fp16", "shuffle_caption": True, "keep_tokens": 1, "max_bucket_reso": 1536},
        presets={"8gb": {"network_dim": 8, "network_alpha": 4.0},
                 "16gb": {"train_batch_size": 2, "network_dim": 16},
                 "24gb": {"train_batch_size": 4, "network_dim": 32, "network_alpha": 16.0}},
        sample_options=SAMPLE_OPTIONS, resume=RESUME,
        doc="docs/train_network.md",
        notes=("v-prediction models need --v2 --v_parameterization; the family passes both",),
    ),
    Family(
        id="sdxl", name="Stable Diffusion XL", trainer="kohya",
        scripts={"train": "sdxl_train_network.py", "inference": "sdxl_gen_img.py"},
        roles=(_checkpoint("sdxl-checkpoint", "SDXL checkpoint (U-Net, both text encoders and VAE)"),
               _VAE_OPTIONAL),
        network_module="networks.lora", default_resolution=1024, bucket_step=32,
        presets=_hand_tuned("8gb", "12gb", "16gb", "24gb"), sample_options=SAMPLE_OPTIONS, resume=RESUME,
        downloads=(Download("checkpoint", "stabilityai/stable-diffusion-xl-base-1.0", "sd_xl_base_1.0.safetensors",
                            _SD_NOTE),),
        doc="docs/sdxl_train_network.md",
    ),
    Family(
        id="sd3", name="Stable Diffusion 3 / 3.5", trainer="kohya",
        scripts={"train": "sd3_train_network.py", "inference": "sd3_minimal_inference.py"},
        roles=(
            _checkpoint("sd3-checkpoint", "SD3 / SD3.5 single-file checkpoint (3-medium, 3.5-medium or 3.5-large "
                                          "are told apart from its keys)"),
            ModelRole("clip_l", "clip_l", "clip-l", "CLIP-L text encoder (when not inside the checkpoint)",
                      required=False),
            ModelRole("clip_g", "clip_g", "clip-g", "CLIP-G text encoder (when not inside the checkpoint)",
                      required=False),
            ModelRole("t5xxl", "t5xxl", "t5-xxl", "T5-XXL text encoder (when not inside the checkpoint)",
                      required=False),
            ModelRole("vae", "vae", "sd3-vae", "VAE (when not inside the checkpoint)", required=False),
        ),
        network_module="networks.lora_sd3", default_resolution=1024, bucket_step=32,
        preset_args={**_DIT_DEFAULTS, "max_bucket_reso": 2048},
        presets={"12gb": {"fp8_base": True, "blocks_to_swap": 32},
                 "16gb": {"fp8_base": True, "blocks_to_swap": 16},
                 "24gb": {"fp8_base": True}},
        sample_options=SAMPLE_OPTIONS, resume=RESUME,
        downloads=(
            Download("checkpoint", "stabilityai/stable-diffusion-3.5-large", "sd3.5_large.safetensors", _SD_NOTE),
            Download("clip_l", "stabilityai/stable-diffusion-3.5-large", "text_encoders/clip_l.safetensors"),
            Download("clip_g", "stabilityai/stable-diffusion-3.5-large", "text_encoders/clip_g.safetensors"),
            Download("t5xxl", "stabilityai/stable-diffusion-3.5-large", "text_encoders/t5xxl_fp16.safetensors"),
        ),
        doc="docs/sd3_train_network.md",
        notes=("networks.lora_sd3 targets the MMDiT blocks; the doc example's networks.lora would train nothing "
               "of the DiT",),
    ),
    Family(
        id="flux", name="FLUX.1 (dev / schnell)", trainer="kohya",
        scripts={"train": "flux_train_network.py", "inference": "flux_minimal_inference.py"},
        roles=(
            _dit("flux1-dit", "FLUX.1 DiT (flux1-dev.safetensors; not the Diffusers subfolder)"),
            ModelRole("clip_l", "clip_l", "clip-l", "CLIP-L text encoder"),
            ModelRole("t5xxl", "t5xxl", "t5-xxl", "T5-XXL text encoder (fp16, or fp8_e4m3fn without 'scaled')"),
            ModelRole("ae", "ae", "flux1-ae", "FLUX.1 autoencoder (ae.safetensors)"),
        ),
        fixed_args=(FixedArg("model_type", "flux"),),
        network_module="networks.lora_flux", default_resolution=1024, bucket_step=32,
        presets=_hand_tuned("8gb", "12gb", "16gb", "24gb"), sample_options=SAMPLE_OPTIONS, resume=RESUME,
        downloads=(
            Download("dit", "black-forest-labs/FLUX.1-dev", "flux1-dev.safetensors", "gated: accept the licence"),
            Download("ae", "black-forest-labs/FLUX.1-dev", "ae.safetensors", "gated: accept the licence"),
            Download("clip_l", "comfyanonymous/flux_text_encoders", "clip_l.safetensors"),
            Download("t5xxl", "comfyanonymous/flux_text_encoders", "t5xxl_fp16.safetensors"),
        ),
        doc="docs/flux_train_network.md",
    ),
    Family(
        id="chroma", name="Chroma", trainer="kohya",
        scripts={"train": "flux_train_network.py", "inference": "flux_minimal_inference.py"},
        roles=(
            _dit("chroma-dit", "Chroma DiT (Chroma.safetensors)"),
            ModelRole("t5xxl", "t5xxl", "t5-xxl", "T5-XXL text encoder"),
            ModelRole("ae", "ae", "flux1-ae", "FLUX.1 autoencoder (ae.safetensors)"),
        ),
        fixed_args=(FixedArg("model_type", "chroma"), FixedArg("apply_t5_attn_mask", True)),
        network_module="networks.lora_flux", default_resolution=1024, bucket_step=32,
        preset_args={**_DIT_DEFAULTS, "max_bucket_reso": 2048, "timestep_sampling": "sigmoid",
                     "model_prediction_type": "raw", "guidance_scale": 0.0},
        presets={"12gb": {"fp8_base": True, "blocks_to_swap": 22},
                 "16gb": {"fp8_base": True, "blocks_to_swap": 16},
                 "24gb": {"fp8_base": True}},
        sample_options=SAMPLE_OPTIONS, resume=RESUME,
        downloads=(
            Download("dit", "lodestones/Chroma1-Base", "Chroma.safetensors"),
            Download("ae", "black-forest-labs/FLUX.1-dev", "ae.safetensors", "gated: accept the licence"),
            Download("t5xxl", "comfyanonymous/flux_text_encoders", "t5xxl_fp16.safetensors"),
        ),
        doc="docs/flux_train_network.md",
        notes=("Chroma is not guidance-distilled: guidance_scale 0; sample prompts need a negative prompt and "
               "CFG, e.g. '--n low quality --g 0 --l 4.0'",),
    ),
    Family(
        id="lumina2", name="Lumina Image 2.0", trainer="kohya",
        scripts={"train": "lumina_train_network.py", "inference": "lumina_minimal_inference.py"},
        roles=(
            _dit("lumina2-dit", "Lumina Image 2.0 DiT (NextDiT 2B; Neta-Lumina files work too)"),
            ModelRole("gemma2", "gemma2", "gemma2-2b", "Gemma2 2B text encoder"),
            ModelRole("ae", "ae", "flux1-ae", "FLUX.1 autoencoder (ae.safetensors)"),
        ),
        network_module="networks.lora_lumina", default_resolution=1024, bucket_step=32,
        preset_args={**_DIT_DEFAULTS, "max_bucket_reso": 2048, "timestep_sampling": "nextdit_shift",
                     "discrete_flow_shift": 6.0, "network_dim": 8, "network_alpha": 8.0},
        presets={"12gb": {"fp8_base": True, "blocks_to_swap": 12},
                 "16gb": {"fp8_base": True},
                 "24gb": {}},
        sample_options=SAMPLE_OPTIONS, resume=RESUME,
        downloads=(
            Download("dit", "Comfy-Org/Lumina_Image_2.0_Repackaged",
                     "split_files/diffusion_models/lumina_2_model_bf16.safetensors"),
            Download("gemma2", "Comfy-Org/Lumina_Image_2.0_Repackaged",
                     "split_files/text_encoders/gemma_2_2b_fp16.safetensors"),
            Download("ae", "Comfy-Org/Lumina_Image_2.0_Repackaged", "split_files/vae/ae.safetensors"),
        ),
        doc="docs/lumina_train_network.md",
    ),
    Family(
        id="hunyuan-image-2.1", name="HunyuanImage-2.1", trainer="kohya",
        scripts={"train": "hunyuan_image_train_network.py", "inference": "hunyuan_image_minimal_inference.py"},
        roles=(
            _dit("hunyuan-image-2.1-dit", "HunyuanImage-2.1 DiT (dit/hunyuanimage2.1.safetensors)"),
            ModelRole("text_encoder", "text_encoder", "qwen2.5-vl-7b", "Qwen2.5-VL 7B text encoder"),
            ModelRole("byt5", "byt5", "byt5-small-glyph", "byT5 (glyph) text encoder"),
            ModelRole("vae", "vae", "hunyuan-image-2.1-vae", "HunyuanImage-2.1 VAE"),
        ),
        fixed_args=(FixedArg("network_train_unet_only", True),),
        network_module="networks.lora_hunyuan_image", default_resolution=1024, bucket_step=32,
        preset_args={**_DIT_DEFAULTS, "max_bucket_reso": 2048, "discrete_flow_shift": 5.0,
                     "model_prediction_type": "raw"},
        presets={"8gb": {"fp8_base": True, "fp8_scaled": True, "fp8_vl": True, "text_encoder_cpu": True,
                         "blocks_to_swap": 37},
                 "12gb": {"fp8_base": True, "fp8_scaled": True, "fp8_vl": True, "blocks_to_swap": 32},
                 "24gb": {"fp8_base": True, "fp8_scaled": True, "blocks_to_swap": 9},
                 "48gb": {}},
        sample_options=SAMPLE_OPTIONS, resume=RESUME,
        downloads=(
            Download("dit", "tencent/HunyuanImage-2.1", "dit/hunyuanimage2.1.safetensors"),
            Download("text_encoder", "Comfy-Org/HunyuanImage_2.1_ComfyUI",
                     "split_files/text_encoders/qwen_2.5_vl_7b.safetensors"),
            Download("byt5", "Comfy-Org/HunyuanImage_2.1_ComfyUI",
                     "split_files/text_encoders/byt5_small_glyphxl_fp16.safetensors"),
            Download("vae", "Comfy-Org/HunyuanImage_2.1_ComfyUI",
                     "split_files/vae/hunyuan_image_2.1_vae_fp16.safetensors"),
        ),
        doc="docs/hunyuan_image_train_network.md",
        notes=("sd-scripts trains only the DiT for this family (--network_train_unet_only is required)",),
    ),
    Family(
        id="anima", name="Anima", trainer="kohya",
        scripts={"train": "anima_train_network.py", "inference": "anima_minimal_inference.py"},
        roles=(
            _dit("anima-dit", "Anima DiT (ComfyUI 'net.' prefixed files work)"),
            ModelRole("qwen3", "qwen3", "qwen3-0.6b", "Qwen3 0.6B text encoder (a folder or a single file)"),
            ModelRole("vae", "vae", "qwen-image-vae", "Qwen-Image VAE (.safetensors or .pth)"),
            ModelRole("llm_adapter", "llm_adapter_path", "anima-llm-adapter",
                      "LLM adapter weights (taken from the DiT when it holds them)", required=False),
        ),
        network_module="networks.lora_anima", default_resolution=1024, bucket_step=16,
        preset_args={**_DIT_DEFAULTS, "max_bucket_reso": 2048, "discrete_flow_shift": 1.0, "network_dim": 8,
                     "network_alpha": 8.0},
        presets={"8gb": {"blocks_to_swap": 18}, "12gb": {"blocks_to_swap": 8}, "24gb": {}},
        sample_options=SAMPLE_OPTIONS, resume=RESUME,
        doc="docs/anima_train_network.md",
        notes=("model files: https://huggingface.co/circlestone-labs/Anima (the docs name no file names)",
               "sd-scripts disables fp8 options for Anima"),
    ),
)
