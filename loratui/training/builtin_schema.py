"""The common sd-scripts and musubi-tuner options, for when no trainer is installed (names, types and defaults as
in sd-scripts v0.10.1 and musubi-tuner 30c658c).

The real schema comes from the installed trainer (``schema.introspect``); this list only keeps the form, the
validation and ``train options`` useful on a machine without one. Rows: name, type, default, choices, nargs, help.
A family's model-file options and variant flags come from its record (``schema.builtin_schema`` adds them).
"""

from __future__ import annotations

_COMMON = [
    ("pretrained_model_name_or_path", "str", None, None, None, "base model: a .safetensors/.ckpt file or a diffusers folder"),
    ("vae", "str", None, None, None, "VAE to use instead of the model's own"),
    ("v2", "bool", False, None, None, "load a Stable Diffusion 2.x model"),
    ("v_parameterization", "bool", False, None, None, "enable v-parameterization training"),
    ("tokenizer_cache_dir", "str", None, None, None, "folder to cache tokenizers in (for offline training)"),
    ("output_dir", "str", None, None, None, "folder the LoRA files are written to"),
    ("output_name", "str", None, None, None, "base name of the LoRA files"),
    ("save_model_as", "str", "safetensors", [None, "ckpt", "safetensors", "diffusers", "diffusers_safetensors"], None,
     "file format of the saved model"),
    ("save_precision", "str", None, [None, "float", "fp16", "bf16"], None, "precision of the saved weights"),
    ("save_every_n_epochs", "int", None, None, None, "save a checkpoint every N epochs"),
    ("save_every_n_steps", "int", None, None, None, "save a checkpoint every N steps"),
    ("save_last_n_epochs", "int", None, None, None, "keep only the last N epoch checkpoints"),
    ("save_state", "bool", False, None, None, "save the optimizer state with each checkpoint (needed to resume)"),
    ("save_state_on_train_end", "bool", False, None, None, "save the training state when training ends"),
    ("resume", "str", None, None, None, "resume from a saved state folder"),
    ("skip_until_initial_step", "bool", False, None, None, "with resume: continue from the saved step"),
    ("train_batch_size", "int", 1, None, None, "batch size per device"),
    ("max_train_steps", "int", 1600, None, None, "training steps"),
    ("max_train_epochs", "int", None, None, None, "training epochs (overrides max_train_steps)"),
    ("gradient_accumulation_steps", "int", 1, None, None, "steps to accumulate gradients over before updating"),
    ("gradient_checkpointing", "bool", False, None, None, "trade compute for memory"),
    ("mixed_precision", "str", "no", ["no", "fp16", "bf16"], None, "mixed precision"),
    ("full_fp16", "bool", False, None, None, "fp16 training including gradients"),
    ("full_bf16", "bool", False, None, None, "bf16 training including gradients"),
    ("fp8_base", "bool", False, None, None, "keep the base model in fp8"),
    ("seed", "int", None, None, None, "random seed"),
    ("xformers", "bool", False, None, None, "use xformers attention"),
    ("sdpa", "bool", False, None, None, "use PyTorch scaled dot product attention"),
    ("max_data_loader_n_workers", "int", 8, None, None, "data loader worker processes"),
    ("persistent_data_loader_workers", "bool", False, None, None, "keep data loader workers between epochs"),
    ("learning_rate", "float", 2e-06, None, None, "learning rate"),
    ("unet_lr", "float", None, None, None, "learning rate of the U-Net / DiT"),
    ("text_encoder_lr", "float", None, None, "*", "learning rate(s) of the text encoder(s)"),
    ("lr_scheduler", "str", "constant", None, None,
     "linear, cosine, cosine_with_restarts, polynomial, constant, constant_with_warmup, adafactor"),
    ("lr_warmup_steps", "int_or_float", 0, None, None, "warmup steps, or a ratio of the training steps below 1"),
    ("lr_scheduler_num_cycles", "int", 1, None, None, "restarts of cosine_with_restarts"),
    ("lr_scheduler_power", "float", 1, None, None, "power of the polynomial scheduler"),
    ("optimizer_type", "str", "", None, None,
     "AdamW, AdamW8bit, Lion, SGDNesterov, DAdaptAdam, Prodigy, AdaFactor, or a full class path"),
    ("optimizer_args", "str", None, None, "*", "extra optimizer arguments, e.g. weight_decay=0.01 betas=0.9,0.999"),
    ("max_grad_norm", "float", 1.0, None, None, "gradient clipping norm (0: no clipping)"),
    ("network_module", "str", None, None, None, "network module, e.g. networks.lora"),
    ("network_dim", "int", None, None, None, "network rank"),
    ("network_alpha", "float", 1, None, None, "alpha for LoRA weight scaling"),
    ("network_dropout", "float", None, None, None, "neuron dropout"),
    ("network_args", "str", None, None, "*", "extra network arguments, e.g. conv_dim=4"),
    ("network_weights", "str", None, None, None, "start from these LoRA weights"),
    ("network_train_unet_only", "bool", False, None, None, "train only the U-Net / DiT"),
    ("network_train_text_encoder_only", "bool", False, None, None, "train only the text encoder"),
    ("scale_weight_norms", "float", None, None, None, "scale weights to prevent exploding gradients"),
    ("train_data_dir", "str", None, None, None, "training images (loratui writes a dataset_config instead)"),
    ("reg_data_dir", "str", None, None, None, "regularisation images (loratui writes a dataset_config instead)"),
    ("dataset_config", "Path", None, None, None, "dataset config TOML (written by loratui)"),
    ("resolution", "str", None, None, None, "training resolution, 'size' or 'width,height'"),
    ("enable_bucket", "bool", False, None, None, "aspect-ratio buckets"),
    ("min_bucket_reso", "int", 256, None, None, "smallest bucket side"),
    ("max_bucket_reso", "int", 1024, None, None, "largest bucket side"),
    ("bucket_reso_steps", "int", 64, None, None, "bucket side step"),
    ("bucket_no_upscale", "bool", False, None, None, "never upscale images into a bucket"),
    ("caption_extension", "str", ".caption", None, None, "caption file extension"),
    ("shuffle_caption", "bool", False, None, None, "shuffle comma-separated tags"),
    ("keep_tokens", "int", 0, None, None, "keep the first N tags in place when shuffling"),
    ("caption_dropout_rate", "float", 0.0, None, None, "rate of dropping the whole caption"),
    ("caption_tag_dropout_rate", "float", 0.0, None, None, "rate of dropping single tags"),
    ("flip_aug", "bool", False, None, None, "random horizontal flips"),
    ("color_aug", "bool", False, None, None, "random colour changes (disables latent caching)"),
    ("random_crop", "bool", False, None, None, "random crops (disables latent caching)"),
    ("prior_loss_weight", "float", 1.0, None, None, "loss weight of regularisation images"),
    ("cache_latents", "bool", False, None, None, "cache VAE latents in memory"),
    ("cache_latents_to_disk", "bool", False, None, None, "cache VAE latents on disk"),
    ("clip_skip", "int", None, None, None, "use the output of the n-th last text encoder layer"),
    ("max_token_length", "int", None, [None, 150, 225], None, "max tokens of the text encoder"),
    ("noise_offset", "float", None, None, None, "noise offset (around 0.1)"),
    ("multires_noise_iterations", "int", None, None, None, "multi-resolution noise iterations"),
    ("ip_noise_gamma", "float", None, None, None, "input perturbation noise"),
    ("min_snr_gamma", "float", None, None, None, "min-SNR weighting gamma (5 is common)"),
    ("loss_type", "str", "l2", ["l1", "l2", "huber", "smooth_l1"], None, "loss function"),
    ("sample_every_n_epochs", "int", None, None, None, "generate samples every N epochs"),
    ("sample_every_n_steps", "int", None, None, None, "generate samples every N steps"),
    ("sample_prompts", "str", None, None, None, "file with sample prompts"),
    ("sample_sampler", "str", "ddim", ["ddim", "pndm", "lms", "euler", "euler_a", "heun", "dpm_2", "dpm_2_a",
                                        "dpmsolver", "dpmsolver++", "dpmsingle", "k_lms", "k_euler", "k_euler_a",
                                        "k_dpm_2", "k_dpm_2_a"], None, "sampler for samples"),
    ("logging_dir", "str", None, None, None, "TensorBoard log folder"),
    ("log_with", "str", None, ["tensorboard", "wandb", "all"], None, "logging tool"),
    ("training_comment", "str", None, None, None, "comment stored in the LoRA metadata"),
    ("console_log_simple", "bool", False, None, None, "plain log lines instead of rich output"),
    ("lowram", "bool", False, None, None, "load the model to VRAM directly"),
    ("highvram", "bool", False, None, None, "keep more in VRAM"),
    ("no_half_vae", "bool", False, None, None, "keep the VAE in fp32 (SDXL)"),
]

_FLUX = [
    ("clip_l", "str", None, None, None, "CLIP-L text encoder file"),
    ("t5xxl", "str", None, None, None, "T5-XXL text encoder file"),
    ("ae", "str", None, None, None, "autoencoder file"),
    ("t5xxl_max_token_length", "int", None, None, None, "T5 max tokens"),
    ("guidance_scale", "float", 3.5, None, None, "guidance scale of guidance-distilled models"),
    ("timestep_sampling", "str", "sigma", ["sigma", "uniform", "sigmoid", "shift", "flux_shift"], None,
     "how timesteps are sampled"),
    ("discrete_flow_shift", "float", 3.0, None, None, "discrete flow shift"),
    ("model_prediction_type", "str", "sigma_scaled", ["raw", "additive", "sigma_scaled"], None,
     "how the model prediction is interpreted"),
    ("blocks_to_swap", "int", None, None, None, "blocks to swap to CPU to save VRAM"),
    ("apply_t5_attn_mask", "bool", False, None, None, "apply the T5 attention mask"),
]

_SD3 = [
    ("clip_l", "str", None, None, None, "CLIP-L text encoder file"),
    ("clip_g", "str", None, None, None, "CLIP-G text encoder file"),
    ("t5xxl", "str", None, None, None, "T5-XXL text encoder file"),
    ("blocks_to_swap", "int", None, None, None, "blocks to swap to CPU to save VRAM"),
]

_TE_CACHE = [
    ("cache_text_encoder_outputs", "bool", False, None, None, "cache text encoder outputs"),
    ("cache_text_encoder_outputs_to_disk", "bool", False, None, None, "cache text encoder outputs on disk"),
]
_SDXL = list(_TE_CACHE)

_MUSUBI = [
    ("output_dir", "str", None, None, None, "folder the LoRA files are written to"),
    ("output_name", "str", None, None, None, "base name of the LoRA files"),
    ("network_module", "str", None, None, None, "network module, e.g. networks.lora_qwen_image"),
    ("network_args", "str", None, None, "*", "extra network arguments, e.g. loraplus_lr_ratio=4"),
    ("network_dim", "int", None, None, None, "network rank"),
    ("network_alpha", "float", 1, None, None, "alpha for LoRA weight scaling"),
    ("learning_rate", "float", 2e-06, None, None, "learning rate"),
    ("optimizer_type", "str", "", None, None, "optimizer"),
    ("max_train_steps", "int", 1600, None, None, "training steps"),
    ("max_train_epochs", "int", None, None, None, "training epochs (overrides max_train_steps)"),
    ("gradient_accumulation_steps", "int", 1, None, None, "steps to accumulate gradients over"),
    ("mixed_precision", "str", None, ["no", "fp16", "bf16"], None, "mixed precision"),
    ("fp8_base", "bool", False, None, None, "keep the base model in fp8"),
    ("blocks_to_swap", "int", None, None, None, "blocks to swap to CPU to save VRAM"),
    ("timestep_sampling", "str", "sigma", ["sigma", "uniform", "sigmoid", "shift", "flux_shift", "flux2_shift",
                                            "ideogram4_shift", "qwen_shift", "krea2_shift", "logsnr", "qinglong_flux",
                                            "qinglong_qwen"], None, "how timesteps are sampled"),
    ("weighting_scheme", "str", "none", ["logit_normal", "mode", "cosmap", "sigma_sqrt", "none"], None,
     "loss weighting over timesteps"),
    ("discrete_flow_shift", "float", 1.0, None, None, "discrete flow shift"),
    ("save_every_n_epochs", "int", None, None, None, "save a checkpoint every N epochs"),
    ("save_every_n_steps", "int", None, None, None, "save a checkpoint every N steps"),
    ("save_state", "bool", False, None, None, "save the optimizer state with each checkpoint"),
    ("seed", "int", None, None, None, "random seed"),
    ("sdpa", "bool", False, None, None, "use PyTorch scaled dot product attention"),
    ("gradient_checkpointing", "bool", False, None, None, "trade compute for memory"),
    ("max_data_loader_n_workers", "int", 8, None, None, "data loader worker processes"),
    ("persistent_data_loader_workers", "bool", False, None, None, "keep data loader workers between epochs"),
]

_SCRIPT_EXTRA = {"train_network.py": [], "sdxl_train_network.py": _SDXL,
                 "flux_train_network.py": _TE_CACHE + _FLUX, "sd3_train_network.py": _TE_CACHE + _SD3}
"""Options of sd-scripts' training scripts beyond train_network.py's (keyed by script: options belong to scripts,
and families share them); other DiT scripts get the text-encoder caching and block-swap rows."""
_DIT_EXTRA = _TE_CACHE + [("blocks_to_swap", "int", None, None, None, "blocks to swap to CPU to save VRAM")]


def builtin_rows(backend: str, script: str) -> list[tuple]:
    """The built-in option rows for a backend and its training script (the family record names the script)."""
    if backend == "musubi":
        return list(_MUSUBI)
    rows = {row[0]: row for row in _COMMON}
    for row in _SCRIPT_EXTRA.get(script, _DIT_EXTRA):
        rows[row[0]] = row
    return list(rows.values())
