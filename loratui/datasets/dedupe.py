"""Duplicate images and videos: exact (same sha256) and near (perceptual-hash Hamming distance) groups.

Videos are compared with videos only, by the perceptual hashes of a few keyframes (``video_probe``: the first
frame and the keyframes at a third and two thirds of the duration): two videos are near when every one of those
hashes is within the distance of the other's at the same place. Exact groups hold any files with one sha256.

Near groups avoid comparing all pairs with multi-index hashing: two 64-bit hashes within distance ``d`` agree
exactly on at least one of ``d + 1`` disjoint bit chunks (pigeonhole). Hashes are bucketed by each chunk
and only hashes sharing a bucket are compared, with vectorised XOR + popcount. Identical hashes are collapsed
first, so a thousand copies of one picture cost one comparison. Groups are the connected components of the
"within distance" relation (union-find), so a chain a~b~c forms one group even if a and c are further apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from loratui.datasets import image_repo, video_repo
from loratui.datasets.dataset_repo import Dataset
from loratui.errors import InputError
from loratui.store import Store

DEFAULT_MAX_DISTANCE = 6
MAX_DISTANCE_LIMIT = 24
_BLOCK = 2048
_VIDEO_BLOCK = 256
"""Videos compared per block: 256 x n x 3 keyframes of uint64 (60 MB at 10,000 videos)."""


@dataclass
class DupeImage:
    """One member of a duplicate group."""

    id: int
    rel_path: str
    width: int | None
    height: int | None
    size: int
    sha256: str | None
    phash: str | None
    distance: int = 0
    """Hamming distance of its phash to the group's first image."""


@dataclass
class DupeGroup:
    """Images that are the same file (exact) or look the same (near)."""

    kind: str
    images: list[DupeImage] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "images": [vars(i) for i in self.images]}


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _chunks(max_distance: int) -> list[tuple[int, int]]:
    """(shift, width) of `max_distance + 1` disjoint chunks covering 64 bits."""
    count = max_distance + 1
    base, extra = divmod(64, count)
    chunks, shift = [], 0
    for index in range(count):
        width = base + (1 if index < extra else 0)
        chunks.append((shift, width))
        shift += width
    return chunks


def _close_pairs(values: np.ndarray, max_distance: int) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i < j) of `values` (unique uint64) within `max_distance` bits."""
    found_i, found_j = [], []
    for shift, width in _chunks(max_distance):
        keys = (values >> np.uint64(shift)) & np.uint64((1 << width) - 1)
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
        ends = np.r_[starts[1:], len(order)]
        for start, end in zip(starts[ends - starts > 1], ends[ends - starts > 1]):
            members = order[start:end]
            bucket = values[members]
            for block in range(0, len(members), _BLOCK):
                rows = bucket[block:block + _BLOCK]
                dist = np.bitwise_count(rows[:, None] ^ bucket[None, block:])  # upper triangle only
                ii, jj = np.nonzero(dist <= max_distance)
                ii, jj = ii + block, jj + block
                keep = ii < jj
                found_i.append(members[ii[keep]])
                found_j.append(members[jj[keep]])
    if not found_i:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    return np.concatenate(found_i), np.concatenate(found_j)


def near_groups(hashes: list[int], max_distance: int = DEFAULT_MAX_DISTANCE) -> list[list[int]]:
    """Group indexes of `hashes` (64-bit ints) whose Hamming distance is at most `max_distance` (transitively).

    Returns groups of two or more indexes, each sorted, largest group first.
    """
    if not 0 <= max_distance <= MAX_DISTANCE_LIMIT:
        raise InputError(f"--max-distance must be between 0 and {MAX_DISTANCE_LIMIT} (bits of a 64-bit hash)")
    if not hashes:
        return []
    values, inverse = np.unique(np.asarray(hashes, dtype=np.uint64), return_inverse=True)
    finder = _UnionFind(len(values))
    if max_distance > 0 and len(values) > 1:
        for a, b in zip(*_close_pairs(values, max_distance)):
            finder.union(int(a), int(b))
    groups: dict[int, list[int]] = {}
    for index, value_index in enumerate(inverse.tolist()):
        groups.setdefault(finder.find(value_index), []).append(index)
    result = [sorted(g) for g in groups.values() if len(g) > 1]
    result.sort(key=lambda g: (-len(g), g[0]))
    return result


async def _image_rows(store: Store, dataset: Dataset) -> list[DupeImage]:
    rows = await store.run(image_repo.readable_rows, dataset.id, "id, rel_path, width, height, size, sha256, phash")
    return [DupeImage(r["id"], r["rel_path"], r["width"], r["height"], r["size"], r["sha256"], r["phash"])
            for r in rows]


def group_images(images: list[DupeImage], max_distance: int = DEFAULT_MAX_DISTANCE) -> list[DupeGroup]:
    """Exact groups (same sha256), then near groups (phash) that hold at least two different files."""
    groups: list[DupeGroup] = []
    by_sha: dict[str, list[DupeImage]] = {}
    for image in images:
        if image.sha256:
            by_sha.setdefault(image.sha256, []).append(image)
    for members in by_sha.values():
        if len(members) > 1:
            groups.append(DupeGroup("exact", list(members)))
    hashed = [i for i in images if i.phash]
    for indexes in near_groups([int(i.phash, 16) for i in hashed], max_distance):
        members = [replace(hashed[k]) for k in indexes]
        if len({m.sha256 or m.rel_path for m in members}) < 2:
            continue  # one file copied: already an exact group
        first = int(members[0].phash, 16)
        for member in members:
            member.distance = (first ^ int(member.phash, 16)).bit_count()
        groups.append(DupeGroup("near", members))
    return groups


def video_near_pairs(signatures: list[tuple[int, ...]], max_distance: int) -> list[tuple[int, int]]:
    """Index pairs (i < j) of videos whose keyframe hashes are all within `max_distance` bits, place by place
    (signatures of another length than the first never match)."""
    if len(signatures) < 2:
        return []
    width = len(signatures[0])
    keep = [i for i, s in enumerate(signatures) if len(s) == width and width]
    values = np.asarray([signatures[i] for i in keep], dtype=np.uint64).reshape(len(keep), width)
    pairs = []
    for block in range(0, len(keep), _VIDEO_BLOCK):
        rows = values[block:block + _VIDEO_BLOCK]
        worst = np.bitwise_count(rows[:, None, :] ^ values[None, :, :]).max(axis=2)
        ii, jj = np.nonzero(worst <= max_distance)
        ii = ii + block
        pairs += [(keep[i], keep[j]) for i, j in zip(ii.tolist(), jj.tolist()) if i < j]
    return pairs


def group_videos(videos: list[tuple[DupeImage, tuple[int, ...]]], max_distance: int = DEFAULT_MAX_DISTANCE
                 ) -> list[DupeGroup]:
    """Near groups of videos (see the module docstring) holding at least two different files; a member's distance
    is its largest keyframe distance to the group's first video."""
    if not 0 <= max_distance <= MAX_DISTANCE_LIMIT:
        raise InputError(f"--max-distance must be between 0 and {MAX_DISTANCE_LIMIT} (bits of a 64-bit hash)")
    finder = _UnionFind(len(videos))
    for a, b in video_near_pairs([sig for _, sig in videos], max_distance):
        finder.union(a, b)
    members: dict[int, list[int]] = {}
    for index in range(len(videos)):
        members.setdefault(finder.find(index), []).append(index)
    groups = []
    for indexes in sorted((g for g in members.values() if len(g) > 1), key=lambda g: (-len(g), g[0])):
        found = [replace(videos[k][0]) for k in indexes]
        if len({m.sha256 or m.rel_path for m in found}) < 2:
            continue  # one file copied: already an exact group
        first = videos[indexes[0]][1]
        for member, k in zip(found, indexes):
            member.distance = max((a ^ b).bit_count() for a, b in zip(first, videos[k][1]))
        groups.append(DupeGroup("near", found))
    return groups


async def _video_rows(store: Store, dataset: Dataset) -> list[tuple[DupeImage, tuple[int, ...]]]:
    rows = await store.read(video_repo.video_rows, dataset.id)
    return [(DupeImage(r.id, r.rel_path, r.width, r.height, r.size, r.sha256, None),
             tuple(int(h, 16) for h in r.keyframe_hashes))
            for r in rows if r.status == "ok" and r.keyframe_hashes]


async def find_duplicates(store: Store, dataset: Dataset, max_distance: int = DEFAULT_MAX_DISTANCE
                          ) -> list[DupeGroup]:
    """Exact and near duplicate groups of a dataset's readable images and videos."""
    images = await _image_rows(store, dataset)
    return group_images(images, max_distance) + group_videos(await _video_rows(store, dataset), max_distance)
