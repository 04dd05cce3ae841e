"""loratui: train LoRA image models from the terminal."""

__version__ = "0.1.0"
