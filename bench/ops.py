"""Benchmark batch tag operations on a generated dataset (default 50,000 captioned images).

    PYTHONPATH=. python bench/ops.py [--count 50000] [--dir /tmp/loratui-bench-ops] [--keep]

Setup writes one real caption file per image plus a small placeholder image file, and inserts the images /
image_tags rows directly (probing 50k real images would measure the scanner, not the operations). Then it
times, on real files and the real SQLite store:

- a replace over all captions, previewed, applied and journaled (one atomic write per caption);
- its undo (every file checked against the journal, then restored);
- query filters through ``image_repo.select_ids`` (what the TUI's image list filter runs);
- exact + near duplicate grouping through ``find_duplicates``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import random
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loratui.datasets import batch, history  # noqa: E402
from loratui.datasets.dedupe import find_duplicates  # noqa: E402
from loratui.datasets import image_repo  # noqa: E402
from loratui.datasets.service import add_dataset, get_dataset  # noqa: E402
from loratui.store import Store  # noqa: E402

def cpu() -> float:
    """User + system CPU seconds of this process (all threads): wall time minus this is waiting (I/O, sharing)."""
    times = os.times()
    return times.user + times.system


VOCAB = [f"tag{i}" for i in range(400)] + ["1girl", "solo", "red hair", "blue eyes", "smile", "outdoors",
                                           "looking at viewer", "long hair", "short hair", "simple background"]


def make_files(root: Path, count: int, rng: random.Random) -> list[tuple[str, str]]:
    """Write caption files and placeholder images; returns (rel_path, caption)."""
    items = []
    folder = root / "10_bench"
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        tags = ["1girl", *(["solo"] if index % 3 == 0 else [])] + rng.sample(VOCAB, rng.randrange(8, 30))
        if index % 2:
            tags.insert(2, "red hair")
        caption = ", ".join(dict.fromkeys(tags))
        rel = f"10_bench/img{index:06d}.png"
        (root / rel).write_bytes(b"\x89PNG placeholder")
        (root / rel).with_suffix(".txt").write_text(caption, encoding="utf-8")
        items.append((rel, caption))
    return items


def insert_rows(conn, dataset_id: int, root: Path, items, rng: random.Random) -> None:
    subset_id = conn.execute("INSERT INTO subsets (dataset_id, rel_path, repeats, class_tokens) "
                             "VALUES (?, '10_bench', 10, 'bench')", (dataset_id,)).lastrowid
    now = time.time()
    hashes = [rng.getrandbits(64) for _ in items]
    for i in range(0, min(2000, len(hashes)), 2):  # planted near duplicates: 1-3 bits apart
        hashes[i + 1] = hashes[i] ^ (1 << rng.randrange(64)) ^ (1 << rng.randrange(64))
    conn.execute("BEGIN")
    for index, (rel, caption) in enumerate(items):
        st = os.stat((root / rel).with_suffix(".txt"))
        tags = [t.strip() for t in caption.split(",")]
        sha = hashlib.sha256(str(index // 2 if index < 200 else index).encode()).hexdigest()
        width, height = rng.choice([(512, 512), (832, 1216), (1024, 1024), (1216, 832), (384, 640)])
        image_id = conn.execute(
            "INSERT INTO images (dataset_id, subset_id, rel_path, size, mtime_ns, sha256, phash, width, height, "
            "format, mode, has_alpha, orientation, frames, bucket, status, caption, caption_mtime_ns, caption_size, "
            "caption_encoding, caption_sha256, tag_count, scanned_at) VALUES (?, ?, ?, 16, 0, ?, ?, ?, ?, 'PNG', "
            "'RGB', 0, 1, 1, ?, 'ok', ?, ?, ?, 'utf-8', ?, ?, ?)",
            (dataset_id, subset_id, rel, sha, f"{hashes[index]:016x}", width, height, f"{width}x{height}", caption,
             st.st_mtime_ns, st.st_size, hashlib.sha256(caption.encode("utf-8")).hexdigest(), len(tags),
             now)).lastrowid
        conn.executemany("INSERT INTO image_tags (image_id, position, tag) VALUES (?, ?, ?)",
                         [(image_id, p, t) for p, t in enumerate(tags)])
    conn.execute("COMMIT")


def replace_cost(folder: Path, count: int = 500) -> float:
    """Milliseconds one rename over an existing, synced small file takes here (serial): the disk's floor."""
    probe = folder / ".replace-probe"
    probe.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (probe / f"f{i}").write_bytes(b"x" * 200)
    os.sync()
    for i in range(count):
        (probe / f"t{i}").write_bytes(b"y" * 200)
    os.sync()
    started = time.perf_counter()
    for i in range(count):
        os.replace(probe / f"t{i}", probe / f"f{i}")
    elapsed = time.perf_counter() - started
    shutil.rmtree(probe)
    return elapsed / count * 1000


async def run(count: int, workdir: Path, keep: bool) -> None:
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start; data in {workdir}")
    if workdir.exists():
        shutil.rmtree(workdir)
    root, db = workdir / "dataset", workdir / "home" / "loratui.db"
    rng = random.Random(5)
    started = time.perf_counter()
    print(f"this disk: replacing a written file costs {replace_cost(workdir):.2f} ms (serial rename)")
    items = make_files(root, count, rng)
    async with Store.open(db) as store:
        dataset, _ = await add_dataset(store, root, name="bench", scan=False)
        await store.run(insert_rows, dataset.id, root, items, rng)
        print(f"setup: {count} captioned images in {time.perf_counter() - started:.1f}s")
    os.sync()  # flush the setup's own writes so the timed operations do not pay for them
    async with Store.open(db) as store:
        dataset = await get_dataset(store, "bench")

        t, c = time.perf_counter(), cpu()
        preview = await batch.preview_operation(store, dataset, {"op": "replace", "old": "1girl", "new": "1woman"})
        t_preview = time.perf_counter() - t
        result = await batch.apply_preview(store, dataset, preview)
        t_apply = time.perf_counter() - t
        print(f"replace over all captions: {result.changed} changed (preview {t_preview:.2f}s), "
              f"preview+apply+journal {t_apply:.2f}s wall, {cpu() - c:.2f}s CPU")

        t, c = time.perf_counter(), cpu()
        undone = await history.undo(store, dataset)
        print(f"undo: {undone.changed} restored in {time.perf_counter() - t:.2f}s wall, {cpu() - c:.2f}s CPU")

        t, c = time.perf_counter(), cpu()
        redone = await history.redo(store, dataset)
        print(f"redo: {redone.changed} rewritten in {time.perf_counter() - t:.2f}s wall, {cpu() - c:.2f}s CPU")

        for query in ("tag:red hair -tag:solo", "tag:red hair -tag:solo tags>10 bucket:832x1216",
                      "(tag:smile OR tag:outdoors) AND NOT tag:long hair", 'caption:"blue eyes"', "w<512 OR dupe",
                      "tokens>75"):
            best = float("inf")
            for _ in range(3):
                t = time.perf_counter()
                ids = await store.run(image_repo.select_ids, dataset.id, query)
                best = min(best, time.perf_counter() - t)
            print(f"query {query!r}: {len(ids)} images in {best * 1000:.0f} ms (best of 3)")

        for distance in (6, 8):
            t, c = time.perf_counter(), cpu()
            groups = await find_duplicates(store, dataset, distance)
            near = sum(1 for g in groups if g.kind == "near")
            exact = len(groups) - near
            print(f"duplicates (max distance {distance}): {exact} exact + {near} near groups in "
                  f"{time.perf_counter() - t:.2f}s wall, {cpu() - c:.2f}s CPU")
    if not keep:
        shutil.rmtree(workdir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/loratui-bench-ops"))
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    args = parser.parse_args()
    asyncio.run(run(args.count, args.dir, args.keep))


if __name__ == "__main__":
    main()
