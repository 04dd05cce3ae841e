"""Keep the winner of a sweep: manifest + library mark, other checkpoints trashed (undo restores them byte for
byte, also after an interrupted trash) or deleted (only after a confirmation), through the core and the CLI."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import pytest

from loratui.config import Context
from loratui.errors import LoratuiError
from loratui.loras import lora_repo, sweep_keep, sweep_manifest, sweep_trash
from loratui.store import Store
from tests.sweepfolder import make_sweep


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.safetensors"))}


def _run(home, coro_fn):
    async def go():
        async with Store.open(Context.load(home).paths.db) as store:
            return await coro_fn(store)

    return asyncio.run(go())


def test_keep_marks_the_library_and_trash_undo_restores_byte_identical(tmp_path, home):
    folder = tmp_path / "sweep"
    make_sweep(folder)
    run = tmp_path / "run"
    before = _digests(run)
    stats = {p.name: p.stat().st_mtime_ns for p in run.glob("*.safetensors")}

    result = _run(home, lambda store: sweep_keep.keep(store, folder, "e4", "trash"))
    assert sweep_manifest.load(folder).chosen == "e4"
    assert _digests(run) == {"mychar-000004.safetensors": before["mychar-000004.safetensors"]}
    assert len(result.trash.files) == 2 and Path(result.trash.folder).parent == run / ".trash"
    records = _run(home, lambda store: store.run(lora_repo.list_all))
    assert [(Path(r.path).name, r.sweep_folder) for r in records] == [("mychar-000004.safetensors", str(folder))]
    assert records[0].chosen_at is not None

    report = _run(home, lambda store: sweep_keep.undo_trash(store, folder))
    assert sorted(Path(p).name for p in report.restored) == ["mychar-000002.safetensors", "mychar-000006.safetensors"]
    assert _digests(run) == before
    assert {p.name: p.stat().st_mtime_ns for p in run.glob("*.safetensors")} == stats
    assert sweep_trash.read_journal(result.trash.folder).state == "undone"
    assert len(_run(home, lambda store: store.run(lora_repo.list_all))) == 3  # restored files indexed again
    with pytest.raises(LoratuiError, match="no trash operation"):
        sweep_keep.resolve_trash(folder)


def test_choosing_again_moves_the_library_mark(tmp_path, home):
    folder = tmp_path / "sweep"
    make_sweep(folder)
    _run(home, lambda store: sweep_keep.keep(store, folder, "e2"))
    _run(home, lambda store: sweep_keep.keep(store, folder, "e6"))
    chosen = _run(home, lambda store: store.run(lora_repo.chosen_in, str(folder)))
    assert Path(chosen.path).name == "mychar-000006.safetensors"
    marks = [r for r in _run(home, lambda store: store.run(lora_repo.list_all)) if r.chosen_at is not None]
    assert len(marks) == 1 and len(_digests(tmp_path / "run")) == 3  # "keep" leaves the other files alone


def test_baseline_and_missing_checkpoints_are_refused(tmp_path):
    folder = tmp_path / "sweep"
    manifest = make_sweep(folder)
    with pytest.raises(LoratuiError, match="baseline"):
        sweep_keep.plan_keep(manifest, sweep_manifest.BASELINE_KEY)
    (tmp_path / "run" / "mychar-000002.safetensors").unlink()
    with pytest.raises(LoratuiError, match="not on disk"):
        sweep_keep.plan_keep(manifest, "e2")
    plan = sweep_keep.plan_keep(manifest, "e4")
    assert [p.name for p in plan.others] == ["mychar-000006.safetensors"] and len(plan.missing) == 1


def test_strength_rows_of_one_file_are_one_checkpoint(tmp_path):
    manifest = make_sweep(tmp_path / "sweep", strengths=(0.5, 1.0))
    plan = sweep_keep.plan_keep(manifest, "e4-s0.5")
    assert sorted(p.name for p in plan.others) == ["mychar-000002.safetensors", "mychar-000006.safetensors"]


def test_an_interrupted_trash_is_undone_from_its_journal(tmp_path):
    files = []
    for name in ("a.safetensors", "b.safetensors", "c.safetensors"):
        path = tmp_path / "run" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(name.encode() * 1000)
        files.append(path)
    op = sweep_trash.trash_files(files, sweep=str(tmp_path / "sweep"), chosen="x", reason="test")
    # Simulate a kill -9 after the second rename, before the journal recorded it: the journal says pending.
    journal = json.loads((Path(op.folder) / "journal.json").read_text())
    journal["state"] = "pending"
    journal["files"][1]["state"] = "pending"
    journal["files"][2]["state"] = "pending"
    Path(journal["files"][2]["trashed"]).rename(journal["files"][2]["original"])  # the third never moved
    (Path(op.folder) / "journal.json").write_text(json.dumps(journal))
    report = sweep_trash.undo(op.folder)
    assert sorted(Path(p).name for p in report.restored) == ["a.safetensors", "b.safetensors"]
    assert report.skipped == []
    assert [p.read_bytes() for p in files] == [p.name.encode() * 1000 for p in files]


def test_undo_leaves_a_file_whose_name_was_taken(tmp_path):
    path = tmp_path / "run" / "a.safetensors"
    path.parent.mkdir()
    path.write_bytes(b"old")
    op = sweep_trash.trash_files([path], sweep="s", chosen="x", reason="test")
    path.write_bytes(b"new file with the same name")
    report = sweep_trash.undo(op.folder)
    assert report.restored == [] and report.skipped == [(str(path), "another file now has its name")]
    assert path.read_bytes() == b"new file with the same name"
    assert Path(op.files[0].trashed).read_bytes() == b"old"


def test_cli_keep_trash_undo_and_delete_needs_confirmation(cli, tmp_path):
    folder = tmp_path / "sweep"
    make_sweep(folder)
    run = tmp_path / "run"
    before = _digests(run)
    refused = cli("lora", "keep", folder, "e6", "--delete-others")
    assert refused.code == 2 and "confirmation" in refused.err
    assert _digests(run) == before and sweep_manifest.load(folder).chosen is None

    kept = cli("lora", "keep", folder, "e6", "--trash-others", "--json")
    assert kept.code == 0, kept
    data = kept.json()
    assert data["row"] == "e6" and len(data["other_files"]) == 2 and data["trash"]
    listed = cli("lora", "trash-undo", folder, "--list", "--json").json()
    assert [op["state"] for op in listed] == ["done"]
    undone = cli("lora", "trash-undo", folder, "--json")
    assert undone.code == 0 and len(undone.json()["restored"]) == 2
    assert _digests(run) == before

    deleted = cli("lora", "keep", folder, "e2", "--delete-others", "--yes", "--json").json()
    assert sorted(Path(p).name for p in deleted["deleted"]) == ["mychar-000004.safetensors",
                                                                 "mychar-000006.safetensors"]
    assert list(_digests(run)) == ["mychar-000002.safetensors"]
    assert cli("lora", "keep", folder, "baseline").code == 2
