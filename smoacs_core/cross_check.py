"""A second opinion on the predictions that chose the candidates: disagreement between models as uncertainty.

SMOACS searches for exactly those inputs where its predictors say what the user wants, so their predictions on
the candidates are the numbers least to be trusted. An independent model of the same property (M3GNet's
formation energy beside MEGNet's, or any second registered model) was not optimized against; where the two
disagree by more than they do on known materials, at least one of them is wrong about the candidate. The
disagreement is recorded per candidate, and candidates beyond the threshold fail the criterion
``models_agree``, which ranks them behind agreeing ones when DFT candidates are chosen
(smoacs_core/dft_selection.py).

The default threshold is measured, not guessed: the 95th percentile of |MEGNet - M3GNet| formation energy on
1112 known materials of MP-20 (benchmarks/bench_cross_check.py, docs/benchmarks.md). On those materials
MEGNet's error against DFT is 0.05 eV/atom where the models agree and 0.15 where they do not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pymatgen.core import Structure

from smoacs_core.predictors.base import PropertyPredictor
from smoacs_core.predictors.registry import PREDICTORS

DEFAULT_MAX_DISAGREEMENT = {"formation_energy": 0.16}
"""eV/atom: |MEGNet-MP-2018.6.1-Eform - M3GNet-MP-2018.6.1-Eform| stays below this on 95% of 1112 MP-20
materials (0.162; benchmarks/results/cross_check.json)."""

AGREE = "models_agree"
"""Criterion name: every second model agrees with the run's predictor within the property's threshold."""


class CrossCheckConfig(BaseModel):
    """Second models for properties the run targets (stage 'cross_check')."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    models: list[str] = Field(
        default_factory=lambda: ["m3gnet-eform"],
        min_length=1,
        description="Registered predictors (smoacs_core/predictors/registry.py) that predict a targeted "
        "property with a model other than the run's; each is compared with the run's predictor of its property.",
    )
    max_disagreement: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_MAX_DISAGREEMENT),
        description="Largest |second model - run's predictor| per property that still counts as agreement "
        "(the property's unit). Needed for every property a second model predicts; the formation-energy "
        "default is the 95th percentile of the two models' disagreement on known materials.",
    )

    @model_validator(mode="after")
    def _check(self) -> CrossCheckConfig:
        unknown = [name for name in self.models if name not in PREDICTORS]
        if unknown:
            raise ValueError(f"cross_check.models: unknown predictors {unknown}; choose from {sorted(PREDICTORS)}")
        for name in self.models:
            prop = PREDICTORS[name].property_name
            if prop not in self.max_disagreement:
                raise ValueError(
                    f"cross_check.max_disagreement: no threshold for '{prop}' (predicted by '{name}'); set one "
                    f"in {PREDICTORS[name].unit}, e.g. the models' disagreement on known materials"
                )
        negative = {p: v for p, v in self.max_disagreement.items() if not v > 0}
        if negative:
            raise ValueError(f"cross_check.max_disagreement: thresholds must be positive, got {negative}")
        return self

    def properties(self) -> list[str]:
        """The properties the second models predict."""
        return sorted({PREDICTORS[name].property_name for name in self.models})


def disagreement_table(
    ids: Sequence[str],
    structures: Sequence[Structure],
    primary: Mapping[str, Sequence[float]],
    checks: Mapping[str, PropertyPredictor],
    max_disagreement: Mapping[str, float],
) -> pd.DataFrame:
    """One row per candidate: every second model's prediction, the largest disagreement per property with the
    run's own prediction, and whether all models agree.

    Args:
        ids, structures: the candidates and the structures to judge (same order).
        primary: property -> the run's predictions for these structures (same order).
        checks: registered name -> second model; each predicts a property in ``primary``.
        max_disagreement: property -> threshold.
    """
    table = pd.DataFrame({"id": list(ids)})
    agree = np.ones(len(table), dtype=bool)
    spread: dict[str, np.ndarray] = {}
    for name, model in checks.items():
        prop = model.property_name
        if prop not in primary:
            raise ValueError(f"second model '{name}' predicts '{prop}', which the run does not predict")
        values = model.predict(list(structures))
        table[f"{prop}_{name}"] = values
        difference = np.abs(values - np.asarray(primary[prop], dtype=float))
        spread[prop] = difference if prop not in spread else np.fmax(spread[prop], difference)
    for prop, difference in spread.items():
        table[f"{prop}_disagreement"] = difference
        agree &= np.nan_to_num(difference, nan=np.inf) <= max_disagreement[prop]  # no number: no agreement
    table[AGREE] = agree
    return table
