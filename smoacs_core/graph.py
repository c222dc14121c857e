"""Periodic neighbour graphs for a batch of crystals, rebuilt from the current geometry on demand.

Which atoms are neighbours is a discrete choice and has no gradient; it is recomputed from detached
coordinates at scheduled steps (paper A.4), while bond vectors are recomputed from the live, differentiable
lattice and coordinates at every step: ``r_ij = (f_j + n_ij - f_i) @ L``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from pymatgen.optimization.neighbors import find_points_in_spheres

_SELF_TOLERANCE = 1e-8


@dataclass(frozen=True)
class NeighborGraph:
    """Directed edges src -> dst (global site indices) with the integer image of dst, for one cutoff."""

    cutoff: float
    src: torch.Tensor
    dst: torch.Tensor
    images: torch.Tensor
    """(E, 3) float lattice translations applied to dst."""


def build_neighbor_graph(
    lattices: torch.Tensor, frac_coords: torch.Tensor, site_crystal: torch.Tensor, cutoff: float
) -> NeighborGraph:
    """All pairs closer than ``cutoff`` (periodic images included, self-pairs at zero distance excluded).

    Args:
        lattices: (B, 3, 3) row-vector lattice matrices.
        frac_coords: (N, 3) fractional coordinates of all sites, wrapped into [0, 1).
        site_crystal: (N,) crystal index of each site, sites of one crystal contiguous.
        cutoff: neighbour radius in Angstrom.
    """
    lattices_np = lattices.detach().cpu().double().numpy()
    frac_np = frac_coords.detach().cpu().double().numpy()
    counts = torch.bincount(site_crystal.cpu(), minlength=len(lattices_np)).numpy()
    offsets = np.concatenate([[0], np.cumsum(counts)])
    sources, targets, image_list = [], [], []
    pbc = np.ones(3, dtype=np.int64)
    for crystal, lattice in enumerate(lattices_np):
        start, stop = offsets[crystal], offsets[crystal + 1]
        if stop == start or not np.isfinite(lattice).all():
            continue
        cart = np.ascontiguousarray(frac_np[start:stop] @ lattice)
        src, dst, images, distances = find_points_in_spheres(
            cart, cart, r=float(cutoff), pbc=pbc, lattice=np.ascontiguousarray(lattice), tol=_SELF_TOLERANCE
        )
        keep = (src != dst) | (distances > _SELF_TOLERANCE)
        sources.append(src[keep] + start)
        targets.append(dst[keep] + start)
        image_list.append(images[keep])
    device = frac_coords.device
    if sources:
        src_all = torch.as_tensor(np.concatenate(sources), dtype=torch.long, device=device)
        dst_all = torch.as_tensor(np.concatenate(targets), dtype=torch.long, device=device)
        images_all = torch.as_tensor(np.concatenate(image_list), dtype=frac_coords.dtype, device=device)
    else:
        src_all = dst_all = torch.zeros(0, dtype=torch.long, device=device)
        images_all = torch.zeros((0, 3), dtype=frac_coords.dtype, device=device)
    return NeighborGraph(cutoff=cutoff, src=src_all, dst=dst_all, images=images_all)
