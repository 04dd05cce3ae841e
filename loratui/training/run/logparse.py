"""Trainer output (raw bytes) -> events: phase, progress, epoch, checkpoints, summary, errors.

What sd-scripts and musubi-tuner really print (see the recorded logs in the shared fixtures):

- tqdm bars redraw with ``\\r`` and no newline; each training step draws twice (after ``update(1)`` with the
  previous step's postfix, then after ``set_postfix(avr_loss=...)``); the last value drawn for a step wins.
- rich log records on stderr are wrapped at the console width (80 columns when stderr is not a terminal):
  a header line ``[time] LEVEL message path.py:NN`` and continuation lines indented by 29 columns; long words
  are folded (no space where they were cut). A record may be glued right after a bar redraw.
- ``--console_log_simple`` prints the same messages as plain lines.
- accelerate wraps a failing trainer in its own ``CalledProcessError`` traceback; the trainer's own
  exception comes first and is the one worth showing.
- with ``--skip_until_initial_step`` a resumed run logs ``skipping N steps`` and its bar counts from 0 to
  ``max_train_steps - N``: the parser adds N back.
- musubi-tuner logs with Python's plain ``logging`` (``LEVEL:logger.name:message`` on stderr, no wrapping; a
  message may span several lines, the later ones unprefixed), prints the same summary block, ``epoch``
  and ``saving checkpoint`` lines as sd-scripts on stdout (``num train items`` instead of ``num train images *
  repeats``; one batch size per dataset, ``2, 1``), and its ``steps`` bar carries only ``avr_loss``. Its caching
  scripts print no totals: their tqdm bars count batches without one (``3it [...]``, not parsed as a bar), and
  Qwen-Image / FLUX / Kontext print one ``Saving cache for item PATH`` (latents) or ``Item N: PATH, prompt:``
  (text encoder) line per item on stdout, which become ``CachedItem`` events.

The parser is incremental and deterministic: feeding the same bytes in any chunking (byte by byte, random
sizes) yields the same events once redraws are coalesced (``coalesce``). Its only decisions are made on complete
units: a bar once its closing ``]`` has arrived, a line once its ``\\r``/``\\n`` has arrived, a rich record
once the next line or bar starts.

Redraws are coalesced as they are parsed: of consecutive redraws of one bar within what one ``feed`` brings,
only the last is reported (for the ``steps`` bar: the last of each step, which carries the step's loss; for
other bars: the last). A flood of a million redraws costs a regular-expression match each and yields a handful
of events per chunk; the newest redraw is always reported by the ``feed`` that completed it. Lines are cut at
``MAX_SEGMENT`` characters, tracebacks keep their first and last ``MAX_FRAMES // 2`` lines and a rich record its
first ``MAX_SEGMENT`` characters, so no input grows the parser's memory.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from loratui.gpu import failures

MAX_SEGMENT = 65536
"""A line longer than this (characters) is cut, so garbage without newlines cannot grow memory."""

FEED_SLICE = 1 << 20
"""Bytes decoded and split at once: ``feed`` takes any size."""

MAX_FRAMES = 200
"""Traceback lines kept (the first and the last half; a note says how many were left out between)."""

RICH_INDENT = 29
"""Width of rich's time (19 + 1) and level (8 + 1) columns: where the message column starts."""


# ---------------------------------------------------------------------------------------------- events
@dataclass(frozen=True)
class Event:
    """Base class; ``kind`` names the event in job_events and JSON."""

    kind = "event"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (with `kind`)."""
        return {"kind": self.kind, **asdict(self)}


@dataclass(frozen=True)
class Phase(Event):
    """The trainer entered a phase: preparing, caching_latents, caching_text, training, saving."""

    kind = "phase"
    name: str


@dataclass(frozen=True)
class Progress(Event):
    """A redraw of the training ``steps`` bar, with the resume offset already added."""

    kind = "progress"
    step: int
    total: int | None
    avr_loss: float | None = None
    speed: float | None = None
    """Steps per second (tqdm's rate, inverted when it prints s/it)."""
    eta_s: float | None = None


@dataclass(frozen=True)
class BarProgress(Event):
    """Any other tqdm bar (caching, loading, sampling): its description and counts."""

    kind = "bar"
    desc: str
    n: int
    total: int | None


@dataclass(frozen=True)
class Epoch(Event):
    """``epoch E/N`` printed at the start of each epoch."""

    kind = "epoch"
    epoch: int
    epochs: int


@dataclass(frozen=True)
class TotalSteps(Event):
    """``total optimization steps``: the whole run's step count."""

    kind = "total_steps"
    total: int


@dataclass(frozen=True)
class Summary(Event):
    """The ``running training`` block: images, batches, epochs, batch size, accumulation, steps."""

    kind = "summary"
    values: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Resumed(Event):
    """A resumed run skips `step` steps already trained (its bar restarts at 0)."""

    kind = "resumed"
    step: int


@dataclass(frozen=True)
class Checkpoint(Event):
    """``saving checkpoint: PATH`` (a LoRA file written)."""

    kind = "checkpoint"
    path: str


@dataclass(frozen=True)
class CheckpointRemoved(Event):
    """``removing old checkpoint: PATH`` (save_last_n_* rotation)."""

    kind = "checkpoint_removed"
    path: str


@dataclass(frozen=True)
class StateSaved(Event):
    """``save train state to DIR/train_state.json at epoch E step S`` (a resumable state)."""

    kind = "state_saved"
    path: str
    epoch: int
    step: int


@dataclass(frozen=True)
class SampleStarted(Event):
    """``generating sample images at step N``."""

    kind = "sample_started"
    step: int


@dataclass(frozen=True)
class CachedItem(Event):
    """A caching script finished one item (musubi-tuner's per-item lines; `path` is the image)."""

    kind = "cached_item"
    path: str


@dataclass(frozen=True)
class Saved(Event):
    """``model saved.``: the final save finished."""

    kind = "saved"


@dataclass(frozen=True)
class Error(Event):
    """An exception (the traceback's last line plus its frames) or an ERROR log record.

    `wrapper` is True for launcher tracebacks (accelerate's CalledProcessError / its KeyboardInterrupt while
    waiting), which only repeat that the trainer failed.
    """

    kind = "error"
    message: str
    traceback: tuple = ()
    wrapper: bool = False


@dataclass(frozen=True)
class GpuFailure(Event):
    """A line naming a GPU failure (``loratui.gpu.failures``: CUDA out of memory, NCCL, driver, hardware);
    reported once per cause."""

    kind = "gpu_failure"
    cause: str
    line: str


# ---------------------------------------------------------------------------------------------- patterns
_BAR = re.compile(
    r"(?P<desc>[^\r\n]*?)\s*(?P<pct>\d+)%\|(?P<bar>[^|\r\n]*)\|\s*(?P<n>\d+)/(?P<total>\d+)\s*"
    r"\[(?P<inner>[^\]\r\n]*)\]"
)
_INNER = re.compile(r"(?P<elapsed>[^<,]*)<(?P<remaining>[^,]*),\s*(?P<rate>[^,]*)(?:,\s*(?P<postfix>.*))?$")
_RATE = re.compile(r"(?P<value>[\d.]+)\s*(?P<unit>s/it|it/s)")
_RICH_HEAD = re.compile(
    r"(?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL) +(?P<body>.*?)(?P<path>[\w.\-]+\.py:\d+)?\s*$"
)
_COUNT_BAR = re.compile(r"(?:[^\r\n\[\]|]*?: )?\d+it \[\d+:\d\d(?::\d\d)?(?:, [^\]\r\n]*)?\]")
"""A tqdm bar without a total (``3it [00:01,  2.10it/s]``): musubi's caching scripts count batches that way, and
their per-item lines are printed right after it on the same line."""
_LOGGING_PREFIX = re.compile(r"(?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL):(?P<logger>[\w.\-]+):(?P<body>.*)$")
"""Python logging's default ``basicConfig`` format (musubi-tuner): ``INFO:musubi_tuner.x:message``."""
_LINE_ENDS = re.compile(r"[\r\n]")
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d $")
ESCAPE_SEQUENCE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
"""One complete ANSI/VT escape sequence (CSI, OSC, or a two-character one)."""

_MESSAGES: list[tuple[re.Pattern, str]] = [
    (re.compile(r"^caching latents"), "caching_latents"),
    (re.compile(r"^caching text encoder outputs"), "caching_text"),
    (re.compile(r"^running training"), "running"),
    (re.compile(r"^total optimization steps\b[^:]*:\s*(\d+)"), "total"),
    (re.compile(r"^epoch (\d+)/(\d+)\s*$"), "epoch"),
    (re.compile(r"^saving checkpoint: (.+?)\s*$"), "checkpoint"),
    (re.compile(r"^removing old checkpoint: (.+?)\s*$"), "removed"),
    (re.compile(r"^saving (?:state at (?:step|epoch) \d+|last state)"), "saving"),
    (re.compile(r"^save train state to (.+?)/train_state\.json at epoch (\d+) step (\d+)"), "state"),
    (re.compile(r"^skipping (\d+) steps\b"), "skip"),
    (re.compile(r"^generating sample images at step\b[^:]*:\s*(\d+)"), "sample"),
    (re.compile(r"^model saved\.\s*$"), "saved"),
    (re.compile(r"^Saving cache for item (.+?) at \S"), "cached"),
    (re.compile(r"^Item \d+: (.+?), prompt: "), "cached"),
]
_SUMMARY_KEYS: list[tuple[re.Pattern, str]] = [
    (re.compile(r"^num train images \* repeats\b[^:]*:\s*(\d+)"), "images_with_repeats"),
    (re.compile(r"^num train items\b[^:]*:\s*(\d+)"), "images_with_repeats"),
    (re.compile(r"^num reg images\b[^:]*:\s*(\d+)"), "reg_images"),
    (re.compile(r"^num batches per epoch\b[^:]*:\s*(\d+)"), "batches_per_epoch"),
    (re.compile(r"^num epochs\b[^:]*:\s*(\d+)"), "epochs"),
    (re.compile(r"^batch size per device\b[^:]*:\s*(\d+(?:,\s*\d+)*)"), "batch_size"),
    (re.compile(r"^gradient accumulation steps\b[^=:]*[=:]\s*(\d+)"), "gradient_accumulation_steps"),
    (re.compile(r"^total optimization steps\b[^:]*:\s*(\d+)"), "total_steps"),
]
_WRAPPER_FRAMES = ("accelerate/commands/launch.py", "accelerate/commands/accelerate_cli.py", "bin/accelerate")


def strip_escapes(text: str) -> str:
    """Remove ANSI/VT escape sequences (colours, cursor moves, titles)."""
    return ESCAPE_SEQUENCE.sub("", text) if "\x1b" in text else text


def parse_duration(text: str) -> float | None:
    """tqdm's ``MM:SS`` / ``H:MM:SS`` / ``1d, H:MM:SS`` -> seconds (None for ``?``)."""
    text = text.strip()
    days = 0
    if "d," in text:
        head, _, text = text.partition("d,")
        days = int(head.strip()) if head.strip().isdigit() else 0
        text = text.strip()
    parts = text.split(":")
    if not parts or not all(p.isdigit() for p in parts):
        return None
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + int(part)
    return float(seconds + days * 86400)


def parse_rate(text: str) -> float | None:
    """tqdm's ``2.31s/it`` or ``1.42it/s`` -> iterations per second."""
    match = _RATE.search(text)
    if not match:
        return None
    value = float(match.group("value"))
    if match.group("unit") == "it/s":
        return value
    return 1.0 / value if value > 0 else None


def parse_postfix(text: str | None) -> dict[str, str]:
    """``avr_loss=1.07, lr=1e-4`` -> {'avr_loss': '1.07', 'lr': '1e-4'}."""
    out: dict[str, str] = {}
    for part in (text or "").split(","):
        key, sep, value = part.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------- parser
class _Record:
    """A rich log record being assembled from its wrapped lines."""

    __slots__ = ("level", "parts", "width", "last_full", "size")

    def __init__(self, level: str, first: str, width: int) -> None:
        self.level = level
        self.width = width
        self.parts = [first]
        self.last_full = self._full(first)
        self.size = len(first)

    def _full(self, fragment: str) -> bool:
        # rich moves a word that does not fit to the next line and only cuts a word longer than the whole
        # column, so a cut shows as a line holding one space-less chunk as wide as the column.
        return 0 < self.width <= len(fragment) and " " not in fragment

    def add(self, fragment: str) -> None:
        if self.size > MAX_SEGMENT:
            return  # an endless record keeps its beginning
        self.size += len(fragment) + 1
        if fragment and self.parts and self.parts[-1] and self.last_full:
            self.parts[-1] += fragment  # a long word folded at the column edge
        else:
            self.parts.append(fragment)
        self.last_full = self._full(fragment)

    @property
    def text(self) -> str:
        return " ".join(p for p in self.parts if p).strip()


class LogParser:
    """Incremental parser: ``feed(bytes) -> events``; ``close() -> events`` at the end of the stream."""

    def __init__(self, step_offset: int = 0) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._seg = ""
        self._seg_escape = False
        self._record: _Record | None = None
        self._traceback: list[str] | None = None
        self._frames_left_out = 0
        self._held: tuple | None = None
        """The newest bar redraw, not reported yet: (key, match, then what it needs to become an event)."""
        self._summary: dict[str, int] | None = None
        self.step_offset = step_offset
        """Steps done before this run (a resumed run's bar restarts at 0)."""
        self.total_steps: int | None = None
        self.epoch: int | None = None
        self.epochs: int | None = None
        self.step: int | None = None
        self._events: list[Event] = []
        self._failures: set[str] = set()

    # -- input
    def feed(self, data: bytes) -> list[Event]:
        """Parse more bytes; returns the events they completed."""
        for start in range(0, len(data), FEED_SLICE):  # slices keep the cutting of endless lines linear
            text = self._decoder.decode(data[start:start + FEED_SLICE])
            if text:
                self._take(text)
        return self._drain()

    def close(self) -> list[Event]:
        """End of stream: flush what is pending (an unterminated line, a record, a traceback)."""
        text = self._decoder.decode(b"", final=True)
        if text:
            self._take(text)
        if self._seg:
            seg, self._seg = self._seg, ""
            self._seg_escape = False
            self._segment(seg)
        self._end_record()
        self._end_traceback(None)
        return self._drain()

    def _drain(self) -> list[Event]:
        self._release()
        events, self._events = self._events, []
        return events

    def _emit(self, event: Event) -> None:
        self._release()  # a held redraw came first
        self._events.append(event)

    def _release(self) -> None:
        held, self._held = self._held, None
        if held is None:
            return
        key, match, step, whole = held  # for other bars than 'steps': their count and total
        if key[0] == "bar":
            self._events.append(BarProgress(key[1], step, whole))
            return
        inner = _INNER.match(match.group("inner").strip())
        remaining = rate = postfix = None
        if inner:
            remaining = parse_duration(inner.group("remaining"))
            rate = parse_rate(inner.group("rate"))
            postfix = parse_postfix(inner.group("postfix"))
        loss = _float((postfix or {}).get("avr_loss"))
        eta = remaining if remaining is not None else ((whole - step) / rate if rate else None)
        self._events.append(Progress(step, whole, loss, rate, eta))

    def _take(self, text: str) -> None:
        # Only the new text is searched for line ends: the pending segment has none by construction.
        pieces = _LINE_ENDS.split(text)
        if len(pieces) > 1:
            self._ended(self._seg + pieces[0])
            self._seg, self._seg_escape = "", False
            for piece in pieces[1:-1]:
                self._ended(piece)
            text = pieces[-1]
        self._seg += text
        self._seg_escape = self._seg_escape or "\x1b" in text
        # A bar is complete at its closing ']' even before the next '\r' arrives: report it now. Only a new ']'
        # can complete one. (Text with escape codes waits for its line end, where they are stripped first.)
        if "]" in text and not self._seg_escape:
            self._seg = self._strip_bars(self._seg)
        while len(self._seg) > MAX_SEGMENT:
            head, self._seg = self._seg[:MAX_SEGMENT], self._seg[MAX_SEGMENT:]
            self._segment(head)
            self._seg_escape = "\x1b" in self._seg
            if not self._seg_escape:
                self._seg = self._strip_bars(self._seg)

    def _ended(self, seg: str) -> None:
        if "\x1b" not in seg:
            match = _BAR.match(seg)
            if match is not None and match.end() == len(seg):
                self._bar(match)  # the common case, a plain redraw, without the general path's steps
                return
        # A segment that ended: cut over-long ones exactly where feeding it in small pieces would have.
        if len(seg) > MAX_SEGMENT:
            escape = "\x1b" in seg
            if not escape:
                seg = self._strip_bars(seg)
            while len(seg) > MAX_SEGMENT:
                self._segment(seg[:MAX_SEGMENT])
                seg = seg[MAX_SEGMENT:]
                if "\x1b" not in seg:
                    seg = self._strip_bars(seg)
        self._segment(seg)

    # -- segments (text between \r / \n)
    def _strip_bars(self, seg: str) -> str:
        while True:
            match = _BAR.match(seg)
            if match is None:
                counter = _COUNT_BAR.match(seg)
                if counter is None:
                    return seg
                seg = seg[counter.end():]  # a bar without a total (musubi's caching): nothing to report
                continue
            self._bar(match)
            seg = seg[match.end():]

    def _segment(self, seg: str) -> None:
        seg = self._strip_bars(strip_escapes(seg))
        if not seg.strip():
            if seg and self._record is not None:
                self._record.add("")
            return
        self._line(seg)

    def _bar(self, match: re.Match) -> None:
        # Only what decides the coalescing is read now; the rest once the redraw is reported (``_release``).
        self._end_record()
        desc = match.group("desc").strip().rstrip(":").strip()
        n, total = int(match.group("n")), int(match.group("total"))
        if desc != "steps":
            held = (("bar", desc, total), match, n, total)
        else:
            step = n + self.step_offset
            whole = total + self.step_offset
            if self.total_steps is not None and self.total_steps > whole:
                whole = self.total_steps
            self.step = step
            held = (("steps", step), match, step, whole)
        if self._held is not None and self._held[0] != held[0]:
            self._release()
        self._held = held

    # -- lines
    def _line(self, line: str) -> None:
        if self._record is not None and self._is_continuation(line):
            self._record.add(line[RICH_INDENT:].rstrip())
            return
        head = self._rich_head(line)
        if head is not None:
            self._end_record()
            self._end_traceback(None)
            self._record = head
            return
        self._end_record()
        self._plain(line.rstrip())

    @staticmethod
    def _is_continuation(line: str) -> bool:
        return len(line) > RICH_INDENT and not line[:RICH_INDENT].strip() and line[RICH_INDENT] != "\t"

    @staticmethod
    def _rich_head(line: str) -> _Record | None:
        stripped = line.lstrip(" ")
        lead = len(line) - len(stripped)
        if _TIMESTAMP.match(stripped[:20] if len(stripped) >= 20 else ""):
            body_start = lead + 20
        elif lead >= 20:
            body_start = lead
        else:
            return None
        match = _RICH_HEAD.match(line, body_start)
        if match is None or not match.group("path"):
            return None
        rich = line[body_start - 20:].rstrip()
        width = len(rich) - len(match.group("path")) - 1 - RICH_INDENT
        first = match.group("body").rstrip()
        return _Record(match.group("level"), first, width)

    def _end_record(self) -> None:
        record, self._record = self._record, None
        if record is not None:
            self._message(record.text, record.level)

    # -- plain lines: stdout prints, --console_log_simple messages, tracebacks
    def _plain(self, line: str) -> None:
        if line.startswith("Traceback (most recent call last)"):
            self._end_traceback(None)
            self._traceback = []
            return
        if self._traceback is not None:
            if line.startswith((" ", "\t")):
                frames = self._traceback
                frames.append(line)
                if len(frames) > MAX_FRAMES:
                    del frames[MAX_FRAMES // 2]
                    self._frames_left_out += 1
                return
            self._end_traceback(line)
            return
        logged = _LOGGING_PREFIX.match(line)
        if logged is not None:
            self._message(logged.group("body").strip(), logged.group("level"))
            return
        self._message(line.strip(), None)

    def _end_traceback(self, last: str | None) -> None:
        frames, self._traceback = self._traceback, None
        if frames is None:
            return
        if self._frames_left_out:
            frames.insert(MAX_FRAMES // 2, f"  ... {self._frames_left_out} more lines left out ...")
            self._frames_left_out = 0
        wrapper = any(marker in frame for frame in frames for marker in _WRAPPER_FRAMES)
        message = (last or "traceback without an exception line").strip()
        self._emit(Error(message, tuple(frames), wrapper))
        self._gpu_failure(message)

    def _gpu_failure(self, text: str) -> None:
        found = failures.classify(text)
        if found is not None and found.id not in self._failures:
            self._failures.add(found.id)
            self._emit(GpuFailure(found.id, text[:1000]))

    def _message(self, text: str, level: str | None) -> None:
        if self._summary is not None:
            for pattern, key in _SUMMARY_KEYS:
                match = pattern.match(text)
                if match:
                    values = [int(v) for v in match.group(1).split(",")]
                    self._summary[key] = values[0]
                    if len(values) > 1:  # musubi-tuner: one batch size per dataset
                        self._summary["batch_sizes"] = values
                    break
        for pattern, what in _MESSAGES:
            match = pattern.match(text)
            if match:
                self._known(what, match)
                break
        if level in ("ERROR", "CRITICAL"):
            self._emit(Error(text))
        self._gpu_failure(text)

    def _known(self, what: str, match: re.Match) -> None:
        self._release()  # a held redraw came before this line
        events = self._events
        if what in ("caching_latents", "caching_text"):
            events.append(Phase(what))
        elif what == "running":
            self._summary = {}
            events.append(Phase("training"))
        elif what == "total":
            self.total_steps = int(match.group(1))
            events.append(TotalSteps(self.total_steps))
            if self._summary is not None:
                events.append(Summary(dict(self._summary)))
                self._summary = None
        elif what == "epoch":
            self.epoch, self.epochs = int(match.group(1)), int(match.group(2))
            events.append(Epoch(self.epoch, self.epochs))
        elif what == "checkpoint":
            events.append(Phase("saving"))
            events.append(Checkpoint(match.group(1)))
        elif what == "removed":
            events.append(CheckpointRemoved(match.group(1)))
        elif what == "saving":
            events.append(Phase("saving"))
        elif what == "state":
            events.append(StateSaved(match.group(1), int(match.group(2)), int(match.group(3))))
        elif what == "skip":
            self.step_offset = int(match.group(1))
            events.append(Resumed(self.step_offset))
        elif what == "sample":
            events.append(SampleStarted(int(match.group(1))))
        elif what == "saved":
            events.append(Saved())
        elif what == "cached":
            events.append(CachedItem(match.group(1)))


def parse_bytes(data: bytes, step_offset: int = 0) -> list[Event]:
    """All events of a complete log."""
    parser = LogParser(step_offset)
    return parser.feed(data) + parser.close()


def _error_ranks(errors: list[Error]) -> list[list[Error]]:
    return [[e for e in errors if e.traceback and not e.wrapper], [e for e in errors if e.traceback], errors]


def pick_error(events: list[Event]) -> Error | None:
    """The error worth showing: the last trainer exception, else the last launcher one, else the last log error."""
    for candidates in _error_ranks([e for e in events if isinstance(e, Error)]):
        if candidates:
            return candidates[-1]
    return None


def notable_errors(errors: list[Error]) -> list[Error]:
    """The few errors ``pick_error`` could ever choose, now or after more errors (at most three, in order):
    what a consumer keeps of a trainer that prints errors without end."""
    keep = {id(candidates[-1]) for candidates in _error_ranks(errors) if candidates}
    return [e for e in errors if id(e) in keep]


def _redraw_key(event: Event) -> tuple | None:
    if isinstance(event, Progress):
        return ("steps", event.step)
    if isinstance(event, BarProgress):
        return ("bar", event.desc, event.total)
    return None


def coalesce(events: list[Event]) -> list[Event]:
    """Drop every bar redraw followed at once by a newer redraw of the same bar (the same step, for the steps
    bar): what the parser does within one ``feed``, applied to a whole event list. Parsing the same bytes in
    any chunking gives the same coalesced events."""
    out = []
    for index, event in enumerate(events):
        key = _redraw_key(event)
        if key is not None and index + 1 < len(events) and _redraw_key(events[index + 1]) == key:
            continue
        out.append(event)
    return out
