"""Model files: what a checkpoint, DiT, VAE, text encoder or LoRA file is, read from its header alone.

``identify.identify(path)`` reads a safetensors header (never a tensor, never a pickle) and names the model
family, variant and kind of file from the key names and shapes the trainers' model classes use (``catalog``: the
fingerprints, as data); LoRA files are matched against the module names of each family (``lora_target``).
``roles.check_model_roles(family, roles)`` says whether the files given to a training's options fit its family
and variant. (Nothing is re-exported here: ``loratui.models.identify`` must stay the module.)
"""
