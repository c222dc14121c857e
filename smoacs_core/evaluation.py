"""Judging optimized crystals as the paper does (tables 2-4, A.2-A.6) and their diversity (tables A.3, A.5).

Every property is predicted again on the discrete structure with a freshly built graph and one-hot types;
nothing is taken from the optimizer's own (soft, stale-graph) view. Charge neutrality is re-checked by an
exact search over allowed oxidation numbers, not by trusting the masks.

Criteria (paper letters): (A, B, ...) one per property target; (C) valid structure = (a) neutral and
(b) all interatomic distances > 0.5 A; for perovskites (D) = (c) tolerance factor in [0.8, 1.0],
(d) coordinates within +-0.15 of the ideal sites (in units of the 5-atom cell, periodic), (e) angles 85-95.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from pymatgen.core import Structure

from smoacs_core.config import OptimizationConfig
from smoacs_core.crystal import CrystalTemplate, DiscreteCrystal
from smoacs_core.oxidation import is_charge_neutral
from smoacs_core.predictors.base import PropertyPredictor
from smoacs_core.targets import tolerance_factor
from smoacs_core.vocabulary import ionic_radius

MIN_DISTANCE = 0.5
PEROVSKITE_COORD_TOLERANCE = 0.15
PEROVSKITE_ANGLE_RANGE = (85.0, 95.0)
_NUMERIC_SLACK = 1e-6


def min_interatomic_distance(structure: Structure) -> float:
    """Shortest distance between two sites or between a site and its own periodic image (A)."""
    distances = structure.distance_matrix
    off_diagonal = distances[~np.eye(len(structure), dtype=bool)]
    shortest_translation = min(structure.lattice.get_lll_reduced_lattice().abc)
    return float(min(off_diagonal.min(initial=np.inf), shortest_translation))


def perovskite_tolerance_factor(structure: Structure, roles: Sequence[str]) -> float:
    """t from the sites' oxidation states and pymatgen ionic radii, radii averaged per role (A, B, X)."""
    radii: dict[str, list[float]] = {"A": [], "B": [], "X": []}
    for site, role in zip(structure, roles, strict=True):
        state = getattr(site.specie, "oxi_state", None)
        radius = ionic_radius(site.specie.symbol, int(state)) if state is not None else None
        if radius is None:
            return float("nan")
        radii[role].append(radius)
    return float(tolerance_factor(*(np.mean(radii[r]) for r in "ABX")))


def max_coordinate_deviation(
    structure: Structure, ideal_frac_coords: np.ndarray, translation_invariant: bool = False
) -> float:
    """Largest periodic deviation of any fractional coordinate from its ideal value.

    The paper's criterion compares positions as they are (the optimizer keeps the B site anchored). A relaxed
    structure may also have drifted as a whole, which says nothing about its shape: with
    ``translation_invariant`` the mean displacement is removed first.
    """
    offset = structure.frac_coords - ideal_frac_coords
    offset -= np.round(offset)
    if translation_invariant:
        offset -= offset.mean(axis=0)
        offset -= np.round(offset)
    return float(np.abs(offset).max())


def evaluate_candidates(
    crystals: Sequence[DiscreteCrystal],
    templates: Sequence[CrystalTemplate],
    predictors: Mapping[str, PropertyPredictor],
    config: OptimizationConfig,
    device: str = "cpu",
    translation_invariant: bool = False,
) -> pd.DataFrame:
    """One row per candidate: predictions, every criterion as a bool, and overall success.

    ``translation_invariant`` judges coordinates up to a rigid shift (for relaxed structures).
    """
    structures = [c.structure for c in crystals]
    table = pd.DataFrame(
        {
            "id": [f"c{number:05d}" for number in range(len(crystals))],
            "template": [t.label for t in templates],
            "formula": [s.composition.reduced_formula for s in structures],
            "num_sites": [len(s) for s in structures],
            "oxidation_pattern": [" ".join(f"{v:+d}" for v in c.oxidation_states) for c in crystals],
            "soft_argmax_agrees": [c.agrees_with_soft_argmax for c in crystals],
        }
    )
    for target in config.targets:
        values = predictors[target.predictor].predict(structures, device=device)
        table[target.name] = values
        table[f"{target.name}_ok"] = target.satisfied(values)
    table["neutral"] = [is_charge_neutral(s) for s in structures]
    table["min_distance"] = [min_interatomic_distance(s) for s in structures]
    table["min_distance_ok"] = table["min_distance"] > MIN_DISTANCE
    table["valid_structure"] = table["neutral"] & table["min_distance_ok"]
    criteria = [f"{t.name}_ok" for t in config.targets] + ["valid_structure"]
    if config.is_perovskite:
        repeat = config.supercell_repeat
        table["tolerance_factor"] = [
            perovskite_tolerance_factor(s, t.site_roles) for s, t in zip(structures, templates, strict=True)
        ]
        tolerance = config.tolerance
        low, high = (tolerance.low, tolerance.high) if tolerance else (0.8, 1.0)
        table["tolerance_ok"] = table["tolerance_factor"].between(low, high)
        table["max_coord_deviation"] = [
            max_coordinate_deviation(s, t.ideal_frac_coords, translation_invariant)
            for s, t in zip(structures, templates, strict=True)
        ]
        table["coords_ok"] = table["max_coord_deviation"] <= PEROVSKITE_COORD_TOLERANCE / repeat + _NUMERIC_SLACK
        low, high = PEROVSKITE_ANGLE_RANGE
        table["angles_ok"] = [all(low <= a <= high for a in s.lattice.angles) for s in structures]
        table["perovskite_ok"] = table["tolerance_ok"] & table["coords_ok"] & table["angles_ok"]
        criteria.append("perovskite_ok")
    table["success"] = table[criteria].all(axis=1)
    return table


def criterion_columns(table: pd.DataFrame) -> list[str]:
    """The boolean criterion columns of an evaluation table, in order."""
    return [c for c in table.columns if c.endswith("_ok") or c in ("neutral", "valid_structure", "success")]


def diversity(table: pd.DataFrame, known_formulas: set[str] | None = None) -> dict[str, float | None]:
    """Unique and novel rates of tables A.3/A.5, by elemental combination (reduced formula).

    ``unique_novel_rate_in_success`` is None when no reference set of known formulas is given.
    """
    total = len(table)
    successes = table.loc[table["success"], "formula"]
    unique_success = set(successes)
    return {
        "unique_rate": table["formula"].nunique() / total if total else 0.0,
        "unique_rate_in_success": len(unique_success) / len(successes) if len(successes) else 0.0,
        "unique_novel_rate_in_success": (
            None
            if known_formulas is None
            else (len(unique_success - known_formulas) / len(successes) if len(successes) else 0.0)
        ),
    }


def summarize(table: pd.DataFrame, known_formulas: set[str] | None = None) -> dict:
    """Sample count, overall success and the rate of every criterion, plus diversity."""
    rates = {column: float(table[column].mean()) for column in criterion_columns(table)}
    return {
        "n_samples": len(table),
        "success_rate": rates.pop("success", 0.0),
        "rates": rates,
        **diversity(table, known_formulas),
    }
