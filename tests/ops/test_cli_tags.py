"""`loratui tags ...` end to end through the CLI on real files."""

import pytest

from .conftest import CAPTIONS, caption


@pytest.fixture
def registered(cli, dataset_dir):
    result = cli("dataset", "add", dataset_dir, "--name", "ds", "--workers", "1")
    assert result.code == 0, result
    return dataset_dir


def test_dry_run_prints_count_and_sample_and_writes_nothing(cli, registered):
    result = cli("tags", "ds", "add", "ohwx", "--position", "start", "--dry-run")
    assert result.code == 0, result
    assert "4 of 4 selected captions would change" in result.err
    assert "10_char/a.png: +ohwx" in result.out
    assert all(caption(registered, r) == CAPTIONS[r] for r in CAPTIONS)
    data = cli("tags", "ds", "remove", "solo", "--dry-run", "--json", "--sample", "1").json()
    assert data["would_change"] == 3 and len(data["sample"]) == 1 and data["sample"][0]["removed"] == ["solo"]


def test_apply_history_undo_redo(cli, registered):
    assert cli("tags", "ds", "merge", "1girl", "2girls", "--into", "girl", "--where", "tag:red hair").code == 0
    assert caption(registered, "10_char/c.png") == "girl, red hair, blue hair"
    assert caption(registered, "10_char/b.png") == CAPTIONS["10_char/b.png"]  # not selected
    assert cli("tags", "ds", "sort", "--keep", "1").code == 0
    history = cli("tags", "ds", "history", "--json").json()
    assert [h["kind"] for h in history] == ["sort", "merge"]
    undo = cli("tags", "ds", "undo", "--json").json()
    assert undo["description"].startswith("sort")
    assert cli("tags", "ds", "undo").code == 0
    assert all(caption(registered, r) == CAPTIONS[r] for r in CAPTIONS)
    assert cli("tags", "ds", "redo").code == 0
    assert caption(registered, "10_char/c.png") == "girl, red hair, blue hair"
    listed = cli("tags", "ds", "list", "--json").json()
    assert {"tag": "girl", "count": 2} in listed
    assert cli("tags", "ds", "list", "--json", "--where", "subset:5_style").json() == [
        {"tag": "landscape", "count": 1}, {"tag": "sky", "count": 1}, {"tag": "solo", "count": 1}]


def test_bad_input_is_one_line_exit_2(cli, registered):
    bad_regex = cli("tags", "ds", "replace", "([a-z]", "x", "--regex")
    assert bad_regex.code == 2 and "does not compile" in bad_regex.err and bad_regex.err.count("\n") == 1
    bad_query = cli("tags", "ds", "remove", "solo", "--where", "tags>>3")
    assert bad_query.code == 2 and "position 6" in bad_query.err
    assert cli("tags", "ds", "undo").code == 2  # nothing to undo
    assert cli("tags", "nope", "dedupe").code == 2
    assert cli("tags", "ds", "add", "x", "--position", "middle").code == 2
    assert all(caption(registered, r) == CAPTIONS[r] for r in CAPTIONS)


def test_undo_conflict_message_and_skip(cli, registered):
    assert cli("tags", "ds", "add", "ohwx").code == 0
    (registered / "10_char/a.txt").write_text("hand edit")
    refused = cli("tags", "ds", "undo")
    assert refused.code == 2 and "changed outside loratui" in refused.err and "10_char/a.txt" in refused.err
    assert cli("tags", "ds", "undo", "--skip-changed").code == 0
    assert caption(registered, "10_char/a.png") == "hand edit"
    assert caption(registered, "10_char/b.png") == CAPTIONS["10_char/b.png"]
