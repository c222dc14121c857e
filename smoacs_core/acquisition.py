"""Choosing which candidates DFT checks when a model with an uncertainty is at hand: the probability that the DFT
band gap lands in the target window, and a share of picks spent where the model knows least.

With a predicted mean mu and uncertainty sigma (the correction ensemble's spread and its out-of-bag noise, added
in quadrature), P(low <= gap <= high) = Phi((high - mu) / sigma) - Phi((low - mu) / sigma). Most picks go to the
highest probability (exploitation); ``exploration_share`` of them go to the largest sigma among candidates whose
window lies within mu +- 2 sigma, where a DFT label teaches the model most. Candidates that match a structure
already labelled, or an earlier pick (pymatgen's StructureMatcher), are never picked: DFT would repeat itself.
Every pick keeps its reason and numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Structure
from scipy.special import ndtr

from smoacs_core.predictors.base import PropertyPredictor, structure_batches
from smoacs_core.targets import PropertyTarget


class AcquisitionConfig(BaseModel):
    """How a model with an uncertainty chooses DFT candidates (used when ``predictor`` is set)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    predictor: str | None = Field(
        default=None,
        description="A predictor with an uncertainty (a trained 'dft-correction/<version>'); None: rank by the "
        "run's criteria instead (the default).",
    )
    exploration_share: float = Field(default=0.25, ge=0, le=1,
                                     description="Share of the picks that go to the most uncertain candidates.")


class Pick(BaseModel):
    """One candidate's numbers, and why it was picked (empty reason: not picked)."""

    candidate: str
    mean: float
    sigma: float
    probability: float
    reason: str = ""


def window_probability(mean: np.ndarray, sigma: np.ndarray, low: float, high: float) -> np.ndarray:
    """P(low <= gap <= high) under a normal distribution of each candidate's gap."""
    sigma = np.maximum(sigma, 1e-6)
    return ndtr((high - mean) / sigma) - ndtr((low - mean) / sigma)


@torch.no_grad()
def predict_with_uncertainty(predictor: PropertyPredictor, structures: Sequence[Structure]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and total uncertainty (spread and noise in quadrature) of a predictor with ``forward_with_spread``."""
    if not hasattr(predictor, "forward_with_spread"):
        raise ValueError(f"{predictor.identity} has no uncertainty; acquisition needs a trained dft-correction")
    means, spreads = [], []
    for batch in structure_batches(structures, predictor.supported_elements):
        mean, spread = predictor.forward_with_spread(batch, predictor.graph_for(batch))
        means.append(mean.double().numpy())
        spreads.append(spread.double().numpy())
    if not means:
        return np.zeros(0), np.zeros(0)
    noise = float(getattr(predictor, "noise", 0.0))
    return np.concatenate(means), np.sqrt(np.concatenate(spreads) ** 2 + noise**2)


def already_labelled(structures: Mapping[str, Structure], labelled: Sequence[Structure]) -> set[str]:
    """Candidates that StructureMatcher (default tolerances) finds among the labelled structures."""
    matcher = StructureMatcher()
    by_formula: dict[str, list[Structure]] = {}
    for structure in labelled:
        by_formula.setdefault(structure.composition.reduced_formula, []).append(structure)
    return {candidate for candidate, structure in structures.items()
            if any(matcher.fit(structure, known) for known in by_formula.get(structure.composition.reduced_formula, []))}


def acquire(
    structures: Mapping[str, Structure], predictor: PropertyPredictor, target: PropertyTarget, count: int,
    exploration_share: float, labelled: Sequence[Structure] = (),
) -> list[Pick]:
    """Every candidate's numbers, with the ``count`` picks carrying their reason (exploit first, then explore)."""
    if target.goal != "range":
        raise ValueError(f"acquisition needs a range target; '{target.name}' is '{target.goal}'")
    ids = list(structures)
    mean, sigma = predict_with_uncertainty(predictor, [structures[i] for i in ids])
    probability = window_probability(mean, sigma, target.low, target.high)
    picks = {i: Pick(candidate=i, mean=m, sigma=s, probability=p)
             for i, m, s, p in zip(ids, mean.tolist(), sigma.tolist(), probability.tolist(), strict=True)}
    repeated = already_labelled(structures, labelled) if labelled else set()
    for candidate in repeated:
        picks[candidate].reason = "not picked: matches a structure DFT already labelled"
    open_ids = [i for i in ids if i not in repeated]
    explore = min(round(exploration_share * count), count)
    taken: list[str] = []
    by_probability = sorted(open_ids, key=lambda i: -picks[i].probability)
    for candidate in _distinct(by_probability, structures, taken, count - explore):
        picks[candidate].reason = f"exploit: P(gap in [{target.low:g}, {target.high:g}] eV) = {picks[candidate].probability:.2f}"
    plausible = [i for i in open_ids if i not in taken and
                 picks[i].mean - 2 * picks[i].sigma <= target.high and picks[i].mean + 2 * picks[i].sigma >= target.low]
    for candidate in _distinct(sorted(plausible, key=lambda i: -picks[i].sigma), structures, taken, count - len(taken)):
        picks[candidate].reason = f"explore: uncertainty {picks[candidate].sigma:.2f} eV, P = {picks[candidate].probability:.2f}"
    return [picks[i] for i in ids]


def _distinct(ordered: Sequence[str], structures: Mapping[str, Structure], taken: list[str], count: int) -> list[str]:
    """Up to ``count`` of ``ordered`` that match neither each other nor ``taken`` (which they are appended to):
    two copies of one crystal would spend two DFT calculations on one answer."""
    added: list[str] = []
    for candidate in ordered:
        if len(added) >= count:
            break
        if not already_labelled({candidate: structures[candidate]}, [structures[i] for i in taken]):
            taken.append(candidate)
            added.append(candidate)
    return added


def chosen(picks: Sequence[Pick]) -> list[str]:
    """The picked candidates, exploit picks first then explore picks, best first within each."""
    exploit = sorted((p for p in picks if p.reason.startswith("exploit")), key=lambda p: -p.probability)
    explore = sorted((p for p in picks if p.reason.startswith("explore")), key=lambda p: -p.sigma)
    return [p.candidate for p in (*exploit, *explore)]
