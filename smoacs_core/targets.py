"""What a run optimizes for: property targets and the perovskite tolerance factor (paper eq. 13-17).

A target is a range (hinge loss ``max(0, |y - y_hat| - h)`` with centre y and margin h) or a direction
("minimize"/"maximize", loss ``+-y_hat``) with an optional success threshold; each has a weight (the
paper's lambda for formation energy). With ``hinge`` a direction stops pulling at its threshold
(``max(0, y_hat - threshold)`` for "minimize"). Success is judged on values clipped at ``clip_min`` (band gaps below
zero mean zero); losses use the raw prediction so gradients do not vanish.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator


class PropertyTarget(BaseModel):
    """One property to steer, predicted by a named predictor."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Property label used in results, e.g. 'band_gap'.")
    predictor: str = Field(description="Predictor that computes it, e.g. 'megnet-bandgap-pbe'.")
    goal: Literal["range", "minimize", "maximize"] = Field(description="Hit a range, or push down or up.")
    low: float | None = Field(default=None, description="Lower bound of the target range (goal 'range').")
    high: float | None = Field(default=None, description="Upper bound of the target range (goal 'range').")
    threshold: float | None = Field(
        default=None,
        description="Success bound for 'minimize' (value below it) or 'maximize' (value above it); "
        "without it every value counts as success.",
    )
    weight: float = Field(default=1.0, gt=0, description="Weight of this loss term (lambda).")
    hinge: bool = Field(
        default=False,
        description="'minimize'/'maximize' only: the loss is zero past the threshold (max(0, y - threshold) "
        "when minimizing). The paper's plain direction keeps pulling past success, so every start drifts to "
        "the few compositions with the most extreme value (the most negative formation energy: oxides and "
        "fluorides) and the other targets choose among those only (docs/smoacs.md).",
    )
    clip_min: float | None = Field(
        default=None, description="Values are clipped at this floor when judging success (0 for band gaps)."
    )
    spread_weight: float = Field(
        default=0.0, ge=0,
        description="'range' only, with a predictor that has an uncertainty (a committee or a DFT correction): "
        "the loss asks for mean +- k * spread inside the range (k = this), so the optimizer prefers crystals its "
        "models agree on. 0: the mean alone (default).",
    )

    @model_validator(mode="after")
    def _check_bounds(self) -> PropertyTarget:
        if self.goal == "range":
            if self.low is None or self.high is None:
                raise ValueError(f"target '{self.name}': a range needs both low and high")
            if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.low > self.high:
                raise ValueError(f"target '{self.name}': impossible range [{self.low}, {self.high}]")
            if self.clip_min is not None and self.high < self.clip_min:
                raise ValueError(f"target '{self.name}': range [{self.low}, {self.high}] lies below {self.clip_min}")
        elif self.low is not None or self.high is not None:
            raise ValueError(f"target '{self.name}': low/high only apply to goal 'range'")
        if self.spread_weight and self.goal != "range":
            raise ValueError(f"target '{self.name}': spread_weight needs goal 'range'")
        if self.hinge and (self.goal == "range" or self.threshold is None):
            raise ValueError(f"target '{self.name}': hinge needs goal 'minimize' or 'maximize' and a threshold")
        return self

    @classmethod
    def band_gap(
        cls, center: float, margin: float, predictor: str = "megnet-bandgap-pbe", weight: float = 1.0
    ) -> PropertyTarget:
        """The paper's band-gap target y +- h (eV)."""
        if margin < 0:
            raise ValueError(f"band-gap margin must be >= 0, got {margin}")
        return cls(
            name="band_gap",
            predictor=predictor,
            goal="range",
            low=center - margin,
            high=center + margin,
            weight=weight,
            clip_min=0.0,
        )

    @classmethod
    def formation_energy(
        cls, weight: float = 1.0, threshold: float = -0.5, predictor: str = "megnet-eform", hinge: bool = False
    ) -> PropertyTarget:
        """The paper's formation-energy term: minimize, success below -0.5 eV/atom (``hinge``: no pull below)."""
        return cls(name="formation_energy", predictor=predictor, goal="minimize", threshold=threshold, weight=weight,
                   hinge=hinge)

    def loss(self, prediction: torch.Tensor, spread: torch.Tensor | None = None) -> torch.Tensor:
        """Per-crystal loss, weighted; ``spread`` (the predictor's uncertainty) widens a range target's
        prediction by ``spread_weight`` times it on both sides."""
        if self.goal == "range":
            center, margin = (self.low + self.high) / 2, (self.high - self.low) / 2
            widening = 0.0 if spread is None else self.spread_weight * spread
            term = torch.relu(torch.abs(prediction - center) + widening - margin)
        elif self.goal == "minimize":
            term = torch.relu(prediction - self.threshold) if self.hinge else prediction
        else:
            term = torch.relu(self.threshold - prediction) if self.hinge else -prediction
        return self.weight * term

    @property
    def centre(self) -> float | None:
        """Middle of a range target (what the hull and DFT rankings measure errors from); None otherwise."""
        return None if self.goal != "range" else (self.low + self.high) / 2

    def error(self, values: np.ndarray) -> np.ndarray:
        """Signed distance of each prediction from the centre of a range target (e.g. band_gap - 1.5 eV)."""
        if self.centre is None:
            raise ValueError(f"target '{self.name}': only a range target has a centre to measure errors from")
        return np.asarray(values, dtype=float) - self.centre

    def describe_error(self) -> str:
        """What :meth:`error` measures, as tables and reports say it."""
        return f"{self.name} - {self.centre:g} (centre of the target range [{self.low:g}, {self.high:g}])"

    def satisfied(self, values: np.ndarray) -> np.ndarray:
        """Per-crystal success of this target (NaN predictions fail)."""
        values = np.asarray(values, dtype=float)
        if self.clip_min is not None:
            values = np.maximum(values, self.clip_min)
        with np.errstate(invalid="ignore"):
            if self.goal == "range":
                return (values >= self.low) & (values <= self.high)
            if self.threshold is None:
                return np.isfinite(values)
            return values < self.threshold if self.goal == "minimize" else values > self.threshold


def range_target(targets: Sequence[PropertyTarget], name: str) -> PropertyTarget | None:
    """The range target on property ``name``, if the run has one."""
    return next((t for t in targets if t.name == name and t.goal == "range"), None)


def range_target_errors(
    targets: Sequence[PropertyTarget], table: pd.DataFrame, column_prefix: str = ""
) -> tuple[dict[str, float] | None, str | None]:
    """Signed error of each candidate (row ``id``) for the first range target whose column the table holds
    (``column_prefix`` + name, e.g. 'prerelaxed.band_gap'), and what it measures; (None, None) without one."""
    for target in targets:
        column = f"{column_prefix}{target.name}"
        if target.goal == "range" and column in table.columns:
            errors = target.error(table[column].to_numpy(dtype=float))
            return dict(zip(table["id"].astype(str), errors.tolist(), strict=True)), target.describe_error()
    return None, None


class ToleranceFactorTarget(BaseModel):
    """Goldschmidt tolerance factor t = (r_A + r_X) / (sqrt(2) (r_B + r_X)); loss |t - optimum| (eq. 15-16)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    optimum: float = Field(default=0.9, description="t the loss pulls towards.")
    low: float = Field(default=0.8, description="Lowest t counted as a perovskite.")
    high: float = Field(default=1.0, description="Highest t counted as a perovskite.")
    weight: float = Field(default=1.0, gt=0, description="Weight of the loss term.")

    def loss(self, tolerance: torch.Tensor) -> torch.Tensor:
        return self.weight * torch.abs(tolerance - self.optimum)

    def satisfied(self, tolerance: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return (np.asarray(tolerance) >= self.low) & (np.asarray(tolerance) <= self.high)


def tolerance_factor(r_a, r_b, r_x):
    """Goldschmidt tolerance factor; works on floats, numpy arrays and torch tensors."""
    return (r_a + r_x) / (math.sqrt(2.0) * (r_b + r_x))
