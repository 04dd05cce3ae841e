"""Tagger options (named after sd-scripts' flags where one exists) and turning scores into tags.

Differences from upstream, on purpose: tag replacements work (upstream's ``--tag_replacement`` never changes
anything), a replacement to an empty string drops the tag, character tags put first keep their order, and
always-first tags keep the order they are listed in.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

from loratui.errors import InputError
from loratui.tagging.labels import CHARACTER, GENERAL, RATING, Labels

DEFAULT_THRESHOLD = 0.35


@dataclass(frozen=True)
class TagOptions:
    """How scores become a caption."""

    general_threshold: float = DEFAULT_THRESHOLD
    """Minimum score for a general tag (sd-scripts --general_threshold)."""
    character_threshold: float = DEFAULT_THRESHOLD
    """Minimum score for a character tag; above 1 disables them (sd-scripts --character_threshold)."""
    rating: str = "none"
    """Add the most likely rating tag: none, first or last (--use_rating_tags[_as_last_tag])."""
    exclude: tuple[str, ...] = ()
    """Tags never written (--undesired_tags); matched with or without underscores."""
    remove_underscore: bool = False
    """Underscores to spaces in tags longer than 3 characters, as upstream (so ^_^ survives)."""
    replacements: tuple[tuple[str, str], ...] = ()
    """(source, target) pairs applied to tag names; an empty target drops the tag."""
    character_first: bool = False
    """Character tags before general tags."""
    character_expand: bool = False
    """`name_(series)` -> `name`, `series` for character tags."""
    always_first: tuple[str, ...] = ()
    """Tags moved to the front when present, in this order."""
    separator: str = ", "
    """Written between tags."""

    def __post_init__(self) -> None:
        for name in ("general_threshold", "character_threshold"):
            value = getattr(self, name)
            if not 0.0 <= value <= 2.0:
                raise InputError(f"{name.replace('_', ' ')} must be between 0 and 1 (above 1 disables), got {value}")
        if self.rating not in ("none", "first", "last"):
            raise InputError(f"rating must be none, first or last, got {self.rating!r}")
        if not self.separator.strip():
            raise InputError("the tag separator must contain a visible character (e.g. ', ')")

    @property
    def min_threshold(self) -> float:
        """The lowest threshold in use: scores below it can never produce a tag."""
        return min(self.general_threshold, self.character_threshold)

    def as_params(self) -> dict[str, Any]:
        """JSON-ready form for job parameters."""
        data = asdict(self)
        data["exclude"] = list(self.exclude)
        data["replacements"] = [list(pair) for pair in self.replacements]
        data["always_first"] = list(self.always_first)
        return data


def parse_tag_list(text: str | None) -> tuple[str, ...]:
    """'a, b,c' -> ('a', 'b', 'c')."""
    if not text:
        return ()
    return tuple(t.strip() for t in text.split(",") if t.strip())


def parse_replacements(items: list[str] | None) -> tuple[tuple[str, str], ...]:
    """['src=dst', ...] -> pairs; a backslash escapes '=' (``a\\=b=c`` replaces 'a=b' by 'c')."""
    pairs = []
    for item in items or []:
        escaped = item.replace("\\=", "\0")
        if escaped.count("=") != 1:
            raise InputError(f"tag replacement {item!r} must look like source=target (escape '=' as '\\=')")
        source, target = (part.replace("\0", "=").strip() for part in escaped.split("="))
        if not source:
            raise InputError(f"tag replacement {item!r} has an empty source")
        pairs.append((source, target))
    return tuple(pairs)


def _underscore(tag: str) -> str:
    return tag.replace("_", " ") if len(tag) > 3 else tag


def _expand_character(tag: str) -> list[str]:
    if not tag.endswith(")") or "(" not in tag:
        return [tag]
    head, _, series = tag.rpartition("(")
    head = head[:-1] if head.endswith("_") else head
    return [head, series[:-1]] if head else [tag]


class TagNamer:
    """Turns a model's raw tag names into caption tags, following the options; cached per label."""

    def __init__(self, labels: Labels, options: TagOptions) -> None:
        self.labels = labels
        self.options = options
        self._replace = dict(options.replacements)
        excluded = set(options.exclude)
        self._exclude = excluded | {_underscore(t) for t in excluded} | {t.replace(" ", "_") for t in excluded}
        self._cache: dict[int, list[str]] = {}

    def names(self, index: int) -> list[str]:
        """Caption tags for output `index` (empty when excluded or replaced by nothing)."""
        cached = self._cache.get(index)
        if cached is not None:
            return cached
        raw = self.labels.names[index]
        parts = [raw]
        if self.options.character_expand and self.labels.categories[index] == CHARACTER:
            parts = _expand_character(raw)
        out = []
        for part in parts:
            if part in self._exclude:
                continue
            name = _underscore(part) if self.options.remove_underscore else part
            if name in self._exclude:
                continue
            if name in self._replace or part in self._replace:
                name = self._replace.get(name, self._replace.get(part, name))
            if name and name not in self._exclude:
                out.append(name)
        self._cache[index] = out
        return out

    def select(self, scores: Mapping[int, float]) -> list[str]:
        """Tags for one image from {output index: score} (indices missing from `scores` count as 0)."""
        opts = self.options
        labels = self.labels
        general: list[str] = []
        characters: list[str] = []
        best_rating: tuple[float, int] | None = None
        for index in sorted(scores):
            score = scores[index]
            category = labels.categories[index]
            if category == GENERAL and score >= opts.general_threshold:
                general.extend(self.names(index))
            elif category == CHARACTER and score >= opts.character_threshold:
                characters.extend(self.names(index))
            elif category == RATING and (best_rating is None or score > best_rating[0]):
                best_rating = (score, index)
        tags = characters + general if opts.character_first else general + characters
        if opts.rating != "none" and best_rating is not None:
            rating = self.names(best_rating[1])
            tags = rating + tags if opts.rating == "first" else tags + rating
        if opts.always_first:
            front = [t for t in opts.always_first if t in tags]
            tags = front + [t for t in tags if t not in front]
        return list(dict.fromkeys(tags))


@dataclass
class TagCounter:
    """Counts how often each tag was written (shown at the end of a run)."""

    counts: dict[str, int] = field(default_factory=dict)

    def add(self, tags: list[str]) -> None:
        for tag in tags:
            self.counts[tag] = self.counts.get(tag, 0) + 1

    def top(self, n: int = 20) -> list[tuple[str, int]]:
        return sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
