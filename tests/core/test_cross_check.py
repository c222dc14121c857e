"""Second opinions: MEGNet and M3GNet formation energies on real and on distorted crystals, and the stage."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError
from pymatgen.core import Lattice, Structure

from flows.config import DiscoveryConfig
from smoacs_core.cross_check import DEFAULT_MAX_DISAGREEMENT, CrossCheckConfig, UserModel, disagreement_table
from smoacs_core.predictors.registry import load_predictor


def _srtio3(a: float) -> Structure:
    sites = [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]
    return Structure(Lattice.cubic(a), ["Sr", "Ti", "O", "O", "O"], sites)


def test_models_agree_on_real_srtio3_and_not_on_a_crushed_cell(model_dir, predictors):
    """Cubic SrTiO3 at its real a = 3.905 A: both models near MP's -3.55 eV/atom. Crushed to a = 3.3 A, where
    no training structure lies, they part by more than 1 eV/atom."""
    structures = [_srtio3(3.905), _srtio3(3.3)]
    megnet = predictors["megnet-eform"]
    primary = {"formation_energy": megnet.predict(structures)}
    checks = {"m3gnet-eform": load_predictor("m3gnet-eform")}
    table = disagreement_table(["real", "crushed"], structures, primary, checks, DEFAULT_MAX_DISAGREEMENT)
    assert list(table.columns) == ["id", "formation_energy_m3gnet-eform", "formation_energy_disagreement",
                                   "models_agree"]
    real, crushed = table.to_dict(orient="records")
    assert real["formation_energy_m3gnet-eform"] == pytest.approx(-3.52, abs=0.05)
    assert real["formation_energy_disagreement"] < 0.1 and real["models_agree"]
    assert crushed["formation_energy_disagreement"] > 1.0 and not crushed["models_agree"]


def test_a_missing_prediction_is_not_agreement(model_dir):
    checks = {"m3gnet-eform": load_predictor("m3gnet-eform")}
    table = disagreement_table(["x"], [_srtio3(3.905)], {"formation_energy": [np.nan]}, checks,
                               DEFAULT_MAX_DISAGREEMENT)
    assert not table["models_agree"][0]


def test_configuration_errors_name_the_field():
    with pytest.raises(ValidationError, match="unknown predictors"):
        CrossCheckConfig(models=["no-such-model"])
    with pytest.raises(ValidationError, match="no threshold for 'band_gap'"):
        CrossCheckConfig(models=["megnet-bandgap-hse"])
    with pytest.raises(ValidationError, match="the run's own formation_energy predictor"):
        DiscoveryConfig(stages=["sample", "optimize", "cross_check", "report"],
                        cross_check={"models": ["megnet-eform"]})
    with pytest.raises(ValidationError, match="which no target of the run predicts"):
        DiscoveryConfig(stages=["sample", "optimize", "cross_check", "report"],
                        cross_check={"models": ["megnet-bandgap-hse"], "max_disagreement": {"band_gap": 0.5}},
                        optimization={"mode": "perovskite", "targets": [
                            {"name": "formation_energy", "predictor": "megnet-eform", "goal": "minimize"}]})


def test_a_users_band_gap_model_gives_a_second_opinion(model_dir):
    """A model from the user's own factory (tests/user_second_models.py) is loaded by name and judged like a
    registered one: its predictions, the disagreement with the run's band gap and the agreement criterion."""
    config = CrossCheckConfig(models=["m3gnet-eform", "my-gap"],
                              user_models={"my-gap": {"factory": "user_second_models:hse_band_gap",
                                                      "property": "band_gap"}},
                              max_disagreement={"formation_energy": 0.16, "band_gap": 0.5})
    assert config.properties() == ["band_gap", "formation_energy"] and config.registered() == ["m3gnet-eform"]
    checks = config.load()
    assert checks["my-gap"].identity == "user:MEGNet-MP-2019.4.1-BandGap-mfi[state=2]"
    structures = [_srtio3(3.905)]
    pbe_gap = load_predictor("megnet-bandgap-pbe").predict(structures)
    primary = {"band_gap": pbe_gap, "formation_energy": load_predictor("megnet-eform").predict(structures)}
    table = disagreement_table(["SrTiO3"], structures, primary, checks, config.max_disagreement)
    hse_gap = load_predictor("megnet-bandgap-hse").predict(structures)
    assert table["band_gap_my-gap"][0] == pytest.approx(hse_gap[0], abs=1e-6)
    assert table["band_gap_disagreement"][0] == pytest.approx(abs(hse_gap[0] - pbe_gap[0]), abs=1e-6)
    assert table["models_agree"][0] == (abs(hse_gap[0] - pbe_gap[0]) <= 0.5)


def test_user_model_mistakes_name_the_model(model_dir):
    with pytest.raises(ValidationError, match="expected 'package.module:function'"):
        UserModel(factory="user_second_models.hse_band_gap", property="band_gap")
    missing = CrossCheckConfig(models=["gap"], max_disagreement={"band_gap": 0.5},
                               user_models={"gap": {"factory": "no_such_package.models:gap", "property": "band_gap"}})
    with pytest.raises(ImportError, match=r"cross_check.user_models.gap \(no_such_package.models:gap\)"):
        missing.check_user_factories()  # what a discovery run does first
    with pytest.raises(ImportError, match="has no attribute 'no_such_factory'"):
        UserModel(factory="user_second_models:no_such_factory", property="band_gap").load("gap")
    with pytest.raises(ValueError, match="predicts 'formation_energy', configured as 'band_gap'"):
        UserModel(factory="user_second_models:formation_energy_model", property="band_gap").load("gap")
    with pytest.raises(ValidationError, match="already name registered predictors"):
        CrossCheckConfig(user_models={"m3gnet-eform": {"factory": "a.b:c", "property": "formation_energy"}})
    with pytest.raises(ValidationError, match="no threshold for 'band_gap'"):
        CrossCheckConfig(models=["gap"], user_models={"gap": {"factory": "a.b:c", "property": "band_gap"}})
