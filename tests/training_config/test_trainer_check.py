"""`schema_dump.py check` and trainer_check on stand-in trainer scripts (no real trainer needed): argv through the
script's own parser (built by setup_parser() or inside main()), --config_file keys the trainer would ignore or
keep with the wrong type, and how findings become issues."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from loratui.training.plan import TrainPhase, TrainPlan
from loratui.training.trainer_check import DUMPER, check_job, issues_from_result, script_and_args

MAIN_ONLY = textwrap.dedent('''
    import argparse

    def common():
        parser = argparse.ArgumentParser()
        parser.add_argument("--dataset_config", type=str)
        parser.add_argument("--network_dim", type=int)
        parser.add_argument("--fp8_base", action="store_true")
        return parser

    def main():
        parser = common()
        parser.add_argument("--model_version", type=str, default="original", choices=["original", "edit"])
        args = parser.parse_args()
        raise SystemExit("model code ran: the parse call was not intercepted")

    if __name__ == "__main__":
        main()
''')

SETUP_PARSER = textwrap.dedent('''
    import argparse

    def setup_parser():
        parser = argparse.ArgumentParser()
        parser.add_argument("--config_file", type=str)
        parser.add_argument("--network_dim", type=int)
        parser.add_argument("--learning_rate", type=float)
        parser.add_argument("--cache_latents", action="store_true")
        parser.add_argument("--network_args", type=str, nargs="*")
        parser.add_argument("--mixed_precision", choices=["no", "fp16", "bf16"], default="no")
        return parser
''')


def run_check(tmp_path: Path, job: dict) -> dict:
    job_path, out = tmp_path / "job.json", tmp_path / "out.json"
    job_path.write_text(json.dumps(job), encoding="utf-8")
    proc = subprocess.run([sys.executable, str(DUMPER), "check", str(job_path), str(out)], capture_output=True,
                          text=True, timeout=60, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text(encoding="utf-8"))


def test_argv_goes_through_a_parser_built_inside_main(tmp_path):
    script = tmp_path / "fam_train_network.py"
    script.write_text(MAIN_ONLY, encoding="utf-8")
    good = {"name": "train", "script": str(script), "argv": ["--network_dim", "8", "--model_version", "edit"]}
    bad_flag = dict(good, name="bad flag", argv=["--netwrk_dim", "8"])
    bad_value = dict(good, name="bad value", argv=["--network_dim", "eight", "--model_version", "edit-9999"])
    result = run_check(tmp_path, {"jobs": [{"phases": [good, bad_flag, bad_value]}]})["results"][0]
    ok, flag, value = result["phases"]
    assert ok["error"] is None and ok["options"] == 4
    assert "unrecognized arguments: --netwrk_dim" in flag["error"]
    assert "invalid int value: 'eight'" in value["error"]


def test_config_file_keys_the_trainer_would_ignore_or_mistype(tmp_path):
    script = tmp_path / "train_network.py"
    script.write_text(SETUP_PARSER, encoding="utf-8")
    config = tmp_path / "train_config.toml"
    config.write_text('network_dim = 8\nnetwrk_alpha = 4\nlearning_rate = "1e-4"\ncache_latents = 1\n'
                      'network_args = "conv_dim=4"\nmixed_precision = "fp32"\n', encoding="utf-8")
    phase = {"name": "train", "script": str(script), "argv": ["--config_file", str(config)]}
    result = run_check(tmp_path, {"phases": [phase], "config_file": {"phase": "train", "path": str(config)}})
    assert result["phases"][0]["error"] is None
    found = result["config_file"]
    assert found["unknown"] == ["netwrk_alpha"]
    problems = dict(found["problems"])
    assert set(problems) == {"learning_rate", "cache_latents", "network_args", "mixed_precision"}
    assert "does not convert" in problems["learning_rate"] and "true or false" in problems["cache_latents"]
    assert "invalid choice" in problems["mixed_precision"]
    issues = issues_from_result(result)
    assert {i.field for i in issues} == {"netwrk_alpha", "learning_rate", "cache_latents", "network_args",
                                        "mixed_precision"}
    assert "silently ignore" in next(i.message for i in issues if i.field == "netwrk_alpha")


def test_a_script_that_never_parses_is_an_error_not_a_hang(tmp_path):
    script = tmp_path / "nothing.py"
    script.write_text("x = 1\n", encoding="utf-8")
    result = run_check(tmp_path, {"phases": [{"name": "train", "script": str(script), "argv": []}]})
    assert "parsed no arguments" in result["phases"][0]["error"]
    assert issues_from_result(result)[0].field == "train argv"


def test_job_for_a_plan(tmp_path):
    argv = ["/venv/python", "-m", "accelerate.commands.launch", "--num_processes", "1", "/t/qwen_image_train_network.py",
            "--dataset_config", "/job/dataset.toml", "--dit", "/m/dit.safetensors"]
    assert script_and_args(argv) == ("/t/qwen_image_train_network.py", argv[6:])
    plan = TrainPlan(backend="musubi", family="qwen-image-edit", workdir=tmp_path,
                     phases=[TrainPhase("train", argv, "/t")])
    job = check_job(plan)
    assert job["config_file"] is None
    assert job["dataset"] == {"phase": "train", "path": str(tmp_path / "dataset.toml"), "dialect": "musubi",
                              "architecture": "qie"}
