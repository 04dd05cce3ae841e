"""Which graphics protocol the terminal speaks, decided from the environment and a device-attributes reply.

Protocols: ``kitty`` (the kitty graphics protocol: kitty, Ghostty, WezTerm's partial support is not relied on),
``iterm2`` (OSC 1337 inline images: iTerm2, WezTerm, mintty, VS Code's terminal with images enabled), ``sixel``
(foot, mlterm, xterm with ``-ti vt340``, any terminal whose primary device attributes list 4), and
``halfblock``, which works everywhere and is the fallback.

Multiplexers: GNU screen (``TERM=screen*`` outside tmux) drops every graphics sequence, so it always gets
half-blocks. tmux passes them on only when wrapped in its passthrough sequence *and* ``allow-passthrough`` is on
(off by default since tmux 3.3); since that cannot be seen from the environment, tmux gets half-blocks unless the
user opts in (``tmux_passthrough``), and then the terminal outside tmux is judged from the variables it left in
the environment (``KITTY_WINDOW_ID``, ``LC_TERMINAL``, ...): ``TERM_PROGRAM`` says tmux there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

PROTOCOLS = ("kitty", "sixel", "iterm2")
MODES = ("auto", "halfblock", *PROTOCOLS)
"""What ``--graphics`` and ``[ui] graphics`` accept."""


@dataclass(frozen=True)
class Graphics:
    """The protocol to use, whether its sequences need tmux's passthrough wrapper, and why it was chosen."""

    protocol: str
    """kitty, sixel, iterm2 or halfblock."""
    tmux: bool = False
    """Wrap every sequence for tmux's passthrough."""
    reason: str = ""

    @property
    def is_graphics(self) -> bool:
        """True when images go out through a graphics protocol (not half-blocks)."""
        return self.protocol != "halfblock"


def parse_device_attributes(reply: str) -> set[int]:
    """The parameters of a primary device-attributes reply (``ESC [ ? 62 ; 4 ; 22 c``); empty when it is none."""
    start = reply.find("\x1b[?")
    if start < 0:
        return set()
    end = reply.find("c", start)
    if end < 0:
        return set()
    found = set()
    for part in reply[start + 3:end].split(";"):
        if part.isdigit():
            found.add(int(part))
    return found


def _terminal_protocol(env: Mapping[str, str], device_attributes: str | None) -> tuple[str, str]:
    term = env.get("TERM", "")
    program = env.get("TERM_PROGRAM", "")
    if env.get("KITTY_WINDOW_ID") or term == "xterm-kitty":
        return "kitty", "kitty (KITTY_WINDOW_ID / TERM=xterm-kitty)"
    if program.lower() == "ghostty" or term == "xterm-ghostty" or env.get("GHOSTTY_RESOURCES_DIR"):
        return "kitty", "Ghostty speaks the kitty graphics protocol"
    if program == "iTerm.app" or env.get("LC_TERMINAL") == "iTerm2":
        return "iterm2", "iTerm2 (TERM_PROGRAM / LC_TERMINAL)"
    if program == "WezTerm" or env.get("WEZTERM_EXECUTABLE"):
        return "iterm2", "WezTerm shows iTerm2 inline images"
    if program == "mintty" or term == "mintty":
        return "iterm2", "mintty shows iTerm2 inline images"
    if term.startswith(("foot", "mlterm", "contour")) or term == "yaft-256color":
        return "sixel", f"TERM={term} draws sixel"
    if device_attributes is not None and 4 in parse_device_attributes(device_attributes):
        return "sixel", "the terminal's device attributes list sixel (4)"
    return "halfblock", "no graphics protocol known for this terminal"


def _multiplexer(env: Mapping[str, str]) -> str | None:
    term = env.get("TERM", "")
    if bool(env.get("TMUX")) or term.startswith("tmux") or env.get("TERM_PROGRAM") == "tmux":
        return "tmux"
    return "screen" if term.startswith("screen") else None


def worth_asking(env: Mapping[str, str]) -> bool:
    """True when only the terminal's device attributes could still reveal a protocol (sixel): the environment
    names none, and no multiplexer sits in between (tmux and GNU screen answer for themselves)."""
    return _multiplexer(env) is None and _terminal_protocol(env, None)[0] == "halfblock"


def detect(env: Mapping[str, str], device_attributes: str | None = None, *, tmux_passthrough: bool = False
           ) -> Graphics:
    """The protocol for a terminal described by `env` (and its device-attributes reply, when one was read)."""
    multiplexer = _multiplexer(env)
    in_tmux = multiplexer == "tmux"
    if multiplexer == "screen":
        return Graphics("halfblock", reason="GNU screen passes no graphics sequences")
    if in_tmux and not tmux_passthrough:
        return Graphics("halfblock", reason="inside tmux (opt in to its passthrough with allow-passthrough on)")
    protocol, reason = _terminal_protocol(env, device_attributes)
    return Graphics(protocol, tmux=in_tmux and protocol != "halfblock", reason=reason + (" via tmux passthrough"
                                                                                     if in_tmux else ""))


def choose(mode: str, env: Mapping[str, str], device_attributes: str | None = None, *,
           tmux_passthrough: bool = False) -> Graphics:
    """`mode` as the user set it: ``auto`` detects, a protocol name is used as given (wrapped for tmux when inside
    it), ``halfblock`` turns graphics off."""
    if mode not in MODES:
        raise ValueError(f"graphics must be one of {', '.join(MODES)}")
    if mode == "auto":
        return detect(env, device_attributes, tmux_passthrough=tmux_passthrough)
    if mode == "halfblock":
        return Graphics("halfblock", reason="chosen")
    in_tmux = bool(env.get("TMUX"))
    return Graphics(mode, tmux=in_tmux, reason="chosen")
