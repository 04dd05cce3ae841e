"""A stand-in for sd-scripts' gen_img.py (loratui's checkpoint sweep tests).

It takes the options loratui passes (``--outdir``, ``--from_file``, ``--network_weights``, ``--network_mul``; the
rest is accepted and ignored) and, for each prompt line, writes a small real PNG named by the line's ``--f``
option, as gen_img.py does. Each run appends ``{"argv": [...], "lines": [...]}`` as one JSON line to the file
named by ``LORATUI_TEST_SWEEP_CALLS`` (when set). When ``LORATUI_TEST_SWEEP_FAIL`` is set and is part of the
``--network_weights`` path, the run writes its first image and then dies with a traceback, as a crashed script
does.
"""

import argparse
import json
import os
import re
import sys
import time

from PIL import Image


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--outdir", required=True)
    parser.add_argument("--from_file", required=True)
    parser.add_argument("--network_weights")
    parser.add_argument("--network_mul", type=float, default=1.0)
    args, _unknown = parser.parse_known_args()
    with open(args.from_file, encoding="utf-8") as handle:
        lines = [line.strip() for line in handle if line.strip()]
    calls = os.environ.get("LORATUI_TEST_SWEEP_CALLS")
    if calls:
        with open(calls, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"argv": sys.argv, "lines": lines}) + "\n")
    fail = os.environ.get("LORATUI_TEST_SWEEP_FAIL")
    delay = float(os.environ.get("LORATUI_TEST_SWEEP_DELAY", "0"))
    print("loading the model (stand-in)", flush=True)
    for number, line in enumerate(lines):
        if fail and args.network_weights and fail in args.network_weights and number == 1:
            raise RuntimeError("CUDA out of memory (stand-in)")
        name = re.search(r" --f (\S+)", line).group(1)
        seed = int(re.search(r" --d (\d+)", line).group(1))
        shade = int(args.network_mul * 100) % 256 if args.network_weights else 0
        Image.new("RGB", (16, 16), (seed % 256, shade, 80)).save(os.path.join(args.outdir, name))
        print(f"{number + 1}/{len(lines)}: {name}", flush=True)
        time.sleep(delay)
    return 0


if __name__ == "__main__":
    sys.exit(main())
