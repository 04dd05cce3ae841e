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


def _errors(family_id: str, **args) -> dict[str, str]:
    from loratui.training.schema import builtin_schema
    from loratui.training.validate import check_args

    family = get_family(family_id)
    config = TrainConfig(backend=family.trainer, family=family.id, dataset="ds", args=args)
    return {i.field: i.message for i in check_args(config, builtin_schema(family.trainer, family.id))
            if i.severity == "error"}


def test_validation_reads_required_files_and_variants_from_the_record(tmp_path):
    missing = _errors("flux2-klein-base-4b", output_dir=str(tmp_path), network_module="networks.lora_flux_2")
    assert {"dit", "vae", "text_encoder"} <= set(missing) and "pretrained_model_name_or_path" not in missing
    wrong = _errors("qwen-image-edit-2509", model_version="edit")
    assert "pick the family" in wrong["model_version"]
    assert "model_version" not in _errors("qwen-image-edit-2509", model_version="edit-2509")
    assert "not a Kandinsky 5 T2V variant" in _errors("kandinsky5-t2v", task="k5-pro-i2v-5s-sd")["task"]
    assert "task" not in _errors("kandinsky5-t2v", task="k5-lite-t2v-5s-sd")
    # a Hub id is fine where the trainer takes one (Kandinsky's text encoders), not for a DiT file
    hub = _errors("kandinsky5-t2v", text_encoder_qwen="Qwen/Qwen2.5-VL-7B-Instruct", dit="org/dit")
    assert "text_encoder_qwen" not in hub and "does not exist" in hub["dit"]


def test_variant_flags_reach_the_trainer():
    from loratui.training.planner import effective_args

    sd2v = effective_args(TrainConfig(backend="kohya", family="sd2-v", dataset="ds", args={}), ".txt")
    assert sd2v["v2"] is True and sd2v["v_parameterization"] is True and sd2v["resolution"] == "768,768"
    wan = get_family("wan2.2-i2v-a14b")
    assert wan.variant_values({}, "train") == {"task": "i2v-A14B"}
    assert wan.variant_values({}, "cache_latents") == {"i2v": True}
    k5 = get_family("kandinsky5-i2v")
    assert k5.variant_values({"task": "k5-lite-i2v-5s-sd"}, "train") == {"task": "k5-lite-i2v-5s-sd"}


@pytest.mark.parametrize("family", ALL, ids=IDS)
def test_builtin_schema_options_exist_in_the_family_script(family):
    """The fallback schema (no trainer installed) offers only options the family's real script has, typed alike."""
    from loratui.training.schema import builtin_schema

    real = parser_of(family.trainer, family.scripts["train"])
    for name, option in builtin_schema(family.trainer, family.id).options.items():
        other = real.get(name)
        assert other is not None, f"{family.scripts['train']} has no {name}"
        assert option.type == other.type or {option.type, other.type} <= {"str", "Path"}, (name, other.type)
