"""ai-toolkit configs (ostris/ai-toolkit ``config/*.yaml``: ``config.process[0]`` with model, network, train, save,
datasets and sample sections; ``toolkit/config_modules.py`` gives the defaults).

ai-toolkit trains with its own code; what has an sd-scripts/musubi counterpart maps: the model and its family,
LoRA rank/alpha (and conv), steps, learning rates, optimizer, scheduler, batch size, precision, noise offset,
save/sample intervals, the dataset folders and the sample prompts. The rest is reported as dropped.
"""

from __future__ import annotations

from pathlib import Path

from loratui.errors import ConfigError
from loratui.training.imports import optimizers
from loratui.training.imports.draft import DatasetPart, Draft, SourceSubset
from loratui.training.imports.models import AITOOLKIT_ARCHES, NETWORK_MODULES
from loratui.training.imports.values import BadValue, flag, is_empty, number, resolve

OLD_FLAGS = (("is_flux", "flux"), ("is_xl", "sdxl"), ("is_v3", "sd3"), ("is_v2", "sd2"), ("is_lumina2", "lumina2"))
"""ai-toolkit's model flags from before ``arch``."""
PRECISION = {"bf16": "bf16", "bfloat16": "bf16", "fp16": "fp16", "float16": "fp16", "fp32": "no", "float32": "no"}
SAVE_PRECISION = {"bf16": "bf16", "bfloat16": "bf16", "fp16": "fp16", "float16": "fp16", "fp32": "float",
                  "float32": "float"}
SCHEDULERS = {"constant", "cosine", "linear", "cosine_with_restarts", "constant_with_warmup", "polynomial"}
TRAIN_SAME = {"batch_size": ("train_batch_size", True), "gradient_accumulation_steps": ("gradient_accumulation_steps",
              True), "noise_offset": ("noise_offset", False), "min_snr_gamma": ("min_snr_gamma", False),
              "max_grad_norm": ("max_grad_norm", False), "steps": ("max_train_steps", True),
              "lr": ("learning_rate", False), "unet_lr": ("unet_lr", False)}
DATASET_SUBSET = {"shuffle_tokens": "shuffle_caption", "flip_x": "flip_aug", "keep_tokens": "keep_tokens",
                  "caption_dropout_rate": "caption_dropout_rate", "random_crop": "random_crop"}


def parse(text: str, path: Path) -> dict:
    """The YAML document (ConfigError when it is not an ai-toolkit config)."""
    import yaml  # noqa: PLC0415 - only YAML imports need it

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    process = (data or {}).get("config", {}).get("process") if isinstance(data, dict) else None
    if not isinstance(process, list) or not process or not isinstance(process[0], dict):
        raise ConfigError(f"{path}: not an ai-toolkit config (expected config.process)")
    return data


def read(data: dict, source: str, draft: Draft, base: Path) -> None:
    """Map an ai-toolkit config (parsed) into `draft`."""
    config = data["config"]
    process = config["process"][0]
    if len(config["process"]) > 1:
        draft.warn(f"{source}: {len(config['process'])} processes; only the first is imported")
    for key in sorted(k for k in data if k != "config"):
        draft.drop(source, key, data[key], "gui-only", "ai-toolkit's own job settings")
    kind = str(process.get("type", "sd_trainer"))
    if kind not in ("sd_trainer", "ui_trainer", "diffusion_trainer"):
        raise ConfigError(f"{source}: process type {kind}: only LoRA training processes import")
    model = process.get("model") or {}
    arch = _arch(model)
    if arch not in AITOOLKIT_ARCHES:
        raise ConfigError(f"{source}: model arch {arch!r} has no sd-scripts or musubi-tuner counterpart")
    backend, family, variant = AITOOLKIT_ARCHES[arch]
    draft.set_family(source, "model.arch", arch, backend, family)
    for name, value in variant.items():
        draft.arg(source, "model.arch", arch, name, value, f"what {arch} means in sd-scripts")
    _model(model, source, draft, backend, family)
    if config.get("name"):
        draft.arg(source, "config.name", config["name"], "output_name", str(config["name"]))
    if process.get("training_folder"):
        folder = resolve(process["training_folder"], base)
        draft.arg(source, "training_folder", process["training_folder"], "output_dir", str(folder))
    _network(process.get("network") or {}, source, draft, family)
    _train(process.get("train") or {}, source, draft, family)
    _save(process.get("save") or {}, source, draft)
    _datasets(process.get("datasets") or [], source, draft, base)
    _sample(process.get("sample") or {}, source, draft)
    handled = {"type", "model", "training_folder", "network", "train", "save", "datasets", "sample"}
    for key in sorted(set(process) - handled):
        draft.drop(source, key, process[key], "gui-only", "ai-toolkit's own setting")


def _arch(model: dict) -> str:
    arch = model.get("arch")
    if arch:
        arch = str(arch).split(":")[0]
        return "flux" if arch == "flex1" else arch
    for key, name in OLD_FLAGS:
        if model.get(key):
            return name
    return "sd1"


def _model(model: dict, source: str, draft: Draft, backend: str, family: str) -> None:
    for key, value in model.items():
        where = f"model.{key}"
        if key == "name_or_path" and value:
            draft.arg(source, where, value, "dit" if backend == "musubi" else "pretrained_model_name_or_path",
                      str(value))
        elif key == "quantize" and flag(value) and family in ("flux", "qwen-image"):
            draft.arg(source, where, value, "fp8_base", True, "ai-toolkit quantizes the model to 8 bits")
        elif key in ("arch",) or key.startswith("is_"):
            continue
        elif is_empty(value):
            draft.drop(source, where, value, "empty")
        else:
            draft.drop(source, where, value, "unsupported", "an ai-toolkit model setting with no sd-scripts counterpart")


def _network(network: dict, source: str, draft: Draft, family: str) -> None:
    kind = str(network.get("type", "lora")).lower()
    dim = network.get("linear", network.get("rank"))
    alpha = network.get("linear_alpha", network.get("alpha", 1.0))
    args: list[str] = []
    if kind in ("lora", "locon"):
        draft.arg(source, "network.type", kind, "network_module", NETWORK_MODULES.get(family, "networks.lora"))
        if network.get("conv") and family in ("sd15", "sdxl"):
            args += [f"conv_dim={int(network['conv'])}", f"conv_alpha={network.get('conv_alpha', network['conv'])}"]
    elif kind == "lokr" and family in ("sd15", "sdxl", "flux", "sd3"):
        draft.arg(source, "network.type", kind, "network_module", "lycoris.kohya")
        args += ["algo=lokr", f"factor={int(network.get('lokr_factor', -1))}"]
        if flag(network.get("lokr_full_rank", True)):
            args.append("full_matrix=True")
        draft.warn(f"{source}: LoKr trains with LyCORIS: the lycoris-lora package must be installed")
    else:
        draft.drop(source, "network.type", kind, "unsupported", "a network type loratui cannot set for this model")
    if dim is not None:
        draft.arg(source, "network.linear", dim, "network_dim", int(dim))
    if alpha is not None:
        draft.arg(source, "network.linear_alpha", alpha, "network_alpha", float(alpha))
    if args:
        draft.arg(source, "network", "{...}", "network_args", args, "conv / LoKr settings")
    for key in sorted(set(network) - {"type", "linear", "rank", "linear_alpha", "alpha", "conv", "conv_alpha",
                                      "lokr_factor", "lokr_full_rank"}):
        draft.drop(source, f"network.{key}", network[key], "unsupported", "no sd-scripts counterpart")


def _train(train: dict, source: str, draft: Draft, family: str) -> None:
    done = set()
    for key, (name, integer) in TRAIN_SAME.items():
        if key not in train:
            continue
        done.add(key)
        try:
            value = number(train[key], integer=integer)
        except BadValue as exc:
            draft.drop(source, f"train.{key}", train[key], "invalid", str(exc))
            continue
        if value in (None, 0) and key not in ("lr",):
            draft.drop(source, f"train.{key}", train[key], "empty")
            continue
        draft.arg(source, f"train.{key}", train[key], name, float(value) if not integer else value)
    if "steps" not in train:
        draft.arg_default(source, "train.steps", 1000, "max_train_steps", 1000, "ai-toolkit's default")
    if "lr" not in train:
        draft.arg_default(source, "train.lr", 1e-6, "learning_rate", 1e-6, "ai-toolkit's default")
    te = flag(train.get("train_text_encoder", False))
    done.update(("train_text_encoder", "text_encoder_lr", "train_unet"))
    if not te or family not in ("sd15", "sdxl"):
        draft.arg(source, "train.train_text_encoder", train.get("train_text_encoder", False),
                  "network_train_unet_only", True, "ai-toolkit trains the text encoder only when asked")
    elif train.get("text_encoder_lr"):
        draft.arg(source, "train.text_encoder_lr", train["text_encoder_lr"], "text_encoder_lr",
                  [float(train["text_encoder_lr"])])
    if "optimizer" in train:
        done.add("optimizer")
        name = optimizers.AITOOLKIT.get(str(train["optimizer"]).lower())
        if name:
            draft.arg(source, "train.optimizer", train["optimizer"], "optimizer_type", name)
            package = optimizers.package_for(name)
            if package:
                draft.warn(f"{source}: optimizer {name} needs the {package} package in the trainer's venv")
        else:
            draft.drop(source, "train.optimizer", train["optimizer"], "unsupported", "an optimizer sd-scripts lacks")
    params = train.get("optimizer_params") or {}
    done.add("optimizer_params")
    if params:
        draft.arg(source, "train.optimizer_params", params, "optimizer_args", [f"{k}={v}" for k, v in params.items()])
    if "lr_scheduler" in train:
        done.add("lr_scheduler")
        if str(train["lr_scheduler"]) in SCHEDULERS:
            draft.arg(source, "train.lr_scheduler", train["lr_scheduler"], "lr_scheduler", str(train["lr_scheduler"]))
        else:
            draft.drop(source, "train.lr_scheduler", train["lr_scheduler"], "unsupported", "no sd-scripts scheduler")
    else:
        draft.arg_default(source, "train.lr_scheduler", "constant", "lr_scheduler", "constant",
                          "ai-toolkit's default")
    if "dtype" in train:
        done.add("dtype")
        precision = PRECISION.get(str(train["dtype"]).lower())
        if precision:
            draft.arg(source, "train.dtype", train["dtype"], "mixed_precision", precision)
        else:
            draft.drop(source, "train.dtype", train["dtype"], "invalid", "not a precision sd-scripts knows")
    for key, name in (("gradient_checkpointing", "gradient_checkpointing"), ("xformers", "xformers"),
                      ("sdp", "sdpa")):
        if key in train:
            done.add(key)
            if flag(train[key]):
                draft.arg(source, f"train.{key}", train[key], name, True)
            else:
                draft.drop(source, f"train.{key}", train[key], "empty")
    for key in sorted(set(train) - done):
        draft.drop(source, f"train.{key}", train[key], "unsupported", "an ai-toolkit training setting with no "
                                                                      "sd-scripts counterpart")


def _save(save: dict, source: str, draft: Draft) -> None:
    for key, value in save.items():
        where = f"save.{key}"
        if key == "dtype" and str(value).lower() in SAVE_PRECISION:
            draft.arg(source, where, value, "save_precision", SAVE_PRECISION[str(value).lower()])
        elif key == "save_every" and number(value, integer=True):
            draft.arg(source, where, value, "save_every_n_steps", number(value, integer=True))
        elif key in ("push_to_hub", "hf_repo_id", "hf_private") and not is_empty(value):
            draft.drop(source, where, value, "unsupported", "set huggingface_repo_id in the config to upload")
        elif is_empty(value):
            draft.drop(source, where, value, "empty")
        else:
            draft.drop(source, where, value, "unsupported", "no sd-scripts counterpart")


def _datasets(datasets: list, source: str, draft: Draft, base: Path) -> None:
    part = DatasetPart(source)
    resolutions: list[int] = []
    for index, dataset in enumerate(datasets):
        if not isinstance(dataset, dict):
            continue
        key = f"datasets[{index}]"
        folder = dataset.get("folder_path")
        if not folder:
            draft.drop(source, key, dataset, "unsupported", "no folder_path (only image folders import)")
            continue
        subset = SourceSubset(resolve(folder, base), source, f"{key}.folder_path", num_repeats=1)
        subset.is_reg = bool(flag(dataset.get("is_reg", False)))
        ext = dataset.get("caption_ext", "txt")
        subset.caption_extension = ext if str(ext).startswith(".") else f".{ext}"
        for field, value in dataset.items():
            if field in DATASET_SUBSET and not is_empty(value):
                subset.options[DATASET_SUBSET[field]] = value
            elif field == "resolution":
                values = value if isinstance(value, list) else [value]
                resolutions += [int(v) for v in values if isinstance(v, (int, float))]
            elif field not in ("folder_path", "caption_ext", "is_reg") and not is_empty(value):
                subset.dropped[field] = "an ai-toolkit dataset setting with no sd-scripts counterpart"
        part.subsets.append(subset)
    if resolutions:
        size = max(resolutions)
        draft.arg(source, "datasets[].resolution", sorted(set(resolutions)), "resolution", f"{size},{size}",
                  "sd-scripts trains one resolution: the largest" if len(set(resolutions)) > 1 else "")
    if part.subsets:
        draft.datasets.append(part)


def _sample(sample: dict, source: str, draft: Draft) -> None:
    prompts = [str(p) for p in sample.get("prompts") or [] if str(p).strip()]
    if prompts:
        width, height = sample.get("width", 1024), sample.get("height", 1024)
        steps = sample.get("sample_steps", 20)
        draft.prompts = [f"{p} --w {width} --h {height} --s {steps}" for p in prompts]
        draft.report.mapped(source, "sample.prompts", prompts, "sample prompts", f"{len(prompts)} prompt(s)",
                            "written to a prompt file next to the config")
    if sample.get("sample_every"):
        draft.arg(source, "sample.sample_every", sample["sample_every"], "sample_every_n_steps",
                  int(sample["sample_every"]))
    for key in sorted(set(sample) - {"prompts", "sample_every"}):
        draft.drop(source, f"sample.{key}", sample[key], "gui-only", "written into each prompt or ai-toolkit's own")

