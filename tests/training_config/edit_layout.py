"""An edit-model dataset (targets, captions as instructions, control images) with every kind of bucket split.

The same layout was trained with the real musubi-tuner (Qwen-Image-Edit-2511 stand-ins, tests/fixtures/README.md):
its printed batch and step totals are in ``MUSUBI_PRINTED``, and the step calculator must give the same numbers.
"""

from __future__ import annotations

from pathlib import Path

# subset folder -> target name -> (width, height, caption or None); control folder -> control name -> (w, h)
TARGETS = {
    "3_edit": {"t0.png": (128, 128, "make the ball red"), "t1.png": (160, 96, "turn it left"),
               "t2.png": (96, 160, "add a hat"), "t3.png": (128, 128, "put the cup on the table"),
               "t4.png": (200, 100, "make it night"), "t5.png": (128, 128, None)},
    "2_ref": {"r0.png": (128, 128, "wear this shirt"), "r1.png": (128, 128, "hold this"),
              "r2.png": (144, 112, "combine both"), "r3.png": (112, 144, "paint it")},
    "1_res": {"q0.png": (128, 128, "sketch to photo"), "q1.png": (128, 96, "day to night"),
              "q2.png": (128, 128, "remove the logo")},
}
CONTROLS = {
    "3_edit/control": {"t0.png": (128, 128), "t1.png": (160, 96), "t2.png": (128, 128), "t3_0.png": (128, 128),
                       "t3_1.png": (64, 64), "t4.jpg": (200, 100), "t5.png": (128, 128), "zz.png": (64, 64)},
    "2_ref_control": {"r0.png": (160, 160), "r1.png": (64, 48), "r2_0.png": (80, 80), "r2_1.png": (200, 50),
                      "r3.png": (96, 96)},
    "controls_res": {"q0.png": (300, 200), "q1.png": (90, 160), "q2.png": (128, 128)},
}
"""3_edit/control and 2_ref_control are found by convention; controls_res is set with `dataset control`.
3_edit/control/zz.png matches no image (an extra); t2's control is square where t2 is tall (a mismatch)."""

REF_OPTIONS = {"no_resize": True, "resolution": (96, 96)}
RES_OPTIONS = {"resolution": (112, 112)}

TRAIN_ARGS = {"resolution": "128,128", "train_batch_size": 2, "max_train_epochs": 2,
              "gradient_accumulation_steps": 2, "model_version": "edit-2511"}
MUSUBI_PRINTED = {"num train items": 26, "num batches per epoch": 16, "num epochs": 2, "total optimization steps": 16}
"""What musubi-tuner 30c658c printed training this layout with TRAIN_ARGS (tests/fixtures/musubi-edit/train.out);
"num train items" counts repeats (t5 has no caption and is not trained)."""


async def register_edit_dataset(store, root: Path, name: str = "ds"):
    """Build the layout, register it, and set the control options of ``2_ref`` and ``1_res`` as in the real run."""
    from loratui.datasets import pair_service
    from loratui.datasets.service import add_dataset

    build_edit_dataset(root)
    dataset, _ = await add_dataset(store, root, name=name, workers=1)
    await pair_service.set_control(store, name, "2_ref", pair_service.ControlChange(
        no_resize=REF_OPTIONS["no_resize"], resolution=REF_OPTIONS["resolution"]), workers=1)
    await pair_service.set_control(store, name, "1_res", pair_service.ControlChange(
        folder="controls_res", resolution=RES_OPTIONS["resolution"]), workers=1)
    return dataset


def build_edit_dataset(root: Path) -> Path:
    """Write the layout under `root` (solid colours per file, so every image differs)."""
    from PIL import Image

    for index, (folder, files) in enumerate([*TARGETS.items(), *CONTROLS.items()]):
        for number, (name, spec) in enumerate(files.items()):
            path = root / folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", spec[:2], (40 * index % 256, 30 * number % 256, 200)).save(path)
            if len(spec) == 3 and spec[2] is not None:
                path.with_suffix(".txt").write_text(spec[2], encoding="utf-8")
    return root
