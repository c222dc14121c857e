"""Discovery configuration: validated up front, errors name the field, ids are stable."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from flows.config import DEFAULT_CONFIG, DiscoveryConfig
from flows.preflight import check_ready, load_config
from smoacs_core.store import StoreError


def test_default_configuration_is_valid():
    config = DiscoveryConfig.from_yaml(DEFAULT_CONFIG)
    assert config.stages == ["sample", "optimize", "prerelax", "cross_check", "deduplicate", "hull", "report"]
    assert config.optimization.constraints.coord_tolerance == 0.15  # perovskite preset applied
    assert config.run_id == DiscoveryConfig.from_yaml(DEFAULT_CONFIG).run_id


def test_run_id_follows_the_science_not_the_machine(tmp_path):
    base = DiscoveryConfig()
    assert DiscoveryConfig(results_dir=tmp_path).run_id == base.run_id
    assert DiscoveryConfig(initial={"seed": 5}).run_id != base.run_id


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ("stepz: 3\n", "stepz"),
        ("optimization: {steps: 0}\n", "steps"),
        ("optimization:\n  targets: [{name: band_gap, predictor: megnet-bandgap-pbe, goal: range, low: 3, high: 1}]\n",
         "impossible range"),
        ("stages: [optimize, sample]\n", "pipeline order"),
        ("store_url: postgresql://me:secret@db/x\n", "SMOACS_STORE_PASSWORD"),
        ("initial: {kind: files}\n", "initial.path"),
    ],
)
def test_bad_configuration_names_the_field(tmp_path, content, field):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises((ValidationError, ValueError)) as error:
        DiscoveryConfig.from_yaml(path)
    assert field in str(error.value)
    assert "secret" not in str(error.value)


def test_missing_model_directory_fails_before_work(tmp_path, monkeypatch):
    monkeypatch.setenv("SMOACS_MODEL_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="nowhere"):
        check_ready(load_config(None, results_dir=tmp_path))


def test_unreachable_store_fails_before_work(tmp_path):
    config = load_config(None, results_dir=tmp_path, store_url="postgresql://smoacs@127.0.0.1:1/smoacs")
    with pytest.raises(StoreError, match="cannot reach"):
        check_ready(config)


def test_run_ids_of_existing_configurations_do_not_change():
    """A run resumes only under its old id: a new configuration field with a default changes every id (the
    shipped demo's id was this before the stage/step restructuring and must stay so until a store migration)."""
    assert DiscoveryConfig.from_yaml(DEFAULT_CONFIG).run_id == "perovskite-demo-3320096c4c"
