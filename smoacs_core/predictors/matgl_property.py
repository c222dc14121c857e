"""matgl MEGNet/M3GNet property models as differentiable SMOACS predictors with soft atom types.

Atom types enter these models only through a node embedding table. Replacing the lookup with a product of
type probabilities and that table (paper A.5) makes predictions differentiable in the atom distribution and
equal to the original model for one-hot types; everything else is the model's own forward pass.
"""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn

from smoacs_core.batch import CrystalBatch
from smoacs_core.graph import NeighborGraph
from smoacs_core.predictors.base import PropertyPredictor


class SoftNodeEmbedding(nn.Module):
    """Drop-in for ``nn.Embedding``: integer types are looked up, type probabilities are mixed."""

    def __init__(self, embedding: nn.Embedding):
        super().__init__()
        self.embedding = embedding

    def forward(self, types: torch.Tensor) -> torch.Tensor:
        if types.is_floating_point():
            return types @ self.embedding.weight
        return self.embedding(types)


class MatglPropertyPredictor(PropertyPredictor):
    """An intensive matgl property model (MEGNet or M3GNet, wrapped with its target transform).

    Args:
        model: the loaded matgl ``TransformedTargetModel`` (see :mod:`legacy_matgl`), or a converted Keras MEGNet
            (:class:`~smoacs_core.predictors.megnet_keras.KerasMEGNet`): a module whose ``.model`` is the network.
        property_name: what it predicts, e.g. ``"formation_energy"``.
        unit: unit of the prediction.
        identity: model ID recorded with results.
        state: integer state (a multi-fidelity band-gap model's fidelity: 0 PBE, 1 GLLB-SC, 2 HSE, 3 SCAN for
            matgl's, 3 experiment for the Keras mf_2020 models), or None for models whose state is the default
            zero vector.
    """

    def __init__(
        self, model: nn.Module, property_name: str, unit: str, identity: str, state: int | None = None
    ):
        super().__init__()
        self.model = model
        network = model.model
        embedding = network.embedding
        if not isinstance(embedding.layer_node_embedding, SoftNodeEmbedding):
            embedding.layer_node_embedding = SoftNodeEmbedding(embedding.layer_node_embedding)
        self.property_name = property_name
        self.unit = unit
        self.identity = identity
        self.cutoff = float(network.cutoff)
        self.supported_elements = tuple(network.element_types)
        self.state = state
        self._uses_state_types = embedding.ntypes_state is not None
        self._state_dim = getattr(network, "dim_state_feats", None) or 2
        for parameter in self.parameters():
            parameter.requires_grad_(False)

    def _state_attr(self, num_crystals: int, like: torch.Tensor) -> torch.Tensor | None:
        if self._uses_state_types:
            fidelity = 0 if self.state is None else self.state
            return torch.full((num_crystals,), fidelity, dtype=torch.long, device=like.device)
        if not self.model.model.embedding.include_state:
            return None
        return torch.zeros((num_crystals, self._state_dim), dtype=like.dtype, device=like.device)

    def forward(self, crystals: CrystalBatch, graph: NeighborGraph) -> torch.Tensor:
        lattices = crystals.lattices
        positions = torch.einsum("ni,nij->nj", crystals.frac_coords, lattices[crystals.site_crystal])
        # matgl computes bonds as pos[dst] + offshift - pos[src]; offshift = images @ L keeps them differentiable.
        offshift = torch.einsum("ei,eij->ej", graph.images, lattices[crystals.site_crystal[graph.src]])
        g = SimpleNamespace(
            node_type=self.types_in_model_order(crystals),
            pos=positions,
            edge_index=torch.stack([graph.src, graph.dst]),
            pbc_offshift=offshift,
            batch=crystals.site_crystal,
            num_graphs=crystals.num_crystals,
        )
        output = self.model(g=g, state_attr=self._state_attr(crystals.num_crystals, lattices))
        return output.reshape(crystals.num_crystals)
