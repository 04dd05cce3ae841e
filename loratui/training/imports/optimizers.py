"""Optimizer and scheduler names: each source's spelling -> sd-scripts' ``optimizer_type`` / ``lr_scheduler``.

sd-scripts (library/train_util.py ``get_optimizer``) compares ``optimizer_type`` case-insensitively against its
own names and imports any dotted ``module.Class``; the packages below must then be installed in the trainer's
venv. musubi-tuner takes the same names.
"""

from __future__ import annotations

SD_SCRIPTS_OPTIMIZERS = (
    "AdamW", "AdamW8bit", "PagedAdamW", "PagedAdamW8bit", "PagedAdamW32bit", "Lion", "Lion8bit", "PagedLion8bit",
    "SGDNesterov", "SGDNesterov8bit", "DAdaptation", "DAdaptAdaGrad", "DAdaptAdam", "DAdaptAdan", "DAdaptAdanIP",
    "DAdaptLion", "DAdaptSGD", "DAdaptAdamPreprint", "Prodigy", "AdaFactor", "RAdamScheduleFree",
    "AdamWScheduleFree", "SGDScheduleFree",
)
"""The names sd-scripts knows without a module path (matched case-insensitively)."""

ALIASES = {"dadaptation": "DAdaptation is sd-scripts' old name of DAdaptAdamPreprint"}

PACKAGES = (
    ("dadapt", "dadaptation"), ("8bit", "bitsandbytes"), ("paged", "bitsandbytes"), ("lion", "lion-pytorch"),
    ("prodigyplus", "prodigy-plus-schedule-free"), ("prodigy", "prodigyopt"), ("schedulefree", "schedulefree"),
    ("pytorch_optimizer", "pytorch-optimizer"), ("bitsandbytes", "bitsandbytes"),
)
"""Substring of the lower-cased name -> the package it needs in the trainer's venv (first match wins)."""

ONETRAINER = {
    "ADAMW": "AdamW", "ADAMW_8BIT": "AdamW8bit", "ADAM": "torch.optim.Adam",
    "ADAM_8BIT": "bitsandbytes.optim.Adam8bit", "LION": "Lion", "LION_8BIT": "Lion8bit",
    "SGD": "torch.optim.SGD", "SGD_8BIT": "bitsandbytes.optim.SGD8bit", "ADAGRAD": "torch.optim.Adagrad",
    "ADAGRAD_8BIT": "bitsandbytes.optim.Adagrad8bit", "RMSPROP": "torch.optim.RMSprop",
    "RMSPROP_8BIT": "bitsandbytes.optim.RMSprop8bit", "DADAPT_ADAM": "DAdaptAdam",
    "DADAPT_ADA_GRAD": "DAdaptAdaGrad", "DADAPT_ADAN": "DAdaptAdan", "DADAPT_LION": "DAdaptLion",
    "DADAPT_SGD": "DAdaptSGD", "PRODIGY": "Prodigy", "PRODIGY_PLUS_SCHEDULE_FREE": "prodigyplus.ProdigyPlusScheduleFree",
    "ADAFACTOR": "AdaFactor", "SCHEDULE_FREE_ADAMW": "AdamWScheduleFree", "SCHEDULE_FREE_SGD": "SGDScheduleFree",
    "CAME": "pytorch_optimizer.CAME", "LAMB": "pytorch_optimizer.Lamb", "ADABELIEF": "pytorch_optimizer.AdaBelief",
}
"""OneTrainer ``optimizer.optimizer`` -> sd-scripts ``optimizer_type`` (OneTrainer-only optimizers are not here)."""

AITOOLKIT = {
    "adamw": "AdamW", "adamw8bit": "AdamW8bit", "adam": "torch.optim.Adam", "adam8bit": "bitsandbytes.optim.Adam8bit",
    "prodigy": "Prodigy", "adafactor": "AdaFactor", "lion": "Lion", "lion8bit": "Lion8bit", "sgd": "torch.optim.SGD",
    "dadaptation": "DAdaptAdam",
}
"""ai-toolkit ``train.optimizer`` (lower-cased) -> sd-scripts ``optimizer_type``."""

SD_SCRIPTS_SCHEDULERS = (
    "linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup", "adafactor",
    "piecewise_constant", "inverse_sqrt", "cosine_with_min_lr", "cosine_warmup_with_min_lr", "warmup_stable_decay",
)
NO_WARMUP_SCHEDULERS = ("constant", "adafactor")
"""Schedulers sd-scripts refuses a warmup for ('... does not require `num_warmup_steps`')."""

ONETRAINER_SCHEDULERS = {
    "CONSTANT": "constant", "LINEAR": "linear", "COSINE": "cosine", "COSINE_WITH_RESTARTS": "cosine_with_restarts",
    "COSINE_WITH_HARD_RESTARTS": "cosine_with_restarts", "ADAFACTOR": "adafactor",
}


def sd_scripts_name(name: str) -> tuple[str, list[str]]:
    """The canonical sd-scripts spelling of an optimizer name and notes about it (alias, package, unknown)."""
    text = str(name).strip()
    notes = []
    canonical = next((known for known in SD_SCRIPTS_OPTIMIZERS if known.lower() == text.lower()), None)
    if canonical is None and "." not in text:
        notes.append(f"optimizer {text!r} is not one sd-scripts knows (a full module.Class path also works)")
        canonical = text
    elif canonical is None:
        canonical = text
    elif canonical != text:
        notes.append(f"optimizer {text!r} written as sd-scripts spells it: {canonical!r}")
    if canonical.lower() in ALIASES:
        notes.append(ALIASES[canonical.lower()])
    package = package_for(canonical)
    if package:
        notes.append(f"optimizer {canonical} needs the {package} package in the trainer's venv")
    return canonical, notes


def package_for(optimizer: str) -> str | None:
    """The pip package an optimizer needs besides torch (None for torch's own)."""
    lowered = optimizer.lower()
    if lowered.startswith("torch.optim."):
        return None
    for part, package in PACKAGES:
        if part in lowered:
            return package
    if "." in optimizer:
        return optimizer.split(".", 1)[0]
    return None
