"""The render process of a sweep job: ``python -m loratui.training.sweep.render --home H FOLDER``.

The supervisor of the sweep job runs it as the job's one phase, in its own process group, its output appended to
the job's log. For each row with a missing cell it writes the row's prompt file (only the missing cells), runs
the family's inference script once (one model load per row) into ``FOLDER/.render/<row>/``, then moves each
finished image to its cell path with an atomic rename. Rows whose cells all exist are skipped, so a resumed
sweep renders only what is missing. Progress is printed as a tqdm-shaped ``sweep cells`` bar the supervisor's
log parser turns into the job's progress. A script that fails (or is cancelled) keeps the images it finished,
and this process exits with its exit code after an ``ERROR:`` line naming the row.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from loratui.errors import LoratuiError
from loratui.loras import sweep_manifest
from loratui.loras.sweep_manifest import SweepColumn, SweepManifest, SweepRow, cell_path
from loratui.training.sweep.argv import RenderSpec, row_argv
from loratui.training.sweep.prompts import SweepPrompt, cell_line

BAR = "sweep cells"
"""The description of the progress bar this process prints (the supervisor follows only this bar)."""
WORK_DIR = ".render"
POLL_S = 0.5
_MUSUBI_NAME = re.compile(r"^\d{8}-\d{6}-\d{3}_(?P<seed>-?\d+)_[^/]*\.png$")
"""musubi-tuner's image names: ``<YYYYmmdd-HHMMSS-mmm>_<seed>_..._000.png`` (30c658c writes ``..._<seed>__000.png``)."""


class Progress:
    """Prints the ``sweep cells`` bar: done / total, elapsed, remaining, rate."""

    def __init__(self, total: int, done: int) -> None:
        self.total = total
        self.done = done
        self.first = done
        self.started = time.monotonic()
        self.shown: int | None = None

    def show(self, done: int | None = None) -> None:
        """Print the bar when the count changed."""
        if done is not None:
            self.done = done
        if self.done == self.shown:
            return
        self.shown = self.done
        elapsed = time.monotonic() - self.started
        made = self.done - self.first
        rate = made / elapsed if elapsed > 0 and made else 0.0
        left = (self.total - self.done) / rate if rate else 0.0
        pct = int(100 * self.done / self.total) if self.total else 100
        bar = "#" * (pct // 10)
        print(f"{BAR}: {pct:3d}%|{bar:<10}| {self.done}/{self.total} [{_clock(elapsed)}<{_clock(left)}, "
              f"{rate:.2f}it/s]", flush=True)


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


def _prompt(spec: RenderSpec, column: SweepColumn) -> SweepPrompt:
    if 0 <= column.prompt_index < len(spec.prompts):
        return SweepPrompt(**spec.prompts[column.prompt_index])
    return SweepPrompt(column.prompt, column.negative)


def prompt_file_text(spec: RenderSpec, columns: list[SweepColumn]) -> str:
    """The inference script's prompt file for some cells of a row: one line each, in column order."""
    lines = []
    for column in columns:
        prompt = _prompt(spec, column)
        lines.append(cell_line(spec.style, column.prompt, column.negative, column.seed, prompt.width or spec.width,
                               prompt.height or spec.height, prompt.steps or spec.steps,
                               prompt.scale if prompt.scale is not None else spec.scale, f"{column.key}.png"))
    return "\n".join(lines) + "\n"


def _decodes(path: Path) -> bool:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
        return True
    except (OSError, UnidentifiedImageError, ValueError):
        return False


def rendered_images(spec: RenderSpec, workdir: Path, columns: list[SweepColumn]) -> list[tuple[SweepColumn, Path]]:
    """The finished images of a row run, each with its column (those that are missing or broken left out)."""
    if spec.style == "gen_img":
        found = [(column, workdir / f"{column.key}.png") for column in columns]
        return [(c, p) for c, p in found if p.is_file()]
    # musubi-tuner names images <time>_<seed>_..._000.png and saves them in prompt order: the order maps them, the
    # seed in the name checks the mapping.
    names = sorted(n for n in os.listdir(workdir) if _MUSUBI_NAME.match(n)) if workdir.is_dir() else []
    out = []
    for column, name in zip(columns, names):
        if int(_MUSUBI_NAME.match(name)["seed"]) != column.seed:
            print(f"ERROR:loratui.sweep:{name} does not have the seed of cell {column.key}; "
                  "its images are left in the render folder", flush=True)
            break
        out.append((column, workdir / name))
    return out


def collect(folder: Path, spec: RenderSpec, row: SweepRow, workdir: Path, columns: list[SweepColumn]) -> int:
    """Move a row run's finished images to their cells (atomic renames); returns how many were moved."""
    moved = 0
    for column, image in rendered_images(spec, workdir, columns):
        if not _decodes(image):
            continue
        target = cell_path(folder, row, column)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(image, target)
        moved += 1
    return moved


def render_row(folder: Path, spec: RenderSpec, row: SweepRow, columns: list[SweepColumn], progress: Progress) -> int:
    """Render some cells of one row with one run of the inference script; returns its exit code."""
    workdir = folder / WORK_DIR / row.key
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    prompt_file = workdir / "prompts.txt"
    prompt_file.write_text(prompt_file_text(spec, columns), encoding="utf-8")
    argv = row_argv(spec, row, prompt_file, workdir)
    print(f"sweep: row {row.key} ({row.label}): {len(columns)} image(s)", flush=True)
    env = dict(os.environ, **spec.env, PYTHONUNBUFFERED="1")
    base = progress.done
    proc = None
    try:
        proc = subprocess.Popen(argv, cwd=spec.cwd or None, env=env, stdin=subprocess.DEVNULL)
        while proc.poll() is None:
            time.sleep(POLL_S)
            ready = sum(1 for n in os.listdir(workdir) if n.endswith(".png"))
            progress.show(base + min(max(ready - 1, 0), len(columns)))  # the newest may still be written
        code = proc.returncode
    except OSError as exc:
        print(f"ERROR:loratui.sweep:cannot start {argv[1]}: {exc}", flush=True)
        return 127
    finally:
        if proc is not None and proc.poll() is None:  # interrupted ourselves: let the script stop first
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        moved = collect(folder, spec, row, workdir, columns)
        progress.show(base + moved)
    if code == 0 and moved < len(columns):
        print(f"ERROR:loratui.sweep:{Path(spec.script).name} exited normally but wrote {moved} of {len(columns)} "
              f"images for row {row.key}", flush=True)
        return 1
    if code == 0:
        shutil.rmtree(workdir, ignore_errors=True)
    return code


def run(folder: Path) -> int:
    """Render every missing cell of a sweep folder; returns 0 when all cells exist at the end."""
    folder = Path(folder)
    manifest: SweepManifest = sweep_manifest.load(folder)
    spec = RenderSpec.load(folder)
    missing = sweep_manifest.missing_cells(folder, manifest)
    total = len(manifest.cells())
    progress = Progress(total, total - len(missing))
    progress.show()
    for row in manifest.rows:
        columns = [col for r, col in missing if r.key == row.key]
        if not columns:
            continue
        code = render_row(folder, spec, row, columns, progress)
        if code != 0:
            print(f"ERROR:loratui.sweep:{Path(spec.script).name} failed on row {row.key} ({row.label}) with exit "
                  f"code {code}; {progress.done} of {total} cells are done, resuming renders the rest", flush=True)
            return code if code > 0 else 1
    shutil.rmtree(folder / WORK_DIR, ignore_errors=True)
    print(f"sweep: all {total} cells rendered in {folder}", flush=True)
    return 0


def _set_status(home: str | None, sweep_id: str, status: str) -> None:
    if not home:
        return
    from loratui.config import Context
    from loratui.store import connect
    from loratui.training.sweep import sweep_repo

    conn = connect(Context.load(Path(home)).paths.db)
    try:
        sweep_repo.set_status(conn, sweep_id, status)
    except LoratuiError:
        pass  # a sweep folder rendered without a database record
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the render process."""
    parser = argparse.ArgumentParser(prog="loratui-sweep-render")
    parser.add_argument("--home", help="loratui home whose database records the sweep")
    parser.add_argument("folder")
    args = parser.parse_args(argv)
    try:
        manifest = sweep_manifest.load(Path(args.folder))
        _set_status(args.home, manifest.id, "running")
        code = run(Path(args.folder))
    except LoratuiError as exc:
        print(f"ERROR:loratui.sweep:{exc.message}", flush=True)
        return 2
    except KeyboardInterrupt:  # a cancel: SIGINT to the whole group, the script's finished images were kept
        print("sweep: interrupted; the finished images are kept", flush=True)
        return 130
    _set_status(args.home, manifest.id, "completed" if code == 0 else "failed")
    return code


if __name__ == "__main__":
    sys.exit(main())
