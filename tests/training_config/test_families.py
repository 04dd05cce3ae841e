"""The family registry against the real trainers' parsers (recorded dumps in tests/fixtures/trainer-schemas/):
every flag a family passes, every option its presets set, exists in the script it goes to, with a valid value."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loratui.training import kohya
from loratui.training.config import FAMILIES, TrainConfig, loads_toml
from loratui.training.families import PHASES, families, find_family, get_family
from loratui.training.presets import _builtin_files, preset_args
from loratui.training.schema import Schema, _option_from_dump, check_value

SCHEMAS = Path(__file__).resolve().parents[1] / "fixtures" / "trainer-schemas"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "training.md"
LOADED: dict[tuple[str, str], Schema] = {}


def parser_of(trainer: str, script: str) -> Schema:
    """The recorded options of `script` (our own dump of the installed trainer's finished parser)."""
    key = (trainer, script)
    if key not in LOADED:
        data = json.loads((SCHEMAS / trainer / script.replace(".py", ".json")).read_text(encoding="utf-8"))
        LOADED[key] = Schema(trainer, "", {row["name"]: _option_from_dump(row) for row in data["options"]},
                             "trainer:fixture")
    return LOADED[key]


ALL = families()
IDS = [f.id for f in ALL]


def test_registry_keeps_the_old_ids_and_covers_the_issue():
    assert {"sd15", "sdxl", "flux", "sd3"} <= set(FAMILIES["kohya"]) and "qwen-image" in FAMILIES["musubi"]
    wanted = {"sd15", "sd2", "sdxl", "sd3", "flux", "chroma", "lumina2", "hunyuan-image-2.1", "anima", "qwen-image",
              "qwen-image-edit", "qwen-image-edit-2509", "qwen-image-edit-2511", "flux-kontext", "flux2-dev",
              "flux2-klein-4b", "flux2-klein-base-9b", "z-image", "wan2.1-t2v-14b", "wan2.1-i2v-14b",
              "wan2.2-t2v-a14b", "wan2.2-i2v-a14b", "hunyuan-video", "hunyuan-video-1.5-t2v", "framepack",
              "kandinsky5-t2v", "hidream-o1"}
    assert wanted <= set(IDS)
    assert len(IDS) == len(set(IDS))
    assert find_family("nope") is None


@pytest.mark.parametrize("family", ALL, ids=IDS)
def test_every_flag_of_the_family_is_an_option_of_its_scripts(family):
    for phase in family.phase_names():
        assert phase in PHASES
        parser = parser_of(family.trainer, family.scripts[phase])
        for role in family.roles:
            if phase in role.phases:
                assert parser.get(role.option) is not None, f"{family.scripts[phase]} has no {role.flag}"
        for fixed in family.fixed_args:
            if phase not in fixed.phases:
                continue
            option = parser.get(fixed.option)
            assert option is not None, f"{family.scripts[phase]} has no --{fixed.option}"
            for value in fixed.choices or (fixed.value,):
                assert check_value(option, value) is None, (fixed.option, value)
        for name in family.cache_forward.get(phase, ()):
            assert parser.get(name) is not None, f"{family.scripts[phase]} has no --{name}"
            assert parser_of(family.trainer, family.scripts["train"]).get(name) is not None or phase != "train"
    if family.trainer == "kohya":
        assert family.phase_names() == ["train"]
    else:
        assert family.phase_names() == ["cache_latents", "cache_text", "train"]
        assert family.architecture and family.dataset_dialect == "musubi"


@pytest.mark.parametrize("family", ALL, ids=IDS)
def test_every_preset_sets_only_real_options_with_valid_values(family):
    assert family.presets, "every family has presets"
    train = parser_of(family.trainer, family.scripts["train"])
    texts = _builtin_files()
    for tier in family.presets:
        name = f"{family.id}-{tier}"
        config = TrainConfig.from_dict(loads_toml(texts[name], name), source=name)
        assert (config.backend, config.family) == (family.trainer, family.id)
        for key, value in config.args.items():
            if key in ("resolution", "caption_extension") and family.trainer == "musubi":
                continue  # they go into musubi's dataset TOML, not onto the command line
            option = train.get(key)
            assert option is not None, f"{name}: {key} is not an option of {family.scripts['train']}"
            if value != "":
                assert check_value(option, value) is None, (name, key, value)
        for role in family.roles:
            if role.required:
                assert config.args.get(role.option) == "", f"{name} leaves {role.flag} for the user to fill in"
        if family.trainer == "kohya":
            values = kohya.config_file_values(config.resolved_args(), train)
            assert set(values) <= set(train.options) | {"resolution"}


def test_tiers_differ_in_memory_settings():
    qwen = get_family("qwen-image")
    low, high = preset_args(qwen, "12gb"), preset_args(qwen, "48gb")
    assert low["blocks_to_swap"] > 0 and low["fp8_base"] and low["fp8_vl"]
    assert "blocks_to_swap" not in high and "fp8_base" not in high
    assert preset_args(get_family("wan2.2-t2v-a14b"), "80gb")["offload_inactive_dit"] is True
    flux = loads_toml(_builtin_files()["flux-8gb"], "flux-8gb")
    assert flux["args"]["blocks_to_swap"] == 20  # the hand-tuned file replaces the generated preset


def test_docs_table_names_every_family():
    text = DOCS.read_text(encoding="utf-8")
    for family in ALL:
        assert f"`{family.id}`" in text, family.id
