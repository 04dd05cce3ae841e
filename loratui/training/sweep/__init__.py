"""Checkpoint sweeps: render the same prompts and seeds through every checkpoint of a training.

``launch`` creates the sweep folder (``loras.sweep_manifest``) and its ``sweep`` job, which waits in the training
queue and runs in the detached supervisor; the job's one phase is ``render``, which runs the family's inference
script once per row (``argv``) and moves each image to its cell. ``source`` finds what to render, ``build``
expands rows and columns, ``prompts`` reads and writes prompt files, ``sweep_repo`` records sweeps and prompt sets.
"""
