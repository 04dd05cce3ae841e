"""What an import found: per source key, where it went in the loratui config or why it was dropped.

Every key a source file holds ends up as one ``Entry``: ``mapped`` (to ``args.NAME``, ``launch.NAME``,
``family``, ``dataset``, ``subset REL.KEY`` ...), ``default`` (not in the file: the source tool's own default was
used because the meaning depends on it) or ``dropped`` with a reason code and a sentence. Warnings are for what a
user should know although nothing was lost (a percentage turned into a ratio, a number stored as a string, an
optimizer name spelled differently, a LyCORIS module that needs a package).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MAPPED = "mapped"
DEFAULT = "default"
DROPPED = "dropped"

WHY = {
    "unknown": "unknown to the trainer",
    "gui-only": "only used by the source tool itself",
    "computed": "computed differently by loratui or the trainer",
    "unsupported": "not supported by loratui",
    "secret": "a secret: never written into a config",
    "empty": "empty, 0 or false: the source tool passes nothing",
    "replaced": "replaced by a later value",
    "invalid": "not a valid value",
    "default": "the trainer's default",
    "dataset": "about the dataset",
}
"""Reason codes of dropped entries and what each means."""

SECRET_KEYS = frozenset({"wandb_api_key", "huggingface_token", "hf_token", "api_key", "token", "secrets"})


@dataclass
class Entry:
    """One source key and what became of it."""

    source: str
    """The file it came from (its name) or 'command line' / '--set'."""
    key: str
    value: Any
    status: str = MAPPED
    target: str = ""
    """Where it went: 'args.NAME', 'launch.NAME', 'family', 'dataset', 'subset REL.KEY', 'sample prompts'."""
    result: Any = None
    why: str = ""
    """Reason code of a dropped entry (a key of WHY)."""
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        data = {"source": self.source, "key": self.key, "value": _plain(self.value), "status": self.status}
        if self.target:
            data["target"] = self.target
            data["result"] = _plain(self.result)
        if self.why:
            data["why"] = self.why
        if self.note:
            data["note"] = self.note
        return data

    def line(self) -> str:
        """One line for the terminal."""
        value = _short(self.value)
        if self.status == DROPPED:
            reason = self.note or WHY.get(self.why, self.why)
            return f"dropped  {self.key} = {value}: {reason}"
        arrow = f"{self.key} = {value} -> {self.target} = {_short(self.result)}"
        if self.status == DEFAULT:
            return f"default  {arrow}" + (f" ({self.note})" if self.note else "")
        return f"mapped   {arrow}" + (f" ({self.note})" if self.note else "")


@dataclass
class Report:
    """Entries and warnings, in the order they were found."""

    entries: list[Entry] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add(self, entry: Entry) -> Entry:
        """Record an entry (secret values are masked)."""
        if entry.key.rsplit(".", 1)[-1].lstrip("-").lower() in SECRET_KEYS and entry.value not in ("", None):
            entry.value = "***"
            if entry.status == MAPPED:
                entry.result = "***"
        self.entries.append(entry)
        return entry

    def mapped(self, source: str, key: str, value: Any, target: str, result: Any, note: str = "") -> Entry:
        """Record a key that went into the config."""
        return self.add(Entry(source, key, value, MAPPED, target, result, "", note))

    def default(self, source: str, key: str, value: Any, target: str, result: Any, note: str = "") -> Entry:
        """Record a value the source tool would have used although the file does not hold it."""
        return self.add(Entry(source, key, value, DEFAULT, target, result, "", note))

    def dropped(self, source: str, key: str, value: Any, why: str, note: str = "") -> Entry:
        """Record a key that did not go into the config, with its reason code and an explanation."""
        return self.add(Entry(source, key, value, DROPPED, "", None, why, note))

    def warn(self, text: str) -> None:
        """A warning (each text once)."""
        if text not in self.warnings:
            self.warnings.append(text)

    def extend(self, other: "Report") -> None:
        """Append another report's entries and warnings."""
        self.entries.extend(other.entries)
        for text in other.warnings:
            self.warn(text)

    def by_status(self, status: str) -> list[Entry]:
        """The entries with one status."""
        return [e for e in self.entries if e.status == status]


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


def _short(value: Any, limit: int = 70) -> str:
    text = repr(value) if isinstance(value, str) else str(_plain(value))
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 1] + "…"
