"""The band-gap committee (six multi-fidelity MEGNet models and CGCNN): mean and spread of real members, and
SMOACS asking for the whole spread inside the window."""

from __future__ import annotations

import numpy as np
import pytest

from smoacs_core.batch import CrystalBatch
from smoacs_core.config import OptimizationConfig
from smoacs_core.optimizer import optimize
from smoacs_core.predictors import load_predictor
from smoacs_core.predictors.committee import CommitteePredictor
from smoacs_core.templates import perovskite_templates


@pytest.fixture(scope="module")
def committee(model_dir):
    return load_predictor("committee-bandgap-pbe")


def test_mean_and_spread_are_those_of_the_members(committee, mp20_rows):
    from pymatgen.core import Structure

    structures = [Structure.from_str(cif, fmt="cif") for cif in mp20_rows["cif"].head(4)]
    members = np.stack([member.predict(structures) for member in committee.members.values()])
    assert len(committee.members) == 7 and committee.identity == "committee-bandgap-pbe"
    batch = CrystalBatch.from_structures(structures, committee.supported_elements)
    mean, spread = committee.forward_with_spread(batch, committee.graph_for(batch))
    assert mean.numpy() == pytest.approx(members.mean(axis=0), abs=1e-4)
    assert spread.numpy() == pytest.approx(members.std(axis=0, ddof=1), abs=1e-4)
    assert committee.predict(structures) == pytest.approx(members.mean(axis=0), abs=1e-4)


def test_a_committee_needs_members_of_one_property(model_dir):
    gap, metal = load_predictor("cgcnn-bandgap"), load_predictor("cgcnn-metal-probability")
    with pytest.raises(ValueError, match="members predict different things"):
        CommitteePredictor({"gap": gap, "metal": metal}, "mixed")
    with pytest.raises(ValueError, match="at least two members"):
        CommitteePredictor({"gap": gap}, "alone")


@pytest.mark.slow
def test_smoacs_with_the_spread_inside_the_window(committee, predictors):
    band_gap = {"name": "band_gap", "predictor": "committee-bandgap-pbe", "goal": "range", "low": 1.3,
                "high": 1.7, "clip_min": 0.0, "spread_weight": 1.0}
    config = OptimizationConfig.preset("perovskite", steps=15, seed=2)
    config = OptimizationConfig.model_validate({**config.model_dump(), "targets": [
        band_gap, *[t.model_dump() for t in config.targets if t.name != "band_gap"]]})
    models = {"committee-bandgap-pbe": committee, "megnet-eform": predictors["megnet-eform"]}
    result = optimize(perovskite_templates(4, seed=2), models, config)
    assert len(result.crystals) == 4 and np.isfinite(result.history[-1].loss)
    plain = {"committee-bandgap-pbe": predictors["megnet-bandgap-pbe"], "megnet-eform": predictors["megnet-eform"]}
    with pytest.raises(ValueError, match=r"spread_weight needs a predictor with an uncertainty"):
        optimize(perovskite_templates(2, seed=2), plain, config)
