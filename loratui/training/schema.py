"""Trainer option schemas: read from the installed trainer (cached per trainer version), or built in.

``introspect`` runs ``schema_dump.py`` in the trainer's own Python (argv list, small subprocess): the training
script runs as ``__main__`` until it parses its arguments, and every argparse action of that finished parser is
dumped. The schema drives validation, ``--set`` conversion, ``train options`` and the TUI form.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from loratui.errors import InputError, TrainingError
from loratui.fsutil import atomic_write_text
from loratui.tomlio import tomllib
from loratui.training.builtin_schema import builtin_rows
from loratui.training.families import families, get_family, role_options
from loratui.training.trainer import find_trainer

SECTIONS = ("basic", "network", "optimizer", "learning rate", "dataset", "saving", "sampling", "advanced")

_BASIC = {
    "pretrained_model_name_or_path", "output_dir", "output_name", "max_train_epochs", "max_train_steps",
    "train_batch_size", "mixed_precision", "seed", "vae", "tokenizer_cache_dir", "gradient_checkpointing",
    "gradient_accumulation_steps", "dit", "text_encoder", "clip_l", "clip_g", "t5xxl", "ae", "v2",
    "v_parameterization", "xformers", "sdpa", "cache_latents", "cache_latents_to_disk", "blocks_to_swap",
    "fp8_base", "fp8_scaled",
} | set(role_options()) | {fixed.option for family in families() for fixed in family.fixed_args}
"""Model files, variant flags and the memory switches every preset sets come first."""
_DATASET_WORDS = ("bucket", "caption", "resolution", "shuffle", "keep_tokens", "flip_aug", "color_aug",
                  "random_crop", "data_dir", "dataset", "token_warmup", "face_crop", "prior_loss", "alpha_mask",
                  "data_loader", "max_token_length")


def section_of(name: str) -> str:
    """The form section an option belongs to."""
    if name in _BASIC:
        return "basic"
    if name.startswith("network_") or name in ("dim_from_weights", "base_weights", "base_weights_multiplier",
                                                "scale_weight_norms"):
        return "network"
    if name.startswith("optimizer") or name in ("max_grad_norm", "fused_backward_pass"):
        return "optimizer"
    if name.endswith("_lr") or name.startswith("lr_") or name in ("learning_rate",):
        return "learning rate"
    if name.startswith("sample_"):
        return "sampling"
    if name.startswith("save_") or name in ("output_config", "resume", "skip_until_initial_step",
                                            "training_comment") or name.startswith("metadata_"):
        return "saving"
    if any(word in name for word in _DATASET_WORDS):
        return "dataset"
    return "advanced"


@dataclass
class Option:
    """One trainer option (an argparse action)."""

    name: str
    type: str = "str"
    """'bool' (a store_true flag), 'int', 'float', 'str', or the name of the trainer's own converter."""
    default: Any = None
    choices: list | None = None
    nargs: Any = None
    help: str = ""
    flag: str = ""
    action: str = "store"
    required: bool = False

    @property
    def is_list(self) -> bool:
        """True when the option takes several values (nargs '*', '+' or a count)."""
        return self.nargs in ("*", "+") or (isinstance(self.nargs, int) and self.nargs > 1)

    @property
    def short_help(self) -> str:
        """The help text without sd-scripts' Japanese translation (written after ' / ')."""
        english, sep, rest = self.help.partition(" / ")
        if sep and any(ord(ch) > 0x2E80 for ch in rest):
            return english.strip()
        return self.help

    @property
    def section(self) -> str:
        """Its form section."""
        return section_of(self.name)


@dataclass
class Schema:
    """The options of one trainer script."""

    backend: str
    family: str
    options: dict[str, Option] = field(default_factory=dict)
    source: str = "builtin"
    """'builtin', or 'trainer:<version key>' when read from an installed trainer."""

    def get(self, name: str) -> Option | None:
        """The option called `name`, or None."""
        return self.options.get(name)

    def search(self, word: str | None = None, section: str | None = None) -> list[Option]:
        """Options matching every word of `word` in their name or help (best matches first; see
        ``match_score``), optionally in one section; all options in schema order without a word."""
        found = []
        for index, option in enumerate(self.options.values()):
            if section and option.section != section:
                continue
            score = match_score(option, word) if word and word.strip() else 0
            if score is None:
                continue
            found.append((-score, index, option))
        return [option for _score, _index, option in sorted(found, key=lambda item: item[:2])]

    def to_json(self) -> str:
        """The schema as JSON (the cache format)."""
        return json.dumps({"backend": self.backend, "family": self.family, "source": self.source,
                           "options": [asdict(o) for o in self.options.values()]}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> "Schema":
        """Read a cached schema."""
        data = json.loads(text)
        options = {o["name"]: Option(**o) for o in data["options"]}
        return cls(data["backend"], data["family"], options, data.get("source", "builtin"))


ABBREVIATIONS = {
    "lr": ("learning rate",), "bs": ("batch size",), "te": ("text encoder",), "tenc": ("text encoder",),
    "unet": ("dit", "u-net"), "dit": ("unet", "u-net"), "ckpt": ("checkpoint",), "rank": ("network_dim",),
    "dim": ("network_dim",), "epochs": ("epoch",), "vram": ("blocks_to_swap", "fp8", "gradient_checkpointing"),
    "memory": ("blocks_to_swap", "fp8", "gradient_checkpointing"), "swap": ("blocks_to_swap",),
    "grad": ("gradient",), "accum": ("accumulation",), "ema": ("exponential moving average",),
    "res": ("resolution",), "warmup": ("warm up", "warmup"),
}
"""Words people type for options spelled otherwise (each expansion is matched like the word itself)."""


def _initials(name: str) -> str:
    return "".join(part[0] for part in name.split("_") if part)


def match_score(option: Option, query: str) -> int | None:
    """How well `option` matches every word of `query` (None: some word does not match).

    A word matches the name (``learning_rate`` also as "learning rate"), the name's initials (``lr`` for
    ``learning_rate``), an expansion in ``ABBREVIATIONS``, or the help text; name matches weigh more, and an
    exact name or initials match most.
    """
    name = option.name.lower()
    spaced = name.replace("_", " ")
    text = option.help.lower()
    total = 0
    for word in query.lower().replace("-", "_").split():
        spelled = word.replace("_", " ")
        best = None
        if word == name or word == _initials(name):
            best = 6
        elif word in name or spelled in spaced:
            best = 4 if name.startswith(word) else 3
        else:
            for expansion in ABBREVIATIONS.get(word, ()):
                if expansion in spaced or expansion.replace(" ", "_") in name:
                    best = 4
                    break
            if best is None and (spelled in text or any(e in text for e in ABBREVIATIONS.get(word, ()))):
                best = 1
        if best is None:
            return None
        total += best
    return total


def builtin_schema(backend: str, family: str) -> Schema:
    """The built-in schema (used when no trainer is installed): common options, plus the family's model-file
    options and variant flags from its record."""
    record = get_family(family)
    options = {}
    for name, kind, default, choices, nargs, text in builtin_rows(backend, record.scripts["train"]):
        options[name] = Option(name, kind, default, choices, nargs, text, "--" + name,
                               "store_true" if kind == "bool" else "store")
    for role in record.roles:
        options.setdefault(role.option, Option(role.option, "str", None, None, None, role.description, role.flag))
    for fixed in record.fixed_args:
        if fixed.option in options or "train" not in fixed.phases:
            continue
        if isinstance(fixed.value, bool):
            options[fixed.option] = Option(fixed.option, "bool", False, None, None, f"set by the {family} family",
                                           "--" + fixed.option, "store_true")
        else:
            kind = "int" if isinstance(fixed.value, int) else "str"
            options[fixed.option] = Option(fixed.option, kind, None, list(fixed.choices) or None, None,
                                           f"variant of the {family} family", "--" + fixed.option)
    return Schema(backend, family, options, "builtin")


def _option_from_dump(row: dict) -> Option:
    return Option(name=row["name"], type=row["type"], default=row.get("default"), choices=row.get("choices"),
                  nargs=row.get("nargs"), help=row.get("help", ""), flag=row.get("flag", ""),
                  action=row.get("action", "store"), required=bool(row.get("required", False)))


def introspect(python: str, script: Path, *, backend: str = "kohya", family: str = "sd15",
               version: str = "", timeout: float = 180, cwd: Path | None = None) -> Schema:
    """Run `script` in `python` up to its argument parsing and return every option of that parser."""
    dumper = Path(__file__).with_name("schema_dump.py")
    if not script.is_file():
        raise TrainingError(f"trainer script {script} does not exist")
    with tempfile.TemporaryDirectory(prefix="loratui-schema-") as tmp:
        out = Path(tmp) / "schema.json"
        try:
            proc = subprocess.run([python, str(dumper), str(script), str(out)], capture_output=True,
                                  text=True, timeout=timeout, cwd=str(cwd or script.parent), check=False,
                                  env=trainer_env())
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise TrainingError(f"could not read the options of {script.name}: {exc}") from None
        if proc.returncode != 0 or not out.exists():
            raise TrainingError(f"could not read the options of {script.name} with {python}: "
                                f"{last_line(proc.stderr or proc.stdout)}")
        data = json.loads(out.read_text(encoding="utf-8"))
    options = {row["name"]: _option_from_dump(row) for row in data["options"]}
    return Schema(backend, family, options, f"trainer:{version}" if version else "trainer")


def last_line(text: str) -> str:
    """The last non-empty line of a process's output (its error, usually)."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def trainer_env() -> dict[str, str]:
    """The environment trainer subprocesses that only read options run with (quiet, one thread)."""
    import os

    env = dict(os.environ)
    env.update({"PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3",
                "PYTHONDONTWRITEBYTECODE": "1"})
    return env


def load_schema(ctx, backend: str, family: str, *, refresh: bool = False, phase: str = "train") -> Schema:
    """The options of `family`'s `phase` script in the configured trainer (cached per trainer version and
    script), or the built-in schema when no trainer is configured.

    A trainer that is configured but cannot be introspected raises TrainingError: silently falling back would
    validate against the wrong options.
    """
    trainer = find_trainer(ctx, backend, required=False)
    if trainer is None:
        return builtin_schema(backend, family)
    script = trainer.script(family, phase)
    version = trainer.version_key()
    cache = ctx.paths.cache / "schemas" / f"{backend}-{script.stem}-{version}.json"
    if cache.exists() and not refresh:
        try:
            schema = Schema.from_json(cache.read_text(encoding="utf-8"))
            schema.family = family
            return schema
        except (ValueError, KeyError, TypeError):
            pass  # a damaged cache is rebuilt
    schema = introspect(trainer.python, script, backend=backend, family=family, version=version, cwd=trainer.root)
    cache.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(cache, schema.to_json())
    return schema


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def coerce_text(option: Option | None, text: str) -> Any:
    """Turn a `--set key=value` string into the value the option takes (InputError when it cannot)."""
    if option is None:
        try:
            return tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            return text
    if option.is_list:
        import shlex

        return [_coerce_scalar(option, part) for part in shlex.split(text)]
    return _coerce_scalar(option, text)


def _coerce_scalar(option: Option, text: str) -> Any:
    kind = option.type
    try:
        if kind == "bool":
            lowered = text.strip().lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError(text)
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
        if kind == "int_or_float":
            number = float(text)
            return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number
    except ValueError:
        wanted = {"int": "an integer", "float": "a number", "int_or_float": "a number", "bool": "true or false"}
        raise InputError(f"{option.name}: {text!r} is not {wanted.get(kind, kind)}") from None
    return text


def check_value(option: Option, value: Any) -> str | None:
    """Why `value` is not acceptable for `option` (None when it is)."""
    values = value if isinstance(value, list) else [value]
    if isinstance(value, list) and not option.is_list and option.name != "resolution":
        return "takes one value, not a list"
    if option.nargs == "+" and isinstance(value, list) and not value:
        return "needs at least one value"
    for item in values:
        problem = _check_scalar(option, item)
        if problem:
            return problem
    if option.choices is not None and not isinstance(value, list) and value not in option.choices:
        shown = ", ".join(str(c) for c in option.choices if c is not None)
        return f"{value!r} is not one of: {shown}"
    return None


def _check_scalar(option: Option, item: Any) -> str | None:
    kind = option.type
    if kind == "bool":
        return None if isinstance(item, bool) else f"must be true or false, got {item!r}"
    if kind == "int":
        return None if isinstance(item, int) and not isinstance(item, bool) else f"must be an integer, got {item!r}"
    if kind in ("float", "int_or_float"):
        ok = isinstance(item, (int, float)) and not isinstance(item, bool)
        return None if ok else f"must be a number, got {item!r}"
    if kind == "str" and option.name != "resolution" and not isinstance(item, str):
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            return None  # written as a string
        return f"must be text, got {item!r}"
    return None
