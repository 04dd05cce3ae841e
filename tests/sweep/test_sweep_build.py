"""Sweep requests into manifests and argvs: prompt lines, rows (every N, strengths, baseline), columns, checkpoint
names, the training's options, and the argv each family's inference script gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from loratui.errors import ConfigError, InputError, LoraError
from loratui.loras.sweep_manifest import BASELINE_KEY, SweepRow, check_key
from loratui.training.sweep import source as sources
from loratui.training.sweep.argv import RenderSpec, model_args, row_argv
from loratui.training.sweep.build import RowSpec, expand_columns, expand_rows, pick_checkpoints
from loratui.training.sweep.prompts import cell_line, parse_prompt_line, parse_prompts
from loratui.training.sweep.source import Checkpoint, find_checkpoints, train_args


def test_prompt_line_options_as_sd_scripts_reads_them():
    prompt = parse_prompt_line("a cat, smiling --n blurry, lowres --W 640 --h 512 --d 7 --s 20 --l 6.5 --ow 1024")
    assert (prompt.text, prompt.negative, prompt.width, prompt.height, prompt.seed, prompt.steps, prompt.scale) == (
        "a cat, smiling", "blurry, lowres", 640, 512, 7, 20, 6.5)
    assert parse_prompt_line("a dog --g 3.5").scale == 3.5  # musubi-tuner's name for the scale
    assert [p.text for p in parse_prompts(["# comment", "", "one", "  two --d 1"])] == ["one", "two"]
    with pytest.raises(ConfigError):
        parse_prompt_line("a cat --d seven")
    with pytest.raises(ConfigError):
        parse_prompts(["# only a comment"])


def test_cell_lines_carry_every_option_and_cannot_break_the_file():
    line = cell_line("gen_img", "a cat\nin a hat -- x", "ugly", 3, 64, 48, 4, 7.0, "p00-s3.png")
    assert line == "a cat in a hat - x --n ugly --w 64 --h 48 --s 4 --d 3 --l 7 --f p00-s3.png"
    assert parse_prompt_line(line).seed == 3 and parse_prompt_line(line).width == 64
    assert cell_line("musubi", "a cat", "", 9, 128, 128, 2, 4.0) == "a cat --n  --w 128 --h 128 --s 2 --d 9 --g 4"


def _checkpoints(n: int) -> list[Checkpoint]:
    return [Checkpoint(f"/o/x-{i:06d}.safetensors", epoch=i) for i in range(1, n)] + [
        Checkpoint("/o/x.safetensors", final=True)]


def test_rows_every_nth_with_strengths_and_baseline():
    checkpoints = _checkpoints(5)  # epochs 1-4, then the final one
    assert [c.epoch for c in pick_checkpoints(checkpoints, 2)] == [2, 4, None]
    assert pick_checkpoints(checkpoints, 3)[-1].final  # the last one always
    rows = expand_rows(checkpoints, RowSpec(every=2, strengths=(0.8, 1.0)))
    assert [r.key for r in rows] == [BASELINE_KEY, "e000002-x0.8", "e000002-x1", "e000004-x0.8", "e000004-x1",
                                     "final-x0.8", "final-x1"]
    assert rows[0].is_baseline and rows[1].lora == "/o/x-000002.safetensors" and rows[1].strength == 0.8
    assert rows[1].epoch == 2 and rows[1].label == "epoch 2 x0.8"
    plain = expand_rows(checkpoints, RowSpec(baseline=False))
    assert [r.key for r in plain] == ["e000001", "e000002", "e000003", "e000004", "final"]
    for row in rows + plain:
        check_key(row.key)
    with pytest.raises(InputError):
        pick_checkpoints(checkpoints, 0)


def test_file_rows_get_safe_unique_keys():
    rows = expand_rows([Checkpoint("/a/my lora (v2).safetensors"), Checkpoint("/b/my lora (v2).safetensors")],
                       RowSpec(baseline=False))
    assert [r.key for r in rows] == ["my_lora_v2", "my_lora_v2-2"]


def test_columns_prompts_by_seeds():
    prompts = parse_prompts(["a cat --d 5", "a dog"])
    assert [(c.key, c.seed, c.prompt_index) for c in expand_columns(prompts, [1, 2])] == [
        ("p00-s1", 1, 0), ("p00-s2", 2, 0), ("p01-s1", 1, 1), ("p01-s2", 2, 1)]
    assert [c.seed for c in expand_columns(prompts, None)] == [5, 42]  # the line's own --d, else 42
    with pytest.raises(InputError):
        expand_columns(prompts, [1, 1])


def test_checkpoints_of_a_training_in_order(tmp_path):
    for name in ("run-000002.safetensors", "run.safetensors", "run-000001.safetensors", "run-step00000040.safetensors",
                 "other-000001.safetensors", "run-000001-state", "run-000003.ckpt", "run-extra.safetensors"):
        (tmp_path / name).write_bytes(b"x")
    found = find_checkpoints(tmp_path, "run")
    assert [Path(c.path).name for c in found] == ["run-step00000040.safetensors", "run-000001.safetensors",
                                                   "run-000002.safetensors", "run.safetensors"]
    assert found[-1].final and found[0].step == 40 and found[1].epoch == 1


def test_train_args_read_the_config_file_then_the_argv(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[model]\npretrained_model_name_or_path = "/m/base"\n[other]\nresolution = "64,64"\n'
                      'v2 = true\n')
    args = train_args(["py", "-m", "accelerate.commands.launch", "--num_processes", "1", "/k/train_network.py",
                       "--config_file", str(config), "--network_module", "networks.lora", "--v_parameterization"])
    assert args["pretrained_model_name_or_path"] == "/m/base" and args["resolution"] == "64,64"
    assert args["network_module"] == "networks.lora" and args["v2"] is True and args["v_parameterization"] is True
    assert "num_processes" not in args  # the launcher's options are not the script's


def _spec(style: str, pairs) -> RenderSpec:
    return RenderSpec(style=style, python="/v/python", script=f"/t/{'gen_img' if style == 'gen_img' else 'q'}.py",
                      cwd="/t", model_args=pairs, width=64, height=48, steps=4, scale=None, extra_args=["--bf16"])


def test_gen_img_argv_loads_the_model_once_per_row():
    pairs = model_args("sd2-v", {"pretrained_model_name_or_path": "/m/base", "tokenizer_cache_dir": "/tok",
                                 "vae": "/m/vae.safetensors", "output_dir": "/o"})
    assert pairs == [["ckpt", "/m/base"], ["vae", "/m/vae.safetensors"], ["tokenizer_cache_dir", "/tok"],
                     ["v2", None], ["v_parameterization", None]]
    spec = _spec("gen_img", pairs)
    row = SweepRow("e000002", "epoch 2", lora="/o/x-000002.safetensors", strength=0.8, epoch=2)
    argv = row_argv(spec, row, Path("/s/p.txt"), Path("/s/out"))
    assert argv[:2] == ["/v/python", "/t/gen_img.py"]
    assert argv[argv.index("--network_weights") + 1] == "/o/x-000002.safetensors"
    assert argv[argv.index("--network_mul") + 1] == "0.8"
    assert argv[argv.index("--network_module") + 1] == "networks.lora"
    assert argv[argv.index("--from_file") + 1] == "/s/p.txt" and argv[argv.index("--outdir") + 1] == "/s/out"
    assert ["--W", "64", "--H", "48"] == argv[argv.index("--W"):argv.index("--W") + 4]
    assert "--v2" in argv and argv[-1] == "--bf16"
    baseline = row_argv(spec, SweepRow(BASELINE_KEY, "baseline"), Path("/s/p.txt"), Path("/s/out"))
    assert "--network_weights" not in baseline and "--network_module" not in baseline


def test_musubi_argv_and_model_files():
    pairs = model_args("qwen-image", {"dit": "/m/dit.safetensors", "vae": "/m/vae.safetensors",
                                      "text_encoder": "/m/te.safetensors", "blocks_to_swap": 16})
    assert dict((k, v) for k, v in pairs) == {"dit": "/m/dit.safetensors", "vae": "/m/vae.safetensors",
                                              "text_encoder": "/m/te.safetensors", "model_version": "original"}
    argv = row_argv(_spec("musubi", pairs), SweepRow("final", "final", lora="/o/x.safetensors", strength=1.0),
                    Path("/s/p.txt"), Path("/s/out"))
    assert argv[argv.index("--lora_weight") + 1] == "/o/x.safetensors"
    assert argv[argv.index("--lora_multiplier") + 1] == "1"
    assert argv[argv.index("--image_size") + 1:argv.index("--image_size") + 3] == ["48", "64"]  # height, width
    assert argv[argv.index("--save_path") + 1] == "/s/out" and "--output_type" in argv


def test_model_args_need_a_base_model_and_a_known_family():
    with pytest.raises(LoraError):
        model_args("sd15", {})
    assert model_args("sd15", {}, {"ckpt": "/m/b"}) == [["ckpt", "/m/b"]]
    assert model_args("sdxl", {"pretrained_model_name_or_path": "/m/xl", "v2": True}) == [["ckpt", "/m/xl"],
                                                                                          ["sdxl", None]]
    with pytest.raises(LoraError):
        model_args("wan21-t2v", {"dit": "/m/d"})


def test_files_name_their_family(tmp_path):
    from safetensors.numpy import save_file
    import numpy as np

    lora = tmp_path / "mine.safetensors"
    down = np.zeros((4, 320), dtype=np.float32)
    save_file({"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": down,
               "lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight": np.zeros((320, 4), dtype=np.float32),
               "lora_unet_down_blocks_0_attentions_0_proj_in.alpha": np.array(4.0, dtype=np.float32)}, str(lora),
              metadata={"ss_base_model_version": "sd_v1", "ss_network_module": "networks.lora"})
    source = sources.from_files([str(lora)])
    assert (source.family, source.backend, [c.path for c in source.checkpoints]) == ("sd15", "kohya", [str(lora)])
    with pytest.raises(LoraError):
        sources.from_files([str(tmp_path / "missing.safetensors")])
