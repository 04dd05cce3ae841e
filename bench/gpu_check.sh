#!/usr/bin/env bash
# GPU checks for a machine with NVIDIA GPUs (nothing in CI has one). Usage, from the repository root:
#   bench/gpu_check.sh OUT_DIR
# Optional environment: LORATUI (default .venv/bin/loratui), PYTHON (default .venv/bin/python),
#   TAGGER_MODEL (a WD14 folder with model.onnx + selected_tags.csv; default: the tiny test model, built here),
#   ACCEL_PYTHON (a Python with torch (CUDA) + accelerate for the 2-process smoke test; default: PYTHON).
# It writes into OUT_DIR only (a scratch loratui home inside it): the NVML inventory, doctor, a one-GPU tagging job,
# a 2-process `accelerate launch` smoke test (skipped with fewer than 2 GPUs), and summary.txt. Each step has a
# time limit; a failing step is recorded and the next one runs.
set -uo pipefail
OUT="${1:?usage: bench/gpu_check.sh OUT_DIR}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
LORATUI="${LORATUI:-.venv/bin/loratui}"
PYTHON="${PYTHON:-.venv/bin/python}"
ACCEL_PYTHON="${ACCEL_PYTHON:-$PYTHON}"
export LORATUI_HOME="$OUT/home"
unset LORATUI_FAKE_GPUS
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"

step() {  # step NAME SECONDS COMMAND... : output in OUT/NAME.log, result line in summary.txt
  local name="$1" limit="$2"; shift 2
  local start=$SECONDS
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  echo "$name: rc=$rc $((SECONDS - start))s" >> "$SUMMARY"
  return 0
}

step nvidia_smi 60 nvidia-smi -q
step gpus 60 "$LORATUI" gpus --json
step doctor 300 "$LORATUI" doctor --json --no-trainers

# A one-GPU tagging job on a small generated dataset.
step demo 300 "$LORATUI" demo --count 24 --no-open
if [ -z "${TAGGER_MODEL:-}" ]; then
  TAGGER_MODEL="$OUT/tiny-tagger"
  step tiny_model 120 "$PYTHON" -c "import sys; sys.path.insert(0, '.'); from pathlib import Path; \
from tests.tagging.conftest import build_model; build_model(Path('$TAGGER_MODEL'))"
fi
step tag_cuda 900 "$LORATUI" tag demo --model "$TAGGER_MODEL" --device cuda --mode overwrite --json
step tag_job 60 "$LORATUI" jobs --json

# Two processes, one per GPU, pinned the way loratui pins a training given GPUs 0 and 1.
COUNT="$("$PYTHON" -c "from loratui.gpu.inventory import NvmlInventory; print(len(NvmlInventory().snapshot()))")"
if [ "${COUNT:-0}" -ge 2 ]; then
  cat > "$OUT/ddp_smoke.py" <<'PY'
import os
import torch
import torch.distributed as dist
from accelerate import Accelerator

accelerator = Accelerator()
value = torch.ones(1, device=accelerator.device) * (accelerator.process_index + 1)
total = accelerator.reduce(value, reduction="sum")
print(f"rank {accelerator.process_index}/{accelerator.num_processes} device {accelerator.device} "
      f"{torch.cuda.get_device_name(accelerator.device)} CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')} "
      f"sum {total.item()}", flush=True)
accelerator.wait_for_everyone()
PY
  step accelerate_2gpu 600 env CUDA_VISIBLE_DEVICES=0,1 CUDA_DEVICE_ORDER=PCI_BUS_ID \
    "$ACCEL_PYTHON" -m accelerate.commands.launch --num_processes 2 --gpu_ids 0,1 --multi_gpu \
    --num_machines 1 --mixed_precision no --dynamo_backend no "$OUT/ddp_smoke.py"
else
  echo "accelerate_2gpu: skipped (${COUNT:-0} GPU(s))" >> "$SUMMARY"
fi
cat "$SUMMARY"
