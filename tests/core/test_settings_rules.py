"""Settings outside their allowed range are refused with the setting, the value and what is allowed."""

from __future__ import annotations

import pytest

from loratui.config import SETTING_RULES, Settings, load_settings
from loratui.errors import ConfigError


@pytest.mark.parametrize(("toml", "message"), [
    ("[general]\nscan_workers = -1", "general.scan_workers = -1 is out of range: allowed 0 to 1024"),
    ("[training_run]\nlog_poll_s = 0", "training_run.log_poll_s = 0.0 is out of range: must be above 0"),
    ("[training_run]\nlog_poll_s = nan", "training_run.log_poll_s = nan is not a number"),
    ("[training_run]\ndb_write_interval_s = -0.5", "db_write_interval_s = -0.5 is out of range"),
    ("[training_run]\ncancel_sigint_wait_s = -1", "cancel_sigint_wait_s = -1.0 is out of range"),
    ("[training_run]\ncancel_sigterm_wait_s = -1", "cancel_sigterm_wait_s = -1.0 is out of range"),
    ("[trainers]\nmax_parallel = 0", "trainers.max_parallel = 0 is out of range: allowed 1 to 64"),
    ("[dataset_tools]\ndupe_max_distance = 65", "dupe_max_distance = 65 is out of range: allowed 0 to 64"),
    ("[dataset_tools]\nimport_max_gib = 0", "import_max_gib = 0.0 is out of range: must be above 0"),
    ("[dataset_tools]\nimport_max_files = 0", "import_max_files = 0 is out of range: must be at least 1"),
    ("[dataset_tools]\nimport_max_ratio = 0.5", "import_max_ratio = 0.5 is out of range"),
    ("[dataset_tools]\nimport_max_download_gib = -1", "import_max_download_gib = -1.0 is out of range"),
    ("[ui]\npreview = 'sixel'", "ui.preview = 'sixel' is not one of halfblock, none"),
    ("[tagging]\ndevice = 'tpu'", "tagging.device = 'tpu' is not one of auto, cuda, cpu"),
])
def test_out_of_range_settings_are_refused(tmp_path, toml, message):
    path = tmp_path / "config.toml"
    path.write_text(toml + "\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert message in str(caught.value) and str(path) in str(caught.value)


def test_defaults_and_edges_are_allowed():
    Settings().validate()
    Settings.from_dict({"general": {"scan_workers": 0}, "training_run": {"log_poll_s": 0.01, "cancel_sigint_wait_s": 0},
                        "dataset_tools": {"dupe_max_distance": 64}, "ui": {"preview": "none"}})
    assert all(rule.describe() for rule in SETTING_RULES.values())


def test_cli_reports_a_bad_setting_in_one_line(cli, home):
    home.mkdir(parents=True)
    (home / "config.toml").write_text("[general]\nscan_workers = -4\n")
    result = cli("dataset", "list")
    assert result.code == 2 and result.err.count("\n") == 1
    assert "general.scan_workers = -4 is out of range" in result.err
