"""The one file-hash helper (`loratui.fsutil`): every file loratui hashes goes through it."""

from __future__ import annotations

import hashlib

import pytest

from loratui.fsutil import hash_file, sha256_file


@pytest.mark.parametrize("size", [0, 1, 7, 64, 65, 1000])
def test_sha256_file_matches_hashlib_across_chunk_boundaries(tmp_path, size):
    data = bytes((i * 31 + 7) % 256 for i in range(size))
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    expected = hashlib.sha256(data).hexdigest()
    assert sha256_file(path, chunk=64) == expected  # exact multiples, one over, one short
    assert sha256_file(str(path)) == expected  # default chunk, str path


def test_sha256_file_of_a_file_larger_than_one_chunk(tmp_path):
    data = hashlib.sha256(b"seed").digest() * 100_000  # 3.2 MB: several default-size chunks
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()


def test_hash_file_continues_a_prefixed_digest(tmp_path):
    path = tmp_path / "hello.txt"
    path.write_bytes(b"hello\n")
    digest = hash_file(path, hashlib.sha1(b"blob 6\0"), chunk=2)
    assert digest.hexdigest() == "ce013625030ba8dba906f756967f9e9ca394464a"  # `git hash-object hello.txt`


def test_missing_file_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        sha256_file(tmp_path / "missing")
