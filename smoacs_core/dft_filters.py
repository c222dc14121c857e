"""Filters before DFT: candidates that DFT would very likely not confirm are dropped, each with its reason.

- The metal gate: CGCNN's metal/semiconductor classifier (``cgcnn-metal-probability``). On the 139 GPAW-checked
  candidates of docs/benchmarks.md, keeping P(non-metal) >= 0.9 drops 14 of the 41 GPAW metals and 1 of the 15
  confirmed candidates.
- Plausible oxidation states: a charge-balanced assignment of common oxidation states (pymatgen's ICSD
  statistics) or, from the geometry, of bond valences (pymatgen's ``BVAnalyzer``). SMOACS makes every candidate
  neutral with the paper's allowed oxidation numbers, some of them rare; this catches those.
- A maximum band-gap spread: the largest |run's gap - other model's gap| over a committee of independently
  trained band-gap models (``cgcnn-bandgap`` by default).

All are off by default; a dropped candidate keeps a record of why (``FilterOutcome``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pymatgen.core import Structure

from smoacs_core.duplicates import bare_structure
from smoacs_core.settings import SmoacsSettings

OxidationCheck = Literal["off", "common", "bond_valence"]


class DftFilters(BaseModel):
    """Which filters run before candidates are handed to DFT, and their thresholds."""

    model_config = ConfigDict(extra="forbid")

    min_non_metal_probability: float | None = Field(
        default=None, ge=0, le=1,
        description="Metal gate: drop candidates whose probability of being a non-metal (CGCNN's classifier) "
        "is below this (0.9 dropped 14 of 41 GPAW metals and 1 of 15 confirmed candidates in the benchmark).",
    )
    oxidation_states: OxidationCheck = Field(
        default="off",
        description="'common': drop compositions with no charge-balanced assignment of common oxidation states "
        "(pymatgen's ICSD statistics); 'bond_valence': drop structures BVAnalyzer cannot assign valences to.",
    )
    max_band_gap_spread: float | None = Field(
        default=None, gt=0,
        description="Drop candidates whose band gap by the run's model and by a committee model differ by more "
        "than this (eV).",
    )
    band_gap_committee: list[str] = Field(
        default_factory=lambda: ["cgcnn-bandgap"],
        description="Registered band-gap predictors compared with the run's gap for max_band_gap_spread.",
    )

    @field_validator("band_gap_committee")
    @classmethod
    def _band_gap_models(cls, names: list[str]) -> list[str]:
        from smoacs_core.predictors.registry import PREDICTORS

        wrong = [n for n in names if n not in PREDICTORS or PREDICTORS[n].property_name != "band_gap"]
        if wrong:
            choices = sorted(n for n, spec in PREDICTORS.items() if spec.property_name == "band_gap")
            raise ValueError(f"band_gap_committee: {wrong} are not band-gap predictors (choose from {choices})")
        return names

    @property
    def active(self) -> bool:
        return (self.min_non_metal_probability is not None or self.oxidation_states != "off"
                or self.max_band_gap_spread is not None)


class FilterOutcome(BaseModel):
    """Per candidate: why it was dropped (empty: kept) and the numbers the filters looked at."""

    reasons: dict[str, list[str]]
    non_metal_probability: dict[str, float] = {}
    band_gap_spread: dict[str, float] = {}

    def dropped(self) -> dict[str, list[str]]:
        return {candidate: reasons for candidate, reasons in self.reasons.items() if reasons}


def _oxidation_reason(structure: Structure, check: OxidationCheck) -> str | None:
    bare = bare_structure(structure)
    if check == "common":
        if not bare.composition.oxi_state_guesses(all_oxi_states=False, max_sites=-1):
            return f"{bare.composition.reduced_formula}: no charge-balanced assignment of common oxidation states"
        return None
    from pymatgen.analysis.bond_valence import BVAnalyzer

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            BVAnalyzer().get_valences(bare)
    except ValueError:
        return f"{bare.composition.reduced_formula}: bond valences give no charge-balanced assignment"
    return None


def apply_filters(
    structures: Mapping[str, Structure],
    run_band_gaps: Mapping[str, float],
    filters: DftFilters,
    settings: SmoacsSettings | None = None,
) -> FilterOutcome:
    """Judge each candidate (id -> structure at the judged stage); ``run_band_gaps``: the run's own predictions."""
    from smoacs_core.predictors import load_predictor

    ids = list(structures)
    outcome = FilterOutcome(reasons={candidate: [] for candidate in ids})
    reasons = outcome.reasons  # the model's own copy: what the filters append to
    if not ids:
        return outcome
    listed = [structures[i] for i in ids]
    if filters.min_non_metal_probability is not None:
        metal = load_predictor("cgcnn-metal-probability", settings).predict(listed)
        outcome.non_metal_probability = {i: float(1 - p) for i, p in zip(ids, metal, strict=True)}
        for candidate, probability in outcome.non_metal_probability.items():
            if probability < filters.min_non_metal_probability:
                reasons[candidate].append(f"metal gate: P(non-metal) {probability:.2f} < "
                                          f"{filters.min_non_metal_probability:g}")
    if filters.oxidation_states != "off":
        for candidate, structure in zip(ids, listed, strict=True):
            if (reason := _oxidation_reason(structure, filters.oxidation_states)) is not None:
                reasons[candidate].append(reason)
    if filters.max_band_gap_spread is not None:
        run = np.array([run_band_gaps.get(candidate, np.nan) for candidate in ids], dtype=float)
        spread = np.zeros(len(ids))
        for name in filters.band_gap_committee:
            spread = np.maximum(spread, np.abs(run - load_predictor(name, settings).predict(listed)))  # NaN stays
        outcome.band_gap_spread = dict(zip(ids, spread.tolist(), strict=True))
        for candidate, value in outcome.band_gap_spread.items():
            if not value <= filters.max_band_gap_spread:  # NaN (no run prediction) fails too
                reasons[candidate].append(f"band-gap models disagree by {value:.2f} eV > "
                                          f"{filters.max_band_gap_spread:g}")
    return outcome
