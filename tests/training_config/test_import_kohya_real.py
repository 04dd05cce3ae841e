"""Imported kohya_ss presets against a real sd-scripts (optional): runs only when LORATUI_KOHYA_DIR is set.

Every fixture preset is imported with the installed trainer's options, completed with the paths a user fills in
(the presets hold placeholders) and checked with `train check` (no errors). Then the SD1.5/SDXL ones are exported
with `train export` and one Python process of the trainer's venv reads each exported pair the way the training
script does (its own setup_parser(), read_config_from_file(), verify_training_args(), prepare_dataset_args() and
the dataset config through sd-scripts' ConfigSanitizer/BlueprintGenerator, in train_network.py's order): what
it reads must be what the preset meant.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.conftest import REPO

KOHYA_DIR = os.environ.get("LORATUI_KOHYA_DIR", "")
KOHYA_PYTHON = os.environ.get("LORATUI_KOHYA_PYTHON", "")  # read now: the `home` fixture clears them
pytestmark = [pytest.mark.kohya, pytest.mark.skipif(not KOHYA_DIR, reason="LORATUI_KOHYA_DIR not set")]
PRESETS = sorted((REPO / "tests" / "fixtures" / "kohya_ss_presets").glob("*.json"))

READER = textwrap.dedent('''
    import json, sys
    import argparse
    from library import train_util, config_util
    import train_network, sdxl_train_network

    results = {}
    for name, family, config_file, dataset_file in json.loads(sys.stdin.read()):
        module = sdxl_train_network if family == "sdxl" else train_network
        parser = module.setup_parser()
        # as the script is run: read_config_from_file() parses sys.argv again on top of the file's values
        sys.argv = [module.__file__, "--config_file", config_file, "--dataset_config", dataset_file]
        args = parser.parse_args()
        train_util.verify_command_line_training_args(args)
        args = train_util.read_config_from_file(args, parser)
        train_util.verify_training_args(args)
        train_util.prepare_dataset_args(args, True)
        sanitizer = config_util.ConfigSanitizer(True, True, args.masked_loss, True)
        user_config = config_util.load_user_config(dataset_file)
        blueprint = config_util.BlueprintGenerator(sanitizer).generate(user_config, args)
        subset = blueprint.dataset_group.datasets[0].subsets[0].params
        results[name] = {k: getattr(args, k, None) for k in (
            "network_module", "network_args", "optimizer_type", "lr_scheduler", "learning_rate", "unet_lr",
            "text_encoder_lr", "max_train_epochs", "max_train_steps", "lr_warmup_steps", "network_dim",
            "network_alpha", "network_train_unet_only")}
        results[name]["resolution"] = list(blueprint.dataset_group.datasets[0].params.resolution)
        results[name]["num_repeats"] = subset.num_repeats
    print("RESULT " + json.dumps(results))
''')


@pytest.fixture
def real_cli(cli, monkeypatch, tmp_path, image_factory):
    monkeypatch.setenv("LORATUI_KOHYA_DIR", KOHYA_DIR)
    monkeypatch.setenv("LORATUI_KOHYA_PYTHON", KOHYA_PYTHON)
    for index in range(4):
        path = image_factory(tmp_path / "data" / "10_thing" / f"{index}.png", size=(128, 128))
        path.with_suffix(".txt").write_text("thing", encoding="utf-8")
    assert cli("dataset", "add", tmp_path / "data", "--name", "data", "--workers", "1").code == 0
    return cli


def fill_ins(tmp_path: Path) -> list[str]:
    tiny = Path(os.environ.get("LORATUI_TINY_SD") or Path(KOHYA_DIR).parent / "assets")
    model = tiny / "tiny-sd" if (tiny / "tiny-sd").exists() else Path(KOHYA_DIR).parent / "tiny" / "tiny-sd"
    dummy = tmp_path / "dummy.safetensors"
    dummy.write_bytes(b"x")
    sets = [f"pretrained_model_name_or_path={model}", f"output_dir={tmp_path / 'out'}"]
    return sets + [f"{name}={dummy}" for name in ("ae", "clip_l", "t5xxl")]


def test_imported_presets_pass_train_check_and_read_back_in_sd_scripts(real_cli, tmp_path):
    cli = real_cli
    sets = fill_ins(tmp_path)
    exported = []
    for preset in PRESETS:
        out = tmp_path / f"{preset.stem}.toml"
        imported = cli("train", "import", preset, "--dataset", "data", "-o", out, "--json")
        assert imported.code == 0, imported
        data = imported.json()
        family = data["config"]["family"]
        flags = [x for s in sets if family == "flux" or not s.startswith(("ae=", "clip_l=", "t5xxl="))
                 for x in ("--set", s)]
        check = cli("train", "check", out, *flags, "--json")
        assert check.json()["ok"], (preset.name, check.out)
        assert check.json()["schema"].startswith("trainer")
        if family in ("sd15", "sdxl"):
            folder = tmp_path / "export" / preset.stem
            result = cli("train", "export", out, folder, *flags, "--json")
            assert result.code == 0, (preset.name, result)
            exported.append((preset.stem, family, str(folder / "train_config.toml"), str(folder / "dataset.toml"),
                             data["config"]["args"]))
    assert len(exported) >= 8
    proc = subprocess.run([KOHYA_PYTHON, "-c", READER], input=json.dumps([e[:4] for e in exported]), cwd=KOHYA_DIR,
                          capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    results = json.loads(line[len("RESULT "):])
    for name, _family, _config, _dataset, args in exported:
        read = results[name]
        for key in ("network_module", "network_args", "optimizer_type", "lr_scheduler", "learning_rate", "unet_lr",
                    "text_encoder_lr", "max_train_epochs", "max_train_steps", "lr_warmup_steps", "network_dim",
                    "network_alpha"):
            if key in args:
                assert read[key] == args[key], (name, key, read[key], args[key])
        width, height = (int(v) for v in args["resolution"].split(","))
        assert read["resolution"] == [width, height] and read["num_repeats"] == 10
