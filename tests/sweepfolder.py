"""Sweep folders for tests: a manifest (loratui.loras.sweep_manifest) + small generated PNGs, and tiny LoRA files
as the checkpoints."""

from __future__ import annotations

from pathlib import Path

from loratui.loras import sweep_manifest as sm

PROMPTS = ["a photo of mychar standing in a field of flowers, golden hour, detailed face, 35mm",
           "mychar <b>&amp; friends</b> at the beach"]
SEEDS = [1, 2]


def _colour(row: int, column: int) -> tuple[int, int, int]:
    return (40 + 50 * row) % 256, (90 + 70 * column) % 256, (200 - 30 * row) % 256


def write_png(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (48, 64)) -> Path:
    """A small PNG: a flat colour with a white square, so thumbnails differ visibly."""
    from PIL import Image, ImageDraw

    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", size, colour)
    ImageDraw.Draw(image).rectangle((size[0] // 4, size[1] // 4, size[0] // 2, size[1] // 2), fill=(255, 255, 255))
    image.save(path, "PNG")
    return path


def make_sweep(folder: Path, epochs=(2, 4, 6), *, strengths=(1.0,), missing=(), make_loras=True,
               chosen: str | None = None, run: Path | None = None) -> sm.SweepManifest:
    """A sweep of a baseline plus one row per epoch (x strength) over PROMPTS x SEEDS, every cell rendered except
    the (row key, column key) pairs in `missing`; the checkpoints are tiny real LoRA files in `run` (default
    ``folder/../run``)."""
    from tests.loras.conftest import make_lora

    run = run if run is not None else folder.parent / "run"
    rows = [sm.SweepRow(key=sm.BASELINE_KEY, label="no LoRA")]
    for epoch in epochs:
        lora = run / f"mychar-{epoch:06d}.safetensors"
        if make_loras and not lora.exists():
            make_lora(lora, seed=epoch)
        for strength in strengths:
            key = f"e{epoch}" + ("" if len(strengths) == 1 else f"-s{strength:g}")
            rows.append(sm.SweepRow(key=key, label=f"epoch {epoch}", lora=str(lora), strength=strength,
                                    epoch=epoch, step=epoch * 100))
    columns = [sm.SweepColumn(key=f"p{p}-s{seed}", prompt=prompt, seed=seed, prompt_index=p)
               for p, prompt in enumerate(PROMPTS) for seed in SEEDS]
    manifest = sm.SweepManifest(id="sweep-test", family="sd15", trainer="kohya", base_model="/models/sd15.safetensors",
                                rows=rows, columns=columns, job_id=None, created="2026-12-05T12:00:00",
                                chosen=chosen)
    sm.save(folder, manifest)
    for r, row in enumerate(rows):
        for c, column in enumerate(columns):
            if (row.key, column.key) not in missing:
                write_png(sm.cell_path(folder, row, column), _colour(r, c))
    return manifest
