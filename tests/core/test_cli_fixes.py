"""CLI fixes of issue 14: export picks its format from the output's name, `--json` with nothing to report prints
`[]`, and a mistyped option is reported with the usage of the subcommand it was given to."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

from loratui.datasets.export import choose_format
from loratui.errors import InputError
from tests.conftest import make_image, python_subprocess_env


@pytest.fixture
def small_dataset(tmp_path, cli):
    folder = tmp_path / "ds"
    make_image(folder / "a.png")
    (folder / "a.txt").write_text("red, solo\n", encoding="utf-8")
    assert cli("dataset", "add", folder, "--workers", "1").code == 0
    return folder


def test_export_to_a_zip_name_writes_a_zip(small_dataset, tmp_path, cli):
    """Before: `dataset export NAME out.zip` wrote a folder named out.zip (the format defaulted to kohya)."""
    out = tmp_path / "out.zip"
    result = cli("dataset", "export", "ds", out)
    assert result.code == 0, result
    assert out.is_file() and zipfile.is_zipfile(out)
    assert sorted(zipfile.ZipFile(out).namelist()) == ["1_ds/a.png", "1_ds/a.txt"]
    hf = tmp_path / "hf.ZIP"
    assert cli("dataset", "export", "ds", hf, "--layout", "hf").code == 0
    assert "metadata.jsonl" in zipfile.ZipFile(hf).namelist()
    folder = tmp_path / "plain"
    assert cli("dataset", "export", "ds", folder).code == 0 and (folder / "1_ds" / "a.txt").is_file()


@pytest.mark.parametrize("name, fmt", [("out", "zip"), ("out.zip", "kohya"), ("out.zip", "hf")])
def test_a_format_that_contradicts_the_name_is_refused(small_dataset, tmp_path, cli, name, fmt):
    result = cli("dataset", "export", "ds", tmp_path / name, "--format", fmt)
    assert result.code == 2 and result.err.count("\n") == 1, result
    assert "zip" in result.err
    assert not (tmp_path / name).exists()


def test_choose_format():
    assert choose_format("a.zip") == ("zip", "kohya")
    assert choose_format("a.zip", layout="hf") == ("zip", "hf")
    assert choose_format("a") == ("kohya", "kohya")
    assert choose_format("a", "hf") == ("hf", "hf")
    assert choose_format("a", layout="hf") == ("hf", "hf")
    with pytest.raises(InputError, match="layout"):
        choose_format("a", "kohya", "hf")


def test_json_with_nothing_to_report_prints_an_empty_list(cli):
    """Before: `train status --json` without any training exited 2 with "no training jobs yet"."""
    for command in (["train", "status"], ["jobs"], ["lora", "list"], ["dataset", "list"], ["train", "queue", "list"],
                    ["models", "list"]):
        result = cli(*command, "--json")
        assert result.code == 0 and result.json() == [], (command, result)
    human = cli("train", "status")
    assert human.code == 0 and "no training jobs yet" in human.err
    assert cli("train", "status", "7").code == 2  # a job that does not exist is still an error


def _loratui(home, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "loratui", "--home", str(home), *args], capture_output=True,
                          text=True, timeout=60, env=python_subprocess_env())


@pytest.mark.parametrize("argv, usage", [
    (["dataset", "show", "ds", "--bogus"], "usage: loratui dataset show"),
    (["tags", "ds", "add", "x", "--whre", "tag:a"], "usage: loratui tags name add"),
    (["dataset", "--bogus"], "usage: loratui dataset "),
    (["train", "queue", "list", "--jsn"], "usage: loratui train queue list"),
])
def test_a_mistyped_option_shows_the_subcommands_usage(home, argv, usage):
    """Before: the top-level usage (`loratui [-h] [--version] [--home DIR] COMMAND ...`) was printed."""
    result = _loratui(home, *argv)
    assert result.returncode == 2
    assert result.stderr.startswith(usage), result.stderr
    assert "unrecognized arguments: " + argv[-1 if argv[-1].startswith("-") else -2] in result.stderr
    assert "Traceback" not in result.stderr


def test_a_mistyped_top_level_option_still_shows_the_top_level_usage(home):
    result = _loratui(home, "--bogus")
    assert result.returncode == 2 and result.stderr.startswith("usage: loratui [-h]")
