"""Data parallelism and multiple machines through accelerate and sd-scripts' DeepSpeed options: the [launch]
checks, the DeepSpeed checks, the accelerate argv for two machines and the step count over several processes."""

from __future__ import annotations

from pathlib import Path

from loratui.training.distributed import deepspeed_problems, is_host, launch_problems
from loratui.training.kohya import launcher_argv
from loratui.training.schema import Option, Schema, builtin_schema
from loratui.training.steps import StepParams, SubsetImages, compute_steps
from loratui.datasets.buckets import BucketRules

TWO_NODES = {"num_processes": 4, "num_machines": 2, "machine_rank": 1, "main_process_ip": "10.0.0.1",
             "main_process_port": 29500}


def fields(problems, severity="error"):
    return [f for f, _m, s in problems if s == severity]


def test_two_machines_need_every_field_and_sane_values():
    assert launch_problems(TWO_NODES) == []
    missing = launch_problems({"num_processes": 4, "num_machines": 2, "main_process_ip": "head"})
    assert fields(missing) == ["launch.machine_rank", "launch.main_process_port"]
    assert fields(launch_problems({**TWO_NODES, "machine_rank": 2})) == ["launch.machine_rank"]
    assert fields(launch_problems({**TWO_NODES, "machine_rank": -1})) == ["launch.machine_rank"]
    assert fields(launch_problems({**TWO_NODES, "main_process_port": 70000})) == ["launch.main_process_port"]
    assert fields(launch_problems({**TWO_NODES, "main_process_port": 0})) == ["launch.main_process_port"]
    assert fields(launch_problems({**TWO_NODES, "main_process_ip": "10.0.0.1:29500"})) == ["launch.main_process_ip"]
    assert fields(launch_problems({**TWO_NODES, "num_processes": 3})) == ["launch.num_processes"]
    assert fields(launch_problems({**TWO_NODES, "launcher": "python"})) == ["launch.launcher"]
    assert fields(launch_problems({"machine_rank": 1})) == ["launch.machine_rank"]  # one machine: rank 0 only
    assert fields(launch_problems({"main_process_ip": "10.0.0.1"}), "warning") == ["launch.main_process_ip"]
    assert fields(launch_problems({"num_processes": 2, "gpu_ids": "0,x"})) == ["launch.gpu_ids"]
    assert fields(launch_problems({"num_processes": 2, "gpu_ids": "1,1"})) == ["launch.gpu_ids"]
    assert fields(launch_problems({**TWO_NODES, "gpu_ids": "0,1"}), "warning") == []  # 2 per machine


def test_host_forms():
    for good in ("10.0.0.1", "fe80::1", "head-node", "gpu01.example.com"):
        assert is_host(good), good
    for bad in ("10.0.0.1:29500", "http://head", "a b", "-bad", "999.1.1.1", ""):
        assert not is_host(bad), bad


def test_accelerate_argv_for_the_second_of_two_machines():
    argv = launcher_argv("/venv/bin/python", Path("/sd/train_network.py"), {**TWO_NODES, "mixed_precision": "bf16"})
    assert argv[:3] == ["/venv/bin/python", "-m", "accelerate.commands.launch"] and argv[-1] == "/sd/train_network.py"
    flags = dict(zip(argv[3:-1], argv[4:-1]))
    assert (flags["--num_processes"], flags["--num_machines"], flags["--machine_rank"]) == ("4", "2", "1")
    assert (flags["--main_process_ip"], flags["--main_process_port"]) == ("10.0.0.1", "29500")
    assert "--multi_gpu" in argv  # else accelerate runs a plain single process on a one-GPU machine
    single = launcher_argv("/p", Path("/s.py"), {})
    assert "--multi_gpu" not in single and "--machine_rank" not in single
    assert launcher_argv("/p", Path("/s.py"), {"launcher": "python"}) == ["/p", "/s.py"]


def test_deepspeed_only_where_the_script_has_it():
    kohya = Schema("kohya", "sdxl", {"deepspeed": Option("deepspeed", "bool"),
                                     "zero_stage": Option("zero_stage", "int", default=2, choices=[0, 1, 2, 3])})
    assert deepspeed_problems({"deepspeed": True, "zero_stage": 2, "offload_optimizer_device": "cpu"}, kohya,
                              "kohya") == []
    musubi = Schema("musubi", "qwen_image", {})
    problems = deepspeed_problems({"deepspeed": True}, musubi, "musubi")
    assert fields(problems) == ["deepspeed"] and "musubi-tuner has no DeepSpeed" in problems[0][1]
    assert fields(deepspeed_problems({"zero_stage": 3}, kohya, "kohya"), "warning") == ["zero_stage"]
    stage2 = deepspeed_problems({"deepspeed": True, "offload_param_device": "cpu", "zero3_init_flag": True}, kohya,
                                "kohya")  # default stage 2
    assert fields(stage2) == ["offload_param_device", "zero3_init_flag"]
    assert fields(deepspeed_problems({"deepspeed": True, "zero_stage": 1, "offload_optimizer_device": "cpu"}, kohya,
                                     "kohya")) == ["offload_optimizer_device"]
    nvme = deepspeed_problems({"deepspeed": True, "zero_stage": 3, "offload_param_device": "nvme"}, kohya, "kohya")
    assert fields(nvme) == ["offload_param_nvme_path"]
    assert deepspeed_problems({}, musubi, "musubi") == []


def test_builtin_sd_scripts_schema_knows_deepspeed_or_the_check_says_so():
    schema = builtin_schema("kohya", "sd15")
    problems = deepspeed_problems({"deepspeed": True}, schema, "kohya")
    # the built-in schema (no trainer installed) may lack the option: then the user is told, never silently run
    assert problems == [] or fields(problems) == ["deepspeed"]


def test_steps_divide_by_processes_as_sd_scripts_does():
    rules = BucketRules(resolution=(512, 512), min_bucket_reso=256, max_bucket_reso=1024, bucket_reso_steps=64)
    subsets = [SubsetImages("10_a", 10, False, [(512, 512)] * 7)]  # 70 images with repeats
    one = compute_steps(subsets, StepParams(rules, batch_size=2, max_train_epochs=2))
    assert (one.batches_per_epoch, one.steps_per_epoch, one.total_steps) == (35, 35, 70) and not one.notes
    # math.ceil(len(train_dataloader) / num_processes / gradient_accumulation_steps): ceil(35 / 4 / 2) = 5
    four = compute_steps(subsets, StepParams(rules, batch_size=2, num_processes=4, gradient_accumulation_steps=2,
                                             max_train_epochs=2))
    assert (four.steps_per_epoch, four.total_steps, four.epochs) == (5, 10, 2)
    assert "4 processes: batch size 2 per device (16 per optimizer step" in four.notes[-1]
    steps = compute_steps(subsets, StepParams(rules, batch_size=2, num_processes=3, max_train_steps=100))
    assert steps.epochs == 9  # each process takes ceil(35 / 3) = 12 batches per epoch: ceil(100 / 12)
