"""Benchmark: LoRA resize via QR + r x r core SVD against a full-matrix SVD of up @ down per module.

A generated SDXL-shaped U-Net LoRA (722 modules: 70 transformer blocks x 10 linear layers + 22 proj_in/out, the
kohya `lora_unet_*` set) at rank 64 is resized to rank 16 on the CPU.

* fast: ``loratui.loras.resize_math.resize_module`` on every module (what `loratui lora resize` runs).
* full: the upstream way, ``svd(up @ down)`` of the out x in matrix, truncated (numpy, ``full_matrices=False``,
  which is already cheaper than sd-scripts' torch default of full matrices).

By default the full SVD runs on ``--samples`` modules of each distinct shape and its total is extrapolated by
the number of modules of that shape (the full run takes many minutes on a small machine); ``--full`` runs it
on every module. Both methods run single-threaded (BLAS threads pinned to 1 unless set) so CPU times compare
fairly on a shared machine. Accuracy: relative Frobenius difference of the merged, alpha-scaled weights.

    python bench/resize.py [--rank 64] [--to 16] [--samples 2] [--full] [--end-to-end] [--json]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from loratui.loras.resize_math import resize_module  # noqa: E402

CROSS_DIM = 2048
# (block prefix, width, attentions, transformer depth)
SDXL_ATTENTIONS = [("down_blocks_1", 640, 2, 2), ("down_blocks_2", 1280, 2, 10), ("mid_block", 1280, 1, 10),
                   ("up_blocks_0", 1280, 3, 10), ("up_blocks_1", 640, 3, 2)]


def sdxl_modules() -> list[tuple[str, int, int]]:
    """(kohya module name, out features, in features) of an SDXL U-Net LoRA."""
    modules = []
    for block, dim, attentions, depth in SDXL_ATTENTIONS:
        for a in range(attentions):
            base = f"lora_unet_{block}_attentions_{a}"
            modules += [(f"{base}_proj_in", dim, dim), (f"{base}_proj_out", dim, dim)]
            for t in range(depth):
                tb = f"{base}_transformer_blocks_{t}"
                modules += [(f"{tb}_attn1_to_{x}", dim, dim) for x in ("q", "k", "v", "out_0")]
                modules += [(f"{tb}_attn2_to_q", dim, dim), (f"{tb}_attn2_to_k", dim, CROSS_DIM),
                            (f"{tb}_attn2_to_v", dim, CROSS_DIM), (f"{tb}_attn2_to_out_0", dim, dim)]
                modules += [(f"{tb}_ff_net_0_proj", 8 * dim, dim), (f"{tb}_ff_net_2", dim, 4 * dim)]
    return modules


def make_factors(rng, out_f: int, in_f: int, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """A trained-looking module: fp16-representable factors with a decaying spectrum."""
    decay = (0.92 ** np.arange(rank)).astype(np.float32)
    up = (rng.standard_normal((out_f, rank), dtype=np.float32) * 0.01 * decay).astype(np.float16)
    down = (rng.standard_normal((rank, in_f), dtype=np.float32) * 0.05).astype(np.float16)
    return up.astype(np.float32), down.astype(np.float32)


def full_svd_resize(up: np.ndarray, down: np.ndarray, alpha: float, rank: int) -> np.ndarray:
    """Upstream: merge, SVD the full matrix (float32), keep `rank`; returns the alpha-scaled merged result."""
    merged = up @ down
    u, s, vt = np.linalg.svd(merged, full_matrices=False)
    scale = alpha / up.shape[1]
    return (u[:, :rank] * s[:rank]) @ vt[:rank] * scale


def timed(fn, *args):
    """(result, wall seconds, cpu seconds)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn(*args)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def run(rank: int, target: int, samples: int, full: bool, seed: int) -> dict:
    modules = sdxl_modules()
    alpha = float(rank)  # alpha = dim, a common choice
    by_shape: dict[tuple[int, int], list[int]] = defaultdict(list)
    for index, (_name, out_f, in_f) in enumerate(modules):
        by_shape[(out_f, in_f)].append(index)
    sampled = {i for idxs in by_shape.values() for i in (idxs if full else idxs[:samples])}

    rng = np.random.default_rng(seed)
    fast_wall = fast_cpu = 0.0
    fast_by_shape: dict[tuple[int, int], list[float]] = defaultdict(list)
    full_by_shape: dict[tuple[int, int], list[float]] = defaultdict(list)
    worst = 0.0
    energies = []
    for index, (_name, out_f, in_f) in enumerate(modules):
        up, down = make_factors(rng, out_f, in_f, rank)
        result, wall, cpu = timed(resize_module, up, down, alpha, target)
        fast_wall += wall
        fast_cpu += cpu
        fast_by_shape[(out_f, in_f)].append(cpu)
        energies.append(result.fro_retained)
        if index in sampled:
            reference, _w, full_cpu = timed(full_svd_resize, up, down, alpha, target)
            full_by_shape[(out_f, in_f)].append(full_cpu)
            mine = (result.up @ result.down) * (result.new_alpha / result.new_rank)
            worst = max(worst, float(np.linalg.norm(mine - reference) / np.linalg.norm(reference)))

    shapes = []
    full_total = 0.0
    for shape, idxs in sorted(by_shape.items()):
        full_each = statistics.median(full_by_shape[shape])
        fast_each = statistics.median(fast_by_shape[shape])
        full_total += full_each * len(idxs) if not full else sum(full_by_shape[shape])
        shapes.append({"out": shape[0], "in": shape[1], "modules": len(idxs), "full_svd_s": round(full_each, 4),
                       "fast_s": round(fast_each, 5), "speedup": round(full_each / fast_each, 1)})
    return {
        "modules": len(modules), "rank": rank, "to": target, "threads": os.environ.get("OMP_NUM_THREADS"),
        "numpy": np.__version__, "full_svd_modules_timed": len(sampled), "full_svd_extrapolated": not full,
        "fast_total_cpu_s": round(fast_cpu, 2), "fast_total_wall_s": round(fast_wall, 2),
        "full_svd_total_cpu_s": round(full_total, 1), "speedup": round(full_total / fast_cpu, 1),
        "max_rel_frobenius_diff": worst, "mean_fro_retained": round(float(np.mean(energies)), 4),
        "shapes": shapes,
    }


def end_to_end(rank: int, target: int, seed: int) -> dict:
    """Write the generated LoRA as an fp16 .safetensors and time `resize_file` on it (read, resize, hash, write)."""
    import tempfile

    from safetensors.numpy import save_file

    from loratui.loras.resize import ResizeOptions, resize_file

    rng = np.random.default_rng(seed)
    tensors = {}
    for name, out_f, in_f in sdxl_modules():
        up, down = make_factors(rng, out_f, in_f, rank)
        tensors[f"{name}.lora_up.weight"] = up.astype(np.float16)
        tensors[f"{name}.lora_down.weight"] = down.astype(np.float16)
        tensors[f"{name}.alpha"] = np.array(rank, dtype=np.float16)
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "sdxl-r64.safetensors"
        save_file(tensors, str(source), metadata={"ss_network_dim": str(rank), "ss_network_alpha": str(rank)})
        del tensors
        size = source.stat().st_size
        _report, wall, cpu = timed(resize_file, source, Path(folder) / "out.safetensors",
                                   ResizeOptions(rank=target, precision="fp16"))
        out_size = (Path(folder) / "out.safetensors").stat().st_size
    return {"file_mb": round(size / 1e6, 1), "out_mb": round(out_size / 1e6, 1), "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rank", type=int, default=64)
    parser.add_argument("--to", type=int, default=16)
    parser.add_argument("--samples", type=int, default=2, help="full-SVD modules timed per distinct shape")
    parser.add_argument("--full", action="store_true", help="time the full SVD on every module (slow)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--end-to-end", action="store_true",
                        help="also time `resize_file` on the LoRA written as an fp16 file")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = run(args.rank, args.to, args.samples, args.full, args.seed)
    if args.end_to_end:
        report["end_to_end"] = end_to_end(args.rank, args.to, args.seed)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{report['modules']} modules, rank {report['rank']} -> {report['to']}, BLAS threads {report['threads']}, "
          f"numpy {report['numpy']}")
    print(f"{'shape (out x in)':>18} {'modules':>7} {'full SVD s':>10} {'QR+core s':>10} {'speedup':>8}")
    for s in report["shapes"]:
        print(f"{s['out']:>8} x {s['in']:<7} {s['modules']:>7} {s['full_svd_s']:>10.4f} {s['fast_s']:>10.5f} "
              f"{s['speedup']:>7.1f}x")
    kind = "extrapolated from" if report["full_svd_extrapolated"] else "measured on"
    print(f"full SVD total: {report['full_svd_total_cpu_s']} s CPU ({kind} {report['full_svd_modules_timed']} "
          f"modules)")
    print(f"QR + core SVD total: {report['fast_total_cpu_s']} s CPU ({report['fast_total_wall_s']} s wall), "
          f"all {report['modules']} modules")
    print(f"speedup: {report['speedup']}x; max relative Frobenius difference of merged weights: "
          f"{report['max_rel_frobenius_diff']:.2e}; mean retained Frobenius norm {report['mean_fro_retained']:.2%}")
    if "end_to_end" in report:
        e2e = report["end_to_end"]
        print(f"end to end (resize_file, fp16 {e2e['file_mb']} MB -> {e2e['out_mb']} MB, hashes included): "
              f"{e2e['wall_s']} s wall, {e2e['cpu_s']} s CPU")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
