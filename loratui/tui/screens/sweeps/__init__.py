"""Checkpoint sweep screens (the grid, a cell full screen, keep and pick dialogs).

A subpackage of its own so that the app's screen discovery at start (``screens.discover_actions`` imports every
module of ``screens``) does not import them: they add ~50 ms and open only from the LoRA library, the training
monitor (``g``) and ``loratui lora grid FOLDER --open``.
"""
