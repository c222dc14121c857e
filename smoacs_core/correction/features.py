"""Composition and volume numbers the correction sees beside the committee's predictions, differentiable in the
lattice and the atom-type probabilities.

Means and spreads over the sites of element properties (pymatgen's electronegativity, row, group, atomic
radius) weighted by the type probabilities, and the volume per atom: the chemistry in which the members' errors
were measured to differ (mixed anions, odd valences, metals; docs/benchmarks.md).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import torch
from pymatgen.core import Element

ELEMENT_PROPERTIES = ("X", "row", "group", "atomic_radius")
"""pymatgen ``Element`` attributes averaged over the sites (missing values take the table's mean)."""
COMPOSITION_COLUMNS = (*(f"mean_{p}" for p in ELEMENT_PROPERTIES), *(f"std_{p}" for p in ELEMENT_PROPERTIES),
                       "volume_per_atom")


def element_table(symbols: Sequence[str]) -> torch.Tensor:
    """(K, len(ELEMENT_PROPERTIES)) element properties of ``symbols``; gaps (no electronegativity for some noble
    gases) are filled with the column mean so every element has a finite row."""
    with warnings.catch_warnings():  # pymatgen warns for each noble gas without an electronegativity
        warnings.simplefilter("ignore", UserWarning)
        table = np.array([[float(getattr(Element(symbol), name) or np.nan) for name in ELEMENT_PROPERTIES]
                          for symbol in symbols], dtype=float)
    table = np.where(np.isfinite(table), table, np.nanmean(table, axis=0))
    return torch.tensor(table, dtype=torch.float32)


def composition_columns(
    types: torch.Tensor, elements: torch.Tensor, site_crystal: torch.Tensor, lattices: torch.Tensor
) -> torch.Tensor:
    """(B, len(COMPOSITION_COLUMNS)): per crystal, the site means and spreads of ``types @ elements`` and the
    volume per atom. ``types`` (N, K) are probabilities over the rows of ``elements`` (K, P)."""
    crystals = lattices.shape[0]
    counts = torch.bincount(site_crystal, minlength=crystals).to(types.dtype).unsqueeze(1)
    per_site = types @ elements.to(types.dtype)
    total = per_site.new_zeros((crystals, per_site.shape[1]))
    mean = total.index_add(0, site_crystal, per_site) / counts
    square = total.index_add(0, site_crystal, per_site**2) / counts
    spread = torch.sqrt(torch.clamp(square - mean**2, min=0.0) + 1e-6)  # smooth at zero spread (one element)
    volume = torch.abs(torch.linalg.det(lattices)).unsqueeze(1) / counts
    return torch.cat([mean, spread, volume], dim=1)
