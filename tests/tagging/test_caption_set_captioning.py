"""Captioning into a caption set (issue 17): `loratui caption NAME --set .caption` writes `.caption` sidecars
through the journal (skip-existing looks at that set) and leaves the `.txt` tags alone."""

from __future__ import annotations

from .test_caption import ChatServer, base_args, dataset, read, server  # noqa: F401  (fixtures)


def test_caption_into_a_new_set_leaves_txt_alone_and_undoes(cli, dataset, server):  # noqa: F811
    txt_before = {p.name: p.read_bytes() for p in dataset.rglob("*.txt")}
    result = cli(*base_args(server), "--set", ".caption", "--prompt", "describe", "--json")
    assert result.code == 0, result
    assert result.json()["written"] == 4  # the .caption set is empty: nothing to skip
    assert read(dataset, "a_red.caption").startswith("a red picture.")
    assert read(dataset, "d_red_captioned.caption").startswith("a red picture.")
    assert {p.name: p.read_bytes() for p in dataset.rglob("*.txt")} == txt_before
    sets = cli("captions", "sets", "ds", "--json").json()["sets"]
    assert {s["ext"]: s["files"] for s in sets} == {".txt": 1, ".caption": 4}
    again = cli(*base_args(server), "--set", ".caption", "--prompt", "describe", "--json", "--fresh")
    assert again.json()["skipped_existing"] == 4
    assert cli("tags", "ds", "undo").code == 0
    assert not list(dataset.rglob("*.caption"))
