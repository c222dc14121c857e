"""Filters before DFT on real models: the metal gate (CGCNN's classifier), plausible oxidation states, the
band-gap spread between independent models; every dropped candidate says why."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError
from pymatgen.core import Lattice, Structure

from smoacs_core.dft_filters import DftFilters, apply_filters


def _perovskite(a: str, b: str, x: str, length: float) -> Structure:
    return Structure(Lattice.cubic(length), [a, b, x, x, x],
                     [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])


COPPER = Structure(Lattice.cubic(3.61), ["Cu"] * 4, [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
FLUORIDE = _perovskite("K", "Zn", "F", 4.05)


def test_filters_are_off_by_default_and_committee_members_must_predict_band_gaps():
    assert not DftFilters().active
    with pytest.raises(ValidationError, match="megnet-eform.*not band-gap predictors"):
        DftFilters(band_gap_committee=["megnet-eform"])


def test_metal_gate_drops_the_metal_with_its_reason():
    outcome = apply_filters({"cu": COPPER, "kznf3": FLUORIDE}, {}, DftFilters(min_non_metal_probability=0.9))
    assert outcome.reasons["kznf3"] == [] and outcome.non_metal_probability["kznf3"] > 0.9
    assert outcome.dropped() == {"cu": [f"metal gate: P(non-metal) {outcome.non_metal_probability['cu']:.2f} < 0.9"]}


def test_band_gap_spread_against_cgcnn(predictors):
    from smoacs_core.predictors import load_predictor

    cgcnn = float(load_predictor("cgcnn-bandgap").predict([FLUORIDE])[0])
    filters = DftFilters(max_band_gap_spread=0.5)
    outcome = apply_filters({"near": FLUORIDE, "far": FLUORIDE, "unknown": FLUORIDE},
                            {"near": cgcnn + 0.3, "far": cgcnn - 1.2}, filters)
    assert outcome.reasons["near"] == [] and outcome.band_gap_spread["near"] == pytest.approx(0.3, abs=1e-5)
    assert outcome.reasons["far"] == ["band-gap models disagree by 1.20 eV > 0.5"]
    assert math.isnan(outcome.band_gap_spread["unknown"]) and outcome.reasons["unknown"]  # no run prediction


def test_oxidation_states_that_cannot_balance_are_dropped():
    unbalanced = Structure(Lattice.cubic(5.0), ["Na", "Cl", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5], [0, 0.5, 0.5]])
    for check in ("common", "bond_valence"):
        outcome = apply_filters({"nacl2": unbalanced, "kznf3": FLUORIDE}, {}, DftFilters(oxidation_states=check))
        assert outcome.reasons["kznf3"] == [] and outcome.reasons["nacl2"], check
        assert "NaCl2" in outcome.reasons["nacl2"][0]
