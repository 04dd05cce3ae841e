"""Caption IO and kohya bucket math."""

from __future__ import annotations

import os
import stat

import pytest

from loratui.datasets.buckets import BucketRules, make_bucket_resolutions, raw_size
from loratui.datasets.captions import decode_caption, format_tags, parse_tags, read_caption, write_caption


def test_decode_caption_variants():
    assert decode_caption(b"a, b") == ("a, b", "utf-8", None)
    assert decode_caption(b"\xef\xbb\xbfa, b") == ("a, b", "utf-8-sig", None)
    text, encoding, warning = decode_caption("café".encode("latin-1"))
    assert (text, encoding) == ("café", "cp1252") and "not UTF-8" in warning
    text, encoding, warning = decode_caption(b"\x81\x8d")  # undefined in cp1252
    assert encoding == "latin-1" and warning


def test_parse_and_format_tags():
    assert parse_tags(" a , b,,c ,\r\nd\n") == ["a", "b", "c", "d"]
    assert parse_tags("") == [] and parse_tags(None) == []
    assert format_tags(["a", "b"]) == "a, b"


def test_read_caption_limits(tmp_path):
    path = tmp_path / "x.txt"
    assert read_caption(path) is None
    path.write_bytes(b"x" * 2048)
    big = read_caption(path, max_bytes=1024)
    assert big.text is None and "limit" in big.warning and big.size == 2048


def test_write_caption_is_atomic_and_keeps_mode(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("old")
    os.chmod(path, 0o640)
    write_caption(path, "new, tags")
    assert path.read_text() == "new, tags"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]  # no temp files left


def test_bucket_resolutions_match_sd_scripts():
    resos = make_bucket_resolutions((1024, 1024), 256, 1024, 64)
    assert (1024, 1024) in resos and (832, 1216) not in resos  # max_size 1024 caps the long side
    assert (768, 1024) in resos and (1024, 768) in resos and (256, 1024) in resos
    assert resos == sorted(resos)
    sdxl = make_bucket_resolutions((1024, 1024), 256, 2048, 64)
    assert (832, 1216) in sdxl and (1216, 832) in sdxl


@pytest.mark.parametrize(
    "size, rules, bucket",
    [
        ((1024, 1024), BucketRules(), (1024, 1024)),
        ((1000, 1500), BucketRules(max_bucket_reso=2048), (832, 1216)),  # ar 0.667 -> closest 0.684
        ((640, 480), BucketRules(), (1024, 768)),
        ((512, 512), BucketRules(resolution=(512, 512), max_bucket_reso=1024), (512, 512)),
        # no_upscale: small images keep their size rounded down to steps
        ((700, 500), BucketRules(bucket_no_upscale=True), (640, 448)),
        # no_upscale, larger than the area: scaled down keeping the aspect, then rounded
        ((2000, 1000), BucketRules(bucket_no_upscale=True), (1408, 704)),
        ((640, 480), BucketRules(enable_bucket=False, resolution=(512, 512)), (512, 512)),
    ],
)
def test_select_bucket(size, rules, bucket):
    assert rules.select(*size) == bucket


def test_raw_size_undoes_exif_rotation():
    assert raw_size(60, 120, 6) == (120, 60)
    assert raw_size(60, 120, 1) == (60, 120)
