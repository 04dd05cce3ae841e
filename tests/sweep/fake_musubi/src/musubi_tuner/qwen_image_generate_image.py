"""A stand-in for musubi-tuner's qwen_image_generate_image.py (loratui's checkpoint sweep tests).

It takes ``--save_path``, ``--from_file`` and ``--lora_weight``/``--lora_multiplier`` (the rest is ignored) and,
as the real script does, saves one PNG per prompt line in prompt order, named ``<YYYYmmdd-HHMMSS-mmm>_<seed>__000.png`` (as 30c658c names them)
with the seed of the line's ``--d`` option. Each run appends one JSON line to ``LORATUI_TEST_SWEEP_CALLS`` (when set).
"""

import argparse
import json
import os
import re
import sys
import time
from datetime import datetime

from PIL import Image


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--save_path", required=True)
    parser.add_argument("--from_file", required=True)
    parser.add_argument("--lora_weight", nargs="*")
    parser.add_argument("--lora_multiplier", nargs="*", type=float)
    args, _unknown = parser.parse_known_args()
    with open(args.from_file, encoding="utf-8") as handle:
        lines = [line.strip() for line in handle if line.strip()]
    calls = os.environ.get("LORATUI_TEST_SWEEP_CALLS")
    if calls:
        with open(calls, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"argv": sys.argv, "lines": lines}) + "\n")
    for line in lines:
        seed = int(re.search(r" --d (\d+)", line).group(1))
        flag = datetime.fromtimestamp(time.time()).strftime("%Y%m%d-%H%M%S-%f")[:-3]
        Image.new("RGB", (16, 16), (seed % 256, 10, 10)).save(os.path.join(args.save_path, f"{flag}_{seed}__000.png"))
        time.sleep(0.002)  # the real script takes far longer per image; names must not repeat a millisecond
    return 0


if __name__ == "__main__":
    sys.exit(main())
