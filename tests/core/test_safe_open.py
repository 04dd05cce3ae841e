"""fsutil.open_regular: only regular files inside the root, never blocking, always a reason (issue 13 items 2, 5)."""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

import pytest

from loratui.datasets.captions import read_caption
from loratui.datasets.probe import probe_image
from loratui.fsutil import FileRefused, open_regular, read_regular
from tests.conftest import make_image


@pytest.fixture
def tree(tmp_path) -> Path:
    root = tmp_path / "ds"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.txt").write_text("inside")
    (tmp_path / "secret.txt").write_text("SECRET")
    os.symlink(tmp_path / "secret.txt", root / "out.txt")
    os.symlink("sub/a.txt", root / "in.txt")
    os.symlink("sub", root / "linked")
    os.symlink(tmp_path, root / "up")
    os.mkfifo(root / "fifo.txt")
    (root / "dir.txt").mkdir()
    return root


def _refusal(path, **kwargs) -> FileRefused:
    with pytest.raises(FileRefused) as caught:
        read_regular(path, **kwargs)
    return caught.value


def test_regular_files_inside_the_root_are_read(tree):
    assert read_regular("sub/a.txt", root=tree)[0] == b"inside"
    assert read_regular(tree / "sub" / "a.txt", root=tree)[0] == b"inside"
    data, st = read_regular(tree / "sub" / "a.txt")
    assert data == b"inside" and st.st_size == 6
    handle, _ = open_regular("sub/a.txt", root=tree)
    with handle:
        assert os.get_blocking(handle.fileno())


@pytest.mark.timeout(20)
def test_special_files_are_refused_without_blocking(tree, tmp_path):
    assert _refusal("fifo.txt", root=tree).kind == "special"
    assert "FIFO" in str(_refusal(tree / "fifo.txt"))
    refused = _refusal("dir.txt", root=tree)
    assert refused.kind == "directory" and refused.stat is not None
    assert _refusal("/dev/null").kind == "special"
    with tempfile.TemporaryDirectory(dir="/tmp") as short:  # unix socket paths are limited to ~100 bytes
        server = socket.socket(socket.AF_UNIX)
        server.bind(os.path.join(short, "s.txt"))
        try:
            assert "socket" in str(_refusal(os.path.join(short, "s.txt")))
        finally:
            server.close()


def test_symlinks_are_not_followed_out_of_the_root(tree):
    assert _refusal("out.txt", root=tree).kind == "symlink"
    outside = _refusal("out.txt", root=tree, follow_links_inside=True)
    assert outside.kind == "outside" and "outside the dataset" in str(outside)
    assert _refusal("up/secret.txt", root=tree).kind == "symlink"
    assert _refusal("up/secret.txt", root=tree, follow_links_inside=True).kind == "outside"
    assert _refusal("../secret.txt", root=tree).kind == "outside"
    assert _refusal(tree.parent / "secret.txt", root=tree).kind == "outside"
    assert _refusal(tree / "out.txt").kind == "symlink"  # no root: the last component is still not followed


def test_links_that_stay_inside_are_followed_only_when_asked(tree):
    assert _refusal("in.txt", root=tree).kind == "symlink"
    assert "symlinked folder (linked)" in str(_refusal("linked/a.txt", root=tree))
    assert read_regular("in.txt", root=tree, follow_links_inside=True)[0] == b"inside"
    assert read_regular("linked/a.txt", root=tree, follow_links_inside=True)[0] == b"inside"


def test_missing_and_too_large(tree):
    assert _refusal("gone.txt", root=tree).kind == "missing"
    assert _refusal("nofolder/x.txt", root=tree).kind == "missing"
    big = _refusal("sub/a.txt", root=tree, max_size=3)
    assert big.kind == "too_large" and "over the 3 bytes limit" in str(big)


def test_a_folder_swapped_for_a_link_after_the_walk_is_refused(tree, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "a.txt").write_text("SECRET")
    os.rename(tree / "sub", tree / "sub.old")
    os.symlink(tmp_path / "elsewhere", tree / "sub")
    assert _refusal("sub/a.txt", root=tree).kind == "symlink"
    assert _refusal("sub/a.txt", root=tree, follow_links_inside=True).kind == "outside"


def _read_locked(root: Path) -> list[str]:
    """What the readers say about root/locked.*, in words."""
    try:
        read_regular("locked.txt", root=root)
        lines = ["read"]
    except FileRefused as exc:
        lines = [f"refused {exc.kind} {exc}"]
    caption = read_caption(root / "locked.txt", root=root)
    lines.append(f"caption {caption.text} {caption.size} {caption.warning}")
    lines.append(f"image {probe_image(str(root / 'locked.png'), 'locked.png', 10, 0, root=str(root))['reason']}")
    return lines


def _as_nobody(fn, *args) -> list[str]:
    """Run `fn` in a forked child that has given up root (the interpreter is already loaded: nothing to exec)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            os.close(read_end)
            os.setgid(65534)
            os.setuid(65534)
            os.write(write_end, "\n".join(fn(*args)).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        out = pipe.read().decode()
    assert os.waitpid(pid, 0)[1] == 0
    return out.splitlines()


def test_an_unreadable_file_is_a_reason():
    """Permission denied, for real: as another user when the tests run as root."""
    root = Path(tempfile.mkdtemp(dir="/tmp"))  # tmp_path's parents are private to this user
    try:
        os.chmod(root, 0o755)
        (root / "locked.txt").write_text("private")
        make_image(root / "locked.png")
        os.chmod(root / "locked.txt", 0)
        os.chmod(root / "locked.png", 0)
        lines = _as_nobody(_read_locked, root) if os.geteuid() == 0 else _read_locked(root)
        assert lines == ["refused permission cannot be read: permission denied",
                         "caption None 7 caption file cannot be read: permission denied: not loaded",
                         "image file cannot be read: permission denied"]
    finally:
        for path in root.iterdir():
            path.unlink()
        root.rmdir()


def test_read_caption_and_probe_give_reasons(tree):
    fifo = read_caption(tree / "fifo.txt", root=tree)
    assert fifo.text is None and "FIFO" in fifo.warning and fifo.size == 0
    folder = read_caption(tree / "dir.txt", root=tree)
    assert folder.text is None and folder.warning == "caption file is a folder, not a file: not loaded"
    for linked in (read_caption(tree / "out.txt", root=tree), read_caption(tree / "in.txt")):
        assert linked.linked and linked.text is None and "symbolic link" in linked.warning  # counted as absent
    assert read_caption(tree / "gone.txt", root=tree) is None
    assert read_caption(tree / "sub" / "a.txt", root=tree).text == "inside"

    os.mkfifo(tree / "pipe.png")
    probed = probe_image(str(tree / "pipe.png"), "pipe.png", 0, 0, root=str(tree))
    assert probed["status"] == "broken" and probed["reason"] == "file is a FIFO (named pipe), not a regular file"
    make_image(tree.parent / "outside.png")
    os.symlink(tree.parent / "outside.png", tree / "escape.png")
    probed = probe_image(str(tree / "escape.png"), "escape.png", 10, 0, root=str(tree))
    assert probed["status"] == "broken" and "outside the dataset" in probed["reason"]
    make_image(tree / "sub" / "real.png")
    os.symlink("sub/real.png", tree / "alias.png")
    size = (tree / "sub" / "real.png").stat().st_size
    assert probe_image(str(tree / "alias.png"), "alias.png", size, 0, root=str(tree))["status"] == "ok"

