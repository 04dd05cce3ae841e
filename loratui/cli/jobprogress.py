"""A rich progress bar fed by a JobRunner's progress updates (quiet when stderr is not a terminal)."""

from __future__ import annotations

import contextlib
from typing import AsyncIterator

from loratui.cli.output import info, progress_bar
from loratui.jobs.model import Job


class JobTracker:
    """Listener for JobRunner updates that draws the bar and prints status messages once each."""

    def __init__(self, update_bar) -> None:
        self._update_bar = update_bar
        self._last_message: str | None = None
        self.runner = None

    def attach(self, runner) -> None:
        """Remember the runner (its job id is printed once)."""
        self.runner = runner
        state = "resuming" if runner.resumed else "started"
        info(f"job {runner.id} {state}" + (f" ({len(runner.done)} items already done)" if runner.resumed else ""))

    def cancelled(self) -> int:
        """Say the job stopped on request; returns the exit code (1)."""
        job_id = self.runner.id if self.runner is not None else "?"
        info(f"job {job_id} cancelled; what finished is kept, run the same command again to resume")
        return 1

    def download(self, name: str, done: int, total: int | None) -> None:
        """A model download's progress (while the job is preparing): the same bar, in bytes."""
        if total:
            self._update_bar(done, total)

    def update(self, job: Job) -> None:
        """A JobRunner listener."""
        if job.progress_total:
            self._update_bar(job.progress_done, job.progress_total)


@contextlib.asynccontextmanager
async def job_progress(description: str, store=None) -> AsyncIterator[JobTracker]:
    """Yields a JobTracker whose `update` is a JobRunner listener."""
    with progress_bar(description) as update:
        yield JobTracker(update)
