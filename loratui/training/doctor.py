"""`loratui doctor`: what this machine can do for training, each finding with a fix hint.

GPUs and free VRAM (``nvidia-smi``), onnxruntime's execution providers (for tagging), the trainer checkouts
(found, and importable in their own Python, with torch's version and whether it sees CUDA), accelerate's
config, free disk space, whether a Hugging Face token is available, and whether loratui's database is healthy
(``loratui doctor --repair`` repairs it: ``loratui.store.repair``). Every probe runs with a timeout; none needs
the network.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import sqlite3
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from loratui.errors import LoratuiError
from loratui.gpu.inventory import GIB, GpuInfo, Inventory, open_inventory
from loratui.store import backup, repair
from loratui.training.trainer import find_trainer

OK, WARN, FAIL, INFO = "ok", "warn", "fail", "info"
LOW_DISK_GB = 20.0


@dataclass
class Finding:
    """One check: name, status (ok/warn/fail/info), what was found, and how to fix it."""

    name: str
    status: str
    detail: str
    hint: str = ""

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)


def _run(argv: list[str], timeout: float, **kwargs) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, **kwargs)
    except (OSError, subprocess.SubprocessError):
        return None


def parse_nvidia_smi(text: str) -> list[dict]:
    """Rows of ``nvidia-smi --query-gpu=index,name,memory.total,memory.used,driver_version --format=csv,noheader,nounits``."""
    gpus = []
    for row in csv.reader(io.StringIO(text)):
        cells = [c.strip() for c in row]
        if len(cells) < 5 or not cells[0].isdigit():
            continue
        try:
            total, used = float(cells[2]), float(cells[3])
        except ValueError:
            continue
        gpus.append({"index": int(cells[0]), "name": cells[1], "memory_total_mib": total,
                     "memory_free_mib": total - used, "driver": cells[4]})
    return gpus


def check_gpus(inventory: Inventory | None = None) -> list[Finding]:
    """GPUs and their free memory: through NVML (``loratui.gpu.inventory``), else ``nvidia-smi``. No GPU or no
    driver is information (a CPU machine tags and edits fine), not an error."""
    inventory = inventory if inventory is not None else open_inventory()
    gpus = inventory.snapshot()
    if gpus:
        return [_gpu_finding(gpu, inventory.kind == "fake") for gpu in gpus]
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return [Finding("gpu", INFO, f"no NVIDIA GPU / driver ({inventory.status})",
                        "training and GPU tagging need an NVIDIA GPU and its driver; on a CPU tagging is slow "
                        "and training very slow")]
    proc = _run([exe, "--query-gpu=index,name,memory.total,memory.used,driver_version",
                 "--format=csv,noheader,nounits"], 20)
    if proc is None or proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] if proc else ["timed out"]
        return [Finding("gpu", FAIL, f"nvidia-smi failed: {detail[0] if detail else 'no output'}",
                        "the driver may not match the kernel module; reboot or reinstall the driver")]
    gpus = parse_nvidia_smi(proc.stdout)
    if not gpus:
        return [Finding("gpu", INFO, "no NVIDIA GPU (nvidia-smi lists none)", "check the machine has a GPU attached")]
    findings = []
    for gpu in gpus:
        free_gb = gpu["memory_free_mib"] / 1024
        total_gb = gpu["memory_total_mib"] / 1024
        status = OK if free_gb >= 6 else WARN
        hint = "" if status == OK else "another process holds the VRAM (see nvidia-smi); stop it before training"
        findings.append(Finding(f"gpu {gpu['index']}", status,
                                f"{gpu['name']}, {free_gb:.1f} of {total_gb:.1f} GiB free, driver {gpu['driver']}",
                                hint))
    return findings


def _gpu_finding(gpu: GpuInfo, fake: bool) -> Finding:
    free_gb = (gpu.memory_total - gpu.memory_used) / GIB
    detail = f"{gpu.name}, {free_gb:.1f} of {gpu.memory_total / GIB:.1f} GiB free"
    if gpu.utilization is not None:
        detail += f", {gpu.utilization}% busy"
    if gpu.processes:
        detail += f", {len(gpu.processes)} process(es)"
    if fake:
        return Finding(f"gpu {gpu.index}", INFO, detail + " (FAKE test/demo device, $LORATUI_FAKE_GPUS)",
                       "unset LORATUI_FAKE_GPUS (and [gpus] fake) to see the real GPUs")
    status = OK if free_gb >= 6 else WARN
    hint = "" if status == OK else "another process holds the VRAM (see `loratui gpus`); stop it before training"
    return Finding(f"gpu {gpu.index}", status, detail, hint)


def check_onnxruntime(has_gpu: bool = True) -> Finding:
    """Which onnxruntime execution providers are available (the tagger uses them)."""
    try:
        import onnxruntime
    except ImportError:
        return Finding("onnxruntime", FAIL, "onnxruntime is not installed", "pip install onnxruntime-gpu (or onnxruntime)")
    providers = onnxruntime.get_available_providers()
    detail = f"{onnxruntime.__version__}: {', '.join(providers)}"
    if "CUDAExecutionProvider" in providers and not has_gpu:
        return Finding("onnxruntime", INFO, detail + " (no GPU here: tagging runs on the CPU)")
    if "CUDAExecutionProvider" in providers:
        return Finding("onnxruntime", OK, detail,
                       "if tagging still runs on CPU, the CUDA 12/cuDNN 9 libraries are missing: "
                       "pip install 'onnxruntime-gpu[cuda,cudnn]'")
    return Finding("onnxruntime", INFO, detail + " (tagging runs on the CPU)",
                   "for GPU tagging: pip install 'onnxruntime-gpu[cuda,cudnn]'")


_PROBE = (
    "import json, sys\n"
    "out = {}\n"
    "try:\n"
    "    import torch\n"
    "    out['torch'] = torch.__version__\n"
    "    out['cuda'] = bool(torch.cuda.is_available())\n"
    "except Exception as exc:\n"
    "    out['torch_error'] = f'{type(exc).__name__}: {exc}'\n"
    "try:\n"
    "    import accelerate\n"
    "    out['accelerate'] = accelerate.__version__\n"
    "except Exception as exc:\n"
    "    out['accelerate_error'] = f'{type(exc).__name__}: {exc}'\n"
    "try:\n"
    "    __import__(sys.argv[1])\n"
    "    out['module'] = True\n"
    "except Exception as exc:\n"
    "    out['module_error'] = f'{type(exc).__name__}: {exc}'\n"
    "print('LORATUI_PROBE ' + json.dumps(out))\n"
)


def probe_trainer(python: str, root: Path, module: str, extra_path: Path | None = None,
                  timeout: float = 180) -> dict:
    """Import torch, accelerate and `module` in the trainer's Python (cwd = its checkout)."""
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", TF_CPP_MIN_LOG_LEVEL="3")
    if extra_path is not None:
        env["PYTHONPATH"] = str(extra_path) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = _run([python, "-c", _PROBE, module], timeout, cwd=str(root), env=env)
    if proc is None:
        return {"error": f"{python} did not answer within {timeout:.0f} s"}
    for line in proc.stdout.splitlines():
        if line.startswith("LORATUI_PROBE "):
            return json.loads(line[len("LORATUI_PROBE "):])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
    return {"error": f"{python} failed: {tail[0]}"}


def check_trainer(ctx, backend: str) -> Finding:
    """Is the kohya / musubi checkout configured, present and importable in its Python?"""
    label = {"kohya": "sd-scripts", "musubi": "musubi-tuner"}[backend]
    env_var = {"kohya": "LORATUI_KOHYA_DIR", "musubi": "LORATUI_MUSUBI_DIR"}[backend]
    try:
        trainer = find_trainer(ctx, backend, required=False)
    except LoratuiError as exc:
        return Finding(label, FAIL, exc.one_line(), f"set {env_var} (or [trainers] in config.toml) to a checkout")
    if trainer is None:
        status = WARN if backend == "kohya" else INFO
        return Finding(label, status, "not configured",
                       f"git clone the {label} repository, create its venv, then set {env_var} and "
                       f"{env_var.replace('_DIR', '_PYTHON')}")
    module, extra = ("library.train_util", None) if backend == "kohya" else ("musubi_tuner", trainer.root / "src")
    result = probe_trainer(trainer.python, trainer.root, module, extra)
    where = f"{trainer.root} with {trainer.python}"
    if "error" in result:
        return Finding(label, FAIL, f"{where}: {result['error']}", "check the venv's Python path")
    if "torch_error" in result:
        return Finding(label, FAIL, f"{where}: torch does not import ({result['torch_error']})",
                       "install torch into the trainer's venv")
    if "module_error" in result:
        return Finding(label, FAIL, f"{where}: {module} does not import ({result['module_error']})",
                       "install the trainer's requirements.txt into its venv")
    device = "CUDA available" if result.get("cuda") else "no CUDA: trains on the CPU"
    accel = f", accelerate {result['accelerate']}" if "accelerate" in result else ", accelerate missing"
    status = OK if result.get("cuda") and "accelerate" in result else WARN
    hint = "" if status == OK else ("pip install accelerate in the trainer's venv" if "accelerate" not in result
                                     else "install a CUDA build of torch in the trainer's venv for GPU training")
    return Finding(label, status, f"{where}: torch {result.get('torch')}, {device}{accel}", hint)


def accelerate_config_path() -> Path:
    """Where `accelerate config` writes its default file."""
    if os.environ.get("ACCELERATE_CONFIG_FILE"):
        return Path(os.environ["ACCELERATE_CONFIG_FILE"])
    hf_home = Path(os.environ.get("HF_HOME") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                   / "huggingface")
    return hf_home / "accelerate" / "default_config.yaml"


def check_accelerate_config() -> Finding:
    """accelerate's default config (loratui passes its launch options on the command line, so it is optional)."""
    path = accelerate_config_path()
    if not path.is_file():
        return Finding("accelerate config", INFO, f"none at {path}: loratui passes launch options itself",
                       "only needed for multi-GPU defaults: run `accelerate config` in the trainer's venv")
    keys = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        key, sep, value = line.partition(":")
        if sep and not line.startswith((" ", "\t")) and key in ("compute_environment", "distributed_type",
                                                                "mixed_precision", "num_processes", "gpu_ids"):
            keys[key] = value.strip()
    return Finding("accelerate config", OK, f"{path}: " + ", ".join(f"{k}={v}" for k, v in keys.items()))


def check_disk(paths: list[Path]) -> list[Finding]:
    """Free space where loratui and the trainings write."""
    findings, seen = [], set()
    for path in paths:
        probe = Path(path)
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        try:
            usage = shutil.disk_usage(probe)
            device = os.stat(probe).st_dev
        except OSError:
            continue
        if device in seen:
            continue
        seen.add(device)
        free_gb = usage.free / 1024 ** 3
        status = OK if free_gb >= LOW_DISK_GB else WARN
        hint = "" if status == OK else "checkpoints, states and latent caches need several GB; free some space"
        findings.append(Finding(f"disk {path}", status, f"{free_gb:.1f} GiB free of {usage.total / 1024 ** 3:.1f}", hint))
    return findings


def check_hf_login() -> Finding:
    """Whether a Hugging Face token is available (gated base models and uploads need one)."""
    try:
        from huggingface_hub import get_token
    except ImportError:
        return Finding("hugging face", WARN, "huggingface_hub is not installed", "pip install huggingface-hub")
    token = get_token()
    if token:
        source = "HF_TOKEN" if os.environ.get("HF_TOKEN") else "the saved login"
        return Finding("hugging face", OK, f"a token is available (from {source})")
    return Finding("hugging face", INFO, "not logged in: public models only",
                   "run `huggingface-cli login` or set HF_TOKEN for gated models and uploads")


def check_database(db: Path) -> Finding:
    """SQLite's quick check of loratui's database, with the newest backup."""
    if not db.is_file():
        return Finding("database", INFO, f"no database yet at {db}" if not db.exists() else f"{db} is not a file",
                       "" if not db.exists() else "move it out of the way or choose another home with --home DIR")
    newest = backup.newest_backup(db)
    kept = f"; newest backup {newest.path} ({newest.when})" if newest else "; no backup yet"
    try:
        problems = repair.check(db)
    except sqlite3.Error as exc:
        problems = [str(exc)]
    if not problems:
        return Finding("database", OK, f"{db}: healthy{kept}")
    return Finding("database", FAIL, f"{db}: {problems[0]}{kept}",
                   "stop other loratui processes, then run `loratui doctor --repair`")


def run_checks(ctx, *, trainers: bool = True) -> list[Finding]:
    """Every check, in display order."""
    inventory = open_inventory(ctx.settings.gpus.fake)
    findings = check_gpus(inventory)
    real = inventory.kind != "fake" and any(f.name.startswith("gpu ") for f in findings)
    findings.append(check_onnxruntime(has_gpu=real))
    if trainers:
        findings += [check_trainer(ctx, "kohya"), check_trainer(ctx, "musubi")]
    findings.append(check_accelerate_config())
    findings += check_disk([ctx.paths.home, Path.cwd()])
    findings.append(check_hf_login())
    findings.append(check_database(ctx.paths.db))
    return findings
