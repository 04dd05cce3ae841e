"""Keep the index of image pairs current: part of every scan (``datasets.scan`` calls ``update_pairs``).

The walk (``datasets.walk``) lists each subset's control folder; here the new or changed control files are probed
(through ``fsutil.open_regular``, like every dataset file: a control linked outside the dataset, a FIFO or a damaged
file is a broken control with the reason, never read), stored, and every subset with a control folder is paired
again with ``pairs.pair_by_stem``. Pairing is pure Python over names and sizes already in the index, so it runs in
full on every scan; only what changed is written, and the targets whose pair changed are logged (``what='pairs'``)
so the TUI's preview and the image list follow.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import AsyncIterator, Callable

from loratui.datasets import pair_repo
from loratui.datasets.buckets import raw_size
from loratui.datasets.pair_repo import ControlPairing
from loratui.datasets.pairs import ControlOptions, musubi_reads, pair_by_stem, size_note, stem, target_status
from loratui.datasets.walk import ControlFolder, FileEntry
from loratui.store import Store

ProbeFiles = Callable[[list[FileEntry]], AsyncIterator[list[dict]]]
"""Probes files in the scan's executor, yielding ``probe.probe_image`` results a batch at a time (in any order)."""
WRITE_EVERY = 400
"""Probed control images are stored this many at a time (each result holds a thumbnail)."""


@dataclass
class PairReport:
    """What the pair scan found."""

    folders: int = 0
    controls: int = 0
    probed: int = 0
    targets: int = 0
    problems: int = 0
    """Targets with a pair problem plus control files with one."""
    warnings: list[str] = field(default_factory=list)


def _parent(rel_path: str) -> str:
    return rel_path.rpartition("/")[0]


def _name(rel_path: str) -> str:
    return rel_path.rpartition("/")[2]


async def update_pairs(store: Store, dataset_id: int, folders: list[ControlFolder], probe: ProbeFiles) -> PairReport:
    """Index the control folders the walk found and pair every subset that has one."""
    report = PairReport(folders=len(folders))
    found = {f.subset_rel: f.rel_path for f in folders if f.source == "found"}
    await store.run(pair_repo.sync_found_folders, dataset_id, found)

    known = await store.run(pair_repo.control_scan_state, dataset_id)
    listed: dict[str, tuple[FileEntry, str]] = {}
    for folder in folders:
        for entry in folder.files:
            listed[entry.rel_path] = (entry, folder.subset_rel)
    to_probe, moved, touched_paths = [], {}, set()
    for rel, (entry, subset) in listed.items():
        row = known.get(rel)
        if row is None or row["size"] != entry.size or row["mtime_ns"] != entry.mtime_ns:
            to_probe.append(entry)
            touched_paths.add(rel)
        elif row["subset_path"] != subset:
            moved[rel] = subset
    gone = [row["id"] for rel, row in known.items() if rel not in listed]
    rows = [{"rel_path": e.rel_path, "size": e.size, "mtime_ns": e.mtime_ns, "subset_path": listed[e.rel_path][1],
             "status": "broken", "orientation": 1,
             "reason": f"symlink pointing outside the dataset ({e.outside_link}): not followed"}
            for e in to_probe if e.outside_link is not None]
    if rows or moved or gone:
        await store.run(pair_repo.write_controls, dataset_id, rows, moved, gone)
    report.probed = len(rows)
    pending: list[dict] = []
    async for results in probe([e for e in to_probe if e.outside_link is None]):
        pending += [{**result, "subset_path": listed[result["rel_path"]][1]} for result in results]
        if len(pending) >= WRITE_EVERY:
            await store.run(pair_repo.write_controls, dataset_id, pending, {}, [])
            report.probed, pending = report.probed + len(pending), []
    if pending:
        await store.run(pair_repo.write_controls, dataset_id, pending, {}, [])
        report.probed += len(pending)
    report.controls = len(listed)

    settings = {row.subset_path: row for row in await store.run(pair_repo.control_folders, dataset_id)}
    walked = {f.subset_rel: f for f in folders}
    active = {subset: walked.get(subset) for subset, row in settings.items() if row.source != "off"}
    targets = await store.run(pair_repo.pairing_targets, dataset_id, list(active))
    controls = await store.run(pair_repo.pairing_controls, dataset_id)
    pairings, pairs = compute_pairs(active, settings, targets, controls)
    changed_ids = {c["id"] for c in controls if c["rel_path"] in touched_paths}
    touched = {p.target_id for p in pairings if p.target_id is not None and p.control_id in changed_ids}
    await store.run(pair_repo.write_pairs, dataset_id, pairings, pairs, touched)
    report.targets = len(pairs)
    report.problems = sum(1 for row in pairs.values() if row[1] != "ok") + sum(
        1 for p in pairings if p.problem in ("extra", "broken") and p.target_id is None)
    return report


def compute_pairs(active: dict[str, ControlFolder | None], settings: dict, targets: list, controls: list
                  ) -> tuple[list[ControlPairing], dict[int, tuple[int, str, str | None]]]:
    """Pair every subset in `active` (subset -> its walked control folder, None when the walk did not see it).

    `settings`: subset -> ``ControlFolderRow``; `targets`: rows of ``pair_repo.pairing_targets``; `controls`: rows of
    ``pair_repo.pairing_controls``. Returns each control's pairing and each target's (controls, status, detail).
    """
    by_subset_targets: dict[str, list] = {}
    for row in targets:
        by_subset_targets.setdefault(_parent(row["rel_path"]), []).append(row)
    by_subset_controls: dict[str, list] = {}
    for row in controls:
        by_subset_controls.setdefault(row["subset_path"], []).append(row)
    pairings: list[ControlPairing] = []
    pairs: dict[int, tuple[int, str, str | None]] = {}
    for subset, folder in active.items():
        row = settings[subset]
        options = row.options
        subset_targets = [t for t in by_subset_targets.get(subset, []) if musubi_reads(_name(t["rel_path"]))]
        subset_controls = by_subset_controls.get(subset, [])
        if folder is None or folder.missing:
            where = row.control_path or "?"
            for target in subset_targets:
                pairs[target["id"]] = (0, "missing", f"the control folder {where} does not exist")
            continue
        _pair_folder(folder.rel_path, subset, options, subset_targets, subset_controls, pairings, pairs)
    seen = {p.control_id for p in pairings}
    for row in controls:  # controls of subsets turned off or gone: kept, but not paired
        if row["id"] not in seen:
            pairings.append(ControlPairing(row["id"], None, None, "extra",
                                           "its subset has no control folder now (rescan or set it again)"))
    return pairings, pairs


def _pair_folder(folder: str, subset: str, options: ControlOptions, targets: list, controls: list,
                 pairings: list[ControlPairing], pairs: dict) -> None:
    by_name_target = {_name(t["rel_path"]): t for t in targets}
    by_name_control = {_name(c["rel_path"]): c for c in controls}
    readable = [name for name in by_name_control if musubi_reads(name)]
    pairing = pair_by_stem(by_name_target, readable)
    shown_subset = subset or "."
    for name in sorted(by_name_control):
        if not musubi_reads(name):
            extension = os.path.splitext(name)[1]
            pairings.append(ControlPairing(by_name_control[name]["id"], None, None, "extra",
                                           f"musubi-tuner does not read {extension} files"))
    for name in pairing.extra:
        pairings.append(ControlPairing(by_name_control[name]["id"], None, None, "extra",
                                       f"no image in {shown_subset} takes it ({_wanted_target(name)})"))
    for target_name, target in by_name_target.items():
        statuses, details = [], []
        for name in pairing.bad_names.get(target_name, []):
            suffix = stem(name)[len(stem(target_name)):]
            detail = (f"{name} is named like a control of {target_name} but {suffix!r} is not _NUMBER: musubi-tuner "
                      f"stops (Invalid digits suffix); rename it {stem(target_name)}_0{os.path.splitext(name)[1]}")
            pairings.append(ControlPairing(by_name_control[name]["id"], target["id"], None, "bad_name", detail))
            statuses.append("bad_name")
            details.append(detail)
        tied = set(pairing.ambiguous.get(target_name, []))
        names = pairing.controls.get(target_name, [])
        target_raw = _raw(target)
        for position, name in enumerate(names):
            control = by_name_control[name]
            problem, detail = None, None
            if control["status"] == "broken":
                problem, detail = "broken", f"{name}: {control['reason'] or 'unreadable'}"
            elif name in tied:
                problem = "ambiguous"
                detail = (f"{', '.join(sorted(tied))} take the same place among the controls of {target_name}: "
                          "musubi-tuner orders them by chance; rename one")
            elif target_raw is not None and _raw(control) is not None:
                mismatched, detail = size_note(target_raw, _raw(control), options)
                problem = "mismatch" if mismatched else None
            pairings.append(ControlPairing(control["id"], target["id"], position, problem, detail))
            if problem:
                statuses.append(problem)
                details.append(detail if problem != "broken" else f"control {detail}")
        if not names and target_name not in pairing.bad_names:
            target_stem = stem(target_name)
            statuses.append("missing")
            details.append(f"no control image named {target_stem}.* or {target_stem}_N.* in {folder}")
        status = target_status(statuses)
        first = next((d for s, d in zip(statuses, details) if s == status), None)
        pairs[target["id"]] = (len(names), status, first)


def _wanted_target(control_name: str) -> str:
    """Which target name would take a control: 'a.*' for a.png, 'a.* or a_1.*' for a_1.png."""
    control_stem = stem(control_name)
    base, _, suffix = control_stem.rpartition("_")
    if base and suffix.isdigit():
        return f"it pairs with an image named {base}.* or {control_stem}.*"
    return f"it pairs with an image named {control_stem}.*"


def _raw(row) -> tuple[int, int] | None:
    if row["status"] != "ok" or not row["width"] or not row["height"]:
        return None
    return raw_size(row["width"], row["height"], row["orientation"])
