"""Caption prompt templates: built-ins render completely, user files load and are checked, lengths parse."""

from __future__ import annotations

import re

import pytest

from loratui.errors import InputError
from loratui.tagging.caption_templates import (BUILT_IN, all_templates, find_template, load_user_templates,
                                               parse_length)
from loratui.tagging.vlm import PLACEHOLDERS, render_prompt


@pytest.mark.parametrize("template", BUILT_IN, ids=lambda t: t.name)
def test_built_in_templates_render_without_leftover_placeholders(template):
    text = render_prompt(template.prompt, tags="1girl, solo", trigger="ohwx", filename="a.mp4", frames=8,
                         media="video clip", length="long")
    assert not any(p in text for p in PLACEHOLDERS)
    assert not re.search(r"\{[a-z_]+\}", text), text
    assert template.media in ("image", "video", "any") and template.description


def test_video_templates_name_what_the_families_caption():
    wan = find_template("wan-video").prompt.lower()
    for word in ("subject", "scene", "motion", "camera movement", "shot size", "light", "colour tone", "style"):
        assert word in wan, word
    hunyuan = find_template("hunyuan-video").prompt.lower()
    for word in ("background", "style", "shot type", "camera movement", "lighting", "atmosphere"):
        assert word in hunyuan, word
    rendered = render_prompt(find_template("wan-video").prompt, tags="", trigger="ohwx", filename="c.mp4",
                             frames=6, media="video clip")
    assert rendered.startswith("You see 6 frames taken in order from one video clip.")
    assert "'ohwx'" in rendered


def test_user_templates_load_override_and_are_checked(tmp_path):
    good = tmp_path / "mine.toml"
    good.write_text('[templates.anime-clip]\nprompt = "Describe {frames} frames."\nmedia = "video"\n'
                    'max_tokens = 200\ndescription = "mine"\n\n[templates.default]\nprompt = "Just {trigger}."\n',
                    encoding="utf-8")
    templates = all_templates(good)
    assert templates["anime-clip"].max_tokens == 200 and templates["anime-clip"].source == str(good)
    assert templates["default"].prompt == "Just {trigger}."  # a user template replaces the built-in
    assert "wan-video" in templates
    cases = {
        "[templates.x]\nmedia = 'video'\n": "needs a prompt",
        "[templates.x]\nprompt = 'p'\nmedia = 'gif'\n": "media must be one of",
        "[templates.x]\nprompt = 'p'\nmax_tokens = 0\n": "max_tokens must be a positive integer",
        "[templates.x]\nprompt = 'p'\ncolour = 1\n": "unknown keys: colour",
        "title = 'no tables'\n": "defines no templates",
        "[templates.x\n": "not valid TOML",
    }
    for text, message in cases.items():
        bad = tmp_path / "bad.toml"
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(InputError, match=message):
            load_user_templates(bad)
    with pytest.raises(InputError, match="does not exist"):
        load_user_templates(tmp_path / "missing.toml")
    with pytest.raises(InputError, match="unknown caption template 'nope'"):
        find_template("nope", good)


def test_lengths():
    assert parse_length("very long") == "very long"
    assert parse_length("40") == "40-word"
    for bad in ("0", "huge", "-3"):
        with pytest.raises(InputError):
            parse_length(bad)


def test_list_templates_command(cli, tmp_path):
    mine = tmp_path / "mine.toml"
    mine.write_text('[templates.mine]\nprompt = "Describe {media}."\nmedia = "image"\n', encoding="utf-8")
    listed = cli("caption", "--list-templates", "--template-file", mine)
    assert listed.code == 0
    names = [line.split()[0] for line in listed.out.splitlines()]
    assert names[:2] == ["default", "wan-video"] and names[-1] == "mine" and str(mine) in listed.out
    as_json = cli("caption", "--list-templates", "--json").json()
    assert {t["name"] for t in as_json} >= {"wan-video", "hunyuan-video", "joycaption-booru", "qwen-vl"}
    assert all(t["source"] == "built-in" and t["prompt"] for t in as_json)
    assert "needs --template NAME" in cli("caption", "ds", "--base-url", "http://x/v1", "--model", "m",
                                          "--template-file", mine).err
