"""Second opinions: MEGNet and M3GNet formation energies on real and on distorted crystals, and the stage."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError
from pymatgen.core import Lattice, Structure

from flows.config import DiscoveryConfig
from smoacs_core.cross_check import DEFAULT_MAX_DISAGREEMENT, CrossCheckConfig, disagreement_table
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
