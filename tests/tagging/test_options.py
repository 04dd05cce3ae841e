"""Scores -> tags: thresholds, exclusions, replacements, underscores, ordering, ratings; caption merge modes."""

from __future__ import annotations

import pytest

from loratui.errors import InputError
from loratui.tagging.labels import Labels, read_labels
from loratui.tagging.modes import Mode, merge_caption, merge_tags, parse_mode
from loratui.tagging.options import TagNamer, TagOptions, parse_replacements

LABELS = Labels(
    names=("general", "sensitive", "questionable", "explicit", "long_hair", "^_^", "solo", "blue_eyes",
           "hatsune_miku_(vocaloid)", "rem_(re:zero)"),
    categories=(9, 9, 9, 9, 0, 0, 0, 0, 4, 4),
)
SCORES = {0: 0.2, 1: 0.7, 2: 0.05, 3: 0.01, 4: 0.9, 5: 0.5, 6: 0.36, 7: 0.2, 8: 0.8, 9: 0.6}


def select(**kwargs):
    return TagNamer(LABELS, TagOptions(**kwargs)).select(SCORES)


def test_thresholds_per_category():
    assert select() == ["long_hair", "^_^", "solo", "hatsune_miku_(vocaloid)", "rem_(re:zero)"]
    assert select(general_threshold=0.6, character_threshold=0.7) == ["long_hair", "hatsune_miku_(vocaloid)"]
    assert select(character_threshold=1.01) == ["long_hair", "^_^", "solo"]
    assert select(general_threshold=0.36) == ["long_hair", "^_^", "solo", "hatsune_miku_(vocaloid)", "rem_(re:zero)"]
    assert "solo" not in select(general_threshold=0.3601)


def test_rating_first_or_last_uses_the_best_rating():
    assert select(rating="first")[0] == "sensitive"
    assert select(rating="last")[-1] == "sensitive"
    assert "sensitive" not in select()


def test_exclude_matches_with_or_without_underscores():
    assert "long_hair" not in select(exclude=("long_hair",))
    assert "long hair" not in select(exclude=("long hair",), remove_underscore=True)
    assert "long_hair" not in select(exclude=("long hair",))
    assert "long hair" not in select(exclude=("long_hair",), remove_underscore=True)


def test_underscores_only_for_tags_longer_than_three():
    tags = select(remove_underscore=True)
    assert "long hair" in tags and "^_^" in tags and "hatsune miku (vocaloid)" in tags


def test_replacements_work_and_can_drop():
    tags = select(replacements=(("long_hair", "very_long_hair"), ("solo", "")))
    assert tags[0] == "very_long_hair" and "solo" not in tags and "long_hair" not in tags
    # matched on the final (space) form or the raw form
    assert "very long hair" in select(remove_underscore=True, replacements=(("long hair", "very long hair"),))
    assert "x" in select(remove_underscore=True, replacements=(("long_hair", "x"),))


def test_replacement_creating_a_duplicate_is_written_once():
    assert select(replacements=(("solo", "long_hair"),)).count("long_hair") == 1


def test_character_first_and_expand_and_always_first():
    assert select(character_first=True)[:2] == ["hatsune_miku_(vocaloid)", "rem_(re:zero)"]
    assert select(character_expand=True)[-4:] == ["hatsune_miku", "vocaloid", "rem", "re:zero"]
    assert select(always_first=("solo", "^_^"))[:3] == ["solo", "^_^", "long_hair"]
    assert select(always_first=("absent",))[0] == "long_hair"
    assert select(rating="first", always_first=("solo",))[:2] == ["solo", "sensitive"]


def test_option_validation():
    with pytest.raises(InputError):
        TagOptions(general_threshold=-0.1)
    with pytest.raises(InputError):
        TagOptions(rating="middle")
    with pytest.raises(InputError):
        TagOptions(separator="  ")
    assert parse_replacements(["a=b", "x\\=y=z", "drop="]) == (("a", "b"), ("x=y", "z"), ("drop", ""))
    for bad in ["nothing", "a=b=c", "=b"]:
        with pytest.raises(InputError):
            parse_replacements([bad])


def test_merge_modes():
    assert merge_tags(None, ["a", "b"], Mode.SKIP_EXISTING) == "a, b"
    assert merge_tags("  ", ["a"], Mode.SKIP_EXISTING) == "a"
    assert merge_tags("x, y", ["a"], Mode.SKIP_EXISTING) is None
    assert merge_tags("x, y", ["a"], Mode.OVERWRITE) == "a"
    assert merge_tags("x, a,y", ["a", "b"], Mode.APPEND) == "x, a, y, b"
    assert merge_tags("x|y", ["y", "z"], Mode.APPEND, separator=" | ") == "x | y | z"
    assert merge_caption("tag1, tag2", "A photo.", Mode.PREPEND) == "A photo., tag1, tag2"
    assert merge_caption("tag1", "A photo.", Mode.APPEND) == "tag1, A photo."
    assert merge_caption("tag1", "A photo.", Mode.SKIP_EXISTING) is None
    assert merge_caption(None, " A photo. ", Mode.SKIP_EXISTING) == "A photo."
    assert merge_caption("A photo., tag1", "A photo.", Mode.PREPEND) == "A photo., tag1"
    with pytest.raises(InputError):
        parse_mode("prepend", (Mode.OVERWRITE,))


def test_read_labels_checks_the_format(tmp_path, wd14_model):
    labels = read_labels(wd14_model / "selected_tags.csv")
    assert labels.names[:2] == ("general", "sensitive") and labels.indices(9) == [0, 1, 2, 3]
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,c\n1,x,0\n", encoding="utf-8")
    from loratui.errors import ModelError

    with pytest.raises(ModelError, match="not a WD14 selected_tags.csv"):
        read_labels(bad)
    with pytest.raises(ModelError, match="missing"):
        read_labels(tmp_path / "nope.csv")
