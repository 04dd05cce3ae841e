"""Benchmark: cold `dataset add` and unchanged rescan vs a naive single-threaded baseline.

    python bench/scan.py [--count 10000] [--baseline-sample 400] [--dir .bench/scan]

Generates N synthetic JPEGs (1024-1536 px sides, photo-like content) once and reuses them. The naive baseline
(full decode + sha256 + phash of the full image, one thread) runs on a sample in the same run and is reported as
images/s. Targets (issue #2): first scan >= 3x the baseline's images/s; unchanged rescan of 10,000 images < 2 s;
peak memory < 300 MB (whole process tree).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, loratui_env, run_measured  # noqa: E402


def _make(args: tuple[int, str]) -> None:
    import numpy as np
    from PIL import Image, ImageFilter

    index, folder = args
    rng = np.random.default_rng(index)
    width, height = (int(x) for x in rng.integers(1024, 1537, 2))
    small = rng.integers(0, 255, (height // 32 + 1, width // 32 + 1, 3), dtype="uint8")
    image = Image.fromarray(small).resize((width, height), Image.BICUBIC).filter(ImageFilter.GaussianBlur(2))
    noise = rng.integers(-12, 12, (height, width, 3))
    array = np.clip(np.asarray(image, dtype="int16") + noise, 0, 255).astype("uint8")
    sub = Path(folder) / ("10_subject" if index % 3 else "5_style")
    Image.fromarray(array).save(sub / f"img_{index:05}.jpg", quality=88)
    (sub / f"img_{index:05}.txt").write_text(f"subject, tag{index % 50}, photo")


UNIQUE = 300


def generate(folder: Path, count: int) -> None:
    """Create `count` images in kohya subfolders (skipped if already there).

    The first UNIQUE images are rendered; the rest copy one of them with unique bytes appended after the JPEG
    end marker (decoders ignore them), so every file has its own sha256 and costs the same to decode.
    """
    marker = folder / f".generated-{count}"
    if marker.exists():
        return
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "10_subject").mkdir(parents=True)
    (folder / "5_style").mkdir()
    unique = min(count, UNIQUE)
    with multiprocessing.Pool() as pool:
        for _ in pool.imap_unordered(_make, [(i, str(folder)) for i in range(unique)], chunksize=8):
            pass
    bases = [(folder / ("10_subject" if i % 3 else "5_style") / f"img_{i:05}.jpg").read_bytes() for i in range(unique)]
    for index in range(unique, count):
        sub = folder / ("10_subject" if index % 3 else "5_style")
        (sub / f"img_{index:05}.jpg").write_bytes(bases[index % unique] + index.to_bytes(4, "big"))
        (sub / f"img_{index:05}.txt").write_text(f"subject, tag{index % 50}, photo")
    marker.write_text("ok")


def naive(paths: list[Path]) -> float:
    """Full decode + sha256 + phash, one thread; returns images/s."""
    import imagehash
    from PIL import Image

    started = time.perf_counter()
    for path in paths:
        data = path.read_bytes()
        hashlib.sha256(data).hexdigest()
        with Image.open(path) as image:
            image.load()
            imagehash.phash(image)
    return len(paths) / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--baseline-sample", type=int, default=400)
    parser.add_argument("--dir", type=Path, default=REPO / ".bench" / "scan")
    args = parser.parse_args()

    data = args.dir / "data"
    t0 = time.perf_counter()
    generate(data, args.count)
    print(f"images ready in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    paths = sorted(data.rglob("*.jpg"))[: args.baseline_sample]
    baseline = naive(paths)

    home = args.dir / "home"
    shutil.rmtree(home, ignore_errors=True)
    env = loratui_env(home)
    cmd = [sys.executable, "-m", "loratui", "dataset"]
    cold_s, cold_mb, proc = run_measured([*cmd, "add", str(data), "--name", "bench", "--json"], env)
    if proc.returncode:
        print(proc.stderr.decode(), file=sys.stderr)
        return 1
    report = json.loads(proc.stdout)
    rescan_s, rescan_mb, proc = run_measured([*cmd, "scan", "bench", "--json"], env)
    rescan = json.loads(proc.stdout)
    result = {
        "images": args.count,
        "cpus": os.cpu_count(),
        "naive_images_per_s": round(baseline, 1),
        "cold_add_s": round(cold_s, 2),
        "cold_images_per_s": round(args.count / cold_s, 1),
        "speedup_vs_naive": round(args.count / cold_s / baseline, 2),
        "cold_peak_rss_mb": round(cold_mb, 1),
        "rescan_s": round(rescan_s, 2),
        "rescan_scan_only_s": rescan["elapsed_s"],
        "rescan_unchanged": rescan["unchanged"],
        "rescan_peak_rss_mb": round(rescan_mb, 1),
        "broken": report["broken"],
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
