"""`lora list` says where each file is and which files are gone (issue 14): before, two files of one name, or a
deleted file's stale entry, looked identical."""

from __future__ import annotations

import subprocess
import sys

from loratui.loras.present import folder_labels, shorten_folder
from tests.conftest import python_subprocess_env


def _list_at_80_columns(home) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "loratui", "--home", str(home), "lora", "list"], capture_output=True,
                          text=True, timeout=60, env=python_subprocess_env({"COLUMNS": "80"}))


def test_same_names_are_told_apart_and_missing_files_are_marked(cli, home, tmp_path, lora_factory, kohya_metadata):
    first = lora_factory(tmp_path / "runs" / "alice" / "output" / "mychar.safetensors", metadata=kohya_metadata)
    second = lora_factory(tmp_path / "runs" / "bob" / "output" / "mychar.safetensors", metadata=kohya_metadata,
                          seed=1)
    assert cli("lora", "scan", tmp_path / "runs").code == 0
    second.unlink()  # deleted after indexing: the entry is stale until the folder is scanned again

    listed = {row["path"]: row for row in cli("lora", "list", "--json").json()}
    assert listed[str(first)]["exists"] is True and listed[str(second)]["exists"] is False
    assert listed[str(second)]["folder"] == str(second.parent) and listed[str(second)]["name"] == "mychar.safetensors"

    table = _list_at_80_columns(home)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), table.stdout
    rows = [line for line in lines if "mychar" in line]
    assert len(rows) == 2, table.stdout  # one line per LoRA at 80 columns
    alice = next(line for line in rows if "alice" in line)
    bob = next(line for line in rows if "bob" in line)
    assert "missing" in bob and "missing" not in alice
    assert "1 file(s) no longer on disk" in table.stderr


def test_folder_labels():
    assert shorten_folder("/home/u/loras/x", 40, home="/home/u") == "~/loras/x"
    assert shorten_folder("/data/runs/2024/alice/output", 16, home="/root") == "…/alice/output"
    assert shorten_folder("/data/" + "z" * 40, 12, home="/root") == "…" + "z" * 11
    # two folders whose short forms would read the same are shown whole
    labels = folder_labels(["/a/very/long/prefix/one/out/x.safetensors", "/b/very/long/prefix/two/out/x.safetensors",
                            "/c/very/long/prefix/one/out/x.safetensors"], 12, home="/root")
    assert labels[1] == "…/two/out"
    assert labels[0] == "/a/very/long/prefix/one/out" and labels[2] == "/c/very/long/prefix/one/out"
