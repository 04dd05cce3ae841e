"""One exception root for everything a user can cause.

The tree::

    LoratuiError                 title + message; CLI prints one line, TUI shows a notification
    ├── ConfigError              invalid config.toml / training TOML / settings value
    ├── NotFoundError            unknown dataset, job, LoRA, model, path
    ├── InputError               bad argument or value given by the user (query syntax, regex, ...)
    ├── DatasetError             a dataset folder cannot be used (not a folder, outside, ...)
    ├── ArchiveError             unsafe or broken archive / download (zip slip, bombs, ...)
    ├── ModelError               a model is missing, cannot be downloaded or loaded
    ├── RemoteError              a remote service failed (HTTP status, auth, timeout)
    ├── JobError                 a job cannot be started, cancelled or resumed
    ├── TrainingError            a training config or trainer installation problem
    ├── LoraError                a LoRA / safetensors file cannot be read or written
    ├── ConflictError            a file changed on disk since loratui read it
    └── StorageError             the disk or the database failed: full, read-only, no permission, I/O error
        └── DatabaseDamagedError the database file is corrupt or not a database; names a backup and the repair

``loratui.store.failures`` turns ``sqlite3`` and ``OSError`` failures into ``StorageError`` with the cause and the
fix. Anything else that is not a LoratuiError is a bug: the CLI prints one line naming the file that keeps its
traceback, the TUI shows it as an unexpected error and keeps the traceback in ``tui-stderr.log``.
"""

from __future__ import annotations


class LoratuiError(Exception):
    """Root of all user-facing errors: carries a short title and a message."""

    title = "Error"

    def __init__(self, message: str, *, title: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if title is not None:
            self.title = title
        self.hint = hint

    def one_line(self) -> str:
        """The error as a single line for terminals and logs."""
        text = f"{self.title}: {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text.replace("\n", " ")


class ConfigError(LoratuiError):
    title = "Invalid configuration"


class NotFoundError(LoratuiError):
    title = "Not found"


class InputError(LoratuiError):
    title = "Invalid input"


class DatasetError(LoratuiError):
    title = "Dataset error"


class ArchiveError(LoratuiError):
    title = "Unsafe or broken archive"


class ModelError(LoratuiError):
    title = "Model error"


class RemoteError(LoratuiError):
    title = "Remote service error"


class JobError(LoratuiError):
    title = "Job error"


class TrainingError(LoratuiError):
    title = "Training error"


class LoraError(LoratuiError):
    title = "LoRA file error"


class ConflictError(LoratuiError):
    title = "Changed on disk"


class StorageError(LoratuiError):
    title = "Storage error"


class DatabaseDamagedError(StorageError):
    """The database cannot be read as a database; `backup` is the newest backup loratui made, if any."""

    title = "Damaged database"

    def __init__(self, message: str, *, backup: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.backup = backup
