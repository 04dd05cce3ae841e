"""A stand-in sd-scripts checkout for loratui's tests.

``setup_parser()`` defines options the way sd-scripts does (loratui introspects it); running the script reads
``--config_file`` like sd-scripts and hands over to ../standin_trainer.py, which replays a recorded real log
(``LORATUI_TEST_REPLAY``, default 08_save_state) into the configured output folder.
"""

import argparse
import os
import sys
from pathlib import Path

STANDIN = Path(__file__).resolve().parents[1] / "standin_trainer.py"
TEXT = ("pretrained_model_name_or_path", "output_dir", "output_name", "network_module", "resolution", "config_file",
        "dataset_config", "sample_prompts", "resume", "caption_extension", "optimizer_type", "save_model_as",
        "mixed_precision", "tokenizer_cache_dir", "train_data_dir", "sample_sampler", "save_precision")
NUMBERS = ("train_batch_size", "max_train_steps", "max_train_epochs", "network_dim", "sample_every_n_steps",
           "sample_every_n_epochs", "save_every_n_steps", "seed", "max_data_loader_n_workers",
           "gradient_accumulation_steps")


def setup_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    for name in TEXT:
        parser.add_argument(f"--{name}", type=str, default=None)
    for name in NUMBERS:
        parser.add_argument(f"--{name}", type=int, default=None)
    parser.add_argument("--learning_rate", type=float, default=1e-4)
    parser.add_argument("--network_alpha", type=float, default=1)
    for flag in ("save_state", "skip_until_initial_step", "console_log_simple", "enable_bucket"):
        parser.add_argument(f"--{flag}", action="store_true")
    return parser


def main() -> None:
    args, _unknown = setup_parser().parse_known_args()
    conf = {}
    if args.config_file:
        import tomllib

        with open(args.config_file, "rb") as handle:
            data = tomllib.load(handle)
        for key, value in data.items():  # sd-scripts flattens one level of sections
            conf.update(value) if isinstance(value, dict) else conf.__setitem__(key, value)
    output_dir = conf.get("output_dir") or args.output_dir
    argv = [sys.executable, str(STANDIN), "--log", os.environ.get("LORATUI_TEST_REPLAY", "08_save_state"),
            "--output_dir", output_dir, "--output_name", conf.get("output_name") or "tinylora",
            "--step_delay", os.environ.get("LORATUI_TEST_STEP_DELAY", "0.02")]
    every = conf.get("sample_every_n_steps")
    if every and conf.get("sample_prompts") and os.path.isfile(conf["sample_prompts"]):
        argv += ["--samples_at", ",".join(str(s) for s in range(every, 7, every))]
    if args.resume:
        argv += ["--resume", args.resume]
    argv += os.environ.get("LORATUI_TEST_EXTRA", "").split()
    os.execv(sys.executable, argv)


if __name__ == "__main__":
    main()
