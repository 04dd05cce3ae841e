"""Benchmark caption sets (issue 17) at 50,000 images: the single-set path must not get slower, a second set must
stay usable.

    python bench/caption_sets.py [--count 50000] [--dir /tmp/loratui-bench-sets] [--single-set-only]

Setup writes a placeholder image and a `.txt` caption per image and inserts the rows directly (with the files'
real size and mtime and a stored thumbnail, so a rescan finds every image unchanged: probing 50k images would
measure the probe, see bench/scan.py). Then, on real files and the real store:

1. unchanged rescan with the one `.txt` set (the path every dataset takes; `--single-set-only` stops here, so the
   same script measures a checkout without caption sets: ``LORATUI_REPO=/path/to/checkout``);
2. a `.caption` beside every image: the rescan that indexes the new set, then unchanged rescans with two sets;
3. per set: the tag frequency count, a query filter, and a tag operation (preview + apply + journal) and its undo.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, os.environ.get("LORATUI_REPO") or str(Path(__file__).resolve().parents[1]))

from loratui.datasets.service import add_dataset, get_dataset, rescan_dataset  # noqa: E402
from loratui.store import Store  # noqa: E402

VOCAB = [f"tag{i}" for i in range(400)] + ["1girl", "solo", "red hair", "blue eyes", "smile", "outdoors"]
PLACEHOLDER = b"\x89PNG placeholder"


def cpu() -> float:
    """User + system CPU seconds of this process, all threads (the scan of unchanged files starts no worker
    process): on a shared machine wall time minus this is time spent waiting for a core."""
    times = os.times()
    return times.user + times.system


def make_files(root: Path, count: int, rng: random.Random) -> list[tuple[str, str]]:
    """Placeholder images with `.txt` tag captions, 1,000 per folder; returns (rel_path, caption)."""
    items = []
    for index in range(count):
        folder = f"10_part{index // 1000:03d}"
        (root / folder).mkdir(parents=True, exist_ok=True)
        tags = ["1girl", *(["solo"] if index % 3 == 0 else [])] + rng.sample(VOCAB, rng.randrange(8, 30))
        if index % 2:
            tags.insert(2, "red hair")
        caption = ", ".join(dict.fromkeys(tags))
        rel = f"{folder}/img{index:06d}.png"
        (root / rel).write_bytes(PLACEHOLDER)
        (root / rel).with_suffix(".txt").write_text(caption, encoding="utf-8")
        items.append((rel, caption))
    return items


def insert_rows(conn, dataset_id: int, root: Path, items) -> None:
    """The rows a scan would have written for these files (so a rescan finds them unchanged)."""
    import hashlib

    now = time.time()
    subsets: dict[str, int] = {}
    conn.execute("BEGIN")
    for rel, caption in items:
        folder = rel.rsplit("/", 1)[0]
        if folder not in subsets:
            subsets[folder] = conn.execute("INSERT INTO subsets (dataset_id, rel_path, repeats) VALUES (?, ?, 10)",
                                           (dataset_id, folder)).lastrowid
        image, text = os.stat(root / rel), os.stat((root / rel).with_suffix(".txt"))
        tags = [t.strip() for t in caption.split(",")]
        image_id = conn.execute(
            "INSERT INTO images (dataset_id, subset_id, rel_path, size, mtime_ns, width, height, format, orientation, "
            "frames, bucket, status, caption, caption_mtime_ns, caption_size, caption_encoding, caption_sha256, "
            "tag_count, scanned_at) VALUES (?, ?, ?, ?, ?, 512, 512, 'PNG', 1, 1, '512x512', 'ok', ?, ?, ?, "
            "'utf-8', ?, ?, ?)",
            (dataset_id, subsets[folder], rel, image.st_size, image.st_mtime_ns, caption, text.st_mtime_ns,
             text.st_size, hashlib.sha256(caption.encode()).hexdigest(), len(tags), now)).lastrowid
        conn.executemany("INSERT INTO image_tags (image_id, position, tag) VALUES (?, ?, ?)",
                         [(image_id, p, t) for p, t in enumerate(tags)])
        conn.execute("INSERT INTO thumbnails (image_id, source_size, source_mtime_ns, width, height, data) "
                     "VALUES (?, ?, ?, 8, 8, x'00')", (image_id, image.st_size, image.st_mtime_ns))
    conn.execute("COMMIT")


async def timed_rescans(store, times: int = 3) -> tuple[str, object]:
    """Median wall and CPU seconds of `times` rescans, and the last report."""
    spent, cpus, report = [], [], None
    for _ in range(times):
        started, used = time.perf_counter(), cpu()
        report = await rescan_dataset(store, "bench", workers=1)
        spent.append(time.perf_counter() - started)
        cpus.append(cpu() - used)
    return f"{statistics.median(spent):.2f}s wall, {statistics.median(cpus):.2f}s CPU (medians of {times})", report


async def run(count: int, workdir: Path, single_only: bool) -> None:
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; code from "
          f"{os.environ.get('LORATUI_REPO') or 'this checkout'}")
    shutil.rmtree(workdir, ignore_errors=True)
    root, db = workdir / "dataset", workdir / "home" / "loratui.db"
    started = time.perf_counter()
    items = make_files(root, count, random.Random(5))
    async with Store.open(db) as store:
        dataset, _ = await add_dataset(store, root, name="bench", scan=False)
        await store.run(insert_rows, dataset.id, root, items)
    os.sync()
    print(f"setup: {count} images in {time.perf_counter() - started:.1f}s")
    async with Store.open(db) as store:
        seconds, report = await timed_rescans(store)
        print(f"unchanged rescan, one set: {seconds} ({report.unchanged} unchanged, {report.updated} updated)")
        if single_only:
            return
        from loratui.datasets import batch, caption_set_repo, history

        for rel, caption in items:
            (root / rel).with_suffix(".caption").write_text(f"A photo. {caption}", encoding="utf-8")
        os.sync()
        started, used = time.perf_counter(), cpu()
        report = await rescan_dataset(store, "bench", workers=1)
        print(f"rescan indexing a new .caption set: {time.perf_counter() - started:.2f}s wall, {cpu() - used:.2f}s "
              f"CPU ({report.set_captions_changed} captions read)")
        seconds, report = await timed_rescans(store)
        print(f"unchanged rescan, two sets: {seconds} ({report.set_captions_changed} read)")
        dataset = await get_dataset(store, "bench")
        for caption_set in (None, ".caption"):
            label = caption_set or ".txt"
            started = time.perf_counter()
            freq = await batch.tag_frequency(store, dataset, caption_set=caption_set)
            t_freq = time.perf_counter() - started
            started = time.perf_counter()
            ids = await store.run(caption_set_repo.select_ids, dataset.id, "tag:red hair -tag:solo", None,
                                  caption_set)
            t_query = time.perf_counter() - started
            started = time.perf_counter()
            _, result = await batch.apply_operation(store, dataset, {"op": "replace", "old": "red hair",
                                                                     "new": "auburn hair"}, caption_set=caption_set)
            t_apply = time.perf_counter() - started
            started = time.perf_counter()
            undone = await history.undo(store, dataset)
            t_undo = time.perf_counter() - started
            print(f"{label}: tag frequency {t_freq:.2f}s ({len(freq)} tags); query 'tag:red hair -tag:solo' "
                  f"{t_query:.2f}s ({len(ids)} images); replace 'red hair' {t_apply:.2f}s ({result.changed} written); "
                  f"undo {t_undo:.2f}s ({undone.changed} restored)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=50_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/loratui-bench-sets"))
    parser.add_argument("--single-set-only", action="store_true", help="stop after the one-set rescan")
    args = parser.parse_args()
    asyncio.run(run(args.count, args.dir, args.single_set_only))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
