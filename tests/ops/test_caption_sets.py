"""Caption sets (issue 17): several sidecars per image (`.txt` tags, `.caption` prose), indexed, edited through the
journal per set, copied, exported and listed, with the primary `.txt` set left exactly as it was."""

from __future__ import annotations

import json
import zipfile

import pytest

from loratui.datasets import batch, caption_set_repo, caption_sets, dataset_repo, history, journal
from loratui.datasets.service import rescan_dataset
from loratui.errors import InputError

from .conftest import CAPTIONS, caption

PROSE = {
    "10_char/a.png": "A girl with red hair smiles.",
    "10_char/b.png": "A girl with blue hair looks at the viewer.",
}
LATIN1 = "Une fille \u00e0 la plage, caf\u00e9, cr\u00e8me"


def add_prose(root):
    for rel, text in PROSE.items():
        (root / rel).with_suffix(".caption").write_text(text, encoding="utf-8")
    (root / "5_style/d.caption").write_bytes(LATIN1.encode("cp1252"))  # not UTF-8
    (root / "10_char/gone.caption").write_text("an orphan: its image was deleted", encoding="utf-8")


@pytest.fixture
def prose_dir(dataset_dir):
    add_prose(dataset_dir)
    return dataset_dir


@pytest.fixture
async def two_sets(db_path, prose_dir):
    from loratui.datasets.service import add_dataset
    from loratui.store import Store

    async with Store.open(db_path) as store:
        dataset, report = await add_dataset(store, prose_dir, name="ds", workers=1)
        yield store, dataset, report


async def set_rows(store, dataset, ext):
    ids = list((await store.run(caption_set_repo.image_ids, dataset.id)).values())
    return {row.rel_path: row for row in (await store.run(caption_set_repo.caption_rows, dataset.id, ids,
                                                          ext)).values()}


async def test_scan_finds_and_indexes_a_second_set(two_sets, prose_dir):
    store, dataset, report = two_sets
    assert report.caption_sets == [".caption"]
    sets = {s.ext: s for s in await caption_sets.list_sets(store, dataset)}
    assert sets[".txt"].primary and sets[".txt"].files == 4
    assert sets[".caption"].source == "found" and sets[".caption"].files == 3 and sets[".caption"].missing == 1
    rows = await set_rows(store, dataset, ".caption")
    assert rows["10_char/a.png"].caption == PROSE["10_char/a.png"]
    assert rows["5_style/d.png"].caption == LATIN1  # decoded from cp1252, kept in its encoding on write
    assert rows["10_char/c.png"].caption is None and rows["10_char/c.png"].caption_size is None
    # the primary set is untouched by the second one
    primary = await set_rows(store, dataset, None)
    assert {rel: row.caption for rel, row in primary.items()} == CAPTIONS
    assert report.orphan_captions == 1
    orphans = await store.run(dataset_repo.orphan_captions, dataset.id)
    assert [o["path"] for o in orphans] == ["10_char/gone.caption"]  # no image beside it: listed, not indexed


async def test_rescan_picks_up_outside_edits_and_removals(two_sets, prose_dir):
    store, dataset, _ = two_sets
    (prose_dir / "10_char/a.caption").write_text("edited outside, longer than before", encoding="utf-8")
    (prose_dir / "10_char/b.caption").unlink()
    report = await rescan_dataset(store, "ds", workers=1)
    assert report.set_captions_changed == 2
    rows = await set_rows(store, dataset, ".caption")
    assert rows["10_char/a.png"].caption == "edited outside, longer than before"
    assert rows["10_char/b.png"].caption_size is None
    again = await rescan_dataset(store, "ds", workers=1)
    assert again.set_captions_changed == 0


async def test_tag_op_on_caption_set_leaves_txt_alone_and_undo_restores_bytes(two_sets, prose_dir):
    store, dataset, _ = two_sets
    txt_before = {rel: (prose_dir / rel).with_suffix(".txt").read_bytes() for rel in CAPTIONS}
    cap_before = {p.name: p.read_bytes() for p in prose_dir.rglob("*.caption")}
    freq_before = await batch.tag_frequency(store, dataset, caption_set=".caption")
    preview, result = await batch.apply_operation(store, dataset, {"op": "add", "tag": "ohwx", "position": "start"},
                                                  caption_set=".caption")
    assert result.changed == 4  # as for .txt, adding a tag creates the missing c.caption
    assert (prose_dir / "10_char/c.caption").read_text() == "ohwx"
    assert (prose_dir / "10_char/a.caption").read_text() == "ohwx, A girl with red hair smiles."
    assert (prose_dir / "5_style/d.caption").read_bytes() == ("ohwx, " + LATIN1).encode("cp1252")
    assert {rel: (prose_dir / rel).with_suffix(".txt").read_bytes() for rel in CAPTIONS} == txt_before
    freq = await batch.tag_frequency(store, dataset, caption_set=".caption")
    assert freq["ohwx"] == 4 and "solo" not in freq
    assert (await batch.tag_frequency(store, dataset))["ohwx"] == 0
    # search over the set
    assert len(await store.run(caption_set_repo.select_ids, dataset.id, "tag:ohwx", None, ".caption")) == 4
    assert await store.run(caption_set_repo.select_ids, dataset.id, "tag:ohwx", None, None) == []
    undone = await history.undo(store, dataset)
    assert undone.changed == 4 and not undone.failures
    assert {p.name: p.read_bytes() for p in prose_dir.rglob("*.caption")} == cap_before
    assert {rel: (prose_dir / rel).with_suffix(".txt").read_bytes() for rel in CAPTIONS} == txt_before
    rows = await set_rows(store, dataset, ".caption")
    assert rows["5_style/d.png"].caption == LATIN1
    assert await batch.tag_frequency(store, dataset, caption_set=".caption") == freq_before  # tag rows follow
    await history.redo(store, dataset)
    assert (prose_dir / "10_char/a.caption").read_text() == "ohwx, A girl with red hair smiles."


async def test_save_caption_in_a_set_creates_the_sidecar_and_undo_removes_it(two_sets, prose_dir):
    store, dataset, _ = two_sets
    ids = await store.run(caption_set_repo.image_ids, dataset.id)
    await journal.save_caption(store, dataset, ids["10_char/c.png"], "Two girls.", expected_sha256=None,
                               caption_set=".caption")
    assert (prose_dir / "10_char/c.caption").read_text() == "Two girls."
    assert caption(prose_dir, "10_char/c.png") == CAPTIONS["10_char/c.png"]
    await history.undo(store, dataset)
    assert not (prose_dir / "10_char/c.caption").exists()


async def test_copy_set_seeds_missing_captions_only(two_sets, prose_dir):
    store, dataset, _ = two_sets
    preview = await batch.preview_copy(store, dataset, None, ".caption")
    assert [c.rel_path for c in preview.changes] == ["10_char/c.png"]
    assert len(preview.skipped) == 3  # those already have prose
    result = await batch.apply_preview(store, dataset, preview)
    assert result.changed == 1
    assert (prose_dir / "10_char/c.caption").read_text() == CAPTIONS["10_char/c.png"]
    over = await batch.preview_copy(store, dataset, None, ".caption", overwrite=True)
    assert len(over.changes) == 3
    await history.undo(store, dataset)
    assert not (prose_dir / "10_char/c.caption").exists()


def test_cli_sets_add_copy_list_and_tags_set(cli, dataset_dir):
    assert cli("dataset", "add", dataset_dir, "--name", "ds", "--workers", "1").code == 0
    listed = cli("captions", "sets", "ds", "--json").json()
    assert [s["ext"] for s in listed["sets"]] == [".txt"]
    (dataset_dir / "10_char/a.desc").write_text("a prose line", encoding="utf-8")
    added = cli("captions", "sets", "ds", "--add", "desc", "--json").json()
    desc = next(s for s in added["sets"] if s["ext"] == ".desc")
    assert desc["source"] == "added" and desc["files"] == 1 and desc["missing"] == 3
    copied = cli("captions", "copy", "ds", "--from", ".txt", "--to", ".desc", "--json").json()
    assert copied["changed"] == 3 and (dataset_dir / "10_char/b.desc").read_text() == CAPTIONS["10_char/b.png"]
    assert (dataset_dir / "10_char/a.desc").read_text() == "a prose line"
    result = cli("tags", "ds", "remove", "solo", "--set", ".desc", "--json").json()
    assert result["caption_set"] == ".desc" and result["changed"] == 2
    assert caption(dataset_dir, "10_char/b.png") == CAPTIONS["10_char/b.png"]
    assert {"tag": "solo", "count": 3} in cli("tags", "ds", "list", "--json").json()
    assert not any(t["tag"] == "solo" for t in cli("tags", "ds", "list", "--set", ".desc", "--json").json())
    unknown = cli("tags", "ds", "dedupe", "--set", ".nope")
    assert unknown.code == 2 and "no caption set '.nope'" in unknown.err
    bad = cli("captions", "sets", "ds", "--add", ".png")
    assert bad.code == 2 and "image extension" in bad.err
    assert cli("tags", "ds", "undo").code == 0 and cli("tags", "ds", "undo").code == 0
    assert not (dataset_dir / "10_char/b.desc").exists()


async def test_export_per_set_kohya_and_hf(two_sets, prose_dir, tmp_path):
    from loratui.datasets.export import export_dataset

    store, dataset, _ = two_sets
    only_prose = await export_dataset(store, dataset, tmp_path / "k1", sets=[".caption"])
    assert only_prose.images == 4 and only_prose.captions == 3
    assert (tmp_path / "k1/10_char/a.caption").read_text() == PROSE["10_char/a.png"]
    assert (tmp_path / "k1/5_style/d.caption").read_bytes() == LATIN1.encode("cp1252")  # bytes as on disk
    assert not list((tmp_path / "k1").rglob("*.txt"))
    both = await export_dataset(store, dataset, tmp_path / "k2", sets=[".txt", ".caption"])
    assert both.captions == 7 and (tmp_path / "k2/10_char/a.txt").read_text() == CAPTIONS["10_char/a.png"]
    await export_dataset(store, dataset, tmp_path / "hf.zip", layout="hf", sets=[".caption", ".txt"])
    with zipfile.ZipFile(tmp_path / "hf.zip") as archive:
        lines = [json.loads(line) for line in archive.read("metadata.jsonl").decode().splitlines()]
    first = next(line for line in lines if line["file_name"] == "10_char/a.png")
    assert first == {"file_name": "10_char/a.png", "text": PROSE["10_char/a.png"], "txt": CAPTIONS["10_char/a.png"]}
    from loratui.datasets.export import _column

    assert [_column(e) for e in (".caption", ".tags.txt", ".text")] == ["caption", "tags_txt", "text_set"]
    with pytest.raises(InputError, match="no caption set"):
        await export_dataset(store, dataset, tmp_path / "k3", sets=[".nope"])


async def test_moving_duplicates_takes_every_sets_sidecar_and_undo_brings_it_back(two_sets, prose_dir):
    store, dataset, _ = two_sets
    ids = await store.run(caption_set_repo.image_ids, dataset.id)
    await journal.move_images(store, dataset, [ids["10_char/a.png"]])
    assert (prose_dir / "_duplicates/10_char/a.caption").read_text() == PROSE["10_char/a.png"]
    assert (prose_dir / "_duplicates/10_char/a.txt").exists() and not (prose_dir / "10_char/a.caption").exists()
    await history.undo(store, dataset)
    assert (prose_dir / "10_char/a.caption").read_text() == PROSE["10_char/a.png"]
    rows = await set_rows(store, dataset, ".caption")
    assert rows["10_char/a.png"].caption == PROSE["10_char/a.png"]


def test_dataset_show_lists_the_sets(cli, prose_dir):
    assert cli("dataset", "add", prose_dir, "--name", "ds", "--workers", "1").code == 0
    shown = cli("dataset", "show", "ds")
    assert "caption sets: .txt 4 files (0 missing), .caption 3 files (1 missing)" in shown.out
    sets = cli("dataset", "show", "ds", "--json").json()["caption_sets"]
    assert [(s["ext"], s["primary"], s["files"]) for s in sets] == [(".txt", True, 4), (".caption", False, 3)]
