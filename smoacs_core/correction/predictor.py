"""The DFT-corrected band gap as a differentiable predictor: committee members, composition columns, and an
ensemble trained on DFT labels (``training.py``).

SMOACS optimizes through it like through any other predictor (its forward is the ensemble mean); the DFT
selection also reads its uncertainty, ``forward_with_spread``: the members' spread, and ``noise``, what the
spread misses (estimated out of bag when training).
"""

from __future__ import annotations

import torch
from torch import nn

from smoacs_core.batch import CrystalBatch
from smoacs_core.correction.ensemble import EnsembleMlp
from smoacs_core.correction.features import COMPOSITION_COLUMNS, composition_columns, element_table
from smoacs_core.graph import NeighborGraph
from smoacs_core.predictors.base import PropertyPredictor
from smoacs_core.predictors.committee import common_elements, member_outputs


class DftCorrectedPredictor(PropertyPredictor):
    """Band gap = mean over ``ensemble_size`` networks of (committee predictions, composition columns)."""

    def __init__(self, members: dict[str, PropertyPredictor], ensemble_size: int, hidden: int, identity: str):
        super().__init__()
        if not members:
            raise ValueError("a DFT correction needs at least one committee member")
        self.members = nn.ModuleDict(members)
        self.property_name, self.unit, self.identity = "band_gap", "eV", identity
        self.cutoff = max(member.cutoff for member in members.values())
        self.supported_elements = common_elements(members)
        self.input_names = (*members, *COMPOSITION_COLUMNS)
        self.register_buffer("elements", element_table(self.supported_elements))
        self.register_buffer("input_mean", torch.zeros(len(self.input_names)))
        self.register_buffer("input_scale", torch.ones(len(self.input_names)))
        self.register_buffer("noise", torch.tensor(0.0))
        self.ensemble = EnsembleMlp(ensemble_size, len(self.input_names), hidden)

    def inputs(self, crystals: CrystalBatch, graph: NeighborGraph) -> torch.Tensor:
        """(B, F) unscaled inputs: each member's prediction (on a graph at its own cutoff), then composition."""
        composition = composition_columns(self.types_in_model_order(crystals), self.elements,
                                          crystals.site_crystal, crystals.lattices)
        return torch.cat([member_outputs(self.members, crystals, graph, self.cutoff).T, composition], dim=1)

    def ensemble_predictions(self, inputs: torch.Tensor) -> torch.Tensor:
        """(M, B) predictions of every ensemble member from unscaled ``inputs``."""
        return self.ensemble((inputs - self.input_mean) / self.input_scale)

    def forward_with_spread(self, crystals: CrystalBatch, graph: NeighborGraph) -> tuple[torch.Tensor, torch.Tensor]:
        """(B,) ensemble mean and (B,) standard deviation over the ensemble."""
        predictions = self.ensemble_predictions(self.inputs(crystals, graph))
        return predictions.mean(dim=0), predictions.std(dim=0)

    def forward(self, crystals: CrystalBatch, graph: NeighborGraph) -> torch.Tensor:
        return self.ensemble_predictions(self.inputs(crystals, graph)).mean(dim=0)

    def trained_state(self) -> dict[str, torch.Tensor]:
        """What training changed (the ensemble and the scaling): the members' weights stay in their checkpoints."""
        return {key: value for key, value in self.state_dict().items() if not key.startswith("members.")}
