"""Reading YAML option files: a mapping of field names to values, with errors that name the file."""

from __future__ import annotations

from pathlib import Path

import yaml


def read_yaml_mapping(path: Path, what: str) -> dict:
    """The fields in the YAML file ``path``; ``what`` names the configuration they belong to in errors."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: configuration file not found")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of {what} fields")
    return data
