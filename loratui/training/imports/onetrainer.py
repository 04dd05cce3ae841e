"""OneTrainer configs (the JSON its "export"/"save config" writes, ``modules/util/config/TrainConfig.py``).

OneTrainer trains with its own code, so only what has an sd-scripts/musubi counterpart maps: the model, LoRA
rank/alpha, learning rates per part, optimizer and scheduler, epochs, batch size, resolution, precision,
checkpointing, seed, noise offset, save interval and the concept folders. Everything else is reported as
dropped: OneTrainer's own setting with no counterpart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loratui.errors import ConfigError
from loratui.training.imports import optimizers
from loratui.training.imports.draft import DatasetPart, Draft, SourceSubset
from loratui.training.imports.models import NETWORK_MODULES, ONETRAINER_MODEL_TYPES
from loratui.training.imports.values import BadValue, flag, is_empty, number, resolve

PRECISION = {"FLOAT_16": "fp16", "BFLOAT_16": "bf16", "FLOAT_32": "no"}
SAVE_PRECISION = {"FLOAT_16": "fp16", "BFLOAT_16": "bf16", "FLOAT_32": "float"}
SAME = {"batch_size": "train_batch_size", "gradient_accumulation_steps": "gradient_accumulation_steps",
        "seed": "seed", "epochs": "max_train_epochs", "lora_rank": "network_dim", "lora_alpha": "network_alpha",
        "offset_noise_weight": "noise_offset", "learning_rate": "learning_rate"}
INTEGER = {"batch_size", "gradient_accumulation_steps", "seed", "epochs", "lora_rank"}
GUI_ONLY = {"__version", "workspace_dir", "cache_dir", "tensorboard", "tensorboard_expose", "tensorboard_port",
            "continue_last_backup", "include_train_config", "debug_mode", "debug_dir", "concept_file_name",
            "sample_definition_file_name", "samples", "sample_after", "sample_after_unit", "backup_after",
            "backup_after_unit", "rolling_backup", "rolling_backup_count", "backup_before_save", "latent_caching",
            "clear_cache_before_training", "validation", "validate_after", "validate_after_unit", "dataloader_threads",
            "train_device", "temp_device", "multi_gpu", "device_indexes", "save_filename_prefix", "only_cache",
            "secrets", "frames", "samples_to_tensorboard", "non_ema_sampling", "sample_image_format",
            "sample_video_format", "sample_audio_format", "cloud"}
"""OneTrainer's own runtime, UI and caching settings."""


def looks_like(data: dict) -> bool:
    """True for a OneTrainer config."""
    return "training_method" in data and "model_type" in data and ("concepts" in data or "optimizer" in data)


def read(data: dict, source: str, draft: Draft, base: Path) -> None:
    """Map a OneTrainer config into `draft`."""
    model_type = str(data.get("model_type", "STABLE_DIFFUSION_15"))
    if model_type not in ONETRAINER_MODEL_TYPES:
        raise ConfigError(f"{source}: OneTrainer model_type {model_type} has no sd-scripts or musubi-tuner counterpart")
    method = str(data.get("training_method", "FINE_TUNE"))
    if method != "LORA":
        raise ConfigError(f"{source}: training_method {method}: loratui trains LoRAs (OneTrainer's LORA method)")
    backend, family, variant = ONETRAINER_MODEL_TYPES[model_type]
    draft.set_family(source, "model_type", model_type, backend, family)
    draft.report.mapped(source, "training_method", method, "args.network_module", "LoRA")
    for name, value in variant.items():
        draft.arg(source, "model_type", model_type, name, value, f"what {model_type} means in sd-scripts")
    used = {"model_type", "training_method"}

    def take(key: str, name: str, value: Any, note: str = "") -> None:
        used.add(key)
        draft.arg(source, key, data[key], name, value, note)

    def skip(key: str, why: str, note: str = "") -> None:
        used.add(key)
        draft.drop(source, key, data[key], why, note)

    model_key = "dit" if backend == "musubi" else "pretrained_model_name_or_path"
    if data.get("base_model_name"):
        take("base_model_name", model_key, str(data["base_model_name"]))
    destination = data.get("output_model_destination")
    if destination:
        path = resolve(destination, base)
        take("output_model_destination", "output_dir", str(path.parent))
        draft.arg(source, "output_model_destination", destination, "output_name", path.stem)
    for key, name in SAME.items():
        if key not in data:
            continue
        value = data[key]
        if is_empty(value) and key != "learning_rate":
            skip(key, "empty")
            continue
        try:
            result = number(value, integer=key in INTEGER)
        except BadValue as exc:
            skip(key, "invalid", str(exc))
            continue
        if result is None:
            skip(key, "empty")
            continue
        take(key, name, result)
    _parts(data, source, draft, used, family)
    _optimizer(data, source, draft, used)
    _schedule(data, source, draft, used)
    if "resolution" in data:
        text = str(data["resolution"]).lower().replace("x", ",").replace(" ", "")
        take("resolution", "resolution", text if "," in text else f"{text},{text}")
    for key, table, name in (("train_dtype", PRECISION, "mixed_precision"),
                             ("output_dtype", SAVE_PRECISION, "save_precision")):
        if key in data:
            value = str(data[key])
            if value in table:
                take(key, name, table[value])
            else:
                skip(key, "unsupported", f"{value} has no sd-scripts counterpart")
    if "gradient_checkpointing" in data:
        value = data["gradient_checkpointing"]
        if value in ("OFF", False, None):
            skip("gradient_checkpointing", "empty")
        else:
            take("gradient_checkpointing", "gradient_checkpointing", True)
    if "text_encoder_layer_skip" in data and family in ("sd15", "sdxl"):
        skip_layers = int(number(data["text_encoder_layer_skip"], integer=True) or 0)
        if skip_layers:
            take("text_encoder_layer_skip", "clip_skip", skip_layers + 1, "OneTrainer skips N layers = clip_skip N+1")
        else:
            skip("text_encoder_layer_skip", "empty")
    if "peft_type" in data:
        peft = str(data["peft_type"])
        if peft == "LORA":
            take("peft_type", "network_module", NETWORK_MODULES.get(family, "networks.lora"))
        elif peft == "LOHA" and backend == "kohya":
            take("peft_type", "network_module", "lycoris.kohya")
            draft.arg(source, "peft_type", peft, "network_args", ["algo=loha"], "LoHa through LyCORIS")
            draft.warn(f"{source}: LoHa trains with LyCORIS: the lycoris-lora package must be installed")
        else:
            skip("peft_type", "unsupported", f"{peft} has no sd-scripts counterpart loratui can set")
    if "save_every" in data:
        every = number(data.get("save_every"), integer=True) or 0
        unit = str(data.get("save_every_unit", "NEVER"))
        used.add("save_every_unit")
        if every and unit in ("EPOCH", "STEP"):
            take("save_every", "save_every_n_epochs" if unit == "EPOCH" else "save_every_n_steps", every)
        else:
            skip("save_every", "unsupported" if every else "empty",
                 f"save_every_unit {unit}: sd-scripts saves by epochs or steps only" if every else "")
    _concepts(data, source, draft, used, base)
    for key in sorted(data):
        if key in used:
            continue
        value = data[key]
        if key in GUI_ONLY:
            draft.drop(source, key, value, "secret" if key == "secrets" else "gui-only",
                       "never written into a config" if key == "secrets" else "OneTrainer's own setting")
        elif is_empty(value):
            draft.drop(source, key, value, "empty")
        else:
            draft.drop(source, key, value, "unsupported", "a OneTrainer setting with no sd-scripts counterpart")


def _parts(data: dict, source: str, draft: Draft, used: set[str], family: str) -> None:
    """unet/transformer/prior and text_encoder: train flags and learning rates."""
    diffusion = next((k for k in ("unet", "transformer", "prior") if isinstance(data.get(k), dict)
                      and family_part(k, family)), None)
    encoder = data.get("text_encoder") if isinstance(data.get("text_encoder"), dict) else None
    for key in ("unet", "transformer", "prior", "text_encoder", "text_encoder_2", "text_encoder_3", "vae",
                "text_encoder_4"):
        if key in data and key not in (diffusion, "text_encoder"):
            used.add(key)
            draft.drop(source, key, "{...}", "gui-only", "a model part this family does not have, or OneTrainer's "
                                                        "own loading settings")
    if diffusion:
        used.add(diffusion)
        part = data[diffusion]
        lr = number(part.get("learning_rate"))
        if lr:
            draft.arg(source, f"{diffusion}.learning_rate", lr, "unet_lr", float(lr))
        else:
            draft.report.mapped(source, f"{diffusion}.learning_rate", part.get("learning_rate"), "args.unet_lr",
                                None, "empty: learning_rate applies")
    if encoder is not None:
        used.add("text_encoder")
        trains = flag(encoder.get("train", True))
        lr = number(encoder.get("learning_rate"))
        if not trains or family not in ("sd15", "sdxl"):
            draft.arg(source, "text_encoder.train", encoder.get("train"), "network_train_unet_only", True,
                      "the text encoder is not trained")
        elif lr:
            draft.arg(source, "text_encoder.learning_rate", lr, "text_encoder_lr", [float(lr)])


def family_part(key: str, family: str) -> bool:
    """Whether OneTrainer's part `key` is the diffusion model of `family`."""
    return key == ("unet" if family in ("sd15", "sdxl") else "transformer")


def _optimizer(data: dict, source: str, draft: Draft, used: set[str]) -> None:
    section = data.get("optimizer")
    if not isinstance(section, dict):
        return
    used.add("optimizer")
    name = str(section.get("optimizer", "ADAMW"))
    mapped = optimizers.ONETRAINER.get(name)
    if mapped is None:
        draft.drop(source, "optimizer.optimizer", name, "unsupported", "an optimizer sd-scripts cannot load: "
                                                                       "AdamW is sd-scripts' default")
        return
    canonical, notes = optimizers.sd_scripts_name(mapped) if "." not in mapped else (mapped, [])
    draft.arg(source, "optimizer.optimizer", name, "optimizer_type", canonical)
    for note in notes:
        draft.warn(f"{source}: {note}")
    keys = ("weight_decay", "eps", "d_coef", "decouple", "use_bias_correction", "safeguard_warmup",
            "relative_step", "scale_parameter", "warmup_init")
    extra = [f"{k}={section[k]}" for k in keys if section.get(k) not in (None, False)]
    if section.get("beta1") is not None and section.get("beta2") is not None:
        extra.append(f"betas={section['beta1']},{section['beta2']}")
    if extra:
        draft.arg(source, "optimizer", "{...}", "optimizer_args", extra, "the optimizer's settings OneTrainer set")


def _schedule(data: dict, source: str, draft: Draft, used: set[str]) -> None:
    if "learning_rate_scheduler" in data:
        used.add("learning_rate_scheduler")
        name = str(data["learning_rate_scheduler"])
        mapped = optimizers.ONETRAINER_SCHEDULERS.get(name)
        if mapped:
            draft.arg(source, "learning_rate_scheduler", name, "lr_scheduler", mapped)
        else:
            draft.drop(source, "learning_rate_scheduler", name, "unsupported", "no sd-scripts scheduler of that kind")
            mapped = None
        steps = number(data.get("learning_rate_warmup_steps")) or 0
        used.add("learning_rate_warmup_steps")
        if steps and mapped not in optimizers.NO_WARMUP_SCHEDULERS:
            value = int(steps) if steps >= 1 else float(steps)
            draft.arg(source, "learning_rate_warmup_steps", data["learning_rate_warmup_steps"], "lr_warmup_steps",
                      value)
        elif "learning_rate_warmup_steps" in data:
            draft.drop(source, "learning_rate_warmup_steps", data["learning_rate_warmup_steps"],
                       "empty" if not steps else "invalid",
                       "" if not steps else f"lr_scheduler {mapped} takes no warmup in sd-scripts")
    cycles = number(data.get("learning_rate_cycles")) if "learning_rate_cycles" in data else None
    if cycles is not None:
        used.add("learning_rate_cycles")
        if cycles > 1:
            draft.arg(source, "learning_rate_cycles", cycles, "lr_scheduler_num_cycles", int(cycles))
        else:
            draft.drop(source, "learning_rate_cycles", cycles, "default", "one cycle: sd-scripts' default")


def _concepts(data: dict, source: str, draft: Draft, used: set[str], base: Path) -> None:
    concepts = data.get("concepts")
    if not isinstance(concepts, list):
        return
    used.add("concepts")
    part = DatasetPart(source)
    for index, concept in enumerate(concepts):
        if not isinstance(concept, dict) or not concept.get("path"):
            continue
        key = f"concepts[{index}]"
        if not flag(concept.get("enabled", True)):
            draft.drop(source, key, concept.get("path"), "empty", "a disabled concept")
            continue
        subset = SourceSubset(resolve(concept["path"], base), source, key)
        repeats = number(concept.get("repeats", 1.0)) or 1
        subset.num_repeats = max(1, round(repeats))
        if repeats != subset.num_repeats:
            subset.dropped["repeats"] = f"{repeats} repeats rounded to {subset.num_repeats} (sd-scripts repeats whole)"
        if str(concept.get("concept_type", "STANDARD")) == "PRIOR_PREDICTION":
            subset.is_reg = True
        part.subsets.append(subset)
    if part.subsets:
        draft.datasets.append(part)
