"""The predictor interface: any differentiable torch model of a crystal batch.

SMOACS needs only three things from a property model: a cutoff for its neighbour graph, the elements it
knows, and a forward pass from (lattice, fractional coordinates, atom-type probabilities, graph) to one
number per crystal that autograd can differentiate. MEGNet, M3GNet, ALIGNN or a user's own model plug in by
subclassing :class:`PropertyPredictor`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from pymatgen.core import Structure
from torch import nn

from smoacs_core.batch import CrystalBatch
from smoacs_core.graph import NeighborGraph, build_neighbor_graph

PREDICTION_CHUNK = 256
"""Structures per forward pass when judging results (bounds memory for large candidate sets)."""


def structure_batches(
    structures: Sequence[Structure], vocabulary: Sequence[str], device: str | torch.device = "cpu"
) -> Iterator[CrystalBatch]:
    """One-hot batches of ``PREDICTION_CHUNK`` structures at a time, in order."""
    for start in range(0, len(structures), PREDICTION_CHUNK):
        yield CrystalBatch.from_structures(structures[start : start + PREDICTION_CHUNK], vocabulary, device=device)


class PropertyPredictor(nn.Module, ABC):
    """A differentiable model of one scalar property per crystal.

    Subclasses set ``property_name`` (e.g. ``"band_gap"``), ``unit``, ``cutoff`` (Angstrom),
    ``supported_elements`` and ``identity`` (a model ID recorded with every result), and implement
    :meth:`forward`.
    """

    property_name: str
    unit: str
    cutoff: float
    supported_elements: tuple[str, ...]
    identity: str

    @abstractmethod
    def forward(self, crystals: CrystalBatch, graph: NeighborGraph) -> torch.Tensor:
        """(B,) predictions; must be differentiable in lattices, coordinates and type probabilities."""

    def types_in_model_order(self, crystals: CrystalBatch) -> torch.Tensor:
        """(N, K_model) type probabilities re-indexed from the batch vocabulary to ``supported_elements``."""
        if crystals.vocabulary == self.supported_elements:
            return crystals.type_probs
        position = {symbol: k for k, symbol in enumerate(self.supported_elements)}
        unknown = [s for s in crystals.vocabulary if s not in position]
        if unknown:
            raise ValueError(f"{self.identity} does not know elements {unknown}")
        columns = torch.as_tensor([position[s] for s in crystals.vocabulary], device=crystals.type_probs.device)
        probs = crystals.type_probs.new_zeros((crystals.type_probs.shape[0], len(self.supported_elements)))
        return probs.index_add(1, columns, crystals.type_probs)

    def graph_for(self, crystals: CrystalBatch) -> NeighborGraph:
        """A fresh neighbour graph of the current geometry at this model's cutoff."""
        return build_neighbor_graph(crystals.lattices, crystals.frac_coords, crystals.site_crystal, self.cutoff)

    @torch.no_grad()
    def predict(self, structures: Sequence[Structure], device: str | torch.device = "cpu") -> np.ndarray:
        """Predictions for discrete structures on freshly built graphs (how results are judged)."""
        values = []
        for batch in structure_batches(structures, self.supported_elements, device):
            values.append(self(batch, self.graph_for(batch)).detach().cpu().double().numpy().reshape(-1))
        return np.concatenate(values) if values else np.zeros(0)
