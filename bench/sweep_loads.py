"""Benchmark: a checkpoint sweep costs one model load per row, not one per image.

Renders a sweep of P prompts x S seeds through R rows (the baseline and a LoRA at each strength) with sd-scripts'
real ``gen_img.py`` the way ``loratui lora sweep`` does (``loratui.training.sweep.render``: one script run per row,
every cell of the row from one prompt file), timing each run. Then times ``--single`` runs of one image each (what a
naive loop over cells costs per image) and extrapolates that to every cell.

    python bench/sweep_loads.py --kohya-dir DIR --python PY --base MODEL --lora FILE \
        [--tokenizer-cache DIR] [--prompts 2] [--seeds 1,2] [--strengths 0.8,1.0] [--steps 2] [--size 64] \
        [--single 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from loratui.loras import sweep_manifest  # noqa: E402
from loratui.training.sweep import render  # noqa: E402
from loratui.training.sweep.argv import RenderSpec, row_argv  # noqa: E402
from loratui.training.sweep.build import RowSpec, build_manifest  # noqa: E402
from loratui.training.sweep.prompts import parse_prompts  # noqa: E402
from loratui.training.sweep.source import Checkpoint  # noqa: E402

PROMPTS = ["a photo of tinyconcept", "tinyconcept in a forest", "tinyconcept on a beach", "a drawing of tinyconcept"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kohya-dir", required=True)
    parser.add_argument("--python", required=True)
    parser.add_argument("--base", required=True)
    parser.add_argument("--lora", required=True)
    parser.add_argument("--tokenizer-cache")
    parser.add_argument("--prompts", type=int, default=2)
    parser.add_argument("--seeds", default="1,2")
    parser.add_argument("--strengths", default="0.8,1.0")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--single", type=int, default=2, help="one-image runs to time (0: skip)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    prompts = parse_prompts(PROMPTS[:args.prompts])
    seeds = [int(s) for s in args.seeds.split(",")]
    strengths = tuple(float(s) for s in args.strengths.split(","))
    pairs = [["ckpt", args.base]] + ([["tokenizer_cache_dir", args.tokenizer_cache]] if args.tokenizer_cache else [])
    spec = RenderSpec(style="gen_img", python=args.python, script=str(Path(args.kohya_dir) / "gen_img.py"),
                      cwd=args.kohya_dir, model_args=pairs, width=args.size, height=args.size, steps=args.steps,
                      prompts=[p.as_dict() for p in prompts])
    with tempfile.TemporaryDirectory(prefix="sweep-bench-") as tmp:
        folder = Path(tmp) / "sweep"
        manifest = build_manifest("bench", family="sd15", trainer="kohya", base_model=args.base,
                                  checkpoints=[Checkpoint(str(Path(args.lora).resolve()))], prompts=prompts,
                                  seeds=seeds, spec=RowSpec(strengths=strengths), settings={}, job_id=None, created="")
        sweep_manifest.save(folder, manifest)
        spec.save(folder)
        progress = render.Progress(len(manifest.cells()), 0)
        rows = []
        for row in manifest.rows:
            started = time.monotonic()
            code = render.render_row(folder, spec, row, list(manifest.columns), progress)
            rows.append({"row": row.key, "images": len(manifest.columns), "seconds": round(time.monotonic() - started, 1),
                         "exit_code": code})
        missing = len(sweep_manifest.missing_cells(folder, manifest))
        singles = []
        for row, column in manifest.cells()[:args.single]:
            workdir = Path(tmp) / "single" / f"{row.key}-{column.key}"
            workdir.mkdir(parents=True)
            prompt_file = workdir / "prompts.txt"
            prompt_file.write_text(render.prompt_file_text(spec, [column]), encoding="utf-8")
            started = time.monotonic()
            done = subprocess.run(row_argv(spec, row, prompt_file, workdir), cwd=spec.cwd, capture_output=True,
                                  check=False)
            singles.append({"cell": f"{row.key}/{column.key}", "seconds": round(time.monotonic() - started, 1),
                            "exit_code": done.returncode})
    cells = len(manifest.cells())
    sweep_s = sum(r["seconds"] for r in rows)
    result = {"cells": cells, "rows": len(rows), "script_runs": len(rows), "missing_after": missing,
              "sweep_seconds": round(sweep_s, 1), "seconds_per_row": round(sweep_s / len(rows), 1),
              "seconds_per_image": round(sweep_s / cells, 1), "row_runs": rows, "single_runs": singles}
    if singles:
        per_single = sum(s["seconds"] for s in singles) / len(singles)
        result["single_seconds_per_image"] = round(per_single, 1)
        result["one_run_per_image_estimate_s"] = round(per_single * cells, 1)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{cells} images in {len(rows)} script runs (one per row): {sweep_s:.1f} s, "
              f"{result['seconds_per_row']} s per run, {result['seconds_per_image']} s per image")
        if singles:
            print(f"one run per image: {result['single_seconds_per_image']} s each -> "
                  f"{result['one_run_per_image_estimate_s']} s for {cells} images")
    return 0 if missing == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
