"""Secrets in URLs are redacted before anything is stored, logged or shown.

A user may give loratui a URL with credentials in it: ``https://user:token@host/v1`` as a captioning endpoint,
``https://host/file.zip?token=...`` as a dataset to import, a signed CDN link in an error. The job row, the
change log, log files and error messages keep the URL's shape with the secret replaced by ``***``:

* the user-info part (``user:password@``, or a bare token before ``@``) becomes ``***@``;
* query and fragment parameters named like a secret (``token``, ``key``, ``api_key``, ``access_token``, ``sig``,
  ``signature``, ``password``, ``secret``, AWS/GCS/Azure signing parameters, ...) keep their name and lose
  their value.

The code that *uses* the URL keeps the original (the request needs the credentials); only copies made for
storing and showing go through ``redact_url`` / ``redact_text`` / ``redact_value``.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

MASK = "***"

SECRET_PARAMS = frozenset({
    "token", "key", "api_key", "apikey", "api-key", "access_token", "refresh_token", "id_token", "auth", "auth_token",
    "sig", "signature", "secret", "client_secret", "password", "passwd", "pass", "pwd", "session", "sessionid",
    "credential", "credentials", "x-amz-signature", "x-amz-credential", "x-amz-security-token", "x-goog-signature",
    "x-goog-credential", "hf_token", "private_token",
})
"""Parameter names (lower case) whose values are secrets (an Azure SAS token's secret is its ``sig``)."""

_URL = re.compile(r"""\b[a-zA-Z][a-zA-Z0-9+.-]{1,15}://[^\s'"<>`]+""")
_PARAM = re.compile(r"([^&;=#?]+)=([^&;#]*)")


def _redact_params(part: str) -> str:
    def one(match: re.Match) -> str:
        name = unquote(match.group(1)).strip().lower()
        return f"{match.group(1)}={MASK}" if name in SECRET_PARAMS and match.group(2) else match.group(0)

    return _PARAM.sub(one, part)


def redact_url(url: str) -> str:
    """`url` with its credentials replaced by ``***``; a URL without secrets comes back unchanged."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return _redact_params(url) if "=" in url else url
    cut = len(rest)
    for mark in "/?#":
        at = rest.find(mark)
        if at != -1:
            cut = min(cut, at)
    authority, tail = rest[:cut], rest[cut:]
    if "@" in authority:
        authority = f"{MASK}@{authority.rpartition('@')[2]}"
    if "=" in tail:
        path, qmark, query = tail.partition("?")
        if qmark:
            tail = path + qmark + _redact_params(query)
        else:
            path, hashmark, fragment = tail.partition("#")
            tail = path + hashmark + _redact_params(fragment)
    return f"{scheme}://{authority}{tail}"


def redact_text(text: str) -> str:
    """Free text (an error message, a log line) with every URL in it redacted by ``redact_url``."""
    if "://" not in text:
        return text
    return _URL.sub(lambda match: redact_url(match.group()), text)


def redact_value(value: Any) -> Any:
    """A JSON-like value (dicts, lists, strings) with every string redacted by ``redact_text``; the input is
    not changed."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {key: redact_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_value(item) for item in value)
    return value
