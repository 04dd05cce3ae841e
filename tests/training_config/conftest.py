"""Fixtures: a stand-in sd-scripts checkout (setup_parser() like upstream), datasets, a context and a store."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

STAND_IN = textwrap.dedent('''
    """A stand-in for sd-scripts' train_network.py: same setup_parser() shape, no torch."""
    import argparse


    def int_or_float(value):
        if "." in value or "e" in value.lower():
            return float(value)
        return int(value)


    def setup_parser():
        parser = argparse.ArgumentParser()
        parser.add_argument("--pretrained_model_name_or_path", type=str, default=None, help="base model")
        parser.add_argument("--tokenizer_cache_dir", type=str, default=None, help="tokenizer cache")
        parser.add_argument("--output_dir", type=str, default=None, help="output folder")
        parser.add_argument("--output_name", type=str, default=None, help="output name")
        parser.add_argument("--resolution", type=str, default=None, help="resolution ('size' or 'width,height')")
        parser.add_argument("--enable_bucket", action="store_true", help="enable buckets")
        parser.add_argument("--min_bucket_reso", type=int, default=256, help="min bucket")
        parser.add_argument("--max_bucket_reso", type=int, default=1024, help="max bucket")
        parser.add_argument("--bucket_reso_steps", type=int, default=64, help="bucket steps")
        parser.add_argument("--bucket_no_upscale", action="store_true", help="no upscale")
        parser.add_argument("--caption_extension", type=str, default=".caption", help="caption extension")
        parser.add_argument("--shuffle_caption", action="store_true", help="shuffle tags")
        parser.add_argument("--cache_latents", action="store_true", help="cache latents")
        parser.add_argument("--color_aug", action="store_true", help="colour augmentation")
        parser.add_argument("--cache_text_encoder_outputs", action="store_true", help="cache TE outputs")
        parser.add_argument("--train_batch_size", type=int, default=1, help="batch size")
        parser.add_argument("--max_train_steps", type=int, default=1600, help="training steps")
        parser.add_argument("--max_train_epochs", type=int, default=None, help="training epochs")
        parser.add_argument("--gradient_accumulation_steps", type=int, default=1, help="accumulation")
        parser.add_argument("--mixed_precision", type=str, default="no", choices=["no", "fp16", "bf16"], help="mp")
        parser.add_argument("--learning_rate", type=float, default=2.0e-6, help="learning rate")
        parser.add_argument("--lr_warmup_steps", type=int_or_float, default=0, help="warmup")
        parser.add_argument("--optimizer_type", type=str, default="", help="optimizer")
        parser.add_argument("--optimizer_args", type=str, default=None, nargs="*", help="optimizer args")
        parser.add_argument("--network_module", type=str, default=None, help="network module")
        parser.add_argument("--network_dim", type=int, default=None, help="network rank")
        parser.add_argument("--network_alpha", type=float, default=1, help="LoRA alpha")
        parser.add_argument("--network_args", type=str, default=None, nargs="*", help="network args")
        parser.add_argument("--save_state", action="store_true", help="save state")
        parser.add_argument("--save_every_n_steps", type=int, default=None, help="save every N steps")
        parser.add_argument("--sample_every_n_steps", type=int, default=None, help="sample every N steps")
        parser.add_argument("--config_file", type=str, default=None, help="config file")
        parser.add_argument("--dataset_config", type=Path, default=None, help="dataset config")
        return parser


    from pathlib import Path

    if __name__ == "__main__":
        print(vars(setup_parser().parse_args()))
''')


MUSUBI_STAND_IN = textwrap.dedent('''
    """A stand-in for a musubi-tuner training script: like upstream, no setup_parser(); main() builds the parser
    from a common part and a family part and parses at once (loratui reads it by intercepting parse_args)."""
    import argparse


    def setup_parser_common():
        parser = argparse.ArgumentParser()
        parser.add_argument("--dataset_config", type=str, default=None, help="dataset config")
        parser.add_argument("--max_train_steps", type=int, default=1600, help="training steps")
        parser.add_argument("--max_train_epochs", type=int, default=None, help="training epochs")
        parser.add_argument("--gradient_accumulation_steps", type=int, default=1, help="accumulation")
        parser.add_argument("--mixed_precision", type=str, default="no", choices=["no", "fp16", "bf16"], help="mp")
        parser.add_argument("--learning_rate", type=float, default=2.0e-6, help="learning rate")
        parser.add_argument("--network_module", type=str, default=None, help="network module")
        parser.add_argument("--network_dim", type=int, default=None, help="network rank")
        parser.add_argument("--network_args", type=str, default=None, nargs="*", help="network args")
        parser.add_argument("--output_dir", type=str, default=None, help="output folder")
        parser.add_argument("--output_name", type=str, default=None, help="output name")
        parser.add_argument("--save_state", action="store_true", help="save state")
        parser.add_argument("--save_every_n_steps", type=int, default=None, help="save every N steps")
        parser.add_argument("--resume", type=str, default=None, help="state to resume from")
        return parser


    def family_setup_parser(parser):
        parser.add_argument("--dit", type=str, default=None, help="DiT")
        parser.add_argument("--vae", type=str, default=None, help="VAE")
        parser.add_argument("--text_encoder", type=str, default=None, help="text encoder")
        parser.add_argument("--model_version", type=str, default="original", help="variant")
        return parser


    def main():
        parser = setup_parser_common()
        parser = family_setup_parser(parser)
        args = parser.parse_args()
        print(vars(args))


    if __name__ == "__main__":
        main()
''')


@pytest.fixture
def trainer_dir(tmp_path) -> Path:
    """A fake sd-scripts checkout whose scripts define setup_parser() (sd15 and sdxl)."""
    root = tmp_path / "sd-scripts"
    (root / "library").mkdir(parents=True)
    (root / "train_network.py").write_text(STAND_IN, encoding="utf-8")
    (root / "sdxl_train_network.py").write_text(STAND_IN.replace("stand-in", "SDXL stand-in"), encoding="utf-8")
    return root


@pytest.fixture
def ctx(home):
    """A Context in the test home, with no trainer configured."""
    from loratui.config import Context

    return Context.load(home)


@pytest.fixture
def kohya_ctx(ctx, trainer_dir):
    """A Context whose kohya trainer is the stand-in, run by this interpreter."""
    ctx.settings.trainers.kohya_dir = str(trainer_dir)
    ctx.settings.trainers.kohya_python = sys.executable
    return ctx


@pytest.fixture
def musubi_ctx(ctx, trainer_dir, tmp_path):
    """A Context whose musubi-tuner is a stand-in checkout (qwen-image scripts shaped like musubi's: no
    setup_parser(), the model flags are --dit, --vae, --text_encoder)."""
    root = tmp_path / "musubi"
    scripts = root / "src" / "musubi_tuner"
    scripts.mkdir(parents=True)
    for name in ("qwen_image_train_network.py", "qwen_image_cache_latents.py",
                 "qwen_image_cache_text_encoder_outputs.py"):
        (scripts / name).write_text(MUSUBI_STAND_IN)
    ctx.settings.trainers.musubi_dir, ctx.settings.trainers.musubi_python = str(root), sys.executable
    return ctx


@pytest.fixture
async def store(ctx):
    """An open Store in the test home."""
    from loratui.store import Store

    async with Store.open(ctx.paths.db) as opened:
        yield opened


@pytest.fixture
def make_dataset(tmp_path, image_factory):
    """Create image folders: {"10_a": [(w, h), ...]}; captions for every image unless `uncaptioned`."""

    def build(layout: dict[str, list[tuple[int, int]]], name: str = "ds", uncaptioned: tuple = ()) -> Path:
        root = tmp_path / name
        for folder, sizes in layout.items():
            for index, size in enumerate(sizes):
                image = image_factory(root / folder / f"img_{index:03d}.png", size=size,
                                      color=(index * 7 % 255, 40, 90))
                if image.name not in uncaptioned:
                    image.with_suffix(".txt").write_text(f"tag{index}, thing", encoding="utf-8")
        return root

    return build


@pytest.fixture
def register(store):
    """Register and scan a folder as a dataset; returns the Dataset."""
    from loratui.datasets.service import add_dataset

    async def run(path: Path, name: str = "ds"):
        dataset, _ = await add_dataset(store, path, name=name, workers=1)
        return dataset

    return run


@pytest.fixture
def make_config(tmp_path):
    """Build a valid kohya sd15 config (the model file exists) for dataset 'ds'; keyword args override [args]."""
    return lambda **args: base_config(tmp_path, **args)


def base_config(tmp_path: Path, **args):
    from loratui.training.config import TrainConfig

    model = tmp_path / "model.safetensors"
    model.write_bytes(b"not a real model")
    values = {
        "pretrained_model_name_or_path": str(model),
        "output_dir": str(tmp_path / "out"),
        "output_name": "mylora",
        "network_module": "networks.lora",
        "network_dim": 8,
        "learning_rate": 1e-4,
        "resolution": "512,512",
        "max_train_epochs": 2,
    }
    values.update(args)
    return TrainConfig(backend="kohya", family="sd15", dataset="ds", args=values)
