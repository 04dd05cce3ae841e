"""Benchmark of the WD14 tagging pipeline (issue 4).

On the same images and machine it measures, per bench model:
  (a) the model alone on preloaded, preprocessed batches,
  (b) decoding + preprocessing alone, on all cores (loratui's decode pool, no model),
  (c) loratui's whole tagging job (`tag_dataset`: pipeline, scores, journaled caption writes),
  (d) a naive sequential loop: decode, preprocess, infer one image at a time.
Goals: (c) <= 1.25 x max(a, b) and (d) / (c) >= 1.5.

Two bench models are built with `onnx` (WD14-shaped: [N, 448, 448, 3] float32 -> sigmoid over a tag list):
  heavy: a strided conv stack of about 3 GFLOPs per image, so inference costs about what a real WD14 model
         costs per image on a CPU (inference dominates);
  tiny:  channel means -> linear -> sigmoid (decoding dominates).

    PYTHONPATH=. python bench/tag.py --images 48 --model both
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

TAG_COUNT = 512


def build_model(folder: Path, heavy: bool) -> tuple[Path, float]:
    """Write model.onnx + selected_tags.csv; returns (folder, GFLOPs per image)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    nodes, inits = [], []
    gflops = 0.0
    if heavy:
        nodes.append(helper.make_node("Transpose", ["input"], ["x0"], perm=[0, 3, 1, 2]))
        nodes.append(helper.make_node("Mul", ["x0", "inv255"], ["x0n"]))
        inits.append(numpy_helper.from_array(np.array(1 / 255, dtype=np.float32), "inv255"))
        # (out channels, stride, spatial size after the conv)
        layers = [(32, 2, 224), (64, 2, 112), (64, 1, 112), (128, 2, 56), (128, 1, 56), (256, 2, 28),
                  (256, 1, 28), (512, 2, 14)]
        channels, name = 3, "x0n"
        for number, (out, stride, spatial) in enumerate(layers):
            weight = (rng.standard_normal((out, channels, 3, 3)) * (2 / (channels * 9)) ** 0.5).astype(np.float32)
            inits.append(numpy_helper.from_array(weight, f"w{number}"))
            nodes.append(helper.make_node("Conv", [name, f"w{number}"], [f"c{number}"], pads=[1, 1, 1, 1],
                                          strides=[stride, stride]))
            nodes.append(helper.make_node("Relu", [f"c{number}"], [f"r{number}"]))
            gflops += 2 * out * channels * 9 * spatial * spatial / 1e9
            channels, name = out, f"r{number}"
        nodes.append(helper.make_node("ReduceMean", [name, "axes_hw"], ["pooled"], keepdims=0))
        inits.append(numpy_helper.from_array(np.array([2, 3], dtype=np.int64), "axes_hw"))
    else:
        nodes.append(helper.make_node("ReduceMean", ["input", "axes_hw"], ["pooled0"], keepdims=0))
        nodes.append(helper.make_node("Mul", ["pooled0", "inv255"], ["pooled"]))
        inits += [numpy_helper.from_array(np.array([1, 2], dtype=np.int64), "axes_hw"),
                  numpy_helper.from_array(np.array(1 / 255, dtype=np.float32), "inv255")]
        channels = 3
    # Like a real tagger, most tags score near 0 and a few dozen pass a 0.35 threshold.
    head = (rng.standard_normal((channels, TAG_COUNT)) * 0.5 / channels ** 0.5).astype(np.float32)
    bias = np.full(TAG_COUNT, -6.0, dtype=np.float32)
    bias[rng.choice(TAG_COUNT, 30, replace=False)] = 1.0
    inits += [numpy_helper.from_array(head, "head"), numpy_helper.from_array(bias, "bias")]
    nodes.append(helper.make_node("MatMul", ["pooled", "head"], ["logits0"]))
    nodes.append(helper.make_node("Add", ["logits0", "bias"], ["logits"]))
    nodes.append(helper.make_node("Sigmoid", ["logits"], ["output"]))
    gflops += 2 * channels * TAG_COUNT / 1e9
    graph = helper.make_graph(
        nodes, "bench", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 448, 448, 3])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", TAG_COUNT])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, str(folder / "model.onnx"))
    with open(folder / "selected_tags.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["tag_id", "name", "category", "count"])
        for number in range(TAG_COUNT):
            category = 9 if number < 4 else 4 if number >= TAG_COUNT - 32 else 0
            writer.writerow([number, f"tag_{number}", category, 0])
    return folder, gflops


def make_images(folder: Path, count: int, size: tuple[int, int]) -> list[Path]:
    """Photo-like JPEGs (smooth gradients plus noise, so they compress and decode like photos)."""
    concept = folder / "1_bench"
    concept.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    width, height = size
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    paths = []
    for number in range(count):
        base = np.stack([
            127 + 120 * np.sin(xs / (40 + number) + ys / 90),
            127 + 120 * np.cos(ys / (50 + number)),
            127 + 120 * np.sin((xs + ys) / (70 + 2 * number)),
        ], axis=-1)
        noise = rng.normal(0, 12, size=base.shape)
        image = Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8))
        path = concept / f"img{number:04d}.jpg"
        image.save(path, quality=92)
        paths.append(path)
    return paths


FAST = False
"""--fast-decode: JPEG draft decoding in (b), (c) and (d)."""


def measure_model_alone(session, paths, batch_size) -> float:
    from loratui.tagging.preprocess import load_and_preprocess

    arrays = np.stack([load_and_preprocess(p, session.size) for p in paths])
    session.run(arrays[:batch_size])  # warm-up
    start = time.perf_counter()
    for offset in range(0, len(arrays), batch_size):
        session.run(arrays[offset:offset + batch_size])
    return time.perf_counter() - start


def measure_decode_alone(paths, batch_size, workers) -> float:
    from loratui.tagging.pipeline import preprocessed_batches

    items = [(i, str(p)) for i, p in enumerate(paths)]
    start = time.perf_counter()
    for _ in preprocessed_batches(items, batch_size, 448, workers=workers, fast=FAST):
        pass
    return time.perf_counter() - start


def measure_naive(session, paths) -> float:
    from loratui.tagging.preprocess import load_and_preprocess

    start = time.perf_counter()
    for path in paths:
        session.run(load_and_preprocess(path, session.size, FAST)[None])
    return time.perf_counter() - start


async def measure_loratui(home: Path, dataset_dir: Path, model_dir: Path, batch_size, workers, run: int) -> float:
    from loratui.datasets import service
    from loratui.store import Store
    from loratui.tagging.modes import Mode
    from loratui.tagging.wd14 import TagRequest, tag_dataset

    async with Store.open(home / "loratui.db") as store:
        name = f"bench{run}"
        dataset, _ = await service.add_dataset(store, dataset_dir, name=name, workers=1) \
            if run == 0 else (await service.get_dataset(store, "bench0"), None)
        request = TagRequest(model=str(model_dir), mode=Mode.OVERWRITE, batch_size=batch_size, workers=workers,
                             resume=False, fast_decode=FAST)
        start = time.perf_counter()
        report = await tag_dataset(store, dataset, request)
        elapsed = time.perf_counter() - start
    assert report.written + report.unchanged == len(list(dataset_dir.rglob("*.jpg"))), report
    return elapsed


def bench_model(kind: str, root: Path, paths: list[Path], args) -> dict:
    from loratui.tagging.session import open_session

    model_dir, gflops = build_model(root / f"model-{kind}", heavy=kind == "heavy")
    session = open_session(model_dir / "model.onnx", args.device)
    batch = args.batch_size or session.default_batch()
    workers = args.workers or os.cpu_count() or 1
    rows: dict[str, list[float]] = {"a": [], "b": [], "c": [], "d": []}
    home = root / f"home-{kind}"
    for run in range(args.repeat):
        rows["a"].append(measure_model_alone(session, paths, batch))
        rows["b"].append(measure_decode_alone(paths, batch, workers))
        rows["c"].append(asyncio.run(measure_loratui(home, root / "images", model_dir, batch, args.workers, run)))
        rows["d"].append(measure_naive(session, paths))
    best = {key: min(values) for key, values in rows.items()}
    n = len(paths)
    return {
        "model": kind, "gflops": gflops, "provider": session.provider, "batch": batch, "images": n,
        **{f"{k}_s": v for k, v in best.items()},
        **{f"{k}_ips": n / v for k, v in best.items()},
        "c_over_max_ab": best["c"] / max(best["a"], best["b"]),
        "d_over_c": best["d"] / best["c"],
        "spread": {k: (round(min(v), 3), round(statistics.median(v), 3)) for k, v in rows.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--size", default="1536x1024", help="image size WxH (default 1536x1024)")
    parser.add_argument("--model", choices=["heavy", "tiny", "both"], default="both")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--workers", type=int, default=0, help="decoding threads (default: one per core)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--repeat", type=int, default=2, help="runs per measurement; the best is reported")
    parser.add_argument("--fast-decode", action="store_true", help="JPEG draft decoding (loratui tag --fast-decode)")
    args = parser.parse_args()
    global FAST
    FAST = args.fast_decode
    width, height = (int(v) for v in args.size.lower().split("x"))
    root = Path(tempfile.mkdtemp(prefix="loratui-bench-tag-"))
    try:
        paths = make_images(root / "images", args.images, (width, height))
        kinds = ["heavy", "tiny"] if args.model == "both" else [args.model]
        print(f"{args.images} JPEGs {width}x{height}, {os.cpu_count()} cores visible"
              + (", fast decode" if FAST else ""))
        print("| model | GFLOPs/img | provider | batch | (a) model | (b) decode | (c) loratui | (d) naive "
              "| c / max(a,b) | d / c |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for kind in kinds:
            r = bench_model(kind, root, paths, args)
            print(f"| {r['model']} | {r['gflops']:.2f} | {r['provider'].replace('ExecutionProvider', '')} "
                  f"| {r['batch']} | {r['a_s']:.2f}s ({r['a_ips']:.1f}/s) | {r['b_s']:.2f}s ({r['b_ips']:.1f}/s) "
                  f"| {r['c_s']:.2f}s ({r['c_ips']:.1f}/s) | {r['d_s']:.2f}s ({r['d_ips']:.1f}/s) "
                  f"| {r['c_over_max_ab']:.2f} | {r['d_over_c']:.2f} |", flush=True)
            print(f"  (min, median) seconds over {args.repeat} runs: {r['spread']}", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
