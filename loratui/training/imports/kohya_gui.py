"""kohya_ss GUI configs (its LoRA presets and the JSON it saves) -> sd-scripts options.

What the GUI means is what its ``lora_gui.train_model()`` turns each field into when it builds the sd-scripts
``--config_file`` (bmaltais/kohya_ss, read at commit 45088f04): GUI names that differ from sd-scripts' arguments
(``max_resolution``, ``optimizer``, ``LoRA_type``, ``epoch``), numbers stored as strings (its
``update_my_data()`` parses them on load), ``lr_warmup`` as a percentage, the LoRA type and its panel of fields
turned into ``network_module`` + ``network_args`` (LyCORIS algorithms, block weights, LoRA+), learning rates of
0 that switch the text encoder or the U-Net off, and its filter that never passes an empty, 0 or false value.

Two things kohya_ss computes in a way loratui does not copy: ``max_train_steps`` from ``epoch`` (folder counts,
no buckets, x2 for regularisation) — ``epoch`` becomes ``max_train_epochs`` and sd-scripts counts the steps —
and the warmup in steps from that guess — the percentage becomes a ratio sd-scripts applies to its own count.
A field the file does not hold takes the GUI's default where the meaning depends on it (``GUI_DEFAULTS``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loratui.training.imports import cmdline, optimizers, sdscripts
from loratui.training.imports.draft import DROP, DatasetPart, DatasetRoot, Draft
from loratui.training.imports.models import KOHYA_GUI_CHECKBOXES
from loratui.training.imports.values import BadValue, flag, is_empty, kwarg_text, number, split_args

GUI_DEFAULTS: dict[str, Any] = {
    "LoRA_type": "Standard", "LyCORIS_preset": "full", "conv_dim": 1, "conv_alpha": 1, "factor": -1, "unit": 1,
    "use_tucker": False, "use_scalar": False, "use_cp": False, "bypass_mode": False, "dora_wd": False,
    "rank_dropout_scale": False, "train_norm": False, "decompose_both": False, "train_on_input": True,
    "constrain": 0.0, "rescaled": False, "rank_dropout": 0, "module_dropout": 0.0,
    "noise_offset_type": "Original", "xformers": "xformers", "learning_rate": 0.0001,
    "text_encoder_lr": 0.0001, "unet_lr": 0.0001, "t5xxl_lr": 0, "lr_scheduler": "cosine", "lr_warmup": 10,
    "epoch": 1, "max_resolution": "512,512", "mixed_precision": "fp16", "save_precision": "fp16",
    "caption_extension": ".txt", "cache_latents": True, "enable_bucket": True, "min_bucket_reso": 256,
    "max_bucket_reso": 2048, "bucket_reso_steps": 64, "network_dim": 8, "network_alpha": 1,
    "train_batch_size": 1, "clip_skip": 1, "max_token_length": 75, "save_model_as": "safetensors",
    "save_every_n_epochs": 1, "max_grad_norm": 1.0, "gradient_accumulation_steps": 1,
}
"""The fresh GUI's value of fields whose absence would otherwise change the meaning (kohya_ss keeps the form's
current value for a field a loaded file lacks)."""

SAME_NAME = frozenset({
    "adaptive_noise_scale", "async_upload", "bucket_no_upscale", "bucket_reso_steps", "cache_latents",
    "cache_latents_to_disk", "caption_dropout_every_n_epochs", "caption_dropout_rate", "caption_extension",
    "color_aug", "debiased_estimation_loss", "dim_from_weights", "dynamo_backend", "enable_bucket", "flip_aug",
    "fp8_base", "full_bf16", "full_fp16", "gradient_accumulation_steps", "gradient_checkpointing", "highvram",
    "huber_c", "huber_scale", "huber_schedule", "huggingface_repo_id", "huggingface_repo_type",
    "huggingface_repo_visibility", "huggingface_path_in_repo", "ip_noise_gamma", "ip_noise_gamma_random_strength",
    "keep_tokens", "learning_rate", "logging_dir", "log_config", "log_tracker_name", "log_tracker_config",
    "loss_type", "lr_scheduler", "lr_scheduler_power", "lr_scheduler_type", "masked_loss", "max_bucket_reso",
    "max_grad_norm", "max_timestep", "mem_eff_attn", "metadata_author", "metadata_description",
    "metadata_license", "metadata_tags", "metadata_title", "min_bucket_reso", "min_snr_gamma", "min_timestep",
    "mixed_precision", "network_alpha", "network_dim", "network_dropout", "network_weights", "output_dir",
    "output_name", "pretrained_model_name_or_path", "prior_loss_weight", "random_crop", "resume",
    "resume_from_huggingface", "sample_every_n_epochs", "sample_every_n_steps", "sample_sampler",
    "save_every_n_epochs", "save_every_n_steps", "save_last_n_steps", "save_last_n_steps_state",
    "save_last_n_epochs", "save_last_n_epochs_state", "save_model_as", "save_precision", "save_state",
    "save_state_on_train_end", "save_state_to_huggingface", "scale_v_pred_loss_like_noise_pred",
    "scale_weight_norms", "shuffle_caption", "skip_cache_check", "train_batch_size", "training_comment",
    "log_with", "v2", "v_parameterization", "v_pred_like_loss", "vae", "vae_batch_size", "weighted_captions",
    "clip_skip", "max_token_length", "train_inpainting", "blocks_to_swap", "show_timesteps",
    "show_timesteps_resolution",
})
"""GUI fields kohya_ss passes to sd-scripts under the same name (when not empty)."""

INT_FIELDS = frozenset({
    "bucket_reso_steps", "caption_dropout_every_n_epochs", "gradient_accumulation_steps", "keep_tokens",
    "max_bucket_reso", "min_bucket_reso", "network_dim", "save_every_n_epochs", "save_every_n_steps",
    "save_last_n_steps", "save_last_n_steps_state", "save_last_n_epochs", "save_last_n_epochs_state",
    "sample_every_n_epochs", "sample_every_n_steps", "train_batch_size", "max_timestep", "min_timestep",
    "vae_batch_size", "clip_skip", "max_token_length", "max_data_loader_n_workers", "lr_scheduler_num_cycles",
    "seed", "blocks_to_swap", "t5xxl_max_token_length", "single_blocks_to_swap", "double_blocks_to_swap",
    "show_timesteps_resolution",
})
"""Fields kohya_ss converts with int() (the rest of the numbers are floats or text)."""

FAMILY_FIELDS: dict[str, dict[str, str]] = {
    "flux": {name: name for name in (
        "fp8_base_unet", "split_mode", "t5xxl_max_token_length", "guidance_scale", "mem_eff_save",
        "apply_t5_attn_mask", "cpu_offload_checkpointing", "single_blocks_to_swap", "double_blocks_to_swap",
        "discrete_flow_shift", "model_prediction_type", "timestep_sampling", "ae", "clip_l", "t5xxl")},
    "sd3": {"sd3_clip_l": "clip_l", "sd3_t5xxl": "t5xxl", "clip_g": "clip_g",
            "clip_g_dropout_rate": "clip_g_dropout_rate", "sd3_clip_l_dropout_rate": "clip_l_dropout_rate",
            "sd3_t5_dropout_rate": "t5_dropout_rate", "sd3_fused_backward_pass": "fused_backward_pass",
            "sd3_disable_mmap_load_safetensors": "disable_mmap_load_safetensors",
            "sd3_enable_scaled_pos_embed": "enable_scaled_pos_embed", "logit_mean": "logit_mean",
            "logit_std": "logit_std", "mode_scale": "mode_scale", "pos_emb_random_crop_rate":
            "pos_emb_random_crop_rate", "save_clip": "save_clip", "save_t5xxl": "save_t5xxl",
            "t5xxl_device": "t5xxl_device", "t5xxl_dtype": "t5xxl_dtype",
            "sd3_text_encoder_batch_size": "text_encoder_batch_size", "weighting_scheme": "weighting_scheme"},
    "sdxl": {"sdxl_no_half_vae": "no_half_vae"},
}
"""Fields of a model's own panel: passed (renamed to the sd-scripts option) only for that family."""

TE_CACHE_FIELDS = {
    "sdxl": ("sdxl_cache_text_encoder_outputs", None),
    "flux": ("flux1_cache_text_encoder_outputs", "flux1_cache_text_encoder_outputs_to_disk"),
    "sd3": ("sd3_cache_text_encoder_outputs", "sd3_cache_text_encoder_outputs_to_disk"),
}

OTHER_PANEL_PREFIXES = ("hunyuan_", "anima_", "lumina_", "sdxl_", "flux1_", "sd3_")

GUI_ONLY = {
    "training_preset": "the GUI's preset menu", "model_list": "the GUI's model menu",
    "print_only": "a GUI button", "headless": "a GUI launch flag", "save_as_bool": "a GUI switch",
    "lowvram": "removed from sd-scripts (kohya_ss no longer passes it)",
    "noise_offset_type": "it only chooses which noise fields kohya_ss passes",
    "use_8bit_adam": "an old name: kohya_ss turns it into optimizer AdamW8bit",
    "use_wandb": "an old name: kohya_ss turns it into log_with = wandb",
    "dynamo_mode": "loratui launches with --dynamo_backend no",
    "dynamo_use_fullgraph": "loratui launches with --dynamo_backend no",
    "dynamo_use_dynamic": "loratui launches with --dynamo_backend no",
    "num_cpu_threads_per_process": "loratui always launches with --num_cpu_threads_per_process 1 and "
                                   "OMP_NUM_THREADS=1",
    "stop_text_encoder_training": "kohya_ss ignores it for LoRA ('not yet supported')",
    "epoch": "", "lr_warmup_steps": "", "lr_warmup": "",
}

LYCORIS_ARGS: dict[str, tuple[tuple[str, str], ...]] = {
    "LyCORIS/BOFT": (("preset", "LyCORIS_preset"), ("conv_dim", "conv_dim"), ("conv_alpha", "conv_alpha"),
                     ("module_dropout", "module_dropout"), ("use_tucker", "use_tucker"),
                     ("rank_dropout", "rank_dropout"), ("rank_dropout_scale", "rank_dropout_scale"),
                     ("algo", "=boft"), ("train_norm", "train_norm")),
    "LyCORIS/Diag-OFT": (("preset", "LyCORIS_preset"), ("conv_dim", "conv_dim"), ("conv_alpha", "conv_alpha"),
                         ("module_dropout", "module_dropout"), ("use_tucker", "use_tucker"),
                         ("rank_dropout", "rank_dropout"), ("rank_dropout_scale", "rank_dropout_scale"),
                         ("constraint", "constrain"), ("rescaled", "rescaled"), ("algo", "=diag-oft"),
                         ("train_norm", "train_norm")),
    "LyCORIS/DyLoRA": (("preset", "LyCORIS_preset"), ("conv_dim", "conv_dim"), ("conv_alpha", "conv_alpha"),
                       ("use_tucker", "use_tucker"), ("block_size", "unit"), ("rank_dropout", "rank_dropout"),
                       ("module_dropout", "module_dropout"), ("algo", "=dylora"), ("train_norm", "train_norm")),
    "LyCORIS/GLoRA": (("preset", "LyCORIS_preset"), ("conv_dim", "conv_dim"), ("conv_alpha", "conv_alpha"),
                      ("use_tucker", "use_tucker"), ("rank_dropout", "rank_dropout"),
                      ("module_dropout", "module_dropout"), ("rank_dropout_scale", "rank_dropout_scale"),
                      ("algo", "=glora"), ("train_norm", "train_norm")),
    "LyCORIS/iA3": (("preset", "LyCORIS_preset"), ("conv_dim", "conv_dim"), ("conv_alpha", "conv_alpha"),
                    ("train_on_input", "train_on_input"), ("algo", "=ia3")),
    "LyCORIS/LoCon": (("preset", "LyCORIS_preset"), ("conv_dim", "conv_dim"), ("conv_alpha", "conv_alpha"),
                      ("use_tucker", "use_tucker"), ("rank_dropout", "rank_dropout"), ("bypass_mode", "bypass_mode"),
                      ("dora_wd", "dora_wd"), ("module_dropout", "module_dropout"), ("use_scalar", "use_scalar"),
                      ("rank_dropout_scale", "rank_dropout_scale"), ("algo", "=locon"), ("train_norm", "train_norm")),
    "LyCORIS/LoHa": (("preset", "LyCORIS_preset"), ("conv_dim", "conv_dim"), ("conv_alpha", "conv_alpha"),
                     ("use_tucker", "use_tucker"), ("rank_dropout", "rank_dropout"), ("bypass_mode", "bypass_mode"),
                     ("dora_wd", "dora_wd"), ("module_dropout", "module_dropout"), ("use_scalar", "use_scalar"),
                     ("rank_dropout_scale", "rank_dropout_scale"), ("algo", "=loha"), ("train_norm", "train_norm")),
    "LyCORIS/LoKr": (("preset", "LyCORIS_preset"), ("conv_dim", "conv_dim"), ("conv_alpha", "conv_alpha"),
                     ("use_tucker", "use_tucker"), ("rank_dropout", "rank_dropout"), ("bypass_mode", "bypass_mode"),
                     ("dora_wd", "dora_wd"), ("module_dropout", "module_dropout"), ("factor", "factor"),
                     ("use_cp", "use_cp"), ("use_scalar", "use_scalar"), ("decompose_both", "decompose_both"),
                     ("rank_dropout_scale", "rank_dropout_scale"), ("algo", "=lokr"), ("train_norm", "train_norm")),
    "LyCORIS/Native Fine-Tuning": (("preset", "LyCORIS_preset"), ("rank_dropout", "rank_dropout"),
                                   ("module_dropout", "module_dropout"), ("rank_dropout_scale", "rank_dropout_scale"),
                                   ("algo", "=full"), ("train_norm", "train_norm")),
}
"""LyCORIS types: every network_args key kohya_ss writes (all of them, even False and 0), from which field;
'=x' is a constant."""

BLOCK_WEIGHTS = ("down_lr_weight", "mid_lr_weight", "up_lr_weight", "block_lr_zero_threshold", "block_dims",
                 "block_alphas", "conv_block_dims", "conv_block_alphas")

KOHYA_NETWORKS: dict[str, tuple[str, tuple[str, ...]]] = {
    "Standard": ("networks.lora", BLOCK_WEIGHTS + ("rank_dropout", "module_dropout")),
    "Kohya LoCon": ("networks.lora", ("conv_dim", "conv_alpha") + BLOCK_WEIGHTS + ("rank_dropout", "module_dropout")),
    "LoRA-FA": ("networks.lora_fa", BLOCK_WEIGHTS + ("rank_dropout", "module_dropout")),
    "Kohya DyLoRA": ("networks.dylora", ("conv_dim", "conv_alpha") + BLOCK_WEIGHTS
                     + ("rank_dropout", "module_dropout", "unit")),
    "Flux1": ("networks.lora_flux", ("img_attn_dim", "img_mlp_dim", "img_mod_dim", "single_dim", "txt_attn_dim",
                                     "txt_mlp_dim", "txt_mod_dim", "single_mod_dim", "in_dims",
                                     "train_double_block_indices", "train_single_block_indices")),
    "Flux1 OFT": ("networks.oft_flux", ("enable_all_linear",)),
}
"""kohya's own network types: module and the fields passed as ``name=value`` when set (truthy)."""

NATIVE_LOHA_LOKR = {"Kohya LoHa": "networks.loha", "Kohya LoKr": "networks.lokr"}
NETWORK_FIELDS = frozenset(
    {f for args in LYCORIS_ARGS.values() for _, f in args if not f.startswith("=")}
    | {f for _, fields in KOHYA_NETWORKS.values() for f in fields}
    | {"loraplus_lr_ratio", "loraplus_unet_lr_ratio", "loraplus_text_encoder_lr_ratio", "train_lora_ggpo",
       "ggpo_sigma", "ggpo_beta", "split_qkv", "train_t5xxl", "train_blocks", "factor", "use_tucker"}
)
"""Every GUI field that only feeds network_args."""

LAUNCH_FIELDS = {"num_processes": "num_processes", "num_machines": "num_machines", "multi_gpu": "multi_gpu",
                 "gpu_ids": "gpu_ids", "main_process_port": "main_process_port"}

LR_FIELDS = ("learning_rate", "text_encoder_lr", "unet_lr", "t5xxl_lr")
DATASET_FIELDS = ("train_data_dir", "reg_data_dir", "dataset_config")
NOISE_FIELDS = {"Original": ("noise_offset", "adaptive_noise_scale", "noise_offset_random_strength"),
                "Multires": ("multires_noise_iterations", "multires_noise_discount")}
SECRETS = ("wandb_api_key", "huggingface_token")


def looks_like(data: dict) -> bool:
    """True for a kohya_ss GUI config (its LoRA_type field, or enough of its own field names)."""
    if "LoRA_type" in data:
        return True
    own = {"max_resolution", "epoch", "lr_warmup", "optimizer", "sdxl", "xformers"}
    return len(own & set(data)) >= 4


def is_placeholder(value: Any) -> bool:
    """kohya_ss presets hold texts like 'put the full path to ae.sft here' where a path belongs."""
    if not isinstance(value, str):
        return False
    lowered = value.strip().lower()
    return lowered.startswith("put ") or lowered.endswith(" here") or "path to" in lowered


class _Reader:
    """One GUI file being read: the fields, which were used, and the draft they go into."""

    def __init__(self, data: dict, source: str, draft: Draft, base: Path) -> None:
        self.data = {k: v for k, v in data.items()}
        self.source, self.draft, self.base = source, draft, base
        self.used: set[str] = set()
        self.text_numbers: list[str] = []
        """Fields holding a number as text (kohya_ss parses them on load)."""
        self.family = "sd15"
        self.backend = "kohya"

    # -- reading fields -------------------------------------------------------------------------------------

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str) -> Any:
        """The field as in the file, else the GUI default (None when neither)."""
        return self.data.get(key, GUI_DEFAULTS.get(key))

    def get(self, key: str) -> Any:
        """The field as the GUI holds it after loading: strings of number fields parsed (update_my_data)."""
        self.used.add(key)
        value = self.raw(key)
        if isinstance(value, str) and (key in INT_FIELDS or key in LR_FIELDS or key in NUMERIC_TEXT):
            try:
                parsed = number(value, integer=key in INT_FIELDS)
            except BadValue:
                self.draft.drop(self.source, key, value, "invalid", f"{value!r} is not a number; kohya_ss reads it as 0")
                return 0
            if parsed is None:
                return LOAD_FALLBACK.get(key, 0)
            if value.strip() and key not in self.text_numbers:
                self.text_numbers.append(key)
            return parsed
        return value

    def note_default(self, key: str) -> str:
        return "" if self.has(key) else f"not in the file: the kohya_ss GUI default {GUI_DEFAULTS.get(key)!r}"

    def put(self, key: str, name: str, result: Any, note: str = "", verify: str = "trusted") -> None:
        """Field `key` -> option `name` (as a default when the file lacks the field)."""
        self.used.add(key)
        if self.has(key):
            self.draft.arg(self.source, key, self.data[key], name, result, note, verify=verify)
        else:
            extra = f"; {note}" if note else ""
            self.draft.arg_default(self.source, key, GUI_DEFAULTS.get(key), name, result,
                                   f"not in the file: the kohya_ss GUI default{extra}")

    def drop(self, key: str, why: str, note: str = "") -> None:
        self.used.add(key)
        if self.has(key):
            self.draft.drop(self.source, key, self.data[key], why, note)

    # -- the mapping ----------------------------------------------------------------------------------------

    def run(self) -> None:
        self.legacy()
        self.model()
        self.network()
        self.learning_rates()
        self.length()
        self.warmup()
        self.attention_and_noise()
        self.text_encoder_cache()
        self.misc()
        self.launch()
        self.dataset()
        self.prompts()
        self.passthrough()
        self.additional_parameters()
        self.rest()
        if self.text_numbers:
            self.draft.warn(f"{self.source}: {len(self.text_numbers)} number(s) stored as text, read as numbers as "
                            f"kohya_ss reads them: {', '.join(self.text_numbers)}")

    def legacy(self) -> None:
        """Old field names the GUI renames on load (update_my_data)."""
        if "lora_network_weights" in self.data:
            if "network_weights" not in self.data:
                self.data["network_weights"] = self.data["lora_network_weights"]
                note = "the old name of network_weights: read as that field"
            else:
                note = "the old name of network_weights, which the file also holds and which wins"
            self.drop("lora_network_weights", "replaced", note)
        self.used.add("lora_network_weights")
        if "optimizer" not in self.data:
            use_8bit = flag(self.data.get("use_8bit_adam", False)) if "use_8bit_adam" in self.data else False
            self.data["optimizer"] = "AdamW8bit" if use_8bit else "AdamW"
            self.draft.warn(f"{self.source}: no optimizer field: kohya_ss uses {self.data['optimizer']}"
                            + (" (use_8bit_adam)" if use_8bit else ""))
        if self.data.get("LoRA_type") == "LoCon":
            self.data["LoRA_type"] = "LyCORIS/LoCon"
            self.draft.warn(f"{self.source}: LoRA_type 'LoCon' is the old name of 'LyCORIS/LoCon'")
        xformers = self.data.get("xformers")
        if isinstance(xformers, bool):
            self.data["xformers"] = "xformers" if xformers else "none"
        if self.data.get("use_wandb") == "True" and not self.data.get("log_with"):
            self.data["log_with"] = "wandb"

    def model(self) -> None:
        family, key = "sd15", "sdxl"
        for field, name in KOHYA_GUI_CHECKBOXES:
            self.used.add(field)
            if field in self.data and _truthy(self.data[field]):
                family, key = name, field
                break
        for field, _ in KOHYA_GUI_CHECKBOXES:
            if field in self.data and field != key:
                self.drop(field, "empty" if not _truthy(self.data[field]) else "replaced",
                          "" if not _truthy(self.data[field]) else f"{key} is ticked too and comes first in kohya_ss")
        self.family = family
        value = self.data.get(key, False)
        self.draft.set_family(self.source, key if key in self.data else "(no model checkbox)", value, "kohya", family)
        model_type = str(self.data.get("model_type") or "")
        self.used.add("model_type")
        if family == "flux" and model_type.lower() == "chroma":
            self.put("model_type", "model_type", "chroma")
            self.draft.arg(self.source, "model_type", model_type, "apply_t5_attn_mask", True,
                           "Chroma needs the T5 attention mask (kohya_ss forces it)")
        elif "model_type" in self.data:
            self.drop("model_type", "gui-only", "only 'chroma' with the Flux.1 checkbox changes the script's model type")

    def network(self) -> None:
        lora_type = str(self.raw("LoRA_type"))
        self.used.add("LoRA_type")
        network_args: list[tuple[str, str, str]] = []  # (field, name, value text)
        used_fields: set[str] = set()
        module: str | None
        if lora_type in LYCORIS_ARGS:
            module = "lycoris.kohya"
            for name, field in LYCORIS_ARGS[lora_type]:
                if field.startswith("="):
                    network_args.append(("LoRA_type", name, field[1:]))
                    continue
                used_fields.add(field)
                network_args.append((field, name, kwarg_text(self.get(field))))
            self.draft.warn(f"{self.source}: LoRA_type {lora_type} trains with LyCORIS (network_module lycoris.kohya): "
                            "the lycoris-lora package must be installed in the trainer's venv; its settings are in "
                            "network_args")
        elif lora_type in KOHYA_NETWORKS or lora_type in NATIVE_LOHA_LOKR:
            module = KOHYA_NETWORKS[lora_type][0] if lora_type in KOHYA_NETWORKS else NATIVE_LOHA_LOKR[lora_type]
            if lora_type == "Standard" and self.family == "sd3":
                module = "networks.lora_sd3"
            if lora_type == "Standard" and self.family == "flux":
                module = "networks.lora_flux"
                self.draft.warn(f"{self.source}: LoRA_type Standard with the Flux.1 checkbox (kohya_ss refuses "
                                "this pair); imported as networks.lora_flux")
            if lora_type in NATIVE_LOHA_LOKR:
                network_args += self.native_loha_lokr(lora_type, used_fields)
                if self.family != "sdxl":
                    self.draft.warn(f"{self.source}: {lora_type} (sd-scripts' own {module}) supports SDXL only; "
                                    "kohya_ss refuses it for other models")
            else:
                for field in KOHYA_NETWORKS[lora_type][1]:
                    used_fields.add(field)
                    value = self.get(field)
                    if lora_type == "Kohya LoCon" and field in ("conv_dim", "conv_alpha"):
                        network_args.append((field, field, kwarg_text(value)))
                    elif not is_empty(value):
                        network_args.append((field, field, kwarg_text(value)))
                network_args += self.flux_network_args(lora_type, used_fields)
        else:
            module = None
            self.drop("LoRA_type", "unsupported", f"LoRA_type {lora_type!r} is not one loratui can import")
        network_args += self.loraplus(used_fields)
        produced = {field for field, _, _ in network_args}
        if module is not None:
            self.draft.arg(self.source, "LoRA_type", lora_type, "network_module", module)
            if network_args:
                texts = [f"{name}={text}" for _, name, text in network_args]
                unique = list(dict.fromkeys(texts))
                for field, name, text in network_args:
                    if field == "LoRA_type":
                        continue
                    if self.has(field):
                        self.draft.report.mapped(self.source, field, self.data[field], "args.network_args",
                                                 f"{name}={text}")
                    else:
                        self.draft.report.default(self.source, field, GUI_DEFAULTS.get(field), "args.network_args",
                                                  f"{name}={text}", "not in the file: the kohya_ss GUI default")
                self.draft.arg(self.source, "LoRA_type", lora_type, "network_args", unique,
                               "built from the LoRA type's fields as kohya_ss builds it")
        for field in sorted(NETWORK_FIELDS | used_fields):
            self.used.add(field)
            if field not in self.data or field in produced:
                continue
            if is_empty(self.data[field]):
                self.drop(field, "empty")
            elif field == "train_blocks":
                self.drop(field, "gui-only", "kohya_ss passes train_blocks only with split_mode (as 'single')")
            elif field in used_fields:
                self.drop(field, "default", "the network module's own default applies (kohya_ss passes only "
                                            "values that differ)")
            else:
                self.drop(field, "gui-only", f"kohya_ss does not use it for LoRA_type {lora_type!r}")

    def native_loha_lokr(self, lora_type: str, used: set[str]) -> list[tuple[str, str, str]]:
        """networks.loha / networks.lokr: only non-default optional values (kohya_ss lets sd-scripts detect the rest)."""
        result = []
        used.update(("conv_dim", "conv_alpha", "use_tucker", "factor", "rank_dropout", "module_dropout"))
        conv_dim = number(self.get("conv_dim")) or 0
        if conv_dim > 0:
            result.append(("conv_dim", "conv_dim", str(int(conv_dim))))
            result.append(("conv_alpha", "conv_alpha", kwarg_text(self.get("conv_alpha"))))
        if _truthy(self.get("use_tucker")):
            result.append(("use_tucker", "use_tucker", "True"))
        factor = number(self.get("factor"))
        if lora_type == "Kohya LoKr" and factor is not None and int(factor) != -1:
            result.append(("factor", "factor", str(int(factor))))
        for field in ("rank_dropout", "module_dropout"):
            value = number(self.get(field)) or 0
            if value > 0:
                result.append((field, field, kwarg_text(value)))
        return result

    def flux_network_args(self, lora_type: str, used: set[str]) -> list[tuple[str, str, str]]:
        if lora_type != "Flux1":
            return []
        result = []
        used.update(("train_lora_ggpo", "ggpo_beta", "ggpo_sigma", "split_qkv", "train_t5xxl", "train_blocks",
                     "rank_dropout", "module_dropout"))
        if _truthy(self.get("train_lora_ggpo")):
            for field in ("ggpo_beta", "ggpo_sigma"):
                value = self.get(field)
                if not is_empty(value):
                    result.append((field, field, kwarg_text(value)))
        if _truthy(self.data.get("split_mode")):
            result.append(("split_mode", "train_blocks", "single"))
        if _truthy(self.get("split_qkv")):
            result.append(("split_qkv", "split_qkv", "True"))
        if _truthy(self.get("train_t5xxl")):
            result.append(("train_t5xxl", "train_t5xxl", "True"))
        for field in ("rank_dropout", "module_dropout"):
            value = number(self.get(field)) or 0
            if value > 0:
                result.append((field, field, kwarg_text(value)))
        return result

    def loraplus(self, used: set[str]) -> list[tuple[str, str, str]]:
        result = []
        for field in ("loraplus_lr_ratio", "loraplus_unet_lr_ratio", "loraplus_text_encoder_lr_ratio"):
            used.add(field)
            value = self.data.get(field)
            if not is_empty(value):
                self.used.add(field)
                result.append((field, field, kwarg_text(value)))
        return result

    def learning_rates(self) -> None:
        lrs = {key: float(number(self.get(key)) or 0.0) for key in LR_FIELDS}
        main, te, unet, t5 = lrs["learning_rate"], lrs["text_encoder_lr"], lrs["unet_lr"], lrs["t5xxl_lr"]
        if main == 0 and te == 0 and unet == 0:
            self.draft.warn(f"{self.source}: every learning rate is 0 (kohya_ss refuses to start); sd-scripts' "
                            "default learning rate would be used")
        if main:
            self.put("learning_rate", "learning_rate", main)
        else:
            self.drop("learning_rate", "empty")
        if te == 0 and t5 > 0:
            self.drop("t5xxl_lr", "invalid", "kohya_ss refuses a T5XXL learning rate without a text encoder "
                                             "learning rate")
            t5 = 0
        if te > 0:
            pair = [te, t5] if t5 > 0 else [te, te]
            self.put("text_encoder_lr", "text_encoder_lr", pair,
                     "kohya_ss passes [text encoder, T5XXL] learning rates")
            if t5 > 0:
                self.draft.report.mapped(self.source, "t5xxl_lr", self.data.get("t5xxl_lr"), "args.text_encoder_lr",
                                         pair)
            else:
                self.drop("t5xxl_lr", "empty", "0: the T5XXL learning rate follows the text encoder's")
        else:
            self.drop("text_encoder_lr", "empty", "0: the text encoder is not trained (network_train_unet_only)")
            self.drop("t5xxl_lr", "empty")
        if unet:
            self.put("unet_lr", "unet_lr", unet)
        else:
            self.drop("unet_lr", "empty", "0: the U-Net is not trained (network_train_text_encoder_only)"
                      if te else "0: learning_rate is used")
        if te == 0 and unet != 0:
            self.draft.arg(self.source, "text_encoder_lr", self.data.get("text_encoder_lr", 0),
                           "network_train_unet_only", True, "a text encoder learning rate of 0 means U-Net only")
        elif te != 0 and unet == 0:
            self.draft.arg(self.source, "unet_lr", self.data.get("unet_lr", 0), "network_train_text_encoder_only",
                           True, "a U-Net learning rate of 0 means text encoder only")

    def length(self) -> None:
        """epoch / max_train_epochs / max_train_steps as kohya_ss meant them, counted by sd-scripts."""
        epochs = number(self.get("max_train_epochs"), integer=True) if self.has("max_train_epochs") else None
        steps = number(self.get("max_train_steps"), integer=True) if self.has("max_train_steps") else None
        epoch = number(self.get("epoch"), integer=True)
        src = self.source
        if epochs:
            self.put("max_train_epochs", "max_train_epochs", epochs)
            if steps:
                self.drop("max_train_steps", "replaced", "max_train_epochs overrides max_train_steps in sd-scripts")
            elif self.has("max_train_steps"):
                self.drop("max_train_steps", "empty")
            self.drop("epoch", "computed", "kohya_ss writes `epoch` where sd-scripts ignores it; max_train_epochs "
                                           "decides")
            return
        self.drop("max_train_epochs", "empty", "0 or empty: no epoch override")
        if steps:
            self.put("max_train_steps", "max_train_steps", steps)
            self.drop("epoch", "computed", "kohya_ss only uses epoch to fill max_train_steps when that is 0")
            return
        if self.has("max_train_steps"):
            self.drop("max_train_steps", "computed", "0 or empty: kohya_ss computes it from epoch; sd-scripts "
                                                     "counts the steps from max_train_epochs instead")
        epoch = epoch or 1
        note = ("kohya_ss turns epoch into max_train_steps by counting images per folder without buckets; "
                "sd-scripts counts the steps itself")
        if not self.has("max_train_steps"):
            note += ("; the file has no max_train_steps field (the GUI would keep what its form holds, 1600 "
                     "when fresh): the preset's epoch count is what it means")
        self.put("epoch", "max_train_epochs", epoch, note)
        self.draft.warn(f"{src}: epoch {epoch} -> max_train_epochs {epoch}: sd-scripts counts the steps from the "
                        "real buckets instead of kohya_ss's estimate")

    def warmup(self) -> None:
        steps = number(self.data.get("lr_warmup_steps")) if not isinstance(self.data.get("lr_warmup_steps"), bool) else 0
        self.used.update(("lr_warmup", "lr_warmup_steps"))
        percent = self.get("lr_warmup")
        try:
            percent = float(number(percent) or 0)
        except BadValue:
            percent = 0.0
        scheduler = str(self.raw("lr_scheduler") or "")
        if steps and steps > 0:
            value = int(steps)
            self.put("lr_warmup_steps", "lr_warmup_steps", value)
            if percent:
                self.drop("lr_warmup", "replaced", "lr_warmup_steps overrides the percentage in kohya_ss")
        elif percent:
            if "lr_warmup_steps" in self.data:
                self.drop("lr_warmup_steps", "empty", "0: the percentage is used")
            ratio = percent / 100
            if scheduler in optimizers.NO_WARMUP_SCHEDULERS:
                self.drop("lr_warmup", "invalid", f"lr_scheduler {scheduler} takes no warmup (sd-scripts refuses "
                                                  "one): left out")
                return
            self.put("lr_warmup", "lr_warmup_steps", ratio, f"{percent:g}% of the steps -> the ratio {ratio:g}")
            self.draft.warn(f"{self.source}: lr_warmup {percent:g}% became lr_warmup_steps = {ratio:g}, a ratio "
                            "sd-scripts applies to its own step count")
        else:
            self.drop("lr_warmup", "empty")
            if "lr_warmup_steps" in self.data:
                self.drop("lr_warmup_steps", "empty")

    def attention_and_noise(self) -> None:
        attention = str(self.raw("xformers") or "none")
        self.used.add("xformers")
        if attention in ("xformers", "sdpa"):
            self.put("xformers", attention, True, f"attention {attention!r}")
        else:
            self.drop("xformers", "empty", f"attention {attention!r}: sd-scripts' default")
        kind = str(self.raw("noise_offset_type") or "Original")
        self.used.add("noise_offset_type")
        for group, fields in NOISE_FIELDS.items():
            for field in fields:
                self.used.add(field)
                if field not in self.data:
                    continue
                value = self.get(field)
                if group != kind:
                    if not is_empty(value):
                        self.drop(field, "gui-only", f"noise_offset_type is {kind}: kohya_ss does not pass it")
                    else:
                        self.drop(field, "empty")
                    continue
                if field == "multires_noise_discount" and not is_empty(self.get("multires_noise_iterations")):
                    self.put(field, field, float(value))
                elif field == "multires_noise_discount":
                    self.drop(field, "empty", "multires_noise_iterations is 0: the discount does nothing")
                elif is_empty(value):
                    self.drop(field, "empty")
                elif field == "noise_offset_random_strength":
                    self.put(field, field, True)
                elif field == "multires_noise_iterations":
                    self.put(field, field, int(value))
                else:
                    self.put(field, field, float(value))
        if "noise_offset_type" in self.data:
            self.drop("noise_offset_type", "gui-only", GUI_ONLY["noise_offset_type"])

    def text_encoder_cache(self) -> None:
        for family, (cache, to_disk) in TE_CACHE_FIELDS.items():
            for field, name in ((cache, "cache_text_encoder_outputs"), (to_disk, "cache_text_encoder_outputs_to_disk")):
                if field is None:
                    continue
                self.used.add(field)
                if field not in self.data:
                    continue
                if family != self.family:
                    if _truthy(self.data[field]):
                        self.drop(field, "gui-only", f"a field of the {family} panel (the config trains {self.family})")
                    else:
                        self.drop(field, "empty")
                    continue
                if _truthy(self.data[field]):
                    self.put(field, name, True)
                else:
                    self.drop(field, "empty")

    def misc(self) -> None:
        if "seed" in self.data:
            seed = self.get("seed")
            self.put("seed", "seed", seed) if seed else self.drop("seed", "empty", "0: no fixed seed")
        if "lr_scheduler_num_cycles" in self.data:
            cycles = self.get("lr_scheduler_num_cycles") or 1
            self.put("lr_scheduler_num_cycles", "lr_scheduler_num_cycles", int(cycles))
        if "persistent_data_loader_workers" in self.data:
            self.used.add("persistent_data_loader_workers")
            if _truthy(self.data["persistent_data_loader_workers"]):
                self.put("persistent_data_loader_workers", "persistent_data_loader_workers", True)
            else:
                self.drop("persistent_data_loader_workers", "empty")
        if "max_data_loader_n_workers" in self.data:
            self.put("max_data_loader_n_workers", "max_data_loader_n_workers",
                     int(self.get("max_data_loader_n_workers") or 0), "kohya_ss always passes it")
        for field in ("optimizer_args", "lr_scheduler_args"):
            self.used.add(field)
            if field in self.data:
                items = split_args(self.data[field])
                if items:
                    self.put(field, field, items, "text split into 'key=value' items")
                else:
                    self.drop(field, "empty")
        if "optimizer" in self.data:
            name, notes = optimizers.sd_scripts_name(str(self.data["optimizer"]))
            self.put("optimizer", "optimizer_type", name)
            for note in notes:
                self.draft.warn(f"{self.source}: {note}")
        for key in SECRETS:
            self.drop(key, "secret", "set it in the environment (WANDB_API_KEY, HF_TOKEN) instead")
        if "wandb_run_name" in self.data:
            value = self.get("wandb_run_name")
            if value:
                self.put("wandb_run_name", "wandb_run_name", value)
            elif "wandb" in str(self.data.get("log_with", "")):
                self.put("wandb_run_name", "wandb_run_name", str(self.data.get("output_name") or ""),
                         "empty: kohya_ss names the run after output_name")
            else:
                self.drop("wandb_run_name", "empty")
        if "max_resolution" in self.data or "max_resolution" in GUI_DEFAULTS:
            self.put("max_resolution", "resolution", str(self.get("max_resolution")).replace(" ", ""))

    def launch(self) -> None:
        for field, name in LAUNCH_FIELDS.items():
            self.used.add(field)
            if field not in self.data:
                continue
            value = self.data[field]
            if name == "gpu_ids":
                if str(value).strip():
                    self.draft.launch_option(self.source, field, value, name, str(value).strip())
                else:
                    self.drop(field, "empty")
            elif name == "multi_gpu":
                if _truthy(value):
                    self.draft.launch_option(self.source, field, value, name, True)
                else:
                    self.drop(field, "empty")
            else:
                count = number(value, integer=True) or 0
                default = 1 if name in ("num_processes", "num_machines") else 0
                if count > default:
                    self.draft.launch_option(self.source, field, value, name, count)
                else:
                    self.drop(field, "default", "the launcher's default")
        self.used.add("extra_accelerate_launch_args")
        extra = self.data.get("extra_accelerate_launch_args")
        if extra:
            self.drop("extra_accelerate_launch_args", "unsupported",
                      "loratui's [launch] takes named options: set them there")
        else:
            self.drop("extra_accelerate_launch_args", "empty")

    def dataset(self) -> None:
        part = DatasetPart(self.source)
        for field in DATASET_FIELDS:
            self.used.add(field)
            value = self.data.get(field)
            if is_empty(value):
                if field in self.data:
                    self.drop(field, "empty")
                continue
            if is_placeholder(value) and not Path(str(value)).expanduser().exists():
                self.drop(field, "invalid", "placeholder text, not a folder")
                continue
            path = _path(value, self.base)
            if field == "dataset_config":
                self.draft.report.mapped(self.source, field, value, "dataset", str(path),
                                         "read as an sd-scripts dataset config")
                sdscripts.read_dataset_file(path, self.draft)
                continue
            part.roots.append(DatasetRoot(path, self.source, field, is_reg=field == "reg_data_dir"))
        if "caption_extension" in self.data:
            part.caption_extension = str(self.data["caption_extension"] or "") or None
        if part.roots:
            self.draft.datasets.append(part)

    def prompts(self) -> None:
        self.used.add("sample_prompts")
        text = self.data.get("sample_prompts")
        if not isinstance(text, str) or not text.strip():
            if "sample_prompts" in self.data:
                self.drop("sample_prompts", "empty")
            return
        prompts = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
        self.draft.prompts = prompts
        self.draft.report.mapped(self.source, "sample_prompts", text, "sample prompts", f"{len(prompts)} prompt(s)",
                                 "written to a prompt file next to the config")

    def passthrough(self) -> None:
        for key in sorted(self.data):
            if key in self.used:
                continue
            name = None
            if key in SAME_NAME:
                name = key
            for family, fields in FAMILY_FIELDS.items():
                if key in fields:
                    name = fields[key] if family == self.family else None
                    if family != self.family:
                        self.used.add(key)
                        if not is_empty(self.data[key]):
                            self.drop(key, "gui-only", f"a field of the {family} panel (the config trains "
                                                       f"{self.family})")
                        break
            if name is None:
                continue
            self.used.add(key)
            value = self.get(key)
            if is_empty(value):
                self.drop(key, "empty")
                continue
            if isinstance(value, str) and is_placeholder(value) and not Path(value).expanduser().exists():
                self.drop(key, "invalid", "placeholder text, not a path: fill it in")
                continue
            if key == "max_token_length" and value == 75:
                self.drop(key, "default", "75 is sd-scripts' own length (its option accepts only 150 or 225)")
                continue
            if key in ("clip_skip", "max_token_length") and self.family not in ("sd15", "sdxl", "flux", "sd3"):
                self.drop(key, "gui-only", f"kohya_ss does not pass it for {self.family}")
                continue
            if key == "max_token_length" and self.family == "flux":
                self.drop(key, "gui-only", "kohya_ss does not pass it for Flux.1")
                continue
            self.put(key, name, value)

    def additional_parameters(self) -> None:
        self.used.add("additional_parameters")
        text = self.data.get("additional_parameters")
        if not isinstance(text, str) or not text.strip():
            if "additional_parameters" in self.data:
                self.drop("additional_parameters", "empty")
            return
        self.draft.report.mapped(self.source, "additional_parameters", text, "args", "flags below",
                                 "kohya_ss appends them to the command line: read as trainer flags")

        cmdline.read_flags(text, f"{self.source} additional_parameters", self.draft)

    def rest(self) -> None:
        for key in sorted(self.data):
            if key in self.used:
                continue
            value = self.data[key]
            if key in GUI_ONLY and GUI_ONLY[key]:
                self.drop(key, "gui-only", GUI_ONLY[key])
            elif key.startswith(OTHER_PANEL_PREFIXES):
                if not is_empty(value):
                    self.drop(key, "gui-only", f"a field of another model's panel (the config trains {self.family})")
                else:
                    self.drop(key, "empty")
            elif is_empty(value):
                self.drop(key, "empty")
            else:
                self.draft.arg(self.source, key, value, key, value,
                               "not a kohya_ss field loratui knows: passed as the trainer option of that name",
                               verify=DROP)


NUMERIC_TEXT = frozenset({"adaptive_noise_scale", "noise_offset", "lr_scheduler_power", "min_snr_gamma",
                          "network_alpha", "network_dropout", "scale_weight_norms", "caption_dropout_rate",
                          "prior_loss_weight", "ip_noise_gamma", "max_grad_norm", "huber_c", "huber_scale",
                          "multires_noise_discount", "lr_warmup"})
"""Float fields that presets sometimes hold as text."""
LOAD_FALLBACK = {"lr_scheduler_num_cycles": 1, "lr_scheduler_power": 1.0, "max_token_length": 75}
"""What update_my_data() puts in place of an empty text."""


def _truthy(value: Any) -> bool:
    try:
        return flag(value)
    except BadValue:
        return bool(value)


def _path(value: Any, base: Path) -> Path:
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else (base / path)


def read(data: dict, source: str, draft: Draft, base: Path) -> None:
    """Map a kohya_ss GUI config (parsed JSON) into `draft`."""
    _Reader(data, source, draft, base).run()
