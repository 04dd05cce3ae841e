"""A stand-in for sd-scripts: replays a recorded real log (tests/fixtures/kohya-logs) with delays.

It writes what the real trainer wrote at the same moments: the LoRA file at each ``saving checkpoint``
(a real, tiny safetensors file), a state folder with ``train_state.json`` at ``saving last state``, sample
images after chosen steps. It exits with the recorded exit code (or ``--exit``). Paths in the recording
(``/workspace/out/<run>``) are rewritten to ``--output_dir``.

With ``--resume DIR`` it checks DIR/train_state.json exists and replays the resumed recording instead.
``--child`` starts a grandchild in the same process group that ignores SIGINT (as ``train_network.py`` under
``accelerate launch`` survives a SIGINT sent to accelerate alone). ``--start_delay S`` waits before the first
output (a trainer still loading its model), ``--slow_save S`` after each ``saving checkpoint`` line (a big save).
"""

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "kohya-logs"


def merged_chunks(stem: str) -> list[tuple[str, bytes]]:
    """The recording as (stream, bytes) chunks in emission order (stdout lines put where sd-scripts prints them)."""
    combined = FIXTURES / f"{stem}.log"
    if combined.exists():
        return [("stdout", chunk) for chunk in re.split(rb"(?<=[\r\n])", combined.read_bytes()) if chunk]
    err = [c for c in re.split(rb"(?=\r)|(?<=\n)", (FIXTURES / f"{stem}.stderr.log").read_bytes()) if c]
    out = [l for l in (FIXTURES / f"{stem}.stdout.log").read_bytes().splitlines(keepends=True)]
    head = []
    while out and not out[0].startswith(b"saving checkpoint"):
        head.append(out.pop(0))
    chunks: list[tuple[str, bytes]] = []
    placed_head = False
    for chunk in err:
        if not placed_head and chunk.startswith(b"\rsteps:"):
            chunks += [("stdout", l) for l in head]
            placed_head = True
        if out and (b"model saved." in chunk or b"saving last state" in chunk) and b"-step" not in out[0]:
            chunks.append(("stdout", out.pop(0)))
        chunks.append(("stderr", chunk))
        match = re.search(rb"\| (\d+)/\d+ \[[^\]]*avr_loss", chunk)
        if match and out and re.search(rb"-step0*%s\." % match.group(1), out[0]):
            chunks.append(("stdout", out.pop(0)))
    if not placed_head:
        chunks = [("stdout", l) for l in head] + chunks
    chunks += [("stdout", l) for l in out]
    return chunks


def write_lora(path: Path) -> None:
    import numpy as np
    from safetensors.numpy import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    name = "lora_unet_down_blocks_0_attentions_0_proj_in"
    tensors = {f"{name}.lora_down.weight": np.zeros((4, 8), dtype=np.float32),
               f"{name}.lora_up.weight": np.zeros((8, 4), dtype=np.float32),
               f"{name}.alpha": np.array(1.0, dtype=np.float32)}
    save_file(tensors, str(path),
              metadata={"ss_network_dim": "4", "ss_network_alpha": "1.0", "ss_output_name": path.stem})


def write_png(path: Path) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (32, 32), (40, 120, 200)).save(path)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--log", required=True, help="fixture stem, e.g. 16_toml_accelerate_combined_unbuffered")
    ap.add_argument("--resume_log", default="10_resume_skip")
    ap.add_argument("--output_dir", required=True)
    ap.add_argument("--output_name", default="tinylora")
    ap.add_argument("--step_delay", type=float, default=0.02)
    ap.add_argument("--exit", type=int, default=None)
    ap.add_argument("--samples_at", default="")
    ap.add_argument("--child", action="store_true")
    ap.add_argument("--resume", default=None)
    ap.add_argument("--skip_until_initial_step", action="store_true")
    ap.add_argument("--crash_after", action="store_true", help="raise after the replay (exit 1)")
    ap.add_argument("--start_delay", type=float, default=0.0)
    ap.add_argument("--slow_save", type=float, default=0.0)
    args, _unknown = ap.parse_known_args()
    out_dir = Path(args.output_dir)
    stem = args.log
    if args.resume:
        state = Path(args.resume) / "train_state.json"
        if not state.is_file():
            print(f"no state in {args.resume}", file=sys.stderr)
            return 2
        stem = args.resume_log
    if args.child:
        subprocess.Popen([sys.executable, "-c",
                          "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(600)"])
    samples = {int(s) for s in args.samples_at.split(",") if s}
    rewrite = re.compile(rb"/workspace/out/[A-Za-z0-9_]+")
    streams = {"stdout": sys.stdout.buffer, "stderr": sys.stderr.buffer}
    meta = (FIXTURES / f"{stem}.meta")
    code = 0
    if meta.exists():
        found = re.search(r"^rc: (-?\d+)", meta.read_text(), re.M)
        code = int(found.group(1)) if found else 0
    last_step = 0
    time.sleep(args.start_delay)
    for stream, chunk in merged_chunks(stem):
        chunk = rewrite.sub(str(out_dir).encode(), chunk)
        if stream == "stderr" and b"Traceback" in chunk and code < 0:
            # The recording was cut by a SIGINT; here we wait for a real one instead of replaying it.
            while True:
                time.sleep(0.05)
        handle = streams[stream]
        handle.write(chunk)
        handle.flush()
        text = chunk.decode("utf-8", "replace")
        found = re.match(r"saving checkpoint: (.+?)\s*$", text.strip())
        if found:
            write_lora(Path(found.group(1)))
            time.sleep(args.slow_save)
        if "saving last state" in text:
            state_dir = out_dir / f"{args.output_name}-state"
            state_dir.mkdir(parents=True, exist_ok=True)
            (state_dir / "train_state.json").write_text(json.dumps({"current_epoch": 1, "current_step": last_step}))
        bar = re.match(r"\rsteps:.*?\| (\d+)/(\d+) \[[^\]]*avr_loss", text)
        if bar:
            skip = 4 if args.resume else 0
            last_step = int(bar.group(1)) + skip
            if last_step in samples:
                write_png(out_dir / "sample" / f"{args.output_name}_{last_step:06d}_00_20261121052400.png")
            time.sleep(args.step_delay)
    if args.crash_after and not args.resume:  # the crash does not recur once resumed
        sys.stderr.write("Traceback (most recent call last):\n  File \"train_network.py\", line 1, in <module>\n"
                         "    boom()\nRuntimeError: CUDA out of memory (stand-in crash)\n")
        return 1
    return args.exit if args.exit is not None else (code if code > 0 else 0)


if __name__ == "__main__":
    sys.exit(main())
