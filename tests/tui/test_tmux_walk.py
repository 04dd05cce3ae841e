"""Every screen at 80x24 in a real terminal, by keyboard only (issue 14).

`python -m loratui` runs in a detached tmux session of 80x24. From the main screen each screen is opened by its
key, its main action is used, and Esc leaves it. The walk fails on a traceback anywhere on screen or in the
stderr log, on a screen that Esc does not leave, and on a footer whose last key label is cut (the bottom row
must end with the whole `? Help` and the palette key).
"""

from __future__ import annotations

import re
import sys
import time
import uuid

from tests.conftest import python_subprocess_env

from .conftest import make_demo_home
from .tmux import TMUX_MARKS, kill_session, quit_with_q, start_session, tmux

pytestmark = TMUX_MARKS

FOOTER_END = re.compile(r"\? Help\s+▏?\^p palette\s*$")
MAIN_FOOTER = "Edit caption"

WALK = [
    # (keys that open it, text that shows it is open, keys of its main action, text the action shows,
    #  keys that leave it, text that is gone once it is left)
    # The palette first: quitting within a second of closing it sometimes leaves a traceback of Textual's own
    # palette worker (NoMatches 'CommandList' in CommandPalette._refresh_command_list, Textual 8.2.8) in the log.
    (["C-p"], "Search for commands", ["-l", "dupl"], "Duplicates", ["Escape"], "Search for commands"),
    (["d"], "─ Datasets", ["Escape"], "─ Datasets", ["d"], "─ Datasets"),  # a panel: d shows and hides it
    (["?"], "Keys of the main screen", ["j", "j"], "Id for [ui.keys]", ["Escape"], "Keys of the main screen"),
    (["/"], "filter", ["-l", "sky", "Enter"], "/sky", ["/", "Escape"], "/sky"),  # Esc clears the filter
    (["F"], "sorted by count", ["s"], "sorted by alpha", ["Escape"], "sorted by"),
    (["D"], "near groups", ["+"], "within 7 bits", ["Escape"], "near groups"),
    (["C"], "total steps", ["j", "j"], "total steps", ["Escape"], "total steps"),
    (["J"], "no training selected", ["End"], "no training selected", ["Escape"], "no training selected"),
    (["L"], "library is empty", ["F5"], "library is empty", ["Escape"], "library is empty"),
    (["M"], "No models yet", ["F5"], "No models yet", ["Escape"], "No models yet"),
    (["a"], "Add a dataset folder", ["-l", "/tm"], "/tm", ["Escape"], "Add a dataset folder"),
    (["T"], "Tag or caption", ["Tab"], "Tag or caption", ["Escape"], "Tag or caption"),
    (["i"], "Buckets:", ["j"], "Buckets:", ["Escape"], "Buckets:"),
    (["p"], "No control folders", ["j"], "No control folders", ["Escape"], "No control folders"),
    (["C", "C-o"], "Import a training config", ["-l", "/nonexistent.json", "Enter"], "nonexistent",
     ["Escape", "Escape"], "total steps"),
]


def _screen(session: str) -> str:
    return tmux("capture-pane", "-p", "-t", session)


def _wait(session: str, predicate, what: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = _screen(session)
        assert "Traceback" not in screen, screen
        if predicate(screen):
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{what}:\n{screen}")


def _labels() -> set[str]:
    """Every footer label the TUI can show: the descriptions of its bindings."""
    import loratui.tui.app  # noqa: F401  (imports every screen and widget module)
    from loratui.tui.keys import class_bindings
    from loratui.tui.screens import discover_actions

    labels = {action.description for action in discover_actions()}
    for name, module in list(sys.modules.items()):
        if name.startswith("loratui.tui"):
            for value in list(vars(module).values()):
                if isinstance(value, type) and getattr(value, "BINDINGS", None):
                    labels.update(b.description for b in class_bindings(value))
    return labels


def _footer_drawn(screen: str) -> bool:
    return "^p palette" in screen.rstrip("\n").split("\n")[-1]


def _check_footer(screen: str, where: str) -> None:
    """The bottom row ends with the palette key, and the label before it is whole (not "? He")."""
    bottom = screen.rstrip("\n").split("\n")[-1]
    if FOOTER_END.search(bottom):
        return
    keys, palette, _rest = bottom.rpartition("▏^p palette")
    assert palette, f"no palette key at the end of the footer on {where}: {bottom!r}"
    assert any(keys.rstrip().endswith(" " + label) for label in LABELS), f"footer cut on {where}: {bottom!r}"


def _send(session: str, keys: list[str]) -> None:
    if keys and keys[0] == "-l":
        tmux("send-keys", "-t", session, "-l", *keys[1:2])
        keys = keys[2:]
    for key in keys:
        tmux("send-keys", "-t", session, key)
        time.sleep(0.15)


LABELS: set[str] = set()


def _check_log(home, where: str) -> None:
    log = home / "tui-stderr.log"
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    assert "Traceback" not in text, f"after {where}:\n{text}"


def test_walk_every_screen_at_80x24_by_keyboard(tmp_path):
    LABELS.update(_labels())
    home = tmp_path / "home"
    make_demo_home(home, count=8)
    session = f"loratui-walk-{uuid.uuid4().hex[:8]}"
    env = python_subprocess_env({"LORATUI_HOME": str(home), "TERM": "xterm-256color"})
    env.pop("COLORTERM", None)
    start_session(session, [sys.executable, "-m", "loratui"], env)
    try:
        screen = _wait(session, lambda s: "Images demo" in s and MAIN_FOOTER in s, "the main screen did not open")
        _check_footer(screen, "main")
        _send(session, ["j"])
        for open_keys, marker, action, action_marker, leave, gone in WALK:
            where = f"{open_keys} ({marker})"
            _send(session, open_keys)
            screen = _wait(session, lambda s: marker in s and _footer_drawn(s), f"{where} did not open")
            _check_footer(screen, where)
            _send(session, action)
            screen = _wait(session, lambda s: action_marker in s and _footer_drawn(s),
                           f"the main action of {where} showed nothing")
            _check_footer(screen, where)
            _send(session, leave)
            screen = _wait(session, lambda s: gone not in s and MAIN_FOOTER in s, f"{leave} did not leave {where}")
            _check_footer(screen, f"main, after {where}")
            _check_log(home, where)
        quit_with_q(session)
    finally:
        kill_session(session)
    _check_log(home, "quitting")
