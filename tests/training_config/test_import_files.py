"""`train import` of sd-scripts and musubi-tuner files and command lines; the CLI of `train import`/`train export`."""

from __future__ import annotations

import json
import shlex
import stat
from pathlib import Path

import pytest

from loratui.errors import ConfigError
from loratui.training.config import load_config
from loratui.training.imports.cmdline import split_commands
from loratui.training.imports.importer import import_files
from loratui.training.schema import builtin_schema
from tests.conftest import REPO

PRESETS = REPO / "tests" / "fixtures" / "kohya_ss_presets"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def sd_scripts_files(tmp_path):
    """A run script with --config_file and --dataset_config, as users keep them next to sd-scripts."""
    (tmp_path / "img" / "10_cat").mkdir(parents=True)
    (tmp_path / "img" / "2_reg").mkdir(parents=True)
    write(tmp_path / "cfg" / "train.toml", """
[model_arguments]
pretrained_model_name_or_path = "/models/sdxl.safetensors"
[training_arguments]
learning_rate = 1e-4
max_train_epochs = 10
optimizer_type = "adamw8bit"
lr_scheduler = "cosine"
lr_warmup_steps = 0.1
[network_arguments]
network_module = "networks.lora"
network_dim = 16
network_alpha = 8
network_args = ["conv_dim=4", "conv_alpha=1"]
wandb_api_key = "secret-key"
""")
    write(tmp_path / "cfg" / "dataset.toml", """
[general]
shuffle_caption = true
caption_extension = ".txt"
[[datasets]]
resolution = [1024, 1024]
batch_size = 2
enable_bucket = true
  [[datasets.subsets]]
  image_dir = "../img/10_cat"
  num_repeats = 10
  class_tokens = "cat"
  [[datasets.subsets]]
  image_dir = "../img/2_reg"
  is_reg = true
""")
    return write(tmp_path / "run.sh", """#!/bin/sh
# my SDXL run
cd ~/sd-scripts && \\
accelerate launch --num_cpu_threads_per_process 8 --num_processes 2 sdxl_train_network.py \\
  --config_file cfg/train.toml --dataset_config cfg/dataset.toml \\
  --network_dim 32 --output_dir out --output_name catlora --max_train_epochs=12
""")


def test_sd_scripts_config_dataset_and_command_line(sd_scripts_files, tmp_path):
    imported = import_files([sd_scripts_files], builtin_schema,
                            datasets={str(tmp_path / "img"): "cats"})
    config = imported.config
    assert (config.backend, config.family, config.dataset) == ("kohya", "sdxl", "cats")
    args = config.args
    assert args["network_dim"] == 32  # the command line wins over --config_file
    assert args["max_train_epochs"] == 12 and args["learning_rate"] == 1e-4
    assert args["network_args"] == ["conv_dim=4", "conv_alpha=1"]
    assert args["optimizer_type"] == "adamw8bit" and args["lr_warmup_steps"] == 0.1
    assert args["resolution"] == "1024,1024" and args["train_batch_size"] == 2
    assert args["shuffle_caption"] is True
    assert config.launch == {"num_processes": 2}
    assert "wandb_api_key" not in args and "secret-key" not in json.dumps(imported.to_dict())
    entries = {(e.key, e.status) for e in imported.report.entries}
    replaced = [e for e in imported.report.entries if e.why == "replaced"]
    assert any(e.key == "network_arguments.network_dim" for e in replaced)
    assert ("--num_cpu_threads_per_process", "dropped") in entries
    subsets = [e for e in imported.report.entries if e.why == "dataset"]
    assert any("class_tokens='cat'" in e.note for e in subsets)


def test_unregistered_images_are_named_in_a_warning(sd_scripts_files, tmp_path):
    imported = import_files([sd_scripts_files], builtin_schema)
    assert imported.config.dataset == ""
    assert any(f"loratui dataset add {tmp_path / 'img'}`" in w for w in imported.report.warnings)


def test_relative_image_dirs_are_the_trainers_cwd_s(tmp_path):
    (tmp_path / "img" / "10_cat").mkdir(parents=True)
    write(tmp_path / "cfg" / "dataset.toml", '[[datasets]]\n[[datasets.subsets]]\nimage_dir = "img/10_cat"\n')
    write(tmp_path / "run.sh", "python sdxl_train_network.py --dataset_config cfg/dataset.toml\n")
    imported = import_files([tmp_path / "run.sh", tmp_path / "cfg" / "dataset.toml"], builtin_schema)
    # sd-scripts opens image_dir from the folder it runs in, not the dataset file's; read once though named twice
    assert imported.dataset_folders == [str(tmp_path / "img" / "10_cat")]
    assert any(f"loratui dataset add {tmp_path / 'img'}`" in w for w in imported.report.warnings)


def test_dataset_toml_alone_does_not_say_the_model(tmp_path, sd_scripts_files):
    with pytest.raises(ConfigError, match="which model"):
        import_files([tmp_path / "cfg" / "dataset.toml"], builtin_schema)


def test_musubi_dataset_and_command_line(tmp_path):
    write(tmp_path / "musubi.toml", """
[general]
resolution = [1328, 1328]
caption_extension = ".txt"
batch_size = 1
enable_bucket = true
[[datasets]]
image_directory = "/data/qwen/images"
cache_directory = "/data/qwen/cache"
num_repeats = 2
""")
    write(tmp_path / "train.sh", """
python src/musubi_tuner/qwen_image_cache_latents.py --dataset_config musubi.toml --vae /m/vae.safetensors
python src/musubi_tuner/qwen_image_cache_text_encoder_outputs.py --dataset_config musubi.toml \\
   --text_encoder /m/qwen_2.5_vl_7b.safetensors --batch_size 16
accelerate launch --num_cpu_threads_per_process 1 --mixed_precision bf16 src/musubi_tuner/qwen_image_train_network.py \\
   --dit /m/dit.safetensors --vae /m/vae.safetensors --text_encoder /m/qwen_2.5_vl_7b.safetensors \\
   --dataset_config musubi.toml --sdpa --mixed_precision bf16 --timestep_sampling shift \\
   --optimizer_type adamw8bit --learning_rate 5e-5 --gradient_checkpointing \\
   --network_module networks.lora_qwen_image --network_dim 16 --max_train_epochs 16 --output_dir out --output_name q
""")
    imported = import_files([tmp_path / "train.sh"], builtin_schema,
                            datasets={"/data/qwen": "qwen"})
    config = imported.config
    assert (config.backend, config.family, config.dataset) == ("musubi", "qwen-image", "qwen")
    assert config.args["dit"] == "/m/dit.safetensors" and config.args["network_dim"] == 16
    assert config.args["resolution"] == "1328,1328" and config.launch["mixed_precision"] == "bf16"
    dropped = {e.key: e for e in imported.report.by_status("dropped")}
    assert dropped["--batch_size"].why == "gui-only"  # the text caching phase's own batch size
    assert dropped["datasets[0].cache_directory"].why == "computed"


def test_a_family_loratui_does_not_train_is_refused(tmp_path):
    write(tmp_path / "run.sh", "accelerate launch lumina_train_network.py --network_dim 8\n")
    with pytest.raises(ConfigError, match="lumina"):
        import_files([tmp_path / "run.sh"], builtin_schema)


def test_split_commands_handles_continuations_and_separators():
    text = "cd x && python a.py --b 1 \\\n  --c 'two words' # comment\nexport A=1; python d.py"
    assert split_commands(text) == [["cd", "x"], ["python", "a.py", "--b", "1", "--c", "two words"],
                                    ["export", "A=1"], ["python", "d.py"]]


def test_bad_files_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        import_files([tmp_path / "none.json"], builtin_schema)
    with pytest.raises(ConfigError, match="not valid JSON"):
        import_files([write(tmp_path / "bad.json", "{")], builtin_schema)
    with pytest.raises(ConfigError, match="neither"):
        import_files([write(tmp_path / "other.json", '{"a": 1}')], builtin_schema)
    with pytest.raises(ConfigError, match="no sd-scripts or musubi-tuner command"):
        import_files([write(tmp_path / "notes.txt", "hello\n")], builtin_schema)


# ---- the CLI ------------------------------------------------------------------------------------------------


def test_cli_import_writes_a_config_and_prompts(cli, tmp_path):
    out = tmp_path / "imported.toml"
    result = cli("train", "import", PRESETS / "flux1d-adamw8bit-fp8.json", "-o", out)
    assert result.code == 0, result
    config = load_config(out)
    assert config.family == "flux" and config.args["network_module"] == "networks.lora_flux"
    prompts = tmp_path / "imported.prompts.txt"
    assert config.args["sample_prompts"] == str(prompts) and "saruman" in prompts.read_text()
    assert "dropped  ae = " in result.err and "placeholder" in result.err
    again = cli("train", "import", PRESETS / "loha-sd15.json", "-o", out)
    assert again.code == 2 and "already exists" in again.err
    assert cli("train", "import", PRESETS / "loha-sd15.json", "-o", tmp_path / "x.txt").code == 2


def test_cli_import_json_and_dataset(cli, tmp_path, make_dataset):
    root = make_dataset({"10_a": [(512, 512)]})
    assert cli("dataset", "add", root, "--name", "ds", "--workers", "1").code == 0
    result = cli("train", "import", PRESETS / "sdxl-lokr-v1.0.json", "--dataset", "ds", "--json")
    assert result.code == 0, result
    data = result.json()
    assert data["config"]["dataset"] == "ds" and data["config"]["args"]["network_module"] == "lycoris.kohya"
    assert data["kinds"] == {str(PRESETS / "sdxl-lokr-v1.0.json"): "kohya_ss"}
    assert data["counts"]["mapped"] > 20 and data["counts"]["dropped"] > 20
    assert cli("train", "import", PRESETS / "loha-sd15.json", "--dataset", "nope").code == 2


def test_cli_import_prints_the_config_without_output(cli):
    result = cli("train", "import", PRESETS / "sdxl-lora-adafactor-v1.0.json")
    assert result.code == 0 and 'family = "sdxl"' in result.out and "optimizer_type = \"AdaFactor\"" in result.out
    assert "use -o FILE" in result.err


def test_cli_export_writes_files_a_user_runs_without_loratui(cli, kohya_ctx, tmp_path, make_dataset, monkeypatch):
    monkeypatch.setenv("LORATUI_KOHYA_DIR", kohya_ctx.settings.trainers.kohya_dir)
    monkeypatch.setenv("LORATUI_KOHYA_PYTHON", kohya_ctx.settings.trainers.kohya_python)
    root = make_dataset({"10_a": [(512, 512), (768, 512)]})
    assert cli("dataset", "add", root, "--name", "ds", "--workers", "1").code == 0
    model = tmp_path / "model.safetensors"
    model.write_bytes(b"x")
    out = tmp_path / "run.toml"
    assert cli("train", "import", PRESETS / "sd15-edg_loraoptisettings.json", "--dataset", "ds", "-o", out).code == 0
    result = cli("train", "export", out, tmp_path / "export", "--set", f"pretrained_model_name_or_path={model}",
                 "--set", f"output_dir={tmp_path / 'lora'}", "--json")
    assert result.code == 0, result
    folder = tmp_path / "export"
    names = {p.name for p in folder.iterdir()}
    assert {"train_config.toml", "dataset.toml", "run.sh", "argv.json", "loratui_config.toml"} <= names
    script = folder / "run.sh"
    assert script.stat().st_mode & stat.S_IXUSR
    (phase,) = json.loads((folder / "argv.json").read_text())
    assert phase["argv"][-4:] == ["--config_file", str(folder / "train_config.toml"), "--dataset_config",
                                  str(folder / "dataset.toml")]
    assert shlex.join(phase["argv"]) in script.read_text()
    again = cli("train", "export", out, folder, "--set", f"pretrained_model_name_or_path={model}",
                "--set", f"output_dir={tmp_path / 'lora'}")
    assert again.code == 2 and "--force" in again.err


# ---- OneTrainer and ai-toolkit -----------------------------------------------------------------------------

ONETRAINER = {
    "__version": 6, "training_method": "LORA", "model_type": "STABLE_DIFFUSION_XL_10_BASE",
    "base_model_name": "/models/sdxl.safetensors", "output_model_destination": "/loras/mychar.safetensors",
    "workspace_dir": "workspace/run", "learning_rate_scheduler": "COSINE", "learning_rate": 0.0003,
    "learning_rate_warmup_steps": 100.0, "learning_rate_cycles": 1.0, "epochs": 20, "batch_size": 2,
    "gradient_accumulation_steps": 1, "train_dtype": "BFLOAT_16", "output_dtype": "FLOAT_16", "resolution": "1024",
    "text_encoder": {"train": False, "learning_rate": None}, "unet": {"train": True, "learning_rate": 0.0002},
    "lora_rank": 32, "lora_alpha": 16.0, "peft_type": "LORA", "gradient_checkpointing": "ON",
    "optimizer": {"optimizer": "ADAMW_8BIT", "weight_decay": 0.01, "beta1": 0.9, "beta2": 0.999},
    "save_every": 2, "save_every_unit": "EPOCH", "seed": 42, "ema": "OFF", "masked_training": False,
    "concepts": [{"name": "mychar", "path": "/data/mychar/img", "repeats": 3.0, "enabled": True},
                 {"name": "off", "path": "/data/other", "enabled": False}],
    "secrets": {"huggingface_token": "hf_secret"},
}

AI_TOOLKIT = """
job: extension
config:
  name: my_flux_lora
  process:
    - type: sd_trainer
      training_folder: output
      device: cuda:0
      network:
        type: lora
        linear: 16
        linear_alpha: 16
      save:
        dtype: float16
        save_every: 250
        max_step_saves_to_keep: 4
      datasets:
        - folder_path: /data/flux/images
          caption_ext: txt
          caption_dropout_rate: 0.05
          shuffle_tokens: false
          cache_latents_to_disk: true
          resolution: [512, 768, 1024]
      train:
        batch_size: 1
        steps: 2000
        gradient_accumulation_steps: 1
        train_unet: true
        train_text_encoder: false
        gradient_checkpointing: true
        noise_scheduler: flowmatch
        optimizer: adamw8bit
        lr: 1e-4
        dtype: bf16
      model:
        name_or_path: black-forest-labs/FLUX.1-dev
        is_flux: true
        quantize: true
      sample:
        sampler: flowmatch
        sample_every: 250
        width: 1024
        height: 1024
        prompts:
          - woman with red hair, playing chess at the park
          - a bear building a log cabin in the snow
        seed: 42
        sample_steps: 20
meta:
  name: "[name]"
  version: '1.0'
"""


def test_onetrainer_config(tmp_path):
    path = write(tmp_path / "onetrainer.json", json.dumps(ONETRAINER))
    imported = import_files([path], builtin_schema, datasets={"/data/mychar": "mychar"})
    config = imported.config
    assert (config.backend, config.family, config.dataset) == ("kohya", "sdxl", "mychar")
    args = config.args
    assert args["pretrained_model_name_or_path"] == "/models/sdxl.safetensors"
    assert (args["output_dir"], args["output_name"]) == ("/loras", "mychar")
    assert args["lr_scheduler"] == "cosine" and args["lr_warmup_steps"] == 100
    assert args["max_train_epochs"] == 20 and args["train_batch_size"] == 2
    assert args["unet_lr"] == 0.0002 and args["network_train_unet_only"] is True
    assert (args["network_dim"], args["network_alpha"]) == (32, 16.0)
    assert args["optimizer_type"] == "AdamW8bit"
    assert args["optimizer_args"] == ["weight_decay=0.01", "betas=0.9,0.999"]
    assert args["mixed_precision"] == "bf16" and args["save_precision"] == "fp16"
    assert args["resolution"] == "1024,1024" and args["save_every_n_epochs"] == 2
    assert "hf_secret" not in json.dumps(imported.to_dict())
    dropped = {e.key: e.why for e in imported.report.by_status("dropped")}
    assert dropped["secrets"] == "secret" and dropped["workspace_dir"] == "gui-only"
    assert dropped["concepts[1]"] == "empty"


def test_onetrainer_fine_tune_is_refused(tmp_path):
    path = write(tmp_path / "ft.json", json.dumps({**ONETRAINER, "training_method": "FINE_TUNE"}))
    with pytest.raises(ConfigError, match="LoRA"):
        import_files([path], builtin_schema)


def test_ai_toolkit_config(tmp_path):
    path = write(tmp_path / "flux.yaml", AI_TOOLKIT)
    imported = import_files([path], builtin_schema)
    config = imported.config
    assert (config.backend, config.family) == ("kohya", "flux")
    args = config.args
    assert args["pretrained_model_name_or_path"] == "black-forest-labs/FLUX.1-dev" and args["fp8_base"] is True
    assert args["network_module"] == "networks.lora_flux" and args["network_dim"] == 16
    assert args["max_train_steps"] == 2000 and args["learning_rate"] == 1e-4
    assert args["optimizer_type"] == "AdamW8bit" and args["mixed_precision"] == "bf16"
    assert args["resolution"] == "1024,1024" and args["save_every_n_steps"] == 250
    assert args["output_name"] == "my_flux_lora" and args["output_dir"] == str(tmp_path / "output")
    assert imported.prompts[0] == "woman with red hair, playing chess at the park --w 1024 --h 1024 --s 20"
    assert imported.dataset_folders == ["/data/flux/images"]
    dropped = {e.key: e.why for e in imported.report.by_status("dropped")}
    assert dropped["train.noise_scheduler"] == "unsupported" and dropped["job"] == "gui-only"


def test_not_an_ai_toolkit_yaml(tmp_path):
    with pytest.raises(ConfigError, match="ai-toolkit"):
        import_files([write(tmp_path / "x.yaml", "a: 1\n")], builtin_schema)
    with pytest.raises(ConfigError, match="not valid YAML"):
        import_files([write(tmp_path / "y.yml", "a: [\n")], builtin_schema)


def test_relative_paths_follow_the_cd_of_the_run_script(sd_scripts_files, tmp_path):
    imported = import_files([sd_scripts_files], builtin_schema)
    # `cd ~/sd-scripts && ... --output_dir out`: the trainer wrote into ~/sd-scripts/out
    assert imported.config.args["output_dir"] == str(Path.home() / "sd-scripts" / "out")
    entry = next(e for e in imported.report.entries if e.key == "--output_dir")
    assert entry.value == "out" and "relative to" in entry.note
    # the config files named relative to the script's own folder were still found there
    assert imported.config.args["learning_rate"] == 1e-4


def test_a_hub_model_id_stays_as_it_is(tmp_path):
    write(tmp_path / "run.sh", "python flux_train_network.py --pretrained_model_name_or_path black-forest-labs/"
                               "FLUX.1-dev --vae ./ae.safetensors\n")
    args = import_files([tmp_path / "run.sh"], builtin_schema).config.args
    assert args["pretrained_model_name_or_path"] == "black-forest-labs/FLUX.1-dev"
    assert args["vae"] == str(tmp_path / "ae.safetensors")


def test_cli_musubi_import_and_export_three_phases(cli, musubi_ctx, tmp_path, make_dataset, monkeypatch):
    monkeypatch.setenv("LORATUI_MUSUBI_DIR", musubi_ctx.settings.trainers.musubi_dir)
    monkeypatch.setenv("LORATUI_MUSUBI_PYTHON", musubi_ctx.settings.trainers.musubi_python)
    root = make_dataset({"2_q": [(512, 512), (512, 768)]}, name="qwen")
    assert cli("dataset", "add", root, "--name", "qwen", "--workers", "1").code == 0
    models = {}
    for name in ("dit", "vae", "te"):
        models[name] = tmp_path / f"{name}.safetensors"
        models[name].write_bytes(b"x")
    write(tmp_path / "musubi.toml", f"""
[general]
resolution = [512, 512]
batch_size = 1
[[datasets]]
image_directory = "{root / '2_q'}"
cache_directory = "{tmp_path / 'cache'}"
num_repeats = 2
""")
    script = write(tmp_path / "train.sh", f"""
python src/musubi_tuner/qwen_image_cache_latents.py --dataset_config musubi.toml --vae {models['vae']}
accelerate launch src/musubi_tuner/qwen_image_train_network.py --dit {models['dit']} --vae {models['vae']} \\
  --text_encoder {models['te']} --dataset_config musubi.toml --network_module networks.lora_qwen_image \\
  --network_dim 8 --max_train_epochs 2 --output_dir {tmp_path / 'out'} --output_name q
""")
    out = tmp_path / "qwen.toml"
    result = cli("train", "import", script, "-o", out, "--json")
    assert result.code == 0, result
    assert result.json()["config"]["dataset"] == "qwen"  # found from the image folder
    exported = cli("train", "export", out, tmp_path / "export", "--json")
    assert exported.code == 0, exported
    phases = [p["name"] for p in exported.json()["phases"]]
    assert phases == ["cache_latents", "cache_text", "train"]
    run = (tmp_path / "export" / "run.sh").read_text()
    assert run.count("# phase ") == 3 and "qwen_image_train_network.py" in run
    assert (tmp_path / "export" / "dataset.toml").exists() and not (tmp_path / "export" / "train_config.toml").exists()


def test_ai_toolkit_defaults_are_reported(tmp_path):
    path = write(tmp_path / "min.yaml", "config:\n  name: x\n  process:\n    - type: sd_trainer\n      model:\n"
                                        "        arch: sdxl\n        name_or_path: /m/sdxl.safetensors\n")
    imported = import_files([path], builtin_schema)
    args = imported.config.args
    assert (imported.config.family, args["learning_rate"], args["max_train_steps"]) == ("sdxl", 1e-6, 1000)
    defaults = {e.key for e in imported.report.by_status("default")}
    assert {"train.lr", "train.steps", "train.lr_scheduler"} <= defaults
