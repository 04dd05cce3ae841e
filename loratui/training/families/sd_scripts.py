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


_SD_NOTE = "download source not named by sd-scripts' docs"

FAMILIES = (
    Family(
        id="sd15", name="Stable Diffusion 1.x", trainer="kohya",
        scripts={"train": "train_network.py", "inference": "gen_img.py"},
        roles=(_checkpoint("sd1-checkpoint", "SD 1.x checkpoint (.safetensors/.ckpt) or Diffusers folder/repo"),
               _VAE_OPTIONAL),
        network_module="networks.lora", default_resolution=512, bucket_step=64,
        presets=("8gb", "12gb", "16gb", "24gb"), sample_options=SAMPLE_OPTIONS,
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
        presets=("8gb", "16gb", "24gb"), sample_options=SAMPLE_OPTIONS,
        doc="docs/train_network.md",
        notes=("sd-scripts does not detect SD 2.x: the family passes --v2",),
    ),
    Family(
        id="sd2-v", name="Stable Diffusion 2.x (768-v, v-prediction)", trainer="kohya",
        scripts={"train": "train_network.py", "inference": "gen_img.py"},
        roles=(_checkpoint("sd2-checkpoint", "SD 2.x 768-v checkpoint"), _VAE_OPTIONAL),
        fixed_args=(FixedArg("v2", True), FixedArg("v_parameterization", True)),
        network_module="networks.lora", default_resolution=768, bucket_step=64,
        presets=("8gb", "16gb", "24gb"), sample_options=SAMPLE_OPTIONS,
        doc="docs/train_network.md",
        notes=("v-prediction models need --v2 --v_parameterization; the family passes both",),
    ),
    Family(
        id="sdxl", name="Stable Diffusion XL", trainer="kohya",
        scripts={"train": "sdxl_train_network.py", "inference": "sdxl_gen_img.py"},
        roles=(_checkpoint("sdxl-checkpoint", "SDXL checkpoint (U-Net, both text encoders and VAE)"),
               _VAE_OPTIONAL),
        network_module="networks.lora", default_resolution=1024, bucket_step=32,
        presets=("8gb", "12gb", "16gb", "24gb"), sample_options=SAMPLE_OPTIONS,
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
        presets=("12gb", "16gb", "24gb"), sample_options=SAMPLE_OPTIONS,
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
        presets=("8gb", "12gb", "16gb", "24gb"), sample_options=SAMPLE_OPTIONS,
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
        presets=("12gb", "16gb", "24gb"), sample_options=SAMPLE_OPTIONS,
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
        presets=("12gb", "16gb", "24gb"), sample_options=SAMPLE_OPTIONS,
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
        presets=("8gb", "12gb", "24gb", "48gb"), sample_options=SAMPLE_OPTIONS,
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
        presets=("8gb", "12gb", "24gb"), sample_options=SAMPLE_OPTIONS,
        doc="docs/anima_train_network.md",
        notes=("model files: https://huggingface.co/circlestone-labs/Anima (the docs name no file names)",
               "sd-scripts disables fp8 options for Anima"),
    ),
)
