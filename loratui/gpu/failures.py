"""GPU failures recognised in trainer output: CUDA out of memory, NCCL, driver and hardware errors.

``classify(line)`` returns the ``Cause`` a line of trainer output shows, or None. The patterns follow what
PyTorch, CUDA and NCCL print (PyTorch's allocator: ``torch.OutOfMemoryError: CUDA out of memory. Tried to
allocate 2.00 GiB. GPU 0 has a total capacity of ...``; older releases ``torch.cuda.OutOfMemoryError`` or
``RuntimeError: CUDA out of memory``; a failed CUDA call: ``CUDA error: out of memory``). The log parser turns
a match into a ``GpuFailure`` event and the supervisor records the first cause on the failed job
(``jobs.failure_cause``); ``loratui train remedies`` offers what helps against an out-of-memory failure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Cause:
    """A kind of GPU failure: its id (stored on the job), a title and what to do."""

    id: str
    title: str
    hint: str


CUDA_OOM = Cause("cuda_oom", "CUDA out of memory",
                 "the training needs more GPU memory than is free: `loratui train remedies JOB` lists the family's "
                 "memory savers (one key each applies one to a copy of the config)")
NCCL = Cause("nccl", "NCCL error (communication between GPU processes)",
             "run again with NCCL_DEBUG=INFO in the environment; check the GPUs see each other (nvidia-smi topo -m) "
             "or try NCCL_P2P_DISABLE=1")
DRIVER = Cause("driver", "the NVIDIA driver is too old for this CUDA",
               "update the NVIDIA driver, or install a torch built for an older CUDA in the trainer's venv")
NO_GPU = Cause("no_gpu", "no CUDA GPU visible to the trainer",
               "check `loratui gpus` and nvidia-smi; CUDA_VISIBLE_DEVICES may name a GPU that is not there")
ILLEGAL_ACCESS = Cause("illegal_access", "CUDA illegal memory access",
                       "a kernel crashed (a bug, an incompatible build, or failing hardware): run again; if it "
                       "repeats on one GPU, try another (`gpu_ids`) and check `dmesg` for Xid errors")
HARDWARE = Cause("hardware", "GPU hardware error (ECC / Xid)",
                 "the GPU reported a hardware fault: check `nvidia-smi -q -d ECC` and `dmesg | grep Xid`; on a "
                 "rented machine, ask for another GPU")

CAUSES = {c.id: c for c in (CUDA_OOM, NCCL, DRIVER, NO_GPU, ILLEGAL_ACCESS, HARDWARE)}

_PATTERNS: list[tuple[re.Pattern, Cause]] = [
    (re.compile(r"CUDA out of memory|CUDA error: out of memory|OutOfMemoryError: CUDA", re.I), CUDA_OOM),
    (re.compile(r"CUDA error: an illegal memory access|illegal memory access was encountered", re.I), ILLEGAL_ACCESS),
    (re.compile(r"uncorrectable ECC error|\bECC error\b|\bXid\b", re.I), HARDWARE),
    (re.compile(r"CUDA driver version is insufficient|NVIDIA driver on your system is too old", re.I), DRIVER),
    (re.compile(r"no CUDA-capable device is detected|No CUDA GPUs are available|Found no NVIDIA driver", re.I),
     NO_GPU),
    (re.compile(r"\bNCCL error\b|\bncclUnhandledCudaError\b|\bncclSystemError\b|\bncclInternalError\b|"
                r"\bncclRemoteError\b|\bDistBackendError\b", re.I), NCCL),
]


def classify(line: str) -> Cause | None:
    """The GPU failure a line of trainer output shows, or None."""
    if len(line) > 4096:
        line = line[:4096]
    for pattern, cause in _PATTERNS:
        if pattern.search(line):
            return cause
    return None


def cause(cause_id: str | None) -> Cause | None:
    """The Cause with this id (as stored on a job), or None."""
    return CAUSES.get(cause_id or "")
