"""Machine settings: environment variables, a YAML file named by SMOACS_CONFIG_FILE, and which wins."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from smoacs_core.settings import SmoacsSettings


def test_yaml_file_fills_what_the_environment_leaves_open(tmp_path, monkeypatch):
    (tmp_path / "smoacs.yaml").write_text("results_dir: /scratch/me/results\nnum_threads: 4\ndevice: cuda\n")
    monkeypatch.setenv("SMOACS_CONFIG_FILE", str(tmp_path / "smoacs.yaml"))
    monkeypatch.setenv("SMOACS_NUM_THREADS", "2")
    settings = SmoacsSettings()
    assert settings.results_dir == Path("/scratch/me/results") and settings.device == "cuda"
    assert settings.num_threads == 2  # the environment wins over the file


def test_missing_or_wrong_settings_file_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SMOACS_CONFIG_FILE", str(tmp_path / "nowhere.yaml"))
    with pytest.raises(FileNotFoundError, match="nowhere.yaml does not name a readable file"):
        SmoacsSettings()
    (tmp_path / "typo.yaml").write_text("result_dir: /tmp\n")
    monkeypatch.setenv("SMOACS_CONFIG_FILE", str(tmp_path / "typo.yaml"))
    with pytest.raises(ValidationError, match="result_dir"):
        SmoacsSettings()
