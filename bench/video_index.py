"""Benchmark: index N short video clips (`dataset add`) and build their clip table (`dataset show --json`).

    python bench/video_index.py [--count 1000] [--workers 2] [--dir .bench/video_index]

Generates N clips once and reuses them: 64x64 to 160x96, 24 to 96 frames, at 24, 25, 30 and 30000/1001 fps;
70% H.264 .mp4 (the frame count comes from the MP4 sample index), 20% H.264 .mkv and 10% VP9 .webm (Matroska
states no frame count: the packets are demuxed and counted), each with a caption. Target (issue 17): indexing
1,000 clips plus the clip table in under a minute on 2 cores. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import sys
import time
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, loratui_env, run_measured  # noqa: E402

RATES = (Fraction(24), Fraction(25), Fraction(30), Fraction(30000, 1001))


def _make(args: tuple[int, str]) -> None:
    import av
    import numpy as np

    index, folder = args
    rng = np.random.default_rng(index)
    width, height = int(rng.integers(4, 11)) * 16, int(rng.integers(4, 7)) * 16
    frames = int(rng.integers(24, 97))
    suffix = ".mp4" if index % 10 < 7 else (".mkv" if index % 10 < 9 else ".webm")
    codec = "libvpx-vp9" if suffix == ".webm" else "libx264"
    sub = Path(folder) / ("10_motion" if index % 2 else "5_style")
    path = sub / f"clip_{index:05}{suffix}"
    base = rng.integers(0, 255, (height // 16, width // 16, 3), dtype="uint8")
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=RATES[index % len(RATES)])
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for frame_index in range(frames):
            shifted = np.roll(base, frame_index // 4, axis=1)
            array = np.kron(shifted, np.ones((16, 16, 1), dtype="uint8"))
            for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    path.with_suffix(".txt").write_text(f"a moving pattern, clip {index}")


def generate(folder: Path, count: int) -> None:
    """Create `count` clips in two kohya subfolders (skipped if already there)."""
    marker = folder / f".generated-{count}"
    if marker.exists():
        return
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "10_motion").mkdir(parents=True)
    (folder / "5_style").mkdir()
    with multiprocessing.Pool() as pool:
        for _ in pool.imap_unordered(_make, [(i, str(folder)) for i in range(count)], chunksize=8):
            pass
    marker.write_text("ok")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--dir", type=Path, default=REPO / ".bench" / "video_index")
    args = parser.parse_args()

    data = args.dir / "data"
    t0 = time.perf_counter()
    generate(data, args.count)
    print(f"clips ready in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    home = args.dir / "home"
    shutil.rmtree(home, ignore_errors=True)
    env = loratui_env(home)
    cmd = [sys.executable, "-m", "loratui", "dataset"]
    add_s, add_mb, proc = run_measured([*cmd, "add", str(data), "--name", "bench", "--json",
                                        "--workers", str(args.workers)], env)
    if proc.returncode:
        print(proc.stderr.decode(), file=sys.stderr)
        return 1
    report = json.loads(proc.stdout)
    show_s, show_mb, proc = run_measured([*cmd, "show", "bench", "--json", "--target-frames", "1,25,45",
                                          "--frame-extraction", "slide", "--frame-stride", "8",
                                          "--source-fps", "30"], env)
    if proc.returncode:
        print(proc.stderr.decode(), file=sys.stderr)
        return 1
    tables = json.loads(proc.stdout)["video_clips"]
    rescan_s, _, proc = run_measured([*cmd, "scan", "bench", "--json"], env)
    rescan = json.loads(proc.stdout)
    result = {
        "clips": args.count,
        "cpus": os.cpu_count(),
        "workers": args.workers,
        "add_s": round(add_s, 2),
        "add_scan_only_s": report["elapsed_s"],
        "videos_per_s": round(args.count / add_s, 1),
        "add_peak_rss_mb": round(add_mb, 1),
        "broken": report["broken"],
        "show_clip_table_s": round(show_s, 2),
        "show_peak_rss_mb": round(show_mb, 1),
        "clip_table_clips": tables["totals"]["clips"],
        "total_s": round(add_s + show_s, 2),
        "rescan_s": round(rescan_s, 2),
        "rescan_unchanged": rescan["unchanged"],
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
