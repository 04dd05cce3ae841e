"""Terminal graphics: which protocol each terminal gets (tmux and GNU screen fall back to half-blocks), and the
kitty, sixel and iTerm2 sequences."""

from __future__ import annotations

import base64
import re

import pytest
from PIL import Image

from loratui.termgraphics import detect, encode


@pytest.mark.parametrize("env, expected", [
    ({"TERM": "xterm-kitty", "KITTY_WINDOW_ID": "1"}, "kitty"),
    ({"TERM": "xterm-ghostty", "TERM_PROGRAM": "ghostty"}, "kitty"),
    ({"TERM": "xterm-256color", "TERM_PROGRAM": "iTerm.app"}, "iterm2"),
    ({"TERM": "xterm-256color", "LC_TERMINAL": "iTerm2"}, "iterm2"),  # over ssh: LC_* travels, TERM_PROGRAM not
    ({"TERM": "xterm-256color", "TERM_PROGRAM": "WezTerm"}, "iterm2"),
    ({"TERM": "foot"}, "sixel"),
    ({"TERM": "mlterm"}, "sixel"),
    ({"TERM": "xterm-256color"}, "halfblock"),
    ({}, "halfblock"),
    ({"TERM": "screen-256color"}, "halfblock"),
    ({"TERM": "screen", "KITTY_WINDOW_ID": "3"}, "halfblock"),  # GNU screen inside kitty: screen drops images
    ({"TERM": "tmux-256color", "TMUX": "/tmp/tmux-0/default,1,0", "KITTY_WINDOW_ID": "1"}, "halfblock"),
    ({"TERM": "screen-256color", "TMUX": "/tmp/tmux-0/default,1,0", "LC_TERMINAL": "iTerm2"}, "halfblock"),
])
def test_detection_from_the_environment(env, expected):
    assert detect.detect(env).protocol == expected


def test_tmux_passthrough_is_opt_in_and_wraps():
    env = {"TERM": "tmux-256color", "TMUX": "/tmp/tmux-0/default,1,0", "TERM_PROGRAM": "tmux",
           "KITTY_WINDOW_ID": "1"}
    assert detect.detect(env).protocol == "halfblock" and "tmux" in detect.detect(env).reason
    chosen = detect.detect(env, tmux_passthrough=True)
    assert (chosen.protocol, chosen.tmux) == ("kitty", True)
    assert detect.detect({"TERM": "screen", "TMUX": "x"}, tmux_passthrough=True).protocol == "halfblock"


def test_device_attributes_reveal_sixel():
    reply = "\x1b[?62;4;6;22c"
    assert detect.parse_device_attributes(reply) == {62, 4, 6, 22}
    assert detect.detect({"TERM": "xterm-256color"}, reply).protocol == "sixel"
    assert detect.detect({"TERM": "xterm-256color"}, "\x1b[?62;22c").protocol == "halfblock"
    assert detect.parse_device_attributes("garbage") == set()


def test_choose_honours_the_setting():
    env = {"TERM": "xterm-kitty"}
    assert detect.choose("auto", env).protocol == "kitty"
    assert detect.choose("halfblock", env).protocol == "halfblock"
    assert detect.choose("sixel", {"TMUX": "x"}) == detect.Graphics("sixel", tmux=True, reason="chosen")
    with pytest.raises(ValueError):
        detect.choose("braille", env)


def test_kitty_chunks():
    png = bytes(range(256)) * 40  # 10,240 bytes -> 13,656 base64 characters -> 4 chunks
    sequences = encode.encode_kitty(png, 40, 12)
    assert len(sequences) == 4
    assert sequences[0].startswith("\x1b_Ga=T,f=100,q=2,c=40,r=12,m=1;")
    assert [s.split(";", 1)[0][-3:] for s in sequences[1:]] == ["m=1", "m=1", "m=0"]
    assert sequences[1].startswith("\x1b_Gm=1;")
    assert all(s.endswith("\x1b\\") for s in sequences)
    payloads = [s.split(";", 1)[1][:-2] for s in sequences]
    assert all(len(p) <= 4096 for p in payloads) and all(len(p) % 4 == 0 for p in payloads[:-1])
    assert base64.b64decode("".join(payloads)) == png


def _tiny() -> Image.Image:
    image = Image.new("RGB", (5, 8), (255, 0, 0))
    for x in range(5):
        image.putpixel((x, 7), (0, 0, 255))
    image.putpixel((2, 2), (0, 255, 0))
    return image


def test_sixel_header_palette_and_bands():
    (sequence,) = encode.encode_sixel(_tiny())
    assert sequence.startswith('\x1bPq"1;1;5;8') and sequence.endswith("\x1b\\")
    body = sequence[len('\x1bPq"1;1;5;8'):-2]
    palette = dict((int(n), tuple(map(int, rgb))) for n, *rgb in re.findall(r"#(\d+);2;(\d+);(\d+);(\d+)", body))
    assert sorted(palette.values()) == [(0, 0, 100), (0, 100, 0), (100, 0, 0)]
    assert all(0 <= v <= 100 for rgb in palette.values() for v in rgb)
    data = re.sub(r"#\d+;2;\d+;\d+;\d+", "", body)
    bands = data.split("-")
    assert bands[-1] == "" and len(bands) - 1 == 2  # 8 rows = two bands of six
    assert set(data) <= set("#$!-0123456789") | {chr(c) for c in range(63, 127)}
    red = next(n for n, rgb in palette.items() if rgb == (100, 0, 0))
    green = next(n for n, rgb in palette.items() if rgb == (0, 100, 0))
    # first band: red everywhere except (2, 2); green only there (bit 2 = '?' + 4 = 'C')
    first = dict((int(m.group(1)), m.group(2)) for m in re.finditer(r"#(\d+)([^#$-]*)", bands[0]))
    assert first[green] == "??C" and first[red] == "~~z~~"  # 63 + 0b111011


def test_iterm2_osc_1337():
    png = encode.png_bytes(_tiny())
    (sequence,) = encode.encode_iterm2(png, 30, 10, name="cell.png")
    assert sequence.startswith("\x1b]1337;File=name=" + base64.b64encode(b"cell.png").decode())
    header, payload = sequence[len("\x1b]1337;File="):-1].split(":", 1)
    fields = dict(part.split("=", 1) for part in header.split(";"))
    assert fields == {"name": base64.b64encode(b"cell.png").decode(), "inline": "1", "size": str(len(png)),
                      "width": "30", "height": "10", "preserveAspectRatio": "1"}
    assert sequence.endswith("\x07") and base64.b64decode(payload) == png


def test_tmux_wrapping_doubles_escapes():
    sequences = encode.encode("kitty", _tiny(), 10, 5, tmux=True)
    assert all(s.startswith("\x1bPtmux;\x1b\x1b_G") and s.endswith("\x1b\x1b\\\x1b\\") for s in sequences)
    sixel = encode.encode("sixel", _tiny(), 3, 2, cell_px=(2, 4))[0]
    assert sixel.startswith('\x1bPq"1;1;')  # fitted into 6x8 pixels


@pytest.mark.parametrize("env, ask", [
    ({"TERM": "xterm-256color"}, True),
    ({"TERM": "xterm-kitty"}, False),  # the environment already says
    ({"TERM": "xterm-256color", "TMUX": "x"}, False),  # tmux would answer for itself
    ({"TERM": "screen"}, False),
])
def test_device_attributes_are_asked_only_when_they_can_help(env, ask):
    assert detect.worth_asking(env) is ask


def test_fit_box_keeps_the_aspect():
    assert encode.fit_box(512, 512, 80, 20) == (40, 20)  # square image: twice as many columns as rows
    assert encode.fit_box(1024, 256, 40, 20) == (40, 5)
    assert encode.fit_box(1, 1000, 40, 20) == (1, 20)
