"""`dataset import URL` against a real HTTP server on 127.0.0.1 (issue 13, item 9): content checked before it is
cached, size limits, free space, schemes across redirects, resume, refetch and the `dataset downloads` command."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
import zipfile
from collections import namedtuple

import pytest

from loratui.datasets.importers import download, download_path
from loratui.errors import ArchiveError, RemoteError
from loratui.http_download import DiskSpaceError
from tests.conftest import REPO, python_subprocess_env
from tests.ops.webserver import Route, WebServer

HTML = b"<!DOCTYPE html><html><body>Please log in</body></html>"


@pytest.fixture
def server():
    with WebServer() as web:
        yield web


@pytest.fixture
def good_zip(tmp_path, image_factory):
    path = tmp_path / "good.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("set/10_char/a.png", image_factory(tmp_path / "a.png").read_bytes())
        zf.writestr("set/10_char/a.txt", "1girl, solo")
        zf.writestr("set/10_char/pad.bin", os.urandom(200_000))  # big enough to cut a transfer in the middle
    return path


def _cache(home):
    folder = home / "cache" / "imports"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def _import(cli, tmp_path, url, name="web", *extra):
    return cli("dataset", "import", url, "--name", name, "--into", tmp_path / "datasets", *extra)


def test_an_html_page_is_refused_and_nothing_is_cached_then_the_fixed_server_works(cli, tmp_path, home, server,
                                                                                     good_zip):
    server.routes["/data.zip"] = Route(HTML, content_type="text/html; charset=utf-8")
    url = server.url("/data.zip")
    result = _import(cli, tmp_path, url)
    assert result.code == 2 and "not a zip file" in result.err and "text/html" in result.err, result
    assert "Traceback" not in result.err
    assert not any(name.endswith((".zip", ".part")) for name in _cache(home))
    server.routes["/data.zip"] = Route(good_zip.read_bytes())  # the server is fixed
    result = _import(cli, tmp_path, url, "web", "--json")
    assert result.code == 0, result
    assert result.json()["scan"]["total"] == 1 and _cache(home) == []


def test_a_bad_archive_cached_by_an_older_version_is_fetched_again(cli, tmp_path, home, server, good_zip):
    url = server.url("/data.zip")
    stale = download_path(home / "cache", url)
    stale.parent.mkdir(parents=True)
    stale.write_bytes(HTML)  # what loratui before this fix kept as <hash>.zip
    server.routes["/data.zip"] = Route(good_zip.read_bytes())
    assert _import(cli, tmp_path, url).code == 0
    assert [path for path, _range in server.requests] == ["/data.zip"]


def test_refetch_discards_a_partial_download_and_starts_over(cli, tmp_path, home, server, good_zip):
    url = server.url("/data.zip")
    part = download_path(home / "cache", url).with_suffix(".zip.part")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"PK\x03\x04 bytes of some other file")
    server.routes["/data.zip"] = Route(good_zip.read_bytes())
    result = _import(cli, tmp_path, url, "web", "--refetch")
    assert result.code == 0, result
    assert server.requests == [("/data.zip", None)] and _cache(home) == []  # no Range: started over


def test_a_refused_archive_is_not_kept_in_the_cache(cli, tmp_path, home, server):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.bin", b"\0" * (8 * 1024 * 1024))
    server.routes["/bomb.zip"] = Route(bomb.read_bytes())
    result = _import(cli, tmp_path, server.url("/bomb.zip"))
    assert result.code == 2 and "zip bomb" in result.err and "the downloaded file was removed" in result.err
    assert _cache(home) == []


def test_a_huge_content_length_is_refused_before_downloading(tmp_path, server):
    server.routes["/huge.zip"] = Route(b"PK\x03\x04", length=10 * 1000**4)  # 10 TB announced
    dest = tmp_path / "cache" / "x.zip"
    started = time.monotonic()
    with pytest.raises(ArchiveError, match=r"is 9.09 TiB \(10000000000000 bytes\), over the download limit"):
        download(server.url("/huge.zip"), dest, timeout=10)
    assert time.monotonic() - started < 5
    assert not dest.exists() and not dest.with_suffix(".zip.part").exists()


def test_a_stream_without_length_is_stopped_at_the_limit_and_removed(tmp_path, server):
    server.routes["/endless.zip"] = Route(b"PK\x03\x04" + b"\0" * 3_000_000, length=None)
    dest = tmp_path / "cache" / "x.zip"
    with pytest.raises(ArchiveError, match="sent more than the download limit of 976.56 KiB"):
        download(server.url("/endless.zip"), dest, timeout=10, max_bytes=1_000_000)
    assert not dest.exists() and not dest.with_suffix(".zip.part").exists()


def test_the_download_limit_comes_from_the_settings(cli, tmp_path, home, server, good_zip):
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text("[dataset_tools]\nimport_max_download_gib = 0.0001\n")  # ~105 KiB
    server.routes["/data.zip"] = Route(good_zip.read_bytes())
    result = _import(cli, tmp_path, server.url("/data.zip"))
    assert result.code == 2 and "over the download limit" in result.err and "import_max_download_gib" in result.err


@pytest.mark.parametrize("target", ["ftp://127.0.0.1/data.zip", "file:///etc/passwd"])
def test_redirects_to_other_schemes_are_refused(tmp_path, home, cli, server, target):
    server.routes["/hop1"] = Route(location="/hop2")
    server.routes["/hop2"] = Route(location=target)
    result = _import(cli, tmp_path, server.url("/hop1"))
    assert result.code == 2 and "only http and https are followed" in result.err, result
    assert [path for path, _ in server.requests] == ["/hop1", "/hop2"]
    assert not any(name.endswith((".zip", ".part")) for name in _cache(home))


def test_redirects_between_http_urls_are_followed(tmp_path, server, good_zip):
    server.routes["/old"] = Route(location=server.url("/new.zip"))
    server.routes["/new.zip"] = Route(good_zip.read_bytes())
    dest = download(server.url("/old"), tmp_path / "x.zip", timeout=10)
    assert dest.read_bytes() == good_zip.read_bytes()


def test_a_partial_download_resumes_from_where_it_stopped(cli, tmp_path, home, server, good_zip):
    payload = good_zip.read_bytes()
    server.routes["/data.zip"] = Route(payload, cut_first=100_000)
    url = server.url("/data.zip")
    first = _import(cli, tmp_path, url)
    assert first.code == 2 and "run the same command again to resume" in first.err
    part = download_path(home / "cache", url).with_suffix(".zip.part")
    kept = part.stat().st_size
    assert kept == 100_000
    listed = cli("dataset", "downloads", "--json").json()
    assert [(d["url"], d["bytes"], d["complete"]) for d in listed] == [(url, kept, False)]
    assert _import(cli, tmp_path, url).code == 0
    assert server.requests[-1] == ("/data.zip", f"bytes={kept}-") and _cache(home) == []


def test_a_wrong_range_answer_starts_over(tmp_path, server, good_zip):
    payload = good_zip.read_bytes()
    server.routes["/data.zip"] = Route(payload)
    dest = tmp_path / "x.zip"
    dest.with_suffix(".zip.part").write_bytes(payload[:1000] + b"more than the file has" * 20_000)
    download(server.url("/data.zip"), dest, timeout=10)  # 416, total != part: the part is thrown away
    assert dest.read_bytes() == payload
    assert [r for _, r in server.requests] == ["bytes=441000-", None]


def test_downloads_lists_and_clears_what_is_left(cli, home, server, tmp_path):
    assert "no downloads left" in cli("dataset", "downloads").err
    folder = home / "cache" / "imports"
    folder.mkdir(parents=True)
    (folder / "aaa.zip.part").write_bytes(b"PK\x03\x04partial")
    (folder / "aaa.url").write_text("http://example.org/a.zip\n")
    (folder / "bbb.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    (folder / "orphan.url").write_text("http://example.org/gone.zip\n")
    busy = folder / "ccc.zip.part"
    busy.write_bytes(b"PK")
    with open(busy, "ab") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # as a running download holds it
        listed = {d["path"].rsplit("/", 1)[1]: d for d in cli("dataset", "downloads", "--json").json()}
        assert listed["aaa.zip.part"]["url"] == "http://example.org/a.zip" and listed["ccc.zip.part"]["in_use"]
        assert listed["bbb.zip"]["complete"] and not listed["aaa.zip.part"]["complete"]
        assert "partial" in cli("dataset", "downloads").out
        cleared = cli("dataset", "downloads", "--clear", "--json").json()
        assert sorted((d["path"].rsplit("/", 1)[1], d["removed"]) for d in cleared) == [
            ("aaa.zip.part", True), ("bbb.zip", True), ("ccc.zip.part", False)]
        with pytest.raises(RemoteError, match="being written by another loratui process"):
            download("http://127.0.0.1:9/ccc", busy.with_suffix(""), timeout=5)
    assert sorted(p.name for p in folder.iterdir()) == ["ccc.url", "ccc.zip.part"]


def test_not_enough_free_space_is_refused_before_downloading(tmp_path, server, good_zip, monkeypatch):
    server.routes["/data.zip"] = Route(good_zip.read_bytes())
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr("shutil.disk_usage", lambda path: usage(10**12, 10**12 - 10**6, 10**6))
    dest = tmp_path / "cache" / "x.zip"
    with pytest.raises(DiskSpaceError, match=r"needs .* bytes\) in .*, but only 976.56 KiB \(1000000 bytes\)"):
        download(server.url("/data.zip"), dest, timeout=10)
    assert not dest.exists() and not dest.with_suffix(".zip.part").exists()


CHILD = r"""
import resource, signal, sys
from pathlib import Path
from loratui.datasets.importers import download
from loratui.errors import LoratuiError
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG, as on a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (150_000, 150_000))
dest = Path(sys.argv[2])
try:
    download(sys.argv[1], dest, timeout=10)
except LoratuiError as exc:
    print(type(exc).__name__, exc.one_line())
print("part left:", dest.with_name(dest.name + ".part").exists())
"""


def test_a_disk_that_fills_up_while_downloading_frees_the_space_again(tmp_path, server):
    server.routes["/stream.zip"] = Route(b"PK\x03\x04" + os.urandom(400_000), length=None)
    dest = tmp_path / "cache" / "x.zip"
    child = subprocess.run([sys.executable, "-c", CHILD, server.url("/stream.zip"), str(dest)], cwd=REPO,
                           env=python_subprocess_env(), capture_output=True, text=True, timeout=60)
    assert "DiskSpaceError" in child.stdout and "the disk filled up" in child.stdout, child.stdout + child.stderr
    assert "part left: False" in child.stdout and "Traceback" not in child.stderr
