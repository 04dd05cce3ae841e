"""The image query language, compiled to an SQL WHERE clause over the ``images`` table.

Terms::

    tag:red hair        images with that tag (exact; ``*`` is a wildcard: ``tag:*hair``)
    -tag:solo           a leading ``-`` negates any term (same as ``NOT tag:solo``)
    tags>30  tags<=5    tag count (<, <=, >, >=, =, !=)
    tokens>75           CLIP token estimate of the caption (``estimate_clip_tokens``)
    w<512  h>=1024      width / height (also ``width``, ``height``)
    caption:"blue sky"  caption text contains (case-insensitive for ASCII)
    no:caption  has:caption  no:tags
    broken  ok  dupe    status broken / ok; exact duplicate (same sha256 as another image)
    video  image        videos / images only
    frames>=81          frame count (videos; 1 for a still image)
    bucket:832x1216     kohya bucket at the default 1024 rules
    subset:10_mychar    images of one subset folder (``subset:.`` is the dataset root)
    path:closeup        relative path contains (``*`` wildcards allowed)
    pair:missing        edit-model pairs: ok, missing, mismatch, broken, bad_name, ambiguous, or problem (any
                        but ok); has:control / no:control: images with / without a paired control image

Terms combine with ``AND`` (or just a space), ``OR``, ``NOT`` and parentheses; AND binds tighter than OR.
A ``tag:`` value runs over following plain words (``tag:red hair -tag:solo`` is two terms); quote a value
that contains parentheses, quotes or the words AND/OR/NOT: ``tag:"yor (spy x family)"``.

Limits keep a query (typed, pasted or generated) from exhausting the parser or SQLite: at most
``MAX_QUERY_CHARS`` characters, ``MAX_TERMS`` terms and ``MAX_DEPTH`` levels of parentheses and ``NOT``; going
past one is a ``QueryError`` at the position where it happened. Within them the compiled SQL stays below
SQLite's own limits, which ``tests/ops/test_query_limits.py`` runs against: an expression tree 1,000 deep (a flat
list of ``MAX_TERMS`` terms is as deep as it is long), the parser's stack (its 100 entries hold about 13 levels
of ``(a OR b AND (...``: each level of the query adds at most two parentheses, a group and its AND group), and
999 bound variables in SQLite before 3.32 (one per term, three per plain filter word).

The compiled SQL refers to the table as ``images`` (do not alias it) and is meant to be ANDed with
``images.dataset_id = ?``. ``tokens`` needs the ``clip_tokens`` SQL function: ``register_functions(conn)``
(``image_repo.select_ids`` does it).
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from functools import lru_cache

from loratui.errors import InputError

KEYWORDS = {"AND", "OR", "NOT"}
FIELDS = {"tag", "caption", "no", "has", "bucket", "subset", "path", "pair"}
PAIR_VALUES = ("ok", "missing", "mismatch", "broken", "bad_name", "ambiguous", "problem")
"""Values of ``pair:`` (the statuses of ``datasets.pairs.PAIR_STATUSES``, and ``problem`` for any but ok)."""
BARE_TERMS = {"broken", "ok", "dupe", "video", "image"}
NUMERIC = {"tags": "tag_count", "tokens": "clip_tokens(caption)", "w": "width", "width": "width",
           "h": "height", "height": "height", "frames": "frames"}
_COMPARE = re.compile(r"^([a-z]+)(<=|>=|!=|<|>|=)(.*)$", re.IGNORECASE)
_FIELD = re.compile(r"^([a-z]+):", re.IGNORECASE)
_BUCKET = re.compile(r"^\d+x\d+$")
_HAS_CAPTION = "(caption_size IS NOT NULL AND (caption IS NULL OR trim(caption) != ''))"

MAX_QUERY_CHARS = 10_000
"""Longest query text accepted."""
MAX_TERMS = 300
"""Most terms in one query (and plain words in a filter): 3 variables each stays under SQLite's old 999."""
MAX_DEPTH = 10
"""Deepest nesting of parentheses and NOT."""


class QueryError(InputError):
    """A query that does not parse; `position` is the 0-based offset of the problem."""

    title = "Invalid query"

    CONTEXT = 50
    """Characters shown on each side of the position when the query is long."""

    def __init__(self, reason: str, query: str, position: int) -> None:
        self.reason, self.query, self.position = reason, query, position
        before, after = self._around()
        super().__init__(f"{reason} at position {position + 1} (marked »): {before}»{after}")

    def _around(self) -> tuple[str, str]:
        query, position = self.query, self.position
        if len(query) <= 2 * self.CONTEXT:
            return query[:position], query[position:]
        start, end = max(0, position - self.CONTEXT), position + self.CONTEXT
        return (("…" if start else "") + query[start:position],
                query[position:end] + ("…" if end < len(query) else ""))

    def caret(self) -> str:
        """The query (around the problem, when long) with a caret line under the problem."""
        before, after = self._around()
        return f"{before}{after}\n{' ' * len(before)}^ {self.reason}"


@dataclass
class _Word:
    text: str
    pos: int
    end: int
    quoted: bool
    """True when any part of the word was inside quotes."""
    value_quoted: bool = False
    """True when the part after the first ':' was quoted."""


@dataclass
class _Paren:
    text: str
    pos: int


def _lex(query: str) -> list[_Word | _Paren]:
    tokens: list[_Word | _Paren] = []
    i, n = 0, len(query)
    while i < n:
        ch = query[i]
        if ch.isspace():
            i += 1
            continue
        if ch in "()":
            tokens.append(_Paren(ch, i))
            i += 1
            continue
        start = i
        parts: list[str] = []
        quoted = value_quoted = False
        colon_seen = False
        while i < n and not query[i].isspace() and query[i] not in "()":
            if query[i] == '"':
                quote_at = i
                i += 1
                buf = []
                while i < n and query[i] != '"':
                    if query[i] == "\\" and i + 1 < n:
                        i += 1
                    buf.append(query[i])
                    i += 1
                if i >= n:
                    raise QueryError("unterminated quote", query, quote_at)
                i += 1
                parts.append("".join(buf))
                quoted = True
                value_quoted = value_quoted or colon_seen
                continue
            if query[i] == ":":
                colon_seen = True
            parts.append(query[i])
            i += 1
        tokens.append(_Word("".join(parts), start, i, quoted, value_quoted))
    return tokens


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _check_length(query: str) -> None:
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(f"the query is longer than {MAX_QUERY_CHARS:,} characters", query[:MAX_QUERY_CHARS + 1],
                         MAX_QUERY_CHARS)


class _Parser:
    def __init__(self, query: str) -> None:
        _check_length(query)
        self.query = query
        self.tokens = _lex(query)
        self.i = 0
        self.depth = 0
        self.terms = 0

    def nest(self, token: _Word | _Paren) -> None:
        """Enter one level of parentheses or NOT at `token`."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"nested more than {MAX_DEPTH} levels deep (parentheses and NOT)", token.pos)

    def error(self, reason: str, position: int | None = None) -> QueryError:
        if position is None:
            position = self.tokens[self.i].pos if self.i < len(self.tokens) else len(self.query)
        return QueryError(reason, self.query, position)

    def peek(self) -> _Word | _Paren | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def keyword(self, token) -> str | None:
        if isinstance(token, _Word) and not token.quoted and token.text.upper() in KEYWORDS:
            return token.text.upper()
        return None

    def parse(self) -> tuple[str, list]:
        if not self.tokens:
            raise self.error("the query is empty", 0)
        sql, params = self.parse_or()
        token = self.peek()
        if token is not None:
            if isinstance(token, _Paren):
                raise self.error("unbalanced ')'")
            raise self.error(f"unexpected {token.text!r}")
        return sql, params

    def parse_or(self) -> tuple[str, list]:
        parts = [self.parse_and()]
        while self.keyword(self.peek()) == "OR":
            self.i += 1
            parts.append(self.parse_and())
        return self.join(parts, " OR ")

    def parse_and(self) -> tuple[str, list]:
        parts = [self.parse_not()]
        while True:
            token = self.peek()
            kw = self.keyword(token)
            if kw == "AND":
                self.i += 1
                parts.append(self.parse_not())
            elif token is not None and kw != "OR" and not (isinstance(token, _Paren) and token.text == ")"):
                parts.append(self.parse_not())  # implicit AND
            else:
                break
        return self.join(parts, " AND ")

    @staticmethod
    def join(parts: list[tuple[str, list]], op: str) -> tuple[str, list]:
        if len(parts) == 1:
            return parts[0]
        params: list = []
        for _, p in parts:
            params.extend(p)
        return "(" + op.join(sql for sql, _ in parts) + ")", params

    def parse_not(self) -> tuple[str, list]:
        token = self.peek()
        if self.keyword(token) == "NOT":
            self.nest(token)
            self.i += 1
            sql, params = self.parse_not()
            self.depth -= 1
            return f"NOT {sql}", params
        return self.parse_atom()

    def parse_atom(self) -> tuple[str, list]:
        token = self.peek()
        if token is None:
            raise self.error("a term is missing at the end")
        if isinstance(token, _Paren):
            if token.text == ")":
                raise self.error("a term is missing before ')'")
            self.nest(token)
            self.i += 1
            sql, params = self.parse_or()
            closing = self.peek()
            if not (isinstance(closing, _Paren) and closing.text == ")"):
                raise self.error("'(' is never closed", token.pos)
            self.i += 1
            self.depth -= 1
            # No parentheses of its own: `join` already wraps a group of terms, and a single term needs none.
            # Each extra level would cost SQLite parser stack, which runs out at about 30 levels.
            return sql, params
        if self.keyword(token):
            raise self.error(f"a term is missing before {token.text.upper()}")
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise self.error(f"more than {MAX_TERMS} terms", token.pos)
        self.i += 1
        text, pos, negate = token.text, token.pos, False
        if text.startswith("-"):
            negate, text, pos = True, text[1:], pos + 1
            if not text:
                raise self.error("'-' must be followed by a term", token.pos)
        sql, params = self.term(token, text, pos)
        return (f"NOT ({sql})", params) if negate else (sql, params)

    def continuation(self, token: _Word) -> str:
        """Plain words following a `tag:` term belong to its value (`tag:red hair`)."""
        words = []
        while True:
            nxt = self.peek()
            if (not isinstance(nxt, _Word) or nxt.quoted or self.keyword(nxt) or nxt.text.startswith("-")
                    or _FIELD.match(nxt.text) or _COMPARE.match(nxt.text) or nxt.text.lower() in BARE_TERMS):
                break
            words.append(nxt.text)
            self.i += 1
        return " ".join(words)

    def term(self, token: _Word, text: str, pos: int) -> tuple[str, list]:
        field_match = _FIELD.match(text) if not (token.quoted and not token.value_quoted) else None
        if field_match:
            name = field_match.group(1).lower()
            value = text[field_match.end():]
            value_pos = pos + field_match.end()
            if name not in FIELDS:
                raise self.error(f"unknown field {name!r} (known: {', '.join(sorted(FIELDS))})", pos)
            if name in ("tag", "caption", "path") and not token.value_quoted:
                more = self.continuation(token)
                value = f"{value} {more}".strip() if more else value
            return self.field(name, value, value_pos)
        compare = _COMPARE.match(text)
        if compare and not token.quoted:
            name, op, number = compare.group(1).lower(), compare.group(2), compare.group(3)
            if name not in NUMERIC:
                raise self.error(f"unknown number field {name!r} (known: {', '.join(sorted(NUMERIC))})", pos)
            if not number.isdigit():
                raise self.error(f"{name}{op} needs a whole number", pos + len(name) + len(op))
            return f"{NUMERIC[name]} {'!=' if op == '!=' else op} ?", [int(number)]
        word = text.lower()
        if not token.quoted and word == "broken":
            return "status = 'broken'", []
        if not token.quoted and word == "ok":
            return "status = 'ok'", []
        if not token.quoted and word in ("video", "image"):
            return "media_kind = ?", [word]
        if not token.quoted and word == "dupe":
            # Not correlated: SQLite computes the duplicated (dataset, sha256) pairs once per query.
            return ("(dataset_id, sha256) IN (SELECT dataset_id, sha256 FROM images WHERE sha256 IS NOT NULL "
                    "GROUP BY dataset_id, sha256 HAVING COUNT(*) > 1)"), []
        raise self.error(f"unknown term {text!r} (did you mean tag:{text}?)", pos)

    def field(self, name: str, value: str, pos: int) -> tuple[str, list]:
        if not value and name not in ("caption",):
            raise self.error(f"{name}: needs a value", pos)
        if name == "tag":
            if "*" in value:
                return ("images.id IN (SELECT image_id FROM image_tags WHERE tag LIKE ? ESCAPE '\\')",
                        [_like_escape(value).replace("*", "%")])
            return "images.id IN (SELECT image_id FROM image_tags WHERE tag = ?)", [value]
        if name == "caption":
            if not value:
                raise self.error('caption: needs a value, e.g. caption:"blue sky"', pos)
            return "caption LIKE ? ESCAPE '\\'", [f"%{_like_escape(value)}%"]
        if name == "path":
            pattern = _like_escape(value).replace("*", "%")
            return "rel_path LIKE ? ESCAPE '\\'", [pattern if "*" in value else f"%{pattern}%"]
        if name in ("no", "has"):
            what = value.lower()
            if what == "caption":
                return (f"NOT {_HAS_CAPTION}" if name == "no" else _HAS_CAPTION), []
            if what == "tags":
                return ("tag_count = 0" if name == "no" else "tag_count > 0"), []
            if what == "control":
                sql = "images.id IN (SELECT image_id FROM image_pairs WHERE controls > 0)"
                return (f"NOT {sql}" if name == "no" else sql), []
            raise self.error(f"{name}: takes caption, tags or control, not {value!r}", pos)
        if name == "pair":
            what = value.lower()
            if what not in PAIR_VALUES:
                raise self.error(f"pair: takes {', '.join(PAIR_VALUES)}, not {value!r}", pos)
            if what == "problem":
                return "images.id IN (SELECT image_id FROM image_pairs WHERE status != 'ok')", []
            return "images.id IN (SELECT image_id FROM image_pairs WHERE status = ?)", [what]
        if name == "bucket":
            if not _BUCKET.match(value):
                raise self.error(f"bucket: takes WIDTHxHEIGHT such as 832x1216, not {value!r}", pos)
            return "bucket = ?", [value]
        if name == "subset":
            rel = "" if value in (".", "/") else value.strip("/")
            return "subset_id IN (SELECT id FROM subsets WHERE rel_path = ?)", [rel]
        raise self.error(f"unknown field {name!r}", pos)  # pragma: no cover - FIELDS guards this


def compile_query(text: str) -> tuple[str, list]:
    """Compile a query to ``(where_sql, params)``; QueryError (an InputError) pointing at the position."""
    return _Parser(text).parse()


_CLIP_WORDS = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|[^\s\w]+|_+", re.IGNORECASE)


@lru_cache(maxsize=65536)
def estimate_clip_tokens(text: str | None) -> int:
    """Estimate the CLIP tokens of a caption (without start/end tokens), as sd-scripts' 75-token chunks count.

    Follows CLIP's pre-tokenisation (letter runs, single digits, punctuation runs); each letter run is
    assumed to be one BPE token per 10 characters (common English words are single tokens). An estimate:
    rare words split into more pieces than this assumes.
    """
    if not text:
        return 0
    total = 0
    for piece in _CLIP_WORDS.findall(text.lower()):
        total += 1 + (len(piece) - 1) // 10 if piece[0].isalpha() else 1
    return total


def register_functions(conn: sqlite3.Connection) -> None:
    """Add the SQL functions compiled queries may call (``clip_tokens``) to a connection."""
    conn.create_function("clip_tokens", 1, estimate_clip_tokens, deterministic=True)


def looks_like_query(text: str) -> bool:
    """True when `text` uses query syntax (a field, a comparison, an operator, quotes or parentheses)."""
    words = text.split()
    return any(":" in w or _COMPARE.match(w) or w.upper() in KEYWORDS or w.lower() in BARE_TERMS
               or w.startswith("-") for w in words) or any(c in text for c in '()"')


def words_where(text: str) -> tuple[str, list]:
    """SQL (over `images`) + params for plain filter words: each must be a case-insensitive substring of the
    file name, the caption or one of the tags."""
    _check_length(text)
    words = text.split()
    if len(words) > MAX_TERMS:
        raise QueryError(f"more than {MAX_TERMS} words", text, sum(len(w) + 1 for w in words[:MAX_TERMS]))
    clauses, params = [], []
    for term in words:
        pattern = f"%{_like_escape(term)}%"
        clauses.append("(rel_path LIKE ? ESCAPE '\\' OR caption LIKE ? ESCAPE '\\' OR images.id IN "
                       "(SELECT image_id FROM image_tags WHERE tag LIKE ? ESCAPE '\\'))")
        params += [pattern, pattern, pattern]
    return " AND ".join(clauses), params


def selection_where(dataset_id: int, query: str | None, subset: str | None) -> tuple[str, list]:
    """SQL WHERE (over `images`) + params selecting a dataset's images by `query` and/or subset folder."""
    where, params = ["images.dataset_id = ?"], [dataset_id]
    if query and query.strip():
        sql, extra = compile_query(query)
        where.append(sql)
        params.extend(extra)
    if subset is not None:
        where.append("subset_id IN (SELECT id FROM subsets WHERE rel_path = ?)")
        params.append("" if subset in (".", "/") else subset.strip("/"))
    return " AND ".join(where), params
