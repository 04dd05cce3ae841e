"""Store migrations/pragmas and settings loading."""

from __future__ import annotations

import sqlite3

import pytest

from loratui.config import Context, Paths, Settings, load_settings, resolve_home
from loratui.errors import ConfigError
from loratui.store import SCHEMA_VERSION, Store, connect, transaction


def _one(conn, sql, params=()):
    return conn.execute(sql, params).fetchone()[0]


async def test_store_migrates_with_wal_and_foreign_keys(tmp_path):
    async with Store.open(tmp_path / "x.db") as store:
        assert await store.run(_one, "PRAGMA journal_mode") == "wal"
        assert await store.run(_one, "PRAGMA foreign_keys") == 1
        assert await store.run(_one, "PRAGMA user_version") == SCHEMA_VERSION
        tables = {r[0] for r in await store.run(
            lambda c: c.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall())}
        assert {"workspaces", "datasets", "subsets", "images", "image_tags", "operations", "changes", "jobs",
                "job_items", "job_metrics", "job_events", "loras", "models", "tag_scores", "change_log"} <= tables

        def cascade(conn):
            ws = conn.execute("INSERT INTO workspaces (name, created_at) VALUES ('w', 0)").lastrowid
            conn.execute("INSERT INTO datasets (workspace_id, name, path, created_at) VALUES (?, 'd', '/x', 0)",
                         (ws,))
            conn.execute("DELETE FROM workspaces WHERE id = ?", (ws,))
            return _one(conn, "SELECT COUNT(*) FROM datasets")

        assert await store.run(cascade) == 0
        with pytest.raises(sqlite3.IntegrityError):
            await store.run(lambda c: c.execute("INSERT INTO subsets (dataset_id, rel_path) VALUES (999, '')"))
    # Reopening does not re-run migrations; a plain connection sees the same schema.
    async with Store.open(tmp_path / "x.db") as store:
        assert await store.run(_one, "PRAGMA user_version") == SCHEMA_VERSION
    conn = connect(tmp_path / "x.db")
    assert _one(conn, "PRAGMA user_version") == SCHEMA_VERSION
    readonly = connect(tmp_path / "x.db", readonly=True)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        readonly.execute("INSERT INTO workspaces (name, created_at) VALUES ('w', 0)")


def test_transaction_rolls_back_and_nests(tmp_path):
    conn = connect(tmp_path / "x.db")
    with pytest.raises(RuntimeError):
        with transaction(conn):
            conn.execute("INSERT INTO workspaces (name, created_at) VALUES ('a', 0)")
            raise RuntimeError("boom")
    assert _one(conn, "SELECT COUNT(*) FROM workspaces") == 0
    with transaction(conn):
        conn.execute("INSERT INTO workspaces (name, created_at) VALUES ('outer', 0)")
        with pytest.raises(RuntimeError):
            with transaction(conn):  # a savepoint: only the inner part is undone
                conn.execute("INSERT INTO workspaces (name, created_at) VALUES ('inner', 0)")
                raise RuntimeError("inner")
    assert [r[0] for r in conn.execute("SELECT name FROM workspaces")] == ["outer"]
    assert not conn.in_transaction


def test_failed_rollback_keeps_the_original_error(tmp_path):
    conn = connect(tmp_path / "x.db")

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with transaction(conn):
            conn.execute("INSERT INTO workspaces (name, created_at) VALUES ('a', 0)")
            conn.execute("ROLLBACK")  # what SQLite does by itself after some errors (e.g. disk full)
            raise Boom()
    assert not conn.in_transaction


async def test_write_listener_runs_after_writes_only(tmp_path):
    calls = []
    async with Store.open(tmp_path / "x.db") as store:
        store.add_write_listener(lambda: calls.append(1))
        await store.run(_one, "SELECT COUNT(*) FROM workspaces")
        assert calls == []
        await store.run(lambda c: c.execute("INSERT INTO workspaces (name, created_at) VALUES ('a', 0)"))
        assert calls == [1]


async def test_newer_database_is_refused(tmp_path):
    conn = sqlite3.connect(tmp_path / "x.db")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 100}")
    conn.close()
    with pytest.raises(ConfigError, match="newer than this loratui"):
        async with Store.open(tmp_path / "x.db"):
            pass


def test_settings_file_env_and_errors(tmp_path):
    path = tmp_path / "config.toml"
    assert load_settings(path, environ={}).general.caption_ext == ".txt"
    path.write_text('[general]\ncaption_ext = ".caption"\n[trainers]\nkohya_dir = "/opt/sd"\n')
    settings = load_settings(path, environ={"LORATUI_KOHYA_PYTHON": "/opt/venv/bin/python"})
    assert settings.general.caption_ext == ".caption"
    assert settings.trainers.kohya_dir == "/opt/sd"
    assert settings.trainers.kohya_python == "/opt/venv/bin/python"
    assert load_settings(path, environ={"LORATUI_KOHYA_DIR": "/env"}).trainers.kohya_dir == "/env"

    path.write_text("[general\ncaption_ext = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(path, environ={})
    path.write_text("[general]\ncaption_ext = 1\n")
    with pytest.raises(ConfigError, match="general.caption_ext must be str"):
        load_settings(path, environ={})
    path.write_text("[general]\nnope = 1\n")
    with pytest.raises(ConfigError, match="unknown setting general.nope"):
        load_settings(path, environ={})
    path.write_bytes(b"[general]\ncaption_ext = '\xff'\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_settings(path, environ={})


def test_home_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("LORATUI_HOME", str(tmp_path / "env"))
    assert resolve_home() == tmp_path / "env"
    assert resolve_home(tmp_path / "flag") == tmp_path / "flag"
    monkeypatch.delenv("LORATUI_HOME")
    assert resolve_home().name == "loratui"
    ctx = Context.load(tmp_path / "h")
    assert ctx.paths == Paths(tmp_path / "h") and ctx.paths.jobs.is_dir() and isinstance(ctx.settings, Settings)


def test_cli_invalid_config_is_one_line_error(cli, home):
    home.mkdir(parents=True)
    (home / "config.toml").write_text("[[[")
    result = cli("dataset", "list")
    assert result.code == 2
    assert result.err.startswith("loratui: Invalid configuration:") and result.err.count("\n") == 1
