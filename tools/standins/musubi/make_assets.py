"""Build tiny stand-in models, tokenizers and datasets for running the real musubi-tuner on a CPU.

Usage (with musubi-tuner's own Python)::

    python make_assets.py OUT

Writes, deterministically (seed 0):

* ``OUT/hf_home``: a Hugging Face cache (use ``HF_HOME=OUT/hf_home HF_HUB_OFFLINE=1``) holding what musubi
  fetches at run time: a byte-level ``Qwen2Tokenizer`` as ``Qwen/Qwen-Image`` (subfolder ``tokenizer``) and as
  ``Tongyi-MAI/Z-Image`` (subfolder ``tokenizer``, with a chat template), and a ``Qwen2VLProcessor`` as
  ``Qwen/Qwen-Image-Edit`` (subfolder ``processor``) for the edit models. The vocabulary is padded so that
  every special token has its real id (the vision model looks ``<|image_pad|>`` up by id 151655).
* ``OUT/models``: ``qwen_image_{dit,vae,text_encoder}.safetensors`` (one set serves Qwen-Image and all its edit
  variants: their files have the same layout) and ``zimage_{dit,vae,text_encoder}.safetensors``, random
  weights in the key layouts musubi's loaders read. They are built by musubi's own loaders (stopped where they
  would read weights), with ``sitecustomize.py`` of this folder shrinking the sizes.
* ``OUT/data``: ``shapes/`` (a loratui dataset: ``3_shapes`` and ``2_small`` with mixed aspect ratios, one image
  without a caption, one ``.webp``), ``edit/target`` + ``edit/control`` (edit pairs: one target has two
  controls, one a control of another size).

The script re-runs itself with the stand-in patch active when it is not (``LORATUI_MUSUBI_STANDINS=1`` and this
folder on ``PYTHONPATH``).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REVISION = "0" * 40

QWEN_SPECIALS = {
    151643: "<|endoftext|>", 151644: "<|im_start|>", 151645: "<|im_end|>", 151646: "<|object_ref_start|>",
    151647: "<|object_ref_end|>", 151648: "<|box_start|>", 151649: "<|box_end|>", 151650: "<|quad_start|>",
    151651: "<|quad_end|>", 151652: "<|vision_start|>", 151653: "<|vision_end|>", 151654: "<|vision_pad|>",
    151655: "<|image_pad|>", 151656: "<|video_pad|>", 151667: "<think>", 151668: "</think>",
}
TEMPLATE_WORDS = (
    "system user assistant Describe the image by detailing color shape size texture quantity text spatial "
    "relationships of objects and background key features input then explain how user's instruction should "
    "alter or modify Generate a new that meets requirements while maintaining consistency with original where "
    "appropriate Picture"
).split()
CHAT_TEMPLATE = (
    "{%- for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}{{ '<think>\\n\\n</think>\\n\\n' }}"
    "{%- endif %}{%- endif %}"
)
"""A short Qwen3-style chat template (Z-Image applies one to every prompt)."""


def _reexec_with_patch() -> None:
    if os.environ.get("LORATUI_MUSUBI_STANDINS") == "1":
        return
    env = dict(os.environ, LORATUI_MUSUBI_STANDINS="1")
    env["PYTHONPATH"] = str(HERE) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    os.execve(sys.executable, [sys.executable, *sys.argv], env)


# ------------------------------------------------------------------------------------------------ tokenizers
def _byte_alphabet() -> dict[int, str]:
    """GPT-2's byte -> printable character table (what byte-level BPE vocabularies are written in)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return {b: chr(c) for b, c in zip(printable, chars)}


def tokenizer_files() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """vocab.json and merges of a byte-level BPE that keeps the prompt templates' words whole, padded with
    unreachable entries up to the first special id."""
    alphabet = _byte_alphabet()
    vocab: dict[str, int] = {}
    for byte in range(256):
        vocab[alphabet[byte]] = len(vocab)
    merges: list[tuple[str, str]] = []
    words = []
    for word in TEMPLATE_WORDS:
        words.append(word)
        words.append("Ġ" + word)  # with its leading space
    for word in words:
        for cut in range(1, len(word)):
            pair = (word[:cut], word[cut])
            if pair not in merges:
                merges.append(pair)
            if word[:cut + 1] not in vocab:
                vocab[word[:cut + 1]] = len(vocab)
    first_special = min(QWEN_SPECIALS)
    for filler in range(len(vocab), first_special):
        vocab[f"<|standin_{filler}|>"] = filler
    return vocab, merges


def write_tokenizer(folder: Path, *, chat_template: bool = False) -> None:
    """A Qwen2Tokenizer (slow and fast agree: specials sit on their real ids)."""
    vocab, merges = tokenizer_files()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges),
                                       encoding="utf-8")
    config = {
        "add_prefix_space": False,
        "added_tokens_decoder": {str(i): {"content": t, "lstrip": False, "normalized": False, "rstrip": False,
                                          "single_word": False, "special": True} for i, t in QWEN_SPECIALS.items()},
        "additional_special_tokens": [t for i, t in QWEN_SPECIALS.items() if 151644 <= i <= 151656],
        "bos_token": None, "clean_up_tokenization_spaces": False, "eos_token": "<|im_end|>", "errors": "replace",
        "model_max_length": 131072, "pad_token": "<|endoftext|>", "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer", "unk_token": None,
    }
    if chat_template:
        config["chat_template"] = CHAT_TEMPLATE
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")


def hub_snapshot(hf_home: Path, repo: str) -> Path:
    """The snapshot folder of `repo` in a Hugging Face cache, its refs/main pointing at it."""
    base = hf_home / "hub" / ("models--" + repo.replace("/", "--"))
    (base / "refs").mkdir(parents=True, exist_ok=True)
    (base / "refs" / "main").write_text(REVISION)
    snapshot = base / "snapshots" / REVISION
    snapshot.mkdir(parents=True, exist_ok=True)
    return snapshot


def write_hub(hf_home: Path) -> None:
    """Everything musubi asks the Hub for (Qwen-Image, Qwen-Image-Edit, Z-Image)."""
    write_tokenizer(hub_snapshot(hf_home, "Qwen/Qwen-Image") / "tokenizer")
    processor = hub_snapshot(hf_home, "Qwen/Qwen-Image-Edit") / "processor"
    write_tokenizer(processor)
    (processor / "preprocessor_config.json").write_text(json.dumps({
        "image_processor_type": "Qwen2VLImageProcessor", "processor_class": "Qwen2VLProcessor",
        "do_resize": True, "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
        "do_convert_rgb": True, "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711], "min_pixels": 3136, "max_pixels": 65536,
        "patch_size": 14, "temporal_patch_size": 2, "merge_size": 2}, indent=1), encoding="utf-8")
    write_tokenizer(hub_snapshot(hf_home, "Tongyi-MAI/Z-Image") / "tokenizer", chat_template=True)


# ------------------------------------------------------------------------------------------------ models
class _Stop(BaseException):
    """Stops a musubi loader where it would read weights."""


def _stop(*_args, **_kwargs):
    raise _Stop()


@contextlib.contextmanager
def patched(module, **replacements):
    """Temporarily replace attributes of a module."""
    saved = {name: getattr(module, name) for name in replacements}
    for name, value in replacements.items():
        setattr(module, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(module, name, value)


def capture_from_config(module, class_name: str, loader, *args, stop_at: str, **kwargs):
    """Run `loader` until it reads weights; return the model it built with ``CLASS._from_config`` (for real,
    not on the meta device)."""
    real = getattr(module, class_name)
    built = {}

    class Capture:
        @staticmethod
        def _from_config(config, **kw):
            built["model"] = real._from_config(config, **kw)
            return built["model"]

    with patched(module, **{class_name: Capture, "init_empty_weights": contextlib.nullcontext, stop_at: _stop}):
        try:
            loader(*args, **kwargs)
        except _Stop:
            pass
    return built["model"]


def capture_constructed(module, class_name: str, loader, *args, stop_at: str, **kwargs):
    """Run `loader` until it reads weights; return the object it constructed from ``CLASS(...)``."""
    real = getattr(module, class_name)
    built = {}

    def construct(*a, **kw):
        built["model"] = real(*a, **kw)
        return built["model"]

    with patched(module, **{class_name: construct, stop_at: _stop}):
        try:
            loader(*args, **kwargs)
        except _Stop:
            pass
    return built["model"]


def save(state: dict, path: Path) -> None:
    """Save a state dict with finite values (uninitialised parameters can hold anything)."""
    import torch
    from safetensors.torch import save_file

    clean = {}
    for key, value in state.items():
        value = value.detach().contiguous()
        if value.is_floating_point():
            value = torch.nan_to_num(value, 0.0, 0.0, 0.0)
        clean[key] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(clean, str(path))
    count = sum(v.numel() for v in clean.values())
    print(f"{path.name}: {len(clean)} tensors, {count / 1e6:.2f}M parameters")


def write_qwen_image(models: Path) -> None:
    """Qwen-Image DiT, VAE and Qwen2.5-VL text encoder (the ComfyUI/original key layout musubi reads)."""
    import torch
    from musubi_tuner.qwen_image import qwen_image_model, qwen_image_utils

    te = capture_from_config(qwen_image_utils, "Qwen2_5_VLForConditionalGeneration",
                             qwen_image_utils.load_qwen2_5_vl, "unused", torch.bfloat16, "cpu",
                             stop_at="load_split_weights")
    state = {}
    for key, value in te.to(torch.bfloat16).state_dict().items():
        if key.startswith("model.language_model."):
            key = "model." + key[len("model.language_model."):]
        elif key.startswith("model.visual."):
            key = "visual." + key[len("model.visual."):]
        state[key] = value
    save(state, models / "qwen_image_text_encoder.safetensors")
    vae = capture_constructed(qwen_image_utils, "AutoencoderKLQwenImage", qwen_image_utils.load_vae, "unused",
                              input_channels=3, device="cpu", stop_at="load_safetensors")
    save(vae.state_dict(), models / "qwen_image_vae.safetensors")
    with patched(qwen_image_model, init_empty_weights=contextlib.nullcontext):
        dit = qwen_image_model.create_model("torch", False, False, False, False, torch.bfloat16, num_layers=None)
    save(dit.state_dict(), models / "qwen_image_dit.safetensors")


def write_zimage(models: Path) -> None:
    """Z-Image DiT, VAE and Qwen3 text encoder (official key names; lm_head is tied by musubi's loader)."""
    import torch
    from musubi_tuner.zimage import zimage_autoencoder, zimage_model, zimage_utils

    te = capture_from_config(zimage_utils, "Qwen3ForCausalLM", zimage_utils.load_qwen3, "unused", torch.bfloat16,
                             "cpu", stop_at="load_split_weights")
    state = {k: v for k, v in te.to(torch.bfloat16).state_dict().items() if k != "lm_head.weight"}
    save(state, models / "zimage_text_encoder.safetensors")
    vae = capture_constructed(zimage_autoencoder, "AutoencoderKL", zimage_autoencoder.load_autoencoder_kl, "unused",
                              device="cpu", stop_at="load_safetensors")
    save(vae.state_dict(), models / "zimage_vae.safetensors")
    with patched(zimage_model, init_empty_weights=contextlib.nullcontext):
        dit = zimage_model.create_model("torch", False, torch.bfloat16)
    save(dit.state_dict(), models / "zimage_dit.safetensors")


# ------------------------------------------------------------------------------------------------ data
COLORS = [(220, 40, 40), (40, 160, 60), (40, 80, 220), (230, 200, 40), (150, 60, 170), (240, 140, 30)]


def _picture(size, index, fmt_path: Path) -> None:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", size, (235, 235, 235))
    draw = ImageDraw.Draw(image)
    w, h = size
    box = (w // 5, h // 5, w - w // 5, h - h // 5)
    (draw.ellipse if index % 2 else draw.rectangle)(box, fill=COLORS[index % len(COLORS)])
    fmt_path.parent.mkdir(parents=True, exist_ok=True)
    image.save(fmt_path)


def write_data(data: Path) -> None:
    """The training images (see the module docstring)."""
    shapes = data / "shapes"
    layout = {
        "3_shapes": [("a0.png", (128, 128)), ("a1.png", (128, 128)), ("a2.png", (192, 128)), ("a3.png", (128, 192)),
                     ("a4.png", (100, 150)), ("a5.webp", (256, 64))],
        "2_small": [("b0.png", (64, 48)), ("b1.png", (200, 100)), ("b2.png", (96, 96))],
    }
    for folder, images in layout.items():
        for index, (name, size) in enumerate(images):
            _picture(size, index, shapes / folder / name)
            kind = "circle" if index % 2 else "square"
            (shapes / folder / name).with_suffix(".txt").write_text(f"a {kind}, {size[0]}x{size[1]}\n")
    _picture((128, 128), 5, shapes / "3_shapes" / "nocaption.png")  # musubi skips it: no caption file
    edit = data / "edit"
    targets = [("e0", (128, 128), [(128, 128)]), ("e1", (128, 128), [(160, 96)]),
               ("e2", (128, 128), [(128, 128), (96, 96)]), ("e3", (160, 96), [(160, 96)])]
    for index, (stem, size, controls) in enumerate(targets):
        _picture(size, index, edit / "target" / f"{stem}.png")
        (edit / "target" / f"{stem}.txt").write_text(f"make the shape {['red', 'green', 'blue', 'gold'][index]}\n")
        for number, control in enumerate(controls):
            name = f"{stem}.png" if len(controls) == 1 else f"{stem}_{number}.png"
            _picture(control, index + 1, edit / "control" / name)


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    _reexec_with_patch()
    out = Path(sys.argv[1]).resolve()
    import torch

    torch.manual_seed(0)
    write_hub(out / "hf_home")
    write_data(out / "data")
    write_qwen_image(out / "models")
    write_zimage(out / "models")
    print(f"stand-ins written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
