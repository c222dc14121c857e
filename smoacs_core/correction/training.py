"""Training the DFT correction on labels, and measuring it the way it will be used: on groups of labels it has
not seen.

Every ensemble member trains on its own bootstrap sample (same size as the labels); the labels a member did not
draw measure it out of bag, and the part of the out-of-bag error the ensemble spread does not explain is kept as
``noise``, so the uncertainty the DFT selection reads is neither the spread alone (too confident far from the
labels) nor a constant. ``cross_validate`` leaves whole groups out (one GPAW check, one run), because labels of
one group are near-duplicates of each other and would flatter a random split.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from smoacs_core.correction.ensemble import fit_ensemble
from smoacs_core.correction.predictor import DftCorrectedPredictor
from smoacs_core.labels import DftLabel
from smoacs_core.predictors.base import PropertyPredictor, structure_batches
from smoacs_core.predictors.committee import common_elements

DEFAULT_MEMBERS = ("megnet-mf2020-pbe", "cgcnn-bandgap", "cgcnn-metal-probability")
"""Independently trained models whose predictions the correction combines: the mean of the six multi-fidelity
MEGNet models, CGCNN's band gap and its metal probability. Leave-one-check-out on the 137 GPAW labels: 0.39 eV
with these, 0.44 eV with the single shipped MEGNet in place of the six (benchmarks/results/correction.json)."""


class CorrectionConfig(BaseModel):
    """How a correction is trained (part of its version: the same labels and configuration give the same model)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    members: tuple[str, ...] = Field(default=DEFAULT_MEMBERS, min_length=1,
                                     description="Registered predictors whose outputs are inputs.")
    functional: str = Field(default="PBE", description="Only labels of this functional (never mixed silently).")
    codes: tuple[str, ...] | None = Field(default=None, description="Only labels of these codes (None: all).")
    ensemble_size: int = Field(default=8, ge=5, description="Networks in the ensemble (their spread: uncertainty).")
    hidden: int = Field(default=32, ge=1)
    steps: int = Field(default=800, ge=1)
    learning_rate: float = Field(default=0.01, gt=0)
    weight_decay: float = Field(default=0.01, ge=0)
    seed: int = 0


class CorrectionMetrics(BaseModel):
    """How well the correction and the plain committee mean predict labels they were not trained on."""

    labels: int
    groups: int
    out_of_bag_mae: float
    noise: float
    cv_mae: float | None = None
    """leave-one-group-out mean absolute error of the correction (eV); None with fewer than 3 groups"""
    cv_committee_mae: float | None = None
    """the same for the mean of the committee's band-gap members (negative values read as 0)"""


def usable_labels(labels: Sequence[DftLabel], config: CorrectionConfig, elements: Sequence[str]) -> list[DftLabel]:
    """The labels of the configured functional and codes whose elements every member knows, in ``label_id`` order
    (so the same labels train the same model, however they were listed).

    Raises:
        ValueError: no label is left (naming what was asked for and what the store holds).
    """
    known = set(elements)
    chosen = [label for label in sorted(labels, key=lambda label: label.label_id) if label.functional == config.functional
              and (config.codes is None or label.code in config.codes)
              and {e.symbol for e in label.structure.composition} <= known]
    if not chosen:
        held = Counter(label.label for label in labels)
        raise ValueError(f"no {config.functional} labels{'' if config.codes is None else ' of ' + str(config.codes)} "
                         f"to train on (the store holds {dict(held) or 'none'})")
    return chosen


def label_inputs(predictor: DftCorrectedPredictor, labels: Sequence[DftLabel]) -> torch.Tensor:
    """(L, F) correction inputs of the labels' structures, as the predictor computes them."""
    structures = [label.structure for label in labels]
    with torch.no_grad():
        return torch.cat([predictor.inputs(batch, predictor.graph_for(batch))
                          for batch in structure_batches(structures, predictor.supported_elements)])


def _bootstrap_counts(members: int, labels: int, generator: np.random.Generator) -> torch.Tensor:
    draws = generator.integers(0, labels, size=(members, labels))
    return torch.as_tensor(np.stack([np.bincount(row, minlength=labels) for row in draws]), dtype=torch.float32)


def fit(predictor: DftCorrectedPredictor, inputs: torch.Tensor, gaps: torch.Tensor, config: CorrectionConfig) -> float:
    """Train ``predictor``'s ensemble and scaling on (inputs, gaps); returns the out-of-bag MAE and sets ``noise``."""
    torch.manual_seed(config.seed)  # the same labels and configuration give the same weights
    predictor.ensemble.reset_parameters()
    generator = np.random.default_rng(config.seed)
    predictor.input_mean.copy_(inputs.mean(dim=0))
    predictor.input_scale.copy_(inputs.std(dim=0).clamp(min=1e-6))
    counts = _bootstrap_counts(config.ensemble_size, len(gaps), generator)
    scaled = (inputs - predictor.input_mean) / predictor.input_scale
    predictor.ensemble.requires_grad_(True)
    fit_ensemble(predictor.ensemble, scaled, gaps, counts, config.steps, config.learning_rate, config.weight_decay)
    predictor.ensemble.requires_grad_(False)
    with torch.no_grad():
        predictions = predictor.ensemble(scaled)
        out_of_bag = counts == 0
        oob_mean = (predictions * out_of_bag).sum(0) / out_of_bag.sum(0).clamp(min=1)
        seen = out_of_bag.any(0)
        residual = (oob_mean - gaps)[seen]
        spread = predictions.std(dim=0)[seen]
        noise = torch.sqrt(torch.clamp((residual**2).mean() - (spread**2).mean(), min=0.0))
        predictor.noise.copy_(noise)
    return float(residual.abs().mean())


def committee_gap(inputs: torch.Tensor, predictor: DftCorrectedPredictor) -> torch.Tensor:
    """(L,) mean of the band-gap members' predictions (negative read as 0): the committee without learning."""
    columns = [n for n, member in enumerate(predictor.members.values()) if member.property_name == "band_gap"]
    if not columns:
        raise ValueError("the committee has no band-gap member")
    return inputs[:, columns].clamp(min=0.0).mean(dim=1)


def cross_validate(
    predictor: DftCorrectedPredictor, inputs: torch.Tensor, gaps: torch.Tensor, groups: Sequence[str],
    config: CorrectionConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """Leave-one-group-out predictions of a fresh correction (same configuration) and of the committee mean."""
    groups = np.asarray(groups)
    held_out = np.zeros(len(gaps))
    members = dict(predictor.members)
    for group in dict.fromkeys(groups):
        test = torch.as_tensor(groups == group)
        fold = DftCorrectedPredictor(members, config.ensemble_size, config.hidden, "cross-validation fold")
        fit(fold, inputs[~test], gaps[~test], config)
        with torch.no_grad():
            held_out[test.numpy()] = fold.ensemble_predictions(inputs[test]).mean(dim=0).numpy()
    return held_out, committee_gap(inputs, predictor).numpy()


def train_correction(
    labels: Sequence[DftLabel], members: dict[str, PropertyPredictor], config: CorrectionConfig, identity: str,
    validate: bool = True,
) -> tuple[DftCorrectedPredictor, list[DftLabel], CorrectionMetrics]:
    """A trained correction, the labels it learned from, and its errors (``validate``: leave-one-group-out too)."""
    predictor = DftCorrectedPredictor(members, config.ensemble_size, config.hidden, identity)
    chosen = usable_labels(labels, config, common_elements(members))
    inputs = label_inputs(predictor, chosen)
    gaps = torch.tensor([label.band_gap for label in chosen], dtype=torch.float32)
    groups = [label.group for label in chosen]
    metrics = CorrectionMetrics(labels=len(chosen), groups=len(set(groups)), out_of_bag_mae=0.0, noise=0.0)
    if validate and len(set(groups)) >= 3:
        held_out, committee = cross_validate(predictor, inputs, gaps, groups, config)
        metrics.cv_mae = float(np.abs(held_out - gaps.numpy()).mean())
        metrics.cv_committee_mae = float(np.abs(committee - gaps.numpy()).mean())
    metrics.out_of_bag_mae = fit(predictor, inputs, gaps, config)
    metrics.noise = float(predictor.noise)
    return predictor.eval(), chosen, metrics
