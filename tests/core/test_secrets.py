"""Credentials in URLs are redacted before they are stored, logged or shown."""

from __future__ import annotations

import json
import sqlite3

import pytest

from loratui.jobs import repo
from loratui.redact import redact_text, redact_url, redact_value
from loratui.store import connect
from tests.conftest import make_image


@pytest.mark.parametrize(("url", "shown"), [
    ("https://user:token@host.example/v1", "https://***@host.example/v1"),
    ("https://hf_abcdef@host.example:8443/v1/", "https://***@host.example:8443/v1/"),
    ("https://h.example/f.zip?token=abc&x=1", "https://h.example/f.zip?token=***&x=1"),
    ("https://h.example/f?Key=1&API_KEY=2&access_token=3&sig=4&X-Amz-Signature=5&page=2",
     "https://h.example/f?Key=***&API_KEY=***&access_token=***&sig=***&X-Amz-Signature=***&page=2"),
    ("https://h.example/cb#access_token=abc&state=s", "https://h.example/cb#access_token=***&state=s"),
    ("http://127.0.0.1:11434/v1", "http://127.0.0.1:11434/v1"),
    ("https://h.example/a@b/c?q=token", "https://h.example/a@b/c?q=token"),
])
def test_redact_url(url, shown):
    assert redact_url(url) == shown


def test_redact_text_and_values():
    text = "download of https://u:p@h.example/x.zip?sig=zz failed; see http://other.example/ok"
    assert redact_text(text) == "download of https://***@h.example/x.zip?sig=*** failed; see http://other.example/ok"
    value = {"base_url": "https://k@h.example/v1", "nested": [{"u": "https://h.example/?token=t"}], "n": 3}
    assert redact_value(value) == {"base_url": "https://***@h.example/v1",
                                   "nested": [{"u": "https://h.example/?token=***"}], "n": 3}
    assert value["base_url"] == "https://k@h.example/v1"  # the input is left alone


def test_job_rows_never_hold_credentials(tmp_path):
    conn = connect(tmp_path / "x.db")
    params = {"base_url": "https://user:s3cret@h.example/v1", "source": "https://h.example/d.zip?token=s3cret"}
    job = repo.create_job(conn, "caption", title="caption via https://user:s3cret@h.example", params=params)
    repo.update_job(conn, job.id, message="cannot reach https://user:s3cret@h.example/v1",
                    error="GET https://h.example/?api_key=s3cret failed")
    row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job.id,)).fetchone()
    assert "s3cret" not in json.dumps(dict(row))
    assert json.loads(row["params"])["base_url"] == "https://***@h.example/v1"
    # A rerun with the same (secret) parameters still finds the job to resume.
    repo.update_job(conn, job.id, status="failed")
    assert repo.find_resumable(conn, "caption", None, params).id == job.id


def test_caption_base_url_credentials_are_not_stored_or_printed(cli, home, tmp_path):
    make_image(tmp_path / "data" / "a.png")
    assert cli("dataset", "add", tmp_path / "data", "--name", "ds").code == 0
    url = "http://user:s3cret@127.0.0.1:9/v1?api_key=s3cret"
    result = cli("caption", "ds", "--base-url", url, "--model", "m", "--retries", "0")
    assert result.code == 2 and "cannot reach http://***@127.0.0.1:9/v1?api_key=***" in result.err, result
    assert "s3cret" not in result.out + result.err
    conn = sqlite3.connect(home / "loratui.db")
    rows = conn.execute("SELECT params, message, error, title FROM jobs WHERE kind = 'caption'").fetchall()
    conn.close()
    assert rows and "s3cret" not in json.dumps(rows)
    assert json.loads(rows[0][0])["base_url"] == "http://***@127.0.0.1:9/v1?api_key=***"
