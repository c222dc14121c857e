"""A committee of independently trained models of one property: their mean is the prediction, their spread how
much to trust it (the multi-fidelity MEGNet publication uses six models this way).

On the 139 GPAW-checked candidates of docs/benchmarks.md the mean of the six multi-fidelity MEGNet models is off by
0.81 eV against 1.05 for the single shipped model, and their spread ranks the error (Spearman 0.47;
benchmarks/results/keras_megnet.json). A target with ``spread_weight`` k asks for mean +- k * spread inside its
window, steering the optimizer away from crystals the members disagree on.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from pymatgen.core import Element
from torch import nn

from smoacs_core.batch import CrystalBatch
from smoacs_core.graph import NeighborGraph
from smoacs_core.predictors.base import PropertyPredictor


def common_elements(members: Mapping[str, PropertyPredictor]) -> tuple[str, ...]:
    """The elements every member knows, by atomic number."""
    known = set.intersection(*(set(member.supported_elements) for member in members.values()))
    return tuple(sorted(known, key=lambda symbol: Element(symbol).Z))


def member_outputs(
    members: Mapping[str, PropertyPredictor], crystals: CrystalBatch, graph: NeighborGraph, cutoff: float
) -> torch.Tensor:
    """(M, B): each member on ``graph`` (built at ``cutoff``) when that is its cutoff, else on a graph of its own."""
    return torch.stack([member(crystals, graph if member.cutoff == cutoff else member.graph_for(crystals))
                        for member in members.values()])


class CommitteePredictor(PropertyPredictor):
    """Mean and standard deviation over members that predict the same property in the same unit."""

    def __init__(self, members: dict[str, PropertyPredictor], identity: str):
        super().__init__()
        if len(members) < 2:
            raise ValueError(f"{identity}: a committee needs at least two members")
        kinds = {(member.property_name, member.unit) for member in members.values()}
        if len(kinds) != 1:
            raise ValueError(f"{identity}: members predict different things {sorted(kinds)}")
        self.members = nn.ModuleDict(members)
        (self.property_name, self.unit), = kinds
        self.identity = identity
        self.cutoff = max(member.cutoff for member in members.values())
        self.supported_elements = common_elements(members)

    def member_predictions(self, crystals: CrystalBatch, graph: NeighborGraph) -> torch.Tensor:
        """(M, B): each member on a graph at its own cutoff."""
        return member_outputs(self.members, crystals, graph, self.cutoff)

    def forward_with_spread(self, crystals: CrystalBatch, graph: NeighborGraph) -> tuple[torch.Tensor, torch.Tensor]:
        predictions = self.member_predictions(crystals, graph)
        return predictions.mean(dim=0), predictions.std(dim=0)

    def forward(self, crystals: CrystalBatch, graph: NeighborGraph) -> torch.Tensor:
        return self.member_predictions(crystals, graph).mean(dim=0)
