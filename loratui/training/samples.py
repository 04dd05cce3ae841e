"""Sample prompts: from the training config to sd-scripts' prompt file and sampling flags.

A config may list its prompts inline instead of naming a prompt file::

    [args]
    sample_prompts = ["a photo of mychar, smiling --w 512 --h 512 --d 42", "mychar in a forest"]
    sample_every_n_steps = 200          # or sample_every_n_epochs = 1
    sample_sampler = "euler_a"

loratui writes them as ``sample_prompts.txt`` (one prompt per line; ``--w --h --d --s --l --n`` options after
the prompt, as sd-scripts reads them) into the job folder and plans with ``sample_prompts`` set to that file. The trainer
writes images to ``<output_dir>/sample``; the supervisor records each new one with the step that made it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from loratui.config import tomllib
from loratui.errors import ConfigError
from loratui.fsutil import atomic_write_text
from loratui.training.plan import TrainPlan

PROMPT_FILE = "sample_prompts.txt"


def prompt_file_text(prompts: Iterable[str]) -> str:
    """sd-scripts' prompt file: one prompt per line; blank and multi-line prompts are refused."""
    lines = []
    for number, prompt in enumerate(prompts, start=1):
        if not isinstance(prompt, str):
            raise ConfigError(f"sample prompt {number} must be text")
        text = prompt.strip()
        if not text:
            raise ConfigError(f"sample prompt {number} is empty")
        if "\n" in text or "\r" in text:
            raise ConfigError(f"sample prompt {number} has a line break (one prompt per line)")
        if text.startswith("#"):
            raise ConfigError(f"sample prompt {number} starts with '#', which sd-scripts skips as a comment")
        lines.append(text)
    if not lines:
        raise ConfigError("sample_prompts is an empty list")
    return "\n".join(lines) + "\n"


def write_inline_prompts(config_path: Path, workdir: Path) -> Path | None:
    """If the config lists its prompts inline, write them as the job's prompt file and return its path.

    The caller plans with ``sample_prompts`` overridden to that path (the config file itself is left alone).
    """
    try:
        data = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None  # the planner reports what is wrong with it
    args = data.get("args")
    if not isinstance(args, dict) or not isinstance(args.get("sample_prompts"), list):
        return None
    workdir.mkdir(parents=True, exist_ok=True)
    prompt_file = workdir / PROMPT_FILE
    atomic_write_text(prompt_file, prompt_file_text(args["sample_prompts"]))
    return prompt_file


def add_sampling(plan: TrainPlan, prompts: list[str], *, every_n_steps: int | None = None,
                 every_n_epochs: int | None = None, sampler: str | None = None) -> TrainPlan:
    """Add a prompt file and sampling flags to a plan's train phase (for hand-built plans)."""
    if not every_n_steps and not every_n_epochs:
        raise ConfigError("sampling needs sample_every_n_steps or sample_every_n_epochs")
    plan.files[PROMPT_FILE] = prompt_file_text(prompts)
    flags = ["--sample_prompts", str(Path(plan.workdir) / PROMPT_FILE)]
    if every_n_steps:
        flags += ["--sample_every_n_steps", str(int(every_n_steps))]
    if every_n_epochs:
        flags += ["--sample_every_n_epochs", str(int(every_n_epochs))]
    if sampler:
        flags += ["--sample_sampler", sampler]
    for phase in plan.phases:
        if phase.name == "train":
            phase.argv = [*phase.argv, *flags]
    return plan
