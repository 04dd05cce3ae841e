"""`train import` of kohya_ss GUI presets: every preset imports, and what it meant in kohya_ss is what it means now.

The fixtures (tests/fixtures/kohya_ss_presets/) are a representative set of the LoRA presets kohya_ss ships; set
LORATUI_KOHYA_SS_DIR to a kohya_ss checkout to run the same checks over every preset in its presets/lora/
(marker `kohya_ss`). The expectations below are computed from each JSON file with kohya_ss's rules written out
independently of the importer: the network module per LoRA type, the learning rates it passes, `epoch` becoming
max_train_epochs (sd-scripts counts the steps) and `lr_warmup` percent becoming a ratio.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from loratui.config import tomllib
from loratui.training.config import TrainConfig
from loratui.training.imports.importer import import_files
from loratui.training.schema import builtin_schema
from tests.conftest import REPO

FIXTURES = REPO / "tests" / "fixtures" / "kohya_ss_presets"
KOHYA_SS_DIR = os.environ.get("LORATUI_KOHYA_SS_DIR", "")
SD_SCRIPTS_OPTIMIZERS = {"adamw": "AdamW", "adamw8bit": "AdamW8bit", "adafactor": "AdaFactor", "prodigy": "Prodigy",
                         "dadaptadam": "DAdaptAdam", "lion": "Lion"}
LYCORIS_ALGOS = {"LyCORIS/LoKr": "lokr", "LyCORIS/LoHa": "loha", "LyCORIS/LoCon": "locon", "LyCORIS/iA3": "ia3",
                 "LyCORIS/GLoRA": "glora", "LyCORIS/DyLoRA": "dylora", "LyCORIS/BOFT": "boft",
                 "LyCORIS/Diag-OFT": "diag-oft", "LyCORIS/Native Fine-Tuning": "full"}


def _number(value):
    if value in ("", None):
        return 0
    return float(value)


def expected_meaning(data: dict) -> dict:
    """What a kohya_ss GUI config means in sd-scripts terms (only the fields the acceptance names)."""
    family = "flux" if data.get("flux1_checkbox") else "sdxl" if data.get("sdxl") else "sd15"
    lora_type = data.get("LoRA_type", "Standard")
    if lora_type in LYCORIS_ALGOS:
        module, algo = "lycoris.kohya", LYCORIS_ALGOS[lora_type]
    else:
        module = {"sd15": "networks.lora", "sdxl": "networks.lora", "flux": "networks.lora_flux"}[family]
        algo = None
    meaning = {"family": family, "network_module": module, "algo": algo,
               "optimizer_type": SD_SCRIPTS_OPTIMIZERS.get(str(data.get("optimizer", "AdamW")).lower(),
                                                           data.get("optimizer")),
               "lr_scheduler": data.get("lr_scheduler", "cosine"),
               "resolution": str(data.get("max_resolution", "512,512")).replace(" ", ""),
               "network_dim": int(_number(data.get("network_dim", 8)))}
    lr, te, unet = (_number(data.get(k, 0.0001)) for k in ("learning_rate", "text_encoder_lr", "unet_lr"))
    meaning["learning_rate"] = lr or None
    meaning["unet_lr"] = unet or None
    meaning["text_encoder_lr"] = te or None
    meaning["unet_only"] = (te == 0 and unet != 0) or "--network_train_unet_only" in str(
        data.get("additional_parameters", ""))
    if _number(data.get("max_train_epochs")):
        meaning["length"] = ("max_train_epochs", int(_number(data["max_train_epochs"])))
    elif _number(data.get("max_train_steps")):
        meaning["length"] = ("max_train_steps", int(_number(data["max_train_steps"])))
    else:
        meaning["length"] = ("max_train_epochs", int(_number(data.get("epoch", 1))) or 1)
    warmup = _number(data.get("lr_warmup", 10))
    steps = _number(data.get("lr_warmup_steps"))
    if steps:
        meaning["lr_warmup_steps"] = int(steps)
    elif warmup and meaning["lr_scheduler"] not in ("constant", "adafactor"):
        meaning["lr_warmup_steps"] = warmup / 100
    else:
        meaning["lr_warmup_steps"] = None
    return meaning


def check_preset(path: Path) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    imported = import_files([path], builtin_schema)
    config, report = imported.config, imported.report
    want = expected_meaning(data)
    args = config.args
    assert (config.backend, config.family) == ("kohya", want["family"])
    assert args["network_module"] == want["network_module"]
    if want["algo"]:
        assert f"algo={want['algo']}" in args["network_args"]
    assert args["optimizer_type"] == want["optimizer_type"]
    assert args["lr_scheduler"] == want["lr_scheduler"]
    assert args["resolution"] == want["resolution"]
    assert args["network_dim"] == want["network_dim"]
    assert args.get("learning_rate") == want["learning_rate"]
    assert args.get("unet_lr") == want["unet_lr"]
    if want["text_encoder_lr"]:
        assert args["text_encoder_lr"][0] == want["text_encoder_lr"]
    else:
        assert "text_encoder_lr" not in args
    assert bool(args.get("network_train_unet_only")) == want["unet_only"]
    name, count = want["length"]
    assert args[name] == count
    assert {"max_train_epochs", "max_train_steps"} - {name} & set(args) == set()
    assert args.get("lr_warmup_steps") == want["lr_warmup_steps"]
    # every field of the file is accounted for in the report
    reported = {e.key for e in report.entries}
    assert set(data) - reported == set()
    assert report.by_status("mapped") and report.by_status("dropped")
    # the config is one loratui reads back
    again = TrainConfig.from_dict(tomllib.loads(config.to_toml()))
    assert again.args == config.args


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.stem)
def test_fixture_presets_keep_their_meaning(path):
    check_preset(path)


def _checkout_presets() -> list[Path]:
    folder = Path(KOHYA_SS_DIR) / "presets" / "lora"
    return sorted(folder.glob("*.json")) if KOHYA_SS_DIR else []


@pytest.mark.kohya_ss
@pytest.mark.skipif(not KOHYA_SS_DIR, reason="LORATUI_KOHYA_SS_DIR not set")
@pytest.mark.parametrize("path", _checkout_presets(), ids=lambda p: p.stem)
def test_every_kohya_ss_preset_keeps_its_meaning(path):
    check_preset(path)


def test_the_fixture_set_covers_the_cases():
    kinds = {json.loads(p.read_text())["LoRA_type"] for p in FIXTURES.glob("*.json")}
    assert {"Standard", "LyCORIS/LoKr", "LyCORIS/LoHa", "LyCORIS/iA3", "Flux1"} <= kinds


def test_lokr_network_args_are_kohya_ss_s():
    imported = import_files([FIXTURES / "sdxl-lokr-v1.0.json"], builtin_schema)
    assert imported.config.args["network_args"] == [
        "preset=full", "conv_dim=64", "conv_alpha=64", "use_tucker=False", "rank_dropout=0.1", "bypass_mode=False",
        "dora_wd=False", "module_dropout=0.1", "factor=-1", "use_cp=True", "use_scalar=False",
        "decompose_both=False", "rank_dropout_scale=False", "algo=lokr", "train_norm=False"]
    assert any("lycoris-lora" in w for w in imported.report.warnings)


def test_epoch_becomes_max_train_epochs_and_warmup_a_ratio():
    imported = import_files([FIXTURES / "locon-dadaptation-sdxl.json"], builtin_schema)
    args = imported.config.args
    assert args["max_train_epochs"] == 4 and "max_train_steps" not in args
    assert args["lr_warmup_steps"] == 0.08  # 8 % of sd-scripts' own step count
    assert args["network_train_unet_only"] is True and "text_encoder_lr" not in args
    epoch = next(e for e in imported.report.entries if e.key == "epoch")
    assert epoch.target == "args.max_train_epochs" and "buckets" in epoch.note


def test_numbers_stored_as_text_are_numbers():
    imported = import_files([FIXTURES / "sd15-glora-v1.0.json"], builtin_schema)
    args = imported.config.args
    assert args["max_train_steps"] == 113 and isinstance(args["max_train_steps"], int)
    assert any("stored as text" in w for w in imported.report.warnings)


def test_a_short_preset_takes_the_gui_defaults():
    imported = import_files([FIXTURES / "ia3-prodigy-sd15.json"], builtin_schema)
    defaults = {e.key for e in imported.report.by_status("default")}
    assert "LyCORIS_preset" in defaults
    assert "train_on_input=True" in imported.config.args["network_args"]


def test_flux_preset():
    imported = import_files([FIXTURES / "flux1d-adamw8bit-fp8.json"], builtin_schema)
    config = imported.config
    assert config.family == "flux" and config.args["network_module"] == "networks.lora_flux"
    assert config.args["fp8_base"] is True
    assert config.args["cache_text_encoder_outputs"] is True and config.args["sdpa"] is True
    dropped = {e.key: e for e in imported.report.by_status("dropped")}
    assert dropped["sdxl_no_half_vae"].why == "gui-only"  # another model's panel
    assert dropped["ae"].why == "invalid" and "placeholder" in dropped["ae"].note
    assert imported.prompts and imported.prompts[0].startswith("saruman")


def test_secrets_never_reach_the_config(tmp_path):
    data = json.loads((FIXTURES / "loha-sd15.json").read_text())
    data["wandb_api_key"] = "sk-very-secret"
    path = tmp_path / "with-key.json"
    path.write_text(json.dumps(data))
    imported = import_files([path], builtin_schema)
    assert "sk-very-secret" not in imported.config.to_toml()
    assert "sk-very-secret" not in json.dumps(imported.to_dict())


@pytest.mark.parametrize("weird", ["abc", None, [], {}, -1, 1.5, True])
def test_a_field_of_the_wrong_type_is_a_config_error_not_a_crash(weird, tmp_path):
    """Every field of a preset set to a value of the wrong type: the import succeeds or names the file."""
    from loratui.errors import LoratuiError

    data = json.loads((FIXTURES / "sdxl-lokr-v1.0.json").read_text())
    for key in data:
        path = tmp_path / "weird.json"
        path.write_text(json.dumps({**data, key: weird}))
        try:
            import_files([path], builtin_schema)
        except LoratuiError as exc:
            assert str(path) in str(exc) or "LoRA_type" in str(exc) or key in str(exc), (key, exc)


def test_a_saved_gui_config_finds_its_dataset_and_reports_the_reg_folder(tmp_path):
    data = json.loads((FIXTURES / "sdxl-lora-ai_now-adamw-v1.0.json").read_text())
    (tmp_path / "img" / "10_me").mkdir(parents=True)
    (tmp_path / "reg" / "1_person").mkdir(parents=True)
    data.update({"train_data_dir": str(tmp_path / "img"), "reg_data_dir": str(tmp_path / "reg"),
                 "output_dir": str(tmp_path / "out"), "pretrained_model_name_or_path": "/models/sdxl.safetensors"})
    path = tmp_path / "saved.json"
    path.write_text(json.dumps(data))
    imported = import_files([path], builtin_schema, datasets={str(tmp_path / "img"): "me"})
    assert imported.config.dataset == "me"
    assert imported.config.args["output_dir"] == str(tmp_path / "out")
    assert set(imported.dataset_folders) == {str(tmp_path / "img"), str(tmp_path / "reg")}
    assert any("outside dataset 'me'" in w for w in imported.report.warnings)
    assert "train_data_dir" not in imported.config.args and "reg_data_dir" not in imported.config.args


def test_a_gui_config_with_a_dataset_config(tmp_path):
    data = json.loads((FIXTURES / "loha-sd15.json").read_text())
    (tmp_path / "ds.toml").write_text('[[datasets]]\nresolution = 768\n[[datasets.subsets]]\nimage_dir = "img/5_x"\n'
                                      'num_repeats = 5\n')
    data["dataset_config"] = str(tmp_path / "ds.toml")
    path = tmp_path / "gui.json"
    path.write_text(json.dumps(data))
    imported = import_files([path], builtin_schema)
    # the dataset TOML is read after the GUI fields: its resolution is what sd-scripts would use
    assert imported.config.args["resolution"] == "768,768"
    assert imported.dataset_folders == [str(tmp_path / "img" / "5_x")]


def test_block_weights_and_loraplus_go_into_network_args(tmp_path):
    data = json.loads((FIXTURES / "sdxl-lora-ai_now-adamw-v1.0.json").read_text())
    data.update({"LoRA_type": "Kohya LoCon", "conv_dim": 8, "conv_alpha": 4, "down_lr_weight": "1,1,0.5",
                 "block_dims": "4,8,16", "mid_lr_weight": "", "loraplus_lr_ratio": 16})
    path = tmp_path / "blocks.json"
    path.write_text(json.dumps(data))
    args = import_files([path], builtin_schema).config.args
    assert args["network_module"] == "networks.lora"
    assert args["network_args"][:2] == ["conv_dim=8", "conv_alpha=4"]
    assert "down_lr_weight=1,1,0.5" in args["network_args"] and "block_dims=4,8,16" in args["network_args"]
    assert "loraplus_lr_ratio=16" in args["network_args"]
    assert not any(a.startswith("mid_lr_weight") for a in args["network_args"])
