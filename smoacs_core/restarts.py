"""Best of several starts per template: the optimization landscape over element choices has many local
minima (e.g. a site stuck on a metal, where the predicted gap is flat at zero), so independent random starts
of the same template find what one start misses.

Each start's final crystal is judged like every result (one-hot types, fresh graph, every criterion); a
template keeps the start that meets all criteria, and among those, or among none, the one with the lowest
loss.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from smoacs_core.config import OptimizationConfig
from smoacs_core.crystal import CrystalTemplate, DiscreteCrystal
from smoacs_core.evaluation import evaluate_candidates
from smoacs_core.predictors.base import PropertyPredictor


def final_losses(table: pd.DataFrame, config: OptimizationConfig) -> np.ndarray:
    """The run's loss (``OptimizationConfig.loss``) of judged candidates; inf where undefined."""
    def column(name: str) -> torch.Tensor:
        return torch.tensor(table[name].to_numpy(dtype=float))

    tolerance = column("tolerance_factor") if config.tolerance is not None else None
    losses = config.loss({target.name: column(target.name) for target in config.targets}, tolerance).numpy()
    return np.where(np.isfinite(losses), losses, np.inf)


def best_of_restarts(
    candidates: Sequence[DiscreteCrystal],
    templates: Sequence[CrystalTemplate],
    predictors: Mapping[str, PropertyPredictor],
    config: OptimizationConfig,
) -> tuple[list[DiscreteCrystal], list[int]]:
    """Per template, the best of its ``config.restarts`` starts; ``candidates`` hold start r of template i at
    ``r * len(templates) + i``. Returns the chosen crystals and which start each came from."""
    count = len(templates)
    if len(candidates) != count * config.restarts:
        raise ValueError(f"{len(candidates)} candidates for {count} templates x {config.restarts} starts")
    table = evaluate_candidates(candidates, list(templates) * config.restarts, predictors, config,
                                device=config.device)
    success = table["success"].to_numpy(dtype=bool)
    losses = final_losses(table, config)
    chosen = [
        min(range(config.restarts), key=lambda r: (not success[r * count + i], losses[r * count + i]))
        for i in range(count)
    ]
    return [candidates[r * count + i] for i, r in enumerate(chosen)], chosen
