"""A stability term for SMOACS: energy, forces and stress of the soft crystals under an ML potential.

Optimized crystals that sit far from a minimum of the potential energy surface are undone by relaxation, and
their predicted properties with them (docs/smoacs.md). This module evaluates the universal potential
M3GNet-MP-2021.2.8-PES on the *soft* batch, with atom types entering through the probability-weighted node
embedding exactly as for the property models (``MatglPropertyPredictor``), and returns

* the total energy E of each crystal (eV),
* forces F = -dE/dr (eV/A) at fixed lattice, and
* the stress sigma = (1/V) dE/d(eps) (eV/A^3, ASE's sign convention) from a homogeneous strain
  L -> L (1 + eps) at fixed fractional coordinates,

both obtained with ``torch.autograd.grad(..., create_graph=True)``, so that a loss on |F| and |sigma| can be
back-propagated into lattices, coordinates and type logits. On one-hot types the numbers equal matgl's
``PESCalculator`` (tests/core/test_stability_term.py).

The loss per crystal (:meth:`StabilityModel.loss`) is ``forces * mean_i |F_i| + stress * |sigma|_F (GPa) +
energy * e``, with ``e`` the energy per atom above the potential's own per-element reference energies (see
:class:`smoacs_core.config.StabilityTerm`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from smoacs_core.batch import CrystalBatch
from smoacs_core.config import StabilityTerm
from smoacs_core.graph import NeighborGraph
from smoacs_core.predictors.legacy_matgl import load_legacy_checkpoint
from smoacs_core.predictors.matgl_property import MatglPropertyPredictor
from smoacs_core.predictors.model_store import checkpoint_dir
from smoacs_core.relax.potentials import M3GNET_PES
from smoacs_core.settings import SmoacsSettings

EV_PER_A3_TO_GPA = 160.21766208
"""1 eV/A^3 in GPa (the factor matgl uses)."""

_NORM_SMOOTHING = 1e-3
"""Norms are sqrt(|x|^2 + d^2) - d with this d (eV/A, GPa): a symmetric cell has exactly zero forces, where
the plain norm has no gradient (0/0 gives NaN that would wipe the crystal's target gradients too)."""


class PotentialEnergyModel(nn.Module):
    """The total energy of a matgl ``Potential`` in the call signature of a property model.

    ``MatglPropertyPredictor`` calls ``model(g=..., state_attr=...)`` and reads ``model.model`` (the network);
    this class gives a ``Potential`` that shape: the network's output, de-normalized (``data_std * E +
    data_mean``) and shifted by the per-element reference energies, which for soft types are the
    probability-weighted references ``probs @ element_refs``. Forces and stress are not computed here.
    """

    def __init__(self, potential: nn.Module):
        super().__init__()
        if getattr(potential, "calc_repuls", False):
            raise ValueError("potentials with a ZBL repulsion term are not supported")
        self.model = potential.model
        self.register_buffer("data_mean", potential.data_mean.detach().clone())
        self.register_buffer("data_std", potential.data_std.detach().clone())
        refs = potential.element_refs.property_offset if potential.element_refs is not None else None
        if refs is not None and refs.ndim != 1:
            raise ValueError("multi-state element references are not supported")
        if refs is None:
            refs = torch.zeros(len(self.model.element_types))
        self.register_buffer("element_refs", refs.detach().clone().to(self.data_std.dtype))

    def reference_energy(self, type_probs: torch.Tensor, site_crystal: torch.Tensor, num_crystals: int):
        """(B,) sum over sites of the expected per-element reference energy (types in model order)."""
        per_site = type_probs @ self.element_refs.to(type_probs.dtype)
        return per_site.new_zeros(num_crystals).index_add(0, site_crystal, per_site)

    def forward(self, g, state_attr=None) -> torch.Tensor:
        network = self.model(g=g, state_attr=state_attr).reshape(-1)
        energy = self.data_std * network + self.data_mean
        return energy + self.reference_energy(g.node_type, g.batch, g.num_graphs)


@dataclass(frozen=True)
class PotentialOutput:
    """Energies, forces and stresses of a batch (differentiable when computed with ``create_graph``)."""

    energy: torch.Tensor
    """(B,) total energy, eV."""
    forces: torch.Tensor
    """(N, 3) eV/A."""
    stress: torch.Tensor
    """(B, 3, 3) eV/A^3, positive when the cell wants to shrink (ASE convention)."""
    reference_energy: torch.Tensor
    """(B,) sum of the potential's per-element reference energies (expected values for soft types), eV."""


class StabilityModel(nn.Module):
    """A frozen ML potential evaluated on soft crystal batches; see the module docstring.

    Args:
        potential: a loaded matgl ``Potential`` (M3GNet) in the convention its weights were trained with.
        identity: model ID recorded with results.
    """

    def __init__(self, potential: nn.Module, identity: str):
        super().__init__()
        self.energy_model = PotentialEnergyModel(potential)
        # The soft embedding, the re-indexing of types to the model's element list and the graph inputs
        # (bond vectors from live lattices and coordinates) are the property models' own.
        self.predictor = MatglPropertyPredictor(self.energy_model, "energy", "eV", identity)
        self.identity = identity
        self.cutoff = self.predictor.cutoff
        self.supported_elements = self.predictor.supported_elements

    def evaluate(
        self, crystals: CrystalBatch, graph: NeighborGraph, create_graph: bool = True
    ) -> PotentialOutput:
        """Energy, forces and stress of ``crystals`` on ``graph`` (a graph at this potential's cutoff).

        With ``create_graph`` the forces and stresses are themselves differentiable in the batch's lattices,
        coordinates and type probabilities (second-order autograd through the potential).
        """
        with torch.enable_grad():
            lattices, site = crystals.lattices, crystals.site_crystal
            # Two zero leaves: a Cartesian displacement of every site (dE/du = -F) and a homogeneous strain of
            # every cell (dE/d(eps) = V sigma), applied as L (1 + eps) with fractional coordinates held.
            strain = lattices.new_zeros((crystals.num_crystals, 3, 3)).requires_grad_(True)
            displacement = crystals.frac_coords.new_zeros(crystals.frac_coords.shape).requires_grad_(True)
            to_frac = torch.linalg.inv(lattices)[site]
            frac = crystals.frac_coords + torch.einsum("ni,nij->nj", displacement, to_frac)
            strained = dataclasses.replace(crystals, lattices=lattices + lattices @ strain, frac_coords=frac)
            energy = self.predictor(strained, graph)
            d_displacement, d_strain = torch.autograd.grad(
                energy.sum(), [displacement, strain], create_graph=create_graph, allow_unused=True
            )
        d_displacement = torch.zeros_like(displacement) if d_displacement is None else d_displacement
        d_strain = torch.zeros_like(strain) if d_strain is None else d_strain
        volume = torch.abs(torch.linalg.det(lattices))
        types = self.predictor.types_in_model_order(crystals)
        reference = self.energy_model.reference_energy(types, site, crystals.num_crystals)
        if not create_graph:
            energy, reference = energy.detach(), reference.detach()
        return PotentialOutput(
            energy=energy,
            forces=-d_displacement,
            stress=d_strain / volume[:, None, None],
            reference_energy=reference,
        )

    def loss(
        self, crystals: CrystalBatch, graph: NeighborGraph, term: StabilityTerm
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(B,) weighted stability loss per crystal, and its unweighted parts per crystal (for monitoring):
        ``force`` mean |F| per atom (eV/A), ``stress`` Frobenius norm (GPa), ``energy`` per atom above the
        element references (eV/atom)."""
        output = self.evaluate(crystals, graph, create_graph=True)
        site = crystals.site_crystal
        count = torch.bincount(site, minlength=crystals.num_crystals).to(output.energy.dtype)
        force_norm = _smooth_norm(output.forces, dims=(1,))
        mean_force = force_norm.new_zeros(crystals.num_crystals).index_add(0, site, force_norm) / count
        stress_norm = _smooth_norm(output.stress * EV_PER_A3_TO_GPA, dims=(1, 2))
        energy = (output.energy - output.reference_energy) / count
        parts = {"force": mean_force, "stress": stress_norm, "energy": energy}
        total = term.forces * mean_force + term.stress * stress_norm
        if term.energy:
            total = total + term.energy * energy
        return total, parts


def _smooth_norm(values: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    return torch.sqrt((values * values).sum(dim=dims) + _NORM_SMOOTHING**2) - _NORM_SMOOTHING


def load_stability_model(
    name: str = "m3gnet", settings: SmoacsSettings | None = None, device: str = "cpu"
) -> StabilityModel:
    """The potential of a :class:`StabilityTerm` by name (only ``"m3gnet"``: M3GNet-MP-2021.2.8-PES)."""
    if name != "m3gnet":
        raise ValueError(f"stability potential '{name}' is not available; only 'm3gnet' is")
    potential = load_legacy_checkpoint(checkpoint_dir(M3GNET_PES, settings or SmoacsSettings()))
    return StabilityModel(potential, M3GNET_PES).to(device)
