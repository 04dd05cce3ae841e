"""Render the real app on demo data to SVG screenshots in screenshots/ (PNG too where rsvg-convert exists).

    python scripts/screenshots.py [--out screenshots]

Each shot runs the app headless (Textual's test driver, the same rendering as a terminal) in a throwaway home
with the `loratui demo` dataset, drives it with keys, and saves the screen.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


async def settle(pilot, app, rounds: int = 60) -> None:
    """Wait for the dataset to open and the workers (loading, preview decoding) to finish."""
    quiet = 0
    for _ in range(rounds):
        await pilot.pause(0.05)
        main = app.main_screen
        ready = (main is not None and main.target is not None and not main.load_pending
                 and all(w.is_finished for w in app.workers))
        quiet = quiet + 1 if ready else 0
        if quiet >= 3:
            return


async def shoot(ctx, name: str, size: tuple[int, int], keys: list[str], out: Path, *, type_text: str = "",
                open_screen=None) -> Path:
    from loratui.tui.app import LoratuiApp

    app = LoratuiApp(ctx, "demo", open_screen)
    async with app.run_test(size=size) as pilot:
        await settle(pilot, app)
        for key in keys:
            await pilot.press(key)
            await settle(pilot, app)
        if type_text:
            await pilot.press(*type_text)
            await settle(pilot, app)
        await pilot.pause(0.3)
        path = out / f"{name}.svg"
        path.write_text(app.export_screenshot(title=f"loratui — {name}"), encoding="utf-8")
        # Leave without saving anything typed for the picture.
        if app.main_screen is not None and app.main_screen.loaded is not None:
            app.main_screen.editor.load_text(app.main_screen.loaded.text)
    return path


def make_demo_sweep(ctx, folder: Path) -> Path:
    """A checkpoint sweep folder for the grid's screenshots, its cells made from the demo images: each later epoch
    a little more saturated and contrasted, the last ones posterized, as an over-trained LoRA tends to look."""
    from PIL import Image, ImageEnhance, ImageOps

    from loratui.loras import sweep_manifest as sm

    found = sorted(ctx.paths.demo.rglob("*.png"))
    sources = [found[0], found[len(found) // 2], found[-1]]
    prompts = ["mychar standing in a field of flowers, golden hour", "mychar at night in a neon city street",
               "close-up portrait of mychar, soft light"]
    rows = [sm.SweepRow(key=sm.BASELINE_KEY, label="no LoRA")]
    rows += [sm.SweepRow(key=f"e{epoch}", label=f"epoch {epoch}", lora=str(folder.parent / f"mychar-{epoch:06d}"
                                                                                      ".safetensors"),
                         strength=1.0, epoch=epoch, step=epoch * 150) for epoch in (2, 4, 6, 8, 10)]
    columns = [sm.SweepColumn(key=f"p{p}-s{seed}", prompt=prompt, seed=seed, prompt_index=p)
               for p, prompt in enumerate(prompts) for seed in (1, 2)]
    manifest = sm.SweepManifest(id="mychar-v3", family="sdxl", trainer="kohya", base_model="sdxl-base.safetensors",
                                rows=rows, columns=columns, chosen="e6")
    sm.save(folder, manifest)
    for r, row in enumerate(rows):
        for c, column in enumerate(columns):
            if (r, c) == (5, 5):
                continue  # still rendering
            with Image.open(sources[column.prompt_index % len(sources)]) as image:
                cell = image.convert("RGB").resize((256, 256))
            if column.seed == 2:
                cell = ImageOps.mirror(cell)
            cell = ImageEnhance.Color(cell).enhance(0.4 + 0.3 * r)
            cell = ImageEnhance.Contrast(cell).enhance(0.8 + 0.12 * r)
            if r >= 4:
                cell = ImageOps.posterize(cell, 7 - r)
            path = sm.cell_path(folder, row, column)
            path.parent.mkdir(parents=True, exist_ok=True)
            cell.save(path)
    return folder


def seed_training_sweep(ctx) -> int:
    """A finished training sweep of three runs for the comparison's screenshots: saved configs and 1,200 steps
    of loss each (a noisy decay; the highest learning rate falls fastest and then rises again, over-trained)."""
    import math
    import random

    from loratui.jobs import repo as job_repo
    from loratui.jobs.model import JobStatus
    from loratui.store.db import connect
    from loratui.training.run import sweep_repo

    runs = [("mychar-lr1e-4-dim16", 1e-4, 16), ("mychar-lr1e-4-dim32", 1e-4, 32), ("mychar-lr5e-5-dim16", 5e-5, 16)]
    noise = random.Random(7)
    conn = connect(ctx.paths.db)
    try:
        recorded = []
        for index, (name, lr, dim) in enumerate(runs):
            job = job_repo.create_job(conn, "train", title=name, status=JobStatus.COMPLETED)
            folder = ctx.paths.job_dir(job.id)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "loratui_config.toml").write_text(
                f'backend = "kohya"\nfamily = "sdxl"\ndataset = "demo"\n\n[args]\nlearning_rate = {lr}\n'
                f'network_dim = {dim}\nnetwork_alpha = {dim // 2}\noutput_name = "{name}"\nmax_train_epochs = 10\n',
                encoding="utf-8")
            job_repo.update_job(conn, job.id, workdir=str(folder), started_at=1_700_000_000.0,
                                finished_at=1_700_000_000.0 + 2400 + 300 * index)
            speed = (1.6, 1.9, 0.9)[index]
            metrics = {}
            for step in range(1, 1201):
                x = step / 1200
                loss = 0.06 + 0.09 * math.exp(-3 * speed * x) + (0.03 * x * x if index < 2 else 0.0)
                metrics[step] = (1 + (step - 1) // 120, loss + noise.gauss(0, 0.012), 0.0)
            job_repo.record_progress(conn, job.id, {"step": 1200, "total_steps": 1200, "epoch": 10, "epochs": 10},
                                     metrics=metrics)
            recorded.append(sweep_repo.SweepRun(job.id, name.removeprefix("mychar-"),
                                                {"learning_rate": lr, "network_dim": dim}))
        return sweep_repo.create_sweep(conn, "mychar", "configs/mychar.toml",
                                       [("learning_rate", ["1e-4", "5e-5"]), ("network_dim", ["16", "32"])],
                                       recorded)
    finally:
        conn.close()


def to_png(svg: Path) -> Path | None:
    """Convert with rsvg-convert (spaces preserved so aligned columns stay aligned)."""
    if shutil.which("rsvg-convert") is None:
        return None
    fixed = svg.with_suffix(".tmp.svg")
    fixed.write_text(svg.read_text(encoding="utf-8").replace("<svg ", '<svg xml:space="preserve" ', 1),
                     encoding="utf-8")
    png = svg.with_suffix(".png")
    try:
        subprocess.run(["rsvg-convert", str(fixed), "-o", str(png)], check=True, timeout=60)
    finally:
        fixed.unlink(missing_ok=True)
    return png


async def main_async(out: Path) -> list[Path]:
    from loratui.config import Context
    from loratui.demo import create_demo
    from loratui.store import Store

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="loratui-shots-") as tmp:
        ctx = Context.load(Path(tmp) / "home")
        async with Store.open(ctx.paths.db) as store:
            await create_demo(store, ctx.paths.demo, workers=1)
        shots = [
            await shoot(ctx, "main-160x48", (160, 48), ["j", "j"], out),
            await shoot(ctx, "main-80x24", (80, 24), ["j", "j"], out),
            await shoot(ctx, "editing-120x36", (120, 36), ["j", "j", "j", "e"], out, type_text=", hor"),
            await shoot(ctx, "filter-120x36", (120, 36), ["slash", *"night", "enter"], out),
            await shoot(ctx, "help-80x24", (80, 24), ["question_mark"], out),
            await shoot(ctx, "training-80x24", (80, 24), ["C"], out),
            await shoot(ctx, "duplicates-80x24", (80, 24), ["D", "down"], out),
            await shoot(ctx, "tagfreq-80x24", (80, 24), ["F"], out),
        ]
        from loratui.tui.screens.sweeps.grid import SweepGridScreen

        sweep = make_demo_sweep(ctx, Path(tmp) / "output" / "sweeps" / "mychar-v3")

        def grid(app):
            return SweepGridScreen(sweep, graphics="halfblock")

        shots += [
            await shoot(ctx, "sweep-grid-80x24", (80, 24), ["down", "down", "right"], out, open_screen=grid),
            await shoot(ctx, "sweep-grid-160x48", (160, 48), ["down", "down", "down"], out, open_screen=grid),
            await shoot(ctx, "sweep-cell-80x24", (80, 24), ["down", "down", "down", "enter"], out, open_screen=grid),
        ]
        from loratui.tui.screens.compare import CompareScreen

        sweep_id = seed_training_sweep(ctx)

        def compare(app):
            return CompareScreen(app.store, ctx, sweep_id=sweep_id)

        shots += [
            await shoot(ctx, "compare-80x24", (80, 24), ["s", "s", "s"], out, open_screen=compare),
            await shoot(ctx, "compare-160x48", (160, 48), ["s", "s", "s"], out, open_screen=compare),
        ]
    return shots


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(REPO / "screenshots"))
    args = parser.parse_args()
    for svg in asyncio.run(main_async(Path(args.out))):
        png = to_png(svg)
        print(svg.relative_to(REPO) if svg.is_relative_to(REPO) else svg, "+ png" if png else "")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
