"""A bounded pipeline: a thread pool decodes and preprocesses images while another thread runs the model.

Pillow's decoders, OpenCV's resize and onnxruntime all release the GIL, so threads overlap for real. At most
`prefetch` preprocessed images wait in memory, and at most `depth` scored batches wait for the consumer, so a
slow consumer (the database) holds the pipeline back instead of filling memory.
"""

from __future__ import annotations

import os
import queue
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from loratui.tagging.preprocess import load_and_preprocess


@dataclass
class ScoredBatch:
    """Model output for the images of one batch, plus the images that could not be read."""

    keys: list
    scores: np.ndarray
    failed: list[tuple[object, str]] = field(default_factory=list)


def default_workers() -> int:
    """Decoding threads: one per core."""
    return max(1, os.cpu_count() or 1)


def preprocessed_batches(
    items: Sequence[tuple[object, str]],
    batch_size: int,
    size: int,
    *,
    workers: int = 0,
    prefetch: int | None = None,
    stop: threading.Event | None = None,
    fast: bool = False,
    root: str | None = None,
    fmt: str = "wd14",
) -> Iterator[tuple[list, np.ndarray, list[tuple[object, str]]]]:
    """(keys, float32 batch, failures) for (key, path) items, in order, decoded in parallel. A batch is
    [n, size, size, 3] for WD14 models, [n, 3, size, size] for the NCHW formats (`fmt`: camie, pixai).

    With `root` (the dataset folder) no file outside it is opened."""
    import cv2

    # Images are decoded in parallel already; OpenCV's own threads would only compete with ours.
    cv2.setNumThreads(1)
    workers = workers or default_workers()
    prefetch = prefetch or max(2 * batch_size, 2 * workers)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="loratui-decode") as pool:
        source = iter(items)
        waiting: deque[tuple[object, Future]] = deque()

        def fill() -> None:
            while len(waiting) < prefetch:
                try:
                    key, path = next(source)
                except StopIteration:
                    return
                waiting.append((key, pool.submit(load_and_preprocess, path, size, fast, root, fmt)))

        fill()
        try:
            while waiting:
                if stop is not None and stop.is_set():
                    return
                keys: list = []
                failed: list[tuple[object, str]] = []
                shape = (size, size, 3) if fmt == "wd14" else (3, size, size)
                batch = np.empty((batch_size, *shape), dtype=np.float32)
                while waiting and len(keys) < batch_size:
                    key, future = waiting.popleft()
                    fill()
                    try:
                        batch[len(keys)] = future.result()
                        keys.append(key)
                    except Exception as exc:  # a broken image must not stop the run
                        failed.append((key, f"{type(exc).__name__}: {exc}"))
                yield keys, batch[:len(keys)], failed
        finally:
            for _, future in waiting:
                future.cancel()


_DONE = object()


class InferenceThread:
    """Runs `infer` on preprocessed batches in a background thread; `get()` returns ScoredBatch or None at the end.

    Exceptions from decoding or the model are re-raised by `get()`. `stop()` ends the thread early.
    """

    def __init__(
        self,
        items: Iterable[tuple[object, str]],
        infer: Callable[[np.ndarray], np.ndarray],
        batch_size: int,
        size: int,
        *,
        workers: int = 0,
        depth: int = 2,
        fast: bool = False,
        root: str | None = None,
        fmt: str = "wd14",
    ) -> None:
        self._items = list(items)
        self._fmt = fmt
        self._root = root
        self._infer = infer
        self._batch_size = batch_size
        self._size = size
        self._workers = workers
        self._fast = fast
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="loratui-infer", daemon=True)

    def start(self) -> "InferenceThread":
        self._thread.start()
        return self

    def _put(self, value) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for keys, batch, failed in preprocessed_batches(
                self._items, self._batch_size, self._size, workers=self._workers, stop=self._stop,
                fast=self._fast, root=self._root, fmt=self._fmt,
            ):
                scores = self._infer(batch) if keys else np.zeros((0, 0), dtype=np.float32)
                if not self._put(ScoredBatch(keys, scores, failed)):
                    return
            self._put(_DONE)
        except BaseException as exc:  # handed to the consumer
            self._put(exc)

    def get(self, timeout: float | None = None) -> ScoredBatch | None:
        """The next scored batch; None when all are done."""
        value = self._queue.get(timeout=timeout)
        if value is _DONE:
            return None
        if isinstance(value, BaseException):
            raise value
        return value

    def stop(self) -> None:
        """Ask the thread to end and wait for it."""
        self._stop.set()
        self._thread.join(timeout=30)
