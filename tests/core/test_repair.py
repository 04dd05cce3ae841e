"""Backups before migrations, and `loratui doctor --repair` on damaged databases."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from loratui.errors import DatabaseDamagedError
from loratui.store import MIGRATIONS, SCHEMA_VERSION, backup, connect, repair
from tests.conftest import make_image


def _dataset(cli, tmp_path, count: int = 200):
    data = tmp_path / "data"
    for index in range(count):
        make_image(data / f"img{index:03d}.png", size=(40, 32), color=(index % 250, 80, 120))
        (data / f"img{index:03d}.txt").write_text(f"tag{index % 7}, shared, " + "filler " * 40)
    assert cli("dataset", "add", data, "--name", "ds", "--workers", "1").code == 0
    return data


def _damage_page_of(db, table: str) -> None:
    """Overwrite one leaf page in the middle of `table` with garbage."""
    conn = sqlite3.connect(db)
    try:
        pages = [row[0] for row in conn.execute(
            "SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY pageno", (table,))]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.OperationalError as exc:
        pytest.skip(f"this SQLite has no dbstat table: {exc}")
    finally:
        conn.close()
    assert len(pages) > 4
    with open(db, "r+b") as handle:
        handle.seek((pages[len(pages) // 2] - 1) * size)
        handle.write(b"\xde\xad\xbe\xef" * (size // 4))


def test_healthy_database_is_left_alone(cli, home, tmp_path):
    _dataset(cli, tmp_path, count=3)
    before = (home / "loratui.db").read_bytes()
    result = cli("doctor", "--repair")
    assert result.code == 0 and "healthy" in result.out
    assert (home / "loratui.db").read_bytes() == before and not backup.list_backups(home / "loratui.db",
                                                                                   damaged=True)
    doctor = cli("doctor", "--no-trainers", "--json")
    assert {f["name"]: f for f in doctor.json()}["database"]["status"] == "ok"


def test_repair_recovers_the_readable_rows_and_says_what_was_lost(cli, home, tmp_path):
    _dataset(cli, tmp_path)
    db = home / "loratui.db"
    _damage_page_of(db, "images")
    refused = cli("dataset", "list")
    assert refused.code == 2 and "Damaged database" in refused.err and "doctor --repair" in refused.err
    doctor = cli("doctor", "--no-trainers", "--json")
    assert {f["name"]: f for f in doctor.json()}["database"]["status"] == "fail"

    result = cli("doctor", "--repair", "--json")
    assert result.code == 0, result
    report = result.json()
    assert report["action"] == "rebuilt" and report["problems"]
    tables = {t["name"]: t for t in report["tables"]}
    assert tables["datasets"] == {"name": "datasets", "recovered": 1, "lost": 0}
    assert 150 <= tables["images"]["recovered"] < 200  # one page of ~10 rows is gone, the rest is back
    assert tables["images"]["lost"] == 200 - tables["images"]["recovered"]
    assert any(line.startswith("images: about") and "dataset scan" in line for line in report["losses"])
    damaged = backup.list_backups(db, damaged=True)
    assert [b.path for b in damaged] == [Path(report["damaged_copy"])]
    assert repair.check(db, full=True) == []

    listed = cli("dataset", "list", "--json")
    assert listed.code == 0 and listed.json()[0]["images"] == tables["images"]["recovered"]
    rescan = cli("dataset", "scan", "ds", "--workers", "1", "--json")
    assert rescan.code == 0 and cli("dataset", "list", "--json").json()[0]["images"] == 200


def test_repair_of_a_file_that_is_not_a_database_rebuilds_an_empty_one(cli, home, tmp_path):
    home.mkdir(parents=True)
    (home / "loratui.db").write_bytes(os.urandom(8192))
    result = cli("doctor", "--repair")
    assert result.code == 0, result
    assert "datasets: some rows lost (add the lost datasets again" in result.out
    assert cli("dataset", "list").code == 0
    kept = backup.list_backups(home / "loratui.db", damaged=True)[0].path
    assert len(kept.read_bytes()) == 8192


def test_migration_makes_a_backup_that_a_damaged_database_names_and_repair_restores(cli, home, tmp_path):
    first, _name, sql = MIGRATIONS[0]
    home.mkdir(parents=True)
    db = home / "loratui.db"
    old = sqlite3.connect(db)
    old.executescript(f"{sql}\nPRAGMA user_version={first};")
    old.execute("INSERT INTO workspaces (name, created_at) VALUES ('kept', 0)")
    old.commit()
    old.close()
    connect(db).close()  # migrates, and backs up first
    made = backup.newest_backup(db)
    assert made is not None and made.why == f"v{first}-to-v{SCHEMA_VERSION}"
    assert f"from schema {first} to {SCHEMA_VERSION}" in made.reason
    snapshot = sqlite3.connect(made.path)
    assert snapshot.execute("PRAGMA user_version").fetchone()[0] == first
    snapshot.close()

    db.write_bytes(b"not a database" * 500)
    with pytest.raises(DatabaseDamagedError) as caught:
        connect(db)
    assert caught.value.backup == str(made.path) and str(made.path) in caught.value.message
    assert "--from-backup" in caught.value.hint

    result = cli("doctor", "--repair", "--from-backup")
    assert result.code == 0 and "restored" in result.out, result
    conn = connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert [r[0] for r in conn.execute("SELECT name FROM workspaces")] == ["kept"]
    conn.close()


def test_only_the_newest_snapshots_are_kept(tmp_path):
    db = tmp_path / "loratui.db"
    conn = connect(db)
    made = [backup.snapshot(conn, db, f"v{n}-to-v{n + 1}") for n in range(backup.KEEP + 2)]
    conn.close()
    kept = {b.path for b in backup.list_backups(db)}
    assert kept == set(made[-backup.KEEP:])


def test_repair_with_nothing_to_restore(cli, home):
    home.mkdir(parents=True)
    result = cli("doctor", "--repair")
    assert result.code == 2 and "no database" in result.err
    connect(home / "loratui.db").close()
    assert cli("doctor", "--repair", "--from-backup").code == 2
