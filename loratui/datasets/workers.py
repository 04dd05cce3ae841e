"""Worker process pools that die with the process that started them.

A ``spawn`` pool's workers block on their task queue forever when the parent is killed with SIGKILL (each worker
holds the queue's write end too, so it never sees end-of-file), and multiprocessing's resource tracker lives as
long as any of them holds its pipe. On Linux each worker asks the kernel for SIGKILL when its parent dies
(``prctl(PR_SET_PDEATHSIG)``); once the workers are gone the tracker reads end-of-file and exits by itself.

The kernel sends the signal when the *thread* that started the worker ends: ``ProcessPoolExecutor`` starts
workers from the thread that submits work, so submit from a thread that outlives the pool (the event loop's).
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import sys
from typing import Callable

PR_SET_PDEATHSIG = 1
"""From <linux/prctl.h>."""


def die_with_parent(parent_pid: int) -> None:
    """Have the kernel SIGKILL this process when its parent dies (Linux; a no-op elsewhere).

    `parent_pid` is the pid the parent had when it started us: if it is already gone (it died before this ran),
    exit at once instead of waiting for a signal that will never come.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent_pid:
        os._exit(1)


def _init_worker(parent_pid: int, initializer: Callable[[], None] | None) -> None:
    die_with_parent(parent_pid)
    if initializer is not None:
        initializer()


def process_pool(workers: int, initializer: Callable[[], None] | None = None) -> concurrent.futures.ProcessPoolExecutor:
    """A ``spawn`` process pool of `workers` processes that are killed when this process dies.

    `initializer` (a module-level function) runs in each worker after it has tied its life to ours.
    """
    return concurrent.futures.ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker,
        initargs=(os.getpid(), initializer))
