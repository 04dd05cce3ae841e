"""`dataset import`: safe extraction (zip slip, symlinks, bombs, limits) and resumable downloads."""

import os
import stat
import zipfile

import pytest

from loratui.datasets.importers import ImportLimits, download, safe_extract
from loratui.errors import ArchiveError, RemoteError
from tests.ops.webserver import Route, WebServer


def _files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _png_bytes(image_factory, tmp_path, color=(10, 120, 200)):
    return image_factory(tmp_path / "src.png", color=color).read_bytes()


@pytest.fixture
def good_zip(tmp_path, image_factory):
    path = tmp_path / "good.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mydata/10_char/a.png", _png_bytes(image_factory, tmp_path))
        zf.writestr("mydata/10_char/a.txt", "1girl, solo")
        zf.writestr("mydata/10_char/b.png", _png_bytes(image_factory, tmp_path, (200, 10, 10)))
        zf.writestr("__MACOSX/mydata/._a.png", b"junk")
    return path


def _zip_with(tmp_path, name, data=b"x", attr=None, compress=zipfile.ZIP_STORED):
    path = tmp_path / "bad.zip"
    with zipfile.ZipFile(path, "w", compression=compress) as zf:
        zf.writestr("ok/fine.txt", "fine")
        info = zipfile.ZipInfo(name)
        info.compress_type = compress
        if attr is not None:
            info.external_attr = attr << 16
        zf.writestr(info, data)
    return path


@pytest.mark.parametrize("entry, attr, message", [
    ("../evil.txt", None, "climbs out"),
    ("ok/../../evil.txt", None, "climbs out"),
    ("/tmp/evil.txt", None, "absolute path"),
    ("C:/evil.txt", None, "absolute path"),
    ("..\\evil.txt", None, "climbs out"),
    ("ok/link", stat.S_IFLNK | 0o777, "symbolic link"),
])
def test_unsafe_entries_refused_nothing_written(tmp_path, entry, attr, message):
    archive = _zip_with(tmp_path, entry, b"/etc/passwd" if attr else b"evil", attr)
    before = _files(tmp_path)
    with pytest.raises(ArchiveError, match=message):
        safe_extract(archive, tmp_path / "root" / "new")
    assert _files(tmp_path) == before  # not even the dataset folder


def test_zip_bomb_and_limits_refused(tmp_path):
    bomb = _zip_with(tmp_path, "ok/zeros.bin", b"\0" * (8 * 1024 * 1024), compress=zipfile.ZIP_DEFLATED)
    with pytest.raises(ArchiveError, match="zip bomb"):
        safe_extract(bomb, tmp_path / "a")
    with pytest.raises(ArchiveError, match="over the limit of 100 bytes"):
        safe_extract(bomb, tmp_path / "b", ImportLimits(max_total_bytes=100, max_ratio=1e9))
    with pytest.raises(ArchiveError, match="over the limit of 1"):
        safe_extract(bomb, tmp_path / "c", ImportLimits(max_files=1))
    (tmp_path / "notzip.zip").write_bytes(b"hello")
    with pytest.raises(ArchiveError, match="not a readable zip"):
        safe_extract(tmp_path / "notzip.zip", tmp_path / "d")
    assert not any((tmp_path / n).exists() for n in "abcd")


def test_extract_strips_the_top_folder(tmp_path, good_zip):
    report = safe_extract(good_zip, tmp_path / "out")
    assert report.stripped_prefix == "mydata" and report.files == 3
    assert _files(tmp_path / "out") == ["10_char", "10_char/a.png", "10_char/a.txt", "10_char/b.png"]


def test_cli_import_registers_and_scans(cli, tmp_path, good_zip):
    result = cli("dataset", "import", good_zip, "--name", "imp", "--into", tmp_path / "datasets", "--json")
    assert result.code == 0, result
    data = result.json()
    assert data["dataset"] == "imp" and data["scan"]["total"] == 2
    assert (tmp_path / "datasets/imp/10_char/a.txt").read_text() == "1girl, solo"
    again = cli("dataset", "import", good_zip, "--name", "imp", "--into", tmp_path / "datasets")
    assert again.code == 2 and "already exists" in again.err
    slip = _zip_with(tmp_path, "../../evil.txt")
    bad = cli("dataset", "import", slip, "--name", "slip", "--into", tmp_path / "datasets")
    assert bad.code == 2 and "zip slip" in bad.err
    assert not (tmp_path / "datasets/slip").exists() and not (tmp_path / "evil.txt").exists()
    assert "slip" not in cli("dataset", "list", "--json").out


@pytest.mark.parametrize("ranges", [True, False], ids=["resumes", "restarts"])
def test_download_resumes_after_a_broken_transfer(tmp_path, ranges):
    with zipfile.ZipFile(tmp_path / "big.zip", "w") as zf:
        zf.writestr("a.bin", os.urandom(300_000))
    payload = (tmp_path / "big.zip").read_bytes()
    with WebServer() as server:
        server.routes["/data.zip"] = Route(payload, cut_first=len(payload) // 2, ranges=ranges)
        dest = tmp_path / "cache" / "x.zip"
        with pytest.raises(RemoteError, match="run the same command again to resume"):
            download(server.url("/data.zip"), dest, timeout=10)
        assert not dest.exists() and 0 < (tmp_path / "cache/x.zip.part").stat().st_size < len(payload)
        download(server.url("/data.zip"), dest, timeout=10)
        assert dest.read_bytes() == payload and not (tmp_path / "cache/x.zip.part").exists()
        assert server.requests[1][1] is not None and server.requests[1][1].startswith("bytes=")


def test_download_refuses_other_schemes_and_dead_hosts(tmp_path):
    from loratui.errors import InputError

    with pytest.raises(InputError):
        download("file:///etc/passwd", tmp_path / "x.zip")
    with pytest.raises(RemoteError):
        download("http://127.0.0.1:9/none.zip", tmp_path / "x.zip", timeout=5)


def test_cli_import_from_url(cli, tmp_path, good_zip, home):
    with WebServer() as server:
        server.routes["/data.zip"] = Route(good_zip.read_bytes())
        result = cli("dataset", "import", server.url("/data.zip"), "--name", "web", "--into", tmp_path / "datasets",
                     "--json")
    assert result.code == 0, result
    assert result.json()["scan"]["total"] == 2
    assert not list((home / "cache" / "imports").glob("*"))  # the download is removed once imported
