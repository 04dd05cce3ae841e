"""Query limits: runaway queries are a QueryError at a position, never a RecursionError or an SQLite limit."""

from __future__ import annotations

import sqlite3

import pytest

from loratui.datasets.query import (MAX_DEPTH, MAX_QUERY_CHARS, MAX_TERMS, QueryError, compile_query,
                                    register_functions, selection_where, words_where)
from loratui.store import connect


@pytest.mark.parametrize(("query", "reason", "position"), [
    ("(" * 300 + "tag:a" + ")" * 300, f"nested more than {MAX_DEPTH} levels", MAX_DEPTH + 1),
    ("NOT " * 300 + "ok", f"nested more than {MAX_DEPTH} levels", 4 * MAX_DEPTH + 1),
    (" OR ".join(["tag:a"] * 3000), f"longer than {MAX_QUERY_CHARS:,} characters", MAX_QUERY_CHARS + 1),
    (" OR ".join(["ok"] * 1500), f"more than {MAX_TERMS} terms", 6 * MAX_TERMS + 1),
    (" ".join(["dupe"] * (MAX_TERMS + 1)), f"more than {MAX_TERMS} terms", 5 * MAX_TERMS + 1),
])
def test_runaway_queries_name_the_position(query, reason, position):
    with pytest.raises(QueryError) as caught:
        compile_query(query)
    error = caught.value
    assert reason in error.reason and error.position + 1 == position
    assert len(error.message) < 300  # a long query is shown around the problem, not whole
    shown, caret = error.caret().splitlines()
    assert query[error.position:].startswith(shown[caret.index("^"):].rstrip("…"))


def test_plain_filter_words_are_limited_too():
    with pytest.raises(QueryError, match=f"more than {MAX_TERMS} words"):
        words_where(" ".join(["w"] * (MAX_TERMS + 1)))
    sql, params = words_where(" ".join(["w"] * MAX_TERMS))
    assert len(params) == 3 * MAX_TERMS


def test_the_largest_allowed_queries_run_in_sqlite(tmp_path):
    """Deepest nesting (parentheses, NOT and subqueries) with every term used, and a flat list of the most terms:
    SQLite's expression depth (1000), parser stack and variable limit (999 in old versions) are never reached."""
    conn = connect(tmp_path / "x.db")
    register_functions(conn)
    per_level = MAX_TERMS // MAX_DEPTH - 1
    deep = "tags>1"
    for level in range(MAX_DEPTH):
        negate = "NOT " if level % 2 else ""
        deep = "(" + " OR ".join([f"tag:t{level}_{i}" for i in range(per_level)] + [f"{negate}{deep}"]) + ")"
        if negate:
            deep = deep.replace("(", "", 1)[:-1]  # NOT takes this level instead of parentheses
    flat = " OR ".join(f"w>{i}" for i in range(MAX_TERMS))
    words = " ".join(f"w{i}" for i in range(MAX_TERMS))
    nots = "NOT " * (MAX_DEPTH - 1) + "(" + " OR ".join(f"tag:n{i}" for i in range(MAX_TERMS)) + ")"
    mixed = "tag:x"
    for level in range(MAX_DEPTH // 2):
        mixed = f"NOT (tag:a{level} OR caption:b{level} OR -path:c{level} OR dupe AND {mixed})"
    grouped = "tag:x"  # the most parentheses per level: the group, and an AND group inside its OR
    for level in range(MAX_DEPTH):
        grouped = f"(tag:a{level} OR dupe AND subset:s{level} {grouped})"
    negated = "tag:x"
    for level in range(MAX_DEPTH // 2):
        negated = f"(tag:a{level} OR dupe AND NOT {negated})"
    for query in (deep, flat, nots, mixed, grouped, negated):
        where, params = selection_where(1, query, ".")
        assert len(params) <= 999
        conn.execute(f"SELECT COUNT(*) FROM images WHERE {where}", params).fetchone()
    sql, params = words_where(words)
    conn.execute(f"SELECT COUNT(*) FROM images WHERE {sql}", params).fetchone()
    conn.close()


def test_runaway_queries_in_the_cli_are_one_line(cli, tmp_path, image_factory):
    image_factory(tmp_path / "data" / "a.png")
    assert cli("dataset", "add", tmp_path / "data", "--name", "ds").code == 0
    for query in ("(" * 300 + "tag:a" + ")" * 300, " OR ".join(["ok"] * 3000)):
        for args in (["tags", "ds", "list", "--where", query], ["tags", "ds", "add", "x", "--where", query]):
            result = cli(*args)
            assert result.code == 2 and result.err.count("\n") == 1, result
            assert result.err.startswith("loratui: Invalid query:") and "position" in result.err
            assert "Traceback" not in result.err and "RecursionError" not in result.err


def test_sqlite_still_refuses_what_the_limits_keep_out():
    """The limits guard something real: the old compiler's flat 3,000-term OR hit SQLite's depth limit."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (a)")
    with pytest.raises(sqlite3.OperationalError, match="too large|too many"):
        conn.execute("SELECT * FROM t WHERE " + " OR ".join(["a = 1"] * 3000)).fetchall()


def _random_query(rng, depth: int, budget: list[int]) -> str:
    """A random query of at most `depth` more nesting levels, using up to budget[0] more terms."""
    terms = ["tag:red", "tag:*hair", 'caption:"blue sky"', "path:x*y", "w>5", "tags<=3", "tokens>2", "dupe", "ok",
             "broken", "no:caption", "has:tags", "bucket:832x1216", "subset:10_a", "-tag:solo", "h=4"]
    parts = []
    for _ in range(rng.randint(1, 4)):
        if budget[0] <= 0:
            break
        choice = rng.random()
        if depth > 0 and choice < 0.3:
            parts.append("(" + _random_query(rng, depth - 1, budget) + ")")
        elif depth > 0 and choice < 0.45:
            parts.append("NOT " + ("(" + _random_query(rng, depth - 2, budget) + ")" if depth > 1 else "ok"))
            budget[0] -= 1
        else:
            parts.append(rng.choice(terms))
            budget[0] -= 1
        parts.append(rng.choice([" OR ", " AND ", " "]))
    return "".join(parts[:-1]) or "ok"


def test_random_queries_within_the_limits_always_run(tmp_path):
    """Fuzz: any query the parser accepts runs in SQLite (nesting up to MAX_DEPTH, terms up to MAX_TERMS)."""
    import random

    rng = random.Random(1234)
    conn = connect(tmp_path / "x.db")
    register_functions(conn)
    ran = 0
    for _ in range(400):
        query = _random_query(rng, MAX_DEPTH, [rng.choice([20, 80, MAX_TERMS])])
        try:
            where, params = selection_where(1, query, None)
        except QueryError:
            continue  # e.g. NOT nested past the limit: refused cleanly is fine
        conn.execute(f"SELECT COUNT(*) FROM images WHERE {where}", params).fetchone()
        ran += 1
    conn.close()
    assert ran > 300
