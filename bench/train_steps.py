"""Benchmark: the step calculator on a large synthetic dataset, and trainer option schemas cold vs cached.

    PYTHONPATH=. python bench/train_steps.py [--images 20000] [--kohya-dir DIR --kohya-python PY]

The calculator runs on every keystroke in the training form, so it must stay well under a frame for big
datasets. Schema introspection imports the trainer (torch included) once per trainer version; later reads
come from the cache.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from loratui.datasets.buckets import BucketRules
from loratui.training.steps import StepParams, SubsetImages, compute_steps


def synthetic(images: int, seed: int = 1) -> list[SubsetImages]:
    rng = random.Random(seed)
    subsets = []
    per = images // 10
    for index in range(10):
        sizes = [(rng.randrange(300, 4000), rng.randrange(300, 4000)) for _ in range(per)]
        subsets.append(SubsetImages(f"{index + 1}_c{index}", index % 4 + 1, index == 9, sizes))
    return subsets


def time_calls(fn, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--kohya-dir")
    parser.add_argument("--kohya-python")
    args = parser.parse_args()
    subsets = synthetic(args.images)
    for label, rules in (("upscale buckets 1024", BucketRules((1024, 1024), max_bucket_reso=2048)),
                         ("bucket_no_upscale 1024", BucketRules((1024, 1024), bucket_no_upscale=True))):
        params = StepParams(rules, batch_size=4, max_train_epochs=10)
        median, best = time_calls(lambda: compute_steps(subsets, params), args.repeat)
        report = compute_steps(subsets, params)
        print(f"compute_steps {label}: {args.images} images, {len(report.buckets)} buckets, "
              f"{report.total_steps} steps: median {median * 1000:.1f} ms, best {best * 1000:.1f} ms")
    if args.kohya_dir and args.kohya_python:
        from loratui.config import Context
        from loratui.training.schema import load_schema

        with tempfile.TemporaryDirectory() as home:
            ctx = Context.load(Path(home))
            ctx.settings.trainers.kohya_dir, ctx.settings.trainers.kohya_python = args.kohya_dir, args.kohya_python
            start = time.perf_counter()
            schema = load_schema(ctx, "kohya", "sd15")
            cold = time.perf_counter() - start
            median, _ = time_calls(lambda: load_schema(ctx, "kohya", "sd15"), args.repeat)
            print(f"load_schema sd15 ({len(schema.options)} options): cold (introspection) {cold:.1f} s, "
                  f"cached median {median * 1000:.1f} ms")


if __name__ == "__main__":
    main()
