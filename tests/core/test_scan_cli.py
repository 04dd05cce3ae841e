"""Dataset add/scan/list/show through the CLI, incremental rescans and user errors."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from tests.conftest import REPO, make_image, python_subprocess_env


def _dataset(tmp_path, count=4):
    root = tmp_path / "data"
    for i in range(count):
        make_image(root / "5_cat" / f"c{i}.jpg", size=(64 + i * 8, 48), color=(i * 50, 10, 200))
        (root / "5_cat" / f"c{i}.txt").write_text(f"cat, tag{i}")
    make_image(root / "plain.png", size=(30, 30))
    return root


def test_add_list_show_images(cli, tmp_path):
    root = _dataset(tmp_path)
    assert cli("dataset", "add", root, "--name", "cats", "--workspace", "w1").code == 0
    listing = cli("dataset", "list", "--json").json()
    assert listing == [{**listing[0], "name": "cats", "workspace": "w1", "images": 5, "broken": 0, "captioned": 4}]
    show = cli("dataset", "show", "cats", "--json").json()
    for key in ("name", "path", "images", "broken", "captioned", "subsets", "resolutions", "buckets", "top_tags"):
        assert key in show
    assert {s["path"]: s["repeats"] for s in show["subsets"]} == {"": 1, "5_cat": 5}
    assert show["top_tags"][0] == {"tag": "cat", "count": 4}
    assert sum(show["buckets"].values()) == 5 and sum(show["resolutions"].values()) == 5
    images = cli("dataset", "images", "cats", "--json").json()
    assert {i["path"] for i in images} == {"plain.png", *(f"5_cat/c{i}.jpg" for i in range(4))}
    assert all({"path", "status", "reason", "width", "height", "format", "has_caption"} <= set(i) for i in images)
    text = cli("dataset", "show", "cats")
    assert text.code == 0 and "5_cat" in text.out


def test_rescan_is_incremental_and_sees_external_edits(cli, tmp_path):
    root = _dataset(tmp_path)
    assert cli("dataset", "add", root, "--name", "cats").code == 0
    report = cli("dataset", "scan", "cats", "--json").json()
    assert (report["unchanged"], report["added"], report["updated"], report["captions_changed"]) == (5, 0, 0, 0)

    (root / "5_cat" / "c1.txt").write_text("dog, edited outside")
    (root / "5_cat" / "c2.txt").unlink()
    (root / "plain.txt").write_text("new caption")
    make_image(root / "5_cat" / "c3.jpg", size=(100, 100), color=(1, 2, 3))  # content change
    os.utime(root / "5_cat" / "c3.jpg", ns=(time.time_ns(), time.time_ns() + 10**9))
    (root / "5_cat" / "c0.jpg").unlink()
    make_image(root / "5_cat" / "new.jpg")
    report = cli("dataset", "scan", "cats", "--json").json()
    assert report["added"] == 1 and report["removed"] == 1 and report["updated"] == 1
    assert report["captions_changed"] == 3 and report["unchanged"] == 3
    images = {i["path"]: i for i in cli("dataset", "images", "cats", "--json").json()}
    assert images["5_cat/c3.jpg"]["width"] == 100
    assert images["5_cat/c2.jpg"]["has_caption"] is False and images["plain.png"]["has_caption"] is True
    tags = {t["tag"] for t in cli("dataset", "show", "cats", "--json").json()["top_tags"]}
    assert "dog" in tags and "tag2" not in tags


def test_user_errors_are_one_line(cli, tmp_path):
    for args, needle in [
        (("dataset", "show", "nope"), "no dataset named 'nope'"),
        (("dataset", "add", tmp_path / "missing"), "does not exist"),
        (("dataset", "scan", "nope"), "no dataset named"),
    ]:
        result = cli(*args)
        assert result.code == 2 and needle in result.err and result.err.count("\n") == 1, result
    (tmp_path / "file.txt").write_text("x")
    result = cli("dataset", "add", tmp_path / "file.txt")
    assert result.code == 2 and "is not a folder" in result.err
    root = _dataset(tmp_path)
    assert cli("dataset", "add", root, "--name", "a").code == 0
    assert "already exists" in cli("dataset", "add", root, "--name", "a").err
    assert "already registered" in cli("dataset", "add", root, "--name", "b").err


def test_help_lists_subcommands_and_python_m_works(tmp_path):
    env = python_subprocess_env({"LORATUI_HOME": str(tmp_path / "h")})
    out = subprocess.run([sys.executable, "-m", "loratui", "--help"], capture_output=True, text=True, env=env,
                         cwd=REPO, check=True).stdout
    assert "dataset" in out and "jobs" in out
    out = subprocess.run([sys.executable, "-m", "loratui", "dataset", "--help"], capture_output=True, text=True,
                         env=env, cwd=REPO, check=True).stdout
    for sub in ("add", "scan", "list", "show", "images"):
        assert sub in out


def test_commands_are_imported_only_when_run(cli, tmp_path):
    """`loratui --help` lists every command from the table without importing any command module;
    running one command imports that command's module alone; a group without a subcommand shows its help."""
    from loratui.cli.main import COMMANDS

    env = python_subprocess_env({"LORATUI_HOME": str(tmp_path / "h"), "COLUMNS": "200"})
    probe = ("import sys\nfrom loratui.cli.main import main\n"
             "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
             "print('LOADED', sorted(m for m in sys.modules if m.startswith('loratui.cli.commands.')))")
    out = subprocess.run([sys.executable, "-c", probe, "--help"], capture_output=True, text=True, env=env,
                         cwd=REPO, check=True).stdout
    for name, (_module, help_text) in COMMANDS.items():
        assert f"{name}" in out and help_text in out
    assert "LOADED []" in out
    out = subprocess.run([sys.executable, "-c", probe, "dataset", "list"], capture_output=True, text=True, env=env,
                         cwd=REPO, check=True).stdout
    assert "LOADED ['loratui.cli.commands.dataset']" in out
    for name in COMMANDS:  # every command module registers, and `COMMAND --help` shows its own options
        result = cli(name, "--help")
        assert result.code == 0 and f"usage: loratui {name}" in result.out
    group = cli("lora")
    assert group.code == 0 and "subcommands" in group.out and "resize" in group.out


def test_scan_uses_process_pool_for_many_images(cli, tmp_path):
    root = tmp_path / "many"
    for i in range(40):
        make_image(root / f"{i:03}.jpg", size=(40 + i, 40), color=(i * 5, 0, 0))
    result = cli("dataset", "add", root, "--name", "many", "--workers", "2", "--json")
    assert result.code == 0, result
    assert result.json()["added"] == 40
    hashes = {i["phash"] for i in cli("dataset", "images", "many", "--json").json()}
    assert None not in hashes
