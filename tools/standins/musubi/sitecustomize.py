"""Tiny stand-in models for musubi-tuner on a CPU: shrinks the model sizes musubi hard-codes, at import time.

Active only with ``LORATUI_MUSUBI_STANDINS=1`` and this folder on ``PYTHONPATH`` (Python imports the first
``sitecustomize`` on its path at start-up, in every process: the child that ``accelerate launch`` starts
too). Nothing in musubi-tuner's source is edited: an import hook runs after each target module has executed
and changes the numbers its model builders read, so musubi's own code builds every model from its config and
loads the stand-in weights with strict key matching.

Qwen-Image (every variant, edit included):
  * ``qwen_image_utils.Qwen2_5_VLConfig`` (the 7B config is a JSON literal inside ``load_qwen2_5_vl``): text and
    vision sizes shrunk; the vocabulary size and the special-token ids stay real.
  * ``AutoencoderKLQwenImage.__init__``: ``base_dim`` / ``num_res_blocks`` shrunk (16 latent channels and the
    8x spatial compression stay, so latent shapes are the real ones).
  * ``QwenImageTransformer2DModel.__init__``: 2 layers, 2x32 heads, text width = the stand-in text encoder's.
Z-Image:
  * ``zimage_config``: the DiT's width, depth, heads and caption width (``create_model`` reads them from there).
  * ``zimage_utils.Qwen3Config`` (the Qwen3-4B config is a JSON literal inside ``load_qwen3``): shrunk.
  * ``zimage_autoencoder.AutoencoderKL.__init__``: narrow blocks (4 of them: the 8x compression stays).
Tokenizers and the edit models' image processor are not patched: ``make_assets.py`` writes tiny ones into a
Hugging Face cache layout (``HF_HOME``, with ``HF_HUB_OFFLINE=1``).

Sizes can be changed with ``LORATUI_STANDIN_TE_HIDDEN`` (64), ``LORATUI_STANDIN_TE_LAYERS`` (2) and
``LORATUI_STANDIN_DIT_LAYERS`` (2); the assets must be made with the same values.
"""

import os
import sys

if os.environ.get("LORATUI_MUSUBI_STANDINS") == "1":
    import importlib.abc

    TE_HIDDEN = int(os.environ.get("LORATUI_STANDIN_TE_HIDDEN", "64"))
    TE_LAYERS = int(os.environ.get("LORATUI_STANDIN_TE_LAYERS", "2"))
    DIT_LAYERS = int(os.environ.get("LORATUI_STANDIN_DIT_LAYERS", "2"))

    QWEN_VL_TEXT = dict(
        hidden_size=TE_HIDDEN, intermediate_size=TE_HIDDEN * 2, num_hidden_layers=TE_LAYERS,
        max_window_layers=TE_LAYERS, num_attention_heads=4, num_key_value_heads=2,
        layer_types=["full_attention"] * TE_LAYERS, max_position_embeddings=4096,
        # head_dim TE_HIDDEN / 4 = 16: the multimodal rotary sections must add up to half of it (real: 16+24+24)
        rope_scaling={"mrope_section": [2, 3, 3], "rope_type": "default", "type": "default"},
    )
    QWEN_VL_VISION = dict(depth=2, fullatt_block_indexes=[1], hidden_size=32, intermediate_size=64, num_heads=2,
                          out_hidden_size=TE_HIDDEN)
    QWEN_DIT = dict(num_layers=DIT_LAYERS, attention_head_dim=32, num_attention_heads=2,
                    joint_attention_dim=TE_HIDDEN, axes_dims_rope=(8, 12, 12))  # rope axes add up to the head
    QWEN_VAE = dict(base_dim=8, num_res_blocks=1)

    QWEN3_TEXT = dict(hidden_size=TE_HIDDEN, intermediate_size=TE_HIDDEN * 2, num_hidden_layers=TE_LAYERS,
                      max_window_layers=TE_LAYERS, num_attention_heads=4, num_key_value_heads=2,
                      head_dim=TE_HIDDEN // 4, max_position_embeddings=4096)
    ZIMAGE_DIT = dict(DEFAULT_TRANSFORMER_DIM=64, DEFAULT_TRANSFORMER_N_LAYERS=DIT_LAYERS,
                      DEFAULT_TRANSFORMER_N_REFINER_LAYERS=1, DEFAULT_TRANSFORMER_N_HEADS=2,
                      DEFAULT_TRANSFORMER_N_KV_HEADS=2, DEFAULT_TRANSFORMER_CAP_FEAT_DIM=TE_HIDDEN,
                      ROPE_AXES_DIMS=[8, 12, 12])  # head 64 / 2 = 32 = 8 + 12 + 12
    ZIMAGE_VAE = dict(block_out_channels=(16, 16, 32, 32), layers_per_block=1, norm_num_groups=8)

    def _say(text):
        if os.environ.get("LORATUI_STANDIN_QUIET") != "1":
            print(f"[loratui-standin] {text}", file=sys.stderr, flush=True)

    def _wrap_init(cls, overrides, label):
        original = cls.__init__

        def __init__(self, *args, **kwargs):
            kwargs.update(overrides)
            _say(f"{label} shrunk: {overrides}")
            original(self, *args, **kwargs)

        cls.__init__ = __init__

    def _qwen_utils(module):
        config_cls = module.Qwen2_5_VLConfig

        def tiny_config(**config):
            config = dict(config)
            config.update(QWEN_VL_TEXT)
            config["text_config"] = {**config.get("text_config", {}), **QWEN_VL_TEXT}
            config["vision_config"] = {**config.get("vision_config", {}), **QWEN_VL_VISION}
            _say(f"Qwen2.5-VL shrunk: text {TE_HIDDEN}x{TE_LAYERS}, vision {QWEN_VL_VISION}")
            return config_cls(**config)

        module.Qwen2_5_VLConfig = tiny_config

    def _zimage_config(module):
        for name, value in ZIMAGE_DIT.items():
            setattr(module, name, value)
        _say(f"Z-Image DiT config shrunk: {ZIMAGE_DIT}")

    def _zimage_utils(module):
        config_cls = module.Qwen3Config

        def tiny_config(**config):
            config = {**config, **QWEN3_TEXT}
            _say(f"Qwen3 shrunk: {QWEN3_TEXT}")
            return config_cls(**config)

        module.Qwen3Config = tiny_config

    def _cpu_current_device(module):
        # The generate scripts import wan/modules/t5.py, whose T5EncoderModel has the default argument
        # device=torch.cuda.current_device(): evaluated at import, it fails on a CPU-only torch. Nothing else calls it.
        if not module.is_available():
            module.current_device = lambda: 0

    TARGETS = {
        "torch.cuda": _cpu_current_device,
        "musubi_tuner.qwen_image.qwen_image_utils": _qwen_utils,
        "musubi_tuner.qwen_image.qwen_image_autoencoder_kl":
            lambda m: _wrap_init(m.AutoencoderKLQwenImage, QWEN_VAE, "AutoencoderKLQwenImage"),
        "musubi_tuner.qwen_image.qwen_image_model":
            lambda m: _wrap_init(m.QwenImageTransformer2DModel, QWEN_DIT, "QwenImageTransformer2DModel"),
        "musubi_tuner.zimage.zimage_config": _zimage_config,
        "musubi_tuner.zimage.zimage_utils": _zimage_utils,
        "musubi_tuner.zimage.zimage_autoencoder": lambda m: _wrap_init(m.AutoencoderKL, ZIMAGE_VAE, "Z-Image VAE"),
    }

    class _StandinFinder(importlib.abc.MetaPathFinder):
        """Finds a target module with the other finders, then patches it right after it has executed."""

        def find_spec(self, name, path, target=None):
            patch = TARGETS.get(name)
            if patch is None:
                return None
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(name, path, target)
                if spec is not None:
                    break
            else:
                return None
            execute = spec.loader.exec_module

            def exec_module(module, _execute=execute, _patch=patch):
                _execute(module)
                _patch(module)

            spec.loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, _StandinFinder())
