"""The architecture, enforced: the import-linter contracts in pyproject.toml, and SQL only in repositories."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

SQL_WORDS = ("SELECT ", "INSERT INTO", "INSERT OR ", "DELETE FROM", "CREATE TABLE", "PRAGMA ", "BEGIN", "COMMIT",
             "ROLLBACK", "SAVEPOINT", "UPDATE ")
ALLOWED_SQL = {
    # The store layer: connections, transactions, the change log, the repair of damaged databases.
    "loratui/store/db.py", "loratui/store/changes.py", "loratui/store/repair.py",
    # The query language compiles to a WHERE clause the image repository runs.
    "loratui/datasets/query.py",
}


def test_import_contracts_hold():
    """Layers (front ends > domain > jobs > store > basics), Textual only in the TUI, no import cycles."""
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache", "--no-logo", "pyproject.toml"], cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout, result.stdout


def _code_strings(tree: ast.AST):
    """String constants of a module that are not docstrings."""
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = getattr(node, "body", [])
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node


def _sql_in(path: Path) -> list[str]:
    found = []  # loratui writes SQL keywords in capitals: that is what this looks for
    for node in _code_strings(ast.parse(path.read_text(encoding="utf-8"))):
        text = node.value
        if any(word in text for word in SQL_WORDS) and (" FROM " in text or " SET " in text or text.strip().startswith(
                ("PRAGMA", "BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "INSERT", "DELETE", "CREATE"))):
            found.append(f"{path.relative_to(REPO)}:{node.lineno}: {node.value.strip()[:60]!r}")
    return found


def test_sql_lives_only_in_repository_modules():
    """Screens, widgets, CLI commands and services call repository functions; they never write SQL."""
    offenders = []
    for path in sorted((REPO / "loratui").rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        if rel in ALLOWED_SQL or path.name == "repo.py" or path.name.endswith("_repo.py"):
            continue
        offenders += _sql_in(path)
    assert not offenders, "SQL outside the repository modules:\n" + "\n".join(offenders)


def test_the_sql_check_sees_sql(tmp_path):
    sample = REPO / "loratui" / "tui" / "screens" / "main.py"
    text = sample.read_text(encoding="utf-8") + '\nQUERY = "SELECT id FROM images WHERE dataset_id = ?"\n'
    probe = tmp_path / "probe.py"
    probe.write_text(text, encoding="utf-8")
    # _sql_in reports paths relative to the repository: check through a copy inside it.
    inside = REPO / "tests" / "core" / "_sql_probe_tmp.py"
    inside.write_text(text, encoding="utf-8")
    try:
        assert any("SELECT id FROM images" in line for line in _sql_in(inside))
        assert not _sql_in(sample)
    finally:
        inside.unlink()
