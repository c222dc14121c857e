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


def test_a_run_stored_by_an_earlier_version_is_continued_under_its_id(tmp_path):
    """An upgrade that adds a configuration field changes every configuration's hash; the stored run with the
    same science (its configuration lacks the new field) is still the one a re-run continues."""
    from flows.runs import continue_stored_run
    from smoacs_core.store import ResultsStore

    store = ResultsStore(f"sqlite:///{tmp_path / 'store.sqlite'}")
    config = DiscoveryConfig.from_yaml(DEFAULT_CONFIG)
    older = config.model_dump(mode="json")
    del older["dft"]["filters"]  # stored before DFT filters existed (their default, off, applies)
    store.start_run("perovskite-demo-0123456789", config.name, older, {})
    continued = continue_stored_run(config, store)
    assert continued.run_id == "perovskite-demo-0123456789" and continued.run_dir.name == continued.run_id
    other = config.model_copy(update={"initial": config.initial.model_copy(update={"seed": 9})})
    assert continue_stored_run(other, store).run_id == other.run_id != continued.run_id
    store.start_run(config.run_id, config.name, config.model_dump(mode="json"), {})
    assert continue_stored_run(config, store).run_id == config.run_id  # its own id, once it exists


def test_missing_keras_models_or_trained_corrections_fail_before_work(tmp_path, monkeypatch):
    """A committee's Keras members and a correction's folder are looked for before any work."""
    config = load_config(None, results_dir=tmp_path)
    targets = [t.model_copy(update={"predictor": "committee-bandgap-pbe"}) if t.name == "band_gap" else t
               for t in config.optimization.targets]
    committee = config.model_copy(update={"optimization": config.optimization.model_copy(update={"targets": targets})})
    monkeypatch.setenv("SMOACS_MEGNET_KERAS_DIR", str(tmp_path / "no-keras"))
    with pytest.raises(FileNotFoundError, match="no-keras.*mf_2020/pbe_gllb_hse_exp/0/best_model.hdf5"):
        check_ready(committee)
    monkeypatch.setenv("SMOACS_TRAINED_MODEL_DIR", str(tmp_path / "trained"))
    targets = [t.model_copy(update={"predictor": "dft-correction/band_gap-000000000000"}) if t.name == "band_gap"
               else t for t in config.optimization.targets]
    corrected = config.model_copy(update={"optimization": config.optimization.model_copy(update={"targets": targets})})
    with pytest.raises(FileNotFoundError, match="no trained correction 'band_gap-000000000000'"):
        check_ready(corrected)
