"""What survives relaxation: the paper's criteria re-applied to relaxed candidates, and the drift.

The paper judges an optimized structure by the predictor that optimized it. After relaxation the same
predictors are applied again, with the same criteria; the drift (property change, volume change, whether
StructureMatcher still sees the same structure) says how much of the optimized candidate was real.
A candidate counts as a success after relaxation only if its relaxation converged; perovskite coordinates are
judged up to a rigid shift of the whole cell, which relaxation may introduce.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Structure

from smoacs_core.config import OptimizationConfig
from smoacs_core.crystal import CrystalTemplate, DiscreteCrystal
from smoacs_core.evaluation import evaluate_candidates
from smoacs_core.oxidation import site_oxidation_states
from smoacs_core.predictors.base import PropertyPredictor
from smoacs_core.relax.relax import RelaxResult


def as_discrete(structure: Structure) -> DiscreteCrystal:
    """A one-hot crystal from a structure whose species carry the oxidation states the optimizer chose."""
    return DiscreteCrystal(
        structure=structure, pattern_index=-1, oxidation_states=site_oxidation_states(structure),
        agrees_with_soft_argmax=True,
    )


def evaluate_relaxed(
    optimized: Sequence[Structure],
    relaxed: Sequence[RelaxResult],
    templates: Sequence[CrystalTemplate],
    predictors: Mapping[str, PropertyPredictor],
    config: OptimizationConfig,
    device: str = "cpu",
) -> pd.DataFrame:
    """One row per candidate: criteria on the relaxed structure, relaxation status and drift.

    Candidates whose relaxation failed outright are judged on their unrelaxed structure, flagged, and never
    counted as a success.
    """
    judged = [as_discrete(r.structure if r.structure is not None else s) for s, r in zip(optimized, relaxed, strict=True)]
    table = evaluate_candidates(judged, templates, predictors, config, device=device, translation_invariant=True)
    before = evaluate_candidates([as_discrete(s) for s in optimized], templates, predictors, config, device=device)
    table["relax_status"] = [r.status for r in relaxed]
    table["relax_steps"] = [r.steps for r in relaxed]
    table["relax_seconds"] = [r.seconds for r in relaxed]
    table["energy_per_atom"] = [np.nan if r.energy_per_atom is None else r.energy_per_atom for r in relaxed]
    table["volume_ratio"] = [np.nan if r.volume_ratio is None else r.volume_ratio for r in relaxed]
    matcher = StructureMatcher()
    table["matches_unrelaxed"] = [
        r.structure is not None and matcher.fit(s, r.structure) for s, r in zip(optimized, relaxed, strict=True)
    ]
    for target in config.targets:
        table[f"{target.name}_unrelaxed"] = before[target.name].to_numpy()
        table[f"{target.name}_drift"] = table[target.name] - before[target.name].to_numpy()
    table["success_unrelaxed"] = before["success"].to_numpy()
    table["success"] = table["success"] & (table["relax_status"] == "converged")
    return table


def survival_summary(relaxed: pd.DataFrame) -> dict:
    """The paper's metric and the rate after relaxation side by side, with mean drifts."""
    drift_columns = [c for c in relaxed.columns if c.endswith("_drift")]
    return {
        "n_samples": len(relaxed),
        "success_rate_unrelaxed": float(relaxed["success_unrelaxed"].mean()),
        "success_rate_relaxed": float(relaxed["success"].mean()),
        "relax_status": relaxed["relax_status"].value_counts().to_dict(),
        "matches_unrelaxed_rate": float(relaxed["matches_unrelaxed"].mean()),
        "mean_abs_drift": {c.removesuffix("_drift"): float(relaxed[c].abs().mean()) for c in drift_columns},
        "median_volume_ratio": float(relaxed["volume_ratio"].median()),
    }
