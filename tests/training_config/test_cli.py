"""`loratui train ...` commands, in-process against the test home."""

from __future__ import annotations

import json

import pytest

from loratui.config import tomllib


@pytest.fixture
def dataset_cli(cli, make_dataset):
    root = make_dataset({"10_a": [(512, 512), (768, 512), (768, 512)], "5_b": [(512, 768)]})
    assert cli("dataset", "add", root, "--name", "ds", "--workers", "1").code == 0
    return root


def write_config(path, model, out, **extra):
    lines = ['backend = "kohya"', 'family = "sd15"', 'dataset = "ds"', "", "[args]",
             f'pretrained_model_name_or_path = "{model}"', f'output_dir = "{out}"', 'network_module = "networks.lora"',
             "network_dim = 8", 'resolution = "512,512"', "enable_bucket = true", "train_batch_size = 2",
             "max_train_epochs = 3"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in extra.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def config_file(tmp_path):
    model = tmp_path / "model.safetensors"
    model.write_bytes(b"x")
    return write_config(tmp_path / "run.toml", model, tmp_path / "out")


def test_steps_json(cli, dataset_cli, config_file):
    result = cli("train", "steps", config_file, "--json")
    assert result.code == 0, result
    data = result.json()
    assert data["buckets"] == {"384x640": 5, "512x512": 10, "640x384": 20}
    assert data["images_with_repeats"] == 35 and data["batches_per_epoch"] == 18
    assert data["epochs"] == 3 and data["total_steps"] == 54 and data["eta_seconds"] is None


def test_steps_with_set_and_eta(cli, dataset_cli, config_file, tmp_path):
    result = cli("train", "steps", config_file, "--set", "gradient_accumulation_steps=4", "--json")
    assert result.json()["total_steps"] == 15
    timed = tmp_path / "timed.toml"
    timed.write_text("seconds_per_step = 2.0\n" + config_file.read_text(), encoding="utf-8")
    data = cli("train", "steps", timed, "--json").json()
    assert data["seconds_per_step"] == 2.0 and data["eta_seconds"] == 108.0
    text = cli("train", "steps", timed)
    assert "total steps: 54" in text.out and "640x384" in text.out and "ETA: 1m48s" in text.out


def test_eta_from_previous_runs_of_the_family(cli, dataset_cli, config_file, home):
    import time

    from loratui.store import connect

    conn = connect(home / "loratui.db")
    now = time.time()
    for family, metrics in (("sd15", [(1, 100.0), (11, 130.0)]), ("sdxl", [(1, 0.0), (2, 50.0)])):
        job = conn.execute("INSERT INTO jobs (kind, params, status, created_at, updated_at) "
                           "VALUES ('train', ?, 'completed', ?, ?)", (json.dumps({"family": family}), now, now)).lastrowid
        conn.executemany("INSERT INTO job_metrics (job_id, step, t) VALUES (?, ?, ?)",
                         [(job, step, t) for step, t in metrics])
    conn.close()
    data = cli("train", "steps", config_file, "--json").json()
    assert data["seconds_per_step"] == 3.0 and data["eta_seconds"] == 162.0


def test_check_reports_errors_with_fields(cli, dataset_cli, config_file):
    assert cli("train", "check", config_file).code == 0
    result = cli("train", "check", config_file, "--set", "network_dim=0", "--set", "mixed_precision=fp32", "--json")
    assert result.code == 2
    data = result.json()
    assert not data["ok"] and {"network_dim", "mixed_precision"} <= {i["field"] for i in data["issues"]}
    bad = cli("train", "check", config_file, "--set", "network_dim=lots")
    assert bad.code == 2 and "network_dim" in bad.err


def test_plan_prints_files_and_argv(cli, dataset_cli, config_file, kohya_ctx, tmp_path, monkeypatch):
    monkeypatch.setenv("LORATUI_KOHYA_DIR", kohya_ctx.settings.trainers.kohya_dir)
    monkeypatch.setenv("LORATUI_KOHYA_PYTHON", kohya_ctx.settings.trainers.kohya_python)
    job = tmp_path / "job"
    result = cli("train", "plan", config_file, "--write", job, "--json")
    assert result.code == 0, result
    data = result.json()
    assert data["total_steps"] == 54 and data["phases"][0]["argv"][-1] == str(job / "dataset.toml")
    assert tomllib.loads((job / "train_config.toml").read_text())["resolution"] == "512,512"
    text = cli("train", "plan", config_file)
    assert "train_config.toml" in text.out and "accelerate.commands.launch" in text.out


def test_plan_without_trainer_says_how_to_set_it_up(cli, dataset_cli, config_file):
    result = cli("train", "plan", config_file)
    assert result.code == 2 and "LORATUI_KOHYA_DIR" in result.err


def test_options_search(cli):
    result = cli("train", "options", "--search", "bucket", "--json")
    names = {o["name"] for o in result.json()["options"]}
    assert {"enable_bucket", "bucket_no_upscale"} <= names and "network_dim" not in names
    flux = cli("train", "options", "--family", "flux", "--section", "basic", "--json").json()
    assert "t5xxl" in {o["name"] for o in flux["options"]}
    assert cli("train", "options", "--backend", "kohya", "--family", "qwen-image").code == 2
    assert cli("train", "options", "--family", "no-such-family").code == 2


def test_options_search_finds_descriptions_and_initials(cli):
    names = [o["name"] for o in cli("train", "options", "--search", "lr", "--json").json()["options"]]
    assert names[0] == "learning_rate" and "lr_scheduler" in names
    # a word found only in the description counts too
    found = cli("train", "options", "--search", "warm up", "--json").json()["options"]
    assert "lr_warmup_steps" in {o["name"] for o in found}
    # every word must match: "text encoder lr" narrows to the text encoder's learning rate
    found = [o["name"] for o in cli("train", "options", "--search", "text encoder lr", "--json").json()["options"]]
    assert found and found[0] == "text_encoder_lr"


def test_options_family_comes_from_context(cli, dataset_cli, config_file):
    default = cli("train", "options", "--search", "lr", "--json").json()
    assert default["family"] == "sd15" and default["family_from"].startswith("default")
    from_config = cli("train", "options", "--config", config_file, "--json").json()
    assert from_config["family"] == "sd15" and from_config["family_from"].startswith("config")
    qwen = cli("train", "options", "--family", "qwen-image-edit-2509", "--search", "dit", "--json").json()
    assert qwen["backend"] == "musubi" and "dit" in {o["name"] for o in qwen["options"]}
    untrained = cli("train", "options", "--dataset", "ds")
    assert untrained.code == 2 and "--family" in untrained.err


def test_presets_new_and_save(cli, dataset_cli, tmp_path, home):
    listed = cli("train", "presets", "--json").json()
    names = {p["name"] for p in listed}
    assert {f"{f}-{gb}gb" for f in ("sd15", "sdxl", "flux") for gb in (8, 12, 16, 24)} <= names
    out = tmp_path / "new.toml"
    result = cli("train", "new", "--preset", "sdxl-12gb", "--dataset", "ds", "-o", out, "--set", "network_dim=64")
    assert result.code == 0 and "pretrained_model_name_or_path" in result.err  # told what to fill in
    data = tomllib.loads(out.read_text())
    assert data["dataset"] == "ds" and data["family"] == "sdxl" and data["args"]["network_dim"] == 64
    assert cli("train", "new", "--preset", "sdxl-12gb", "--dataset", "ds", "-o", out).code == 2  # exists
    assert cli("train", "new", "--preset", "nope", "--dataset", "ds", "-o", tmp_path / "x.toml").code == 2
    assert cli("train", "save-preset", out, "--name", "mine").code == 0
    assert (home / "presets" / "mine.toml").is_file()
    assert "mine" in {p["name"] for p in cli("train", "presets", "--json").json()}
    assert cli("train", "save-preset", out, "--name", "sdxl-8gb").code == 2  # built-in names are reserved
    assert cli("train", "save-preset", out, "--name", "../evil").code == 2
    again = cli("train", "new", "--preset", "mine", "--dataset", "ds", "-o", tmp_path / "from-mine.toml")
    assert again.code == 0


@pytest.mark.parametrize("preset", [f"{f}-{gb}gb" for f in ("sd15", "sdxl", "flux") for gb in (8, 12, 16, 24)])
def test_builtin_presets_only_lack_paths(ctx, preset, tmp_path):
    """Every built-in preset validates except for the paths the user must fill in."""
    from loratui.training.presets import load_preset
    from loratui.training.schema import builtin_schema
    from loratui.training.validate import check_args, errors

    config = load_preset(ctx, preset)
    config.dataset = "ds"
    problems = {i.field for i in errors(check_args(config, builtin_schema(config.backend, config.family)))}
    assert problems <= {"pretrained_model_name_or_path", "output_dir", "clip_l", "t5xxl", "ae"}, problems


def test_families_lists_the_registry(cli):
    listed = cli("train", "families", "--json").json()
    assert {f["id"] for f in listed} >= {"sd15", "qwen-image", "wan2.2-i2v-a14b"}
    one = cli("train", "families", "flux-kontext", "--json").json()
    assert one["backend"] == "musubi" and one["scripts"]["train"] == "flux_kontext_train_network.py"
    assert {r["flag"] for r in one["roles"]} == {"--dit", "--vae", "--text_encoder1", "--text_encoder2"}
    assert one["controls"]["max_count"] == 1 and "flux-kontext-12gb" in one["presets"]
    shown = cli("train", "families", "qwen-image-edit-2509")
    assert shown.code == 0 and "--model_version edit-2509" in shown.out and "resume:" in shown.out
    assert cli("train", "families", "nope").code == 2
