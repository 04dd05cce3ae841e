"""Jobs: long work recorded in SQLite, with progress, cancellation, resume and reattach.

In-process jobs (scan, tag, caption, resize, upload...) use ``JobRunner``; training jobs run under a detached
supervisor (``loratui.training``) that writes to the same rows.
"""

from loratui.jobs.model import ACTIVE, TERMINAL, JobStatus
from loratui.jobs.runner import Cancelled, JobRunner

__all__ = ["ACTIVE", "TERMINAL", "JobStatus", "Cancelled", "JobRunner"]
