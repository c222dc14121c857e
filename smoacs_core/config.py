"""Typed, validated configuration of one SMOACS optimization, with the paper's presets.

Presets (paper A.6-A.8, the Crystalformer settings, which the MEGNet predictors follow best):

=================  =======  ======  ============  =========  ========  ==========
mode               lattice  coords  types/pattern rebuilds   lengths   coordinates
=================  =======  ======  ============  =========  ========  ==========
free               0.01     0.02    6.0           32         2-10 A    free, angles 30-150
perovskite         0.01     0.02    6.0           46         2-10 A    ideal +- 0.15, angles 90
perovskite3x3x3    0.003    0.005   2.0           41         6-30 A    ideal +- 0.05, angles 90
=================  =======  ======  ============  =========  ========  ==========
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from smoacs_core.targets import PropertyTarget, ToleranceFactorTarget

if TYPE_CHECKING:
    import torch

Mode = Literal["free", "perovskite", "perovskite3x3x3"]


class GeometryConstraints(BaseModel):
    """Box constraints applied after every optimizer step (paper A.4, 3.3, A.8)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    length_range: tuple[float, float] = Field(default=(2.0, 10.0), description="Lattice lengths a, b, c (A).")
    angle_range: tuple[float, float] = Field(default=(30.0, 150.0), description="Lattice angles (degrees).")
    optimize_angles: bool = Field(default=True, description="False keeps the template's angles (perovskites).")
    coord_tolerance: float | None = Field(
        default=None,
        description="Max periodic deviation of each fractional coordinate from the template's ideal site; "
        "None leaves coordinates free.",
    )

    @model_validator(mode="after")
    def _check(self) -> GeometryConstraints:
        low, high = self.length_range
        if not 0 < low <= high:
            raise ValueError(f"length_range {self.length_range}: need 0 < low <= high")
        low, high = self.angle_range
        if not 0 < low <= high < 180:
            raise ValueError(f"angle_range {self.angle_range}: need 0 < low <= high < 180")
        if self.coord_tolerance is not None and not 0 <= self.coord_tolerance <= 0.5:
            raise ValueError(f"coord_tolerance {self.coord_tolerance}: need 0 <= eps <= 0.5")
        return self


class LearningRates(BaseModel):
    """Adam learning rates per parameter group (eq. 12), decayed on a cosine schedule.

    The lattice rate applies to lengths divided by 10 (0.01 moves a length by at most ~0.1 A per step) and
    to angles in radians.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    lattice: float = Field(default=0.01, ge=0)
    coords: float = Field(default=0.02, ge=0)
    types: float = Field(default=6.0, ge=0)
    pattern: float = Field(default=6.0, ge=0)


class RelaxationProjection(BaseModel):
    """Keep optimized crystals physical: at some graph rebuilds the crystals, discretized, are relaxed with an
    ML potential, and their relaxed lattices and coordinates replace the optimized ones before the
    optimization goes on (Adam's moments of lattice and coordinates restart there).

    Without it, the predictors are free to find on-target values in distorted geometries that relaxation then
    undoes (see docs/smoacs.md). With lattice and coordinate learning rates at 0 it gives composition-only
    optimization on relaxed geometries.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    potential: Literal["m3gnet", "chgnet"] = Field(default="m3gnet", description="ML potential.")
    projections: int = Field(
        default=4, ge=1, description="Rebuilds that project, evenly spread over the rebuild schedule, the last "
        "rebuild included."
    )
    fmax: float = Field(default=0.1, gt=0, description="Force criterion of each relaxation (eV/A).")
    max_steps: int = Field(
        default=60, ge=1, description="FIRE steps per relaxation: a partial relaxation already moves a distorted "
        "cell most of the way back."
    )


class StabilityTerm(BaseModel):
    """A loss that pulls the soft crystals toward a local minimum of an ML potential while the targets are
    optimized (smoacs_core/stability.py): per crystal,
    ``forces * mean_i |F_i| + stress * |sigma|_F + energy * (E - sum_i E_ref(Z_i)) / N``.

    Forces are in eV/A and the stress (Frobenius norm of the 3x3 tensor) in GPa, both of the soft crystal
    (types mixed in the potential's embedding). The energy alone is not comparable across compositions, so
    its term is the energy per atom *above the potential's own per-element reference energies* (the linear
    fit of energy on composition the potential was trained with, ``element_refs``; for soft types their
    expected value): cubic SrTiO3 sits at -0.45 eV/atom on this scale, the final crystals of plain 200-step
    SMOACS perovskite runs at +4 on average. Small forces and stress alone leave crystals on flat, high-energy
    parts of the surface that relaxation still moves far; the energy part pulls them down. Defaults from
    200-step perovskite runs (docs/smoacs.md, "Stability term").
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    potential: Literal["m3gnet"] = Field(default="m3gnet", description="M3GNet-MP-2021.2.8-PES.")
    forces: float = Field(default=3.0, ge=0, description="Weight per eV/A of the mean force norm per atom.")
    stress: float = Field(default=0.5, ge=0, description="Weight per GPa of the stress norm.")
    energy: float = Field(
        default=1.0, ge=0, description="Weight per eV/atom of the energy above the element references."
    )

    @model_validator(mode="after")
    def _check(self) -> StabilityTerm:
        if not (self.forces or self.stress or self.energy):
            raise ValueError("stability: every weight is zero (leave the term out instead)")
        return self


class OptimizationConfig(BaseModel):
    """Everything that decides the outcome of one SMOACS optimization."""

    model_config = ConfigDict(extra="forbid")

    mode: Mode = Field(default="perovskite", description="free crystals, perovskite ABX3, or 3x3x3 supercells.")
    steps: int = Field(default=200, ge=1, description="Optimization steps (paper: 200).")
    learning_rates: LearningRates = Field(default_factory=LearningRates)
    temperature_start: float = Field(default=0.01, gt=0, description="Softmax temperature at the first step.")
    temperature_end: float = Field(default=0.0001, gt=0, description="Softmax temperature at the last step.")
    graph_rebuilds: int = Field(default=46, ge=0, description="Neighbour-graph rebuilds on the sine schedule.")
    constraints: GeometryConstraints = Field(default_factory=GeometryConstraints)
    targets: list[PropertyTarget] = Field(
        default_factory=lambda: [PropertyTarget.band_gap(1.5, 0.2), PropertyTarget.formation_energy()],
        description="Properties to optimize and judge.",
    )
    tolerance: ToleranceFactorTarget | None = Field(
        default_factory=ToleranceFactorTarget, description="Tolerance-factor loss (perovskite modes only)."
    )
    relaxation: RelaxationProjection | None = Field(
        default=None, description="Relaxation projection at graph rebuilds (None: the paper's method)."
    )
    stability: StabilityTerm | None = Field(
        default=None, description="Force/stress loss from an ML potential (None: the paper's method)."
    )
    straight_through: bool = Field(
        default=False,
        description="Predict on the one-hot crystal the run returns, with the softmax's gradient (straight-"
        "through estimator). Without it the predictors see a mixture of elements, which meets the targets "
        "where no discrete choice does; pair it with a temperature near 1 and a type rate near 0.2, where "
        "the softmax still passes gradients (docs/smoacs.md).",
    )
    initial_logit_std: float = Field(
        default=0.0, ge=0,
        description="Standard deviation of the random initial type and pattern logits (seeded). 0: every "
        "element starts equally likely, as in the paper; then a straight-through run starts every site "
        "from the same element (the first allowed one).",
    )
    restarts: int = Field(
        default=1, ge=1,
        description="Independent starts per template, optimized in one batch (cost x restarts). Each "
        "template returns its best start: the one that meets every criterion, then the lowest loss, judged "
        "on the one-hot crystal with a fresh graph. Needs initial_logit_std > 0 to differ.",
    )
    single_anion: bool = Field(
        default=False,
        description="Every X site of a perovskite holds the same element (one row of type logits per crystal). "
        "Without it the three X sites of a 5-atom cell mix anions (e.g. SrTiSO2, KCuIF2), ordered cells that "
        "few known perovskites resemble and where the band-gap model was wrong most often (docs/smoacs.md).",
    )
    include_elements: list[str] | None = Field(default=None, description="Only these elements may be placed.")
    exclude_elements: list[str] = Field(default_factory=list, description="Elements never placed.")
    max_patterns: int = Field(default=10, ge=1, description="Oxidation patterns per free crystal (paper A.11).")
    seed: int = Field(default=0, description="Seeds templates and torch.")
    device: str = Field(default="cpu", description="'cpu' or 'cuda'.")

    @model_validator(mode="after")
    def _check(self) -> OptimizationConfig:
        if not self.targets:
            raise ValueError("targets: at least one property target is needed")
        names = [t.name for t in self.targets]
        if len(set(names)) != len(names):
            raise ValueError(f"targets: duplicate target names {names}")
        if self.tolerance is not None and self.mode == "free":
            raise ValueError("tolerance: the tolerance factor needs a perovskite mode")
        if self.single_anion and self.mode == "free":
            raise ValueError("single_anion: X sites exist only in the perovskite modes")
        if self.restarts > 1 and self.initial_logit_std == 0:
            raise ValueError(f"restarts: {self.restarts} starts from the same logits would be identical; "
                             "set initial_logit_std > 0")
        return self

    def loss(
        self, predictions: Mapping[str, torch.Tensor], tolerance: torch.Tensor | None,
        spreads: Mapping[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Per-crystal loss of the targets (predictions and, for targets with a spread weight, the predictors'
        spreads, by target name) plus the tolerance-factor term; the optimizer adds the stability term, which
        needs the potential."""
        spreads = spreads or {}
        total = sum(target.loss(predictions[target.name], spreads.get(target.name)) for target in self.targets)
        if self.tolerance is not None:
            if tolerance is None:
                raise ValueError("the tolerance-factor loss needs the crystals' tolerance factors")
            total = total + self.tolerance.loss(tolerance)
        return total

    @property
    def is_perovskite(self) -> bool:
        return self.mode != "free"

    @property
    def supercell_repeat(self) -> int:
        return 3 if self.mode == "perovskite3x3x3" else 1

    @model_validator(mode="before")
    @classmethod
    def _apply_mode_preset(cls, data):
        """Fields not given take the paper's values for the chosen mode (nested settings merge key by key)."""
        if not isinstance(data, dict):
            return data
        preset = _PRESETS.get(data.get("mode", "perovskite"), {})
        merged = dict(preset)
        for key, value in data.items():
            if isinstance(value, dict) and isinstance(preset.get(key), dict):
                merged[key] = {**preset[key], **value}
            else:
                merged[key] = value
        return merged

    @classmethod
    def preset(cls, mode: Mode, **overrides) -> OptimizationConfig:
        """The paper's settings for ``mode``; keyword arguments override any field."""
        return cls(mode=mode, **overrides)


_PRESETS: dict[str, dict] = {
    "free": {"graph_rebuilds": 32, "tolerance": None},
    "perovskite": {
        "graph_rebuilds": 46,
        "constraints": {"optimize_angles": False, "coord_tolerance": 0.15},
    },
    "perovskite3x3x3": {
        "graph_rebuilds": 41,
        "learning_rates": {"lattice": 0.003, "coords": 0.005, "types": 2.0, "pattern": 2.0},
        "constraints": {"length_range": (6.0, 30.0), "optimize_angles": False, "coord_tolerance": 0.05},
    },
}
