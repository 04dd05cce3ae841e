"""Store migrations/pragmas and settings loading."""

from __future__ import annotations

import sqlite3

import pytest

from loratui.config import Context, Paths, Settings, load_settings, resolve_home
from loratui.errors import ConfigError
from loratui.store import SCHEMA_VERSION, Store, connect_sync


async def test_store_migrates_with_wal_and_foreign_keys(tmp_path):
    async with Store.open(tmp_path / "x.db") as store:
        assert await store.scalar("PRAGMA journal_mode") == "wal"
        assert await store.scalar("PRAGMA foreign_keys") == 1
        assert await store.scalar("PRAGMA user_version") == SCHEMA_VERSION
        tables = {r[0] for r in await store.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"workspaces", "datasets", "subsets", "images", "image_tags", "operations", "changes", "jobs",
                "job_items", "job_metrics", "job_events", "loras", "models", "settings", "tag_scores"} <= tables
        ws = await store.execute("INSERT INTO workspaces (name, created_at) VALUES ('w', 0)")
        await store.execute(
            "INSERT INTO datasets (workspace_id, name, path, created_at) VALUES (?, 'd', '/x', 0)", (ws,))
        await store.execute("DELETE FROM workspaces WHERE id = ?", (ws,))
        assert await store.scalar("SELECT COUNT(*) FROM datasets") == 0  # cascaded
        with pytest.raises(sqlite3.IntegrityError):
            await store.execute("INSERT INTO subsets (dataset_id, rel_path) VALUES (999, '')")
    # Reopening does not re-run migrations; a sync connection sees the same schema.
    async with Store.open(tmp_path / "x.db") as store:
        assert await store.scalar("PRAGMA user_version") == SCHEMA_VERSION
    conn = connect_sync(tmp_path / "x.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


async def test_transaction_rolls_back(tmp_path):
    async with Store.open(tmp_path / "x.db") as store:
        with pytest.raises(RuntimeError):
            async with store.transaction():
                await store.execute("INSERT INTO settings (key, value) VALUES ('a', '1')")
                raise RuntimeError("boom")
        assert await store.scalar("SELECT COUNT(*) FROM settings") == 0


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
